//! `DeviceList::from_bytes` under hand-made, account-signed lists: each breaks one rule while the
//! account signature over it is genuine.

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use xchat_protocol::account::{AccountError, AccountKey, DeviceList, DeviceListView, MAX_DEVICES};
use xchat_protocol::{DecodeError, IdentityKeyPair};

use crate::craft::{Acct, Raw, T0, body, entry, list_bytes, malleate, rng, sign_list};

const HEADER: usize = 1 + 32 + 8 + 32 + 8 + 2;

#[test]
fn held_hand_made_lists_decode_exactly_like_made_ones() {
    // Our independent encoding (SPEC.md §15.1) is byte-for-byte the library's: the crafted lists
    // below differ from honest ones only where a test says so.
    let mut r = rng(1);
    let a = Acct::new(&mut r, 3);
    let first = a.first();
    assert_eq!(list_bytes(&a.key, 1, &[0; 32], &a.raw()), first.to_bytes());
    // Re-signing the same list is deterministic: the same bytes, and a view skips it.
    let again = a.first();
    assert_eq!(again.to_bytes(), first.to_bytes());
    let mut v = DeviceListView::new(first.clone());
    assert_eq!(v.update(&[again]).unwrap(), vec![]);
    assert_eq!(v.current(), &first);
}

#[test]
fn held_malleated_signatures_never_verify() {
    // Ed25519 malleability (s + ℓ): the same list under a second signature encoding would be
    // "equal content, other bytes" (a Fork, or a second hash). verify_strict refuses it.
    let mut r = rng(2);
    let a = Acct::new(&mut r, 2);
    let bytes = a.first().to_bytes();
    let mut bad = bytes.clone();
    let at = bad.len() - 64;
    malleate(&mut bad[at..]);
    assert_eq!(
        DeviceList::from_bytes(&bad).unwrap_err(),
        AccountError::InvalidSignature
    );
    // The same for a membership signature, with the account signature redone over it.
    let mut raw = a.raw();
    malleate(&mut raw[1].membership);
    let crafted = list_bytes(&a.key, 1, &[0; 32], &raw);
    assert_eq!(
        DeviceList::from_bytes(&crafted).unwrap_err(),
        AccountError::InvalidDeviceList
    );
}

#[test]
fn held_torsion_twisted_keys_are_refused() {
    // A device identity (or account key) A + T, T of small order: a signature by A verifies
    // under it for some messages, which would make a second "identity" for one device.
    let mut r = rng(3);
    let a = Acct::new(&mut r, 1);
    let dev = &a.devices[0].1;
    let point = CompressedEdwardsY(*dev.public().as_bytes())
        .decompress()
        .unwrap();
    for t in &EIGHT_TORSION[1..] {
        let twisted = (point + t).compress().to_bytes();
        let mut raw = a.raw();
        raw[0].identity = twisted;
        let crafted = list_bytes(&a.key, 1, &[0; 32], &raw);
        assert_eq!(
            DeviceList::from_bytes(&crafted).unwrap_err(),
            AccountError::Decode(DecodeError::InvalidKey)
        );
        // Pure torsion points and the account field too.
        assert!(AccountKey::from_bytes(t.compress().to_bytes()).is_err());
        let apoint = CompressedEdwardsY(*a.key.public().as_bytes())
            .decompress()
            .unwrap();
        assert!(AccountKey::from_bytes((apoint + t).compress().to_bytes()).is_err());
    }
}

#[test]
fn held_a_membership_cannot_be_moved_to_another_id_time_account_or_identity() {
    // The account key signs the list; only the device's own membership is wrong.
    let mut r = rng(4);
    let a = Acct::new(&mut r, 2);
    let other = Acct::new(&mut r, 1);
    let key = *a.key.public().as_bytes();
    let honest = a.raw();
    let dev = &a.devices[0].1;
    let moved: Vec<Raw> = vec![
        Raw { id: 3, ..honest[0] }, // another device id
        Raw {
            added_at: T0 + 1,
            ..honest[0]
        }, // another added_at
        entry(dev, other.key.public().as_bytes(), 1, T0), // signed for another account
        Raw {
            identity: honest[1].identity, // device 2's identity, device 1's signature
            ..honest[0]
        },
    ];
    for m in moved {
        let mut raw = vec![m, honest[1]];
        if raw[0].identity == raw[1].identity {
            // Keep identities distinct: move device 2 away so only the signature is at fault.
            raw[1] = entry(&IdentityKeyPair::generate(&mut r), &key, 2, T0);
        }
        raw.sort_by_key(|e| e.id);
        let crafted = list_bytes(&a.key, 1, &[0; 32], &raw);
        assert_eq!(
            DeviceList::from_bytes(&crafted).unwrap_err(),
            AccountError::InvalidDeviceList
        );
    }
    // The honest list with one id changed is fine if its device signed it.
    let ok = vec![honest[0], entry(&a.devices[1].1, &key, 9, T0)];
    DeviceList::from_bytes(&list_bytes(&a.key, 1, &[0; 32], &ok)).unwrap();
}

