//! Independent reference pieces for the audit: HKDF-Expand-SHA-512 built from bare SHA-512,
//! AES-256-GCM chunks sealed under a nonce computed here (not by the crate), GHASH arithmetic
//! in GF(2^128) for a two-key GCM collision, scripted and counting RNGs, and descriptors built
//! byte by byte from their parts.

use std::convert::Infallible;

use aes_gcm::aead::AeadInOut;
use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::BlockCipherEncrypt;
use aes_gcm::{Aes256Gcm, KeyInit};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng, TryCryptoRng, TryRng};
use sha2::{Digest, Sha512};
use xchat_protocol::attachment::chunked::{CHUNK_LEN, HEADER_LEN, SEALED_CHUNK_LEN};
use xchat_protocol::attachment::{
    AttachmentDescriptor, AttachmentEncryptor, AttachmentInfo, padded_size,
};

pub(crate) fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// `len` bytes that differ from chunk to chunk and within each (never all zero at the end).
pub(crate) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed) | 1)
        .collect()
}

/// The attachment context, spelled out here rather than taken from the crate.
pub(crate) const ATTACHMENT_CONTEXT: &[u8] = b"xchat-protocol v1 attachment";

/// HMAC-SHA-512 (RFC 2104) from bare SHA-512: `H((K ^ opad) ‖ H((K ^ ipad) ‖ m))`.
pub(crate) fn hmac_sha512(key: &[u8], message: &[&[u8]]) -> [u8; 64] {
    assert!(key.len() <= 128);
    let mut block = [0u8; 128];
    block[..key.len()].copy_from_slice(key);
    let mut inner = Sha512::new();
    inner.update(block.map(|b| b ^ 0x36));
    for m in message {
        inner.update(m);
    }
    let inner = inner.finalize();
    let mut outer = Sha512::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// C2SP chunked encryption's derivation as its text gives it, for AES-256-GCM:
/// `key ‖ base nonce ‖ commitment = HKDF-Expand(prk = input key, info = "c2sp.org/chunked-
/// encryption@v1+" ‖ aead ‖ 0x00 ‖ salt ‖ context)`, 76 bytes.
pub(crate) struct Derived {
    pub key: [u8; 32],
    pub base_nonce: [u8; 12],
    pub commitment: [u8; 32],
}

pub(crate) fn c2sp_derive(input_key: &[u8; 32], salt: &[u8; 24], context: &[u8]) -> Derived {
    let mut info = Vec::new();
    info.extend_from_slice(b"c2sp.org/chunked-encryption@v1+");
    info.extend_from_slice(b"AEAD_AES_256_GCM");
    info.push(0x00);
    info.extend_from_slice(salt);
    info.extend_from_slice(context);
    let t1 = hmac_sha512(input_key, &[&info, &[1]]);
    let t2 = hmac_sha512(input_key, &[&t1, &info, &[2]]);
    let mut okm = t1.to_vec();
    okm.extend_from_slice(&t2);
    Derived {
        key: okm[..32].try_into().unwrap(),
        base_nonce: okm[32..44].try_into().unwrap(),
        commitment: okm[44..76].try_into().unwrap(),
    }
}

/// The header C2SP prescribes: salt, then commitment.
pub(crate) fn header_of(salt: &[u8; 24], d: &Derived) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..24].copy_from_slice(salt);
    h[24..].copy_from_slice(&d.commitment);
    h
}

/// Chunk `index`'s nonce: the base nonce XOR the index as a 96-bit big-endian integer.
pub(crate) fn nonce_for(base: &[u8; 12], index: u64) -> [u8; 12] {
    let mut wide = [0u8; 12];
    wide[4..].copy_from_slice(&index.to_be_bytes());
    let mut n = *base;
    for (a, b) in n.iter_mut().zip(wide) {
        *a ^= b;
    }
    n
}

/// Seals `plaintext` as chunk `index` with AES-256-GCM directly (empty AAD): ciphertext ‖ tag.
pub(crate) fn raw_seal(d: &Derived, index: u64, plaintext: &[u8]) -> Vec<u8> {
    let aead = Aes256Gcm::new_from_slice(&d.key).unwrap();
    let mut buf = plaintext.to_vec();
    let tag = aead
        .encrypt_inout_detached(
            &nonce_for(&d.base_nonce, index).into(),
            &[],
            buf.as_mut_slice().into(),
        )
        .unwrap();
    buf.extend_from_slice(&tag);
    buf
}

/// The descriptor encoding of SPEC.md §14.4, built here field by field.
pub(crate) fn descriptor_bytes(
    key: &[u8; 32],
    header: &[u8; HEADER_LEN],
    size: u64,
    info: &AttachmentInfo,
) -> Vec<u8> {
    let mut out = vec![0x01];
    out.extend_from_slice(key);
    out.extend_from_slice(header);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&padded_size(size).to_be_bytes());
    out.push(0); // no digest
    out.push(info.content_type.len() as u8);
    out.extend_from_slice(info.content_type.as_bytes());
    match &info.file_name {
        Some(n) => {
            out.push(1);
            out.extend_from_slice(&(n.len() as u16).to_be_bytes());
            out.extend_from_slice(n.as_bytes());
        }
        None => out.push(0),
    }
    match &info.thumbnail {
        Some(t) => {
            out.push(1);
            out.extend_from_slice(&(t.len() as u32).to_be_bytes());
            out.extend_from_slice(t);
        }
        None => out.push(0),
    }
    out.push(info.location.len() as u8);
    out.extend_from_slice(&info.location);
    out
}

