//! Sealed sender: the relay learns the recipient only (SPEC.md §12).
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

use alloc::vec::Vec;
use core::fmt;

use aes_gcm::Tag;
use aes_gcm::aead::AeadInOut;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::content::padded_len;
use crate::error::{DecodeError, Error};
use crate::kdf::hkdf_sha256;
use crate::keys::{
    IdentityKey, IdentityKeyPair, KeyPair, PublicKey, hex, parse_ed25519, verify_strict,
};
use crate::prekeys::PreKeyStore;
use crate::session::{Received, Session};
use crate::wire::{Incoming, MAX_PLAINTEXT_LEN};

/// Version byte of envelopes and certificates.
pub const SEALED_VERSION: u8 = 0x01;
/// What a trust root signs to certify a server (SPEC.md §12.1).
pub const LABEL_SERVER_CERTIFICATE: &[u8] = b"xchat-protocol v1 server certificate";
/// What a server signs to certify a sender (SPEC.md §12.1).
pub const LABEL_SENDER_CERTIFICATE: &[u8] = b"xchat-protocol v1 sender certificate";
/// HKDF info of the ephemeral agreement (SPEC.md §12.2).
pub const LABEL_SEALED_EPHEMERAL: &[u8] = b"xchat-protocol v1 sealed sender ephemeral";
/// HKDF info of the static agreement (SPEC.md §12.2).
pub const LABEL_SEALED_STATIC: &[u8] = b"xchat-protocol v1 sealed sender static";
/// Longest sender address.
pub const MAX_ADDRESS_LEN: usize = 255;
/// Length of an encoded server certificate.
pub const SERVER_CERTIFICATE_LEN: usize = 1 + 4 + 32 + 64;
/// Bytes before the content ciphertext: version, ephemeral key, encrypted identity key.
pub const ENVELOPE_HEADER_LEN: usize = 1 + 32 + 32 + 16;

/// Largest session message an envelope carries: a prekey message of a maximal plaintext.
pub const MAX_SEALED_MESSAGE_LEN: usize = MAX_PLAINTEXT_LEN + 256;
/// Longest encoded sender certificate (an address of [`MAX_ADDRESS_LEN`] bytes).
pub const MAX_SENDER_CERTIFICATE_LEN: usize =
    1 + 1 + MAX_ADDRESS_LEN + 4 + 32 + 8 + SERVER_CERTIFICATE_LEN + 64;
/// Longest envelope `open` accepts: the header, the padded largest payload and its tag.
pub const MAX_ENVELOPE_LEN: usize =
    ENVELOPE_HEADER_LEN + padded_len(6 + MAX_SENDER_CERTIFICATE_LEN + MAX_SEALED_MESSAGE_LEN) + 16;

const ZERO_NONCE: [u8; 12] = [0; 12];

/// Why a sealed envelope was rejected. Variants name the check that failed; none carries
/// secret material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealedSenderError {
    /// The envelope, certificate or inner payload could not be parsed.
    Decode(DecodeError),
    /// The envelope was not sealed to us, or was altered.
    DecryptionFailed,
    /// The ephemeral or sender key was a low-order point.
    NonContributory,
    /// A certificate signature does not verify against the trust roots and server key.
    InvalidCertificate,
    /// The sender certificate had expired at the given time.
    CertificateExpired,
    /// The server that signed the sender certificate is revoked.
    RevokedServer,
    /// The certified identity differs from the key that sealed the envelope, or from the
    /// session's peer.
    SenderIdentityMismatch,
    /// The envelope was sealed by our own identity.
    SelfSend,
    /// The inner session message was rejected.
    Session(Error),
    /// The message given to [`seal`] is longer than [`MAX_SEALED_MESSAGE_LEN`].
    TooLarge,
}

