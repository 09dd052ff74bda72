//! `tls.client_crl_files`: revocation lists for client certificates, PEM (`X509 CRL` blocks)
//! or DER, read relative to scrapegate.yml's directory and parsed here. Whether each is signed
//! by a client CA of web.yml, and whether web.yml's mode verifies client certificates at all,
//! needs web.yml: [`check_against`], run when the two files are paired.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateRevocationListDer;
use scrapegate_model::{ClientCrl, TlsSettings};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::go::{io, path as gopath, pem};

/// The field, as errors name it.
const FIELD: &str = "tls.client_crl_files";

/// Reads and parses every listed file; a file may hold several PEM lists.
pub(super) fn load(files: &[String], dir: &Path) -> Result<Vec<ClientCrl>, String> {
    let mut crls = Vec::new();
    for (i, name) in files.iter().enumerate() {
        let at = format!("{FIELD}[{i}]");
        if name.is_empty() {
            return Err(format!("{at}: must not be empty"));
        }
        let joined = gopath::join_dir(dir, name);
        let data = io::read_file(&joined).map_err(|e| format!("{at}: {e}"))?;
        let ders = match pem::decode_all(&data) {
            blocks if blocks.is_empty() => vec![data],
            blocks => blocks
                .into_iter()
                .filter(|b| b.kind == "X509 CRL")
                .map(|b| b.bytes)
                .collect(),
        };
        if ders.is_empty() {
            return Err(format!(
                "{at}: {name} holds no X509 CRL block (PEM) and is not a DER CRL"
            ));
        }
        for der in ders {
            crls.push(parse(der, PathBuf::from(&joined)).map_err(|e| format!("{at}: {name} {e}"))?);
        }
    }
    Ok(crls)
}

/// The files `tls.client_crl_files` names (joined with `dir`), for the watcher.
pub(super) fn files(files: &[String], dir: &Path) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|f| !f.is_empty())
        .map(|f| PathBuf::from(gopath::join_dir(dir, f)))
        .collect()
}

fn parse(der: Vec<u8>, file: PathBuf) -> Result<ClientCrl, String> {
    // The parser's own text (nom's) tells an operator nothing more than this does.
    let (rest, crl) = CertificateRevocationList::from_der(&der).map_err(|_| {
        "is not a certificate revocation list (a PEM X509 CRL block or DER)".to_owned()
    })?;
    if !rest.is_empty() {
        return Err("has trailing bytes after the certificate revocation list".to_owned());
    }
    let next_update_unix = crl.next_update().map(|t| t.timestamp());
    let revoked = crl.iter_revoked_certificates().count();
    Ok(ClientCrl {
        file,
        der: CertificateRevocationListDer::from(der),
        next_update_unix,
        revoked,
    })
}

/// Checks the lists against web.yml's TLS settings: the mode must verify client certificates
/// (a list is meaningless otherwise), and each list must be issued by a configured client CA
/// with a signature that verifies against that CA's key. The error names the file.
pub(super) fn check_against(crls: &[ClientCrl], tls: Option<&TlsSettings>) -> Result<(), String> {
    let Some(first) = crls.first() else {
        return Ok(());
    };
    let Some(tls) = tls else {
        return Err(format!(
            "{FIELD}: {} needs TLS with verified client certificates, but web.yml has no \
             tls_server_config",
            first.file.display()
        ));
    };
    if !tls.client_auth.verifies_chain() {
        return Err(format!(
            "{FIELD}: revocation lists need a client_auth_type that verifies certificates \
             (RequireAndVerifyClientCert or VerifyClientCertIfGiven), not {:?}",
            tls.client_auth
        ));
    }
    let Some(cas) = tls.client_cas.as_deref() else {
        return Err(format!(
            "{FIELD}: revocation lists need web.yml's client_ca_file (the CA that signs them)"
        ));
    };
    let cas: Vec<X509Certificate<'_>> = cas
        .iter()
        .filter_map(|der| X509Certificate::from_der(der.as_ref()).ok().map(|(_, c)| c))
        .collect();
    for crl in crls {
        let (_, parsed) = CertificateRevocationList::from_der(crl.der.as_ref())
            .map_err(|e| format!("{FIELD}: {}: {e}", crl.file.display()))?;
        let issuer = parsed.issuer();
        let mut same_name = cas
            .iter()
            .filter(|ca| ca.subject().as_raw() == issuer.as_raw())
            .peekable();
        if same_name.peek().is_none() {
            return Err(format!(
                "{FIELD}: {} is issued by {issuer}, which is not a CA of client_ca_file",
                crl.file.display()
            ));
        }
        if !same_name.any(|ca| parsed.verify_signature(ca.public_key()).is_ok()) {
            return Err(format!(
                "{FIELD}: {}: the signature does not verify against the client CA {issuer}",
                crl.file.display()
            ));
        }
    }
    Ok(())
}
