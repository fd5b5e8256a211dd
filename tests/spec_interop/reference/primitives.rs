//! The independent implementation's building blocks: constants, errors, key generation, the KDFs
//! and AEAD (§3), X25519 and Ed25519 key checks (§2.3, §2.4, §4.4) and first-message ids (§3.6).

use crate::common::state_codec::{self as sc, clamp, is_clamped};
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::VerifyingKey;
use hmac::{Hmac, Mac};
use rand_chacha::rand_core::Rng;
use sha2::Sha256;
use x25519_dalek::{X25519_BASEPOINT_BYTES, x25519};

pub(crate) type K32 = [u8; 32];
/// §3.6 first-message id.
pub(crate) type Fmid = [u8; 16];
/// (sender's ratchet public key, N, MK) of a message we sent: test bookkeeping only.
pub(crate) type SentKey = (K32, u32, K32);

pub(crate) const VERSION: u8 = 0x01;
/// §1: the version byte of PQXDH bundles and prekey messages.
pub(crate) const VERSION_PQ: u8 = 0x02;
pub(crate) const TYPE_NORMAL: u8 = 0x01;
pub(crate) const TYPE_PREKEY: u8 = 0x02;
pub(crate) const LABEL_X3DH: &[u8] = b"xchat-protocol v1 X3DH";
const LABEL_ROOT: &[u8] = b"xchat-protocol v1 root chain";
const LABEL_MESSAGE: &[u8] = b"xchat-protocol v1 message key";
pub(crate) const LABEL_SIGNED_PREKEY: &[u8] = b"xchat-protocol v1 signed prekey";
const LABEL_FIRST_MESSAGE: &[u8] = b"xchat-protocol v1 first message";
pub(crate) const LABEL_KEM_PREKEY: &[u8] = b"xchat-protocol v1 KEM prekey";
pub(crate) const LABEL_PQXDH: &[u8] = b"xchat-protocol v1 PQXDH";
pub(crate) const MAX_PLAINTEXT: usize = 1 << 20;
/// §10.0: the state version written for a prekey store without KEM state and an X3DH session
/// (4, `sc::VERSION_PQ`, for the others), and the older ones read.
pub(crate) const STATE_VERSION: u8 = sc::VERSION;
pub(crate) const V2: u8 = 0x02;
pub(crate) const V1: u8 = 0x01;

/// §10.0: "the 32 draws of a key generation ... are clamped first"; the RNG use is unchanged.
pub(crate) fn generate_secret(rng: &mut impl Rng) -> K32 {
    clamp(draw(rng))
}

/// An "as drawn" form of a clamped secret that a version-1 blob may hold: the same X25519 key
/// with the bits clamping fixes set otherwise (test helper).
pub(crate) fn unclamped(k: &K32, variant: u8) -> K32 {
    let mut u = *k;
    match variant % 3 {
        0 => u[0] |= 0x01,
        1 => u[31] &= !0x40,
        _ => {
            u[0] |= 0x06;
            u[31] |= 0x80;
        }
    }
    assert!(!is_clamped(&u) && clamp(u) == *k);
    u
}

/// Mirrors the crate's error variant names so that `{:?}` strings can be compared (§11); wire
/// decoding only (state errors are the codec's `sc::DecodeError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeErr {
    Truncated,
    TrailingBytes,
    UnknownVersion(u8),
    UnknownType(u8),
    NonCanonical,
    InvalidKey,
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum E {
    Decode(DecodeErr),
    InvalidSignature,
    NonContributory,
    UnknownSignedPreKey(u32),
    UnknownOneTimePreKey(u32),
    UnknownKemPreKey(u32),
    DuplicateMessage,
    SignedPreKeyFull(u32),
    TooFarInFuture,
    DecryptionFailed,
    SessionMismatch,
    ChainExhausted,
    TooLarge,
    NotPreKeyMessage,
}

impl From<DecodeErr> for E {
    fn from(e: DecodeErr) -> Self {
        E::Decode(e)
    }
}

pub(crate) fn draw<const N: usize>(rng: &mut impl Rng) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill_bytes(&mut b);
    b
}

pub(crate) fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out)
        .unwrap();
}

