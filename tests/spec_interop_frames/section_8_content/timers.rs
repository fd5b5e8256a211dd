//! §8.4–§8.6 on their own: deadlines, `after_read`, `supersedes` and `purgeable`, against the
//! vectors and the library.

use super::support::lib_content;
use crate::bridge::*;
use crate::frame::{self, Deadline, Frame, Kind, Start, Timer};
use crate::util::{load, s, u64d};

#[test]
fn deadline_vectors() {
    let v = load("content.json");
    let cases = v["deadlines"].as_array().expect("deadlines");
    assert_eq!(cases.len(), 8);
    for c in cases {
        let (sent, now) = (u64d(c, "sent_at_ms"), u64d(c, "now_ms"));
        let timer = timer_from_json(&c["timer"]);
        let want = deadline_from_json(&c["deadline"]);
        assert_eq!(frame::deadline(sent, &timer, now), want, "{}", s(c, "name"));
        let content = lib_content(&Frame {
            kind: Kind::Message,
            sent_at_ms: sent,
            timer,
            body: Vec::new(),
        });
        assert_eq!(content.deadline(now).map(from_lib_deadline), want);
    }
}

#[test]
fn deadlines_match_library_on_edge_values() {
    let times = [
        0,
        1,
        299_999,
        300_000,
        300_001,
        1_750_000_000_000,
        u64::MAX - 300_001,
        u64::MAX - 300_000,
        u64::MAX - 1,
        u64::MAX,
    ];
    let durations = [0, 1, 60, 4_294_967, 4_294_968, u32::MAX];
    for &sent in &times {
        for &now in &times {
            for &d in &durations {
                for start in [Start::OnSend, Start::OnRead] {
                    let timer = Timer {
                        duration_s: d,
                        start: if d == 0 { Start::OnSend } else { start },
                        version: 1,
                    };
                    let c = lib_content(&Frame {
                        kind: Kind::Message,
                        sent_at_ms: sent,
                        timer,
                        body: Vec::new(),
                    });
                    let ours = frame::deadline(sent, &timer, now);
                    assert_eq!(c.deadline(now).map(from_lib_deadline), ours);
                    // §8.6 with this as the session's timer at the purge and `sent` as the
                    // skip time, in exact arithmetic (the additions saturate at 2^64 − 1).
                    let bound = (u128::from(sent) + u128::from(d) * 1000 + 600_000)
                        .min(u128::from(u64::MAX));
                    let want = d > 0 && sent != u64::MAX && u128::from(now) > bound;
                    assert_eq!(frame::purgeable(sent, &timer, now), want);
                }
            }
        }
    }
}

#[test]
fn after_read_vectors_and_library() {
    let v = load("content.json");
    let cases = v["after_read"].as_array().expect("after_read");
    assert_eq!(cases.len(), 4);
    for c in cases {
        let d = deadline_from_json(&c["deadline"]).expect("a deadline");
        let read_at = u64d(c, "read_at_ms");
        let want = deadline_from_json(&c["result"]).expect("a deadline");
        assert_eq!(frame::after_read(d, read_at), want, "{}", s(c, "name"));
        assert_eq!(
            from_lib_deadline(to_lib_deadline(d).after_read(read_at)),
            want
        );
    }
    for d in [
        Deadline::Never,
        Deadline::At(0),
        Deadline::At(u64::MAX),
        Deadline::AfterRead(0),
        Deadline::AfterRead(u64::MAX),
        Deadline::AfterRead(3_600_000),
    ] {
        for read_at in [0, 1, 1_750_000_000_000, u64::MAX - 1, u64::MAX] {
            assert_eq!(
                from_lib_deadline(to_lib_deadline(d).after_read(read_at)),
                frame::after_read(d, read_at),
                "{d:?} read at {read_at}"
            );
        }
    }
}

#[test]
fn supersedes_vectors() {
    let v = load("content.json");
    let cases = v["supersedes"].as_array().expect("supersedes");
    assert_eq!(cases.len(), 14);
    for c in cases {
        let cand = timer_from_json(&c["candidate"]);
        let cur = timer_from_json(&c["current"]);
        let want = c["supersedes"].as_bool().expect("bool");
        assert_eq!(cand.supersedes(&cur), want, "{}", s(c, "name"));
        assert_eq!(
            to_lib_timer(&cand).supersedes(&to_lib_timer(&cur)),
            want,
            "{}",
            s(c, "name")
        );
    }
}

#[test]
fn supersedes_is_a_strict_total_order_matching_library() {
    let mut timers = vec![Timer::OFF];
    for version in [0, 1, 2, u32::MAX - 1, u32::MAX] {
        for d in [0, 1, 2, 60, u32::MAX - 1, u32::MAX] {
            for start in [Start::OnSend, Start::OnRead] {
                let t = Timer {
                    duration_s: d,
                    start,
                    version,
                };
                if t.is_canonical() {
                    timers.push(t);
                }
            }
        }
    }
    for a in &timers {
        for b in &timers {
            let ours = a.supersedes(b);
            assert_eq!(
                to_lib_timer(a).supersedes(&to_lib_timer(b)),
                ours,
                "{a:?} {b:?}"
            );
            if a == b {
                assert!(!ours, "irreflexive");
            } else {
                assert!(
                    ours ^ b.supersedes(a),
                    "total and antisymmetric: {a:?} {b:?}"
                );
            }
        }
    }
}
