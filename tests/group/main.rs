//! Group messaging with sender keys (SPEC.md §13): membership and healing, receiving under the
//! limits, attacks by members and outsiders, and distributions over real pairwise sessions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../common/mod.rs"]
mod common;
mod support;

mod attacks;
mod membership;
mod receiving;
mod sessions;
mod state;
