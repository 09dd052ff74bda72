//! Panic containment (issue 15, item 8): a request that panics inside the gateway (the test
//! hook `ServerOptions::panic_on_path`) ends its own connection only; a kept-alive connection
//! beside it keeps working, the process lives on, and the panic is counted.

use scrapegate_server::{Gateway, Routes, ServerOptions, listener, panics};
use scrapegate_testkit::Http1;
use tokio::net::TcpStream;

use crate::support::*;

#[tokio::test]
async fn a_panicking_request_ends_only_its_own_connection() {
    panics::install_hook();
    let up = upstream().await;
    let opts = ServerOptions {
        panic_on_path: Some("/panic".into()),
        ..ServerOptions::default()
    };
    let routes = Routes::new(Some(&up.url()), &[]).unwrap();
    let (gw, _) = Gateway::new(None, routes, opts).unwrap();
    let l = listener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    gw.serve_proxy(l);

    let mut bystander = Http1::handshake(TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    assert_eq!(bystander.get("/metrics", None).await.unwrap().0, 200);
    let before = panics::count();

    let mut victim = Http1::handshake(TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    assert!(
        victim.get("/panic", None).await.is_err(),
        "the panicking request's connection must end without an answer"
    );
    assert!(panics::count() > before);
    // The connection beside it, and new ones, are served as before.
    assert_eq!(bystander.get("/metrics", None).await.unwrap().0, 200);
    assert_eq!(Client::plain().get(addr, "/x", &[]).await.status, 200);
    let text = gw.render_metrics();
    assert!(text.contains("scrapegate_panics_total"), "{text}");
}

/// HTTP/2 streams run on their connection's task (`front::streams`): a stream that panics is
/// reset alone, and the other streams of the same connection are answered as before.
#[tokio::test]
async fn a_panicking_h2_stream_ends_only_that_stream() {
    panics::install_hook();
    let up = upstream().await;
    let p = pki();
    let opts = ServerOptions {
        panic_on_path: Some("/panic".into()),
        ..ServerOptions::default()
    };
    let gw = gateway_with(Some(config(Some(p.settings()))), &up.url(), opts).await;
    let mut h2 = scrapegate_testkit::http_client::tls_h2_from(None, gw.addr, &p.ca.cert_der)
        .await
        .unwrap();
    assert_eq!(h2.get("/metrics", None).await.unwrap().0, 200);
    let before = panics::count();
    assert!(
        h2.get("/panic", None).await.is_err(),
        "the panicking stream must be reset, not answered"
    );
    assert!(panics::count() > before);
    for _ in 0..3 {
        assert_eq!(
            h2.get("/metrics", None).await.unwrap(),
            (200, "Hello World!".into())
        );
    }
}
