//! Config-level tests of the watcher: real files in temporary directories, the real `load`,
//! real inotify. Every wait is bounded by a deadline; nothing sleeps to synchronise.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scrapegate_config::{ConfigError, ValidatedConfig, referenced_files};
use scrapegate_testkit::files::{atomic_write, k8s_publish, overwrite_keeping_mtime};
use scrapegate_testkit::pki::{KeyAlg, Leaf, LeafSpec, self_signed};
use scrapegate_watch::{Source, WatchEvent, WatchOptions, Watcher};

/// A web.yml, read with the real `scrapegate_config::load`.
struct WebYml(PathBuf);

impl Source for WebYml {
    type Config = ValidatedConfig;
    type Error = ConfigError;

    fn load(&self) -> Result<ValidatedConfig, ConfigError> {
        scrapegate_config::load(&self.0)
    }

    fn files(config: &ValidatedConfig) -> Vec<PathBuf> {
        config.files.clone()
    }

    fn referenced_files(&self) -> Vec<PathBuf> {
        referenced_files(&self.0)
    }

    fn name(&self) -> String {
        self.0.display().to_string()
    }
}

type Event = WatchEvent<WebYml>;

/// Upper bound for an event that should come promptly (generous: 2 shared cores).
const DEADLINE: Duration = Duration::from_secs(10);

/// A web.yml whose only content is one Content-Security-Policy header value.
fn headers_yml(csp: &str) -> String {
    format!("http_server_config:\n  headers:\n    Content-Security-Policy: \"{csp}\"\n")
}

/// A web.yml that fails validation.
const BROKEN_YML: &str = "http_server_config:\n  headers:\n    X-Frame-Options: foo\n";

/// A fresh directory holding a web.yml with the given CSP header (kept alive by the `TempDir`).
fn headers_dir(csp: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let yml = dir.path().join("web.yml");
    fs::write(&yml, headers_yml(csp)).unwrap();
    (dir, yml)
}

fn csp(config: &ValidatedConfig) -> Option<&str> {
    config
        .headers
        .iter()
        .find(|(name, _)| name == "content-security-policy")
        .and_then(|(_, value)| value.to_str().ok())
}

fn notify_only() -> WatchOptions {
    // Polling off: whatever is detected was detected by notify.
    WatchOptions {
        poll_interval: Duration::ZERO,
        use_notify: true,
        debounce: Duration::from_millis(50),
    }
}

fn poll_only(every: Duration) -> WatchOptions {
    WatchOptions {
        poll_interval: every,
        use_notify: false,
        debounce: Duration::from_millis(50),
    }
}

/// Loads `path` and starts a watcher on it.
fn start(path: &Path, opts: WatchOptions) -> (ValidatedConfig, Watcher<WebYml>) {
    let source = WebYml(path.to_path_buf());
    let initial = scrapegate_watch::load(&source).expect("initial config loads");
    let watcher = scrapegate_watch::spawn(source, &initial, opts);
    (initial.config, watcher)
}

async fn next_event(watcher: &mut Watcher<WebYml>, within: Duration) -> Event {
    tokio::time::timeout(within, watcher.events().recv())
        .await
        .expect("no watch event before the deadline")
        .expect("watcher stopped")
}

async fn next_loaded(watcher: &mut Watcher<WebYml>) -> std::sync::Arc<ValidatedConfig> {
    match next_event(watcher, DEADLINE).await {
        WatchEvent::Loaded(config) => config,
        WatchEvent::Failed { error } => panic!("expected Loaded, got Failed: {error}"),
    }
}

/// Waits for the next event and expects `Loaded` with the given CSP value. Earlier events for
/// intermediate states of the same edit are not expected: the tests write whole files.
async fn expect_csp(watcher: &mut Watcher<WebYml>, want: &str) {
    let config = next_loaded(watcher).await;
    assert_eq!(csp(&config), Some(want));
}

/// A proof that the watcher has nothing pending: a forced reload's `Loaded` comes next.
async fn expect_quiet_then_trigger(watcher: &mut Watcher<WebYml>, want_csp: &str) {
    watcher.trigger();
    expect_csp(watcher, want_csp).await;
}

#[tokio::test]
async fn watch_notify_detects_in_place_edit() {
    let (_dir, yml) = headers_dir("one");
    let (_, mut watcher) = start(&yml, notify_only());

    fs::write(&yml, headers_yml("two")).unwrap();
    expect_csp(&mut watcher, "two").await;
    fs::write(&yml, headers_yml("three")).unwrap();
    expect_csp(&mut watcher, "three").await;
}

