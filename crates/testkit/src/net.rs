//! Loopback addresses for tests: everything a test starts listens on 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr};

/// 127.0.0.1, the peer address of every local client.
pub const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Parses an IP address literal (panics on a typo in a test).
pub fn ip(text: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is not an IP address: {e}"))
}
