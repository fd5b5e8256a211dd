//! Sender keys (SPEC.md §13.1, §13.4): the chain and signing key a member sends on, and the
//! copies the other members hold to receive.

use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use super::message::{GroupMessage, associated_data};
use super::{GroupError, GroupId, GroupLimits, SenderKeyDistribution};
use crate::cipher;
use crate::codec::{Reader, Writer};
use crate::error::DecodeError;
use crate::kdf::{GroupChainKey, GroupMessageKey};
use crate::keys::{IdentityKey, verify_strict};
use crate::ratchet::SkippedKeys;

/// Our own sender key: what we send the group's messages on.
pub(crate) struct SendingKey {
    pub(crate) id: u32,
    /// The chain key for message `iteration`.
    chain: GroupChainKey,
    pub(crate) iteration: u32,
    signing: SigningKey,
    pub(crate) created_at_ms: u64,
}

impl SendingKey {
    /// A fresh key (SPEC.md §13.1): draws the id (4 bytes, big-endian), the chain key (32) and
    /// the signing key's seed (32), in that order.
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R, now_ms: u64) -> Self {
        let mut id = [0u8; 4];
        rng.fill_bytes(&mut id);
        let mut chain = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(chain.as_mut_slice());
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut_slice());
        Self {
            id: u32::from_be_bytes(id),
            chain: GroupChainKey::from_bytes(*chain),
            iteration: 0,
            signing: SigningKey::from_bytes(&seed),
            created_at_ms: now_ms,
        }
    }

    pub(crate) fn distribution(&self, group_id: GroupId) -> SenderKeyDistribution {
        SenderKeyDistribution {
            group_id,
            key_id: self.id,
            iteration: self.iteration,
            chain_key: self.chain.clone(),
            signing_key: self.signing.verifying_key(),
        }
    }

    /// The key of the next message, and the chain after it; nothing changes until
    /// [`SendingKey::advance`]. `None` once the chain is used up: the last iteration sent is
    /// `2^32 − 2`, so that a receiver can always count one past it (SPEC.md §13.1).
    pub(crate) fn next(&self) -> Option<(GroupChainKey, GroupMessageKey)> {
        (self.iteration < u32::MAX).then(|| self.chain.step())
    }

    pub(crate) fn advance(&mut self, chain: GroupChainKey) {
        self.chain = chain;
        self.iteration += 1;
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

impl fmt::Debug for SendingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendingKey")
            .field("id", &self.id)
            .field("iteration", &self.iteration)
            .field("created_at_ms", &self.created_at_ms)
            .finish_non_exhaustive()
    }
}

/// Another member's sender key, as we hold it to read what they send.
#[derive(Clone)]
pub(crate) struct ReceivingKey {
    pub(crate) id: u32,
    pub(crate) signing_key: VerifyingKey,
    /// The chain key for message `next`.
    chain: GroupChainKey,
    next: u32,
    /// Keys of messages skipped over, for out-of-order delivery (SPEC.md §13.4).
    skipped: SkippedKeys<GroupMessageKey>,
}

impl ReceivingKey {
    pub(crate) fn new(d: &SenderKeyDistribution) -> Self {
        Self {
            id: d.key_id,
            signing_key: d.signing_key,
            chain: d.chain_key.clone(),
            next: d.iteration,
            skipped: SkippedKeys::default(),
        }
    }

    /// Checks the signature, then the limits, then derives and opens on copies; only an
    /// authentic message changes the key (SPEC.md §13.4).
    pub(crate) fn decrypt(
        &mut self,
        sender: &IdentityKey,
        m: &GroupMessage<'_>,
        limits: &GroupLimits,
        now_ms: u64,
    ) -> Result<Vec<u8>, GroupError> {
        let signed = super::message::signed_bytes(sender, m.signed);
        verify_strict(&self.signing_key, &signed, &m.signature)
            .map_err(|_| GroupError::InvalidSignature)?;
        let ad = associated_data(sender, m.header);
        let chain_id = *self.signing_key.as_bytes();
        if m.iteration < self.next {
            let index = self
                .skipped
                .find(&chain_id, m.iteration)
                .ok_or(GroupError::DuplicateMessage)?;
            let mk = self
                .skipped
                .get(index)
                .ok_or(GroupError::DuplicateMessage)?;
            let plaintext = open(mk, m, &ad)?;
            self.skipped.remove(index);
            return Ok(plaintext);
        }
        let jump = m.iteration - self.next;
        if jump > limits.max_jump || m.iteration == u32::MAX {
            return Err(GroupError::TooFarInFuture);
        }
        // Keys skipped over that the store would keep: at most the newest `max_skipped_keys`.
        let max = limits.max_skipped_keys as usize;
        let mut derived = Vec::with_capacity((jump as usize).min(max));
        let mut chain = self.chain.clone();
        for iteration in self.next..m.iteration {
            let (next, mk) = chain.step();
            chain = next;
            if m.iteration - iteration <= limits.max_skipped_keys {
                derived.push((iteration, mk));
            }
        }
        let (after, mk) = chain.step();
        let plaintext = open(&mk, m, &ad)?;
        // Exact growth, as the ratchet's store: what is pushed beyond the room evicts the oldest.
        let room = max.saturating_sub(self.skipped.len());
        self.skipped.reserve(derived.len().min(room));
        for (iteration, key) in &derived {
            self.skipped
                .push(chain_id, *iteration, 0, key.clone(), now_ms, max);
        }
        self.chain = after;
        self.next = m.iteration + 1;
        Ok(plaintext)
    }

