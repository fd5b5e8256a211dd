//! attachment.json: C2SP chunked streams (Cobblestone-256) with every derived value (SPEC.md
//! §14.1), padded attachments and their descriptors (§14.2–§14.4), and negative cases: descriptor
//! decoding, stream and attachment opening (§14.1, §14.2, §14.5).
//!
//! Every stream is recomputed here without the crate's stream code — HKDF-Expand-SHA-512 written
//! out with the `hmac` crate, AES-256-GCM with `aes-gcm` and the XOR nonce, Padmé by its formula,
//! the digest as SHA-256 over the whole stored stream with `sha2`, the descriptor field by
//! field — and asserted equal to what `ChunkedEncryptor`, `AttachmentEncryptor` (`new` and
//! `with_digest`) and `kdf::chunked_keys` produce before anything is written.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};
use xchat_protocol::DecodeError;
use xchat_protocol::attachment::chunked::{
    CHUNK_LEN, ChunkedDecryptor, ChunkedEncryptor, HEADER_LEN, Layout, MAX_CHUNKS,
    SEALED_CHUNK_LEN, StreamKey,
};
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentDescriptor, AttachmentEncryptor, AttachmentError,
    AttachmentInfo, DESCRIPTOR_VERSION, MAX_ATTACHMENT_LEN, MAX_CONTENT_TYPE_LEN,
    MAX_FILE_NAME_LEN, MAX_LOCATION_LEN, MAX_THUMBNAIL_LEN,
};
use xchat_protocol::kdf;
use xchat_protocol::padding::{MIN_PADDED_LEN, padded_len_u64};

use super::json::{Json, Obj, big, hx};
use super::primitives::gcm_seal;
use super::rng::{Recorder, Scripted};
use super::shared::{draws_json, header};

/// The seed of every draw in the file.
const RNG_SEED: [u8; 32] = [0x41; 32];
/// The plaintext of every stream and the file of every attachment: byte `i` is `i mod 251`.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The suite's prefix of the HKDF info, from SPEC.md §14.1's text.
fn label_chunked() -> Vec<u8> {
    [
        &b"c2sp.org/chunked-encryption@v1+"[..],
        b"AEAD_AES_256_GCM",
        &[0x00],
    ]
    .concat()
}

/// `HKDF-Expand-SHA-512(PRK = input key, info, 76)`: `T(1) ‖ T(2)[..12]`, with
/// `T(1) = HMAC(PRK, info ‖ 0x01)` and `T(2) = HMAC(PRK, T(1) ‖ info ‖ 0x02)` (RFC 5869, no
/// Extract).
fn expand_76(input_key: &[u8; 32], info: &[u8]) -> [u8; 76] {
    let block = |previous: &[u8], counter: u8| {
        let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(input_key).expect("any length");
        mac.update(previous);
        mac.update(info);
        mac.update(&[counter]);
        mac.finalize().into_bytes().to_vec()
    };
    let t1 = block(&[], 1);
    let t2 = block(&t1, 2);
    let mut okm = [0u8; 76];
    okm[..64].copy_from_slice(&t1);
    okm[64..].copy_from_slice(&t2[..12]);
    okm
}

/// Padmé with the 256-byte floor (SPEC.md §8.2, §14.3), from its definition: with
/// `E = ⌊log2 L⌋` and `S = ⌊log2 E⌋ + 1`, round `L` up to a multiple of `2^(E − S)`.
pub fn padme(len: u64) -> u64 {
    let padded = if len < 2 {
        len
    } else {
        let e = len.ilog2();
        let s = e.ilog2() + 1;
        let step = 1u64 << (e - s);
        len.div_ceil(step) * step
    };
    padded.max(256)
}

/// One chunk of a stream, by hand.
pub struct ChunkParts {
    pub plaintext_len: usize,
    pub nonce: [u8; 12],
    pub sealed: Vec<u8>,
}

/// Every value of SPEC.md §14.1 for one stream, by hand.
pub struct StreamParts {
    pub info: Vec<u8>,
    pub aead_key: [u8; 32],
    pub base_nonce: [u8; 12],
    pub commitment: [u8; 32],
    pub header: Vec<u8>,
    pub chunks: Vec<ChunkParts>,
    pub stream: Vec<u8>,
}

/// `base nonce XOR i`, `i` big-endian in the last 8 bytes.
pub fn chunk_nonce(base: &[u8; 12], index: u64) -> [u8; 12] {
    let mut nonce = *base;
    for (n, i) in nonce[4..].iter_mut().zip(index.to_be_bytes()) {
        *n ^= i;
    }
    nonce
}

pub fn stream_parts(
    input_key: &[u8; 32],
    salt: &[u8; 24],
    context: &[u8],
    plaintext: &[u8],
) -> StreamParts {
    let info = [&label_chunked()[..], salt, context].concat();
    let okm = expand_76(input_key, &info);
    let aead_key: [u8; 32] = okm[..32].try_into().unwrap();
    let base_nonce: [u8; 12] = okm[32..44].try_into().unwrap();
    let commitment: [u8; 32] = okm[44..].try_into().unwrap();
    let header = [&salt[..], &commitment].concat();
    let mut stream = header.clone();
    let mut chunks = Vec::new();
    // ⌊L / 16384⌋ full chunks, then a final one of 0 to 16 383 bytes.
    let count = plaintext.len() / CHUNK_LEN + 1;
    for i in 0..count {
        let piece = &plaintext[i * CHUNK_LEN..plaintext.len().min((i + 1) * CHUNK_LEN)];
        let nonce = chunk_nonce(&base_nonce, i as u64);
        let sealed = gcm_seal(&aead_key, &nonce, &[], piece);
        stream.extend_from_slice(&sealed);
        chunks.push(ChunkParts {
            plaintext_len: piece.len(),
            nonce,
            sealed,
        });
    }
    StreamParts {
        info,
        aead_key,
        base_nonce,
        commitment,
        header,
        chunks,
        stream,
    }
}

/// The descriptor of SPEC.md §14.4, field by field.
pub fn descriptor_by_hand(
    key: &[u8; 32],
    header: &[u8],
    size: u64,
    padded: u64,
    digest: Option<&[u8; 32]>,
    info: &AttachmentInfo,
) -> Vec<u8> {
    let mut d = vec![0x01];
    d.extend_from_slice(key);
    d.extend_from_slice(header);
    d.extend_from_slice(&size.to_be_bytes());
    d.extend_from_slice(&padded.to_be_bytes());
    match digest {
        Some(digest) => {
            d.push(1);
            d.extend_from_slice(digest);
        }
        None => d.push(0),
    }
    d.push(u8::try_from(info.content_type.len()).unwrap());
    d.extend_from_slice(info.content_type.as_bytes());
    match &info.file_name {
        Some(name) => {
            d.push(1);
            d.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
            d.extend_from_slice(name.as_bytes());
        }
        None => d.push(0),
    }
    match &info.thumbnail {
        Some(t) => {
            d.push(1);
            d.extend_from_slice(&u32::try_from(t.len()).unwrap().to_be_bytes());
            d.extend_from_slice(t);
        }
        None => d.push(0),
    }
    d.push(u8::try_from(info.location.len()).unwrap());
    d.extend_from_slice(&info.location);
    d
}

/// How a case publishes its stream: in full, or by digest (its SHA-256, every chunk's tag and
/// SHA-256, and the final chunk).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Full,
    Digest,
}

