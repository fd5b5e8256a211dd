//! Persistence: versioned, self-checking byte formats for every long-lived object (SPEC.md §8).
//!
//! Every blob is `kind (u8) ‖ version (u8) ‖ body ‖ check (16)`, where `check` is the first 16
//! bytes of SHA-256 over everything before it. The check catches storage corruption before the
//! body is parsed; the body parser is strict regardless, so an edited blob with a recomputed
//! check is still validated field by field. This module is only the envelope: each type encodes
//! its own body ([`Codec`]), and `legacy` reads the bodies of earlier versions.
//!
//! A blob is the library's own output. Restoring one checks every structural invariant but does
//! not repeat the cryptographic validation its keys passed when they first entered: public keys
//! are stored beside their secrets rather than recomputed, and identity keys are not
//! decompressed, so that a session restores in about a microsecond (SPEC.md §8.0).

mod legacy;

use alloc::vec::Vec;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::codec::{Codec, Reader, Writer};
use crate::error::{DecodeError, Error};
use crate::keys::IdentityKeyPair;
use crate::prekeys::PreKeyStore;
use crate::session::Session;

/// Version of the identity format.
pub const STATE_VERSION: u8 = 1;
/// Version of the session format written now (SPEC.md §8.3). Versions 1 and 2 are still read.
pub const SESSION_VERSION: u8 = 3;
/// Version of the prekey store format written now (SPEC.md §8.2). Versions 1 and 2 are still
/// read.
pub const PREKEY_STORE_VERSION: u8 = 3;
/// Kind byte of a persisted [`IdentityKeyPair`].
pub const KIND_IDENTITY: u8 = 0x10;
/// Kind byte of a persisted [`PreKeyStore`].
pub const KIND_PREKEY_STORE: u8 = 0x11;
/// Kind byte of a persisted [`Session`].
pub const KIND_SESSION: u8 = 0x12;

const CHECK_LEN: usize = 16;

/// Wraps a body of exactly `len` bytes: the buffer never reallocates, so no copy of the secrets in
/// it is left behind unwiped.
fn seal(
    kind: u8,
    version: u8,
    len: usize,
    write_body: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut out = Zeroizing::new(Vec::with_capacity(2 + len + CHECK_LEN));
    out.put_u8(kind);
    out.put_u8(version);
    write_body(&mut out)?;
    let check = Sha256::digest(out.as_slice());
    out.put(check.get(..CHECK_LEN).unwrap_or_default());
    Ok(out)
}

/// Checks kind, one of the readable `versions` and the integrity check; returns the version found
/// and a reader over the body.
fn open<'a>(kind: u8, versions: &[u8], bytes: &'a [u8]) -> Result<(u8, Reader<'a>), DecodeError> {
    let split = bytes
        .len()
        .checked_sub(CHECK_LEN)
        .ok_or(DecodeError::Truncated)?;
    let (covered, check) = bytes.split_at(split);
    let mut r = Reader::new(covered);
    let found = r.u8()?;
    if found != kind {
        return Err(DecodeError::UnknownType(found));
    }
    let version = r.u8()?;
    if !versions.contains(&version) {
        return Err(DecodeError::UnknownVersion(version));
    }
    let expected = Sha256::digest(covered);
    if !bool::from(expected.get(..CHECK_LEN).unwrap_or_default().ct_eq(check)) {
        return Err(DecodeError::ChecksumMismatch);
    }
    Ok((version, r))
}

impl IdentityKeyPair {
    /// Serializes the identity (its 32-byte seed) for storage. The result is secret and is
    /// zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(2 + 32 + CHECK_LEN));
        out.put_u8(KIND_IDENTITY);
        out.put_u8(STATE_VERSION);
        out.put(self.seed().as_slice());
        let check = Sha256::digest(out.as_slice());
        out.put(check.get(..CHECK_LEN).unwrap_or_default());
        out
    }

    /// Restores an identity saved with [`IdentityKeyPair::to_bytes`].
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (_, mut r) = open(KIND_IDENTITY, &[STATE_VERSION], bytes)?;
        let seed = Zeroizing::new(r.array::<32>()?);
        r.finish()?;
        Ok(Self::from_seed(&seed))
    }
}

impl PreKeyStore {
    /// Serializes the store (private prekeys and the record of accepted first messages
    /// included) for storage, in format version 3 (SPEC.md §8.2). The result is secret and is
    /// zeroized when dropped.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if a count does not fit its field (the store's own bounds prevent it).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        seal(
            KIND_PREKEY_STORE,
            PREKEY_STORE_VERSION,
            self.encoded_len(),
            |out| self.encode(out),
        )
    }

    /// Restores a store saved with [`PreKeyStore::to_bytes`], by this version or by an earlier
    /// one (SPEC.md §8.2).
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (version, mut r) = open(KIND_PREKEY_STORE, &[1, 2, PREKEY_STORE_VERSION], bytes)?;
        let store = match version {
            PREKEY_STORE_VERSION => Self::decode(&mut r)?,
            old => legacy::prekey_store(old, &mut r)?,
        };
        r.finish()?;
        Ok(store)
    }
}

impl Session {
    /// Serializes the whole session for storage, in format version 3 (SPEC.md §8.3). Persist it
    /// after every `encrypt` (before the message leaves) and after every successful `decrypt`.
    /// The result is secret and is zeroized when dropped.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if a length does not fit its field (the session's own bounds prevent
    /// it).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        seal(KIND_SESSION, SESSION_VERSION, self.encoded_len(), |out| {
            self.encode(out)
        })
    }

    /// Restores a session saved with [`Session::to_bytes`] by this version or an earlier one.
    /// Every field is validated: flags, limits, the phase, and that stored counts respect the
    /// stored limits (SPEC.md §8.3).
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (version, mut r) = open(KIND_SESSION, &[1, 2, SESSION_VERSION], bytes)?;
        let session = match version {
            SESSION_VERSION => Self::decode(&mut r)?,
            old => legacy::session(old, &mut r)?,
        };
        r.finish()?;
        Ok(session)
    }
}
