//! The descriptor's encoding under attack: one encoding per value under thousands of mutations,
//! every limit on the decoding side, edge bytes in each field, sizes at their edges, and a
//! descriptor whose header is not its stream's.

use rand_chacha::rand_core::Rng;
use xchat_protocol::DecodeError;
use xchat_protocol::attachment::chunked::HEADER_LEN;
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentDescriptor, AttachmentError, AttachmentInfo, MAX_ATTACHMENT_LEN,
    MAX_CONTENT_TYPE_LEN, MAX_FILE_NAME_LEN, MAX_LOCATION_LEN, MAX_THUMBNAIL_LEN, padded_size,
};

use crate::support::{
    ATTACHMENT_CONTEXT, c2sp_derive, chunk_of, descriptor_bytes, header_of, pattern, rng, seal_with,
};

const KEY: [u8; 32] = [0x11; 32];
const HEADER: [u8; HEADER_LEN] = [0x22; HEADER_LEN];

fn info(ct: &str, name: Option<&str>, thumb: Option<Vec<u8>>, loc: &[u8]) -> AttachmentInfo {
    AttachmentInfo {
        content_type: ct.into(),
        file_name: name.map(Into::into),
        thumbnail: thumb,
        location: loc.to_vec(),
    }
}

/// The offset of the file-name flag in an encoding with content type length `ct`.
fn name_flag_at(ct: usize) -> usize {
    // version, key, header, sizes, the digest's flag (none), the content type's length.
    1 + 32 + HEADER_LEN + 16 + 1 + 1 + ct
}

/// Whatever decodes re-encodes to exactly the same bytes: 40 000 random mutations (bit flips,
/// length fields set to edge values, bytes inserted, removed, cut or appended) of five valid
/// encodings, none panicking.
#[test]
fn held_decoding_is_canonical_under_mutation() {
    let seeds = [
        descriptor_bytes(&KEY, &HEADER, 0, &AttachmentInfo::default()),
        descriptor_bytes(
            &KEY,
            &HEADER,
            40_000,
            &info("image/png", Some("a ☀.png"), Some(vec![1, 2]), b"id"),
        ),
        descriptor_bytes(&KEY, &HEADER, 1, &info("", Some(""), Some(vec![]), b"")),
        descriptor_bytes(
            &KEY,
            &HEADER,
            MAX_ATTACHMENT_LEN,
            &info(&"t".repeat(255), None, None, &[0xFF; 255]),
        ),
        descriptor_bytes(
            &KEY,
            &HEADER,
            12_345,
            &info("x/y", None, Some(vec![9; 300]), b"z"),
        ),
    ];
    for s in &seeds {
        let d = AttachmentDescriptor::from_bytes(s).unwrap();
        assert_eq!(d.to_bytes().unwrap().as_slice(), s.as_slice());
    }
    let mut r = rng(70);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..40_000 {
        let mut b = seeds[(r.next_u32() % 5) as usize].clone();
        for _ in 0..=(r.next_u32() % 3) {
            let at = (r.next_u32() as usize) % b.len().max(1);
            match r.next_u32() % 7 {
                0 => b[at] ^= 1 << (r.next_u32() % 8),
                1 => b[at] = [0, 1, 2, 0x7F, 0x80, 0xFF][(r.next_u32() % 6) as usize],
                2 => b.insert(at, r.next_u32() as u8),
                3 => {
                    b.remove(at);
                }
                4 => b.truncate(at),
                5 => b.push(r.next_u32() as u8),
                _ => {
                    // A size field set to a neighbouring size (same or next padding bucket).
                    if b.len() >= 105 {
                        let size = u64::from_be_bytes(b[89..97].try_into().unwrap());
                        let delta = u64::from(r.next_u32() % 3);
                        let s = size.wrapping_add(delta).wrapping_sub(1);
                        b[89..97].copy_from_slice(&s.to_be_bytes());
                        if r.next_u32().is_multiple_of(2) {
                            b[97..105].copy_from_slice(&padded_size(s).to_be_bytes());
                        }
                    }
                }
            }
            if b.is_empty() {
                break;
            }
        }
        match AttachmentDescriptor::from_bytes(&b) {
            Ok(d) => {
                accepted += 1;
                assert_eq!(d.to_bytes().unwrap().as_slice(), b.as_slice());
                assert!(d.info().validate().is_ok());
                assert_eq!(d.padded_size(), padded_size(d.size()));
            }
            Err(_) => refused += 1,
        }
    }
    assert!(
        accepted > 1_000 && refused > 1_000,
        "{accepted} / {refused}"
    );
}

