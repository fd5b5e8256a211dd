//! Accounts (SPEC.md §15): the account key, the signed device lists a server stores and serves,
//! a contact (its verified device list and one session per listed device), and safety numbers.
//!
//! What crosses this part of the ABI as bytes (every integer big-endian):
//!
//! - a **device entry**, `XC_DEVICE_ENTRY_LEN` (108) bytes, the entry of SPEC.md §15.1:
//!   `device id u32 || identity 32 || added_at_ms u64 || membership signature 64`. A device makes
//!   its own with `xc_device_entry_sign` and hands it to the account's manager; the entries of a
//!   list come out of `xc_device_list_verify`. Arrays of entries are laid end to end.
//! - a **device list**: the encoding of SPEC.md §15.1, what the server stores and serves. It is
//!   made by `xc_device_list_first` / `xc_device_list_next` and checked (every signature) by
//!   every function that takes one.
//! - an **account event**, `XC_ACCOUNT_EVENT_LEN` (37) bytes: `kind u8 || device id u32 || key
//!   32`, for `XC_ACCOUNT_EVENT_DEVICE_ADDED` / `_DEVICE_REMOVED` the device and its identity
//!   key, for `XC_ACCOUNT_EVENT_ACCOUNT_KEY_CHANGED` device id 0 and the new account key. A
//!   change of events is a buffer of `37 * n` bytes: the removals first, then the additions (a
//!   device whose identity changed under its id is both).
//! - a **device record**, `XC_DEVICE_RECORD_LEN` (36) bytes: `device id u32 || identity 32`.
//! - **outgoing messages**, one per device, end to end: `device id u32 || identity 32 ||
//!   length u32 || message` (`XC_OUTGOING_HEADER_LEN` = 40 bytes before each message), in the
//!   order of the device list. Route each message to its device.

use xchat_protocol::account::{
    AccountError, AccountEvent, AccountKey, AccountKeyPair, Comparison, Contact,
    DEVICE_LIST_VERSION, DeviceEntry, DeviceList, DeviceListView, Fingerprint, LABEL_DEVICE_LIST,
    LABEL_DEVICE_MEMBERSHIP, MAX_ACCOUNT_ID_LEN, MAX_DEVICES, Outgoing, QR_PAYLOAD_LEN,
    SafetyNumber,
};
use xchat_protocol::state::StorageKey;
use xchat_protocol::{
    Config, Error, IdentityKey, IdentityKeyPair, PreKeyBundle, SealedSenderError,
    SenderCertificate, TimerStart,
};
use zeroize::Zeroizing;

use crate::error::{Fail, INVALID, NULL};
use crate::identity::XcIdentity;
use crate::prekeys::XcPreKeyStore;
use crate::sealed::{XcOpened, XcReceived};
use crate::session::{XC_TIMER_START_ON_READ, XC_TIMER_START_ON_SEND};
use crate::util::{
    XC_KEY_LEN, XcBuffer, bytes_in, free_handle, guard, handle_in_slot, handle_mut, handle_ref,
    into_handle, key_in, key_out, os_rng, out_init, write_key,
};

/// Length of a device entry (SPEC.md §15.1), the unit of device lists: `device id (uint32,
/// big-endian) || identity key (32) || added_at_ms (uint64, big-endian) || membership signature
/// (64)`, the signature being the device identity's over its joining of the account. A device
/// makes its own with `xc_device_entry_sign`; `xc_device_list_verify` returns a list's entries.
/// Arrays of entries are laid end to end.
pub const XC_DEVICE_ENTRY_LEN: usize = 108;
/// The most devices one list holds.
pub const XC_MAX_DEVICES: usize = 64;
/// Length of one account event in the `out_events` buffer of `xc_contact_update` and
/// `xc_contact_accept_new_account_key` (`XC_ACCOUNT_EVENT_LEN * n` bytes, empty when nothing
/// changed): `kind (uint8: XC_ACCOUNT_EVENT_*) || device id (uint32, big-endian) || key (32)`.
/// For `XC_ACCOUNT_EVENT_DEVICE_ADDED` / `_DEVICE_REMOVED` the device and its identity key; for
/// `XC_ACCOUNT_EVENT_ACCOUNT_KEY_CHANGED` device id 0 and the new account key. A key change
/// comes first, then every removal, then every addition (a device whose identity changed under
/// its id is both removed and added).
pub const XC_ACCOUNT_EVENT_LEN: usize = 37;
/// Length of one device record (`xc_contact_devices_without_session`; `XC_DEVICE_RECORD_LEN *
/// n` bytes): `device id (uint32, big-endian) || identity key (32)`.
pub const XC_DEVICE_RECORD_LEN: usize = 36;
/// The outgoing messages of `xc_contact_send`, `xc_contact_send_sealed` and
/// `xc_contact_set_timer` are one buffer of records laid end to end, one per device, in the
/// order of the device list: `device id (uint32, big-endian) || identity key (32) || length
/// (uint32, big-endian) || message (length bytes)`; this is the length of a record's header
/// (the bytes before its message). Deliver each message to its device.
pub const XC_OUTGOING_HEADER_LEN: usize = 40;
/// Account event kind: one this version of the ABI does not know (device id and key are zero).
pub const XC_ACCOUNT_EVENT_OTHER: u8 = 0;
/// Account event kind: a device joined the account; nothing has a session with it yet.
pub const XC_ACCOUNT_EVENT_DEVICE_ADDED: u8 = 1;
/// Account event kind: a device left the account (or its identity was replaced); its session
/// was dropped and nothing is sent to it any more.
pub const XC_ACCOUNT_EVENT_DEVICE_REMOVED: u8 = 2;
/// Account event kind: the contact has a new account key (the 32 bytes), accepted with
/// `xc_contact_accept_new_account_key`: the safety number changed.
pub const XC_ACCOUNT_EVENT_ACCOUNT_KEY_CHANGED: u8 = 3;
/// Digits of a fingerprint (`xc_fingerprint_digits`).
pub const XC_FINGERPRINT_DIGITS_LEN: usize = 30;
/// Digits of a safety number (`xc_safety_number_digits`).
pub const XC_SAFETY_NUMBER_DIGITS_LEN: usize = 60;
/// Length of a safety number's QR payload: `version 0x01 || our fingerprint || theirs`.
pub const XC_SAFETY_NUMBER_QR_LEN: usize = 65;
/// The longest stable account id a fingerprint binds, in bytes.
pub const XC_MAX_ACCOUNT_ID_LEN: usize = 255;
/// `xc_safety_number_compare`: the keys differ — do not mark the contact verified. Also the
/// value the result is reset to before any work, so that an ignored error never reads as a
/// match.
pub const XC_SAFETY_NUMBER_MISMATCH: u32 = 0;
/// `xc_safety_number_compare`: both users hold the same two account keys.
pub const XC_SAFETY_NUMBER_MATCH: u32 = 1;
/// `xc_safety_number_compare`: the scanned code is of another safety-number version (update,
/// then compare again); the version is written to `out_version`.
pub const XC_SAFETY_NUMBER_OTHER_VERSION: u32 = 2;

