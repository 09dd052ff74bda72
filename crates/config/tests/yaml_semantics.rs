//! yaml.v2 decoding semantics (spec §1.2, §1.3, §2.4): parse-only cases, no files referenced.

use scrapegate_config::{RawConfig, TlsVersion, decode_web_yml as parse_raw};

fn ok(yaml: &str) -> RawConfig {
    match parse_raw(yaml.as_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("expected {yaml:?} to parse, got: {e}"),
    }
}

fn err(yaml: &str) -> String {
    match parse_raw(yaml.as_bytes()) {
        Ok(_) => panic!("expected {yaml:?} to fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn empty_and_comment_only_files_keep_defaults() {
    for text in ["", "# just a comment\n", "\n\n"] {
        let c = ok(text);
        assert_eq!(c.tls.min_version, TlsVersion::Tls12);
        assert_eq!(c.tls.max_version, TlsVersion::Tls13);
        assert!(c.tls.prefer_server_cipher_suites);
        assert!(c.http.http2);
    }
}

#[test]
fn null_document_zeroes_everything() {
    for text in ["---\n", "null\n", "~\n"] {
        let c = ok(text);
        assert_eq!(c.tls.min_version, TlsVersion::Default);
        assert_eq!(c.tls.max_version, TlsVersion::Default);
        assert!(!c.tls.prefer_server_cipher_suites);
        assert!(!c.http.http2);
    }
}

#[test]
fn null_section_zeroes_that_section() {
    let c = ok("http_server_config:\n");
    assert!(!c.http.http2);
    assert_eq!(c.tls.min_version, TlsVersion::Tls12);
    let c = ok("tls_server_config:\n");
    assert_eq!(c.tls.min_version, TlsVersion::Default);
    assert!(!c.tls.prefer_server_cipher_suites);
    assert!(c.http.http2);
}

#[test]
fn null_field_is_zero_value() {
    let c = ok("tls_server_config:\n  min_version:\n  max_version: ~\n");
    assert_eq!(c.tls.min_version, TlsVersion::Default);
    assert_eq!(c.tls.max_version, TlsVersion::Default);
}

#[test]
fn yaml11_booleans() {
    for t in [
        "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE",
    ] {
        assert!(
            ok(&format!("http_server_config:\n  http2: {t}\n"))
                .http
                .http2,
            "{t}"
        );
    }
    for f in [
        "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE",
    ] {
        assert!(
            !ok(&format!("http_server_config:\n  http2: {f}\n"))
                .http
                .http2,
            "{f}"
        );
    }
}

#[test]
fn quoted_bool_is_a_type_error() {
    assert_eq!(
        err("http_server_config:\n  http2: \"false\"\n"),
        "yaml: unmarshal errors:\n  line 2: cannot unmarshal !!str `false` into bool"
    );
}

#[test]
fn unknown_fields_are_collected_in_document_order() {
    assert_eq!(
        err("tls_server_config:\n  cert_filse: server.crt\nTLS_server_config: {}\n"),
        "yaml: unmarshal errors:\n  line 2: field cert_filse not found in type web.TLSConfig\n  line 3: field TLS_server_config not found in type web.Config"
    );
    assert_eq!(
        err("http_server_config:\n  http3: true\nrate_limit:\n  burts: 1\n"),
        "yaml: unmarshal errors:\n  line 2: field http3 not found in type web.HTTPConfig\n  line 4: field burts not found in type web.RateLimiterConfig"
    );
}

#[test]
fn duplicate_keys() {
    assert_eq!(
        err("http_server_config: {}\nhttp_server_config: {}\n"),
        "yaml: unmarshal errors:\n  line 2: field http_server_config already set in type web.Config"
    );
    let hash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
    assert_eq!(
        err(&format!(
            "basic_auth_users:\n  alice: {hash}\n  alice: {hash}\n"
        )),
        "yaml: unmarshal errors:\n  line 3: key \"alice\" already set in map"
    );
}

#[test]
fn junk_is_a_type_error_shortened() {
    let junk = "hWkNKCpUrSgVg2cdBZlb0YxAy9Ai1ezBYDnfwQqt\nmYmeaWfaK9pUWg9uwKbPnq23\n";
    assert_eq!(
        err(junk),
        "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `hWkNKCp...` into web.Config"
    );
}

#[test]
fn sequence_into_string() {
    assert_eq!(
        err("tls_server_config:\n  cert_file: [a]\n"),
        "yaml: unmarshal errors:\n  line 2: cannot unmarshal !!seq into string"
    );
    assert_eq!(
        err("tls_server_config:\n  key: [a]\n"),
        "yaml: unmarshal errors:\n  line 2: cannot unmarshal !!seq into config.plain"
    );
}

#[test]
fn only_first_document_counts() {
    let c = ok("http_server_config:\n  http2: false\n---\n\tgarbage: [\n");
    assert!(!c.http.http2);
}

#[test]
fn tab_indentation_is_a_syntax_error() {
    assert_eq!(
        err("tls_server_config:\n\tcert_file: x\n"),
        "yaml: line 2: found character that cannot start any token"
    );
}

#[test]
fn scalars_become_strings_by_original_text() {
    let c = ok("http_server_config:\n  headers:\n    X-XSS-Protection: 1\n");
    assert_eq!(
        c.http.headers.unwrap(),
        vec![("X-XSS-Protection".to_string(), "1".to_string())]
    );
    let c = ok("basic_auth_users:\n  123: x\n  yes: y\n  ~: z\n");
    let names: Vec<String> = c.users.unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["123", "yes", ""]);
}

#[test]
fn enum_errors_are_unwrapped() {
    assert_eq!(
        err("tls_server_config:\n  min_version: TLS111\n"),
        "unknown TLS version: TLS111"
    );
    assert_eq!(
        err("tls_server_config:\n  max_version: tls12\n"),
        "unknown TLS version: tls12"
    );
    assert_eq!(
        err("tls_server_config:\n  cipher_suites: [X]\n"),
        "unknown cipher: X"
    );
    assert_eq!(
        err("tls_server_config:\n  cipher_suites: [49199]\n"),
        "unknown cipher: 49199"
    );
    assert_eq!(
        err("tls_server_config:\n  curve_preferences: [x25519]\n"),
        "unknown curve: x25519"
    );
}

#[test]
fn durations() {
    let nanos = |v: &str| {
        ok(&format!("rate_limit:\n  interval: {v}\n"))
            .rate_limit
            .interval_nanos
    };
    assert_eq!(nanos("1s"), 1_000_000_000);
    assert_eq!(nanos("\"0s\""), 0);
    assert_eq!(nanos("1m30s"), 90_000_000_000);
    assert_eq!(nanos("-1s"), -1_000_000_000);
    assert_eq!(nanos("1"), 1);
    assert_eq!(nanos("1.5"), 1);
    assert_eq!(nanos("500ms"), 500_000_000);
    assert_eq!(
        err("rate_limit:\n  interval: 1d\n"),
        "yaml: unmarshal errors:\n  line 2: cannot unmarshal !!str `1d` into time.Duration"
    );
}

#[test]
fn burst_is_an_int() {
    assert_eq!(ok("rate_limit:\n  burst: 2.0\n").rate_limit.burst, 2);
    assert_eq!(ok("rate_limit:\n  burst: -5\n").rate_limit.burst, -5);
    assert_eq!(
        err("rate_limit:\n  burst: \"3\"\n"),
        "yaml: unmarshal errors:\n  line 2: cannot unmarshal !!str `3` into int"
    );
}

#[test]
fn bom_anchors_and_merge() {
    let c = ok("\u{feff}http_server_config: &h\n  http2: false\n");
    assert!(!c.http.http2);
    // An alias decodes the anchored node, so errors carry the anchor's line.
    assert_eq!(
        err(
            "tls_server_config:\n  client_allowed_sans: &s [a, b]\nhttp_server_config:\n  headers:\n    X-XSS-Protection: *s\n"
        ),
        "yaml: unmarshal errors:\n  line 2: cannot unmarshal !!seq into string"
    );
    // An extra top-level key holding an anchor is still an unknown field.
    assert_eq!(
        err("base: &b\n  http2: false\nhttp_server_config: *b\n"),
        "yaml: unmarshal errors:\n  line 1: field base not found in type web.Config"
    );
}

#[test]
fn merge_keys_fill_structs() {
    let c = ok("http_server_config:\n  <<: {http2: false}\n");
    assert!(!c.http.http2);
    assert_eq!(
        err("http_server_config:\n  <<: 1\n"),
        "yaml: map merge requires map or sequence of maps as the value"
    );
}

#[test]
fn allowed_sans_nil_versus_empty() {
    assert_eq!(
        ok("tls_server_config:\n  client_allowed_sans:\n")
            .tls
            .client_allowed_sans,
        None
    );
    assert_eq!(
        ok("tls_server_config:\n  client_allowed_sans: []\n")
            .tls
            .client_allowed_sans,
        Some(vec![])
    );
}

#[test]
fn deeply_nested_input_is_refused_without_crashing() {
    let flow = format!(
        "http_server_config: {}{}\n",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    assert!(err(&flow).starts_with("yaml: "));
    let mut merges = String::from("http_server_config:\n");
    for level in 1..400 {
        merges.push_str(&"  ".repeat(level));
        merges.push_str("<<:\n");
    }
    merges.push_str(&"  ".repeat(400));
    merges.push_str("http2: false\n");
    assert_eq!(err(&merges), "yaml: exceeded max depth of 256");
}

#[test]
fn alias_expansion_is_bounded() {
    // Each level merges the previous one ten times: 10^20 visits without a bound.
    let mut text = String::from("x0: &x0 {http2: false}\n");
    for i in 1..20 {
        let refs = vec![format!("*x{}", i - 1); 10].join(", ");
        text.push_str(&format!("x{i}: &x{i} {{<<: [{refs}]}}\n"));
    }
    text.push_str("http_server_config: *x19\n");
    assert_eq!(err(&text), "yaml: document contains excessive aliasing");
}

/// Texts confirmed identical with promtool (see the scrapegate crate's differential test),
/// pinned here so they hold without promtool installed.
#[test]
fn syntax_errors_in_yaml_v2_form() {
    let cases = [
        (
            "a: b: c\n",
            "yaml: mapping values are not allowed in this context",
        ),
        ("a: b\n- c\n", "yaml: line 1: did not find expected key"),
        (
            "x:\n  - a\n  b: c\n",
            "yaml: line 2: did not find expected '-' indicator",
        ),
        (
            "a:\n  b: c\n d: e\n",
            "yaml: line 2: did not find expected key",
        ),
        ("k: \"abc\n", "yaml: line 2: found unexpected end of stream"),
        (
            "tls_server_config: [a\n",
            "yaml: line 1: did not find expected ',' or ']'",
        ),
        ("{a: b\n", "yaml: line 1: did not find expected ',' or '}'"),
        (
            "a: @b\n",
            "yaml: found character that cannot start any token",
        ),
        ("a: *x\n", "yaml: unknown anchor 'x' referenced"),
        (
            "http_server_config:\n  headers:\n    X-XSS-Protection: \"\\q\"\n",
            "yaml: line 3: found unknown escape character",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), want, "{text:?}");
    }
}

/// The toolkit's `TestTLSConfigIsEnabled` table.
#[test]
fn tls_is_enabled_by_material_or_policy_only() {
    use scrapegate_config::tls_enabled;
    let cases = [
        ("", false),
        (
            "tls_server_config:\n  min_version: TLS13\n  prefer_server_cipher_suites: false\n",
            false,
        ),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n", true),
        ("tls_server_config:\n  cert: a\n  key: b\n", true),
        ("tls_server_config:\n  client_ca_file: a\n", true),
        (
            "tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n",
            true,
        ),
    ];
    for (text, enabled) in cases {
        assert_eq!(tls_enabled(&ok(text).tls), enabled, "{text:?}");
    }
}
