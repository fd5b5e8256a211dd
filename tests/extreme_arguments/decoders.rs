//! Decoders: every one refuses empty, one-byte and huge inputs; state blobs with lengths and
//! counts beyond their bounds; version-1 stores at the bound of their seen base keys.

use crate::common::state_codec::{self as codec, SessionBlob, StoreBlob};
use crate::common::{CONTEXT, established, rng};
use crate::forge::{decoded_store, forge_session, forge_store, patched, resealed_with_trailing};
use crate::support::{
    CHECK_LEN, HUGE, PREKEY_FIELDS_WITH_OTPK, assert_unchanged, reload_store, world,
};
use xchat_protocol::Config;
use xchat_protocol::prekeys::{MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY, MAX_SIGNED_PREKEYS};
use xchat_protocol::sealed_sender::{
    MAX_ADDRESS_LEN, MAX_SENDER_CERTIFICATE_LEN, SEALED_VERSION, SERVER_CERTIFICATE_LEN,
};
use xchat_protocol::session::MAX_CONTEXT_LEN;
use xchat_protocol::state::{KIND_IDENTITY, KIND_PREKEY_STORE, KIND_SESSION};
use xchat_protocol::wire::{
    MAX_PLAINTEXT_LEN, MESSAGE_PREFIX_LEN, TYPE_MESSAGE, TYPE_PREKEY_MESSAGE,
};
use xchat_protocol::{
    DecodeError, Error, IdentityKeyPair, Incoming, KeyPair, Limits, PROTOCOL_VERSION, PreKeyBundle,
    PreKeyStore, SenderCertificate, ServerCertificate, Session,
};

/// Runs `decode` on `input` and checks the error.
fn refuses<T: std::fmt::Debug>(
    what: &str,
    decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
    cases: &[(&[u8], DecodeError)],
) {
    for (input, want) in cases {
        assert_eq!(
            decode(input).map(|_| ()).unwrap_err(),
            *want,
            "{what} of {} bytes",
            input.len()
        );
    }
}

