//! `content.json`: content frames and padding (§8.2), deadlines (§8.5), timer precedence (§8.4),
//! and the timer-carrying session flow replayed step by step.

use serde_json::Value;
use xchat_protocol::content::{self, Content};
use xchat_protocol::{Config, ContentKind, Deadline, Session, Timer, TimerStart, Trust};

use crate::generator;
use crate::support::{
    arr, big, check_received, deadline, draws, h, identity, kind, load, n32, nsize, scripted,
    session, st, start, store, timer,
};

/// Padmé with the 256-byte floor, written from §8.2.
fn pad(len: usize) -> usize {
    let padme = if len < 2 {
        len
    } else {
        let e = len.ilog2();
        let s = e.ilog2() + 1;
        let m = 1usize << (e - s);
        len.div_ceil(m) * m
    };
    padme.max(256)
}

fn rank(t: &Timer) -> (u64, u8) {
    // SPEC.md §8.4: "off" ranks as 2^32, after every duration.
    let d = if t.duration_s == 0 {
        1 << 32
    } else {
        u64::from(t.duration_s)
    };
    (d, u8::from(t.start == TimerStart::OnRead))
}

#[test]
fn content_vectors() {
    let file = load("content.json");
    let k = &file["constants"];
    assert_eq!(nsize(&k["frame_header_len"]), content::FRAME_HEADER_LEN);
    assert_eq!(nsize(&k["frame_header_len"]), 23);
    assert_eq!(
        nsize(&k["min_padded_len"]),
        xchat_protocol::padding::MIN_PADDED_LEN
    );
    assert_eq!(big(&k["max_clock_skew_ms"]), content::MAX_CLOCK_SKEW_MS);
    let max_body = nsize(&k["max_body_len"]);
    assert_eq!(max_body, content::max_body_len());
    assert!(pad(23 + max_body) <= 1 << 20 && pad(24 + max_body) > 1 << 20);

    let mut kinds = std::collections::BTreeSet::new();
    for f in arr(&file["frames"]) {
        let c = Content {
            kind: kind(&f["kind"]),
            sent_at_ms: big(&f["sent_at_ms"]),
            timer: timer(&f["timer"]),
            body: h(&f["body"]),
        };
        kinds.insert(st(&f["kind"]).to_owned());
        let bytes = h(&f["bytes"]);
        // §8.2 by hand.
        let mut expected = vec![
            0x01,
            match c.kind {
                ContentKind::Message => 1,
                _ => 2,
            },
        ];
        expected.extend_from_slice(&c.sent_at_ms.to_be_bytes());
        expected.extend_from_slice(&c.timer.duration_s.to_be_bytes());
        expected.push(u8::from(c.timer.start == TimerStart::OnRead));
        expected.extend_from_slice(&c.timer.version.to_be_bytes());
        expected.extend_from_slice(&(c.body.len() as u32).to_be_bytes());
        expected.extend_from_slice(&c.body);
        assert_eq!(expected.len(), nsize(&f["unpadded_len"]));
        expected.resize(pad(expected.len()), 0);
        assert_eq!(expected.len(), nsize(&f["padded_len"]));
        assert_eq!(bytes, expected, "{}", f["name"]);
        assert_eq!(c.to_padded_bytes().unwrap(), bytes);
        assert_eq!(Content::from_padded_bytes(&bytes).unwrap(), c);
    }
    assert_eq!(kinds.len(), 2);

    for p in arr(&file["padding"]) {
        let len = nsize(&p["len"]);
        assert_eq!(nsize(&p["padded_len"]), pad(len), "len {len}");
        assert_eq!(
            xchat_protocol::padding::padded_len(len),
            pad(len),
            "len {len}"
        );
    }

    let skew = content::MAX_CLOCK_SKEW_MS;
    for d in arr(&file["deadlines"]) {
        let c = Content {
            kind: ContentKind::Message,
            sent_at_ms: big(&d["sent_at_ms"]),
            timer: timer(&d["timer"]),
            body: Vec::new(),
        };
        let now = big(&d["now_ms"]);
        let expected = deadline(&d["deadline"]);
        assert_eq!(c.deadline(now), expected, "{}", d["name"]);
        // §8.5 by hand.
        let t = c.timer;
        let by_hand = match (t.duration_s, t.start) {
            (0, _) => Some(Deadline::Never),
            (n, TimerStart::OnRead) => Some(Deadline::AfterRead(u64::from(n) * 1000)),
            (n, TimerStart::OnSend) => {
                let sent = c.sent_at_ms.min(now.saturating_add(skew));
                let at = sent.saturating_add(u64::from(n) * 1000);
                (now <= at.saturating_add(skew)).then_some(Deadline::At(at))
            }
        };
        assert_eq!(by_hand, expected, "{}", d["name"]);
    }
    for a in arr(&file["after_read"]) {
        let d = deadline(&a["deadline"]).unwrap();
        assert_eq!(
            Some(d.after_read(big(&a["read_at_ms"]))),
            deadline(&a["result"])
        );
    }
    for s in arr(&file["supersedes"]) {
        let cand = timer(&s["candidate"]);
        let cur = timer(&s["current"]);
        let expected = s["supersedes"].as_bool().unwrap();
        assert_eq!(cand.supersedes(&cur), expected, "{}", s["name"]);
        // §8.4 by hand.
        let by_hand =
            cand.version > cur.version || (cand.version == cur.version && rank(&cand) < rank(&cur));
        assert_eq!(by_hand, expected, "{}", s["name"]);
    }

    // The session flow: every step replayed from the published state.
    let flow = &file["session_flow"];
    let alice = identity(&flow["alice_identity_seed"]);
    let bob = identity(&flow["bob_identity_seed"]);
    let context = h(&flow["context"]);
    let bundle = store(&flow["bob_prekey_store"])
        .bundle(&bob, Some(n32(&flow["one_time_prekey_id"])))
        .unwrap();
    assert_eq!(bundle.to_bytes(), h(&flow["bundle"]));
    let a0 = scripted(draws(&flow["initiate_rng_draws"]), |r| {
        Session::initiate(
            r,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(&context).allow_classical(),
        )
        .unwrap()
    });
    assert_eq!(
        a0.to_bytes().unwrap().as_slice(),
        h(&flow["alice_state_initial"]).as_slice()
    );
    let mut last: [Value; 2] = [flow["alice_state_initial"].clone(), Value::Null];
    let mut wires = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    for (i, e) in arr(&flow["events"]).iter().enumerate() {
        assert_eq!(nsize(&e["step"]), i);
        let who = usize::from(e["actor"] == "bob");
        assert_eq!(e["state_before"], last[who], "step {i}");
        let now = big(&e["now_ms"]);
        let after = match st(&e["action"]) {
            "send" | "set_timer" => {
                let mut s = session(&e["state_before"]);
                let wire = scripted(draws(&e["rng_draws"]), |r| {
                    if e["action"] == "send" {
                        s.send(r, now, &h(&e["body"])).unwrap()
                    } else {
                        s.set_timer(r, now, n32(&e["duration_s"]), start(&e["start"]))
                            .unwrap()
                    }
                });
                assert_eq!(wire, h(&e["wire"]));
                assert_eq!(s.timer(), timer(&e["timer_after"]));
                wires.insert(st(&e["message"]).to_owned(), wire);
                s.to_bytes().unwrap().to_vec()
            }
            "receive" => {
                let wire = &wires[st(&e["message"])];
                let (s, result) = if e["operation"] == "Session::accept" {
                    let mut pre = store(&e["prekey_store_before"]);
                    let (s, r) = Session::accept(
                        &bob,
                        &mut pre,
                        wire,
                        &Config::new(&context).allow_classical(),
                        now,
                    )
                    .unwrap();
                    assert_eq!(
                        pre.to_bytes().unwrap().as_slice(),
                        h(&e["prekey_store_after"]).as_slice()
                    );
                    (s, Ok(r))
                } else {
                    let mut s = session(&e["state_before"]);
                    let r = generator::receipt_as_result(s.receive(wire, now));
                    (s, r)
                };
                match result {
                    Ok(r) => {
                        assert!(e["error"].is_null());
                        check_received(&r, &e["result"]);
                    }
                    Err(err) => {
                        assert_eq!(format!("{err:?}"), st(&e["error"]), "step {i}");
                        errors.push(st(&e["error"]).to_owned());
                    }
                }
                assert_eq!(s.timer(), timer(&e["timer_after"]));
                s.to_bytes().unwrap().to_vec()
            }
            "purge" => {
                let mut s = session(&e["state_before"]);
                assert_eq!(s.purge(now), nsize(&e["purged"]));
                s.to_bytes().unwrap().to_vec()
            }
            other => panic!("action {other}"),
        };
        assert_eq!(after, h(&e["state_after"]), "step {i}");
        last[who] = e["state_after"].clone();
    }
    assert!(errors.contains(&"Expired".to_owned()));
    assert!(errors.contains(&"DuplicateMessage".to_owned()));
}
