//! `scrapegate.yml`: `load_policy` turns valid files (tokens by `sha256` and by `token_file`,
//! routes, `allow`, `anonymous`) into a complete `Policy`, and refuses each bad input with one
//! line naming the file, the line or route or token, and the field; `pair` refuses
//! `allow.users` that web.yml lacks; `referenced_policy_files` lists what to watch; the example
//! `config/scrapegate.yml` loads and pairs with `config/web-tls-users.yml`.

use std::path::{Path, PathBuf};

use http::Method;
use scrapegate_config::{
    RateLimit, ValidatedConfig, decode_web_yml, load_policy, pair, referenced_policy_files,
};
use scrapegate_model::{Allow, Policy};
use scrapegate_testkit::fixtures::{self, Fixtures};
use scrapegate_testkit::{hash, users};
use sha2::{Digest, Sha256};

/// A token long enough to be accepted (31 bytes).
const TOKEN: &str = "a-high-entropy-token-0123456789";

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(digest: [u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `yaml` as `scrapegate.yml` in the fixture directory and loads it.
fn load(fx: &Fixtures, yaml: &str) -> Result<Policy, String> {
    load_policy(&fx.write("scrapegate.yml", yaml)).map_err(|e| e.to_string())
}

/// The error for `yaml`, with the fixture directory shown as `{dir}`.
fn error(fx: &Fixtures, yaml: &str) -> String {
    match load(fx, yaml) {
        Ok(policy) => panic!("accepted:\n{yaml}\n{policy:?}"),
        Err(e) => e.replace(&*fx.path().to_string_lossy(), "{dir}"),
    }
}

/// A validated web.yml at `web.yml` with these users (no TLS).
fn web(names: &[&str]) -> ValidatedConfig {
    let hashed = hash("password");
    let list: Vec<(&str, &str)> = names.iter().map(|n| (*n, hashed.as_str())).collect();
    ValidatedConfig {
        path: PathBuf::from("web.yml"),
        tls: None,
        http2: true,
        headers: Vec::new(),
        users: users(&list),
        rate_limit: RateLimit::default(),
        files: vec![PathBuf::from("web.yml")],
    }
}

fn strings(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| (*s).to_owned()).collect())
}

#[test]
fn full_file_with_sha256_and_token_file() {
    let fx = fixtures::build();
    std::fs::create_dir(fx.file("tokens")).unwrap();
    // Surrounding whitespace (the trailing newline of `echo`) is trimmed before hashing.
    fx.write("tokens/grafana", &format!("  {TOKEN}-grafana\n"));
    let yaml = format!(
        "bearer_tokens:
  - name: prometheus
    sha256: {}
  - name: grafana
    token_file: tokens/grafana
routes:
  - prefix: /node/
    upstream: http://127.0.0.1:9101/
    allow:
      users: [prometheus]
      tokens: [prometheus, grafana]
      client_sans: [scraper.example]
      methods: [GET, HEAD]
    anonymous: [/node/-/healthy]
  - prefix: /prom/api/v1/admin
    upstream: http://127.0.0.1:9090/api/v1/admin
    allow: {{users: [admin]}}
  - prefix: /
    upstream: http://127.0.0.1:9100
",
        hex(sha256(TOKEN)).to_uppercase()
    );
    let policy = load(&fx, &yaml).unwrap();
    assert_eq!(policy.path, fx.file("scrapegate.yml"));
    assert_eq!(
        policy.files,
        vec![fx.file("scrapegate.yml"), fx.file("tokens/grafana")]
    );
    assert_eq!(policy.tokens.len(), 2);
    assert_eq!(policy.tokens[0].name, "prometheus");
    assert_eq!(policy.tokens[0].sha256, sha256(TOKEN));
    assert_eq!(policy.tokens[1].name, "grafana");
    assert_eq!(policy.tokens[1].sha256, sha256(&format!("{TOKEN}-grafana")));
    // The digest never shows in Debug output.
    assert!(!format!("{policy:?}").contains(&hex(sha256(TOKEN))));

    let [node, admin, root] = &policy.routes[..] else {
        panic!("three routes: {:?}", policy.routes)
    };
    assert_eq!(
        node.prefix, "/node",
        "a trailing / is dropped as --route drops it"
    );
    assert_eq!(node.upstream.authority.as_str(), "127.0.0.1:9101");
    assert_eq!(node.upstream.base_path.as_deref(), Some("/"));
    assert_eq!(
        node.allow,
        Some(Allow {
            users: strings(&["prometheus"]),
            tokens: strings(&["prometheus", "grafana"]),
            client_sans: strings(&["scraper.example"]),
            methods: Some(vec![Method::GET, Method::HEAD]),
        })
    );
    assert_eq!(node.anonymous, vec!["/node/-/healthy".to_owned()]);
    assert_eq!(admin.prefix, "/prom/api/v1/admin");
    assert_eq!(admin.upstream.base_path.as_deref(), Some("/api/v1/admin"));
    assert_eq!(admin.allow.as_ref().unwrap().users, strings(&["admin"]));
    assert_eq!(admin.allow.as_ref().unwrap().tokens, None);
    assert_eq!(admin.allow.as_ref().unwrap().methods, None);
    assert!(admin.anonymous.is_empty());
    assert_eq!(root.prefix, "/");
    assert_eq!(
        root.upstream.base_path, None,
        "no path: the request path goes unchanged"
    );
    assert_eq!(root.allow, None);
}

