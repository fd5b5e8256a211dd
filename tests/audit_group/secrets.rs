//! Secrets of the group layer (SECURITY.md property 12, property 1's forward secrecy for sender
//! keys): `Debug` output, wiping, copies left by containers, and what a thief of a state blob
//! can open.

use xchat_protocol::group::{GroupConfig, GroupLimits, GroupSession, SenderKeyDistribution};
use xchat_protocol::{IdentityKeyPair, Receipt};

use crate::support::{Forged, GROUP, Group, HEADER_LEN, NOW, Recorder, ck_step, ref_open, shows};

/// No `Debug` of a group, its distribution, a pending `Distribution`, a group error or a group
/// receipt shows the chain key, the signing seed, or a message key — on the sender and on a
/// receiver that holds the key with skipped keys.
#[test]
fn held_debug_of_group_types_shows_no_secret() {
    let mut rng = Recorder::new(60);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    rng.draws.clear();
    let mut a = GroupSession::new(
        &mut rng,
        alice.public(),
        GROUP,
        &[*bob.public()],
        NOW,
        GroupConfig::default(),
    )
    .unwrap();
    let (ck0, seed) = (rng.draws[1].clone(), rng.draws[2].clone());
    let mut b = GroupSession::new(
        &mut rng,
        bob.public(),
        GROUP,
        &[*alice.public()],
        NOW,
        GroupConfig::default(),
    )
    .unwrap();
    let pending = a.distribution(&mut rng, NOW);
    let d = SenderKeyDistribution::from_bytes(&pending.distribution.to_bytes()).unwrap();
    b.process_distribution(alice.public(), &d).unwrap();
    a.mark_distributed(bob.public(), &pending.distribution)
        .unwrap();
    let m0 = a.send(&mut rng, NOW, b"zero").unwrap();
    let m1 = a.send(&mut rng, NOW, b"one").unwrap();
    let got = b.receive(alice.public(), &m1, NOW).unwrap();
    let ck0: [u8; 32] = ck0[..].try_into().unwrap();
    let (mk0, ck1) = ck_step(&ck0);
    let (mk1, ck2) = ck_step(&ck1);
    let texts = [
        format!("{a:?}"),
        format!("{b:?}"),
        format!("{a:#?}"),
        format!("{pending:?}"),
        format!("{d:?}"),
        format!("{got:?}"),
        format!("{:?}", b.receive(alice.public(), &m1, NOW)),
        format!("{:?}", b.decrypt(alice.public(), &m0[..10])),
    ];
    for t in &texts {
        for secret in [&ck0, &ck1, &ck2, &mk0, &mk1, &seed[..].try_into().unwrap()] {
            assert!(!shows(t, secret), "secret in {t}");
        }
    }
    fn wipes<T: zeroize::ZeroizeOnDrop>() {}
    wipes::<xchat_protocol::kdf::GroupChainKey>();
    wipes::<xchat_protocol::kdf::GroupMessageKey>();
    let _: zeroize::Zeroizing<Vec<u8>> = d.to_bytes();
}

/// FINDING (low; SECURITY.md property 12 "no `Debug` output contains secret bytes" and Known
/// limits "`Debug` of `Received` … shows message bodies (not keys)"): a sender key distribution
/// arrives as the body of a `Received` (SPEC.md §13.2), so `{:?}` of the `Receipt` that
/// `Session::receive` (or `Session::accept`) returns printed the chain key — whoever read the
/// log read the sender's group messages from that iteration on.
/// FIXED (the `Debug` half): `Received`'s `Debug` shows only the length of a
/// `SenderKeyDistribution` body. The same receipt's `{:?}` and `{:#?}` now show neither the chain
/// key nor any other byte of the body; an ordinary message body is still shown (the documented
/// behaviour). STILL OPEN, documented: `Received.body` is not wiped on drop (SECURITY.md
/// property 12, "What this does not cover": parse it and drop it at once).
#[test]
fn fixed_debug_of_a_received_distribution_redacts_its_chain_key() {
    let mut p = crate::common::established(61, true);
    let mut g = Group::new(62, 2, GroupConfig::default());
    let d = g.devices[0]
        .group
        .distribution(&mut g.rng, NOW)
        .distribution;
    let body = d.to_bytes();
    let chain: [u8; 32] = body[41..73].try_into().unwrap();
    let wire = d.send(&mut p.alice, &mut g.rng, NOW).unwrap();
    let receipt = p.bob.receive(&wire, NOW).unwrap();
    let Receipt::Message(got) = &receipt else {
        panic!("delivered")
    };
    assert_eq!(got.body, &body[..], "the body is still there to parse");
    for log in [
        format!("{receipt:?}"),
        format!("{receipt:#?}"),
        format!("{got:?}"),
    ] {
        assert!(
            !shows(&log, &chain),
            "the chain key is in the log line: {log}"
        );
        assert!(!shows(&log, &body[33..41]), "key id and iteration: {log}");
    }
    let plain = p.alice.send(&mut g.rng, NOW, b"not a secret").unwrap();
    let receipt = p.bob.receive(&plain, NOW).unwrap();
    assert!(shows(&format!("{receipt:?}"), b"not a secret"));
}

