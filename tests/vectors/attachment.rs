//! `attachment.json`: C2SP chunked streams and attachments (SPEC.md §14). Every value is first
//! recomputed by hand from the published inputs — HKDF-Expand-SHA-512 as RFC 5869's loop over
//! HMAC-SHA-512, AES-256-GCM with the XOR nonce, Padmé, the digest as SHA-256 of the whole
//! stored stream, the descriptor field by field — without the crate's encryptors; then sealing
//! is replayed through `ChunkedEncryptor` and `AttachmentEncryptor` (`new`, or `with_digest`
//! for a case with a digest) with the published draws (byte-identical streams and descriptors),
//! the streams are opened through the decryptors, in order and chunk by chunk, and every
//! negative case fails with exactly its error.

use std::collections::BTreeSet;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};
use xchat_protocol::attachment::chunked::{
    ChunkedDecryptor, ChunkedEncryptor, HEADER_LEN, Layout, StreamKey,
};
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentDescriptor, AttachmentEncryptor, AttachmentError, AttachmentInfo,
};
use xchat_protocol::kdf;
use xchat_protocol::padding::padded_len_u64;

use crate::generator::{Scripted, gcm_seal};
use crate::support::{arr, big, cat, check_chacha_stream, draws, h, h12, h32, load, nsize, st};

const CHUNK: usize = 16_384;
const SEALED: usize = CHUNK + 16;

/// Byte `i` is `i mod 251` (the file's `plaintext`).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// RFC 5869 HKDF-Expand with HMAC-SHA-512, the PRK used as given (no Extract).
fn hkdf_expand_sha512(prk: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut okm = Vec::new();
    let mut t = Vec::new();
    let mut counter = 1u8;
    while okm.len() < len {
        let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(prk).unwrap();
        mac.update(&t);
        mac.update(info);
        mac.update(&[counter]);
        t = mac.finalize().into_bytes().to_vec();
        okm.extend_from_slice(&t);
        counter += 1;
    }
    okm.truncate(len);
    okm
}

/// `max(256, Padmé(len))` (SPEC.md §8.2).
fn pad(len: u64) -> u64 {
    if len <= 256 {
        return 256;
    }
    let e = 63 - u64::from(len.leading_zeros()); // ⌊log2 len⌋
    let s = 64 - u64::from(e.leading_zeros()); // ⌊log2 e⌋ + 1
    let low = (1u64 << (e - s)) - 1;
    (len + low) & !low
}

/// Chunk `i`'s nonce: the base nonce's last 8 bytes, as a big-endian number, XOR `i`.
fn nonce(base: &[u8; 12], i: u64) -> [u8; 12] {
    let mut n = *base;
    let tail = u64::from_be_bytes(n[4..].try_into().unwrap()) ^ i;
    n[4..].copy_from_slice(&tail.to_be_bytes());
    n
}

/// The stream's sealed chunks, split by the layout of SPEC.md §14.1: full chunks of 16 400
/// bytes, then the final one of 16 to 16 399 (never empty: it has its tag).
fn split_chunks(stream: &[u8]) -> Vec<Vec<u8>> {
    stream[HEADER_LEN..]
        .chunks(SEALED)
        .map(<[u8]>::to_vec)
        .collect()
}

