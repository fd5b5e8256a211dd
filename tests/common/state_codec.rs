//! A reference codec for the persisted state of SPEC.md §10, written from the specification alone
//! (no library code): the envelope (§10.0), the identity (§10.1), the prekey store (§10.2) and the
//! session (§10.3), as plain data with public fields.
//!
//! - `encode_v3` writes the exact bytes of the version written today (3);
//! - `decode` reads versions 1, 2 and 3 strictly, failing with the first error in the order
//!   SPEC.md gives (§2 rule 7), and returns the version read with *today's* object: an older
//!   blob comes back migrated (§10.2, §10.3), so `encode_v3` of it is its re-saved form;
//! - `encode_v2` / `encode_v1` write the older layouts from the same data, for migration tests
//!   (what an older library wrote). What they held beyond today's object is passed in `Legacy`.
//!
//! Encoders write whatever the fields hold (a forged phase, an unclamped secret, unsorted ids);
//! counts are the lengths of the lists. `body`/`reseal` and `ratchet_offset` let a test patch
//! bytes that the data model cannot express (a wrong count, trailing bytes); `edit_session` and
//! `edit_store` decode, edit and re-encode.
//! Where SPEC.md leaves the position of a check open, the comment says `ORDER:` and follows the
//! library's choice (tests/spec_interop.rs pins each one down).
#![allow(
    dead_code,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use curve25519_dalek::edwards::CompressedEdwardsY;
use sha2::{Digest, Sha256};

pub type K32 = [u8; 32];
/// A first-message id (§3.6).
pub type Fmid = [u8; 16];

pub const KIND_IDENTITY: u8 = 0x10;
pub const KIND_STORE: u8 = 0x11;
pub const KIND_SESSION: u8 = 0x12;
/// The version written for the prekey store and the session (§10.0).
pub const VERSION: u8 = 0x03;
pub const MAX_CONTEXT: usize = 1024;
/// `Limits::CEILING` (§6.4).
pub const CEILING: u32 = 1 << 20;
/// `max_skip`, `max_skipped_keys`, `max_old_chains`, `max_skipped_key_age` (§6.4).
pub const DEFAULT_LIMITS: [u32; 4] = [2000, 2000, 5, 10000];
pub const MAX_SIGNED_PREKEYS: usize = 3;
pub const MAX_FIRST_MESSAGES: usize = 4096;
pub const MAX_ONE_TIME_PREKEYS: usize = 65_536;
/// §10.2 version 1: the bound of its list of seen base keys.
pub const V1_MAX_SEEN: u32 = 1024;
/// §8.5; §10.3 turns a version-1 purge deadline `D` into `D − 2 · MAX_CLOCK_SKEW`.
pub const MAX_CLOCK_SKEW: u64 = 300_000;
const LABEL_FIRST_MESSAGE: &[u8] = b"xchat-protocol v1 first message";

/// §11.1, spelled as the library's `Debug` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    TrailingBytes,
    UnknownVersion(u8),
    UnknownType(u8),
    NonCanonical,
    InvalidKey,
    ChecksumMismatch,
}
use DecodeError::{InvalidKey, NonCanonical as NC, Truncated};

// ----- §10.0 envelope --------------------------------------------------------------------------

/// The versions read for a kind (§10.0).
pub fn versions_read(kind: u8) -> &'static [u8] {
    match kind {
        KIND_IDENTITY => &[0x01],
        KIND_STORE | KIND_SESSION => &[0x01, 0x02, 0x03],
        _ => &[],
    }
}

/// `kind ‖ version ‖ body ‖ SHA-256(kind ‖ version ‖ body)[0..16]`.
pub fn seal(kind: u8, version: u8, body: &[u8]) -> Vec<u8> {
    let mut blob = [&[kind, version], body].concat();
    let check = Sha256::digest(&blob);
    blob.extend_from_slice(&check[..16]);
    blob
}

