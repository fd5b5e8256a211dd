//! The group message on the wire (SPEC.md §13.1, §13.3, §13.4 steps 1–5): an independent
//! encoding agrees byte for byte; a relay can neither forge, re-target, truncate, extend nor
//! replay; decoding errors come in the documented order; group and session messages never
//! parse as each other.

use ed25519_dalek::SigningKey;
use xchat_protocol::group::{
    GROUP_HEADER_LEN, GROUP_OVERHEAD, GroupConfig, GroupId, GroupSession, SenderKeyDistribution,
};
use xchat_protocol::{DecodeError, GroupError, IdentityKeyPair};

use crate::support::{
    Forged, GROUP, Group, MSG_GROUP, MSG_ITERATION, MSG_KEY_ID, NOW, Recorder, ck_step, ref_message,
};

/// SPEC.md §13.1 draw order and §13.3 construction, checked against a second encoder: the key
/// id is the first 4 drawn bytes (big-endian), `CK_0` the next 32, the signing seed the next 32;
/// each message draws its 16-byte seed and nothing else; the bytes are exactly
/// `header ‖ AES-GCM(HKDF(seed, MK_i, LABEL_GROUP_MESSAGE_KEY)) ‖ Ed25519(LABEL ‖ IK ‖ …)`.
#[test]
fn held_encrypt_is_the_spec_construction_byte_for_byte() {
    let mut rng = Recorder::new(1);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    rng.draws.clear();
    let mut g = GroupSession::new(
        &mut rng,
        alice.public(),
        GROUP,
        &[*bob.public()],
        NOW,
        GroupConfig::default(),
    )
    .unwrap();
    assert_eq!(rng.lengths(), [4, 32, 32], "SPEC.md §1 table, §13.1");
    let (id, ck0, seed) = (
        rng.draws[0].clone(),
        rng.draws[1].clone(),
        rng.draws[2].clone(),
    );
    let d = g.distribution(&mut rng, NOW).distribution;
    assert_eq!(rng.draws.len(), 3, "no rotation due: nothing drawn");
    let bytes = d.to_bytes();
    assert_eq!(bytes.len(), 105);
    assert_eq!(d.key_id(), u32::from_be_bytes(id[..].try_into().unwrap()));
    assert_eq!(&bytes[41..73], &ck0[..]);
    let signing: [u8; 32] = seed[..].try_into().unwrap();
    let public = SigningKey::from_bytes(&signing).verifying_key().to_bytes();
    assert_eq!(&bytes[73..105], &public);
    g.mark_distributed(bob.public(), &d).unwrap();
    let mut ck: [u8; 32] = ck0[..].try_into().unwrap();
    for (i, plaintext) in [&b"spec"[..], b"", b"third"].iter().enumerate() {
        let m = g.encrypt(&mut rng, NOW, plaintext).unwrap();
        assert_eq!(rng.draws.len(), 4 + i);
        let message_seed: [u8; 16] = rng.draws[3 + i][..].try_into().unwrap();
        let (mk, next) = ck_step(&ck);
        let expected = ref_message(
            &alice.public().to_bytes(),
            &GROUP.0,
            d.key_id(),
            i as u32,
            &message_seed,
            &mk,
            &signing,
            plaintext,
        );
        assert_eq!(m, expected, "message {i}");
        assert_eq!(m.len(), plaintext.len() + 138, "SPEC.md §13.3 overhead");
        ck = next;
    }
    assert_eq!(GROUP_OVERHEAD, 138);
    assert_eq!(GROUP_HEADER_LEN, 58);
    assert_eq!(SenderKeyDistribution::LEN, 105);
}

/// The labels of SPEC.md §3.0 as the crate uses them, and the table's hex column.
#[test]
fn held_group_labels_match_the_spec_table() {
    use xchat_protocol::kdf::{LABEL_GROUP_MESSAGE, LABEL_GROUP_MESSAGE_KEY};
    assert_eq!(
        LABEL_GROUP_MESSAGE_KEY,
        crate::support::LABEL_GROUP_MESSAGE_KEY
    );
    assert_eq!(LABEL_GROUP_MESSAGE, crate::support::LABEL_GROUP_MESSAGE);
    assert_eq!(
        hex::encode(LABEL_GROUP_MESSAGE_KEY),
        "78636861742d70726f746f636f6c2076312067726f7570206d657373616765206b6579"
    );
    assert_eq!(
        hex::encode(LABEL_GROUP_MESSAGE),
        "78636861742d70726f746f636f6c2076312067726f7570206d657373616765"
    );
    assert_eq!(
        (LABEL_GROUP_MESSAGE_KEY.len(), LABEL_GROUP_MESSAGE.len()),
        (35, 31)
    );
}

