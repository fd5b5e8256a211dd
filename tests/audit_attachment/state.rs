//! The encryptor and the decryptors after misuse and errors: wrong spans for the in-place
//! calls, garbage where the padding goes, padding-only chunks a sender filled, reuse after every
//! error, what the RNG gives, and what a failed `finish` costs.

use xchat_protocol::attachment::chunked::{
    CHUNK_LEN, ChunkedDecryptor, ChunkedEncryptor, HEADER_LEN, Layout, SEALED_CHUNK_LEN, StreamKey,
};
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentDescriptor, AttachmentEncryptor, AttachmentError,
    AttachmentInfo, MAX_ATTACHMENT_LEN, MAX_THUMBNAIL_LEN, padded_size,
};
use xchat_protocol::kdf::LABEL_ATTACHMENT;

use crate::support::{Counting, Script, chunk_of, pattern, rng, seal_with};

/// 2^20 + 1 bytes: padded to 2^20 + 2^15, so chunk 64 holds one file byte, chunk 65 is all
/// padding and chunk 66 is the empty final one.
const WITH_PADDING_CHUNKS: usize = (1 << 20) + 1;

/// Seals `file` with `seal_next_in_place` inside one buffer of the stream's length that starts
/// full of `garbage`, the file's bytes copied to the start of each chunk's span.
fn seal_in_place(seed: u8, file: &[u8], garbage: u8) -> Vec<u8> {
    let mut r = rng(seed);
    let mut enc = AttachmentEncryptor::new(&mut r, file.len() as u64).unwrap();
    let layout = Layout::for_plaintext(padded_size(file.len() as u64)).unwrap();
    let mut stored = vec![garbage; enc.encrypted_len() as usize];
    stored[..HEADER_LEN].copy_from_slice(enc.header());
    let mut at = 0;
    let mut i = 0;
    while let Some(n) = enc.next_input_len() {
        let span = layout.encrypted_range(i).unwrap();
        let span = &mut stored[span.start as usize..span.end as usize];
        span[..n].copy_from_slice(&file[at..at + n]);
        enc.seal_next_in_place(span).unwrap();
        at += n;
        i += 1;
    }
    stored
}

/// Spans of every wrong length — empty, shorter than a tag, one short, one long, two chunks —
/// are `InvalidChunkLength` and change neither the span nor the encryptor; the stream sealed
/// after them is byte-identical to one sealed without them, by the `Vec` path.
#[test]
fn held_seal_next_in_place_refuses_wrong_spans_and_changes_nothing() {
    for size in [1000usize, 20_000] {
        let file = pattern(size, 3);
        let (reference, _) = seal_with(&mut rng(60), &file);
        let mut r = rng(60);
        let mut enc = AttachmentEncryptor::new(&mut r, size as u64).unwrap();
        let mut stored = enc.header().to_vec();
        let mut at = 0;
        let mut i = 0;
        while let Some(n) = enc.next_input_len() {
            let want = chunk_of(&reference, i).len();
            for wrong in [0, 15, 16, want - 1, want + 1, 2 * SEALED_CHUNK_LEN] {
                if wrong == want {
                    continue;
                }
                let mut span = vec![0xAB; wrong];
                span[..n.min(wrong)].copy_from_slice(&file[at..at + n.min(wrong)]);
                let before = span.clone();
                assert_eq!(
                    enc.seal_next_in_place(&mut span),
                    Err(AttachmentError::InvalidChunkLength),
                    "size {size} chunk {i} span {wrong}"
                );
                assert_eq!(span, before);
                assert_eq!(enc.next_input_len(), Some(n));
                // The Vec path with a wrong count of file bytes, too.
                let mut v = vec![1u8; n + 1];
                assert_eq!(
                    enc.seal_next(&mut v),
                    Err(AttachmentError::InvalidChunkLength)
                );
                assert_eq!(v, vec![1u8; n + 1]);
            }
            let mut span = vec![0xCD; want];
            span[..n].copy_from_slice(&file[at..at + n]);
            enc.seal_next_in_place(&mut span).unwrap();
            stored.extend_from_slice(&span);
            at += n;
            i += 1;
        }
        assert_eq!(stored, reference, "size {size}");
        let mut tail = vec![0; 16];
        assert_eq!(
            enc.seal_next_in_place(&mut tail),
            Err(AttachmentError::Finished)
        );
        assert_eq!(tail, vec![0; 16]);
    }
}