fn stream_fields(o: Obj, parts: &StreamParts, form: Form) -> Obj {
    let last = parts.chunks.last().expect("a final chunk");
    o.f(
        "stream_form",
        if form == Form::Full { "full" } else { "digest" },
    )
    .f("stream_sha256", hx(Sha256::digest(&parts.stream)))
    .f(
        "stream",
        if form == Form::Full {
            hx(&parts.stream)
        } else {
            Json::Null
        },
    )
    .f(
        "final_chunk",
        if form == Form::Digest {
            hx(&last.sealed)
        } else {
            Json::Null
        },
    )
}

fn chunk_json(index: usize, c: &ChunkParts) -> Obj {
    Obj::new()
        .f("index", index)
        .f("plaintext_len", c.plaintext_len)
        .f("nonce", hx(c.nonce))
        .f("sealed_len", c.sealed.len())
        .f("tag", hx(&c.sealed[c.sealed.len() - 16..]))
        .f("sealed_sha256", hx(Sha256::digest(&c.sealed)))
}

/// The crate's keys equal the hand-made ones.
fn assert_keys(parts: &StreamParts, input_key: &[u8; 32], salt: &[u8; 24], context: &[u8]) {
    let keys = kdf::chunked_keys(input_key, salt, context);
    assert_eq!(keys.key, parts.aead_key);
    assert_eq!(keys.base_nonce, parts.base_nonce);
    assert_eq!(keys.commitment, parts.commitment);
}

/// Seals `plaintext` with `ChunkedEncryptor` (the salt drawn from `rng`); returns the stream.
fn seal_with_crate(
    rng: &mut Recorder,
    key: &StreamKey,
    context: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let (mut enc, header) = ChunkedEncryptor::new(rng, key, context);
    let mut stream = header.to_vec();
    let mut rest = plaintext;
    while !enc.is_finished() {
        let (piece, tail) = rest.split_at(rest.len().min(CHUNK_LEN));
        let mut buf = piece.to_vec();
        enc.seal_chunk(&mut buf).expect("seal");
        stream.extend_from_slice(&buf);
        rest = tail;
    }
    assert!(rest.is_empty());
    stream
}

/// Opens a whole stream with `ChunkedDecryptor`, in order.
fn open_with_crate(key: &StreamKey, context: &[u8], stream: &[u8]) -> Vec<u8> {
    let mut dec = ChunkedDecryptor::new(key, context, &stream[..HEADER_LEN]).expect("header");
    let mut out = Vec::new();
    for piece in stream[HEADER_LEN..].chunks(SEALED_CHUNK_LEN) {
        let mut buf = piece.to_vec();
        dec.open_next(&mut buf).expect("chunk");
        out.extend_from_slice(&buf);
    }
    dec.finish().expect("complete");
    out
}

/// One published chunked case: its inputs, parts and the crate's agreement.
struct ChunkedCase {
    name: &'static str,
    input_key: [u8; 32],
    context: Vec<u8>,
    salt: [u8; 24],
    parts: StreamParts,
    plaintext_len: usize,
}

fn chunked_case(rng: &mut Recorder, name: &'static str, len: usize, context: &[u8]) -> ChunkedCase {
    let input_key = rng.bytes32();
    let key = StreamKey::from_bytes(input_key);
    let plaintext = pattern(len);
    let stream = seal_with_crate(rng, &key, context, &plaintext);
    let draws = rng.take();
    assert_eq!(draws.len(), 1, "ChunkedEncryptor::new draws the salt alone");
    let salt: [u8; 24] = draws[0].clone().try_into().expect("24-byte salt");
    let parts = stream_parts(&input_key, &salt, context, &plaintext);
    assert_eq!(parts.stream, stream, "{name}");
    assert_keys(&parts, &input_key, &salt, context);
    let layout = Layout::for_plaintext(len as u64).unwrap();
    assert_eq!(layout.chunk_count(), parts.chunks.len() as u64);
    assert_eq!(layout.encrypted_len(), stream.len() as u64);
    assert_eq!(Layout::for_encrypted(stream.len() as u64).unwrap(), layout);
    assert_eq!(open_with_crate(&key, context, &stream), plaintext);
    ChunkedCase {
        name,
        input_key,
        context: context.to_vec(),
        salt,
        parts,
        plaintext_len: len,
    }
}

fn chunked_json(c: &ChunkedCase, description: &str, form: Form) -> Json {
    let p = &c.parts;
    let o = Obj::new()
        .f("name", c.name)
        .f("description", description)
        .f("plaintext_len", big(c.plaintext_len as u64))
        .f("context", hx(&c.context))
        .f("input_key", hx(c.input_key))
        .f("rng_draws", draws_json(&[c.salt.to_vec()]))
        .f("salt", hx(c.salt))
        .f("info", hx(&p.info))
        .f("aead_key", hx(p.aead_key))
        .f("base_nonce", hx(p.base_nonce))
        .f("commitment", hx(p.commitment))
        .f("header", hx(&p.header))
        .f("chunk_count", big(p.chunks.len() as u64))
        .f("encrypted_len", big(p.stream.len() as u64))
        .f(
            "chunks",
            Json::Array(
                p.chunks
                    .iter()
                    .enumerate()
                    .map(|(i, ch)| chunk_json(i, ch).into())
                    .collect(),
            ),
        );
    stream_fields(o, p, form).into()
}

/// One published attachment case.
struct AttachmentCase {
    name: &'static str,
    size: u64,
    draws: Vec<Vec<u8>>,
    parts: StreamParts,
    file_lens: Vec<usize>,
    info: AttachmentInfo,
    /// The descriptor's digest (sealed with `AttachmentEncryptor::with_digest`), or none.
    digest: Option<[u8; 32]>,
    descriptor: Vec<u8>,
}

