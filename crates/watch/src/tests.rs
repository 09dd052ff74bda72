//! Unit tests of the watching logic with a stand-in loader, independent of the web.yml parser.
//!
//! Stand-in format: the first line is a value (`bad` fails), every further line names a file
//! (relative to the config's directory) that must exist; all named files must hold the same
//! text, like a certificate and key that must match.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use scrapegate_testkit::files::{atomic_write, k8s_publish, overwrite_keeping_mtime};

use super::*;

const DEADLINE: Duration = Duration::from_secs(10);

/// What the stand-in format holds: the value line and the text all named files share.
#[derive(Debug)]
struct FakeConfig {
    value: String,
    pair: Option<String>,
    files: Vec<PathBuf>,
}

/// The stand-in source: `path` read by `load` (normally [`fake_load`]).
struct FakeSource {
    path: PathBuf,
    load: fn(&Path) -> Result<FakeConfig, String>,
}

impl Source for FakeSource {
    type Config = FakeConfig;
    type Error = String;

    fn load(&self) -> Result<FakeConfig, String> {
        (self.load)(&self.path)
    }

    fn files(config: &FakeConfig) -> Vec<PathBuf> {
        config.files.clone()
    }

    fn referenced_files(&self) -> Vec<PathBuf> {
        fake_referenced(&self.path)
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

fn fake_load(path: &Path) -> Result<FakeConfig, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let mut lines = text.lines();
    let value = lines.next().unwrap_or_default().to_string();
    if value == "bad" {
        return Err("bad value".into());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut files = vec![path.to_path_buf()];
    let mut contents = Vec::new();
    for name in lines.filter(|l| !l.is_empty()) {
        let file = dir.join(name);
        let body =
            fs::read_to_string(&file).map_err(|e| format!("open {}: {e}", file.display()))?;
        contents.push(body);
        files.push(file);
    }
    if contents.windows(2).any(|w| w[0] != w[1]) {
        return Err("failed to load X509KeyPair: mismatch".into());
    }
    Ok(FakeConfig {
        value,
        pair: contents.first().cloned(),
        files,
    })
}

/// The files a stand-in config names, as far as it can be read.
fn fake_referenced(path: &Path) -> Vec<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut files = vec![path.to_path_buf()];
    if let Ok(text) = fs::read_to_string(path) {
        files.extend(
            text.lines()
                .skip(1)
                .filter(|l| !l.is_empty())
                .map(|l| dir.join(l)),
        );
    }
    files
}

fn start_with(
    path: &Path,
    opts: WatchOptions,
    load_fn: fn(&Path) -> Result<FakeConfig, String>,
) -> Watcher<FakeSource> {
    let source = FakeSource {
        path: path.to_path_buf(),
        load: load_fn,
    };
    let initial = load(&source).expect("initial config");
    spawn(source, &initial, opts)
}

fn start(path: &Path, opts: WatchOptions) -> Watcher<FakeSource> {
    start_with(path, opts, fake_load)
}

fn notify_only() -> WatchOptions {
    WatchOptions {
        poll_interval: Duration::ZERO,
        use_notify: true,
        debounce: Duration::from_millis(30),
    }
}

async fn next(watcher: &mut Watcher<FakeSource>, within: Duration) -> WatchEvent<FakeSource> {
    tokio::time::timeout(within, watcher.events().recv())
        .await
        .expect("no event before the deadline")
        .expect("watcher stopped")
}

fn header<'a>(event: &'a WatchEvent<FakeSource>, name: &str) -> &'a str {
    match event {
        WatchEvent::Loaded(config) => match name {
            "value" => &config.value,
            _ => config.pair.as_deref().unwrap_or("<none>"),
        },
        WatchEvent::Failed { error } => panic!("expected Loaded, got Failed: {error}"),
    }
}

#[tokio::test]
async fn notify_sees_edits_and_renames() {
    let dir = tempfile::tempdir().unwrap();
    let yml = dir.path().join("web.yml");
    fs::write(&yml, "v1\n").unwrap();
    let mut watcher = start(&yml, notify_only());
    fs::write(&yml, "v2\n").unwrap();
    assert_eq!(header(&next(&mut watcher, DEADLINE).await, "value"), "v2");
    for v in ["v3", "v4"] {
        atomic_write(&yml, format!("{v}\n").as_bytes());
        assert_eq!(header(&next(&mut watcher, DEADLINE).await, "value"), v);
    }
}

