//! §8.2 the content frame and §8.1 padding: vectors, damaged frames and encoding errors, both
//! implementations.

use super::support::{lib_content, lib_decode};
use crate::bridge::*;
use crate::frame::{self, Frame, Kind, Start, Timer};
use crate::util::{hb, hx, load, n, s, u64d};
use xchat_protocol::content as libc;

#[test]
fn constants_match_vectors_and_library() {
    let v = load("content.json");
    let c = &v["constants"];
    assert_eq!(n(c, "frame_header_len") as usize, frame::HEADER_LEN);
    assert_eq!(n(c, "min_padded_len") as usize, frame::MIN_PADDED_LEN);
    assert_eq!(u64d(c, "max_clock_skew_ms"), frame::MAX_CLOCK_SKEW_MS);
    // "largest body whose padded frame fits in 2^20 bytes", searched from the definition.
    let max_body = (0..=frame::MAX_FRAME_LEN)
        .rev()
        .find(|b| frame::pad(frame::HEADER_LEN + b) <= frame::MAX_FRAME_LEN)
        .expect("some body fits");
    assert_eq!(n(c, "max_body_len") as usize, max_body);
    assert_eq!(libc::max_body_len(), max_body);
    assert_eq!(libc::FRAME_HEADER_LEN, frame::HEADER_LEN);
    assert_eq!(libc::MIN_PADDED_LEN, frame::MIN_PADDED_LEN);
    assert_eq!(libc::MAX_CLOCK_SKEW_MS, frame::MAX_CLOCK_SKEW_MS);
    assert_eq!(libc::CONTENT_VERSION, frame::CONTENT_VERSION);
}

#[test]
fn frame_vectors_encode_and_decode() {
    let v = load("content.json");
    let frames = v["frames"].as_array().expect("frames");
    assert_eq!(frames.len(), 11);
    for f in frames {
        let name = s(f, "name");
        let ours = Frame {
            kind: kind_from_json(s(f, "kind")),
            sent_at_ms: u64d(f, "sent_at_ms"),
            timer: timer_from_json(&f["timer"]),
            body: hb(f, "body"),
        };
        assert_eq!(
            n(f, "unpadded_len") as usize,
            frame::HEADER_LEN + ours.body.len()
        );
        assert_eq!(
            n(f, "padded_len") as usize,
            frame::pad(frame::HEADER_LEN + ours.body.len())
        );
        let bytes = frame::encode(&ours).expect("encodes");
        assert_eq!(hx(&bytes), s(f, "bytes"), "{name}: encoding");
        assert_eq!(
            frame::decode(&bytes).as_ref(),
            Ok(&ours),
            "{name}: decoding"
        );
        // The library decodes our bytes to the same fields, and encodes the same bytes.
        assert_eq!(
            lib_decode(&bytes).as_ref(),
            Ok(&ours),
            "{name}: library decode"
        );
        let theirs = lib_content(&ours)
            .to_padded_bytes()
            .expect("library encodes");
        assert_eq!(frame::decode(&theirs).as_ref(), Ok(&ours), "{name}");
        assert_eq!(theirs, bytes, "{name}: library encoding");
    }
}

#[test]
fn padding_vectors_and_buckets_match_library() {
    let v = load("content.json");
    let cases = v["padding"].as_array().expect("padding");
    assert!(cases.len() >= 30);
    for c in cases {
        let len = n(c, "len") as usize;
        assert_eq!(frame::pad(len), n(c, "padded_len") as usize, "pad({len})");
    }
    // Padmé properties and the library's buckets, over every length to 70 000 and around
    // every power of two up to 2^40.
    let mut lens: Vec<usize> = (0..70_000).collect();
    for e in 16..40 {
        for d in [-2i64, -1, 0, 1, 2, 1000] {
            lens.push(((1i64 << e) + d) as usize);
        }
    }
    for len in lens {
        let p = frame::pad(len);
        assert!(p >= len && p >= 256);
        if len > 256 {
            assert!((p - len) * 100 <= len * 12, "overhead of {len} -> {p}");
        }
        assert_eq!(frame::pad(p), p, "a bucket is its own bucket");
        assert_eq!(libc::padded_len(len), p, "library pad({len})");
    }
    assert_eq!(frame::padme(0), 0);
    assert_eq!(frame::padme(1), 1);
}

#[test]
fn negative_frame_vectors() {
    let v = load("negative.json");
    let mut count = 0;
    for e in v["entries"].as_array().expect("entries") {
        if s(e, "operation") != "Content::from_padded_bytes" {
            continue;
        }
        count += 1;
        let bytes = hb(&e["input"], "bytes");
        let want = s(e, "expected_error");
        assert_eq!(
            format!("{:?}", frame::decode(&bytes).expect_err(want)),
            want,
            "{}",
            s(e, "name")
        );
        assert_eq!(format!("{:?}", lib_decode(&bytes).expect_err(want)), want);
    }
    assert_eq!(count, 10);
}

