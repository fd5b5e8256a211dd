//! The attachment descriptor (SPEC.md §14.4): what a recipient needs to fetch, check and open an
//! attachment, sent inside the conversation as a content frame of kind
//! [`ContentKind::Attachment`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::chunked::{HEADER_LEN, StreamKey};
use super::{AttachmentError, MAX_ATTACHMENT_LEN, padded_size};
use crate::codec::{Reader, Writer};
use crate::content::ContentKind;
use crate::error::{DecodeError, Error};
use crate::group::GroupSession;
use crate::session::Session;

/// Version byte of an attachment descriptor.
pub const DESCRIPTOR_VERSION: u8 = 0x01;
/// Longest content type (MIME type), in bytes of printable ASCII.
pub const MAX_CONTENT_TYPE_LEN: usize = 255;
/// Longest file name, in bytes of UTF-8.
pub const MAX_FILE_NAME_LEN: usize = 1024;
/// Largest inline thumbnail, in bytes.
pub const MAX_THUMBNAIL_LEN: usize = 64 * 1024;
/// Longest location (the application's opaque id of the stored stream), in bytes.
pub const MAX_LOCATION_LEN: usize = 255;

/// What an attachment is and where it is stored; the application fills it in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// Its MIME type, such as `image/jpeg`: printable ASCII (0x20–0x7E), at most
    /// [`MAX_CONTENT_TYPE_LEN`] bytes.
    pub content_type: String,
    /// Its file name, if it has one: at most [`MAX_FILE_NAME_LEN`] bytes.
    pub file_name: Option<String>,
    /// A small preview (for instance a JPEG), shown before the download: at most
    /// [`MAX_THUMBNAIL_LEN`] bytes.
    pub thumbnail: Option<Vec<u8>>,
    /// Where the server stored the encrypted stream: the application's opaque id, at most
    /// [`MAX_LOCATION_LEN`] bytes. The server sees only this id and the opaque stream.
    pub location: Vec<u8>,
}

impl AttachmentInfo {
    /// Checks every field against its limit.
    ///
    /// # Errors
    /// [`AttachmentError::TooLarge`] for a field over its limit;
    /// [`AttachmentError::Decode`]`(NonCanonical)` for a content type that is not printable
    /// ASCII.
    pub fn validate(&self) -> Result<(), AttachmentError> {
        let over = self.content_type.len() > MAX_CONTENT_TYPE_LEN
            || self.file_name.as_ref().map_or(0, String::len) > MAX_FILE_NAME_LEN
            || self.thumbnail.as_ref().map_or(0, Vec::len) > MAX_THUMBNAIL_LEN
            || self.location.len() > MAX_LOCATION_LEN;
        if over {
            return Err(AttachmentError::TooLarge);
        }
        if !printable(self.content_type.as_bytes()) {
            return Err(DecodeError::NonCanonical.into());
        }
        Ok(())
    }
}

fn printable(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| (0x20..=0x7E).contains(b))
}

/// The pointer to one encrypted attachment (SPEC.md §14.4): its key, the stream's header (salt
/// and key commitment), its real and padded sizes and the application's [`AttachmentInfo`]. It
/// holds the key: it is secret, travels only inside a session or group message
/// ([`AttachmentDescriptor::send`], [`AttachmentDescriptor::send_to_group`]), and wipes the key
/// on drop.
///
/// Encoding: `version 0x01 ‖ key (32) ‖ salt (24) ‖ commitment (32) ‖ size u64 ‖ padded size
/// u64 ‖ digest? (flag ‖ 32) ‖ u8 n ‖ content type (n) ‖ file name? (flag ‖ u16 n ‖ n) ‖
/// thumbnail? (flag ‖ u32 n ‖ n) ‖ u8 n ‖ location (n)`.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentDescriptor {
    key: StreamKey,
    header: [u8; HEADER_LEN],
    size: u64,
    digest: Option<[u8; 32]>,
    info: AttachmentInfo,
}

impl AttachmentDescriptor {
    pub(super) fn new(
        key: StreamKey,
        header: [u8; HEADER_LEN],
        size: u64,
        digest: Option<[u8; 32]>,
        info: AttachmentInfo,
    ) -> Self {
        Self {
            key,
            header,
            size,
            digest,
            info,
        }
    }

    /// The attachment's key (secret).
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// The stream's header: its salt and key commitment.
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    /// The attachment's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The size the stream encrypts: the file and its padding (SPEC.md §14.3).
    pub fn padded_size(&self) -> u64 {
        padded_size(self.size)
    }

    /// The SHA-256 digest of the whole stored stream, if the sender made one
    /// ([`AttachmentEncryptor::with_digest`](super::AttachmentEncryptor::with_digest)).
    pub fn digest(&self) -> Option<&[u8; 32]> {
        self.digest.as_ref()
    }

    /// What the attachment is and where it is stored.
    pub fn info(&self) -> &AttachmentInfo {
        &self.info
    }

