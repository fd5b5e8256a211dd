//! `Session`: contexts, plaintexts and bodies at their bounds, timers at `u32::MAX`, and receive,
//! accept and purge at the ends of time.

use crate::common::{CONTEXT, Pair, established, rng};
use crate::support::{HUGE, NOW_MS, assert_unchanged, reload_session};
use xchat_protocol::Receipt;
use xchat_protocol::content::{Content, FRAME_HEADER_LEN, MAX_CLOCK_SKEW_MS, max_body_len};
use xchat_protocol::sealed_sender::MAX_SEALED_MESSAGE_LEN;
use xchat_protocol::session::MAX_CONTEXT_LEN;
use xchat_protocol::wire::MAX_PLAINTEXT_LEN;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{
    ContentKind, Deadline, Error, IdentityKeyPair, Incoming, Limits, PreKeyStore, Session, Timer,
    TimerStart,
};

#[test]
fn contexts_hold_their_bound_on_both_sides() {
    let mut rng = rng(5);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    let huge = vec![0xC7; HUGE];
    let over = [
        MAX_CONTEXT_LEN + 1,
        usize::from(u16::MAX),
        usize::from(u16::MAX) + 1,
        HUGE,
    ];

    let bundle = store.bundle(&bob, None).unwrap();
    for len in over {
        assert_eq!(
            Session::initiate(
                &mut rng,
                &alice,
                &bundle,
                Trust::FirstUse,
                &Config::new(&huge[..len]).allow_classical()
            )
            .unwrap_err(),
            Error::TooLarge,
            "initiate with a {len}-byte context"
        );
    }

    for len in [0, 1, MAX_CONTEXT_LEN] {
        let context = &huge[..len];
        let mut to_bob = Session::initiate(
            &mut rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(context).allow_classical(),
        )
        .unwrap();
        assert_eq!(to_bob.context(), context);
        let first = to_bob.send(&mut rng, NOW_MS, b"ctx").unwrap();

        let before = store.to_bytes().unwrap();
        for bad in over {
            let bad = &huge[..bad];
            assert_eq!(
                Session::respond(
                    &bob,
                    &mut store,
                    &first,
                    &Config::new(bad).allow_classical()
                )
                .unwrap_err(),
                Error::TooLarge
            );
            assert_eq!(
                Session::respond(
                    &bob,
                    &mut store,
                    &first,
                    &Config::new(bad)
                        .allow_classical()
                        .with_limits(Limits::default())
                )
                .unwrap_err(),
                Error::TooLarge
            );
            assert_eq!(
                Session::accept(
                    &bob,
                    &mut store,
                    &first,
                    &Config::new(bad).allow_classical(),
                    NOW_MS
                )
                .unwrap_err(),
                Error::TooLarge
            );
            assert_unchanged(
                &before,
                &store.to_bytes().unwrap(),
                "respond with a long context",
            );
        }

        let (to_alice, got) = Session::accept(
            &bob,
            &mut store,
            &first,
            &Config::new(context).allow_classical(),
            0,
        )
        .unwrap();
        assert_eq!(got.body, b"ctx");
        assert_eq!(to_alice.context(), context);
        let mut to_alice = reload_session(&to_alice);
        let reply = to_alice.encrypt(&mut rng, b"reply").unwrap();
        assert_eq!(to_bob.decrypt(&reply).unwrap(), b"reply");
        assert_eq!(reload_session(&to_bob).context(), context);
    }
}

#[test]
fn plaintexts_and_bodies_hold_their_bound() {
    let mut p = established(6, true);
    let Pair {
        rng, alice, bob, ..
    } = &mut p;
    let huge = vec![0x5A; HUGE];
    let max_body = max_body_len();
    assert_eq!(max_body, MAX_PLAINTEXT_LEN - FRAME_HEADER_LEN);

    // The initiator sends prekey messages, the responder normal ones: both ends of each.
    for is_prekey in [true, false] {
        let (from, to) = if is_prekey {
            (&mut *alice, &mut *bob)
        } else {
            (&mut *bob, &mut *alice)
        };
        for len in [0, 1, MAX_PLAINTEXT_LEN - 1, MAX_PLAINTEXT_LEN] {
            let wire = from.encrypt(rng, &huge[..len]).unwrap();
            assert!(wire.len() <= MAX_SEALED_MESSAGE_LEN);
            assert_eq!(
                matches!(Incoming::decode(&wire), Ok(Incoming::PreKey(_))),
                is_prekey
            );
            assert!(to.decrypt(&wire).unwrap() == huge[..len]);
        }
        let before = from.to_bytes().unwrap();
        for len in [MAX_PLAINTEXT_LEN + 1, 2 * MAX_PLAINTEXT_LEN, HUGE] {
            assert_eq!(
                from.encrypt(rng, &huge[..len]).unwrap_err(),
                Error::TooLarge,
                "encrypt of {len} bytes"
            );
        }
        for len in [max_body + 1, MAX_PLAINTEXT_LEN, HUGE] {
            for now in [0, u64::MAX] {
                assert_eq!(
                    from.send(rng, now, &huge[..len]).unwrap_err(),
                    Error::TooLarge,
                    "send of a {len}-byte body"
                );
            }
        }
        assert_unchanged(
            &before,
            &from.to_bytes().unwrap(),
            "encrypt/send beyond the bound",
        );

        for (len, sent, now) in [
            (0, 0, u64::MAX),
            (1, u64::MAX, 0),
            (max_body, NOW_MS, NOW_MS),
        ] {
            let wire = from.send(rng, sent, &huge[..len]).unwrap();
            assert!(wire.len() <= MAX_SEALED_MESSAGE_LEN);
            let got = to.receive(&wire, now).unwrap().into_message().unwrap();
            assert!(got.body == huge[..len]);
            assert_eq!(got.kind, ContentKind::Message);
            assert_eq!(got.sent_at_ms, sent);
            assert_eq!(got.deadline, Deadline::Never);
            assert!(!got.timer_changed);
        }
    }
}

