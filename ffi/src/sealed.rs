//! Sealed sender: sealing a session message, opening an envelope, and the one call that
//! decides who sent it.

use xchat_protocol::sealed_sender::seal;
use xchat_protocol::{
    CertificateKey, Config, ContentKind, Deadline, Delivered, Error, Opened, Receipt,
    SealedRecipient, SealedSenderError, SenderCertificate,
};

use crate::error::{Fail, INVALID, NULL};
use crate::identity::XcIdentity;
use crate::prekeys::XcPreKeyStore;
use crate::session::{XcSession, timer_start_code};
use crate::util::{
    XC_KEY_LEN, XcBuffer, bytes_in, free_handle, guard, guard_void, handle_in_slot, handle_mut,
    handle_ref, into_handle, key_out, os_rng, out_init, release, take_handle, write_key,
};

/// `XcReceived.kind`: an application message.
pub const XC_CONTENT_KIND_MESSAGE: u32 = 1;
/// `XcReceived.kind`: a timer change (the body is empty).
pub const XC_CONTENT_KIND_TIMER_UPDATE: u32 = 2;
/// `XcReceived.kind`: a kind this version of the ABI does not know.
pub const XC_CONTENT_KIND_OTHER: u32 = 0;
/// `XcReceived.kind`: a group member's sender key, received over the pairwise session; pass the
/// body to `xc_group_process_distribution` with the sender's identity (SPEC.md §13.2).
pub const XC_CONTENT_KIND_SENDER_KEY: u32 = 3;
/// `XcReceived.kind`: an attachment descriptor (SPEC.md §14.4); the body holds the attachment's
/// key.
pub const XC_CONTENT_KIND_ATTACHMENT: u32 = 4;

/// `XcReceived.status`: a message (or timer update) to deliver; every other field is set.
pub const XC_RECEIVED_MESSAGE: u32 = 0;
/// `XcReceived.status`: the message had expired before it arrived. Show nothing; only
/// `timer_changed` is set (a newer timer it carried was applied). The session changed: save it.
pub const XC_RECEIVED_EXPIRED: u32 = 1;
/// `XcReceived.status`: the message authenticated but its content frame does not parse (a bug of
/// the peer's client). Show nothing. The session changed: save it.
pub const XC_RECEIVED_UNREADABLE: u32 = 2;

/// `XcReceived.deadline_kind`: the message does not expire.
pub const XC_DEADLINE_NEVER: u32 = 0;
/// `XcReceived.deadline_kind`: delete the message at `deadline_ms` (ms since the Unix epoch, on
/// this device's clock).
pub const XC_DEADLINE_AT: u32 = 1;
/// `XcReceived.deadline_kind`: delete the message `deadline_ms` milliseconds after the user
/// reads it.
pub const XC_DEADLINE_AFTER_READ: u32 = 2;

/// An envelope that passed every check that needs no session: it was sealed to us by the
/// holder of a valid sender certificate. Read the sender with the `xc_opened_sender_*`
/// functions to find the session, then pass it to `xc_opened_decrypt` or `xc_opened_respond`
/// (which consume it and set the caller's variable to NULL; `xc_opened_decrypt` keeps it on
/// `XC_ERR_SESSION_MISMATCH` and `XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH`, for a retry), or
/// drop it with `xc_opened_free`.
pub struct XcOpened {
    pub(crate) inner: Opened,
}