impl fmt::Display for SealedSenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "malformed sealed envelope: {e}"),
            Self::DecryptionFailed => f.write_str("sealed envelope failed authentication"),
            Self::NonContributory => f.write_str("non-contributory Diffie-Hellman result"),
            Self::InvalidCertificate => f.write_str("invalid sender certificate"),
            Self::CertificateExpired => f.write_str("sender certificate expired"),
            Self::RevokedServer => f.write_str("sender certificate signed by a revoked server"),
            Self::SenderIdentityMismatch => f.write_str("sender identity does not match"),
            Self::SelfSend => f.write_str("envelope sealed by ourselves"),
            Self::Session(e) => write!(f, "inner message rejected: {e}"),
            Self::TooLarge => f.write_str("message too large to seal"),
        }
    }
}

impl core::error::Error for SealedSenderError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            Self::Session(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for SealedSenderError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl From<Error> for SealedSenderError {
    fn from(e: Error) -> Self {
        match e {
            Error::NonContributory => Self::NonContributory,
            Error::Decode(d) => Self::Decode(d),
            other => Self::Session(other),
        }
    }
}

/// A certificate-signing public key: a trust root or a server key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CertificateKey(VerifyingKey);

impl CertificateKey {
    /// Parses an Ed25519 public key strictly (SPEC.md §2 rule 4).
    ///
    /// # Errors
    /// [`DecodeError::InvalidKey`].
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, DecodeError> {
        parse_ed25519(bytes).map(Self)
    }

    /// The 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateKey(")?;
        hex(f, self.0.as_bytes())?;
        f.write_str(")")
    }
}

/// A certificate-signing key pair, held by the service operator (trust root) or a server.
pub struct CertificateKeyPair(SigningKey);

impl CertificateKeyPair {
    /// Generates a key pair.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(SigningKey::generate(rng))
    }

    /// Rebuilds a key pair from its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for persistence. Secret.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> CertificateKey {
        CertificateKey(self.0.verifying_key())
    }

    /// Certifies a server key: the trust root's operation.
    pub fn certify_server(&self, id: u32, server: &CertificateKey) -> ServerCertificate {
        let signature = self
            .0
            .sign(&ServerCertificate::signed_bytes(id, server))
            .to_bytes();
        ServerCertificate {
            id,
            key: *server,
            signature,
        }
    }

    /// Certifies a sender: the server's operation. `certificate` is this server's own
    /// certificate; `expires_ms` is milliseconds since the Unix epoch.
    ///
    /// # Errors
    /// [`DecodeError::NonCanonical`] if `address` is empty (as decoding would say), and
    /// [`DecodeError::TooLarge`] if it is longer than [`MAX_ADDRESS_LEN`].
    pub fn certify_sender(
        &self,
        certificate: &ServerCertificate,
        address: &[u8],
        device_id: u32,
        identity: &IdentityKey,
        expires_ms: u64,
    ) -> Result<SenderCertificate, DecodeError> {
        if address.is_empty() {
            return Err(DecodeError::NonCanonical);
        }
        if address.len() > MAX_ADDRESS_LEN {
            return Err(DecodeError::TooLarge);
        }
        let mut cert = SenderCertificate {
            address: address.to_vec(),
            device_id,
            identity: *identity,
            expires_ms,
            server: *certificate,
            signature: [0; 64],
        };
        cert.signature = self.0.sign(&cert.signed_bytes()).to_bytes();
        Ok(cert)
    }
}

impl fmt::Debug for CertificateKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CertificateKeyPair")
            .field(&self.public())
            .finish()
    }
}

/// A server's key, certified by a trust root.
///
/// Encoding: `version ‖ id (u32) ‖ key (32) ‖ signature (64)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerCertificate {
    /// The server's id (what revocation lists name).
    pub id: u32,
    /// The server's signing key.
    pub key: CertificateKey,
    /// The trust root's signature over `LABEL_SERVER_CERTIFICATE ‖ id ‖ key`.
    pub signature: [u8; 64],
}

