//! Sessions: starting one from a bundle, sending, timers, persistence.

use xchat_protocol::{IdentityKey, PreKeyBundle, Session, TimerStart};

use crate::error::INVALID;
use crate::identity::XcIdentity;
use crate::util::{
    XcBuffer, bytes_in, free_handle, guard, handle_mut, handle_ref, into_handle, key_in, key_out,
    os_rng, out_init, write_key,
};
use xchat_protocol::{Config, Trust};

/// Timer start: the countdown starts when the message is sent (the sender's timestamp).
pub const XC_TIMER_START_ON_SEND: u32 = 0;
/// Timer start: the countdown starts when the recipient reads the message.
pub const XC_TIMER_START_ON_READ: u32 = 1;

/// An end-to-end encrypted session with one peer device (secret). Persist it with
/// `xc_session_to_bytes` after every send and every successful receive.
pub struct XcSession {
    pub(crate) inner: Session,
}

pub(crate) fn timer_start_code(start: TimerStart) -> u32 {
    match start {
        TimerStart::OnSend => XC_TIMER_START_ON_SEND,
        TimerStart::OnRead => XC_TIMER_START_ON_READ,
    }
}

/// Starts a session with the owner of `bundle` (bytes the server handed out), as `identity`.
/// The bundle's signatures (its signed prekey's and its KEM prekey's) are verified. `context` (e.g. both account ids) is bound
/// into every message; the peer must pass the same bytes to `xc_opened_respond`. At most 1024
/// bytes.
///
/// `trusted_key` is the trust decision about the peer: the 32-byte identity key the app has pinned
/// for this contact (a bundle with another is refused with `XC_ERR_UNTRUSTED_IDENTITY` before any
/// key is drawn), or NULL for a contact seen for the first time (then pin
/// `xc_session_remote_identity`).
///
/// # Safety
/// `identity` is any value (handles are checked); each pointer/length pair describes readable
/// memory (NULL allowed for length 0); `trusted_key` is NULL or valid for reading 32 bytes;
/// `out_session` is NULL or valid for writing one pointer. No handle passed is in use by another
/// thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_initiate(
    identity: *const XcIdentity,
    bundle: *const u8,
    bundle_len: usize,
    trusted_key: *const u8,
    context: *const u8,
    context_len: usize,
    out_session: *mut *mut XcSession,
) -> i32 {
    guard(|| {
        // SAFETY: `out_session` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_session, core::ptr::null_mut()) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let identity = unsafe { handle_ref(identity) }?;
        // SAFETY: pointer/length pairs describe readable memory, by the contract.
        let bundle = unsafe { bytes_in(bundle, bundle_len) }?;
        // SAFETY: as above.
        let context = unsafe { bytes_in(context, context_len) }?;
        let bundle = PreKeyBundle::from_bytes(bundle)?;
        let pinned = if trusted_key.is_null() {
            None
        } else {
            // SAFETY: non-null and readable for 32 bytes, by the contract.
            Some(IdentityKey::from_bytes(unsafe { key_in(trusted_key) }?)?)
        };
        let trust = pinned.as_ref().map_or(Trust::FirstUse, Trust::Pinned);
        let session = Session::initiate(
            &mut os_rng(),
            &identity.inner,
            &bundle,
            trust,
            &Config::new(context),
        )?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcSession { inner: session })) };
        Ok(())
    })
}

/// Encrypts an application message stamped with `now_ms` (ms since the Unix epoch) and the
/// session's timer, padded; returns the session message to seal with `xc_seal`.
///
/// The session has advanced: save it (`xc_session_to_bytes`) before handing the message to the
/// network.
///
/// # Safety
/// `session` is any value (handles are checked); `body`/`body_len` describe readable memory (NULL
/// allowed for length 0); `out` is NULL or valid for writing an `XcBuffer`. No handle passed is in
/// use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_send(
    session: *mut XcSession,
    now_ms: u64,
    body: *const u8,
    body_len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let session = unsafe { handle_mut(session) }?;
        // SAFETY: `body`/`body_len` describe readable memory, by the contract.
        let body = unsafe { bytes_in(body, body_len) }?;
        let message = session.inner.send(&mut os_rng(), now_ms, body)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&message)) };
        Ok(())
    })
}

