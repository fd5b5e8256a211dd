//! The Double Ratchet state machine (Signal Double Ratchet spec §3, §5; SPEC.md §6).
//!
//! One deliberate difference in *when* (not *what*) is computed: the spec generates the next
//! sending ratchet key inside `DHRatchet`, on receipt. We defer that half-step to the next
//! `encrypt`, which has an RNG, so that `decrypt` needs no randomness and is a pure function of
//! state and input. The keys and bytes produced are exactly the spec's (SPEC.md §6.3).
//!
//! Every decrypt computes into locals and commits only after the AEAD tag has verified; a
//! failed decrypt leaves the state untouched (SPEC.md §6.6).

mod skipped;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use rand_core::CryptoRng;

use crate::cipher;
use crate::error::Error;
use crate::kdf::{ChainKey, MessageKey, RootKey, SEED_LEN, SharedSecret};
use crate::keys::{KeyPair, PublicKey};
use crate::wire::{Header, MAX_PLAINTEXT_LEN, MESSAGE_PREFIX_LEN, Message};

pub(crate) use skipped::{SkippedKey, SkippedKeys};

/// Limits on what a peer can make a session store or compute (SPEC.md §6.4).
///
/// ```
/// use xchat_protocol::Limits;
/// let limits = Limits { max_skip: 500, ..Limits::default() };
/// assert!(limits.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most message keys one incoming message may make the session derive and store
    /// (skipped keys of the old chain plus those of the new one). Checked before any derivation.
    pub max_skip: u32,
    /// The most skipped message keys a session keeps; the oldest are dropped first.
    pub max_skipped_keys: u32,
    /// The most old receiving chains whose skipped keys are kept; keys of older chains are dropped.
    pub max_old_chains: u32,
    /// A skipped key survives this many later successful decrypts and is dropped at the next.
    pub max_skipped_key_age: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_skip: 2000,
            max_skipped_keys: 2000,
            max_old_chains: 5,
            max_skipped_key_age: 10_000,
        }
    }
}

impl Limits {
    /// Largest accepted value of any limit; keeps memory and CPU per message bounded.
    pub const CEILING: u32 = 1 << 20;

    /// Checks that every limit is between 1 and [`Limits::CEILING`], and that
    /// `max_skip ≤ max_skipped_keys` (otherwise one message could derive keys the store must
    /// discard at once).
    ///
    /// # Errors
    /// [`Error::InvalidLimits`].
    pub fn validate(&self) -> Result<(), Error> {
        let all = [
            self.max_skip,
            self.max_skipped_keys,
            self.max_old_chains,
            self.max_skipped_key_age,
        ];
        if all.iter().all(|v| (1..=Self::CEILING).contains(v))
            && self.max_skip <= self.max_skipped_keys
        {
            Ok(())
        } else {
            Err(Error::InvalidLimits)
        }
    }
}

/// A sending or receiving chain: its key and the index of the next message.
#[derive(Clone)]
pub(crate) struct Chain {
    pub(crate) key: ChainKey,
    pub(crate) counter: u32,
}

pub(crate) struct Ratchet {
    pub(crate) root: RootKey,
    /// DHs. After a receiving step it is the *old* key until the next encrypt turns it.
    pub(crate) ours: KeyPair,
    /// DHr.
    pub(crate) theirs: Option<PublicKey>,
    /// CKs and Ns; `None` means the next encrypt first completes the DH ratchet step.
    pub(crate) sending: Option<Chain>,
    /// CKr and Nr.
    pub(crate) receiving: Option<Chain>,
    /// PN.
    pub(crate) previous_sending_len: u32,
    /// Ratchet keys of earlier receiving chains, oldest first (at most `max_old_chains`).
    pub(crate) old_ratchet_keys: VecDeque<PublicKey>,
    pub(crate) skipped: SkippedKeys,
    /// Messages decrypted so far (wrapping); ages skipped keys.
    pub(crate) received: u32,
    pub(crate) limits: Limits,
}

/// Message keys derived while walking a chain forward, before they are known to be needed.
type Derived = Vec<(u32, MessageKey)>;

/// Walks `key` from index `from` to `to`, collecting the keys of messages `from..to`; returns
/// the chain key at index `to`.
fn walk(key: &ChainKey, from: u32, to: u32, out: &mut Derived) -> ChainKey {
    let mut ck = key.clone();
    // Exact capacity (bounded by the limits, checked before): no reallocation leaves copies of
    // message keys behind.
    out.reserve_exact(to.saturating_sub(from) as usize);
    for n in from..to {
        let (next, mk) = ck.step();
        out.push((n, mk));
        ck = next;
    }
    ck
}

