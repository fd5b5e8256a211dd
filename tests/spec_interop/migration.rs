//! Migration of older state (tests 7b–7d): version-1 and version-2 session blobs, and the frozen
//! version-2 blobs of `test-vectors/migration/`, load and go on identically in both.

use crate::common::state_codec::{
    self as sc, Legacy, MAX_CLOCK_SKEW, Phase, SessionBlob, StoreBlob, clamp,
};
use crate::parties::{BobPre, Party};
use crate::reference::primitives::{K32, STATE_VERSION, V1, V2, unclamped};
use crate::reference::wire::Ident;
use crate::support::{Twin, contains, load_session_both, om, sm};
use crate::world::{CTX, recv, send, setup};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use std::collections::BTreeMap;
use xchat_protocol::IdentityKeyPair;

/// Test 7b: a version-1 session blob (§10.3, read only) migrates identically in both
/// implementations: `DHs` clamped (§10.0), each purge deadline `D` turned into
/// `skipped_at = D − 2 · MAX_CLOCK_SKEW` (saturating; `2^64 − 1` stays); the result is the
/// version-3 blob, a fixed point from then on, and the session keeps working — also on a
/// sending chain whose secret was stored unclamped.
#[test]
fn session_v1_migration_agrees() {
    let (mut w, _) = setup(32, false, false, true, CTX);
    let b: Vec<_> = (0..3u8).map(|i| send(&mut w, false, &[i])).collect();
    recv(&mut w, true, &b[2], Ok(&[2]));
    let r = send(&mut w, true, b"r");
    recv(&mut w, false, &r, Ok(b"r"));
    let c: Vec<_> = (0..3u8).map(|i| send(&mut w, false, &[i])).collect();
    recv(&mut w, true, &c[2], Ok(&[2]));
    let base = w.alice.view();
    assert_eq!(base.o().skipped.len(), 4);
    assert!(base.o().send.is_none());
    let skew2 = 2 * MAX_CLOCK_SKEW;
    let deadline_sets: [[u64; 4]; 3] = [
        [u64::MAX, 0, skew2 - 1, skew2],
        [skew2 + 1, 1_700_000_000_000, u64::MAX - 1, u64::MAX],
        [u64::MAX - skew2, u64::MAX - skew2 - 1, 1, u64::MAX],
    ];
    for (i, deadlines) in deadline_sets.iter().enumerate() {
        for variant in 0..3u8 {
            let mut v1 = base.clone();
            for (e, d) in om(&mut v1).skipped.iter_mut().zip(deadlines) {
                e.skipped_at = *d;
            }
            // The old `DHs` a version-1 library kept while sending was pending, as drawn.
            let legacy = Legacy {
                pending_dhs: unclamped(&clamp([0x66; 32]), variant),
                opening_dhr: [0; 32],
            };
            let blob = v1.encode_v1(&legacy);
            assert_eq!(blob[1], V1);
            // What SPEC.md says the migration gives.
            let mut expected = base.clone();
            for (e, d) in om(&mut expected).skipped.iter_mut().zip(deadlines) {
                e.skipped_at = if *d == u64::MAX {
                    u64::MAX
                } else {
                    d.saturating_sub(skew2)
                };
            }
            let expected = expected.to_state();
            let (mine, theirs) = load_session_both(&blob);
            assert_eq!(mine, Ok(expected.clone()), "set {i} variant {variant}");
            assert_eq!(theirs, Ok(expected.clone()), "set {i} variant {variant}");
            assert!(!contains(&expected, &clamp(legacy.pending_dhs)));
            // Re-saved as version 3, it is a fixed point in both.
            assert_eq!(
                load_session_both(&expected),
                (Ok(expected.clone()), Ok(expected.clone()))
            );
        }
    }
    // The migrated session keeps the conversation going in both, byte for byte.
    let mut twin = Twin::load(&base.encode_v1(&Legacy::default()));
    let mut rng = ChaCha20Rng::from_seed([33; 32]);
    let reply = twin.send(&mut rng, b"after migration");
    recv(&mut w, false, &reply, Ok(b"after migration"));
    assert_eq!(twin.recv(&c[0]).unwrap(), [0]);
    assert_eq!(twin.recv(&b[0]).unwrap(), [0]);
    assert_eq!(twin.recv(&b[0]).unwrap_err(), "DuplicateMessage");
    // A sending chain stored with an unclamped secret: the same key once clamped, so the next
    // receiving step (a DH with it) works in both.
    let with_send = twin.mine.clone();
    let mut v1 = with_send.clone();
    let secret = with_send.sending().unwrap().dhs.secret;
    sm(&mut v1).dhs.secret = unclamped(&secret, 2);
    let mut twin = Twin::load(&v1.encode_v1(&Legacy::default()));
    assert_eq!(twin.mine, with_send);
    let d0 = send(&mut w, false, b"d0");
    assert_eq!(twin.recv(&d0).unwrap(), b"d0");
}

/// The body of a content frame (§8.2) carried as a raw plaintext.
fn frame_body(pt: &[u8]) -> &[u8] {
    let len = u32::from_be_bytes(pt[19..23].try_into().unwrap()) as usize;
    &pt[23..23 + len]
}

