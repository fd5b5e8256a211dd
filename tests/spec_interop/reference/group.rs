//! The independent implementation of the group layer (SPEC.md §13), written from the
//! specification alone: sender keys from RNG draws (§1, §13.1), the 105-byte distribution and the
//! receiver's rules for it (§13.2), group messages (§13.3), receiving with its check order and
//! limits (§13.4), sending, membership and rotation (§13.5), the content frame a group message
//! carries (§8.2, §8.4, §8.5, §8.6 as §13.3/§13.4 apply them) and the persisted state (§13.7)
//! in the envelope of §10.0 and sealed at rest (§10.4). It imports nothing from the crate.
//!
//! Where SPEC.md leaves a choice open the comment says `AMBIGUOUS:` and names what was guessed
//! (tests/spec_interop/group/ shows which way the crate went).

use crate::common::state_codec as sc;
use crate::reference::primitives::{K32, draw, ed25519_canonical, hkdf, kdf_ck};
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_chacha::rand_core::Rng;
use sha2::{Digest, Sha256};

pub(crate) const LABEL_GROUP_MESSAGE_KEY: &[u8] = b"xchat-protocol v1 group message key";
pub(crate) const LABEL_GROUP_MESSAGE: &[u8] = b"xchat-protocol v1 group message";
const LABEL_STATE_AT_REST: &[u8] = b"xchat-protocol v1 state at rest";
pub(crate) const KIND_GROUP: u8 = 0x13;
pub(crate) const GROUP_STATE_VERSION: u8 = 0x01;
pub(crate) const DIST_VERSION: u8 = 0x01;
pub(crate) const DIST_LEN: usize = 105;
pub(crate) const TYPE_GROUP: u8 = 0x03;
pub(crate) const HEADER_LEN: usize = 58;
pub(crate) const SIG_LEN: usize = 64;
pub(crate) const MAX_PLAINTEXT: usize = 1 << 20;
pub(crate) const CEILING: u32 = 1 << 20;
/// `max_jump`, `max_skipped_keys`, `max_sender_keys`, `max_members` (§13.4).
pub(crate) const DEFAULT_LIMITS: [u32; 4] = [2000, 2000, 3, 1000];
/// `max_messages`, `max_age_ms` (§13.5).
pub(crate) const DEFAULT_ROTATION: (u32, u64) = (1000, 604_800_000);
pub(crate) const MAX_CLOCK_SKEW: u64 = 300_000;
/// §13.3: how far ahead of ours a group frame's timer version may be and still apply.
pub(crate) const MAX_TIMER_STEP: u64 = 1 << 16;
/// §8.2 frame kinds.
pub(crate) const KIND_MESSAGE: u8 = 0x01;
pub(crate) const KIND_TIMER: u8 = 0x02;
pub(crate) const KIND_SENDER_KEY: u8 = 0x03;
/// §8.2 / §14.4: an attachment descriptor, an opaque body to the frame.
pub(crate) const KIND_ATTACHMENT: u8 = 0x04;
const FRAME_HEADER: usize = 23;

/// §11.1, spelled as the crate's `Debug` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dec {
    Truncated,
    TrailingBytes,
    UnknownVersion(u8),
    UnknownType(u8),
    NonCanonical,
    InvalidKey,
    TooLarge,
    ChecksumMismatch,
}

/// §13.6, spelled as the crate's `Debug` prints it (`SenderKeyDistribution::send` reports the
/// pairwise session's own error, not one of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GErr {
    Decode(Dec),
    WrongGroup,
    NotAMember,
    UnknownSenderKey(u32),
    InvalidSignature,
    DuplicateMessage,
    TooFarInFuture,
    DecryptionFailed,
    DistributionPending,
    StaleDistribution,
    TooLarge,
    InvalidLimits,
    TimerVersionExhausted,
}

impl From<Dec> for GErr {
    fn from(e: Dec) -> Self {
        GErr::Decode(e)
    }
}

pub(crate) struct Rd<'a>(pub(crate) &'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Dec> {
        let (a, b) = self.0.split_at_checked(n).ok_or(Dec::Truncated)?;
        self.0 = b;
        Ok(a)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], Dec> {
        Ok(self.take(N)?.try_into().unwrap())
    }
    fn u8(&mut self) -> Result<u8, Dec> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Dec> {
        Ok(u32::from_be_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, Dec> {
        Ok(u64::from_be_bytes(self.arr()?))
    }
    fn flag(&mut self) -> Result<bool, Dec> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Dec::NonCanonical),
        }
    }
    fn end(&self) -> Result<(), Dec> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Dec::TrailingBytes)
        }
    }
}

// ----- §8.1–§8.6: timer and content frame ------------------------------------------------------

/// §8.1; `start` 0 on-send, 1 on-read (a decoded timer is canonical).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Timer {
    pub(crate) duration_s: u32,
    pub(crate) start: u8,
    pub(crate) version: u32,
}

