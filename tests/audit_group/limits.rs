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
/// max_skipped_keys` keys of 80 bytes (about 470 KiB at the defaults)"): the key count holds,
/// but `ReceivingKey::decrypt` reserves `len + new` before the store drops its oldest, so a
/// second full jump grows the store's buffer to `2 × max_skipped_keys` entries and keeps it:
/// 320 000 bytes for one sender key at the defaults, about 940 KiB for a member's three keys.
/// Fix: drop the entries that will be evicted before reserving (reserve `min(len + new, max)`
/// after truncating the front to `max − new`), or document the factor 2.
#[test]
fn broken_doc_a_full_skipped_store_keeps_twice_its_bound_allocated() {
    let mut g = Group::new(14, 2, GroupConfig::default());
    let m = g.key(0);
    let f = Forged::new(&m, 1, 0, 8);
    let dev = &mut g.devices[1].group;
    dev.process_distribution(&m, &f.distribution()).unwrap();
    dev.decrypt(&m, &f.message(2000, [1; 16], b"a", true))
        .unwrap();
    assert_eq!(dev.skipped_key_count(), 2000);
    let second = f.message(4001, [2; 16], b"b", true);
    let info = allocation_counter::measure(|| {
        let plaintext = dev.decrypt(&m, &second).unwrap();
        drop(plaintext);
    });
    assert_eq!(dev.skipped_key_count(), 2000, "the count bound holds");
    eprintln!("second full jump: {} more bytes kept", info.bytes_current);
    assert!(
        info.bytes_current >= 2000 * 80,
        "the store kept {} more bytes for the same 2000 keys",
        info.bytes_current
    );
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
/// `SendingKey::next` allows `iteration < u32::MAX − 1`, so the last message a sender sends is
/// iteration 2^32 − 3; a sender at 2^32 − 2 (a state the decoder accepts) cannot send. The
/// ratchet's chains (SPEC.md §6.3, SECURITY.md property 10) use 2^32 − 2, and a receiver
/// accepts 2^32 − 2 (test above). Fix: `iteration < u32::MAX` in `SendingKey::next`, or write
/// 2^32 − 3 in §13.1.
#[test]
fn broken_doc_the_sender_stops_one_iteration_before_the_spec_says() {
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
    for (iteration, sends) in [(u32::MAX - 2, true), (u32::MAX - 1, false)] {
        let forged = edited(&blob, |b| put_u32(b, AT_SENDING + 4, iteration));
        let mut sender = GroupSession::from_bytes(&forged).unwrap();
        let got = sender.send(&mut g.rng, NOW, b"last?");
        assert_eq!(got.is_ok(), sends, "iteration {iteration}");
        if let Ok(m) = got {
            assert_eq!(u32_at(&m, MSG_ITERATION.start), u32::MAX - 2);
            assert_eq!(
                sender.send(&mut g.rng, NOW, b"2^32 - 2").unwrap_err(),
                GroupError::DistributionPending,
                "iteration 2^32 - 2 is never sent"
            );
        } else {
            assert_eq!(got.unwrap_err(), GroupError::DistributionPending);
            assert!(sender.rotation_due(NOW));
        }
    }
}

/// FINDING (low; robustness, SPEC.md §13.5 gives no bounds for `Rotation`): `GroupSession::new`
/// accepts `max_messages = 0` (or `max_age_ms = 0`). Such a group can never send — rotation is
/// always due, `encrypt` is always `DistributionPending` — and every `distribution` call draws
/// and hands out a new sender key, so an application that loops "distribute, then send" floods
/// every member with keys. Fix: refuse a zero rotation bound with `InvalidLimits`.
#[test]
fn broken_a_zero_rotation_policy_is_accepted_and_makes_the_group_unusable() {
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
        let config = GroupConfig {
            rotation,
            ..GroupConfig::default()
        };
        let mut g = Group::new(18, 2, config);
        let mut ids = std::collections::BTreeSet::new();
        for _ in 0..3 {
            let d = g.devices[0].group.distribution(&mut g.rng, NOW);
            ids.insert(d.distribution.key_id());
            for member in &d.recipients {
                g.devices[0].group.mark_distributed(member);
            }
            assert_eq!(
                g.devices[0].group.send(&mut g.rng, NOW, b"x").unwrap_err(),
                GroupError::DistributionPending
            );
        }
        assert_eq!(ids.len(), 3, "a new key on every call");
    }
}