/// A span of the right length whose padding area (and tag area) holds garbage — also in a chunk
/// that is all padding — is sealed as if it held zeros: the stream is byte-identical to the
/// `Vec` path's and opens, padding check included.
#[test]
fn held_seal_next_in_place_zeroes_garbage_in_the_padding() {
    let file = pattern(WITH_PADDING_CHUNKS, 5);
    let (reference, d) = seal_with(&mut rng(61), &file);
    for garbage in [0xFF, 0x01] {
        assert_eq!(seal_in_place(61, &file, garbage), reference);
    }
    let dec = AttachmentDecryptor::new(&d, d.header()).unwrap();
    assert_eq!(dec.chunk_count(), 67);
    assert_eq!(
        dec.file_range(64).unwrap().end - dec.file_range(64).unwrap().start,
        1
    );
    assert!(dec.file_range(65).unwrap().is_empty());
    for i in [64, 65, 66] {
        let r = dec.encrypted_range(i).unwrap();
        let mut buf = reference[r.start as usize..r.end as usize].to_vec();
        dec.open_chunk(i, &mut buf).unwrap();
        let f = dec.file_range(i).unwrap();
        assert_eq!(buf, file[f.start as usize..f.end as usize]);
    }
}

/// The sender (who holds the key and salt) re-seals the stream with a non-zero byte in the
/// chunk that is all padding (65), or in the last padding byte of the chunk that holds the
/// file's last byte (64): `InvalidPadding(i)`, nothing of the chunk released (the whole span is
/// wiped, tag included), the decryptor not advanced — and the honest chunk then opens.
#[test]
fn held_padding_chunks_a_sender_filled_are_refused_and_wiped() {
    let file = pattern(WITH_PADDING_CHUNKS, 6);
    let (honest, d) = seal_with(&mut rng(62), &file);
    let padded = padded_size(file.len() as u64) as usize;
    for (bad_chunk, bad_at) in [(65usize, 65 * CHUNK_LEN + 7), (64, 65 * CHUNK_LEN - 1)] {
        let mut plain = file.clone();
        plain.resize(padded, 0);
        plain[bad_at] = 0x80;
        let mut script = Script(d.header()[..24].to_vec());
        let (mut enc, header) = ChunkedEncryptor::new(&mut script, d.key(), LABEL_ATTACHMENT);
        assert_eq!(&header, d.header());
        let mut forged = header.to_vec();
        for piece in plain.chunks(CHUNK_LEN).chain([&[][..]]) {
            let mut buf = piece.to_vec();
            enc.seal_chunk(&mut buf).unwrap();
            forged.extend_from_slice(&buf);
        }
        assert!(enc.is_finished());
        assert_eq!(forged.len(), honest.len());
        let mut dec = AttachmentDecryptor::new(&d, d.header()).unwrap();
        for i in 0..bad_chunk {
            let mut buf = chunk_of(&forged, i).to_vec();
            dec.open_next(&mut buf).unwrap();
        }
        let mut buf = chunk_of(&forged, bad_chunk).to_vec();
        assert_eq!(
            dec.open_next_in_place(&mut buf),
            Err(AttachmentError::InvalidPadding(bad_chunk as u64))
        );
        assert!(buf.iter().all(|b| *b == 0), "the whole span is wiped");
        assert!(!dec.is_complete());
        for i in bad_chunk..67 {
            let mut buf = chunk_of(&honest, i).to_vec();
            dec.open_next(&mut buf).unwrap();
        }
        assert!(dec.is_complete());
    }
}

