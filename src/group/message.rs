//! The group message on the wire (SPEC.md §13.3): a header naming the group, the sender key and
//! the iteration, the AEAD ciphertext, and the sender key's signature over all of it.

use alloc::vec::Vec;

use super::GroupId;
use crate::cipher::TAG_LEN;
use crate::codec::{Reader, Writer};
use crate::error::DecodeError;
use crate::kdf::{LABEL_GROUP_MESSAGE, SEED_LEN};
use crate::keys::IdentityKey;
use crate::wire::{MAX_PLAINTEXT_LEN, PROTOCOL_VERSION};

/// The type byte of a group message: after the session's `0x01` (normal) and `0x02` (prekey),
/// so that no group message is read as a session message, or back.
pub const GROUP_MESSAGE_TYPE: u8 = 0x03;
/// `version ‖ type ‖ group id (32) ‖ key id (u32) ‖ iteration (u32) ‖ seed (16)`.
pub const GROUP_HEADER_LEN: usize = 1 + 1 + 32 + 4 + 4 + SEED_LEN;
/// The Ed25519 signature that ends every group message.
pub const GROUP_SIGNATURE_LEN: usize = 64;
/// Bytes a group message adds to its plaintext: header, tag and signature.
pub const GROUP_OVERHEAD: usize = GROUP_HEADER_LEN + TAG_LEN + GROUP_SIGNATURE_LEN;

/// A parsed group message, borrowing the received bytes.
pub(crate) struct GroupMessage<'a> {
    pub(crate) group_id: GroupId,
    pub(crate) key_id: u32,
    pub(crate) iteration: u32,
    pub(crate) seed: [u8; SEED_LEN],
    /// The header's bytes (part of the associated data).
    pub(crate) header: &'a [u8],
    /// `ciphertext ‖ tag`.
    pub(crate) sealed: &'a [u8],
    /// Everything the signature covers after the label and the sender: the message without it.
    pub(crate) signed: &'a [u8],
    pub(crate) signature: [u8; GROUP_SIGNATURE_LEN],
}

impl<'a> GroupMessage<'a> {
    /// Decodes strictly (SPEC.md §13.3): version, type, then lengths.
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let kind = r.u8()?;
        if kind != GROUP_MESSAGE_TYPE {
            return Err(DecodeError::UnknownType(kind));
        }
        let group_id = GroupId(r.array()?);
        let key_id = r.u32()?;
        let iteration = r.u32()?;
        let seed = r.array()?;
        let rest = bytes
            .get(GROUP_HEADER_LEN..)
            .ok_or(DecodeError::Truncated)?;
        let sealed_len = rest
            .len()
            .checked_sub(GROUP_SIGNATURE_LEN)
            .filter(|n| *n >= TAG_LEN)
            .ok_or(DecodeError::Truncated)?;
        if sealed_len > MAX_PLAINTEXT_LEN + TAG_LEN {
            return Err(DecodeError::TooLarge);
        }
        let (signed, signature) = bytes.split_at(GROUP_HEADER_LEN + sealed_len);
        let (header, sealed) = signed.split_at(GROUP_HEADER_LEN);
        Ok(Self {
            group_id,
            key_id,
            iteration,
            seed,
            header,
            sealed,
            signed,
            signature: signature.try_into().map_err(|_| DecodeError::Truncated)?,
        })
    }
}

/// The header of a message (SPEC.md §13.3).
pub(crate) fn encode_header(
    out: &mut Vec<u8>,
    group_id: &GroupId,
    key_id: u32,
    iteration: u32,
    seed: &[u8; SEED_LEN],
) {
    out.put_u8(PROTOCOL_VERSION);
    out.put_u8(GROUP_MESSAGE_TYPE);
    out.put(&group_id.0);
    out.put_u32(key_id);
    out.put_u32(iteration);
    out.put(seed);
}

/// The AEAD's associated data: `sender (32) ‖ header (58)`, on the stack (no allocation per
/// message). `header` is always the 58 header bytes; a shorter one leaves zeros (never reached).
pub(crate) fn associated_data(sender: &IdentityKey, header: &[u8]) -> [u8; 32 + GROUP_HEADER_LEN] {
    let mut ad = [0u8; 32 + GROUP_HEADER_LEN];
    let (s, h) = ad.split_at_mut(32);
    s.copy_from_slice(sender.as_bytes());
    for (d, b) in h.iter_mut().zip(header) {
        *d = *b;
    }
    ad
}

/// What the sender key signs: `LABEL_GROUP_MESSAGE ‖ sender (32) ‖ message without signature`.
/// Naming the sender stops a member from passing another member's messages off as its own by
/// distributing that member's signing key under its own name.
pub(crate) fn signed_bytes(sender: &IdentityKey, message: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(LABEL_GROUP_MESSAGE.len() + 32 + message.len());
    m.put(LABEL_GROUP_MESSAGE);
    m.put(sender.as_bytes());
    m.put(message);
    m
}
