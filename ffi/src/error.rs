//! Error codes: stable numbers for every failure the ABI can report, and their messages.
//!
//! Codes are grouped by tens: 1–9 the boundary itself, 10–19 malformed bytes (`DecodeError`),
//! 20–39 and 50–59 protocol operations (`Error`), 40–49 sealed sender (`SealedSenderError`), 60–69
//! groups (`GroupError`; its other variants reuse the protocol codes), 70–89 attachments
//! (`AttachmentError`; `TooLarge` is `XC_ERR_TOO_LARGE`, `Decode` the 10–19 codes and `Group`
//! the group's own code), 90–99 accounts (`AccountError`; `TooLarge` is `XC_ERR_TOO_LARGE` and
//! `Decode` the 10–19 codes). A code, once
//! published, keeps its number and meaning; new variants get new numbers. Every group ends with
//! an "other" code for variants a newer core library might add before this layer learns them.

use core::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use xchat_protocol::account::AccountError;
use xchat_protocol::attachment::AttachmentError;
use xchat_protocol::{DecodeError, Error, SealedSenderError};

/// Success.
pub const XC_OK: i32 = 0;
/// A required pointer argument was NULL (or a length was non-zero with a NULL data pointer).
pub const XC_ERR_NULL_POINTER: i32 = 1;
/// An argument is out of its documented range (an unknown timer start, a one-time prekey id
/// that is neither -1 nor a `uint32_t`, a count over its limit, a misaligned array).
pub const XC_ERR_INVALID_ARGUMENT: i32 = 2;
/// A Rust panic was caught at the boundary: a bug, or the operating system's random number
/// generator failed. Treat the handles passed to the call as unusable: free them and reload
/// them from saved state.
pub const XC_ERR_PANIC: i32 = 3;
/// A handle argument is not a live handle of the type the function expects: it was already
/// freed or consumed (through another copy of the pointer: the library sets the caller's own
/// variable to NULL), it was never issued by this library, or it is a handle of another type.
/// Nothing was read through it and nothing changed; a handle of another type stays valid.
pub const XC_ERR_INVALID_HANDLE: i32 = 4;

/// Malformed input: it ended before the structure did.
pub const XC_ERR_DECODE_TRUNCATED: i32 = 10;
/// Malformed input: bytes remained after a complete structure.
pub const XC_ERR_DECODE_TRAILING_BYTES: i32 = 11;
/// Malformed input: a version byte this library does not speak.
pub const XC_ERR_DECODE_UNKNOWN_VERSION: i32 = 12;
/// Malformed input: an undefined type or kind byte (including a saved blob of another kind,
/// e.g. session bytes passed to `xc_prekey_store_from_bytes`).
pub const XC_ERR_DECODE_UNKNOWN_TYPE: i32 = 13;
/// Malformed input: a field out of range or not in its one accepted encoding.
pub const XC_ERR_DECODE_NON_CANONICAL: i32 = 14;
/// Malformed input: a public key that is not a valid, canonical, non-weak key of its kind.
pub const XC_ERR_DECODE_INVALID_KEY: i32 = 15;
/// Input larger than its format allows (also: an empty or over-long certificate address).
pub const XC_ERR_DECODE_TOO_LARGE: i32 = 16;
/// A saved blob failed its integrity check (bit rot, truncation or editing).
pub const XC_ERR_DECODE_CHECKSUM_MISMATCH: i32 = 17;
/// Malformed input, for a reason this version of the ABI has no code for.
pub const XC_ERR_DECODE_OTHER: i32 = 19;

