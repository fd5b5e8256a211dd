//! The multi-recipient envelope (SPEC.md §9.5): one group message sealed once for all of a
//! group's members. The payload — certificate and message — is encrypted once under a random
//! message key `M`; each recipient gets a 48-byte header that wraps `M` under one X25519 agreement
//! of a fresh ephemeral key with its identity. Sealing costs one agreement per recipient and one
//! payload encryption.
//!
//! There is no static agreement, so the envelope by itself does not authenticate its sender: its
//! content must be a group message, whose sender-key signature names the certified identity
//! (§13.3). [`OpenedGroup::receive`] is therefore the only way to its message.

use alloc::vec::Vec;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::envelope::{open, payload_len, read_payload, seal_tail, write_payload};
use super::{CertificateKey, SealedSenderError, SenderCertificate};
use crate::cipher;
use crate::codec::{Reader, Writer};
use crate::content::Receipt;
use crate::error::DecodeError;
use crate::group::{GROUP_OVERHEAD, GroupSession};
use crate::kdf;
use crate::keys::{IdentityKey, IdentityKeyPair, KeyPair, PublicKey};
use crate::wire::MAX_PLAINTEXT_LEN;

/// Version byte of an envelope delivered to one recipient.
pub const MULTI_VERSION: u8 = 0x02;
/// Version byte of the form uploaded to the relay, with every recipient's header.
pub const MULTI_UPLOAD_VERSION: u8 = 0x82;
/// One recipient's header: the wrapped message key and its tag.
pub const MULTI_HEADER_LEN: usize = 32 + 16;
/// The most recipients of one envelope.
pub const MAX_MULTI_RECIPIENTS: usize = u16::MAX as usize;
/// Largest group message an envelope carries.
pub const MAX_MULTI_MESSAGE_LEN: usize = MAX_PLAINTEXT_LEN + GROUP_OVERHEAD;

/// A group message sealed for several recipients: the upload form, and each recipient's
/// envelope from it.
#[derive(Clone, Debug)]
pub struct MultiRecipientEnvelope {
    recipients: Vec<IdentityKey>,
    /// `0x82 ‖ E ‖ u16 n ‖ n × header ‖ sealed payload`.
    upload: Vec<u8>,
}

impl MultiRecipientEnvelope {
    /// The recipients, in the order of their headers.
    pub fn recipients(&self) -> &[IdentityKey] {
        &self.recipients
    }

    /// What the relay receives (SPEC.md §9.5): every header, then the one payload. The relay
    /// splits it with [`split_for_recipient`].
    pub fn to_bytes(&self) -> &[u8] {
        &self.upload
    }

    /// The envelope for the `index`-th recipient, as the relay delivers it (`None` past the
    /// last).
    pub fn for_recipient(&self, index: usize) -> Option<Vec<u8>> {
        split_for_recipient(&self.upload, index).ok()
    }
}

/// Seals `message` — the output of [`GroupSession::send`] or [`GroupSession::set_timer`] — once
/// for every member of `group`, with our certificate inside (SPEC.md §9.5). `sender` must be the
/// group's local identity and the certificate's.
///
/// # Errors
/// [`SealedSenderError::SenderIdentityMismatch`]; [`SealedSenderError::TooLarge`] (a message over
/// [`MAX_MULTI_MESSAGE_LEN`], or more than [`MAX_MULTI_RECIPIENTS`] members);
/// [`SealedSenderError::Decode`] (a hand-built certificate no decoder accepts, or a member restored
/// as an invalid key); nothing is drawn before these checks.
pub fn seal_for_group<R: CryptoRng + ?Sized>(
    rng: &mut R,
    sender: &IdentityKeyPair,
    certificate: &SenderCertificate,
    group: &GroupSession,
    message: &[u8],
) -> Result<MultiRecipientEnvelope, SealedSenderError> {
    if group.local_identity() != sender.public() || certificate.identity != *sender.public() {
        return Err(SealedSenderError::SenderIdentityMismatch);
    }
    let recipients: Vec<IdentityKey> = group.members().copied().collect();
    seal_multi(rng, certificate, &recipients, message)
}