#[tokio::test]
async fn watch_atomic_rename_detected_repeatedly() {
    let (_dir, yml) = headers_dir("gen0");
    let (_, mut watcher) = start(&yml, notify_only());

    // Several swaps: a watch on the file's first inode would go silent after one.
    for generation in 1..=3 {
        let want = format!("gen{generation}");
        atomic_write(&yml, headers_yml(&want).as_bytes());
        expect_csp(&mut watcher, &want).await;
    }
}

#[tokio::test]
async fn watch_kubernetes_data_swap_detected() {
    let dir = tempfile::tempdir().unwrap();
    k8s_publish(
        dir.path(),
        "2026_01_01_00_00_00.000000001",
        &[("web.yml", &headers_yml("k1"))],
    );
    let yml = dir.path().join("web.yml");
    let (_, mut watcher) = start(&yml, notify_only());

    k8s_publish(
        dir.path(),
        "2026_01_01_00_00_00.000000002",
        &[("web.yml", &headers_yml("k2"))],
    );
    // kubelet then deletes the previous generation.
    fs::remove_dir_all(dir.path().join("..2026_01_01_00_00_00.000000001")).unwrap();
    expect_csp(&mut watcher, "k2").await;

    k8s_publish(
        dir.path(),
        "2026_01_01_00_00_00.000000003",
        &[("web.yml", &headers_yml("k3"))],
    );
    fs::remove_dir_all(dir.path().join("..2026_01_01_00_00_00.000000002")).unwrap();
    expect_csp(&mut watcher, "k3").await;
}

#[tokio::test]
async fn watch_in_place_overwrite_with_old_mtime_detected_by_polling() {
    let (_dir, yml) = headers_dir("aaaa");
    // Polling only: an mtime-based poll would miss this change; the content hash does not.
    let (_, mut watcher) = start(&yml, poll_only(Duration::from_millis(100)));

    overwrite_keeping_mtime(&yml, headers_yml("bbbb").as_bytes());
    expect_csp(&mut watcher, "bbbb").await;
}

#[tokio::test]
async fn watch_in_place_overwrite_with_old_mtime_detected_by_notify() {
    let (_dir, yml) = headers_dir("aaaa");
    let (_, mut watcher) = start(&yml, notify_only());

    overwrite_keeping_mtime(&yml, headers_yml("bbbb").as_bytes());
    expect_csp(&mut watcher, "bbbb").await;
}

#[tokio::test]
async fn watch_polling_alone_picks_change_up_within_interval() {
    let (_dir, yml) = headers_dir("p1");
    let interval = Duration::from_millis(300);
    let (_, mut watcher) = start(&yml, poll_only(interval));

    let written = Instant::now();
    fs::write(&yml, headers_yml("p2")).unwrap();
    // One interval, plus one more for a tick that raced the write, plus the load itself.
    let event = next_event(&mut watcher, interval * 2 + Duration::from_secs(1)).await;
    match event {
        WatchEvent::Loaded(config) => assert_eq!(csp(&config), Some("p2")),
        WatchEvent::Failed { error } => panic!("unexpected failure: {error}"),
    }
    eprintln!("polling picked the change up after {:?}", written.elapsed());
}

#[tokio::test]
async fn watch_trigger_forces_loaded_without_change() {
    let (_dir, yml) = headers_dir("same");
    let (_, mut watcher) = start(&yml, notify_only());

    watcher.trigger();
    expect_csp(&mut watcher, "same").await;
    watcher.trigger();
    expect_csp(&mut watcher, "same").await;
}

#[tokio::test]
async fn watch_unchanged_content_emits_nothing() {
    let (_dir, yml) = headers_dir("same");
    let (_, mut watcher) = start(&yml, notify_only());

    // Rewrites with identical bytes (new inode, then in place): events fire, content does not
    // change, so the first event after them must be the forced reload's.
    atomic_write(&yml, headers_yml("same").as_bytes());
    fs::write(&yml, headers_yml("same")).unwrap();
    // Let the debounced reload run before triggering, so the trigger is not what absorbs it.
    let rest = tokio::time::timeout(Duration::from_millis(600), watcher.events().recv()).await;
    assert!(
        rest.is_err(),
        "unchanged content emitted an event: {rest:?}"
    );
    expect_quiet_then_trigger(&mut watcher, "same").await;
}

