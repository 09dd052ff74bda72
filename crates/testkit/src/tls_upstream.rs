//! The kit's upstream ([`crate::upstream`], same answers) behind TLS or on a unix socket: an
//! `https://` exporter signed by a test CA, optionally requiring a client certificate, whose
//! certificate and client CA can be switched while it serves ([`TlsUpstream::set_tls`]), and
//! an exporter listening on a unix socket that can be removed and brought back.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;

use crate::pki::{Ca, Leaf};
use crate::upstream::{Seen, UpstreamOptions, answer};

/// What [`answer`] needs, shared by every connection of one upstream.
type State = Arc<(UpstreamOptions, Arc<Mutex<Vec<Seen>>>, Arc<AtomicUsize>)>;

/// Serves one connection (HTTP/1.1, or HTTP/2 when the client speaks it) until it ends.
fn serve_connection<IO>(io: IO, state: State) -> JoinHandle<()>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let state = Arc::clone(&state);
            async move {
                let (opts, seen, hits) = &*state;
                Ok::<_, Infallible>(answer(opts, seen, hits, req).await)
            }
        });
        let _ = auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(io), svc)
            .await;
    })
}

fn new_state(opts: UpstreamOptions) -> State {
    Arc::new((opts, Arc::default(), Arc::default()))
}

/// A TLS server configuration for `leaf`, offering h2 and HTTP/1.1, requiring a client
/// certificate signed by `client_ca` when given.
pub fn server_config(leaf: &Leaf, client_ca: Option<&Ca>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.cert_der.clone()).expect("client CA");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(vec![leaf.cert_der.clone()], leaf.key_der())
        .expect("server certificate");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// An `https://` upstream on 127.0.0.1.
pub struct TlsUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    config: Arc<Mutex<Arc<ServerConfig>>>,
    state: State,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsUpstream {
    /// Starts serving `config` (see [`server_config`]), answering as `opts` says.
    pub async fn start(config: Arc<ServerConfig>, opts: UpstreamOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind TLS upstream");
        let addr = listener.local_addr().expect("local address");
        let config = Arc::new(Mutex::new(config));
        let state = new_state(opts);
        let handshakes = Arc::new(AtomicUsize::new(0));
        let task = {
            let (config, state, handshakes) = (
                Arc::clone(&config),
                Arc::clone(&state),
                Arc::clone(&handshakes),
            );
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let current = Arc::clone(&config.lock().unwrap_or_else(|p| p.into_inner()));
                    let (state, handshakes) = (Arc::clone(&state), Arc::clone(&handshakes));
                    tokio::spawn(async move {
                        let acceptor = tokio_rustls::TlsAcceptor::from(current);
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            handshakes.fetch_add(1, Ordering::SeqCst);
                            drop(serve_connection(tls, state));
                        }
                    });
                }
            })
        };
        Self {
            addr,
            config,
            state,
            handshakes,
            task,
        }
    }

    /// New connections get `config` from now on; open ones keep theirs.
    pub fn set_tls(&self, config: Arc<ServerConfig>) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }

    /// `https://localhost:<port>` (the kit's server certificates name localhost).
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.state.2.load(Ordering::SeqCst)
    }

    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

/// An upstream on a unix socket.
pub struct UnixUpstream {
    /// The socket's path.
    pub path: PathBuf,
    state: State,
    task: Option<JoinHandle<()>>,
    /// Open connections, closed by [`UnixUpstream::stop`] as an exporter that exits closes
    /// them.
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Drop for UnixUpstream {
    fn drop(&mut self) {
        self.stop();
    }
}

impl UnixUpstream {
    /// Listens on `path` (which must not exist), answering as `opts` says.
    pub fn start(path: &Path, opts: UpstreamOptions) -> Self {
        let mut upstream = Self {
            path: path.to_path_buf(),
            state: new_state(opts),
            task: None,
            connections: Arc::default(),
        };
        upstream.resume();
        upstream
    }

    /// Stops listening, closes every connection and removes the socket, as an exporter that
    /// exits does: new connections then fail with "no such file".
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        for connection in self
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            connection.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }

    /// Listens on the path again.
    pub fn resume(&mut self) {
        self.stop();
        let listener = tokio::net::UnixListener::bind(&self.path).expect("bind unix socket");
        let (state, connections) = (Arc::clone(&self.state), Arc::clone(&self.connections));
        self.task = Some(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let connection = serve_connection(stream, Arc::clone(&state));
                connections
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(connection);
            }
        }));
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.state.2.load(Ordering::SeqCst)
    }
}
