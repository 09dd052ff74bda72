//! Differential test against `promtool check web-config` (Prometheus 2.42 here): over the
//! whole spec §7.2 fixture set plus extra parser and validation cases, both tools must give the
//! same verdict (exit code, SUCCESS / FAILED), and the same text where the toolkit has not
//! changed it since promtool 2.42's version. Fixtures using fields 2.42 predates (inline PEM,
//! `client_allowed_sans`, `rate_limit`) are left out. Skips loudly without promtool.

use std::path::Path;
use std::process::Command;

use scrapegate_testkit::fixtures::{self, CASES, Promtool};

/// Extra files beyond §7.2: name, content, whether the text must match too.
const EXTRA: &[(&str, &str, bool)] = &[
    (
        "x_unknown_top.yml",
        "tls_server_confg: {}\nhttp_server_config: {}\n",
        true,
    ),
    (
        "x_two_unknown.yml",
        "tls_server_config:\n  foo: 1\nhttp_server_config:\n  bar: 2\n",
        true,
    ),
    (
        "x_dup_field.yml",
        "http_server_config: {}\nhttp_server_config: {}\n",
        true,
    ),
    (
        "x_dup_user.yml",
        "basic_auth_users:\n  a: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n  a: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
        true,
    ),
    (
        "x_quoted_bool.yml",
        "http_server_config:\n  http2: \"false\"\n",
        true,
    ),
    (
        "x_yes_bool.yml",
        "http_server_config:\n  http2: yes\n",
        true,
    ),
    ("x_int_bool.yml", "http_server_config:\n  http2: 1\n", true),
    (
        "x_seq_string.yml",
        "tls_server_config:\n  cert_file: [a]\n",
        true,
    ),
    ("x_map_struct.yml", "tls_server_config: [a, b]\n", true),
    ("x_tab.yml", "tls_server_config:\n\tcert_file: x\n", true),
    ("x_null_doc.yml", "---\n", true),
    (
        "x_second_doc.yml",
        "http_server_config: {}\n---\n\tjunk: [\n",
        true,
    ),
    ("x_null_section.yml", "http_server_config:\n", true),
    ("x_bom.yml", "\u{feff}http_server_config: {}\n", true),
    (
        "x_anchor_key.yml",
        "base: &b {http2: false}\nhttp_server_config: *b\n",
        true,
    ),
    (
        "x_merge.yml",
        "http_server_config:\n  <<: {http2: false}\n",
        true,
    ),
    (
        "x_tls_lowercase.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: tls12\n",
        true,
    ),
    (
        "x_cipher_int.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [49199]\n",
        true,
    ),
    (
        "x_curve_case.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  curve_preferences: [x25519]\n",
        true,
    ),
    (
        "x_bad_auth.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: requireandverifyclientcert\n",
        false,
    ),
    (
        "x_ca_missing.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: nope.pem\n",
        true,
    ),
    (
        "x_min_gt_max.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n  max_version: TLS12\n",
        true,
    ),
    (
        "x_tls10.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS10\n  max_version: TLS11\n",
        true,
    ),
    (
        "x_mismatch_type.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server_ec.key\n",
        true,
    ),
    (
        "x_mismatch_key.yml",
        "tls_server_config:\n  cert_file: server_ec.crt\n  key_file: client_selfsigned.key\n",
        true,
    ),
    (
        "x_key_as_cert.yml",
        "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n",
        true,
    ),
    (
        "x_cert_as_key.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n",
        true,
    ),
    (
        "x_ec_pair.yml",
        "tls_server_config:\n  cert_file: server_ec.crt\n  key_file: server_ec.key\n",
        true,
    ),
    ("x_hash_short.yml", "basic_auth_users:\n  u: \"\"\n", true),
    (
        "x_hash_prefix.yml",
        "basic_auth_users:\n  u: x2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
        true,
    ),
    (
        "x_hash_version.yml",
        "basic_auth_users:\n  u: $3y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
        true,
    ),
    (
        "x_hash_cost.yml",
        "basic_auth_users:\n  u: $2y$32$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
        true,
    ),
    (
        "x_hash_atoi.yml",
        "basic_auth_users:\n  u: $2y$ab$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
        true,
    ),
    (
        "x_hash_odd.yml",
        "basic_auth_users:\n  u: $1y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSiXX\n",
        true,
    ),
    ("x_hash_int.yml", "basic_auth_users:\n  u: 12345\n", true),
    (
        "x_user_keys.yml",
        "basic_auth_users:\n  123: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n  ~: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
        true,
    ),
    (
        "x_header_lower.yml",
        "http_server_config:\n  headers:\n    x-frame-options: deny\n",
        true,
    ),
    (
        "x_header_deny.yml",
        "http_server_config:\n  headers:\n    X-Frame-Options: DENY\n",
        true,
    ),
    (
        "x_header_blank.yml",
        "http_server_config:\n  headers:\n    X-Content-Type-Options:\n",
        true,
    ),
    (
        "x_header_csp_null.yml",
        "http_server_config:\n  headers:\n    Content-Security-Policy:\n    X-XSS-Protection: \"\"\n",
        true,
    ),
    ("x_bad_syntax.yml", "a: b: c\n", true),
    ("x_unclosed.yml", "tls_server_config: [a\n", true),
    ("x_unclosed_map.yml", "{a: b\n", true),
    ("x_unterminated_quote.yml", "k: \"abc\n", true),
    ("x_seq_in_map.yml", "x:\n  - a\n  b: c\n", true),
    ("x_bad_indent.yml", "a:\n  b: c\n d: e\n", true),
    ("x_map_then_seq.yml", "a: b\n- c\n", true),
    ("x_at_sign.yml", "a: @b\n", true),
    ("x_unknown_alias.yml", "a: *x\n", true),
    ("x_block_scalar.yml", "a: |\n  x\n y: 1\n", true),
    (
        "x_bad_escape.yml",
        "http_server_config:\n  headers:\n    X-XSS-Protection: \"\\q\"\n",
        true,
    ),
    (
        "x_crlf.yml",
        "http_server_config:\r\n  http2: false\r\n",
        true,
    ),
    (
        "x_comments.yml",
        "http_server_config: # c\n  http2: false # c2\n  headers: {X-XSS-Protection: \"a # b\"}\n",
        true,
    ),
    (
        "x_flow_tls.yml",
        "tls_server_config: {cert_file: server.crt, key_file: server.key}\n",
        true,
    ),
    ("x_doc_end.yml", "http_server_config: {}\n...\n", true),
    (
        "x_yaml_directive.yml",
        "%YAML 1.1\n---\nhttp_server_config: {}\n",
        true,
    ),
    (
        "x_str_tag.yml",
        "http_server_config:\n  headers:\n    X-XSS-Protection: !!str 1\n",
        true,
    ),
    (
        "x_bool_tag_quoted.yml",
        "http_server_config:\n  http2: !!bool \"true\"\n",
        true,
    ),
    (
        "x_str_tag_bool.yml",
        "http_server_config:\n  http2: !!str true\n",
        true,
    ),
    ("x_anchor_reuse.yml", "a: &x 1\nb: &x 2\n", true),
    ("x_explicit_key.yml", "? http_server_config\n: {}\n", true),
    (
        "x_folded.yml",
        "http_server_config:\n  headers:\n    X-XSS-Protection: >\n      a\n      b\n",
        true,
    ),
    (
        "x_timestamp_key.yml",
        "basic_auth_users:\n  2001-01-01: x\n",
        true,
    ),
    (
        "x_quoted_null_enum.yml",
        "tls_server_config:\n  min_version: \"null\"\n",
        true,
    ),
    (
        "x_title_null_enum.yml",
        "tls_server_config:\n  min_version: Null\n",
        true,
    ),
    (
        "x_seq_enum.yml",
        "tls_server_config:\n  min_version: [TLS12]\n",
        true,
    ),
    (
        "x_scalar_slice.yml",
        "tls_server_config:\n  cipher_suites: TLS_AES_128_GCM_SHA256\n",
        true,
    ),
    ("x_seq_users.yml", "basic_auth_users: [a]\n", true),
    (
        "x_scalar_headers.yml",
        "http_server_config:\n  headers: foo\n",
        true,
    ),
    (
        "x_collection_values.yml",
        "basic_auth_users:\n  u: [a]\n  v: {a: b}\n",
        true,
    ),
    ("x_seq_doc.yml", "- a\n- b\n", true),
    ("x_string_doc.yml", "\"just a string\"\n", true),
    ("x_int_doc.yml", "123\n", true),
    (
        "x_merge_seq.yml",
        "http_server_config:\n  <<: [{http2: false}, {headers: {X-XSS-Protection: a}}]\n",
        true,
    ),
    (
        "x_merge_map_dup.yml",
        "basic_auth_users:\n  <<: {a: b}\n  a: c\n",
        true,
    ),
    (
        "x_dup_fields_and_keys.yml",
        "http_server_config:\n  http2: false\n  http2: true\n  headers: {a: 1, a: 2}\n",
        true,
    ),
    (
        "x_local_tag.yml",
        "http_server_config:\n  http2: !foo true\n",
        true,
    ),
    (
        "x_bad_list_indent.yml",
        "tls_server_config:\n  cipher_suites:\n  - TLS_AES_128_GCM_SHA256\n   - x\n",
        true,
    ),
];