const _: () = assert!(XC_DEVICE_ENTRY_LEN == DeviceEntry::LEN);
const _: () = assert!(XC_MAX_DEVICES == MAX_DEVICES);
const _: () = assert!(XC_SAFETY_NUMBER_QR_LEN == QR_PAYLOAD_LEN);
const _: () = assert!(XC_MAX_ACCOUNT_ID_LEN == MAX_ACCOUNT_ID_LEN);

/// An account key pair (secret): kept by the device that manages the account, which signs the
/// account's device lists with it. Persist its seed (`xc_account_key_seed`) in protected
/// storage; free it with `xc_account_key_free`.
pub struct XcAccountKey {
    inner: AccountKeyPair,
}

/// One contact (secret): the newest device list accepted for it and one session per device it
/// lists. Nothing can be encrypted to a device off the list. Save it (`xc_contact_to_bytes`)
/// after every call that returns `XC_OK` and changes it (update, initiate, send, receive).
pub struct XcContact {
    inner: Contact,
}

/// The safety number of a conversation between two accounts, from both account keys and stable
/// ids: 60 digits to compare aloud, a QR payload to scan.
pub struct XcSafetyNumber {
    inner: SafetyNumber,
}

// ---------------------------------------------------------------------------------------------
// Account keys
// ---------------------------------------------------------------------------------------------

/// Generates a new account key from the operating system's RNG.
///
/// # Safety
/// `out_key` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_account_key_generate(out_key: *mut *mut XcAccountKey) -> i32 {
    guard(|| {
        // SAFETY: `out_key` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_key, core::ptr::null_mut()) }?;
        let key = XcAccountKey {
            inner: AccountKeyPair::generate(&mut os_rng()),
        };
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(key)) };
        Ok(())
    })
}

/// Restores an account key from its 32-byte seed (`xc_account_key_seed`; secret).
///
/// # Safety
/// `seed` is NULL or valid for reading 32 bytes; `out_key` is NULL or valid for writing one
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_account_key_from_seed(
    seed: *const u8,
    out_key: *mut *mut XcAccountKey,
) -> i32 {
    guard(|| {
        // SAFETY: `out_key` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_key, core::ptr::null_mut()) }?;
        // SAFETY: `seed` is NULL or readable for 32 bytes, by the contract.
        let seed = Zeroizing::new(unsafe { key_in(seed) }?);
        let key = XcAccountKey {
            inner: AccountKeyPair::from_seed(&seed),
        };
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(key)) };
        Ok(())
    })
}

/// Writes the account key's 32-byte seed (secret: keep it in the platform's protected storage
/// and wipe your copy once stored) to `out_seed`.
///
/// # Safety
/// `key` is any value (handles are checked); `out_seed` is NULL or valid for writing 32 bytes.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_account_key_seed(key: *const XcAccountKey, out_seed: *mut u8) -> i32 {
    guard(|| {
        let out = key_out(out_seed)?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let key = unsafe { handle_ref(key) }?;
        let seed = key.inner.seed();
        // SAFETY: `out` is non-null and writable for 32 bytes, by the contract.
        unsafe { write_key(out, *seed) };
        Ok(())
    })
}

/// Writes the 32-byte public account key (what device entries, device lists and safety numbers
/// name) to `out_key`.
///
/// # Safety
/// `key` is any value (handles are checked); `out_key` is NULL or valid for writing 32 bytes.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_account_key_public_key(
    key: *const XcAccountKey,
    out_key: *mut u8,
) -> i32 {
    guard(|| {
        let out = key_out(out_key)?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let key = unsafe { handle_ref(key) }?;
        // SAFETY: `out` is non-null and writable for 32 bytes, by the contract.
        unsafe { write_key(out, *key.inner.public().as_bytes()) };
        Ok(())
    })
}

/// Frees an account key (its secret is zeroed) and sets `*key` to NULL (as `xc_identity_free`).
///
/// # Safety
/// `key` is NULL or valid for reading and writing one pointer; no other thread uses the handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_account_key_free(key: *mut *mut XcAccountKey) -> i32 {
    // SAFETY: by the contract.
    unsafe { free_handle(key) }
}

// ---------------------------------------------------------------------------------------------
// Device entries and lists
// ---------------------------------------------------------------------------------------------

/// What a device's identity signs to join an account (SPEC.md §15.1):
/// `LABEL_DEVICE_MEMBERSHIP || account key || device id u32 || identity || added_at u64`.
fn membership_message(
    account: &AccountKey,
    device_id: u32,
    identity: &IdentityKey,
    added_at_ms: u64,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(LABEL_DEVICE_MEMBERSHIP.len() + 76);
    m.extend_from_slice(LABEL_DEVICE_MEMBERSHIP);
    m.extend_from_slice(account.as_bytes());
    m.extend_from_slice(&device_id.to_be_bytes());
    m.extend_from_slice(identity.as_bytes());
    m.extend_from_slice(&added_at_ms.to_be_bytes());
    m
}

