//! Differential tests: the crate's ML-KEM-1024 (`ml-kem` behind `KemKeyPair`, `KemPublicKey`,
//! `KemCiphertext`) against `libcrux-ml-kem`, an independently written and formally verified
//! implementation, on edge inputs and on random ones (proptest, seeded by
//! `common::proptest_config`). Both take the key-generation randomness as `d ‖ z` and the
//! encapsulation randomness as `m`, so every output must agree byte for byte:
//!
//! - key generation: the same seed gives the same `ek`;
//! - encapsulation: the same `ek` and `m` give the same `c` and `K`;
//! - decapsulation of honest ciphertexts, of ciphertexts with flipped bits, of constant
//!   ciphertexts and of ciphertexts made for another key gives the same `K` (implicit rejection
//!   agrees);
//! - the FIPS 203 §7.2 modulus check: an `ek` with one coefficient of `t̂` set to any 12-bit value
//!   is rejected by `KemPublicKey::from_bytes` iff `validate_public_key` rejects it (iff the
//!   value is ≥ q), and an accepted one encapsulates identically.
//!
//! Each test counts its comparisons in a `Tally`, prints it, and checks the total.

use std::cell::RefCell;
use std::collections::BTreeSet;

use libcrux_ml_kem::mlkem1024 as libcrux;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use xchat_protocol::{DecodeError, KemCiphertext, KemKeyPair, KemPublicKey};

use crate::common;
use crate::support::{COEFFICIENTS, Q, Scripted, T_HAT_LEN, Tally, set_coefficient};

/// Random cases per property (before `XCHAT_PROPTEST_CASES`).
const CASES: u32 = 128;

/// Seeds `d ‖ z` at the edges: constant, patterned, one bit set, halves of opposite values.
fn edge_seeds() -> Vec<[u8; 64]> {
    let mut seeds = vec![[0x00; 64], [0xFF; 64], [0x55; 64], [0xAA; 64]];
    seeds.push(std::array::from_fn(|i| i as u8));
    seeds.push(std::array::from_fn(|i| 0xFF - i as u8));
    seeds.push(std::array::from_fn(|i| if i < 32 { 0x00 } else { 0xFF }));
    seeds.push(std::array::from_fn(|i| if i < 32 { 0xFF } else { 0x00 }));
    let mut first_bit = [0; 64];
    first_bit[0] = 0x01;
    let mut last_bit = [0; 64];
    last_bit[63] = 0x80;
    seeds.extend([first_bit, last_bit]);
    seeds
}

/// Messages `m` at the edges.
fn edge_messages() -> Vec<[u8; 32]> {
    vec![
        [0x00; 32],
        [0xFF; 32],
        std::array::from_fn(|i| i as u8),
        std::array::from_fn(|i| if i.is_multiple_of(2) { 0x00 } else { 0xFF }),
    ]
}

/// Runs `test` on `cases` random values with the shared proptest configuration and returns the
/// number of cases run (the configured count, which `XCHAT_PROPTEST_CASES` may change).
fn run<S>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> usize
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let config = common::proptest_config(cases);
    let n = config.cases as usize;
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{name}: {e}");
    }
    n
}

/// Our encapsulation to `key` with message `m`, through the public API (one scripted draw).
fn our_encapsulate(key: &KemPublicKey, m: &[u8; 32]) -> ([u8; 1568], [u8; 32]) {
    let mut rng = Scripted::new(&[m]);
    let (c, k) = key.encapsulate(&mut rng);
    rng.finish();
    (*c.as_bytes(), *k)
}

/// libcrux's encapsulation to the encoded key `ek` with message `m`.
fn their_encapsulate(ek: &[u8; 1568], m: &[u8; 32]) -> ([u8; 1568], [u8; 32]) {
    let (c, k) = libcrux::encapsulate(&libcrux::MlKem1024PublicKey::from(ek), *m);
    (*c.as_slice(), k)
}

/// Both key pairs of `seed`, checked to have the same encapsulation key.
fn pairs(seed: &[u8; 64]) -> Result<(KemKeyPair, libcrux::MlKem1024KeyPair), TestCaseError> {
    let ours = KemKeyPair::from_seed(seed);
    let theirs = libcrux::generate_key_pair(*seed);
    prop_assert_eq!(
        &ours.public().as_bytes()[..],
        &theirs.pk()[..],
        "ek of seed"
    );
    Ok((ours, theirs))
}

/// `K` from both decapsulations of `c`, checked to be equal.
fn decapsulate_both(
    ours: &KemKeyPair,
    theirs: &libcrux::MlKem1024KeyPair,
    c: &[u8; 1568],
) -> Result<[u8; 32], TestCaseError> {
    let our_k = *ours.decapsulate(&KemCiphertext::from_bytes(c).map_err(fail)?);
    let their_k = libcrux::decapsulate(theirs.private_key(), &c.into());
    prop_assert_eq!(our_k, their_k, "K of ciphertext {}…", hex::encode(&c[..8]));
    Ok(our_k)
}

