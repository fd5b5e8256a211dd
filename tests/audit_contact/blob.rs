//! The contact's state blob (kind `0x14`, SPEC.md §15.5) in the hands of someone who can write
//! the application's database and recompute the check of §10.0 — but holds no account key.

use std::path::PathBuf;

use proptest::prelude::*;
use xchat_protocol::account::Contact;
use xchat_protocol::{DecodeError, IdentityKeyPair};

use crate::common::{ed25519_variants, proptest_config, state_codec};
use crate::support::{
    Account, Device, KIND_CONTACT, T0, bytes, config, contact_blob, contact_body, edit_part, rng,
    session_part, split_contact,
};

/// Alice's contact for `bob` with a session to each of its devices (PQXDH unless `classical`).
fn with_sessions(
    r: &mut rand_chacha::ChaCha20Rng,
    bob: &Account,
    alice: &IdentityKeyPair,
    classical: bool,
) -> Contact {
    let mut c = bob.contact();
    for d in &bob.devices {
        if classical {
            let cfg = config().allow_classical();
            c.initiate(r, alice, &d.classical_bundle(), &cfg).unwrap();
        } else {
            c.initiate(r, alice, &d.bundle(None), &config()).unwrap();
        }
    }
    c
}

/// Finding (medium): SPEC.md §12 item 30 says the contact blob re-verifies its list "so an
/// edited database cannot add a device even with the check recomputed". Re-verification only
/// proves the list is *some* account's: nothing in the blob, and nothing `from_bytes` is given,
/// says it is *this contact's* account. Whoever can write the database (and recompute the
/// unkeyed SHA-256 check) replaces Bob's list by one of her own account — its key and
/// memberships are genuine, just hers — and the contact now lists her device and only hers:
/// the application's next `devices_without_session` / `initiate` / `send` go to Mallory, with
/// no `WrongAccount` or `AccountKeyChanged` ever raised.
#[test]
fn broken_an_edited_blob_swaps_in_a_list_under_another_account_key() {
    let mut r = rng(50);
    let bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let honest = bytes(&with_sessions(&mut r, &bob, &alice, false));
    assert_eq!(
        split_contact(&honest).1.len(),
        2,
        "Alice talks to Bob's two devices"
    );
    // Mallory can write Alice's database; she has an account of her own, with one device.
    let mallory = Account::new(&mut r, 1);
    let forged = contact_blob(&mallory.last().to_bytes(), &[]);
    let mut c = Contact::from_bytes(&forged).unwrap();
    assert_ne!(c.view().account(), bob.key.public());
    let wanted: Vec<_> = c.devices_without_session().map(|d| *d.identity()).collect();
    assert_eq!(wanted, [*mallory.device(1).key.public()]);
    c.initiate(&mut r, &alice, &mallory.device(1).bundle(None), &config())
        .unwrap();
    let out = c.send(&mut r, T0, b"for Bob's eyes only").unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].identity, *mallory.device(1).key.public());
    assert!(
        bob.devices
            .iter()
            .all(|d| d.key.public() != &out[0].identity)
    );
}

/// Finding (low): the blob accepts any list the account ever signed, paired with any sessions
/// of it — not only states the contact was in. An editor pairs Bob's *first* list (with the
/// device Bob has since removed) with today's session to device 1 and last week's session to
/// the removed device 2: `from_bytes` accepts it and `send` encrypts to the removed device.
/// (A rollback of a sealed blob is a limit SPEC.md §10.4 states; this splice needs no sealed
/// blob and yields a state that never existed.)
#[test]
fn broken_an_edited_blob_pairs_an_old_list_with_a_removed_devices_session() {
    let mut r = rng(51);
    let mut bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let l1 = bob.last();
    let mut c = with_sessions(&mut r, &bob, &alice, false);
    c.send(&mut r, T0, b"last week").unwrap();
    let old = bytes(&c);
    let (removed, l2) = bob.remove(2);
    c.update(&[l2]).unwrap();
    c.send(&mut r, T0, b"today").unwrap();
    let (_, today) = split_contact(&bytes(&c));
    let (_, last_week) = split_contact(&old);
    assert_eq!(today.len(), 1);
    let spliced = contact_blob(&l1.to_bytes(), &[today[0].clone(), last_week[1].clone()]);
    let mut c = Contact::from_bytes(&spliced).unwrap();
    let out = c.send(&mut r, T0, b"to the removed phone").unwrap();
    assert!(out.iter().any(|o| o.identity == *removed.key.public()));
}

