//! Device lists as attacks (SPEC.md §15.1–§15.2): a server that adds a ghost device, rolls a
//! list back, forks the history, skips a list or serves another account key's list is refused
//! with its own error and changes nothing; removal stops all sending; every change is an event.

use xchat_protocol::account::{
    AccountError, AccountEvent, AccountKeyPair, DeviceEntry, DeviceList, DeviceListView,
    MAX_DEVICES,
};
use xchat_protocol::{DecodeError, IdentityKeyPair};

use crate::support::{Account, T0, rng};

#[test]
fn a_list_round_trips_and_every_signature_is_checked() {
    let mut r = rng(10);
    let bob = Account::new(&mut r, 3);
    let list = &bob.lists[0];
    let bytes = list.to_bytes();
    assert_eq!(
        bytes.len(),
        1 + 32 + 8 + 32 + 8 + 2 + 3 * DeviceEntry::LEN + 64
    );
    assert_eq!(&DeviceList::from_bytes(&bytes).unwrap(), list);
    assert_eq!(list.sequence(), 1);
    assert_eq!(list.previous_hash(), &[0; 32]);
    // Any single flipped bit is refused, with a typed error.
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        assert!(DeviceList::from_bytes(&bad).is_err(), "byte {i}");
    }
    // The account signature and the membership signatures are told apart.
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    assert_eq!(
        DeviceList::from_bytes(&bad).unwrap_err(),
        AccountError::InvalidSignature
    );
    let mut bad = bytes.clone();
    bad[83 + 44 + 10] ^= 0x01; // inside the first device's membership signature
    assert_eq!(
        DeviceList::from_bytes(&bad).unwrap_err(),
        AccountError::InvalidDeviceList
    );
    // Truncations and a trailing byte.
    for cut in [0, 1, 40, 82, 83, bytes.len() - 1] {
        assert!(matches!(
            DeviceList::from_bytes(&bytes[..cut]).unwrap_err(),
            AccountError::Decode(_)
        ));
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        DeviceList::from_bytes(&long).unwrap_err(),
        AccountError::Decode(DecodeError::TrailingBytes)
    );
}

#[test]
fn a_ghost_device_is_refused_however_the_server_slips_it_in() {
    let mut r = rng(11);
    let bob = Account::new(&mut r, 2);
    let view = DeviceListView::new(bob.lists[0].clone());
    let ghost = IdentityKeyPair::generate(&mut r);
    // Not on the list: no message for it.
    assert_eq!(
        view.check_device(ghost.public()).unwrap_err(),
        AccountError::UnknownDevice
    );
    for (_, d) in &bob.devices {
        view.check_device(d.public()).unwrap();
    }
    // The server cannot sign a list with the ghost: it lacks the account key. A list made under
    // its own key is another account's.
    let server_key = AccountKeyPair::generate(&mut r);
    let mut entries: Vec<_> = bob
        .devices
        .iter()
        .map(|(id, d)| DeviceEntry::sign(d, server_key.public(), *id, T0))
        .collect();
    entries.push(DeviceEntry::sign(&ghost, server_key.public(), 9, T0));
    let forged = DeviceList::first(&server_key, entries, T0).unwrap();
    let mut v = view.clone();
    assert_eq!(v.update(&[forged]), Err(AccountError::WrongAccount));
    assert_eq!(v, view, "nothing changed");
    // The ghost's membership under Bob's account, but a list the account key never signed:
    // splice the entry into Bob's own list bytes.
    let entry = DeviceEntry::sign(&ghost, bob.key.public(), 9, T0);
    let mut bytes = bob.lists[0].to_bytes();
    let n_at = 1 + 32 + 8 + 32 + 8;
    bytes[n_at + 1] += 1;
    let sig_at = bytes.len() - 64;
    let mut raw = vec![];
    raw.extend_from_slice(&9u32.to_be_bytes());
    raw.extend_from_slice(entry.identity().as_bytes());
    raw.extend_from_slice(&T0.to_be_bytes());
    raw.extend_from_slice(&[0; 64]);
    bytes.splice(sig_at..sig_at, raw);
    assert!(DeviceList::from_bytes(&bytes).is_err());
    // A device the account key listed without the device's own membership signature (a
    // membership made for another account) never makes a list.
    let stolen = DeviceEntry::sign(&ghost, server_key.public(), 9, T0);
    let mut entries: Vec<_> = bob
        .devices
        .iter()
        .map(|(id, d)| DeviceEntry::sign(d, bob.key.public(), *id, T0))
        .collect();
    entries.push(stolen);
    assert_eq!(
        bob.lists[0].next(&bob.key, entries, T0).unwrap_err(),
        AccountError::InvalidDeviceList
    );
}

