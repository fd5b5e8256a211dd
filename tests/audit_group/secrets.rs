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
    a.mark_distributed(bob.public());
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
/// `Session::receive` (or `Session::accept`) returns prints the chain key — whoever reads the
/// log reads the sender's group messages from that iteration on. `Received` is not wiped on
/// drop either, so the chain key stays in freed memory after the application has parsed it.
/// Fix: redact the body in `Received`'s `Debug` when `kind == SenderKeyDistribution` (or always),
/// and wipe `Received.body` on drop (or deliver a distribution as its own receipt variant holding
/// a `SenderKeyDistribution`); update the known limit.
#[test]
fn broken_debug_of_a_received_distribution_prints_its_chain_key() {
    let mut p = crate::common::established(61, true);
    let mut g = Group::new(62, 2, GroupConfig::default());
    let d = g.devices[0]
        .group
        .distribution(&mut g.rng, NOW)
        .distribution;
    let chain: [u8; 32] = d.to_bytes()[41..73].try_into().unwrap();
    let wire = d.send(&mut p.alice, &mut g.rng, NOW).unwrap();
    let receipt = p.bob.receive(&wire, NOW).unwrap();
    assert!(matches!(&receipt, Receipt::Message(_)));
    let log = format!("{receipt:?}");
    assert!(shows(&log, &chain), "the chain key is in the log line");
}

/// FINDING (low; SECURITY.md property 12 "… wiped in place before their container moves them
/// out", which the group code follows for eviction — `wipe()` before `pop_front` — but not for
/// growth): a member's sender keys live inline in a `VecDeque<ReceivingKey>` that
/// `process_distribution` grows with `push_back`. With `max_sender_keys ≥ 4`, the fifth key makes
/// it reallocate: the four chain keys are copied and the old buffer is freed unwiped (the
/// skipped-key store avoids exactly this with `SkippedKeys::reserve`). Evidence by allocation
/// counting: at the default (3 keys, capacity 4) no key arrival allocates; with 8 keys, the fifth
/// and the ninth (pushed before the oldest is dropped) do. Fix: reserve `max_sender_keys + 1` when the member is created (or grow by copying into
/// a new buffer and wiping the old, as `SkippedKeys::reserve` does).
#[test]
fn broken_a_members_key_list_is_regrown_leaving_chain_keys_in_freed_memory() {
    for (max, growth_at) in [(3u32, &[][..]), (8, &[4usize, 8][..])] {
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
            let d = Forged::new(&m, k as u32, 0, k as u8).distribution();
            let info = allocation_counter::measure(|| {
                g.devices[1].group.process_distribution(&m, &d).unwrap();
            });
            let allocated = info.count_total > 0;
            assert_eq!(
                allocated,
                k == 0 || growth_at.contains(&k),
                "max {max}, key {k}: {info:?}"
            );
        }
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
