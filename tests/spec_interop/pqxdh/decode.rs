//! Decode errors of the version 0x02 formats agree, and are those SPEC.md gives: bundles (§5.1:
//! every truncation, the use byte, FIPS 203 §7.2's check of the encapsulation key, trailing
//! bytes, the order of the checks) and prekey messages (§5.3, §5.4 steps 1–11).

use super::{fields_len, initiate, responder};
use crate::reference::primitives::{K32, draw};
use crate::reference::wire::{decode_bundle, decode_message};
use xchat_protocol::{Incoming, PreKeyBundle};

/// The 12-bit coefficient `i` of `t̂` (`ByteEncode_12`, FIPS 203) of an encapsulation key at
/// `at` in `b` set to `v`.
fn set_coefficient(b: &mut [u8], at: usize, i: usize, v: u16) {
    let j = at + i / 2 * 3;
    let [lo, hi] = v.to_le_bytes();
    if i.is_multiple_of(2) {
        b[j] = lo;
        b[j + 1] = (b[j + 1] & 0xF0) | (hi & 0x0F);
    } else {
        b[j + 1] = (b[j + 1] & 0x0F) | ((lo & 0x0F) << 4);
        b[j + 2] = u8::try_from(v >> 4).unwrap();
    }
}

/// Runs the cases (bytes, what SPEC.md says: `None` = decodes) through both decoders.
fn run(cases: Vec<(Vec<u8>, Option<&str>)>, decode: impl Fn(&[u8]) -> (String, String)) {
    let mut failures = vec![];
    for (bytes, expect) in &cases {
        let (mine, theirs) = decode(bytes);
        let want = expect.map_or("ok".to_string(), |e| e.to_string());
        if mine != theirs || mine != want {
            let head = hex::encode(&bytes[..bytes.len().min(24)]);
            let len = bytes.len();
            failures.push(format!(
                "{head}… ({len} bytes): independent {mine}, crate {theirs}, SPEC {want}"
            ));
        }
    }
    assert!(failures.is_empty(), "{} cases: {failures:#?}", cases.len());
}

fn bundle_both(b: &[u8]) -> (String, String) {
    let text = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let mine = decode_bundle(b).map_or_else(|e| text(&e), |_| "ok".into());
    let theirs = PreKeyBundle::from_bytes(b).map_or_else(|e| text(&e), |_| "ok".into());
    (mine, theirs)
}

fn message_both(m: &[u8]) -> (String, String) {
    let text = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let mine = decode_message(m).map_or_else(|e| text(&e), |_| "ok".into());
    let theirs = Incoming::decode(m).map_or_else(|e| text(&e), |_| "ok".into());
    (mine, theirs)
}

/// Test P4: version 0x02 bundles (§5.1).
#[test]
fn pqxdh_bundle_decode_errors_agree() {
    let (_, _, bob) = responder(43, false);
    for (opk, kem) in [(None, None), (Some(0), Some(1))] {
        let b = bob.bundle(opk, kem).unwrap();
        let at = if opk.is_some() { 178 } else { 142 };
        let ek = at + 13;
        let mut cases: Vec<(Vec<u8>, Option<&str>)> = vec![(b.clone(), None)];
        for len in 0..b.len() {
            cases.push((b[..len].to_vec(), Some("Truncated")));
        }
        let edit = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut v = b.clone();
            f(&mut v);
            v
        };
        cases.push((edit(&|v| v.push(0)), Some("TrailingBytes")));
        cases.push((edit(&|v| v[0] = 0x03), Some("UnknownVersion(3)")));
        // Relabelled version 0x01: a complete X3DH bundle followed by the KEM prekey.
        cases.push((edit(&|v| v[0] = 0x01), Some("TrailingBytes")));
        for u in [0x02, 0x80, 0xFF] {
            cases.push((edit(&|v| v[at] = u), Some("NonCanonical")));
        }
        // The other use still decodes (the signature is checked by the initiator).
        cases.push((edit(&|v| v[at] ^= 1), None));
        // FIPS 203 §7.2: coefficients of t̂ below q = 3329 only; ρ (the last 32 bytes) is free.
        for i in [0, 1, 2, 511, 1022, 1023] {
            for (value, expect) in [
                (0, None),
                (3328, None),
                (3329, Some("InvalidKey")),
                (4095, Some("InvalidKey")),
            ] {
                cases.push((edit(&|v| set_coefficient(v, ek, i, value)), expect));
            }
        }
        cases.push((
            edit(&|v| v[ek + 1536..ek + 1568].copy_from_slice(&[0xFF; 32])),
            None,
        ));
        cases.push((
            edit(&|v| v[ek..ek + 1568].copy_from_slice(&[0xFF; 1568])),
            Some("InvalidKey"),
        ));
        cases.push((
            edit(&|v| v[ek..ek + 1568].copy_from_slice(&[0; 1568])),
            None,
        ));
        // The order of the checks (§2 rule 7): the use byte before the key, the key before the
        // signature is read, the identity before everything after it.
        let bad_key = |v: &mut Vec<u8>| set_coefficient(v, ek, 5, 0xFFF);
        cases.push((
            edit(&|v| {
                bad_key(v);
                v[at] = 2;
            }),
            Some("NonCanonical"),
        ));
        cases.push((
            edit(&|v| {
                bad_key(v);
                v.truncate(v.len() - 1);
            }),
            Some("InvalidKey"),
        ));
        cases.push((
            edit(&|v| {
                bad_key(v);
                v.truncate(ek + 1568);
            }),
            Some("InvalidKey"),
        ));
        cases.push((
            edit(&|v| {
                bad_key(v);
                v.push(0);
            }),
            Some("InvalidKey"),
        ));
        cases.push((
            edit(&|v| {
                v[1..33].copy_from_slice(&[0; 32]);
                v[at] = 2;
            }),
            Some("InvalidKey"),
        ));
        cases.push((
            edit(&|v| {
                v[141] = 2;
                bad_key(v);
            }),
            Some("NonCanonical"),
        ));
        run(cases, bundle_both);
    }
}

