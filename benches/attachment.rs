//! Attachment throughput beside its floor (BENCHMARKS.md): sealing and opening a 16 MiB file
//! through `AttachmentEncryptor` / `AttachmentDecryptor` against raw AES-256-GCM sealing and
//! opening the same 16 MiB in one call each.
//!
//! Both work in place on one buffer prepared outside the timing — for the attachment, the
//! stored stream's layout with the file's bytes at each chunk's place, as an application that
//! maps the file or fills its upload buffer has it — so what differs is exactly the format's
//! cost: the key derivation, one GCM call per 16 KiB chunk with its own nonce, and the padding.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Tag};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use xchat_protocol::attachment::chunked::{CHUNK_LEN, HEADER_LEN, Layout, SEALED_CHUNK_LEN};
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentEncryptor, AttachmentInfo, padded_size,
};

const SIZE: usize = 16 << 20;

/// The stored stream's buffer with the file's bytes at every chunk's place.
fn stream_buffer() -> Vec<u8> {
    let layout = Layout::for_plaintext(padded_size(SIZE as u64)).unwrap();
    let mut stream = vec![0u8; layout.encrypted_len() as usize];
    for i in 0..layout.chunk_count() {
        let r = layout.encrypted_range(i).unwrap();
        let start = r.start as usize;
        let n = (r.end - r.start) as usize - 16;
        stream[start..start + n].fill(0x5A);
    }
    stream
}

fn attachment_16mib(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([16; 32]);
    let mut g = c.benchmark_group("attachment_16MiB");
    g.throughput(Throughput::Bytes(2 * SIZE as u64));
    g.sample_size(30);
    // One buffer for every iteration: opening leaves the file's bytes where sealing takes them,
    // so each iteration seals and opens the same file (and no allocation is timed).
    let mut stream = stream_buffer();
    g.bench_function("protocol", |b| {
        b.iter(|| {
            let mut enc = AttachmentEncryptor::new(&mut rng, SIZE as u64).unwrap();
            stream[..HEADER_LEN].copy_from_slice(enc.header());
            let mut at = HEADER_LEN;
            while enc.next_input_len().is_some() {
                let end = (at + SEALED_CHUNK_LEN).min(stream.len());
                enc.seal_next_in_place(&mut stream[at..end]).unwrap();
                at = end;
            }
            let d = enc.finish(AttachmentInfo::default()).unwrap();
            let mut dec = AttachmentDecryptor::new(&d, &stream[..HEADER_LEN]).unwrap();
            for i in 0..dec.chunk_count() {
                let r = dec.encrypted_range(i).unwrap();
                let n = dec
                    .open_next_in_place(&mut stream[r.start as usize..r.end as usize])
                    .unwrap();
                debug_assert!(n <= CHUNK_LEN);
            }
            assert!(dec.is_complete());
        })
    });
    // With the digest (required for groups): one SHA-256 pass over the stream on each side.
    g.bench_function("protocol_with_digest", |b| {
        b.iter(|| {
            let mut enc = AttachmentEncryptor::with_digest(&mut rng, SIZE as u64).unwrap();
            stream[..HEADER_LEN].copy_from_slice(enc.header());
            while let Some(r) = enc.next_range() {
                enc.seal_next_in_place(&mut stream[r.start as usize..r.end as usize])
                    .unwrap();
            }
            let d = enc.finish(AttachmentInfo::default()).unwrap();
            let mut dec = AttachmentDecryptor::new(&d, &stream[..HEADER_LEN]).unwrap();
            for i in 0..dec.chunk_count() {
                let r = dec.encrypted_range(i).unwrap();
                dec.open_next_in_place(&mut stream[r.start as usize..r.end as usize])
                    .unwrap();
            }
            assert!(dec.is_complete());
        })
    });
    let aead = Aes256Gcm::new(&[7u8; 32].into());
    let nonce = [9u8; 12];
    let mut buf = vec![0x5Au8; SIZE];
    g.bench_function("floor", |b| {
        b.iter(|| {
            let tag: Tag = aead
                .encrypt_inout_detached(&nonce.into(), &[], buf.as_mut_slice().into())
                .unwrap();
            aead.decrypt_inout_detached(&nonce.into(), &[], buf.as_mut_slice().into(), &tag)
                .unwrap();
        })
    });
    // The digest mode's floor: the same, plus SHA-256 over the 16 MiB ciphertext after sealing
    // and before opening.
    g.bench_function("floor_with_sha256", |b| {
        b.iter(|| {
            let tag: Tag = aead
                .encrypt_inout_detached(&nonce.into(), &[], buf.as_mut_slice().into())
                .unwrap();
            let sealed = Sha256::digest(&buf);
            let opened = Sha256::digest(&buf);
            assert_eq!(sealed, opened);
            aead.decrypt_inout_detached(&nonce.into(), &[], buf.as_mut_slice().into(), &tag)
                .unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, attachment_16mib);
criterion_main!(benches);
