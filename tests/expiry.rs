//! The content frame through sessions: timers, deadlines, expiry on arrival, purge, padding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::established;
use xchat_protocol::Receipt;
use xchat_protocol::content::{MAX_CLOCK_SKEW_MS, MIN_PADDED_LEN};
use xchat_protocol::wire::MESSAGE_PREFIX_LEN;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{ContentKind, Deadline, Error, Incoming, Timer, TimerStart};

const T0: u64 = 1_700_000_000_000;

#[test]
fn messages_carry_the_timer_and_get_a_deadline() {
    let mut p = established(30, true);
    let update = p
        .alice
        .set_timer(&mut p.rng, T0, 60, TimerStart::OnSend)
        .unwrap();
    let got = p
        .bob
        .receive(&update, T0 + 10)
        .unwrap()
        .into_message()
        .unwrap();
    assert_eq!(got.kind, ContentKind::TimerUpdate);
    assert!(got.timer_changed);
    let expected = Timer {
        duration_s: 60,
        start: TimerStart::OnSend,
        version: 1,
    };
    assert_eq!(p.bob.timer(), expected);
    // Bob's next message uses the timer he learned.
    let m = p
        .bob
        .send(&mut p.rng, T0 + 1_000, b"self-destructing")
        .unwrap();
    let got = p
        .alice
        .receive(&m, T0 + 2_000)
        .unwrap()
        .into_message()
        .unwrap();
    assert_eq!(got.body, b"self-destructing");
    assert_eq!(got.timer, expected);
    assert!(!got.timer_changed);
    assert_eq!(got.deadline, Deadline::At(T0 + 1_000 + 60_000));
}

#[test]
fn on_read_timers_start_when_read() {
    let mut p = established(31, true);
    let update = p
        .alice
        .set_timer(&mut p.rng, T0, 30, TimerStart::OnRead)
        .unwrap();
    p.bob.receive(&update, T0).unwrap().into_message().unwrap();
    let m = p.alice.send(&mut p.rng, T0, b"read me").unwrap();
    // Even a day later an on-read message has not expired.
    let got = p
        .bob
        .receive(&m, T0 + 86_400_000)
        .unwrap()
        .into_message()
        .unwrap();
    assert_eq!(got.deadline, Deadline::AfterRead(30_000));
    assert_eq!(
        got.deadline.after_read(T0 + 5),
        Deadline::At(T0 + 5 + 30_000)
    );
}

#[test]
fn expired_on_arrival_is_rejected_and_its_key_deleted() {
    let mut p = established(32, true);
    p.alice
        .set_timer(&mut p.rng, T0, 60, TimerStart::OnSend)
        .unwrap();
    let late = p.alice.send(&mut p.rng, T0, b"too late").unwrap();
    let in_time = p.alice.send(&mut p.rng, T0, b"just in time").unwrap();
    let limit = T0 + 60_000 + MAX_CLOCK_SKEW_MS;
    assert_eq!(
        p.bob
            .receive(&in_time, limit)
            .unwrap()
            .into_message()
            .unwrap()
            .body,
        b"just in time"
    );
    assert!(matches!(
        p.bob.receive(&late, limit + 1),
        Ok(Receipt::Expired { .. })
    ));
    // The key is gone: the same bytes can never be decrypted later.
    assert_eq!(p.bob.receive(&late, T0), Err(Error::DuplicateMessage));
    // Although expired, the newer timer it carried was applied.
    assert_eq!(p.bob.timer().duration_s, 60);
}

