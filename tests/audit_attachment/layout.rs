//! `Layout`, `padded_size` and the attachment's ranges at extreme values: u64::MAX, the 2^38
//! chunk limit, the 2^46-byte attachment limit, every residue of an encrypted length.

use std::panic::{AssertUnwindSafe, catch_unwind};

use xchat_protocol::attachment::chunked::{
    CHUNK_LEN, HEADER_LEN, Layout, MAX_CHUNKS, SEALED_CHUNK_LEN, TAG_LEN,
};
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentError, MAX_ATTACHMENT_LEN, padded_size,
};
use xchat_protocol::padding::padded_len_u64;

use crate::support::{chunks_for, crafted_descriptor, rng};
use rand_chacha::rand_core::Rng;

const C: u64 = CHUNK_LEN as u64;
const S: u64 = SEALED_CHUNK_LEN as u64;
const H: u64 = HEADER_LEN as u64;
const T: u64 = TAG_LEN as u64;
/// The longest plaintext C2SP allows: 2^38 chunks, the last one 16 383 bytes.
const MAX_PLAIN: u64 = (MAX_CHUNKS - 1) * C + (C - 1);

/// The one chunk index whose start, `56 + i · 16400`, passes `checked_mul` but overflows the
/// addition: `u64::MAX mod 16400 = 15 < 56`.
const OVERFLOWING_INDEX: u64 = u64::MAX / S;

/// Independent arithmetic for one layout: checks every method against the C2SP formulas.
fn check_layout(layout: &Layout, len: u64) {
    let n = chunks_for(len);
    assert_eq!(layout.plaintext_len(), len);
    assert_eq!(layout.chunk_count(), n);
    assert_eq!(layout.encrypted_len(), H + len + T * n);
    let last = n - 1;
    assert!(layout.is_final(last));
    if last > 0 {
        assert!(!layout.is_final(last - 1));
    }
    let er = layout.encrypted_range(last).unwrap();
    assert_eq!(er.start, H + last * S);
    assert_eq!(er.end, layout.encrypted_len());
    assert!(er.end - er.start >= T && er.end - er.start < S);
    let pr = layout.plaintext_range(last).unwrap();
    assert_eq!(pr, last * C..len);
    assert_eq!(layout.encrypted_range(n), None);
    assert_eq!(layout.plaintext_range(n), None);
    assert_eq!(layout.chunk_of(len), None);
    if len > 0 {
        assert_eq!(layout.chunk_of(len - 1), Some((len - 1) / C));
    }
    if n > 1 {
        let before = layout.encrypted_range(last - 1).unwrap();
        assert_eq!(before, H + (last - 1) * S..er.start);
        assert_eq!(
            layout.plaintext_range(last - 1).unwrap(),
            (last - 1) * C..last * C
        );
    }
    // Exactly one layout per valid encrypted length, both ways.
    assert_eq!(
        Layout::for_encrypted(layout.encrypted_len()).unwrap(),
        *layout
    );
}

/// Plaintext lengths at the limits: the largest allowed, one past it, u64::MAX; every method
/// answers with the C2SP arithmetic, and `for_encrypted` inverts `encrypted_len`.
#[test]
fn held_layout_arithmetic_at_the_2_38_chunk_limit() {
    for len in [
        0,
        1,
        C - 1,
        C,
        C + 1,
        MAX_ATTACHMENT_LEN,
        MAX_PLAIN - C,
        MAX_PLAIN - 1,
        MAX_PLAIN,
        (MAX_CHUNKS - 1) * C, // the final chunk empty, at index 2^38 − 1
    ] {
        let layout = Layout::for_plaintext(len).unwrap();
        check_layout(&layout, len);
    }
    assert_eq!(
        Layout::for_plaintext(MAX_PLAIN).unwrap().chunk_count(),
        MAX_CHUNKS
    );
    for len in [MAX_PLAIN + 1, MAX_CHUNKS * C, u64::MAX / 2, u64::MAX] {
        assert_eq!(Layout::for_plaintext(len), Err(AttachmentError::TooLarge));
    }
    // Encrypted lengths just past the largest stream, and at u64::MAX.
    let max_enc = Layout::for_plaintext(MAX_PLAIN).unwrap().encrypted_len();
    for len in [
        max_enc + 1,
        max_enc + S,
        max_enc + S + T,
        u64::MAX,
        u64::MAX - 1,
    ] {
        assert!(Layout::for_encrypted(len).is_err(), "{len}");
    }
}

