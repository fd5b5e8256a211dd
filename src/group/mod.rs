//! Group messaging with sender keys over pairwise sessions (SPEC.md §13).
//!
//! Each member sends on its own *sender key*: a chain key stepped like a ratchet chain (one
//! message key per message, deleted after use) and an Ed25519 signing key. The member hands the
//! key to every other member once, over their pairwise [`Session`](crate::Session) — a
//! [`SenderKeyDistribution`] is a content kind like any message — and from then on a group
//! message costs one encryption and one signature, whatever the group's size. Receivers check
//! the signature with `verify_strict` before anything is derived or stored.
//!
//! Removing a member makes our next send use a new sender key, which only the remaining members
//! receive ([`GroupSession::remove_member`], [`GroupSession::distribution`]); a member added gets
//! our key at its current iteration, so it reads nothing sent before. A rotation policy bounds
//! how long a stolen sender key reads the chain ([`Rotation`]).
//!
//! ```
//! # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//! # use xchat_protocol::{Config, IdentityKeyPair, PreKeyStore, Session, Trust};
//! use xchat_protocol::group::{GroupConfig, GroupId, GroupSession, SenderKeyDistribution};
//! # let mut rng = ChaCha20Rng::from_seed([9; 32]);
//! # let (alice, bob) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
//! # let mut store = PreKeyStore::new();
//! # store.rotate_signed_prekey(&mut rng, &bob, 1000);
//! # store.rotate_kem_prekey(&mut rng, &bob, 1000);
//! # let mut to_bob = Session::initiate(&mut rng, &alice, &store.bundle(&bob, None)?, Trust::FirstUse, &Config::new(b""))?;
//! let now = 1_700_000_000_000;
//! let id = GroupId([7; 32]);
//! let config = GroupConfig::default();
//! let mut ours = GroupSession::new(&mut rng, alice.public(), id, &[*bob.public()], now, config)?;
//! let mut theirs = GroupSession::new(&mut rng, bob.public(), id, &[*alice.public()], now, config)?;
//!
//! // Before the first send (and after every rotation): our sender key, to each member lacking it.
//! let pending = ours.distribution(&mut rng, now);
//! let mut wires = Vec::new();
//! for member in &pending.recipients {
//!     wires.push(pending.distribution.send(&mut to_bob, &mut rng, now)?); // to `member`
//!     ours.mark_distributed(member, &pending.distribution)?;
//! }
//! let message = ours.send(&mut rng, now, b"hello, group")?;
//!
//! // Bob: the distribution arrives over the pairwise session, then the group message.
//! let (to_alice, received) = Session::accept(&bob, &mut store, &wires[0], &Config::new(b""), now)?;
//! let distribution = SenderKeyDistribution::from_bytes(&received.body)?;
//! theirs.process_distribution(to_alice.remote_identity(), &distribution)?;
//! let got = theirs.receive(alice.public(), &message, now)?;
//! assert_eq!(got.message().unwrap().body, b"hello, group");
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

mod distribution;
mod error;
mod message;
mod sender_key;
mod state;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;

use crate::cipher;
use crate::content::{
    Channel, Content, ContentKind, MAX_CLOCK_SKEW_MS, Receipt, Timer, TimerStart, padded_frame,
    receive_frame,
};
use crate::keys::IdentityKey;

pub use distribution::{DISTRIBUTION_VERSION, SenderKeyDistribution};
pub use error::GroupError;
pub use message::{GROUP_HEADER_LEN, GROUP_MESSAGE_TYPE, GROUP_OVERHEAD, GROUP_SIGNATURE_LEN};

use message::{GroupMessage, associated_data, encode_header, signed_bytes};
use sender_key::{ReceivingKey, SendingKey};

/// A group's identifier, chosen by the application (32 bytes; random, or derived from its own
/// group id). It is inside every group message and distribution, and never visible to a relay
/// that only sees sealed envelopes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub [u8; 32]);

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupId(")?;
        crate::keys::hex(f, &self.0)?;
        f.write_str(")")
    }
}

/// What receiving may cost, checked before any derivation (SPEC.md §13.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupLimits {
    /// How far ahead of the next expected iteration one message may be.
    pub max_jump: u32,
    /// The most skipped message keys kept per sender key; the oldest are dropped first.
    pub max_skipped_keys: u32,
    /// The most sender keys kept per member (the newest; older ones still open messages in
    /// flight after a rotation).
    pub max_sender_keys: u32,
    /// The most members a group holds.
    pub max_members: u32,
}

