//! Persistence: versioned, self-checking byte formats for every long-lived object (SPEC.md §10).
//!
//! Every blob is `kind (u8) ‖ version (u8) ‖ body ‖ check (16)`, where `check` is the first 16
//! bytes of SHA-256 over everything before it. The check catches storage corruption before the
//! body is parsed; the body parser is strict regardless, so an edited blob with a recomputed
//! check is still validated field by field. This module is only the envelope: each type encodes
//! its own body (its `Codec`), and `legacy` reads the bodies of earlier versions.
//!
//! [`StorageKey`] seals a blob at rest instead (SPEC.md §10.4): AES-256-GCM under a key derived from
//! the application's storage key and a fresh salt, with kind and version bound, so that a stolen
//! database is useless without the key and an edited blob is rejected.
//!
//! A blob is the library's own output. Restoring one checks every structural invariant but does
//! not repeat the cryptographic validation its keys passed when they first entered: public keys
//! are stored beside their secrets rather than recomputed, and identity keys are not
//! decompressed, so that a session restores in about a microsecond (SPEC.md §10.0).

mod legacy;

use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::account::{Contact, DeviceList, DeviceListView, MAX_DEVICES};
use crate::cipher;
use crate::codec::{Codec, Reader, Writer};
use crate::error::{DecodeError, Error};
use crate::group::GroupSession;
use crate::kdf::{LABEL_STATE_AT_REST, hkdf_sha256};
use crate::keys::IdentityKeyPair;
use crate::prekeys::PreKeyStore;
use crate::session::Session;

/// Version of the identity format.
pub const STATE_VERSION: u8 = 1;
/// The newest session format (SPEC.md §10.3): a PQXDH session is written in it; an X3DH session
/// in version 3, which it needs no more than. Versions 1 to 4 are read.
pub const SESSION_VERSION: u8 = 4;
/// The newest prekey store format (SPEC.md §10.2): a store that has held KEM prekeys is written in
/// it, any other in version 3. Versions 1 to 4 are read.
pub const PREKEY_STORE_VERSION: u8 = 4;
/// The versions read: every one this library has written (sealed blobs exist from version 3).
const READ_VERSIONS: [u8; 4] = [1, 2, 3, 4];
const SEALED_READ_VERSIONS: [u8; 2] = [3, 4];
/// Kind byte of a persisted [`IdentityKeyPair`].
pub const KIND_IDENTITY: u8 = 0x10;
/// Kind byte of a persisted [`PreKeyStore`].
pub const KIND_PREKEY_STORE: u8 = 0x11;
/// Kind byte of a persisted [`Session`].
pub const KIND_SESSION: u8 = 0x12;
/// Kind byte of a persisted [`GroupSession`].
pub const KIND_GROUP: u8 = 0x13;
/// Version of the group format (SPEC.md §13.7).
pub const GROUP_VERSION: u8 = 1;
/// Kind byte of a persisted [`Contact`].
pub const KIND_CONTACT: u8 = 0x14;
/// Version of the contact format (SPEC.md §15.5).
pub const CONTACT_VERSION: u8 = 1;

const CHECK_LEN: usize = 16;
/// Set in the kind byte of a blob sealed under a [`StorageKey`] (SPEC.md §10.4).
pub const SEALED_KIND_BIT: u8 = 0x80;
const SALT_LEN: usize = 32;
/// Bytes a sealed blob adds to its body: kind, version, salt, tag.
pub const SEALED_OVERHEAD: usize = 2 + SALT_LEN + cipher::TAG_LEN;

