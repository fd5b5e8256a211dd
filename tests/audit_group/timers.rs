//! The content frame inside group messages (SPEC.md §8.3–§8.6, §13.3): the group's shared timer
//! under a malicious member, a sender key frame inside a group message, expiry and purge.

use xchat_protocol::content::Content;
use xchat_protocol::group::GroupConfig;
use xchat_protocol::{ContentKind, Deadline, DecodeError, GroupError, Receipt, Timer, TimerStart};

use crate::support::{Group, NOW};

fn frame(kind: ContentKind, timer: Timer, body: &[u8]) -> Vec<u8> {
    Content {
        kind,
        sent_at_ms: NOW,
        timer,
        body: body.to_vec(),
    }
    .to_padded_bytes()
    .unwrap()
}

/// FINDING (medium; SECURITY.md Known limits and SPEC.md §8.3 justify the frozen timer with
/// "only a peer that itself sent version 2^32 − 1 can exhaust a session's timer; that peer can
/// equally ignore timers in its own client" — which does not carry over to groups): the group
/// timer is shared, so ONE member that sent a timer frame with version 2^32 − 1 and a 1-second
/// duration (a valid frame through `encrypt`) froze it for every member that received it, even
/// after its removal: `TimerVersionExhausted` for ever, every later message expired on arrival.
/// FIXED: in a group, a frame's timer whose version exceeds ours by more than 2^16 is not
/// applied; it still bounds that message's own deadline (SPEC.md §13.3). The same poison is now
/// delivered with `timer_changed: false` and a 1 s deadline, and leaves every receiver's timer
/// off; after the removal honest `set_timer` works in both directions (on, then off again) and
/// an honest message is not expired. A member that missed changes still converges: a timer
/// exactly 2^16 versions ahead applies, one more is not applied (but bounds its deadline).
/// STILL OPEN, documented (SECURITY.md Known limits, Groups): a member can push the version up by
/// 2^16 per message, which bounds the freeze but does not remove it.
#[test]
fn fixed_one_member_cannot_freeze_the_group_timer_with_a_far_ahead_version() {
    let mut g = Group::new(70, 3, GroupConfig::default());
    let k = crate::support::keys(&g);
    g.distribute_all(NOW);
    let last = Timer {
        duration_s: 1,
        start: TimerStart::OnSend,
        version: u32::MAX,
    };
    let poison = g.devices[2]
        .group
        .encrypt(&mut g.rng, NOW, &frame(ContentKind::TimerUpdate, last, b""))
        .unwrap();
    for to in 0..2 {
        let got = g.devices[to].group.receive(&k[2], &poison, NOW).unwrap();
        let got = got.message().unwrap();
        assert!(!got.timer_changed, "device {to}");
        assert_eq!(got.timer, last);
        assert_eq!(got.deadline, Deadline::At(NOW + 1000), "its own deadline");
        assert_eq!(g.devices[to].group.timer(), Timer::OFF);
    }
    let mallory = g.key(2);
    for i in 0..2 {
        g.devices[i].group.remove_member(&mallory);
    }
    g.distribute(0, NOW);
    g.distribute(1, NOW);
    for (from, to, s) in [(0, 1, 3600), (1, 0, 0)] {
        let change = g.devices[from]
            .group
            .set_timer(&mut g.rng, NOW, s, TimerStart::OnSend)
            .unwrap();
        let got = g.devices[to].group.receive(&k[from], &change, NOW).unwrap();
        assert!(got.message().unwrap().timer_changed, "{from} -> {to}");
        assert_eq!(g.devices[to].group.timer(), g.devices[from].group.timer());
    }
    assert_eq!(g.devices[0].group.timer().version, 2);
    let m = g.send(0, NOW, b"an honest message");
    let got = g.devices[1]
        .group
        .receive(&k[0], &m, NOW + 301_001)
        .unwrap();
    assert_eq!(got.message().unwrap().deadline, Deadline::Never);
    // Within 2^16 versions a timer applies; one version further it does not.
    let ahead = Timer {
        duration_s: 60,
        start: TimerStart::OnSend,
        version: 2 + (1 << 16),
    };
    let beyond = Timer {
        duration_s: 30,
        version: ahead.version + (1 << 16) + 1,
        ..ahead
    };
    for (timer, applies, deadline) in [(ahead, true, 60_000), (beyond, false, 30_000)] {
        let m = g.devices[0]
            .group
            .encrypt(&mut g.rng, NOW, &frame(ContentKind::Message, timer, b"x"))
            .unwrap();
        let got = g.devices[1].group.receive(&k[0], &m, NOW).unwrap();
        let got = got.message().unwrap();
        assert_eq!(got.timer_changed, applies, "{timer:?}");
        assert_eq!(got.deadline, Deadline::At(NOW + deadline));
        assert_eq!(g.devices[1].group.timer(), ahead);
    }
}

