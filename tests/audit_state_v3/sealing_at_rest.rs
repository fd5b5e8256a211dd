//! Sealing at rest (SPEC.md §10.4): byte for byte against the spec, tampering and
//! confusion, no plaintext, and a sealed blob swapped between rows.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::Rng;
use xchat_protocol::state::{
    KIND_IDENTITY, KIND_PREKEY_STORE, KIND_SESSION, SEALED_KIND_BIT, SEALED_OVERHEAD, StorageKey,
};
use xchat_protocol::{Config, Trust};
use xchat_protocol::{DecodeError, Error, IdentityKeyPair, PreKeyStore, Session};

use crate::common;
use crate::support::{contains, pbytes, sbytes, spec_seal, talk};

/// The three sealable objects of one conversation: (kind, version, plain blob, sealed blob).
fn sealables(rng: &mut ChaCha20Rng, key: &StorageKey) -> Vec<(u8, u8, Vec<u8>, Vec<u8>)> {
    let t = talk(48);
    let p = &t.p;
    vec![
        (
            KIND_IDENTITY,
            1,
            p.alice_id.to_bytes().to_vec(),
            p.alice_id.to_sealed_bytes(rng, key).unwrap(),
        ),
        (
            KIND_PREKEY_STORE,
            3,
            pbytes(&p.bob_store),
            p.bob_store.to_sealed_bytes(rng, key).unwrap(),
        ),
        (
            KIND_SESSION,
            3,
            sbytes(&p.alice),
            p.alice.to_sealed_bytes(rng, key).unwrap(),
        ),
    ]
}

fn open_sealed(kind: u8, bytes: &[u8], key: &StorageKey) -> Result<Vec<u8>, DecodeError> {
    match kind {
        KIND_IDENTITY => {
            IdentityKeyPair::from_sealed_bytes(bytes, key).map(|i| i.to_bytes().to_vec())
        }
        KIND_PREKEY_STORE => PreKeyStore::from_sealed_bytes(bytes, key).map(|s| pbytes(&s)),
        _ => Session::from_sealed_bytes(bytes, key).map(|s| sbytes(&s)),
    }
}

fn open_plain(kind: u8, bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    match kind {
        KIND_IDENTITY => IdentityKeyPair::from_bytes(bytes).map(|i| i.to_bytes().to_vec()),
        KIND_PREKEY_STORE => PreKeyStore::from_bytes(bytes).map(|s| pbytes(&s)),
        _ => Session::from_bytes(bytes).map(|s| sbytes(&s)),
    }
}

/// SPEC.md §10.4 byte for byte: with the salt the caller's RNG gives, each object's sealed blob
/// is exactly what an implementation written from the spec (HKDF-SHA-256, label ‖ kind ‖
/// version, AES-256-GCM with the zero nonce, AAD = kind | 0x80 ‖ version ‖ salt) produces from
/// the unsealed body; the length is the body plus `SEALED_OVERHEAD`; opening restores the same
/// bytes; two seals of the same object share no salt, no ciphertext byte run of 16 and no key.
#[test]
fn held_sealed_blobs_are_spec_8_4_byte_for_byte() {
    let key_bytes = [0x3C; 32];
    let key = StorageKey::from_bytes(key_bytes);
    let mut rng = common::rng(49);
    let mut predicted = rng.clone();
    for (kind, version, plain, sealed) in sealables(&mut rng, &key) {
        let mut salt = [0u8; 32];
        predicted.fill_bytes(&mut salt);
        let body = &plain[2..plain.len() - 16];
        assert_eq!(
            sealed,
            spec_seal(&key_bytes, kind, version, salt, body),
            "kind {kind:#x}"
        );
        assert_eq!(sealed.len(), body.len() + SEALED_OVERHEAD);
        assert_eq!(open_sealed(kind, &sealed, &key).unwrap(), plain);
    }
    let mut r2 = common::rng(50);
    let again = sealables(&mut r2, &key);
    let first = sealables(&mut common::rng(49), &key);
    for ((_, _, _, a), (_, _, _, b)) in first.iter().zip(&again) {
        assert_ne!(a[2..34], b[2..34], "salt reused");
        assert!(!a[34..].windows(16).any(|w| contains(&b[34..], w)));
    }
}