/// An application's key for sealing state at rest (SPEC.md §10.4): 32 uniformly random bytes the
/// application keeps outside the database the blobs go to (for example in the platform's
/// keystore). One key can seal any number of blobs: each blob is sealed under its own key,
/// derived from this one and a fresh 32-byte salt.
///
/// ```
/// # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
/// use xchat_protocol::state::StorageKey;
/// use xchat_protocol::{DecodeError, IdentityKeyPair};
/// # let mut rng = ChaCha20Rng::from_seed([8; 32]);
/// let key = StorageKey::generate(&mut rng);
/// let alice = IdentityKeyPair::generate(&mut rng);
/// let sealed = alice.to_sealed_bytes(&mut rng, &key)?;
/// let back = IdentityKeyPair::from_sealed_bytes(&sealed, &key)?;
/// assert_eq!(back.public(), alice.public());
/// // Without the key the blob is useless; with another key it is rejected.
/// let other = StorageKey::generate(&mut rng);
/// assert_eq!(
///     IdentityKeyPair::from_sealed_bytes(&sealed, &other).unwrap_err(),
///     DecodeError::ChecksumMismatch
/// );
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
pub struct StorageKey(Zeroizing<[u8; 32]>);

impl StorageKey {
    /// A key from 32 bytes the application stores itself. The argument is a copy the caller
    /// owns; wipe it after the call.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh random key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut_slice());
        Self(key)
    }

    /// The key's bytes, to store in the platform's keystore.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The one-use AES-256-GCM key of one blob: HKDF-SHA-256 with the blob's salt over the
    /// storage key, the info binding the blob's kind and version (SPEC.md §10.4).
    fn blob_key(&self, kind: u8, version: u8, salt: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut info = [0u8; LABEL_STATE_AT_REST.len() + 2];
        let (label, kv) = info.split_at_mut(LABEL_STATE_AT_REST.len());
        label.copy_from_slice(LABEL_STATE_AT_REST);
        kv.copy_from_slice(&[kind, version]);
        hkdf_sha256::<32>(salt, self.0.as_slice(), &info)
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageKey(..)")
    }
}

/// The nonce of every sealed blob: each blob key seals exactly one plaintext.
const ZERO_NONCE: [u8; 12] = [0; 12];

/// `kind | 0x80 ‖ version ‖ salt (32) ‖ AES-256-GCM(blob key, zero nonce, aad = the 34 bytes
/// before, body) ‖ tag (16)` (SPEC.md §10.4). The body is written once, into the output, and
/// encrypted there: no plaintext copy is left behind.
fn seal_at_rest<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &StorageKey,
    kind: u8,
    version: u8,
    len: usize,
    write_body: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(len + SEALED_OVERHEAD);
    out.put_u8(kind | SEALED_KIND_BIT);
    out.put_u8(version);
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    out.put(&salt);
    let header = 2 + SALT_LEN;
    // If encoding fails half-way, the partial body is wiped with the buffer.
    let mut body = Zeroizing::new(out);
    write_body(&mut body)?;
    let mut out = core::mem::take(&mut *body);
    let blob_key = key.blob_key(kind, version, &salt);
    let mut aad = [0u8; 2 + SALT_LEN];
    aad.copy_from_slice(out.get(..header).unwrap_or_default());
    cipher::seal_in_place(&blob_key, &ZERO_NONCE, &aad, &mut out, header)
        .map_err(|()| Error::TooLarge)?;
    Ok(out)
}

/// Opens a sealed blob of `kind` in one of `versions`; returns the version and the body (wiped
/// when dropped). Kind and version are checked before any decryption, then the tag.
fn open_at_rest(
    key: &StorageKey,
    kind: u8,
    versions: &[u8],
    bytes: &[u8],
) -> Result<(u8, Zeroizing<Vec<u8>>), DecodeError> {
    let mut r = Reader::new(bytes);
    let found = r.u8()?;
    if found != kind | SEALED_KIND_BIT {
        return Err(DecodeError::UnknownType(found));
    }
    let version = r.u8()?;
    if !versions.contains(&version) {
        return Err(DecodeError::UnknownVersion(version));
    }
    let salt = r.take(SALT_LEN)?;
    let sealed = r.rest();
    if sealed.len() < cipher::TAG_LEN {
        return Err(DecodeError::Truncated);
    }
    let aad = bytes.get(..2 + SALT_LEN).ok_or(DecodeError::Truncated)?;
    let body = cipher::open_to_vec(&key.blob_key(kind, version, salt), &ZERO_NONCE, aad, sealed)
        .map_err(|()| DecodeError::ChecksumMismatch)?;
    Ok((version, Zeroizing::new(body)))
}

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