/// §10.0 opening, checks in order; returns the version and the body.
pub fn open(kind: u8, blob: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    let at = blob.len().checked_sub(16).ok_or(Truncated)?;
    let (content, check) = blob.split_at(at);
    let k = *content.first().ok_or(Truncated)?;
    if k != kind {
        return Err(DecodeError::UnknownType(k));
    }
    let v = *content.get(1).ok_or(Truncated)?;
    if !versions_read(kind).contains(&v) {
        return Err(DecodeError::UnknownVersion(v));
    }
    let ok = Sha256::digest(content)[..16] == *check;
    ok.then_some((v, &content[2..]))
        .ok_or(DecodeError::ChecksumMismatch)
}

/// The body of a well-formed blob (no checks).
pub fn body(blob: &[u8]) -> &[u8] {
    &blob[2..blob.len() - 16]
}

/// `blob`'s kind and version around a new body, with a correct check (a forger's re-seal).
pub fn reseal(blob: &[u8], body: &[u8]) -> Vec<u8> {
    seal(blob[0], blob[1], body)
}

// ----- keys -----------------------------------------------------------------------------------

/// RFC 7748 §5 clamping, the one stored form of an X25519 secret (§10.0).
pub fn clamp(mut k: K32) -> K32 {
    k[0] &= 0xF8;
    k[31] = (k[31] & 0x7F) | 0x40;
    k
}

pub fn is_clamped(k: &K32) -> bool {
    clamp(*k) == *k
}

/// §2.3: top bit clear and `u < 2^255 − 19`.
pub fn x25519_canonical(k: &K32) -> bool {
    let ge_p = k[31] == 0x7F && k[1..31].iter().all(|&b| b == 0xFF) && k[0] >= 0xED;
    k[31] < 0x80 && !ge_p
}

/// §2.4: decompresses, re-compresses to the same bytes, not small order, prime-order subgroup.
pub fn ed25519_valid(k: &K32) -> bool {
    let p = CompressedEdwardsY(*k).decompress();
    p.is_some_and(|p| p.compress().0 == *k && !p.is_small_order() && p.is_torsion_free())
}

pub fn x25519_public(secret: &K32) -> K32 {
    x25519_dalek::x25519(*secret, x25519_dalek::X25519_BASEPOINT_BYTES)
}

/// §3.6 `first_message_id(DH(SPK, EK))`, or `None` when that DH is all zero.
pub fn first_message_id(spk_secret: &K32, base: &K32) -> Option<Fmid> {
    let dh3 = Some(x25519_dalek::x25519(*spk_secret, *base)).filter(|d| *d != [0; 32])?;
    let mut id = [0u8; 16];
    let hkdf = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), &dh3);
    hkdf.expand(LABEL_FIRST_MESSAGE, &mut id).unwrap();
    Some(id)
}

/// An X25519 key pair; version 3 stores `secret ‖ public` and takes the public key as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPair {
    pub secret: K32,
    pub public: K32,
}

impl KeyPair {
    /// The pair of a secret, its public key computed (as versions 1 and 2 are read).
    pub fn from_secret(secret: K32) -> Self {
        let public = x25519_public(&secret);
        KeyPair { secret, public }
    }
}

// ----- reading and writing -------------------------------------------------------------------

struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (a, b) = self.0.split_at_checked(n).ok_or(Truncated)?;
        self.0 = b;
        Ok(a)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().unwrap())
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.arr()?))
    }
    /// §2 rule 2.
    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(NC),
        }
    }
    /// §2.3, checked as read.
    fn xkey(&mut self) -> Result<K32, DecodeError> {
        let k = self.arr()?;
        x25519_canonical(&k).then_some(k).ok_or(InvalidKey)
    }
    /// §2.4 (identity keys of versions 1 and 2).
    fn edkey(&mut self) -> Result<K32, DecodeError> {
        let k = self.arr()?;
        ed25519_valid(&k).then_some(k).ok_or(InvalidKey)
    }
    /// §10.0: a secret is stored clamped from version 2 on; version 1's is clamped on reading.
    /// Version 3 follows it with its public key (§2.3, not recomputed); older ones recompute it.
    /// The secret is checked before its public key is read (§2 rule 7; the library reads the
    /// public key first: tests/spec_interop.rs, test 7e).
    fn key_pair(&mut self, v: u8) -> Result<KeyPair, DecodeError> {
        let secret = self.arr()?;
        if v > 0x01 && !is_clamped(&secret) {
            return Err(NC);
        }
        match v {
            0x03 => Ok(KeyPair {
                secret,
                public: self.xkey()?,
            }),
            _ => Ok(KeyPair::from_secret(clamp(secret))),
        }
    }
    fn end(&self) -> Result<(), DecodeError> {
        self.0
            .is_empty()
            .then_some(())
            .ok_or(DecodeError::TrailingBytes)
    }
}

/// Appends the parts to `b`.
fn put(b: &mut Vec<u8>, parts: &[&[u8]]) {
    parts.iter().for_each(|p| b.extend_from_slice(p));
}

fn be32(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap().to_be_bytes()
}

// ----- §10.1 identity --------------------------------------------------------------------------

pub fn encode_identity(seed: &K32) -> Vec<u8> {
    seal(KIND_IDENTITY, 0x01, seed)
}

pub fn decode_identity(blob: &[u8]) -> Result<K32, DecodeError> {
    let mut r = Rd(open(KIND_IDENTITY, blob)?.1);
    let seed = r.arr()?;
    r.end().map(|()| seed)
}

// ----- §10.2 prekey store ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPreKey {
    pub id: u32,
    pub created_at: u64,
    pub key: KeyPair,
    pub signature: [u8; 64],
    /// The first-message ids accepted without a one-time prekey, strictly increasing (§4.3).
    pub accepted: Vec<Fmid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimePreKey {
    pub id: u32,
    pub key: KeyPair,
}

/// A prekey store (§4.3): signed prekeys oldest first (the last is the current one), one-time
/// prekeys by increasing id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreBlob {
    pub next_signed_id: u32,
    pub next_one_time_id: u32,
    pub signed: Vec<SignedPreKey>,
    pub one_time: Vec<OneTimePreKey>,
}

impl StoreBlob {
    /// §10.2, versions 1–3; a version-1 blob's seen base keys are recorded under every held
    /// signed prekey (§3.6).
    pub fn decode(blob: &[u8]) -> Result<(u8, StoreBlob), DecodeError> {
        let (v, body) = open(KIND_STORE, blob)?;
        let mut r = Rd(body);
        let mut s = StoreBlob {
            next_signed_id: r.u32()?,
            next_one_time_id: r.u32()?,
            ..Self::default()
        };
        let n_signed = r.u8()?;
        if usize::from(n_signed) > MAX_SIGNED_PREKEYS {
            return Err(NC);
        }
        for _ in 0..n_signed {
            let (id, created_at) = (r.u32()?, u64::from_be_bytes(r.arr()?));
            let (key, signature) = (r.key_pair(v)?, r.arr()?);
            // Versions 1 and 2: a repeated id as soon as the second one's signature is read.
            if v < 0x03 && s.signed.iter().any(|k| k.id == id) {
                return Err(NC);
            }
            let a = if v > 0x01 {
                u16::from_be_bytes(r.arr()?)
            } else {
                0
            };
            if usize::from(a) > MAX_FIRST_MESSAGES {
                return Err(NC);
            }
            let mut accepted: Vec<Fmid> = Vec::new();
            for _ in 0..a {
                let fmid = r.arr()?;
                if accepted.last().is_some_and(|l| fmid <= *l) {
                    return Err(NC);
                }
                accepted.push(fmid);
            }
            let k = SignedPreKey {
                id,
                created_at,
                key,
                signature,
                accepted,
            };
            s.signed.push(k);
        }
        let n_one_time = r.u32()?;
        if n_one_time as usize > MAX_ONE_TIME_PREKEYS {
            return Err(NC);
        }
        for _ in 0..n_one_time {
            let (id, key) = (r.u32()?, r.key_pair(v)?);
            // The id order relates the entry to the previous one: checked once the whole entry
            // is read (§2 rule 7).
            if s.one_time.last().is_some_and(|l| id <= l.id) {
                return Err(NC);
            }
            s.one_time.push(OneTimePreKey { id, key });
        }
        if v == 0x01 {
            let b = r.u32()?;
            if b > V1_MAX_SEEN {
                return Err(NC);
            }
            let mut seen: Vec<K32> = Vec::new();
            for _ in 0..b {
                let k = r.xkey()?;
                if seen.contains(&k) {
                    return Err(NC);
                }
                seen.push(k);
            }
            for spk in &mut s.signed {
                let ids = seen
                    .iter()
                    .filter_map(|ek| first_message_id(&spk.key.secret, ek));
                spk.accepted.extend(ids);
                spk.accepted.sort_unstable();
                spk.accepted.dedup();
            }
        }
        // Version 3: a repeated id "once all are read"; ORDER (the library's choice): once the
        // whole body is read, before its end is checked.
        let ids: Vec<u32> = s.signed.iter().map(|k| k.id).collect();
        if (1..ids.len()).any(|i| ids[..i].contains(&ids[i])) {
            return Err(NC);
        }
        r.end().map(|()| (v, s))
    }

