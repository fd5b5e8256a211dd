//! The bounds of SPEC.md §13.1 and §13.4 under a malicious member that holds its own signing key
//! (so its messages pass the signature): iteration edges, `max_jump`, `max_skipped_keys`,
//! `max_sender_keys`, `max_members`, the end of the sender's chain, and what memory they bound.

use xchat_protocol::group::{GroupConfig, GroupLimits, GroupSession, Rotation};
use xchat_protocol::{GroupError, IdentityKeyPair};

use crate::support::{
    AT_SENDING, Forged, GROUP, Group, MSG_ITERATION, NOW, Recorder, edited, put_u32, u32_at,
};

fn with_limits(limits: GroupLimits) -> GroupConfig {
    GroupConfig {
        limits,
        ..GroupConfig::default()
    }
}

/// A key distributed at `2^32 − 3`: iterations `2^32 − 3` and `2^32 − 2` decrypt, `2^32 − 1`
/// is `TooFarInFuture` even with a valid signature; a key distributed at `2^32 − 1` reads
/// nothing and panics on nothing. Nothing changes on a refusal.
#[test]
fn held_iterations_at_the_end_of_a_chain_neither_wrap_nor_panic() {
    let mut g = Group::new(10, 2, GroupConfig::default());
    let m = g.key(0);
    let f = Forged::new(&m, 1, u32::MAX - 2, 4);
    let dev = &mut g.devices[1].group;
    dev.process_distribution(&m, &f.distribution()).unwrap();
    let last = f.message(u32::MAX, [0; 16], b"past the end", true);
    let before = dev.to_bytes().unwrap();
    assert_eq!(dev.decrypt(&m, &last), Err(GroupError::TooFarInFuture));
    assert_eq!(dev.to_bytes().unwrap(), before);
    for i in [u32::MAX - 2, u32::MAX - 1] {
        let msg = f.message(i, [1; 16], &i.to_be_bytes(), true);
        assert_eq!(dev.decrypt(&m, &msg).unwrap(), i.to_be_bytes());
        assert_eq!(dev.decrypt(&m, &msg), Err(GroupError::DuplicateMessage));
    }
    assert_eq!(dev.decrypt(&m, &last), Err(GroupError::TooFarInFuture));
    // A key whose next iteration is already 2^32 − 1.
    let end = Forged::new(&m, 2, u32::MAX, 5);
    dev.process_distribution(&m, &end.distribution()).unwrap();
    let before = dev.to_bytes().unwrap();
    let msg = end.message(u32::MAX, [2; 16], b"x", true);
    assert_eq!(dev.decrypt(&m, &msg), Err(GroupError::TooFarInFuture));
    let mut behind = msg.clone();
    behind[MSG_ITERATION].copy_from_slice(&(u32::MAX - 1).to_be_bytes());
    crate::support::resign(&mut behind, &end.signing_seed, &end.sender);
    assert_eq!(dev.decrypt(&m, &behind), Err(GroupError::DuplicateMessage));
    assert_eq!(dev.to_bytes().unwrap(), before);
    // From iteration 0 straight to 2^32 − 2: refused by the jump bound before any derivation.
    let start = Forged::new(&m, 3, 0, 6);
    dev.process_distribution(&m, &start.distribution()).unwrap();
    let mut far = start.message(0, [3; 16], b"x", true);
    far[MSG_ITERATION].copy_from_slice(&(u32::MAX - 1).to_be_bytes());
    crate::support::resign(&mut far, &start.signing_seed, &start.sender);
    assert_eq!(dev.decrypt(&m, &far), Err(GroupError::TooFarInFuture));
}

