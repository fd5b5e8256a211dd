//! Accounts (SPEC.md §15): signed, hash-chained device lists against ghost devices, rollback,
//! forks and foreign account keys (attacks and a proptest over hostile server sequences), the
//! events an app shows, and safety numbers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../common/mod.rs"]
mod common;

mod contact;
mod device_list;
mod properties;
mod safety;
mod support;