/// The device's side of joining an account: `device` signs that it is device `device_id` of the
/// account `account_key` (32 bytes) since `added_at_ms`, and `out` receives the entry
/// (`XC_DEVICE_ENTRY_LEN` bytes; public) to hand to the account's manager, which lists it with
/// `xc_device_list_first` / `xc_device_list_next`. An account key that is not a valid Ed25519
/// key is `XC_ERR_DECODE_INVALID_KEY`.
///
/// # Safety
/// `device` is any value (handles are checked); `account_key` is NULL or valid for reading 32
/// bytes; `out` is NULL or valid for writing an `XcBuffer`. No handle passed is in use by another
/// thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_device_entry_sign(
    device: *const XcIdentity,
    account_key: *const u8,
    device_id: u32,
    added_at_ms: u64,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let device = unsafe { handle_ref(device) }?;
        // SAFETY: NULL or readable for 32 bytes, by the contract.
        let account = AccountKey::from_bytes(unsafe { key_in(account_key) }?)?;
        let identity = *device.inner.public();
        let membership = device.inner.sign(&membership_message(
            &account,
            device_id,
            &identity,
            added_at_ms,
        ));
        let mut entry = Vec::with_capacity(XC_DEVICE_ENTRY_LEN);
        entry.extend_from_slice(&device_id.to_be_bytes());
        entry.extend_from_slice(identity.as_bytes());
        entry.extend_from_slice(&added_at_ms.to_be_bytes());
        entry.extend_from_slice(&membership);
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&entry)) };
        Ok(())
    })
}

type EntryBytes = [u8; XC_DEVICE_ENTRY_LEN];

fn entry_device_id(entry: &EntryBytes) -> u32 {
    let [a, b, c, d, ..] = *entry;
    u32::from_be_bytes([a, b, c, d])
}

/// Reads `count` device entries laid end to end. Strict: 1 to `XC_MAX_DEVICES` entries (else
/// `XC_ERR_ACCOUNT_INVALID_DEVICE_LIST`, as a list of that many is, checked before the memory is
/// read), and each identity must be a valid key (`XC_ERR_DECODE_INVALID_KEY`); the membership
/// signatures are checked by the list.
///
/// # Safety
/// `entries` is readable for `XC_DEVICE_ENTRY_LEN * count` bytes (NULL allowed when 0).
unsafe fn entries_in(entries: *const u8, count: usize) -> Result<Vec<EntryBytes>, Fail> {
    if count == 0 || count > MAX_DEVICES {
        return Err(AccountError::InvalidDeviceList.into());
    }
    // At most 64 × 108 bytes: no overflow.
    // SAFETY: readable for `108 * count` bytes, by the contract.
    let bytes = unsafe { bytes_in(entries, count * XC_DEVICE_ENTRY_LEN) }?;
    bytes
        .chunks_exact(XC_DEVICE_ENTRY_LEN)
        .map(|chunk| {
            let mut entry = [0u8; XC_DEVICE_ENTRY_LEN];
            entry.copy_from_slice(chunk);
            let mut identity = [0u8; XC_KEY_LEN];
            identity.copy_from_slice(chunk.get(4..36).unwrap_or(&[0; XC_KEY_LEN]));
            IdentityKey::from_bytes(identity)?;
            Ok(entry)
        })
        .collect()
}

/// Turns entry bytes into the core library's `DeviceEntry` values, which it builds lists from.
///
/// The core library has no public decoder for a lone entry (only for whole lists), so the
/// entries travel through one: a list of exactly these entries (sorted by id, as every list is)
/// under `account`, encoded as SPEC.md §15.1 says and signed by the account key, then decoded
/// and verified by `DeviceList::from_bytes`, which checks every membership signature. The
/// carrier list never leaves this function; the caller builds the real list from the entries
/// with `DeviceList::first` / `next`. (Replace with the core's entry decoder once it has one.)
fn device_entries(
    account: &AccountKeyPair,
    mut entries: Vec<EntryBytes>,
) -> Result<Vec<DeviceEntry>, Fail> {
    let count = u16::try_from(entries.len()).map_err(|_| AccountError::InvalidDeviceList)?;
    entries.sort_by_key(entry_device_id);
    let mut list = Vec::with_capacity(1 + 32 + 8 + 32 + 8 + 2 + entries.len() * 108 + 64);
    list.push(DEVICE_LIST_VERSION);
    list.extend_from_slice(account.public().as_bytes());
    list.extend_from_slice(&1u64.to_be_bytes());
    list.extend_from_slice(&[0u8; 32]);
    list.extend_from_slice(&0u64.to_be_bytes());
    list.extend_from_slice(&count.to_be_bytes());
    for entry in &entries {
        list.extend_from_slice(entry);
    }
    let signer = IdentityKeyPair::from_seed(&account.seed());
    let mut signed = Vec::with_capacity(LABEL_DEVICE_LIST.len() + list.len());
    signed.extend_from_slice(LABEL_DEVICE_LIST);
    signed.extend_from_slice(&list);
    list.extend_from_slice(&signer.sign(&signed));
    let carrier = DeviceList::from_bytes(&list)?;
    Ok(carrier.devices().to_vec())
}

/// The account's first device list (sequence 1), signed by `account`: `entry_count` entries
/// (from `xc_device_entry_sign`, `XC_DEVICE_ENTRY_LEN` bytes each, end to end, in any order:
/// the list sorts them by device id) issued at `issued_at_ms`. `out` receives the list bytes for
/// the server. `XC_ERR_ACCOUNT_INVALID_DEVICE_LIST` for no entry or more than `XC_MAX_DEVICES`,
/// a device id or identity listed twice, or an entry signed for another account key.
///
/// # Safety
/// `account` is any value (handles are checked); `entries` is readable for
/// `XC_DEVICE_ENTRY_LEN * entry_count` bytes; `out` is NULL or valid for writing an `XcBuffer`.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_device_list_first(
    account: *const XcAccountKey,
    entries: *const u8,
    entry_count: usize,
    issued_at_ms: u64,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let account = unsafe { handle_ref(account) }?;
        // SAFETY: readable, by the contract.
        let entries = unsafe { entries_in(entries, entry_count) }?;
        let entries = device_entries(&account.inner, entries)?;
        let list = DeviceList::first(&account.inner, entries, issued_at_ms)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&list.to_bytes())) };
        Ok(())
    })
}

