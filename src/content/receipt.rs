//! What receiving a content frame did (SPEC.md §8.5): every outcome that changed a session or a
//! group is a `Receipt`. One function turns a decrypted frame into one, for both.

use alloc::vec::Vec;

use super::{Content, ContentKind, Deadline, Timer};
use crate::error::DecodeError;

#[allow(unused_imports)] // named by the docs
use crate::session::Session;

/// What [`Session::receive`] did with an authentic message (SPEC.md §8.5). Every variant means
/// the session changed — the message key is consumed, so save the session — and none can be
/// received again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// A message or timer update to deliver, with its deadline.
    Message(Received),
    /// The message had expired before it arrived: show nothing. A newer timer it carried was
    /// applied (`timer_changed`: tell the user, as for a timer update).
    Expired {
        /// Whether the message changed the session's timer.
        timer_changed: bool,
    },
    /// The message authenticated but its content frame does not parse (a bug of the peer's
    /// client, never a network error): nothing to show.
    Unreadable(DecodeError),
}

impl Receipt {
    /// The message, if this receipt delivers one.
    pub fn message(&self) -> Option<&Received> {
        match self {
            Self::Message(received) => Some(received),
            _ => None,
        }
    }

    /// The message, if this receipt delivers one, by value.
    pub fn into_message(self) -> Option<Received> {
        match self {
            Self::Message(received) => Some(received),
            _ => None,
        }
    }
}

/// A message received through [`Session::receive`]: its content frame, and when to delete it.
///
/// The body of a [`ContentKind::SenderKeyDistribution`] or [`ContentKind::Attachment`] frame
/// holds a key (secret): its `Debug` shows only its length; parse it with
/// [`SenderKeyDistribution::from_bytes`](crate::group::SenderKeyDistribution::from_bytes) or
/// [`AttachmentDescriptor::from_bytes`](crate::attachment::AttachmentDescriptor::from_bytes),
/// which wipe their keys, and drop the `Received` at once (its body is not wiped).
#[derive(Clone, PartialEq, Eq)]
pub struct Received {
    /// What the frame carried.
    pub kind: ContentKind,
    /// The application's bytes (empty for a timer update).
    pub body: Vec<u8>,
    /// The sender's clock when it sent the message (ms since the Unix epoch).
    pub sent_at_ms: u64,
    /// The timer the sender applied to this message.
    pub timer: Timer,
    /// When to delete the message: from the more private of [`Received::timer`] and the
    /// session's timer after this message (SPEC.md §8.5).
    pub deadline: Deadline,
    /// Whether this message changed the session's timer (it carried a newer one).
    pub timer_changed: bool,
}

/// Where a frame arrived, which decides what it may carry and change.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// A pairwise session: any kind; the peer's timer applies as §8.4 says.
    Pairwise,
    /// A group (SPEC.md §13.3): no sender key (one travels only where its sender is known), and
    /// a timer at most [`MAX_GROUP_TIMER_STEP`] versions ahead of ours.
    Group,
}

/// How far ahead of a group's timer version a frame's timer may be and still apply: one member
/// cannot spend the whole version space at once for everyone (SPEC.md §13.3). Far more timer
/// changes than any conversation makes, so honest members that missed some still converge.
pub(crate) const MAX_GROUP_TIMER_STEP: u32 = 1 << 16;

/// Reads a decrypted frame against the conversation's `timer` at `now_ms`: applies a newer timer
/// it carries, and computes the deadline from the more private of its timer and the
/// conversation's (SPEC.md §8.4–§8.5). Nothing is applied from a frame the channel refuses.
pub(crate) fn receive_frame(
    plaintext: &[u8],
    timer: &mut Timer,
    now_ms: u64,
    channel: Channel,
) -> Receipt {
    let mut content = match Content::from_padded_bytes(plaintext) {
        Ok(content) => content,
        Err(e) => return Receipt::Unreadable(e),
    };
    if channel == Channel::Group && content.kind == ContentKind::SenderKeyDistribution {
        return Receipt::Unreadable(DecodeError::UnknownType(0x03));
    }
    let within_step = channel == Channel::Pairwise
        || content.timer.version <= timer.version.saturating_add(MAX_GROUP_TIMER_STEP);
    let timer_changed = within_step && content.timer.supersedes(timer);
    if timer_changed {
        *timer = content.timer;
    }
    let sender_timer = content.timer;
    // A message that arrives after a newer timer is judged by the more private of its own
    // timer and the conversation's: a late message sent while the timer was off must not
    // outlive the messages around it, and one sent under a shorter timer keeps it
    // (SPEC.md §8.5).
    content.timer = Timer::more_private(&sender_timer, timer);
    let deadline = match content.deadline(now_ms) {
        Some(deadline) => deadline,
        // A sender key is key material, not something shown: dropping it would leave every
        // later group message of its sender unreadable. Delete the record of it at once
        // (SPEC.md §8.5, §13.2).
        None if content.kind == ContentKind::SenderKeyDistribution => Deadline::At(now_ms),
        None => return Receipt::Expired { timer_changed },
    };
    Receipt::Message(Received {
        kind: content.kind,
        body: content.body,
        sent_at_ms: content.sent_at_ms,
        timer: sender_timer,
        deadline,
        timer_changed,
    })
}

impl core::fmt::Debug for Received {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("Received");
        d.field("kind", &self.kind);
        if matches!(
            self.kind,
            ContentKind::SenderKeyDistribution | ContentKind::Attachment
        ) {
            d.field("body", &format_args!("<secret: {} bytes>", self.body.len()));
        } else {
            d.field("body", &self.body);
        }
        d.field("sent_at_ms", &self.sent_at_ms)
            .field("timer", &self.timer)
            .field("deadline", &self.deadline)
            .field("timer_changed", &self.timer_changed)
            .finish()
    }
}
