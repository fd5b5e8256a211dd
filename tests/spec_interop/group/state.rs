//! Persisted group state (§13.7 in the §10.0 envelope, and sealed at rest, §10.4) across
//! implementations: the crate's `to_bytes` is the reference's encoding after the same calls,
//! the reference's blobs load in the crate and behave alike, hand-built and edge states.

use super::{Cfg, Dev, GID, NOW, full_group, ik, rng, text};
use crate::common::state_codec as sc;
use crate::pqxdh::Scripted;
use crate::reference::group::{
    Member, MyGroup, OwnKey, RecvKey, Skipped, Timer, build_msg, decode_dist, decode_msg,
    open_at_rest, seal_at_rest, signing_public,
};
use crate::reference::primitives::{K32, kdf_ck};
use xchat_protocol::group::GroupSession;
use xchat_protocol::state::StorageKey;

/// Each device's twin rebuilt crosswise: the reference from the crate's blob and the crate
/// from the reference's.
fn swap(d: &mut Dev) {
    let (mine, theirs) = (d.mine.to_state(), d.theirs.to_bytes().unwrap().to_vec());
    d.mine = MyGroup::from_state(&theirs).unwrap();
    d.theirs = GroupSession::from_bytes(&mine).unwrap();
    d.same();
}

/// Test S1: a conversation of three with rotation, a removal, out-of-order delivery and a
/// timer: the blobs agree after every call (`Dev` checks it), and rebuilt crosswise midway the
/// devices go on identically.
#[test]
fn states_agree_and_swap_midway() {
    let mut r = rng(30);
    let cfg = Cfg {
        limits: [50, 20, 2, 8],
        rotation: (6, 86_400_000),
    };
    let mut devs = full_group(&mut r, 3, cfg);
    let iks: Vec<K32> = devs.iter().map(|d| d.mine.local).collect();
    let t = devs[1].set_timer(&mut r, NOW, 3600, 0).unwrap();
    let mut inbox = vec![(1, t)];
    for round in 0..8u8 {
        let s = usize::from(round % 3);
        for k in 0..3u8 {
            if devs[s].rotation_due(NOW) || !devs[s].mine.lacking().is_empty() {
                let d = devs[s].distribute(&mut r, NOW);
                for (i, dev) in devs.iter_mut().enumerate() {
                    if i != s {
                        dev.process(&iks[s], &d).unwrap();
                    }
                }
            }
            inbox.push((s, devs[s].send(&mut r, NOW, &[round, k]).unwrap()));
        }
        if round == 3 {
            devs.iter_mut().for_each(swap);
        }
        // Deliver newest first to one member, in order to the other.
        for (i, dev) in devs.iter_mut().enumerate() {
            let order: Vec<_> = if i % 2 == 0 {
                inbox.iter().rev().collect()
            } else {
                inbox.iter().collect()
            };
            for (from, m) in order {
                if *from != i {
                    let _ = dev.receive(&iks[*from], m, NOW + 1);
                }
            }
        }
        inbox.clear();
    }
    // A removal (the others rotate when told), then a last round.
    for (i, dev) in devs.iter_mut().enumerate().take(2) {
        assert!(dev.remove(&iks[2]), "device {i}");
    }
    let d = devs[0].distribute(&mut r, NOW);
    devs[1].process(&iks[0], &d).unwrap();
    let m = devs[0].send(&mut r, NOW, b"without c").unwrap();
    assert!(devs[1].receive(&iks[0], &m, NOW).is_ok());
    assert_eq!(
        devs[2].decrypt(&iks[0], &m).unwrap_err(),
        format!("UnknownSenderKey({})", decode_msg(&m).unwrap().key_id)
    );
    devs.iter_mut().for_each(swap);
}

fn skipped(chain: K32, iteration: u32, skipped_at: u64) -> Skipped {
    Skipped {
        chain,
        iteration,
        stamp: 0,
        skipped_at,
        mk: [iteration as u8; 32],
    }
}

