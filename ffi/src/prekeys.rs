//! The responder's prekey store and the bundles the server hands out.

use xchat_protocol::PreKeyStore;

use crate::error::INVALID;
use crate::identity::XcIdentity;
use crate::util::{
    XcBuffer, bytes_in, free_handle, guard, handle_mut, handle_ref, into_handle, os_rng, out_init,
};

/// Pass as `one_time_id` to `xc_prekey_store_bundle` for a bundle without a one-time prekey.
pub const XC_NO_ONE_TIME_PREKEY: i64 = -1;
/// Length of one record in the output of `xc_prekey_store_generate_one_time_prekeys`:
/// `id (uint32, big-endian) || X25519 public key (32)`.
pub const XC_ONE_TIME_PREKEY_RECORD_LEN: usize = 36;
/// The most one-time prekeys one call of `xc_prekey_store_generate_one_time_prekeys` creates.
pub const XC_MAX_ONE_TIME_PREKEYS_PER_CALL: usize = 10_000;
/// Length of one KEM prekey record from `xc_prekey_store_generate_kem_one_time_prekeys`: the KEM
/// prekey as a bundle carries it (SPEC.md §5.1), `use (1) || id (uint32, big-endian) ||
/// created_at (uint64, big-endian) || ML-KEM-1024 encapsulation key (1568) || signature (64)`.
pub const XC_KEM_PREKEY_RECORD_LEN: usize = 1645;
/// The most one-time KEM prekeys a store holds (`xc_prekey_store_generate_kem_one_time_prekeys`
/// beyond it is `XC_ERR_TOO_LARGE`).
pub const XC_MAX_KEM_ONE_TIME_PREKEYS: usize = 4096;
const _: () = assert!(XC_KEM_PREKEY_RECORD_LEN == xchat_protocol::KemPreKey::LEN);
const _: () =
    assert!(XC_MAX_KEM_ONE_TIME_PREKEYS == xchat_protocol::prekeys::MAX_KEM_ONE_TIME_PREKEYS);

/// A device's private prekeys: signed prekeys (the current one and two older ones) and unused
/// one-time prekeys (secret). Persist it after every change.
pub struct XcPreKeyStore {
    pub(crate) inner: PreKeyStore,
}

/// Creates an empty store. Give it a signed prekey with
/// `xc_prekey_store_rotate_signed_prekey` before making bundles.
///
/// # Safety
/// `out_store` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_new(out_store: *mut *mut XcPreKeyStore) -> i32 {
    guard(|| {
        // SAFETY: `out_store` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_store, core::ptr::null_mut()) }?;
        let store = XcPreKeyStore {
            inner: PreKeyStore::new(),
        };
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(store)) };
        Ok(())
    })
}

/// Creates a new signed prekey, signed by `identity`, which future bundles carry; the store
/// keeps the two previous ones so that messages in flight still decrypt. `now_ms` is the current
/// time in milliseconds since the Unix epoch, like every time the ABI takes (the prekey signs it in
/// whole seconds). `out_id` may be NULL;
/// otherwise it receives the new signed prekey's id.
///
/// # Safety
/// `store` and `identity` are any values (handles are checked); `out_id` is NULL or valid for
/// writing a `uint32_t`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_rotate_signed_prekey(
    store: *mut XcPreKeyStore,
    identity: *const XcIdentity,
    now_ms: u64,
    out_id: *mut u32,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let store = unsafe { handle_mut(store) }?;
        // SAFETY: as above.
        let identity = unsafe { handle_ref(identity) }?;
        let spk = store
            .inner
            .rotate_signed_prekey(&mut os_rng(), &identity.inner, now_ms);
        if !out_id.is_null() {
            // SAFETY: non-null, and writable and aligned for a `uint32_t` by the contract.
            unsafe { out_id.write(spk.id) };
        }
        Ok(())
    })
}