#[test]
fn absolute_token_file_is_used_as_given() {
    let fx = fixtures::build();
    let elsewhere = tempfile::tempdir().unwrap();
    let token_file = elsewhere.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let policy = load(
        &fx,
        &format!(
            "bearer_tokens:\n  - name: t\n    token_file: {}\n",
            token_file.display()
        ),
    )
    .unwrap();
    assert_eq!(policy.tokens[0].sha256, sha256(TOKEN));
    assert_eq!(policy.files, vec![fx.file("scrapegate.yml"), token_file]);
}

#[test]
fn token_file_relative_to_a_relative_policy_path() {
    // Paths are joined with the directory of scrapegate.yml as given (Go's filepath.Join).
    let fx = fixtures::build();
    std::fs::create_dir(fx.file("tokens")).unwrap();
    fx.write("tokens/t", TOKEN);
    let yaml = "bearer_tokens:\n  - name: t\n    token_file: ./tokens/../tokens/t\n";
    fx.write("scrapegate.yml", yaml);
    let policy = load_policy(&fx.file("scrapegate.yml")).unwrap();
    assert_eq!(policy.files[1], fx.file("tokens/t"));
}

#[test]
fn empty_documents_are_an_empty_policy() {
    let fx = fixtures::build();
    for yaml in [
        "",
        "# nothing yet\n",
        "{}",
        "---\n",
        "~\n",
        "bearer_tokens:\nroutes:\n",
        "bearer_tokens: []\nroutes: []\n",
    ] {
        let policy = load(&fx, yaml).unwrap_or_else(|e| panic!("{yaml:?}: {e}"));
        assert!(policy.tokens.is_empty(), "{yaml:?}");
        assert!(policy.routes.is_empty(), "{yaml:?}");
        assert_eq!(policy.files, vec![fx.file("scrapegate.yml")], "{yaml:?}");
    }
}

#[test]
fn allow_with_only_methods_restricts_methods_not_identity() {
    let fx = fixtures::build();
    let policy = load(
        &fx,
        "routes:\n  - prefix: /a\n    upstream: http://h:1\n    allow: {methods: [POST]}\n",
    )
    .unwrap();
    let allow = policy.routes[0].allow.as_ref().unwrap();
    assert!(!allow.restricts_identity());
    assert_eq!(allow.methods, Some(vec![Method::POST]));
}

#[test]
fn every_standard_method_is_accepted() {
    let fx = fixtures::build();
    let policy = load(
        &fx,
        "routes:\n  - prefix: /a\n    upstream: http://h:1\n    allow:\n      methods: \
         [GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE, CONNECT]\n",
    )
    .unwrap();
    let methods = policy.routes[0].allow.as_ref().unwrap().methods.clone();
    assert_eq!(methods.unwrap().len(), 9);
}