/// FINDING (low; SPEC.md §13.3 "a frame of kind 0x03 inside a group message is
/// `Receipt::Unreadable(UnknownType(3))`"): `GroupSession::receive` ran the frame through
/// `receive_frame` — which applied the frame's timer — and only then replaced the receipt by
/// `Unreadable`. So a member could change everyone's group timer with a frame the receivers
/// reported as unreadable, and the application was never told the timer changed.
/// FIXED: the frame's kind is checked before its timer is looked at (SPEC.md §13.3 "before its
/// timer is looked at"). The same frame is still `Unreadable(UnknownType(3))` and now leaves the
/// group's timer off; a really unreadable frame does not apply its timer either, and an ordinary
/// message with the same timer does (reported with `timer_changed`).
#[test]
fn fixed_a_sender_key_frame_in_a_group_message_leaves_the_timer_alone() {
    let mut g = Group::new(71, 2, GroupConfig::default());
    let k = crate::support::keys(&g);
    g.distribute_all(NOW);
    let quiet = Timer {
        duration_s: 1,
        start: TimerStart::OnSend,
        version: 1,
    };
    let m = g.devices[0]
        .group
        .encrypt(
            &mut g.rng,
            NOW,
            &frame(ContentKind::SenderKeyDistribution, quiet, &[0; 105]),
        )
        .unwrap();
    let got = g.devices[1].group.receive(&k[0], &m, NOW).unwrap();
    assert_eq!(got, Receipt::Unreadable(DecodeError::UnknownType(3)));
    assert_eq!(g.devices[1].group.timer(), Timer::OFF, "not applied");
    // A frame that is really unreadable does not apply its timer.
    let mut bad = frame(ContentKind::Message, quiet, b"x");
    let n = bad.len();
    bad[n - 1] = 1; // non-zero padding
    let m = g.devices[0].group.encrypt(&mut g.rng, NOW, &bad).unwrap();
    let got = g.devices[1].group.receive(&k[0], &m, NOW).unwrap();
    assert_eq!(got, Receipt::Unreadable(DecodeError::NonCanonical));
    assert_eq!(g.devices[1].group.timer(), Timer::OFF);
    // The same timer in an ordinary message applies, and says so.
    let m = g.devices[0]
        .group
        .encrypt(&mut g.rng, NOW, &frame(ContentKind::Message, quiet, b"x"))
        .unwrap();
    let got = g.devices[1].group.receive(&k[0], &m, NOW).unwrap();
    assert!(got.message().unwrap().timer_changed);
    assert_eq!(g.devices[1].group.timer(), quiet);
}

/// An expired group message is `Receipt::Expired` (its key consumed: later a duplicate) and
/// still applies a newer timer; a late message sent while the timer was off gets the group's
/// current timer (SPEC.md §8.5).
#[test]
fn held_expiry_in_groups_follows_section_8_5() {
    let mut g = Group::new(72, 2, GroupConfig::default());
    g.distribute_all(NOW);
    let old = g.send(0, NOW, b"sent while off");
    let change = g.devices[0]
        .group
        .set_timer(&mut g.rng, NOW, 60, TimerStart::OnSend)
        .unwrap();
    let alice = g.key(0);
    let late = NOW + 60_000 + 300_001;
    let got = g.devices[1].group.receive(&alice, &change, late).unwrap();
    assert_eq!(
        got,
        Receipt::Expired {
            timer_changed: true
        }
    );
    assert_eq!(g.devices[1].group.timer().duration_s, 60);
    assert_eq!(
        g.devices[1].group.receive(&alice, &change, late),
        Err(GroupError::DuplicateMessage)
    );
    let got = g.devices[1]
        .group
        .receive(&alice, &old, NOW + 1000)
        .unwrap();
    assert_eq!(got.message().unwrap().deadline, Deadline::At(NOW + 60_000));
}

