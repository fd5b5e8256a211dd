//! Attachments (SPEC.md §14): the C2SP chunked stream against Wycheproof's Cobblestone-256 set,
//! round trips at every size boundary, the attacks on a stream (each with its typed error),
//! properties over random streams and damage, memory bounded by one chunk (counted), and the
//! descriptor through sessions and groups.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../common/mod.rs"]
mod common;

mod attacks;
mod descriptor;
mod memory;
mod properties;
mod support;
mod wycheproof;
