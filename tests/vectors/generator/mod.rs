//! The one source of truth for `test-vectors/*.json`.
//!
//! Included as a module by `examples/gen_vectors.rs` (with `#[path]`), which writes the files,
//! and by the `vectors` test (tests/vectors/main.rs), which regenerates them in memory and
//! requires them to equal the committed files. Every random input is drawn from a `ChaCha20Rng`
//! with a fixed seed and passed through the crate's public API; [`Recorder`] logs each draw so
//! that the files can list the exact bytes an operation consumed (SPEC.md §1, informative RNG
//! table). Every intermediate value is recomputed here from the public building blocks (`kdf`,
//! `KeyPair::diffie_hellman`) and asserted to agree with what the crate produced before it is
//! written; persisted state is read and written with the shared reference codec,
//! tests/common/state_codec/.
//!
//! JSON is built as `serde_json::Value` with ordered keys and no floats, and printed by
//! serde_json, so that the output is byte-for-byte reproducible.

#![allow(dead_code)]

#[path = "../../common/state_codec/mod.rs"]
pub mod state_codec;

mod account;
mod attachment;
mod content;
mod group;
mod json;
mod negative;
mod pqxdh;
mod pqxdh_check;
mod primitives;
mod ratchet;
mod rng;
mod sealed_sender;
mod shared;
mod state;
mod state_fields;
mod timer_flow;
mod x3dh;

// What the `vectors` test uses (the example uses `all_files` alone).
#[allow(unused_imports)]
pub use group::message_parts;
#[allow(unused_imports)]
pub use primitives::{
    associated_data, dh, expand, gcm_seal, identity_x25519_secret, kdf_ck, kdf_rk, x25519_public,
};
#[allow(unused_imports)]
pub use rng::Scripted;
#[allow(unused_imports)]
pub use shared::receipt_as_result;
#[allow(unused_imports)]
pub use state_fields::{parse_session, parse_store, skipped};

use account::account_json;
use attachment::attachment_json;
use content::content_json;
use group::group_json;
use json::render;
use negative::negative_json;
use pqxdh::pqxdh_json;
use ratchet::ratchet_json;
use sealed_sender::sealed_sender_json;
use state::state_json;
use x3dh::x3dh_json;

/// File names and contents, in a fixed order.
pub fn all_files() -> Vec<(&'static str, String)> {
    vec![
        ("x3dh.json", render(&x3dh_json())),
        ("pqxdh.json", render(&pqxdh_json())),
        ("ratchet.json", render(&ratchet_json())),
        ("sealed_sender.json", render(&sealed_sender_json())),
        ("group.json", render(&group_json())),
        ("content.json", render(&content_json())),
        ("state.json", render(&state_json())),
        ("negative.json", render(&negative_json())),
        ("attachment.json", render(&attachment_json())),
        ("account.json", render(&account_json())),
    ]
}
