//! scrapegate.yml's rules at the gate, with real clients: bearer tokens beside basic auth,
//! 401 vs 403 vs 405, anonymous paths, admission by a verified client certificate's SAN,
//! reloads of the pair, and the route conflict with the flags.

use http::{Method, StatusCode};
use scrapegate_config::ClientAuth;
use scrapegate_model::{
    Allow, BearerToken, ConfigSet, Policy, RouteRule, UpstreamTransport, UpstreamUrl,
};
use scrapegate_server::{Gateway, GatewayError, Routes, ServerOptions, listener};
use scrapegate_testkit::pki::{Eku, dns};
use sha2::{Digest, Sha256};

use crate::support::*;

const PROMETHEUS_TOKEN: &str = "prometheus-token-0123456789abcdef";
const GRAFANA_TOKEN: &str = "grafana-token-0123456789abcdef";

fn token(name: &str, secret: &str) -> BearerToken {
    BearerToken {
        name: name.into(),
        sha256: Sha256::digest(secret.as_bytes()).into(),
    }
}

fn route(prefix: &str, upstream: &str, allow: Option<Allow>, anonymous: &[&str]) -> RouteRule {
    let upstream = UpstreamUrl::parse(upstream).unwrap();
    RouteRule {
        prefix: prefix.into(),
        transport: UpstreamTransport::of_url(&upstream),
        upstream,
        allow,
        anonymous: anonymous.iter().map(|p| (*p).to_owned()).collect(),
        coalesce: false,
    }
}

fn names(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|n| (*n).to_owned()).collect())
}

/// alice and admin in web.yml; the prometheus and grafana tokens; `/node` for alice and the
/// prometheus token with GET/HEAD only and an anonymous health path; `/admin` for admin.
fn policy_set(upstream: &str) -> ConfigSet {
    let mut web = config(None);
    web.users = users(&[("alice", &hash("alice-pw")), ("admin", &hash("admin-pw"))]);
    let node = Allow {
        users: names(&["alice"]),
        tokens: names(&["prometheus"]),
        methods: Some(vec![Method::GET, Method::HEAD]),
        ..Allow::default()
    };
    let admin = Allow {
        users: names(&["admin"]),
        ..Allow::default()
    };
    ConfigSet {
        web: Some(web),
        policy: Some(Policy {
            path: "scrapegate.yml".into(),
            tokens: vec![
                token("prometheus", PROMETHEUS_TOKEN),
                token("grafana", GRAFANA_TOKEN),
            ],
            routes: vec![
                route(
                    "/node",
                    &format!("{upstream}/"),
                    Some(node),
                    &["/node/-/healthy"],
                ),
                route("/admin", &format!("{upstream}/api/admin"), Some(admin), &[]),
            ],
            client_crls: Vec::new(),
            files: Vec::new(),
        }),
    }
}

async fn serve(set: &ConfigSet) -> (Gateway, std::net::SocketAddr) {
    let (gateway, _) = Gateway::start(set, Routes::default(), ServerOptions::default()).unwrap();
    let l = listener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    gateway.serve_proxy(l);
    (gateway, addr)
}

