//! Secrets left behind by PQXDH (SECURITY.md property 12, SPEC.md §10.2–§10.3): the KEM shared
//! secret `SS`, `SK` and the KEM seeds in session blobs, in `Debug` output, and in the store blob
//! once a key is consumed or rotated out; the in-place wiping of removed KEM prekeys; and what a
//! thief of the responder's device can still open.

use xchat_protocol::{IdentityKeyPair, Incoming, KemCiphertext, KemKeyPair, Session};

use crate::common::rng;
use crate::common::state_codec::StoreBlob;
use crate::derive;
use crate::support::{COMBOS, CTX, NOW, first, pq, responder, session_bytes};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// For each key combination: `SS` (computed from the stored seed), `SK` (the independent
/// derivation) and the KEM seed (and its halves `d`, `z`) appear in neither session blob, in no
/// `Debug` output (raw or hex), and the seed of a consumed one-time KEM prekey, or of a
/// last-resort one rotated out, is gone from the store blob.
#[test]
fn held_no_kem_secret_is_in_a_session_blob_a_debug_output_or_a_store_that_dropped_its_key() {
    let mut r = rng(140);
    let mut bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let id_seed = *bob.id.seed();
    for (n, keys) in COMBOS.into_iter().enumerate() {
        let bundle = bob.bundle(keys, n);
        let (mut a, m) = first(&mut r, &alice, &bundle);
        let (_, store) = StoreBlob::decode(&bob.store_bytes()).unwrap();
        let p = derive::parse(&m);
        let (_, _, kem_seed) = derive::kem_seeds(&store)
            .into_iter()
            .find(|(u, id, _)| (*u, *id) == (p.kem_use, p.kem_id))
            .unwrap();
        let pair = KemKeyPair::from_seed(&kem_seed);
        let ss = *pair.decapsulate(&KemCiphertext::from_bytes(p.ct).unwrap());
        let sk = derive::responder_sk(&id_seed, &store, &p, &kem_seed).unwrap();
        assert!(derive::open_with_sk(&sk, &id_seed, &store, &p, CTX).is_some());
        let (mut b, _) = Session::accept(&bob.id, &mut bob.store, &m, &pq(), NOW).unwrap();
        let reply = b.send(&mut r, NOW, b"reply").unwrap();
        a.receive(&reply, NOW).unwrap();
        let secrets: [(&str, &[u8]); 5] = [
            ("SS", &ss),
            ("SK", &sk),
            ("seed", &kem_seed),
            ("d", &kem_seed[..32]),
            ("z", &kem_seed[32..]),
        ];
        let blobs = [session_bytes(&a), session_bytes(&b)];
        let debug = format!(
            "{a:?} {b:?} {:?} {pair:?} {bundle:?} {:?} {:?}",
            bob.store,
            Incoming::decode(&m).unwrap(),
            bob.store.current_kem_prekey(),
        );
        for (what, secret) in secrets {
            for blob in &blobs {
                assert!(
                    !contains(blob, secret),
                    "{keys:?}: {what} in a session blob"
                );
            }
            assert!(
                !debug.contains(&hex::encode(secret)),
                "{keys:?}: {what} in Debug"
            );
            assert!(
                !debug.contains(&format!("{secret:?}")),
                "{keys:?}: {what} in Debug"
            );
        }
        if keys.kem_one_time {
            assert!(
                !contains(&bob.store_bytes(), &kem_seed),
                "a consumed seed is stored"
            );
        }
    }
    let (_, store) = StoreBlob::decode(&bob.store_bytes()).unwrap();
    let first_last_resort = store.kem.unwrap().last_resort[0].seed;
    for t in 1..=3 {
        bob.store.rotate_kem_prekey(&mut r, &bob.id, NOW + t * 1000);
    }
    assert!(!contains(&bob.store_bytes(), &first_last_resort));
}

