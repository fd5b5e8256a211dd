//! Persistence: versioned, self-checking byte formats for every long-lived object (SPEC.md §8).
//!
//! Every blob is `kind (u8) ‖ version (u8) ‖ body ‖ check (16)`, where `check` is the first 16
//! bytes of SHA-256 over everything before it. The check catches storage corruption before the
//! body is parsed; the body parser is strict regardless, so an edited blob with a recomputed
//! check is still validated field by field.

use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec::Vec;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::content::{MAX_CLOCK_SKEW_MS, Timer};
use crate::error::DecodeError;
use crate::kdf::{ChainKey, MessageKey, RootKey};
use crate::kdf::{FIRST_MESSAGE_ID_LEN, first_message_id};
use crate::keys::{IdentityKey, IdentityKeyPair, KeyPair, PublicKey, is_clamped};
use crate::prekeys::{
    MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY, MAX_ONE_TIME_PREKEYS, MAX_SIGNED_PREKEYS, PreKeyStore,
    SignedPreKey, SignedPreKeyPair,
};
use crate::ratchet::{Chain, Limits, Ratchet, SkippedKey, SkippedKeys};
use crate::session::{MAX_CONTEXT_LEN, Role, Session, associated_data, prekey_associated_data};
use crate::wire::PreKeyFields;

/// Version of the identity format.
pub const STATE_VERSION: u8 = 1;
/// Version of the session format written now (SPEC.md §8.3). Version 1 sessions are still read.
pub const SESSION_VERSION: u8 = 2;
/// Version of the prekey store format written now (SPEC.md §8.2). Version 1 stores are still
/// read, and their list of seen base keys is converted on load.
pub const PREKEY_STORE_VERSION: u8 = 2;
/// Kind byte of a persisted [`IdentityKeyPair`].
pub const KIND_IDENTITY: u8 = 0x10;
/// Kind byte of a persisted [`PreKeyStore`].
pub const KIND_PREKEY_STORE: u8 = 0x11;
/// Kind byte of a persisted [`Session`].
pub const KIND_SESSION: u8 = 0x12;

const CHECK_LEN: usize = 16;
/// Bytes of one stored skipped key (SPEC.md §8.3 row 19).
const SKIPPED_ENTRY_LEN: usize = 32 + 4 + 4 + 8 + 32;

/// `capacity` is the body's exact length: the buffer never reallocates, so no copy of the
/// secrets in it is left behind unwiped.
fn seal(
    kind: u8,
    version: u8,
    capacity: usize,
    write_body: impl FnOnce(&mut Vec<u8>),
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(2 + capacity + CHECK_LEN));
    out.put_u8(kind);
    out.put_u8(version);
    write_body(&mut out);
    let check = Sha256::digest(out.as_slice());
    out.put(check.get(..CHECK_LEN).unwrap_or_default());
    out
}

/// Checks kind, version (`STATE_VERSION`) and the integrity check; returns a reader over the body.
fn open(kind: u8, bytes: &[u8]) -> Result<Reader<'_>, DecodeError> {
    let (_, r) = open_versions(kind, &[STATE_VERSION], bytes)?;
    Ok(r)
}

/// [`open`] for a kind with several readable versions; returns the version found.
fn open_versions<'a>(
    kind: u8,
    versions: &[u8],
    bytes: &'a [u8],
) -> Result<(u8, Reader<'a>), DecodeError> {
    let split = bytes
        .len()
        .checked_sub(CHECK_LEN)
        .ok_or(DecodeError::Truncated)?;
    let (covered, check) = bytes.split_at(split);
    let mut r = Reader::new(covered);
    let found = r.u8()?;
    if found != kind {
        return Err(DecodeError::UnknownType(found));
    }
    let version = r.u8()?;
    if !versions.contains(&version) {
        return Err(DecodeError::UnknownVersion(version));
    }
    let expected = Sha256::digest(covered);
    if !bool::from(expected.get(..CHECK_LEN).unwrap_or_default().ct_eq(check)) {
        return Err(DecodeError::ChecksumMismatch);
    }
    Ok((version, r))
}

