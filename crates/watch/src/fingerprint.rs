//! Content fingerprints of a config generation: one SHA-256 over every file's path and bytes.
//!
//! mtimes are useless for change detection (Kubernetes and `cp -p` keep them), so the watcher
//! compares what the files hold. Reads are streamed and capped, so a huge or endless file
//! cannot make the watcher allocate without bound.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// A SHA-256 digest.
pub(crate) type Digest = [u8; 32];

/// Bytes hashed per file at most; anything beyond is summarised by a marker. web.yml files,
/// certificates and keys are a few KiB, so this only guards against `/dev/zero`-like mistakes.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Hashes the paths and contents of `files`, in order. A missing or unreadable file hashes as
/// its error kind, so "missing" and "empty" differ and a file appearing is a change.
pub(crate) fn fingerprint(files: &[PathBuf]) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update((files.len() as u64).to_le_bytes());
    for path in files {
        let raw = path.as_os_str().as_encoded_bytes();
        // Length prefixes keep the encoding unambiguous: no two file sets hash alike by
        // shifting bytes between a path and a neighbour's content.
        hasher.update((raw.len() as u64).to_le_bytes());
        hasher.update(raw);
        match hash_file(path, &mut hasher) {
            Ok(()) => {}
            Err(err) => {
                hasher.update([0xff]);
                hasher.update(format!("{:?}", err.kind()).as_bytes());
            }
        }
    }
    hasher.finalize().into()
}

/// Hashes a failure: the generation it happened on plus the error text. Two failures with the
/// same key are the same problem, reported once.
pub(crate) fn failure_key(generation: &Digest, error: &str) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(generation);
    hasher.update((error.len() as u64).to_le_bytes());
    hasher.update(error.as_bytes());
    hasher.finalize().into()
}

/// Feeds one file into `hasher` as a tag, its bytes and its length.
fn hash_file(path: &Path, hasher: &mut Sha256) -> io::Result<()> {
    let mut reader = File::open(path)?.take(MAX_FILE_BYTES);
    let mut buf = [0u8; 16 * 1024];
    let mut total: u64 = 0;
    hasher.update([0x00]);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    hasher.update(total.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_change_with_same_length_changes_digest() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        std::fs::write(&f, b"aaaa").unwrap();
        let one = fingerprint(std::slice::from_ref(&f));
        std::fs::write(&f, b"aaab").unwrap();
        let two = fingerprint(std::slice::from_ref(&f));
        assert_ne!(one, two);
        std::fs::write(&f, b"aaaa").unwrap();
        assert_eq!(one, fingerprint(std::slice::from_ref(&f)));
    }

    #[test]
    fn missing_differs_from_empty() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        let missing = fingerprint(std::slice::from_ref(&f));
        std::fs::write(&f, b"").unwrap();
        assert_ne!(missing, fingerprint(std::slice::from_ref(&f)));
    }

    #[test]
    fn failure_key_depends_on_error_text() {
        let g = [7u8; 32];
        assert_ne!(failure_key(&g, "a"), failure_key(&g, "b"));
        assert_eq!(failure_key(&g, "a"), failure_key(&g, "a"));
    }
}
