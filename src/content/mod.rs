//! The content frame: what travels *inside* the encryption of a message (SPEC.md §8).
//!
//! Content type, the sender's timestamp, the disappearing-message timer and padding all sit
//! under the AEAD, so a relay can neither read, strip nor alter them. The frame is padded to a
//! size bucket so that the ciphertext length reveals little about the text.

use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::error::DecodeError;
pub use crate::padding::{MIN_PADDED_LEN, padded_len};

mod receipt;

pub(crate) use receipt::{Channel, receive_frame};
pub use receipt::{Receipt, Received};

/// Version byte of the content frame.
pub const CONTENT_VERSION: u8 = 0x01;
/// Bytes of the frame before the body.
pub const FRAME_HEADER_LEN: usize = 1 + 1 + 8 + 4 + 1 + 4 + 4;
/// The longest frame: a frame travels as one session message's plaintext, whose bound
/// (`wire::MAX_PLAINTEXT_LEN`, 1 MiB) it equals; the session checks the two agree.
pub const MAX_FRAME_LEN: usize = 1 << 20;
/// How far the sender's clock may be ahead of or behind ours (5 minutes), in milliseconds.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentKind {
    /// An application message; the body is opaque to the library.
    Message,
    /// A change of the conversation's timer; the body is empty.
    TimerUpdate,
    /// A group member's sender key, sent over the pairwise session to each member (SPEC.md
    /// §13.2); the body is a [`SenderKeyDistribution`](crate::group::SenderKeyDistribution).
    /// Never reported as expired: the group needs the key whatever the timer says.
    SenderKeyDistribution,
    /// A pointer to an encrypted attachment (SPEC.md §14.4); the body is an
    /// [`AttachmentDescriptor`](crate::attachment::AttachmentDescriptor), which holds its key.
    Attachment,
}

impl ContentKind {
    fn byte(self) -> u8 {
        match self {
            Self::Message => 0x01,
            Self::TimerUpdate => 0x02,
            Self::SenderKeyDistribution => 0x03,
            Self::Attachment => 0x04,
        }
    }

    fn from_byte(b: u8) -> Result<Self, DecodeError> {
        match b {
            0x01 => Ok(Self::Message),
            0x02 => Ok(Self::TimerUpdate),
            0x03 => Ok(Self::SenderKeyDistribution),
            0x04 => Ok(Self::Attachment),
            other => Err(DecodeError::UnknownType(other)),
        }
    }
}

/// When a disappearing message's countdown starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerStart {
    /// When it was sent (the sender's timestamp).
    OnSend,
    /// When the recipient reads it.
    OnRead,
}

/// A conversation's disappearing-message timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    /// Lifetime in seconds; 0 means messages do not expire.
    pub duration_s: u32,
    /// When the countdown starts. Always [`TimerStart::OnSend`] when the timer is off.
    pub start: TimerStart,
    /// Monotonic version: each change increments it.
    pub version: u32,
}

impl Timer {
    /// No expiry, version 0: the state of a new conversation.
    pub const OFF: Timer = Timer {
        duration_s: 0,
        start: TimerStart::OnSend,
        version: 0,
    };

    /// Whether `self` supersedes `current` (SPEC.md §8.4): a higher version wins; at equal
    /// versions the more private setting wins (a shorter non-zero duration; then on-send over
    /// on-read), so two concurrent changes resolve the same way on both sides.
    ///
    /// ```
    /// use xchat_protocol::{Timer, TimerStart};
    /// let hour = Timer { duration_s: 3600, start: TimerStart::OnSend, version: 2 };
    /// let minute = Timer { duration_s: 60, start: TimerStart::OnRead, version: 2 };
    /// assert!(minute.supersedes(&hour) && !hour.supersedes(&minute));
    /// assert!(!Timer::OFF.supersedes(&hour));
    /// ```
    pub fn supersedes(&self, current: &Timer) -> bool {
        (self.version, core::cmp::Reverse(self.privacy_rank()))
            > (current.version, core::cmp::Reverse(current.privacy_rank()))
    }