/// Decodes many damaged frames with both implementations; the first failing check (and so
/// every error-precedence guess) must agree.
#[test]
fn frame_decoding_differential() {
    let mut bases: Vec<Vec<u8>> = Vec::new();
    let v = load("content.json");
    for f in v["frames"].as_array().expect("frames") {
        bases.push(hb(f, "bytes"));
    }
    // Hand-made frames with two faults each (precedence probes).
    let mk = |kind: u8, d: u32, start: u8, body_len: u32, body: &[u8], total: usize| {
        let mut b = vec![0x01, kind];
        b.extend_from_slice(&1_750_000_000_000u64.to_be_bytes());
        b.extend_from_slice(&d.to_be_bytes());
        b.push(start);
        b.extend_from_slice(&7u32.to_be_bytes());
        b.extend_from_slice(&body_len.to_be_bytes());
        b.extend_from_slice(body);
        b.resize(total, 0);
        b
    };
    bases.push(mk(0x02, 0, 0x01, 0, b"", 256)); // off + on-read in a timer update
    bases.push(mk(0x02, 5, 0x00, 3, b"abc", 255)); // update with body + short padding
    bases.push(mk(0x02, 5, 0x00, 300, b"abc", 256)); // update with body + body past end
    bases.push(mk(0x01, 0, 0x01, 300, b"abc", 256)); // off+on-read + body past end
    bases.push(mk(0x01, 0, 0x02, 0, b"", 200)); // bad start + short padding
    bases.push(mk(0x09, 0, 0x02, 0, b"", 256)); // bad kind + bad start
    bases.push(mk(0x01, 0, 0x00, u32::MAX, b"", 256)); // body length u32::MAX
    bases.push(mk(0x01, 0, 0x00, 0, b"", 256 + 16)); // a larger bucket than needed
    let mut padded_nonzero = mk(0x02, 0, 0x00, 2, b"xy", 256);
    padded_nonzero[255] = 1; // update with body + non-zero padding
    bases.push(padded_nonzero);

    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for base in &bases {
        inputs.push(base.clone());
        for cut in 0..base.len().min(64) {
            inputs.push(base[..cut].to_vec());
        }
        for extra in [1, 15, 16, 256] {
            let mut b = base.clone();
            b.resize(base.len() + extra, 0);
            inputs.push(b);
        }
        for pos in 0..base.len().min(40) {
            for val in [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff] {
                let mut b = base.clone();
                b[pos] = val;
                for cut in [15, 19, 23, 24, b.len() - 1, b.len()] {
                    inputs.push(b[..cut.min(b.len())].to_vec());
                }
            }
        }
    }
    let mut disagreements = Vec::new();
    for input in &inputs {
        let ours = res(&frame::decode(input));
        let theirs = res(&lib_decode(input));
        if ours != theirs {
            disagreements.push(format!(
                "{} (len {}): ours {ours}, library {theirs}",
                hx(&input[..input.len().min(27)]),
                input.len()
            ));
        }
    }
    assert!(inputs.len() > 10_000);
    assert!(
        disagreements.is_empty(),
        "{} disagreements, e.g.\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(10)].join("\n")
    );
}

/// A canonically padded frame longer than 2^20 bytes is `TooLarge` before anything else
/// (§8.2), as is any input over 2^20 bytes, even one whose first byte is wrong.
#[test]
fn oversized_frame_decoding_matches_library() {
    let body_len = libc::max_body_len() + 1;
    let total = frame::pad(frame::HEADER_LEN + body_len);
    assert!(total > frame::MAX_FRAME_LEN);
    let mut b = vec![0x01, 0x01];
    b.extend_from_slice(&0u64.to_be_bytes());
    Timer::OFF.encode(&mut b);
    b.extend_from_slice(&(body_len as u32).to_be_bytes());
    b.resize(frame::HEADER_LEN + body_len, 0x61);
    b.resize(total, 0);
    assert_eq!(res(&frame::decode(&b)), "TooLarge");
    assert_eq!(res(&frame::decode(&b)), res(&lib_decode(&b)));
    for len in [frame::MAX_FRAME_LEN, frame::MAX_FRAME_LEN + 1] {
        let junk = vec![0xffu8; len];
        let want = if len > frame::MAX_FRAME_LEN {
            "TooLarge"
        } else {
            "UnknownVersion(255)"
        };
        assert_eq!(res(&frame::decode(&junk)), want);
        assert_eq!(res(&lib_decode(&junk)), want);
    }
}

#[test]
fn frame_encoding_errors_match_library() {
    let body_max = libc::max_body_len();
    let timers = [
        Timer::OFF,
        Timer {
            duration_s: 0,
            start: Start::OnRead,
            version: 3,
        },
        Timer {
            duration_s: 9,
            start: Start::OnRead,
            version: 3,
        },
    ];
    for kind in [Kind::Message, Kind::TimerUpdate] {
        for timer in timers {
            for len in [0, 1, body_max, body_max + 1] {
                let f = Frame {
                    kind,
                    sent_at_ms: 5,
                    timer,
                    body: vec![0x61; len],
                };
                let ours = frame::encode(&f);
                let theirs = lib_content(&f).to_padded_bytes();
                assert_eq!(
                    res(&ours.as_ref().map(|b| hx(&b[..32]))),
                    res(&theirs.as_ref().map(|b| hx(&b[..32]))),
                    "{kind:?} {timer:?} body {len}"
                );
                if let (Ok(a), Ok(b)) = (&ours, &theirs) {
                    assert_eq!(a, b);
                }
            }
        }
    }
}
