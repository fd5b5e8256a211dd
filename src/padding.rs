//! Length hiding: Padmé padding (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files
//! and Communication with PURBs", PETS 2019), used by the content frame (SPEC.md §8.2) and the
//! sealed-sender payload (§9.2). A padded length leaks O(log log L) bits of the length L, and
//! costs at most 12% overhead.

/// Every frame is padded to at least this many bytes (SPEC.md §8.2).
pub const MIN_PADDED_LEN: usize = 256;

/// The padded length of a frame whose unpadded length is `len`: Padmé (Nikitin et al., 2019)
/// with a floor of [`MIN_PADDED_LEN`] (SPEC.md §8.2).
///
/// ```
/// use xchat_protocol::padding::padded_len;
/// assert_eq!(padded_len(10), 256); // every short message looks the same
/// assert_eq!(padded_len(1000), 1024);
/// assert!(padded_len(100_000) - 100_000 < 100_000 / 8); // at most 12% on long ones
/// ```
pub const fn padded_len(len: usize) -> usize {
    // usize is at most 64 bits on every target Rust supports, so the widening is exact, and a
    // result past usize::MAX (only from lengths within 2^(E−S) of it) saturates to usize::MAX.
    let padded = padded_len_u64(len as u64);
    if padded > usize::MAX as u64 {
        usize::MAX
    } else {
        padded as usize
    }
}

/// [`padded_len`] for 64-bit lengths, such as an attachment's (SPEC.md §14.3).
///
/// ```
/// use xchat_protocol::padding::padded_len_u64;
/// assert_eq!(padded_len_u64(0), 256);
/// assert_eq!(padded_len_u64(5_000_000), 5_111_808); // 2.2% more
/// ```
pub const fn padded_len_u64(len: u64) -> u64 {
    let padme = if len < 2 {
        len
    } else {
        let e = u64::BITS - 1 - len.leading_zeros(); // floor(log2 len)
        let s = u32::BITS - e.leading_zeros(); // floor(log2 e) + 1
        let mask = (1u64 << (e - s)) - 1;
        // Lengths within 2^(E−S) of u64::MAX saturate to u64::MAX, so the result is never
        // below `len`.
        match len.checked_add(mask) {
            Some(rounded) => rounded & !mask,
            None => u64::MAX,
        }
    };
    if padme > MIN_PADDED_LEN as u64 {
        padme
    } else {
        MIN_PADDED_LEN as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padme_matches_the_published_definition() {
        // Independent reference: E = floor(log2 L), S = floor(log2 E) + 1, round L up to a
        // multiple of 2^(E - S).
        fn reference(l: usize) -> usize {
            let e = (l as f64).log2().floor() as u32;
            let s = (f64::from(e)).log2().floor() as u32 + 1;
            let m = 1usize << (e - s);
            l.div_ceil(m) * m
        }
        for l in (2..100_000).step_by(7) {
            assert_eq!(padded_len(l), reference(l).max(MIN_PADDED_LEN), "L = {l}");
        }
        assert_eq!(padded_len(0), MIN_PADDED_LEN);
    }
}
