//! Account benchmarks beside their floor (BENCHMARKS.md): computing a safety number — two
//! fingerprints of 5200 SHA-512 hashes each (SPEC.md §15.4) — against the same hashes with `sha2`
//! directly.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha512};
use xchat_protocol::account::{AccountKeyPair, SafetyNumber};

fn fingerprint_floor(key: &[u8; 32], id: &[u8]) -> [u8; 64] {
    let mut h: [u8; 64] = Sha512::new()
        .chain_update(b"xchat-protocol v1 account fingerprint")
        .chain_update([1, 1, id.len() as u8])
        .chain_update(id)
        .chain_update(key)
        .finalize()
        .into();
    for _ in 1..5200 {
        h = Sha512::new()
            .chain_update(h)
            .chain_update(key)
            .finalize()
            .into();
    }
    h
}

fn safety_number(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([15; 32]);
    let (alice, bob) = (
        AccountKeyPair::generate(&mut rng),
        AccountKeyPair::generate(&mut rng),
    );
    let mut g = c.benchmark_group("safety_number");
    g.bench_function("protocol", |b| {
        b.iter(|| {
            let n = SafetyNumber::new(
                (black_box(alice.public()), b"alice"),
                (black_box(bob.public()), b"bob"),
            )
            .unwrap();
            black_box(n.digits())
        })
    });
    g.bench_function("floor", |b| {
        b.iter(|| {
            black_box(fingerprint_floor(
                black_box(alice.public().as_bytes()),
                b"alice",
            ));
            black_box(fingerprint_floor(
                black_box(bob.public().as_bytes()),
                b"bob",
            ));
        })
    });
    g.finish();
}

criterion_group!(benches, safety_number);
criterion_main!(benches);
