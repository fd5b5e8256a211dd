//! Checks the published test vectors in `test-vectors/` through the public API, both ways:
//! published ciphertexts decrypt to the published plaintexts from the published receiver state,
//! re-running the sender side with the published random draws gives the published bytes, every
//! intermediate value is recomputed from its inputs with the public building blocks (and AES-GCM /
//! SHA-2 directly), and every negative vector fails with exactly the recorded error. Finally the
//! files are regenerated in memory and must equal the committed ones, so any change to the wire
//! or state formats fails here until the vectors are deliberately regenerated.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod generator;

mod account;
mod attachment;
mod content;
mod group;
mod negative;
mod pqxdh;
mod ratchet;
mod sealed_sender;
mod state;
mod support;
mod x3dh;

use support::dir;

// ---------------------------------------------------------------------------------------------
// The committed files are current
// ---------------------------------------------------------------------------------------------

#[test]
fn committed_files_equal_the_generator_output() {
    let mut stale = Vec::new();
    for (name, contents) in generator::all_files() {
        let committed = std::fs::read_to_string(dir().join(name)).unwrap_or_default();
        if committed != contents {
            let line = committed
                .lines()
                .zip(contents.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "length".to_owned(), |l| format!("line {}", l + 1));
            stale.push(format!("{name} (first difference: {line})"));
        }
    }
    assert!(
        stale.is_empty(),
        "test-vectors/ is stale: {stale:?}. If the change to the wire or state format is \
         deliberate, run `cargo run --example gen_vectors` and review the diff."
    );
}