/// A prekey signature (the signed prekey's or the KEM prekey's) failed strict verification: the
/// bundle is forged or damaged, or a store's signed prekey is not signed by the identity given.
pub const XC_ERR_INVALID_SIGNATURE: i32 = 20;
/// A Diffie-Hellman result was all zero: the peer sent a low-order point.
pub const XC_ERR_NON_CONTRIBUTORY: i32 = 21;
/// The message names a signed prekey the store no longer holds.
pub const XC_ERR_UNKNOWN_SIGNED_PREKEY: i32 = 22;
/// The message or request names a one-time prekey the store does not hold (already used, or
/// never issued).
pub const XC_ERR_UNKNOWN_ONE_TIME_PREKEY: i32 = 23;
/// The message was already decrypted, or its key was discarded under the session limits.
pub const XC_ERR_DUPLICATE_MESSAGE: i32 = 24;
/// The message would make the session derive more keys than its limits allow.
pub const XC_ERR_TOO_FAR_IN_FUTURE: i32 = 25;
/// The inner message failed authentication: forged, damaged, or not for this session.
pub const XC_ERR_DECRYPTION_FAILED: i32 = 26;
/// A prekey message was given to a session it does not belong to. From `xc_opened_decrypt`:
/// the peer started a new session (e.g. it lost its state); the envelope is not consumed, so
/// pass it to `xc_opened_respond`.
pub const XC_ERR_SESSION_MISMATCH: i32 = 27;
/// The sending chain is exhausted; the peer must reply before more messages can be sent.
pub const XC_ERR_CHAIN_EXHAUSTED: i32 = 28;
/// A body, context or timer version is larger than the format allows.
pub const XC_ERR_TOO_LARGE: i32 = 29;
/// Session limits are zero or inconsistent.
pub const XC_ERR_INVALID_LIMITS: i32 = 30;
/// The prekey store has no signed prekey yet (call `xc_prekey_store_rotate_signed_prekey`).
pub const XC_ERR_NO_SIGNED_PREKEY: i32 = 31;
/// A normal message was given where a prekey message is required (`xc_opened_respond`).
pub const XC_ERR_NOT_PREKEY_MESSAGE: i32 = 32;
/// The peer's identity key differs from the one the application trusts for this peer.
pub const XC_ERR_UNTRUSTED_IDENTITY: i32 = 33;
/// The message authenticated but had expired before it arrived. Its key is consumed and a
/// newer timer it carried was applied: save the session.
pub const XC_ERR_EXPIRED: i32 = 34;
/// The message authenticated but its content frame is malformed. Its key is consumed: save
/// the session.
pub const XC_ERR_INVALID_CONTENT: i32 = 35;
/// A protocol failure this version of the ABI has no code for.
pub const XC_ERR_PROTOCOL_OTHER: i32 = 39;
/// The signed prekey accepts no more first messages without a one-time prekey (so that none
/// can be replayed); rotate it and publish a new bundle.
pub const XC_ERR_SIGNED_PREKEY_FULL: i32 = 36;
/// The conversation's timer version is at its maximum; the timer can no longer change.
pub const XC_ERR_TIMER_VERSION_EXHAUSTED: i32 = 37;
/// The message names a KEM prekey (PQXDH) the store does not hold: a one-time one already used
/// or never issued, or a last-resort one rotated out.
pub const XC_ERR_UNKNOWN_KEM_PREKEY: i32 = 38;

/// The bundle has no KEM prekey, or the first message is a classical (X3DH) one: the ABI starts
/// post-quantum (PQXDH) sessions only, so that no server can downgrade one (SPEC.md §4.5).
pub const XC_ERR_CLASSICAL_HANDSHAKE: i32 = 50;
/// The device is not on the contact's signed device list (SPEC.md §15.2): nothing was encrypted
/// to it. From `xc_contact_initiate`: the server handed out the bundle of a "ghost" device the
/// account never listed, or of a device it removed.
pub const XC_ERR_UNKNOWN_DEVICE: i32 = 51;

/// The envelope was not sealed to this identity, or was altered in transit.
pub const XC_ERR_SEALED_DECRYPTION_FAILED: i32 = 40;
/// A certificate signature does not verify against the trust roots and the server key.
pub const XC_ERR_SEALED_INVALID_CERTIFICATE: i32 = 41;
/// The sender certificate had expired at the time given.
pub const XC_ERR_SEALED_CERTIFICATE_EXPIRED: i32 = 42;
/// The server that signed the sender certificate is revoked.
pub const XC_ERR_SEALED_REVOKED_SERVER: i32 = 43;
/// The certified identity differs from the key that sealed the envelope, or from the peer of
/// the session (or prekey message) it was given to. From `xc_opened_decrypt` (the wrong
/// session was picked) the envelope is not consumed and the session is untouched.
pub const XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH: i32 = 44;
/// The envelope was sealed by our own identity.
pub const XC_ERR_SEALED_SELF_SEND: i32 = 45;
/// The sender certificate names a device that is not on the sender's device list held by the
/// contact, or not under that device id (SPEC.md §15.2): nothing was decrypted. From
/// `xc_contact_receive` the envelope is not consumed: update the contact's list and retry, or
/// free it.
pub const XC_ERR_SEALED_UNKNOWN_DEVICE: i32 = 46;
/// A sealed-sender failure this version of the ABI has no code for.
pub const XC_ERR_SEALED_OTHER: i32 = 49;

/// A group message or sender key of another group.
pub const XC_ERR_GROUP_WRONG_GROUP: i32 = 60;
/// The sender is not a member of the group (or is ourselves); or `xc_group_mark_distributed`
/// named a device that is not a member.
pub const XC_ERR_GROUP_NOT_A_MEMBER: i32 = 61;
/// No sender key with the message's id is held for its sender: ask the sender to distribute its
/// key again.
pub const XC_ERR_GROUP_UNKNOWN_SENDER_KEY: i32 = 62;
/// Our sender key must be rotated or sent to a member first: call `xc_group_distribution`.
pub const XC_ERR_GROUP_DISTRIBUTION_PENDING: i32 = 63;
/// `xc_group_mark_distributed` was given a distribution that is not our current sender key at
/// its current iteration (we rotated or sent since): send the one `xc_group_distribution`
/// returns now.
pub const XC_ERR_GROUP_STALE_DISTRIBUTION: i32 = 64;
/// A group failure this version of the ABI has no code for.
pub const XC_ERR_GROUP_OTHER: i32 = 69;

