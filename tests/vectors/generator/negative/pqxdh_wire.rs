//! PQXDH decoders: wrong lengths of the KEM fields in bundles (§5.1) and prekey messages (§5.3,
//! §5.4), the use byte, encapsulation keys with an out-of-range coefficient (FIPS 203 §7.2), KEM
//! keys and ciphertexts of the wrong length (§4.5), and the version byte relabelled both ways.

use super::fixture::Fixture;
use super::harness::{Neg, with};
use super::pqxdh_fixture::{CT_LEN, EK_LEN, KEM_AT, KEM_FIELDS_AT, PqFixture};

/// Sets coefficient `i` of `t̂` (the first 1536 bytes of an encapsulation key: 1024 12-bit
/// values, two in every three bytes, little-endian; FIPS 203 `ByteEncode_12`) to `value`.
fn set_coefficient(ek: &mut [u8], i: usize, value: u16) {
    let [lo, hi] = value.to_le_bytes();
    let j = 3 * (i / 2);
    if i.is_multiple_of(2) {
        ek[j] = lo;
        ek[j + 1] = (ek[j + 1] & 0xF0) | hi;
    } else {
        ek[j + 1] = (ek[j + 1] & 0x0F) | (lo & 0x0F) << 4;
        ek[j + 2] = (value >> 4) as u8;
    }
}

/// Decoders: bundles (§5.1), keys and ciphertexts (§4.5), prekey messages (§5.4).
pub(super) fn decoders(neg: &mut Neg, fx: &Fixture, pq: &PqFixture) {
    let PqFixture {
        bundle_lr,
        bundle_ot,
        m_lr,
        m_ot,
        ..
    } = pq;
    let bundle = "PreKeyBundle::from_bytes";
    let [kem_ot, kem_lr] = KEM_AT;
    let ek_lr = kem_lr + 13;
    neg.decode(
        "PQXDH bundle: cut inside the KEM encapsulation key",
        "§2.6, §5.1",
        bundle,
        &bundle_lr[..ek_lr + EK_LEN / 2],
        "Truncated",
    );
    neg.decode(
        "PQXDH bundle: cut after the KEM use byte",
        "§2.6, §5.1",
        bundle,
        &bundle_ot[..kem_ot + 1],
        "Truncated",
    );
    neg.decode(
        "PQXDH bundle: last byte of the KEM prekey signature missing",
        "§2.6, §5.1",
        bundle,
        &bundle_ot[..bundle_ot.len() - 1],
        "Truncated",
    );
    neg.decode(
        "PQXDH bundle: trailing byte",
        "§2.5, §5.1",
        bundle,
        &with(bundle_lr, |v| v.push(0)),
        "TrailingBytes",
    );
    neg.decode(
        "PQXDH bundle relabelled version 0x01: the KEM prekey is trailing bytes",
        "§2.5, §5.1",
        bundle,
        &with(bundle_ot, |v| v[0] = 1),
        "TrailingBytes",
    );
    neg.decode(
        "PQXDH bundle: KEM use 0x02",
        "§5.1",
        bundle,
        &with(bundle_lr, |v| v[kem_lr] = 2),
        "NonCanonical",
    );
    for (name, i, value) in [
        ("first coefficient of t̂ = q", 0, 3329),
        ("coefficient 1 of t̂ = 4095", 1, 4095),
        ("last coefficient of t̂ = q", 1023, 3329),
    ] {
        neg.decode(
            &format!("PQXDH bundle: encapsulation key with {name}"),
            "§5.1 (FIPS 203 §7.2)",
            bundle,
            &with(bundle_lr, |v| {
                set_coefficient(&mut v[ek_lr..ek_lr + EK_LEN], i, value)
            }),
            "InvalidKey",
        );
    }

    let ek = &bundle_lr[ek_lr..ek_lr + EK_LEN];
    let key = "KemPublicKey::from_bytes";
    neg.decode(
        "KEM key: 1567 bytes",
        "§4.5",
        key,
        &ek[..EK_LEN - 1],
        "InvalidKey",
    );
    neg.decode(
        "KEM key: 1569 bytes",
        "§4.5",
        key,
        &with(ek, |v| v.push(0)),
        "InvalidKey",
    );
    neg.decode(
        "KEM key: coefficient 511 of t̂ = q",
        "§4.5 (FIPS 203 §7.2)",
        key,
        &with(ek, |v| set_coefficient(v, 511, 3329)),
        "InvalidKey",
    );
    let ct = &m_lr[KEM_FIELDS_AT[1] + 5..KEM_FIELDS_AT[1] + 5 + CT_LEN];
    let ciphertext = "KemCiphertext::from_bytes";
    neg.decode(
        "KEM ciphertext: 1567 bytes",
        "§4.5, §5.3",
        ciphertext,
        &ct[..CT_LEN - 1],
        "Truncated",
    );
    neg.decode(
        "KEM ciphertext: 1569 bytes",
        "§4.5, §5.3",
        ciphertext,
        &with(ct, |v| v.push(0)),
        "TrailingBytes",
    );

    let dec = "Incoming::decode";
    let [at_ot, at_lr] = KEM_FIELDS_AT;
    neg.decode(
        "PQXDH prekey message: cut inside the ML-KEM ciphertext",
        "§5.4 step 5",
        dec,
        &m_ot[..at_ot + 5 + CT_LEN / 2],
        "Truncated",
    );
    neg.decode(
        "PQXDH prekey message: cut inside the KEM prekey id",
        "§5.4 step 5",
        dec,
        &m_lr[..at_lr + 3],
        "Truncated",
    );
    neg.decode(
        "PQXDH prekey message: KEM use 0x02",
        "§5.4 step 5",
        dec,
        &with(m_lr, |v| v[at_lr] = 2),
        "NonCanonical",
    );
    neg.decode(
        "PQXDH prekey message: embedded message shorter than 58 bytes",
        "§5.4 step 6",
        dec,
        &m_ot[..at_ot + 5 + CT_LEN + 57],
        "Truncated",
    );
    neg.decode(
        "PQXDH prekey message: embedded version 0x02",
        "§5.4 step 7",
        dec,
        &with(m_ot, |v| v[at_ot + 5 + CT_LEN] = 2),
        "UnknownVersion(2)",
    );
    // Downgrade and upgrade of the version byte: the other version's fields do not parse.
    neg.decode(
        "PQXDH prekey message relabelled version 0x01 (the KEM use byte is read as the embedded version)",
        "§5.3, §5.4 step 7",
        dec,
        &with(m_lr, |v| v[0] = 1),
        "UnknownVersion(0)",
    );
    neg.decode(
        "X3DH prekey message relabelled version 0x02 (no room for the ciphertext)",
        "§5.3, §5.4 step 5",
        dec,
        &with(&fx.m1, |v| v[0] = 2),
        "Truncated",
    );
}
