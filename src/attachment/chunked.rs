//! C2SP chunked encryption, as Cobblestone-256 (SHA-512, AES-256-GCM): a stream of any length
//! sealed chunk by chunk, each chunk authenticated under its index (SPEC.md §14.1).
//!
//! ```text
//! stream = salt (24) ‖ commitment (32) ‖ chunk_0 ‖ … ‖ chunk_n
//! chunk_i = AES-256-GCM(key, base_nonce XOR i, aad = empty, plaintext_i)   16 400 bytes, or
//!           fewer for the final one, whose plaintext is shorter than 16 384 bytes (maybe empty)
//! ```
//!
//! The final chunk is the one that is short, so a stream cut after a full chunk, or extended
//! past its short one, is detected; the index in each nonce detects chunks moved, repeated or
//! dropped. The commitment binds the stream to its key and context: a stream opens under one key
//! only. Sans-I/O: the caller reads and writes the bytes; a call takes or returns one chunk.
//!
//! ```
//! # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//! use xchat_protocol::attachment::chunked::{ChunkedDecryptor, ChunkedEncryptor, StreamKey, CHUNK_LEN};
//! # let mut rng = ChaCha20Rng::from_seed([1; 32]);
//! let key = StreamKey::generate(&mut rng);
//! let file = vec![7u8; 40_000];
//! let (mut enc, header) = ChunkedEncryptor::new(&mut rng, &key, b"my app, backups");
//! let mut stream = header.to_vec();
//! // Full chunks, then the short final one (an empty one if the length is a multiple).
//! let mut rest = &file[..];
//! while !enc.is_finished() {
//!     let (piece, tail) = rest.split_at(rest.len().min(CHUNK_LEN));
//!     let mut buf = piece.to_vec();
//!     enc.seal_chunk(&mut buf)?;
//!     stream.extend_from_slice(&buf);
//!     rest = tail;
//! }
//! assert!(enc.is_finished());
//!
//! let (header, chunks) = stream.split_at(56);
//! let mut dec = ChunkedDecryptor::new(&key, b"my app, backups", header)?;
//! let mut out = Vec::new();
//! for sealed in chunks.chunks(CHUNK_LEN + 16) {
//!     let mut buf = sealed.to_vec();
//!     dec.open_next(&mut buf)?;
//!     out.extend_from_slice(&buf);
//! }
//! dec.finish()?; // the final chunk was seen: nothing was cut off
//! assert_eq!(out, file);
//! # Ok::<(), xchat_protocol::attachment::AttachmentError>(())
//! ```

use aes_gcm::Aes256Gcm;
use aes_gcm::Tag;
use aes_gcm::aead::AeadInOut;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::AttachmentError;
pub use crate::cipher::TAG_LEN;
use crate::cipher::aes256gcm;
use crate::kdf::chunked_keys;

/// Plaintext bytes in every chunk but the final one (which has fewer, maybe none).
pub const CHUNK_LEN: usize = 16 * 1024;
/// Bytes of a full chunk once sealed: the plaintext and its tag.
pub const SEALED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;
/// Length of the random salt at the start of a stream.
pub const SALT_LEN: usize = 24;
/// Length of the key commitment after the salt.
pub const COMMITMENT_LEN: usize = 32;
/// Length of a stream's header: salt and commitment.
pub const HEADER_LEN: usize = SALT_LEN + COMMITMENT_LEN;
/// The most chunks a stream may have: the chunk index must stay below 2^38 (C2SP).
pub const MAX_CHUNKS: u64 = 1 << 38;

/// A stream's 32-byte input key: uniformly random, secret, wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StreamKey([u8; 32]);

impl StreamKey {
    /// A fresh random key (32 bytes drawn).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        Self(key)
    }

    /// Wraps key bytes, which must be uniformly random (never a password).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key bytes (secret).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Compared in constant time.
impl PartialEq for StreamKey {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for StreamKey {}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKey(<secret>)")
    }
}