/// The list after `previous` (list bytes, verified): sequence + 1, naming `previous`'s hash,
/// with exactly the `entry_count` entries given — those kept (take them from
/// `xc_device_list_verify` of `previous`) and those added; a device left out is removed.
/// `XC_ERR_ACCOUNT_WRONG_ACCOUNT` when `account` did not sign `previous`; otherwise the errors
/// of `xc_device_list_first`, and those of `xc_device_list_verify` for `previous`.
///
/// # Safety
/// As `xc_device_list_first`, and `previous` is readable for `previous_len` bytes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn xc_device_list_next(
    account: *const XcAccountKey,
    previous: *const u8,
    previous_len: usize,
    entries: *const u8,
    entry_count: usize,
    issued_at_ms: u64,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let account = unsafe { handle_ref(account) }?;
        // SAFETY: readable, by the contract.
        let previous = DeviceList::from_bytes(unsafe { bytes_in(previous, previous_len) }?)?;
        if previous.account() != account.inner.public() {
            return Err(AccountError::WrongAccount.into());
        }
        // SAFETY: readable, by the contract.
        let entries = unsafe { entries_in(entries, entry_count) }?;
        let entries = device_entries(&account.inner, entries)?;
        let list = previous.next(&account.inner, entries, issued_at_ms)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&list.to_bytes())) };
        Ok(())
    })
}

/// Decodes a device list strictly and verifies every signature (SPEC.md §15.1), and reports
/// what it says; each output may be NULL when not wanted (those given are reset first):
/// `out_account_key` the 32-byte account key, `out_sequence` its sequence (ask the server for
/// the lists after the one a contact holds), `out_entries` its entries in device-id order
/// (`XC_DEVICE_ENTRY_LEN` bytes each, what `xc_device_list_next` takes back).
///
/// Errors: the `XC_ERR_DECODE_*` codes for a malformed encoding; then
/// `XC_ERR_ACCOUNT_INVALID_DEVICE_LIST` (ids out of order, an identity twice, a membership that
/// does not verify); then `XC_ERR_ACCOUNT_INVALID_SIGNATURE` (the account key's signature).
///
/// # Safety
/// `list` is readable for `len` bytes; `out_account_key` is NULL or valid for writing 32 bytes;
/// `out_sequence` is NULL or valid for writing a `uint64_t`; `out_entries` is NULL or valid for
/// writing an `XcBuffer`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_device_list_verify(
    list: *const u8,
    len: usize,
    out_account_key: *mut u8,
    out_sequence: *mut u64,
    out_entries: *mut XcBuffer,
) -> i32 {
    guard(|| {
        if !out_account_key.is_null() {
            // SAFETY: non-null and writable for 32 bytes, by the contract.
            unsafe { write_key(out_account_key, [0; XC_KEY_LEN]) };
        }
        if !out_sequence.is_null() {
            // SAFETY: non-null and writable, by the contract.
            unsafe { out_init(out_sequence, 0) }?;
        }
        if !out_entries.is_null() {
            // SAFETY: non-null and writable, by the contract.
            unsafe { out_init(out_entries, XcBuffer::EMPTY) }?;
        }
        // SAFETY: readable, by the contract.
        let bytes = unsafe { bytes_in(list, len) }?;
        let list = DeviceList::from_bytes(bytes)?;
        if !out_account_key.is_null() {
            // SAFETY: non-null and writable for 32 bytes, by the contract.
            unsafe { write_key(out_account_key, *list.account().as_bytes()) };
        }
        if !out_sequence.is_null() {
            // SAFETY: non-null and writable, by the contract.
            unsafe { out_sequence.write(list.sequence()) };
        }
        if !out_entries.is_null() {
            // The entries as encoded: after the 83-byte head, before the 64-byte signature
            // (SPEC.md §15.1); `from_bytes` checked that the length is exactly that.
            let n = list.devices().len();
            let entries = bytes.get(83..83 + n * XC_DEVICE_ENTRY_LEN).ok_or(INVALID)?;
            // SAFETY: non-null and writable, by the contract.
            unsafe { out_entries.write(XcBuffer::copy_of(entries)) };
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Contacts
// ---------------------------------------------------------------------------------------------

fn device_records<'a>(devices: impl Iterator<Item = &'a DeviceEntry>) -> XcBuffer {
    let mut bytes = Vec::new();
    for d in devices {
        bytes.extend_from_slice(&d.device_id().to_be_bytes());
        bytes.extend_from_slice(d.identity().as_bytes());
    }
    XcBuffer::copy_of(&bytes)
}

fn events_buffer(events: &[AccountEvent]) -> XcBuffer {
    let mut bytes = Vec::with_capacity(events.len() * XC_ACCOUNT_EVENT_LEN);
    for event in events {
        let (kind, device_id, key) = match event {
            AccountEvent::DeviceAdded {
                device_id,
                identity,
            } => (
                XC_ACCOUNT_EVENT_DEVICE_ADDED,
                *device_id,
                identity.to_bytes(),
            ),
            AccountEvent::DeviceRemoved {
                device_id,
                identity,
            } => (
                XC_ACCOUNT_EVENT_DEVICE_REMOVED,
                *device_id,
                identity.to_bytes(),
            ),
            AccountEvent::AccountKeyChanged { new, .. } => {
                (XC_ACCOUNT_EVENT_ACCOUNT_KEY_CHANGED, 0, *new.as_bytes())
            }
            _ => (XC_ACCOUNT_EVENT_OTHER, 0, [0; XC_KEY_LEN]),
        };
        bytes.push(kind);
        bytes.extend_from_slice(&device_id.to_be_bytes());
        bytes.extend_from_slice(&key);
    }
    XcBuffer::copy_of(&bytes)
}

fn outgoing_buffer(outgoing: &[Outgoing]) -> Result<XcBuffer, Fail> {
    let total = outgoing
        .iter()
        .map(|o| XC_OUTGOING_HEADER_LEN + o.message.len())
        .sum();
    let mut bytes = Vec::with_capacity(total);
    for o in outgoing {
        let len = u32::try_from(o.message.len()).map_err(|_| Error::TooLarge)?;
        bytes.extend_from_slice(&o.device_id.to_be_bytes());
        bytes.extend_from_slice(o.identity.as_bytes());
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&o.message);
    }
    Ok(XcBuffer::copy_of(&bytes))
}

/// Reads `count` device lists: list `i` is `lens[i]` bytes at `lists[i]`; each is verified.
///
/// # Safety
/// `lists` and `lens` are valid and aligned for reading `count` pointers / `size_t`s (either may
/// be NULL when `count` is 0), and each `lists[i]` is readable for `lens[i]` bytes.
unsafe fn lists_in(
    lists: *const *const u8,
    lens: *const usize,
    count: usize,
) -> Result<Vec<DeviceList>, Fail> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if lists.is_null() || lens.is_null() {
        return Err(NULL);
    }
    if !lists.is_aligned()
        || !lens.is_aligned()
        || count
            .checked_mul(size_of::<usize>())
            .is_none_or(|bytes| isize::try_from(bytes).is_err())
    {
        return Err(INVALID);
    }
    // SAFETY: non-null, aligned, the total size fits in `isize`, and the caller guarantees
    // `count` readable pointers and lengths that stay unchanged during the call.
    let (lists, lens) = unsafe {
        (
            core::slice::from_raw_parts(lists, count),
            core::slice::from_raw_parts(lens, count),
        )
    };
    lists
        .iter()
        .zip(lens)
        .map(|(&list, &len)| {
            // SAFETY: each list is readable for its length, by the contract.
            let bytes = unsafe { bytes_in(list, len) }?;
            Ok(DeviceList::from_bytes(bytes)?)
        })
        .collect()
}

/// A contact known by its device list (list bytes the server served, verified: the errors of
/// `xc_device_list_verify`) and no session yet. The first list seen is trusted on first use,
/// until the users compare their safety number.
///
/// # Safety
/// `list` is readable for `len` bytes; `out_contact` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_new(
    list: *const u8,
    len: usize,
    out_contact: *mut *mut XcContact,
) -> i32 {
    guard(|| {
        // SAFETY: `out_contact` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_contact, core::ptr::null_mut()) }?;
        // SAFETY: readable, by the contract.
        let list = DeviceList::from_bytes(unsafe { bytes_in(list, len) }?)?;
        let contact = Contact::new(DeviceListView::new(list));
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcContact { inner: contact })) };
        Ok(())
    })
}