fn attachment_case(
    rng: &mut Recorder,
    name: &'static str,
    size: usize,
    info: AttachmentInfo,
    with_digest: bool,
) -> AttachmentCase {
    let file = pattern(size);
    let mut enc = if with_digest {
        AttachmentEncryptor::with_digest(rng, size as u64)
    } else {
        AttachmentEncryptor::new(rng, size as u64)
    }
    .expect("size");
    let draws = rng.take();
    assert_eq!(
        draws.iter().map(Vec::len).collect::<Vec<_>>(),
        [32, 24],
        "the key, then the salt (with or without a digest)"
    );
    let mut stored = enc.header().to_vec();
    let mut file_lens = Vec::new();
    let mut rest = &file[..];
    while let Some(n) = enc.next_input_len() {
        let (piece, tail) = rest.split_at(n);
        let mut buf = piece.to_vec();
        enc.seal_next(&mut buf).expect("seal");
        stored.extend_from_slice(&buf);
        file_lens.push(n);
        rest = tail;
    }
    assert!(rest.is_empty());
    assert_eq!(enc.encrypted_len(), stored.len() as u64);
    let descriptor = enc.finish(info.clone()).expect("finish");
    let bytes = descriptor.to_bytes().unwrap().to_vec();

    // By hand: the file and its zeros, as one §14.1 stream under LABEL_ATTACHMENT.
    let key: [u8; 32] = draws[0].clone().try_into().unwrap();
    let salt: [u8; 24] = draws[1].clone().try_into().unwrap();
    let padded = padme(size as u64);
    assert_eq!(padded, padded_len_u64(size as u64));
    assert_eq!(descriptor.padded_size(), padded);
    let mut plaintext = file.clone();
    plaintext.resize(usize::try_from(padded).unwrap(), 0);
    assert_eq!(kdf::LABEL_ATTACHMENT, b"xchat-protocol v1 attachment");
    let parts = stream_parts(&key, &salt, kdf::LABEL_ATTACHMENT, &plaintext);
    assert_eq!(parts.stream, stored, "{name}");
    assert_keys(&parts, &key, &salt, kdf::LABEL_ATTACHMENT);
    for (i, (n, c)) in file_lens.iter().zip(&parts.chunks).enumerate() {
        let start = (i * CHUNK_LEN).min(size);
        assert_eq!(*n, (start + c.plaintext_len).min(size) - start);
    }
    // The digest, by hand: SHA-256 over the whole stored stream (header and every chunk).
    let digest: Option<[u8; 32]> = with_digest.then(|| Sha256::digest(&parts.stream).into());
    assert_eq!(descriptor.digest(), digest.as_ref(), "{name}");
    let by_hand = descriptor_by_hand(
        &key,
        &parts.header,
        size as u64,
        padded,
        digest.as_ref(),
        &info,
    );
    assert_eq!(by_hand, bytes, "{name}");
    assert_eq!(descriptor.key().as_bytes(), &key);

    // The crate opens it: in order, and each chunk alone.
    let decoded = AttachmentDescriptor::from_bytes(&bytes).expect("decode");
    assert_eq!(decoded, descriptor);
    let mut dec = AttachmentDecryptor::new(&decoded, &stored[..HEADER_LEN]).expect("decryptor");
    dec.check_stored_len(stored.len() as u64).unwrap();
    let mut out = Vec::new();
    for i in 0..dec.chunk_count() {
        let r = dec.encrypted_range(i).unwrap();
        let mut buf = stored[r.start as usize..r.end as usize].to_vec();
        let mut alone = buf.clone();
        dec.open_chunk(i, &mut alone).unwrap();
        dec.open_next(&mut buf).unwrap();
        assert_eq!(alone, buf);
        out.extend_from_slice(&buf);
    }
    assert!(dec.is_complete());
    assert_eq!(out, file);
    AttachmentCase {
        name,
        size: size as u64,
        draws,
        parts,
        file_lens,
        info,
        digest,
        descriptor: bytes,
    }
}

fn info_json(info: &AttachmentInfo) -> Json {
    Obj::new()
        .f("content_type", info.content_type.as_str())
        .f(
            "file_name",
            info.file_name.as_deref().map_or(Json::Null, Json::from),
        )
        .f("thumbnail", info.thumbnail.as_ref().map_or(Json::Null, hx))
        .f("location", hx(&info.location))
        .into()
}

fn attachment_case_json(c: &AttachmentCase, description: &str, form: Form) -> Json {
    let p = &c.parts;
    let padded = padme(c.size);
    let o = Obj::new()
        .f("name", c.name)
        .f("description", description)
        .f("size", big(c.size))
        .f("padded_size", big(padded))
        .f("rng_draws", draws_json(&c.draws))
        .f("key", hx(&c.draws[0]))
        .f("salt", hx(&c.draws[1]))
        .f("context", hx(kdf::LABEL_ATTACHMENT))
        .f("info", hx(&p.info))
        .f("aead_key", hx(p.aead_key))
        .f("base_nonce", hx(p.base_nonce))
        .f("commitment", hx(p.commitment))
        .f("header", hx(&p.header))
        .f("chunk_count", big(p.chunks.len() as u64))
        .f("encrypted_len", big(p.stream.len() as u64))
        .f(
            "chunks",
            Json::Array(
                p.chunks
                    .iter()
                    .zip(&c.file_lens)
                    .enumerate()
                    .map(|(i, (ch, n))| chunk_json(i, ch).f("file_len", *n).into())
                    .collect(),
            ),
        );
    stream_fields(o, p, form)
        .f("attachment_info", info_json(&c.info))
        .f("digest", c.digest.as_ref().map_or(Json::Null, hx))
        .f("descriptor_len", c.descriptor.len())
        .f("descriptor", hx(&c.descriptor))
        .into()
}