/// Creates a new last-resort ML-KEM-1024 prekey (PQXDH, SPEC.md §4.5) signed by `identity`; from
/// then on `xc_prekey_store_bundle` puts the current one in every bundle, and sessions started
/// from those bundles are post-quantum. Rotate it with the signed prekey. Writes its id to
/// `out_id` unless it is NULL.
///
/// # Safety
/// `store` and `identity` are any values (handles are checked); `out_id` is NULL or valid for
/// writing a `uint32_t`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_rotate_kem_prekey(
    store: *mut XcPreKeyStore,
    identity: *const XcIdentity,
    now_ms: u64,
    out_id: *mut u32,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let store = unsafe { handle_mut(store) }?;
        // SAFETY: as above.
        let identity = unsafe { handle_ref(identity) }?;
        let kem = store
            .inner
            .rotate_kem_prekey(&mut os_rng(), &identity.inner, now_ms);
        if !out_id.is_null() {
            // SAFETY: non-null, and writable and aligned for a `uint32_t` by the contract.
            unsafe { out_id.write(kem.id) };
        }
        Ok(())
    })
}

/// Generates `count` signed one-time ML-KEM prekeys (PQXDH) and returns their public halves in
/// `out` as `count` records of `XC_KEM_PREKEY_RECORD_LEN` bytes, for upload. A server hands each
/// out once, in a bundle from `xc_prekey_store_bundle_with_kem_one_time` (or assembled from the
/// record), and the last-resort one when none is left.
///
/// # Safety
/// `store` and `identity` are any values (handles are checked); `out` is NULL or valid for writing
/// an `XcBuffer`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_generate_kem_one_time_prekeys(
    store: *mut XcPreKeyStore,
    identity: *const XcIdentity,
    count: usize,
    now_ms: u64,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let store = unsafe { handle_mut(store) }?;
        // SAFETY: as above.
        let identity = unsafe { handle_ref(identity) }?;
        let keys = store.inner.generate_kem_one_time_prekeys(
            &mut os_rng(),
            &identity.inner,
            count,
            now_ms,
        )?;
        let mut records = Vec::with_capacity(keys.len() * XC_KEM_PREKEY_RECORD_LEN);
        for key in &keys {
            records.extend_from_slice(&key.to_bytes());
        }
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&records)) };
        Ok(())
    })
}

/// As `xc_prekey_store_bundle`, with the one-time KEM prekey `kem_id` instead of the last-resort
/// one.
///
/// # Safety
/// As `xc_prekey_store_bundle`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_bundle_with_kem_one_time(
    store: *const XcPreKeyStore,
    identity: *const XcIdentity,
    one_time_id: i64,
    kem_id: u32,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let store = unsafe { handle_ref(store) }?;
        // SAFETY: as above.
        let identity = unsafe { handle_ref(identity) }?;
        let one_time_id = match one_time_id {
            XC_NO_ONE_TIME_PREKEY => None,
            id => Some(u32::try_from(id).map_err(|_| INVALID)?),
        };
        let bundle = store
            .inner
            .bundle_with_kem_one_time(&identity.inner, one_time_id, kem_id)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&bundle.to_bytes())) };
        Ok(())
    })
}

/// Generates `count` one-time prekeys (at most `XC_MAX_ONE_TIME_PREKEYS_PER_CALL`) and returns
/// their public halves in `out` as `count` records of `XC_ONE_TIME_PREKEY_RECORD_LEN` bytes:
/// `id (uint32, big-endian) || public key (32)`. Use the ids with `xc_prekey_store_bundle`.
///
/// # Safety
/// `store` is any value (handles are checked); `out` is NULL or valid for writing an `XcBuffer`.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_generate_one_time_prekeys(
    store: *mut XcPreKeyStore,
    count: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let store = unsafe { handle_mut(store) }?;
        if count > XC_MAX_ONE_TIME_PREKEYS_PER_CALL {
            return Err(INVALID);
        }
        let keys = store
            .inner
            .generate_one_time_prekeys(&mut os_rng(), count)?;
        let mut records = Vec::with_capacity(keys.len() * XC_ONE_TIME_PREKEY_RECORD_LEN);
        for key in &keys {
            records.extend_from_slice(&key.id.to_be_bytes());
            records.extend_from_slice(key.key.as_bytes());
        }
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&records)) };
        Ok(())
    })
}

