//! `scrapegate demo`: the printed curl command, run as printed, returns the sample metrics.

use scrapegate_testkit::{STARTUP, curl, spawn, tool};

const SCRAPEGATE: &str = env!("CARGO_BIN_EXE_scrapegate");

#[test]
fn demo_prints_a_curl_command_that_returns_metrics() {
    let Some(curl_bin) = tool("/usr/bin/curl") else {
        return;
    };
    let mut p = spawn(
        SCRAPEGATE,
        &["demo".into(), "--listen".into(), "127.0.0.1:0".into()],
    );
    let line = p
        .stdout
        .wait_for(STARTUP, |l| l.trim_start().starts_with("curl --cacert"))
        .unwrap_or_else(|| panic!("no curl line:\n{}\n{}", p.stdout.all(), p.stderr.all()));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "curl");
    // Run as printed (the kit's curl adds only `-sS --max-time 20` and the status code).
    let printed: Vec<String> = words[1..].iter().map(|w| (*w).to_owned()).collect();
    let (code, body) = curl(&curl_bin, &printed);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("demo_scrapes_total 1"), "{body}");
    // Without the password: 401.
    let no_auth: Vec<String> = printed
        .iter()
        .filter(|w| *w != "-u" && !w.starts_with("demo:"))
        .cloned()
        .collect();
    let (code, _) = curl(&curl_bin, &no_auth);
    assert_eq!(code, 401);
    // Ctrl-C ends the demo cleanly and removes its files.
    let dir = p
        .stdout
        .all()
        .lines()
        .find_map(|l| {
            l.trim_start()
                .strip_prefix("files:")
                .map(|r| r.trim().split(' ').next().unwrap().to_string())
        })
        .unwrap();
    p.signal(libc::SIGINT);
    assert_eq!(p.wait_exit(STARTUP), Some(0));
    assert!(!std::path::Path::new(&dir).exists(), "{dir} left behind");
}