pub fn attachment_json() -> Json {
    let mut rng = Recorder::new(RNG_SEED);
    assert_eq!(kdf::LABEL_CHUNKED, label_chunked().as_slice());

    // §14.1 streams.
    let long_context: Vec<u8> = b"xchat-protocol test vectors: a context long enough that the HKDF info spans two SHA-512 blocks".to_vec();
    let specs: [(&str, usize, &[u8], &str, Form); 6] = [
        (
            "empty",
            0,
            b"xchat-protocol test vectors",
            "no plaintext: one empty final chunk (the tag alone)",
            Form::Full,
        ),
        (
            "one_byte",
            1,
            b"",
            "one byte, the empty context",
            Form::Full,
        ),
        (
            "one_short_of_a_chunk",
            CHUNK_LEN - 1,
            b"backup\x00\xff",
            "16 383 bytes: the longest final chunk, alone; a context with bytes 0x00 and 0xFF",
            Form::Full,
        ),
        (
            "one_full_chunk",
            CHUNK_LEN,
            b"xchat-protocol test vectors",
            "16 384 bytes: one full chunk, then an empty final chunk",
            Form::Full,
        ),
        (
            "one_past_a_chunk",
            CHUNK_LEN + 1,
            b"xchat-protocol test vectors",
            "16 385 bytes: one full chunk, then a final chunk of one byte",
            Form::Digest,
        ),
        (
            "many_chunks",
            3 * CHUNK_LEN + 100,
            &long_context,
            "49 252 bytes: three full chunks and a final chunk of 100 bytes; a 94-byte context (the info is 166 bytes)",
            Form::Digest,
        ),
    ];
    let mut chunked_cases = Vec::new();
    let mut chunked = Vec::new();
    for (name, len, context, description, form) in specs {
        let c = chunked_case(&mut rng, name, len, context);
        chunked.push(chunked_json(&c, description, form));
        chunked_cases.push(c);
    }

    // §14.2–§14.4 attachments.
    let full_info = AttachmentInfo {
        content_type: "image/jpeg".into(),
        file_name: Some("photo ☀.jpg".into()),
        thumbnail: Some(vec![
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01,
        ]),
        location: b"\x00blob/8f3a\xff".to_vec(),
    };
    // (name, size, info, description, form, sealed with a digest)
    let att_specs: [(&str, usize, AttachmentInfo, &str, Form, bool); 6] = [
        (
            "empty_file",
            0,
            AttachmentInfo::default(),
            "an empty file: 256 zero bytes of padding in one final chunk; AttachmentInfo::default() (the smallest descriptor, 110 bytes)",
            Form::Full,
            false,
        ),
        (
            "one_byte",
            1,
            AttachmentInfo {
                content_type: "text/plain; charset=utf-8".into(),
                location: b"blob/1".to_vec(),
                ..AttachmentInfo::default()
            },
            "one byte and 255 of padding; a content type and a location, no file name or thumbnail",
            Form::Full,
            false,
        ),
        (
            "exactly_one_chunk",
            CHUNK_LEN,
            AttachmentInfo {
                content_type: "application/octet-stream".into(),
                file_name: Some(String::new()),
                location: b"blob/2".to_vec(),
                ..AttachmentInfo::default()
            },
            "16 384 bytes, padded to 16 384: a full chunk and an empty final chunk that takes no file bytes; an empty file name (Some(\"\"), not none)",
            Form::Digest,
            false,
        ),
        (
            "one_past_a_chunk",
            CHUNK_LEN + 1,
            full_info,
            "16 385 bytes, padded to 17 408: the final chunk holds one file byte and 1 023 of padding; every optional field present (a UTF-8 file name, a thumbnail, a location with bytes 0x00 and 0xFF)",
            Form::Digest,
            false,
        ),
        (
            "four_chunks",
            3 * CHUNK_LEN + 100,
            AttachmentInfo {
                content_type: "video/mp4; codecs=\"avc1\"".into(),
                file_name: Some("holiday.mp4".into()),
                location: b"blob/3".to_vec(),
                ..AttachmentInfo::default()
            },
            "49 252 bytes, padded to 51 200: three full chunks and a final chunk of 100 file bytes and 1 948 of padding",
            Form::Digest,
            false,
        ),
        (
            "two_chunks_with_digest",
            2 * CHUNK_LEN,
            AttachmentInfo {
                content_type: "application/pdf".into(),
                file_name: Some("minutes.pdf".into()),
                location: b"blob/4".to_vec(),
                ..AttachmentInfo::default()
            },
            "32 768 bytes, padded to 32 768: two full chunks and an empty final chunk; sealed with AttachmentEncryptor::with_digest (the same draws as new), so the descriptor carries `digest`, the SHA-256 of the whole stored stream (equal to `stream_sha256`): what a group attachment needs",
            Form::Digest,
            true,
        ),
    ];
    let mut att_cases = Vec::new();
    let mut attachments = Vec::new();
    for (name, size, info, description, form, with_digest) in att_specs {
        let c = attachment_case(&mut rng, name, size, info, with_digest);
        attachments.push(attachment_case_json(&c, description, form));
        att_cases.push(c);
    }

    let by_name = |name: &str| chunked_cases.iter().find(|c| c.name == name).unwrap();
    let att = |name: &str| att_cases.iter().find(|c| c.name == name).unwrap();

    header(
        "attachment.json",
        "Attachments: C2SP chunked streams (Cobblestone-256) with every derived value, padded attachments and their descriptors, and negative cases",
        &["§8.2", "§14.1", "§14.2", "§14.3", "§14.4", "§14.5"],
    )
    .f("rng_seed", hx(RNG_SEED))
    .f(
        "plaintext",
        "byte i of every stream's plaintext (chunked[]) and of every file (attachments[]) is i mod 251",
    )
    .f(
        "stream_forms",
        "full: `stream` is the whole encrypted stream (header and chunks) and `final_chunk` is null; digest: `stream` is null (to keep the file small) and `final_chunk` is the final chunk's sealed bytes. Either way `stream_sha256` is the SHA-256 of the whole stream and every chunk gives its `tag` and `sealed_sha256`",
    )
    .f("constants", constants_json())
    .f("chunked", Json::Array(chunked))
    .f("attachments", Json::Array(attachments))
    .f("descriptor_accepted", descriptor_accepted(att("one_past_a_chunk")))
    .f(
        "descriptor_negative",
        descriptor_negative(att("one_past_a_chunk"), att("two_chunks_with_digest")),
    )
    .f(
        "stream_negative",
        stream_negative(by_name("one_full_chunk"), by_name("one_past_a_chunk")),
    )
    .f(
        "attachment_negative",
        attachment_negative(
            att("one_byte"),
            att("one_past_a_chunk"),
            att("two_chunks_with_digest"),
        ),
    )
    .into()
}

fn constants_json() -> Json {
    assert_eq!(MIN_PADDED_LEN, 256);
    assert_eq!(DESCRIPTOR_VERSION, 1);
    Obj::new()
        .f("chunk_len", CHUNK_LEN)
        .f("sealed_chunk_len", SEALED_CHUNK_LEN)
        .f("tag_len", 16u32)
        .f("salt_len", 24u32)
        .f("commitment_len", 32u32)
        .f("header_len", HEADER_LEN)
        .f("max_chunks", big(MAX_CHUNKS))
        .f("label_chunked", hx(kdf::LABEL_CHUNKED))
        .f("label_attachment", hx(kdf::LABEL_ATTACHMENT))
        .f("max_attachment_len", big(MAX_ATTACHMENT_LEN))
        .f("min_padded_len", MIN_PADDED_LEN)
        .f("descriptor_version", DESCRIPTOR_VERSION)
        .f("max_content_type_len", MAX_CONTENT_TYPE_LEN)
        .f("max_file_name_len", MAX_FILE_NAME_LEN)
        .f("max_thumbnail_len", MAX_THUMBNAIL_LEN)
        .f("max_location_len", MAX_LOCATION_LEN)
        .into()
}

/// Where a descriptor's fixed fields start (SPEC.md §14.4): version (1), key (32), salt (24),
/// commitment (32), then the sizes and the digest flag.
const SIZE_AT: usize = 89;
const PADDED_SIZE_AT: usize = 97;
const DIGEST_FLAG_AT: usize = 105;

/// Offsets of the variable fields of a descriptor (SPEC.md §14.4).
struct Offsets {
    content_type_len: usize,
    file_name_flag: usize,
    thumbnail_flag: usize,
    location_len: usize,
}

fn offsets(info: &AttachmentInfo, has_digest: bool) -> Offsets {
    let content_type_len = DIGEST_FLAG_AT + 1 + if has_digest { 32 } else { 0 };
    let file_name_flag = content_type_len + 1 + info.content_type.len();
    let thumbnail_flag = file_name_flag + 1 + info.file_name.as_ref().map_or(0, |n| 2 + n.len());
    let location_len = thumbnail_flag + 1 + info.thumbnail.as_ref().map_or(0, |t| 4 + t.len());
    Offsets {
        content_type_len,
        file_name_flag,
        thumbnail_flag,
        location_len,
    }
}

fn with_zeros(bytes: &[u8], zeros: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(bytes.len() + zeros, 0);
    v
}

fn decode_input(o: Obj, input: &[u8], zeros: usize) -> Obj {
    let o = o.f("input", hx(input));
    if zeros == 0 {
        o
    } else {
        o.f("followed_by_zero_bytes", zeros)
    }
}

