//! Sealed sender: the relay learns the recipient only (SPEC.md §9).
//!
//! A trust root certifies servers; a server certifies senders (an opaque address, a device id,
//! the sender's identity key and an expiry). The sender wraps a session message together with
//! its certificate so that only the recipient's identity key opens it: an ephemeral X25519
//! agreement hides the sender's identity key, and a static-static agreement with the sender's
//! identity authenticates the content to it.
//!
//! [`SealedRecipient::open`] verifies everything that can be verified without a session and
//! returns an [`Opened`] envelope whose inner message is reachable *only* through
//! [`Opened::decrypt`] or [`Opened::respond`], which add the check that the session's peer is
//! the certified sender. An application cannot skip a check.

//!
//! One file per part: [`error`](SealedSenderError), the certificates (§9.1), the envelope's
//! cryptography and layout (§9.2–§9.3, `envelope.rs`) and the recipient's checks (§9.4,
//! `recipient.rs`). Its labels and key derivations live with all the others in [`kdf`](crate::kdf).

mod certificate;
mod envelope;
mod error;
mod multi;
mod recipient;

pub use certificate::{CertificateKey, CertificateKeyPair, SenderCertificate, ServerCertificate};
pub use envelope::seal;
#[cfg(feature = "hazmat")]
pub use envelope::seal_to;
pub use error::SealedSenderError;
#[cfg(feature = "hazmat")]
pub use multi::seal_multi_to;
pub use multi::{
    GroupDelivered, MAX_MULTI_MESSAGE_LEN, MAX_MULTI_RECIPIENTS, MULTI_HEADER_LEN,
    MULTI_UPLOAD_VERSION, MULTI_VERSION, MultiRecipientEnvelope, OpenedGroup, seal_for_group,
    split_for_recipient,
};
pub use recipient::{Delivered, Opened, SealedRecipient};

use crate::padding::padded_len;
use crate::wire::MAX_PLAINTEXT_LEN;

/// Version byte of envelopes and certificates.
pub const SEALED_VERSION: u8 = 0x01;
/// Longest sender address.
pub const MAX_ADDRESS_LEN: usize = 255;
/// Length of an encoded server certificate.
pub const SERVER_CERTIFICATE_LEN: usize = 1 + 4 + 32 + 64;
/// Bytes before the content ciphertext: version, ephemeral key, encrypted identity key.
pub const ENVELOPE_HEADER_LEN: usize = 1 + 32 + 32 + 16;
/// Largest session message an envelope carries: a PQXDH prekey message of a maximal plaintext
/// (its prekey fields, the message prefix, the plaintext and the tag): 2^20 + 1722 bytes.
pub const MAX_SEALED_MESSAGE_LEN: usize = MAX_PLAINTEXT_LEN
    + crate::wire::PreKeyFields::MAX_LEN
    + crate::wire::MESSAGE_PREFIX_LEN
    + crate::cipher::TAG_LEN;
const _: () = assert!(MAX_SEALED_MESSAGE_LEN == (1 << 20) + 1722);
/// Longest encoded sender certificate (an address of [`MAX_ADDRESS_LEN`] bytes).
pub const MAX_SENDER_CERTIFICATE_LEN: usize =
    1 + 1 + MAX_ADDRESS_LEN + 4 + 32 + 8 + SERVER_CERTIFICATE_LEN + 64;
/// Longest envelope `open` accepts: the header, the padded largest payload and its tag.
pub const MAX_ENVELOPE_LEN: usize =
    ENVELOPE_HEADER_LEN + padded_len(6 + MAX_SENDER_CERTIFICATE_LEN + MAX_SEALED_MESSAGE_LEN) + 16;
