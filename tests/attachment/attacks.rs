//! Every size boundary round-trips, and every attack on a stream ends in its typed error:
//! truncation, reordering, duplication, removal, appended data, a wrong key or context, an
//! altered header, padding a sender filled — and a failed call changes nothing.

use std::convert::Infallible;

use rand_chacha::rand_core::{TryCryptoRng, TryRng};
use xchat_protocol::attachment::chunked::{
    CHUNK_LEN, ChunkedDecryptor, ChunkedEncryptor, HEADER_LEN, Layout, SEALED_CHUNK_LEN, StreamKey,
};
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentDescriptor, AttachmentEncryptor, AttachmentError,
    MAX_ATTACHMENT_LEN, padded_size,
};
use xchat_protocol::kdf::LABEL_ATTACHMENT;

use crate::support::{open_attachment, open_stream, pattern, rng, seal_attachment, seal_stream};

/// The sizes the format treats differently: empty, one byte, one short of a chunk, exactly one
/// chunk (then an empty final chunk), one past it, several chunks.
const SIZES: [usize; 7] = [
    0,
    1,
    CHUNK_LEN - 1,
    CHUNK_LEN,
    CHUNK_LEN + 1,
    3 * CHUNK_LEN,
    3 * CHUNK_LEN + 777,
];

#[test]
fn streams_of_every_boundary_size_round_trip_with_the_layout_they_announce() {
    let mut r = rng(1);
    let key = StreamKey::generate(&mut r);
    for len in SIZES {
        let plain = pattern(len);
        let stream = seal_stream(&mut r, &key, b"ctx", &plain);
        let layout = Layout::for_plaintext(len as u64).unwrap();
        assert_eq!(layout.encrypted_len(), stream.len() as u64, "{len}");
        assert_eq!(Layout::for_encrypted(stream.len() as u64).unwrap(), layout);
        assert_eq!(layout.chunk_count(), (len / CHUNK_LEN) as u64 + 1);
        let (opened, result) = open_stream(&key, b"ctx", &stream);
        result.unwrap();
        assert_eq!(opened, plain, "{len}");
    }
}

#[test]
fn attachments_of_every_boundary_size_round_trip_padded() {
    let mut r = rng(2);
    for len in SIZES {
        let file = pattern(len);
        let (stored, d) = seal_attachment(&mut r, &file);
        assert_eq!(d.size(), len as u64);
        assert_eq!(d.padded_size(), padded_size(len as u64));
        assert!(d.padded_size() >= 256 && d.padded_size() >= len as u64);
        assert_eq!(
            stored.len() as u64,
            Layout::for_plaintext(d.padded_size())
                .unwrap()
                .encrypted_len()
        );
        assert_eq!(open_attachment(&d, &stored).unwrap(), file, "{len}");
    }
}

/// A stream of four chunks (three full ones and a short one).
fn four_chunks() -> (StreamKey, Vec<u8>, Vec<u8>) {
    let mut r = rng(3);
    let key = StreamKey::generate(&mut r);
    let plain = pattern(3 * CHUNK_LEN + 100);
    let stream = seal_stream(&mut r, &key, b"ctx", &plain);
    (key, plain, stream)
}

fn chunk(stream: &[u8], i: usize) -> &[u8] {
    let start = HEADER_LEN + i * SEALED_CHUNK_LEN;
    &stream[start..stream.len().min(start + SEALED_CHUNK_LEN)]
}

fn rebuild(stream: &[u8], order: &[usize]) -> Vec<u8> {
    let mut out = stream[..HEADER_LEN].to_vec();
    for &i in order {
        out.extend_from_slice(chunk(stream, i));
    }
    out
}

