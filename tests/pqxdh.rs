//! PQXDH end to end (work in progress, issue 13): a session from a bundle with a KEM prekey, its
//! first message, replay, the one-time KEM prekey's consumption, a ciphertext for another key,
//! and the state round trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::{
    Config, Error, Handshake, IdentityKeyPair, Incoming, PreKeyStore, Session, Trust,
};

const NOW: u64 = 1_700_000_000_000;

fn setup(seed: u8) -> (ChaCha20Rng, IdentityKeyPair, IdentityKeyPair, PreKeyStore) {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, NOW);
    store.generate_one_time_prekeys(&mut rng, 2).unwrap();
    store.rotate_kem_prekey(&mut rng, &bob, NOW);
    store
        .generate_kem_one_time_prekeys(&mut rng, &bob, 2, NOW)
        .unwrap();
    (rng, alice, bob, store)
}

#[test]
fn every_combination_of_one_time_keys_establishes_a_pqxdh_session() {
    for (otpk, kem_one_time) in [
        (None, None),
        (Some(0), None),
        (None, Some(1)),
        (Some(1), Some(2)),
    ] {
        let (mut rng, alice, bob, mut store) = setup(1);
        let bundle = match kem_one_time {
            None => store.bundle(&bob, otpk).unwrap(),
            Some(id) => store.bundle_with_kem_one_time(&bob, otpk, id).unwrap(),
        };
        let bytes = bundle.to_bytes();
        assert_eq!(bytes[0], 0x02);
        let decoded = xchat_protocol::PreKeyBundle::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, bundle);
        let config = Config::new(b"a|b");
        let mut a =
            Session::initiate(&mut rng, &alice, &decoded, Trust::FirstUse, &config).unwrap();
        assert_eq!(a.handshake(), Handshake::Pqxdh);
        let first = a.send(&mut rng, NOW, b"hello").unwrap();
        let Incoming::PreKey(pkm) = Incoming::decode(&first).unwrap() else {
            panic!("a prekey message")
        };
        assert!(pkm.kem.is_some());
        let kem_before = store.kem_one_time_prekey_count();
        let (mut b, got) = Session::accept(&bob, &mut store, &first, &config, NOW).unwrap();
        assert_eq!(got.body, b"hello");
        assert_eq!(b.handshake(), Handshake::Pqxdh);
        assert_eq!(
            store.kem_one_time_prekey_count(),
            kem_before - usize::from(kem_one_time.is_some())
        );
        // A replay never makes a second session, whichever key protects it.
        let replay = Session::accept(&bob, &mut store, &first, &config, NOW);
        assert!(
            matches!(
                replay,
                Err(Error::DuplicateMessage
                    | Error::UnknownOneTimePreKey(_)
                    | Error::UnknownKemPreKey(_))
            ),
            "{replay:?}"
        );
        // Both directions, and both sessions survive a save and restore.
        let reply = b.send(&mut rng, NOW, b"hi").unwrap();
        let a_blob = a.to_bytes().unwrap();
        let b_blob = b.to_bytes().unwrap();
        assert_eq!((a_blob[1], b_blob[1]), (4, 4));
        let mut a = Session::from_bytes(&a_blob).unwrap();
        let mut b = Session::from_bytes(&b_blob).unwrap();
        assert_eq!(*a.to_bytes().unwrap(), *a_blob);
        assert_eq!(a.handshake(), Handshake::Pqxdh);
        assert!(a.receive(&reply, NOW).unwrap().message().is_some());
        let next = a.send(&mut rng, NOW, b"again").unwrap();
        assert!(b.receive(&next, NOW).unwrap().message().is_some());
    }
}