/// Every residue of an encrypted length modulo a sealed chunk: lengths ending inside a tag (or
/// on a full chunk) have no layout, the rest have exactly one, at small and huge chunk counts.
#[test]
fn held_for_encrypted_is_exact_for_every_residue() {
    for full in [0u64, 1, 2, 1 << 20, MAX_CHUNKS - 2, MAX_CHUNKS - 1] {
        for rest in (0..T + 3).chain([S - 2, S - 1]) {
            let len = H + full * S + rest;
            let r = Layout::for_encrypted(len);
            if rest < T {
                assert_eq!(r, Err(AttachmentError::Truncated), "{full} {rest}");
            } else {
                let layout = r.unwrap();
                assert_eq!(layout.encrypted_len(), len);
                check_layout(&layout, layout.plaintext_len());
            }
        }
    }
    for len in 0..H + T {
        assert_eq!(
            Layout::for_encrypted(len),
            Err(AttachmentError::Truncated),
            "{len}"
        );
    }
    // Random lengths: Ok only if the inverse maps back.
    let mut r = rng(40);
    for _ in 0..20_000 {
        let len = r.next_u64() >> (r.next_u32() % 64);
        if let Ok(layout) = Layout::for_encrypted(len) {
            assert_eq!(layout.encrypted_len(), len);
        }
    }
}

/// Ranges and `chunk_of` at huge indices and offsets answer `None`, never panic — except the
/// two cases of the next finding.
#[test]
fn held_ranges_at_huge_indices_are_none() {
    let layouts = [
        Layout::for_plaintext(0).unwrap(),
        Layout::for_plaintext(5 * C + 7).unwrap(),
        Layout::for_plaintext(MAX_PLAIN).unwrap(),
    ];
    let indices = [
        MAX_CHUNKS,
        MAX_CHUNKS + 1,
        1 << 50,
        u64::MAX / C,
        OVERFLOWING_INDEX - 1,
        OVERFLOWING_INDEX + 1,
        u64::MAX - 1,
        u64::MAX,
    ];
    for layout in &layouts {
        for &i in &indices {
            if i == u64::MAX {
                continue; // `encrypted_range(u64::MAX)` fails `checked_mul`: None (checked below)
            }
            assert_eq!(layout.encrypted_range(i), None, "{i}");
            assert_eq!(layout.plaintext_range(i), None, "{i}");
            assert!(!layout.is_final(i));
        }
        assert_eq!(layout.encrypted_range(u64::MAX), None);
        assert_eq!(layout.plaintext_range(u64::MAX), None);
        for offset in [layout.plaintext_len(), u64::MAX - 1, u64::MAX] {
            assert_eq!(layout.chunk_of(offset), None);
        }
    }
}

/// FIXED (was low): two `Layout` methods overflow on hostile indices and panic in any build
/// with overflow checks (debug builds, and release builds that enable them): `is_final(u64::MAX)`
/// computes `index + 1`, and `encrypted_range(u64::MAX / 16400)` computes `56 + index · 16400`,
/// where only the product is checked (u64::MAX mod 16400 is 15, so adding the 56-byte header
/// wraps). The second is reachable through the attachment API:
/// `AttachmentDecryptor::encrypted_range` and `open_chunk` with that index, before the index is
/// compared with the chunk count. Release builds without overflow checks wrap and then answer
/// correctly (`None` / `false`), so this is a denial of service only where overflow checks are
/// on, and only if an index comes from outside. It contradicts "no panic on any input".
/// Fix: `index.checked_add(1) == Some(self.chunk_count())` in `is_final`; in `encrypted_range`
/// check `index < chunk_count()` first (or `checked_add` the header).
#[test]
fn fixed_layout_is_final_and_encrypted_range_no_longer_overflow_on_huge_indices() {
    let layout = Layout::for_plaintext(1000).unwrap();
    let overflow_checks = cfg!(debug_assertions);
    let is_final = catch_unwind(AssertUnwindSafe(|| layout.is_final(u64::MAX)));
    let range = catch_unwind(AssertUnwindSafe(|| {
        layout.encrypted_range(OVERFLOWING_INDEX)
    }));
    let (d, _) = crafted_descriptor([1; 32], [2; 24], 1000);
    let dec = AttachmentDecryptor::new(&d, d.header()).unwrap();
    let via_decryptor = catch_unwind(AssertUnwindSafe(|| dec.encrypted_range(OVERFLOWING_INDEX)));
    let via_open = catch_unwind(AssertUnwindSafe(|| {
        let mut buf = vec![0u8; 272];
        dec.open_chunk(OVERFLOWING_INDEX, &mut buf)
    }));
    // Fixed: no panic, with or without overflow checks.
    let _ = overflow_checks;
    assert!(!is_final.unwrap());
    assert_eq!(range.unwrap(), None);
    assert_eq!(via_decryptor.unwrap(), None);
    assert_eq!(
        via_open.unwrap(),
        Err(AttachmentError::NoSuchChunk(OVERFLOWING_INDEX))
    );
}

