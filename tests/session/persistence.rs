//! Transactional failure and persistence: failed decrypts change nothing, state round-trips and
//! rejects corruption, holds no signed prekey secret, and an old snapshot never reuses a nonce.

use crate::common::established;
use xchat_protocol::{DecodeError, Error, IdentityKeyPair, Incoming, PreKeyStore, Session};

#[test]
fn failed_decrypts_leave_the_session_byte_identical() {
    let mut p = established(14, true);
    let m = p.bob.encrypt(&mut p.rng, b"payload").unwrap();
    let before = p.alice.to_bytes();
    for i in 0..m.len() {
        let mut bad = m.clone();
        bad[i] ^= 0x40;
        assert!(p.alice.decrypt(&bad).is_err(), "flip at {i}");
        assert_eq!(p.alice.to_bytes(), before, "flip at {i}");
    }
    for len in 0..m.len() {
        assert!(p.alice.decrypt(&m[..len]).is_err());
    }
    assert_eq!(p.alice.to_bytes(), before);
    assert_eq!(p.alice.decrypt(&m).unwrap(), b"payload");
}

#[test]
fn sessions_survive_persistence_mid_conversation() {
    let mut p = established(15, true);
    let early = p.bob.encrypt(&mut p.rng, b"early").unwrap();
    let later = p.bob.encrypt(&mut p.rng, b"later").unwrap();
    p.alice.decrypt(&later).unwrap();
    let mut alice = Session::from_bytes(&p.alice.to_bytes().unwrap()).unwrap();
    let mut bob = Session::from_bytes(&p.bob.to_bytes().unwrap()).unwrap();
    assert_eq!(alice.to_bytes(), p.alice.to_bytes());
    assert_eq!(alice.decrypt(&early).unwrap(), b"early");
    let m = alice.encrypt(&mut p.rng, b"after restore").unwrap();
    assert_eq!(bob.decrypt(&m).unwrap(), b"after restore");
    assert_eq!(alice.remote_identity(), p.bob_id.public());
    alice.check_remote_identity(p.bob_id.public()).unwrap();
    assert_eq!(
        alice.check_remote_identity(p.alice_id.public()),
        Err(Error::UntrustedIdentity)
    );
    assert_eq!(bob.remote_identity(), p.alice_id.public());

    let store = PreKeyStore::from_bytes(&p.bob_store.to_bytes().unwrap()).unwrap();
    assert_eq!(store.to_bytes(), p.bob_store.to_bytes());
    let id = IdentityKeyPair::from_bytes(&p.bob_id.to_bytes()).unwrap();
    assert!(id.ct_eq(&p.bob_id));
}

#[test]
fn corrupt_state_is_rejected_with_typed_errors() {
    let p = established(16, true);
    let saved = p.alice.to_bytes().unwrap();
    for i in 0..saved.len() {
        let mut bad = saved.to_vec();
        bad[i] ^= 1;
        assert!(Session::from_bytes(&bad).is_err(), "flip at {i}");
    }
    for len in 0..saved.len() {
        assert!(Session::from_bytes(&saved[..len]).is_err(), "prefix {len}");
    }
    let mut future = saved.to_vec();
    future[1] = 5;
    assert_eq!(
        Session::from_bytes(&future).unwrap_err(),
        DecodeError::UnknownVersion(5)
    );
    // A store blob is not a session blob.
    assert_eq!(
        Session::from_bytes(&p.bob_store.to_bytes().unwrap()).unwrap_err(),
        DecodeError::UnknownType(xchat_protocol::state::KIND_PREKEY_STORE)
    );
}

/// SPEC.md §6.2, §10.3: the signed prekey's secret is the responder's first ratchet key, used for
/// one receiving step; no session blob of either side ever holds it — not while the responder has
/// not answered, not after turns, out-of-order delivery or old chains — with or without a
/// one-time prekey.
#[test]
fn the_signed_prekey_secret_is_in_no_session_blob() {
    for one_time in [true, false] {
        let mut p = established(17, one_time);
        let store = p.bob_store.to_bytes().unwrap();
        // Store layout (§10.2): kind, version, next ids (8), count (1), then the first signed
        // prekey's id (4), created_at (8) and secret (32).
        assert_eq!(store[10], 1, "one signed prekey");
        let spk_secret: [u8; 32] = store[23..55].try_into().unwrap();
        let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(spk_secret));
        assert_eq!(
            public.as_bytes(),
            &store[55..87],
            "the secret read is the signed prekey's"
        );
        let holds = |s: &Session| {
            s.to_bytes()
                .unwrap()
                .windows(32)
                .any(|w| w == spk_secret.as_slice())
        };
        let mut held_back = Vec::new();
        for round in 0..4u8 {
            assert!(!holds(&p.alice) && !holds(&p.bob), "round {round}");
            for i in 0..3u8 {
                let m = p.bob.encrypt(&mut p.rng, &[round, i]).unwrap();
                if i == 1 {
                    held_back.push(m);
                } else {
                    p.alice.decrypt(&m).unwrap();
                }
                assert!(!holds(&p.alice) && !holds(&p.bob), "round {round}.{i}");
            }
            let m = p.alice.encrypt(&mut p.rng, &[round]).unwrap();
            p.bob.decrypt(&m).unwrap();
        }
        for m in held_back {
            p.alice.decrypt(&m).unwrap();
            assert!(!holds(&p.alice) && !holds(&p.bob));
        }
    }
}

#[test]
fn restored_old_state_never_reuses_key_and_nonce() {
    // Alice encrypts, restores an old snapshot, and encrypts a different plaintext at the same
    // chain position: the message key repeats, but the seed (and so key and nonce) differ.
    let mut p = established(17, true);
    let snapshot = p.alice.to_bytes().unwrap();
    let one = p.alice.encrypt(&mut p.rng, b"first plaintext").unwrap();
    let mut old = Session::from_bytes(&snapshot).unwrap();
    let two = old.encrypt(&mut p.rng, b"other plaintext").unwrap();
    let (m1, m2) = (
        Incoming::decode(&one).unwrap(),
        Incoming::decode(&two).unwrap(),
    );
    assert_eq!(m1.message().header, m2.message().header);
    assert_ne!(m1.message().seed, m2.message().seed);
    // Both still decrypt (same position, one after the other is a duplicate).
    assert_eq!(p.bob.decrypt(&one).unwrap(), b"first plaintext");
}
