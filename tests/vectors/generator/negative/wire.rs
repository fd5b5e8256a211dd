//! Decoders of the wire formats: keys (SPEC.md §2.3, §2.4), bundles (§5.1) and messages (§5.4).

use super::super::json::{Obj, hx};
use super::super::primitives::a32;
use super::fixture::Fixture;
use super::harness::{Neg, run_decode, with};
use super::points::{Points, non_canonical_ed25519};

/// Keys (§2.3, §2.4).
pub(super) fn keys(neg: &mut Neg) {
    let Points {
        p,
        p_plus_1,
        top_bit,
        identity_point,
        order8,
    } = Points::new();
    for (name, bytes) in [
        ("X25519 u = p (non-canonical)", p.to_vec()),
        ("X25519 u = p + 1 (non-canonical)", p_plus_1.clone()),
        ("X25519 top bit set", top_bit.clone()),
        ("X25519 all 0xff", vec![0xff; 32]),
    ] {
        neg.decode(name, "§2.3", "PublicKey::from_bytes", &bytes, "InvalidKey");
    }
    let y_p_plus_1 = with(&p, |v| v[0] = 0xee);
    let x0_sign = with(&identity_point, |v| v[31] |= 0x80);
    let mut ed_cases = vec![
        (
            "Ed25519 identity point (small order)",
            identity_point.clone(),
        ),
        ("Ed25519 point of order 8", order8.to_vec()),
        (
            "Ed25519 y = p + 1: non-canonical encoding of a small-order point",
            y_p_plus_1,
        ),
        ("Ed25519 x = 0 with the sign bit set", x0_sign),
    ];
    let not_on_curve = (2u8..=255)
        .map(|y| with(&[0u8; 32], |v| v[0] = y))
        .find(|v| ed25519_dalek::VerifyingKey::from_bytes(&a32(v)).is_err())
        .expect("some small y is not on the curve");
    ed_cases.push(("Ed25519 y with no curve point", not_on_curve));
    let non_canonical = non_canonical_ed25519();
    if let Some(y) = non_canonical {
        ed_cases.push((
            "Ed25519 y = p + k: non-canonical encoding of a point of large order",
            y.to_vec(),
        ));
    }
    for (name, bytes) in &ed_cases {
        neg.decode(name, "§2.4", "IdentityKey::from_bytes", bytes, "InvalidKey");
    }
}

/// Bundles (§5.1).
pub(super) fn bundles(neg: &mut Neg, fx: &Fixture) {
    let Fixture {
        bundle_bytes,
        bundle_no_opk,
        ..
    } = fx;
    let Points {
        p, top_bit, order8, ..
    } = Points::new();
    let bundle_ops = "PreKeyBundle::from_bytes";
    neg.decode("bundle: empty", "§2.6", bundle_ops, &[], "Truncated");
    neg.decode(
        "bundle: last byte missing",
        "§2.6",
        bundle_ops,
        &bundle_bytes[..bundle_bytes.len() - 1],
        "Truncated",
    );
    neg.decode(
        "bundle: one-time prekey flag set, fields missing",
        "§2.6",
        bundle_ops,
        &with(&bundle_no_opk.to_bytes(), |v| v[141] = 1),
        "Truncated",
    );
    neg.decode(
        "bundle: trailing byte",
        "§2.5",
        bundle_ops,
        &with(bundle_bytes, |v| v.push(0)),
        "TrailingBytes",
    );
    neg.decode(
        "bundle: unknown version",
        "§5.1",
        bundle_ops,
        &with(bundle_bytes, |v| v[0] = 3),
        "UnknownVersion(3)",
    );
    neg.decode(
        "bundle: version 0x02 without its KEM prekey",
        "§5.1",
        bundle_ops,
        &with(bundle_bytes, |v| v[0] = 2),
        "Truncated",
    );
    neg.decode(
        "bundle: flag 0x02",
        "§2.2",
        bundle_ops,
        &with(bundle_bytes, |v| v[141] = 2),
        "NonCanonical",
    );
    neg.decode(
        "bundle: small-order identity",
        "§2.4",
        bundle_ops,
        &with(bundle_bytes, |v| v[1..33].copy_from_slice(&order8)),
        "InvalidKey",
    );
    neg.decode(
        "bundle: signed prekey u = p",
        "§2.3",
        bundle_ops,
        &with(bundle_bytes, |v| v[45..77].copy_from_slice(&p)),
        "InvalidKey",
    );
    neg.decode(
        "bundle: one-time prekey with top bit",
        "§2.3",
        bundle_ops,
        &with(bundle_bytes, |v| v[146..178].copy_from_slice(&top_bit)),
        "InvalidKey",
    );
}