/// Moves the contact's device list forward along `list_count` lists (list `i` is `list_lens[i]`
/// bytes at `lists[i]`): the account's lists after the one held, in order, as the server serves
/// them (one held already is skipped). Every session of a device the account removed is dropped
/// in the same call. `out_events` receives the changes (`XC_ACCOUNT_EVENT_LEN` bytes each; empty
/// when nothing changed) to show the user ("Bob added a device").
///
/// All or nothing: on any error nothing changes. `XC_ERR_ACCOUNT_WRONG_ACCOUNT` for a list under
/// another account key (show it; accept it only with `xc_contact_accept_new_account_key`),
/// `XC_ERR_ACCOUNT_ROLLBACK` for a list older than ours, `XC_ERR_ACCOUNT_FORK` for another list
/// with our sequence or one that does not name the hash of the list before it,
/// `XC_ERR_ACCOUNT_GAP` when a list in between is missing, and the errors of
/// `xc_device_list_verify` for a list that does not verify. Save the contact after `XC_OK`.
///
/// # Safety
/// `contact` is any value (handles are checked); `lists` and `list_lens` are valid and aligned
/// for reading `list_count` pointers / `size_t`s (NULL allowed when 0), each `lists[i]` readable
/// for `list_lens[i]` bytes; `out_events` is NULL or valid for writing an `XcBuffer`. No handle
/// passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_update(
    contact: *mut XcContact,
    lists: *const *const u8,
    list_lens: *const usize,
    list_count: usize,
    out_events: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out_events` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_events, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_mut(contact) }?;
        // SAFETY: by the contract.
        let lists = unsafe { lists_in(lists, list_lens, list_count) }?;
        let events = contact.inner.update(&lists)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(events_buffer(&events)) };
        Ok(())
    })
}

/// Accepts a device list under a new account key for the contact — only after the user saw and
/// confirmed the new safety number — and drops the sessions of devices it does not list.
/// `out_events` starts with `XC_ACCOUNT_EVENT_ACCOUNT_KEY_CHANGED` (read the old key before the
/// call with `xc_contact_account_key`), then the device changes. A list under the key already
/// held is no key change: it goes through `xc_contact_update`'s checks (so this cannot roll the
/// contact back) and their errors. Save the contact after `XC_OK`.
///
/// # Safety
/// `contact` is any value (handles are checked); `list` is readable for `len` bytes;
/// `out_events` is NULL or valid for writing an `XcBuffer`. No handle passed is in use by another
/// thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_accept_new_account_key(
    contact: *mut XcContact,
    list: *const u8,
    len: usize,
    out_events: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out_events` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_events, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_mut(contact) }?;
        // SAFETY: readable, by the contract.
        let list = DeviceList::from_bytes(unsafe { bytes_in(list, len) }?)?;
        let events = contact.inner.accept_new_account_key(list)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(events_buffer(&events)) };
        Ok(())
    })
}

/// Writes the contact's 32-byte account key (what its safety number is made from) to `out_key`.
///
/// # Safety
/// `contact` is any value (handles are checked); `out_key` is NULL or valid for writing 32
/// bytes. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_account_key(
    contact: *const XcContact,
    out_key: *mut u8,
) -> i32 {
    guard(|| {
        let out = key_out(out_key)?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_ref(contact) }?;
        // SAFETY: `out` is non-null and writable for 32 bytes, by the contract.
        unsafe { write_key(out, *contact.inner.view().account().as_bytes()) };
        Ok(())
    })
}

/// The device list the contact holds (list bytes; `xc_device_list_verify` reads its sequence).
///
/// # Safety
/// `contact` is any value (handles are checked); `out` is NULL or valid for writing an
/// `XcBuffer`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_device_list(
    contact: *const XcContact,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_ref(contact) }?;
        let list = contact.inner.view().current().to_bytes();
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&list)) };
        Ok(())
    })
}

/// The listed devices without a session yet, as device records (`XC_DEVICE_RECORD_LEN` bytes
/// each, in list order; empty when every device has one): fetch their bundles and
/// `xc_contact_initiate`.
///
/// # Safety
/// `contact` is any value (handles are checked); `out` is NULL or valid for writing an
/// `XcBuffer`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_devices_without_session(
    contact: *const XcContact,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_ref(contact) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(device_records(contact.inner.devices_without_session())) };
        Ok(())
    })
}

