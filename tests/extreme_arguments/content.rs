//! Content frames: Padmé padding, frames at their bound, and deadlines and timer order at the
//! ends of time.

use crate::support::{HUGE, NOW_MS, frame_header, last_exact_padded_len};
use xchat_protocol::content::{
    CONTENT_VERSION, Content, FRAME_HEADER_LEN, MAX_CLOCK_SKEW_MS, MIN_PADDED_LEN, max_body_len,
    padded_len,
};
use xchat_protocol::wire::MAX_PLAINTEXT_LEN;
use xchat_protocol::{ContentKind, Deadline, DecodeError, Timer, TimerStart};

#[test]
fn padded_len_and_max_body_len() {
    // Evaluates at compile time without a panic, at the very top of the range, and agrees with
    // the run-time value.
    const AT_MAX: usize = padded_len(usize::MAX);
    assert_eq!(AT_MAX, padded_len(std::hint::black_box(usize::MAX)));

    assert_eq!(padded_len(0), MIN_PADDED_LEN);
    assert_eq!(padded_len(1), MIN_PADDED_LEN);
    assert_eq!(padded_len(MIN_PADDED_LEN), MIN_PADDED_LEN);
    assert_eq!(padded_len(MIN_PADDED_LEN + 1), 272);
    assert_eq!(padded_len(MAX_PLAINTEXT_LEN), MAX_PLAINTEXT_LEN);
    let last_exact = last_exact_padded_len();
    let mut previous = 0;
    for len in [
        2,
        3,
        255,
        256,
        257,
        1000,
        FRAME_HEADER_LEN + max_body_len(),
        MAX_PLAINTEXT_LEN,
        MAX_PLAINTEXT_LEN + 1,
        HUGE,
        u32::MAX as usize,
        u32::MAX as usize + 1,
        usize::MAX / 2,
        usize::MAX / 2 + 1,
        usize::MAX / 2 + 2,
        last_exact - 1,
        last_exact,
    ] {
        let padded = padded_len(len);
        assert!(padded >= len, "padded_len({len}) = {padded}");
        assert!(padded >= previous, "monotone at {len}");
        if len >= MIN_PADDED_LEN {
            assert!(padded - len <= len / 8, "overhead at {len}");
        }
        previous = padded;
    }
    // No panic up to usize::MAX (what it returns there is the subject of an ignored test).
    for len in [last_exact + 1, usize::MAX - 1, usize::MAX] {
        assert!(padded_len(len) >= MIN_PADDED_LEN);
    }

    let max = max_body_len();
    assert!(padded_len(FRAME_HEADER_LEN + max) <= MAX_PLAINTEXT_LEN);
    assert!(padded_len(FRAME_HEADER_LEN + max + 1) > MAX_PLAINTEXT_LEN);
}

#[test]
fn content_frames_at_their_bound() {
    let huge = vec![0x33; HUGE];
    let max = max_body_len();
    let extreme = Timer {
        duration_s: u32::MAX,
        start: TimerStart::OnRead,
        version: u32::MAX,
    };
    for (len, sent_at_ms, timer) in [
        (0, 0, Timer::OFF),
        (1, u64::MAX, extreme),
        (MIN_PADDED_LEN - FRAME_HEADER_LEN, 1, extreme),
        (max, u64::MAX, Timer::OFF),
    ] {
        let c = Content {
            kind: ContentKind::Message,
            sent_at_ms,
            timer,
            body: huge[..len].to_vec(),
        };
        let bytes = c.to_padded_bytes().unwrap();
        assert_eq!(bytes.len(), padded_len(FRAME_HEADER_LEN + len));
        assert!(bytes.len() <= MAX_PLAINTEXT_LEN);
        assert_eq!(Content::from_padded_bytes(&bytes), Ok(c));
    }
    for len in [max + 1, MAX_PLAINTEXT_LEN, HUGE] {
        let c = Content {
            kind: ContentKind::Message,
            sent_at_ms: 0,
            timer: Timer::OFF,
            body: huge[..len].to_vec(),
        };
        assert_eq!(
            c.to_padded_bytes(),
            Err(DecodeError::TooLarge),
            "body {len}"
        );
    }
    // A timer update carries no body, of any size; "off" is never on-read.
    for len in [1, HUGE] {
        let c = Content {
            kind: ContentKind::TimerUpdate,
            sent_at_ms: 0,
            timer: Timer::OFF,
            body: huge[..len].to_vec(),
        };
        assert_eq!(c.to_padded_bytes(), Err(DecodeError::NonCanonical));
    }
    let off_on_read = Content {
        kind: ContentKind::Message,
        sent_at_ms: 0,
        timer: Timer {
            start: TimerStart::OnRead,
            ..Timer::OFF
        },
        body: Vec::new(),
    };
    assert_eq!(
        off_on_read.to_padded_bytes(),
        Err(DecodeError::NonCanonical)
    );

    // Decoding: empty, one byte, lengths running past the end, huge inputs.
    let zeros = vec![0; HUGE];
    for (bytes, want) in [
        (&[][..], DecodeError::Truncated),
        (&[CONTENT_VERSION][..], DecodeError::Truncated),
        (&[0][..], DecodeError::UnknownVersion(0)),
        (&[0xFF][..], DecodeError::UnknownVersion(0xFF)),
        // Longer than any message plaintext: refused before it is read.
        (&zeros[..], DecodeError::TooLarge),
    ] {
        assert_eq!(
            Content::from_padded_bytes(bytes),
            Err(want),
            "{} bytes",
            bytes.len()
        );
    }
    for declared in [1, u32::MAX - 1, u32::MAX] {
        let mut frame = frame_header(declared);
        assert_eq!(
            Content::from_padded_bytes(&frame),
            Err(DecodeError::Truncated)
        );
        // A declared body running past the end of a frame of up to 2^20 bytes is truncated;
        // a longer frame is refused before it is read.
        let body = (MAX_PLAINTEXT_LEN - FRAME_HEADER_LEN).min(declared as usize - 1);
        frame.resize(frame.len() + body, 0);
        assert_eq!(
            Content::from_padded_bytes(&frame),
            Err(DecodeError::Truncated)
        );
        frame.resize(HUGE, 0);
        assert_eq!(
            Content::from_padded_bytes(&frame),
            Err(DecodeError::TooLarge)
        );
    }
    let mut empty_then_padded = frame_header(0);
    empty_then_padded.resize(MAX_PLAINTEXT_LEN, 0);
    assert_eq!(
        Content::from_padded_bytes(&empty_then_padded),
        Err(DecodeError::NonCanonical)
    );
}

