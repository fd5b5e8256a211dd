//! Forged version 4 sessions (SPEC.md §10.0, §10.3 row 8b): bodies re-sealed under another
//! version (a v3-looking body as v4, a v4 body as v1–v3), the KEM fields of a session edited or
//! removed, and random edits — none may panic, decode to bytes that re-serialize differently, or
//! make a message that was already decrypted decrypt again.

use rand_chacha::rand_core::Rng;
use xchat_protocol::{IdentityKeyPair, Session};

use crate::common::rng;
use crate::common::state_codec::{self as codec, SessionBlob, edit_session};
use crate::support::{COMBOS, NOW, classical, first, pq, responder, session_bytes};

/// (name, blob, messages it has decrypted, a message it has not).
type State = (&'static str, Vec<u8>, Vec<Vec<u8>>, Vec<u8>);

/// A scene with sessions in each phase and the messages each has already decrypted.
struct Scene {
    states: Vec<State>,
}

fn scene(seed: u8) -> Scene {
    let mut r = rng(seed);
    let mut bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let (mut a, m0) = first(&mut r, &alice, &bob.bundle(COMBOS[3], 0));
    let awaiting = session_bytes(&a);
    let m1 = a.send(&mut r, NOW, b"one").unwrap();
    let m2 = a.send(&mut r, NOW, b"two").unwrap();
    let (mut b, _) = Session::accept(&bob.id, &mut bob.store, &m0, &pq(), NOW).unwrap();
    b.receive(&m2, NOW).unwrap(); // m1 is skipped: its key is stored
    let responder_blob = session_bytes(&b);
    let reply = b.send(&mut r, NOW, b"reply").unwrap();
    let reply2 = b.send(&mut r, NOW, b"reply 2").unwrap();
    a.receive(&reply, NOW).unwrap();
    let acknowledged = session_bytes(&a);
    // An X3DH session, for the v3 bodies.
    let carol = IdentityKeyPair::generate(&mut r);
    let x3dh = crate::support::x3dh_bundle(bob.store.bundle(&bob.id, None).unwrap(), &bob.store);
    let mut c = Session::initiate(
        &mut r,
        &carol,
        &x3dh,
        xchat_protocol::Trust::FirstUse,
        &classical(),
    )
    .unwrap();
    let c0 = c.send(&mut r, NOW, b"classical").unwrap();
    let c1 = c.send(&mut r, NOW, b"classical 2").unwrap();
    let (d, _) = Session::accept(&bob.id, &mut bob.store, &c0, &classical(), NOW).unwrap();
    Scene {
        states: vec![
            ("initiator awaiting", awaiting, vec![], reply2.clone()),
            ("responder", responder_blob, vec![m0, m2], m1.clone()),
            ("initiator acknowledged", acknowledged, vec![reply], reply2),
            ("x3dh responder", session_bytes(&d), vec![c0], c1),
        ],
    }
}

/// Whether `forged` decodes; if it does: a version 3 or 4 blob re-serializes to itself (an older
/// one to bytes that decode again), and no message in `done` decrypts.
fn judge(forged: &[u8], done: &[Vec<u8>], what: &str) -> bool {
    let Ok(s) = Session::from_bytes(forged) else {
        return false;
    };
    let again = session_bytes(&s);
    if forged[1] >= 3 {
        assert_eq!(again, forged, "{what}: re-serializes differently");
    } else {
        Session::from_bytes(&again).unwrap();
    }
    for (i, m) in done.iter().enumerate() {
        let mut s = Session::from_bytes(&again).unwrap();
        assert!(s.decrypt(m).is_err(), "{what}: message {i} decrypted twice");
    }
    true
}

#[test]
fn held_session_bodies_under_another_version_never_decode_to_another_encoding() {
    let sc = scene(110);
    for (name, blob, done, _) in &sc.states {
        let body = codec::body(blob);
        for v in 1..=4u8 {
            if v == blob[1] {
                continue;
            }
            let forged = codec::seal(blob[0], v, body);
            let decoded = judge(&forged, done, &format!("{name} as v{v}"));
            // Neither direction between 3 and 4 may decode: 4 needs 1573 bytes 3 lacks there.
            if (v, blob[1]) == (4, 3) || (v, blob[1]) == (3, 4) {
                assert!(!decoded, "{name} as v{v} decoded");
            }
        }
    }
}

/// The KEM fields of each PQXDH session rewritten (use, id, one ciphertext byte, all of the
/// ciphertext) or removed (the session re-encoded as X3DH, version 3): every forged state decodes
/// and round-trips, decrypts none of the messages already decrypted, and the responder's still
/// decrypts its skipped message at most once.
#[test]
fn held_forged_kem_fields_of_a_session_never_decrypt_a_message_twice() {
    let sc = scene(111);
    type Edit = fn(&mut SessionBlob);
    let edits: [(&str, Edit); 5] = [
        ("use flipped", |s| s.kem.as_mut().unwrap().usage ^= 1),
        ("id + 1", |s| s.kem.as_mut().unwrap().id += 1),
        ("one CT byte", |s| s.kem.as_mut().unwrap().ct[9] ^= 1),
        ("CT zeroed", |s| s.kem.as_mut().unwrap().ct = vec![0; 1568]),
        ("KEM fields removed", |s| s.kem = None),
    ];
    for (name, blob, done, pending) in sc.states.iter().take(3) {
        for (what, edit) in edits {
            let forged = edit_session(blob, edit);
            let what = format!("{name}: {what}");
            assert!(judge(&forged, done, &what), "{what}: refused");
            let mut s = Session::from_bytes(&forged).unwrap();
            if s.decrypt(pending).is_ok() {
                assert!(s.decrypt(pending).is_err(), "{what}: decrypted twice");
            }
        }
    }
}

/// Random edits (bytes set, cut, inserted) of the PQXDH sessions, re-sealed: no panic, the
/// library and the reference codec agree on what decodes, and whatever decodes round-trips and
/// decrypts nothing twice.
#[test]
fn held_random_edits_of_version_4_sessions_never_panic_and_round_trip() {
    let sc = scene(112);
    let mut r = rng(113);
    let mut accepted = 0;
    for (name, blob, done, _) in sc.states.iter().take(3) {
        let body = codec::body(blob).to_vec();
        for case in 0..400u32 {
            let mut b = body.clone();
            let at = r.next_u32() as usize % b.len();
            match case % 4 {
                0 => b.truncate(at),
                1 => b.insert(at, r.next_u32() as u8),
                2 => {
                    b.remove(at);
                }
                _ => b[at] = r.next_u32() as u8,
            }
            let forged = codec::reseal(blob, &b);
            let reference = SessionBlob::decode(&forged).map(|_| ());
            let lib = Session::from_bytes(&forged).map(|_| ());
            assert_eq!(
                lib.map_err(|e| format!("{e:?}")),
                reference.map_err(|e| format!("{e:?}")),
                "{name}, case {case}"
            );
            accepted += usize::from(judge(&forged, done, &format!("{name}, case {case}")));
        }
    }
    assert!(accepted > 100, "only {accepted} edits decoded");
}
