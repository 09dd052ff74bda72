//! `scrapegate.yml`: the optional policy file beside web.yml (bearer tokens, routes, per-route
//! `allow` rules and anonymous paths, upstream TLS and unix sockets, client CRLs), loaded into
//! a [`Policy`].
//!
//! Unlike web.yml there is no Go implementation to match, so the file is read with serde_yaml
//! (YAML 1.2) into private structs that refuse unknown keys ([`raw`]), then checked and turned
//! into the model's types: tokens ([`tokens`]: a `sha256` digest or a `token_file` that is
//! read, hashed and wiped), routes ([`routes`]: prefix, upstream, `allow`, `anonymous`;
//! [`transport`]: `upstream_tls`, `unix_socket`), client CRLs ([`crl`]). The rules that need
//! web.yml too (`allow.users` must name its users, a CRL must be signed by a client CA) are
//! [`pair`], run on every generation of the pair.
//!
//! Every error is one line that starts with the file as given and names the line (serde's
//! errors), the route (`routes[1] (prefix /node)`) or the token
//! (`bearer_tokens[0] (name grafana)`), then the field. A load returns a complete policy or an
//! error, never a part. The one exception to the `file: ` prefix is a file that cannot be
//! read at all, whose Go-style text already names it (`open scrapegate.yml: no such file or
//! directory`).

mod crl;
mod pair;
mod raw;
mod routes;
mod tokens;
mod transport;

use std::fmt;
use std::path::{Path, PathBuf};

use scrapegate_model::Policy;

use crate::ConfigError;
use crate::go::{io, path as gopath};
use raw::RawPolicy;

pub use pair::pair;

/// Reads, parses and validates a `scrapegate.yml`. Token files (relative to the file's
/// directory) are read and hashed here; the tokens themselves are not kept.
///
/// The error is one line, e.g.
/// `scrapegate.yml: routes[1] (prefix /node): prefix: /node is given twice (also routes[0])`.
pub fn load_policy(path: &Path) -> Result<Policy, ConfigError> {
    let shown = display(path);
    let raw = read_raw(&shown)?;
    let dir = gopath::dir(path);
    let tokens = tokens::validate(raw.bearer_tokens.as_deref().unwrap_or_default(), &dir)
        .map_err(|e| e.in_file(&shown))?;
    let routes = routes::validate(raw.routes.as_deref().unwrap_or_default(), &tokens, &dir)
        .map_err(|e| e.in_file(&shown))?;
    let client_crls = crl::load(crl_files(&raw), &dir).map_err(|e| Problem(e).in_file(&shown))?;
    Ok(Policy {
        path: path.to_path_buf(),
        files: files_of(path, &raw, &dir),
        tokens,
        routes,
        client_crls,
    })
}

/// The files a `scrapegate.yml` depends on as far as it parses right now: the file itself
/// first, always, then each distinct `token_file` (joined with the file's directory). For a
/// watcher that must keep watching a policy that is currently broken.
pub fn referenced_policy_files(path: &Path) -> Vec<PathBuf> {
    match read_raw(&display(path)) {
        Ok(raw) => files_of(path, &raw, &gopath::dir(path)),
        Err(_) => vec![path.to_path_buf()],
    }
}

/// The path as it is printed in errors.
fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Reads and decodes the file. A syntax error, duplicate key or second document is found by a
/// first pass into a generic value (which also tells an empty file from a non-mapping one);
/// the typed pass then reports unknown keys and wrong types with their line.
fn read_raw(shown: &str) -> Result<RawPolicy, ConfigError> {
    let data = io::read_file(shown).map_err(ConfigError::new)?;
    let text = std::str::from_utf8(&data)
        .map_err(|e| ConfigError::new(format!("{shown}: not UTF-8 text: {e}")))?;
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| ConfigError::new(format!("{shown}: {e}")))?;
    match value {
        serde_yaml::Value::Null => return Ok(RawPolicy::default()),
        serde_yaml::Value::Mapping(_) => {}
        other => {
            return Err(ConfigError::new(format!(
                "{shown}: the document must be a mapping (with bearer_tokens and routes), not {}",
                raw::kind(&other)
            )));
        }
    }
    serde_yaml::from_str(text).map_err(|e| ConfigError::new(format!("{shown}: {e}")))
}

/// `tls.client_crl_files` as written (none when absent).
fn crl_files(raw: &RawPolicy) -> &[String] {
    raw.tls
        .as_ref()
        .and_then(|t| t.client_crl_files.as_deref())
        .unwrap_or_default()
}

/// The file first, then each distinct token file, route TLS file and CRL.
fn files_of(path: &Path, raw: &RawPolicy, dir: &Path) -> Vec<PathBuf> {
    let tokens = raw
        .bearer_tokens
        .iter()
        .flatten()
        .filter_map(|t| t.token_file.as_deref().filter(|f| !f.is_empty()))
        .map(|name| PathBuf::from(gopath::join_dir(dir, name)));
    let routes = raw
        .routes
        .iter()
        .flatten()
        .flat_map(|r| transport::files(r, dir));
    let crls = crl::files(crl_files(raw), dir);
    let mut files = vec![path.to_path_buf()];
    for file in tokens.chain(routes).chain(crls) {
        if !files.contains(&file) {
            files.push(file);
        }
    }
    files
}

/// Where in the file a problem is: a token or a route, by index and name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum At<'a> {
    /// `bearer_tokens[i] (name n)`.
    Token(usize, &'a str),
    /// `routes[i] (prefix p)`.
    Route(usize, &'a str),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (list, i, key, value) = match *self {
            At::Token(i, name) => ("bearer_tokens", i, "name", name),
            At::Route(i, prefix) => ("routes", i, "prefix", prefix),
        };
        write!(f, "{list}[{i}]")?;
        if !value.is_empty() {
            write!(f, " ({key} {value})")?;
        }
        Ok(())
    }
}

/// A problem found while validating, before the file name is put in front.
#[derive(Debug)]
pub(crate) struct Problem(String);

impl Problem {
    /// `<at>: <field>: <text>`.
    pub(crate) fn field(at: At<'_>, field: &str, text: impl fmt::Display) -> Self {
        Self(format!("{at}: {field}: {text}"))
    }

    /// `<at>: <text>`, for problems of the entry as a whole.
    pub(crate) fn entry(at: At<'_>, text: impl fmt::Display) -> Self {
        Self(format!("{at}: {text}"))
    }

    pub(crate) fn in_file(self, shown: &str) -> ConfigError {
        ConfigError::new(format!("{shown}: {}", self.0))
    }
}
