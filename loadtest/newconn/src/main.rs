//! `newconn`: the load generator behind `loadtest/run`'s `newconn` column. Every request opens
//! a new TCP connection and a new TLS session (a full handshake: resumption is off), sends one
//! HTTP/1.1 request with `Connection: close` and reads the answer to the end. A closed model:
//! `--concurrency` workers loop with no think time for `--duration` seconds.
//!
//! Why not k6 (`loadtest/k6/handshake.js`, still shipped): on one client CPU k6 manages about
//! 1,700 handshakes a second, fewer than any server under test can take, so its numbers
//! compare k6 with itself. This client costs a fraction of a server's handshake: it skips
//! certificate and handshake-signature verification (the servers' cost does not depend on
//! it), and runs on one thread.
//!
//! Prints one JSON object: requests, errors, resumed (must be 0), req_per_s, p50_ms, p99_ms
//! (whole request: connect, handshake, request, response), first_error.
//! Loopback addresses only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, HandshakeKind, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
#[command(about = "A new TLS connection per request, against a loopback server")]
struct Args {
    /// Server address (loopback only).
    #[arg(long)]
    addr: SocketAddr,
    /// TLS server name (SNI) and Host header.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Request path.
    #[arg(long, default_value = "/metrics")]
    path: String,
    /// Authorization header value, e.g. "Basic dTpw".
    #[arg(long)]
    authorization: Option<String>,
    /// Workers, each with one connection at a time.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 8.0)]
    duration: f64,
    /// Offer only this TLS version (1.2 or 1.3); both by default.
    #[arg(long)]
    tls: Option<String>,
}

/// Accepts any certificate and signature: this client measures servers, it does not trust them.
#[derive(Debug)]
struct AcceptAnything(Vec<SignatureScheme>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_tls12_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    resumed: u64,
    first_error: Option<String>,
}

/// Largest response read; more is an error (the servers answer a few KiB).
const MAX_RESPONSE: usize = 1 << 20;

fn main() {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        eprintln!("newconn: {} is not a loopback address; refusing", args.addr);
        std::process::exit(2);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let versions: &[&rustls::SupportedProtocolVersion] = match args.tls.as_deref() {
        None => rustls::DEFAULT_VERSIONS,
        Some("1.2") => &[&rustls::version::TLS12],
        Some("1.3") => &[&rustls::version::TLS13],
        Some(other) => {
            eprintln!("newconn: --tls must be 1.2 or 1.3, not {other}");
            std::process::exit(2);
        }
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("the provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything(schemes)))
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(args.host.clone()).unwrap_or_else(|e| {
        eprintln!("newconn: bad --host: {e}");
        std::process::exit(2);
    });
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        args.path, args.host
    );
    if let Some(auth) = &args.authorization {
        request.push_str(&format!("Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    let request: Arc<[u8]> = request.into_bytes().into();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let tallies = runtime.block_on(async {
        let workers: Vec<_> = (0..args.concurrency.max(1))
            .map(|_| {
                let (connector, name, request) =
                    (connector.clone(), name.clone(), Arc::clone(&request));
                tokio::spawn(worker(args.addr, connector, name, request, deadline))
            })
            .collect();
        let mut tallies = Vec::new();
        for w in workers {
            tallies.push(w.await.expect("a worker panicked"));
        }
        tallies
    });
    let elapsed = started.elapsed().as_secs_f64();
    report(tallies, elapsed);
}

async fn worker(
    addr: SocketAddr,
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
    request: Arc<[u8]>,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut response = Vec::with_capacity(8192);
    while Instant::now() < deadline {
        let t0 = Instant::now();
        match one_request(addr, &connector, &name, &request, &mut response).await {
            Ok(resumed) => {
                let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
                tally.latencies_us.push(us);
                tally.resumed += u64::from(resumed);
            }
            Err(e) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(e);
            }
        }
    }
    tally
}

/// One connection, one request; `Ok(resumed)` when the answer was a 200.
async fn one_request(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    name: &ServerName<'static>,
    request: &[u8],
    response: &mut Vec<u8>,
) -> Result<bool, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let mut tls = connector
        .connect(name.clone(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let resumed = tls.get_ref().1.handshake_kind() != Some(HandshakeKind::Full);
    tls.write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    response.clear();
    let mut chunk = [0u8; 16384];
    loop {
        let n = match tls.read(&mut chunk).await {
            Ok(n) => n,
            // Servers that close without close_notify (nginx does) still sent the whole answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(format!("read: {e}")),
        };
        if n == 0 {
            break;
        }
        if response.len() + n > MAX_RESPONSE {
            return Err("response larger than 1 MiB".into());
        }
        response.extend_from_slice(&chunk[..n]);
    }
    let status_line = response.split(|&b| b == b'\r').next().unwrap_or_default();
    if status_line.starts_with(b"HTTP/1.1 200") || status_line.starts_with(b"HTTP/1.0 200") {
        Ok(resumed)
    } else {
        Err(format!(
            "status: {}",
            String::from_utf8_lossy(&status_line[..status_line.len().min(40)])
        ))
    }
}

fn report(tallies: Vec<Tally>, elapsed: f64) {
    let mut latencies: Vec<u32> = Vec::new();
    let (mut errors, mut resumed, mut first_error) = (0, 0, None);
    for t in tallies {
        latencies.extend(t.latencies_us);
        errors += t.errors;
        resumed += t.resumed;
        if first_error.is_none() {
            first_error = t.first_error;
        }
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(latencies[i]) / 1000.0
    };
    let requests = latencies.len();
    let first_error = match first_error {
        Some(e) => format!("\"{}\"", e.replace('\\', "\\\\").replace('"', "'")),
        None => "null".into(),
    };
    println!(
        "{{\"requests\": {requests}, \"errors\": {errors}, \"resumed\": {resumed}, \
         \"seconds\": {elapsed:.3}, \"req_per_s\": {:.1}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \
         \"first_error\": {first_error}}}",
        requests as f64 / elapsed,
        pct(0.50),
        pct(0.99),
    );
}
