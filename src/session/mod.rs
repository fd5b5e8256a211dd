//! Sessions: X3DH and the Double Ratchet as one object (Double Ratchet spec §5.1; SPEC.md §7).
//!
//! The initiator's messages are prekey messages until the first message from the responder
//! decrypts; from then on they are normal messages. A failed `decrypt` leaves the session exactly
//! as it was.

use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;

use crate::codec::Writer;
use crate::content::Timer;
use crate::error::Error;
use crate::kdf::FIRST_MESSAGE_ID_LEN;
use crate::keys::{IdentityKey, IdentityKeyPair};
use crate::prekeys::{KemUse, PreKeyBundle, PreKeyStore};
use crate::ratchet::{self, Limits, Ratchet};
use crate::wire::{Incoming, PreKeyFields};
use crate::x3dh;

mod config;
mod content;
mod state;

pub use crate::content::{Receipt, Received};
pub use config::{Config, Handshake, Role, Trust};

/// The longest application context (e.g. both account ids) bound into every message.
pub const MAX_CONTEXT_LEN: usize = 1024;
// The longest associated data a session builds (two identity keys, a length, the context and a
// prekey message's fields, SPEC.md §3.5) fits what the ratchet accepts.
const _: () = assert!(32 + 32 + 2 + MAX_CONTEXT_LEN + PreKeyFields::MAX_LEN <= ratchet::MAX_AD_LEN);
// A content frame is one message's plaintext.
const _: () = assert!(crate::content::MAX_FRAME_LEN == crate::wire::MAX_PLAINTEXT_LEN);

/// An end-to-end encrypted session with one peer device.
///
/// ```
/// # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
/// use xchat_protocol::{Config, Trust, IdentityKeyPair, PreKeyStore, Session};
/// # let mut rng = ChaCha20Rng::from_seed([1; 32]);
/// let alice = IdentityKeyPair::generate(&mut rng);
/// let bob = IdentityKeyPair::generate(&mut rng);
/// let mut bob_store = PreKeyStore::new();
/// bob_store.rotate_signed_prekey(&mut rng, &bob, 1_700_000_000_000);
/// bob_store.rotate_kem_prekey(&mut rng, &bob, 1_700_000_000_000); // post-quantum (PQXDH)
/// let otpk = bob_store.generate_one_time_prekeys(&mut rng, 1)?[0];
/// let bundle = bob_store.bundle(&bob, Some(otpk.id))?; // what the server hands Alice
///
/// let mut to_bob = Session::initiate(&mut rng, &alice, &bundle, Trust::FirstUse, &Config::new(b"alice|bob"))?;
/// let wire = to_bob.encrypt(&mut rng, b"hi Bob")?;
///
/// let (mut to_alice, plaintext) = Session::respond(&bob, &mut bob_store, &wire, &Config::new(b"alice|bob"))?;
/// assert_eq!(plaintext, b"hi Bob");
/// assert_eq!(to_alice.remote_identity(), alice.public());
///
/// let reply = to_alice.encrypt(&mut rng, b"hi Alice")?;
/// assert_eq!(to_bob.decrypt(&reply)?, b"hi Alice");
/// # Ok::<(), xchat_protocol::Error>(())
/// ```
pub struct Session {
    /// With the ratchet's phase, the session's phase (SPEC.md §10.3): an initiator whose ratchet
    /// has received nothing awaits a reply and sends prekey messages; once it is open the
    /// initiator is acknowledged. A responder's ratchet is open from its creation.
    role: Role,
    local_identity: IdentityKey,
    remote_identity: IdentityKey,
    context: Vec<u8>,
    /// `IK_initiator ‖ IK_responder ‖ u16 len ‖ context`, computed once (SPEC.md §3.5).
    ad: Vec<u8>,
    /// `ad ‖ prekey fields`: the associated data of prekey messages, which binds every field a
    /// first message carries before its embedded message (SPEC.md §3.5).
    prekey_ad: Vec<u8>,
    /// The X3DH fields of the prekey messages of this session.
    x3dh: PreKeyFields,
    /// The conversation's disappearing-message timer as this session knows it (SPEC.md §8.4).
    timer: Timer,
    ratchet: Ratchet,
}

/// The session's phase byte in its state encoding (SPEC.md §10.3).
const PHASE_AWAITING_REPLY: u8 = 0;
const PHASE_ACKNOWLEDGED: u8 = 1;
const PHASE_RESPONDER: u8 = 2;