/// An attachment stream, header or chunk is shorter than its layout: a stored stream shorter
/// than `xc_attachment_decryptor_encrypted_len`, or a header shorter than 56 bytes.
pub const XC_ERR_ATTACHMENT_TRUNCATED: i32 = 70;
/// Bytes after an attachment's final chunk: a chunk given once the attachment is complete, a
/// stored stream longer than its layout, or a header longer than 56 bytes.
pub const XC_ERR_ATTACHMENT_TRAILING_DATA: i32 = 71;
/// The stream's header (salt and key commitment) does not match the descriptor's key: a
/// damaged descriptor, or a stored stream that is not this attachment's.
pub const XC_ERR_ATTACHMENT_WRONG_KEY: i32 = 72;
/// An attachment chunk does not open under its index: altered, moved, repeated, or from another
/// stream. Fetch it again; the decryptor is unchanged.
pub const XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION: i32 = 73;
/// An attachment chunk opened but the padding after the file's last byte is not zeros (only
/// its sender can make such a stream); the opened bytes are wiped.
pub const XC_ERR_ATTACHMENT_INVALID_PADDING: i32 = 74;
/// A chunk of the wrong length: not `xc_attachment_encryptor_next_input_len` bytes to seal, or
/// a sealed chunk or span whose length does not match its index.
pub const XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH: i32 = 75;
/// The attachment's stream has no chunk with this index.
pub const XC_ERR_ATTACHMENT_NO_SUCH_CHUNK: i32 = 76;
/// The attachment's final chunk was already sealed: call `xc_attachment_encryptor_finish`.
pub const XC_ERR_ATTACHMENT_FINISHED: i32 = 77;
/// `xc_attachment_encryptor_finish` before every chunk was sealed (the encryptor is kept).
pub const XC_ERR_ATTACHMENT_NOT_FINISHED: i32 = 78;
/// The stored stream is not the one the descriptor's digest names: another stream sealed under
/// the same key (by any holder of the descriptor), or a damaged descriptor. Reported by
/// `xc_attachment_decryptor_open_next` before it decrypts the final chunk; the chunk and the
/// decryptor are unchanged, and the attachment never completes.
pub const XC_ERR_ATTACHMENT_DIGEST_MISMATCH: i32 = 79;
/// `xc_group_send_attachment` was given a descriptor without a digest: seal a group attachment
/// with `xc_attachment_encryptor_new_with_digest`. Nothing was sent.
pub const XC_ERR_ATTACHMENT_DIGEST_REQUIRED: i32 = 80;
/// An attachment failure this version of the ABI has no code for.
pub const XC_ERR_ATTACHMENT_OTHER: i32 = 89;

/// A device list's account signature does not verify (`verify_strict`): forged or damaged.
pub const XC_ERR_ACCOUNT_INVALID_SIGNATURE: i32 = 90;
/// A device list breaks its rules: no device or more than `XC_MAX_DEVICES`, a device id or
/// identity listed twice, ids out of order, or a device entry whose membership signature does
/// not verify for this account (a device the account key listed but that never joined).
pub const XC_ERR_ACCOUNT_INVALID_DEVICE_LIST: i32 = 91;
/// A device list signed by another account key than the one held (or, for
/// `xc_device_list_next`, than the account key given). For a contact: report it; accept it only
/// once the user confirmed the new safety number (`xc_contact_accept_new_account_key`).
pub const XC_ERR_ACCOUNT_WRONG_ACCOUNT: i32 = 92;
/// A device list older than the one held: a server rolling the account back. Nothing changed.
pub const XC_ERR_ACCOUNT_ROLLBACK: i32 = 93;
/// Another device list with the held sequence, or one that does not name the hash of the list
/// before it: the server shows different histories to different people. Nothing changed.
pub const XC_ERR_ACCOUNT_FORK: i32 = 94;
/// A device list further ahead than the next one, without the lists between: fetch them all.
pub const XC_ERR_ACCOUNT_GAP: i32 = 95;
/// The device is not on the account's device list.
pub const XC_ERR_ACCOUNT_UNKNOWN_DEVICE: i32 = 96;
/// An account failure this version of the ABI has no code for.
pub const XC_ERR_ACCOUNT_OTHER: i32 = 99;

/// A failed call: the code it returns. `?` converts every error of the core library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fail(pub(crate) i32);

pub(crate) const NULL: Fail = Fail(XC_ERR_NULL_POINTER);
pub(crate) const INVALID: Fail = Fail(XC_ERR_INVALID_ARGUMENT);
pub(crate) const INVALID_HANDLE: Fail = Fail(XC_ERR_INVALID_HANDLE);

