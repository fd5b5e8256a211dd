//! Trust roots, server certificates and sender certificates (SPEC.md §9.1).

use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{MAX_ADDRESS_LEN, SEALED_VERSION, SERVER_CERTIFICATE_LEN, SealedSenderError};
use crate::codec::{Reader, Writer};
use crate::error::DecodeError;
use crate::kdf::{LABEL_SENDER_CERTIFICATE, LABEL_SERVER_CERTIFICATE};
use crate::keys::{IdentityKey, hex, parse_ed25519, verify_strict};

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
        cert.signature = self.0.sign(&cert.signed_bytes()?).to_bytes();
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

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
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
    /// The fields are public, so an address no decoder accepts can be built by hand: encoding it
    /// is [`DecodeError::TooLarge`] (longer than 255 bytes), never a silently shortened length.
    fn encode_unsigned(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let len = u8::try_from(self.address.len()).map_err(|_| DecodeError::TooLarge)?;
        out.put_u8(SEALED_VERSION);
        out.put_u8(len);
        out.put(&self.address);
        out.put_u32(self.device_id);
        out.put(&self.identity.to_bytes());
        out.put_u64(self.expires_ms);
        self.server.encode(out);
        Ok(())
    }

    fn signed_bytes(&self) -> Result<Vec<u8>, DecodeError> {
        let mut m = Vec::with_capacity(LABEL_SENDER_CERTIFICATE.len() + 160 + self.address.len());
        m.put(LABEL_SENDER_CERTIFICATE);
        self.encode_unsigned(&mut m)?;
        Ok(m)
    }

    pub(super) fn encoded_len(&self) -> usize {
        1 + 1 + self.address.len() + 4 + 32 + 8 + SERVER_CERTIFICATE_LEN + 64
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.encode_unsigned(out)?;
        out.put(&self.signature);
        Ok(())
    }

    /// Encodes the certificate.
    ///
    /// # Errors
    /// [`DecodeError::TooLarge`] for an address longer than 255 bytes (possible only in a
    /// certificate built by hand; no decoder accepts it).
    pub fn to_bytes(&self) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out)?;
        Ok(out)
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

    /// Validates the chain at `now_ms` (SPEC.md §9.3), in this order: the server certificate
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
        verify_strict(&self.server.key.0, &self.signed_bytes()?, &self.signature)
            .map_err(|_| SealedSenderError::InvalidCertificate)?;
        if now_ms >= self.expires_ms {
            return Err(SealedSenderError::CertificateExpired);
        }
        Ok(())
    }
}
