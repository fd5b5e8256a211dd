//! Sending, membership and rotation (§13.5) across implementations, and the limits and errors
//! of creating a group (§13.4's bounds, §13.6).

use super::{Cfg, DEFAULT, Dev, GID, NOW, full_group, ik, rng, text, their_ik};
use crate::pqxdh::Scripted;
use crate::reference::group::{CEILING, MAX_PLAINTEXT, decode_dist};
use xchat_protocol::group::{GroupId, GroupSession};

/// Test M1: nothing is sent while a member lacks our key; `add_member` makes the new member
/// lack it (same key, current iteration, no rotation); `remove_member` deletes the member's
/// keys and makes the next distribution rotate for everyone.
#[test]
fn distribution_pending_and_membership() {
    let mut r = rng(20);
    let mut a = Dev::new(&mut r, 1, &[2, 3], DEFAULT);
    assert_eq!(
        a.encrypt(&mut r, NOW, b"x").unwrap_err(),
        "DistributionPending"
    );
    assert_eq!(
        a.send(&mut r, NOW, b"x").unwrap_err(),
        "DistributionPending"
    );
    assert_eq!(
        a.set_timer(&mut r, NOW, 5, 0).unwrap_err(),
        "DistributionPending"
    );
    let (d, to) = a.distribution(&mut r, NOW);
    assert_eq!(to.len(), 2);
    a.mark(&to[0], &d).unwrap();
    assert_eq!(a.mark(&ik(9), &d).unwrap_err(), "NotAMember");
    assert_eq!(
        a.encrypt(&mut r, NOW, b"x").unwrap_err(),
        "DistributionPending"
    );
    a.mark(&to[1], &d).unwrap();
    a.encrypt(&mut r, NOW, b"x").unwrap();
    // Joining: the same key at its current iteration, only to the newcomer.
    assert_eq!(a.add(&ik(4)), Ok(true));
    assert_eq!(a.add(&ik(4)), Ok(false));
    assert_eq!(a.add(&ik(1)), Ok(false));
    assert!(!a.rotation_due(NOW));
    assert_eq!(
        a.encrypt(&mut r, NOW, b"x").unwrap_err(),
        "DistributionPending"
    );
    let (d2, to) = a.distribution(&mut r, NOW);
    assert_eq!(to, [ik(4)]);
    let (x, y) = (decode_dist(&d).unwrap(), decode_dist(&d2).unwrap());
    assert_eq!(
        (x.key_id, x.iteration, y.key_id, y.iteration),
        (y.key_id, 0, x.key_id, 1)
    );
    assert_eq!(a.mark(&ik(4), &d).unwrap_err(), "StaleDistribution");
    a.mark(&ik(4), &d2).unwrap();
    a.encrypt(&mut r, NOW, b"x").unwrap();
    // Leaving: a non-member changes nothing; a member makes our key due.
    let before = a.state();
    assert!(!a.remove(&ik(9)));
    assert_eq!(a.state(), before);
    assert!(a.remove(&ik(3)));
    assert!(a.rotation_due(NOW));
    assert_eq!(
        a.encrypt(&mut r, NOW, b"x").unwrap_err(),
        "DistributionPending"
    );
    let (d3, to) = a.distribution(&mut r, NOW + 7);
    assert_eq!(to, [ik(2), ik(4)]);
    let z = decode_dist(&d3).unwrap();
    assert_eq!(z.iteration, 0);
    assert_ne!(z.key_id, x.key_id);
    assert_eq!(a.mine.own.created_at, NOW + 7);
    assert!(!a.rotation_due(NOW + 7));
}

/// Test M2: the removed member's keys are gone at the receiver, and re-adding it does not
/// bring them back.
#[test]
fn removal_deletes_the_members_keys() {
    let mut r = rng(21);
    let mut devs = full_group(&mut r, 3, DEFAULT);
    let c = devs[2].mine.local;
    let m = devs[2].encrypt(&mut r, NOW, b"from c").unwrap();
    assert!(devs[0].remove(&c));
    assert_eq!(devs[0].decrypt(&c, &m).unwrap_err(), "NotAMember");
    assert_eq!(devs[0].add(&c), Ok(true));
    let want = format!("UnknownSenderKey({})", devs[2].mine.own.id);
    assert_eq!(devs[0].decrypt(&c, &m).unwrap_err(), want);
    assert_eq!(devs[1].decrypt(&c, &m).unwrap(), b"from c");
}

