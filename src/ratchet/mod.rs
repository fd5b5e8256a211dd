//! The Double Ratchet state machine (Signal Double Ratchet spec §3, §5; SPEC.md §6).
//!
//! One deliberate difference in *when* (not *what*) is computed: the spec generates the next
//! sending ratchet key inside `DHRatchet`, on receipt. We defer that half-step to the next
//! `encrypt`, which has an RNG, so that `decrypt` needs no randomness and is a pure function of
//! state and input. The keys and bytes produced are exactly the spec's (SPEC.md §6.3).
//!
//! Every decrypt computes into locals and commits only after the AEAD tag has verified; a
//! failed decrypt leaves the state untouched (SPEC.md §6.6).
//!
//! The phases are types (SPEC.md §6.5): an initiator that has heard nothing holds only its first
//! sending chain ([`Phase::Opening`]); after the first message received, the ratchet is
//! [`Open`], and its sending side is either a chain with its key pair or *pending* — after a
//! receiving step the old ratchet secret is dead, so it is dropped at once and the next encrypt
//! draws a new one. A responder is created by its first receiving step and never holds its
//! signed prekey's secret.

mod skipped;

use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec::Vec;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::cipher;
use crate::codec::{Codec, Reader, Writer};
use crate::error::{DecodeError, Error};
use crate::kdf::{ChainKey, MessageKey, RootKey, SEED_LEN, SharedSecret};
use crate::keys::{KeyPair, PublicKey};
use crate::wire::{Header, MAX_PLAINTEXT_LEN, MESSAGE_PREFIX_LEN, Message};

pub(crate) use skipped::SkippedKeys;

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
        Self::DEFAULT
    }
}

impl Limits {
    /// The defaults (SPEC.md §6.4).
    pub const DEFAULT: Self = Self {
        max_skip: 2000,
        max_skipped_keys: 2000,
        max_old_chains: 5,
        max_skipped_key_age: 10_000,
    };

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

/// The longest associated data the ratchet accepts before a message's prefix: two identity keys,
/// a length, a 1024-byte context and a prekey message's fields, PQXDH's included (SPEC.md §3.5). Callers check
/// their own bound against it.
pub(crate) const MAX_AD_LEN: usize = 32 + 32 + 2 + 1024 + 75 + 1 + 4 + 1568;

impl Codec for Limits {
    fn encoded_len(&self) -> usize {
        16
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        for v in [
            self.max_skip,
            self.max_skipped_keys,
            self.max_old_chains,
            self.max_skipped_key_age,
        ] {
            out.put_u32(v);
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let limits = Self {
            max_skip: r.u32()?,
            max_skipped_keys: r.u32()?,
            max_old_chains: r.u32()?,
            max_skipped_key_age: r.u32()?,
        };
        limits.validate().map_err(|_| DecodeError::NonCanonical)?;
        Ok(limits)
    }
}

/// A sending or receiving chain: its key and the index of the next message.
#[derive(Clone)]
pub(crate) struct Chain {
    key: ChainKey,
    counter: u32,
}

impl Chain {
    pub(crate) fn new(key: ChainKey, counter: u32) -> Self {
        Self { key, counter }
    }
}

impl Codec for Chain {
    fn encoded_len(&self) -> usize {
        36
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put(self.key.as_bytes());
        out.put_u32(self.counter);
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            key: ChainKey::from_bytes(*Zeroizing::new(r.array()?)),
            counter: r.u32()?,
        })
    }
}

/// DHs with CKs and Ns: the key pair the sending chain was derived with, and the chain.
pub(crate) struct Sending {
    pair: KeyPair,
    chain: Chain,
}

impl Sending {
    pub(crate) fn new(pair: KeyPair, chain: Chain) -> Self {
        Self { pair, chain }
    }
}

impl Codec for Sending {
    fn encoded_len(&self) -> usize {
        32 + 32 + 36
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.pair.encode_stored(out);
        self.chain.encode(out)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            pair: KeyPair::decode_stored(r)?,
            chain: Chain::decode(r)?,
        })
    }
}

