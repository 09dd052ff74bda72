//! scrapegate-config: reads Prometheus's web configuration file (`web.yml`) exactly as
//! exporter-toolkit v0.17.1 does, and validates it in the toolkit's order with its error texts.
//! It also reads scrapegate's own optional policy file, `scrapegate.yml` (bearer tokens, routes
//! and their rules), with serde_yaml, as no Go parity is at stake there ([`load_policy`],
//! cross-checked against web.yml and joined with it by [`pair`]).
//! It reads the scrape jobs of a Prometheus `prometheus.yml` too ([`load_scrape_jobs`]),
//! ignoring every key a gateway does not care about, for `scrapegate check scrape-config`.
//!
//! This crate is the only one that reads or parses a configuration file. [`load`] is
//! `web.Validate` plus loading: it returns one [`ValidatedConfig`] (a `scrapegate-model` type)
//! holding parsed users, ready-to-send headers and the parsed certificate chain, key and
//! client CAs, so no other crate reads a file or re-validates. [`warnings()`] lists the advice
//! `scrapegate check web-config` reports beyond promtool (the TLS crate's plan adds what
//! rustls cannot negotiate). [`referenced_files`] tells a watcher what to watch while the file
//! is broken. Watching itself is `scrapegate-watch`'s job.
//!
//! # Why not serde_yaml
//!
//! The toolkit decodes with yaml.v2 (`UnmarshalStrict`), a YAML 1.1 decoder. serde_yaml follows
//! YAML 1.2 (`yes`/`on` are strings there), silently keeps the last of duplicate map keys, and
//! loses both line numbers and the original text of scalars, all of which the toolkit's
//! behaviour and error texts depend on (`line 3: field x not found in type web.TLSConfig`,
//! `X-XSS-Protection: 1` becoming the string `"1"`, ``cannot unmarshal !!str `false` into
//! bool``). So the file is read with yaml-rust2's event parser into a small node tree that keeps
//! lines, quoting style, tags and aliases ([`yaml::tree`]), and a port of yaml.v2's decoder
//! ([`decode`]) maps it onto the toolkit's structs ([`schema`]) with yaml.v2's scalar
//! resolution ([`yaml::resolve`]), strict-mode errors collected in document order, and custom
//! unmarshaler errors (`unknown cipher: X`) returned unwrapped.
//!
//! # Where parity is not exact
//!
//! * **Syntax errors.** yaml-rust2 is a different (YAML 1.2) scanner. Its common errors are
//!   mapped to libyaml's wording and yaml.v2's line rule ([`yaml::syntax`]): the tab-indentation
//!   case gives `yaml: line 2: found character that cannot start any token` as Go does, and
//!   `mapping values are not allowed in this context`, `did not find expected key`,
//!   `could not find expected ':'`, `did not find expected node content` and the flow-collection
//!   errors use libyaml's texts. Other problems keep yaml-rust2's wording (without its
//!   `while scanning ...,` context), and where the two scanners detect an error at a different
//!   token the line can differ. The differential test against promtool checks some 80 files,
//!   syntax errors included, for identical output. Known disagreements, all on input that is
//!   broken or very unusual: a quoted scalar continued on a less-indented line is accepted by
//!   libyaml (so an unterminated quote is reported at the end of the file as
//!   `found unexpected end of stream`) but refused by yaml-rust2 at that line as
//!   `invalid indentation in quoted scalar`; a line holding only `:` is an empty key for
//!   yaml-rust2 (`field  not found in type web.Config`) and `did not find expected key` for
//!   libyaml.
//! * **Invalid UTF-8** gives `yaml: invalid leading UTF-8 octet` whatever the offending byte;
//!   libyaml distinguishes leading and trailing octets.
//! * **Map order.** Go walks `basic_auth_users` and `headers` as maps (random order), so with
//!   several bad hashes or headers the one reported varies between runs; scrapegate reports the
//!   first in file order, one of Go's possible answers.
//! * **Malformed certificates** are reported as `x509: malformed certificate`; Go's x509 parser
//!   has more detailed texts for individual structural faults. Private keys on curves aws-lc-rs
//!   does not support (P-224) are refused as `tls: failed to parse private key`. Texts follow
//!   Go 1.25: an X25519 PKCS#8 key gives `tls: found unknown private key type in PKCS#8
//!   wrapping`, where promtool 2.42 (built with an older Go) says `failed to parse private key`.
//! * **Null list elements** in `cipher_suites` / `curve_preferences` (Go's zero id, which
//!   matches nothing) are dropped.
//! * **Nesting limits.** Merge keys nested more than 256 deep give
//!   `yaml: exceeded max depth of 256` (Go has no limit there); flow collections nested beyond
//!   yaml-rust2's limit give `yaml: recursion limit exceeded` (yaml.v2: `exceeded max depth of
//!   10000`).
//! * **`!!binary`** scalars are kept as their base64 text rather than decoded.
//! * **Header values HTTP cannot carry** (a control character other than CR, LF or tab, written
//!   as a YAML escape) are refused at load with `the value of HTTP header X is not a valid
//!   header value`; Go accepts the file and sends the raw bytes. CR and LF (a folded scalar's
//!   final newline) become spaces and the value is trimmed, as Go's `net/http` sends it.

mod decode;
mod go;
mod headers;
mod keypair;
mod policy;
mod schema;
mod scrape;
mod validate;
mod warnings;
mod yaml;

pub use policy::{load_policy, pair, referenced_policy_files};
pub use schema::RawConfig;
pub use scrape::{Material, ScrapeCredentials, ScrapeJob, ScrapeTls, load_scrape_jobs};
pub use scrapegate_model::{
    CipherSuite, ClientAuth, Curve, KeyType, RateLimit, ServerCertificate, TlsSettings, TlsVersion,
    User, ValidatedConfig,
};
pub use validate::{referenced_files, tls_enabled};
pub use warnings::{warnings, warnings_at};
pub use yaml::tree::parse_first_document;

use std::fmt;
use std::path::Path;

/// A web.yml load or validation failure. `Display` is the Go toolkit's error text, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    /// Wraps a Go-formatted message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Reads, parses and validates a web.yml as `web.Validate` does (spec §3.1), and loads every
/// file it references (paths joined with the web.yml's directory, Go `filepath.Join` rules).
///
/// The error is the toolkit's text, e.g. `open web.yml: no such file or directory` or
/// `failed to read cert_file (certs/x.crt): open certs/x.crt: no such file or directory`.
pub fn load(path: &Path) -> Result<ValidatedConfig, ConfigError> {
    validate::load(path)
}

/// Decodes web.yml bytes as yaml.v2's `UnmarshalStrict` does into the toolkit's structs and
/// checks the headers, without reading any referenced file: the first stage of [`load`], for
/// tests, fuzzing and benchmarks.
pub fn decode_web_yml(data: &[u8]) -> Result<RawConfig, ConfigError> {
    validate::parse_raw(data).map(|decoded| decoded.raw)
}
