//! `DeviceListView`: chains with a fork in the middle, foreign previous hashes, huge batches,
//! exact events, the key-change path and `check_sender`.

use xchat_protocol::account::{
    AccountError, AccountEvent, DeviceEntry, DeviceList, DeviceListView,
};
use xchat_protocol::{CertificateKeyPair, IdentityKeyPair};

use crate::craft::{Acct, T0, list_bytes, rng};

#[test]
fn held_a_previous_hash_from_another_account_is_a_fork() {
    let mut r = rng(20);
    let a = Acct::new(&mut r, 1);
    let b = Acct::new(&mut r, 1);
    let a1 = a.first();
    let b1 = b.first();
    // B's list 2 names A's list 1 as its previous.
    let b2 = DeviceList::from_bytes(&list_bytes(&b.key, 2, &a1.hash(), &b.raw())).unwrap();
    let mut vb = DeviceListView::new(b1.clone());
    assert_eq!(
        vb.update(std::slice::from_ref(&b2)),
        Err(AccountError::Fork)
    );
    let mut va = DeviceListView::new(a1.clone());
    assert_eq!(va.update(&[b2]), Err(AccountError::WrongAccount));
    assert_eq!(vb.current(), &b1);
    assert_eq!(va.current(), &a1);
}

#[test]
fn held_a_fork_in_the_middle_of_a_chain_is_refused_and_changes_nothing() {
    let mut r = rng(21);
    let mut a = Acct::new(&mut r, 1);
    let l1 = a.first();
    let l2 = a.next(&l1, T0 + 2);
    a.devices.push((2, IdentityKeyPair::generate(&mut r)));
    let f2 = a.next(&l1, T0 + 20); // the other history's list 2 (with device 2)
    let f3 = a.next(&f2, T0 + 30); // correctly chained after f2
    let f4 = a.next(&f3, T0 + 40);
    let mut v = DeviceListView::new(l1.clone());
    v.update(std::slice::from_ref(&l2)).unwrap();
    let before = v.clone();
    for batch in [
        vec![f3.clone(), f4.clone()],
        vec![l2.clone(), f3.clone(), f4.clone()],
        vec![f2.clone(), f3.clone()],
        vec![l2.clone(), f2.clone()],
    ] {
        assert_eq!(v.update(&batch), Err(AccountError::Fork));
        assert_eq!(v, before);
    }
    // A view that only saw list 1 follows the other history — it never saw l2 (no way to tell).
    let mut fresh = DeviceListView::new(l1);
    assert_eq!(fresh.update(&[f2, f3, f4.clone()]).unwrap().len(), 1);
    assert_eq!(fresh.current(), &f4);
}

#[test]
fn held_equal_sequence_other_previous_or_time_is_a_fork() {
    let mut r = rng(22);
    let a = Acct::new(&mut r, 1);
    let l1 = a.first();
    let l2 = a.next(&l1, T0 + 1);
    let l2_other_prev = DeviceList::from_bytes(&list_bytes(&a.key, 2, &[9; 32], &a.raw())).unwrap();
    let l2_other_time = a.next(&l1, T0 + 2);
    let mut v = DeviceListView::new(l2.clone());
    assert_eq!(v.update(&[l2_other_prev]), Err(AccountError::Fork));
    assert_eq!(v.update(&[l2_other_time]), Err(AccountError::Fork));
    assert_eq!(v.current(), &l2);
}

#[test]
fn held_huge_batches_do_not_panic_and_a_bad_tail_changes_nothing() {
    let mut r = rng(23);
    let a = Acct::new(&mut r, 2);
    let l1 = a.first();
    let l2 = a.next(&l1, T0 + 1);
    let mut v = DeviceListView::new(l1.clone());
    let mut batch = vec![l1.clone(); 200_000];
    assert_eq!(v.update(&batch), Ok(vec![]));
    batch.push(l2.clone());
    batch.extend(std::iter::repeat_n(l2.clone(), 200_000));
    batch.push(l1.clone());
    assert_eq!(v.update(&batch), Err(AccountError::Rollback));
    assert_eq!(v.current(), &l1);
    batch.pop();
    assert_eq!(v.update(&batch), Ok(vec![]));
    assert_eq!(v.current(), &l2);
}

