//! An independent implementation of SPEC.md (written from the specification only, from primitives)
//! that must interoperate with the crate byte for byte: bundles, prekey and normal messages,
//! decode errors and persisted session / prekey-store / identity state, in both directions —
//! including the prekey store's per-signed-prekey replay records (§3.6, §4.3), X25519 secrets
//! held and stored clamped (§8.0), and the migration of version-1 store and session blobs (§8.2,
//! §8.3).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256, Sha512};
use x25519_dalek::{X25519_BASEPOINT_BYTES, x25519};
use xchat_protocol::{IdentityKeyPair, PreKeyBundle, PreKeyStore, Session};

// ---------------------------------------------------------------------------------------------
// The independent implementation
// ---------------------------------------------------------------------------------------------

type K32 = [u8; 32];
/// §3.6 first-message id.
type Fmid = [u8; 16];
/// (sender's ratchet public key, N, MK) of a message we sent: test bookkeeping only.
type SentKey = (K32, u32, K32);

const VERSION: u8 = 0x01;
const TYPE_NORMAL: u8 = 0x01;
const TYPE_PREKEY: u8 = 0x02;
const LABEL_X3DH: &[u8] = b"xchat-protocol v1 X3DH";
const LABEL_ROOT: &[u8] = b"xchat-protocol v1 root chain";
const LABEL_MESSAGE: &[u8] = b"xchat-protocol v1 message key";
const LABEL_SIGNED_PREKEY: &[u8] = b"xchat-protocol v1 signed prekey";
const LABEL_FIRST_MESSAGE: &[u8] = b"xchat-protocol v1 first message";
/// §4.3
const MAX_SIGNED_PREKEYS: usize = 3;
const MAX_FIRST_MESSAGES: usize = 4096;
const MAX_ONE_TIME_PREKEYS: usize = 65_536;
/// §8.2 version 1 (read only): the seen list's bound.
const V1_MAX_SEEN: u32 = 1024;
const MAX_PLAINTEXT: usize = 1 << 20;
const MAX_CONTEXT: usize = 1024;
const CEILING: u32 = 1 << 20;
/// max_skip, max_skipped_keys, max_old_chains, max_skipped_key_age (§6.4).
const DEFAULT_LIMITS: [u32; 4] = [2000, 2000, 5, 10000];
const KIND_IDENTITY: u8 = 0x10;
const KIND_STORE: u8 = 0x11;
const KIND_SESSION: u8 = 0x12;
/// §8.0: the version written for each kind, and the versions read.
const STORE_VERSION: u8 = 0x02;
const STORE_VERSION_V1: u8 = 0x01;
const SESSION_VERSION: u8 = 0x02;
const SESSION_VERSION_V1: u8 = 0x01;
/// §11.5; §8.3 turns a version-1 purge deadline `D` into `skipped_at = D − 2 · MAX_CLOCK_SKEW`.
const MAX_CLOCK_SKEW: u64 = 300_000;

fn version_written(kind: u8) -> u8 {
    match kind {
        KIND_STORE => STORE_VERSION,
        KIND_SESSION => SESSION_VERSION,
        _ => VERSION,
    }
}

fn version_read(kind: u8, v: u8) -> bool {
    match kind {
        KIND_STORE => v == STORE_VERSION || v == STORE_VERSION_V1,
        KIND_SESSION => v == SESSION_VERSION || v == SESSION_VERSION_V1,
        _ => v == VERSION,
    }
}

/// RFC 7748 §5 clamping (§8.0): clear bits 0–2 of byte 0 and bit 7 of byte 31, set bit 6 of
/// byte 31.
fn clamp(mut k: K32) -> K32 {
    k[0] &= 0xF8;
    k[31] &= 0x7F;
    k[31] |= 0x40;
    k
}

/// §8.0: a stored secret of a version-2 format must already be in its clamped form.
fn is_clamped(k: &K32) -> bool {
    clamp(*k) == *k
}

/// §8.0: "the 32 draws of a key generation ... are clamped first"; the RNG use is unchanged.
fn generate_secret(rng: &mut ChaCha20Rng) -> K32 {
    clamp(draw(rng))
}

/// An "as drawn" form of a clamped secret that a version-1 blob may hold: the same X25519 key
/// with the bits clamping fixes set otherwise (test helper).
fn unclamped(k: &K32, variant: u8) -> K32 {
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

/// Mirrors the crate's error variant names so that `{:?}` strings can be compared (§9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeErr {
    Truncated,
    TrailingBytes,
    UnknownVersion(u8),
    UnknownType(u8),
    NonCanonical,
    InvalidKey,
    TooLarge,
    ChecksumMismatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum E {
    Decode(DecodeErr),
    InvalidSignature,
    NonContributory,
    UnknownSignedPreKey(u32),
    UnknownOneTimePreKey(u32),
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

fn draw<const N: usize>(rng: &mut ChaCha20Rng) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill_bytes(&mut b);
    b
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
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
fn kdf_rk(rk: &K32, dh_out: &K32) -> (K32, K32) {
    let mut okm = [0u8; 64];
    hkdf(rk, dh_out, LABEL_ROOT, &mut okm);
    (okm[..32].try_into().unwrap(), okm[32..].try_into().unwrap())
}

/// §3.3: (MK, CK')
fn kdf_ck(ck: &K32) -> (K32, K32) {
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

fn seal(mk: &K32, seed: &[u8; 16], aad: &[u8], pt: &[u8]) -> Vec<u8> {
    let (cipher, nonce) = aead_key(mk, seed);
    let mut buf = pt.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into())
        .unwrap();
    buf.extend_from_slice(&tag);
    buf
}

fn open(mk: &K32, seed: &[u8; 16], aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, E> {
    let (cipher, nonce) = aead_key(mk, seed);
    let (body, tag) = ct.split_at(ct.len() - 16);
    let tag = Tag::<Aes256Gcm>::try_from(tag).unwrap();
    let mut buf = body.to_vec();
    cipher
        .decrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into(), &tag)
        .map_err(|_| E::DecryptionFailed)?;
    Ok(buf)
}

fn xpub(secret: &K32) -> K32 {
    x25519(*secret, X25519_BASEPOINT_BYTES)
}

/// §4.4: every X25519 output is checked for all-zero.
fn dh(secret: &K32, public: &K32) -> Result<K32, E> {
    let out = x25519(*secret, *public);
    if out == [0u8; 32] {
        Err(E::NonContributory)
    } else {
        Ok(out)
    }
}

/// §2.3
fn x25519_canonical(k: &K32) -> bool {
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
fn ed25519_canonical(k: &K32) -> bool {
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
fn x25519_prime_order(u: &K32) -> bool {
    match MontgomeryPoint(*u).to_edwards(0) {
        Some(p) => in_prime_order_subgroup(&p),
        None => false,
    }
}

/// §3.6
fn first_message_id(dh3: &K32) -> Fmid {
    let mut id = [0u8; 16];
    hkdf(&[0u8; 32], dh3, LABEL_FIRST_MESSAGE, &mut id);
    id
}

/// `u(P + T)` for the point `P` with u-coordinate `u` and the 8-torsion point `T = EIGHT_TORSION[i]`
/// (test helper: an encoding of "the same" X25519 key with another torsion component).
fn x25519_torsion_variant(u: &K32, i: usize) -> K32 {
    let p = MontgomeryPoint(*u).to_edwards(0).unwrap();
    (p + EIGHT_TORSION[i]).to_montgomery().to_bytes()
}

/// §4.1: X25519 form of a (validated) Ed25519 identity key: u = (1 + y) / (1 − y).
fn identity_x25519(ik: &K32) -> K32 {
    VerifyingKey::from_bytes(ik)
        .unwrap()
        .to_montgomery()
        .to_bytes()
}

fn envelope(kind: u8, body: &[u8]) -> Vec<u8> {
    envelope_v(kind, version_written(kind), body)
}

fn envelope_v(kind: u8, version: u8, body: &[u8]) -> Vec<u8> {
    let mut blob = vec![kind, version];
    blob.extend_from_slice(body);
    let check = Sha256::digest(&blob);
    blob.extend_from_slice(&check[..16]);
    blob
}

/// §8.0: returns the version and the body.
fn open_envelope(kind: u8, blob: &[u8]) -> Result<(u8, &[u8]), DecodeErr> {
    if blob.len() < 16 {
        return Err(DecodeErr::Truncated);
    }
    let (rest, check) = blob.split_at(blob.len() - 16);
    let k = *rest.first().ok_or(DecodeErr::Truncated)?;
    if k != kind {
        return Err(DecodeErr::UnknownType(k));
    }
    let v = *rest.get(1).ok_or(DecodeErr::Truncated)?;
    if !version_read(kind, v) {
        return Err(DecodeErr::UnknownVersion(v));
    }
    if Sha256::digest(rest)[..16] != *check {
        return Err(DecodeErr::ChecksumMismatch);
    }
    Ok((v, &rest[2..]))
}

struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeErr> {
        if self.0.len() < n {
            return Err(DecodeErr::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeErr> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeErr> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, DecodeErr> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, DecodeErr> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn a32(&mut self) -> Result<K32, DecodeErr> {
        Ok(self.take(32)?.try_into().unwrap())
    }
    fn flag(&mut self) -> Result<bool, DecodeErr> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeErr::NonCanonical),
        }
    }
    fn xkey(&mut self) -> Result<K32, DecodeErr> {
        let k = self.a32()?;
        if x25519_canonical(&k) {
            Ok(k)
        } else {
            Err(DecodeErr::InvalidKey)
        }
    }
    fn edkey(&mut self) -> Result<K32, DecodeErr> {
        let k = self.a32()?;
        if ed25519_canonical(&k) {
            Ok(k)
        } else {
            Err(DecodeErr::InvalidKey)
        }
    }
    fn end(&self) -> Result<(), DecodeErr> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DecodeErr::TrailingBytes)
        }
    }
}

/// §4.1 identity.
struct Ident {
    seed: K32,
    ik: K32,
    xsecret: K32,
}

impl Ident {
    fn new(seed: K32) -> Self {
        let ik = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let xsecret: K32 = Sha512::digest(seed)[..32].try_into().unwrap();
        // The two X25519 derivations of §4.1 agree.
        assert_eq!(xpub(&xsecret), identity_x25519(&ik));
        Ident { seed, ik, xsecret }
    }
    fn sign(&self, msg: &[u8]) -> [u8; 64] {
        SigningKey::from_bytes(&self.seed).sign(msg).to_bytes()
    }
}

/// §4.2
fn signed_bytes(id: u32, created_at: u64, spk: &K32) -> Vec<u8> {
    let mut m = LABEL_SIGNED_PREKEY.to_vec();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&created_at.to_be_bytes());
    m.extend_from_slice(spk);
    assert_eq!(m.len(), 75);
    m
}

fn verify_spk(ik: &K32, id: u32, created_at: u64, spk: &K32, sig: &[u8; 64]) -> Result<(), E> {
    let vk = VerifyingKey::from_bytes(ik).map_err(|_| E::InvalidSignature)?;
    vk.verify_strict(
        &signed_bytes(id, created_at, spk),
        &Signature::from_bytes(sig),
    )
    .map_err(|_| E::InvalidSignature)
}

/// §5.1
#[derive(Debug, Clone, PartialEq)]
struct Bundle {
    ik: K32,
    spk_id: u32,
    created_at: u64,
    spk: K32,
    sig: [u8; 64],
    opk: Option<(u32, K32)>,
}

fn encode_bundle(b: &Bundle) -> Vec<u8> {
    let mut v = vec![VERSION];
    v.extend_from_slice(&b.ik);
    v.extend_from_slice(&b.spk_id.to_be_bytes());
    v.extend_from_slice(&b.created_at.to_be_bytes());
    v.extend_from_slice(&b.spk);
    v.extend_from_slice(&b.sig);
    match b.opk {
        None => v.push(0),
        Some((id, k)) => {
            v.push(1);
            v.extend_from_slice(&id.to_be_bytes());
            v.extend_from_slice(&k);
        }
    }
    v
}

fn decode_bundle(bytes: &[u8]) -> Result<Bundle, DecodeErr> {
    let mut r = Rd(bytes);
    let v = r.u8()?;
    if v != VERSION {
        return Err(DecodeErr::UnknownVersion(v));
    }
    let ik = r.edkey()?;
    let spk_id = r.u32()?;
    let created_at = r.u64()?;
    let spk = r.xkey()?;
    let sig: [u8; 64] = r.take(64)?.try_into().unwrap();
    let opk = if r.flag()? {
        let id = r.u32()?;
        Some((id, r.xkey()?))
    } else {
        None
    };
    r.end()?;
    Ok(Bundle {
        ik,
        spk_id,
        created_at,
        spk,
        sig,
        opk,
    })
}

/// §5.2 decoded normal message.
#[derive(Debug, Clone)]
struct Msg {
    key: K32,
    pn: u32,
    n: u32,
    seed: [u8; 16],
    /// The prekey fields' bytes (0..71 or 0..75) of a prekey message; empty for a normal one.
    prekey_fields: Vec<u8>,
    prefix: Vec<u8>,
    ct: Vec<u8>,
}

impl Msg {
    /// §3.5: `AD`, then every byte of the message before its ciphertext.
    fn aad(&self, ad: &[u8]) -> Vec<u8> {
        [ad, &self.prekey_fields, &self.prefix].concat()
    }
}

/// §5.3 prekey fields.
#[derive(Debug, Clone, PartialEq)]
struct PreFields {
    ik_a: K32,
    base: K32,
    spk_id: u32,
    opk_id: Option<u32>,
}

fn encode_prefields(p: &PreFields) -> Vec<u8> {
    let mut v = vec![VERSION, TYPE_PREKEY];
    v.extend_from_slice(&p.ik_a);
    v.extend_from_slice(&p.base);
    v.extend_from_slice(&p.spk_id.to_be_bytes());
    match p.opk_id {
        None => v.push(0),
        Some(id) => {
            v.push(1);
            v.extend_from_slice(&id.to_be_bytes());
        }
    }
    v
}

/// §5.4, in exactly the order given there.
fn decode_message(bytes: &[u8]) -> Result<(Option<PreFields>, Msg), DecodeErr> {
    let mut r = Rd(bytes);
    let v = r.u8()?;
    if v != VERSION {
        return Err(DecodeErr::UnknownVersion(v));
    }
    let t = r.u8()?;
    let (pre, body) = match t {
        TYPE_NORMAL => (None, bytes),
        TYPE_PREKEY => {
            let ik_a = r.edkey()?;
            let base = r.xkey()?;
            let spk_id = r.u32()?;
            let opk_id = if r.flag()? { Some(r.u32()?) } else { None };
            (
                Some(PreFields {
                    ik_a,
                    base,
                    spk_id,
                    opk_id,
                }),
                r.0,
            )
        }
        other => return Err(DecodeErr::UnknownType(other)),
    };
    if body.len() < 58 {
        return Err(DecodeErr::Truncated);
    }
    let prekey_fields = bytes[..bytes.len() - body.len()].to_vec();
    if let Some(p) = &pre {
        assert_eq!(prekey_fields, encode_prefields(p));
    }
    let prefix = body[..58].to_vec();
    let mut r = Rd(body);
    let v = r.u8()?;
    if v != VERSION {
        return Err(DecodeErr::UnknownVersion(v));
    }
    let t = r.u8()?;
    if t != TYPE_NORMAL {
        return Err(DecodeErr::UnknownType(t));
    }
    let key = r.xkey()?;
    let pn = r.u32()?;
    let n = r.u32()?;
    let seed: [u8; 16] = r.take(16)?.try_into().unwrap();
    let ct = r.0.to_vec();
    if ct.len() < 16 {
        return Err(DecodeErr::Truncated);
    }
    if ct.len() > MAX_PLAINTEXT + 16 {
        return Err(DecodeErr::TooLarge);
    }
    Ok((
        pre,
        Msg {
            key,
            pn,
            n,
            seed,
            prekey_fields,
            prefix,
            ct,
        },
    ))
}

#[derive(Debug, Clone, PartialEq)]
struct Skipped {
    key: K32,
    n: u32,
    stamp: u32,
    /// §8.3 row 19 / §11.6: when the key was skipped (ms); raw decrypts have no clock and store
    /// `u64::MAX` (unknown: never purged by time).
    skipped_at: u64,
    mk: K32,
}

/// §6.1, in the deferred form.
#[derive(Debug, Clone, PartialEq)]
struct Ratchet {
    rk: K32,
    dhs: K32,
    dhr: Option<K32>,
    send: Option<(K32, u32)>,
    recv: Option<(K32, u32)>,
    pn: u32,
    old: Vec<K32>,
    skipped: Vec<Skipped>,
    received: u32,
    limits: [u32; 4],
}

/// Keys for indices `from..to` of a chain starting at `ck` (index `from`), and the chain key at `to`.
fn walk(mut ck: K32, from: u32, to: u32) -> (Vec<(u32, K32)>, K32) {
    let mut keys = Vec::new();
    for i in from..to {
        let (mk, next) = kdf_ck(&ck);
        keys.push((i, mk));
        ck = next;
    }
    (keys, ck)
}

impl Ratchet {
    /// §6.2 initiator.
    fn init_initiator(rng: &mut ChaCha20Rng, sk: &K32, spk: &K32) -> Result<Self, E> {
        let dhs = generate_secret(rng);
        let (rk, cks) = kdf_rk(sk, &dh(&dhs, spk)?);
        Ok(Ratchet {
            rk,
            dhs,
            dhr: Some(*spk),
            send: Some((cks, 0)),
            recv: None,
            pn: 0,
            old: vec![],
            skipped: vec![],
            received: 0,
            limits: DEFAULT_LIMITS,
        })
    }

