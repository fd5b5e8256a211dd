//! Sessions end to end: X3DH, prekey messages, ratchet turns, out-of-order delivery, limits,
//! replay, transactional failure and persistence.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{CONTEXT, established, rng};
use xchat_protocol::wire::TYPE_PREKEY_MESSAGE;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{DecodeError, Error, IdentityKeyPair, Incoming, Limits, PreKeyStore, Session};

#[test]
fn conversation_with_ratchet_turns_both_ways() {
    let mut p = established(1, true);
    for round in 0..5u8 {
        for i in 0..3u8 {
            let m = p.bob.encrypt(&mut p.rng, &[round, i]).unwrap();
            assert_eq!(p.alice.decrypt(&m).unwrap(), [round, i]);
        }
        let m = p.alice.encrypt(&mut p.rng, &[round]).unwrap();
        assert_eq!(p.bob.decrypt(&m).unwrap(), [round]);
    }
}

#[test]
fn initiator_sends_prekey_messages_until_the_first_reply() {
    let mut p = established(2, true);
    let second = p.alice.encrypt(&mut p.rng, b"second").unwrap();
    assert_eq!(second[1], TYPE_PREKEY_MESSAGE);
    assert!(!p.alice.is_acknowledged());
    assert_eq!(p.bob.decrypt(&second).unwrap(), b"second");

    let reply = p.bob.encrypt(&mut p.rng, b"reply").unwrap();
    assert!(matches!(
        Incoming::decode(&reply).unwrap(),
        Incoming::Message(_)
    ));
    p.alice.decrypt(&reply).unwrap();
    assert!(p.alice.is_acknowledged());
    let third = p.alice.encrypt(&mut p.rng, b"third").unwrap();
    assert!(matches!(
        Incoming::decode(&third).unwrap(),
        Incoming::Message(_)
    ));
    assert_eq!(p.bob.decrypt(&third).unwrap(), b"third");
}

#[test]
fn out_of_order_delivery_across_chains() {
    let mut p = established(3, true);
    let b: Vec<_> = (0..4u8)
        .map(|i| p.bob.encrypt(&mut p.rng, &[i]).unwrap())
        .collect();
    assert_eq!(p.alice.decrypt(&b[3]).unwrap(), [3]);
    let a = p.alice.encrypt(&mut p.rng, b"turn").unwrap();
    p.bob.decrypt(&a).unwrap();
    let b2 = p.bob.encrypt(&mut p.rng, b"new chain").unwrap();
    assert_eq!(p.alice.decrypt(&b2).unwrap(), b"new chain");
    // Old-chain messages still open, each exactly once.
    assert_eq!(p.alice.skipped_key_count(), 3);
    for i in [1usize, 0, 2] {
        assert_eq!(p.alice.decrypt(&b[i]).unwrap(), [i as u8]);
        assert_eq!(p.alice.decrypt(&b[i]), Err(Error::DuplicateMessage));
    }
    assert_eq!(p.alice.skipped_key_count(), 0);
}

#[test]
fn skipped_messages_of_the_previous_chain_are_recovered_with_pn() {
    // Alice's messages 1 and 2 of her first chain are lost until after Bob's reply and
    // Alice's next chain: Bob learns PN from the new chain's header and stores the gap.
    let mut p = established(4, true);
    let a1 = p.alice.encrypt(&mut p.rng, b"a1").unwrap();
    let a2 = p.alice.encrypt(&mut p.rng, b"a2").unwrap();
    let r = p.bob.encrypt(&mut p.rng, b"r").unwrap();
    p.alice.decrypt(&r).unwrap();
    let a3 = p.alice.encrypt(&mut p.rng, b"a3").unwrap();
    assert_eq!(p.bob.decrypt(&a3).unwrap(), b"a3");
    assert_eq!(p.bob.skipped_key_count(), 2);
    assert_eq!(p.bob.decrypt(&a2).unwrap(), b"a2");
    assert_eq!(p.bob.decrypt(&a1).unwrap(), b"a1");
}

#[test]
fn replay_is_rejected_as_duplicate() {
    let mut p = established(5, true);
    let m = p.bob.encrypt(&mut p.rng, b"once").unwrap();
    assert_eq!(p.alice.decrypt(&m).unwrap(), b"once");
    let before = p.alice.to_bytes();
    assert_eq!(p.alice.decrypt(&m), Err(Error::DuplicateMessage));
    assert_eq!(p.alice.to_bytes(), before);
}