impl ServerCertificate {
    fn signed_bytes(id: u32, key: &CertificateKey) -> Vec<u8> {
        let mut m = Vec::with_capacity(LABEL_SERVER_CERTIFICATE.len() + 36);
        m.put(LABEL_SERVER_CERTIFICATE);
        m.put_u32(id);
        m.put(&key.to_bytes());
        m
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(SEALED_VERSION);
        out.put_u32(self.id);
        out.put(&self.key.to_bytes());
        out.put(&self.signature);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(SEALED_VERSION)?;
        Ok(Self {
            id: r.u32()?,
            key: CertificateKey::from_bytes(r.array()?)?,
            signature: r.array()?,
        })
    }

    /// Encodes the certificate.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SERVER_CERTIFICATE_LEN);
        self.encode(&mut out);
        out
    }

    /// Decodes a certificate (the signature is checked by validation, not here).
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let cert = Self::decode(&mut r)?;
        r.finish()?;
        Ok(cert)
    }
}

/// A sender's identity, certified by a server.
///
/// Encoding: `version ‖ address length (u8, 1..=255) ‖ address ‖ device id (u32) ‖ identity (32)
/// ‖ expires (u64, ms) ‖ server certificate (101) ‖ signature (64)`; the server signs
/// `LABEL_SENDER_CERTIFICATE ‖` every byte before the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderCertificate {
    /// The sender's address: an account id or username, opaque to the library.
    pub address: Vec<u8>,
    /// The sender's device.
    pub device_id: u32,
    /// The sender device's identity key.
    pub identity: IdentityKey,
    /// Expiry, in milliseconds since the Unix epoch.
    pub expires_ms: u64,
    /// The certificate of the server that signed this one.
    pub server: ServerCertificate,
    /// The server's signature.
    pub signature: [u8; 64],
}

impl SenderCertificate {
    fn encode_unsigned(&self, out: &mut Vec<u8>) {
        out.put_u8(SEALED_VERSION);
        out.put_u8(u8::try_from(self.address.len()).unwrap_or(u8::MAX));
        out.put(&self.address);
        out.put_u32(self.device_id);
        out.put(&self.identity.to_bytes());
        out.put_u64(self.expires_ms);
        self.server.encode(out);
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(LABEL_SENDER_CERTIFICATE.len() + 160 + self.address.len());
        m.put(LABEL_SENDER_CERTIFICATE);
        self.encode_unsigned(&mut m);
        m
    }

    fn encoded_len(&self) -> usize {
        1 + 1 + self.address.len() + 4 + 32 + 8 + SERVER_CERTIFICATE_LEN + 64
    }

    fn encode(&self, out: &mut Vec<u8>) {
        self.encode_unsigned(out);
        out.put(&self.signature);
    }

    /// Encodes the certificate.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Decodes a certificate (signatures are checked by [`SenderCertificate::validate`]).
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.version(SEALED_VERSION)?;
        let len = usize::from(r.u8()?);
        if len == 0 {
            return Err(DecodeError::NonCanonical);
        }
        let cert = Self {
            address: r.take(len)?.to_vec(),
            device_id: r.u32()?,
            identity: IdentityKey::from_bytes(r.array()?)?,
            expires_ms: r.u64()?,
            server: ServerCertificate::decode(&mut r)?,
            signature: r.array()?,
        };
        r.finish()?;
        Ok(cert)
    }

    /// Validates the chain at `now_ms` (SPEC.md §12.3), in this order: the server certificate
    /// verifies (strictly) under one of `trust_roots`; its id is not in `revoked`; this
    /// certificate verifies under the server key; `now_ms < expires_ms`.
    ///
    /// # Errors
    /// [`SealedSenderError::InvalidCertificate`], [`SealedSenderError::RevokedServer`],
    /// [`SealedSenderError::CertificateExpired`].
    pub fn validate(
        &self,
        trust_roots: &[CertificateKey],
        revoked: &[u32],
        now_ms: u64,
    ) -> Result<(), SealedSenderError> {
        let server_signed = ServerCertificate::signed_bytes(self.server.id, &self.server.key);
        let rooted = trust_roots
            .iter()
            .any(|root| verify_strict(&root.0, &server_signed, &self.server.signature).is_ok());
        if !rooted {
            return Err(SealedSenderError::InvalidCertificate);
        }
        if revoked.contains(&self.server.id) {
            return Err(SealedSenderError::RevokedServer);
        }
        verify_strict(&self.server.key.0, &self.signed_bytes(), &self.signature)
            .map_err(|_| SealedSenderError::InvalidCertificate)?;
        if now_ms >= self.expires_ms {
            return Err(SealedSenderError::CertificateExpired);
        }
        Ok(())
    }
}

