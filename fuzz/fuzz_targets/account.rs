//! Arbitrary bytes into the account decoders (SPEC.md §15), against a fixture account
//! (`account_fixture`): Bob's lists 1 (devices 1, 2) and 2 (device 3 added), Alice's contact for
//! Bob holding list 1 and a session with device 1, and their safety number.
//!
//! - Every input is decoded as a `DeviceList`. One that decodes re-encodes to the input, and —
//!   since only the fixture's account key can sign a list and its devices' identities their
//!   memberships — it is one of the fixture's lists or a list under a key and identities the
//!   fuzzer cannot hold. Alice's contact is updated with it: an update that fails changes
//!   nothing (the contact's bytes are equal); one that succeeds leaves the contact on one of
//!   the fixture's lists, holding sessions only with listed devices, and every device it lists
//!   is one Bob's account signed.
//! - After a first byte `0xC0`, the rest is a scanned QR payload compared with Alice's safety
//!   number: `Match` only for Bob's payload, `OtherVersion(v)` exactly when the first byte is
//!   not version 1, and an error only for an empty payload or another length.
//! - After a first byte `0xC1`, the rest is a contact's state blob: one that decodes re-encodes
//!   to the input and holds sessions only with devices on its list.
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use xchat_protocol::account::{
    Comparison, Contact, DeviceList, QR_PAYLOAD_LEN, SAFETY_NUMBER_VERSION,
};
use xchat_protocol_fuzz::{AccountFixture, account_fixture};

static FIXTURE: LazyLock<AccountFixture> = LazyLock::new(account_fixture);

fn listed_sessions_only(contact: &Contact) {
    let listed = contact.view().current().devices();
    let with_session = listed
        .iter()
        .filter(|d| contact.session(d.device_id()).is_some())
        .count();
    assert_eq!(with_session, contact.session_count(), "a session off the list");
}

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    match data.split_first() {
        Some((0xC0, scanned)) => match f.safety.compare(scanned) {
            Ok(Comparison::Match) => assert_eq!(scanned, f.bob_qr.as_slice()),
            Ok(Comparison::OtherVersion(v)) => {
                assert_eq!(Some(&v), scanned.first());
                assert_ne!(v, SAFETY_NUMBER_VERSION);
            }
            Ok(Comparison::Mismatch) => {
                assert_eq!(scanned.len(), QR_PAYLOAD_LEN);
                assert_ne!(scanned, f.bob_qr.as_slice());
            }
            Err(_) => assert!(
                scanned.is_empty()
                    || (scanned.len() != QR_PAYLOAD_LEN
                        && scanned.first() == Some(&SAFETY_NUMBER_VERSION))
            ),
        },
        Some((0xC1, blob)) => {
            if let Ok(contact) = Contact::from_bytes(blob) {
                assert_eq!(contact.to_bytes().unwrap().as_slice(), blob);
                listed_sessions_only(&contact);
            }
        }
        _ => {
            let Ok(list) = DeviceList::from_bytes(data) else {
                return;
            };
            assert_eq!(list.to_bytes(), data);
            let mut contact = Contact::from_bytes(&f.contact).unwrap();
            match contact.update(core::slice::from_ref(&list)) {
                Err(_) => assert_eq!(contact.to_bytes().unwrap().as_slice(), f.contact),
                Ok(_) => {
                    let current = contact.view().current().to_bytes();
                    assert!(f.lists.contains(&current), "a list Bob never signed");
                    for d in contact.view().current().devices() {
                        assert!(f.signed.contains(&(d.device_id(), d.identity().to_bytes())));
                    }
                    listed_sessions_only(&contact);
                }
            }
        }
    }
});
