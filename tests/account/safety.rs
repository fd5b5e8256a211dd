//! Safety numbers and fingerprints (SPEC.md §15.4), recomputed by hand from SPEC.md's
//! construction; the QR comparison's every outcome; account keys parsed strictly.

use sha2::{Digest, Sha512};
use xchat_protocol::DecodeError;
use xchat_protocol::account::{
    AccountError, AccountKey, AccountKeyPair, Comparison, Fingerprint, QR_PAYLOAD_LEN, SafetyNumber,
};

use crate::support::rng;

/// SPEC.md §15.4, written out independently: H_1 = SHA-512(label ‖ 0x01 ‖ 0x01 ‖ u8 len ‖ id ‖
/// key), H_i = SHA-512(H_{i−1} ‖ key), 5200 hashes in all; the first 32 bytes.
fn fingerprint_by_hand(key: &[u8; 32], id: &[u8]) -> [u8; 32] {
    let mut first = b"xchat-protocol v1 account fingerprint".to_vec();
    first.extend_from_slice(&[0x01, 0x01, id.len() as u8]);
    first.extend_from_slice(id);
    first.extend_from_slice(key);
    let mut h = Sha512::digest(&first).to_vec();
    for _ in 1..5200 {
        let mut next = h.clone();
        next.extend_from_slice(key);
        h = Sha512::digest(&next).to_vec();
    }
    h[..32].try_into().unwrap()
}

/// Six groups of five bytes, each a 40-bit big-endian number mod 100 000, five digits each.
fn digits_by_hand(fp: &[u8; 32]) -> String {
    (0..6)
        .map(|i| {
            let n = fp[5 * i..5 * i + 5]
                .iter()
                .fold(0u64, |n, b| n * 256 + u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect()
}

#[test]
fn fingerprints_and_digits_follow_the_spec() {
    let mut r = rng(1);
    for id in [&b""[..], b"alice", &[0xFF; 255][..]] {
        let a = AccountKeyPair::generate(&mut r);
        let fp = Fingerprint::of(a.public(), id).unwrap();
        let by_hand = fingerprint_by_hand(a.public().as_bytes(), id);
        assert_eq!(fp.as_bytes(), &by_hand);
        assert_eq!(fp.digits(), digits_by_hand(&by_hand));
        assert_eq!(fp.digits().len(), 30);
        assert!(fp.digits().bytes().all(|b| b.is_ascii_digit()));
    }
}

#[test]
fn both_sides_show_the_same_sixty_digits_and_each_input_changes_them() {
    let mut r = rng(2);
    let (alice, bob) = (
        AccountKeyPair::generate(&mut r),
        AccountKeyPair::generate(&mut r),
    );
    let on_alice = SafetyNumber::new((alice.public(), b"alice"), (bob.public(), b"bob")).unwrap();
    let on_bob = SafetyNumber::new((bob.public(), b"bob"), (alice.public(), b"alice")).unwrap();
    let digits = on_alice.digits();
    assert_eq!(digits, on_bob.digits());
    assert_eq!(digits.len(), 60);
    let (a, b) = (on_alice.local().digits(), on_alice.remote().digits());
    assert_eq!(digits, if a <= b { a + &b } else { b + &a });
    // A new account key for Bob, or another stable id, gives another number.
    let bob2 = AccountKeyPair::generate(&mut r);
    let changed = SafetyNumber::new((alice.public(), b"alice"), (bob2.public(), b"bob")).unwrap();
    assert_ne!(changed.digits(), digits);
    let renamed = SafetyNumber::new((alice.public(), b"alice"), (bob.public(), b"bob2")).unwrap();
    assert_ne!(renamed.digits(), digits);
    // The same keys always give the same number.
    let again = SafetyNumber::new((alice.public(), b"alice"), (bob.public(), b"bob")).unwrap();
    assert_eq!(again.digits(), digits);
}

#[test]
fn scanning_the_qr_code_gives_a_typed_comparison() {
    let mut r = rng(3);
    let (alice, bob, mallory) = (
        AccountKeyPair::generate(&mut r),
        AccountKeyPair::generate(&mut r),
        AccountKeyPair::generate(&mut r),
    );
    let on_alice = SafetyNumber::new((alice.public(), b"a"), (bob.public(), b"b")).unwrap();
    let on_bob = SafetyNumber::new((bob.public(), b"b"), (alice.public(), b"a")).unwrap();
    let qr = on_alice.qr_payload();
    assert_eq!(qr.len(), QR_PAYLOAD_LEN);
    assert_eq!(qr[0], 0x01);
    assert_eq!(&qr[1..33], on_alice.local().as_bytes());
    assert_eq!(&qr[33..], on_alice.remote().as_bytes());
    assert_eq!(on_bob.compare(&qr), Ok(Comparison::Match));
    assert_eq!(
        on_alice.compare(&on_bob.qr_payload()),
        Ok(Comparison::Match)
    );
    // Scanning one's own code, or a code made with a substituted key, does not match.
    assert_eq!(on_alice.compare(&qr), Ok(Comparison::Mismatch));
    let mitm = SafetyNumber::new((mallory.public(), b"a"), (bob.public(), b"b")).unwrap();
    assert_eq!(on_bob.compare(&mitm.qr_payload()), Ok(Comparison::Mismatch));
    for i in 1..QR_PAYLOAD_LEN {
        let mut bad = qr;
        bad[i] ^= 1;
        assert_eq!(on_bob.compare(&bad), Ok(Comparison::Mismatch), "byte {i}");
    }
    // Another version, lengths.
    let mut v2 = qr;
    v2[0] = 0x02;
    assert_eq!(on_bob.compare(&v2), Ok(Comparison::OtherVersion(2)));
    assert_eq!(on_bob.compare(&[]), Err(DecodeError::Truncated));
    assert_eq!(on_bob.compare(&qr[..64]), Err(DecodeError::Truncated));
    let mut long = qr.to_vec();
    long.push(0);
    assert_eq!(on_bob.compare(&long), Err(DecodeError::TrailingBytes));
}

#[test]
fn account_ids_and_keys_are_checked() {
    let mut r = rng(4);
    let a = AccountKeyPair::generate(&mut r);
    assert_eq!(
        Fingerprint::of(a.public(), &[0; 256]).unwrap_err(),
        AccountError::TooLarge
    );
    // Account keys parse as strictly as identity keys: the identity point and a small-order
    // point are refused.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        AccountKey::from_bytes(identity).unwrap_err(),
        DecodeError::InvalidKey
    );
    assert_eq!(
        AccountKey::from_bytes(*a.public().as_bytes()).unwrap(),
        *a.public()
    );
    let restored = AccountKeyPair::from_seed(&a.seed());
    assert_eq!(restored.public(), a.public());
    assert!(!format!("{a:?}").contains(&format!("{:?}", &a.seed()[..4])));
}
