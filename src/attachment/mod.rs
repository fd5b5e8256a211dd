//! Attachments of any size and type (SPEC.md §14): a file is padded, encrypted as a C2SP chunked
//! stream (Cobblestone-256: a key commitment, then 16 KiB chunks each authenticated under its
//! index) and stored by the server as opaque bytes; the key and everything needed to fetch and
//! check it travel inside the conversation as an [`AttachmentDescriptor`], a content kind of
//! its own.
//!
//! Sans-I/O and in constant memory: the encryptor takes the file one chunk at a time and returns
//! each sealed chunk; the decryptor opens chunks in order ([`AttachmentDecryptor::open_next`],
//! which tells when the stream is complete) or any chunk alone
//! ([`AttachmentDecryptor::open_chunk`], to seek in a video).
//!
//! ```
//! # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//! use xchat_protocol::attachment::{AttachmentDecryptor, AttachmentEncryptor, AttachmentInfo};
//! # let mut rng = ChaCha20Rng::from_seed([3; 32]);
//! let photo = vec![0xAB; 100_000];
//!
//! // Sender: seal chunk by chunk, upload the header and every chunk, then describe it.
//! let mut enc = AttachmentEncryptor::new(&mut rng, photo.len() as u64)?;
//! let mut upload = enc.header().to_vec();
//! let mut rest = &photo[..];
//! while let Some(n) = enc.next_input_len() {
//!     let (piece, tail) = rest.split_at(n);
//!     let mut buf = piece.to_vec();
//!     enc.seal_next(&mut buf)?;
//!     upload.extend_from_slice(&buf);
//!     rest = tail;
//! }
//! // Padded to 100 352 bytes, in 7 chunks, plus the header and a tag per chunk.
//! assert_eq!(upload.len() as u64, enc.encrypted_len());
//! assert_eq!(enc.encrypted_len(), 56 + 100_352 + 7 * 16);
//! let info = AttachmentInfo {
//!     content_type: "image/jpeg".into(),
//!     location: b"blob/8f3a".to_vec(), // where the server stored `upload`
//!     ..AttachmentInfo::default()
//! };
//! let descriptor = enc.finish(info)?; // send it with `descriptor.send(&mut session, …)`
//!
//! // Recipient: open the chunks as they download.
//! let mut dec = AttachmentDecryptor::new(&descriptor, &upload[..56])?; // the stored header
//! let mut file = Vec::new();
//! for i in 0..dec.chunk_count() {
//!     let range = dec.encrypted_range(i).unwrap();
//!     let mut buf = upload[range.start as usize..range.end as usize].to_vec();
//!     dec.open_next(&mut buf)?;
//!     file.extend_from_slice(&buf);
//! }
//! assert!(dec.is_complete());
//! assert_eq!(file, photo);
//! # Ok::<(), xchat_protocol::attachment::AttachmentError>(())
//! ```

pub mod chunked;
mod descriptor;
mod error;

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::kdf::LABEL_ATTACHMENT;
use crate::padding::padded_len_u64;
use chunked::{ChunkedDecryptor, ChunkedEncryptor, HEADER_LEN, Layout, StreamKey};

pub use descriptor::{
    AttachmentDescriptor, AttachmentInfo, DESCRIPTOR_VERSION, MAX_CONTENT_TYPE_LEN,
    MAX_FILE_NAME_LEN, MAX_LOCATION_LEN, MAX_THUMBNAIL_LEN,
};
pub use error::AttachmentError;

/// The largest attachment, in bytes (64 TiB; its padded size is at most the same).
pub const MAX_ATTACHMENT_LEN: u64 = 1 << 46;

/// The padded size of an attachment of `size` bytes: Padmé with a floor of 256 bytes (SPEC.md
/// §14.3). The stream encrypts this many bytes: the file, then zeros.
pub const fn padded_size(size: u64) -> u64 {
    padded_len_u64(size)
}

