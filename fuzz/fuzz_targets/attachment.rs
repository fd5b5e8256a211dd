//! Arbitrary bytes into the attachment code (SPEC.md §14), against a fixture attachment of three
//! chunks (`attachment_fixture`).
//!
//! - Every input is decoded as an `AttachmentDescriptor`; one that decodes is given to
//!   `AttachmentDecryptor::new` with stored headers of 55 and 57 bytes, its own header with a
//!   byte flipped, its own header and the fixture's; if it carries the fixture's key and header,
//!   the fixture's stored stream is opened with it (given the fixture's header), in order.
//! - After a first byte `0xA0`, `0xA1` or `0xA2`, a selector byte (bit 7: the in-place calls;
//!   the rest: a chunk index, see `chunk_index`) and then a stored stream — the rest of the
//!   input (`0xA0`), a splice of the fixture's stream (`0xA1`, see `splice`) or a copy within it
//!   (`0xA2`, see `copy`) — opened with the fixture's descriptor: `AttachmentDecryptor::new`
//!   given the stream's first `HEADER_LEN` bytes as its stored header (and the whole stream),
//!   its length checked, the chunk at the selected index opened alone (`open_chunk`), then every
//!   chunk in order at the range `encrypted_range` gives (`open_next`). Where the stream's header
//!   is refused, the chunks are still judged, through a decryptor given the fixture's header.
//! - After a first byte `0xB0`, `0xB1` or `0xB2`, a raw C2SP stream (the rest, a splice, a copy)
//!   under the fixture's key and context: through `ChunkedDecryptor` (the header, pieces of
//!   `SEALED_CHUNK_LEN`, `finish`), and through `Layout::for_encrypted` with every chunk opened
//!   alone, the final one included.
//!
//! Nothing panics. A descriptor that decodes re-encodes to the input. `AttachmentDecryptor::new`
//! checks the stored header's length before anything else (the size was checked by `from_bytes`),
//! then its equality with the descriptor's header, then the commitment: it accepts a stored
//! header only if it is the descriptor's, and the fixture's header only under the fixture's key
//! and header. A failed call leaves the buffer unchanged (except `InvalidPadding`, which wipes
//! it), does not advance the decryptor (the authentic chunk then opens at the same index) and
//! fails for a reason the input explains.
//! Under the fixture's key, a chunk opens only if it is the authentic chunk of its index, and only
//! to the authentic bytes (anything else would be a forgery): a stream opened in order, piece by
//! piece, is complete only if it is the authentic stream, and then gives exactly the fixture's
//! plaintext; the final chunk opens alone only at the authentic length; a descriptor with the
//! fixture's key completes only with the fixture's padded size and a size no shorter than its,
//! and, if it carries a digest, only with the sender's (`DigestMismatch` otherwise, at the final
//! chunk).
#![no_main]
use std::ops::Range;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use xchat_protocol::attachment::chunked::{
    CHUNK_LEN, ChunkedDecryptor, HEADER_LEN, Layout, SEALED_CHUNK_LEN, TAG_LEN,
};
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentDescriptor, AttachmentError, padded_size,
};
use xchat_protocol::kdf::LABEL_ATTACHMENT;
use xchat_protocol_fuzz::{AttachmentFixture, attachment_fixture};

struct Fixture {
    f: AttachmentFixture,
    /// Where each chunk lies in the stored stream.
    sealed: Vec<Range<usize>>,
    /// Which bytes of the padded plaintext each chunk holds.
    plain: Vec<Range<usize>>,
    /// The stream's decryptor under the authentic header.
    stream: ChunkedDecryptor,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let f = attachment_fixture();
    let dec = AttachmentDecryptor::new(&f.descriptor, &f.stored[..HEADER_LEN]).unwrap();
    let layout = Layout::for_plaintext(f.padded.len() as u64).unwrap();
    assert!(dec.chunk_count() > 2);
    let sealed = (0..dec.chunk_count())
        .map(|i| to_usize(dec.encrypted_range(i).unwrap()))
        .collect();
    let plain = (0..layout.chunk_count())
        .map(|i| to_usize(layout.plaintext_range(i).unwrap()))
        .collect();
    let stream = ChunkedDecryptor::new(
        f.descriptor.key(),
        LABEL_ATTACHMENT,
        &f.stored[..HEADER_LEN],
    )
    .unwrap();
    Fixture {
        f,
        sealed,
        plain,
        stream,
    }
});