impl GroupLimits {
    /// The defaults (SPEC.md §13.4).
    pub const DEFAULT: Self = Self {
        max_jump: 2000,
        max_skipped_keys: 2000,
        max_sender_keys: 3,
        max_members: 1000,
    };

    /// Largest accepted value of any limit.
    pub const CEILING: u32 = 1 << 20;

    /// Checks that every limit is between 1 and [`GroupLimits::CEILING`].
    ///
    /// # Errors
    /// [`GroupError::InvalidLimits`].
    pub fn validate(&self) -> Result<(), GroupError> {
        let all = [
            self.max_jump,
            self.max_skipped_keys,
            self.max_sender_keys,
            self.max_members,
        ];
        if all.iter().all(|v| (1..=Self::CEILING).contains(v)) {
            Ok(())
        } else {
            Err(GroupError::InvalidLimits)
        }
    }
}

impl Default for GroupLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// When our sender key is replaced by a new one even without a membership change (SPEC.md
/// §13.5): a thief of a sender key reads its chain only until then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// After this many messages sent on one key.
    pub max_messages: u32,
    /// After this many milliseconds since the key was made.
    pub max_age_ms: u64,
}

impl Rotation {
    /// The defaults: 1000 messages or 7 days (SPEC.md §13.5).
    pub const DEFAULT: Self = Self {
        max_messages: 1000,
        max_age_ms: 7 * 24 * 3600 * 1000,
    };

    /// Checks that both bounds are at least 1: a zero would make every send due for rotation,
    /// so that the group could never send.
    ///
    /// # Errors
    /// [`GroupError::InvalidLimits`].
    pub fn validate(&self) -> Result<(), GroupError> {
        if self.max_messages == 0 || self.max_age_ms == 0 {
            Err(GroupError::InvalidLimits)
        } else {
            Ok(())
        }
    }
}

impl Default for Rotation {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A group's limits and rotation policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupConfig {
    /// What receiving may cost.
    pub limits: GroupLimits,
    /// When our sender key is replaced.
    pub rotation: Rotation,
}

/// Our sender key, and the members that still need it before our next message.
#[derive(Debug)]
pub struct Distribution {
    /// Our current sender key.
    pub distribution: SenderKeyDistribution,
    /// The members to send it to (over each one's pairwise session); then
    /// [`GroupSession::mark_distributed`] each with `distribution` once delivered.
    pub recipients: Vec<IdentityKey>,
}

/// A member as we hold it: whether it has our current sender key, and its sender keys, oldest
/// first.
struct Member {
    identity: IdentityKey,
    has_our_key: bool,
    keys: VecDeque<ReceivingKey>,
}

impl Member {
    /// Appends a key and drops the oldest beyond `max`, leaving no chain key behind: each key
    /// leaving the list is wiped in place first (a removal moves it out and leaves its bytes),
    /// and the list grows only by copying into a new buffer whose old one is dropped key by key
    /// (a reallocation would free the old buffer unwiped).
    fn push_key(&mut self, key: ReceivingKey, max: usize) {
        while self.keys.len() >= max {
            if let Some(oldest) = self.keys.front_mut() {
                oldest.wipe();
            }
            self.keys.pop_front();
        }
        if self.keys.len() == self.keys.capacity() {
            let mut grown = VecDeque::with_capacity(self.keys.len() + 1);
            grown.extend(self.keys.iter().cloned());
            self.keys = grown;
        }
        self.keys.push_back(key);
    }
}

/// One device's view of one group: its own sender key, the members, and their sender keys
/// (SPEC.md §13). Every failed call leaves it unchanged.
pub struct GroupSession {
    group_id: GroupId,
    local: IdentityKey,
    config: GroupConfig,
    timer: Timer,
    sending: SendingKey,
    /// A member was removed since `sending` was made: it must not be sent on again.
    stale: bool,
    members: BTreeMap<[u8; 32], Member>,
}

impl GroupSession {
    /// A new group view for our device `local`, with `members` (the other devices; `local` and
    /// repeats are skipped) and a fresh sender key made at `now_ms`.
    ///
    /// # Errors
    /// [`GroupError::InvalidLimits`] (a limit or a rotation bound); [`GroupError::TooLarge`]
    /// beyond `max_members`. Nothing is drawn before these checks.
    pub fn new<R: CryptoRng + ?Sized>(
        rng: &mut R,
        local: &IdentityKey,
        group_id: GroupId,
        members: &[IdentityKey],
        now_ms: u64,
        config: GroupConfig,
    ) -> Result<Self, GroupError> {
        config.limits.validate()?;
        config.rotation.validate()?;
        let distinct: alloc::collections::BTreeSet<[u8; 32]> = members
            .iter()
            .filter(|m| *m != local)
            .map(IdentityKey::to_bytes)
            .collect();
        if distinct.len() > config.limits.max_members as usize {
            return Err(GroupError::TooLarge);
        }
        let mut group = Self {
            group_id,
            local: *local,
            config,
            timer: Timer::OFF,
            sending: SendingKey::generate(rng, now_ms),
            stale: false,
            members: BTreeMap::new(),
        };
        for member in members {
            group.add_member(member)?;
        }
        Ok(group)
    }

