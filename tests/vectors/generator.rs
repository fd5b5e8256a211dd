//! The one source of truth for `test-vectors/*.json`.
//!
//! Included (with `#[path]`) by `examples/gen_vectors.rs`, which writes the files, and by
//! `tests/vectors.rs`, which regenerates them in memory and requires them to equal the committed
//! files. Every random input is drawn from a `ChaCha20Rng` with a fixed seed and passed through the
//! crate's public API; [`Recorder`] logs each draw so that the files can list the exact bytes an
//! operation consumed (SPEC.md §1, informative RNG table). Every intermediate value is recomputed
//! here from the public building blocks (`kdf`, `KeyPair::diffie_hellman`) and asserted to agree
//! with what the crate produced before it is written.
//!
//! JSON is built as `serde_json::Value` with ordered keys and no floats, and printed by serde_json,
//! so that the output is byte-for-byte reproducible.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng, TryCryptoRng, TryRng};
use sha2::{Digest, Sha256, Sha512};
use xchat_protocol::content::{self, Content};
use xchat_protocol::kdf::{self, ChainKey, MessageKey, RootKey};
use xchat_protocol::sealed_sender::{
    self, CertificateKey, CertificateKeyPair, SealedRecipient, SenderCertificate, ServerCertificate,
};
use xchat_protocol::state::StorageKey;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{
    ContentKind, Deadline, Error, IdentityKey, IdentityKeyPair, Incoming, KeyPair, Limits,
    PreKeyBundle, PreKeyStore, PublicKey, Receipt, Received, Session, SignedPreKey, Timer,
    TimerStart,
};
use zeroize::Zeroizing;

// =============================================================================================
// JSON output
// =============================================================================================

/// A JSON value; objects keep insertion order (serde_json's `preserve_order`).
pub type Json = serde_json::Value;

/// Pretty-prints with serde_json (two-space indentation) and a final newline.
pub fn render(value: &Json) -> String {
    let mut out = serde_json::to_string_pretty(value).expect("a Value always serializes");
    out.push('\n');
    out
}

/// An object under construction, keys in insertion order.
#[derive(Default)]
pub struct Obj(serde_json::Map<String, Json>);

impl Obj {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field.
    pub fn f(mut self, key: &str, value: impl Into<Json>) -> Self {
        let old = self.0.insert(key.to_owned(), value.into());
        assert!(old.is_none(), "duplicate key {key}");
        self
    }
}

impl From<Obj> for Json {
    fn from(o: Obj) -> Json {
        Json::Object(o.0)
    }
}

/// Bytes as lowercase hex.
pub fn hx(bytes: impl AsRef<[u8]>) -> Json {
    Json::String(hex::encode(bytes))
}

/// A u64 as a decimal string (JSON numbers are doubles in many parsers).
pub fn big(v: u64) -> Json {
    Json::String(v.to_string())
}

fn hex_list<T: AsRef<[u8]>>(items: &[T]) -> Json {
    Json::Array(items.iter().map(hx).collect())
}

// =============================================================================================
// RNGs
// =============================================================================================

/// A seeded ChaCha20 RNG that logs every `fill_bytes` draw.
pub struct Recorder {
    inner: ChaCha20Rng,
    draws: Vec<Vec<u8>>,
}

impl Recorder {
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            inner: ChaCha20Rng::from_seed(seed),
            draws: Vec::new(),
        }
    }

    /// The draws logged since the last call.
    pub fn take(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.draws)
    }

    /// 32 bytes for the generator's own use (explicit seeds), not logged.
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.inner.fill_bytes(&mut b);
        b
    }

    /// `n` bytes for the generator's own use, not logged.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        self.inner.fill_bytes(&mut b);
        b
    }
}

impl TryRng for Recorder {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("the crate is expected to draw with fill_bytes only")
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("the crate is expected to draw with fill_bytes only")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.fill_bytes(dst);
        self.draws.push(dst.to_vec());
        Ok(())
    }
}

impl TryCryptoRng for Recorder {}

/// An RNG that returns exactly the published draws, in order, each of the published length.
pub struct Scripted {
    draws: VecDeque<Vec<u8>>,
}

impl Scripted {
    pub fn new(draws: Vec<Vec<u8>>) -> Self {
        Self {
            draws: draws.into(),
        }
    }

    /// Draws not consumed yet.
    pub fn remaining(&self) -> usize {
        self.draws.len()
    }
}

impl TryRng for Scripted {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("the crate is expected to draw with fill_bytes only")
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("the crate is expected to draw with fill_bytes only")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let next = self
            .draws
            .pop_front()
            .expect("the operation drew more often than the vector says");
        assert_eq!(next.len(), dst.len(), "a draw of another length");
        dst.copy_from_slice(&next);
        Ok(())
    }
}

impl TryCryptoRng for Scripted {}

// =============================================================================================
// Primitives from public building blocks
// =============================================================================================

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

/// RFC 7748 §5 clamping, as stored X25519 secrets are held (SPEC.md §10.0).
pub fn clamp(mut secret: [u8; 32]) -> [u8; 32] {
    secret[0] &= 0xF8;
    secret[31] &= 0x7F;
    secret[31] |= 0x40;
    secret
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

/// `kind ‖ version ‖ body ‖ SHA-256(kind ‖ version ‖ body)[0..16]` (SPEC.md §10.0).
pub fn state_blob(kind: u8, version: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![kind, version];
    b.extend_from_slice(body);
    let check = Sha256::digest(&b);
    b.extend_from_slice(&check[..16]);
    b
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

// =============================================================================================
// State blob parsing and encoding (SPEC.md §10.2, §10.3)
// =============================================================================================

struct Cur<'a> {
    b: &'a [u8],
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        head
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take(2).try_into().expect("u16"))
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().expect("u32"))
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take(8).try_into().expect("u64"))
    }
    fn k32(&mut self) -> [u8; 32] {
        a32(self.take(32))
    }
    fn flag(&mut self) -> bool {
        match self.u8() {
            0 => false,
            1 => true,
            f => panic!("flag {f}"),
        }
    }
}

/// The body of a blob of the given kind, after checking the envelope.
pub fn blob_body(kind: u8, blob: &[u8]) -> &[u8] {
    assert_eq!(blob[0], kind);
    let body = &blob[2..blob.len() - 16];
    assert_eq!(state_blob(kind, blob[1], body), blob, "check");
    body
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub ratchet_key: [u8; 32],
    pub n: u32,
    pub stamp: u32,
    pub skipped_at_ms: u64,
    pub message_key: [u8; 32],
}

/// A sending chain with its key pair (SPEC.md §10.3 row 12 of phase `0x00`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendChain {
    pub secret: [u8; 32],
    pub public: [u8; 32],
    pub chain_key: [u8; 32],
    pub n: u32,
}

/// Every field of a persisted session (SPEC.md §10.3, version 3), in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionState {
    /// 0 initiator awaiting its first reply, 1 initiator acknowledged, 2 responder.
    pub phase: u8,
    pub local_identity: [u8; 32],
    pub remote_identity: [u8; 32],
    pub context: Vec<u8>,
    pub base_key: [u8; 32],
    pub signed_prekey_id: u32,
    pub one_time_prekey_id: Option<u32>,
    pub timer: (u32, u8, u32),
    pub limits: [u32; 4],
    pub root_key: [u8; 32],
    /// Absent: pending (phases 1 and 2 only).
    pub send: Option<SendChain>,
    /// (DHr, CKr, Nr); absent exactly in phase 0.
    pub recv: Option<([u8; 32], [u8; 32], u32)>,
    pub pn: u32,
    pub received: u32,
    pub old: Vec<[u8; 32]>,
    pub skipped: Vec<Skipped>,
}

impl SessionState {
    pub fn dhr(&self) -> Option<[u8; 32]> {
        self.recv.map(|r| r.0)
    }
    /// (CKs, Ns) if the sending side is not pending.
    pub fn send_chain(&self) -> Option<([u8; 32], u32)> {
        self.send.as_ref().map(|c| (c.chain_key, c.n))
    }
    /// (CKr, Nr).
    pub fn recv_chain(&self) -> Option<([u8; 32], u32)> {
        self.recv.map(|r| (r.1, r.2))
    }
}

pub const KIND_IDENTITY: u8 = 0x10;
pub const KIND_STORE: u8 = 0x11;
pub const KIND_SESSION: u8 = 0x12;
/// The versions written now (SPEC.md §10.0).
pub const SESSION_VERSION: u8 = 3;
pub const STORE_VERSION: u8 = 3;

fn send_chain(c: &mut Cur<'_>) -> SendChain {
    SendChain {
        secret: c.k32(),
        public: c.k32(),
        chain_key: c.k32(),
        n: c.u32(),
    }
}

pub fn parse_session(blob: &[u8]) -> SessionState {
    assert_eq!(blob[1], SESSION_VERSION);
    let mut c = Cur {
        b: blob_body(KIND_SESSION, blob),
    };
    let phase = c.u8();
    let local_identity = c.k32();
    let remote_identity = c.k32();
    let len = usize::from(c.u16());
    let context = c.take(len).to_vec();
    let base_key = c.k32();
    let signed_prekey_id = c.u32();
    let one_time_prekey_id = c.flag().then(|| c.u32());
    let timer = (c.u32(), c.u8(), c.u32());
    let limits = [c.u32(), c.u32(), c.u32(), c.u32()];
    let root_key = c.k32();
    let mut state = SessionState {
        phase,
        local_identity,
        remote_identity,
        context,
        base_key,
        signed_prekey_id,
        one_time_prekey_id,
        timer,
        limits,
        root_key,
        send: None,
        recv: None,
        pn: 0,
        received: 0,
        old: Vec::new(),
        skipped: Vec::new(),
    };
    if phase == 0 {
        state.send = Some(send_chain(&mut c));
    } else {
        state.recv = Some((c.k32(), c.k32(), c.u32()));
        state.send = c.flag().then(|| send_chain(&mut c));
        state.pn = c.u32();
        state.received = c.u32();
        state.old = (0..c.u32()).map(|_| c.k32()).collect();
        state.skipped = (0..c.u32())
            .map(|_| Skipped {
                ratchet_key: c.k32(),
                n: c.u32(),
                stamp: c.u32(),
                skipped_at_ms: c.u64(),
                message_key: c.k32(),
            })
            .collect();
    }
    assert!(c.b.is_empty());
    assert_eq!(encode_session(&state), blob, "parser and encoder agree");
    state
}

fn put_send(b: &mut Vec<u8>, chain: &SendChain) {
    b.extend_from_slice(&chain.secret);
    b.extend_from_slice(&chain.public);
    b.extend_from_slice(&chain.chain_key);
    b.extend_from_slice(&chain.n.to_be_bytes());
}

/// The version 3 body. The phase byte decides the layout after `RK`, whatever the other fields
/// say, so that negative vectors can pair any phase byte with any parts.
pub fn session_body(s: &SessionState) -> Vec<u8> {
    let mut b = vec![s.phase];
    b.extend_from_slice(&s.local_identity);
    b.extend_from_slice(&s.remote_identity);
    b.extend_from_slice(&(s.context.len() as u16).to_be_bytes());
    b.extend_from_slice(&s.context);
    b.extend_from_slice(&s.base_key);
    b.extend_from_slice(&s.signed_prekey_id.to_be_bytes());
    match s.one_time_prekey_id {
        None => b.push(0),
        Some(id) => {
            b.push(1);
            b.extend_from_slice(&id.to_be_bytes());
        }
    }
    b.extend_from_slice(&s.timer.0.to_be_bytes());
    b.push(s.timer.1);
    b.extend_from_slice(&s.timer.2.to_be_bytes());
    for l in s.limits {
        b.extend_from_slice(&l.to_be_bytes());
    }
    b.extend_from_slice(&s.root_key);
    if s.phase == 0 {
        put_send(&mut b, s.send.as_ref().expect("phase 0 sends"));
        return b;
    }
    let (dhr, ck, n) = s.recv.expect("an open ratchet receives");
    b.extend_from_slice(&dhr);
    b.extend_from_slice(&ck);
    b.extend_from_slice(&n.to_be_bytes());
    match &s.send {
        None => b.push(0),
        Some(chain) => {
            b.push(1);
            put_send(&mut b, chain);
        }
    }
    b.extend_from_slice(&s.pn.to_be_bytes());
    b.extend_from_slice(&s.received.to_be_bytes());
    b.extend_from_slice(&(s.old.len() as u32).to_be_bytes());
    for k in &s.old {
        b.extend_from_slice(k);
    }
    b.extend_from_slice(&(s.skipped.len() as u32).to_be_bytes());
    for e in &s.skipped {
        b.extend_from_slice(&e.ratchet_key);
        b.extend_from_slice(&e.n.to_be_bytes());
        b.extend_from_slice(&e.stamp.to_be_bytes());
        b.extend_from_slice(&e.skipped_at_ms.to_be_bytes());
        b.extend_from_slice(&e.message_key);
    }
    b
}

/// The version 2 body (SPEC.md §10.3, read only) of a state: `role ‖ acknowledged`, the limits
/// before the timer, and a `DHs` secret even when the sending side is pending (`dhs_secret`
/// supplies it then; version 2 kept the old one) and a `DHr` in the opening phase
/// (`opening_dhr`, the signed prekey).
pub fn session_body_v2(s: &SessionState, dhs_secret: [u8; 32], opening_dhr: [u8; 32]) -> Vec<u8> {
    let mut b = vec![u8::from(s.phase == 2), u8::from(s.phase != 0)];
    b.extend_from_slice(&s.local_identity);
    b.extend_from_slice(&s.remote_identity);
    b.extend_from_slice(&(s.context.len() as u16).to_be_bytes());
    b.extend_from_slice(&s.context);
    b.extend_from_slice(&s.base_key);
    b.extend_from_slice(&s.signed_prekey_id.to_be_bytes());
    match s.one_time_prekey_id {
        None => b.push(0),
        Some(id) => {
            b.push(1);
            b.extend_from_slice(&id.to_be_bytes());
        }
    }
    for l in s.limits {
        b.extend_from_slice(&l.to_be_bytes());
    }
    b.extend_from_slice(&s.timer.0.to_be_bytes());
    b.push(s.timer.1);
    b.extend_from_slice(&s.timer.2.to_be_bytes());
    b.extend_from_slice(&s.root_key);
    b.extend_from_slice(&s.send.as_ref().map_or(dhs_secret, |c| c.secret));
    b.push(1);
    b.extend_from_slice(&s.dhr().unwrap_or(opening_dhr));
    for chain in [s.send_chain(), s.recv_chain()] {
        match chain {
            None => b.push(0),
            Some((ck, n)) => {
                b.push(1);
                b.extend_from_slice(&ck);
                b.extend_from_slice(&n.to_be_bytes());
            }
        }
    }
    b.extend_from_slice(&s.pn.to_be_bytes());
    b.extend_from_slice(&s.received.to_be_bytes());
    b.extend_from_slice(&(s.old.len() as u32).to_be_bytes());
    for k in &s.old {
        b.extend_from_slice(k);
    }
    b.extend_from_slice(&(s.skipped.len() as u32).to_be_bytes());
    for e in &s.skipped {
        b.extend_from_slice(&e.ratchet_key);
        b.extend_from_slice(&e.n.to_be_bytes());
        b.extend_from_slice(&e.stamp.to_be_bytes());
        b.extend_from_slice(&e.skipped_at_ms.to_be_bytes());
        b.extend_from_slice(&e.message_key);
    }
    b
}

/// Version 3, the format written (SPEC.md §10.3).
pub fn encode_session(s: &SessionState) -> Vec<u8> {
    state_blob(KIND_SESSION, SESSION_VERSION, &session_body(s))
}

fn timer_start_name(start: u8) -> &'static str {
    match start {
        0 => "on_send",
        1 => "on_read",
        _ => "invalid",
    }
}

fn phase_name(phase: u8) -> &'static str {
    match phase {
        0 => "awaiting_reply",
        1 => "acknowledged",
        2 => "responder",
        _ => "invalid",
    }
}

/// The decoded fields of a session blob, for state.json.
pub fn session_fields(s: &SessionState) -> Json {
    Obj::new()
        .f("phase", phase_name(s.phase))
        .f("local_identity", hx(s.local_identity))
        .f("remote_identity", hx(s.remote_identity))
        .f("context", hx(&s.context))
        .f("base_key", hx(s.base_key))
        .f("signed_prekey_id", s.signed_prekey_id)
        .f("one_time_prekey_id", s.one_time_prekey_id)
        .f(
            "timer",
            Obj::new()
                .f("duration_s", s.timer.0)
                .f("start", timer_start_name(s.timer.1))
                .f("version", s.timer.2),
        )
        .f(
            "limits",
            Obj::new()
                .f("max_skip", s.limits[0])
                .f("max_skipped_keys", s.limits[1])
                .f("max_old_chains", s.limits[2])
                .f("max_skipped_key_age", s.limits[3]),
        )
        .f("root_key", hx(s.root_key))
        .f(
            "send",
            s.send.as_ref().map_or(Json::Null, |c| {
                Obj::new()
                    .f("dhs_secret", hx(c.secret))
                    .f("dhs_public", hx(c.public))
                    .f("chain_key", hx(c.chain_key))
                    .f("n", c.n)
                    .into()
            }),
        )
        .f(
            "recv",
            s.recv.map_or(Json::Null, |(dhr, ck, n)| {
                Obj::new()
                    .f("dhr", hx(dhr))
                    .f("chain_key", hx(ck))
                    .f("n", n)
                    .into()
            }),
        )
        .f("pn", s.pn)
        .f("received", s.received)
        .f("old_ratchet_keys", hex_list(&s.old))
        .f(
            "skipped",
            Json::Array(
                s.skipped
                    .iter()
                    .map(|e| {
                        Obj::new()
                            .f("ratchet_key", hx(e.ratchet_key))
                            .f("n", e.n)
                            .f("stamp", e.stamp)
                            .f("skipped_at_ms", big(e.skipped_at_ms))
                            .f("message_key", hx(e.message_key))
                            .into()
                    })
                    .collect(),
            ),
        )
        .into()
}

/// A stored signed prekey: (id, created_at, secret, signature, accepted first-message ids).
pub type StoredSignedPreKey = (u32, u64, [u8; 32], [u8; 64], Vec<[u8; 16]>);

/// Every field of a persisted prekey store (SPEC.md §10.2). Public keys are written as
/// `x25519_public(secret)` (version 3 stores them; a vector that needs a mismatched one edits the
/// body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreState {
    pub next_signed_id: u32,
    pub next_one_time_id: u32,
    pub signed: Vec<StoredSignedPreKey>,
    /// (id, secret)
    pub one_time: Vec<(u32, [u8; 32])>,
}

pub fn parse_store(blob: &[u8]) -> StoreState {
    assert_eq!(blob[1], STORE_VERSION);
    let mut c = Cur {
        b: blob_body(KIND_STORE, blob),
    };
    let next_signed_id = c.u32();
    let next_one_time_id = c.u32();
    let signed = (0..c.u8())
        .map(|_| {
            let id = c.u32();
            let created_at = c.u64();
            let secret = c.k32();
            assert_eq!(c.k32(), x25519_public(secret), "stored public key");
            (
                id,
                created_at,
                secret,
                c.take(64).try_into().expect("signature"),
                (0..c.u16())
                    .map(|_| c.take(16).try_into().expect("id"))
                    .collect(),
            )
        })
        .collect();
    let one_time = (0..c.u32())
        .map(|_| {
            let id = c.u32();
            let secret = c.k32();
            assert_eq!(c.k32(), x25519_public(secret), "stored public key");
            (id, secret)
        })
        .collect();
    assert!(c.b.is_empty());
    let state = StoreState {
        next_signed_id,
        next_one_time_id,
        signed,
        one_time,
    };
    assert_eq!(encode_store(&state), blob);
    state
}

/// The body of version 3 (`v2 == false`: with public keys) or version 2 (without).
fn store_body_of(s: &StoreState, v3: bool) -> Vec<u8> {
    let mut b = s.next_signed_id.to_be_bytes().to_vec();
    b.extend_from_slice(&s.next_one_time_id.to_be_bytes());
    b.push(s.signed.len() as u8);
    for (id, created_at, secret, signature, accepted) in &s.signed {
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&created_at.to_be_bytes());
        b.extend_from_slice(secret);
        if v3 {
            b.extend_from_slice(&x25519_public(*secret));
        }
        b.extend_from_slice(signature);
        b.extend_from_slice(&(accepted.len() as u16).to_be_bytes());
        for first_message_id in accepted {
            b.extend_from_slice(first_message_id);
        }
    }
    b.extend_from_slice(&(s.one_time.len() as u32).to_be_bytes());
    for (id, secret) in &s.one_time {
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(secret);
        if v3 {
            b.extend_from_slice(&x25519_public(*secret));
        }
    }
    b
}