#[test]
fn a_ciphertext_for_another_key_fails_and_changes_nothing() {
    let (mut rng, alice, bob, mut store) = setup(2);
    let config = Config::new(b"");
    let bundle = store.bundle_with_kem_one_time(&bob, None, 1).unwrap();
    let mut a = Session::initiate(&mut rng, &alice, &bundle, Trust::FirstUse, &config).unwrap();
    let mut first = a.send(&mut rng, NOW, b"x").unwrap();
    // Name the other one-time KEM prekey (id 2) instead: the ciphertext was made for id 1.
    let at = 1 + 1 + 32 + 32 + 4 + 1 + 1;
    assert_eq!(first[at..at + 4], 1u32.to_be_bytes());
    first[at..at + 4].copy_from_slice(&2u32.to_be_bytes());
    let before = store.to_bytes().unwrap();
    assert_eq!(
        Session::accept(&bob, &mut store, &first, &config, NOW).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(*store.to_bytes().unwrap(), *before);
    // An id that is not held.
    first[at..at + 4].copy_from_slice(&9u32.to_be_bytes());
    assert_eq!(
        Session::accept(&bob, &mut store, &first, &config, NOW).unwrap_err(),
        Error::UnknownKemPreKey(9)
    );
}

#[test]
fn a_store_with_kem_prekeys_round_trips_and_one_without_stays_version_3() {
    let (mut rng, _alice, bob, store) = setup(3);
    let blob = store.to_bytes().unwrap();
    assert_eq!(blob[1], 4);
    let back = PreKeyStore::from_bytes(&blob).unwrap();
    assert_eq!(*back.to_bytes().unwrap(), *blob);
    assert_eq!(back.kem_one_time_prekey_count(), 2);
    assert_eq!(back.current_kem_prekey(), store.current_kem_prekey());
    let mut classical = PreKeyStore::new();
    classical.rotate_signed_prekey(&mut rng, &bob, NOW);
    assert_eq!(classical.to_bytes().unwrap()[1], 3);
    let bundle = classical.bundle(&bob, None).unwrap();
    assert_eq!(bundle.kem_prekey, None);
    assert_eq!(bundle.to_bytes()[0], 0x01);
}

#[test]
fn a_classical_bundle_is_refused_unless_the_application_opts_in() {
    let (mut rng, alice, bob, _) = setup(4);
    let mut classical = PreKeyStore::new();
    classical.rotate_signed_prekey(&mut rng, &bob, NOW);
    let bundle = classical.bundle(&bob, None).unwrap();
    assert_eq!(bundle.kem_prekey, None);
    // Refused before any key is drawn: the RNG is where it was.
    let mut probe = rng.clone();
    assert_eq!(
        Session::initiate(
            &mut rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(b"")
        )
        .err(),
        Some(Error::ClassicalHandshake)
    );
    assert_eq!(
        rand_chacha::rand_core::Rng::next_u64(&mut rng),
        rand_chacha::rand_core::Rng::next_u64(&mut probe)
    );
    let opted_in = Config::new(b"").allow_classical();
    let mut a = Session::initiate(&mut rng, &alice, &bundle, Trust::FirstUse, &opted_in).unwrap();
    assert_eq!(a.handshake(), Handshake::X3dh);
    let first = a.send(&mut rng, NOW, b"classical").unwrap();
    // The responder refuses it too, changing nothing, unless it opts in.
    let before = classical.to_bytes().unwrap();
    assert_eq!(
        Session::accept(&bob, &mut classical, &first, &Config::new(b""), NOW).err(),
        Some(Error::ClassicalHandshake)
    );
    assert_eq!(*classical.to_bytes().unwrap(), *before);
    let (b, _) = Session::accept(&bob, &mut classical, &first, &opted_in, NOW).unwrap();
    assert_eq!(b.handshake(), Handshake::X3dh);
}

/// The downgrade attack over the prekey fields: no change to a byte of a PQXDH first message —
/// nor stripping its KEM fields to make it a version 0x01 (X3DH) message — makes
/// a responder create a session, even one that opted into classical sessions; and nothing it
/// tries changes the store.
#[test]
fn no_change_to_a_pqxdh_first_message_makes_the_responder_run_x3dh() {
    let (mut rng, alice, bob, mut store) = setup(5);
    let config = Config::new(b"ctx").allow_classical();
    let bundle = store.bundle(&bob, Some(0)).unwrap();
    let mut a = Session::initiate(&mut rng, &alice, &bundle, Trust::FirstUse, &config).unwrap();
    let first = a.send(&mut rng, NOW, b"post-quantum").unwrap();
    let fields = 1 + 1 + 32 + 32 + 4 + 1 + 4; // the X3DH part of the prekey fields (§5.3)
    let kem = 1 + 4 + 1568;
    let before = store.to_bytes().unwrap();
    let mut attempts = Vec::new();
    // Strip the KEM fields and relabel as X3DH: the classical message the relay would need.
    let mut stripped = first[..fields].to_vec();
    stripped[0] = 0x01;
    stripped.extend_from_slice(&first[fields + kem..]);
    attempts.push(stripped);
    // Every byte of the X3DH fields and of the KEM use and id, and every seventh byte of the
    // ciphertext (ML-KEM is slow in debug builds), flipped in its low bit and set to 0x01.
    let positions = (0..fields + 5).chain((fields + 5..fields + kem).step_by(7));
    for i in positions {
        for edit in [first[i] ^ 1, 0x01] {
            if edit != first[i] {
                let mut m = first.clone();
                m[i] = edit;
                attempts.push(m);
            }
        }
    }
    for (n, m) in attempts.iter().enumerate() {
        for cfg in [config, Config::new(b"ctx")] {
            let got = Session::accept(&bob, &mut store, m, &cfg, NOW);
            assert!(got.is_err(), "attempt {n} made a session");
            assert_eq!(*store.to_bytes().unwrap(), *before, "attempt {n}");
        }
    }
    // The untouched message still establishes the post-quantum session.
    let (b, _) = Session::accept(&bob, &mut store, &first, &Config::new(b"ctx"), NOW).unwrap();
    assert_eq!(b.handshake(), Handshake::Pqxdh);
}

#[test]
fn a_kem_prekey_record_round_trips_and_parses_strictly() {
    let (mut rng, _alice, bob, mut store) = setup(6);
    for key in store
        .generate_kem_one_time_prekeys(&mut rng, &bob, 1, NOW)
        .unwrap()
        .into_iter()
        .chain(store.current_kem_prekey())
    {
        let bytes = key.to_bytes();
        assert_eq!(bytes.len(), xchat_protocol::KemPreKey::LEN);
        assert_eq!(xchat_protocol::KemPreKey::from_bytes(&bytes).unwrap(), key);
        key.verify(bob.public()).unwrap();
        use xchat_protocol::DecodeError;
        let cut = &bytes[..bytes.len() - 1];
        assert_eq!(
            xchat_protocol::KemPreKey::from_bytes(cut),
            Err(DecodeError::Truncated)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            xchat_protocol::KemPreKey::from_bytes(&long),
            Err(DecodeError::TrailingBytes)
        );
        let mut bad_use = bytes.clone();
        bad_use[0] = 2;
        assert_eq!(
            xchat_protocol::KemPreKey::from_bytes(&bad_use),
            Err(DecodeError::NonCanonical)
        );
    }
}
