//! What the stages learn about a request: how authentication ended and who asked. Later
//! stages decide on it (`authorize`), and the access log and the metrics report it.

/// How a request's authentication and authorization ended, as the access log words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum AuthResult {
    /// Valid credentials, or none needed (no users or tokens configured).
    #[default]
    Ok,
    /// An anonymous path: no credentials asked for.
    Anonymous,
    /// No credentials, or a header that does not decode.
    Missing,
    /// A configured user with the wrong password.
    BadPassword,
    /// A user web.yml does not have.
    UnknownUser,
    /// A bearer token matching no configured token.
    BadToken,
    /// Authenticated, but the route's `allow` rule does not admit the identity (403).
    Forbidden,
    /// The method is not in the route's `allow.methods` (405).
    Method,
    /// The per-source failure limiter refused the source (429).
    Limited,
    /// The global web.yml `rate_limit` refused the request (429).
    RateLimited,
    /// The bcrypt queue was full (503).
    Busy,
}

impl AuthResult {
    /// The access log's word.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Anonymous => "anonymous",
            Self::Missing => "missing",
            Self::BadPassword => "bad_password",
            Self::UnknownUser => "unknown_user",
            Self::BadToken => "bad_token",
            Self::Forbidden => "forbidden",
            Self::Method => "method",
            Self::Limited => "limited",
            Self::RateLimited => "rate_limited",
            Self::Busy => "busy",
        }
    }
}

/// Which kind of credential decided (the `kind` label of `scrapegate_auth_decisions_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthKind {
    Basic,
    Bearer,
    Anonymous,
}

impl AuthKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Bearer => "bearer",
            Self::Anonymous => "anonymous",
        }
    }
}

/// What the stages found out about one request.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// How it ended.
    pub(crate) result: AuthResult,
    /// The kind of credential that decided, once one did.
    pub(crate) kind: Option<AuthKind>,
    /// The web.yml user it authenticated (or claimed to be, when refused) as. Recorded only
    /// when a rule or the access log needs it.
    pub(crate) user: Option<String>,
    /// The bearer token's name.
    pub(crate) token: Option<String>,
    /// Record the user name even when no rule needs it (the access log is on).
    pub(crate) wants_identity: bool,
    /// The route's label, recorded for the access log.
    pub(crate) route: Option<std::sync::Arc<str>>,
}