/// Boundary values that decode (and re-encode to the same bytes).
fn descriptor_accepted(base: &AttachmentCase) -> Json {
    let d = &base.descriptor;
    let key: [u8; 32] = d[1..33].try_into().unwrap();
    let hdr = &d[33..89];
    let mut out = Vec::new();
    let mut accept = |name: &str, input: Vec<u8>, zeros: usize| {
        let full = with_zeros(&input, zeros);
        let got = AttachmentDescriptor::from_bytes(&full).expect(name);
        assert_eq!(
            got.to_bytes().unwrap().as_slice(),
            full.as_slice(),
            "{name}"
        );
        let info = got.info();
        out.push(Json::from(
            decode_input(
                Obj::new()
                    .f("name", name)
                    .f("spec", "§14.4")
                    .f("operation", "AttachmentDescriptor::from_bytes"),
                &input,
                zeros,
            )
            .f("size", big(got.size()))
            .f("padded_size", big(got.padded_size()))
            .f("digest", got.digest().map_or(Json::Null, hx))
            .f("content_type_len", info.content_type.len())
            .f(
                "file_name_len",
                info.file_name
                    .as_ref()
                    .map_or(Json::Null, |n| n.len().into()),
            )
            .f(
                "thumbnail_len",
                info.thumbnail
                    .as_ref()
                    .map_or(Json::Null, |t| t.len().into()),
            )
            .f("location_len", info.location.len()),
        ));
    };
    let bare = |size: u64, info: &AttachmentInfo| {
        descriptor_by_hand(&key, hdr, size, padme(size), None, info)
    };
    let default = AttachmentInfo::default();
    accept(
        "size 2^46, the largest (padded to 2^46)",
        bare(MAX_ATTACHMENT_LEN, &default),
        0,
    );
    // Any 32 bytes decode as a digest; only opening the stream checks them.
    accept(
        "a digest (32 bytes 0xFF)",
        descriptor_by_hand(&key, hdr, 1, padme(1), Some(&[0xFF; 32]), &default),
        0,
    );
    let printable: String = (0x20u8..=0x7E).map(char::from).collect();
    accept(
        "content type: every printable byte 0x20..=0x7E",
        bare(
            1,
            &AttachmentInfo {
                content_type: printable,
                ..AttachmentInfo::default()
            },
        ),
        0,
    );
    accept(
        "content type of 255 bytes",
        bare(
            1,
            &AttachmentInfo {
                content_type: "a".repeat(MAX_CONTENT_TYPE_LEN),
                ..AttachmentInfo::default()
            },
        ),
        0,
    );
    // A file name of 1024 zero bytes (U+0000 is UTF-8), no thumbnail, an empty location.
    let mut name_1024 = bare(1, &default);
    name_1024.truncate(name_1024.len() - 3);
    name_1024.extend_from_slice(&[0x01, 0x04, 0x00]);
    accept("file name of 1024 bytes", name_1024, 1024 + 2);
    // A thumbnail of 65 536 zero bytes, an empty location.
    let mut thumb = bare(1, &default);
    thumb.truncate(thumb.len() - 2);
    thumb.extend_from_slice(&[0x01, 0x00, 0x01, 0x00, 0x00]);
    accept("thumbnail of 65 536 bytes", thumb, MAX_THUMBNAIL_LEN + 1);
    accept(
        "location of 255 bytes",
        bare(
            1,
            &AttachmentInfo {
                location: vec![0xA5; MAX_LOCATION_LEN],
                ..AttachmentInfo::default()
            },
        ),
        0,
    );
    Json::Array(out)
}

/// Descriptors that fail to decode, one §14.4 check each, with the exact `DecodeError`: `base`
/// (without a digest) edited, and `with_digest`'s descriptor cut inside its digest.
fn descriptor_negative(base: &AttachmentCase, with_digest: &AttachmentCase) -> Json {
    let d = base.descriptor.clone();
    assert!(base.digest.is_none());
    let off = offsets(&base.info, false);
    assert_eq!(off.location_len + 1 + base.info.location.len(), d.len());
    let dd = &with_digest.descriptor;
    assert!(with_digest.digest.is_some());
    assert_eq!(dd[DIGEST_FLAG_AT], 1);
    let off_dd = offsets(&with_digest.info, true);
    assert_eq!(
        off_dd.location_len + 1 + with_digest.info.location.len(),
        dd.len()
    );
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = d.clone();
        f(&mut v);
        v
    };
    let set_u64 =
        |v: &mut Vec<u8>, at: usize, x: u64| v[at..at + 8].copy_from_slice(&x.to_be_bytes());
    let ct = off.content_type_len + 1;
    let over = MAX_ATTACHMENT_LEN + 1;
    let cases: Vec<(&str, Vec<u8>, usize, DecodeError)> = vec![
        (
            "version 0x02",
            edit(&|v| v[0] = 0x02),
            0,
            DecodeError::UnknownVersion(2),
        ),
        (
            "version 0x00",
            edit(&|v| v[0] = 0x00),
            0,
            DecodeError::UnknownVersion(0),
        ),
        (
            "size 2^46 + 1 (with its padded size)",
            edit(&|v| {
                set_u64(v, SIZE_AT, over);
                set_u64(v, PADDED_SIZE_AT, padme(over));
            }),
            0,
            DecodeError::TooLarge,
        ),
        (
            "size 2^64 - 1",
            edit(&|v| {
                set_u64(v, SIZE_AT, u64::MAX);
                set_u64(v, PADDED_SIZE_AT, u64::MAX);
            }),
            0,
            DecodeError::TooLarge,
        ),
        (
            "padded size pad(size) + 1",
            edit(&|v| set_u64(v, PADDED_SIZE_AT, padme(base.size) + 1)),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "padded size equal to the size (unpadded)",
            edit(&|v| set_u64(v, PADDED_SIZE_AT, base.size)),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "size 0 with padded size 0 (the floor is 256)",
            edit(&|v| {
                set_u64(v, SIZE_AT, 0);
                set_u64(v, PADDED_SIZE_AT, 0);
            }),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "digest flag 2",
            edit(&|v| v[DIGEST_FLAG_AT] = 2),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "content type byte 0x7F",
            edit(&|v| v[ct + 2] = 0x7F),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "content type byte 0x0A",
            edit(&|v| v[ct] = 0x0A),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "content type byte 0x1F",
            edit(&|v| v[ct + 5] = 0x1F),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "content type byte 0x80",
            edit(&|v| v[ct + 1] = 0x80),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "file name flag 2",
            edit(&|v| v[off.file_name_flag] = 2),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "file name length 1025",
            [&d[..off.file_name_flag], &[0x01, 0x04, 0x01]].concat(),
            1025 + 2,
            DecodeError::TooLarge,
        ),
        (
            "file name not UTF-8 (0xC3 0x28)",
            edit(&|v| {
                v[off.file_name_flag + 3] = 0xC3;
                v[off.file_name_flag + 4] = 0x28;
            }),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "file name not UTF-8 (a lone continuation byte 0x80)",
            edit(&|v| v[off.file_name_flag + 3] = 0x80),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "thumbnail flag 2",
            edit(&|v| v[off.thumbnail_flag] = 2),
            0,
            DecodeError::NonCanonical,
        ),
        (
            "thumbnail length 65537",
            [&d[..off.thumbnail_flag], &[0x01, 0x00, 0x01, 0x00, 0x01]].concat(),
            MAX_THUMBNAIL_LEN + 1 + 1,
            DecodeError::TooLarge,
        ),
        ("empty input", Vec::new(), 0, DecodeError::Truncated),
        (
            "version byte alone",
            d[..1].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "cut inside the key",
            d[..20].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "cut inside the commitment",
            d[..88].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "cut inside the padded size",
            d[..PADDED_SIZE_AT + 3].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "no digest flag",
            d[..DIGEST_FLAG_AT].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "cut inside the digest (its flag 1 and 16 of its 32 bytes)",
            dd[..DIGEST_FLAG_AT + 1 + 16].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "no content type length",
            d[..off.content_type_len].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "cut inside the content type",
            d[..ct + 3].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "no file name flag",
            d[..off.file_name_flag].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "cut inside the file name length",
            d[..off.file_name_flag + 2].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "cut inside the file name",
            d[..off.file_name_flag + 5].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "no thumbnail flag",
            d[..off.thumbnail_flag].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "cut inside the thumbnail",
            d[..off.thumbnail_flag + 7].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "no location length",
            d[..off.location_len].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "last byte of the location missing",
            d[..d.len() - 1].to_vec(),
            0,
            DecodeError::Truncated,
        ),
        (
            "a trailing zero byte",
            with_zeros(&d, 1),
            0,
            DecodeError::TrailingBytes,
        ),
    ];
    let mut out = Vec::new();
    for (name, input, zeros, expected) in cases {
        let got = AttachmentDescriptor::from_bytes(&with_zeros(&input, zeros))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(got, expected, "{name}");
        out.push(Json::from(
            decode_input(
                Obj::new()
                    .f("name", name)
                    .f("spec", "§14.4")
                    .f("operation", "AttachmentDescriptor::from_bytes"),
                &input,
                zeros,
            )
            .f("expected_error", format!("{expected:?}")),
        ));
    }
    Json::Array(out)
}