/// A relay moves a message to another sender, another key id of the same sender, or another
/// group whose view holds a key with the same id and signing key: every one is refused (the
/// signature covers the sender, the key id and the group id) and changes nothing; the original
/// is read once, then is a duplicate.
#[test]
fn held_a_relay_cannot_retarget_sender_key_id_or_group() {
    let mut g = Group::new(2, 3, GroupConfig::default());
    g.distribute_all(NOW);
    let first = g.send(0, NOW, b"first key");
    // Rotate device 0's key (re-adding device 2 forces it); device 1 then holds both keys.
    let c = g.key(2);
    g.devices[0].group.remove_member(&c);
    g.devices[0].group.add_member(&c).unwrap();
    g.distribute(0, NOW);
    let m = g.send(0, NOW, b"second key");
    assert_ne!(m[MSG_KEY_ID], first[MSG_KEY_ID]);
    let before = g.blob(1);
    // Another sender.
    assert!(g.receive(1, 2, &m, NOW).is_err());
    // The other key id of the same sender.
    let mut other_id = m.clone();
    other_id[MSG_KEY_ID].copy_from_slice(&first[MSG_KEY_ID]);
    assert_eq!(
        g.receive(1, 0, &other_id, NOW),
        Err(GroupError::InvalidSignature)
    );
    assert_eq!(g.blob(1), before);
    assert_eq!(g.receive(1, 0, &m, NOW).unwrap(), b"second key");
    assert_eq!(g.receive(1, 0, &m, NOW), Err(GroupError::DuplicateMessage));
    assert_eq!(g.receive(1, 0, &first, NOW).unwrap(), b"first key");

    // Two groups, one malicious member that uses the same sender key in both (it can): a relay
    // that rewrites the group id still fails the signature.
    let mallory = g.key(2);
    let other = GroupId([0x62; 32]);
    let mut view = GroupSession::new(
        &mut g.rng,
        g.devices[1].id.public(),
        other,
        &[mallory],
        NOW,
        GroupConfig::default(),
    )
    .unwrap();
    let f = Forged::new(&mallory, 77, 0, 9);
    let mut in_other = f.clone();
    in_other.group = other.0;
    view.process_distribution(&mallory, &in_other.distribution())
        .unwrap();
    g.devices[1]
        .group
        .process_distribution(&mallory, &f.distribution())
        .unwrap();
    let msg = f.message(0, [1; 16], b"for group 1", true);
    let mut moved = msg.clone();
    moved[MSG_GROUP].copy_from_slice(&other.0);
    let view_before = view.to_bytes().unwrap();
    assert_eq!(
        view.decrypt(&mallory, &moved),
        Err(GroupError::InvalidSignature)
    );
    assert_eq!(view.to_bytes().unwrap(), view_before);
    assert_eq!(view.decrypt(&mallory, &msg), Err(GroupError::WrongGroup));
    assert_eq!(
        g.devices[1].group.decrypt(&mallory, &msg).unwrap(),
        b"for group 1"
    );
}

/// Every cut and every extension of a message fails and changes nothing, on the new-message
/// path and on the skipped-key path (a message behind `next`); bit flips of a message whose key
/// is stored as skipped leave that key in place.
#[test]
fn held_truncation_extension_and_flips_change_nothing_on_either_path() {
    let mut g = Group::new(3, 2, GroupConfig::default());
    g.distribute_all(NOW);
    let early = g.send(0, NOW, b"early");
    let late = g.send(0, NOW, b"late");
    assert_eq!(g.receive(1, 0, &late, NOW).unwrap(), b"late");
    assert_eq!(g.devices[1].group.skipped_key_count(), 1);
    let before = g.blob(1);
    let alice = g.key(0);
    for cut in 0..early.len() {
        assert!(
            g.devices[1].group.decrypt(&alice, &early[..cut]).is_err(),
            "cut {cut}"
        );
    }
    for extra in [&[0u8][..], &[0; 64], &early[..]] {
        let mut longer = early.clone();
        longer.extend_from_slice(extra);
        assert!(g.devices[1].group.decrypt(&alice, &longer).is_err());
    }
    for i in 0..early.len() {
        let mut flipped = early.clone();
        flipped[i] ^= 0x80;
        assert!(
            g.devices[1].group.decrypt(&alice, &flipped).is_err(),
            "byte {i}"
        );
    }
    assert_eq!(g.blob(1), before);
    assert_eq!(g.receive(1, 0, &early, NOW).unwrap(), b"early");
    assert_eq!(
        g.receive(1, 0, &early, NOW),
        Err(GroupError::DuplicateMessage)
    );
}