/// A decrypted message. Fill it with `xc_opened_decrypt` or `xc_opened_respond`; release its
/// body with `xc_received_free`.
#[repr(C)]
#[derive(Debug)]
pub struct XcReceived {
    /// `XC_RECEIVED_MESSAGE`, `XC_RECEIVED_EXPIRED` or `XC_RECEIVED_UNREADABLE`: what the session
    /// did with the message. Every status means the session changed (save it); an error return
    /// means nothing changed.
    pub status: u32,
    /// The application's bytes (empty for a timer update).
    pub body: XcBuffer,
    /// The sender's clock when it sent the message (ms since the Unix epoch).
    pub sent_at_ms: u64,
    /// With `XC_DEADLINE_AT`: when to delete the message (ms since the Unix epoch). With
    /// `XC_DEADLINE_AFTER_READ`: how many ms after reading. Otherwise 0.
    pub deadline_ms: u64,
    /// `XC_CONTENT_KIND_MESSAGE`, `XC_CONTENT_KIND_TIMER_UPDATE`, `XC_CONTENT_KIND_SENDER_KEY` or
    /// `XC_CONTENT_KIND_ATTACHMENT`.
    pub kind: u32,
    /// The timer the sender applied to this message: lifetime in seconds, 0 for none.
    pub timer_duration_s: u32,
    /// `XC_TIMER_START_ON_SEND` or `XC_TIMER_START_ON_READ`.
    pub timer_start: u32,
    /// The timer's version (each change increments it).
    pub timer_version: u32,
    /// `XC_DEADLINE_NEVER`, `XC_DEADLINE_AT` or `XC_DEADLINE_AFTER_READ`.
    pub deadline_kind: u32,
    /// Whether this message changed the conversation's timer (show it to the user).
    pub timer_changed: bool,
}

impl XcReceived {
    pub(crate) const EMPTY: Self = Self {
        status: XC_RECEIVED_MESSAGE,
        body: XcBuffer::EMPTY,
        sent_at_ms: 0,
        deadline_ms: 0,
        kind: XC_CONTENT_KIND_OTHER,
        timer_duration_s: 0,
        timer_start: 0,
        timer_version: 0,
        deadline_kind: XC_DEADLINE_NEVER,
        timer_changed: false,
    };

    fn from_delivered(delivered: &Delivered) -> Self {
        Self::from_receipt(&delivered.receipt)
    }

    /// What a session or a group did with a message.
    pub(crate) fn from_receipt(receipt: &Receipt) -> Self {
        let r = match receipt {
            Receipt::Message(received) => received,
            Receipt::Expired { timer_changed } => {
                return Self {
                    status: XC_RECEIVED_EXPIRED,
                    timer_changed: *timer_changed,
                    ..Self::EMPTY
                };
            }
            Receipt::Unreadable(_) => {
                return Self {
                    status: XC_RECEIVED_UNREADABLE,
                    ..Self::EMPTY
                };
            }
        };
        let (deadline_kind, deadline_ms) = match r.deadline {
            Deadline::Never => (XC_DEADLINE_NEVER, 0),
            Deadline::At(ms) => (XC_DEADLINE_AT, ms),
            Deadline::AfterRead(ms) => (XC_DEADLINE_AFTER_READ, ms),
        };
        Self {
            status: XC_RECEIVED_MESSAGE,
            body: XcBuffer::copy_of(&r.body),
            sent_at_ms: r.sent_at_ms,
            deadline_ms,
            kind: match r.kind {
                ContentKind::Message => XC_CONTENT_KIND_MESSAGE,
                ContentKind::TimerUpdate => XC_CONTENT_KIND_TIMER_UPDATE,
                ContentKind::SenderKeyDistribution => XC_CONTENT_KIND_SENDER_KEY,
                ContentKind::Attachment => XC_CONTENT_KIND_ATTACHMENT,
                _ => XC_CONTENT_KIND_OTHER,
            },
            timer_duration_s: r.timer.duration_s,
            timer_start: timer_start_code(r.timer.start),
            timer_version: r.timer.version,
            deadline_kind,
            timer_changed: r.timer_changed,
        }
    }
}

