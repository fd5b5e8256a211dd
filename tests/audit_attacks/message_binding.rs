//! Later prekey messages and re-encoded ratchet keys: the prekey AAD binds the former, and torsion
//! variants never reach a stored or derivable key.

use crate::common::{CONTEXT, bob, established, rng, with, x25519_variants};
use crate::support::BASE_KEY;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{Error, IdentityKeyPair, Session};

/// HELD: later prekey messages, and the skipped keys that open them, use the prekey AAD: a
/// stripped prekey message (embedded normal message alone), a re-encoded base key, another
/// signed prekey id, and a normal message dressed in the prekey fields all fail and change
/// nothing; the authentic ones decrypt exactly once.
#[test]
fn held_later_prekey_messages_and_their_skipped_keys_are_bound_to_the_prekey_aad() {
    for one_time in [false, true] {
        let mut b = bob(117, one_time);
        let mut r = rng(118);
        let alice = IdentityKeyPair::generate(&mut r);
        let mut a = Session::initiate(
            &mut r,
            &alice,
            &b.bundle,
            Trust::FirstUse,
            &Config::new(CONTEXT).allow_classical(),
        )
        .unwrap();
        let m: Vec<_> = (0..3)
            .map(|i| a.encrypt(&mut r, format!("m{i}").as_bytes()).unwrap())
            .collect();
        // The prekey fields (SPEC.md §5.3): the signed prekey id at 66..70, the embedded message
        // from 71, or from 75 after a one-time prekey id.
        let fields = if one_time { 75 } else { 71 };
        let (mut s, _) = Session::respond(
            &b.id,
            &mut b.store,
            &m[2],
            &Config::new(CONTEXT).allow_classical(),
        )
        .unwrap();
        assert_eq!(s.skipped_key_count(), 2);
        let before = s.to_bytes();
        let stripped = m[0][fields..].to_vec();
        assert_eq!(s.decrypt(&stripped).unwrap_err(), Error::DecryptionFailed);
        for v in x25519_variants(&m[0][BASE_KEY]) {
            assert_eq!(
                s.decrypt(&with(&m[0], BASE_KEY, &v)).unwrap_err(),
                Error::SessionMismatch
            );
        }
        assert_eq!(
            s.decrypt(&with(&m[0], 66..70, &9u32.to_be_bytes()))
                .unwrap_err(),
            Error::SessionMismatch
        );
        assert_eq!(s.to_bytes(), before);
        assert_eq!(s.decrypt(&m[0]).unwrap(), b"m0");
        assert_eq!(s.decrypt(&m[0]).unwrap_err(), Error::DuplicateMessage);
        assert_eq!(s.decrypt(&m[1]).unwrap(), b"m1");
        // After the reply Alice sends normal messages; dress one as a prekey message.
        let reply = s.encrypt(&mut r, b"reply").unwrap();
        a.decrypt(&reply).unwrap();
        let n0 = a.encrypt(&mut r, b"n0").unwrap();
        let n1 = a.encrypt(&mut r, b"n1").unwrap();
        assert_eq!(s.decrypt(&n1).unwrap(), b"n1"); // n0's key is now skipped
        let before = s.to_bytes();
        let dressed = [&m[0][..fields], &n0[..]].concat();
        assert_eq!(s.decrypt(&dressed).unwrap_err(), Error::DecryptionFailed);
        assert_eq!(s.to_bytes(), before);
        assert_eq!(s.decrypt(&n0).unwrap(), b"n0");
    }
}

/// HELD: re-encoded ratchet keys (torsion variants) of the current chain, of skipped keys and of
/// an old chain, both while our half-step is deferred (D2) and while our sending chain is live
/// (path D computes a root step the peer never used): every one fails, nothing changes, and the
/// authentic messages decrypt once.
#[test]
fn held_reencoded_ratchet_keys_never_reach_a_stored_or_derivable_key() {
    let mut p = established(121, true);
    let a: Vec<_> = (0..4)
        .map(|i| p.alice.encrypt(&mut p.rng, &[i]).unwrap())
        .collect();
    // The prekey fields with a one-time prekey (SPEC.md §5.3), then the embedded message's ratchet
    // key at 2..34 (§5.2).
    let fields = 75;
    let variants = |msg: &Vec<u8>| -> Vec<Vec<u8>> {
        x25519_variants(&msg[fields + 2..fields + 34])
            .iter()
            .map(|v| with(msg, fields + 2..fields + 34, v))
            .collect()
    };
    p.bob.decrypt(&a[1]).unwrap(); // a[0] skipped; half-step deferred
    let check = |s: &mut Session, msgs: &[&Vec<u8>]| {
        let before = s.to_bytes();
        for m in msgs {
            for v in variants(m) {
                assert!(s.decrypt(&v).is_err());
                assert_eq!(s.to_bytes(), before);
            }
        }
    };
    check(&mut p.bob, &[&a[0], &a[2]]);
    let b0 = p.bob.encrypt(&mut p.rng, b"b0").unwrap(); // sending chain live
    check(&mut p.bob, &[&a[0], &a[2]]);
    p.alice.decrypt(&b0).unwrap();
    let c0 = p.alice.encrypt(&mut p.rng, b"c0").unwrap();
    p.bob.decrypt(&c0).unwrap(); // Alice's first chain is now old (a[2], a[3] stored)
    check(&mut p.bob, &[&a[0], &a[2], &a[3]]);
    p.bob.encrypt(&mut p.rng, b"b1").unwrap();
    check(&mut p.bob, &[&a[0], &a[2], &a[3]]);
    for m in [&a[0], &a[2], &a[3]] {
        p.bob.decrypt(m).unwrap();
        assert_eq!(p.bob.decrypt(m).unwrap_err(), Error::DuplicateMessage);
    }
}