/// The layout of the stream of an attachment of `size` bytes.
fn layout_of(size: u64) -> Result<Layout, AttachmentError> {
    if size > MAX_ATTACHMENT_LEN {
        return Err(AttachmentError::TooLarge);
    }
    Layout::for_plaintext(padded_size(size))
}

/// How many of a chunk's plaintext bytes are the file's (the rest is padding).
fn file_bytes_in(layout: &Layout, size: u64, index: u64) -> Option<Range<u64>> {
    let chunk = layout.plaintext_range(index)?;
    Some(chunk.start.min(size)..chunk.end.min(size))
}

/// Encrypts one attachment of a known size (SPEC.md §14.2), one chunk per call.
pub struct AttachmentEncryptor {
    stream: ChunkedEncryptor,
    key: StreamKey,
    header: [u8; HEADER_LEN],
    size: u64,
    layout: Layout,
    /// SHA-256 over the stored stream so far, when the descriptor will carry its digest.
    digest: Option<Sha256>,
}

impl AttachmentEncryptor {
    /// Starts an attachment of `size` bytes: draws its key (32 bytes) and the stream's salt
    /// (24 bytes).
    ///
    /// # Errors
    /// [`AttachmentError::TooLarge`] past [`MAX_ATTACHMENT_LEN`]; nothing is drawn.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R, size: u64) -> Result<Self, AttachmentError> {
        let layout = layout_of(size)?;
        let key = StreamKey::generate(rng);
        let (stream, header) = ChunkedEncryptor::new(rng, &key, LABEL_ATTACHMENT);
        Ok(Self {
            stream,
            key,
            header,
            size,
            layout,
            digest: None,
        })
    }

    /// As [`new`](Self::new), and the descriptor will carry the SHA-256 digest of the whole
    /// stored stream (SPEC.md §14.4), which [`AttachmentDecryptor::open_next`] checks before it
    /// opens the final chunk. Every holder of a descriptor holds its key and could seal another
    /// stream under it; the digest, sent inside the sender's authenticated message, pins the
    /// one stream the sender made. Required for a group
    /// ([`AttachmentDescriptor::send_to_group`]), where members must not be able to replace
    /// each other's files; it costs one SHA-256 pass over the stream on each side.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_digest<R: CryptoRng + ?Sized>(
        rng: &mut R,
        size: u64,
    ) -> Result<Self, AttachmentError> {
        let mut enc = Self::new(rng, size)?;
        enc.digest = Some(Sha256::new_with_prefix(enc.header));
        Ok(enc)
    }

    /// The first [`HEADER_LEN`] bytes of the encrypted stream: upload them before the chunks.
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    /// The length of the whole encrypted stream (header and chunks): what the server stores.
    pub fn encrypted_len(&self) -> u64 {
        self.layout.encrypted_len()
    }

    /// How many bytes of the file the next chunk takes (0 for a chunk that is all padding), or
    /// `None` once the final chunk is sealed.
    pub fn next_input_len(&self) -> Option<usize> {
        if self.stream.is_finished() {
            return None;
        }
        let file = file_bytes_in(&self.layout, self.size, self.stream.chunks_sealed())?;
        usize::try_from(file.end - file.start).ok()
    }

    /// Seals the next chunk in place: `chunk` holds the next
    /// [`next_input_len`](Self::next_input_len) bytes of the file, and becomes the sealed chunk
    /// (padded with zeros first where the file ends) — append it to the upload. Give it
    /// [`SEALED_CHUNK_LEN`](chunked::SEALED_CHUNK_LEN) bytes of capacity to avoid a
    /// reallocation.
    ///
    /// # Errors
    /// [`AttachmentError::Finished`] after the final chunk;
    /// [`AttachmentError::InvalidChunkLength`] for any other number of bytes. The encryptor
    /// and `chunk` are then unchanged.
    pub fn seal_next(&mut self, chunk: &mut Vec<u8>) -> Result<(), AttachmentError> {
        let want = self.next_input_len().ok_or(AttachmentError::Finished)?;
        if chunk.len() != want {
            return Err(AttachmentError::InvalidChunkLength);
        }
        let sealed = self.next_sealed_len().ok_or(AttachmentError::Finished)?;
        chunk.resize(sealed, 0);
        self.seal_next_in_place(chunk)
            .inspect_err(|_| chunk.truncate(want))
    }

    /// [`seal_next`](Self::seal_next) within the caller's memory (a mapped file, the upload
    /// buffer): `sealed` is the next chunk's place in the stream
    /// ([`next_range`](Self::next_range)), whose first
    /// [`next_input_len`](Self::next_input_len) bytes hold the file's; the rest is overwritten
    /// with the padding and the tag.
    ///
    /// # Errors
    /// [`AttachmentError::Finished`]; [`AttachmentError::InvalidChunkLength`] for another
    /// length. Nothing is then changed.
    pub fn seal_next_in_place(&mut self, sealed: &mut [u8]) -> Result<(), AttachmentError> {
        let file = self.next_input_len().ok_or(AttachmentError::Finished)?;
        if Some(sealed.len()) != self.next_sealed_len() {
            return Err(AttachmentError::InvalidChunkLength);
        }
        let pad_end = sealed.len().saturating_sub(chunked::TAG_LEN);
        if let Some(padding) = sealed.get_mut(file..pad_end) {
            padding.fill(0);
        }
        self.stream.seal_chunk_in_place(sealed)?;
        if let Some(digest) = self.digest.as_mut() {
            digest.update(&*sealed);
        }
        Ok(())
    }

    /// Where the next chunk goes in the stored stream (header included): the span
    /// [`seal_next_in_place`](Self::seal_next_in_place) takes. `None` once finished.
    pub fn next_range(&self) -> Option<Range<u64>> {
        if self.stream.is_finished() {
            return None;
        }
        self.layout.encrypted_range(self.stream.chunks_sealed())
    }

    /// The sealed length of the next chunk, or `None` once finished.
    fn next_sealed_len(&self) -> Option<usize> {
        if self.stream.is_finished() {
            return None;
        }
        let r = self.next_range()?;
        usize::try_from(r.end - r.start).ok()
    }

    /// Describes the sealed attachment, once every chunk is sealed: `info` says what it is and
    /// where the server stored it. Send the descriptor with
    /// [`AttachmentDescriptor::send`]. It borrows the encryptor: a refused `info` can be
    /// corrected and given again without losing the key of an upload already sealed.
    ///
    /// # Errors
    /// [`AttachmentError::NotFinished`] before the final chunk; [`AttachmentError::TooLarge`]
    /// or [`AttachmentError::Decode`] (`NonCanonical`) for a field of `info` out of its limits
    /// ([`AttachmentInfo::validate`]).
    pub fn finish(&self, info: AttachmentInfo) -> Result<AttachmentDescriptor, AttachmentError> {
        if !self.stream.is_finished() {
            return Err(AttachmentError::NotFinished);
        }
        info.validate()?;
        let digest = self.digest.clone().map(|d| d.finalize().into());
        Ok(AttachmentDescriptor::new(
            self.key.clone(),
            self.header,
            self.size,
            digest,
            info,
        ))
    }
}

