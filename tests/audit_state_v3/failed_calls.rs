//! A failed call changes nothing (SPEC.md §6.6): every mutating call of `Session` and
//! `PreKeyStore`, made to fail every way it can.

use xchat_protocol::{Config, Trust};
use xchat_protocol::{Error, IdentityKeyPair, Limits, Session, TimerStart};

use crate::common;
use crate::common::state_codec as codec;
use crate::support::{NOW, assert_fixed_point, open_mut, pbytes, sbytes, talk};

/// Runs `call` on a session; if it fails with anything but `Expired`/`InvalidContent` (which
/// consume the key, documented), the session's bytes are unchanged.
fn fails_unchanged<T: std::fmt::Debug>(
    s: &mut Session,
    what: &str,
    call: impl FnOnce(&mut Session) -> Result<T, Error>,
) -> Error {
    let before = sbytes(s);
    let e = call(s).expect_err(what);
    assert!(
        !matches!(e, Error::Expired | Error::InvalidContent(_)),
        "{what}: {e:?}"
    );
    assert_eq!(sbytes(s), before, "{what}: {e:?} changed the session");
    e
}

/// Every mutating call of `Session` and `PreKeyStore`, made to fail every way it can, in every
/// phase (opening initiator, pending responder, sending chain, after a reload, on forged states
/// at the counter and timer limits): the error is returned and the object is byte-identical.
#[test]
fn held_every_failed_mutating_call_leaves_the_state_byte_identical() {
    let mut t = talk(54);
    let mut rng = common::rng(55);
    let b = common::bob(56, true);
    let mut opening = Session::initiate(
        &mut rng,
        &t.p.alice_id,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(common::CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = opening.send(&mut rng, NOW, b"first").unwrap();
    let mut other_store = b.store.clone();
    let (mut pending, _) = Session::accept(
        &b.id,
        &mut other_store,
        &first,
        &Config::new(common::CONTEXT).allow_classical(),
        NOW,
    )
    .unwrap();
    // A peer whose timer version is 2^32 − 2 (forged) makes ours 2^32 − 1 by a legitimate update.
    let mut forged_bob = assert_fixed_point(
        &codec::edit_session(&sbytes(&t.p.bob), |s| s.timer.version = u32::MAX - 1),
        "timer",
    );
    let update = forged_bob
        .set_timer(&mut rng, NOW, 30, TimerStart::OnSend)
        .unwrap();
    let mut exhausted_timer = Session::from_bytes(&sbytes(&t.p.alice)).unwrap();
    exhausted_timer
        .receive(&update, NOW)
        .unwrap()
        .into_message()
        .unwrap();
    assert_eq!(exhausted_timer.timer().version, u32::MAX);
    let exhausted_chain = assert_fixed_point(
        &codec::edit_session(&sbytes(&t.p.alice), |s| {
            open_mut(s).send.as_mut().unwrap().n = u32::MAX
        }),
        "Ns",
    );
    let too_big = vec![0u8; (1 << 20) + 1];
    let body_too_big = vec![0u8; xchat_protocol::content::max_body_len() + 1];
    let bob_msg = t.p.bob.encrypt(&mut rng, b"to alice").unwrap();
    let mut tampered = bob_msg.clone();
    let n = tampered.len();
    tampered[n - 1] ^= 1;
    let replay = t.delivered[0].clone();
    let raw = t.p.bob.encrypt(&mut rng, b"not a frame").unwrap();
    let other_session = {
        let mut x = common::established(57, true);
        x.bob.encrypt(&mut x.rng, b"elsewhere").unwrap()
    };
    let mut sessions = [
        ("opening", opening),
        ("pending responder", pending.clone_via_bytes()),
        ("alice", Session::from_bytes(&sbytes(&t.p.alice)).unwrap()),
        ("bob", Session::from_bytes(&sbytes(&t.p.bob)).unwrap()),
        ("timer exhausted", exhausted_timer),
        ("chain exhausted", exhausted_chain),
    ];
    for (name, s) in sessions.iter_mut() {
        let w = |c: &str| format!("{name}: {c}");
        fails_unchanged(s, &w("encrypt too large"), |s| {
            s.encrypt(&mut rng, &too_big)
        });
        fails_unchanged(s, &w("send too large"), |s| {
            s.send(&mut rng, NOW, &body_too_big)
        });
        for bad in [
            &[][..],
            &[1][..],
            &[1, 1, 0][..],
            &tampered,
            &other_session,
            &first[..10],
        ] {
            fails_unchanged(s, &w("decrypt bad"), |s| s.decrypt(bad));
            fails_unchanged(s, &w("receive bad"), |s| s.receive(bad, NOW));
        }
        if *name != "pending responder" {
            fails_unchanged(s, &w("foreign prekey message"), |s| s.decrypt(&first));
        }
        if *name == "alice" || *name == "timer exhausted" || *name == "chain exhausted" {
            let e = fails_unchanged(s, &w("replay"), |s| s.decrypt(&replay));
            assert_eq!(e, Error::DuplicateMessage);
            fails_unchanged(s, &w("replay framed"), |s| s.receive(&replay, NOW));
            // A header pushed past max_skip is refused before authentication.
            let mut far = bob_msg.clone();
            let counter_at = 1 + 1 + 32 + 4;
            far[counter_at..counter_at + 4].copy_from_slice(&3000u32.to_be_bytes());
            assert_eq!(
                fails_unchanged(s, &w("far"), |s| s.decrypt(&far)),
                Error::TooFarInFuture
            );
        }
        for limits in [
            Limits {
                max_skip: 0,
                ..Limits::default()
            },
            Limits {
                max_skipped_key_age: Limits::CEILING + 1,
                ..Limits::default()
            },
            Limits {
                max_skip: 10,
                max_skipped_keys: 9,
                ..Limits::default()
            },
        ] {
            let before = sbytes(s);
            assert_eq!(s.set_limits(limits), Err(Error::InvalidLimits));
            assert_eq!(sbytes(s), before);
        }
        let before = sbytes(s);
        assert_eq!(s.purge(0), 0);
        s.set_limits(s.limits()).unwrap();
        assert_eq!(
            sbytes(s),
            before,
            "{name}: a call with nothing to do changed the session"
        );
    }
    let [.., (_, timer), (_, chain)] = &mut sessions[..] else {
        unreachable!()
    };
    let e = fails_unchanged(timer, "set_timer", |s| {
        s.set_timer(&mut rng, NOW, 5, TimerStart::OnSend)
    });
    assert_eq!(e, Error::TimerVersionExhausted);
    for name in ["encrypt", "send", "set_timer"] {
        let e = fails_unchanged(chain, name, |s| match name {
            "encrypt" => s.encrypt(&mut rng, b"x"),
            "send" => s.send(&mut rng, NOW, b"x"),
            _ => s.set_timer(&mut rng, NOW, 5, TimerStart::OnSend),
        });
        assert_eq!(e, Error::ChainExhausted);
    }
    // `receive` of an authentic raw (unframed) message consumes its key and says so with an
    // `Ok` (`Receipt::Unreadable`); a second attempt is then a duplicate and changes nothing.
    let mut alice = Session::from_bytes(&sbytes(&t.p.alice)).unwrap();
    assert!(matches!(
        alice.receive(&raw, NOW),
        Ok(xchat_protocol::Receipt::Unreadable(_))
    ));
    assert_eq!(
        fails_unchanged(&mut alice, "raw again", |s| s.receive(&raw, NOW)),
        Error::DuplicateMessage
    );
    pending.encrypt(&mut rng, b"x").unwrap();

    // Prekey stores: every refused first message, every refused argument.
    let mut store = b.store.clone();
    let before = pbytes(&store);
    let fresh_alice = IdentityKeyPair::generate(&mut rng);
    let mut init = Session::initiate(
        &mut rng,
        &fresh_alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(common::CONTEXT).allow_classical(),
    )
    .unwrap();
    let good = init.send(&mut rng, NOW, b"hello").unwrap();
    let raw_first = {
        let mut i2 = Session::initiate(
            &mut rng,
            &fresh_alice,
            &b.bundle,
            Trust::FirstUse,
            &Config::new(common::CONTEXT).allow_classical(),
        )
        .unwrap();
        i2.encrypt(&mut rng, b"not a frame").unwrap()
    };
    let expiring = {
        let mut i3 = Session::initiate(
            &mut rng,
            &fresh_alice,
            &b.bundle,
            Trust::FirstUse,
            &Config::new(common::CONTEXT).allow_classical(),
        )
        .unwrap();
        i3.set_timer(&mut rng, NOW, 1, TimerStart::OnSend).unwrap();
        i3.send(&mut rng, NOW, b"gone").unwrap()
    };
    let mut bad_spk = good.clone();
    bad_spk[1 + 1 + 32 + 32] ^= 0x40; // the signed prekey id
    let mut bad_tag = good.clone();
    let n = bad_tag.len();
    bad_tag[n - 1] ^= 1;
    let normal = t.p.bob.encrypt(&mut rng, b"normal").unwrap();
    let long_context = vec![0u8; 1025];
    let cases: Vec<(&str, &[u8], &[u8])> = vec![
        ("garbage", &[2, 2, 2], common::CONTEXT),
        ("normal message", &normal, common::CONTEXT),
        ("unknown signed prekey", &bad_spk, common::CONTEXT),
        ("tampered", &bad_tag, common::CONTEXT),
        ("other context", &good, b"another context"),
        ("context too long", &good, &long_context),
    ];
    for (what, m, ctx) in &cases {
        assert!(
            Session::respond(&b.id, &mut store, m, &Config::new(ctx).allow_classical()).is_err(),
            "{what}"
        );
        assert!(
            Session::accept(
                &b.id,
                &mut store,
                m,
                &Config::new(ctx).allow_classical(),
                NOW
            )
            .is_err(),
            "{what}"
        );
        assert_eq!(pbytes(&store), before, "{what}");
    }
    let invalid = Limits {
        max_old_chains: 0,
        ..Limits::default()
    };
    let r = Session::respond(
        &b.id,
        &mut store,
        &good,
        &Config::new(common::CONTEXT)
            .allow_classical()
            .with_limits(invalid),
    );
    assert_eq!(r.err(), Some(Error::InvalidLimits));
    let r = Session::accept(
        &b.id,
        &mut store,
        &raw_first,
        &Config::new(common::CONTEXT).allow_classical(),
        NOW,
    );
    assert!(matches!(r.err(), Some(Error::InvalidContent(_))));
    let r = Session::accept(
        &b.id,
        &mut store,
        &expiring,
        &Config::new(common::CONTEXT).allow_classical(),
        NOW + 10_000_000,
    );
    assert_eq!(r.err(), Some(Error::Expired));
    assert_eq!(
        store.generate_one_time_prekeys(&mut rng, usize::MAX).err(),
        Some(Error::TooLarge)
    );
    assert!(store.bundle(&b.id, Some(999)).is_err());
    assert!(!store.remove_one_time_prekey(999));
    assert_eq!(pbytes(&store), before, "a refused call changed the store");
    // The one accepted first message consumes; its replays then change nothing.
    Session::accept(
        &b.id,
        &mut store,
        &good,
        &Config::new(common::CONTEXT).allow_classical(),
        NOW,
    )
    .unwrap();
    let after = pbytes(&store);
    assert_ne!(after, before);
    assert!(
        Session::accept(
            &b.id,
            &mut store,
            &good,
            &Config::new(common::CONTEXT).allow_classical(),
            NOW
        )
        .is_err()
    );
    assert!(
        Session::respond(
            &b.id,
            &mut store,
            &good,
            &Config::new(common::CONTEXT).allow_classical()
        )
        .is_err()
    );
    assert_eq!(pbytes(&store), after);
}

trait CloneViaBytes {
    fn clone_via_bytes(&self) -> Self;
}

impl CloneViaBytes for Session {
    fn clone_via_bytes(&self) -> Self {
        Session::from_bytes(&sbytes(self)).unwrap()
    }
}
