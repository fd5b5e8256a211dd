//! Prekey stores across implementations (tests 9–11; §4.3, §10.2): versions 3, 2 and 1 with
//! migration, the per-signed-prekey record of first messages, and the one-time-prekey cap.

mod decode;

use crate::common::state_codec::{self as sc, MAX_ONE_TIME_PREKEYS};
use crate::parties::BobPre;
use crate::reference::primitives::{
    Fmid, K32, STATE_VERSION, V1, dh, draw, first_message_id, unclamped, x25519_torsion_variant,
    xpub,
};
use crate::reference::store::MyBob;
use crate::reference::wire::Ident;
use crate::world::{CTX, NOW};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use xchat_protocol::{Config, IdentityKeyPair, PreKeyBundle, PreKeyStore, Session, Trust};

/// A first message without a one-time prekey from a fresh crate Alice to `bundle`.
fn first_message(rng: &mut ChaCha20Rng, bundle: &[u8], pt: &[u8]) -> Vec<u8> {
    let alice = IdentityKeyPair::generate(rng);
    let bundle = PreKeyBundle::from_bytes(bundle).unwrap();
    let mut s = Session::initiate(
        rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CTX).allow_classical(),
    )
    .unwrap();
    s.encrypt(rng, pt).unwrap()
}

/// The message with its base key replaced by the torsion variant `i` (§3.5, §3.6).
fn with_base_variant(m: &[u8], i: usize) -> Vec<u8> {
    let mut v = m.to_vec();
    let base: K32 = m[34..66].try_into().unwrap();
    v[34..66].copy_from_slice(&x25519_torsion_variant(&base, i));
    v
}