/// The shape of a stream: how many chunks it has and where each lies, from its plaintext
/// length or its encrypted length. Every valid encrypted length has exactly one layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    plaintext_len: u64,
}

impl Layout {
    /// The layout of a stream of `len` plaintext bytes.
    ///
    /// # Errors
    /// [`AttachmentError::TooLarge`] past [`MAX_CHUNKS`] chunks.
    pub fn for_plaintext(len: u64) -> Result<Self, AttachmentError> {
        if len / CHUNK_LEN as u64 >= MAX_CHUNKS {
            return Err(AttachmentError::TooLarge);
        }
        Ok(Self { plaintext_len: len })
    }

    /// The layout of a stream of `len` encrypted bytes, header included.
    ///
    /// # Errors
    /// [`AttachmentError::Truncated`] if no stream has this length (shorter than a header and
    /// a tag, or ending in a full chunk or part of a tag); [`AttachmentError::TooLarge`] past
    /// [`MAX_CHUNKS`] chunks.
    pub fn for_encrypted(len: u64) -> Result<Self, AttachmentError> {
        let body = len
            .checked_sub(HEADER_LEN as u64)
            .ok_or(AttachmentError::Truncated)?;
        let (full, rest) = (
            body / SEALED_CHUNK_LEN as u64,
            body % SEALED_CHUNK_LEN as u64,
        );
        let last = rest
            .checked_sub(TAG_LEN as u64)
            .ok_or(AttachmentError::Truncated)?;
        if full >= MAX_CHUNKS {
            return Err(AttachmentError::TooLarge);
        }
        Ok(Self {
            plaintext_len: full * CHUNK_LEN as u64 + last,
        })
    }

    /// The plaintext length.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// The encrypted length, header included.
    pub fn encrypted_len(&self) -> u64 {
        HEADER_LEN as u64 + self.plaintext_len + TAG_LEN as u64 * self.chunk_count()
    }

    /// The number of chunks: one more than the full ones (the final chunk is short, maybe
    /// empty).
    pub fn chunk_count(&self) -> u64 {
        self.plaintext_len / CHUNK_LEN as u64 + 1
    }

    /// Whether chunk `index` is the final one.
    pub fn is_final(&self, index: u64) -> bool {
        index.checked_add(1) == Some(self.chunk_count())
    }

    /// Where chunk `index` lies in the encrypted stream (header included), or `None` past the
    /// final chunk.
    pub fn encrypted_range(&self, index: u64) -> Option<Range<u64>> {
        // Past the final chunk first: then every index is below 2^38 and nothing overflows.
        let plain = self.plaintext_range(index)?;
        let start = HEADER_LEN as u64 + index * SEALED_CHUNK_LEN as u64;
        Some(start..start + (plain.end - plain.start) + TAG_LEN as u64)
    }

    /// Which plaintext bytes chunk `index` holds, or `None` past the final chunk.
    pub fn plaintext_range(&self, index: u64) -> Option<Range<u64>> {
        if index >= self.chunk_count() {
            return None;
        }
        let start = index * CHUNK_LEN as u64;
        Some(start..self.plaintext_len.min(start + CHUNK_LEN as u64))
    }

    /// The chunk that holds plaintext byte `offset` (for seeking), or `None` past the end.
    pub fn chunk_of(&self, offset: u64) -> Option<u64> {
        (offset < self.plaintext_len).then_some(offset / CHUNK_LEN as u64)
    }
}

/// One stream's AEAD and base nonce.
#[derive(Clone)]
struct ChunkCipher {
    aead: Aes256Gcm,
    base_nonce: [u8; 12],
}

impl ChunkCipher {
    /// Derives the stream's keys (SPEC.md §14.1) and returns the commitment with them.
    fn derive(key: &StreamKey, salt: &[u8; SALT_LEN], context: &[u8]) -> (Self, [u8; 32]) {
        let keys = chunked_keys(&key.0, salt, context);
        let cipher = Self {
            aead: aes256gcm(&keys.key),
            base_nonce: keys.base_nonce,
        };
        (cipher, keys.commitment)
    }

