//! `Session` limits and counters: `Limits` at zero, one, the ceiling and beyond, forged message
//! counters, and a sending chain at `u32::MAX`.

use crate::common::state_codec::{Phase, Ratchet, SessionBlob};
use crate::common::{CONTEXT, established};
use crate::forge::forge_session;
use crate::support::{assert_unchanged, reload_session};
use xchat_protocol::wire::TYPE_MESSAGE;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{Error, Limits, Session, TimerStart};

#[test]
fn limits_at_zero_one_ceiling_and_beyond() {
    let mut p = established(9, true);
    let ceiling = Limits {
        max_skip: Limits::CEILING,
        max_skipped_keys: Limits::CEILING,
        max_old_chains: Limits::CEILING,
        max_skipped_key_age: Limits::CEILING,
    };
    let ones = Limits {
        max_skip: 1,
        max_skipped_keys: 1,
        max_old_chains: 1,
        max_skipped_key_age: 1,
    };
    for ok in [ones, ceiling, Limits::default()] {
        assert_eq!(ok.validate(), Ok(()));
    }

    // A fresh first message for respond_with_limits.
    let bundle = p.bob_store.bundle(&p.bob_id, None).unwrap();
    let mut to_bob = Session::initiate(
        &mut p.rng,
        &p.alice_id,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = to_bob.encrypt(&mut p.rng, b"limits").unwrap();

    let session_before = p.bob.to_bytes().unwrap();
    let store_before = p.bob_store.to_bytes().unwrap();
    let mut invalid = vec![
        Limits {
            max_skipped_keys: Limits::CEILING - 1,
            ..ceiling
        },
        Limits {
            max_skip: 2,
            ..ones
        },
    ];
    for bad in [
        0,
        Limits::CEILING + 1,
        2 * Limits::CEILING,
        u32::MAX - 1,
        u32::MAX,
    ] {
        for field in 0..4 {
            let mut l = ceiling;
            *[
                &mut l.max_skip,
                &mut l.max_skipped_keys,
                &mut l.max_old_chains,
                &mut l.max_skipped_key_age,
            ][field] = bad;
            invalid.push(l);
        }
        invalid.push(Limits {
            max_skip: bad,
            max_skipped_keys: bad,
            max_old_chains: bad,
            max_skipped_key_age: bad,
        });
    }
    for l in invalid {
        assert_eq!(l.validate(), Err(Error::InvalidLimits), "{l:?}");
        assert_eq!(p.bob.set_limits(l), Err(Error::InvalidLimits), "{l:?}");
        assert_eq!(
            Session::respond(
                &p.bob_id,
                &mut p.bob_store,
                &first,
                &Config::new(CONTEXT).allow_classical().with_limits(l)
            )
            .unwrap_err(),
            Error::InvalidLimits
        );
    }
    assert_unchanged(
        &session_before,
        &p.bob.to_bytes().unwrap(),
        "set_limits refused",
    );
    assert_unchanged(
        &store_before,
        &p.bob_store.to_bytes().unwrap(),
        "respond_with_limits refused",
    );
    assert_eq!(p.bob.limits(), Limits::default());

    // At the ceiling, forged headers far beyond it are refused before any key is derived.
    let (mut fresh, _) = Session::respond(
        &p.bob_id,
        &mut p.bob_store,
        &first,
        &Config::new(CONTEXT).allow_classical().with_limits(ceiling),
    )
    .unwrap();
    assert_eq!(fresh.limits(), ceiling);
    reload_session(&fresh);
    fresh.set_limits(ones).unwrap();
    fresh.set_limits(ceiling).unwrap();
    p.bob.set_limits(ceiling).unwrap();
    assert_eq!(reload_session(&p.bob).limits(), ceiling);
    let reply = p.bob.encrypt(&mut p.rng, b"turn").unwrap();
    p.alice.decrypt(&reply).unwrap();

    // A new chain of Alice's: offsets of PN and N in a normal message (SPEC.md §5.2).
    let m = p.alice.encrypt(&mut p.rng, b"m").unwrap();
    assert_eq!(m[1], TYPE_MESSAGE);
    let forged = |m: &[u8], pn: u32, n: u32| {
        let mut f = m.to_vec();
        f[34..38].copy_from_slice(&pn.to_be_bytes());
        f[38..42].copy_from_slice(&n.to_be_bytes());
        f
    };
    let before = p.bob.to_bytes().unwrap();
    for (pn, n) in [
        (1, u32::MAX),
        (1, Limits::CEILING + 1),
        (u32::MAX, 0),
        (u32::MAX, u32::MAX),
        (Limits::CEILING + 2, 0),
    ] {
        assert_eq!(
            p.bob.decrypt(&forged(&m, pn, n)).unwrap_err(),
            Error::TooFarInFuture,
            "PN {pn}, N {n}"
        );
        assert_eq!(
            p.bob.receive(&forged(&m, pn, n), 0).unwrap_err(),
            Error::TooFarInFuture
        );
    }
    assert_unchanged(
        &before,
        &p.bob.to_bytes().unwrap(),
        "decrypt of forged counters",
    );
    assert_eq!(p.bob.decrypt(&m).unwrap(), b"m");

    // The current chain (next counter 1).
    let m = p.alice.encrypt(&mut p.rng, b"m2").unwrap();
    let before = p.bob.to_bytes().unwrap();
    for n in [u32::MAX, u32::MAX - 1, Limits::CEILING + 2] {
        assert_eq!(
            p.bob.decrypt(&forged(&m, 1, n)).unwrap_err(),
            Error::TooFarInFuture,
            "N {n}"
        );
    }
    assert_unchanged(
        &before,
        &p.bob.to_bytes().unwrap(),
        "decrypt of forged counters",
    );
    assert_eq!(p.bob.decrypt(&m).unwrap(), b"m2");
}

/// Rewrites the sending counter `Ns` of a responder session blob (SPEC.md §10.3) through the
/// reference codec.
fn with_send_counter(blob: &[u8], counter: u32) -> Vec<u8> {
    fn sending_n(s: &mut SessionBlob) -> &mut u32 {
        assert_eq!(s.phase, Phase::Responder, "a responder: phase 0x02");
        let Ratchet::Open(open) = &mut s.ratchet else {
            unreachable!("a responder's ratchet is open")
        };
        &mut open.send.as_mut().expect("sending chain present").n
    }
    let forged = forge_session(blob, |s| *sending_n(s) = counter);
    let (_, mut read) = SessionBlob::decode(&forged).unwrap();
    assert_eq!(*sending_n(&mut read), counter, "the forged counter");
    forged
}

#[test]
fn sending_counter_stops_at_u32_max() {
    let mut p = established(10, true);
    let reply = p.bob.encrypt(&mut p.rng, b"r").unwrap();
    p.alice.decrypt(&reply).unwrap();
    let mut bob =
        Session::from_bytes(&with_send_counter(&p.bob.to_bytes().unwrap(), u32::MAX - 1)).unwrap();

    let last = bob.encrypt(&mut p.rng, b"last").unwrap();
    let before = bob.to_bytes().unwrap();
    assert_eq!(
        bob.encrypt(&mut p.rng, b"").unwrap_err(),
        Error::ChainExhausted
    );
    assert_eq!(
        bob.send(&mut p.rng, 0, b"").unwrap_err(),
        Error::ChainExhausted
    );
    assert_eq!(
        bob.set_timer(&mut p.rng, u64::MAX, u32::MAX, TimerStart::OnRead)
            .unwrap_err(),
        Error::ChainExhausted
    );
    assert_unchanged(
        &before,
        &bob.to_bytes().unwrap(),
        "encrypt on an exhausted chain",
    );

    // Counter u32::MAX - 1 is far beyond the peer's skip limit; N = u32::MAX is refused outright.
    let before = p.alice.to_bytes().unwrap();
    assert_eq!(p.alice.decrypt(&last).unwrap_err(), Error::TooFarInFuture);
    assert_unchanged(
        &before,
        &p.alice.to_bytes().unwrap(),
        "decrypt far in the future",
    );

    // The peer's reply turns the ratchet: the new chain starts at N = 0 with PN = u32::MAX. (The
    // forged state skipped 2^32 - 2 messages the peer never received, so the peer refuses to
    // derive them: the documented jump check, with nothing changed.)
    let turn = p.alice.encrypt(&mut p.rng, b"turn").unwrap();
    assert_eq!(bob.decrypt(&turn).unwrap(), b"turn");
    let again = bob.encrypt(&mut p.rng, b"again").unwrap();
    // PN at 34..38 and N at 38..42 of a normal message (SPEC.md §5.2).
    assert_eq!(again[34..38], u32::MAX.to_be_bytes(), "PN");
    assert_eq!(again[38..42], 0u32.to_be_bytes(), "N");
    let before = p.alice.to_bytes().unwrap();
    assert_eq!(p.alice.decrypt(&again).unwrap_err(), Error::TooFarInFuture);
    assert_unchanged(
        &before,
        &p.alice.to_bytes().unwrap(),
        "decrypt far in the future",
    );
    reload_session(&bob);
}
