//! Alice and Bob through an in-memory relay: the relay stores Bob's bundle and one-time
//! prekeys and forwards opaque bytes. Run with `cargo run --release --example conversation`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, VecDeque};

use getrandom::SysRng;
use rand_core::UnwrapErr;
use xchat_protocol::{
    IdentityKey, IdentityKeyPair, OneTimePreKey, PreKeyBundle, PreKeyStore, Session, SignedPreKey,
};

/// What a server holds: public prekeys per user, and mailboxes of opaque messages.
#[derive(Default)]
struct Relay {
    prekeys: BTreeMap<&'static str, (IdentityKey, SignedPreKey, VecDeque<OneTimePreKey>)>,
    mailboxes: BTreeMap<&'static str, VecDeque<Vec<u8>>>,
}

impl Relay {
    fn bundle_for(&mut self, user: &str) -> Vec<u8> {
        let (identity, spk, otpks) = self.prekeys.get_mut(user).expect("user registered");
        // Each one-time prekey is handed out once.
        let bundle = PreKeyBundle {
            identity: *identity,
            signed_prekey: *spk,
            one_time_prekey: otpks.pop_front(),
        };
        bundle.to_bytes()
    }

    fn post(&mut self, to: &'static str, bytes: Vec<u8>) {
        println!("  relay sees: to={to:<5} {} opaque bytes", bytes.len());
        self.mailboxes.entry(to).or_default().push_back(bytes);
    }

    fn fetch(&mut self, user: &str) -> Vec<Vec<u8>> {
        self.mailboxes
            .get_mut(user)
            .map(|m| m.drain(..).collect())
            .unwrap_or_default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = UnwrapErr(SysRng);
    let mut relay = Relay::default();
    let context = b"alice@example.org|bob@example.org";

    // Bob registers: identity, a signed prekey and one-time prekeys go to the relay (public halves).
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut bob_store = PreKeyStore::new();
    let spk = bob_store.rotate_signed_prekey(&mut rng, &bob, 1_700_000_000);
    let otpks = bob_store.generate_one_time_prekeys(&mut rng, 5);
    relay
        .prekeys
        .insert("bob", (*bob.public(), spk, otpks.into()));
    println!("Bob published a signed prekey and 5 one-time prekeys.");

    // Alice fetches a bundle and starts a session while Bob is offline.
    let alice = IdentityKeyPair::generate(&mut rng);
    let bundle = PreKeyBundle::from_bytes(&relay.bundle_for("bob"))?;
    let mut alice_session = Session::initiate(&mut rng, &alice, &bundle, context)?;
    println!("Alice verified Bob's signed prekey and ran X3DH.");
    for text in ["Hi Bob!", "Are you there?"] {
        relay.post("bob", alice_session.encrypt(&mut rng, text.as_bytes())?);
    }

    // Bob comes online: the first message creates his session, later ones go to it.
    let mut inbox = relay.fetch("bob").into_iter();
    let first = inbox.next().expect("a message");
    let (mut bob_session, text) = Session::respond(&bob, &mut bob_store, &first, context)?;
    assert_eq!(bob_session.remote_identity(), alice.public());
    println!(
        "Bob: {:?} (one-time prekeys left: {})",
        String::from_utf8(text)?,
        bob_store.one_time_prekey_count()
    );
    for m in inbox {
        println!("Bob: {:?}", String::from_utf8(bob_session.decrypt(&m)?)?);
    }

    // Bob replies three times; the relay delivers them out of order.
    for text in ["Hello Alice.", "Yes, here.", "Out of order works too."] {
        relay.post("alice", bob_session.encrypt(&mut rng, text.as_bytes())?);
    }
    let mut replies = relay.fetch("alice");
    replies.reverse();
    for m in &replies {
        println!("Alice: {:?}", String::from_utf8(alice_session.decrypt(m)?)?);
    }
    // A replay is rejected.
    println!(
        "Alice, replayed message: {:?}",
        alice_session.decrypt(&replies[0]).unwrap_err()
    );

    // Sessions persist to bytes; Alice restarts her app and carries on.
    let saved = alice_session.to_bytes();
    let mut alice_session = Session::from_bytes(&saved)?;
    println!(
        "Alice's session persisted in {} bytes and was restored.",
        saved.len()
    );
    relay.post(
        "bob",
        alice_session.encrypt(&mut rng, b"New ratchet step, new keys.")?,
    );
    for m in relay.fetch("bob") {
        println!("Bob: {:?}", String::from_utf8(bob_session.decrypt(&m)?)?);
    }
    Ok(())
}