/// Starts a session with one device of the contact from its bundle (bytes the server handed
/// out), as `identity`, with `context` bound into every message (as `xc_session_initiate`; the
/// device's identity is pinned to the list's). The bundle's identity must be on the contact's
/// list: a server's "ghost" device, or a removed one, is `XC_ERR_UNKNOWN_DEVICE`, before any key
/// is drawn. A session already held with that device is replaced. `out_device_id` (NULL allowed)
/// receives the device's id. Save the contact after `XC_OK`; an error changes nothing.
///
/// # Safety
/// `contact` and `identity` are any values (handles are checked); each pointer/length pair
/// describes readable memory (NULL allowed for length 0); `out_device_id` is NULL or valid for
/// writing a `uint32_t`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_initiate(
    contact: *mut XcContact,
    identity: *const XcIdentity,
    bundle: *const u8,
    bundle_len: usize,
    context: *const u8,
    context_len: usize,
    out_device_id: *mut u32,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_mut(contact) }?;
        // SAFETY: as above.
        let identity = unsafe { handle_ref(identity) }?;
        // SAFETY: pointer/length pairs describe readable memory, by the contract.
        let bundle = PreKeyBundle::from_bytes(unsafe { bytes_in(bundle, bundle_len) }?)?;
        // SAFETY: as above.
        let context = unsafe { bytes_in(context, context_len) }?;
        let device_id = contact.inner.initiate(
            &mut os_rng(),
            &identity.inner,
            &bundle,
            &Config::new(context),
        )?;
        if !out_device_id.is_null() {
            // SAFETY: non-null, and writable and aligned for a `uint32_t` by the contract.
            unsafe { out_device_id.write(device_id) };
        }
        Ok(())
    })
}

/// Encrypts `body` (stamped with `now_ms` and the conversation's timer) for every listed device
/// the contact has a session with, all or nothing; `out` receives the session messages as
/// outgoing messages (records described at `XC_OUTGOING_HEADER_LEN`; empty when no device has a
/// session). For a
/// transport without sealed sender: the sessions stay inside the contact, so these messages
/// cannot be sealed afterwards (use `xc_contact_send_sealed`). Save the contact before the
/// messages leave.
///
/// # Safety
/// `contact` is any value (handles are checked); `body`/`body_len` describe readable memory;
/// `out` is NULL or valid for writing an `XcBuffer`. No handle passed is in use by another
/// thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_send(
    contact: *mut XcContact,
    now_ms: u64,
    body: *const u8,
    body_len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_mut(contact) }?;
        // SAFETY: readable, by the contract.
        let body = unsafe { bytes_in(body, body_len) }?;
        let outgoing = contact.inner.send(&mut os_rng(), now_ms, body)?;
        let buffer = outgoing_buffer(&outgoing)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(buffer) };
        Ok(())
    })
}

/// As `xc_contact_send`, each message then sealed for its device with our sender certificate
/// (`sender` must be the certificate's identity and the sessions', else
/// `XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH`): the outgoing messages (records described at
/// `XC_OUTGOING_HEADER_LEN`) are envelopes for the server, each to its device. All or nothing;
/// save the contact before they leave.
///
/// # Safety
/// `contact` and `sender` are any values (handles are checked); each pointer/length pair
/// describes readable memory; `out` is NULL or valid for writing an `XcBuffer`. No handle passed
/// is in use by another thread during the call.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn xc_contact_send_sealed(
    contact: *mut XcContact,
    sender: *const XcIdentity,
    sender_certificate: *const u8,
    sender_certificate_len: usize,
    now_ms: u64,
    body: *const u8,
    body_len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_mut(contact) }?;
        // SAFETY: as above.
        let sender = unsafe { handle_ref(sender) }?;
        // SAFETY: readable, by the contract.
        let certificate = unsafe { bytes_in(sender_certificate, sender_certificate_len) }?;
        // SAFETY: readable, by the contract.
        let body = unsafe { bytes_in(body, body_len) }?;
        let certificate = SenderCertificate::from_bytes(certificate)?;
        let outgoing =
            contact
                .inner
                .send_sealed(&mut os_rng(), &sender.inner, &certificate, now_ms, body)?;
        let buffer = outgoing_buffer(&outgoing)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(buffer) };
        Ok(())
    })
}

/// Changes the conversation's timer on every session of the contact (as `xc_session_set_timer`)
/// and returns the timer-update message for each device as outgoing messages (records described
/// at `XC_OUTGOING_HEADER_LEN`). All or nothing.
///
/// # Safety
/// `contact` is any value (handles are checked); `out` is NULL or valid for writing an
/// `XcBuffer`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_set_timer(
    contact: *mut XcContact,
    now_ms: u64,
    duration_s: u32,
    start: u32,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_mut(contact) }?;
        let start = match start {
            XC_TIMER_START_ON_SEND => TimerStart::OnSend,
            XC_TIMER_START_ON_READ => TimerStart::OnRead,
            _ => return Err(INVALID),
        };
        let outgoing = contact
            .inner
            .set_timer(&mut os_rng(), now_ms, duration_s, start)?;
        let buffer = outgoing_buffer(&outgoing)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(buffer) };
        Ok(())
    })
}

