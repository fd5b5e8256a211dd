//! Outside (hostile) audit of the "Unreleased" fixes: replay protection of first messages, the
//! replay record, timers, forged state blobs, secret copies.
//!
//! Naming:
//! - `fixed_*` tests are the audit's findings, each now asserting the fixed behaviour (they failed
//!   before the fix); `known_limit_*` asserts a documented limit; `legacy_*` the reading of the
//!   version 1 store format.
//! - `held_*` tests are attacks that FAILED (the defence held); they pass and are kept as
//!   regression tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../common/mod.rs"]
mod common;

mod forge;
mod fuzz;
mod message_binding;
mod replay_record;
mod sealed_sender;
mod state_blobs;
mod support;
mod timers;