impl Timer {
    fn canonical(&self) -> bool {
        self.start <= 1 && !(self.duration_s == 0 && self.start == 1)
    }
    /// §8.4 `rank`.
    fn rank(&self) -> (u64, u8) {
        let d = if self.duration_s == 0 {
            1u64 << 32
        } else {
            u64::from(self.duration_s)
        };
        (d, self.start)
    }
    /// §8.4
    pub(crate) fn supersedes(&self, c: &Timer) -> bool {
        self.version > c.version || (self.version == c.version && self.rank() < c.rank())
    }
    /// §8.5: the more private (lower rank) of two timers.
    fn more_private(a: &Timer, b: &Timer) -> Timer {
        if b.rank() < a.rank() { *b } else { *a }
    }
    fn put(&self, v: &mut Vec<u8>) {
        v.extend_from_slice(&self.duration_s.to_be_bytes());
        v.push(self.start);
        v.extend_from_slice(&self.version.to_be_bytes());
    }
    /// §8.2: the duration, the start byte (other than `0x00`/`0x01`: `NonCanonical` as soon as
    /// it is read), the version, and then the off/on-read rule.
    fn read(r: &mut Rd<'_>) -> Result<Timer, Dec> {
        let duration_s = r.u32()?;
        let start = r.u8()?;
        if start > 1 {
            return Err(Dec::NonCanonical);
        }
        let t = Timer {
            duration_s,
            start,
            version: r.u32()?,
        };
        if t.canonical() {
            Ok(t)
        } else {
            Err(Dec::NonCanonical)
        }
    }
}

/// §8.2 `padme` (Nikitin et al.).
pub(crate) fn padme(l: u64) -> u64 {
    if l < 2 {
        return l;
    }
    let e = 63 - u64::from(l.leading_zeros());
    let s = 64 - u64::from(e.leading_zeros());
    let mask = (1u64 << (e - s)) - 1;
    l.checked_add(mask).map_or(u64::MAX, |x| x & !mask)
}

pub(crate) fn pad(l: usize) -> usize {
    usize::try_from(padme(l as u64)).unwrap().max(256)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) kind: u8,
    pub(crate) sent_at: u64,
    pub(crate) timer: Timer,
    pub(crate) body: Vec<u8>,
}

/// §8.2 encoding with its checks, in the order given.
pub(crate) fn encode_frame(f: &Frame) -> Result<Vec<u8>, Dec> {
    if !f.timer.canonical() || (f.kind == KIND_TIMER && !f.body.is_empty()) {
        return Err(Dec::NonCanonical);
    }
    let len = pad(FRAME_HEADER + f.body.len());
    if len > MAX_PLAINTEXT {
        return Err(Dec::TooLarge);
    }
    let mut v = vec![0x01, f.kind];
    v.extend_from_slice(&f.sent_at.to_be_bytes());
    f.timer.put(&mut v);
    v.extend_from_slice(&u32::try_from(f.body.len()).unwrap().to_be_bytes());
    v.extend_from_slice(&f.body);
    v.resize(len, 0);
    Ok(v)
}

/// §8.2 decoding, in the order given.
pub(crate) fn decode_frame(b: &[u8]) -> Result<Frame, Dec> {
    if b.len() > MAX_PLAINTEXT {
        return Err(Dec::TooLarge);
    }
    let mut r = Rd(b);
    let v = r.u8()?;
    if v != 0x01 {
        return Err(Dec::UnknownVersion(v));
    }
    let kind = r.u8()?;
    if !(KIND_MESSAGE..=KIND_ATTACHMENT).contains(&kind) {
        return Err(Dec::UnknownType(kind));
    }
    let sent_at = r.u64()?;
    let timer = Timer::read(&mut r)?;
    let n = r.u32()? as usize;
    let body = r.take(n)?.to_vec();
    if kind == KIND_TIMER && !body.is_empty() {
        return Err(Dec::NonCanonical);
    }
    if b.len() != pad(FRAME_HEADER + n) || r.0.iter().any(|&x| x != 0) {
        return Err(Dec::NonCanonical);
    }
    Ok(Frame {
        kind,
        sent_at,
        timer,
        body,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    Never,
    At(u64),
    AfterRead(u64),
}

/// §8.5 with the effective timer; `None` = expired on arrival.
fn deadline(sent_at: u64, t: &Timer, now: u64) -> Option<Deadline> {
    let ms = u64::from(t.duration_s) * 1000;
    match (t.duration_s, t.start) {
        (0, _) => Some(Deadline::Never),
        (_, 1) => Some(Deadline::AfterRead(ms)),
        _ => {
            let sent = sent_at.min(now.saturating_add(MAX_CLOCK_SKEW));
            let delete_at = sent.saturating_add(ms);
            if now > delete_at.saturating_add(MAX_CLOCK_SKEW) {
                None
            } else {
                Some(Deadline::At(delete_at))
            }
        }
    }
}

/// What `receive` reports (§8.5, §13.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Receipt {
    Message {
        kind: u8,
        body: Vec<u8>,
        sent_at: u64,
        timer: Timer,
        deadline: Deadline,
        timer_changed: bool,
    },
    Expired {
        timer_changed: bool,
    },
    Unreadable(Dec),
}

// ----- §13.2 distribution ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dist {
    pub(crate) group_id: K32,
    pub(crate) key_id: u32,
    pub(crate) iteration: u32,
    pub(crate) ck: K32,
    pub(crate) signing: K32,
}

