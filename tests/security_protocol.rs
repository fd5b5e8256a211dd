//! Attacks on the handshake and the formats: key-compromise impersonation bounds, identity
//! misbinding and unknown key-share, downgrade and encoding confusion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{CONTEXT, established, rng};
use xchat_protocol::state::{KIND_IDENTITY, KIND_PREKEY_STORE, KIND_SESSION};
use xchat_protocol::{Config, Trust};
use xchat_protocol::{
    DecodeError, Error, IdentityKeyPair, Incoming, PreKeyBundle, PreKeyStore, SenderCertificate,
    Session,
};

#[test]
fn kci_a_stolen_identity_key_alone_forges_sessions_as_its_owner_but_reads_nothing() {
    let mut p = established(60, true);
    // What a stolen identity key CAN do: start new sessions that Bob attributes to Alice.
    // (X3DH authenticates identities; a thief of the identity key is that identity.)
    let thief_as_alice = IdentityKeyPair::from_seed(&p.alice_id.seed());
    p.bob_store
        .generate_one_time_prekeys(&mut p.rng, 1)
        .unwrap();
    let bundle = p.bob_store.bundle(&p.bob_id, Some(3)).unwrap();
    let mut forged = Session::initiate(
        &mut p.rng,
        &thief_as_alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = forged.encrypt(&mut p.rng, b"I am Alice").unwrap();
    let (bob_view, _) = Session::respond(
        &p.bob_id,
        &mut p.bob_store,
        &first,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    assert_eq!(bob_view.remote_identity(), p.alice_id.public());

    // What it CANNOT do: read or inject into the existing session (it lacks the ratchet state).
    let live = p.bob.encrypt(&mut p.rng, b"for the real Alice").unwrap();
    assert!(forged.decrypt(&live).is_err());
    let injected = forged.encrypt(&mut p.rng, b"inject").unwrap();
    assert_eq!(p.bob.decrypt(&injected), Err(Error::SessionMismatch));

    // Nor impersonate Bob to Alice with Alice's key: answering Alice's prekey message needs
    // Bob's signed prekey secret. A thief holding Bob's identity key (but not his prekeys) who
    // publishes his own signed prekey under the same id cannot decrypt Alice's first message.
    let thief_as_bob = IdentityKeyPair::from_seed(&p.bob_id.seed());
    let mut thief_store = PreKeyStore::new();
    thief_store.rotate_signed_prekey(&mut p.rng, &thief_as_bob, 1000);
    let mut alice2 = Session::initiate(
        &mut p.rng,
        &p.alice_id,
        &p.bob_store.bundle(&p.bob_id, None).unwrap(),
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let to_bob = alice2.encrypt(&mut p.rng, b"only Bob").unwrap();
    assert_eq!(
        Session::respond(
            &thief_as_bob,
            &mut thief_store,
            &to_bob,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::DecryptionFailed
    );
}

#[test]
fn misbinding_swapping_identities_or_context_fails() {
    let mut rng = rng(61);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mallory = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let bundle = store.bundle(&bob, Some(0)).unwrap();
    let mut s = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b"alice|bob").allow_classical(),
    )
    .unwrap();
    let first = s.encrypt(&mut rng, b"x").unwrap();
    let saved = store.to_bytes();

    // Unknown key-share: Mallory claims Alice's first message as her own.
    let mut claimed = first.clone();
    claimed[2..34].copy_from_slice(&mallory.public().to_bytes());
    assert_eq!(
        Session::respond(
            &bob,
            &mut store,
            &claimed,
            &Config::new(b"alice|bob").allow_classical()
        )
        .unwrap_err(),
        Error::DecryptionFailed
    );
    // Application context swapped (e.g. another account pair).
    assert_eq!(
        Session::respond(
            &bob,
            &mut store,
            &first,
            &Config::new(b"alice|carol").allow_classical()
        )
        .unwrap_err(),
        Error::DecryptionFailed
    );
    // A server swapping the identity in Bob's bundle for Mallory's: the signature no longer verifies.
    let mut fake = bundle.clone();
    fake.identity = *mallory.public();
    assert_eq!(
        Session::initiate(
            &mut rng,
            &alice,
            &fake,
            Trust::FirstUse,
            &Config::new(b"").allow_classical()
        )
        .unwrap_err(),
        Error::InvalidSignature
    );
    assert_eq!(
        store.to_bytes(),
        saved,
        "no failed attempt consumed a prekey"
    );
    let (bob_session, _) = Session::respond(
        &bob,
        &mut store,
        &first,
        &Config::new(b"alice|bob").allow_classical(),
    )
    .unwrap();
    assert_eq!(
        bob_session.check_remote_identity(mallory.public()),
        Err(Error::UntrustedIdentity)
    );
}

#[test]
fn downgrade_no_field_can_be_changed_in_transit() {
    let mut p = established(62, true);
    let pre = p.alice.encrypt(&mut p.rng, b"x").unwrap();
    let before = p.bob.to_bytes();
    // Version bytes (outer and embedded) and type bytes.
    for (offset, value) in [
        (0usize, 0x00u8),
        (0, 0x02),
        (1, 0x01),
        (1, 0x03),
        (75, 0x00),
        (76, 0x02),
    ] {
        let mut bad = pre.clone();
        bad[offset] = value;
        assert!(p.bob.decrypt(&bad).is_err(), "byte {offset} = {value}");
    }
    // Dropping the one-time prekey (flag 1 → 0, removing the id) makes it another X3DH run.
    let mut no_otpk = pre[..70].to_vec();
    no_otpk.push(0);
    no_otpk.extend_from_slice(&pre[75..]);
    assert_eq!(p.bob.decrypt(&no_otpk), Err(Error::SessionMismatch));
    assert!(
        Session::respond(
            &p.bob_id,
            &mut p.bob_store,
            &no_otpk,
            &Config::new(CONTEXT).allow_classical()
        )
        .is_err()
    );
    // Another signed prekey id.
    let mut other_spk = pre.clone();
    other_spk[66..70].copy_from_slice(&7u32.to_be_bytes());
    assert_eq!(p.bob.decrypt(&other_spk), Err(Error::SessionMismatch));
    assert_eq!(p.bob.to_bytes(), before);
    // Stripping the prekey wrapper yields a well-formed normal message, but the prekey fields
    // are in the associated data (SPEC.md §3.5): without them it does not authenticate.
    let stripped = &pre[75..];
    assert!(matches!(
        Incoming::decode(stripped).unwrap(),
        Incoming::Message(_)
    ));
    assert_eq!(p.bob.decrypt(stripped), Err(Error::DecryptionFailed));
    assert_eq!(p.bob.to_bytes(), before);
    assert_eq!(p.bob.decrypt(&pre).unwrap(), b"x");
}

#[test]
fn encoding_confusion_a_value_of_one_kind_never_parses_as_another() {
    let mut p = established(63, true);
    let bundle = p.bob_store.bundle(&p.bob_id, Some(0)).unwrap().to_bytes();
    let message = p.bob.encrypt(&mut p.rng, b"x").unwrap();
    let session = p.alice.to_bytes().unwrap();
    let store = p.bob_store.to_bytes().unwrap();
    let identity = p.alice_id.to_bytes();
    // A bundle is not a message, a message is not a bundle or certificate.
    assert!(p.alice.decrypt(&bundle).is_err());
    assert!(PreKeyBundle::from_bytes(&message).is_err());
    assert!(SenderCertificate::from_bytes(&message).is_err());
    // State blobs carry their kind.
    assert_eq!(
        Session::from_bytes(&store).unwrap_err(),
        DecodeError::UnknownType(KIND_PREKEY_STORE)
    );
    assert_eq!(
        PreKeyStore::from_bytes(&session).unwrap_err(),
        DecodeError::UnknownType(KIND_SESSION)
    );
    assert_eq!(
        Session::from_bytes(&identity).unwrap_err(),
        DecodeError::UnknownType(KIND_IDENTITY)
    );
    assert_eq!(
        IdentityKeyPair::from_bytes(&session).unwrap_err(),
        DecodeError::UnknownType(KIND_SESSION)
    );
    // A message is not a state blob, and vice versa.
    assert!(Session::from_bytes(&message).is_err());
    assert!(p.alice.decrypt(&session).is_err());
}

#[test]
fn one_time_prekey_protects_the_first_message_and_its_absence_is_reported() {
    for with_otpk in [true, false] {
        let mut rng = rng(64);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(&mut rng, &bob, 1000);
        store.generate_one_time_prekeys(&mut rng, 1).unwrap();
        let bundle = store.bundle(&bob, with_otpk.then_some(0)).unwrap();
        let mut a = Session::initiate(
            &mut rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(b"").allow_classical(),
        )
        .unwrap();
        let first = a.encrypt(&mut rng, b"first").unwrap();
        let (b, _) = Session::respond(
            &bob,
            &mut store,
            &first,
            &Config::new(b"").allow_classical(),
        )
        .unwrap();
        assert_eq!(a.used_one_time_prekey(), with_otpk);
        assert_eq!(b.used_one_time_prekey(), with_otpk);

        // Later, a thief takes Bob's identity and prekey store, and strips the signed prekey's
        // record of accepted first messages (SPEC.md §10.2), through the reference codec, so that
        // only the keys matter.
        let stolen_identity = IdentityKeyPair::from_bytes(&bob.to_bytes()).unwrap();
        let blob = store.to_bytes().unwrap();
        let stripped = common::state_codec::edit_store(&blob, |s| {
            assert_eq!(s.signed[0].accepted.len(), usize::from(!with_otpk));
            s.signed[0].accepted.clear();
        });
        let mut stolen = PreKeyStore::from_bytes(&stripped).unwrap();
        let result = Session::respond(
            &stolen_identity,
            &mut stolen,
            &first,
            &Config::new(b"").allow_classical(),
        );
        if with_otpk {
            // The one-time prekey was deleted when the first message decrypted.
            assert_eq!(result.unwrap_err(), Error::UnknownOneTimePreKey(0));
        } else {
            // The documented limit, which `used_one_time_prekey() == false` reports: identity and
            // signed prekey alone recover the first message.
            assert_eq!(result.unwrap().1, b"first");
        }
    }
}
