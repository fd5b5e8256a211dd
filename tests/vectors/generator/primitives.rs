//! Primitives from the crate's public building blocks (`kdf`, `KeyPair::diffie_hellman`) and
//! AES-GCM / SHA-2 directly, with which every intermediate value of the files is recomputed.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce};
use sha2::{Digest, Sha512};
use xchat_protocol::kdf::{ChainKey, MessageKey, RootKey};
use xchat_protocol::{Error, KeyPair, PublicKey};
use zeroize::Zeroizing;

pub fn a32(b: &[u8]) -> [u8; 32] {
    b.try_into().expect("32 bytes")
}

pub fn a16(b: &[u8]) -> [u8; 16] {
    b.try_into().expect("16 bytes")
}

/// The X25519 secret of an identity: `SHA-512(seed)[0..32]` (SPEC.md §4.1).
pub fn identity_x25519_secret(seed: &[u8; 32]) -> [u8; 32] {
    a32(&Sha512::digest(seed)[..32])
}

/// The X25519 public key of a 32-byte secret.
pub fn x25519_public(secret: [u8; 32]) -> [u8; 32] {
    KeyPair::from_secret_bytes(secret).public().to_bytes()
}

/// `DH(secret, public)` through `KeyPair::diffie_hellman` (all-zero → `NonContributory`).
pub fn dh(secret: [u8; 32], public: [u8; 32]) -> Result<[u8; 32], Error> {
    let public = PublicKey::from_bytes(public)?;
    Ok(*KeyPair::from_secret_bytes(secret).diffie_hellman(&public)?)
}

/// KDF_RK (SPEC.md §3.2): (next root key, chain key).
pub fn kdf_rk(rk: [u8; 32], dh_out: [u8; 32]) -> ([u8; 32], [u8; 32]) {
    let (root, chain) = RootKey::from_bytes(rk).ratchet(&Zeroizing::new(dh_out));
    (*root.as_bytes(), *chain.as_bytes())
}

/// KDF_CK (SPEC.md §3.3): (next chain key, message key).
pub fn kdf_ck(ck: [u8; 32]) -> ([u8; 32], [u8; 32]) {
    let (next, mk) = ChainKey::from_bytes(ck).step();
    (*next.as_bytes(), *mk.as_bytes())
}

/// Message key expansion (SPEC.md §3.4): (AES key, nonce).
pub fn expand(mk: [u8; 32], seed: [u8; 16]) -> ([u8; 32], [u8; 12]) {
    let k = MessageKey::from_bytes(mk).expand(&seed);
    (k.key, k.nonce)
}

/// AES-256-GCM seal, `ciphertext ‖ tag`.
pub fn gcm_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new_from_slice(key).expect("key");
    let nonce = Nonce::<Aes256Gcm>::try_from(&nonce[..]).expect("nonce");
    let mut buf = plaintext.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into())
        .expect("seal");
    buf.extend_from_slice(&tag);
    buf
}

/// `AD = IK_A ‖ IK_B ‖ u16 len ‖ context` (SPEC.md §3.5).
pub fn associated_data(ik_a: &[u8; 32], ik_b: &[u8; 32], context: &[u8]) -> Vec<u8> {
    let mut ad = ik_a.to_vec();
    ad.extend_from_slice(ik_b);
    ad.extend_from_slice(&u16::try_from(context.len()).expect("context").to_be_bytes());
    ad.extend_from_slice(context);
    ad
}

/// Offset of the embedded normal message in a message on the wire (0, 71 or 75).
pub fn normal_offset(wire: &[u8]) -> usize {
    match (wire[1], wire.get(70)) {
        (0x01, _) => 0,
        (0x02, Some(0)) => 71,
        (0x02, Some(1)) => 75,
        _ => panic!("not a message"),
    }
}

/// Little-endian addition of the group order L to a 32-byte scalar (for s ≥ L malleation).
pub fn add_group_order(s: &[u8]) -> [u8; 32] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s[i]) + u16::from(L[i]) + carry;
        out[i] = (v & 0xff) as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    out
}