pub(crate) fn encode_dist(d: &Dist) -> Vec<u8> {
    let mut v = vec![DIST_VERSION];
    v.extend_from_slice(&d.group_id);
    v.extend_from_slice(&d.key_id.to_be_bytes());
    v.extend_from_slice(&d.iteration.to_be_bytes());
    v.extend_from_slice(&d.ck);
    v.extend_from_slice(&d.signing);
    assert_eq!(v.len(), DIST_LEN);
    v
}

/// §13.2, fields read and checked in order (§2 rule 7).
pub(crate) fn decode_dist(b: &[u8]) -> Result<Dist, Dec> {
    let mut r = Rd(b);
    let v = r.u8()?;
    if v != DIST_VERSION {
        return Err(Dec::UnknownVersion(v));
    }
    let group_id = r.arr()?;
    let key_id = r.u32()?;
    let iteration = r.u32()?;
    let ck = r.arr()?;
    let signing = r.arr()?;
    if !ed25519_canonical(&signing) {
        return Err(Dec::InvalidKey);
    }
    r.end()?;
    Ok(Dist {
        group_id,
        key_id,
        iteration,
        ck,
        signing,
    })
}

// ----- §13.3 group message ---------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupMsg {
    pub(crate) header: Vec<u8>,
    pub(crate) group_id: K32,
    pub(crate) key_id: u32,
    pub(crate) iteration: u32,
    pub(crate) seed: [u8; 16],
    pub(crate) sealed: Vec<u8>,
    pub(crate) sig: [u8; 64],
}

/// §13.3 decoding, in order.
pub(crate) fn decode_msg(b: &[u8]) -> Result<GroupMsg, Dec> {
    let mut r = Rd(b);
    let v = r.u8()?;
    if v != 0x01 {
        return Err(Dec::UnknownVersion(v));
    }
    let t = r.u8()?;
    if t != TYPE_GROUP {
        return Err(Dec::UnknownType(t));
    }
    let group_id = r.arr()?;
    let key_id = r.u32()?;
    let iteration = r.u32()?;
    let seed = r.arr()?;
    let rest = r.0;
    if rest.len() < 16 + SIG_LEN {
        return Err(Dec::Truncated);
    }
    let (sealed, sig) = rest.split_at(rest.len() - SIG_LEN);
    if sealed.len() > MAX_PLAINTEXT + 16 {
        return Err(Dec::TooLarge);
    }
    Ok(GroupMsg {
        header: b[..HEADER_LEN].to_vec(),
        group_id,
        key_id,
        iteration,
        seed,
        sealed: sealed.to_vec(),
        sig: sig.try_into().unwrap(),
    })
}

fn group_cipher(mk: &K32, seed: &[u8; 16]) -> (Aes256Gcm, Nonce<Aes256Gcm>) {
    let mut okm = [0u8; 44];
    hkdf(seed, mk, LABEL_GROUP_MESSAGE_KEY, &mut okm);
    let cipher = Aes256Gcm::new_from_slice(&okm[..32]).unwrap();
    (cipher, Nonce::<Aes256Gcm>::try_from(&okm[32..44]).unwrap())
}

fn signed_bytes(ik: &K32, header: &[u8], sealed: &[u8]) -> Vec<u8> {
    [LABEL_GROUP_MESSAGE, ik, header, sealed].concat()
}

/// §13.3 from its parts (test helper too: any iteration, any signing seed, any sealed bytes).
pub(crate) fn build_msg(
    ik: &K32,
    (group_id, key_id, iteration): (&K32, u32, u32),
    mk: &K32,
    seed: &[u8; 16],
    signing_seed: &K32,
    pt: &[u8],
) -> Vec<u8> {
    let mut header = vec![0x01, TYPE_GROUP];
    header.extend_from_slice(group_id);
    header.extend_from_slice(&key_id.to_be_bytes());
    header.extend_from_slice(&iteration.to_be_bytes());
    header.extend_from_slice(seed);
    assert_eq!(header.len(), HEADER_LEN);
    let (cipher, nonce) = group_cipher(mk, seed);
    let mut sealed = pt.to_vec();
    let ad = [&ik[..], &header].concat();
    let tag = cipher
        .encrypt_inout_detached(&nonce, &ad, sealed.as_mut_slice().into())
        .unwrap();
    sealed.extend_from_slice(&tag);
    resign(ik, &[header, sealed].concat(), signing_seed)
}

/// `header ‖ sealed` (the message without its signature) signed by `signing_seed`.
pub(crate) fn resign(ik: &K32, unsigned: &[u8], signing_seed: &K32) -> Vec<u8> {
    let (header, sealed) = unsigned.split_at(HEADER_LEN);
    let sig = SigningKey::from_bytes(signing_seed).sign(&signed_bytes(ik, header, sealed));
    [unsigned, &sig.to_bytes()].concat()
}

