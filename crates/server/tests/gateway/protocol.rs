//! The front end: HTTP/2 or HTTP/1.1 by ALPN, pipelining, header limits, timers, the
//! connection limit and graceful drain.

use std::time::Duration;

use crate::support::*;
use http::{StatusCode, Version};
use scrapegate_server::ServerOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn h2_when_alpn_offers_it_h1_otherwise() {
    let up = upstream().await;
    let p = pki();
    let gw = gateway(Some(config(Some(p.settings()))), &up.url()).await;
    let r = p.client(true).get(gw.addr, "/metrics", &[]).await;
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "Hello World!");
    let r = p.client(false).get(gw.addr, "/metrics", &[]).await;
    assert_eq!(r.version, Version::HTTP_11);
    assert_eq!(r.status, StatusCode::OK);
    // The h2 request went upstream as HTTP/1.1 with the client's authority as X-Forwarded-Host.
    let seen = up.seen();
    assert_eq!(seen[0].headers["x-forwarded-proto"], "https");
    assert_eq!(
        seen[0].headers["x-forwarded-host"],
        format!("localhost:{}", gw.addr.port())
    );
}

/// Many streams answered at once on one HTTP/2 connection, small and large (1 MiB, beyond
/// the flow-control window) interleaved: the gateway's coalesced writes must deliver every
/// byte of every stream, in order.
#[tokio::test]
async fn concurrent_h2_streams_small_and_large_arrive_intact() {
    let up = upstream().await;
    let p = pki();
    let gw = gateway(Some(config(Some(p.settings()))), &up.url()).await;
    let sender = h2_connection(&p.ca.cert_der, gw.addr).await;
    let mut streams = tokio::task::JoinSet::new();
    for i in 0..48 {
        let mut sender = sender.clone();
        let path = if i % 6 == 0 { "/big" } else { "/metrics" };
        let uri = format!("https://localhost:{}{path}", gw.addr.port());
        streams.spawn(async move {
            let req = http::Request::get(uri)
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            let resp = sender.send_request(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap()
                .to_bytes();
            (path, body)
        });
    }
    let big = big_body();
    let mut seen = 0;
    let all = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(done) = streams.join_next().await {
            let (path, body) = done.unwrap();
            if path == "/big" {
                assert_eq!(body.len(), BIG_LEN);
                assert!(body == big, "the large body arrived altered");
            } else {
                assert_eq!(&body[..], b"Hello World!");
            }
            seen += 1;
        }
    });
    all.await.expect("streams did not finish in time");
    assert_eq!(seen, 48);
}

#[tokio::test]
async fn http2_false_keeps_clients_on_http1() {
    let up = upstream().await;
    let p = pki();
    let mut cfg = config(Some(p.settings()));
    cfg.http2 = false;
    let gw = gateway(Some(cfg), &up.url()).await;
    assert!(!gw.gateway.http2_enabled());
    let r = p.client(true).get(gw.addr, "/", &[]).await;
    assert_eq!(r.version, Version::HTTP_11);
    assert_eq!(r.status, StatusCode::OK);
}

/// Reads from `io` until `n` complete test-upstream responses have arrived.
async fn read_responses<R: tokio::io::AsyncRead + Unpin>(io: &mut R, n: usize) -> String {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if text.matches("Hello World!").count() >= n {
            return text;
        }
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout_at(deadline, io.read(&mut chunk))
            .await
            .expect("responses did not arrive in time")
            .unwrap();
        assert!(read > 0, "connection closed early: {text}");
        buf.extend_from_slice(&chunk[..read]);
    }
}

async fn pipelined(pipeline_flush: bool) {
    let up = upstream().await;
    let opts = ServerOptions {
        pipeline_flush,
        ..ServerOptions::default()
    };
    let gw = gateway_with(Some(config(None)), &up.url(), opts).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    let packet = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n\
                  GET /two HTTP/1.1\r\nHost: a\r\n\r\n\
                  GET /three HTTP/1.1\r\nHost: a\r\n\r\n";
    tcp.write_all(packet.as_bytes()).await.unwrap();
    let text = read_responses(&mut tcp, 3).await;
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
    let one = text.find("x-upstream-path: /one").unwrap();
    let two = text.find("x-upstream-path: /two").unwrap();
    let three = text.find("x-upstream-path: /three").unwrap();
    assert!(one < two && two < three, "{text}");
}

