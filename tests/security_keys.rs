//! Attacks on keys and signatures: low-order and non-canonical X25519 points wherever a peer key
//! enters, malleated and forged Ed25519 signatures, and secret hygiene.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{CONTEXT, established, rng};
use xchat_protocol::kdf::{ChainKey, MessageKey, RootKey, SharedSecret};
use xchat_protocol::sealed_sender::seal_to;
use xchat_protocol::{
    CertificateKeyPair, DecodeError, Error, IdentityKey, IdentityKeyPair, KeyPair, OneTimePreKey,
    PreKeyBundle, PreKeyStore, PublicKey, SealedRecipient, SealedSenderError, Session,
};
use xchat_protocol::{Config, Trust};

fn h32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// Curve25519 points of small order (0, 1, two of order 8, p − 1) in canonical form.
fn low_order() -> Vec<[u8; 32]> {
    [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ]
    .iter()
    .map(|s| h32(s))
    .collect()
}

/// Second encodings of those points: u + p for u < 19, and the top bit set.
fn non_canonical() -> Vec<[u8; 32]> {
    let mut out = vec![
        h32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // p ≡ 0
        h32("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // p + 1 ≡ 1
    ];
    for mut p in low_order() {
        p[31] |= 0x80;
        out.push(p);
    }
    out
}

#[test]
fn low_order_points_are_non_contributory_everywhere_a_peer_key_enters() {
    let mut rng = rng(50);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    for point in low_order() {
        let key = PublicKey::from_bytes(point).unwrap();
        // Signed prekey (correctly signed by the attacker's own identity), one-time prekey.
        let evil = IdentityKeyPair::generate(&mut rng);
        let mut evil_store = PreKeyStore::new();
        evil_store.rotate_signed_prekey(&mut rng, &evil, 1000);
        let mut b = evil_store.bundle(&evil, None).unwrap();
        b.signed_prekey.key = key;
        let signed = xchat_protocol::SignedPreKey::signed_bytes(
            b.signed_prekey.id,
            b.signed_prekey.created_at,
            &key,
        );
        b.signed_prekey.signature = evil.sign(&signed);
        assert_eq!(
            Session::initiate(
                &mut rng,
                &alice,
                &b,
                Trust::FirstUse,
                &Config::new(b"").allow_classical()
            )
            .unwrap_err(),
            Error::NonContributory
        );
        let mut b = store.bundle(&bob, None).unwrap();
        b.one_time_prekey = Some(OneTimePreKey { id: 9, key });
        assert_eq!(
            Session::initiate(
                &mut rng,
                &alice,
                &b,
                Trust::FirstUse,
                &Config::new(b"").allow_classical()
            )
            .unwrap_err(),
            Error::NonContributory
        );
        // A generic key pair refuses it too.
        assert_eq!(
            KeyPair::generate(&mut rng)
                .diffie_hellman(&key)
                .unwrap_err(),
            Error::NonContributory
        );
    }

    // Base key in a prekey message (naming a one-time prekey that is still held, so X3DH
    // really runs), ratchet key in a normal message.
    let mut p = established(51, true);
    let fresh_bundle = p.bob_store.bundle(&p.bob_id, Some(0)).unwrap();
    let pre = Session::initiate(
        &mut p.rng,
        &p.alice_id,
        &fresh_bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap()
    .encrypt(&mut p.rng, b"x")
    .unwrap();
    let normal = p.bob.encrypt(&mut p.rng, b"y").unwrap();
    let (bob_before, alice_before, store_before) =
        (p.bob.to_bytes(), p.alice.to_bytes(), p.bob_store.to_bytes());
    for point in low_order() {
        let mut bad = pre.clone();
        bad[34..66].copy_from_slice(&point);
        let err = Session::respond(
            &p.bob_id,
            &mut p.bob_store,
            &bad,
            &Config::new(CONTEXT).allow_classical(),
        )
        .unwrap_err();
        assert_eq!(err, Error::NonContributory);
        let mut bad = normal.clone();
        bad[2..34].copy_from_slice(&point);
        assert_eq!(p.alice.decrypt(&bad), Err(Error::NonContributory));
        assert_eq!(p.alice.to_bytes(), alice_before);
    }
    assert_eq!(p.bob.to_bytes(), bob_before);
    assert_eq!(p.bob_store.to_bytes(), store_before);
}

#[test]
fn non_canonical_point_encodings_never_parse() {
    let mut p = established(52, true);
    let normal = p.bob.encrypt(&mut p.rng, b"y").unwrap();
    let bundle = p.bob_store.bundle(&p.bob_id, Some(0)).unwrap().to_bytes();
    for point in non_canonical() {
        assert_eq!(PublicKey::from_bytes(point), Err(DecodeError::InvalidKey));
        let mut bad = normal.clone();
        bad[2..34].copy_from_slice(&point);
        assert_eq!(
            p.alice.decrypt(&bad),
            Err(Error::Decode(DecodeError::InvalidKey))
        );
        for offset in [45, 146] {
            let mut bad = bundle.clone();
            bad[offset..offset + 32].copy_from_slice(&point);
            assert_eq!(PreKeyBundle::from_bytes(&bad), Err(DecodeError::InvalidKey));
        }
    }
}

#[test]
fn small_order_and_non_canonical_identity_keys_are_rejected() {
    // The eight small-order Edwards points include the identity (y = 1) and y = −1 (order 2);
    // also a non-canonical y ≥ p encoding of the identity point.
    let mut y_minus_one = [0xff; 32];
    y_minus_one[0] = 0xec;
    y_minus_one[31] = 0x7f;
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut one_plus_p = [0xff; 32];
    one_plus_p[0] = 0xee;
    one_plus_p[31] = 0x7f;
    let order_8 = h32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
    for bad in [one, y_minus_one, one_plus_p, order_8, [0; 32]] {
        assert_eq!(
            IdentityKey::from_bytes(bad),
            Err(DecodeError::InvalidKey),
            "{}",
            hex::encode(bad)
        );
    }
    // At the identity's other entry points: the bundle and the sealed-sender identity.
    let mut rng = rng(53);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    let mut bytes = store.bundle(&bob, None).unwrap().to_bytes();
    bytes[1..33].copy_from_slice(&one);
    assert_eq!(
        PreKeyBundle::from_bytes(&bytes),
        Err(DecodeError::InvalidKey)
    );
}

/// Adds the group order L to the `s` half of a signature.
fn add_l(sig: &mut [u8; 64]) {
    let l = h32("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
        sig[32 + i] = v as u8;
        carry = v >> 8;
    }
}

#[test]
fn bundles_with_missing_wrong_or_malleated_signatures_are_rejected() {
    let mut rng = rng(54);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mallory = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    let good = store.bundle(&bob, None).unwrap();
    let mut cases = Vec::new();
    let mut missing = good.clone();
    missing.signature_mut().fill(0);
    cases.push(missing);
    let mut wrong_signer = good.clone();
    let spk = &good.signed_prekey;
    *wrong_signer.signature_mut() = mallory.sign(&xchat_protocol::SignedPreKey::signed_bytes(
        spk.id,
        spk.created_at,
        &spk.key,
    ));
    cases.push(wrong_signer);
    let mut malleated = good.clone();
    add_l(malleated.signature_mut());
    cases.push(malleated);
    let mut non_canonical_r = good.clone();
    non_canonical_r.signature_mut()[..32].copy_from_slice(&[0xff; 32]);
    cases.push(non_canonical_r);
    let mut small_order_r = good.clone();
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    small_order_r.signature_mut()[..32].copy_from_slice(&identity_point);
    cases.push(small_order_r);
    let mut swapped_key = good.clone();
    swapped_key.signed_prekey.key = *KeyPair::generate(&mut rng).public();
    cases.push(swapped_key);
    for bundle in cases {
        assert_eq!(
            Session::initiate(
                &mut rng,
                &alice,
                &bundle,
                Trust::FirstUse,
                &Config::new(b"").allow_classical()
            )
            .unwrap_err(),
            Error::InvalidSignature
        );
    }
    assert!(
        Session::initiate(
            &mut rng,
            &alice,
            &good,
            Trust::FirstUse,
            &Config::new(b"").allow_classical()
        )
        .is_ok()
    );
}

/// A signature that cofactorless `verify` accepts and `verify_strict` rejects: R is the
/// identity point (small order) and s = k·a, so [s]B − [k]A = R holds.
fn lax_only_signature(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
    use curve25519_dalek::Scalar;
    use sha2::{Digest, Sha512};
    let signing = ed25519_dalek::SigningKey::from_bytes(seed);
    let mut r = [0u8; 32];
    r[0] = 1;
    let mut h = Sha512::new();
    h.update(r);
    h.update(signing.verifying_key().as_bytes());
    h.update(message);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let s = k * signing.to_scalar();
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r);
    sig[32..].copy_from_slice(&s.to_bytes());
    sig
}

#[test]
fn a_signature_only_lax_verification_accepts_is_rejected() {
    use ed25519_dalek::Verifier;
    let mut rng = rng(57);
    let bob = IdentityKeyPair::generate(&mut rng);
    let alice = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    let mut bundle = store.bundle(&bob, None).unwrap();
    let spk = bundle.signed_prekey;
    let message = xchat_protocol::SignedPreKey::signed_bytes(spk.id, spk.created_at, &spk.key);
    let sig = lax_only_signature(&bob.seed(), &message);
    // Control: the ordinary (cofactorless, non-strict) check accepts it...
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&bob.public().to_bytes()).unwrap();
    assert!(
        vk.verify(&message, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
    );
    // ...and every place this crate verifies rejects it.
    assert_eq!(
        bob.public().verify(&message, &sig),
        Err(Error::InvalidSignature)
    );
    bundle.signed_prekey.signature = sig;
    assert_eq!(
        Session::initiate(
            &mut rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(b"").allow_classical()
        )
        .unwrap_err(),
        Error::InvalidSignature
    );
}

trait SignatureMut {
    fn signature_mut(&mut self) -> &mut [u8; 64];
}
impl SignatureMut for PreKeyBundle {
    fn signature_mut(&mut self) -> &mut [u8; 64] {
        &mut self.signed_prekey.signature
    }
}

#[test]
fn sealed_sender_ephemeral_low_order_keys_are_rejected() {
    let mut rng = rng(55);
    let bob = IdentityKeyPair::generate(&mut rng);
    let alice = IdentityKeyPair::generate(&mut rng);
    let root = CertificateKeyPair::generate(&mut rng);
    let cert = root
        .certify_sender(
            &root.certify_server(1, &root.public()),
            b"a",
            1,
            alice.public(),
            u64::MAX,
        )
        .unwrap();
    let envelope = seal_to(&mut rng, &alice, &cert, bob.public(), b"m").unwrap();
    let roots = [root.public()];
    let view = SealedRecipient {
        identity: &bob,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    for point in low_order() {
        let mut bad = envelope.clone();
        bad[1..33].copy_from_slice(&point);
        assert_eq!(
            view.open(&bad, 0).unwrap_err(),
            SealedSenderError::NonContributory
        );
    }
    for point in non_canonical() {
        let mut bad = envelope.clone();
        bad[1..33].copy_from_slice(&point);
        assert_eq!(
            view.open(&bad, 0).unwrap_err(),
            SealedSenderError::Decode(DecodeError::InvalidKey)
        );
    }
}

fn assert_zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}

#[test]
fn secrets_zeroize_on_drop_and_never_print() {
    // Compile-time: every secret key type wipes itself when dropped.
    assert_zeroize_on_drop::<RootKey>();
    assert_zeroize_on_drop::<ChainKey>();
    assert_zeroize_on_drop::<MessageKey>();
    assert_zeroize_on_drop::<SharedSecret>();
    assert_zeroize_on_drop::<xchat_protocol::kdf::AeadKey>();
    assert_zeroize_on_drop::<x25519_dalek::StaticSecret>();
    assert_zeroize_on_drop::<ed25519_dalek::SigningKey>();

    let secret = [0xA5; 32];
    let needle = hex::encode(secret);
    let shown = [
        format!("{:?}", RootKey::from_bytes(secret)),
        format!("{:?}", ChainKey::from_bytes(secret)),
        format!("{:?}", MessageKey::from_bytes(secret)),
        format!("{:?}", KeyPair::from_secret_bytes(secret)),
        format!("{:?}", IdentityKeyPair::from_seed(&secret)),
        format!("{:?}", CertificateKeyPair::from_seed(&secret)),
        format!("{:?}", MessageKey::from_bytes(secret).expand(&[0; 16])),
    ];
    for s in &shown {
        assert!(!s.contains(&needle[..8]), "{s}");
        assert!(!s.contains("165, 165"), "{s}");
    }
    let mut p = established(56, true);
    let session_debug = format!("{:?} {:?}", p.alice, p.bob_store);
    // The only key material Debug may show is the peer's public identity.
    let session_debug = session_debug.replace(&hex::encode(p.bob_id.public().to_bytes()), "");
    let blob = p.alice.to_bytes().unwrap();
    // No 8-byte run of the session's state appears in its Debug output.
    assert!(
        blob.windows(8)
            .all(|w| !session_debug.contains(&hex::encode(w)))
    );
    let _ = p.alice.encrypt(&mut p.rng, b"").unwrap();
}

#[test]
fn identity_secrets_compare_in_constant_time() {
    // `IdentityKeyPair::ct_eq` goes through `subtle`; secret key types deliberately have no
    // `PartialEq`, so no short-circuiting comparison of secrets exists to call.
    let a = IdentityKeyPair::from_seed(&[1; 32]);
    assert!(a.ct_eq(&IdentityKeyPair::from_seed(&[1; 32])));
    assert!(!a.ct_eq(&IdentityKeyPair::from_seed(&[2; 32])));
}