fn fail(e: DecodeError) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn check(result: Result<(), TestCaseError>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn key_generation_agrees() {
    let mut tally = Tally::new("differential: key generation (identical ek)");
    for seed in edge_seeds() {
        check(pairs(&seed).map(drop));
        tally.add("edge seed");
    }
    let tally = RefCell::new(tally);
    let n = run("key generation", CASES, any::<[u8; 64]>(), |seed| {
        let (ours, _) = pairs(&seed)?;
        // The generated key passes both implementations' input checks.
        let ek = ours.public().as_bytes();
        prop_assert!(KemPublicKey::from_bytes(ek).is_ok());
        prop_assert!(libcrux::validate_public_key(&ek.into()));
        tally.borrow_mut().add("random seed");
        Ok(())
    });
    let tally = tally.into_inner();
    tally.finish(edge_seeds().len() + n, &["edge seed", "random seed"]);
    assert_eq!(tally.get("random seed"), n);
}

#[test]
fn encapsulation_agrees() {
    let mut tally = Tally::new("differential: encapsulation (identical c and K)");
    let edges = edge_seeds();
    for seed in &edges {
        let ours = KemKeyPair::from_seed(seed);
        for m in edge_messages() {
            let (c, k) = our_encapsulate(ours.public(), &m);
            assert_eq!((c, k), their_encapsulate(ours.public().as_bytes(), &m));
            assert_eq!(
                *ours.decapsulate(&KemCiphertext::from_bytes(&c).unwrap()),
                k
            );
            tally.add("edge seed x edge m");
        }
    }
    let tally = RefCell::new(tally);
    let strategy = (any::<[u8; 64]>(), any::<[u8; 32]>());
    let n = run("encapsulation", CASES, strategy, |(seed, m)| {
        let (ours, _) = pairs(&seed)?;
        let (c, k) = our_encapsulate(ours.public(), &m);
        prop_assert_eq!((c, k), their_encapsulate(ours.public().as_bytes(), &m));
        tally.borrow_mut().add("random seed and m");
        Ok(())
    });
    let tally = tally.into_inner();
    let edge_total = edges.len() * edge_messages().len();
    tally.finish(edge_total + n, &["edge seed x edge m", "random seed and m"]);
    assert_eq!(tally.get("random seed and m"), n);
}

const HONEST: &str = "honest ciphertext: K equals the encapsulated K";
const FLIPPED: &str = "ciphertext with flipped bits: same implicit-rejection K";
const BOUNDARY: &str = "one bit flipped at a boundary bit: same implicit-rejection K";
const CONSTANT: &str = "all-zero / all-0xFF / patterned ciphertext: same K";
const FOREIGN: &str = "ciphertext made for another key: same implicit-rejection K";

/// Bits whose flip crosses a boundary of the ciphertext: its first and last bits, and both sides
/// of the `c1`/`c2` split at byte 1408 (`c1` = 4 × 352 bytes, `c2` = 160).
const BOUNDARY_BITS: [usize; 6] = [0, 7, 1407 * 8 + 7, 1408 * 8, 1567 * 8, 1567 * 8 + 7];

/// Flips `bits` of `c` (distinct positions, so `c` changes).
fn flipped(c: &[u8; 1568], bits: &BTreeSet<usize>) -> [u8; 1568] {
    let mut out = *c;
    for &bit in bits {
        out[bit / 8] ^= 1 << (bit % 8);
    }
    out
}

#[test]
fn decapsulation_agrees() {
    let mut tally = Tally::new("differential: decapsulation (identical K)");
    let constant: [[u8; 1568]; 3] = [
        [0x00; 1568],
        [0xFF; 1568],
        std::array::from_fn(|i| (i % 251) as u8),
    ];
    let edges = edge_seeds();
    for seed in &edges {
        check((|| {
            let (ours, theirs) = pairs(seed)?;
            for c in &constant {
                decapsulate_both(&ours, &theirs, c)?;
                tally.add(CONSTANT);
            }
            let (c, k) = our_encapsulate(ours.public(), &[0x42; 32]);
            prop_assert_eq!(decapsulate_both(&ours, &theirs, &c)?, k);
            tally.add(HONEST);
            for bit in BOUNDARY_BITS {
                let bad = flipped(&c, &BTreeSet::from([bit]));
                prop_assert_ne!(decapsulate_both(&ours, &theirs, &bad)?, k, "bit {}", bit);
                tally.add(BOUNDARY);
            }
            Ok(())
        })());
    }
    let per_edge_seed = constant.len() + 1 + BOUNDARY_BITS.len();

    let tally = RefCell::new(tally);
    let strategy = (
        any::<[u8; 64]>(),
        any::<[u8; 32]>(),
        proptest::collection::btree_set(0..KemCiphertext::LEN * 8, 1..=8),
        any::<[u8; 64]>(),
    );
    let n = run(
        "decapsulation",
        CASES,
        strategy,
        |(seed, m, bits, other)| {
            let (ours, theirs) = pairs(&seed)?;
            let (c, k) = our_encapsulate(ours.public(), &m);
            prop_assert_eq!(decapsulate_both(&ours, &theirs, &c)?, k);
            let bad = flipped(&c, &bits);
            prop_assert_ne!(decapsulate_both(&ours, &theirs, &bad)?, k);
            // A ciphertext made (with the same m) for another key pair.
            prop_assume!(other != seed);
            let stranger = KemKeyPair::from_seed(&other);
            let (foreign, foreign_k) = our_encapsulate(stranger.public(), &m);
            prop_assert_ne!(decapsulate_both(&ours, &theirs, &foreign)?, foreign_k);
            let mut tally = tally.borrow_mut();
            tally.add(HONEST);
            tally.add(FLIPPED);
            tally.add(FOREIGN);
            Ok(())
        },
    );
    let tally = tally.into_inner();
    tally.finish(
        edges.len() * per_edge_seed + 3 * n,
        &[HONEST, FLIPPED, BOUNDARY, CONSTANT, FOREIGN],
    );
    assert_eq!(tally.get(FLIPPED), n);
    assert_eq!(tally.get(FOREIGN), n);
}

const REJECTED: &str = "coefficient >= q: both reject (InvalidKey / validate false)";
const ACCEPTED: &str = "coefficient < q: both accept, identical c and K";
const RHO: &str = "rho bytes changed: both accept, identical c and K";

/// Sets coefficient `index` of `ek`'s `t̂` to `value` and checks both implementations: ours
/// accepts iff libcrux's `validate_public_key` does, iff `value < q` (the rest of `ek` is a real
/// key, so every other coefficient is below `q`); an accepted key encapsulates identically.
fn judge_coefficient(ek: &[u8; 1568], index: usize, value: u16) -> Result<&'static str, String> {
    let mut edited = *ek;
    set_coefficient(&mut edited, index, value);
    judge_key(&edited, value < Q)
        .map_err(|e| format!("coefficient {index} = {value}: {e}"))
        .map(|accepted| if accepted { ACCEPTED } else { REJECTED })
}

