//! Files rewritten on disk the ways operators and Kubernetes do it, for reload tests: a rename
//! of a fully written sibling (a new inode), an in-place overwrite that keeps the old
//! modification time, and a Kubernetes Secret volume's `..data` symlink swap.

use std::fs;
use std::path::Path;

/// Replaces `path` by renaming a fully written sibling over it (a new inode).
pub fn atomic_write(path: &Path, content: &[u8]) {
    let tmp = path.with_extension("swap-tmp");
    fs::write(&tmp, content).expect("write the new file");
    fs::rename(&tmp, path).expect("rename it over the old one");
}

/// Rewrites `path` in place (same inode) and puts its old modification and access times back,
/// so only a comparison of contents can see the change.
pub fn overwrite_keeping_mtime(path: &Path, content: &[u8]) {
    let before = fs::metadata(path).expect("metadata");
    let times = fs::FileTimes::new()
        .set_modified(before.modified().expect("mtime"))
        .set_accessed(before.accessed().expect("atime"));
    fs::write(path, content).expect("overwrite");
    fs::File::options()
        .write(true)
        .open(path)
        .expect("open for set_times")
        .set_times(times)
        .expect("set_times");
    assert_eq!(
        fs::metadata(path)
            .expect("metadata")
            .modified()
            .expect("mtime"),
        before.modified().expect("mtime")
    );
}

/// Publishes a Kubernetes Secret generation in `dir` as kubelet does: the `files` (name,
/// contents) in `..<stamp>/`, `..data` swapped to it by renaming a fresh symlink over it, and
/// each visible name a symlink through `..data` (created on the first publication).
pub fn k8s_publish(dir: &Path, stamp: &str, files: &[(&str, &str)]) {
    let generation = dir.join(format!("..{stamp}"));
    fs::create_dir(&generation).expect("generation directory");
    for (name, content) in files {
        fs::write(generation.join(name), content).expect("write generation file");
    }
    std::os::unix::fs::symlink(format!("..{stamp}"), dir.join("..data_tmp")).expect("symlink");
    fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap ..data");
    for (name, _) in files {
        let visible = dir.join(name);
        if fs::symlink_metadata(&visible).is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &visible).expect("symlink");
        }
    }
}
