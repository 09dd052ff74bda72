//! `scrapegate check scrape-config prometheus.yml --web.config.file=web.yml
//! [--config.file=scrapegate.yml] [--target=HOST:PORT]`: would the gateway configured by
//! these files let each scrape job in? Checked statically, without a connection.
//!
//! web.yml and scrapegate.yml are loaded and paired exactly as `check config` and the server
//! do; the jobs come from the config crate ([`scrapegate_config::load_scrape_jobs`]). For each
//! job (or each job with `--target` among its static targets), in the order the gateway
//! decides a request:
//!
//! 1. what Prometheus itself refuses in the job's HTTP client settings;
//! 2. the scheme: `https` when web.yml enables TLS, `http` when it does not;
//! 3. with TLS: unless `insecure_skip_verify`, the served chain against the job's `ca` /
//!    `ca_file` (else the system roots) for `server_name`, else each target's host; the
//!    job's client certificate and key (they must belong together) against
//!    `client_auth_type`, `client_ca_file` and `client_allowed_sans`, by the TLS crate's own
//!    verifier;
//! 4. the route `metrics_path` resolves to (the server's own routing table; without
//!    `routes:` a default route `/` that admits anyone authenticated);
//! 5. authentication as the gate does it: an anonymous path needs nothing; a Bearer
//!    `authorization` is looked up among `bearer_tokens`; otherwise `basic_auth` against
//!    web.yml's users (one bcrypt per job); credentials are needed when users or tokens are
//!    configured;
//! 6. the route's `allow` rule for the identity (user, token name, verified client SANs) and
//!    method `GET`.
//!
//! Output is promtool-style on stderr: `job "node": SUCCESS` or `job "node" FAILED: <reason>;
//! <reason>`; exit 1 if any job fails or a file does not load (`<file> FAILED: <error>`).

use std::path::Path;
use std::process::ExitCode;

use http::Method;
use scrapegate_auth::BearerTokens;
use scrapegate_config::{
    Material, ScrapeCredentials, ScrapeJob, TlsSettings, User, ValidatedConfig,
};
use scrapegate_model::{Allow, ConfigSet, Identity};
use scrapegate_server::Routes;

/// The gateway the two files describe, as far as admission goes.
struct Gateway<'a> {
    tls: Option<&'a TlsSettings>,
    users: &'a [User],
    tokens: BearerTokens,
    /// `None`: no `routes:` (the default route `/`, anyone authenticated).
    routes: Option<Routes>,
}