#[test]
fn truncation_is_detected_at_every_chunk_boundary_and_inside_chunks() {
    let (key, plain, stream) = four_chunks();
    // Cut after k full chunks: every chunk opens, and `finish` reports the cut.
    for k in 0..=3 {
        let cut = &stream[..HEADER_LEN + k * SEALED_CHUNK_LEN];
        let (opened, result) = open_stream(&key, b"ctx", cut);
        assert_eq!(result, Err(AttachmentError::Truncated), "after {k} chunks");
        assert_eq!(opened, plain[..k * CHUNK_LEN]);
        assert_eq!(
            Layout::for_encrypted(cut.len() as u64),
            Err(AttachmentError::Truncated)
        );
    }
    // Cut inside a chunk or its tag: that chunk fails under its index, or is shorter than a tag.
    for cut in [
        HEADER_LEN + 1,
        HEADER_LEN + 15,
        HEADER_LEN + 100,
        stream.len() - 1,
    ] {
        let (_, result) = open_stream(&key, b"ctx", &stream[..cut]);
        assert!(
            matches!(
                result,
                Err(AttachmentError::Truncated | AttachmentError::ChunkAuthentication(_))
            ),
            "cut at {cut}: {result:?}"
        );
    }
    // Shorter than the header.
    for cut in [0, 1, HEADER_LEN - 1] {
        assert_eq!(
            open_stream(&key, b"ctx", &stream[..cut]).1,
            Err(AttachmentError::Truncated)
        );
    }
}

#[test]
fn reordered_duplicated_and_removed_chunks_fail_under_their_index() {
    let (key, plain, stream) = four_chunks();
    let cases: [(&[usize], u64); 5] = [
        (&[1, 0, 2, 3], 0),    // swapped
        (&[0, 0, 2, 3], 1),    // chunk 0 repeated in place of 1
        (&[0, 2, 3], 1),       // chunk 1 removed
        (&[0, 1, 1, 2, 3], 2), // chunk 1 repeated
        (&[0, 1, 3], 2),       // full chunk 2 removed before the final one
    ];
    for (order, failing) in cases {
        let (opened, result) = open_stream(&key, b"ctx", &rebuild(&stream, order));
        assert_eq!(
            result,
            Err(AttachmentError::ChunkAuthentication(failing)),
            "{order:?}"
        );
        assert_eq!(opened, plain[..failing as usize * CHUNK_LEN], "{order:?}");
    }
    // A chunk of another stream under the same key, at the same index.
    let mut r = rng(4);
    let other = seal_stream(&mut r, &key, b"ctx", &pattern(3 * CHUNK_LEN + 100));
    let mut mixed = stream.clone();
    let at = HEADER_LEN + SEALED_CHUNK_LEN;
    mixed[at..at + SEALED_CHUNK_LEN].copy_from_slice(chunk(&other, 1));
    assert_eq!(
        open_stream(&key, b"ctx", &mixed).1,
        Err(AttachmentError::ChunkAuthentication(1))
    );
}

#[test]
fn data_after_the_final_chunk_is_refused() {
    let (key, _, stream) = four_chunks();
    let mut dec = ChunkedDecryptor::new(&key, b"ctx", &stream[..HEADER_LEN]).unwrap();
    for i in 0..4 {
        let mut buf = chunk(&stream, i).to_vec();
        dec.open_next(&mut buf).unwrap();
    }
    assert!(dec.is_complete());
    dec.finish().unwrap();
    // Another chunk, a copy of the final one, or a single byte: all trailing data.
    for extra in [chunk(&stream, 0), chunk(&stream, 3), &[0u8][..]] {
        let mut buf = extra.to_vec();
        assert_eq!(dec.open_next(&mut buf), Err(AttachmentError::TrailingData));
        assert_eq!(buf, extra);
    }
    // Bytes appended to the final chunk make it fail.
    let mut longer = stream.clone();
    longer.extend_from_slice(&[0; 20]);
    assert_eq!(
        open_stream(&key, b"ctx", &longer).1,
        Err(AttachmentError::ChunkAuthentication(3))
    );
    // An attachment knows its length: a longer or shorter stored stream is refused up front.
    let mut r = rng(5);
    let (stored, d) = seal_attachment(&mut r, &pattern(50_000));
    let dec = AttachmentDecryptor::new(&d, &stored[..HEADER_LEN]).unwrap();
    let len = stored.len() as u64;
    assert_eq!(
        dec.check_stored_len(len + 1),
        Err(AttachmentError::TrailingData)
    );
    assert_eq!(
        dec.check_stored_len(len - 1),
        Err(AttachmentError::Truncated)
    );
    let mut dec = AttachmentDecryptor::new(&d, &stored[..HEADER_LEN]).unwrap();
    for i in 0..dec.chunk_count() {
        let r = dec.encrypted_range(i).unwrap();
        dec.open_next(&mut stored[r.start as usize..r.end as usize].to_vec())
            .unwrap();
    }
    assert_eq!(
        dec.open_next(&mut chunk(&stored, 0).to_vec()),
        Err(AttachmentError::TrailingData)
    );
}

