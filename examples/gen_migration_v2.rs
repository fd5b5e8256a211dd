//! Writes `test-vectors/migration/state_v2.json`: session and prekey-store blobs in state format
//! version 2 (sessions and stores as written by 0.1.0), with the messages in flight at the moment
//! they were saved. `tests/migration.rs` restores them with the current code and checks that every
//! conversation carries on. The file is frozen: it is the output of this program at the commit
//! that added it, and later versions of the library only read it.
//!
//! ```text
//! cargo run --example gen_migration_v2
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use serde_json::{Value, json};
use xchat_protocol::{IdentityKeyPair, Limits, PreKeyStore, Session, TimerStart};

const T0: u64 = 1_767_225_600_000; // 2026-01-01, in ms
const CONTEXT: &[u8] = b"alice|bob";

fn h(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn msg(from: &str, to: &str, wire: &[u8], body: &str, now: u64) -> Value {
    json!({ "from": from, "to": to, "wire": h(wire), "body": body, "deliver_at_ms": now })
}

fn main() -> std::io::Result<()> {
    let mut rng = ChaCha20Rng::from_seed([0x32; 32]);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let carol = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, T0 / 1000);
    store.generate_one_time_prekeys(&mut rng, 3).unwrap();
    let mut scenarios = Vec::new();

    // A. The initiator has sent two prekey messages and heard nothing back.
    let bundle = store.bundle(&bob, Some(1)).unwrap();
    let mut to_bob = Session::initiate(&mut rng, &alice, &bundle, CONTEXT).unwrap();
    let a1 = to_bob.send(&mut rng, T0, b"first").unwrap();
    let a2 = to_bob.send(&mut rng, T0 + 1, b"second").unwrap();
    scenarios.push(json!({
        "name": "initiator_awaiting_reply",
        "description": "Alice after two sends, no reply yet; Bob's store before the first message",
        "alice": h(&to_bob.to_bytes()),
        "bob_store": h(&store.to_bytes()),
        "in_flight": [msg("alice", "bob", &a1, "first", T0 + 10), msg("alice", "bob", &a2, "second", T0 + 11)],
    }));

    // B. The responder has accepted the first message and not yet answered: in version 2 its
    // session blob still holds the signed prekey's secret as the old ratchet key.
    let (mut to_alice, got) = Session::accept(&bob, &mut store, &a1, CONTEXT, T0 + 10).unwrap();
    assert_eq!(got.body, b"first");
    let spk_secret = store_signed_prekey_secret(&store.to_bytes());
    scenarios.push(json!({
        "name": "responder_turn_pending",
        "description": "Bob right after accept(first): half-step deferred, the signed prekey's secret in the blob",
        "alice": h(&to_bob.to_bytes()),
        "bob": h(&to_alice.to_bytes()),
        "bob_store": h(&store.to_bytes()),
        "signed_prekey_secret": h(&spk_secret),
        "in_flight": [msg("alice", "bob", &a2, "second", T0 + 11)],
    }));

    // C. An established conversation with a timer, non-default limits, an old chain and skipped
    // keys on both sides whose messages arrive only after the upgrade.
    to_alice.receive(&a2, T0 + 11).unwrap();
    let b1 = to_alice.send(&mut rng, T0 + 20, b"reply one").unwrap();
    let b2 = to_alice.send(&mut rng, T0 + 21, b"reply two").unwrap();
    let b3 = to_alice.send(&mut rng, T0 + 22, b"reply three").unwrap();
    to_bob.receive(&b1, T0 + 30).unwrap();
    to_bob.receive(&b3, T0 + 31).unwrap();
    let timer = to_bob
        .set_timer(&mut rng, T0 + 40, 600, TimerStart::OnRead)
        .unwrap();
    let c1 = to_bob
        .send(&mut rng, T0 + 41, b"under the timer 1")
        .unwrap();
    let c2 = to_bob
        .send(&mut rng, T0 + 42, b"under the timer 2")
        .unwrap();
    let c3 = to_bob
        .send(&mut rng, T0 + 43, b"under the timer 3")
        .unwrap();
    let c4 = to_bob
        .send(&mut rng, T0 + 44, b"under the timer 4")
        .unwrap();
    to_alice
        .set_limits(Limits {
            max_skip: 100,
            max_skipped_keys: 200,
            max_old_chains: 3,
            max_skipped_key_age: 500,
        })
        .unwrap();
    to_alice.receive(&timer, T0 + 50).unwrap();
    to_alice.receive(&c1, T0 + 51).unwrap();
    to_alice.receive(&c4, T0 + 52).unwrap();
    let b4 = to_alice.send(&mut rng, T0 + 60, b"new turn").unwrap();
    to_bob.receive(&b4, T0 + 70).unwrap();
    let c5 = to_bob.send(&mut rng, T0 + 80, b"after the turn").unwrap();
    to_alice.receive(&c5, T0 + 90).unwrap();
    scenarios.push(json!({
        "name": "established_out_of_order",
        "description": "both sides after several turns: a 600 s on-read timer, limits (100, 200, 3, 500) on Bob, skipped keys in old and current chains",
        "alice": h(&to_bob.to_bytes()),
        "bob": h(&to_alice.to_bytes()),
        "in_flight": [
            msg("bob", "alice", &b2, "reply two", T0 + 100),
            msg("alice", "bob", &c2, "under the timer 2", T0 + 101),
            msg("alice", "bob", &c3, "under the timer 3", T0 + 102),
        ],
    }));

    // D. A first message without a one-time prekey: the store's record of it must survive the
    // upgrade, so its replay stays refused.
    let bundle = store.bundle(&bob, None).unwrap();
    let mut carol_to_bob = Session::initiate(&mut rng, &carol, &bundle, b"carol|bob").unwrap();
    let d1 = carol_to_bob
        .send(&mut rng, T0 + 200, b"hello from carol")
        .unwrap();
    let (_bob_to_carol, got) =
        Session::accept(&bob, &mut store, &d1, b"carol|bob", T0 + 210).unwrap();
    assert_eq!(got.body, b"hello from carol");
    scenarios.push(json!({
        "name": "store_remembers_first_message",
        "description": "Bob's store after accepting Carol's first message sent without a one-time prekey (context carol|bob); replaying it must fail",
        "bob_store": h(&store.to_bytes()),
        "replay": h(&d1),
        "replay_context": h(b"carol|bob"),
    }));

    let file = json!({
        "file": "migration/state_v2.json",
        "description": "Frozen blobs of state format version 2 (SPEC.md §8) written by xchat-protocol 0.1.0, with the messages in flight when they were saved.",
        "generator": "cargo run --example gen_migration_v2, at the commit that added this file",
        "rng_seed": h(&[0x32; 32]),
        "context": h(CONTEXT),
        "t0_ms": T0,
        "alice_identity_seed": h(alice.seed().as_slice()),
        "bob_identity_seed": h(bob.seed().as_slice()),
        "carol_identity_seed": h(carol.seed().as_slice()),
        "scenarios": scenarios,
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors/migration");
    std::fs::create_dir_all(&dir)?;
    let text = serde_json::to_string_pretty(&file)? + "\n";
    std::fs::write(dir.join("state_v2.json"), text)
}

/// The secret of the store's only signed prekey, read from its version 2 blob (SPEC.md §8.2:
/// kind, version, next ids, count, then id ‖ created_at ‖ secret).
fn store_signed_prekey_secret(blob: &[u8]) -> [u8; 32] {
    assert_eq!(blob[10], 1, "one signed prekey");
    let at = 2 + 4 + 4 + 1 + 4 + 8;
    blob[at..at + 32].try_into().unwrap()
}
