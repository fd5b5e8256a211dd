//! Problems this test found (fixed): each asserts what the bound requires.

use crate::support::{HUGE, frame_header, last_exact_padded_len, world};
use xchat_protocol::content::{Content, FRAME_HEADER_LEN, max_body_len, padded_len};
use xchat_protocol::sealed_sender::{MAX_ADDRESS_LEN, MAX_SEALED_MESSAGE_LEN, seal_to};
use xchat_protocol::{DecodeError, SealedSenderError};

#[test]
fn padded_len_is_never_shorter_than_its_input_even_near_usize_max() {
    for len in [last_exact_padded_len() + 1, usize::MAX - 1, usize::MAX] {
        assert!(
            padded_len(len) >= len,
            "padded_len({len}) = {}",
            padded_len(len)
        );
    }
}

#[test]
fn from_padded_bytes_refuses_frames_larger_than_a_message() {
    for body_len in [max_body_len() + 1, HUGE - 1024] {
        let mut frame = frame_header(u32::try_from(body_len).unwrap());
        frame.resize(padded_len(FRAME_HEADER_LEN + body_len), 0);
        assert_eq!(
            Content::from_padded_bytes(&frame).map(|c| c.body.len()),
            Err(DecodeError::TooLarge),
            "{body_len}-byte body"
        );
    }
}

#[test]
fn seal_refuses_a_certificate_no_decoder_accepts() {
    let mut w = world(17);
    for (len, want) in [
        (0, DecodeError::NonCanonical),
        (MAX_ADDRESS_LEN + 1, DecodeError::TooLarge),
        (1000, DecodeError::TooLarge),
    ] {
        let mut cert = w.certify(b"alice", u64::MAX);
        cert.address = vec![b'a'; len];
        assert_eq!(
            seal_to(&mut w.rng, &w.alice, &cert, w.bob.public(), b"m").unwrap_err(),
            SealedSenderError::Decode(want),
            "address of {len} bytes"
        );
    }
}

#[test]
fn seal_reports_an_oversized_message_as_such() {
    let mut w = world(18);
    let cert = w.certify(b"alice", u64::MAX);
    let e = seal_to(
        &mut w.rng,
        &w.alice,
        &cert,
        w.bob.public(),
        &vec![0; MAX_SEALED_MESSAGE_LEN + 1],
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(
        !text.contains("malformed") && !matches!(e, SealedSenderError::Decode(_)),
        "{e:?}: {text}"
    );
}
