//! A reference codec for the persisted state of SPEC.md §10, written from the specification alone
//! (no library code): the envelope (§10.0), the identity (§10.1), the prekey store (§10.2) and the
//! session (§10.3), as plain data with public fields.
//!
//! - `encode` writes the exact bytes of the version written today: the oldest that holds the
//!   object (§10.0) — 4 for a store with KEM state or a PQXDH session (their optional `kem`
//!   part), else 3; `encode_v3` / `encode_v4` write one version explicitly (`encode_v4` of a
//!   store without KEM state gives the forged "second encoding" of §10.2);
//! - `decode` reads versions 1 to 4 strictly, failing with the first error in the order
//!   SPEC.md gives (§2 rule 7), and returns the version read with *today's* object: an older
//!   blob comes back migrated (§10.2, §10.3), so `encode` of it is its re-saved form;
//! - `encode_v2` / `encode_v1` write the older layouts from the same data, for migration tests
//!   (what an older library wrote). What they held beyond today's object is passed in `Legacy`.
//!
//! Encoders write whatever the fields hold (a forged phase, an unclamped secret, unsorted ids);
//! counts are the lengths of the lists. `body`/`reseal` and `ratchet_offset` let a test patch
//! bytes that the data model cannot express (a wrong count, trailing bytes); `edit_session` and
//! `edit_store` decode, edit and re-encode. The store (§10.2) and the session (§10.3) are in
//! their own modules.
//! Where SPEC.md leaves the position of a check open, the comment says `ORDER:` and follows the
//! library's choice (tests/spec_interop/ pins each one down).
#![allow(
    dead_code,
    // Not every test target that includes the codec uses both halves.
    unused_imports,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use curve25519_dalek::edwards::CompressedEdwardsY;
use sha2::{Digest, Sha256};

mod session;
mod session_rows;
mod store;
pub use session::*;
pub use store::*;

pub type K32 = [u8; 32];
/// A first-message id (§3.6).
pub type Fmid = [u8; 16];

pub const KIND_IDENTITY: u8 = 0x10;
pub const KIND_STORE: u8 = 0x11;
pub const KIND_SESSION: u8 = 0x12;
/// The version written for a prekey store without KEM state and an X3DH session (§10.0).
pub const VERSION: u8 = 0x03;
/// The version written for a prekey store with KEM state and a PQXDH session (§10.0).
pub const VERSION_PQ: u8 = 0x04;
/// An ML-KEM-1024 key-generation seed `d ‖ z` (§4.5), and the ciphertext length (§5.3).
pub const KEM_SEED_LEN: usize = 64;
pub const KEM_CT_LEN: usize = 1568;
/// §4.5: last-resort KEM prekeys held, one-time KEM prekeys held.
pub const MAX_KEM_PREKEYS: usize = 3;
pub const MAX_KEM_ONE_TIME_PREKEYS: usize = 4096;
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
        KIND_STORE | KIND_SESSION => &[0x01, 0x02, 0x03, 0x04],
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
    /// Versions 3 and 4 follow it with its public key (§2.3, not recomputed); older ones
    /// recompute it.
    /// The secret is checked before its public key is read (§2 rule 7; the library reads the
    /// public key first: tests/spec_interop/session_state/mod.rs, test 7e).
    fn key_pair(&mut self, v: u8) -> Result<KeyPair, DecodeError> {
        let secret = self.arr()?;
        if v > 0x01 && !is_clamped(&secret) {
            return Err(NC);
        }
        match v {
            0x03 | 0x04 => Ok(KeyPair {
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