/// The plain blob of a current-version object.
fn seal_value<T: Codec>(kind: u8, version: u8, value: &T) -> Result<Zeroizing<Vec<u8>>, Error> {
    seal(kind, version, value.encoded_len(), |out| value.encode(out))
}

/// The sealed blob of a current-version object.
fn seal_value_at_rest<R: CryptoRng + ?Sized, T: Codec>(
    rng: &mut R,
    key: &StorageKey,
    kind: u8,
    version: u8,
    value: &T,
) -> Result<Vec<u8>, Error> {
    seal_at_rest(rng, key, kind, version, value.encoded_len(), |out| {
        value.encode(out)
    })
}

/// Opens a sealed blob of one of `versions`, decoded by `decode`; its body must be consumed
/// exactly.
fn open_value_at_rest<T>(
    key: &StorageKey,
    kind: u8,
    versions: &[u8],
    bytes: &[u8],
    decode: impl FnOnce(u8, &mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let (version, body) = open_at_rest(key, kind, versions, bytes)?;
    let mut r = Reader::new(&body);
    let value = decode(version, &mut r)?;
    r.finish()?;
    Ok(value)
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
        let (_, r) = open(KIND_IDENTITY, &[STATE_VERSION], bytes)?;
        Self::decode_body(r)
    }

    fn decode_body(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let seed = Zeroizing::new(r.array::<32>()?);
        r.finish()?;
        Ok(Self::from_seed(&seed))
    }

    /// Seals the identity at rest under `key` (SPEC.md §10.4). The result reveals nothing without
    /// the key.
    ///
    /// # Errors
    /// None in practice ([`Error::TooLarge`] is unreachable for an identity).
    pub fn to_sealed_bytes<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        key: &StorageKey,
    ) -> Result<Vec<u8>, Error> {
        seal_at_rest(rng, key, KIND_IDENTITY, STATE_VERSION, 32, |out| {
            out.put(self.seed().as_slice());
            Ok(())
        })
    }

    /// Restores an identity sealed with [`IdentityKeyPair::to_sealed_bytes`].
    ///
    /// # Errors
    /// [`DecodeError::ChecksumMismatch`] for the wrong key or any edit; any other
    /// [`DecodeError`].
    pub fn from_sealed_bytes(bytes: &[u8], key: &StorageKey) -> Result<Self, DecodeError> {
        let (_, body) = open_at_rest(key, KIND_IDENTITY, &[STATE_VERSION], bytes)?;
        Self::decode_body(Reader::new(&body))
    }
}

impl PreKeyStore {
    /// Serializes the store (private prekeys and the record of accepted first messages
    /// included) for storage, in format version 4, or 3 if it never held a KEM prekey (SPEC.md §10.2). The result is secret and is
    /// zeroized when dropped.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if a count does not fit its field (the store's own bounds prevent it).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        seal_value(KIND_PREKEY_STORE, self.state_version(), self)
    }

    /// Restores a store saved with [`PreKeyStore::to_bytes`], by this version or by an earlier
    /// one (SPEC.md §10.2).
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (version, mut r) = open(KIND_PREKEY_STORE, &READ_VERSIONS, bytes)?;
        let store = Self::decode_any(version, &mut r)?;
        r.finish()?;
        Ok(store)
    }

    /// The body of any version read; version 3 is version 4 without the KEM prekeys.
    fn decode_any(version: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match version {
            PREKEY_STORE_VERSION => Self::decode(r),
            3 => Self::decode_x25519(r),
            old => legacy::prekey_store(old, r),
        }
    }

    /// Seals the store at rest under `key` (SPEC.md §10.4), in the format version `to_bytes` writes.
    ///
    /// # Errors
    /// As [`PreKeyStore::to_bytes`].
    pub fn to_sealed_bytes<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        key: &StorageKey,
    ) -> Result<Vec<u8>, Error> {
        seal_value_at_rest(rng, key, KIND_PREKEY_STORE, self.state_version(), self)
    }

    /// Restores a store sealed with [`PreKeyStore::to_sealed_bytes`].
    ///
    /// # Errors
    /// [`DecodeError::ChecksumMismatch`] for the wrong key or any edit; any other
    /// [`DecodeError`].
    pub fn from_sealed_bytes(bytes: &[u8], key: &StorageKey) -> Result<Self, DecodeError> {
        open_value_at_rest(
            key,
            KIND_PREKEY_STORE,
            &SEALED_READ_VERSIONS,
            bytes,
            Self::decode_any,
        )
    }
}