impl fmt::Debug for AttachmentEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentEncryptor")
            .field("size", &self.size)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

/// Opens one attachment from its descriptor (SPEC.md §14.2): chunks in order, or any chunk
/// alone. Every failed call leaves it and the buffer unchanged, except that a chunk whose
/// padding is not zeros (which only its sender can make) is wiped from the buffer.
pub struct AttachmentDecryptor {
    stream: ChunkedDecryptor,
    size: u64,
    layout: Layout,
    next: u64,
    /// The descriptor's digest, and SHA-256 over the stored stream opened in order so far.
    digest: Option<([u8; 32], Sha256)>,
}

impl AttachmentDecryptor {
    /// Prepares to open the attachment `descriptor` describes, stored as a stream whose first
    /// [`HEADER_LEN`] bytes are `stored_header`: they must be the descriptor's header, whose
    /// commitment must match the descriptor's key (SPEC.md §14.2). The stored header is
    /// required, not optional: it ties the stored stream to this one key, so that no stream
    /// opens as two different files under two descriptors (AES-GCM alone commits to no key).
    ///
    /// # Errors
    /// [`AttachmentError::Truncated`] / [`AttachmentError::TrailingData`] for a header of
    /// another length; [`AttachmentError::WrongKey`] if it is not the descriptor's (compared in
    /// constant time), or the descriptor's key and commitment disagree;
    /// [`AttachmentError::TooLarge`].
    pub fn new(
        descriptor: &AttachmentDescriptor,
        stored_header: &[u8],
    ) -> Result<Self, AttachmentError> {
        let layout = layout_of(descriptor.size())?;
        match stored_header.len() {
            n if n < HEADER_LEN => return Err(AttachmentError::Truncated),
            n if n > HEADER_LEN => return Err(AttachmentError::TrailingData),
            _ if !bool::from(descriptor.header().ct_eq(stored_header)) => {
                return Err(AttachmentError::WrongKey);
            }
            _ => {}
        }
        let stream =
            ChunkedDecryptor::new(descriptor.key(), LABEL_ATTACHMENT, descriptor.header())?;
        let digest = descriptor
            .digest()
            .map(|d| (*d, Sha256::new_with_prefix(stored_header)));
        Ok(Self {
            stream,
            size: descriptor.size(),
            layout,
            next: 0,
            digest,
        })
    }

