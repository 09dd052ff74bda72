//! A site to start a gateway process on: a temporary directory holding a test PKI
//! ([`crate::pki::write_pki`]: `ca.pem`, `server.crt`, `server.key`) and a `web.yml` that
//! serves that certificate over TLS.

use std::path::{Path, PathBuf};

use crate::pki::{Ca, Leaf, write_pki};

/// A directory with the test PKI and a TLS `web.yml`; removed when dropped.
pub struct TlsSite {
    /// The directory.
    pub dir: tempfile::TempDir,
    /// The `web.yml` path.
    pub web: PathBuf,
    /// The CA that issued the server certificate (clients trust it).
    pub ca: Ca,
    /// The served certificate (ECDSA P-256, `localhost` and `127.0.0.1`).
    pub server: Leaf,
}

impl std::fmt::Debug for TlsSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSite")
            .field("web", &self.web)
            .finish_non_exhaustive()
    }
}

impl TlsSite {
    /// Writes the PKI and a `web.yml` serving `server.crt`/`server.key`, followed by `rest`:
    /// more `tls_server_config` keys (indented two spaces) and further sections.
    pub fn new(rest: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ca, server) = write_pki(dir.path());
        let web = dir.path().join("web.yml");
        std::fs::write(
            &web,
            format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{rest}"),
        )
        .expect("write web.yml");
        Self {
            dir,
            web,
            ca,
            server,
        }
    }

    /// The directory path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The path of `name` in the directory (e.g. `ca.pem`).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