/// Seals a message of `session` (from `xc_session_send` or `xc_session_set_timer`) for the
/// session's peer, with our sender certificate inside. The result is what the server delivers: it
/// learns the recipient and a padded length. `sender` must be the session's identity and the
/// certificate's, else `XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH` (nothing is sealed).
///
/// # Safety
/// `sender` and `session` are any values (handles are checked); each pointer/length pair describes
/// readable memory (NULL allowed for length 0); `out` is NULL or valid for writing an `XcBuffer`.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_seal(
    sender: *const XcIdentity,
    sender_certificate: *const u8,
    sender_certificate_len: usize,
    session: *const XcSession,
    message: *const u8,
    message_len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let sender = unsafe { handle_ref(sender) }?;
        // SAFETY: pointer/length pairs describe readable memory, by the contract.
        let certificate = unsafe { bytes_in(sender_certificate, sender_certificate_len) }?;
        // SAFETY: as above.
        let message = unsafe { bytes_in(message, message_len) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let session = unsafe { handle_ref(session) }?;
        let certificate = SenderCertificate::from_bytes(certificate)?;
        let envelope = seal(
            &mut os_rng(),
            &sender.inner,
            &certificate,
            &session.inner,
            message,
        )?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&envelope)) };
        Ok(())
    })
}

/// Opens an envelope sealed to `identity` at `now_ms` (ms since the Unix epoch): decrypts it,
/// validates the sender certificate against `trust_root_count` trust-root public keys of 32
/// bytes each, laid end to end at `trust_roots`, and against `revoked_count` revoked server ids
/// at `revoked_server_ids`, and checks that the certificate names the key that sealed it.
///
/// # Safety
/// `identity` is any value (handles are checked); `trust_roots` is valid for reading
/// `32 * trust_root_count` bytes; `revoked_server_ids` is valid and aligned for reading
/// `revoked_count` `uint32_t`s; `envelope` for `envelope_len` bytes (any may be NULL when its
/// count is 0); `out_opened` is NULL or valid for writing one pointer.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn xc_open(
    identity: *const XcIdentity,
    trust_roots: *const u8,
    trust_root_count: usize,
    revoked_server_ids: *const u32,
    revoked_count: usize,
    now_ms: u64,
    envelope: *const u8,
    envelope_len: usize,
    out_opened: *mut *mut XcOpened,
) -> i32 {
    guard(|| {
        // SAFETY: `out_opened` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_opened, core::ptr::null_mut()) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let identity = unsafe { handle_ref(identity) }?;
        // SAFETY: by the contract.
        let (roots, revoked) = unsafe {
            trust_inputs(
                trust_roots,
                trust_root_count,
                revoked_server_ids,
                revoked_count,
            )
        }?;
        // SAFETY: `envelope`/`envelope_len` describe readable memory, by the contract.
        let envelope = unsafe { bytes_in(envelope, envelope_len) }?;
        let recipient = SealedRecipient {
            identity: &identity.inner,
            trust_roots: &roots,
            revoked_servers: revoked,
        };
        let opened = recipient.open(envelope, now_ms)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcOpened { inner: opened })) };
        Ok(())
    })
}

/// Reads the trust roots (`count` 32-byte keys) and the revoked server ids of an open call.
///
/// # Safety
/// `roots` is readable for `32 * count` bytes; `revoked` is valid and aligned for reading
/// `revoked_count` `uint32_t`s (either may be NULL when its count is 0), unchanged during the
/// call.
pub(crate) unsafe fn trust_inputs<'a>(
    roots: *const u8,
    count: usize,
    revoked: *const u32,
    revoked_count: usize,
) -> Result<(Vec<CertificateKey>, &'a [u32]), Fail> {
    let roots_len = count.checked_mul(XC_KEY_LEN).ok_or(INVALID)?;
    // SAFETY: `roots` is readable for `32 * count` bytes, by the contract.
    let roots = unsafe { bytes_in(roots, roots_len) }?;
    let roots = roots
        .chunks_exact(XC_KEY_LEN)
        .map(|chunk| {
            let mut key = [0; XC_KEY_LEN];
            key.copy_from_slice(chunk);
            CertificateKey::from_bytes(key)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let revoked: &[u32] = if revoked_count == 0 {
        &[]
    } else if revoked.is_null() {
        return Err(NULL);
    } else if !revoked.is_aligned()
        || revoked_count
            .checked_mul(size_of::<u32>())
            .is_none_or(|bytes| isize::try_from(bytes).is_err())
    {
        return Err(INVALID);
    } else {
        // SAFETY: non-null, aligned, the total size fits in `isize`, and the caller guarantees
        // `revoked_count` readable `uint32_t`s that stay unchanged during the call.
        unsafe { core::slice::from_raw_parts(revoked, revoked_count) }
    };
    Ok((roots, revoked))
}

/// Copies the verified sender's address (the opaque account id its server certified) to `out`.
///
/// # Safety
/// `opened` is any value (handles are checked); `out` is NULL or valid for writing an `XcBuffer`.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_opened_sender_address(
    opened: *const XcOpened,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let opened = unsafe { handle_ref(opened) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&opened.inner.sender().address)) };
        Ok(())
    })
}