/// Keys of the two agreements (SPEC.md §12.2).
struct EnvelopeKeys {
    chain: Zeroizing<[u8; 32]>,
    identity_key: Zeroizing<[u8; 32]>,
}

/// Concatenates `parts` into an `N`-byte stack buffer (`N` ≥ their total length) and returns
/// it with the length used; the associated data and salts below need no heap allocation.
fn concat<const N: usize>(parts: &[&[u8]]) -> ([u8; N], usize) {
    let mut buf = [0u8; N];
    let mut len = 0;
    for part in parts {
        if let Some(dst) = buf.get_mut(len..len + part.len()) {
            dst.copy_from_slice(part);
            len += part.len();
        }
    }
    (buf, len)
}

/// `version ‖ e_pub ‖ IK_R [‖ enc_id]`: the associated data of the two seals (SPEC.md §12.2).
struct Aad([u8; 113], usize);

impl Aad {
    fn new(
        ephemeral: &PublicKey,
        recipient: &IdentityKey,
        encrypted_identity: Option<&[u8; 48]>,
    ) -> Self {
        let recipient = recipient.to_bytes();
        let enc: &[u8] = encrypted_identity.map_or(&[], |e| e);
        let (buf, len) = concat(&[&[SEALED_VERSION], ephemeral.as_bytes(), &recipient, enc]);
        Self(buf, len)
    }

    fn as_slice(&self) -> &[u8] {
        self.0.get(..self.1).unwrap_or_default()
    }
}

fn ephemeral_keys(
    ephemeral: &PublicKey,
    recipient: &IdentityKey,
    shared: &[u8; 32],
) -> EnvelopeKeys {
    let (salt, _) = concat::<64>(&[ephemeral.as_bytes(), &recipient.to_bytes()]);
    let okm = hkdf_sha256::<64>(&salt, shared, LABEL_SEALED_EPHEMERAL);
    let (chain, identity_key) = okm.split_at(32);
    let mut keys = EnvelopeKeys {
        chain: Zeroizing::new([0; 32]),
        identity_key: Zeroizing::new([0; 32]),
    };
    keys.chain.copy_from_slice(chain);
    keys.identity_key.copy_from_slice(identity_key);
    keys
}

fn static_key(
    chain: &[u8; 32],
    encrypted_identity: &[u8; 48],
    shared: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    let salt = Zeroizing::new(concat::<80>(&[chain, encrypted_identity]).0);
    hkdf_sha256::<32>(salt.as_slice(), shared, LABEL_SEALED_STATIC)
}

/// AES-256-GCM with an all-zero nonce over `buf[start..]`, in place, appending the tag: every
/// key here is used for exactly one seal, because it is derived from a fresh ephemeral key.
fn seal_tail(
    key: &[u8; 32],
    aad: &[u8],
    buf: &mut Vec<u8>,
    start: usize,
) -> Result<(), SealedSenderError> {
    let body = buf.get_mut(start..).ok_or(DecodeError::TooLarge)?;
    let tag = crate::cipher::aes256gcm(key)
        .encrypt_inout_detached(&ZERO_NONCE.into(), aad, body.into())
        .map_err(|_| SealedSenderError::Decode(DecodeError::TooLarge))?;
    buf.extend_from_slice(&tag);
    Ok(())
}

