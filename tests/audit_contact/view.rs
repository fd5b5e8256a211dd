//! The contact's view of the device list (SPEC.md §15.1–§15.3) as the contact moves it:
//! failed updates, identities that change ids, batches, and account-key changes.

use xchat_protocol::account::{
    AccountError, AccountEvent, AccountKeyPair, DeviceEntry, DeviceList,
};
use xchat_protocol::{Error, IdentityKeyPair};

use crate::support::{Account, Device, Operator, T0, bytes, config, copy, rng};

/// Alice's contact for `bob` with a session to each of its devices.
fn with_sessions(
    r: &mut rand_chacha::ChaCha20Rng,
    bob: &Account,
    alice: &IdentityKeyPair,
) -> xchat_protocol::account::Contact {
    let mut c = bob.contact();
    for d in &bob.devices {
        c.initiate(r, alice, &d.bundle(None), &config()).unwrap();
    }
    c
}

#[test]
fn holds_a_failed_update_or_key_change_drops_no_session() {
    let mut r = rng(40);
    let mut bob = Account::new(&mut r, 3);
    let alice = IdentityKeyPair::generate(&mut r);
    let l1 = bob.last();
    let mut c = with_sessions(&mut r, &bob, &alice);
    let (_, l2) = bob.remove(2);
    let l3 = bob.publish();
    let other = Account::new(&mut r, 1);
    let before = bytes(&c);
    for (batch, err) in [
        (vec![l2.clone(), l1.clone()], AccountError::Rollback),
        (vec![l3.clone()], AccountError::Gap),
        (vec![l2.clone(), other.last()], AccountError::WrongAccount),
        (
            vec![
                l2.clone(),
                l2.next(&bob.key, bob.entries(), 9).unwrap(),
                l3.clone(),
            ],
            AccountError::Fork,
        ),
    ] {
        assert_eq!(c.update(&batch), Err(err));
        assert_eq!(bytes(&c), before, "{err:?}");
        assert_eq!(c.session_count(), 3);
    }
    // Under the key held, `accept_new_account_key` is an update: no rollback through it.
    c.update(std::slice::from_ref(&l2)).unwrap();
    let before = bytes(&c);
    assert_eq!(c.accept_new_account_key(l1), Err(AccountError::Rollback));
    assert_eq!(bytes(&c), before);
    // A list under another key cannot carry Bob's devices: their memberships name Bob's key.
    let mallory = AccountKeyPair::generate(&mut r);
    let borrowed = DeviceEntry::sign(&bob.device(1).key, bob.key.public(), 1, T0);
    assert_eq!(
        DeviceList::first(&mallory, vec![borrowed], T0).unwrap_err(),
        AccountError::InvalidDeviceList
    );
}

#[test]
fn holds_a_new_identity_under_an_old_id_drops_the_old_session() {
    let mut r = rng(41);
    let mut bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut c = with_sessions(&mut r, &bob, &alice);
    let old = *bob.device(2).key.public();
    // Forget device 2 without publishing (the list that removes it is dropped again)...
    let _ = bob.remove(2);
    bob.lists.pop();
    // ...so that the next list replaces its identity in one step.
    let l2 = bob.add(Device::new(&mut r, 2));
    let events = c.update(&[l2]).unwrap();
    assert!(events.contains(&AccountEvent::DeviceRemoved {
        device_id: 2,
        identity: old
    }));
    assert_eq!(c.session_count(), 1);
    assert!(c.session(2).is_none());
    let out = c.send(&mut r, T0, b"x").unwrap();
    assert!(out.iter().all(|o| o.identity != old));
}

/// Finding (informational): when a list moves an identity to another device id, the view
/// reports `DeviceRemoved { old id, X }` — documented as "nothing is sent to it any more" —
/// yet `Contact` keeps the session with X and goes on encrypting to it (now under the new id);
/// and X's sealed messages under its existing certificate (old id) are refused from then on.
/// An application that acts on the event (e.g. "Bob's phone was removed") is told the
/// opposite of what the contact does.
#[test]
fn broken_an_identity_moved_to_another_id_is_reported_removed_but_still_gets_messages() {
    let mut r = rng(42);
    let op = Operator::new(&mut r);
    let mut bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut c = with_sessions(&mut r, &bob, &alice);
    let x = *bob.device(1).key.public();
    bob.device_mut(1).id = 3;
    let l2 = bob.publish();
    let events = c.update(&[l2]).unwrap();
    assert!(events.contains(&AccountEvent::DeviceRemoved {
        device_id: 1,
        identity: x
    }));
    assert!(events.contains(&AccountEvent::DeviceAdded {
        device_id: 3,
        identity: x
    }));
    // "Removed", and still a recipient.
    assert_eq!(c.session_count(), 2);
    let out = c.send(&mut r, T0, b"after the move").unwrap();
    assert!(out.iter().any(|o| o.identity == x && o.device_id == 3));
    // Its certificate for device 1 no longer passes.
    let cert = op.certify(b"bob", 1, &bob.device(3).key);
    assert_eq!(
        c.view().check_sender(&cert).unwrap_err(),
        AccountError::UnknownDevice
    );
}

