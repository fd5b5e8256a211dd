//! Replay and re-encoding attacks on first messages, and the same class wherever a peer's key
//! bytes are compared (SPEC.md §2.4, §3.5, §3.6, §4.3). Each test is an attack that must fail;
//! SECURITY.md maps the properties to these tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{CONTEXT, bob, ed25519_variants, established, rng, with, x25519_variants};
use xchat_protocol::prekeys::MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{
    DecodeError, Error, IdentityKey, IdentityKeyPair, PreKeyBundle, PreKeyStore, Session,
};

const BASE_KEY: std::ops::Range<usize> = 34..66;
const T0: u64 = 1_700_000_000_000;

/// The audit's attack: a relay rewrites the base key of a first message to each torsion variant.
/// Before the original is accepted, every variant fails authentication and changes nothing;
/// after it, every variant is a replay — with or without a one-time prekey, through `respond`
/// and through `accept`.
#[test]
fn replay_of_a_first_message_under_any_encoding_of_its_base_key_is_rejected() {
    for one_time in [false, true] {
        for framed in [false, true] {
            let mut b = bob(70, one_time);
            let mut r = rng(71);
            let alice = IdentityKeyPair::generate(&mut r);
            let mut a = Session::initiate(
                &mut r,
                &alice,
                &b.bundle,
                Trust::FirstUse,
                &Config::new(CONTEXT).allow_classical(),
            )
            .unwrap();
            let first = if framed {
                a.send(&mut r, T0, b"first").unwrap()
            } else {
                a.encrypt(&mut r, b"first").unwrap()
            };
            let respond = |store: &mut PreKeyStore, msg: &[u8]| {
                if framed {
                    Session::accept(
                        &b.id,
                        store,
                        msg,
                        &Config::new(CONTEXT).allow_classical(),
                        T0,
                    )
                    .map(|(_, got)| got.body)
                } else {
                    Session::respond(&b.id, store, msg, &Config::new(CONTEXT).allow_classical())
                        .map(|(_, text)| text)
                }
            };
            let variants = x25519_variants(&first[BASE_KEY]);
            let before = b.store.to_bytes();
            for v in &variants {
                let forged = with(&first, BASE_KEY, v);
                assert_eq!(
                    respond(&mut b.store, &forged).unwrap_err(),
                    Error::DecryptionFailed
                );
                assert_eq!(b.store.to_bytes(), before, "a rejection changes nothing");
            }
            assert_eq!(respond(&mut b.store, &first).unwrap(), b"first");
            let expected = if one_time {
                Error::UnknownOneTimePreKey(0)
            } else {
                Error::DuplicateMessage
            };
            for msg in std::iter::once(first.clone())
                .chain(variants.iter().map(|v| with(&first, BASE_KEY, v)))
            {
                assert_eq!(respond(&mut b.store, &msg).unwrap_err(), expected);
            }
        }
    }
}

