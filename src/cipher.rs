//! AES-256-GCM under a message key and the message's random seed (SPEC.md §3.4).

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use alloc::vec::Vec;

use crate::error::Error;
use crate::kdf::{MessageKey, SEED_LEN};

/// Length of the GCM tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

fn cipher(
    mk: &MessageKey,
    seed: &[u8; SEED_LEN],
) -> (Aes256Gcm, Nonce<aes_gcm::aead::consts::U12>) {
    let k = mk.expand(seed);
    (aes256gcm(&k.key), k.nonce.into())
}

/// AES-256-GCM keyed from a *borrow* of the key: `Aes256Gcm::new(&key.into())` would first copy
/// the key into a temporary array on the stack that nothing wipes (SECURITY.md property 12).
pub(crate) fn aes256gcm(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
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
    let (aead, nonce) = cipher(mk, seed);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let body = out.get_mut(start..).ok_or(Error::TooLarge)?;
    let tag = aead
        .encrypt_inout_detached(&nonce, aad, body.into())
        .map_err(|_| Error::TooLarge)?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// Opens `ciphertext ‖ tag`; the plaintext buffer is the only allocation.
pub(crate) fn open(
    mk: &MessageKey,
    seed: &[u8; SEED_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, Error> {
    let split = sealed
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(Error::DecryptionFailed)?;
    let (body, tag) = sealed.split_at(split);
    let tag = Tag::try_from(tag).map_err(|_| Error::DecryptionFailed)?;
    let (aead, nonce) = cipher(mk, seed);
    let mut out = body.to_vec();
    aead.decrypt_inout_detached(&nonce, aad, out.as_mut_slice().into(), &tag)
        .map_err(|_| Error::DecryptionFailed)?;
    Ok(out)
}
