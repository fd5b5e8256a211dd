//! Sessions: X3DH and the Double Ratchet as one object (Double Ratchet spec §5.1; SPEC.md §7).
//!
//! The initiator's messages are prekey messages until the first message from the responder
//! decrypts; from then on they are normal messages. A failed `decrypt` leaves the session exactly
//! as it was.

use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;

use crate::codec::{Codec, Reader, Writer};
use crate::content::{
    Content, ContentKind, Deadline, MAX_CLOCK_SKEW_MS, Timer, TimerStart, padded_frame,
};
use crate::error::{DecodeError, Error};
use crate::kdf::FIRST_MESSAGE_ID_LEN;
use crate::kem::KEM_CIPHERTEXT_LEN;
use crate::keys::{IdentityKey, IdentityKeyPair, PublicKey};
use crate::prekeys::{KemUse, PreKeyBundle, PreKeyStore};
use crate::ratchet::{self, Limits, Ratchet};
use crate::wire::{Incoming, PreKeyFields};
use crate::x3dh;

/// The longest application context (e.g. both account ids) bound into every message.
pub const MAX_CONTEXT_LEN: usize = 1024;
// The longest associated data a session builds (two identity keys, a length, the context and a
// prekey message's fields, SPEC.md §3.5) fits what the ratchet accepts.
const _: () = assert!(32 + 32 + 2 + MAX_CONTEXT_LEN + PreKeyFields::MAX_LEN <= ratchet::MAX_AD_LEN);
// A content frame is one message's plaintext.
const _: () = assert!(crate::content::MAX_FRAME_LEN == crate::wire::MAX_PLAINTEXT_LEN);

/// How a session is set up, the same value for [`Session::initiate`], [`Session::respond`] and
/// [`Session::accept`]: the application context bound into every message (SPEC.md §3.5; both
/// sides must pass the same bytes, e.g. both account ids), the limits on what the peer can make
/// the session store (§6.4), in force from the first message, and whether a classical (X3DH)
/// session may be started at all (§4.5).
///
/// ```
/// use xchat_protocol::{Config, Limits};
/// let config = Config::new(b"alice@example|bob@example")
///     .with_limits(Limits { max_skip: 500, ..Limits::DEFAULT });
/// assert_eq!(config.limits.max_skip, 500);
/// assert!(!config.allow_classical); // PQXDH only, unless the application opts in
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config<'a> {
    /// At most [`MAX_CONTEXT_LEN`] bytes.
    pub context: &'a [u8],
    /// Checked by [`Limits::validate`] when the session is created.
    pub limits: Limits,
    /// Whether a new session may use X3DH, which a future quantum computer breaks: a bundle
    /// without a KEM prekey ([`Session::initiate`]) or a version `0x01` first message
    /// ([`Session::respond`], [`Session::accept`]). `false` by default: such a bundle or message
    /// is [`Error::ClassicalHandshake`], so that no server or relay can silently downgrade a
    /// session. With the opt-in, a server can strip a bundle's KEM prekey and get a classical
    /// session (a first message cannot be downgraded either way): opt in only for peers known not
    /// to have upgraded, remember per peer once it has ([`Session::handshake`] tells which
    /// handshake a session used), and refuse classical sessions with it from then on.
    pub allow_classical: bool,
}

impl<'a> Config<'a> {
    /// The context, with the default limits, post-quantum sessions only.
    pub const fn new(context: &'a [u8]) -> Self {
        Self {
            context,
            limits: Limits::DEFAULT,
            allow_classical: false,
        }
    }

    /// The same with other limits.
    #[must_use]
    pub const fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// The same, also accepting classical (X3DH) sessions: an explicit opt-in for peers whose
    /// bundles carry no KEM prekey.
    #[must_use]
    pub const fn allow_classical(self) -> Self {
        Self {
            allow_classical: true,
            ..self
        }
    }
}

impl Default for Config<'_> {
    /// An empty context and the default limits.
    fn default() -> Self {
        Self::new(&[])
    }
}

