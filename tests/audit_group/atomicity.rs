//! "Every `Err` leaves the group unchanged" (SPEC.md §13.6) and "nothing is drawn that should
//! not be" (SPEC.md §1's table): each failing call of every mutating method, and the calls that
//! return `Ok` but must not change anything, compared by the blob's bytes and the RNG's log;
//! and no input makes a group message or distribution decoder panic.

use xchat_protocol::content::{Content, max_body_len};
use xchat_protocol::group::{
    GroupConfig, GroupId, GroupLimits, GroupSession, SenderKeyDistribution,
};
use xchat_protocol::{ContentKind, GroupError, IdentityKeyPair, Timer, TimerStart};

use crate::support::{AT_TIMER, Forged, GROUP, Group, NOW, Recorder, edited, put_u32};

#[test]
fn held_every_failed_call_changes_nothing_and_draws_nothing() {
    let limits = GroupLimits {
        max_members: 2,
        ..GroupLimits::DEFAULT
    };
    let mut g = Group::new(
        50,
        3,
        GroupConfig {
            limits,
            ..GroupConfig::default()
        },
    );
    let mut rng = Recorder::new(51);
    let outsider = *IdentityKeyPair::generate(&mut rng).public();
    rng.draws.clear();
    let (alice, bob) = (g.key(0), g.key(1));
    let check = |g: &Group, rng: &Recorder, before: &[u8], what: &str| {
        assert_eq!(g.blob(0), before, "{what}: state changed");
        assert!(rng.draws.is_empty(), "{what}: drew {:?}", rng.lengths());
    };
    // Nobody has device 0's key yet.
    let before = g.blob(0);
    let dev = &mut g.devices[0].group;
    assert_eq!(
        dev.encrypt(&mut rng, NOW, b"x"),
        Err(GroupError::DistributionPending)
    );
    assert_eq!(
        dev.send(&mut rng, NOW, b"x"),
        Err(GroupError::DistributionPending)
    );
    assert_eq!(
        dev.set_timer(&mut rng, NOW, 5, TimerStart::OnSend),
        Err(GroupError::DistributionPending)
    );
    assert_eq!(dev.timer(), Timer::OFF);
    assert_eq!(dev.add_member(&outsider), Err(GroupError::TooLarge));
    assert_eq!(dev.add_member(&alice), Ok(false));
    assert_eq!(dev.add_member(&bob), Ok(false));
    assert!(!dev.remove_member(&outsider), "a non-member");
    let current = dev.distribution(&mut rng, NOW).distribution;
    assert_eq!(
        dev.mark_distributed(&outsider, &current),
        Err(GroupError::NotAMember)
    );
    // Our key at another iteration, and another group's key, mark nothing.
    let mut later = current.to_bytes().to_vec();
    later[40] ^= 1;
    let later = SenderKeyDistribution::from_bytes(&later).unwrap();
    let mut elsewhere = current.to_bytes().to_vec();
    elsewhere[1] ^= 1;
    let elsewhere = SenderKeyDistribution::from_bytes(&elsewhere).unwrap();
    for stale in [&later, &elsewhere] {
        assert_eq!(
            dev.mark_distributed(&bob, stale),
            Err(GroupError::StaleDistribution)
        );
    }
    assert!(
        !dev.rotation_due(NOW),
        "removing a non-member is no removal"
    );
    assert_eq!(dev.purge(u64::MAX), 0);
    check(&g, &rng, &before, "before distribution");
    g.distribute_all(NOW);
    let before = g.blob(0);
    let dev = &mut g.devices[0].group;
    let d = dev.distribution(&mut rng, NOW);
    assert!(d.recipients.is_empty());
    let big = vec![0u8; (1 << 20) + 1];
    assert_eq!(dev.encrypt(&mut rng, NOW, &big), Err(GroupError::TooLarge));
    assert_eq!(
        dev.send(&mut rng, NOW, &big[..max_body_len() + 1]),
        Err(GroupError::TooLarge)
    );
    check(&g, &rng, &before, "sending");
    // Every receive error.
    let m = g.send(1, NOW, b"from bob");
    let before = g.blob(0);
    let dev = &mut g.devices[0].group;
    let mut bad = m.clone();
    bad[70] ^= 1;
    let mut other = m.clone();
    other[2] ^= 1;
    let mut unknown = m.clone();
    unknown[34] ^= 1;
    for (sender, msg) in [
        (&bob, &m[..10]),
        (&bob, &other[..]),
        (&outsider, &m[..]),
        (&bob, &unknown[..]),
        (&bob, &bad[..]),
    ] {
        assert!(dev.receive(sender, msg, NOW).is_err());
        assert!(dev.decrypt(sender, msg).is_err());
    }
    let wrong = Forged {
        group: GroupId([9; 32]).0,
        ..Forged::new(&bob, 1, 0, 1)
    };
    assert_eq!(
        dev.process_distribution(&bob, &wrong.distribution()),
        Err(GroupError::WrongGroup)
    );
    check(&g, &rng, &before, "receiving");
    assert!(g.receive(0, 1, &m, NOW).is_ok());
    let after = g.blob(0);
    assert_eq!(g.receive(0, 1, &m, NOW), Err(GroupError::DuplicateMessage));
    assert_eq!(g.blob(0), after);
    // A timer at its last version: refused before the draw (SPEC.md §8.3).
    let forged = edited(&g.blob(0), |b| put_u32(b, AT_TIMER + 5, u32::MAX));
    let mut dev = GroupSession::from_bytes(&forged).unwrap();
    assert_eq!(dev.timer().version, u32::MAX);
    assert_eq!(
        dev.set_timer(&mut rng, NOW, 5, TimerStart::OnSend),
        Err(GroupError::TimerVersionExhausted)
    );
    assert_eq!(dev.to_bytes().unwrap().to_vec(), forged);
    assert!(rng.draws.is_empty());
    // What does draw: one seed per message.
    dev.send(&mut rng, NOW, b"ok").unwrap();
    assert_eq!(rng.lengths(), [16]);
}