#[tokio::test]
async fn watch_broken_file_fails_once_and_fix_loads() {
    let dir = tempfile::tempdir().unwrap();
    let yml = dir.path().join("web.yml");
    let good = headers_yml("good");
    fs::write(&yml, &good).unwrap();
    // Fast polling on top of notify: a failure must still be reported only once.
    let opts = WatchOptions {
        poll_interval: Duration::from_millis(50),
        ..notify_only()
    };
    let (_, mut watcher) = start(&yml, opts);

    fs::write(&yml, BROKEN_YML).unwrap();
    match next_event(&mut watcher, DEADLINE).await {
        WatchEvent::Failed { error } => {
            assert!(
                error
                    .to_string()
                    .contains("invalid value for X-Frame-Options"),
                "{error}"
            );
        }
        WatchEvent::Loaded(_) => panic!("a broken file loaded"),
    }
    // Many polls and a redundant event later, still no second Failed.
    fs::write(&yml, BROKEN_YML).unwrap();
    let again = tokio::time::timeout(Duration::from_millis(800), watcher.events().recv()).await;
    assert!(again.is_err(), "failure reported again: {again:?}");

    // Restoring the exact previous bytes is a fix too, although the content equals the last
    // good generation.
    fs::write(&yml, &good).unwrap();
    expect_csp(&mut watcher, "good").await;
}

#[tokio::test]
async fn watch_failure_mid_swap_is_retried_not_reported() {
    let (_dir, yml) = headers_dir("before");
    let (_, mut watcher) = start(&yml, notify_only());

    // A non-atomic writer: the file is gone for a moment, then back with new content. The
    // pause is part of the scenario, not synchronisation.
    fs::remove_file(&yml).unwrap();
    std::thread::sleep(Duration::from_millis(80));
    fs::write(&yml, headers_yml("after")).unwrap();
    expect_csp(&mut watcher, "after").await;
}

#[tokio::test]
async fn watch_trigger_reports_failure_every_time() {
    let (_dir, yml) = headers_dir("ok");
    let (_, mut watcher) = start(&yml, poll_only(Duration::from_secs(3600)));
    fs::write(&yml, BROKEN_YML).unwrap();
    for _ in 0..2 {
        watcher.trigger();
        assert!(matches!(
            next_event(&mut watcher, DEADLINE).await,
            WatchEvent::Failed { .. }
        ));
    }
}

// ---- TLS: certificate and key files -------------------------------------------------------

type Pair = Leaf;

/// A self-signed certificate for `localhost` and its key.
fn new_pair() -> Pair {
    self_signed(&LeafSpec::server(KeyAlg::EcdsaP256))
}