fn to_usize(r: Range<u64>) -> Range<usize> {
    usize::try_from(r.start).unwrap()..usize::try_from(r.end).unwrap()
}

impl Fixture {
    /// The authentic sealed chunk `index`, if the stream has it.
    fn sealed_chunk(&self, index: u64) -> Option<&[u8]> {
        let r = self.sealed.get(usize::try_from(index).ok()?)?;
        Some(&self.f.stored[r.clone()])
    }

    /// The authentic plaintext of chunk `index` (file and padding), if the stream has it.
    fn plain_chunk(&self, index: u64) -> Option<&[u8]> {
        let r = self.plain.get(usize::try_from(index).ok()?)?;
        Some(&self.f.padded[r.clone()])
    }

    fn header(&self) -> &[u8] {
        &self.f.stored[..HEADER_LEN]
    }
}

/// The chunk index a selector byte names: its low 7 bits, from 0 to 63 as they are, from 64 up
/// counting down from `u64::MAX` (for the arithmetic at the far end).
fn chunk_index(sel: u8) -> u64 {
    match sel & 0x7F {
        low @ 0..0x40 => u64::from(low),
        low => u64::MAX - u64::from(low - 0x40),
    }
}

/// Reads a big-endian u32 offset into `base`, modulo `base.len() + 1`.
fn offset(base: &[u8], params: &mut &[u8]) -> Option<usize> {
    let (bytes, rest) = params.split_first_chunk::<4>()?;
    *params = rest;
    Some(usize::try_from(u32::from_be_bytes(*bytes)).ok()? % (base.len() + 1))
}

/// Two offsets into `base`, in order.
fn range(base: &[u8], params: &mut &[u8]) -> Option<Range<usize>> {
    let (a, b) = (offset(base, params)?, offset(base, params)?);
    Some(a.min(b)..a.max(b))
}

/// `base` with the range between two offsets (big-endian u32s, see `offset`) replaced by the
/// rest of `params`: a truncation, an extension or altered bytes of the authentic stream.
fn splice(base: &[u8], mut params: &[u8]) -> Option<Vec<u8>> {
    let r = range(base, &mut params)?;
    Some([&base[..r.start], params, &base[r.end..]].concat())
}

/// `base` with the range between two offsets replaced by the range between the next two: a
/// chunk moved, repeated, dropped or cut together from two chunks.
fn copy(base: &[u8], mut params: &[u8]) -> Option<Vec<u8>> {
    let to = range(base, &mut params)?;
    let from = range(base, &mut params)?;
    Some([&base[..to.start], &base[from], &base[to.end..]].concat())
}

/// The bytes of `stream` within `r`, cut short where the stream ends.
fn clip(stream: &[u8], r: Range<u64>) -> &[u8] {
    let len = stream.len() as u64;
    let start = usize::try_from(r.start.min(len)).unwrap();
    let end = usize::try_from(r.end.min(len)).unwrap();
    &stream[start..end]
}

enum Call {
    Next,
    Chunk(u64),
}

/// Opens `sealed` with `dec` — as the next chunk or as one chunk alone, through the `Vec` call or
/// in place — and returns the opened bytes, or the error and the buffer after the failed call.
fn open(
    dec: &mut AttachmentDecryptor,
    call: &Call,
    in_place: bool,
    sealed: &[u8],
) -> Result<Vec<u8>, (AttachmentError, Vec<u8>)> {
    let mut buf = sealed.to_vec();
    let result = if in_place {
        match call {
            Call::Next => dec.open_next_in_place(&mut buf),
            Call::Chunk(i) => dec.open_chunk_in_place(*i, &mut buf),
        }
        .map(|n| {
            assert!(n <= sealed.len());
            buf.truncate(n);
        })
    } else {
        match call {
            Call::Next => dec.open_next(&mut buf),
            Call::Chunk(i) => dec.open_chunk(*i, &mut buf),
        }
    };
    match result {
        Ok(()) => Ok(buf),
        Err(e) => Err((e, buf)),
    }
}

