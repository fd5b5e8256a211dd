//! Content after authentication (SPEC.md §8): `Session::receive` of expired or unframed messages,
//! and `Content::from_padded_bytes` (§8.2).

use xchat_protocol::content;
use xchat_protocol::{Session, TimerStart};

use super::super::content::{message, timer};
use super::super::json::{Obj, big, hx};
use super::super::rng::Recorder;
use super::super::shared::{T0, blob, receipt_as_result};
use super::fixture::Fixture;
use super::harness::{Neg, with};

/// `Session::receive`: content after authentication (§8).
pub(super) fn receive(neg: &mut Neg, fx: &Fixture, rng: &mut Recorder) {
    let Fixture {
        bob_sending,
        alice_acknowledged,
        ..
    } = fx;
    let mut bs = Session::from_bytes(bob_sending).expect("loads");
    let t = bs
        .set_timer(rng, T0, 60, TimerStart::OnSend)
        .expect("timer");
    let old = bs.send(rng, T0 + 1_000, b"expires").expect("send");
    let raw = bs.encrypt(rng, b"not a frame").expect("raw");
    rng.take();
    let mut alice_timer = Session::from_bytes(alice_acknowledged).expect("loads");
    alice_timer
        .receive(&t, T0 + 500)
        .expect("timer")
        .into_message()
        .unwrap();
    let before = blob(alice_timer.to_bytes().unwrap());
    for (name, spec, msg, now, expected) in [
        (
            "receive: expired on arrival (key consumed)",
            "§8.5",
            &old,
            T0 + 1_000 + 60_000 + content::MAX_CLOCK_SKEW_MS + 1,
            "Expired",
        ),
        (
            "receive: authentic message that is not a content frame",
            "§8.2",
            &raw,
            T0 + 2_000,
            "InvalidContent(UnknownVersion(110))",
        ),
    ] {
        let mut s = Session::from_bytes(&before).expect("loads");
        let got = format!(
            "{:?}",
            receipt_as_result(s.receive(msg, now)).expect_err(name)
        );
        assert_eq!(got, expected);
        let after = blob(s.to_bytes().unwrap());
        assert_ne!(after, before, "the key is consumed");
        neg.push_with(
            name,
            spec,
            "Session::receive",
            Obj::new()
                .f("session", hx(&before))
                .f("message", hx(msg))
                .f("now_ms", big(now)),
            got,
            Obj::new().f("session_after", hx(&after)),
        );
    }
}

/// Content frames (§8.2).
pub(super) fn frames(neg: &mut Neg) {
    let frame = message(T0, timer(60, TimerStart::OnSend, 1), b"x".to_vec())
        .to_padded_bytes()
        .expect("frame");
    let cf = "Content::from_padded_bytes";
    neg.decode("content: empty", "§8.2", cf, &[], "Truncated");
    neg.decode(
        "content: unknown version",
        "§8.2",
        cf,
        &with(&frame, |v| v[0] = 2),
        "UnknownVersion(2)",
    );
    neg.decode(
        "content: unknown kind",
        "§8.2",
        cf,
        &with(&frame, |v| v[1] = 9),
        "UnknownType(9)",
    );
    neg.decode(
        "content: start byte 0x02",
        "§8.2",
        cf,
        &with(&frame, |v| v[14] = 2),
        "NonCanonical",
    );
    neg.decode(
        "content: timer off but on-read",
        "§8.1",
        cf,
        &with(&frame, |v| {
            v[10..14].copy_from_slice(&[0; 4]);
            v[14] = 1;
        }),
        "NonCanonical",
    );
    neg.decode(
        "content: non-zero padding",
        "§8.2",
        cf,
        &with(&frame, |v| v[255] = 1),
        "NonCanonical",
    );
    neg.decode(
        "content: one padding byte missing",
        "§8.2",
        cf,
        &frame[..255],
        "NonCanonical",
    );
    neg.decode(
        "content: one padding byte extra",
        "§8.2",
        cf,
        &with(&frame, |v| v.push(0)),
        "NonCanonical",
    );
    neg.decode(
        "content: body length beyond the frame",
        "§8.2",
        cf,
        &with(&frame, |v| {
            v[19..23].copy_from_slice(&1000u32.to_be_bytes())
        }),
        "Truncated",
    );
    neg.decode(
        "content: timer update with a body",
        "§8.2",
        cf,
        &with(&frame, |v| v[1] = 2),
        "NonCanonical",
    );
}