/// DHr with CKr and Nr.
pub(crate) struct Receiving {
    theirs: PublicKey,
    chain: Chain,
}

impl Receiving {
    pub(crate) fn new(theirs: PublicKey, chain: Chain) -> Self {
        Self { theirs, chain }
    }
}

impl Codec for Receiving {
    fn encoded_len(&self) -> usize {
        32 + 36
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put(self.theirs.as_bytes());
        self.chain.encode(out)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            theirs: PublicKey::from_bytes(r.array()?)?,
            chain: Chain::decode(r)?,
        })
    }
}

/// The ratchet after its first received message.
pub(crate) struct Open {
    receiving: Receiving,
    /// `None` (pending) from a receiving step to the next encrypt, which completes the DH
    /// ratchet step with a new key pair; no ratchet secret is held meanwhile.
    sending: Option<Sending>,
    /// PN.
    previous_sending_len: u32,
    /// Ratchet keys of earlier receiving chains, oldest first (at most `max_old_chains`).
    old_ratchet_keys: VecDeque<PublicKey>,
    skipped: SkippedKeys,
    /// Messages decrypted so far (wrapping); ages skipped keys.
    received: u32,
}

/// Where the ratchet is (SPEC.md §6.5).
pub(crate) enum Phase {
    /// The initiator before any reply: it sends on its first chain and has received nothing, so
    /// it holds no receiving chain, old chain or skipped key (and PN = 0).
    Opening(Sending),
    /// After the first message received.
    Open(Open),
}

pub(crate) struct Ratchet {
    root: RootKey,
    phase: Phase,
    limits: Limits,
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

/// The associated data of every normal message and of an X3DH prekey message fits this stack
/// buffer; only a PQXDH prekey message's (its 1 573 KEM bytes) is longer.
const STACK_AAD_LEN: usize = 32 + 32 + 2 + 1024 + 75 + MESSAGE_PREFIX_LEN;

/// Builds `ad ‖ prefix` and passes it to `f` (SPEC.md §3.5): on the stack for every message but
/// a PQXDH prekey message, whose longer associated data goes to the heap (once per first
/// message, beside an ML-KEM operation) rather than making every message zero a 2.8 KB buffer.
fn with_aad<T>(ad: &[u8], prefix: &[u8], f: impl FnOnce(&[u8]) -> T) -> Result<T, Error> {
    let len = ad.len() + prefix.len();
    if len > MAX_AD_LEN + MESSAGE_PREFIX_LEN {
        return Err(Error::TooLarge);
    }
    if len > STACK_AAD_LEN {
        let mut aad = Vec::with_capacity(len);
        aad.extend_from_slice(ad);
        aad.extend_from_slice(prefix);
        return Ok(f(&aad));
    }
    let mut buf = [0u8; STACK_AAD_LEN];
    let aad = buf.get_mut(..len).ok_or(Error::TooLarge)?;
    let (a, p) = aad.split_at_mut(ad.len());
    a.copy_from_slice(ad);
    p.copy_from_slice(prefix);
    Ok(f(aad))
}

fn open_with(ad: &[u8], msg: &Message<'_>, mk: &MessageKey) -> Result<Vec<u8>, Error> {
    with_aad(ad, &msg.prefix, |aad| {
        cipher::open(mk, &msg.seed, aad, msg.ciphertext)
    })?
}

/// The receiving half of DHRatchet for a message under a new ratchet key, computed into locals.
struct NewChain {
    root: RootKey,
    receiving: Receiving,
    /// Keys of the old receiving chain up to the message's PN.
    old_derived: Derived,
    /// Keys of the new chain before the message.
    derived: Derived,
    plaintext: Vec<u8>,
}

fn receive_new_chain(
    root: &RootKey,
    ours: &KeyPair,
    old: Option<&Receiving>,
    limits: &Limits,
    ad: &[u8],
    msg: &Message<'_>,
) -> Result<NewChain, Error> {
    let h = &msg.header;
    let next_counter = h.counter.checked_add(1).ok_or(Error::TooFarInFuture)?;
    let old_gap = old.map_or(0, |o| h.previous_chain_len.saturating_sub(o.chain.counter));
    if u64::from(old_gap) + u64::from(h.counter) > u64::from(limits.max_skip) {
        return Err(Error::TooFarInFuture);
    }
    let mut old_derived = Derived::new();
    if let Some(o) = old {
        let to = h.previous_chain_len.max(o.chain.counter);
        walk(&o.chain.key, o.chain.counter, to, &mut old_derived);
    }
    let (root, chain_key) = root.ratchet(&ours.diffie_hellman(&h.ratchet_key)?);
    let mut derived = Derived::new();
    let (next_key, mk) = walk(&chain_key, 0, h.counter, &mut derived).step();
    let plaintext = open_with(ad, msg, &mk)?;
    Ok(NewChain {
        root,
        receiving: Receiving::new(h.ratchet_key, Chain::new(next_key, next_counter)),
        old_derived,
        derived,
        plaintext,
    })
}

impl Ratchet {
    /// RatchetInitAlice: a fresh ratchet key, and the first sending chain from DH with the
    /// responder's signed prekey.
    pub(crate) fn initiator<R: CryptoRng + ?Sized>(
        rng: &mut R,
        secret: SharedSecret,
        their_signed_prekey: &PublicKey,
        limits: Limits,
    ) -> Result<Self, Error> {
        let pair = KeyPair::generate(rng);
        let (root, key) = RootKey::from(secret).ratchet(&pair.diffie_hellman(their_signed_prekey)?);
        Ok(Self {
            root,
            phase: Phase::Opening(Sending::new(pair, Chain::new(key, 0))),
            limits,
        })
    }

