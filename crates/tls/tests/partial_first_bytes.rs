//! Issue 15 item 5: fewer bytes than the first-bytes check needs (`GE`, a partial record
//! header) must cost nothing while the client waits, and nothing at all once it has gone.
//!
//! This file is its own test binary because the CPU test measures the whole process
//! (`getrusage(RUSAGE_SELF)`); its two tests take turns through [`SERIAL`].

#[allow(dead_code)] // `with` is not needed here.
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::serve;
use scrapegate_testkit::cpu::CpuWindow;
use scrapegate_testkit::pki::{Ca, KeyAlg};
use scrapegate_testkit::{EchoServer, tls_settings};
use scrapegate_tls::{ConnInfo, TlsAcceptor, plan};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

const CONNECTIONS: usize = 200;
/// Far beyond the measurement, so only the first-bytes code can end these connections.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

async fn server() -> EchoServer<ConnInfo> {
    let leaf = Ca::new("Root").server(KeyAlg::EcdsaP256);
    let acceptor = TlsAcceptor::new(&plan(&tls_settings(&leaf), true).unwrap()).unwrap();
    serve(Arc::new(acceptor), HANDSHAKE_TIMEOUT).await
}

async fn send_ge(server: &EchoServer<ConnInfo>) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        tcp.write_all(b"GE").await.unwrap();
        conns.push(tcp);
    }
    conns
}

/// 200 connections that sent `GE` and wait cost under 1% of a CPU over 5 s (the clients are
/// idle meanwhile, so everything measured is the server's).
#[tokio::test]
async fn waiting_partial_prefixes_cost_no_cpu() {
    let _turn = SERIAL.lock().await;
    let server = server().await;
    let conns = send_ge(&server).await;
    // Let the accept loop take every connection into its first-bytes read.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let window = CpuWindow::start();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu, wall) = window.used();
    let share = window.share();
    eprintln!(
        "{CONNECTIONS} waiting `GE` connections: {cpu:?} CPU over {wall:?} = {:.2}% of a core",
        share * 100.0
    );
    assert!(share < 0.01, "{:.2}% of a CPU", share * 100.0);
    drop(conns);
}

/// 200 connections that sent `GE` and closed are all over at once, long before the handshake
/// deadline.
#[tokio::test]
async fn closed_partial_prefixes_end_at_once() {
    let _turn = SERIAL.lock().await;
    let mut server = server().await;
    let conns = send_ge(&server).await;
    drop(conns);
    let started = std::time::Instant::now();
    let all = tokio::time::timeout(Duration::from_secs(3), async {
        for _ in 0..CONNECTIONS {
            assert_eq!(server.refused().await, "io");
        }
    })
    .await;
    assert!(
        all.is_ok(),
        "closed connections still pending after {:?}",
        started.elapsed()
    );
    eprintln!(
        "{CONNECTIONS} closed `GE` connections ended within {:?}",
        started.elapsed()
    );
}

/// A whole record within the first bytes the check reads (here a fatal alert, 7 bytes) is
/// processed at once, not left waiting for more input while the client waits.
#[tokio::test]
async fn a_record_within_the_first_bytes_is_handled_at_once() {
    let _turn = SERIAL.lock().await;
    let mut server = server().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    // alert(21), TLS 1.2, length 2: fatal(2) handshake_failure(40).
    tcp.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
        .await
        .unwrap();
    assert_eq!(server.refused().await, "alert_received");
    drop(tcp);
}
