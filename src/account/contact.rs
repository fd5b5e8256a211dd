//! One contact as a multi-device sender and receiver sees it (SPEC.md §15.3): the contact's
//! verified device list and one session per device on it. It is the place where the device
//! check cannot be forgotten — a session to a device off the list cannot be made, kept or
//! reached through it, a message goes to every listed device and to no other, a device the
//! account removes loses its session in the same call that learns of the removal, and a sealed
//! message is delivered only if its certificate names a listed device.

use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;

use super::{AccountError, AccountEvent, DeviceEntry, DeviceList, DeviceListView};
use crate::error::Error;
use crate::keys::{IdentityKey, IdentityKeyPair};
use crate::prekeys::{PreKeyBundle, PreKeyStore};
use crate::sealed_sender::{self, Delivered, Opened, SealedSenderError, SenderCertificate};
use crate::session::{Config, Session, Trust};
use crate::{TimerStart, error::DecodeError};

/// A contact: the newest device list accepted for it and a session per device it lists.
///
/// ```
/// # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
/// use xchat_protocol::account::{AccountKeyPair, Contact, DeviceEntry, DeviceList, DeviceListView};
/// use xchat_protocol::{Config, Error, IdentityKeyPair, PreKeyStore};
/// # let mut rng = ChaCha20Rng::from_seed([5; 32]);
/// let now = 1_700_000_000_000;
/// // Bob's account signs his phone; his server also hands out a ghost device's bundle.
/// let bob_account = AccountKeyPair::generate(&mut rng);
/// let phone = IdentityKeyPair::generate(&mut rng);
/// let entry = DeviceEntry::sign(&phone, bob_account.public(), 1, now);
/// let list = DeviceList::first(&bob_account, vec![entry], now)?;
/// let bundle_of = |rng: &mut ChaCha20Rng, device: &IdentityKeyPair| {
///     let mut store = PreKeyStore::new();
///     store.rotate_signed_prekey(rng, device, now);
///     store.rotate_kem_prekey(rng, device, now);
///     store.bundle(device, None)
/// };
///
/// let alice = IdentityKeyPair::generate(&mut rng);
/// let config = Config::new(b"alice|bob");
/// let mut bob = Contact::new(DeviceListView::new(DeviceList::from_bytes(&list.to_bytes())?));
/// let phone_bundle = bundle_of(&mut rng, &phone)?;
/// assert_eq!(bob.initiate(&mut rng, &alice, &phone_bundle, &config)?, 1);
/// let ghost = IdentityKeyPair::generate(&mut rng);
/// let ghost_bundle = bundle_of(&mut rng, &ghost)?;
/// let refused = bob.initiate(&mut rng, &alice, &ghost_bundle, &config);
/// assert_eq!(refused.unwrap_err(), Error::UnknownDevice);
/// // A message goes to every listed device, and only to them.
/// let outgoing = bob.send(&mut rng, now, b"hi Bob")?;
/// assert_eq!(outgoing.len(), 1);
/// assert_eq!(outgoing[0].device_id, 1);
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
pub struct Contact {
    view: DeviceListView,
    /// At most one per listed device, in the order they were made; every session's peer is on
    /// the list (checked whenever a session enters and whenever the list moves).
    sessions: Vec<Session>,
}

/// A message for one device of a contact: a session message ([`Contact::send`]) or a sealed
/// envelope ([`Contact::send_sealed`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The device's id within the contact's account (route by it).
    pub device_id: u32,
    /// The device's identity key.
    pub identity: IdentityKey,
    /// The bytes to deliver to that device.
    pub message: Vec<u8>,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("device_id", &self.device_id)
            .field("identity", &self.identity)
            .field("len", &self.message.len())
            .finish()
    }
}

impl Contact {
    /// A contact known by its device list and no session yet.
    pub fn new(view: DeviceListView) -> Self {
        Self {
            view,
            sessions: Vec::new(),
        }
    }

    /// The contact's device list as we hold it.
    pub fn view(&self) -> &DeviceListView {
        &self.view
    }

    /// Moves the list forward ([`DeviceListView::update`]) and drops the session of every
    /// device the account removed, in the same call: nothing more can be sent to it.
    ///
    /// # Errors
    /// As [`DeviceListView::update`]; nothing changes.
    pub fn update(&mut self, lists: &[DeviceList]) -> Result<Vec<AccountEvent>, AccountError> {
        let events = self.view.update(lists)?;
        self.drop_unlisted();
        Ok(events)
    }

