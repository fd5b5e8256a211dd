//! Memory bounded by one chunk, whatever the attachment's size: the peak of live heap bytes
//! while sealing and opening a 1 MiB and a 64 MiB stream, counted by the allocator (never timed).
//! The test streams the file from a generator and drops each sealed chunk, as an app writing to
//! the network would; only the library's allocations and one reused chunk buffer are live.

use xchat_protocol::attachment::chunked::{HEADER_LEN, SEALED_CHUNK_LEN};
use xchat_protocol::attachment::{AttachmentDecryptor, AttachmentEncryptor, AttachmentInfo};

use crate::support::rng;

/// Seals and opens an attachment of `size` bytes chunk by chunk, keeping nothing but one buffer;
/// returns the peak live bytes of each half.
fn peaks(size: u64) -> (u64, u64) {
    let mut r = rng(30);
    let mut descriptor = None;
    let mut header = [0u8; HEADER_LEN];
    let mut sealed_chunks = Vec::new();
    let seal = allocation_counter::measure(|| {
        let mut enc = AttachmentEncryptor::new(&mut r, size).unwrap();
        header = *enc.header();
        let mut buf = Vec::with_capacity(SEALED_CHUNK_LEN);
        let mut i = 0u64;
        while let Some(n) = enc.next_input_len() {
            buf.clear();
            buf.resize(n, (i % 251) as u8);
            enc.seal_next(&mut buf).unwrap();
            // Keep two sealed chunks (the first and the last) to open below; drop the rest.
            if i == 0 || enc.next_input_len().is_none() {
                sealed_chunks.push((i, buf.clone()));
            }
            i += 1;
        }
        descriptor = Some(enc.finish(AttachmentInfo::default()).unwrap());
    });
    let descriptor = descriptor.unwrap();
    let open = allocation_counter::measure(|| {
        let dec = AttachmentDecryptor::new(&descriptor, &header).unwrap();
        let mut buf = Vec::with_capacity(SEALED_CHUNK_LEN);
        for (i, chunk) in &sealed_chunks {
            buf.clear();
            buf.extend_from_slice(chunk);
            dec.open_chunk(*i, &mut buf).unwrap();
        }
    });
    (seal.bytes_max, open.bytes_max)
}

#[test]
fn peak_memory_does_not_grow_with_the_attachment() {
    let (seal_1, open_1) = peaks(1 << 20);
    let (seal_64, open_64) = peaks(64 << 20);
    println!(
        "peak live heap bytes: seal 1 MiB {seal_1}, 64 MiB {seal_64}; open 1 MiB {open_1}, 64 MiB {open_64}"
    );
    // The same peak for both sizes, and below a few chunks' worth.
    assert_eq!(seal_1, seal_64);
    assert_eq!(open_1, open_64);
    let bound = 4 * SEALED_CHUNK_LEN as u64;
    assert!(seal_64 <= bound, "sealing peaked at {seal_64} bytes");
    assert!(open_64 <= bound, "opening peaked at {open_64} bytes");
}