/// FINDING (informational; SPEC.md §1's draw table): `GroupSession::new` drew the whole sender
/// key (68 bytes) before it added the members, so a `new` refused with `TooLarge` had drawn
/// them — a failed call consumed randomness, which a seeded test vector would notice.
/// FIXED: `new` now counts the distinct members (skipping `local` and repeats) and validates the
/// rotation bounds before drawing (SPEC.md §13.6 "a failed `new` draws nothing"). The same
/// refusal now draws nothing, while the same members one under the limit still draw exactly the
/// 4 + 32 + 32 bytes of §13.1 (repeats and ourselves are not counted).
#[test]
fn fixed_a_new_refused_for_too_many_members_draws_nothing() {
    let limits = GroupLimits {
        max_members: 1,
        ..GroupLimits::DEFAULT
    };
    let config = GroupConfig {
        limits,
        ..GroupConfig::default()
    };
    let mut rng = Recorder::new(52);
    let ids: Vec<_> = (0..3)
        .map(|_| *IdentityKeyPair::generate(&mut rng).public())
        .collect();
    rng.draws.clear();
    let got = GroupSession::new(&mut rng, &ids[0], GROUP, &ids[1..], NOW, config);
    assert_eq!(got.map(|_| ()), Err(GroupError::TooLarge));
    assert!(rng.draws.is_empty(), "drew {:?}", rng.lengths());
    // One distinct member (repeated, and ourselves listed too) fits: the key is drawn then.
    let one = [ids[1], ids[0], ids[1]];
    let got = GroupSession::new(&mut rng, &ids[0], GROUP, &one, NOW, config);
    assert_eq!(got.unwrap().members().count(), 1);
    assert_eq!(rng.lengths(), [4, 32, 32]);
}

/// Thousands of mutated, cut and random group messages and distributions, from members and
/// outsiders, through `decrypt`, `receive` and `from_bytes`: no panic, and a refusal never
/// changes the group.
#[test]
fn held_no_message_or_distribution_input_panics() {
    use rand_chacha::rand_core::Rng;
    let mut g = Group::new(53, 3, GroupConfig::default());
    g.distribute_all(NOW);
    let msgs: Vec<Vec<u8>> = (0..3u8).map(|i| g.send(0, NOW, &[i; 40])).collect();
    let frame = Content {
        kind: ContentKind::SenderKeyDistribution,
        sent_at_ms: NOW,
        timer: Timer::OFF,
        body: vec![1; 105],
    }
    .to_padded_bytes()
    .unwrap();
    let raw = g.devices[0].group.encrypt(&mut g.rng, NOW, &frame).unwrap();
    let d = g.devices[0]
        .group
        .distribution(&mut g.rng, NOW)
        .distribution
        .to_bytes()
        .to_vec();
    let mut rng = crate::common::rng(54);
    let senders = [g.key(0), g.key(1), g.key(2)];
    for n in 0..4000u32 {
        let base = if n % 4 == 3 {
            &raw
        } else {
            &msgs[n as usize % 3]
        };
        let mut m = base.clone();
        match n % 5 {
            0 => {
                let i = rng.next_u32() as usize % m.len();
                m[i] ^= 1 << (rng.next_u32() % 8);
            }
            1 => m.truncate(rng.next_u32() as usize % (m.len() + 1)),
            2 => {
                for _ in 0..4 {
                    let i = rng.next_u32() as usize % m.len();
                    m[i] = rng.next_u32() as u8;
                }
            }
            3 => m.extend((0..rng.next_u32() % 100).map(|_| rng.next_u32() as u8)),
            _ => {
                let len = rng.next_u32() as usize % 400;
                m = (0..len).map(|_| rng.next_u32() as u8).collect();
                if len > 2 {
                    m[0] = 1;
                    m[1] = 3;
                }
            }
        }
        let to = 1 + (n as usize % 2);
        let sender = senders[n as usize % 3];
        let before = g.blob(to);
        let got = g.devices[to].group.receive(&sender, &m, NOW);
        if got.is_err() {
            assert_eq!(g.blob(to), before, "input {n}");
        }
        let mut dm = d.clone();
        let i = rng.next_u32() as usize % dm.len();
        dm[i] = rng.next_u32() as u8;
        dm.truncate(rng.next_u32() as usize % 110);
        if let Ok(parsed) = SenderKeyDistribution::from_bytes(&dm) {
            let _ = g.devices[to].group.process_distribution(&sender, &parsed);
        }
    }
}