    /// The group's id.
    pub fn group_id(&self) -> &GroupId {
        &self.group_id
    }

    /// Our device's identity.
    pub fn local_identity(&self) -> &IdentityKey {
        &self.local
    }

    /// The members (other than us), in the order of their key bytes.
    pub fn members(&self) -> impl Iterator<Item = &IdentityKey> {
        self.members.values().map(|m| &m.identity)
    }

    /// Whether `member` is a member.
    pub fn is_member(&self, member: &IdentityKey) -> bool {
        self.members.contains_key(member.as_bytes())
    }

    /// Adds a member. It lacks our current sender key until it is sent and marked; it will get
    /// the key at its current iteration, so it reads nothing sent before. Returns `false` if it
    /// was already a member, or is us.
    ///
    /// # Errors
    /// [`GroupError::TooLarge`] beyond `max_members`; the group is unchanged.
    pub fn add_member(&mut self, member: &IdentityKey) -> Result<bool, GroupError> {
        if member == &self.local || self.is_member(member) {
            return Ok(false);
        }
        if self.members.len() >= self.config.limits.max_members as usize {
            return Err(GroupError::TooLarge);
        }
        self.members.insert(
            member.to_bytes(),
            Member {
                identity: *member,
                has_our_key: false,
                keys: VecDeque::new(),
            },
        );
        Ok(true)
    }

    /// Removes a member: its sender keys are deleted (nothing it sends is read any more), and
    /// our sender key, which it holds, is never used again — the next send needs a new one
    /// ([`GroupSession::distribution`]). Returns whether it was a member.
    pub fn remove_member(&mut self, member: &IdentityKey) -> bool {
        let removed = self.members.remove(member.as_bytes()).is_some();
        self.stale |= removed;
        removed
    }

    /// Whether our sender key must be replaced before the next send at `now_ms`: a member was
    /// removed, or the rotation policy says so, or the chain is used up.
    pub fn rotation_due(&self, now_ms: u64) -> bool {
        let rotation = &self.config.rotation;
        self.stale
            || self.sending.iteration >= rotation.max_messages
            || now_ms
                >= self
                    .sending
                    .created_at_ms
                    .saturating_add(rotation.max_age_ms)
            || self.sending.next().is_none()
    }

    /// The members that lack our current sender key.
    pub fn lacking_sender_key(&self) -> Vec<IdentityKey> {
        self.members
            .values()
            .filter(|m| !m.has_our_key)
            .map(|m| m.identity)
            .collect()
    }