/// Lengths over their limits are refused while decoding (not only by `validate`), before the
/// bytes are read: a file name of 1 025 bytes, a thumbnail of 65 537 or u32::MAX bytes (no
/// allocation attempted: the input is 110 bytes). At the limits, with multi-byte UTF-8 filling
/// the name exactly, they decode; a name cut inside a character is `NonCanonical`.
#[test]
fn held_decoding_enforces_every_limit_at_and_past_it() {
    let at_limit = info(
        &"a".repeat(MAX_CONTENT_TYPE_LEN),
        Some(&"é".repeat(MAX_FILE_NAME_LEN / 2)),
        Some(vec![0xEE; MAX_THUMBNAIL_LEN]),
        &[0; MAX_LOCATION_LEN],
    );
    at_limit.validate().unwrap();
    let bytes = descriptor_bytes(&KEY, &HEADER, 5, &at_limit);
    assert_eq!(
        AttachmentDescriptor::from_bytes(&bytes).unwrap().info(),
        &at_limit
    );
    let base = descriptor_bytes(&KEY, &HEADER, 5, &AttachmentInfo::default());
    let flag = name_flag_at(0);
    // A file name announced at 1 025 bytes (present or not).
    for tail in [&[][..], &[b'n'; 1025][..]] {
        let mut b = base[..flag].to_vec();
        b.push(1);
        b.extend_from_slice(&1025u16.to_be_bytes());
        b.extend_from_slice(tail);
        assert_eq!(
            AttachmentDescriptor::from_bytes(&b).unwrap_err(),
            DecodeError::TooLarge
        );
    }
    // A thumbnail announced at 65 537 and at u32::MAX bytes.
    for n in [MAX_THUMBNAIL_LEN as u32 + 1, u32::MAX] {
        let mut b = base[..flag + 1].to_vec(); // no file name
        b.push(1);
        b.extend_from_slice(&n.to_be_bytes());
        b.push(0);
        assert_eq!(
            AttachmentDescriptor::from_bytes(&b).unwrap_err(),
            DecodeError::TooLarge
        );
    }
    // A 1 024-byte name whose last character is cut: not UTF-8.
    let mut name = "é".repeat(511).into_bytes();
    name.extend_from_slice(&[b'x', 0xC3]);
    let mut b = base[..flag].to_vec();
    b.push(1);
    b.extend_from_slice(&1024u16.to_be_bytes());
    b.extend_from_slice(&name);
    b.extend_from_slice(&[0, 0]);
    assert_eq!(
        AttachmentDescriptor::from_bytes(&b).unwrap_err(),
        DecodeError::NonCanonical
    );
}

/// Every byte value as a one-byte content type: accepted by the decoder and by `validate`
/// exactly for 0x20..=0x7E. File names keep NUL, '/', "..", bidi overrides and U+FFFF byte for
/// byte (the application must treat them as untrusted), and refuse overlong forms and
/// surrogates.
#[test]
fn held_edge_bytes_in_content_type_and_file_name() {
    for byte in 0u8..=255 {
        let mut b = descriptor_bytes(&KEY, &HEADER, 9, &info("x", None, None, b""));
        b[name_flag_at(0)] = byte; // the content type's one byte
        let printable = (0x20..=0x7E).contains(&byte);
        assert_eq!(
            AttachmentDescriptor::from_bytes(&b).is_ok(),
            printable,
            "{byte:#x}"
        );
        if let Ok(s) = String::from_utf8(vec![byte]) {
            assert_eq!(info(&s, None, None, b"").validate().is_ok(), printable);
        }
    }
    for name in [
        "a\0b",
        "../../etc/passwd",
        "x\u{202E}gpj.exe",
        "\u{FEFF}\u{FFFF}",
        "/",
    ] {
        let i = info("t", Some(name), None, b"");
        let b = descriptor_bytes(&KEY, &HEADER, 9, &i);
        assert_eq!(AttachmentDescriptor::from_bytes(&b).unwrap().info(), &i);
    }
    for raw in [
        &[0xC0, 0xAF][..],
        &[0xED, 0xA0, 0x80],
        &[0xF4, 0x90, 0x80, 0x80],
        &[0xFF],
    ] {
        let mut b = descriptor_bytes(&KEY, &HEADER, 9, &AttachmentInfo::default());
        let flag = name_flag_at(0);
        b.truncate(flag);
        b.push(1);
        b.extend_from_slice(&(raw.len() as u16).to_be_bytes());
        b.extend_from_slice(raw);
        b.extend_from_slice(&[0, 0]);
        assert_eq!(
            AttachmentDescriptor::from_bytes(&b).unwrap_err(),
            DecodeError::NonCanonical,
            "{raw:x?}"
        );
    }
}