/// Test P5: version 0x02 prekey messages (§5.3) in §5.4's order.
#[test]
fn pqxdh_prekey_message_decode_errors_agree() {
    let (mut rng, _, bob) = responder(44, true);
    let alice: K32 = draw(&mut rng);
    for opk in [None, Some(1)] {
        let bundle = bob.bundle(opk, None).unwrap();
        let m = initiate(&mut rng, false, &alice, &bundle)
            .unwrap()
            .encrypt(&mut rng, b"hi");
        let split = fields_len(opk.is_some());
        let use_at = split - 1573;
        let mut cases: Vec<(Vec<u8>, Option<&str>)> = vec![(m.clone(), None)];
        // Cut anywhere before the embedded message's 16-byte minimum ciphertext ends.
        for len in 0..split + 58 + 16 {
            cases.push((m[..len].to_vec(), Some("Truncated")));
        }
        let edit = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut v = m.clone();
            f(&mut v);
            v
        };
        // Steps 2–4b.
        cases.push((vec![0x02], Some("Truncated")));
        cases.push((vec![0x02, 0x01], Some("UnknownVersion(2)")));
        cases.push((
            [&[0x02], &m[split + 1..]].concat(),
            Some("UnknownVersion(2)"),
        ));
        cases.push((vec![0x02, 0x03], Some("UnknownType(3)")));
        cases.push((vec![0x02, 0x00], Some("UnknownType(0)")));
        cases.push((edit(&|v| v[1] = 0x03), Some("UnknownType(3)")));
        cases.push((vec![0x03, 0x02], Some("UnknownVersion(3)")));
        // Step 5: the use byte, as it is read; the ciphertext has no check of its own.
        for u in [0x02, 0xFF] {
            cases.push((edit(&|v| v[use_at] = u), Some("NonCanonical")));
            cases.push((
                edit(&|v| {
                    v[use_at] = u;
                    v.truncate(use_at + 1);
                }),
                Some("NonCanonical"),
            ));
        }
        cases.push((
            edit(&|v| v[use_at + 5..split].copy_from_slice(&[0xFF; 1568])),
            None,
        ));
        cases.push((edit(&|v| v[70] = 2), Some("NonCanonical")));
        cases.push((
            edit(&|v| v[2..34].copy_from_slice(&[0; 32])),
            Some("InvalidKey"),
        ));
        cases.push((edit(&|v| v[65] = 0x80), Some("InvalidKey")));
        // Steps 6–11 on the embedded message.
        cases.push((edit(&|v| v[split] = 0x02), Some("UnknownVersion(2)")));
        cases.push((edit(&|v| v[split + 1] = 0x02), Some("UnknownType(2)")));
        cases.push((edit(&|v| v[split + 33] = 0x80), Some("InvalidKey")));
        let mut big = m.clone();
        big.resize(split + 58 + (1 << 20) + 17, 0);
        cases.push((big, Some("TooLarge")));
        // Relabelled version 0x01: the embedded message starts at the use byte (0x00).
        cases.push((edit(&|v| v[0] = 0x01), Some("UnknownVersion(0)")));
        run(cases, message_both);
    }
    // A version 0x01 first message relabelled 0x02: its embedded message is read as the KEM
    // fields (use 0x01, id, then 1568 bytes the message does not have).
    let (mut rng, _, mut classical) = responder(45, false);
    let crate::parties::BobPre::Mine(b) = &mut classical else {
        unreachable!()
    };
    b.store.kem = None;
    let bundle = classical.bundle(None, None).unwrap();
    assert_eq!(bundle[0], 0x01);
    let alice: K32 = draw(&mut rng);
    let m = initiate(&mut rng, true, &alice, &bundle)
        .unwrap()
        .encrypt(&mut rng, b"hi");
    assert_eq!(m[..2], [0x01, 0x02]);
    let mut v = m.clone();
    v[0] = 0x02;
    run(vec![(m, None), (v, Some("Truncated"))], message_both);
}
