//! `PreKeyStore`: counts, ids and times at their extremes, the one-time prekey bound, ids that
//! wrap at `u32::MAX`, and the bound of first messages without a one-time prekey.

use crate::common::state_codec::StoreBlob;
use crate::common::{CONTEXT, rng};
use crate::forge::{
    NEXT_ONE_TIME_ID, NEXT_SIGNED_ID, one_time_count_at, patched, signed_prekey_count, with_next_id,
};
use crate::support::{NOW_MS, assert_unchanged, ids, reload_session, reload_store};
use rand_chacha::ChaCha20Rng;
use xchat_protocol::prekeys::{
    MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY, MAX_ONE_TIME_PREKEYS, MAX_SIGNED_PREKEYS,
};
use xchat_protocol::{Config, Trust};
use xchat_protocol::{DecodeError, Error, IdentityKeyPair, PreKeyBundle, PreKeyStore, Session};

#[test]
fn prekey_store_counts_ids_and_times() {
    let mut rng = rng(1);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();

    // An empty store: no signed prekey, nothing to remove, counts refused beyond the bound.
    assert_eq!(store.bundle(&bob, None), Err(Error::NoSignedPreKey));
    assert_eq!(
        store.bundle(&bob, Some(u32::MAX)),
        Err(Error::NoSignedPreKey)
    );
    assert_eq!(store.current_signed_prekey(), None);
    assert_eq!(store.first_message_capacity(), 0);
    assert_eq!(store.one_time_prekey_count(), 0);
    let before = store.to_bytes().unwrap();
    for count in [
        MAX_ONE_TIME_PREKEYS + 1,
        2 * MAX_ONE_TIME_PREKEYS,
        u32::MAX as usize,
        u32::MAX as usize + 1,
        usize::MAX - 1,
        usize::MAX,
    ] {
        assert_eq!(
            store.generate_one_time_prekeys(&mut rng, count),
            Err(Error::TooLarge),
            "generate_one_time_prekeys({count})"
        );
        assert_unchanged(&before, &store.to_bytes().unwrap(), "failed generate");
    }
    assert_eq!(store.generate_one_time_prekeys(&mut rng, 0), Ok(vec![]));
    assert_unchanged(&before, &store.to_bytes().unwrap(), "generate(0)");
    for id in [0, 1, u32::MAX] {
        assert!(!store.remove_one_time_prekey(id));
    }
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "remove of an id never issued",
    );

    // Times at both ends of u64 (milliseconds in; whole seconds signed).
    for now_ms in [u64::MAX, 0, u64::MAX - 1, 1, 999, 1000] {
        let spk = store.rotate_signed_prekey(&mut rng, &bob, now_ms);
        assert_eq!(spk.created_at, now_ms / 1000);
        spk.verify(bob.public()).unwrap();
        assert_eq!(store.current_signed_prekey(), Some(&spk));
        let bundle = store.bundle(&bob, None).unwrap();
        assert_eq!(bundle.signed_prekey, spk);
        let bytes = bundle.to_bytes();
        assert!(bytes.len() <= PreKeyBundle::MAX_LEN);
        assert_eq!(PreKeyBundle::from_bytes(&bytes), Ok(bundle));
    }
    assert_eq!(signed_prekey_count(&store), MAX_SIGNED_PREKEYS);
    assert_eq!(
        store.first_message_capacity(),
        MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY
    );

    // One key; bundles with it, and with ids the store does not hold.
    let one = store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    assert_eq!(ids(&one), [0]);
    assert_eq!(store.one_time_prekeys(), one);
    let bundle = store.bundle(&bob, Some(0)).unwrap();
    assert_eq!(bundle.one_time_prekey, Some(one[0]));
    // A classical bundle: the largest one without a KEM prekey.
    assert_eq!(
        bundle.to_bytes().len(),
        PreKeyBundle::MAX_LEN - xchat_protocol::KemPreKey::LEN
    );
    let before = store.to_bytes().unwrap();
    for id in [1, u32::MAX - 1, u32::MAX] {
        assert_eq!(
            store.bundle(&bob, Some(id)),
            Err(Error::UnknownOneTimePreKey(id))
        );
        assert!(!store.remove_one_time_prekey(id));
    }
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "bundle/remove of unknown ids",
    );

    // A session to the newest signed prekey, with the one-time prekey.
    let alice = IdentityKeyPair::generate(&mut rng);
    let mut to_bob = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = to_bob.encrypt(&mut rng, b"t").unwrap();
    let (_, text) = Session::respond(
        &bob,
        &mut store,
        &first,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    assert_eq!(text, b"t");
    assert_eq!(store.one_time_prekey_count(), 0);
}