#[test]
fn a_wrong_key_context_or_header_is_refused_before_any_chunk() {
    let (key, _, stream) = four_chunks();
    let mut r = rng(6);
    let other = StreamKey::generate(&mut r);
    let header = &stream[..HEADER_LEN];
    assert_eq!(
        ChunkedDecryptor::new(&other, b"ctx", header).unwrap_err(),
        AttachmentError::WrongKey
    );
    for context in [&b""[..], b"ctx\0", b"Ctx", b"ct"] {
        assert_eq!(
            ChunkedDecryptor::new(&key, context, header).unwrap_err(),
            AttachmentError::WrongKey
        );
    }
    for byte in [0, 23, 24, 55] {
        let mut bad = header.to_vec();
        bad[byte] ^= 0x01;
        assert_eq!(
            ChunkedDecryptor::new(&key, b"ctx", &bad).unwrap_err(),
            AttachmentError::WrongKey,
            "byte {byte}"
        );
    }
    assert_eq!(
        ChunkedDecryptor::new(&key, b"ctx", &stream[..HEADER_LEN + 1]).unwrap_err(),
        AttachmentError::TrailingData
    );
    // An attachment's stored header must be the descriptor's, and is required.
    let (stored, d) = seal_attachment(&mut r, b"a file");
    AttachmentDecryptor::new(&d, &stored[..HEADER_LEN]).unwrap();
    let mut bad = stored[..HEADER_LEN].to_vec();
    bad[30] ^= 4;
    assert_eq!(
        AttachmentDecryptor::new(&d, &bad).unwrap_err(),
        AttachmentError::WrongKey
    );
    let (other, _) = seal_attachment(&mut r, b"a file");
    assert_eq!(
        AttachmentDecryptor::new(&d, &other[..HEADER_LEN]).unwrap_err(),
        AttachmentError::WrongKey
    );
    assert_eq!(
        AttachmentDecryptor::new(&d, &stored[..HEADER_LEN - 1]).unwrap_err(),
        AttachmentError::Truncated
    );
    assert_eq!(
        AttachmentDecryptor::new(&d, &stored[..HEADER_LEN + 1]).unwrap_err(),
        AttachmentError::TrailingData
    );
    // A descriptor whose key is not the stream's.
    let mut bytes = d.to_bytes().unwrap().to_vec();
    bytes[1] ^= 1;
    let forged = AttachmentDescriptor::from_bytes(&bytes).unwrap();
    assert_eq!(
        AttachmentDecryptor::new(&forged, &stored[..HEADER_LEN]).unwrap_err(),
        AttachmentError::WrongKey
    );
}

/// Hands out scripted bytes: lets a test seal a second stream under an attachment's key and salt.
struct Script(Vec<u8>);

impl TryRng for Script {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        unreachable!()
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        unreachable!()
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}

impl TryCryptoRng for Script {}