fn tls_yml(cert: &str, key: &str) -> String {
    format!("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
}

fn write_pair(dir: &Path, pair: &Pair) {
    pair.write(dir, "server");
}

/// The served leaf (DER) and the served key's public half (DER SubjectPublicKeyInfo).
fn served_pair(config: &ValidatedConfig) -> (Vec<u8>, Vec<u8>) {
    let tls = config.tls.as_ref().expect("TLS enabled");
    let key = tls.certificate.certified_key.key.public_key();
    (
        tls.certificate.chain()[0].to_vec(),
        key.expect("public key").as_ref().to_vec(),
    )
}

#[tokio::test]
async fn watch_cert_then_key_never_loads_mismatched_pair() {
    let dir = tempfile::tempdir().unwrap();
    let pairs: Vec<Pair> = (0..3).map(|_| new_pair()).collect();
    write_pair(dir.path(), &pairs[0]);
    let yml = dir.path().join("web.yml");
    fs::write(&yml, tls_yml("server.crt", "server.key")).unwrap();
    let (initial, mut watcher) = start(&yml, notify_only());
    assert_eq!(served_pair(&initial).0, pairs[0].cert_der.to_vec());

    for (step, pair) in pairs.iter().enumerate().skip(1) {
        // Certificate first; the key follows after the retries are exhausted, so the
        // half-done rotation is seen, reported as a failure and never loaded.
        atomic_write(&dir.path().join("server.crt"), pair.cert_pem.as_bytes());
        match next_event(&mut watcher, DEADLINE).await {
            WatchEvent::Failed { error } => assert!(
                error
                    .to_string()
                    .starts_with("failed to load X509KeyPair: "),
                "step {step}: {error}"
            ),
            WatchEvent::Loaded(config) => {
                panic!(
                    "step {step}: loaded {:?} before the key",
                    served_pair(&config).0
                )
            }
        }
        atomic_write(&dir.path().join("server.key"), pair.key_pem.as_bytes());
        let config = next_loaded(&mut watcher).await;
        let (cert, key) = served_pair(&config);
        assert_eq!(cert, pair.cert_der.to_vec(), "step {step}");
        assert_eq!(key, pair.public_key_der, "step {step}");
    }
}

#[tokio::test]
async fn watch_cert_and_key_close_together_load_once_matched() {
    let dir = tempfile::tempdir().unwrap();
    let old = new_pair();
    let new = new_pair();
    write_pair(dir.path(), &old);
    let yml = dir.path().join("web.yml");
    fs::write(&yml, tls_yml("server.crt", "server.key")).unwrap();
    let (_, mut watcher) = start(&yml, notify_only());

    // Key a moment after the certificate, inside the retry window: no failure is reported.
    atomic_write(&dir.path().join("server.crt"), new.cert_pem.as_bytes());
    std::thread::sleep(Duration::from_millis(120));
    atomic_write(&dir.path().join("server.key"), new.key_pem.as_bytes());
    let config = next_loaded(&mut watcher).await;
    let (cert, key) = served_pair(&config);
    assert_eq!(cert, new.cert_der.to_vec());
    assert_eq!(key, new.public_key_der);
}

#[tokio::test]
async fn watch_follows_files_moved_to_a_new_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = new_pair();
    write_pair(dir.path(), &first);
    let yml = dir.path().join("web.yml");
    fs::write(&yml, tls_yml("server.crt", "server.key")).unwrap();
    let (_, mut watcher) = start(&yml, notify_only());

    // web.yml now points into another directory: that directory must be watched from then on.
    let other: PathBuf = dir.path().join("certs");
    fs::create_dir(&other).unwrap();
    let second = new_pair();
    write_pair(&other, &second);
    atomic_write(
        &yml,
        tls_yml("certs/server.crt", "certs/server.key").as_bytes(),
    );
    let config = next_loaded(&mut watcher).await;
    assert_eq!(served_pair(&config).0, second.cert_der.to_vec());

    // A rotation inside the new directory (both files swapped, key first then cert, each
    // atomically; the intermediate state fails validation and is retried).
    let third = new_pair();
    let staging = dir.path().join("staging");
    fs::create_dir(&staging).unwrap();
    write_pair(&staging, &third);
    fs::rename(staging.join("server.key"), other.join("server.key")).unwrap();
    fs::rename(staging.join("server.crt"), other.join("server.crt")).unwrap();
    let config = next_loaded(&mut watcher).await;
    assert_eq!(served_pair(&config).0, third.cert_der.to_vec());
}

#[tokio::test]
async fn watch_change_between_load_and_spawn_is_reported() {
    let (_dir, yml) = headers_dir("loaded");
    let source = WebYml(yml.clone());
    let initial = scrapegate_watch::load(&source).unwrap();
    // The file moves on before the watcher exists; no event will ever mention it.
    fs::write(&yml, headers_yml("newer")).unwrap();
    let mut watcher = scrapegate_watch::spawn(source, &initial, notify_only());
    expect_csp(&mut watcher, "newer").await;
}

#[tokio::test]
async fn watch_broken_config_watches_the_files_it_points_to() {
    let dir = tempfile::tempdir().unwrap();
    let first = new_pair();
    write_pair(dir.path(), &first);
    let yml = dir.path().join("web.yml");
    fs::write(&yml, tls_yml("server.crt", "server.key")).unwrap();
    let (_, mut watcher) = start(&yml, notify_only());

    // web.yml now names files in a directory the last good generation never used, and they
    // are not there yet: a failure, but that directory must be watched from now on.
    let other = dir.path().join("next");
    fs::create_dir(&other).unwrap();
    atomic_write(
        &yml,
        tls_yml("next/server.crt", "next/server.key").as_bytes(),
    );
    match next_event(&mut watcher, DEADLINE).await {
        WatchEvent::Failed { error } => assert!(
            error.to_string().contains("no such file or directory"),
            "{error}"
        ),
        WatchEvent::Loaded(_) => panic!("loaded without the files"),
    }
    // Only notify is on, and nothing touches web.yml again: the fix is seen through the
    // watch on the new directory.
    let second = new_pair();
    let staging = dir.path().join("staging");
    fs::create_dir(&staging).unwrap();
    write_pair(&staging, &second);
    fs::rename(staging.join("server.key"), other.join("server.key")).unwrap();
    fs::rename(staging.join("server.crt"), other.join("server.crt")).unwrap();
    let config = next_loaded(&mut watcher).await;
    assert_eq!(served_pair(&config).0, second.cert_der.to_vec());
}