/// The application's trust decision about the peer's identity, made before a session starts from
/// its bundle (the server hands out bundles, so it could hand out someone else's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust<'a> {
    /// The identity the application already trusts for this peer (a verified safety number, or
    /// the one first seen): a bundle with any other is refused with
    /// [`Error::UntrustedIdentity`] before any key is drawn.
    Pinned(&'a IdentityKey),
    /// No identity is known for this peer yet: the bundle's is accepted. Pin
    /// [`Session::remote_identity`] afterwards (trust on first use).
    FirstUse,
}

/// Which key agreement started a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// Classical X3DH: a recorded conversation is open to a future quantum computer that
    /// breaks X25519.
    X3dh,
    /// PQXDH: X3DH plus an ML-KEM-1024 encapsulation (SPEC.md §4.5).
    Pqxdh,
}

/// Which side of X3DH this session was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Started the session from a bundle.
    Initiator,
    /// Answered a prekey message.
    Responder,
}

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

/// What [`Session::receive`] did with an authentic message (SPEC.md §8.5). Every variant means
/// the session changed — the message key is consumed, so save the session — and none can be
/// received again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// A message or timer update to deliver, with its deadline.
    Message(Received),
    /// The message had expired before it arrived: show nothing. A newer timer it carried was
    /// applied (`timer_changed`: tell the user, as for a timer update).
    Expired {
        /// Whether the message changed the session's timer.
        timer_changed: bool,
    },
    /// The message authenticated but its content frame does not parse (a bug of the peer's
    /// client, never a network error): nothing to show.
    Unreadable(DecodeError),
}

impl Receipt {
    /// The message, if this receipt delivers one.
    pub fn message(&self) -> Option<&Received> {
        match self {
            Self::Message(received) => Some(received),
            _ => None,
        }
    }

    /// The message, if this receipt delivers one, by value.
    pub fn into_message(self) -> Option<Received> {
        match self {
            Self::Message(received) => Some(received),
            _ => None,
        }
    }
}

