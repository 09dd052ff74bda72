//! `scrapegate demo`: the printed curl command, run as printed, returns the sample metrics.

mod e2e_support;

use std::process::Command;

use e2e_support::*;

#[test]
fn demo_prints_a_curl_command_that_returns_metrics() {
    let Some(_curl) = tool("/usr/bin/curl") else {
        return;
    };
    let mut p = spawn(&["demo".into(), "--listen".into(), "127.0.0.1:0".into()]);
    let line = p
        .stdout
        .wait_for(STARTUP, |l| l.trim_start().starts_with("curl --cacert"))
        .unwrap_or_else(|| panic!("no curl line:\n{}\n{}", p.stdout.all(), p.stderr.all()));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "curl");
    let out = Command::new("/usr/bin/curl")
        .args(["-sS", "--max-time", "20"])
        .args(&words[1..])
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(body.contains("demo_scrapes_total 1"), "{body}");
    // Without the password: 401.
    let no_auth: Vec<&str> = words[1..]
        .iter()
        .copied()
        .filter(|w| *w != "-u" && !w.starts_with("demo:"))
        .collect();
    let out = Command::new("/usr/bin/curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args(&no_auth)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
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
