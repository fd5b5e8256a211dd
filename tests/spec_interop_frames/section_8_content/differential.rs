//! The two implementations side by side over long random conversations (§8 `send`,
//! `set_timer`, `receive`, `accept`, `purge`).

use super::support::{Party, lib_store_to_mine};
use crate::bridge::*;
use crate::dr::Session;
use crate::frame::Start;
use crate::prim::Identity;
use crate::util::{Choice, Rng, hx};
use xchat_protocol as lib;

/// Alice and Bob each run both implementations with the same RNG bytes; every message is
/// delivered (out of order, late, replayed) to both. Wire bytes, results, errors, purge
/// counts and state blobs must be identical at every step.
#[test]
fn session_differential_with_library() {
    for (seed, steps) in [(1u64, 400), (2, 400), (3, 400)] {
        run_differential(seed, steps);
    }
}

fn run_differential(seed: u64, steps: usize) {
    let mut pick = Choice(0x9e37_79b9_7f4a_7c15 ^ seed);
    let mk_party = |s: u8| {
        let seed = [s; 32];
        Party {
            mine: None,
            lib: None,
            id: Identity::from_seed(seed),
            lib_id: lib::IdentityKeyPair::from_seed(&seed),
            clock_skew: 0,
        }
    };
    let mut alice = mk_party(0xa0 + seed as u8);
    let mut bob = mk_party(0xb0 + seed as u8);
    let ctx = b"alice|bob".to_vec();
    let mut lib_store = lib::PreKeyStore::new();
    let mut rng = Rng::stream(seed << 32);
    lib_store.rotate_signed_prekey(&mut rng, &bob.lib_id, 1_750_000_000_000);
    lib_store
        .generate_one_time_prekeys(&mut rng, 2)
        .expect("prekeys");
    let mut store = lib_store_to_mine(&lib_store);
    let opk = if seed.is_multiple_of(2) {
        None
    } else {
        Some(1)
    };
    let lib_bundle = lib_store.bundle(&bob.lib_id, opk).expect("bundle");
    let bundle = store.bundle(&bob.id, opk);
    assert_eq!(lib_bundle.to_bytes(), bundle);

    alice.mine = Some(
        Session::initiate(&mut Rng::stream((seed << 32) | 1), &alice.id, &bundle, &ctx)
            .expect("initiate"),
    );
    alice.lib = Some(
        lib::Session::initiate(
            &mut Rng::stream((seed << 32) | 1),
            &alice.lib_id,
            &lib_bundle,
            lib::Trust::FirstUse,
            &lib::Config::new(&ctx).allow_classical(),
        )
        .expect("initiate"),
    );
    alice.check("initiate");

    let mut clock: u64 = 1_750_000_000_000;
    // (wire, to_bob, delivered)
    let mut flight: Vec<(Vec<u8>, bool, bool)> = Vec::new();
    let durations = [0u32, 1, 10, 60, 3600, u32::MAX];
    let (mut delivered, mut expired, mut purged) = (0, 0, 0);
    for step in 0..steps {
        let what = format!("seed {seed} step {step}");
        let label = (seed << 32) | (step as u64 + 2);
        match pick.below(12) {
            // Send or change the timer (Bob only once he has a session).
            op @ 0..=4 => {
                let from_alice = op < 3 || bob.mine.is_none();
                let p = if from_alice { &mut alice } else { &mut bob };
                let now = p.now(clock);
                let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
                let (w1, w2) = if pick.below(4) == 0 {
                    let d = durations[pick.below(durations.len())];
                    let start = if pick.below(2) == 0 {
                        Start::OnSend
                    } else {
                        Start::OnRead
                    };
                    (
                        m.set_timer(&mut Rng::stream(label), now, d, start),
                        l.set_timer(&mut Rng::stream(label), now, d, to_lib_start(start)),
                    )
                } else {
                    let body = vec![step as u8; pick.below(300)];
                    (
                        m.send(&mut Rng::stream(label), now, &body),
                        l.send(&mut Rng::stream(label), now, &body),
                    )
                };
                assert_eq!(
                    res(&w1.as_ref().map(|w| hx(w))),
                    res(&w2.as_ref().map(|w| hx(w))),
                    "{what}"
                );
                flight.push((w1.expect("sent"), from_alice, false));
                p.check(&what);
            }
            // Deliver a message not yet delivered, or (op 8) replay one.
            op @ 5..=8 => {
                let candidates: Vec<usize> = (0..flight.len())
                    .filter(|&i| flight[i].2 == (op == 8))
                    .collect();
                if candidates.is_empty() {
                    continue;
                }
                let i = candidates[pick.below(candidates.len())];
                flight[i].2 = true;
                let (wire, to_bob) = (flight[i].0.clone(), flight[i].1);
                let p = if to_bob { &mut bob } else { &mut alice };
                let now = p.now(clock);
                let (ours, theirs) = if let (Some(m), Some(l)) = (&mut p.mine, &mut p.lib) {
                    let ours = m.receive(&wire, now);
                    let theirs = l.receive(&wire, now);
                    (ours, lib_outcome(theirs))
                } else {
                    let ours = Session::accept(&p.id, &mut store, &wire, &ctx, now);
                    let theirs = lib::Session::accept(
                        &p.lib_id,
                        &mut lib_store,
                        &wire,
                        &lib::Config::new(&ctx).allow_classical(),
                        now,
                    );
                    assert_eq!(lib_store_to_mine(&lib_store), store, "{what}: store");
                    let ours = ours.map(|(s, r)| {
                        p.mine = Some(s);
                        r
                    });
                    let theirs = theirs.map(|(s, r)| {
                        p.lib = Some(s);
                        from_lib_received(&r)
                    });
                    (ours, theirs)
                };
                assert_eq!(res(&ours), res(&theirs), "{what}");
                delivered += usize::from(ours.is_ok());
                expired += usize::from(ours == Err(crate::dr::Error::Expired));
                p.check(&what);
            }
            // Time passes; the clocks drift.
            9 | 10 => {
                clock += [1_000, 30_000, 400_000, 700_000, 4_000_000][pick.below(5)];
                let skews = [0i64, 0, 200_000, -200_000, 3_600_000, -3_600_000];
                alice.clock_skew = skews[pick.below(skews.len())];
            }
            // Purge.
            _ => {
                for p in [&mut alice, &mut bob] {
                    let now = p.now(clock);
                    if let (Some(m), Some(l)) = (p.mine.as_mut(), p.lib.as_mut()) {
                        let (a, b) = (m.purge(now), l.purge(now));
                        assert_eq!(a, b, "{what}: purge");
                        purged += a;
                        p.check(&what);
                    }
                }
            }
        }
    }
    // The run must have exercised the interesting paths.
    assert!(delivered > 30, "seed {seed}: {delivered} delivered");
    assert!(expired > 0, "seed {seed}: nothing expired");
    let _ = purged;
}
