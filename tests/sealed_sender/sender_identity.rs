//! Who sent a message: the certificate must be the sealer's, the session peer must be the
//! certified sender, self-sends are refused, and `seal` checks both before drawing a key.

use crate::support::{DAY, NOW, first_envelope, recipient, world};
use xchat_protocol::sealed_sender::{seal, seal_to};
use xchat_protocol::{Config, Trust};
use xchat_protocol::{IdentityKeyPair, PreKeyStore, SealedSenderError, Session};

#[test]
fn a_certificate_for_someone_else_is_a_sender_identity_mismatch() {
    let mut w = world(4);
    let roots = [w.root];
    // Mallory holds a valid certificate of her own, and seals using Alice's certificate.
    let mallory = IdentityKeyPair::generate(&mut w.rng);
    let inner = b"not a real session message";
    let envelope = seal_to(&mut w.rng, &mallory, &w.alice_cert, w.bob.public(), inner).unwrap();
    let err = recipient(&w.bob, &roots).open(&envelope, NOW).unwrap_err();
    assert_eq!(err, SealedSenderError::SenderIdentityMismatch);
}

#[test]
fn a_replayed_prekey_message_under_another_certificate_does_not_touch_the_store() {
    let mut w = world(5);
    let roots = [w.root];
    let (_, envelope) = first_envelope(&mut w, b"from alice");
    // The relay (or Mallory) extracts nothing from the envelope, but Mallory can wrap a prekey
    // message she observed elsewhere; simulate with Alice's inner message.
    let bundle = w.bob_store.bundle(&w.bob, Some(1)).unwrap();
    let mut alice_session = Session::initiate(
        &mut w.rng,
        &w.alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b"").allow_classical(),
    )
    .unwrap();
    let alice_inner = alice_session.send(&mut w.rng, NOW, b"x").unwrap();
    let mallory = IdentityKeyPair::generate(&mut w.rng);
    let mallory_cert = w
        .server
        .certify_sender(&w.server_cert, b"mallory", 1, mallory.public(), NOW + DAY)
        .unwrap();
    let wrapped = seal_to(
        &mut w.rng,
        &mallory,
        &mallory_cert,
        w.bob.public(),
        &alice_inner,
    )
    .unwrap();
    let opened = recipient(&w.bob, &roots).open(&wrapped, NOW).unwrap();
    let before = w.bob_store.to_bytes();
    let err = opened
        .respond(
            &w.bob,
            &mut w.bob_store,
            &Config::new(b"").allow_classical(),
        )
        .unwrap_err();
    assert_eq!(err, SealedSenderError::SenderIdentityMismatch);
    assert_eq!(w.bob_store.to_bytes(), before);
    // The genuine envelope still works.
    let opened = recipient(&w.bob, &roots).open(&envelope, NOW).unwrap();
    opened
        .respond(
            &w.bob,
            &mut w.bob_store,
            &Config::new(b"").allow_classical(),
        )
        .unwrap();
}

#[test]
fn the_session_peer_must_be_the_certified_sender() {
    let mut w = world(6);
    let roots = [w.root];
    let (_, envelope) = first_envelope(&mut w, b"x");
    // Bob wrongly routes Alice's envelope to his session with Carol.
    let carol = IdentityKeyPair::generate(&mut w.rng);
    let mut carol_store = PreKeyStore::new();
    carol_store.rotate_signed_prekey(&mut w.rng, &carol, 1000);
    let mut to_carol = Session::initiate(
        &mut w.rng,
        &w.bob,
        &carol_store.bundle(&carol, None).unwrap(),
        Trust::FirstUse,
        &Config::new(b"").allow_classical(),
    )
    .unwrap();
    let before = to_carol.to_bytes();
    let opened = recipient(&w.bob, &roots).open(&envelope, NOW).unwrap();
    assert_eq!(
        opened.decrypt(&mut to_carol).unwrap_err(),
        SealedSenderError::SenderIdentityMismatch
    );
    assert_eq!(to_carol.to_bytes(), before);
}

#[test]
fn self_sent_envelopes_are_rejected() {
    let mut w = world(7);
    let roots = [w.root];
    let envelope = seal_to(&mut w.rng, &w.bob, &w.bob_cert, w.bob.public(), b"echo").unwrap();
    assert_eq!(
        recipient(&w.bob, &roots).open(&envelope, NOW).unwrap_err(),
        SealedSenderError::SelfSend
    );
}

/// `seal` takes the session (issue 12): the envelope goes to the session's peer, and a certificate
/// or session that is not the sender's is refused before any key is drawn — a sealed message can
/// no longer be addressed to a key other than the session's, or carry someone else's certificate.
#[test]
fn seal_refuses_a_certificate_or_session_that_is_not_the_senders() {
    use rand_chacha::rand_core::Rng;
    let mut w = world(20);
    let (session, _) = first_envelope(&mut w, b"x");
    let inner = b"inner";
    let mut probe = w.rng.clone();
    // Bob's certificate, or Alice's session sealed as Bob.
    for (sender, cert) in [(&w.alice, &w.bob_cert), (&w.bob, &w.bob_cert)] {
        assert_eq!(
            seal(&mut w.rng, sender, cert, &session, inner).unwrap_err(),
            SealedSenderError::SenderIdentityMismatch
        );
    }
    assert_eq!(w.rng.next_u64(), probe.next_u64(), "no key was drawn");
    // The low-level `seal_to` builds what an attacker could (a recipient refuses it:
    // `a_certificate_for_someone_else_is_a_sender_identity_mismatch`).
    assert!(seal_to(&mut w.rng, &w.alice, &w.bob_cert, w.bob.public(), inner).is_ok());
    // The envelope opens for the session's peer only.
    let envelope = seal(&mut w.rng, &w.alice, &w.alice_cert, &session, inner).unwrap();
    let roots = [w.root];
    assert!(recipient(&w.bob, &roots).open(&envelope, NOW).is_ok());
    assert_eq!(
        recipient(&w.alice, &roots)
            .open(&envelope, NOW)
            .unwrap_err(),
        SealedSenderError::DecryptionFailed
    );
}