#[test]
fn every_decoder_refuses_empty_one_byte_and_huge_inputs() {
    let zeros = vec![0u8; HUGE];
    let ones = vec![0xFFu8; HUGE];
    let mut p = established(11, true);
    let concat = |a: &[u8], b: &[u8]| [a, b].concat();

    // PreKeyBundle.
    let bundle = p.bob_store.bundle(&p.bob_id, Some(0)).unwrap().to_bytes();
    // A classical bundle: the largest one without a KEM prekey.
    assert_eq!(
        bundle.len(),
        PreKeyBundle::MAX_LEN - xchat_protocol::KemPreKey::LEN
    );
    refuses(
        "PreKeyBundle::from_bytes",
        PreKeyBundle::from_bytes,
        &[
            (&[], DecodeError::Truncated),
            (&[PROTOCOL_VERSION], DecodeError::Truncated),
            (&[0], DecodeError::UnknownVersion(0)),
            (&zeros, DecodeError::UnknownVersion(0)),
            (&ones, DecodeError::UnknownVersion(0xFF)),
            (&bundle[..bundle.len() - 1], DecodeError::Truncated),
            (&concat(&bundle, &[0]), DecodeError::TrailingBytes),
            (&concat(&bundle, &zeros), DecodeError::TrailingBytes),
        ],
    );

    // Server and sender certificates.
    let w = world(12);
    let server = w.server_cert.to_bytes();
    assert_eq!(server.len(), SERVER_CERTIFICATE_LEN);
    refuses(
        "ServerCertificate::from_bytes",
        ServerCertificate::from_bytes,
        &[
            (&[], DecodeError::Truncated),
            (&[SEALED_VERSION], DecodeError::Truncated),
            (&[0], DecodeError::UnknownVersion(0)),
            (&zeros, DecodeError::UnknownVersion(0)),
            (&ones, DecodeError::UnknownVersion(0xFF)),
            (&server[..server.len() - 1], DecodeError::Truncated),
            (&concat(&server, &[0]), DecodeError::TrailingBytes),
            (&concat(&server, &zeros), DecodeError::TrailingBytes),
        ],
    );
    let sender = w
        .certify(&[b'a'; MAX_ADDRESS_LEN], u64::MAX)
        .to_bytes()
        .unwrap();
    assert_eq!(sender.len(), MAX_SENDER_CERTIFICATE_LEN);
    refuses(
        "SenderCertificate::from_bytes",
        SenderCertificate::from_bytes,
        &[
            (&[], DecodeError::Truncated),
            (&[SEALED_VERSION], DecodeError::Truncated),
            (&[SEALED_VERSION, 0], DecodeError::NonCanonical),
            (&[SEALED_VERSION, 0xFF], DecodeError::Truncated),
            (&[0], DecodeError::UnknownVersion(0)),
            (&zeros, DecodeError::UnknownVersion(0)),
            (&ones, DecodeError::UnknownVersion(0xFF)),
            (&sender[..sender.len() - 1], DecodeError::Truncated),
            (&concat(&sender, &[0]), DecodeError::TrailingBytes),
            (&concat(&sender, &zeros), DecodeError::TrailingBytes),
        ],
    );

    // Persisted state: identity, prekey store, session.
    let identity = p.bob_id.to_bytes().to_vec();
    let store = p.bob_store.to_bytes().unwrap().to_vec();
    let session = p.bob.to_bytes().unwrap().to_vec();
    for (what, blob, kind, decode) in [
        (
            "IdentityKeyPair::from_bytes",
            &identity,
            KIND_IDENTITY,
            (|b: &[u8]| IdentityKeyPair::from_bytes(b).map(|_| ()))
                as fn(&[u8]) -> Result<(), DecodeError>,
        ),
        ("PreKeyStore::from_bytes", &store, KIND_PREKEY_STORE, |b| {
            PreKeyStore::from_bytes(b).map(|_| ())
        }),
        ("Session::from_bytes", &session, KIND_SESSION, |b| {
            Session::from_bytes(b).map(|_| ())
        }),
    ] {
        let unknown_version = codec::seal(kind, 9, &[]);
        let body = codec::body(blob);
        let truncated_body = codec::reseal(blob, &body[..body.len() - 1]);
        refuses(
            what,
            decode,
            &[
                (&[], DecodeError::Truncated),
                (&[kind], DecodeError::Truncated),
                (&[0; CHECK_LEN], DecodeError::Truncated),
                (&concat(&[kind], &[0; CHECK_LEN]), DecodeError::Truncated),
                (&unknown_version, DecodeError::UnknownVersion(9)),
                (&zeros, DecodeError::UnknownType(0)),
                (&ones, DecodeError::UnknownType(0xFF)),
                (&concat(&blob[..2], &zeros), DecodeError::ChecksumMismatch),
                (&blob[..blob.len() - 1], DecodeError::ChecksumMismatch),
                (&concat(blob, &[0]), DecodeError::ChecksumMismatch),
                (
                    &resealed_with_trailing(blob, &[0]),
                    DecodeError::TrailingBytes,
                ),
                (
                    &resealed_with_trailing(blob, &zeros),
                    DecodeError::TrailingBytes,
                ),
                (&truncated_body, DecodeError::Truncated),
            ],
        );
        assert_eq!(decode(blob), Ok(()), "{what} of its own output");
    }

    // Session blobs with stored lengths and counts beyond their bounds (SPEC.md §10.3), forged
    // through the reference codec, which refuses them too.
    let refused = codec::DecodeError::NonCanonical;
    for stored in [MAX_CONTEXT_LEN + 1, usize::from(u16::MAX)] {
        let forged = forge_session(&session, |s| s.context = vec![0x63; stored]);
        assert_eq!(SessionBlob::decode(&forged).unwrap_err(), refused);
        assert_eq!(
            Session::from_bytes(&forged).unwrap_err(),
            DecodeError::NonCanonical,
            "stored context length {stored}"
        );
    }
    for field in 0..4 {
        for stored in [0, Limits::CEILING + 1, u32::MAX] {
            let forged = forge_session(&session, |s| s.limits[field] = stored);
            assert_eq!(SessionBlob::decode(&forged).unwrap_err(), refused);
            assert_eq!(
                Session::from_bytes(&forged).unwrap_err(),
                DecodeError::NonCanonical,
                "stored limit {field} = {stored}"
            );
        }
    }
    // The trailing counts of old chains and skipped keys: u32::MAX of each. The session holds
    // neither, so its body ends with the two counts (rows 16–17).
    let (_, decoded) = SessionBlob::decode(&session).unwrap();
    let open = decoded.open().expect("an open session");
    assert!(open.old.is_empty() && open.skipped.is_empty());
    let end = codec::body(&session).len();
    for at in [end - 8, end - 4] {
        let forged = patched(&session, at, &[0; 4], &u32::MAX.to_be_bytes());
        assert_eq!(SessionBlob::decode(&forged).unwrap_err(), refused);
        assert_eq!(
            Session::from_bytes(&forged).unwrap_err(),
            DecodeError::NonCanonical
        );
    }
    // A prekey store that claims u8::MAX signed prekeys (and holds them: copies of its one under
    // distinct ids).
    let forged = forge_store(&store, |s| {
        let spk = s.signed[0].clone();
        s.signed = (0..u8::MAX)
            .map(|id| codec::SignedPreKey {
                id: id.into(),
                ..spk.clone()
            })
            .collect();
    });
    assert_eq!(StoreBlob::decode(&forged).unwrap_err(), refused);
    assert_eq!(
        PreKeyStore::from_bytes(&forged).unwrap_err(),
        DecodeError::NonCanonical
    );

    // A version 1 store converts at most 1024 seen base keys (SPEC.md §10.2): exactly at the
    // bound it loads (each key becomes a first-message id of every signed prekey), one over and
    // u32::MAX are refused. The blobs are written by the reference codec.
    let mut rng = rng(19);
    let mut three = PreKeyStore::new();
    for _ in 0..MAX_SIGNED_PREKEYS {
        three.rotate_signed_prekey(&mut rng, &p.bob_id, u64::MAX);
    }
    let three = decoded_store(&three);
    assert!(three.one_time.is_empty(), "no one-time prekeys");
    // A version-1 body ends with its list of seen base keys, so without any it ends with their
    // count.
    let seen_count_at = codec::body(&three.encode_v1(&[])).len() - 4;
    // `keys` distinct canonical keys (a repeat is refused, SPEC.md §10.2), the count stored as
    // `seen` (patched when it disagrees with the list).
    let v1 = |seen: u32, keys: usize| {
        let keys: Vec<[u8; 32]> = (0..keys)
            .map(|i| {
                let mut key = [9u8; 32];
                key[1..5].copy_from_slice(&(i as u32).to_le_bytes());
                key
            })
            .collect();
        let blob = three.encode_v1(&keys);
        let held = u32::try_from(keys.len()).unwrap();
        if seen == held {
            blob
        } else {
            patched(
                &blob,
                seen_count_at,
                &held.to_be_bytes(),
                &seen.to_be_bytes(),
            )
        }
    };
    let distinct: Vec<[u8; 32]> = (0..1024)
        .map(|_| *KeyPair::generate(&mut rng).public().as_bytes())
        .collect();
    let migrated = PreKeyStore::from_bytes(&three.encode_v1(&distinct)).unwrap();
    assert_eq!(
        migrated.first_message_capacity(),
        MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY - 1024
    );
    reload_store(&migrated);
    assert_eq!(
        PreKeyStore::from_bytes(&v1(0, 0))
            .unwrap()
            .first_message_capacity(),
        MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY
    );
    for (seen, keys) in [(1025, 1025), (u32::MAX, 0)] {
        assert_eq!(
            PreKeyStore::from_bytes(&v1(seen, keys)).unwrap_err(),
            DecodeError::NonCanonical,
            "{seen} seen base keys"
        );
    }
    assert_eq!(
        PreKeyStore::from_bytes(&v1(1024, 1023)).unwrap_err(),
        DecodeError::Truncated
    );

    // Wire messages.
    let normal = p.bob.encrypt(&mut p.rng, b"n").unwrap();
    let prekey = p.alice.encrypt(&mut p.rng, b"p").unwrap();
    assert_eq!(prekey[1], TYPE_PREKEY_MESSAGE);
    assert_eq!(
        prekey.len(),
        PREKEY_FIELDS_WITH_OTPK + MESSAGE_PREFIX_LEN + 1 + 16
    );
    refuses(
        "Incoming::decode",
        |b| Incoming::decode(b).map(|_| ()),
        &[
            (&[], DecodeError::Truncated),
            (&[PROTOCOL_VERSION], DecodeError::Truncated),
            (&[0], DecodeError::UnknownVersion(0)),
            (&[PROTOCOL_VERSION, 0], DecodeError::UnknownType(0)),
            (&[PROTOCOL_VERSION, TYPE_MESSAGE], DecodeError::Truncated),
            (
                &[PROTOCOL_VERSION, TYPE_PREKEY_MESSAGE],
                DecodeError::Truncated,
            ),
            (&zeros, DecodeError::UnknownVersion(0)),
            (&ones, DecodeError::UnknownVersion(0xFF)),
            (&normal[..MESSAGE_PREFIX_LEN + 15], DecodeError::Truncated),
            (&concat(&normal, &zeros), DecodeError::TooLarge),
            (&concat(&prekey, &zeros), DecodeError::TooLarge),
        ],
    );
    // The ciphertext bound is exact, for both message types.
    for (message, prefix_len) in [
        (&normal, MESSAGE_PREFIX_LEN),
        (&prekey, PREKEY_FIELDS_WITH_OTPK + MESSAGE_PREFIX_LEN),
    ] {
        for (ct_len, ok) in [
            (16, true),
            (MAX_PLAINTEXT_LEN + 16, true),
            (MAX_PLAINTEXT_LEN + 17, false),
        ] {
            let bytes = concat(&message[..prefix_len], &zeros[..ct_len]);
            match Incoming::decode(&bytes) {
                Ok(incoming) => {
                    assert!(ok, "{ct_len}-byte ciphertext accepted");
                    assert_eq!(incoming.message().ciphertext.len(), ct_len);
                    assert!(incoming.to_bytes() == bytes);
                }
                Err(e) => {
                    assert!(!ok, "{ct_len}-byte ciphertext refused: {e}");
                    assert_eq!(e, DecodeError::TooLarge);
                }
            }
        }
    }

    // Every session call that parses a message: typed error, session and store unchanged.
    let bad_inputs: [&[u8]; 6] = [
        &[],
        &[PROTOCOL_VERSION],
        &zeros,
        &ones,
        &concat(&normal, &zeros),
        &concat(&prekey, &zeros),
    ];
    for session in [&mut p.alice, &mut p.bob] {
        let before = session.to_bytes().unwrap();
        for input in bad_inputs {
            assert!(matches!(session.decrypt(input), Err(Error::Decode(_))));
            for now in [0, u64::MAX] {
                assert!(matches!(session.receive(input, now), Err(Error::Decode(_))));
            }
        }
        assert_unchanged(
            &before,
            &session.to_bytes().unwrap(),
            "decrypt of malformed input",
        );
    }
    let before = p.bob_store.to_bytes().unwrap();
    for input in bad_inputs {
        let e = Session::respond(
            &p.bob_id,
            &mut p.bob_store,
            input,
            &Config::new(CONTEXT).allow_classical(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Decode(_)), "{e:?}");
        for now in [0, u64::MAX] {
            let e = Session::accept(
                &p.bob_id,
                &mut p.bob_store,
                input,
                &Config::new(CONTEXT).allow_classical(),
                now,
            )
            .unwrap_err();
            assert!(matches!(e, Error::Decode(_)), "{e:?}");
        }
    }
    assert_eq!(
        Session::respond(
            &p.bob_id,
            &mut p.bob_store,
            &normal,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::NotPreKeyMessage
    );
    assert_unchanged(
        &before,
        &p.bob_store.to_bytes().unwrap(),
        "respond to malformed input",
    );
}