/// Padmé from its paper, in u128 so that nothing saturates: `E = ⌊log2 L⌋`, `S = ⌊log2 E⌋ + 1`,
/// round up to a multiple of `2^(E − S)`, floor 256.
fn padme_reference(len: u64) -> u128 {
    let l = u128::from(len);
    let p = if len < 2 {
        l
    } else {
        let e = 127 - l.leading_zeros();
        let s = 32 - e.leading_zeros();
        let m = 1u128 << (e - s);
        l.div_ceil(m) * m
    };
    p.max(256)
}

/// `padded_len_u64` against the reference at every power of two (±1) and near u64::MAX (where
/// it saturates), never below the size, monotone, at most `MAX_ATTACHMENT_LEN` for any size up
/// to it, and with the overheads SPEC.md §14.3 states (< 6.25% from 256 B, ≤ 3.2% from 64 KiB,
/// ≤ 1.6% from 4 GiB).
#[test]
fn held_padding_matches_padme_and_its_stated_bounds() {
    let mut lens = vec![0u64, 1, 2, 3, 255, 256, 257];
    for e in 1..64 {
        let p = 1u64 << e;
        lens.extend([p - 1, p, p + 1, p + p / 3]);
    }
    lens.extend([
        u64::MAX,
        u64::MAX - 1,
        u64::MAX - (1 << 57),
        MAX_ATTACHMENT_LEN - 1,
    ]);
    let mut r = rng(41);
    for _ in 0..20_000 {
        lens.push(r.next_u64() >> (r.next_u32() % 64));
    }
    lens.sort_unstable();
    let mut previous = 0;
    for len in lens {
        let got = padded_len_u64(len);
        assert_eq!(got, padded_size(len));
        let want = padme_reference(len);
        assert_eq!(u128::from(got), want.min(u128::from(u64::MAX)), "len {len}");
        assert!(got >= len && got >= previous, "len {len}");
        previous = got;
        if len <= MAX_ATTACHMENT_LEN {
            assert!(got <= MAX_ATTACHMENT_LEN, "len {len}");
        }
        let over = (got - len) as f64 / len as f64;
        if len >= 256 {
            assert!(over < 0.0625, "{len}: {over}");
        }
        if len >= 64 << 10 {
            assert!(over <= 0.032, "{len}: {over}");
        }
        if len >= 4 << 30 {
            assert!(over <= 0.016, "{len}: {over}");
        }
    }
}

/// The largest attachment (2^46 bytes) through the decryptor's arithmetic: 2^32 + 1 chunks, the
/// final one empty; ranges, file ranges and seeking at its last bytes; one past the limit is
/// refused by the decoder.
#[test]
fn held_the_largest_attachment_maps_every_range() {
    let (d, _) = crafted_descriptor([7; 32], [8; 24], MAX_ATTACHMENT_LEN);
    let dec = AttachmentDecryptor::new(&d, d.header()).unwrap();
    let n = (MAX_ATTACHMENT_LEN / C) + 1;
    assert_eq!(dec.chunk_count(), n);
    assert_eq!(dec.encrypted_len(), H + MAX_ATTACHMENT_LEN + T * n);
    dec.check_stored_len(dec.encrypted_len()).unwrap();
    assert_eq!(
        dec.encrypted_range(n - 1).unwrap(),
        H + (n - 1) * S..H + (n - 1) * S + T
    );
    assert_eq!(
        dec.file_range(n - 1).unwrap(),
        MAX_ATTACHMENT_LEN..MAX_ATTACHMENT_LEN
    );
    assert_eq!(
        dec.file_range(n - 2).unwrap(),
        MAX_ATTACHMENT_LEN - C..MAX_ATTACHMENT_LEN
    );
    assert_eq!(dec.chunk_of(MAX_ATTACHMENT_LEN - 1), Some(n - 2));
    assert_eq!(dec.chunk_of(MAX_ATTACHMENT_LEN), None);
    assert_eq!(dec.file_range(n), None);
    assert_eq!(dec.encrypted_range(n), None);
    let mut buf = vec![0; SEALED_CHUNK_LEN];
    assert_eq!(
        dec.open_chunk(n, &mut buf),
        Err(AttachmentError::NoSuchChunk(n))
    );
    assert_eq!(buf, vec![0; SEALED_CHUNK_LEN]);
}
