//! §8.6 purge across timer changes, both implementations.

use super::support::{Party, lib_store_to_mine};
use crate::bridge::*;
use crate::dr::{Received, Session};
use crate::frame::{self, Deadline, Start, Timer};
use crate::prim::Identity;
use crate::util::{Rng, hx};
use xchat_protocol as lib;

/// `send` by both implementations of `p` with the same RNG bytes; the wires must agree.
fn send_both(p: &mut Party, label: u64, now: u64, body: &[u8]) -> Vec<u8> {
    let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
    let a = m.send(&mut Rng::stream(label), now, body).expect("send");
    let b = l.send(&mut Rng::stream(label), now, body).expect("send");
    assert_eq!(hx(&a), hx(&b));
    p.check("send");
    a
}

fn set_timer_both(p: &mut Party, label: u64, now: u64, d: u32, start: Start) -> Vec<u8> {
    let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
    let a = m
        .set_timer(&mut Rng::stream(label), now, d, start)
        .expect("set_timer");
    let b = l
        .set_timer(&mut Rng::stream(label), now, d, to_lib_start(start))
        .expect("set_timer");
    assert_eq!(hx(&a), hx(&b));
    p.check("set_timer");
    a
}

/// `receive` by both; results, errors and blobs must agree.
fn receive_both(p: &mut Party, wire: &[u8], now: u64) -> Result<Received, crate::dr::Error> {
    let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
    let a = m.receive(wire, now);
    let b = lib_outcome(l.receive(wire, now));
    assert_eq!(res(&a), res(&b));
    p.check("receive");
    a
}

/// Raw `decrypt` by both (keys it skips have no skip time).
fn decrypt_both(p: &mut Party, wire: &[u8]) {
    let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
    let a = m.decrypt_with(wire, u64::MAX);
    let b = l.decrypt(wire);
    assert_eq!(res(&a), res(&b));
    a.expect("decrypt");
    p.check("decrypt");
}

fn purge_both(p: &mut Party, now: u64) -> usize {
    let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
    let (a, b) = (m.purge(now), l.purge(now));
    assert_eq!(a, b, "purge at {now}");
    p.check("purge");
    a
}

/// A copy of `p` (the library's session through its blob).
fn fork(p: &Party) -> Party {
    Party {
        mine: p.mine.clone(),
        lib: p
            .lib
            .as_ref()
            .map(|l| lib::Session::from_bytes(&l.to_bytes().unwrap()).expect("blob")),
        id: p.id.clone(),
        lib_id: lib::IdentityKeyPair::from_seed(&p.id.seed),
        clock_skew: 0,
    }
}

fn skip_times(p: &Party) -> Vec<u64> {
    let m = p.mine.as_ref().expect("s");
    m.skipped().iter().map(|e| e.skipped_at).collect()
}

/// Alice and Bob, each in both implementations, with a session established at `now` (Bob
/// accepted Alice's first message, Alice received Bob's reply).
fn established_pair(seed: u8, now: u64) -> (Party, Party) {
    let mk = |s: u8| Party {
        mine: None,
        lib: None,
        id: Identity::from_seed([s; 32]),
        lib_id: lib::IdentityKeyPair::from_seed(&[s; 32]),
        clock_skew: 0,
    };
    let (mut alice, mut bob) = (mk(seed), mk(seed ^ 0x80));
    let ctx = b"purge".to_vec();
    let label = u64::from(seed) << 40;
    let mut lib_store = lib::PreKeyStore::new();
    lib_store.rotate_signed_prekey(&mut Rng::stream(label), &bob.lib_id, 1_750_000_000_000);
    let mut store = lib_store_to_mine(&lib_store);
    let bundle = store.bundle(&bob.id, None);
    let lib_bundle = lib_store.bundle(&bob.lib_id, None).expect("bundle");
    alice.mine = Some(
        Session::initiate(&mut Rng::stream(label | 1), &alice.id, &bundle, &ctx).expect("initiate"),
    );
    alice.lib = Some(
        lib::Session::initiate(
            &mut Rng::stream(label | 1),
            &alice.lib_id,
            &lib_bundle,
            lib::Trust::FirstUse,
            &lib::Config::new(&ctx).allow_classical(),
        )
        .expect("initiate"),
    );
    let first = send_both(&mut alice, label | 2, now, b"first");
    let (s, r) = Session::accept(&bob.id, &mut store, &first, &ctx, now).expect("accept");
    let (ls, lr) = lib::Session::accept(
        &bob.lib_id,
        &mut lib_store,
        &first,
        &lib::Config::new(&ctx).allow_classical(),
        now,
    )
    .expect("accept");
    assert_eq!(r, from_lib_received(&lr));
    bob.mine = Some(s);
    bob.lib = Some(ls);
    bob.check("accept");
    let reply = send_both(&mut bob, label | 3, now, b"reply");
    receive_both(&mut alice, &reply, now).expect("reply");
    (alice, bob)
}