/// [`seal_for_group`] to a list of identity keys, without a group and without checking whose
/// certificate it is (feature `hazmat`: for vectors and tests that build what an attacker could).
///
/// # Errors
/// As [`seal_for_group`], except `SenderIdentityMismatch`.
#[cfg(feature = "hazmat")]
pub fn seal_multi_to<R: CryptoRng + ?Sized>(
    rng: &mut R,
    certificate: &SenderCertificate,
    recipients: &[IdentityKey],
    message: &[u8],
) -> Result<MultiRecipientEnvelope, SealedSenderError> {
    seal_multi(rng, certificate, recipients, message)
}

fn seal_multi<R: CryptoRng + ?Sized>(
    rng: &mut R,
    certificate: &SenderCertificate,
    recipients: &[IdentityKey],
    message: &[u8],
) -> Result<MultiRecipientEnvelope, SealedSenderError> {
    if recipients.len() > MAX_MULTI_RECIPIENTS {
        return Err(SealedSenderError::TooLarge);
    }
    let padded = payload_len(certificate, message, MAX_MULTI_MESSAGE_LEN)?;
    // Every recipient's X25519 form before anything is drawn.
    let keys = recipients
        .iter()
        .map(IdentityKey::x25519)
        .collect::<Result<Vec<PublicKey>, DecodeError>>()?;
    let ephemeral = KeyPair::generate(rng);
    let e_pub = *ephemeral.public().as_bytes();
    let mut m = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(m.as_mut_slice());

    let mut out = Vec::with_capacity(
        1 + 32 + 2 + recipients.len() * MULTI_HEADER_LEN + padded + cipher::TAG_LEN,
    );
    out.put_u8(MULTI_UPLOAD_VERSION);
    out.put(&e_pub);
    out.put_u16(u16::try_from(recipients.len()).map_err(|_| SealedSenderError::TooLarge)?);
    for (recipient, x) in recipients.iter().zip(&keys) {
        let k = kdf::sealed_multi_recipient(
            &e_pub,
            recipient.as_bytes(),
            &*ephemeral.diffie_hellman(x)?,
        );
        let start = out.len();
        out.put(m.as_slice());
        seal_tail(&k, &header_aad(&e_pub, recipient), &mut out, start)?;
    }
    let start = out.len();
    write_payload(&mut out, certificate, message, padded)?;
    let payload_key = kdf::sealed_multi_payload(&e_pub, &m);
    seal_tail(&payload_key, &payload_aad(&e_pub), &mut out, start)?;
    Ok(MultiRecipientEnvelope {
        recipients: recipients.to_vec(),
        upload: out,
    })
}

/// The relay's step (SPEC.md §9.5): from an uploaded envelope, the one for the `index`-th
/// recipient: `0x02 ‖ E ‖ its header ‖ sealed payload`.
///
/// # Errors
/// [`DecodeError::UnknownVersion`], [`DecodeError::Truncated`] (fewer headers or bytes than it
/// says), [`DecodeError::NonCanonical`] (`index` past the last header).
pub fn split_for_recipient(upload: &[u8], index: usize) -> Result<Vec<u8>, DecodeError> {
    let mut r = Reader::new(upload);
    let version = r.u8()?;
    if version != MULTI_UPLOAD_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let e: [u8; 32] = r.array()?;
    let n = usize::from(r.u16()?);
    let headers = r.take(n * MULTI_HEADER_LEN)?;
    let payload = r.rest();
    if payload.len() < cipher::TAG_LEN {
        return Err(DecodeError::Truncated);
    }
    if index >= n {
        return Err(DecodeError::NonCanonical);
    }
    let header = headers
        .get(index * MULTI_HEADER_LEN..(index + 1) * MULTI_HEADER_LEN)
        .ok_or(DecodeError::Truncated)?;
    let mut out = Vec::with_capacity(1 + 32 + MULTI_HEADER_LEN + payload.len());
    out.put_u8(MULTI_VERSION);
    out.put(&e);
    out.put(header);
    out.put(payload);
    Ok(out)
}

/// A multi-recipient envelope that opened and whose certificate validated; its group message is
/// reachable only through [`OpenedGroup::receive`].
#[derive(Debug)]
pub struct OpenedGroup {
    sender: SenderCertificate,
    payload: Zeroizing<Vec<u8>>,
    message: core::ops::Range<usize>,
    now_ms: u64,
}

