//! Downgrade to X3DH and cross-version confusion (SPEC.md §4.5 "Classical sessions, only by
//! opt-in", §5.1, §5.3, §5.4, §7.2 step 0, §7.3 step 1b, §7.4, §12 item 17): stripping or adding
//! KEM fields, relabelling version bytes of bundles and messages, and the later prekey messages
//! of an established session.

use xchat_protocol::{
    DecodeError, Error, Handshake, IdentityKeyPair, Incoming, KemUse, PreKeyBundle, Session, Trust,
};

use crate::common::rng;
use crate::support::{
    COMBOS, NOW, classical, ct_range, first, flip, kem_id_range, kem_use_at, pq, responder,
    same_position, session_bytes, strip_kem, x3dh_bundle,
};

/// A relay strips the KEM fields of a PQXDH first message and relabels it as X3DH (and, as a
/// second attempt, only relabels it): a responder without the opt-in refuses it with
/// `ClassicalHandshake`, one with it fails to authenticate it (SK holds SS and the transcript) —
/// before and after the original is accepted, in every key combination, the store unchanged.
#[test]
fn held_a_stripped_pqxdh_first_message_never_starts_a_classical_session() {
    for (n, keys) in COMBOS.into_iter().enumerate() {
        let mut r = rng(50 + n as u8);
        let mut bob = responder(&mut r);
        let alice = IdentityKeyPair::generate(&mut r);
        let (_a, m) = first(&mut r, &alice, &bob.bundle(keys, 0));
        let stripped = strip_kem(&m, keys.opk);
        let mut relabelled = m.clone();
        relabelled[0] = 0x01;
        for accepted in [false, true] {
            let before = bob.store_bytes();
            for attempt in [&stripped, &relabelled] {
                let got = Session::accept(&bob.id, &mut bob.store, attempt, &pq(), NOW);
                assert!(got.is_err(), "{keys:?}");
                let got = Session::accept(&bob.id, &mut bob.store, attempt, &classical(), NOW);
                assert!(got.is_err(), "{keys:?} accepted={accepted}");
                assert_eq!(bob.store_bytes(), before);
            }
            let got = Session::accept(&bob.id, &mut bob.store, &stripped, &pq(), NOW).map(|_| ());
            assert_eq!(got, Err(Error::ClassicalHandshake));
            if !accepted {
                let got = Session::accept(&bob.id, &mut bob.store, &stripped, &classical(), NOW);
                assert_eq!(got.map(|_| ()), Err(Error::DecryptionFailed));
                Session::accept(&bob.id, &mut bob.store, &m, &pq(), NOW).unwrap();
            }
        }
    }
}

/// The opposite direction: an opted-in initiator's X3DH first message, which the relay "upgrades"
/// to PQXDH by inserting KEM fields with a ciphertext it encapsulated itself to the responder's
/// (last-resort or one-time) KEM prekey, so it knows `SS`. The responder's `SK` now holds that
/// `SS`, but also the DH outputs the relay lacks, and the initiator sealed under the X3DH `SK`:
/// `DecryptionFailed`, nothing changed.
#[test]
fn held_an_x3dh_first_message_upgraded_with_the_relays_own_ciphertext_fails() {
    let mut r = rng(55);
    let mut bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    for (opk, (usage, kem_id)) in [
        (false, (KemUse::LastResort, bob.last_resort)),
        (true, (KemUse::OneTime, bob.kem_ids[0])),
    ] {
        let full = bob
            .store
            .bundle_with_kem_one_time(&bob.id, opk.then_some(bob.opks[0]), bob.kem_ids[0])
            .unwrap();
        let key = match usage {
            KemUse::LastResort => bob.store.current_kem_prekey().unwrap().key,
            KemUse::OneTime => full.kem_prekey.clone().unwrap().key,
        };
        let x3dh_bundle = x3dh_bundle(full, &bob.store);
        let mut a =
            Session::initiate(&mut r, &alice, &x3dh_bundle, Trust::FirstUse, &classical()).unwrap();
        let m = a.send(&mut r, NOW, b"classical").unwrap();
        let (ct, _relay_knows_ss) = key.encapsulate(&mut r);
        let at = kem_use_at(opk);
        let mut upgraded = m[..at].to_vec();
        upgraded[0] = 0x02;
        upgraded.push(usage.byte());
        upgraded.extend_from_slice(&kem_id.to_be_bytes());
        upgraded.extend_from_slice(ct.as_bytes());
        upgraded.extend_from_slice(&m[at..]);
        assert!(matches!(Incoming::decode(&upgraded), Ok(Incoming::PreKey(p)) if p.kem.is_some()));
        let before = bob.store_bytes();
        for config in [pq(), classical()] {
            let got = Session::accept(&bob.id, &mut bob.store, &upgraded, &config, NOW);
            assert_eq!(got.map(|_| ()), Err(Error::DecryptionFailed));
        }
        assert_eq!(bob.store_bytes(), before);
    }
}