/// Changes the conversation's disappearing-message timer to `duration_s` seconds (0 turns it
/// off) starting `start` (`XC_TIMER_START_ON_SEND` or `XC_TIMER_START_ON_READ`; ignored when
/// off). The new timer applies to this session at once and travels to the peer in the returned
/// timer-update message, which is sealed and sent like any other. Save the session afterwards.
///
/// # Safety
/// `session` is any value (handles are checked); `out` is NULL or valid for writing an `XcBuffer`.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_set_timer(
    session: *mut XcSession,
    now_ms: u64,
    duration_s: u32,
    start: u32,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let session = unsafe { handle_mut(session) }?;
        let start = match start {
            XC_TIMER_START_ON_SEND => TimerStart::OnSend,
            XC_TIMER_START_ON_READ => TimerStart::OnRead,
            _ => return Err(INVALID),
        };
        let message = session
            .inner
            .set_timer(&mut os_rng(), now_ms, duration_s, start)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&message)) };
        Ok(())
    })
}

/// Deletes stored keys of skipped messages whose deadline passed before `now_ms` (they could
/// only open messages that have expired anyway). `out_count` may be NULL; otherwise it receives
/// how many were deleted. Call it periodically, then save the session if anything was deleted.
///
/// # Safety
/// `session` is any value (handles are checked); `out_count` is NULL or valid for writing a
/// `size_t`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_purge(
    session: *mut XcSession,
    now_ms: u64,
    out_count: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let session = unsafe { handle_mut(session) }?;
        let purged = session.inner.purge(now_ms);
        if !out_count.is_null() {
            // SAFETY: non-null, and writable and aligned for a `size_t` by the contract.
            unsafe { out_count.write(purged) };
        }
        Ok(())
    })
}

/// Writes the peer's 32-byte identity key to `out_key`.
///
/// # Safety
/// `session` is any value (handles are checked); `out_key` is NULL or valid for writing 32 bytes.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_remote_identity(
    session: *const XcSession,
    out_key: *mut u8,
) -> i32 {
    guard(|| {
        let out = key_out(out_key)?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let session = unsafe { handle_ref(session) }?;
        // SAFETY: `out` is non-null and writable for 32 bytes, by the contract.
        unsafe { write_key(out, session.inner.remote_identity().to_bytes()) };
        Ok(())
    })
}

/// Compares the peer's identity with `trusted_key` (32 bytes: the identity the application
/// trusts for this contact). Returns `XC_OK` if equal, `XC_ERR_UNTRUSTED_IDENTITY` if not (the
/// contact re-installed, or someone substituted a key: ask the user before sending).
///
/// # Safety
/// `session` is any value (handles are checked); `trusted_key` is NULL or valid for reading 32
/// bytes. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_check_remote_identity(
    session: *const XcSession,
    trusted_key: *const u8,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let session = unsafe { handle_ref(session) }?;
        // SAFETY: NULL or readable for 32 bytes, by the contract.
        let trusted = IdentityKey::from_bytes(unsafe { key_in(trusted_key) }?)?;
        session.inner.check_remote_identity(&trusted)?;
        Ok(())
    })
}

/// Serializes the session for storage (secret).
///
/// # Safety
/// `session` is any value (handles are checked); `out` is NULL or valid for writing an `XcBuffer`.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_to_bytes(session: *const XcSession, out: *mut XcBuffer) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let session = unsafe { handle_ref(session) }?;
        let saved = session.inner.to_bytes()?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&saved)) };
        Ok(())
    })
}

/// Restores a session saved with `xc_session_to_bytes`.
///
/// # Safety
/// `bytes` is valid for reading `len` bytes (NULL allowed when `len` is 0); `out_session` is
/// NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_from_bytes(
    bytes: *const u8,
    len: usize,
    out_session: *mut *mut XcSession,
) -> i32 {
    guard(|| {
        // SAFETY: `out_session` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_session, core::ptr::null_mut()) }?;
        // SAFETY: `bytes`/`len` describe readable memory, by the contract.
        let bytes = unsafe { bytes_in(bytes, len) }?;
        let session = Session::from_bytes(bytes)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcSession { inner: session })) };
        Ok(())
    })
}

/// Frees a session (its secrets are zeroed), and sets the caller's variable `*session` to NULL so
/// that it cannot be used again. Returns `XC_OK`, also when `session` or `*session` is NULL (so
/// freeing the same variable twice is harmless). `XC_ERR_INVALID_HANDLE` when `*session` is not a
/// live session handle (freed through another copy, never issued, or a handle of another type):
/// nothing is freed and `*session` is left as it was (`XC_ERR_INVALID_ARGUMENT` likewise when
/// `session` is misaligned).
///
/// # Safety
/// `session` is NULL or valid for reading and writing one pointer; no other thread is using the
/// handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_free(session: *mut *mut XcSession) -> i32 {
    // SAFETY: `session` is NULL or a readable and writable pointer, by the contract.
    unsafe { free_handle(session) }
}