    /// Accepts a new account key for the contact ([`DeviceListView::accept_new_account_key`],
    /// only after the user confirmed the new safety number) and drops the sessions of devices
    /// the new list does not have.
    ///
    /// # Errors
    /// As [`DeviceListView::accept_new_account_key`]; nothing changes.
    pub fn accept_new_account_key(
        &mut self,
        list: DeviceList,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let events = self.view.accept_new_account_key(list)?;
        self.drop_unlisted();
        Ok(events)
    }

    fn drop_unlisted(&mut self) {
        let view = &self.view;
        self.sessions
            .retain(|s| view.check_device(s.remote_identity()).is_ok());
    }

    /// The devices on the list that have no session yet: fetch their bundles and
    /// [`initiate`](Self::initiate).
    pub fn devices_without_session(&self) -> impl Iterator<Item = &DeviceEntry> {
        self.view
            .current()
            .devices()
            .iter()
            .filter(|d| self.position(d.identity()).is_none())
    }

    /// The session with the listed device `device_id`, if there is one.
    pub fn session(&self, device_id: u32) -> Option<&Session> {
        let entry = self
            .view
            .current()
            .devices()
            .iter()
            .find(|d| d.device_id() == device_id)?;
        self.sessions
            .iter()
            .find(|s| s.remote_identity() == entry.identity())
    }