#[test]
fn held_account_signed_lists_breaking_list_rules_are_refused() {
    let mut r = rng(5);
    let a = Acct::new(&mut r, 2);
    let raw = a.raw();
    let key = *a.key.public().as_bytes();
    // Ids out of order, and equal ids.
    let swapped = [raw[1], raw[0]];
    assert_eq!(
        DeviceList::from_bytes(&list_bytes(&a.key, 1, &[0; 32], &swapped)).unwrap_err(),
        AccountError::InvalidDeviceList
    );
    let equal = [raw[0], entry(&a.devices[1].1, &key, 1, T0)];
    assert_eq!(
        DeviceList::from_bytes(&list_bytes(&a.key, 1, &[0; 32], &equal)).unwrap_err(),
        AccountError::InvalidDeviceList
    );
    // One identity under two ids, each membership genuine.
    let dup = [raw[0], entry(&a.devices[0].1, &key, 5, T0)];
    assert_eq!(
        DeviceList::from_bytes(&list_bytes(&a.key, 1, &[0; 32], &dup)).unwrap_err(),
        AccountError::InvalidDeviceList
    );
    // Sequence and previous-hash rules.
    let cases: [(u64, [u8; 32]); 4] = [(0, [0; 32]), (0, [1; 32]), (1, [1; 32]), (2, [0; 32])];
    for (seq, prev) in cases {
        assert_eq!(
            DeviceList::from_bytes(&list_bytes(&a.key, seq, &prev, &raw)).unwrap_err(),
            AccountError::Decode(DecodeError::NonCanonical),
            "seq {seq}"
        );
    }
    // 0 and 65 devices, each account-signed (65 genuine memberships).
    assert_eq!(
        DeviceList::from_bytes(&list_bytes(&a.key, 1, &[0; 32], &[])).unwrap_err(),
        AccountError::Decode(DecodeError::NonCanonical)
    );
    let many: Vec<Raw> = (0..=MAX_DEVICES as u32)
        .map(|i| entry(&IdentityKeyPair::generate(&mut r), &key, i, T0))
        .collect();
    assert_eq!(
        DeviceList::from_bytes(&list_bytes(&a.key, 1, &[0; 32], &many)).unwrap_err(),
        AccountError::Decode(DecodeError::TooLarge)
    );
    // 64 decode.
    let l = DeviceList::from_bytes(&list_bytes(&a.key, 1, &[0; 32], &many[..MAX_DEVICES])).unwrap();
    assert_eq!(l.devices().len(), MAX_DEVICES);
    // A count larger than the entries that follow, or smaller: never a shorter/longer reading.
    let mut b = body(&key, 1, &[0; 32], T0, &raw);
    b[HEADER - 1] = 3;
    assert!(DeviceList::from_bytes(&sign_list(&a.key, b)).is_err());
    let mut b = body(&key, 1, &[0; 32], T0, &raw);
    b[HEADER - 1] = 1;
    assert!(DeviceList::from_bytes(&sign_list(&a.key, b)).is_err());
}

#[test]
fn held_u64_sequence_extremes_do_not_panic() {
    let mut r = rng(6);
    let a = Acct::new(&mut r, 1);
    let raw = a.raw();
    let top = DeviceList::from_bytes(&list_bytes(&a.key, u64::MAX, &[7; 32], &raw)).unwrap();
    // No list after u64::MAX.
    assert_eq!(
        top.next(&a.key, a.entries(), T0).unwrap_err(),
        AccountError::InvalidDeviceList
    );
    let below = DeviceList::from_bytes(&list_bytes(&a.key, u64::MAX - 1, &[7; 32], &raw)).unwrap();
    let mut v = DeviceListView::new(top.clone());
    assert_eq!(
        v.update(std::slice::from_ref(&below)),
        Err(AccountError::Rollback)
    );
    assert_eq!(v.update(&[top.clone(), top.clone()]), Ok(vec![]));
    // From u64::MAX - 1 to u64::MAX: accepted only when chained.
    let mut v = DeviceListView::new(below.clone());
    assert_eq!(
        v.update(std::slice::from_ref(&top)),
        Err(AccountError::Fork)
    );
    let chained =
        DeviceList::from_bytes(&list_bytes(&a.key, u64::MAX, &below.hash(), &raw)).unwrap();
    assert_eq!(v.update(std::slice::from_ref(&chained)), Ok(vec![]));
    assert_eq!(v.current(), &chained);
    // Sequence 1 to u64::MAX is a gap.
    let mut v = DeviceListView::new(a.first());
    assert_eq!(v.update(&[top]), Err(AccountError::Gap));
}
