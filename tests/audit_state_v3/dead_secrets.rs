//! Secrets that outlive their last use: every blob of a conversation through every public
//! call, watched for secrets that come back or never leave.

use std::collections::HashSet;

use xchat_protocol::sealed_sender::seal_to;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{IdentityKeyPair, Limits, PreKeyStore, SealedRecipient, Session, TimerStart};

use crate::common;
use crate::common::state_codec::{K32, SessionBlob, StoreBlob};
use crate::support::{NOW, certificate_for, contains, pbytes, sbytes, session_secrets};

/// Every 32-byte secret of a prekey store blob: signed prekey and one-time prekey secrets.
fn store_secrets(blob: &[u8]) -> Vec<K32> {
    let (_, s) = StoreBlob::decode(blob).unwrap();
    let mut out: Vec<K32> = s.signed.iter().map(|k| k.key.secret).collect();
    out.extend(s.one_time.iter().map(|k| k.key.secret));
    out
}

/// Watches the blobs of a conversation after every call: a secret that left a blob never comes
/// back in any later blob; no session blob ever holds a prekey store secret; and a session whose
/// receiving key just changed holds no ratchet secret (its sending side is pending).
#[derive(Default)]
struct Watch {
    last: std::collections::HashMap<&'static str, Vec<K32>>,
    /// Per object: a chain key of one side is, legitimately, the other side's current one.
    retired: std::collections::HashMap<&'static str, HashSet<K32>>,
    prekey_secrets: HashSet<K32>,
    snapshots: usize,
}

impl Watch {
    fn session(&mut self, name: &'static str, s: &Session) {
        let blob = sbytes(s);
        let (secrets, _) = session_secrets(&blob);
        self.check(name, &blob, secrets);
        for k in &self.prekey_secrets {
            assert!(
                !contains(&blob, k),
                "{name}: a prekey secret in a session blob"
            );
        }
        let (_, parsed) = SessionBlob::decode(&blob).unwrap();
        let dhr = parsed.open().map(|o| o.dhr);
        let key = format!("{name} dhr");
        let last_dhr = self.last.get(key.as_str()).and_then(|v| v.first().copied());
        if let (Some(now), Some(before)) = (dhr, last_dhr)
            && now != before
        {
            assert!(
                parsed.sending().is_none(),
                "{name}: a ratchet secret kept after a receiving step"
            );
        }
        if let Some(d) = dhr {
            self.last.insert(Box::leak(key.into_boxed_str()), vec![d]);
        }
    }

    fn store(&mut self, name: &'static str, s: &PreKeyStore) {
        let blob = pbytes(s);
        let secrets = store_secrets(&blob);
        self.prekey_secrets.extend(secrets.iter().copied());
        self.check(name, &blob, secrets);
    }

    fn check(&mut self, name: &'static str, blob: &[u8], secrets: Vec<K32>) {
        self.snapshots += 1;
        let retired = self.retired.entry(name).or_default();
        for k in retired.iter() {
            assert!(
                !contains(blob, k),
                "{name}: a retired secret is back (snapshot {})",
                self.snapshots
            );
        }
        if let Some(before) = self.last.get(name) {
            for k in before {
                if !secrets.contains(k) {
                    retired.insert(*k);
                }
            }
        }
        self.last.insert(name, secrets);
    }
}

