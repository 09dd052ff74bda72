//! The toolkit's `web.Config` structs as yaml.v2 sees them: field names, Go type names for
//! messages, defaults (spec §1.3) and the zero values a null section gets.

use std::fmt;

use zeroize::Zeroizing;

use crate::ConfigError;
use crate::decode::{Decoder, Fatal, GoStruct, SeqOutcome};
use crate::yaml::tree::{Document, NodeId};
use scrapegate_model::{CipherSuite, Curve, TlsVersion};

/// `web.TLSConfig` after decoding, before validation. Paths are as written. `Debug` leaves the
/// inline key out.
#[derive(Clone, Default)]
pub struct RawTls {
    pub cert: String,
    /// Inline private key (wiped on drop).
    pub key: Zeroizing<String>,
    pub client_ca: String,
    pub cert_file: String,
    pub key_file: String,
    pub client_auth_type: String,
    pub client_ca_file: String,
    /// `None` is Go's zero suite id (a null list element); it matches no suite.
    pub cipher_suites: Vec<Option<CipherSuite>>,
    /// `None` is Go's zero curve id (a null list element).
    pub curve_preferences: Vec<Option<Curve>>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    pub prefer_server_cipher_suites: bool,
    /// `None`: nil (not set). `Some(vec![])`: an empty list.
    pub client_allowed_sans: Option<Vec<String>>,
}

/// `web.HTTPConfig`.
#[derive(Debug, Clone, Default)]
pub struct RawHttp {
    pub http2: bool,
    pub headers: Option<Vec<(String, String)>>,
}

/// `web.RateLimiterConfig`.
#[derive(Debug, Clone, Default)]
pub struct RawRateLimit {
    pub burst: i64,
    pub interval_nanos: i64,
}

/// `web.Config`. `Debug` shows user names only, never hashes or keys.
#[derive(Clone)]
pub struct RawConfig {
    pub tls: RawTls,
    pub http: RawHttp,
    pub rate_limit: RawRateLimit,
    pub users: Option<Vec<(String, String)>>,
}

impl RawConfig {
    /// The struct `getConfig` decodes into: the toolkit's defaults.
    pub fn with_defaults() -> Self {
        Self {
            tls: RawTls {
                min_version: TlsVersion::Tls12,
                max_version: TlsVersion::Tls13,
                prefer_server_cipher_suites: true,
                ..RawTls::default()
            },
            http: RawHttp {
                http2: true,
                headers: None,
            },
            rate_limit: RawRateLimit::default(),
            users: None,
        }
    }
}

/// yaml.v2 `UnmarshalStrict` of a parsed document into the defaults.
pub fn decode_config(doc: Option<&Document>) -> Result<RawConfig, ConfigError> {
    let mut config = RawConfig::with_defaults();
    if let Some(doc) = doc {
        let mut decoder = Decoder::new(doc);
        decoder.go_struct(doc.root, &mut config)?;
        decoder.finish()?;
    }
    Ok(config)
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

impl GoStruct for RawConfig {
    const NAME: &'static str = "web.Config";
    const FIELDS: &'static [&'static str] = &[
        "tls_server_config",
        "http_server_config",
        "rate_limit",
        "basic_auth_users",
    ];

    fn zero(&mut self) {
        self.tls.zero();
        self.http.zero();
        self.rate_limit.zero();
        self.users = None;
    }

    fn decode_field(
        &mut self,
        d: &mut Decoder<'_>,
        field: usize,
        value: NodeId,
    ) -> Result<(), Fatal> {
        match field {
            0 => d.go_struct(value, &mut self.tls),
            1 => d.go_struct(value, &mut self.http),
            2 => d.go_struct(value, &mut self.rate_limit),
            _ => d.string_map(
                value,
                "map[string]config.Secret",
                &mut self.users,
                |d, id| d.secret(id),
            ),
        }
    }
}