fn bearer(token: &str) -> [(&'static str, String); 1] {
    [("authorization", format!("Bearer {token}"))]
}

#[tokio::test]
async fn basic_and_bearer_side_by_side() {
    let up = upstream().await;
    let (gw, addr) = serve(&policy_set(&up.url())).await;
    let c = Client::plain();
    let alice = [("authorization", basic("alice", "alice-pw"))];
    let r = c.get(addr, "/node/metrics", &alice).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-upstream-path"], "/metrics");
    let r = c
        .get(addr, "/node/metrics", &bearer(PROMETHEUS_TOKEN))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // The upstream never sees either credential.
    assert!(
        up.seen()
            .iter()
            .all(|s| !s.headers.contains_key("authorization"))
    );

    for (what, headers) in [
        ("no credentials", Vec::new()),
        (
            "wrong token",
            bearer("wrong-token-0123456789abcdef").to_vec(),
        ),
        ("short token", bearer("short").to_vec()),
        (
            "wrong password",
            vec![("authorization", basic("alice", "nope"))],
        ),
        (
            "unknown user",
            vec![("authorization", basic("mallory", "x"))],
        ),
    ] {
        let r = c.get(addr, "/node/metrics", &headers).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        let challenges: Vec<_> = r.headers.get_all("www-authenticate").iter().collect();
        assert_eq!(challenges, ["Basic", "Bearer"], "{what}");
        assert_eq!(r.body, "Unauthorized\n", "{what}");
    }
    let text = gw.render_metrics();
    for series in [
        r#"scrapegate_auth_decisions_total{kind="basic",outcome="allow"} 1"#,
        r#"scrapegate_auth_decisions_total{kind="bearer",outcome="allow"} 1"#,
        r#"scrapegate_auth_decisions_total{kind="bearer",outcome="deny"} 2"#,
        r#"scrapegate_auth_decisions_total{kind="basic",outcome="deny"} 3"#,
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
}

#[tokio::test]
async fn unauthenticated_401_not_admitted_403_wrong_method_405() {
    let up = upstream().await;
    let (_gw, addr) = serve(&policy_set(&up.url())).await;
    let c = Client::plain();
    // A valid token the route does not list.
    let r = c.get(addr, "/node/metrics", &bearer(GRAFANA_TOKEN)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body, "Forbidden\n");
    // A valid user the route does not list.
    let alice = [("authorization", basic("alice", "alice-pw"))];
    assert_eq!(
        c.get(addr, "/admin/x", &alice).await.status,
        StatusCode::FORBIDDEN
    );
    let admin = [("authorization", basic("admin", "admin-pw"))];
    let r = c.get(addr, "/admin/x", &admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-upstream-path"], "/api/admin/x");
    // A method outside allow.methods, by an admitted user: 405 with Allow.
    let r = c.request(Method::POST, addr, "/node/metrics", &alice).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "GET, HEAD");
    // Without credentials the method is not revealed: 401 first.
    let r = c.request(Method::POST, addr, "/node/metrics", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // No route: 404 as before.
    assert_eq!(
        c.get(addr, "/other", &alice).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn an_anonymous_path_needs_no_credentials_its_siblings_do() {
    let up = upstream().await;
    let (_gw, addr) = serve(&policy_set(&up.url())).await;
    let c = Client::plain();
    let r = c.get(addr, "/node/-/healthy", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-upstream-path"], "/-/healthy");
    for sibling in [
        "/node/-/healthy/",
        "/node/-/healthyx",
        "/node/-/ready",
        "/node",
    ] {
        assert_eq!(
            c.get(addr, sibling, &[]).await.status,
            StatusCode::UNAUTHORIZED,
            "{sibling}"
        );
    }
    // The method rule still applies on an anonymous path.
    let r = c
        .request(Method::DELETE, addr, "/node/-/healthy", &[])
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// A route admitting by client-certificate SAN, behind RequireAndVerifyClientCert and no
/// users or tokens: the listed SAN gets in, another verified client gets 403.
#[tokio::test]
async fn client_sans_admit_a_verified_client_certificate() {
    let up = upstream().await;
    let p = pki();
    let mut settings = p.settings();
    settings.client_auth = ClientAuth::RequireAndVerifyClientCert;
    settings.client_cas = Some(vec![p.ca.cert_der.clone()]);
    let allow = Allow {
        client_sans: names(&["scraper.example"]),
        ..Allow::default()
    };
    let set = ConfigSet {
        web: Some(config(Some(settings))),
        policy: Some(Policy {
            path: "scrapegate.yml".into(),
            tokens: Vec::new(),
            routes: vec![route("/", &up.url(), Some(allow), &[])],
            client_crls: Vec::new(),
            files: Vec::new(),
        }),
    };
    let (_gw, addr) = serve(&set).await;
    let scraper = p.ca.client(
        "scraper",
        vec![dns("scraper.example")],
        vec![Eku::ClientAuth],
    );
    let other =
        p.ca.client("other", vec![dns("other.example")], vec![Eku::ClientAuth]);
    let r = p
        .client(false)
        .with_identity(&scraper)
        .get(addr, "/metrics", &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = p
        .client(false)
        .with_identity(&other)
        .get(addr, "/metrics", &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_reload_changes_tokens_and_rules_together() {
    let up = upstream().await;
    let mut set = policy_set(&up.url());
    let (gw, addr) = serve(&set).await;
    let c = Client::plain();
    let late = "late-token-0123456789abcdef";
    assert_eq!(
        c.get(addr, "/node/x", &bearer(late)).await.status,
        StatusCode::UNAUTHORIZED
    );
    if let Some(policy) = set.policy.as_mut() {
        policy.tokens.push(token("late", late));
        if let Some(allow) = policy.routes[0].allow.as_mut() {
            allow.tokens = names(&["prometheus", "late"]);
        }
    }
    let report = gw.apply_set(&set).unwrap();
    assert_eq!(report.generation, 2);
    assert_eq!(
        c.get(addr, "/node/x", &bearer(late)).await.status,
        StatusCode::OK
    );

    // Routes from both the flags and the file are refused at start-up and on reload.
    let flags = Routes::new(Some(&up.url()), &[]).unwrap();
    let err = Gateway::start(&set, flags, ServerOptions::default()).unwrap_err();
    assert!(matches!(err, GatewayError::Routes(_)), "{err}");
}