/// SECURITY.md 12, 13a; SPEC.md §6.1, §6.2, §10.3. A conversation through every public call —
/// `respond`, `accept`, sealed-sender `Opened::respond`/`Opened::decrypt`, `encrypt`, `send`,
/// `set_timer`, `decrypt`, `receive` (out of order, expired), `purge`, `set_limits`, a session
/// without a one-time prekey, signed prekey rotation — snapshotting every blob after every call:
/// no signed or one-time prekey secret is ever in a session blob, a secret that left a blob
/// (consumed message key, replaced chain key, dropped ratchet secret, consumed one-time prekey,
/// rotated-out signed prekey) never reappears in any later blob, and after every receiving step
/// on a new ratchet key the session holds no ratchet secret.
#[test]
fn held_no_dead_secret_survives_in_any_blob() {
    let mut rng = common::rng(47);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let carol_id = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    let mut w = Watch::default();
    store.rotate_signed_prekey(&mut rng, &bob_id, 1000);
    let otpk = store.generate_one_time_prekeys(&mut rng, 3).unwrap();
    w.store("store", &store);
    let bundle = store.bundle(&bob_id, Some(otpk[0].id)).unwrap();
    let mut alice = Session::initiate(
        &mut rng,
        &alice_id,
        &bundle,
        Trust::FirstUse,
        &Config::new(common::CONTEXT).allow_classical(),
    )
    .unwrap();
    w.session("alice", &alice);
    let t = alice
        .set_timer(&mut rng, NOW, 3600, TimerStart::OnSend)
        .unwrap();
    let firsts: Vec<_> = (0..3u8)
        .map(|i| alice.send(&mut rng, NOW, &[i]).unwrap())
        .collect();
    w.session("alice", &alice);
    // Sealed sender: the first message arrives sealed; Bob answers it through `Opened::respond`.
    let (cert, root) = certificate_for(&alice_id);
    let roots = [root.public()];
    let bob_view = SealedRecipient {
        identity: &bob_id,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    let env = seal_to(&mut rng, &alice_id, &cert, bob_id.public(), &t).unwrap();
    let (mut bob, _) = bob_view
        .open(&env, NOW)
        .unwrap()
        .respond(
            &bob_id,
            &mut store,
            &Config::new(common::CONTEXT).allow_classical(),
        )
        .unwrap();
    w.store("store", &store);
    w.session("bob", &bob);
    // Out of order, one through sealed sender.
    bob.receive(&firsts[2], NOW)
        .unwrap()
        .into_message()
        .unwrap();
    w.session("bob", &bob);
    let env = seal_to(&mut rng, &alice_id, &cert, bob_id.public(), &firsts[0]).unwrap();
    bob_view.open(&env, NOW).unwrap().decrypt(&mut bob).unwrap();
    w.session("bob", &bob);
    let mut held = vec![firsts[1].clone()];
    let mut later = NOW;
    for round in 0..6u8 {
        later += 1000;
        let mut from_bob = Vec::new();
        for i in 0..4u8 {
            from_bob.push(match i {
                0 => bob.encrypt(&mut rng, &[round, i]).unwrap(),
                3 if round % 2 == 1 => bob
                    .set_timer(&mut rng, later, 60 + u32::from(round), TimerStart::OnRead)
                    .unwrap(),
                _ => bob.send(&mut rng, later, &[round, i]).unwrap(),
            });
            w.session("bob", &bob);
        }
        // Deliver 3, 1, 0 (2 held back, delivered next round or expired).
        for &i in &[3usize, 1, 0] {
            if i == 0 {
                alice.decrypt(&from_bob[0]).unwrap();
            } else {
                alice
                    .receive(&from_bob[i], later)
                    .unwrap()
                    .into_message()
                    .unwrap();
            }
            w.session("alice", &alice);
        }
        for m in held.drain(..) {
            let r = alice.receive(&m, later + 10_000_000);
            if r.is_err() {
                let _ = bob.receive(&m, later);
            }
            w.session("alice", &alice);
            w.session("bob", &bob);
        }
        held.push(from_bob[2].clone());
        alice.purge(later + 10_000_000);
        w.session("alice", &alice);
        if round == 3 {
            alice
                .set_limits(Limits {
                    max_skip: 10,
                    max_skipped_keys: 10,
                    max_old_chains: 1,
                    max_skipped_key_age: 3,
                })
                .unwrap();
            w.session("alice", &alice);
        }
        let a: Vec<_> = (0..3u8)
            .map(|i| alice.send(&mut rng, later, &[b'a', round, i]).unwrap())
            .collect();
        w.session("alice", &alice);
        for m in a.iter().rev() {
            bob.receive(m, later).unwrap().into_message().unwrap();
            w.session("bob", &bob);
        }
        bob.purge(later + 10_000_000);
        w.session("bob", &bob);
    }
    // A session without a one-time prekey (Carol, raw `respond`), then rotations.
    let bundle = store.bundle(&bob_id, None).unwrap();
    let mut carol = Session::initiate(
        &mut rng,
        &carol_id,
        &bundle,
        Trust::FirstUse,
        &Config::new(b"carol").allow_classical(),
    )
    .unwrap();
    let first = carol.encrypt(&mut rng, b"hi").unwrap();
    let (mut bob_carol, _) = Session::respond(
        &bob_id,
        &mut store,
        &first,
        &Config::new(b"carol").allow_classical(),
    )
    .unwrap();
    w.store("store", &store);
    w.session("bob_carol", &bob_carol);
    let reply = bob_carol.encrypt(&mut rng, b"yo").unwrap();
    w.session("bob_carol", &bob_carol);
    carol.decrypt(&reply).unwrap();
    w.session("carol", &carol);
    for t in 2..6 {
        store.rotate_signed_prekey(&mut rng, &bob_id, t * 1000);
        w.store("store", &store);
    }
    store.remove_one_time_prekey(otpk[1].id);
    w.store("store", &store);
    for (name, s) in [
        ("alice", &alice),
        ("bob", &bob),
        ("bob_carol", &bob_carol),
        ("carol", &carol),
    ] {
        w.session(name, s);
    }
    let retired: usize = w.retired.values().map(HashSet::len).sum();
    assert!(
        retired > 100 && w.snapshots > 100,
        "{retired} {}",
        w.snapshots
    );
}
