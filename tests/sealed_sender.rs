//! Sealed sender: certificates, seal/open, and the single call that decides who sent a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::rng;
use rand_chacha::ChaCha20Rng;
use xchat_protocol::sealed_sender::{seal, seal_to};
use xchat_protocol::{
    CertificateKey, CertificateKeyPair, DecodeError, IdentityKeyPair, PreKeyStore, SealedRecipient,
    SealedSenderError, SenderCertificate, ServerCertificate, Session,
};
use xchat_protocol::{Config, Trust};

const NOW: u64 = 1_700_000_000_000;
const DAY: u64 = 86_400_000;

struct World {
    rng: ChaCha20Rng,
    root: CertificateKey,
    server: CertificateKeyPair,
    server_cert: ServerCertificate,
    alice: IdentityKeyPair,
    alice_cert: SenderCertificate,
    bob: IdentityKeyPair,
    bob_cert: SenderCertificate,
    bob_store: PreKeyStore,
}

fn world(seed: u8) -> World {
    let mut rng = rng(seed);
    let root_pair = CertificateKeyPair::generate(&mut rng);
    let server = CertificateKeyPair::generate(&mut rng);
    let server_cert = root_pair.certify_server(7, &server.public());
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let alice_cert = server
        .certify_sender(&server_cert, b"alice", 1, alice.public(), NOW + DAY)
        .unwrap();
    let bob_cert = server
        .certify_sender(&server_cert, b"bob", 1, bob.public(), NOW + DAY)
        .unwrap();
    let mut bob_store = PreKeyStore::new();
    bob_store.rotate_signed_prekey(&mut rng, &bob, NOW);
    bob_store.generate_one_time_prekeys(&mut rng, 2).unwrap();
    World {
        rng,
        root: root_pair.public(),
        server,
        server_cert,
        alice,
        alice_cert,
        bob,
        bob_cert,
        bob_store,
    }
}

fn recipient<'a>(id: &'a IdentityKeyPair, roots: &'a [CertificateKey]) -> SealedRecipient<'a> {
    SealedRecipient {
        identity: id,
        trust_roots: roots,
        revoked_servers: &[],
    }
}

/// Alice starts a session with Bob and seals her first message.
fn first_envelope(w: &mut World, text: &[u8]) -> (Session, Vec<u8>) {
    let bundle = w.bob_store.bundle(&w.bob, Some(0)).unwrap();
    let mut session = Session::initiate(
        &mut w.rng,
        &w.alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b""),
    )
    .unwrap();
    let inner = session.send(&mut w.rng, NOW, text).unwrap();
    let envelope = seal(&mut w.rng, &w.alice, &w.alice_cert, &session, &inner).unwrap();
    (session, envelope)
}

#[test]
fn sealed_conversation_both_ways_with_verified_senders() {
    let mut w = world(1);
    let (mut alice_session, envelope) = first_envelope(&mut w, b"hello, sealed");
    let roots = [w.root];
    let opened = recipient(&w.bob, &roots).open(&envelope, NOW).unwrap();
    assert!(opened.is_prekey_message());
    let (mut bob_session, delivered) = opened
        .respond(&w.bob, &mut w.bob_store, &Config::new(b""))
        .unwrap();
    assert_eq!(delivered.sender.address, b"alice");
    assert_eq!(&delivered.sender.identity, w.alice.public());
    assert_eq!(delivered.receipt.message().unwrap().body, b"hello, sealed");

    let inner = bob_session.send(&mut w.rng, NOW + 1, b"hi Alice").unwrap();
    let envelope = seal(&mut w.rng, &w.bob, &w.bob_cert, &bob_session, &inner).unwrap();
    let opened = recipient(&w.alice, &roots)
        .open(&envelope, NOW + 2)
        .unwrap();
    assert!(!opened.is_prekey_message());
    let delivered = opened.decrypt(&mut alice_session).unwrap();
    assert_eq!(delivered.sender.address, b"bob");
    assert_eq!(delivered.receipt.message().unwrap().body, b"hi Alice");
}

#[test]
fn certificate_checks_each_reject_with_their_own_error() {
    let mut w = world(2);
    let (_, envelope) = first_envelope(&mut w, b"x");
    let roots = [w.root];
    // Expired at the given time (expiry is exclusive).
    let err = recipient(&w.bob, &roots)
        .open(&envelope, NOW + DAY)
        .unwrap_err();
    assert_eq!(err, SealedSenderError::CertificateExpired);
    // Revoked server.
    let revoked = SealedRecipient {
        identity: &w.bob,
        trust_roots: &roots,
        revoked_servers: &[7],
    };
    assert_eq!(
        revoked.open(&envelope, NOW).unwrap_err(),
        SealedSenderError::RevokedServer
    );
    // A different trust root.
    let other_root = [CertificateKeyPair::generate(&mut w.rng).public()];
    let err = recipient(&w.bob, &other_root)
        .open(&envelope, NOW)
        .unwrap_err();
    assert_eq!(err, SealedSenderError::InvalidCertificate);
}

