//! content.json: content frames, Padme padding, deadlines and timer precedence
//! (SPEC.md §8.1–§8.6); its session flow is in `timer_flow`.

use xchat_protocol::content::{self, Content};
use xchat_protocol::{ContentKind, Deadline, Timer, TimerStart};

use super::json::{Json, Obj, big, hx};
use super::rng::Recorder;
use super::shared::{T0, deadline_json, header, kind_name, timer_json};
use super::timer_flow::timer_flow;

pub(super) fn frame_case(name: &str, c: &Content) -> Json {
    let bytes = c.to_padded_bytes().expect("frame");
    assert_eq!(&Content::from_padded_bytes(&bytes).expect("decode"), c);
    let unpadded = content::FRAME_HEADER_LEN + c.body.len();
    assert_eq!(bytes.len(), xchat_protocol::padding::padded_len(unpadded));
    Obj::new()
        .f("name", name)
        .f("kind", kind_name(c.kind))
        .f("sent_at_ms", big(c.sent_at_ms))
        .f("timer", timer_json(&c.timer))
        .f("body", hx(&c.body))
        .f("unpadded_len", unpadded)
        .f("padded_len", bytes.len())
        .f("bytes", hx(&bytes))
        .into()
}

pub(super) fn timer(duration_s: u32, start: TimerStart, version: u32) -> Timer {
    Timer {
        duration_s,
        start,
        version,
    }
}

pub(super) fn message(sent_at_ms: u64, timer: Timer, body: Vec<u8>) -> Content {
    Content {
        kind: ContentKind::Message,
        sent_at_ms,
        timer,
        body,
    }
}