/// §14.1 by hand from the case's inputs; checks every published value and returns the stream
/// and its sealed chunks.
fn check_stream(
    v: &Value,
    input_key: &[u8; 32],
    salt: &[u8; 24],
    context: &[u8],
    plaintext: &[u8],
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let name = st(&v["name"]);
    assert_eq!(
        kdf::LABEL_CHUNKED,
        b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00"
    );
    let info = cat(&[kdf::LABEL_CHUNKED, salt, context]);
    assert_eq!(info, h(&v["info"]), "{name}");
    let okm = hkdf_expand_sha512(input_key, &info, 76);
    let (aead_key, rest) = okm.split_at(32);
    let (base_nonce, commitment) = rest.split_at(12);
    assert_eq!(aead_key, h(&v["aead_key"]), "{name}");
    assert_eq!(base_nonce, h(&v["base_nonce"]), "{name}");
    assert_eq!(commitment, h(&v["commitment"]), "{name}");
    let keys = kdf::chunked_keys(input_key, salt, context);
    assert_eq!(
        (&keys.key[..], &keys.base_nonce[..], &keys.commitment[..]),
        (aead_key, base_nonce, commitment)
    );
    let aead_key: [u8; 32] = aead_key.try_into().unwrap();
    let base_nonce = h12(&v["base_nonce"]);
    let header = cat(&[salt, commitment]);
    assert_eq!(header, h(&v["header"]), "{name}");

    // ⌊L / 16384⌋ full chunks and a final one of 0..16383 bytes.
    let count = plaintext.len() / CHUNK + 1;
    let published = arr(&v["chunks"]);
    assert_eq!(published.len(), count, "{name}");
    assert_eq!(big(&v["chunk_count"]), count as u64);
    let mut stream = header.clone();
    let mut sealed_chunks = Vec::new();
    for (i, c) in published.iter().enumerate() {
        assert_eq!(nsize(&c["index"]), i);
        let piece = &plaintext[i * CHUNK..plaintext.len().min((i + 1) * CHUNK)];
        assert_eq!(nsize(&c["plaintext_len"]), piece.len());
        assert!(piece.len() == CHUNK || i + 1 == count);
        let n = nonce(&base_nonce, i as u64);
        assert_eq!(n, h12(&c["nonce"]), "{name} chunk {i}");
        let sealed = gcm_seal(&aead_key, &n, &[], piece);
        assert_eq!(nsize(&c["sealed_len"]), sealed.len());
        assert_eq!(
            sealed[sealed.len() - 16..],
            h(&c["tag"])[..],
            "{name} chunk {i}"
        );
        assert_eq!(
            Sha256::digest(&sealed)[..],
            h(&c["sealed_sha256"])[..],
            "{name} chunk {i}"
        );
        stream.extend_from_slice(&sealed);
        sealed_chunks.push(sealed);
    }
    assert_eq!(big(&v["encrypted_len"]), stream.len() as u64);
    assert_eq!(
        stream.len(),
        56 + plaintext.len() + 16 * count,
        "56 + L + 16 · (⌊L / 16384⌋ + 1)"
    );
    assert_eq!(
        Sha256::digest(&stream)[..],
        h(&v["stream_sha256"])[..],
        "{name}"
    );
    match st(&v["stream_form"]) {
        "full" => {
            assert_eq!(stream, h(&v["stream"]), "{name}");
            assert!(v["final_chunk"].is_null());
        }
        "digest" => {
            assert!(v["stream"].is_null());
            assert_eq!(
                sealed_chunks.last().unwrap(),
                &h(&v["final_chunk"]),
                "{name}"
            );
        }
        other => panic!("stream_form {other}"),
    }
    let layout = Layout::for_plaintext(plaintext.len() as u64).unwrap();
    assert_eq!(layout.chunk_count(), count as u64);
    assert_eq!(layout.encrypted_len(), stream.len() as u64);
    assert_eq!(Layout::for_encrypted(stream.len() as u64).unwrap(), layout);
    (stream, sealed_chunks)
}

/// Opens a whole stream through `ChunkedDecryptor`, in order and then each chunk alone.
fn open_chunked(key: &StreamKey, context: &[u8], stream: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut dec = ChunkedDecryptor::new(key, context, &stream[..HEADER_LEN]).unwrap();
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let mut alone = c.clone();
        dec.open_chunk(i as u64, i + 1 == chunks.len(), &mut alone)
            .unwrap();
        let mut buf = c.clone();
        dec.open_next(&mut buf).unwrap();
        assert_eq!(alone, buf);
        out.extend_from_slice(&buf);
    }
    assert!(dec.is_complete());
    dec.finish().unwrap();
    out
}

