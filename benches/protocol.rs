//! Criterion benchmarks: each protocol workload beside the primitives it is built from
//! (its floor), measured in the same run. See BENCHMARKS.md (issue 6) for the full suite.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::{IdentityKeyPair, KeyPair, PreKeyStore, Session};

fn established(rng: &mut ChaCha20Rng) -> (Session, Session) {
    let alice = IdentityKeyPair::generate(rng);
    let bob = IdentityKeyPair::generate(rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(rng, &bob, 1);
    store.generate_one_time_prekeys(rng, 1);
    let bundle = store.bundle(&bob, Some(0)).unwrap();
    let mut a = Session::initiate(rng, &alice, &bundle, b"").unwrap();
    let first = a.encrypt(rng, b"hi").unwrap();
    let (mut b, _) = Session::respond(&bob, &mut store, &first, b"").unwrap();
    let reply = b.encrypt(rng, b"hi").unwrap();
    a.decrypt(&reply).unwrap();
    (a, b)
}

fn session_setup(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut g = c.benchmark_group("session_setup");
    g.bench_function("initiate+respond", |bench| {
        bench.iter(|| {
            let mut store = PreKeyStore::new();
            store.rotate_signed_prekey(&mut rng, &bob, 1);
            store.generate_one_time_prekeys(&mut rng, 1);
            let bundle = store.bundle(&bob, Some(0)).unwrap();
            let mut a = Session::initiate(&mut rng, &alice, &bundle, b"").unwrap();
            let first = a.encrypt(&mut rng, b"hello").unwrap();
            black_box(Session::respond(&bob, &mut store, &first, b"").unwrap())
        });
    });
    g.finish();
}

fn same_chain(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    let (mut a, mut b) = established(&mut rng);
    let plaintext = [0x42u8; 256];
    let mut g = c.benchmark_group("encrypt_decrypt_256B_same_chain");
    g.bench_function("session", |bench| {
        bench.iter(|| {
            let m = a.encrypt(&mut rng, &plaintext).unwrap();
            black_box(b.decrypt(&m).unwrap())
        });
    });
    let pair = KeyPair::generate(&mut rng);
    let other = KeyPair::generate(&mut rng);
    g.bench_function("floor_x25519_dh", |bench| {
        bench.iter(|| black_box(pair.diffie_hellman(other.public()).unwrap()));
    });
    g.finish();
}

criterion_group!(benches, session_setup, same_chain);
criterion_main!(benches);
