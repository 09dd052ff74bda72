//! Logging setup: tracing to stderr, as logfmt (the Go exporters' default look) or JSON.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `--log.level`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// `--log.format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Logfmt,
    Json,
}

/// Sets up the subscriber; `access` turns the access log (`--log.access`) on, at any level.
pub fn init(level: Level, format: Format, access: bool) {
    let level = match level {
        Level::Debug => tracing::Level::DEBUG,
        Level::Info => tracing::Level::INFO,
        Level::Warn => tracing::Level::WARN,
        Level::Error => tracing::Level::ERROR,
    };
    // Our crates at the chosen level; dependencies (hyper, rustls...) only from warn up,
    // so debug logging stays about the gateway.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::WARN.min(level))
        .with_target("scrapegate", level)
        .with_target("scrapegate_server", level)
        .with_target("scrapegate_config", level)
        .with_target("scrapegate_watch", level)
        // The access log is its own switch: on with --log.access whatever --log.level says.
        .with_target(
            "scrapegate::access",
            if access {
                tracing_subscriber::filter::LevelFilter::INFO
            } else {
                tracing_subscriber::filter::LevelFilter::OFF
            },
        )
        .with_target("scrapegate_tls", level)
        .with_target("scrapegate_auth", level)
        // rustls warns about what a client sent (an IP address as SNI, odd extensions) once
        // per connection: any client could turn that into a flood of lines. Handshake
        // failures are counted in scrapegate_tls_handshake_failures_total and logged at
        // debug by the gateway; rustls' own warnings only show with --log.level=debug.
        .with_target(
            "rustls",
            if level == tracing::Level::DEBUG {
                tracing::Level::WARN
            } else {
                tracing::Level::ERROR
            },
        );
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        Format::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        Format::Logfmt => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(Logfmt)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

/// `time=... level=... source=... msg="..." key=value ...`, like Go's slog text handler.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        write!(
            w,
            "time={} level={} source={}",
            rfc3339_now(),
            meta.level().as_str().to_ascii_lowercase(),
            meta.target()
        )?;
        let mut v = Fields {
            msg: String::new(),
            rest: String::new(),
        };
        event.record(&mut v);
        w.write_str(" msg=")?;
        quote(&mut w, &v.msg)?;
        w.write_str(&v.rest)?;
        writeln!(w)
    }
}

struct Fields {
    msg: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, &format!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_owned();
        } else {
            let _ = write!(self.rest, " {}=", field.name());
            let _ = quote(&mut self.rest, value);
        }
    }
}

/// Writes `s` bare when it is a plain token, else double-quoted with escapes.
fn quote(w: &mut impl std::fmt::Write, s: &str) -> std::fmt::Result {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\');
    if plain {
        return w.write_str(s);
    }
    w.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => w.write_str("\\\"")?,
            '\\' => w.write_str("\\\\")?,
            '\n' => w.write_str("\\n")?,
            c if c.is_control() => write!(w, "\\u{{{:04x}}}", c as u32)?,
            c => w.write_char(c)?,
        }
    }
    w.write_char('"')
}

/// The current UTC time as RFC 3339 with milliseconds (no time-zone database needed).
fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = scrapegate_model::time::civil_date(secs);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}
