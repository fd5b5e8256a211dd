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
/// timer is shared, so ONE member that sends a timer frame with version 2^32 − 1 and a 1-second
/// duration (a valid frame through `encrypt`) freezes it for every member that receives it.
/// Removing that member does not help: no one can turn the timer off or lengthen it again
/// (`TimerVersionExhausted` for ever), and every later message of every honest member is
/// stamped with 1 s and arrives expired (`Receipt::Expired`) after the clock-skew allowance.
/// Fix: in groups, refuse (as `Unreadable`, without applying) a timer whose version is more
/// than a small step above ours, or version the timer per membership epoch so that a removal
/// resets it; at least document it as a group limit ("recreate the group").
#[test]
fn broken_one_member_freezes_the_group_timer_for_everyone_even_after_its_removal() {
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
        assert!(got.message().unwrap().timer_changed);
    }
    let mallory = g.key(2);
    for i in 0..2 {
        g.devices[i].group.remove_member(&mallory);
    }
    g.distribute(0, NOW);
    g.distribute(1, NOW);
    for (d, s) in [(0, 0), (1, 3600)] {
        assert_eq!(
            g.devices[d]
                .group
                .set_timer(&mut g.rng, NOW, s, TimerStart::OnSend)
                .unwrap_err(),
            GroupError::TimerVersionExhausted,
            "nobody can turn it off or lengthen it"
        );
    }
    let m = g.send(0, NOW, b"an honest message");
    let got = g.devices[1]
        .group
        .receive(&k[0], &m, NOW + 301_001)
        .unwrap();
    assert_eq!(
        got,
        Receipt::Expired {
            timer_changed: false
        }
    );
}

/// FINDING (low; SPEC.md §13.3 "a frame of kind 0x03 inside a group message is
/// `Receipt::Unreadable(UnknownType(3))`"): `GroupSession::receive` runs the frame through
/// `receive_frame` — which applies the frame's timer — and only then replaces the receipt by
/// `Unreadable`. So a member can change everyone's group timer with a frame the receivers report
/// as unreadable: `Unreadable` carries no `timer_changed`, and for every other unreadable frame
/// the timer is not applied. The application is never told the timer changed (no "Mallory set
/// messages to disappear after 1 s" line). Fix: check the kind before the timer is applied (or
/// refuse kind 0x03 in the decoder used for group frames).
#[test]
fn broken_a_sender_key_frame_in_a_group_message_changes_the_timer_silently() {
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
    assert_eq!(
        g.devices[1].group.timer(),
        quiet,
        "applied, and not reported"
    );
    // A frame that is really unreadable does not apply its timer.
    let mut bad = frame(
        ContentKind::Message,
        Timer {
            version: 2,
            ..quiet
        },
        b"x",
    );
    let n = bad.len();
    bad[n - 1] = 1; // non-zero padding
    let m = g.devices[0].group.encrypt(&mut g.rng, NOW, &bad).unwrap();
    let got = g.devices[1].group.receive(&k[0], &m, NOW).unwrap();
    assert_eq!(got, Receipt::Unreadable(DecodeError::NonCanonical));
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
/// The library cannot tell which skipped key carries a distribution; fix: say so in §8.6/§12
/// item 24 and in `UnknownSenderKey`'s advice (ask for the key again), or keep skipped keys of a
/// session that carried distributions until `max_age` rather than the timer.
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
