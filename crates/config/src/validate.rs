//! `web.Validate` (spec §3.1): read, parse, check users, then the TLS steps in the toolkit's
//! order, producing one [`ValidatedConfig`] with every referenced file already read.

use std::path::{Path, PathBuf};

use http::{HeaderName, HeaderValue};
use rustls_pki_types::CertificateDer;
use scrapegate_model::{ClientAuth, GoBcryptHash, RateLimit, TlsSettings, User, ValidatedConfig};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::ConfigError;
use crate::go::{io, path as gopath, pem};
use crate::headers::validate_headers;
use crate::keypair::x509_key_pair;
use crate::schema::{RawConfig, RawTls, decode_config};
use crate::yaml::tree::parse_first_document;

/// The path as Go would print it.
fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A decoded web.yml whose headers passed `validateHeaderConfig`.
pub(crate) struct Decoded {
    pub(crate) raw: RawConfig,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

/// Reads and decodes a web.yml (the toolkit's `getConfig`, without the path joining).
pub(crate) fn read_raw(path: &Path) -> Result<Decoded, ConfigError> {
    let data = io::read_file(&display(path)).map_err(ConfigError::new)?;
    parse_raw(&data)
}

/// Decodes web.yml bytes with yaml.v2 `UnmarshalStrict` semantics, then checks the headers.
pub(crate) fn parse_raw(data: &[u8]) -> Result<Decoded, ConfigError> {
    let text = decode_text(data)?;
    let doc = parse_first_document(text)?;
    let raw = decode_config(doc.as_ref())?;
    let headers = match &raw.http.headers {
        Some(headers) => validate_headers(headers)?,
        None => Vec::new(),
    };
    Ok(Decoded { raw, headers })
}

/// libyaml's reader: UTF-8 only (a leading BOM is dropped), no control characters.
fn decode_text(data: &[u8]) -> Result<&str, ConfigError> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let text = std::str::from_utf8(data)
        .map_err(|_| ConfigError::new("yaml: invalid leading UTF-8 octet"))?;
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}');
    if !text.chars().all(allowed) {
        return Err(ConfigError::new("yaml: control characters are not allowed"));
    }
    Ok(text)
}

