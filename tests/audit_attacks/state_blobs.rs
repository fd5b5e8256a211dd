//! Forged and legacy state blobs (SPEC.md §10): what loading copies, one encoding per secret, a
//! skipped entry the library cannot produce, the version 1 store, and twin signed-prekey keys.

use crate::common::state_codec::{self as codec, SessionBlob, Skipped, StoreBlob};
use crate::common::{CONTEXT, bob, established, rng, with, x25519_variants};
use crate::forge::{forge_session, forge_store, open_mut};
use crate::support::{BASE_KEY, ad, forge_message};
use xchat_protocol::{Config, Trust};
use xchat_protocol::{DecodeError, Error, IdentityKeyPair, PreKeyStore, Session};

/// FINDING (low; SECURITY.md property 12 over-claims): `Session::from_bytes` fills the
/// skipped-key store with `VecDeque::push_back`, which grows by doubling. Every growth copies the
/// message keys into a new buffer and frees the old one *unwiped* — the very thing
/// `SkippedKeys::reserve` exists to prevent ("grows by copying into a new buffer and wiping the
/// old one"). Loading a session with 65 skipped keys leaves 4 + 8 + 16 + 32 + 64 = 124 copies of
/// message keys in freed heap memory.
///
/// Evidence by allocation counting: one more skipped key in the blob (64 → 65) costs 10 240 more
/// bytes of allocation (a 128-entry buffer), where an exact reservation would cost 80.
#[test]
fn fixed_session_from_bytes_reserves_the_skipped_store_once() {
    fn blob_with_skipped(n: usize) -> Vec<u8> {
        let mut p = established(104, true);
        let msgs: Vec<_> = (0..=n)
            .map(|_| p.bob.encrypt(&mut p.rng, b"x").unwrap())
            .collect();
        p.alice.decrypt(&msgs[n]).unwrap();
        assert_eq!(p.alice.skipped_key_count(), n);
        p.alice.to_bytes().unwrap().to_vec()
    }
    let measure = |blob: &[u8]| {
        allocation_counter::measure(|| {
            std::hint::black_box(Session::from_bytes(blob).unwrap());
        })
        .bytes_total
    };
    let a = measure(&blob_with_skipped(64));
    let b = measure(&blob_with_skipped(65));
    let delta = b - a;
    assert!(
        delta < 64 * 80,
        "one more skipped key made from_bytes allocate {delta} more bytes: the store was \
         re-grown by doubling and the old buffers (with message keys) freed unwiped"
    );
}

/// FINDING (low; SPEC.md §2 "every value has exactly one accepted encoding", §10.3 "whatever
/// decodes behaves as a state the library could have produced"): X25519 secrets are stored
/// unclamped, so each has 32 encodings (bits 0–2 of byte 0, bits 6–7 of byte 31) that decode
/// to the same behaviour but re-serialize differently. The same holds for the signed and one-time
/// prekey secrets of a prekey store.
#[test]
fn fixed_state_blobs_hold_each_x25519_secret_in_one_clamped_encoding() {
    let mut p = established(105, true);
    let b0 = p.bob.encrypt(&mut p.rng, b"turn").unwrap();
    p.alice.decrypt(&b0).unwrap();
    let a1 = p.alice.encrypt(&mut p.rng, b"new chain").unwrap();
    // Bob's DHs is the key Alice's new chain is agreed with (path D uses it).
    let blob = p.bob.to_bytes().unwrap().to_vec();
    let forged = forge_session(&blob, |s| {
        let dhs = &mut open_mut(s).send.as_mut().expect("sending").dhs.secret;
        dhs[0] ^= 0x01; // a bit X25519 clamps away
        dhs[31] ^= 0x80; // another one
    });
    assert_ne!(forged, blob);
    // The reference codec refuses it as well: an unclamped secret (SPEC.md §10.0).
    let unclamped = codec::DecodeError::NonCanonical;
    assert_eq!(SessionBlob::decode(&forged).unwrap_err(), unclamped);
    assert_eq!(
        Session::from_bytes(&forged).unwrap_err(),
        DecodeError::NonCanonical
    );
    assert_eq!(p.bob.decrypt(&a1).unwrap(), b"new chain");
    // Prekey store: the same for a one-time prekey secret (stored before its public key).
    let sblob = p.bob_store.to_bytes().unwrap().to_vec();
    let sforged = forge_store(&sblob, |s| {
        s.one_time.last_mut().expect("a one-time prekey").key.secret[0] ^= 0x07;
    });
    assert_eq!(StoreBlob::decode(&sforged).unwrap_err(), unclamped);
    assert_eq!(
        PreKeyStore::from_bytes(&sforged).unwrap_err(),
        DecodeError::NonCanonical
    );
}

