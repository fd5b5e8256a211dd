//! Sealed sender: certificates at address, id and expiry extremes; seal and open at their
//! bounds.

use crate::common::{CONTEXT, rng};
use crate::support::{HUGE, assert_unchanged, world};
use xchat_protocol::content::max_body_len;
use xchat_protocol::sealed_sender::{
    ENVELOPE_HEADER_LEN, MAX_ADDRESS_LEN, MAX_ENVELOPE_LEN, MAX_SEALED_MESSAGE_LEN,
    MAX_SENDER_CERTIFICATE_LEN, SEALED_VERSION, SERVER_CERTIFICATE_LEN, seal_to,
};
use xchat_protocol::session::MAX_CONTEXT_LEN;
use xchat_protocol::{
    CertificateKey, CertificateKeyPair, DecodeError, Error, PreKeyStore, SealedRecipient,
    SealedSenderError, SenderCertificate, ServerCertificate, Session,
};
use xchat_protocol::{Config, Trust};

#[test]
fn certificates_at_address_id_and_expiry_extremes() {
    let w = world(13);
    let roots = [w.root.public()];
    let huge = vec![b'a'; HUGE];

    for id in [0, 1, u32::MAX] {
        let cert = w.root.certify_server(id, &w.server.public());
        assert_eq!(cert.id, id);
        let bytes = cert.to_bytes();
        assert_eq!(bytes.len(), SERVER_CERTIFICATE_LEN);
        assert_eq!(ServerCertificate::from_bytes(&bytes), Ok(cert));
    }

    for len in [1, 2, MAX_ADDRESS_LEN - 1, MAX_ADDRESS_LEN] {
        for device_id in [0, u32::MAX] {
            for expires_ms in [0, 1, u64::MAX] {
                let cert = w
                    .server
                    .certify_sender(
                        &w.server_cert,
                        &huge[..len],
                        device_id,
                        w.alice.public(),
                        expires_ms,
                    )
                    .unwrap();
                let bytes = cert.to_bytes().unwrap();
                assert_eq!(
                    bytes.len(),
                    MAX_SENDER_CERTIFICATE_LEN - (MAX_ADDRESS_LEN - len)
                );
                assert_eq!(SenderCertificate::from_bytes(&bytes).as_ref(), Ok(&cert));
                // Valid strictly before expiry; at u64::MAX everything has expired.
                for now in [0, 1, expires_ms.saturating_sub(1), expires_ms, u64::MAX] {
                    let want = if now < expires_ms {
                        Ok(())
                    } else {
                        Err(SealedSenderError::CertificateExpired)
                    };
                    assert_eq!(cert.validate(&roots, &[], now), want, "now {now}");
                }
            }
        }
    }

    // Addresses outside 1..=MAX_ADDRESS_LEN.
    let expected = [
        (0, DecodeError::NonCanonical),
        (MAX_ADDRESS_LEN + 1, DecodeError::TooLarge),
        (usize::from(u16::MAX) + 1, DecodeError::TooLarge),
        (HUGE, DecodeError::TooLarge),
    ];
    for (len, want) in expected {
        assert_eq!(
            w.server
                .certify_sender(&w.server_cert, &huge[..len], 1, w.alice.public(), 1)
                .unwrap_err(),
            want,
            "address of {len} bytes"
        );
    }

    // Trust-root and revocation lists: empty, and long.
    let cert = w.certify(b"alice", u64::MAX);
    assert_eq!(
        cert.validate(&[], &[], 0),
        Err(SealedSenderError::InvalidCertificate)
    );
    let mut rng = rng(14);
    let mut many_roots: Vec<CertificateKey> = (0..1000)
        .map(|_| CertificateKeyPair::generate(&mut rng).public())
        .collect();
    assert_eq!(
        cert.validate(&many_roots, &[], 0),
        Err(SealedSenderError::InvalidCertificate)
    );
    many_roots.push(w.root.public());
    assert_eq!(cert.validate(&many_roots, &[], 0), Ok(()));
    let mut revoked: Vec<u32> = (0..1 << 20).collect();
    assert_eq!(cert.validate(&roots, &revoked, 0), Ok(()));
    revoked.push(u32::MAX);
    assert_eq!(
        cert.validate(&roots, &revoked, 0),
        Err(SealedSenderError::RevokedServer)
    );
    assert_eq!(
        cert.validate(&roots, &[u32::MAX], u64::MAX),
        Err(SealedSenderError::RevokedServer)
    );
}