/// The whole of `web.Validate(path)` plus the loading the server needs.
pub fn load(path: &Path) -> Result<ValidatedConfig, ConfigError> {
    let Decoded { raw, headers } = read_raw(path)?;
    // Step 2: every hash must pass Go's bcrypt.Cost() before any TLS check.
    let users = raw
        .users
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(name, hash)| match GoBcryptHash::parse(&hash) {
            Ok(hash) => Ok(User { name, hash }),
            Err(e) => Err(ConfigError::new(e.to_string())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dir = gopath::dir(path);
    let tls = validate_tls(&raw.tls, &dir)?;
    Ok(ValidatedConfig {
        path: path.to_path_buf(),
        files: files_of(path, &raw, &dir),
        tls,
        http2: raw.http.http2,
        headers,
        users,
        rate_limit: RateLimit {
            interval_nanos: raw.rate_limit.interval_nanos,
            burst: raw.rate_limit.burst,
        },
    })
}

/// The files a web.yml refers to, joined with its directory, as far as the file can be read
/// and parsed right now (web.yml itself first, always). For watchers that must keep watching a
/// config that is currently broken.
pub fn referenced_files(path: &Path) -> Vec<PathBuf> {
    match read_raw(path) {
        Ok(decoded) => files_of(path, &decoded.raw, &gopath::dir(path)),
        Err(_) => vec![path.to_path_buf()],
    }
}

/// web.yml first, then each distinct file its TLS section names.
fn files_of(path: &Path, raw: &RawConfig, dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    for name in [
        &raw.tls.cert_file,
        &raw.tls.key_file,
        &raw.tls.client_ca_file,
    ] {
        let joined = PathBuf::from(gopath::join_dir(dir, name));
        if !joined.as_os_str().is_empty() && !files.contains(&joined) {
            files.push(joined);
        }
    }
    files
}

/// The toolkit's `IsEnabled`: any of the material or policy fields set.
pub fn tls_enabled(t: &RawTls) -> bool {
    [
        &t.cert_file,
        &t.cert,
        &t.key_file,
        &t.key,
        &t.client_ca_file,
        &t.client_ca,
        &t.client_auth_type,
    ]
    .iter()
    .any(|s| !s.is_empty())
}

/// `ConfigToTLSConfig` steps 4–12.
fn validate_tls(raw: &RawTls, dir: &Path) -> Result<Option<TlsSettings>, ConfigError> {
    if !tls_enabled(raw) {
        return Ok(None);
    }
    let cert_file = gopath::join_dir(dir, &raw.cert_file);
    let key_file = gopath::join_dir(dir, &raw.key_file);
    let client_ca_file = gopath::join_dir(dir, &raw.client_ca_file);
    if cert_file.is_empty() && raw.cert.is_empty() {
        return Err(ConfigError::new("missing one of cert or cert_file"));
    }
    if key_file.is_empty() && raw.key.is_empty() {
        return Err(ConfigError::new("missing one of key or key_file"));
    }
    let cert_pem = if cert_file.is_empty() {
        raw.cert.as_bytes().to_vec()
    } else {
        io::read_file(&cert_file)
            .map_err(|e| ConfigError::new(format!("failed to read cert_file ({cert_file}): {e}")))?
    };
    let key_pem = Zeroizing::new(if key_file.is_empty() {
        raw.key.as_bytes().to_vec()
    } else {
        io::read_file(&key_file)
            .map_err(|e| ConfigError::new(format!("failed to read key_file ({key_file}): {e}")))?
    });
    let certificate = x509_key_pair(&cert_pem, &key_pem)
        .map_err(|e| ConfigError::new(format!("failed to load X509KeyPair: {e}")))?;

    let client_ca_pem = if !client_ca_file.is_empty() {
        Some(io::read_file(&client_ca_file).map_err(ConfigError::new)?)
    } else if !raw.client_ca.is_empty() {
        Some(raw.client_ca.as_bytes().to_vec())
    } else {
        None
    };
    let client_auth = ClientAuth::from_go_name(&raw.client_auth_type)
        .ok_or_else(|| ConfigError::new(format!("invalid ClientAuth: {}", raw.client_auth_type)))?;
    if client_ca_pem.is_some() && client_auth == ClientAuth::NoClientCert {
        return Err(ConfigError::new(
            "client CA's have been configured without a Client Auth Policy",
        ));
    }
    let some_path = |p: String| (!p.is_empty()).then(|| PathBuf::from(p));
    Ok(Some(TlsSettings {
        certificate,
        client_cas: client_ca_pem.as_deref().map(append_certs_from_pem),
        client_auth,
        client_allowed_sans: raw.client_allowed_sans.clone(),
        min_version: raw.min_version,
        max_version: raw.max_version,
        cipher_suites: raw.cipher_suites.iter().flatten().copied().collect(),
        curve_preferences: raw.curve_preferences.iter().flatten().copied().collect(),
        prefer_server_cipher_suites: raw.prefer_server_cipher_suites,
        cert_file: some_path(cert_file),
        key_file: some_path(key_file),
        client_ca_file: some_path(client_ca_file),
        client_crls: Vec::new(),
    }))
}

/// Go's `CertPool.AppendCertsFromPEM`: every `CERTIFICATE` block without headers that parses
/// as a certificate, in order; anything else is skipped without an error.
pub(crate) fn append_certs_from_pem(pem_bytes: &[u8]) -> Vec<CertificateDer<'static>> {
    pem::decode_all(pem_bytes)
        .into_iter()
        .filter(|b| b.kind == "CERTIFICATE" && !b.has_headers)
        .filter(|b| X509Certificate::from_der(&b.bytes).is_ok())
        .map(|b| CertificateDer::from(b.bytes))
        .collect()
}