pub fn store_body(s: &StoreState) -> Vec<u8> {
    store_body_of(s, true)
}

/// The version 2 body (read only): no public keys.
pub fn store_body_v2(s: &StoreState) -> Vec<u8> {
    store_body_of(s, false)
}

/// Version 3, the format written (SPEC.md §10.2).
pub fn encode_store(s: &StoreState) -> Vec<u8> {
    state_blob(KIND_STORE, STORE_VERSION, &store_body(s))
}

/// The version 1 body: no accepted ids, and a list of seen base keys after the one-time keys.
pub fn store_body_v1(s: &StoreState, seen: &[[u8; 32]]) -> Vec<u8> {
    let mut b = s.next_signed_id.to_be_bytes().to_vec();
    b.extend_from_slice(&s.next_one_time_id.to_be_bytes());
    b.push(s.signed.len() as u8);
    for (id, created_at, secret, signature, _) in &s.signed {
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&created_at.to_be_bytes());
        b.extend_from_slice(secret);
        b.extend_from_slice(signature);
    }
    b.extend_from_slice(&(s.one_time.len() as u32).to_be_bytes());
    for (id, secret) in &s.one_time {
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(secret);
    }
    b.extend_from_slice(&(seen.len() as u32).to_be_bytes());
    for k in seen {
        b.extend_from_slice(k);
    }
    b
}

/// SPEC.md §3.6, computed independently of the crate's `kdf::first_message_id`.
pub fn first_message_id(dh3: [u8; 32]) -> [u8; 16] {
    let mut okm = [0u8; 16];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0; 32]), &dh3)
        .expand(b"xchat-protocol v1 first message", &mut okm)
        .expect("hkdf");
    okm
}

pub fn store_fields(s: &StoreState) -> Json {
    Obj::new()
        .f("next_signed_id", s.next_signed_id)
        .f("next_one_time_id", s.next_one_time_id)
        .f(
            "signed_prekeys",
            Json::Array(
                s.signed
                    .iter()
                    .map(|(id, created_at, secret, signature, accepted)| {
                        Obj::new()
                            .f("id", *id)
                            .f("created_at", big(*created_at))
                            .f("secret", hx(secret))
                            .f("public", hx(x25519_public(*secret)))
                            .f("signature", hx(signature))
                            .f("accepted_first_messages", hex_list(accepted))
                            .into()
                    })
                    .collect(),
            ),
        )
        .f(
            "one_time_prekeys",
            Json::Array(
                s.one_time
                    .iter()
                    .map(|(id, secret)| {
                        Obj::new()
                            .f("id", *id)
                            .f("secret", hx(secret))
                            .f("public", hx(x25519_public(*secret)))
                            .into()
                    })
                    .collect(),
            ),
        )
        .into()
}

// =============================================================================================
// Shared helpers for the files
// =============================================================================================

const CREATED_AT: u64 = 1_700_000_000;
/// A fixed "now" in milliseconds for the content, sealed sender and timer vectors.
const T0: u64 = 1_750_000_000_000;

fn header(file: &str, title: &str, sections: &[&str]) -> Obj {
    Obj::new()
        .f("file", file)
        .f("format_version", 1u32)
        .f("title", title)
        .f(
            "spec_sections",
            Json::Array(sections.iter().map(|s| Json::from(*s)).collect()),
        )
        .f(
            "generator",
            "cargo run --example gen_vectors (tests/vectors/generator.rs)",
        )
}

fn draws_json(draws: &[Vec<u8>]) -> Json {
    hex_list(draws)
}

fn timer_json(t: &Timer) -> Json {
    Obj::new()
        .f("duration_s", t.duration_s)
        .f(
            "start",
            match t.start {
                TimerStart::OnSend => "on_send",
                TimerStart::OnRead => "on_read",
            },
        )
        .f("version", t.version)
        .into()
}

fn deadline_json(d: Option<Deadline>) -> Json {
    match d {
        None => Obj::new().f("kind", "expired").into(),
        Some(Deadline::Never) => Obj::new().f("kind", "never").into(),
        Some(Deadline::At(ms)) => Obj::new().f("kind", "at").f("ms", big(ms)).into(),
        Some(Deadline::AfterRead(ms)) => Obj::new().f("kind", "after_read").f("ms", big(ms)).into(),
    }
}

fn kind_name(kind: ContentKind) -> &'static str {
    match kind {
        ContentKind::Message => "message",
        ContentKind::TimerUpdate => "timer_update",
        _ => "unknown",
    }
}

/// The outcome of `Session::receive` as the vectors name it (test-vectors/README.md): the
/// message, or the name of a receipt that delivers nothing, `Expired` or `InvalidContent(…)`
/// (the session changed either way; `state_after` shows how).
pub fn receipt_as_result(r: Result<Receipt, Error>) -> Result<Received, Error> {
    match r? {
        Receipt::Message(received) => Ok(received),
        Receipt::Expired { .. } => Err(Error::Expired),
        Receipt::Unreadable(e) => Err(Error::InvalidContent(e)),
    }
}

fn received_json(r: &Received) -> Json {
    Obj::new()
        .f("kind", kind_name(r.kind))
        .f("body", hx(&r.body))
        .f("sent_at_ms", big(r.sent_at_ms))
        .f("timer", timer_json(&r.timer))
        .f("deadline", deadline_json(Some(r.deadline)))
        .f("timer_changed", r.timer_changed)
        .into()
}

fn blob(b: Zeroizing<Vec<u8>>) -> Vec<u8> {
    b.to_vec()
}

/// Replays the generation of one X3DH run from its draws; returns SK.
fn x3dh_secret(
    alice: &IdentityKeyPair,
    bob: &IdentityKey,
    spk: [u8; 32],
    opk: Option<[u8; 32]>,
    ek_secret: [u8; 32],
) -> [u8; 32] {
    let alice_x = identity_x25519_secret(&alice.seed());
    let dh1 = dh(alice_x, spk).expect("dh1");
    let dh2 = dh(ek_secret, bob.x25519().unwrap().to_bytes()).expect("dh2");
    let dh3 = dh(ek_secret, spk).expect("dh3");
    let dh4 = opk.map(|k| dh(ek_secret, k).expect("dh4"));
    *kdf::x3dh(&dh1, &dh2, &dh3, dh4.as_ref()).as_bytes()
}

// =============================================================================================
// x3dh.json
// =============================================================================================

fn x3dh_case(
    name: &str,
    description: &str,
    seed: u8,
    one_time_id: Option<u32>,
    context: &[u8],
    plaintext: &[u8],
) -> Json {
    let rng_seed = [seed; 32];
    let mut rng = Recorder::new(rng_seed);
    let mut draws = Vec::new();
    let mut record = |what: &str, d: Vec<Vec<u8>>| {
        draws.push(Json::from(
            Obj::new().f("operation", what).f("draws", draws_json(&d)),
        ));
        d
    };

    let alice = IdentityKeyPair::generate(&mut rng);
    record("IdentityKeyPair::generate (alice)", rng.take());
    let bob = IdentityKeyPair::generate(&mut rng);
    record("IdentityKeyPair::generate (bob)", rng.take());
    let mut store = PreKeyStore::new();
    let created_at = CREATED_AT + u64::from(seed);
    let spk = store.rotate_signed_prekey(&mut rng, &bob, created_at * 1000);
    let spk_draws = record(
        &format!("PreKeyStore::rotate_signed_prekey (now = {created_at})"),
        rng.take(),
    );
    let otpks = store.generate_one_time_prekeys(&mut rng, 2).unwrap();
    let otpk_draws = record("PreKeyStore::generate_one_time_prekeys(2)", rng.take());
    let store_before = blob(store.to_bytes().unwrap());
    let bundle = store.bundle(&bob, one_time_id).expect("bundle");
    let bundle_bytes = bundle.to_bytes();
    let mut session = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context),
    )
    .expect("initiate");
    let init_draws = record("Session::initiate", rng.take());
    let first = session.encrypt(&mut rng, plaintext).expect("encrypt");
    let enc_draws = record("Session::encrypt", rng.take());
    let alice_after = blob(session.to_bytes().unwrap());
    let (bob_session, received) =
        Session::respond(&bob, &mut store, &first, &Config::new(context)).expect("respond");
    assert_eq!(received, plaintext);
    let bob_after = blob(bob_session.to_bytes().unwrap());
    let store_after = blob(store.to_bytes().unwrap());

    // Every value recomputed from the draws with the public building blocks.
    let alice_seed = *alice.seed();
    let bob_seed = *bob.seed();
    assert_eq!(init_draws.len(), 2);
    assert_eq!(enc_draws.len(), 1);
    let alice_x = identity_x25519_secret(&alice_seed);
    let bob_x = identity_x25519_secret(&bob_seed);
    assert_eq!(
        x25519_public(alice_x),
        alice.public().x25519().unwrap().to_bytes()
    );
    assert_eq!(
        x25519_public(bob_x),
        bob.public().x25519().unwrap().to_bytes()
    );
    let spk_secret = a32(&spk_draws[0]);
    assert_eq!(x25519_public(spk_secret), spk.key.to_bytes());
    let opk = one_time_id.map(|id| {
        let index = otpks.iter().position(|k| k.id == id).expect("otpk");
        let secret = a32(&otpk_draws[index]);
        assert_eq!(x25519_public(secret), otpks[index].key.to_bytes());
        (id, secret, otpks[index].key.to_bytes())
    });
    let ek_secret = a32(&init_draws[0]);
    let ek_public = x25519_public(ek_secret);
    let spk_public = spk.key.to_bytes();
    let ik_a = alice.public().to_bytes();
    let ik_b = bob.public().to_bytes();
    let ik_a_x = alice.public().x25519().unwrap().to_bytes();
    let ik_b_x = bob.public().x25519().unwrap().to_bytes();
    let dh1 = dh(alice_x, spk_public).expect("dh1");
    assert_eq!(dh1, dh(spk_secret, ik_a_x).expect("dh1 responder"));
    let dh2 = dh(ek_secret, ik_b_x).expect("dh2");
    assert_eq!(dh2, dh(bob_x, ek_public).expect("dh2 responder"));
    let dh3 = dh(ek_secret, spk_public).expect("dh3");
    assert_eq!(dh3, dh(spk_secret, ek_public).expect("dh3 responder"));
    let dh4 = opk.map(|(_, secret, public)| {
        let v = dh(ek_secret, public).expect("dh4");
        assert_eq!(v, dh(secret, ek_public).expect("dh4 responder"));
        v
    });
    let sk = *kdf::x3dh(&dh1, &dh2, &dh3, dh4.as_ref()).as_bytes();
    let ad = associated_data(&ik_a, &ik_b, context);
    let ratchet_secret = a32(&init_draws[1]);
    let ratchet_dh = dh(ratchet_secret, spk_public).expect("ratchet dh");
    let (root_key, chain_key) = kdf_rk(sk, ratchet_dh);
    let (next_chain_key, message_key) = kdf_ck(chain_key);
    let seed16 = a16(&enc_draws[0]);
    let (aead_key, aead_nonce) = expand(message_key, seed16);
    let offset = normal_offset(&first);
    assert_eq!(offset, if one_time_id.is_some() { 75 } else { 71 });
    let prefix = &first[offset..offset + 58];
    let ciphertext = &first[offset + 58..];
    // SPEC.md §3.5: AD, the prekey fields and the prefix — every byte before the ciphertext.
    let mut aad = ad.clone();
    aad.extend_from_slice(&first[..offset + 58]);
    assert_eq!(
        gcm_seal(&aead_key, &aead_nonce, &aad, plaintext),
        ciphertext
    );
    assert_eq!(&first[2..34], &ik_a);
    assert_eq!(&first[34..66], &ek_public);
    assert_eq!(&prefix[2..34], &x25519_public(ratchet_secret));
    let alice_state = parse_session(&alice_after);
    assert_eq!(alice_state.root_key, root_key);
    let alice_send = alice_state.send.as_ref().expect("opening phase sends");
    assert_eq!(alice_send.secret, clamp(ratchet_secret));
    assert_eq!(alice_state.send_chain(), Some((next_chain_key, 1)));
    let bob_state = parse_session(&bob_after);
    assert_eq!(bob_state.root_key, root_key);
    assert_eq!(bob_state.recv_chain(), Some((next_chain_key, 1)));
    // The responder's sending side is pending: the signed prekey's secret is in no field and in
    // no byte of the blob (SPEC.md §6.2, §10.3).
    assert_eq!(bob_state.send, None);
    assert!(!bob_after.windows(32).any(|w| w == clamp(spk_secret)));

    let identity = |seed: &[u8; 32], id: &IdentityKeyPair, x: [u8; 32]| {
        Obj::new()
            .f("identity_seed", hx(seed))
            .f("identity_public", hx(id.public().to_bytes()))
            .f("identity_x25519_secret", hx(x))
            .f(
                "identity_x25519_public",
                hx(id.public().x25519().unwrap().to_bytes()),
            )
    };
    let signed_bytes = SignedPreKey::signed_bytes(spk.id, spk.created_at, &spk.key);
    let bob_json = identity(&bob_seed, &bob, bob_x)
        .f(
            "signed_prekey",
            Obj::new()
                .f("id", spk.id)
                .f("created_at", big(spk.created_at))
                .f("secret", hx(spk_secret))
                .f("public", hx(spk_public))
                .f("signed_bytes", hx(&signed_bytes))
                .f("signature", hx(spk.signature)),
        )
        .f(
            "one_time_prekeys",
            Json::Array(
                otpks
                    .iter()
                    .zip(&otpk_draws)
                    .map(|(k, secret)| {
                        Obj::new()
                            .f("id", k.id)
                            .f("secret", hx(secret))
                            .f("public", hx(k.key.to_bytes()))
                            .into()
                    })
                    .collect(),
            ),
        );

    Obj::new()
        .f("name", name)
        .f("description", description)
        .f("rng_seed", hx(rng_seed))
        .f("rng_draws", Json::Array(draws))
        .f("context", hx(context))
        .f("alice", identity(&alice_seed, &alice, alice_x))
        .f("bob", bob_json)
        .f("bob_prekey_store_before", hx(&store_before))
        .f(
            "bundle",
            Obj::new()
                .f("one_time_prekey_id", one_time_id)
                .f("bytes", hx(&bundle_bytes)),
        )
        .f(
            "x3dh",
            Obj::new()
                .f("base_key_secret", hx(ek_secret))
                .f("base_key_public", hx(ek_public))
                .f("dh1", hx(dh1))
                .f("dh2", hx(dh2))
                .f("dh3", hx(dh3))
                .f("dh4", dh4.map(hx))
                .f("shared_secret", hx(sk))
                .f("associated_data", hx(&ad)),
        )
        .f(
            "ratchet_init",
            Obj::new()
                .f("ratchet_key_secret", hx(ratchet_secret))
                .f("ratchet_key_public", hx(x25519_public(ratchet_secret)))
                .f("dh_output", hx(ratchet_dh))
                .f("root_key", hx(root_key))
                .f("sending_chain_key", hx(chain_key)),
        )
        .f(
            "first_message",
            Obj::new()
                .f("plaintext", hx(plaintext))
                .f("seed", hx(seed16))
                .f("chain_key", hx(chain_key))
                .f("message_key", hx(message_key))
                .f("next_chain_key", hx(next_chain_key))
                .f("aead_key", hx(aead_key))
                .f("aead_nonce", hx(aead_nonce))
                .f("prekey_fields", hx(&first[..offset]))
                .f("prefix", hx(prefix))
                .f("aad", hx(&aad))
                .f("ciphertext", hx(ciphertext))
                .f("bytes", hx(&first)),
        )
        .f("alice_session_after", hx(&alice_after))
        .f("bob_session_after", hx(&bob_after))
        .f("bob_prekey_store_after", hx(&store_after))
        .into()
}

pub fn x3dh_json() -> Json {
    header(
        "x3dh.json",
        "X3DH: keys, bundle, DH outputs, SK, AD, ratchet initialisation and the first prekey message",
        &[
            "§1", "§2", "§3.1", "§3.2", "§3.3", "§3.4", "§3.5", "§4.1", "§4.2", "§4.3", "§4.4",
            "§5.1", "§5.3", "§6.2", "§7.2", "§7.3", "§10",
        ],
    )
    .f(
        "cases",
        Json::Array(vec![
            x3dh_case(
                "one_time_prekey_empty_context",
                "Bundle with one-time prekey 1 (DH4 present), empty context",
                0x01,
                Some(1),
                b"",
                b"hello Bob",
            ),
            x3dh_case(
                "no_one_time_prekey_with_context",
                "Bundle without a one-time prekey (no DH4), non-empty context",
                0x02,
                None,
                b"alice@example|bob@example",
                b"hello without a one-time prekey",
            ),
            x3dh_case(
                "one_time_prekey_with_context",
                "Bundle with one-time prekey 0, non-empty context",
                0x03,
                Some(0),
                b"conversation 42",
                b"",
            ),
        ]),
    )
    .into()
}

// =============================================================================================
// ratchet.json
// =============================================================================================

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Alice,
    Bob,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Alice => "alice",
            Who::Bob => "bob",
        }
    }
    fn other(self) -> Who {
        match self {
            Who::Alice => Who::Bob,
            Who::Bob => Who::Alice,
        }
    }
}