fn vectors() -> serde_json::Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-vectors/migration/state_v2.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// Finding (low): the contact format (new in this version, so no contact blob ever held an old
/// session) reads sessions of versions 1 and 2 inside it, so one contact has several blobs:
/// the v2-inside one decodes to the same contact as the v3-inside one, which is what it
/// re-saves as. It also means a contact *sealed at rest* (§10.4) carries session bodies of
/// versions that `Session::from_sealed_bytes` refuses (3 and 4 only).
#[test]
fn broken_a_contact_blob_reads_session_versions_no_contact_ever_held() {
    let file = vectors();
    let s = file["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "established_out_of_order")
        .unwrap();
    let old = hex(&s["alice"]);
    assert_eq!((old[0], old[1]), (0x12, 2));
    let bob_key = IdentityKeyPair::from_seed(&hex(&file["bob_identity_seed"]).try_into().unwrap());
    let mut r = rng(52);
    let bob = Account::from_parts(
        xchat_protocol::account::AccountKeyPair::generate(&mut r),
        vec![Device::with_key(&mut r, 1, bob_key)],
    );
    let list = bob.last().to_bytes();
    let v2_inside = contact_blob(&list, &[(2, state_codec::body(&old).to_vec())]);
    let c = Contact::from_bytes(&v2_inside).unwrap();
    assert_eq!(c.session_count(), 1);
    let v3_inside = bytes(&c);
    assert_ne!(v3_inside, v2_inside, "two blobs …");
    assert_eq!(
        bytes(&Contact::from_bytes(&v3_inside).unwrap()),
        v3_inside,
        "… one contact"
    );
    assert_eq!(split_contact(&v3_inside).1[0].0, 3);
}

/// Finding (informational): the sessions of a contact blob may come in any order, so the same
/// contact (same list, same sessions, same behaviour) has `n!` blobs; SPEC.md §15.5 does not
/// fix the order (e.g. by device id), unlike the list's own entries.
#[test]
fn broken_the_order_of_sessions_in_a_blob_is_free() {
    let mut r = rng(53);
    let bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let c = with_sessions(&mut r, &bob, &alice, true);
    let blob = bytes(&c);
    let (list, mut parts) = split_contact(&blob);
    parts.swap(0, 1);
    let swapped = contact_blob(&list, &parts);
    assert_ne!(swapped, blob);
    let mut a = Contact::from_bytes(&blob).unwrap();
    let mut b = Contact::from_bytes(&swapped).unwrap();
    assert_eq!(bytes(&b), swapped, "each blob is its own fixed point");
    let ids = |c: &mut Contact| {
        c.send(&mut rng(1), T0, b"x")
            .unwrap()
            .iter()
            .map(|o| (o.device_id, o.identity))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&mut a), ids(&mut b));
}