fn open_sealed(mk: &K32, ik: &K32, m: &GroupMsg) -> Result<Vec<u8>, GErr> {
    let (cipher, nonce) = group_cipher(mk, &m.seed);
    let (body, tag) = m.sealed.split_at(m.sealed.len() - 16);
    let tag = Tag::<Aes256Gcm>::try_from(tag).unwrap();
    let mut buf = body.to_vec();
    let ad = [&ik[..], &m.header].concat();
    cipher
        .decrypt_inout_detached(&nonce, &ad, buf.as_mut_slice().into(), &tag)
        .map_err(|_| GErr::DecryptionFailed)?;
    Ok(buf)
}

pub(crate) fn signing_public(seed: &K32) -> K32 {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

// ----- §13.7 state ------------------------------------------------------------------------------

/// Our sender key (§13.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnKey {
    pub(crate) id: u32,
    pub(crate) iteration: u32,
    pub(crate) ck: K32,
    pub(crate) seed: K32,
    pub(crate) created_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub(crate) chain: K32,
    pub(crate) iteration: u32,
    pub(crate) stamp: u32,
    pub(crate) skipped_at: u64,
    pub(crate) mk: K32,
}

/// A member's sender key as we hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecvKey {
    pub(crate) id: u32,
    pub(crate) signing: K32,
    pub(crate) ck: K32,
    pub(crate) next: u32,
    pub(crate) skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) ik: K32,
    pub(crate) has_our_key: bool,
    pub(crate) keys: Vec<RecvKey>,
}

/// One device's group (§13.7's fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MyGroup {
    pub(crate) group_id: K32,
    pub(crate) local: K32,
    pub(crate) limits: [u32; 4],
    pub(crate) rotation: (u32, u64),
    pub(crate) timer: Timer,
    pub(crate) stale: bool,
    pub(crate) own: OwnKey,
    /// Strictly increasing by `ik`.
    pub(crate) members: Vec<Member>,
}

impl MyGroup {
    pub(crate) fn encode_body(&self) -> Vec<u8> {
        let mut v = self.group_id.to_vec();
        v.extend_from_slice(&self.local);
        self.limits
            .iter()
            .for_each(|l| v.extend_from_slice(&l.to_be_bytes()));
        v.extend_from_slice(&self.rotation.0.to_be_bytes());
        v.extend_from_slice(&self.rotation.1.to_be_bytes());
        self.timer.put(&mut v);
        v.push(u8::from(self.stale));
        let o = &self.own;
        v.extend_from_slice(&o.id.to_be_bytes());
        v.extend_from_slice(&o.iteration.to_be_bytes());
        v.extend_from_slice(&o.ck);
        v.extend_from_slice(&o.seed);
        v.extend_from_slice(&o.created_at.to_be_bytes());
        v.extend_from_slice(&u32::try_from(self.members.len()).unwrap().to_be_bytes());
        for m in &self.members {
            v.extend_from_slice(&m.ik);
            v.push(u8::from(m.has_our_key));
            v.extend_from_slice(&u32::try_from(m.keys.len()).unwrap().to_be_bytes());
            for k in &m.keys {
                v.extend_from_slice(&k.id.to_be_bytes());
                v.extend_from_slice(&k.signing);
                v.extend_from_slice(&k.ck);
                v.extend_from_slice(&k.next.to_be_bytes());
                v.extend_from_slice(&u32::try_from(k.skipped.len()).unwrap().to_be_bytes());
                for s in &k.skipped {
                    v.extend_from_slice(&s.chain);
                    v.extend_from_slice(&s.iteration.to_be_bytes());
                    v.extend_from_slice(&s.stamp.to_be_bytes());
                    v.extend_from_slice(&s.skipped_at.to_be_bytes());
                    v.extend_from_slice(&s.mk);
                }
            }
        }
        v
    }

    /// §10.0 envelope around §13.7's body.
    pub(crate) fn to_state(&self) -> Vec<u8> {
        sc::seal(KIND_GROUP, GROUP_STATE_VERSION, &self.encode_body())
    }

    /// §10.0 opening, in order, then the body.
    pub(crate) fn from_state(blob: &[u8]) -> Result<Self, Dec> {
        let at = blob.len().checked_sub(16).ok_or(Dec::Truncated)?;
        let (content, check) = blob.split_at(at);
        let kind = *content.first().ok_or(Dec::Truncated)?;
        if kind != KIND_GROUP {
            return Err(Dec::UnknownType(kind));
        }
        let version = *content.get(1).ok_or(Dec::Truncated)?;
        if version != GROUP_STATE_VERSION {
            return Err(Dec::UnknownVersion(version));
        }
        if Sha256::digest(content)[..16] != *check {
            return Err(Dec::ChecksumMismatch);
        }
        Self::decode_body(&content[2..])
    }

