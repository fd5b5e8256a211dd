//! `Contact` (SPEC.md §15.3) as an attacker's target: a server that hands out a ghost device's
//! bundle, keeps a removed device's sessions alive, or forwards a sealed message from a device
//! the account never signed; a failed fan-out that must leave every session as it was; and the
//! contact's state blob (SPEC.md §15.5), including one forged to hold a session with a ghost.

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use xchat_protocol::account::{AccountError, AccountEvent, Contact, DeviceListView};
use xchat_protocol::sealed_sender::SealedRecipient;
use xchat_protocol::{
    CertificateKeyPair, Config, DecodeError, Error, IdentityKeyPair, PreKeyBundle, PreKeyStore,
    Receipt, SealedSenderError, SenderCertificate, ServerCertificate, Session,
};

use crate::common::proptest_config;
use crate::support::{Account, T0, rng};

const CONTEXT: &[u8] = b"alice|bob";

fn config() -> Config<'static> {
    Config::new(CONTEXT)
}

/// A device's prekey store (PQXDH) and a bundle from it.
fn publish(r: &mut ChaCha20Rng, device: &IdentityKeyPair) -> (PreKeyStore, PreKeyBundle) {
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(r, device, T0);
    store.rotate_kem_prekey(r, device, T0);
    store.generate_one_time_prekeys(r, 4).unwrap();
    let bundle = store.bundle(device, Some(0)).unwrap();
    (store, bundle)
}

/// The operator's certificates: a trust root, a server, and a certificate for any identity.
struct Operator {
    root: CertificateKeyPair,
    server: CertificateKeyPair,
    server_cert: ServerCertificate,
}

impl Operator {
    fn new(r: &mut ChaCha20Rng) -> Self {
        let root = CertificateKeyPair::generate(r);
        let server = CertificateKeyPair::generate(r);
        let server_cert = root.certify_server(1, &server.public());
        Self {
            root,
            server,
            server_cert,
        }
    }

