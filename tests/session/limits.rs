//! Limits: the skip bound at its boundaries, the bounded skipped-key store and its expiry by age
//! and old-chain count, lowering and refusing limits, and the plaintext bound.

use crate::common::{CONTEXT, established};
use xchat_protocol::{Error, Limits, Session};

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