/// A state no call sequence of these tests builds, but every rule of §13.7 allows: several
/// keys per member, skipped keys not in ascending order with and without a clock, a member
/// without keys that lacks our key, a timer, a stale flag clear, our key mid-chain.
pub(crate) fn hand_built() -> MyGroup {
    let sig2 = signing_public(&[0x21; 32]);
    let mut members = vec![
        Member {
            ik: ik(2),
            has_our_key: true,
            keys: vec![
                RecvKey {
                    id: 0x0102_0304,
                    signing: signing_public(&[0x20; 32]),
                    ck: [0x11; 32],
                    next: 3,
                    skipped: vec![],
                },
                RecvKey {
                    id: 5,
                    signing: sig2,
                    ck: [0x12; 32],
                    next: 8,
                    skipped: vec![
                        skipped(sig2, 5, NOW),
                        skipped(sig2, 2, u64::MAX),
                        skipped(sig2, 4, NOW + 10),
                    ],
                },
            ],
        },
        Member {
            ik: ik(3),
            has_our_key: false,
            keys: vec![],
        },
        Member {
            ik: ik(4),
            has_our_key: true,
            keys: vec![RecvKey {
                id: 5,
                signing: signing_public(&[0x40; 32]),
                ck: [0x13; 32],
                next: 0,
                skipped: vec![],
            }],
        },
    ];
    members.sort_by_key(|m| m.ik);
    MyGroup {
        group_id: GID,
        local: ik(1),
        limits: [10, 4, 3, 5],
        rotation: (50, 1_000_000_000),
        timer: Timer {
            duration_s: 60,
            start: 0,
            version: 3,
        },
        stale: false,
        own: OwnKey {
            id: 0xDEAD_BEEF,
            iteration: 7,
            ck: [0x55; 32],
            seed: [0x56; 32],
            created_at: NOW,
        },
        members,
    }
}

/// Test S2: a hand-built blob of the reference loads in the crate, re-encodes byte for byte,
/// and behaves like the reference: the member lacking our key holds up sending, a skipped key
/// out of ascending order opens, the front of the list is what `max_skipped_keys` drops, and the
/// purge follows `skipped_at` under the group's timer.
#[test]
fn hand_built_state_loads_and_behaves() {
    let mut r = rng(31);
    let st = hand_built();
    let mut g = Dev::load(&st.to_state());
    let sender = ik(2);
    let sig2 = [0x21; 32];
    assert_eq!(
        g.encrypt(&mut r, NOW, b"x").unwrap_err(),
        "DistributionPending"
    );
    let (d, to) = g.distribution(&mut r, NOW);
    assert_eq!((to, d.len()), (vec![ik(3)], 105));
    // Skipped iteration 2, opened with its stored key.
    let m = build_msg(&sender, (&GID, 5, 2), &[2; 32], &[1; 16], &sig2, b"two");
    assert_eq!(g.decrypt(&sender, &m).unwrap(), b"two");
    // Iteration 11 skips 8, 9, 10: appended after [5, 4], then the front dropped (limit 4):
    // 5 goes, the oldest entry, not the lowest iteration.
    let mut ck = [0x12; 32];
    for _ in 8..11 {
        ck = kdf_ck(&ck).1;
    }
    let m = build_msg(
        &sender,
        (&GID, 5, 11),
        &kdf_ck(&ck).0,
        &[1; 16],
        &sig2,
        b"11",
    );
    g.receive(&sender, &m, NOW + 20).unwrap();
    let m2 = g.mine.members.iter().find(|m| m.ik == sender).unwrap();
    let kept: Vec<u32> = m2.keys[1].skipped.iter().map(|s| s.iteration).collect();
    assert_eq!(kept, [4, 8, 9, 10]);
    // 60 s timer: skipped at NOW + 10 purgeable after NOW + 10 + 60 000 + 600 000.
    assert_eq!(g.purge(NOW + 660_010), 0);
    assert_eq!(g.purge(NOW + 660_011), 1);
    assert_eq!(g.purge(NOW + 660_021), 3);
    assert_eq!(g.mine.skipped_key_count(), 0);
    // A key id held by two members is two keys.
    let m4 = build_msg(
        &ik(4),
        (&GID, 5, 0),
        &kdf_ck(&[0x13; 32]).0,
        &[1; 16],
        &[0x40; 32],
        b"4",
    );
    assert_eq!(g.decrypt(&ik(4), &m4).unwrap(), b"4");
    assert_eq!(g.decrypt(&sender, &m4).unwrap_err(), "InvalidSignature");
}