pub(crate) fn decode_code(e: DecodeError) -> i32 {
    match e {
        DecodeError::Truncated => XC_ERR_DECODE_TRUNCATED,
        DecodeError::TrailingBytes => XC_ERR_DECODE_TRAILING_BYTES,
        DecodeError::UnknownVersion(_) => XC_ERR_DECODE_UNKNOWN_VERSION,
        DecodeError::UnknownType(_) => XC_ERR_DECODE_UNKNOWN_TYPE,
        DecodeError::NonCanonical => XC_ERR_DECODE_NON_CANONICAL,
        DecodeError::InvalidKey => XC_ERR_DECODE_INVALID_KEY,
        DecodeError::TooLarge => XC_ERR_DECODE_TOO_LARGE,
        DecodeError::ChecksumMismatch => XC_ERR_DECODE_CHECKSUM_MISMATCH,
        _ => XC_ERR_DECODE_OTHER,
    }
}

pub(crate) fn error_code(e: Error) -> i32 {
    match e {
        Error::Decode(d) => decode_code(d),
        Error::InvalidSignature => XC_ERR_INVALID_SIGNATURE,
        Error::NonContributory => XC_ERR_NON_CONTRIBUTORY,
        Error::UnknownSignedPreKey(_) => XC_ERR_UNKNOWN_SIGNED_PREKEY,
        Error::UnknownOneTimePreKey(_) => XC_ERR_UNKNOWN_ONE_TIME_PREKEY,
        Error::UnknownKemPreKey(_) => XC_ERR_UNKNOWN_KEM_PREKEY,
        Error::ClassicalHandshake => XC_ERR_CLASSICAL_HANDSHAKE,
        Error::DuplicateMessage => XC_ERR_DUPLICATE_MESSAGE,
        Error::TooFarInFuture => XC_ERR_TOO_FAR_IN_FUTURE,
        Error::DecryptionFailed => XC_ERR_DECRYPTION_FAILED,
        Error::SessionMismatch => XC_ERR_SESSION_MISMATCH,
        Error::ChainExhausted => XC_ERR_CHAIN_EXHAUSTED,
        Error::TooLarge => XC_ERR_TOO_LARGE,
        Error::InvalidLimits => XC_ERR_INVALID_LIMITS,
        Error::NoSignedPreKey => XC_ERR_NO_SIGNED_PREKEY,
        Error::NotPreKeyMessage => XC_ERR_NOT_PREKEY_MESSAGE,
        Error::UntrustedIdentity => XC_ERR_UNTRUSTED_IDENTITY,
        Error::Expired => XC_ERR_EXPIRED,
        Error::InvalidContent(_) => XC_ERR_INVALID_CONTENT,
        Error::SignedPreKeyFull(_) => XC_ERR_SIGNED_PREKEY_FULL,
        Error::TimerVersionExhausted => XC_ERR_TIMER_VERSION_EXHAUSTED,
        Error::UnknownDevice => XC_ERR_UNKNOWN_DEVICE,
        _ => XC_ERR_PROTOCOL_OTHER,
    }
}

pub(crate) fn sealed_code(e: SealedSenderError) -> i32 {
    match e {
        SealedSenderError::Decode(d) => decode_code(d),
        SealedSenderError::DecryptionFailed => XC_ERR_SEALED_DECRYPTION_FAILED,
        // The core library folds a session's `NonContributory` into this variant too, so the
        // two cannot be told apart; both mean "the peer sent a low-order point".
        SealedSenderError::NonContributory => XC_ERR_NON_CONTRIBUTORY,
        SealedSenderError::InvalidCertificate => XC_ERR_SEALED_INVALID_CERTIFICATE,
        SealedSenderError::CertificateExpired => XC_ERR_SEALED_CERTIFICATE_EXPIRED,
        SealedSenderError::RevokedServer => XC_ERR_SEALED_REVOKED_SERVER,
        SealedSenderError::SenderIdentityMismatch => XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH,
        SealedSenderError::SelfSend => XC_ERR_SEALED_SELF_SEND,
        SealedSenderError::Session(e) => error_code(e),
        SealedSenderError::TooLarge => XC_ERR_TOO_LARGE,
        SealedSenderError::Group(e) => crate::group::group_code(e),
        SealedSenderError::UnknownDevice => XC_ERR_SEALED_UNKNOWN_DEVICE,
        _ => XC_ERR_SEALED_OTHER,
    }
}

pub(crate) fn attachment_code(e: AttachmentError) -> i32 {
    match e {
        AttachmentError::Truncated => XC_ERR_ATTACHMENT_TRUNCATED,
        AttachmentError::TrailingData => XC_ERR_ATTACHMENT_TRAILING_DATA,
        AttachmentError::WrongKey => XC_ERR_ATTACHMENT_WRONG_KEY,
        AttachmentError::ChunkAuthentication(_) => XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION,
        AttachmentError::InvalidPadding(_) => XC_ERR_ATTACHMENT_INVALID_PADDING,
        AttachmentError::InvalidChunkLength => XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH,
        AttachmentError::NoSuchChunk(_) => XC_ERR_ATTACHMENT_NO_SUCH_CHUNK,
        AttachmentError::Finished => XC_ERR_ATTACHMENT_FINISHED,
        AttachmentError::NotFinished => XC_ERR_ATTACHMENT_NOT_FINISHED,
        AttachmentError::DigestMismatch => XC_ERR_ATTACHMENT_DIGEST_MISMATCH,
        AttachmentError::DigestRequired => XC_ERR_ATTACHMENT_DIGEST_REQUIRED,
        AttachmentError::Group(e) => crate::group::group_code(e),
        AttachmentError::TooLarge => XC_ERR_TOO_LARGE,
        AttachmentError::Decode(d) => decode_code(d),
        _ => XC_ERR_ATTACHMENT_OTHER,
    }
}