/// FINDING (low; §6.4 "N = 2^32 − 1 is always TooFarInFuture", SECURITY.md property 10, §10.3):
/// a skipped entry with `N = 2^32 − 1` is a state the library can never produce (skipped indices
/// stop at 2^32 − 2), but the decoder accepts it under an old chain, and a message with
/// `N = 2^32 − 1` is then accepted through step A.
#[test]
fn fixed_forged_skipped_key_at_n_2_pow_32_minus_1_does_not_decode() {
    let mut p = established(106, true);
    // Give Alice one old receiving chain (Bob's first ratchet key).
    let b0 = p.bob.encrypt(&mut p.rng, b"b0").unwrap();
    let bob_key_1: [u8; 32] = b0[2..34].try_into().unwrap(); // ratchet key (SPEC.md §5.2)
    p.alice.decrypt(&b0).unwrap();
    let a0 = p.alice.encrypt(&mut p.rng, b"a0").unwrap();
    p.bob.decrypt(&a0).unwrap();
    let b1 = p.bob.encrypt(&mut p.rng, b"b1").unwrap();
    p.alice.decrypt(&b1).unwrap();
    let blob = p.alice.to_bytes().unwrap().to_vec();
    let mk = [0x42u8; 32];
    // One more skipped entry, under the old chain, stamped now, with no skip time (§10.3 row 17).
    let forged = forge_session(&blob, |s| {
        let open = open_mut(s);
        assert_eq!(
            open.old,
            [bob_key_1],
            "one old chain: Bob's first ratchet key"
        );
        open.skipped.push(Skipped {
            key: bob_key_1,
            n: u32::MAX,
            stamp: open.received,
            skipped_at: u64::MAX,
            mk,
        });
    });
    // The reference codec refuses it (row 17: `N = 2^32 − 1` is never stored).
    assert_eq!(
        SessionBlob::decode(&forged).unwrap_err(),
        codec::DecodeError::NonCanonical
    );
    let decoded = Session::from_bytes(&forged);
    if let Ok(mut s) = decoded {
        let m = forge_message(
            &ad(&p.alice_id, &p.bob_id, CONTEXT),
            &bob_key_1,
            0,
            u32::MAX,
            mk,
            b"N = 2^32 - 1",
        );
        let opened = s.decrypt(&m);
        panic!(
            "a skipped entry with N = 2^32 - 1 decoded; a message with that counter then gives \
             {opened:?} instead of TooFarInFuture"
        );
    }
}

/// FINDING (informational; §2 "every value has exactly one accepted encoding"): the legacy
/// version 1 prekey store format is read with no canonical form for its list of seen base keys —
/// any order, duplicates, and the seven torsion variants of a key are all accepted and collapse
/// to the same store. (Harmless for replay — the ids are derived from DH3 — but §2 claims
/// otherwise for "all formats".)
#[test]
fn legacy_version_1_store_blobs_collapse_to_one_canonical_store() {
    let b = bob(135, false);
    let mut r = rng(136);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = a.encrypt(&mut r, b"x").unwrap();
    let ek: [u8; 32] = first[BASE_KEY].try_into().unwrap();
    let variant = x25519_variants(&ek)[2];
    // The store in version 1 (SPEC.md §10.2), written by the reference codec: no public keys, no
    // record under its signed prekey (it has none yet), and the seen list.
    let (_, store) = StoreBlob::decode(&b.store.to_bytes().unwrap()).unwrap();
    assert_eq!(store.signed.len(), 1);
    assert!(store.signed[0].accepted.is_empty());
    let v1 = |seen: &[[u8; 32]]| store.encode_v1(seen);
    // A duplicate is refused, as version 1 refused it; the rest is legacy input read once.
    assert_eq!(
        PreKeyStore::from_bytes(&v1(&[ek, ek])).unwrap_err(),
        DecodeError::NonCanonical
    );
    let encodings = [v1(&[ek]), v1(&[variant]), v1(&[variant, ek])];
    let stores: Vec<_> = encodings
        .iter()
        .map(|blob| {
            PreKeyStore::from_bytes(blob)
                .unwrap()
                .to_bytes()
                .unwrap()
                .to_vec()
        })
        .collect();
    // They protect the same first message (the defence itself holds)...
    for blob in &encodings {
        let mut store = PreKeyStore::from_bytes(blob).unwrap();
        assert_eq!(
            Session::respond(
                &b.id,
                &mut store,
                &first,
                &Config::new(CONTEXT).allow_classical()
            )
            .unwrap_err(),
            Error::DuplicateMessage
        );
    }
    // ...and become one version 3 store, whose own encoding is canonical.
    assert!(stores.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(stores[0][1], 3);
}

/// HELD: a forged store that holds one signed-prekey secret under two ids (so X3DH and the
/// first-message id are the same under both) cannot be used to replay a first message by
/// rewriting its signed prekey id: the id's bytes are in the AAD (§3.5).
#[test]
fn held_rewriting_the_signed_prekey_id_to_a_twin_key_fails() {
    let mut r = rng(116);
    let bob_id = IdentityKeyPair::generate(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut r, &bob_id, 1000); // id 0
    let bundle0 = store.bundle(&bob_id, None).unwrap();
    store.rotate_signed_prekey(&mut r, &bob_id, 2000); // id 1
    // Forge: id 1's secret := id 0's secret.
    let blob = store.to_bytes().unwrap().to_vec();
    let forged = forge_store(&blob, |s| {
        assert_eq!(s.signed.len(), 2);
        // The key pair: secret and stored public key (SPEC.md §10.2).
        s.signed[1].key = s.signed[0].key;
    });
    let (_, read) = StoreBlob::decode(&forged).unwrap();
    assert_eq!((read.signed[0].id, read.signed[1].id), (0, 1));
    assert_eq!(read.signed[1].key, read.signed[0].key);
    let mut store = PreKeyStore::from_bytes(&forged).unwrap();
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &bundle0,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = a.encrypt(&mut r, b"once").unwrap();
    Session::respond(
        &bob_id,
        &mut store,
        &first,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let before = store.to_bytes();
    // Its signed prekey id (SPEC.md §5.3).
    let rewritten = with(&first, 66..70, &1u32.to_be_bytes());
    assert_eq!(
        Session::respond(
            &bob_id,
            &mut store,
            &rewritten,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(store.to_bytes(), before);
    assert_eq!(
        Session::respond(
            &bob_id,
            &mut store,
            &first,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::DuplicateMessage
    );
}