    /// RatchetInitBob followed at once by RatchetDecrypt of the first message: the signed
    /// prekey is the first ratchet key, used for this one receiving step and not kept.
    pub(crate) fn responder(
        secret: SharedSecret,
        signed_prekey: &KeyPair,
        limits: Limits,
        ad: &[u8],
        msg: &Message<'_>,
        now_ms: u64,
    ) -> Result<(Self, Vec<u8>), Error> {
        let root = RootKey::from(secret);
        let new = receive_new_chain(&root, signed_prekey, None, &limits, ad, msg)?;
        let mut open = Open {
            receiving: new.receiving,
            sending: None,
            previous_sending_len: 0,
            old_ratchet_keys: VecDeque::new(),
            skipped: SkippedKeys::default(),
            received: 0,
        };
        open.store_skipped(msg.header.ratchet_key, &new.derived, now_ms, &limits);
        open.count_received(&limits);
        let ratchet = Self {
            root: new.root,
            phase: Phase::Open(open),
            limits,
        };
        Ok((ratchet, new.plaintext))
    }

    /// Whether a message has been received (the initiator's acknowledgement).
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
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
        // The deferred half of DHRatchet when the sending side is pending: new DHs, then
        // KDF_RK(RK, DH(DHs, DHr)).
        let mut turned = None;
        let (sending, previous_sending_len, new_root) = match &self.phase {
            Phase::Opening(sending) => (sending, 0, None),
            Phase::Open(Open {
                sending: Some(sending),
                previous_sending_len,
                ..
            }) => (sending, *previous_sending_len, None),
            Phase::Open(Open {
                sending: None,
                receiving,
                previous_sending_len,
                ..
            }) => {
                let pair = KeyPair::generate(rng);
                let (root, key) = self.root.ratchet(&pair.diffie_hellman(&receiving.theirs)?);
                let turned = turned.insert(Sending::new(pair, Chain::new(key, 0)));
                (&*turned, *previous_sending_len, Some(root))
            }
        };
        let chain = &sending.chain;
        let next_counter = chain.counter.checked_add(1).ok_or(Error::ChainExhausted)?;
        let (next_key, mk) = chain.key.step();
        let header = Header {
            ratchet_key: *sending.pair.public(),
            previous_chain_len: previous_sending_len,
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

        let next = Chain::new(next_key, next_counter);
        match (&mut self.phase, new_root, turned) {
            (Phase::Opening(sending), ..) => sending.chain = next,
            (Phase::Open(open), Some(root), Some(Sending { pair, .. })) => {
                self.root = root;
                open.sending = Some(Sending::new(pair, next));
            }
            (Phase::Open(open), ..) => {
                if let Some(sending) = &mut open.sending {
                    sending.chain = next;
                }
            }
        }
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
        let limits = self.limits;
        let h = &msg.header;
        let open = match &mut self.phase {
            // The first reply: always under a new ratchet key.
            Phase::Opening(sending) => {
                let new = receive_new_chain(&self.root, &sending.pair, None, &limits, ad, msg)?;
                let mut open = Open {
                    receiving: new.receiving,
                    sending: None,
                    previous_sending_len: sending.chain.counter,
                    old_ratchet_keys: VecDeque::new(),
                    skipped: SkippedKeys::default(),
                    received: 0,
                };
                open.store_skipped(h.ratchet_key, &new.derived, now_ms, &limits);
                open.count_received(&limits);
                self.root = new.root;
                self.phase = Phase::Open(open);
                return Ok(new.plaintext);
            }
            Phase::Open(open) => open,
        };

        // A key skipped earlier.
        if let Some(index) = open.skipped.find(h.ratchet_key.as_bytes(), h.counter) {
            let mk = open.skipped.get(index).ok_or(Error::DecryptionFailed)?;
            let plaintext = open_with(ad, msg, mk)?;
            open.skipped.remove(index);
            open.count_received(&limits);
            return Ok(plaintext);
        }

        let next_counter = h.counter.checked_add(1).ok_or(Error::TooFarInFuture)?;

        // The current receiving chain.
        if open.receiving.theirs == h.ratchet_key {
            let chain = &open.receiving.chain;
            if h.counter < chain.counter {
                return Err(Error::DuplicateMessage);
            }
            if h.counter - chain.counter > limits.max_skip {
                return Err(Error::TooFarInFuture);
            }
            let mut derived = Derived::new();
            let (next_key, mk) = walk(&chain.key, chain.counter, h.counter, &mut derived).step();
            let plaintext = open_with(ad, msg, &mk)?;
            open.store_skipped(h.ratchet_key, &derived, now_ms, &limits);
            open.receiving.chain = Chain::new(next_key, next_counter);
            open.count_received(&limits);
            return Ok(plaintext);
        }

        // A new ratchet key: the receiving half of DHRatchet.
        if open.old_ratchet_keys.contains(&h.ratchet_key) {
            return Err(Error::DuplicateMessage);
        }
        // Our half-step is still pending, so the peer has not seen a new key of ours and cannot
        // honestly have turned again. The eager algorithm would fail authentication here; so do
        // we, without computing anything (SPEC.md §6.3).
        let Some(sending) = &open.sending else {
            return Err(Error::DecryptionFailed);
        };
        let new = receive_new_chain(
            &self.root,
            &sending.pair,
            Some(&open.receiving),
            &limits,
            ad,
            msg,
        )?;

        // Authenticated: commit. The old ratchet secret is dead from here on and is dropped.
        let old = core::mem::replace(&mut open.receiving, new.receiving);
        open.store_skipped(old.theirs, &new.old_derived, now_ms, &limits);
        open.old_ratchet_keys.push_back(old.theirs);
        while open.old_ratchet_keys.len() > limits.max_old_chains as usize {
            if let Some(gone) = open.old_ratchet_keys.pop_front() {
                open.skipped.forget_chain(gone.as_bytes());
            }
        }
        open.store_skipped(h.ratchet_key, &new.derived, now_ms, &limits);
        open.previous_sending_len = open.sending.take().map_or(0, |s| s.chain.counter);
        self.root = new.root;
        open.count_received(&limits);
        Ok(new.plaintext)
    }

