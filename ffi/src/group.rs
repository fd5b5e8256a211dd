//! Groups (SPEC.md §13): a group view per device, sender keys over the pairwise sessions, group
//! messages, and the multi-recipient envelope that carries one to every member (§9.5).
//!
//! Member lists are arrays of 32-byte identity keys; an output list is an `XcBuffer` of
//! `32 * n` bytes, in the group's order (the order of `xc_seal_for_group`'s headers).

use xchat_protocol::group::{GroupConfig, GroupError, GroupId, SenderKeyDistribution};
use xchat_protocol::sealed_sender::{
    OpenedGroup, SenderCertificate, seal_for_group, split_for_recipient,
};
use xchat_protocol::{GroupSession, IdentityKey, SealedRecipient};

use crate::error::{Fail, INVALID};
use crate::identity::XcIdentity;
use crate::sealed::{XcReceived, trust_inputs};
use crate::session::XcSession;
use crate::util::{
    XC_KEY_LEN, XcBuffer, bytes_in, free_handle, guard, handle_in_slot, handle_mut, handle_ref,
    into_handle, key_in, os_rng, out_init,
};

/// One device's view of one group (secret): its sender key, the members and their sender keys.
/// Save it with `xc_group_to_bytes` after every call that returns `XC_OK` and changes it.
pub struct XcGroup {
    pub(crate) inner: GroupSession,
}

/// A multi-recipient envelope that opened and whose certificate validated; pass it to
/// `xc_opened_group_receive` (which consumes it) or drop it with `xc_opened_group_free`.
pub struct XcOpenedGroup {
    inner: OpenedGroup,
}

/// Reads `count` 32-byte identity keys.
///
/// # Safety
/// `keys` is readable for `32 * count` bytes (NULL allowed when `count` is 0).
unsafe fn identity_keys(keys: *const u8, count: usize) -> Result<Vec<IdentityKey>, Fail> {
    let len = count.checked_mul(XC_KEY_LEN).ok_or(INVALID)?;
    // SAFETY: by the contract.
    let bytes = unsafe { bytes_in(keys, len) }?;
    bytes
        .chunks_exact(XC_KEY_LEN)
        .map(|chunk| {
            let mut key = [0; XC_KEY_LEN];
            key.copy_from_slice(chunk);
            Ok(IdentityKey::from_bytes(key)?)
        })
        .collect()
}

fn key_list<'a>(keys: impl Iterator<Item = &'a IdentityKey>) -> XcBuffer {
    let bytes: Vec<u8> = keys.flat_map(|k| k.to_bytes()).collect();
    XcBuffer::copy_of(&bytes)
}

/// Creates the group `group_id` (32 bytes, chosen by the app) for our device `identity`, with
/// `member_count` other devices at `members` (32-byte identity keys; ours and repeats are
/// skipped), the default limits and rotation policy, and a fresh sender key made at `now_ms`.
///
/// # Safety
/// `identity` is any value (handles are checked); `group_id` is NULL or readable for 32 bytes;
/// `members` is readable for `32 * member_count` bytes (NULL allowed when 0); `out_group` is NULL
/// or valid for writing one pointer. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_new(
    identity: *const XcIdentity,
    group_id: *const u8,
    members: *const u8,
    member_count: usize,
    now_ms: u64,
    out_group: *mut *mut XcGroup,
) -> i32 {
    guard(|| {
        // SAFETY: `out_group` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_group, core::ptr::null_mut()) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let identity = unsafe { handle_ref(identity) }?;
        // SAFETY: NULL or readable for 32 bytes, by the contract.
        let id = GroupId(unsafe { key_in(group_id) }?);
        // SAFETY: by the contract.
        let members = unsafe { identity_keys(members, member_count) }?;
        let group = GroupSession::new(
            &mut os_rng(),
            identity.inner.public(),
            id,
            &members,
            now_ms,
            GroupConfig::default(),
        )?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcGroup { inner: group })) };
        Ok(())
    })
}

/// Adds the device `member` (32-byte identity key). It lacks our sender key until
/// `xc_group_distribution` lists it and it is sent; it then reads what we send from that point
/// on. `out_added` (NULL allowed) says whether it was new.
///
/// # Safety
/// `group` is any value (handles are checked); `member` is NULL or readable for 32 bytes;
/// `out_added` is NULL or valid for writing a `bool`. No handle passed is in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_add_member(
    group: *mut XcGroup,
    member: *const u8,
    out_added: *mut bool,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let group = unsafe { handle_mut(group) }?;
        // SAFETY: NULL or readable for 32 bytes, by the contract.
        let member = IdentityKey::from_bytes(unsafe { key_in(member) }?)?;
        let added = group.inner.add_member(&member)?;
        if !out_added.is_null() {
            // SAFETY: non-null and writable for a `bool`, by the contract.
            unsafe { out_added.write(added) };
        }
        Ok(())
    })
}

