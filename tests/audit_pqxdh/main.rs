//! Outside (hostile) audit of the post-quantum handshake, PQXDH (SPEC.md §3.1b, §4.5, §5.1,
//! §5.3, §7.2–§7.4, §10.2–§10.3, §12 items 15–18), as a malicious relay or server, a malicious
//! peer, and someone who can write the victim's stored state.
//!
//! Naming:
//! - `fixed_*`: a finding. The test asserts the CORRECT behaviour, so it fails until the defect is
//!   fixed (both findings of this audit are fixed, so their tests run).
//! - `held_*`: an attack that failed (the defence held); it passes and stays as a regression test.
//! - `known_limit_*` (ignored): a documented limitation, confirmed; it asserts that the limit
//!   exists, so it passes under `--include-ignored`.
//!
//! Modules: `support` (the scene and the byte offsets of SPEC.md §5.3), `derive` (an independent
//! responder written from SPEC.md alone), `replay`, `downgrade`, `signatures`, `kem_ciphertext`,
//! `failed_calls`, `store_calls`, `forged_store`, `forged_session`, `decoders`, `secrets`,
//! `sealed`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../common/mod.rs"]
mod common;

mod decoders;
mod derive;
mod downgrade;
mod failed_calls;
mod forged_session;
mod forged_store;
mod kem_ciphertext;
mod replay;
mod sealed;
mod secrets;
mod signatures;
mod store_calls;
mod support;