    /// Wipes the chain key in place, before the key is moved out of its container (its skipped
    /// keys live on the heap and wipe themselves when dropped).
    pub(crate) fn wipe(&mut self) {
        self.chain.zeroize();
    }

    /// Deletes stored keys skipped more than `keep_ms` before `now_ms` (SPEC.md §8.6).
    pub(crate) fn purge(&mut self, now_ms: u64, keep_ms: u64) -> usize {
        self.skipped.purge(now_ms, keep_ms)
    }

    pub(crate) fn skipped_len(&self) -> usize {
        self.skipped.len()
    }
}

fn open(mk: &GroupMessageKey, m: &GroupMessage<'_>, ad: &[u8]) -> Result<Vec<u8>, GroupError> {
    cipher::open_with(&mk.expand(&m.seed), ad, m.sealed).map_err(|_| GroupError::DecryptionFailed)
}

/// `key id ‖ iteration ‖ chain key (32) ‖ signing seed (32) ‖ created_at (u64)` (SPEC.md §13.7).
impl SendingKey {
    pub(crate) const STORED_LEN: usize = 4 + 4 + 32 + 32 + 8;

    pub(crate) fn encode_stored(&self, out: &mut Vec<u8>) {
        out.put_u32(self.id);
        out.put_u32(self.iteration);
        out.put(self.chain.as_bytes());
        out.put(self.signing.as_bytes());
        out.put_u64(self.created_at_ms);
    }

    /// The signing key's public half is recomputed from its seed (one fixed-base scalar
    /// multiplication per group restored).
    pub(crate) fn decode_stored(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id = r.u32()?;
        let iteration = r.u32()?;
        let chain = GroupChainKey::from_bytes(*Zeroizing::new(r.array()?));
        let signing = SigningKey::from_bytes(&Zeroizing::new(r.array()?));
        Ok(Self {
            id,
            chain,
            iteration,
            signing,
            created_at_ms: r.u64()?,
        })
    }
}

/// `key id ‖ signing key (32) ‖ chain key (32) ‖ next (u32) ‖ skipped keys` (SPEC.md §13.7).
impl ReceivingKey {
    /// The shortest stored key (no skipped keys).
    pub(crate) const MIN_STORED_LEN: usize = 4 + 32 + 32 + 4 + 4;

    pub(crate) fn encoded_len(&self) -> usize {
        4 + 32 + 32 + 4 + self.skipped.encoded_len()
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), crate::error::Error> {
        out.put_u32(self.id);
        out.put(self.signing_key.as_bytes());
        out.put(self.chain.as_bytes());
        out.put_u32(self.next);
        self.skipped.encode(out)
    }

    /// The signing key was checked strictly when it arrived (§13.2); here it is only
    /// decompressed. Every skipped key must belong to this key's chain, lie behind `next`, be
    /// stored once, with stamp 0.
    pub(crate) fn decode(r: &mut Reader<'_>, limits: &GroupLimits) -> Result<Self, DecodeError> {
        let id = r.u32()?;
        let signing_key =
            VerifyingKey::from_bytes(&r.array()?).map_err(|_| DecodeError::InvalidKey)?;
        let chain = GroupChainKey::from_bytes(*Zeroizing::new(r.array()?));
        let next = r.u32()?;
        let skipped = SkippedKeys::<GroupMessageKey>::decode_with(
            r,
            limits.max_skipped_keys,
            GroupMessageKey::from_bytes,
        )?;
        let chain_id = *signing_key.as_bytes();
        skipped.check(0, 0, |c, n| c == &chain_id && n < next)?;
        Ok(Self {
            id,
            signing_key,
            chain,
            next,
            skipped,
        })
    }
}