/// `AttachmentDecryptor` and `ChunkedDecryptor` after every error they can give — wrong
/// lengths, a chunk from another index, an index past the end, a piece shorter than a tag,
/// trailing data — are unchanged (position, completeness), the buffer too, and the next right
/// chunk opens; `open_chunk` between `open_next` calls does not move the position.
#[test]
fn held_decryptors_recover_after_every_error() {
    let file = pattern(2 * CHUNK_LEN + 10_000, 7);
    let (stored, d) = seal_with(&mut rng(63), &file);
    let mut dec = AttachmentDecryptor::new(&d, d.header()).unwrap();
    let n = dec.chunk_count() as usize;
    for i in 0..n {
        let right = chunk_of(&stored, i);
        let other = chunk_of(&stored, (i + 1) % n);
        let mut attempts: Vec<Vec<u8>> = vec![
            Vec::new(),
            right[..right.len() - 1].to_vec(),
            [right, &[0]].concat(),
            vec![0; 3],
        ];
        if other.len() == right.len() {
            attempts.push(other.to_vec());
        }
        for attempt in attempts {
            let mut buf = attempt.clone();
            let e = dec.open_next(&mut buf).unwrap_err();
            assert!(
                matches!(
                    e,
                    AttachmentError::InvalidChunkLength | AttachmentError::ChunkAuthentication(_)
                ),
                "{e:?}"
            );
            assert_eq!(buf, attempt);
        }
        let mut far = right.to_vec();
        assert_eq!(
            dec.open_chunk(n as u64 + 5, &mut far),
            Err(AttachmentError::NoSuchChunk(n as u64 + 5))
        );
        let mut seek = chunk_of(&stored, 0).to_vec();
        dec.open_chunk(0, &mut seek).unwrap();
        assert!(!dec.is_complete());
        let mut buf = right.to_vec();
        dec.open_next(&mut buf).unwrap();
    }
    assert!(dec.is_complete());
    let mut again = chunk_of(&stored, n - 1).to_vec();
    assert_eq!(
        dec.open_next_in_place(&mut again),
        Err(AttachmentError::TrailingData)
    );
    assert_eq!(again, chunk_of(&stored, n - 1));

    // The stream decryptor, on the same stored bytes.
    let mut cd = ChunkedDecryptor::new(d.key(), LABEL_ATTACHMENT, d.header()).unwrap();
    for i in 0..n {
        for bad in [
            vec![0u8; 0],
            vec![1; 15],
            vec![2; SEALED_CHUNK_LEN + 1],
            chunk_of(&stored, (i + 1) % n).to_vec(),
        ] {
            let mut buf = bad.clone();
            assert!(cd.open_next_in_place(&mut buf).is_err());
            assert_eq!(buf, bad);
            assert_eq!(cd.chunks_opened(), i as u64);
            assert!(!cd.is_complete());
        }
        cd.open_next(&mut chunk_of(&stored, i).to_vec()).unwrap();
    }
    cd.finish().unwrap();
}

/// `ChunkedEncryptor::seal_chunk_in_place` outside 16..=16 400 bytes: refused, nothing changed,
/// not finished, and the next right call seals chunk 0 (the same bytes as a fresh encryptor).
#[test]
fn held_chunked_seal_in_place_refuses_wrong_spans() {
    let key = StreamKey::from_bytes([9; 32]);
    let (mut enc, _) = ChunkedEncryptor::new(&mut rng(64), &key, b"c");
    let (mut fresh, _) = ChunkedEncryptor::new(&mut rng(64), &key, b"c");
    for len in [0, 1, 15, SEALED_CHUNK_LEN + 1, 3 * SEALED_CHUNK_LEN] {
        let mut span = vec![0x77; len];
        assert_eq!(
            enc.seal_chunk_in_place(&mut span),
            Err(AttachmentError::InvalidChunkLength)
        );
        assert_eq!(span, vec![0x77; len]);
        assert_eq!(enc.chunks_sealed(), 0);
        assert!(!enc.is_finished());
    }
    let mut a = vec![0x11; SEALED_CHUNK_LEN];
    let mut b = a.clone();
    enc.seal_chunk_in_place(&mut a).unwrap();
    fresh.seal_chunk_in_place(&mut b).unwrap();
    assert_eq!(a, b);
}

