//! Memory targets of issue 6, asserted by counting allocations (never by timing): at most two
//! heap allocations per encrypt or decrypt, at most 80 bytes per stored skipped key, and an
//! established session serializing to at most 1 KiB.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::established;

#[test]
fn encrypt_and_decrypt_make_at_most_two_allocations() {
    let mut p = established(70, true);
    let reply = p.bob.encrypt(&mut p.rng, b"turn").unwrap();
    p.alice.decrypt(&reply).unwrap();
    let plaintext = [7u8; 256];
    for _ in 0..3 {
        let mut wire = Vec::new();
        let enc =
            allocation_counter::measure(|| wire = p.alice.encrypt(&mut p.rng, &plaintext).unwrap());
        let dec = allocation_counter::measure(|| {
            p.bob.decrypt(&wire).unwrap();
        });
        assert!(
            enc.count_total <= 2,
            "encrypt allocated {} times",
            enc.count_total
        );
        assert!(
            dec.count_total <= 2,
            "decrypt allocated {} times",
            dec.count_total
        );
        // Framed messages (content frame with padding) stay within the same budget.
        let mut framed = Vec::new();
        let send = allocation_counter::measure(|| {
            framed = p.alice.send(&mut p.rng, 0, &plaintext).unwrap()
        });
        let recv = allocation_counter::measure(|| {
            p.bob.receive(&framed, 0).unwrap().into_message().unwrap();
        });
        assert!(
            send.count_total <= 2,
            "send allocated {} times",
            send.count_total
        );
        assert!(
            recv.count_total <= 2,
            "receive allocated {} times",
            recv.count_total
        );
    }
}

#[test]
fn a_stored_skipped_key_costs_at_most_80_bytes() {
    for gap in [1usize, 10, 333, 1000, 1999] {
        let mut p = established(71, true);
        let msgs: Vec<_> = (0..=gap)
            .map(|_| p.bob.encrypt(&mut p.rng, b"x").unwrap())
            .collect();
        let info = allocation_counter::measure(|| {
            p.alice.decrypt(&msgs[gap]).unwrap();
        });
        assert_eq!(p.alice.skipped_key_count(), gap);
        // `bytes_current` is what stays allocated after the call: the stored keys (the
        // decrypted plaintext it returned has been dropped inside the closure).
        let per_key = info.bytes_current as f64 / gap as f64;
        assert!(
            per_key <= 80.0,
            "gap {gap}: {per_key} bytes per skipped key"
        );
    }
}

#[test]
fn an_established_session_serializes_to_at_most_1_kib() {
    let mut p = established(72, true);
    let reply = p.bob.encrypt(&mut p.rng, b"x").unwrap();
    p.alice.decrypt(&reply).unwrap();
    for session in [&p.alice, &p.bob] {
        assert_eq!(session.skipped_key_count(), 0);
        let len = session.to_bytes().unwrap().len();
        assert!(len <= 1024, "{len} bytes");
    }
}

#[test]
fn state_serialization_allocates_once_so_no_unwiped_copy_is_left() {
    let mut p = established(73, true);
    let msgs: Vec<_> = (0..40)
        .map(|_| p.bob.encrypt(&mut p.rng, b"x").unwrap())
        .collect();
    p.alice.decrypt(&msgs[39]).unwrap(); // 39 skipped keys in the state
    let session = allocation_counter::measure(|| {
        let _ = p.alice.to_bytes();
    });
    let store = allocation_counter::measure(|| {
        let _ = p.bob_store.to_bytes();
    });
    let identity = allocation_counter::measure(|| {
        p.alice_id.to_bytes();
    });
    assert_eq!(session.count_total, 1, "session blob reallocated");
    assert_eq!(store.count_total, 1, "store blob reallocated");
    assert_eq!(identity.count_total, 1, "identity blob reallocated");
}

#[test]
fn a_full_skipped_key_store_does_not_grow_its_allocation() {
    let mut p = established(74, true);
    let limits = xchat_protocol::Limits {
        max_skip: 100,
        max_skipped_keys: 100,
        ..Default::default()
    };
    p.alice.set_limits(limits).unwrap();
    let msgs: Vec<_> = (0..=300)
        .map(|_| p.bob.encrypt(&mut p.rng, b"x").unwrap())
        .collect();
    p.alice.decrypt(&msgs[100]).unwrap(); // store full: 100 keys
    // Each further message skips 100 more, evicting as many: the store's memory stays put.
    let info = allocation_counter::measure(|| {
        p.alice.decrypt(&msgs[201]).unwrap();
        p.alice.decrypt(&msgs[300]).unwrap();
    });
    assert_eq!(p.alice.skipped_key_count(), 100);
    assert!(
        info.bytes_current <= 0,
        "store grew by {} bytes",
        info.bytes_current
    );
}
