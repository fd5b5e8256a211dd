//! The session flow of content.json: Alice and Bob exchange framed messages, change timers, skip
//! and purge keys (SPEC.md §8.3–§8.6).

use xchat_protocol::content;
use xchat_protocol::{Config, IdentityKeyPair, PreKeyStore, Session, TimerStart, Trust};

use super::json::{Json, Obj, big, hx};
use super::rng::Recorder;
use super::shared::{
    CREATED_AT, T0, Who, blob, draws_json, receipt_as_result, received_json, timer_json,
};

pub(super) fn party<'s>(
    who: Who,
    a: &'s mut Session,
    b: &'s mut Option<Session>,
) -> &'s mut Session {
    match who {
        Who::Alice => a,
        Who::Bob => b.as_mut().expect("bob has a session"),
    }
}

pub(super) fn start_name(start: TimerStart) -> &'static str {
    match start {
        TimerStart::OnSend => "on_send",
        TimerStart::OnRead => "on_read",
    }
}

pub(super) fn finish_send(
    o: Obj,
    before: &[u8],
    session: &Session,
    wire: &[u8],
    draws: &[Vec<u8>],
) -> Obj {
    o.f("rng_draws", draws_json(draws))
        .f("timer_after", timer_json(&session.timer()))
        .f("wire", hx(wire))
        .f("state_before", hx(before))
        .f("state_after", hx(blob(session.to_bytes().unwrap())))
}

