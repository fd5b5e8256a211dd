//! Shared pieces of the ML-KEM tests: the outcome `Tally` (copied from `tests/wycheproof.rs`),
//! two RNGs that pin down what the crate draws (`Scripted` returns given bytes, `Recorder` logs
//! seeded draws), and an independent reader of the 12-bit coefficients of an encapsulation key.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_core::{TryCryptoRng, TryRng};

/// The ML-KEM modulus `q`.
pub const Q: u16 = 3329;
/// Bytes of an encapsulation key that encode `t̂` (`ByteEncode_12` of 4 × 256 coefficients); the
/// 32 bytes after them are `ρ`.
pub const T_HAT_LEN: usize = 1536;
/// Coefficients of `t̂` in an ML-KEM-1024 encapsulation key.
pub const COEFFICIENTS: usize = 1024;

/// Outcome counts of one suite.
pub struct Tally {
    suite: &'static str,
    counts: BTreeMap<&'static str, usize>,
}

impl Tally {
    pub fn new(suite: &'static str) -> Self {
        Self {
            suite,
            counts: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, outcome: &'static str) {
        *self.counts.entry(outcome).or_default() += 1;
    }

    pub fn get(&self, outcome: &str) -> usize {
        self.counts.get(outcome).copied().unwrap_or(0)
    }

    /// Prints the tally, checks that it accounts for `total` cases, and that every outcome in
    /// `must_occur` was seen.
    pub fn finish(&self, total: usize, must_occur: &[&str]) {
        println!("{}:", self.suite);
        for (outcome, n) in &self.counts {
            println!("  {n:4}  {outcome}");
        }
        let counted: usize = self.counts.values().sum();
        assert_eq!(counted, total, "{}: not every case was judged", self.suite);
        for outcome in must_occur {
            assert!(
                self.get(outcome) > 0,
                "{}: no case ended as {outcome:?}",
                self.suite
            );
        }
    }
}

/// A fixed-size array from a vector field, naming the case if the length is wrong.
pub fn array<const N: usize>(bytes: &[u8], field: &str, tc_id: usize) -> [u8; N] {
    bytes.try_into().unwrap_or_else(|_| {
        panic!(
            "tc {tc_id}: {field} has {} bytes, expected {N}",
            bytes.len()
        )
    })
}

/// An RNG that returns exactly the scripted draws, in order, each of its scripted length, and
/// panics on anything else: another length, one draw too many, or `next_u32`/`next_u64`.
/// [`Scripted::finish`] checks that every draw was taken.
pub struct Scripted {
    draws: VecDeque<Vec<u8>>,
}

impl Scripted {
    pub fn new(draws: &[&[u8]]) -> Self {
        Self {
            draws: draws.iter().map(|d| d.to_vec()).collect(),
        }
    }

    /// Panics unless every scripted draw was consumed.
    pub fn finish(&self) {
        assert!(
            self.draws.is_empty(),
            "{} scripted draw(s) were not taken",
            self.draws.len()
        );
    }
}

impl TryRng for Scripted {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("the crate is expected to draw with fill_bytes only")
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("the crate is expected to draw with fill_bytes only")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let next = self
            .draws
            .pop_front()
            .unwrap_or_else(|| panic!("an unscripted draw of {} bytes", dst.len()));
        assert_eq!(
            next.len(),
            dst.len(),
            "a draw of {} bytes where the script has {}",
            dst.len(),
            next.len()
        );
        dst.copy_from_slice(&next);
        Ok(())
    }
}

impl TryCryptoRng for Scripted {}

/// A seeded ChaCha20 RNG that logs every `fill_bytes` draw (and panics on `next_u32`/`next_u64`,
/// so that every byte the crate consumes is in the log).
pub struct Recorder {
    inner: ChaCha20Rng,
    pub draws: Vec<Vec<u8>>,
}

impl Recorder {
    pub fn new(seed: u8) -> Self {
        Self {
            inner: ChaCha20Rng::from_seed([seed; 32]),
            draws: Vec::new(),
        }
    }
}

impl TryRng for Recorder {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("the crate is expected to draw with fill_bytes only")
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("the crate is expected to draw with fill_bytes only")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.fill_bytes(dst);
        self.draws.push(dst.to_vec());
        Ok(())
    }
}

impl TryCryptoRng for Recorder {}

/// Coefficient `i` of `t̂` (FIPS 203 `ByteDecode_12` without the reduction mod `q`): coefficients
/// `2j` and `2j + 1` share bytes `3j..3j + 3`, little-endian, 12 bits each.
pub fn coefficient(ek: &[u8], i: usize) -> u16 {
    let b = &ek[3 * (i / 2)..3 * (i / 2) + 3];
    let (b0, b1, b2) = (u16::from(b[0]), u16::from(b[1]), u16::from(b[2]));
    if i.is_multiple_of(2) {
        b0 | (b1 & 0x0F) << 8
    } else {
        b1 >> 4 | b2 << 4
    }
}

/// Sets coefficient `i` of `t̂` to the 12-bit `value`, leaving every other bit as it was.
pub fn set_coefficient(ek: &mut [u8], i: usize, value: u16) {
    assert!(value < 1 << 12, "{value} does not fit in 12 bits");
    let [lo, hi] = value.to_le_bytes();
    let j = 3 * (i / 2);
    if i.is_multiple_of(2) {
        ek[j] = lo;
        ek[j + 1] = (ek[j + 1] & 0xF0) | hi;
    } else {
        ek[j + 1] = (ek[j + 1] & 0x0F) | (lo & 0x0F) << 4;
        ek[j + 2] = (value >> 4) as u8;
    }
}

/// The first coefficient of `t̂` that is not below `q` (the FIPS 203 §7.2 modulus check fails),
/// or `None`. `ek` must be at least [`T_HAT_LEN`] bytes.
pub fn overflowing_coefficient(ek: &[u8]) -> Option<usize> {
    (0..COEFFICIENTS).find(|&i| coefficient(ek, i) >= Q)
}

#[test]
fn coefficient_codec_round_trips() {
    let mut ek = vec![0u8; T_HAT_LEN];
    for i in 0..COEFFICIENTS {
        set_coefficient(&mut ek, i, ((i * 37 + 5) % 4096) as u16);
    }
    for i in 0..COEFFICIENTS {
        assert_eq!(
            coefficient(&ek, i),
            ((i * 37 + 5) % 4096) as u16,
            "coefficient {i}"
        );
    }
    // Bytes 0..3 = 0x01 0x23 0x45 hold 0x301 and 0x452.
    let ek = [0x01, 0x23, 0x45];
    assert_eq!((coefficient(&ek, 0), coefficient(&ek, 1)), (0x301, 0x452));
}
