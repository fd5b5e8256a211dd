//! What is printed, wiped, cloned and compared, and what an error tells: `Debug`/`Display` of
//! every attachment type against the key, the derived key and the base nonce; wiping and
//! cloning by type; descriptor equality; errors as an oracle; and the documented limits.

use std::marker::PhantomData;

use xchat_protocol::attachment::chunked::{
    ChunkedDecryptor, ChunkedEncryptor, HEADER_LEN, Layout, StreamKey,
};
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentDescriptor, AttachmentEncryptor, AttachmentError, padded_size,
};
use xchat_protocol::kdf::{ChunkedKeys, LABEL_ATTACHMENT, chunked_keys};
use xchat_protocol::{ContentKind, Receipt, Received};
use zeroize::ZeroizeOnDrop;

use crate::support::{chunk_of, pattern, rng, seal_with};

/// Whether `text` shows `secret` as Rust prints bytes (decimal list) or as hex.
fn shows(text: &str, secret: &[u8]) -> bool {
    let decimal = format!("{:?}", &secret[..4]);
    let decimal = decimal.trim_matches(|c| c == '[' || c == ']');
    let hex: String = secret[..8].iter().map(|b| format!("{b:02x}")).collect();
    text.contains(decimal) || text.to_lowercase().contains(&hex)
}

/// `Debug` (plain and `#`) and `Display` of every attachment type, mid-stream and finished,
/// and of every error, show neither the key nor the derived AEAD key nor the base nonce.
#[test]
fn held_nothing_prints_a_key_a_derived_key_or_the_base_nonce() {
    let mut r = rng(90);
    let file = pattern(40_000, 11);
    let mut enc = AttachmentEncryptor::new(&mut r, file.len() as u64).unwrap();
    let mut mid = file[..16_384].to_vec();
    enc.seal_next(&mut mid).unwrap();
    let enc_debug = format!("{enc:?} {enc:#?}");
    let (stored, d) = seal_with(&mut r, &file);
    let key = *d.key().as_bytes();
    let salt: [u8; 24] = stored[..24].try_into().unwrap();
    let keys = chunked_keys(&key, &salt, LABEL_ATTACHMENT);
    let dec = AttachmentDecryptor::new(&d, d.header()).unwrap();
    let sk = StreamKey::from_bytes(key);
    let (cenc, _) = ChunkedEncryptor::new(&mut r, &sk, b"c");
    let cdec = ChunkedDecryptor::new(d.key(), LABEL_ATTACHMENT, d.header()).unwrap();
    let errors = [
        AttachmentError::Truncated,
        AttachmentError::TrailingData,
        AttachmentError::WrongKey,
        AttachmentError::ChunkAuthentication(3),
        AttachmentError::InvalidPadding(3),
        AttachmentError::InvalidChunkLength,
        AttachmentError::NoSuchChunk(3),
        AttachmentError::Finished,
        AttachmentError::NotFinished,
        AttachmentError::TooLarge,
        AttachmentError::Decode(xchat_protocol::DecodeError::NonCanonical),
    ];
    let mut all = vec![
        enc_debug,
        format!("{d:?} {d:#?}"),
        format!("{dec:?} {dec:#?}"),
        format!("{sk:?} {cenc:?} {cdec:?} {keys:?}"),
        format!("{:?}", Layout::for_plaintext(padded_size(40_000)).unwrap()),
        format!("{:?}", d.clone()),
    ];
    for e in errors {
        all.push(format!("{e:?} {e}"));
    }
    for text in &all {
        for secret in [&key[..], &keys.key[..], &keys.base_nonce[..]] {
            assert!(!shows(text, secret), "{text}");
        }
    }
    assert!(all[1].contains("StreamKey(<secret>)"));
}

/// Detects `Clone` without requiring it (an inherent method wins over the trait's default only
/// when its bound holds).
struct Probe<T>(PhantomData<T>);
trait NotClone {
    fn is_clone(&self) -> bool {
        false
    }
}
impl<T> NotClone for Probe<T> {}
impl<T: Clone> Probe<T> {
    fn is_clone(&self) -> bool {
        true
    }
}

fn zeroize_on_drop<T: ZeroizeOnDrop>() {}

/// Key holders wipe themselves (`ZeroizeOnDrop`: `StreamKey`, `ChunkedKeys`), and neither
/// encryptor can be cloned, so no caller can seal two different chunks under one (key, nonce)
/// by duplicating a stream's state. (Wiping of the AES and GHASH state in the private
/// `ChunkCipher` is by aes-gcm's `zeroize` feature, read from its source, not tested: the crate
/// forbids `unsafe`, so freed memory cannot be inspected.)
#[test]
fn held_key_holders_wipe_and_encryptors_cannot_be_cloned() {
    zeroize_on_drop::<StreamKey>();
    zeroize_on_drop::<ChunkedKeys>();
    assert!(!Probe::<AttachmentEncryptor>(PhantomData).is_clone());
    assert!(!Probe::<ChunkedEncryptor>(PhantomData).is_clone());
    assert!(Probe::<StreamKey>(PhantomData).is_clone()); // the probe works
    assert!(Probe::<AttachmentDescriptor>(PhantomData).is_clone());
}