    /// Version 3 (with public keys), 2 (without), or 1 (without the records either, and followed
    /// by `seen`).
    fn body(&self, v: u8, seen: &[K32]) -> Vec<u8> {
        let public = |k: &KeyPair| if v == 0x03 { k.public.to_vec() } else { vec![] };
        let mut b = [self.next_signed_id, self.next_one_time_id]
            .map(u32::to_be_bytes)
            .concat();
        b.push(u8::try_from(self.signed.len()).unwrap());
        for k in &self.signed {
            put(&mut b, &[&k.id.to_be_bytes(), &k.created_at.to_be_bytes()]);
            put(&mut b, &[&k.key.secret, &public(&k.key), &k.signature]);
            if v > 0x01 {
                b.extend_from_slice(&u16::try_from(k.accepted.len()).unwrap().to_be_bytes());
                b.extend(k.accepted.concat());
            }
        }
        b.extend_from_slice(&be32(self.one_time.len()));
        for k in &self.one_time {
            put(
                &mut b,
                &[&k.id.to_be_bytes(), &k.key.secret, &public(&k.key)],
            );
        }
        if v == 0x01 {
            put(&mut b, &[&be32(seen.len()), &seen.concat()]);
        }
        b
    }
    pub fn body_v3(&self) -> Vec<u8> {
        self.body(0x03, &[])
    }
    pub fn encode_v3(&self) -> Vec<u8> {
        seal(KIND_STORE, 0x03, &self.body_v3())
    }
    pub fn encode_v2(&self) -> Vec<u8> {
        seal(KIND_STORE, 0x02, &self.body(0x02, &[]))
    }
    /// Version 1 had no records: `accepted` is not written, `seen` is.
    pub fn encode_v1(&self, seen: &[K32]) -> Vec<u8> {
        seal(KIND_STORE, 0x01, &self.body(0x01, seen))
    }
}

// ----- §10.3 session ---------------------------------------------------------------------------

/// §10.3 row 1 (the discriminant is the byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// An initiator awaiting its first reply: the ratchet's opening phase (§6.1).
    AwaitingReply = 0x00,
    /// An initiator that has received a message.
    Acknowledged = 0x01,
    Responder = 0x02,
}

/// §8.1 `(duration_s, start byte, version)`; a new session's is `Timer::default()` (off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timer {
    pub duration_s: u32,
    pub start: u8,
    pub version: u32,
}