#[test]
fn deadlines_and_timer_order_at_time_extremes() {
    let life = u64::from(u32::MAX) * 1000;
    let msg = |sent_at_ms, duration_s, start| Content {
        kind: ContentKind::Message,
        sent_at_ms,
        timer: Timer {
            duration_s,
            start,
            version: u32::MAX,
        },
        body: Vec::new(),
    };
    for now in [0, 1, NOW_MS, u64::MAX - 1, u64::MAX] {
        for sent in [0, u64::MAX] {
            assert_eq!(
                msg(sent, 0, TimerStart::OnSend).deadline(now),
                Some(Deadline::Never)
            );
            assert_eq!(
                msg(sent, u32::MAX, TimerStart::OnRead).deadline(now),
                Some(Deadline::AfterRead(life))
            );
        }
    }
    let longest = |sent| msg(sent, u32::MAX, TimerStart::OnSend);
    assert_eq!(
        longest(u64::MAX).deadline(0),
        Some(Deadline::At(MAX_CLOCK_SKEW_MS + life))
    );
    assert_eq!(
        longest(u64::MAX).deadline(u64::MAX),
        Some(Deadline::At(u64::MAX))
    );
    assert_eq!(longest(0).deadline(0), Some(Deadline::At(life)));
    assert_eq!(
        longest(0).deadline(life + MAX_CLOCK_SKEW_MS),
        Some(Deadline::At(life))
    );
    assert_eq!(longest(0).deadline(life + MAX_CLOCK_SKEW_MS + 1), None);
    assert_eq!(longest(0).deadline(u64::MAX), None);
    let second = msg(0, 1, TimerStart::OnSend);
    assert_eq!(
        second.deadline(1000 + MAX_CLOCK_SKEW_MS),
        Some(Deadline::At(1000))
    );
    assert_eq!(second.deadline(1001 + MAX_CLOCK_SKEW_MS), None);

    for read_at in [0, 1, u64::MAX] {
        assert_eq!(Deadline::Never.after_read(read_at), Deadline::Never);
        assert_eq!(Deadline::At(5).after_read(read_at), Deadline::At(5));
        assert_eq!(
            Deadline::At(u64::MAX).after_read(read_at),
            Deadline::At(u64::MAX)
        );
        assert_eq!(
            Deadline::AfterRead(0).after_read(read_at),
            Deadline::At(read_at)
        );
        assert_eq!(
            Deadline::AfterRead(u64::MAX).after_read(read_at),
            Deadline::At(u64::MAX)
        );
    }
    assert_eq!(
        Deadline::AfterRead(life).after_read(u64::MAX - life + 1),
        Deadline::At(u64::MAX)
    );

    // supersedes / more_private with every field at its extremes.
    let t = |duration_s, start, version| Timer {
        duration_s,
        start,
        version,
    };
    let top_off = t(0, TimerStart::OnSend, u32::MAX);
    let top_long = t(u32::MAX, TimerStart::OnRead, u32::MAX);
    let top_short = t(1, TimerStart::OnSend, u32::MAX);
    assert!(top_long.supersedes(&top_off) && !top_off.supersedes(&top_long));
    assert!(top_short.supersedes(&top_long) && !top_long.supersedes(&top_short));
    assert!(!top_short.supersedes(&top_short));
    assert!(top_off.supersedes(&t(1, TimerStart::OnSend, u32::MAX - 1)));
    assert!(!Timer::OFF.supersedes(&Timer::OFF));
    assert!(t(u32::MAX, TimerStart::OnRead, 0).supersedes(&Timer::OFF));
    assert_eq!(Timer::more_private(&top_off, &top_long), top_long);
    assert_eq!(Timer::more_private(&top_long, &top_short), top_short);
    assert_eq!(
        Timer::more_private(
            &t(5, TimerStart::OnRead, 0),
            &t(5, TimerStart::OnSend, u32::MAX)
        ),
        t(5, TimerStart::OnSend, u32::MAX)
    );
}