/// Without the opt-in, neither side runs X3DH: `initiate` refuses a bundle without a KEM prekey
/// before drawing anything, also with the right identity pinned; `respond`/`accept` refuse any
/// version 0x01 first message right after decoding — before the signed prekey is even looked up
/// (§7.3 step 1b precedes step 2), so a garbage one gets the same answer — and change nothing.
#[test]
fn held_without_the_opt_in_no_classical_session_starts_on_either_side() {
    let mut r = rng(56);
    let mut bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let bundle = x3dh_bundle(
        bob.store.bundle(&bob.id, Some(bob.opks[0])).unwrap(),
        &bob.store,
    );
    for trust in [Trust::FirstUse, Trust::Pinned(bob.id.public())] {
        let probe = r.clone();
        let got = Session::initiate(&mut r, &alice, &bundle, trust, &pq()).map(|_| ());
        assert_eq!(got, Err(Error::ClassicalHandshake));
        assert!(same_position(&r, &probe), "a key was drawn");
    }
    let mut a = Session::initiate(&mut r, &alice, &bundle, Trust::FirstUse, &classical()).unwrap();
    let m = a.send(&mut r, NOW, b"classical").unwrap();
    let mut unknown_spk = m.clone();
    unknown_spk[66..70].copy_from_slice(&0xDEAD_BEEFu32.to_be_bytes());
    let before = bob.store_bytes();
    for attempt in [&m, &unknown_spk] {
        let got = Session::accept(&bob.id, &mut bob.store, attempt, &pq(), NOW).map(|_| ());
        assert_eq!(got, Err(Error::ClassicalHandshake));
        let got = Session::respond(&bob.id, &mut bob.store, attempt, &pq()).map(|_| ());
        assert_eq!(got, Err(Error::ClassicalHandshake));
    }
    assert_eq!(bob.store_bytes(), before);
    let (b, _) = Session::accept(&bob.id, &mut bob.store, &m, &classical(), NOW).unwrap();
    assert_eq!(b.handshake(), Handshake::X3dh);
}

/// A server cuts the KEM prekey off a PQXDH bundle (truncate to the X3DH length, byte 0 set to
/// 0x01, or the decoded bundle's `kem_prekey` set to `None`) for an initiator that opted into
/// classical sessions: the signed prekey's signature in a PQXDH bundle covers the key type byte
/// (SPEC.md §4.2), which an X3DH bundle's does not, so the cut bundle fails `verify_strict` —
/// before any key is drawn, with and without pinning. The other way round, a KEM prekey grafted
/// onto an X3DH bundle fails too.
#[test]
fn held_a_pqxdh_bundle_cut_to_x3dh_fails_its_signature_check() {
    let mut r = rng(57);
    let bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    for opk in [None, Some(bob.opks[0])] {
        let full = bob.store.bundle(&bob.id, opk).unwrap();
        let honest = full.to_bytes();
        assert_eq!(honest[0], 0x02);
        let x3dh_len = if opk.is_some() { 178 } else { 142 };
        let mut cut = honest[..x3dh_len].to_vec();
        cut[0] = 0x01;
        let cut = PreKeyBundle::from_bytes(&cut).unwrap();
        assert_eq!(
            cut,
            PreKeyBundle {
                kem_prekey: None,
                ..full.clone()
            }
        );
        let classical_bundle = x3dh_bundle(full.clone(), &bob.store);
        let grafted = PreKeyBundle {
            kem_prekey: full.kem_prekey.clone(),
            ..classical_bundle.clone()
        };
        for bundle in [&cut, &grafted] {
            assert_eq!(bundle.verify(), Err(Error::InvalidSignature));
            for trust in [Trust::FirstUse, Trust::Pinned(bob.id.public())] {
                let probe = r.clone();
                let got = Session::initiate(&mut r, &alice, bundle, trust, &classical());
                assert_eq!(got.map(|_| ()), Err(Error::InvalidSignature));
                assert!(same_position(&r, &probe), "a key was drawn");
            }
        }
        // The honest bundles of both versions verify.
        full.verify().unwrap();
        classical_bundle.verify().unwrap();
    }
}

/// KNOWN LIMIT (SPEC.md §4.5 "Classical sessions, only by opt-in"; the `allow_classical` doc
/// comment says to opt in only for peers that have not upgraded): a server that holds an X3DH
/// signature of a signed prekey the device still holds — a bundle the device published before
/// it upgraded, or the signed prekey `rotate_signed_prekey` returned, uploaded on its own — can
/// serve an X3DH bundle to an initiator that opted in, and a responder that also opted in
/// accepts the classical session. `Session::handshake()` on either side is the only trace; an
/// application that opts in must check it (or pin, per peer, that the peer has upgraded).
#[test]
#[ignore = "known limit (SPEC.md §4.5): with allow_classical on both sides a server can replay an X3DH bundle"]
fn known_limit_an_opted_in_initiator_is_downgraded_by_a_server_that_replays_an_x3dh_bundle() {
    let mut r = rng(58);
    let mut bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let bundle = x3dh_bundle(bob.store.bundle(&bob.id, None).unwrap(), &bob.store);
    let mut a = Session::initiate(&mut r, &alice, &bundle, Trust::FirstUse, &classical()).unwrap();
    let m = a.send(&mut r, NOW, b"recorded for later").unwrap();
    let (b, _) = Session::accept(&bob.id, &mut bob.store, &m, &classical(), NOW).unwrap();
    assert_eq!(
        (a.handshake(), b.handshake()),
        (Handshake::X3dh, Handshake::X3dh)
    );
}