/// Judges the outcome of opening `sealed` as chunk `index` with `dec`, a decryptor under the
/// fixture's key (the fixture's descriptor, or a decoded one with its key and header, and
/// `digest` the descriptor's): a chunk that opens is the authentic one and gives the authentic
/// bytes of `file_range`; a failure left the buffer as it was, or wiped it for `InvalidPadding`,
/// which only a size claimed shorter than the fixture's explains; `DigestMismatch` comes only
/// from a descriptor with a digest, at its final chunk, and at the fixture's layout (where the
/// chunks given in order are the fixture's stream) only for a digest other than the sender's.
/// Returns the opened bytes.
fn judge(
    x: &Fixture,
    dec: &AttachmentDecryptor,
    digest: Option<&[u8; 32]>,
    index: u64,
    sealed: &[u8],
    result: Result<Vec<u8>, (AttachmentError, Vec<u8>)>,
) -> Option<Vec<u8>> {
    match result {
        Ok(bytes) => {
            assert_eq!(Some(sealed), x.sealed_chunk(index), "chunk {index} forged");
            let file = to_usize(dec.file_range(index).unwrap());
            assert_eq!(Some(&bytes[..]), x.f.padded.get(file), "chunk {index}");
            Some(bytes)
        }
        Err((AttachmentError::InvalidPadding(i), buf)) => {
            assert_eq!(i, index);
            assert_eq!(buf.len(), sealed.len());
            assert!(buf.iter().all(|b| *b == 0), "InvalidPadding left the bytes");
            assert!(
                dec.size() < x.f.file.len() as u64,
                "chunk {index} opened with non-zero padding: a forgery"
            );
            None
        }
        Err((e, buf)) => {
            assert_eq!(buf, sealed, "{e:?} changed the buffer");
            match e {
                AttachmentError::ChunkAuthentication(i) | AttachmentError::NoSuchChunk(i) => {
                    assert_eq!(i, index, "{e:?}");
                }
                AttachmentError::InvalidChunkLength | AttachmentError::TrailingData => {}
                AttachmentError::DigestMismatch => {
                    let digest = digest.expect("DigestMismatch without a digest");
                    assert_eq!(
                        index,
                        last_index(dec),
                        "DigestMismatch before the final chunk"
                    );
                    assert!(!dec.is_complete());
                    if dec.encrypted_len() == x.f.stored.len() as u64 {
                        assert_ne!(digest, &x.f.digest, "the sender's stream refused");
                    }
                }
                e => panic!("chunk {index}: unexpected {e:?}"),
            }
            None
        }
    }
}