/// Three pipelined HTTP/1.1 requests written in one packet get three responses, in order
/// (default options), and the same with hyper's `pipeline_flush` on.
#[tokio::test]
async fn three_pipelined_requests_in_one_packet_get_three_responses_in_order() {
    pipelined(false).await;
    pipelined(true).await;
}

#[tokio::test]
async fn oversized_request_head_gets_431() {
    let up = upstream().await;
    let gw = gateway(Some(config(None)), &up.url()).await;
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    // Just over the 64 KiB default limit.
    let big = "a".repeat(66 * 1024);
    let req = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n");
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(req.as_bytes()).await;
        wr
    });
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut out)).await;
    drop(writer.await);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    assert!(up.seen().is_empty());
}

fn quick_timers() -> ServerOptions {
    ServerOptions {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(1500),
        ..ServerOptions::default()
    }
}

/// A client that sends half a request head and stalls is cut at the header timeout.
#[tokio::test]
async fn slow_request_headers_are_cut() {
    let up = upstream().await;
    let gw = gateway_with(Some(config(None)), &up.url(), quick_timers()).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    assert!(closed.is_ok(), "connection not closed");
    assert!(up.seen().is_empty());
}

/// A kept-alive connection stays usable across a pause longer than the header timeout (the
/// two timers are separate), and is closed once idle for the idle timeout.
#[tokio::test]
async fn idle_keepalive_outlives_the_header_timeout_then_closes() {
    let up = upstream().await;
    let gw = gateway_with(Some(config(None)), &up.url(), quick_timers()).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    read_responses(&mut tcp, 1).await;
    // Longer than the 300 ms header timeout, well short of the 1.5 s idle timeout.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tcp.write_all(b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    read_responses(&mut tcp, 1).await;
    // Now stay idle: the server closes the connection.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "idle connection not closed");
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed() {
    let up = upstream().await;
    let opts = ServerOptions {
        max_connections: 1,
        ..ServerOptions::default()
    };
    let gw = gateway_with(Some(config(None)), &up.url(), opts).await;
    let mut first = TcpStream::connect(gw.addr).await.unwrap();
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    read_responses(&mut first, 1).await;
    let mut second = TcpStream::connect(gw.addr).await.unwrap();
    let mut out = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), second.read_to_end(&mut out))
        .await
        .expect("refused connection not closed");
    assert!(n.is_err() || out.is_empty());
    assert_eq!(gw.gateway.metrics().connections_refused.get(), 1);
}

/// Shutdown stops accepting and lets the in-flight request finish.
#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let up = upstream().await;
    let gw = gateway(Some(config(None)), &up.url()).await;
    let addr = gw.addr;
    let slow = tokio::spawn(async move { Client::plain().get(addr, "/slow", &[]).await });
    // Wait (bounded) until the slow request has reached the upstream.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while up.seen().is_empty() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.gateway.shutdown();
    assert!(gw.gateway.drain(Duration::from_secs(10)).await);
    let r = slow.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "Hello World!");
    assert!(TcpStream::connect(addr).await.is_err() || gw.gateway.open_connections() == 0);
}

/// Plain HTTP on the TLS port gets Go's 400 (answered by the TLS crate's sniffing).
#[tokio::test]
async fn plain_http_on_the_tls_port_gets_400() {
    let up = upstream().await;
    let p = pki();
    let gw = gateway(Some(config(Some(p.settings()))), &up.url()).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.0 400 Bad Request"), "{text}");
    assert!(text.contains("Client sent an HTTP request to an HTTPS server.\n"));
}

/// HTTP/2 connections have an idle limit too: the server closes (GOAWAY) an idle one.
#[tokio::test]
async fn idle_http2_connection_is_closed() {
    use http_body_util::Empty;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let up = upstream().await;
    let p = pki();
    let gw = gateway_with(Some(config(Some(p.settings()))), &up.url(), quick_timers()).await;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(p.ca.cert_der.clone()).unwrap();
    let mut cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::get(format!("https://localhost:{}/", gw.addr.port()))
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    assert_eq!(
        sender.send_request(req).await.unwrap().status(),
        StatusCode::OK
    );
    // The 1.5 s idle limit closes the connection; the client's connection task ends.
    tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("idle h2 connection not closed")
        .unwrap()
        .ok();
    let m = gw.gateway.render_metrics();
    assert!(
        m.contains("scrapegate_tls_handshakes_total{kind=\"full\"} 1"),
        "{m}"
    );
}

