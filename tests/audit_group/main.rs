//! Outside (hostile) audit of the group layer (SPEC.md §13, §12 items 21–24, §8.5's exception
//! for sender keys): sender keys over pairwise sessions, seen as a relay, a malicious member, a
//! removed member, a newcomer and a forger of unsealed state blobs.
//!
//! Naming:
//! - `held_*`: the attack failed (the defence held); the test asserts the defence and fails if
//!   it breaks.
//! - `broken_*`: the attack succeeded; the test asserts the bad outcome, so it passes while the
//!   hole exists (and fails once it is fixed — then rename it `fixed_*` and flip the assertion).
//!   `broken_doc_*` marks a disagreement between SPEC.md and the code.
//! - `fixed_*` (`fixed_doc_*`): a finding since fixed; the test keeps the attack and asserts the
//!   fixed behaviour, so it fails if the hole comes back.
//! - `known_limit_*`: a documented limit, `#[ignore]`d with the reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../common/mod.rs"]
mod common;
mod support;

mod atomicity;
mod distributions;
mod limits;
mod membership;
mod secrets;
mod state;
mod timers;
mod wire;