enum Step {
    Send(Who, &'static str, &'static str),
    Deliver(&'static str),
}

const RATCHET_SCRIPT: &[Step] = &[
    Step::Send(Who::Alice, "a0", "a0: hello Bob"),
    Step::Send(Who::Alice, "a1", "a1: are you there?"),
    Step::Send(Who::Alice, "a2", "a2: third prekey message"),
    Step::Deliver("a1"),
    Step::Deliver("a0"),
    Step::Send(Who::Bob, "b0", "b0: hi Alice"),
    Step::Send(Who::Bob, "b1", "b1: yes"),
    Step::Send(Who::Bob, "b2", "b2: delivered late"),
    Step::Deliver("b1"),
    Step::Deliver("b0"),
    Step::Send(Who::Alice, "a3", "a3: new ratchet key"),
    Step::Send(Who::Alice, "a4", "a4"),
    Step::Send(Who::Alice, "a5", "a5"),
    Step::Deliver("a4"),
    Step::Deliver("a2"),
    Step::Send(Who::Bob, "b3", "b3: turn again"),
    Step::Send(Who::Bob, "b4", "b4"),
    Step::Deliver("b4"),
    Step::Deliver("b2"),
    Step::Deliver("b3"),
    Step::Deliver("a3"),
    Step::Deliver("a5"),
    Step::Send(Who::Alice, "a6", "a6: third turn"),
    Step::Deliver("a6"),
    Step::Send(Who::Bob, "b5", "b5: bye"),
    Step::Send(Who::Bob, "b6", "b6: bye again"),
    Step::Deliver("b5"),
    Step::Deliver("b6"),
];

struct ChainRec {
    owner: Who,
    ratchet_secret: [u8; 32],
    peer_ratchet_public: [u8; 32],
    root_key_before: [u8; 32],
    dh_output: [u8; 32],
    root_key_after: [u8; 32],
    chain_key_0: [u8; 32],
    /// Where the step happened.
    created_by: &'static str,
}

impl ChainRec {
    fn public(&self) -> [u8; 32] {
        x25519_public(self.ratchet_secret)
    }
}

struct MsgRec {
    id: &'static str,
    sender: Who,
    chain: usize,
    n: u32,
    pn: u32,
    plaintext: Vec<u8>,
    seed: [u8; 16],
    chain_key: [u8; 32],
    message_key: [u8; 32],
    next_chain_key: [u8; 32],
    aead_key: [u8; 32],
    aead_nonce: [u8; 12],
    wire: Vec<u8>,
}

pub fn ratchet_json() -> Json {
    let rng_seed = [0x52; 32];
    let mut rng = Recorder::new(rng_seed);
    let context = b"alice@example|bob@example";
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, CREATED_AT * 1000);
    store.generate_one_time_prekeys(&mut rng, 2).unwrap();
    let setup_draws = rng.take();
    let store_initial = blob(store.to_bytes().unwrap());
    let bundle = store.bundle(&bob, Some(1)).expect("bundle");
    let mut alice_session = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context),
    )
    .expect("initiate");
    let init_draws = rng.take();
    let alice_initial = blob(alice_session.to_bytes().unwrap());

    let spk_public = bundle.signed_prekey.key.to_bytes();
    let spk_secret = a32(&setup_draws[2]);
    assert_eq!(x25519_public(spk_secret), spk_public);
    let opk_public = bundle.one_time_prekey.expect("opk").key.to_bytes();
    let sk = x3dh_secret(
        &alice,
        bob.public(),
        spk_public,
        Some(opk_public),
        a32(&init_draws[0]),
    );
    let ad = associated_data(
        &alice.public().to_bytes(),
        &bob.public().to_bytes(),
        context,
    );
    let ratchet_secret = a32(&init_draws[1]);
    let first_dh = dh(ratchet_secret, spk_public).expect("dh");
    let (rk1, ck0) = kdf_rk(sk, first_dh);
    let mut chains = vec![ChainRec {
        owner: Who::Alice,
        ratchet_secret,
        peer_ratchet_public: spk_public,
        root_key_before: sk,
        dh_output: first_dh,
        root_key_after: rk1,
        chain_key_0: ck0,
        created_by: "Session::initiate",
    }];
    let mut messages: Vec<MsgRec> = Vec::new();
    let mut events = Vec::new();
    let mut bob_session: Option<Session> = None;
    let mut delivery_order = Vec::new();
    let mut used_skipped = Vec::new();

    for (step, action) in RATCHET_SCRIPT.iter().enumerate() {
        match action {
            Step::Send(who, id, text) => {
                let session = match who {
                    Who::Alice => &mut alice_session,
                    Who::Bob => bob_session.as_mut().expect("bob has a session"),
                };
                let before = blob(session.to_bytes().unwrap());
                let st = parse_session(&before);
                let wire = session.encrypt(&mut rng, text.as_bytes()).expect("encrypt");
                let draws = rng.take();
                let after = blob(session.to_bytes().unwrap());
                let st_after = parse_session(&after);
                let (chain, n, ck, seed) = match &st.send {
                    None => {
                        assert_eq!(draws.len(), 2, "half-step draws a key, then the seed");
                        let secret = a32(&draws[0]);
                        let peer = st.dhr().expect("dhr");
                        let dh_output = dh(secret, peer).expect("dh");
                        let (root_after, ck0) = kdf_rk(st.root_key, dh_output);
                        assert_eq!(st_after.root_key, root_after);
                        let after_send = st_after.send.as_ref().expect("sending");
                        assert_eq!(after_send.secret, clamp(secret));
                        assert_eq!(after_send.public, x25519_public(secret));
                        chains.push(ChainRec {
                            owner: *who,
                            ratchet_secret: secret,
                            peer_ratchet_public: peer,
                            root_key_before: st.root_key,
                            dh_output,
                            root_key_after: root_after,
                            chain_key_0: ck0,
                            created_by: "Session::encrypt (deferred sending half-step)",
                        });
                        (chains.len() - 1, 0, ck0, a16(&draws[1]))
                    }
                    Some(send) => {
                        let (ck, n) = (send.chain_key, send.n);
                        assert_eq!(draws.len(), 1);
                        assert_eq!(send.public, x25519_public(send.secret));
                        let public = send.public;
                        let chain = chains
                            .iter()
                            .position(|c| c.public() == public)
                            .expect("chain");
                        (chain, n, ck, a16(&draws[0]))
                    }
                };
                let (next_ck, mk) = kdf_ck(ck);
                assert_eq!(st_after.send_chain(), Some((next_ck, n + 1)));
                let (aead_key, aead_nonce) = expand(mk, seed);
                let offset = normal_offset(&wire);
                let prefix = &wire[offset..offset + 58];
                assert_eq!(&prefix[2..34], &chains[chain].public());
                assert_eq!(&prefix[34..38], &st.pn.to_be_bytes());
                assert_eq!(&prefix[38..42], &n.to_be_bytes());
                assert_eq!(&prefix[42..58], &seed);
                let mut aad = ad.clone();
                aad.extend_from_slice(&wire[..offset + 58]);
                assert_eq!(
                    gcm_seal(&aead_key, &aead_nonce, &aad, text.as_bytes()),
                    &wire[offset + 58..]
                );
                messages.push(MsgRec {
                    id,
                    sender: *who,
                    chain,
                    n,
                    pn: st.pn,
                    plaintext: text.as_bytes().to_vec(),
                    seed,
                    chain_key: ck,
                    message_key: mk,
                    next_chain_key: next_ck,
                    aead_key,
                    aead_nonce,
                    wire,
                });
                events.push(Json::from(
                    Obj::new()
                        .f("step", step)
                        .f("action", "send")
                        .f("actor", who.name())
                        .f("message", *id)
                        .f("operation", "Session::encrypt")
                        .f("rng_draws", draws_json(&draws))
                        .f("state_before", hx(&before))
                        .f("state_after", hx(&after)),
                ));
            }
            Step::Deliver(id) => {
                let m = messages.iter().find(|m| m.id == *id).expect("sent");
                let receiver = m.sender.other();
                let chain = &chains[m.chain];
                let ratchet_key = chain.public();
                let mut event = Obj::new()
                    .f("step", step)
                    .f("action", "deliver")
                    .f("actor", receiver.name())
                    .f("message", *id);
                let (before, plaintext, path, before_state) = match (receiver, &mut bob_session) {
                    (Who::Bob, None) => {
                        let store_before = blob(store.to_bytes().unwrap());
                        let (session, pt) =
                            Session::respond(&bob, &mut store, &m.wire, &Config::new(context))
                                .expect("respond");
                        bob_session = Some(session);
                        event = event
                            .f("operation", "Session::respond")
                            .f("prekey_store_before", hx(&store_before))
                            .f("prekey_store_after", hx(blob(store.to_bytes().unwrap())));
                        (None, pt, "new_ratchet_key", None)
                    }
                    (who, bob_slot) => {
                        let session = match who {
                            Who::Alice => &mut alice_session,
                            Who::Bob => bob_slot.as_mut().expect("session"),
                        };
                        let before = blob(session.to_bytes().unwrap());
                        let st = parse_session(&before);
                        let path = if st
                            .skipped
                            .iter()
                            .any(|e| e.ratchet_key == ratchet_key && e.n == m.n)
                        {
                            "skipped_key"
                        } else if st.dhr() == Some(ratchet_key) {
                            "current_chain"
                        } else {
                            "new_ratchet_key"
                        };
                        let pt = session.decrypt(&m.wire).expect("decrypt");
                        event = event.f("operation", "Session::decrypt");
                        (Some(before), pt, path, Some(st))
                    }
                };
                assert_eq!(plaintext, m.plaintext);
                let session = match receiver {
                    Who::Alice => &alice_session,
                    Who::Bob => bob_session.as_ref().expect("session"),
                };
                let after = blob(session.to_bytes().unwrap());
                let st_after = parse_session(&after);
                let old_skipped = before_state.map(|s| s.skipped).unwrap_or_default();
                let mut stored = Vec::new();
                for e in &st_after.skipped {
                    if old_skipped
                        .iter()
                        .any(|o| o.ratchet_key == e.ratchet_key && o.n == e.n)
                    {
                        continue;
                    }
                    let owner = messages
                        .iter()
                        .find(|x| chains[x.chain].public() == e.ratchet_key && x.n == e.n)
                        .expect("a skipped key belongs to a sent message");
                    assert_eq!(owner.message_key, e.message_key);
                    assert_eq!(e.skipped_at_ms, u64::MAX);
                    stored.push(Json::from(
                        Obj::new()
                            .f("message", owner.id)
                            .f("ratchet_key", hx(e.ratchet_key))
                            .f("n", e.n)
                            .f("message_key", hx(e.message_key)),
                    ));
                }
                if path == "new_ratchet_key" {
                    assert_eq!(st_after.root_key, chain.root_key_after);
                    assert_eq!(st_after.dhr(), Some(ratchet_key));
                    assert_eq!(st_after.send, None, "pending: no ratchet secret held");
                }
                if path != "skipped_key" {
                    assert_eq!(st_after.recv_chain(), Some((m.next_chain_key, m.n + 1)));
                } else {
                    used_skipped.push(Json::from(*id));
                }
                delivery_order.push(Json::from(*id));
                events.push(
                    event
                        .f("path", path)
                        .f("used_stored_skipped_key", path == "skipped_key")
                        .f("stored_skipped_keys", Json::Array(stored))
                        .f("plaintext", hx(&plaintext))
                        .f("state_before", before.map(hx))
                        .f("state_after", hx(&after))
                        .into(),
                );
            }
        }
    }

    let chains_json = chains
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Obj::new()
                .f("index", i)
                .f("owner", c.owner.name())
                .f("created_by", c.created_by)
                .f("ratchet_key_secret", hx(c.ratchet_secret))
                .f("ratchet_key_public", hx(c.public()))
                .f("peer_ratchet_key", hx(c.peer_ratchet_public))
                .f("root_key_before", hx(c.root_key_before))
                .f("dh_output", hx(c.dh_output))
                .f("root_key_after", hx(c.root_key_after))
                .f("chain_key_0", hx(c.chain_key_0))
                .into()
        })
        .collect();
    let messages_json = messages
        .iter()
        .map(|m| {
            let offset = normal_offset(&m.wire);
            let prefix = &m.wire[offset..offset + 58];
            let mut aad = ad.clone();
            aad.extend_from_slice(&m.wire[..offset + 58]);
            Obj::new()
                .f("id", m.id)
                .f("sender", m.sender.name())
                .f("type", if offset == 0 { "normal" } else { "prekey" })
                .f("chain", m.chain)
                .f(
                    "header",
                    Obj::new()
                        .f("ratchet_key", hx(chains[m.chain].public()))
                        .f("pn", m.pn)
                        .f("n", m.n),
                )
                .f("seed", hx(m.seed))
                .f("chain_key", hx(m.chain_key))
                .f("message_key", hx(m.message_key))
                .f("next_chain_key", hx(m.next_chain_key))
                .f("aead_key", hx(m.aead_key))
                .f("aead_nonce", hx(m.aead_nonce))
                .f("plaintext", hx(&m.plaintext))
                .f("prekey_fields", hx(&m.wire[..offset]))
                .f("prefix", hx(prefix))
                .f("aad", hx(&aad))
                .f("ciphertext", hx(&m.wire[offset + 58..]))
                .f("bytes", hx(&m.wire))
                .into()
        })
        .collect();

    header(
        "ratchet.json",
        "A scripted Double Ratchet conversation: six sending chains, out-of-order delivery, skipped keys across ratchet turns",
        &[
            "§3.2", "§3.3", "§3.4", "§3.5", "§5.2", "§5.3", "§6.2", "§6.3", "§6.4", "§6.5", "§7.2",
            "§7.3", "§7.4", "§10.3",
        ],
    )
    .f(
        "setup",
        Obj::new()
            .f("rng_seed", hx(rng_seed))
            .f("setup_rng_draws", draws_json(&setup_draws))
            .f("alice_identity_seed", hx(alice.seed().as_slice()))
            .f("bob_identity_seed", hx(bob.seed().as_slice()))
            .f("alice_identity", hx(alice.public().to_bytes()))
            .f("bob_identity", hx(bob.public().to_bytes()))
            .f("context", hx(context))
            .f("bob_prekey_store", hx(&store_initial))
            .f("one_time_prekey_id", 1u32)
            .f("bundle", hx(bundle.to_bytes()))
            .f("initiate_rng_draws", draws_json(&init_draws))
            .f("shared_secret", hx(sk))
            .f("associated_data", hx(&ad))
            .f("alice_state_initial", hx(&alice_initial)),
    )
    .f("chains", Json::Array(chains_json))
    .f("messages", Json::Array(messages_json))
    .f("events", Json::Array(events))
    .f("delivery_order", Json::Array(delivery_order))
    .f("used_stored_skipped_keys", Json::Array(used_skipped))
    .into()
}

// =============================================================================================
// sealed_sender.json
// =============================================================================================

/// Every intermediate value of SPEC.md §9.2, computed from public building blocks.
pub struct SealParts {
    pub ephemeral_secret: [u8; 32],
    pub ephemeral_public: [u8; 32],
    pub ephemeral_dh: [u8; 32],
    pub ephemeral_salt: Vec<u8>,
    pub chain: [u8; 32],
    pub identity_key: [u8; 32],
    pub identity_aad: Vec<u8>,
    pub encrypted_identity: Vec<u8>,
    pub static_dh: [u8; 32],
    pub static_salt: Vec<u8>,
    pub content_key: [u8; 32],
    pub payload: Vec<u8>,
    pub content_aad: Vec<u8>,
    pub encrypted_content: Vec<u8>,
    pub envelope: Vec<u8>,
}

/// The payload of §9.2: `u16 len ‖ cert ‖ u32 len ‖ message ‖ zero padding`.
pub fn sealed_payload(cert: &[u8], message: &[u8]) -> Vec<u8> {
    let mut p = (cert.len() as u16).to_be_bytes().to_vec();
    p.extend_from_slice(cert);
    p.extend_from_slice(&(message.len() as u32).to_be_bytes());
    p.extend_from_slice(message);
    p.resize(
        xchat_protocol::padding::padded_len(6 + cert.len() + message.len()),
        0,
    );
    p
}

pub fn seal_parts(
    ephemeral_secret: [u8; 32],
    sender_seed: &[u8; 32],
    recipient: &IdentityKey,
    payload: Vec<u8>,
) -> SealParts {
    let sender = IdentityKeyPair::from_seed(sender_seed);
    let ephemeral_public = x25519_public(ephemeral_secret);
    let recipient_bytes = recipient.to_bytes();
    let recipient_x = recipient.x25519().unwrap().to_bytes();
    let ephemeral_dh = dh(ephemeral_secret, recipient_x).expect("ephemeral dh");
    let mut ephemeral_salt = ephemeral_public.to_vec();
    ephemeral_salt.extend_from_slice(&recipient_bytes);
    let okm = kdf::hkdf_sha256::<64>(&ephemeral_salt, &ephemeral_dh, kdf::LABEL_SEALED_EPHEMERAL);
    let chain = a32(&okm[..32]);
    let identity_key = a32(&okm[32..]);
    let mut identity_aad = vec![0x01];
    identity_aad.extend_from_slice(&ephemeral_public);
    identity_aad.extend_from_slice(&recipient_bytes);
    let encrypted_identity = gcm_seal(
        &identity_key,
        &[0; 12],
        &identity_aad,
        &sender.public().to_bytes(),
    );
    let static_dh = dh(identity_x25519_secret(sender_seed), recipient_x).expect("static dh");
    let mut static_salt = chain.to_vec();
    static_salt.extend_from_slice(&encrypted_identity);
    let content_key = *kdf::hkdf_sha256::<32>(&static_salt, &static_dh, kdf::LABEL_SEALED_STATIC);
    let mut content_aad = identity_aad.clone();
    content_aad.extend_from_slice(&encrypted_identity);
    let encrypted_content = gcm_seal(&content_key, &[0; 12], &content_aad, &payload);
    let mut envelope = vec![0x01];
    envelope.extend_from_slice(&ephemeral_public);
    envelope.extend_from_slice(&encrypted_identity);
    envelope.extend_from_slice(&encrypted_content);
    SealParts {
        ephemeral_secret,
        ephemeral_public,
        ephemeral_dh,
        ephemeral_salt,
        chain,
        identity_key,
        identity_aad,
        encrypted_identity,
        static_dh,
        static_salt,
        content_key,
        payload,
        content_aad,
        encrypted_content,
        envelope,
    }
}

fn seal_parts_json(p: &SealParts) -> Obj {
    Obj::new()
        .f("ephemeral_secret", hx(p.ephemeral_secret))
        .f("ephemeral_public", hx(p.ephemeral_public))
        .f("ephemeral_dh", hx(p.ephemeral_dh))
        .f("ephemeral_salt", hx(&p.ephemeral_salt))
        .f("chain_key", hx(p.chain))
        .f("identity_key", hx(p.identity_key))
        .f("identity_aad", hx(&p.identity_aad))
        .f("encrypted_identity", hx(&p.encrypted_identity))
        .f("static_dh", hx(p.static_dh))
        .f("static_salt", hx(&p.static_salt))
        .f("content_key", hx(p.content_key))
        .f("payload", hx(&p.payload))
        .f("content_aad", hx(&p.content_aad))
        .f("encrypted_content", hx(&p.encrypted_content))
        .f("envelope", hx(&p.envelope))
}

fn certificate_json(c: &SenderCertificate) -> Json {
    Obj::new()
        .f("address", hx(&c.address))
        .f("device_id", c.device_id)
        .f("identity", hx(c.identity.to_bytes()))
        .f("expires_ms", big(c.expires_ms))
        .f("server_id", c.server.id)
        .f("bytes", hx(c.to_bytes().unwrap()))
        .into()
}