    /// §13.7, fields read and checked in order (§2 rule 7): a check on one field as soon as it
    /// is read; a check relating a list entry to others once that whole entry is read.
    pub(crate) fn decode_body(b: &[u8]) -> Result<Self, Dec> {
        let nc = Err(Dec::NonCanonical);
        let mut r = Rd(b);
        let group_id = r.arr()?;
        let local = r.arr()?;
        let mut limits = [0u32; 4];
        for l in &mut limits {
            *l = r.u32()?;
        }
        // AMBIGUOUS: §13.7 does not say whether each limit is checked as read (§2 rule 7) or
        // all four once read (as §10.3 row 10 does): the crate reads all four first.
        if limits.iter().any(|l| !(1..=CEILING).contains(l)) {
            return nc;
        }
        let rotation = (r.u32()?, r.u64()?);
        // "either 0 → NonCanonical". AMBIGUOUS: the row is one 12-byte field, so both bounds
        // are read before either is checked (as the limits above); a blob cut inside
        // `max_age_ms` after a zero `max_messages` is then `Truncated`.
        if rotation.0 == 0 || rotation.1 == 0 {
            return nc;
        }
        // §8.2's timer checks, the start byte as soon as it is read.
        let timer = Timer::read(&mut r)?;
        let stale = r.flag()?;
        // Any iteration, `2^32 − 1` included (a used-up chain, §13.1).
        let (id, iteration) = (r.u32()?, r.u32()?);
        let own = OwnKey {
            id,
            iteration,
            ck: r.arr()?,
            seed: r.arr()?,
            created_at: r.u64()?,
        };
        let m = r.u32()?;
        if m > limits[3] {
            return nc;
        }
        let mut members: Vec<Member> = vec![];
        for _ in 0..m {
            let ik: K32 = r.arr()?;
            let has_our_key = r.flag()?;
            let k = r.u32()?;
            if k > limits[2] {
                return nc;
            }
            let mut keys: Vec<RecvKey> = vec![];
            for _ in 0..k {
                let key = read_key(&mut r, limits[1])?;
                if keys.iter().any(|x| x.id == key.id) {
                    return nc;
                }
                keys.push(key);
            }
            // §13.7 (and §2 rule 7): the order, and never `IK_local`, once the member's whole
            // entry (with its keys) is read.
            if members.last().is_some_and(|p| p.ik >= ik) || ik == local {
                return nc;
            }
            members.push(Member {
                ik,
                has_our_key,
                keys,
            });
        }
        r.end()?;
        Ok(MyGroup {
            group_id,
            local,
            limits,
            rotation,
            timer,
            stale,
            own,
            members,
        })
    }
}

/// One stored sender key of a member (§13.7's "key" row).
fn read_key(r: &mut Rd<'_>, max_skipped: u32) -> Result<RecvKey, Dec> {
    let id = r.u32()?;
    let signing: K32 = r.arr()?;
    if CompressedEdwardsY(signing).decompress().is_none() {
        return Err(Dec::InvalidKey);
    }
    let ck = r.arr()?;
    let next = r.u32()?;
    let s = r.u32()?;
    if s > max_skipped {
        return Err(Dec::NonCanonical);
    }
    // §2 rule 7: the stamp (a field of its own) as it is read; the rules relating the entry
    // to its key and to the other entries once the whole entry is read (the crate runs all of
    // them once the whole list is read: tests/spec_interop/group/decode.rs, KNOWN).
    let mut skipped: Vec<Skipped> = vec![];
    for _ in 0..s {
        let (chain, iteration) = (r.arr()?, r.u32()?);
        let stamp = r.u32()?;
        if stamp != 0 {
            return Err(Dec::NonCanonical);
        }
        let e = Skipped {
            chain,
            iteration,
            stamp,
            skipped_at: r.u64()?,
            mk: r.arr()?,
        };
        let dup = skipped.iter().any(|x| x.iteration == e.iteration);
        if e.chain != signing || e.iteration >= next || dup {
            return Err(Dec::NonCanonical);
        }
        skipped.push(e);
    }
    Ok(RecvKey {
        id,
        signing,
        ck,
        next,
        skipped,
    })
}

/// §10.4 with the group's kind and version.
pub(crate) fn seal_at_rest(salt: &K32, storage_key: &K32, body: &[u8]) -> Vec<u8> {
    let head = [KIND_GROUP | 0x80, GROUP_STATE_VERSION];
    let mut key = [0u8; 32];
    let info = [LABEL_STATE_AT_REST, &[KIND_GROUP, GROUP_STATE_VERSION]].concat();
    hkdf(salt, storage_key, &info, &mut key);
    let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
    let aad = [&head[..], salt].concat();
    let mut buf = body.to_vec();
    let nonce = Nonce::<Aes256Gcm>::default();
    let tag = cipher
        .encrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into())
        .unwrap();
    [&aad[..], &buf, &tag].concat()
}