#[test]
fn replayed_first_message_cannot_start_a_second_session() {
    for one_time in [true, false] {
        let mut rng = rng(6);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(&mut rng, &bob, 1000);
        store.generate_one_time_prekeys(&mut rng, 1).unwrap();
        let bundle = store.bundle(&bob, one_time.then_some(0)).unwrap();
        let mut s = Session::initiate(
            &mut rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(b""),
        )
        .unwrap();
        let first = s.encrypt(&mut rng, b"x").unwrap();
        Session::respond(&bob, &mut store, &first, &Config::new(b"")).unwrap();
        let again = Session::respond(&bob, &mut store, &first, &Config::new(b"")).unwrap_err();
        let expected = if one_time {
            Error::UnknownOneTimePreKey(0)
        } else {
            Error::DuplicateMessage
        };
        assert_eq!(again, expected);
    }
}

#[test]
fn forged_prekey_message_does_not_burn_the_one_time_prekey() {
    let mut rng = rng(7);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let bundle = store.bundle(&bob, Some(0)).unwrap();
    let mut s = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b""),
    )
    .unwrap();
    let mut first = s.encrypt(&mut rng, b"x").unwrap();
    let last = first.len() - 1;
    first[last] ^= 1;
    let saved = store.to_bytes();
    assert_eq!(
        Session::respond(&bob, &mut store, &first, &Config::new(b"")).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(store.one_time_prekey_count(), 1);
    assert_eq!(store.to_bytes(), saved);
    first[last] ^= 1;
    Session::respond(&bob, &mut store, &first, &Config::new(b"")).unwrap();
    assert_eq!(store.one_time_prekey_count(), 0);
}

#[test]
fn mismatched_context_or_identity_fails_authentication() {
    let mut rng = rng(8);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    let bundle = store.bundle(&bob, None).unwrap();
    let mut s = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b"alice|bob"),
    )
    .unwrap();
    let first = s.encrypt(&mut rng, b"x").unwrap();
    assert_eq!(
        Session::respond(&bob, &mut store, &first, &Config::new(b"alice|eve")).unwrap_err(),
        Error::DecryptionFailed
    );
    // Swapping the initiator identity in the prekey message changes DH1 and the AD.
    let mallory = IdentityKeyPair::generate(&mut rng);
    let mut swapped = first.clone();
    swapped[2..34].copy_from_slice(&mallory.public().to_bytes());
    assert_eq!(
        Session::respond(&bob, &mut store, &swapped, &Config::new(b"alice|bob")).unwrap_err(),
        Error::DecryptionFailed
    );
    Session::respond(&bob, &mut store, &first, &Config::new(b"alice|bob")).unwrap();
}

#[test]
fn prekey_message_of_another_session_is_a_mismatch() {
    let mut p = established(9, true);
    let other = established(10, true);
    let mut alice2 = other.alice;
    let mut rng2 = other.rng;
    let foreign = alice2.encrypt(&mut rng2, b"x").unwrap();
    let before = p.bob.to_bytes();
    assert_eq!(p.bob.decrypt(&foreign), Err(Error::SessionMismatch));
    assert_eq!(p.bob.to_bytes(), before);
    // The initiator never accepts prekey messages.
    let own = p.alice.encrypt(&mut p.rng, b"y").unwrap();
    assert_eq!(p.alice.decrypt(&own), Err(Error::SessionMismatch));
}

#[test]
fn skip_limit_is_enforced_at_the_boundary() {
    let mut p = established(11, true);
    let limits = Limits {
        max_skip: 5,
        ..Limits::default()
    };
    p.alice.set_limits(limits).unwrap();
    let msgs: Vec<_> = (0..8u8)
        .map(|i| p.bob.encrypt(&mut p.rng, &[i]).unwrap())
        .collect();
    // New chain: message index 6 needs 6 skipped keys (> 5): rejected, state unchanged.
    let before = p.alice.to_bytes();
    assert_eq!(p.alice.decrypt(&msgs[6]), Err(Error::TooFarInFuture));
    assert_eq!(p.alice.to_bytes(), before);
    // Index 5 needs exactly 5: accepted.
    assert_eq!(p.alice.decrypt(&msgs[5]).unwrap(), [5]);
    assert_eq!(p.alice.skipped_key_count(), 5);
    assert_eq!(p.alice.decrypt(&msgs[7]).unwrap(), [7]);
    assert_eq!(p.alice.decrypt(&msgs[6]).unwrap(), [6]);
}

