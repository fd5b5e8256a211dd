//! Identity key pairs.

use xchat_protocol::IdentityKeyPair;

use crate::util::{
    XcBuffer, bytes_in, free_handle, guard, handle_ref, into_handle, key_out, os_rng, out_init,
    write_key,
};

/// A device's long-term identity key pair (secret). Create it once per device, persist it with
/// `xc_identity_to_bytes`, free it with `xc_identity_free`.
pub struct XcIdentity {
    pub(crate) inner: IdentityKeyPair,
}

/// Generates a new identity from the operating system's RNG.
///
/// # Safety
/// `out_identity` is NULL or valid for writing one pointer. On success it receives a new handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_identity_generate(out_identity: *mut *mut XcIdentity) -> i32 {
    guard(|| {
        // SAFETY: `out_identity` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_identity, core::ptr::null_mut()) }?;
        let identity = XcIdentity {
            inner: IdentityKeyPair::generate(&mut os_rng()),
        };
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(identity)) };
        Ok(())
    })
}

/// Restores an identity saved with `xc_identity_to_bytes`.
///
/// # Safety
/// `bytes` is valid for reading `len` bytes (it may be NULL when `len` is 0); `out_identity` is
/// NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_identity_from_bytes(
    bytes: *const u8,
    len: usize,
    out_identity: *mut *mut XcIdentity,
) -> i32 {
    guard(|| {
        // SAFETY: `out_identity` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_identity, core::ptr::null_mut()) }?;
        // SAFETY: `bytes`/`len` describe readable memory, by the contract.
        let bytes = unsafe { bytes_in(bytes, len) }?;
        let identity = XcIdentity {
            inner: IdentityKeyPair::from_bytes(bytes)?,
        };
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(identity)) };
        Ok(())
    })
}

/// Serializes the identity for storage. The bytes are secret: keep them in the platform's
/// protected storage, and free the buffer (which zeroes it) as soon as they are stored.
///
/// # Safety
/// `identity` is any value (handles are checked); `out` is NULL or valid for writing an
/// `XcBuffer`.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_identity_to_bytes(
    identity: *const XcIdentity,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let identity = unsafe { handle_ref(identity) }?;
        let saved = identity.inner.to_bytes();
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&saved)) };
        Ok(())
    })
}

/// Writes the 32-byte public identity key (what peers and certificates name) to `out_key`.
///
/// # Safety
/// `identity` is any value (handles are checked); `out_key` is NULL or valid for writing 32
/// bytes.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_identity_public_key(
    identity: *const XcIdentity,
    out_key: *mut u8,
) -> i32 {
    guard(|| {
        let out = key_out(out_key)?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let identity = unsafe { handle_ref(identity) }?;
        // SAFETY: `out` is non-null and writable for 32 bytes, by the contract.
        unsafe { write_key(out, identity.inner.public().to_bytes()) };
        Ok(())
    })
}

/// Frees an identity (its secret is zeroed), and sets the caller's variable `*identity` to NULL so
/// that it cannot be used again. Returns `XC_OK`, also when `identity` or `*identity` is NULL (so
/// freeing the same variable twice is harmless). `XC_ERR_INVALID_HANDLE` when `*identity` is not a
/// live identity handle (freed through another copy, never issued, or a handle of another type):
/// nothing is freed and `*identity` is left as it was (`XC_ERR_INVALID_ARGUMENT` likewise when
/// `identity` is misaligned).
///
/// # Safety
/// `identity` is NULL or valid for reading and writing one pointer; no other thread is using the
/// handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_identity_free(identity: *mut *mut XcIdentity) -> i32 {
    // SAFETY: `identity` is NULL or a readable and writable pointer, by the contract.
    unsafe { free_handle(identity) }
}