/// Version bytes moved between the two rules: a PQXDH bundle read as X3DH keeps bytes
/// (`TrailingBytes`), an X3DH bundle read as PQXDH lacks them (`Truncated`); a normal message or
/// an embedded one labelled 0x02 is `UnknownVersion(2)`; a first message relabelled either way
/// never starts a session. Nothing panics, nothing changes.
#[test]
fn held_no_bundle_or_message_is_read_under_the_other_versions_rules() {
    let mut r = rng(58);
    let mut bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    for opk in [None, Some(bob.opks[0])] {
        let mut v2 = bob.store.bundle(&bob.id, opk).unwrap().to_bytes();
        v2[0] = 0x01;
        assert_eq!(
            PreKeyBundle::from_bytes(&v2),
            Err(DecodeError::TrailingBytes)
        );
        let mut v1 = v2[..v2.len() - 1645].to_vec();
        v1[0] = 0x02;
        assert_eq!(PreKeyBundle::from_bytes(&v1), Err(DecodeError::Truncated));
    }
    let (mut a, m) = first(&mut r, &alice, &bob.bundle(COMBOS[1], 1));
    let (mut b, _) = Session::accept(&bob.id, &mut bob.store, &m, &pq(), NOW).unwrap();
    let reply = b.send(&mut r, NOW, b"reply").unwrap();
    let mut v2_normal = reply.clone();
    v2_normal[0] = 0x02;
    let got = a.receive(&v2_normal, NOW).map(|_| ());
    assert_eq!(got, Err(Error::Decode(DecodeError::UnknownVersion(2))));
    let mut v2_embedded = m.clone();
    v2_embedded[crate::support::embedded_at(true)] = 0x02;
    let got = Incoming::decode(&v2_embedded).map(|_| ());
    assert_eq!(got, Err(DecodeError::UnknownVersion(2)));
    let mut v1 = m.clone();
    v1[0] = 0x01;
    let before = bob.store_bytes();
    for attempt in [&v1, &v2_embedded] {
        for config in [pq(), classical()] {
            assert!(Session::accept(&bob.id, &mut bob.store, attempt, &config, NOW).is_err());
        }
        let (sa, sb) = (session_bytes(&a), session_bytes(&b));
        assert!(b.decrypt(attempt).is_err() && a.decrypt(attempt).is_err());
        assert_eq!((session_bytes(&a), session_bytes(&b)), (sa, sb));
    }
    assert_eq!(bob.store_bytes(), before);
    assert!(a.receive(&reply, NOW).is_ok());
}

/// The initiator's later prekey messages carry the same KEM fields (§5.3); the responder's
/// session accepts only those (§7.4). A relay that changes the use, the id or one ciphertext byte
/// of such a message, strips the KEM fields, or relabels it, gets an error from the responder's
/// session and from the initiator's, neither changed; the untouched message then decrypts once.
#[test]
fn held_later_prekey_messages_with_other_kem_fields_are_refused_by_the_session() {
    for keys in [COMBOS[0], COMBOS[3]] {
        let mut r = rng(59);
        let mut bob = responder(&mut r);
        let alice = IdentityKeyPair::generate(&mut r);
        let (mut a, m0) = first(&mut r, &alice, &bob.bundle(keys, 0));
        let m1 = a.send(&mut r, NOW, b"second").unwrap();
        let (mut b, _) = Session::accept(&bob.id, &mut bob.store, &m0, &pq(), NOW).unwrap();
        let opk = keys.opk;
        let mut relabelled = m1.clone();
        relabelled[0] = 0x01;
        let attempts = [
            flip(&m1, kem_use_at(opk), 1),
            flip(&m1, kem_id_range(opk).end - 1, 1),
            flip(&m1, ct_range(opk).start + 700, 0x10),
            strip_kem(&m1, opk),
            relabelled,
        ];
        let (sa, sb) = (session_bytes(&a), session_bytes(&b));
        for (i, attempt) in attempts.iter().enumerate() {
            let got = b.decrypt(attempt);
            assert!(
                matches!(got, Err(Error::SessionMismatch | Error::Decode(_))),
                "{i}: {got:?}"
            );
            assert!(a.decrypt(attempt).is_err());
            assert_eq!(
                (session_bytes(&a), session_bytes(&b)),
                (sa.clone(), sb.clone())
            );
        }
        assert!(b.receive(&m1, NOW).is_ok());
        assert_eq!(b.receive(&m1, NOW), Err(Error::DuplicateMessage));
    }
}
