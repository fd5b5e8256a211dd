//! Helpers shared by the files: the header, fixed times, the JSON of timers, deadlines and
//! receipts, the two parties, and the X3DH secret replayed from its draws.

use xchat_protocol::kdf;
use xchat_protocol::{
    ContentKind, Deadline, Error, IdentityKey, IdentityKeyPair, Receipt, Received, Timer,
    TimerStart,
};
use zeroize::Zeroizing;

use super::json::{Json, Obj, big, hex_list, hx};
use super::primitives::{dh, identity_x25519_secret};

/// A fixed creation time in seconds for signed prekeys (`* 1000` for milliseconds).
pub(super) const CREATED_AT: u64 = 1_700_000_000;
/// A fixed "now" in milliseconds for the content, sealed sender and timer vectors.
pub(super) const T0: u64 = 1_750_000_000_000;

/// The fields every file starts with.
pub(super) fn header(file: &str, title: &str, sections: &[&str]) -> Obj {
    Obj::new()
        .f("file", file)
        .f("format_version", 1u32)
        .f("title", title)
        .f(
            "spec_sections",
            Json::Array(sections.iter().map(|s| Json::from(*s)).collect()),
        )
        .f(
            "generator",
            "cargo run --example gen_vectors (tests/vectors/generator/)",
        )
}

pub(super) fn draws_json(draws: &[Vec<u8>]) -> Json {
    hex_list(draws)
}

pub(super) fn timer_json(t: &Timer) -> Json {
    Obj::new()
        .f("duration_s", t.duration_s)
        .f(
            "start",
            match t.start {
                TimerStart::OnSend => "on_send",
                TimerStart::OnRead => "on_read",
            },
        )
        .f("version", t.version)
        .into()
}

pub(super) fn deadline_json(d: Option<Deadline>) -> Json {
    match d {
        None => Obj::new().f("kind", "expired").into(),
        Some(Deadline::Never) => Obj::new().f("kind", "never").into(),
        Some(Deadline::At(ms)) => Obj::new().f("kind", "at").f("ms", big(ms)).into(),
        Some(Deadline::AfterRead(ms)) => Obj::new().f("kind", "after_read").f("ms", big(ms)).into(),
    }
}

pub(super) fn kind_name(kind: ContentKind) -> &'static str {
    match kind {
        ContentKind::Message => "message",
        ContentKind::TimerUpdate => "timer_update",
        ContentKind::SenderKeyDistribution => "sender_key_distribution",
        _ => "unknown",
    }
}

/// The outcome of `Session::receive` as the vectors name it (test-vectors/README.md): the
/// message, or the name of a receipt that delivers nothing, `Expired` or `InvalidContent(…)`
/// (the session changed either way; `state_after` shows how).
pub fn receipt_as_result(r: Result<Receipt, Error>) -> Result<Received, Error> {
    match r? {
        Receipt::Message(received) => Ok(received),
        Receipt::Expired { .. } => Err(Error::Expired),
        Receipt::Unreadable(e) => Err(Error::InvalidContent(e)),
    }
}

pub(super) fn received_json(r: &Received) -> Json {
    Obj::new()
        .f("kind", kind_name(r.kind))
        .f("body", hx(&r.body))
        .f("sent_at_ms", big(r.sent_at_ms))
        .f("timer", timer_json(&r.timer))
        .f("deadline", deadline_json(Some(r.deadline)))
        .f("timer_changed", r.timer_changed)
        .into()
}

/// A blob returned by `to_bytes`, as plain bytes.
pub(super) fn blob(b: Zeroizing<Vec<u8>>) -> Vec<u8> {
    b.to_vec()
}

/// Replays the generation of one X3DH run from its draws; returns SK.
pub(super) fn x3dh_secret(
    alice: &IdentityKeyPair,
    bob: &IdentityKey,
    spk: [u8; 32],
    opk: Option<[u8; 32]>,
    ek_secret: [u8; 32],
) -> [u8; 32] {
    let alice_x = identity_x25519_secret(&alice.seed());
    let dh1 = dh(alice_x, spk).expect("dh1");
    let dh2 = dh(ek_secret, bob.x25519().unwrap().to_bytes()).expect("dh2");
    let dh3 = dh(ek_secret, spk).expect("dh3");
    let dh4 = opk.map(|k| dh(ek_secret, k).expect("dh4"));
    *kdf::x3dh(&dh1, &dh2, &dh3, dh4.as_ref()).as_bytes()
}

/// The two parties of a scripted conversation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Who {
    Alice,
    Bob,
}

impl Who {
    pub fn name(self) -> &'static str {
        match self {
            Who::Alice => "alice",
            Who::Bob => "bob",
        }
    }
    pub fn other(self) -> Who {
        match self {
            Who::Alice => Who::Bob,
            Who::Bob => Who::Alice,
        }
    }
}
