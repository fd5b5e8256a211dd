//! Panics and memory on hostile input (SPEC.md §2, §5.1, §5.3, §5.4; FIPS 203 §7.2): the bundle
//! and prekey-message decoders over every prefix, every single-byte change and random input
//! around the PQXDH lengths; `KemPublicKey::from_bytes` at coefficient bounds and every length;
//! `KemCiphertext::from_bytes` at every length; and what decoding allocates.

use rand_chacha::rand_core::Rng;
use xchat_protocol::{
    DecodeError, IdentityKeyPair, Incoming, KemCiphertext, KemPublicKey, PreKeyBundle,
};

use crate::common::rng;
use crate::support::{COMBOS, first, responder};

/// Decodes; whatever is accepted re-encodes to the input.
fn bundle_round_trips(bytes: &[u8]) -> bool {
    match PreKeyBundle::from_bytes(bytes) {
        Ok(b) => {
            assert_eq!(b.to_bytes(), bytes, "a bundle re-encodes differently");
            true
        }
        Err(_) => false,
    }
}

fn message_round_trips(bytes: &[u8]) -> bool {
    match Incoming::decode(bytes) {
        Ok(m) => {
            assert_eq!(m.to_bytes(), bytes, "a message re-encodes differently");
            true
        }
        Err(_) => false,
    }
}

#[test]
fn held_pqxdh_bundle_and_message_decoders_never_panic_and_are_canonical() {
    let mut r = rng(120);
    let bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    for keys in [COMBOS[1], COMBOS[2]] {
        let bundle = bob.bundle(keys, 0).to_bytes();
        let (_a, m) = first(&mut r, &alice, &bob.bundle(keys, 0));
        assert!(bundle_round_trips(&bundle) && message_round_trips(&m));
        for len in 0..bundle.len() {
            assert!(!bundle_round_trips(&bundle[..len]), "bundle prefix {len}");
        }
        let fields_end = crate::support::embedded_at(keys.opk) + 58 + 16;
        for len in 0..fields_end {
            assert!(!message_round_trips(&m[..len]), "message prefix {len}");
        }
        // Every byte but those of the encapsulation key, which are sampled (a valid key costs an
        // ML-KEM key check; its coefficients are the next test's subject).
        let key = bundle.len() - 64 - 1568..bundle.len() - 64;
        let positions = (0..key.start)
            .chain(key.clone().step_by(53))
            .chain(key.end..bundle.len());
        for i in positions {
            for v in [bundle[i] ^ 0x01, 0x00, 0xFF, 0x02] {
                let mut b = bundle.clone();
                b[i] = v;
                bundle_round_trips(&b);
            }
        }
        for i in 0..fields_end {
            for v in [m[i] ^ 0x01, 0x00, 0xFF, 0x02] {
                let mut b = m.clone();
                b[i] = v;
                message_round_trips(&b);
            }
        }
    }
    // Random input of every length around the PQXDH sizes, with plausible first bytes.
    for case in 0..1500u32 {
        let len = match case % 3 {
            0 => 1780 + r.next_u32() as usize % 50,
            1 => 1640 + r.next_u32() as usize % 200,
            _ => r.next_u32() as usize % 4000,
        };
        let mut b = vec![0u8; len];
        r.fill_bytes(&mut b);
        if len >= 2 {
            b[0] = [1, 2][case as usize % 2];
            b[1] = [1, 2][(case as usize / 2) % 2];
        }
        bundle_round_trips(&b);
        message_round_trips(&b);
    }
}