#[test]
fn seal_and_open_hold_their_bounds() {
    let mut w = world(15);
    let roots = [w.root.public()];
    let huge = vec![0x42; HUGE];
    let largest_cert = w.certify(&[b'a'; MAX_ADDRESS_LEN], u64::MAX);
    let smallest_cert = w.certify(b"a", u64::MAX);
    let bob_view = SealedRecipient {
        identity: &w.bob,
        trust_roots: &roots,
        revoked_servers: &[],
    };

    for cert in [&smallest_cert, &largest_cert] {
        for len in [0, 1, MAX_SEALED_MESSAGE_LEN - 1, MAX_SEALED_MESSAGE_LEN] {
            let envelope =
                seal_to(&mut w.rng, &w.alice, cert, w.bob.public(), &huge[..len]).unwrap();
            assert!(envelope.len() <= MAX_ENVELOPE_LEN);
            if len == MAX_SEALED_MESSAGE_LEN && cert == &largest_cert {
                assert_eq!(envelope.len(), MAX_ENVELOPE_LEN);
            }
            for now in [0, 1, u64::MAX - 1] {
                let opened = bob_view.open(&envelope, now).unwrap();
                assert_eq!(opened.sender(), cert);
                assert!(!opened.is_prekey_message());
            }
            assert_eq!(
                bob_view.open(&envelope, u64::MAX).unwrap_err(),
                SealedSenderError::CertificateExpired
            );
        }
        for len in [MAX_SEALED_MESSAGE_LEN + 1, 2 * MAX_SEALED_MESSAGE_LEN, HUGE] {
            assert_eq!(
                seal_to(&mut w.rng, &w.alice, cert, w.bob.public(), &huge[..len]).unwrap_err(),
                SealedSenderError::TooLarge,
                "seal of {len} bytes"
            );
        }
    }

    // Envelopes: empty, short, over the bound, huge.
    let envelope = seal_to(&mut w.rng, &w.alice, &smallest_cert, w.bob.public(), b"").unwrap();
    let header = &envelope[..ENVELOPE_HEADER_LEN];
    let mut low_order = vec![SEALED_VERSION];
    low_order.extend_from_slice(&[0; 32 + 48 + 16]);
    let cases: [(Vec<u8>, SealedSenderError); 10] = [
        (vec![], DecodeError::Truncated.into()),
        (vec![SEALED_VERSION], DecodeError::Truncated.into()),
        (vec![0], DecodeError::UnknownVersion(0).into()),
        ([header, &[0; 15]].concat(), DecodeError::Truncated.into()),
        (low_order, SealedSenderError::NonContributory),
        (
            [&envelope[..], &[0]].concat(),
            SealedSenderError::DecryptionFailed,
        ),
        (
            [header, &huge[..MAX_ENVELOPE_LEN - ENVELOPE_HEADER_LEN]].concat(),
            SealedSenderError::DecryptionFailed,
        ),
        (
            [header, &huge[..MAX_ENVELOPE_LEN + 1 - ENVELOPE_HEADER_LEN]].concat(),
            DecodeError::TooLarge.into(),
        ),
        (huge.clone(), DecodeError::TooLarge.into()),
        (vec![0; HUGE], DecodeError::TooLarge.into()),
    ];
    for (input, want) in cases {
        for now in [0, u64::MAX] {
            assert_eq!(
                bob_view.open(&input, now).unwrap_err(),
                want,
                "open of {} bytes",
                input.len()
            );
        }
    }

    // A real conversation at the extremes: a maximal body in a sealed first message.
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut w.rng, &w.bob, u64::MAX);
    store.generate_one_time_prekeys(&mut w.rng, 1).unwrap();
    let bundle = store.bundle(&w.bob, Some(0)).unwrap();
    let mut to_bob = Session::initiate(
        &mut w.rng,
        &w.alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let max_body = &huge[..max_body_len()];
    let inner = to_bob.send(&mut w.rng, u64::MAX, max_body).unwrap();
    assert!(inner.len() <= MAX_SEALED_MESSAGE_LEN);
    let envelope = seal_to(&mut w.rng, &w.alice, &largest_cert, w.bob.public(), &inner).unwrap();
    assert!(envelope.len() <= MAX_ENVELOPE_LEN);
    let opened = bob_view.open(&envelope, u64::MAX - 1).unwrap();
    assert!(opened.is_prekey_message());
    let before = store.to_bytes().unwrap();
    for len in [MAX_CONTEXT_LEN + 1, HUGE] {
        assert_eq!(
            opened
                .respond(
                    &w.bob,
                    &mut store,
                    &Config::new(&huge[..len]).allow_classical()
                )
                .unwrap_err(),
            SealedSenderError::Session(Error::TooLarge)
        );
    }
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "Opened::respond refused",
    );
    let (mut to_alice, delivered) = opened
        .respond(&w.bob, &mut store, &Config::new(CONTEXT).allow_classical())
        .unwrap();
    assert!(delivered.receipt.message().unwrap().body == max_body);
    assert_eq!(delivered.receipt.message().unwrap().sent_at_ms, u64::MAX);
    assert_eq!(delivered.sender, largest_cert);

    // The reply direction at time 0.
    let bob_cert = w
        .server
        .certify_sender(&w.server_cert, b"b", 0, w.bob.public(), 1)
        .unwrap();
    let reply = to_alice.send(&mut w.rng, 0, b"").unwrap();
    let envelope = seal_to(&mut w.rng, &w.bob, &bob_cert, w.alice.public(), &reply).unwrap();
    let alice_view = SealedRecipient {
        identity: &w.alice,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    assert_eq!(
        alice_view.open(&envelope, 1).unwrap_err(),
        SealedSenderError::CertificateExpired
    );
    let opened = alice_view.open(&envelope, 0).unwrap();
    let delivered = opened.decrypt(&mut to_bob).unwrap();
    assert!(delivered.receipt.message().unwrap().body.is_empty());
    assert_eq!(delivered.sender.device_id, 0);
}
