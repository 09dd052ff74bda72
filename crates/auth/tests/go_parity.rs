//! Go parity through the whole `Authenticator`: header parsing, the decision flow of
//! exporter-toolkit (spec §6.2) and every hash oddity of spec §6.5.

mod common;

use common::settings;
use scrapegate_auth::{AuthDecision, Authenticator, GoBcryptHash};
use scrapegate_testkit::{LOCAL, basic, hash_cost, users};

/// exporter-toolkit testdata, made by Go: carol / carol123 at cost 10.
const CAROL: &str = "$2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu";

async fn check(a: &Authenticator, user: &str, password: &[u8]) -> AuthDecision {
    a.check(Some(basic(user, password).as_bytes()), LOCAL).await
}

#[tokio::test]
async fn no_users_lets_everything_through() {
    let a = Authenticator::new(&users(&[]), settings(1, 4));
    assert!(!a.has_users());
    assert_eq!(a.check(None, LOCAL).await, AuthDecision::Allow);
    assert_eq!(a.check(Some(b"garbage"), LOCAL).await, AuthDecision::Allow);
}

#[tokio::test]
async fn missing_or_malformed_header_is_denied_without_bcrypt() {
    let h = hash_cost(b"pw", 4);
    let a = Authenticator::new(&users(&[("u", h.as_str())]), settings(1, 4));
    assert!(a.has_users());
    for header in [
        None,
        Some(&b""[..]),
        Some(b"Basic"),
        Some(b"Basic dTpwdw"), // no padding
        Some(b"Basic  dTpwdw=="),
        Some(b"Bearer dTpwdw=="),
        Some(b"Basic dXNlcg=="), // "user": no colon
    ] {
        assert_eq!(
            a.check(header, LOCAL).await,
            AuthDecision::Deny,
            "{header:?}"
        );
    }
    assert_eq!(a.metrics().bcrypt_runs(), 0);
    assert_eq!(
        a.check(Some(b"bAsIc dTpwdw=="), LOCAL).await,
        AuthDecision::Allow
    );
}

#[tokio::test]
async fn carol_hash_from_go_verifies() {
    let a = Authenticator::new(&users(&[("carol", CAROL)]), settings(1, 4));
    assert_eq!(check(&a, "carol", b"carol123").await, AuthDecision::Allow);
    assert_eq!(check(&a, "carol", b"carol124").await, AuthDecision::Deny);
    assert_eq!(check(&a, "Carol", b"carol123").await, AuthDecision::Deny);
    // Trailing junk after the hash still authenticates, as in Go.
    let junk = format!("{CAROL}X");
    let a = Authenticator::new(&users(&[("carol", junk.as_str())]), settings(1, 4));
    assert_eq!(check(&a, "carol", b"carol123").await, AuthDecision::Allow);
}

#[tokio::test]
async fn hash_oddities_accepted_or_refused_as_go_does() {
    let good = hash_cost(b"pw", 4);
    assert!(good.starts_with("$2y$04$"));
    let accepted = [
        good.replacen("$2y$", "$2z$", 1),
        good.replacen("$2y$", "$1y$", 1),
        good.replacen("$2y$", "$2$", 1),
        good.replacen("$2y$04$", "$2y$04#", 1),
        format!("{good}trailing junk"),
    ];
    for h in &accepted {
        let a = Authenticator::new(&users(&[("u", h.as_str())]), settings(1, 4));
        assert_eq!(check(&a, "u", b"pw").await, AuthDecision::Allow, "{h}");
        assert_eq!(check(&a, "u", b"px").await, AuthDecision::Deny, "{h}");
    }
    // Invalid salt alphabet: loads, never authenticates.
    let mut bad = good.clone().into_bytes();
    bad[10] = b'-';
    let bad = String::from_utf8(bad).unwrap();
    let a = Authenticator::new(&users(&[("u", bad.as_str())]), settings(1, 4));
    assert_eq!(check(&a, "u", b"pw").await, AuthDecision::Deny);
    // Refused when parsed (the config crate does that at load) with Go's texts.
    for (h, text) in [
        (
            "short",
            "crypto/bcrypt: hashedSecret too short to be a bcrypted password",
        ),
        (
            &*good.replacen("$2y$", "$3y$", 1),
            "crypto/bcrypt: bcrypt algorithm version '3' requested is newer than current version '2'",
        ),
        (
            &*good.replacen("$04$", "$03$", 1),
            "crypto/bcrypt: cost 3 is outside allowed range (4,31)",
        ),
    ] {
        let err = GoBcryptHash::parse(h).unwrap_err();
        assert_eq!(err.to_string(), text);
    }
}

