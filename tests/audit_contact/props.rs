//! Claim 1 as a property: whatever a hostile server serves — old, current and new lists in any
//! order, ghosts' bundles and sealed messages, removed devices' messages, devices that change
//! ids — and whenever the application reloads the contact from its blob, every message the
//! contact produces goes to a device on a list the account signed and the contact accepted,
//! and every session it holds is with a listed device, one per device.

use proptest::prelude::*;
use xchat_protocol::account::Contact;
use xchat_protocol::{IdentityKeyPair, PreKeyStore, SealedSenderError, Session, Trust};

use crate::common::proptest_config;
use crate::support::{Account, Device, Operator, T0, bytes, config, rng};

#[derive(Debug, Clone)]
enum Step {
    Serve(usize),
    ServeFrom(usize),
    Add,
    Remove(usize),
    Move(usize),
    InitiateMissing,
    GhostBundle,
    GhostSealed(u32),
    RemovedSealed,
    DeviceSealed(usize),
    Send,
    Reload,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        any::<usize>().prop_map(Step::Serve),
        any::<usize>().prop_map(Step::ServeFrom),
        Just(Step::Add),
        any::<usize>().prop_map(Step::Remove),
        any::<usize>().prop_map(Step::Move),
        Just(Step::InitiateMissing),
        Just(Step::GhostBundle),
        (0u32..8).prop_map(Step::GhostSealed),
        Just(Step::RemovedSealed),
        any::<usize>().prop_map(Step::DeviceSealed),
        Just(Step::Send),
        Just(Step::Reload),
    ]
}

fn invariant(c: &Contact, bob: &Account) -> Result<(), TestCaseError> {
    let current = c.view().current();
    prop_assert!(bob.lists.iter().any(|l| l == current), "a list Bob signed");
    let mut with_session = 0;
    for d in current.devices() {
        if let Some(s) = c.session(d.device_id()) {
            prop_assert_eq!(s.remote_identity(), d.identity());
            with_session += 1;
        }
    }
    prop_assert_eq!(with_session, c.session_count(), "a session off the list");
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config(24))]

    #[test]
    fn holds_no_hostile_sequence_reaches_an_unlisted_device(
        seed in any::<u8>(),
        steps in proptest::collection::vec(step(), 1..14),
    ) {
        let mut r = rng(seed);
        let op = Operator::new(&mut r);
        let mut bob = Account::new(&mut r, 2);
        let alice = IdentityKeyPair::generate(&mut r);
        let mut alice_store = PreKeyStore::new();
        alice_store.rotate_signed_prekey(&mut r, &alice, T0);
        alice_store.rotate_kem_prekey(&mut r, &alice, T0);
        let ghost = Device::new(&mut r, 99);
        let mut removed: Vec<Device> = Vec::new();
        let mut c = bob.contact();
        let mut next_id = 3;
        for s in steps {
            match s {
                Step::Serve(i) => {
                    let l = bob.lists[i % bob.lists.len()].clone();
                    let _ = c.update(&[l]);
                }
                Step::ServeFrom(i) => {
                    let from = i % bob.lists.len();
                    let _ = c.update(&bob.lists[from..]);
                }
                Step::Add => {
                    let l = bob.add(Device::new(&mut r, next_id));
                    next_id += 1;
                    c.update(&[l]).unwrap();
                }
                Step::Remove(i) => {
                    if bob.devices.len() > 1 {
                        let id = bob.devices[i % bob.devices.len()].id;
                        let (gone, l) = bob.remove(id);
                        removed.push(gone);
                        let _ = c.update(&[l]);
                    }
                }
                Step::Move(i) => {
                    let k = i % bob.devices.len();
                    bob.devices[k].id = next_id;
                    next_id += 1;
                    let l = bob.publish();
                    let _ = c.update(&[l]);
                }
                Step::InitiateMissing => {
                    let missing: Vec<u32> = c.devices_without_session().map(|d| d.device_id()).collect();
                    for id in missing {
                        // The contact may lag behind Bob: its ids are those of its own list.
                        let entry = *c.view().current().devices().iter().find(|d| d.device_id() == id).unwrap();
                        let dev = bob.devices.iter().chain(removed.iter())
                            .find(|d| d.key.public() == entry.identity()).unwrap();
                        prop_assert_eq!(c.initiate(&mut r, &alice, &dev.bundle(None), &config()).unwrap(), id);
                    }
                }
                Step::GhostBundle => {
                    let before = bytes(&c);
                    prop_assert!(c.initiate(&mut r, &alice, &ghost.bundle(None), &config()).is_err());
                    prop_assert_eq!(bytes(&c), before);
                }
                Step::GhostSealed(id) => {
                    let mut s = Session::initiate(&mut r, &ghost.key, &alice_store.bundle(&alice, None).unwrap(), Trust::FirstUse, &config()).unwrap();
                    let env = op.sealed_send(&mut r, &ghost.key, b"bob", id, &mut s, b"boo");
                    let before = (bytes(&c), alice_store.to_bytes().unwrap());
                    prop_assert_eq!(c.receive(&op.open(&alice, &env), &alice, &mut alice_store, &config()).unwrap_err(), SealedSenderError::UnknownDevice);
                    prop_assert_eq!((bytes(&c), alice_store.to_bytes().unwrap()), before);
                }
                Step::RemovedSealed => {
                    let listed = |d: &Device| c.view().check_device(d.key.public()).is_ok();
                    if let Some(d) = removed.iter().find(|d| !listed(d)) {
                        let mut s = Session::initiate(&mut r, &d.key, &alice_store.bundle(&alice, None).unwrap(), Trust::FirstUse, &config()).unwrap();
                        let env = op.sealed_send(&mut r, &d.key, b"bob", d.id, &mut s, b"old");
                        prop_assert_eq!(c.receive(&op.open(&alice, &env), &alice, &mut alice_store, &config()).unwrap_err(), SealedSenderError::UnknownDevice);
                    }
                }
                Step::DeviceSealed(i) => {
                    let d = &bob.devices[i % bob.devices.len()];
                    let mut s = Session::initiate(&mut r, &d.key, &alice_store.bundle(&alice, None).unwrap(), Trust::FirstUse, &config()).unwrap();
                    let env = op.sealed_send(&mut r, &d.key, b"bob", d.id, &mut s, b"hi");
                    let got = c.receive(&op.open(&alice, &env), &alice, &mut alice_store, &config());
                    // Delivered exactly when the contact's list has it under that id.
                    let listed = c.view().current().devices().iter().any(|e| e.identity() == d.key.public() && e.device_id() == d.id);
                    prop_assert_eq!(got.is_ok(), listed, "{:?}", got.err());
                }
                Step::Send => {
                    let out = c.send(&mut r, T0, b"m").unwrap();
                    prop_assert_eq!(out.len(), c.session_count());
                    let ids: Vec<u32> = out.iter().map(|o| o.device_id).collect();
                    let mut sorted = ids.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    prop_assert_eq!(&ids, &sorted, "list order, once each");
                    for o in &out {
                        prop_assert!(c.view().current().devices().iter().any(|d| d.device_id() == o.device_id && *d.identity() == o.identity));
                        prop_assert!(o.identity != *ghost.key.public());
                    }
                }
                Step::Reload => {
                    let blob = bytes(&c);
                    c = Contact::from_bytes(&blob).unwrap();
                    prop_assert_eq!(bytes(&c), blob);
                }
            }
            invariant(&c, &bob)?;
        }
    }
}