/// Removes the device `member`: nothing it sends is read any more, and our next send needs a new
/// sender key (`xc_group_distribution` makes it, for the remaining members only). `out_removed`
/// (NULL allowed) says whether it was a member.
///
/// # Safety
/// As `xc_group_add_member`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_remove_member(
    group: *mut XcGroup,
    member: *const u8,
    out_removed: *mut bool,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let group = unsafe { handle_mut(group) }?;
        // SAFETY: NULL or readable for 32 bytes, by the contract.
        let member = IdentityKey::from_bytes(unsafe { key_in(member) }?)?;
        let removed = group.inner.remove_member(&member);
        if !out_removed.is_null() {
            // SAFETY: non-null and writable for a `bool`, by the contract.
            unsafe { out_removed.write(removed) };
        }
        Ok(())
    })
}

/// The members (other than us) as `32 * n` bytes, in the group's order.
///
/// # Safety
/// `group` is any value (handles are checked); `out` is NULL or valid for writing an `XcBuffer`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_members(group: *const XcGroup, out: *mut XcBuffer) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let group = unsafe { handle_ref(group) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(key_list(group.inner.members())) };
        Ok(())
    })
}

/// Prepares our next send at `now_ms`: replaces our sender key if a rotation is due, and returns
/// it (`out_distribution`, `XC_SENDER_KEY_DISTRIBUTION_LEN` secret bytes) with the members that
/// lack it (`out_recipients`, `32 * n` bytes; empty when all have it). Send it to each with
/// `xc_session_send_sender_key` over its pairwise session, then `xc_group_mark_distributed`.
///
/// # Safety
/// `group` is any value (handles are checked); `out_distribution` and `out_recipients` are NULL
/// or valid for writing an `XcBuffer`. No handle passed is in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_distribution(
    group: *mut XcGroup,
    now_ms: u64,
    out_distribution: *mut XcBuffer,
    out_recipients: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: NULL or writable, by the contract.
        let out_d = unsafe { out_init(out_distribution, XcBuffer::EMPTY) }?;
        // SAFETY: as above.
        let out_r = unsafe { out_init(out_recipients, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let group = unsafe { handle_mut(group) }?;
        let pending = group.inner.distribution(&mut os_rng(), now_ms);
        // SAFETY: both were checked and written by `out_init`.
        unsafe {
            out_d.write(XcBuffer::copy_of(&pending.distribution.to_bytes()));
            out_r.write(key_list(pending.recipients.iter()));
        }
        Ok(())
    })
}

/// Length of a sender key distribution (SPEC.md §13.2).
pub const XC_SENDER_KEY_DISTRIBUTION_LEN: usize = 105;
const _: () = assert!(XC_SENDER_KEY_DISTRIBUTION_LEN == SenderKeyDistribution::LEN);

/// Records that `member` now holds `distribution` (the bytes `xc_group_distribution` returned,
/// once their delivery to `member` completed). It must be our current sender key at its current
/// iteration: a distribution of a key we rotated since, or from before we sent more, returns
/// `XC_ERR_GROUP_STALE_DISTRIBUTION` and marks nothing (SPEC.md §13.5).
///
/// # Safety
/// `group` is any value (handles are checked); `member` is NULL or readable for 32 bytes;
/// `distribution`/`len` describe readable memory. No handle passed is in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_mark_distributed(
    group: *mut XcGroup,
    member: *const u8,
    distribution: *const u8,
    len: usize,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let group = unsafe { handle_mut(group) }?;
        // SAFETY: NULL or readable for 32 bytes, by the contract.
        let member = IdentityKey::from_bytes(unsafe { key_in(member) }?)?;
        // SAFETY: readable, by the contract.
        let d = SenderKeyDistribution::from_bytes(unsafe { bytes_in(distribution, len) }?)?;
        group.inner.mark_distributed(&member, &d)?;
        Ok(())
    })
}

/// Sends a sender key distribution (from `xc_group_distribution`) to the session's peer: a
/// padded content frame of its own kind, stamped with `now_ms` and the session's timer; seal the
/// result with `xc_seal` like any message and save the session.
///
/// # Safety
/// `session` is any value (handles are checked); `distribution`/`len` describe readable memory;
/// `out` is NULL or valid for writing an `XcBuffer`. No handle passed is in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_send_sender_key(
    session: *mut XcSession,
    now_ms: u64,
    distribution: *const u8,
    len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let session = unsafe { handle_mut(session) }?;
        // SAFETY: readable, by the contract.
        let bytes = unsafe { bytes_in(distribution, len) }?;
        let d = SenderKeyDistribution::from_bytes(bytes)?;
        let message = d.send(&mut session.inner, &mut os_rng(), now_ms)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&message)) };
        Ok(())
    })
}

