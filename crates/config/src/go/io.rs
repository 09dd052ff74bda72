//! Reading files with Go's error texts: `open <path>: no such file or directory`,
//! `read <path>: is a directory`, as `os.ReadFile` reports them.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Go's `os.ReadFile(path)`: the whole file, or Go's `*PathError` text.
pub fn read_file(path: &str) -> Result<Vec<u8>, String> {
    let mut file = File::open(Path::new(path)).map_err(|e| path_error("open", path, &e))?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| path_error("read", path, &e))?;
    Ok(data)
}

/// `<op> <path>: <errno text>` as Go's `PathError.Error()` prints it.
pub fn path_error(op: &str, path: &str, err: &io::Error) -> String {
    format!("{op} {path}: {}", errno_text(err))
}

/// Go's `syscall.Errno` text (Linux table) for the usual errors; other errors fall back to the
/// C library text with a lowercase first letter, which is how Go's table is written.
pub fn errno_text(err: &io::Error) -> String {
    let Some(code) = err.raw_os_error() else {
        return err.to_string();
    };
    let known = match code {
        libc::ENOENT => "no such file or directory",
        libc::EACCES => "permission denied",
        libc::EISDIR => "is a directory",
        libc::ENOTDIR => "not a directory",
        libc::ELOOP => "too many levels of symbolic links",
        libc::ENAMETOOLONG => "file name too long",
        libc::EIO => "input/output error",
        libc::EPERM => "operation not permitted",
        libc::EMFILE => "too many open files",
        libc::ENXIO => "no such device or address",
        libc::EINVAL => "invalid argument",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let text = err.to_string();
    // std prints "<strerror> (os error N)".
    let text = text
        .rsplit_once(" (os error")
        .map_or(text.as_str(), |(t, _)| t);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