/// Test 9: prekey-store blobs (§10.0, §10.2): version 3 round trips with its stored public keys,
/// version 2 is read (public keys recomputed), version 1 is read and migrated (every seen base
/// key under every held signed prekey, §3.6), and the migrated store refuses the old first
/// messages in any encoding; both implementations agree byte for byte, and on every decode rule.
#[test]
fn prekey_store_versions_agree() {
    let mut rng = ChaCha20Rng::from_seed([27; 32]);
    let seed: K32 = draw(&mut rng);
    let mut bob = MyBob::new(Ident::new(seed));
    // An OPK-less first message to each of three signed prekeys.
    let mut firsts = vec![];
    for _ in 0..3 {
        bob.rotate_signed_prekey(&mut rng, NOW);
        firsts.push(first_message(&mut rng, &bob.bundle(None), b"first"));
    }
    assert_eq!(
        bob.generate_one_time_prekeys(&mut rng, 3).unwrap(),
        [0, 1, 2]
    );
    let bases: Vec<K32> = firsts
        .iter()
        .map(|m| m[34..66].try_into().unwrap())
        .collect();

    // A version-1 blob as the old library wrote it after accepting those three messages, plus a
    // low-order key (all-zero DH: skipped), an unrelated key and another encoding of bases[0]
    // (the same id: the record is a set). Its secrets are "as drawn" (unclamped).
    let mut seen = bases.clone();
    seen.push([0; 32]);
    seen.push(xpub(&draw(&mut rng)));
    seen.push(x25519_torsion_variant(&bases[0], 2));
    let mut as_drawn = bob.store.clone();
    for k in &mut as_drawn.signed {
        k.key.secret = unclamped(&k.key.secret, k.id as u8);
    }
    for k in &mut as_drawn.one_time {
        k.key.secret = unclamped(&k.key.secret, k.id as u8);
    }
    let v1 = as_drawn.encode_v1(&seen);
    assert_eq!(v1[1], V1);
    let mine = MyBob::load_store(Ident::new(seed), &v1).unwrap();
    for spk in &mine.store.signed {
        assert_eq!(spk.accepted.len(), 4);
        for base in &bases {
            let id = first_message_id(&dh(&spk.key.secret, base).unwrap());
            assert!(spk.accepted.contains(&id));
        }
    }
    let migrated = mine.store_state();
    assert_eq!(migrated[1], STATE_VERSION);
    let theirs = PreKeyStore::from_bytes(&v1).unwrap();
    assert_eq!(
        theirs.to_bytes().unwrap().to_vec(),
        migrated,
        "migration of a v1 blob"
    );
    assert_eq!(theirs.first_message_capacity(), 4092);
    assert_eq!(mine.first_message_capacity(), 4092);
    // Version 2 of the migrated store (no public keys) reads back to the same bytes.
    let v2 = mine.store.encode_v2();
    assert_eq!(v2.len(), migrated.len() - 32 * (3 + 3));
    for blob in [&migrated, &v2] {
        assert_eq!(
            PreKeyStore::from_bytes(blob)
                .unwrap()
                .to_bytes()
                .unwrap()
                .to_vec(),
            migrated
        );
        assert_eq!(
            MyBob::load_store(Ident::new(seed), blob)
                .unwrap()
                .store_state(),
            migrated
        );
    }

    let fresh = first_message(&mut rng, &bob.bundle(None), b"fresh");
    let fresh_old = first_message(&mut rng, &bob.bundle_of(0, None), b"fresh old");
    let mut rotation_rng = ChaCha20Rng::from_seed([30; 32]);
    let mut stores = vec![];
    for mut pre in BobPre::both(&seed, &v1) {
        // No first message accepted before the upgrade is accepted after it, in any encoding.
        for m in &firsts {
            assert_eq!(pre.respond(m, CTX).err().unwrap(), "DuplicateMessage");
            for i in 1..8 {
                let v = with_base_variant(m, i);
                assert_eq!(pre.respond(&v, CTX).err().unwrap(), "DuplicateMessage");
            }
        }
        assert_eq!(pre.store_state(), migrated);
        assert_eq!(pre.respond(&fresh, CTX).unwrap().1, b"fresh");
        assert_eq!(pre.respond(&fresh_old, CTX).unwrap().1, b"fresh old");
        assert_eq!(pre.first_message_capacity(), 4091);
        assert_eq!(pre.respond(&fresh, CTX).err().unwrap(), "DuplicateMessage");
        // A record goes with its signed prekey: after one rotation the oldest (id 0) is gone.
        let mut r = rotation_rng.clone();
        pre.rotate_signed_prekey(&mut r, NOW + 1);
        assert_eq!(pre.first_message_capacity(), 4096);
        assert_eq!(
            pre.respond(&fresh_old, CTX).err().unwrap(),
            "UnknownSignedPreKey(0)"
        );
        assert_eq!(pre.respond(&fresh, CTX).err().unwrap(), "DuplicateMessage");
        pre.rotate_signed_prekey(&mut r, NOW + 2);
        pre.rotate_signed_prekey(&mut r, NOW + 3);
        assert_eq!(
            pre.respond(&fresh, CTX).err().unwrap(),
            "UnknownSignedPreKey(2)"
        );
        stores.push(pre.store_state());
    }
    assert_eq!(stores[0], stores[1]);
    rotation_rng.next_u64();

    // §10.0: version 3 takes a stored public key as it is (not recomputed from the secret): a
    // store whose current signed prekey holds another valid public key puts that one in bundles.
    let other = xpub(&[0x42; 32]);
    let edited = sc::edit_store(&migrated, |s| s.signed[2].key.public = other);
    let id = IdentityKeyPair::from_seed(&seed);
    let b = PreKeyStore::from_bytes(&edited)
        .unwrap()
        .bundle(&id, None)
        .unwrap();
    assert_eq!(b.to_bytes()[45..77], other);
    let mine = MyBob::load_store(Ident::new(seed), &edited).unwrap();
    assert_eq!(mine.bundle(None), b.to_bytes().to_vec());

    decode::rules(seed, &bob, seen, migrated, v2, v1);
}