pub(crate) fn account_code(e: AccountError) -> i32 {
    match e {
        AccountError::Decode(d) => decode_code(d),
        AccountError::InvalidSignature => XC_ERR_ACCOUNT_INVALID_SIGNATURE,
        AccountError::InvalidDeviceList => XC_ERR_ACCOUNT_INVALID_DEVICE_LIST,
        AccountError::WrongAccount => XC_ERR_ACCOUNT_WRONG_ACCOUNT,
        AccountError::Rollback => XC_ERR_ACCOUNT_ROLLBACK,
        AccountError::Fork => XC_ERR_ACCOUNT_FORK,
        AccountError::Gap => XC_ERR_ACCOUNT_GAP,
        AccountError::UnknownDevice => XC_ERR_ACCOUNT_UNKNOWN_DEVICE,
        AccountError::TooLarge => XC_ERR_TOO_LARGE,
        _ => XC_ERR_ACCOUNT_OTHER,
    }
}

impl From<DecodeError> for Fail {
    fn from(e: DecodeError) -> Self {
        Self(decode_code(e))
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Self(error_code(e))
    }
}

impl From<SealedSenderError> for Fail {
    fn from(e: SealedSenderError) -> Self {
        Self(sealed_code(e))
    }
}

impl From<AttachmentError> for Fail {
    fn from(e: AttachmentError) -> Self {
        Self(attachment_code(e))
    }
}

impl From<AccountError> for Fail {
    fn from(e: AccountError) -> Self {
        Self(account_code(e))
    }
}

impl From<xchat_protocol::GroupError> for Fail {
    fn from(e: xchat_protocol::GroupError) -> Self {
        Self(crate::group::group_code(e))
    }
}

/// Every code this ABI defines.
#[cfg(test)]
pub(crate) const ALL_CODES: [i32; 70] = [
    XC_OK,
    XC_ERR_NULL_POINTER,
    XC_ERR_INVALID_ARGUMENT,
    XC_ERR_PANIC,
    XC_ERR_INVALID_HANDLE,
    XC_ERR_DECODE_TRUNCATED,
    XC_ERR_DECODE_TRAILING_BYTES,
    XC_ERR_DECODE_UNKNOWN_VERSION,
    XC_ERR_DECODE_UNKNOWN_TYPE,
    XC_ERR_DECODE_NON_CANONICAL,
    XC_ERR_DECODE_INVALID_KEY,
    XC_ERR_DECODE_TOO_LARGE,
    XC_ERR_DECODE_CHECKSUM_MISMATCH,
    XC_ERR_DECODE_OTHER,
    XC_ERR_INVALID_SIGNATURE,
    XC_ERR_NON_CONTRIBUTORY,
    XC_ERR_UNKNOWN_SIGNED_PREKEY,
    XC_ERR_UNKNOWN_ONE_TIME_PREKEY,
    XC_ERR_DUPLICATE_MESSAGE,
    XC_ERR_TOO_FAR_IN_FUTURE,
    XC_ERR_DECRYPTION_FAILED,
    XC_ERR_SESSION_MISMATCH,
    XC_ERR_CHAIN_EXHAUSTED,
    XC_ERR_TOO_LARGE,
    XC_ERR_INVALID_LIMITS,
    XC_ERR_NO_SIGNED_PREKEY,
    XC_ERR_NOT_PREKEY_MESSAGE,
    XC_ERR_UNTRUSTED_IDENTITY,
    XC_ERR_EXPIRED,
    XC_ERR_INVALID_CONTENT,
    XC_ERR_SIGNED_PREKEY_FULL,
    XC_ERR_TIMER_VERSION_EXHAUSTED,
    XC_ERR_UNKNOWN_KEM_PREKEY,
    XC_ERR_CLASSICAL_HANDSHAKE,
    XC_ERR_UNKNOWN_DEVICE,
    XC_ERR_PROTOCOL_OTHER,
    XC_ERR_SEALED_DECRYPTION_FAILED,
    XC_ERR_SEALED_INVALID_CERTIFICATE,
    XC_ERR_SEALED_CERTIFICATE_EXPIRED,
    XC_ERR_SEALED_REVOKED_SERVER,
    XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH,
    XC_ERR_SEALED_SELF_SEND,
    XC_ERR_SEALED_UNKNOWN_DEVICE,
    XC_ERR_SEALED_OTHER,
    XC_ERR_GROUP_WRONG_GROUP,
    XC_ERR_GROUP_NOT_A_MEMBER,
    XC_ERR_GROUP_UNKNOWN_SENDER_KEY,
    XC_ERR_GROUP_DISTRIBUTION_PENDING,
    XC_ERR_GROUP_STALE_DISTRIBUTION,
    XC_ERR_GROUP_OTHER,
    XC_ERR_ATTACHMENT_TRUNCATED,
    XC_ERR_ATTACHMENT_TRAILING_DATA,
    XC_ERR_ATTACHMENT_WRONG_KEY,
    XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION,
    XC_ERR_ATTACHMENT_INVALID_PADDING,
    XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH,
    XC_ERR_ATTACHMENT_NO_SUCH_CHUNK,
    XC_ERR_ATTACHMENT_FINISHED,
    XC_ERR_ATTACHMENT_NOT_FINISHED,
    XC_ERR_ATTACHMENT_DIGEST_MISMATCH,
    XC_ERR_ATTACHMENT_DIGEST_REQUIRED,
    XC_ERR_ATTACHMENT_OTHER,
    XC_ERR_ACCOUNT_INVALID_SIGNATURE,
    XC_ERR_ACCOUNT_INVALID_DEVICE_LIST,
    XC_ERR_ACCOUNT_WRONG_ACCOUNT,
    XC_ERR_ACCOUNT_ROLLBACK,
    XC_ERR_ACCOUNT_FORK,
    XC_ERR_ACCOUNT_GAP,
    XC_ERR_ACCOUNT_UNKNOWN_DEVICE,
    XC_ERR_ACCOUNT_OTHER,
];