/// A group message whose sender was verified end to end.
#[derive(Debug)]
pub struct GroupDelivered {
    /// The verified sender certificate (address, device, identity).
    pub sender: SenderCertificate,
    /// What the group did with the message.
    pub receipt: Receipt,
}

impl OpenedGroup {
    /// The validated certificate: its identity is the sender the group checks.
    pub fn sender(&self) -> &SenderCertificate {
        &self.sender
    }

    /// Receives the group message, with the certificate's identity as its sender: the group
    /// checks that its sender key's signature names that identity (SPEC.md §13.3–§13.4).
    ///
    /// # Errors
    /// [`SealedSenderError::Group`] with the group's error; the group is unchanged.
    pub fn receive(&self, group: &mut GroupSession) -> Result<GroupDelivered, SealedSenderError> {
        let message = self.payload.get(self.message.clone()).unwrap_or_default();
        let receipt = group
            .receive(&self.sender.identity, message, self.now_ms)
            .map_err(SealedSenderError::Group)?;
        Ok(GroupDelivered {
            sender: self.sender.clone(),
            receipt,
        })
    }
}

/// Opens a multi-recipient envelope sealed to `identity` at `now_ms` (SPEC.md §9.5): unwraps the
/// message key, decrypts the payload, validates the certificate chain and refuses our own.
pub(super) fn open_group(
    identity: &IdentityKeyPair,
    trust_roots: &[CertificateKey],
    revoked_servers: &[u32],
    envelope: &[u8],
    now_ms: u64,
) -> Result<OpenedGroup, SealedSenderError> {
    if envelope.len() > max_envelope_len() {
        return Err(DecodeError::TooLarge.into());
    }
    let mut r = Reader::new(envelope);
    r.version(MULTI_VERSION)?;
    let e_pub: [u8; 32] = r.array()?;
    let ephemeral = PublicKey::from_bytes(e_pub)?;
    let header: [u8; MULTI_HEADER_LEN] = r.array()?;
    let sealed = r.rest();
    if sealed.len() < cipher::TAG_LEN {
        return Err(DecodeError::Truncated.into());
    }
    let ours = identity.public();
    let k = kdf::sealed_multi_recipient(&e_pub, ours.as_bytes(), &*identity.dh(&ephemeral)?);
    let m = open(&k, &header_aad(&e_pub, ours), &header)?;
    let m: &[u8; 32] = m
        .as_slice()
        .try_into()
        .map_err(|_| DecodeError::Truncated)?;
    let payload = open(
        &kdf::sealed_multi_payload(&e_pub, m),
        &payload_aad(&e_pub),
        sealed,
    )?;
    let (sender, message) = read_payload(&payload)?;
    sender.validate(trust_roots, revoked_servers, now_ms)?;
    if &sender.identity == ours {
        return Err(SealedSenderError::SelfSend);
    }
    Ok(OpenedGroup {
        sender,
        payload,
        message,
        now_ms,
    })
}

/// The longest delivered envelope [`open_group`] reads: the header and the padded largest
/// payload with its tag.
fn max_envelope_len() -> usize {
    1 + 32
        + MULTI_HEADER_LEN
        + crate::padding::padded_len(6 + super::MAX_SENDER_CERTIFICATE_LEN + MAX_MULTI_MESSAGE_LEN)
        + cipher::TAG_LEN
}

/// `0x02 ‖ E ‖ IK_R`: a header's associated data.
fn header_aad(e_pub: &[u8; 32], recipient: &IdentityKey) -> [u8; 65] {
    let mut aad = [0u8; 65];
    let (v, rest) = aad.split_at_mut(1);
    let (e, ik) = rest.split_at_mut(32);
    v.copy_from_slice(&[MULTI_VERSION]);
    e.copy_from_slice(e_pub);
    ik.copy_from_slice(recipient.as_bytes());
    aad
}

/// `0x02 ‖ E`: the payload's associated data.
fn payload_aad(e_pub: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    let (v, e) = aad.split_at_mut(1);
    v.copy_from_slice(&[MULTI_VERSION]);
    e.copy_from_slice(e_pub);
    aad
}