    /// The encoding (secret: it holds the key).
    ///
    /// # Errors
    /// None for a descriptor made by [`AttachmentEncryptor::finish`](super::AttachmentEncryptor::finish)
    /// or decoded (their fields are within their limits); [`Error::TooLarge`] is kept for the
    /// type's sake.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let info = &self.info;
        let len = 1
            + 32
            + HEADER_LEN
            + 16
            + 1
            + self.digest.map_or(0, |_| 32)
            + 1
            + info.content_type.len()
            + 1
            + info.file_name.as_ref().map_or(0, |n| 2 + n.len())
            + 1
            + info.thumbnail.as_ref().map_or(0, |t| 4 + t.len())
            + 1
            + info.location.len();
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        out.put_u8(DESCRIPTOR_VERSION);
        out.put(self.key.as_bytes());
        out.put(&self.header);
        out.put_u64(self.size);
        out.put_u64(self.padded_size());
        out.put_flag(self.digest.is_some());
        if let Some(digest) = &self.digest {
            out.put(digest);
        }
        out.put_len_u8(info.content_type.len())?;
        out.put(info.content_type.as_bytes());
        out.put_flag(info.file_name.is_some());
        if let Some(name) = &info.file_name {
            out.put_len_u16(name.len())?;
            out.put(name.as_bytes());
        }
        out.put_flag(info.thumbnail.is_some());
        if let Some(thumbnail) = &info.thumbnail {
            out.put_len_u32(thumbnail.len())?;
            out.put(thumbnail);
        }
        out.put_len_u8(info.location.len())?;
        out.put(&info.location);
        Ok(out)
    }

    /// Decodes a descriptor, strictly (SPEC.md §14.4).
    ///
    /// # Errors
    /// [`DecodeError::UnknownVersion`], [`DecodeError::Truncated`],
    /// [`DecodeError::TrailingBytes`]; [`DecodeError::TooLarge`] for a size over
    /// [`MAX_ATTACHMENT_LEN`] or a field over its limit; [`DecodeError::NonCanonical`] for a
    /// padded size that is not the size's, a flag other than 0 or 1, a content type that is not
    /// printable ASCII or a file name that is not UTF-8.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.version(DESCRIPTOR_VERSION)?;
        let key = StreamKey::from_bytes(*Zeroizing::new(r.array()?));
        let header = r.array()?;
        let size = r.u64()?;
        if size > MAX_ATTACHMENT_LEN {
            return Err(DecodeError::TooLarge);
        }
        if r.u64()? != padded_size(size) {
            return Err(DecodeError::NonCanonical);
        }
        let digest = if r.flag()? { Some(r.array()?) } else { None };
        let n = usize::from(r.u8()?);
        let content_type = r.take(n)?;
        if !printable(content_type) {
            return Err(DecodeError::NonCanonical);
        }
        let file_name = if r.flag()? {
            let n = usize::from(r.u16()?);
            if n > MAX_FILE_NAME_LEN {
                return Err(DecodeError::TooLarge);
            }
            let name = core::str::from_utf8(r.take(n)?).map_err(|_| DecodeError::NonCanonical)?;
            Some(String::from(name))
        } else {
            None
        };
        let thumbnail = if r.flag()? {
            let n = usize::try_from(r.u32()?).map_err(|_| DecodeError::TooLarge)?;
            if n > MAX_THUMBNAIL_LEN {
                return Err(DecodeError::TooLarge);
            }
            Some(r.take(n)?.to_vec())
        } else {
            None
        };
        let n = usize::from(r.u8()?);
        let location = r.take(n)?.to_vec();
        r.finish()?;
        let content_type = core::str::from_utf8(content_type)
            .map_err(|_| DecodeError::NonCanonical)?
            .into();
        Ok(Self {
            key,
            header,
            size,
            digest,
            info: AttachmentInfo {
                content_type,
                file_name,
                thumbnail,
                location,
            },
        })
    }

    /// Sends the descriptor to the session's peer as a content frame of kind
    /// [`ContentKind::Attachment`] (padded, stamped with `now_ms` and the session's timer, like
    /// any message). The peer's [`Session::receive`] delivers it; it passes the body to
    /// [`AttachmentDescriptor::from_bytes`].
    ///
    /// # Errors
    /// As [`Session::send`].
    pub fn send<R: CryptoRng + ?Sized>(
        &self,
        session: &mut Session,
        rng: &mut R,
        now_ms: u64,
    ) -> Result<Vec<u8>, Error> {
        session.send_kind(rng, now_ms, ContentKind::Attachment, &self.to_bytes()?)
    }

    /// Sends the descriptor to a whole group as one group message of kind
    /// [`ContentKind::Attachment`] (one upload serves every member). The attachment must have a
    /// digest ([`AttachmentEncryptor::with_digest`](super::AttachmentEncryptor::with_digest)):
    /// every member holds its key, and only the digest, signed with the group message, stops one
    /// member from replacing the stored file for the others.
    ///
    /// # Errors
    /// [`AttachmentError::DigestRequired`] first; then [`AttachmentError::Group`] as
    /// [`GroupSession::send`].
    pub fn send_to_group<R: CryptoRng + ?Sized>(
        &self,
        group: &mut GroupSession,
        rng: &mut R,
        now_ms: u64,
    ) -> Result<Vec<u8>, AttachmentError> {
        if self.digest.is_none() {
            return Err(AttachmentError::DigestRequired);
        }
        let body = self.to_bytes().map_err(|_| AttachmentError::TooLarge)?;
        group
            .send_kind(rng, now_ms, ContentKind::Attachment, &body)
            .map_err(AttachmentError::Group)
    }
}

impl fmt::Debug for AttachmentDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentDescriptor")
            .field("key", &self.key)
            .field("size", &self.size)
            .field("digest", &self.digest.is_some())
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}
