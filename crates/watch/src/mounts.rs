//! Spotting files that can never change under us: a single file bind-mounted over its path,
//! which is what a Kubernetes `subPath` mount of a Secret or ConfigMap key is. kubelet updates
//! the volume by swapping `..data`, but the bind mount keeps pointing at the old inode, so
//! neither notify nor polling can ever see the new content. Operators need to be told.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The files among `files` that sit on a different device than their directory, i.e. that
/// are mount points of their own. Symlinks are followed first (a projected volume's visible
/// names are symlinks into the same volume, which is fine).
pub(crate) fn single_file_mounts(files: &[PathBuf]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|file| is_single_file_mount(file))
        .cloned()
        .collect()
}

fn is_single_file_mount(file: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(file) else {
        return false;
    };
    let Some(dir) = real.parent() else {
        return false;
    };
    match (std::fs::metadata(&real), std::fs::metadata(dir)) {
        (Ok(f), Ok(d)) => f.is_file() && f.dev() != d.dev(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_and_symlinked_files_are_not_mounts() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.yml");
        std::fs::write(&file, b"x").unwrap();
        let link = dir.path().join("link.yml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let missing = dir.path().join("missing.yml");
        assert!(single_file_mounts(&[file, link, missing]).is_empty());
    }

    #[test]
    fn a_bind_mounted_file_is_reported() {
        // Look for a file mount point this process can see (containers often bind-mount
        // /etc/hostname and friends); creating one would need privileges.
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let found = mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .map(PathBuf::from)
            .find(|p| std::fs::metadata(p).map(|m| m.is_file()).unwrap_or(false));
        let Some(mounted) = found else {
            eprintln!("SKIPPED: no single-file mount visible on this machine");
            return;
        };
        assert_eq!(
            single_file_mounts(std::slice::from_ref(&mounted)),
            vec![mounted]
        );
    }
}
