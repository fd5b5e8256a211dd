//! Why an attachment operation failed (SPEC.md §14.5).

use core::fmt;

use crate::error::DecodeError;

/// Why sealing or opening an attachment stream failed. Every failed call leaves the encryptor or
/// decryptor as it was (a chunk that failed can be fetched again and retried); the buffer passed
/// in is unchanged.
///
/// Authenticated encryption cannot tell *why* a chunk does not open under its index — altered,
/// moved, repeated, or from another stream all look alike — so those are one error,
/// [`AttachmentError::ChunkAuthentication`], naming the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The header, a chunk or the stream is shorter than the format allows: a chunk shorter
    /// than its tag, or a stream whose last chunk is a full one (its short final chunk is
    /// missing, so the stream was cut).
    Truncated,
    /// Bytes follow the stream's final (short) chunk.
    TrailingData,
    /// The header's commitment does not match the key and context: a wrong key or context, or
    /// an altered salt or commitment. Checked before any chunk is opened.
    WrongKey,
    /// Chunk `n` does not open under its index: it was altered, reordered, duplicated, or belongs
    /// to another stream.
    ChunkAuthentication(u64),
    /// The stored stream is not the one the descriptor's digest names: another stream sealed
    /// under the same key (by any holder of the descriptor), checked before the final chunk
    /// is opened.
    DigestMismatch,
    /// A group attachment needs a digest ([`AttachmentEncryptor::with_digest`](super::AttachmentEncryptor::with_digest)):
    /// every member holds the key, and only the digest stops one from replacing the file.
    DigestRequired,
    /// Sending to the group failed.
    Group(crate::group::GroupError),
    /// Chunk `n` opened, but the padding after the attachment's last byte is not all zeros
    /// (only its sender can make such a stream).
    InvalidPadding(u64),
    /// A chunk of the wrong length was given: more than a chunk to seal, other than
    /// [`AttachmentEncryptor::next_input_len`](super::AttachmentEncryptor::next_input_len)
    /// bytes of an attachment, or a sealed chunk whose length does not match its index.
    InvalidChunkLength,
    /// The stream has no chunk with this index.
    NoSuchChunk(u64),
    /// The final chunk was already sealed: the stream is complete.
    Finished,
    /// [`AttachmentEncryptor::finish`](super::AttachmentEncryptor::finish) before every chunk
    /// was sealed.
    NotFinished,
    /// The attachment or stream is larger than the format allows (SPEC.md §14.1, §14.3), or a
    /// descriptor field is over its limit.
    TooLarge,
    /// An attachment descriptor could not be parsed.
    Decode(DecodeError),
}

impl fmt::Display for AttachmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("encrypted stream is truncated"),
            Self::TrailingData => f.write_str("data after the stream's final chunk"),
            Self::WrongKey => f.write_str("wrong key or context, or an altered stream header"),
            Self::ChunkAuthentication(n) => write!(f, "chunk {n} failed authentication"),
            Self::DigestMismatch => f.write_str("stored stream does not match the digest"),
            Self::DigestRequired => f.write_str("a group attachment needs a digest"),
            Self::Group(e) => write!(f, "group: {e}"),
            Self::InvalidPadding(n) => write!(f, "chunk {n} has non-zero padding"),
            Self::InvalidChunkLength => f.write_str("chunk of the wrong length"),
            Self::NoSuchChunk(n) => write!(f, "the stream has no chunk {n}"),
            Self::Finished => f.write_str("the stream's final chunk was already sealed"),
            Self::NotFinished => f.write_str("not every chunk of the attachment was sealed"),
            Self::TooLarge => f.write_str("attachment or field too large"),
            Self::Decode(e) => write!(f, "malformed attachment descriptor: {e}"),
        }
    }
}

impl core::error::Error for AttachmentError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            Self::Group(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for AttachmentError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}