#[test]
fn timers_at_u32_max_duration_and_version() {
    let mut p = established(7, true);
    let Pair {
        rng, alice, bob, ..
    } = &mut p;
    let life = u64::from(u32::MAX) * 1000;

    // The longest duration, on read, from the latest clock.
    let update = alice
        .set_timer(rng, u64::MAX, u32::MAX, TimerStart::OnRead)
        .unwrap();
    let longest_on_read = Timer {
        duration_s: u32::MAX,
        start: TimerStart::OnRead,
        version: 1,
    };
    assert_eq!(alice.timer(), longest_on_read);
    let got = bob.receive(&update, 0).unwrap().into_message().unwrap();
    assert_eq!(got.kind, ContentKind::TimerUpdate);
    assert!(got.body.is_empty() && got.timer_changed);
    assert_eq!(got.sent_at_ms, u64::MAX);
    assert_eq!(got.deadline, Deadline::AfterRead(life));
    assert_eq!(got.deadline.after_read(0), Deadline::At(life));
    assert_eq!(got.deadline.after_read(u64::MAX), Deadline::At(u64::MAX));
    assert_eq!(bob.timer(), longest_on_read);

    // The longest duration, on send: a clock at u64::MAX is clamped to ours + skew.
    let update = alice
        .set_timer(rng, u64::MAX, u32::MAX, TimerStart::OnSend)
        .unwrap();
    let got = bob.receive(&update, 0).unwrap().into_message().unwrap();
    assert_eq!(got.deadline, Deadline::At(MAX_CLOCK_SKEW_MS + life));
    let m = alice.send(rng, u64::MAX, b"late clock").unwrap();
    assert_eq!(
        bob.receive(&m, u64::MAX)
            .unwrap()
            .into_message()
            .unwrap()
            .deadline,
        Deadline::At(u64::MAX)
    );

    // A short timer, and a message from time 0 received at u64::MAX: expired, key consumed.
    let update = alice.set_timer(rng, 0, 1, TimerStart::OnSend).unwrap();
    bob.receive(&update, 0).unwrap().into_message().unwrap();
    let old = alice.send(rng, 0, b"old").unwrap();
    assert!(matches!(
        bob.receive(&old, u64::MAX),
        Ok(Receipt::Expired { .. })
    ));
    assert_eq!(bob.receive(&old, 0).unwrap_err(), Error::DuplicateMessage);

    // Duration 0 is always on-send.
    let off = alice.set_timer(rng, 0, 0, TimerStart::OnRead).unwrap();
    assert_eq!(
        alice.timer(),
        Timer {
            version: 4,
            ..Timer::OFF
        }
    );
    let got = bob.receive(&off, u64::MAX).unwrap().into_message().unwrap();
    assert!(got.timer_changed);
    assert_eq!(got.deadline, Deadline::Never);

    // A peer that claims version u32::MAX - 1: one more change, then the version is exhausted.
    let frame = Content {
        kind: ContentKind::TimerUpdate,
        sent_at_ms: 0,
        timer: Timer {
            duration_s: 60,
            start: TimerStart::OnSend,
            version: u32::MAX - 1,
        },
        body: Vec::new(),
    }
    .to_padded_bytes()
    .unwrap();
    let got = bob
        .receive(&alice.encrypt(rng, &frame).unwrap(), 0)
        .unwrap()
        .into_message()
        .unwrap();
    assert!(got.timer_changed);
    assert_eq!(bob.timer().version, u32::MAX - 1);
    let last = bob.set_timer(rng, 0, 30, TimerStart::OnSend).unwrap();
    assert_eq!(bob.timer().version, u32::MAX);
    let before = bob.to_bytes().unwrap();
    for (now, d, start) in [
        (0, 0, TimerStart::OnSend),
        (u64::MAX, 1, TimerStart::OnRead),
        (NOW_MS, u32::MAX, TimerStart::OnRead),
        (0, 30, TimerStart::OnSend),
    ] {
        assert_eq!(
            bob.set_timer(rng, now, d, start).unwrap_err(),
            Error::TimerVersionExhausted
        );
    }
    assert_unchanged(
        &before,
        &bob.to_bytes().unwrap(),
        "set_timer at the last version",
    );
    assert_eq!(bob.timer().version, u32::MAX);

    // The peer reaches the same final timer and is exhausted too; messages still flow.
    assert!(
        alice
            .receive(&last, 0)
            .unwrap()
            .into_message()
            .unwrap()
            .timer_changed
    );
    assert_eq!(alice.timer(), bob.timer());
    let before = alice.to_bytes().unwrap();
    assert_eq!(
        alice.set_timer(rng, 0, 1, TimerStart::OnSend).unwrap_err(),
        Error::TimerVersionExhausted
    );
    assert_unchanged(
        &before,
        &alice.to_bytes().unwrap(),
        "set_timer at the last version",
    );
    let m = alice.send(rng, 0, b"still").unwrap();
    assert_eq!(
        bob.receive(&m, 0).unwrap().into_message().unwrap().body,
        b"still"
    );
    reload_session(alice);
    reload_session(bob);
}