fn open(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealedSenderError> {
    let split = sealed.len().checked_sub(16).ok_or(DecodeError::Truncated)?;
    let (body, tag) = sealed.split_at(split);
    let tag = Tag::try_from(tag).map_err(|_| DecodeError::Truncated)?;
    let mut out = Zeroizing::new(body.to_vec());
    crate::cipher::aes256gcm(key)
        .decrypt_inout_detached(&ZERO_NONCE.into(), aad, out.as_mut_slice().into(), &tag)
        .map_err(|_| SealedSenderError::DecryptionFailed)?;
    Ok(out)
}

/// Seals a session message (the output of [`Session::encrypt`], [`Session::send`] or
/// [`Session::set_timer`]) for `recipient`, with our certificate inside.
///
/// The payload `u16 len ‖ certificate ‖ u32 len ‖ message` is zero-padded to the Padmé bucket of its
/// length, so the envelope length hides the certificate and the exact message length.
///
/// # Errors
/// [`SealedSenderError::NonContributory`] (a low-order recipient key cannot occur for a parsed
/// identity, but is checked), [`SealedSenderError::Decode`] with `TooLarge`.
pub fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    sender: &IdentityKeyPair,
    certificate: &SenderCertificate,
    recipient: &IdentityKey,
    message: &[u8],
) -> Result<Vec<u8>, SealedSenderError> {
    if message.len() > MAX_SEALED_MESSAGE_LEN {
        return Err(SealedSenderError::TooLarge);
    }
    // The fields are public, so a certificate built by hand can have an address no decoder
    // accepts; refuse it here with the error issuing it would give (SPEC.md §12.1).
    match certificate.address.len() {
        0 => return Err(DecodeError::NonCanonical.into()),
        len if len > MAX_ADDRESS_LEN => return Err(DecodeError::TooLarge.into()),
        _ => {}
    }
    let cert_len = certificate.encoded_len();
    let cert_len_u16 = u16::try_from(cert_len).map_err(|_| DecodeError::TooLarge)?;
    let message_len = u32::try_from(message.len()).map_err(|_| DecodeError::TooLarge)?;
    let padded = padded_len(2 + cert_len + 4 + message.len());
    let ephemeral = KeyPair::generate(rng);
    let e_pub = ephemeral.public();
    let keys = ephemeral_keys(
        e_pub,
        recipient,
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
    let content_key = static_key(
        &keys.chain,
        &encrypted_identity,
        &*sender.dh(&recipient.x25519()?)?,
    );

    let payload_start = out.len();
    out.put_u16(cert_len_u16);
    certificate.encode(&mut out);
    out.put_u32(message_len);
    out.put(message);
    out.resize(payload_start + padded, 0);
    let content_aad = Aad::new(e_pub, recipient, Some(&encrypted_identity));
    seal_tail(
        &content_key,
        content_aad.as_slice(),
        &mut out,
        payload_start,
    )?;
    Ok(out)
}

/// The recipient's side of sealed sender: its identity and what it trusts.
///
/// ```
/// # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
/// use xchat_protocol::sealed_sender::seal;
/// use xchat_protocol::{CertificateKeyPair, IdentityKeyPair, PreKeyStore, SealedRecipient, Session};
/// # let mut rng = ChaCha20Rng::from_seed([3; 32]);
/// let now = 1_700_000_000_000;
/// // The operator: a trust root certifies a server, the server certifies Alice.
/// let root = CertificateKeyPair::generate(&mut rng);
/// let server = CertificateKeyPair::generate(&mut rng);
/// let server_cert = root.certify_server(1, &server.public());
/// let (alice, bob) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
/// let alice_cert = server.certify_sender(&server_cert, b"alice", 1, alice.public(), now + 86_400_000)?;
///
/// let mut bob_store = PreKeyStore::new();
/// bob_store.rotate_signed_prekey(&mut rng, &bob, now / 1000);
/// let mut to_bob = Session::initiate(&mut rng, &alice, &bob_store.bundle(&bob, None)?, b"")?;
/// let inner = to_bob.send(&mut rng, now, b"only the recipient is visible")?;
/// let envelope = seal(&mut rng, &alice, &alice_cert, bob.public(), &inner)?;
///
/// let roots = [root.public()];
/// let bob_view = SealedRecipient { identity: &bob, trust_roots: &roots, revoked_servers: &[] };
/// let opened = bob_view.open(&envelope, now)?;
/// assert_eq!(opened.sender().address, b"alice");
/// let (_session, delivered) = opened.respond(&bob, &mut bob_store, b"")?;
/// assert_eq!(delivered.received.body, b"only the recipient is visible");
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SealedRecipient<'a> {
    /// Our identity key pair (envelopes are sealed to it).
    pub identity: &'a IdentityKeyPair,
    /// The trust roots server certificates must chain to.
    pub trust_roots: &'a [CertificateKey],
    /// Revoked server ids.
    pub revoked_servers: &'a [u32],
}

