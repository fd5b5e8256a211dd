//! State sealed at rest under an application's storage key (SPEC.md §10.4): a stolen blob reveals
//! nothing without the key, and any edit, a wrong key, or a blob of another kind or version is
//! rejected before its body is parsed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{established, rng};
use xchat_protocol::state::{KIND_SESSION, SEALED_KIND_BIT, SEALED_OVERHEAD, StorageKey};
use xchat_protocol::{DecodeError, IdentityKeyPair, PreKeyStore, Session};

#[test]
fn sealed_blobs_round_trip_and_carry_on() {
    let mut p = established(40, true);
    let mut r = rng(41);
    let key = StorageKey::generate(&mut r);
    let sealed = p.bob.to_sealed_bytes(&mut r, &key).unwrap();
    let plain = p.bob.to_bytes().unwrap();
    // The same body, sealed: kind | 0x80, version, salt, ciphertext, tag.
    assert_eq!(sealed.len(), plain.len() - 18 + SEALED_OVERHEAD);
    assert_eq!(
        (sealed[0], sealed[1]),
        (KIND_SESSION | SEALED_KIND_BIT, plain[1])
    );
    let mut bob = Session::from_sealed_bytes(&sealed, &key).unwrap();
    assert_eq!(*bob.to_bytes().unwrap(), *plain, "the same session");
    let m = p.alice.encrypt(&mut p.rng, b"after a sealed save").unwrap();
    assert_eq!(bob.decrypt(&m).unwrap(), b"after a sealed save");

    let store =
        PreKeyStore::from_sealed_bytes(&p.bob_store.to_sealed_bytes(&mut r, &key).unwrap(), &key)
            .unwrap();
    assert_eq!(*store.to_bytes().unwrap(), *p.bob_store.to_bytes().unwrap());
    let id = IdentityKeyPair::from_sealed_bytes(
        &p.alice_id.to_sealed_bytes(&mut r, &key).unwrap(),
        &key,
    )
    .unwrap();
    assert!(id.ct_eq(&p.alice_id));
}

/// A stolen sealed blob holds no secret of the state in the clear: no 32-byte window of the
/// plain blob's secrets (root key, chain keys, ratchet secret) appears in it, and two seals of the
/// same state share nothing after the header.
#[test]
fn a_stolen_sealed_blob_shows_nothing() {
    let mut p = established(42, true);
    let m = p.bob.encrypt(&mut p.rng, b"x").unwrap();
    p.alice.decrypt(&m).unwrap();
    let mut r = rng(43);
    let key = StorageKey::generate(&mut r);
    let plain = p.alice.to_bytes().unwrap();
    let a = p.alice.to_sealed_bytes(&mut r, &key).unwrap();
    let b = p.alice.to_sealed_bytes(&mut r, &key).unwrap();
    for window in plain.windows(16) {
        assert!(!a.windows(16).any(|w| w == window), "plaintext leaked");
    }
    assert_eq!(a.len(), b.len());
    let same = a[2..].iter().zip(&b[2..]).filter(|(x, y)| x == y).count();
    assert!(
        same < a.len() / 32,
        "fresh salt, fresh key: {same} equal bytes"
    );
}

#[test]
fn edits_wrong_keys_and_confusions_are_rejected() {
    let mut p = established(44, true);
    let mut r = rng(45);
    let key = StorageKey::generate(&mut r);
    let other = StorageKey::generate(&mut r);
    let sealed = p.bob.to_sealed_bytes(&mut r, &key).unwrap();
    assert_eq!(
        Session::from_sealed_bytes(&sealed, &other).unwrap_err(),
        DecodeError::ChecksumMismatch
    );
    // Every single-bit flip of the header, salt, ciphertext or tag.
    for i in 0..sealed.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = sealed.clone();
            bad[i] ^= bit;
            let err = Session::from_sealed_bytes(&bad, &key).unwrap_err();
            let expected = match i {
                0 => DecodeError::UnknownType(bad[0]),
                1 => DecodeError::UnknownVersion(bad[1]),
                _ => DecodeError::ChecksumMismatch,
            };
            assert_eq!(err, expected, "flip {bit:#x} at {i}");
        }
    }
    for len in 0..sealed.len() {
        assert!(
            Session::from_sealed_bytes(&sealed[..len], &key).is_err(),
            "prefix {len}"
        );
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert_eq!(
        Session::from_sealed_bytes(&longer, &key).unwrap_err(),
        DecodeError::ChecksumMismatch
    );
    // A sealed store is not a sealed session, nor is a sealed blob a plain one (or the reverse).
    let store = p.bob_store.to_sealed_bytes(&mut r, &key).unwrap();
    assert!(matches!(
        Session::from_sealed_bytes(&store, &key),
        Err(DecodeError::UnknownType(_))
    ));
    assert!(matches!(
        Session::from_bytes(&sealed),
        Err(DecodeError::UnknownType(_))
    ));
    assert!(matches!(
        Session::from_sealed_bytes(&p.bob.to_bytes().unwrap(), &key),
        Err(DecodeError::UnknownType(KIND_SESSION))
    ));
    // Re-labelling the kind byte of a sealed store as a session fails the tag: the kind is bound.
    let mut relabelled = store.clone();
    relabelled[0] = KIND_SESSION | SEALED_KIND_BIT;
    assert_eq!(
        Session::from_sealed_bytes(&relabelled, &key).unwrap_err(),
        DecodeError::ChecksumMismatch
    );
    let _ = p.alice.encrypt(&mut p.rng, b"unchanged").unwrap();
}

#[test]
fn a_storage_key_round_trips_through_its_bytes() {
    let mut r = rng(46);
    let key = StorageKey::generate(&mut r);
    let again = StorageKey::from_bytes(*key.as_bytes());
    let id = IdentityKeyPair::generate(&mut r);
    let sealed = id.to_sealed_bytes(&mut r, &key).unwrap();
    assert!(
        IdentityKeyPair::from_sealed_bytes(&sealed, &again)
            .unwrap()
            .ct_eq(&id)
    );
    assert_eq!(
        format!("{key:?}"),
        "StorageKey(..)",
        "no key bytes in Debug"
    );
}
