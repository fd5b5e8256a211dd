//! Conversions between this file's values, the JSON vectors and the library's types.

use crate::dr::Received;
use crate::frame::{Deadline, Kind, Start, Timer};
use crate::util::{hb, hx, n, s, u64d};
use serde_json::{Value, json};
use xchat_protocol as lib;

pub fn timer_from_json(v: &Value) -> Timer {
    Timer {
        duration_s: n(v, "duration_s") as u32,
        start: match s(v, "start") {
            "on_send" => Start::OnSend,
            "on_read" => Start::OnRead,
            other => panic!("start {other:?}"),
        },
        version: n(v, "version") as u32,
    }
}

pub fn timer_json(t: &Timer) -> Value {
    json!({
        "duration_s": t.duration_s,
        "start": match t.start { Start::OnSend => "on_send", Start::OnRead => "on_read" },
        "version": t.version,
    })
}

pub fn kind_from_json(v: &str) -> Kind {
    match v {
        "message" => Kind::Message,
        "timer_update" => Kind::TimerUpdate,
        other => panic!("kind {other:?}"),
    }
}

pub fn kind_json(k: Kind) -> &'static str {
    match k {
        Kind::Message => "message",
        Kind::TimerUpdate => "timer_update",
    }
}

/// `None` is `{"kind": "expired"}`.
pub fn deadline_from_json(v: &Value) -> Option<Deadline> {
    match s(v, "kind") {
        "never" => Some(Deadline::Never),
        "at" => Some(Deadline::At(u64d(v, "ms"))),
        "after_read" => Some(Deadline::AfterRead(u64d(v, "ms"))),
        "expired" => None,
        other => panic!("deadline {other:?}"),
    }
}

pub fn deadline_json(d: Option<Deadline>) -> Value {
    match d {
        Some(Deadline::Never) => json!({"kind": "never"}),
        Some(Deadline::At(ms)) => json!({"kind": "at", "ms": ms.to_string()}),
        Some(Deadline::AfterRead(ms)) => json!({"kind": "after_read", "ms": ms.to_string()}),
        None => json!({"kind": "expired"}),
    }
}

pub fn received_json(r: &Received) -> Value {
    json!({
        "kind": kind_json(r.kind),
        "body": hx(&r.body),
        "sent_at_ms": r.sent_at_ms.to_string(),
        "timer": timer_json(&r.timer),
        "deadline": deadline_json(Some(r.deadline)),
        "timer_changed": r.timer_changed,
    })
}

pub fn received_from_json(v: &Value) -> Received {
    Received {
        kind: kind_from_json(s(v, "kind")),
        body: hb(v, "body"),
        sent_at_ms: u64d(v, "sent_at_ms"),
        timer: timer_from_json(&v["timer"]),
        deadline: deadline_from_json(&v["deadline"]).expect("not expired"),
        timer_changed: v["timer_changed"].as_bool().expect("bool"),
    }
}

pub fn to_lib_timer(t: &Timer) -> lib::Timer {
    lib::Timer {
        duration_s: t.duration_s,
        start: to_lib_start(t.start),
        version: t.version,
    }
}

pub fn to_lib_start(s: Start) -> lib::TimerStart {
    match s {
        Start::OnSend => lib::TimerStart::OnSend,
        Start::OnRead => lib::TimerStart::OnRead,
    }
}

pub fn from_lib_timer(t: &lib::Timer) -> Timer {
    Timer {
        duration_s: t.duration_s,
        start: match t.start {
            lib::TimerStart::OnSend => Start::OnSend,
            lib::TimerStart::OnRead => Start::OnRead,
        },
        version: t.version,
    }
}

pub fn to_lib_kind(k: Kind) -> lib::ContentKind {
    match k {
        Kind::Message => lib::ContentKind::Message,
        Kind::TimerUpdate => lib::ContentKind::TimerUpdate,
    }
}

pub fn from_lib_kind(k: lib::ContentKind) -> Kind {
    match k {
        lib::ContentKind::Message => Kind::Message,
        lib::ContentKind::TimerUpdate => Kind::TimerUpdate,
        other => panic!("unknown kind {other:?}"),
    }
}

pub fn to_lib_deadline(d: Deadline) -> lib::Deadline {
    match d {
        Deadline::Never => lib::Deadline::Never,
        Deadline::At(ms) => lib::Deadline::At(ms),
        Deadline::AfterRead(ms) => lib::Deadline::AfterRead(ms),
    }
}

pub fn from_lib_deadline(d: lib::Deadline) -> Deadline {
    match d {
        lib::Deadline::Never => Deadline::Never,
        lib::Deadline::At(ms) => Deadline::At(ms),
        lib::Deadline::AfterRead(ms) => Deadline::AfterRead(ms),
    }
}

/// The library's receipt in this implementation's shape: a receipt that delivers nothing is
/// the outcome this implementation names `Expired` / `InvalidContent` (both change state).
pub fn lib_outcome(r: Result<lib::Receipt, lib::Error>) -> Result<Received, lib::Error> {
    match r? {
        lib::Receipt::Message(received) => Ok(from_lib_received(&received)),
        lib::Receipt::Expired { .. } => Err(lib::Error::Expired),
        lib::Receipt::Unreadable(e) => Err(lib::Error::InvalidContent(e)),
    }
}

pub fn from_lib_received(r: &lib::Received) -> Received {
    Received {
        kind: from_lib_kind(r.kind),
        body: r.body.clone(),
        sent_at_ms: r.sent_at_ms,
        timer: from_lib_timer(&r.timer),
        deadline: from_lib_deadline(r.deadline),
        timer_changed: r.timer_changed,
    }
}

/// A result as a comparable string: `Ok(<normalised value>)` or the error's `Debug`.
pub fn res<T: core::fmt::Debug, E: core::fmt::Debug>(r: &Result<T, E>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("{e:?}"),
    }
}