pub fn sealed_sender_json() -> Json {
    let rng_seed = [0x53; 32];
    let mut rng = Recorder::new(rng_seed);
    let context = b"alice|bob";
    let root_seed = rng.bytes32();
    let server_seed = rng.bytes32();
    let root = CertificateKeyPair::from_seed(&root_seed);
    let server = CertificateKeyPair::from_seed(&server_seed);
    let server_id = 7;
    let server_cert = root.certify_server(server_id, &server.public());
    let expires = T0 + 86_400_000;
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let alice_cert = server
        .certify_sender(&server_cert, b"alice", 1, alice.public(), expires)
        .expect("cert");
    let bob_cert = server
        .certify_sender(&server_cert, b"bob", 2, bob.public(), expires)
        .expect("cert");
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, CREATED_AT * 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let setup_draws = rng.take();
    let store_initial = blob(store.to_bytes().unwrap());
    let bundle = store.bundle(&bob, Some(0)).expect("bundle");
    let mut alice_session = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context),
    )
    .expect("initiate");
    let initiate_draws = rng.take();
    let roots = [root.public()];

    // Envelope 1: Alice's first message (a prekey message), opened by Bob with `respond`.
    let mut envelopes = Vec::new();
    let alice_before = blob(alice_session.to_bytes().unwrap());
    let sent1 = T0;
    let inner1 = alice_session
        .send(&mut rng, sent1, b"hello, sealed")
        .expect("send");
    let send1_draws = rng.take();
    let alice_after = blob(alice_session.to_bytes().unwrap());
    let env1 =
        sealed_sender::seal_to(&mut rng, &alice, &alice_cert, bob.public(), &inner1).expect("seal");
    let seal1_draws = rng.take();
    let parts1 = seal_parts(
        a32(&seal1_draws[0]),
        &alice.seed(),
        bob.public(),
        sealed_payload(&alice_cert.to_bytes().unwrap(), &inner1),
    );
    assert_eq!(parts1.envelope, env1);
    let open1_at = T0 + 1_500;
    let store_before = blob(store.to_bytes().unwrap());
    let opened = SealedRecipient {
        identity: &bob,
        trust_roots: &roots,
        revoked_servers: &[],
    }
    .open(&env1, open1_at)
    .expect("open");
    assert!(opened.is_prekey_message());
    let (mut bob_session, delivered1) = opened
        .respond(&bob, &mut store, &Config::new(context))
        .expect("respond");
    envelopes.push(Json::from(
        Obj::new()
            .f("name", "alice_to_bob_prekey_message")
            .f("sender", "alice")
            .f("recipient", "bob")
            .f("sender_certificate", "alice")
            .f(
                "inner",
                Obj::new()
                    .f("operation", "Session::send")
                    .f("now_ms", big(sent1))
                    .f("body", hx(b"hello, sealed"))
                    .f("rng_draws", draws_json(&send1_draws))
                    .f("sender_state_before", hx(&alice_before))
                    .f("sender_state_after", hx(&alice_after))
                    .f("message", hx(&inner1)),
            )
            .f("seal_rng_draws", draws_json(&seal1_draws))
            .f("seal", seal_parts_json(&parts1))
            .f(
                "open",
                Obj::new()
                    .f("now_ms", big(open1_at))
                    .f("is_prekey_message", true)
                    .f("operation", "Opened::respond")
                    .f("prekey_store_before", hx(&store_before))
                    .f("prekey_store_after", hx(blob(store.to_bytes().unwrap())))
                    .f("recipient_state_before", Json::Null)
                    .f(
                        "recipient_state_after",
                        hx(blob(bob_session.to_bytes().unwrap())),
                    ),
            )
            .f(
                "expected",
                Obj::new()
                    .f("sender_address", hx(&delivered1.sender.address))
                    .f("sender_device_id", delivered1.sender.device_id)
                    .f("sender_identity", hx(delivered1.sender.identity.to_bytes()))
                    .f(
                        "received",
                        received_json(delivered1.receipt.message().unwrap()),
                    ),
            ),
    ));

    // Envelope 2: Bob's reply (a normal message), opened by Alice with `decrypt`.
    let bob_before = blob(bob_session.to_bytes().unwrap());
    let sent2 = T0 + 60_000;
    let inner2 = bob_session
        .send(&mut rng, sent2, b"hi Alice, sealed too")
        .expect("send");
    let send2_draws = rng.take();
    let bob_after = blob(bob_session.to_bytes().unwrap());
    let env2 =
        sealed_sender::seal_to(&mut rng, &bob, &bob_cert, alice.public(), &inner2).expect("seal");
    let seal2_draws = rng.take();
    let parts2 = seal_parts(
        a32(&seal2_draws[0]),
        &bob.seed(),
        alice.public(),
        sealed_payload(&bob_cert.to_bytes().unwrap(), &inner2),
    );
    assert_eq!(parts2.envelope, env2);
    let open2_at = T0 + 61_000;
    let alice_recv_before = blob(alice_session.to_bytes().unwrap());
    let opened = SealedRecipient {
        identity: &alice,
        trust_roots: &roots,
        revoked_servers: &[],
    }
    .open(&env2, open2_at)
    .expect("open");
    assert!(!opened.is_prekey_message());
    let delivered2 = opened.decrypt(&mut alice_session).expect("decrypt");
    envelopes.push(Json::from(
        Obj::new()
            .f("name", "bob_to_alice_normal_message")
            .f("sender", "bob")
            .f("recipient", "alice")
            .f("sender_certificate", "bob")
            .f(
                "inner",
                Obj::new()
                    .f("operation", "Session::send")
                    .f("now_ms", big(sent2))
                    .f("body", hx(b"hi Alice, sealed too"))
                    .f("rng_draws", draws_json(&send2_draws))
                    .f("sender_state_before", hx(&bob_before))
                    .f("sender_state_after", hx(&bob_after))
                    .f("message", hx(&inner2)),
            )
            .f("seal_rng_draws", draws_json(&seal2_draws))
            .f("seal", seal_parts_json(&parts2))
            .f(
                "open",
                Obj::new()
                    .f("now_ms", big(open2_at))
                    .f("is_prekey_message", false)
                    .f("operation", "Opened::decrypt")
                    .f("prekey_store_before", Json::Null)
                    .f("prekey_store_after", Json::Null)
                    .f("recipient_state_before", hx(&alice_recv_before))
                    .f(
                        "recipient_state_after",
                        hx(blob(alice_session.to_bytes().unwrap())),
                    ),
            )
            .f(
                "expected",
                Obj::new()
                    .f("sender_address", hx(&delivered2.sender.address))
                    .f("sender_device_id", delivered2.sender.device_id)
                    .f("sender_identity", hx(delivered2.sender.identity.to_bytes()))
                    .f(
                        "received",
                        received_json(delivered2.receipt.message().unwrap()),
                    ),
            ),
    ));

    let server_signed = {
        let mut m = kdf::LABEL_SERVER_CERTIFICATE.to_vec();
        m.extend_from_slice(&server_id.to_be_bytes());
        m.extend_from_slice(&server.public().to_bytes());
        m
    };
    let sender_signed = |c: &SenderCertificate| {
        let bytes = c.to_bytes().unwrap();
        let mut m = kdf::LABEL_SENDER_CERTIFICATE.to_vec();
        m.extend_from_slice(&bytes[..bytes.len() - 64]);
        m
    };
    let party = |id: &IdentityKeyPair, cert: &SenderCertificate| {
        Obj::new()
            .f("identity_seed", hx(id.seed().as_slice()))
            .f("identity_public", hx(id.public().to_bytes()))
            .f(
                "identity_x25519_secret",
                hx(identity_x25519_secret(&id.seed())),
            )
            .f(
                "identity_x25519_public",
                hx(id.public().x25519().unwrap().to_bytes()),
            )
            .f("certificate", certificate_json(cert))
            .f("certificate_signed_bytes", hx(sender_signed(cert)))
    };

    header(
        "sealed_sender.json",
        "Sealed sender: certificates, envelopes with every intermediate key, and what the recipient learns",
        &["§2", "§8", "§9.1", "§9.2", "§9.3", "§9.4"],
    )
    .f(
        "setup",
        Obj::new()
            .f("rng_seed", hx(rng_seed))
            .f("trust_root_seed", hx(root_seed))
            .f("trust_root_public", hx(root.public().to_bytes()))
            .f("server_seed", hx(server_seed))
            .f("server_public", hx(server.public().to_bytes()))
            .f(
                "server_certificate",
                Obj::new()
                    .f("id", server_id)
                    .f("signed_bytes", hx(&server_signed))
                    .f("bytes", hx(server_cert.to_bytes())),
            )
            .f("alice", party(&alice, &alice_cert))
            .f("bob", party(&bob, &bob_cert))
            .f("context", hx(context))
            .f("setup_rng_draws", draws_json(&setup_draws))
            .f("bob_prekey_store", hx(&store_initial))
            .f("one_time_prekey_id", 0u32)
            .f("bundle", hx(bundle.to_bytes()))
            .f("initiate_rng_draws", draws_json(&initiate_draws))
            .f("alice_state_initial", hx(&alice_before)),
    )
    .f("envelopes", Json::Array(envelopes))
    .into()
}

// =============================================================================================
// content.json
// =============================================================================================

fn frame_case(name: &str, c: &Content) -> Json {
    let bytes = c.to_padded_bytes().expect("frame");
    assert_eq!(&Content::from_padded_bytes(&bytes).expect("decode"), c);
    let unpadded = content::FRAME_HEADER_LEN + c.body.len();
    assert_eq!(bytes.len(), xchat_protocol::padding::padded_len(unpadded));
    Obj::new()
        .f("name", name)
        .f("kind", kind_name(c.kind))
        .f("sent_at_ms", big(c.sent_at_ms))
        .f("timer", timer_json(&c.timer))
        .f("body", hx(&c.body))
        .f("unpadded_len", unpadded)
        .f("padded_len", bytes.len())
        .f("bytes", hx(&bytes))
        .into()
}

fn timer(duration_s: u32, start: TimerStart, version: u32) -> Timer {
    Timer {
        duration_s,
        start,
        version,
    }
}

fn message(sent_at_ms: u64, timer: Timer, body: Vec<u8>) -> Content {
    Content {
        kind: ContentKind::Message,
        sent_at_ms,
        timer,
        body,
    }
}

pub fn content_json() -> Json {
    let mut rng = Recorder::new([0x43; 32]);
    use TimerStart::{OnRead, OnSend};

    let on_send = timer(3600, OnSend, 1);
    let on_read = timer(300, OnRead, 2);
    let mut frames = Vec::new();
    for (name, kind, t, body_len) in [
        (
            "message, timer off, empty body",
            ContentKind::Message,
            Timer::OFF,
            0usize,
        ),
        (
            "message, timer off, 2-byte body",
            ContentKind::Message,
            Timer::OFF,
            2,
        ),
        (
            "message, on-send 1 h, frame exactly 256 bytes",
            ContentKind::Message,
            on_send,
            233,
        ),
        (
            "message, on-read 5 min, one byte past the 256 floor",
            ContentKind::Message,
            on_read,
            234,
        ),
        (
            "message, on-send, exactly the 272 bucket",
            ContentKind::Message,
            on_send,
            249,
        ),
        (
            "message, on-send, one past the 272 bucket",
            ContentKind::Message,
            on_send,
            250,
        ),
        (
            "message, timer off, exactly 1024",
            ContentKind::Message,
            Timer::OFF,
            1001,
        ),
        (
            "message, timer off, 1025 pads to 1088",
            ContentKind::Message,
            Timer::OFF,
            1002,
        ),
        (
            "timer update, on-send 30 s",
            ContentKind::TimerUpdate,
            timer(30, OnSend, 4),
            0,
        ),
        (
            "timer update, on-read 1 day",
            ContentKind::TimerUpdate,
            timer(86_400, OnRead, 5),
            0,
        ),
        (
            "timer update, off",
            ContentKind::TimerUpdate,
            timer(0, OnSend, 6),
            0,
        ),
    ] {
        let body = rng.bytes(body_len);
        let sent_at_ms = T0 + frames.len() as u64 * 1000;
        frames.push(frame_case(
            name,
            &Content {
                kind,
                sent_at_ms,
                timer: t,
                body,
            },
        ));
    }

    let max_body = content::max_body_len();
    let mut padding = Vec::new();
    for len in [
        0usize,
        1,
        2,
        3,
        23,
        100,
        255,
        256,
        257,
        271,
        272,
        273,
        288,
        289,
        511,
        512,
        513,
        1000,
        1023,
        1024,
        1025,
        1088,
        1089,
        4095,
        4096,
        4097,
        65_535,
        65_536,
        65_537,
        100_000,
        1_048_575,
        1_048_576,
        content::FRAME_HEADER_LEN + max_body,
        content::FRAME_HEADER_LEN + max_body + 1,
    ] {
        padding.push(Json::from(
            Obj::new()
                .f("len", len)
                .f("padded_len", xchat_protocol::padding::padded_len(len)),
        ));
    }

    // Deadlines (§8.5).
    let skew = content::MAX_CLOCK_SKEW_MS;
    let minute = timer(60, OnSend, 1);
    let mut deadlines = Vec::new();
    let mut deadline_case = |name: &str, sent_at_ms: u64, t: Timer, now_ms: u64| {
        let c = message(sent_at_ms, t, Vec::new());
        deadlines.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("sent_at_ms", big(sent_at_ms))
                .f("timer", timer_json(&t))
                .f("now_ms", big(now_ms))
                .f("deadline", deadline_json(c.deadline(now_ms))),
        ));
    };
    deadline_case("timer off", T0, Timer::OFF, T0 + 10_000_000);
    deadline_case("on-read", T0, timer(60, OnRead, 1), T0 + 10_000_000);
    deadline_case("on-send, received at once", T0, minute, T0);
    deadline_case(
        "on-send, received at the deadline plus the full skew",
        T0,
        minute,
        T0 + 60_000 + skew,
    );
    deadline_case(
        "on-send, received 1 ms too late: expired",
        T0,
        minute,
        T0 + 60_000 + skew + 1,
    );
    deadline_case(
        "on-send, sender clock 1 h ahead: clamped to now + skew",
        T0 + 3_600_000,
        minute,
        T0,
    );
    deadline_case(
        "on-send, sender clock 1 h behind: expired",
        T0 - 3_600_000,
        minute,
        T0,
    );
    deadline_case(
        "on-send, additions saturate at 2^64 - 1",
        u64::MAX - 10,
        timer(u32::MAX, OnSend, 1),
        u64::MAX - 5,
    );
    let mut after_read = Vec::new();
    for (name, d, read_at) in [
        ("after read", Deadline::AfterRead(60_000), T0),
        (
            "after read, saturating",
            Deadline::AfterRead(60_000),
            u64::MAX - 1,
        ),
        ("never stays never", Deadline::Never, T0),
        ("at stays at", Deadline::At(T0 + 5), T0),
    ] {
        after_read.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("deadline", deadline_json(Some(d)))
                .f("read_at_ms", big(read_at))
                .f("result", deadline_json(Some(d.after_read(read_at)))),
        ));
    }

    // Timer precedence (§8.4).
    let mut supersedes = Vec::new();
    for (name, candidate, current, expected) in [
        (
            "higher version wins",
            timer(0, OnSend, 5),
            timer(60, OnSend, 4),
            true,
        ),
        (
            "lower version loses",
            timer(60, OnSend, 3),
            timer(0, OnSend, 4),
            false,
        ),
        ("identical timer does not supersede", minute, minute, false),
        (
            "same version: shorter duration wins",
            timer(30, OnSend, 4),
            timer(60, OnSend, 4),
            true,
        ),
        (
            "same version: longer duration loses",
            timer(60, OnSend, 4),
            timer(30, OnSend, 4),
            false,
        ),
        (
            "same version: a duration beats off",
            timer(3600, OnRead, 4),
            timer(0, OnSend, 4),
            true,
        ),
        (
            "same version: off loses to a duration",
            timer(0, OnSend, 4),
            timer(3600, OnRead, 4),
            false,
        ),
        (
            "same version: the longest on-read timer beats off (off ranks after every duration)",
            timer(u32::MAX, OnRead, 4),
            timer(0, OnSend, 4),
            true,
        ),
        (
            "same version: off never beats the longest on-read timer",
            timer(0, OnSend, 4),
            timer(u32::MAX, OnRead, 4),
            false,
        ),
        (
            "same version: the longest on-send timer beats off",
            timer(u32::MAX, OnSend, 4),
            timer(0, OnSend, 4),
            true,
        ),
        (
            "same version: off never beats the longest on-send timer",
            timer(0, OnSend, 4),
            timer(u32::MAX, OnSend, 4),
            false,
        ),
        (
            "same version and duration: on-send beats on-read",
            timer(60, OnSend, 4),
            timer(60, OnRead, 4),
            true,
        ),
        (
            "same version and duration: on-read loses to on-send",
            timer(60, OnRead, 4),
            timer(60, OnSend, 4),
            false,
        ),
        (
            "version 0 never supersedes the initial timer",
            Timer::OFF,
            Timer::OFF,
            false,
        ),
    ] {
        assert_eq!(candidate.supersedes(&current), expected, "{name}");
        supersedes.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("candidate", timer_json(&candidate))
                .f("current", timer_json(&current))
                .f("supersedes", expected),
        ));
    }

    header(
        "content.json",
        "Content frames: encoding, Padme padding, timers, deadlines, and a session exchanging framed messages",
        &["§8.1", "§8.2", "§8.3", "§8.4", "§8.5", "§8.6"],
    )
    .f(
        "constants",
        Obj::new()
            .f("frame_header_len", content::FRAME_HEADER_LEN)
            .f("min_padded_len", xchat_protocol::padding::MIN_PADDED_LEN)
            .f("max_clock_skew_ms", big(skew))
            .f("max_body_len", max_body),
    )
    .f("frames", Json::Array(frames))
    .f("padding", Json::Array(padding))
    .f("deadlines", Json::Array(deadlines))
    .f("after_read", Json::Array(after_read))
    .f("supersedes", Json::Array(supersedes))
    .f("session_flow", timer_flow())
    .into()
}

fn party<'s>(who: Who, a: &'s mut Session, b: &'s mut Option<Session>) -> &'s mut Session {
    match who {
        Who::Alice => a,
        Who::Bob => b.as_mut().expect("bob has a session"),
    }
}

fn start_name(start: TimerStart) -> &'static str {
    match start {
        TimerStart::OnSend => "on_send",
        TimerStart::OnRead => "on_read",
    }
}

fn finish_send(o: Obj, before: &[u8], session: &Session, wire: &[u8], draws: &[Vec<u8>]) -> Obj {
    o.f("rng_draws", draws_json(draws))
        .f("timer_after", timer_json(&session.timer()))
        .f("wire", hx(wire))
        .f("state_before", hx(before))
        .f("state_after", hx(blob(session.to_bytes().unwrap())))
}