/// Test M3: the rotation policy: after `max_messages` messages, and at
/// `now ≥ created_at + max_age_ms`; the age bound near `2^64 − 1`; bounds of 0 refused and of 1
/// accepted (§13.5 "`Rotation` bounds are each at least 1").
#[test]
fn rotation_policy() {
    let mut r = rng(22);
    let cfg = Cfg {
        limits: DEFAULT.limits,
        rotation: (3, 1000),
    };
    let mut a = Dev::new(&mut r, 1, &[2], cfg);
    a.distribute(&mut r, NOW);
    for _ in 0..3 {
        a.encrypt(&mut r, NOW, b"x").unwrap();
    }
    assert!(a.rotation_due(NOW));
    assert_eq!(
        a.encrypt(&mut r, NOW, b"x").unwrap_err(),
        "DistributionPending"
    );
    a.distribute(&mut r, NOW);
    assert!(!a.rotation_due(NOW + 999));
    assert!(a.rotation_due(NOW + 1000));
    assert_eq!(
        a.encrypt(&mut r, NOW + 1000, b"x").unwrap_err(),
        "DistributionPending"
    );
    a.encrypt(&mut r, NOW + 999, b"x").unwrap();
    // Created at 2^64 − 10 with a 1000 ms age bound.
    let mut b = Dev::try_new(&mut r, 1, &[2], u64::MAX - 10, cfg).unwrap();
    b.distribute(&mut r, u64::MAX - 10);
    assert!(!b.rotation_due(u64::MAX - 1));
    assert!(b.rotation_due(u64::MAX));
    b.encrypt(&mut r, u64::MAX - 1, b"x").unwrap();
    // A bound of 0 is `InvalidLimits` (and `try_new` checks that neither side drew).
    for rotation in [(0, u64::MAX), (1000, 0), (0, 0)] {
        let zero = Cfg {
            limits: DEFAULT.limits,
            rotation,
        };
        let e = Dev::try_new(&mut r, 1, &[2], NOW, zero).err().unwrap();
        assert_eq!(e, "InvalidLimits", "{rotation:?}");
    }
    // Bounds of 1: one message per key, due again one millisecond after each rotation.
    let one = Cfg {
        limits: DEFAULT.limits,
        rotation: (1, 1),
    };
    let mut o = Dev::try_new(&mut r, 1, &[2], NOW, one).unwrap();
    o.distribute(&mut r, NOW);
    o.encrypt(&mut r, NOW, b"x").unwrap();
    assert!(o.rotation_due(NOW));
    o.distribute(&mut r, NOW + 5);
    assert!(!o.rotation_due(NOW + 5));
    assert!(o.rotation_due(NOW + 6));
}