/// Parks idle HTTP/1 connections after 50 ms (the default is 1 s).
fn parking(base: ServerOptions) -> ServerOptions {
    ServerOptions {
        http1_park_after: Some(Duration::from_millis(50)),
        ..base
    }
}

/// A parked HTTP/1 connection (idle past the park delay: hyper's state dropped, the stream
/// kept) serves the next request as if nothing happened, also one whose head arrives in two
/// writes; on TLS too, where the idle timeout then closes it with a close_notify.
#[tokio::test]
async fn parked_http1_connections_serve_the_next_request() {
    let up = upstream().await;
    let p = pki();
    let timers = parking(ServerOptions {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..ServerOptions::default()
    });
    for tls in [false, true] {
        let cfg = config(tls.then(|| p.settings()));
        let gw = gateway_with(Some(cfg), &up.url(), timers.clone()).await;
        let tcp = TcpStream::connect(gw.addr).await.unwrap();
        let mut io: Box<dyn Stream> = if tls {
            Box::new(tls_client(&p, tcp).await)
        } else {
            Box::new(tcp)
        };
        for path in ["/a", "/b", "/c"] {
            if path != "/a" {
                // Well past the 50 ms park delay, well short of the 2 s idle limit.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            if path == "/c" {
                io.write_all(b"GET /c HTTP/1.1\r\nHo").await.unwrap();
                io.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                io.write_all(b"st: a\r\n\r\n").await.unwrap();
            } else {
                let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
                io.write_all(req.as_bytes()).await.unwrap();
            }
            io.flush().await.unwrap();
            let text = read_responses(&mut io, 1).await;
            assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
            assert!(text.contains(&format!("x-upstream-path: {path}")), "{text}");
        }
        // Parked again, then closed at the idle limit: EOF, and for TLS a clean one (a
        // close_notify; without it the client reports an unexpected EOF).
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), io.read_to_end(&mut rest)).await;
        assert!(closed.expect("idle parked connection not closed").is_ok());
        assert!(rest.is_empty());
    }
    assert_eq!(up.seen().len(), 6);
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

async fn tls_client(p: &Pki, tcp: TcpStream) -> tokio_rustls::client::TlsStream<TcpStream> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(p.ca.cert_der.clone()).unwrap();
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// Half of a pipelined request that hyper read with the one before it survives the parking:
/// it is handed back to the next hyper connection and completed by the client's next bytes.
#[tokio::test]
async fn pipelined_partial_request_survives_parking() {
    let up = upstream().await;
    let gw = gateway_with(
        Some(config(None)),
        &up.url(),
        parking(ServerOptions::default()),
    )
    .await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let first = read_responses(&mut tcp, 1).await;
    assert!(first.contains("x-upstream-path: /one"), "{first}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    tcp.write_all(b"st: a\r\n\r\n").await.unwrap();
    let second = read_responses(&mut tcp, 1).await;
    assert!(second.contains("x-upstream-path: /two"), "{second}");
    assert_eq!(up.seen().len(), 2);
}

/// On a parked connection, a request head that starts and stalls is still cut at the header
/// timeout, and shutdown closes parked connections at once (drain does not wait for them).
#[tokio::test]
async fn parked_connections_keep_the_header_timeout_and_drain_at_once() {
    let up = upstream().await;
    let gw = gateway_with(Some(config(None)), &up.url(), parking(quick_timers())).await;
    let mut slow = TcpStream::connect(gw.addr).await.unwrap();
    let mut idle = TcpStream::connect(gw.addr).await.unwrap();
    for tcp in [&mut slow, &mut idle] {
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        read_responses(tcp, 1).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    slow.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    let started = tokio::time::Instant::now();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut out)).await;
    assert!(
        closed.is_ok(),
        "stalled request on a parked connection not cut"
    );
    // The 300 ms header limit, not the 1.5 s idle one.
    assert!(started.elapsed() < Duration::from_millis(1200));
    gw.gateway.shutdown();
    assert!(gw.gateway.drain(Duration::from_secs(1)).await);
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), idle.read_to_end(&mut out)).await;
    assert!(closed.is_ok(), "parked connection not closed by shutdown");
    assert_eq!(up.seen().len(), 2);
}