    /// The more private of two timers: the shorter non-zero duration, then on-send before
    /// on-read; "off" is the least private (SPEC.md §8.5).
    pub fn more_private(a: &Timer, b: &Timer) -> Timer {
        if b.privacy_rank() < a.privacy_rank() {
            *b
        } else {
            *a
        }
    }

    /// Lower is more private. "Off" ranks after every duration (2^32 > any u32), so distinct
    /// timers always have distinct ranks and `supersedes` is a strict total order.
    fn privacy_rank(&self) -> (u64, TimerStart) {
        let duration = if self.duration_s == 0 {
            1 << 32
        } else {
            u64::from(self.duration_s)
        };
        (duration, self.start)
    }

    /// `duration_s (u32) ‖ start (u8: 0 on-send, 1 on-read) ‖ version (u32)` (SPEC.md §8.2).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.put_u32(self.duration_s);
        out.put_u8(match self.start {
            TimerStart::OnSend => 0,
            TimerStart::OnRead => 1,
        });
        out.put_u32(self.version);
    }

    /// The inverse of [`Timer::encode`], rejecting unknown start bytes and a non-canonical "off".
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let duration_s = r.u32()?;
        let start = match r.u8()? {
            0 => TimerStart::OnSend,
            1 => TimerStart::OnRead,
            _ => return Err(DecodeError::NonCanonical),
        };
        let timer = Timer {
            duration_s,
            start,
            version: r.u32()?,
        };
        if timer.is_canonical() {
            Ok(timer)
        } else {
            Err(DecodeError::NonCanonical)
        }
    }

    /// The timer a change to `duration_s`/`start` makes: the next version, and on-send when off
    /// (the one encoding of "off"). `None` at the last version, where no change could supersede
    /// the current timer on the peer's side (SPEC.md §8.3–§8.4).
    pub(crate) fn successor(&self, duration_s: u32, start: TimerStart) -> Option<Timer> {
        Some(Timer {
            duration_s,
            start: if duration_s == 0 {
                TimerStart::OnSend
            } else {
                start
            },
            version: self.version.checked_add(1)?,
        })
    }

    pub(crate) fn is_canonical(&self) -> bool {
        self.duration_s != 0 || self.start == TimerStart::OnSend
    }
}

/// When a received message must be deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// It does not expire.
    Never,
    /// Delete at this time (milliseconds since the Unix epoch, on the receiver's clock).
    At(u64),
    /// Delete this many milliseconds after the user reads it (see [`Deadline::after_read`]).
    AfterRead(u64),
}

impl Deadline {
    /// The deadline once the message has been read at `read_at_ms`.
    pub fn after_read(self, read_at_ms: u64) -> Deadline {
        match self {
            Deadline::AfterRead(ms) => Deadline::At(read_at_ms.saturating_add(ms)),
            other => other,
        }
    }
}

/// A decoded content frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content {
    /// What the frame carries.
    pub kind: ContentKind,
    /// The sender's clock when it was sent, in milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
    /// The sender's timer for this message (and its view of the conversation's timer).
    pub timer: Timer,
    /// The application's bytes.
    pub body: Vec<u8>,
}

impl Content {
    /// The frame of a timer change (an empty body).
    pub(crate) fn timer_update(sent_at_ms: u64, timer: Timer) -> Self {
        Self {
            kind: ContentKind::TimerUpdate,
            sent_at_ms,
            timer,
            body: Vec::new(),
        }
    }
}

/// Encodes and pads a frame from its parts (one allocation: the frame itself).
pub(crate) fn padded_frame(
    kind: ContentKind,
    sent_at_ms: u64,
    timer: &Timer,
    body: &[u8],
) -> Result<Vec<u8>, DecodeError> {
    if !timer.is_canonical() || (kind == ContentKind::TimerUpdate && !body.is_empty()) {
        return Err(DecodeError::NonCanonical);
    }
    let total = padded_len(FRAME_HEADER_LEN + body.len());
    let body_len = u32::try_from(body.len()).map_err(|_| DecodeError::TooLarge)?;
    if total > MAX_FRAME_LEN {
        return Err(DecodeError::TooLarge);
    }
    let mut out = Vec::with_capacity(total);
    out.put_u8(CONTENT_VERSION);
    out.put_u8(kind.byte());
    out.put_u64(sent_at_ms);
    timer.encode(&mut out);
    out.put_u32(body_len);
    out.put(body);
    out.resize(total, 0);
    Ok(out)
}

