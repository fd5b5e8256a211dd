//! Receiving (SPEC.md §13.4): out-of-order delivery within the limits, replays, and the limits
//! themselves, each checked before any derivation.

use xchat_protocol::GroupError;
use xchat_protocol::group::{GroupConfig, GroupLimits, SenderKeyDistribution};

use crate::support::{Group, NOW};

fn config(limits: GroupLimits) -> GroupConfig {
    GroupConfig {
        limits,
        ..GroupConfig::default()
    }
}

/// 30 messages delivered in reverse order, then shuffled duplicates: each decrypts exactly once
/// to what was sent; every second delivery is `DuplicateMessage`; no skipped key is left.
#[test]
fn out_of_order_delivery_decrypts_each_message_exactly_once() {
    let mut g = Group::new(10, 2, GroupConfig::default());
    g.distribute_all(NOW);
    let sent: Vec<Vec<u8>> = (0..30u8).map(|i| g.send(0, NOW, &[i; 3])).collect();
    for (i, m) in sent.iter().enumerate().rev() {
        assert_eq!(g.receive(1, 0, m, NOW).unwrap(), [i as u8; 3]);
    }
    assert_eq!(g.devices[1].group.skipped_key_count(), 0);
    for m in sent.iter().step_by(7) {
        assert_eq!(g.receive(1, 0, m, NOW), Err(GroupError::DuplicateMessage));
    }
}

/// A message further ahead than `max_jump` is `TooFarInFuture` and changes nothing (the next
/// message still decrypts with no key stored); one exactly at the limit decrypts and stores
/// the keys it skipped, at most `max_skipped_keys`, the newest kept.
#[test]
fn jumps_and_stored_keys_are_bounded() {
    let limits = GroupLimits {
        max_jump: 10,
        max_skipped_keys: 4,
        ..GroupLimits::DEFAULT
    };
    let mut g = Group::new(11, 2, config(limits));
    g.distribute_all(NOW);
    let sent: Vec<Vec<u8>> = (0..20u8).map(|i| g.send(0, NOW, &[i])).collect();
    assert_eq!(
        g.receive(1, 0, &sent[11], NOW),
        Err(GroupError::TooFarInFuture)
    );
    assert_eq!(g.devices[1].group.skipped_key_count(), 0);
    assert_eq!(g.receive(1, 0, &sent[10], NOW).unwrap(), [10]);
    assert_eq!(g.devices[1].group.skipped_key_count(), 4);
    // Keys 6..10 were kept; 0..6 were dropped.
    for m in &sent[..6] {
        assert_eq!(g.receive(1, 0, m, NOW), Err(GroupError::DuplicateMessage));
    }
    for (i, m) in sent.iter().enumerate().take(10).skip(6) {
        assert_eq!(g.receive(1, 0, m, NOW).unwrap(), [i as u8]);
    }
    assert_eq!(g.devices[1].group.skipped_key_count(), 0);
}

/// A member keeps at most `max_sender_keys` of another's sender keys: the oldest is dropped
/// (its late messages become `UnknownSenderKey`), the newer ones still read messages in flight.
#[test]
fn sender_keys_per_member_are_bounded() {
    let limits = GroupLimits {
        max_sender_keys: 2,
        ..GroupLimits::DEFAULT
    };
    let mut g = Group::new(12, 3, config(limits));
    let mut in_flight = Vec::new();
    for round in 0..3u8 {
        // Removing and re-adding device 2 forces a rotation each round.
        let c = g.key(2);
        g.devices[0].group.remove_member(&c);
        g.devices[0].group.add_member(&c).unwrap();
        g.distribute(0, NOW);
        in_flight.push(g.send(0, NOW, &[round]));
    }
    assert!(matches!(
        g.receive(1, 0, &in_flight[0], NOW),
        Err(GroupError::UnknownSenderKey(_))
    ));
    assert_eq!(g.receive(1, 0, &in_flight[1], NOW).unwrap(), [1]);
    assert_eq!(g.receive(1, 0, &in_flight[2], NOW).unwrap(), [2]);
}

/// A repeated distribution of a key already held (same signing key) never moves its chain back:
/// after it, a message already read is still a duplicate.
#[test]
fn a_repeated_distribution_does_not_rewind_the_chain() {
    let mut g = Group::new(13, 2, GroupConfig::default());
    let early = g.devices[0]
        .group
        .distribution(&mut g.rng, NOW)
        .distribution;
    let early = SenderKeyDistribution::from_bytes(&early.to_bytes()).unwrap();
    g.distribute_all(NOW);
    let m = g.send(0, NOW, b"once");
    assert_eq!(g.receive(1, 0, &m, NOW).unwrap(), b"once");
    let alice = g.key(0);
    g.devices[1]
        .group
        .process_distribution(&alice, &early)
        .unwrap();
    assert_eq!(g.receive(1, 0, &m, NOW), Err(GroupError::DuplicateMessage));
}

/// The limits are validated, and a group holds at most `max_members`.
#[test]
fn limits_are_validated_and_membership_is_bounded() {
    let mut rng = crate::common::rng(14);
    let me = xchat_protocol::IdentityKeyPair::generate(&mut rng);
    for bad in [
        GroupLimits {
            max_jump: 0,
            ..GroupLimits::DEFAULT
        },
        GroupLimits {
            max_members: GroupLimits::CEILING + 1,
            ..GroupLimits::DEFAULT
        },
    ] {
        let got = xchat_protocol::GroupSession::new(
            &mut rng,
            me.public(),
            crate::support::GROUP,
            &[],
            NOW,
            config(bad),
        );
        assert_eq!(got.map(|_| ()), Err(GroupError::InvalidLimits));
    }
    let limits = GroupLimits {
        max_members: 2,
        ..GroupLimits::DEFAULT
    };
    let others: Vec<_> = (0..3)
        .map(|_| *xchat_protocol::IdentityKeyPair::generate(&mut rng).public())
        .collect();
    let got = xchat_protocol::GroupSession::new(
        &mut rng,
        me.public(),
        crate::support::GROUP,
        &others,
        NOW,
        config(limits),
    );
    assert_eq!(got.map(|_| ()), Err(GroupError::TooLarge));
    let mut group = xchat_protocol::GroupSession::new(
        &mut rng,
        me.public(),
        crate::support::GROUP,
        &others[..2],
        NOW,
        config(limits),
    )
    .unwrap();
    assert_eq!(group.add_member(&others[2]), Err(GroupError::TooLarge));
    assert_eq!(group.add_member(&others[1]), Ok(false), "already a member");
    assert_eq!(group.add_member(me.public()), Ok(false), "ourselves");
    assert_eq!(group.members().count(), 2);
}
