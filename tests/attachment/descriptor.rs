//! The descriptor: its encoding round-trips and is strict, it travels as its own content kind
//! through a session and a group, and nothing prints its key.

use xchat_protocol::attachment::{
    AttachmentDescriptor, AttachmentError, AttachmentInfo, MAX_CONTENT_TYPE_LEN, MAX_FILE_NAME_LEN,
    MAX_LOCATION_LEN, MAX_THUMBNAIL_LEN,
};
use xchat_protocol::group::{GroupConfig, GroupId, GroupSession};
use xchat_protocol::{ContentKind, DecodeError, Receipt};

use crate::support::{open_attachment, pattern, rng, seal_attachment};

fn full_info() -> AttachmentInfo {
    AttachmentInfo {
        content_type: "video/mp4; codecs=\"avc1\"".into(),
        file_name: Some("holiday ☀.mp4".into()),
        thumbnail: Some(vec![0xFF, 0xD8, 0xFF, 0xE0]),
        location: b"\x00opaque id\xFF".to_vec(),
    }
}

fn descriptor(info: AttachmentInfo) -> AttachmentDescriptor {
    let mut r = rng(20);
    let (_, d) = seal_attachment(&mut r, &pattern(40_000));
    let bytes = d.to_bytes().unwrap();
    // Re-encode with `info` by hand: version ‖ key ‖ header ‖ sizes are the first 105 bytes,
    // then the digest's flag (none here).
    let mut out = bytes[..106].to_vec();
    assert_eq!(out[105], 0);
    out.push(info.content_type.len() as u8);
    out.extend_from_slice(info.content_type.as_bytes());
    match &info.file_name {
        Some(n) => {
            out.push(1);
            out.extend_from_slice(&(n.len() as u16).to_be_bytes());
            out.extend_from_slice(n.as_bytes());
        }
        None => out.push(0),
    }
    match &info.thumbnail {
        Some(t) => {
            out.push(1);
            out.extend_from_slice(&(t.len() as u32).to_be_bytes());
            out.extend_from_slice(t);
        }
        None => out.push(0),
    }
    out.push(info.location.len() as u8);
    out.extend_from_slice(&info.location);
    let d = AttachmentDescriptor::from_bytes(&out).unwrap();
    assert_eq!(d.info(), &info);
    assert_eq!(d.to_bytes().unwrap().as_slice(), out.as_slice());
    d
}

#[test]
fn the_encoding_round_trips_field_by_field() {
    let d = descriptor(full_info());
    let bytes = d.to_bytes().unwrap();
    assert_eq!(bytes[0], 0x01);
    assert_eq!(&bytes[1..33], d.key().as_bytes());
    assert_eq!(&bytes[33..89], d.header());
    assert_eq!(
        u64::from_be_bytes(bytes[89..97].try_into().unwrap()),
        40_000
    );
    assert_eq!(
        u64::from_be_bytes(bytes[97..105].try_into().unwrap()),
        d.padded_size()
    );
    assert_eq!(AttachmentDescriptor::from_bytes(&bytes).unwrap(), d);
    let bare = descriptor(AttachmentInfo::default());
    assert_eq!(bare.to_bytes().unwrap().len(), 105 + 5);
    // Some("") and None are different values with different encodings.
    let empty_name = descriptor(AttachmentInfo {
        file_name: Some(String::new()),
        ..AttachmentInfo::default()
    });
    assert_ne!(empty_name.info(), bare.info());
}