fn hmac32(key: &K32, msg: &[u8]) -> K32 {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).unwrap();
    mac.update(msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// §3.2
pub(crate) fn kdf_rk(rk: &K32, dh_out: &K32) -> (K32, K32) {
    let mut okm = [0u8; 64];
    hkdf(rk, dh_out, LABEL_ROOT, &mut okm);
    (okm[..32].try_into().unwrap(), okm[32..].try_into().unwrap())
}

/// §3.3: (MK, CK')
pub(crate) fn kdf_ck(ck: &K32) -> (K32, K32) {
    (hmac32(ck, &[0x01]), hmac32(ck, &[0x02]))
}

/// §3.4
fn aead_key(mk: &K32, seed: &[u8; 16]) -> (Aes256Gcm, Nonce<Aes256Gcm>) {
    let mut okm = [0u8; 44];
    hkdf(seed, mk, LABEL_MESSAGE, &mut okm);
    let cipher = Aes256Gcm::new_from_slice(&okm[..32]).unwrap();
    let nonce = Nonce::<Aes256Gcm>::try_from(&okm[32..44]).unwrap();
    (cipher, nonce)
}

pub(crate) fn seal(mk: &K32, seed: &[u8; 16], aad: &[u8], pt: &[u8]) -> Vec<u8> {
    let (cipher, nonce) = aead_key(mk, seed);
    let mut buf = pt.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into())
        .unwrap();
    buf.extend_from_slice(&tag);
    buf
}

pub(crate) fn open(mk: &K32, seed: &[u8; 16], aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, E> {
    let (cipher, nonce) = aead_key(mk, seed);
    let (body, tag) = ct.split_at(ct.len() - 16);
    let tag = Tag::<Aes256Gcm>::try_from(tag).unwrap();
    let mut buf = body.to_vec();
    cipher
        .decrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into(), &tag)
        .map_err(|_| E::DecryptionFailed)?;
    Ok(buf)
}

pub(crate) fn xpub(secret: &K32) -> K32 {
    x25519(*secret, X25519_BASEPOINT_BYTES)
}

/// §4.4: every X25519 output is checked for all-zero.
pub(crate) fn dh(secret: &K32, public: &K32) -> Result<K32, E> {
    let out = x25519(*secret, *public);
    if out == [0u8; 32] {
        Err(E::NonContributory)
    } else {
        Ok(out)
    }
}

/// §2.3
pub(crate) fn x25519_canonical(k: &K32) -> bool {
    let high = k[31] >= 0x80;
    let ge_p = k[31] == 0x7F && k[1..31].iter().all(|&b| b == 0xFF) && k[0] >= 0xED;
    !high && !ge_p
}

/// `[L]P` is the identity (§2.4, §4.4 step 4), computed literally: `L = 2^252 + c` with
/// `c = 27742317777372353535851937790883648493 < L`, so `[L]P = [2^252]P + [c]P`.
fn in_prime_order_subgroup(p: &EdwardsPoint) -> bool {
    let mut c = [0u8; 32];
    c[..16].copy_from_slice(&0x14de_f9de_a2f7_9cd6_5812_631a_5cf5_d3ed_u128.to_le_bytes());
    let c = Scalar::from_canonical_bytes(c).unwrap();
    let mut pow = *p;
    for _ in 0..252 {
        pow = pow + pow;
    }
    let result = (pow + p * c).is_identity();
    // Cross-check against the library routine of curve25519-dalek.
    assert_eq!(result, p.is_torsion_free());
    result
}

/// §2.4
pub(crate) fn ed25519_canonical(k: &K32) -> bool {
    match VerifyingKey::from_bytes(k) {
        Ok(vk) => {
            !vk.is_weak()
                && vk.to_edwards().compress().to_bytes() == *k
                && in_prime_order_subgroup(&vk.to_edwards())
        }
        Err(_) => false,
    }
}

/// §4.4 step 4: a u-coordinate of a point of the curve (not the twist) in the prime-order
/// subgroup. Either sign of the Edwards point will do: `−P` is torsion-free iff `P` is.
pub(crate) fn x25519_prime_order(u: &K32) -> bool {
    match MontgomeryPoint(*u).to_edwards(0) {
        Some(p) => in_prime_order_subgroup(&p),
        None => false,
    }
}

/// §3.6
pub(crate) fn first_message_id(dh3: &K32) -> Fmid {
    let mut id = [0u8; 16];
    hkdf(&[0u8; 32], dh3, LABEL_FIRST_MESSAGE, &mut id);
    id
}

/// `u(P + T)` for the point `P` with u-coordinate `u` and the 8-torsion point `T = EIGHT_TORSION[i]`
/// (test helper: an encoding of "the same" X25519 key with another torsion component).
pub(crate) fn x25519_torsion_variant(u: &K32, i: usize) -> K32 {
    let p = MontgomeryPoint(*u).to_edwards(0).unwrap();
    (p + EIGHT_TORSION[i]).to_montgomery().to_bytes()
}

/// §4.1: X25519 form of a (validated) Ed25519 identity key: u = (1 + y) / (1 − y).
pub(crate) fn identity_x25519(ik: &K32) -> K32 {
    VerifyingKey::from_bytes(ik)
        .unwrap()
        .to_montgomery()
        .to_bytes()
}
