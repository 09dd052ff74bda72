//! The shared keep-alive pool of plain-TCP upstream connections (`upstream::tcp_pool`): one
//! connection serves request after request, a response dropped half-way takes its
//! connection with it, HEAD answers give theirs back at once, a connection that carried a
//! request body is not reused, requests go out in origin form, and idle connections are
//! closed after the idle timeout.

use std::time::Duration;

use scrapegate_server::{ServerOptions, UpstreamOptions};
use scrapegate_testkit::Http1;
use scrapegate_testkit::wait::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

#[tokio::test]
async fn one_upstream_connection_serves_requests_one_after_another() {
    let up = upstream().await;
    let gw = gateway(None, &up.url()).await;
    let mut client = Http1::handshake(TcpStream::connect(gw.addr).await.unwrap())
        .await
        .unwrap();
    for _ in 0..10 {
        assert_eq!(
            client.get("/metrics?x=1", None).await.unwrap(),
            (200, "Hello World!".into())
        );
    }
    assert_eq!(up.hits(), 10);
    assert_eq!(up.connections(), 1, "the pooled connection was not reused");
    // Origin form on the wire, the route's authority in Host.
    let seen = up.seen();
    assert_eq!(seen[0].path, "/metrics?x=1");
    assert_eq!(seen[0].headers["host"], up.addr.to_string());
}

#[tokio::test]
async fn head_answers_give_their_connection_back() {
    let up = upstream().await;
    let gw = gateway(None, &up.url()).await;
    for _ in 0..5 {
        let r = scrapegate_testkit::http_client::raw(gw.addr, "HEAD", "/metrics").await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    assert_eq!(up.hits(), 5);
    assert_eq!(up.connections(), 1);
}

#[tokio::test]
async fn a_response_dropped_half_way_does_not_come_back_to_the_pool() {
    let up = upstream().await;
    let gw = gateway(None, &up.url()).await;
    // Read only the head of a 1 MiB answer, then hang up.
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    drop(tcp);
    // The next request gets a connection that can serve it: a new one.
    let mut client = Http1::handshake(TcpStream::connect(gw.addr).await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        client.get("/metrics", None).await.unwrap(),
        (200, "Hello World!".into())
    );
    assert_eq!(up.connections(), 2);
    // And the half-read one is closed, not left open.
    assert!(
        eventually(Duration::from_secs(10), || async {
            up.open_connections() == 1
        })
        .await,
        "open upstream connections: {}",
        up.open_connections()
    );
}

#[tokio::test]
async fn idle_upstream_connections_close_after_the_idle_timeout() {
    let up = upstream().await;
    let opts = ServerOptions {
        upstream: UpstreamOptions {
            pool_idle_timeout: Duration::from_millis(500),
            ..UpstreamOptions::default()
        },
        ..ServerOptions::default()
    };
    let gw = gateway_with(None, &up.url(), opts).await;
    let mut client = Http1::handshake(TcpStream::connect(gw.addr).await.unwrap())
        .await
        .unwrap();
    assert_eq!(client.get("/metrics", None).await.unwrap().0, 200);
    assert_eq!(up.open_connections(), 1);
    assert!(
        eventually(Duration::from_secs(10), || async {
            up.open_connections() == 0
        })
        .await,
        "the idle upstream connection was not closed"
    );
    // The next request opens a new one.
    assert_eq!(client.get("/metrics", None).await.unwrap().0, 200);
    assert_eq!(up.connections(), 2);
}

#[tokio::test]
async fn a_connection_that_carried_a_request_body_is_not_reused() {
    let up = upstream().await;
    let gw = gateway(None, &up.url()).await;
    for _ in 0..3 {
        let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
        tcp.write_all(
            b"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
        .await
        .unwrap();
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.unwrap();
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert_eq!(up.hits(), 3);
    assert_eq!(up.connections(), 3);
    // Body-less requests still share one.
    let mut client = Http1::handshake(TcpStream::connect(gw.addr).await.unwrap())
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(client.get("/metrics", None).await.unwrap().0, 200);
    }
    assert_eq!(up.connections(), 4);
}
