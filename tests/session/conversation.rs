//! Conversations on an established session: ratchet turns both ways, prekey messages until the
//! first reply, out-of-order delivery across chains, and replay.

use crate::common::established;
use xchat_protocol::wire::TYPE_PREKEY_MESSAGE;
use xchat_protocol::{Error, Incoming};

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
