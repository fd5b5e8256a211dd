//! The generator's RNGs: [`Recorder`] draws from a seeded ChaCha20 and logs every draw the crate
//! makes; [`Scripted`] replays published draws (for the vector tests).

use std::collections::VecDeque;
use std::convert::Infallible;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng, TryCryptoRng, TryRng};

/// A seeded ChaCha20 RNG that logs every `fill_bytes` draw.
pub struct Recorder {
    inner: ChaCha20Rng,
    draws: Vec<Vec<u8>>,
}

impl Recorder {
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            inner: ChaCha20Rng::from_seed(seed),
            draws: Vec::new(),
        }
    }

    /// The draws logged since the last call.
    pub fn take(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.draws)
    }

    /// 32 bytes for the generator's own use (explicit seeds), not logged.
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.inner.fill_bytes(&mut b);
        b
    }

    /// `n` bytes for the generator's own use, not logged.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        self.inner.fill_bytes(&mut b);
        b
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

/// An RNG that returns exactly the published draws, in order, each of the published length.
pub struct Scripted {
    draws: VecDeque<Vec<u8>>,
}

impl Scripted {
    pub fn new(draws: Vec<Vec<u8>>) -> Self {
        Self {
            draws: draws.into(),
        }
    }

    /// Draws not consumed yet.
    pub fn remaining(&self) -> usize {
        self.draws.len()
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
            .expect("the operation drew more often than the vector says");
        assert_eq!(next.len(), dst.len(), "a draw of another length");
        dst.copy_from_slice(&next);
        Ok(())
    }
}

impl TryCryptoRng for Scripted {}