#[test]
fn anonymous_paths_under_the_prefix_and_the_route_root() {
    let fx = fixtures::build();
    let policy = load(
        &fx,
        "routes:
  - prefix: /prom/-
    upstream: http://h:1/-
    anonymous: [/prom/-, /prom/-/healthy, /prom/-/ready/]
  - prefix: /
    upstream: http://h:2
    anonymous: [/healthz, /prom]
",
    )
    .unwrap();
    assert_eq!(policy.routes[0].anonymous.len(), 3);
    assert_eq!(policy.routes[1].anonymous, vec!["/healthz", "/prom"]);
}

#[test]
fn coalesce_is_off_unless_a_route_turns_it_on() {
    let fx = fixtures::build();
    let policy = load(
        &fx,
        "routes:
  - prefix: /ksm
    upstream: http://h:1
    coalesce: true
  - prefix: /node
    upstream: http://h:2
    coalesce: false
  - prefix: /
    upstream: http://h:3
",
    )
    .unwrap();
    let coalesce: Vec<(&str, bool)> = policy
        .routes
        .iter()
        .map(|r| (r.prefix.as_str(), r.coalesce))
        .collect();
    assert_eq!(coalesce, [("/ksm", true), ("/node", false), ("/", false)]);
}

#[test]
fn coalesce_of_the_wrong_type_names_the_file_line_and_field() {
    let fx = fixtures::build();
    let route = "routes:\n  - prefix: /node\n    upstream: http://127.0.0.1:9101/\n";
    for (value, shown) in [
        ("yes-please", "string \"yes-please\""),
        // YAML 1.2: `yes` is a string, not a boolean.
        ("yes", "string \"yes\""),
        ("1", "integer `1`"),
        ("[true]", "sequence"),
    ] {
        assert_eq!(
            error(&fx, &format!("{route}    coalesce: {value}\n")),
            format!(
                "{{dir}}/scrapegate.yml: routes[0].coalesce: invalid type: {shown}, expected a boolean at line 4 column 15"
            ),
            "{value}"
        );
    }
}