/// Sizes at their edges: 0 (padded 256), every power of two ±1 up to 2^46, 2^46 itself; the
/// padded size off by one either way, zero or u64::MAX is `NonCanonical`; a size past 2^46 is
/// `TooLarge` whatever follows. A decoded descriptor with a random key and header is
/// `WrongKey` at `AttachmentDecryptor::new`, never a panic.
#[test]
fn held_size_and_padded_size_edges() {
    let mut sizes = vec![0u64, 1, 255, 256, 257, MAX_ATTACHMENT_LEN];
    for e in 1..=46 {
        sizes.extend([(1u64 << e) - 1, 1 << e, (1 << e) + 1]);
    }
    sizes.retain(|s| *s <= MAX_ATTACHMENT_LEN);
    for size in sizes {
        let b = descriptor_bytes(&KEY, &HEADER, size, &AttachmentInfo::default());
        let d = AttachmentDescriptor::from_bytes(&b).unwrap();
        assert_eq!(d.padded_size(), padded_size(size));
        assert_eq!(
            AttachmentDecryptor::new(&d, d.header()).unwrap_err(),
            AttachmentError::WrongKey
        );
        let p = padded_size(size);
        for wrong in [p.wrapping_sub(1), p + 1, 0, u64::MAX, size] {
            if wrong == p {
                continue;
            }
            let mut b = b.clone();
            b[97..105].copy_from_slice(&wrong.to_be_bytes());
            assert_eq!(
                AttachmentDescriptor::from_bytes(&b).unwrap_err(),
                DecodeError::NonCanonical,
                "size {size}, padded {wrong}"
            );
        }
    }
    for size in [MAX_ATTACHMENT_LEN + 1, 1 << 63, u64::MAX] {
        let mut b = descriptor_bytes(&KEY, &HEADER, 0, &AttachmentInfo::default());
        b[89..97].copy_from_slice(&size.to_be_bytes());
        b[97..105].copy_from_slice(&padded_size(size).to_be_bytes());
        assert_eq!(
            AttachmentDescriptor::from_bytes(&b).unwrap_err(),
            DecodeError::TooLarge
        );
        assert_eq!(
            AttachmentDescriptor::from_bytes(&b[..97]).unwrap_err(),
            DecodeError::TooLarge
        );
    }
}

/// A descriptor carrying another stream's header: under its own key (another salt, so a
/// self-consistent commitment) `new` refuses the stored header, and under its own header
/// every chunk fails under its index, buffers untouched; with a header made under another key
/// it is `WrongKey` at once.
#[test]
fn held_a_descriptor_with_another_streams_header_is_refused() {
    let file = pattern(3 * 16_384 + 100, 9);
    let (stored, d) = seal_with(&mut rng(71), &file);
    let key = *d.key().as_bytes();
    let other_salt = [0x5E; 24];
    let consistent = header_of(
        &other_salt,
        &c2sp_derive(&key, &other_salt, ATTACHMENT_CONTEXT),
    );
    let b = descriptor_bytes(&key, &consistent, d.size(), d.info());
    let moved = AttachmentDescriptor::from_bytes(&b).unwrap();
    assert_eq!(
        AttachmentDecryptor::new(&moved, &stored[..HEADER_LEN]).unwrap_err(),
        AttachmentError::WrongKey
    );
    let dec = AttachmentDecryptor::new(&moved, moved.header()).unwrap();
    for i in 0..dec.chunk_count() {
        let c = chunk_of(&stored, i as usize);
        let mut buf = c.to_vec();
        assert_eq!(
            dec.open_chunk(i, &mut buf),
            Err(AttachmentError::ChunkAuthentication(i))
        );
        assert_eq!(buf, c);
    }
    let (stored2, _) = seal_with(&mut rng(72), &file);
    let foreign: [u8; HEADER_LEN] = stored2[..HEADER_LEN].try_into().unwrap();
    let b = descriptor_bytes(&key, &foreign, d.size(), d.info());
    let crossed = AttachmentDescriptor::from_bytes(&b).unwrap();
    assert_eq!(
        AttachmentDecryptor::new(&crossed, crossed.header()).unwrap_err(),
        AttachmentError::WrongKey
    );
}