/// Test M4: creating a group: every limit in 1..=2^20 (`InvalidLimits`), the members
/// without us and repeats at most `max_members` (`TooLarge`); `add_member` beyond it.
#[test]
fn group_limits_and_sizes() {
    let mut r = rng(23);
    for i in 0..4 {
        for bad in [0, CEILING + 1] {
            let mut limits = DEFAULT.limits;
            limits[i] = bad;
            let cfg = Cfg { limits, ..DEFAULT };
            let e = Dev::try_new(&mut r, 1, &[2], NOW, cfg).err().unwrap();
            assert_eq!(e, "InvalidLimits", "limit {i} = {bad}");
        }
        let mut limits = DEFAULT.limits;
        limits[i] = CEILING;
        Dev::try_new(&mut r, 1, &[2], NOW, Cfg { limits, ..DEFAULT }).unwrap();
    }
    let cfg = Cfg {
        limits: [2000, 2000, 3, 2],
        ..DEFAULT
    };
    // Neither `InvalidLimits` nor `TooLarge` draws anything (§13.6 "a failed `new` draws
    // nothing"); with both, `InvalidLimits` (the order SPEC.md leaves open; see the reference).
    let mut bad = DEFAULT.theirs();
    bad.limits.max_jump = 0;
    let (us, them) = (their_ik(&ik(1)), [2, 3, 4].map(|n| their_ik(&ik(n))));
    let mut none = Scripted::new(&[]);
    let e = GroupSession::new(&mut none, &us, GroupId(GID), &them[..1], NOW, bad).unwrap_err();
    assert_eq!((text(e), none.finish()), ("InvalidLimits".to_string(), ()));
    let mut none = Scripted::new(&[]);
    let e = GroupSession::new(&mut none, &us, GroupId(GID), &them, NOW, cfg.theirs()).unwrap_err();
    assert_eq!((text(e), none.finish()), ("TooLarge".to_string(), ()));
    let mut both = cfg.theirs();
    both.rotation.max_messages = 0;
    let mut none = Scripted::new(&[]);
    let e = GroupSession::new(&mut none, &us, GroupId(GID), &them, NOW, both).unwrap_err();
    assert_eq!((text(e), none.finish()), ("InvalidLimits".to_string(), ()));
    let e = Dev::try_new(
        &mut r,
        1,
        &[2, 3, 4],
        NOW,
        Cfg {
            rotation: (0, 1),
            ..cfg
        },
    );
    assert_eq!(e.err().unwrap(), "InvalidLimits");
    // Us and a repeat are skipped before counting.
    let mut g = Dev::try_new(&mut r, 1, &[1, 2, 3, 2, 1], NOW, cfg).unwrap();
    assert_eq!(g.mine.members.len(), 2);
    let e = Dev::try_new(&mut r, 1, &[2, 3, 4], NOW, cfg).err().unwrap();
    assert_eq!(e, "TooLarge");
    assert_eq!(g.add(&ik(4)).unwrap_err(), "TooLarge");
    // A full group asked to add a member it has, or us.
    let (dup, us) = (g.add(&ik(3)), g.add(&ik(1)));
    assert_eq!((dup, us), (Ok(false), Ok(false)));
    assert!(g.remove(&ik(3)));
    assert_eq!(g.add(&ik(4)), Ok(true));
}

/// Test M5: the size bound of a message (2^20 bytes of plaintext, §13.3) and of a framed body,
/// and the order of the refusals of `encrypt`, `send` and `set_timer` when several apply:
/// `DistributionPending` first, before `TooLarge` and `TimerVersionExhausted` (§13.5).
#[test]
fn sending_errors_and_their_order() {
    let mut r = rng(24);
    let mut g = Dev::new(&mut r, 1, &[2], DEFAULT);
    let big = vec![0u8; MAX_PLAINTEXT + 1];
    // Pending and too large at once.
    let pending_first = g.encrypt(&mut r, NOW, &big).unwrap_err();
    let pending_send = g.send(&mut r, NOW, &big).unwrap_err();
    g.distribute(&mut r, NOW);
    assert_eq!(g.encrypt(&mut r, NOW, &big).unwrap_err(), "TooLarge");
    let m = g.encrypt(&mut r, NOW, &big[1..]).unwrap();
    assert_eq!(m.len(), MAX_PLAINTEXT + 138);
    let body = MAX_PLAINTEXT - 23;
    assert_eq!(
        g.send(&mut r, NOW, &big[..body + 1]).unwrap_err(),
        "TooLarge"
    );
    g.send(&mut r, NOW, &big[..body]).unwrap();
    // The timer at its last version, pending or not (a forged state both load).
    let mut st = g.mine.clone();
    st.timer.version = u32::MAX;
    let mut t = Dev::load(&st.to_state());
    assert_eq!(
        t.set_timer(&mut r, NOW, 5, 0).unwrap_err(),
        "TimerVersionExhausted"
    );
    assert!(t.remove(&ik(2)));
    let exhausted_pending = t.set_timer(&mut r, NOW, 5, 0).unwrap_err();
    assert_eq!(
        (
            pending_first.as_str(),
            pending_send.as_str(),
            exhausted_pending.as_str()
        ),
        (
            "DistributionPending",
            "DistributionPending",
            "DistributionPending"
        )
    );
}
