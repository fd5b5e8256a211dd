//! Readers of the earlier state versions (SPEC.md §10.2–§10.3): a messenger that upgrades the
//! library keeps every session and prekey store. Each reader builds today's types through the
//! same constructors, and so the same invariant checks, as the current decoder.
//!
//! - Versions 1 and 2 of a session held the ratchet key pair even when the sending side was
//!   pending (for a responder that had not answered, the signed prekey's secret). Reading one
//!   drops that secret: the current format cannot hold it.
//! - Version 1 of both held X25519 secrets as drawn (now clamped), recorded a purge deadline
//!   instead of a skip time, and kept seen base keys instead of first-message ids.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::codec::{Codec, Reader};
use crate::content::{MAX_CLOCK_SKEW_MS, Timer};
use crate::error::DecodeError;
use crate::kdf::{ChainKey, MessageKey, RootKey, first_message_id};
use crate::keys::{IdentityKey, KeyPair, PublicKey, is_clamped};
use crate::prekeys::{
    MAX_ONE_TIME_PREKEYS, MAX_SIGNED_PREKEYS, PreKeyStore, SignedPreKey, SignedPreKeyPair,
    decode_first_message_ids,
};
use crate::ratchet::{Chain, Limits, Open, Phase, Ratchet, Receiving, Sending, SkippedKeys};
use crate::session::{MAX_CONTEXT_LEN, Role, Session};

/// A stored X25519 secret; the public key is recomputed (these versions did not store it).
/// Version 2 held it clamped, its one encoding, and refuses any other; version 1 held it as drawn,
/// so reading one clamps it.
fn secret(r: &mut Reader<'_>, version: u8) -> Result<KeyPair, DecodeError> {
    let bytes = Zeroizing::new(r.array::<32>()?);
    if version >= 2 && !is_clamped(&bytes) {
        return Err(DecodeError::NonCanonical);
    }
    Ok(KeyPair::from_secret_bytes(*bytes))
}

/// A prekey store of version 1 or 2.
pub(super) fn prekey_store(version: u8, r: &mut Reader<'_>) -> Result<PreKeyStore, DecodeError> {
    let next_signed_id = r.u32()?;
    let next_one_time_id = r.u32()?;
    let count = usize::from(r.u8()?);
    if count > MAX_SIGNED_PREKEYS {
        return Err(DecodeError::NonCanonical);
    }
    let mut signed: VecDeque<SignedPreKeyPair> = VecDeque::with_capacity(count);
    for _ in 0..count {
        let id = r.u32()?;
        let created_at = r.u64()?;
        let pair = secret(r, version)?;
        let signature = r.array()?;
        if signed.iter().any(|k| k.public().id == id) {
            return Err(DecodeError::NonCanonical);
        }
        let accepted = if version == 1 {
            Vec::new()
        } else {
            decode_first_message_ids(r)?
        };
        let public = SignedPreKey {
            id,
            created_at,
            key: *pair.public(),
            signature,
        };
        signed.push_back(SignedPreKeyPair::from_parts(public, pair, accepted));
    }
    let count = r.u32()?;
    if count as usize > MAX_ONE_TIME_PREKEYS {
        return Err(DecodeError::NonCanonical);
    }
    let mut one_time = BTreeMap::new();
    let mut last = None;
    for _ in 0..count {
        let id = r.u32()?;
        let pair = secret(r, version)?;
        if last.is_some_and(|l| id <= l) {
            return Err(DecodeError::NonCanonical);
        }
        last = Some(id);
        one_time.insert(id, pair);
    }
    let mut store = PreKeyStore::from_parts(next_signed_id, next_one_time_id, signed, one_time)?;
    if version == 1 {
        migrate_seen_base_keys(r, &mut store)?;
    }
    Ok(store)
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
        for spk in store.signed_prekeys_mut() {
            // A low-order base key could never have been accepted; nothing to remember.
            if let Ok(dh3) = spk.key_pair().diffie_hellman(&base_key) {
                spk.remember_first_message(first_message_id(&dh3));
            }
        }
    }
    Ok(())
}

fn chain(r: &mut Reader<'_>) -> Result<Option<Chain>, DecodeError> {
    Ok(if r.flag()? {
        Some(Chain::new(
            ChainKey::from_bytes(*Zeroizing::new(r.array()?)),
            r.u32()?,
        ))
    } else {
        None
    })
}