/// SPEC.md §10.4 opening order, over each sealed object: every truncation, every single-bit flip
/// of every byte, a trailing byte, the wrong key, salts and tags swapped between two seals of the
/// same object, each object opened as each other kind, a kind byte relabelled to another kind,
/// a version byte relabelled, sealed given to `from_bytes` and plain to `from_sealed_bytes`: all
/// refused with the error the spec's order gives; none opens.
#[test]
fn held_sealed_blob_tampering_and_confusion_are_refused() {
    let key = StorageKey::from_bytes([0x11; 32]);
    let other = StorageKey::from_bytes([0x12; 32]);
    let zero = StorageKey::from_bytes([0; 32]);
    let mut rng = common::rng(51);
    let objects = sealables(&mut rng, &key);
    let seconds = sealables(&mut rng, &key);
    let kinds = [KIND_IDENTITY, KIND_PREKEY_STORE, KIND_SESSION];
    for ((kind, version, plain, sealed), (_, _, _, second)) in objects.iter().zip(&seconds) {
        let (kind, version) = (*kind, *version);
        let what = format!("kind {kind:#x}");
        for len in 0..sealed.len() {
            let expected = if len < 2 + 32 + 16 {
                DecodeError::Truncated
            } else {
                DecodeError::ChecksumMismatch
            };
            assert_eq!(
                open_sealed(kind, &sealed[..len], &key),
                Err(expected),
                "{what} {len}"
            );
        }
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut bad = sealed.clone();
                bad[i] ^= 1 << bit;
                let expected = match i {
                    0 => DecodeError::UnknownType(bad[0]),
                    1 => DecodeError::UnknownVersion(bad[1]),
                    _ => DecodeError::ChecksumMismatch,
                };
                assert_eq!(
                    open_sealed(kind, &bad, &key),
                    Err(expected),
                    "{what} byte {i}"
                );
            }
        }
        let longer = [sealed.as_slice(), &[0]].concat();
        assert_eq!(
            open_sealed(kind, &longer, &key),
            Err(DecodeError::ChecksumMismatch)
        );
        for k in [&other, &zero] {
            assert_eq!(
                open_sealed(kind, sealed, k),
                Err(DecodeError::ChecksumMismatch)
            );
        }
        let mut swapped = sealed.clone();
        swapped[2..34].copy_from_slice(&second[2..34]);
        assert_eq!(
            open_sealed(kind, &swapped, &key),
            Err(DecodeError::ChecksumMismatch)
        );
        let mut tag = sealed.clone();
        let n = tag.len();
        tag[n - 16..].copy_from_slice(&second[second.len() - 16..]);
        assert_eq!(
            open_sealed(kind, &tag, &key),
            Err(DecodeError::ChecksumMismatch)
        );
        for other_kind in kinds {
            if other_kind == kind {
                continue;
            }
            assert_eq!(
                open_sealed(other_kind, sealed, &key),
                Err(DecodeError::UnknownType(kind | SEALED_KIND_BIT)),
                "{what} as {other_kind:#x}"
            );
            let mut relabelled = sealed.clone();
            relabelled[0] = other_kind | SEALED_KIND_BIT;
            let readable = if other_kind == KIND_IDENTITY { 1 } else { 3 };
            let expected = if version != readable {
                DecodeError::UnknownVersion(version)
            } else {
                DecodeError::ChecksumMismatch
            };
            assert_eq!(
                open_sealed(other_kind, &relabelled, &key),
                Err(expected),
                "{what}"
            );
        }
        for v in [0u8, 1, 2, 3, 4, 0x83, 0xFF] {
            if v == version {
                continue;
            }
            let mut relabelled = sealed.clone();
            relabelled[1] = v;
            // Sealed stores and sessions exist from version 3; version 4 holds PQXDH state.
            let readable = if kind == KIND_IDENTITY {
                v == 1
            } else {
                v == 3 || v == 4
            };
            let expected = if readable {
                DecodeError::ChecksumMismatch
            } else {
                DecodeError::UnknownVersion(v)
            };
            assert_eq!(
                open_sealed(kind, &relabelled, &key),
                Err(expected),
                "{what} v{v}"
            );
        }
        assert_eq!(
            open_plain(kind, sealed),
            Err(DecodeError::UnknownType(kind | SEALED_KIND_BIT))
        );
        assert_eq!(
            open_sealed(kind, plain, &key),
            Err(DecodeError::UnknownType(kind))
        );
        assert_eq!(open_sealed(kind, &[], &key), Err(DecodeError::Truncated));
        // The body sealed under the right key and kind but as another version is refused before
        // the tag (versions 1–2 are never sealed).
        let body = &plain[2..plain.len() - 16];
        for v in [1u8, 2] {
            if v == version {
                continue;
            }
            let forged = spec_seal(&[0x11; 32], kind, v, [9; 32], body);
            assert_eq!(
                open_sealed(kind, &forged, &key),
                Err(DecodeError::UnknownVersion(v))
            );
        }
    }
}

