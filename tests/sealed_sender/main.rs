//! Sealed sender: certificates, seal/open, and the single call that decides who sent a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../common/mod.rs"]
mod common;

mod certificates;
mod envelopes;
mod multi;
mod sender_identity;
mod support;
