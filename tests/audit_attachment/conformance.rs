//! C2SP chunked encryption v1 against its published text, with everything recomputed here:
//! HKDF-Expand from bare SHA-512, the info layout, the nonce XOR (up to the 38th bit of the
//! counter), the final-chunk rules and the 2^38 limit.

use xchat_protocol::attachment::chunked::{
    CHUNK_LEN, ChunkedDecryptor, ChunkedEncryptor, HEADER_LEN, MAX_CHUNKS, SEALED_CHUNK_LEN,
    StreamKey,
};
use xchat_protocol::attachment::{AttachmentDecryptor, AttachmentError, MAX_ATTACHMENT_LEN};
use xchat_protocol::kdf::{LABEL_ATTACHMENT, chunked_keys};

use crate::support::{
    ATTACHMENT_CONTEXT, Derived, Script, c2sp_derive, chunk_of, crafted_descriptor, header_of,
    nonce_for, pattern, raw_seal, rng, seal_with,
};

/// `kdf::chunked_keys` equals HKDF-Expand written from RFC 5869 over bare SHA-512, with the
/// C2SP info spelled out, for contexts around the HMAC block size (the info then spans one,
/// two or more SHA-512 blocks) — and the attachment context is exactly the 28 bytes SPEC.md
/// §14.2 gives.
#[test]
fn held_key_derivation_is_c2sp_hkdf_expand_byte_for_byte() {
    let mut r = rng(50);
    for ctx_len in [0usize, 1, 28, 47, 48, 63, 64, 127, 128, 129, 200, 1000] {
        let ctx = pattern(ctx_len, ctx_len as u8);
        let key: [u8; 32] = pattern(32, 9 + ctx_len as u8).try_into().unwrap();
        let salt: [u8; 24] = pattern(24, (ctx_len as u8).wrapping_mul(3))
            .try_into()
            .unwrap();
        let ours = chunked_keys(&key, &salt, &ctx);
        let want = c2sp_derive(&key, &salt, &ctx);
        assert_eq!(ours.key, want.key, "ctx {ctx_len}");
        assert_eq!(ours.base_nonce, want.base_nonce, "ctx {ctx_len}");
        assert_eq!(ours.commitment, want.commitment, "ctx {ctx_len}");
        // The encryptor's header is salt ‖ that commitment, and its salt is its only draw.
        let mut script = Script(salt.to_vec());
        let (_, header) = ChunkedEncryptor::new(&mut script, &StreamKey::from_bytes(key), &ctx);
        assert!(script.0.is_empty());
        assert_eq!(header, header_of(&salt, &want));
    }
    assert_eq!(LABEL_ATTACHMENT, ATTACHMENT_CONTEXT);
    let (stored, d) = seal_with(&mut r, b"photo");
    let salt: [u8; 24] = stored[..24].try_into().unwrap();
    let want = c2sp_derive(d.key().as_bytes(), &salt, ATTACHMENT_CONTEXT);
    assert_eq!(&stored[24..HEADER_LEN], &want.commitment);
}

/// Every chunk the encryptor seals is AES-256-GCM of its plaintext under the derived key and
/// `base nonce XOR index` with empty AAD, exactly as computed here.
#[test]
fn held_chunks_are_plain_aes_gcm_under_the_xored_nonce() {
    let mut r = rng(51);
    let file = pattern(3 * CHUNK_LEN + 5, 1);
    let key = StreamKey::generate(&mut r);
    let (mut enc, header) = ChunkedEncryptor::new(&mut r, &key, b"ctx");
    let salt: [u8; 24] = header[..24].try_into().unwrap();
    let d = c2sp_derive(key.as_bytes(), &salt, b"ctx");
    for (i, piece) in file.chunks(CHUNK_LEN).enumerate() {
        let mut buf = piece.to_vec();
        enc.seal_chunk(&mut buf).unwrap();
        assert_eq!(buf, raw_seal(&d, i as u64, piece), "chunk {i}");
    }
    assert!(enc.is_finished());
}

fn opener(seed: u8) -> (ChunkedDecryptor, Derived) {
    let key = [seed; 32];
    let salt = [seed ^ 0x5A; 24];
    let d = c2sp_derive(&key, &salt, b"far");
    let dec =
        ChunkedDecryptor::new(&StreamKey::from_bytes(key), b"far", &header_of(&salt, &d)).unwrap();
    (dec, d)
}