/// Every other field of a first message is bound too: the identity (its torsion variants do
/// not even parse), the signed and one-time prekey ids, and the flag.
#[test]
fn no_field_of_a_first_message_has_a_second_accepted_encoding() {
    let mut b = bob(72, true);
    let mut r = rng(73);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = a.encrypt(&mut r, b"first").unwrap();
    for v in ed25519_variants(&first[2..34]) {
        assert_eq!(
            Session::respond(
                &b.id,
                &mut b.store,
                &with(&first, 2..34, &v),
                &Config::new(CONTEXT).allow_classical()
            )
            .unwrap_err(),
            Error::Decode(DecodeError::InvalidKey)
        );
    }
    // The X3DH secret does not depend on the ids; only the associated data does.
    let mut other_otpk = first.clone();
    other_otpk[71..75].copy_from_slice(&1u32.to_be_bytes());
    let mut store = b.store.clone();
    store.generate_one_time_prekeys(&mut r, 1).unwrap();
    assert!(
        Session::respond(
            &b.id,
            &mut store,
            &other_otpk,
            &Config::new(CONTEXT).allow_classical()
        )
        .is_err()
    );
    let (_, text) = Session::respond(
        &b.id,
        &mut b.store,
        &first,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    assert_eq!(text, b"first");
}

/// The audit's second attack: flushing the replay record with throw-away first messages. The
/// record keeps everything for as long as the signed prekey is held; when full, it refuses new
/// OPK-less first messages instead of forgetting old ones.
#[test]
fn the_replay_record_cannot_be_flushed() {
    let mut b = bob(74, false);
    let mut r = rng(75);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let old = a.encrypt(&mut r, b"old").unwrap();
    Session::respond(
        &b.id,
        &mut b.store,
        &old,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();

    // Anyone can make valid first messages; one attacker identity is enough.
    let mallory = IdentityKeyPair::generate(&mut r);
    for _ in 1..MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY {
        let mut m = Session::initiate(
            &mut r,
            &mallory,
            &b.bundle,
            Trust::FirstUse,
            &Config::new(CONTEXT).allow_classical(),
        )
        .unwrap();
        let junk = m.encrypt(&mut r, b"").unwrap();
        Session::respond(
            &b.id,
            &mut b.store,
            &junk,
            &Config::new(CONTEXT).allow_classical(),
        )
        .unwrap();
    }
    assert_eq!(b.store.first_message_capacity(), 0);
    let spk = b.bundle.signed_prekey.id;
    let mut m = Session::initiate(
        &mut r,
        &mallory,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let one_more = m.encrypt(&mut r, b"").unwrap();
    let full = b.store.to_bytes();
    assert_eq!(
        Session::respond(
            &b.id,
            &mut b.store,
            &one_more,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::SignedPreKeyFull(spk)
    );
    assert_eq!(b.store.to_bytes(), full);
    // The oldest is still remembered, in every encoding, and survives a save and a load.
    let mut store = PreKeyStore::from_bytes(&b.store.to_bytes().unwrap()).unwrap();
    for msg in std::iter::once(old.clone()).chain(
        x25519_variants(&old[BASE_KEY])
            .iter()
            .map(|v| with(&old, BASE_KEY, v)),
    ) {
        assert_eq!(
            Session::respond(
                &b.id,
                &mut store,
                &msg,
                &Config::new(CONTEXT).allow_classical()
            )
            .unwrap_err(),
            Error::DuplicateMessage
        );
    }
    // Rotation gives room on the new key while the old one, still held, keeps its record.
    let current = store.rotate_signed_prekey(&mut r, &b.id, 2000);
    assert_eq!(
        store.first_message_capacity(),
        MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY
    );
    assert_eq!(
        Session::respond(
            &b.id,
            &mut store,
            &old,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::DuplicateMessage
    );
    let fresh = store.bundle(&b.id, None).unwrap();
    assert_eq!(fresh.signed_prekey, current);
    let mut c = Session::initiate(
        &mut r,
        &alice,
        &fresh,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let new_first = c.encrypt(&mut r, b"new").unwrap();
    assert_eq!(
        Session::respond(
            &b.id,
            &mut store,
            &new_first,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap()
        .1,
        b"new"
    );
    // Once the old signed prekey is rotated out, nothing naming it decrypts at all.
    store.rotate_signed_prekey(&mut r, &b.id, 3000);
    store.rotate_signed_prekey(&mut r, &b.id, 4000);
    assert_eq!(
        Session::respond(
            &b.id,
            &mut store,
            &old,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::UnknownSignedPreKey(spk)
    );
}

/// A version 1 store listed seen base keys as raw bytes. Loading it must keep refusing those
/// first messages — in every encoding, which version 1 itself did not.
#[test]
fn a_version_1_store_keeps_its_replay_protection_after_the_upgrade() {
    let mut b = bob(76, false);
    let mut r = rng(77);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = a.encrypt(&mut r, b"first").unwrap();
    // Version 1 of the store (SPEC.md §10.2), written by the reference codec: no public keys, no
    // per-signed-prekey records, and the list of seen base keys.
    let (_, store) = common::state_codec::StoreBlob::decode(&b.store.to_bytes().unwrap()).unwrap();
    assert!(
        store.signed.iter().all(|k| k.accepted.is_empty()),
        "nothing accepted yet"
    );
    let seen: [u8; 32] = first[BASE_KEY].try_into().unwrap();
    let v1 = store.encode_v1(&[seen]);

    let mut upgraded = PreKeyStore::from_bytes(&v1).unwrap();
    assert_eq!(
        upgraded.to_bytes().unwrap()[1],
        0x03,
        "re-saved as version 3"
    );
    for msg in std::iter::once(first.clone()).chain(
        x25519_variants(&first[BASE_KEY])
            .iter()
            .map(|v| with(&first, BASE_KEY, v)),
    ) {
        assert!(matches!(
            Session::respond(
                &b.id,
                &mut upgraded,
                &msg,
                &Config::new(CONTEXT).allow_classical()
            )
            .unwrap_err(),
            Error::DuplicateMessage | Error::DecryptionFailed
        ));
    }
    assert_eq!(
        Session::respond(
            &b.id,
            &mut upgraded,
            &first,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::DuplicateMessage
    );
    // The same bytes in the version 2 store, with nothing recorded, were accepted.
    assert!(
        Session::respond(
            &b.id,
            &mut b.store,
            &first,
            &Config::new(CONTEXT).allow_classical()
        )
        .is_ok()
    );
}

/// An identity key has one encoding that counts: its torsion variants are refused wherever an
/// identity is parsed (a bundle, a prekey message, a certificate, `IdentityKey::from_bytes`).
#[test]
fn torsion_variants_of_an_identity_are_not_identities() {
    let mut r = rng(78);
    let id = IdentityKeyPair::generate(&mut r);
    let public = id.public().to_bytes();
    for v in ed25519_variants(&public) {
        assert_eq!(IdentityKey::from_bytes(v), Err(DecodeError::InvalidKey));
        // Certificate keys (trust roots, servers) are parsed by the same rule (SPEC.md §9.1).
        assert_eq!(
            xchat_protocol::CertificateKey::from_bytes(v).unwrap_err(),
            DecodeError::InvalidKey
        );
    }
    let root = xchat_protocol::CertificateKeyPair::generate(&mut r)
        .public()
        .to_bytes();
    for v in ed25519_variants(&root) {
        assert_eq!(
            xchat_protocol::CertificateKey::from_bytes(v).unwrap_err(),
            DecodeError::InvalidKey
        );
    }
    let b = bob(79, true);
    let bundle = b.bundle.to_bytes();
    for v in ed25519_variants(&bundle[1..33]) {
        assert_eq!(
            PreKeyBundle::from_bytes(&with(&bundle, 1..33, &v)),
            Err(DecodeError::InvalidKey)
        );
    }
    // A signed prekey re-encoded breaks its signature; an unsigned one-time prekey re-encoded
    // is refused by the initiator (SPEC.md §4.4 step 4).
    for v in x25519_variants(&bundle[45..77]) {
        let forged = PreKeyBundle::from_bytes(&with(&bundle, 45..77, &v)).unwrap();
        assert_eq!(
            Session::initiate(
                &mut r,
                &id,
                &forged,
                Trust::FirstUse,
                &Config::new(CONTEXT).allow_classical()
            )
            .unwrap_err(),
            Error::InvalidSignature
        );
    }
    for v in x25519_variants(&bundle[146..178]) {
        let forged = PreKeyBundle::from_bytes(&with(&bundle, 146..178, &v)).unwrap();
        assert_eq!(
            Session::initiate(
                &mut r,
                &id,
                &forged,
                Trust::FirstUse,
                &Config::new(CONTEXT).allow_classical()
            )
            .unwrap_err(),
            Error::Decode(DecodeError::InvalidKey)
        );
    }
}

/// The skipped-key store and the old-chain list compare ratchet keys by their bytes. Only
/// authenticated headers put bytes there; a header with another encoding of a stored key
/// misses them, and the path it takes instead fails authentication, changing nothing.
#[test]
fn re_encoded_ratchet_keys_miss_every_stored_key_and_change_nothing() {
    let mut p = established(80, true);
    // Bob replies twice; Alice receives only the second: the first's key is stored (skipped).
    let r1 = p.bob.encrypt(&mut p.rng, b"r1").unwrap();
    let r2 = p.bob.encrypt(&mut p.rng, b"r2").unwrap();
    assert_eq!(p.alice.decrypt(&r2).unwrap(), b"r2");
    assert_eq!(p.alice.skipped_key_count(), 1);
    // Alice answers and Bob turns the ratchet, so Bob's first chain becomes an old chain.
    let a1 = p.alice.encrypt(&mut p.rng, b"a1").unwrap();
    p.bob.decrypt(&a1).unwrap();
    let r3 = p.bob.encrypt(&mut p.rng, b"r3").unwrap();
    let r4 = p.bob.encrypt(&mut p.rng, b"r4").unwrap();
    assert_eq!(p.alice.decrypt(&r4).unwrap(), b"r4");
    let before = p.alice.to_bytes();
    for (msg, what) in [
        (&r1, "old chain, skipped key"),
        (&r3, "current chain, skipped key"),
    ] {
        for v in x25519_variants(&msg[2..34]) {
            let forged = with(msg, 2..34, &v);
            let err = p.alice.decrypt(&forged).unwrap_err();
            assert!(
                matches!(err, Error::DecryptionFailed | Error::DuplicateMessage),
                "{what}: {err:?}"
            );
            assert_eq!(p.alice.to_bytes(), before, "{what}");
        }
    }
    // The authentic messages still decrypt, exactly once.
    assert_eq!(p.alice.decrypt(&r1).unwrap(), b"r1");
    assert_eq!(p.alice.decrypt(&r3).unwrap(), b"r3");
    assert_eq!(p.alice.decrypt(&r3).unwrap_err(), Error::DuplicateMessage);
    // A re-encoded key of the current chain, for a message already received.
    for v in x25519_variants(&r4[2..34]) {
        assert!(p.alice.decrypt(&with(&r4, 2..34, &v)).is_err());
    }
}