/// What a successful first message takes from the prekey store (SPEC.md §4.3).
struct Consumed {
    signed_prekey_id: u32,
    one_time_prekey_id: Option<u32>,
    kem_one_time_prekey_id: Option<u32>,
    first_message_id: Option<[u8; FIRST_MESSAGE_ID_LEN]>,
}

impl Consumed {
    fn apply(self, store: &mut PreKeyStore) {
        if let Some(id) = self.one_time_prekey_id {
            store.remove_one_time_prekey(id);
        }
        if let Some(id) = self.kem_one_time_prekey_id {
            store.remove_kem_one_time_prekey(id);
        }
        if let Some(id) = self.first_message_id {
            store.remember_first_message(self.signed_prekey_id, id);
        }
    }
}

pub(crate) fn associated_data(
    initiator: &IdentityKey,
    responder: &IdentityKey,
    context: &[u8],
) -> Result<Vec<u8>, Error> {
    let len = u16::try_from(context.len()).map_err(|_| Error::TooLarge)?;
    if context.len() > MAX_CONTEXT_LEN {
        return Err(Error::TooLarge);
    }
    let mut ad = Vec::with_capacity(66 + context.len());
    ad.put(&initiator.to_bytes());
    ad.put(&responder.to_bytes());
    ad.put_u16(len);
    ad.put(context);
    Ok(ad)
}

/// `ad ‖ prekey fields` (SPEC.md §3.5).
pub(crate) fn prekey_associated_data(ad: &[u8], fields: &PreKeyFields) -> Vec<u8> {
    let mut out = Vec::with_capacity(ad.len() + PreKeyFields::MAX_LEN);
    out.put(ad);
    fields.encode(&mut out);
    out
}