#[test]
fn forged_certificates_are_rejected() {
    let mut w = world(3);
    let roots = [w.root];
    let bundle = w.bob_store.bundle(&w.bob, None).unwrap();
    let mut session = Session::initiate(
        &mut w.rng,
        &w.alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b""),
    )
    .unwrap();
    let inner = session.send(&mut w.rng, NOW, b"x").unwrap();

    // A sender certificate signed by a key that is not the certified server's.
    let rogue = CertificateKeyPair::generate(&mut w.rng);
    let forged = rogue
        .certify_sender(&w.server_cert, b"alice", 1, w.alice.public(), NOW + DAY)
        .unwrap();
    // A self-made server certificate.
    let rogue_server_cert = rogue.certify_server(7, &rogue.public());
    let self_made = rogue
        .certify_sender(&rogue_server_cert, b"alice", 1, w.alice.public(), NOW + DAY)
        .unwrap();
    // A genuine certificate with its expiry extended.
    let mut extended = w.alice_cert.clone();
    extended.expires_ms += 10 * DAY;
    // Malleated signature: s + L is rejected by strict verification.
    let mut malleated = w.alice_cert.clone();
    add_group_order(&mut malleated.signature);

    for cert in [forged, self_made, extended, malleated] {
        let envelope = seal_to(&mut w.rng, &w.alice, &cert, w.bob.public(), &inner).unwrap();
        let err = recipient(&w.bob, &roots).open(&envelope, NOW).unwrap_err();
        assert_eq!(err, SealedSenderError::InvalidCertificate);
    }
}

/// Adds the group order L to the scalar half of an Ed25519 signature (little-endian).
fn add_group_order(sig: &mut [u8; 64]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        sig[32 + i] = v as u8;
        carry = v >> 8;
    }
}

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
        &Config::new(b""),
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
        .respond(&w.bob, &mut w.bob_store, &Config::new(b""))
        .unwrap_err();
    assert_eq!(err, SealedSenderError::SenderIdentityMismatch);
    assert_eq!(w.bob_store.to_bytes(), before);
    // The genuine envelope still works.
    let opened = recipient(&w.bob, &roots).open(&envelope, NOW).unwrap();
    opened
        .respond(&w.bob, &mut w.bob_store, &Config::new(b""))
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
        &Config::new(b""),
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

#[test]
fn damaged_misaddressed_or_unknown_version_envelopes_are_rejected() {
    let mut w = world(8);
    let roots = [w.root];
    let (_, envelope) = first_envelope(&mut w, b"x");
    for i in 0..envelope.len() {
        let mut bad = envelope.clone();
        bad[i] ^= 0x01;
        assert!(
            recipient(&w.bob, &roots).open(&bad, NOW).is_err(),
            "flip at {i}"
        );
    }
    for len in 0..envelope.len() {
        assert!(
            recipient(&w.bob, &roots)
                .open(&envelope[..len], NOW)
                .is_err()
        );
    }
    let mut v2 = envelope.clone();
    v2[0] = 2;
    assert_eq!(
        recipient(&w.bob, &roots).open(&v2, NOW).unwrap_err(),
        SealedSenderError::Decode(DecodeError::UnknownVersion(2))
    );
    let carol = IdentityKeyPair::generate(&mut w.rng);
    assert_eq!(
        recipient(&carol, &roots).open(&envelope, NOW).unwrap_err(),
        SealedSenderError::DecryptionFailed
    );
}

#[test]
fn low_order_ephemeral_keys_are_rejected() {
    let w = world(9);
    let roots = [w.root];
    let mut envelope = vec![1u8];
    envelope.extend_from_slice(&[0; 32]); // u = 0, a low-order point
    envelope.extend_from_slice(&[0; 48 + 300]);
    assert_eq!(
        recipient(&w.bob, &roots).open(&envelope, NOW).unwrap_err(),
        SealedSenderError::NonContributory
    );
}