#[test]
fn chunked_stream_vectors() {
    let file = load("attachment.json");
    let mut lengths = BTreeSet::new();
    let mut empty_context = false;
    let mut forms = BTreeSet::new();
    for c in arr(&file["chunked"]) {
        let name = st(&c["name"]);
        let len = usize::try_from(big(&c["plaintext_len"])).unwrap();
        lengths.insert(len);
        forms.insert(st(&c["stream_form"]).to_owned());
        let input_key = h32(&c["input_key"]);
        let context = h(&c["context"]);
        empty_context |= context.is_empty();
        let salt: [u8; 24] = h(&c["salt"]).try_into().unwrap();
        assert_eq!(draws(&c["rng_draws"]), vec![salt.to_vec()], "{name}");
        let plaintext = pattern(len);

        // By hand.
        let (stream, chunks) = check_stream(c, &input_key, &salt, &context, &plaintext);

        // Through the API, with the published draw.
        let key = StreamKey::from_bytes(input_key);
        let mut rng = Scripted::new(draws(&c["rng_draws"]));
        let (mut enc, header) = ChunkedEncryptor::new(&mut rng, &key, &context);
        assert_eq!(rng.remaining(), 0);
        assert_eq!(header[..], stream[..HEADER_LEN]);
        for (i, want) in chunks.iter().enumerate() {
            assert!(!enc.is_finished());
            let mut buf = plaintext[i * CHUNK..len.min((i + 1) * CHUNK)].to_vec();
            enc.seal_chunk(&mut buf).unwrap();
            assert_eq!(&buf, want, "{name} chunk {i}");
        }
        assert!(enc.is_finished());
        assert_eq!(enc.chunks_sealed(), chunks.len() as u64);
        assert_eq!(open_chunked(&key, &context, &stream, &chunks), plaintext);
    }
    assert_eq!(
        lengths,
        BTreeSet::from([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 100])
    );
    assert!(empty_context);
    assert_eq!(
        forms,
        BTreeSet::from(["digest".to_owned(), "full".to_owned()])
    );
}

fn info_of(v: &Value) -> AttachmentInfo {
    AttachmentInfo {
        content_type: st(&v["content_type"]).to_owned(),
        file_name: (!v["file_name"].is_null()).then(|| st(&v["file_name"]).to_owned()),
        thumbnail: (!v["thumbnail"].is_null()).then(|| h(&v["thumbnail"])),
        location: h(&v["location"]),
    }
}

/// SPEC.md §14.4 by hand.
fn descriptor_bytes(
    key: &[u8],
    header: &[u8],
    size: u64,
    padded: u64,
    digest: Option<&[u8]>,
    info: &AttachmentInfo,
) -> Vec<u8> {
    let digest = digest.map_or(vec![0], |d| {
        assert_eq!(d.len(), 32);
        cat(&[&[1], d])
    });
    let name = info.file_name.as_ref().map_or(vec![0], |n| {
        cat(&[&[1], &(n.len() as u16).to_be_bytes(), n.as_bytes()])
    });
    let thumbnail = info.thumbnail.as_ref().map_or(vec![0], |t| {
        cat(&[&[1], &(t.len() as u32).to_be_bytes(), t])
    });
    cat(&[
        &[0x01],
        key,
        header,
        &size.to_be_bytes(),
        &padded.to_be_bytes(),
        &digest,
        &[info.content_type.len() as u8],
        info.content_type.as_bytes(),
        &name,
        &thumbnail,
        &[info.location.len() as u8],
        &info.location,
    ])
}