/// Takes a member's sender key: the body of an `XcReceived` of kind `XC_CONTENT_KIND_SENDER_KEY`
/// from the pairwise session with `sender` (its 32-byte identity key, as the envelope's
/// certificate names it).
///
/// # Safety
/// `group` is any value (handles are checked); `sender` is NULL or readable for 32 bytes;
/// `body`/`len` describe readable memory. No handle passed is in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_process_distribution(
    group: *mut XcGroup,
    sender: *const u8,
    body: *const u8,
    len: usize,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let group = unsafe { handle_mut(group) }?;
        // SAFETY: NULL or readable for 32 bytes, by the contract.
        let sender = IdentityKey::from_bytes(unsafe { key_in(sender) }?)?;
        // SAFETY: readable, by the contract.
        let bytes = unsafe { bytes_in(body, len) }?;
        let d = SenderKeyDistribution::from_bytes(bytes)?;
        group.inner.process_distribution(&sender, &d)?;
        Ok(())
    })
}

/// Encrypts an application message for the whole group (one message for every member), stamped
/// with `now_ms` and the group's timer and padded. `XC_ERR_GROUP_DISTRIBUTION_PENDING` while a
/// member lacks our sender key or a rotation is due (call `xc_group_distribution` first). Seal
/// the result with `xc_seal_for_group` and save the group.
///
/// # Safety
/// `group` is any value (handles are checked); `body`/`body_len` describe readable memory; `out`
/// is NULL or valid for writing an `XcBuffer`. No handle passed is in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_send(
    group: *mut XcGroup,
    now_ms: u64,
    body: *const u8,
    body_len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let group = unsafe { handle_mut(group) }?;
        // SAFETY: readable, by the contract.
        let body = unsafe { bytes_in(body, body_len) }?;
        let message = group.inner.send(&mut os_rng(), now_ms, body)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&message)) };
        Ok(())
    })
}

/// Seals a group message (from `xc_group_send`) once for every member of `group`, with our
/// sender certificate inside (SPEC.md §9.5): `out` is the upload for the relay, which makes each
/// recipient's envelope with `xc_split_for_recipient` (recipient `i` is the `i`-th key of
/// `xc_group_members`). `sender` must be the group's identity and the certificate's.
///
/// # Safety
/// `sender` and `group` are any values (handles are checked); each pointer/length pair
/// describes readable memory; `out` is NULL or valid for writing an `XcBuffer`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_seal_for_group(
    sender: *const XcIdentity,
    certificate: *const u8,
    certificate_len: usize,
    group: *const XcGroup,
    message: *const u8,
    message_len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let sender = unsafe { handle_ref(sender) }?;
        // SAFETY: as above.
        let group = unsafe { handle_ref(group) }?;
        // SAFETY: readable, by the contract.
        let cert =
            SenderCertificate::from_bytes(unsafe { bytes_in(certificate, certificate_len) }?)?;
        // SAFETY: readable, by the contract.
        let message = unsafe { bytes_in(message, message_len) }?;
        let sealed = seal_for_group(&mut os_rng(), &sender.inner, &cert, &group.inner, message)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(sealed.to_bytes())) };
        Ok(())
    })
}

/// The relay's step: the envelope for recipient `index` of an upload from `xc_seal_for_group`.
///
/// # Safety
/// `upload`/`len` describe readable memory; `out` is NULL or valid for writing an `XcBuffer`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_split_for_recipient(
    upload: *const u8,
    len: usize,
    index: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: readable, by the contract.
        let upload = unsafe { bytes_in(upload, len) }?;
        let envelope = split_for_recipient(upload, index)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&envelope)) };
        Ok(())
    })
}

/// Opens a multi-recipient envelope sealed to `identity`, as `xc_open` does a 1:1 one (the same
/// trust inputs); its group message is reachable only through `xc_opened_group_receive`.
///
/// # Safety
/// As `xc_open`, with `out_opened` NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn xc_open_group(
    identity: *const XcIdentity,
    trust_roots: *const u8,
    trust_root_count: usize,
    revoked_server_ids: *const u32,
    revoked_count: usize,
    now_ms: u64,
    envelope: *const u8,
    envelope_len: usize,
    out_opened: *mut *mut XcOpenedGroup,
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
        // SAFETY: readable, by the contract.
        let envelope = unsafe { bytes_in(envelope, envelope_len) }?;
        let recipient = SealedRecipient {
            identity: &identity.inner,
            trust_roots: &roots,
            revoked_servers: revoked,
        };
        let opened = recipient.open_group(envelope, now_ms)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcOpenedGroup { inner: opened })) };
        Ok(())
    })
}

