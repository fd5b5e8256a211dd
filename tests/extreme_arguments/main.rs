//! Extreme arguments: every public function that takes a count, a length, a size, a time or an id
//! is called with 0, 1, the maximum of its type, its documented limit, the limit + 1 and far more
//! (16 MiB inputs), and with empty, 1-byte and huge byte strings.
//!
//! Each call must not panic; the documented bound must hold (`Ok` just inside, the documented typed
//! error just outside); and a failed call must leave the object unchanged (`to_bytes()` compared
//! before and after, where the type has it).
//!
//! The problems this test found are fixed; the tests in `fixed` keep them fixed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../common/mod.rs"]
mod common;

mod content;
mod decoders;
mod fixed;
mod forge;
mod keys;
mod prekey_store;
mod sealed_sender;
mod session_bounds;
mod session_limits;
mod support;