#[test]
fn holds_a_blob_cannot_smuggle_a_session_or_edit_the_list() {
    let mut r = rng(54);
    let mut bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let l1 = bob.last();
    let c = with_sessions(&mut r, &bob, &alice, false);
    let blob = bytes(&c);
    let (list, parts) = split_contact(&blob);
    let nc = Err(DecodeError::NonCanonical);
    let dec = |b: &[u8]| Contact::from_bytes(b).map(|c| c.session_count());
    assert_eq!(dec(&blob), Ok(2));

    // Two sessions with one device: the same one twice, or a second run with it.
    assert_eq!(
        dec(&contact_blob(&list, &[parts[0].clone(), parts[0].clone()])),
        nc
    );
    let mut other = bob.contact();
    other
        .initiate(&mut r, &alice, &bob.device(1).bundle(None), &config())
        .unwrap();
    let second_run = session_part(other.session(1).unwrap());
    assert_ne!(second_run, parts[0]);
    assert_eq!(
        dec(&contact_blob(&list, &[parts[0].clone(), second_run])),
        nc
    );
    // A session whose peer is a ghost, or the listed identity in another encoding (a torsion
    // twin: another point, so another key; byte comparison refuses it).
    let ghost = Device::new(&mut r, 7);
    let ghost_session = xchat_protocol::Session::initiate(
        &mut r,
        &alice,
        &ghost.bundle(None),
        xchat_protocol::Trust::FirstUse,
        &config(),
    )
    .unwrap();
    assert_eq!(
        dec(&contact_blob(&list, &[session_part(&ghost_session)])),
        nc
    );
    for twin in ed25519_variants(bob.device(1).key.public().as_bytes()) {
        let edited = edit_part(&parts[0], |s| s.remote = twin);
        assert_eq!(dec(&contact_blob(&list, &[edited])), nc);
    }
    // A removed device's session with the newer list.
    let (_, l2) = bob.remove(2);
    assert_eq!(dec(&contact_blob(&l2.to_bytes(), &[parts[1].clone()])), nc);
    assert_eq!(
        dec(&contact_blob(&l2.to_bytes(), &[parts[0].clone()])),
        Ok(1)
    );

    // The list's signatures are verified again: any flipped signature bit is refused.
    let l1b = l1.to_bytes();
    let account_sig = l1b.len() - 1;
    let first_membership = 1 + 32 + 8 + 32 + 8 + 2 + 4 + 32 + 8;
    for at in [account_sig, first_membership, first_membership + 63] {
        let mut edited = l1b.clone();
        edited[at] ^= 0x01;
        assert_eq!(dec(&contact_blob(&edited, &parts)), nc, "byte {at}");
    }
    // A device's id or added_at changed (its membership no longer matches).
    let mut edited = l1b.clone();
    edited[1 + 32 + 8 + 32 + 8 + 2 + 3] ^= 0x04;
    assert_eq!(dec(&contact_blob(&edited, &parts)), nc);

    // Framing.
    let body = contact_body(&list, &parts);
    let reseal = |b: &[u8]| state_codec::seal(KIND_CONTACT, 1, b);
    let mut trailing = body.clone();
    trailing.push(0);
    assert_eq!(dec(&reseal(&trailing)), Err(DecodeError::TrailingBytes));
    let mut too_many = contact_body(&list, &[]);
    *too_many.last_mut().unwrap() = 65;
    assert_eq!(dec(&reseal(&too_many)), Err(DecodeError::TooLarge));
    for v in [0u8, 5, 0x14, 0xff] {
        let p = [(v, parts[0].1.clone())];
        assert_eq!(
            dec(&contact_blob(&list, &p)),
            Err(DecodeError::UnknownVersion(v))
        );
    }
    // A PQXDH body under version 3, an inner trailing byte, a short length.
    assert!(dec(&contact_blob(&list, &[(3, parts[0].1.clone())])).is_err());
    let mut padded = parts[0].clone();
    padded.1.push(0);
    assert_eq!(
        dec(&contact_blob(&list, &[padded])),
        Err(DecodeError::TrailingBytes)
    );
    let mut short = parts[0].clone();
    short.1.pop();
    assert!(dec(&contact_blob(&list, &[short])).is_err());
    let mut long_list = list.clone();
    long_list.push(0);
    assert_eq!(
        dec(&contact_blob(&long_list, &parts)),
        Err(DecodeError::TrailingBytes)
    );
    // Another kind, another version.
    assert_eq!(
        dec(&state_codec::seal(0x12, 1, &body)),
        Err(DecodeError::UnknownType(0x12))
    );
    assert_eq!(
        dec(&state_codec::seal(KIND_CONTACT, 2, &body)),
        Err(DecodeError::UnknownVersion(2))
    );
}

