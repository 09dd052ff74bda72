//! The user table: user names to parsed hashes, plus the decoy for unknown users.

use std::collections::HashMap;

use crate::go_hash::{GoBcryptError, GoBcryptHash};
use crate::key::HashFingerprint;
use crate::verify::random_decoy;

/// A parsed hash and its cache-key fingerprint, computed once at load.
#[derive(Clone)]
pub(crate) struct StoredHash {
    pub(crate) hash: GoBcryptHash,
    pub(crate) fingerprint: HashFingerprint,
}

impl StoredHash {
    fn new(hash: GoBcryptHash) -> Self {
        let fingerprint = HashFingerprint::of(&hash);
        Self { hash, fingerprint }
    }
}

/// Parsed users and the decoy at the highest configured cost.
pub(crate) struct UserTable {
    users: HashMap<Box<[u8]>, StoredHash>,
    /// `None` only when there are no users (then nothing is checked at all).
    decoy: Option<StoredHash>,
}

impl UserTable {
    /// Parses every hash (Go's rules) and sizes the decoy. A previous decoy of the same cost is
    /// kept, so cached failures of unknown users stay valid across reloads.
    pub(crate) fn build<'a>(
        users: impl IntoIterator<Item = (&'a str, &'a str)>,
        previous: Option<&UserTable>,
    ) -> Result<Self, GoBcryptError> {
        let mut table = HashMap::new();
        for (name, hash) in users {
            table.insert(
                name.as_bytes().to_vec().into_boxed_slice(),
                StoredHash::new(GoBcryptHash::parse(hash)?),
            );
        }
        let decoy = table.values().map(|h| h.hash.cost).max().map(|cost| {
            match previous.and_then(|p| p.decoy.as_ref()) {
                Some(old) if old.hash.cost == cost => old.clone(),
                _ => StoredHash::new(random_decoy(cost)),
            }
        });
        Ok(Self {
            users: table,
            decoy,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The hash to verify `name` against and whether the user exists. `None` with no users.
    pub(crate) fn lookup(&self, name: &[u8]) -> Option<(&StoredHash, bool)> {
        match self.users.get(name) {
            Some(hash) => Some((hash, true)),
            None => self.decoy.as_ref().map(|d| (d, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C10: &str = "$2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu";
    const C12: &str = "$2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby";

    #[test]
    fn decoy_takes_the_highest_cost() {
        let t = UserTable::build([("carol", C10), ("alice", C12)], None).unwrap();
        let (decoy, known) = t.lookup(b"nobody").unwrap();
        assert!(!known);
        assert_eq!(decoy.hash.cost, 12);
        assert!(t.lookup(b"alice").unwrap().1);
    }

    #[test]
    fn decoy_survives_a_reload_at_the_same_cost() {
        let t1 = UserTable::build([("carol", C10)], None).unwrap();
        let t2 = UserTable::build([("dave", C10)], Some(&t1)).unwrap();
        assert_eq!(
            t1.lookup(b"x").unwrap().0.hash,
            t2.lookup(b"x").unwrap().0.hash
        );
        let t3 = UserTable::build([("alice", C12)], Some(&t2)).unwrap();
        assert_eq!(t3.lookup(b"x").unwrap().0.hash.cost, 12);
    }

    #[test]
    fn invalid_hash_is_refused_with_go_text() {
        let err = UserTable::build([("x", "nope")], None).err().unwrap();
        assert_eq!(
            err.to_string(),
            "crypto/bcrypt: hashedSecret too short to be a bcrypted password"
        );
    }

    #[test]
    fn empty_table_has_no_decoy() {
        let t = UserTable::build([], None).unwrap();
        assert!(t.is_empty());
        assert!(t.lookup(b"x").is_none());
    }
}
