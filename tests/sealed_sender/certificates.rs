//! Certificates: expiry, revocation and trust roots each with their own error, forged and
//! malleated certificates, strict decoding, and hand-built addresses that are too long.

use crate::support::{DAY, NOW, first_envelope, recipient, world};
use xchat_protocol::sealed_sender::seal_to;
use xchat_protocol::{
    CertificateKeyPair, DecodeError, SealedRecipient, SealedSenderError, SenderCertificate,
    ServerCertificate, Session,
};
use xchat_protocol::{Config, Trust};

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
        &Config::new(b"").allow_classical(),
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