/// Delivers an opened envelope (`xc_open`) from one of the contact's devices: the certificate
/// must name a device on the contact's list under its device id, else
/// `XC_ERR_SEALED_UNKNOWN_DEVICE` (nothing is decrypted, no prekey touched). The message then
/// goes to that device's session, or — a first message, or a device that started a new session
/// — starts one from `identity`, `store` and `context` (as `xc_opened_respond`, replacing the
/// old session). Which contact an envelope is from: look it up by `xc_opened_sender_address`.
///
/// **Consumes `*opened`**, and sets the caller's variable to NULL (pass `&opened`), on success and
/// on every error except these, which leave `*opened` as it was:
///
/// - `XC_ERR_SEALED_UNKNOWN_DEVICE`: the device is not on the list held. The envelope is
///   **kept**: the contact may have added the device since (fetch its newer lists,
///   `xc_contact_update`, and pass the envelope again), or the envelope is another contact's;
///   otherwise free it with `xc_opened_free`.
/// - `XC_ERR_NULL_POINTER` when `opened` or `*opened` is NULL, `XC_ERR_INVALID_ARGUMENT` when
///   `opened` is misaligned, `XC_ERR_INVALID_HANDLE` when `*opened` is not a live `XcOpened`.
///
/// Every other result consumes it, including an invalid `contact`, `identity` or `store` or a
/// NULL `out_received` alongside a live envelope, and `XC_ERR_PANIC`. Save the contact after
/// `XC_OK` (whatever `out_received.status`), and the prekey store after any result that consumed
/// the envelope (a first message uses a one-time prekey). Release `out_received` with
/// `xc_received_free`.
///
/// # Safety
/// `opened` is NULL or valid for reading and writing one pointer (the handle in it, `contact`,
/// `identity` and `store` may be any value: handles are checked); `context`/`context_len`
/// describe readable memory; `out_received` is NULL or valid for writing an `XcReceived`; no
/// other thread is using the handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_receive(
    opened: *mut *mut XcOpened,
    contact: *mut XcContact,
    identity: *const XcIdentity,
    store: *mut XcPreKeyStore,
    context: *const u8,
    context_len: usize,
    out_received: *mut XcReceived,
) -> i32 {
    // Whether the envelope is taken (consumed) once the call is over: set when it is found
    // live, cleared for the result that keeps it.
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
        let contact = unsafe { handle_mut(contact) }?;
        // SAFETY: as above.
        let identity = unsafe { handle_ref(identity) }?;
        // SAFETY: as above.
        let store = unsafe { handle_mut(store) }?;
        // SAFETY: readable, by the contract.
        let context = unsafe { bytes_in(context, context_len) }?;
        let delivered = contact
            .inner
            .receive(
                &envelope.inner,
                &identity.inner,
                &mut store.inner,
                &Config::new(context),
            )
            .inspect_err(|e| {
                if matches!(e, SealedSenderError::UnknownDevice) {
                    consume = false;
                }
            })?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcReceived::from_receipt(&delivered.receipt)) };
        Ok(())
    });
    if consume {
        // SAFETY: `opened` is a readable and writable pointer holding a live `XcOpened`, found
        // above; the borrow of it ended with the closure, and no other thread uses it, by the
        // contract. It sets `*opened` to NULL.
        let _ = unsafe { free_handle(opened) };
    }
    code
}

/// Deletes every session's expired skipped keys (as `xc_session_purge`); `out_count` (NULL
/// allowed) receives how many. Save the contact if any were deleted.
///
/// # Safety
/// `contact` is any value (handles are checked); `out_count` is NULL or valid for writing a
/// `size_t`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_purge(
    contact: *mut XcContact,
    now_ms: u64,
    out_count: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_mut(contact) }?;
        let purged = contact.inner.purge(now_ms);
        if !out_count.is_null() {
            // SAFETY: non-null, and writable and aligned for a `size_t` by the contract.
            unsafe { out_count.write(purged) };
        }
        Ok(())
    })
}

/// Serializes the contact — its device list and every session — for storage (secret; kind
/// `0x14`). Restoring verifies the list's signatures again.
///
/// # Safety
/// `contact` is any value (handles are checked); `out` is NULL or valid for writing an
/// `XcBuffer`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_to_bytes(contact: *const XcContact, out: *mut XcBuffer) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_ref(contact) }?;
        let saved = contact.inner.to_bytes()?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&saved)) };
        Ok(())
    })
}

/// Restores a contact saved with `xc_contact_to_bytes` (`XC_ERR_DECODE_NON_CANONICAL` for a
/// list whose signatures fail: an edited blob).
///
/// # Safety
/// `bytes` is readable for `len` bytes; `out_contact` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_from_bytes(
    bytes: *const u8,
    len: usize,
    out_contact: *mut *mut XcContact,
) -> i32 {
    guard(|| {
        // SAFETY: `out_contact` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_contact, core::ptr::null_mut()) }?;
        // SAFETY: readable, by the contract.
        let inner = Contact::from_bytes(unsafe { bytes_in(bytes, len) }?)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcContact { inner })) };
        Ok(())
    })
}

/// Reads the storage key; the copy is wiped when the key is dropped.
///
/// # Safety
/// `key` is NULL or valid for reading 32 bytes.
unsafe fn storage_key(key: *const u8) -> Result<StorageKey, Fail> {
    // SAFETY: by the caller's contract.
    let bytes = Zeroizing::new(unsafe { key_in(key) }?);
    Ok(StorageKey::from_bytes(*bytes))
}

/// Seals the contact at rest under `storage_key` (32 bytes), as `xc_session_to_sealed_bytes`.
///
/// # Safety
/// `contact` is any value (handles are checked); `storage_key` is NULL or valid for reading 32
/// bytes; `out` is NULL or valid for writing an `XcBuffer`. No handle passed is in use by another
/// thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_to_sealed_bytes(
    contact: *const XcContact,
    storage_key: *const u8,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let contact = unsafe { handle_ref(contact) }?;
        // SAFETY: by the contract.
        let key = unsafe { self::storage_key(storage_key) }?;
        let sealed = contact.inner.to_sealed_bytes(&mut os_rng(), &key)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&sealed)) };
        Ok(())
    })
}

/// Restores a contact sealed with `xc_contact_to_sealed_bytes`; a wrong key or any edit is
/// `XC_ERR_DECODE_CHECKSUM_MISMATCH`.
///
/// # Safety
/// `bytes` is readable for `len` bytes; `storage_key` is NULL or valid for reading 32 bytes;
/// `out_contact` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_from_sealed_bytes(
    bytes: *const u8,
    len: usize,
    storage_key: *const u8,
    out_contact: *mut *mut XcContact,
) -> i32 {
    guard(|| {
        // SAFETY: `out_contact` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_contact, core::ptr::null_mut()) }?;
        // SAFETY: readable, by the contract.
        let bytes = unsafe { bytes_in(bytes, len) }?;
        // SAFETY: by the contract.
        let key = unsafe { self::storage_key(storage_key) }?;
        let inner = Contact::from_sealed_bytes(bytes, &key)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcContact { inner })) };
        Ok(())
    })
}

/// Frees a contact (its sessions' secrets are zeroed) and sets `*contact` to NULL (as
/// `xc_session_free`).
///
/// # Safety
/// `contact` is NULL or valid for reading and writing one pointer; no other thread uses it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_contact_free(contact: *mut *mut XcContact) -> i32 {
    // SAFETY: by the contract.
    unsafe { free_handle(contact) }
}

