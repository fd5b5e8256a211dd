//! The messenger pipeline over a session: framed sending, timers, receiving, accepting a first
//! message, and purging (SPEC.md §8).

use alloc::vec::Vec;

use rand_core::CryptoRng;

use super::{Config, Receipt, Received, Session};
use crate::content::{
    Channel, Content, ContentKind, MAX_CLOCK_SKEW_MS, Timer, TimerStart, padded_frame,
    receive_frame,
};
use crate::error::Error;
use crate::keys::IdentityKeyPair;
use crate::prekeys::PreKeyStore;

impl Session {
    /// Sends an application message inside a padded content frame stamped with `now_ms` and the
    /// session's timer (SPEC.md §8). This is what messengers should use; [`Session::encrypt`]
    /// sends raw bytes.
    ///
    /// ```
    /// # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
    /// # use xchat_protocol::{Config, Trust, IdentityKeyPair, PreKeyStore, Session};
    /// # let mut rng = ChaCha20Rng::from_seed([5; 32]);
    /// # let (alice, bob) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
    /// # let mut store = PreKeyStore::new();
    /// # store.rotate_signed_prekey(&mut rng, &bob, 1000);
    /// # store.rotate_kem_prekey(&mut rng, &bob, 1000);
    /// # let mut to_bob = Session::initiate(&mut rng, &alice, &store.bundle(&bob, None)?, Trust::FirstUse, &Config::new(b""))?;
    /// use xchat_protocol::{Deadline, Receipt, TimerStart};
    /// let now = 1_700_000_000_000;
    /// let timer_change = to_bob.set_timer(&mut rng, now, 3600, TimerStart::OnSend)?;
    /// let message = to_bob.send(&mut rng, now, b"gone in an hour")?;
    ///
    /// let (mut to_alice, first) = Session::accept(&bob, &mut store, &timer_change, &Config::new(b""), now)?;
    /// assert!(first.timer_changed);
    /// let Receipt::Message(got) = to_alice.receive(&message, now + 1_000)? else {
    ///     panic!("delivered")
    /// };
    /// assert_eq!(got.body, b"gone in an hour");
    /// assert_eq!(got.deadline, Deadline::At(now + 3_600_000));
    /// # Ok::<(), xchat_protocol::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Session::encrypt`]; [`Error::TooLarge`] if the padded frame exceeds one message.
    pub fn send<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
        body: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.send_kind(rng, now_ms, ContentKind::Message, body)
    }

    /// [`Session::send`] of another content kind (a group's sender key, SPEC.md §13.2).
    pub(crate) fn send_kind<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
        kind: ContentKind,
        body: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let frame = zeroize::Zeroizing::new(
            padded_frame(kind, now_ms, &self.timer, body).map_err(|_| Error::TooLarge)?,
        );
        self.encrypt_inner(rng, &frame)
    }

    /// Changes the conversation's timer: the new timer gets the next version, applies to this
    /// session at once, and travels to the peer as a timer-update message (returned).
    ///
    /// # Errors
    /// As [`Session::encrypt`], and [`Error::TimerVersionExhausted`] once the version is
    /// `u32::MAX` (SPEC.md §8.3). On any error the session is unchanged.
    pub fn set_timer<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
        duration_s: u32,
        start: TimerStart,
    ) -> Result<Vec<u8>, Error> {
        // The new timer must supersede the current one, or the two sides would disagree: the
        // peer keeps the one it has while ours shows the new one. A higher version always does;
        // at the maximum none can, so the change is refused rather than applied on one side only
        // (SPEC.md §8.3–§8.4).
        let timer = self
            .timer
            .successor(duration_s, start)
            .ok_or(Error::TimerVersionExhausted)?;
        let frame = Content::timer_update(now_ms, timer)
            .to_padded_bytes()
            .map_err(|_| Error::TooLarge)?;
        let out = self.encrypt_inner(rng, &frame)?;
        self.timer = timer;
        Ok(out)
    }

    /// Receives a message sent with [`Session::send`] or [`Session::set_timer`] at `now_ms` on
    /// our clock: decrypts, removes the padding, applies a newer timer, and computes the
    /// deadline (SPEC.md §8.5).
    ///
    /// Every `Ok` changed the session (the message key is consumed: save it), also when the
    /// message turns out to have expired on arrival or to carry a malformed frame
    /// ([`Receipt::Expired`], [`Receipt::Unreadable`]); an `Err` changed nothing.
    ///
    /// # Errors
    /// As [`Session::decrypt`]; the session is unchanged.
    pub fn receive(&mut self, message: &[u8], now_ms: u64) -> Result<Receipt, Error> {
        let plaintext = zeroize::Zeroizing::new(self.decrypt_inner(message, now_ms)?);
        Ok(self.finish_receive(&plaintext, now_ms))
    }

    /// [`Session::respond`] for a first message sent with [`Session::send`]: answers the prekey
    /// message and receives its content frame.
    ///
    /// # Errors
    /// As [`Session::respond`] and [`Session::receive`]. On [`Error::Expired`] or
    /// [`Error::InvalidContent`] no session is created and the prekey store is unchanged, so
    /// the initiator's later prekey messages can still establish the session.
    pub fn accept(
        identity: &IdentityKeyPair,
        store: &mut PreKeyStore,
        message: &[u8],
        config: &Config<'_>,
        now_ms: u64,
    ) -> Result<(Self, Received), Error> {
        let (mut session, plaintext, consumed) =
            Self::respond_inner(identity, store, message, config, now_ms)?;
        let plaintext = zeroize::Zeroizing::new(plaintext);
        // An authentic first message that is malformed or already expired is rejected without
        // consuming the one-time prekey: the session is not kept, and the initiator's later
        // prekey messages (same X3DH fields) can still establish it. A replay of this message
        // is rejected the same way again. So here, unlike `receive`, these outcomes are errors:
        // nothing changed.
        let received = match session.finish_receive(&plaintext, now_ms) {
            Receipt::Message(received) => received,
            Receipt::Expired { .. } => return Err(Error::Expired),
            Receipt::Unreadable(e) => return Err(Error::InvalidContent(e)),
        };
        consumed.apply(store);
        Ok((session, received))
    }

    fn finish_receive(&mut self, plaintext: &[u8], now_ms: u64) -> Receipt {
        receive_frame(plaintext, &mut self.timer, now_ms, Channel::Pairwise)
    }

    /// Deletes every stored skipped key that could only open a message already expired at
    /// `now_ms` under the session's current timer (SPEC.md §8.6): one skipped more than the
    /// timer's duration plus twice the clock skew ago. Nothing is deleted while the timer is
    /// off, nor keys skipped by [`Session::decrypt`] (which has no clock). Returns how many were
    /// deleted. Call it periodically with the current time.
    ///
    /// ```
    /// # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
    /// # use xchat_protocol::{Config, Trust, IdentityKeyPair, PreKeyStore, Session};
    /// # let mut rng = ChaCha20Rng::from_seed([5; 32]);
    /// # let (alice, bob) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
    /// # let mut store = PreKeyStore::new();
    /// # store.rotate_signed_prekey(&mut rng, &bob, 1000);
    /// # store.rotate_kem_prekey(&mut rng, &bob, 1000);
    /// # let mut to_bob = Session::initiate(&mut rng, &alice, &store.bundle(&bob, None)?, Trust::FirstUse, &Config::new(b""))?;
    /// // Nothing is stored yet, so nothing is purged.
    /// assert_eq!(to_bob.purge(u64::MAX), 0);
    /// # Ok::<(), xchat_protocol::Error>(())
    /// ```
    pub fn purge(&mut self, now_ms: u64) -> usize {
        if self.timer.duration_s == 0 {
            return 0;
        }
        let keep_ms = u64::from(self.timer.duration_s) * 1000 + 2 * MAX_CLOCK_SKEW_MS;
        self.ratchet.purge(now_ms, keep_ms)
    }

    /// The conversation's timer as this session knows it.
    pub fn timer(&self) -> Timer {
        self.timer
    }
}