/// The attachment encryptor draws exactly the key (32 bytes) then the salt (24 bytes), and
/// nothing when the size is refused — at 2^46 + 1 and at u64::MAX.
#[test]
fn held_the_encryptor_draws_key_then_salt_and_nothing_when_refused() {
    for size in [MAX_ATTACHMENT_LEN + 1, u64::MAX] {
        let mut c = Counting::new(65);
        assert_eq!(
            AttachmentEncryptor::new(&mut c, size).unwrap_err(),
            AttachmentError::TooLarge
        );
        assert!(c.draws.is_empty());
    }
    let mut c = Counting::new(66);
    let enc = AttachmentEncryptor::new(&mut c, MAX_ATTACHMENT_LEN).unwrap();
    assert_eq!(enc.next_input_len(), Some(CHUNK_LEN));
    assert_eq!(c.draws.len(), 2);
    assert_eq!((c.draws[0].len(), c.draws[1].len()), (32, 24));
    assert_eq!(&enc.header()[..24], &c.draws[1][..]);
    let mut c = Counting::new(67);
    let (_, d) = seal_with(&mut c, b"x");
    assert_eq!(d.key().as_bytes(), &c.draws[0][..]);
}

/// FIXED (was low; `finish` now borrows): `AttachmentEncryptor::finish` took the encryptor by value, so when it failed —
/// `NotFinished`, or an `AttachmentInfo` out of its limits (a content type with one non-ASCII
/// byte, a file name over 1 024 bytes) — the encryptor and with it the only copy of the
/// attachment's key are dropped. Every chunk already sealed and uploaded can then never be
/// described or opened: the upload must start over with a new key. This contradicts the
/// `AttachmentError` contract ("every failed call leaves the encryptor or decryptor as it was").
/// (The C ABI's `xc_attachment_encryptor_finish` already makes every check on a borrow first,
/// so C callers keep the encryptor; Rust callers do not.)
/// Fix: validate `info` (and finished-ness) without consuming — `finish(&mut self, …)`, or return
/// the encryptor in the error (`Err((self, e))`) — or at least document "call
/// `AttachmentInfo::validate` before sealing".
#[test]
fn fixed_a_failed_finish_keeps_the_key_of_a_sealed_upload() {
    let file = pattern(40_000, 8);
    let mut r = rng(68);
    let mut enc = AttachmentEncryptor::new(&mut r, file.len() as u64).unwrap();
    let header = *enc.header();
    let mut uploaded = header.to_vec();
    let mut rest = &file[..];
    while let Some(n) = enc.next_input_len() {
        let (p, t) = rest.split_at(n);
        let mut buf = p.to_vec();
        enc.seal_next(&mut buf).unwrap();
        uploaded.extend_from_slice(&buf);
        rest = t;
    }
    let info = AttachmentInfo {
        content_type: "image/jpég".into(), // one byte outside printable ASCII
        ..AttachmentInfo::default()
    };
    assert_eq!(
        enc.finish(info),
        Err(AttachmentError::Decode(
            xchat_protocol::DecodeError::NonCanonical
        ))
    );
    // Fixed: `finish` borrows the encryptor, so the corrected info describes the same upload.
    let fixed = AttachmentInfo {
        content_type: "image/jpeg".into(),
        ..AttachmentInfo::default()
    };
    let d = enc.finish(fixed).unwrap();
    assert_eq!(d.header(), &header);
    let mut dec = AttachmentDecryptor::new(&d, &uploaded[..HEADER_LEN]).unwrap();
    let mut out = Vec::new();
    for i in 0..dec.chunk_count() {
        let r = dec.encrypted_range(i).unwrap();
        let mut buf = uploaded[r.start as usize..r.end as usize].to_vec();
        dec.open_next(&mut buf).unwrap();
        out.extend_from_slice(&buf);
    }
    assert_eq!(out, file);
    // `NotFinished` leaves a half-sealed encryptor able to continue.
    let mut half = AttachmentEncryptor::new(&mut r, file.len() as u64).unwrap();
    let mut first = file[..CHUNK_LEN].to_vec();
    half.seal_next(&mut first).unwrap();
    assert_eq!(
        half.finish(AttachmentInfo::default()).unwrap_err(),
        AttachmentError::NotFinished
    );
    assert_eq!(half.next_input_len(), Some(CHUNK_LEN));
}

