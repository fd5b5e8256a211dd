//! Alice and Bob through an in-memory relay. The relay stores Bob's public prekeys and forwards
//! sealed envelopes; it learns the recipient and a padded length, nothing else. Side by side, the
//! demo prints what the relay saw and what Bob learned.
//!
//! Run with `cargo run --release --example conversation`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, VecDeque};

use getrandom::SysRng;
use rand_core::UnwrapErr;
use xchat_protocol::sealed_sender::seal;
use xchat_protocol::{
    CertificateKeyPair, Config, Deadline, Delivered, IdentityKey, IdentityKeyPair, KemPreKey,
    OneTimePreKey, PreKeyBundle, PreKeyStore, Receipt, SealedRecipient, SenderCertificate, Session,
    SignedPreKey, TimerStart, Trust,
};

const DAY_MS: u64 = 86_400_000;

/// A user's public prekeys as the server holds them.
struct Published {
    identity: IdentityKey,
    signed_prekey: SignedPreKey,
    one_time: VecDeque<OneTimePreKey>,
    kem_last_resort: KemPreKey,
    kem_one_time: VecDeque<KemPreKey>,
}

/// What a server holds: public prekeys per user, and mailboxes of opaque envelopes.
#[derive(Default)]
struct Relay {
    prekeys: BTreeMap<&'static str, Published>,
    mailboxes: BTreeMap<&'static str, VecDeque<Vec<u8>>>,
}

impl Relay {
    fn bundle_for(&mut self, user: &str) -> Vec<u8> {
        let p = self.prekeys.get_mut(user).expect("user registered");
        // Each one-time prekey (X25519 or KEM) is handed out once; the last-resort KEM prekey
        // whenever no one-time one is left.
        PreKeyBundle {
            identity: p.identity,
            signed_prekey: p.signed_prekey,
            one_time_prekey: p.one_time.pop_front(),
            kem_prekey: Some(
                p.kem_one_time
                    .pop_front()
                    .unwrap_or_else(|| p.kem_last_resort.clone()),
            ),
        }
        .to_bytes()
    }

    fn post(&mut self, to: &'static str, envelope: Vec<u8>) {
        let head: String = envelope
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect();
        println!(
            "  relay saw: to={to:<5} {:>4} bytes  {head}…",
            envelope.len()
        );
        self.mailboxes.entry(to).or_default().push_back(envelope);
    }

    fn fetch(&mut self, user: &str) -> Vec<Vec<u8>> {
        self.mailboxes
            .get_mut(user)
            .map(|m| m.drain(..).collect())
            .unwrap_or_default()
    }
}

fn show(who: &str, d: &Delivered) {
    let Some(m) = d.receipt.message() else {
        println!(
            "  {who}: a message from {} expired on arrival or does not parse: nothing shown",
            String::from_utf8_lossy(&d.sender.address)
        );
        return;
    };
    let deadline = match m.deadline {
        Deadline::Never => "never".to_string(),
        Deadline::At(t) => format!("at t+{}s", t.saturating_sub(T0) / 1000),
        Deadline::AfterRead(ms) => format!("{}s after reading", ms / 1000),
    };
    let text = String::from_utf8_lossy(&m.body);
    println!(
        "  {who} learned: from={} device={} text={text:?} delete={deadline}{}",
        String::from_utf8_lossy(&d.sender.address),
        d.sender.device_id,
        if m.timer_changed {
            " (timer changed)"
        } else {
            ""
        }
    );
}

