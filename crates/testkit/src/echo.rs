//! An echo server behind any handshake: every accepted connection runs the handshake in its
//! own task (as the gateway does), reports the outcome, and then echoes what it reads. Used to
//! test acceptors without an HTTP stack on top.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::wait::DEADLINE;

/// The server side of one connection: what the handshake established, or why it refused
/// (a short reason label).
pub type Outcome<I> = Result<I, &'static str>;

/// An echo server on 127.0.0.1; the accept loop stops when it is dropped.
pub struct EchoServer<I> {
    /// Where it listens.
    pub addr: SocketAddr,
    outcomes: mpsc::UnboundedReceiver<Outcome<I>>,
    task: JoinHandle<()>,
}

impl<I> Drop for EchoServer<I> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<I: Send + 'static> EchoServer<I> {
    /// Listens on 127.0.0.1:0 and runs `handshake` on each accepted connection.
    pub async fn start<H, F, S>(handshake: H) -> Self
    where
        H: Fn(TcpStream) -> F + Send + Sync + 'static,
        F: Future<Output = Result<(S, I), &'static str>> + Send + 'static,
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let handshake = Arc::new(handshake);
        let (tx, outcomes) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let tx = tx.clone();
                let handshake = Arc::clone(&handshake);
                tokio::spawn(async move {
                    match handshake(tcp).await {
                        Ok((stream, info)) => {
                            let _ = tx.send(Ok(info));
                            echo_until_closed(stream).await;
                        }
                        Err(reason) => {
                            let _ = tx.send(Err(reason));
                        }
                    }
                });
            }
        });
        Self {
            addr,
            outcomes,
            task,
        }
    }

    /// The next connection's outcome (bounded by [`DEADLINE`]).
    pub async fn outcome(&mut self) -> Outcome<I> {
        tokio::time::timeout(DEADLINE, self.outcomes.recv())
            .await
            .expect("server outcome in time")
            .expect("server running")
    }
}

impl<I: Send + std::fmt::Debug + 'static> EchoServer<I> {
    /// Waits for the next outcome, expects a refusal and returns its reason.
    pub async fn refused(&mut self) -> &'static str {
        match self.outcome().await {
            Ok(info) => panic!("server accepted: {info:?}"),
            Err(reason) => reason,
        }
    }
}

async fn echo_until_closed<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                let _ = stream.flush().await;
            }
        }
    }
}