/// A message received through [`Session::receive`]: its content frame, and when to delete it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// What the frame carried.
    pub kind: ContentKind,
    /// The application's bytes (empty for a timer update).
    pub body: Vec<u8>,
    /// The sender's clock when it sent the message (ms since the Unix epoch).
    pub sent_at_ms: u64,
    /// The timer the sender applied to this message.
    pub timer: Timer,
    /// When to delete the message: from the more private of [`Received::timer`] and the
    /// session's timer after this message (SPEC.md §8.5).
    pub deadline: Deadline,
    /// Whether this message changed the session's timer (it carried a newer one).
    pub timer_changed: bool,
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

    /// Sends an application message inside a padded content frame stamped with `now_ms` and the
    /// session's timer (SPEC.md §8). This is what messengers should use; [`Session::encrypt`]
    /// sends raw bytes.
    ///
    /// ```
    /// # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
    /// # use xchat_protocol::{Config, Trust, IdentityKeyPair, PreKeyStore, Session};
    /// # let mut rng = ChaCha20Rng::from_seed([5; 32]);
    /// # let (alice, bob) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
    /// # let mut store = PreKeyStore::new();
    /// # store.rotate_signed_prekey(&mut rng, &bob, 1000);
    /// # store.rotate_kem_prekey(&mut rng, &bob, 1000);
    /// # let mut to_bob = Session::initiate(&mut rng, &alice, &store.bundle(&bob, None)?, Trust::FirstUse, &Config::new(b""))?;
    /// use xchat_protocol::{Deadline, Receipt, TimerStart};
    /// let now = 1_700_000_000_000;
    /// let timer_change = to_bob.set_timer(&mut rng, now, 3600, TimerStart::OnSend)?;
    /// let message = to_bob.send(&mut rng, now, b"gone in an hour")?;
    ///
    /// let (mut to_alice, first) = Session::accept(&bob, &mut store, &timer_change, &Config::new(b""), now)?;
    /// assert!(first.timer_changed);
    /// let Receipt::Message(got) = to_alice.receive(&message, now + 1_000)? else {
    ///     panic!("delivered")
    /// };
    /// assert_eq!(got.body, b"gone in an hour");
    /// assert_eq!(got.deadline, Deadline::At(now + 3_600_000));
    /// # Ok::<(), xchat_protocol::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Session::encrypt`]; [`Error::TooLarge`] if the padded frame exceeds one message.
    pub fn send<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
        body: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let frame = zeroize::Zeroizing::new(
            padded_frame(ContentKind::Message, now_ms, &self.timer, body)
                .map_err(|_| Error::TooLarge)?,
        );
        self.encrypt_inner(rng, &frame)
    }

    /// Changes the conversation's timer: the new timer gets the next version, applies to this
    /// session at once, and travels to the peer as a timer-update message (returned).
    ///
    /// # Errors
    /// As [`Session::encrypt`], and [`Error::TimerVersionExhausted`] once the version is
    /// `u32::MAX` (SPEC.md §8.3). On any error the session is unchanged.
    pub fn set_timer<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
        duration_s: u32,
        start: TimerStart,
    ) -> Result<Vec<u8>, Error> {
        // The new timer must supersede the current one, or the two sides would disagree: the
        // peer keeps the one it has while ours shows the new one. A higher version always does;
        // at the maximum none can, so the change is refused rather than applied on one side only
        // (SPEC.md §8.3–§8.4).
        let version = self
            .timer
            .version
            .checked_add(1)
            .ok_or(Error::TimerVersionExhausted)?;
        let start = if duration_s == 0 {
            TimerStart::OnSend
        } else {
            start
        };
        let timer = Timer {
            duration_s,
            start,
            version,
        };
        let content = Content {
            kind: ContentKind::TimerUpdate,
            sent_at_ms: now_ms,
            timer,
            body: Vec::new(),
        };
        let frame = content.to_padded_bytes().map_err(|_| Error::TooLarge)?;
        let out = self.encrypt_inner(rng, &frame)?;
        self.timer = timer;
        Ok(out)
    }

    /// Receives a message sent with [`Session::send`] or [`Session::set_timer`] at `now_ms` on
    /// our clock: decrypts, removes the padding, applies a newer timer, and computes the
    /// deadline (SPEC.md §8.5).
    ///
    /// Every `Ok` changed the session (the message key is consumed: save it), also when the
    /// message turns out to have expired on arrival or to carry a malformed frame
    /// ([`Receipt::Expired`], [`Receipt::Unreadable`]); an `Err` changed nothing.
    ///
    /// # Errors
    /// As [`Session::decrypt`]; the session is unchanged.
    pub fn receive(&mut self, message: &[u8], now_ms: u64) -> Result<Receipt, Error> {
        let plaintext = zeroize::Zeroizing::new(self.decrypt_inner(message, now_ms)?);
        Ok(self.finish_receive(&plaintext, now_ms))
    }

    /// [`Session::respond`] for a first message sent with [`Session::send`]: answers the prekey
    /// message and receives its content frame.
    ///
    /// # Errors
    /// As [`Session::respond`] and [`Session::receive`]. On [`Error::Expired`] or
    /// [`Error::InvalidContent`] no session is created and the prekey store is unchanged, so
    /// the initiator's later prekey messages can still establish the session.
    pub fn accept(
        identity: &IdentityKeyPair,
        store: &mut PreKeyStore,
        message: &[u8],
        config: &Config<'_>,
        now_ms: u64,
    ) -> Result<(Self, Received), Error> {
        let (mut session, plaintext, consumed) =
            Self::respond_inner(identity, store, message, config, now_ms)?;
        let plaintext = zeroize::Zeroizing::new(plaintext);
        // An authentic first message that is malformed or already expired is rejected without
        // consuming the one-time prekey: the session is not kept, and the initiator's later
        // prekey messages (same X3DH fields) can still establish it. A replay of this message
        // is rejected the same way again. So here, unlike `receive`, these outcomes are errors:
        // nothing changed.
        let received = match session.finish_receive(&plaintext, now_ms) {
            Receipt::Message(received) => received,
            Receipt::Expired { .. } => return Err(Error::Expired),
            Receipt::Unreadable(e) => return Err(Error::InvalidContent(e)),
        };
        consumed.apply(store);
        Ok((session, received))
    }

    fn finish_receive(&mut self, plaintext: &[u8], now_ms: u64) -> Receipt {
        let mut content = match Content::from_padded_bytes(plaintext) {
            Ok(content) => content,
            Err(e) => return Receipt::Unreadable(e),
        };
        let timer_changed = content.timer.supersedes(&self.timer);
        if timer_changed {
            self.timer = content.timer;
        }
        let sender_timer = content.timer;
        // A message that arrives after a newer timer is judged by the more private of its own
        // timer and the conversation's: a late message sent while the timer was off must not
        // outlive the messages around it, and one sent under a shorter timer keeps it
        // (SPEC.md §8.5).
        content.timer = Timer::more_private(&sender_timer, &self.timer);
        let Some(deadline) = content.deadline(now_ms) else {
            return Receipt::Expired { timer_changed };
        };
        Receipt::Message(Received {
            kind: content.kind,
            body: content.body,
            sent_at_ms: content.sent_at_ms,
            timer: sender_timer,
            deadline,
            timer_changed,
        })
    }

    /// Deletes every stored skipped key that could only open a message already expired at
    /// `now_ms` under the session's current timer (SPEC.md §8.6): one skipped more than the
    /// timer's duration plus twice the clock skew ago. Nothing is deleted while the timer is
    /// off, nor keys skipped by [`Session::decrypt`] (which has no clock). Returns how many were
    /// deleted. Call it periodically with the current time.
    ///
    /// ```
    /// # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
    /// # use xchat_protocol::{Config, Trust, IdentityKeyPair, PreKeyStore, Session};
    /// # let mut rng = ChaCha20Rng::from_seed([5; 32]);
    /// # let (alice, bob) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
    /// # let mut store = PreKeyStore::new();
    /// # store.rotate_signed_prekey(&mut rng, &bob, 1000);
    /// # store.rotate_kem_prekey(&mut rng, &bob, 1000);
    /// # let mut to_bob = Session::initiate(&mut rng, &alice, &store.bundle(&bob, None)?, Trust::FirstUse, &Config::new(b""))?;
    /// // Nothing is stored yet, so nothing is purged.
    /// assert_eq!(to_bob.purge(u64::MAX), 0);
    /// # Ok::<(), xchat_protocol::Error>(())
    /// ```
    pub fn purge(&mut self, now_ms: u64) -> usize {
        if self.timer.duration_s == 0 {
            return 0;
        }
        let keep_ms = u64::from(self.timer.duration_s) * 1000 + 2 * MAX_CLOCK_SKEW_MS;
        self.ratchet.purge(now_ms, keep_ms)
    }

    /// The conversation's timer as this session knows it.
    pub fn timer(&self) -> Timer {
        self.timer
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
            .is_some_and(|(usage, _, _)| *usage == KemUse::OneTime)
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

/// The session's state body (SPEC.md §10.3); `state.rs` wraps it in the versioned envelope.
impl Session {
    /// Rebuilds a session from its parts (every state version's decoder ends here): the prekey
    /// fields and associated data are derived, and the phase must match the ratchet's.
    pub(crate) fn from_parts(
        role: Role,
        local_identity: IdentityKey,
        remote_identity: IdentityKey,
        context: &[u8],
        prekey_ids: (PublicKey, u32, Option<u32>, Option<StoredKem>),
        timer: Timer,
        ratchet: Ratchet,
    ) -> Result<Self, DecodeError> {
        if role == Role::Responder && !ratchet.is_open() {
            return Err(DecodeError::NonCanonical);
        }
        let (initiator, responder) = match role {
            Role::Initiator => (&local_identity, &remote_identity),
            Role::Responder => (&remote_identity, &local_identity),
        };
        let ad = associated_data(initiator, responder, context)
            .map_err(|_| DecodeError::NonCanonical)?;
        let (base_key, signed_prekey_id, one_time_prekey_id, kem) = prekey_ids;
        let x3dh = PreKeyFields {
            identity: *initiator,
            base_key,
            signed_prekey_id,
            one_time_prekey_id,
            kem,
        };
        Ok(Self {
            role,
            local_identity,
            remote_identity,
            context: context.to_vec(),
            prekey_ad: prekey_associated_data(&ad, &x3dh),
            ad,
            x3dh,
            timer,
            ratchet,
        })
    }

    fn phase_byte(&self) -> u8 {
        match (self.role, self.ratchet.is_open()) {
            (Role::Responder, _) => PHASE_RESPONDER,
            (Role::Initiator, false) => PHASE_AWAITING_REPLY,
            (Role::Initiator, true) => PHASE_ACKNOWLEDGED,
        }
    }
}

/// PQXDH's fields of a session: the KEM prekey's use and id, and the ciphertext.
pub(crate) type StoredKem = (KemUse, u32, alloc::boxed::Box<[u8; KEM_CIPHERTEXT_LEN]>);

impl Codec for Session {
    fn encoded_len(&self) -> usize {
        let kem = if self.x3dh.kem.is_some() {
            5 + KEM_CIPHERTEXT_LEN
        } else {
            0
        };
        1 + 32 + 32 + 2 + self.context.len() + 32 + 4 + 1 + 4 + kem + 9 + self.ratchet.encoded_len()
    }

    /// `phase ‖ IK_local ‖ IK_remote ‖ u16 len ‖ context ‖ base key ‖ SPK id ‖ flag ‖ [OPK id] ‖
    /// timer ‖ ratchet`.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put_u8(self.phase_byte());
        out.put(self.local_identity.as_bytes());
        out.put(self.remote_identity.as_bytes());
        out.put_len_u16(self.context.len())?;
        out.put(&self.context);
        out.put(self.x3dh.base_key.as_bytes());
        out.put_u32(self.x3dh.signed_prekey_id);
        out.put_flag(self.x3dh.one_time_prekey_id.is_some());
        if let Some(id) = self.x3dh.one_time_prekey_id {
            out.put_u32(id);
        }
        // Version 4 only (a PQXDH session); version 3 has no such field (SPEC.md §10.3).
        if let Some((usage, id, ciphertext)) = &self.x3dh.kem {
            out.put_u8(usage.byte());
            out.put_u32(*id);
            out.put(ciphertext.as_slice());
        }
        self.timer.encode(out);
        self.ratchet.encode(out)
    }

    /// Identity keys are read as stored: they were validated when they entered, and restoring
    /// costs no point decompression (SPEC.md §10.0).
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::decode_version(r, true)
    }
}