/// `purge` deletes skipped keys as SPEC.md §8.6 says under the group's timer: not while the
/// timer is off, not before `skipped_at + duration + 2 × skew`, never those skipped by
/// `decrypt` (no clock); after a purge the message is a duplicate.
#[test]
fn held_purge_of_group_skipped_keys_follows_section_8_6() {
    let mut g = Group::new(73, 3, GroupConfig::default());
    g.distribute_all(NOW);
    let timer = g.devices[0]
        .group
        .set_timer(&mut g.rng, NOW, 60, TimerStart::OnSend)
        .unwrap();
    let skipped: Vec<_> = (0..3u8).map(|i| g.send(0, NOW, &[i])).collect();
    let next = g.send(0, NOW, b"next");
    let alice = g.key(0);
    // Device 1 skips with `receive` (clock known), device 2 with `decrypt` (no clock).
    g.devices[1].group.receive(&alice, &timer, NOW).unwrap();
    g.devices[2].group.receive(&alice, &timer, NOW).unwrap();
    g.devices[1].group.receive(&alice, &next, NOW).unwrap();
    g.devices[2].group.decrypt(&alice, &next).unwrap();
    let bound = NOW + 60_000 + 600_000;
    for d in 1..3 {
        assert_eq!(g.devices[d].group.purge(bound), 0);
    }
    assert_eq!(g.devices[1].group.purge(bound + 1), 3);
    assert_eq!(g.devices[2].group.purge(u64::MAX), 0);
    assert_eq!(
        g.devices[1].group.receive(&alice, &skipped[0], bound + 1),
        Err(GroupError::DuplicateMessage)
    );
    assert!(g.devices[2].group.receive(&alice, &skipped[0], NOW).is_ok());
}

/// FINDING (low; SPEC.md §12 item 24 "A sender key is never dropped as expired", §8.5's
/// exception, versus §8.6): `Session::purge` deletes a skipped pairwise message key once any
/// on-send message it could open "has expired on arrival anyway" — but a sender key
/// distribution never expires on arrival (§8.5), so the rationale does not hold for it. A
/// distribution overtaken by a later message of the same pairwise session is lost to a purge
/// (`DuplicateMessage` when it arrives), where without the purge it would have been delivered.
/// The group then reads nothing from that sender (`UnknownSenderKey`) until it redistributes.
/// STILL OPEN: SECURITY.md Known limits (Groups) now states it ("ask the sender again on
/// `UnknownSenderKey`", as SPEC.md §13.4 step 4 advises); SPEC.md §8.6 and §12 item 24 still do
/// not mention it, so the `broken_doc_` disagreement stands. Fix: say so in §8.6/§12 item 24, or
/// keep skipped keys of a session that carried distributions until `max_age` rather than the
/// timer.
#[test]
fn broken_doc_purge_drops_a_distribution_that_arrives_after_a_later_message() {
    use xchat_protocol::Session;
    let mut p = crate::common::established(74, true);
    let change = p
        .alice
        .set_timer(&mut p.rng, NOW, 60, TimerStart::OnSend)
        .unwrap();
    p.bob.receive(&change, NOW).unwrap();
    let mut g = Group::new(75, 2, GroupConfig::default());
    let d = g.devices[0]
        .group
        .distribution(&mut g.rng, NOW)
        .distribution;
    let wire = d.send(&mut p.alice, &mut p.rng, NOW).unwrap();
    let after = p.alice.send(&mut p.rng, NOW, b"overtakes it").unwrap();
    p.bob.receive(&after, NOW).unwrap();
    let unpurged = p.bob.to_bytes().unwrap();
    let late = NOW + 60_000 + 600_001;
    assert_eq!(p.bob.purge(late), 1);
    assert_eq!(
        p.bob.receive(&wire, late),
        Err(xchat_protocol::Error::DuplicateMessage),
        "the sender key is gone"
    );
    let mut kept = Session::from_bytes(&unpurged).unwrap();
    let got = kept.receive(&wire, late).unwrap().into_message().unwrap();
    assert_eq!(got.kind, ContentKind::SenderKeyDistribution);
    assert_eq!(
        got.deadline,
        Deadline::At(late),
        "what §8.5 would have delivered"
    );
}