/// `verify_strict`, not cofactorless `verify` (SPEC.md §13.4 step 5): the owner of a signing key
/// makes two signatures only lax verification accepts — `s + L` (malleated) and `R` = the
/// identity point with `s = k·a` — and both are `InvalidSignature`.
#[test]
fn held_signatures_are_verified_strictly() {
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};
    let mut g = Group::new(4, 2, GroupConfig::default());
    let mallory = g.key(0);
    let f = Forged::new(&mallory, 5, 0, 3);
    g.devices[1]
        .group
        .process_distribution(&mallory, &f.distribution())
        .unwrap();
    let good = f.message(0, [2; 16], b"x", true);
    let n = good.len() - 64;
    // s + L (little-endian addition; s < L < 2^253, so no carry out).
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut malleated = good.clone();
    let mut carry = 0u16;
    for k in 0..32 {
        let sum = u16::from(malleated[n + 32 + k]) + u16::from(L[k]) + carry;
        malleated[n + 32 + k] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    let before = g.blob(1);
    assert_eq!(
        g.devices[1].group.decrypt(&mallory, &malleated),
        Err(GroupError::InvalidSignature)
    );
    // R = identity, s = k·a with k = H(R ‖ A ‖ M): [s]B = R + [k]A holds, but R has small order.
    let h = Sha512::digest(f.signing_seed);
    let mut a_bytes: [u8; 32] = h[..32].try_into().unwrap();
    a_bytes[0] &= 248;
    a_bytes[31] &= 127;
    a_bytes[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a_bytes);
    let mut r = [0u8; 32];
    r[0] = 1;
    let mut signed = crate::support::LABEL_GROUP_MESSAGE.to_vec();
    signed.extend_from_slice(&f.sender);
    signed.extend_from_slice(&good[..n]);
    let k_hash: [u8; 64] = Sha512::new()
        .chain_update(r)
        .chain_update(f.signing_public())
        .chain_update(&signed)
        .finalize()
        .into();
    let s = Scalar::from_bytes_mod_order_wide(&k_hash) * a;
    let mut lax = good[..n].to_vec();
    lax.extend_from_slice(&r);
    lax.extend_from_slice(s.as_bytes());
    assert_eq!(
        g.devices[1].group.decrypt(&mallory, &lax),
        Err(GroupError::InvalidSignature)
    );
    assert_eq!(g.blob(1), before);
    assert_eq!(g.devices[1].group.decrypt(&mallory, &good).unwrap(), b"x");
}