#[test]
fn skipped_key_store_is_bounded_and_evicts_oldest() {
    let mut p = established(12, true);
    let limits = Limits {
        max_skip: 4,
        max_skipped_keys: 4,
        ..Limits::default()
    };
    p.alice.set_limits(limits).unwrap();
    let msgs: Vec<_> = (0..8u8)
        .map(|i| p.bob.encrypt(&mut p.rng, &[i]).unwrap())
        .collect();
    p.alice.decrypt(&msgs[4]).unwrap(); // stores keys 0..4
    p.alice.decrypt(&msgs[7]).unwrap(); // stores 5, 6 and evicts 0, 1
    assert_eq!(p.alice.skipped_key_count(), 4);
    assert_eq!(p.alice.decrypt(&msgs[0]), Err(Error::DuplicateMessage));
    assert_eq!(p.alice.decrypt(&msgs[1]), Err(Error::DuplicateMessage));
    assert_eq!(p.alice.decrypt(&msgs[2]).unwrap(), [2]);
}

#[test]
fn lowering_limits_trims_state_so_it_still_restores() {
    let mut p = established(19, true);
    let msgs: Vec<_> = (0..10u8)
        .map(|i| p.bob.encrypt(&mut p.rng, &[i]).unwrap())
        .collect();
    p.alice.decrypt(&msgs[9]).unwrap();
    assert_eq!(p.alice.skipped_key_count(), 9);
    p.alice
        .set_limits(Limits {
            max_skip: 3,
            max_skipped_keys: 3,
            ..Limits::default()
        })
        .unwrap();
    assert_eq!(p.alice.skipped_key_count(), 3);
    let mut restored = Session::from_bytes(&p.alice.to_bytes().unwrap()).unwrap();
    assert_eq!(restored.decrypt(&msgs[8]).unwrap(), [8]);
    assert_eq!(restored.decrypt(&msgs[5]), Err(Error::DuplicateMessage));
}

/// The largest plaintext is exactly `MAX_PLAINTEXT_LEN` bytes (SPEC.md §5.4), on both sides.
#[test]
fn the_plaintext_bound_is_exact() {
    let mut p = established(24, true);
    let max = vec![7u8; xchat_protocol::wire::MAX_PLAINTEXT_LEN];
    let before = p.bob.to_bytes();
    assert_eq!(
        p.bob.encrypt(&mut p.rng, &[max.as_slice(), &[0]].concat()),
        Err(Error::TooLarge)
    );
    assert_eq!(p.bob.to_bytes(), before);
    let wire = p.bob.encrypt(&mut p.rng, &max).unwrap();
    assert_eq!(p.alice.decrypt(&wire).unwrap(), max);
}

/// `set_limits` keeps exactly `max_old_chains` old chains: at the current count nothing is
/// dropped; one lower drops the oldest, with its skipped keys (a mutation-testing survivor:
/// `>` → `>=` in `Ratchet::set_limits` went unnoticed).
#[test]
fn set_limits_keeps_exactly_max_old_chains() {
    let mut p = established(23, true);
    // Two chains of Bob's, each leaving one skipped key at Alice, then a third, current one.
    let mut late = Vec::new();
    for _ in 0..2 {
        let skipped = p.bob.encrypt(&mut p.rng, b"late").unwrap();
        let next = p.bob.encrypt(&mut p.rng, b"next").unwrap();
        p.alice.decrypt(&next).unwrap();
        late.push(skipped);
        let reply = p.alice.encrypt(&mut p.rng, b"reply").unwrap();
        p.bob.decrypt(&reply).unwrap();
    }
    let current = p.bob.encrypt(&mut p.rng, b"current").unwrap();
    p.alice.decrypt(&current).unwrap();
    assert_eq!(p.alice.skipped_key_count(), 2);
    let limits = |max_old_chains| Limits {
        max_old_chains,
        ..Limits::default()
    };
    let mut same = Session::from_bytes(&p.alice.to_bytes().unwrap()).unwrap();
    same.set_limits(limits(2)).unwrap();
    assert_eq!(same.skipped_key_count(), 2);
    assert_eq!(same.decrypt(&late[0]).unwrap(), b"late");
    let mut lower = Session::from_bytes(&p.alice.to_bytes().unwrap()).unwrap();
    lower.set_limits(limits(1)).unwrap();
    assert_eq!(lower.skipped_key_count(), 1);
    assert!(lower.decrypt(&late[0]).is_err());
    assert_eq!(lower.decrypt(&late[1]).unwrap(), b"late");
}