    /// Prepares the next send: replaces our sender key if [`GroupSession::rotation_due`] (all
    /// members then lack it), and returns it with the members that lack it. Send it to each
    /// over its pairwise session ([`SenderKeyDistribution::send`]) and mark each with
    /// [`GroupSession::mark_distributed`]; `recipients` is empty when all have it.
    pub fn distribution<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
    ) -> Distribution {
        if self.rotation_due(now_ms) {
            self.sending = SendingKey::generate(rng, now_ms);
            self.stale = false;
            for member in self.members.values_mut() {
                member.has_our_key = false;
            }
        }
        Distribution {
            distribution: self.sending.distribution(self.group_id),
            recipients: self.lacking_sender_key(),
        }
    }

    /// Records that `member` now holds `distribution`, which must be our current sender key at
    /// its current iteration — the one [`GroupSession::distribution`] returns now. Call it once
    /// the delivery of that distribution to `member` completed. A distribution of an older key
    /// (we rotated since it was made) or of an earlier iteration (we sent since; a newcomer given
    /// it would read messages sent before it joined) marks nothing (SPEC.md §13.5).
    ///
    /// # Errors
    /// [`GroupError::NotAMember`], then [`GroupError::StaleDistribution`]; the group is
    /// unchanged.
    pub fn mark_distributed(
        &mut self,
        member: &IdentityKey,
        distribution: &SenderKeyDistribution,
    ) -> Result<(), GroupError> {
        // Our own key against what the caller holds: compared in constant time all the same,
        // as the bytes hold the chain key.
        let current = self.sending.distribution(self.group_id).to_bytes();
        let is_current = bool::from(current.ct_eq(&*distribution.to_bytes()));
        let member = self.member_mut(member)?;
        if !is_current {
            return Err(GroupError::StaleDistribution);
        }
        member.has_our_key = true;
        Ok(())
    }

    /// Takes a member's sender key, received from `sender` over our pairwise session with it
    /// (`sender` must be that session's [`remote_identity`](crate::Session::remote_identity)).
    /// A key already held with the same signing key is kept as it is (a repeat never moves a
    /// chain back); a new key beyond `max_sender_keys` drops the member's oldest.
    ///
    /// # Errors
    /// [`GroupError::WrongGroup`], [`GroupError::NotAMember`]; the group is unchanged.
    pub fn process_distribution(
        &mut self,
        sender: &IdentityKey,
        distribution: &SenderKeyDistribution,
    ) -> Result<(), GroupError> {
        if distribution.group_id != self.group_id {
            return Err(GroupError::WrongGroup);
        }
        let max = self.config.limits.max_sender_keys as usize;
        let member = self.member_mut(sender)?;
        let key = ReceivingKey::new(distribution);
        match member.keys.iter().position(|k| k.id == key.id) {
            Some(i)
                if member
                    .keys
                    .get(i)
                    .is_some_and(|k| k.signing_key == key.signing_key) =>
            {
                return Ok(());
            }
            // Another key under a held id (ids are random): the new one replaces it, as the
            // newest. The old one is wiped in place before the removal moves it.
            Some(i) => {
                if let Some(old) = member.keys.get_mut(i) {
                    old.wipe();
                }
                member.keys.remove(i);
            }
            None => {}
        }
        member.push_key(key, max);
        Ok(())
    }

    /// Encrypts `plaintext` as one group message for every member: one encryption and one
    /// signature (SPEC.md §13.3). [`GroupSession::send`] is what messengers should use.
    ///
    /// # Errors
    /// [`GroupError::DistributionPending`] if our sender key must first be rotated or sent to
    /// a member (call [`GroupSession::distribution`]); [`GroupError::TooLarge`] beyond 1 MiB.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, GroupError> {
        self.ready(now_ms)?;
        if plaintext.len() > crate::wire::MAX_PLAINTEXT_LEN {
            return Err(GroupError::TooLarge);
        }
        let (chain, mk) = self.sending.next().ok_or(GroupError::DistributionPending)?;
        let mut seed = [0u8; crate::kdf::SEED_LEN];
        rng.fill_bytes(&mut seed);
        let mut out = Vec::with_capacity(plaintext.len() + GROUP_OVERHEAD);
        encode_header(
            &mut out,
            &self.group_id,
            self.sending.id,
            self.sending.iteration,
            &seed,
        );
        let ad = associated_data(&self.local, &out);
        cipher::seal_with(&mk.expand(&seed), &ad, plaintext, &mut out)
            .map_err(|_| GroupError::TooLarge)?;
        let signature = self.sending.sign(&signed_bytes(&self.local, &out));
        out.extend_from_slice(&signature);
        self.sending.advance(chain);
        Ok(out)
    }

    /// Decrypts a group message from `sender` — the identity an authenticated channel names
    /// (the sealed envelope's certificate, [`SealedRecipient`](crate::SealedRecipient)); a
    /// message signed by another member's sender key fails.
    ///
    /// # Errors
    /// [`GroupError::Decode`], [`GroupError::WrongGroup`], [`GroupError::NotAMember`],
    /// [`GroupError::UnknownSenderKey`], [`GroupError::InvalidSignature`],
    /// [`GroupError::DuplicateMessage`], [`GroupError::TooFarInFuture`],
    /// [`GroupError::DecryptionFailed`]; the group is unchanged.
    pub fn decrypt(&mut self, sender: &IdentityKey, message: &[u8]) -> Result<Vec<u8>, GroupError> {
        self.decrypt_at(sender, message, u64::MAX)
    }

    fn decrypt_at(
        &mut self,
        sender: &IdentityKey,
        message: &[u8],
        now_ms: u64,
    ) -> Result<Vec<u8>, GroupError> {
        let m = GroupMessage::decode(message)?;
        if m.group_id != self.group_id {
            return Err(GroupError::WrongGroup);
        }
        let limits = self.config.limits;
        let member = self.member_mut(sender)?;
        let key = member
            .keys
            .iter_mut()
            .find(|k| k.id == m.key_id)
            .ok_or(GroupError::UnknownSenderKey(m.key_id))?;
        key.decrypt(sender, &m, &limits, now_ms)
    }

    /// Sends an application message to the group inside a padded content frame stamped with
    /// `now_ms` and the group's timer (SPEC.md §8, §13.3).
    ///
    /// # Errors
    /// As [`GroupSession::encrypt`].
    pub fn send<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
        body: &[u8],
    ) -> Result<Vec<u8>, GroupError> {
        self.send_kind(rng, now_ms, ContentKind::Message, body)
    }

    /// [`GroupSession::send`] of another content kind (an attachment descriptor, SPEC.md §14.4).
    pub(crate) fn send_kind<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
        kind: ContentKind,
        body: &[u8],
    ) -> Result<Vec<u8>, GroupError> {
        self.ready(now_ms)?;
        let frame = zeroize::Zeroizing::new(
            padded_frame(kind, now_ms, &self.timer, body).map_err(|_| GroupError::TooLarge)?,
        );
        self.encrypt(rng, now_ms, &frame)
    }

    /// Changes the group's disappearing-message timer: it applies here at once and travels to
    /// the members as a timer-update group message (returned), as for a session (SPEC.md §8.3).
    ///
    /// # Errors
    /// [`GroupError::DistributionPending`] first, then [`GroupError::TimerVersionExhausted`]
    /// once the timer's version is `u32::MAX`. On any error the group is unchanged.
    pub fn set_timer<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
        duration_s: u32,
        start: TimerStart,
    ) -> Result<Vec<u8>, GroupError> {
        self.ready(now_ms)?;
        let timer = self
            .timer
            .successor(duration_s, start)
            .ok_or(GroupError::TimerVersionExhausted)?;
        let frame = Content::timer_update(now_ms, timer)
            .to_padded_bytes()
            .map_err(|_| GroupError::TooLarge)?;
        let out = self.encrypt(rng, now_ms, &frame)?;
        self.timer = timer;
        Ok(out)
    }

    /// Receives a message sent with [`GroupSession::send`] or [`GroupSession::set_timer`] by
    /// `sender` (see [`GroupSession::decrypt`]) at `now_ms` on our clock. As for a session, every
    /// `Ok` changed the group (save it) and an `Err` changed nothing.
    ///
    /// # Errors
    /// As [`GroupSession::decrypt`].
    pub fn receive(
        &mut self,
        sender: &IdentityKey,
        message: &[u8],
        now_ms: u64,
    ) -> Result<Receipt, GroupError> {
        let plaintext = zeroize::Zeroizing::new(self.decrypt_at(sender, message, now_ms)?);
        Ok(receive_frame(
            &plaintext,
            &mut self.timer,
            now_ms,
            Channel::Group,
        ))
    }

    /// Deletes stored skipped keys that could only open messages already expired at `now_ms`
    /// under the group's timer, as [`Session::purge`](crate::Session::purge) does. Returns how
    /// many were deleted.
    pub fn purge(&mut self, now_ms: u64) -> usize {
        if self.timer.duration_s == 0 {
            return 0;
        }
        let keep_ms = u64::from(self.timer.duration_s) * 1000 + 2 * MAX_CLOCK_SKEW_MS;
        self.members
            .values_mut()
            .flat_map(|m| m.keys.iter_mut())
            .map(|k| k.purge(now_ms, keep_ms))
            .sum()
    }

    /// The group's timer as this device knows it.
    pub fn timer(&self) -> Timer {
        self.timer
    }

    /// The number of skipped message keys held for all members.
    pub fn skipped_key_count(&self) -> usize {
        self.members
            .values()
            .flat_map(|m| m.keys.iter())
            .map(ReceivingKey::skipped_len)
            .sum()
    }

    /// `DistributionPending` while a rotation is due or a member lacks our key: checked first by
    /// every send (SPEC.md §13.5).
    fn ready(&self, now_ms: u64) -> Result<(), GroupError> {
        if self.rotation_due(now_ms) || self.members.values().any(|m| !m.has_our_key) {
            Err(GroupError::DistributionPending)
        } else {
            Ok(())
        }
    }

    fn member_mut(&mut self, sender: &IdentityKey) -> Result<&mut Member, GroupError> {
        self.members
            .get_mut(sender.as_bytes())
            .ok_or(GroupError::NotAMember)
    }
}

impl fmt::Debug for GroupSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSession")
            .field("group_id", &self.group_id)
            .field("local", &self.local)
            .field("members", &self.members.len())
            .field("sending", &self.sending)
            .finish_non_exhaustive()
    }
}