#[test]
fn padding_a_sender_filled_is_refused_and_wiped() {
    let mut r = rng(7);
    let (stored, d) = seal_attachment(&mut r, &pattern(1000));
    // The same key and salt, sealing 1000 file bytes and then non-zero "padding".
    let mut script = Script(d.header()[..24].to_vec());
    let (mut enc, header) = ChunkedEncryptor::new(&mut script, d.key(), LABEL_ATTACHMENT);
    assert_eq!(&header[..], &stored[..HEADER_LEN]);
    let mut chunk = pattern(1000);
    chunk.resize(d.padded_size() as usize, 0);
    chunk[1000] = 1;
    enc.seal_chunk(&mut chunk).unwrap();
    let dec = AttachmentDecryptor::new(&d, &stored[..HEADER_LEN]).unwrap();
    let mut buf = chunk.clone();
    assert_eq!(
        dec.open_chunk(0, &mut buf),
        Err(AttachmentError::InvalidPadding(0))
    );
    assert!(buf.iter().all(|b| *b == 0), "the opened bytes are wiped");
}

#[test]
fn any_chunk_opens_alone_in_any_order_and_maps_to_its_file_bytes() {
    let mut r = rng(8);
    let file = pattern(5 * CHUNK_LEN + 3000);
    let (stored, d) = seal_attachment(&mut r, &file);
    let dec = AttachmentDecryptor::new(&d, &stored[..HEADER_LEN]).unwrap();
    let n = dec.chunk_count();
    for i in (0..n).rev() {
        let range = dec.encrypted_range(i).unwrap();
        let mut buf = stored[range.start as usize..range.end as usize].to_vec();
        dec.open_chunk(i, &mut buf).unwrap();
        let f = dec.file_range(i).unwrap();
        assert_eq!(buf, file[f.start as usize..f.end as usize], "chunk {i}");
    }
    assert!(
        !dec.is_complete(),
        "random access does not complete the stream"
    );
    for offset in [0, 1, CHUNK_LEN as u64, file.len() as u64 - 1] {
        let i = dec.chunk_of(offset).unwrap();
        assert!(dec.file_range(i).unwrap().contains(&offset));
    }
    assert_eq!(dec.chunk_of(file.len() as u64), None);
    assert_eq!(dec.encrypted_range(n), None);
    let mut buf = vec![0; SEALED_CHUNK_LEN];
    assert_eq!(
        dec.open_chunk(n, &mut buf),
        Err(AttachmentError::NoSuchChunk(n))
    );
    // A chunk given under another index, or with the wrong length.
    let r0 = dec.encrypted_range(0).unwrap();
    let mut buf = stored[r0.start as usize..r0.end as usize].to_vec();
    assert_eq!(
        dec.open_chunk(1, &mut buf),
        Err(AttachmentError::ChunkAuthentication(1))
    );
    buf.pop();
    assert_eq!(
        dec.open_chunk(0, &mut buf),
        Err(AttachmentError::InvalidChunkLength)
    );
}

#[test]
fn misuse_of_the_encryptor_is_a_typed_error_that_changes_nothing() {
    let mut r = rng(9);
    assert_eq!(
        AttachmentEncryptor::new(&mut r, MAX_ATTACHMENT_LEN + 1).unwrap_err(),
        AttachmentError::TooLarge
    );
    let mut enc = AttachmentEncryptor::new(&mut r, (CHUNK_LEN + 10) as u64).unwrap();
    assert_eq!(enc.next_input_len(), Some(CHUNK_LEN));
    let mut short = vec![1; 10];
    assert_eq!(
        enc.seal_next(&mut short),
        Err(AttachmentError::InvalidChunkLength)
    );
    assert_eq!(short, vec![1; 10]);
    let mut full = vec![1; CHUNK_LEN];
    enc.seal_next(&mut full).unwrap();
    assert_eq!(full.len(), SEALED_CHUNK_LEN);
    assert_eq!(enc.next_input_len(), Some(10));
    let info = xchat_protocol::attachment::AttachmentInfo::default();
    let mut last = vec![2; 10];
    enc.seal_next(&mut last).unwrap();
    assert_eq!(enc.next_input_len(), None);
    assert_eq!(
        enc.seal_next(&mut Vec::new()),
        Err(AttachmentError::Finished)
    );
    enc.finish(info.clone()).unwrap();
    let enc = AttachmentEncryptor::new(&mut r, 1).unwrap();
    assert_eq!(enc.finish(info).unwrap_err(), AttachmentError::NotFinished);
    // The stream encryptor: more than a chunk, and anything after the final one.
    let key = StreamKey::generate(&mut r);
    let (mut enc, _) = ChunkedEncryptor::new(&mut r, &key, b"");
    let mut big = vec![0; CHUNK_LEN + 1];
    assert_eq!(
        enc.seal_chunk(&mut big),
        Err(AttachmentError::InvalidChunkLength)
    );
    assert_eq!(big.len(), CHUNK_LEN + 1);
    enc.seal_chunk(&mut Vec::new()).unwrap();
    assert!(enc.is_finished());
    assert_eq!(
        enc.seal_chunk(&mut Vec::new()),
        Err(AttachmentError::Finished)
    );
}