#[test]
fn a_stale_timer_version_does_not_apply_but_cannot_extend_a_lifetime() {
    let mut p = established(33, true);
    let old = p.alice.send(&mut p.rng, T0, b"sent with timer v0").unwrap();
    let update = p
        .alice
        .set_timer(&mut p.rng, T0 + 1, 3600, TimerStart::OnSend)
        .unwrap();
    p.bob
        .receive(&update, T0 + 2)
        .unwrap()
        .into_message()
        .unwrap();
    let got = p.bob.receive(&old, T0 + 3).unwrap().into_message().unwrap();
    assert!(!got.timer_changed);
    assert_eq!(got.timer, Timer::OFF);
    // A late message sent while the timer was off does not outlive the conversation's timer:
    // it is judged by the more private of the two (SPEC.md §8.5).
    assert_eq!(got.deadline, Deadline::At(T0 + 3_600_000));
    assert_eq!(p.bob.timer().duration_s, 3600);
}

#[test]
fn concurrent_timer_changes_converge_on_both_sides() {
    let mut p = established(34, true);
    let reply = p.bob.send(&mut p.rng, T0, b"ack").unwrap();
    p.alice.receive(&reply, T0).unwrap().into_message().unwrap();
    // Both change the timer at once: both are version 1.
    let from_alice = p
        .alice
        .set_timer(&mut p.rng, T0, 3600, TimerStart::OnSend)
        .unwrap();
    let from_bob = p
        .bob
        .set_timer(&mut p.rng, T0, 300, TimerStart::OnRead)
        .unwrap();
    p.alice
        .receive(&from_bob, T0 + 1)
        .unwrap()
        .into_message()
        .unwrap();
    p.bob
        .receive(&from_alice, T0 + 1)
        .unwrap()
        .into_message()
        .unwrap();
    assert_eq!(p.alice.timer(), p.bob.timer());
    assert_eq!(
        p.alice.timer(),
        Timer {
            duration_s: 300,
            start: TimerStart::OnRead,
            version: 1
        }
    );
}

#[test]
fn the_timer_cannot_be_altered_in_transit() {
    let mut p = established(35, true);
    p.alice
        .set_timer(&mut p.rng, T0, 604_800, TimerStart::OnSend)
        .unwrap();
    let m = p.alice.send(&mut p.rng, T0, b"hi").unwrap();
    let frame_start = match Incoming::decode(&m).unwrap() {
        Incoming::PreKey(_) => m.len() - (MIN_PADDED_LEN + 16),
        Incoming::Message(_) => MESSAGE_PREFIX_LEN,
    };
    let before = p.bob.to_bytes();
    // Timer fields sit at frame offsets 10..19; flip each of their ciphertext bytes.
    for i in 10..19 {
        let mut bad = m.clone();
        bad[frame_start + i] ^= 0x01;
        assert_eq!(p.bob.receive(&bad, T0), Err(Error::DecryptionFailed));
        assert_eq!(p.bob.to_bytes(), before);
    }
    assert_eq!(
        p.bob
            .receive(&m, T0)
            .unwrap()
            .into_message()
            .unwrap()
            .timer
            .duration_s,
        604_800
    );
}

#[test]
fn padding_hides_lengths_up_to_the_bucket() {
    let mut p = established(36, true);
    let reply = p.bob.send(&mut p.rng, T0, b"ack").unwrap();
    p.alice.receive(&reply, T0).unwrap().into_message().unwrap();
    let lens: Vec<usize> = [0usize, 1, 50, 200]
        .iter()
        .map(|n| p.alice.send(&mut p.rng, T0, &vec![1; *n]).unwrap().len())
        .collect();
    assert!(lens.iter().all(|l| *l == lens[0]));
    assert_eq!(lens[0], MESSAGE_PREFIX_LEN + MIN_PADDED_LEN + 16);
}

