//! The limits of §6.4 and the decrypt paths of §6.5 under them, in both implementations (test 6).

use crate::parties::Party;
use crate::reference::session::MySession;
use crate::support::Twin;
use crate::world::{CTX, header, setup};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn ok(pt: &[u8]) -> Result<Vec<u8>, String> {
    Ok(pt.to_vec())
}

fn err(e: &str) -> Result<Vec<u8>, String> {
    Err(e.to_string())
}

/// Test 6: limits (§6.4) and the decrypt paths of §6.5 under them: skip bound, count cap, age-based
/// deletion, old-chain eviction, late messages of evicted chains, a second new ratchet key while
/// our half-step is deferred (D2), and trimming on a limits change.
#[test]
fn limits_and_eviction_match() {
    let (w, _) = setup(21, false, false, true, CTX);
    let mut rng = w.rng;
    let (Party::Mine(alice, _), Party::Mine(bob, _)) = (w.alice, w.bob) else {
        panic!("independent parties expected");
    };
    let mut alice = *alice;
    let mut bob = *bob;
    // Alice: max_skip 3, max_skipped_keys 4, max_old_chains 1, max_skipped_key_age 5.
    alice.set_limits([3, 4, 1, 5]);
    let mut a = Twin::new(&alice);
    let mut bob_rng = ChaCha20Rng::from_seed([22; 32]);
    let mut bob_send =
        |bob: &mut MySession, pt: &[u8]| bob.encrypt_logged(&mut bob_rng, pt).unwrap().0;

    let b: Vec<_> = (0..14u8).map(|i| bob_send(&mut bob, &[i])).collect();
    assert_eq!(a.recv(&b[4]), err("TooFarInFuture")); // 4 − 0 > 3
    assert_eq!(a.recv(&b[3]), ok(&[3])); // keeps 0, 1, 2 (stamp 1)
    assert_eq!(a.recv(&b[7]), ok(&[7])); // keeps 4, 5, 6 (stamp 2); count cap drops 0, 1
    assert_eq!(
        a.mine.o().skipped.iter().map(|s| s.n).collect::<Vec<_>>(),
        [2, 4, 5, 6]
    );
    assert_eq!(a.recv(&b[0]), err("DuplicateMessage"));
    assert_eq!(a.recv(&b[2]), ok(&[2])); // received = 3
    for (i, m) in (8u8..).zip(&b[8..12]) {
        assert_eq!(a.recv(m), ok(&[i])); // received = 4..=7
    }
    assert_eq!(a.mine.o().skipped.len(), 3); // age 5: still kept
    assert_eq!(a.recv(&b[12]), ok(&[12])); // received = 8, age 6 > 5: dropped
    assert!(a.mine.o().skipped.is_empty());
    assert_eq!(a.recv(&b[5]), err("DuplicateMessage"));

    // Ratchet turns; b13 stays undelivered. Bob's next chain has PN = 14.
    let r0 = a.send(&mut rng, b"r0");
    assert_eq!(bob.decrypt(&r0).unwrap(), b"r0");
    let c: Vec<_> = (0..4u8).map(|i| bob_send(&mut bob, &[b'c', i])).collect();
    assert_eq!(header(&c[0]).2, 14);
    assert_eq!(a.recv(&c[3]), err("TooFarInFuture")); // old gap 1 + N 3 > 3
    assert_eq!(a.recv(&c[2]), ok(b"c\x02")); // keeps b13 (old chain), c0, c1
    assert_eq!(a.mine.o().skipped.len(), 3);
    let r1 = a.send(&mut rng, b"r1");
    assert_eq!(bob.decrypt(&r1).unwrap(), b"r1");
    let d0 = bob_send(&mut bob, b"d0");
    assert_eq!(header(&d0).2, 4);
    // old = [b-key, c-key] exceeds 1: the b chain and b13's key are deleted; c3's key is kept.
    assert_eq!(a.recv(&d0), ok(b"d0"));
    assert_eq!(a.mine.o().old, vec![header(&c[0]).1]);
    assert_eq!(
        a.mine.o().skipped.iter().map(|s| s.n).collect::<Vec<_>>(),
        [0, 1, 3]
    );
    // b13's ratchet key has left `old`: it looks like a new key while our half-step is deferred.
    assert_eq!(a.recv(&b[13]), err("DecryptionFailed"));
    assert_eq!(a.recv(&c[0]), ok(b"c\x00"));
    assert_eq!(a.recv(&c[0]), err("DuplicateMessage"));
    assert_eq!(a.recv(&c[3]), ok(b"c\x03"));

    // A second new ratchet key from a forked (restored-from-backup) Bob: rejected (§6.5 D2).
    let r2 = a.send(&mut rng, b"r2");
    let mut fork = bob.clone();
    assert_eq!(bob.decrypt(&r2).unwrap(), b"r2");
    assert_eq!(fork.decrypt(&r2).unwrap(), b"r2");
    let e0 = bob_send(&mut bob, b"e0");
    let _ = bob_send(&mut bob, b"e1");
    let f0 = bob_send(&mut fork, b"f0");
    assert_ne!(header(&e0).1, header(&f0).1);
    assert_eq!(a.recv(&e0), ok(b"e0"));
    assert_eq!(a.recv(&f0), err("DecryptionFailed"));

    // Trimming on a limits change (§6.4): keep age but shrink to one key.
    let r3 = a.send(&mut rng, b"r3");
    assert_eq!(bob.decrypt(&r3).unwrap(), b"r3");
    let g: Vec<_> = (0..4u8).map(|i| bob_send(&mut bob, &[b'g', i])).collect();
    assert_eq!(a.recv(&g[3]), err("TooFarInFuture")); // old gap 1 + N 3 > 3
    assert_eq!(a.recv(&g[2]), ok(b"g\x02")); // keeps e1 (old chain), g0, g1
    assert_eq!(a.mine.o().skipped.len(), 3);
    assert_eq!(a.mine.o().old, vec![header(&e0).1]);
    a.mine.set_limits([1, 1, 1, 1]);
    a.theirs
        .set_limits(xchat_protocol::Limits {
            max_skip: 1,
            max_skipped_keys: 1,
            max_old_chains: 1,
            max_skipped_key_age: 1,
        })
        .unwrap();
    a.same();
    assert_eq!(a.mine.o().skipped.len(), 1);
    assert_eq!(a.mine.o().skipped[0].n, 1);
    assert_eq!(a.recv(&g[1]), ok(b"g\x01"));
    assert_eq!(a.recv(&g[0]), err("DuplicateMessage"));
    assert_eq!(a.recv(&g[3]), ok(b"g\x03"));
    assert_eq!(a.recv(&e0), err("DuplicateMessage")); // e-key still in `old`
}