/// §10.4 opening, in order, then the body.
pub(crate) fn open_at_rest(blob: &[u8], storage_key: &K32) -> Result<MyGroup, Dec> {
    let kind = *blob.first().ok_or(Dec::Truncated)?;
    if kind != KIND_GROUP | 0x80 {
        return Err(Dec::UnknownType(kind));
    }
    let version = *blob.get(1).ok_or(Dec::Truncated)?;
    if version != GROUP_STATE_VERSION {
        return Err(Dec::UnknownVersion(version));
    }
    if blob.len() < 2 + 32 + 16 {
        return Err(Dec::Truncated);
    }
    let (aad, rest) = blob.split_at(34);
    let mut key = [0u8; 32];
    let info = [LABEL_STATE_AT_REST, &[KIND_GROUP, GROUP_STATE_VERSION]].concat();
    hkdf(&aad[2..], storage_key, &info, &mut key);
    let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
    let (body, tag) = rest.split_at(rest.len() - 16);
    let mut buf = body.to_vec();
    let tag = Tag::<Aes256Gcm>::try_from(tag).unwrap();
    let nonce = Nonce::<Aes256Gcm>::default();
    cipher
        .decrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into(), &tag)
        .map_err(|_| Dec::ChecksumMismatch)?;
    MyGroup::decode_body(&buf)
}

// ----- §13.1–§13.5 operations -------------------------------------------------------------------

/// §13.1: 4 bytes (the id, big-endian), 32 (`CK`), 32 (the signing seed).
fn new_sender_key(rng: &mut impl Rng, now: u64) -> OwnKey {
    let id = u32::from_be_bytes(draw(rng));
    let ck = draw(rng);
    let seed = draw(rng);
    OwnKey {
        id,
        iteration: 0,
        ck,
        seed,
        created_at: now,
    }
}

impl MyGroup {
    /// `GroupSession::new`: every check before the draw (§13.6 "a failed `new` draws nothing").
    /// AMBIGUOUS: the limits and the rotation bounds (both `InvalidLimits`) before the number of
    /// members (us and repeats skipped, `TooLarge`), which a limit of 0 would make meaningless.
    pub(crate) fn new(
        rng: &mut impl Rng,
        local: K32,
        group_id: K32,
        members: &[K32],
        now: u64,
        (limits, rotation): ([u32; 4], (u32, u64)),
    ) -> Result<Self, GErr> {
        if limits.iter().any(|l| !(1..=CEILING).contains(l)) {
            return Err(GErr::InvalidLimits);
        }
        // §13.5 "`Rotation` bounds are each at least 1".
        if rotation.0 == 0 || rotation.1 == 0 {
            return Err(GErr::InvalidLimits);
        }
        let mut iks: Vec<K32> = members.iter().copied().filter(|m| *m != local).collect();
        iks.sort_unstable();
        iks.dedup();
        if iks.len() > limits[3] as usize {
            return Err(GErr::TooLarge);
        }
        let own = new_sender_key(rng, now);
        let members = iks
            .into_iter()
            .map(|ik| Member {
                ik,
                has_our_key: false,
                keys: vec![],
            })
            .collect();
        Ok(MyGroup {
            group_id,
            local,
            limits,
            rotation,
            timer: Timer::default(),
            stale: false,
            own,
            members,
        })
    }

    fn member(&self, ik: &K32) -> Option<usize> {
        self.members.iter().position(|m| m.ik == *ik)
    }

    pub(crate) fn is_member(&self, ik: &K32) -> bool {
        self.member(ik).is_some()
    }

    /// §13.5; "when it has sent `max_messages` messages" read as `iteration ≥ max_messages`
    /// (AMBIGUOUS: the iteration counts the messages sent on the key), the age bound with a
    /// saturating addition; the chain is used up at `2^32 − 1` (§13.1: the last iteration sent
    /// is `2^32 − 2`).
    pub(crate) fn rotation_due(&self, now: u64) -> bool {
        let o = &self.own;
        self.stale
            || o.iteration >= self.rotation.0
            || now >= o.created_at.saturating_add(self.rotation.1)
            || o.iteration == u32::MAX
    }

    pub(crate) fn lacking(&self) -> Vec<K32> {
        let lack = self.members.iter().filter(|m| !m.has_our_key);
        lack.map(|m| m.ik).collect()
    }

    /// `add_member`: `Ok(false)` for us or a member, also in a full group (§13.5), so before
    /// the size check (`TooLarge`).
    pub(crate) fn add_member(&mut self, ik: &K32) -> Result<bool, GErr> {
        if *ik == self.local || self.is_member(ik) {
            return Ok(false);
        }
        if self.members.len() >= self.limits[3] as usize {
            return Err(GErr::TooLarge);
        }
        let at = self.members.partition_point(|m| m.ik < *ik);
        let m = Member {
            ik: *ik,
            has_our_key: false,
            keys: vec![],
        };
        self.members.insert(at, m);
        Ok(true)
    }

    /// `remove_member`: its keys deleted, our key due for rotation (AMBIGUOUS: a non-member
    /// changes nothing).
    pub(crate) fn remove_member(&mut self, ik: &K32) -> bool {
        match self.member(ik) {
            Some(i) => {
                self.members.remove(i);
                self.stale = true;
                true
            }
            None => false,
        }
    }

