//! Timers and the purge of skipped keys (SPEC.md §8.4–§8.6): the deadlines skipped keys get, and
//! timers that converge through the lossy paths.

use crate::common::{CONTEXT, bob, established, rng};
use crate::support::{DAY, T0};
use xchat_protocol::Receipt;
use xchat_protocol::content::MAX_CLOCK_SKEW_MS;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{Deadline, Error, IdentityKeyPair, Session, Timer, TimerStart};

/// FINDING (medium): §8.6 gives a skipped key its purge deadline from the session's timer
/// *before* the message that caused the skip (and from "off" in `accept`). A relay that reorders
/// the frame turning a timer on behind a later frame makes every key it skips get `2^64 − 1`:
/// `purge` never deletes them, although §8.5 judges those messages by the (now on) session
/// timer and rejects them as `Expired` once the timer has run out. A thief of the state a day
/// later reads the disappearing message (the relay kept its ciphertext) — exactly what §8.6
/// says purging is for.
///
/// Repro: Alice `set_timer(60 s, on-send)` → `t`; `send("…secret")` → `s`; `send("last")` → `l`.
/// Relay delivers `l` first (Bob skips `t`, `s` with deadline 2^64 − 1, then applies the 60 s
/// timer). At T0 + 1 day: `receive(s)` → `Expired`, `purge` → 0, and a copy of Bob's state
/// decrypts `s`.
#[test]
fn fixed_skipped_keys_of_disappearing_messages_are_purged_under_the_current_timer() {
    let mut p = established(100, true);
    let reply = p.bob.send(&mut p.rng, T0, b"hi").unwrap();
    p.alice.receive(&reply, T0).unwrap().into_message().unwrap();
    let _t = p
        .alice
        .set_timer(&mut p.rng, T0, 60, TimerStart::OnSend)
        .unwrap();
    let s = p
        .alice
        .send(&mut p.rng, T0, b"self-destructing secret")
        .unwrap();
    let l = p.alice.send(&mut p.rng, T0, b"last").unwrap();
    let got = p.bob.receive(&l, T0).unwrap().into_message().unwrap();
    assert!(got.timer_changed);
    assert_eq!(p.bob.skipped_key_count(), 2);
    let later = T0 + DAY;
    // The library itself says `s` is dead by now...
    let mut copy = Session::from_bytes(&p.bob.to_bytes().unwrap()).unwrap();
    assert!(matches!(
        copy.receive(&s, later),
        Ok(Receipt::Expired { .. })
    ));
    // Purging then deletes both keys (the session's timer is on now), and a thief of the state
    // reads nothing.
    let purged = p.bob.purge(later);
    assert_eq!(
        purged, 2,
        "purge(T0 + 1 day) deleted {purged} of the 2 keys"
    );
    let mut thief = Session::from_bytes(&p.bob.to_bytes().unwrap()).unwrap();
    assert_eq!(thief.decrypt(&s).unwrap_err(), Error::DuplicateMessage);
}

/// FINDING (medium), the same through `accept`: keys skipped by a first message always get
/// `2^64 − 1` (§8.6 "its timer counts as off"), even when that first message carries an on-send
/// timer. A relay holding back the first frames of a new conversation makes their keys
/// unpurgeable.
#[test]
fn fixed_keys_skipped_by_accept_follow_the_first_messages_timer() {
    let mut b = bob(101, false);
    let mut r = rng(102);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    a.set_timer(&mut r, T0, 60, TimerStart::OnSend).unwrap();
    let s = a.send(&mut r, T0, b"first-day secret").unwrap();
    let l = a.send(&mut r, T0, b"last").unwrap();
    let (mut session, got) = Session::accept(
        &b.id,
        &mut b.store,
        &l,
        &Config::new(CONTEXT).allow_classical(),
        T0,
    )
    .unwrap();
    assert_eq!(got.timer.duration_s, 60);
    assert_eq!(session.skipped_key_count(), 2);
    let later = T0 + DAY;
    let mut copy = Session::from_bytes(&session.to_bytes().unwrap()).unwrap();
    assert!(matches!(
        copy.receive(&s, later),
        Ok(Receipt::Expired { .. })
    ));
    assert_eq!(session.purge(later), 2);
    let mut thief = Session::from_bytes(&session.to_bytes().unwrap()).unwrap();
    assert_eq!(thief.decrypt(&s).unwrap_err(), Error::DuplicateMessage);
}

