//! `scrapegate serve` (the default subcommand): flags, startup in the toolkit's order, the
//! wiring (the reload loop of `scrapegate_server::reload`, SIGHUP) and graceful shutdown.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use scrapegate_model::duration::{format_go, parse_duration_value};
use scrapegate_server::reload::{self, ConfigSource, Reloader};
use scrapegate_server::{Gateway, Routes, ServerOptions, UpstreamOptions, listener};
use scrapegate_watch::WatchOptions;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

/// Flags of `serve`.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on (repeatable): host:port, [::1]:port, or :port for every interface.
    #[arg(long = "web.listen-address", default_value = ":9443")]
    pub listen_addresses: Vec<String>,

    /// Use the sockets systemd passed (LISTEN_FDS) instead of --web.listen-address.
    #[arg(long = "web.systemd-socket")]
    pub systemd_socket: bool,

    /// web.yml path; absent = plain HTTP, no auth.
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,

    /// scrapegate.yml path: bearer tokens, routes with allow rules and anonymous paths
    /// (optional; watched and reloaded together with web.yml).
    #[arg(long = "config.file")]
    pub config_file: Option<PathBuf>,

    /// Write one access-log line per request (remote address, listener, method, path without
    /// query, route, status, bytes, duration, identity, auth result) in --log.format.
    #[arg(long = "log.access")]
    pub log_access: bool,

    /// How often web.yml and its files are re-read as a safety net besides inotify (0s: only
    /// when inotify reports a change).
    #[arg(long = "web.config.poll-interval", default_value = "30s", value_parser = parse_duration)]
    pub poll_interval: Duration,

    /// Do not use inotify; notice changes by polling only.
    #[arg(long = "web.config.no-inotify")]
    pub no_inotify: bool,

    /// Default upstream, e.g. http://127.0.0.1:9100 (a path in the URL replaces "/").
    #[arg(long = "upstream")]
    pub upstream: Option<String>,

    /// PREFIX=URL, repeatable; the longest matching prefix wins. A path in URL replaces PREFIX.
    #[arg(long = "route")]
    pub routes: Vec<String>,

    /// Concurrent GET/HEAD scrapes of the same path (and Accept, Accept-Encoding) through the
    /// routes of --upstream and --route share one upstream request while it is in flight (HA
    /// Prometheus replicas). scrapegate.yml routes use their own `coalesce: true`.
    #[arg(long = "upstream.coalesce")]
    pub upstream_coalesce: bool,

    /// Separate listener for the gateway's own /metrics, /-/healthy and /-/ready (same web.yml
    /// protection).
    #[arg(long = "web.telemetry-address")]
    pub telemetry_address: Option<String>,

    /// Plain-HTTP listener answering only /-/healthy and /-/ready, with no TLS and no auth, for
    /// liveness/readiness probes (`scrapegate healthcheck`). Bind it to loopback, e.g.
    /// 127.0.0.1:9444.
    #[arg(long = "web.health-address")]
    pub health_address: Option<String>,

    /// Threads that serve connections; 0: one per CPU this process may use (CPU affinity and a
    /// cgroup CPU quota both count). With one, a single-threaded scheduler runs everything: it
    /// costs less per request than a one-worker work-stealing pool, which matters for a sidecar
    /// limited to one CPU or less.
    #[arg(long = "runtime.worker-threads", default_value_t = 0)]
    pub worker_threads: usize,

    /// Open connections beyond this are closed at once (per listener; the telemetry and
    /// health listeners have budgets of their own).
    #[arg(long = "web.max-connections", default_value = "4096", value_parser = parse_connections)]
    pub max_connections: usize,

    /// Connections one source (IPv4 address or IPv6 /64) may hold at once; 0: no cap.
    #[arg(long = "web.max-connections-per-source", default_value = "0", value_parser = parse_connection_cap)]
    pub max_connections_per_source: usize,

    /// Idle timeout of a connection on which no request has passed authentication yet (a
    /// refused client frees its slot soon; the full --web.idle-timeout comes with the first
    /// authenticated request).
    #[arg(long = "web.unauthenticated-idle-timeout", default_value = "10s", value_parser = parse_duration)]
    pub unauthenticated_idle_timeout: Duration,

    /// Longest TLS handshake.
    #[arg(long = "web.handshake-timeout", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// Longest time for a request's headers to arrive.
    #[arg(long = "web.header-read-timeout", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// Close connections idle this long (keep it above the scrape interval).
    #[arg(long = "web.idle-timeout", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Largest request head in bytes (431 beyond it).
    #[arg(long = "web.max-header-bytes", default_value = "65536", value_parser = parse_header_bytes)]
    pub max_header_bytes: usize,

    /// Merge flushes of pipelined HTTP/1 responses (hyper's experimental pipeline_flush).
    #[arg(long = "web.http1-pipeline-flush")]
    pub pipeline_flush: bool,

    /// On SIGTERM/SIGINT, wait this long for in-flight requests before exiting.
    #[arg(long = "web.shutdown-timeout", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Upstream deadline: the whole budget when the request has no
    /// X-Prometheus-Scrape-Timeout-Seconds, and the most a request's header can ask for.
    #[arg(long = "upstream.timeout", default_value = "30s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// Taken off X-Prometheus-Scrape-Timeout-Seconds for the upstream deadline, which is
    /// forwarded reduced (the gateway answers 504 before Prometheus gives up).
    #[arg(long = "upstream.timeout-offset", default_value = "500ms", value_parser = parse_duration)]
    pub upstream_timeout_offset: Duration,

    /// Peers (CIDR or address, comma-separated, repeatable) whose X-Forwarded-For is kept and
    /// appended to; anyone else's is replaced by the peer's address.
    #[arg(
        long = "web.trusted-proxies",
        value_name = "CIDR,...",
        value_delimiter = ',',
        value_parser = parse_cidr
    )]
    pub trusted_proxies: Vec<(IpAddr, u8)>,

    /// Longest request body forwarded, in bytes (413 beyond it).
    #[arg(long = "web.max-request-body-bytes", default_value = "33554432", value_parser = parse_body_limit)]
    pub max_request_body_bytes: u64,

    /// How long idle upstream connections are kept for reuse.
    #[arg(long = "upstream.idle-timeout", default_value = "50s", value_parser = parse_duration)]
    pub upstream_idle_timeout: Duration,

    /// Idle keep-alive connections kept per upstream. Keep it at or above the number of
    /// requests in flight to one upstream at busy times: beyond it, every request pays a new
    /// TCP connection to the exporter.
    #[arg(long = "upstream.max-idle-conns", default_value = "256", value_parser = parse_idle_conns)]
    pub upstream_max_idle: usize,
}