/// A thief who copies the responder's device (identity seed and store blob) after a first
/// message was accepted, and tries every KEM seed left in the store with the independent
/// responder: a message that used neither one-time key opens (SPEC.md §4.3's documented case),
/// a message that used a one-time X25519 prekey or a one-time KEM prekey does not. So a one-time
/// KEM prekey protects the first message against this theft as a one-time X25519 prekey does,
/// though `Session::used_one_time_prekey()` reports `false` for it (see the report: the API and
/// SECURITY.md property 1b speak of X25519 one-time prekeys only).
#[test]
fn held_a_one_time_kem_prekey_protects_the_first_message_against_a_later_theft() {
    let mut r = rng(141);
    let mut bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let id_seed = *bob.id.seed();
    for (n, keys) in COMBOS.into_iter().enumerate() {
        let (_a, m) = first(&mut r, &alice, &bob.bundle(keys, n));
        let (b, _) = Session::accept(&bob.id, &mut bob.store, &m, &pq(), NOW).unwrap();
        let (_, stolen) = StoreBlob::decode(&bob.store_bytes()).unwrap();
        let opened = derive::thief_opens(&id_seed, &stolen, &m, CTX).is_some();
        assert_eq!(opened, keys.recorded(), "{keys:?}");
        assert_eq!(b.used_one_time_prekey(), keys.opk, "{keys:?}");
    }
}

/// FINDING 2 (low; SECURITY.md property 12 over-claims for the new key type): "a signed prekey
/// rotated out and a one-time prekey consumed or removed are wiped in place before their
/// container moves them out". The X25519 paths do it (`rotate_signed_prekey` calls `wipe()`
/// before `pop_front`, `remove_one_time_prekey` before `BTreeMap::remove`), the KEM paths do not:
/// `rotate_kem_prekey` pops the oldest last-resort key out of its `VecDeque`, and
/// `remove_kem_one_time_prekey` (also reached from `respond`/`accept` when a first message
/// consumes a one-time KEM prekey) removes it from its `BTreeMap`. Both *move* the 64-byte seed
/// (`Zeroizing<[u8; 64]>` is inline in `KemPreKeyPair`) and wipe only the moved copy when it drops;
/// the bytes stay in the container's slot until it is overwritten or freed (unwiped). A memory
/// disclosure after the handshake then yields the decapsulation key of a one-time KEM prekey the
/// store claims to have deleted — exactly the key whose deletion protects the first message above.
///
/// Safe Rust cannot read a container's vacated slot, and the crate forbids `unsafe`, so this test
/// checks the code instead: each of the two functions must wipe the key in place before the
/// container moves it (as the X25519 functions do). Fix: give `KemPreKeyPair` a `wipe()` that
/// overwrites the seed in place (`self.seed.zeroize()`), and call it on `front_mut()` before
/// `pop_front()` and on `get_mut(&id)` before `remove(&id)`; mention the KEM one-time `BTreeMap`
/// beside the X25519 one in property 12's "not covered" list (node splits still move live seeds).
#[test]
fn fixed_kem_prekeys_are_wiped_in_place_before_their_container_moves_them_out() {
    let source = include_str!("../../src/prekeys/store.rs");
    let body = |name: &str| {
        let start = source.find(&format!("pub fn {name}")).unwrap();
        let rest = &source[start..];
        let end = rest.find("\n    }\n").unwrap();
        rest[..end].to_owned()
    };
    // The X25519 functions, as the reference for what the property means.
    assert!(body("rotate_signed_prekey").contains(".wipe()"));
    assert!(body("remove_one_time_prekey").contains(".wipe()"));
    for name in ["rotate_kem_prekey", "remove_kem_one_time_prekey"] {
        let f = body(name);
        let wipe = f.find("wipe").or_else(|| f.find("zeroize"));
        let moves = f.find("pop_front").or_else(|| f.find(".remove("));
        assert!(
            matches!((wipe, moves), (Some(w), Some(m)) if w < m),
            "{name} moves a KEM seed out of its container without wiping it in place"
        );
    }
}