impl GoStruct for RawTls {
    const NAME: &'static str = "web.TLSConfig";
    const FIELDS: &'static [&'static str] = &[
        "cert",
        "key",
        "client_ca",
        "cert_file",
        "key_file",
        "client_auth_type",
        "client_ca_file",
        "cipher_suites",
        "curve_preferences",
        "min_version",
        "max_version",
        "prefer_server_cipher_suites",
        "client_allowed_sans",
    ];

    fn zero(&mut self) {
        *self = RawTls::default();
    }

    fn decode_field(
        &mut self,
        d: &mut Decoder<'_>,
        field: usize,
        value: NodeId,
    ) -> Result<(), Fatal> {
        match field {
            0 => set(&mut self.cert, d.string(value, "string")?),
            1 => set(&mut self.key, d.secret(value)?.map(Zeroizing::new)),
            2 => set(&mut self.client_ca, d.string(value, "string")?),
            3 => set(&mut self.cert_file, d.string(value, "string")?),
            4 => set(&mut self.key_file, d.string(value, "string")?),
            5 => set(&mut self.client_auth_type, d.string(value, "string")?),
            6 => set(&mut self.client_ca_file, d.string(value, "string")?),
            7 => {
                let outcome = d.seq(value, "[]web.Cipher", |d, id| {
                    d.go_enum(
                        id,
                        "web.Cipher",
                        CipherSuite::from_go_name,
                        "unknown cipher: ",
                    )
                })?;
                apply_seq(&mut self.cipher_suites, outcome);
            }
            8 => {
                let outcome = d.seq(value, "[]web.Curve", |d, id| {
                    d.go_enum(id, "web.Curve", Curve::from_go_name, "unknown curve: ")
                })?;
                apply_seq(&mut self.curve_preferences, outcome);
            }
            9 | 10 => {
                let v = d.go_enum(
                    value,
                    "web.TLSVersion",
                    TlsVersion::from_go_name,
                    "unknown TLS version: ",
                )?;
                let slot = if field == 9 {
                    &mut self.min_version
                } else {
                    &mut self.max_version
                };
                if let Some(v) = v {
                    *slot = v.unwrap_or(TlsVersion::Default);
                }
            }
            11 => set(&mut self.prefer_server_cipher_suites, d.bool(value)?),
            _ => {
                let outcome = d.seq(value, "[]string", |d, id| d.string(id, "string"))?;
                match outcome {
                    SeqOutcome::Nil => self.client_allowed_sans = None,
                    SeqOutcome::Items(items) => self.client_allowed_sans = Some(items),
                    SeqOutcome::Unchanged => {}
                }
            }
        }
        Ok(())
    }
}

fn apply_seq<T>(slot: &mut Vec<T>, outcome: SeqOutcome<T>) {
    match outcome {
        SeqOutcome::Nil => slot.clear(),
        SeqOutcome::Items(items) => *slot = items,
        SeqOutcome::Unchanged => {}
    }
}

impl GoStruct for RawHttp {
    const NAME: &'static str = "web.HTTPConfig";
    const FIELDS: &'static [&'static str] = &["http2", "headers"];

    fn zero(&mut self) {
        *self = RawHttp::default();
    }

    fn decode_field(
        &mut self,
        d: &mut Decoder<'_>,
        field: usize,
        value: NodeId,
    ) -> Result<(), Fatal> {
        match field {
            0 => set(&mut self.http2, d.bool(value)?),
            _ => d.string_map(value, "map[string]string", &mut self.headers, |d, id| {
                d.string(id, "string")
            })?,
        }
        Ok(())
    }
}

impl GoStruct for RawRateLimit {
    const NAME: &'static str = "web.RateLimiterConfig";
    const FIELDS: &'static [&'static str] = &["burst", "interval"];

    fn zero(&mut self) {
        *self = RawRateLimit::default();
    }

    fn decode_field(
        &mut self,
        d: &mut Decoder<'_>,
        field: usize,
        value: NodeId,
    ) -> Result<(), Fatal> {
        match field {
            0 => set(&mut self.burst, d.int(value)?),
            _ => set(&mut self.interval_nanos, d.duration(value)?),
        }
        Ok(())
    }
}

impl fmt::Debug for RawTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawTls")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("client_ca_file", &self.client_ca_file)
            .field("client_auth_type", &self.client_auth_type)
            .field("inline_cert", &!self.cert.is_empty())
            .field("inline_key", &!self.key.is_empty())
            .field("inline_client_ca", &!self.client_ca.is_empty())
            .field("cipher_suites", &self.cipher_suites)
            .field("curve_preferences", &self.curve_preferences)
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .field(
                "prefer_server_cipher_suites",
                &self.prefer_server_cipher_suites,
            )
            .field("client_allowed_sans", &self.client_allowed_sans)
            .finish()
    }
}

impl fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Option<Vec<&str>> = self
            .users
            .as_ref()
            .map(|u| u.iter().map(|(name, _)| name.as_str()).collect());
        f.debug_struct("RawConfig")
            .field("tls", &self.tls)
            .field("http", &self.http)
            .field("rate_limit", &self.rate_limit)
            .field("users", &users)
            .finish()
    }
}
