//! Sealing and opening whole streams and attachments through the chunk API.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::attachment::chunked::{
    CHUNK_LEN, ChunkedDecryptor, ChunkedEncryptor, HEADER_LEN, SEALED_CHUNK_LEN, StreamKey,
};
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentDescriptor, AttachmentEncryptor, AttachmentError, AttachmentInfo,
};

pub(crate) fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// `len` bytes that differ from chunk to chunk and within each.
pub(crate) fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The whole stream of `plaintext` under `key` and `context`.
pub(crate) fn seal_stream(
    rng: &mut ChaCha20Rng,
    key: &StreamKey,
    context: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let (mut enc, header) = ChunkedEncryptor::new(rng, key, context);
    let mut out = header.to_vec();
    let mut rest = plaintext;
    while !enc.is_finished() {
        let (piece, tail) = rest.split_at(rest.len().min(CHUNK_LEN));
        let mut buf = Vec::with_capacity(SEALED_CHUNK_LEN);
        buf.extend_from_slice(piece);
        enc.seal_chunk(&mut buf).unwrap();
        out.extend_from_slice(&buf);
        rest = tail;
    }
    out
}

/// Opens a stream as a reader of unknown length would: the header, then pieces of a sealed
/// chunk's length, then `finish`. Returns what was opened before the first error, and the error.
pub(crate) fn open_stream(
    key: &StreamKey,
    context: &[u8],
    stream: &[u8],
) -> (Vec<u8>, Result<(), AttachmentError>) {
    let mut out = Vec::new();
    let (header, body) = stream.split_at(stream.len().min(HEADER_LEN));
    let mut dec = match ChunkedDecryptor::new(key, context, header) {
        Ok(d) => d,
        Err(e) => return (out, Err(e)),
    };
    for piece in body.chunks(SEALED_CHUNK_LEN) {
        let mut buf = piece.to_vec();
        if let Err(e) = dec.open_next(&mut buf) {
            assert_eq!(buf, piece, "a failed chunk is left as it was");
            return (out, Err(e));
        }
        out.extend_from_slice(&buf);
    }
    let r = dec.finish();
    (out, r)
}

/// An attachment of `file`, sealed; returns the stored stream and the descriptor.
pub(crate) fn seal_attachment(
    rng: &mut ChaCha20Rng,
    file: &[u8],
) -> (Vec<u8>, AttachmentDescriptor) {
    seal_with(
        AttachmentEncryptor::new(rng, file.len() as u64).unwrap(),
        file,
    )
}

/// As [`seal_attachment`], with the stream's digest in the descriptor.
pub(crate) fn seal_attachment_with_digest(
    rng: &mut ChaCha20Rng,
    file: &[u8],
) -> (Vec<u8>, AttachmentDescriptor) {
    seal_with(
        AttachmentEncryptor::with_digest(rng, file.len() as u64).unwrap(),
        file,
    )
}

fn seal_with(mut enc: AttachmentEncryptor, file: &[u8]) -> (Vec<u8>, AttachmentDescriptor) {
    let mut stored = enc.header().to_vec();
    let mut rest = file;
    while let Some(n) = enc.next_input_len() {
        let (piece, tail) = rest.split_at(n);
        let mut buf = piece.to_vec();
        enc.seal_next(&mut buf).unwrap();
        stored.extend_from_slice(&buf);
        rest = tail;
    }
    assert!(rest.is_empty());
    assert_eq!(stored.len() as u64, enc.encrypted_len());
    let info = AttachmentInfo {
        content_type: "application/octet-stream".into(),
        location: b"blob/1".to_vec(),
        ..AttachmentInfo::default()
    };
    (stored, enc.finish(info).unwrap())
}

/// Opens every chunk of a stored attachment in order.
pub(crate) fn open_attachment(
    descriptor: &AttachmentDescriptor,
    stored: &[u8],
) -> Result<Vec<u8>, AttachmentError> {
    let mut dec = AttachmentDecryptor::new(descriptor, &stored[..stored.len().min(HEADER_LEN)])?;
    dec.check_stored_len(stored.len() as u64)?;
    let mut out = Vec::new();
    for i in 0..dec.chunk_count() {
        let r = dec.encrypted_range(i).unwrap();
        let mut buf = stored[r.start as usize..r.end as usize].to_vec();
        dec.open_next(&mut buf)?;
        out.extend_from_slice(&buf);
    }
    assert!(dec.is_complete());
    Ok(out)
}