#[test]
fn attachment_vectors() {
    let file = load("attachment.json");
    assert_eq!(kdf::LABEL_ATTACHMENT, b"xchat-protocol v1 attachment");
    let mut sizes = BTreeSet::new();
    let mut saw_default = false;
    let mut saw_every_field = false;
    let mut saw_digest = false;
    for c in arr(&file["attachments"]) {
        let name = st(&c["name"]);
        let size = big(&c["size"]);
        sizes.insert(size);
        let padded = pad(size);
        assert_eq!(padded, padded_len_u64(size));
        assert_eq!(big(&c["padded_size"]), padded, "{name}");
        let rng_draws = draws(&c["rng_draws"]);
        assert_eq!(rng_draws.len(), 2, "the key, then the salt");
        let key = h32(&c["key"]);
        let salt: [u8; 24] = h(&c["salt"]).try_into().unwrap();
        assert_eq!(rng_draws, vec![key.to_vec(), salt.to_vec()]);
        assert_eq!(h(&c["context"]), kdf::LABEL_ATTACHMENT);
        let file_bytes = pattern(usize::try_from(size).unwrap());
        let mut plaintext = file_bytes.clone();
        plaintext.resize(usize::try_from(padded).unwrap(), 0);

        // By hand: the stream of the padded file, each chunk's share of the file, the
        // descriptor.
        let (stream, chunks) = check_stream(c, &key, &salt, kdf::LABEL_ATTACHMENT, &plaintext);
        let file_lens: Vec<usize> = arr(&c["chunks"])
            .iter()
            .map(|ch| nsize(&ch["file_len"]))
            .collect();
        for (i, n) in file_lens.iter().enumerate() {
            let start = (i * CHUNK) as u64;
            let expect = size.clamp(start, start + CHUNK as u64) - start;
            assert_eq!(*n as u64, expect, "{name} chunk {i}");
        }
        let info = info_of(&c["attachment_info"]);
        saw_default |= info == AttachmentInfo::default();
        saw_every_field |= !info.content_type.is_empty()
            && info.file_name.is_some()
            && info.thumbnail.is_some()
            && !info.location.is_empty();
        // The digest, if any: SHA-256 over the whole stored stream, header and every chunk.
        let digest = (!c["digest"].is_null()).then(|| {
            let digest = Sha256::digest(&stream).to_vec();
            assert_eq!(digest, h(&c["digest"]), "{name}");
            digest
        });
        saw_digest |= digest.is_some();
        let descriptor = descriptor_bytes(
            &key,
            &stream[..HEADER_LEN],
            size,
            padded,
            digest.as_deref(),
            &info,
        );
        assert_eq!(descriptor, h(&c["descriptor"]), "{name}");
        assert_eq!(descriptor.len(), nsize(&c["descriptor_len"]));

        // Sealing through the API with the published draws (`with_digest` draws as `new`).
        let mut rng = Scripted::new(rng_draws);
        let mut enc = if digest.is_some() {
            AttachmentEncryptor::with_digest(&mut rng, size)
        } else {
            AttachmentEncryptor::new(&mut rng, size)
        }
        .unwrap();
        assert_eq!(rng.remaining(), 0);
        assert_eq!(enc.header()[..], stream[..HEADER_LEN]);
        assert_eq!(enc.encrypted_len(), stream.len() as u64);
        let mut offset = 0;
        for (i, want) in chunks.iter().enumerate() {
            let n = enc.next_input_len().unwrap();
            assert_eq!(n, file_lens[i], "{name} chunk {i}");
            let mut buf = file_bytes[offset..offset + n].to_vec();
            enc.seal_next(&mut buf).unwrap();
            assert_eq!(&buf, want, "{name} chunk {i}");
            offset += n;
        }
        assert_eq!(enc.next_input_len(), None);
        let made = enc.finish(info.clone()).unwrap();
        assert_eq!(made.to_bytes().unwrap().as_slice(), descriptor.as_slice());

        // Opening through the API from the descriptor bytes.
        let d = AttachmentDescriptor::from_bytes(&descriptor).unwrap();
        assert_eq!(d, made);
        assert_eq!(d.key().as_bytes(), &key);
        assert_eq!(d.header()[..], stream[..HEADER_LEN]);
        assert_eq!((d.size(), d.padded_size()), (size, padded));
        assert_eq!(d.digest().map(|x| x.to_vec()), digest, "{name}");
        assert_eq!(d.info(), &info);
        let mut dec = AttachmentDecryptor::new(&d, &stream[..HEADER_LEN]).unwrap();
        dec.check_stored_len(stream.len() as u64).unwrap();
        assert_eq!(dec.chunk_count(), chunks.len() as u64);
        assert_eq!(dec.encrypted_len(), stream.len() as u64);
        let mut out = Vec::new();
        for (i, sealed) in chunks.iter().enumerate() {
            let r = dec.encrypted_range(i as u64).unwrap();
            assert_eq!(&stream[r.start as usize..r.end as usize], &sealed[..]);
            let f = dec.file_range(i as u64).unwrap();
            assert_eq!(f.end - f.start, file_lens[i] as u64);
            let mut alone = sealed.clone();
            dec.open_chunk(i as u64, &mut alone).unwrap();
            let mut buf = sealed.clone();
            dec.open_next(&mut buf).unwrap();
            assert_eq!(alone, buf);
            assert_eq!(buf, file_bytes[f.start as usize..f.end as usize]);
            out.extend_from_slice(&buf);
        }
        assert!(dec.is_complete());
        assert_eq!(out, file_bytes, "{name}");
    }
    assert_eq!(
        sizes,
        BTreeSet::from([
            0,
            1,
            CHUNK as u64,
            CHUNK as u64 + 1,
            2 * CHUNK as u64,
            3 * CHUNK as u64 + 100
        ])
    );
    assert!(saw_default && saw_every_field && saw_digest);
}

