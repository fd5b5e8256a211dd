//! What receiving a message did (SPEC.md §8.5): every outcome that changed the session is a
//! `Receipt`.

use alloc::vec::Vec;

use crate::content::{ContentKind, Deadline, Timer};
use crate::error::DecodeError;

#[allow(unused_imports)] // named by the docs
use super::Session;

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
#[derive(Clone, Debug, PartialEq, Eq)]
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