#[test]
fn one_time_prekeys_fill_exactly_to_their_bound() {
    let mut rng = rng(2);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();

    // The bound counts the keys already held: limit + 1 in total is refused.
    let before = store.to_bytes().unwrap();
    assert_eq!(
        store.generate_one_time_prekeys(&mut rng, MAX_ONE_TIME_PREKEYS),
        Err(Error::TooLarge)
    );
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "generate one over the bound",
    );

    // Exactly at the bound.
    let keys = store
        .generate_one_time_prekeys(&mut rng, MAX_ONE_TIME_PREKEYS - 1)
        .unwrap();
    assert_eq!(keys.len(), MAX_ONE_TIME_PREKEYS - 1);
    assert_eq!(store.one_time_prekey_count(), MAX_ONE_TIME_PREKEYS);
    let last = keys.last().unwrap().id;
    assert_eq!(last as usize, MAX_ONE_TIME_PREKEYS - 1);
    let full = store.to_bytes().unwrap();
    for count in [1, 2, MAX_ONE_TIME_PREKEYS, usize::MAX] {
        assert_eq!(
            store.generate_one_time_prekeys(&mut rng, count),
            Err(Error::TooLarge),
            "generate({count}) on a full store"
        );
        assert_unchanged(
            &full,
            &store.to_bytes().unwrap(),
            "generate on a full store",
        );
    }
    assert_eq!(store.generate_one_time_prekeys(&mut rng, 0), Ok(vec![]));
    assert_unchanged(
        &full,
        &store.to_bytes().unwrap(),
        "generate(0) on a full store",
    );

    // A full store persists and reloads.
    let restored = reload_store(&store);
    assert_eq!(restored.one_time_prekeys().len(), MAX_ONE_TIME_PREKEYS);

    // A stored count over the bound is refused on load (SPEC.md §10.2: `NonCanonical`): the full
    // store's count of one-time prekeys rewritten, its entries kept (a count the data model
    // cannot express, so patched where the reference codec puts it).
    let (_, decoded) = StoreBlob::decode(&full).unwrap();
    let at = one_time_count_at(&decoded);
    let held = u32::try_from(decoded.one_time.len()).unwrap();
    assert_eq!(held as usize, MAX_ONE_TIME_PREKEYS);
    for stored in [MAX_ONE_TIME_PREKEYS as u32 + 1, u32::MAX] {
        let forged = patched(&full, at, &held.to_be_bytes(), &stored.to_be_bytes());
        assert_eq!(
            PreKeyStore::from_bytes(&forged).unwrap_err(),
            DecodeError::NonCanonical
        );
    }

    // Freeing one key makes room for exactly one.
    assert!(store.remove_one_time_prekey(last));
    assert!(!store.remove_one_time_prekey(last));
    let before = store.to_bytes().unwrap();
    assert_eq!(
        store.generate_one_time_prekeys(&mut rng, 2),
        Err(Error::TooLarge)
    );
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "generate(2) with room for 1",
    );
    let again = store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    assert_eq!(ids(&again), [MAX_ONE_TIME_PREKEYS as u32]);
    assert_eq!(store.one_time_prekey_count(), MAX_ONE_TIME_PREKEYS);
}