/// Descriptor equality: equal to its clone and to its decoding; unequal when only the last key
/// byte, only a salt byte, or only the location differs. The key part goes through
/// `StreamKey::eq` (`subtle::ct_eq`); nothing here is timed.
#[test]
fn held_descriptor_equality_covers_every_field() {
    let (_, d) = seal_with(&mut rng(91), b"eq");
    let bytes = d.to_bytes().unwrap().to_vec();
    assert_eq!(d.clone(), d);
    assert_eq!(AttachmentDescriptor::from_bytes(&bytes).unwrap(), d);
    for at in [32usize, 33, 88, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[at] ^= 0x80;
        assert_ne!(
            AttachmentDescriptor::from_bytes(&b).unwrap(),
            d,
            "byte {at}"
        );
    }
    assert_eq!(
        StreamKey::from_bytes([1; 32]),
        StreamKey::from_bytes([1; 32])
    );
    let mut last = [1; 32];
    last[31] = 2;
    assert_ne!(StreamKey::from_bytes([1; 32]), StreamKey::from_bytes(last));
}

/// No padding oracle and no position oracle: each byte of a stored chunk flipped, in the file
/// area, the padding area or the tag, gives the same error (`ChunkAuthentication(i)`), never
/// `InvalidPadding` (which needs the key to provoke), and the buffer back unchanged.
#[test]
fn held_every_server_side_change_is_one_error_without_a_padding_oracle() {
    let file = pattern(16_384 + 1000, 12); // chunk 1: 1000 file bytes, then padding
    let (stored, d) = seal_with(&mut rng(92), &file);
    let dec = AttachmentDecryptor::new(&d, d.header()).unwrap();
    assert_eq!(dec.chunk_count(), 2);
    for i in 0..2 {
        let c = chunk_of(&stored, i);
        let step = if c.len() > 2000 { 13 } else { 1 };
        for at in (0..c.len()).step_by(step).chain(c.len() - 16..c.len()) {
            for bit in [0u8, 7] {
                let mut buf = c.to_vec();
                buf[at] ^= 1 << bit;
                let damaged = buf.clone();
                assert_eq!(
                    dec.open_chunk(i as u64, &mut buf),
                    Err(AttachmentError::ChunkAuthentication(i as u64)),
                    "chunk {i} byte {at}"
                );
                assert_eq!(buf, damaged);
            }
        }
    }
}

/// Known limit (SECURITY.md, "Attachments"): `Received.body` of an attachment holds the
/// descriptor — the key in clear at bytes 1..33 — and is not wiped (and `Received` is `Clone`);
/// its `Debug` is redacted. The application must parse it and drop it at once.
#[test]
fn known_limit_received_body_holds_the_key_and_is_not_wiped() {
    let mut p = crate::common::established(93, false);
    let (_, d) = seal_with(&mut p.rng, b"secret photo");
    let wire = d.send(&mut p.alice, &mut p.rng, 5).unwrap();
    let Receipt::Message(got) = p.bob.receive(&wire, 6).unwrap() else {
        panic!("not a message")
    };
    assert_eq!(got.kind, ContentKind::Attachment);
    assert_eq!(&got.body[1..33], d.key().as_bytes());
    let shown = format!("{got:?} {got:#?}");
    assert!(!shows(&shown, d.key().as_bytes()), "{shown}");
    assert!(Probe::<Received>(PhantomData).is_clone());
    let copy: Vec<u8> = got.body.clone();
    assert_eq!(copy, got.body); // a plain Vec: nothing wipes it
}

/// Known limit (SECURITY.md, "Attachments"): a stream read in order releases each chunk once it
/// authenticates, so a stream cut by the server gives its prefix before `is_complete` says
/// anything; and the server learns the padded size only — every size in one Padmé bucket
/// stores the same number of bytes.
#[test]
fn known_limit_a_cut_stream_releases_its_prefix_and_the_server_sees_the_bucket() {
    let file = pattern(3 * 16_384 + 77, 13);
    let (stored, d) = seal_with(&mut rng(94), &file);
    let mut dec = AttachmentDecryptor::new(&d, d.header()).unwrap();
    let mut shown = Vec::new();
    for i in 0..2 {
        let mut buf = chunk_of(&stored, i).to_vec();
        dec.open_next(&mut buf).unwrap();
        shown.extend_from_slice(&buf);
    }
    assert_eq!(shown, file[..2 * 16_384]);
    assert!(!dec.is_complete());
    for (lo, hi) in [
        (1000u64, 1024u64),
        (99_329, 100_352),
        (5_000_001, 5_111_808),
    ] {
        let len = |s: u64| {
            Layout::for_plaintext(padded_size(s))
                .unwrap()
                .encrypted_len()
        };
        assert_eq!(len(lo), len(hi), "{lo}..{hi}");
        assert_ne!(len(hi), len(hi + 1));
    }
    assert_eq!(stored.len() as u64, dec.encrypted_len());
    assert_eq!(&stored[..HEADER_LEN], d.header());
}