/// Chunks sealed here at indices no test stream reaches (2^32 − 1, 2^32, 2^37 + 5 and the last
/// one, 2^38 − 1) open under their index, so every bit of the 38-bit counter lands where C2SP
/// puts it; the same chunk under an index one bit away, or sealed with the counter in the
/// wrong byte order, fails.
#[test]
fn held_the_nonce_xor_covers_all_38_counter_bits() {
    let (dec, d) = opener(52);
    for index in [(1u64 << 32) - 1, 1 << 32, (1 << 37) + 5, (1 << 36) | 0xFF] {
        let plain = pattern(CHUNK_LEN, index as u8);
        let sealed = raw_seal(&d, index, &plain);
        let mut buf = sealed.clone();
        dec.open_chunk(index, false, &mut buf).unwrap();
        assert_eq!(buf, plain, "index {index}");
        for bit in [0, 8, 31, 32, 37] {
            let mut buf = sealed.clone();
            let other = index ^ (1 << bit);
            assert_eq!(
                dec.open_chunk(other, false, &mut buf),
                Err(AttachmentError::ChunkAuthentication(other))
            );
            assert_eq!(buf, sealed);
        }
        // The counter little-endian in the last bytes is not C2SP's nonce.
        let mut wrong = d.base_nonce;
        for (n, b) in wrong.iter_mut().rev().zip(index.to_be_bytes()) {
            *n ^= b;
        }
        let swapped = Derived {
            key: d.key,
            base_nonce: wrong,
            commitment: d.commitment,
        };
        let mut buf = raw_seal(&swapped, 0, &plain);
        assert!(dec.open_chunk(index, false, &mut buf).is_err());
    }
    // The final chunk at the very last index opens; the index past it is refused untried.
    let last = MAX_CHUNKS - 1;
    let mut buf = raw_seal(&d, last, b"tail");
    dec.open_chunk(last, true, &mut buf).unwrap();
    assert_eq!(buf, b"tail");
    let mut buf = raw_seal(&d, MAX_CHUNKS, b"tail");
    assert_eq!(
        dec.open_chunk(MAX_CHUNKS, true, &mut buf),
        Err(AttachmentError::NoSuchChunk(MAX_CHUNKS))
    );
    assert_eq!(
        dec.open_chunk(u64::MAX, true, &mut buf),
        Err(AttachmentError::NoSuchChunk(u64::MAX))
    );
}

/// FIXED (was informational, spec/code mismatch): SPEC.md §14.1 says "sealing or opening index
/// 2^38 − 1 as a full chunk → `TooLarge`" (C2SP: the counter must never reach 2^38, and a full
/// chunk at 2^38 − 1 implies a chunk 2^38 after it). `ChunkedEncryptor::seal_chunk` and
/// `ChunkedDecryptor::open_next` enforce it, but `ChunkedDecryptor::open_chunk(2^38 − 1,
/// is_final = false, …)` opens such a chunk and returns its plaintext. Only the key's holder
/// can make one, and `AttachmentDecryptor` never asks for that index (attachments stop at
/// 2^32 + 1 chunks), so nothing is exposed in practice; a random-access reader of a raw stream
/// would accept a stream longer than C2SP allows. Fix: in `open_chunk_in_place`, refuse
/// `index + 1 >= MAX_CHUNKS && !is_final` with `TooLarge`, as `open_next_in_place` does.
#[test]
fn fixed_open_chunk_refuses_a_full_chunk_at_index_2_38_minus_1() {
    let (dec, d) = opener(53);
    let last = MAX_CHUNKS - 1;
    let plain = pattern(CHUNK_LEN, 1);
    let mut buf = raw_seal(&d, last, &plain);
    assert_eq!(buf.len(), SEALED_CHUNK_LEN);
    let sealed = buf.clone();
    assert_eq!(
        dec.open_chunk(last, false, &mut buf),
        Err(AttachmentError::NoSuchChunk(last)),
        "a full chunk at 2^38 - 1 would need a chunk at 2^38"
    );
    assert_eq!(buf, sealed);
    assert!(plain.len() == CHUNK_LEN);
}

