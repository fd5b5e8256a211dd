//! Shared fixtures of the audit: accounts that publish signed device lists, devices with prekey
//! stores, an operator that certifies sealed senders, and a hand codec of the contact blob
//! (SPEC.md §15.5) so that a test can edit one part and re-seal the rest exactly.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::account::{AccountKeyPair, Contact, DeviceEntry, DeviceList, DeviceListView};
use xchat_protocol::sealed_sender::{Opened, SealedRecipient, seal};
use xchat_protocol::{
    CertificateKeyPair, Config, IdentityKeyPair, PreKeyBundle, PreKeyStore, SenderCertificate,
    ServerCertificate, Session, SignedPreKey,
};

use crate::common::state_codec;

pub(crate) const T0: u64 = 1_700_000_000_000;
pub(crate) const CONTEXT: &[u8] = b"alice|bob";
pub(crate) const KIND_CONTACT: u8 = 0x14;

pub(crate) fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

pub(crate) fn config() -> Config<'static> {
    Config::new(CONTEXT)
}

/// A copy of a key pair (the type is not `Clone`).
pub(crate) fn copy(k: &IdentityKeyPair) -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&k.seed())
}

/// One device: its id in its account, its identity and its prekey store (PQXDH, with one-time
/// prekeys 0..8).
pub(crate) struct Device {
    pub(crate) id: u32,
    pub(crate) key: IdentityKeyPair,
    pub(crate) store: PreKeyStore,
    /// The signed prekey with its X3DH signature, for a classical bundle.
    x3dh_signed_prekey: SignedPreKey,
}

impl Device {
    pub(crate) fn new(r: &mut ChaCha20Rng, id: u32) -> Self {
        let key = IdentityKeyPair::generate(r);
        Self::with_key(r, id, key)
    }

    pub(crate) fn with_key(r: &mut ChaCha20Rng, id: u32, key: IdentityKeyPair) -> Self {
        let mut store = PreKeyStore::new();
        let x3dh_signed_prekey = store.rotate_signed_prekey(r, &key, T0);
        store.rotate_kem_prekey(r, &key, T0);
        store.generate_one_time_prekeys(r, 8).unwrap();
        Self {
            id,
            key,
            store,
            x3dh_signed_prekey,
        }
    }

    /// The bundle the server hands out, with the one-time prekey `one_time` (if any).
    pub(crate) fn bundle(&self, one_time: Option<u32>) -> PreKeyBundle {
        self.store.bundle(&self.key, one_time).unwrap()
    }

    /// A classical (X3DH) bundle without a one-time prekey.
    pub(crate) fn classical_bundle(&self) -> PreKeyBundle {
        PreKeyBundle {
            identity: *self.key.public(),
            signed_prekey: self.x3dh_signed_prekey,
            one_time_prekey: None,
            kem_prekey: None,
        }
    }
}

/// An account: its key, its devices, and every list it published (oldest first).
pub(crate) struct Account {
    pub(crate) key: AccountKeyPair,
    pub(crate) devices: Vec<Device>,
    pub(crate) lists: Vec<DeviceList>,
}

impl Account {
    /// An account whose first list has `n` devices, ids 1..=n.
    pub(crate) fn new(r: &mut ChaCha20Rng, n: u32) -> Self {
        let key = AccountKeyPair::generate(r);
        let devices = (1..=n).map(|i| Device::new(r, i)).collect();
        Self::from_parts(key, devices)
    }

    pub(crate) fn from_parts(key: AccountKeyPair, devices: Vec<Device>) -> Self {
        let mut a = Self {
            key,
            devices,
            lists: Vec::new(),
        };
        let first = DeviceList::first(&a.key, a.entries(), T0).unwrap();
        a.lists.push(first);
        a
    }

    pub(crate) fn entries(&self) -> Vec<DeviceEntry> {
        self.devices
            .iter()
            .map(|d| DeviceEntry::sign(&d.key, self.key.public(), d.id, T0))
            .collect()
    }

    pub(crate) fn last(&self) -> DeviceList {
        self.lists.last().unwrap().clone()
    }

    /// Signs and records the next list with the current devices.
    pub(crate) fn publish(&mut self) -> DeviceList {
        let at = T0 + self.lists.len() as u64;
        let next = self
            .lists
            .last()
            .unwrap()
            .next(&self.key, self.entries(), at)
            .unwrap();
        self.lists.push(next.clone());
        next
    }

    pub(crate) fn add(&mut self, device: Device) -> DeviceList {
        self.devices.push(device);
        self.publish()
    }

    pub(crate) fn remove(&mut self, id: u32) -> (Device, DeviceList) {
        let at = self.devices.iter().position(|d| d.id == id).unwrap();
        let gone = self.devices.remove(at);
        (gone, self.publish())
    }

    pub(crate) fn device(&self, id: u32) -> &Device {
        self.devices.iter().find(|d| d.id == id).unwrap()
    }

    pub(crate) fn device_mut(&mut self, id: u32) -> &mut Device {
        self.devices.iter_mut().find(|d| d.id == id).unwrap()
    }

