//! The request path in memory: arbitrary bytes into the gateway's HTTP/1.1 front end (hyper's
//! HTTP/1 builder as configured by the gateway, the connection clock, then the gate: rate
//! limit, basic auth, configured headers, then the proxy app's routing) over a
//! `tokio::io::duplex` stream, through `Gateway::serve_http1_io`. The upstream route points at
//! 127.0.0.1:1, where nothing listens, so a request that gets through is answered 502 without
//! leaving the machine.
//!
//! The first input byte picks the peer address (so the per-source failure limiter does not
//! end up answering everything with 429); the
//! rest is what the client sends; it then reads until the server closes or has been quiet
//! for 15 ms, and goes away. Checks: no panic; the connection task ends within 10 s of that;
//! whatever comes back starts as an HTTP/1.x response; and no
//! 2xx is ever answered unless the input carries alice's valid credentials (no auth bypass).
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use scrapegate_model::{GoBcryptHash, RateLimit, User, ValidatedConfig};
use scrapegate_server::{Gateway, Routes, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

/// How long the server may stay silent before the client gives up and closes.
const QUIET: Duration = Duration::from_millis(15);

/// base64 of `alice:alice123`, minus the last character (whose low bits Go ignores).
const ALICE_B64_PREFIX: &[u8] = b"YWxpY2U6YWxpY2UxMj";

struct World {
    rt: Runtime,
    gateway: Gateway,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let hash = |pw: &str| {
            let text = bcrypt::hash_with_result(pw, 4)
                .unwrap()
                .format_for_version(bcrypt::Version::TwoY);
            GoBcryptHash::parse(&text).unwrap()
        };
        let cfg = ValidatedConfig {
            path: "web.yml".into(),
            tls: None,
            http2: true,
            headers: vec![
                ("x-frame-options".parse().unwrap(), "deny".parse().unwrap()),
                (
                    "strict-transport-security".parse().unwrap(),
                    "max-age=31536000".parse().unwrap(),
                ),
            ],
            users: vec![
                User {
                    name: "alice".into(),
                    hash: hash("alice123"),
                },
                User {
                    name: "bob".into(),
                    hash: hash("bob123"),
                },
            ],
            rate_limit: RateLimit::default(),
            files: Vec::new(),
        };
        let opts = ServerOptions {
            header_read_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(2),
            ..ServerOptions::default()
        };
        let gateway = rt.block_on(async {
            let routes = Routes::new(
                Some("http://127.0.0.1:1"),
                &["/other=http://127.0.0.1:1/base".to_string()],
            )
            .unwrap();
            Gateway::new(Some(&cfg), routes, opts).unwrap().0
        });
        World { rt, gateway }
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let w = world();
    let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, selector)), 40000);
    let out = w.rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(data.len() + (1 << 16));
        let gateway = w.gateway.clone();
        let conn = tokio::spawn(async move { gateway.serve_http1_io(server, peer).await });
        // The server may stop reading early (e.g. after a 400); write errors are fine.
        let _ = client.write_all(data).await;
        // Not `shutdown()`: the gateway does not half-close (hyper `half_close(false)`), so
        // a client EOF right after a request drops its response. Instead read until the server
        // closes, or until it has been quiet for QUIET (answered everything, waiting for the
        // next request), then drop the client.
        let mut out = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match tokio::time::timeout(QUIET, client.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            }
        }
        drop(client);
        tokio::time::timeout(Duration::from_secs(10), conn)
            .await
            .expect("the connection did not end within 10 s of the client going away")
            .expect("connection task panicked");
        out
    });
    if std::env::var_os("FUZZ_HTTP_DEBUG").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&out));
    }
    if !out.is_empty() {
        assert!(
            out.starts_with(b"HTTP/1."),
            "not an HTTP/1 response: {:?}",
            String::from_utf8_lossy(&out[..out.len().min(64)])
        );
    }
    // Each status line; a 2xx needs alice's (or bob's) real credentials in the request.
    let has_2xx = out
        .windows(10)
        .any(|w| w.starts_with(b"HTTP/1.1 2") || w.starts_with(b"HTTP/1.0 2"));
    if has_2xx {
        assert!(
            contains(data, ALICE_B64_PREFIX) || contains(data, b"Ym9iOmJvYjEy"),
            "2xx without valid credentials: {:?}",
            String::from_utf8_lossy(&out[..out.len().min(200)])
        );
    }
});
