//! The envelope's two agreements, its associated data and its layout (SPEC.md §9.2–§9.3).
//!
//! An ephemeral X25519 agreement with the recipient's identity hides the sender's identity key;
//! a static agreement between the two identities authenticates the content to the sender. Each
//! AES-256-GCM key here seals exactly one plaintext (it derives from a fresh ephemeral key), so
//! the nonce is all zero.

use alloc::vec::Vec;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{
    ENVELOPE_HEADER_LEN, MAX_ADDRESS_LEN, MAX_SEALED_MESSAGE_LEN, SEALED_VERSION,
    SealedSenderError, SenderCertificate,
};
use crate::cipher;
use crate::codec::Writer;
use crate::error::DecodeError;
use crate::kdf;
use crate::keys::{IdentityKey, IdentityKeyPair, KeyPair, PublicKey};
use crate::padding::padded_len;
use crate::session::Session;

const ZERO_NONCE: [u8; 12] = [0; 12];

/// `version ‖ e_pub ‖ IK_R [‖ enc_id]`: the associated data of the two seals (SPEC.md §9.2).
/// Fixed offsets in a fixed buffer: every part has a fixed length.
pub(super) struct Aad {
    buf: [u8; 1 + 32 + 32 + 48],
    len: usize,
}

impl Aad {
    pub(super) fn new(
        ephemeral: &PublicKey,
        recipient: &IdentityKey,
        encrypted_identity: Option<&[u8; 48]>,
    ) -> Self {
        let mut buf = [0u8; 113];
        let (version, rest) = buf.split_at_mut(1);
        let (e, rest) = rest.split_at_mut(32);
        let (ik, enc) = rest.split_at_mut(32);
        version.copy_from_slice(&[SEALED_VERSION]);
        e.copy_from_slice(ephemeral.as_bytes());
        ik.copy_from_slice(recipient.as_bytes());
        let len = match encrypted_identity {
            Some(id) => {
                enc.copy_from_slice(id);
                113
            }
            None => 65,
        };
        Self { buf, len }
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// AES-256-GCM with the all-zero nonce over `buf[start..]`, in place, appending the tag. Every
/// key sealed with it seals one plaintext (SPEC.md §9.2, §9.5).
pub(super) fn seal_tail(
    key: &[u8; 32],
    aad: &[u8],
    buf: &mut Vec<u8>,
    start: usize,
) -> Result<(), SealedSenderError> {
    cipher::seal_in_place(key, &ZERO_NONCE, aad, buf, start)
        .map_err(|()| SealedSenderError::Decode(DecodeError::TooLarge))
}

/// Opens `ciphertext ‖ tag` sealed by [`seal_tail`].
pub(super) fn open(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealedSenderError> {
    if sealed.len() < cipher::TAG_LEN {
        return Err(DecodeError::Truncated.into());
    }
    cipher::open_to_vec(key, &ZERO_NONCE, aad, sealed)
        .map(Zeroizing::new)
        .map_err(|()| SealedSenderError::DecryptionFailed)
}

/// Seals a message of `session` (the output of [`Session::send`] or [`Session::set_timer`]) for
/// the session's peer, with our certificate inside (SPEC.md §9.2).
///
/// `sender` must be the session's local identity and the certificate's identity: an envelope
/// whose certificate names someone else would be refused by every recipient, so it is refused
/// here, before any key is drawn.
///
/// The payload `u16 len ‖ certificate ‖ u32 len ‖ message` is zero-padded to the Padmé bucket of its
/// length, so the envelope length hides the certificate and the exact message length.
///
/// # Errors
/// [`SealedSenderError::SenderIdentityMismatch`] (the certificate or the session is not
/// `sender`'s), [`SealedSenderError::TooLarge`], [`SealedSenderError::Decode`] (a certificate
/// built by hand with an address no decoder accepts; or the session's peer restored from a forged
/// state blob as an invalid key), [`SealedSenderError::NonContributory`].
pub fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    sender: &IdentityKeyPair,
    certificate: &SenderCertificate,
    session: &Session,
    message: &[u8],
) -> Result<Vec<u8>, SealedSenderError> {
    if session.local_identity() != sender.public() || certificate.identity != *sender.public() {
        return Err(SealedSenderError::SenderIdentityMismatch);
    }
    seal_inner(rng, sender, certificate, session.remote_identity(), message)
}

/// [`seal`] to an identity key, without a session and without checking that the certificate is
/// `sender`'s (feature `hazmat`: for vectors, interoperability tests and tests that build the
/// envelopes an attacker could — a recipient must refuse them, SPEC.md §9.4).
///
/// # Errors
/// As [`seal`], except `SenderIdentityMismatch`.
#[cfg(feature = "hazmat")]
pub fn seal_to<R: CryptoRng + ?Sized>(
    rng: &mut R,
    sender: &IdentityKeyPair,
    certificate: &SenderCertificate,
    recipient: &IdentityKey,
    message: &[u8],
) -> Result<Vec<u8>, SealedSenderError> {
    seal_inner(rng, sender, certificate, recipient, message)
}

fn seal_inner<R: CryptoRng + ?Sized>(
    rng: &mut R,
    sender: &IdentityKeyPair,
    certificate: &SenderCertificate,
    recipient: &IdentityKey,
    message: &[u8],
) -> Result<Vec<u8>, SealedSenderError> {
    let padded = payload_len(certificate, message, MAX_SEALED_MESSAGE_LEN)?;
    let ephemeral = KeyPair::generate(rng);
    let e_pub = ephemeral.public();
    let keys = kdf::sealed_ephemeral(
        e_pub.as_bytes(),
        recipient.as_bytes(),
        &*ephemeral.diffie_hellman(&recipient.x25519()?)?,
    );

    // Everything is written once, into the envelope itself, and sealed in place.
    let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + padded + 16);
    out.put_u8(SEALED_VERSION);
    out.put(e_pub.as_bytes());
    let id_start = out.len();
    out.put(&sender.public().to_bytes());
    seal_tail(
        &keys.identity_key,
        Aad::new(e_pub, recipient, None).as_slice(),
        &mut out,
        id_start,
    )?;
    let encrypted_identity: [u8; 48] = out
        .get(id_start..)
        .and_then(|e| e.try_into().ok())
        .ok_or(DecodeError::Truncated)?;
    let content_key = kdf::sealed_static(
        &keys.chain,
        &encrypted_identity,
        &*sender.dh(&recipient.x25519()?)?,
    );

    let payload_start = out.len();
    write_payload(&mut out, certificate, message, padded)?;
    let content_aad = Aad::new(e_pub, recipient, Some(&encrypted_identity));
    seal_tail(
        &content_key,
        content_aad.as_slice(),
        &mut out,
        payload_start,
    )?;
    Ok(out)
}

/// The padded length of the payload `u16 len ‖ certificate ‖ u32 len ‖ message ‖ zeros` (SPEC.md
/// §9.2), after the checks every sealing makes: the message at most `max_message` bytes, the
/// certificate one a decoder accepts.
pub(super) fn payload_len(
    certificate: &SenderCertificate,
    message: &[u8],
    max_message: usize,
) -> Result<usize, SealedSenderError> {
    if message.len() > max_message {
        return Err(SealedSenderError::TooLarge);
    }
    // The fields are public, so a certificate built by hand can have an address no decoder
    // accepts; refuse it here with the error issuing it would give (SPEC.md §9.1).
    match certificate.address.len() {
        0 => return Err(DecodeError::NonCanonical.into()),
        len if len > MAX_ADDRESS_LEN => return Err(DecodeError::TooLarge.into()),
        _ => {}
    }
    Ok(padded_len(
        2 + certificate.encoded_len() + 4 + message.len(),
    ))
}

/// Appends the payload, zero-padded to `padded` bytes ([`payload_len`]).
pub(super) fn write_payload(
    out: &mut Vec<u8>,
    certificate: &SenderCertificate,
    message: &[u8],
    padded: usize,
) -> Result<(), SealedSenderError> {
    let start = out.len();
    let cert_len = u16::try_from(certificate.encoded_len()).map_err(|_| DecodeError::TooLarge)?;
    out.put_u16(cert_len);
    certificate.encode(out)?;
    out.put_u32(u32::try_from(message.len()).map_err(|_| DecodeError::TooLarge)?);
    out.put(message);
    out.resize(start + padded, 0);
    Ok(())
}

/// Reads a decrypted payload strictly: the certificate, and where the message is in it.
pub(super) fn read_payload(
    payload: &[u8],
) -> Result<(SenderCertificate, core::ops::Range<usize>), SealedSenderError> {
    let mut p = crate::codec::Reader::new(payload);
    let cert_len = usize::from(p.u16()?);
    let sender = SenderCertificate::from_bytes(p.take(cert_len)?)?;
    let message_len = usize::try_from(p.u32()?).map_err(|_| DecodeError::TooLarge)?;
    let message_start = 2 + cert_len + 4;
    p.take(message_len)?;
    let padding = p.rest();
    if payload.len() != padded_len(6 + cert_len + message_len) || padding.iter().any(|b| *b != 0) {
        return Err(DecodeError::NonCanonical.into());
    }
    Ok((sender, message_start..message_start + message_len))
}
