//! Replay protection of first messages (SPEC.md §4.3): the record of accepted first messages and
//! its documented flooding limit, early returns, poisoning, flag toggling, reloads and rotations.

use crate::common::{CONTEXT, bob, rng, with, x25519_variants};
use crate::support::{BASE_KEY, T0};
use xchat_protocol::Receipt;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{Error, IdentityKeyPair, PreKeyStore, Session, TimerStart};

/// FINDING (low; over-claim in SPEC.md §4.3 / SECURITY.md "Known limits": "a denial of service
/// bounded by the rotation period"): anyone can fill a signed prekey's record with 4096
/// throw-away first messages of its own. An honest OPK-less first message already sent to that
/// signed prekey is then refused with `SignedPreKeyFull` — and rotating does not help it: the
/// full record stays with the old key, and once that key rotates out the message is
/// `UnknownSignedPreKey`. Messages in flight are lost, not delayed.
#[test]
fn known_limit_a_flooded_record_loses_in_flight_first_messages() {
    use xchat_protocol::prekeys::MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY;
    let mut b = bob(133, false);
    let mut r = rng(134);
    let alice = IdentityKeyPair::generate(&mut r);
    let mallory = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let in_flight = a.send(&mut r, T0, b"hello Bob").unwrap();
    for _ in 0..MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY {
        let mut m = Session::initiate(
            &mut r,
            &mallory,
            &b.bundle,
            Trust::FirstUse,
            &Config::new(CONTEXT).allow_classical(),
        )
        .unwrap();
        let junk = m.encrypt(&mut r, b"").unwrap();
        Session::respond(
            &b.id,
            &mut b.store,
            &junk,
            &Config::new(CONTEXT).allow_classical(),
        )
        .unwrap();
    }
    let spk = b.bundle.signed_prekey.id;
    let mut outcomes = Vec::new();
    for round in 0..4u64 {
        outcomes.push(
            Session::accept(
                &b.id,
                &mut b.store,
                &in_flight,
                &Config::new(CONTEXT).allow_classical(),
                T0,
            )
            .map(|(_, got)| got.body)
            .map_err(|e| (round, e)),
        );
        // The application does what §4.3 advises: rotate.
        b.store
            .rotate_signed_prekey(&mut r, &b.id, (100 + round) * 1000);
    }
    // The documented price of the flood (SPEC.md §4.3): the in-flight message is refused while
    // its signed prekey is held, then unknown; it is lost, never accepted twice.
    assert_eq!(
        outcomes,
        [
            Err((0, Error::SignedPreKeyFull(spk))),
            Err((1, Error::SignedPreKeyFull(spk))),
            Err((2, Error::SignedPreKeyFull(spk))),
            Err((3, Error::UnknownSignedPreKey(spk))),
        ]
    );
}