    /// Installs new limits and applies them at once to what is already stored, so that the
    /// state always satisfies its own limits.
    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        if let Phase::Open(open) = &mut self.phase {
            while open.old_ratchet_keys.len() > limits.max_old_chains as usize {
                if let Some(gone) = open.old_ratchet_keys.pop_front() {
                    open.skipped.forget_chain(gone.as_bytes());
                }
            }
            open.skipped
                .truncate_front(limits.max_skipped_keys as usize);
            open.skipped
                .expire(open.received, limits.max_skipped_key_age);
        }
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// Number of skipped message keys currently stored.
    pub(crate) fn skipped_len(&self) -> usize {
        match &self.phase {
            Phase::Opening(_) => 0,
            Phase::Open(open) => open.skipped.len(),
        }
    }

    /// Deletes skipped keys older than `lifetime_ms` plus the clock-skew allowance (SPEC.md §8.6).
    pub(crate) fn purge(&mut self, now_ms: u64, lifetime_ms: u64) -> usize {
        match &mut self.phase {
            Phase::Opening(_) => 0,
            Phase::Open(open) => open.skipped.purge(now_ms, lifetime_ms),
        }
    }

    /// Rebuilds a ratchet from its parts, checking every invariant the code keeps (SPEC.md
    /// §10.3); used by the decoders of every state version.
    pub(crate) fn from_parts(
        root: RootKey,
        phase: Phase,
        limits: Limits,
    ) -> Result<Self, DecodeError> {
        if let Phase::Open(open) = &phase {
            open.check(&limits)?;
        }
        Ok(Self {
            root,
            phase,
            limits,
        })
    }