/// Writes the verified sender's device id to `out_device_id`.
///
/// # Safety
/// `opened` is any value (handles are checked); `out_device_id` is NULL or valid for writing a
/// `uint32_t`.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_opened_sender_device_id(
    opened: *const XcOpened,
    out_device_id: *mut u32,
) -> i32 {
    guard(|| {
        // SAFETY: `out_device_id` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_device_id, 0) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let opened = unsafe { handle_ref(opened) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(opened.inner.sender().device_id) };
        Ok(())
    })
}

/// Writes the verified sender's 32-byte identity key to `out_key`.
///
/// # Safety
/// `opened` is any value (handles are checked); `out_key` is NULL or valid for writing 32 bytes.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_opened_sender_identity(
    opened: *const XcOpened,
    out_key: *mut u8,
) -> i32 {
    guard(|| {
        let out = key_out(out_key)?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let opened = unsafe { handle_ref(opened) }?;
        // SAFETY: `out` is non-null and writable for 32 bytes, by the contract.
        unsafe { write_key(out, opened.inner.sender().identity.to_bytes()) };
        Ok(())
    })
}

/// Writes whether the inner message is a prekey message. A prekey message is the first
/// message of a session, or any later message from an initiator that has not heard back yet, so
/// this alone does not choose the call: route by "do I have a session with this sender". Try
/// that session first with `xc_opened_decrypt`; use `xc_opened_respond` when there is none, or
/// when `xc_opened_decrypt` returns `XC_ERR_SESSION_MISMATCH` for a prekey message (the peer
/// started a new session; the envelope is then still yours to pass on).
///
/// # Safety
/// `opened` is any value (handles are checked); `out_is_prekey` is NULL or valid for writing a
/// `bool`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_opened_is_prekey_message(
    opened: *const XcOpened,
    out_is_prekey: *mut bool,
) -> i32 {
    guard(|| {
        // SAFETY: `out_is_prekey` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_is_prekey, false) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let opened = unsafe { handle_ref(opened) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(opened.inner.is_prekey_message()) };
        Ok(())
    })
}