    /// §6.2 responder.
    fn init_responder(sk: &K32, spk_secret: &K32) -> Self {
        Ratchet {
            rk: *sk,
            dhs: *spk_secret,
            dhr: None,
            send: None,
            recv: None,
            pn: 0,
            old: vec![],
            skipped: vec![],
            received: 0,
            limits: DEFAULT_LIMITS,
        }
    }

    /// §6.3; also returns (ratchet public, N, MK) for the test's bookkeeping.
    fn encrypt(
        &mut self,
        rng: &mut ChaCha20Rng,
        ad: &[u8],
        pt: &[u8],
    ) -> Result<(Vec<u8>, SentKey), E> {
        if pt.len() > MAX_PLAINTEXT {
            return Err(E::TooLarge);
        }
        let (dhs, rk, (ck, ns)) = match self.send {
            Some(chain) => (self.dhs, self.rk, chain),
            None => {
                let dhr = self.dhr.ok_or(E::ChainExhausted)?;
                let fresh = generate_secret(rng);
                let (rk, ck) = kdf_rk(&self.rk, &dh(&fresh, &dhr)?);
                (fresh, rk, (ck, 0))
            }
        };
        if ns == u32::MAX {
            return Err(E::ChainExhausted);
        }
        let (mk, next) = kdf_ck(&ck);
        let seed: [u8; 16] = draw(rng);
        let mut out = vec![VERSION, TYPE_NORMAL];
        out.extend_from_slice(&xpub(&dhs));
        out.extend_from_slice(&self.pn.to_be_bytes());
        out.extend_from_slice(&ns.to_be_bytes());
        out.extend_from_slice(&seed);
        let aad = [ad, &out].concat();
        let ct = seal(&mk, &seed, &aad, pt);
        out.extend_from_slice(&ct);
        self.dhs = dhs;
        self.rk = rk;
        self.send = Some((next, ns + 1));
        Ok((out, (xpub(&dhs), ns, mk)))
    }

    fn push_skipped(&mut self, key: K32, n: u32, mk: K32) {
        let stamp = self.received.wrapping_add(1);
        self.skipped.push(Skipped {
            key,
            n,
            stamp,
            skipped_at: u64::MAX,
            mk,
        });
        while self.skipped.len() > self.limits[1] as usize {
            self.skipped.remove(0);
        }
    }

    fn count_decrypt(&mut self) {
        self.received = self.received.wrapping_add(1);
        while let Some(first) = self.skipped.first() {
            if self.received.wrapping_sub(first.stamp) > self.limits[3] {
                self.skipped.remove(0);
            } else {
                break;
            }
        }
    }

    /// §6.5
    fn decrypt(&mut self, ad: &[u8], m: &Msg) -> Result<Vec<u8>, E> {
        let aad = m.aad(ad);
        let max_skip = self.limits[0];
        // A. skipped key
        if let Some(i) = self
            .skipped
            .iter()
            .position(|s| s.key == m.key && s.n == m.n)
        {
            let pt = open(&self.skipped[i].mk, &m.seed, &aad, &m.ct)?;
            self.skipped.remove(i);
            self.count_decrypt();
            return Ok(pt);
        }
        // B. counter bound
        if m.n == u32::MAX {
            return Err(E::TooFarInFuture);
        }
        // C. current chain
        if self.dhr == Some(m.key) {
            let (ck, nr) = self.recv.ok_or(E::DecryptionFailed)?;
            if m.n < nr {
                return Err(E::DuplicateMessage);
            }
            if m.n - nr > max_skip {
                return Err(E::TooFarInFuture);
            }
            let (kept, ck_n) = walk(ck, nr, m.n);
            let (mk, next) = kdf_ck(&ck_n);
            let pt = open(&mk, &m.seed, &aad, &m.ct)?;
            for (i, k) in kept {
                self.push_skipped(m.key, i, k);
            }
            self.recv = Some((next, m.n + 1));
            self.count_decrypt();
            return Ok(pt);
        }
        // D. new ratchet key
        if self.old.contains(&m.key) {
            return Err(E::DuplicateMessage);
        }
        if self.send.is_none() && self.dhr.is_some() {
            return Err(E::DecryptionFailed);
        }
        let old_gap = match self.recv {
            Some((_, nr)) => m.pn.saturating_sub(nr),
            None => 0,
        };
        if u64::from(old_gap) + u64::from(m.n) > u64::from(max_skip) {
            return Err(E::TooFarInFuture);
        }
        let old_keys = match self.recv {
            Some((ck, nr)) if m.pn > nr => walk(ck, nr, m.pn).0,
            _ => vec![],
        };
        let (rk, ck) = kdf_rk(&self.rk, &dh(&self.dhs, &m.key)?);
        let (new_keys, ck_n) = walk(ck, 0, m.n);
        let (mk, next) = kdf_ck(&ck_n);
        let pt = open(&mk, &m.seed, &aad, &m.ct)?;
        if let (Some(old_dhr), Some(_)) = (self.dhr, self.recv) {
            for (i, k) in old_keys {
                self.push_skipped(old_dhr, i, k);
            }
            self.old.push(old_dhr);
            while self.old.len() > self.limits[2] as usize {
                let gone = self.old.remove(0);
                self.skipped.retain(|s| s.key != gone);
            }
        }
        for (i, k) in new_keys {
            self.push_skipped(m.key, i, k);
        }
        self.rk = rk;
        self.dhr = Some(m.key);
        self.recv = Some((next, m.n + 1));
        self.pn = self.send.map_or(0, |(_, ns)| ns);
        self.send = None;
        self.count_decrypt();
        Ok(pt)
    }
}

/// §7 session.
#[derive(Debug, Clone, PartialEq)]
struct MySession {
    initiator: bool,
    acknowledged: bool,
    local: K32,
    remote: K32,
    context: Vec<u8>,
    base: K32,
    spk_id: u32,
    opk_id: Option<u32>,
    /// §8.3 timer fields (duration, start, version); OFF for the raw API used here.
    timer: (u32, u8, u32),
    r: Ratchet,
}

fn x3dh_sk(dhs: &[K32]) -> K32 {
    let mut ikm = vec![0xFFu8; 32];
    for d in dhs {
        ikm.extend_from_slice(d);
    }
    let mut sk = [0u8; 32];
    hkdf(&[0u8; 32], &ikm, LABEL_X3DH, &mut sk);
    sk
}

impl MySession {
    /// §3.5
    fn ad(&self) -> Vec<u8> {
        let (a, b) = if self.initiator {
            (self.local, self.remote)
        } else {
            (self.remote, self.local)
        };
        let mut ad = a.to_vec();
        ad.extend_from_slice(&b);
        ad.extend_from_slice(&u16::try_from(self.context.len()).unwrap().to_be_bytes());
        ad.extend_from_slice(&self.context);
        ad
    }

    fn prefields(&self) -> PreFields {
        PreFields {
            ik_a: if self.initiator {
                self.local
            } else {
                self.remote
            },
            base: self.base,
            spk_id: self.spk_id,
            opk_id: self.opk_id,
        }
    }

    /// §7.2 + §4.4 initiator.
    fn initiate(
        rng: &mut ChaCha20Rng,
        id: &Ident,
        bundle: &[u8],
        context: &[u8],
    ) -> Result<Self, E> {
        if context.len() > MAX_CONTEXT {
            return Err(E::TooLarge);
        }
        let b = decode_bundle(bundle)?;
        verify_spk(&b.ik, b.spk_id, b.created_at, &b.spk, &b.sig)?;
        // Clamping EK_A changes neither its public key nor a DH; it is discarded anyway.
        let ek = generate_secret(rng);
        let ik_b = identity_x25519(&b.ik);
        let mut dhs = vec![dh(&id.xsecret, &b.spk)?, dh(&ek, &ik_b)?, dh(&ek, &b.spk)?];
        if let Some((_, opk)) = b.opk {
            dhs.push(dh(&ek, &opk)?);
            // §4.4 step 4, after the DHs.
            if !x25519_prime_order(&opk) {
                return Err(E::Decode(DecodeErr::InvalidKey));
            }
        }
        let sk = x3dh_sk(&dhs);
        let r = Ratchet::init_initiator(rng, &sk, &b.spk)?;
        Ok(MySession {
            initiator: true,
            acknowledged: false,
            local: id.ik,
            remote: b.ik,
            context: context.to_vec(),
            base: xpub(&ek),
            spk_id: b.spk_id,
            opk_id: b.opk.map(|(id, _)| id),
            timer: (0, 0, 0),
            r,
        })
    }

    fn encrypt_logged(
        &mut self,
        rng: &mut ChaCha20Rng,
        pt: &[u8],
    ) -> Result<(Vec<u8>, SentKey), E> {
        let ad = self.ad();
        if self.initiator && !self.acknowledged {
            // §3.5: aad = AD ‖ prekey fields ‖ prefix.
            let mut out = encode_prefields(&self.prefields());
            let (m, log) = self.r.encrypt(rng, &[&ad, &out[..]].concat(), pt)?;
            out.extend_from_slice(&m);
            Ok((out, log))
        } else {
            self.r.encrypt(rng, &ad, pt)
        }
    }

    /// §7.4
    fn decrypt(&mut self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        let (pre, m) = decode_message(bytes)?;
        if let Some(p) = pre
            && (self.initiator || p != self.prefields())
        {
            return Err(E::SessionMismatch);
        }
        let ad = self.ad();
        let pt = self.r.decrypt(&ad, &m)?;
        self.acknowledged = true;
        Ok(pt)
    }

    /// §6.4 "Changing limits".
    fn set_limits(&mut self, limits: [u32; 4]) {
        assert!(limits.iter().all(|l| (1..=CEILING).contains(l)) && limits[0] <= limits[1]);
        let r = &mut self.r;
        r.limits = limits;
        while r.old.len() > limits[2] as usize {
            let gone = r.old.remove(0);
            r.skipped.retain(|s| s.key != gone);
        }
        while r.skipped.len() > limits[1] as usize {
            r.skipped.remove(0);
        }
        while let Some(first) = r.skipped.first() {
            if r.received.wrapping_sub(first.stamp) > limits[3] {
                r.skipped.remove(0);
            } else {
                break;
            }
        }
    }

    /// §8.3, version 2 (the version written).
    fn to_state(&self) -> Vec<u8> {
        envelope(KIND_SESSION, &self.state_body())
    }

    /// §8.3 version 1 (test helper: what a version-1 library wrote): the same layout, with the
    /// fields written as they are — the caller puts version-1 values in them (an unclamped `DHs`,
    /// purge deadlines in `skipped_at`).
    fn to_state_v1(&self) -> Vec<u8> {
        envelope_v(KIND_SESSION, SESSION_VERSION_V1, &self.state_body())
    }

    fn state_body(&self) -> Vec<u8> {
        let r = &self.r;
        let mut b = vec![u8::from(!self.initiator), u8::from(self.acknowledged)];
        b.extend_from_slice(&self.local);
        b.extend_from_slice(&self.remote);
        b.extend_from_slice(&u16::try_from(self.context.len()).unwrap().to_be_bytes());
        b.extend_from_slice(&self.context);
        b.extend_from_slice(&self.base);
        b.extend_from_slice(&self.spk_id.to_be_bytes());
        match self.opk_id {
            None => b.push(0),
            Some(id) => {
                b.push(1);
                b.extend_from_slice(&id.to_be_bytes());
            }
        }
        for l in r.limits {
            b.extend_from_slice(&l.to_be_bytes());
        }
        b.extend_from_slice(&self.timer.0.to_be_bytes());
        b.push(self.timer.1);
        b.extend_from_slice(&self.timer.2.to_be_bytes());
        b.extend_from_slice(&r.rk);
        b.extend_from_slice(&r.dhs);
        match r.dhr {
            None => b.push(0),
            Some(k) => {
                b.push(1);
                b.extend_from_slice(&k);
            }
        }
        for chain in [r.send, r.recv] {
            match chain {
                None => b.push(0),
                Some((ck, n)) => {
                    b.push(1);
                    b.extend_from_slice(&ck);
                    b.extend_from_slice(&n.to_be_bytes());
                }
            }
        }
        b.extend_from_slice(&r.pn.to_be_bytes());
        b.extend_from_slice(&r.received.to_be_bytes());
        b.extend_from_slice(&u32::try_from(r.old.len()).unwrap().to_be_bytes());
        for k in &r.old {
            b.extend_from_slice(k);
        }
        b.extend_from_slice(&u32::try_from(r.skipped.len()).unwrap().to_be_bytes());
        for s in &r.skipped {
            b.extend_from_slice(&s.key);
            b.extend_from_slice(&s.n.to_be_bytes());
            b.extend_from_slice(&s.stamp.to_be_bytes());
            b.extend_from_slice(&s.skipped_at.to_be_bytes());
            b.extend_from_slice(&s.mk);
        }
        b
    }

    /// §8.3, strictly, both versions; a version-1 blob is migrated (§8.0, §8.3): its `DHs`
    /// clamped, each purge deadline `D` read as `skipped_at = D − 2 · MAX_CLOCK_SKEW`.
    fn from_state(blob: &[u8]) -> Result<Self, DecodeErr> {
        use DecodeErr::NonCanonical as NC;
        let (version, body) = open_envelope(KIND_SESSION, blob)?;
        let v2 = version == SESSION_VERSION;
        let mut r = Rd(body);
        let initiator = match r.u8()? {
            0 => true,
            1 => false,
            _ => return Err(NC),
        };
        let acknowledged = r.flag()?;
        if !initiator && !acknowledged {
            return Err(NC);
        }
        let local = r.edkey()?;
        let remote = r.edkey()?;
        let clen = usize::from(r.u16()?);
        if clen > MAX_CONTEXT {
            return Err(NC);
        }
        let context = r.take(clen)?.to_vec();
        let base = r.xkey()?;
        let spk_id = r.u32()?;
        let opk_id = if r.flag()? { Some(r.u32()?) } else { None };
        let mut limits = [0u32; 4];
        for l in &mut limits {
            *l = r.u32()?;
            if !(1..=CEILING).contains(l) {
                return Err(NC);
            }
        }
        if limits[0] > limits[1] {
            return Err(NC);
        }
        let timer = (r.u32()?, r.u8()?, r.u32()?);
        if timer.1 > 1 || (timer.0 == 0 && timer.1 != 0) {
            return Err(NC);
        }
        let rk = r.a32()?;
        let mut dhs = r.a32()?;
        // Row 12, checked as the field is read (§2 rule 7; the position was a guess, the
        // library agrees).
        if v2 && !is_clamped(&dhs) {
            return Err(NC);
        }
        dhs = clamp(dhs);
        if !r.flag()? {
            return Err(NC);
        }
        let dhr = r.xkey()?;
        let send = if r.flag()? {
            Some((r.a32()?, r.u32()?))
        } else {
            None
        };
        let recv = if r.flag()? {
            Some((r.a32()?, r.u32()?))
        } else {
            None
        };
        let pn = r.u32()?;
        let received = r.u32()?;
        // Row 15a, checked after 17: the phase must be a reachable one.
        let unacked_initiator = initiator && !acknowledged;
        if recv.is_none() != unacked_initiator
            || (send.is_none() && recv.is_none())
            || (unacked_initiator && (pn != 0 || received != 0))
        {
            return Err(NC);
        }
        let n_old = r.u32()?;
        if n_old > limits[2] || (unacked_initiator && n_old != 0) {
            return Err(NC);
        }
        let mut old: Vec<K32> = vec![];
        for _ in 0..n_old {
            let k = r.xkey()?;
            if old.contains(&k) || k == dhr {
                return Err(NC);
            }
            old.push(k);
        }
        let n_skipped = r.u32()?;
        if n_skipped > limits[1] {
            return Err(NC);
        }
        let mut skipped: Vec<Skipped> = vec![];
        let mut last_age = u32::MAX;
        for _ in 0..n_skipped {
            let key = r.xkey()?;
            let n = r.u32()?;
            let stamp = r.u32()?;
            let stored = r.u64()?;
            let skipped_at = if v2 || stored == u64::MAX {
                stored
            } else {
                stored.saturating_sub(2 * MAX_CLOCK_SKEW)
            };
            let mk = r.a32()?;
            // "N = 2^32 − 1 (never used, §6.4) → NonCanonical", in both versions ("same layout");
            // checked with the entry's other rules once the whole entry is read (§2 rule 7; the
            // position was a guess, the library decided it).
            if n == u32::MAX {
                return Err(NC);
            }
            // Row 19: a key of the current chain lies behind its counter `Nr`.
            let current_ok = key == dhr && recv.is_some_and(|(_, nr)| n < nr);
            if (!current_ok && !old.contains(&key))
                || skipped.iter().any(|s| s.key == key && s.n == n)
            {
                return Err(NC);
            }
            let age = received.wrapping_sub(stamp);
            if age > last_age || age > limits[3] {
                return Err(NC);
            }
            last_age = age;
            skipped.push(Skipped {
                key,
                n,
                stamp,
                skipped_at,
                mk,
            });
        }
        r.end()?;
        Ok(MySession {
            initiator,
            acknowledged,
            local,
            remote,
            context,
            base,
            spk_id,
            opk_id,
            timer,
            r: Ratchet {
                rk,
                dhs,
                dhr: Some(dhr),
                send,
                recv,
                pn,
                old,
                skipped,
                received,
                limits,
            },
        })
    }
}

/// §4.3 one held signed prekey with its record of accepted first messages.
#[derive(Debug, Clone, PartialEq)]
struct MySpk {
    id: u32,
    created_at: u64,
    secret: K32,
    sig: [u8; 64],
    /// §3.6 ids of the OPK-less first messages accepted, sorted (big-endian byte strings).
    accepted: BTreeSet<Fmid>,
}