/// SPEC.md §13.3 decode order and §13.4 check order: version, type, header, lengths, size;
/// then group, membership, key id, signature — each error shown with every later check also
/// failing, so the first failure is the one reported.
#[test]
fn held_decode_and_check_order_is_the_documented_one() {
    let mut g = Group::new(5, 3, GroupConfig::default());
    g.distribute_all(NOW);
    let m = g.send(0, NOW, b"order");
    let alice = g.key(0);
    let outsider = *IdentityKeyPair::generate(&mut g.rng).public();
    let dev = &mut g.devices[1].group;
    let dec = |e| Err(GroupError::Decode(e));
    let mut v = m.clone();
    v[0] = 2;
    v[1] = 9;
    assert_eq!(dev.decrypt(&alice, &v), dec(DecodeError::UnknownVersion(2)));
    v[0] = 1;
    assert_eq!(
        dev.decrypt(&alice, &v[..3]),
        dec(DecodeError::UnknownType(9))
    );
    assert_eq!(dev.decrypt(&alice, &m[..57]), dec(DecodeError::Truncated));
    assert_eq!(
        dev.decrypt(&alice, &m[..58 + 79]),
        dec(DecodeError::Truncated)
    );
    let mut huge = m[..58].to_vec();
    huge.resize(58 + (1 << 20) + 16 + 1 + 64, 0);
    huge[MSG_GROUP].copy_from_slice(&[0; 32]);
    assert_eq!(dev.decrypt(&outsider, &huge), dec(DecodeError::TooLarge));
    huge.pop();
    assert_eq!(
        dev.decrypt(&outsider, &huge),
        Err(GroupError::WrongGroup),
        "2^20 + 16 sealed bytes pass decoding"
    );
    // Wrong group, from a non-member, unknown key, bad signature: WrongGroup first.
    let mut w = m.clone();
    w[MSG_GROUP].copy_from_slice(&[0; 32]);
    w[MSG_KEY_ID].copy_from_slice(&[0xEE; 4]);
    assert_eq!(dev.decrypt(&outsider, &w), Err(GroupError::WrongGroup));
    let mut w = m.clone();
    w[MSG_KEY_ID].copy_from_slice(&[0xEE; 4]);
    assert_eq!(dev.decrypt(&outsider, &w), Err(GroupError::NotAMember));
    let id = u32::from_be_bytes([0xEE; 4]);
    assert_eq!(
        dev.decrypt(&alice, &w),
        Err(GroupError::UnknownSenderKey(id))
    );
    // A forged copy of a message already read, and a forged far jump: the signature first.
    let frame = dev.decrypt(&alice, &m).unwrap();
    assert_eq!(&frame[23..28], b"order", "the padded frame (SPEC.md §8.2)");
    let mut replay = m.clone();
    let last = replay.len() - 1;
    replay[last] ^= 1;
    assert_eq!(
        dev.decrypt(&alice, &replay),
        Err(GroupError::InvalidSignature)
    );
    assert_eq!(dev.decrypt(&alice, &m), Err(GroupError::DuplicateMessage));
    let mut far = m.clone();
    far[MSG_ITERATION].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(dev.decrypt(&alice, &far), Err(GroupError::InvalidSignature));
}

/// A group message never parses as a session message, nor a session message (normal or
/// prekey) as a group message; neither changes the state it is fed to.
#[test]
fn held_group_and_session_messages_never_parse_as_each_other() {
    let mut p = crate::common::established(6, true);
    let mut g = Group::new(7, 2, GroupConfig::default());
    g.distribute_all(NOW);
    let m = g.send(0, NOW, b"group");
    let session_before = p.bob.to_bytes().unwrap();
    assert_eq!(
        p.bob.decrypt(&m),
        Err(xchat_protocol::Error::Decode(DecodeError::UnknownType(3)))
    );
    assert!(p.bob.receive(&m, NOW).is_err());
    assert_eq!(p.bob.to_bytes().unwrap(), session_before);
    let normal = p.bob.encrypt(&mut p.rng, b"pairwise").unwrap();
    let prekey = p
        .alice
        .encrypt(&mut p.rng, b"still a prekey message")
        .unwrap();
    let alice = g.key(0);
    let before = g.blob(1);
    assert_eq!(
        g.devices[1].group.decrypt(&alice, &normal),
        Err(GroupError::Decode(DecodeError::UnknownType(1)))
    );
    assert_eq!(
        g.devices[1].group.decrypt(&alice, &prekey),
        Err(GroupError::Decode(DecodeError::UnknownType(2)))
    );
    // A distribution's bytes (whose group id starts with the group message type) are no message.
    let f = Forged::new(&alice, 1, 0, 1);
    let mut d = f.distribution_bytes();
    d[1] = 0x03;
    assert!(g.devices[1].group.decrypt(&alice, &d).is_err());
    assert_eq!(g.blob(1), before);
    assert_eq!(p.alice.decrypt(&normal).unwrap(), b"pairwise");
}

/// A sender restored from an older blob sends again at an iteration it already used: the fresh
/// seed gives another AES-GCM key and nonce (SPEC.md §3.4's reason), so no (key, nonce) pair
/// is reused; receivers that read the first take the second as a duplicate.
#[test]
fn held_a_restored_sender_never_reuses_a_key_and_nonce() {
    let mut g = Group::new(8, 2, GroupConfig::default());
    g.distribute_all(NOW);
    let blob = g.blob(0);
    let first = g.send(0, NOW, b"same plaintext");
    g.devices[0].group = GroupSession::from_bytes(&blob).unwrap();
    let second = g.send(0, NOW, b"same plaintext");
    assert_eq!(first[..42], second[..42], "same key id and iteration");
    assert_ne!(first[42..58], second[42..58], "another seed");
    assert_ne!(first[58..first.len() - 64], second[58..second.len() - 64]);
    assert!(g.receive(1, 0, &first, NOW).is_ok());
    assert_eq!(
        g.receive(1, 0, &second, NOW),
        Err(GroupError::DuplicateMessage)
    );
}