/// Encodes a bundle (what the server hands to someone starting a session with this device):
/// the identity, the current signed prekey, unless `one_time_id` is `XC_NO_ONE_TIME_PREKEY` the
/// one-time prekey with that id, and the current last-resort KEM prekey once one exists (a
/// PQXDH bundle: its signed prekey is then signed again, with the key type, after the stored
/// signature is checked under `identity` — `XC_ERR_INVALID_SIGNATURE` if it does not verify,
/// SPEC.md §4.2–§4.3).
///
/// # Safety
/// `store` and `identity` are any values (handles are checked); `out` is NULL or valid for writing
/// an `XcBuffer`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_bundle(
    store: *const XcPreKeyStore,
    identity: *const XcIdentity,
    one_time_id: i64,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let store = unsafe { handle_ref(store) }?;
        // SAFETY: as above.
        let identity = unsafe { handle_ref(identity) }?;
        let one_time_id = match one_time_id {
            XC_NO_ONE_TIME_PREKEY => None,
            id => Some(u32::try_from(id).map_err(|_| INVALID)?),
        };
        let bundle = store.inner.bundle(&identity.inner, one_time_id)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&bundle.to_bytes())) };
        Ok(())
    })
}

/// Writes the number of unused one-time prekeys to `out_count` (replenish when it runs low).
///
/// # Safety
/// `store` is any value (handles are checked); `out_count` is NULL or valid for writing a `size_t`.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_one_time_count(
    store: *const XcPreKeyStore,
    out_count: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: `out_count` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_count, 0) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let store = unsafe { handle_ref(store) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(store.inner.one_time_prekey_count()) };
        Ok(())
    })
}

/// Serializes the store for storage (secret: it holds private prekeys).
///
/// # Safety
/// `store` is any value (handles are checked); `out` is NULL or valid for writing an `XcBuffer`.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_to_bytes(
    store: *const XcPreKeyStore,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let store = unsafe { handle_ref(store) }?;
        let saved = store.inner.to_bytes()?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&saved)) };
        Ok(())
    })
}

/// Restores a store saved with `xc_prekey_store_to_bytes`.
///
/// # Safety
/// `bytes` is valid for reading `len` bytes (NULL allowed when `len` is 0); `out_store` is NULL
/// or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_from_bytes(
    bytes: *const u8,
    len: usize,
    out_store: *mut *mut XcPreKeyStore,
) -> i32 {
    guard(|| {
        // SAFETY: `out_store` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_store, core::ptr::null_mut()) }?;
        // SAFETY: `bytes`/`len` describe readable memory, by the contract.
        let bytes = unsafe { bytes_in(bytes, len) }?;
        let store = XcPreKeyStore {
            inner: PreKeyStore::from_bytes(bytes)?,
        };
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(store)) };
        Ok(())
    })
}

/// Frees a store (its secrets are zeroed), and sets the caller's variable `*store` to NULL so that
/// it cannot be used again. Returns `XC_OK`, also when `store` or `*store` is NULL (so freeing the
/// same variable twice is harmless). `XC_ERR_INVALID_HANDLE` when `*store` is not a live prekey
/// store handle (freed through another copy, never issued, or a handle of another type): nothing is
/// freed and `*store` is left as it was (`XC_ERR_INVALID_ARGUMENT` likewise when `store` is
/// misaligned).
///
/// # Safety
/// `store` is NULL or valid for reading and writing one pointer; no other thread is using the
/// handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_prekey_store_free(store: *mut *mut XcPreKeyStore) -> i32 {
    // SAFETY: `store` is NULL or a readable and writable pointer, by the contract.
    unsafe { free_handle(store) }
}