    /// Our key at its current iteration (§13.2).
    pub(crate) fn own_dist(&self) -> Dist {
        Dist {
            group_id: self.group_id,
            key_id: self.own.id,
            iteration: self.own.iteration,
            ck: self.own.ck,
            signing: signing_public(&self.own.seed),
        }
    }

    /// `distribution(now)`: rotates if due (every member then lacks the new key).
    pub(crate) fn distribution(&mut self, rng: &mut impl Rng, now: u64) -> (Vec<u8>, Vec<K32>) {
        if self.rotation_due(now) {
            self.own = new_sender_key(rng, now);
            self.stale = false;
            self.members.iter_mut().for_each(|m| m.has_our_key = false);
        }
        (encode_dist(&self.own_dist()), self.lacking())
    }

    /// §13.5: a member first, then the distribution must be byte for byte our current key at
    /// its current iteration.
    pub(crate) fn mark_distributed(&mut self, ik: &K32, d: &[u8]) -> Result<(), GErr> {
        let i = self.member(ik).ok_or(GErr::NotAMember)?;
        if d != encode_dist(&self.own_dist()).as_slice() {
            return Err(GErr::StaleDistribution);
        }
        self.members[i].has_our_key = true;
        Ok(())
    }

    /// §13.2 receiver's rules, in order.
    pub(crate) fn process_distribution(&mut self, sender: &K32, d: &Dist) -> Result<(), GErr> {
        if d.group_id != self.group_id {
            return Err(GErr::WrongGroup);
        }
        let i = self.member(sender).ok_or(GErr::NotAMember)?;
        let max_keys = self.limits[2] as usize;
        let keys = &mut self.members[i].keys;
        let fresh = RecvKey {
            id: d.key_id,
            signing: d.signing,
            ck: d.ck,
            next: d.iteration,
            skipped: vec![],
        };
        match keys.iter().position(|k| k.id == d.key_id) {
            // A repeat (at any iteration): nothing changes.
            Some(j) if keys[j].signing == d.signing => return Ok(()),
            // Another signing key under a held id: the old key goes, the new one is the newest.
            Some(j) => {
                keys.remove(j);
            }
            None => {}
        }
        keys.push(fresh);
        while keys.len() > max_keys {
            keys.remove(0);
        }
        Ok(())
    }

    fn pending(&self, now: u64) -> bool {
        self.rotation_due(now) || self.members.iter().any(|m| !m.has_our_key)
    }

    /// §13.3; `DistributionPending` before `TooLarge` (§13.5); AMBIGUOUS: the seed is drawn
    /// only after every check (§13.6 says an `Err` changes nothing; a draw is not state).
    pub(crate) fn encrypt(
        &mut self,
        rng: &mut impl Rng,
        now: u64,
        pt: &[u8],
    ) -> Result<Vec<u8>, GErr> {
        if self.pending(now) {
            return Err(GErr::DistributionPending);
        }
        if pt.len() > MAX_PLAINTEXT {
            return Err(GErr::TooLarge);
        }
        let o = &self.own;
        let (mk, next_ck) = kdf_ck(&o.ck);
        let seed: [u8; 16] = draw(rng);
        let ids = (&self.group_id, o.id, o.iteration);
        let m = build_msg(&self.local, ids, &mk, &seed, &o.seed, pt);
        self.own.ck = next_ck;
        self.own.iteration += 1;
        Ok(m)
    }

    /// §13.3 `send`: a kind 0x01 frame under the group's timer; `DistributionPending` first,
    /// then the frame's size (`TooLarge`) (§13.5).
    pub(crate) fn send(
        &mut self,
        rng: &mut impl Rng,
        now: u64,
        body: &[u8],
    ) -> Result<Vec<u8>, GErr> {
        if self.pending(now) {
            return Err(GErr::DistributionPending);
        }
        let f = Frame {
            kind: KIND_MESSAGE,
            sent_at: now,
            timer: self.timer,
            body: body.to_vec(),
        };
        let frame = encode_frame(&f).map_err(|_| GErr::TooLarge)?;
        self.encrypt(rng, now, &frame)
    }

    /// §8.3 for the group: `DistributionPending` first, then an exhausted version (§13.5).
    pub(crate) fn set_timer(
        &mut self,
        rng: &mut impl Rng,
        now: u64,
        duration_s: u32,
        start: u8,
    ) -> Result<Vec<u8>, GErr> {
        if self.pending(now) {
            return Err(GErr::DistributionPending);
        }
        let version = self
            .timer
            .version
            .checked_add(1)
            .ok_or(GErr::TimerVersionExhausted)?;
        let timer = Timer {
            duration_s,
            start: if duration_s == 0 { 0 } else { start },
            version,
        };
        let f = Frame {
            kind: KIND_TIMER,
            sent_at: now,
            timer,
            body: vec![],
        };
        let m = self.encrypt(rng, now, &encode_frame(&f).unwrap())?;
        self.timer = timer;
        Ok(m)
    }