/// HELD: `accept`'s early returns. An expired OPK-less first message is not recorded (store
/// byte-identical) and can be re-offered forever without effect; once a later prekey message of
/// the same X3DH run is accepted, the expired one (and its torsion variants) is a replay through
/// both `accept` and `respond`, and through the session it is `Expired` once, then a duplicate.
#[test]
fn held_accepts_early_returns_neither_record_nor_reopen() {
    for one_time in [false, true] {
        let mut b = bob(110, one_time);
        let mut r = rng(111);
        let alice = IdentityKeyPair::generate(&mut r);
        let mut a = Session::initiate(
            &mut r,
            &alice,
            &b.bundle,
            Trust::FirstUse,
            &Config::new(CONTEXT).allow_classical(),
        )
        .unwrap();
        let first = a.set_timer(&mut r, T0, 60, TimerStart::OnSend).unwrap();
        let late = T0 + 3_600_000;
        let second = a.send(&mut r, late, b"second").unwrap();
        let before = b.store.to_bytes();
        for _ in 0..3 {
            assert_eq!(
                Session::accept(
                    &b.id,
                    &mut b.store,
                    &first,
                    &Config::new(CONTEXT).allow_classical(),
                    late
                )
                .unwrap_err(),
                Error::Expired
            );
            assert_eq!(b.store.to_bytes(), before);
        }
        let (mut s, got) = Session::accept(
            &b.id,
            &mut b.store,
            &second,
            &Config::new(CONTEXT).allow_classical(),
            late,
        )
        .unwrap();
        assert_eq!(got.body, b"second");
        assert_ne!(b.store.to_bytes(), before);
        let after = b.store.to_bytes();
        let mut replays = vec![first.clone(), second.clone()];
        replays.extend(
            x25519_variants(&first[BASE_KEY])
                .iter()
                .map(|v| with(&first, BASE_KEY, v)),
        );
        for m in &replays {
            assert!(
                Session::accept(
                    &b.id,
                    &mut b.store,
                    m,
                    &Config::new(CONTEXT).allow_classical(),
                    late
                )
                .is_err()
            );
            assert!(
                Session::respond(
                    &b.id,
                    &mut b.store,
                    m,
                    &Config::new(CONTEXT).allow_classical()
                )
                .is_err()
            );
            assert_eq!(b.store.to_bytes(), after);
        }
        assert!(matches!(
            s.receive(&first, late),
            Ok(Receipt::Expired { .. })
        ));
        assert_eq!(
            s.receive(&first, late).unwrap_err(),
            Error::DuplicateMessage
        );
        assert_eq!(
            s.receive(&second, late).unwrap_err(),
            Error::DuplicateMessage
        );
    }
}

