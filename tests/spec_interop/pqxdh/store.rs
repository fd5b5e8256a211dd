//! The store's KEM prekeys across implementations (§4.5, §10.0, §10.2): rotation keeping three
//! last-resort keys, one shared id counter that wraps and skips held ids, the 4096 cap on
//! one-time KEM prekeys, and which version a store is written in.

use super::responder;
use crate::common::state_codec::{self as sc, StoreBlob};
use crate::parties::BobPre;
use crate::reference::primitives::{K32, draw};
use crate::reference::store::MyBob;
use crate::reference::wire::{Ident, decode_bundle};
use crate::world::NOW;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use xchat_protocol::{IdentityKeyPair, PreKeyStore};

/// The KEM ids of a store blob: (next, last-resort, one-time).
fn kem_ids(blob: &[u8]) -> (u32, Vec<u32>, Vec<u32>) {
    let (_, s) = StoreBlob::decode(blob).unwrap();
    let k = s.kem.unwrap();
    let ids = |l: &[sc::StoredKemPreKey]| l.iter().map(|x| x.id).collect::<Vec<_>>();
    (k.next_kem_id, ids(&k.last_resort), ids(&k.one_time))
}

/// One implementation's run of KEM store operations; returns every observable step.
fn run(crate_bob: bool) -> Vec<String> {
    let mut log = vec![];
    let (mut rng, seed, mut bob) = responder(54, crate_bob);
    // A fourth last-resort key pushes out the oldest; the newest goes into bundles.
    for i in 1..=3 {
        log.push(format!(
            "rotate {}",
            bob.rotate_kem_prekey(&mut rng, NOW + i)
        ));
    }
    let blob = bob.store_state();
    assert_eq!(kem_ids(&blob), (6, vec![3, 4, 5], vec![1, 2]));
    let kem = decode_bundle(&bob.bundle(None, None).unwrap())
        .unwrap()
        .kem
        .unwrap();
    assert_eq!((kem.usage, kem.id, kem.created_at), (0, 5, NOW + 3));
    log.push(hex::encode(&blob));
    // The counter wraps and skips held ids (0 is no longer held).
    let edited = sc::edit_store(&blob, |s| {
        s.kem.as_mut().unwrap().next_kem_id = u32::MAX - 1
    });
    let [mine, theirs] = BobPre::both(&seed, &edited);
    bob = if crate_bob { theirs } else { mine };
    let ids = bob.generate_kem_one_time_prekeys(&mut rng, 4, NOW).unwrap();
    assert_eq!(ids, [u32::MAX - 1, u32::MAX, 0, 6]);
    log.push(hex::encode(bob.store_state()));
    // At most 4096 one-time KEM prekeys: beyond it `TooLarge`, nothing changed or drawn.
    let held = kem_ids(&bob.store_state()).2.len();
    let before = (bob.store_state(), rng.clone());
    for n in [4096 - held + 1, usize::MAX] {
        let r = bob.generate_kem_one_time_prekeys(&mut rng, n, NOW);
        assert_eq!(r.unwrap_err(), "TooLarge");
        assert_eq!(
            (bob.store_state(), rng.clone().next_u64()),
            (before.0.clone(), before.1.clone().next_u64())
        );
    }
    let ids = bob
        .generate_kem_one_time_prekeys(&mut rng, 4096 - held, NOW)
        .unwrap();
    assert_eq!(ids.last(), Some(&u32::try_from(6 + 4096 - held).unwrap()));
    assert_eq!(
        bob.generate_kem_one_time_prekeys(&mut rng, 1, NOW)
            .unwrap_err(),
        "TooLarge"
    );
    assert_eq!(
        bob.generate_kem_one_time_prekeys(&mut rng, 0, NOW),
        Ok(vec![])
    );
    let full = bob.store_state();
    assert_eq!(kem_ids(&full).2.len(), 4096);
    log.push(hex::encode(&full));
    log.push(format!("{}", rng.next_u64()));
    log
}

/// Test S1: both implementations run the same KEM store operations to the same bytes.
#[test]
fn kem_prekey_store_operations_agree() {
    assert_eq!(run(false), run(true));
}

/// Test S2: a store is written as version 4 exactly when it holds KEM state (§10.0): not after
/// generating no KEM prekey at all; with one-time KEM prekeys only it is version 4 and its
/// bundle without a one-time KEM prekey is a version 0x01 one (no last-resort key to carry);
/// with every KEM prekey gone (`next_kem_id ≠ 0`) it stays version 4 and loads.
#[test]
fn store_versions_follow_kem_state() {
    let mut rng = ChaCha20Rng::from_seed([56; 32]);
    let seed: K32 = draw(&mut rng);
    let mut both = [
        BobPre::Mine(Box::new(MyBob::new(Ident::new(seed)))),
        BobPre::Crate(Box::new((
            IdentityKeyPair::from_seed(&seed),
            PreKeyStore::new(),
        ))),
    ];
    let mut logs = vec![];
    for bob in &mut both {
        let mut r = rng.clone();
        let mut log = vec![];
        bob.rotate_signed_prekey(&mut r, NOW);
        assert_eq!(
            bob.generate_kem_one_time_prekeys(&mut r, 0, NOW),
            Ok(vec![])
        );
        log.push(bob.store_state());
        assert_eq!(
            bob.store_state()[1],
            sc::VERSION,
            "no KEM prekey held: version 3"
        );
        assert_eq!(
            bob.generate_kem_one_time_prekeys(&mut r, 1, NOW),
            Ok(vec![0])
        );
        let blob = bob.store_state();
        assert_eq!(blob[1], sc::VERSION_PQ);
        let classical = bob.bundle(None, None).unwrap();
        assert_eq!((classical[0], classical.len()), (0x01, 142));
        let pq = bob.bundle(None, Some(0)).unwrap();
        assert_eq!((pq[0], pq.len()), (0x02, 1787));
        log.extend([blob.clone(), classical, pq]);
        // The one-time KEM prekey used: no KEM prekey left, still version 4 (next_kem_id = 1).
        let empty = sc::edit_store(&blob, |s| s.kem.as_mut().unwrap().one_time.clear());
        let [mine, theirs] = BobPre::both(&seed, &empty);
        for b in [mine, theirs] {
            assert_eq!(b.store_state(), empty);
            assert_eq!(kem_ids(&empty), (1, vec![], vec![]));
        }
        logs.push(log);
    }
    assert_eq!(logs[0], logs[1]);
}