const UNKNOWN_CODE: &CStr = c"unknown error code";

fn message(code: i32) -> &'static CStr {
    match code {
        XC_OK => c"ok",
        XC_ERR_NULL_POINTER => c"a required pointer argument was NULL",
        XC_ERR_INVALID_ARGUMENT => c"an argument is out of range",
        XC_ERR_PANIC => c"internal error (a panic was caught, or the OS random generator failed)",
        XC_ERR_INVALID_HANDLE => {
            c"not a live handle of this type (freed, consumed, never issued, or of another type)"
        }
        XC_ERR_DECODE_TRUNCATED => c"malformed input: truncated",
        XC_ERR_DECODE_TRAILING_BYTES => c"malformed input: trailing bytes",
        XC_ERR_DECODE_UNKNOWN_VERSION => c"malformed input: unknown version",
        XC_ERR_DECODE_UNKNOWN_TYPE => c"malformed input: unknown type or kind",
        XC_ERR_DECODE_NON_CANONICAL => c"malformed input: field out of range or not canonical",
        XC_ERR_DECODE_INVALID_KEY => c"malformed input: invalid public key",
        XC_ERR_DECODE_TOO_LARGE => c"malformed input: too large",
        XC_ERR_DECODE_CHECKSUM_MISMATCH => c"stored state failed its integrity check",
        XC_ERR_DECODE_OTHER => c"malformed input",
        XC_ERR_INVALID_SIGNATURE => c"invalid signature (a prekey's or a group message's)",
        XC_ERR_NON_CONTRIBUTORY => c"non-contributory Diffie-Hellman result (low-order key)",
        XC_ERR_UNKNOWN_SIGNED_PREKEY => c"unknown signed prekey",
        XC_ERR_UNKNOWN_ONE_TIME_PREKEY => c"unknown one-time prekey",
        XC_ERR_UNKNOWN_KEM_PREKEY => c"unknown KEM prekey",
        XC_ERR_CLASSICAL_HANDSHAKE => c"classical (X3DH) handshake refused: no KEM prekey",
        XC_ERR_UNKNOWN_DEVICE => c"device not on the contact's signed device list",
        XC_ERR_DUPLICATE_MESSAGE => c"duplicate message, or its key was discarded",
        XC_ERR_TOO_FAR_IN_FUTURE => c"message counter is beyond the skip limit",
        XC_ERR_DECRYPTION_FAILED => c"message authentication failed",
        XC_ERR_SESSION_MISMATCH => c"prekey message does not belong to this session",
        XC_ERR_CHAIN_EXHAUSTED => c"sending chain exhausted; the peer must reply first",
        XC_ERR_TOO_LARGE => c"input too large",
        XC_ERR_INVALID_LIMITS => c"invalid session limits",
        XC_ERR_NO_SIGNED_PREKEY => c"the prekey store has no signed prekey",
        XC_ERR_NOT_PREKEY_MESSAGE => c"not a prekey message",
        XC_ERR_UNTRUSTED_IDENTITY => c"the peer's identity key is not the trusted one",
        XC_ERR_EXPIRED => c"message expired before it arrived",
        XC_ERR_INVALID_CONTENT => c"malformed content frame in an authentic message",
        XC_ERR_SIGNED_PREKEY_FULL => c"signed prekey accepts no more first messages; rotate it",
        XC_ERR_TIMER_VERSION_EXHAUSTED => c"timer version exhausted",
        XC_ERR_PROTOCOL_OTHER => c"protocol error",
        XC_ERR_SEALED_DECRYPTION_FAILED => c"sealed envelope failed authentication",
        XC_ERR_SEALED_INVALID_CERTIFICATE => c"invalid sender certificate",
        XC_ERR_SEALED_CERTIFICATE_EXPIRED => c"sender certificate expired",
        XC_ERR_SEALED_REVOKED_SERVER => c"sender certificate signed by a revoked server",
        XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH => c"sender identity does not match",
        XC_ERR_SEALED_SELF_SEND => c"envelope sealed by our own identity",
        XC_ERR_SEALED_UNKNOWN_DEVICE => {
            c"sender device not on the sender's signed device list (or not under that id)"
        }
        XC_ERR_SEALED_OTHER => c"sealed sender error",
        XC_ERR_GROUP_WRONG_GROUP => c"group message or sender key of another group",
        XC_ERR_GROUP_NOT_A_MEMBER => c"the sender is not a member of the group",
        XC_ERR_GROUP_UNKNOWN_SENDER_KEY => {
            c"unknown sender key: ask the sender to distribute it again"
        }
        XC_ERR_GROUP_DISTRIBUTION_PENDING => c"our sender key must be rotated or distributed first",
        XC_ERR_GROUP_STALE_DISTRIBUTION => {
            c"not our current sender key at its current iteration: distribute the current one"
        }
        XC_ERR_GROUP_OTHER => c"group error",
        XC_ERR_ATTACHMENT_TRUNCATED => c"attachment stream or header shorter than its layout",
        XC_ERR_ATTACHMENT_TRAILING_DATA => {
            c"data after the attachment's final chunk, or a stream or header too long"
        }
        XC_ERR_ATTACHMENT_WRONG_KEY => {
            c"attachment header does not match the descriptor's key (wrong or altered stream)"
        }
        XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION => {
            c"attachment chunk failed authentication (altered, moved, repeated or foreign)"
        }
        XC_ERR_ATTACHMENT_INVALID_PADDING => c"attachment chunk has non-zero padding",
        XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH => c"attachment chunk of the wrong length",
        XC_ERR_ATTACHMENT_NO_SUCH_CHUNK => c"the attachment has no chunk with this index",
        XC_ERR_ATTACHMENT_FINISHED => c"the attachment's final chunk was already sealed",
        XC_ERR_ATTACHMENT_NOT_FINISHED => c"not every chunk of the attachment was sealed",
        XC_ERR_ATTACHMENT_DIGEST_MISMATCH => {
            c"stored attachment stream does not match the descriptor's digest"
        }
        XC_ERR_ATTACHMENT_DIGEST_REQUIRED => {
            c"a group attachment needs a digest (xc_attachment_encryptor_new_with_digest)"
        }
        XC_ERR_ATTACHMENT_OTHER => c"attachment error",
        XC_ERR_ACCOUNT_INVALID_SIGNATURE => c"device list: invalid account key signature",
        XC_ERR_ACCOUNT_INVALID_DEVICE_LIST => {
            c"invalid device list (count, repeated or unordered device, or a membership signature)"
        }
        XC_ERR_ACCOUNT_WRONG_ACCOUNT => c"device list signed by another account key",
        XC_ERR_ACCOUNT_ROLLBACK => c"device list older than the one held (rollback)",
        XC_ERR_ACCOUNT_FORK => c"device list forks the account's history",
        XC_ERR_ACCOUNT_GAP => c"device lists missing between the one held and this one",
        XC_ERR_ACCOUNT_UNKNOWN_DEVICE => c"device not on the account's device list",
        XC_ERR_ACCOUNT_OTHER => c"account error",
        _ => UNKNOWN_CODE,
    }
}