/// Decrypts the envelope's message with the sender's existing session. The session's peer must
/// be the certified sender (`XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH` otherwise, session
/// untouched).
///
/// **Consumes `*opened`**, and sets the caller's variable `*opened` to NULL (pass `&opened`),
/// on success and on every error except these:
///
/// - `XC_ERR_SESSION_MISMATCH`: the message is a prekey message of another session (the peer
///   started a new one, e.g. after losing its state). The envelope is **kept**, `*opened` is
///   left as it was and the session is unchanged: pass `&opened` to `xc_opened_respond` next
///   (which consumes it), or free it with `xc_opened_free`.
/// - `XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH`: the session's peer is not the certified sender
///   (the app picked the wrong session). A routing error, detected before the session is
///   touched: the envelope is **kept** likewise, to retry with the right session, to pass to
///   `xc_opened_respond`, or to free.
/// - `XC_ERR_NULL_POINTER` when `opened` or `*opened` is NULL, `XC_ERR_INVALID_ARGUMENT` when
///   `opened` is misaligned, `XC_ERR_INVALID_HANDLE` when `*opened` is not a live `XcOpened`
///   (already consumed or freed through another copy, never issued, another type): nothing is
///   consumed and `*opened` is left as it was.
///
/// Every other result consumes it, including a NULL `out_received` or an invalid `session`
/// alongside a live envelope, and `XC_ERR_PANIC`. After a kept result the envelope stays live
/// until the caller consumes or frees it.
///
/// Save the session after `XC_OK`, and also after `XC_ERR_EXPIRED` and
/// `XC_ERR_INVALID_CONTENT` (the message key was consumed). Other errors leave it unchanged.
///
/// # Safety
/// `opened` is NULL or valid for reading and writing one pointer (the handle in it, and
/// `session`, may be any value: handles are checked); `out_received` is NULL or valid for
/// writing an `XcReceived`; no other thread is using the handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_opened_decrypt(
    opened: *mut *mut XcOpened,
    session: *mut XcSession,
    out_received: *mut XcReceived,
) -> i32 {
    // Whether the envelope is taken (consumed) once the call is over: set when it is found
    // live, cleared for the results that keep it.
    let mut consume = false;
    let code = guard(|| {
        // SAFETY: `out_received` is NULL or writable, by the contract. Its error, if any, is
        // returned once the envelope is known to be live (and so consumed) or not.
        let out = unsafe { out_init(out_received, XcReceived::EMPTY) };
        // SAFETY: `opened` is NULL or a readable pointer, by the contract; the handle in it is
        // checked by the registry and not in use elsewhere. Borrowed, not taken: whether it is
        // consumed depends on the result. The reference does not outlive this closure.
        let envelope = match unsafe { handle_in_slot(opened) } {
            Ok(envelope) => envelope,
            Err(e) => {
                out?;
                return Err(e);
            }
        };
        consume = true;
        let out = out?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let session = unsafe { handle_mut(session) }?;
        let delivered = envelope
            .inner
            .decrypt(&mut session.inner)
            .inspect_err(|e| {
                if keeps_envelope(e) {
                    consume = false;
                }
            })?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcReceived::from_delivered(&delivered)) };
        Ok(())
    });
    if consume {
        // SAFETY: `opened` is a readable and writable pointer holding a live `XcOpened`, found
        // above; the borrow of it ended with the closure, and no other thread uses it, by the
        // contract. It cannot fail then (a failure would mean another thread freed it, which
        // the contract rules out), and it sets `*opened` to NULL.
        let _ = unsafe { free_handle(opened) };
    }
    code
}

/// The results of `Opened::decrypt` that leave the envelope to the caller: a routing error,
/// after which the same envelope is still deliverable (with `xc_opened_respond`, or with the
/// right session). Both are detected before the session is touched.
fn keeps_envelope(e: &SealedSenderError) -> bool {
    matches!(
        e,
        SealedSenderError::Session(Error::SessionMismatch)
            | SealedSenderError::SenderIdentityMismatch
    )
}