const T0: u64 = 1_700_000_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = UnwrapErr(SysRng);
    let mut relay = Relay::default();
    let context = b"alice@example.org|bob@example.org";

    // The operator: a trust root (offline) certifies a server key, which certifies users.
    let root = CertificateKeyPair::generate(&mut rng);
    let server = CertificateKeyPair::generate(&mut rng);
    let server_cert = root.certify_server(1, &server.public());
    let roots = [root.public()];

    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let cert = |id: &IdentityKeyPair, name: &[u8]| -> SenderCertificate {
        server
            .certify_sender(&server_cert, name, 1, id.public(), T0 + DAY_MS)
            .unwrap()
    };
    let (alice_cert, bob_cert) = (cert(&alice, b"alice"), cert(&bob, b"bob"));

    println!("1. Bob publishes prekeys (public halves only).");
    let mut bob_store = PreKeyStore::new();
    let signed_prekey = bob_store.rotate_signed_prekey(&mut rng, &bob, T0);
    let one_time = bob_store.generate_one_time_prekeys(&mut rng, 5).unwrap();
    let kem_last_resort = bob_store.rotate_kem_prekey(&mut rng, &bob, T0);
    let kem_one_time = bob_store
        .generate_kem_one_time_prekeys(&mut rng, &bob, 5, T0)
        .unwrap();
    relay.prekeys.insert(
        "bob",
        Published {
            identity: *bob.public(),
            signed_prekey,
            one_time: one_time.into(),
            kem_last_resort,
            kem_one_time: kem_one_time.into(),
        },
    );

    println!("2. Alice fetches Bob's bundle, verifies it, runs PQXDH and sends sealed messages.");
    let bundle = PreKeyBundle::from_bytes(&relay.bundle_for("bob"))?;
    let mut alice_session = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context),
    )?;
    for (i, text) in ["Hi Bob!", "Are you there?"].iter().enumerate() {
        let inner = alice_session.send(&mut rng, T0 + i as u64, text.as_bytes())?;
        relay.post(
            "bob",
            seal(&mut rng, &alice, &alice_cert, &alice_session, &inner)?,
        );
    }

    println!(
        "  bundle: {} bytes; handshake: {:?}",
        bundle.to_bytes().len(),
        alice_session.handshake()
    );
    println!("3. Bob opens them: one call verifies the sender and decrypts.");
    let bob_view = SealedRecipient {
        identity: &bob,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    let mut bob_session = None;
    for envelope in relay.fetch("bob") {
        let opened = bob_view.open(&envelope, T0 + 1_000)?;
        let delivered = match bob_session.as_mut() {
            Some(session) => opened.decrypt(session)?,
            None => {
                let (session, delivered) =
                    opened.respond(&bob, &mut bob_store, &Config::new(context))?;
                bob_session = Some(session);
                delivered
            }
        };
        show("Bob", &delivered);
    }
    let mut bob_session = bob_session.expect("session");
    println!(
        "  (Bob's one-time prekeys left: {}, one-time KEM prekeys left: {})",
        bob_store.one_time_prekey_count(),
        bob_store.kem_one_time_prekey_count()
    );

    println!(
        "4. Bob turns on disappearing messages (1 hour, from sending) and replies three times."
    );
    let inner = bob_session.set_timer(&mut rng, T0 + 2_000, 3_600, TimerStart::OnSend)?;
    relay.post(
        "alice",
        seal(&mut rng, &bob, &bob_cert, &bob_session, &inner)?,
    );
    for text in [
        "Yes, here.",
        "This one disappears.",
        "Delivered out of order.",
    ] {
        let inner = bob_session.send(&mut rng, T0 + 3_000, text.as_bytes())?;
        relay.post(
            "alice",
            seal(&mut rng, &bob, &bob_cert, &bob_session, &inner)?,
        );
    }

    println!("5. The relay delivers them in reverse order; Alice decrypts each once.");
    let alice_view = SealedRecipient {
        identity: &alice,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    let mut envelopes = relay.fetch("alice");
    envelopes.reverse();
    for envelope in &envelopes {
        let delivered = alice_view
            .open(envelope, T0 + 4_000)?
            .decrypt(&mut alice_session)?;
        show("Alice", &delivered);
    }
    let replay = alice_view
        .open(&envelopes[0], T0 + 5_000)?
        .decrypt(&mut alice_session);
    println!("  a replayed envelope: {}", replay.unwrap_err());

    println!("6. Alice persists her session, restarts, and answers; a late message has expired.");
    let mut alice_session = Session::from_bytes(&alice_session.to_bytes().unwrap())?;
    let inner = alice_session.send(&mut rng, T0 + 6_000, b"Got them all.")?;
    relay.post(
        "bob",
        seal(&mut rng, &alice, &alice_cert, &alice_session, &inner)?,
    );
    let late = alice_session.send(&mut rng, T0 + 7_000, b"Sent long ago...")?;
    relay.post(
        "bob",
        seal(&mut rng, &alice, &alice_cert, &alice_session, &late)?,
    );
    let mut inbox = relay.fetch("bob").into_iter();
    let on_time = bob_view
        .open(&inbox.next().expect("env"), T0 + 8_000)?
        .decrypt(&mut bob_session)?;
    show("Bob", &on_time);
    let two_hours = T0 + 2 * 3_600_000;
    let late = bob_view
        .open(&inbox.next().expect("env"), two_hours)?
        .decrypt(&mut bob_session)?;
    // An `Ok`: the session changed (the key is consumed: save it), but there is nothing to show.
    assert!(matches!(late.receipt, Receipt::Expired { .. }));
    println!("  Bob, two hours later: expired on arrival, nothing shown");
    Ok(())
}