/// A signed message exactly `max_jump` ahead whose AEAD fails (only the sender can make one)
/// costs `max_jump` steps but stores nothing; a signed bad copy of a skipped message leaves the
/// skipped key in place. Then the limits hold at the boundary: `max_jump + 1` is refused,
/// `max_jump` stores the newest `max_skipped_keys`.
#[test]
fn held_signed_messages_with_bad_aead_change_nothing_and_the_jump_bound_is_exact() {
    let limits = GroupLimits {
        max_jump: 50,
        max_skipped_keys: 20,
        ..GroupLimits::DEFAULT
    };
    let mut g = Group::new(11, 2, with_limits(limits));
    let m = g.key(0);
    let f = Forged::new(&m, 9, 0, 7);
    let dev = &mut g.devices[1].group;
    dev.process_distribution(&m, &f.distribution()).unwrap();
    let before = dev.to_bytes().unwrap();
    let bad = f.message(50, [4; 16], b"bad", false);
    assert_eq!(dev.decrypt(&m, &bad), Err(GroupError::DecryptionFailed));
    assert_eq!(dev.skipped_key_count(), 0);
    assert_eq!(dev.to_bytes().unwrap(), before);
    let too_far = f.message(51, [4; 16], b"far", true);
    assert_eq!(dev.decrypt(&m, &too_far), Err(GroupError::TooFarInFuture));
    assert_eq!(
        dev.decrypt(&m, &f.message(50, [4; 16], b"50", true))
            .unwrap(),
        b"50"
    );
    assert_eq!(dev.skipped_key_count(), 20);
    let after = dev.to_bytes().unwrap();
    let bad_skipped = f.message(40, [5; 16], b"bad", false);
    assert_eq!(
        dev.decrypt(&m, &bad_skipped),
        Err(GroupError::DecryptionFailed)
    );
    assert_eq!(dev.to_bytes().unwrap(), after);
    for i in 0..30 {
        let msg = f.message(i, [6; 16], b"old", true);
        assert_eq!(
            dev.decrypt(&m, &msg),
            Err(GroupError::DuplicateMessage),
            "{i}"
        );
    }
    for i in 30..50 {
        assert_eq!(
            dev.decrypt(&m, &f.message(i, [6; 16], b"ok", true))
                .unwrap(),
            b"ok"
        );
    }
    assert_eq!(dev.skipped_key_count(), 0);
}

/// A malicious member rotates through 20 sender keys (and replaces ids in place) and jumps as
/// far as allowed on each: we never hold more than `max_sender_keys` of its keys nor more than
/// `max_sender_keys × max_skipped_keys` skipped keys. Ten thousand unsigned forgeries at random
/// iterations and key ids store nothing.
#[test]
fn held_a_member_cannot_grow_our_store_past_the_documented_bound() {
    let limits = GroupLimits {
        max_jump: 100,
        max_skipped_keys: 60,
        max_sender_keys: 3,
        ..GroupLimits::DEFAULT
    };
    let mut g = Group::new(12, 2, with_limits(limits));
    let m = g.key(0);
    let dev = &mut g.devices[1].group;
    let mut held = Vec::new();
    for k in 0..20u32 {
        // Every third key reuses an id already held, with another signing key.
        let id = if k % 3 == 2 { k - 1 } else { k + 100 };
        let f = Forged::new(&m, id, 0, k as u8);
        dev.process_distribution(&m, &f.distribution()).unwrap();
        let msg = f.message(100, [k as u8; 16], b"jump", true);
        assert_eq!(dev.decrypt(&m, &msg).unwrap(), b"jump");
        assert!(dev.skipped_key_count() <= 3 * 60, "key {k}");
        held.push(f);
    }
    assert_eq!(dev.skipped_key_count(), 3 * 60);
    let before = dev.to_bytes().unwrap();
    let mut rng = crate::common::rng(13);
    let template = held[19].message(0, [0; 16], b"", true);
    for n in 0..10_000u32 {
        let mut forged = template.clone();
        let ids = [held[19].key_id, held[18].key_id, held[16].key_id];
        forged[34..38].copy_from_slice(&ids[n as usize % 3].to_be_bytes());
        let mut it = [0u8; 4];
        rand_chacha::rand_core::Rng::fill_bytes(&mut rng, &mut it);
        forged[MSG_ITERATION].copy_from_slice(&it);
        let got = dev.decrypt(&m, &forged);
        assert!(
            matches!(
                got,
                Err(GroupError::InvalidSignature) | Err(GroupError::UnknownSenderKey(_))
            ),
            "{got:?}"
        );
    }
    assert_eq!(dev.to_bytes().unwrap(), before);
}