/// `send` (§6.1): our ratchet key pair `DHs`, `CKs`, `Ns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sending {
    pub dhs: KeyPair,
    pub ck: K32,
    pub n: u32,
}

/// A stored skipped message key (§6.1); `skipped_at` in ms, `u64::MAX` unknown (§8.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub key: K32,
    pub n: u32,
    pub stamp: u32,
    pub skipped_at: u64,
    pub mk: K32,
}

/// The open phase (§6.1): rows 12–17 of phases `0x01` and `0x02`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Open {
    /// `recv` = (`DHr`, `CKr`, `Nr`).
    pub dhr: K32,
    pub ckr: K32,
    pub nr: u32,
    /// `None`: the sending side is pending (the next encrypt performs the half-step, §6.3).
    pub send: Option<Sending>,
    pub pn: u32,
    pub received: u32,
    pub old: Vec<K32>,
    pub skipped: Vec<Skipped>,
}

/// The ratchet's phase-specific parts (§6.1): phase `0x00` holds its first sending chain only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ratchet {
    Opening(Sending),
    Open(Open),
}

/// A session (§7.1, §10.3). `decode` guarantees that `phase` and `ratchet` agree
/// (`AwaitingReply` iff `Opening`); the encoders write them as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionBlob {
    pub phase: Phase,
    pub local: K32,
    pub remote: K32,
    pub context: Vec<u8>,
    pub base: K32,
    pub spk_id: u32,
    pub opk_id: Option<u32>,
    pub timer: Timer,
    pub limits: [u32; 4],
    pub rk: K32,
    pub ratchet: Ratchet,
}

/// What a version-1/2 session held beyond today's object, which reading drops (§10.3): the `DHs`
/// secret kept while the sending side was pending (for a responder that had not answered yet,
/// the signed prekey's), and an unacknowledged initiator's `DHr` (the signed prekey `SPK_B`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Legacy {
    pub pending_dhs: K32,
    pub opening_dhr: K32,
}

impl SessionBlob {
    pub fn initiator(&self) -> bool {
        self.phase != Phase::Responder
    }
    /// The X3DH initiator's identity `IK_A` (derived on load, §10.3).
    pub fn ik_a(&self) -> K32 {
        if self.initiator() {
            self.local
        } else {
            self.remote
        }
    }
    /// §3.5 `AD`.
    pub fn ad(&self) -> Vec<u8> {
        let ik_b = if self.initiator() {
            self.remote
        } else {
            self.local
        };
        let len = u16::try_from(self.context.len()).unwrap().to_be_bytes();
        [&self.ik_a()[..], &ik_b, &len, &self.context].concat()
    }
    /// The open phase's parts (`None` in the opening phase).
    pub fn open(&self) -> Option<&Open> {
        match &self.ratchet {
            Ratchet::Open(o) => Some(o),
            Ratchet::Opening(_) => None,
        }
    }
    /// The sending chain, unless it is pending.
    pub fn sending(&self) -> Option<&Sending> {
        match &self.ratchet {
            Ratchet::Opening(s) => Some(s),
            Ratchet::Open(o) => o.send.as_ref(),
        }
    }
    /// Offset in the version-3 body of row 12 (right after `RK`).
    pub fn ratchet_offset(&self) -> usize {
        let opk = 4 * usize::from(self.opk_id.is_some());
        1 + 64 + 2 + self.context.len() + 32 + 4 + 1 + opk + 9 + 16 + 32
    }