    /// How many devices we hold a session with.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn position(&self, identity: &IdentityKey) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.remote_identity() == identity)
    }

    /// Starts a session with one device of the contact from its bundle: the bundle's identity
    /// must be on the list (the server hands out bundles, so it could hand out a ghost's). A
    /// session already held with that device is replaced. Returns the device's id.
    ///
    /// # Errors
    /// [`Error::UnknownDevice`] before any key is drawn; otherwise as [`Session::initiate`].
    /// Nothing changes on any of them.
    pub fn initiate<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &IdentityKeyPair,
        bundle: &PreKeyBundle,
        config: &Config<'_>,
    ) -> Result<u32, Error> {
        let device = self
            .view
            .check_device(&bundle.identity)
            .map_err(|_| Error::UnknownDevice)?;
        let session = Session::initiate(
            rng,
            identity,
            bundle,
            Trust::Pinned(device.identity()),
            config,
        )?;
        let device_id = device.device_id();
        self.insert(session);
        Ok(device_id)
    }

    /// Puts `session` in the place of the one with the same device, or adds it.
    fn insert(&mut self, session: Session) {
        let peer = *session.remote_identity();
        self.sessions.retain(|s| *s.remote_identity() != peer);
        self.sessions.push(session);
    }

    /// Sends `body` to every listed device we hold a session with ([`Session::send`] each), in
    /// list order. Devices without a session are skipped: see
    /// [`devices_without_session`](Self::devices_without_session).
    ///
    /// # Errors
    /// The first session's error ([`Error::TooLarge`], [`Error::ChainExhausted`]); every session
    /// is then as before the call.
    pub fn send<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
        body: &[u8],
    ) -> Result<Vec<Outgoing>, Error> {
        self.each_listed(true, |session| session.send(rng, now_ms, body))
    }

    /// Changes the conversation's timer on every session ([`Session::set_timer`]) and returns
    /// the timer-update message for each device.
    ///
    /// # Errors
    /// As [`Session::set_timer`]; every session is then as before the call.
    pub fn set_timer<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now_ms: u64,
        duration_s: u32,
        start: TimerStart,
    ) -> Result<Vec<Outgoing>, Error> {
        self.each_listed(true, |session| {
            session.set_timer(rng, now_ms, duration_s, start)
        })
    }

    /// [`send`](Self::send), each message sealed ([`sealed_sender::seal`]) for its device with
    /// our certificate.
    ///
    /// # Errors
    /// [`SealedSenderError::Session`] with the error of `send`, or an error of `seal`; every
    /// session is then as before the call.
    pub fn send_sealed<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        sender: &IdentityKeyPair,
        certificate: &SenderCertificate,
        now_ms: u64,
        body: &[u8],
    ) -> Result<Vec<Outgoing>, SealedSenderError> {
        // Sealing can fail after the send (a prekey message is longer): not one call.
        self.each_listed(false, |session| {
            let message = session.send(rng, now_ms, body)?;
            sealed_sender::seal(rng, sender, certificate, session, &message)
        })
    }

    /// Runs `step` on every session in list order, all or nothing: a session that stepped is
    /// restored from its snapshot if a later one fails (a session is not `Clone`, so that no
    /// copy of its keys can be used twice; the snapshot is its own state blob, wiped on drop).
    /// A `step` that is `one_call` leaves its session unchanged when it fails, so the last
    /// session needs no snapshot.
    fn each_listed<E: From<Error>>(
        &mut self,
        one_call: bool,
        mut step: impl FnMut(&mut Session) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<Outgoing>, E> {
        let mut order: Vec<(u32, IdentityKey, usize)> = Vec::with_capacity(self.sessions.len());
        for device in self.view.current().devices() {
            if let Some(i) = self.position(device.identity()) {
                order.push((device.device_id(), *device.identity(), i));
            }
        }
        let mut snapshots = Vec::with_capacity(order.len());
        let mut out = Vec::with_capacity(order.len());
        let last = if one_call {
            order.len().saturating_sub(1)
        } else {
            order.len()
        };
        for (n, &(device_id, identity, i)) in order.iter().enumerate() {
            let Some(session) = self.sessions.get_mut(i) else {
                continue;
            };
            let snapshot = if n < last {
                Some(session.to_bytes()?)
            } else {
                None
            };
            match step(session) {
                Ok(message) => {
                    snapshots.extend(snapshot.map(|blob| (i, blob)));
                    out.push(Outgoing {
                        device_id,
                        identity,
                        message,
                    });
                }
                Err(e) => {
                    snapshots.extend(snapshot.map(|blob| (i, blob)));
                    self.restore(snapshots)?;
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    fn restore(
        &mut self,
        snapshots: Vec<(usize, zeroize::Zeroizing<Vec<u8>>)>,
    ) -> Result<(), Error> {
        for (i, blob) in snapshots {
            // Our own blob of a moment ago: it always decodes.
            let session = Session::from_bytes(&blob)?;
            if let Some(slot) = self.sessions.get_mut(i) {
                *slot = session;
            }
        }
        Ok(())
    }

    /// Delivers a sealed message from one of the contact's devices: the certificate must name a
    /// listed device under its device id ([`DeviceListView::check_sender`]); the message then
    /// goes to that device's session, or — a first message, or a prekey message of a session
    /// the device started anew — starts one ([`Opened::respond`], which replaces the old one).
    ///
    /// Which contact an envelope is from: look it up by [`Opened::sender`]'s address.
    ///
    /// # Errors
    /// [`SealedSenderError::UnknownDevice`] (nothing is decrypted, no prekey is touched), or as
    /// [`Opened::decrypt`] and [`Opened::respond`]. Nothing changes on any of them.
    pub fn receive(
        &mut self,
        opened: &Opened,
        identity: &IdentityKeyPair,
        store: &mut PreKeyStore,
        config: &Config<'_>,
    ) -> Result<Delivered, SealedSenderError> {
        self.view
            .check_sender(opened.sender())
            .map_err(|_| SealedSenderError::UnknownDevice)?;
        let sender = opened.sender().identity;
        if let Some(session) = self
            .sessions
            .iter_mut()
            .find(|s| *s.remote_identity() == sender)
        {
            match opened.decrypt(session) {
                Err(SealedSenderError::Session(Error::SessionMismatch))
                    if opened.is_prekey_message() => {}
                delivered => return delivered,
            }
        }
        let (session, delivered) = opened.respond(identity, store, config)?;
        self.insert(session);
        Ok(delivered)
    }

    /// Deletes every session's expired skipped keys ([`Session::purge`]); returns how many.
    pub fn purge(&mut self, now_ms: u64) -> usize {
        self.sessions.iter_mut().map(|s| s.purge(now_ms)).sum()
    }

    pub(crate) fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// Restores a contact from its parts, checking the one invariant a blob could break: every
    /// session's peer is a distinct listed device.
    pub(crate) fn from_parts(
        view: DeviceListView,
        sessions: Vec<Session>,
    ) -> Result<Self, DecodeError> {
        let mut contact = Self::new(view);
        for session in sessions {
            if contact
                .view
                .check_device(session.remote_identity())
                .is_err()
                || contact.position(session.remote_identity()).is_some()
            {
                return Err(DecodeError::NonCanonical);
            }
            contact.sessions.push(session);
        }
        Ok(contact)
    }
}

impl fmt::Debug for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contact")
            .field("view", &self.view)
            .field("sessions", &self.sessions.len())
            .finish()
    }
}