    /// `base_nonce XOR index`, the index big-endian and right-aligned.
    fn nonce(&self, index: u64) -> [u8; 12] {
        let mut nonce = self.base_nonce;
        for (n, i) in nonce.iter_mut().rev().zip(index.to_le_bytes()) {
            *n ^= i;
        }
        nonce
    }

    /// Seals `sealed[..len − 16]` in place and writes the tag into the last 16 bytes.
    fn seal(&self, index: u64, sealed: &mut [u8]) -> Result<(), AttachmentError> {
        let split = sealed
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(AttachmentError::InvalidChunkLength)?;
        let (body, tag) = sealed.split_at_mut(split);
        let t = self
            .aead
            .encrypt_inout_detached(&self.nonce(index).into(), &[], body.into())
            .map_err(|_| AttachmentError::TooLarge)?;
        tag.copy_from_slice(&t);
        Ok(())
    }

    /// Opens `sealed` in place as chunk `index`: the plaintext is then its first `len − 16`
    /// bytes (returned). On failure it is left as it was (GCM checks the tag before it
    /// decrypts).
    fn open(&self, index: u64, sealed: &mut [u8]) -> Result<usize, AttachmentError> {
        let split = sealed
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(AttachmentError::Truncated)?;
        let (body, tag) = sealed.split_at_mut(split);
        let tag = Tag::try_from(&*tag).map_err(|_| AttachmentError::Truncated)?;
        self.aead
            .decrypt_inout_detached(&self.nonce(index).into(), &[], body.into(), &tag)
            .map_err(|_| AttachmentError::ChunkAuthentication(index))?;
        Ok(split)
    }
}

impl Drop for ChunkCipher {
    fn drop(&mut self) {
        self.base_nonce.zeroize();
    }
}

/// Seals one stream, chunk by chunk (SPEC.md §14.1).
pub struct ChunkedEncryptor {
    cipher: ChunkCipher,
    next: u64,
    finished: bool,
}

impl ChunkedEncryptor {
    /// Starts a stream under `key` and `context` (any bytes, maybe empty; the decryptor must
    /// give the same), drawing the 24-byte salt. Returns the encryptor and the stream's header,
    /// which is the first [`HEADER_LEN`] bytes of the stream.
    pub fn new<R: CryptoRng + ?Sized>(
        rng: &mut R,
        key: &StreamKey,
        context: &[u8],
    ) -> (Self, [u8; HEADER_LEN]) {
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let (cipher, commitment) = ChunkCipher::derive(key, &salt, context);
        let mut header = [0u8; HEADER_LEN];
        let (s, c) = header.split_at_mut(SALT_LEN);
        s.copy_from_slice(&salt);
        c.copy_from_slice(&commitment);
        let encryptor = Self {
            cipher,
            next: 0,
            finished: false,
        };
        (encryptor, header)
    }

    /// Seals the next chunk in place: `chunk` holds its plaintext — exactly [`CHUNK_LEN`]
    /// bytes, or fewer (maybe none) for the final chunk, after which the stream is finished —
    /// and gets its tag appended (give it [`SEALED_CHUNK_LEN`] bytes of capacity to avoid a
    /// reallocation). A stream whose length is a multiple of [`CHUNK_LEN`] ends with an empty
    /// chunk.
    ///
    /// # Errors
    /// [`AttachmentError::Finished`] after the final chunk;
    /// [`AttachmentError::InvalidChunkLength`] for more than [`CHUNK_LEN`] bytes;
    /// [`AttachmentError::TooLarge`] past [`MAX_CHUNKS`]. The encryptor and `chunk` are then
    /// unchanged.
    pub fn seal_chunk(&mut self, chunk: &mut Vec<u8>) -> Result<(), AttachmentError> {
        if chunk.len() > CHUNK_LEN {
            return Err(AttachmentError::InvalidChunkLength);
        }
        let len = chunk.len();
        chunk.resize(len + TAG_LEN, 0);
        self.seal_chunk_in_place(chunk)
            .inspect_err(|_| chunk.truncate(len))
    }

