//! Properties over random attachments and random damage: any damage to a stored stream is
//! refused (with a typed error, before any plaintext of the damaged chunk is released), and every
//! undamaged chunk still opens alone to exactly its bytes of the file.

use proptest::prelude::*;
use xchat_protocol::attachment::AttachmentDecryptor;
use xchat_protocol::attachment::chunked::{HEADER_LEN, SEALED_CHUNK_LEN};

use crate::common::proptest_config;
use crate::support::{open_attachment, pattern, rng, seal_attachment};

/// One way to damage a stored stream.
#[derive(Debug, Clone)]
enum Damage {
    /// Flip bit `bit` of byte `at` (modulo the length).
    Flip { at: usize, bit: u8 },
    /// Cut the stream to `at` bytes (modulo the length).
    Truncate { at: usize },
    /// Append bytes.
    Append { bytes: Vec<u8> },
    /// Insert bytes at `at`.
    Insert { at: usize, bytes: Vec<u8> },
    /// Swap two sealed chunks (when they differ).
    Swap { a: usize, b: usize },
    /// Copy chunk `from` over chunk `to` (when they differ).
    Duplicate { from: usize, to: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        any::<usize>().prop_map(|at| Damage::Truncate { at }),
        proptest::collection::vec(any::<u8>(), 1..40).prop_map(|bytes| Damage::Append { bytes }),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..40)
        )
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Damage::Swap { a, b }),
        (any::<usize>(), any::<usize>()).prop_map(|(from, to)| Damage::Duplicate { from, to }),
    ]
}

/// The damaged stream, or `None` if this damage leaves it unchanged.
fn apply(stored: &[u8], chunks: usize, d: &Damage) -> Option<Vec<u8>> {
    let mut s = stored.to_vec();
    let span = |i: usize| {
        let start = HEADER_LEN + i * SEALED_CHUNK_LEN;
        start..stored.len().min(start + SEALED_CHUNK_LEN)
    };
    match d {
        Damage::Flip { at, bit } => s[at % stored.len()] ^= 1 << bit,
        Damage::Truncate { at } => s.truncate(at % stored.len()),
        Damage::Append { bytes } => s.extend_from_slice(bytes),
        Damage::Insert { at, bytes } => {
            let at = at % stored.len();
            s.splice(at..at, bytes.iter().copied());
        }
        Damage::Swap { a, b } | Damage::Duplicate { from: a, to: b } => {
            let (a, b) = (a % chunks, b % chunks);
            if a == b || stored[span(a)] == stored[span(b)] {
                return None;
            }
            let (ca, cb) = (stored[span(a)].to_vec(), stored[span(b)].to_vec());
            let mut out = stored[..HEADER_LEN].to_vec();
            for i in 0..chunks {
                let piece = match d {
                    Damage::Swap { .. } if i == a => &cb,
                    Damage::Swap { .. } if i == b => &ca,
                    Damage::Duplicate { .. } if i == b => &ca,
                    _ => &stored[span(i)].to_vec(),
                };
                out.extend_from_slice(piece);
            }
            s = out;
        }
    }
    (s != stored).then_some(s)
}

proptest! {
    #![proptest_config(proptest_config(64))]

    #[test]
    fn any_damage_is_refused_and_undamaged_chunks_still_open(
        len in prop_oneof![0usize..2000, 15_000usize..70_000],
        seed in any::<u8>(),
        d in damage(),
    ) {
        let file = pattern(len);
        let mut r = rng(seed);
        let (stored, descriptor) = seal_attachment(&mut r, &file);
        let dec = AttachmentDecryptor::new(&descriptor, &stored[..HEADER_LEN]).unwrap();
        let chunks = dec.chunk_count() as usize;
        let Some(bad) = apply(&stored, chunks, &d) else {
            return Ok(());
        };
        prop_assert!(open_attachment(&descriptor, &bad).is_err(), "{:?} was accepted", d);
        // Every chunk whose bytes are where and what they were opens alone to its file bytes.
        for i in 0..chunks as u64 {
            let range = dec.encrypted_range(i).unwrap();
            let (start, end) = (range.start as usize, range.end as usize);
            let intact = bad.get(start..end) == Some(&stored[start..end]);
            let mut buf = bad.get(start..end).unwrap_or(&[]).to_vec();
            let opened = dec.open_chunk(i, &mut buf);
            if intact {
                prop_assert!(opened.is_ok(), "chunk {} of {:?}", i, d);
                let f = dec.file_range(i).unwrap();
                prop_assert_eq!(&buf[..], &file[f.start as usize..f.end as usize]);
            } else {
                prop_assert!(opened.is_err(), "damaged chunk {} of {:?} opened", i, d);
            }
        }
    }
}