/// The final-chunk rule at its edge: 16 399 sealed bytes are a final chunk (16 383 bytes of
/// plaintext), 16 400 a full one (the stream then needs an empty final chunk); `open_chunk`
/// refuses a length that contradicts `is_final` in either direction, whatever the bytes.
#[test]
fn held_final_chunk_rules_at_16399_and_16400_bytes() {
    let mut r = rng(54);
    let key = StreamKey::generate(&mut r);
    let seal = |r: &mut _, len: usize| {
        let (mut enc, header) = ChunkedEncryptor::new(r, &key, b"edge");
        let mut stream = header.to_vec();
        let plain = pattern(len, 4);
        let mut rest = &plain[..];
        while !enc.is_finished() {
            let (p, t) = rest.split_at(rest.len().min(CHUNK_LEN));
            let mut buf = p.to_vec();
            enc.seal_chunk(&mut buf).unwrap();
            stream.extend_from_slice(&buf);
            rest = t;
        }
        stream
    };
    let short = seal(&mut r, CHUNK_LEN - 1);
    let full = seal(&mut r, CHUNK_LEN);
    assert_eq!(short.len(), HEADER_LEN + SEALED_CHUNK_LEN - 1);
    assert_eq!(full.len(), HEADER_LEN + SEALED_CHUNK_LEN + 16);

    let dec = ChunkedDecryptor::new(&key, b"edge", &short[..HEADER_LEN]).unwrap();
    let c0 = &short[HEADER_LEN..];
    let mut buf = c0.to_vec();
    assert_eq!(
        dec.open_chunk(0, false, &mut buf),
        Err(AttachmentError::InvalidChunkLength)
    );
    assert_eq!(buf, c0);
    dec.open_chunk(0, true, &mut buf).unwrap();
    assert_eq!(buf.len(), CHUNK_LEN - 1);
    let mut dec = ChunkedDecryptor::new(&key, b"edge", &short[..HEADER_LEN]).unwrap();
    dec.open_next(&mut c0.to_vec()).unwrap();
    assert!(dec.is_complete());
    dec.finish().unwrap();

    let mut dec = ChunkedDecryptor::new(&key, b"edge", &full[..HEADER_LEN]).unwrap();
    let (f0, f1) = (chunk_of(&full, 0), chunk_of(&full, 1));
    let mut buf = f0.to_vec();
    assert_eq!(
        dec.open_chunk(0, true, &mut buf),
        Err(AttachmentError::InvalidChunkLength)
    );
    assert_eq!(buf, f0);
    let mut buf = f1.to_vec();
    assert_eq!(
        dec.open_chunk(1, false, &mut buf),
        Err(AttachmentError::InvalidChunkLength)
    );
    // The empty final chunk, claimed at index 0 or 2, fails under that index.
    for at in [0, 2] {
        let mut buf = f1.to_vec();
        assert_eq!(
            dec.open_chunk(at, true, &mut buf),
            Err(AttachmentError::ChunkAuthentication(at))
        );
        assert_eq!(buf, f1);
    }
    dec.open_next(&mut f0.to_vec()).unwrap();
    assert!(!dec.is_complete());
    assert_eq!(dec.finish(), Err(AttachmentError::Truncated));
    // The first 16 399 bytes of the full chunk, offered as a final one, fail.
    let mut cut = f0[..SEALED_CHUNK_LEN - 1].to_vec();
    assert_eq!(
        dec.open_next(&mut cut),
        Err(AttachmentError::ChunkAuthentication(1))
    );
    dec.open_next(&mut f1.to_vec()).unwrap();
    dec.finish().unwrap();
}

/// The largest attachment (2^46 bytes, 2^32 + 1 chunks): its last full chunk and its empty
/// final chunk, sealed here under the derived keys, open at indices 2^32 − 1 and 2^32 through
/// `AttachmentDecryptor`; the final one swapped for a one-byte chunk is refused by length.
#[test]
fn held_the_largest_attachment_opens_its_last_chunks() {
    let (desc, d) = crafted_descriptor([0x42; 32], [0x24; 24], MAX_ATTACHMENT_LEN);
    let dec = AttachmentDecryptor::new(&desc, desc.header()).unwrap();
    let last = dec.chunk_count() - 1;
    assert_eq!(last, 1 << 32);
    let plain = pattern(CHUNK_LEN, 2);
    let mut buf = raw_seal(&d, last - 1, &plain);
    dec.open_chunk(last - 1, &mut buf).unwrap();
    assert_eq!(buf, plain);
    let mut buf = raw_seal(&d, last, &[]);
    dec.open_chunk(last, &mut buf).unwrap();
    assert!(buf.is_empty());
    let mut buf = raw_seal(&d, last, &[0]);
    assert_eq!(
        dec.open_chunk(last, &mut buf),
        Err(AttachmentError::InvalidChunkLength)
    );
    // Nonces really differ per index: the same plaintext at two indices seals differently.
    assert_ne!(nonce_for(&d.base_nonce, last), nonce_for(&d.base_nonce, 0));
}
