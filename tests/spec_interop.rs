//! An independent implementation of SPEC.md (written from the specification only, from primitives)
//! that must interoperate with the crate byte for byte: bundles, prekey and normal messages,
//! decode errors and persisted session / prekey-store / identity state, in both directions —
//! including the prekey store's per-signed-prekey replay records (§3.6, §4.3), X25519 secrets
//! held and stored clamped (§10.0), and the migration of version-1 and version-2 store and session
//! blobs (§10.2, §10.3).
//!
//! The Double Ratchet follows the phases of §6.1: an initiator that has received nothing holds
//! its first sending chain only (no `DHr`: `SPK_B` is not kept); a responder is created by its
//! first receiving step, the signed prekey's secret used for that step only; after a receiving
//! step the sending side is pending and no ratchet secret is held until the next encrypt.
//! Persisted state goes through the reference codec `tests/common/state_codec.rs` (§10), whose
//! plain data types are this implementation's state.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::BTreeMap;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use common::state_codec::{
    self as sc, CEILING, DEFAULT_LIMITS, KIND_SESSION, KIND_STORE, KeyPair, Legacy, MAX_CLOCK_SKEW,
    MAX_CONTEXT, MAX_FIRST_MESSAGES, MAX_ONE_TIME_PREKEYS, MAX_SIGNED_PREKEYS, OneTimePreKey, Open,
    Phase, Ratchet, Sending, SessionBlob, SignedPreKey, Skipped, StoreBlob, clamp, is_clamped,
    seal as envelope_v,
};
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
use xchat_protocol::{Config, Trust};
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
const MAX_PLAINTEXT: usize = 1 << 20;
/// §10.0: the state version written (prekey store and session), and the older ones read.
const STATE_VERSION: u8 = sc::VERSION;
const V2: u8 = 0x02;
const V1: u8 = 0x01;

/// §10.0: "the 32 draws of a key generation ... are clamped first"; the RNG use is unchanged.
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

/// Mirrors the crate's error variant names so that `{:?}` strings can be compared (§11); wire
/// decoding only (state errors are the codec's `sc::DecodeError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeErr {
    Truncated,
    TrailingBytes,
    UnknownVersion(u8),
    UnknownType(u8),
    NonCanonical,
    InvalidKey,
    TooLarge,
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