    /// [`seal_chunk`](Self::seal_chunk) within the caller's memory (a mapped file, an upload
    /// buffer): `sealed` is the chunk's place in the stream — its plaintext, then 16 bytes that
    /// receive the tag — so [`SEALED_CHUNK_LEN`] bytes for a full chunk and fewer for the final
    /// one.
    ///
    /// # Errors
    /// [`AttachmentError::Finished`]; [`AttachmentError::InvalidChunkLength`] outside 16 to
    /// [`SEALED_CHUNK_LEN`] bytes; [`AttachmentError::TooLarge`]. Nothing is then changed.
    pub fn seal_chunk_in_place(&mut self, sealed: &mut [u8]) -> Result<(), AttachmentError> {
        if self.finished {
            return Err(AttachmentError::Finished);
        }
        if !(TAG_LEN..=SEALED_CHUNK_LEN).contains(&sealed.len()) {
            return Err(AttachmentError::InvalidChunkLength);
        }
        let last = sealed.len() < SEALED_CHUNK_LEN;
        if self.next + 1 >= MAX_CHUNKS && !last {
            return Err(AttachmentError::TooLarge);
        }
        self.cipher.seal(self.next, sealed)?;
        self.next += 1;
        self.finished = last;
        Ok(())
    }

    /// Whether the final chunk was sealed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// How many chunks were sealed.
    pub fn chunks_sealed(&self) -> u64 {
        self.next
    }
}

impl fmt::Debug for ChunkedEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkedEncryptor")
            .field("chunks_sealed", &self.next)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// Opens one stream: in order ([`ChunkedDecryptor::open_next`]) or any chunk alone
/// ([`ChunkedDecryptor::open_chunk`], to seek).
pub struct ChunkedDecryptor {
    cipher: ChunkCipher,
    next: u64,
    complete: bool,
}

impl ChunkedDecryptor {
    /// Checks a stream's header against `key` and `context`, before any chunk is opened.
    ///
    /// # Errors
    /// [`AttachmentError::Truncated`] for fewer than [`HEADER_LEN`] bytes,
    /// [`AttachmentError::TrailingData`] for more; [`AttachmentError::WrongKey`] if the
    /// commitment differs (compared in constant time).
    pub fn new(key: &StreamKey, context: &[u8], header: &[u8]) -> Result<Self, AttachmentError> {
        let header: &[u8; HEADER_LEN] = match header.len() {
            n if n < HEADER_LEN => return Err(AttachmentError::Truncated),
            n if n > HEADER_LEN => return Err(AttachmentError::TrailingData),
            _ => header.try_into().map_err(|_| AttachmentError::Truncated)?,
        };
        let (salt, commitment) = header.split_at(SALT_LEN);
        let salt: &[u8; SALT_LEN] = salt.try_into().map_err(|_| AttachmentError::Truncated)?;
        let (cipher, expected) = ChunkCipher::derive(key, salt, context);
        if !bool::from(expected.ct_eq(commitment)) {
            return Err(AttachmentError::WrongKey);
        }
        Ok(Self {
            cipher,
            next: 0,
            complete: false,
        })
    }

    /// Opens the next chunk in place: `chunk` holds its sealed bytes — [`SEALED_CHUNK_LEN`]
    /// for a full chunk, fewer (at least the 16-byte tag) for the final one — and becomes its
    /// plaintext. After the final chunk the stream is complete.
    ///
    /// # Errors
    /// [`AttachmentError::TrailingData`] after the final chunk;
    /// [`AttachmentError::InvalidChunkLength`] for more than [`SEALED_CHUNK_LEN`] bytes;
    /// [`AttachmentError::Truncated`] for fewer than a tag;
    /// [`AttachmentError::ChunkAuthentication`]. The decryptor and `chunk` are then unchanged.
    pub fn open_next(&mut self, chunk: &mut Vec<u8>) -> Result<(), AttachmentError> {
        let len = self.open_next_in_place(chunk)?;
        chunk.truncate(len);
        Ok(())
    }