/// FINDING (low; SPEC.md §13.4 "a member can make us hold at most `max_sender_keys ×
/// max_skipped_keys` keys of 80 bytes (about 470 KiB at the defaults)"): the key count held,
/// but `ReceivingKey::decrypt` reserved `len + new` before the store dropped its oldest, so a
/// second full jump grew the store's buffer to `2 × max_skipped_keys` entries and kept it:
/// 320 000 bytes for one sender key at the defaults, about 940 KiB for a member's three keys.
/// FIXED: the reservation is capped by the room left under `max_skipped_keys` (SPEC.md §13.4 "a
/// store never reserves beyond its limit"); a full store evicts before it pushes. The same two
/// full jumps (and a third) now keep no more memory than the first one did: well under one
/// entry's worth of bytes stays allocated after each further jump.
#[test]
fn fixed_a_full_skipped_store_keeps_no_more_than_its_bound_allocated() {
    let mut g = Group::new(14, 2, GroupConfig::default());
    let m = g.key(0);
    let f = Forged::new(&m, 1, 0, 8);
    let dev = &mut g.devices[1].group;
    dev.process_distribution(&m, &f.distribution()).unwrap();
    let first = allocation_counter::measure(|| {
        dev.decrypt(&m, &f.message(2000, [1; 16], b"a", true))
            .unwrap();
    });
    assert_eq!(dev.skipped_key_count(), 2000);
    assert!(
        first.bytes_current >= 2000 * 80,
        "positive control: {first:?}"
    );
    for (n, i) in [4001u32, 6002].into_iter().enumerate() {
        let again = f.message(i, [2 + n as u8; 16], b"b", true);
        let info = allocation_counter::measure(|| {
            let plaintext = dev.decrypt(&m, &again).unwrap();
            drop(plaintext);
        });
        assert_eq!(dev.skipped_key_count(), 2000, "the count bound holds");
        assert!(
            info.bytes_current < 80,
            "jump {n}: the store kept {} more bytes for the same 2000 keys",
            info.bytes_current
        );
    }
}

/// Each limit is refused at 0 and above 2^20 and accepted at 2^20 (SPEC.md §13.4), and a
/// refused `new` draws nothing.
#[test]
fn held_limits_are_validated_at_both_ends_before_any_draw() {
    let mut rng = Recorder::new(15);
    let me = *IdentityKeyPair::generate(&mut rng).public();
    rng.draws.clear();
    for field in 0..4 {
        for (value, ok) in [
            (0, false),
            (GroupLimits::CEILING, true),
            (GroupLimits::CEILING + 1, false),
        ] {
            let mut l = GroupLimits::DEFAULT;
            *[
                &mut l.max_jump,
                &mut l.max_skipped_keys,
                &mut l.max_sender_keys,
                &mut l.max_members,
            ][field] = value;
            let before = rng.draws.len();
            let got = GroupSession::new(&mut rng, &me, GROUP, &[], NOW, with_limits(l));
            assert_eq!(got.is_ok(), ok, "field {field} = {value}");
            if !ok {
                assert_eq!(got.map(|_| ()), Err(GroupError::InvalidLimits));
                assert_eq!(rng.draws.len(), before, "nothing drawn");
            }
        }
    }
    assert_eq!(
        GroupLimits::DEFAULT,
        GroupLimits {
            max_jump: 2000,
            max_skipped_keys: 2000,
            max_sender_keys: 3,
            max_members: 1000
        }
    );
    assert_eq!(
        Rotation::DEFAULT,
        Rotation {
            max_messages: 1000,
            max_age_ms: 604_800_000
        }
    );
}

/// `max_members` holds at the boundary, and a refused `add_member` changes nothing.
#[test]
fn held_max_members_is_exact_and_a_refusal_changes_nothing() {
    let limits = GroupLimits {
        max_members: 5,
        ..GroupLimits::DEFAULT
    };
    let mut rng = crate::common::rng(16);
    let me = *IdentityKeyPair::generate(&mut rng).public();
    let others: Vec<_> = (0..6)
        .map(|_| *IdentityKeyPair::generate(&mut rng).public())
        .collect();
    let mut g =
        GroupSession::new(&mut rng, &me, GROUP, &others[..5], NOW, with_limits(limits)).unwrap();
    let before = g.to_bytes().unwrap();
    assert_eq!(g.add_member(&others[5]), Err(GroupError::TooLarge));
    assert_eq!(g.to_bytes().unwrap(), before);
    assert!(g.remove_member(&others[0]));
    assert_eq!(g.add_member(&others[5]), Ok(true));
    assert_eq!(g.members().count(), 5);
}