/// A static, NUL-terminated English description of `code`. Never NULL; the string must not be
/// freed or modified. Unknown codes give "unknown error code".
#[unsafe(no_mangle)]
pub extern "C" fn xc_error_message(code: i32) -> *const c_char {
    catch_unwind(AssertUnwindSafe(|| message(code)))
        .unwrap_or(UNKNOWN_CODE)
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_described() {
        for (i, a) in ALL_CODES.iter().enumerate() {
            assert_ne!(message(*a), UNKNOWN_CODE, "code {a} has no message");
            for b in ALL_CODES.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
        assert_eq!(message(-1), UNKNOWN_CODE);
        assert_eq!(message(1000), UNKNOWN_CODE);
    }

    #[test]
    fn wrapped_errors_keep_their_class() {
        assert_eq!(
            sealed_code(SealedSenderError::Session(Error::DuplicateMessage)),
            XC_ERR_DUPLICATE_MESSAGE
        );
        assert_eq!(
            sealed_code(SealedSenderError::Decode(DecodeError::Truncated)),
            XC_ERR_DECODE_TRUNCATED
        );
        assert_eq!(
            error_code(Error::Decode(DecodeError::ChecksumMismatch)),
            XC_ERR_DECODE_CHECKSUM_MISMATCH
        );
        assert_ne!(
            sealed_code(SealedSenderError::DecryptionFailed),
            error_code(Error::DecryptionFailed)
        );
        assert_eq!(
            attachment_code(AttachmentError::Decode(DecodeError::Truncated)),
            XC_ERR_DECODE_TRUNCATED
        );
        assert_eq!(attachment_code(AttachmentError::TooLarge), XC_ERR_TOO_LARGE);
        assert_ne!(
            attachment_code(AttachmentError::Truncated),
            XC_ERR_DECODE_TRUNCATED
        );
    }

    #[test]
    fn every_attachment_error_has_its_code() {
        let cases = [
            (AttachmentError::Truncated, XC_ERR_ATTACHMENT_TRUNCATED),
            (
                AttachmentError::TrailingData,
                XC_ERR_ATTACHMENT_TRAILING_DATA,
            ),
            (AttachmentError::WrongKey, XC_ERR_ATTACHMENT_WRONG_KEY),
            (
                AttachmentError::ChunkAuthentication(3),
                XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION,
            ),
            (
                AttachmentError::InvalidPadding(0),
                XC_ERR_ATTACHMENT_INVALID_PADDING,
            ),
            (
                AttachmentError::InvalidChunkLength,
                XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH,
            ),
            (
                AttachmentError::NoSuchChunk(9),
                XC_ERR_ATTACHMENT_NO_SUCH_CHUNK,
            ),
            (AttachmentError::Finished, XC_ERR_ATTACHMENT_FINISHED),
            (AttachmentError::NotFinished, XC_ERR_ATTACHMENT_NOT_FINISHED),
            (
                AttachmentError::DigestMismatch,
                XC_ERR_ATTACHMENT_DIGEST_MISMATCH,
            ),
            (
                AttachmentError::DigestRequired,
                XC_ERR_ATTACHMENT_DIGEST_REQUIRED,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(attachment_code(e), code, "{e:?}");
            assert!((70..=88).contains(&code));
        }
        assert_eq!(XC_ERR_ATTACHMENT_OTHER, 89);
        assert_ne!(message(XC_ERR_ATTACHMENT_OTHER), UNKNOWN_CODE);
    }

    #[test]
    fn every_account_error_has_its_code() {
        let cases = [
            (
                AccountError::InvalidSignature,
                XC_ERR_ACCOUNT_INVALID_SIGNATURE,
            ),
            (
                AccountError::InvalidDeviceList,
                XC_ERR_ACCOUNT_INVALID_DEVICE_LIST,
            ),
            (AccountError::WrongAccount, XC_ERR_ACCOUNT_WRONG_ACCOUNT),
            (AccountError::Rollback, XC_ERR_ACCOUNT_ROLLBACK),
            (AccountError::Fork, XC_ERR_ACCOUNT_FORK),
            (AccountError::Gap, XC_ERR_ACCOUNT_GAP),
            (AccountError::UnknownDevice, XC_ERR_ACCOUNT_UNKNOWN_DEVICE),
        ];
        for (e, code) in cases {
            assert_eq!(account_code(e), code, "{e:?}");
            assert!((90..=98).contains(&code));
        }
        assert_eq!(XC_ERR_ACCOUNT_OTHER, 99);
        assert_eq!(account_code(AccountError::TooLarge), XC_ERR_TOO_LARGE);
        assert_eq!(
            account_code(AccountError::Decode(DecodeError::InvalidKey)),
            XC_ERR_DECODE_INVALID_KEY
        );
        // The two new variants of existing enums, and one wrapped in the other.
        assert_eq!(error_code(Error::UnknownDevice), XC_ERR_UNKNOWN_DEVICE);
        assert_eq!(
            sealed_code(SealedSenderError::UnknownDevice),
            XC_ERR_SEALED_UNKNOWN_DEVICE
        );
        assert_eq!(
            sealed_code(SealedSenderError::Session(Error::UnknownDevice)),
            XC_ERR_UNKNOWN_DEVICE
        );
        assert!((50..=59).contains(&XC_ERR_UNKNOWN_DEVICE));
        assert!((40..=48).contains(&XC_ERR_SEALED_UNKNOWN_DEVICE));
    }

    #[test]
    fn a_group_failure_of_an_attachment_keeps_the_groups_code() {
        use xchat_protocol::GroupError;
        for (e, code) in [
            (
                GroupError::DistributionPending,
                XC_ERR_GROUP_DISTRIBUTION_PENDING,
            ),
            (GroupError::NotAMember, XC_ERR_GROUP_NOT_A_MEMBER),
            (GroupError::TooLarge, XC_ERR_TOO_LARGE),
            (
                GroupError::Decode(DecodeError::Truncated),
                XC_ERR_DECODE_TRUNCATED,
            ),
        ] {
            assert_eq!(attachment_code(AttachmentError::Group(e)), code, "{e:?}");
            assert_eq!(
                attachment_code(AttachmentError::Group(e)),
                crate::group::group_code(e)
            );
        }
    }
}