/// The published draws are the ChaCha20 stream of `rng_seed`: per chunked case the input key
/// (not an RNG draw of the API, but drawn by the generator) and the salt, then per attachment
/// its key and salt.
#[test]
fn attachment_draws_come_from_the_seed() {
    let file = load("attachment.json");
    let mut all = Vec::new();
    for c in arr(&file["chunked"]) {
        all.push(h(&c["input_key"]));
        all.extend(draws(&c["rng_draws"]));
    }
    for c in arr(&file["attachments"]) {
        all.extend(draws(&c["rng_draws"]));
    }
    check_chacha_stream(h32(&file["rng_seed"]), &all);
}

/// The input with `followed_by_zero_bytes` appended.
fn decode_input(n: &Value) -> Vec<u8> {
    let mut input = h(&n["input"]);
    if !n["followed_by_zero_bytes"].is_null() {
        input.resize(input.len() + nsize(&n["followed_by_zero_bytes"]), 0);
    }
    input
}

#[test]
fn descriptor_decoding_vectors() {
    let file = load("attachment.json");
    let mut saw_digest = false;
    for a in arr(&file["descriptor_accepted"]) {
        let name = st(&a["name"]);
        assert_eq!(st(&a["operation"]), "AttachmentDescriptor::from_bytes");
        let input = decode_input(a);
        let d =
            AttachmentDescriptor::from_bytes(&input).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(d.to_bytes().unwrap().as_slice(), input.as_slice(), "{name}");
        assert_eq!(d.size(), big(&a["size"]), "{name}");
        assert_eq!(d.padded_size(), big(&a["padded_size"]), "{name}");
        assert_eq!(d.padded_size(), pad(d.size()), "{name}");
        assert_eq!(
            d.digest().map(|x| x.to_vec()),
            (!a["digest"].is_null()).then(|| h(&a["digest"])),
            "{name}"
        );
        saw_digest |= d.digest().is_some();
        let info = d.info();
        assert_eq!(info.content_type.len(), nsize(&a["content_type_len"]));
        assert_eq!(
            info.file_name.as_ref().map(String::len),
            (!a["file_name_len"].is_null()).then(|| nsize(&a["file_name_len"]))
        );
        assert_eq!(
            info.thumbnail.as_ref().map(Vec::len),
            (!a["thumbnail_len"].is_null()).then(|| nsize(&a["thumbnail_len"]))
        );
        assert_eq!(info.location.len(), nsize(&a["location_len"]));
    }
    assert!(saw_digest, "no accepted descriptor with a digest");
    let mut errors = BTreeSet::new();
    let mut names = BTreeSet::new();
    for n in arr(&file["descriptor_negative"]) {
        let name = st(&n["name"]);
        names.insert(name);
        assert_eq!(st(&n["operation"]), "AttachmentDescriptor::from_bytes");
        let got = AttachmentDescriptor::from_bytes(&decode_input(n))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(format!("{got:?}"), st(&n["expected_error"]), "{name}");
        errors.insert(format!("{got:?}"));
    }
    for e in [
        "UnknownVersion(2)",
        "TooLarge",
        "NonCanonical",
        "Truncated",
        "TrailingBytes",
    ] {
        assert!(errors.contains(e), "no case for {e}");
    }
    // The digest's flag and its 32 bytes (SPEC.md §14.4).
    assert!(names.contains("digest flag 2"));
    assert!(names.iter().any(|n| n.starts_with("cut inside the digest")));
}

/// A negative case's crafted chunk, by hand (the descriptor's key and salt under
/// `LABEL_ATTACHMENT`, AES-GCM at the chunk's nonce) and through `ChunkedEncryptor` with the
/// descriptor's salt as the draw (earlier chunks sealed with the file's bytes); the plaintext is
/// the file's bytes followed by padding that is not all zeros.
fn check_crafted(d: &AttachmentDescriptor, crafted: &Value, sealed: &[u8]) {
    let index = nsize(&crafted["chunk_index"]);
    let plaintext = h(&crafted["plaintext"]);
    let file = pattern(usize::try_from(d.size()).unwrap());
    let start = index * CHUNK;
    let file_part = &file[start.min(file.len())..file.len().min(start + CHUNK)];
    assert_eq!(&plaintext[..file_part.len()], file_part);
    assert!(plaintext[file_part.len()..].iter().any(|b| *b != 0));
    assert_eq!(
        start + plaintext.len(),
        usize::try_from(d.padded_size()).unwrap().min(start + CHUNK)
    );
    let salt = &d.header()[..24];
    let info = cat(&[kdf::LABEL_CHUNKED, salt, kdf::LABEL_ATTACHMENT]);
    let okm = hkdf_expand_sha512(d.key().as_bytes(), &info, 76);
    assert_eq!(okm[44..], d.header()[24..], "the descriptor's commitment");
    let key: [u8; 32] = okm[..32].try_into().unwrap();
    let base: [u8; 12] = okm[32..44].try_into().unwrap();
    assert_eq!(
        gcm_seal(&key, &nonce(&base, index as u64), &[], &plaintext),
        sealed
    );
    let mut rng = Scripted::new(vec![salt.to_vec()]);
    let (mut enc, header) = ChunkedEncryptor::new(&mut rng, d.key(), kdf::LABEL_ATTACHMENT);
    assert_eq!(&header, d.header());
    for i in 0..index {
        let mut buf = file[i * CHUNK..(i + 1) * CHUNK].to_vec();
        enc.seal_chunk(&mut buf).unwrap();
    }
    let mut buf = plaintext;
    enc.seal_chunk(&mut buf).unwrap();
    assert_eq!(buf, sealed);
}

