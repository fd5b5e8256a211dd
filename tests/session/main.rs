//! Sessions end to end: X3DH, prekey messages, ratchet turns, out-of-order delivery, limits,
//! replay, transactional failure and persistence.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../common/mod.rs"]
mod common;

mod conversation;
mod establishment;
mod limits;
mod persistence;