    /// Encodes `limits ‖ root ‖ phase` (SPEC.md §10.3); the phase itself is told by the
    /// session's phase byte.
    pub(crate) fn encoded_len(&self) -> usize {
        16 + 32
            + match &self.phase {
                Phase::Opening(sending) => sending.encoded_len(),
                Phase::Open(open) => open.encoded_len(),
            }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.limits.encode(out)?;
        out.put(self.root.as_bytes());
        match &self.phase {
            Phase::Opening(sending) => sending.encode(out),
            Phase::Open(open) => open.encode(out),
        }
    }

    /// Decodes what [`Ratchet::encode`] wrote for a ratchet in the given phase.
    pub(crate) fn decode(r: &mut Reader<'_>, opening: bool) -> Result<Self, DecodeError> {
        let limits = Limits::decode(r)?;
        let root = RootKey::from_bytes(*Zeroizing::new(r.array()?));
        let phase = if opening {
            Phase::Opening(Sending::decode(r)?)
        } else {
            Phase::Open(Open::decode(r, &limits)?)
        };
        Self::from_parts(root, phase, limits)
    }
}

impl Open {
    /// Rebuilds an open ratchet's state; [`Ratchet::from_parts`] checks it.
    pub(crate) fn new(
        receiving: Receiving,
        sending: Option<Sending>,
        previous_sending_len: u32,
        old_ratchet_keys: VecDeque<PublicKey>,
        skipped: SkippedKeys,
        received: u32,
    ) -> Self {
        Self {
            receiving,
            sending,
            previous_sending_len,
            old_ratchet_keys,
            skipped,
            received,
        }
    }

    /// Stores keys skipped by the message being committed. Their stamp is the received count
    /// *including* that message, so a key's age is the number of messages decrypted after it.
    fn store_skipped(
        &mut self,
        ratchet_key: PublicKey,
        derived: &Derived,
        now_ms: u64,
        limits: &Limits,
    ) {
        let stamp = self.received.wrapping_add(1);
        let max = limits.max_skipped_keys as usize;
        // Exact growth: a stored key costs its entry and no spare capacity.
        let room = max.saturating_sub(self.skipped.len());
        self.skipped.reserve(derived.len().min(room));
        // Cloned out rather than moved: the caller drops `derived`, which wipes every element in
        // place.
        for (counter, key) in derived {
            self.skipped.push(
                ratchet_key.to_bytes(),
                *counter,
                stamp,
                key.clone(),
                now_ms,
                max,
            );
        }
    }