/// A descriptor for an attachment of `size` bytes under `key` and `salt` (no stream needed):
/// returns it with the derived keys, to craft chunks at any index.
pub(crate) fn crafted_descriptor(
    key: [u8; 32],
    salt: [u8; 24],
    size: u64,
) -> (AttachmentDescriptor, Derived) {
    let d = c2sp_derive(&key, &salt, ATTACHMENT_CONTEXT);
    let bytes = descriptor_bytes(
        &key,
        &header_of(&salt, &d),
        size,
        &AttachmentInfo::default(),
    );
    (AttachmentDescriptor::from_bytes(&bytes).unwrap(), d)
}

/// Hands out scripted bytes, then panics if asked for more.
pub(crate) struct Script(pub Vec<u8>);

impl TryRng for Script {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        unreachable!("only fill_bytes is expected")
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        unreachable!("only fill_bytes is expected")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert!(dst.len() <= self.0.len(), "script exhausted");
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}

impl TryCryptoRng for Script {}

/// Records every draw (its length and bytes).
pub(crate) struct Counting {
    pub inner: ChaCha20Rng,
    pub draws: Vec<Vec<u8>>,
}

impl Counting {
    pub(crate) fn new(seed: u8) -> Self {
        Self {
            inner: rng(seed),
            draws: Vec::new(),
        }
    }
}

impl TryRng for Counting {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let v = self.inner.next_u32();
        self.draws.push(v.to_le_bytes().to_vec());
        Ok(v)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let v = self.inner.next_u64();
        self.draws.push(v.to_le_bytes().to_vec());
        Ok(v)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.fill_bytes(dst);
        self.draws.push(dst.to_vec());
        Ok(())
    }
}

impl TryCryptoRng for Counting {}

/// Seals `file` with the Vec API; returns the stored stream and the descriptor.
pub(crate) fn seal_with<R: rand_chacha::rand_core::CryptoRng + ?Sized>(
    rng: &mut R,
    file: &[u8],
) -> (Vec<u8>, AttachmentDescriptor) {
    let mut enc = AttachmentEncryptor::new(rng, file.len() as u64).unwrap();
    let mut stored = enc.header().to_vec();
    let mut rest = file;
    while let Some(n) = enc.next_input_len() {
        let (piece, tail) = rest.split_at(n);
        let mut buf = Vec::with_capacity(SEALED_CHUNK_LEN);
        buf.extend_from_slice(piece);
        enc.seal_next(&mut buf).unwrap();
        stored.extend_from_slice(&buf);
        rest = tail;
    }
    assert!(rest.is_empty());
    let info = AttachmentInfo {
        content_type: "application/octet-stream".into(),
        location: b"blob/audit".to_vec(),
        ..AttachmentInfo::default()
    };
    (stored, enc.finish(info).unwrap())
}

/// Chunk `i` of a stored stream (header first, full chunks, a short final one).
pub(crate) fn chunk_of(stored: &[u8], i: usize) -> &[u8] {
    let start = HEADER_LEN + i * SEALED_CHUNK_LEN;
    &stored[start..stored.len().min(start + SEALED_CHUNK_LEN)]
}

/// How many chunks a plaintext of `len` bytes has (C2SP: one more than the full ones).
pub(crate) fn chunks_for(len: u64) -> u64 {
    len / CHUNK_LEN as u64 + 1
}

// ---- GF(2^128) as GCM uses it (SP 800-38D §6.3): bit 0 is the MSB of byte 0. ----

pub(crate) fn gf_mul(x: u128, y: u128) -> u128 {
    const R: u128 = 0xE1 << 120;
    let (mut z, mut v) = (0u128, y);
    for i in 0..128 {
        if (x >> (127 - i)) & 1 == 1 {
            z ^= v;
        }
        v = if v & 1 == 1 { (v >> 1) ^ R } else { v >> 1 };
    }
    z
}

pub(crate) fn gf_pow(mut x: u128, mut e: u128) -> u128 {
    let mut acc = 1u128 << 127; // the field's one
    while e != 0 {
        if e & 1 == 1 {
            acc = gf_mul(acc, x);
        }
        x = gf_mul(x, x);
        e >>= 1;
    }
    acc
}

pub(crate) fn gf_inv(x: u128) -> u128 {
    gf_pow(x, u128::MAX - 1) // x^(2^128 − 2)
}

/// AES-256 of one block.
pub(crate) fn aes_block(key: &[u8; 32], block: [u8; 16]) -> u128 {
    let c = Aes256::new_from_slice(key).unwrap();
    let mut b = aes_gcm::aes::Block::default();
    b.copy_from_slice(&block);
    c.encrypt_block(&mut b);
    u128::from_be_bytes(b.as_slice().try_into().unwrap())
}

/// The keystream AES-256-GCM XORs into `len` bytes under `d`'s key and chunk `index`'s nonce.
pub(crate) fn keystream(d: &Derived, index: u64, len: usize) -> Vec<u8> {
    let sealed = raw_seal(d, index, &vec![0u8; len]);
    sealed[..len].to_vec()
}
