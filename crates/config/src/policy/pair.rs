//! The rules that need both files: every `allow.users` entry must be a user of the paired
//! web.yml's `basic_auth_users`. Run on each new generation of the pair, so an edit of either
//! file that breaks the pair (web.yml dropping a user a route names) is refused.

use scrapegate_model::{Policy, ValidatedConfig};

use super::{At, Problem, display};
use crate::ConfigError;

/// Checks a loaded policy against the web.yml it is served with (`None`: no web.yml, so no
/// users). The error names both files, the route and the user, e.g.
/// `scrapegate.yml: routes[0] (prefix /node): allow.users: "bob" is not a user in web.yml basic_auth_users`.
pub fn check_pair(policy: &Policy, web: Option<&ValidatedConfig>) -> Result<(), ConfigError> {
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
