//! Why a group operation failed (SPEC.md §13.6).

use core::fmt;

use crate::error::DecodeError;

/// Why a group operation failed. Every failed call leaves the group exactly as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupError {
    /// A group message or sender key distribution could not be parsed.
    Decode(DecodeError),
    /// The message or distribution belongs to another group.
    WrongGroup,
    /// The sender is not a member of this group (or is ourselves).
    NotAMember,
    /// No sender key with this id is held for the sender: ask the sender to distribute its
    /// current key again (it may have rotated, or the distribution was lost).
    UnknownSenderKey(u32),
    /// The sender key's signature over the message does not verify (`verify_strict`).
    InvalidSignature,
    /// This message was already received, or its key was dropped by the limits.
    DuplicateMessage,
    /// The message is further ahead in its chain than the limits allow.
    TooFarInFuture,
    /// The message was altered (the AEAD tag does not verify).
    DecryptionFailed,
    /// Our sender key must be rotated (after a removal, or by the rotation policy) or a member
    /// still lacks it: call [`GroupSession::distribution`](super::GroupSession::distribution)
    /// and deliver it before sending.
    DistributionPending,
    /// The distribution named to `mark_distributed` is not our current sender key at its
    /// current iteration: we rotated or sent since it was made. Send the member the one
    /// [`GroupSession::distribution`](super::GroupSession::distribution) returns now.
    StaleDistribution,
    /// The group would hold more members than its limits allow, or a message is too large.
    TooLarge,
    /// A limit is zero or above its ceiling.
    InvalidLimits,
    /// The group's timer is at its last version and cannot change any more (SPEC.md §8.3).
    TimerVersionExhausted,
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "malformed group message: {e}"),
            Self::WrongGroup => f.write_str("message of another group"),
            Self::NotAMember => f.write_str("sender is not a member of the group"),
            Self::UnknownSenderKey(id) => write!(f, "no sender key {id} held for this sender"),
            Self::InvalidSignature => f.write_str("invalid sender key signature"),
            Self::DuplicateMessage => f.write_str("duplicate group message"),
            Self::TooFarInFuture => f.write_str("group message too far ahead in its chain"),
            Self::DecryptionFailed => f.write_str("group message failed authentication"),
            Self::DistributionPending => {
                f.write_str("sender key must be rotated or distributed before sending")
            }
            Self::StaleDistribution => {
                f.write_str("distribution is not our current sender key at its current iteration")
            }
            Self::TooLarge => f.write_str("too many members or too large a message"),
            Self::InvalidLimits => f.write_str("invalid group limits"),
            Self::TimerVersionExhausted => f.write_str("group timer version exhausted"),
        }
    }
}

impl core::error::Error for GroupError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for GroupError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}