#[tokio::test]
async fn password_bytes_71_72_73() {
    let p72 = vec![b'k'; 72];
    let h72 = hash_cost(&p72, 4);
    let p71 = vec![b'k'; 71];
    let h71 = hash_cost(&p71, 4);
    let a = Authenticator::new(
        &users(&[("u72", h72.as_str()), ("u71", h71.as_str())]),
        settings(2, 8),
    );
    let mut p73 = p72.clone();
    p73.push(b'!');
    // 73 bytes first, while cold: the bcrypt itself ignores the extra byte.
    assert_eq!(
        check(&a, "u72", &p73).await,
        AuthDecision::Allow,
        "72 + extra matches"
    );
    assert_eq!(a.metrics().bcrypt_runs(), 1);
    assert_eq!(check(&a, "u72", &p72).await, AuthDecision::Allow);
    assert_eq!(
        check(&a, "u72", &p71).await,
        AuthDecision::Deny,
        "71 vs 72 differ"
    );
    assert_eq!(check(&a, "u71", &p71).await, AuthDecision::Allow);
    assert_eq!(
        check(&a, "u71", &p72).await,
        AuthDecision::Deny,
        "72 vs 71 differ"
    );

    // Bytes past 72 are not part of the cache key either: suffix variants share the entry.
    let runs = a.metrics().bcrypt_runs();
    for extra in [&b"x"[..], b"yy", &[b'z'; 200]] {
        let mut longer = p72.clone();
        longer.extend_from_slice(extra);
        assert_eq!(check(&a, "u72", &longer).await, AuthDecision::Allow);
    }
    assert_eq!(a.metrics().bcrypt_runs(), runs, "answered from the cache");
}

#[tokio::test]
async fn empty_password_and_colons() {
    let empty = hash_cost(b"", 4);
    let colon = hash_cost(b"a:b", 4);
    let a = Authenticator::new(
        &users(&[
            ("e", empty.as_str()),
            ("c", colon.as_str()),
            ("us:er", colon.as_str()),
        ]),
        settings(2, 8),
    );
    assert_eq!(check(&a, "e", b"").await, AuthDecision::Allow);
    assert_eq!(
        check(&a, "c", b"a:b").await,
        AuthDecision::Allow,
        "password keeps ':'"
    );
    // A configured user name with ':' can never log in: the header splits at the first ':'.
    assert_eq!(check(&a, "us:er", b"a:b").await, AuthDecision::Deny);
    assert_eq!(check(&a, "us", b"er:a:b").await, AuthDecision::Deny);
}

#[tokio::test]
async fn fakepassword_for_unknown_user_fails_cold_and_warm() {
    // Go's own decoy is a real hash of "fakepassword"; configure it for a user to show that
    // the password really matches it, then check it for an unknown user.
    const GO_DECOY: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
    assert!(scrapegate_auth::go_compare(
        &scrapegate_auth::GoBcryptHash::parse(GO_DECOY).unwrap(),
        b"fakepassword"
    ));
    let h = hash_cost(b"pw", 4);
    let a = Authenticator::new(&users(&[("u", h.as_str())]), settings(1, 4));
    assert_eq!(
        check(&a, "nobody", b"fakepassword").await,
        AuthDecision::Deny
    );
    assert_eq!(a.metrics().bcrypt_runs(), 1, "cold: ran against the decoy");
    assert_eq!(
        check(&a, "nobody", b"fakepassword").await,
        AuthDecision::Deny
    );
    assert_eq!(
        a.metrics().failure_hits(),
        1,
        "warm: answered from the failure tier"
    );
    assert_eq!(a.metrics().bcrypt_runs(), 1);
}
