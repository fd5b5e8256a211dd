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
    let padme = if len < 2 {
        len
    } else {
        let e = usize::BITS - 1 - len.leading_zeros(); // floor(log2 len)
        let s = u32::BITS - e.leading_zeros(); // floor(log2 e) + 1
        let mask = (1usize << (e - s)) - 1;
        // Lengths no message can have (within 2^(E−S) of usize::MAX) saturate to usize::MAX,
        // so the result is never below `len`.
        match len.checked_add(mask) {
            Some(rounded) => rounded & !mask,
            None => usize::MAX,
        }
    };
    if padme > MIN_PADDED_LEN {
        padme
    } else {
        MIN_PADDED_LEN
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