/// Alice and Bob exchange framed messages, change timers, skip and purge keys (§8.3–§8.6).
fn timer_flow() -> Json {
    let rng_seed = [0x44; 32];
    let mut rng = Recorder::new(rng_seed);
    let context = b"timers";
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, CREATED_AT * 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    rng.take();
    let store_initial = blob(store.to_bytes().unwrap());
    let bundle = store.bundle(&bob, Some(0)).expect("bundle");
    let mut a = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context),
    )
    .expect("initiate");
    let init_draws = rng.take();
    let alice_initial = blob(a.to_bytes().unwrap());
    let mut b: Option<Session> = None;
    let mut events = Vec::new();
    let mut wires: Vec<(&&str, Vec<u8>)> = Vec::new();

    enum Ev {
        Send(Who, &'static str, u64, &'static str),
        SetTimer(Who, &'static str, u64, u32, TimerStart),
        Receive(Who, &'static str, u64),
        Purge(Who, u64),
    }
    let t = |ms: u64| T0 + ms;
    let skipped_deadline = t(9_000) + 60_000 + 2 * content::MAX_CLOCK_SKEW_MS;
    let script = [
        Ev::Send(Who::Alice, "hello", t(0), "hello"),
        Ev::Receive(Who::Bob, "hello", t(500)),
        Ev::Send(Who::Bob, "reply", t(1_000), "hi"),
        Ev::Receive(Who::Alice, "reply", t(1_500)),
        Ev::SetTimer(Who::Alice, "timer60", t(2_000), 60, TimerStart::OnSend),
        Ev::Send(Who::Alice, "one", t(3_000), "one"),
        Ev::Send(Who::Alice, "two", t(4_000), "two"),
        Ev::Send(Who::Alice, "three", t(5_000), "three"),
        Ev::Receive(Who::Bob, "timer60", t(6_000)),
        Ev::Receive(Who::Bob, "three", t(9_000)),
        Ev::Receive(Who::Bob, "one", t(10_000)),
        Ev::Purge(Who::Bob, skipped_deadline),
        Ev::Purge(Who::Bob, skipped_deadline + 1),
        Ev::Receive(Who::Bob, "two", skipped_deadline + 2),
        Ev::SetTimer(Who::Bob, "read1h", t(20_000), 3_600, TimerStart::OnRead),
        Ev::Receive(Who::Alice, "read1h", t(21_000)),
        Ev::Send(Who::Alice, "four", t(22_000), "four"),
        Ev::Receive(Who::Bob, "four", t(23_000)),
        Ev::Send(Who::Alice, "late", t(24_000), "late"),
        Ev::SetTimer(Who::Alice, "timer10", t(25_000), 10, TimerStart::OnSend),
        Ev::Receive(Who::Bob, "timer10", t(26_000)),
        Ev::Send(Who::Alice, "old", t(27_000), "sent under the 10 s timer"),
        Ev::Receive(
            Who::Bob,
            "old",
            t(27_000) + 10_000 + content::MAX_CLOCK_SKEW_MS + 1,
        ),
        Ev::Receive(Who::Bob, "late", t(28_000)),
    ];
    for (step, ev) in script.iter().enumerate() {
        let o = Obj::new().f("step", step);
        let o = match ev {
            Ev::Send(who, id, now, body) => {
                let session = party(*who, &mut a, &mut b);
                let before = blob(session.to_bytes().unwrap());
                let wire = session.send(&mut rng, *now, body.as_bytes()).expect("send");
                let o = o
                    .f("action", "send")
                    .f("actor", who.name())
                    .f("message", *id)
                    .f("operation", "Session::send")
                    .f("now_ms", big(*now))
                    .f("body", hx(body.as_bytes()));
                let o = finish_send(o, &before, session, &wire, &rng.take());
                wires.push((id, wire));
                o
            }
            Ev::SetTimer(who, id, now, duration, start) => {
                let session = party(*who, &mut a, &mut b);
                let before = blob(session.to_bytes().unwrap());
                let wire = session
                    .set_timer(&mut rng, *now, *duration, *start)
                    .expect("set_timer");
                let o = o
                    .f("action", "set_timer")
                    .f("actor", who.name())
                    .f("message", *id)
                    .f("operation", "Session::set_timer")
                    .f("now_ms", big(*now))
                    .f("duration_s", *duration)
                    .f("start", start_name(*start));
                let o = finish_send(o, &before, session, &wire, &rng.take());
                wires.push((id, wire));
                o
            }
            Ev::Receive(who, id, now) => {
                let wire = &wires.iter().find(|(w, _)| *w == id).expect("sent").1;
                let mut o = o
                    .f("action", "receive")
                    .f("actor", who.name())
                    .f("message", *id)
                    .f("now_ms", big(*now));
                let (before, result) = if *who == Who::Bob && b.is_none() {
                    let store_before = blob(store.to_bytes().unwrap());
                    let (session, received) =
                        Session::accept(&bob, &mut store, wire, &Config::new(context), *now)
                            .expect("accept");
                    b = Some(session);
                    o = o
                        .f("operation", "Session::accept")
                        .f("prekey_store_before", hx(&store_before))
                        .f("prekey_store_after", hx(blob(store.to_bytes().unwrap())));
                    (None, Ok(received))
                } else {
                    let session = party(*who, &mut a, &mut b);
                    let before = blob(session.to_bytes().unwrap());
                    o = o.f("operation", "Session::receive");
                    (Some(before), receipt_as_result(session.receive(wire, *now)))
                };
                let session = party(*who, &mut a, &mut b);
                let o = match &result {
                    Ok(r) => o.f("result", received_json(r)).f("error", Json::Null),
                    Err(e) => o.f("result", Json::Null).f("error", format!("{e:?}")),
                };
                o.f("timer_after", timer_json(&session.timer()))
                    .f("state_before", before.map(hx))
                    .f("state_after", hx(blob(session.to_bytes().unwrap())))
            }
            Ev::Purge(who, now) => {
                let session = party(*who, &mut a, &mut b);
                let before = blob(session.to_bytes().unwrap());
                let purged = session.purge(*now);
                o.f("action", "purge")
                    .f("actor", who.name())
                    .f("operation", "Session::purge")
                    .f("now_ms", big(*now))
                    .f("purged", purged)
                    .f("state_before", hx(&before))
                    .f("state_after", hx(blob(session.to_bytes().unwrap())))
            }
        };
        events.push(Json::from(o));
    }
    // The script's intended outcomes, asserted so that a behaviour change is noticed here too.
    let outcome = |step: usize, key: &str| -> Json {
        events[step].get(key).cloned().expect("field")
    };
    assert_eq!(outcome(11, "purged"), Json::from(0));
    assert_eq!(outcome(12, "purged"), Json::from(1));
    assert_eq!(outcome(13, "error"), Json::from("DuplicateMessage"));
    assert_eq!(outcome(22, "error"), Json::from("Expired"));
    assert_eq!(outcome(23, "error"), Json::Null);

    Obj::new()
        .f("rng_seed", hx(rng_seed))
        .f("alice_identity_seed", hx(alice.seed().as_slice()))
        .f("bob_identity_seed", hx(bob.seed().as_slice()))
        .f("context", hx(context))
        .f("bob_prekey_store", hx(&store_initial))
        .f("one_time_prekey_id", 0u32)
        .f("bundle", hx(bundle.to_bytes()))
        .f("initiate_rng_draws", draws_json(&init_draws))
        .f("alice_state_initial", hx(&alice_initial))
        .f("events", Json::Array(events))
        .into()
}

// =============================================================================================
// state.json
// =============================================================================================

fn state_entry(name: &str, description: &str, object: &str, bytes: &[u8]) -> Json {
    let fields = match object {
        "identity" => {
            let body = blob_body(KIND_IDENTITY, bytes);
            let seed = a32(body);
            let id = IdentityKeyPair::from_seed(&seed);
            assert_eq!(
                IdentityKeyPair::from_bytes(bytes)
                    .expect("decode")
                    .to_bytes()
                    .as_slice(),
                bytes
            );
            Obj::new()
                .f("seed", hx(seed))
                .f("public", hx(id.public().to_bytes()))
                .into()
        }
        "prekey_store" => {
            assert_eq!(
                PreKeyStore::from_bytes(bytes)
                    .expect("decode")
                    .to_bytes()
                    .unwrap()
                    .as_slice(),
                bytes
            );
            store_fields(&parse_store(bytes))
        }
        "session" => {
            assert_eq!(
                Session::from_bytes(bytes)
                    .expect("decode")
                    .to_bytes()
                    .unwrap()
                    .as_slice(),
                bytes
            );
            session_fields(&parse_session(bytes))
        }
        _ => unreachable!(),
    };
    Obj::new()
        .f("name", name)
        .f("description", description)
        .f("object", object)
        .f("bytes", hx(bytes))
        .f("fields", fields)
        .into()
}

pub fn state_json() -> Json {
    let rng_seed = [0x54; 32];
    let mut rng = Recorder::new(rng_seed);
    let mut entries = Vec::new();
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    entries.push(state_entry(
        "identity",
        "IdentityKeyPair::to_bytes: the 32-byte Ed25519 seed",
        "identity",
        &alice.to_bytes(),
    ));

    let mut store = PreKeyStore::new();
    entries.push(state_entry(
        "store_empty",
        "PreKeyStore::new()",
        "prekey_store",
        &store.to_bytes().unwrap(),
    ));
    store.rotate_signed_prekey(&mut rng, &bob, CREATED_AT * 1000);
    entries.push(state_entry(
        "store_one_signed_prekey",
        "after rotate_signed_prekey(1700000000)",
        "prekey_store",
        &store.to_bytes().unwrap(),
    ));
    store.generate_one_time_prekeys(&mut rng, 3).unwrap();
    entries.push(state_entry(
        "store_with_one_time_prekeys",
        "after generate_one_time_prekeys(3): ids 0, 1, 2",
        "prekey_store",
        &store.to_bytes().unwrap(),
    ));
    for i in 1..=3 {
        store.rotate_signed_prekey(&mut rng, &bob, (CREATED_AT + i * 86_400) * 1000);
    }
    entries.push(state_entry(
        "store_rotated",
        "after three more rotations: signed prekey 0 dropped, 1..3 kept (oldest first)",
        "prekey_store",
        &store.to_bytes().unwrap(),
    ));

    // Sessions: one with a one-time prekey and custom limits; one without.
    let context = b"state vectors";
    let bundle = store.bundle(&bob, Some(1)).expect("bundle");
    let mut a = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context),
    )
    .expect("initiate");
    entries.push(state_entry(
        "session_initiator_new",
        "initiator right after Session::initiate: unacknowledged, sending chain, DHr = SPK_B",
        "session",
        &a.to_bytes().unwrap(),
    ));
    let m0 = a.encrypt(&mut rng, b"m0").expect("encrypt");
    let m1 = a.encrypt(&mut rng, b"m1").expect("encrypt");
    let m2 = a.encrypt(&mut rng, b"m2").expect("encrypt");
    let (mut b, _) = Session::respond(
        &bob,
        &mut store,
        &m2,
        &Config::new(context).with_limits(Limits {
            max_skip: 100,
            max_skipped_keys: 200,
            max_old_chains: 2,
            max_skipped_key_age: 50,
        }),
    )
    .expect("respond");
    entries.push(state_entry(
        "store_after_one_time_prekey_used",
        "after Session::respond consumed one-time prekey 1",
        "prekey_store",
        &store.to_bytes().unwrap(),
    ));
    let responder_new = blob(b.to_bytes().unwrap());
    entries.push(state_entry(
        "session_responder_new",
        "responder after respond_with_limits on the third message: two skipped keys, sending half-step deferred (send absent, DHs = SPK_B)",
        "session",
        &b.to_bytes().unwrap(),
    ));
    b.decrypt(&m0).expect("m0");
    let r0 = b.encrypt(&mut rng, b"r0").expect("encrypt");
    let r1 = b.encrypt(&mut rng, b"r1").expect("encrypt");
    a.decrypt(&r1).expect("r1");
    entries.push(state_entry(
        "session_initiator_acknowledged",
        "initiator after the first reply: acknowledged, one skipped key, half-step deferred",
        "session",
        &a.to_bytes().unwrap(),
    ));
    let a3 = a.encrypt(&mut rng, b"a3").expect("encrypt");
    b.decrypt(&a3).expect("a3");
    let _ = (r0, m1);
    entries.push(state_entry(
        "session_responder_with_old_chain",
        "responder after a new ratchet key: one old chain, skipped keys under it",
        "session",
        &b.to_bytes().unwrap(),
    ));
    let t = b
        .set_timer(&mut rng, T0, 600, TimerStart::OnRead)
        .expect("timer");
    a.receive(&t, T0 + 10)
        .expect("timer")
        .into_message()
        .unwrap();
    entries.push(state_entry(
        "session_with_timer",
        "initiator after receiving an on-read 10 min timer, version 1",
        "session",
        &a.to_bytes().unwrap(),
    ));
    let mut trimmed = Session::from_bytes(&responder_new).expect("loads");
    trimmed
        .set_limits(Limits {
            max_skip: 1,
            max_skipped_keys: 1,
            max_old_chains: 1,
            max_skipped_key_age: 1,
        })
        .expect("limits");
    entries.push(state_entry(
        "session_minimal_limits",
        "session_responder_new after set_limits(1, 1, 1, 1): the older of its two skipped keys is dropped",
        "session",
        &trimmed.to_bytes().unwrap(),
    ));

    let bundle = store.bundle(&bob, None).expect("bundle");
    let mut c = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b""),
    )
    .expect("initiate");
    let first = c.encrypt(&mut rng, b"no one-time prekey").expect("encrypt");
    let (d, _) = Session::respond(&bob, &mut store, &first, &Config::new(b"")).expect("respond");
    let store_v2 = blob(store.to_bytes().unwrap());
    entries.push(state_entry(
        "store_with_accepted_first_message",
        "after a session without a one-time prekey: its first-message id (§3.6) in the signed prekey's record",
        "prekey_store",
        &store_v2,
    ));
    // The same store as version 1 wrote it: no record per signed prekey, the base key in a list.
    // Loading converts the list into the record of every held signed prekey (§10.2).
    let parsed = parse_store(&store_v2);
    let seen = [a32(&first[34..66])];
    let v1 = state_blob(KIND_STORE, 1, &store_body_v1(&parsed, &seen));
    let migrated = blob(
        PreKeyStore::from_bytes(&v1)
            .expect("v1")
            .to_bytes()
            .unwrap(),
    );
    // Every held signed prekey now records the base key's id under its own DH3.
    for (_, _, secret, _, accepted) in &parse_store(&migrated).signed {
        let dh3 = dh(*secret, seen[0]).expect("dh3");
        assert!(accepted.contains(&first_message_id(dh3)));
    }
    entries.push(
        Obj::new()
            .f("name", "store_version_1_with_seen_base_key")
            .f(
                "description",
                "the previous entry's store in version 1 of §10.2; PreKeyStore::from_bytes records the seen base key under every held signed prekey, and to_bytes gives `migrated` (version 2)",
            )
            .f("object", "prekey_store_v1")
            .f("bytes", hx(&v1))
            .f(
                "fields",
                Json::from(
                    Obj::new()
                        .f("seen_base_keys", hex_list(&seen))
                        .f("migrated", hx(&migrated)),
                ),
            )
            .into(),
    );
    entries.push(state_entry(
        "session_responder_without_one_time_prekey",
        "responder of a session without a one-time prekey, empty context",
        "session",
        &d.to_bytes().unwrap(),
    ));
    // The same session as version 1 wrote it: its ratchet secret as drawn (here with a bit that
    // clamping clears) and a purge deadline in place of each skip time (SPEC.md §10.3).
    // A framed message skipped by `receive`, so that one key has a skip time.
    let mut d = d;
    let m1 = c.send(&mut rng, T0, b"skipped").expect("send");
    let m2 = c.send(&mut rng, T0, b"received").expect("send");
    d.receive(&m2, T0 + 1_000)
        .expect("receive")
        .into_message()
        .unwrap();
    drop(m1);
    let v3 = blob(d.to_bytes().unwrap());
    let mut old = parse_session(&v3);
    assert!(old.skipped.iter().any(|e| e.skipped_at_ms == T0 + 1_000));
    // Version 1 kept the old ratchet secret of a pending sending side; here an unclamped one,
    // which reading drops.
    let old_dhs = [0x11; 32];
    assert!(old.send.is_none());
    for e in &mut old.skipped {
        if e.skipped_at_ms != u64::MAX {
            e.skipped_at_ms += 2 * content::MAX_CLOCK_SKEW_MS;
        }
    }
    let v1 = state_blob(KIND_SESSION, 1, &session_body_v2(&old, old_dhs, [0; 32]));
    assert_eq!(
        blob(Session::from_bytes(&v1).expect("v1").to_bytes().unwrap()),
        v3
    );
    entries.push(
        Obj::new()
            .f("name", "session_version_1")
            .f(
                "description",
                "a session (the previous entry after one more framed message, whose predecessor was skipped at T0 + 1 s) in version 1 of §10.3: role and acknowledged flags, the old DHs secret of its pending sending side (here 0x11…, bit 0 set), and a purge deadline skip time + 2 · MAX_CLOCK_SKEW in place of the skip time; Session::from_bytes reads it, drops the dead secret, and to_bytes gives `migrated` (version 3)",
            )
            .f("object", "session_v1")
            .f("bytes", hx(&v1))
            .f("fields", Json::from(Obj::new().f("migrated", hx(&v3))))
            .into(),
    );

    // Sealed at rest (§10.4): the identity, one store and one session of the entries above,
    // under a fixed storage key, each checked here from public primitives.
    let storage_key = [0x5Au8; 32];
    let key = StorageKey::from_bytes(storage_key);
    let mut seal_rng = Recorder::new([0x55; 32]);
    let sealed_of = [
        "identity",
        "store_with_accepted_first_message",
        "session_with_timer",
    ];
    for name in sealed_of {
        let entry = entries
            .iter()
            .find(|e| e["name"] == name)
            .expect("entry");
        let plain = hex::decode(entry["bytes"].as_str().expect("bytes")).expect("hex");
        let sealed = match plain[0] {
            KIND_IDENTITY => IdentityKeyPair::from_bytes(&plain)
                .expect("identity")
                .to_sealed_bytes(&mut seal_rng, &key),
            KIND_STORE => PreKeyStore::from_bytes(&plain)
                .expect("store")
                .to_sealed_bytes(&mut seal_rng, &key),
            _ => Session::from_bytes(&plain)
                .expect("session")
                .to_sealed_bytes(&mut seal_rng, &key),
        }
        .expect("seal");
        let salt = seal_rng.take().pop().expect("one draw: the salt");
        assert_eq!(&sealed[..2], &[plain[0] | 0x80, plain[1]]);
        assert_eq!(&sealed[2..34], salt.as_slice());
        let mut info = b"xchat-protocol v1 state at rest".to_vec();
        info.extend_from_slice(&plain[..2]);
        let blob_key = *kdf::hkdf_sha256::<32>(&salt, &storage_key, &info);
        let body = &plain[2..plain.len() - 16];
        let mut ciphertext = body.to_vec();
        let tag = Aes256Gcm::new(&blob_key.into())
            .encrypt_inout_detached(
                &Nonce::<Aes256Gcm>::from([0; 12]),
                &sealed[..34],
                ciphertext.as_mut_slice().into(),
            )
            .expect("seal");
        assert_eq!(
            sealed[34..],
            [ciphertext.as_slice(), tag.as_slice()].concat()
        );
        entries.push(
            Obj::new()
                .f("name", format!("{name}_sealed"))
                .f(
                    "description",
                    format!("the `{name}` entry sealed at rest (§10.4) under storage_key"),
                )
                .f("object", "sealed")
                .f("bytes", hx(&sealed))
                .f(
                    "fields",
                    Obj::new()
                        .f("plain_entry", name)
                        .f("salt", hx(&salt))
                        .f("info", hx(&info))
                        .f("blob_key", hx(blob_key))
                        .f("body", hx(body)),
                )
                .into(),
        );
    }

    header(
        "state.json",
        "Persisted state: identity, prekey store and session blobs with their decoded fields, and the same sealed at rest",
        &[
            "§4.3", "§6.1", "§6.4", "§10.0", "§10.1", "§10.2", "§10.3", "§10.4", "§8.1",
        ],
    )
    .f("storage_key", hx(storage_key))
    .f("rng_seed", hx(rng_seed))
    .f("alice_identity", hx(alice.public().to_bytes()))
    .f("alice_identity_seed", hx(alice.seed().as_slice()))
    .f("bob_identity", hx(bob.public().to_bytes()))
    .f("bob_identity_seed", hx(bob.seed().as_slice()))
    .f("entries", Json::Array(entries))
    .into()
}

// =============================================================================================
// negative.json
// =============================================================================================

