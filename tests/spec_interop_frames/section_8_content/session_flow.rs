//! Sessions carrying frames: the `session_flow` replay, negative receive vectors, timer version
//! exhaustion, and our frames received by the library.

use crate::bridge::*;
use crate::dr::{Received, Session, Store};
use crate::frame::{self, Start, Timer};
use crate::prim::Identity;
use crate::util::{Rng, assert_state, assert_state_opt, draws, h, h32, hb, hx, load, n, s, u64d};
use std::collections::HashMap;
use xchat_protocol as lib;

/// Replays `session_flow` from its setup: every wire byte, result, error, purge count, timer
/// and state blob.
#[test]
fn session_flow_replay() {
    let v = load("content.json");
    let f = &v["session_flow"];
    let alice = Identity::from_seed(h32(s(f, "alice_identity_seed")));
    let bob = Identity::from_seed(h32(s(f, "bob_identity_seed")));
    let ctx = hb(f, "context");
    let mut store = Store::decode(&hb(f, "bob_prekey_store")).expect("store");
    assert_state(
        &store.encode(),
        s(f, "bob_prekey_store"),
        "bob_prekey_store",
    );
    let bundle = hb(f, "bundle");
    let opk = n(f, "one_time_prekey_id") as u32;
    assert_eq!(hx(&store.bundle(&bob, Some(opk))), s(f, "bundle"));
    let mut rng = Rng::script(draws(&f["initiate_rng_draws"]));
    let mut a = Session::initiate(&mut rng, &alice, &bundle, &ctx).expect("initiate");
    assert!(rng.exhausted());
    assert_state(
        &a.encode(),
        s(f, "alice_state_initial"),
        "alice_state_initial",
    );
    let mut b: Option<Session> = None;
    let mut wires: HashMap<String, Vec<u8>> = HashMap::new();
    let events = f["events"].as_array().expect("events");
    assert_eq!(events.len(), 24);
    let mut purged_total = 0;
    for e in events {
        let step = n(e, "step");
        let now = u64d(e, "now_ms");
        let is_alice = s(e, "actor") == "alice";
        let blob = |x: &Option<&mut Session>| x.as_ref().map(|x| x.encode());
        {
            let me = if is_alice { Some(&mut a) } else { b.as_mut() };
            let what = format!("step {step}: state_before");
            assert_state_opt(blob(&me).as_deref(), e["state_before"].as_str(), &what);
        }
        match s(e, "action") {
            "send" | "set_timer" => {
                let me = if is_alice {
                    &mut a
                } else {
                    b.as_mut().expect("bob")
                };
                let mut rng = Rng::script(draws(&e["rng_draws"]));
                let wire = if s(e, "action") == "send" {
                    me.send(&mut rng, now, &hb(e, "body"))
                } else {
                    let start = match s(e, "start") {
                        "on_send" => Start::OnSend,
                        _ => Start::OnRead,
                    };
                    me.set_timer(&mut rng, now, n(e, "duration_s") as u32, start)
                }
                .expect("send");
                assert!(rng.exhausted(), "step {step}: draws");
                assert_eq!(hx(&wire), s(e, "wire"), "step {step}: wire");
                assert_eq!(me.timer, timer_from_json(&e["timer_after"]));
                wires.insert(s(e, "message").to_string(), wire);
            }
            "receive" => {
                let wire = wires[s(e, "message")].clone();
                let result: Result<Received, _> = if s(e, "operation") == "Session::accept" {
                    let before = s(e, "prekey_store_before");
                    assert_state(&store.encode(), before, "prekey_store_before");
                    let r = Session::accept(&bob, &mut store, &wire, &ctx, now);
                    let after = s(e, "prekey_store_after");
                    assert_state(&store.encode(), after, "prekey_store_after");
                    r.map(|(session, received)| {
                        b = Some(session);
                        received
                    })
                } else {
                    let me = if is_alice {
                        &mut a
                    } else {
                        b.as_mut().expect("bob")
                    };
                    me.receive(&wire, now)
                };
                match (&result, e["error"].as_str()) {
                    (Ok(r), None) => assert_eq!(received_json(r), e["result"], "step {step}"),
                    (Err(err), Some(want)) => assert_eq!(format!("{err:?}"), want),
                    (other, want) => panic!("step {step}: got {other:?}, want {want:?}"),
                }
                let me = if is_alice {
                    &a
                } else {
                    b.as_ref().expect("bob")
                };
                assert_eq!(me.timer, timer_from_json(&e["timer_after"]), "step {step}");
            }
            "purge" => {
                let me = if is_alice {
                    &mut a
                } else {
                    b.as_mut().expect("bob")
                };
                let purged = me.purge(now);
                assert_eq!(purged as u64, n(e, "purged"), "step {step}");
                purged_total += purged;
            }
            other => panic!("action {other}"),
        }
        let me = if is_alice { Some(&mut a) } else { b.as_mut() };
        let what = format!("step {step}: state_after");
        assert_state_opt(blob(&me).as_deref(), e["state_after"].as_str(), &what);
    }
    assert_eq!(purged_total, 1);
}