    /// [`open_next`](Self::open_next) within the caller's memory: the plaintext is then the
    /// first bytes of `sealed`, as many as returned.
    ///
    /// # Errors
    /// As [`open_next`](Self::open_next).
    pub fn open_next_in_place(&mut self, sealed: &mut [u8]) -> Result<usize, AttachmentError> {
        if self.complete {
            return Err(AttachmentError::TrailingData);
        }
        let last = match sealed.len() {
            n if n > SEALED_CHUNK_LEN => return Err(AttachmentError::InvalidChunkLength),
            n => n < SEALED_CHUNK_LEN,
        };
        if self.next + 1 >= MAX_CHUNKS && !last {
            return Err(AttachmentError::TooLarge);
        }
        let len = self.cipher.open(self.next, sealed)?;
        self.next += 1;
        self.complete = last;
        Ok(len)
    }

    /// Opens chunk `index` alone, in place, whatever was opened before. `is_final` says whether
    /// it is the stream's final chunk ([`Layout::is_final`]); its length must agree —
    /// [`SEALED_CHUNK_LEN`] for any other, from 16 to `SEALED_CHUNK_LEN − 1` for the final
    /// one — so that opening the final chunk authenticates the stream's length.
    ///
    /// # Errors
    /// [`AttachmentError::InvalidChunkLength`], [`AttachmentError::Truncated`],
    /// [`AttachmentError::NoSuchChunk`] at or past [`MAX_CHUNKS`],
    /// [`AttachmentError::ChunkAuthentication`]; `chunk` is then unchanged.
    pub fn open_chunk(
        &self,
        index: u64,
        is_final: bool,
        chunk: &mut Vec<u8>,
    ) -> Result<(), AttachmentError> {
        let len = self.open_chunk_in_place(index, is_final, chunk)?;
        chunk.truncate(len);
        Ok(())
    }

    /// [`open_chunk`](Self::open_chunk) within the caller's memory: the plaintext is then the
    /// first bytes of `sealed`, as many as returned.
    ///
    /// # Errors
    /// As [`open_chunk`](Self::open_chunk).
    pub fn open_chunk_in_place(
        &self,
        index: u64,
        is_final: bool,
        sealed: &mut [u8],
    ) -> Result<usize, AttachmentError> {
        // A full chunk needs a chunk after it, so its index must be below 2^38 − 1.
        if index >= MAX_CHUNKS || (!is_final && index + 1 >= MAX_CHUNKS) {
            return Err(AttachmentError::NoSuchChunk(index));
        }
        let fits = if is_final {
            sealed.len() < SEALED_CHUNK_LEN
        } else {
            sealed.len() == SEALED_CHUNK_LEN
        };
        if !fits {
            return Err(AttachmentError::InvalidChunkLength);
        }
        self.cipher.open(index, sealed)
    }

    /// Whether the final chunk was opened by [`ChunkedDecryptor::open_next`], after every
    /// chunk before it.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// How many chunks [`ChunkedDecryptor::open_next`] opened.
    pub fn chunks_opened(&self) -> u64 {
        self.next
    }

    /// At the end of the input: `Ok` if the stream was complete.
    ///
    /// # Errors
    /// [`AttachmentError::Truncated`] if the final chunk was never opened (the stream was cut
    /// after a full chunk, or is empty).
    pub fn finish(&self) -> Result<(), AttachmentError> {
        if self.complete {
            Ok(())
        } else {
            Err(AttachmentError::Truncated)
        }
    }
}

impl fmt::Debug for ChunkedDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkedDecryptor")
            .field("chunks_opened", &self.next)
            .field("complete", &self.complete)
            .finish_non_exhaustive()
    }
}