/// Runs the check; see the module documentation.
pub fn run(
    prometheus_yml: &Path,
    web_config_file: Option<&Path>,
    config_file: Option<&Path>,
    target: Option<&str>,
) -> ExitCode {
    let web = match web_config_file.map(|w| (w, scrapegate_config::load(w))) {
        None => None,
        Some((_, Ok(web))) => Some(web),
        Some((w, Err(e))) => return failed(w, &e.to_string()),
    };
    let policy = match config_file.map(|f| (f, scrapegate_config::load_policy(f))) {
        None => None,
        Some((_, Ok(policy))) => Some(policy),
        Some((file, Err(e))) => return failed(file, &e.to_string()),
    };
    // Paired as the gateway pairs them: client CRLs join web.yml's TLS settings.
    let ConfigSet { web, policy } = match scrapegate_config::pair(web, policy) {
        Ok(set) => set,
        Err(e) => return failed(config_file.unwrap_or(prometheus_yml), &e.to_string()),
    };
    if let (Some(w), Some(tls)) = (web_config_file, web.as_ref().and_then(|w| w.tls.as_ref())) {
        let http2 = web.as_ref().is_some_and(|w| w.http2);
        if let Err(e) = scrapegate_tls::plan(tls, http2) {
            return failed(w, &format!("the server would refuse to start: {e}"));
        }
    }
    let jobs = match scrapegate_config::load_scrape_jobs(prometheus_yml) {
        Ok(jobs) => jobs,
        Err(e) => return failed(prometheus_yml, &e.to_string()),
    };
    let jobs: Vec<&ScrapeJob> = jobs
        .iter()
        .filter(|j| target.is_none_or(|t| j.targets.iter().any(|x| x == t)))
        .collect();
    if jobs.is_empty() {
        let why = match target {
            Some(t) => format!("no scrape job has the static target {t:?}"),
            None => "no scrape_configs".into(),
        };
        return failed(prometheus_yml, &why);
    }

    let gateway = Gateway {
        tls: web.as_ref().and_then(|w| w.tls.as_ref()),
        users: web.as_ref().map_or(&[], |w: &ValidatedConfig| &w.users),
        tokens: BearerTokens::new(policy.as_ref().map_or(&[], |p| &p.tokens)),
        routes: policy
            .as_ref()
            .filter(|p| !p.routes.is_empty())
            .map(|p| Routes::from_rules(&p.routes)),
    };
    let mut all_ok = true;
    for job in jobs {
        let reasons = check_job(&gateway, job, target);
        if reasons.is_empty() {
            eprintln!("job {:?}: SUCCESS", job.job_name);
        } else {
            all_ok = false;
            eprintln!("job {:?} FAILED: {}", job.job_name, reasons.join("; "));
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `<file> FAILED: <reason>` (a leading `<file>: ` of the reason dropped), exit 1.
fn failed(file: &Path, error: &str) -> ExitCode {
    let shown = file.display().to_string();
    let reason = error
        .strip_prefix(shown.as_str())
        .and_then(|r| r.strip_prefix(": "))
        .unwrap_or(error);
    eprintln!("{shown} FAILED: {reason}");
    ExitCode::FAILURE
}

/// Every reason the gateway would refuse `job`; empty when it would be let in.
fn check_job(gw: &Gateway<'_>, job: &ScrapeJob, target: Option<&str>) -> Vec<String> {
    let mut reasons = job.problems.clone();
    match (job.scheme.as_str(), gw.tls.is_some()) {
        ("https", true) | ("http", false) => {}
        ("http", true) => {
            reasons.push("scheme is http, but the gateway serves TLS (set scheme: https)".into())
        }
        ("https", false) => reasons
            .push("scheme is https, but the gateway serves plain HTTP (no TLS in web.yml)".into()),
        (other, _) => reasons.push(format!("scheme {other:?} is neither http nor https")),
    }
    // `None`: the handshake refuses the client certificate, so no identity can be judged.
    let mut client_sans = Some(Vec::new());
    if let Some(tls) = gw.tls {
        check_served_certificate(tls, job, target, &mut reasons);
        client_sans = check_client_certificate(tls, job, &mut reasons);
    }

    // The route, as the server resolves it. Without `routes:` the default route `/` has no
    // rule and no anonymous path (`None` here, as for a path no route serves).
    let path = job.metrics_path.as_str();
    let route = gw.routes.as_ref().and_then(|routes| {
        let found = routes.resolve(path).map(|(route, _)| route);
        if found.is_none() {
            reasons.push(format!(
                "no route of scrapegate.yml serves metrics_path {path} (404 Not Found)"
            ));
        }
        found
    });
    let anonymous = route.is_some_and(|r| r.is_anonymous(path));

    let who = if anonymous {
        Some(Who::default())
    } else {
        authenticate(gw, &job.credentials, &mut reasons)
    };
    // Like the gate: 401 before 403; the method rule applies to anonymous paths too.
    if let (Some(route), Some(who), Some(client_sans)) = (route, who, client_sans) {
        if let Some(allow) = &route.allow {
            check_allow(
                allow,
                &route.prefix,
                &who,
                &client_sans,
                anonymous,
                &mut reasons,
            );
        }
    }
    reasons
}

/// Who the gate authenticated: a user or a token name (neither when no credentials are
/// needed or the path is anonymous).
#[derive(Default)]
struct Who {
    user: Option<String>,
    token: Option<String>,
}

/// The authenticate stage: `Some(who)` when the job gets past it, else the reason is pushed.
fn authenticate(
    gw: &Gateway<'_>,
    credentials: &ScrapeCredentials,
    reasons: &mut Vec<String>,
) -> Option<Who> {
    let bearer_configured = !gw.tokens.is_empty();
    let users_configured = !gw.users.is_empty();
    let accepted = match (users_configured, bearer_configured) {
        (true, true) => "basic_auth or a Bearer token",
        (true, false) => "basic_auth",
        (false, true) => "a Bearer token (authorization)",
        (false, false) => return Some(Who::default()),
    };
    let mut refuse = |why: String| {
        reasons.push(format!("{why} (401 Unauthorized)"));
        None
    };
    match credentials {
        ScrapeCredentials::Authorization { kind, credentials }
            if bearer_configured && kind.eq_ignore_ascii_case("bearer") =>
        {
            let token = match credentials.as_ref().map(Material::secret) {
                None => return refuse("authorization has no credentials".into()),
                Some(Err(e)) => return refuse(format!("authorization credentials_file: {e}")),
                Some(Ok(token)) => token,
            };
            if token.trim_ascii().is_empty() {
                return refuse("the authorization credentials are empty".into());
            }
            match gw.tokens.verify(token.trim_ascii()) {
                Some(name) => Some(Who {
                    token: Some(name.to_owned()),
                    ..Who::default()
                }),
                None => refuse(
                    "the authorization credentials match no bearer_tokens entry of \
                     scrapegate.yml"
                        .into(),
                ),
            }
        }
        ScrapeCredentials::Basic { username, password } if users_configured => {
            let username = match username.secret() {
                Ok(name) => name,
                Err(e) => return refuse(format!("basic_auth username_file: {e}")),
            };
            let password = match password.as_ref().map(Material::secret) {
                None => Vec::new(),
                Some(Ok(password)) => password,
                Some(Err(e)) => return refuse(format!("basic_auth password_file: {e}")),
            };
            let shown = String::from_utf8_lossy(&username).into_owned();
            if username.contains(&b':') {
                return refuse(format!(
                    "basic_auth username {shown:?} contains ':', which Basic authentication \
                     cannot carry"
                ));
            }
            let Some(user) = gw.users.iter().find(|u| u.name.as_bytes() == username) else {
                return refuse(format!(
                    "basic_auth user {shown:?} is not in web.yml's basic_auth_users"
                ));
            };
            if scrapegate_auth::go_compare(&user.hash, &password) {
                Some(Who {
                    user: Some(user.name.clone()),
                    ..Who::default()
                })
            } else {
                refuse(format!(
                    "the basic_auth password of user {shown:?} does not match its bcrypt hash \
                     in web.yml"
                ))
            }
        }
        ScrapeCredentials::Basic { .. } => refuse(format!(
            "the job sends basic_auth, but web.yml has no basic_auth_users: the gateway \
             accepts {accepted}"
        )),
        ScrapeCredentials::Authorization { kind, .. } if kind.eq_ignore_ascii_case("bearer") => {
            refuse(format!(
                "the job sends a Bearer token, but scrapegate.yml configures no bearer_tokens: \
                 the gateway accepts {accepted}"
            ))
        }
        ScrapeCredentials::Authorization { kind, .. } => refuse(format!(
            "authorization type {kind:?} is not accepted: the gateway accepts {accepted}"
        )),
        ScrapeCredentials::OAuth2 => refuse(format!(
            "oauth2 tokens cannot be checked statically: the gateway accepts {accepted}"
        )),
        ScrapeCredentials::None => refuse(format!(
            "no credentials, but the gateway requires {accepted}"
        )),
    }
}

/// The authorize stage: `allow.methods` for GET, then the identity lists.
fn check_allow(
    allow: &Allow,
    prefix: &str,
    who: &Who,
    client_sans: &[String],
    anonymous: bool,
    reasons: &mut Vec<String>,
) {
    if !allow.admits_method(&Method::GET) {
        reasons.push(format!(
            "route {prefix} does not allow GET (405 Method Not Allowed)"
        ));
    }
    if anonymous {
        return;
    }
    let identity = Identity {
        user: who.user.as_deref(),
        token: who.token.as_deref(),
        client_sans,
    };
    if !allow.admits(identity) {
        let mut parts = Vec::new();
        if let Some(user) = &who.user {
            parts.push(format!("user {user:?}"));
        }
        if let Some(token) = &who.token {
            parts.push(format!("token {token:?}"));
        }
        if !client_sans.is_empty() {
            parts.push(format!("client SANs {}", client_sans.join(", ")));
        }
        let identity = if parts.is_empty() {
            "a request without identity".to_owned()
        } else {
            parts.join(" with ")
        };
        reasons.push(format!(
            "the allow rule of route {prefix} does not admit {identity} (403 Forbidden)"
        ));
    }
}

/// The served chain against the job's roots, for each name Prometheus would check.
fn check_served_certificate(
    tls: &TlsSettings,
    job: &ScrapeJob,
    target: Option<&str>,
    reasons: &mut Vec<String>,
) {
    if job.tls.insecure_skip_verify {
        return;
    }
    let (roots, against) = match job.tls.ca_certificates() {
        None => (None, "the system roots".to_owned()),
        Some(Ok(roots)) => (Some(roots), format!("CA {}", ca_origin(job))),
        Some(Err(e)) => {
            reasons.push(format!("tls_config: {e}"));
            return;
        }
    };
    let names: Vec<Option<String>> = match &job.tls.server_name {
        Some(name) => vec![Some(name.clone())],
        None => {
            let mut hosts: Vec<Option<String>> = Vec::new();
            for t in job
                .targets
                .iter()
                .filter(|t| target.is_none_or(|x| x == *t))
            {
                let host = Some(target_host(t).to_owned());
                if !hosts.contains(&host) {
                    hosts.push(host);
                }
            }
            if hosts.is_empty() {
                // No static target (service discovery): the chain alone.
                hosts.push(None);
            }
            hosts
        }
    };
    let chain = tls.certificate.chain();
    for name in names {
        if let Err(e) =
            scrapegate_tls::verify_server_certificate(chain, roots.as_deref(), name.as_deref())
        {
            let for_name = name.map(|n| format!(" for {n:?}")).unwrap_or_default();
            reasons.push(format!(
                "the served certificate does not verify against {against}{for_name}: {e}"
            ));
        }
    }
}

fn ca_origin(job: &ScrapeJob) -> String {
    job.tls.ca.as_ref().map_or_else(String::new, |ca| match ca {
        Material::Inline(_) => "(inline ca)".into(),
        Material::File(_) => ca.origin(),
    })
}

/// The client certificate as the handshake would judge it: the SANs the allow rule may use
/// (those of a verified certificate only), or `None` when the handshake fails.
fn check_client_certificate(
    tls: &TlsSettings,
    job: &ScrapeJob,
    reasons: &mut Vec<String>,
) -> Option<Vec<String>> {
    if !tls.client_auth.requests_cert() {
        return Some(Vec::new());
    }
    let loaded = match job.tls.client_certificate() {
        None => None,
        Some(Ok(cert)) => Some(cert),
        Some(Err(e)) => {
            reasons.push(format!("tls_config: {e}"));
            return None;
        }
    };
    let chain = loaded.as_ref().map_or(&[][..], |c| c.chain());
    match scrapegate_tls::verify_client_certificate(tls, chain) {
        Ok(Some(identity)) if identity.verified => Some(identity.sans),
        Ok(_) => Some(Vec::new()),
        Err(e) => {
            reasons.push(format!("{e} (TLS handshake refused)"));
            None
        }
    }
}

/// The host of a `host:port` target (`[v6]:port` unbracketed); the whole target without a
/// port.
fn target_host(target: &str) -> &str {
    if let Some(rest) = target.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(host, _)| host);
    }
    match target.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => target,
    }
}

#[cfg(test)]
mod tests {
    use super::target_host;

    #[test]
    fn hosts_of_targets() {
        assert_eq!(target_host("localhost:9443"), "localhost");
        assert_eq!(target_host("127.0.0.1:1"), "127.0.0.1");
        assert_eq!(target_host("[::1]:9443"), "::1");
        assert_eq!(target_host("node.example"), "node.example");
    }
}