#[test]
fn held_events_are_exact_for_moves_replacements_and_key_changes() {
    let mut r = rng(24);
    let mut a = Acct::new(&mut r, 3);
    let l1 = a.first();
    let d1 = *a.devices[0].1.public();
    let d2 = *a.devices[1].1.public();
    let d3 = *a.devices[2].1.public();
    // Device 1's identity moves to id 7; device 2 gets a new identity under id 2; 3 stays.
    a.devices[0].0 = 7;
    let n2 = IdentityKeyPair::generate(&mut r);
    let n2p = *n2.public();
    a.devices[1].1 = n2;
    let l2 = a.next(&l1, T0 + 1);
    let mut v = DeviceListView::new(l1.clone());
    let ev = v.update(std::slice::from_ref(&l2)).unwrap();
    assert_eq!(
        ev,
        vec![
            AccountEvent::DeviceRemoved {
                device_id: 1,
                identity: d1
            },
            AccountEvent::DeviceRemoved {
                device_id: 2,
                identity: d2
            },
            AccountEvent::DeviceAdded {
                device_id: 2,
                identity: n2p
            },
            AccountEvent::DeviceAdded {
                device_id: 7,
                identity: d1
            },
        ]
    );
    assert!(
        !ev.iter()
            .any(|e| format!("{e:?}").contains(&format!("{d3:?}")))
    );
    // The same list under a new key (a reinstalled account keeping its devices): only the key
    // event, no device events.
    let b = Acct {
        key: xchat_protocol::account::AccountKeyPair::generate(&mut r),
        devices: a
            .devices
            .iter()
            .map(|(i, d)| (*i, IdentityKeyPair::from_seed(&d.seed())))
            .collect(),
    };
    let k2 = b.first();
    let ev = v.accept_new_account_key(k2).unwrap();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(matches!(ev[0], AccountEvent::AccountKeyChanged { .. }));
}

/// Net changes only: a device added in one list and removed in the next is never shown.
#[test]
fn known_limit_events_are_the_net_difference_of_a_batch() {
    let mut r = rng(25);
    let mut a = Acct::new(&mut r, 1);
    let l1 = a.first();
    a.devices.push((2, IdentityKeyPair::generate(&mut r)));
    let l2 = a.next(&l1, T0 + 1);
    a.devices.pop();
    let l3 = a.next(&l2, T0 + 2);
    let mut v = DeviceListView::new(l1);
    assert_eq!(v.update(&[l2, l3]).unwrap(), vec![]);
}

/// FIXED (was low): `accept_new_account_key` with a list under the *same* account key bypassed
/// every chain check: it silently rolled the view back to any older list (here re-listing a
/// device the account removed), with no `AccountKeyChanged` event and no error. Now a list under
/// the key the view holds goes through `update`'s checks: `Rollback`, and nothing changes.
#[test]
fn fixed_accept_new_account_key_with_the_same_key_cannot_roll_back() {
    let mut r = rng(26);
    let mut a = Acct::new(&mut r, 2);
    let l1 = a.first();
    let removed = *a.devices[1].1.public();
    a.devices.pop();
    let l2 = a.next(&l1, T0 + 1);
    let mut v = DeviceListView::new(l1.clone());
    v.update(&[l2]).unwrap();
    let before = v.clone();
    assert_eq!(
        v.update(std::slice::from_ref(&l1)),
        Err(AccountError::Rollback)
    );
    assert_eq!(v.accept_new_account_key(l1), Err(AccountError::Rollback));
    assert_eq!(v, before);
    assert_eq!(v.current().sequence(), 2);
    assert_eq!(
        v.check_device(&removed).unwrap_err(),
        AccountError::UnknownDevice
    );
}