/// Builds `ad ‖ prefix` on the stack and passes it to `f` (SPEC.md §3.5).
fn with_aad<T>(ad: &[u8], prefix: &[u8], f: impl FnOnce(&[u8]) -> T) -> Result<T, Error> {
    let mut buf = [0u8; crate::session::MAX_AD_LEN + MESSAGE_PREFIX_LEN];
    let len = ad.len() + prefix.len();
    let aad = buf.get_mut(..len).ok_or(Error::TooLarge)?;
    let (a, p) = aad.split_at_mut(ad.len());
    a.copy_from_slice(ad);
    p.copy_from_slice(prefix);
    Ok(f(aad))
}

impl Ratchet {
    /// RatchetInitAlice: a fresh ratchet key, and the first sending chain from DH with the
    /// responder's signed prekey.
    pub(crate) fn initiator<R: CryptoRng + ?Sized>(
        rng: &mut R,
        secret: SharedSecret,
        their_signed_prekey: PublicKey,
        limits: Limits,
    ) -> Result<Self, Error> {
        let ours = KeyPair::generate(rng);
        let (root, key) =
            RootKey::from(secret).ratchet(&ours.diffie_hellman(&their_signed_prekey)?);
        let mut ratchet = Self::fresh(root, ours, limits);
        ratchet.theirs = Some(their_signed_prekey);
        ratchet.sending = Some(Chain { key, counter: 0 });
        Ok(ratchet)
    }

    /// RatchetInitBob: the signed prekey is the first ratchet key; no chains yet.
    pub(crate) fn responder(secret: SharedSecret, signed_prekey: KeyPair, limits: Limits) -> Self {
        Self::fresh(RootKey::from(secret), signed_prekey, limits)
    }

    /// A ratchet with no peer key, no chains and nothing stored.
    fn fresh(root: RootKey, ours: KeyPair, limits: Limits) -> Self {
        Self {
            root,
            ours,
            theirs: None,
            sending: None,
            receiving: None,
            previous_sending_len: 0,
            old_ratchet_keys: VecDeque::new(),
            skipped: SkippedKeys::default(),
            received: 0,
            limits,
        }
    }