impl IdentityKeyPair {
    /// Serializes the identity (its 32-byte seed) for storage. The result is secret and is
    /// zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        seal(KIND_IDENTITY, STATE_VERSION, 32, |b| {
            b.put(self.seed().as_slice())
        })
    }

    /// Restores an identity saved with [`IdentityKeyPair::to_bytes`].
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open(KIND_IDENTITY, bytes)?;
        let seed = Zeroizing::new(r.array::<32>()?);
        r.finish()?;
        Ok(Self::from_seed(&seed))
    }
}

impl PreKeyStore {
    /// Serializes the store (private prekeys and the record of accepted first messages
    /// included) for storage, in format version 2 (SPEC.md §8.2).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let signed: usize = self
            .signed
            .iter()
            .map(|k| 108 + 2 + FIRST_MESSAGE_ID_LEN * k.accepted().len())
            .sum();
        let len = 4 + 4 + 1 + signed + 4 + self.one_time.len() * 36;
        // The counts fit their fields: at most 3 signed prekeys, each remembering at most
        // MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY (< 2^16) ids, and at most MAX_ONE_TIME_PREKEYS
        // (< 2^32) one-time prekeys — bounds every mutator enforces.
        seal(KIND_PREKEY_STORE, PREKEY_STORE_VERSION, len, |b| {
            b.put_u32(self.next_signed_id);
            b.put_u32(self.next_one_time_id);
            b.put_u8(u8::try_from(self.signed.len()).unwrap_or(u8::MAX));
            for spk in &self.signed {
                let p = spk.public();
                b.put_u32(p.id);
                b.put_u64(p.created_at);
                b.put(spk.key_pair().secret_bytes());
                b.put(&p.signature);
                b.put_u16(u16::try_from(spk.accepted().len()).unwrap_or(u16::MAX));
                for id in spk.accepted() {
                    b.put(id);
                }
            }
            b.put_u32(u32::try_from(self.one_time.len()).unwrap_or(u32::MAX));
            for (id, pair) in &self.one_time {
                b.put_u32(*id);
                b.put(pair.secret_bytes());
            }
        })
    }

    /// Restores a store saved with [`PreKeyStore::to_bytes`], by this version or by an earlier
    /// one (a version 1 store's seen base keys become first-message ids of every signed prekey
    /// it holds, SPEC.md §8.2).
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (version, mut r) = open_versions(KIND_PREKEY_STORE, &[1, PREKEY_STORE_VERSION], bytes)?;
        let mut store = PreKeyStore {
            next_signed_id: r.u32()?,
            next_one_time_id: r.u32()?,
            ..Default::default()
        };
        let signed = usize::from(r.u8()?);
        if signed > MAX_SIGNED_PREKEYS {
            return Err(DecodeError::NonCanonical);
        }
        for _ in 0..signed {
            let id = r.u32()?;
            let created_at = r.u64()?;
            let pair = secret(&mut r, version >= 2)?;
            let signature = r.array()?;
            if store.signed.iter().any(|k| k.public().id == id) {
                return Err(DecodeError::NonCanonical);
            }
            let accepted = if version == 1 {
                Vec::new()
            } else {
                first_message_ids(&mut r)?
            };
            let public = SignedPreKey {
                id,
                created_at,
                key: *pair.public(),
                signature,
            };
            store
                .signed
                .push_back(SignedPreKeyPair::from_parts(public, pair, accepted));
        }
        let one_time = r.u32()?;
        if one_time as usize > MAX_ONE_TIME_PREKEYS {
            return Err(DecodeError::NonCanonical);
        }
        let mut last = None;
        for _ in 0..one_time {
            let id = r.u32()?;
            let pair = secret(&mut r, version >= 2)?;
            // Strictly increasing ids: the one canonical order, and no duplicates (checked once
            // the entry is read, SPEC.md §2 rule 7).
            if last.is_some_and(|l| id <= l) {
                return Err(DecodeError::NonCanonical);
            }
            last = Some(id);
            store.one_time.insert(id, pair);
        }
        if version == 1 {
            migrate_seen_base_keys(&mut r, &mut store)?;
        }
        r.finish()?;
        Ok(store)
    }
}

