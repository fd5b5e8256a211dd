//! The one AES-256-GCM wrapper: under a message key and the message's random seed for the ratchet
//! and for group messages (SPEC.md §3.4, §13.3), and under a one-use key with the zero nonce for
//! sealed sender (§9.2).

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Tag};
use alloc::vec::Vec;

use crate::error::Error;
use crate::kdf::{AeadKey, MessageKey, SEED_LEN};

/// Length of the GCM tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

/// AES-256-GCM keyed from a *borrow* of the key: `Aes256Gcm::new(&key.into())` would first copy
/// the key into a temporary array on the stack that nothing wipes (SECURITY.md property 12).
pub(crate) fn aes256gcm(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// Encrypts `buf[start..]` in place and appends the tag. `Err` only if `start` is past the end or
/// the plaintext exceeds GCM's bound (neither reachable through the callers' own bounds).
pub(crate) fn seal_in_place(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut Vec<u8>,
    start: usize,
) -> Result<(), ()> {
    let body = buf.get_mut(start..).ok_or(())?;
    let tag = aes256gcm(key)
        .encrypt_inout_detached(nonce.into(), aad, body.into())
        .map_err(|_| ())?;
    buf.extend_from_slice(&tag);
    Ok(())
}

/// Opens `ciphertext ‖ tag` into a new buffer (the only allocation); `Err` if it is shorter than
/// a tag or fails authentication.
pub(crate) fn open_to_vec(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, ()> {
    let split = sealed.len().checked_sub(TAG_LEN).ok_or(())?;
    let (body, tag) = sealed.split_at(split);
    let tag = Tag::try_from(tag).map_err(|_| ())?;
    let mut out = body.to_vec();
    aes256gcm(key)
        .decrypt_inout_detached(nonce.into(), aad, out.as_mut_slice().into(), &tag)
        .map_err(|_| ())?;
    Ok(out)
}

/// Appends `ciphertext ‖ tag` of `plaintext` to `out` (which already holds the header, so the
/// payload is written once, in place).
pub(crate) fn seal(
    mk: &MessageKey,
    seed: &[u8; SEED_LEN],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    seal_with(&mk.expand(seed), aad, plaintext, out)
}

/// Appends `ciphertext ‖ tag` of `plaintext` under an expanded key (a ratchet or a group
/// message, SPEC.md §3.4, §13.3).
pub(crate) fn seal_with(
    k: &AeadKey,
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let start = out.len();
    out.extend_from_slice(plaintext);
    seal_in_place(&k.key, &k.nonce, aad, out, start).map_err(|()| Error::TooLarge)
}

/// Opens `ciphertext ‖ tag` of a message.
pub(crate) fn open(
    mk: &MessageKey,
    seed: &[u8; SEED_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, Error> {
    open_with(&mk.expand(seed), aad, sealed)
}

/// Opens `ciphertext ‖ tag` under an expanded key.
pub(crate) fn open_with(k: &AeadKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Error> {
    open_to_vec(&k.key, &k.nonce, aad, sealed).map_err(|()| Error::DecryptionFailed)
}