    /// The version-3 body (`legacy` = `None`), or version 2's layout: `role ‖ acknowledged`,
    /// the limits before the timer, the `DHs` secret alone, `DHr` flag ‖ key, optional chains.
    fn body(&self, legacy: Option<&Legacy>) -> Vec<u8> {
        let (role, ack) = (!self.initiator(), self.phase != Phase::AwaitingReply);
        let mut b = match legacy {
            None => vec![self.phase as u8],
            Some(_) => vec![u8::from(role), u8::from(ack)],
        };
        let ctx_len = u16::try_from(self.context.len()).unwrap().to_be_bytes();
        put(
            &mut b,
            &[&self.local, &self.remote, &ctx_len, &self.context],
        );
        put(&mut b, &[&self.base, &self.spk_id.to_be_bytes()]);
        match self.opk_id {
            None => b.push(0),
            Some(id) => put(&mut b, &[&[1], &id.to_be_bytes()]),
        }
        let t = self.timer;
        let timer = [
            &t.duration_s.to_be_bytes()[..],
            &[t.start],
            &t.version.to_be_bytes(),
        ];
        let (timer, limits) = (timer.concat(), self.limits.map(u32::to_be_bytes).concat());
        match legacy {
            None => put(&mut b, &[&timer, &limits, &self.rk]),
            Some(_) => put(&mut b, &[&limits, &timer, &self.rk]),
        }
        let chain = |ck: &K32, n: u32| [&ck[..], &n.to_be_bytes()].concat();
        let full = |s: &Sending| [&s.dhs.secret[..], &s.dhs.public, &chain(&s.ck, s.n)].concat();
        let mut o = Open::default();
        match (&self.ratchet, legacy) {
            (Ratchet::Opening(s), None) => return [b, full(s)].concat(),
            (Ratchet::Opening(s), Some(l)) => {
                put(&mut b, &[&s.dhs.secret, &[1], &l.opening_dhr, &[1]]);
                put(&mut b, &[&chain(&s.ck, s.n), &[0]]);
            }
            (Ratchet::Open(open), None) => {
                o = open.clone();
                put(
                    &mut b,
                    &[&o.dhr, &chain(&o.ckr, o.nr), &[u8::from(o.send.is_some())]],
                );
                b.extend(o.send.iter().flat_map(full));
            }
            (Ratchet::Open(open), Some(l)) => {
                o = open.clone();
                let dhs = o.send.as_ref().map_or(l.pending_dhs, |s| s.dhs.secret);
                put(&mut b, &[&dhs, &[1], &o.dhr, &[u8::from(o.send.is_some())]]);
                b.extend(o.send.iter().flat_map(|s| chain(&s.ck, s.n)));
                put(&mut b, &[&[1], &chain(&o.ckr, o.nr)]);
            }
        }
        put(&mut b, &[&o.pn.to_be_bytes(), &o.received.to_be_bytes()]);
        put(
            &mut b,
            &[&be32(o.old.len()), &o.old.concat(), &be32(o.skipped.len())],
        );
        for e in &o.skipped {
            put(
                &mut b,
                &[&e.key, &e.n.to_be_bytes(), &e.stamp.to_be_bytes()],
            );
            put(&mut b, &[&e.skipped_at.to_be_bytes(), &e.mk]);
        }
        b
    }
    pub fn body_v3(&self) -> Vec<u8> {
        self.body(None)
    }
    pub fn encode_v3(&self) -> Vec<u8> {
        seal(KIND_SESSION, 0x03, &self.body(None))
    }
    pub fn encode_v2(&self, legacy: &Legacy) -> Vec<u8> {
        seal(KIND_SESSION, 0x02, &self.body(Some(legacy)))
    }
    /// Version 1 has version 2's layout; the fields are written as they are (put an unclamped
    /// secret or purge deadlines in them for a faithful version-1 blob).
    pub fn encode_v1(&self, legacy: &Legacy) -> Vec<u8> {
        seal(KIND_SESSION, 0x01, &self.body(Some(legacy)))
    }

