//! Error types: one for parsing bytes ([`DecodeError`]), one for protocol operations ([`Error`]).
//!
//! Every variant is something an application can act on; none carries secret material.
//! SPEC.md §11 lists which operation returns which variant.

use core::fmt;

/// Why a byte string from the network or from storage was rejected.
///
/// Decoders are strict (SPEC.md §2): a value has exactly one accepted encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the structure did.
    Truncated,
    /// Bytes remained after a complete structure.
    TrailingBytes,
    /// The version byte is not one this library speaks.
    UnknownVersion(u8),
    /// The type or kind byte is not defined.
    UnknownType(u8),
    /// A field has a value outside its defined range (a flag that is not 0 or 1, a length over
    /// its limit, a second encoding of the same value, a duplicate entry).
    NonCanonical,
    /// A public key is not a valid, canonical, non-weak key of its kind.
    InvalidKey,
    /// The input is larger than the format allows.
    TooLarge,
    /// A persisted blob failed its integrity check (bit rot, truncation or editing).
    ChecksumMismatch,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("input is truncated"),
            Self::TrailingBytes => f.write_str("input has trailing bytes"),
            Self::UnknownVersion(v) => write!(f, "unknown version {v}"),
            Self::UnknownType(t) => write!(f, "unknown type {t}"),
            Self::NonCanonical => f.write_str("field is out of range or not canonical"),
            Self::InvalidKey => f.write_str("invalid public key"),
            Self::TooLarge => f.write_str("input is too large"),
            Self::ChecksumMismatch => f.write_str("stored state failed its integrity check"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why a protocol operation (X3DH, encrypt, decrypt) failed.
///
/// A failed decrypt never changes the session (SPEC.md §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input could not be parsed.
    Decode(DecodeError),
    /// A signed prekey signature failed strict Ed25519 verification.
    InvalidSignature,
    /// A Diffie-Hellman result was all zero: the peer sent a low-order point.
    NonContributory,
    /// The message names a signed prekey this store does not hold (it was rotated out).
    UnknownSignedPreKey(u32),
    /// The message names a one-time prekey this store does not hold (already used, or never
    /// issued). Never retry with another key.
    UnknownOneTimePreKey(u32),
    /// The message names a KEM prekey (SPEC.md §4.5) this store does not hold: a one-time one
    /// already used or never issued, or a last-resort one rotated out.
    UnknownKemPreKey(u32),
    /// The message was already decrypted, or its key was discarded (evicted from the
    /// skipped-key store by count, by age or by `purge`) while its chain is still known. A late
    /// message of a chain the session no longer knows (beyond `max_old_chains`) is
    /// [`Error::DecryptionFailed`] instead (SPEC.md §6.4). For a first message: already accepted.
    DuplicateMessage,
    /// The message would make the session derive more keys than [`Limits::max_skip`] allows.
    ///
    /// [`Limits::max_skip`]: crate::Limits::max_skip
    TooFarInFuture,
    /// Authentication failed: the message was forged, damaged, or is not for this session.
    DecryptionFailed,
    /// A prekey message was handed to a session it does not belong to.
    SessionMismatch,
    /// The sending chain reached its counter limit; the peer must reply (turning the ratchet)
    /// before more messages can be sent.
    ChainExhausted,
    /// An input or argument exceeds its documented bound: a plaintext or application context
    /// longer than the format allows, or a count beyond a store's limit.
    TooLarge,
    /// A limit in [`Limits`](crate::Limits) is zero or inconsistent.
    InvalidLimits,
    /// The prekey store has no signed prekey yet.
    NoSignedPreKey,
    /// A normal message was passed where a prekey message is required.
    NotPreKeyMessage,
    /// The peer's identity key is not the one the application trusts for this peer.
    UntrustedIdentity,
    /// The message authenticated but had already expired when it arrived; its key is deleted.
    Expired,
    /// The message authenticated but its content frame is malformed; its key is deleted.
    InvalidContent(DecodeError),
    /// The signed prekey with this id has accepted as many first messages without a one-time
    /// prekey as it can remember ([`MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY`]); it refuses more so
    /// that none can be replayed. Rotate the signed prekey and publish the new bundle.
    ///
    /// [`MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY`]: crate::prekeys::MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY
    SignedPreKeyFull(u32),
    /// The bundle has no KEM prekey, or the first message is a version `0x01` (X3DH) one, and
    /// the [`Config`](crate::Config) does not allow classical sessions (SPEC.md §4.5): starting
    /// it would give up post-quantum protection. Nothing changed.
    ClassicalHandshake,
    /// The conversation's timer version reached its maximum (only a peer that sent version
    /// 2^32 − 1 can cause this); the timer of this session can no longer change.
    TimerVersionExhausted,
    /// The device is not on the contact's signed device list (SPEC.md §15.3): nothing is
    /// encrypted to it. A server handing out a "ghost" device's bundle gets this.
    UnknownDevice,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "malformed input: {e}"),
            Self::InvalidSignature => f.write_str("invalid signature"),
            Self::NonContributory => f.write_str("non-contributory Diffie-Hellman result"),
            Self::UnknownSignedPreKey(id) => write!(f, "unknown signed prekey {id}"),
            Self::UnknownOneTimePreKey(id) => write!(f, "unknown one-time prekey {id}"),
            Self::UnknownKemPreKey(id) => write!(f, "unknown KEM prekey {id}"),
            Self::DuplicateMessage => f.write_str("duplicate or expired message"),
            Self::TooFarInFuture => f.write_str("message counter is beyond the skip limit"),
            Self::DecryptionFailed => f.write_str("message authentication failed"),
            Self::SessionMismatch => f.write_str("prekey message does not belong to this session"),
            Self::ChainExhausted => f.write_str("sending chain exhausted"),
            Self::TooLarge => f.write_str("input too large"),
            Self::InvalidLimits => f.write_str("invalid limits"),
            Self::NoSignedPreKey => f.write_str("no signed prekey"),
            Self::NotPreKeyMessage => f.write_str("not a prekey message"),
            Self::UntrustedIdentity => f.write_str("untrusted identity key"),
            Self::Expired => f.write_str("message expired before it arrived"),
            Self::InvalidContent(e) => write!(f, "malformed content frame: {e}"),
            Self::SignedPreKeyFull(id) => {
                write!(
                    f,
                    "signed prekey {id} accepts no more first messages; rotate it"
                )
            }
            Self::TimerVersionExhausted => f.write_str("timer version exhausted"),
            Self::UnknownDevice => f.write_str("device not on the contact's device list"),
            Self::ClassicalHandshake => {
                f.write_str("classical (X3DH) handshake refused: no KEM prekey")
            }
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Decode(e) | Self::InvalidContent(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}
