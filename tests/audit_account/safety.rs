//! Safety numbers and QR comparison: other-version prefixes, swapped halves, lengths, id limits.

use xchat_protocol::DecodeError;
use xchat_protocol::account::{AccountKeyPair, Comparison, MAX_ACCOUNT_ID_LEN, SafetyNumber};

use crate::craft::rng;

fn pair() -> (SafetyNumber, SafetyNumber, AccountKeyPair, AccountKeyPair) {
    let mut r = rng(40);
    let a = AccountKeyPair::generate(&mut r);
    let b = AccountKeyPair::generate(&mut r);
    let on_a = SafetyNumber::new((a.public(), b"alice"), (b.public(), b"bob")).unwrap();
    let on_b = SafetyNumber::new((b.public(), b"bob"), (a.public(), b"alice")).unwrap();
    (on_a, on_b, a, b)
}

#[test]
fn held_qr_cannot_be_fooled_by_versions_halves_or_lengths() {
    let (on_a, on_b, _, _) = pair();
    let good = on_a.qr_payload();
    assert_eq!(on_b.compare(&good), Ok(Comparison::Match));
    assert_eq!(on_a.compare(&on_b.qr_payload()), Ok(Comparison::Match));
    // Another version byte in front of the right halves is never a Match.
    for v in [0u8, 2, 0x7f, 0xff] {
        let mut p = good;
        p[0] = v;
        assert_eq!(on_b.compare(&p), Ok(Comparison::OtherVersion(v)));
        let mut longer = good.to_vec();
        longer[0] = v;
        longer.extend_from_slice(&[0; 40]);
        assert_eq!(on_b.compare(&longer), Ok(Comparison::OtherVersion(v)));
    }
    // Swapped halves (one's own code, or the other's with halves exchanged) are Mismatch.
    let mut swapped = [0u8; 65];
    swapped[0] = 1;
    swapped[1..33].copy_from_slice(&good[33..]);
    swapped[33..].copy_from_slice(&good[1..33]);
    assert_eq!(on_b.compare(&swapped), Ok(Comparison::Mismatch));
    assert_eq!(on_b.compare(&on_b.qr_payload()), Ok(Comparison::Mismatch));
    // Lengths: a version-1 prefix or extension of the right payload is an error, never Match.
    for n in 0..good.len() {
        let got = on_b.compare(&good[..n]);
        assert!(
            matches!(got, Err(DecodeError::Truncated)),
            "len {n}: {got:?}"
        );
    }
    let mut long = good.to_vec();
    long.push(0);
    assert_eq!(on_b.compare(&long), Err(DecodeError::TrailingBytes));
    // The two halves repeated, the same fingerprint twice.
    let mut twice = good;
    twice[33..].copy_from_slice(&good[1..33]);
    assert_eq!(on_b.compare(&twice), Ok(Comparison::Mismatch));
}

#[test]
fn held_ids_are_length_bound_and_limited_on_both_sides() {
    let (_, _, a, b) = pair();
    let base = SafetyNumber::new((a.public(), b"ab"), (b.public(), b"")).unwrap();
    // Moving a byte across the boundary between id and key or between the two sides changes it.
    for (la, lb) in [
        (&b"a"[..], &b"b"[..]),
        (b"ab\0", b""),
        (b"", b"ab"),
        (b"ab", b"\0"),
    ] {
        let other = SafetyNumber::new((a.public(), la), (b.public(), lb)).unwrap();
        assert_ne!(other.digits(), base.digits());
        assert_eq!(
            base.compare(&other.qr_payload()).unwrap(),
            Comparison::Mismatch
        );
    }
    let max = vec![7u8; MAX_ACCOUNT_ID_LEN];
    let over = vec![7u8; MAX_ACCOUNT_ID_LEN + 1];
    SafetyNumber::new((a.public(), &max), (b.public(), &max)).unwrap();
    assert!(SafetyNumber::new((a.public(), &over), (b.public(), b"")).is_err());
    assert!(SafetyNumber::new((a.public(), b""), (b.public(), &over)).is_err());
    // Huge ids do not panic.
    assert!(SafetyNumber::new((a.public(), &vec![0; 1 << 20]), (b.public(), b"")).is_err());
}

#[test]
fn held_a_key_held_for_oneself_is_not_a_match_for_the_other() {
    // Mallory hands Bob Alice's own key as "Bob's" key for her, or Bob's key under both ids:
    // neither code matches Bob's.
    let (_, on_b, a, b) = pair();
    let mitm = SafetyNumber::new((a.public(), b"alice"), (a.public(), b"bob")).unwrap();
    assert_ne!(mitm.digits(), on_b.digits());
    assert_eq!(
        on_b.compare(&mitm.qr_payload()).unwrap(),
        Comparison::Mismatch
    );
    let same_key_ids = SafetyNumber::new((b.public(), b"bob"), (b.public(), b"alice")).unwrap();
    assert_eq!(
        on_b.compare(&same_key_ids.qr_payload()).unwrap(),
        Comparison::Mismatch
    );
}

/// Any first byte other than 0x01 — a garbage or non-xchat QR code ("h" of a URL) — is reported
/// as `OtherVersion`, which tells the user to update rather than that the codes differ. It is
/// never `Match`; the UX risk is that a substituted code reads as "update, then compare again".
#[test]
fn known_limit_garbage_qr_codes_read_as_another_version() {
    let (_, on_b, _, _) = pair();
    assert_eq!(
        on_b.compare(b"https://example.com/").unwrap(),
        Comparison::OtherVersion(b'h')
    );
}