/// A piece given to `open_next`: a chunk of the base stream, or explicit bytes.
enum Piece {
    Chunk(usize),
    Bytes(Vec<u8>),
}

/// Where a sequence of `ChunkedDecryptor` calls fails.
#[derive(Debug, PartialEq, Eq)]
enum FailsAt {
    New,
    OpenNext(usize),
    Finish,
}

/// Runs `new`, `open_next` on every piece, then `finish` if asked; the first error and where.
fn run_chunked(
    key: &[u8; 32],
    context: &[u8],
    header: &[u8],
    pieces: &[Vec<u8>],
    finish: bool,
) -> Option<(FailsAt, AttachmentError)> {
    let key = StreamKey::from_bytes(*key);
    let mut dec = match ChunkedDecryptor::new(&key, context, header) {
        Ok(d) => d,
        Err(e) => return Some((FailsAt::New, e)),
    };
    for (i, p) in pieces.iter().enumerate() {
        let mut buf = p.clone();
        if let Err(e) = dec.open_next(&mut buf) {
            assert_eq!(&buf, p, "a failed chunk is left as it was");
            assert_eq!(dec.chunks_opened(), i as u64, "the decryptor is unchanged");
            return Some((FailsAt::OpenNext(i), e));
        }
    }
    if finish && let Err(e) = dec.finish() {
        return Some((FailsAt::Finish, e));
    }
    None
}

/// Stream errors through `ChunkedDecryptor` (SPEC.md §14.1): the base is a stream published in
/// full, `other` gives a foreign final chunk.
fn stream_negative(base: &ChunkedCase, other: &ChunkedCase) -> Json {
    let k = base.input_key;
    let ctx = base.context.clone();
    let h = base.parts.header.clone();
    assert_eq!(base.parts.chunks.len(), 2);
    let c1 = base.parts.chunks[1].sealed.clone();
    assert_eq!(c1.len(), 16, "the empty final chunk");
    let flip = |v: &[u8], at: usize| {
        let mut v = v.to_vec();
        v[at] ^= 0x01;
        v
    };
    let mut other_ctx = ctx.clone();
    *other_ctx.last_mut().unwrap() ^= 0x01;
    let foreign = other.parts.chunks.last().unwrap().sealed.clone();
    type Case = (
        &'static str,
        [u8; 32],
        Vec<u8>,
        Vec<u8>,
        Vec<Piece>,
        bool,
        FailsAt,
        AttachmentError,
    );
    use AttachmentError as E;
    use Piece::{Bytes, Chunk};
    let mut wrong_key = k;
    wrong_key[0] ^= 0x01;
    let whole = || vec![Chunk(0), Chunk(1)];
    let cases: Vec<Case> = vec![
        (
            "wrong key (first byte flipped)",
            wrong_key,
            ctx.clone(),
            h.clone(),
            whole(),
            true,
            FailsAt::New,
            E::WrongKey,
        ),
        (
            "wrong context (last byte flipped)",
            k,
            other_ctx,
            h.clone(),
            whole(),
            true,
            FailsAt::New,
            E::WrongKey,
        ),
        (
            "the empty context instead",
            k,
            Vec::new(),
            h.clone(),
            whole(),
            true,
            FailsAt::New,
            E::WrongKey,
        ),
        (
            "salt altered (first byte)",
            k,
            ctx.clone(),
            flip(&h, 0),
            whole(),
            true,
            FailsAt::New,
            E::WrongKey,
        ),
        (
            "commitment altered (last byte)",
            k,
            ctx.clone(),
            flip(&h, 55),
            whole(),
            true,
            FailsAt::New,
            E::WrongKey,
        ),
        (
            "header of 55 bytes",
            k,
            ctx.clone(),
            h[..55].to_vec(),
            vec![],
            false,
            FailsAt::New,
            E::Truncated,
        ),
        (
            "header of 57 bytes",
            k,
            ctx.clone(),
            with_zeros(&h, 1),
            vec![],
            false,
            FailsAt::New,
            E::TrailingData,
        ),
        (
            "chunks swapped (the final one first)",
            k,
            ctx.clone(),
            h.clone(),
            vec![Chunk(1), Chunk(0)],
            true,
            FailsAt::OpenNext(0),
            E::ChunkAuthentication(0),
        ),
        (
            "chunk 0 twice",
            k,
            ctx.clone(),
            h.clone(),
            vec![Chunk(0), Chunk(0)],
            true,
            FailsAt::OpenNext(1),
            E::ChunkAuthentication(1),
        ),
        (
            "final chunk altered (its tag's first byte)",
            k,
            ctx.clone(),
            h.clone(),
            vec![Chunk(0), Bytes(flip(&c1, 0))],
            true,
            FailsAt::OpenNext(1),
            E::ChunkAuthentication(1),
        ),
        (
            "a final chunk of another stream (chunked one_past_a_chunk's)",
            k,
            ctx.clone(),
            h.clone(),
            vec![Chunk(0), Bytes(foreign)],
            true,
            FailsAt::OpenNext(1),
            E::ChunkAuthentication(1),
        ),
        (
            "final chunk cut to 15 bytes",
            k,
            ctx.clone(),
            h.clone(),
            vec![Chunk(0), Bytes(c1[..15].to_vec())],
            true,
            FailsAt::OpenNext(1),
            E::Truncated,
        ),
        (
            "stream cut after the full chunk",
            k,
            ctx.clone(),
            h.clone(),
            vec![Chunk(0)],
            true,
            FailsAt::Finish,
            E::Truncated,
        ),
        (
            "the header alone",
            k,
            ctx.clone(),
            h.clone(),
            vec![],
            true,
            FailsAt::Finish,
            E::Truncated,
        ),
        (
            "a chunk after the final one",
            k,
            ctx.clone(),
            h.clone(),
            vec![Chunk(0), Chunk(1), Chunk(1)],
            true,
            FailsAt::OpenNext(2),
            E::TrailingData,
        ),
    ];
    let mut out = Vec::new();
    for (name, key, context, hdr, pieces, finish, at, expected) in cases {
        let bytes: Vec<Vec<u8>> = pieces
            .iter()
            .map(|p| match p {
                Chunk(i) => base.parts.chunks[*i].sealed.clone(),
                Bytes(b) => b.clone(),
            })
            .collect();
        let got = run_chunked(&key, &context, &hdr, &bytes, finish);
        assert_eq!(got, Some((at, expected)), "{name}");
        let (at, expected) = got.unwrap();
        let pieces_json: Vec<Json> = pieces
            .iter()
            .map(|p| match p {
                Chunk(i) => Obj::new().f("chunk", *i).into(),
                Bytes(b) => Obj::new().f("bytes", hx(b)).into(),
            })
            .collect();
        let (fails_at, piece) = match at {
            FailsAt::New => ("ChunkedDecryptor::new", Json::Null),
            FailsAt::OpenNext(i) => ("ChunkedDecryptor::open_next", i.into()),
            FailsAt::Finish => ("ChunkedDecryptor::finish", Json::Null),
        };
        out.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("spec", "§14.1")
                .f("operation", "ChunkedDecryptor")
                .f("base", base.name)
                .f("key", hx(key))
                .f("context", hx(&context))
                .f("header", hx(&hdr))
                .f("pieces", Json::Array(pieces_json))
                .f("finish", finish)
                .f("fails_at", fails_at)
                .f("failing_piece", piece)
                .f("expected_error", format!("{expected:?}")),
        ));
    }
    Json::Array(out)
}

