//! Membership and healing (SPEC.md §13.5): removal re-keys, an added member reads only what
//! follows, and the rotation policy bounds what a stolen sender key reads.

use xchat_protocol::GroupError;
use xchat_protocol::group::{GroupConfig, Rotation, SenderKeyDistribution};

use crate::support::{Group, NOW};

/// Four devices talk; then device 3 is removed by everyone. Each remaining device's next send
/// uses a new sender key that is distributed to the remaining two only; the removed device,
/// which keeps its whole old state, reads none of the messages sent after its removal — and
/// nothing it sends is read any more.
#[test]
fn a_removed_member_reads_nothing_sent_after_its_removal() {
    let mut g = Group::new(1, 4, GroupConfig::default());
    g.distribute_all(NOW);
    for from in 0..4 {
        let m = g.send(from, NOW, b"before");
        for to in (0..4).filter(|&t| t != from) {
            assert_eq!(g.receive(to, from, &m, NOW).unwrap(), b"before");
        }
    }
    let removed = g.key(3);
    for i in 0..3 {
        assert!(g.devices[i].group.remove_member(&removed));
        // Our old key is never sent on again.
        assert!(g.devices[i].group.rotation_due(NOW));
        let err = g.devices[i].group.send(&mut g.rng, NOW, b"x");
        assert_eq!(err.unwrap_err(), GroupError::DistributionPending);
    }
    for from in 0..3 {
        let got = g.distribute(from, NOW + 1);
        assert_eq!(got.len(), 2, "to the remaining members only");
        assert!(!got.contains(&removed));
        let m = g.send(from, NOW + 1, b"after");
        for to in (0..3).filter(|&t| t != from) {
            assert_eq!(g.receive(to, from, &m, NOW + 1).unwrap(), b"after");
        }
        // The removed device has only the old key: the new one is unknown to it.
        assert!(matches!(
            g.receive(3, from, &m, NOW + 1),
            Err(GroupError::UnknownSenderKey(_))
        ));
    }
    // And what the removed device sends is refused by the others.
    let m = g.send(3, NOW + 1, b"still here?");
    for to in 0..3 {
        assert_eq!(g.receive(to, 3, &m, NOW + 1), Err(GroupError::NotAMember));
    }
}

/// A device added later gets each sender key at its current iteration: every message sent
/// before it joined — delivered to it late, or replayed — is unreadable; what follows is read.
#[test]
fn an_added_member_reads_nothing_sent_before_it_joined() {
    let mut g = Group::new(2, 3, GroupConfig::default());
    // Device 2 is not yet a member anywhere.
    let newcomer = g.key(2);
    for i in 0..2 {
        assert!(g.devices[i].group.remove_member(&newcomer));
    }
    g.distribute(0, NOW);
    g.distribute(1, NOW);
    let before: Vec<Vec<u8>> = (0..5).map(|i| g.send(0, NOW, &[i])).collect();
    for m in &before {
        g.receive(1, 0, m, NOW).unwrap();
    }
    for i in 0..2 {
        assert!(g.devices[i].group.add_member(&newcomer).unwrap());
    }
    // Only the newcomer lacks the key, and gets it at its current iteration (5): behind its
    // chain, with no key stored, every earlier message is out of its reach.
    let pending = g.devices[0].group.distribution(&mut g.rng, NOW + 1);
    assert_eq!(pending.recipients, vec![newcomer]);
    assert_eq!(pending.distribution.iteration(), 5);
    assert_eq!(g.distribute(0, NOW + 1), vec![newcomer]);
    let after = g.send(0, NOW + 1, b"welcome");
    assert_eq!(g.receive(2, 0, &after, NOW + 1).unwrap(), b"welcome");
    for m in &before {
        assert_eq!(key_id(m), key_id(&after), "the same sender key");
        assert_eq!(
            g.receive(2, 0, m, NOW + 1).map(|_| ()),
            Err(GroupError::DuplicateMessage),
        );
    }
}

/// A thief copies a receiver's copy of device 0's sender key (its distribution). It reads
/// device 0's messages on that key — until the rotation policy replaces the key, after
/// `max_messages` messages or `max_age_ms`; from then on it reads nothing.
#[test]
fn rotation_heals_a_stolen_sender_key() {
    let rotation = Rotation {
        max_messages: 5,
        max_age_ms: 60_000,
    };
    let config = GroupConfig {
        rotation,
        ..GroupConfig::default()
    };
    for by_age in [false, true] {
        let mut g = Group::new(4, 3, config);
        g.distribute_all(NOW);
        // The thief: device 2's state, stolen now (it holds device 0's key at iteration 0).
        let stolen = g.devices[0]
            .group
            .distribution(&mut g.rng, NOW)
            .distribution;
        let mut thief = Group::new(5, 1, config);
        let alice = g.key(0);
        thief.devices[0].group.add_member(&alice).unwrap();
        let stolen = SenderKeyDistribution::from_bytes(&stolen.to_bytes()).unwrap();
        thief.devices[0]
            .group
            .process_distribution(&alice, &stolen)
            .unwrap();
        let sends = if by_age { 2 } else { 5 };
        for i in 0..sends {
            let m = g.send(0, NOW, &[i]);
            let got = thief.devices[0].group.receive(&alice, &m, NOW).unwrap();
            assert_eq!(got.message().unwrap().body, [i]);
        }
        let later = if by_age { NOW + 60_000 } else { NOW + 1 };
        assert!(g.devices[0].group.rotation_due(later));
        assert_eq!(
            g.devices[0]
                .group
                .send(&mut g.rng, later, b"x")
                .unwrap_err(),
            GroupError::DistributionPending
        );
        assert_eq!(g.distribute(0, later).len(), 2);
        let m = g.send(0, later, b"healed");
        assert_eq!(g.receive(1, 0, &m, later).unwrap(), b"healed");
        assert!(matches!(
            thief.devices[0].group.receive(&alice, &m, later),
            Err(GroupError::UnknownSenderKey(_))
        ));
    }
}

/// Sending is refused while any member lacks our key, and allowed once all have it; a member
/// that is removed no longer counts.
#[test]
fn no_member_is_silently_left_without_our_key() {
    let mut g = Group::new(6, 3, GroupConfig::default());
    let (b, c) = (g.key(1), g.key(2));
    let pending = g.devices[0].group.distribution(&mut g.rng, NOW);
    assert_eq!(pending.recipients.len(), 2);
    g.devices[0]
        .group
        .mark_distributed(&b, &pending.distribution)
        .unwrap();
    assert_eq!(g.devices[0].group.lacking_sender_key(), vec![c]);
    assert_eq!(
        g.devices[0].group.send(&mut g.rng, NOW, b"x").unwrap_err(),
        GroupError::DistributionPending
    );
    g.devices[0]
        .group
        .mark_distributed(&c, &pending.distribution)
        .unwrap();
    g.devices[0].group.send(&mut g.rng, NOW, b"x").unwrap();
}

/// The id of a message's sender key (SPEC.md §13.3: bytes 34..38).
pub(crate) fn key_id(m: &[u8]) -> u32 {
    u32::from_be_bytes(m[34..38].try_into().unwrap())
}