/// Receives an opened group envelope's message into `group`, with the certified identity as its
/// sender, and fills `out_received` (release its body with `xc_received_free`). **Consumes
/// `*opened`** whatever the result and sets it to NULL (a NULL, misaligned or invalid one is left
/// as it was). Save the group after `XC_OK`; an error changed nothing.
///
/// # Safety
/// `opened` is NULL or valid for reading and writing one pointer (the handle in it, and
/// `group`, may be any value: handles are checked); `out_received` is NULL or valid for writing
/// an `XcReceived`; no other thread is using the handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_opened_group_receive(
    opened: *mut *mut XcOpenedGroup,
    group: *mut XcGroup,
    out_received: *mut XcReceived,
) -> i32 {
    let mut consume = false;
    let code = guard(|| {
        // SAFETY: `out_received` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_received, XcReceived::EMPTY) };
        // SAFETY: `opened` is NULL or readable; the handle in it is checked by the registry.
        let envelope = unsafe { handle_in_slot(opened) }?;
        consume = true;
        let out = out?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let group = unsafe { handle_mut(group) }?;
        let delivered = envelope.inner.receive(&mut group.inner)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcReceived::from_receipt(&delivered.receipt)) };
        Ok(())
    });
    if consume {
        // SAFETY: `opened` holds a live `XcOpenedGroup`, found above; the borrow ended with the
        // closure and no other thread uses it, by the contract. It sets `*opened` to NULL.
        let _ = unsafe { free_handle(opened) };
    }
    code
}

/// Frees an opened group envelope and sets `*opened` to NULL (as `xc_opened_free`).
///
/// # Safety
/// `opened` is NULL or valid for reading and writing one pointer; no other thread uses it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_opened_group_free(opened: *mut *mut XcOpenedGroup) -> i32 {
    // SAFETY: by the contract.
    unsafe { free_handle(opened) }
}

/// Serializes the group for storage (secret; kind `0x13`, SPEC.md §13.7).
///
/// # Safety
/// `group` is any value (handles are checked); `out` is NULL or valid for writing an `XcBuffer`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_to_bytes(group: *const XcGroup, out: *mut XcBuffer) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let group = unsafe { handle_ref(group) }?;
        let saved = group.inner.to_bytes()?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&saved)) };
        Ok(())
    })
}

/// Restores a group saved with `xc_group_to_bytes`.
///
/// # Safety
/// `bytes`/`len` describe readable memory; `out_group` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_from_bytes(
    bytes: *const u8,
    len: usize,
    out_group: *mut *mut XcGroup,
) -> i32 {
    guard(|| {
        // SAFETY: `out_group` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_group, core::ptr::null_mut()) }?;
        // SAFETY: readable, by the contract.
        let bytes = unsafe { bytes_in(bytes, len) }?;
        let group = GroupSession::from_bytes(bytes)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcGroup { inner: group })) };
        Ok(())
    })
}

/// Frees a group (its secrets are zeroed) and sets `*group` to NULL (as `xc_session_free`).
///
/// # Safety
/// `group` is NULL or valid for reading and writing one pointer; no other thread uses it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_free(group: *mut *mut XcGroup) -> i32 {
    // SAFETY: by the contract.
    unsafe { free_handle(group) }
}

/// The C code of a group error.
pub(crate) fn group_code(e: GroupError) -> i32 {
    use crate::error::*;
    match e {
        GroupError::Decode(d) => decode_code(d),
        GroupError::WrongGroup => XC_ERR_GROUP_WRONG_GROUP,
        GroupError::NotAMember => XC_ERR_GROUP_NOT_A_MEMBER,
        GroupError::UnknownSenderKey(_) => XC_ERR_GROUP_UNKNOWN_SENDER_KEY,
        GroupError::DistributionPending => XC_ERR_GROUP_DISTRIBUTION_PENDING,
        GroupError::StaleDistribution => XC_ERR_GROUP_STALE_DISTRIBUTION,
        GroupError::InvalidSignature => XC_ERR_INVALID_SIGNATURE,
        GroupError::DuplicateMessage => XC_ERR_DUPLICATE_MESSAGE,
        GroupError::TooFarInFuture => XC_ERR_TOO_FAR_IN_FUTURE,
        GroupError::DecryptionFailed => XC_ERR_DECRYPTION_FAILED,
        GroupError::TooLarge => XC_ERR_TOO_LARGE,
        GroupError::InvalidLimits => XC_ERR_INVALID_LIMITS,
        GroupError::TimerVersionExhausted => XC_ERR_TIMER_VERSION_EXHAUSTED,
        _ => XC_ERR_GROUP_OTHER,
    }
}