/// A holder's forgery against a descriptor with a digest (`forged`): another file sealed under
/// the descriptor's key and salt, recomputed by hand (AES-256-GCM under the keys of
/// HKDF-Expand-SHA-512) and through `AttachmentEncryptor::new` given the descriptor's key and
/// salt as its draws, then opened in order against the descriptor. Every chunk but the final one
/// opens as the forged file's bytes; the final one fails (returned) and is left as it was; alone,
/// it opens, and the same stream opens completely under the descriptor without its digest: only
/// the digest tells the forgery apart.
fn open_forgery(name: &str, d: &AttachmentDescriptor, n: &Value) -> AttachmentError {
    let f = &n["forged"];
    let digest = d.digest().expect("a descriptor with a digest");
    let rng_draws = draws(&f["rng_draws"]);
    assert_eq!(
        rng_draws,
        vec![d.key().as_bytes().to_vec(), d.header()[..24].to_vec()],
        "{name}: the descriptor's key and salt"
    );
    let xor: [u8; 1] = h(&f["file_xor"]).try_into().unwrap();
    let file: Vec<u8> = pattern(usize::try_from(d.size()).unwrap())
        .iter()
        .map(|b| b ^ xor[0])
        .collect();
    let mut plaintext = file.clone();
    plaintext.resize(usize::try_from(d.padded_size()).unwrap(), 0);

    // By hand.
    let info = cat(&[kdf::LABEL_CHUNKED, &d.header()[..24], kdf::LABEL_ATTACHMENT]);
    let okm = hkdf_expand_sha512(d.key().as_bytes(), &info, 76);
    assert_eq!(
        okm[44..],
        d.header()[24..],
        "{name}: the descriptor's commitment"
    );
    let aead_key: [u8; 32] = okm[..32].try_into().unwrap();
    let base: [u8; 12] = okm[32..44].try_into().unwrap();
    let chunks: Vec<Vec<u8>> = (0..plaintext.len() / CHUNK + 1)
        .map(|i| {
            let piece = &plaintext[i * CHUNK..plaintext.len().min((i + 1) * CHUNK)];
            gcm_seal(&aead_key, &nonce(&base, i as u64), &[], piece)
        })
        .collect();
    let published = arr(&f["chunks"]);
    assert_eq!(published.len(), chunks.len(), "{name}");
    let mut stream = d.header().to_vec();
    for (i, (c, p)) in chunks.iter().zip(published).enumerate() {
        assert_eq!(nsize(&p["index"]), i);
        assert_eq!(h12(&p["nonce"]), nonce(&base, i as u64), "{name} chunk {i}");
        assert_eq!(nsize(&p["sealed_len"]), c.len(), "{name} chunk {i}");
        assert_eq!(c[c.len() - 16..], h(&p["tag"])[..], "{name} chunk {i}");
        assert_eq!(Sha256::digest(c)[..], h(&p["sealed_sha256"])[..]);
        stream.extend_from_slice(c);
    }
    let forged_digest = Sha256::digest(&stream);
    assert_eq!(forged_digest[..], h(&f["stream_sha256"])[..], "{name}");
    assert_ne!(forged_digest[..], digest[..], "{name}: another stream");
    let (last, earlier) = chunks.split_last().unwrap();
    assert_eq!(last, &h(&f["final_chunk"]), "{name}");

    // Through the API, with the descriptor's key and salt as the draws.
    let mut rng = Scripted::new(rng_draws);
    let mut enc = AttachmentEncryptor::new(&mut rng, d.size()).unwrap();
    assert_eq!(rng.remaining(), 0);
    assert_eq!(enc.header(), d.header());
    let mut offset = 0;
    for (i, want) in chunks.iter().enumerate() {
        let n = enc.next_input_len().unwrap();
        let mut buf = file[offset..offset + n].to_vec();
        enc.seal_next(&mut buf).unwrap();
        assert_eq!(&buf, want, "{name} chunk {i}");
        offset += n;
    }
    assert_eq!(enc.next_input_len(), None);

    // Opened in order against the descriptor.
    let mut dec = AttachmentDecryptor::new(d, &stream[..HEADER_LEN]).unwrap();
    dec.check_stored_len(stream.len() as u64).unwrap();
    for (i, c) in earlier.iter().enumerate() {
        let mut buf = c.clone();
        dec.open_next(&mut buf).unwrap();
        let r = dec.file_range(i as u64).unwrap();
        assert_eq!(
            buf,
            file[r.start as usize..r.end as usize],
            "{name} chunk {i}"
        );
    }
    assert_eq!(nsize(&n["failing_piece"]), earlier.len(), "{name}");
    let mut buf = last.clone();
    let e = dec.open_next(&mut buf).unwrap_err();
    assert_eq!(&buf, last, "{name}: left as it was");
    assert!(!dec.is_complete(), "{name}");
    dec.open_chunk(earlier.len() as u64, &mut last.clone())
        .expect("alone, the forged final chunk is authentic under the key");

    // The same descriptor without its digest (encoded by hand) opens the forgery completely.
    let bare = descriptor_bytes(
        d.key().as_bytes(),
        d.header(),
        d.size(),
        d.padded_size(),
        None,
        d.info(),
    );
    let bare = AttachmentDescriptor::from_bytes(&bare).unwrap();
    assert!(bare.digest().is_none());
    let mut dec = AttachmentDecryptor::new(&bare, &stream[..HEADER_LEN]).unwrap();
    let mut out = Vec::new();
    for c in &chunks {
        let mut buf = c.clone();
        dec.open_next(&mut buf).unwrap();
        out.extend_from_slice(&buf);
    }
    assert!(dec.is_complete());
    assert_eq!(out, file, "{name}: the forged file");
    e
}

