//! The check order of `Opened::decrypt` and `Opened::respond` (§9.4), both implementations.

use super::support::{lib_open, world};
use crate::bridge::*;
use crate::sealed::{self, SealedError};
use crate::util::{Rng, hx};
use xchat_protocol as lib;

/// The check order of `Opened::decrypt` and `Opened::respond` (§9.4), both implementations.
#[test]
fn opened_check_order_differential() {
    let w = world();
    let now = 1_750_000_000_000;
    let cert = w.alice_cert.encode();
    let alice_prekey = w
        .alice_session
        .clone()
        .send(&mut Rng::stream(1), now, b"hi")
        .expect("send");
    // The same prekey message with IK_A replaced by Bob's key, and with a cut ciphertext.
    let mut other_ik = alice_prekey.clone();
    other_ik[2..34].copy_from_slice(&w.bob.public);
    let cut = |m: &[u8]| m[..75 + 58 + 10].to_vec();
    let inner: Vec<(&str, Vec<u8>)> = vec![
        ("prekey message", alice_prekey.clone()),
        ("prekey message of another IK_A", other_ik.clone()),
        ("prekey message, ciphertext too short", cut(&alice_prekey)),
        ("other IK_A and ciphertext too short", cut(&other_ik)),
        ("empty", Vec::new()),
        ("garbage", b"\x05\x05garbage".to_vec()),
        (
            "a normal message header, truncated",
            b"\x01\x01abc".to_vec(),
        ),
        ("prekey type, truncated", b"\x01\x02abc".to_vec()),
    ];
    // Bob's session answering a first message of Alice (a session whose peer is right).
    let mut a = w.alice_session.clone();
    let mut store = w.store.clone();
    let first = a.send(&mut Rng::stream(2), now, b"first").expect("send");
    let env = sealed::seal(
        &w.alice,
        &cert,
        &w.bob.public,
        &first,
        Rng::stream(3).take(),
    )
    .expect("seal")
    .envelope;
    let o = sealed::open(&w.bob, &[w.root], &[], &env, now).expect("opens");
    let (mut bob, _) = sealed::respond(&o, &w.bob, &mut store, &w.ctx).expect("respond");
    let mut disagreements = Vec::new();
    for (name, m) in &inner {
        let env = sealed::seal(&w.alice, &cert, &w.bob.public, m, Rng::stream(7).take())
            .expect("seal")
            .envelope;
        let o = sealed::open(&w.bob, &[w.root], &[], &env, now + 1).expect("opens");
        let lo = lib_open(&w, &w.lib_bob, &[], &env, now + 1).expect("library opens");
        // respond
        let mut store = w.store.clone();
        let mut lib_store = lib::PreKeyStore::from_bytes(&w.store.encode()).expect("store");
        let ours = sealed::respond(&o, &w.bob, &mut store, &w.ctx).map(|(_, r)| r);
        let theirs = lo
            .respond(
                &w.lib_bob,
                &mut lib_store,
                &lib::Config::new(&w.ctx).allow_classical(),
            )
            .map(|(_, d)| from_lib_received(d.receipt.message().unwrap()));
        if res(&ours) != res(&theirs) {
            disagreements.push(format!(
                "respond, {name}: ours {}, library {}",
                res(&ours),
                res(&theirs)
            ));
        }
        assert_eq!(hx(&lib_store.to_bytes().unwrap()), hx(&store.encode()));
        // decrypt with the wrong session (Alice's own, whose peer is Bob) and with a
        // session of the right peer (Bob's, answering Alice's first message).
        let mut wrong = w.alice_session.clone();
        let mut lib_wrong = lib::Session::from_bytes(&wrong.encode()).expect("session");
        let ours = sealed::decrypt(&o, &mut wrong);
        let theirs = lo
            .decrypt(&mut lib_wrong)
            .map(|d| from_lib_received(d.receipt.message().unwrap()));
        if res(&ours) != res(&theirs) {
            disagreements.push(format!(
                "decrypt (wrong session), {name}: ours {}, library {}",
                res(&ours),
                res(&theirs)
            ));
        }
        assert_eq!(hx(&lib_wrong.to_bytes().unwrap()), hx(&wrong.encode()));
        let mut right = bob.clone();
        let mut lib_right = lib::Session::from_bytes(&right.encode()).expect("session");
        let ours = sealed::decrypt(&o, &mut right);
        let theirs = lo
            .decrypt(&mut lib_right)
            .map(|d| from_lib_received(d.receipt.message().unwrap()));
        if res(&ours) != res(&theirs) {
            disagreements.push(format!(
                "decrypt (right session), {name}: ours {}, library {}",
                res(&ours),
                res(&theirs)
            ));
        }
        assert_eq!(hx(&lib_right.to_bytes().unwrap()), hx(&right.encode()));
    }
    // decrypt through the right session of a message that expired in transit:
    // Opened::decrypt must use the `now` given to open.
    a.set_timer(&mut Rng::stream(4), now, 1, crate::frame::Start::OnSend)
        .expect("timer");
    let late = a.send(&mut Rng::stream(5), now, b"late").expect("send");
    let env = sealed::seal(&w.alice, &cert, &w.bob.public, &late, Rng::stream(6).take())
        .expect("seal")
        .envelope;
    for open_at in [now + 1000, now + 301_001, now + 301_000 + 1_000] {
        let mut b1 = bob.clone();
        let mut lb = lib::Session::from_bytes(&b1.encode()).expect("session");
        let o = sealed::open(&w.bob, &[w.root], &[], &env, open_at).expect("opens");
        let lo = lib_open(&w, &w.lib_bob, &[], &env, open_at).expect("opens");
        let ours = sealed::decrypt(&o, &mut b1);
        // A receipt that delivers nothing is the error this implementation names.
        let theirs = lo
            .decrypt(&mut lb)
            .and_then(|d| lib_outcome(Ok(d.receipt)).map_err(lib::SealedSenderError::Session));
        if res(&ours) != res(&theirs) {
            disagreements.push(format!(
                "decrypt at {open_at}: ours {}, library {}",
                res(&ours),
                res(&theirs)
            ));
        }
        assert_eq!(hx(&lb.to_bytes().unwrap()), hx(&b1.encode()));
    }
    // The on-send timer expired in transit at the last time.
    let o = sealed::open(&w.bob, &[w.root], &[], &env, now + 302_001).expect("opens");
    assert_eq!(
        sealed::decrypt(&o, &mut bob),
        Err(SealedError::Session(crate::dr::Error::Expired))
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