/// FINDING (doc/code, low; SPEC.md §13.1 "The last iteration a sender uses is 2^32 − 2"):
/// `SendingKey::next` allowed `iteration < u32::MAX − 1`, so the last message a sender sent was
/// iteration 2^32 − 3; a sender at 2^32 − 2 (a state the decoder accepts) could not send.
/// FIXED: `SendingKey::next` allows `iteration < u32::MAX`, as §13.1 says; a key at 2^32 − 1 is
/// used up and due for rotation (§13.1, §13.5), and the decoder now accepts it (§13.7). From the
/// same forged states: 2^32 − 3 and 2^32 − 2 each send at their own iteration; after 2^32 − 2 (and
/// at a stored 2^32 − 1) the key is due for rotation and `send` is `DistributionPending`; a new
/// distribution then gives a fresh key at iteration 0.
#[test]
fn fixed_doc_the_sender_sends_up_to_iteration_2_32_minus_2() {
    let config = GroupConfig {
        rotation: Rotation {
            max_messages: u32::MAX,
            max_age_ms: u64::MAX,
        },
        ..GroupConfig::default()
    };
    let mut g = Group::new(17, 2, config);
    g.distribute_all(NOW);
    let blob = g.blob(0);
    assert_eq!(
        u32_at(&blob, AT_SENDING + 4),
        0,
        "iteration after the key id"
    );
    for (iteration, sends) in [
        (u32::MAX - 2, true),
        (u32::MAX - 1, true),
        (u32::MAX, false),
    ] {
        let forged = edited(&blob, |b| put_u32(b, AT_SENDING + 4, iteration));
        let mut sender = GroupSession::from_bytes(&forged).unwrap();
        let got = sender.send(&mut g.rng, NOW, b"last?");
        assert_eq!(got.is_ok(), sends, "iteration {iteration}");
        if let Ok(m) = got {
            assert_eq!(u32_at(&m, MSG_ITERATION.start), iteration);
            if iteration == u32::MAX - 1 {
                assert!(sender.rotation_due(NOW), "used up after 2^32 - 2");
            } else {
                assert!(!sender.rotation_due(NOW));
            }
        } else {
            assert_eq!(got.unwrap_err(), GroupError::DistributionPending);
            assert!(sender.rotation_due(NOW));
            let d = sender.distribution(&mut g.rng, NOW);
            assert_eq!(d.distribution.iteration(), 0, "a fresh key");
        }
    }
}

/// FINDING (low; robustness, SPEC.md §13.5 gave no bounds for `Rotation`): `GroupSession::new`
/// accepted `max_messages = 0` (or `max_age_ms = 0`). Such a group could never send — rotation
/// always due, `encrypt` always `DistributionPending` — and every `distribution` call drew and
/// handed out a new sender key, flooding every member with keys.
/// FIXED: `Rotation::validate` refuses a zero bound with `InvalidLimits`, checked by `new` before
/// anything is drawn (SPEC.md §13.5 "`Rotation` bounds are each at least 1", §13.6), and a
/// stored zero bound is `NonCanonical` (§13.7, `state::held_every_decode_check_of_section_13_7`).
/// The same two policies are now refused without a draw; bounds of 1 are accepted.
#[test]
fn fixed_a_zero_rotation_policy_is_refused_before_any_draw() {
    let mut rng = Recorder::new(18);
    let ids: Vec<_> = (0..2)
        .map(|_| *IdentityKeyPair::generate(&mut rng).public())
        .collect();
    rng.draws.clear();
    for rotation in [
        Rotation {
            max_messages: 0,
            ..Rotation::DEFAULT
        },
        Rotation {
            max_age_ms: 0,
            ..Rotation::DEFAULT
        },
    ] {
        assert_eq!(rotation.validate(), Err(GroupError::InvalidLimits));
        let config = GroupConfig {
            rotation,
            ..GroupConfig::default()
        };
        let got = GroupSession::new(&mut rng, &ids[0], GROUP, &ids[1..], NOW, config);
        assert_eq!(got.map(|_| ()), Err(GroupError::InvalidLimits));
        assert!(rng.draws.is_empty(), "drew {:?}", rng.lengths());
    }
    let one = Rotation {
        max_messages: 1,
        max_age_ms: 1,
    };
    assert_eq!(one.validate(), Ok(()));
    let config = GroupConfig {
        rotation: one,
        ..GroupConfig::default()
    };
    assert!(GroupSession::new(&mut rng, &ids[0], GROUP, &ids[1..], NOW, config).is_ok());
}