/// A stored X25519 secret. Formats written now hold it clamped, its one encoding, and refuse any
/// other; version 1 formats held it as drawn, so reading one clamps it (SPEC.md §8.0).
fn secret(r: &mut Reader<'_>, clamped: bool) -> Result<KeyPair, DecodeError> {
    let bytes = Zeroizing::new(r.array::<32>()?);
    if clamped && !is_clamped(&bytes) {
        return Err(DecodeError::NonCanonical);
    }
    Ok(KeyPair::from_secret_bytes(*bytes))
}

/// `u16 count ‖ count × id (16)`, strictly increasing (SPEC.md §8.2).
fn first_message_ids(r: &mut Reader<'_>) -> Result<Vec<[u8; FIRST_MESSAGE_ID_LEN]>, DecodeError> {
    let count = usize::from(r.u16()?);
    if count > MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY {
        return Err(DecodeError::NonCanonical);
    }
    let mut ids: Vec<[u8; FIRST_MESSAGE_ID_LEN]> = Vec::with_capacity(count);
    for _ in 0..count {
        let id = r.array()?;
        if ids.last().is_some_and(|last| *last >= id) {
            return Err(DecodeError::NonCanonical);
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Version 1 stores kept up to 1024 raw base keys of first messages accepted without a one-time
/// prekey, without saying which signed prekey each used. Each becomes the first-message id it
/// has under *every* held signed prekey (SPEC.md §3.6), so that no first message accepted before
/// the upgrade can be replayed after it, in any encoding. Costs up to 3 × 1024 X25519 once.
fn migrate_seen_base_keys(r: &mut Reader<'_>, store: &mut PreKeyStore) -> Result<(), DecodeError> {
    let seen = r.u32()?;
    if seen > 1024 {
        return Err(DecodeError::NonCanonical);
    }
    let mut distinct = BTreeSet::new();
    for _ in 0..seen {
        let base_key = PublicKey::from_bytes(r.array()?)?;
        // Version 1 refused a duplicate; so does reading it now.
        if !distinct.insert(base_key.to_bytes()) {
            return Err(DecodeError::NonCanonical);
        }
        for spk in store.signed.iter_mut() {
            // A low-order base key could never have been accepted; nothing to remember.
            if let Ok(dh3) = spk.key_pair().diffie_hellman(&base_key) {
                spk.remember_first_message(first_message_id(&dh3));
            }
        }
    }
    Ok(())
}

fn put_chain(b: &mut Vec<u8>, chain: Option<&Chain>) {
    b.put_flag(chain.is_some());
    if let Some(c) = chain {
        b.put(c.key.as_bytes());
        b.put_u32(c.counter);
    }
}

fn chain(r: &mut Reader<'_>) -> Result<Option<Chain>, DecodeError> {
    Ok(if r.flag()? {
        Some(Chain {
            key: ChainKey::from_bytes(*Zeroizing::new(r.array()?)),
            counter: r.u32()?,
        })
    } else {
        None
    })
}

impl Session {
    /// Serializes the whole session for storage. Persist it after every `encrypt` (before the
    /// message leaves) and after every successful `decrypt`. The result is secret and is
    /// zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let rt = &self.ratchet;
        let len = 1
            + 1
            + 64
            + 2
            + self.context.len()
            + 32
            + 4
            + 5
            + 16
            + 9
            + 32
            + 32
            + 33
            + 37
            + 37
            + 4
            + 4
            + 4
            + 32 * rt.old_ratchet_keys.len()
            + 4
            + 80 * rt.skipped.entries.len();
        seal(KIND_SESSION, SESSION_VERSION, len, |b| {
            b.put_u8(match self.role {
                Role::Initiator => 0,
                Role::Responder => 1,
            });
            b.put_flag(self.acknowledged);
            b.put(&self.local_identity.to_bytes());
            b.put(&self.remote_identity.to_bytes());
            b.put_u16(u16::try_from(self.context.len()).unwrap_or(u16::MAX));
            b.put(&self.context);
            b.put(self.x3dh.base_key.as_bytes());
            b.put_u32(self.x3dh.signed_prekey_id);
            b.put_flag(self.x3dh.one_time_prekey_id.is_some());
            if let Some(id) = self.x3dh.one_time_prekey_id {
                b.put_u32(id);
            }
            let l = &rt.limits;
            for v in [
                l.max_skip,
                l.max_skipped_keys,
                l.max_old_chains,
                l.max_skipped_key_age,
            ] {
                b.put_u32(v);
            }
            self.timer.encode(b);
            b.put(rt.root.as_bytes());
            b.put(rt.ours.secret_bytes());
            b.put_flag(rt.theirs.is_some());
            if let Some(k) = &rt.theirs {
                b.put(k.as_bytes());
            }
            put_chain(b, rt.sending.as_ref());
            put_chain(b, rt.receiving.as_ref());
            b.put_u32(rt.previous_sending_len);
            b.put_u32(rt.received);
            b.put_u32(u32::try_from(rt.old_ratchet_keys.len()).unwrap_or(u32::MAX));
            for k in &rt.old_ratchet_keys {
                b.put(k.as_bytes());
            }
            b.put_u32(u32::try_from(rt.skipped.entries.len()).unwrap_or(u32::MAX));
            for e in &rt.skipped.entries {
                b.put(&e.ratchet_key);
                b.put_u32(e.counter);
                b.put_u32(e.stamp);
                b.put_u64(e.skipped_at_ms);
                b.put(e.key.as_bytes());
            }
        })
    }

    /// Restores a session saved with [`Session::to_bytes`]. Every field is validated: keys,
    /// flags, limits, and that stored counts respect the stored limits.
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (version, mut r) = open_versions(KIND_SESSION, &[1, SESSION_VERSION], bytes)?;
        let role = match r.u8()? {
            0 => Role::Initiator,
            1 => Role::Responder,
            _ => return Err(DecodeError::NonCanonical),
        };
        let acknowledged = r.flag()?;
        if role == Role::Responder && !acknowledged {
            return Err(DecodeError::NonCanonical);
        }
        let local_identity = IdentityKey::from_bytes(r.array()?)?;
        let remote_identity = IdentityKey::from_bytes(r.array()?)?;
        let context_len = usize::from(r.u16()?);
        if context_len > MAX_CONTEXT_LEN {
            return Err(DecodeError::NonCanonical);
        }
        let context = r.take(context_len)?.to_vec();
        let base_key = PublicKey::from_bytes(r.array()?)?;
        let signed_prekey_id = r.u32()?;
        let one_time_prekey_id = if r.flag()? { Some(r.u32()?) } else { None };
        let limits = Limits {
            max_skip: r.u32()?,
            max_skipped_keys: r.u32()?,
            max_old_chains: r.u32()?,
            max_skipped_key_age: r.u32()?,
        };
        limits.validate().map_err(|_| DecodeError::NonCanonical)?;
        let timer = Timer::decode(&mut r)?;
        let root = RootKey::from_bytes(*Zeroizing::new(r.array()?));
        let ours = secret(&mut r, version >= 2)?;
        // Every session this library hands out has received or been given a peer ratchet key.
        if !r.flag()? {
            return Err(DecodeError::NonCanonical);
        }
        let theirs = Some(PublicKey::from_bytes(r.array()?)?);
        let sending = chain(&mut r)?;
        let receiving = chain(&mut r)?;
        let previous_sending_len = r.u32()?;
        let received = r.u32()?;
        // The phases the code can be in (SPEC.md §8.3): an initiator that has not heard back has
        // a sending chain and has received nothing; every other session has a receiving chain.
        let awaiting_reply = role == Role::Initiator && !acknowledged;
        if awaiting_reply != receiving.is_none()
            || (sending.is_none() && receiving.is_none())
            || (awaiting_reply && (previous_sending_len != 0 || received != 0))
        {
            return Err(DecodeError::NonCanonical);
        }

        let old_count = r.u32()?;
        if old_count > limits.max_old_chains || (awaiting_reply && old_count > 0) {
            return Err(DecodeError::NonCanonical);
        }
        let mut old_ratchet_keys = VecDeque::new();
        // A set, not a scan of the list: `max_old_chains` may be 2^20.
        let mut old_set = BTreeSet::new();
        for _ in 0..old_count {
            let k = PublicKey::from_bytes(r.array()?)?;
            if !old_set.insert(k.to_bytes()) || Some(k) == theirs {
                return Err(DecodeError::NonCanonical);
            }
            old_ratchet_keys.push_back(k);
        }
        let skipped_count = r.u32()?;
        if skipped_count > limits.max_skipped_keys {
            return Err(DecodeError::NonCanonical);
        }
        let mut skipped = SkippedKeys::default();
        // At its final size before the first entry (a grown buffer would be freed unwiped), and
        // no larger than the input can hold, so a forged count allocates nothing extra.
        skipped.reserve((skipped_count as usize).min(r.remaining() / SKIPPED_ENTRY_LEN));
        let mut seen = BTreeSet::new();
        let mut previous_age = u32::MAX;
        for _ in 0..skipped_count {
            let ratchet_key = PublicKey::from_bytes(r.array()?)?;
            let counter = r.u32()?;
            let stamp = r.u32()?;
            // Version 2 stores when the key was skipped; version 1 stored a purge deadline
            // `now + duration + 2 · skew` (or 2^64 − 1), read as a skip time no later than the
            // real one, so no key is purged earlier than version 1 would have (SPEC.md §8.3).
            let skipped_at_ms = match r.u64()? {
                t if version >= 2 || t == u64::MAX => t,
                deadline => deadline.saturating_sub(2 * MAX_CLOCK_SKEW_MS),
            };
            let key = MessageKey::from_bytes(*Zeroizing::new(r.array()?));
            // A key of the current chain lies behind its counter: otherwise the chain would
            // derive it a second time (one replay, and a duplicate entry no later load accepts).
            // N = 2^32 − 1 is never used (SPEC.md §6.4), so no key for it can have been skipped.
            let known = counter != u32::MAX
                && match &receiving {
                    Some(chain) if Some(ratchet_key) == theirs => counter < chain.counter,
                    _ => old_set.contains(ratchet_key.as_bytes()),
                };
            // Entries are in arrival order: ages never increase along the list, and none is
            // older than the age limit (expired keys are always removed).
            let age = received.wrapping_sub(stamp);
            if !known
                || !seen.insert((ratchet_key.to_bytes(), counter))
                || age > previous_age
                || age > limits.max_skipped_key_age
            {
                return Err(DecodeError::NonCanonical);
            }
            previous_age = age;
            skipped.entries.push_back(SkippedKey {
                ratchet_key: ratchet_key.to_bytes(),
                counter,
                stamp,
                key,
                skipped_at_ms,
            });
        }
        r.finish()?;

        let (initiator, responder) = match role {
            Role::Initiator => (&local_identity, &remote_identity),
            Role::Responder => (&remote_identity, &local_identity),
        };
        let ad = associated_data(initiator, responder, &context)
            .map_err(|_| DecodeError::NonCanonical)?;
        let x3dh = PreKeyFields {
            identity: *initiator,
            base_key,
            signed_prekey_id,
            one_time_prekey_id,
        };
        Ok(Session {
            timer,
            role,
            acknowledged,
            prekey_ad: prekey_associated_data(&ad, &x3dh),
            x3dh,
            local_identity,
            remote_identity,
            context,
            ad,
            ratchet: Ratchet {
                root,
                ours,
                theirs,
                sending,
                receiving,
                previous_sending_len,
                old_ratchet_keys,
                skipped,
                received,
                limits,
            },
        })
    }
}
