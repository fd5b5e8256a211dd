//! The primitives (§1), wrapped so that the rest reads like the specification.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// `HKDF(salt, ikm, info, L)`: HKDF-SHA-256 extract-then-expand.
pub fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut okm = vec![0u8; len];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut okm)
        .expect("HKDF length");
    okm
}

pub fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

pub fn sha256(msg: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(msg));
    out
}

fn gcm(key: &[u8], nonce: &[u8; 12]) -> (Aes256Gcm, Nonce<Aes256Gcm>) {
    let cipher = Aes256Gcm::new_from_slice(key).expect("32-byte key");
    let mut n = Nonce::<Aes256Gcm>::default();
    n.copy_from_slice(nonce);
    (cipher, n)
}

/// AES-256-GCM seal: `ciphertext ‖ tag`.
pub fn aead_seal(key: &[u8], nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> Vec<u8> {
    let (cipher, n) = gcm(key, nonce);
    let mut buf = pt.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&n, aad, buf.as_mut_slice().into())
        .expect("seal");
    buf.extend_from_slice(&tag);
    buf
}

/// AES-256-GCM open; `None` if the tag does not verify.
pub fn aead_open(key: &[u8], nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
    let split = ct.len().checked_sub(16)?;
    let (body, tag_bytes) = ct.split_at(split);
    let (cipher, n) = gcm(key, nonce);
    let mut tag = Tag::<Aes256Gcm>::default();
    tag.copy_from_slice(tag_bytes);
    let mut buf = body.to_vec();
    cipher
        .decrypt_inout_detached(&n, aad, buf.as_mut_slice().into(), &tag)
        .ok()?;
    Some(buf)
}

pub const BASEPOINT: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 9;
    b
};

pub fn x25519(k: &[u8; 32], u: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*k, *u)
}

pub fn x25519_public(k: &[u8; 32]) -> [u8; 32] {
    x25519(k, &BASEPOINT)
}

/// RFC 7748 §5 clamping: X25519 secrets are held and stored in this form (§10.0).
pub fn clamp(mut k: [u8; 32]) -> [u8; 32] {
    k[0] &= 0xf8;
    k[31] &= 0x7f;
    k[31] |= 0x40;
    k
}

pub fn is_clamped(k: &[u8; 32]) -> bool {
    clamp(*k) == *k
}

/// `DH(a, B)`, `None` for the all-zero output (§4.4).
pub fn dh(k: &[u8; 32], u: &[u8; 32]) -> Option<[u8; 32]> {
    let out = x25519(k, u);
    (out != [0u8; 32]).then_some(out)
}

/// §2 rule 3, as the byte test the rule spells out.
pub fn x25519_canonical(b: &[u8; 32]) -> bool {
    if b[31] >= 0x80 {
        return false;
    }
    !(b[31] == 0x7f && b[1..31].iter().all(|&x| x == 0xff) && b[0] >= 0xed)
}

/// §2 rule 4: decompresses, re-compresses to the same bytes, not of small order, in the
/// prime-order subgroup.
pub fn ed25519_canonical(b: &[u8; 32]) -> bool {
    match CompressedEdwardsY(*b).decompress() {
        Some(p) => p.compress().0 == *b && !p.is_small_order() && p.is_torsion_free(),
        None => false,
    }
}

/// §4.4 step 4: an X25519 key on the curve (not the twist) in the prime-order subgroup.
pub fn x25519_in_prime_subgroup(u: &[u8; 32]) -> bool {
    MontgomeryPoint(*u)
        .to_edwards(0)
        .is_some_and(|p| p.is_torsion_free())
}

/// §4.1: the X25519 form of an Ed25519 identity (birational map).
pub fn ed_to_x(b: &[u8; 32]) -> [u8; 32] {
    CompressedEdwardsY(*b)
        .decompress()
        .expect("a parsed identity")
        .to_montgomery()
        .to_bytes()
}

pub fn ed_public(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

pub fn ed_sign(seed: &[u8; 32], msg: &[u8]) -> [u8; 64] {
    SigningKey::from_bytes(seed).sign(msg).to_bytes()
}

/// `verify_strict` (§4.2).
pub fn verify_strict(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(key) else {
        return false;
    };
    vk.verify_strict(msg, &Signature::from_bytes(sig)).is_ok()
}

/// An identity (§4.1): Ed25519 seed, public key and both X25519 forms.
#[derive(Clone, Debug)]
pub struct Identity {
    pub seed: [u8; 32],
    pub public: [u8; 32],
    pub x_secret: [u8; 32],
    pub x_public: [u8; 32],
}

impl Identity {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let public = ed_public(&seed);
        let mut x_secret = [0u8; 32];
        x_secret.copy_from_slice(&Sha512::digest(seed)[..32]);
        let x_public = ed_to_x(&public);
        assert_eq!(x_public, x25519_public(&x_secret), "§4.1 birational map");
        Identity {
            seed,
            public,
            x_secret,
            x_public,
        }
    }
}
