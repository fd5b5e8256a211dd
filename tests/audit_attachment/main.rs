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
//! - `fixed_*`: a finding that was fixed; the test asserts the fix (every `broken_*` of this
//!   audit is now one: the stored header is required by `AttachmentDecryptor::new`, a digest
//!   pins the stream for groups, `Layout` no longer overflows, `finish` borrows, `open_chunk`
//!   refuses index 2^38 − 1 as a full chunk, and the encryptor has `next_range`).
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