    /// RatchetEncrypt, appending the encoded message (prefix, ciphertext, tag) to `out`.
    pub(crate) fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        ad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(Error::TooLarge);
        }
        // The deferred half of DHRatchet: new DHs, then KDF_RK(RK, DH(DHs, DHr)).
        let turn = match (&self.sending, &self.theirs) {
            (Some(_), _) => None,
            // Unreachable through `Session`: an initiator starts with a sending chain, and a
            // responder exists only after it received a ratchet key.
            (None, None) => return Err(Error::ChainExhausted),
            (None, Some(theirs)) => {
                let pair = KeyPair::generate(rng);
                let (root, key) = self.root.ratchet(&pair.diffie_hellman(theirs)?);
                Some((pair, root, Chain { key, counter: 0 }))
            }
        };
        let (ours, chain) = match (&turn, &self.sending) {
            (Some((pair, _, chain)), _) => (pair, chain),
            (None, Some(chain)) => (&self.ours, chain),
            (None, None) => return Err(Error::ChainExhausted),
        };
        let next_counter = chain.counter.checked_add(1).ok_or(Error::ChainExhausted)?;
        let (next_key, mk) = chain.key.step();
        let header = Header {
            ratchet_key: *ours.public(),
            previous_chain_len: self.previous_sending_len,
            counter: chain.counter,
        };
        let mut seed = [0u8; SEED_LEN];
        rng.fill_bytes(&mut seed);

        let start = out.len();
        out.reserve(MESSAGE_PREFIX_LEN + plaintext.len() + cipher::TAG_LEN);
        Message::encode_prefix(&header, &seed, out);
        let prefix = out.get(start..).ok_or(Error::TooLarge)?;
        let mut prefix_copy = [0u8; MESSAGE_PREFIX_LEN];
        prefix_copy.copy_from_slice(prefix);
        with_aad(ad, &prefix_copy, |aad| {
            cipher::seal(&mk, &seed, aad, plaintext, out)
        })??;

        if let Some((pair, root, _)) = turn {
            self.ours = pair;
            self.root = root;
        }
        self.sending = Some(Chain {
            key: next_key,
            counter: next_counter,
        });
        Ok(())
    }

    /// RatchetDecrypt. Nothing in `self` changes unless this returns `Ok`. Keys skipped by this
    /// message are stored as skipped at `now_ms` (`u64::MAX`: unknown).
    pub(crate) fn decrypt(
        &mut self,
        ad: &[u8],
        msg: &Message<'_>,
        now_ms: u64,
    ) -> Result<Vec<u8>, Error> {
        let h = &msg.header;
        let open = |mk: &MessageKey| {
            with_aad(ad, &msg.prefix, |aad| {
                cipher::open(mk, &msg.seed, aad, msg.ciphertext)
            })?
        };

        // A key skipped earlier.
        if let Some(index) = self.skipped.find(&h.ratchet_key, h.counter) {
            let mk = self.skipped.get(index).ok_or(Error::DecryptionFailed)?;
            let plaintext = open(mk)?;
            self.skipped.remove(index);
            self.count_received();
            return Ok(plaintext);
        }
        let next_counter = h.counter.checked_add(1).ok_or(Error::TooFarInFuture)?;

        // The current receiving chain.
        if self.theirs == Some(h.ratchet_key) {
            let chain = self.receiving.as_ref().ok_or(Error::DecryptionFailed)?;
            if h.counter < chain.counter {
                return Err(Error::DuplicateMessage);
            }
            if h.counter - chain.counter > self.limits.max_skip {
                return Err(Error::TooFarInFuture);
            }
            let mut derived = Derived::new();
            let (next_key, mk) = walk(&chain.key, chain.counter, h.counter, &mut derived).step();
            let plaintext = open(&mk)?;
            self.store_skipped(h.ratchet_key, derived, now_ms);
            self.receiving = Some(Chain {
                key: next_key,
                counter: next_counter,
            });
            self.count_received();
            return Ok(plaintext);
        }

        // A new ratchet key: the receiving half of DHRatchet.
        if self.old_ratchet_keys.contains(&h.ratchet_key) {
            return Err(Error::DuplicateMessage);
        }
        // Our half-step is still deferred, so the peer has not seen a new key of ours and cannot
        // honestly have turned again. The eager algorithm would fail authentication here; so do
        // we, without computing anything (SPEC.md §6.3).
        if self.sending.is_none() && self.theirs.is_some() {
            return Err(Error::DecryptionFailed);
        }
        let old_gap = self
            .receiving
            .as_ref()
            .map_or(0, |c| h.previous_chain_len.saturating_sub(c.counter));
        if u64::from(old_gap) + u64::from(h.counter) > u64::from(self.limits.max_skip) {
            return Err(Error::TooFarInFuture);
        }
        let mut old_derived = Derived::new();
        if let Some(c) = &self.receiving {
            walk(
                &c.key,
                c.counter,
                h.previous_chain_len.max(c.counter),
                &mut old_derived,
            );
        }
        let (root, chain_key) = self
            .root
            .ratchet(&self.ours.diffie_hellman(&h.ratchet_key)?);
        let mut derived = Derived::new();
        let (next_key, mk) = walk(&chain_key, 0, h.counter, &mut derived).step();
        let plaintext = open(&mk)?;

        // Authenticated: commit.
        if let (Some(old), Some(_)) = (self.theirs, &self.receiving) {
            self.store_skipped(old, old_derived, now_ms);
            self.old_ratchet_keys.push_back(old);
            while self.old_ratchet_keys.len() > self.limits.max_old_chains as usize {
                if let Some(gone) = self.old_ratchet_keys.pop_front() {
                    self.skipped.forget_chain(&gone);
                }
            }
        }
        self.store_skipped(h.ratchet_key, derived, now_ms);
        self.root = root;
        self.theirs = Some(h.ratchet_key);
        self.receiving = Some(Chain {
            key: next_key,
            counter: next_counter,
        });
        self.previous_sending_len = self.sending.take().map_or(0, |c| c.counter);
        self.count_received();
        Ok(plaintext)
    }

    /// Stores keys skipped by the message being committed. Their stamp is the received count
    /// *including* that message, so a key's age is the number of messages decrypted after it.
    fn store_skipped(&mut self, ratchet_key: PublicKey, derived: Derived, now_ms: u64) {
        let stamp = self.received.wrapping_add(1);
        // Exact growth: a stored key costs its 80-byte entry and no spare capacity.
        let room = (self.limits.max_skipped_keys as usize).saturating_sub(self.skipped.len());
        self.skipped.reserve(derived.len().min(room));
        // Cloned out rather than moved: moving out of `derived` would leave each key's bytes in
        // its freed buffer; dropping it instead wipes every element in place.
        for (counter, key) in &derived {
            let entry = SkippedKey {
                ratchet_key: ratchet_key.to_bytes(),
                counter: *counter,
                stamp,
                key: key.clone(),
                skipped_at_ms: now_ms,
            };
            self.skipped
                .push(entry, self.limits.max_skipped_keys as usize);
        }
    }

    fn count_received(&mut self) {
        self.received = self.received.wrapping_add(1);
        self.skipped
            .expire(self.received, self.limits.max_skipped_key_age);
    }

    /// Installs new limits and applies them at once to what is already stored, so that the
    /// state always satisfies its own limits.
    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        while self.old_ratchet_keys.len() > limits.max_old_chains as usize {
            if let Some(gone) = self.old_ratchet_keys.pop_front() {
                self.skipped.forget_chain(&gone);
            }
        }
        self.skipped
            .truncate_front(limits.max_skipped_keys as usize);
        self.skipped
            .expire(self.received, limits.max_skipped_key_age);
    }

    /// Number of skipped message keys currently stored.
    pub(crate) fn skipped_len(&self) -> usize {
        self.skipped.len()
    }
}