/// The longest duration any flag takes: a year keeps every deadline computed from a flag far
/// from overflowing.
const MAX_FLAG_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// A duration flag: Go's `time.ParseDuration` syntax (as Prometheus's own flags), not
/// negative, at most a year.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_duration_value(s, MAX_FLAG_DURATION)
}

/// One network of `--web.trusted-proxies`.
fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    UpstreamOptions::parse_cidr(s)
}

/// A whole number within `min..=max`; the error names the range.
fn whole_number(s: &str, min: u64, max: u64) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is outside {min}..={max}")),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// `--web.max-request-body-bytes`: at least 1 byte, at most 1 TiB.
fn parse_body_limit(s: &str) -> Result<u64, String> {
    whole_number(s, 1, 1 << 40)
}

/// `--web.max-connections`: 1 to a million.
fn parse_connections(s: &str) -> Result<usize, String> {
    whole_number(s, 1, 1_000_000).map(|n| n as usize)
}

/// `--web.max-connections-per-source`: 0 (no cap) to a million.
fn parse_connection_cap(s: &str) -> Result<usize, String> {
    whole_number(s, 0, 1_000_000).map(|n| n as usize)
}

/// `--web.max-header-bytes`: 1 KiB to 1 MiB.
fn parse_header_bytes(s: &str) -> Result<usize, String> {
    whole_number(s, 1024, 1 << 20).map(|n| n as usize)
}