/// §4.3 responder store plus identity.
struct MyBob {
    id: Ident,
    next_signed_id: u32,
    next_one_time_id: u32,
    /// Oldest first; the last is the current one.
    signed: Vec<MySpk>,
    one_time: BTreeMap<u32, K32>,
}

impl MyBob {
    fn new(id: Ident) -> Self {
        MyBob {
            id,
            next_signed_id: 0,
            next_one_time_id: 0,
            signed: vec![],
            one_time: BTreeMap::new(),
        }
    }

    fn rotate_signed_prekey(&mut self, rng: &mut ChaCha20Rng, now: u64) {
        let id = self.next_signed_id;
        self.next_signed_id = id.wrapping_add(1);
        let secret = generate_secret(rng);
        let sig = self.id.sign(&signed_bytes(id, now, &xpub(&secret)));
        // A key pushed out takes its record of first messages with it.
        self.signed.retain(|s| s.id != id);
        self.signed.push(MySpk {
            id,
            created_at: now,
            secret,
            sig,
            accepted: BTreeSet::new(),
        });
        while self.signed.len() > MAX_SIGNED_PREKEYS {
            self.signed.remove(0);
        }
    }

    /// §4.3: refused as a whole (and, as guessed, before drawing anything) beyond 65 536 held keys.
    fn generate_one_time_prekeys(
        &mut self,
        rng: &mut ChaCha20Rng,
        n: usize,
    ) -> Result<Vec<u32>, E> {
        if self.one_time.len() + n > MAX_ONE_TIME_PREKEYS {
            return Err(E::TooLarge);
        }
        let mut ids = vec![];
        for _ in 0..n {
            let mut id = self.next_one_time_id;
            while self.one_time.contains_key(&id) {
                id = id.wrapping_add(1);
            }
            let secret = generate_secret(rng);
            self.one_time.insert(id, secret);
            self.next_one_time_id = id.wrapping_add(1);
            ids.push(id);
        }
        Ok(ids)
    }

    /// §4.3 `first_message_capacity`: what the current signed prekey can still accept.
    fn first_message_capacity(&self) -> usize {
        self.signed
            .last()
            .map_or(0, |s| MAX_FIRST_MESSAGES - s.accepted.len())
    }

    fn bundle(&self, one_time: Option<u32>) -> Vec<u8> {
        self.bundle_of(self.signed.len() - 1, one_time)
    }

    /// A bundle of the held signed prekey at `index` (oldest first); test helper to reach the
    /// older ones.
    fn bundle_of(&self, index: usize, one_time: Option<u32>) -> Vec<u8> {
        let spk = &self.signed[index];
        encode_bundle(&Bundle {
            ik: self.id.ik,
            spk_id: spk.id,
            created_at: spk.created_at,
            spk: xpub(&spk.secret),
            sig: spk.sig,
            opk: one_time.map(|i| (i, xpub(&self.one_time[&i]))),
        })
    }

    /// §7.3 with the replay rule of §4.3: step 5, right after X3DH (step 4) and before the
    /// context check (step 6).
    fn respond(&mut self, bytes: &[u8], context: &[u8]) -> Result<(MySession, Vec<u8>), E> {
        let (pre, m) = decode_message(bytes)?;
        let p = pre.ok_or(E::NotPreKeyMessage)?;
        let spk_index = self
            .signed
            .iter()
            .position(|s| s.id == p.spk_id)
            .ok_or(E::UnknownSignedPreKey(p.spk_id))?;
        let spk_secret = self.signed[spk_index].secret;
        let opk_secret = match p.opk_id {
            Some(id) => Some(*self.one_time.get(&id).ok_or(E::UnknownOneTimePreKey(id))?),
            None => None,
        };
        let ik_a = identity_x25519(&p.ik_a);
        let mut dhs = vec![
            dh(&spk_secret, &ik_a)?,
            dh(&self.id.xsecret, &p.base)?,
            dh(&spk_secret, &p.base)?,
        ];
        if let Some(opk) = opk_secret {
            dhs.push(dh(&opk, &p.base)?);
        }
        let fmid = first_message_id(&dhs[2]);
        if p.opk_id.is_none() {
            let record = &self.signed[spk_index].accepted;
            if record.contains(&fmid) {
                return Err(E::DuplicateMessage);
            }
            if record.len() >= MAX_FIRST_MESSAGES {
                return Err(E::SignedPreKeyFull(p.spk_id));
            }
        }
        let sk = x3dh_sk(&dhs);
        if context.len() > MAX_CONTEXT {
            return Err(E::TooLarge);
        }
        let mut s = MySession {
            initiator: false,
            acknowledged: true,
            local: self.id.ik,
            remote: p.ik_a,
            context: context.to_vec(),
            base: p.base,
            spk_id: p.spk_id,
            opk_id: p.opk_id,
            timer: (0, 0, 0),
            r: Ratchet::init_responder(&sk, &spk_secret),
        };
        let ad = s.ad();
        let pt = s.r.decrypt(&ad, &m)?;
        match p.opk_id {
            Some(id) => {
                self.one_time.remove(&id);
            }
            None => {
                self.signed[spk_index].accepted.insert(fmid);
            }
        }
        Ok((s, pt))
    }

    /// §8.2 body of version 2 (`accepted = true`) or version 1 without its seen list; a version-1
    /// body holds the secrets in an unclamped "as drawn" form (the same keys).
    fn store_body(&self, v2: bool) -> Vec<u8> {
        let mut b = vec![];
        b.extend_from_slice(&self.next_signed_id.to_be_bytes());
        b.extend_from_slice(&self.next_one_time_id.to_be_bytes());
        b.push(u8::try_from(self.signed.len()).unwrap());
        let as_stored = |k: &K32, i: u32| if v2 { *k } else { unclamped(k, i as u8) };
        for s in &self.signed {
            b.extend_from_slice(&s.id.to_be_bytes());
            b.extend_from_slice(&s.created_at.to_be_bytes());
            b.extend_from_slice(&as_stored(&s.secret, s.id));
            b.extend_from_slice(&s.sig);
            if v2 {
                b.extend_from_slice(&u16::try_from(s.accepted.len()).unwrap().to_be_bytes());
                for id in &s.accepted {
                    b.extend_from_slice(id);
                }
            }
        }
        b.extend_from_slice(&u32::try_from(self.one_time.len()).unwrap().to_be_bytes());
        for (id, secret) in &self.one_time {
            b.extend_from_slice(&id.to_be_bytes());
            b.extend_from_slice(&as_stored(secret, *id));
        }
        b
    }

    /// §8.2 version 2 (the version written).
    fn store_state(&self) -> Vec<u8> {
        envelope(KIND_STORE, &self.store_body(true))
    }

    /// §8.2 version 1 (test helper: what a version-1 library wrote), with the given seen list.
    fn store_state_v1(&self, seen: &[K32]) -> Vec<u8> {
        let mut b = self.store_body(false);
        b.extend_from_slice(&u32::try_from(seen.len()).unwrap().to_be_bytes());
        for k in seen {
            b.extend_from_slice(k);
        }
        envelope_v(KIND_STORE, STORE_VERSION_V1, &b)
    }