/// Memory per chunk, counted by the allocator: once the caller's buffer has a sealed chunk's
/// capacity, making a decryptor, opening chunks (in order, alone, failing) and sealing chunks
/// allocate nothing; a hostile descriptor that announces a 64 KiB thumbnail it does not carry
/// allocates nothing before it is refused.
#[test]
fn held_per_chunk_calls_allocate_nothing() {
    let file = pattern(3 * CHUNK_LEN + 10, 14);
    let (stored, d) = seal_with(&mut rng(69), &file);
    let mut dec = None;
    let made = allocation_counter::measure(|| {
        dec = Some(AttachmentDecryptor::new(&d, d.header()).unwrap())
    });
    let mut dec = dec.unwrap();
    assert_eq!(made.count_total, 0);
    let mut buf = Vec::with_capacity(SEALED_CHUNK_LEN);
    for i in 0..dec.chunk_count() as usize {
        buf.clear();
        buf.extend_from_slice(chunk_of(&stored, i));
        let mut wrong = buf.clone();
        wrong[0] ^= 1;
        let opened = allocation_counter::measure(|| {
            assert!(dec.open_chunk(i as u64, &mut wrong).is_err());
            dec.open_next(&mut buf).unwrap();
        });
        assert_eq!(opened.count_total, 0, "chunk {i}");
    }
    let mut r = rng(69);
    let mut enc = AttachmentEncryptor::new(&mut r, file.len() as u64).unwrap();
    let mut at = 0;
    while let Some(n) = enc.next_input_len() {
        buf.clear();
        buf.extend_from_slice(&file[at..at + n]);
        let sealed = allocation_counter::measure(|| enc.seal_next(&mut buf).unwrap());
        assert_eq!(sealed.count_total, 0);
        at += n;
    }
    let mut hostile = d.to_bytes().unwrap()[..105].to_vec();
    hostile.extend_from_slice(&[0, 0, 0, 1]); // no digest, no content type, no name, a thumbnail …
    hostile.extend_from_slice(&(MAX_THUMBNAIL_LEN as u32).to_be_bytes()); // … of 64 KiB
    hostile.extend_from_slice(&[0; 100]);
    let refused = allocation_counter::measure(|| {
        assert_eq!(
            AttachmentDescriptor::from_bytes(&hostile).unwrap_err(),
            xchat_protocol::DecodeError::Truncated
        );
    });
    assert_eq!(refused.count_total, 0);
}

/// FIXED (was informational; `next_range` added): `AttachmentEncryptor::seal_next_in_place` told the
/// caller that its span is "`AttachmentDecryptor::encrypted_range` of the same index" — but a
/// decryptor needs the descriptor, which exists only after `finish`, after the last chunk. The
/// Rust encryptor has no range accessor (the C ABI has `xc_attachment_encryptor_next_range`);
/// a Rust caller must know to rebuild the layout from `Layout::for_plaintext(padded_size(size))`
/// (shown here to agree). Fix: add `AttachmentEncryptor::next_range()` (or `encrypted_range(i)`)
/// and point the doc at it.
#[test]
fn fixed_doc_seal_next_in_place_names_the_encryptors_own_next_range() {
    let file = pattern(WITH_PADDING_CHUNKS, 15);
    let layout = Layout::for_plaintext(padded_size(file.len() as u64)).unwrap();
    let (_, d) = seal_with(&mut rng(73), &file);
    let dec = AttachmentDecryptor::new(&d, d.header()).unwrap();
    assert_eq!(dec.chunk_count(), layout.chunk_count());
    for i in 0..=layout.chunk_count() {
        assert_eq!(dec.encrypted_range(i), layout.encrypted_range(i));
    }
    // Fixed: the encryptor names each next span itself.
    let mut enc = AttachmentEncryptor::new(&mut rng(74), file.len() as u64).unwrap();
    let mut i = 0;
    while let Some(range) = enc.next_range() {
        assert_eq!(Some(range.clone()), layout.encrypted_range(i));
        let mut span = vec![0u8; (range.end - range.start) as usize];
        let n = enc.next_input_len().unwrap();
        span[..n].copy_from_slice(&file[..n].iter().map(|_| 7).collect::<Vec<u8>>());
        enc.seal_next_in_place(&mut span).unwrap();
        i += 1;
    }
    assert_eq!(i, layout.chunk_count());
}