#[test]
fn decoding_is_strict() {
    let d = descriptor(full_info());
    let good = d.to_bytes().unwrap().to_vec();
    let at = |i: usize, v: u8| {
        let mut b = good.clone();
        b[i] = v;
        AttachmentDescriptor::from_bytes(&b).unwrap_err()
    };
    assert_eq!(at(0, 0x02), DecodeError::UnknownVersion(2));
    // The padded size must be the size's.
    assert_eq!(at(104, good[104] ^ 1), DecodeError::NonCanonical);
    // A size past the limit.
    let mut big = good.clone();
    big[89..97].copy_from_slice(&((1u64 << 46) + 1).to_be_bytes());
    assert_eq!(
        AttachmentDescriptor::from_bytes(&big).unwrap_err(),
        DecodeError::TooLarge
    );
    // A control character in the content type; a flag of 2; a file name that is not UTF-8.
    assert_eq!(at(105, 2), DecodeError::NonCanonical, "digest flag");
    assert_eq!(at(107, 0x0A), DecodeError::NonCanonical);
    let name_flag = 107 + good[106] as usize;
    assert_eq!(at(name_flag, 2), DecodeError::NonCanonical);
    assert_eq!(at(name_flag + 3, 0xC3), DecodeError::NonCanonical);
    // Every truncation, and a trailing byte.
    for cut in 0..good.len() {
        assert!(
            AttachmentDescriptor::from_bytes(&good[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(
        AttachmentDescriptor::from_bytes(&longer).unwrap_err(),
        DecodeError::TrailingBytes
    );
}

#[test]
fn info_over_its_limits_is_refused_by_finish() {
    let over = [
        AttachmentInfo {
            content_type: "a".repeat(MAX_CONTENT_TYPE_LEN + 1),
            ..AttachmentInfo::default()
        },
        AttachmentInfo {
            file_name: Some("n".repeat(MAX_FILE_NAME_LEN + 1)),
            ..AttachmentInfo::default()
        },
        AttachmentInfo {
            thumbnail: Some(vec![0; MAX_THUMBNAIL_LEN + 1]),
            ..AttachmentInfo::default()
        },
        AttachmentInfo {
            location: vec![0; MAX_LOCATION_LEN + 1],
            ..AttachmentInfo::default()
        },
    ];
    for info in over {
        assert_eq!(info.validate(), Err(AttachmentError::TooLarge));
    }
    let tab = AttachmentInfo {
        content_type: "text/plain;\tx".into(),
        ..AttachmentInfo::default()
    };
    assert_eq!(
        tab.validate(),
        Err(AttachmentError::Decode(DecodeError::NonCanonical))
    );
    let at_limit = AttachmentInfo {
        content_type: "a".repeat(MAX_CONTENT_TYPE_LEN),
        file_name: Some("n".repeat(MAX_FILE_NAME_LEN)),
        thumbnail: Some(vec![0; MAX_THUMBNAIL_LEN]),
        location: vec![0; MAX_LOCATION_LEN],
    };
    let d = descriptor(at_limit);
    let bytes = d.to_bytes().unwrap();
    assert_eq!(AttachmentDescriptor::from_bytes(&bytes).unwrap(), d);
}

#[test]
fn the_descriptor_travels_as_its_own_content_kind_over_a_session() {
    let mut p = crate::common::established(21, false);
    let file = pattern(70_000);
    let (stored, d) = seal_attachment(&mut p.rng, &file);
    let wire = d.send(&mut p.alice, &mut p.rng, 5).unwrap();
    let Receipt::Message(got) = p.bob.receive(&wire, 6).unwrap() else {
        panic!("not a message")
    };
    assert_eq!(got.kind, ContentKind::Attachment);
    let debug = format!("{got:?}");
    assert!(debug.contains("body: <secret: "), "{debug}");
    let received = AttachmentDescriptor::from_bytes(&got.body).unwrap();
    assert_eq!(received, d);
    assert_eq!(open_attachment(&received, &stored).unwrap(), file);
    let shown = format!("{received:?}");
    assert!(shown.contains("StreamKey(<secret>)"), "{shown}");
}

#[test]
fn the_descriptor_travels_to_a_whole_group_in_one_message() {
    let mut r = rng(22);
    let (alice, bob) = (
        xchat_protocol::IdentityKeyPair::generate(&mut r),
        xchat_protocol::IdentityKeyPair::generate(&mut r),
    );
    let id = GroupId([5; 32]);
    let cfg = GroupConfig::default();
    let mut ga = GroupSession::new(&mut r, alice.public(), id, &[*bob.public()], 0, cfg).unwrap();
    let mut gb = GroupSession::new(&mut r, bob.public(), id, &[*alice.public()], 0, cfg).unwrap();
    let pending = ga.distribution(&mut r, 0);
    gb.process_distribution(alice.public(), &pending.distribution)
        .unwrap();
    ga.mark_distributed(bob.public(), &pending.distribution)
        .unwrap();
    let (_, d) = seal_attachment(&mut r, b"group photo");
    assert_eq!(
        d.send_to_group(&mut ga, &mut r, 1).unwrap_err(),
        AttachmentError::DigestRequired,
        "a group attachment needs its digest"
    );
    let (stored, d) = crate::support::seal_attachment_with_digest(&mut r, b"group photo");
    let message = d.send_to_group(&mut ga, &mut r, 1).unwrap();
    let got = gb.receive(alice.public(), &message, 2).unwrap();
    let got = got.message().unwrap();
    assert_eq!(got.kind, ContentKind::Attachment);
    let received = AttachmentDescriptor::from_bytes(&got.body).unwrap();
    assert_eq!(open_attachment(&received, &stored).unwrap(), b"group photo");
}