#[test]
fn rollback_fork_gap_and_foreign_keys_are_each_refused_and_change_nothing() {
    let mut r = rng(12);
    let mut bob = Account::new(&mut r, 1);
    let l2 = bob.add(&mut r, 2);
    let l3 = bob.add(&mut r, 3);
    let mut view = DeviceListView::new(bob.lists[0].clone());
    view.update(std::slice::from_ref(&l2)).unwrap();
    let before = view.clone();
    // Rollback: the first list again.
    assert_eq!(
        view.update(&[bob.lists[0].clone()]),
        Err(AccountError::Rollback)
    );
    // Fork: another list with sequence 2, properly signed by Bob's key (a second history).
    let other = bob.lists[0]
        .next(
            &bob.key,
            vec![DeviceEntry::sign(
                &bob.devices[0].1,
                bob.key.public(),
                1,
                T0,
            )],
            T0 + 99,
        )
        .unwrap();
    assert_eq!(other.sequence(), 2);
    assert_eq!(
        view.update(std::slice::from_ref(&other)),
        Err(AccountError::Fork)
    );
    // Fork: a list 3 that follows the other history.
    let other3 = other
        .next(
            &bob.key,
            vec![DeviceEntry::sign(
                &bob.devices[0].1,
                bob.key.public(),
                1,
                T0,
            )],
            T0 + 100,
        )
        .unwrap();
    assert_eq!(view.update(&[other3]), Err(AccountError::Fork));
    // Gap: list 4 without list 3.
    let l4 = bob.add(&mut r, 4);
    assert_eq!(
        view.update(std::slice::from_ref(&l4)),
        Err(AccountError::Gap)
    );
    // A valid chain with a bad list at its end changes nothing either.
    assert_eq!(
        view.update(&[l3.clone(), l4.clone(), bob.lists[0].clone()]),
        Err(AccountError::Rollback)
    );
    assert_eq!(view, before, "every refused update changed nothing");
    // The honest chain moves forward; repeats are skipped.
    let events = view.update(&[l2, l3, l4.clone(), l4]).unwrap();
    assert_eq!(view.current().sequence(), 4);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| matches!(e, AccountEvent::DeviceAdded { device_id, .. } if *device_id >= 3))
    );
}

#[test]
fn removal_stops_all_sending_and_is_an_event() {
    let mut r = rng(13);
    let mut bob = Account::new(&mut r, 3);
    let mut view = DeviceListView::new(bob.lists[0].clone());
    let removed = *bob.devices[1].1.public();
    let l2 = bob.remove(2);
    let events = view.update(&[l2]).unwrap();
    assert_eq!(
        events,
        vec![AccountEvent::DeviceRemoved {
            device_id: 2,
            identity: removed
        }]
    );
    assert_eq!(
        view.check_device(&removed).unwrap_err(),
        AccountError::UnknownDevice
    );
    // The removed device's sealed-sender certificate no longer passes either.
    let server = xchat_protocol::CertificateKeyPair::generate(&mut r);
    let root = xchat_protocol::CertificateKeyPair::generate(&mut r);
    let server_cert = root.certify_server(1, &server.public());
    let cert = server
        .certify_sender(&server_cert, b"bob", 2, &removed, T0 * 2)
        .unwrap();
    assert_eq!(
        view.check_sender(&cert).unwrap_err(),
        AccountError::UnknownDevice
    );
    let kept = *bob.devices[0].1.public();
    let cert = server
        .certify_sender(&server_cert, b"bob", 1, &kept, T0 * 2)
        .unwrap();
    view.check_sender(&cert).unwrap();
    // The right identity under another device id is not the listed device.
    let cert = server
        .certify_sender(&server_cert, b"bob", 7, &kept, T0 * 2)
        .unwrap();
    assert_eq!(
        view.check_sender(&cert).unwrap_err(),
        AccountError::UnknownDevice
    );
}

#[test]
fn a_new_account_key_needs_the_users_confirmation() {
    let mut r = rng(14);
    let bob = Account::new(&mut r, 1);
    let reinstalled = Account::new(&mut r, 1);
    let mut view = DeviceListView::new(bob.lists[0].clone());
    assert_eq!(
        view.update(&[reinstalled.lists[0].clone()]),
        Err(AccountError::WrongAccount)
    );
    let events = view
        .accept_new_account_key(reinstalled.lists[0].clone())
        .unwrap();
    assert!(matches!(
        events[0],
        AccountEvent::AccountKeyChanged { old, new }
            if old == *bob.key.public() && new == *reinstalled.key.public()
    ));
    assert_eq!(
        events.len(),
        3,
        "key changed, old device removed, new added"
    );
    assert_eq!(view.account(), reinstalled.key.public());
}

#[test]
fn list_rules_are_enforced_when_making_one() {
    let mut r = rng(15);
    let key = AccountKeyPair::generate(&mut r);
    let d = IdentityKeyPair::generate(&mut r);
    assert_eq!(
        DeviceList::first(&key, vec![], T0).unwrap_err(),
        AccountError::InvalidDeviceList
    );
    let twice = vec![
        DeviceEntry::sign(&d, key.public(), 1, T0),
        DeviceEntry::sign(&d, key.public(), 2, T0),
    ];
    assert_eq!(
        DeviceList::first(&key, twice, T0).unwrap_err(),
        AccountError::InvalidDeviceList,
        "one identity, two ids"
    );
    let e = IdentityKeyPair::generate(&mut r);
    let same_id = vec![
        DeviceEntry::sign(&d, key.public(), 1, T0),
        DeviceEntry::sign(&e, key.public(), 1, T0),
    ];
    assert_eq!(
        DeviceList::first(&key, same_id, T0).unwrap_err(),
        AccountError::InvalidDeviceList
    );
    let many: Vec<_> = (0..=MAX_DEVICES as u32)
        .map(|i| DeviceEntry::sign(&IdentityKeyPair::generate(&mut r), key.public(), i, T0))
        .collect();
    assert_eq!(
        DeviceList::first(&key, many, T0).unwrap_err(),
        AccountError::InvalidDeviceList
    );
    // Only the account's own key continues its list.
    let list =
        DeviceList::first(&key, vec![DeviceEntry::sign(&d, key.public(), 1, T0)], T0).unwrap();
    let other = AccountKeyPair::generate(&mut r);
    assert_eq!(
        list.next(
            &other,
            vec![DeviceEntry::sign(&d, other.public(), 1, T0)],
            T0
        )
        .unwrap_err(),
        AccountError::WrongAccount
    );
}