/// No plaintext in a sealed blob: no 12-byte window of the unsealed body (secrets, identities,
/// counters, the context) appears in it. Sealing allocates exactly once, at the final size (no
/// reallocation leaves a plaintext copy in freed memory, SECURITY.md 12).
#[test]
fn held_sealed_blobs_hold_no_plaintext_and_allocate_once() {
    let key = StorageKey::from_bytes([0x77; 32]);
    let mut rng = common::rng(52);
    for (kind, _, plain, sealed) in sealables(&mut rng, &key) {
        let body = &plain[2..plain.len() - 16];
        for w in body.windows(12) {
            if w.iter().all(|b| *b == w[0]) {
                continue; // runs of one byte (zero counters) say nothing
            }
            assert!(
                !contains(&sealed[34..], w),
                "kind {kind:#x}: plaintext window"
            );
        }
    }
    let t = talk(53);
    let mut out = Vec::new();
    let info = allocation_counter::measure(|| {
        out = t.p.alice.to_sealed_bytes(&mut rng, &key).unwrap();
    });
    assert_eq!(info.count_total, 1, "session: {info:?}");
    assert_eq!(info.bytes_total as usize, out.len());
    let info = allocation_counter::measure(|| {
        out = t.p.bob_store.to_sealed_bytes(&mut rng, &key).unwrap();
    });
    assert_eq!(info.count_total, 1, "store: {info:?}");
    assert_eq!(info.bytes_total as usize, out.len());
    let info = allocation_counter::measure(|| {
        out = t.p.alice_id.to_sealed_bytes(&mut rng, &key).unwrap();
    });
    assert_eq!(info.bytes_total as usize, out.len(), "identity: {info:?}");
}

/// Sealing authenticates each blob, not where it is kept (SPEC.md §10.4 has no associated data
/// for the application's slot): a sealed session of Alice with Carol, put in the row of her
/// session with Bob, opens. `check_remote_identity` — which an application must call after
/// restoring — detects the swap; a sealed store or identity swapped for another user's opens
/// too (nothing to compare there but the public key).
#[test]
fn held_a_swapped_sealed_blob_opens_but_check_remote_identity_detects_it() {
    let key = StorageKey::from_bytes([0x99; 32]);
    let mut rng = common::rng(62);
    let with_bob = common::established(63, true);
    let carol = common::bob(64, true);
    let with_carol = Session::initiate(
        &mut rng,
        &with_bob.alice_id,
        &carol.bundle,
        Trust::FirstUse,
        &Config::new(common::CONTEXT).allow_classical(),
    )
    .unwrap();
    let row_bob = with_bob.alice.to_sealed_bytes(&mut rng, &key).unwrap();
    let row_carol = with_carol.to_sealed_bytes(&mut rng, &key).unwrap();
    let restored = Session::from_sealed_bytes(&row_carol, &key).unwrap();
    assert_eq!(
        sbytes(&restored),
        sbytes(&with_carol),
        "the swapped blob opens"
    );
    assert_eq!(
        restored.check_remote_identity(with_bob.bob_id.public()),
        Err(Error::UntrustedIdentity)
    );
    let right = Session::from_sealed_bytes(&row_bob, &key).unwrap();
    assert_eq!(
        right.check_remote_identity(with_bob.bob_id.public()),
        Ok(())
    );
}
