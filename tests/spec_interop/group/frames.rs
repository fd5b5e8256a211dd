//! The content frame a group message and a distribution travel in (§8.2, kinds 0x01–0x04):
//! the reference's encoder and decoder against the crate's `Content`, byte for byte, and a
//! table of malformed frames with what §8.2 says.

use super::{dec, text, timer_of};
use crate::reference::group::{Dec, Frame, Timer, decode_frame, encode_frame, pad};
use xchat_protocol::content::{Content, ContentKind};
use xchat_protocol::{Timer as CTimer, TimerStart};

fn theirs(f: &Frame) -> Content {
    Content {
        kind: match f.kind {
            1 => ContentKind::Message,
            2 => ContentKind::TimerUpdate,
            3 => ContentKind::SenderKeyDistribution,
            _ => ContentKind::Attachment,
        },
        sent_at_ms: f.sent_at,
        timer: CTimer {
            duration_s: f.timer.duration_s,
            start: if f.timer.start == 1 {
                TimerStart::OnRead
            } else {
                TimerStart::OnSend
            },
            version: f.timer.version,
        },
        body: f.body.clone(),
    }
}

fn decode_theirs(b: &[u8]) -> Result<Frame, Dec> {
    let c = Content::from_padded_bytes(b).map_err(dec)?;
    Ok(Frame {
        kind: match c.kind {
            ContentKind::Message => 1,
            ContentKind::TimerUpdate => 2,
            ContentKind::SenderKeyDistribution => 3,
            ContentKind::Attachment => 4,
            other => panic!("{other:?}"),
        },
        sent_at: c.sent_at_ms,
        timer: timer_of(c.timer),
        body: c.body,
    })
}

/// The frames on which the crate and SPEC.md used to disagree (the old §8.2 read "the whole
/// 9-byte timer, after which a start byte other than `0x00`/`0x01` … is `NonCanonical`"; the
/// crate checks it as soon as it is read, which §8.2 now says). None disagrees any more.
const FORMERLY_KNOWN: &[&str] = &["start byte 2, cut after it"];

fn table() -> Vec<(&'static str, Vec<u8>, Result<(), Dec>)> {
    let t = Timer {
        duration_s: 60,
        start: 1,
        version: 4,
    };
    let f = |kind, body: &[u8]| {
        encode_frame(&Frame {
            kind,
            sent_at: 1_700_000_000_000,
            timer: t,
            body: body.to_vec(),
        })
        .unwrap()
    };
    let ok = f(1, b"hello");
    let with = |at: usize, v: u8| {
        let mut b = ok.clone();
        b[at] = v;
        b
    };
    let mut off_on_read = ok.clone();
    off_on_read[10..15].copy_from_slice(&[0, 0, 0, 0, 1]);
    let mut body_past = ok.clone();
    body_past[19..23].copy_from_slice(&300u32.to_be_bytes());
    let mut timer_body = f(2, b"");
    timer_body[22] = 1;
    let mut too_long = ok.clone();
    too_long.resize((1 << 20) + 1, 0);
    use Dec::*;
    vec![
        ("message", ok.clone(), Ok(())),
        ("timer update", f(2, b""), Ok(())),
        ("sender key", f(3, &[7; 105]), Ok(())),
        ("empty", vec![], Err(Truncated)),
        ("version 2", vec![2], Err(UnknownVersion(2))),
        ("no kind", vec![1], Err(Truncated)),
        ("kind 0", with(1, 0), Err(UnknownType(0))),
        ("kind 5", with(1, 5), Err(UnknownType(5))),
        ("cut in sent_at", ok[..9].to_vec(), Err(Truncated)),
        ("start byte 2", with(14, 2), Err(NonCanonical)),
        (
            "start byte 2, cut after it",
            with(14, 2)[..15].to_vec(),
            Err(NonCanonical),
        ),
        ("off on-read", off_on_read.clone(), Err(NonCanonical)),
        (
            "off on-read, cut after start",
            off_on_read[..15].to_vec(),
            Err(Truncated),
        ),
        ("cut in body length", ok[..21].to_vec(), Err(Truncated)),
        ("body past the end", body_past, Err(Truncated)),
        ("timer update with a body", timer_body, Err(NonCanonical)),
        ("unpadded", ok[..28].to_vec(), Err(NonCanonical)),
        (
            "a padding byte more",
            [&ok[..], &[0]].concat(),
            Err(NonCanonical),
        ),
        ("non-zero padding", with(255, 1), Err(NonCanonical)),
        ("longer than 2^20", too_long, Err(TooLarge)),
    ]
}

/// Test F1: both encoders give the same padded bytes (`pad` = max(256, Padmé)) for every kind
/// and a range of body lengths, and both decoders read them back.
#[test]
fn frames_encode_identically() {
    for kind in 1..=4u8 {
        for len in [0usize, 1, 105, 233, 234, 1000, 5000, 70_000, (1 << 20) - 23] {
            if kind == 2 && len > 0 {
                continue;
            }
            let f = Frame {
                kind,
                sent_at: u64::from(kind) << 40,
                timer: Timer {
                    duration_s: 9,
                    start: 0,
                    version: 1,
                },
                body: vec![kind; len],
            };
            let mine = encode_frame(&f).unwrap();
            assert_eq!(
                mine,
                theirs(&f).to_padded_bytes().unwrap(),
                "kind {kind}, {len}"
            );
            assert_eq!(mine.len(), pad(23 + len));
            assert_eq!(decode_theirs(&mine), Ok(f.clone()));
            assert_eq!(decode_frame(&mine), Ok(f));
        }
    }
    let f = Frame {
        kind: 1,
        sent_at: 0,
        timer: Timer::default(),
        body: vec![0; (1 << 20) - 22],
    };
    assert_eq!(encode_frame(&f), Err(Dec::TooLarge));
    assert_eq!(text(theirs(&f).to_padded_bytes().unwrap_err()), "TooLarge");
}

/// Test F2: malformed frames: both decoders agree, and agree with §8.2's order.
#[test]
fn frame_decode_errors() {
    let mut failures = vec![];
    for (name, bytes, want) in table() {
        let mine = decode_frame(&bytes).map(|_| ());
        let crate_side = decode_theirs(&bytes).map(|_| ());
        assert_eq!(mine, want, "{name}: the reference against SPEC.md");
        if crate_side != want {
            failures.push(format!("{name}: crate {crate_side:?}, SPEC.md {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Test F3 (formerly ignored as a known disagreement): §8.2 now checks the timer's start byte
/// "as soon as it is read", so a frame that ends right after a bad start byte is `NonCanonical`
/// in both implementations, as the crate always said (and §10.3 row 9 says for session state).
#[test]
fn formerly_known_frame_disagreements_now_agree() {
    let table = table();
    for name in FORMERLY_KNOWN {
        let (_, bytes, want) = table.iter().find(|x| x.0 == *name).unwrap();
        assert_eq!(decode_theirs(bytes).map(|_| ()), *want, "{name}: the crate");
        assert_eq!(
            decode_frame(bytes).map(|_| ()),
            *want,
            "{name}: the reference"
        );
    }
}
