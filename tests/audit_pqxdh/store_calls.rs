//! The store's KEM functions (SPEC.md §4.5 "Store", §11.2): `generate_kem_one_time_prekeys` at and
//! over its 4096 bound, `remove_kem_one_time_prekey` and `bundle_with_kem_one_time` given the id of
//! a key of the other use or of none, `rotate_kem_prekey`, and the one id space across a wrap of
//! `next_kem_id`. Every error leaves the store byte-identical.

use xchat_protocol::prekeys::MAX_KEM_ONE_TIME_PREKEYS;
use xchat_protocol::{Error, IdentityKeyPair, PreKeyStore, Session};

use crate::common::rng;
use crate::common::state_codec::{StoreBlob, StoredKemPreKey, edit_store};
use crate::support::{NOW, first, pq, responder, store_bytes};

/// The store is brought to one below the bound by planting one-time KEM prekeys through the
/// reference codec (generating 4 000 keys costs minutes in a debug build); the bound itself is
/// crossed by the library's own generation.
#[test]
fn held_generate_kem_one_time_prekeys_at_and_over_its_bound_changes_nothing() {
    let mut r = rng(90);
    let bob = responder(&mut r);
    let room = MAX_KEM_ONE_TIME_PREKEYS - bob.store.kem_one_time_prekey_count();
    let planted = edit_store(&bob.store_bytes(), |s| {
        let k = s.kem.as_mut().unwrap();
        let template = k.one_time[0].clone();
        k.one_time
            .extend((0..room as u32 - 1).map(|i| StoredKemPreKey {
                id: 1000 + i,
                ..template.clone()
            }));
        k.next_kem_id = 1000 + room as u32 - 1;
    });
    let mut store = PreKeyStore::from_bytes(&planted).unwrap();
    assert_eq!(
        store.kem_one_time_prekey_count(),
        MAX_KEM_ONE_TIME_PREKEYS - 1
    );
    for count in [2, 3, usize::MAX] {
        let got = store.generate_kem_one_time_prekeys(&mut r, &bob.id, count, NOW);
        assert_eq!(got, Err(Error::TooLarge), "{count}");
        assert_eq!(store_bytes(&store), planted);
    }
    let made = store
        .generate_kem_one_time_prekeys(&mut r, &bob.id, 1, NOW)
        .unwrap();
    assert_eq!(made[0].id, 1000 + room as u32 - 1);
    assert_eq!(store.kem_one_time_prekey_count(), MAX_KEM_ONE_TIME_PREKEYS);
    let full = store_bytes(&store);
    for count in [1, 2, usize::MAX] {
        let got = store.generate_kem_one_time_prekeys(&mut r, &bob.id, count, NOW);
        assert_eq!(got, Err(Error::TooLarge));
        assert_eq!(store_bytes(&store), full);
    }
    let got = store.generate_kem_one_time_prekeys(&mut r, &bob.id, 0, NOW);
    assert_eq!(got, Ok(Vec::new()));
    assert_eq!(store_bytes(&store), full);
    // The full store round-trips, and the reference codec reads it.
    let back = PreKeyStore::from_bytes(&full).unwrap();
    assert_eq!(store_bytes(&back), full);
    let (_, parsed) = StoreBlob::decode(&full).unwrap();
    assert_eq!(parsed.kem.unwrap().one_time.len(), MAX_KEM_ONE_TIME_PREKEYS);
    // Ids: one space, ascending, none equal to the last-resort key's.
    let ids = store.kem_one_time_prekey_ids();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert!(!ids.contains(&bob.last_resort));
    // After one removal there is room for exactly one.
    assert!(store.remove_kem_one_time_prekey(ids[7]));
    let one_out = store_bytes(&store);
    let got = store.generate_kem_one_time_prekeys(&mut r, &bob.id, 2, NOW);
    assert_eq!(got, Err(Error::TooLarge));
    assert_eq!(store_bytes(&store), one_out);
    let got = store.generate_kem_one_time_prekeys(&mut r, &bob.id, 1, NOW);
    assert_eq!(got.unwrap().len(), 1);
}

