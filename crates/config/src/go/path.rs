//! Go's `filepath.Dir`, `filepath.Join` and `filepath.Clean` (Unix), and the toolkit's
//! `JoinDir` (relative paths in web.yml are relative to the file's directory).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Go's `filepath.Clean` on a byte path.
pub fn clean(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let rooted = path[0] == b'/';
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|c| *c == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.last().is_some_and(|p| *p != b"..") {
                    parts.pop();
                } else if !rooted {
                    parts.push(part);
                }
            }
            _ => parts.push(part),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    if rooted {
        out.push(b'/');
    }
    out.extend_from_slice(&parts.join(&b'/'));
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// Go's `filepath.Dir`.
pub fn dir(path: &Path) -> PathBuf {
    let bytes = path.as_os_str().as_bytes();
    let cut = bytes.iter().rposition(|c| *c == b'/').map_or(0, |i| i + 1);
    to_path(clean(&bytes[..cut]))
}

/// The toolkit's `JoinDir(dir, path)`: empty and absolute paths stay as they are, others are
/// `filepath.Join(dir, path)`.
pub fn join_dir(dir: &Path, path: &str) -> String {
    if path.is_empty() || path.starts_with('/') {
        return path.to_owned();
    }
    let mut joined = dir.as_os_str().as_bytes().to_vec();
    if !joined.is_empty() {
        joined.push(b'/');
    }
    joined.extend_from_slice(path.as_bytes());
    String::from_utf8_lossy(&clean(&joined)).into_owned()
}

fn to_path(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_join_semantics() {
        assert_eq!(dir(Path::new("x.yml")), PathBuf::from("."));
        assert_eq!(dir(Path::new("./x.yml")), PathBuf::from("."));
        assert_eq!(dir(Path::new("/etc/x.yml")), PathBuf::from("/etc"));
        assert_eq!(dir(Path::new("/x.yml")), PathBuf::from("/"));
        assert_eq!(join_dir(Path::new("."), "nope.pem"), "nope.pem");
        assert_eq!(
            join_dir(Path::new("testdata"), "somefile"),
            "testdata/somefile"
        );
        assert_eq!(join_dir(Path::new("/a/b"), "../c"), "/a/c");
        assert_eq!(join_dir(Path::new("a"), "../../c"), "../c");
        assert_eq!(join_dir(Path::new("/"), "c"), "/c");
        assert_eq!(join_dir(Path::new("x"), "/abs"), "/abs");
        assert_eq!(join_dir(Path::new("x"), ""), "");
    }
}
