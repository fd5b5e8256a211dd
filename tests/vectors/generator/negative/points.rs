//! Key encodings that break the rules of SPEC.md §2.3 and §2.4: low-order X25519 points, torsion
//! variants of valid keys, and non-canonical or small-order encodings.

use xchat_protocol::PublicKey;

use super::super::primitives::a32;
use super::harness::with;

/// Points that X25519 maps to all-zero output (low order), all canonical encodings.
pub const LOW_ORDER_X25519: [(&str, &str); 4] = [
    (
        "u = 0",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "u = 1",
        "0100000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "u = p - 1",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "point of order 8",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    ),
];

pub(super) fn h32(s: &str) -> [u8; 32] {
    a32(&hex::decode(s).expect("hex"))
}

/// The seven other canonical encodings `u(P + T)` of the X25519 key `u`, for the non-trivial
/// 8-torsion points `T`: the same DH results as `u`, different bytes (SPEC.md §3.5, §4.4).
pub fn x25519_torsion_variants(u: &[u8]) -> Vec<[u8; 32]> {
    let point = curve25519_dalek::MontgomeryPoint(a32(u))
        .to_edwards(0)
        .expect("on the curve");
    let variants: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION[1..]
        .iter()
        .map(|t| (point + t).to_montgomery().to_bytes())
        .collect();
    for v in &variants {
        assert_ne!(v, &a32(u));
        assert!(PublicKey::from_bytes(*v).is_ok(), "canonical");
    }
    variants
}

/// The seven encodings `A + T` of the Ed25519 key `a` (SPEC.md §2 rule 4).
pub fn ed25519_torsion_variants(a: &[u8]) -> Vec<[u8; 32]> {
    let point = curve25519_dalek::edwards::CompressedEdwardsY(a32(a))
        .decompress()
        .expect("a point");
    curve25519_dalek::constants::EIGHT_TORSION[1..]
        .iter()
        .map(|t| (point + t).compress().to_bytes())
        .collect()
}

/// Finds non-canonical (y ≥ p) Ed25519 encodings that decompress to a point not of small order.
pub(super) fn non_canonical_ed25519() -> Option<[u8; 32]> {
    (2u8..19).find_map(|k| {
        // y = p + k, little-endian: p = 2^255 - 19 = ed ff … ff 7f.
        let mut y = [0xffu8; 32];
        y[31] = 0x7f;
        let low = 0xedu16 + u16::from(k);
        if low > 0xff {
            return None;
        }
        y[0] = low as u8;
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&y).ok()?;
        (!vk.is_weak()).then_some(y)
    })
}

/// Bad encodings used by several families.
pub(super) struct Points {
    /// X25519 `u = p` (non-canonical).
    pub p: [u8; 32],
    /// X25519 `u = p + 1`, or Ed25519 `y = p + 1`.
    pub p_plus_1: Vec<u8>,
    /// An X25519 key with its top bit set.
    pub top_bit: Vec<u8>,
    /// The Ed25519 identity point (small order).
    pub identity_point: Vec<u8>,
    /// An Ed25519 point of order 8.
    pub order8: [u8; 32],
}

impl Points {
    pub fn new() -> Self {
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let order8 = h32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
        assert!(
            ed25519_dalek::VerifyingKey::from_bytes(&order8)
                .expect("decompresses")
                .is_weak()
        );
        Points {
            p,
            p_plus_1: with(&p, |v| v[0] = 0xee),
            top_bit: with(&[9u8; 32], |v| v[31] |= 0x80),
            identity_point: with(&[0u8; 32], |v| v[0] = 1),
            order8,
        }
    }
}
