//! State sealed at rest under an application's 32-byte storage key (SPEC.md §10.4): the sealed
//! counterparts of `xc_identity_to_bytes`, `xc_prekey_store_to_bytes` and `xc_session_to_bytes`.
//! A wrong key or any edit gives `XC_ERR_DECODE_CHECKSUM_MISMATCH`.

use xchat_protocol::state::StorageKey;
use xchat_protocol::{IdentityKeyPair, PreKeyStore, Session};
use zeroize::Zeroizing;

use crate::identity::XcIdentity;
use crate::prekeys::XcPreKeyStore;
use crate::session::XcSession;
use crate::util::{XcBuffer, bytes_in, guard, handle_ref, into_handle, key_in, os_rng, out_init};

/// Reads the storage key; the copy is wiped when the key is dropped.
///
/// # Safety
/// `key` is NULL or valid for reading 32 bytes.
unsafe fn storage_key(key: *const u8) -> Result<StorageKey, crate::error::Fail> {
    // SAFETY: by the caller's contract.
    let bytes = Zeroizing::new(unsafe { key_in(key) }?);
    Ok(StorageKey::from_bytes(*bytes))
}

/// Seals the identity at rest under `storage_key` (32 bytes).
///
/// # Safety
/// `identity` is any value (handles are checked); `storage_key` is NULL or valid for reading 32
/// bytes; `out` is NULL or valid for writing an `XcBuffer`. No handle passed is in use by another
/// thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_identity_to_sealed_bytes(
    identity: *const XcIdentity,
    storage_key: *const u8,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let identity = unsafe { handle_ref(identity) }?;
        // SAFETY: by the contract.
        let key = unsafe { self::storage_key(storage_key) }?;
        let sealed = identity.inner.to_sealed_bytes(&mut os_rng(), &key)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&sealed)) };
        Ok(())
    })
}

/// Restores an identity sealed with `xc_identity_to_sealed_bytes`.
///
/// # Safety
/// `bytes` is valid for reading `len` bytes (NULL allowed when `len` is 0); `storage_key` is NULL
/// or valid for reading 32 bytes; `out_identity` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_identity_from_sealed_bytes(
    bytes: *const u8,
    len: usize,
    storage_key: *const u8,
    out_identity: *mut *mut XcIdentity,
) -> i32 {
    guard(|| {
        // SAFETY: `out_identity` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_identity, core::ptr::null_mut()) }?;
        // SAFETY: `bytes`/`len` describe readable memory, by the contract.
        let bytes = unsafe { bytes_in(bytes, len) }?;
        // SAFETY: by the contract.
        let key = unsafe { self::storage_key(storage_key) }?;
        let inner = IdentityKeyPair::from_sealed_bytes(bytes, &key)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcIdentity { inner })) };
        Ok(())
    })
}

/// Seals the prekey store at rest under `storage_key` (32 bytes).
///
/// # Safety
/// As `xc_identity_to_sealed_bytes`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_to_sealed_bytes(
    store: *const XcPreKeyStore,
    storage_key: *const u8,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let store = unsafe { handle_ref(store) }?;
        // SAFETY: by the contract.
        let key = unsafe { self::storage_key(storage_key) }?;
        let sealed = store.inner.to_sealed_bytes(&mut os_rng(), &key)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&sealed)) };
        Ok(())
    })
}

/// Restores a prekey store sealed with `xc_prekey_store_to_sealed_bytes`.
///
/// # Safety
/// As `xc_identity_from_sealed_bytes`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_from_sealed_bytes(
    bytes: *const u8,
    len: usize,
    storage_key: *const u8,
    out_store: *mut *mut XcPreKeyStore,
) -> i32 {
    guard(|| {
        // SAFETY: `out_store` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_store, core::ptr::null_mut()) }?;
        // SAFETY: `bytes`/`len` describe readable memory, by the contract.
        let bytes = unsafe { bytes_in(bytes, len) }?;
        // SAFETY: by the contract.
        let key = unsafe { self::storage_key(storage_key) }?;
        let inner = PreKeyStore::from_sealed_bytes(bytes, &key)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcPreKeyStore { inner })) };
        Ok(())
    })
}

/// Seals the session at rest under `storage_key` (32 bytes).
///
/// # Safety
/// As `xc_identity_to_sealed_bytes`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_to_sealed_bytes(
    session: *const XcSession,
    storage_key: *const u8,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let session = unsafe { handle_ref(session) }?;
        // SAFETY: by the contract.
        let key = unsafe { self::storage_key(storage_key) }?;
        let sealed = session.inner.to_sealed_bytes(&mut os_rng(), &key)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&sealed)) };
        Ok(())
    })
}

/// Restores a session sealed with `xc_session_to_sealed_bytes`.
///
/// # Safety
/// As `xc_identity_from_sealed_bytes`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_from_sealed_bytes(
    bytes: *const u8,
    len: usize,
    storage_key: *const u8,
    out_session: *mut *mut XcSession,
) -> i32 {
    guard(|| {
        // SAFETY: `out_session` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_session, core::ptr::null_mut()) }?;
        // SAFETY: `bytes`/`len` describe readable memory, by the contract.
        let bytes = unsafe { bytes_in(bytes, len) }?;
        // SAFETY: by the contract.
        let key = unsafe { self::storage_key(storage_key) }?;
        let inner = Session::from_sealed_bytes(bytes, &key)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcSession { inner })) };
        Ok(())
    })
}
