//! ECDHE over secp521r1 (`CurveP521`), which rustls' aws-lc-rs provider does not ship.
//!
//! A thin `SupportedKxGroup` over aws-lc-rs's `ECDH_P521`; usable by servers and by clients
//! (the tests and benches use it on the client side too).

use aws_lc_rs::agreement::{self, ECDH_P521, EphemeralPrivateKey, UnparsedPublicKey};
use aws_lc_rs::rand::SystemRandom;
use rustls::crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{Error, NamedGroup, PeerMisbehaved};

/// Length of an uncompressed P-521 point: 0x04 || X (66 bytes) || Y (66 bytes).
const POINT_LEN: usize = 133;

/// The secp521r1 key-exchange group.
pub static SECP521R1: &dyn SupportedKxGroup = &P521;

#[derive(Debug)]
struct P521;

impl SupportedKxGroup for P521 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let private = EphemeralPrivateKey::generate(&ECDH_P521, &SystemRandom::new())
            .map_err(|_| Error::General("P-521 key generation failed".into()))?;
        let public = private
            .compute_public_key()
            .map_err(|_| Error::General("P-521 public key computation failed".into()))?;
        Ok(Box::new(P521Exchange {
            private,
            public: public.as_ref().to_vec(),
        }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::secp521r1
    }
}

struct P521Exchange {
    private: EphemeralPrivateKey,
    public: Vec<u8>,
}

impl ActiveKeyExchange for P521Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        // TLS only allows the uncompressed form; aws-lc would also take compressed points,
        // so the shape is checked here and the on-curve check is left to aws-lc.
        if peer_pub_key.len() != POINT_LEN || peer_pub_key[0] != 0x04 {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        let peer = UnparsedPublicKey::new(&ECDH_P521, peer_pub_key);
        agreement::agree_ephemeral(self.private, peer, (), |secret| {
            Ok(SharedSecret::from(secret))
        })
        .map_err(|()| PeerMisbehaved::InvalidKeyShare.into())
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::secp521r1
    }
}