/// The largest body a frame can carry so that the padded frame fits in one message.
pub fn max_body_len() -> usize {
    // Padmé never pads by more than 12%; search down from the raw bound for the exact value.
    let mut body = MAX_FRAME_LEN - FRAME_HEADER_LEN;
    while padded_len(FRAME_HEADER_LEN + body) > MAX_FRAME_LEN {
        body -= (padded_len(FRAME_HEADER_LEN + body) - MAX_FRAME_LEN).max(1);
    }
    body
}

impl Content {
    /// Encodes and pads the frame.
    ///
    /// # Errors
    /// [`DecodeError::TooLarge`] if the padded frame would exceed one message, and
    /// [`DecodeError::NonCanonical`] for a timer that is off but says on-read, or a timer update
    /// with a body.
    pub fn to_padded_bytes(&self) -> Result<Vec<u8>, DecodeError> {
        padded_frame(self.kind, self.sent_at_ms, &self.timer, &self.body)
    }

    /// Decodes a padded frame strictly: at most one message's plaintext long (2^20 bytes),
    /// known version and kind, canonical timer, padding of exactly the bucket length and all
    /// zero.
    ///
    /// # Errors
    /// Any [`DecodeError`]; [`DecodeError::TooLarge`] for a frame no message can carry.
    pub fn from_padded_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_FRAME_LEN {
            return Err(DecodeError::TooLarge);
        }
        let mut r = Reader::new(bytes);
        r.version(CONTENT_VERSION)?;
        let kind = ContentKind::from_byte(r.u8()?)?;
        let sent_at_ms = r.u64()?;
        let timer = Timer::decode(&mut r)?;
        let body_len = usize::try_from(r.u32()?).map_err(|_| DecodeError::TooLarge)?;
        let body = r.take(body_len)?.to_vec();
        let padding = r.rest();
        let canonical = (kind != ContentKind::TimerUpdate || body.is_empty())
            && bytes.len() == padded_len(FRAME_HEADER_LEN + body_len)
            && padding.iter().all(|b| *b == 0);
        if !canonical {
            return Err(DecodeError::NonCanonical);
        }
        Ok(Self {
            kind,
            sent_at_ms,
            timer,
            body,
        })
    }

    /// The deadline of this message received at `now_ms` (SPEC.md §8.5), or `None` if it had
    /// already expired on arrival, beyond [`MAX_CLOCK_SKEW_MS`].
    pub fn deadline(&self, now_ms: u64) -> Option<Deadline> {
        let lifetime_ms = u64::from(self.timer.duration_s) * 1000;
        match (self.timer.duration_s, self.timer.start) {
            (0, _) => Some(Deadline::Never),
            (_, TimerStart::OnRead) => Some(Deadline::AfterRead(lifetime_ms)),
            (_, TimerStart::OnSend) => {
                // A sender clock far ahead of ours must not extend the lifetime.
                let sent = self
                    .sent_at_ms
                    .min(now_ms.saturating_add(MAX_CLOCK_SKEW_MS));
                let delete_at = sent.saturating_add(lifetime_ms);
                if now_ms > delete_at.saturating_add(MAX_CLOCK_SKEW_MS) {
                    None
                } else {
                    Some(Deadline::At(delete_at))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &[u8], timer: Timer) -> Content {
        Content {
            kind: ContentKind::Message,
            sent_at_ms: 1_000_000,
            timer,
            body: body.to_vec(),
        }
    }

    #[test]
    fn the_largest_body_fits_one_message_exactly() {
        assert!(padded_len(max_body_len() + FRAME_HEADER_LEN) <= MAX_FRAME_LEN);
        assert!(padded_len(max_body_len() + 1 + FRAME_HEADER_LEN) > MAX_FRAME_LEN);
    }

    #[test]
    fn frames_round_trip_and_hide_small_lengths() {
        let timer = Timer {
            duration_s: 3600,
            start: TimerStart::OnRead,
            version: 7,
        };
        let short = msg(b"hi", timer).to_padded_bytes().unwrap();
        let longer = msg(&[7; 200], timer).to_padded_bytes().unwrap();
        assert_eq!(short.len(), MIN_PADDED_LEN);
        assert_eq!(longer.len(), MIN_PADDED_LEN);
        assert_eq!(
            Content::from_padded_bytes(&longer).unwrap(),
            msg(&[7; 200], timer)
        );
    }

    #[test]
    fn decoding_rejects_bad_padding_and_non_canonical_timers() {
        let bytes = msg(b"x", Timer::OFF).to_padded_bytes().unwrap();
        let mut dirty = bytes.clone();
        *dirty.last_mut().unwrap() = 1;
        assert_eq!(
            Content::from_padded_bytes(&dirty),
            Err(DecodeError::NonCanonical)
        );
        let mut short = bytes.clone();
        short.pop();
        assert_eq!(
            Content::from_padded_bytes(&short),
            Err(DecodeError::NonCanonical)
        );
        let mut on_read_off = bytes.clone();
        on_read_off[14] = 1; // start byte with duration 0
        assert_eq!(
            Content::from_padded_bytes(&on_read_off),
            Err(DecodeError::NonCanonical)
        );
        let mut kind = bytes;
        kind[1] = 9;
        assert_eq!(
            Content::from_padded_bytes(&kind),
            Err(DecodeError::UnknownType(9))
        );
    }

    #[test]
    fn concurrent_timer_updates_resolve_identically_on_both_sides() {
        let base = Timer {
            duration_s: 60,
            start: TimerStart::OnSend,
            version: 3,
        };
        let a = Timer {
            duration_s: 30,
            start: TimerStart::OnSend,
            version: 4,
        };
        let b = Timer {
            duration_s: 0,
            start: TimerStart::OnSend,
            version: 4,
        };
        // Alice applied a, then receives b; Bob applied b, then receives a.
        let alice = if b.supersedes(&a) { b } else { a };
        let bob = if a.supersedes(&b) { a } else { b };
        assert_eq!(alice, bob);
        assert_eq!(alice, a, "the more private setting wins a tie");
        assert!(a.supersedes(&base));
        assert!(!base.supersedes(&a), "a stale version never applies");
        assert!(!a.supersedes(&a));
        // "Off" loses to even the longest timer at the same version, in either start mode.
        for start in [TimerStart::OnSend, TimerStart::OnRead] {
            let longest = Timer {
                duration_s: u32::MAX,
                start,
                version: 4,
            };
            let off = Timer {
                version: 4,
                ..Timer::OFF
            };
            assert!(longest.supersedes(&off));
            assert!(!off.supersedes(&longest));
        }
    }

    #[test]
    fn deadlines_follow_the_timer_and_tolerate_skew() {
        let on_send = Timer {
            duration_s: 60,
            start: TimerStart::OnSend,
            version: 1,
        };
        let c = msg(b"x", on_send);
        assert_eq!(c.deadline(1_000_000), Some(Deadline::At(1_060_000)));
        // Arrives 5 minutes after its deadline: still within the skew tolerance.
        assert_eq!(
            c.deadline(1_060_000 + MAX_CLOCK_SKEW_MS),
            Some(Deadline::At(1_060_000))
        );
        assert_eq!(c.deadline(1_060_001 + MAX_CLOCK_SKEW_MS), None);
        // A sender clock an hour ahead does not extend the lifetime beyond skew + duration.
        let ahead = Content {
            sent_at_ms: 1_000_000 + 3_600_000,
            ..c.clone()
        };
        assert_eq!(
            ahead.deadline(1_000_000),
            Some(Deadline::At(1_000_000 + MAX_CLOCK_SKEW_MS + 60_000))
        );
        let on_read = msg(
            b"x",
            Timer {
                start: TimerStart::OnRead,
                ..on_send
            },
        );
        assert_eq!(
            on_read.deadline(9_999_999_999),
            Some(Deadline::AfterRead(60_000))
        );
        assert_eq!(
            Deadline::AfterRead(60_000).after_read(5),
            Deadline::At(60_005)
        );
        assert_eq!(
            msg(b"x", Timer::OFF).deadline(u64::MAX),
            Some(Deadline::Never)
        );
    }
}
