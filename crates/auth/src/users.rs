//! The user table: user names to parsed hashes, plus the decoy for unknown users.

use std::collections::HashMap;

use scrapegate_model::User;

use crate::go_hash::GoBcryptHash;
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

/// A user table built for a reload and not yet in force
/// ([`crate::Authenticator::install_users`]).
pub struct PreparedUsers(pub(crate) UserTable);

impl std::fmt::Debug for PreparedUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedUsers")
            .field("users", &self.0.users.len())
            .finish()
    }
}

/// Parsed users and the decoy at the highest configured cost.
pub(crate) struct UserTable {
    users: HashMap<Box<[u8]>, StoredHash>,
    /// `None` only when there are no users (then nothing is checked at all).
    decoy: Option<StoredHash>,
}

impl UserTable {
    /// Indexes the users and sizes the decoy. A previous decoy of the same cost is kept, so
    /// cached failures of unknown users stay valid across reloads.
    pub(crate) fn build(users: &[User], previous: Option<&UserTable>) -> Self {
        let mut table = HashMap::new();
        for user in users {
            table.insert(
                user.name.as_bytes().to_vec().into_boxed_slice(),
                StoredHash::new(user.hash.clone()),
            );
        }
        let decoy = table.values().map(|h| h.hash.cost).max().map(|cost| {
            match previous.and_then(|p| p.decoy.as_ref()) {
                Some(old) if old.hash.cost == cost => old.clone(),
                _ => StoredHash::new(random_decoy(cost)),
            }
        });
        Self {
            users: table,
            decoy,
        }
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

    fn users(list: &[(&str, &str)]) -> Vec<User> {
        list.iter()
            .map(|(name, hash)| User {
                name: (*name).to_owned(),
                hash: GoBcryptHash::parse(hash).unwrap(),
            })
            .collect()
    }

    #[test]
    fn decoy_takes_the_highest_cost() {
        let t = UserTable::build(&users(&[("carol", C10), ("alice", C12)]), None);
        let (decoy, known) = t.lookup(b"nobody").unwrap();
        assert!(!known);
        assert_eq!(decoy.hash.cost, 12);
        assert!(t.lookup(b"alice").unwrap().1);
    }

    #[test]
    fn decoy_survives_a_reload_at_the_same_cost() {
        let t1 = UserTable::build(&users(&[("carol", C10)]), None);
        let t2 = UserTable::build(&users(&[("dave", C10)]), Some(&t1));
        assert_eq!(
            t1.lookup(b"x").unwrap().0.hash,
            t2.lookup(b"x").unwrap().0.hash
        );
        let t3 = UserTable::build(&users(&[("alice", C12)]), Some(&t2));
        assert_eq!(t3.lookup(b"x").unwrap().0.hash.cost, 12);
    }

    #[test]
    fn empty_table_has_no_decoy() {
        let t = UserTable::build(&[], None);
        assert!(t.is_empty());
        assert!(t.lookup(b"x").is_none());
    }
}