    /// §10.3, versions 1–3. An older blob is migrated: its phase from role, acknowledged and
    /// `recv`; an opening initiator's `DHr` and a pending side's `DHs` secret dropped; public
    /// keys recomputed; version 1's purge deadlines turned into skip times.
    pub fn decode(blob: &[u8]) -> Result<(u8, SessionBlob), DecodeError> {
        let (v, body) = open(KIND_SESSION, blob)?;
        let (mut r, v3) = (Rd(body), v == 0x03);
        let phase = match (v3, r.u8()?) {
            (true, 0) => Phase::AwaitingReply,
            (true, 1) => Phase::Acknowledged,
            (true, 2) => Phase::Responder,
            (false, 0) if r.flag()? => Phase::Acknowledged,
            (false, 0) => Phase::AwaitingReply,
            (false, 1) if r.flag()? => Phase::Responder,
            _ => return Err(NC), // also a version-2 responder not acknowledged
        };
        let opening = phase == Phase::AwaitingReply;
        // Version 3 takes identity keys as stored (§10.0); older versions validate them (§2.4).
        let identity = |r: &mut Rd<'_>| if v3 { r.arr() } else { r.edkey() };
        let (local, remote) = (identity(&mut r)?, identity(&mut r)?);
        let context_len = usize::from(u16::from_be_bytes(r.arr()?));
        if context_len > MAX_CONTEXT {
            return Err(NC);
        }
        let context = r.take(context_len)?.to_vec();
        let (base, spk_id) = (r.xkey()?, r.u32()?);
        let opk_id = if r.flag()? { Some(r.u32()?) } else { None };
        let (timer, limits) = if v3 {
            (read_timer(&mut r)?, read_limits(&mut r)?)
        } else {
            let limits = read_limits(&mut r)?;
            (read_timer(&mut r)?, limits)
        };
        let rk = r.arr()?;
        let sending = |r: &mut Rd<'_>, dhs| {
            Ok(Sending {
                dhs,
                ck: r.arr()?,
                n: r.u32()?,
            })
        };
        let mut o = Open::default();
        let mut has_recv = true;
        if v3 && opening {
            let dhs = r.key_pair(v)?;
            o.send = Some(sending(&mut r, dhs)?);
        } else if v3 {
            (o.dhr, o.ckr, o.nr) = (r.xkey()?, r.arr()?, r.u32()?);
            if r.flag()? {
                let dhs = r.key_pair(v)?;
                o.send = Some(sending(&mut r, dhs)?);
            }
        } else {
            let dhs = r.key_pair(v)?;
            if !r.flag()? {
                return Err(NC); // the `DHr` flag MUST be 0x01
            }
            o.dhr = r.xkey()?;
            if r.flag()? {
                o.send = Some(sending(&mut r, dhs)?);
            }
            has_recv = r.flag()?;
            if has_recv {
                (o.ckr, o.nr) = (r.arr()?, r.u32()?);
            }
        }
        if !(v3 && opening) {
            (o.pn, o.received) = (r.u32()?, r.u32()?);
            read_lists(&mut r, &mut o, &limits, v)?;
            // Versions 1–2: `recv` absent iff an unacknowledged initiator, which also has `send`,
            // PN = 0, received = 0, no old chain, no skipped key. ORDER (the library's choice):
            // once the lists are read, before the end of the body.
            let lists = !o.old.is_empty() || !o.skipped.is_empty();
            let bad = o.send.is_none() || o.pn != 0 || o.received != 0 || lists;
            if !v3 && (has_recv == opening || (opening && bad)) {
                return Err(NC);
            }
            // A legacy opening initiator's DHr (the signed prekey) is dropped, not checked: only
            // an open ratchet has lists and a receiving key to check (§10.3 rows 16–17).
            if !opening {
                check_lists(&o, &limits)?;
            }
        }
        r.end()?;
        let ratchet = match o.send {
            Some(s) if opening => Ratchet::Opening(s),
            _ => Ratchet::Open(o),
        };
        let s = SessionBlob {
            phase,
            local,
            remote,
            context,
            base,
            spk_id,
            opk_id,
            timer,
            limits,
            rk,
            ratchet,
        };
        Ok((v, s))
    }
}

