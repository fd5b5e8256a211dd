//! An independent implementation of SPEC.md (written from the specification only, from primitives)
//! that must interoperate with the crate byte for byte: bundles, prekey and normal messages,
//! decode errors and persisted session / prekey-store / identity state, in both directions —
//! including the prekey store's per-signed-prekey replay records (§3.6, §4.3), X25519 secrets
//! held and stored clamped (§10.0), and the migration of version-1 and version-2 store and session
//! blobs (§10.2, §10.3) — and PQXDH (§3.1b, §4.5): version 0x02 bundles and prekey messages,
//! KEM prekeys in the store, version-4 store and session blobs (`pqxdh/`), its ML-KEM-1024 from
//! `libcrux-ml-kem`, another implementation than the crate's.
//!
//! The Double Ratchet follows the phases of §6.1: an initiator that has received nothing holds
//! its first sending chain only (no `DHr`: `SPK_B` is not kept); a responder is created by its
//! first receiving step, the signed prekey's secret used for that step only; after a receiving
//! step the sending side is pending and no ratchet secret is held until the next encrypt.
//! Persisted state goes through the reference codec `tests/common/state_codec/` (§10), whose
//! plain data types are this implementation's state.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../common/mod.rs"]
mod common;

mod reference;

mod parties;
mod script;
mod support;
mod world;

mod bundle;
mod conversation;
mod group;
mod limits;
mod migration;
mod pqxdh;
mod prekey_store;
mod session_state;