#[test]
fn prekey_ids_wrap_at_u32_max() {
    let mut rng = rng(3);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let store = PreKeyStore::new();
    let store = with_next_id(&store, NEXT_SIGNED_ID, u32::MAX - 1);
    let mut store = with_next_id(&store, NEXT_ONE_TIME_ID, u32::MAX - 1);

    let a = store.rotate_signed_prekey(&mut rng, &bob, u64::MAX);
    let b = store.rotate_signed_prekey(&mut rng, &bob, u64::MAX);
    assert_eq!((a.id, b.id), (u32::MAX - 1, u32::MAX));
    let otpks = store.generate_one_time_prekeys(&mut rng, 3).unwrap();
    assert_eq!(ids(&otpks), [u32::MAX - 1, u32::MAX, 0]);
    let mut store = reload_store(&store);

    // A session whose signed and one-time prekey ids are both u32::MAX.
    let bundle = store.bundle(&bob, Some(u32::MAX)).unwrap();
    assert_eq!(bundle.signed_prekey.id, u32::MAX);
    assert_eq!(
        PreKeyBundle::from_bytes(&bundle.to_bytes()),
        Ok(bundle.clone())
    );
    let mut to_bob = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = to_bob.encrypt(&mut rng, b"max ids").unwrap();

    // Two rotations across the wrap: ids 0 and 1; the store keeps u32::MAX, 0, 1.
    for want in [0, 1] {
        assert_eq!(store.rotate_signed_prekey(&mut rng, &bob, 0).id, want);
    }
    assert_eq!(signed_prekey_count(&store), MAX_SIGNED_PREKEYS);
    let mut store = reload_store(&store);
    let (to_alice, text) = Session::respond(
        &bob,
        &mut store,
        &first,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    assert_eq!(text, b"max ids");
    assert!(to_alice.used_one_time_prekey());
    reload_session(&to_alice);
    reload_session(&to_bob);
    assert!(!store.remove_one_time_prekey(u32::MAX), "consumed");
    assert_eq!(
        store.bundle(&bob, Some(u32::MAX)),
        Err(Error::UnknownOneTimePreKey(u32::MAX))
    );

    // One more rotation drops signed prekey u32::MAX.
    assert_eq!(store.rotate_signed_prekey(&mut rng, &bob, 0).id, 2);
    let late = to_bob.encrypt(&mut rng, b"late").unwrap();
    let before = store.to_bytes().unwrap();
    assert_eq!(
        Session::respond(
            &bob,
            &mut store,
            &late,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::UnknownSignedPreKey(u32::MAX)
    );
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "respond to a rotated-out key",
    );

    // One-time ids that wrap skip the ids still held (u32::MAX - 1 and 0 are).
    let mut store = with_next_id(&store, NEXT_ONE_TIME_ID, u32::MAX - 1);
    let wrapped = store.generate_one_time_prekeys(&mut rng, 3).unwrap();
    assert_eq!(ids(&wrapped), [u32::MAX, 1, 2]);
    assert_eq!(
        ids(&store.one_time_prekeys()),
        [0, 1, 2, u32::MAX - 1, u32::MAX]
    );
    let store = reload_store(&store);

    // A signed id that comes round again replaces the key of that id instead of duplicating it.
    let old_one = store.bundle(&bob, None).unwrap().signed_prekey; // id 2
    let mut store = with_next_id(&store, NEXT_SIGNED_ID, 1);
    let replaced = store.rotate_signed_prekey(&mut rng, &bob, 7000);
    assert_eq!(replaced.id, 1);
    assert_eq!(signed_prekey_count(&store), MAX_SIGNED_PREKEYS);
    assert_eq!(store.current_signed_prekey(), Some(&replaced));
    assert_ne!(old_one.key, replaced.key);
    reload_store(&store);
}

#[test]
fn first_messages_without_one_time_prekey_stop_at_their_bound() {
    let mut rng = rng(4);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    let spk = store.rotate_signed_prekey(&mut rng, &bob, 1000);
    let bundle = store.bundle(&bob, None).unwrap();
    let first = |rng: &mut ChaCha20Rng| {
        let mut s = Session::initiate(
            rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(b"").allow_classical(),
        )
        .unwrap();
        s.encrypt(rng, b"").unwrap()
    };
    for i in 0..MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY {
        assert_eq!(
            store.first_message_capacity(),
            MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY - i
        );
        Session::respond(
            &bob,
            &mut store,
            &first(&mut rng),
            &Config::new(b"").allow_classical(),
        )
        .unwrap();
    }
    assert_eq!(store.first_message_capacity(), 0);

    // One over the bound: the typed error, nothing changes.
    let full = store.to_bytes().unwrap();
    let refused = first(&mut rng);
    assert_eq!(
        Session::respond(
            &bob,
            &mut store,
            &refused,
            &Config::new(b"").allow_classical()
        )
        .unwrap_err(),
        Error::SignedPreKeyFull(spk.id)
    );
    assert_eq!(
        Session::accept(
            &bob,
            &mut store,
            &refused,
            &Config::new(b"").allow_classical(),
            NOW_MS
        )
        .unwrap_err(),
        Error::SignedPreKeyFull(spk.id)
    );
    assert_unchanged(
        &full,
        &store.to_bytes().unwrap(),
        "respond to a full signed prekey",
    );

    // The full record persists; a new signed prekey has the whole capacity again, the old one
    // keeps refusing.
    let mut store = reload_store(&store);
    assert_eq!(store.first_message_capacity(), 0);
    store.rotate_signed_prekey(&mut rng, &bob, 2000);
    assert_eq!(
        store.first_message_capacity(),
        MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY
    );
    assert_eq!(
        Session::respond(
            &bob,
            &mut store,
            &refused,
            &Config::new(b"").allow_classical()
        )
        .unwrap_err(),
        Error::SignedPreKeyFull(spk.id)
    );
}