/// Points that X25519 maps to all-zero output (low order), all canonical encodings.
pub const LOW_ORDER_X25519: [(&str, &str); 4] = [
    (
        "u = 0",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "u = 1",
        "0100000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "u = p - 1",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "point of order 8",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    ),
];

fn h32(s: &str) -> [u8; 32] {
    a32(&hex::decode(s).expect("hex"))
}

/// The seven other canonical encodings `u(P + T)` of the X25519 key `u`, for the non-trivial
/// 8-torsion points `T`: the same DH results as `u`, different bytes (SPEC.md §3.5, §4.4).
pub fn x25519_torsion_variants(u: &[u8]) -> Vec<[u8; 32]> {
    let point = curve25519_dalek::MontgomeryPoint(a32(u))
        .to_edwards(0)
        .expect("on the curve");
    let variants: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION[1..]
        .iter()
        .map(|t| (point + t).to_montgomery().to_bytes())
        .collect();
    for v in &variants {
        assert_ne!(v, &a32(u));
        assert!(PublicKey::from_bytes(*v).is_ok(), "canonical");
    }
    variants
}

/// The seven encodings `A + T` of the Ed25519 key `a` (SPEC.md §2 rule 4).
pub fn ed25519_torsion_variants(a: &[u8]) -> Vec<[u8; 32]> {
    let point = curve25519_dalek::edwards::CompressedEdwardsY(a32(a))
        .decompress()
        .expect("a point");
    curve25519_dalek::constants::EIGHT_TORSION[1..]
        .iter()
        .map(|t| (point + t).compress().to_bytes())
        .collect()
}

struct Neg {
    entries: Vec<Json>,
}

impl Neg {
    fn push(&mut self, name: &str, spec: &str, op: &str, input: Obj, expected: String) {
        self.entries.push(
            Obj::new()
                .f("name", name)
                .f("spec", spec)
                .f("operation", op)
                .f("input", input)
                .f("expected_error", expected)
                .into(),
        );
    }

    fn push_with(
        &mut self,
        name: &str,
        spec: &str,
        op: &str,
        input: Obj,
        expected: String,
        extra: Obj,
    ) {
        let mut o = Obj::new()
            .f("name", name)
            .f("spec", spec)
            .f("operation", op)
            .f("input", input)
            .f("expected_error", expected);
        for (k, v) in extra.0 {
            o = o.f(&k, v);
        }
        self.entries.push(o.into());
    }

    /// A pure decoder (`op` names the public function).
    fn decode(&mut self, name: &str, spec: &str, op: &str, bytes: &[u8], expected: &str) {
        let got = run_decode(op, bytes);
        assert_eq!(got, expected, "{name}");
        self.push(
            name,
            spec,
            op,
            Obj::new().f("bytes", hx(bytes)),
            expected.to_owned(),
        );
    }

    fn decrypt(&mut self, name: &str, spec: &str, session: &[u8], message: &[u8], expected: &str) {
        let mut s = Session::from_bytes(session).expect("session");
        let got = format!("{:?}", s.decrypt(message).expect_err(name));
        assert_eq!(got, expected, "{name}");
        assert_eq!(
            s.to_bytes().unwrap().as_slice(),
            session,
            "{name}: unchanged"
        );
        self.push(
            name,
            spec,
            "Session::decrypt",
            Obj::new()
                .f("session", hx(session))
                .f("message", hx(message)),
            got,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        name: &str,
        spec: &str,
        identity: &IdentityKeyPair,
        store: &[u8],
        message: &[u8],
        context: &[u8],
        expected: &str,
    ) {
        let mut st = PreKeyStore::from_bytes(store).expect("store");
        let got = format!(
            "{:?}",
            Session::respond(identity, &mut st, message, &Config::new(context)).expect_err(name)
        );
        assert_eq!(got, expected, "{name}");
        assert_eq!(
            st.to_bytes().unwrap().as_slice(),
            store,
            "{name}: store unchanged"
        );
        self.push(
            name,
            spec,
            "Session::respond",
            Obj::new()
                .f("identity_seed", hx(identity.seed().as_slice()))
                .f("prekey_store", hx(store))
                .f("message", hx(message))
                .f("context", hx(context)),
            got,
        );
    }

    fn initiate(
        &mut self,
        name: &str,
        spec: &str,
        identity: &IdentityKeyPair,
        bundle: &[u8],
        context: &[u8],
        expected: &str,
    ) {
        let decoded = PreKeyBundle::from_bytes(bundle).expect("bundle decodes");
        let mut rng = Recorder::new([0x99; 32]);
        let got = format!(
            "{:?}",
            Session::initiate(
                &mut rng,
                identity,
                &decoded,
                Trust::FirstUse,
                &Config::new(context)
            )
            .expect_err(name)
        );
        assert_eq!(got, expected, "{name}");
        self.push(
            name,
            spec,
            "Session::initiate",
            Obj::new()
                .f("identity_seed", hx(identity.seed().as_slice()))
                .f("bundle", hx(bundle))
                .f("context", hx(context))
                .f("rng_draws", draws_json(&rng.take())),
            got,
        );
    }

    fn open(&mut self, name: &str, spec: &str, o: &OpenInput, expected: &str) {
        let recipient = IdentityKeyPair::from_seed(&o.recipient_seed);
        let got = format!(
            "{:?}",
            SealedRecipient {
                identity: &recipient,
                trust_roots: &o.roots,
                revoked_servers: &o.revoked,
            }
            .open(&o.envelope, o.now_ms)
            .expect_err(name)
        );
        assert_eq!(got, expected, "{name}");
        self.push(name, spec, "SealedRecipient::open", o.json(), got);
    }
}

#[derive(Clone)]
struct OpenInput {
    recipient_seed: [u8; 32],
    roots: Vec<CertificateKey>,
    revoked: Vec<u32>,
    envelope: Vec<u8>,
    now_ms: u64,
}

impl OpenInput {
    fn json(&self) -> Obj {
        Obj::new()
            .f("recipient_identity_seed", hx(self.recipient_seed))
            .f(
                "trust_roots",
                Json::Array(self.roots.iter().map(|r| hx(r.to_bytes())).collect()),
            )
            .f(
                "revoked_servers",
                Json::Array(self.revoked.iter().map(|r| Json::from(*r)).collect()),
            )
            .f("envelope", hx(&self.envelope))
            .f("now_ms", big(self.now_ms))
    }
}

/// Runs a decoder by name; the error as `{:?}`.
pub fn run_decode(op: &str, bytes: &[u8]) -> String {
    fn err<T>(r: Result<T, impl std::fmt::Debug>) -> String {
        match r {
            Ok(_) => "accepted".to_owned(),
            Err(e) => format!("{e:?}"),
        }
    }
    let k32 = || -> [u8; 32] { bytes.try_into().expect("32-byte key input") };
    match op {
        "PublicKey::from_bytes" => err(PublicKey::from_bytes(k32())),
        "IdentityKey::from_bytes" => err(IdentityKey::from_bytes(k32())),
        "PreKeyBundle::from_bytes" => err(PreKeyBundle::from_bytes(bytes)),
        "Incoming::decode" => err(Incoming::decode(bytes)),
        "Content::from_padded_bytes" => err(Content::from_padded_bytes(bytes)),
        "ServerCertificate::from_bytes" => err(ServerCertificate::from_bytes(bytes)),
        "SenderCertificate::from_bytes" => err(SenderCertificate::from_bytes(bytes)),
        "IdentityKeyPair::from_bytes" => err(IdentityKeyPair::from_bytes(bytes)),
        "PreKeyStore::from_bytes" => err(PreKeyStore::from_bytes(bytes)),
        "Session::from_bytes" => err(Session::from_bytes(bytes)),
        other => panic!("unknown decoder {other}"),
    }
}

fn with(bytes: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = bytes.to_vec();
    f(&mut v);
    v
}

/// Finds non-canonical (y ≥ p) Ed25519 encodings that decompress to a point not of small order.
fn non_canonical_ed25519() -> Option<[u8; 32]> {
    (2u8..19).find_map(|k| {
        // y = p + k, little-endian: p = 2^255 - 19 = ed ff … ff 7f.
        let mut y = [0xffu8; 32];
        y[31] = 0x7f;
        let low = 0xedu16 + u16::from(k);
        if low > 0xff {
            return None;
        }
        y[0] = low as u8;
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&y).ok()?;
        (!vk.is_weak()).then_some(y)
    })
}

pub fn negative_json() -> Json {
    let mut neg = Neg {
        entries: Vec::new(),
    };
    let rng_seed = [0x4e; 32];
    let mut rng = Recorder::new(rng_seed);
    let context: &[u8] = b"negative";
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mallory = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, CREATED_AT * 1000);
    store.generate_one_time_prekeys(&mut rng, 2).unwrap();
    let store_initial = blob(store.to_bytes().unwrap());
    let bundle = store.bundle(&bob, Some(1)).expect("bundle");
    let bundle_bytes = bundle.to_bytes();
    let mut a = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context),
    )
    .expect("initiate");
    let m1 = a.encrypt(&mut rng, b"first").expect("m1");
    let m2 = a.encrypt(&mut rng, b"second").expect("m2");
    let alice_unacknowledged = blob(a.to_bytes().unwrap());
    let (mut b, _) =
        Session::respond(&bob, &mut store, &m1, &Config::new(context)).expect("respond");
    let store_after = blob(store.to_bytes().unwrap());
    let bob_deferred = blob(b.to_bytes().unwrap());
    let r1 = b.encrypt(&mut rng, b"reply 1").expect("r1");
    let r2 = b.encrypt(&mut rng, b"reply 2").expect("r2");
    let bob_sending = blob(b.to_bytes().unwrap());
    a.decrypt(&r1).expect("r1");
    let alice_acknowledged = blob(a.to_bytes().unwrap());
    let a3 = a.encrypt(&mut rng, b"third").expect("a3");
    let a4 = a.encrypt(&mut rng, b"fourth").expect("a4");
    b.decrypt(&a4).expect("a4");
    let bob_with_old_chain = blob(b.to_bytes().unwrap());
    let _ = a3;
    let spk_public = bundle.signed_prekey.key.to_bytes();

    // A session without a one-time prekey, for replay through the seen list.
    let bundle_no_opk = store.bundle(&bob, None).expect("bundle");
    let mut c = Session::initiate(
        &mut rng,
        &alice,
        &bundle_no_opk,
        Trust::FirstUse,
        &Config::new(context),
    )
    .expect("initiate");
    let no_opk_first = c.encrypt(&mut rng, b"no one-time prekey").expect("encrypt");
    let mut store_seen = PreKeyStore::from_bytes(&store_after).expect("store");
    Session::respond(&bob, &mut store_seen, &no_opk_first, &Config::new(context)).expect("respond");
    let store_seen = blob(store_seen.to_bytes().unwrap());
    rng.take();

    // ---- keys (§2.3, §2.4) ------------------------------------------------------------------
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let p_plus_1 = with(&p, |v| v[0] = 0xee);
    let top_bit = with(&[9u8; 32], |v| v[31] |= 0x80);
    for (name, bytes) in [
        ("X25519 u = p (non-canonical)", p.to_vec()),
        ("X25519 u = p + 1 (non-canonical)", p_plus_1.clone()),
        ("X25519 top bit set", top_bit.clone()),
        ("X25519 all 0xff", vec![0xff; 32]),
    ] {
        neg.decode(name, "§2.3", "PublicKey::from_bytes", &bytes, "InvalidKey");
    }
    let identity_point = with(&[0u8; 32], |v| v[0] = 1);
    let order8 = h32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
    assert!(
        ed25519_dalek::VerifyingKey::from_bytes(&order8)
            .expect("decompresses")
            .is_weak()
    );
    let y_p_plus_1 = with(&p, |v| v[0] = 0xee);
    let x0_sign = with(&identity_point, |v| v[31] |= 0x80);
    let mut ed_cases = vec![
        (
            "Ed25519 identity point (small order)",
            identity_point.clone(),
        ),
        ("Ed25519 point of order 8", order8.to_vec()),
        (
            "Ed25519 y = p + 1: non-canonical encoding of a small-order point",
            y_p_plus_1,
        ),
        ("Ed25519 x = 0 with the sign bit set", x0_sign),
    ];
    let not_on_curve = (2u8..=255)
        .map(|y| with(&[0u8; 32], |v| v[0] = y))
        .find(|v| ed25519_dalek::VerifyingKey::from_bytes(&a32(v)).is_err())
        .expect("some small y is not on the curve");
    ed_cases.push(("Ed25519 y with no curve point", not_on_curve));
    let non_canonical = non_canonical_ed25519();
    if let Some(y) = non_canonical {
        ed_cases.push((
            "Ed25519 y = p + k: non-canonical encoding of a point of large order",
            y.to_vec(),
        ));
    }
    for (name, bytes) in &ed_cases {
        neg.decode(name, "§2.4", "IdentityKey::from_bytes", bytes, "InvalidKey");
    }

    // ---- bundles (§5.1) ---------------------------------------------------------------------
    let bundle_ops = "PreKeyBundle::from_bytes";
    neg.decode("bundle: empty", "§2.6", bundle_ops, &[], "Truncated");
    neg.decode(
        "bundle: last byte missing",
        "§2.6",
        bundle_ops,
        &bundle_bytes[..bundle_bytes.len() - 1],
        "Truncated",
    );
    neg.decode(
        "bundle: one-time prekey flag set, fields missing",
        "§2.6",
        bundle_ops,
        &with(&bundle_no_opk.to_bytes(), |v| v[141] = 1),
        "Truncated",
    );
    neg.decode(
        "bundle: trailing byte",
        "§2.5",
        bundle_ops,
        &with(&bundle_bytes, |v| v.push(0)),
        "TrailingBytes",
    );
    neg.decode(
        "bundle: unknown version",
        "§5.1",
        bundle_ops,
        &with(&bundle_bytes, |v| v[0] = 2),
        "UnknownVersion(2)",
    );
    neg.decode(
        "bundle: flag 0x02",
        "§2.2",
        bundle_ops,
        &with(&bundle_bytes, |v| v[141] = 2),
        "NonCanonical",
    );
    neg.decode(
        "bundle: small-order identity",
        "§2.4",
        bundle_ops,
        &with(&bundle_bytes, |v| v[1..33].copy_from_slice(&order8)),
        "InvalidKey",
    );
    neg.decode(
        "bundle: signed prekey u = p",
        "§2.3",
        bundle_ops,
        &with(&bundle_bytes, |v| v[45..77].copy_from_slice(&p)),
        "InvalidKey",
    );
    neg.decode(
        "bundle: one-time prekey with top bit",
        "§2.3",
        bundle_ops,
        &with(&bundle_bytes, |v| v[146..178].copy_from_slice(&top_bit)),
        "InvalidKey",
    );

    // ---- messages (§5.4) --------------------------------------------------------------------
    let dec = "Incoming::decode";
    let normal = r1.clone();
    neg.decode("message: empty", "§5.4 step 1", dec, &[], "Truncated");
    neg.decode(
        "message: unknown version",
        "§5.4 step 2",
        dec,
        &[2, 1],
        "UnknownVersion(2)",
    );
    neg.decode(
        "message: version only",
        "§5.4 step 3",
        dec,
        &[1],
        "Truncated",
    );
    neg.decode(
        "message: unknown type",
        "§5.4 step 4",
        dec,
        &with(&normal, |v| v[1] = 3),
        "UnknownType(3)",
    );
    neg.decode(
        "message: prekey fields truncated",
        "§5.4 step 5",
        dec,
        &m1[..50],
        "Truncated",
    );
    neg.decode(
        "prekey message: small-order IK_A",
        "§5.4 step 5",
        dec,
        &with(&m1, |v| v[2..34].copy_from_slice(&identity_point)),
        "InvalidKey",
    );
    neg.decode(
        "prekey message: base key u = p",
        "§5.4 step 5",
        dec,
        &with(&m1, |v| v[34..66].copy_from_slice(&p)),
        "InvalidKey",
    );
    neg.decode(
        "prekey message: one-time prekey flag 0x02",
        "§5.4 step 5",
        dec,
        &with(&m1, |v| v[70] = 2),
        "NonCanonical",
    );
    neg.decode(
        "normal message: 57 bytes",
        "§5.4 step 6",
        dec,
        &normal[..57],
        "Truncated",
    );
    neg.decode(
        "prekey message: embedded message shorter than 58 bytes",
        "§5.4 step 6",
        dec,
        &m1[..75 + 57],
        "Truncated",
    );
    neg.decode(
        "prekey message: embedded version 0x02",
        "§5.4 step 7",
        dec,
        &with(&m1, |v| v[75] = 2),
        "UnknownVersion(2)",
    );
    neg.decode(
        "prekey message: nested prekey message",
        "§5.4 step 8",
        dec,
        &with(&m1, |v| v[76] = 2),
        "UnknownType(2)",
    );
    neg.decode(
        "normal message: ratchet key top bit",
        "§5.4 step 9",
        dec,
        &with(&normal, |v| v[33] |= 0x80),
        "InvalidKey",
    );
    neg.decode(
        "normal message: ratchet key u = p",
        "§5.4 step 9",
        dec,
        &with(&normal, |v| v[2..34].copy_from_slice(&p)),
        "InvalidKey",
    );
    neg.decode(
        "normal message: ciphertext of 15 bytes",
        "§5.4 step 10",
        dec,
        &normal[..58 + 15],
        "Truncated",
    );
    {
        // Ciphertext of 2^20 + 17 bytes: the prefix of r1 followed by zeros (given by length).
        let mut big_msg = normal[..58].to_vec();
        big_msg.resize(58 + (1 << 20) + 17, 0);
        let got = run_decode(dec, &big_msg);
        assert_eq!(got, "TooLarge");
        neg.push(
            "normal message: ciphertext longer than 2^20 + 16",
            "§5.4 step 11",
            dec,
            Obj::new()
                .f("bytes", hx(&normal[..58]))
                .f("followed_by_zero_bytes", (1usize << 20) + 17),
            got,
        );
    }

    // ---- signatures (§4.2) ------------------------------------------------------------------
    {
        let message = b"xchat-protocol signature vector".to_vec();
        let sig = alice.sign(&message);
        let key = alice.public().to_bytes();
        assert!(alice.public().verify(&message, &sig).is_ok());
        let mut cases: Vec<(&str, Vec<u8>, [u8; 64])> = Vec::new();
        let mut malleated = sig;
        malleated[32..].copy_from_slice(&add_group_order(&sig[32..]));
        cases.push(("s + L (non-canonical s)", message.clone(), malleated));
        let mut small_r = sig;
        small_r[..32].copy_from_slice(&identity_point);
        cases.push(("R of small order", message.clone(), small_r));
        let mut bad_r = sig;
        bad_r[..32].copy_from_slice(&p_plus_1);
        cases.push(("R non-canonical (y = p + 1)", message.clone(), bad_r));
        cases.push((
            "other message",
            b"xchat-protocol signature vectoR".to_vec(),
            sig,
        ));
        for (name, msg, signature) in cases {
            let got = format!(
                "{:?}",
                alice.public().verify(&msg, &signature).expect_err(name)
            );
            assert_eq!(got, "InvalidSignature");
            neg.push(
                &format!("signature: {name}"),
                "§4.2",
                "IdentityKey::verify",
                Obj::new()
                    .f("identity_key", hx(key))
                    .f("message", hx(&msg))
                    .f("signature", hx(signature)),
                got,
            );
        }
    }

    // ---- initiate (§4.4, §7.2) --------------------------------------------------------------
    {
        let spk_off = 77;
        neg.initiate(
            "initiate: signature bit flipped",
            "§4.4 step 1",
            &alice,
            &with(&bundle_bytes, |v| v[spk_off] ^= 1),
            context,
            "InvalidSignature",
        );
        neg.initiate(
            "initiate: signature s + L (malleated)",
            "§4.2",
            &alice,
            &with(&bundle_bytes, |v| {
                let s = add_group_order(&v[spk_off + 32..spk_off + 64]);
                v[spk_off + 32..spk_off + 64].copy_from_slice(&s);
            }),
            context,
            "InvalidSignature",
        );
        neg.initiate(
            "initiate: created_at changed",
            "§4.2",
            &alice,
            &with(&bundle_bytes, |v| v[44] ^= 1),
            context,
            "InvalidSignature",
        );
        neg.initiate(
            "initiate: signed prekey id changed",
            "§4.2",
            &alice,
            &with(&bundle_bytes, |v| v[36] ^= 1),
            context,
            "InvalidSignature",
        );
        neg.initiate(
            "initiate: identity replaced (signature by another key)",
            "§4.2",
            &alice,
            &with(&bundle_bytes, |v| {
                v[1..33].copy_from_slice(&mallory.public().to_bytes())
            }),
            context,
            "InvalidSignature",
        );
        for (label, point) in LOW_ORDER_X25519 {
            neg.initiate(
                &format!("initiate: low-order one-time prekey ({label})"),
                "§4.4 step 3",
                &alice,
                &with(&bundle_bytes, |v| v[146..178].copy_from_slice(&h32(point))),
                context,
                "NonContributory",
            );
        }
        // The seven other encodings of each key of the bundle (SPEC.md §2.4, §4.2, §4.4 step 4).
        for (i, t) in x25519_torsion_variants(&bundle_bytes[146..178])
            .iter()
            .enumerate()
        {
            neg.initiate(
                &format!(
                    "initiate: one-time prekey replaced by torsion variant {}",
                    i + 1
                ),
                "§4.4 step 4",
                &alice,
                &with(&bundle_bytes, |v| v[146..178].copy_from_slice(t)),
                context,
                "Decode(InvalidKey)",
            );
        }
        for (i, t) in x25519_torsion_variants(&bundle_bytes[45..77])
            .iter()
            .enumerate()
        {
            neg.initiate(
                &format!(
                    "initiate: signed prekey replaced by torsion variant {}",
                    i + 1
                ),
                "§4.2",
                &alice,
                &with(&bundle_bytes, |v| v[45..77].copy_from_slice(t)),
                context,
                "InvalidSignature",
            );
        }
        for (i, t) in ed25519_torsion_variants(&bundle_bytes[1..33])
            .iter()
            .enumerate()
        {
            neg.decode(
                &format!("bundle: identity key replaced by torsion variant {}", i + 1),
                "§2.4",
                "PreKeyBundle::from_bytes",
                &with(&bundle_bytes, |v| v[1..33].copy_from_slice(t)),
                "InvalidKey",
            );
        }
        // A low-order signed prekey with a valid signature by Bob's identity.
        let low = PublicKey::from_bytes(h32(LOW_ORDER_X25519[0].1)).expect("canonical");
        let signed = bob.sign(&SignedPreKey::signed_bytes(
            bundle.signed_prekey.id,
            bundle.signed_prekey.created_at,
            &low,
        ));
        let forged = PreKeyBundle {
            identity: *bob.public(),
            signed_prekey: SignedPreKey {
                key: low,
                signature: signed,
                ..bundle.signed_prekey
            },
            one_time_prekey: None,
        };
        neg.initiate(
            "initiate: validly signed low-order signed prekey",
            "§4.4 step 3",
            &alice,
            &forged.to_bytes(),
            context,
            "NonContributory",
        );
        neg.initiate(
            "initiate: context of 1025 bytes",
            "§3.5",
            &alice,
            &bundle_bytes,
            &[b'c'; 1025],
            "TooLarge",
        );
    }

    // ---- respond (§7.3) ---------------------------------------------------------------------
    neg.respond(
        "respond: normal message",
        "§7.3 step 1",
        &bob,
        &store_initial,
        &r1,
        context,
        "NotPreKeyMessage",
    );
    neg.respond(
        "respond: decode error",
        "§7.3 step 1",
        &bob,
        &store_initial,
        &with(&m1, |v| v[0] = 9),
        context,
        "Decode(UnknownVersion(9))",
    );
    neg.respond(
        "respond: replay after the one-time prekey was consumed",
        "§4.3, §7.3 step 4",
        &bob,
        &store_after,
        &m1,
        context,
        "UnknownOneTimePreKey(1)",
    );
    neg.respond(
        "respond: replay of a first message without one-time prekey (seen base key)",
        "§4.3, §7.3 step 2",
        &bob,
        &store_seen,
        &no_opk_first,
        context,
        "DuplicateMessage",
    );
    neg.respond(
        "respond: unknown signed prekey id",
        "§7.3 step 3",
        &bob,
        &store_initial,
        &with(&m1, |v| v[66..70].copy_from_slice(&99u32.to_be_bytes())),
        context,
        "UnknownSignedPreKey(99)",
    );
    for (label, point) in LOW_ORDER_X25519 {
        neg.respond(
            &format!("respond: low-order base key ({label})"),
            "§4.4, §7.3 step 5",
            &bob,
            &store_initial,
            &with(&m1, |v| v[34..66].copy_from_slice(&h32(point))),
            context,
            "NonContributory",
        );
    }
    // A relay re-encodes the first message's base key: same DH outputs, but the prekey fields are
    // in the associated data (§3.5), and a first message already accepted without a one-time
    // prekey is recognised by its id whatever the encoding (§3.6, §4.3).
    for (i, t) in x25519_torsion_variants(&m1[34..66]).iter().enumerate() {
        neg.respond(
            &format!("respond: base key replaced by torsion variant {}", i + 1),
            "§3.5, §7.3",
            &bob,
            &store_initial,
            &with(&m1, |v| v[34..66].copy_from_slice(t)),
            context,
            "DecryptionFailed",
        );
    }
    for (i, t) in x25519_torsion_variants(&no_opk_first[34..66])
        .iter()
        .enumerate()
    {
        neg.respond(
            &format!(
                "respond: replay without a one-time prekey, base key as torsion variant {}",
                i + 1
            ),
            "§3.6, §4.3",
            &bob,
            &store_seen,
            &with(&no_opk_first, |v| v[34..66].copy_from_slice(t)),
            context,
            "DuplicateMessage",
        );
    }
    for (i, t) in ed25519_torsion_variants(&m1[2..34]).iter().enumerate() {
        neg.respond(
            &format!(
                "respond: initiator identity replaced by torsion variant {}",
                i + 1
            ),
            "§2.4",
            &bob,
            &store_initial,
            &with(&m1, |v| v[2..34].copy_from_slice(t)),
            context,
            "Decode(InvalidKey)",
        );
    }
    neg.respond(
        "respond: tampered ciphertext (one-time prekey not burnt)",
        "§6.6, §7.3 step 7",
        &bob,
        &store_initial,
        &with(&m1, |v| {
            let last = v.len() - 1;
            v[last] ^= 1;
        }),
        context,
        "DecryptionFailed",
    );
    neg.respond(
        "respond: different context",
        "§3.5",
        &bob,
        &store_initial,
        &m1,
        b"another context",
        "DecryptionFailed",
    );
    neg.respond(
        "respond: context of 1025 bytes",
        "§3.5, §7.3 step 6",
        &bob,
        &store_initial,
        &m1,
        &[b'c'; 1025],
        "TooLarge",
    );
    neg.respond(
        "respond: low-order ratchet key in the embedded message",
        "§6.5 D5",
        &bob,
        &store_initial,
        &with(&m1, |v| v[77..109].copy_from_slice(&[0; 32])),
        context,
        "NonContributory",
    );

    // ---- decrypt (§6.5, §7.4) ---------------------------------------------------------------
    let set_n = |msg: &[u8], n: u32| with(msg, |v| v[38..42].copy_from_slice(&n.to_be_bytes()));
    neg.decrypt(
        "decrypt: tampered ciphertext",
        "§6.5 C5",
        &alice_acknowledged,
        &with(&r2, |v| v[60] ^= 1),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: tampered tag",
        "§6.5 C5",
        &alice_acknowledged,
        &with(&r2, |v| {
            let last = v.len() - 1;
            v[last] ^= 0x80;
        }),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: tampered seed",
        "§3.5",
        &alice_acknowledged,
        &with(&r2, |v| v[42] ^= 1),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: tampered PN",
        "§3.5",
        &alice_acknowledged,
        &with(&r2, |v| v[37] ^= 1),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: replay on the current chain",
        "§6.5 C2",
        &alice_acknowledged,
        &r1,
        "DuplicateMessage",
    );
    neg.decrypt(
        "decrypt: replay of a message of an old chain",
        "§6.5 D1",
        &bob_with_old_chain,
        &m1,
        "DuplicateMessage",
    );
    neg.decrypt(
        "decrypt: counter max_skip + 1 ahead on the current chain",
        "§6.4, §6.5 C3",
        &alice_acknowledged,
        &set_n(&r2, 1 + 2001),
        "TooFarInFuture",
    );
    neg.decrypt(
        "decrypt: counter exactly max_skip ahead is derived, then fails authentication",
        "§6.4, §6.5 C3",
        &alice_acknowledged,
        &set_n(&r2, 1 + 2000),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: N = 2^32 - 1",
        "§6.5 B",
        &alice_acknowledged,
        &set_n(&r2, u32::MAX),
        "TooFarInFuture",
    );
    let fresh_key = x25519_public(rng.bytes32());
    let new_key_msg = |pn: u32, n: u32| {
        with(&r2, |v| {
            v[2..34].copy_from_slice(&fresh_key);
            v[34..38].copy_from_slice(&pn.to_be_bytes());
            v[38..42].copy_from_slice(&n.to_be_bytes());
        })
    };
    neg.decrypt(
        "decrypt: new ratchet key with N = max_skip + 1",
        "§6.4, §6.5 D3",
        &bob_sending,
        &new_key_msg(0, 2001),
        "TooFarInFuture",
    );
    neg.decrypt(
        "decrypt: new ratchet key, old-chain gap (PN) plus N = max_skip + 1",
        "§6.4, §6.5 D3",
        &bob_sending,
        &new_key_msg(1 + 1500, 501),
        "TooFarInFuture",
    );
    neg.decrypt(
        "decrypt: new ratchet key, old-chain gap plus N = max_skip, fails authentication",
        "§6.4, §6.5 D7",
        &bob_sending,
        &new_key_msg(1 + 1500, 500),
        "DecryptionFailed",
    );
    for (label, point) in LOW_ORDER_X25519 {
        neg.decrypt(
            &format!("decrypt: low-order ratchet key ({label})"),
            "§6.5 D5",
            &bob_sending,
            &with(&r2, |v| v[2..34].copy_from_slice(&h32(point))),
            "NonContributory",
        );
    }
    // The ratchet key re-encoded: a new-ratchet-key path with the same DH output, rejected by
    // the associated data (§3.5, §6.5).
    for (i, t) in x25519_torsion_variants(&r1[2..34]).iter().enumerate() {
        neg.decrypt(
            &format!("decrypt: ratchet key replaced by torsion variant {}", i + 1),
            "§3.5, §6.5",
            &alice_unacknowledged,
            &with(&r1, |v| v[2..34].copy_from_slice(t)),
            "DecryptionFailed",
        );
    }
    neg.decrypt(
        "decrypt: second new ratchet key while the sending half-step is deferred",
        "§6.5 D2",
        &bob_deferred,
        &new_key_msg(0, 0),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: initiator before the first reply, header key = SPK_B",
        "§6.5 C1",
        &alice_unacknowledged,
        &with(&r2, |v| v[2..34].copy_from_slice(&spk_public)),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: prekey message given to the initiator",
        "§7.4",
        &alice_unacknowledged,
        &m2,
        "SessionMismatch",
    );
    neg.decrypt(
        "decrypt: prekey message of another X3DH run",
        "§7.4",
        &bob_deferred,
        &no_opk_first,
        "SessionMismatch",
    );
    neg.decrypt(
        "decrypt: malformed message",
        "§5.4",
        &bob_deferred,
        &m2[..60],
        "Decode(Truncated)",
    );

    // ---- encrypt, limits, identity (§6.3, §6.4, §7.3) ---------------------------------------
    {
        let mut st = parse_session(&bob_sending);
        if let Some(send) = &mut st.send {
            send.n = u32::MAX;
        }
        let exhausted = encode_session(&st);
        rng.take();
        let mut s = Session::from_bytes(&exhausted).expect("loads");
        let got = format!("{:?}", s.encrypt(&mut rng, b"x").expect_err("exhausted"));
        assert_eq!(got, "ChainExhausted");
        assert_eq!(s.to_bytes().unwrap().as_slice(), exhausted.as_slice());
        neg.push(
            "encrypt: sending chain at N = 2^32 - 1",
            "§6.3 step 3",
            "Session::encrypt",
            Obj::new()
                .f("session", hx(&exhausted))
                .f("plaintext", hx(b"x"))
                .f("rng_draws", draws_json(&rng.take())),
            got,
        );
        let mut s = Session::from_bytes(&bob_sending).expect("loads");
        let got = format!(
            "{:?}",
            s.encrypt(&mut rng, &vec![0; (1 << 20) + 1])
                .expect_err("too large")
        );
        assert_eq!(got, "TooLarge");
        neg.push(
            "encrypt: plaintext of 2^20 + 1 bytes",
            "§5.4, §6.3 step 1",
            "Session::encrypt",
            Obj::new()
                .f("session", hx(&bob_sending))
                .f("plaintext_zero_bytes", (1usize << 20) + 1)
                .f("rng_draws", draws_json(&rng.take())),
            got,
        );
        for (name, limits) in [
            ("max_skip = 0", [0, 2000, 5, 10_000]),
            ("max_skip > max_skipped_keys", [2001, 2000, 5, 10_000]),
            (
                "max_old_chains above 2^20",
                [2000, 2000, (1 << 20) + 1, 10_000],
            ),
            ("max_skipped_key_age = 0", [2000, 2000, 5, 0]),
        ] {
            let mut s = Session::from_bytes(&bob_sending).expect("loads");
            let got = format!(
                "{:?}",
                s.set_limits(Limits {
                    max_skip: limits[0],
                    max_skipped_keys: limits[1],
                    max_old_chains: limits[2],
                    max_skipped_key_age: limits[3],
                })
                .expect_err(name)
            );
            assert_eq!(got, "InvalidLimits");
            neg.push(
                &format!("set_limits: {name}"),
                "§6.4",
                "Session::set_limits",
                Obj::new().f("session", hx(&bob_sending)).f(
                    "limits",
                    Obj::new()
                        .f("max_skip", limits[0])
                        .f("max_skipped_keys", limits[1])
                        .f("max_old_chains", limits[2])
                        .f("max_skipped_key_age", limits[3]),
                ),
                got,
            );
        }
        let s = Session::from_bytes(&bob_sending).expect("loads");
        let got = format!(
            "{:?}",
            s.check_remote_identity(mallory.public())
                .expect_err("untrusted")
        );
        neg.push(
            "check_remote_identity: a different key",
            "§7.3",
            "Session::check_remote_identity",
            Obj::new()
                .f("session", hx(&bob_sending))
                .f("trusted_identity", hx(mallory.public().to_bytes())),
            got,
        );
        let empty = blob(PreKeyStore::new().to_bytes().unwrap());
        for (name, store_blob, id, expected) in [
            ("bundle: no signed prekey", &empty, None, "NoSignedPreKey"),
            (
                "bundle: unknown one-time prekey",
                &store_after,
                Some(7u32),
                "UnknownOneTimePreKey(7)",
            ),
        ] {
            let st = PreKeyStore::from_bytes(store_blob).expect("store");
            let got = format!("{:?}", st.bundle(&bob, id).expect_err(name));
            assert_eq!(got, expected);
            neg.push(
                name,
                "§4.3",
                "PreKeyStore::bundle",
                Obj::new()
                    .f("identity_seed", hx(bob.seed().as_slice()))
                    .f("prekey_store", hx(store_blob))
                    .f("one_time_prekey_id", id),
                got,
            );
        }
    }

    // ---- receive: content after authentication (§8) ---------------------------------------
    {
        let mut bs = Session::from_bytes(&bob_sending).expect("loads");
        let t = bs
            .set_timer(&mut rng, T0, 60, TimerStart::OnSend)
            .expect("timer");
        let old = bs.send(&mut rng, T0 + 1_000, b"expires").expect("send");
        let raw = bs.encrypt(&mut rng, b"not a frame").expect("raw");
        rng.take();
        let mut alice_timer = Session::from_bytes(&alice_acknowledged).expect("loads");
        alice_timer
            .receive(&t, T0 + 500)
            .expect("timer")
            .into_message()
            .unwrap();
        let before = blob(alice_timer.to_bytes().unwrap());
        for (name, spec, msg, now, expected) in [
            (
                "receive: expired on arrival (key consumed)",
                "§8.5",
                &old,
                T0 + 1_000 + 60_000 + content::MAX_CLOCK_SKEW_MS + 1,
                "Expired",
            ),
            (
                "receive: authentic message that is not a content frame",
                "§8.2",
                &raw,
                T0 + 2_000,
                "InvalidContent(UnknownVersion(110))",
            ),
        ] {
            let mut s = Session::from_bytes(&before).expect("loads");
            let got = format!(
                "{:?}",
                receipt_as_result(s.receive(msg, now)).expect_err(name)
            );
            assert_eq!(got, expected);
            let after = blob(s.to_bytes().unwrap());
            assert_ne!(after, before, "the key is consumed");
            neg.push_with(
                name,
                spec,
                "Session::receive",
                Obj::new()
                    .f("session", hx(&before))
                    .f("message", hx(msg))
                    .f("now_ms", big(now)),
                got,
                Obj::new().f("session_after", hx(&after)),
            );
        }
    }

    // ---- content frames (§8.2) -------------------------------------------------------------
    {
        let frame = message(T0, timer(60, TimerStart::OnSend, 1), b"x".to_vec())
            .to_padded_bytes()
            .expect("frame");
        let cf = "Content::from_padded_bytes";
        neg.decode("content: empty", "§8.2", cf, &[], "Truncated");
        neg.decode(
            "content: unknown version",
            "§8.2",
            cf,
            &with(&frame, |v| v[0] = 2),
            "UnknownVersion(2)",
        );
        neg.decode(
            "content: unknown kind",
            "§8.2",
            cf,
            &with(&frame, |v| v[1] = 9),
            "UnknownType(9)",
        );
        neg.decode(
            "content: start byte 0x02",
            "§8.2",
            cf,
            &with(&frame, |v| v[14] = 2),
            "NonCanonical",
        );
        neg.decode(
            "content: timer off but on-read",
            "§8.1",
            cf,
            &with(&frame, |v| {
                v[10..14].copy_from_slice(&[0; 4]);
                v[14] = 1;
            }),
            "NonCanonical",
        );
        neg.decode(
            "content: non-zero padding",
            "§8.2",
            cf,
            &with(&frame, |v| v[255] = 1),
            "NonCanonical",
        );
        neg.decode(
            "content: one padding byte missing",
            "§8.2",
            cf,
            &frame[..255],
            "NonCanonical",
        );
        neg.decode(
            "content: one padding byte extra",
            "§8.2",
            cf,
            &with(&frame, |v| v.push(0)),
            "NonCanonical",
        );
        neg.decode(
            "content: body length beyond the frame",
            "§8.2",
            cf,
            &with(&frame, |v| {
                v[19..23].copy_from_slice(&1000u32.to_be_bytes())
            }),
            "Truncated",
        );
        neg.decode(
            "content: timer update with a body",
            "§8.2",
            cf,
            &with(&frame, |v| v[1] = 2),
            "NonCanonical",
        );
    }

    // ---- state blobs (§10) -------------------------------------------------------------------
    {
        let id_blob = blob(alice.to_bytes());
        let idf = "IdentityKeyPair::from_bytes";
        let body = blob_body(KIND_IDENTITY, &id_blob).to_vec();
        neg.decode(
            "identity blob: 15 bytes",
            "§10.0",
            idf,
            &id_blob[..15],
            "Truncated",
        );
        neg.decode(
            "identity blob: prekey store kind",
            "§10.0",
            idf,
            &state_blob(KIND_STORE, 1, &body),
            "UnknownType(17)",
        );
        neg.decode(
            "identity blob: version 2",
            "§10.0",
            idf,
            &state_blob(KIND_IDENTITY, 2, &body),
            "UnknownVersion(2)",
        );
        neg.decode(
            "identity blob: flipped seed bit",
            "§10.0",
            idf,
            &with(&id_blob, |v| v[5] ^= 1),
            "ChecksumMismatch",
        );
        neg.decode(
            "identity blob: flipped check bit",
            "§10.0",
            idf,
            &with(&id_blob, |v| v[49] ^= 1),
            "ChecksumMismatch",
        );
        neg.decode(
            "identity blob: 33-byte body",
            "§10.0",
            idf,
            &state_blob(KIND_IDENTITY, 1, &with(&body, |v| v.push(0))),
            "TrailingBytes",
        );
        neg.decode(
            "identity blob: 31-byte body",
            "§10.1",
            idf,
            &state_blob(KIND_IDENTITY, 1, &body[..31]),
            "Truncated",
        );

        let sf = "PreKeyStore::from_bytes";
        let base = parse_store(&store_seen);
        assert!(base.one_time.len() == 1 && base.signed[0].4.len() == 1);
        let mut extra_signed = base.clone();
        let first = extra_signed.signed[0].clone();
        for id in 1..4 {
            extra_signed
                .signed
                .push((id, first.1, first.2, first.3, first.4.clone()));
        }
        neg.decode(
            "store blob: flipped byte",
            "§10.0",
            sf,
            &with(&store_seen, |v| v[10] ^= 1),
            "ChecksumMismatch",
        );
        neg.decode(
            "store blob: four signed prekeys",
            "§10.2",
            sf,
            &encode_store(&extra_signed),
            "NonCanonical",
        );
        let mut dup_signed = base.clone();
        dup_signed.signed.push(first);
        neg.decode(
            "store blob: duplicate signed prekey id",
            "§10.2",
            sf,
            &encode_store(&dup_signed),
            "NonCanonical",
        );
        let mut unordered = base.clone();
        unordered.one_time.insert(0, (5, unordered.one_time[0].1));
        neg.decode(
            "store blob: one-time ids not increasing",
            "§10.2",
            sf,
            &encode_store(&unordered),
            "NonCanonical",
        );
        let mut dup_one_time = base.clone();
        dup_one_time.one_time.push(dup_one_time.one_time[0]);
        neg.decode(
            "store blob: duplicate one-time id",
            "§10.2",
            sf,
            &encode_store(&dup_one_time),
            "NonCanonical",
        );
        let mut unordered_ids = base.clone();
        unordered_ids.signed[0].4.insert(0, [0xFF; 16]);
        neg.decode(
            "store blob: accepted first-message ids not increasing",
            "§10.2",
            sf,
            &encode_store(&unordered_ids),
            "NonCanonical",
        );
        let mut dup_ids = base.clone();
        let id0 = dup_ids.signed[0].4[0];
        dup_ids.signed[0].4.push(id0);
        neg.decode(
            "store blob: duplicate accepted first-message id",
            "§10.2",
            sf,
            &encode_store(&dup_ids),
            "NonCanonical",
        );
        let mut many_ids = base.clone();
        many_ids.signed[0].4 = (0..4097u32)
            .map(|i| {
                let mut id = [0u8; 16];
                id[12..].copy_from_slice(&i.to_be_bytes());
                id
            })
            .collect();
        neg.decode(
            "store blob: 4097 accepted first-message ids",
            "§10.2",
            sf,
            &encode_store(&many_ids),
            "NonCanonical",
        );
        let mut body = store_body(&base);
        let n = body.len() - 68 - 4;
        body[n..n + 4].copy_from_slice(&65_537u32.to_be_bytes());
        neg.decode(
            "store blob: one-time count 65537",
            "§10.2",
            sf,
            &state_blob(KIND_STORE, STORE_VERSION, &body),
            "NonCanonical",
        );
        let mut unclamped = base.clone();
        unclamped.signed[0].2[0] |= 7;
        neg.decode(
            "store blob: signed prekey secret not clamped",
            "§10.0, §10.2",
            sf,
            &encode_store(&unclamped),
            "NonCanonical",
        );
        let mut unclamped = base.clone();
        unclamped.one_time[0].1[31] |= 0x80;
        neg.decode(
            "store blob: one-time prekey secret not clamped",
            "§10.0, §10.2",
            sf,
            &encode_store(&unclamped),
            "NonCanonical",
        );
        neg.decode(
            "store blob: version 4",
            "§10.0",
            sf,
            &state_blob(KIND_STORE, 4, &store_body(&base)),
            "UnknownVersion(4)",
        );
        let mut body = store_body(&base);
        let n = body.len() - 32;
        body[n..].copy_from_slice(&p);
        neg.decode(
            "store blob: stored one-time public key u = p",
            "§10.0, §10.2",
            sf,
            &state_blob(KIND_STORE, STORE_VERSION, &body),
            "InvalidKey",
        );
        let mut unclamped = base.clone();
        unclamped.one_time[0].1[0] |= 1;
        neg.decode(
            "store blob, version 2: one-time prekey secret not clamped",
            "§10.0, §10.2",
            sf,
            &state_blob(KIND_STORE, 2, &store_body_v2(&unclamped)),
            "NonCanonical",
        );
        let v1 = |seen: &[[u8; 32]]| state_blob(KIND_STORE, 1, &store_body_v1(&base, seen));
        neg.decode(
            "store blob, version 1: seen base key u = p",
            "§10.2",
            sf,
            &v1(&[p]),
            "InvalidKey",
        );
        let mut body = store_body_v1(&base, &[]);
        let n = body.len();
        body[n - 4..].copy_from_slice(&1025u32.to_be_bytes());
        neg.decode(
            "store blob, version 1: seen count 1025",
            "§10.2",
            sf,
            &state_blob(KIND_STORE, 1, &body),
            "NonCanonical",
        );
        neg.decode(
            "store blob: trailing byte",
            "§10.0",
            sf,
            &state_blob(
                KIND_STORE,
                STORE_VERSION,
                &with(&store_body(&base), |v| v.push(0)),
            ),
            "TrailingBytes",
        );
        let full = store_body(&base);
        neg.decode(
            "store blob: body cut inside the one-time keys",
            "§10.0",
            sf,
            &state_blob(KIND_STORE, STORE_VERSION, &full[..full.len() - 1]),
            "Truncated",
        );

        let ssf = "Session::from_bytes";
        let base = parse_session(&bob_with_old_chain);
        assert!(
            base.old.len() == 1 && base.skipped.len() == 2,
            "{:?}",
            (base.old.len(), base.skipped.len())
        );
        assert!(base.send.is_none(), "a pending sending side");
        let sending = |f: &dyn Fn(&mut SendChain)| {
            let secret = clamp([0x42; 32]);
            let mut c = SendChain {
                secret,
                public: x25519_public(secret),
                chain_key: [0x43; 32],
                n: 0,
            };
            f(&mut c);
            c
        };
        let edit = |f: &dyn Fn(&mut SessionState)| {
            let mut s = base.clone();
            f(&mut s);
            encode_session(&s)
        };
        let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
            (
                "session blob: 15 bytes",
                "§10.0",
                bob_with_old_chain[..15].to_vec(),
                "Truncated",
            ),
            (
                "session blob: identity kind",
                "§10.0",
                state_blob(KIND_IDENTITY, 1, &session_body(&base)),
                "UnknownType(16)",
            ),
            (
                "session blob: version 4",
                "§10.0",
                state_blob(KIND_SESSION, 4, &session_body(&base)),
                "UnknownVersion(4)",
            ),
            (
                "session blob: flipped root key bit",
                "§10.0",
                with(&bob_with_old_chain, |v| v[200] ^= 1),
                "ChecksumMismatch",
            ),
            (
                "session blob: phase 3",
                "§10.3 #1",
                edit(&|s| s.phase = 3),
                "NonCanonical",
            ),
            (
                "session blob: DHs secret not clamped (bit 0 set)",
                "§10.0, §10.3 #13",
                edit(&|s| s.send = Some(sending(&|c: &mut SendChain| c.secret[0] |= 1))),
                "NonCanonical",
            ),
            (
                "session blob: DHs secret not clamped (bit 6 of byte 31 clear)",
                "§10.0, §10.3 #13",
                edit(&|s| s.send = Some(sending(&|c: &mut SendChain| c.secret[31] &= 0xBF))),
                "NonCanonical",
            ),
            (
                "session blob: DHs public u = p",
                "§10.0, §10.3 #13",
                edit(&|s| s.send = Some(sending(&|c: &mut SendChain| c.public = p))),
                "InvalidKey",
            ),
            (
                "session blob: skipped key at N = 2^32 - 1",
                "§6.4, §10.3 #17",
                edit(&|s| {
                    let last = s.skipped.len() - 1;
                    s.skipped[last].n = u32::MAX;
                }),
                "NonCanonical",
            ),
            (
                "session blob: context of 1025 bytes",
                "§10.3 #4",
                edit(&|s| s.context = vec![b'c'; 1025]),
                "NonCanonical",
            ),
            (
                "session blob: base key u = p",
                "§10.3 #6",
                edit(&|s| s.base_key = p),
                "InvalidKey",
            ),
            (
                "session blob: max_skip = 0",
                "§10.3 #10",
                edit(&|s| s.limits[0] = 0),
                "NonCanonical",
            ),
            (
                "session blob: max_skip > max_skipped_keys",
                "§10.3 #10",
                edit(&|s| s.limits[0] = s.limits[1] + 1),
                "NonCanonical",
            ),
            (
                "session blob: max_skipped_key_age above 2^20",
                "§10.3 #10",
                edit(&|s| s.limits[3] = (1 << 20) + 1),
                "NonCanonical",
            ),
            (
                "session blob: timer start 0x02",
                "§10.3 #9",
                edit(&|s| s.timer = (60, 2, 1)),
                "NonCanonical",
            ),
            (
                "session blob: timer off but on-read",
                "§10.3 #9",
                edit(&|s| s.timer = (0, 1, 1)),
                "NonCanonical",
            ),
            (
                "session blob: DHr top bit",
                "§10.3 #12",
                edit(&|s| {
                    if let Some(recv) = &mut s.recv {
                        recv.0 = a32(&top_bit);
                    }
                }),
                "InvalidKey",
            ),
            (
                "session blob: sending flag 0x02",
                "§10.3 #13",
                {
                    let mut b = session_body(&base);
                    let at = b.len()
                        - (4 + 4 + 4 + 32 * base.old.len() + 4 + 80 * base.skipped.len())
                        - 1;
                    assert_eq!(b[at], 0, "pending sending side");
                    b[at] = 2;
                    state_blob(KIND_SESSION, SESSION_VERSION, &b)
                },
                "NonCanonical",
            ),
            (
                "session blob: old key equal to DHr",
                "§10.3 #16",
                edit(&|s| s.old.push(s.dhr().expect("dhr"))),
                "NonCanonical",
            ),
            (
                "session blob: duplicate old key",
                "§10.3 #16",
                edit(&|s| s.old.push(s.old[0])),
                "NonCanonical",
            ),
            (
                "session blob: skipped key of an unknown chain",
                "§10.3 #17",
                edit(&|s| s.skipped[0].ratchet_key = fresh_key),
                "NonCanonical",
            ),
            (
                "session blob: duplicate skipped (key, N)",
                "§10.3 #17",
                edit(&|s| s.skipped.push(s.skipped[1].clone())),
                "NonCanonical",
            ),
            (
                "session blob: more skipped keys than max_skipped_keys",
                "§10.3 #17",
                edit(&|s| {
                    s.limits[0] = 1;
                    s.limits[1] = 1;
                }),
                "NonCanonical",
            ),
            (
                "session blob: skipped ages increasing",
                "§10.3 #17",
                edit(&|s| {
                    s.skipped[1].stamp = s.skipped[0].stamp.wrapping_sub(1);
                }),
                "NonCanonical",
            ),
            (
                "session blob: skipped key older than max_skipped_key_age",
                "§10.3 #17",
                edit(&|s| {
                    s.limits[3] = 1;
                    s.skipped[0].stamp = s.received.wrapping_sub(2);
                    s.skipped[1].stamp = s.received.wrapping_sub(2);
                }),
                "NonCanonical",
            ),
            (
                "session blob: trailing byte",
                "§10.0",
                state_blob(
                    KIND_SESSION,
                    SESSION_VERSION,
                    &with(&session_body(&base), |v| v.push(0)),
                ),
                "TrailingBytes",
            ),
            (
                "session blob: body cut inside the skipped list",
                "§10.0",
                {
                    let b = session_body(&base);
                    state_blob(KIND_SESSION, SESSION_VERSION, &b[..b.len() - 1])
                },
                "Truncated",
            ),
        ];
        let mut old_over = base.clone();
        old_over.limits[2] = 1;
        old_over.old.insert(0, fresh_key);
        for (name, spec, bytes, expected) in cases {
            neg.decode(name, spec, ssf, &bytes, expected);
        }
        neg.decode(
            "session blob: more old chains than max_old_chains",
            "§10.3 #16",
            ssf,
            &encode_session(&old_over),
            "NonCanonical",
        );
    }

    // ---- sealed sender (§9) ----------------------------------------------------------------
    {
        let root = CertificateKeyPair::from_seed(&rng.bytes32());
        let rogue_root = CertificateKeyPair::from_seed(&rng.bytes32());
        let server = CertificateKeyPair::from_seed(&rng.bytes32());
        let rogue_server = CertificateKeyPair::from_seed(&rng.bytes32());
        let server_cert = root.certify_server(3, &server.public());
        let expires = T0 + 86_400_000;
        let alice_cert = server
            .certify_sender(&server_cert, b"alice", 1, alice.public(), expires)
            .expect("cert");
        let bob_cert = server
            .certify_sender(&server_cert, b"bob", 1, bob.public(), expires)
            .expect("cert");
        let mallory_cert = server
            .certify_sender(&server_cert, b"mallory", 1, mallory.public(), expires)
            .expect("cert");
        let forged_cert = rogue_server
            .certify_sender(&server_cert, b"alice", 1, alice.public(), expires)
            .expect("cert");
        let carol = IdentityKeyPair::generate(&mut rng);

        // A fresh session Alice → Bob whose first message travels sealed.
        let mut st = PreKeyStore::from_bytes(&store_initial).expect("store");
        let sealed_store = blob(st.to_bytes().unwrap());
        let bundle = st.bundle(&bob, Some(0)).expect("bundle");
        let mut alice_s = Session::initiate(
            &mut rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(context),
        )
        .expect("initiate");
        let hello = alice_s.send(&mut rng, T0, b"hello").expect("send");
        let env = sealed_sender::seal_to(&mut rng, &alice, &alice_cert, bob.public(), &hello)
            .expect("seal");
        let now = T0 + 1_000;
        let roots = vec![root.public()];
        let ok = OpenInput {
            recipient_seed: *bob.seed(),
            roots: roots.clone(),
            revoked: Vec::new(),
            envelope: env.clone(),
            now_ms: now,
        };
        let recipient = SealedRecipient {
            identity: &bob,
            trust_roots: &roots,
            revoked_servers: &[],
        };
        let (mut bob_s, _) = recipient
            .open(&env, now)
            .expect("open")
            .respond(&bob, &mut st, &Config::new(context))
            .expect("respond");
        let sealed_store_after = blob(st.to_bytes().unwrap());
        let reply = bob_s.send(&mut rng, T0 + 2_000, b"reply").expect("send");
        alice_s
            .receive(&reply, T0 + 2_500)
            .expect("receive")
            .into_message()
            .unwrap();
        let normal_msg = alice_s.send(&mut rng, T0 + 3_000, b"normal").expect("send");
        let bob_before_normal = blob(bob_s.to_bytes().unwrap());
        let env_normal =
            sealed_sender::seal_to(&mut rng, &alice, &alice_cert, bob.public(), &normal_msg)
                .expect("seal");
        recipient
            .open(&env_normal, now + 3_000)
            .expect("open")
            .decrypt(&mut bob_s)
            .expect("decrypt");
        let bob_after_normal = blob(bob_s.to_bytes().unwrap());

        let seal_with = |rng: &mut Recorder,
                         sender: &IdentityKeyPair,
                         cert: &SenderCertificate,
                         to: &IdentityKey,
                         msg: &[u8]| {
            sealed_sender::seal_to(rng, sender, cert, to, msg).expect("seal")
        };
        let expired = OpenInput {
            now_ms: expires,
            ..ok.clone()
        };
        neg.open(
            "open: certificate expired (now = expires)",
            "§9.3 step 4",
            &expired,
            "CertificateExpired",
        );
        let revoked = OpenInput {
            revoked: vec![3],
            ..ok.clone()
        };
        neg.open(
            "open: server revoked",
            "§9.3 step 2",
            &revoked,
            "RevokedServer",
        );
        let wrong_root = OpenInput {
            roots: vec![rogue_root.public()],
            ..ok.clone()
        };
        neg.open(
            "open: server certificate not signed by a trust root",
            "§9.3 step 1",
            &wrong_root,
            "InvalidCertificate",
        );
        let forged = OpenInput {
            envelope: seal_with(&mut rng, &alice, &forged_cert, bob.public(), &hello),
            ..ok.clone()
        };
        neg.open(
            "open: sender certificate not signed by the server key",
            "§9.3 step 3",
            &forged,
            "InvalidCertificate",
        );
        let self_sent = OpenInput {
            envelope: seal_with(&mut rng, &bob, &bob_cert, bob.public(), &hello),
            ..ok.clone()
        };
        neg.open(
            "open: sealed by our own identity",
            "§9.4 step 7",
            &self_sent,
            "SelfSend",
        );
        let stolen = OpenInput {
            envelope: seal_with(&mut rng, &mallory, &alice_cert, bob.public(), &hello),
            ..ok.clone()
        };
        neg.open(
            "open: certificate of another identity",
            "§9.4 step 6",
            &stolen,
            "SenderIdentityMismatch",
        );
        let tampered = OpenInput {
            envelope: with(&env, |v| {
                let last = v.len() - 1;
                v[last] ^= 1;
            }),
            ..ok.clone()
        };
        neg.open(
            "open: tampered content",
            "§9.4 step 3",
            &tampered,
            "DecryptionFailed",
        );
        let tampered_id = OpenInput {
            envelope: with(&env, |v| v[40] ^= 1),
            ..ok.clone()
        };
        neg.open(
            "open: tampered encrypted identity",
            "§9.4 step 2",
            &tampered_id,
            "DecryptionFailed",
        );
        let not_ours = OpenInput {
            recipient_seed: *carol.seed(),
            ..ok.clone()
        };
        neg.open(
            "open: sealed to someone else",
            "§9.4 step 2",
            &not_ours,
            "DecryptionFailed",
        );
        let version = OpenInput {
            envelope: with(&env, |v| v[0] = 2),
            ..ok.clone()
        };
        neg.open(
            "open: unknown version",
            "§9.4 step 1",
            &version,
            "Decode(UnknownVersion(2))",
        );
        let short = OpenInput {
            envelope: env[..1 + 32 + 48 + 15].to_vec(),
            ..ok.clone()
        };
        neg.open(
            "open: content shorter than a tag",
            "§9.4 step 1",
            &short,
            "Decode(Truncated)",
        );
        let bad_key = OpenInput {
            envelope: with(&env, |v| v[1..33].copy_from_slice(&p)),
            ..ok.clone()
        };
        neg.open(
            "open: ephemeral key u = p",
            "§9.4 step 1",
            &bad_key,
            "Decode(InvalidKey)",
        );
        for (label, point) in LOW_ORDER_X25519 {
            let low = OpenInput {
                envelope: with(&env, |v| v[1..33].copy_from_slice(&h32(point))),
                ..ok.clone()
            };
            neg.open(
                &format!("open: low-order ephemeral key ({label})"),
                "§9.4 step 2",
                &low,
                "NonContributory",
            );
        }
        for (i, t) in x25519_torsion_variants(&env[1..33]).iter().enumerate() {
            let variant = OpenInput {
                envelope: with(&env, |v| v[1..33].copy_from_slice(t)),
                ..ok.clone()
            };
            neg.open(
                &format!("open: ephemeral key replaced by torsion variant {}", i + 1),
                "§9.2, §9.4",
                &variant,
                "DecryptionFailed",
            );
        }
        // Payloads that authenticate but are not canonical.
        let cert_bytes = alice_cert.to_bytes().unwrap();
        let good_payload = sealed_payload(&cert_bytes, &hello);
        let eph = rng.bytes32();
        for (name, payload) in [
            (
                "open: non-zero payload padding",
                with(&good_payload, |v| {
                    let last = v.len() - 1;
                    v[last] = 1;
                }),
            ),
            (
                "open: payload one byte longer than its bucket",
                with(&good_payload, |v| v.push(0)),
            ),
        ] {
            let parts = seal_parts(eph, &alice.seed(), bob.public(), payload);
            let input = OpenInput {
                envelope: parts.envelope,
                ..ok.clone()
            };
            neg.open(name, "§9.4 step 4", &input, "Decode(NonCanonical)");
        }

        // Opened::decrypt and Opened::respond.
        let ss = |o: &OpenInput| {
            let r = IdentityKeyPair::from_seed(&o.recipient_seed);
            SealedRecipient {
                identity: &r,
                trust_roots: &o.roots,
                revoked_servers: &o.revoked,
            }
            .open(&o.envelope, o.now_ms)
            .expect("opens")
        };
        let mallory_wraps_normal = OpenInput {
            envelope: seal_with(&mut rng, &mallory, &mallory_cert, bob.public(), &normal_msg),
            now_ms: now + 3_000,
            ..ok.clone()
        };
        let normal_env = OpenInput {
            envelope: env_normal.clone(),
            now_ms: now + 3_000,
            ..ok.clone()
        };
        for (name, spec, input, session, expected) in [
            (
                "opened decrypt: session peer is not the certified sender",
                "§9.4",
                &mallory_wraps_normal,
                &bob_before_normal,
                "SenderIdentityMismatch",
            ),
            (
                "opened decrypt: replayed envelope",
                "§9.4, §6.5 C2",
                &normal_env,
                &bob_after_normal,
                "Session(DuplicateMessage)",
            ),
        ] {
            let mut s = Session::from_bytes(session).expect("loads");
            let got = format!("{:?}", ss(input).decrypt(&mut s).expect_err(name));
            assert_eq!(got, expected);
            assert_eq!(s.to_bytes().unwrap().as_slice(), session.as_slice());
            neg.push(
                name,
                spec,
                "Opened::decrypt",
                input.json().f("session", hx(session)),
                got,
            );
        }
        let mallory_wraps_prekey = OpenInput {
            envelope: seal_with(&mut rng, &mallory, &mallory_cert, bob.public(), &hello),
            ..ok.clone()
        };
        for (name, spec, input, store_blob, expected) in [
            (
                "opened respond: prekey message of another identity",
                "§9.4",
                &mallory_wraps_prekey,
                &sealed_store,
                "SenderIdentityMismatch",
            ),
            (
                "opened respond: normal message",
                "§9.4",
                &normal_env,
                &sealed_store,
                "Session(NotPreKeyMessage)",
            ),
            (
                "opened respond: replay after the one-time prekey was consumed",
                "§9.4, §7.3 step 4",
                &ok,
                &sealed_store_after,
                "Session(UnknownOneTimePreKey(0))",
            ),
        ] {
            let mut s = PreKeyStore::from_bytes(store_blob).expect("store");
            let got = format!(
                "{:?}",
                ss(input)
                    .respond(&bob, &mut s, &Config::new(context))
                    .expect_err(name)
            );
            assert_eq!(got, expected);
            assert_eq!(s.to_bytes().unwrap().as_slice(), store_blob.as_slice());
            neg.push(
                name,
                spec,
                "Opened::respond",
                input
                    .json()
                    .f("prekey_store", hx(store_blob))
                    .f("context", hx(context)),
                got,
            );
        }

        let scf = "SenderCertificate::from_bytes";
        let cert = alice_cert.to_bytes().unwrap();
        neg.decode(
            "sender certificate: unknown version",
            "§9.1",
            scf,
            &with(&cert, |v| v[0] = 2),
            "UnknownVersion(2)",
        );
        neg.decode(
            "sender certificate: empty address",
            "§9.1",
            scf,
            &with(&cert, |v| v[1] = 0),
            "NonCanonical",
        );
        neg.decode(
            "sender certificate: trailing byte",
            "§9.1",
            scf,
            &with(&cert, |v| v.push(0)),
            "TrailingBytes",
        );
        neg.decode(
            "sender certificate: truncated",
            "§9.1",
            scf,
            &cert[..cert.len() - 1],
            "Truncated",
        );
        neg.decode(
            "sender certificate: small-order identity",
            "§9.1",
            scf,
            &with(&cert, |v| {
                v[2 + 5 + 4..2 + 5 + 4 + 32].copy_from_slice(&order8)
            }),
            "InvalidKey",
        );
        let srv = server_cert.to_bytes();
        let svf = "ServerCertificate::from_bytes";
        neg.decode(
            "server certificate: unknown version",
            "§9.1",
            svf,
            &with(&srv, |v| v[0] = 0),
            "UnknownVersion(0)",
        );
        neg.decode(
            "server certificate: small-order key",
            "§9.1",
            svf,
            &with(&srv, |v| v[5..37].copy_from_slice(&identity_point)),
            "InvalidKey",
        );
        neg.decode(
            "server certificate: trailing byte",
            "§9.1",
            svf,
            &with(&srv, |v| v.push(0)),
            "TrailingBytes",
        );
    }

    header(
        "negative.json",
        "Inputs that must be rejected, each with the operation to run, its inputs and the exact error",
        &[
            "§2", "§3.5", "§4.2", "§4.3", "§4.4", "§5", "§6.3", "§6.4", "§6.5", "§6.6", "§7", "§10",
            "§11", "§8", "§9",
        ],
    )
    .f("rng_seed", hx(rng_seed))
    .f("entries", Json::Array(neg.entries))
    .into()
}

// =============================================================================================
// All files
// =============================================================================================

/// File names and contents, in a fixed order.
pub fn all_files() -> Vec<(&'static str, String)> {
    vec![
        ("x3dh.json", render(&x3dh_json())),
        ("ratchet.json", render(&ratchet_json())),
        ("sealed_sender.json", render(&sealed_sender_json())),
        ("content.json", render(&content_json())),
        ("state.json", render(&state_json())),
        ("negative.json", render(&negative_json())),
    ]
}