/// Each bad file and its exact error: one line, naming the file, where, and the field.
#[test]
fn bad_files_and_their_errors() {
    let fx = fixtures::build();
    std::fs::create_dir(fx.file("tokens")).unwrap();
    fx.write("tokens/empty", " \n\t\n");
    fx.write("tokens/short", "short-token\n");
    fx.write("tokens/good", &format!("{TOKEN}\n"));
    let good = hex(sha256(TOKEN));
    let route = "routes:\n  - prefix: /node\n    upstream: http://127.0.0.1:9101/\n";
    let cases: Vec<(String, &str)> = vec![
        // Unknown keys, anywhere, with serde's message and line.
        (
            "routes: []\nbearer_token: []\n".into(),
            "{dir}/scrapegate.yml: unknown field `bearer_token`, expected one of `bearer_tokens`, `routes`, `tls` at line 2 column 1",
        ),
        (
            "bearer_tokens:\n  - name: a\n    sha265: abc\n".into(),
            "{dir}/scrapegate.yml: bearer_tokens[0]: unknown field `sha265`, expected one of `name`, `sha256`, `token_file` at line 3 column 5",
        ),
        (
            format!("{route}    upsteam: x\n"),
            "{dir}/scrapegate.yml: routes[0]: unknown field `upsteam`, expected one of `prefix`, `upstream`, `allow`, `anonymous`, `upstream_tls`, `unix_socket`, `coalesce` at line 4 column 5",
        ),
        (
            format!("{route}    allow:\n      user: [a]\n"),
            "{dir}/scrapegate.yml: routes[0].allow: unknown field `user`, expected one of `users`, `tokens`, `client_sans`, `methods` at line 5 column 7",
        ),
        // Missing required fields and wrong types.
        (
            "routes:\n  - prefix: /node\n".into(),
            "{dir}/scrapegate.yml: routes[0]: missing field `upstream` at line 2 column 5",
        ),
        (
            "bearer_tokens:\n  - sha256: abc\n".into(),
            "{dir}/scrapegate.yml: bearer_tokens[0]: missing field `name` at line 2 column 5",
        ),
        (
            "routes: {prefix: /}\n".into(),
            "{dir}/scrapegate.yml: routes: invalid type: map, expected a sequence at line 1 column 9",
        ),
        // Not a mapping, not YAML, not one document.
        (
            "- prefix: /\n".into(),
            "{dir}/scrapegate.yml: the document must be a mapping (with bearer_tokens and routes), not a sequence",
        ),
        (
            "routes\n".into(),
            "{dir}/scrapegate.yml: the document must be a mapping (with bearer_tokens and routes), not a string",
        ),
        (
            "routes: [\n".into(),
            "{dir}/scrapegate.yml: did not find expected node content at line 2 column 1, while parsing a flow node",
        ),
        (
            "routes: []\nroutes: []\n".into(),
            "{dir}/scrapegate.yml: duplicate entry with key \"routes\"",
        ),
        (
            "routes:\n  - prefix: /a\n    upstream: http://h:1\n    prefix: /b\n".into(),
            "{dir}/scrapegate.yml: routes[0]: duplicate entry with key \"prefix\" at line 2 column 5",
        ),
        (
            "routes: []\n---\nroutes: []\n".into(),
            "{dir}/scrapegate.yml: deserializing from YAML containing more than one document is not supported",
        ),
        // Tokens.
        (
            "bearer_tokens:\n  - name: a\n".into(),
            "{dir}/scrapegate.yml: bearer_tokens[0] (name a): neither sha256 nor token_file is given; give exactly one",
        ),
        (
            format!(
                "bearer_tokens:\n  - name: a\n    sha256: {good}\n    token_file: tokens/good\n"
            ),
            "{dir}/scrapegate.yml: bearer_tokens[0] (name a): both sha256 and token_file are given; give exactly one",
        ),
        (
            "bearer_tokens:\n  - name: a\n    sha256: 5e884898da28\n".into(),
            "{dir}/scrapegate.yml: bearer_tokens[0] (name a): sha256: must be 64 hex digits (the SHA-256 of the token), not 12 characters",
        ),
        (
            format!(
                "bearer_tokens:\n  - name: a\n    sha256: {}g\n",
                &good[..63]
            ),
            "{dir}/scrapegate.yml: bearer_tokens[0] (name a): sha256: must be 64 hex digits; character 64 is not one",
        ),
        (
            format!("bearer_tokens:\n  - name: ''\n    sha256: {good}\n"),
            "{dir}/scrapegate.yml: bearer_tokens[0]: name: must not be empty",
        ),
        (
            format!(
                "bearer_tokens:\n  - name: a\n    sha256: {good}\n  - name: a\n    sha256: {}\n",
                hex(sha256("another-token-0123456789"))
            ),
            "{dir}/scrapegate.yml: bearer_tokens[1] (name a): name: a is given twice (also bearer_tokens[0])",
        ),
        (
            format!(
                "bearer_tokens:\n  - name: a\n    sha256: {good}\n  - name: b\n    token_file: tokens/good\n"
            ),
            "{dir}/scrapegate.yml: bearer_tokens[1] (name b): the same token as bearer_tokens[0] (name a)",
        ),
        (
            "bearer_tokens:\n  - name: a\n    token_file: tokens/missing\n".into(),
            "{dir}/scrapegate.yml: bearer_tokens[0] (name a): token_file: open {dir}/tokens/missing: no such file or directory",
        ),
        (
            "bearer_tokens:\n  - name: a\n    token_file: tokens\n".into(),
            "{dir}/scrapegate.yml: bearer_tokens[0] (name a): token_file: read {dir}/tokens: is a directory",
        ),
        (
            "bearer_tokens:\n  - name: a\n    token_file: tokens/empty\n".into(),
            "{dir}/scrapegate.yml: bearer_tokens[0] (name a): token_file: {dir}/tokens/empty is empty",
        ),
        (
            "bearer_tokens:\n  - name: a\n    token_file: tokens/short\n".into(),
            "{dir}/scrapegate.yml: bearer_tokens[0] (name a): token_file: the token in {dir}/tokens/short is 11 bytes; tokens must be at least 16 bytes (tokens are high-entropy)",
        ),
        (
            "bearer_tokens:\n  - name: a\n    token_file: ''\n".into(),
            "{dir}/scrapegate.yml: bearer_tokens[0] (name a): token_file: must not be empty",
        ),
        // Prefixes.
        (
            "routes:\n  - prefix: node\n    upstream: http://h:1\n".into(),
            "{dir}/scrapegate.yml: routes[0] (prefix node): prefix: must start with '/'",
        ),
        (
            format!("{route}  - prefix: /node/\n    upstream: http://h:1\n"),
            "{dir}/scrapegate.yml: routes[1] (prefix /node/): prefix: /node is given twice (also routes[0] (prefix /node))",
        ),
        (
            "routes:\n  - prefix: /a/../b\n    upstream: http://h:1\n".into(),
            "{dir}/scrapegate.yml: routes[0] (prefix /a/../b): prefix: /a/../b is not normalised (it has a '.' or '..' segment)",
        ),
        (
            "routes:\n  - prefix: /a?x=1\n    upstream: http://h:1\n".into(),
            "{dir}/scrapegate.yml: routes[0] (prefix /a?x=1): prefix: /a?x=1 has a query ('?'); give the path only",
        ),
        // Upstreams.
        (
            "routes:\n  - prefix: /a\n    upstream: 'http://h:1 x'\n".into(),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream: invalid upstream URL \"http://h:1 x\": invalid uri character",
        ),
        (
            "routes:\n  - prefix: /a\n    upstream: ftp://h:1/\n".into(),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream: upstream URL \"ftp://h:1/\": the scheme must be http:// or https://",
        ),
        (
            "routes:\n  - prefix: /a\n    upstream: 127.0.0.1:9100\n".into(),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream: upstream URL \"127.0.0.1:9100\" has no scheme",
        ),
        (
            "routes:\n  - prefix: /a\n    upstream: http://h:1/m?x=1\n".into(),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream: upstream URL \"http://h:1/m?x=1\" must not have a query",
        ),
        (
            "routes:\n  - prefix: /a\n    upstream: http://u:p@h:1/\n".into(),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream: upstream URL \"http://u:p@h:1/\" must not hold user information (user@)",
        ),
        (
            "routes:\n  - prefix: /a\n    upstream: http://h:99999/\n".into(),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream: upstream URL \"http://h:99999/\" has an invalid port",
        ),
        (
            "routes:\n  - prefix: /a\n    upstream: http://h:1/m#top\n".into(),
            "{dir}/scrapegate.yml: routes[0] (prefix /a): upstream: upstream URL \"http://h:1/m#top\" must not have a fragment",
        ),
        // allow.
        (
            format!("{route}    allow: {{}}\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow is present but empty (leave it out to admit anyone web.yml authenticates)",
        ),
        (
            format!("{route}    allow:\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow is present but empty (leave it out to admit anyone web.yml authenticates)",
        ),
        (
            format!("{route}    allow:\n      users: []\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow.users: present but empty (an empty list admits no one; leave it out instead)",
        ),
        (
            format!("{route}    allow:\n      users: [a]\n      tokens:\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow.tokens: present but empty (an empty list admits no one; leave it out instead)",
        ),
        (
            format!("{route}    allow:\n      client_sans: []\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow.client_sans: present but empty (an empty list admits no one; leave it out instead)",
        ),
        (
            format!("{route}    allow:\n      methods: []\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow.methods: present but empty (an empty list admits no one; leave it out instead)",
        ),
        (
            format!("{route}    allow:\n      methods: [GET, get]\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow.methods: \"get\" is not an HTTP method: methods are upper case (GET)",
        ),
        (
            format!("{route}    allow:\n      methods: [FETCH]\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow.methods: \"FETCH\" is not a standard HTTP method (one of GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE, CONNECT)",
        ),
        (
            format!("{route}    allow:\n      methods: [GET, GET]\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow.methods: \"GET\" is listed twice",
        ),
        (
            format!("{route}    allow:\n      users: [bob, alice, bob]\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow.users: \"bob\" is listed twice",
        ),
        (
            format!("{route}    allow:\n      client_sans: [a, '']\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow.client_sans: an entry is empty",
        ),
        (
            format!(
                "bearer_tokens:\n  - name: grafana\n    sha256: {good}\n{route}    allow:\n      tokens: [grafana, prometheus]\n"
            ),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): allow.tokens: \"prometheus\" is not a name in bearer_tokens",
        ),
        // anonymous.
        (
            format!("{route}    anonymous: [/prom/-/healthy]\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): anonymous: \"/prom/-/healthy\" does not start with the route's prefix /node, so it could never match",
        ),
        (
            format!("{route}    anonymous: [/nodes/x]\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): anonymous: \"/nodes/x\" does not start with the route's prefix /node, so it could never match",
        ),
        (
            format!("{route}    anonymous: [/node/-/../metrics]\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): anonymous: \"/node/-/../metrics\" is not normalised (it has a '.' or '..' segment)",
        ),
        (
            format!("{route}    anonymous: [/node/./healthy]\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): anonymous: \"/node/./healthy\" is not normalised (it has a '.' or '..' segment)",
        ),
        (
            format!("{route}    anonymous: [/node//healthy]\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): anonymous: \"/node//healthy\" is not normalised (it has '//')",
        ),
        (
            format!("{route}    anonymous: ['/node/healthy?x=1']\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): anonymous: \"/node/healthy?x=1\" has a query ('?'); give the path only",
        ),
        (
            format!("{route}    anonymous: ['/node/healthy#x']\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): anonymous: \"/node/healthy#x\" has a fragment ('#')",
        ),
        (
            format!("{route}    anonymous: [/node/%2E%2e/metrics]\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): anonymous: \"/node/%2E%2e/metrics\" is not normalised (it has a percent-encoded dot, %2e)",
        ),
        (
            format!("{route}    anonymous: ['/node/a b']\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): anonymous: \"/node/a b\" has characters a request path cannot carry (percent-encode them)",
        ),
        (
            format!("{route}    anonymous: [/node/h, /node/h]\n"),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): anonymous: \"/node/h\" is listed twice",
        ),
        (
            format!(
                "{route}    anonymous: [/node/deep/h]\n  - prefix: /node/deep\n    upstream: http://h:1\n"
            ),
            "{dir}/scrapegate.yml: routes[0] (prefix /node): anonymous: \"/node/deep/h\" is routed to routes[1] (prefix /node/deep) (a longer prefix), so it could never match here",
        ),
    ];
    let mut failures = Vec::new();
    for (yaml, want) in &cases {
        let got = error(&fx, yaml);
        assert!(!got.contains('\n'), "one line: {got}");
        if got != *want {
            failures.push(format!("{yaml}\n  want: {want}\n  got:  {got}\n"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn missing_or_unreadable_policy_file() {
    let fx = fixtures::build();
    let e = load_policy(&fx.file("nope.yml")).unwrap_err().to_string();
    assert_eq!(
        e,
        fx.expand("open {dir}/nope.yml: no such file or directory")
    );
    let e = load_policy(fx.path()).unwrap_err().to_string();
    assert_eq!(e, fx.expand("read {dir}: is a directory"));
}

#[test]
fn a_relative_policy_path_is_named_as_given() {
    // The file is named as the operator gave it; token paths are joined Go-style.
    let e = load_policy(Path::new("no/such/scrapegate.yml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "open no/such/scrapegate.yml: no such file or directory"
    );
}

#[test]
fn referenced_files_follow_the_file_while_it_is_broken() {
    let fx = fixtures::build();
    let policy = fx.file("scrapegate.yml");
    // Parses, but the tokens are wrong (a missing file, a bad digest): the token files are
    // still watched, each once.
    fx.write(
        "scrapegate.yml",
        "bearer_tokens:
  - name: a
    token_file: tokens/a
  - name: b
    sha256: nope
  - name: c
    token_file: ./tokens/a
  - name: d
    token_file: /etc/scrapegate/d
",
    );
    assert_eq!(
        referenced_policy_files(&policy),
        vec![
            policy.clone(),
            fx.file("tokens/a"),
            PathBuf::from("/etc/scrapegate/d")
        ]
    );
    // Does not parse: the file alone.
    fx.write("scrapegate.yml", "bearer_tokens: [\n");
    assert_eq!(referenced_policy_files(&policy), vec![policy.clone()]);
    // Missing: the file alone.
    assert_eq!(
        referenced_policy_files(&fx.file("nope.yml")),
        vec![fx.file("nope.yml")]
    );
}

const PAIR: &str = "routes:
  - prefix: /node
    upstream: http://127.0.0.1:9101/
    allow:
      users: [prometheus, bob]
  - prefix: /open
    upstream: http://127.0.0.1:9102/
";

/// The pair rules alone, as `scrapegate_config::pair` runs them.
fn check_pair(
    policy: &Policy,
    web: Option<&ValidatedConfig>,
) -> Result<(), scrapegate_config::ConfigError> {
    pair(web.cloned(), Some(policy.clone())).map(|_| ())
}

#[test]
fn check_pair_accepts_users_web_yml_has() {
    let fx = fixtures::build();
    let policy = load(&fx, PAIR).unwrap();
    check_pair(&policy, Some(&web(&["alice", "bob", "prometheus"]))).unwrap();
}

#[test]
fn check_pair_refuses_a_user_web_yml_lacks() {
    let fx = fixtures::build();
    let policy = load(&fx, PAIR).unwrap();
    let e = check_pair(&policy, Some(&web(&["prometheus"]))).unwrap_err();
    assert_eq!(
        fx.expand("{dir}/scrapegate.yml: routes[0] (prefix /node): allow.users: \"bob\" is not a user in web.yml basic_auth_users"),
        e.to_string()
    );
}

#[test]
fn check_pair_refuses_users_when_web_yml_has_none() {
    let fx = fixtures::build();
    let policy = load(&fx, PAIR).unwrap();
    let e = check_pair(&policy, Some(&web(&[]))).unwrap_err();
    assert_eq!(
        fx.expand("{dir}/scrapegate.yml: routes[0] (prefix /node): allow.users: \"prometheus\" is not a user in web.yml basic_auth_users (it has none)"),
        e.to_string()
    );
    let e = check_pair(&policy, None).unwrap_err();
    assert_eq!(
        fx.expand("{dir}/scrapegate.yml: routes[0] (prefix /node): allow.users: \"prometheus\" names a web.yml user, but no web.yml is given (--web.config.file)"),
        e.to_string()
    );
}

#[test]
fn check_pair_without_user_rules_needs_no_web_yml() {
    let fx = fixtures::build();
    let good = hex(sha256(TOKEN));
    let policy = load(
        &fx,
        &format!(
            "bearer_tokens:\n  - name: t\n    sha256: {good}\nroutes:\n  - prefix: /a\n    \
             upstream: http://h:1\n    allow: {{tokens: [t], client_sans: [x], methods: [GET]}}\n"
        ),
    )
    .unwrap();
    check_pair(&policy, None).unwrap();
    check_pair(&policy, Some(&web(&[]))).unwrap();
    check_pair(&load(&fx, "").unwrap(), None).unwrap();
}

/// `config/scrapegate.yml` loads, pairs with the users of `config/web-tls-users.yml`, and its
/// documented example tokens are the ones whose digests it holds.
#[test]
fn example_policy_loads_and_pairs_with_the_example_web_yml() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let policy = load_policy(&config.join("scrapegate.yml")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = policy.tokens.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["grafana", "admin"]);
    assert_eq!(
        policy.tokens[0].sha256,
        sha256("grafana-example-token-0123456789")
    );
    assert_eq!(
        policy.tokens[1].sha256,
        sha256("admin-example-token-0123456789ab")
    );
    let prefixes: Vec<&str> = policy.routes.iter().map(|r| r.prefix.as_str()).collect();
    assert_eq!(
        prefixes,
        ["/node", "/prom", "/prom/api/v1/admin", "/prom/-"]
    );
    assert_eq!(
        policy.routes[3].anonymous,
        vec!["/prom/-/healthy", "/prom/-/ready"]
    );

    // The users of web-tls-users.yml (its certificates are generated, so read only the users).
    let web_yml = config.join("web-tls-users.yml");
    let raw = decode_web_yml(&std::fs::read(&web_yml).unwrap()).unwrap();
    let raw_users = raw.users.expect("basic_auth_users");
    let list: Vec<(&str, &str)> = raw_users
        .iter()
        .map(|(n, h)| (n.as_str(), h.as_str()))
        .collect();
    let web = ValidatedConfig {
        path: web_yml.clone(),
        users: users(&list),
        ..web(&[])
    };
    check_pair(&policy, Some(&web)).unwrap();
    // And the pair is refused without those users.
    assert!(check_pair(&policy, Some(&web_without_users(&web_yml))).is_err());
}

fn web_without_users(path: &Path) -> ValidatedConfig {
    ValidatedConfig {
        path: path.to_path_buf(),
        ..web(&[])
    }
}