/// After a key change the old key's history is forgotten: if the old key is replayed and the
/// user confirms again, any old list of it (even one already superseded) is taken; and a view
/// is trust-on-first-use and has no freshness (a server that withholds the newest list keeps a
/// sender on an older one, removed devices included): `issued_at` is never checked.
#[test]
fn known_limit_no_freshness_and_key_changes_forget_history() {
    let mut r = rng(27);
    let mut a = Acct::new(&mut r, 2);
    let l1 = a.first();
    let removed = *a.devices[1].1.public();
    a.devices.pop();
    let l2 = a.next(&l1, T0 + 1);
    // A first contact shown l1 (stale) keeps sending to the removed device until told.
    let v = DeviceListView::new(l1.clone());
    v.check_device(&removed).unwrap();
    let mut v = DeviceListView::new(l2);
    let k2 = Acct::new(&mut r, 1).first();
    let _ = v.accept_new_account_key(k2);
    assert_eq!(
        v.update(std::slice::from_ref(&l1)),
        Err(AccountError::WrongAccount)
    );
    let _ = v.accept_new_account_key(l1);
    v.check_device(&removed).unwrap();
}

#[test]
fn held_check_sender_binds_identity_to_its_listed_id() {
    let mut r = rng(28);
    let a = Acct::new(&mut r, 2);
    let v = DeviceListView::new(a.first());
    let root = CertificateKeyPair::generate(&mut r);
    let server = CertificateKeyPair::generate(&mut r);
    let sc = root.certify_server(1, &server.public());
    let d1 = *a.devices[0].1.public();
    let d2 = *a.devices[1].1.public();
    // Device 1's id with device 2's identity and the reverse: neither is a listed pair.
    for (id, ident) in [(1, d2), (2, d1), (0, d1), (u32::MAX, d2)] {
        let c = server
            .certify_sender(&sc, b"bob", id, &ident, T0 * 2)
            .unwrap();
        assert_eq!(v.check_sender(&c).unwrap_err(), AccountError::UnknownDevice);
    }
    // A device on another account's list, under the same id.
    let other = Acct::new(&mut r, 1);
    let c = server
        .certify_sender(&sc, b"bob", 1, other.devices[0].1.public(), T0 * 2)
        .unwrap();
    assert_eq!(v.check_sender(&c).unwrap_err(), AccountError::UnknownDevice);
    let c = server.certify_sender(&sc, b"bob", 2, &d2, T0 * 2).unwrap();
    assert_eq!(v.check_sender(&c).unwrap().identity(), &d2);
}

/// `check_sender` ignores the certificate's address: a certificate naming another address for a
/// listed device passes. Safe only if the app picks the view by its own contact, not by the
/// certificate's address, and shows the view's account as the sender.
#[test]
fn known_limit_check_sender_does_not_bind_the_address() {
    let mut r = rng(29);
    let a = Acct::new(&mut r, 1);
    let v = DeviceListView::new(a.first());
    let root = CertificateKeyPair::generate(&mut r);
    let server = CertificateKeyPair::generate(&mut r);
    let sc = root.certify_server(1, &server.public());
    let c = server
        .certify_sender(&sc, b"mallory", 1, a.devices[0].1.public(), T0 * 2)
        .unwrap();
    v.check_sender(&c).unwrap();
}

#[test]
fn held_a_membership_entry_is_bound_through_next_too() {
    // `next` refuses an entry whose membership names another account, id or time (the crafted
    // DeviceEntry path: entries are only made by `sign`, so a moved one keeps its fields).
    let mut r = rng(30);
    let a = Acct::new(&mut r, 1);
    let other = Acct::new(&mut r, 1);
    let l1 = a.first();
    let foreign = DeviceEntry::sign(&a.devices[0].1, other.key.public(), 1, T0);
    assert_eq!(
        l1.next(&a.key, vec![foreign], T0).unwrap_err(),
        AccountError::InvalidDeviceList
    );
}

/// SPEC.md §15 says the account key is "distinct from every device's identity key", but nothing
/// enforces it: a list whose account key is one of its own devices' identities is accepted.
#[test]
fn known_limit_account_key_equal_to_a_device_identity_is_not_refused() {
    let mut r = rng(31);
    let dev = IdentityKeyPair::generate(&mut r);
    let key = xchat_protocol::account::AccountKeyPair::from_seed(&dev.seed());
    let e = DeviceEntry::sign(&dev, key.public(), 1, T0);
    let l = DeviceList::first(&key, vec![e], T0).unwrap();
    assert_eq!(DeviceList::from_bytes(&l.to_bytes()).unwrap(), l);
    assert_eq!(key.public().as_bytes(), dev.public().as_bytes());
}
