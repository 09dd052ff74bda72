//! Client certificate identity: subject and SANs in Go's text forms, and the
//! `client_allowed_sans` exact-match check (spec §5.6).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Who the client proved to be, from its leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// True when the chain was verified (the verifying modes); false for the
    /// `RequestClientCert`/`RequireAnyClientCert` modes, where anyone can forge the contents.
    pub verified: bool,
    /// The subject distinguished name, RFC 4514 style.
    pub subject: String,
    /// DNS, email, IP (Go's text form) and URI SANs, in certificate order.
    pub sans: Vec<String>,
}

/// Subject and SANs of a DER leaf certificate; `None` if it does not parse.
pub(crate) fn subject_and_sans(der: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let subject = cert.subject().to_string();
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                    sans.push((*s).to_owned())
                }
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = go_ip_string(bytes) {
                        sans.push(ip)
                    }
                }
                _ => {}
            }
        }
    }
    Some((subject, sans))
}

/// Go's `net.IP.String()`: IPv4 (and IPv4-mapped IPv6) dotted, other IPv6 per RFC 5952.
/// Other lengths are skipped (Go's x509 parser rejects them).
fn go_ip_string(bytes: &[u8]) -> Option<String> {
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => {
            let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?);
            match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            }
        }
        _ => return None,
    };
    Some(ip.to_string())
}

/// Why a leaf failed the allow-list.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SanRejection {
    /// The certificate did not parse.
    Unparsable,
    /// No SAN is in the list (an empty list denies everyone).
    NotAllowed,
}

/// Exact, case-sensitive match of any leaf SAN against the allow-list.
pub(crate) fn check_allowed(der: &[u8], allowed: &[String]) -> Result<(), SanRejection> {
    let (_, sans) = subject_and_sans(der).ok_or(SanRejection::Unparsable)?;
    if sans.iter().any(|san| allowed.iter().any(|a| a == san)) {
        Ok(())
    } else {
        Err(SanRejection::NotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_forms_follow_go() {
        assert_eq!(go_ip_string(&[127, 0, 0, 1]).unwrap(), "127.0.0.1");
        let mapped = Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped().octets();
        assert_eq!(go_ip_string(&mapped).unwrap(), "10.1.2.3");
        assert_eq!(go_ip_string(&Ipv6Addr::LOCALHOST.octets()).unwrap(), "::1");
        let v6: Ipv6Addr = "2001:db8:0:0:1:0:0:1".parse().unwrap();
        assert_eq!(go_ip_string(&v6.octets()).unwrap(), "2001:db8::1:0:0:1");
        assert!(go_ip_string(&[1, 2, 3]).is_none());
    }
}