/// Test 7c: version-2 session blobs (§10.3, read only) migrate identically in both
/// implementations, whichever phase they are in: an unacknowledged initiator loses its `DHr`
/// (the signed prekey), a responder whose sending side was pending loses the signed prekey's
/// secret; the conversation then goes on, in both, byte for byte.
#[test]
fn session_v2_migration_agrees() {
    let (mut w, a2) = setup(34, false, false, true, CTX);
    let BobPre::Mine(bob_store) = &w.bob_pre else {
        panic!("independent Bob expected")
    };
    let spk = bob_store.store.signed[0].key;
    // Bob right after `respond`: what a version-2 library wrote kept `DHs` = SPK_B.
    let bob = w.bob.view();
    assert!(bob.o().send.is_none());
    let legacy = Legacy {
        pending_dhs: spk.secret,
        opening_dhr: [0; 32],
    };
    let v2 = bob.encode_v2(&legacy);
    assert!(contains(&v2, &spk.secret));
    let mut bob_twin = Twin::load(&v2);
    assert_eq!(bob_twin.mine, bob);
    assert!(!contains(&bob_twin.theirs.to_bytes().unwrap(), &spk.secret));
    let mut rng = ChaCha20Rng::from_seed([35; 32]);
    let reply = bob_twin.send(&mut rng, b"reply");
    recv(&mut w, true, &reply, Ok(b"reply"));
    assert_eq!(bob_twin.recv(&a2).unwrap(), b"a\x02");

    // Alice in the opening phase, as version 2 wrote it (with `DHr` = SPK_B).
    let (w2, a2) = setup(36, false, false, false, CTX);
    let alice = w2.alice.view();
    assert_eq!(alice.phase, Phase::AwaitingReply);
    let legacy = Legacy {
        pending_dhs: [0; 32],
        opening_dhr: current_spk_public(&w2.bob_pre),
    };
    let v2 = alice.encode_v2(&legacy);
    let mut alice_twin = Twin::load(&v2);
    assert!(!contains(
        &alice_twin.theirs.to_bytes().unwrap(),
        &legacy.opening_dhr
    ));
    let mut rng = ChaCha20Rng::from_seed([37; 32]);
    let a3 = alice_twin.send(&mut rng, b"a3");
    let mut bob = match w2.bob {
        Party::Mine(b, _) => *b,
        Party::Crate(_) => panic!("independent Bob expected"),
    };
    assert_eq!(bob.decrypt(&a3).unwrap(), b"a3");
    assert_eq!(bob.decrypt(&a2).unwrap(), b"a\x02");
    let b0 = bob.encrypt_logged(&mut rng, b"b0").unwrap().0;
    assert_eq!(alice_twin.recv(&b0).unwrap(), b"b0");
    assert_eq!(alice_twin.mine.phase, Phase::Acknowledged);
}

fn current_spk_public(bob: &BobPre) -> K32 {
    let blob = bob.store_state();
    let (_, s) = StoreBlob::decode(&blob).unwrap();
    s.signed.last().unwrap().key.public
}