#[test]
fn purge_deletes_skipped_keys_past_their_deadline() {
    let mut p = established(37, true);
    let update = p
        .alice
        .set_timer(&mut p.rng, T0, 60, TimerStart::OnSend)
        .unwrap();
    p.bob.receive(&update, T0).unwrap().into_message().unwrap();
    let reply = p.bob.send(&mut p.rng, T0, b"ack").unwrap();
    p.alice.receive(&reply, T0).unwrap().into_message().unwrap();
    let skipped = p.alice.send(&mut p.rng, T0, b"delayed").unwrap();
    let next = p.alice.send(&mut p.rng, T0, b"next").unwrap();
    p.bob
        .receive(&next, T0 + 1)
        .unwrap()
        .into_message()
        .unwrap();
    assert_eq!(p.bob.skipped_key_count(), 1);
    // Before the deadline nothing is purged.
    assert_eq!(p.bob.purge(T0 + 60_000), 0);
    let deadline = T0 + 1 + 60_000 + 2 * MAX_CLOCK_SKEW_MS;
    assert_eq!(p.bob.purge(deadline), 0);
    assert_eq!(p.bob.purge(deadline + 1), 1);
    assert_eq!(p.bob.skipped_key_count(), 0);
    assert_eq!(
        p.bob.receive(&skipped, deadline + 1),
        Err(Error::DuplicateMessage)
    );
}

#[test]
fn raw_plaintext_is_not_a_valid_content_frame() {
    let mut p = established(38, true);
    let reply = p.bob.encrypt(&mut p.rng, b"raw bytes").unwrap();
    assert!(matches!(
        p.alice.receive(&reply, T0),
        Ok(Receipt::Unreadable(_))
    ));
}

#[test]
fn an_expired_first_message_neither_creates_a_session_nor_burns_the_one_time_prekey() {
    let mut rng = common::rng(39);
    let alice = xchat_protocol::IdentityKeyPair::generate(&mut rng);
    let bob = xchat_protocol::IdentityKeyPair::generate(&mut rng);
    let mut store = xchat_protocol::PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let bundle = store.bundle(&bob, Some(0)).unwrap();
    let mut a = xchat_protocol::Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b"").allow_classical(),
    )
    .unwrap();
    let first = a.set_timer(&mut rng, T0, 60, TimerStart::OnSend).unwrap();
    let later = T0 + 3_600_000;
    let second = a.send(&mut rng, later, b"still there?").unwrap();
    let before = store.to_bytes();
    let err = xchat_protocol::Session::accept(
        &bob,
        &mut store,
        &first,
        &Config::new(b"").allow_classical(),
        later,
    )
    .unwrap_err();
    assert_eq!(err, Error::Expired);
    assert_eq!(store.to_bytes(), before);
    // The initiator's next prekey message establishes the session; the first stays expired.
    let (mut b, got) = xchat_protocol::Session::accept(
        &bob,
        &mut store,
        &second,
        &Config::new(b"").allow_classical(),
        later,
    )
    .unwrap();
    assert_eq!(got.body, b"still there?");
    assert_eq!(store.one_time_prekey_count(), 0);
    assert!(matches!(
        b.receive(&first, later),
        Ok(Receipt::Expired { .. })
    ));
}

/// The audit's timer lock: a peer sends a frame with timer version 2^32 − 1. A saturating
/// version made our next less-private change show in our `timer()` while the peer, at equal
/// versions, kept its own. Now the change is refused and both sides keep the same timer.
#[test]
fn a_maximal_timer_version_cannot_split_the_two_sides() {
    use xchat_protocol::content::Content;
    let mut p = established(36, true);
    let hostile = Timer {
        duration_s: 5,
        start: TimerStart::OnSend,
        version: u32::MAX,
    };
    let frame = Content {
        kind: ContentKind::TimerUpdate,
        sent_at_ms: T0,
        timer: hostile,
        body: Vec::new(),
    }
    .to_padded_bytes()
    .unwrap();
    let wire = p.bob.encrypt(&mut p.rng, &frame).unwrap();
    assert!(
        p.alice
            .receive(&wire, T0)
            .unwrap()
            .into_message()
            .unwrap()
            .timer_changed
    );
    assert_eq!(p.alice.timer(), hostile);
    let before = p.alice.to_bytes();
    for (duration, start) in [
        (0, TimerStart::OnSend),
        (3600, TimerStart::OnRead),
        (1, TimerStart::OnSend),
    ] {
        assert_eq!(
            p.alice.set_timer(&mut p.rng, T0 + 1, duration, start),
            Err(Error::TimerVersionExhausted)
        );
        assert_eq!(
            p.alice.to_bytes(),
            before,
            "a refused change changes nothing"
        );
    }
    // Messages still flow under the timer both sides now hold.
    assert_eq!(p.alice.timer(), hostile);
    let m = p.alice.send(&mut p.rng, T0 + 2, b"still here").unwrap();
    let got = p.bob.receive(&m, T0 + 3).unwrap().into_message().unwrap();
    assert_eq!(got.timer, hostile);
    assert_eq!(p.bob.timer(), p.alice.timer());
}