/// The whole input as a descriptor.
fn descriptor(x: &Fixture, data: &[u8]) {
    let Ok(d) = AttachmentDescriptor::from_bytes(data) else {
        return;
    };
    assert_eq!(d.to_bytes().unwrap().as_slice(), data);
    assert_eq!(d.padded_size(), padded_size(d.size()));
    let fixture_key = d.key() == x.f.descriptor.key() && d.header() == x.f.descriptor.header();
    // The stored header: its length first, whatever the commitment (the size was checked by
    // `from_bytes`), then its bytes, in constant time.
    let own = d.header();
    assert_eq!(
        AttachmentDecryptor::new(&d, &own[..HEADER_LEN - 1]).err(),
        Some(AttachmentError::Truncated)
    );
    let longer = [&own[..], &[0]].concat();
    assert_eq!(
        AttachmentDecryptor::new(&d, &longer).err(),
        Some(AttachmentError::TrailingData)
    );
    let mut flipped = *own;
    flipped[data.len() % HEADER_LEN] ^= 0x01;
    assert_eq!(
        AttachmentDecryptor::new(&d, &flipped).err(),
        Some(AttachmentError::WrongKey)
    );
    // The fixture's stored header opens only under the fixture's key and header.
    let with_fixture = AttachmentDecryptor::new(&d, x.header());
    match &with_fixture {
        Ok(_) => assert!(
            fixture_key,
            "the fixture's header accepted for another descriptor"
        ),
        Err(e) => {
            assert_eq!(*e, AttachmentError::WrongKey);
            assert!(!fixture_key);
        }
    }
    let dec = match AttachmentDecryptor::new(&d, own) {
        Ok(dec) => dec,
        Err(e) => {
            // Its own header: only the commitment can fail.
            assert_eq!(e, AttachmentError::WrongKey);
            assert!(!fixture_key);
            assert!(with_fixture.is_err());
            return;
        }
    };
    let size = d.size();
    let layout = Layout::for_plaintext(d.padded_size()).unwrap();
    assert_eq!(dec.size(), size);
    assert_eq!(dec.chunk_count(), layout.chunk_count());
    assert_eq!(dec.encrypted_len(), layout.encrypted_len());
    assert_eq!(Layout::for_encrypted(dec.encrypted_len()), Ok(layout));
    assert_eq!(dec.check_stored_len(dec.encrypted_len()), Ok(()));
    assert_eq!(
        dec.check_stored_len(dec.encrypted_len() - 1),
        Err(AttachmentError::Truncated)
    );
    assert_eq!(
        dec.check_stored_len(dec.encrypted_len() + 1),
        Err(AttachmentError::TrailingData)
    );
    let last = dec.chunk_count() - 1;
    assert_eq!(dec.encrypted_range(last).unwrap().end, dec.encrypted_len());
    assert_eq!(dec.file_range(last).unwrap().end, size);
    assert_eq!(dec.encrypted_range(last + 1), None);
    assert_eq!(dec.file_range(last + 1), None);
    assert_eq!(dec.chunk_of(size), None);
    if let Some(end) = size.checked_sub(1) {
        let c = dec.chunk_of(end).unwrap();
        assert!(dec.file_range(c).unwrap().contains(&end));
    }
    let Ok(mut dec) = with_fixture else {
        return;
    };
    // The fixture's stream under a descriptor that may claim another size.
    let mut opened = Vec::new();
    for i in 0..dec.chunk_count().min(x.sealed.len() as u64 + 1) {
        let sealed = clip(&x.f.stored, dec.encrypted_range(i).unwrap());
        let result = open(&mut dec, &Call::Next, false, sealed);
        let Some(bytes) = judge(x, &dec, d.digest(), i, sealed, result) else {
            break;
        };
        opened.extend_from_slice(&bytes);
    }
    if dec.is_complete() {
        // The final chunk authenticates the padded size; the padding check bounds the size.
        assert_eq!(d.padded_size(), x.f.padded.len() as u64);
        assert!(size >= x.f.file.len() as u64);
        assert_eq!(opened, x.f.padded[..usize::try_from(size).unwrap()]);
        // The digest, if any, is the sender's: no other completes.
        if let Some(digest) = d.digest() {
            assert_eq!(digest, &x.f.digest, "completed under another digest");
        }
    }
}