/// Test 10: a signed prekey's record of first messages (§4.3): at 4096 ids further OPK-less first
/// messages are `SignedPreKeyFull(id)`, replays stay `DuplicateMessage`, other signed prekeys and
/// one-time-prekey sessions are unaffected, and rotation drops the record with its key.
#[test]
fn signed_prekey_record_full_agrees() {
    let mut rng = ChaCha20Rng::from_seed([28; 32]);
    let seed: K32 = draw(&mut rng);
    let mut bob = MyBob::new(Ident::new(seed));
    bob.rotate_signed_prekey(&mut rng, NOW); // id 0
    bob.rotate_signed_prekey(&mut rng, NOW); // id 1, current
    bob.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let recorded = first_message(&mut rng, &bob.bundle(None), b"recorded");
    let m1 = first_message(&mut rng, &bob.bundle(None), b"m1");
    let m2 = first_message(&mut rng, &bob.bundle(None), b"m2");
    let m_old = first_message(&mut rng, &bob.bundle_of(0, None), b"old");
    let m_opk = {
        let alice = IdentityKeyPair::generate(&mut rng);
        let b = PreKeyBundle::from_bytes(&bob.bundle(Some(0))).unwrap();
        let mut s = Session::initiate(
            &mut rng,
            &alice,
            &b,
            Trust::FirstUse,
            &Config::new(CTX).allow_classical(),
        )
        .unwrap();
        s.encrypt(&mut rng, b"opk").unwrap()
    };
    // Fill the current record to 4095 ids, one of them `recorded`'s (§3.6 from DH3).
    let base: K32 = recorded[34..66].try_into().unwrap();
    let recorded_id = first_message_id(&dh(&bob.store.signed[1].key.secret, &base).unwrap());
    let mut ids: Vec<Fmid> = (0..4094).map(|_| draw::<16>(&mut rng)).collect();
    ids.push(recorded_id);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4095);
    bob.store.signed[1].accepted = ids;
    assert_eq!(bob.first_message_capacity(), 1);
    let blob = bob.store_state();
    let long = [0u8; 1025];

    let mut stores = vec![];
    let mut rotation_rng = ChaCha20Rng::from_seed([31; 32]);
    for mut pre in BobPre::both(&seed, &blob) {
        assert_eq!(pre.first_message_capacity(), 1);
        assert_eq!(
            pre.respond(&recorded, CTX).err().unwrap(),
            "DuplicateMessage"
        );
        assert_eq!(pre.respond(&m1, CTX).unwrap().1, b"m1");
        assert_eq!(pre.first_message_capacity(), 0);
        assert_eq!(pre.respond(&m2, CTX).err().unwrap(), "SignedPreKeyFull(1)");
        assert_eq!(
            pre.respond(&with_base_variant(&m2, 5), CTX).err().unwrap(),
            "SignedPreKeyFull(1)"
        );
        // A replay to a full record (guess: the duplicate is reported).
        assert_eq!(pre.respond(&m1, CTX).err().unwrap(), "DuplicateMessage");
        assert_eq!(
            pre.respond(&recorded, CTX).err().unwrap(),
            "DuplicateMessage"
        );
        // The record checks come before the context check (guess: "after X3DH").
        assert_eq!(
            pre.respond(&m2, &long).err().unwrap(),
            "SignedPreKeyFull(1)"
        );
        assert_eq!(pre.respond(&m1, &long).err().unwrap(), "DuplicateMessage");
        let before = pre.store_state();
        assert_eq!(pre.respond(&m_old, &long).err().unwrap(), "TooLarge");
        assert_eq!(pre.store_state(), before);
        // Other signed prekeys and one-time-prekey sessions are unaffected.
        assert_eq!(pre.respond(&m_old, CTX).unwrap().1, b"old");
        assert_eq!(pre.respond(&m_opk, CTX).unwrap().1, b"opk");
        assert_eq!(pre.first_message_capacity(), 0);
        // Rotation: a new, empty current record; key 1 is still held and still full.
        let mut r = rotation_rng.clone();
        pre.rotate_signed_prekey(&mut r, NOW + 1);
        assert_eq!(pre.first_message_capacity(), 4096);
        assert_eq!(pre.respond(&m2, CTX).err().unwrap(), "SignedPreKeyFull(1)");
        pre.rotate_signed_prekey(&mut r, NOW + 2);
        // Held: 1, 2, 3.
        assert_eq!(pre.respond(&m2, CTX).err().unwrap(), "SignedPreKeyFull(1)");
        pre.rotate_signed_prekey(&mut r, NOW + 3);
        assert_eq!(
            pre.respond(&m2, CTX).err().unwrap(),
            "UnknownSignedPreKey(1)"
        );
        stores.push(pre.store_state());
    }
    assert_eq!(stores[0], stores[1]);
    rotation_rng.next_u64();
}