/// HELD: `InvalidContent` from `accept` (an authentic but raw first message) records nothing;
/// the run's next framed prekey message is accepted, and then the raw one is a replay.
#[test]
fn held_invalid_content_first_message_records_nothing() {
    let mut b = bob(112, false);
    let mut r = rng(113);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let raw = a.encrypt(&mut r, b"not a frame").unwrap();
    let framed = a.send(&mut r, T0, b"framed").unwrap();
    let before = b.store.to_bytes();
    assert!(matches!(
        Session::accept(
            &b.id,
            &mut b.store,
            &raw,
            &Config::new(CONTEXT).allow_classical(),
            T0
        ),
        Err(Error::InvalidContent(_))
    ));
    assert_eq!(b.store.to_bytes(), before);
    Session::accept(
        &b.id,
        &mut b.store,
        &framed,
        &Config::new(CONTEXT).allow_classical(),
        T0,
    )
    .unwrap();
    assert_eq!(
        Session::respond(
            &b.id,
            &mut b.store,
            &raw,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::DuplicateMessage
    );
}

/// HELD: the replay record cannot be poisoned by someone who cannot compute DH3. A relay that
/// saw an honest OPK-less first message forges first messages with its base key (own identity,
/// garbage ciphertext, torsion variants, other ids, framed or not): every one fails and the store
/// stays byte-identical; the honest message is then accepted. A throw-away first message of the
/// attacker's own does not block it either.
#[test]
fn held_the_replay_record_cannot_be_poisoned() {
    let mut b = bob(114, false);
    let mut r = rng(115);
    let alice = IdentityKeyPair::generate(&mut r);
    let mallory = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let honest = a.send(&mut r, T0, b"honest").unwrap();
    let mut m = Session::initiate(
        &mut r,
        &mallory,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let junk = m.send(&mut r, T0, b"junk").unwrap();
    Session::accept(
        &b.id,
        &mut b.store,
        &junk,
        &Config::new(CONTEXT).allow_classical(),
        T0,
    )
    .unwrap();
    let before = b.store.to_bytes();
    let mut forgeries = vec![
        // Offsets in a prekey message without a one-time prekey (SPEC.md §5.3): `IK_A` at 2..34,
        // the signed prekey id at 66..70, the embedded message from 71.
        with(&honest, 2..34, &mallory.public().to_bytes()),
        {
            let mut g = honest.clone();
            let last = g.len() - 1;
            g[last] ^= 1;
            g
        },
        {
            let mut g = honest.clone();
            g[66..70].copy_from_slice(&7u32.to_be_bytes());
            g
        },
        // Mallory's own embedded message under Alice's prekey fields.
        [&honest[..71], &junk[71..]].concat(),
    ];
    forgeries.extend(
        x25519_variants(&honest[BASE_KEY])
            .iter()
            .map(|v| with(&honest, BASE_KEY, v)),
    );
    for f in &forgeries {
        assert!(
            Session::accept(
                &b.id,
                &mut b.store,
                f,
                &Config::new(CONTEXT).allow_classical(),
                T0
            )
            .is_err()
        );
        assert!(
            Session::respond(
                &b.id,
                &mut b.store,
                f,
                &Config::new(CONTEXT).allow_classical()
            )
            .is_err()
        );
        assert_eq!(b.store.to_bytes(), before);
    }
    let (_, got) = Session::accept(
        &b.id,
        &mut b.store,
        &honest,
        &Config::new(CONTEXT).allow_classical(),
        T0,
    )
    .unwrap();
    assert_eq!(got.body, b"honest");
}

/// HELD: toggling the one-time prekey flag of a first message (dropping or adding an id) fails
/// authentication before anything is consumed or recorded.
#[test]
fn held_one_time_prekey_flag_toggling_fails_and_consumes_nothing() {
    let mut b = bob(119, true);
    let mut r = rng(120);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let with_otpk = a.encrypt(&mut r, b"x").unwrap();
    // The one-time prekey flag at 70, the id at 71..75 (SPEC.md §5.3).
    let dropped = [&with_otpk[..70], &[0u8][..], &with_otpk[75..]].concat();
    let before = b.store.to_bytes();
    assert_eq!(
        Session::respond(
            &b.id,
            &mut b.store,
            &dropped,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(b.store.to_bytes(), before);
    let bundle = b.store.bundle(&b.id, None).unwrap();
    let mut c = Session::initiate(
        &mut r,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let without = c.encrypt(&mut r, b"y").unwrap();
    for id in [0u32, 1] {
        let added = [
            &without[..70],
            &[1u8][..],
            &id.to_be_bytes()[..],
            &without[71..],
        ]
        .concat();
        assert_eq!(
            Session::respond(
                &b.id,
                &mut b.store,
                &added,
                &Config::new(CONTEXT).allow_classical()
            )
            .unwrap_err(),
            Error::DecryptionFailed
        );
        assert_eq!(b.store.to_bytes(), before);
    }
    Session::respond(
        &b.id,
        &mut b.store,
        &with_otpk,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    Session::respond(
        &b.id,
        &mut b.store,
        &without,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
}

/// HELD: the record survives save/load and rotations for as long as the signed prekey is held;
/// a replay with another initiator identity is refused before authentication, without change.
#[test]
fn held_the_record_survives_reload_rotation_and_identity_swaps() {
    let mut b = bob(126, false);
    let mut r = rng(127);
    let alice = IdentityKeyPair::generate(&mut r);
    let carol = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = a.encrypt(&mut r, b"x").unwrap();
    Session::respond(
        &b.id,
        &mut b.store,
        &first,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let swapped = with(&first, 2..34, &carol.public().to_bytes()); // `IK_A` (SPEC.md §5.3)
    let mut store = PreKeyStore::from_bytes(&b.store.to_bytes().unwrap()).unwrap();
    for round in 0..3 {
        let before = store.to_bytes();
        for m in [&first, &swapped] {
            let e = Session::respond(
                &b.id,
                &mut store,
                m,
                &Config::new(CONTEXT).allow_classical(),
            )
            .unwrap_err();
            assert_eq!(e, Error::DuplicateMessage, "round {round}");
            assert_eq!(store.to_bytes(), before);
        }
        store.rotate_signed_prekey(&mut r, &b.id, (10 + round) * 1000);
        store = PreKeyStore::from_bytes(&store.to_bytes().unwrap()).unwrap();
    }
    assert_eq!(
        Session::respond(
            &b.id,
            &mut store,
            &first,
            &Config::new(CONTEXT).allow_classical()
        )
        .unwrap_err(),
        Error::UnknownSignedPreKey(0)
    );
}