/// `stream` as the fixture's stored stream, opened with its descriptor.
fn stored(x: &Fixture, sel: u8, stream: &[u8]) {
    let in_place = sel & 0x80 != 0;
    let index = chunk_index(sel);
    let d = &x.f.descriptor;
    let len = stream.len() as u64;
    // The whole stream given as the stored header is refused for its length (unless it is the
    // header alone).
    let expected = match stream.len() {
        HEADER_LEN if stream == x.header() => None,
        HEADER_LEN => Some(AttachmentError::WrongKey),
        n if n < HEADER_LEN => Some(AttachmentError::Truncated),
        _ => Some(AttachmentError::TrailingData),
    };
    assert_eq!(AttachmentDecryptor::new(d, stream).err(), expected);
    // The stream's first bytes as the stored header.
    let header = stream.get(..HEADER_LEN).unwrap_or(stream);
    let expected = match header.len() {
        HEADER_LEN if header == x.header() => None,
        HEADER_LEN => Some(AttachmentError::WrongKey),
        _ => Some(AttachmentError::Truncated),
    };
    let mut dec = match AttachmentDecryptor::new(d, header) {
        Ok(dec) => {
            assert_eq!(expected, None);
            dec
        }
        Err(e) => {
            assert_eq!(Some(e), expected);
            // A reader stops here. The chunks do not depend on the header's bytes: they are
            // still judged, with the fixture's header.
            AttachmentDecryptor::new(d, x.header()).unwrap()
        }
    };
    assert_eq!(
        dec.check_stored_len(len).is_ok(),
        len == dec.encrypted_len()
    );
    if let Some(c) = dec.chunk_of(len) {
        assert!(dec.file_range(c).unwrap().contains(&len));
    } else {
        assert!(len >= dec.size());
    }

    // One chunk alone, at the selected index (past the last: the start of the stream).
    let range = dec.encrypted_range(index);
    let sealed = match range.clone() {
        Some(r) => clip(stream, r),
        None => stream.get(..SEALED_CHUNK_LEN).unwrap_or(stream),
    };
    let result = open(&mut dec, &Call::Chunk(index), in_place, sealed);
    if range.is_none() {
        assert!(matches!(result, Err((AttachmentError::NoSuchChunk(i), _)) if i == index));
    }
    let digest = d.digest();
    judge(x, &dec, digest, index, sealed, result);
    assert!(!dec.is_complete());

    // In order: a chunk that fails is followed by the authentic one, which must then open (the
    // failure did not move the decryptor on). The file comes out whole.
    let mut file = Vec::new();
    for i in 0..dec.chunk_count() {
        let sealed = clip(stream, dec.encrypted_range(i).unwrap());
        let result = open(&mut dec, &Call::Next, in_place, sealed);
        let bytes = match judge(x, &dec, digest, i, sealed, result) {
            Some(bytes) => bytes,
            None => {
                assert!(!dec.is_complete());
                let authentic = x.sealed_chunk(i).unwrap();
                let result = open(&mut dec, &Call::Next, in_place, authentic);
                judge(x, &dec, digest, i, authentic, result)
                    .expect("a failed chunk moved the decryptor")
            }
        };
        file.extend_from_slice(&bytes);
        assert_eq!(dec.is_complete(), i == last_index(&dec));
    }
    assert_eq!(file, x.f.file);
    // Complete: anything more is trailing data (here, what follows the stream).
    let tail = clip(stream, dec.encrypted_len()..len);
    let result = open(&mut dec, &Call::Next, in_place, tail);
    assert!(matches!(result, Err((AttachmentError::TrailingData, ref b)) if b == tail));
    assert!(dec.is_complete());
}

fn last_index(dec: &AttachmentDecryptor) -> u64 {
    dec.chunk_count() - 1
}

/// `stream` as a raw C2SP stream under the fixture's key and context.
fn raw(x: &Fixture, stream: &[u8]) {
    let key = x.f.descriptor.key();
    let (header, body) = stream.split_at(HEADER_LEN.min(stream.len()));
    if stream.len() > HEADER_LEN {
        assert_eq!(
            ChunkedDecryptor::new(key, LABEL_ATTACHMENT, stream).err(),
            Some(AttachmentError::TrailingData)
        );
    }
    match ChunkedDecryptor::new(key, LABEL_ATTACHMENT, header) {
        Ok(dec) => {
            assert_eq!(header, x.header(), "another header's commitment matched");
            in_order(x, dec, stream, body);
        }
        Err(e) if header.len() < HEADER_LEN => assert_eq!(e, AttachmentError::Truncated),
        Err(e) => {
            assert_eq!(e, AttachmentError::WrongKey);
            assert_ne!(header, x.header());
        }
    }
    alone(x, stream);
}