/// A session of version 1 or 2: `role ‖ acknowledged ‖ IK_local ‖ IK_remote ‖ context ‖ base key
/// ‖ SPK id ‖ [OPK id] ‖ limits ‖ timer ‖ RK ‖ DHs secret ‖ [DHr] ‖ [CKs, Ns] ‖ [CKr, Nr] ‖ PN ‖
/// received ‖ old chains ‖ skipped keys`.
pub(super) fn session(version: u8, r: &mut Reader<'_>) -> Result<Session, DecodeError> {
    let role = match r.u8()? {
        0 => Role::Initiator,
        1 => Role::Responder,
        _ => return Err(DecodeError::NonCanonical),
    };
    let acknowledged = r.flag()?;
    if role == Role::Responder && !acknowledged {
        return Err(DecodeError::NonCanonical);
    }
    // These versions validated identity keys on every load; they are validated here too, once.
    let local_identity = IdentityKey::from_bytes(r.array()?)?;
    let remote_identity = IdentityKey::from_bytes(r.array()?)?;
    let context_len = usize::from(r.u16()?);
    if context_len > MAX_CONTEXT_LEN {
        return Err(DecodeError::NonCanonical);
    }
    let context = r.take(context_len)?;
    let base_key = PublicKey::from_bytes(r.array()?)?;
    let signed_prekey_id = r.u32()?;
    let one_time_prekey_id = if r.flag()? { Some(r.u32()?) } else { None };
    let limits = Limits::decode(r)?;
    let timer = Timer::decode(r)?;
    let root = RootKey::from_bytes(*Zeroizing::new(r.array()?));
    let ours = secret(r, version)?;
    // Every session these versions handed out had received or been given a peer ratchet key.
    if !r.flag()? {
        return Err(DecodeError::NonCanonical);
    }
    let theirs = PublicKey::from_bytes(r.array()?)?;
    let sending = chain(r)?;
    let receiving = chain(r)?;
    let previous_sending_len = r.u32()?;
    let received = r.u32()?;
    let old_count = r.u32()?;
    if old_count > limits.max_old_chains {
        return Err(DecodeError::NonCanonical);
    }
    let mut old_ratchet_keys = VecDeque::new();
    for _ in 0..old_count {
        old_ratchet_keys.push_back(PublicKey::from_bytes(r.array()?)?);
    }
    let skipped_count = r.u32()?;
    if skipped_count > limits.max_skipped_keys {
        return Err(DecodeError::NonCanonical);
    }
    let mut skipped = SkippedKeys::default();
    skipped.reserve((skipped_count as usize).min(r.remaining() / 80));
    for _ in 0..skipped_count {
        let ratchet_key = PublicKey::from_bytes(r.array()?)?.to_bytes();
        let counter = r.u32()?;
        let stamp = r.u32()?;
        // Version 2 stores when the key was skipped; version 1 stored a purge deadline
        // `now + duration + 2 · skew` (or 2^64 − 1), read as a skip time no later than the real
        // one, so no key is purged earlier than version 1 would have.
        let skipped_at_ms = match r.u64()? {
            t if version >= 2 || t == u64::MAX => t,
            deadline => deadline.saturating_sub(2 * MAX_CLOCK_SKEW_MS),
        };
        let key = MessageKey::from_bytes(*Zeroizing::new(r.array()?));
        skipped.push_stored(ratchet_key, counter, stamp, key, skipped_at_ms);
    }

    // The phases these versions could be in: an initiator that has not heard back has a sending
    // chain and has received nothing; every other session has a receiving chain. A pending
    // sending side drops the old ratchet secret.
    let awaiting_reply = role == Role::Initiator && !acknowledged;
    let phase = match (awaiting_reply, sending, receiving) {
        (true, Some(sending), None)
            if previous_sending_len == 0
                && received == 0
                && old_ratchet_keys.is_empty()
                && skipped.len() == 0 =>
        {
            Phase::Opening(Sending::new(ours, sending))
        }
        (false, sending, Some(receiving)) => Phase::Open(Open::new(
            Receiving::new(theirs, receiving),
            sending.map(|chain| Sending::new(ours, chain)),
            previous_sending_len,
            old_ratchet_keys,
            skipped,
            received,
        )),
        _ => return Err(DecodeError::NonCanonical),
    };
    let ratchet = Ratchet::from_parts(root, phase, limits)?;
    Session::from_parts(
        role,
        local_identity,
        remote_identity,
        context,
        (base_key, signed_prekey_id, one_time_prekey_id, None),
        timer,
        ratchet,
    )
}