    /// A contact for this account as someone who first saw its newest list.
    pub(crate) fn contact(&self) -> Contact {
        Contact::new(DeviceListView::new(self.last()))
    }
}

/// A trust root, a server, and sender certificates from it.
pub(crate) struct Operator {
    pub(crate) root: CertificateKeyPair,
    server: CertificateKeyPair,
    server_cert: ServerCertificate,
}

impl Operator {
    pub(crate) fn new(r: &mut ChaCha20Rng) -> Self {
        let root = CertificateKeyPair::generate(r);
        let server = CertificateKeyPair::generate(r);
        let server_cert = root.certify_server(1, &server.public());
        Self {
            root,
            server,
            server_cert,
        }
    }

    pub(crate) fn certify(
        &self,
        address: &[u8],
        device_id: u32,
        who: &IdentityKeyPair,
    ) -> SenderCertificate {
        self.server
            .certify_sender(
                &self.server_cert,
                address,
                device_id,
                who.public(),
                T0 + 86_400_000,
            )
            .unwrap()
    }

    /// Opens `envelope` as `to` would.
    pub(crate) fn open(&self, to: &IdentityKeyPair, envelope: &[u8]) -> Opened {
        let roots = [self.root.public()];
        SealedRecipient {
            identity: to,
            trust_roots: &roots,
            revoked_servers: &[],
        }
        .open(envelope, T0)
        .unwrap()
    }

    /// An already-encrypted session `message` from `from`, sealed under a certificate for
    /// `address` / `device_id`.
    pub(crate) fn seal_message(
        &self,
        r: &mut ChaCha20Rng,
        from: &IdentityKeyPair,
        address: &[u8],
        device_id: u32,
        session: &Session,
        message: &[u8],
    ) -> Vec<u8> {
        let cert = self.certify(address, device_id, from);
        seal(r, from, &cert, session, message).unwrap()
    }

    /// `session.send(body)` from `from` (device `device_id` of `address`), sealed to the
    /// session's peer.
    pub(crate) fn sealed_send(
        &self,
        r: &mut ChaCha20Rng,
        from: &IdentityKeyPair,
        address: &[u8],
        device_id: u32,
        session: &mut Session,
        body: &[u8],
    ) -> Vec<u8> {
        let message = session.send(r, T0, body).unwrap();
        let cert = self.certify(address, device_id, from);
        seal(r, from, &cert, session, &message).unwrap()
    }
}

/// The parts of a contact blob (SPEC.md §15.5): the list's bytes and each session's version
/// and body. Panics on a blob the library did not write.
pub(crate) fn split_contact(blob: &[u8]) -> (Vec<u8>, Vec<(u8, Vec<u8>)>) {
    assert_eq!(blob[0], KIND_CONTACT);
    assert_eq!(blob[1], 1);
    let body = state_codec::body(blob);
    let len = u32::from_be_bytes(body[..4].try_into().unwrap()) as usize;
    let list = body[4..4 + len].to_vec();
    let mut at = 4 + len;
    let n = body[at];
    at += 1;
    let mut sessions = Vec::new();
    for _ in 0..n {
        let version = body[at];
        let len = u32::from_be_bytes(body[at + 1..at + 5].try_into().unwrap()) as usize;
        sessions.push((version, body[at + 5..at + 5 + len].to_vec()));
        at += 5 + len;
    }
    assert_eq!(at, body.len());
    (list, sessions)
}

/// The body of a contact blob from its parts, as the library lays it out.
pub(crate) fn contact_body(list: &[u8], sessions: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32::try_from(list.len()).unwrap().to_be_bytes());
    body.extend_from_slice(list);
    body.push(u8::try_from(sessions.len()).unwrap());
    for (version, s) in sessions {
        body.push(*version);
        body.extend_from_slice(&u32::try_from(s.len()).unwrap().to_be_bytes());
        body.extend_from_slice(s);
    }
    body
}

/// A contact blob with a correct check (what anyone who can write the database can make).
pub(crate) fn contact_blob(list: &[u8], sessions: &[(u8, Vec<u8>)]) -> Vec<u8> {
    state_codec::seal(KIND_CONTACT, 1, &contact_body(list, sessions))
}

/// A session's `(version, body)` as a contact blob holds it.
pub(crate) fn session_part(session: &Session) -> (u8, Vec<u8>) {
    let blob = session.to_bytes().unwrap();
    (blob[1], state_codec::body(&blob).to_vec())
}

/// Edits a session held in a contact blob (part `(version, body)`) with the reference codec.
pub(crate) fn edit_part(
    part: &(u8, Vec<u8>),
    f: impl FnOnce(&mut state_codec::SessionBlob),
) -> (u8, Vec<u8>) {
    let blob = state_codec::seal(state_codec::KIND_SESSION, part.0, &part.1);
    let edited = state_codec::edit_session(&blob, f);
    (edited[1], state_codec::body(&edited).to_vec())
}

/// The bytes of a contact's state, for before/after comparisons.
pub(crate) fn bytes(c: &Contact) -> Vec<u8> {
    c.to_bytes().unwrap().to_vec()
}

pub(crate) fn store_bytes(s: &PreKeyStore) -> Vec<u8> {
    s.to_bytes().unwrap().to_vec()
}