/// An envelope that passed every check that needs no session. Its inner message is reachable
/// only through [`Opened::decrypt`] or [`Opened::respond`]; a call that fails (e.g. the wrong
/// session) can be retried with another.
#[derive(Debug)]
pub struct Opened {
    sender: SenderCertificate,
    /// The decrypted payload; the session message is `payload[message]` (not copied out).
    payload: Zeroizing<Vec<u8>>,
    message: core::ops::Range<usize>,
    now_ms: u64,
}

/// A message whose sender was verified end to end.
#[derive(Debug)]
pub struct Delivered {
    /// The verified sender certificate (address, device, identity).
    pub sender: SenderCertificate,
    /// The decrypted content, with its deadline.
    pub received: Received,
}

impl SealedRecipient<'_> {
    /// Opens an envelope at `now_ms` (SPEC.md §12.4): decrypts the sender's identity and the
    /// payload, validates the certificate chain, checks that the certificate's identity is the
    /// key that sealed the envelope and that it is not our own.
    ///
    /// # Errors
    /// Every [`SealedSenderError`] except `Session`.
    pub fn open(&self, envelope: &[u8], now_ms: u64) -> Result<Opened, SealedSenderError> {
        // Bounded before any DH or AEAD work: a relay cannot make us process more.
        if envelope.len() > MAX_ENVELOPE_LEN {
            return Err(DecodeError::TooLarge.into());
        }
        let mut r = Reader::new(envelope);
        r.version(SEALED_VERSION)?;
        let ephemeral = PublicKey::from_bytes(r.array()?)?;
        let encrypted_identity: [u8; 48] = r.array()?;
        let sealed = r.rest();
        if sealed.len() < 16 {
            return Err(DecodeError::Truncated.into());
        }
        let ours = self.identity.public();
        let keys = ephemeral_keys(&ephemeral, ours, &*self.identity.dh(&ephemeral)?);
        let identity_bytes = open(
            &keys.identity_key,
            Aad::new(&ephemeral, ours, None).as_slice(),
            &encrypted_identity,
        )?;
        let identity_bytes: [u8; 32] = identity_bytes
            .as_slice()
            .try_into()
            .map_err(|_| DecodeError::InvalidKey)?;
        let sender_key = IdentityKey::from_bytes(identity_bytes)?;
        let content_key = static_key(
            &keys.chain,
            &encrypted_identity,
            &*self.identity.dh(&sender_key.x25519()?)?,
        );
        let payload = open(
            &content_key,
            Aad::new(&ephemeral, ours, Some(&encrypted_identity)).as_slice(),
            sealed,
        )?;

        let mut p = Reader::new(&payload);
        let cert_len = usize::from(p.u16()?);
        let sender = SenderCertificate::from_bytes(p.take(cert_len)?)?;
        let message_len = usize::try_from(p.u32()?).map_err(|_| DecodeError::TooLarge)?;
        let message_start = 2 + cert_len + 4;
        p.take(message_len)?;
        let padding = p.rest();
        if payload.len() != padded_len(6 + cert_len + message_len)
            || padding.iter().any(|b| *b != 0)
        {
            return Err(DecodeError::NonCanonical.into());
        }

        sender.validate(self.trust_roots, self.revoked_servers, now_ms)?;
        if sender.identity != sender_key {
            return Err(SealedSenderError::SenderIdentityMismatch);
        }
        if &sender_key == ours {
            return Err(SealedSenderError::SelfSend);
        }
        Ok(Opened {
            sender,
            payload,
            message: message_start..message_start + message_len,
            now_ms,
        })
    }
}