/// §8.6: `purge` bounds a skipped key by the session's timer *at the time of the purge*,
/// from the key's skip time. The timer changing between the skip and the purge: turned on
/// (by a frame that was itself skipped, or one that arrives later), the keys become
/// purgeable; turned off or longer, they are kept. Keys skipped by a raw `decrypt` are never
/// purged. Both implementations agree on every count, result and blob.
#[test]
fn purge_follows_the_timer_at_purge_time() {
    let t0 = 1_750_000_000_000;
    let skew2 = 2 * frame::MAX_CLOCK_SKEW_MS;

    // (1) Off at the skip, on at the purge: m0 is skipped at t while the timer is off;
    // nothing is purged while it stays off; once the timer-on frame has applied, m0's key
    // goes right after t + 60 s + 2 · skew.
    let (mut alice, mut bob) = established_pair(0x31, t0);
    let m0 = send_both(&mut alice, 10, t0, b"m0");
    let m1 = send_both(&mut alice, 11, t0, b"m1");
    let on = set_timer_both(&mut alice, 12, t0, 60, Start::OnSend);
    let t = t0 + 1_000;
    receive_both(&mut bob, &m1, t).expect("m1");
    assert_eq!(skip_times(&bob), [t]);
    assert_eq!(
        purge_both(&mut bob, u64::MAX),
        0,
        "timer off: nothing purged"
    );
    let r = receive_both(&mut bob, &on, t + 5).expect("timer on");
    assert!(r.timer_changed);
    let bound = t + 60_000 + skew2;
    assert_eq!(purge_both(&mut bob, bound), 0);
    // Kept until then, m0 would already be refused as expired past the bound (§8.5).
    let mut late = fork(&bob);
    assert_eq!(res(&receive_both(&mut late, &m0, bound + 1)), "Expired");
    assert_eq!(purge_both(&mut bob, bound + 1), 1);
    assert_eq!(
        res(&receive_both(&mut bob, &m0, bound + 1)),
        "DuplicateMessage"
    );

    // (2) The frame that turns the timer on is among the skipped messages: Bob gets q2
    // (carrying the new timer) first; q0 (timer off) and q1 (the timer change) are skipped at
    // t under the timer that q2 then applies.
    let (mut alice, mut bob) = established_pair(0x32, t0);
    let q0 = send_both(&mut alice, 20, t0, b"q0");
    let q1 = set_timer_both(&mut alice, 21, t0, 30, Start::OnRead);
    let q2 = send_both(&mut alice, 22, t0, b"q2");
    receive_both(&mut bob, &q2, t).expect("q2");
    assert_eq!(skip_times(&bob), [t, t]);
    let bound = t + 30_000 + skew2;
    let mut early = fork(&bob);
    assert_eq!(purge_both(&mut early, bound), 0);
    let r = receive_both(&mut early, &q1, bound).expect("q1 in time");
    assert_eq!(r.deadline, Deadline::AfterRead(30_000));
    assert_eq!(
        purge_both(&mut bob, bound + 1),
        2,
        "on-read bounds skipped keys too"
    );
    for q in [&q0, &q1] {
        assert_eq!(
            res(&receive_both(&mut bob, q, bound + 1)),
            "DuplicateMessage"
        );
    }

    // (3) On at the skip, off at the purge: r0 is skipped under a 60 s timer; r2 turns it
    // off; r0's key is kept however late, and r0 (sent under 60 s) is judged on arrival.
    // s0, sent after the timer went off and skipped by s1, keeps its key and gets `Never`.
    let (mut alice, mut bob) = established_pair(0x33, t0);
    let on = set_timer_both(&mut alice, 30, t0, 60, Start::OnSend);
    receive_both(&mut bob, &on, t0).expect("on");
    let r0 = send_both(&mut alice, 31, t0, b"r0");
    let r1 = send_both(&mut alice, 32, t0, b"r1");
    let off = set_timer_both(&mut alice, 33, t0, 0, Start::OnSend);
    let s0 = send_both(&mut alice, 34, t0, b"s0");
    let s1 = send_both(&mut alice, 35, t0, b"s1");
    receive_both(&mut bob, &r1, t).expect("r1");
    assert_eq!(skip_times(&bob), [t]);
    let mut still_on = fork(&bob);
    assert_eq!(purge_both(&mut still_on, t + 60_000 + skew2 + 1), 1);
    receive_both(&mut bob, &s1, t + 10).expect("s1: timer off");
    let off_v2 = Timer {
        duration_s: 0,
        start: Start::OnSend,
        version: 2,
    };
    assert_eq!(bob.mine.as_ref().expect("s").timer, off_v2);
    assert_eq!(skip_times(&bob), [t, t + 10, t + 10]);
    let much_later = t + 30 * 86_400_000;
    assert_eq!(purge_both(&mut bob, much_later), 0, "timer off: all kept");
    assert_eq!(purge_both(&mut bob, u64::MAX), 0);
    let r = receive_both(&mut bob, &s0, much_later).expect("s0");
    assert_eq!(r.deadline, Deadline::Never);
    let r = receive_both(&mut bob, &off, much_later).expect("the timer change");
    assert_eq!(r.deadline, Deadline::Never);
    assert_eq!(res(&receive_both(&mut bob, &r0, much_later)), "Expired");

    // (4) Longer at the purge: a 60 s timer at the skip, one hour at the purge.
    let (mut alice, mut bob) = established_pair(0x34, t0);
    let on = set_timer_both(&mut alice, 40, t0, 60, Start::OnSend);
    receive_both(&mut bob, &on, t0).expect("on");
    let _p0 = send_both(&mut alice, 41, t0, b"p0");
    let p1 = send_both(&mut alice, 42, t0, b"p1");
    let longer = set_timer_both(&mut alice, 43, t0, 3600, Start::OnSend);
    receive_both(&mut bob, &p1, t).expect("p1");
    receive_both(&mut bob, &longer, t + 1).expect("longer");
    assert_eq!(purge_both(&mut bob, t + 60_000 + skew2 + 1), 0);
    assert_eq!(purge_both(&mut bob, t + 3_600_000 + skew2), 0);
    assert_eq!(purge_both(&mut bob, t + 3_600_000 + skew2 + 1), 1);

    // (5) Keys skipped by a raw `decrypt` have no skip time: never purged, timer on or not;
    // a `receive` later on the same session records its own.
    let (mut alice, mut bob) = established_pair(0x35, t0);
    let on = set_timer_both(&mut alice, 50, t0, 1, Start::OnSend);
    receive_both(&mut bob, &on, t0).expect("on");
    let w: Vec<Vec<u8>> = (0..4u64)
        .map(|i| send_both(&mut alice, 51 + i, t0, b"w"))
        .collect();
    decrypt_both(&mut bob, &w[1]);
    receive_both(&mut bob, &w[3], t).expect("w3");
    assert_eq!(skip_times(&bob), [u64::MAX, t]);
    assert_eq!(purge_both(&mut bob, u64::MAX), 1);
    assert_eq!(skip_times(&bob), [u64::MAX]);
}
