//! §9: certificates, seal, validation, open.

use crate::codec::DecodeError::{self, NonCanonical, TooLarge, Truncated, UnknownVersion};
use crate::codec::Reader;
use crate::dr::{self, Error, Incoming, Received, Session, Store};
use crate::frame::pad;
use crate::prim::{self, Identity};

pub const LABEL_SERVER_CERTIFICATE: &[u8] = b"xchat-protocol v1 server certificate";
pub const LABEL_SENDER_CERTIFICATE: &[u8] = b"xchat-protocol v1 sender certificate";
pub const LABEL_SEALED_EPHEMERAL: &[u8] = b"xchat-protocol v1 sealed sender ephemeral";
pub const LABEL_SEALED_STATIC: &[u8] = b"xchat-protocol v1 sealed sender static";
pub const VERSION: u8 = 0x01;
pub const SERVER_CERTIFICATE_LEN: usize = 101;
pub const MAX_ADDRESS_LEN: usize = 255;
/// "the largest certificate, 466 bytes".
pub const MAX_SENDER_CERTIFICATE_LEN: usize = 1 + 1 + MAX_ADDRESS_LEN + 4 + 32 + 8 + 101 + 64;
/// §9.2: `m` is at most 2^20 + 1722 bytes.
pub const MAX_SEALED_MESSAGE_LEN: usize = (1 << 20) + 1722;

/// §9.4 step 0.
pub fn max_envelope_len() -> usize {
    81 + pad(6 + MAX_SENDER_CERTIFICATE_LEN + MAX_SEALED_MESSAGE_LEN) + 16
}

/// §11.3, spelled as the library's `Debug` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedError {
    Decode(DecodeError),
    DecryptionFailed,
    NonContributory,
    InvalidCertificate,
    RevokedServer,
    CertificateExpired,
    SenderIdentityMismatch,
    SelfSend,
    Session(Error),
    TooLarge,
}

