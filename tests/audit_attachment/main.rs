//! Outside (hostile) audit of attachments (SPEC.md §14, §12 items 25–27; SECURITY.md rows 19,
//! 19b and the "Attachments" known limit): the C2SP chunked stream against its published text,
//! `Layout` and the padding at extreme values, the encryptor and decryptor after misuse and
//! errors, the descriptor's encoding, and what is wiped, printed or compared.
//!
//! Naming:
//! - `held_*`: the attack failed (the claim held); the test asserts the defence.
//! - `broken_*`: the attack succeeded; the test asserts the bad outcome, so it passes while the
//!   hole exists (and fails once it is fixed — then rename it `fixed_*` and flip the
//!   assertion). Each has a doc comment `FINDING (severity)`: what, why, suggested fix.
//!   `broken_doc_*` marks a disagreement between the documentation and the code.
//! - `known_limit_*`: a documented limit, confirmed (the test shows it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../common/mod.rs"]
mod common;
mod support;

mod conformance;
mod descriptor;
mod layout;
mod salamander;
mod secrets;
mod state;
