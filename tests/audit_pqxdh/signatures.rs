//! Key-type confusion in the bundle (SPEC.md §4.2, §4.5, §12 items 4, 15, 16): a KEM prekey's
//! signature re-used for another use, id, creation time or key, an X25519 prekey's signature
//! offered as a KEM one and back, another signer's KEM prekey, malleated signatures — and the
//! server that serves a genuinely signed but stale KEM prekey.

use xchat_protocol::{
    Error, IdentityKeyPair, KemPreKey, KemUse, PreKeyBundle, PreKeyStore, Session, SignedPreKey,
    Trust,
};

use crate::common::rng;
use crate::support::{NOW, first, pq, responder, same_position};

/// The group order L, little-endian (SPEC.md §4.2).
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `R ‖ s + L`: the same signature with a non-canonical `s`.
fn malleate(sig: &[u8; 64]) -> [u8; 64] {
    let mut out = *sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        out[32 + i] = v as u8;
        carry = v >> 8;
    }
    out
}

/// Every edit of a PQXDH bundle that re-uses a genuine signature for something it did not sign
/// makes `initiate` fail with `InvalidSignature` before any key is drawn.
#[test]
fn held_kem_prekey_signatures_bind_use_id_time_key_type_and_signer() {
    let mut r = rng(60);
    let bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let mallory = IdentityKeyPair::generate(&mut r);
    let mut mallorys = PreKeyStore::new();
    let mallory_kem = mallorys.rotate_kem_prekey(&mut r, &mallory, NOW);
    let honest = bob
        .store
        .bundle_with_kem_one_time(&bob.id, Some(bob.opks[0]), bob.kem_ids[0])
        .unwrap();
    let kem = honest.kem_prekey.clone().unwrap();
    let last_resort = bob.store.current_kem_prekey().unwrap();
    let spk = honest.signed_prekey;
    let edit_kem = |f: &dyn Fn(&mut KemPreKey)| {
        let mut b = honest.clone();
        f(b.kem_prekey.as_mut().unwrap());
        b
    };
    let mut forged: Vec<(&str, PreKeyBundle)> = vec![
        (
            "use relabelled",
            edit_kem(&|k| k.usage = KemUse::LastResort),
        ),
        ("id + 1", edit_kem(&|k| k.id += 1)),
        (
            "id of the last-resort key",
            edit_kem(&|k| k.id = last_resort.id),
        ),
        ("created_at + 1", edit_kem(&|k| k.created_at += 1)),
        (
            "another KEM key",
            edit_kem(&|k| k.key = last_resort.key.clone()),
        ),
        (
            "the X25519 prekey's signature",
            edit_kem(&|k| k.signature = spk.signature),
        ),
        (
            "another KEM prekey's signature",
            edit_kem(&|k| k.signature = last_resort.signature),
        ),
        ("s + L", edit_kem(&|k| k.signature = malleate(&k.signature))),
        (
            "another signer's KEM prekey",
            edit_kem(&|k| *k = mallory_kem.clone()),
        ),
    ];
    let mut kem_as_spk = honest.clone();
    kem_as_spk.signed_prekey.signature = kem.signature;
    forged.push(("the KEM signature on the X25519 prekey", kem_as_spk));
    for i in 0..64 {
        forged.push(("a signature bit", edit_kem(&|k| k.signature[i] ^= 0x01)));
    }
    for (what, bundle) in &forged {
        let probe = r.clone();
        let got = Session::initiate(&mut r, &alice, bundle, Trust::FirstUse, &pq()).map(|_| ());
        assert_eq!(got, Err(Error::InvalidSignature), "{what}");
        assert!(same_position(&r, &probe), "{what}: a key was drawn");
    }
    // The same through the public verifiers: no signature of one key type verifies as the other.
    let spk_as_kem = KemPreKey {
        signature: spk.signature,
        ..kem.clone()
    };
    assert_eq!(
        spk_as_kem.verify(bob.id.public()),
        Err(Error::InvalidSignature)
    );
    let kem_as_spk = SignedPreKey {
        signature: kem.signature,
        ..spk
    };
    assert_eq!(
        kem_as_spk.verify(bob.id.public()),
        Err(Error::InvalidSignature)
    );
    assert_eq!(kem.verify(bob.id.public()), Ok(()));
    assert_eq!(
        mallory_kem.verify(bob.id.public()),
        Err(Error::InvalidSignature)
    );
}

/// A server keeps serving a KEM prekey the responder has rotated out (its signature is genuine,
/// and `created_at` is signed but checked against no clock): the initiator's session starts, but
/// the responder no longer holds the key — `UnknownKemPreKey`, store unchanged, no session. The
/// same for a consumed one-time KEM prekey served again. (A denial of service the server could
/// cause anyway by dropping messages; no key the responder has deleted is ever used.)
#[test]
fn held_a_stale_but_genuinely_signed_kem_prekey_starts_no_session() {
    let mut r = rng(61);
    let mut bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let stale = bob.store.bundle(&bob.id, None).unwrap();
    for t in 1..=3 {
        bob.store.rotate_kem_prekey(&mut r, &bob.id, NOW + t * 1000);
    }
    let (_a, m) = first(&mut r, &alice, &stale);
    let before = bob.store_bytes();
    let got = Session::accept(&bob.id, &mut bob.store, &m, &pq(), NOW).map(|_| ());
    assert_eq!(got, Err(Error::UnknownKemPreKey(bob.last_resort)));
    assert_eq!(bob.store_bytes(), before);

    let one_time = bob
        .store
        .bundle_with_kem_one_time(&bob.id, None, bob.kem_ids[0])
        .unwrap();
    let (_a, m) = first(&mut r, &alice, &one_time);
    Session::accept(&bob.id, &mut bob.store, &m, &pq(), NOW).unwrap();
    let carol = IdentityKeyPair::generate(&mut r);
    let (_c, m) = first(&mut r, &carol, &one_time);
    let before = bob.store_bytes();
    let got = Session::accept(&bob.id, &mut bob.store, &m, &pq(), NOW).map(|_| ());
    assert_eq!(got, Err(Error::UnknownKemPreKey(bob.kem_ids[0])));
    assert_eq!(bob.store_bytes(), before);
}