impl Opened {
    fn message(&self) -> &[u8] {
        self.payload.get(self.message.clone()).unwrap_or_default()
    }

    /// The verified sender certificate: use its address and device id to find the session.
    pub fn sender(&self) -> &SenderCertificate {
        &self.sender
    }

    /// Whether the inner message is a prekey message. A prekey message is the first message of
    /// a session, or any later message from an initiator that has not heard back yet, so route
    /// by "do I have a session with this sender", not by this alone: try that session first
    /// with [`Opened::decrypt`]; use [`Opened::respond`] when there is none, or when `decrypt`
    /// returns `Session(SessionMismatch)` ([`SealedSenderError::Session`] with
    /// [`Error::SessionMismatch`]) for a prekey message (the peer started a new session).
    pub fn is_prekey_message(&self) -> bool {
        matches!(Incoming::decode(self.message()), Ok(Incoming::PreKey(_)))
    }

    /// Decrypts the inner message with the sender's existing session: the one call that decides
    /// who sent a message. The session's peer must be the certified identity.
    ///
    /// # Errors
    /// [`SealedSenderError::SenderIdentityMismatch`] (the session is not the certified sender's;
    /// the session is untouched), or [`SealedSenderError::Session`] with the session's error.
    pub fn decrypt(&self, session: &mut Session) -> Result<Delivered, SealedSenderError> {
        if session.remote_identity() != &self.sender.identity {
            return Err(SealedSenderError::SenderIdentityMismatch);
        }
        let received = session
            .receive(self.message(), self.now_ms)
            .map_err(SealedSenderError::Session)?;
        Ok(Delivered {
            sender: self.sender.clone(),
            received,
        })
    }

    /// Starts a session from a sealed prekey message. The prekey message's initiator identity
    /// must be the certified identity; this is checked before the prekey store is touched.
    ///
    /// # Errors
    /// [`SealedSenderError::SenderIdentityMismatch`], or [`SealedSenderError::Session`] with the
    /// error of [`Session::accept`].
    pub fn respond(
        &self,
        identity: &IdentityKeyPair,
        store: &mut PreKeyStore,
        context: &[u8],
    ) -> Result<(Session, Delivered), SealedSenderError> {
        let inner = Incoming::decode(self.message())
            .map_err(|e| SealedSenderError::Session(Error::Decode(e)))?;
        match inner {
            Incoming::PreKey(pkm) if pkm.identity == self.sender.identity => {}
            Incoming::PreKey(_) => return Err(SealedSenderError::SenderIdentityMismatch),
            Incoming::Message(_) => {
                return Err(SealedSenderError::Session(Error::NotPreKeyMessage));
            }
        }
        let (session, received) =
            Session::accept(identity, store, self.message(), context, self.now_ms)
                .map_err(SealedSenderError::Session)?;
        Ok((
            session,
            Delivered {
                sender: self.sender.clone(),
                received,
            },
        ))
    }
}