    /// Checks the length of the stored stream (the server's answer, before downloading): a
    /// stream cut short, or with bytes appended, is refused at once.
    ///
    /// # Errors
    /// [`AttachmentError::Truncated`] if shorter than [`encrypted_len`](Self::encrypted_len),
    /// [`AttachmentError::TrailingData`] if longer.
    pub fn check_stored_len(&self, len: u64) -> Result<(), AttachmentError> {
        match len.cmp(&self.layout.encrypted_len()) {
            core::cmp::Ordering::Less => Err(AttachmentError::Truncated),
            core::cmp::Ordering::Greater => Err(AttachmentError::TrailingData),
            core::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// The attachment's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The number of chunks of its stream.
    pub fn chunk_count(&self) -> u64 {
        self.layout.chunk_count()
    }

    /// The length of the stored stream.
    pub fn encrypted_len(&self) -> u64 {
        self.layout.encrypted_len()
    }

    /// Where chunk `index` lies in the stored stream (to fetch it), or `None` past the last.
    pub fn encrypted_range(&self, index: u64) -> Option<Range<u64>> {
        self.layout.encrypted_range(index)
    }

    /// Which bytes of the file chunk `index` gives (empty for a chunk of padding), or `None`
    /// past the last.
    pub fn file_range(&self, index: u64) -> Option<Range<u64>> {
        file_bytes_in(&self.layout, self.size, index)
    }

    /// The chunk holding byte `offset` of the file (to seek), or `None` past its end.
    pub fn chunk_of(&self, offset: u64) -> Option<u64> {
        (offset < self.size)
            .then(|| self.layout.chunk_of(offset))
            .flatten()
    }

    /// Opens chunk `index` alone, in place: `chunk` holds exactly the bytes of
    /// [`encrypted_range`](Self::encrypted_range) and becomes the file's bytes of
    /// [`file_range`](Self::file_range). Opening the final chunk authenticates the size.
    ///
    /// # Errors
    /// [`AttachmentError::NoSuchChunk`], [`AttachmentError::InvalidChunkLength`],
    /// [`AttachmentError::ChunkAuthentication`], [`AttachmentError::InvalidPadding`].
    pub fn open_chunk(&self, index: u64, chunk: &mut Vec<u8>) -> Result<(), AttachmentError> {
        let n = self.open_chunk_in_place(index, chunk)?;
        chunk.truncate(n);
        Ok(())
    }

    /// [`open_chunk`](Self::open_chunk) within the caller's memory: the file's bytes are then
    /// the first bytes of `sealed`, as many as returned.
    ///
    /// # Errors
    /// As [`open_chunk`](Self::open_chunk).
    pub fn open_chunk_in_place(
        &self,
        index: u64,
        sealed: &mut [u8],
    ) -> Result<usize, AttachmentError> {
        let range = self
            .layout
            .encrypted_range(index)
            .ok_or(AttachmentError::NoSuchChunk(index))?;
        if sealed.len() as u64 != range.end - range.start {
            return Err(AttachmentError::InvalidChunkLength);
        }
        let plain = self
            .stream
            .open_chunk_in_place(index, self.layout.is_final(index), sealed)?;
        let file = self
            .file_range(index)
            .ok_or(AttachmentError::NoSuchChunk(index))?;
        let keep = usize::try_from(file.end - file.start).unwrap_or(usize::MAX);
        if sealed
            .get(keep..plain)
            .is_some_and(|pad| pad.iter().any(|b| *b != 0))
        {
            zeroize::Zeroize::zeroize(sealed);
            return Err(AttachmentError::InvalidPadding(index));
        }
        Ok(keep)
    }

    /// Opens the next chunk in order, as [`open_chunk`](Self::open_chunk); after the last one
    /// the attachment is complete.
    ///
    /// # Errors
    /// [`AttachmentError::TrailingData`] once complete; as [`open_chunk`](Self::open_chunk).
    pub fn open_next(&mut self, chunk: &mut Vec<u8>) -> Result<(), AttachmentError> {
        let n = self.open_next_in_place(chunk)?;
        chunk.truncate(n);
        Ok(())
    }

    /// [`open_next`](Self::open_next) within the caller's memory.
    ///
    /// # Errors
    /// As [`open_next`](Self::open_next).
    pub fn open_next_in_place(&mut self, sealed: &mut [u8]) -> Result<usize, AttachmentError> {
        if self.is_complete() {
            return Err(AttachmentError::TrailingData);
        }
        // The chunk's length first (as `open_chunk` checks it), then the digest, which covers
        // the sealed bytes: it is checked before the final chunk is decrypted, and the running
        // hash kept only once a chunk has opened.
        let range = self
            .layout
            .encrypted_range(self.next)
            .ok_or(AttachmentError::NoSuchChunk(self.next))?;
        if sealed.len() as u64 != range.end - range.start {
            return Err(AttachmentError::InvalidChunkLength);
        }
        let hashed = self.digest.as_ref().map(|(expected, running)| {
            let mut running = running.clone();
            running.update(&*sealed);
            (*expected, running)
        });
        if let Some((expected, running)) = &hashed {
            let is_final = self.layout.is_final(self.next);
            if is_final && !bool::from(running.clone().finalize().ct_eq(expected)) {
                return Err(AttachmentError::DigestMismatch);
            }
        }
        let n = self.open_chunk_in_place(self.next, sealed)?;
        self.next += 1;
        if hashed.is_some() {
            self.digest = hashed;
        }
        Ok(n)
    }

    /// Whether [`open_next`](Self::open_next) opened every chunk, the final one included: the
    /// whole file, nothing cut, moved or added — and, if the descriptor has a digest, exactly
    /// the stream its sender made.
    pub fn is_complete(&self) -> bool {
        self.next == self.layout.chunk_count()
    }
}

impl fmt::Debug for AttachmentDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentDecryptor")
            .field("size", &self.size)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}