/// Test S3: the end of our chain (§13.1): the last iteration a sender uses is `2^32 − 2`; a key
/// at `2^32 − 1` is used up (due for rotation, §13.5) and is stored and loaded as it is
/// (§13.7); a distribution then rotates to a fresh key at iteration 0.
#[test]
fn last_own_iteration() {
    let mut r = rng(32);
    let mut st = hand_built();
    st.members.iter_mut().for_each(|m| m.has_our_key = true);
    st.rotation = (u32::MAX, u64::MAX);
    st.own.iteration = u32::MAX - 2;
    let mut g = Dev::load(&st.to_state());
    for last in [u32::MAX - 2, u32::MAX - 1] {
        assert!(!g.rotation_due(NOW), "{last} is not used up");
        let m = g.encrypt(&mut r, NOW, b"last").unwrap();
        assert_eq!(decode_msg(&m).unwrap().iteration, last);
    }
    assert!(g.rotation_due(NOW), "2^32 - 1 is used up");
    assert_eq!(g.mine.own.iteration, u32::MAX);
    assert_eq!(
        g.encrypt(&mut r, NOW, b"x").unwrap_err(),
        "DistributionPending"
    );
    let blob = g.theirs.to_bytes().unwrap().to_vec();
    let reload = GroupSession::from_bytes(&blob).map(|_| ()).map_err(text);
    let mine = MyGroup::from_state(&blob).map(|_| ()).map_err(text);
    assert_eq!(reload, mine);
    assert_eq!(
        reload,
        Ok(()),
        "the group after its last message does not load again"
    );
    let mut g = Dev::load(&blob);
    assert!(g.rotation_due(NOW));
    let (d, to) = g.distribution(&mut r, NOW);
    assert_eq!(decode_dist(&d).unwrap().iteration, 0);
    assert_eq!(to.len(), st.members.len());
}

/// Test S4: sealed at rest (§10.4): the crate's sealed blob is the reference's for the same
/// salt draw, opens in the crate from the reference's bytes, and refuses another key.
#[test]
fn sealed_at_rest() {
    let g = Dev::load(&hand_built().to_state());
    let (salt, key) = ([0x5A; 32], [0xA5; 32]);
    let mut s = Scripted::new(&[&salt]);
    let sealed = g
        .theirs
        .to_sealed_bytes(&mut s, &StorageKey::from_bytes(key))
        .unwrap();
    s.finish();
    let body = g.mine.encode_body();
    let mine = seal_at_rest(&salt, &key, &body);
    assert_eq!(hex::encode(&sealed), hex::encode(&mine));
    assert_eq!(sealed[..2], [0x93, 0x01]);
    let back = GroupSession::from_sealed_bytes(&mine, &StorageKey::from_bytes(key)).unwrap();
    assert_eq!(back.to_bytes().unwrap().to_vec(), g.state());
    let wrong = GroupSession::from_sealed_bytes(&mine, &StorageKey::from_bytes([0; 32]));
    assert_eq!(text(wrong.unwrap_err()), "ChecksumMismatch");
    let unsealed = GroupSession::from_sealed_bytes(&g.state(), &StorageKey::from_bytes(key));
    assert_eq!(text(unsealed.unwrap_err()), "UnknownType(19)");
    assert_eq!(
        text(GroupSession::from_bytes(&mine).unwrap_err()),
        "UnknownType(147)"
    );
    // §10.4's opening order, both implementations.
    let k = StorageKey::from_bytes(key);
    let mut bad_body = hand_built();
    bad_body.stale = false;
    bad_body.limits[0] = 0;
    let forged = seal_at_rest(&salt, &key, &bad_body.encode_body());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "Truncated"),
        (
            "unsealed kind",
            [&[0x13u8][..], &mine[1..]].concat(),
            "UnknownType(19)",
        ),
        ("kind only", vec![0x93], "Truncated"),
        (
            "version 2",
            [&[0x93u8, 2][..], &mine[2..]].concat(),
            "UnknownVersion(2)",
        ),
        ("version 0, short", vec![0x93, 0], "UnknownVersion(0)"),
        (
            "47 bytes after the version",
            mine[..49].to_vec(),
            "Truncated",
        ),
        (
            "48 bytes after the version",
            mine[..50].to_vec(),
            "ChecksumMismatch",
        ),
        ("a bit of the salt", with_bit(&mine, 10), "ChecksumMismatch"),
        (
            "trailing byte",
            [&mine[..], &[0]].concat(),
            "ChecksumMismatch",
        ),
        ("body with max_jump 0, sealed", forged, "NonCanonical"),
    ];
    for (name, blob, want) in cases {
        let theirs = GroupSession::from_sealed_bytes(&blob, &k)
            .map(|_| ())
            .map_err(text);
        let ours = open_at_rest(&blob, &key).map(|_| ()).map_err(text);
        assert_eq!(
            (ours, theirs),
            (Err(want.to_string()), Err(want.to_string())),
            "{name}"
        );
    }
    assert_eq!(open_at_rest(&sealed, &key).unwrap(), g.mine);
    // The envelope of §10.0 around the same body.
    assert_eq!(sc::seal(0x13, 0x01, &body), g.state());
}

fn with_bit(b: &[u8], at: usize) -> Vec<u8> {
    let mut v = b.to_vec();
    v[at] ^= 1;
    v
}