#[test]
fn the_relay_sees_no_sender_no_certificate_no_timer_and_no_exact_length() {
    let mut w = world(10);
    let bundle = w.bob_store.bundle(&w.bob, None).unwrap();
    let mut session = Session::initiate(
        &mut w.rng,
        &w.alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b""),
    )
    .unwrap();
    session
        .set_timer(
            &mut w.rng,
            NOW,
            0x1234_5678,
            xchat_protocol::TimerStart::OnSend,
        )
        .unwrap();
    let short_inner = session.send(&mut w.rng, NOW, b"a").unwrap();
    let short = seal_to(
        &mut w.rng,
        &w.alice,
        &w.alice_cert,
        w.bob.public(),
        &short_inner,
    )
    .unwrap();
    let longer_inner = session.send(&mut w.rng, NOW, &[b'z'; 150]).unwrap();
    let longer = seal_to(
        &mut w.rng,
        &w.alice,
        &w.alice_cert,
        w.bob.public(),
        &longer_inner,
    )
    .unwrap();
    assert_eq!(short.len(), longer.len(), "lengths are bucketed");
    // The envelope pads its own payload too (Padmé: 16-byte steps at this size): raw
    // (unframed) inner messages of different lengths in one bucket give one envelope length.
    let raw_short = session.encrypt(&mut w.rng, &[1; 9]).unwrap();
    let raw_long = session.encrypt(&mut w.rng, &[1; 11]).unwrap();
    assert_ne!(raw_short.len(), raw_long.len());
    let a = seal_to(
        &mut w.rng,
        &w.alice,
        &w.alice_cert,
        w.bob.public(),
        &raw_short,
    )
    .unwrap();
    let b = seal_to(
        &mut w.rng,
        &w.alice,
        &w.alice_cert,
        w.bob.public(),
        &raw_long,
    )
    .unwrap();
    assert_eq!(a.len(), b.len(), "the payload is bucketed");
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    for envelope in [&short, &longer] {
        assert!(!contains(envelope, &w.alice.public().to_bytes()));
        assert!(!contains(
            envelope,
            w.alice.public().x25519().unwrap().as_bytes()
        ));
        assert!(!contains(envelope, &w.alice_cert.to_bytes().unwrap()[..40]));
        assert!(!contains(envelope, b"alice"));
        assert!(!contains(envelope, &0x1234_5678u32.to_be_bytes()));
        assert!(!contains(envelope, &[b'z'; 16]));
    }
}

#[test]
fn certificates_round_trip_and_decode_strictly() {
    let w = world(11);
    let bytes = w.alice_cert.to_bytes().unwrap();
    assert_eq!(SenderCertificate::from_bytes(&bytes).unwrap(), w.alice_cert);
    assert_eq!(
        ServerCertificate::from_bytes(&w.server_cert.to_bytes()).unwrap(),
        w.server_cert
    );
    for len in 0..bytes.len() {
        assert!(SenderCertificate::from_bytes(&bytes[..len]).is_err());
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        SenderCertificate::from_bytes(&trailing),
        Err(DecodeError::TrailingBytes)
    );
    let mut empty_address = bytes.clone();
    empty_address[1] = 0;
    assert_eq!(
        SenderCertificate::from_bytes(&empty_address),
        Err(DecodeError::NonCanonical)
    );
    assert!(matches!(
        w.server
            .certify_sender(&w.server_cert, &[0; 256], 1, w.alice.public(), 0),
        Err(DecodeError::TooLarge)
    ));
}

/// Errors carry their cause for `?`-chained reports (`core::error::Error::source`), and only the
/// variants that wrap one have one.
#[test]
fn sealed_sender_errors_chain_to_their_cause() {
    use core::error::Error as _;
    use xchat_protocol::Error;
    let cause = |e: SealedSenderError| e.source().map(|s| s.to_string());
    assert_eq!(
        cause(SealedSenderError::Decode(DecodeError::Truncated)),
        Some(DecodeError::Truncated.to_string())
    );
    assert_eq!(
        cause(SealedSenderError::Session(Error::DuplicateMessage)),
        Some(Error::DuplicateMessage.to_string())
    );
    for e in [
        SealedSenderError::DecryptionFailed,
        SealedSenderError::InvalidCertificate,
        SealedSenderError::TooLarge,
    ] {
        assert_eq!(cause(e), None, "{e:?}");
    }
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

/// A certificate built by hand with an address no decoder accepts does not encode with a silently
/// shortened length (issue 12): `to_bytes` and `validate` say `TooLarge`.
#[test]
fn an_overlong_hand_built_address_is_a_typed_error() {
    let w = world(21);
    let mut cert = w.alice_cert.clone();
    cert.address = vec![b'a'; 256];
    assert_eq!(cert.to_bytes(), Err(DecodeError::TooLarge));
    assert_eq!(
        cert.validate(&[w.root], &[], NOW),
        Err(SealedSenderError::Decode(DecodeError::TooLarge))
    );
    cert.address.pop();
    assert_eq!(
        cert.to_bytes().map(|b| b.len()),
        Ok(1 + 1 + 255 + 4 + 32 + 8 + 101 + 64)
    );
}