/// Every blob that decodes keeps the contact's invariant (each session's peer a distinct
/// listed device) and re-saves to a blob that decodes to the same bytes.
fn check_decoded(b: &[u8]) -> bool {
    let Ok(c) = Contact::from_bytes(b) else {
        return false;
    };
    {
        let list = c.view().current();
        let mut peers = Vec::new();
        for d in list.devices() {
            if let Some(s) = c.session(d.device_id()) {
                assert_eq!(s.remote_identity(), d.identity());
                peers.push(*s.remote_identity());
            }
        }
        assert_eq!(peers.len(), c.session_count(), "a session off the list");
        let again = bytes(&c);
        assert_eq!(bytes(&Contact::from_bytes(&again).unwrap()), again);
    }
    true
}

#[test]
fn holds_no_single_byte_edit_of_a_blob_panics_or_breaks_the_invariant() {
    let mut r = rng(55);
    let bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut c = with_sessions(&mut r, &bob, &alice, true);
    c.send(&mut r, T0, b"some state").unwrap();
    let blob = bytes(&c);
    let body = state_codec::body(&blob).to_vec();
    let (mut tried, mut decoded) = (0, 0);
    for i in 0..body.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut edited = body.clone();
            edited[i] ^= x;
            tried += 1;
            decoded += usize::from(check_decoded(&state_codec::seal(KIND_CONTACT, 1, &edited)));
        }
    }
    // Secrets and counters are not checkable: many edits decode (and keep the invariant);
    // none of the list's bytes does.
    assert!(decoded > 0 && decoded < tried, "{decoded} of {tried}");
    let list_len = split_contact(&blob).0.len();
    for i in 0..4 + list_len {
        let mut edited = body.clone();
        edited[i] ^= 0x01;
        assert!(
            !check_decoded(&state_codec::seal(KIND_CONTACT, 1, &edited)),
            "list byte {i}"
        );
    }
    for cut in 0..body.len() {
        assert!(!check_decoded(&state_codec::seal(
            KIND_CONTACT,
            1,
            &body[..cut]
        )));
    }
}

proptest! {
    #![proptest_config(proptest_config(256))]

    /// Arbitrary bodies, and valid bodies with arbitrary splices, never panic.
    #[test]
    fn holds_arbitrary_contact_bodies_never_panic(
        junk in proptest::collection::vec(any::<u8>(), 0..600),
        at in any::<usize>(),
        keep in any::<bool>(),
    ) {
        let _ = check_decoded(&state_codec::seal(KIND_CONTACT, 1, &junk));
        let mut r = rng(56);
        let bob = Account::new(&mut r, 1);
        let list = bob.last().to_bytes();
        let mut body = contact_body(&list, &[]);
        let at = at % (body.len() + 1);
        if keep {
            body.splice(at..at, junk.iter().copied());
        } else {
            body.truncate(at);
            body.extend_from_slice(&junk);
        }
        let _ = check_decoded(&state_codec::seal(KIND_CONTACT, 1, &body));
    }
}

#[test]
fn holds_a_sealed_contact_round_trips_and_refuses_edits() {
    let mut r = rng(57);
    let bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let c = with_sessions(&mut r, &bob, &alice, true);
    let key = xchat_protocol::state::StorageKey::generate(&mut r);
    let sealed = c.to_sealed_bytes(&mut r, &key).unwrap();
    assert_eq!(
        bytes(&Contact::from_sealed_bytes(&sealed, &key).unwrap()),
        bytes(&c)
    );
    for i in [0, 1, 2, 40, sealed.len() / 2, sealed.len() - 1] {
        let mut e = sealed.clone();
        e[i] ^= 1;
        assert!(Contact::from_sealed_bytes(&e, &key).is_err(), "byte {i}");
    }
    assert!(Contact::from_bytes(&sealed).is_err());
}