/// With a digest, no other holder of the key can replace the stored stream: a stream sealed
/// again under the descriptor's own key and salt, over another file, opens chunk by chunk (the
/// key is the same) but its final chunk is refused before it is decrypted, and the attachment is
/// never complete. Without a digest the same forgery opens (the documented limit of 1:1 use).
#[test]
fn a_digest_pins_the_stream_against_every_other_key_holder() {
    let mut r = rng(10);
    let file = pattern(50_000);
    let (stored, d) = crate::support::seal_attachment_with_digest(&mut r, &file);
    assert!(d.digest().is_some());
    assert_eq!(open_attachment(&d, &stored).unwrap(), file);
    // The forger holds the descriptor: it re-runs the encryptor with the same key and salt.
    let mut script = Script([d.key().as_bytes().as_slice(), &d.header()[..24]].concat());
    let forged_file: Vec<u8> = pattern(50_000).iter().map(|b| b ^ 0x55).collect();
    let mut enc = AttachmentEncryptor::new(&mut script, d.size()).unwrap();
    assert_eq!(enc.header(), d.header());
    let mut forged = enc.header().to_vec();
    let mut rest = &forged_file[..];
    while let Some(n) = enc.next_input_len() {
        let (piece, tail) = rest.split_at(n);
        let mut buf = piece.to_vec();
        enc.seal_next(&mut buf).unwrap();
        forged.extend_from_slice(&buf);
        rest = tail;
    }
    assert_eq!(forged.len(), stored.len());
    let mut dec = AttachmentDecryptor::new(&d, &forged[..HEADER_LEN]).unwrap();
    let last = dec.chunk_count() - 1;
    for i in 0..last {
        let range = dec.encrypted_range(i).unwrap();
        dec.open_next(&mut forged[range.start as usize..range.end as usize].to_vec())
            .unwrap();
    }
    let range = dec.encrypted_range(last).unwrap();
    let sealed = forged[range.start as usize..range.end as usize].to_vec();
    let mut buf = sealed.clone();
    assert_eq!(
        dec.open_next(&mut buf),
        Err(AttachmentError::DigestMismatch)
    );
    assert_eq!(
        buf, sealed,
        "the final chunk is refused before it is decrypted"
    );
    assert!(!dec.is_complete());
    // The authentic final chunk still completes it? No: the digest covers every chunk, and
    // the earlier ones were the forger's.
    let mut authentic = stored[range.start as usize..range.end as usize].to_vec();
    assert_eq!(
        dec.open_next(&mut authentic),
        Err(AttachmentError::DigestMismatch)
    );
    // The same forgery against a descriptor without a digest opens completely.
    let plain = AttachmentDescriptor::from_bytes(&{
        let mut b = d.to_bytes().unwrap().to_vec();
        b.drain(106..138);
        b[105] = 0;
        b
    })
    .unwrap();
    assert!(plain.digest().is_none());
    assert_eq!(open_attachment(&plain, &forged).unwrap(), forged_file);
}