/// Opens `body` in pieces of `SEALED_CHUNK_LEN`: a piece that fails is followed by the authentic
/// chunk of its index, which must then open.
fn in_order(x: &Fixture, mut dec: ChunkedDecryptor, stream: &[u8], body: &[u8]) {
    let mut plaintext = Vec::new();
    let mut every_piece = true;
    for piece in body.chunks(SEALED_CHUNK_LEN) {
        let (i, was_complete) = (dec.chunks_opened(), dec.is_complete());
        let mut buf = piece.to_vec();
        match dec.open_next(&mut buf) {
            Ok(()) => {
                assert_eq!(Some(piece), x.sealed_chunk(i), "chunk {i} forged");
                assert_eq!(Some(&buf[..]), x.plain_chunk(i), "chunk {i}");
                assert_eq!(dec.chunks_opened(), i + 1);
                assert_eq!(dec.is_complete(), piece.len() < SEALED_CHUNK_LEN);
                plaintext.extend_from_slice(&buf);
            }
            Err(e) => {
                every_piece = false;
                assert_eq!(buf, piece, "{e:?} changed the buffer");
                assert_eq!((dec.chunks_opened(), dec.is_complete()), (i, was_complete));
                let expected = if was_complete {
                    AttachmentError::TrailingData
                } else if piece.len() < TAG_LEN {
                    AttachmentError::Truncated
                } else {
                    AttachmentError::ChunkAuthentication(i)
                };
                assert_eq!(e, expected);
                if !was_complete {
                    let mut authentic = x.sealed_chunk(i).unwrap().to_vec();
                    dec.open_next(&mut authentic)
                        .expect("a failed piece moved the decryptor");
                    assert_eq!(Some(&authentic[..]), x.plain_chunk(i));
                    plaintext.extend_from_slice(&authentic);
                }
            }
        }
    }
    match dec.finish() {
        Ok(()) => {
            assert!(dec.is_complete());
            assert_eq!(plaintext, x.f.padded);
            if every_piece {
                assert_eq!(
                    stream, x.f.stored,
                    "a stream other than the fixture's opened"
                );
            }
        }
        Err(e) => {
            assert_eq!(e, AttachmentError::Truncated);
            assert!(!dec.is_complete());
        }
    }
}

/// The layout of `stream`'s length, and every chunk of it opened alone under the authentic
/// header (the chunks do not depend on the header's bytes).
fn alone(x: &Fixture, stream: &[u8]) {
    let len = stream.len() as u64;
    let layout = match Layout::for_encrypted(len) {
        Ok(layout) => layout,
        Err(e) => {
            assert_eq!(e, AttachmentError::Truncated);
            let body = len.checked_sub(HEADER_LEN as u64);
            assert!(body.is_none_or(|b| b % (SEALED_CHUNK_LEN as u64) < TAG_LEN as u64));
            return;
        }
    };
    assert_eq!(layout.encrypted_len(), len);
    assert_eq!(Layout::for_plaintext(layout.plaintext_len()), Ok(layout));
    let count = layout.chunk_count();
    assert_eq!(layout.encrypted_range(count), None);
    let last = count - 1;
    assert!(layout.is_final(last));
    for i in 0..count {
        let r = layout.encrypted_range(i).unwrap();
        let plain = layout.plaintext_range(i).unwrap();
        assert_eq!(r.end - r.start, plain.end - plain.start + TAG_LEN as u64);
        if i == last {
            assert_eq!(r.end, len);
            assert!(plain.end - plain.start < CHUNK_LEN as u64);
        }
        let piece = &stream[to_usize(r)];
        // The length must agree with `is_final`.
        let mut buf = piece.to_vec();
        assert_eq!(
            x.stream.open_chunk(i, i != last, &mut buf),
            Err(AttachmentError::InvalidChunkLength)
        );
        assert_eq!(buf, piece);
        match x.stream.open_chunk(i, i == last, &mut buf) {
            Ok(()) => {
                assert_eq!(Some(piece), x.sealed_chunk(i), "chunk {i} forged");
                assert_eq!(Some(&buf[..]), x.plain_chunk(i), "chunk {i}");
                if i == last {
                    // The final chunk authenticates the length.
                    assert_eq!(len, x.f.stored.len() as u64);
                }
            }
            Err(e) => {
                assert_eq!(e, AttachmentError::ChunkAuthentication(i));
                assert_eq!(buf, piece, "{e:?} changed the buffer");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let x = &*FIXTURE;
    descriptor(x, data);
    let (sel, params) = match data {
        [0xA0..=0xA2, sel, params @ ..] => (*sel, params),
        [0xB0..=0xB2, params @ ..] => (0, params),
        _ => return,
    };
    let stream = match data[0] & 0x0F {
        0 => params.to_vec(),
        1 => match splice(&x.f.stored, params) {
            Some(s) => s,
            None => return,
        },
        _ => match copy(&x.f.stored, params) {
            Some(s) => s,
            None => return,
        },
    };
    if data[0] & 0xF0 == 0xA0 {
        stored(x, sel, &stream);
    } else {
        raw(x, &stream);
    }
});
