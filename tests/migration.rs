//! Upgrades lose nothing: blobs written by the previous version of the library (state format 2,
//! frozen in `test-vectors/migration/`) restore with this one, and every conversation they were
//! part of carries on — messages that were in flight when the blobs were saved decrypt after the
//! upgrade, both sides keep talking, and a replayed first message stays refused (SPEC.md §10.0,
//! §10.2, §10.3).
//!
//! The blobs are real output of the old code (`examples/gen_migration_v2.rs` at commit b196134),
//! not re-encodings by a test codec.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::Value;
use xchat_protocol::Config;
use xchat_protocol::state::{KIND_PREKEY_STORE, KIND_SESSION};
use xchat_protocol::{Error, IdentityKeyPair, Limits, PreKeyStore, Session, Timer, TimerStart};

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test-vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn identity(v: &Value) -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&h(v).try_into().unwrap())
}

fn scenario<'a>(file: &'a Value, name: &str) -> &'a Value {
    file["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
}

/// Restores a version 2 session blob and checks that it re-saves as version 3 (the version an
/// X3DH session is written in), a fixed point.
fn restore_session(v: &Value) -> Session {
    let old = h(v);
    assert_eq!((old[0], old[1]), (KIND_SESSION, 2), "a version 2 blob");
    let session = Session::from_bytes(&old).unwrap();
    let new = session.to_bytes().unwrap();
    assert_eq!((new[0], new[1]), (KIND_SESSION, 3));
    let again = Session::from_bytes(&new).unwrap().to_bytes().unwrap();
    assert_eq!(*again, *new, "the migrated blob is a fixed point");
    session
}

fn restore_store(v: &Value) -> PreKeyStore {
    let old = h(v);
    assert_eq!((old[0], old[1]), (KIND_PREKEY_STORE, 2), "a version 2 blob");
    let store = PreKeyStore::from_bytes(&old).unwrap();
    let new = store.to_bytes().unwrap();
    assert_eq!((new[0], new[1]), (KIND_PREKEY_STORE, 3));
    let again = PreKeyStore::from_bytes(&new).unwrap().to_bytes().unwrap();
    assert_eq!(*again, *new, "the migrated blob is a fixed point");
    store
}

/// The in-flight messages addressed to `to`, as (wire, body, delivery time).
fn in_flight(s: &Value, to: &str) -> Vec<(Vec<u8>, Vec<u8>, u64)> {
    s["in_flight"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["to"] == to)
        .map(|m| {
            let body = m["body"].as_str().unwrap().as_bytes().to_vec();
            (h(&m["wire"]), body, m["deliver_at_ms"].as_u64().unwrap())
        })
        .collect()
}

/// A few turns in both directions, each message checked, and the sessions saved and restored
/// between turns (as a messenger does).
fn keep_talking(rng: &mut ChaCha20Rng, alice: &mut Session, bob: &mut Session, now: u64) {
    for turn in 0..3u64 {
        let t = now + turn * 1_000;
        let to_bob = alice
            .send(rng, t, b"after the upgrade, from alice")
            .unwrap();
        *bob = Session::from_bytes(&bob.to_bytes().unwrap()).unwrap();
        assert_eq!(
            bob.receive(&to_bob, t + 1)
                .unwrap()
                .into_message()
                .unwrap()
                .body,
            b"after the upgrade, from alice"
        );
        let to_alice = bob
            .send(rng, t + 2, b"after the upgrade, from bob")
            .unwrap();
        *alice = Session::from_bytes(&alice.to_bytes().unwrap()).unwrap();
        assert_eq!(
            alice
                .receive(&to_alice, t + 3)
                .unwrap()
                .into_message()
                .unwrap()
                .body,
            b"after the upgrade, from bob"
        );
    }
    assert!(alice.is_acknowledged() && bob.is_acknowledged());
}

#[test]
fn an_initiator_awaiting_its_reply_carries_on_after_the_upgrade() {
    let file = load("migration/state_v2.json");
    let s = scenario(&file, "initiator_awaiting_reply");
    let context = h(&file["context"]);
    let bob_id = identity(&file["bob_identity_seed"]);
    let mut alice = restore_session(&s["alice"]);
    let mut store = restore_store(&s["bob_store"]);
    assert!(!alice.is_acknowledged());
    assert_eq!(store.one_time_prekey_count(), 3);

    let messages = in_flight(s, "bob");
    let (wire, body, at) = &messages[0];
    let (mut bob, first) = Session::accept(
        &bob_id,
        &mut store,
        wire,
        &Config::new(&context).allow_classical(),
        *at,
    )
    .unwrap();
    assert_eq!(&first.body, body);
    assert_eq!(
        store.one_time_prekey_count(),
        2,
        "the one-time prekey is consumed"
    );
    let (wire, body, at) = &messages[1];
    assert_eq!(
        &bob.receive(wire, *at).unwrap().into_message().unwrap().body,
        body
    );

    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    keep_talking(
        &mut rng,
        &mut alice,
        &mut bob,
        file["t0_ms"].as_u64().unwrap() + 1_000,
    );
}

