//! Opening listening sockets: `--web.listen-address` values and systemd socket activation.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// Listen backlog: enough for a burst of scrapers reconnecting at once.
const BACKLOG: i32 = 1024;

/// Opens one listener for a Go-style address (`:9443`, `127.0.0.1:9443`, `[::1]:9443`,
/// `localhost:9443`). `:PORT` listens on every interface, IPv6 and IPv4 (dual-stack), falling
/// back to IPv4 only when the machine has no IPv6.
pub fn bind(addr: &str) -> io::Result<TcpListener> {
    let std_listener = bind_std(addr)?;
    std_listener.set_nonblocking(true)?;
    TcpListener::from_std(std_listener)
}

fn bind_std(addr: &str) -> io::Result<std::net::TcpListener> {
    if let Some(port) = addr.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| invalid(addr))?;
        let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        return match bind_socket(any6, Some(false)) {
            Ok(l) => Ok(l),
            Err(e) if ipv6_unavailable(&e) => bind_socket(
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                None,
            ),
            Err(e) => Err(e),
        };
    }
    let resolved: Vec<SocketAddr> = addr.to_socket_addrs().map_err(|_| invalid(addr))?.collect();
    let mut last = None;
    for sa in resolved {
        let v6only = sa.is_ipv6().then_some(true);
        match bind_socket(sa, v6only) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| invalid(addr)))
}

fn bind_socket(sa: SocketAddr, v6only: Option<bool>) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))?;
    if let Some(only) = v6only {
        socket.set_only_v6(only)?;
    }
    // Restarting the gateway must not wait for TIME_WAIT sockets of the previous run.
    socket.set_reuse_address(true)?;
    socket.bind(&sa.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

fn ipv6_unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
}

fn invalid(addr: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("listen tcp {addr}: invalid listen address"),
    )
}

/// The listeners systemd passed (`LISTEN_PID`/`LISTEN_FDS`, fds 3 onwards).
///
/// Fails with the toolkit's text when there are none.
pub fn systemd_listeners() -> io::Result<Vec<TcpListener>> {
    let pid_matches = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    if !pid_matches || count <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no socket activation file descriptors found",
        ));
    }
    const SD_LISTEN_FDS_START: i32 = 3;
    let mut out = Vec::new();
    for fd in SD_LISTEN_FDS_START..SD_LISTEN_FDS_START.saturating_add(count) {
        // SAFETY: systemd hands these descriptors to this process (LISTEN_PID matched) and
        // nothing else in the process owns them; each is wrapped exactly once.
        let std_listener = unsafe {
            use std::os::fd::FromRawFd;
            // Mark close-on-exec so children never inherit the listening sockets.
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            std::net::TcpListener::from_raw_fd(fd)
        };
        std_listener.set_nonblocking(true)?;
        out.push(TcpListener::from_std(std_listener)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_loopback_v4_and_v6() {
        let l4 = bind("127.0.0.1:0").unwrap();
        assert!(l4.local_addr().unwrap().ip().is_loopback());
        if let Ok(l6) = bind("[::1]:0") {
            assert!(l6.local_addr().unwrap().is_ipv6());
        }
    }

    #[tokio::test]
    async fn port_only_means_all_interfaces() {
        let l = bind(":0").unwrap();
        assert!(l.local_addr().unwrap().ip().is_unspecified());
    }

    #[tokio::test]
    async fn junk_is_refused() {
        assert!(bind("not an address").is_err());
        assert!(bind(":http").is_err());
    }
}