#[tokio::test]
async fn polling_alone_sees_same_mtime_change() {
    let dir = tempfile::tempdir().unwrap();
    let yml = dir.path().join("web.yml");
    fs::write(&yml, "aa\n").unwrap();
    let opts = WatchOptions {
        poll_interval: Duration::from_millis(50),
        use_notify: false,
        ..notify_only()
    };
    let mut watcher = start(&yml, opts);
    overwrite_keeping_mtime(&yml, b"bb\n");
    assert_eq!(header(&next(&mut watcher, DEADLINE).await, "value"), "bb");
}

#[tokio::test]
async fn failure_reported_once_then_fix_to_same_bytes_loads() {
    let dir = tempfile::tempdir().unwrap();
    let yml = dir.path().join("web.yml");
    fs::write(&yml, "good\n").unwrap();
    let opts = WatchOptions {
        poll_interval: Duration::from_millis(20),
        ..notify_only()
    };
    let mut watcher = start(&yml, opts);
    fs::write(&yml, "bad\n").unwrap();
    assert!(matches!(
        next(&mut watcher, DEADLINE).await,
        WatchEvent::Failed { .. }
    ));
    let again = tokio::time::timeout(Duration::from_millis(400), watcher.events().recv()).await;
    assert!(again.is_err(), "failure repeated: {again:?}");
    fs::write(&yml, "good\n").unwrap();
    assert_eq!(header(&next(&mut watcher, DEADLINE).await, "value"), "good");
}

#[tokio::test]
async fn trigger_always_emits() {
    let dir = tempfile::tempdir().unwrap();
    let yml = dir.path().join("web.yml");
    fs::write(&yml, "same\n").unwrap();
    let mut watcher = start(&yml, notify_only());
    watcher.trigger();
    assert_eq!(header(&next(&mut watcher, DEADLINE).await, "value"), "same");
}

#[tokio::test]
async fn referenced_files_in_other_dirs_are_watched_and_pairs_stay_matched() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    fs::create_dir(&certs).unwrap();
    for f in ["a", "b"] {
        fs::write(certs.join(f), "p1").unwrap();
    }
    let yml = dir.path().join("web.yml");
    fs::write(&yml, "v\ncerts/a\ncerts/b\n").unwrap();
    let mut watcher = start(&yml, notify_only());

    // Half a rotation, left long enough for the retries to run out: Failed, never Loaded.
    atomic_write(&certs.join("a"), b"p2");
    assert!(matches!(
        next(&mut watcher, DEADLINE).await,
        WatchEvent::Failed { .. }
    ));
    atomic_write(&certs.join("b"), b"p2");
    assert_eq!(header(&next(&mut watcher, DEADLINE).await, "pair"), "p2");
}

#[tokio::test]
async fn kubernetes_data_swap() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let publish = |stamp: &str, value: &str| {
        k8s_publish(root, stamp, &[("web.yml", &format!("{value}\n"))]);
    };
    publish("t1", "k1");
    let mut watcher = start(&root.join("web.yml"), notify_only());
    for (stamp, value, old) in [("t2", "k2", "..t1"), ("t3", "k3", "..t2")] {
        publish(stamp, value);
        fs::remove_dir_all(root.join(old)).unwrap();
        assert_eq!(header(&next(&mut watcher, DEADLINE).await, "value"), value);
    }
}

/// A stand-in loader for a writer that truncates and then writes: whenever it reads an empty
/// file, the "writer" finishes its write a moment after the read.
fn load_racing_a_writer(path: &Path) -> Result<FakeConfig, String> {
    let result = fake_load(path);
    if fs::metadata(path).map(|m| m.len() == 0).unwrap_or(false) {
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            let _ = fs::write(path, "written\n");
        });
    }
    result
}

#[tokio::test]
async fn truncate_then_write_never_applies_the_empty_window() {
    let dir = tempfile::tempdir().unwrap();
    let yml = dir.path().join("web.yml");
    fs::write(&yml, "before\n").unwrap();
    let mut watcher = start_with(&yml, notify_only(), load_racing_a_writer);
    // The truncation: an empty file is a valid config for the loader, as for the real one.
    fs::write(&yml, "").unwrap();
    assert_eq!(
        header(&next(&mut watcher, DEADLINE).await, "value"),
        "written"
    );
}
