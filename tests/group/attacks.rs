//! Attacks on group messages (SPEC.md §13.3–§13.4) by outsiders and by members: every forgery
//! is refused, in the documented order, and changes nothing.

use xchat_protocol::GroupError;
use xchat_protocol::group::{GroupConfig, GroupId, GroupSession, SenderKeyDistribution};

use crate::support::{GROUP, Group, NOW};

/// Every single-byte change of a group message is refused with a typed error, and afterwards the
/// genuine message still decrypts (nothing was consumed or advanced).
#[test]
fn no_bit_flip_of_a_group_message_is_accepted_or_changes_anything() {
    let mut g = Group::new(20, 2, GroupConfig::default());
    g.distribute_all(NOW);
    let m = g.send(0, NOW, b"authentic");
    let before = g.devices[1].group.to_bytes().unwrap();
    for i in 0..m.len() {
        let mut forged = m.clone();
        forged[i] ^= 0x01;
        let got = g.receive(1, 0, &forged, NOW);
        assert!(got.is_err(), "byte {i} accepted");
        assert_eq!(g.devices[1].group.to_bytes().unwrap(), before, "byte {i}");
    }
    for cut in [0, 1, 57, 58, 58 + 15, m.len() - 65, m.len() - 1] {
        assert!(g.receive(1, 0, &m[..cut], NOW).is_err(), "cut at {cut}");
    }
    let mut longer = m.clone();
    longer.push(0);
    assert!(g.receive(1, 0, &longer, NOW).is_err());
    assert_eq!(g.devices[1].group.to_bytes().unwrap(), before);
    assert_eq!(g.receive(1, 0, &m, NOW).unwrap(), b"authentic");
}

/// Mallory, a member, re-distributes Alice's sender key (chain and signing key) to Bob under
/// her own name, then presents Alice's message as hers: the signature names Alice, so it fails
/// as Mallory's. Alice's message still reads as Alice's.
#[test]
fn a_member_cannot_pass_another_members_messages_off_as_its_own() {
    let mut g = Group::new(21, 3, GroupConfig::default());
    g.distribute_all(NOW);
    let alices = g.devices[0]
        .group
        .distribution(&mut g.rng, NOW)
        .distribution;
    let alices = SenderKeyDistribution::from_bytes(&alices.to_bytes()).unwrap();
    let mallory = g.key(2);
    g.devices[1]
        .group
        .process_distribution(&mallory, &alices)
        .unwrap();
    let m = g.send(0, NOW, b"from alice");
    assert_eq!(g.receive(1, 2, &m, NOW), Err(GroupError::InvalidSignature));
    assert_eq!(g.receive(1, 0, &m, NOW).unwrap(), b"from alice");
}

/// A member holds Alice's chain key, so it can build a message that passes the AEAD — but not
/// Alice's signature. The signature is checked first: a forged message that also claims a huge
/// jump is `InvalidSignature`, not `TooFarInFuture`, and nothing is derived or stored.
#[test]
fn the_signature_is_checked_before_any_derivation() {
    let mut g = Group::new(22, 2, GroupConfig::default());
    g.distribute_all(NOW);
    let m = g.send(0, NOW, b"genuine");
    let mut far = m.clone();
    far[38..42].copy_from_slice(&1_000_000u32.to_be_bytes());
    assert_eq!(
        g.receive(1, 0, &far, NOW),
        Err(GroupError::InvalidSignature)
    );
    let mut last = m.clone();
    last[38..42].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        g.receive(1, 0, &last, NOW),
        Err(GroupError::InvalidSignature)
    );
    assert_eq!(g.devices[1].group.skipped_key_count(), 0);
    assert_eq!(g.receive(1, 0, &m, NOW).unwrap(), b"genuine");
}

/// Messages from outside the group, of another group, or of a key not held are refused with
/// the error a messenger acts on.
#[test]
fn foreign_messages_get_typed_errors() {
    let mut g = Group::new(23, 3, GroupConfig::default());
    g.distribute(0, NOW);
    let m = g.send(0, NOW, b"x");
    // Device 2 removed device 0: not a member any more.
    let alice = g.key(0);
    g.devices[2].group.remove_member(&alice);
    assert_eq!(g.receive(2, 0, &m, NOW), Err(GroupError::NotAMember));
    // Our own message, echoed back: we are not our own member.
    assert_eq!(g.receive(0, 0, &m, NOW), Err(GroupError::NotAMember));
    // Another group's view of the same members.
    let other = GroupSession::new(
        &mut g.rng,
        g.devices[1].id.public(),
        GroupId([1; 32]),
        &[alice],
        NOW,
        GroupConfig::default(),
    );
    let mut other = other.unwrap();
    assert_eq!(
        other.receive(&alice, &m, NOW).map(|_| ()),
        Err(GroupError::WrongGroup)
    );
    let d = g.devices[0]
        .group
        .distribution(&mut g.rng, NOW)
        .distribution;
    assert_eq!(
        other.process_distribution(&alice, &d),
        Err(GroupError::WrongGroup)
    );
    // A key id device 0 does not hold for device 1 (looked up before the signature).
    g.distribute(1, NOW);
    let bob_msg = g.send(1, NOW, b"y");
    let mut unknown = bob_msg.clone();
    unknown[34] ^= 0xff;
    assert!(matches!(
        g.receive(0, 1, &unknown, NOW),
        Err(GroupError::UnknownSenderKey(_))
    ));
    assert_eq!(GROUP, *g.devices[0].group.group_id());
}

/// A distribution is parsed strictly: wrong version, lengths, and a signing key that is not a
/// canonical, torsion-free Ed25519 point are refused.
#[test]
fn distributions_are_decoded_strictly() {
    use xchat_protocol::DecodeError;
    let mut g = Group::new(24, 2, GroupConfig::default());
    let d = g.devices[0]
        .group
        .distribution(&mut g.rng, NOW)
        .distribution;
    let bytes = d.to_bytes();
    assert_eq!(bytes.len(), SenderKeyDistribution::LEN);
    let mut v = bytes.to_vec();
    v[0] = 2;
    assert_eq!(
        SenderKeyDistribution::from_bytes(&v).map(|_| ()),
        Err(DecodeError::UnknownVersion(2))
    );
    assert_eq!(
        SenderKeyDistribution::from_bytes(&bytes[..104]).map(|_| ()),
        Err(DecodeError::Truncated)
    );
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert_eq!(
        SenderKeyDistribution::from_bytes(&longer).map(|_| ()),
        Err(DecodeError::TrailingBytes)
    );
    // The identity point (small order) as the signing key.
    let mut weak = bytes.to_vec();
    weak[73..105].copy_from_slice(&{
        let mut p = [0u8; 32];
        p[0] = 1;
        p
    });
    assert_eq!(
        SenderKeyDistribution::from_bytes(&weak).map(|_| ()),
        Err(DecodeError::InvalidKey)
    );
}
