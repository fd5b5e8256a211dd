//! §8 on a session: `send`, `set_timer`, `receive` with its timer and deadline, `purge`.

use super::{Error, Session};
use crate::common::state_codec::Ratchet;
use crate::frame::{self, Deadline, Frame, Kind, Start, Timer};
use crate::util::Rng;

/// A framed message as `receive` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub kind: Kind,
    pub body: Vec<u8>,
    pub sent_at_ms: u64,
    pub timer: Timer,
    pub deadline: Deadline,
    pub timer_changed: bool,
}

impl Session {
    /// §8.3 `send`.
    pub fn send(&mut self, rng: &mut Rng, now_ms: u64, body: &[u8]) -> Result<Vec<u8>, Error> {
        let f = Frame {
            kind: Kind::Message,
            sent_at_ms: now_ms,
            timer: self.timer,
            body: body.to_vec(),
        };
        let bytes = frame::encode(&f).map_err(|_| Error::TooLarge)?;
        self.encrypt(rng, &bytes)
    }

    /// §8.3 `set_timer`.
    pub fn set_timer(
        &mut self,
        rng: &mut Rng,
        now_ms: u64,
        duration_s: u32,
        start: Start,
    ) -> Result<Vec<u8>, Error> {
        let version = self
            .timer
            .version
            .checked_add(1)
            .ok_or(Error::TimerVersionExhausted)?;
        let timer = Timer {
            duration_s,
            start: if duration_s == 0 {
                Start::OnSend
            } else {
                start
            },
            version,
        };
        let f = Frame {
            kind: Kind::TimerUpdate,
            sent_at_ms: now_ms,
            timer,
            body: Vec::new(),
        };
        let bytes = frame::encode(&f).map_err(|_| Error::TooLarge)?;
        let wire = self.encrypt(rng, &bytes)?;
        self.timer = timer;
        Ok(wire)
    }

    /// §8.4–§8.5 after authentication: the frame, the timer, then the deadline.
    pub(crate) fn take_frame(&mut self, plaintext: &[u8], now_ms: u64) -> Result<Received, Error> {
        let f = frame::decode(plaintext).map_err(Error::InvalidContent)?;
        let timer_changed = f.timer.supersedes(&self.timer);
        if timer_changed {
            self.timer = f.timer;
        }
        let effective = Timer::more_private(&f.timer, &self.timer);
        let deadline = frame::deadline(f.sent_at_ms, &effective, now_ms).ok_or(Error::Expired)?;
        Ok(Received {
            kind: f.kind,
            body: f.body,
            sent_at_ms: f.sent_at_ms,
            timer: f.timer,
            deadline,
            timer_changed,
        })
    }

    /// §8 `receive`: keys it skips record `skipped_at = now` (§8.6).
    pub fn receive(&mut self, message: &[u8], now_ms: u64) -> Result<Received, Error> {
        let plaintext = self.decrypt_with(message, now_ms)?;
        self.take_frame(&plaintext, now_ms)
    }

    /// §8.6 `purge`, under the session's timer now (not the one of the skip).
    pub fn purge(&mut self, now_ms: u64) -> usize {
        let timer = self.timer;
        let Ratchet::Open(o) = &mut self.ratchet else {
            return 0;
        };
        let before = o.skipped.len();
        o.skipped
            .retain(|e| !frame::purgeable(e.skipped_at, &timer, now_ms));
        before - o.skipped.len()
    }
}