/// Finding (informational): whether a removal drops a session depends on how the server
/// batches the lists. A device removed in list 2 and listed again (same identity) in list 3
/// loses its session when the lists arrive one by one, but keeps the session established
/// before its removal when they arrive in one `update` — and no event says it was ever
/// removed. SPEC.md §12 item 29 says "a removal drops the session in the call that learns of
/// it".
#[test]
fn broken_a_removal_inside_one_batch_keeps_the_session_from_before_it() {
    let mut r = rng(43);
    let mut bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut seq = with_sessions(&mut r, &bob, &alice);
    let mut batch = with_sessions(&mut r, &bob, &alice);
    let (gone, l2) = bob.remove(2);
    let l3 = bob.add(gone);
    // One by one: dropped, and must be started again.
    seq.update(std::slice::from_ref(&l2)).unwrap();
    seq.update(std::slice::from_ref(&l3)).unwrap();
    assert_eq!(seq.session_count(), 1);
    // In one batch: the session from before the removal survives, with no event at all.
    let before = batch.session(2).unwrap().to_bytes().unwrap();
    let events = batch.update(&[l2, l3]).unwrap();
    assert!(events.is_empty());
    assert_eq!(batch.session_count(), 2);
    assert_eq!(batch.session(2).unwrap().to_bytes().unwrap(), before);
}

/// Finding (low): `accept_new_account_key` accepts *any* list under a key other than the one
/// held, so after a key change A → B it takes back a stale list of A — one A itself had
/// replaced — re-listing a device A removed (say a stolen phone). The library keeps nothing
/// of A's history once it moves to B. The user's confirmation is the only barrier, and the
/// safety number shown for that list is A's, the very number the user had verified before.
#[test]
fn broken_accepting_the_old_account_key_again_rolls_its_list_back() {
    let mut r = rng(44);
    let mut bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let a1 = bob.last(); // phone 1 and phone 2
    let mut c = with_sessions(&mut r, &bob, &alice);
    let (stolen, a2) = bob.remove(2); // phone 2 is stolen and removed
    c.update(&[a2]).unwrap();
    assert_eq!(c.session_count(), 1);
    // Bob moves to a new account key B, keeping phone 1.
    let new_key = AccountKeyPair::generate(&mut r);
    let keep = Device::with_key(&mut r, 1, copy(&bob.device(1).key));
    let b = Account::from_parts(new_key, vec![keep]);
    c.accept_new_account_key(b.last()).unwrap();
    // The server now serves A's first list again: reported as a foreign key…
    assert_eq!(
        c.update(std::slice::from_ref(&a1)),
        Err(AccountError::WrongAccount)
    );
    // …and accepted once the user confirms: the removed, stolen phone is listed again.
    let events = c.accept_new_account_key(a1).unwrap();
    assert!(matches!(events[0], AccountEvent::AccountKeyChanged { .. }));
    assert_eq!(c.view().current().sequence(), 1);
    let id = c
        .initiate(&mut r, &alice, &stolen.bundle(None), &config())
        .unwrap();
    assert_eq!(id, 2);
    assert!(
        c.send(&mut r, T0, b"to the thief")
            .unwrap()
            .iter()
            .any(|o| o.identity == *stolen.key.public())
    );
}

/// Finding (informational): SPEC.md §15 says the account key is "distinct from every device's
/// identity key"; nothing enforces it. A list whose device identity is the account key itself
/// is made and decoded without complaint.
#[test]
fn broken_the_account_key_may_be_a_device_identity() {
    let mut r = rng(45);
    let account = AccountKeyPair::generate(&mut r);
    let same = IdentityKeyPair::from_seed(&account.seed());
    assert_eq!(same.public().as_bytes(), account.public().as_bytes());
    let list = DeviceList::first(
        &account,
        vec![DeviceEntry::sign(&same, account.public(), 1, T0)],
        T0,
    )
    .unwrap();
    let back = DeviceList::from_bytes(&list.to_bytes()).unwrap();
    assert_eq!(
        back.devices()[0].identity().as_bytes(),
        account.public().as_bytes()
    );
}

#[test]
fn holds_a_ghost_bundle_is_refused_whatever_the_list_history() {
    let mut r = rng(46);
    let mut bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut c = with_sessions(&mut r, &bob, &alice);
    let ghost = Device::new(&mut r, 9);
    let (removed, l2) = bob.remove(1);
    c.update(&[l2]).unwrap();
    for d in [&ghost, &removed] {
        let before = bytes(&c);
        assert_eq!(
            c.initiate(&mut r, &alice, &d.bundle(None), &config()),
            Err(Error::UnknownDevice)
        );
        assert_eq!(bytes(&c), before);
    }
    // A bundle whose identity is listed but whose keys are another device's: the signature
    // check under the listed identity refuses it.
    let mut forged = ghost.bundle(None);
    forged.identity = *bob.device(2).key.public();
    let before = bytes(&c);
    assert_eq!(
        c.initiate(&mut r, &alice, &forged, &config()),
        Err(Error::InvalidSignature)
    );
    assert_eq!(bytes(&c), before);
}
