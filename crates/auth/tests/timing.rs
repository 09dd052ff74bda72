//! Timing: an unknown user costs the same as a known user with a wrong password, because the
//! decoy has the configured cost. Statistical and generous: medians of cold checks, 1.5×.

mod common;

use std::time::{Duration, Instant};

use common::settings;
use scrapegate_auth::{AuthDecision, Authenticator};
use scrapegate_testkit::{LOCAL, basic, hash_cost, users};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_and_wrong_password_take_the_same_time_cold() {
    let h = hash_cost(b"right", 7);
    let a = Authenticator::new(&users(&[("known", h.as_str())]), settings(1, 4));
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    // Interleaved so background load hits both samples alike; distinct passwords keep every
    // check cold.
    for i in 0..11 {
        for (user, samples) in [("known", &mut known), ("nobody", &mut unknown)] {
            let header = basic(user, format!("wrong-{i}").as_bytes());
            let started = Instant::now();
            assert_eq!(
                a.check(Some(header.as_bytes()), LOCAL).await,
                AuthDecision::Deny
            );
            samples.push(started.elapsed());
        }
    }
    assert_eq!(a.metrics().bcrypt_runs(), 22, "every check was cold");
    let (k, u) = (median(known), median(unknown));
    let ratio = k.max(u).as_secs_f64() / k.min(u).as_secs_f64();
    eprintln!("median known-wrong {k:?}, unknown {u:?}, ratio {ratio:.2}");
    assert!(ratio < 1.5, "known {k:?} vs unknown {u:?}");
}
