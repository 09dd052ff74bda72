//! The plain HTTP/1.1 server under the kit's upstreams ([`crate::TestUpstream`],
//! [`crate::body_upstream::BodyUpstream`], [`crate::gated_upstream::GatedUpstream`]): it
//! listens on 127.0.0.1 (an ephemeral port), serves every connection with hyper, counts the
//! connections it accepted and those still open, and stops accepting when dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A running server.
pub(crate) struct Http1Server {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Http1Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Http1Server {
    /// Starts a server answering every request with `handler`; an `Err` from it ends the
    /// connection without an answer.
    pub(crate) async fn start<F, Fut, B, E>(handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<B>, E>> + Send + 'static,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
        E: Into<BoxError>,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("local address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (accepted_, open_) = (Arc::clone(&accepted), Arc::clone(&open));
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                accepted_.fetch_add(1, Ordering::SeqCst);
                open_.fetch_add(1, Ordering::SeqCst);
                let open = Arc::clone(&open_);
                let handler = handler.clone();
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(handler))
                        .await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            addr,
            accepted,
            open,
            task,
        }
    }

    /// How many connections it has accepted.
    pub(crate) fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// How many of them are still open (closed once the peer closed it and the server noticed).
    pub(crate) fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}