#[test]
fn a_pending_responder_migrates_without_the_signed_prekey_secret() {
    let file = load("migration/state_v2.json");
    let s = scenario(&file, "responder_turn_pending");
    let spk_secret = h(&s["signed_prekey_secret"]);
    let old_bob = h(&s["bob"]);
    // The frozen blob exercises the case: version 2 kept the signed prekey's secret.
    assert!(old_bob.windows(32).any(|w| w == spk_secret.as_slice()));

    let mut bob = restore_session(&s["bob"]);
    let new_bob = bob.to_bytes().unwrap();
    assert!(
        !new_bob.windows(32).any(|w| w == spk_secret.as_slice()),
        "the migrated session blob holds no copy of the signed prekey's secret"
    );
    // The store still holds the signed prekey: prekey messages of other sessions need it.
    let store = restore_store(&s["bob_store"]);
    assert!(
        store
            .to_bytes()
            .unwrap()
            .windows(32)
            .any(|w| w == spk_secret.as_slice())
    );

    let mut alice = restore_session(&s["alice"]);
    for (wire, body, at) in in_flight(s, "bob") {
        assert_eq!(
            bob.receive(&wire, at).unwrap().into_message().unwrap().body,
            body
        );
    }
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    keep_talking(
        &mut rng,
        &mut alice,
        &mut bob,
        file["t0_ms"].as_u64().unwrap() + 1_000,
    );
}

#[test]
fn an_established_conversation_keeps_its_timer_limits_and_skipped_keys() {
    let file = load("migration/state_v2.json");
    let s = scenario(&file, "established_out_of_order");
    let mut alice = restore_session(&s["alice"]);
    let mut bob = restore_session(&s["bob"]);
    let timer = Timer {
        duration_s: 600,
        start: TimerStart::OnRead,
        version: 1,
    };
    assert_eq!((alice.timer(), bob.timer()), (timer, timer));
    assert_eq!(
        bob.limits(),
        Limits {
            max_skip: 100,
            max_skipped_keys: 200,
            max_old_chains: 3,
            max_skipped_key_age: 500,
        }
    );
    assert_eq!(alice.skipped_key_count(), 1, "reply two, in an old chain");
    assert_eq!(bob.skipped_key_count(), 2, "timer messages 2 and 3");

    for (who, session) in [("alice", &mut alice), ("bob", &mut bob)] {
        for (wire, body, at) in in_flight(s, who) {
            let got = session.receive(&wire, at).unwrap().into_message().unwrap();
            assert_eq!(got.body, body, "{who}");
            // Stored skipped keys kept their skip times: the message is judged under the timer.
            assert!(!got.timer_changed);
        }
        assert_eq!(session.skipped_key_count(), 0);
    }
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    keep_talking(
        &mut rng,
        &mut alice,
        &mut bob,
        file["t0_ms"].as_u64().unwrap() + 1_000,
    );
}

#[test]
fn a_first_message_accepted_before_the_upgrade_stays_refused() {
    let file = load("migration/state_v2.json");
    let s = scenario(&file, "store_remembers_first_message");
    let bob_id = identity(&file["bob_identity_seed"]);
    let mut store = restore_store(&s["bob_store"]);
    let before = store.to_bytes().unwrap();
    let now = file["t0_ms"].as_u64().unwrap() + 300;
    let got = Session::accept(
        &bob_id,
        &mut store,
        &h(&s["replay"]),
        &Config::new(&h(&s["replay_context"])).allow_classical(),
        now,
    );
    assert!(matches!(got, Err(Error::DuplicateMessage)), "{got:?}");
    assert_eq!(
        *store.to_bytes().unwrap(),
        *before,
        "the refusal changed nothing"
    );
}

/// The version 2 entries of the published state vectors (frozen when version 3 came) migrate to
/// exactly the version 3 entries of the same name: the generator draws the same keys, so every
/// byte a migration writes is pinned down.
#[test]
fn version_2_vectors_migrate_to_the_version_3_vectors() {
    let old = load("migration/state_v2_vectors.json");
    let new = load("state.json");
    let mut checked = 0;
    for e in old["entries"].as_array().unwrap() {
        let Some(current) = new["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == e["name"])
        else {
            continue;
        };
        let bytes = h(&e["bytes"]);
        let migrated = match e["object"].as_str().unwrap() {
            "session" => Session::from_bytes(&bytes).unwrap().to_bytes().unwrap(),
            "prekey_store" => PreKeyStore::from_bytes(&bytes).unwrap().to_bytes().unwrap(),
            _ => continue,
        };
        assert_eq!(bytes[1], 2, "{}", e["name"]);
        assert_eq!(
            hex::encode(&*migrated),
            current["bytes"].as_str().unwrap(),
            "{}",
            e["name"]
        );
        checked += 1;
    }
    assert!(checked >= 10, "{checked} entries");
}