/// Row 9; ORDER (the library's choice): the start byte is checked as it is read, "duration 0
/// with start on-read" once the whole timer is read.
fn read_timer(r: &mut Rd<'_>) -> Result<Timer, DecodeError> {
    let duration_s = r.u32()?;
    let start = r.u8()?;
    if start > 1 {
        return Err(NC);
    }
    let t = Timer {
        duration_s,
        start,
        version: r.u32()?,
    };
    if t.duration_s == 0 && t.start == 1 {
        Err(NC)
    } else {
        Ok(t)
    }
}

/// Row 10; ORDER (the library's choice): the four values are read, then checked.
fn read_limits(r: &mut Rd<'_>) -> Result<[u32; 4], DecodeError> {
    let limits = [r.u32()?, r.u32()?, r.u32()?, r.u32()?];
    if limits.iter().any(|l| !(1..=CEILING).contains(l)) || limits[0] > limits[1] {
        Err(NC)
    } else {
        Ok(limits)
    }
}

/// Rows 16–17: each count is checked against its limit as soon as it is read (every version);
/// the entries once the blob is read (`check_lists`).
fn read_lists(r: &mut Rd<'_>, o: &mut Open, limits: &[u32; 4], v: u8) -> Result<(), DecodeError> {
    let n_old = r.u32()?;
    if n_old > limits[2] {
        return Err(NC);
    }
    for _ in 0..n_old {
        o.old.push(r.xkey()?);
    }
    let n_skipped = r.u32()?;
    if n_skipped > limits[1] {
        return Err(NC);
    }
    for _ in 0..n_skipped {
        let (key, n, stamp) = (r.xkey()?, r.u32()?, r.u32()?);
        let (at, mk) = (u64::from_be_bytes(r.arr()?), r.arr()?);
        // Version 1's u64 is a purge deadline `D`, read as `D − 2 · MAX_CLOCK_SKEW`.
        let v1 = v == 0x01 && at != u64::MAX;
        let skipped_at = if v1 {
            at.saturating_sub(2 * MAX_CLOCK_SKEW)
        } else {
            at
        };
        o.skipped.push(Skipped {
            key,
            n,
            stamp,
            skipped_at,
            mk,
        });
    }
    Ok(())
}

/// Rows 16–17, "checked once the blob is read", in SPEC's order (every failure is
/// `NonCanonical`); ORDER (the library's choice): before the end of the body is checked.
fn check_lists(o: &Open, limits: &[u32; 4]) -> Result<(), DecodeError> {
    let old_bad = |(i, k): (usize, &K32)| *k == o.dhr || o.old[..i].contains(k);
    if o.old.iter().enumerate().any(old_bad) {
        return Err(NC);
    }
    // Row 16: our sending key is neither DHr nor an old key.
    if let Some(send) = &o.send
        && (send.dhs.public == o.dhr || o.old.contains(&send.dhs.public))
    {
        return Err(NC);
    }
    let mut last_age = 0;
    for (i, e) in o.skipped.iter().enumerate() {
        let current = e.key == o.dhr && e.n < o.nr;
        let age = o.received.wrapping_sub(e.stamp);
        if e.n == u32::MAX
            || (!current && !o.old.contains(&e.key))
            || o.skipped[..i].iter().any(|x| x.key == e.key && x.n == e.n)
            || (i > 0 && age > last_age)
            || age > limits[3]
        {
            return Err(NC);
        }
        last_age = age;
    }
    Ok(())
}

/// Decodes a session blob (any version), lets `f` edit it, and encodes it as version 3.
pub fn edit_session(blob: &[u8], f: impl FnOnce(&mut SessionBlob)) -> Vec<u8> {
    let (_, mut s) = SessionBlob::decode(blob).expect("a session blob");
    f(&mut s);
    s.encode_v3()
}

/// Decodes a prekey-store blob (any version), lets `f` edit it, and encodes it as version 3.
pub fn edit_store(blob: &[u8], f: impl FnOnce(&mut StoreBlob)) -> Vec<u8> {
    let (_, mut s) = StoreBlob::decode(blob).expect("a store blob");
    f(&mut s);
    s.encode_v3()
}