pub fn content_json() -> Json {
    let mut rng = Recorder::new([0x43; 32]);
    use TimerStart::{OnRead, OnSend};

    let on_send = timer(3600, OnSend, 1);
    let on_read = timer(300, OnRead, 2);
    let mut frames = Vec::new();
    for (name, kind, t, body_len) in [
        (
            "message, timer off, empty body",
            ContentKind::Message,
            Timer::OFF,
            0usize,
        ),
        (
            "message, timer off, 2-byte body",
            ContentKind::Message,
            Timer::OFF,
            2,
        ),
        (
            "message, on-send 1 h, frame exactly 256 bytes",
            ContentKind::Message,
            on_send,
            233,
        ),
        (
            "message, on-read 5 min, one byte past the 256 floor",
            ContentKind::Message,
            on_read,
            234,
        ),
        (
            "message, on-send, exactly the 272 bucket",
            ContentKind::Message,
            on_send,
            249,
        ),
        (
            "message, on-send, one past the 272 bucket",
            ContentKind::Message,
            on_send,
            250,
        ),
        (
            "message, timer off, exactly 1024",
            ContentKind::Message,
            Timer::OFF,
            1001,
        ),
        (
            "message, timer off, 1025 pads to 1088",
            ContentKind::Message,
            Timer::OFF,
            1002,
        ),
        (
            "timer update, on-send 30 s",
            ContentKind::TimerUpdate,
            timer(30, OnSend, 4),
            0,
        ),
        (
            "timer update, on-read 1 day",
            ContentKind::TimerUpdate,
            timer(86_400, OnRead, 5),
            0,
        ),
        (
            "timer update, off",
            ContentKind::TimerUpdate,
            timer(0, OnSend, 6),
            0,
        ),
    ] {
        let body = rng.bytes(body_len);
        let sent_at_ms = T0 + frames.len() as u64 * 1000;
        frames.push(frame_case(
            name,
            &Content {
                kind,
                sent_at_ms,
                timer: t,
                body,
            },
        ));
    }

    let max_body = content::max_body_len();
    let mut padding = Vec::new();
    for len in [
        0usize,
        1,
        2,
        3,
        23,
        100,
        255,
        256,
        257,
        271,
        272,
        273,
        288,
        289,
        511,
        512,
        513,
        1000,
        1023,
        1024,
        1025,
        1088,
        1089,
        4095,
        4096,
        4097,
        65_535,
        65_536,
        65_537,
        100_000,
        1_048_575,
        1_048_576,
        content::FRAME_HEADER_LEN + max_body,
        content::FRAME_HEADER_LEN + max_body + 1,
    ] {
        padding.push(Json::from(
            Obj::new()
                .f("len", len)
                .f("padded_len", xchat_protocol::padding::padded_len(len)),
        ));
    }

    // Deadlines (§8.5).
    let skew = content::MAX_CLOCK_SKEW_MS;
    let minute = timer(60, OnSend, 1);
    let mut deadlines = Vec::new();
    let mut deadline_case = |name: &str, sent_at_ms: u64, t: Timer, now_ms: u64| {
        let c = message(sent_at_ms, t, Vec::new());
        deadlines.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("sent_at_ms", big(sent_at_ms))
                .f("timer", timer_json(&t))
                .f("now_ms", big(now_ms))
                .f("deadline", deadline_json(c.deadline(now_ms))),
        ));
    };
    deadline_case("timer off", T0, Timer::OFF, T0 + 10_000_000);
    deadline_case("on-read", T0, timer(60, OnRead, 1), T0 + 10_000_000);
    deadline_case("on-send, received at once", T0, minute, T0);
    deadline_case(
        "on-send, received at the deadline plus the full skew",
        T0,
        minute,
        T0 + 60_000 + skew,
    );
    deadline_case(
        "on-send, received 1 ms too late: expired",
        T0,
        minute,
        T0 + 60_000 + skew + 1,
    );
    deadline_case(
        "on-send, sender clock 1 h ahead: clamped to now + skew",
        T0 + 3_600_000,
        minute,
        T0,
    );
    deadline_case(
        "on-send, sender clock 1 h behind: expired",
        T0 - 3_600_000,
        minute,
        T0,
    );
    deadline_case(
        "on-send, additions saturate at 2^64 - 1",
        u64::MAX - 10,
        timer(u32::MAX, OnSend, 1),
        u64::MAX - 5,
    );
    let mut after_read = Vec::new();
    for (name, d, read_at) in [
        ("after read", Deadline::AfterRead(60_000), T0),
        (
            "after read, saturating",
            Deadline::AfterRead(60_000),
            u64::MAX - 1,
        ),
        ("never stays never", Deadline::Never, T0),
        ("at stays at", Deadline::At(T0 + 5), T0),
    ] {
        after_read.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("deadline", deadline_json(Some(d)))
                .f("read_at_ms", big(read_at))
                .f("result", deadline_json(Some(d.after_read(read_at)))),
        ));
    }

    // Timer precedence (§8.4).
    let mut supersedes = Vec::new();
    for (name, candidate, current, expected) in [
        (
            "higher version wins",
            timer(0, OnSend, 5),
            timer(60, OnSend, 4),
            true,
        ),
        (
            "lower version loses",
            timer(60, OnSend, 3),
            timer(0, OnSend, 4),
            false,
        ),
        ("identical timer does not supersede", minute, minute, false),
        (
            "same version: shorter duration wins",
            timer(30, OnSend, 4),
            timer(60, OnSend, 4),
            true,
        ),
        (
            "same version: longer duration loses",
            timer(60, OnSend, 4),
            timer(30, OnSend, 4),
            false,
        ),
        (
            "same version: a duration beats off",
            timer(3600, OnRead, 4),
            timer(0, OnSend, 4),
            true,
        ),
        (
            "same version: off loses to a duration",
            timer(0, OnSend, 4),
            timer(3600, OnRead, 4),
            false,
        ),
        (
            "same version: the longest on-read timer beats off (off ranks after every duration)",
            timer(u32::MAX, OnRead, 4),
            timer(0, OnSend, 4),
            true,
        ),
        (
            "same version: off never beats the longest on-read timer",
            timer(0, OnSend, 4),
            timer(u32::MAX, OnRead, 4),
            false,
        ),
        (
            "same version: the longest on-send timer beats off",
            timer(u32::MAX, OnSend, 4),
            timer(0, OnSend, 4),
            true,
        ),
        (
            "same version: off never beats the longest on-send timer",
            timer(0, OnSend, 4),
            timer(u32::MAX, OnSend, 4),
            false,
        ),
        (
            "same version and duration: on-send beats on-read",
            timer(60, OnSend, 4),
            timer(60, OnRead, 4),
            true,
        ),
        (
            "same version and duration: on-read loses to on-send",
            timer(60, OnRead, 4),
            timer(60, OnSend, 4),
            false,
        ),
        (
            "version 0 never supersedes the initial timer",
            Timer::OFF,
            Timer::OFF,
            false,
        ),
    ] {
        assert_eq!(candidate.supersedes(&current), expected, "{name}");
        supersedes.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("candidate", timer_json(&candidate))
                .f("current", timer_json(&current))
                .f("supersedes", expected),
        ));
    }

    header(
        "content.json",
        "Content frames: encoding, Padme padding, timers, deadlines, and a session exchanging framed messages",
        &["§8.1", "§8.2", "§8.3", "§8.4", "§8.5", "§8.6"],
    )
    .f(
        "constants",
        Obj::new()
            .f("frame_header_len", content::FRAME_HEADER_LEN)
            .f("min_padded_len", xchat_protocol::padding::MIN_PADDED_LEN)
            .f("max_clock_skew_ms", big(skew))
            .f("max_body_len", max_body),
    )
    .f("frames", Json::Array(frames))
    .f("padding", Json::Array(padding))
    .f("deadlines", Json::Array(deadlines))
    .f("after_read", Json::Array(after_read))
    .f("supersedes", Json::Array(supersedes))
    .f("session_flow", timer_flow())
    .into()
}