/// `--upstream.max-idle-conns`: 0 to 65,536.
fn parse_idle_conns(s: &str) -> Result<usize, String> {
    whole_number(s, 0, 1 << 16).map(|n| n as usize)
}

impl ServeArgs {
    fn server_options(&self) -> ServerOptions {
        ServerOptions {
            handshake_timeout: self.handshake_timeout,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
            max_connections_per_source: self.max_connections_per_source,
            unauthenticated_idle_timeout: self.unauthenticated_idle_timeout,
            max_header_bytes: self.max_header_bytes,
            pipeline_flush: self.pipeline_flush,
            access_log: self.log_access,
            upstream: UpstreamOptions {
                timeout: self.upstream_timeout,
                timeout_offset: self.upstream_timeout_offset,
                trusted_proxies: self.trusted_proxies.clone(),
                max_request_body_bytes: self.max_request_body_bytes,
                pool_idle_timeout: self.upstream_idle_timeout,
                pool_max_idle_per_host: self.upstream_max_idle,
                ..UpstreamOptions::default()
            },
            ..ServerOptions::default()
        }
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    let workers = match args.worker_threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        n => n,
    };
    // Measured with loadtest/run's HTTP/1.1 load on one pinned CPU: the single-threaded
    // scheduler served 20-35% more requests per CPU-second than a one-worker pool.
    let (mut builder, scheduler) = if workers == 1 {
        (
            tokio::runtime::Builder::new_current_thread(),
            "current-thread",
        )
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        (b, "multi-thread")
    };
    tracing::info!(workers, scheduler, "Runtime");
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(err = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(args, None))
}

/// Something the gateway's caller wants to know once it listens (the demo prints it).
pub type OnListening = Box<dyn FnOnce(&[std::net::SocketAddr]) + Send>;