/// FINDING (low; SECURITY.md property 12 "… wiped in place before their container moves them
/// out", which the group code followed for eviction — `wipe()` before `pop_front` — but not for
/// growth): a member's sender keys live inline in a `VecDeque<ReceivingKey>` that
/// `process_distribution` grew with `push_back`. With `max_sender_keys ≥ 4`, the fifth key made
/// it reallocate: the four chain keys were moved bytewise into a new buffer and the old buffer was
/// freed unwiped. Evidence then: with 8 keys, only the 1st, 5th and 9th arrivals allocated.
/// FIXED: `Member::push_key` evicts (wiping) first, and grows only by copying the keys one by
/// one into a new buffer of the exact size; the old buffer's keys are then dropped as values, so
/// each wipes itself before the buffer is freed (the way `SkippedKeys::reserve` grows). Evidence
/// by allocation counting, with each held key carrying one skipped key (a `VecDeque` of its own,
/// so that a key-by-key copy allocates once per held key where a bytewise move allocates
/// nothing): each arrival below `max_sender_keys` allocates the new list plus one skipped store
/// per key already held — the keys were cloned and the old ones dropped — and once the list is
/// full no arrival allocates (eviction makes the room; the list never grows past its bound).
#[test]
fn fixed_a_members_key_list_grows_by_copying_each_key_so_the_old_ones_are_wiped() {
    for max in [3u32, 8] {
        let limits = GroupLimits {
            max_sender_keys: max,
            ..GroupLimits::DEFAULT
        };
        let mut g = Group::new(
            63,
            2,
            GroupConfig {
                limits,
                ..GroupConfig::default()
            },
        );
        let m = g.key(0);
        for k in 0..(max as usize + 2) {
            let f = Forged::new(&m, k as u32, 0, k as u8);
            let d = f.distribution();
            let info = allocation_counter::measure(|| {
                g.devices[1].group.process_distribution(&m, &d).unwrap();
            });
            let held = k.min(max as usize);
            let expected = if k < max as usize { 1 + held as u64 } else { 0 };
            assert_eq!(info.count_total, expected, "max {max}, key {k}: {info:?}");
            // Give the new key one skipped key (iteration 0), so that its copy allocates.
            let msg = f.message(1, [k as u8; 16], b"skip one", true);
            assert_eq!(g.devices[1].group.decrypt(&m, &msg).unwrap(), b"skip one");
        }
        assert_eq!(g.devices[1].group.skipped_key_count(), max as usize);
    }
}

/// Forward secrecy of the chain (SPEC.md §13.4 "keys are deleted once used"): after a receiver
/// read message 2 and the sender sent it, no 32-byte window of either blob — taken as a message
/// key, or as a chain key stepped up to four times — opens it; a blob from before does
/// (positive control).
#[test]
fn held_no_blob_after_the_fact_opens_a_message_already_read() {
    let mut g = Group::new(64, 2, GroupConfig::default());
    g.distribute_all(NOW);
    let sent: Vec<_> = (0..3u8).map(|i| g.send(0, NOW, &[i; 8])).collect();
    let receiver_before = g.blob(1);
    g.receive(1, 0, &sent[2], NOW).unwrap();
    let alice = g.key(0).to_bytes();
    let target = &sent[2];
    let seed: [u8; 16] = target[42..58].try_into().unwrap();
    let mut ad = alice.to_vec();
    ad.extend_from_slice(&target[..HEADER_LEN]);
    let sealed = &target[HEADER_LEN..target.len() - 64];
    let opens = |blob: &[u8]| {
        blob.windows(32).any(|w| {
            let mut k: [u8; 32] = w.try_into().unwrap();
            if ref_open(&k, &seed, &ad, sealed).is_some() {
                return true;
            }
            (0..4).any(|_| {
                let (mk, next) = ck_step(&k);
                k = next;
                ref_open(&mk, &seed, &ad, sealed).is_some()
            })
        })
    };
    assert!(opens(&receiver_before), "positive control");
    assert!(!opens(&g.blob(1)), "receiver after reading it");
    assert!(!opens(&g.blob(0)), "sender after sending it");
}