/// On-read timers bound how long a *skipped* key is kept, like on-send ones (SPEC.md §8.6):
/// a message that has not arrived has not been read, and its key must not wait forever.
#[test]
fn skipped_keys_under_an_on_read_timer_are_purged() {
    let mut p = established(37, true);
    let update = p
        .alice
        .set_timer(&mut p.rng, T0, 60, TimerStart::OnRead)
        .unwrap();
    p.bob.receive(&update, T0).unwrap().into_message().unwrap();
    let skipped = p.alice.send(&mut p.rng, T0 + 1, b"late").unwrap();
    let next = p.alice.send(&mut p.rng, T0 + 2, b"on time").unwrap();
    let got = p
        .bob
        .receive(&next, T0 + 3)
        .unwrap()
        .into_message()
        .unwrap();
    assert_eq!(got.deadline, Deadline::AfterRead(60_000));
    assert_eq!(p.bob.skipped_key_count(), 1);
    let deadline = T0 + 3 + 60_000 + 2 * MAX_CLOCK_SKEW_MS;
    assert_eq!(p.bob.purge(deadline), 0);
    assert_eq!(p.bob.purge(deadline + 1), 1);
    assert_eq!(
        p.bob.receive(&skipped, deadline + 2),
        Err(Error::DuplicateMessage)
    );
}

proptest::proptest! {
    #![proptest_config(common::proptest_config(64))]

    /// Both sides agree on the timer once the same frames have arrived, whatever the order:
    /// each side's timer is the greatest of every timer it sent or received (SPEC.md §8.3).
    #[test]
    fn both_sides_agree_on_the_timer_after_any_sequence_of_frames(
        seed in 0u8..=255,
        actions in proptest::collection::vec((proptest::bool::ANY, 0u8..4, 0u32..3, proptest::bool::ANY), 1..24),
        order in proptest::collection::vec(proptest::num::usize::ANY, 24),
    ) {
        let mut p = established(seed, seed % 2 == 0);
        let mut to_alice = Vec::new();
        let mut to_bob = Vec::new();
        for (from_alice, what, duration, on_read) in actions {
            let start = if on_read { TimerStart::OnRead } else { TimerStart::OnSend };
            let sender = if from_alice { &mut p.alice } else { &mut p.bob };
            let wire = if what == 0 {
                sender.send(&mut p.rng, T0, b"m").unwrap()
            } else {
                sender.set_timer(&mut p.rng, T0, duration * 30, start).unwrap()
            };
            if from_alice { to_bob.push(wire) } else { to_alice.push(wire) }
        }
        // Deliver everything, in an arbitrary order per direction.
        for (queue, to_alice_side) in [(&mut to_alice, true), (&mut to_bob, false)] {
            let mut k = 0;
            while !queue.is_empty() {
                let wire = queue.remove(order[k % order.len()] % queue.len());
                k += 1;
                let receiver = if to_alice_side { &mut p.alice } else { &mut p.bob };
                receiver.receive(&wire, T0).unwrap().into_message().unwrap();
            }
        }
        proptest::prop_assert_eq!(p.alice.timer(), p.bob.timer());
    }
}