/// Both verdicts on `ek`, which must be `expected`; an accepted key encapsulates identically.
fn judge_key(ek: &[u8; 1568], expected: bool) -> Result<bool, String> {
    let ours = KemPublicKey::from_bytes(ek);
    let theirs = libcrux::validate_public_key(&ek.into());
    if ours.is_ok() != theirs || theirs != expected {
        return Err(format!(
            "ours {ours:?}, libcrux {theirs}, expected {expected}"
        ));
    }
    match ours {
        Err(e) if e != DecodeError::InvalidKey => Err(format!("rejected with {e:?}")),
        Err(_) => Ok(false),
        Ok(key) => {
            let m = [0x5A; 32];
            if our_encapsulate(&key, &m) == their_encapsulate(ek, &m) {
                Ok(true)
            } else {
                Err("encapsulations differ".to_owned())
            }
        }
    }
}

#[test]
fn modulus_check_agrees() {
    let mut tally = Tally::new("differential: FIPS 203 modulus check (same verdict)");
    let indices = [0, 1, 2, 3, 254, 255, 256, 511, 512, 767, 768, 1022, 1023];
    let values = [0, 1, Q - 1, Q, Q + 1, 4000, 4094, 4095];
    let edges = edge_seeds();
    for seed in &edges[..3] {
        let ek = *KemKeyPair::from_seed(seed).public().as_bytes();
        for index in indices {
            for value in values {
                tally.add(judge_coefficient(&ek, index, value).unwrap());
            }
        }
        // ρ is a seed, not coefficients: any value is accepted.
        for rho in [[0x00; 32], [0xFF; 32]] {
            let mut edited = ek;
            edited[T_HAT_LEN..].copy_from_slice(&rho);
            assert!(judge_key(&edited, true).unwrap());
            tally.add(RHO);
        }
        // Every coefficient at its largest value.
        let mut all = ek;
        (0..COEFFICIENTS).for_each(|i| set_coefficient(&mut all, i, 4095));
        assert!(!judge_key(&all, false).unwrap());
        tally.add(REJECTED);
    }
    let per_edge_seed = indices.len() * values.len() + 2 + 1;

    let tally = RefCell::new(tally);
    let strategy = (
        any::<[u8; 64]>(),
        0..COEFFICIENTS,
        prop_oneof![Q..4096, 0..Q],
    );
    let n = run("modulus check", CASES, strategy, |(seed, index, value)| {
        let ek = *KemKeyPair::from_seed(&seed).public().as_bytes();
        let outcome = judge_coefficient(&ek, index, value).map_err(TestCaseError::fail)?;
        tally.borrow_mut().add(outcome);
        Ok(())
    });
    tally
        .into_inner()
        .finish(3 * per_edge_seed + n, &[REJECTED, ACCEPTED, RHO]);
}