    fn certify(&self, address: &[u8], device_id: u32, who: &IdentityKeyPair) -> SenderCertificate {
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
}

/// Alice's contact for Bob with a session to each of Bob's devices; each device's store.
fn alice_with_sessions(
    r: &mut ChaCha20Rng,
    bob: &Account,
    alice: &IdentityKeyPair,
) -> (Contact, Vec<PreKeyStore>) {
    let mut contact = Contact::new(DeviceListView::new(bob.lists.last().unwrap().clone()));
    let mut stores = Vec::new();
    for (_, device) in &bob.devices {
        let (store, bundle) = publish(r, device);
        contact.initiate(r, alice, &bundle, &config()).unwrap();
        stores.push(store);
    }
    (contact, stores)
}

#[test]
fn a_ghost_devices_bundle_is_refused_before_any_key_is_drawn() {
    let mut r = rng(1);
    let bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let (mut contact, _) = alice_with_sessions(&mut r, &bob, &alice);
    let before = contact.to_bytes().unwrap();
    let ghost = IdentityKeyPair::generate(&mut r);
    let (_, bundle) = publish(&mut r, &ghost);
    let mut untouched = rng(99);
    let err = contact
        .initiate(&mut untouched, &alice, &bundle, &config())
        .unwrap_err();
    assert_eq!(err, Error::UnknownDevice);
    assert_eq!(contact.to_bytes().unwrap(), before);
    // No key was drawn: the RNG is where a fresh one starts.
    let mut fresh = rng(99);
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    rand_chacha::rand_core::Rng::fill_bytes(&mut untouched, &mut a);
    rand_chacha::rand_core::Rng::fill_bytes(&mut fresh, &mut b);
    assert_eq!(a, b);
    // Fan-out reaches the two listed devices and no other.
    let out = contact.send(&mut r, T0, b"hi").unwrap();
    let ids: Vec<u32> = out.iter().map(|o| o.device_id).collect();
    assert_eq!(ids, [1, 2]);
    assert!(out.iter().all(|o| o.identity != *ghost.public()));
}

#[test]
fn every_listed_device_reads_the_fan_out_and_a_new_one_waits_for_a_session() {
    let mut r = rng(2);
    let mut bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let (mut contact, mut stores) = alice_with_sessions(&mut r, &bob, &alice);
    let out = contact.send(&mut r, T0, b"to both").unwrap();
    for (o, ((_, device), store)) in out.iter().zip(bob.devices.iter().zip(stores.iter_mut())) {
        assert_eq!(o.identity, *device.public());
        let (_, received) = Session::accept(device, store, &o.message, &config(), T0).unwrap();
        assert_eq!(received.body, b"to both");
    }
    // Bob adds a tablet: the event says so, the tablet has no session until Alice starts one.
    let list = bob.add(&mut r, 3);
    let events = contact.update(&[list]).unwrap();
    assert!(matches!(
        events[..],
        [AccountEvent::DeviceAdded { device_id: 3, .. }]
    ));
    let missing: Vec<u32> = contact
        .devices_without_session()
        .map(|d| d.device_id())
        .collect();
    assert_eq!(missing, [3]);
    assert_eq!(contact.send(&mut r, T0, b"x").unwrap().len(), 2);
    let (_, bundle) = publish(&mut r, &bob.devices[2].1);
    contact
        .initiate(&mut r, &alice, &bundle, &config())
        .unwrap();
    assert_eq!(contact.send(&mut r, T0, b"x").unwrap().len(), 3);
}

#[test]
fn a_removed_device_loses_its_session_in_the_update_and_gets_nothing_more() {
    let mut r = rng(3);
    let mut bob = Account::new(&mut r, 3);
    let alice = IdentityKeyPair::generate(&mut r);
    let (mut contact, _) = alice_with_sessions(&mut r, &bob, &alice);
    let stolen = bob.devices[1].1.public().to_bytes();
    let removed = IdentityKeyPair::from_seed(&bob.devices[1].1.seed());
    let list = bob.remove(2);
    let events = contact.update(&[list]).unwrap();
    assert!(matches!(
        events[..],
        [AccountEvent::DeviceRemoved { device_id: 2, .. }]
    ));
    assert_eq!(contact.session_count(), 2);
    assert!(contact.session(2).is_none());
    let out = contact.send(&mut r, T0, b"after").unwrap();
    assert_eq!(out.iter().map(|o| o.device_id).collect::<Vec<_>>(), [1, 3]);
    assert!(out.iter().all(|o| o.identity.to_bytes() != stolen));
    // The removed device's fresh bundle is refused too.
    let (_, bundle) = publish(&mut r, &removed);
    assert_eq!(
        contact
            .initiate(&mut r, &alice, &bundle, &config())
            .unwrap_err(),
        Error::UnknownDevice
    );
}

#[test]
fn a_rollback_that_would_bring_a_removed_device_back_is_refused() {
    let mut r = rng(4);
    let mut bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let (mut contact, _) = alice_with_sessions(&mut r, &bob, &alice);
    let with_both = bob.lists[0].clone();
    contact.update(&[bob.remove(2)]).unwrap();
    let before = contact.to_bytes().unwrap();
    assert_eq!(contact.update(&[with_both]), Err(AccountError::Rollback));
    assert_eq!(contact.to_bytes().unwrap(), before);
    let (_, bundle) = publish(&mut r, &bob_device_two(&mut rng(4)));
    assert_eq!(
        contact
            .initiate(&mut r, &alice, &bundle, &config())
            .unwrap_err(),
        Error::UnknownDevice
    );
}

/// Device 2 of the account `Account::new(&mut rng(4), 2)` made, regenerated from the seed.
fn bob_device_two(r: &mut ChaCha20Rng) -> IdentityKeyPair {
    Account::new(r, 2).devices.remove(1).1
}

#[test]
fn a_sealed_message_from_a_ghost_or_under_another_device_id_is_not_delivered() {
    let mut r = rng(5);
    let op = Operator::new(&mut r);
    let alice_account = Account::new(&mut r, 1);
    let alice = &alice_account.devices[0].1;
    let bob = IdentityKeyPair::generate(&mut r);
    let (mut bob_store, bundle) = publish(&mut r, &bob);
    let roots = [op.root.public()];
    let view = SealedRecipient {
        identity: &bob,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    // Bob's contact for Alice knows her one signed device.
    let mut bob_side = Contact::new(DeviceListView::new(alice_account.lists[0].clone()));

    // A ghost the server certified as "alice", device 2.
    let ghost = IdentityKeyPair::generate(&mut r);
    let mut ghost_session = Session::initiate(
        &mut r,
        &ghost,
        &bundle,
        xchat_protocol::Trust::FirstUse,
        &config(),
    )
    .unwrap();
    let m = ghost_session.send(&mut r, T0, b"I am alice").unwrap();
    let cert = op.certify(b"alice", 2, &ghost);
    let envelope =
        xchat_protocol::sealed_sender::seal(&mut r, &ghost, &cert, &ghost_session, &m).unwrap();
    let opened = view.open(&envelope, T0).unwrap();
    let store_before = bob_store.to_bytes().unwrap();
    let err = bob_side
        .receive(&opened, &bob, &mut bob_store, &config())
        .unwrap_err();
    assert_eq!(err, SealedSenderError::UnknownDevice);
    assert_eq!(
        bob_store.to_bytes().unwrap(),
        store_before,
        "no prekey touched"
    );
    assert_eq!(bob_side.session_count(), 0);

    // Alice's real device, but certified under another device id.
    let mut to_bob = Session::initiate(
        &mut r,
        alice,
        &bundle,
        xchat_protocol::Trust::FirstUse,
        &config(),
    )
    .unwrap();
    let m = to_bob.send(&mut r, T0, b"hello").unwrap();
    let wrong_id = op.certify(b"alice", 7, alice);
    let envelope =
        xchat_protocol::sealed_sender::seal(&mut r, alice, &wrong_id, &to_bob, &m).unwrap();
    let opened = view.open(&envelope, T0).unwrap();
    assert_eq!(
        bob_side
            .receive(&opened, &bob, &mut bob_store, &config())
            .unwrap_err(),
        SealedSenderError::UnknownDevice
    );

    // Under its own id it is delivered, and the session is kept for the next message.
    let right = op.certify(b"alice", 1, alice);
    let envelope = xchat_protocol::sealed_sender::seal(&mut r, alice, &right, &to_bob, &m).unwrap();
    let opened = view.open(&envelope, T0).unwrap();
    let delivered = bob_side
        .receive(&opened, &bob, &mut bob_store, &config())
        .unwrap();
    assert!(matches!(&delivered.receipt, Receipt::Message(m) if m.body == b"hello"));
    assert_eq!(bob_side.session_count(), 1);
    let reply = bob_side.send(&mut r, T0, b"hi alice").unwrap();
    assert_eq!(reply.len(), 1);
    match to_bob.receive(&reply[0].message, T0).unwrap() {
        Receipt::Message(m) => assert_eq!(m.body, b"hi alice"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_fan_out_that_fails_on_one_device_leaves_every_session_as_it_was() {
    let mut r = rng(6);
    let op = Operator::new(&mut r);
    let bob = Account::new(&mut r, 3);
    let alice = IdentityKeyPair::generate(&mut r);
    let other = IdentityKeyPair::generate(&mut r);
    let mut contact = Contact::new(DeviceListView::new(bob.lists[0].clone()));
    // Sessions 1 and 2 are Alice's, session 3 another identity's: sealing as Alice fails on
    // the third device, after the first two have sent.
    for (i, (_, device)) in bob.devices.iter().enumerate() {
        let (_, bundle) = publish(&mut r, device);
        let me = if i == 2 { &other } else { &alice };
        contact.initiate(&mut r, me, &bundle, &config()).unwrap();
    }
    let before = contact.to_bytes().unwrap();
    let cert = op.certify(b"alice", 1, &alice);
    let err = contact
        .send_sealed(&mut r, &alice, &cert, T0, b"all or nothing")
        .unwrap_err();
    assert_eq!(err, SealedSenderError::SenderIdentityMismatch);
    assert_eq!(contact.to_bytes().unwrap(), before);
    // Too large for any session: refused on the first, nothing changed.
    let huge = vec![0u8; xchat_protocol::wire::MAX_PLAINTEXT_LEN + 1];
    assert_eq!(contact.send(&mut r, T0, &huge), Err(Error::TooLarge));
    assert_eq!(contact.to_bytes().unwrap(), before);
}

#[test]
fn a_contact_round_trips_and_a_blob_with_a_ghost_session_is_refused() {
    let mut r = rng(7);
    let bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let (mut contact, _) = alice_with_sessions(&mut r, &bob, &alice);
    contact.send(&mut r, T0, b"state").unwrap();
    let blob = contact.to_bytes().unwrap();
    assert_eq!(blob[0], 0x14);
    assert_eq!(blob[1], 1);
    let back = Contact::from_bytes(&blob).unwrap();
    assert_eq!(back.to_bytes().unwrap(), blob);
    let key = xchat_protocol::state::StorageKey::generate(&mut r);
    let sealed = contact.to_sealed_bytes(&mut r, &key).unwrap();
    assert_eq!(
        Contact::from_sealed_bytes(&sealed, &key)
            .unwrap()
            .to_bytes()
            .unwrap(),
        blob
    );

    // A blob edited to hold a session with a ghost (its check recomputed) is refused.
    let ghost = IdentityKeyPair::generate(&mut r);
    let (_, bundle) = publish(&mut r, &ghost);
    let ghost_session = Session::initiate(
        &mut r,
        &alice,
        &bundle,
        xchat_protocol::Trust::FirstUse,
        &config(),
    )
    .unwrap();
    let session_blob = ghost_session.to_bytes().unwrap();
    let list = bob.lists[0].to_bytes();
    let mut forged = vec![0x14, 0x01];
    forged.extend_from_slice(&u32::try_from(list.len()).unwrap().to_be_bytes());
    forged.extend_from_slice(&list);
    forged.push(1);
    let body = &session_blob[2..session_blob.len() - 16];
    forged.push(session_blob[1]);
    forged.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    forged.extend_from_slice(body);
    let check = Sha256::digest(&forged);
    forged.extend_from_slice(&check[..16]);
    assert_eq!(
        Contact::from_bytes(&forged).unwrap_err(),
        DecodeError::NonCanonical
    );
    // The same blob with a listed device's session decodes: the refusal was the ghost.
    let (_, bundle) = publish(&mut r, &bob.devices[0].1);
    let listed = Session::initiate(
        &mut r,
        &alice,
        &bundle,
        xchat_protocol::Trust::FirstUse,
        &config(),
    )
    .unwrap()
    .to_bytes()
    .unwrap();
    let mut honest = forged[..forged.len() - 16 - 4 - body.len() - 1].to_vec();
    let body = &listed[2..listed.len() - 16];
    honest.push(listed[1]);
    honest.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    honest.extend_from_slice(body);
    let check = Sha256::digest(&honest);
    honest.extend_from_slice(&check[..16]);
    assert_eq!(Contact::from_bytes(&honest).unwrap().session_count(), 1);
    // Sessions without a one-time prekey, and X3DH ones, round-trip too.
    let mut plain = Contact::new(DeviceListView::new(bob.lists[0].clone()));
    for (i, (_, device)) in bob.devices.iter().enumerate() {
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(&mut r, device, T0);
        let classical = Config::new(CONTEXT).allow_classical();
        if i == 0 {
            store.rotate_kem_prekey(&mut r, device, T0);
        }
        let bundle = store.bundle(device, None).unwrap();
        plain.initiate(&mut r, &alice, &bundle, &classical).unwrap();
    }
    let plain_blob = plain.to_bytes().unwrap();
    assert_eq!(
        Contact::from_bytes(&plain_blob)
            .unwrap()
            .to_bytes()
            .unwrap(),
        plain_blob
    );
    // Every truncation is an error, never a panic.
    for cut in 0..blob.len() {
        assert!(Contact::from_bytes(&blob[..cut]).is_err());
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// The server serves the honest list with this index.
    Serve(usize),
    /// The server hands out a ghost's bundle under the account.
    GhostBundle,
    /// The account adds or removes a device and the server serves the result.
    Change(bool),
    /// Alice sends.
    Send,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        any::<usize>().prop_map(Step::Serve),
        Just(Step::GhostBundle),
        any::<bool>().prop_map(Step::Change),
        Just(Step::Send),
    ]
}

proptest! {
    #![proptest_config(proptest_config(24))]

    /// Whatever the server serves, every message Alice's contact produces goes to a device
    /// that is on the newest list the account signed and Alice accepted, and to no device the
    /// account did not sign (the oracle: the account's own memberships and the view's list).
    #[test]
    fn no_server_sequence_makes_a_contact_encrypt_to_an_unsigned_or_removed_device(
        seed in any::<u8>(),
        steps in proptest::collection::vec(step(), 1..10),
    ) {
        let mut r = rng(seed);
        let mut bob = Account::new(&mut r, 2);
        let alice = IdentityKeyPair::generate(&mut r);
        let (mut contact, _) = alice_with_sessions(&mut r, &bob, &alice);
        let ghost = IdentityKeyPair::generate(&mut r);
        let mut next_id = 3;
        for s in steps {
            match s {
                Step::Serve(i) => {
                    let list = bob.lists[i % bob.lists.len()].clone();
                    let _ = contact.update(&[list]);
                }
                Step::GhostBundle => {
                    let (_, bundle) = publish(&mut r, &ghost);
                    prop_assert_eq!(
                        contact.initiate(&mut r, &alice, &bundle, &config()).unwrap_err(),
                        Error::UnknownDevice
                    );
                }
                Step::Change(add) => {
                    let list = if add || bob.devices.len() == 1 {
                        next_id += 1;
                        bob.add(&mut r, next_id)
                    } else {
                        let id = bob.devices[0].0;
                        bob.remove(id)
                    };
                    contact.update(&[list]).unwrap();
                    let missing: Vec<_> = contact.devices_without_session().cloned().collect();
                    for d in missing {
                        let device = &bob.devices.iter().find(|(id, _)| *id == d.device_id()).unwrap().1;
                        let (_, bundle) = publish(&mut r, device);
                        contact.initiate(&mut r, &alice, &bundle, &config()).unwrap();
                    }
                }
                Step::Send => {
                    let out = contact.send(&mut r, T0, b"m").unwrap();
                    let listed = contact.view().current().devices();
                    prop_assert_eq!(out.len(), contact.session_count());
                    for o in &out {
                        prop_assert!(listed.iter().any(|d| d.device_id() == o.device_id && *d.identity() == o.identity));
                        prop_assert!(o.identity != *ghost.public());
                        // Signed by the account and current: the account's own device set now
                        // (Alice may lag behind by unserved lists, never ahead).
                        prop_assert!(bob.lists.iter().any(|l| l.device(&o.identity).is_some()));
                    }
                }
            }
            for d in contact.view().current().devices() {
                prop_assert!(bob.lists.iter().any(|l| l.device(d.identity()).is_some_and(|e| e.device_id() == d.device_id())));
            }
        }
    }
}
