//! The rules that need both files, run on each new generation of the pair, so an edit of
//! either file that breaks the pair (web.yml dropping a user a route names, or its client CA
//! changing under a CRL) is refused: every `allow.users` entry must be a user of web.yml's
//! `basic_auth_users`, and every client CRL must be signed by a client CA of a mode that
//! verifies certificates. The CRLs then join web.yml's TLS settings, so the TLS plan sees
//! them like any other setting.

use scrapegate_model::{ConfigSet, Policy, ValidatedConfig};

use super::{At, Problem, crl, display};
use crate::ConfigError;

/// Checks a loaded policy against the web.yml it is served with (`None`: no web.yml, so no
/// users and no TLS) and joins them into one set. The error names both files and what
/// breaks the pair, e.g.
/// `scrapegate.yml: routes[0] (prefix /node): allow.users: "bob" is not a user in web.yml basic_auth_users`.
pub fn pair(
    web: Option<ValidatedConfig>,
    policy: Option<Policy>,
) -> Result<ConfigSet, ConfigError> {
    let Some(policy) = policy else {
        return Ok(ConfigSet { web, policy: None });
    };
    check_users(&policy, web.as_ref())?;
    crl::check_against(
        &policy.client_crls,
        web.as_ref().and_then(|w| w.tls.as_ref()),
    )
    .map_err(|e| ConfigError::new(format!("{}: {e}", display(&policy.path))))?;
    let mut web = web;
    if let Some(tls) = web.as_mut().and_then(|w| w.tls.as_mut()) {
        tls.client_crls = policy.client_crls.clone();
    }
    Ok(ConfigSet {
        web,
        policy: Some(policy),
    })
}

fn check_users(policy: &Policy, web: Option<&ValidatedConfig>) -> Result<(), ConfigError> {
    for (i, route) in policy.routes.iter().enumerate() {
        let Some(users) = route.allow.as_ref().and_then(|a| a.users.as_ref()) else {
            continue;
        };
        let at = At::Route(i, &route.prefix);
        for user in users {
            let problem = match web {
                None => format!(
                    "{user:?} names a web.yml user, but no web.yml is given (--web.config.file)"
                ),
                Some(web) if web.users.iter().any(|u| u.name == *user) => continue,
                Some(web) if web.users.is_empty() => format!(
                    "{user:?} is not a user in {} basic_auth_users (it has none)",
                    display(&web.path)
                ),
                Some(web) => format!(
                    "{user:?} is not a user in {} basic_auth_users",
                    display(&web.path)
                ),
            };
            return Err(Problem::field(at, "allow.users", problem).in_file(&display(&policy.path)));
        }
    }
    Ok(())
}