/// A key pair generated here: the public key computed from the (clamped) secret.
fn key_pair(secret: K32) -> KeyPair {
    KeyPair {
        secret,
        public: xpub(&secret),
    }
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

/// §6.4 Count: append, then drop from the front beyond `max_skipped_keys`.
fn push_skipped(o: &mut Open, limits: &[u32; 4], key: K32, n: u32, mk: K32) {
    let stamp = o.received.wrapping_add(1);
    o.skipped.push(Skipped {
        key,
        n,
        stamp,
        skipped_at: u64::MAX,
        mk,
    });
    while o.skipped.len() > limits[1] as usize {
        o.skipped.remove(0);
    }
}

/// §6.4 Old chains: drop the front keys beyond `max_old_chains`, with their skipped keys.
fn evict_old(o: &mut Open, max_old_chains: u32) {
    while o.old.len() > max_old_chains as usize {
        let gone = o.old.remove(0);
        o.skipped.retain(|s| s.key != gone);
    }
}

/// §6.4 Age: count the decrypt, then drop too-old keys from the front only.
fn count_decrypt(o: &mut Open, limits: &[u32; 4]) {
    o.received = o.received.wrapping_add(1);
    while o
        .skipped
        .first()
        .is_some_and(|s| o.received.wrapping_sub(s.stamp) > limits[3])
    {
        o.skipped.remove(0);
    }
}

/// §6.5 D3–D8: the receiving step under a new ratchet key `K = m.key`, from the open state
/// `prior` (`None`: an opening initiator, or a responder's first message with the signed prekey
/// as `DHs`, §6.2) whose sending side is `(dhs, ns)`. Returns `RK'`, the new open state (sending
/// side pending: no ratchet secret kept) and the plaintext; nothing is changed on error.
fn receiving_step(
    rk: &K32,
    limits: &[u32; 4],
    prior: Option<&Open>,
    (dhs, ns): (&K32, u32),
    m: &Msg,
    aad: &[u8],
) -> Result<(K32, Open, Vec<u8>), E> {
    // D3: the jump check, before any derivation.
    let old_gap = prior.map_or(0, |o| m.pn.saturating_sub(o.nr));
    if u64::from(old_gap) + u64::from(m.n) > u64::from(limits[0]) {
        return Err(E::TooFarInFuture);
    }
    // D4–D7.
    let old_keys = match prior {
        Some(o) if m.pn > o.nr => walk(o.ckr, o.nr, m.pn).0,
        _ => vec![],
    };
    let (rk, ck) = kdf_rk(rk, &dh(dhs, &m.key)?);
    let (new_keys, ck_n) = walk(ck, 0, m.n);
    let (mk, next) = kdf_ck(&ck_n);
    let pt = open(&mk, &m.seed, aad, &m.ct)?;
    // D8, in order.
    let mut o = prior.cloned().unwrap_or_default();
    if let Some(p) = prior {
        for (i, k) in old_keys {
            push_skipped(&mut o, limits, p.dhr, i, k);
        }
        o.old.push(p.dhr);
        evict_old(&mut o, limits[2]);
    }
    for (i, k) in new_keys {
        push_skipped(&mut o, limits, m.key, i, k);
    }
    (o.dhr, o.ckr, o.nr) = (m.key, next, m.n + 1);
    o.pn = ns;
    o.send = None;
    count_decrypt(&mut o, limits);
    Ok((rk, o, pt))
}

/// §7 session. Its state *is* the codec's plain data (§10.3): the phase of §6.1 as
/// `sc::Ratchet` — `Opening` (first sending chain only, no `DHr`) or `Open` (receiving chain,
/// sending chain or pending). `Deref` gives the fields.
#[derive(Debug, Clone, PartialEq)]
struct MySession(SessionBlob);

impl std::ops::Deref for MySession {
    type Target = SessionBlob;
    fn deref(&self) -> &SessionBlob {
        &self.0
    }
}

impl std::ops::DerefMut for MySession {
    fn deref_mut(&mut self) -> &mut SessionBlob {
        &mut self.0
    }
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

/// §3.5 `AD` (computed here, not by the codec).
fn assoc_data(ik_a: &K32, ik_b: &K32, context: &[u8]) -> Vec<u8> {
    let mut ad = ik_a.to_vec();
    ad.extend_from_slice(ik_b);
    ad.extend_from_slice(&u16::try_from(context.len()).unwrap().to_be_bytes());
    ad.extend_from_slice(context);
    ad
}

impl MySession {
    /// §3.5
    fn ad(&self) -> Vec<u8> {
        let (a, b) = if self.initiator() {
            (self.local, self.remote)
        } else {
            (self.remote, self.local)
        };
        assoc_data(&a, &b, &self.context)
    }

    fn prefields(&self) -> PreFields {
        PreFields {
            ik_a: if self.initiator() {
                self.local
            } else {
                self.remote
            },
            base: self.base,
            spk_id: self.spk_id,
            opk_id: self.opk_id,
        }
    }

    /// The open phase's state (test helper; panics in the opening phase).
    fn o(&self) -> &Open {
        self.open().expect("the open phase")
    }

    /// §7.2 + §4.4 initiator + §6.2: the opening phase, `SPK_B` not kept.
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
        let dhs = key_pair(generate_secret(rng));
        let (rk, ck) = kdf_rk(&sk, &dh(&dhs.secret, &b.spk)?);
        Ok(MySession(SessionBlob {
            phase: Phase::AwaitingReply,
            local: id.ik,
            remote: b.ik,
            context: context.to_vec(),
            base: xpub(&ek),
            spk_id: b.spk_id,
            opk_id: b.opk.map(|(id, _)| id),
            timer: sc::Timer::default(),
            limits: DEFAULT_LIMITS,
            rk,
            ratchet: Ratchet::Opening(Sending { dhs, ck, n: 0 }),
        }))
    }

    /// §6.3 with `aad_head` = `AD` (‖ prekey fields); also returns (ratchet public, N, MK) for
    /// the test's bookkeeping.
    fn ratchet_encrypt(
        &mut self,
        rng: &mut ChaCha20Rng,
        aad_head: &[u8],
        pt: &[u8],
    ) -> Result<(Vec<u8>, SentKey), E> {
        if pt.len() > MAX_PLAINTEXT {
            return Err(E::TooLarge);
        }
        // Step 2: the deferred sending half-step, iff the sending side is pending.
        let (rk, chain, pn) = match &self.ratchet {
            Ratchet::Opening(s) => (self.rk, s.clone(), 0),
            Ratchet::Open(o) => match &o.send {
                Some(s) => (self.rk, s.clone(), o.pn),
                None => {
                    let dhs = key_pair(generate_secret(rng));
                    let (rk, ck) = kdf_rk(&self.rk, &dh(&dhs.secret, &o.dhr)?);
                    (rk, Sending { dhs, ck, n: 0 }, o.pn)
                }
            },
        };
        if chain.n == u32::MAX {
            return Err(E::ChainExhausted);
        }
        let (mk, next) = kdf_ck(&chain.ck);
        let seed: [u8; 16] = draw(rng);
        let mut out = vec![VERSION, TYPE_NORMAL];
        // The ratchet key in the header is the state's public key (as stored, §10.0).
        out.extend_from_slice(&chain.dhs.public);
        out.extend_from_slice(&pn.to_be_bytes());
        out.extend_from_slice(&chain.n.to_be_bytes());
        out.extend_from_slice(&seed);
        let aad = [aad_head, &out].concat();
        let ct = seal(&mk, &seed, &aad, pt);
        out.extend_from_slice(&ct);
        // Step 8: commit.
        let log = (chain.dhs.public, chain.n, mk);
        let sending = Sending {
            dhs: chain.dhs,
            ck: next,
            n: chain.n + 1,
        };
        self.rk = rk;
        match &mut self.ratchet {
            Ratchet::Opening(s) => *s = sending,
            Ratchet::Open(o) => o.send = Some(sending),
        }
        Ok((out, log))
    }

    /// §6.5 A–D; changes nothing on error (§6.6).
    fn ratchet_decrypt(&mut self, ad: &[u8], m: &Msg) -> Result<Vec<u8>, E> {
        let aad = m.aad(ad);
        let limits = self.limits;
        // A. skipped key (only the open phase has any).
        if let Ratchet::Open(o) = &mut self.0.ratchet
            && let Some(i) = o.skipped.iter().position(|s| s.key == m.key && s.n == m.n)
        {
            let pt = open(&o.skipped[i].mk, &m.seed, &aad, &m.ct)?;
            o.skipped.remove(i);
            count_decrypt(o, &limits);
            return Ok(pt);
        }
        // B. counter bound
        if m.n == u32::MAX {
            return Err(E::TooFarInFuture);
        }
        let (prior, sending) = match &mut self.0.ratchet {
            // An opening initiator has no `recv`: every message is a new ratchet key (D).
            Ratchet::Opening(s) => (None, (s.dhs.secret, s.n)),
            // C. current chain
            Ratchet::Open(o) if o.dhr == m.key => {
                if m.n < o.nr {
                    return Err(E::DuplicateMessage);
                }
                if m.n - o.nr > limits[0] {
                    return Err(E::TooFarInFuture);
                }
                let (kept, ck_n) = walk(o.ckr, o.nr, m.n);
                let (mk, next) = kdf_ck(&ck_n);
                let pt = open(&mk, &m.seed, &aad, &m.ct)?;
                for (i, k) in kept {
                    push_skipped(o, &limits, m.key, i, k);
                }
                (o.ckr, o.nr) = (next, m.n + 1);
                count_decrypt(o, &limits);
                return Ok(pt);
            }
            // D1, D2.
            Ratchet::Open(o) => {
                if o.old.contains(&m.key) {
                    return Err(E::DuplicateMessage);
                }
                let Some(s) = &o.send else {
                    return Err(E::DecryptionFailed);
                };
                (Some(o.clone()), (s.dhs.secret, s.n))
            }
        };
        let (dhs, ns) = sending;
        let (rk, o, pt) = receiving_step(&self.rk, &limits, prior.as_ref(), (&dhs, ns), m, &aad)?;
        self.rk = rk;
        self.ratchet = Ratchet::Open(o);
        Ok(pt)
    }

    fn encrypt_logged(
        &mut self,
        rng: &mut ChaCha20Rng,
        pt: &[u8],
    ) -> Result<(Vec<u8>, SentKey), E> {
        let ad = self.ad();
        if self.phase == Phase::AwaitingReply {
            // §3.5: aad = AD ‖ prekey fields ‖ prefix.
            let mut out = encode_prefields(&self.prefields());
            let (m, log) = self.ratchet_encrypt(rng, &[&ad, &out[..]].concat(), pt)?;
            out.extend_from_slice(&m);
            Ok((out, log))
        } else {
            self.ratchet_encrypt(rng, &ad, pt)
        }
    }

    /// §7.4; the first success of an initiator acknowledges it (phase 0x00 → 0x01).
    fn decrypt(&mut self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        let (pre, m) = decode_message(bytes)?;
        if let Some(p) = pre
            && (self.initiator() || p != self.prefields())
        {
            return Err(E::SessionMismatch);
        }
        let ad = self.ad();
        let pt = self.ratchet_decrypt(&ad, &m)?;
        if self.phase == Phase::AwaitingReply {
            self.phase = Phase::Acknowledged;
        }
        Ok(pt)
    }

    /// §6.4 "Changing limits".
    fn set_limits(&mut self, limits: [u32; 4]) {
        assert!(limits.iter().all(|l| (1..=CEILING).contains(l)) && limits[0] <= limits[1]);
        self.limits = limits;
        if let Ratchet::Open(o) = &mut self.0.ratchet {
            evict_old(o, limits[2]);
            while o.skipped.len() > limits[1] as usize {
                o.skipped.remove(0);
            }
            while o
                .skipped
                .first()
                .is_some_and(|s| o.received.wrapping_sub(s.stamp) > limits[3])
            {
                o.skipped.remove(0);
            }
        }
    }

    /// §10.3 through the reference codec: version 3.
    fn to_state(&self) -> Vec<u8> {
        self.encode_v3()
    }

    /// §10.3 through the reference codec: any version read (an older one migrated).
    fn from_state(blob: &[u8]) -> Result<Self, sc::DecodeError> {
        SessionBlob::decode(blob).map(|(_, s)| MySession(s))
    }
}

/// §4.3 responder store plus identity; the store's state is the codec's plain data (§10.2).
struct MyBob {
    id: Ident,
    store: StoreBlob,
}

impl MyBob {
    fn new(id: Ident) -> Self {
        MyBob {
            id,
            store: StoreBlob::default(),
        }
    }

    fn rotate_signed_prekey(&mut self, rng: &mut ChaCha20Rng, now: u64) {
        let s = &mut self.store;
        let id = s.next_signed_id;
        s.next_signed_id = id.wrapping_add(1);
        let key = key_pair(generate_secret(rng));
        let signature = self.id.sign(&signed_bytes(id, now, &key.public));
        // A key pushed out takes its record of first messages with it.
        s.signed.retain(|k| k.id != id);
        s.signed.push(SignedPreKey {
            id,
            created_at: now,
            key,
            signature,
            accepted: vec![],
        });
        while s.signed.len() > MAX_SIGNED_PREKEYS {
            s.signed.remove(0);
        }
    }

    /// §4.3: refused as a whole (and, as guessed, before drawing anything) beyond 65 536 held keys.
    fn generate_one_time_prekeys(
        &mut self,
        rng: &mut ChaCha20Rng,
        n: usize,
    ) -> Result<Vec<u32>, E> {
        let s = &mut self.store;
        if s.one_time.len() + n > MAX_ONE_TIME_PREKEYS {
            return Err(E::TooLarge);
        }
        let mut ids = vec![];
        for _ in 0..n {
            let mut id = s.next_one_time_id;
            while s.one_time.iter().any(|k| k.id == id) {
                id = id.wrapping_add(1);
            }
            let key = key_pair(generate_secret(rng));
            let at = s.one_time.partition_point(|k| k.id < id);
            s.one_time.insert(at, OneTimePreKey { id, key });
            s.next_one_time_id = id.wrapping_add(1);
            ids.push(id);
        }
        Ok(ids)
    }

    fn one_time(&self, id: u32) -> Option<&KeyPair> {
        self.store
            .one_time
            .iter()
            .find(|k| k.id == id)
            .map(|k| &k.key)
    }

    /// §4.3 `first_message_capacity`: what the current signed prekey can still accept.
    fn first_message_capacity(&self) -> usize {
        self.store
            .signed
            .last()
            .map_or(0, |s| MAX_FIRST_MESSAGES - s.accepted.len())
    }

    fn bundle(&self, one_time: Option<u32>) -> Vec<u8> {
        self.bundle_of(self.store.signed.len() - 1, one_time)
    }

    /// A bundle of the held signed prekey at `index` (oldest first); test helper to reach the
    /// older ones. Public keys as held (as stored, §10.0).
    fn bundle_of(&self, index: usize, one_time: Option<u32>) -> Vec<u8> {
        let spk = &self.store.signed[index];
        encode_bundle(&Bundle {
            ik: self.id.ik,
            spk_id: spk.id,
            created_at: spk.created_at,
            spk: spk.key.public,
            sig: spk.signature,
            opk: one_time.map(|i| (i, self.one_time(i).unwrap().public)),
        })
    }

    /// §7.3 with the replay rule of §4.3 (step 5, right after X3DH and before the context
    /// check), and the responder's ratchet created by its first receiving step (§6.2): the
    /// signed prekey's secret serves as `DHs` for that step only and is not kept.
    fn respond(&mut self, bytes: &[u8], context: &[u8]) -> Result<(MySession, Vec<u8>), E> {
        let (pre, m) = decode_message(bytes)?;
        let p = pre.ok_or(E::NotPreKeyMessage)?;
        let spk_index = self
            .store
            .signed
            .iter()
            .position(|s| s.id == p.spk_id)
            .ok_or(E::UnknownSignedPreKey(p.spk_id))?;
        let spk_secret = self.store.signed[spk_index].key.secret;
        let opk_secret = match p.opk_id {
            Some(id) => Some(self.one_time(id).ok_or(E::UnknownOneTimePreKey(id))?.secret),
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
        let accepted = &self.store.signed[spk_index].accepted;
        if p.opk_id.is_none() {
            if accepted.binary_search(&fmid).is_ok() {
                return Err(E::DuplicateMessage);
            }
            if accepted.len() >= MAX_FIRST_MESSAGES {
                return Err(E::SignedPreKeyFull(p.spk_id));
            }
        }
        let sk = x3dh_sk(&dhs);
        if context.len() > MAX_CONTEXT {
            return Err(E::TooLarge);
        }
        let ad = assoc_data(&p.ik_a, &self.id.ik, context);
        let first = (&spk_secret, 0);
        let (rk, o, pt) = receiving_step(&sk, &DEFAULT_LIMITS, None, first, &m, &m.aad(&ad))?;
        let s = MySession(SessionBlob {
            phase: Phase::Responder,
            local: self.id.ik,
            remote: p.ik_a,
            context: context.to_vec(),
            base: p.base,
            spk_id: p.spk_id,
            opk_id: p.opk_id,
            timer: sc::Timer::default(),
            limits: DEFAULT_LIMITS,
            rk,
            ratchet: Ratchet::Open(o),
        });
        match p.opk_id {
            Some(id) => self.store.one_time.retain(|k| k.id != id),
            None => {
                let accepted = &mut self.store.signed[spk_index].accepted;
                let at = accepted.partition_point(|x| *x < fmid);
                accepted.insert(at, fmid);
            }
        }
        Ok((s, pt))
    }

    /// §10.2 through the reference codec: version 3.
    fn store_state(&self) -> Vec<u8> {
        self.store.encode_v3()
    }

    /// §10.2 through the reference codec: any version read (an older one migrated).
    fn load_store(id: Ident, blob: &[u8]) -> Result<Self, sc::DecodeError> {
        StoreBlob::decode(blob).map(|(_, store)| MyBob { id, store })
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
    /// The independent view of this party's state (parsing the crate's blob per §10.3).
    fn view(&self) -> MySession {
        match self {
            Party::Crate(s) => {
                let blob = s.to_bytes().unwrap().to_vec();
                let v = MySession::from_state(&blob).unwrap();
                assert_eq!(v.to_state(), blob, "§10.3 re-encoding differs");
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
            BobPre::Crate(b) => Session::respond(&b.0, &mut b.1, m, &Config::new(ctx))
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
                b.1.rotate_signed_prekey(rng, &b.0, now * 1000);
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
        // Cross-check the identity derivation (§4.1) and the identity blob (§10.1).
        let mine = Ident::new(*id.seed());
        assert_eq!(mine.ik, id.public().to_bytes());
        assert_eq!(id.to_bytes().to_vec(), sc::encode_identity(&mine.seed));
        assert_eq!(sc::decode_identity(&id.to_bytes()), Ok(mine.seed));
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(&mut rng, &id, NOW * 1000);
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
            Trust::FirstUse,
            &Config::new(ctx),
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
                Trust::FirstUse,
                &Config::new(ctx),
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
    assert_eq!(s.ad(), s.0.ad(), "§3.5 AD: the codec's and ours");
    assert_eq!(s.prefields(), r.prefields());
    assert_eq!(s.rk, r.rk, "root keys");
    let sending = s.sending().expect("the sender has a sending chain");
    assert_eq!(xpub(&sending.dhs.secret), sending.dhs.public);
    assert_eq!(r.o().dhr, sending.dhs.public, "DHr = peer's ratchet public");
    assert_eq!(
        (r.o().ckr, r.o().nr),
        (sending.ck, sending.n),
        "sending chain = peer's receiving chain"
    );
    // The receiver's half-step is deferred: no ratchet secret held (§6.1).
    assert!(r.sending().is_none(), "receiver's sending side is pending");
    // Every key the receiver holds for a message is the sender's message key for it.
    if let Party::Mine(_, Some(log)) = sender {
        for k in &r.o().skipped {
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
        assert_eq!(v.o().old, vec![header(a2).1]);
        assert_eq!(v.o().skipped.len(), 2);
        assert_eq!(
            (v.o().skipped[0].key, v.o().skipped[0].n),
            (header(a2).1, 2)
        );
        assert_eq!((v.o().skipped[1].key, v.o().skipped[1].n), (alice_key1, 0));
        assert_eq!(v.o().pn, 4);
        assert_eq!(v.o().received, 3);
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

/// `needle` occurs somewhere in `hay` (test helper: a secret that must not be in a blob).
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The held signed prekeys' secrets of a store blob (read with the reference codec).
fn spk_secrets(store_blob: &[u8]) -> Vec<K32> {
    let (_, s) = StoreBlob::decode(store_blob).unwrap();
    s.signed.iter().map(|k| k.key.secret).collect()
}

/// Test 4: persisted state: parse the crate's session blobs per §10.0/§10.3, check the correspondence
/// with the independent peer and the phases of §6.1 as stored, and move sessions between
/// implementations mid-conversation.
#[test]
fn state_blobs_parse_and_cross_load() {
    // Crate Bob, independent Alice: parse Bob's blob after several turns.
    let (mut w, a2) = setup(14, false, true, true, CTX);
    // The responder is open from its creation, its sending side pending: the blob holds no
    // ratchet secret, and in particular not the signed prekey's (§6.2, §10.3).
    let spk_secret = spk_secrets(&w.bob_pre.store_state())[0];
    let fresh = w.bob.state();
    assert!(
        !contains(&fresh, &spk_secret),
        "§10.3: SPK secret in a responder blob"
    );
    let v = MySession::from_state(&fresh).unwrap();
    assert_eq!(v.phase, Phase::Responder);
    assert!(v.sending().is_none());
    assert_eq!(fresh[2], Phase::Responder as u8);
    // Row 13's flag is 0x00 and the lists follow at once: no `DHs` bytes at all.
    assert_eq!(fresh[2 + v.ratchet_offset() + 68], 0x00);
    let b0 = send(&mut w, false, b"b0");
    let b1 = send(&mut w, false, b"b1");
    recv(&mut w, true, &b1, Ok(b"b1"));
    // Crate Bob's sending chain = my receiving chain; b0's key is held by me.
    check_correspondence(&w.bob, &w.alice);
    let alice_view = w.alice.view();
    assert_eq!(alice_view.o().skipped.len(), 1);
    let blob = w.bob.state();
    assert!(!contains(&blob, &spk_secret));
    assert_eq!(blob[0], KIND_SESSION);
    assert_eq!(blob[1], STATE_VERSION);
    let check = Sha256::digest(&blob[..blob.len() - 16]);
    assert_eq!(blob[blob.len() - 16..], check[..16]);
    let bob_view = MySession::from_state(&blob).unwrap();
    assert_eq!(bob_view.phase, Phase::Responder);
    let sending = bob_view.sending().unwrap();
    // §10.0: the stored ratchet secret is clamped; its public key is stored after it.
    assert!(is_clamped(&sending.dhs.secret));
    assert_eq!(xpub(&sending.dhs.secret), sending.dhs.public);
    let at = 2 + bob_view.ratchet_offset() + 68;
    assert_eq!(blob[at], 0x01);
    assert_eq!(blob[at + 1..at + 33], sending.dhs.secret);
    assert_eq!(blob[at + 33..at + 65], sending.dhs.public);
    assert_eq!(sending.n, 2);
    assert_eq!(bob_view.o().nr, 2); // a0, a1 received (a2 still pending)
    assert_eq!(bob_view.o().received, 2);
    assert_eq!(bob_view.o().pn, 0);
    assert_eq!(bob_view.limits, DEFAULT_LIMITS);
    assert_eq!(bob_view.context, CTX);
    assert_eq!(bob_view.opk_id, Some(1));
    // Corrupting any byte is detected.
    let mut bad = blob.clone();
    bad[40] ^= 1;
    assert_eq!(
        MySession::from_state(&bad).unwrap_err(),
        sc::DecodeError::ChecksumMismatch
    );
    assert!(matches!(
        Session::from_bytes(&bad),
        Err(xchat_protocol::DecodeError::ChecksumMismatch)
    ));
    recv(&mut w, true, &b0, Ok(b"b0"));

    // Alice replies; crate Bob's view after receipt: deferred half-step (the sending side, and
    // its secret, gone), PN = Ns.
    let c0 = send(&mut w, true, b"c0");
    recv(&mut w, false, &c0, Ok(b"c0"));
    check_correspondence(&w.alice, &w.bob);
    let v = w.bob.view();
    assert!(!contains(&w.bob.state(), &sending.dhs.secret));
    assert_eq!(v.o().pn, 2);
    assert!(v.o().send.is_none());
    assert_eq!(v.o().old.len(), 1);
    assert_eq!(v.o().skipped.len(), 1); // a2's key from the old chain
    assert_eq!(v.o().skipped[0].n, 2);
    assert_eq!(v.o().skipped[0].stamp, 3);

    // Crate Alice, independent Bob: parse Alice's blob (initiator, before and after the ack).
    let (mut w2, _) = setup(15, true, false, false, CTX);
    let v = w2.alice.view();
    let alice_blob = w2.alice.state();
    assert_eq!(v.phase, Phase::AwaitingReply);
    assert_eq!(alice_blob[2], 0x00);
    assert!(v.open().is_none());
    assert_eq!(v.sending().unwrap().n, 3);
    assert_eq!(v.opk_id, None);
    // The opening phase keeps no `DHr`: the signed prekey's public key is not in the blob, which
    // ends with the sending chain (§10.3 row 12 of phase 0x00).
    let BobPre::Mine(bob) = &w2.bob_pre else {
        panic!("independent Bob expected")
    };
    assert!(!contains(&alice_blob, &bob.store.signed[0].key.public));
    assert_eq!(
        alice_blob.len(),
        2 + v.ratchet_offset() + 32 + 32 + 32 + 4 + 16
    );
    let m = send(&mut w2, false, b"x");
    recv(&mut w2, true, &m, Ok(b"x"));
    check_correspondence(&w2.bob, &w2.alice);
    let v = w2.alice.view();
    assert_eq!(v.phase, Phase::Acknowledged);
    assert_eq!(w2.alice.state()[2], 0x01);
    assert_eq!(v.o().pn, 3);

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
        Session::initiate(
            &mut rng,
            &alice,
            &crate_bundle,
            Trust::FirstUse,
            &Config::new(CTX)
        ),
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
            Trust::FirstUse,
            &Config::new(&long),
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
        assert_eq!(
            self.mine.to_state(),
            self.theirs.to_bytes().unwrap().to_vec()
        );
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
        a.mine.o().skipped.iter().map(|s| s.n).collect::<Vec<_>>(),
        [2, 4, 5, 6]
    );
    assert_eq!(a.recv(&b[0]), err("DuplicateMessage"));
    assert_eq!(a.recv(&b[2]), ok(&[2])); // received = 3
    for (i, m) in (8u8..).zip(&b[8..12]) {
        assert_eq!(a.recv(m), ok(&[i])); // received = 4..=7
    }
    assert_eq!(a.mine.o().skipped.len(), 3); // age 5: still kept
    assert_eq!(a.recv(&b[12]), ok(&[12])); // received = 8, age 6 > 5: dropped
    assert!(a.mine.o().skipped.is_empty());
    assert_eq!(a.recv(&b[5]), err("DuplicateMessage"));

    // Ratchet turns; b13 stays undelivered. Bob's next chain has PN = 14.
    let r0 = a.send(&mut rng, b"r0");
    assert_eq!(bob.decrypt(&r0).unwrap(), b"r0");
    let c: Vec<_> = (0..4u8).map(|i| bob_send(&mut bob, &[b'c', i])).collect();
    assert_eq!(header(&c[0]).2, 14);
    assert_eq!(a.recv(&c[3]), err("TooFarInFuture")); // old gap 1 + N 3 > 3
    assert_eq!(a.recv(&c[2]), ok(b"c\x02")); // keeps b13 (old chain), c0, c1
    assert_eq!(a.mine.o().skipped.len(), 3);
    let r1 = a.send(&mut rng, b"r1");
    assert_eq!(bob.decrypt(&r1).unwrap(), b"r1");
    let d0 = bob_send(&mut bob, b"d0");
    assert_eq!(header(&d0).2, 4);
    // old = [b-key, c-key] exceeds 1: the b chain and b13's key are deleted; c3's key is kept.
    assert_eq!(a.recv(&d0), ok(b"d0"));
    assert_eq!(a.mine.o().old, vec![header(&c[0]).1]);
    assert_eq!(
        a.mine.o().skipped.iter().map(|s| s.n).collect::<Vec<_>>(),
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
    assert_eq!(a.mine.o().skipped.len(), 3);
    assert_eq!(a.mine.o().old, vec![header(&e0).1]);
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
    assert_eq!(a.mine.o().skipped.len(), 1);
    assert_eq!(a.mine.o().skipped[0].n, 1);
    assert_eq!(a.recv(&g[1]), ok(b"g\x01"));
    assert_eq!(a.recv(&g[0]), err("DuplicateMessage"));
    assert_eq!(a.recv(&g[3]), ok(b"g\x03"));
    assert_eq!(a.recv(&e0), err("DuplicateMessage")); // e-key still in `old`
}

/// What SPEC.md says a decode gives: `Some(Ok)` loads, `Some(Err(e))` fails with `e`, `None`:
/// only the agreement of the two implementations is checked.
type Expect = Option<Result<(), &'static str>>;
const OK: Expect = Some(Ok(()));
const NC: Expect = Some(Err("NonCanonical"));
const IK: Expect = Some(Err("InvalidKey"));
const TR: Expect = Some(Err("Truncated"));
const TB: Expect = Some(Err("TrailingBytes"));

/// State-decoding cases: (name, blob, what SPEC.md says, the re-saved blob of an older version
/// that loads, where the test knows it).
#[derive(Default)]
struct Cases(Vec<Case>);
type Case = (String, Vec<u8>, Expect, Option<Vec<u8>>);
/// The re-saved bytes, or the error, from (the independent implementation, the crate).
type Loaded = (Result<Vec<u8>, String>, Result<Vec<u8>, String>);

/// The open phase's state of a session being edited (test helper).
fn om(s: &mut SessionBlob) -> &mut Open {
    match &mut s.ratchet {
        Ratchet::Open(o) => o,
        Ratchet::Opening(_) => panic!("the open phase expected"),
    }
}

/// The sending chain of a session being edited (test helper).
fn sm(s: &mut SessionBlob) -> &mut Sending {
    match &mut s.ratchet {
        Ratchet::Opening(x) => x,
        Ratchet::Open(o) => o.send.as_mut().expect("a sending chain"),
    }
}

impl Cases {
    fn raw(&mut self, name: &str, blob: Vec<u8>, expect: Expect) {
        self.0.push((name.to_string(), blob, expect, None));
    }
    /// `from` edited by `f`, as version 3.
    fn v3(&mut self, name: &str, from: &MySession, expect: Expect, f: impl Fn(&mut SessionBlob)) {
        let mut s = from.clone();
        f(&mut s);
        self.raw(name, s.to_state(), expect);
    }
    /// `from` edited by `f`, as version 2 with `legacy`: if it loads, it must re-save as the
    /// edited object (what the legacy fields held is dropped).
    fn v2(
        &mut self,
        name: &str,
        from: &MySession,
        legacy: &Legacy,
        expect: Expect,
        f: impl Fn(&mut SessionBlob, &mut Legacy),
    ) {
        let (mut s, mut l) = (from.clone(), *legacy);
        f(&mut s, &mut l);
        let blob = s.encode_v2(&l);
        self.0
            .push((name.to_string(), blob, expect, Some(s.to_state())));
    }
    /// `blob`'s body edited by `f`, re-sealed with a correct check.
    fn patch(&mut self, name: &str, blob: &[u8], expect: Expect, f: impl Fn(&mut Vec<u8>)) {
        let mut body = sc::body(blob).to_vec();
        f(&mut body);
        self.raw(name, sc::reseal(blob, &body), expect);
    }
    /// Decodes every blob with both implementations: same result, the one SPEC.md gives, a
    /// version-3 blob re-saved byte for byte, an older one re-saved as version 3 (the expected
    /// bytes where known), a fixed point from then on.
    fn run(&self, load: impl Fn(&[u8]) -> Loaded) {
        let mut failures = vec![];
        for (name, blob, expect, resaved) in &self.0 {
            let (mine, theirs) = load(blob);
            if mine != theirs {
                let short = |r: &Result<Vec<u8>, String>| -> Result<String, String> {
                    let h = r.clone().map(hex::encode)?;
                    Ok(h[..40.min(h.len())].to_string())
                };
                failures.push(format!(
                    "{name}: independent {:?}, crate {:?}",
                    short(&mine),
                    short(&theirs)
                ));
                continue;
            }
            if let Ok(b) = &mine {
                if blob[1] == STATE_VERSION {
                    assert_eq!(b, blob, "case {name} re-encodes differently");
                } else {
                    assert_eq!(b[1], STATE_VERSION, "case {name}: re-saved as version 3");
                    if let Some(want) = resaved {
                        assert_eq!(hex::encode(b), hex::encode(want), "case {name}: migration");
                    }
                    assert_eq!(
                        load(b),
                        (Ok(b.clone()), Ok(b.clone())),
                        "case {name}: fixed point"
                    );
                }
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
}

fn load_session_both(blob: &[u8]) -> Loaded {
    let mine = MySession::from_state(blob)
        .map(|s| s.to_state())
        .map_err(|e| format!("{e:?}"));
    let theirs = Session::from_bytes(blob)
        .map(|s| s.to_bytes().unwrap().to_vec())
        .map_err(|e| format!("{e:?}"));
    (mine, theirs)
}

/// The three other clamping-relevant forms of a clamped secret (bits 0, 2 of byte 0; bits 6, 7
/// of byte 31).
fn unclamped_forms(k: &K32) -> [K32; 4] {
    let mut forms = [*k; 4];
    forms[0][0] |= 0x01;
    forms[1][0] |= 0x04;
    forms[2][31] &= !0x40;
    forms[3][31] |= 0x80;
    forms
}

/// `u = p`: the smallest non-canonical X25519 encoding (§2.3).
const P_BYTES: K32 = {
    let mut p = [0xFF; 32];
    p[0] = 0xED;
    p[31] = 0x7F;
    p
};

/// Offset of the `DHs` secret in a version-1/2 session body (§10.3: role, acknowledged, rows
/// 2–8, limits, timer, `RK`).
fn v2_dhs_at(s: &SessionBlob) -> usize {
    2 + 64 + 2 + s.context.len() + 32 + 4 + 1 + 4 * usize::from(s.opk_id.is_some()) + 16 + 9 + 32
}

/// Test 7: state decoding (§10.0, §10.3) agrees on every rule: the crate and the independent
/// decoder give the same result for valid and invalid session blobs of versions 3, 2 and 1, and
/// that result is the one SPEC.md gives; older blobs migrate to the same version-3 bytes.
#[test]
fn session_state_decode_rules_agree() {
    // A rich state: initiator, acknowledged, one old chain, skipped keys on two chains.
    let (mut w, _) = setup(23, false, false, true, CTX);
    // An initiator in the opening phase: Alice of another world, before any reply.
    let (w_unacked, _) = setup(25, true, false, false, CTX);
    let unacked = w_unacked.alice.view();
    assert_eq!(unacked.phase, Phase::AwaitingReply);
    let BobPre::Mine(unacked_bob) = &w_unacked.bob_pre else {
        panic!("independent Bob expected")
    };
    let spk_b = unacked_bob.store.signed[0].key.public;
    let b: Vec<_> = (0..3u8).map(|i| send(&mut w, false, &[i])).collect();
    recv(&mut w, true, &b[2], Ok(&[2]));
    let r = send(&mut w, true, b"r");
    recv(&mut w, false, &r, Ok(b"r"));
    let c: Vec<_> = (0..3u8).map(|i| send(&mut w, false, &[i])).collect();
    recv(&mut w, true, &c[2], Ok(&[2]));
    let base = w.alice.view();
    assert_eq!(base.phase, Phase::Acknowledged);
    assert_eq!(base.o().old.len(), 1);
    assert_eq!(base.o().skipped.len(), 4);
    // [(old key, 0), (old key, 1), (DHr, 0), (DHr, 1)] with Nr = 3; deferred half-step.
    assert_eq!(base.o().skipped[3].key, base.o().dhr);
    assert_eq!((base.o().skipped[3].n, base.o().nr), (1, 3));
    assert!(base.o().send.is_none());
    let some_send = Sending {
        dhs: key_pair(clamp([3; 32])),
        ck: [3; 32],
        n: 7,
    };
    let mut with_send = base.clone();
    om(&mut with_send).send = Some(some_send.clone());
    let torsion = |k: &K32, i: usize| {
        let p = VerifyingKey::from_bytes(k).unwrap().to_edwards();
        (p + EIGHT_TORSION[i]).compress().to_bytes()
    };
    let small_order = {
        let mut k = [0; 32];
        k[0] = 1;
        k
    };

    let mut cases = Cases::default();
    // ---- version 3 (written), from edits of the object ----
    cases.v3("valid", &base, OK, |_| {});
    cases.v3("valid opening", &unacked, OK, |_| {});
    cases.v3("valid with send", &with_send, OK, |_| {});
    cases.v3("max_skip 0", &base, NC, |s| s.limits[0] = 0);
    cases.v3("age over ceiling", &base, NC, |s| s.limits[3] = CEILING + 1);
    cases.v3("max_skip > max_skipped_keys", &base, NC, |s| {
        s.limits[0] = 2001
    });
    cases.v3("limits at ceiling", &base, OK, |s| s.limits = [CEILING; 4]);
    cases.v3("opening, max_old_chains 0", &unacked, NC, |s| {
        s.limits[2] = 0
    });
    cases.v3("opening, limits at ceiling", &unacked, OK, |s| {
        s.limits = [CEILING; 4]
    });
    cases.v3("unknown skipped key", &base, NC, |s| {
        om(s).skipped[0].key = [9; 32]
    });
    cases.v3("duplicate skipped", &base, NC, |s| {
        let e = om(s).skipped[3].clone();
        om(s).skipped.push(e);
    });
    // Row 17: a skipped key of the current chain must lie behind Nr = 3.
    cases.v3("current-chain skipped N = Nr − 1", &base, OK, |s| {
        om(s).skipped[3].n = 2
    });
    cases.v3("current-chain skipped N = Nr", &base, NC, |s| {
        om(s).skipped[3].n = 3
    });
    cases.v3("current-chain skipped N > Nr", &base, NC, |s| {
        om(s).skipped[3].n = 70
    });
    cases.v3("current-chain skipped N = 2^32 − 1", &base, NC, |s| {
        om(s).skipped[3].n = u32::MAX
    });
    // ... while an old chain has no counter left to compare with.
    cases.v3("old-chain skipped N large", &base, OK, |s| {
        om(s).skipped[1].n = 70_000
    });
    cases.v3("old-chain skipped N = 2^32 − 1", &base, NC, |s| {
        om(s).skipped[1].n = u32::MAX
    });
    cases.v3("old-chain skipped N = 2^32 − 2", &base, OK, |s| {
        om(s).skipped[1].n = u32::MAX - 1
    });
    cases.v3("ages increasing", &base, NC, |s| {
        let o = om(s);
        o.skipped[0].stamp = o.received;
    });
    cases.v3("age too old", &base, NC, |s| {
        let o = om(s);
        for e in &mut o.skipped {
            e.stamp = o.received.wrapping_sub(10_001);
        }
    });
    cases.v3("age at limit", &base, OK, |s| {
        let o = om(s);
        for e in &mut o.skipped {
            e.stamp = o.received.wrapping_sub(10_000);
        }
    });
    // Row 17's u64 is a time, any value (2^64 − 1 = unknown); no order among entries.
    cases.v3("skipped_at values", &base, OK, |s| {
        let times = [0, u64::MAX - 1, 1_700_000_000_000, 1];
        for (e, t) in om(s).skipped.iter_mut().zip(times) {
            e.skipped_at = t;
        }
    });
    cases.v3("old = DHr", &base, NC, |s| {
        let o = om(s);
        o.old.push(o.dhr);
    });
    cases.v3("old duplicate", &base, NC, |s| {
        let o = om(s);
        o.old.push(o.old[0]);
    });
    cases.v3("old count over max_old_chains", &base, NC, |s| {
        s.limits[2] = 1;
        om(s).old.insert(0, [5; 32]);
    });
    cases.v3("old count at max_old_chains", &base, OK, |s| {
        s.limits[2] = 2;
        om(s).old.insert(0, [5; 32]);
    });
    cases.v3("responder", &base, OK, |s| s.phase = Phase::Responder);
    cases.v3("context 1024", &base, OK, |s| s.context = vec![1; 1024]);
    cases.v3("context 1025", &base, NC, |s| s.context = vec![1; 1025]);
    cases.v3("empty context", &unacked, OK, |s| s.context = vec![]);
    cases.v3("DHr not canonical", &base, IK, |s| om(s).dhr = P_BYTES);
    cases.v3("DHr top bit", &base, IK, |s| om(s).dhr[31] |= 0x80);
    cases.v3("no opk", &base, OK, |s| s.opk_id = None);
    cases.v3("opk", &unacked, OK, |s| s.opk_id = Some(u32::MAX));
    // §10.0: identity keys in version 3 are taken as stored, not validated.
    cases.v3("zero local identity", &base, OK, |s| s.local = [0; 32]);
    cases.v3("small-order remote identity", &base, OK, |s| {
        s.remote = small_order
    });
    cases.v3("torsion local identity", &base, OK, |s| {
        s.local = torsion(&s.local, 2)
    });
    cases.v3("torsion remote identity", &unacked, OK, |s| {
        s.remote = torsion(&s.remote, 4)
    });
    cases.v3("identity bytes ≥ p", &unacked, OK, |s| {
        s.local = [0xFF; 32]
    });
    cases.v3("bad base key", &base, IK, |s| s.base[31] = 0x80);
    // A torsion variant of a base key is not checked in state (row 6 is §2.3 only).
    cases.v3("torsion base key", &base, OK, |s| {
        s.base = x25519_torsion_variant(&s.base, 1)
    });
    // Row 12 / 13: the sending chain's secret clamped, its public key §2.3, not recomputed.
    for (i, k) in unclamped_forms(&some_send.dhs.secret).iter().enumerate() {
        let name: &str = format!("DHs unclamped ({i})").leak();
        cases.v3(name, &with_send, NC, |s| sm(s).dhs.secret = *k);
    }
    for (i, k) in unclamped_forms(&unacked.sending().unwrap().dhs.secret)[..2]
        .iter()
        .enumerate()
    {
        let name: &str = format!("opening DHs unclamped ({i})").leak();
        cases.v3(name, &unacked, NC, |s| sm(s).dhs.secret = *k);
    }
    cases.v3("DHs public not canonical", &with_send, IK, |s| {
        sm(s).dhs.public = P_BYTES
    });
    cases.v3("opening DHs public top bit", &unacked, IK, |s| {
        sm(s).dhs.public[31] |= 0x80
    });
    cases.v3("DHs public of another key", &unacked, OK, |s| {
        sm(s).dhs.public = xpub(&[5; 32])
    });
    cases.v3("DHs public low order", &with_send, OK, |s| {
        sm(s).dhs.public = [0; 32]
    });
    cases.v3("DHs another clamped secret", &unacked, OK, |s| {
        sm(s).dhs = key_pair(clamp([0x5A; 32]))
    });
    cases.v3("Ns = 2^32 − 1", &unacked, OK, |s| sm(s).n = u32::MAX);
    // Row 9, §8.1.
    cases.v3("timer start 2", &base, NC, |s| s.timer.start = 2);
    cases.v3("timer off, on-read", &unacked, NC, |s| s.timer.start = 1);
    cases.v3("timer 60 s on-read", &base, OK, |s| {
        s.timer = sc::Timer {
            duration_s: 60,
            start: 1,
            version: u32::MAX,
        }
    });

    // ---- version 3, byte patches ----
    let valid = base.to_state();
    let opening = unacked.to_state();
    let dhs_at = unacked.ratchet_offset();
    let dhr_at = base.ratchet_offset();
    let old_at = dhr_at + 68 + 1 + 8;
    let first_entry = old_at + 4 + 32 * base.o().old.len() + 4;
    let timer_at = dhr_at - 32 - 16 - 9;
    cases.patch("phase 3", &valid, NC, |b| b[0] = 3);
    cases.patch("phase 0xFF", &opening, NC, |b| b[0] = 0xFF);
    // Another phase byte makes the rest of the body mean other rows.
    cases.patch("open body as phase 0x00", &valid, None, |b| b[0] = 0);
    cases.patch("opening body as phase 0x01", &opening, None, |b| b[0] = 1);
    cases.patch("opening body as phase 0x02", &opening, None, |b| b[0] = 2);
    cases.patch("phase 0x01 as 0x02", &valid, OK, |b| b[0] = 2);
    cases.patch("trailing", &valid, TB, |b| b.push(0));
    cases.patch("opening trailing", &opening, TB, |b| b.push(0));
    cases.patch("truncated", &valid, TR, |b| {
        b.pop();
    });
    cases.patch("opening truncated", &opening, TR, |b| {
        b.pop();
    });
    cases.patch("empty body", &valid, TR, |b| b.clear());
    cases.patch("opk flag 2", &valid, NC, |b| {
        let at = 1 + 64 + 2 + CTX.len() + 32 + 4;
        assert_eq!(b[at], 1);
        b[at] = 2;
    });
    cases.patch("sending flag 2", &valid, NC, |b| {
        assert_eq!(b[dhr_at + 68], 0);
        b[dhr_at + 68] = 2;
    });
    cases.patch("context length 1025, body ends there", &valid, NC, |b| {
        b[65..67].copy_from_slice(&1025u16.to_be_bytes());
        b.truncate(67);
    });
    // Positions SPEC.md leaves open, as the library decides them: the start byte is checked as
    // it is read, "off with on-read" once the timer is read; the limits row is read whole.
    cases.patch("timer start 2, cut inside its version", &valid, NC, |b| {
        b[timer_at + 4] = 2;
        b.truncate(timer_at + 7);
    });
    cases.patch(
        "timer off on-read, cut inside its version",
        &valid,
        TR,
        |b| {
            b[timer_at..timer_at + 4].copy_from_slice(&[0; 4]);
            b[timer_at + 4] = 1;
            b.truncate(timer_at + 7);
        },
    );
    cases.patch("max_skip 0, cut inside the next limit", &valid, TR, |b| {
        b[timer_at + 9..timer_at + 13].copy_from_slice(&[0; 4]);
        b.truncate(timer_at + 15);
    });
    cases.patch("max_skip > max_skipped_keys, cut in RK", &valid, NC, |b| {
        b[timer_at + 9..timer_at + 13].copy_from_slice(&3000u32.to_be_bytes());
        b.truncate(timer_at + 30);
    });
    // (Where the secret's rule stands against its public key's: test 7e.)
    cases.patch("opening DHs unclamped, cut inside CKs", &opening, NC, |b| {
        b[dhs_at] |= 0x01;
        b.truncate(dhs_at + 70);
    });
    cases.patch(
        "opening DHs public ≥ p, body ends after it",
        &opening,
        IK,
        |b| {
            b[dhs_at + 32..dhs_at + 64].copy_from_slice(&P_BYTES);
            b.truncate(dhs_at + 64);
        },
    );
    cases.patch("opening body ends inside Ns", &opening, TR, |b| {
        b.truncate(dhs_at + 99);
    });
    cases.patch("DHr ≥ p, body ends after it", &valid, IK, |b| {
        b[dhr_at..dhr_at + 32].copy_from_slice(&P_BYTES);
        b.truncate(dhr_at + 32);
    });
    // Rows 16–17 are checked "once the blob is read": a cut blob is Truncated first.
    // ... but the counts as soon as they are read.
    cases.patch(
        "old count over the limit, cut after the count",
        &valid,
        NC,
        |b| {
            b[old_at..old_at + 4].copy_from_slice(&6u32.to_be_bytes());
            b.truncate(old_at + 4);
        },
    );
    cases.patch("skipped count 2^32 − 1", &valid, NC, |b| {
        b[first_entry - 4..first_entry].copy_from_slice(&u32::MAX.to_be_bytes());
    });
    cases.patch(
        "skipped count over the limit, first key not canonical",
        &valid,
        NC,
        |b| {
            b[first_entry - 4..first_entry].copy_from_slice(&2001u32.to_be_bytes());
            b[first_entry + 31] = 0x80;
        },
    );
    cases.patch(
        "old key = DHr, cut inside the skipped list",
        &valid,
        TR,
        |b| {
            let dhr = b[dhr_at..dhr_at + 32].to_vec();
            b[old_at + 4..old_at + 36].copy_from_slice(&dhr);
            b.truncate(first_entry + 100);
        },
    );
    cases.patch(
        "skipped N = 2^32 − 1, cut after its entry",
        &valid,
        TR,
        |b| {
            b[first_entry + 32..first_entry + 36].copy_from_slice(&u32::MAX.to_be_bytes());
            b.truncate(first_entry + 80);
        },
    );
    cases.patch(
        "skipped N = 2^32 − 1, cut inside its entry",
        &valid,
        TR,
        |b| {
            b[first_entry + 32..first_entry + 36].copy_from_slice(&u32::MAX.to_be_bytes());
            b.truncate(first_entry + 36);
        },
    );
    cases.patch("skipped count over the limit", &valid, NC, |b| {
        let extra = b[first_entry..first_entry + 80].to_vec();
        let n = base.o().skipped.len();
        b[first_entry - 4..first_entry]
            .copy_from_slice(&u32::try_from(n + 1).unwrap().to_be_bytes());
        b.extend_from_slice(&extra);
        // 5 entries over a limit of 4 keys: max_skip and max_skipped_keys become 4.
        b[timer_at + 9..timer_at + 17].copy_from_slice(&[0, 0, 0, 4, 0, 0, 0, 4]);
    });
    cases.patch("skipped key not canonical, cut after it", &valid, IK, |b| {
        b[first_entry + 31] = 0x80;
        b.truncate(first_entry + 32);
    });
    // ... as the library decides it (SPEC.md does not say), before the end of the body is
    // checked.
    cases.patch("old key = DHr, trailing byte", &valid, NC, |b| {
        let dhr = b[dhr_at..dhr_at + 32].to_vec();
        b[old_at + 4..old_at + 36].copy_from_slice(&dhr);
        b.push(0);
    });
    cases.patch("unknown skipped key, trailing byte", &valid, NC, |b| {
        b[first_entry..first_entry + 32].copy_from_slice(&[9; 32]);
        b.push(0);
    });

    // ---- §10.0 envelope ----
    let mut raw = valid.clone();
    raw[0] = KIND_STORE;
    cases.raw("kind", raw, Some(Err("UnknownType(17)")));
    for v in [0u8, 4, 0xFF] {
        let mut raw = valid.clone();
        raw[1] = v;
        let e: &str = format!("UnknownVersion({v})").leak();
        cases.raw("version", raw, Some(Err(e)));
    }
    // Versions 1 and 2 are read: the version byte passes, the check then fails.
    for v in [V1, V2] {
        let mut raw = valid.clone();
        raw[1] = v;
        cases.raw("v3 blob relabelled", raw, Some(Err("ChecksumMismatch")));
    }
    let mut raw = valid.clone();
    raw[20] ^= 1;
    cases.raw("checksum", raw, Some(Err("ChecksumMismatch")));
    cases.raw("short", valid[..15].to_vec(), TR);
    cases.raw("kind only", valid[..1].to_vec(), TR);
    // The check is the last 16 bytes: 16 bytes have no kind byte, 17 bytes no version byte.
    cases.raw("16 bytes", valid[valid.len() - 16..].to_vec(), TR);
    cases.raw("17 bytes", vec![KIND_SESSION; 17], TR);
    let mut eighteen = vec![KIND_SESSION, 7];
    eighteen.extend_from_slice(&[0; 16]);
    cases.raw(
        "18 bytes, version 7",
        eighteen,
        Some(Err("UnknownVersion(7)")),
    );
    // A version-2 or -3 body sealed as the other version: other rows, decoded as such.
    cases.raw(
        "v3 body sealed as v2",
        envelope_v(KIND_SESSION, V2, sc::body(&valid)),
        None,
    );

    // ---- version 2 (read only): the other layout, its rules, its migration ----
    let pending = Legacy {
        pending_dhs: clamp([0x77; 32]),
        opening_dhr: [0; 32],
    };
    let opening_legacy = Legacy {
        pending_dhs: [0; 32],
        opening_dhr: spk_b,
    };
    let v2_valid = base.encode_v2(&pending);
    let v2_opening = unacked.encode_v2(&opening_legacy);
    // What reading drops (§10.3): the pending side's old `DHs` secret, the opening phase's `DHr`.
    assert!(contains(&v2_valid, &pending.pending_dhs));
    assert!(contains(&v2_opening, &spk_b));
    cases.v2("v2 valid", &base, &pending, OK, |_, _| {});
    cases.v2("v2 valid opening", &unacked, &opening_legacy, OK, |_, _| {});
    cases.v2("v2 with send", &with_send, &pending, OK, |_, _| {});
    cases.v2("v2 responder", &base, &pending, OK, |s, _| {
        s.phase = Phase::Responder
    });
    cases.v2("v2 bad local identity", &base, &pending, IK, |s, _| {
        s.local = [0; 32]
    });
    cases.v2("v2 small-order remote", &base, &pending, IK, |s, _| {
        s.remote = small_order
    });
    cases.v2("v2 torsion local", &base, &pending, IK, |s, _| {
        s.local = torsion(&s.local, 2)
    });
    cases.v2(
        "v2 torsion remote",
        &unacked,
        &opening_legacy,
        IK,
        |s, _| s.remote = torsion(&s.remote, 4),
    );
    cases.v2("v2 pending DHs unclamped", &base, &pending, NC, |_, l| {
        l.pending_dhs[0] |= 1
    });
    cases.v2(
        "v2 sending DHs unclamped",
        &with_send,
        &pending,
        NC,
        |s, _| sm(s).dhs.secret[31] &= !0x40,
    );
    cases.v2(
        "v2 opening DHs unclamped",
        &unacked,
        &opening_legacy,
        NC,
        |s, _| sm(s).dhs.secret[0] |= 4,
    );
    cases.v2(
        "v2 opening DHr not canonical",
        &unacked,
        &opening_legacy,
        IK,
        |_, l| l.opening_dhr = P_BYTES,
    );
    cases.v2(
        "v2 opening DHr low order",
        &unacked,
        &opening_legacy,
        OK,
        |_, l| l.opening_dhr = [0; 32],
    );
    cases.v2("v2 max_skip 0", &base, &pending, NC, |s, _| s.limits[0] = 0);
    cases.v2(
        "v2 max_skip > max_skipped_keys",
        &base,
        &pending,
        NC,
        |s, _| s.limits[0] = 2001,
    );
    cases.v2("v2 context 1025", &base, &pending, NC, |s, _| {
        s.context = vec![0; 1025]
    });
    cases.v2("v2 timer start 2", &base, &pending, NC, |s, _| {
        s.timer.start = 2
    });
    cases.v2("v2 DHr not canonical", &base, &pending, IK, |s, _| {
        om(s).dhr = P_BYTES
    });
    cases.v2("v2 unknown skipped key", &base, &pending, NC, |s, _| {
        om(s).skipped[0].key = [9; 32]
    });
    cases.v2("v2 skipped N = 2^32 − 1", &base, &pending, NC, |s, _| {
        om(s).skipped[1].n = u32::MAX
    });
    cases.v2(
        "v2 current-chain skipped N = Nr",
        &base,
        &pending,
        NC,
        |s, _| om(s).skipped[3].n = 3,
    );
    cases.v2("v2 ages increasing", &base, &pending, NC, |s, _| {
        let o = om(s);
        o.skipped[0].stamp = o.received;
    });
    cases.v2("v2 old = DHr", &base, &pending, NC, |s, _| {
        let o = om(s);
        o.old.push(o.dhr);
    });
    cases.v2(
        "v2 old count over max_old_chains",
        &base,
        &pending,
        NC,
        |s, _| {
            s.limits[2] = 1;
            om(s).old.insert(0, [5; 32]);
        },
    );
    cases.v2("v2 skipped_at values", &base, &pending, OK, |s, _| {
        for (e, t) in om(s).skipped.iter_mut().zip([0, 1, 2, u64::MAX - 1]) {
            e.skipped_at = t;
        }
    });
    // Byte patches of the version-2 layout.
    let d = v2_dhs_at(&base);
    let d_open = v2_dhs_at(&unacked);
    let v2_send_flag = |at: usize| at + 32 + 1 + 32;
    cases.patch("v2 role 2", &v2_valid, NC, |b| b[0] = 2);
    cases.patch("v2 acknowledged flag 2", &v2_valid, NC, |b| b[1] = 2);
    cases.patch("v2 responder not acknowledged", &v2_valid, NC, |b| {
        (b[0], b[1]) = (1, 0)
    });
    cases.patch(
        "v2 responder not acknowledged, then cut",
        &v2_valid,
        NC,
        |b| {
            (b[0], b[1]) = (1, 0);
            b.truncate(2);
        },
    );
    cases.patch(
        "v2 initiator not acknowledged, with recv",
        &v2_valid,
        NC,
        |b| b[1] = 0,
    );
    cases.patch(
        "v2 opening, acknowledged without recv",
        &v2_opening,
        NC,
        |b| b[1] = 1,
    );
    cases.patch("v2 DHr flag 0", &v2_valid, NC, |b| b[d + 32] = 0);
    cases.patch("v2 DHr flag 2", &v2_valid, NC, |b| b[d + 32] = 2);
    cases.patch("v2 opening without send", &v2_opening, NC, |b| {
        let at = v2_send_flag(d_open);
        b[at] = 0;
        b.drain(at + 1..at + 37);
    });
    cases.patch("v2 opening with recv", &v2_opening, NC, |b| {
        let at = v2_send_flag(d_open) + 37;
        assert_eq!(b[at], 0);
        b[at] = 1;
        b.splice(at + 1..at + 1, [7; 36]);
    });
    cases.patch("v2 acknowledged without recv", &v2_valid, NC, |b| {
        let at = v2_send_flag(d) + 1;
        assert_eq!(b[at], 1);
        b[at] = 0;
        b.drain(at + 1..at + 37);
    });
    let pn_at = |at: usize| v2_send_flag(at) + 37 + 1;
    cases.patch("v2 opening with a PN", &v2_opening, NC, |b| {
        b[pn_at(d_open) + 3] = 9
    });
    cases.patch("v2 opening with a received count", &v2_opening, NC, |b| {
        b[pn_at(d_open) + 7] = 7
    });
    // The phase is decided once `received` is read; the counts as they are read.
    // The phase: SPEC.md gives no position; the library checks it once the lists are read,
    // before the end of the body.
    cases.patch("v2 bad phase, cut after received", &v2_valid, TR, |b| {
        b[1] = 0;
        b.truncate(pn_at(d) + 8);
    });
    cases.patch("v2 bad phase, cut inside received", &v2_valid, TR, |b| {
        b[1] = 0;
        b.truncate(pn_at(d) + 7);
    });
    let v2_old_at = pn_at(d) + 8;
    cases.patch(
        "v2 old count over the limit, cut after it",
        &v2_valid,
        NC,
        |b| {
            b[v2_old_at..v2_old_at + 4].copy_from_slice(&6u32.to_be_bytes());
            b.truncate(v2_old_at + 4);
        },
    );
    cases.patch(
        "v2 opening old count 1, cut after it",
        &v2_opening,
        TR,
        |b| {
            let at = pn_at(d_open) + 8;
            b[at..at + 4].copy_from_slice(&1u32.to_be_bytes());
            b.truncate(at + 4);
        },
    );
    let v2_first_entry = v2_old_at + 4 + 32 + 4;
    cases.patch(
        "v2 skipped count over the limit, cut after it",
        &v2_valid,
        NC,
        |b| {
            b[v2_first_entry - 4..v2_first_entry].copy_from_slice(&2001u32.to_be_bytes());
            b.truncate(v2_first_entry);
        },
    );
    // SPEC.md reads the entries' rules of rows 16–17 "once the blob is read" in version 2 too
    // (only the counts are checked as they are read).
    cases.patch(
        "v2 skipped N = 2^32 − 1, cut after its entry",
        &v2_valid,
        TR,
        |b| {
            let at = v2_first_entry + 32;
            b[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
            b.truncate(v2_first_entry + 80);
        },
    );
    cases.patch(
        "v2 opening skipped count 1, cut after it",
        &v2_opening,
        TR,
        |b| {
            let n = b.len();
            b[n - 4..].copy_from_slice(&1u32.to_be_bytes());
        },
    );
    cases.patch("v2 bad phase, invalid old key", &v2_valid, IK, |b| {
        b[1] = 0;
        b[v2_old_at + 4 + 31] = 0xFF;
    });
    cases.patch("v2 bad phase, trailing byte", &v2_valid, NC, |b| {
        b[1] = 0;
        b.push(0);
    });
    cases.patch(
        "v2 opening with a PN, trailing byte",
        &v2_opening,
        NC,
        |b| {
            b[pn_at(d_open) + 3] = 9;
            b.push(0);
        },
    );
    cases.patch(
        "v2 unknown skipped key, trailing byte",
        &v2_valid,
        NC,
        |b| {
            b[v2_first_entry] ^= 1;
            b.push(0);
        },
    );
    cases.patch(
        "v2 max_skip 0, cut inside the next limit",
        &v2_valid,
        TR,
        |b| {
            let t = d - 32 - 9;
            b[t - 16..t - 12].copy_from_slice(&[0; 4]);
            b.truncate(t - 10);
        },
    );
    cases.patch("v2 DHs unclamped, body ends after it", &v2_valid, NC, |b| {
        b[d] |= 1;
        b.truncate(d + 32);
    });
    cases.patch("v2 trailing", &v2_valid, TB, |b| b.push(0));
    cases.patch("v2 truncated", &v2_opening, TR, |b| {
        b.pop();
    });

    // ---- version 1 (read only): version 2's layout, clamped on reading ----
    cases.0.push((
        "v2 body sealed as v1".into(),
        envelope_v(KIND_SESSION, V1, sc::body(&v2_valid)),
        OK,
        Some(base.to_state()),
    ));
    let mut loose = pending;
    loose.pending_dhs = unclamped(&pending.pending_dhs, 0);
    cases.0.push((
        "v1 pending DHs unclamped".into(),
        base.encode_v1(&loose),
        OK,
        Some(base.to_state()),
    ));
    let mut v1 = with_send.clone();
    sm(&mut v1).dhs.secret = unclamped(&some_send.dhs.secret, 1);
    cases.0.push((
        "v1 sending DHs unclamped".into(),
        v1.encode_v1(&pending),
        OK,
        Some(with_send.to_state()),
    ));
    let mut v1 = base.clone();
    om(&mut v1).skipped[1].n = u32::MAX;
    cases.raw(
        "v1 old-chain skipped N = 2^32 − 1",
        v1.encode_v1(&pending),
        NC,
    );
    cases.run(load_session_both);

    // The two version-2 blobs re-save without what the old format kept.
    for (blob, dropped) in [(&v2_valid, pending.pending_dhs), (&v2_opening, spk_b)] {
        let resaved = Session::from_bytes(blob)
            .unwrap()
            .to_bytes()
            .unwrap()
            .to_vec();
        assert!(
            !contains(&resaved, &dropped),
            "§10.3: dropped on reading version 2"
        );
    }
}

/// Test 7e: a check position where the library departs from SPEC.md as written. This test
/// asserts SPEC.md and fails against the library until one of the two changes:
///
/// - §2 rule 7 ("fields are read and validated strictly in order") with §10.3 row 12/13 and
///   §10.2 ("secret clamped, else NonCanonical; public §2.3"): a `secret ‖ public` pair whose
///   secret is not clamped is `NonCanonical` as soon as the secret is read. The library reads
///   the public key first (an invalid one is `InvalidKey`, a cut one `Truncated`).
#[test]
fn check_order_follows_spec() {
    let (w_opening, _) = setup(25, true, false, false, CTX);
    let opening = w_opening.alice.view().to_state();
    let dhs_at = w_opening.alice.view().ratchet_offset();

    let mut cases = Cases::default();
    // D1, session (row 12 of phase 0x00).
    cases.patch("opening DHs unclamped, public ≥ p", &opening, NC, |b| {
        b[dhs_at] |= 0x01;
        b[dhs_at + 32..dhs_at + 64].copy_from_slice(&P_BYTES);
    });
    cases.patch(
        "opening DHs unclamped, body ends after it",
        &opening,
        NC,
        |b| {
            b[dhs_at] |= 0x01;
            b.truncate(dhs_at + 32);
        },
    );
    cases.patch(
        "opening DHs unclamped, cut inside its public key",
        &opening,
        NC,
        |b| {
            b[dhs_at] |= 0x01;
            b.truncate(dhs_at + 40);
        },
    );
    // D1, prekey store (§10.2): a signed prekey's and a one-time prekey's pair.
    let mut rng = ChaCha20Rng::from_seed([39; 32]);
    let seed: K32 = draw(&mut rng);
    let mut bob = MyBob::new(Ident::new(seed));
    bob.rotate_signed_prekey(&mut rng, NOW);
    bob.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let store = bob.store_state();
    let (spk, otk) = (9 + 12, 9 + 140 + 2 + 4 + 4);
    for (what, at) in [("signed", spk), ("one-time", otk)] {
        let name: &str = format!("{what} prekey secret unclamped, public ≥ p").leak();
        cases.patch(name, &store, NC, |b| {
            b[at] |= 0x01;
            b[at + 32..at + 64].copy_from_slice(&P_BYTES);
        });
        let name: &str =
            format!("{what} prekey secret unclamped, cut inside its public key").leak();
        cases.patch(name, &store, NC, |b| {
            b[at] |= 0x01;
            b.truncate(at + 40);
        });
    }
    cases.run(|blob| {
        if blob[0] == KIND_STORE {
            let mine = MyBob::load_store(Ident::new(seed), blob)
                .map(|s| s.store_state())
                .map_err(|e| format!("{e:?}"));
            let theirs = PreKeyStore::from_bytes(blob)
                .map(|s| s.to_bytes().unwrap().to_vec())
                .map_err(|e| format!("{e:?}"));
            (mine, theirs)
        } else {
            load_session_both(blob)
        }
    });
}

/// Test 7b: a version-1 session blob (§10.3, read only) migrates identically in both
/// implementations: `DHs` clamped (§10.0), each purge deadline `D` turned into
/// `skipped_at = D − 2 · MAX_CLOCK_SKEW` (saturating; `2^64 − 1` stays); the result is the
/// version-3 blob, a fixed point from then on, and the session keeps working — also on a
/// sending chain whose secret was stored unclamped.
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
    assert_eq!(base.o().skipped.len(), 4);
    assert!(base.o().send.is_none());
    let skew2 = 2 * MAX_CLOCK_SKEW;
    let deadline_sets: [[u64; 4]; 3] = [
        [u64::MAX, 0, skew2 - 1, skew2],
        [skew2 + 1, 1_700_000_000_000, u64::MAX - 1, u64::MAX],
        [u64::MAX - skew2, u64::MAX - skew2 - 1, 1, u64::MAX],
    ];
    for (i, deadlines) in deadline_sets.iter().enumerate() {
        for variant in 0..3u8 {
            let mut v1 = base.clone();
            for (e, d) in om(&mut v1).skipped.iter_mut().zip(deadlines) {
                e.skipped_at = *d;
            }
            // The old `DHs` a version-1 library kept while sending was pending, as drawn.
            let legacy = Legacy {
                pending_dhs: unclamped(&clamp([0x66; 32]), variant),
                opening_dhr: [0; 32],
            };
            let blob = v1.encode_v1(&legacy);
            assert_eq!(blob[1], V1);
            // What SPEC.md says the migration gives.
            let mut expected = base.clone();
            for (e, d) in om(&mut expected).skipped.iter_mut().zip(deadlines) {
                e.skipped_at = if *d == u64::MAX {
                    u64::MAX
                } else {
                    d.saturating_sub(skew2)
                };
            }
            let expected = expected.to_state();
            let (mine, theirs) = load_session_both(&blob);
            assert_eq!(mine, Ok(expected.clone()), "set {i} variant {variant}");
            assert_eq!(theirs, Ok(expected.clone()), "set {i} variant {variant}");
            assert!(!contains(&expected, &clamp(legacy.pending_dhs)));
            // Re-saved as version 3, it is a fixed point in both.
            assert_eq!(
                load_session_both(&expected),
                (Ok(expected.clone()), Ok(expected.clone()))
            );
        }
    }
    // The migrated session keeps the conversation going in both, byte for byte.
    let mut twin = Twin::load(&base.encode_v1(&Legacy::default()));
    let mut rng = ChaCha20Rng::from_seed([33; 32]);
    let reply = twin.send(&mut rng, b"after migration");
    recv(&mut w, false, &reply, Ok(b"after migration"));
    assert_eq!(twin.recv(&c[0]).unwrap(), [0]);
    assert_eq!(twin.recv(&b[0]).unwrap(), [0]);
    assert_eq!(twin.recv(&b[0]).unwrap_err(), "DuplicateMessage");
    // A sending chain stored with an unclamped secret: the same key once clamped, so the next
    // receiving step (a DH with it) works in both.
    let with_send = twin.mine.clone();
    let mut v1 = with_send.clone();
    let secret = with_send.sending().unwrap().dhs.secret;
    sm(&mut v1).dhs.secret = unclamped(&secret, 2);
    let mut twin = Twin::load(&v1.encode_v1(&Legacy::default()));
    assert_eq!(twin.mine, with_send);
    let d0 = send(&mut w, false, b"d0");
    assert_eq!(twin.recv(&d0).unwrap(), b"d0");
}

/// Twin helpers for migrated state.
impl Twin {
    /// Both implementations of one blob (any version); they must re-save it identically.
    fn load(blob: &[u8]) -> Self {
        let t = Twin {
            mine: MySession::from_state(blob).unwrap(),
            theirs: Session::from_bytes(blob).unwrap(),
        };
        t.same();
        t
    }
}

/// The body of a content frame (§8.2) carried as a raw plaintext.
fn frame_body(pt: &[u8]) -> &[u8] {
    let len = u32::from_be_bytes(pt[19..23].try_into().unwrap()) as usize;
    &pt[23..23 + len]
}

/// Test 7c: version-2 session blobs (§10.3, read only) migrate identically in both
/// implementations, whichever phase they are in: an unacknowledged initiator loses its `DHr`
/// (the signed prekey), a responder whose sending side was pending loses the signed prekey's
/// secret; the conversation then goes on, in both, byte for byte.
#[test]
fn session_v2_migration_agrees() {
    let (mut w, a2) = setup(34, false, false, true, CTX);
    let BobPre::Mine(bob_store) = &w.bob_pre else {
        panic!("independent Bob expected")
    };
    let spk = bob_store.store.signed[0].key;
    // Bob right after `respond`: what a version-2 library wrote kept `DHs` = SPK_B.
    let bob = w.bob.view();
    assert!(bob.o().send.is_none());
    let legacy = Legacy {
        pending_dhs: spk.secret,
        opening_dhr: [0; 32],
    };
    let v2 = bob.encode_v2(&legacy);
    assert!(contains(&v2, &spk.secret));
    let mut bob_twin = Twin::load(&v2);
    assert_eq!(bob_twin.mine, bob);
    assert!(!contains(&bob_twin.theirs.to_bytes().unwrap(), &spk.secret));
    let mut rng = ChaCha20Rng::from_seed([35; 32]);
    let reply = bob_twin.send(&mut rng, b"reply");
    recv(&mut w, true, &reply, Ok(b"reply"));
    assert_eq!(bob_twin.recv(&a2).unwrap(), b"a\x02");

    // Alice in the opening phase, as version 2 wrote it (with `DHr` = SPK_B).
    let (w2, a2) = setup(36, false, false, false, CTX);
    let alice = w2.alice.view();
    assert_eq!(alice.phase, Phase::AwaitingReply);
    let legacy = Legacy {
        pending_dhs: [0; 32],
        opening_dhr: current_spk_public(&w2.bob_pre),
    };
    let v2 = alice.encode_v2(&legacy);
    let mut alice_twin = Twin::load(&v2);
    assert!(!contains(
        &alice_twin.theirs.to_bytes().unwrap(),
        &legacy.opening_dhr
    ));
    let mut rng = ChaCha20Rng::from_seed([37; 32]);
    let a3 = alice_twin.send(&mut rng, b"a3");
    let mut bob = match w2.bob {
        Party::Mine(b, _) => *b,
        Party::Crate(_) => panic!("independent Bob expected"),
    };
    assert_eq!(bob.decrypt(&a3).unwrap(), b"a3");
    assert_eq!(bob.decrypt(&a2).unwrap(), b"a\x02");
    let b0 = bob.encrypt_logged(&mut rng, b"b0").unwrap().0;
    assert_eq!(alice_twin.recv(&b0).unwrap(), b"b0");
    assert_eq!(alice_twin.mine.phase, Phase::Acknowledged);
}

fn current_spk_public(bob: &BobPre) -> K32 {
    let blob = bob.store_state();
    let (_, s) = StoreBlob::decode(&blob).unwrap();
    s.signed.last().unwrap().key.public
}

fn load_json(path: &str) -> serde_json::Value {
    let path = format!("{}/test-vectors/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn hex_field(v: &serde_json::Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("{key}"))).unwrap()
}

/// Test 7d: the frozen blobs of `test-vectors/migration/` (written by the version-2 library)
/// load in both implementations to the same version-3 bytes, without the secrets and keys
/// version 3 no longer keeps, and the messages in flight when they were saved still arrive.
#[test]
fn frozen_version_2_blobs_migrate() {
    let v = load_json("migration/state_v2.json");
    let seed = |k: &str| -> K32 { hex_field(&v, k).try_into().unwrap() };
    let (alice_seed, bob_seed) = (seed("alice_identity_seed"), seed("bob_identity_seed"));
    let ctx = hex_field(&v, "context");
    let mut rng = ChaCha20Rng::from_seed([38; 32]);
    let mut scenarios = 0;
    for sc_v in v["scenarios"].as_array().unwrap() {
        let name = sc_v["name"].as_str().unwrap();
        let mut alice = sc_v
            .get("alice")
            .map(|_| Twin::load(&hex_field(sc_v, "alice")));
        let mut bob = sc_v.get("bob").map(|_| Twin::load(&hex_field(sc_v, "bob")));
        let mut stores = sc_v
            .get("bob_store")
            .map(|_| BobPre::both(&bob_seed, &hex_field(sc_v, "bob_store")));
        for t in alice.iter().chain(&bob) {
            let old = hex_field(
                sc_v,
                if t.mine.local == Ident::new(alice_seed).ik {
                    "alice"
                } else {
                    "bob"
                },
            );
            assert_eq!(old[1], V2, "{name}");
            let (_, parsed) = SessionBlob::decode(&old).unwrap();
            assert_eq!(parsed, t.mine.0, "{name}");
        }
        if let Some(a) = &alice
            && a.mine.phase == Phase::AwaitingReply
        {
            // Its `DHr`, the signed prekey, is dropped (§10.3).
            let store = hex_field(sc_v, "bob_store");
            let spk = StoreBlob::decode(&store)
                .unwrap()
                .1
                .signed
                .last()
                .unwrap()
                .key
                .public;
            assert!(contains(&hex_field(sc_v, "alice"), &spk), "{name}");
            assert!(!contains(&a.theirs.to_bytes().unwrap(), &spk), "{name}");
        }
        if let Some(secret) = sc_v.get("signed_prekey_secret") {
            // The responder's pending side: the signed prekey's secret is in the version-2 blob
            // and not in the migrated one.
            let secret = hex::decode(secret.as_str().unwrap()).unwrap();
            assert!(contains(&hex_field(sc_v, "bob"), &secret), "{name}");
            let b = bob.as_ref().unwrap();
            assert!(b.mine.o().send.is_none(), "{name}");
            assert!(!contains(&b.theirs.to_bytes().unwrap(), &secret), "{name}");
            assert!(!contains(&b.mine.to_state(), &secret), "{name}");
        }
        if let Some(stores) = &stores {
            assert_eq!(stores[0].store_state(), stores[1].store_state(), "{name}");
        }
        for m in sc_v["in_flight"].as_array().into_iter().flatten() {
            let wire = hex_field(m, "wire");
            let body = m["body"].as_str().unwrap().as_bytes();
            let to = if m["to"] == "bob" {
                &mut bob
            } else {
                &mut alice
            };
            let pt = match (to.as_mut(), stores.as_mut()) {
                (Some(t), _) => t.recv(&wire).unwrap(),
                (None, Some([mine, theirs])) => {
                    let (s1, p1) = mine.respond(&wire, &ctx).unwrap();
                    let (s2, p2) = theirs.respond(&wire, &ctx).unwrap();
                    assert_eq!((s1.state(), &p1), (s2.state(), &p2), "{name}");
                    assert_eq!(mine.store_state(), theirs.store_state(), "{name}");
                    *to = Some(Twin::load(&s2.state()));
                    p1
                }
                (None, None) => panic!("{name}: no recipient"),
            };
            assert_eq!(frame_body(&pt), body, "{name}");
        }
        // Each side that can answer does, and the other reads it.
        if let (Some(a), Some(b)) = (alice.as_mut(), bob.as_mut()) {
            let m = b.send(&mut rng, b"from bob after migration");
            assert_eq!(a.recv(&m).unwrap(), b"from bob after migration", "{name}");
            let m = a.send(&mut rng, b"from alice after migration");
            assert_eq!(b.recv(&m).unwrap(), b"from alice after migration", "{name}");
        }
        if let Some(replay) = sc_v.get("replay") {
            let replay = hex::decode(replay.as_str().unwrap()).unwrap();
            let context = hex_field(sc_v, "replay_context");
            for s in stores.as_mut().unwrap() {
                assert_eq!(
                    s.respond(&replay, &context).err().unwrap(),
                    "DuplicateMessage",
                    "{name}"
                );
            }
        }
        scenarios += 1;
    }
    assert_eq!(scenarios, 4);

    // The frozen copy of state.json's version-2 vectors: every blob loads in both to the same
    // bytes; a pending sending side's `DHs` secret and an opening initiator's `DHr` are gone.
    let v = load_json("migration/state_v2_vectors.json");
    let bob_seed: K32 = hex_field(&v, "bob_identity_seed").try_into().unwrap();
    let mut seen = BTreeMap::new();
    for e in v["entries"].as_array().unwrap() {
        let (name, object, blob) = (
            e["name"].as_str().unwrap(),
            e["object"].as_str().unwrap(),
            hex_field(e, "bytes"),
        );
        let f = &e["fields"];
        *seen.entry(object).or_insert(0) += 1;
        match object {
            "session" | "session_v1" => {
                let t = Twin::load(&blob);
                let resaved = t.theirs.to_bytes().unwrap().to_vec();
                assert_eq!(resaved[1], STATE_VERSION, "{name}");
                if object == "session" {
                    let dhs = hex_field(f, "dhs_secret");
                    assert!(contains(&blob, &dhs), "{name}");
                    assert_eq!(
                        contains(&resaved, &dhs),
                        !f["send"].is_null(),
                        "{name}: DHs"
                    );
                    let opening =
                        f["role"] == "initiator" && f["acknowledged"].as_bool() == Some(false);
                    assert_eq!(opening, t.mine.phase == Phase::AwaitingReply, "{name}");
                    assert_eq!(
                        contains(&resaved, &hex_field(f, "dhr")),
                        !opening,
                        "{name}: DHr"
                    );
                }
            }
            "prekey_store" | "prekey_store_v1" => {
                let [mine, theirs] = BobPre::both(&bob_seed, &blob);
                assert_eq!(mine.store_state(), theirs.store_state(), "{name}");
                assert_eq!(mine.store_state()[1], STATE_VERSION, "{name}");
            }
            "identity" => {
                let seed = sc::decode_identity(&blob).unwrap();
                assert_eq!(*IdentityKeyPair::from_bytes(&blob).unwrap().seed(), seed);
            }
            other => panic!("{name}: {other}"),
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
}

/// A first message without a one-time prekey from a fresh crate Alice to `bundle`.
fn first_message(rng: &mut ChaCha20Rng, bundle: &[u8], pt: &[u8]) -> Vec<u8> {
    let alice = IdentityKeyPair::generate(rng);
    let bundle = PreKeyBundle::from_bytes(bundle).unwrap();
    let mut s =
        Session::initiate(rng, &alice, &bundle, Trust::FirstUse, &Config::new(CTX)).unwrap();
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
        let theirs = Session::initiate(
            &mut r2,
            &alice,
            &PreKeyBundle::from_bytes(&b).unwrap(),
            Trust::FirstUse,
            &Config::new(CTX),
        )
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

/// Test 9: prekey-store blobs (§10.0, §10.2): version 3 round trips with its stored public keys,
/// version 2 is read (public keys recomputed), version 1 is read and migrated (every seen base
/// key under every held signed prekey, §3.6), and the migrated store refuses the old first
/// messages in any encoding; both implementations agree byte for byte, and on every decode rule.
#[test]
fn prekey_store_versions_agree() {
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
    // (the same id: the record is a set). Its secrets are "as drawn" (unclamped).
    let mut seen = bases.clone();
    seen.push([0; 32]);
    seen.push(xpub(&draw(&mut rng)));
    seen.push(x25519_torsion_variant(&bases[0], 2));
    let mut as_drawn = bob.store.clone();
    for k in &mut as_drawn.signed {
        k.key.secret = unclamped(&k.key.secret, k.id as u8);
    }
    for k in &mut as_drawn.one_time {
        k.key.secret = unclamped(&k.key.secret, k.id as u8);
    }
    let v1 = as_drawn.encode_v1(&seen);
    assert_eq!(v1[1], V1);
    let mine = MyBob::load_store(Ident::new(seed), &v1).unwrap();
    for spk in &mine.store.signed {
        assert_eq!(spk.accepted.len(), 4);
        for base in &bases {
            let id = first_message_id(&dh(&spk.key.secret, base).unwrap());
            assert!(spk.accepted.contains(&id));
        }
    }
    let migrated = mine.store_state();
    assert_eq!(migrated[1], STATE_VERSION);
    let theirs = PreKeyStore::from_bytes(&v1).unwrap();
    assert_eq!(
        theirs.to_bytes().unwrap().to_vec(),
        migrated,
        "migration of a v1 blob"
    );
    assert_eq!(theirs.first_message_capacity(), 4092);
    assert_eq!(mine.first_message_capacity(), 4092);
    // Version 2 of the migrated store (no public keys) reads back to the same bytes.
    let v2 = mine.store.encode_v2();
    assert_eq!(v2.len(), migrated.len() - 32 * (3 + 3));
    for blob in [&migrated, &v2] {
        assert_eq!(
            PreKeyStore::from_bytes(blob)
                .unwrap()
                .to_bytes()
                .unwrap()
                .to_vec(),
            migrated
        );
        assert_eq!(
            MyBob::load_store(Ident::new(seed), blob)
                .unwrap()
                .store_state(),
            migrated
        );
    }

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

    // §10.0: version 3 takes a stored public key as it is (not recomputed from the secret): a
    // store whose current signed prekey holds another valid public key puts that one in bundles.
    let other = xpub(&[0x42; 32]);
    let edited = sc::edit_store(&migrated, |s| s.signed[2].key.public = other);
    let id = IdentityKeyPair::from_seed(&seed);
    let b = PreKeyStore::from_bytes(&edited)
        .unwrap()
        .bundle(&id, None)
        .unwrap();
    assert_eq!(b.to_bytes()[45..77], other);
    let mine = MyBob::load_store(Ident::new(seed), &edited).unwrap();
    assert_eq!(mine.bundle(None), b.to_bytes().to_vec());

    // Decode rules, with what SPEC.md says (None: only agreement is checked).
    // Version 3 offsets: 9 bytes of header, then per signed prekey 140 + 2 + 16 × 4 bytes (id,
    // created_at, secret, public, signature, accepted count and ids); one-time prekeys 68 each.
    let body = sc::body(&migrated).to_vec();
    let entry = 140 + 2 + 16 * 4;
    let spk_at = |i: usize| 9 + i * entry;
    let otk_at = 9 + 3 * entry;
    let mut cases = Cases::default();
    cases.raw("valid v3", migrated.clone(), OK);
    cases.raw("valid v2", v2.clone(), OK);
    cases.raw("valid v1", v1.clone(), OK);
    let dup_id = |b: &mut Vec<u8>| {
        let id = b[spk_at(0)..spk_at(0) + 4].to_vec();
        b[spk_at(1)..spk_at(1) + 4].copy_from_slice(&id);
    };
    cases.patch("trailing", &migrated, TB, |b| b.push(0));
    cases.patch("truncated", &migrated, TR, |b| {
        b.pop();
    });
    cases.patch("empty", &migrated, TR, |b| b.clear());
    cases.patch("signed count 4", &migrated, NC, |b| b[8] = 4);
    cases.patch("signed count 0 (rest trails)", &migrated, TB, |b| b[8] = 0);
    cases.patch("duplicate signed prekey id", &migrated, NC, dup_id);
    // Version 3: a repeated signed-prekey id is checked once all signed prekeys are read.
    cases.patch(
        "duplicate id, cut after the second's signature",
        &migrated,
        TR,
        |b| {
            dup_id(b);
            b.truncate(spk_at(1) + 140);
        },
    );
    cases.patch("duplicate id, cut inside the third", &migrated, TR, |b| {
        dup_id(b);
        b.truncate(spk_at(2) + 10);
    });
    // ... as the library decides it, once the whole body is read (before its end is checked).
    cases.patch(
        "duplicate id, cut in the one-time count",
        &migrated,
        TR,
        |b| {
            dup_id(b);
            b.truncate(otk_at + 2);
        },
    );
    cases.patch("duplicate id, one-time public ≥ p", &migrated, IK, |b| {
        dup_id(b);
        b[otk_at + 4 + 36..otk_at + 4 + 68].copy_from_slice(&P_BYTES);
    });
    cases.patch("duplicate id, trailing byte", &migrated, NC, |b| {
        dup_id(b);
        b.push(0);
    });
    cases.patch("accepted count 4097, then end", &migrated, NC, |b| {
        b.truncate(spk_at(0) + 140);
        b.extend_from_slice(&4097u16.to_be_bytes());
    });
    cases.patch("accepted count 4096, then end", &migrated, TR, |b| {
        b.truncate(spk_at(0) + 140);
        b.extend_from_slice(&4096u16.to_be_bytes());
    });
    let swap_ids = |b: &mut Vec<u8>| {
        let at = spk_at(0) + 142;
        let first = b[at..at + 16].to_vec();
        let second = b[at + 16..at + 32].to_vec();
        b[at..at + 16].copy_from_slice(&second);
        b[at + 16..at + 32].copy_from_slice(&first);
    };
    cases.patch("accepted ids swapped", &migrated, NC, swap_ids);
    cases.patch("accepted id repeated", &migrated, NC, |b| {
        let at = spk_at(2) + 142;
        let first = b[at..at + 16].to_vec();
        b[at + 16..at + 32].copy_from_slice(&first);
    });
    // §2 rule 7: the order of an id is checked once it has been read.
    cases.patch(
        "accepted ids swapped, cut inside the second",
        &migrated,
        TR,
        |b| {
            swap_ids(b);
            b.truncate(spk_at(0) + 142 + 31);
        },
    );
    cases.patch("one-time count 65537, then end", &migrated, NC, |b| {
        b.truncate(otk_at);
        b.extend_from_slice(&65_537u32.to_be_bytes());
    });
    cases.patch("one-time count 65536, then end", &migrated, TR, |b| {
        b.truncate(otk_at);
        b.extend_from_slice(&65_536u32.to_be_bytes());
    });
    cases.patch("one-time ids equal", &migrated, NC, |b| {
        let id = b[otk_at + 4..otk_at + 8].to_vec();
        b[otk_at + 72..otk_at + 76].copy_from_slice(&id);
    });
    cases.patch(
        "one-time ids decreasing, cut in the public key",
        &migrated,
        TR,
        |b| {
            b[otk_at + 72..otk_at + 76].copy_from_slice(&[0; 4]);
            b.truncate(otk_at + 4 + 68 + 50);
        },
    );
    // ORDER guess: the id order relates an entry to the previous one: checked once the whole
    // entry (id, secret, public key) is read, after the key's own rules.
    cases.patch(
        "one-time ids decreasing, public key ≥ p",
        &migrated,
        IK,
        |b| {
            b[otk_at + 72..otk_at + 76].copy_from_slice(&[0; 4]);
            b[otk_at + 72 + 36..otk_at + 72 + 68].copy_from_slice(&P_BYTES);
        },
    );
    // §10.0: secrets stored clamped; public keys §2.3.
    for (name, at) in [
        ("signed prekey 0 secret unclamped", spk_at(0) + 12),
        ("signed prekey 2 secret unclamped", spk_at(2) + 12),
        ("one-time secret unclamped", otk_at + 4 + 4),
        ("last one-time secret unclamped", otk_at + 4 + 2 * 68 + 4),
    ] {
        for variant in 0..3u8 {
            let name: &str = format!("{name} ({variant})").leak();
            cases.patch(name, &migrated, NC, |b| {
                let k: K32 = b[at..at + 32].try_into().unwrap();
                b[at..at + 32].copy_from_slice(&unclamped(&k, variant));
            });
        }
    }
    for (name, at) in [
        ("signed prekey 1 public ≥ p", spk_at(1) + 44),
        ("one-time public top bit", otk_at + 4 + 68 + 36),
    ] {
        cases.patch(name, &migrated, IK, |b| {
            b[at..at + 32].copy_from_slice(&P_BYTES)
        });
    }
    cases.patch("signed prekey public low order", &migrated, OK, |b| {
        b[spk_at(0) + 44..spk_at(0) + 76].copy_from_slice(&[0; 32])
    });
    // A secret is checked before the signature that follows its public key (for the order
    // against the public key itself, see test 7e).
    cases.patch(
        "signed prekey secret unclamped, cut inside its signature",
        &migrated,
        NC,
        |b| {
            let at = spk_at(1) + 12;
            b[at] |= 0x01;
            b.truncate(at + 64 + 10);
        },
    );
    cases.patch(
        "one-time secret unclamped, id order wrong",
        &migrated,
        NC,
        |b| {
            let at = otk_at + 4 + 68;
            b[at..at + 4].copy_from_slice(&[0; 4]);
            let k: K32 = b[at + 4..at + 36].try_into().unwrap();
            b[at + 4..at + 36].copy_from_slice(&unclamped(&k, 1));
        },
    );

    // Version 2 (read only): 108-byte signed entries, 36-byte one-time entries.
    let entry2 = 108 + 2 + 16 * 4;
    let spk2 = |i: usize| 9 + i * entry2;
    let otk2 = 9 + 3 * entry2;
    let dup_id2 = |b: &mut Vec<u8>| {
        let id = b[spk2(0)..spk2(0) + 4].to_vec();
        b[spk2(1)..spk2(1) + 4].copy_from_slice(&id);
    };
    cases.patch("v2 trailing", &v2, TB, |b| b.push(0));
    cases.patch("v2 duplicate signed prekey id", &v2, NC, dup_id2);
    cases.patch("v2 duplicate id, trailing byte", &v2, NC, |b| {
        dup_id2(b);
        b.push(0);
    });
    // ... checked as soon as the second one's signature is read.
    cases.patch("v2 duplicate id, cut after the signature", &v2, NC, |b| {
        dup_id2(b);
        b.truncate(spk2(1) + 108);
    });
    cases.patch("v2 duplicate id, cut inside the signature", &v2, TR, |b| {
        dup_id2(b);
        b.truncate(spk2(1) + 107);
    });
    cases.patch("v2 accepted count 4097, then end", &v2, NC, |b| {
        b.truncate(spk2(0) + 108);
        b.extend_from_slice(&4097u16.to_be_bytes());
    });
    cases.patch("v2 accepted ids swapped", &v2, NC, |b| {
        let at = spk2(0) + 110;
        let first = b[at..at + 16].to_vec();
        let second = b[at + 16..at + 32].to_vec();
        b[at..at + 16].copy_from_slice(&second);
        b[at + 16..at + 32].copy_from_slice(&first);
    });
    cases.patch("v2 one-time count 65537, then end", &v2, NC, |b| {
        b.truncate(otk2);
        b.extend_from_slice(&65_537u32.to_be_bytes());
    });
    cases.patch("v2 one-time ids equal", &v2, NC, |b| {
        let id = b[otk2 + 4..otk2 + 8].to_vec();
        b[otk2 + 40..otk2 + 44].copy_from_slice(&id);
    });
    for (name, at) in [
        ("v2 signed prekey secret unclamped", spk2(1) + 12),
        ("v2 one-time secret unclamped", otk2 + 4 + 36 + 4),
    ] {
        cases.patch(name, &v2, NC, |b| {
            let k: K32 = b[at..at + 32].try_into().unwrap();
            b[at..at + 32].copy_from_slice(&unclamped(&k, 2));
        });
    }
    cases.patch(
        "v2 signed prekey secret unclamped, cut inside the signature",
        &v2,
        NC,
        |b| {
            let at = spk2(1) + 12;
            let k: K32 = b[at..at + 32].try_into().unwrap();
            b[at..at + 32].copy_from_slice(&unclamped(&k, 0));
            b.truncate(at + 32 + 10);
        },
    );

    // Version 1: the version-2 layout without the records, then the seen list.
    let v1_body = sc::body(&v1).to_vec();
    let seen_at = v1_body.len() - 4 - 32 * seen.len();
    cases.patch("v1 trailing", &v1, TB, |b| b.push(0));
    cases.patch("v1 without seen list", &v1, TR, |b| b.truncate(seen_at));
    cases.patch("v1 seen count 1025, then end", &v1, NC, |b| {
        b.truncate(seen_at);
        b.extend_from_slice(&1025u32.to_be_bytes());
    });
    cases.patch("v1 seen count 1024, then end", &v1, TR, |b| {
        b.truncate(seen_at);
        b.extend_from_slice(&1024u32.to_be_bytes());
    });
    cases.patch("v1 seen key ≥ p", &v1, IK, |b| {
        b[seen_at + 4..seen_at + 36].copy_from_slice(&P_BYTES);
    });
    cases.patch("v1 seen key top bit", &v1, IK, |b| {
        b[seen_at + 4 + 31] |= 0x80
    });
    // Not in SPEC.md's text for the seen keys (§2.3 only): a key repeated byte for byte is
    // NonCanonical (§10.2: "a key repeated byte for byte → NonCanonical, checked once it is
    // read").
    cases.patch("v1 duplicate seen key", &v1, NC, |b| {
        let k = b[seen_at + 4..seen_at + 36].to_vec();
        b[seen_at + 36..seen_at + 68].copy_from_slice(&k);
    });
    cases.patch("v1 duplicate seen key, not adjacent", &v1, NC, |b| {
        let k = b[seen_at + 4..seen_at + 36].to_vec();
        let last = b.len() - 32;
        b[last..].copy_from_slice(&k);
    });
    cases.patch("v1 duplicate seen key, cut inside it", &v1, TR, |b| {
        let k = b[seen_at + 4..seen_at + 36].to_vec();
        b[seen_at + 36..seen_at + 68].copy_from_slice(&k);
        b.truncate(seen_at + 67);
    });
    // The version-1 secrets are unclamped (as drawn); clamped ones load just as well.
    cases.raw("v1 clamped secrets", bob.store.encode_v1(&seen), OK);
    cases.patch("v1 one-time count 65537, then end", &v1, NC, |b| {
        b.truncate(9 + 3 * 108);
        b.extend_from_slice(&65_537u32.to_be_bytes());
    });
    cases.patch(
        "v1 one-time ids decreasing, cut in the secret",
        &v1,
        TR,
        |b| {
            let at = 9 + 3 * 108;
            b[at + 40..at + 44].copy_from_slice(&[0; 4]);
            b.truncate(at + 4 + 36 + 20);
        },
    );
    cases.patch("v1 duplicate signed prekey id", &v1, NC, |b| {
        let id = b[9..13].to_vec();
        b[9 + 108..9 + 112].copy_from_slice(&id);
    });
    cases.patch("v1 no signed prekeys", &v1, OK, |b| {
        let mut nb = b[..8].to_vec();
        nb.push(0);
        nb.extend_from_slice(&b[9 + 3 * 108..]);
        *b = nb;
    });
    cases.raw(
        "v2 body labelled v1",
        envelope_v(KIND_STORE, V1, sc::body(&v2)),
        None,
    );
    cases.raw(
        "v1 body labelled v2",
        envelope_v(KIND_STORE, V2, &v1_body),
        None,
    );
    cases.raw(
        "v3 body labelled v2",
        envelope_v(KIND_STORE, V2, &body),
        None,
    );
    cases.raw(
        "v2 body labelled v3",
        envelope_v(KIND_STORE, STATE_VERSION, sc::body(&v2)),
        None,
    );
    for version in [0u8, 4] {
        let mut raw = migrated.clone();
        raw[1] = version;
        let e: &str = format!("UnknownVersion({version})").leak();
        cases.raw("version", raw, Some(Err(e)));
    }
    let mut raw = migrated.clone();
    raw[0] = KIND_SESSION;
    cases.raw("kind", raw, Some(Err("UnknownType(18)")));
    let mut raw = migrated.clone();
    raw[30] ^= 1;
    cases.raw("checksum", raw, Some(Err("ChecksumMismatch")));
    cases.raw("17 bytes", vec![KIND_STORE; 17], TR);
    let mut eighteen = vec![KIND_STORE; 2];
    eighteen.extend_from_slice(&[0; 16]);
    cases.raw("18 bytes", eighteen, Some(Err("UnknownVersion(17)")));
    cases.run(|blob| {
        let mine = MyBob::load_store(Ident::new(seed), blob)
            .map(|s| s.store_state())
            .map_err(|e| format!("{e:?}"));
        let theirs = PreKeyStore::from_bytes(blob)
            .map(|s| s.to_bytes().unwrap().to_vec())
            .map_err(|e| format!("{e:?}"));
        (mine, theirs)
    });
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
        let mut s =
            Session::initiate(&mut rng, &alice, &b, Trust::FirstUse, &Config::new(CTX)).unwrap();
        s.encrypt(&mut rng, b"opk").unwrap()
    };
    // Fill the current record to 4095 ids, one of them `recorded`'s (§3.6 from DH3).
    let base: K32 = recorded[34..66].try_into().unwrap();
    let recorded_id = first_message_id(&dh(&bob.store.signed[1].key.secret, &base).unwrap());
    let mut ids: Vec<Fmid> = (0..4094).map(|_| draw::<16>(&mut rng)).collect();
    ids.push(recorded_id);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4095);
    bob.store.signed[1].accepted = ids;
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
    assert_eq!(mine.store.one_time.last().unwrap().id, 65_535);
    let blob = mine.store_state();
    assert_eq!(theirs.to_bytes().unwrap().to_vec(), blob);
    // §10.2 version 3: each one-time prekey is id ‖ secret ‖ public.
    assert_eq!(blob.len(), 2 + 9 + 4 + 68 * MAX_ONE_TIME_PREKEYS + 16);
    assert_eq!(
        PreKeyStore::from_bytes(&blob)
            .unwrap()
            .to_bytes()
            .unwrap()
            .to_vec(),
        blob
    );
    assert_eq!(
        MyBob::load_store(Ident::new(*id.seed()), &blob)
            .unwrap()
            .store_state(),
        blob
    );
}