impl From<DecodeError> for SealedError {
    fn from(e: DecodeError) -> Self {
        SealedError::Decode(e)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCert {
    pub id: u32,
    pub key: [u8; 32],
    pub signature: [u8; 64],
}

impl ServerCert {
    /// `LABEL_SERVER_CERTIFICATE ‖ id ‖ server key` (the version byte is not signed).
    pub fn signed_bytes(id: u32, key: &[u8; 32]) -> Vec<u8> {
        let mut out = LABEL_SERVER_CERTIFICATE.to_vec();
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(key);
        out
    }

    pub fn issue(root_seed: &[u8; 32], id: u32, key: [u8; 32]) -> ServerCert {
        ServerCert {
            id,
            key,
            signature: prim::ed_sign(root_seed, &Self::signed_bytes(id, &key)),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.signature);
        out
    }

    /// GUESS (§9.1 states strict decoding for the sender certificate): the server certificate
    /// decodes the same way, version first, key by §2 rule 4.
    pub fn read(r: &mut Reader<'_>) -> Result<ServerCert, DecodeError> {
        let v = r.u8()?;
        if v != VERSION {
            return Err(UnknownVersion(v));
        }
        Ok(ServerCert {
            id: r.u32()?,
            key: r.ed25519_key()?,
            signature: r.arr()?,
        })
    }

    pub fn decode(bytes: &[u8]) -> Result<ServerCert, DecodeError> {
        let mut r = Reader::new(bytes);
        let c = Self::read(&mut r)?;
        r.finish()?;
        Ok(c)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderCert {
    pub address: Vec<u8>,
    pub device_id: u32,
    pub identity: [u8; 32],
    pub expires_ms: u64,
    pub server: ServerCert,
    pub signature: [u8; 64],
}

impl SenderCert {
    /// Every byte before the signature.
    pub fn body(&self) -> Vec<u8> {
        let mut out = vec![VERSION, self.address.len() as u8];
        out.extend_from_slice(&self.address);
        out.extend_from_slice(&self.device_id.to_be_bytes());
        out.extend_from_slice(&self.identity);
        out.extend_from_slice(&self.expires_ms.to_be_bytes());
        out.extend_from_slice(&self.server.encode());
        out
    }

    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = LABEL_SENDER_CERTIFICATE.to_vec();
        out.extend_from_slice(&self.body());
        out
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&self.signature);
        out
    }

    /// GUESS (§9.1 only says the length is 1..=255): an address over 255 bytes is `TooLarge`.
    pub fn issue(
        server_seed: &[u8; 32],
        server: &ServerCert,
        address: &[u8],
        device_id: u32,
        identity: [u8; 32],
        expires_ms: u64,
    ) -> Result<SenderCert, DecodeError> {
        if address.is_empty() {
            return Err(NonCanonical);
        }
        if address.len() > MAX_ADDRESS_LEN {
            return Err(TooLarge);
        }
        let mut c = SenderCert {
            address: address.to_vec(),
            device_id,
            identity,
            expires_ms,
            server: server.clone(),
            signature: [0u8; 64],
        };
        c.signature = prim::ed_sign(server_seed, &c.signed_bytes());
        Ok(c)
    }

    /// §9.1 strict decoding, fields in order.
    pub fn decode(bytes: &[u8]) -> Result<SenderCert, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = r.u8()?;
        if v != VERSION {
            return Err(UnknownVersion(v));
        }
        let len = r.u8()?;
        if len == 0 {
            return Err(NonCanonical);
        }
        let address = r.take(usize::from(len))?.to_vec();
        let device_id = r.u32()?;
        let identity = r.ed25519_key()?;
        let expires_ms = r.u64()?;
        let server = ServerCert::read(&mut r)?;
        let signature = r.arr()?;
        r.finish()?;
        Ok(SenderCert {
            address,
            device_id,
            identity,
            expires_ms,
            server,
            signature,
        })
    }

    /// §9.3, steps 1–4 in order.
    pub fn validate(
        &self,
        roots: &[[u8; 32]],
        revoked: &[u32],
        now_ms: u64,
    ) -> Result<(), SealedError> {
        let server_signed = ServerCert::signed_bytes(self.server.id, &self.server.key);
        if !roots
            .iter()
            .any(|root| prim::verify_strict(root, &server_signed, &self.server.signature))
        {
            return Err(SealedError::InvalidCertificate);
        }
        if revoked.contains(&self.server.id) {
            return Err(SealedError::RevokedServer);
        }
        if !prim::verify_strict(&self.server.key, &self.signed_bytes(), &self.signature) {
            return Err(SealedError::InvalidCertificate);
        }
        if now_ms >= self.expires_ms {
            return Err(SealedError::CertificateExpired);
        }
        Ok(())
    }
}

/// Every intermediate value of §9.2, named as in sealed_sender.json.
#[derive(Clone, Debug)]
pub struct Trace {
    pub ephemeral_secret: [u8; 32],
    pub ephemeral_public: [u8; 32],
    pub ephemeral_dh: [u8; 32],
    pub ephemeral_salt: Vec<u8>,
    pub chain_key: Vec<u8>,
    pub identity_key: Vec<u8>,
    pub identity_aad: Vec<u8>,
    pub encrypted_identity: Vec<u8>,
    pub static_dh: [u8; 32],
    pub static_salt: Vec<u8>,
    pub content_key: Vec<u8>,
    pub payload: Vec<u8>,
    pub content_aad: Vec<u8>,
    pub encrypted_content: Vec<u8>,
    pub envelope: Vec<u8>,
}

/// `u16 len(cert) ‖ cert ‖ u32 len(m) ‖ m ‖ zeros to pad(6 + len(cert) + len(m))`.
pub fn payload(cert: &[u8], m: &[u8]) -> Vec<u8> {
    let mut p = (cert.len() as u16).to_be_bytes().to_vec();
    p.extend_from_slice(cert);
    p.extend_from_slice(&(m.len() as u32).to_be_bytes());
    p.extend_from_slice(m);
    p.resize(pad(6 + cert.len() + m.len()), 0);
    p
}

/// §9.2: `m` over 2^20 + 1722 bytes is `TooLarge`; the certificate is sealed as given (no
/// check that it names the sealing identity).
pub fn seal(
    sender: &Identity,
    cert: &[u8],
    recipient: &[u8; 32],
    m: &[u8],
    ephemeral_secret: [u8; 32],
) -> Result<Trace, SealedError> {
    if m.len() > MAX_SEALED_MESSAGE_LEN {
        return Err(SealedError::TooLarge);
    }
    seal_raw(
        &sender.x_secret,
        &sender.public,
        recipient,
        payload(cert, m),
        ephemeral_secret,
    )
}

/// §9.2 with the encrypted identity and the payload chosen by the caller (to build hostile
/// envelopes).
pub fn seal_raw(
    static_secret: &[u8; 32],
    claimed_identity: &[u8; 32],
    recipient: &[u8; 32],
    payload: Vec<u8>,
    ephemeral_secret: [u8; 32],
) -> Result<Trace, SealedError> {
    let ephemeral_public = prim::x25519_public(&ephemeral_secret);
    let recipient_x = prim::ed_to_x(recipient);
    let ephemeral_dh =
        prim::dh(&ephemeral_secret, &recipient_x).ok_or(SealedError::NonContributory)?;
    let mut ephemeral_salt = ephemeral_public.to_vec();
    ephemeral_salt.extend_from_slice(recipient);
    let okm1 = prim::hkdf(&ephemeral_salt, &ephemeral_dh, LABEL_SEALED_EPHEMERAL, 64);
    let (chain_key, identity_key) = (okm1[..32].to_vec(), okm1[32..].to_vec());
    let mut identity_aad = vec![VERSION];
    identity_aad.extend_from_slice(&ephemeral_public);
    identity_aad.extend_from_slice(recipient);
    let encrypted_identity =
        prim::aead_seal(&identity_key, &[0u8; 12], &identity_aad, claimed_identity);
    let static_dh = prim::dh(static_secret, &recipient_x).ok_or(SealedError::NonContributory)?;
    let mut static_salt = chain_key.clone();
    static_salt.extend_from_slice(&encrypted_identity);
    let content_key = prim::hkdf(&static_salt, &static_dh, LABEL_SEALED_STATIC, 32);
    let mut content_aad = identity_aad.clone();
    content_aad.extend_from_slice(&encrypted_identity);
    let encrypted_content = prim::aead_seal(&content_key, &[0u8; 12], &content_aad, &payload);
    let mut envelope = vec![VERSION];
    envelope.extend_from_slice(&ephemeral_public);
    envelope.extend_from_slice(&encrypted_identity);
    envelope.extend_from_slice(&encrypted_content);
    Ok(Trace {
        ephemeral_secret,
        ephemeral_public,
        ephemeral_dh,
        ephemeral_salt,
        chain_key,
        identity_key,
        identity_aad,
        encrypted_identity,
        static_dh,
        static_salt,
        content_key,
        payload,
        content_aad,
        encrypted_content,
        envelope,
    })
}

/// What `open` returns.
#[derive(Clone, Debug)]
pub struct Opened {
    pub sender: SenderCert,
    pub message: Vec<u8>,
    pub now_ms: u64,
}

impl Opened {
    /// GUESS (§9.4 does not define it): the inner message decodes (§5.4) as a prekey message.
    pub fn is_prekey_message(&self) -> bool {
        matches!(dr::decode_message(&self.message), Ok(Incoming::PreKey(..)))
    }
}

/// §9.4 step 4. GUESS: the certificate is decoded strictly from exactly its declared length
/// as soon as it has been read, before the message length; padding is checked last.
pub fn parse_payload(p: &[u8]) -> Result<(SenderCert, Vec<u8>), DecodeError> {
    let mut r = Reader::new(p);
    let cert_len = usize::from(r.u16()?);
    let cert = SenderCert::decode(r.take(cert_len)?)?;
    let m_len = r.u32()? as usize;
    let m = r.take(m_len)?.to_vec();
    let padding = r.rest();
    if p.len() != pad(6 + cert_len + m_len) || padding.iter().any(|&x| x != 0) {
        return Err(NonCanonical);
    }
    Ok((cert, m))
}

/// §9.4 steps 0–7.
pub fn open(
    recipient: &Identity,
    roots: &[[u8; 32]],
    revoked: &[u32],
    envelope: &[u8],
    now_ms: u64,
) -> Result<Opened, SealedError> {
    if envelope.len() > max_envelope_len() {
        return Err(SealedError::Decode(TooLarge));
    }
    let mut r = Reader::new(envelope);
    let v = r.u8()?;
    if v != VERSION {
        return Err(SealedError::Decode(UnknownVersion(v)));
    }
    let e_pub = r.x25519_key()?;
    let encrypted_identity = r.take(48)?;
    let encrypted_content = r.rest();
    if encrypted_content.len() < 16 {
        return Err(SealedError::Decode(Truncated));
    }
    let ephemeral_dh = prim::dh(&recipient.x_secret, &e_pub).ok_or(SealedError::NonContributory)?;
    let mut salt = e_pub.to_vec();
    salt.extend_from_slice(&recipient.public);
    let okm1 = prim::hkdf(&salt, &ephemeral_dh, LABEL_SEALED_EPHEMERAL, 64);
    let mut aad = vec![VERSION];
    aad.extend_from_slice(&e_pub);
    aad.extend_from_slice(&recipient.public);
    let ik_s_bytes = prim::aead_open(&okm1[32..], &[0u8; 12], &aad, encrypted_identity)
        .ok_or(SealedError::DecryptionFailed)?;
    let ik_s = Reader::new(&ik_s_bytes).ed25519_key()?;
    let static_dh =
        prim::dh(&recipient.x_secret, &prim::ed_to_x(&ik_s)).ok_or(SealedError::NonContributory)?;
    let mut static_salt = okm1[..32].to_vec();
    static_salt.extend_from_slice(encrypted_identity);
    let content_key = prim::hkdf(&static_salt, &static_dh, LABEL_SEALED_STATIC, 32);
    aad.extend_from_slice(encrypted_identity);
    let payload = prim::aead_open(&content_key, &[0u8; 12], &aad, encrypted_content)
        .ok_or(SealedError::DecryptionFailed)?;
    let (sender, message) = parse_payload(&payload)?;
    sender.validate(roots, revoked, now_ms)?;
    if sender.identity != ik_s {
        return Err(SealedError::SenderIdentityMismatch);
    }
    if ik_s == recipient.public {
        return Err(SealedError::SelfSend);
    }
    Ok(Opened {
        sender,
        message,
        now_ms,
    })
}

/// `Opened::decrypt`: the identity check, then `receive` at the `now` given to `open`.
pub fn decrypt(o: &Opened, session: &mut Session) -> Result<Received, SealedError> {
    if session.remote != o.sender.identity {
        return Err(SealedError::SenderIdentityMismatch);
    }
    session
        .receive(&o.message, o.now_ms)
        .map_err(SealedError::Session)
}

/// `Opened::respond`. GUESS: the inner message is decoded completely first
/// (`Session(Decode(e))`), then its type (`Session(NotPreKeyMessage)`), then `IK_A`.
pub fn respond(
    o: &Opened,
    identity: &Identity,
    store: &mut Store,
    context: &[u8],
) -> Result<(Session, Received), SealedError> {
    let fields = match dr::decode_message(&o.message) {
        Err(e) => return Err(SealedError::Session(Error::Decode(e))),
        Ok(Incoming::Normal(_)) => return Err(SealedError::Session(Error::NotPreKeyMessage)),
        Ok(Incoming::PreKey(f, _)) => f,
    };
    if fields.ik_a != o.sender.identity {
        return Err(SealedError::SenderIdentityMismatch);
    }
    Session::accept(identity, store, &o.message, context, o.now_ms).map_err(SealedError::Session)
}