/// `AttachmentDecryptor::new`'s verdict by hand, its checks in its order (a descriptor that
/// decodes is within the size limit, checked first): the stored header's length, then its
/// equality with the descriptor's header, then the descriptor's commitment against its key.
fn by_hand_new(d: &AttachmentDescriptor, stored: &[u8]) -> &'static str {
    if stored.len() < HEADER_LEN {
        return "Truncated";
    }
    if stored.len() > HEADER_LEN {
        return "TrailingData";
    }
    if stored != d.header() {
        return "WrongKey";
    }
    let info = cat(&[kdf::LABEL_CHUNKED, &stored[..24], kdf::LABEL_ATTACHMENT]);
    let okm = hkdf_expand_sha512(d.key().as_bytes(), &info, 76);
    if okm[44..] == stored[24..] {
        "accepted"
    } else {
        "WrongKey"
    }
}

#[test]
fn stream_and_attachment_negative_vectors() {
    let file = load("attachment.json");
    let chunked = arr(&file["chunked"]);

    // ChunkedDecryptor: new, open_next on each piece, finish.
    let mut errors = BTreeSet::new();
    for n in arr(&file["stream_negative"]) {
        let name = st(&n["name"]);
        assert_eq!(st(&n["operation"]), "ChunkedDecryptor");
        let base = chunked
            .iter()
            .find(|c| c["name"] == n["base"])
            .expect("base case");
        let base_chunks = split_chunks(&h(&base["stream"]));
        assert_eq!(base_chunks.len(), arr(&base["chunks"]).len());
        let pieces: Vec<Vec<u8>> = arr(&n["pieces"])
            .iter()
            .map(|p| {
                if p["chunk"].is_null() {
                    h(&p["bytes"])
                } else {
                    base_chunks[nsize(&p["chunk"])].clone()
                }
            })
            .collect();
        let key = StreamKey::from_bytes(h32(&n["key"]));
        let fails = |at: &str, piece: Option<usize>, e: AttachmentError| {
            assert_eq!(st(&n["fails_at"]), at, "{name}");
            assert_eq!(
                (!n["failing_piece"].is_null()).then(|| nsize(&n["failing_piece"])),
                piece,
                "{name}"
            );
            assert_eq!(format!("{e:?}"), st(&n["expected_error"]), "{name}");
            format!("{e:?}")
        };
        let got = 'run: {
            let mut dec = match ChunkedDecryptor::new(&key, &h(&n["context"]), &h(&n["header"])) {
                Ok(d) => d,
                Err(e) => break 'run fails("ChunkedDecryptor::new", None, e),
            };
            for (i, p) in pieces.iter().enumerate() {
                let mut buf = p.clone();
                if let Err(e) = dec.open_next(&mut buf) {
                    assert_eq!(&buf, p, "{name}: the chunk is left as it was");
                    assert_eq!(dec.chunks_opened(), i as u64, "{name}");
                    break 'run fails("ChunkedDecryptor::open_next", Some(i), e);
                }
            }
            assert!(n["finish"].as_bool().unwrap(), "{name} fails nowhere");
            fails("ChunkedDecryptor::finish", None, dec.finish().unwrap_err())
        };
        errors.insert(got);
    }
    for e in [
        "WrongKey",
        "Truncated",
        "TrailingData",
        "ChunkAuthentication(0)",
        "ChunkAuthentication(1)",
    ] {
        assert!(errors.contains(e), "no stream case for {e}");
    }

    // AttachmentDecryptor.
    let mut ops = BTreeSet::new();
    let mut errors = BTreeSet::new();
    for n in arr(&file["attachment_negative"]) {
        let name = st(&n["name"]);
        let op = st(&n["operation"]);
        ops.insert(op.to_owned());
        let d = AttachmentDescriptor::from_bytes(&h(&n["descriptor"])).unwrap();
        let expected = st(&n["expected_error"]);
        let check_buf = |e: &AttachmentError, buf: &[u8], given: &[u8]| {
            if matches!(e, AttachmentError::InvalidPadding(_)) {
                assert!(buf.iter().all(|b| *b == 0), "{name}: wiped");
            } else {
                assert_eq!(buf, given, "{name}: left as it was");
            }
        };
        // Every operation but `new` runs on a decryptor given the descriptor's own header.
        let got = match op {
            "AttachmentDecryptor::new" => {
                let stored = h(&n["stored_header"]);
                assert_eq!(by_hand_new(&d, &stored), expected, "{name}: by hand");
                AttachmentDecryptor::new(&d, &stored)
                    .map(|_| ())
                    .unwrap_err()
            }
            "AttachmentDecryptor::check_stored_len" => AttachmentDecryptor::new(&d, d.header())
                .unwrap()
                .check_stored_len(big(&n["stored_len"]))
                .unwrap_err(),
            "AttachmentDecryptor::open_next" if !n["forged"].is_null() => open_forgery(name, &d, n),
            "AttachmentDecryptor::open_next" => {
                let mut dec = AttachmentDecryptor::new(&d, d.header()).unwrap();
                let pieces = draws(&n["pieces"]);
                let (last, ok) = pieces.split_last().unwrap();
                for p in ok {
                    dec.open_next(&mut p.clone()).unwrap();
                }
                let mut buf = last.clone();
                let e = dec.open_next(&mut buf).unwrap_err();
                check_buf(&e, &buf, last);
                if !n["crafted"].is_null() {
                    check_crafted(&d, &n["crafted"], last);
                }
                e
            }
            "AttachmentDecryptor::open_chunk" => {
                let dec = AttachmentDecryptor::new(&d, d.header()).unwrap();
                let chunk = h(&n["chunk"]);
                let mut buf = chunk.clone();
                let e = dec
                    .open_chunk(n["index"].as_u64().expect("a chunk index"), &mut buf)
                    .unwrap_err();
                check_buf(&e, &buf, &chunk);
                if !n["crafted"].is_null() {
                    check_crafted(&d, &n["crafted"], &chunk);
                }
                e
            }
            other => panic!("unknown operation {other}"),
        };
        assert_eq!(format!("{got:?}"), expected, "{name}");
        errors.insert(expected.to_owned());
    }
    assert_eq!(ops.len(), 4);
    for e in [
        "WrongKey",
        "Truncated",
        "InvalidPadding(0)",
        "InvalidPadding(1)",
        "TrailingData",
        "DigestMismatch",
    ] {
        assert!(errors.contains(e), "no attachment case for {e}");
    }
}