#[test]
fn receive_accept_and_purge_at_time_extremes() {
    let mut rng = rng(8);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    let otpk = store.generate_one_time_prekeys(&mut rng, 1).unwrap()[0];

    // accept at both ends of time, timer off.
    for now in [0, u64::MAX] {
        let bundle = store.bundle(&bob, None).unwrap();
        let mut to_bob = Session::initiate(
            &mut rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(CONTEXT).allow_classical(),
        )
        .unwrap();
        let first = to_bob.send(&mut rng, now, b"t").unwrap();
        let (mut to_alice, got) = Session::accept(
            &bob,
            &mut store,
            &first,
            &Config::new(CONTEXT).allow_classical(),
            now,
        )
        .unwrap();
        assert_eq!(got.sent_at_ms, now);
        assert_eq!(got.deadline, Deadline::Never);
        assert_eq!(to_alice.purge(0), 0);
        assert_eq!(to_alice.purge(u64::MAX), 0);
    }

    // A first message already expired is refused without touching the store, then accepted in
    // time.
    let bundle = store.bundle(&bob, Some(otpk.id)).unwrap();
    let mut to_bob = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let update = to_bob
        .set_timer(&mut rng, 0, 1, TimerStart::OnSend)
        .unwrap();
    let before = store.to_bytes().unwrap();
    assert_eq!(
        Session::accept(
            &bob,
            &mut store,
            &update,
            &Config::new(CONTEXT).allow_classical(),
            u64::MAX
        )
        .unwrap_err(),
        Error::Expired
    );
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "accept of an expired message",
    );
    let (mut to_alice, got) = Session::accept(
        &bob,
        &mut store,
        &update,
        &Config::new(CONTEXT).allow_classical(),
        0,
    )
    .unwrap();
    assert!(got.timer_changed);
    assert_eq!(got.deadline, Deadline::At(1000));
    assert_eq!(store.one_time_prekey_count(), 0);

    // Skipped keys stored at time 0 under the 1 s timer: purge keeps them up to their deadline.
    let ms: Vec<_> = (0..3)
        .map(|i| to_bob.send(&mut rng, 0, &[i]).unwrap())
        .collect();
    assert_eq!(
        to_alice
            .receive(&ms[2], 0)
            .unwrap()
            .into_message()
            .unwrap()
            .body,
        [2]
    );
    assert_eq!(to_alice.skipped_key_count(), 2);
    let deadline = 1000 + 2 * MAX_CLOCK_SKEW_MS;
    for now in [0, 1, deadline] {
        assert_eq!(to_alice.purge(now), 0, "purge({now})");
    }
    assert_eq!(to_alice.purge(deadline + 1), 2);
    assert_eq!(to_alice.skipped_key_count(), 0);
    assert_eq!(to_alice.purge(u64::MAX), 0);
    let before = to_alice.to_bytes().unwrap();
    assert_eq!(
        to_alice.receive(&ms[0], 0).unwrap_err(),
        Error::DuplicateMessage
    );
    assert_unchanged(
        &before,
        &to_alice.to_bytes().unwrap(),
        "receive of a purged message",
    );

    // With the timer off, skipped keys have no deadline: purge(u64::MAX) keeps them.
    let off = to_alice
        .set_timer(&mut rng, 0, 0, TimerStart::OnSend)
        .unwrap();
    to_bob
        .receive(&off, u64::MAX)
        .unwrap()
        .into_message()
        .unwrap();
    let ms: Vec<_> = (0..3)
        .map(|i| to_bob.send(&mut rng, u64::MAX, &[i]).unwrap())
        .collect();
    assert_eq!(
        to_alice
            .receive(&ms[2], u64::MAX)
            .unwrap()
            .into_message()
            .unwrap()
            .body,
        [2]
    );
    assert_eq!(to_alice.skipped_key_count(), 2);
    assert_eq!(to_alice.purge(u64::MAX), 0);
    assert_eq!(
        to_alice
            .receive(&ms[0], 0)
            .unwrap()
            .into_message()
            .unwrap()
            .body,
        [0]
    );
    assert_eq!(
        to_alice
            .receive(&ms[1], u64::MAX)
            .unwrap()
            .into_message()
            .unwrap()
            .body,
        [1]
    );
}