impl Session {
    /// The state version that holds this session: 4 for a PQXDH session, 3 (which has no KEM
    /// field) for an X3DH one, so that a classical session's blob is the same as before PQXDH
    /// existed (SPEC.md §10.3).
    pub(crate) fn state_version(&self) -> u8 {
        if self.x3dh.kem.is_some() { 4 } else { 3 }
    }

    /// The body of version 4 (`pqxdh`: the KEM fields follow the one-time prekey) or of
    /// version 3 (an X3DH session) (SPEC.md §10.3).
    pub(crate) fn decode_version(r: &mut Reader<'_>, pqxdh: bool) -> Result<Self, DecodeError> {
        let (role, opening) = match r.u8()? {
            PHASE_AWAITING_REPLY => (Role::Initiator, true),
            PHASE_ACKNOWLEDGED => (Role::Initiator, false),
            PHASE_RESPONDER => (Role::Responder, false),
            _ => return Err(DecodeError::NonCanonical),
        };
        let local_identity = IdentityKey::from_stored(r.array()?);
        let remote_identity = IdentityKey::from_stored(r.array()?);
        let context_len = usize::from(r.u16()?);
        if context_len > MAX_CONTEXT_LEN {
            return Err(DecodeError::NonCanonical);
        }
        let context = r.take(context_len)?;
        let base_key = PublicKey::from_bytes(r.array()?)?;
        let signed_prekey_id = r.u32()?;
        let one_time_prekey_id = if r.flag()? { Some(r.u32()?) } else { None };
        let kem = if pqxdh {
            let usage = KemUse::from_byte(r.u8()?)?;
            let id = r.u32()?;
            let ciphertext = alloc::boxed::Box::new(r.array()?);
            Some((usage, id, ciphertext))
        } else {
            None
        };
        let timer = Timer::decode(r)?;
        let ratchet = Ratchet::decode(r, opening)?;
        Self::from_parts(
            role,
            local_identity,
            remote_identity,
            context,
            (base_key, signed_prekey_id, one_time_prekey_id, kem),
            timer,
            ratchet,
        )
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