/// Test 11: at most 65 536 one-time prekeys (§4.3): a `generate_one_time_prekeys` that would
/// exceed it is `TooLarge` and changes nothing (nor draws from the RNG); the full store's blob is
/// the same in both implementations and loads in both.
#[test]
fn one_time_prekey_cap_agrees() {
    let mut rng = ChaCha20Rng::from_seed([29; 32]);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut theirs = PreKeyStore::new();
    let mut mine = MyBob::new(Ident::new(*id.seed()));
    // Without a signed prekey there is no capacity (§4.3).
    assert_eq!(theirs.first_message_capacity(), 0);
    assert_eq!(mine.first_message_capacity(), 0);
    let (mut r1, mut r2) = (rng.clone(), rng.clone());
    let gen_both = |mine: &mut MyBob,
                    theirs: &mut PreKeyStore,
                    r1: &mut ChaCha20Rng,
                    r2: &mut ChaCha20Rng,
                    n| {
        let a = mine
            .generate_one_time_prekeys(r1, n)
            .map(|ids| ids.len())
            .map_err(|e| format!("{e:?}"));
        let b = theirs
            .generate_one_time_prekeys(r2, n)
            .map(|keys| keys.len())
            .map_err(|e| format!("{e:?}"));
        assert_eq!(a, b);
        assert_eq!(r1.clone().next_u64(), r2.clone().next_u64());
        a
    };
    assert_eq!(
        gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 65_537),
        Err("TooLarge".to_string())
    );
    assert_eq!(r1.clone().next_u64(), rng.clone().next_u64());
    assert_eq!(theirs.one_time_prekey_count(), 0);
    assert_eq!(
        gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 65_535),
        Ok(65_535)
    );
    let before = mine.store_state();
    let rng_before = r1.clone();
    assert_eq!(
        gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 2),
        Err("TooLarge".to_string())
    );
    assert_eq!(r1.clone().next_u64(), rng_before.clone().next_u64());
    assert_eq!(theirs.to_bytes().unwrap().to_vec(), before);
    assert_eq!(gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 1), Ok(1));
    assert_eq!(
        gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 1),
        Err("TooLarge".to_string())
    );
    assert_eq!(gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 0), Ok(0));
    assert_eq!(theirs.one_time_prekey_count(), MAX_ONE_TIME_PREKEYS);
    assert_eq!(mine.store.one_time.last().unwrap().id, 65_535);
    let blob = mine.store_state();
    assert_eq!(theirs.to_bytes().unwrap().to_vec(), blob);
    // §10.2 version 3: each one-time prekey is id ‖ secret ‖ public.
    assert_eq!(blob.len(), 2 + 9 + 4 + 68 * MAX_ONE_TIME_PREKEYS + 16);
    assert_eq!(
        PreKeyStore::from_bytes(&blob)
            .unwrap()
            .to_bytes()
            .unwrap()
            .to_vec(),
        blob
    );
    assert_eq!(
        MyBob::load_store(Ident::new(*id.seed()), &blob)
            .unwrap()
            .store_state(),
        blob
    );
}