fn load_json(path: &str) -> serde_json::Value {
    let path = format!("{}/test-vectors/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn hex_field(v: &serde_json::Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("{key}"))).unwrap()
}

/// Test 7d: the frozen blobs of `test-vectors/migration/` (written by the version-2 library)
/// load in both implementations to the same version-3 bytes, without the secrets and keys
/// version 3 no longer keeps, and the messages in flight when they were saved still arrive.
#[test]
fn frozen_version_2_blobs_migrate() {
    let v = load_json("migration/state_v2.json");
    let seed = |k: &str| -> K32 { hex_field(&v, k).try_into().unwrap() };
    let (alice_seed, bob_seed) = (seed("alice_identity_seed"), seed("bob_identity_seed"));
    let ctx = hex_field(&v, "context");
    let mut rng = ChaCha20Rng::from_seed([38; 32]);
    let mut scenarios = 0;
    for sc_v in v["scenarios"].as_array().unwrap() {
        let name = sc_v["name"].as_str().unwrap();
        let mut alice = sc_v
            .get("alice")
            .map(|_| Twin::load(&hex_field(sc_v, "alice")));
        let mut bob = sc_v.get("bob").map(|_| Twin::load(&hex_field(sc_v, "bob")));
        let mut stores = sc_v
            .get("bob_store")
            .map(|_| BobPre::both(&bob_seed, &hex_field(sc_v, "bob_store")));
        for t in alice.iter().chain(&bob) {
            let old = hex_field(
                sc_v,
                if t.mine.local == Ident::new(alice_seed).ik {
                    "alice"
                } else {
                    "bob"
                },
            );
            assert_eq!(old[1], V2, "{name}");
            let (_, parsed) = SessionBlob::decode(&old).unwrap();
            assert_eq!(parsed, t.mine.0, "{name}");
        }
        if let Some(a) = &alice
            && a.mine.phase == Phase::AwaitingReply
        {
            // Its `DHr`, the signed prekey, is dropped (§10.3).
            let store = hex_field(sc_v, "bob_store");
            let spk = StoreBlob::decode(&store)
                .unwrap()
                .1
                .signed
                .last()
                .unwrap()
                .key
                .public;
            assert!(contains(&hex_field(sc_v, "alice"), &spk), "{name}");
            assert!(!contains(&a.theirs.to_bytes().unwrap(), &spk), "{name}");
        }
        if let Some(secret) = sc_v.get("signed_prekey_secret") {
            // The responder's pending side: the signed prekey's secret is in the version-2 blob
            // and not in the migrated one.
            let secret = hex::decode(secret.as_str().unwrap()).unwrap();
            assert!(contains(&hex_field(sc_v, "bob"), &secret), "{name}");
            let b = bob.as_ref().unwrap();
            assert!(b.mine.o().send.is_none(), "{name}");
            assert!(!contains(&b.theirs.to_bytes().unwrap(), &secret), "{name}");
            assert!(!contains(&b.mine.to_state(), &secret), "{name}");
        }
        if let Some(stores) = &stores {
            assert_eq!(stores[0].store_state(), stores[1].store_state(), "{name}");
        }
        for m in sc_v["in_flight"].as_array().into_iter().flatten() {
            let wire = hex_field(m, "wire");
            let body = m["body"].as_str().unwrap().as_bytes();
            let to = if m["to"] == "bob" {
                &mut bob
            } else {
                &mut alice
            };
            let pt = match (to.as_mut(), stores.as_mut()) {
                (Some(t), _) => t.recv(&wire).unwrap(),
                (None, Some([mine, theirs])) => {
                    let (s1, p1) = mine.respond(&wire, &ctx).unwrap();
                    let (s2, p2) = theirs.respond(&wire, &ctx).unwrap();
                    assert_eq!((s1.state(), &p1), (s2.state(), &p2), "{name}");
                    assert_eq!(mine.store_state(), theirs.store_state(), "{name}");
                    *to = Some(Twin::load(&s2.state()));
                    p1
                }
                (None, None) => panic!("{name}: no recipient"),
            };
            assert_eq!(frame_body(&pt), body, "{name}");
        }
        // Each side that can answer does, and the other reads it.
        if let (Some(a), Some(b)) = (alice.as_mut(), bob.as_mut()) {
            let m = b.send(&mut rng, b"from bob after migration");
            assert_eq!(a.recv(&m).unwrap(), b"from bob after migration", "{name}");
            let m = a.send(&mut rng, b"from alice after migration");
            assert_eq!(b.recv(&m).unwrap(), b"from alice after migration", "{name}");
        }
        if let Some(replay) = sc_v.get("replay") {
            let replay = hex::decode(replay.as_str().unwrap()).unwrap();
            let context = hex_field(sc_v, "replay_context");
            for s in stores.as_mut().unwrap() {
                assert_eq!(
                    s.respond(&replay, &context).err().unwrap(),
                    "DuplicateMessage",
                    "{name}"
                );
            }
        }
        scenarios += 1;
    }
    assert_eq!(scenarios, 4);

    // The frozen copy of state.json's version-2 vectors: every blob loads in both to the same
    // bytes; a pending sending side's `DHs` secret and an opening initiator's `DHr` are gone.
    let v = load_json("migration/state_v2_vectors.json");
    let bob_seed: K32 = hex_field(&v, "bob_identity_seed").try_into().unwrap();
    let mut seen = BTreeMap::new();
    for e in v["entries"].as_array().unwrap() {
        let (name, object, blob) = (
            e["name"].as_str().unwrap(),
            e["object"].as_str().unwrap(),
            hex_field(e, "bytes"),
        );
        let f = &e["fields"];
        *seen.entry(object).or_insert(0) += 1;
        match object {
            "session" | "session_v1" => {
                let t = Twin::load(&blob);
                let resaved = t.theirs.to_bytes().unwrap().to_vec();
                assert_eq!(resaved[1], STATE_VERSION, "{name}");
                if object == "session" {
                    let dhs = hex_field(f, "dhs_secret");
                    assert!(contains(&blob, &dhs), "{name}");
                    assert_eq!(
                        contains(&resaved, &dhs),
                        !f["send"].is_null(),
                        "{name}: DHs"
                    );
                    let opening =
                        f["role"] == "initiator" && f["acknowledged"].as_bool() == Some(false);
                    assert_eq!(opening, t.mine.phase == Phase::AwaitingReply, "{name}");
                    assert_eq!(
                        contains(&resaved, &hex_field(f, "dhr")),
                        !opening,
                        "{name}: DHr"
                    );
                }
            }
            "prekey_store" | "prekey_store_v1" => {
                let [mine, theirs] = BobPre::both(&bob_seed, &blob);
                assert_eq!(mine.store_state(), theirs.store_state(), "{name}");
                assert_eq!(mine.store_state()[1], STATE_VERSION, "{name}");
            }
            "identity" => {
                let seed = sc::decode_identity(&blob).unwrap();
                assert_eq!(*IdentityKeyPair::from_bytes(&blob).unwrap().seed(), seed);
            }
            other => panic!("{name}: {other}"),
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
}