    /// §13.4 steps 1–8; skipped keys stored with `skipped_at`.
    fn open(&mut self, sender: &K32, bytes: &[u8], skipped_at: u64) -> Result<Vec<u8>, GErr> {
        let m = decode_msg(bytes)?;
        if m.group_id != self.group_id {
            return Err(GErr::WrongGroup);
        }
        let mi = self.member(sender).ok_or(GErr::NotAMember)?;
        let (max_jump, max_skipped) = (self.limits[0], self.limits[1] as usize);
        let member = &mut self.members[mi];
        let key = member
            .keys
            .iter_mut()
            .find(|k| k.id == m.key_id)
            .ok_or(GErr::UnknownSenderKey(m.key_id))?;
        let vk = VerifyingKey::from_bytes(&key.signing).map_err(|_| GErr::InvalidSignature)?;
        vk.verify_strict(
            &signed_bytes(sender, &m.header, &m.sealed),
            &Signature::from_bytes(&m.sig),
        )
        .map_err(|_| GErr::InvalidSignature)?;
        let i = m.iteration;
        if i < key.next {
            let j = key
                .skipped
                .iter()
                .position(|s| s.iteration == i)
                .ok_or(GErr::DuplicateMessage)?;
            let pt = open_sealed(&key.skipped[j].mk, sender, &m)?;
            key.skipped.remove(j);
            return Ok(pt);
        }
        if i == u32::MAX || i - key.next > max_jump {
            return Err(GErr::TooFarInFuture);
        }
        let mut ck = key.ck;
        let mut kept = vec![];
        for n in key.next..i {
            let (mk, next_ck) = kdf_ck(&ck);
            kept.push(Skipped {
                chain: key.signing,
                iteration: n,
                stamp: 0,
                skipped_at,
                mk,
            });
            ck = next_ck;
        }
        let keep_from = kept.len().saturating_sub(max_skipped);
        let (mk, next_ck) = kdf_ck(&ck);
        let pt = open_sealed(&mk, sender, &m)?;
        key.skipped.extend(kept.drain(keep_from..));
        while key.skipped.len() > max_skipped {
            key.skipped.remove(0);
        }
        key.ck = next_ck;
        key.next = i + 1;
        Ok(pt)
    }

    /// `decrypt`: no clock, skipped keys stored with `2^64 − 1` (§8.6's "unknown").
    pub(crate) fn decrypt(&mut self, sender: &K32, bytes: &[u8]) -> Result<Vec<u8>, GErr> {
        self.open(sender, bytes, u64::MAX)
    }

    /// `receive`: §13.4, then the frame as §8.4/§8.5 read it with §13.3's two differences: a
    /// kind 0x03 frame is `Unreadable(UnknownType(3))` before its timer is looked at, and a
    /// timer whose version exceeds ours by more than `2^16` is not applied (it still takes part
    /// in the message's effective timer, §8.5).
    pub(crate) fn receive(
        &mut self,
        sender: &K32,
        bytes: &[u8],
        now: u64,
    ) -> Result<Receipt, GErr> {
        let pt = self.open(sender, bytes, now)?;
        let f = match decode_frame(&pt) {
            Err(e) => return Ok(Receipt::Unreadable(e)),
            Ok(f) => f,
        };
        if f.kind == KIND_SENDER_KEY {
            return Ok(Receipt::Unreadable(Dec::UnknownType(KIND_SENDER_KEY)));
        }
        let within = u64::from(f.timer.version) <= u64::from(self.timer.version) + MAX_TIMER_STEP;
        let timer_changed = within && f.timer.supersedes(&self.timer);
        if timer_changed {
            self.timer = f.timer;
        }
        let effective = Timer::more_private(&f.timer, &self.timer);
        Ok(match deadline(f.sent_at, &effective, now) {
            None => Receipt::Expired { timer_changed },
            Some(deadline) => Receipt::Message {
                kind: f.kind,
                body: f.body,
                sent_at: f.sent_at,
                timer: f.timer,
                deadline,
                timer_changed,
            },
        })
    }

    /// §8.6 under the group's timer.
    pub(crate) fn purge(&mut self, now: u64) -> usize {
        let c = self.timer;
        if c.duration_s == 0 {
            return 0;
        }
        let ms = u64::from(c.duration_s) * 1000;
        let mut n = 0;
        for k in self.members.iter_mut().flat_map(|m| m.keys.iter_mut()) {
            let before = k.skipped.len();
            k.skipped.retain(|s| {
                s.skipped_at == u64::MAX
                    || now
                        <= s.skipped_at
                            .saturating_add(ms)
                            .saturating_add(2 * MAX_CLOCK_SKEW)
            });
            n += before - k.skipped.len();
        }
        n
    }

    pub(crate) fn skipped_key_count(&self) -> usize {
        let keys = self.members.iter().flat_map(|m| m.keys.iter());
        keys.map(|k| k.skipped.len()).sum()
    }
}
