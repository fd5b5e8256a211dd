//! Outside audit of the account code (SPEC.md §15): hand-made lists signed with the account's own
//! key (so that only the property under attack fails), malleated and torsion-twisted signatures
//! and keys, chains with forks in the middle, huge batches, event exactness, sealed-sender
//! binding, and safety-number / QR comparison edge cases.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod craft;
mod decode;
mod safety;
mod view;
