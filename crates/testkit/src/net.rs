//! Loopback addresses for tests: everything a test starts listens on 127.0.0.1, and clients
//! may connect from any address of 127.0.0.0/8 (each is a distinct client IP on Linux).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

/// 127.0.0.1, the peer address of every local client.
pub const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Parses an IP address literal (panics on a typo in a test).
pub fn ip(text: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is not an IP address: {e}"))
}

/// A loopback address with a port that was free a moment ago (bound, noted, closed): for a
/// program that must be told its port, or for a port nothing listens on.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
}

/// A TCP connection (no Nagle) to `to`, from the loopback address `from` when given (any of
/// 127.0.0.0/8 works on Linux without configuration, so each is a client IP of its own).
pub async fn tcp_from(from: Option<Ipv4Addr>, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    if let Some(ip) = from {
        sock.bind(SocketAddr::from((ip, 0)))?;
    }
    let tcp = sock.connect(to).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}