/// FINDING (low/medium): the opposite error of the same rule. The deadline comes from the
/// *receiver's* old timer, but the skipped messages may have been sent under a newer, longer (or
/// "off") timer the receiver has not seen yet — because it is in the skipped messages. `purge`
/// then deletes the key of an honest message that §8.5 would accept with `Deadline::Never`; it
/// is lost for good (`DuplicateMessage`). §8.6's justification ("after that deadline an on-send
/// message would be rejected as expired anyway") is false here.
///
/// Repro: both at (60 s on-send, v1). Alice `set_timer(0)` → `off` (v2), `send` → `keep`,
/// `send` → `last`. Bob receives `last` first (skips `off`, `keep` with the 60 s deadline), so
/// his timer becomes v2 "off". Two hours later, unpurged, `keep` is accepted with
/// `Deadline::Never`; after `purge`, it is `DuplicateMessage`.
#[test]
fn fixed_purge_keeps_honest_messages_sent_under_a_longer_timer() {
    let mut p = established(103, true);
    let on = p
        .alice
        .set_timer(&mut p.rng, T0, 60, TimerStart::OnSend)
        .unwrap();
    p.bob.receive(&on, T0).unwrap().into_message().unwrap();
    let reply = p.bob.send(&mut p.rng, T0, b"ok").unwrap();
    p.alice.receive(&reply, T0).unwrap().into_message().unwrap();
    p.alice
        .set_timer(&mut p.rng, T0 + 1_000, 0, TimerStart::OnSend)
        .unwrap();
    let keep = p
        .alice
        .send(&mut p.rng, T0 + 1_000, b"sent with the timer off")
        .unwrap();
    let last = p.alice.send(&mut p.rng, T0 + 1_000, b"last").unwrap();
    assert!(
        p.bob
            .receive(&last, T0 + 2_000)
            .unwrap()
            .into_message()
            .unwrap()
            .timer_changed
    );
    assert_eq!(p.bob.timer().duration_s, 0);
    let later = T0 + 2 * 3_600_000;
    let mut unpurged = Session::from_bytes(&p.bob.to_bytes().unwrap()).unwrap();
    assert_eq!(
        unpurged
            .receive(&keep, later)
            .unwrap()
            .into_message()
            .unwrap()
            .deadline,
        Deadline::Never
    );
    // The session's timer is off now, so purge keeps the keys at any time.
    assert_eq!(
        p.bob.purge(T0 + 2_000 + 60_000 + 2 * MAX_CLOCK_SKEW_MS + 1),
        0
    );
    assert_eq!(p.bob.purge(later), 0);
    let after = p.bob.receive(&keep, later);
    assert!(
        after.is_ok(),
        "purge deleted the key of an honest message the session accepts with Deadline::Never: \
         {after:?}"
    );
}

/// HELD: timers converge through the lossy paths — a timer change whose key is skipped and then
/// purged (its timer travelled on the later frame), and a timer change that arrives `Expired`
/// (still applied, §8.4).
#[test]
fn held_timers_converge_through_purge_and_expiry() {
    let mut p = established(128, true);
    let t1 = p
        .alice
        .set_timer(&mut p.rng, T0, 60, TimerStart::OnSend)
        .unwrap();
    let m = p.alice.send(&mut p.rng, T0, b"m").unwrap();
    p.bob.receive(&m, T0).unwrap().into_message().unwrap();
    assert!(p.bob.purge(T0 + DAY) <= 1);
    assert!(p.bob.receive(&t1, T0 + DAY).is_err());
    assert_eq!(p.alice.timer(), p.bob.timer());
    let t2 = p
        .bob
        .set_timer(&mut p.rng, T0, 30, TimerStart::OnSend)
        .unwrap();
    assert!(matches!(
        p.alice.receive(&t2, T0 + DAY),
        Ok(Receipt::Expired { .. })
    ));
    assert_eq!(p.alice.timer(), p.bob.timer());
    assert_eq!(
        p.bob.timer(),
        Timer {
            duration_s: 30,
            start: TimerStart::OnSend,
            version: 2
        }
    );
}