/// FIPS 203 §7.2 in `KemPublicKey::from_bytes` and in a bundle: a coefficient of `t̂` at `q − 1`
/// passes, at `q` or `2^12 − 1` is `InvalidKey` (first, middle and last coefficient; `ρ` is free);
/// every other length is `InvalidKey`; a ciphertext is exactly 1568 bytes.
#[test]
fn held_kem_key_and_ciphertext_parsing_is_strict_at_every_bound() {
    let mut r = rng(121);
    let bob = responder(&mut r);
    let bundle = bob.store.bundle(&bob.id, None).unwrap().to_bytes();
    let key_at = bundle.len() - 64 - 1568;
    let ek: [u8; 1568] = bundle[key_at..key_at + 1568].try_into().unwrap();
    let set = |ek: &[u8; 1568], i: usize, v: u16| {
        let mut out = *ek;
        let (at, odd) = (3 * (i / 2), i % 2 == 1);
        if odd {
            out[at + 1] = (out[at + 1] & 0x0F) | ((v as u8 & 0x0F) << 4);
            out[at + 2] = (v >> 4) as u8;
        } else {
            out[at] = v as u8;
            out[at + 1] = (out[at + 1] & 0xF0) | ((v >> 8) as u8 & 0x0F);
        }
        out
    };
    for i in [0, 1, 511, 512, 1022, 1023] {
        for (v, ok) in [(3328, true), (3329, false), (4095, false)] {
            let edited = set(&ek, i, v);
            let got = KemPublicKey::from_bytes(&edited);
            assert_eq!(got.is_ok(), ok, "coefficient {i} = {v}");
            let mut b = bundle.clone();
            b[key_at..key_at + 1568].copy_from_slice(&edited);
            let want = if ok {
                None
            } else {
                Some(DecodeError::InvalidKey)
            };
            assert_eq!(
                PreKeyBundle::from_bytes(&b).err(),
                want,
                "coefficient {i} = {v}"
            );
        }
    }
    let mut rho = ek;
    rho[1536..].fill(0xFF);
    assert!(KemPublicKey::from_bytes(&rho).is_ok());
    let long = [&ek[..], &[0]].concat();
    for len in 0..=1569 {
        let got = KemPublicKey::from_bytes(&long[..len]).err();
        assert_eq!(
            got,
            (len != 1568).then_some(DecodeError::InvalidKey),
            "{len}"
        );
        let got = KemCiphertext::from_bytes(&long[..len]).err();
        let want = match len {
            1568 => None,
            n if n < 1568 => Some(DecodeError::Truncated),
            _ => Some(DecodeError::TrailingBytes),
        };
        assert_eq!(got, want, "{len}");
    }
    let mut random = [0u8; 1568];
    for _ in 0..200 {
        r.fill_bytes(&mut random);
        let _ = KemPublicKey::from_bytes(&random);
        KemCiphertext::from_bytes(&random).unwrap();
    }
}

/// Decoding borrows: a maximal PQXDH prekey message (1 050 298 bytes, SPEC.md §5.4) decodes with
/// no allocation at all, and a PQXDH bundle with a bounded one (the encapsulation key).
#[test]
fn held_decoding_pqxdh_input_allocates_nothing_or_a_bounded_amount() {
    let mut r = rng(122);
    let bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let bundle = bob.bundle(COMBOS[3], 0);
    let mut a = xchat_protocol::Session::initiate(
        &mut r,
        &alice,
        &bundle,
        xchat_protocol::Trust::FirstUse,
        &crate::support::pq(),
    )
    .unwrap();
    let m = a.encrypt(&mut r, &vec![0; 1 << 20]).unwrap();
    assert_eq!(m.len(), 1_050_298);
    let decode = allocation_counter::measure(|| {
        std::hint::black_box(Incoming::decode(&m).unwrap());
    });
    assert_eq!(decode.bytes_total, 0);
    let mut too_long = m.clone();
    too_long.push(0);
    assert_eq!(Incoming::decode(&too_long), Err(DecodeError::TooLarge));
    let bytes = bundle.to_bytes();
    let parse = allocation_counter::measure(|| {
        std::hint::black_box(PreKeyBundle::from_bytes(&bytes).unwrap());
    });
    assert!(parse.bytes_max < 64 * 1024, "{} bytes", parse.bytes_max);
}