/// Messages (§5.4).
pub(super) fn messages(neg: &mut Neg, fx: &Fixture) {
    let Fixture { m1, r1, .. } = fx;
    let Points {
        p, identity_point, ..
    } = Points::new();
    let dec = "Incoming::decode";
    let normal = r1.clone();
    neg.decode("message: empty", "§5.4 step 1", dec, &[], "Truncated");
    neg.decode(
        "message: unknown version",
        "§5.4 step 2",
        dec,
        &[3, 1],
        "UnknownVersion(3)",
    );
    neg.decode(
        "message: a normal message of version 0x02",
        "§5.4 step 4",
        dec,
        &[2, 1],
        "UnknownVersion(2)",
    );
    neg.decode(
        "message: version only",
        "§5.4 step 3",
        dec,
        &[1],
        "Truncated",
    );
    neg.decode(
        "message: unknown type",
        "§5.4 step 4",
        dec,
        &with(&normal, |v| v[1] = 3),
        "UnknownType(3)",
    );
    neg.decode(
        "message: prekey fields truncated",
        "§5.4 step 5",
        dec,
        &m1[..50],
        "Truncated",
    );
    neg.decode(
        "prekey message: small-order IK_A",
        "§5.4 step 5",
        dec,
        &with(m1, |v| v[2..34].copy_from_slice(&identity_point)),
        "InvalidKey",
    );
    neg.decode(
        "prekey message: base key u = p",
        "§5.4 step 5",
        dec,
        &with(m1, |v| v[34..66].copy_from_slice(&p)),
        "InvalidKey",
    );
    neg.decode(
        "prekey message: one-time prekey flag 0x02",
        "§5.4 step 5",
        dec,
        &with(m1, |v| v[70] = 2),
        "NonCanonical",
    );
    neg.decode(
        "normal message: 57 bytes",
        "§5.4 step 6",
        dec,
        &normal[..57],
        "Truncated",
    );
    neg.decode(
        "prekey message: embedded message shorter than 58 bytes",
        "§5.4 step 6",
        dec,
        &m1[..75 + 57],
        "Truncated",
    );
    neg.decode(
        "prekey message: embedded version 0x02",
        "§5.4 step 7",
        dec,
        &with(m1, |v| v[75] = 2),
        "UnknownVersion(2)",
    );
    neg.decode(
        "prekey message: nested prekey message",
        "§5.4 step 8",
        dec,
        &with(m1, |v| v[76] = 2),
        "UnknownType(2)",
    );
    neg.decode(
        "normal message: ratchet key top bit",
        "§5.4 step 9",
        dec,
        &with(&normal, |v| v[33] |= 0x80),
        "InvalidKey",
    );
    neg.decode(
        "normal message: ratchet key u = p",
        "§5.4 step 9",
        dec,
        &with(&normal, |v| v[2..34].copy_from_slice(&p)),
        "InvalidKey",
    );
    neg.decode(
        "normal message: ciphertext of 15 bytes",
        "§5.4 step 10",
        dec,
        &normal[..58 + 15],
        "Truncated",
    );
    {
        // Ciphertext of 2^20 + 17 bytes: the prefix of r1 followed by zeros (given by length).
        let mut big_msg = normal[..58].to_vec();
        big_msg.resize(58 + (1 << 20) + 17, 0);
        let got = run_decode(dec, &big_msg);
        assert_eq!(got, "TooLarge");
        neg.push(
            "normal message: ciphertext longer than 2^20 + 16",
            "§5.4 step 11",
            dec,
            Obj::new()
                .f("bytes", hx(&normal[..58]))
                .f("followed_by_zero_bytes", (1usize << 20) + 17),
            got,
        );
    }
}
