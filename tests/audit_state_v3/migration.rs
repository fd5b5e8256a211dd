//! Migration of versions 1 and 2: the real blobs of `test-vectors/migration/` migrate to
//! fixed points losing only dead secrets, and their messages in flight open exactly once.

use xchat_protocol::Config;
use xchat_protocol::state::StorageKey;
use xchat_protocol::{Error, IdentityKeyPair, PreKeyStore, Session};

use crate::common;
use crate::common::state_codec::{self as codec, K32, SessionBlob, StoreBlob};
use crate::support::{NOW, assert_fixed_point, contains, pbytes, sbytes, session_secrets};

fn load_json(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test-vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hexv(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// SPEC.md §10.3, SECURITY.md 13a/13b, over every real version-2 (and the version-1) session blob
/// of `test-vectors/migration/`: reading gives a version-3 fixed point; every secret of the
/// migrated blob was in the old one (nothing invented); the only secret dropped is the old
/// ratchet secret of a pending sending side (no chain key, root key or skipped key is lost); no
/// migrated blob holds a signed prekey's secret; and a pending side stays pending (no secret).
#[test]
fn held_real_legacy_blobs_migrate_to_fixed_points_losing_only_dead_secrets() {
    let mut blobs = Vec::new();
    let mut spk_secrets: Vec<K32> = Vec::new();
    let file = load_json("migration/state_v2.json");
    for s in file["scenarios"].as_array().unwrap() {
        for who in ["alice", "bob"] {
            if s.get(who).is_some() {
                blobs.push(hexv(&s[who]));
            }
        }
        if let Some(k) = s.get("signed_prekey_secret") {
            spk_secrets.push(hexv(k).try_into().unwrap());
        }
        if let Some(store) = s.get("bob_store") {
            let (_, st) = StoreBlob::decode(&hexv(store)).unwrap();
            spk_secrets.extend(st.signed.iter().map(|k| k.key.secret));
        }
    }
    let vectors = load_json("migration/state_v2_vectors.json");
    for e in vectors["entries"].as_array().unwrap() {
        let bytes = hexv(&e["bytes"]);
        match e["object"].as_str().unwrap() {
            "session" | "session_v1" => blobs.push(bytes),
            "prekey_store" | "prekey_store_v1" => {
                let (_, st) = StoreBlob::decode(&bytes).unwrap();
                spk_secrets.extend(st.signed.iter().map(|k| k.key.secret));
            }
            _ => {}
        }
    }
    assert!(blobs.len() >= 12 && !spk_secrets.is_empty());
    let mut dropped_pending = 0;
    for (i, old) in blobs.iter().enumerate() {
        assert!(old[1] < 3, "blob {i} is a legacy blob");
        let s = Session::from_bytes(old).unwrap();
        let new = sbytes(&s);
        assert_eq!(new[1], 3);
        assert_fixed_point(&new, &format!("blob {i}"));
        let (old_secrets, legacy_dhs) = session_secrets(old);
        let (new_secrets, _) = session_secrets(&new);
        let legacy_dhs = legacy_dhs.unwrap();
        for k in &new_secrets {
            let was = old_secrets.contains(k) || *k == codec::clamp(legacy_dhs);
            assert!(
                was,
                "blob {i}: the migrated blob holds a secret the old one did not"
            );
        }
        for k in &old_secrets {
            assert!(contains(&new, k), "blob {i}: a live secret was lost");
        }
        let (_, parsed) = SessionBlob::decode(&new).unwrap();
        if parsed.sending().is_none() {
            assert!(
                !contains(&new, &legacy_dhs),
                "blob {i}: dead ratchet secret kept"
            );
            assert!(!contains(&new, &codec::clamp(legacy_dhs)));
            dropped_pending += 1;
        }
        for k in &spk_secrets {
            assert!(!contains(&new, k), "blob {i}: a signed prekey's secret");
        }
    }
    assert!(dropped_pending >= 2, "{dropped_pending}");
}

/// The frozen conversations after the upgrade: every message in flight when the old blobs were
/// saved opens exactly once — also across a save and load between the two attempts, and through
/// sealing at rest — and a replayed first message stays refused by the migrated store.
#[test]
fn held_messages_in_flight_across_the_upgrade_open_exactly_once() {
    let file = load_json("migration/state_v2.json");
    let key = StorageKey::from_bytes([7; 32]);
    let mut rng = common::rng(46);
    let mut total = 0;
    for s in file["scenarios"].as_array().unwrap() {
        if let Some(flight) = s.get("in_flight") {
            for m in flight.as_array().unwrap() {
                let to = m["to"].as_str().unwrap();
                let Some(blob) = s.get(to) else { continue };
                let mut session = Session::from_bytes(&hexv(blob)).unwrap();
                let wire = hexv(&m["wire"]);
                let at = m["deliver_at_ms"].as_u64().unwrap();
                let body = session
                    .receive(&wire, at)
                    .unwrap()
                    .into_message()
                    .unwrap()
                    .body;
                assert_eq!(body, m["body"].as_str().unwrap().as_bytes());
                let saved = session.to_sealed_bytes(&mut rng, &key).unwrap();
                let mut again = Session::from_sealed_bytes(&saved, &key).unwrap();
                let before = sbytes(&again);
                assert!(again.receive(&wire, at).is_err(), "a second opening");
                assert!(again.decrypt(&wire).is_err(), "a second opening");
                assert_eq!(sbytes(&again), before);
                total += 1;
            }
        }
        if let Some(replay) = s.get("replay") {
            let bob =
                IdentityKeyPair::from_seed(&hexv(&file["bob_identity_seed"]).try_into().unwrap());
            let ctx = hexv(&s["replay_context"]);
            let store = PreKeyStore::from_bytes(&hexv(&s["bob_store"])).unwrap();
            let mut store = PreKeyStore::from_bytes(&pbytes(&store.clone())).unwrap();
            let before = pbytes(&store);
            let r = Session::respond(
                &bob,
                &mut store,
                &hexv(replay),
                &Config::new(&ctx).allow_classical(),
            );
            assert_eq!(r.err(), Some(Error::DuplicateMessage));
            let r = Session::accept(
                &bob,
                &mut store,
                &hexv(replay),
                &Config::new(&ctx).allow_classical(),
                NOW,
            );
            assert_eq!(r.err(), Some(Error::DuplicateMessage));
            assert_eq!(pbytes(&store), before);
            total += 1;
        }
    }
    assert!(total >= 5, "{total}");
}