#[test]
fn negative_receive_vectors() {
    let v = load("negative.json");
    let mut count = 0;
    for e in v["entries"].as_array().expect("entries") {
        if s(e, "operation") != "Session::receive" {
            continue;
        }
        count += 1;
        let input = &e["input"];
        let mut session = Session::decode(&hb(input, "session")).expect("session blob");
        let got = session.receive(&hb(input, "message"), u64d(input, "now_ms"));
        assert_eq!(
            format!("{:?}", got.expect_err("fails")),
            s(e, "expected_error")
        );
        assert_state(&session.encode(), s(e, "session_after"), s(e, "name"));
    }
    assert_eq!(count, 2);
}

/// §8.3: at version 2^32 − 1 `set_timer` is `TimerVersionExhausted` and changes nothing.
#[test]
fn timer_version_exhaustion_matches_library() {
    let v = load("content.json");
    let f = &v["session_flow"];
    let alice = Identity::from_seed(h32(s(f, "alice_identity_seed")));
    let mut mine = Session::initiate(
        &mut Rng::script(draws(&f["initiate_rng_draws"])),
        &alice,
        &hb(f, "bundle"),
        &hb(f, "context"),
    )
    .expect("initiate");
    mine.timer = Timer {
        duration_s: 60,
        start: Start::OnSend,
        version: u32::MAX - 1,
    };
    let mut theirs = lib::Session::from_bytes(&mine.encode()).expect("library loads our blob");
    for (i, (d, start)) in [(30, Start::OnRead), (10, Start::OnSend), (0, Start::OnRead)]
        .into_iter()
        .enumerate()
    {
        let a = mine.set_timer(&mut Rng::stream(i as u64), 7, d, start);
        let b = theirs.set_timer(&mut Rng::stream(i as u64), 7, d, to_lib_start(start));
        assert_eq!(res(&a), res(&b));
        assert_eq!(a.is_err(), i > 0, "only the first change fits");
        assert_eq!(mine.timer.version, u32::MAX);
        assert_eq!(hx(&mine.encode()), hx(&theirs.to_bytes().unwrap()));
    }
    assert_eq!(
        mine.timer,
        Timer {
            duration_s: 30,
            start: Start::OnRead,
            version: u32::MAX
        }
    );
    // Failing, neither draws from the RNG (a script with no draws panics on any).
    assert!(
        mine.set_timer(&mut Rng::script(Vec::new()), 8, 5, Start::OnSend)
            .is_err()
    );
    assert!(
        theirs
            .set_timer(&mut Rng::script(Vec::new()), 8, 5, lib::TimerStart::OnSend)
            .is_err()
    );
}

/// Frames this file builds, sent inside messages, are received by the library (and a
/// malformed one is `InvalidContent` for both).
#[test]
fn library_receives_our_frames() {
    let v = load("content.json");
    let f = &v["session_flow"];
    let alice = Identity::from_seed(h32(s(f, "alice_identity_seed")));
    let bob_lib = lib::IdentityKeyPair::from_seed(&h32(s(f, "bob_identity_seed")));
    let ctx = hb(f, "context");
    let mut mine = Session::initiate(
        &mut Rng::script(draws(&f["initiate_rng_draws"])),
        &alice,
        &hb(f, "bundle"),
        &ctx,
    )
    .expect("initiate");
    let frames: Vec<Vec<u8>> = v["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|x| hb(x, "bytes"))
        .collect();
    let mut store = lib::PreKeyStore::from_bytes(&hb(f, "bob_prekey_store")).expect("store");
    let first = mine
        .encrypt(&mut Rng::stream(1), &frames[0])
        .expect("encrypt");
    let (mut bob, r) = lib::Session::accept(
        &bob_lib,
        &mut store,
        &first,
        &lib::Config::new(&ctx).allow_classical(),
        1_750_000_000_100,
    )
    .expect("accept");
    assert_eq!(from_lib_received(&r).body, b"");
    for (i, fr) in frames.iter().enumerate().skip(1) {
        let wire = mine
            .encrypt(&mut Rng::stream(i as u64 + 1), fr)
            .expect("encrypt");
        let want = frame::decode(fr).expect("decodes");
        let now = want.sent_at_ms + 1;
        let got = from_lib_received(
            &bob.receive(&wire, now)
                .expect("receive")
                .into_message()
                .unwrap(),
        );
        assert_eq!(
            (got.kind, &got.body, got.sent_at_ms),
            (want.kind, &want.body, want.sent_at_ms)
        );
        assert_eq!(got.timer, want.timer);
        let effective = Timer::more_private(&want.timer, &from_lib_timer(&bob.timer()));
        assert_eq!(
            Some(got.deadline),
            frame::deadline(want.sent_at_ms, &effective, now)
        );
    }
    let bad = h("6e6f742061206672616d65");
    let wire = mine.encrypt(&mut Rng::stream(99), &bad).expect("encrypt");
    assert_eq!(
        format!("{:?}", bob.receive(&wire, 0).expect("authentic")),
        "Unreadable(UnknownVersion(110))"
    );
}