fn promtool_available() -> bool {
    Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a checker on one file; returns (exit code, stderr).
fn run(program: &str, file: &Path) -> (Option<i32>, String) {
    let out = Command::new(program)
        .args(["check", "web-config"])
        .arg(file)
        .output()
        .expect("run checker");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), text)
}

/// Our output without the WARNING lines (promtool has none).
fn without_warnings(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains(" WARNING: "))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn verdict(text: &str) -> &'static str {
    match text.lines().next() {
        Some(l) if l.ends_with(" SUCCESS") => "SUCCESS",
        Some(l) if l.contains(" FAILED: ") => "FAILED",
        _ => "other",
    }
}

#[test]
fn same_verdicts_and_texts_as_promtool() {
    if !promtool_available() {
        eprintln!("SKIPPED: promtool not installed");
        return;
    }
    let fx = fixtures::build();
    let mut files: Vec<(String, bool)> = CASES
        .iter()
        .filter(|c| c.promtool != Promtool::Unknown)
        .map(|c| (c.file.to_string(), c.promtool == Promtool::Same))
        .collect();
    for (name, content, same_text) in EXTRA {
        fx.write(name, content);
        files.push((name.to_string(), *same_text));
    }
    let ours = env!("CARGO_BIN_EXE_scrapegate");
    let mut mismatches = Vec::new();
    for (name, same_text) in &files {
        let path = fx.file(name);
        let (p_code, p_text) = run("promtool", &path);
        let (s_code, s_text) = run(ours, &path);
        let s_text = without_warnings(&s_text);
        if p_code != s_code || verdict(&p_text) != verdict(&s_text) {
            mismatches.push(format!(
                "{name}: verdict differs\n promtool ({p_code:?}): {p_text} scrapegate ({s_code:?}): {s_text}"
            ));
        } else if *same_text && p_text != s_text {
            mismatches.push(format!(
                "{name}: text differs\n promtool:   {p_text:?}\n scrapegate: {s_text:?}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} files differ:\n{}",
        mismatches.len(),
        files.len(),
        mismatches.join("\n")
    );
}
