//! Writes the published test vectors, `test-vectors/*.json`, byte for byte reproducibly.
//!
//! ```text
//! cargo run --example gen_vectors
//! ```
//!
//! The generation code lives in `tests/vectors/generator/` (`mod.rs` and its modules), shared
//! with the `vectors` test (`tests/vectors/main.rs`), which regenerates the files in memory and
//! fails if they differ from the committed ones.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../tests/vectors/generator/mod.rs"]
mod generator;

use std::path::Path;

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors");
    std::fs::create_dir_all(&dir)?;
    for (name, contents) in generator::all_files() {
        let path = dir.join(name);
        std::fs::write(&path, contents.as_bytes())?;
        println!("{:>8} bytes  {}", contents.len(), path.display());
    }
    Ok(())
}
