//! `scrapegate check web-config`: promtool's output format and exit codes, warnings, and the
//! up-front refusal of paths that do not exist.

use scrapegate_testkit::fixtures;
use scrapegate_testkit::process::run_in;
use std::path::Path;
use std::process::Output;

/// `scrapegate ARGS` run in `dir`, to completion.
fn scrapegate(args: &[&str], dir: &Path) -> Output {
    run_in(env!("CARGO_BIN_EXE_scrapegate"), args, dir)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn good_then_bad_prints_two_lines_in_order_and_exits_1() {
    let fx = fixtures::build();
    fx.write(
        "good.yml",
        "tls_server_config:\n  cert_file: server_ec.crt\n  key_file: server_ec.key\n",
    );
    fx.write(
        "bad.yml",
        "tls_server_config:\n  cert_file: server_ec.crt\n",
    );
    let out = scrapegate(&["check", "web-config", "good.yml", "bad.yml"], fx.path());
    assert_eq!(
        stderr(&out),
        "good.yml SUCCESS\nbad.yml FAILED: missing one of key or key_file\n"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn keeps_going_after_a_failure() {
    let fx = fixtures::build();
    fx.write("bad.yml", "tls_server_config:\n  key_file: server_ec.key\n");
    fx.write("good.yml", "");
    let out = scrapegate(&["check", "web-config", "bad.yml", "good.yml"], fx.path());
    assert_eq!(
        stderr(&out),
        "bad.yml FAILED: missing one of cert or cert_file\ngood.yml SUCCESS\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn only_good_files_exit_0() {
    let fx = fixtures::build();
    let out = scrapegate(
        &[
            "check",
            "web-config",
            "web_config_empty.yml",
            "web_config_headers.good.yml",
        ],
        fx.path(),
    );
    assert_eq!(
        stderr(&out),
        "web_config_empty.yml SUCCESS\nweb_config_headers.good.yml SUCCESS\n"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn missing_argument_file_is_refused_before_checking() {
    let fx = fixtures::build();
    let out = scrapegate(
        &["check", "web-config", "web_config_empty.yml", "nope.yml"],
        fx.path(),
    );
    assert_eq!(
        stderr(&out),
        "scrapegate: error: path 'nope.yml' does not exist, try --help\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn warnings_follow_the_verdict_without_changing_it() {
    let fx = fixtures::build();
    let out = scrapegate(
        &[
            "check",
            "web-config",
            "web_config_noAuth_noHTTP2Cipher.bad.yml",
        ],
        fx.path(),
    );
    let text = stderr(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "web_config_noAuth_noHTTP2Cipher.bad.yml SUCCESS");
    assert!(
        lines.iter().any(|l| l.starts_with(
            "web_config_noAuth_noHTTP2Cipher.bad.yml WARNING: promtool accepts this file, but the server will refuse to start: http2: TLSConfig.CipherSuites is missing an HTTP/2-required"
        )),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARNING: the server certificate has an RSA-2048 key")),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn no_file_at_all_is_refused_like_promtool() {
    let fx = fixtures::build();
    let out = scrapegate(&["check", "web-config"], fx.path());
    assert_eq!(
        stderr(&out),
        "scrapegate: error: required argument 'web-config-files' not provided, try --help\n"
    );
    assert_eq!(out.status.code(), Some(1));
}