impl Session {
    /// Starts a session from the peer's bundle (X3DH as initiator). The bundle's signed prekey
    /// signature is checked with `verify_strict`; `context` is bound into every message and must
    /// be the same bytes the responder passes.
    ///
    /// # Errors
    /// [`Error::UntrustedIdentity`], [`Error::ClassicalHandshake`] (a bundle without a KEM prekey,
    /// unless the config allows it), [`Error::InvalidLimits`], [`Error::TooLarge`] (context),
    /// [`Error::InvalidSignature`] (the signed prekey's or the KEM prekey's), [`Error::Decode`]
    /// (a one-time prekey outside the prime-order subgroup), [`Error::NonContributory`].
    pub fn initiate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        identity: &IdentityKeyPair,
        bundle: &PreKeyBundle,
        trust: Trust<'_>,
        config: &Config<'_>,
    ) -> Result<Self, Error> {
        if let Trust::Pinned(pinned) = trust
            && *pinned != bundle.identity
        {
            return Err(Error::UntrustedIdentity);
        }
        let Config {
            context,
            limits,
            allow_classical,
        } = *config;
        if bundle.kem_prekey.is_none() && !allow_classical {
            return Err(Error::ClassicalHandshake);
        }
        limits.validate()?;
        let ad = associated_data(identity.public(), &bundle.identity, context)?;
        let agreed = x3dh::initiate(rng, identity, bundle)?;
        let ratchet = Ratchet::initiator(rng, agreed.secret, &bundle.signed_prekey.key, limits)?;
        let x3dh = PreKeyFields {
            identity: *identity.public(),
            base_key: agreed.base_key,
            signed_prekey_id: bundle.signed_prekey.id,
            one_time_prekey_id: bundle.one_time_prekey.map(|k| k.id),
            kem: agreed.kem,
        };
        Ok(Self {
            role: Role::Initiator,
            local_identity: *identity.public(),
            remote_identity: bundle.identity,
            context: context.to_vec(),
            prekey_ad: prekey_associated_data(&ad, &x3dh),
            ad,
            x3dh,
            timer: Timer::OFF,
            ratchet,
        })
    }

    /// Answers a prekey message (PQXDH, or X3DH if the config allows it, as responder) and
    /// decrypts it.
    ///
    /// One-time keys (X25519 and KEM) are removed from `store` only after the message has
    /// authenticated, so a forged prekey message cannot burn them. A replay of a first message is
    /// rejected: its one-time key is gone, or, without one, the signed prekey remembers its
    /// first-message id (SPEC.md §3.6, §4.3).
    ///
    /// The caller decides whether to trust [`Session::remote_identity`]. A later prekey message of
    /// a session you already hold goes to [`Session::decrypt`], not here.
    ///
    /// Low-level (feature `hazmat`): the plaintext is returned raw. Messengers use
    /// [`Session::accept`], which also reads the content frame.
    ///
    /// # Errors
    /// [`Error::InvalidLimits`], [`Error::Decode`], [`Error::NotPreKeyMessage`],
    /// [`Error::ClassicalHandshake`], [`Error::UnknownSignedPreKey`],
    /// [`Error::UnknownOneTimePreKey`], [`Error::UnknownKemPreKey`], [`Error::NonContributory`],
    /// [`Error::DuplicateMessage`], [`Error::SignedPreKeyFull`], [`Error::TooLarge`] (context),
    /// [`Error::DecryptionFailed`], and the limits errors of `decrypt`. Nothing changes on any of
    /// them.
    #[cfg(feature = "hazmat")]
    pub fn respond(
        identity: &IdentityKeyPair,
        store: &mut PreKeyStore,
        message: &[u8],
        config: &Config<'_>,
    ) -> Result<(Self, Vec<u8>), Error> {
        let (session, plaintext, consumed) =
            Self::respond_inner(identity, store, message, config, u64::MAX)?;
        consumed.apply(store);
        Ok((session, plaintext))
    }

    /// X3DH as responder and the first decrypt, *without* touching the store: the caller
    /// applies the returned [`Consumed`] once it accepts the message (SPEC.md §7.3 step 8).
    fn respond_inner(
        identity: &IdentityKeyPair,
        store: &PreKeyStore,
        message: &[u8],
        config: &Config<'_>,
        now_ms: u64,
    ) -> Result<(Self, Vec<u8>, Consumed), Error> {
        let Config {
            context,
            limits,
            allow_classical,
        } = *config;
        limits.validate()?;
        let Incoming::PreKey(pkm) = Incoming::decode(message)? else {
            return Err(Error::NotPreKeyMessage);
        };
        if pkm.kem.is_none() && !allow_classical {
            return Err(Error::ClassicalHandshake);
        }
        let signed = store.signed_prekey(pkm.signed_prekey_id)?;
        let one_time = pkm
            .one_time_prekey_id
            .map(|id| store.one_time_prekey(id).map(|k| (id, k)))
            .transpose()?;
        // The KEM prekey is expanded from its seed here, for this one decapsulation.
        let kem = pkm
            .kem
            .map(|k| {
                store
                    .kem_prekey(k.usage, k.id)
                    .map(|held| (held.key_pair(), k))
            })
            .transpose()?;
        let agreed = x3dh::respond(
            identity,
            (pkm.signed_prekey_id, signed.key_pair()),
            one_time,
            kem.as_ref().map(|(pair, fields)| (pair, *fields)),
            &pkm.identity,
            &pkm.base_key,
        )?;
        // Without a one-time prekey, the signed prekey's record of accepted first messages is
        // the replay protection; it is keyed by a value no re-encoding of the base key changes.
        if let Some(id) = &agreed.first_message_id {
            signed.check_first_message(id)?;
        }
        let ad = associated_data(&pkm.identity, identity.public(), context)?;
        let x3dh = pkm.fields();
        let prekey_ad = prekey_associated_data(&ad, &x3dh);
        // The signed prekey is the first ratchet key; the ratchet uses it for this one receiving
        // step and keeps no copy of its secret.
        let (ratchet, plaintext) = Ratchet::responder(
            agreed.secret,
            signed.key_pair(),
            limits,
            &prekey_ad,
            &pkm.message,
            now_ms,
        )?;
        let session = Self {
            role: Role::Responder,
            local_identity: *identity.public(),
            remote_identity: pkm.identity,
            context: context.to_vec(),
            prekey_ad,
            ad,
            x3dh,
            timer: Timer::OFF,
            ratchet,
        };
        let consumed = Consumed {
            signed_prekey_id: pkm.signed_prekey_id,
            one_time_prekey_id: pkm.one_time_prekey_id,
            kem_one_time_prekey_id: pkm.kem.filter(|k| k.usage == KemUse::OneTime).map(|k| k.id),
            first_message_id: agreed.first_message_id,
        };
        Ok((session, plaintext, consumed))
    }

    /// Encrypts `plaintext` into wire bytes: a prekey message while the initiator has not yet
    /// heard back, a normal message otherwise.
    ///
    /// Low-level (feature `hazmat`): the plaintext travels without a content frame, padding or
    /// timer. Messengers use [`Session::send`].
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::ChainExhausted`], [`Error::NonContributory`].
    #[cfg(feature = "hazmat")]
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.encrypt_inner(rng, plaintext)
    }

    fn encrypt_inner<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let ad = if !self.ratchet.is_open() {
            out.reserve(PreKeyFields::MAX_LEN);
            self.x3dh.encode(&mut out);
            &self.prekey_ad
        } else {
            &self.ad
        };
        self.ratchet.encrypt(rng, ad, plaintext, &mut out)?;
        Ok(out)
    }

    /// Decrypts a message from the peer (normal, or a prekey message of this session).
    ///
    /// Low-level (feature `hazmat`): the plaintext is returned raw, with no clock for the
    /// skipped keys it stores. Messengers use [`Session::receive`].
    ///
    /// # Errors
    /// [`Error::Decode`], [`Error::SessionMismatch`], [`Error::DuplicateMessage`],
    /// [`Error::TooFarInFuture`], [`Error::NonContributory`], [`Error::DecryptionFailed`].
    /// On any error the session is unchanged.
    #[cfg(feature = "hazmat")]
    pub fn decrypt(&mut self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.decrypt_inner(message, u64::MAX)
    }

    /// `now_ms` is when keys this message skips are recorded as skipped (`u64::MAX`: no clock).
    fn decrypt_inner(&mut self, message: &[u8], now_ms: u64) -> Result<Vec<u8>, Error> {
        let incoming = Incoming::decode(message)?;
        let ad = match &incoming {
            // Only the responder receives prekey messages, and only those of its own X3DH run
            // (compared as bytes here; authenticated by `prekey_ad`).
            Incoming::PreKey(pkm) if self.role == Role::Responder && self.x3dh.matches(pkm) => {
                &self.prekey_ad
            }
            Incoming::PreKey(_) => return Err(Error::SessionMismatch),
            Incoming::Message(_) => &self.ad,
        };
        self.ratchet.decrypt(ad, incoming.message(), now_ms)
    }

    /// Replaces the session's limits (they are persisted with it). Stored skipped keys and old
    /// chains beyond the new limits are dropped at once.
    ///
    /// # Errors
    /// [`Error::InvalidLimits`].
    pub fn set_limits(&mut self, limits: Limits) -> Result<(), Error> {
        limits.validate()?;
        self.ratchet.set_limits(limits);
        Ok(())
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.ratchet.limits()
    }

    /// Which side of X3DH this session was.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's identity key. Compare it with the identity you expect before trusting the
    /// session.
    pub fn remote_identity(&self) -> &IdentityKey {
        &self.remote_identity
    }

    /// Checks the peer's identity against the one the application trusts for this peer (from a
    /// verified safety number, or trust on first use).
    ///
    /// # Errors
    /// [`Error::UntrustedIdentity`] if they differ: the peer's identity changed, or someone
    /// (the server) substituted a key. Do not send on this session until the user decides.
    pub fn check_remote_identity(&self, trusted: &IdentityKey) -> Result<(), Error> {
        if &self.remote_identity == trusted {
            Ok(())
        } else {
            Err(Error::UntrustedIdentity)
        }
    }

    /// Our identity key.
    pub fn local_identity(&self) -> &IdentityKey {
        &self.local_identity
    }

    /// The application context bound into every message.
    pub fn context(&self) -> &[u8] {
        &self.context
    }

    /// Which key agreement started this session: [`Handshake::Pqxdh`] when the bundle (or the
    /// first message) carried a KEM prekey.
    pub fn handshake(&self) -> Handshake {
        if self.x3dh.kem.is_some() {
            Handshake::Pqxdh
        } else {
            Handshake::X3dh
        }
    }

    /// Whether PQXDH used a one-time KEM prekey (SPEC.md §4.5). Like a one-time prekey, it is
    /// deleted once the first message authenticates, so that a later theft of the responder's
    /// keys cannot open the first message.
    pub fn used_one_time_kem_prekey(&self) -> bool {
        self.x3dh
            .kem
            .as_ref()
            .is_some_and(|k| k.usage == KemUse::OneTime)
    }

    /// Whether X3DH used a one-time prekey. Without one, a later theft of the responder's
    /// identity and signed prekey keys reveals this session's first secret (X3DH spec §4.4).
    pub fn used_one_time_prekey(&self) -> bool {
        self.x3dh.one_time_prekey_id.is_some()
    }

    /// Whether the initiator has heard back (after which it sends normal messages). Always true
    /// for the responder.
    pub fn is_acknowledged(&self) -> bool {
        self.ratchet.is_open()
    }

    /// How many skipped message keys the session holds.
    pub fn skipped_key_count(&self) -> usize {
        self.ratchet.skipped_len()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("remote_identity", &self.remote_identity)
            .field("acknowledged", &self.is_acknowledged())
            .field("skipped_keys", &self.ratchet.skipped_len())
            .finish_non_exhaustive()
    }
}
