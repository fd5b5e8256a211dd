//! Decode errors of group messages (§13.3) and distributions (§13.2): for every malformed input
//! both implementations give the same result, the one SPEC.md gives.

use super::{DEFAULT, Dev, NOW, full_group, rng, text};
use crate::common;
use crate::reference::group::{MAX_PLAINTEXT, decode_dist, resign};
use crate::reference::primitives::K32;
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::SigningKey;
use xchat_protocol::group::SenderKeyDistribution;

/// 32 bytes that are no point's encoding (found by search: §13.7's "must decompress").
pub(crate) fn not_a_point() -> K32 {
    (2u8..)
        .map(|y| {
            let mut k = [0u8; 32];
            k[0] = y;
            k
        })
        .find(|k| CompressedEdwardsY(*k).decompress().is_none())
        .unwrap()
}

/// The neutral point's encoding (small order).
pub(crate) fn neutral() -> K32 {
    let mut k = [0u8; 32];
    k[0] = 1;
    k
}

pub(crate) fn torsioned(k: &K32) -> K32 {
    let p = CompressedEdwardsY(*k).decompress().unwrap();
    (p + EIGHT_TORSION[1]).compress().to_bytes()
}

/// Test D1: malformed group messages (§13.3's decoding order), and the two layers' messages
/// refused by each other by their type byte.
#[test]
fn message_decode_errors() {
    let mut r = rng(40);
    let mut devs = full_group(&mut r, 2, DEFAULT);
    let a = devs[0].mine.local;
    let m = devs[0]
        .encrypt(&mut r, NOW, b"a message of some length")
        .unwrap();
    let seed = devs[0].mine.own.seed;
    let b = &mut devs[1];
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "Decode(Truncated)"),
        ("version 2", vec![0x02], "Decode(UnknownVersion(2))"),
        (
            "version 0, long",
            [&[0u8][..], &m[1..]].concat(),
            "Decode(UnknownVersion(0))",
        ),
        ("no type", vec![0x01], "Decode(Truncated)"),
        (
            "type 1",
            [&[1u8, 1][..], &m[2..]].concat(),
            "Decode(UnknownType(1))",
        ),
        (
            "type 2",
            [&[1u8, 2][..], &m[2..]].concat(),
            "Decode(UnknownType(2))",
        ),
        ("type 4, short", vec![1, 4], "Decode(UnknownType(4))"),
    ];
    for len in [2, 34, 57, 58, 58 + 79] {
        cases.push(("truncated", m[..len].to_vec(), "Decode(Truncated)"));
    }
    // The shortest message that decodes: its signature is then checked (and fails).
    cases.push(("58 + 80", m[..58 + 80].to_vec(), "InvalidSignature"));
    let mut huge = m[..58].to_vec();
    huge.resize(58 + MAX_PLAINTEXT + 16 + 1 + 64, 0);
    cases.push(("sealed 2^20 + 17", huge.clone(), "Decode(TooLarge)"));
    huge.truncate(huge.len() - 1);
    let signed = resign(&a, &huge[..huge.len() - 64], &seed);
    cases.push(("sealed 2^20 + 16, signed", signed, "DecryptionFailed"));
    let b_state = b.state();
    for (name, bytes, want) in &cases {
        assert_eq!(b.decrypt(&a, bytes).unwrap_err(), *want, "{name}");
    }
    assert_eq!(b.state(), b_state);
    // A session message is not a group message, nor the other way round.
    let mut p = common::established(41, false);
    let prekey = p.alice.encrypt(&mut p.rng, b"pairwise").unwrap();
    assert_eq!(
        b.decrypt(&a, &prekey).unwrap_err(),
        "Decode(UnknownType(2))"
    );
    let normal = p.bob.encrypt(&mut p.rng, b"pairwise").unwrap();
    assert_eq!(
        b.decrypt(&a, &normal).unwrap_err(),
        "Decode(UnknownType(1))"
    );
    assert_eq!(
        text(p.bob.decrypt(&m).unwrap_err()),
        "Decode(UnknownType(3))"
    );
}

/// Test D2: malformed distributions (§13.2): both decoders, in the order of the table.
#[test]
fn distribution_decode_errors() {
    let mut r = rng(42);
    let mut g = Dev::new(&mut r, 1, &[2], DEFAULT);
    let (d, _) = g.distribution(&mut r, NOW);
    let with_key = |k: &K32| [&d[..73], k].concat();
    let ident = neutral();
    let signing: K32 = d[73..].try_into().unwrap();
    let mut ge_p = [0xFF; 32];
    ge_p[0] = 0xEE;
    ge_p[31] = 0x7F;
    let mut x0_sign = ident;
    x0_sign[31] |= 0x80;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "Truncated"),
        ("version 2", vec![0x02], "UnknownVersion(2)"),
        (
            "version 0, full length",
            [&[0u8][..], &d[1..]].concat(),
            "UnknownVersion(0)",
        ),
        (
            "version 2, long",
            [&d[..], &[0u8; 10]]
                .concat()
                .iter()
                .enumerate()
                .map(|(i, b)| if i == 0 { 2 } else { *b })
                .collect(),
            "UnknownVersion(2)",
        ),
        ("1 byte", d[..1].to_vec(), "Truncated"),
        ("104 bytes", d[..104].to_vec(), "Truncated"),
        ("106 bytes", [&d[..], &[0u8][..]].concat(), "TrailingBytes"),
        ("not a point", with_key(&not_a_point()), "InvalidKey"),
        ("neutral point", with_key(&ident), "InvalidKey"),
        ("y = p + 1 (non-canonical)", with_key(&ge_p), "InvalidKey"),
        ("x = 0 with sign bit", with_key(&x0_sign), "InvalidKey"),
        (
            "torsion component",
            with_key(&torsioned(&signing)),
            "InvalidKey",
        ),
        (
            "invalid key, trailing",
            [&with_key(&ident)[..], &[0u8][..]].concat(),
            "InvalidKey",
        ),
        (
            "invalid key, truncated",
            with_key(&ident)[..104].to_vec(),
            "Truncated",
        ),
    ];
    for (name, bytes, want) in &cases {
        let mine = decode_dist(bytes).map(|_| ()).map_err(text);
        let theirs = SenderKeyDistribution::from_bytes(bytes)
            .map(|_| ())
            .map_err(text);
        assert_eq!(
            (mine.clone(), theirs),
            (Err(want.to_string()), Err(want.to_string())),
            "{name}"
        );
        assert_eq!(
            g.process(&super::ik(2), bytes).unwrap_err(),
            *want,
            "{name}"
        );
    }
    let other = SigningKey::from_bytes(&[3; 32]).verifying_key().to_bytes();
    assert!(decode_dist(&with_key(&other)).is_ok());
}