/// Runs the gateway until SIGTERM/SIGINT; the exit code reports startup failures.
pub async fn serve(args: ServeArgs, on_listening: Option<OnListening>) -> ExitCode {
    match start_and_run(args, on_listening).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(err = %e, "scrapegate failed to start");
            eprintln!("scrapegate: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn open_listeners(args: &ServeArgs) -> Result<Vec<TcpListener>, String> {
    if args.systemd_socket {
        tracing::info!("Listening on systemd activated listeners instead of port listeners.");
        return listener::systemd_listeners().map_err(|e| e.to_string());
    }
    if args.listen_addresses.is_empty() {
        return Err("no web listen address or systemd socket flag specified".into());
    }
    args.listen_addresses
        .iter()
        .map(|a| listener::bind(a).map_err(|e| format!("listen tcp {a}: {e}")))
        .collect()
}

async fn start_and_run(args: ServeArgs, on_listening: Option<OnListening>) -> Result<(), String> {
    let routes = Routes::new(args.upstream.as_deref(), &args.routes)
        .map_err(|e| e.to_string())?
        .with_coalescing(args.upstream_coalesce);
    if routes.is_empty() && args.config_file.is_none() {
        return Err("no upstream: set --upstream URL or at least one --route PREFIX=URL".into());
    }
    // Go opens every listener before reading the config.
    let listeners = open_listeners(&args).await?;
    let telemetry = match &args.telemetry_address {
        Some(a) => Some(listener::bind(a).map_err(|e| format!("listen tcp {a}: {e}"))?),
        None => None,
    };
    let health = match &args.health_address {
        Some(a) => Some(listener::bind(a).map_err(|e| format!("listen tcp {a}: {e}"))?),
        None => None,
    };
    let addrs: Vec<_> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    for a in &addrs {
        tracing::info!(address = %a, "Listening on");
    }

    let source = ConfigSource::new(args.web_config_file.clone(), args.config_file.clone());
    let loaded = reload::load(&source).map_err(|e| e.to_string())?;
    let set = &loaded.config;
    if set.policy.as_ref().is_some_and(|p| p.routes.is_empty()) && routes.is_empty() {
        return Err(
            "no upstream: set --upstream URL, --route PREFIX=URL or routes in --config.file".into(),
        );
    }
    if args.upstream_coalesce && set.policy.as_ref().is_some_and(|p| !p.routes.is_empty()) {
        // The file's routes replace the flags' routes, and with them the flag's effect.
        tracing::warn!(
            file = %args.config_file.as_deref().unwrap_or(Path::new("")).display(),
            "--upstream.coalesce has no effect: the routes come from the config file; \
             set coalesce: true on the routes that should coalesce"
        );
    }
    let file = args
        .web_config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let (gateway, plan_warnings) =
        Gateway::start(set, routes, args.server_options()).map_err(|e| e.to_string())?;
    if let Some(cfg) = &set.web {
        for w in plan_warnings
            .into_iter()
            .chain(scrapegate_config::warnings(cfg))
        {
            tracing::warn!(file = %file, "{w}");
        }
        let rl = cfg.rate_limit;
        if rl.is_enabled() {
            tracing::info!(
                burst = rl.burst,
                interval = %format_go(Duration::from_nanos(rl.interval_nanos.unsigned_abs())),
                global = true,
                "Rate Limiter is enabled."
            );
        }
    }
    for a in &addrs {
        if gateway.tls_enabled() {
            tracing::info!(http2 = gateway.http2_enabled(), address = %a, "TLS is enabled.");
        } else {
            tracing::info!(http2 = false, address = %a, "TLS is disabled.");
        }
    }
    for l in listeners {
        gateway.serve_proxy(l);
    }
    if let Some(l) = telemetry {
        if let Ok(a) = l.local_addr() {
            tracing::info!(address = %a, "Telemetry listening on");
        }
        gateway.serve_telemetry(l);
    }
    // Last: `/-/ready` must not answer 200 before the gateway's own listeners serve.
    if let Some(l) = health {
        if let Ok(a) = l.local_addr() {
            tracing::info!(address = %a, "Health listening on");
            // `to_canonical`: an IPv4-mapped ::ffff:127.0.0.1 is loopback too.
            if !a.ip().to_canonical().is_loopback() {
                tracing::warn!(
                    address = %a,
                    "The health listener is not on loopback: anyone who can reach it can probe \
                     /-/healthy and /-/ready without TLS or credentials; bind it to 127.0.0.1"
                );
            }
        }
        gateway.serve_health(l);
    }
    if let Some(f) = on_listening {
        f(&addrs);
    }

    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut sighup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let reloader = (!source.is_empty()).then(|| {
        Reloader::spawn(
            gateway.clone(),
            source,
            &loaded,
            WatchOptions {
                poll_interval: args.poll_interval,
                use_notify: !args.no_inotify,
                ..WatchOptions::default()
            },
        )
    });

    loop {
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            _ = sighup.recv() => match &reloader {
                Some(r) => r.force(),
                None => tracing::info!("SIGHUP ignored: no --web.config.file or --config.file"),
            },
        }
    }

    tracing::info!(
        timeout = %format_go(args.shutdown_timeout),
        "Shutting down: draining in-flight requests"
    );
    gateway.shutdown();
    if gateway.drain(args.shutdown_timeout).await {
        tracing::info!("All connections closed");
    } else {
        tracing::warn!(
            open = gateway.open_connections(),
            "Shutdown timeout reached with connections still open"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go_flags() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        // Go's time.ParseDuration wants a unit on anything but 0.
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("10000000000000000000s").is_err());
        assert!(parse_duration("9000h").is_err());
    }

    #[test]
    fn hardening_flags_are_checked() {
        assert_eq!(parse_body_limit("1024"), Ok(1024));
        assert!(parse_body_limit("0").is_err());
        assert!(parse_body_limit("-1").is_err());
        assert!(parse_body_limit("32MiB").is_err());
        assert!(parse_cidr("10.0.0.0/8").is_ok());
        assert!(parse_cidr("10.0.0.0/33").is_err());
    }
}
