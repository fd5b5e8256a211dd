//! The API contract of `src/kem.rs`, tested directly: the lengths `from_bytes` accepts and the
//! error for each other length, that `Debug` of a key pair shows no part of its seed, and exactly
//! what `generate` and `encapsulate` draw from the RNG (one 64-byte and one 32-byte
//! `fill_bytes`, nothing else).

use xchat_protocol::{DecodeError, KemCiphertext, KemKeyPair, KemPublicKey};

use crate::support::{Recorder, Scripted};

/// A seed whose bytes are all distinct, so that any leaked stretch of it is recognisable.
fn seed() -> [u8; 64] {
    std::array::from_fn(|i| 0x80 ^ (i as u8).wrapping_mul(73))
}

/// `bytes` cut to `len`, or extended with `fill` to it.
fn resized(bytes: &[u8], len: usize, fill: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.resize(len, fill);
    out
}

#[test]
fn public_key_of_any_other_length_is_invalid_key() {
    let ek = *KemKeyPair::from_seed(&seed()).public().as_bytes();
    assert!(KemPublicKey::from_bytes(&ek).is_ok());
    for len in [0, 1, 32, 1536, 1567, 1569, 1600, 3136] {
        for fill in [0x00, 0xFF] {
            assert_eq!(
                KemPublicKey::from_bytes(&resized(&ek, len, fill)),
                Err(DecodeError::InvalidKey),
                "{len} bytes (filled with {fill:#04x})"
            );
        }
    }
}

#[test]
fn public_key_modulus_check_at_the_extremes() {
    // All-zero `t̂` and ρ: every coefficient 0 < q, a well-formed (if useless) key.
    let zero = KemPublicKey::from_bytes(&[0x00; KemPublicKey::LEN]).unwrap();
    assert_eq!(zero.as_bytes(), &[0x00; KemPublicKey::LEN]);
    // All-0xFF: every coefficient 4095 ≥ q.
    assert_eq!(
        KemPublicKey::from_bytes(&[0xFF; KemPublicKey::LEN]),
        Err(DecodeError::InvalidKey)
    );
    // The bytes read back are the bytes given.
    let pair = KemKeyPair::from_seed(&seed());
    let parsed = KemPublicKey::from_bytes(pair.public().as_bytes()).unwrap();
    assert_eq!(&parsed, pair.public());
    assert_eq!(parsed.as_bytes(), pair.public().as_bytes());
}

#[test]
fn ciphertext_length_errors() {
    let (c, _) = KemKeyPair::from_seed(&seed())
        .public()
        .encapsulate(&mut Scripted::new(&[&[7; 32]]));
    let c = *c.as_bytes();
    for len in [0, 1, 32, 1567] {
        assert_eq!(
            KemCiphertext::from_bytes(&resized(&c, len, 0)),
            Err(DecodeError::Truncated),
            "{len} bytes"
        );
    }
    for len in [1569, 1600, 3136] {
        assert_eq!(
            KemCiphertext::from_bytes(&resized(&c, len, 0)),
            Err(DecodeError::TrailingBytes),
            "{len} bytes"
        );
    }
    // Any 1568 bytes are a ciphertext, and read back unchanged.
    for bytes in [c, [0x00; 1568], [0xFF; 1568]] {
        assert_eq!(
            KemCiphertext::from_bytes(&bytes).unwrap().as_bytes(),
            &bytes
        );
    }
}

/// No 8 consecutive bytes of the seed appear in `text`, in lower- or upper-case hex, nor in
/// `Debug`'s decimal byte-array form.
fn assert_no_seed_in(text: &str, seed: &[u8; 64]) {
    let lower = text.to_lowercase();
    for window in seed.windows(8) {
        let hex = hex::encode(window);
        assert!(!lower.contains(&hex), "{hex} (seed bytes) in {text:?}");
        let decimal = format!("{window:?}");
        let decimal = decimal.trim_matches(['[', ']']);
        assert!(
            !text.contains(decimal),
            "{decimal} (seed bytes) in {text:?}"
        );
    }
}

#[test]
fn debug_of_a_key_pair_does_not_show_the_seed() {
    let seed = seed();
    let pair = KemKeyPair::from_seed(&seed);
    for text in [format!("{pair:?}"), format!("{pair:#?}")] {
        assert_no_seed_in(&text, &seed);
        assert!(text.contains("KemKeyPair"), "{text}");
        // What it does show: the public key's first 8 bytes.
        let prefix = hex::encode(&pair.public().as_bytes()[..8]);
        assert!(text.contains(&prefix), "{text}");
    }
    let public = format!("{:?}", pair.public());
    assert_no_seed_in(&public, &seed);
    assert!(public.len() < 64, "{public}");
}

#[test]
fn generate_draws_exactly_one_64_byte_fill() {
    let mut rng = Recorder::new(1);
    let pair = KemKeyPair::generate(&mut rng);
    let lengths: Vec<usize> = rng.draws.iter().map(Vec::len).collect();
    assert_eq!(lengths, [64], "draws of generate");
    // The draw is the seed d ‖ z.
    let drawn: [u8; 64] = rng.draws[0].as_slice().try_into().unwrap();
    let rebuilt = KemKeyPair::from_seed(&drawn);
    assert_eq!(pair, rebuilt);
    assert_eq!(pair.public(), rebuilt.public());

    // And a scripted 64-byte draw is all generate needs (it panics on any other request).
    let mut script = Scripted::new(&[&seed()]);
    let scripted = KemKeyPair::generate(&mut script);
    script.finish();
    assert_eq!(scripted, KemKeyPair::from_seed(&seed()));
}

#[test]
fn encapsulate_draws_exactly_one_32_byte_fill() {
    let pair = KemKeyPair::from_seed(&seed());
    let mut rng = Recorder::new(2);
    let (c, k) = pair.public().encapsulate(&mut rng);
    let lengths: Vec<usize> = rng.draws.iter().map(Vec::len).collect();
    assert_eq!(lengths, [32], "draws of encapsulate");
    // The draw is m: replaying it reproduces the ciphertext and the secret.
    let mut script = Scripted::new(&[&rng.draws[0]]);
    let (c2, k2) = pair.public().encapsulate(&mut script);
    script.finish();
    assert_eq!((&c, &*k), (&c2, &*k2));
    assert_eq!(*pair.decapsulate(&c), *k);

    // Another m, another ciphertext and secret.
    let (c3, k3) = pair.public().encapsulate(&mut rng);
    assert_eq!(rng.draws.len(), 2);
    assert_ne!(c3, c);
    assert_ne!(*k3, *k);
}

#[test]
fn another_key_pair_does_not_get_the_secret() {
    let pair = KemKeyPair::from_seed(&seed());
    let mut other_seed = seed();
    other_seed[63] ^= 1; // only z differs: same ek, other implicit-rejection secret
    let other = KemKeyPair::from_seed(&other_seed);
    assert_eq!(pair.public(), other.public());
    assert_ne!(pair, other);
    let (c, k) = pair.public().encapsulate(&mut Scripted::new(&[&[9; 32]]));
    // Same ek and dk_PKE, so the honest ciphertext decapsulates the same under both.
    assert_eq!(*other.decapsulate(&c), *k);
    // A tampered one falls back to J(z ‖ c), which depends on z.
    let mut bytes = *c.as_bytes();
    bytes[0] ^= 1;
    let bad = KemCiphertext::from_bytes(&bytes).unwrap();
    assert_ne!(*pair.decapsulate(&bad), *other.decapsulate(&bad));
    assert_ne!(*pair.decapsulate(&bad), *k);
}