// ---------------------------------------------------------------------------------------------
// Safety numbers
// ---------------------------------------------------------------------------------------------

/// One account's fingerprint as `XC_FINGERPRINT_DIGITS_LEN` ASCII digits (no NUL) in `out`: from
/// its 32-byte account key and its stable id (`id_len` ≤ `XC_MAX_ACCOUNT_ID_LEN`, else
/// `XC_ERR_TOO_LARGE`; an application's never-changing name for the account, not a phone
/// number). SPEC.md §15.4.
///
/// # Safety
/// `account_key` is NULL or valid for reading 32 bytes; `id`/`id_len` describe readable memory;
/// `out` is NULL or valid for writing an `XcBuffer`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_fingerprint_digits(
    account_key: *const u8,
    id: *const u8,
    id_len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: NULL or readable for 32 bytes, by the contract.
        let key = AccountKey::from_bytes(unsafe { key_in(account_key) }?)?;
        // SAFETY: readable, by the contract.
        let id = unsafe { bytes_in(id, id_len) }?;
        let digits = Fingerprint::of(&key, id)?.digits();
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(digits.as_bytes())) };
        Ok(())
    })
}

/// The safety number between our account (`local_key`, 32 bytes, and its stable id) and theirs
/// (`remote_key` — e.g. `xc_contact_account_key` — and its stable id). Both users get the same
/// digits. An id over `XC_MAX_ACCOUNT_ID_LEN` bytes is `XC_ERR_TOO_LARGE`; a key that is not a
/// valid Ed25519 key `XC_ERR_DECODE_INVALID_KEY`.
///
/// # Safety
/// Each key is NULL or valid for reading 32 bytes; each id/length pair describes readable
/// memory; `out_safety_number` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_safety_number_new(
    local_key: *const u8,
    local_id: *const u8,
    local_id_len: usize,
    remote_key: *const u8,
    remote_id: *const u8,
    remote_id_len: usize,
    out_safety_number: *mut *mut XcSafetyNumber,
) -> i32 {
    guard(|| {
        // SAFETY: `out_safety_number` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_safety_number, core::ptr::null_mut()) }?;
        // SAFETY: NULL or readable for 32 bytes, by the contract.
        let local = AccountKey::from_bytes(unsafe { key_in(local_key) }?)?;
        // SAFETY: as above.
        let remote = AccountKey::from_bytes(unsafe { key_in(remote_key) }?)?;
        // SAFETY: readable, by the contract.
        let local_id = unsafe { bytes_in(local_id, local_id_len) }?;
        // SAFETY: as above.
        let remote_id = unsafe { bytes_in(remote_id, remote_id_len) }?;
        let inner = SafetyNumber::new((&local, local_id), (&remote, remote_id))?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcSafetyNumber { inner })) };
        Ok(())
    })
}

/// The safety number's `XC_SAFETY_NUMBER_DIGITS_LEN` ASCII digits (no NUL), the same on both
/// sides: show them in groups of five to compare aloud.
///
/// # Safety
/// `safety_number` is any value (handles are checked); `out` is NULL or valid for writing an
/// `XcBuffer`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_safety_number_digits(
    safety_number: *const XcSafetyNumber,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let number = unsafe { handle_ref(safety_number) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(number.inner.digits().as_bytes())) };
        Ok(())
    })
}

/// What our QR code shows (`XC_SAFETY_NUMBER_QR_LEN` bytes: `version || our fingerprint ||
/// theirs`); the other user scans it and passes it to `xc_safety_number_compare`.
///
/// # Safety
/// As `xc_safety_number_digits`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_safety_number_qr_payload(
    safety_number: *const XcSafetyNumber,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let number = unsafe { handle_ref(safety_number) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&number.inner.qr_payload())) };
        Ok(())
    })
}

/// Compares the other user's scanned QR payload with ours (in constant time): `out_result`
/// receives `XC_SAFETY_NUMBER_MATCH`, `XC_SAFETY_NUMBER_MISMATCH`, or
/// `XC_SAFETY_NUMBER_OTHER_VERSION` with the scanned version in `out_version` (NULL allowed;
/// 0 otherwise). `out_result` is reset to `XC_SAFETY_NUMBER_MISMATCH` first. An empty payload,
/// or one of our version shorter than `XC_SAFETY_NUMBER_QR_LEN` bytes, is
/// `XC_ERR_DECODE_TRUNCATED`; longer, `XC_ERR_DECODE_TRAILING_BYTES`.
///
/// # Safety
/// `safety_number` is any value (handles are checked); `scanned`/`scanned_len` describe readable
/// memory; `out_result` is NULL or valid for writing a `uint32_t`; `out_version` is NULL or valid
/// for writing a `uint8_t`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_safety_number_compare(
    safety_number: *const XcSafetyNumber,
    scanned: *const u8,
    scanned_len: usize,
    out_result: *mut u32,
    out_version: *mut u8,
) -> i32 {
    guard(|| {
        // SAFETY: `out_result` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_result, XC_SAFETY_NUMBER_MISMATCH) }?;
        if !out_version.is_null() {
            // SAFETY: non-null and writable, by the contract.
            unsafe { out_version.write(0) };
        }
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let number = unsafe { handle_ref(safety_number) }?;
        // SAFETY: readable, by the contract.
        let scanned = unsafe { bytes_in(scanned, scanned_len) }?;
        let (result, version) = match number.inner.compare(scanned)? {
            Comparison::Match => (XC_SAFETY_NUMBER_MATCH, 0),
            Comparison::Mismatch => (XC_SAFETY_NUMBER_MISMATCH, 0),
            Comparison::OtherVersion(v) => (XC_SAFETY_NUMBER_OTHER_VERSION, v),
        };
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(result) };
        if !out_version.is_null() {
            // SAFETY: non-null and writable, by the contract.
            unsafe { out_version.write(version) };
        }
        Ok(())
    })
}

/// Frees a safety number and sets `*safety_number` to NULL (as `xc_session_free`).
///
/// # Safety
/// `safety_number` is NULL or valid for reading and writing one pointer; no other thread uses it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_safety_number_free(safety_number: *mut *mut XcSafetyNumber) -> i32 {
    // SAFETY: by the contract.
    unsafe { free_handle(safety_number) }
}
