//! Why a sealed envelope was rejected (SPEC.md §9.4).

use core::fmt;

use crate::error::{DecodeError, Error};
use crate::group::GroupError;

/// Why a sealed envelope was rejected. Variants name the check that failed; none carries
/// secret material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealedSenderError {
    /// The envelope, certificate or inner payload could not be parsed.
    Decode(DecodeError),
    /// The envelope was not sealed to us, or was altered.
    DecryptionFailed,
    /// The ephemeral or sender key was a low-order point.
    NonContributory,
    /// A certificate signature does not verify against the trust roots and server key.
    InvalidCertificate,
    /// The sender certificate had expired at the given time.
    CertificateExpired,
    /// The server that signed the sender certificate is revoked.
    RevokedServer,
    /// The certified identity differs from the key that sealed the envelope, or from the
    /// session's peer.
    SenderIdentityMismatch,
    /// The envelope was sealed by our own identity.
    SelfSend,
    /// The inner session message was rejected.
    Session(Error),
    /// The message given to [`seal`](super::seal) is longer than [`MAX_SEALED_MESSAGE_LEN`](super::MAX_SEALED_MESSAGE_LEN)
    /// (for a group, [`MAX_MULTI_MESSAGE_LEN`](super::MAX_MULTI_MESSAGE_LEN)), or a group has more
    /// members than an envelope holds.
    TooLarge,
    /// The group message inside a multi-recipient envelope was rejected by the group.
    Group(GroupError),
    /// The certificate names a device that is not on the sender's signed device list, or not
    /// under that device id (SPEC.md §15.3): the message is not delivered.
    UnknownDevice,
}

impl fmt::Display for SealedSenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "malformed sealed envelope: {e}"),
            Self::DecryptionFailed => f.write_str("sealed envelope failed authentication"),
            Self::NonContributory => f.write_str("non-contributory Diffie-Hellman result"),
            Self::InvalidCertificate => f.write_str("invalid sender certificate"),
            Self::CertificateExpired => f.write_str("sender certificate expired"),
            Self::RevokedServer => f.write_str("sender certificate signed by a revoked server"),
            Self::SenderIdentityMismatch => f.write_str("sender identity does not match"),
            Self::SelfSend => f.write_str("envelope sealed by ourselves"),
            Self::Session(e) => write!(f, "inner message rejected: {e}"),
            Self::TooLarge => f.write_str("message too large to seal"),
            Self::Group(e) => write!(f, "group message rejected: {e}"),
            Self::UnknownDevice => f.write_str("sender device not on the sender's device list"),
        }
    }
}

impl core::error::Error for SealedSenderError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            Self::Session(e) => Some(e),
            Self::Group(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for SealedSenderError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl From<Error> for SealedSenderError {
    fn from(e: Error) -> Self {
        match e {
            Error::NonContributory => Self::NonContributory,
            Error::Decode(d) => Self::Decode(d),
            other => Self::Session(other),
        }
    }
}
