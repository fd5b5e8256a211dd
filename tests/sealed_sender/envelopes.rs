//! Envelopes: a sealed conversation both ways, damaged, misaddressed and low-order envelopes,
//! what the relay can see, and the error type's causes.

use crate::support::{NOW, first_envelope, recipient, world};
use xchat_protocol::sealed_sender::{seal, seal_to};
use xchat_protocol::{Config, Trust};
use xchat_protocol::{DecodeError, IdentityKeyPair, SealedSenderError, Session};

#[test]
fn sealed_conversation_both_ways_with_verified_senders() {
    let mut w = world(1);
    let (mut alice_session, envelope) = first_envelope(&mut w, b"hello, sealed");
    let roots = [w.root];
    let opened = recipient(&w.bob, &roots).open(&envelope, NOW).unwrap();
    assert!(opened.is_prekey_message());
    let (mut bob_session, delivered) = opened
        .respond(
            &w.bob,
            &mut w.bob_store,
            &Config::new(b"").allow_classical(),
        )
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
        &Config::new(b"").allow_classical(),
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