impl Session {
    /// Serializes the whole session for storage, in format version 4 for a PQXDH session, 3 for an X3DH one (SPEC.md §10.3). Persist it
    /// after every `encrypt` (before the message leaves) and after every successful `decrypt`.
    /// The result is secret and is zeroized when dropped.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if a length does not fit its field (the session's own bounds prevent
    /// it).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        seal_value(KIND_SESSION, self.state_version(), self)
    }

    /// Restores a session saved with [`Session::to_bytes`] by this version or an earlier one.
    /// Every field is validated: flags, limits, the phase, and that stored counts respect the
    /// stored limits (SPEC.md §10.3).
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (version, mut r) = open(KIND_SESSION, &READ_VERSIONS, bytes)?;
        let session = Self::decode_any(version, &mut r)?;
        r.finish()?;
        Ok(session)
    }

    /// The body of any version read; version 3 is version 4 without the KEM field.
    fn decode_any(version: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match version {
            SESSION_VERSION => Self::decode(r),
            3 => Self::decode_version(r, false),
            old => legacy::session(old, r),
        }
    }

    /// Seals the session at rest under `key` (SPEC.md §10.4), in the format version `to_bytes` writes. Use it
    /// instead of [`Session::to_bytes`] where the application does not encrypt its database
    /// itself.
    ///
    /// # Errors
    /// As [`Session::to_bytes`].
    pub fn to_sealed_bytes<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        key: &StorageKey,
    ) -> Result<Vec<u8>, Error> {
        seal_value_at_rest(rng, key, KIND_SESSION, self.state_version(), self)
    }

    /// Restores a session sealed with [`Session::to_sealed_bytes`]. The body is validated as by
    /// [`Session::from_bytes`].
    ///
    /// # Errors
    /// [`DecodeError::ChecksumMismatch`] for the wrong key or any edit; any other
    /// [`DecodeError`].
    pub fn from_sealed_bytes(bytes: &[u8], key: &StorageKey) -> Result<Self, DecodeError> {
        open_value_at_rest(
            key,
            KIND_SESSION,
            &SEALED_READ_VERSIONS,
            bytes,
            Self::decode_any,
        )
    }
}

impl GroupSession {
    /// Serializes the group (our sender key and every member's, with their skipped keys) for
    /// storage (SPEC.md §13.7). Persist it after every send (before the message leaves), after
    /// every successful receive, distribution and membership change. The result is secret and
    /// is zeroized when dropped.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if a count does not fit its field (the group's own bounds prevent it).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        seal_value(KIND_GROUP, GROUP_VERSION, self)
    }

    /// Restores a group saved with [`GroupSession::to_bytes`]; every count is checked against the
    /// stored limits.
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (_, mut r) = open(KIND_GROUP, &[GROUP_VERSION], bytes)?;
        let group = Self::decode(&mut r)?;
        r.finish()?;
        Ok(group)
    }

    /// Seals the group at rest under `key` (SPEC.md §10.4).
    ///
    /// # Errors
    /// As [`GroupSession::to_bytes`].
    pub fn to_sealed_bytes<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        key: &StorageKey,
    ) -> Result<Vec<u8>, Error> {
        seal_value_at_rest(rng, key, KIND_GROUP, GROUP_VERSION, self)
    }

    /// Restores a group sealed with [`GroupSession::to_sealed_bytes`].
    ///
    /// # Errors
    /// [`DecodeError::ChecksumMismatch`] for the wrong key or any edit; any other
    /// [`DecodeError`].
    pub fn from_sealed_bytes(bytes: &[u8], key: &StorageKey) -> Result<Self, DecodeError> {
        open_value_at_rest(key, KIND_GROUP, &[GROUP_VERSION], bytes, |_, r| {
            Self::decode(r)
        })
    }
}

