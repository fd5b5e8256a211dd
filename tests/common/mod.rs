//! Shared setup for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod state_codec;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{IdentityKeyPair, PreKeyStore, Session};

pub const CONTEXT: &[u8] = b"alice@example|bob@example";

pub struct Pair {
    pub rng: ChaCha20Rng,
    pub alice_id: IdentityKeyPair,
    pub bob_id: IdentityKeyPair,
    pub bob_store: PreKeyStore,
    pub alice: Session,
    pub bob: Session,
}

pub fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// Bob publishes a bundle (with a one-time prekey when `one_time`), Alice initiates and sends
/// "hello", Bob responds.
pub fn established(seed: u8, one_time: bool) -> Pair {
    let mut rng = rng(seed);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let mut bob_store = PreKeyStore::new();
    bob_store.rotate_signed_prekey(&mut rng, &bob_id, 1_700_000_000_000);
    let otpks = bob_store.generate_one_time_prekeys(&mut rng, 3).unwrap();
    let bundle = bob_store
        .bundle(&bob_id, one_time.then_some(otpks[1].id))
        .unwrap();
    let mut alice = Session::initiate(
        &mut rng,
        &alice_id,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = alice.encrypt(&mut rng, b"hello").unwrap();
    let (bob, text) = Session::respond(
        &bob_id,
        &mut bob_store,
        &first,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    assert_eq!(text, b"hello");
    Pair {
        rng,
        alice_id,
        bob_id,
        bob_store,
        alice,
        bob,
    }
}

/// Default seed of every property test in `tests/`: CI runs are the same run every time, and a
/// failure in CI reproduces locally with no more than the command the test prints.
pub const PROPTEST_SEED: u64 = 0x7863_6861_7470_7431;

/// The proptest configuration shared by every `proptest!` in `tests/`: `cases` cases (unless
/// overridden) from a fixed RNG seed, no failure persistence (no regression files), nothing
/// time-dependent (no shrink-time or case timeout, so a failure shrinks the same way everywhere).
///
/// Environment overrides, read once per test binary:
/// - `XCHAT_PROPTEST_SEED=<u64>`: another fixed seed; `XCHAT_PROPTEST_SEED=random`: a fresh
///   seed, drawn from the OS and printed so that a failure can be replayed with it.
/// - `XCHAT_PROPTEST_CASES=<n>`: the number of cases (at least 1).
///
/// proptest's own `PROPTEST_RNG_SEED` and `PROPTEST_CASES` are still applied by `proptest!` on
/// top of this; the line printed here already shows the values in effect. The line goes to
/// stderr, which the test harness shows for a failing test (and with `--nocapture`).
#[allow(clippy::panic)]
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed, contextualize_config};
    use std::sync::OnceLock;

    static SETTINGS: OnceLock<(u64, &'static str, Option<u32>)> = OnceLock::new();
    let &(seed, origin, cases_override) = SETTINGS.get_or_init(|| {
        let (seed, origin) = match std::env::var("XCHAT_PROPTEST_SEED") {
            Err(std::env::VarError::NotPresent) => (PROPTEST_SEED, "default"),
            Ok(v) if v.trim().is_empty() => (PROPTEST_SEED, "default"),
            Ok(v) if v.trim().eq_ignore_ascii_case("random") => (fresh_seed(), "random"),
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(seed) => (seed, "XCHAT_PROPTEST_SEED"),
                Err(_) => panic!("XCHAT_PROPTEST_SEED={v:?}: expected a u64 or `random`"),
            },
            Err(e) => panic!("XCHAT_PROPTEST_SEED: {e}"),
        };
        let cases = match std::env::var("XCHAT_PROPTEST_CASES") {
            Err(std::env::VarError::NotPresent) => None,
            Ok(v) => match v.trim().parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => panic!("XCHAT_PROPTEST_CASES={v:?}: expected a number of cases, at least 1"),
            },
            Err(e) => panic!("XCHAT_PROPTEST_CASES: {e}"),
        };
        (seed, origin, cases)
    });
    let config = contextualize_config(Config {
        cases: cases_override.unwrap_or(cases),
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    });
    let (seed, origin) = match config.rng_seed {
        RngSeed::Fixed(s) if s == seed => (s.to_string(), origin),
        RngSeed::Fixed(s) => (s.to_string(), "PROPTEST_RNG_SEED"),
        RngSeed::Random => ("random".to_owned(), "not reproducible"),
    };
    eprintln!(
        "proptest: seed {seed} ({origin}), {} cases, rng {}; replay with \
         XCHAT_PROPTEST_SEED={seed} XCHAT_PROPTEST_CASES={} cargo test --all-features --test {}",
        config.cases,
        config.rng_algorithm,
        config.cases,
        env!("CARGO_CRATE_NAME"),
    );
    config
}

/// A seed nobody chose: the standard library's per-process random hash keys, mixed with the
/// clock and the process id.
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.finish()
}

/// The seven other encodings `u(P + T)` of an X25519 key, for the non-trivial 8-torsion points
/// `T`: the same DH results, other bytes (SPEC.md §3.5).
pub fn x25519_variants(u: &[u8]) -> Vec<[u8; 32]> {
    let p = curve25519_dalek::MontgomeryPoint(u.try_into().unwrap())
        .to_edwards(0)
        .unwrap();
    let variants: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION[1..]
        .iter()
        .map(|t| (p + t).to_montgomery().to_bytes())
        .collect();
    assert_eq!(variants.len(), 7);
    assert!(variants.iter().all(|v| v.as_slice() != u));
    variants
}

/// The seven encodings `A + T` of an Ed25519 key (SPEC.md §2 rule 4).
pub fn ed25519_variants(a: &[u8]) -> Vec<[u8; 32]> {
    let p = curve25519_dalek::edwards::CompressedEdwardsY(a.try_into().unwrap())
        .decompress()
        .unwrap();
    curve25519_dalek::constants::EIGHT_TORSION[1..]
        .iter()
        .map(|t| (p + t).compress().to_bytes())
        .collect()
}

/// `bytes` with `range` replaced by `value`.
pub fn with(bytes: &[u8], range: std::ops::Range<usize>, value: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[range].copy_from_slice(value);
    out
}

/// A responder with a signed prekey and two one-time prekeys, and the bundle it publishes (with
/// the first one-time prekey when `one_time`).
pub struct Bob {
    pub id: IdentityKeyPair,
    pub store: PreKeyStore,
    pub bundle: xchat_protocol::PreKeyBundle,
}

pub fn bob(seed: u8, one_time: bool) -> Bob {
    let mut r = rng(seed);
    let id = IdentityKeyPair::generate(&mut r);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut r, &id, 1000);
    let otpk = store.generate_one_time_prekeys(&mut r, 2).unwrap()[0];
    let bundle = store.bundle(&id, one_time.then_some(otpk.id)).unwrap();
    Bob { id, store, bundle }
}