    fn count_received(&mut self, limits: &Limits) {
        self.received = self.received.wrapping_add(1);
        self.skipped
            .expire(self.received, limits.max_skipped_key_age);
    }

    /// The invariants of an open ratchet (SPEC.md §10.3): stored counts within the limits, old
    /// chains distinct and not the current one, our sending key none of them, and every skipped
    /// key one the code could have
    /// stored — of a known chain, behind the current counter, never for N = 2^32 − 1, distinct,
    /// in arrival order and not older than the age limit.
    fn check(&self, limits: &Limits) -> Result<(), DecodeError> {
        if self.old_ratchet_keys.len() > limits.max_old_chains as usize
            || self.skipped.len() > limits.max_skipped_keys as usize
        {
            return Err(DecodeError::NonCanonical);
        }
        // Sets, not scans of the list: the limits may be 2^20.
        let mut old = BTreeSet::new();
        for key in &self.old_ratchet_keys {
            if !old.insert(key.as_bytes()) || *key == self.receiving.theirs {
                return Err(DecodeError::NonCanonical);
            }
        }
        // Our own ratchet key is never the peer's: a state whose receiving chain (or an old one)
        // is its own sending chain would accept its own messages reflected back to it.
        if let Some(sending) = &self.sending {
            let ours = sending.pair.public();
            if *ours == self.receiving.theirs || old.contains(ours.as_bytes()) {
                return Err(DecodeError::NonCanonical);
            }
        }
        let current = &self.receiving;
        self.skipped
            .check(self.received, limits.max_skipped_key_age, |key, counter| {
                counter != u32::MAX
                    && if key == current.theirs.as_bytes() {
                        counter < current.chain.counter
                    } else {
                        old.contains(key)
                    }
            })
    }

    fn encoded_len(&self) -> usize {
        Receiving::encoded_len(&self.receiving)
            + 1
            + self.sending.as_ref().map_or(0, Codec::encoded_len)
            + 4
            + 4
            + 4
            + 32 * self.old_ratchet_keys.len()
            + self.skipped.encoded_len()
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.receiving.encode(out)?;
        out.put_flag(self.sending.is_some());
        if let Some(sending) = &self.sending {
            sending.encode(out)?;
        }
        out.put_u32(self.previous_sending_len);
        out.put_u32(self.received);
        out.put_len_u32(self.old_ratchet_keys.len())?;
        for key in &self.old_ratchet_keys {
            out.put(key.as_bytes());
        }
        self.skipped.encode(out)
    }

    /// Counts beyond the limits are refused as soon as they are read; the rest of
    /// [`Open::check`] runs once the whole ratchet is read.
    fn decode(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, DecodeError> {
        let receiving = Receiving::decode(r)?;
        let sending = if r.flag()? {
            Some(Sending::decode(r)?)
        } else {
            None
        };
        let previous_sending_len = r.u32()?;
        let received = r.u32()?;
        let old_count = r.u32()?;
        if old_count > limits.max_old_chains {
            return Err(DecodeError::NonCanonical);
        }
        let old_count = old_count as usize;
        // No larger than the input can hold: a forged count allocates nothing extra.
        let mut old_ratchet_keys = VecDeque::with_capacity(old_count.min(r.remaining() / 32));
        for _ in 0..old_count {
            old_ratchet_keys.push_back(PublicKey::from_bytes(r.array()?)?);
        }
        let skipped = SkippedKeys::decode(r, limits.max_skipped_keys)?;
        Ok(Self::new(
            receiving,
            sending,
            previous_sending_len,
            old_ratchet_keys,
            skipped,
            received,
        ))
    }
}