/// A contact's body (SPEC.md §15.5): `u32 len ‖ device list (§15.1) ‖ u8 n ‖ n × (u8 session
/// version ‖ u32 len ‖ session body of that version (§10.3))`.
impl Codec for Contact {
    fn encoded_len(&self) -> usize {
        let list = self.view().current().encoded_len();
        let sessions: usize = self.sessions().iter().map(|s| 5 + s.encoded_len()).sum();
        4 + list + 1 + sessions
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let list = self.view().current().to_bytes();
        out.put_len_u32(list.len())?;
        out.put(&list);
        out.put_len_u8(self.sessions().len())?;
        for session in self.sessions() {
            out.put_u8(session.state_version());
            // `encoded_len` is a bound (an absent one-time prekey id counts 4 bytes), so the
            // length is written after the body.
            let at = out.len();
            out.put_u32(0);
            session.encode(out)?;
            let len = u32::try_from(out.len() - at - 4).map_err(|_| Error::TooLarge)?;
            if let Some(field) = out.get_mut(at..at + 4) {
                field.copy_from_slice(&len.to_be_bytes());
            }
        }
        Ok(())
    }

    /// The list is decoded and verified again (every signature: SPEC.md §15.5 says why); each
    /// session is read in its own version, must fill its length exactly, and must be with a
    /// distinct listed device.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = usize::try_from(r.u32()?).map_err(|_| DecodeError::TooLarge)?;
        let list = DeviceList::from_bytes(r.take(len)?).map_err(|e| match e {
            crate::account::AccountError::Decode(d) => d,
            // A list that parses but whose signatures fail: an edited blob.
            _ => DecodeError::NonCanonical,
        })?;
        let n = usize::from(r.u8()?);
        if n > MAX_DEVICES {
            return Err(DecodeError::TooLarge);
        }
        let mut sessions = Vec::with_capacity(n);
        for _ in 0..n {
            let version = r.u8()?;
            if !READ_VERSIONS.contains(&version) {
                return Err(DecodeError::UnknownVersion(version));
            }
            let len = usize::try_from(r.u32()?).map_err(|_| DecodeError::TooLarge)?;
            let mut body = Reader::new(r.take(len)?);
            sessions.push(Session::decode_any(version, &mut body)?);
            body.finish()?;
        }
        Contact::from_parts(DeviceListView::new(list), sessions)
    }
}

impl Contact {
    /// Serializes the contact — its device list and every session — for storage (SPEC.md
    /// §15.5). Persist it after every send (before the messages leave), every successful
    /// receive and every list update. The result is secret and is zeroized when dropped.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if a length does not fit its field (the contact's own bounds prevent
    /// it).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        seal_value(KIND_CONTACT, CONTACT_VERSION, self)
    }

    /// Restores a contact saved with [`Contact::to_bytes`]: the list's signatures are verified
    /// again and every session is validated as by [`Session::from_bytes`].
    ///
    /// # Errors
    /// Any [`DecodeError`]; [`DecodeError::NonCanonical`] for a list whose signatures fail.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (_, mut r) = open(KIND_CONTACT, &[CONTACT_VERSION], bytes)?;
        let contact = Self::decode(&mut r)?;
        r.finish()?;
        Ok(contact)
    }

    /// Seals the contact at rest under `key` (SPEC.md §10.4).
    ///
    /// # Errors
    /// As [`Contact::to_bytes`].
    pub fn to_sealed_bytes<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        key: &StorageKey,
    ) -> Result<Vec<u8>, Error> {
        seal_value_at_rest(rng, key, KIND_CONTACT, CONTACT_VERSION, self)
    }

    /// Restores a contact sealed with [`Contact::to_sealed_bytes`].
    ///
    /// # Errors
    /// [`DecodeError::ChecksumMismatch`] for the wrong key or any edit; any other
    /// [`DecodeError`].
    pub fn from_sealed_bytes(bytes: &[u8], key: &StorageKey) -> Result<Self, DecodeError> {
        open_value_at_rest(key, KIND_CONTACT, &[CONTACT_VERSION], bytes, |_, r| {
            Self::decode(r)
        })
    }
}