#[test]
fn held_removal_and_bundles_never_touch_a_key_of_the_other_use() {
    let mut r = rng(91);
    let mut bob = responder(&mut r);
    let before = bob.store_bytes();
    let lr = bob.last_resort;
    assert!(
        !bob.store.remove_kem_one_time_prekey(lr),
        "a last-resort key removed"
    );
    assert!(!bob.store.remove_kem_one_time_prekey(0xDEAD));
    assert_eq!(bob.store_bytes(), before);
    assert_eq!(bob.store.current_kem_prekey().unwrap().id, lr);
    for (id, opk, want) in [
        (lr, None, Error::UnknownKemPreKey(lr)),
        (0xDEAD, None, Error::UnknownKemPreKey(0xDEAD)),
        (
            bob.kem_ids[0],
            Some(0xBEEF),
            Error::UnknownOneTimePreKey(0xBEEF),
        ),
    ] {
        let got = bob.store.bundle_with_kem_one_time(&bob.id, opk, id);
        assert_eq!(got, Err(want));
        assert_eq!(bob.store_bytes(), before);
    }
    // A removed one-time KEM prekey is gone for bundles and for first messages.
    let alice = IdentityKeyPair::generate(&mut r);
    let k = bob.kem_ids[1];
    let bundle = bob
        .store
        .bundle_with_kem_one_time(&bob.id, None, k)
        .unwrap();
    let (_a, m) = first(&mut r, &alice, &bundle);
    assert!(bob.store.remove_kem_one_time_prekey(k));
    assert!(!bob.store.remove_kem_one_time_prekey(k));
    let after = bob.store_bytes();
    let got = bob.store.bundle_with_kem_one_time(&bob.id, None, k);
    assert_eq!(got, Err(Error::UnknownKemPreKey(k)));
    let got = Session::accept(&bob.id, &mut bob.store, &m, &pq(), NOW).map(|_| ());
    assert_eq!(got, Err(Error::UnknownKemPreKey(k)));
    assert_eq!(bob.store_bytes(), after);
    // A store with KEM prekeys but no signed prekey hands out no bundle.
    let mut no_spk = PreKeyStore::new();
    no_spk.rotate_kem_prekey(&mut r, &bob.id, NOW);
    let id = no_spk
        .generate_kem_one_time_prekeys(&mut r, &bob.id, 1, NOW)
        .unwrap()[0]
        .id;
    assert_eq!(no_spk.bundle(&bob.id, None), Err(Error::NoSignedPreKey));
    let got = no_spk.bundle_with_kem_one_time(&bob.id, None, id);
    assert_eq!(got, Err(Error::NoSignedPreKey));
}

/// `next_kem_id` planted at `2^32 − 1` (a store that has made 4 billion KEM prekeys): the next
/// keys take `2^32 − 1`, then wrap past every id still held by either use (the last-resort key's
/// 0 and the one-time keys' 1–4) instead of replacing one; rotation keeps three last-resort keys
/// and forgets the oldest, whose id is not handed out again before the next wrap.
#[test]
fn held_kem_ids_wrap_without_replacing_a_held_key_of_either_use() {
    let mut r = rng(92);
    let bob = responder(&mut r);
    assert_eq!(
        (bob.last_resort, bob.kem_ids.clone()),
        (0, vec![1, 2, 3, 4])
    );
    let forged = edit_store(&bob.store_bytes(), |s| {
        s.kem.as_mut().unwrap().next_kem_id = u32::MAX;
    });
    let mut store = PreKeyStore::from_bytes(&forged).unwrap();
    let made = store
        .generate_kem_one_time_prekeys(&mut r, &bob.id, 3, NOW)
        .unwrap();
    let ids: Vec<u32> = made.iter().map(|k| k.id).collect();
    assert_eq!(ids, [u32::MAX, 5, 6]);
    assert_eq!(
        store.kem_one_time_prekey_ids(),
        [1, 2, 3, 4, 5, 6, u32::MAX]
    );
    let rotated: Vec<u32> = (1..=3)
        .map(|t| store.rotate_kem_prekey(&mut r, &bob.id, NOW + t * 1000).id)
        .collect();
    assert_eq!(rotated, [7, 8, 9]);
    assert_eq!(store.current_kem_prekey().unwrap().id, 9);
    // The key of id 0 is gone; a first message to a wrapped key works.
    let alice = IdentityKeyPair::generate(&mut r);
    let bundle = store
        .bundle_with_kem_one_time(&bob.id, None, u32::MAX)
        .unwrap();
    let (_a, m) = first(&mut r, &alice, &bundle);
    Session::accept(&bob.id, &mut store, &m, &pq(), NOW).unwrap();
    assert_eq!(store.kem_one_time_prekey_ids(), [1, 2, 3, 4, 5, 6]);
    let again = store.rotate_kem_prekey(&mut r, &bob.id, NOW + 5000).id;
    assert_eq!(again, 10);
}