    /// §8.2, strictly, both versions; a version-1 seen list is migrated into the records and
    /// version-1 secrets are clamped (§8.0).
    fn load_store(id: Ident, blob: &[u8]) -> Result<Self, DecodeErr> {
        use DecodeErr::NonCanonical as NC;
        let (version, body) = open_envelope(KIND_STORE, blob)?;
        let v2 = version == STORE_VERSION;
        let mut r = Rd(body);
        let next_signed_id = r.u32()?;
        let next_one_time_id = r.u32()?;
        let n_signed = r.u8()?;
        if usize::from(n_signed) > MAX_SIGNED_PREKEYS {
            return Err(NC);
        }
        let mut signed: Vec<MySpk> = vec![];
        for _ in 0..n_signed {
            let spk_id = r.u32()?;
            let created_at = r.u64()?;
            let secret = r.a32()?;
            // §8.0: checked as the field is read (the position was a guess, the library
            // agrees: an unclamped secret in an entry cut inside its signature is NonCanonical).
            if v2 && !is_clamped(&secret) {
                return Err(NC);
            }
            let secret = clamp(secret);
            let sig: [u8; 64] = r.take(64)?.try_into().unwrap();
            // Duplicate id: after the signature, before the count.
            if signed.iter().any(|s| s.id == spk_id) {
                return Err(NC);
            }
            let mut accepted = BTreeSet::new();
            if v2 {
                let a = r.u16()?;
                if usize::from(a) > MAX_FIRST_MESSAGES {
                    return Err(NC);
                }
                let mut last: Option<Fmid> = None;
                for _ in 0..a {
                    let fmid: Fmid = r.take(16)?.try_into().unwrap();
                    if last.is_some_and(|l| fmid <= l) {
                        return Err(NC);
                    }
                    last = Some(fmid);
                    accepted.insert(fmid);
                }
            }
            signed.push(MySpk {
                id: spk_id,
                created_at,
                secret,
                sig,
                accepted,
            });
        }
        let n_one_time = r.u32()?;
        // Applied to version 1 too ("the same without the accepted counts") — a guess.
        if n_one_time as usize > MAX_ONE_TIME_PREKEYS {
            return Err(NC);
        }
        let mut one_time = BTreeMap::new();
        let mut last: Option<u32> = None;
        for _ in 0..n_one_time {
            let otk_id = r.u32()?;
            let secret = r.a32()?;
            // (Both this and the id order are NonCanonical, and a cut secret is Truncated either
            // way: their relative order cannot be observed.)
            if v2 && !is_clamped(&secret) {
                return Err(NC);
            }
            let secret = clamp(secret);
            if last.is_some_and(|l| otk_id <= l) {
                return Err(NC);
            }
            last = Some(otk_id);
            one_time.insert(otk_id, secret);
        }
        if !v2 {
            let b = r.u32()?;
            if b > V1_MAX_SEEN {
                return Err(NC);
            }
            let mut seen: Vec<K32> = vec![];
            for _ in 0..b {
                // §2.3, then (not in SPEC.md's text; from the brief and the library) a key
                // repeated byte for byte → NonCanonical. Other encodings of one key are not
                // duplicates: they give the same first-message id, and the record is a set.
                let k = r.xkey()?;
                if seen.contains(&k) {
                    return Err(NC);
                }
                seen.push(k);
            }
            // Migration: every base key under every held signed prekey, unless that DH is zero.
            for ek in &seen {
                for spk in &mut signed {
                    if let Ok(dh3) = dh(&spk.secret, ek) {
                        spk.accepted.insert(first_message_id(&dh3));
                    }
                }
            }
        }
        r.end()?;
        Ok(MyBob {
            id,
            next_signed_id,
            next_one_time_id,
            signed,
            one_time,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Harness: the same script runs against any mix of crate and independent parties
// ---------------------------------------------------------------------------------------------

/// A session of either implementation.
enum Party {
    Crate(Box<Session>),
    /// With the log of (ratchet key, N, MK) of every message sent, unless restored from state.
    Mine(Box<MySession>, Option<Vec<SentKey>>),
}

impl Party {
    fn is_crate(&self) -> bool {
        matches!(self, Party::Crate(_))
    }
    fn encrypt(&mut self, rng: &mut ChaCha20Rng, pt: &[u8]) -> Vec<u8> {
        match self {
            Party::Crate(s) => s.encrypt(rng, pt).unwrap(),
            Party::Mine(s, log) => {
                let (m, entry) = s.encrypt_logged(rng, pt).unwrap();
                if let Some(log) = log {
                    log.push(entry);
                }
                m
            }
        }
    }
    fn decrypt(&mut self, m: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Party::Crate(s) => s.decrypt(m).map_err(|e| format!("{e:?}")),
            Party::Mine(s, _) => s.decrypt(m).map_err(|e| format!("{e:?}")),
        }
    }
    fn state(&self) -> Vec<u8> {
        match self {
            Party::Crate(s) => s.to_bytes().unwrap().to_vec(),
            Party::Mine(s, _) => s.to_state(),
        }
    }
    /// The independent view of this party's state (parsing the crate's blob per §8.3).
    fn view(&self) -> MySession {
        match self {
            Party::Crate(s) => {
                let blob = s.to_bytes().unwrap().to_vec();
                let v = MySession::from_state(&blob).unwrap();
                assert_eq!(v.to_state(), blob, "§8.3 re-encoding differs");
                v
            }
            Party::Mine(s, _) => (**s).clone(),
        }
    }
    /// Persist and restore into the *other* implementation.
    fn swap_implementation(&mut self) {
        let blob = self.state();
        *self = if self.is_crate() {
            Party::Mine(Box::new(MySession::from_state(&blob).unwrap()), None)
        } else {
            Party::Crate(Box::new(Session::from_bytes(&blob).unwrap()))
        };
        assert_eq!(self.state(), blob);
    }
}

enum BobPre {
    Crate(Box<(IdentityKeyPair, PreKeyStore)>),
    Mine(Box<MyBob>),
}

impl BobPre {
    fn respond(&mut self, m: &[u8], ctx: &[u8]) -> Result<(Party, Vec<u8>), String> {
        match self {
            BobPre::Crate(b) => Session::respond(&b.0, &mut b.1, m, ctx)
                .map(|(s, pt)| (Party::Crate(Box::new(s)), pt))
                .map_err(|e| format!("{e:?}")),
            BobPre::Mine(bob) => bob
                .respond(m, ctx)
                .map(|(s, pt)| (Party::Mine(Box::new(s), Some(vec![])), pt))
                .map_err(|e| format!("{e:?}")),
        }
    }
    fn store_state(&self) -> Vec<u8> {
        match self {
            BobPre::Crate(b) => b.1.to_bytes().unwrap().to_vec(),
            BobPre::Mine(bob) => bob.store_state(),
        }
    }
    fn first_message_capacity(&self) -> usize {
        match self {
            BobPre::Crate(b) => b.1.first_message_capacity(),
            BobPre::Mine(bob) => bob.first_message_capacity(),
        }
    }
    fn rotate_signed_prekey(&mut self, rng: &mut ChaCha20Rng, now: u64) {
        match self {
            BobPre::Crate(b) => {
                b.1.rotate_signed_prekey(rng, &b.0, now);
            }
            BobPre::Mine(bob) => bob.rotate_signed_prekey(rng, now),
        }
    }
    /// Both implementations of the same store blob, for the identity with `seed`.
    fn both(seed: &K32, blob: &[u8]) -> [BobPre; 2] {
        [
            BobPre::Mine(Box::new(
                MyBob::load_store(Ident::new(*seed), blob).unwrap(),
            )),
            BobPre::Crate(Box::new((
                IdentityKeyPair::from_seed(seed),
                PreKeyStore::from_bytes(blob).unwrap(),
            ))),
        ]
    }
}

/// Transcript of everything observable; must be identical for every mix of implementations.
#[derive(Default, Debug, PartialEq)]
struct Transcript(Vec<(String, Vec<u8>)>);

impl Transcript {
    fn rec(&mut self, what: &str, bytes: &[u8]) {
        self.0.push((what.to_string(), bytes.to_vec()));
    }
}

struct World {
    rng: ChaCha20Rng,
    alice: Party,
    bob: Party,
    bob_pre: BobPre,
    t: Transcript,
    ctx: Vec<u8>,
}

const NOW: u64 = 1_700_000_000;

fn header(m: &[u8]) -> (bool, K32, u32, u32) {
    let (pre, msg) = decode_message(m).unwrap();
    (pre.is_some(), msg.key, msg.pn, msg.n)
}

/// Setup following the RNG consumption order of §1: Alice's identity, Bob's identity, Bob's signed
/// prekey, two one-time prekeys, Alice's initiate, then three first messages a0, a1, a2.
/// Bob responds to a1 (out of order), then decrypts a0 with `Session::decrypt`; a2 is returned
/// undelivered.
fn setup(
    seed: u8,
    crate_alice: bool,
    crate_bob: bool,
    with_opk: bool,
    ctx: &[u8],
) -> (World, Vec<u8>) {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let mut t = Transcript::default();
    let alice_crate_id;
    let alice_my_id;
    if crate_alice {
        let id = IdentityKeyPair::generate(&mut rng);
        t.rec("alice ik", &id.public().to_bytes());
        alice_crate_id = Some(id);
        alice_my_id = None;
    } else {
        let id = Ident::new(draw(&mut rng));
        t.rec("alice ik", &id.ik);
        alice_crate_id = None;
        alice_my_id = Some(id);
    }
    let mut bob_pre = if crate_bob {
        let id = IdentityKeyPair::generate(&mut rng);
        // Cross-check the identity derivation (§4.1) and the identity blob (§8.1).
        let mine = Ident::new(*id.seed());
        assert_eq!(mine.ik, id.public().to_bytes());
        assert_eq!(id.to_bytes().to_vec(), envelope(KIND_IDENTITY, &mine.seed));
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(&mut rng, &id, NOW);
        let otks = store.generate_one_time_prekeys(&mut rng, 2).unwrap();
        assert_eq!(otks.iter().map(|k| k.id).collect::<Vec<_>>(), [0, 1]);
        BobPre::Crate(Box::new((id, store)))
    } else {
        let mut bob = MyBob::new(Ident::new(draw(&mut rng)));
        bob.rotate_signed_prekey(&mut rng, NOW);
        assert_eq!(bob.generate_one_time_prekeys(&mut rng, 2).unwrap(), [0, 1]);
        BobPre::Mine(Box::new(bob))
    };
    t.rec("bob store", &bob_pre.store_state());
    let bundle = match &bob_pre {
        BobPre::Crate(b) => {
            b.1.bundle(&b.0, with_opk.then_some(1))
                .unwrap()
                .to_bytes()
                .to_vec()
        }
        BobPre::Mine(bob) => bob.bundle(with_opk.then_some(1)),
    };
    t.rec("bundle", &bundle);
    assert_eq!(bundle.len(), if with_opk { 178 } else { 142 });

    // Both decoders accept the bundle; the crate re-encodes it identically.
    let parsed = decode_bundle(&bundle).unwrap();
    verify_spk(
        &parsed.ik,
        parsed.spk_id,
        parsed.created_at,
        &parsed.spk,
        &parsed.sig,
    )
    .unwrap();
    let crate_bundle = PreKeyBundle::from_bytes(&bundle).unwrap();
    assert_eq!(crate_bundle.to_bytes().to_vec(), bundle);
    assert_eq!(crate_bundle.identity.to_bytes(), parsed.ik);
    assert_eq!(crate_bundle.signed_prekey.key.to_bytes(), parsed.spk);
    assert_eq!(crate_bundle.signed_prekey.signature, parsed.sig);
    assert_eq!(
        crate_bundle.one_time_prekey.as_ref().map(|k| k.id),
        parsed.opk.map(|k| k.0)
    );

    // A bundle with a damaged signature is rejected before any key is generated (§4.4 step 1).
    let mut bad = bundle.clone();
    bad[77] ^= 0x01;
    let before = rng.clone();
    if crate_alice {
        let r = Session::initiate(
            &mut rng,
            alice_crate_id.as_ref().unwrap(),
            &PreKeyBundle::from_bytes(&bad).unwrap(),
            ctx,
        );
        assert!(matches!(r, Err(xchat_protocol::Error::InvalidSignature)));
    } else {
        let r = MySession::initiate(&mut rng, alice_my_id.as_ref().unwrap(), &bad, ctx);
        assert_eq!(r.unwrap_err(), E::InvalidSignature);
    }
    assert_eq!(rng.clone().next_u64(), before.clone().next_u64());

    let mut alice = if crate_alice {
        Party::Crate(Box::new(
            Session::initiate(
                &mut rng,
                alice_crate_id.as_ref().unwrap(),
                &crate_bundle,
                ctx,
            )
            .unwrap(),
        ))
    } else {
        Party::Mine(
            Box::new(
                MySession::initiate(&mut rng, alice_my_id.as_ref().unwrap(), &bundle, ctx).unwrap(),
            ),
            Some(vec![]),
        )
    };
    t.rec("alice state", &alice.state());

    let a: Vec<Vec<u8>> = (0..3u8)
        .map(|i| alice.encrypt(&mut rng, &[b'a', i]))
        .collect();
    for (i, m) in a.iter().enumerate() {
        t.rec("a", m);
        let (pre, key, pn, n) = header(m);
        assert!(pre);
        assert_eq!((pn, n), (0, u32::try_from(i).unwrap()));
        assert_eq!(key, header(&a[0]).1);
        assert_eq!(m.len(), 71 + if with_opk { 4 } else { 0 } + 58 + 2 + 16);
    }
    let (pre, _) = decode_message(&a[0]).unwrap();
    let pre = pre.unwrap();
    assert_eq!(pre.spk_id, 0);
    assert_eq!(pre.opk_id, with_opk.then_some(1));

    // Wrong context: authentication fails and nothing is consumed (§6.6, §7.3 step 8).
    let store_before = bob_pre.store_state();
    let err = bob_pre.respond(&a[1], b"some other context").err().unwrap();
    assert_eq!(err, "DecryptionFailed");
    assert_eq!(bob_pre.store_state(), store_before);
    // A normal message is not a first message.
    let normal = &a[1][71 + if with_opk { 4 } else { 0 }..];
    assert_eq!(
        bob_pre.respond(normal, ctx).err().unwrap(),
        "NotPreKeyMessage"
    );

    // Unknown prekey ids (§7.3 steps 3, 4).
    let mut unknown = a[1].clone();
    unknown[69] = 7;
    assert_eq!(
        bob_pre.respond(&unknown, ctx).err().unwrap(),
        "UnknownSignedPreKey(7)"
    );
    if with_opk {
        let mut unknown = a[1].clone();
        unknown[74] = 9;
        assert_eq!(
            bob_pre.respond(&unknown, ctx).err().unwrap(),
            "UnknownOneTimePreKey(9)"
        );
    }
    assert_eq!(bob_pre.store_state(), store_before);

    // §3.5: the prekey fields are in the AAD. The base key replaced by any of its seven torsion
    // variants gives the same DHs and SK, but not the same AAD: DecryptionFailed, nothing consumed.
    let base: K32 = a[1][34..66].try_into().unwrap();
    let torsion_variants: Vec<Vec<u8>> = (1..8)
        .map(|i| {
            let mut v = a[1].clone();
            v[34..66].copy_from_slice(&x25519_torsion_variant(&base, i));
            assert_ne!(v, a[1]);
            v
        })
        .collect();
    for v in &torsion_variants {
        assert_eq!(bob_pre.respond(v, ctx).err().unwrap(), "DecryptionFailed");
    }
    // Rewriting the flag (dropping the one-time prekey, or naming a held one) changes SK.
    let opk_len = if with_opk { 4 } else { 0 };
    let mut flag = a[1][..70].to_vec();
    flag.extend_from_slice(if with_opk {
        &[0][..]
    } else {
        &[1, 0, 0, 0, 0][..]
    });
    flag.extend_from_slice(&a[1][71 + opk_len..]);
    assert_eq!(
        bob_pre.respond(&flag, ctx).err().unwrap(),
        "DecryptionFailed"
    );
    // IK_A with a torsion component is refused at decode (§2.4).
    let mut ik_torsion = a[1].clone();
    let ik_a = VerifyingKey::from_bytes(&a[1][2..34].try_into().unwrap())
        .unwrap()
        .to_edwards();
    ik_torsion[2..34].copy_from_slice(&(ik_a + EIGHT_TORSION[1]).compress().to_bytes());
    assert_eq!(
        bob_pre.respond(&ik_torsion, ctx).err().unwrap(),
        "Decode(InvalidKey)"
    );
    assert_eq!(bob_pre.store_state(), store_before);

    let (mut bob, pt) = bob_pre.respond(&a[1], ctx).unwrap();
    assert_eq!(pt, [b'a', 1]);
    t.rec("bob state", &bob.state());
    t.rec("bob store", &bob_pre.store_state());
    // Replay of a first message: the OPK is gone, or its first-message id (§3.6) is recorded —
    // in any encoding of the base key.
    let replay_error = if with_opk {
        "UnknownOneTimePreKey(1)"
    } else {
        "DuplicateMessage"
    };
    let store_after = bob_pre.store_state();
    assert_eq!(bob_pre.respond(&a[1], ctx).err().unwrap(), replay_error);
    for v in &torsion_variants {
        assert_eq!(bob_pre.respond(v, ctx).err().unwrap(), replay_error);
    }
    assert_eq!(bob_pre.store_state(), store_after);
    // The earlier first message is a prekey message for the existing session (§7.4).
    assert_eq!(bob.decrypt(&a[0]).unwrap(), [b'a', 0]);
    assert_eq!(bob.decrypt(&a[0]).unwrap_err(), "DuplicateMessage");
    let bob_before = bob.state();
    // Its base key in another encoding is not this session's X3DH field.
    let mut other_encoding = a[2].clone();
    other_encoding[34..66].copy_from_slice(&x25519_torsion_variant(&base, 3));
    assert_eq!(bob.decrypt(&other_encoding).unwrap_err(), "SessionMismatch");
    // The embedded message alone does not authenticate as a normal message (§3.5).
    let stripped = &a[2][71 + opk_len..];
    assert_eq!(bob.decrypt(stripped).unwrap_err(), "DecryptionFailed");
    assert_eq!(bob.state(), bob_before);
    t.rec("bob state", &bob.state());

    (
        World {
            rng,
            alice,
            bob,
            bob_pre,
            t,
            ctx: ctx.to_vec(),
        },
        a[2].clone(),
    )
}

fn send(w: &mut World, from_alice: bool, pt: &[u8]) -> Vec<u8> {
    let p = if from_alice { &mut w.alice } else { &mut w.bob };
    let m = p.encrypt(&mut w.rng, pt);
    w.t.rec(if from_alice { "A>" } else { "B>" }, &m);
    w.t.rec("state", &p.state());
    m
}

fn recv(w: &mut World, to_alice: bool, m: &[u8], expect: Result<&[u8], &str>) {
    let p = if to_alice { &mut w.alice } else { &mut w.bob };
    let before = p.state();
    let got = p.decrypt(m);
    match (&got, expect) {
        (Ok(pt), Ok(e)) => assert_eq!(pt.as_slice(), e),
        (Err(err), Err(e)) => {
            assert_eq!(err, e);
            assert_eq!(p.state(), before, "failed decrypt changed state (§6.6)");
        }
        _ => panic!("decrypt: got {got:?}, expected {expect:?}"),
    }
    w.t.rec("recv", format!("{got:?}").as_bytes());
    w.t.rec("state", &p.state());
}

/// Checks that the two sides' states correspond: `sender` sent last, and `receiver` received
/// that message and everything before it on the same chain.
fn check_correspondence(sender: &Party, receiver: &Party) {
    let s = sender.view();
    let r = receiver.view();
    assert_eq!(s.local, r.remote);
    assert_eq!(s.remote, r.local);
    assert_eq!(s.context, r.context);
    assert_eq!(s.ad(), r.ad());
    assert_eq!(s.prefields(), r.prefields());
    assert_eq!(s.r.rk, r.r.rk, "root keys");
    assert_eq!(r.r.dhr, Some(xpub(&s.r.dhs)), "DHr = peer's ratchet public");
    assert_eq!(s.r.send, r.r.recv, "sending chain = peer's receiving chain");
    assert!(r.r.send.is_none(), "receiver's half-step is deferred");
    // Every key the receiver holds for a message is the sender's message key for it.
    if let Party::Mine(_, Some(log)) = sender {
        for k in &r.r.skipped {
            let sent = log.iter().find(|(key, n, _)| *key == k.key && *n == k.n);
            assert_eq!(sent.map(|e| e.2), Some(k.mk), "skipped key {}", k.n);
        }
    }
}

fn script(w: &mut World, a2: &[u8], swap: bool) {
    // Bob replies b0..b3 on his first sending chain (PN = 0).
    let b: Vec<_> = (0..4u8).map(|i| send(w, false, &[b'b', i])).collect();
    let bob_key0 = header(&b[0]).1;
    for (i, m) in b.iter().enumerate() {
        assert_eq!(header(m), (false, bob_key0, 0, u32::try_from(i).unwrap()));
    }
    // Alice receives b3, then b1, out of order.
    recv(w, true, &b[3], Ok(b"b\x03"));
    recv(w, true, &b[1], Ok(b"b\x01"));
    recv(w, true, &b[1], Err("DuplicateMessage"));
    // Acknowledged: Alice's ratchet turn, normal messages with PN = 3.
    let c0 = send(w, true, b"c0");
    let c1 = send(w, true, b"c1");
    let (pre, alice_key1, pn, n) = header(&c0);
    assert!(!pre);
    assert_eq!((pn, n), (3, 0));
    assert_ne!(alice_key1, header(a2).1);
    assert_eq!(header(&c1), (false, alice_key1, 3, 1));
    // Bob gets c1 first: derives the old-chain key for a2 (PN 3 − Nr 2) and c0's key.
    recv(w, false, &c1, Ok(b"c1"));
    check_correspondence(&w.alice, &w.bob);
    {
        let v = w.bob.view();
        assert_eq!(v.r.old, vec![header(a2).1]);
        assert_eq!(v.r.skipped.len(), 2);
        assert_eq!((v.r.skipped[0].key, v.r.skipped[0].n), (header(a2).1, 2));
        assert_eq!((v.r.skipped[1].key, v.r.skipped[1].n), (alice_key1, 0));
        assert_eq!(v.r.pn, 4);
        assert_eq!(v.r.received, 3);
    }
    // The late prekey message a2 (skipped across the turn) and c0.
    recv(w, false, a2, Ok(b"a\x02"));
    recv(w, false, a2, Err("DuplicateMessage"));
    recv(w, false, &c0, Ok(b"c0"));
    recv(w, false, &c0, Err("DuplicateMessage"));

    if swap {
        w.alice.swap_implementation();
        w.bob.swap_implementation();
        w.t.rec("swapped", &[]);
    }

    // Bob's turn: PN = 4.
    let d0 = send(w, false, b"d0");
    assert_eq!(header(&d0).2, 4);
    assert_eq!(header(&d0).3, 0);
    // A tampered message fails and changes nothing; the original still opens.
    let mut bad = d0.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    recv(w, true, &bad, Err("DecryptionFailed"));
    recv(w, true, &d0, Ok(b"d0"));
    check_correspondence(&w.bob, &w.alice);
    // Old-chain messages b0, b2 still open (skipped keys across the turn).
    recv(w, true, &b[2], Ok(b"b\x02"));
    recv(w, true, &b[0], Ok(b"b\x00"));
    recv(w, true, &b[0], Err("DuplicateMessage"));

    // Bob sends e0..e2 on the same chain; Alice gets only e0 before replying.
    let e: Vec<_> = (0..3u8).map(|i| send(w, false, &[b'e', i])).collect();
    recv(w, true, &e[0], Ok(b"e\x00"));
    let f0 = send(w, true, b"f0");
    assert_eq!(header(&f0).2, 2); // PN: c0, c1
    recv(w, false, &f0, Ok(b"f0"));
    check_correspondence(&w.alice, &w.bob);
    // Bob's next chain has PN = 4 (d0, e0..e2): Alice derives e1, e2 from the old chain.
    let g0 = send(w, false, b"g0");
    assert_eq!(header(&g0).2, 4);
    recv(w, true, &g0, Ok(b"g0"));
    check_correspondence(&w.bob, &w.alice);
    recv(w, true, &e[2], Ok(b"e\x02"));
    recv(w, true, &e[1], Ok(b"e\x01"));

    // Decode errors agree (§5.4) and leave state untouched.
    let h0 = send(w, true, b"h0");
    let before = w.bob.state();
    for bad in mutations(&h0) {
        let r = w.bob.decrypt(&bad);
        w.t.rec("mutation", format!("{r:?}").as_bytes());
        assert!(r.is_err());
        assert_eq!(w.bob.state(), before);
    }
    let ik_torsion = mutations(&h0).pop().unwrap();
    assert_eq!(
        w.bob.decrypt(&ik_torsion).unwrap_err(),
        "Decode(InvalidKey)"
    );
    // A prekey message with other X3DH fields is a mismatch (§7.4).
    let mut pre = encode_prefields(&w.bob.view().prefields());
    pre[66] ^= 1;
    pre.extend_from_slice(&h0);
    recv(w, false, &pre, Err("SessionMismatch"));
    recv(w, true, &pre, Err("SessionMismatch"));
    recv(w, false, &h0, Ok(b"h0"));

    // A longer exchange on the same chain with a larger plaintext.
    let big = vec![0x5Au8; 5000];
    let i0 = send(w, false, &big);
    assert_eq!(i0.len(), 58 + 5000 + 16);
    recv(w, true, &i0, Ok(&big));
    let empty = send(w, true, b"");
    recv(w, false, &empty, Ok(b""));
    check_correspondence(&w.alice, &w.bob);
    let ctx = w.ctx.clone();
    w.t.rec("ctx", &ctx);
    let store = w.bob_pre.store_state();
    w.t.rec("bob store", &store);
}

fn mutations(m: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![
        vec![],
        vec![0x02],
        vec![0x01],
        vec![0x01, 0x03],
        vec![0x01, 0x02],
    ];
    for len in [1, 2, 10, 33, 57, 58, 73] {
        out.push(m[..len].to_vec());
    }
    let mut v = m.to_vec();
    v[2 + 31] = 0x80; // non-canonical ratchet key
    out.push(v);
    let mut v = m.to_vec();
    v[2..34].copy_from_slice(&[0xFF; 32]);
    v[33] = 0x7F;
    out.push(v);
    let mut v = m.to_vec();
    v[2..34].copy_from_slice(&[0u8; 32]); // low-order point: NonContributory on use
    out.push(v);
    let mut v = m.to_vec();
    v[40] ^= 1; // N changed: wrong key or too far
    out.push(v);
    let mut v = m.to_vec();
    v[38..42].copy_from_slice(&u32::MAX.to_be_bytes());
    out.push(v);
    let mut v = m.to_vec();
    v[45] ^= 1; // seed
    out.push(v);
    // Prekey message forms: nested prekey type, truncated fields, bad flag, invalid IK.
    let mut nested = vec![0x01, 0x02];
    nested.extend_from_slice(&[0u8; 73]);
    out.push(nested);
    let mut p = vec![0x01, 0x02];
    p.extend_from_slice(&SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes());
    p.extend_from_slice(&[9u8; 32]);
    p.extend_from_slice(&[0, 0, 0, 0, 2]);
    out.push(p.clone());
    p.truncate(p.len() - 1);
    p.push(0);
    let mut nested = p.clone();
    nested.extend_from_slice(&[0x01, 0x02]);
    nested.extend_from_slice(&m[2..]);
    out.push(nested);
    let mut ik_bad = vec![0x01, 0x02];
    ik_bad.extend_from_slice(&[0u8; 32]); // y = 0: a point of order 4
    ik_bad.extend_from_slice(&[9u8; 32]);
    out.push(ik_bad);
    let mut ik_small = vec![0x01, 0x02];
    let mut ident = [0u8; 32];
    ident[0] = 1; // the neutral point: small order
    ik_small.extend_from_slice(&ident);
    ik_small.extend_from_slice(&[9u8; 32]);
    out.push(ik_small);
    // A valid identity plus an 8-torsion point: not in the prime-order subgroup (§2.4).
    let mut ik_torsion = vec![0x01, 0x02];
    let ik = SigningKey::from_bytes(&[7; 32])
        .verifying_key()
        .to_edwards();
    ik_torsion.extend_from_slice(&(ik + EIGHT_TORSION[7]).compress().to_bytes());
    ik_torsion.extend_from_slice(&m[2..34]);
    ik_torsion.extend_from_slice(&[0, 0, 0, 0, 0]);
    ik_torsion.extend_from_slice(m);
    out.push(ik_torsion);
    out
}

fn world_transcript(
    seed: u8,
    alice: bool,
    bob: bool,
    opk: bool,
    ctx: &[u8],
    swap: bool,
) -> Transcript {
    let (mut w, a2) = setup(seed, alice, bob, opk, ctx);
    script(&mut w, &a2, swap);
    w.t
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

const CTX: &[u8] = b"alice@example.org|bob@example.org";

/// Test 1: independent Alice → crate Bob, with and without a one-time prekey.
#[test]
fn independent_alice_to_crate_bob() {
    for opk in [true, false] {
        let (mut w, a2) = setup(11, false, true, opk, CTX);
        assert!(!w.alice.is_crate() && w.bob.is_crate());
        script(&mut w, &a2, false);
    }
}

/// Test 2: crate Alice → independent Bob, with and without a one-time prekey.
#[test]
fn crate_alice_to_independent_bob() {
    for opk in [true, false] {
        let (mut w, a2) = setup(12, true, false, opk, CTX);
        assert!(w.alice.is_crate() && !w.bob.is_crate());
        script(&mut w, &a2, false);
    }
}

/// Test 3: same seeded RNG stream ⇒ byte-identical bundles, messages, errors and states, whichever
/// implementation plays which side (uses the informative RNG order of §1).
#[test]
fn byte_identical_for_every_mix_of_implementations() {
    for (opk, ctx) in [
        (true, CTX),
        (false, CTX),
        (true, &b""[..]),
        (false, &b"x"[..]),
    ] {
        let reference = world_transcript(13, true, true, opk, ctx, false);
        assert!(reference.0.len() > 100);
        for (alice, bob) in [(false, false), (false, true), (true, false)] {
            let t = world_transcript(13, alice, bob, opk, ctx, false);
            assert_eq!(t.0.len(), reference.0.len());
            for (i, (x, y)) in t.0.iter().zip(&reference.0).enumerate() {
                assert_eq!(
                    x, y,
                    "step {i} differs (alice crate {alice}, bob crate {bob}, opk {opk})"
                );
            }
        }
    }
}

/// Test 4: persisted state: parse the crate's session blobs per §8.0/§8.3, check the correspondence
/// with the independent peer, and move sessions between implementations mid-conversation.
#[test]
fn state_blobs_parse_and_cross_load() {
    // Crate Bob, independent Alice: parse Bob's blob after several turns.
    let (mut w, a2) = setup(14, false, true, true, CTX);
    let b0 = send(&mut w, false, b"b0");
    let b1 = send(&mut w, false, b"b1");
    recv(&mut w, true, &b1, Ok(b"b1"));
    // Crate Bob's sending chain = my receiving chain; b0's key is held by me.
    check_correspondence(&w.bob, &w.alice);
    let alice_view = w.alice.view();
    assert_eq!(alice_view.r.skipped.len(), 1);
    let blob = w.bob.state();
    assert_eq!(blob[0], KIND_SESSION);
    assert_eq!(blob[1], SESSION_VERSION);
    // §8.0: the stored ratchet secret is clamped.
    assert!(is_clamped(&MySession::from_state(&blob).unwrap().r.dhs));
    let check = Sha256::digest(&blob[..blob.len() - 16]);
    assert_eq!(blob[blob.len() - 16..], check[..16]);
    let bob_view = MySession::from_state(&blob).unwrap();
    assert!(!bob_view.initiator && bob_view.acknowledged);
    assert_eq!(bob_view.r.send.unwrap().1, 2);
    assert_eq!(bob_view.r.recv.unwrap().1, 2); // a0, a1 received (a2 still pending)
    assert_eq!(bob_view.r.received, 2);
    assert_eq!(bob_view.r.pn, 0);
    assert_eq!(bob_view.r.limits, DEFAULT_LIMITS);
    assert_eq!(bob_view.context, CTX);
    assert_eq!(bob_view.opk_id, Some(1));
    // Corrupting any byte is detected.
    let mut bad = blob.clone();
    bad[40] ^= 1;
    assert_eq!(
        MySession::from_state(&bad).unwrap_err(),
        DecodeErr::ChecksumMismatch
    );
    assert!(matches!(
        Session::from_bytes(&bad),
        Err(xchat_protocol::DecodeError::ChecksumMismatch)
    ));
    recv(&mut w, true, &b0, Ok(b"b0"));

    // Alice replies; crate Bob's view after receipt: deferred half-step, PN = Ns.
    let c0 = send(&mut w, true, b"c0");
    recv(&mut w, false, &c0, Ok(b"c0"));
    check_correspondence(&w.alice, &w.bob);
    let v = w.bob.view();
    assert_eq!(v.r.pn, 2);
    assert!(v.r.send.is_none());
    assert_eq!(v.r.old.len(), 1);
    assert_eq!(v.r.skipped.len(), 1); // a2's key from the old chain
    assert_eq!(v.r.skipped[0].n, 2);
    assert_eq!(v.r.skipped[0].stamp, 3);

    // Crate Alice, independent Bob: parse Alice's blob (initiator, before and after the ack).
    let (mut w2, _) = setup(15, true, false, false, CTX);
    let v = w2.alice.view();
    assert!(v.initiator && !v.acknowledged);
    assert_eq!(v.r.send.unwrap().1, 3);
    assert!(v.r.recv.is_none());
    assert_eq!(v.opk_id, None);
    let m = send(&mut w2, false, b"x");
    recv(&mut w2, true, &m, Ok(b"x"));
    check_correspondence(&w2.bob, &w2.alice);
    let v = w2.alice.view();
    assert!(v.acknowledged);
    assert_eq!(v.r.pn, 3);

    // Sessions moved between implementations mid-conversation keep the identical transcript.
    for (alice, bob) in [(true, true), (false, false), (true, false), (false, true)] {
        let reference = world_transcript(16, true, true, true, CTX, false);
        let swapped = world_transcript(16, alice, bob, true, CTX, true);
        let strip =
            |t: Transcript| -> Vec<_> { t.0.into_iter().filter(|(w, _)| w != "swapped").collect() };
        assert_eq!(strip(swapped), strip(reference));
    }
    recv(&mut w, false, &a2, Ok(b"a\x02"));
}

/// Test 5: without and with a one-time prekey, empty and non-empty context; mismatched contexts fail.
#[test]
fn one_time_prekey_and_context_variants() {
    for opk in [false, true] {
        for ctx in [&b""[..], CTX, &[0xAB; 1024][..]] {
            for (alice, bob) in [(false, true), (true, false)] {
                let (mut w, a2) = setup(17, alice, bob, opk, ctx);
                let v = w.bob.view();
                assert_eq!(v.context, ctx);
                assert_eq!(v.opk_id, opk.then_some(1));
                let mut expected_ad = w.alice.view().local.to_vec();
                expected_ad.extend_from_slice(&v.local);
                expected_ad.extend_from_slice(&u16::try_from(ctx.len()).unwrap().to_be_bytes());
                expected_ad.extend_from_slice(ctx);
                assert_eq!(v.ad(), expected_ad);
                // §3.5 literally: a2 (N = 2, sealed by the independent Alice) opens under
                // AD ‖ prekey fields ‖ prefix, and not under the old AD ‖ prefix.
                if let Party::Mine(_, Some(log)) = &w.alice {
                    let (_, m) = decode_message(&a2).unwrap();
                    let split = 71 + if opk { 4 } else { 0 };
                    assert_eq!(m.prekey_fields, a2[..split]);
                    let mk = log.iter().find(|e| e.0 == m.key && e.1 == 2).unwrap().2;
                    let aad = [&expected_ad[..], &a2[..split + 58]].concat();
                    assert_eq!(open(&mk, &m.seed, &aad, &m.ct).unwrap(), b"a\x02");
                    let old_aad = [&expected_ad[..], &m.prefix].concat();
                    assert_eq!(
                        open(&mk, &m.seed, &old_aad, &m.ct),
                        Err(E::DecryptionFailed)
                    );
                }
                recv(&mut w, false, &a2, Ok(b"a\x02"));
                let m = send(&mut w, false, b"reply");
                recv(&mut w, true, &m, Ok(b"reply"));
            }
        }
    }
    // A correctly signed low-order SPK: X3DH fails with NonContributory in both (§4.4).
    let mut rng = ChaCha20Rng::from_seed([24; 32]);
    let bob = Ident::new(draw(&mut rng));
    let spk = [0u8; 32];
    let bundle = encode_bundle(&Bundle {
        ik: bob.ik,
        spk_id: 0,
        created_at: NOW,
        spk,
        sig: bob.sign(&signed_bytes(0, NOW, &spk)),
        opk: None,
    });
    let alice = IdentityKeyPair::generate(&mut rng);
    let crate_bundle = PreKeyBundle::from_bytes(&bundle).unwrap();
    assert!(matches!(
        Session::initiate(&mut rng, &alice, &crate_bundle, CTX),
        Err(xchat_protocol::Error::NonContributory)
    ));
    let my_alice = Ident::new(*alice.seed());
    assert_eq!(
        MySession::initiate(&mut rng, &my_alice, &bundle, CTX).unwrap_err(),
        E::NonContributory
    );

    // Context over 1024 bytes is refused by both.
    let mut rng = ChaCha20Rng::from_seed([18; 32]);
    let mut bob = MyBob::new(Ident::new(draw(&mut rng)));
    bob.rotate_signed_prekey(&mut rng, NOW);
    let bundle = bob.bundle(None);
    let alice = IdentityKeyPair::generate(&mut rng);
    let long = [0u8; 1025];
    assert!(matches!(
        Session::initiate(
            &mut rng,
            &alice,
            &PreKeyBundle::from_bytes(&bundle).unwrap(),
            &long
        ),
        Err(xchat_protocol::Error::TooLarge)
    ));
    let my_alice = Ident::new(draw(&mut rng));
    assert_eq!(
        MySession::initiate(&mut rng, &my_alice, &bundle, &long).unwrap_err(),
        E::TooLarge
    );
}

/// Bundle decoding (§5.1, §2) agrees between the implementations on malformed input.
#[test]
fn bundle_decode_errors_agree() {
    let mut rng = ChaCha20Rng::from_seed([19; 32]);
    let mut bob = MyBob::new(Ident::new(draw(&mut rng)));
    bob.rotate_signed_prekey(&mut rng, NOW);
    bob.generate_one_time_prekeys(&mut rng, 1).unwrap();
    for b in [bob.bundle(None), bob.bundle(Some(0))] {
        let mut cases = vec![];
        for len in 0..b.len() {
            cases.push(b[..len].to_vec());
        }
        let mut v = b.clone();
        v.push(0);
        cases.push(v);
        let mut v = b.clone();
        v[0] = 2;
        cases.push(v);
        let mut v = b.clone();
        v[141] = 2;
        cases.push(v);
        let mut v = b.clone();
        v[76] |= 0x80;
        cases.push(v);
        let mut v = b.clone();
        v[1..33].copy_from_slice(&[0u8; 32]);
        cases.push(v);
        let mut v = b.clone();
        v[1..33].copy_from_slice(&[0xFF; 32]);
        cases.push(v);
        let mut v = b.clone();
        v[77] ^= 1; // signature is not checked at decode
        cases.push(v);
        // §2.4 edge cases for IK_B.
        let ik: K32 = b[1..33].try_into().unwrap();
        let ik_point = VerifyingKey::from_bytes(&ik).unwrap().to_edwards();
        let mut y_is_p_plus_1 = [0xFFu8; 32];
        y_is_p_plus_1[0] = 0xEE;
        y_is_p_plus_1[31] = 0x7F;
        let mut x0_sign1 = [0u8; 32];
        x0_sign1[0] = 1;
        x0_sign1[31] = 0x80;
        let mut keys = vec![
            (y_is_p_plus_1, false),
            (x0_sign1, false),
            // −IK_B is another prime-order point: a different, valid identity.
            ((-ik_point).compress().to_bytes(), true),
        ];
        // A torsion component (of every order 2, 4, 8) is refused since rule 4's subgroup check.
        for t in &EIGHT_TORSION[1..] {
            keys.push(((ik_point + t).compress().to_bytes(), false));
        }
        for (key, accept) in keys {
            let mut v = b.clone();
            v[1..33].copy_from_slice(&key);
            assert_eq!(decode_bundle(&v).is_ok(), accept);
            cases.push(v);
        }
        // §2.3 edge cases for SPK_B: p − 1 accepted, p rejected.
        for (last, accept) in [(0xEC, true), (0xED, false)] {
            let mut v = b.clone();
            v[45..77].copy_from_slice(&[0xFF; 32]);
            v[45] = last;
            v[76] = 0x7F;
            assert_eq!(decode_bundle(&v).is_ok(), accept);
            cases.push(v);
        }
        if b.len() == 178 {
            let mut v = b.clone();
            v[177] = 0xFF;
            cases.push(v);
            // A torsion variant of OPK_B still decodes (§2.3 only); `initiate` refuses it (§4.4).
            let opk: K32 = b[146..178].try_into().unwrap();
            let mut v = b.clone();
            v[146..178].copy_from_slice(&x25519_torsion_variant(&opk, 1));
            assert!(decode_bundle(&v).is_ok());
            cases.push(v);
        }
        for c in cases {
            let mine = decode_bundle(&c).map(|_| ()).map_err(|e| format!("{e:?}"));
            let theirs = PreKeyBundle::from_bytes(&c)
                .map(|_| ())
                .map_err(|e| format!("{e:?}"));
            assert_eq!(mine, theirs, "bundle {}", hex::encode(&c));
        }
    }
}

/// One receiver implemented twice from the same state: the crate's session and ours must return
/// the same result and serialize to the same bytes after every step.
struct Twin {
    mine: MySession,
    theirs: Session,
}

impl Twin {
    fn new(s: &MySession) -> Self {
        Twin {
            mine: s.clone(),
            theirs: Session::from_bytes(&s.to_state()).unwrap(),
        }
    }
    fn same(&self) {
        assert_eq!(self.mine.to_state(), self.theirs.to_bytes().unwrap().to_vec());
    }
    fn recv(&mut self, m: &[u8]) -> Result<Vec<u8>, String> {
        let a = self.mine.decrypt(m).map_err(|e| format!("{e:?}"));
        let b = self.theirs.decrypt(m).map_err(|e| format!("{e:?}"));
        assert_eq!(a, b);
        self.same();
        a
    }
    fn send(&mut self, rng: &mut ChaCha20Rng, pt: &[u8]) -> Vec<u8> {
        let mut rng2 = rng.clone();
        let a = self.mine.encrypt_logged(rng, pt).unwrap().0;
        let b = self.theirs.encrypt(&mut rng2, pt).unwrap();
        assert_eq!(a, b);
        assert_eq!(rng.clone().next_u64(), rng2.next_u64());
        self.same();
        a
    }
}

fn ok(pt: &[u8]) -> Result<Vec<u8>, String> {
    Ok(pt.to_vec())
}

fn err(e: &str) -> Result<Vec<u8>, String> {
    Err(e.to_string())
}

/// Test 6: limits (§6.4) and the decrypt paths of §6.5 under them: skip bound, count cap, age-based
/// deletion, old-chain eviction, late messages of evicted chains, a second new ratchet key while
/// our half-step is deferred (D2), and trimming on a limits change.
#[test]
fn limits_and_eviction_match() {
    let (w, _) = setup(21, false, false, true, CTX);
    let mut rng = w.rng;
    let (Party::Mine(alice, _), Party::Mine(bob, _)) = (w.alice, w.bob) else {
        panic!("independent parties expected");
    };
    let mut alice = *alice;
    let mut bob = *bob;
    // Alice: max_skip 3, max_skipped_keys 4, max_old_chains 1, max_skipped_key_age 5.
    alice.set_limits([3, 4, 1, 5]);
    let mut a = Twin::new(&alice);
    let mut bob_rng = ChaCha20Rng::from_seed([22; 32]);
    let mut bob_send =
        |bob: &mut MySession, pt: &[u8]| bob.encrypt_logged(&mut bob_rng, pt).unwrap().0;

    let b: Vec<_> = (0..14u8).map(|i| bob_send(&mut bob, &[i])).collect();
    assert_eq!(a.recv(&b[4]), err("TooFarInFuture")); // 4 − 0 > 3
    assert_eq!(a.recv(&b[3]), ok(&[3])); // keeps 0, 1, 2 (stamp 1)
    assert_eq!(a.recv(&b[7]), ok(&[7])); // keeps 4, 5, 6 (stamp 2); count cap drops 0, 1
    assert_eq!(
        a.mine.r.skipped.iter().map(|s| s.n).collect::<Vec<_>>(),
        [2, 4, 5, 6]
    );
    assert_eq!(a.recv(&b[0]), err("DuplicateMessage"));
    assert_eq!(a.recv(&b[2]), ok(&[2])); // received = 3
    for (i, m) in (8u8..).zip(&b[8..12]) {
        assert_eq!(a.recv(m), ok(&[i])); // received = 4..=7
    }
    assert_eq!(a.mine.r.skipped.len(), 3); // age 5: still kept
    assert_eq!(a.recv(&b[12]), ok(&[12])); // received = 8, age 6 > 5: dropped
    assert!(a.mine.r.skipped.is_empty());
    assert_eq!(a.recv(&b[5]), err("DuplicateMessage"));

    // Ratchet turns; b13 stays undelivered. Bob's next chain has PN = 14.
    let r0 = a.send(&mut rng, b"r0");
    assert_eq!(bob.decrypt(&r0).unwrap(), b"r0");
    let c: Vec<_> = (0..4u8).map(|i| bob_send(&mut bob, &[b'c', i])).collect();
    assert_eq!(header(&c[0]).2, 14);
    assert_eq!(a.recv(&c[3]), err("TooFarInFuture")); // old gap 1 + N 3 > 3
    assert_eq!(a.recv(&c[2]), ok(b"c\x02")); // keeps b13 (old chain), c0, c1
    assert_eq!(a.mine.r.skipped.len(), 3);
    let r1 = a.send(&mut rng, b"r1");
    assert_eq!(bob.decrypt(&r1).unwrap(), b"r1");
    let d0 = bob_send(&mut bob, b"d0");
    assert_eq!(header(&d0).2, 4);
    // old = [b-key, c-key] exceeds 1: the b chain and b13's key are deleted; c3's key is kept.
    assert_eq!(a.recv(&d0), ok(b"d0"));
    assert_eq!(a.mine.r.old, vec![header(&c[0]).1]);
    assert_eq!(
        a.mine.r.skipped.iter().map(|s| s.n).collect::<Vec<_>>(),
        [0, 1, 3]
    );
    // b13's ratchet key has left `old`: it looks like a new key while our half-step is deferred.
    assert_eq!(a.recv(&b[13]), err("DecryptionFailed"));
    assert_eq!(a.recv(&c[0]), ok(b"c\x00"));
    assert_eq!(a.recv(&c[0]), err("DuplicateMessage"));
    assert_eq!(a.recv(&c[3]), ok(b"c\x03"));

    // A second new ratchet key from a forked (restored-from-backup) Bob: rejected (§6.5 D2).
    let r2 = a.send(&mut rng, b"r2");
    let mut fork = bob.clone();
    assert_eq!(bob.decrypt(&r2).unwrap(), b"r2");
    assert_eq!(fork.decrypt(&r2).unwrap(), b"r2");
    let e0 = bob_send(&mut bob, b"e0");
    let _ = bob_send(&mut bob, b"e1");
    let f0 = bob_send(&mut fork, b"f0");
    assert_ne!(header(&e0).1, header(&f0).1);
    assert_eq!(a.recv(&e0), ok(b"e0"));
    assert_eq!(a.recv(&f0), err("DecryptionFailed"));

    // Trimming on a limits change (§6.4): keep age but shrink to one key.
    let r3 = a.send(&mut rng, b"r3");
    assert_eq!(bob.decrypt(&r3).unwrap(), b"r3");
    let g: Vec<_> = (0..4u8).map(|i| bob_send(&mut bob, &[b'g', i])).collect();
    assert_eq!(a.recv(&g[3]), err("TooFarInFuture")); // old gap 1 + N 3 > 3
    assert_eq!(a.recv(&g[2]), ok(b"g\x02")); // keeps e1 (old chain), g0, g1
    assert_eq!(a.mine.r.skipped.len(), 3);
    assert_eq!(a.mine.r.old, vec![header(&e0).1]);
    a.mine.set_limits([1, 1, 1, 1]);
    a.theirs
        .set_limits(xchat_protocol::Limits {
            max_skip: 1,
            max_skipped_keys: 1,
            max_old_chains: 1,
            max_skipped_key_age: 1,
        })
        .unwrap();
    a.same();
    assert_eq!(a.mine.r.skipped.len(), 1);
    assert_eq!(a.mine.r.skipped[0].n, 1);
    assert_eq!(a.recv(&g[1]), ok(b"g\x01"));
    assert_eq!(a.recv(&g[0]), err("DuplicateMessage"));
    assert_eq!(a.recv(&g[3]), ok(b"g\x03"));
    assert_eq!(a.recv(&e0), err("DuplicateMessage")); // e-key still in `old`
}

/// Test 7: state decoding (§8.0, §8.3) agrees on every rule: the crate and the independent
/// decoder give the same result for valid and invalid session blobs, and that result is the one
/// SPEC.md gives.
#[test]
fn session_state_decode_rules_agree() {
    // A rich state: initiator, acknowledged, one old chain, skipped keys on two chains.
    let (mut w, _) = setup(23, false, false, true, CTX);
    // An unacknowledged initiator (row 15a): Alice of another world, before any reply.
    let (w_unacked, _) = setup(25, true, false, false, CTX);
    let unacked = w_unacked.alice.view();
    assert!(unacked.initiator && !unacked.acknowledged);
    assert!(unacked.r.recv.is_none() && unacked.r.send.is_some());
    let b: Vec<_> = (0..3u8).map(|i| send(&mut w, false, &[i])).collect();
    recv(&mut w, true, &b[2], Ok(&[2]));
    let r = send(&mut w, true, b"r");
    recv(&mut w, false, &r, Ok(b"r"));
    let c: Vec<_> = (0..3u8).map(|i| send(&mut w, false, &[i])).collect();
    recv(&mut w, true, &c[2], Ok(&[2]));
    let base = w.alice.view();
    assert_eq!(base.r.old.len(), 1);
    assert_eq!(base.r.skipped.len(), 4);
    // [(old key, 0), (old key, 1), (DHr, 0), (DHr, 1)] with Nr = 3; deferred half-step.
    assert_eq!(base.r.skipped[3].key, base.r.dhr.unwrap());
    assert_eq!((base.r.skipped[3].n, base.r.recv.unwrap().1), (1, 3));
    assert!(base.r.send.is_none());

    const OK: Result<(), &str> = Ok(());
    const NC: Result<(), &str> = Err("NonCanonical");
    const IK: Result<(), &str> = Err("InvalidKey");
    let mut cases: Vec<(&str, Vec<u8>, Result<(), &str>)> = vec![
        ("valid", base.to_state(), OK),
        ("valid unacked", unacked.to_state(), OK),
    ];
    let mut edit = |name, from: &MySession, expect, f: &dyn Fn(&mut MySession)| {
        let mut s = from.clone();
        f(&mut s);
        cases.push((name, s.to_state(), expect));
    };
    edit("max_skip 0", &base, NC, &|s| s.r.limits[0] = 0);
    edit("age over ceiling", &base, NC, &|s| {
        s.r.limits[3] = CEILING + 1
    });
    edit("max_skip > max_skipped_keys", &base, NC, &|s| {
        s.r.limits[0] = 2001
    });
    edit("limits at ceiling", &base, OK, &|s| {
        s.r.limits = [CEILING; 4]
    });
    edit("unknown skipped key", &base, NC, &|s| {
        s.r.skipped[0].key = [9; 32]
    });
    edit("duplicate skipped", &base, NC, &|s| {
        let e = s.r.skipped[3].clone();
        s.r.skipped.push(e);
    });
    // Row 19: a skipped key of the current chain must lie behind Nr = 3.
    edit("current-chain skipped N = Nr − 1", &base, OK, &|s| {
        s.r.skipped[3].n = 2
    });
    edit("current-chain skipped N = Nr", &base, NC, &|s| {
        s.r.skipped[3].n = 3
    });
    edit("current-chain skipped N > Nr", &base, NC, &|s| {
        s.r.skipped[3].n = 70
    });
    edit("current-chain skipped N = 2^32 − 1", &base, NC, &|s| {
        s.r.skipped[3].n = u32::MAX
    });
    // ... while an old chain has no counter left to compare with.
    edit("old-chain skipped N large", &base, OK, &|s| {
        s.r.skipped[1].n = 70_000
    });
    edit("ages increasing", &base, NC, &|s| {
        s.r.skipped[0].stamp = s.r.received
    });
    edit("age too old", &base, NC, &|s| {
        for e in &mut s.r.skipped {
            e.stamp = s.r.received.wrapping_sub(10_001);
        }
    });
    edit("age at limit", &base, OK, &|s| {
        for e in &mut s.r.skipped {
            e.stamp = s.r.received.wrapping_sub(10_000);
        }
    });
    edit("old = DHr", &base, NC, &|s| s.r.old.push(s.r.dhr.unwrap()));
    edit("old duplicate", &base, NC, &|s| s.r.old.push(s.r.old[0]));
    edit("old over limit", &base, NC, &|s| s.r.limits[2] = 0);
    edit("old count", &base, NC, &|s| {
        s.r.limits[2] = 1;
        s.r.old.insert(0, [5; 32]);
    });
    edit("responder not acknowledged", &base, NC, &|s| {
        s.initiator = false;
        s.acknowledged = false;
    });
    edit("responder", &base, OK, &|s| s.initiator = false);
    edit("context 1024", &base, OK, &|s| s.context = vec![1; 1024]);
    edit("context 1025", &base, NC, &|s| s.context = vec![1; 1025]);
    edit("no DHr", &base, NC, &|s| s.r.dhr = None);
    edit("DHr not canonical", &base, IK, &|s| {
        s.r.dhr = Some([0xFF; 32])
    });
    edit("no opk", &base, OK, &|s| s.opk_id = None);
    edit("bad local identity", &base, IK, &|s| s.local = [0; 32]);
    edit("small-order remote identity", &base, IK, &|s| {
        s.remote = [0; 32];
        s.remote[0] = 1;
    });
    // §2.4: identities with a torsion component.
    edit("torsion local identity", &base, IK, &|s| {
        let p = VerifyingKey::from_bytes(&s.local).unwrap().to_edwards();
        s.local = (p + EIGHT_TORSION[2]).compress().to_bytes();
    });
    edit("torsion remote identity", &base, IK, &|s| {
        let p = VerifyingKey::from_bytes(&s.remote).unwrap().to_edwards();
        s.remote = (p + EIGHT_TORSION[4]).compress().to_bytes();
    });
    edit("bad base key", &base, IK, &|s| s.base[31] = 0x80);
    // A torsion variant of a base key is not checked in state (§8.3 row 7 is §2.3 only).
    edit("torsion base key", &base, OK, &|s| {
        s.base = x25519_torsion_variant(&s.base, 1)
    });
    // Row 15a: the phase.
    edit("initiator not acknowledged", &base, NC, &|s| {
        s.acknowledged = false
    });
    edit("no recv (nor send)", &base, NC, &|s| s.r.recv = None);
    edit("no recv, with send", &base, NC, &|s| {
        s.r.recv = None;
        s.r.send = Some(([3; 32], 0));
    });
    edit("responder without recv", &base, NC, &|s| {
        s.initiator = false;
        s.r.recv = None;
        s.r.send = Some(([3; 32], 0));
    });
    edit("with send", &base, OK, &|s| s.r.send = Some(([3; 32], 7)));
    edit("unacked with recv", &unacked, NC, &|s| {
        s.r.recv = Some(([3; 32], 0))
    });
    edit("unacked without send", &unacked, NC, &|s| s.r.send = None);
    edit("unacked, acknowledged without recv", &unacked, NC, &|s| {
        s.acknowledged = true
    });
    edit("unacked, acknowledged with recv", &unacked, OK, &|s| {
        s.acknowledged = true;
        s.r.recv = Some(([3; 32], 0));
    });
    edit("unacked with an old chain", &unacked, NC, &|s| {
        s.r.old.push([5; 32])
    });
    edit("unacked with a skipped key of DHr", &unacked, NC, &|s| {
        s.r.skipped.push(Skipped {
            key: s.r.dhr.unwrap(),
            n: 0,
            stamp: s.r.received,
            skipped_at: u64::MAX,
            mk: [1; 32],
        });
    });
    // §8.0 / row 12: the ratchet secret must be stored clamped in version 2.
    edit("DHs unclamped (bit 0 set)", &base, NC, &|s| {
        s.r.dhs[0] |= 0x01
    });
    edit("DHs unclamped (bit 2 set)", &base, NC, &|s| {
        s.r.dhs[0] |= 0x04
    });
    edit("DHs unclamped (bit 6 of byte 31 clear)", &base, NC, &|s| {
        s.r.dhs[31] &= !0x40
    });
    edit("DHs unclamped (bit 7 of byte 31 set)", &base, NC, &|s| {
        s.r.dhs[31] |= 0x80
    });
    edit("unacked DHs unclamped", &unacked, NC, &|s| {
        s.r.dhs[0] |= 0x01
    });
    edit("DHs another clamped secret", &base, OK, &|s| {
        s.r.dhs = clamp([0x5A; 32])
    });
    // Row 19: N = 2^32 − 1 never has a key, on an old chain either (where no Nr bounds it).
    edit("old-chain skipped N = 2^32 − 1", &base, NC, &|s| {
        s.r.skipped[1].n = u32::MAX
    });
    edit("old-chain skipped N = 2^32 − 2", &base, OK, &|s| {
        s.r.skipped[1].n = u32::MAX - 1
    });
    // Row 19's u64 is a time, any value (2^64 − 1 = unknown); no order among entries.
    edit("skipped_at values", &base, OK, &|s| {
        for (e, t) in
            s.r.skipped
                .iter_mut()
                .zip([0, u64::MAX - 1, 1_700_000_000_000, 1])
        {
            e.skipped_at = t;
        }
    });
    edit("unacked with a PN", &unacked, NC, &|s| s.r.pn = 9);
    edit("unacked with a received count", &unacked, NC, &|s| {
        s.r.received = 7
    });

    let mut patch = |name, from: &MySession, expect, f: &dyn Fn(&mut Vec<u8>, usize)| {
        let blob = from.to_state();
        let mut b = blob[2..blob.len() - 16].to_vec();
        // Offset of the end of row 17 (`received`): rows 18 and 19 follow.
        let tail = 4 + 32 * from.r.old.len() + 4 + 80 * from.r.skipped.len();
        let end17 = b.len() - tail;
        f(&mut b, end17);
        cases.push((name, envelope(KIND_SESSION, &b), expect));
    };
    // Offset of row 12 (`DHs`) in `base`'s body: it has a one-time prekey id.
    let dhs_at = 2 + 64 + 2 + CTX.len() + 32 + 4 + 1 + 4 + 16 + 9 + 32;
    assert_eq!(base.to_state()[2 + dhs_at..2 + dhs_at + 32], base.r.dhs);
    // The clamping of row 12 is checked as the field is read (§2 rule 7; a guess, confirmed).
    patch(
        "DHs unclamped, body ends after row 12",
        &base,
        NC,
        &|b, _| {
            b[dhs_at] |= 0x01;
            b.truncate(dhs_at + 32);
        },
    );
    patch(
        "body ends after row 12",
        &base,
        Err("Truncated"),
        &|b, _| {
            b.truncate(dhs_at + 32);
        },
    );
    // Row 19's N = 2^32 − 1 is checked once the whole entry is read (§2 rule 7): cut inside
    // the entry it is Truncated, cut right after it NonCanonical.
    let first_entry = |end17: usize| end17 + 4 + 32 * base.r.old.len() + 4;
    for (cut, expect) in [(36, Err("Truncated")), (79, Err("Truncated")), (80, NC)] {
        let name: &str = format!("skipped N = 2^32 − 1, cut after {cut} bytes of its entry").leak();
        patch(name, &base, expect, &|b, end17| {
            let at = first_entry(end17);
            b[at + 32..at + 36].copy_from_slice(&u32::MAX.to_be_bytes());
            b.truncate(at + cut);
        });
    }
    patch(
        "skipped N = 2^32 − 2, cut after N",
        &base,
        Err("Truncated"),
        &|b, end17| {
            let at = first_entry(end17) + 32;
            b[at..at + 4].copy_from_slice(&(u32::MAX - 1).to_be_bytes());
            b.truncate(at + 4);
        },
    );
    patch("role 2", &base, NC, &|b, _| b[0] = 2);
    patch("ack flag 2", &base, NC, &|b, _| b[1] = 2);
    patch("trailing", &base, Err("TrailingBytes"), &|b, _| b.push(0));
    patch("truncated", &base, Err("Truncated"), &|b, _| {
        b.pop();
    });
    patch("empty body", &base, Err("Truncated"), &|b, _| b.clear());
    patch("opk flag 2", &base, NC, &|b, _| {
        let at = 2 + 64 + 2 + CTX.len() + 32 + 4;
        assert_eq!(b[at], 1);
        b[at] = 2;
    });
    patch(
        "truncated after row 17",
        &base,
        Err("Truncated"),
        &|b, end17| b.truncate(end17),
    );
    // Row 15a is checked once row 17 has been read: before rows 18 and 19 are looked at.
    patch(
        "bad phase, truncated after row 17",
        &base,
        NC,
        &|b, end17| {
            b[1] = 0; // initiator, not acknowledged, with `recv`
            b.truncate(end17);
        },
    );
    patch(
        "bad phase, truncated in row 17",
        &base,
        Err("Truncated"),
        &|b, end17| {
            b[1] = 0;
            b.truncate(end17 - 1);
        },
    );
    patch("bad phase, invalid old key", &base, NC, &|b, end17| {
        b[1] = 0;
        b[end17 + 4 + 31] = 0xFF; // the first old key's top bit
    });
    // "An unacknowledged initiator also has old count 0": decided at the count.
    patch(
        "unacked old count 1, invalid key",
        &unacked,
        NC,
        &|b, end17| {
            b.truncate(end17);
            b.extend_from_slice(&1u32.to_be_bytes());
            b.extend_from_slice(&[0xFF; 32]);
            b.extend_from_slice(&0u32.to_be_bytes());
        },
    );
    patch(
        "unacked old count 1, truncated",
        &unacked,
        NC,
        &|b, end17| {
            b.truncate(end17);
            b.extend_from_slice(&1u32.to_be_bytes());
        },
    );
    // "hence no skipped entries": follows from row 19's per-entry rule, so an entry cut short
    // is `Truncated` (§2 rule 7).
    patch(
        "unacked skipped count 1, truncated",
        &unacked,
        Err("Truncated"),
        &|b, _| {
            let n = b.len();
            b[n - 4..].copy_from_slice(&1u32.to_be_bytes());
        },
    );
    let valid = base.to_state();
    let mut raw = valid.clone();
    raw[0] = KIND_STORE;
    cases.push(("kind", raw, Err("UnknownType(17)")));
    for v in [0u8, 3, 0xFF] {
        let mut raw = valid.clone();
        raw[1] = v;
        let e: &str = format!("UnknownVersion({v})").leak();
        cases.push(("version", raw, Err(e)));
    }
    // Version 1 is read: the version byte is checked before the check, which then fails.
    let mut raw = valid.clone();
    raw[1] = SESSION_VERSION_V1;
    cases.push(("v2 blob relabelled v1", raw, Err("ChecksumMismatch")));
    // The same layout: a version-2 body sealed as version 1 loads (and is re-saved as 2).
    let body = &valid[2..valid.len() - 16];
    cases.push((
        "v2 body sealed as v1",
        envelope_v(KIND_SESSION, SESSION_VERSION_V1, body),
        OK,
    ));
    // ... an unclamped DHs in version 1 is read and clamped, a skipped N = 2^32 − 1 is refused.
    let mut v1 = base.clone();
    v1.r.dhs[0] |= 0x01;
    cases.push(("v1 DHs unclamped", v1.to_state_v1(), OK));
    let mut v1 = base.clone();
    v1.r.skipped[1].n = u32::MAX;
    cases.push(("v1 old-chain skipped N = 2^32 − 1", v1.to_state_v1(), NC));
    let mut raw = valid.clone();
    raw[20] ^= 1;
    cases.push(("checksum", raw, Err("ChecksumMismatch")));
    cases.push(("short", valid[..15].to_vec(), Err("Truncated")));
    cases.push((
        "kind only",
        envelope(KIND_SESSION, &[])[..1].to_vec(),
        Err("Truncated"),
    ));
    // The check is the last 16 bytes: 16 bytes have no kind byte, 17 bytes no version byte.
    cases.push((
        "16 bytes",
        valid[valid.len() - 16..].to_vec(),
        Err("Truncated"),
    ));
    cases.push(("17 bytes", vec![KIND_SESSION; 17], Err("Truncated")));
    let mut eighteen = vec![KIND_SESSION, 7];
    eighteen.extend_from_slice(&[0; 16]);
    cases.push(("18 bytes, version 7", eighteen, Err("UnknownVersion(7)")));

    let mut failures = vec![];
    for (name, blob, expect) in &cases {
        let mine = MySession::from_state(blob)
            .map(|s| s.to_state())
            .map_err(|e| format!("{e:?}"));
        let theirs = Session::from_bytes(blob)
            .map(|s| s.to_bytes().unwrap().to_vec())
            .map_err(|e| format!("{e:?}"));
        assert_eq!(mine, theirs, "case {name}");
        if let Ok(b) = &mine {
            if blob[1] == SESSION_VERSION {
                assert_eq!(b, blob, "case {name} re-encodes differently");
            } else {
                assert_eq!(b[1], SESSION_VERSION, "case {name}: re-saved as version 2");
            }
        }
        let got = mine.as_ref().map(|_| ()).map_err(String::as_str);
        if got != *expect {
            failures.push(format!("{name}: {got:?}, SPEC.md says {expect:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Test 7b: a version-1 session blob (§8.3, read only) migrates identically in both
/// implementations: `DHs` clamped (§8.0), each purge deadline `D` turned into
/// `skipped_at = D − 2 · MAX_CLOCK_SKEW` (saturating; `2^64 − 1` stays); the result is the
/// version-2 blob, a fixed point from then on, and the session keeps working.
#[test]
fn session_v1_migration_agrees() {
    let (mut w, _) = setup(32, false, false, true, CTX);
    let b: Vec<_> = (0..3u8).map(|i| send(&mut w, false, &[i])).collect();
    recv(&mut w, true, &b[2], Ok(&[2]));
    let r = send(&mut w, true, b"r");
    recv(&mut w, false, &r, Ok(b"r"));
    let c: Vec<_> = (0..3u8).map(|i| send(&mut w, false, &[i])).collect();
    recv(&mut w, true, &c[2], Ok(&[2]));
    let base = w.alice.view();
    assert_eq!(base.r.skipped.len(), 4);
    let skew2 = 2 * MAX_CLOCK_SKEW;
    let deadline_sets: [[u64; 4]; 3] = [
        [u64::MAX, 0, skew2 - 1, skew2],
        [skew2 + 1, 1_700_000_000_000, u64::MAX - 1, u64::MAX],
        [u64::MAX - skew2, u64::MAX - skew2 - 1, 1, u64::MAX],
    ];
    for (i, deadlines) in deadline_sets.iter().enumerate() {
        for variant in 0..3u8 {
            let mut v1 = base.clone();
            v1.r.dhs = unclamped(&base.r.dhs, variant);
            for (e, d) in v1.r.skipped.iter_mut().zip(deadlines) {
                e.skipped_at = *d;
            }
            let blob = v1.to_state_v1();
            assert_eq!(blob[1], SESSION_VERSION_V1);
            // What SPEC.md says the migration gives.
            let mut expected = base.clone();
            for (e, d) in expected.r.skipped.iter_mut().zip(deadlines) {
                e.skipped_at = if *d == u64::MAX {
                    u64::MAX
                } else {
                    d.saturating_sub(skew2)
                };
            }
            let expected = expected.to_state();
            let mine = MySession::from_state(&blob).unwrap();
            let theirs = Session::from_bytes(&blob).unwrap();
            assert_eq!(mine.to_state(), expected, "set {i} variant {variant}");
            assert_eq!(
                theirs.to_bytes().unwrap().to_vec(),
                expected,
                "set {i} variant {variant}"
            );
            // Re-saved as version 2, it is a fixed point in both.
            assert_eq!(
                Session::from_bytes(&expected).unwrap().to_bytes().unwrap().to_vec(),
                expected
            );
            assert_eq!(
                MySession::from_state(&expected).unwrap().to_state(),
                expected
            );
        }
    }
    // The migrated session keeps the conversation going in both, byte for byte (the clamped
    // secret is the same key).
    let mut v1 = base.clone();
    v1.r.dhs = unclamped(&base.r.dhs, 2);
    let mut twin = Twin::new(&MySession::from_state(&v1.to_state_v1()).unwrap());
    twin.theirs = Session::from_bytes(&v1.to_state_v1()).unwrap();
    twin.same();
    let mut rng = ChaCha20Rng::from_seed([33; 32]);
    let reply = twin.send(&mut rng, b"after migration");
    recv(&mut w, false, &reply, Ok(b"after migration"));
    assert_eq!(twin.recv(&c[0]).unwrap(), [0]);
    assert_eq!(twin.recv(&b[0]).unwrap(), [0]);
    assert_eq!(twin.recv(&b[0]).unwrap_err(), "DuplicateMessage");
}

/// A first message without a one-time prekey from a fresh crate Alice to `bundle`.
fn first_message(rng: &mut ChaCha20Rng, bundle: &[u8], pt: &[u8]) -> Vec<u8> {
    let alice = IdentityKeyPair::generate(rng);
    let bundle = PreKeyBundle::from_bytes(bundle).unwrap();
    let mut s = Session::initiate(rng, &alice, &bundle, CTX).unwrap();
    s.encrypt(rng, pt).unwrap()
}

/// The message with its base key replaced by the torsion variant `i` (§3.5, §3.6).
fn with_base_variant(m: &[u8], i: usize) -> Vec<u8> {
    let mut v = m.to_vec();
    let base: K32 = m[34..66].try_into().unwrap();
    v[34..66].copy_from_slice(&x25519_torsion_variant(&base, i));
    v
}

/// Test 8: the initiator's check of a bundle's one-time prekey (§4.4 step 4, after the DHs):
/// torsion variants and twist points are `Decode(InvalidKey)`, low-order points
/// `NonContributory`; a substituted prime-order key is accepted. The RNG use is the same in both
/// (`EK_A` drawn, the first ratchet key not).
#[test]
fn one_time_prekey_subgroup_check_agrees() {
    let mut rng = ChaCha20Rng::from_seed([26; 32]);
    let mut bob = MyBob::new(Ident::new(draw(&mut rng)));
    bob.rotate_signed_prekey(&mut rng, NOW);
    bob.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let bundle = bob.bundle(Some(0));
    let opk: K32 = bundle[146..178].try_into().unwrap();
    let alice = IdentityKeyPair::generate(&mut rng);
    let my_alice = Ident::new(*alice.seed());

    let mut one = [0u8; 32];
    one[0] = 1; // order 4
    let mut minus_one = [0xFFu8; 32];
    minus_one[0] = 0xEC;
    minus_one[31] = 0x7F; // p − 1: on the twist
    let mut cases: Vec<(K32, &str)> = vec![
        (opk, "ok"),
        (xpub(&[5; 32]), "ok"), // another prime-order key: not detectable (X3DH §3.2)
        ([0; 32], "NonContributory"),
        (one, "NonContributory"),
    ];
    for i in 1..8 {
        cases.push((x25519_torsion_variant(&opk, i), "Decode(InvalidKey)"));
    }
    // Twist points: those of low order on the twist give an all-zero DH first.
    let mut twists = vec![minus_one];
    twists.extend(
        (2u8..)
            .map(|i| {
                let mut u = [0u8; 32];
                u[0] = i;
                u
            })
            .filter(|u| MontgomeryPoint(*u).to_edwards(0).is_none())
            .take(3),
    );
    for u in twists {
        assert!(!x25519_prime_order(&u));
        let low = x25519([0x11; 32], u) == [0; 32];
        cases.push((
            u,
            if low {
                "NonContributory"
            } else {
                "Decode(InvalidKey)"
            },
        ));
    }
    let mut invalid_key_cases = 0;
    for (key, expect) in cases {
        let mut b = bundle.clone();
        b[146..178].copy_from_slice(&key);
        let (mut r1, mut r2) = (rng.clone(), rng.clone());
        let mine = MySession::initiate(&mut r1, &my_alice, &b, CTX)
            .map(|s| s.to_state())
            .map_err(|e| format!("{e:?}"));
        let theirs =
            Session::initiate(&mut r2, &alice, &PreKeyBundle::from_bytes(&b).unwrap(), CTX)
                .map(|s| s.to_bytes().unwrap().to_vec())
                .map_err(|e| format!("{e:?}"));
        assert_eq!(mine, theirs, "one-time prekey {}", hex::encode(key));
        assert_eq!(r1.clone().next_u64(), r2.next_u64());
        let got = mine.as_ref().map(|_| "ok").map_err(String::as_str);
        assert_eq!(got.unwrap_or_else(|e| e), expect, "{}", hex::encode(key));
        if mine.is_err() {
            // Only EK_A was drawn.
            let mut after_ek = rng.clone();
            let _: K32 = draw(&mut after_ek);
            assert_eq!(r1.next_u64(), after_ek.next_u64());
        }
        invalid_key_cases += usize::from(expect == "Decode(InvalidKey)");
    }
    assert!(invalid_key_cases >= 8);
}

/// Test 9: prekey-store blobs (§8.0, §8.2): version 2 round trips, version 1 is read and
/// migrated (every seen base key under every held signed prekey, §3.6), and the migrated store
/// refuses the old first messages in any encoding; both implementations agree byte for byte.
#[test]
fn prekey_store_v2_and_v1_migration_agree() {
    let mut rng = ChaCha20Rng::from_seed([27; 32]);
    let seed: K32 = draw(&mut rng);
    let mut bob = MyBob::new(Ident::new(seed));
    // An OPK-less first message to each of three signed prekeys.
    let mut firsts = vec![];
    for _ in 0..3 {
        bob.rotate_signed_prekey(&mut rng, NOW);
        firsts.push(first_message(&mut rng, &bob.bundle(None), b"first"));
    }
    assert_eq!(
        bob.generate_one_time_prekeys(&mut rng, 3).unwrap(),
        [0, 1, 2]
    );
    let bases: Vec<K32> = firsts
        .iter()
        .map(|m| m[34..66].try_into().unwrap())
        .collect();

    // A version-1 blob as the old library wrote it after accepting those three messages, plus a
    // low-order key (all-zero DH: skipped), an unrelated key and another encoding of bases[0]
    // (the same id: the record is a set).
    let mut seen = bases.clone();
    seen.push([0; 32]);
    seen.push(xpub(&draw(&mut rng)));
    seen.push(x25519_torsion_variant(&bases[0], 2));
    let v1 = bob.store_state_v1(&seen);
    assert_eq!(v1[1], STORE_VERSION_V1);
    let mine = MyBob::load_store(Ident::new(seed), &v1).unwrap();
    for spk in &mine.signed {
        assert_eq!(spk.accepted.len(), 4);
        for base in &bases {
            let id = first_message_id(&dh(&spk.secret, base).unwrap());
            assert!(spk.accepted.contains(&id));
        }
    }
    let migrated = mine.store_state();
    assert_eq!(migrated[1], STORE_VERSION);
    let theirs = PreKeyStore::from_bytes(&v1).unwrap();
    assert_eq!(
        theirs.to_bytes().unwrap().to_vec(),
        migrated,
        "migration of a v1 blob"
    );
    assert_eq!(theirs.first_message_capacity(), 4092);
    assert_eq!(mine.first_message_capacity(), 4092);
    // Re-saved as version 2, it loads again, identically.
    assert_eq!(
        PreKeyStore::from_bytes(&migrated)
            .unwrap()
            .to_bytes().unwrap()
            .to_vec(),
        migrated
    );
    assert_eq!(
        MyBob::load_store(Ident::new(seed), &migrated)
            .unwrap()
            .store_state(),
        migrated
    );

    let fresh = first_message(&mut rng, &bob.bundle(None), b"fresh");
    let fresh_old = first_message(&mut rng, &bob.bundle_of(0, None), b"fresh old");
    let mut rotation_rng = ChaCha20Rng::from_seed([30; 32]);
    let mut stores = vec![];
    for mut pre in BobPre::both(&seed, &v1) {
        // No first message accepted before the upgrade is accepted after it, in any encoding.
        for m in &firsts {
            assert_eq!(pre.respond(m, CTX).err().unwrap(), "DuplicateMessage");
            for i in 1..8 {
                let v = with_base_variant(m, i);
                assert_eq!(pre.respond(&v, CTX).err().unwrap(), "DuplicateMessage");
            }
        }
        assert_eq!(pre.store_state(), migrated);
        assert_eq!(pre.respond(&fresh, CTX).unwrap().1, b"fresh");
        assert_eq!(pre.respond(&fresh_old, CTX).unwrap().1, b"fresh old");
        assert_eq!(pre.first_message_capacity(), 4091);
        assert_eq!(pre.respond(&fresh, CTX).err().unwrap(), "DuplicateMessage");
        // A record goes with its signed prekey: after one rotation the oldest (id 0) is gone.
        let mut r = rotation_rng.clone();
        pre.rotate_signed_prekey(&mut r, NOW + 1);
        assert_eq!(pre.first_message_capacity(), 4096);
        assert_eq!(
            pre.respond(&fresh_old, CTX).err().unwrap(),
            "UnknownSignedPreKey(0)"
        );
        assert_eq!(pre.respond(&fresh, CTX).err().unwrap(), "DuplicateMessage");
        pre.rotate_signed_prekey(&mut r, NOW + 2);
        pre.rotate_signed_prekey(&mut r, NOW + 3);
        assert_eq!(
            pre.respond(&fresh, CTX).err().unwrap(),
            "UnknownSignedPreKey(2)"
        );
        stores.push(pre.store_state());
    }
    assert_eq!(stores[0], stores[1]);
    rotation_rng.next_u64();

    // Decode rules, with what SPEC.md says (None: only agreement is checked).
    const OK: Option<Result<(), &str>> = Some(Ok(()));
    const NC: Option<Result<(), &str>> = Some(Err("NonCanonical"));
    const TR: Option<Result<(), &str>> = Some(Err("Truncated"));
    let body = migrated[2..migrated.len() - 16].to_vec();
    // Offsets: 9 bytes of header, then per signed prekey 108 + 2 + 16 × 4 bytes.
    let entry = 108 + 2 + 16 * 4;
    let spk_at = |i: usize| 9 + i * entry;
    let otk_at = 9 + 3 * entry;
    let v2 = |b: &[u8]| envelope(KIND_STORE, b);
    let v1b = |b: &[u8]| envelope_v(KIND_STORE, STORE_VERSION_V1, b);
    // (name, blob, expected: None = loads, Some(Err(e)) = rejected with e)
    type Case<'a> = (&'a str, Vec<u8>, Option<Result<(), &'a str>>);
    let mut cases: Vec<Case> = vec![
        ("valid v2", migrated.clone(), OK),
        ("valid v1", v1.clone(), OK),
    ];
    let mut patch = |name, expect, f: &dyn Fn(&mut Vec<u8>), wrap: &dyn Fn(&[u8]) -> Vec<u8>| {
        let mut b = body.clone();
        f(&mut b);
        cases.push((name, wrap(&b), expect));
    };
    patch("trailing", Some(Err("TrailingBytes")), &|b| b.push(0), &v2);
    patch(
        "truncated",
        TR,
        &|b| {
            b.pop();
        },
        &v2,
    );
    patch("empty", TR, &|b| b.clear(), &v2);
    patch("signed count 4", NC, &|b| b[8] = 4, &v2);
    patch(
        "signed count 0 (rest trails)",
        Some(Err("TrailingBytes")),
        &|b| b[8] = 0,
        &v2,
    );
    patch(
        "duplicate signed prekey id",
        NC,
        &|b| {
            let id = b[spk_at(0)..spk_at(0) + 4].to_vec();
            b[spk_at(1)..spk_at(1) + 4].copy_from_slice(&id);
        },
        &v2,
    );
    // "checked after the signature, before the count".
    patch(
        "duplicate id, ends after the signature",
        NC,
        &|b| {
            let id = b[spk_at(0)..spk_at(0) + 4].to_vec();
            b[spk_at(1)..spk_at(1) + 4].copy_from_slice(&id);
            b.truncate(spk_at(1) + 108);
        },
        &v2,
    );
    patch(
        "duplicate id, ends inside the signature",
        TR,
        &|b| {
            let id = b[spk_at(0)..spk_at(0) + 4].to_vec();
            b[spk_at(1)..spk_at(1) + 4].copy_from_slice(&id);
            b.truncate(spk_at(1) + 107);
        },
        &v2,
    );
    patch(
        "accepted count 4097, then end",
        NC,
        &|b| {
            b.truncate(spk_at(0) + 108);
            b.extend_from_slice(&4097u16.to_be_bytes());
        },
        &v2,
    );
    patch(
        "accepted count 4096, then end",
        TR,
        &|b| {
            b.truncate(spk_at(0) + 108);
            b.extend_from_slice(&4096u16.to_be_bytes());
        },
        &v2,
    );
    patch(
        "accepted ids swapped",
        NC,
        &|b| {
            let at = spk_at(0) + 110;
            let first = b[at..at + 16].to_vec();
            let second = b[at + 16..at + 32].to_vec();
            b[at..at + 16].copy_from_slice(&second);
            b[at + 16..at + 32].copy_from_slice(&first);
        },
        &v2,
    );
    patch(
        "accepted id repeated",
        NC,
        &|b| {
            let at = spk_at(2) + 110;
            let first = b[at..at + 16].to_vec();
            b[at + 16..at + 32].copy_from_slice(&first);
        },
        &v2,
    );
    // §2 rule 7: the order of an id is checked once it has been read.
    patch(
        "accepted ids swapped, cut inside the second",
        TR,
        &|b| {
            let at = spk_at(0) + 110;
            let first = b[at..at + 16].to_vec();
            let second = b[at + 16..at + 32].to_vec();
            b[at..at + 16].copy_from_slice(&second);
            b[at + 16..at + 32].copy_from_slice(&first);
            b.truncate(at + 31);
        },
        &v2,
    );
    patch(
        "one-time count 65537, then end",
        NC,
        &|b| {
            b.truncate(otk_at);
            b.extend_from_slice(&65_537u32.to_be_bytes());
        },
        &v2,
    );
    patch(
        "one-time count 65536, then end",
        TR,
        &|b| {
            b.truncate(otk_at);
            b.extend_from_slice(&65_536u32.to_be_bytes());
        },
        &v2,
    );
    patch(
        "one-time ids equal",
        NC,
        &|b| {
            let id = b[otk_at + 4..otk_at + 8].to_vec();
            b[otk_at + 40..otk_at + 44].copy_from_slice(&id);
        },
        &v2,
    );
    patch(
        "one-time ids decreasing, cut in the secret",
        TR,
        &|b| {
            b[otk_at + 40..otk_at + 44].copy_from_slice(&[0; 4]);
            b.truncate(otk_at + 4 + 36 + 20);
        },
        &v2,
    );
    // §8.0: version-2 secrets must be stored clamped.
    for (name, at) in [
        ("signed prekey 0 secret unclamped", spk_at(0) + 12),
        ("signed prekey 2 secret unclamped", spk_at(2) + 12),
        ("one-time secret unclamped", otk_at + 4 + 4),
        ("last one-time secret unclamped", otk_at + 4 + 2 * 36 + 4),
    ] {
        for variant in 0..3u8 {
            let name: &str = format!("{name} ({variant})").leak();
            patch(
                name,
                NC,
                &|b| {
                    let k: K32 = b[at..at + 32].try_into().unwrap();
                    b[at..at + 32].copy_from_slice(&unclamped(&k, variant));
                },
                &v2,
            );
        }
    }
    // Checked as the secret is read (§2 rule 7), before the signature that follows it (a
    // guess, confirmed).
    patch(
        "signed prekey secret unclamped, cut inside the signature",
        NC,
        &|b| {
            let at = spk_at(1) + 12;
            let k: K32 = b[at..at + 32].try_into().unwrap();
            b[at..at + 32].copy_from_slice(&unclamped(&k, 0));
            b.truncate(at + 32 + 10);
        },
        &v2,
    );
    patch(
        "one-time secret unclamped, id order wrong",
        NC,
        &|b| {
            let at = otk_at + 4 + 36;
            b[at..at + 4].copy_from_slice(&[0; 4]);
            let k: K32 = b[at + 4..at + 36].try_into().unwrap();
            b[at + 4..at + 36].copy_from_slice(&unclamped(&k, 1));
        },
        &v2,
    );
    // Version 1: the v2 layout without the records, then the seen list.
    let v1_body = v1[2..v1.len() - 16].to_vec();
    let seen_at = v1_body.len() - 4 - 32 * seen.len();
    let mut patch1 = |name, expect, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = v1_body.clone();
        f(&mut b);
        cases.push((name, v1b(&b), expect));
    };
    patch1("v1 trailing", Some(Err("TrailingBytes")), &|b| b.push(0));
    patch1("v1 without seen list", TR, &|b| b.truncate(seen_at));
    patch1("v1 seen count 1025, then end", NC, &|b| {
        b.truncate(seen_at);
        b.extend_from_slice(&1025u32.to_be_bytes());
    });
    patch1("v1 seen count 1024, then end", TR, &|b| {
        b.truncate(seen_at);
        b.extend_from_slice(&1024u32.to_be_bytes());
    });
    patch1("v1 seen key ≥ p", Some(Err("InvalidKey")), &|b| {
        let at = seen_at + 4;
        b[at..at + 32].copy_from_slice(&[0xFF; 32]);
        b[at] = 0xED;
        b[at + 31] = 0x7F;
    });
    patch1("v1 seen key top bit", Some(Err("InvalidKey")), &|b| {
        b[seen_at + 4 + 31] |= 0x80;
    });
    // Not in SPEC.md's text (it names only §2.3 for the seen keys): a key repeated byte for
    // byte is NonCanonical (the brief; the library agrees).
    patch1("v1 duplicate seen key", NC, &|b| {
        let k = b[seen_at + 4..seen_at + 36].to_vec();
        b[seen_at + 36..seen_at + 68].copy_from_slice(&k);
    });
    patch1("v1 duplicate seen key, not adjacent", NC, &|b| {
        let k = b[seen_at + 4..seen_at + 36].to_vec();
        let last = b.len() - 32;
        b[last..].copy_from_slice(&k);
    });
    // ... checked once the key is read: a repeated key cut short is Truncated.
    patch1("v1 duplicate seen key, cut inside it", TR, &|b| {
        let k = b[seen_at + 4..seen_at + 36].to_vec();
        b[seen_at + 36..seen_at + 68].copy_from_slice(&k);
        b.truncate(seen_at + 67);
    });
    // The version-1 secrets are unclamped (as drawn); clamped ones load just as well.
    patch1("v1 clamped secrets", OK, &|b| {
        for at in [9 + 12, 9 + 108 + 12, 9 + 216 + 12, 9 + 3 * 108 + 4 + 4] {
            let k: K32 = b[at..at + 32].try_into().unwrap();
            b[at..at + 32].copy_from_slice(&clamp(k));
        }
    });
    // Guess: "the same" includes the one-time cap.
    patch1("v1 one-time count 65537, then end", NC, &|b| {
        b.truncate(9 + 3 * 108);
        b.extend_from_slice(&65_537u32.to_be_bytes());
    });
    patch1("v1 one-time ids decreasing, cut in the secret", TR, &|b| {
        let at = 9 + 3 * 108;
        b[at + 40..at + 44].copy_from_slice(&[0; 4]);
        b.truncate(at + 4 + 36 + 20);
    });
    patch1("v1 duplicate signed prekey id", NC, &|b| {
        let id = b[9..13].to_vec();
        b[9 + 108..9 + 112].copy_from_slice(&id);
    });
    patch1("v1 no signed prekeys", OK, &|b| {
        let mut nb = b[..8].to_vec();
        nb.push(0);
        nb.extend_from_slice(&b[9 + 3 * 108..]);
        *b = nb;
    });
    cases.push(("v2 body labelled v1", v1b(&body), None));
    cases.push(("v1 body labelled v2", v2(&v1_body), None));
    for (name, version) in [("version 0", 0u8), ("version 3", 3)] {
        let mut raw = migrated.clone();
        raw[1] = version;
        let e: &str = format!("UnknownVersion({version})").leak();
        cases.push((name, raw, Some(Err(e))));
    }
    let mut raw = migrated.clone();
    raw[0] = KIND_SESSION;
    cases.push(("kind", raw, Some(Err("UnknownType(18)"))));
    let mut raw = migrated.clone();
    raw[30] ^= 1;
    cases.push(("checksum", raw, Some(Err("ChecksumMismatch"))));
    cases.push(("17 bytes", vec![KIND_STORE; 17], TR));
    let mut eighteen = vec![KIND_STORE; 2];
    eighteen.extend_from_slice(&[0; 16]);
    cases.push(("18 bytes", eighteen, Some(Err("UnknownVersion(17)"))));

    let mut failures = vec![];
    for (name, blob, expect) in &cases {
        let mine = MyBob::load_store(Ident::new(seed), blob)
            .map(|s| s.store_state())
            .map_err(|e| format!("{e:?}"));
        let theirs = PreKeyStore::from_bytes(blob)
            .map(|s| s.to_bytes().unwrap().to_vec())
            .map_err(|e| format!("{e:?}"));
        assert_eq!(mine, theirs, "case {name}");
        if let Ok(b) = &mine
            && blob[1] == STORE_VERSION
        {
            assert_eq!(b, blob, "case {name} re-encodes differently");
        }
        let got = mine.as_ref().map(|_| ()).map_err(String::as_str);
        if let Some(expect) = expect
            && got != *expect
        {
            failures.push(format!("{name}: {got:?}, SPEC.md says {expect:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Test 10: a signed prekey's record of first messages (§4.3): at 4096 ids further OPK-less first
/// messages are `SignedPreKeyFull(id)`, replays stay `DuplicateMessage`, other signed prekeys and
/// one-time-prekey sessions are unaffected, and rotation drops the record with its key.
#[test]
fn signed_prekey_record_full_agrees() {
    let mut rng = ChaCha20Rng::from_seed([28; 32]);
    let seed: K32 = draw(&mut rng);
    let mut bob = MyBob::new(Ident::new(seed));
    bob.rotate_signed_prekey(&mut rng, NOW); // id 0
    bob.rotate_signed_prekey(&mut rng, NOW); // id 1, current
    bob.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let recorded = first_message(&mut rng, &bob.bundle(None), b"recorded");
    let m1 = first_message(&mut rng, &bob.bundle(None), b"m1");
    let m2 = first_message(&mut rng, &bob.bundle(None), b"m2");
    let m_old = first_message(&mut rng, &bob.bundle_of(0, None), b"old");
    let m_opk = {
        let alice = IdentityKeyPair::generate(&mut rng);
        let b = PreKeyBundle::from_bytes(&bob.bundle(Some(0))).unwrap();
        let mut s = Session::initiate(&mut rng, &alice, &b, CTX).unwrap();
        s.encrypt(&mut rng, b"opk").unwrap()
    };
    // Fill the current record to 4095 ids, one of them `recorded`'s (§3.6 from DH3).
    let base: K32 = recorded[34..66].try_into().unwrap();
    let recorded_id = first_message_id(&dh(&bob.signed[1].secret, &base).unwrap());
    bob.signed[1].accepted = (0..4094).map(|_| draw::<16>(&mut rng)).collect();
    bob.signed[1].accepted.insert(recorded_id);
    assert_eq!(bob.first_message_capacity(), 1);
    let blob = bob.store_state();
    let long = [0u8; 1025];

    let mut stores = vec![];
    let mut rotation_rng = ChaCha20Rng::from_seed([31; 32]);
    for mut pre in BobPre::both(&seed, &blob) {
        assert_eq!(pre.first_message_capacity(), 1);
        assert_eq!(
            pre.respond(&recorded, CTX).err().unwrap(),
            "DuplicateMessage"
        );
        assert_eq!(pre.respond(&m1, CTX).unwrap().1, b"m1");
        assert_eq!(pre.first_message_capacity(), 0);
        assert_eq!(pre.respond(&m2, CTX).err().unwrap(), "SignedPreKeyFull(1)");
        assert_eq!(
            pre.respond(&with_base_variant(&m2, 5), CTX).err().unwrap(),
            "SignedPreKeyFull(1)"
        );
        // A replay to a full record (guess: the duplicate is reported).
        assert_eq!(pre.respond(&m1, CTX).err().unwrap(), "DuplicateMessage");
        assert_eq!(
            pre.respond(&recorded, CTX).err().unwrap(),
            "DuplicateMessage"
        );
        // The record checks come before the context check (guess: "after X3DH").
        assert_eq!(
            pre.respond(&m2, &long).err().unwrap(),
            "SignedPreKeyFull(1)"
        );
        assert_eq!(pre.respond(&m1, &long).err().unwrap(), "DuplicateMessage");
        let before = pre.store_state();
        assert_eq!(pre.respond(&m_old, &long).err().unwrap(), "TooLarge");
        assert_eq!(pre.store_state(), before);
        // Other signed prekeys and one-time-prekey sessions are unaffected.
        assert_eq!(pre.respond(&m_old, CTX).unwrap().1, b"old");
        assert_eq!(pre.respond(&m_opk, CTX).unwrap().1, b"opk");
        assert_eq!(pre.first_message_capacity(), 0);
        // Rotation: a new, empty current record; key 1 is still held and still full.
        let mut r = rotation_rng.clone();
        pre.rotate_signed_prekey(&mut r, NOW + 1);
        assert_eq!(pre.first_message_capacity(), 4096);
        assert_eq!(pre.respond(&m2, CTX).err().unwrap(), "SignedPreKeyFull(1)");
        pre.rotate_signed_prekey(&mut r, NOW + 2);
        // Held: 1, 2, 3.
        assert_eq!(pre.respond(&m2, CTX).err().unwrap(), "SignedPreKeyFull(1)");
        pre.rotate_signed_prekey(&mut r, NOW + 3);
        assert_eq!(
            pre.respond(&m2, CTX).err().unwrap(),
            "UnknownSignedPreKey(1)"
        );
        stores.push(pre.store_state());
    }
    assert_eq!(stores[0], stores[1]);
    rotation_rng.next_u64();
}

/// Test 11: at most 65 536 one-time prekeys (§4.3): a `generate_one_time_prekeys` that would
/// exceed it is `TooLarge` and changes nothing (nor draws from the RNG); the full store's blob is
/// the same in both implementations and loads in both.
#[test]
fn one_time_prekey_cap_agrees() {
    let mut rng = ChaCha20Rng::from_seed([29; 32]);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut theirs = PreKeyStore::new();
    let mut mine = MyBob::new(Ident::new(*id.seed()));
    // Without a signed prekey there is no capacity (§4.3).
    assert_eq!(theirs.first_message_capacity(), 0);
    assert_eq!(mine.first_message_capacity(), 0);
    let (mut r1, mut r2) = (rng.clone(), rng.clone());
    let gen_both = |mine: &mut MyBob,
                    theirs: &mut PreKeyStore,
                    r1: &mut ChaCha20Rng,
                    r2: &mut ChaCha20Rng,
                    n| {
        let a = mine
            .generate_one_time_prekeys(r1, n)
            .map(|ids| ids.len())
            .map_err(|e| format!("{e:?}"));
        let b = theirs
            .generate_one_time_prekeys(r2, n)
            .map(|keys| keys.len())
            .map_err(|e| format!("{e:?}"));
        assert_eq!(a, b);
        assert_eq!(r1.clone().next_u64(), r2.clone().next_u64());
        a
    };
    assert_eq!(
        gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 65_537),
        Err("TooLarge".to_string())
    );
    assert_eq!(r1.clone().next_u64(), rng.clone().next_u64());
    assert_eq!(theirs.one_time_prekey_count(), 0);
    assert_eq!(
        gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 65_535),
        Ok(65_535)
    );
    let before = mine.store_state();
    let rng_before = r1.clone();
    assert_eq!(
        gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 2),
        Err("TooLarge".to_string())
    );
    assert_eq!(r1.clone().next_u64(), rng_before.clone().next_u64());
    assert_eq!(theirs.to_bytes().unwrap().to_vec(), before);
    assert_eq!(gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 1), Ok(1));
    assert_eq!(
        gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 1),
        Err("TooLarge".to_string())
    );
    assert_eq!(gen_both(&mut mine, &mut theirs, &mut r1, &mut r2, 0), Ok(0));
    assert_eq!(theirs.one_time_prekey_count(), MAX_ONE_TIME_PREKEYS);
    assert_eq!(*mine.one_time.keys().last().unwrap(), 65_535);
    let blob = mine.store_state();
    assert_eq!(theirs.to_bytes().unwrap().to_vec(), blob);
    assert_eq!(blob.len(), 2 + 9 + 4 + 36 * MAX_ONE_TIME_PREKEYS + 16);
    assert_eq!(
        PreKeyStore::from_bytes(&blob).unwrap().to_bytes().unwrap().to_vec(),
        blob
    );
    assert_eq!(
        MyBob::load_store(Ident::new(*id.seed()), &blob)
            .unwrap()
            .store_state(),
        blob
    );
}