/// Seals `chunks` (plaintexts, in order) with `ChunkedEncryptor` under the descriptor's key and
/// salt (a scripted draw) and `LABEL_ATTACHMENT`: what only the sender of a stream can make.
pub fn craft_with_descriptor(
    descriptor: &AttachmentDescriptor,
    chunks: &[Vec<u8>],
) -> Vec<Vec<u8>> {
    let mut script = Scripted::new(vec![descriptor.header()[..24].to_vec()]);
    let (mut enc, header) =
        ChunkedEncryptor::new(&mut script, descriptor.key(), kdf::LABEL_ATTACHMENT);
    assert_eq!(script.remaining(), 0);
    assert_eq!(&header, descriptor.header());
    chunks
        .iter()
        .map(|c| {
            let mut buf = c.clone();
            enc.seal_chunk(&mut buf).expect("seal");
            buf
        })
        .collect()
}

/// The forged file of the digest case: byte `i` is `(i mod 251) XOR 0x55`.
const FORGED_XOR: u8 = 0x55;

/// Attachment errors through `AttachmentDecryptor` (SPEC.md §14.2): `small` is published in
/// full (one chunk), `two` has two chunks, `digested` was sealed with a digest.
fn attachment_negative(
    small: &AttachmentCase,
    two: &AttachmentCase,
    digested: &AttachmentCase,
) -> Json {
    let d = small.descriptor.clone();
    let desc = AttachmentDescriptor::from_bytes(&d).unwrap();
    let stored = small.parts.stream.clone();
    let chunk0 = stored[HEADER_LEN..].to_vec();
    assert_eq!(small.parts.chunks.len(), 1);
    let flip = |v: &[u8], at: usize| {
        let mut v = v.to_vec();
        v[at] ^= 0x01;
        v
    };
    let mut out = Vec::new();
    let mut push = |o: Obj, expected: AttachmentError| {
        out.push(Json::from(o.f("expected_error", format!("{expected:?}"))));
    };
    let base = |name: &str, op: &str, descriptor: &[u8]| {
        Obj::new()
            .f("name", name)
            .f("spec", "§14.2")
            .f("operation", format!("AttachmentDecryptor::{op}"))
            .f("descriptor", hx(descriptor))
    };

    // `new(descriptor, stored_header)`: the stored header is not the descriptor's (compared
    // after the size limit, before the commitment), or the descriptor's key and commitment
    // disagree (the stored header is then the descriptor's own, so that only the commitment
    // check can refuse it).
    for (name, at) in [
        ("descriptor key altered", 1),
        ("descriptor salt altered", 33),
        ("descriptor commitment altered", 88),
    ] {
        let bad = flip(&d, at);
        let bad_desc = AttachmentDescriptor::from_bytes(&bad).unwrap();
        let hdr = bad_desc.header().to_vec();
        let got = AttachmentDecryptor::new(&bad_desc, &hdr)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(got, AttachmentError::WrongKey, "{name}");
        push(base(name, "new", &bad).f("stored_header", hx(&hdr)), got);
    }
    let other = two.parts.stream[..HEADER_LEN].to_vec();
    assert_ne!(other, stored[..HEADER_LEN]);
    for (name, hdr, expected) in [
        (
            "stored header's salt altered",
            flip(&stored[..HEADER_LEN], 0),
            AttachmentError::WrongKey,
        ),
        (
            "stored header's commitment altered",
            flip(&stored[..HEADER_LEN], 55),
            AttachmentError::WrongKey,
        ),
        (
            "stored header of another stream",
            other,
            AttachmentError::WrongKey,
        ),
        (
            "stored header of 55 bytes",
            stored[..55].to_vec(),
            AttachmentError::Truncated,
        ),
        (
            "stored header of 57 bytes",
            stored[..57].to_vec(),
            AttachmentError::TrailingData,
        ),
    ] {
        let got = AttachmentDecryptor::new(&desc, &hdr).map(|_| ());
        assert_eq!(got, Err(expected), "{name}");
        push(base(name, "new", &d).f("stored_header", hx(&hdr)), expected);
    }

    // `check_stored_len`.
    let dec = AttachmentDecryptor::new(&desc, desc.header()).unwrap();
    let len = stored.len() as u64;
    for (name, l, expected) in [
        (
            "stored stream one byte short",
            len - 1,
            AttachmentError::Truncated,
        ),
        (
            "stored stream one byte long",
            len + 1,
            AttachmentError::TrailingData,
        ),
    ] {
        assert_eq!(dec.check_stored_len(l), Err(expected), "{name}");
        push(
            base(name, "check_stored_len", &d).f("stored_len", big(l)),
            expected,
        );
    }

    // `open_next`: every piece but the last opens; the last fails.
    let padded = usize::try_from(padme(small.size)).unwrap();
    let mut crafted_plain = pattern(usize::try_from(small.size).unwrap());
    crafted_plain.resize(padded, 0);
    *crafted_plain.last_mut().unwrap() = 0x01;
    let crafted = craft_with_descriptor(&desc, &[crafted_plain.clone()]).remove(0);
    // (name, pieces, error, the crafted chunk's index and plaintext)
    type OpenNextCase<'a> = (
        &'a str,
        Vec<Vec<u8>>,
        AttachmentError,
        Option<(u64, &'a [u8])>,
    );
    let open_next_cases: [OpenNextCase; 4] = [
        (
            "chunk one byte short",
            vec![chunk0[..chunk0.len() - 1].to_vec()],
            AttachmentError::InvalidChunkLength,
            None,
        ),
        (
            "chunk altered (first byte)",
            vec![flip(&chunk0, 0)],
            AttachmentError::ChunkAuthentication(0),
            None,
        ),
        (
            "a chunk after the last one",
            vec![chunk0.clone(), chunk0.clone()],
            AttachmentError::TrailingData,
            None,
        ),
        (
            "padding not zero (its last byte 0x01; sealed by the sender)",
            vec![crafted.clone()],
            AttachmentError::InvalidPadding(0),
            Some((0, &crafted_plain[..])),
        ),
    ];
    for (name, pieces, expected, craft) in open_next_cases {
        let mut dec = AttachmentDecryptor::new(&desc, desc.header()).unwrap();
        let (last, ok) = pieces.split_last().unwrap();
        for p in ok {
            dec.open_next(&mut p.clone()).unwrap();
        }
        let mut buf = last.clone();
        assert_eq!(dec.open_next(&mut buf), Err(expected), "{name}");
        if matches!(expected, AttachmentError::InvalidPadding(_)) {
            assert!(buf.iter().all(|b| *b == 0), "wiped");
        } else {
            assert_eq!(&buf, last, "{name}");
        }
        let mut o =
            base(name, "open_next", &d).f("pieces", Json::Array(pieces.iter().map(hx).collect()));
        if let Some((index, plain)) = craft {
            o = o.f(
                "crafted",
                Obj::new().f("chunk_index", index).f("plaintext", hx(plain)),
            );
        }
        push(o, expected);
    }

    // `open_next` against a digest: another stream sealed under the descriptor's key and salt —
    // what any holder of the descriptor can make, `AttachmentEncryptor::new` given the key and
    // the salt as its draws — with another file. Every chunk of it is authentic under the key;
    // only the digest refuses it, before the final chunk is decrypted.
    let dg = AttachmentDescriptor::from_bytes(&digested.descriptor).unwrap();
    let expected_digest = digested.digest.expect("a case sealed with a digest");
    assert_eq!(dg.digest(), Some(&expected_digest));
    let key: [u8; 32] = digested.draws[0].clone().try_into().unwrap();
    let salt: [u8; 24] = digested.draws[1].clone().try_into().unwrap();
    let forged_draws = vec![dg.key().as_bytes().to_vec(), dg.header()[..24].to_vec()];
    assert_eq!(
        forged_draws, digested.draws,
        "the descriptor's key and salt"
    );
    let forged_file: Vec<u8> = pattern(usize::try_from(digested.size).unwrap())
        .iter()
        .map(|b| b ^ FORGED_XOR)
        .collect();
    let mut script = Scripted::new(forged_draws.clone());
    let mut enc = AttachmentEncryptor::new(&mut script, dg.size()).unwrap();
    assert_eq!(script.remaining(), 0);
    assert_eq!(enc.header(), dg.header());
    let mut forged = enc.header().to_vec();
    let mut forged_chunks = Vec::new();
    let mut rest = &forged_file[..];
    while let Some(n) = enc.next_input_len() {
        let (piece, tail) = rest.split_at(n);
        let mut buf = piece.to_vec();
        enc.seal_next(&mut buf).unwrap();
        forged.extend_from_slice(&buf);
        forged_chunks.push(buf);
        rest = tail;
    }
    // By hand: the forged file and its zeros, one §14.1 stream under the same key and salt.
    let mut forged_plain = forged_file.clone();
    forged_plain.resize(usize::try_from(padme(digested.size)).unwrap(), 0);
    let forged_parts = stream_parts(&key, &salt, kdf::LABEL_ATTACHMENT, &forged_plain);
    assert_eq!(forged_parts.stream, forged);
    assert_ne!(forged, digested.parts.stream);
    let forged_digest: [u8; 32] = Sha256::digest(&forged).into();
    assert_ne!(forged_digest, expected_digest);
    // Every chunk but the final one opens, as the forged file's bytes; the final one is refused
    // and left as it was, and the attachment is not complete; alone, it opens.
    let mut dec = AttachmentDecryptor::new(&dg, &forged[..HEADER_LEN]).unwrap();
    let (last, earlier) = forged_chunks.split_last().unwrap();
    for (i, c) in earlier.iter().enumerate() {
        let mut buf = c.clone();
        dec.open_next(&mut buf).unwrap();
        let f = dec.file_range(i as u64).unwrap();
        assert_eq!(buf, forged_file[f.start as usize..f.end as usize]);
    }
    let last_index = earlier.len() as u64;
    let mut buf = last.clone();
    assert_eq!(
        dec.open_next(&mut buf),
        Err(AttachmentError::DigestMismatch)
    );
    assert_eq!(&buf, last, "refused before it is decrypted");
    assert!(!dec.is_complete());
    dec.open_chunk(last_index, &mut last.clone()).unwrap();
    // The empty final chunk is the sender's, byte for byte: the digest tells the streams apart
    // by their earlier chunks.
    assert_eq!(last, &digested.parts.chunks.last().unwrap().sealed);
    push(
        base(
            "another stream sealed under the descriptor's key and salt (a holder's forgery), against its digest",
            "open_next",
            &digested.descriptor,
        )
        .f(
            "forged",
            Obj::new()
                .f(
                    "file",
                    "byte i is (i mod 251) XOR 0x55, as long as the descriptor's size",
                )
                .f("file_xor", hx([FORGED_XOR]))
                .f("rng_draws", draws_json(&forged_draws))
                .f("stream_sha256", hx(forged_digest))
                .f(
                    "chunks",
                    Json::Array(
                        forged_parts
                            .chunks
                            .iter()
                            .enumerate()
                            .map(|(i, ch)| chunk_json(i, ch).into())
                            .collect(),
                    ),
                )
                .f("final_chunk", hx(last)),
        )
        .f("failing_piece", last_index),
        AttachmentError::DigestMismatch,
    );

    // `open_chunk`: any chunk alone.
    let dec = AttachmentDecryptor::new(&desc, desc.header()).unwrap();
    let mut buf = chunk0.clone();
    assert_eq!(
        dec.open_chunk(1, &mut buf),
        Err(AttachmentError::NoSuchChunk(1))
    );
    push(
        base("chunk index past the last", "open_chunk", &d)
            .f("index", 1u32)
            .f("chunk", hx(&chunk0)),
        AttachmentError::NoSuchChunk(1),
    );
    // Chunk 1 of the two-chunk attachment, sealed by its sender with a non-zero padding byte
    // (chunk 0 sealed first with the file's bytes, as the index requires).
    let d2 = AttachmentDescriptor::from_bytes(&two.descriptor).unwrap();
    let dec2 = AttachmentDecryptor::new(&d2, &two.parts.stream[..HEADER_LEN]).unwrap();
    assert_eq!(dec2.chunk_count(), 2);
    let file = pattern(usize::try_from(two.size).unwrap());
    let padded2 = usize::try_from(padme(two.size)).unwrap();
    let mut plain1 = file[CHUNK_LEN..].to_vec();
    plain1.resize(padded2 - CHUNK_LEN, 0);
    plain1[file.len() - CHUNK_LEN] = 0x80;
    let sealed = craft_with_descriptor(&d2, &[file[..CHUNK_LEN].to_vec(), plain1.clone()]);
    assert_eq!(
        sealed[0], two.parts.chunks[0].sealed,
        "chunk 0 is the stored one"
    );
    let mut buf = sealed[1].clone();
    assert_eq!(
        dec2.open_chunk(1, &mut buf),
        Err(AttachmentError::InvalidPadding(1))
    );
    assert!(buf.iter().all(|b| *b == 0), "wiped");
    push(
        base(
            "padding not zero (its first byte 0x80), chunk 1 alone",
            "open_chunk",
            &two.descriptor,
        )
        .f("index", 1u32)
        .f("chunk", hx(&sealed[1]))
        .f(
            "crafted",
            Obj::new()
                .f("chunk_index", 1u32)
                .f("plaintext", hx(&plain1)),
        ),
        AttachmentError::InvalidPadding(1),
    );
    let mut buf = sealed[1].clone();
    buf.pop();
    assert_eq!(
        dec2.open_chunk(1, &mut buf),
        Err(AttachmentError::InvalidChunkLength)
    );
    push(
        base(
            "final chunk one byte short, alone",
            "open_chunk",
            &two.descriptor,
        )
        .f("index", 1u32)
        .f("chunk", hx(&buf)),
        AttachmentError::InvalidChunkLength,
    );
    Json::Array(out)
}