#[test]
fn skipped_keys_expire_by_age_and_by_old_chain_count() {
    let mut p = established(13, true);
    p.alice
        .set_limits(Limits {
            max_skipped_key_age: 2,
            max_old_chains: 1,
            ..Limits::default()
        })
        .unwrap();
    let first: Vec<_> = (0..2u8)
        .map(|i| p.bob.encrypt(&mut p.rng, &[i]).unwrap())
        .collect();
    p.alice.decrypt(&first[1]).unwrap(); // key 0 stored
    assert_eq!(p.alice.skipped_key_count(), 1);
    for i in 2..4u8 {
        let m = p.bob.encrypt(&mut p.rng, &[i]).unwrap();
        p.alice.decrypt(&m).unwrap();
    }
    // Two more messages decrypted after storing: still within age 2.
    assert_eq!(p.alice.skipped_key_count(), 1);
    let m = p.bob.encrypt(&mut p.rng, b"x").unwrap();
    p.alice.decrypt(&m).unwrap();
    assert_eq!(p.alice.skipped_key_count(), 0);
    assert_eq!(p.alice.decrypt(&first[0]), Err(Error::DuplicateMessage));

    // Old chains: with one old chain kept, keys of the chain before it are dropped.
    p.alice
        .set_limits(Limits {
            max_old_chains: 1,
            ..Limits::default()
        })
        .unwrap();
    let mut lost = Vec::new();
    for _ in 0..2 {
        lost.push(p.bob.encrypt(&mut p.rng, b"lost").unwrap());
        let m = p.bob.encrypt(&mut p.rng, b"seen").unwrap();
        p.alice.decrypt(&m).unwrap();
        let a = p.alice.encrypt(&mut p.rng, b"turn").unwrap();
        p.bob.decrypt(&a).unwrap();
        let b = p.bob.encrypt(&mut p.rng, b"next").unwrap();
        p.alice.decrypt(&b).unwrap();
    }
    // The oldest chain's ratchet key is forgotten too, so its message looks like a forgery.
    let before = p.alice.to_bytes();
    assert_eq!(p.alice.decrypt(&lost[0]), Err(Error::DecryptionFailed));
    assert_eq!(p.alice.to_bytes(), before);
    assert_eq!(p.alice.decrypt(&lost[1]).unwrap(), b"lost");
}

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
    future[1] = 4;
    assert_eq!(
        Session::from_bytes(&future).unwrap_err(),
        DecodeError::UnknownVersion(4)
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

#[test]
fn invalid_limits_are_refused() {
    let mut p = established(18, false);
    assert!(!p.alice.used_one_time_prekey());
    assert_eq!(
        p.alice.set_limits(Limits {
            max_skip: 0,
            ..Limits::default()
        }),
        Err(Error::InvalidLimits)
    );
    let too_big = Limits {
        max_skipped_keys: Limits::CEILING + 1,
        ..Limits::default()
    };
    assert_eq!(p.alice.set_limits(too_big), Err(Error::InvalidLimits));
    let inconsistent = Limits {
        max_skip: 10,
        max_skipped_keys: 5,
        ..Limits::default()
    };
    assert_eq!(p.alice.set_limits(inconsistent), Err(Error::InvalidLimits));
    assert_eq!(p.alice.limits(), Limits::default());
    let _ = CONTEXT;
}

#[test]
fn skip_limit_boundaries_on_the_current_chain_and_across_a_turn() {
    let mut p = established(20, true);
    let r = p.bob.encrypt(&mut p.rng, b"r").unwrap();
    p.alice.decrypt(&r).unwrap(); // Alice's receiving chain: Nr = 1
    let limits = Limits {
        max_skip: 5,
        max_skipped_keys: 5,
        ..Limits::default()
    };
    p.alice.set_limits(limits).unwrap();
    let b: Vec<_> = (1..=8u8)
        .map(|i| p.bob.encrypt(&mut p.rng, &[i]).unwrap())
        .collect();
    // Path C (current chain): N − Nr = 6 is one too many, 5 is accepted.
    let before = p.alice.to_bytes();
    assert_eq!(p.alice.decrypt(&b[6]), Err(Error::TooFarInFuture)); // N = 7
    assert_eq!(p.alice.to_bytes(), before);
    assert_eq!(p.alice.decrypt(&b[5]).unwrap(), [6]); // N = 6, Nr becomes 7
    // Path D (new ratchet key): Bob's previous chain had 9 messages, Alice expects index 7,
    // so PN − Nr = 2 keys of the old chain count against the limit with the new N.
    let turn = p.alice.encrypt(&mut p.rng, b"turn").unwrap();
    p.bob.decrypt(&turn).unwrap();
    let c: Vec<_> = (0..5u8)
        .map(|i| p.bob.encrypt(&mut p.rng, &[100 + i]).unwrap())
        .collect();
    let before = p.alice.to_bytes();
    assert_eq!(p.alice.decrypt(&c[4]), Err(Error::TooFarInFuture)); // 2 + 4 = 6
    assert_eq!(p.alice.to_bytes(), before);
    assert_eq!(p.alice.decrypt(&c[3]).unwrap(), [103]); // 2 + 3 = 5
    // The old chain's two messages were stored under its ratchet key.
    assert_eq!(p.alice.decrypt(&b[7]).unwrap(), [8]);
    assert_eq!(p.alice.decrypt(&b[6]).unwrap(), [7]);
}

/// The trust decision comes first (issue 12): a bundle whose identity is not the pinned one is
/// refused before any key is drawn; the pinned one and first use both start the session.
#[test]
fn a_pinned_identity_refuses_a_substituted_bundle_before_drawing_keys() {
    use rand_chacha::rand_core::Rng;
    let mut r = rng(60);
    let alice = IdentityKeyPair::generate(&mut r);
    let bob = IdentityKeyPair::generate(&mut r);
    let mallory = IdentityKeyPair::generate(&mut r);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut r, &mallory, 1000);
    let substituted = store.bundle(&mallory, None).unwrap();
    let mut probe = r.clone();
    assert_eq!(
        Session::initiate(
            &mut r,
            &alice,
            &substituted,
            Trust::Pinned(bob.public()),
            &Config::default()
        )
        .unwrap_err(),
        Error::UntrustedIdentity
    );
    assert_eq!(r.next_u64(), probe.next_u64(), "no randomness was drawn");
    let pinned = Session::initiate(
        &mut r,
        &alice,
        &substituted,
        Trust::Pinned(mallory.public()),
        &Config::default(),
    )
    .unwrap();
    assert_eq!(pinned.remote_identity(), mallory.public());
    let first_use = Session::initiate(
        &mut r,
        &alice,
        &substituted,
        Trust::FirstUse,
        &Config::default(),
    )
    .unwrap();
    assert_eq!(first_use.remote_identity(), mallory.public());
}

/// The configuration's limits apply to the initiator too, from the start (no `_with_limits`
/// twin), and invalid ones are refused.
#[test]
fn initiate_takes_its_limits_from_the_config() {
    let mut r = rng(61);
    let alice = IdentityKeyPair::generate(&mut r);
    let bob = IdentityKeyPair::generate(&mut r);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut r, &bob, 1000);
    let bundle = store.bundle(&bob, None).unwrap();
    let limits = Limits {
        max_skip: 3,
        max_skipped_keys: 3,
        max_old_chains: 1,
        max_skipped_key_age: 9,
    };
    let config = Config::new(b"ctx").with_limits(limits);
    let s = Session::initiate(&mut r, &alice, &bundle, Trust::FirstUse, &config).unwrap();
    assert_eq!(s.limits(), limits);
    let bad = config.with_limits(Limits {
        max_skip: 0,
        ..limits
    });
    assert_eq!(
        Session::initiate(&mut r, &alice, &bundle, Trust::FirstUse, &bad).unwrap_err(),
        Error::InvalidLimits
    );
}
