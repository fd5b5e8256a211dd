//! The recipient's side (SPEC.md §9.4): open an envelope, check the certificate chain and the
//! sender's identity, then hand the inner message to the sender's session — the only way to reach
//! it, so that no check can be skipped.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use super::envelope::{Aad, open, read_payload};
use super::multi::OpenedGroup;
use super::{
    CertificateKey, MAX_ENVELOPE_LEN, SEALED_VERSION, SealedSenderError, SenderCertificate,
};
use crate::codec::Reader;
use crate::error::{DecodeError, Error};
use crate::kdf;
use crate::keys::{IdentityKey, IdentityKeyPair, PublicKey};
use crate::prekeys::PreKeyStore;
use crate::session::{Config, Receipt, Session};
use crate::wire::Incoming;

/// The recipient's side of sealed sender: its identity and what it trusts.
///
/// ```
/// # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
/// use xchat_protocol::sealed_sender::seal;
/// use xchat_protocol::{Config, Trust, CertificateKeyPair, IdentityKeyPair, PreKeyStore, SealedRecipient, Session};
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
/// bob_store.rotate_signed_prekey(&mut rng, &bob, now);
/// bob_store.rotate_kem_prekey(&mut rng, &bob, now);
/// let mut to_bob = Session::initiate(&mut rng, &alice, &bob_store.bundle(&bob, None)?, Trust::FirstUse, &Config::new(b""))?;
/// let inner = to_bob.send(&mut rng, now, b"only the recipient is visible")?;
/// let envelope = seal(&mut rng, &alice, &alice_cert, &to_bob, &inner)?;
///
/// let roots = [root.public()];
/// let bob_view = SealedRecipient { identity: &bob, trust_roots: &roots, revoked_servers: &[] };
/// let opened = bob_view.open(&envelope, now)?;
/// assert_eq!(opened.sender().address, b"alice");
/// let (_session, delivered) = opened.respond(&bob, &mut bob_store, &Config::new(b""))?;
/// assert_eq!(
///     delivered.receipt.message().map(|m| m.body.as_slice()),
///     Some(&b"only the recipient is visible"[..])
/// );
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
    /// What the session did with the message: deliver it with its deadline, or drop it as
    /// expired or unreadable (the session changed either way).
    pub receipt: Receipt,
}

impl SealedRecipient<'_> {
    /// Opens an envelope at `now_ms` (SPEC.md §9.4): decrypts the sender's identity and the
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
        let keys = kdf::sealed_ephemeral(
            ephemeral.as_bytes(),
            ours.as_bytes(),
            &*self.identity.dh(&ephemeral)?,
        );
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
        let content_key = kdf::sealed_static(
            &keys.chain,
            &encrypted_identity,
            &*self.identity.dh(&sender_key.x25519()?)?,
        );
        let payload = open(
            &content_key,
            Aad::new(&ephemeral, ours, Some(&encrypted_identity)).as_slice(),
            sealed,
        )?;

        let (sender, message) = read_payload(&payload)?;

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
            message,
            now_ms,
        })
    }
}

impl SealedRecipient<'_> {
    /// Opens a multi-recipient envelope (SPEC.md §9.5) at `now_ms`: unwraps its message key,
    /// decrypts the payload, validates the certificate chain and refuses our own. Its group
    /// message is reachable through [`OpenedGroup::receive`], which makes the group check that
    /// the certified identity signed it.
    ///
    /// # Errors
    /// Every [`SealedSenderError`] except `Session`, `Group` and `SenderIdentityMismatch`.
    pub fn open_group(
        &self,
        envelope: &[u8],
        now_ms: u64,
    ) -> Result<OpenedGroup, SealedSenderError> {
        super::multi::open_group(
            self.identity,
            self.trust_roots,
            self.revoked_servers,
            envelope,
            now_ms,
        )
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
        let receipt = session
            .receive(self.message(), self.now_ms)
            .map_err(SealedSenderError::Session)?;
        Ok(Delivered {
            sender: self.sender.clone(),
            receipt,
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
        config: &Config<'_>,
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
            Session::accept(identity, store, self.message(), config, self.now_ms)
                .map_err(SealedSenderError::Session)?;
        Ok((
            session,
            Delivered {
                sender: self.sender.clone(),
                receipt: Receipt::Message(received),
            },
        ))
    }
}