/// Starts a session from an envelope carrying a prekey message (the first message from a new
/// peer device, or from a peer that started a new session: `xc_opened_decrypt` returned
/// `XC_ERR_SESSION_MISMATCH` and kept the envelope), using `identity` and the prekey store
/// whose bundle the sender used; `context` must be the bytes the sender passed to
/// `xc_session_initiate`. On success `out_session` receives the new session and `out_received`
/// the message; store it in place of any older session with that sender device.
///
/// **Consumes `*opened`** whatever the result, and sets the caller's variable `*opened` to
/// NULL: pass `&opened`. Only a NULL (`XC_ERR_NULL_POINTER`), misaligned
/// (`XC_ERR_INVALID_ARGUMENT`) or invalid (`XC_ERR_INVALID_HANDLE`) one is left as it was.
///
/// Save the prekey store after this call whatever it returns (a used one-time prekey is
/// deleted once the message authenticates), and save the new session. Check the new session's
/// peer (`xc_session_check_remote_identity`) against the identity you trust for the sender's
/// address, if you have one.
///
/// # Safety
/// `opened` is NULL or valid for reading and writing one pointer (the handle in it,
/// `identity` and `store` may be any value: handles are checked); `context`/`context_len`
/// describe readable memory (NULL allowed for length 0); `out_session` is NULL or valid for
/// writing one pointer; `out_received` is NULL or valid for writing an `XcReceived`; no other
/// thread is using the handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_opened_respond(
    opened: *mut *mut XcOpened,
    identity: *const XcIdentity,
    store: *mut XcPreKeyStore,
    context: *const u8,
    context_len: usize,
    out_session: *mut *mut XcSession,
    out_received: *mut XcReceived,
) -> i32 {
    guard(|| {
        // SAFETY: `opened` is NULL or a readable and writable pointer, by the contract. Taken
        // first so that a live one is freed on every path (`*opened` becomes NULL); its error,
        // if any, is returned once the out-parameters are reset.
        let opened = unsafe { take_handle(opened) };
        // SAFETY: `out_session` is NULL or writable, by the contract.
        let out_session = unsafe { out_init(out_session, core::ptr::null_mut()) }?;
        // SAFETY: `out_received` is NULL or writable, by the contract.
        let out_received = unsafe { out_init(out_received, XcReceived::EMPTY) }?;
        let opened = opened?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let identity = unsafe { handle_ref(identity) }?;
        // SAFETY: as above.
        let store = unsafe { handle_mut(store) }?;
        // SAFETY: `context`/`context_len` describe readable memory, by the contract.
        let context = unsafe { bytes_in(context, context_len) }?;
        let (session, delivered) =
            opened
                .inner
                .respond(&identity.inner, &mut store.inner, &Config::new(context))?;
        // SAFETY: both were checked and written by `out_init`.
        unsafe {
            out_received.write(XcReceived::from_delivered(&delivered));
            out_session.write(into_handle(XcSession { inner: session }));
        }
        Ok(())
    })
}

/// Frees an opened envelope without decrypting it, and sets the caller's variable `*opened` to NULL
/// so that it cannot be used again. Returns `XC_OK`, also when `opened` or `*opened` is NULL (so
/// freeing the same variable twice is harmless). `XC_ERR_INVALID_HANDLE` when `*opened` is not a
/// live opened envelope handle (freed or consumed through another copy, never issued, or a handle
/// of another type): nothing is freed and `*opened` is left as it was (`XC_ERR_INVALID_ARGUMENT`
/// likewise when `opened` is misaligned).
///
/// # Safety
/// `opened` is NULL or valid for reading and writing one pointer; no other thread is using the
/// handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_opened_free(opened: *mut *mut XcOpened) -> i32 {
    // SAFETY: `opened` is NULL or a readable and writable pointer, by the contract.
    unsafe { free_handle(opened) }
}

/// Frees the body of a received message (zeroing it) and resets the struct. NULL is ignored;
/// a second call is a no-op.
///
/// # Safety
/// `received` is NULL or points to an `XcReceived` filled by this library (or reset by a
/// failed call) and not modified since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_received_free(received: *mut XcReceived) {
    guard_void(|| {
        if received.is_null() {
            return;
        }
        // SAFETY: non-null and, by the contract, a live `XcReceived` that nothing else
        // accesses during this call.
        let received = unsafe { &mut *received };
        // SAFETY: its body is `{ NULL, 0 }` or was made by `XcBuffer::copy_of`.
        unsafe { release(&mut received.body) };
        *received = XcReceived::EMPTY;
    });
}