/// Alice and Bob exchange framed messages, change timers, skip and purge keys (§8.3–§8.6).
pub(super) fn timer_flow() -> Json {
    let rng_seed = [0x44; 32];
    let mut rng = Recorder::new(rng_seed);
    let context = b"timers";
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, CREATED_AT * 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    rng.take();
    let store_initial = blob(store.to_bytes().unwrap());
    let bundle = store.bundle(&bob, Some(0)).expect("bundle");
    let mut a = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context).allow_classical(),
    )
    .expect("initiate");
    let init_draws = rng.take();
    let alice_initial = blob(a.to_bytes().unwrap());
    let mut b: Option<Session> = None;
    let mut events = Vec::new();
    let mut wires: Vec<(&&str, Vec<u8>)> = Vec::new();

    enum Ev {
        Send(Who, &'static str, u64, &'static str),
        SetTimer(Who, &'static str, u64, u32, TimerStart),
        Receive(Who, &'static str, u64),
        Purge(Who, u64),
    }
    let t = |ms: u64| T0 + ms;
    let skipped_deadline = t(9_000) + 60_000 + 2 * content::MAX_CLOCK_SKEW_MS;
    let script = [
        Ev::Send(Who::Alice, "hello", t(0), "hello"),
        Ev::Receive(Who::Bob, "hello", t(500)),
        Ev::Send(Who::Bob, "reply", t(1_000), "hi"),
        Ev::Receive(Who::Alice, "reply", t(1_500)),
        Ev::SetTimer(Who::Alice, "timer60", t(2_000), 60, TimerStart::OnSend),
        Ev::Send(Who::Alice, "one", t(3_000), "one"),
        Ev::Send(Who::Alice, "two", t(4_000), "two"),
        Ev::Send(Who::Alice, "three", t(5_000), "three"),
        Ev::Receive(Who::Bob, "timer60", t(6_000)),
        Ev::Receive(Who::Bob, "three", t(9_000)),
        Ev::Receive(Who::Bob, "one", t(10_000)),
        Ev::Purge(Who::Bob, skipped_deadline),
        Ev::Purge(Who::Bob, skipped_deadline + 1),
        Ev::Receive(Who::Bob, "two", skipped_deadline + 2),
        Ev::SetTimer(Who::Bob, "read1h", t(20_000), 3_600, TimerStart::OnRead),
        Ev::Receive(Who::Alice, "read1h", t(21_000)),
        Ev::Send(Who::Alice, "four", t(22_000), "four"),
        Ev::Receive(Who::Bob, "four", t(23_000)),
        Ev::Send(Who::Alice, "late", t(24_000), "late"),
        Ev::SetTimer(Who::Alice, "timer10", t(25_000), 10, TimerStart::OnSend),
        Ev::Receive(Who::Bob, "timer10", t(26_000)),
        Ev::Send(Who::Alice, "old", t(27_000), "sent under the 10 s timer"),
        Ev::Receive(
            Who::Bob,
            "old",
            t(27_000) + 10_000 + content::MAX_CLOCK_SKEW_MS + 1,
        ),
        Ev::Receive(Who::Bob, "late", t(28_000)),
    ];
    for (step, ev) in script.iter().enumerate() {
        let o = Obj::new().f("step", step);
        let o = match ev {
            Ev::Send(who, id, now, body) => {
                let session = party(*who, &mut a, &mut b);
                let before = blob(session.to_bytes().unwrap());
                let wire = session.send(&mut rng, *now, body.as_bytes()).expect("send");
                let o = o
                    .f("action", "send")
                    .f("actor", who.name())
                    .f("message", *id)
                    .f("operation", "Session::send")
                    .f("now_ms", big(*now))
                    .f("body", hx(body.as_bytes()));
                let o = finish_send(o, &before, session, &wire, &rng.take());
                wires.push((id, wire));
                o
            }
            Ev::SetTimer(who, id, now, duration, start) => {
                let session = party(*who, &mut a, &mut b);
                let before = blob(session.to_bytes().unwrap());
                let wire = session
                    .set_timer(&mut rng, *now, *duration, *start)
                    .expect("set_timer");
                let o = o
                    .f("action", "set_timer")
                    .f("actor", who.name())
                    .f("message", *id)
                    .f("operation", "Session::set_timer")
                    .f("now_ms", big(*now))
                    .f("duration_s", *duration)
                    .f("start", start_name(*start));
                let o = finish_send(o, &before, session, &wire, &rng.take());
                wires.push((id, wire));
                o
            }
            Ev::Receive(who, id, now) => {
                let wire = &wires.iter().find(|(w, _)| *w == id).expect("sent").1;
                let mut o = o
                    .f("action", "receive")
                    .f("actor", who.name())
                    .f("message", *id)
                    .f("now_ms", big(*now));
                let (before, result) = if *who == Who::Bob && b.is_none() {
                    let store_before = blob(store.to_bytes().unwrap());
                    let (session, received) = Session::accept(
                        &bob,
                        &mut store,
                        wire,
                        &Config::new(context).allow_classical(),
                        *now,
                    )
                    .expect("accept");
                    b = Some(session);
                    o = o
                        .f("operation", "Session::accept")
                        .f("prekey_store_before", hx(&store_before))
                        .f("prekey_store_after", hx(blob(store.to_bytes().unwrap())));
                    (None, Ok(received))
                } else {
                    let session = party(*who, &mut a, &mut b);
                    let before = blob(session.to_bytes().unwrap());
                    o = o.f("operation", "Session::receive");
                    (Some(before), receipt_as_result(session.receive(wire, *now)))
                };
                let session = party(*who, &mut a, &mut b);
                let o = match &result {
                    Ok(r) => o.f("result", received_json(r)).f("error", Json::Null),
                    Err(e) => o.f("result", Json::Null).f("error", format!("{e:?}")),
                };
                o.f("timer_after", timer_json(&session.timer()))
                    .f("state_before", before.map(hx))
                    .f("state_after", hx(blob(session.to_bytes().unwrap())))
            }
            Ev::Purge(who, now) => {
                let session = party(*who, &mut a, &mut b);
                let before = blob(session.to_bytes().unwrap());
                let purged = session.purge(*now);
                o.f("action", "purge")
                    .f("actor", who.name())
                    .f("operation", "Session::purge")
                    .f("now_ms", big(*now))
                    .f("purged", purged)
                    .f("state_before", hx(&before))
                    .f("state_after", hx(blob(session.to_bytes().unwrap())))
            }
        };
        events.push(Json::from(o));
    }
    // The script's intended outcomes, asserted so that a behaviour change is noticed here too.
    let outcome =
        |step: usize, key: &str| -> Json { events[step].get(key).cloned().expect("field") };
    assert_eq!(outcome(11, "purged"), Json::from(0));
    assert_eq!(outcome(12, "purged"), Json::from(1));
    assert_eq!(outcome(13, "error"), Json::from("DuplicateMessage"));
    assert_eq!(outcome(22, "error"), Json::from("Expired"));
    assert_eq!(outcome(23, "error"), Json::Null);

    Obj::new()
        .f("rng_seed", hx(rng_seed))
        .f("alice_identity_seed", hx(alice.seed().as_slice()))
        .f("bob_identity_seed", hx(bob.seed().as_slice()))
        .f("context", hx(context))
        .f("bob_prekey_store", hx(&store_initial))
        .f("one_time_prekey_id", 0u32)
        .f("bundle", hx(bundle.to_bytes()))
        .f("initiate_rng_draws", draws_json(&init_draws))
        .f("alice_state_initial", hx(&alice_initial))
        .f("events", Json::Array(events))
        .into()
}
