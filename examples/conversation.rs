//! Alice and Bob through an in-memory relay. The relay stores Bob's public prekeys and forwards
//! sealed envelopes; it learns the recipient and a padded length, nothing else. Side by side, the
//! demo prints what the relay saw and what Bob learned. Alice sends Bob a photo as an attachment
//! (the server stores an opaque padded blob). Then a three-person group chat (Alice,
//! Bob, Carol) with sender keys over the pairwise sessions, one sealed envelope per group
//! message, and Carol's removal. Last, accounts: Bob's account key signs his devices, Alice
//! sends to every device it signed and refuses a ghost device the server slips in, and the two
//! compare their safety number.
//!
//! Run with `cargo run --release --example conversation`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, VecDeque};

use getrandom::SysRng;
use rand_core::UnwrapErr;
use xchat_protocol::account::{
    AccountEvent, AccountKeyPair, Contact, DeviceEntry, DeviceList, DeviceListView, SafetyNumber,
};
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentDescriptor, AttachmentEncryptor, AttachmentInfo,
};
use xchat_protocol::group::{GroupConfig, GroupId, GroupSession, SenderKeyDistribution};
use xchat_protocol::sealed_sender::{MULTI_VERSION, seal, seal_for_group};
use xchat_protocol::{
    CertificateKey, CertificateKeyPair, Config, ContentKind, Deadline, Delivered, IdentityKey,
    IdentityKeyPair, KemPreKey, OneTimePreKey, PreKeyBundle, PreKeyStore, Receipt, SealedRecipient,
    SenderCertificate, ServerCertificate, Session, SignedPreKey, TimerStart, Trust,
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
    bob_store.rotate_signed_prekey(&mut rng, &bob, T0);
    let one_time = bob_store.generate_one_time_prekeys(&mut rng, 5).unwrap();
    let kem_last_resort = bob_store.rotate_kem_prekey(&mut rng, &bob, T0);
    // In a PQXDH bundle the signed prekey is signed with its key type (SPEC.md §4.2): take it
    // from the fallback bundle, not from `rotate_signed_prekey` (the X3DH form).
    let signed_prekey = bob_store.bundle(&bob, None)?.signed_prekey;
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
    send_photo(
        &mut rng,
        &mut relay,
        (&alice, &alice_cert, &mut alice_session),
        &bob_view,
        &mut bob_session,
    )?;
    group_chat(&mut rng, &server, &server_cert, &roots)?;
    accounts(&mut rng, &server, &server_cert, &roots)
}

/// Step 7: an attachment. The file is encrypted chunk by chunk into a blob the server stores
/// under an opaque id; only the descriptor (its key, header, sizes, type and id) travels in the
/// conversation, sealed like any message.
fn send_photo(
    rng: &mut UnwrapErr<SysRng>,
    relay: &mut Relay,
    (alice, alice_cert, alice_session): (&IdentityKeyPair, &SenderCertificate, &mut Session),
    bob_view: &SealedRecipient<'_>,
    bob_session: &mut Session,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("7. Alice sends Bob a photo: the server stores an opaque, padded blob.");
    let photo: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut enc = AttachmentEncryptor::new(rng, photo.len() as u64)?;
    let mut blob = enc.header().to_vec();
    let mut rest = &photo[..];
    while let Some(n) = enc.next_input_len() {
        let (piece, tail) = rest.split_at(n);
        let mut chunk = piece.to_vec();
        enc.seal_next(&mut chunk)?;
        blob.extend_from_slice(&chunk);
        rest = tail;
    }
    println!(
        "  server stores blob/7f3e: {} bytes for a {}-byte file (padded, {} chunks)",
        blob.len(),
        photo.len(),
        blob.len().div_ceil(16_400)
    );
    let info = AttachmentInfo {
        content_type: "image/jpeg".into(),
        file_name: Some("beach.jpg".into()),
        thumbnail: Some(vec![0xFF, 0xD8, 0xFF, 0xD9]),
        location: b"blob/7f3e".to_vec(),
    };
    let descriptor = enc.finish(info)?;
    let inner = descriptor.send(alice_session, rng, T0 + 9_000)?;
    relay.post("bob", seal(rng, alice, alice_cert, alice_session, &inner)?);
    for envelope in relay.fetch("bob") {
        let delivered = bob_view.open(&envelope, T0 + 9_500)?.decrypt(bob_session)?;
        let received = delivered.receipt.message().expect("on time");
        assert_eq!(received.kind, ContentKind::Attachment);
        let d = AttachmentDescriptor::from_bytes(&received.body)?;
        println!(
            "  Bob learned: {} {:?}, {} bytes, at {:?}; fetching and opening it chunk by chunk",
            d.info().content_type,
            d.info().file_name.as_deref().unwrap_or(""),
            d.size(),
            String::from_utf8_lossy(&d.info().location)
        );
        let mut dec = AttachmentDecryptor::new(&d, &blob[..56])?; // the stored header
        dec.check_stored_len(blob.len() as u64)?;
        let mut file = Vec::new();
        for i in 0..dec.chunk_count() {
            let range = dec.encrypted_range(i).expect("in range");
            let mut chunk = blob[range.start as usize..range.end as usize].to_vec();
            dec.open_next(&mut chunk)?;
            file.extend_from_slice(&chunk);
        }
        assert!(dec.is_complete() && file == photo);
        println!(
            "  Bob opened all {} bytes; the photo is complete",
            file.len()
        );
        let mut tampered =
            blob[dec.encrypted_range(2).expect("chunk 2").start as usize..][..16_400].to_vec();
        tampered[100] ^= 1;
        println!(
            "  a chunk the server altered: {}",
            dec.open_chunk(2, &mut tampered).unwrap_err()
        );
    }
    Ok(())
}

/// One device of the group chat: its keys, its pairwise sessions by peer name, its group view.
struct Person {
    name: &'static str,
    id: IdentityKeyPair,
    cert: SenderCertificate,
    store: PreKeyStore,
    sessions: BTreeMap<&'static str, Session>,
    group: Option<GroupSession>,
}

impl Person {
    fn new(
        rng: &mut UnwrapErr<SysRng>,
        name: &'static str,
        server: &CertificateKeyPair,
        server_cert: &ServerCertificate,
    ) -> Self {
        let id = IdentityKeyPair::generate(rng);
        let cert = server
            .certify_sender(server_cert, name.as_bytes(), 1, id.public(), T0 + DAY_MS)
            .unwrap();
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(rng, &id, T0);
        store.rotate_kem_prekey(rng, &id, T0);
        Self {
            name,
            id,
            cert,
            store,
            sessions: BTreeMap::new(),
            group: None,
        }
    }
}

/// Sends our sender key to every member lacking it, each over (or starting) the pairwise session,
/// sealed like any message.
fn distribute(rng: &mut UnwrapErr<SysRng>, people: &mut [Person], from: usize, relay: &mut Relay) {
    let names: Vec<&'static str> = people.iter().map(|p| p.name).collect();
    let keys: Vec<IdentityKey> = people.iter().map(|p| *p.id.public()).collect();
    let bundles: Vec<PreKeyBundle> = people
        .iter()
        .map(|p| p.store.bundle(&p.id, None).unwrap())
        .collect();
    let me = &mut people[from];
    let group = me.group.as_mut().unwrap();
    let pending = group.distribution(rng, T0);
    for member in &pending.recipients {
        let to = keys.iter().position(|k| k == member).unwrap();
        let session = me.sessions.entry(names[to]).or_insert_with(|| {
            let c = Config::new(b"group demo");
            Session::initiate(rng, &me.id, &bundles[to], Trust::FirstUse, &c).unwrap()
        });
        let inner = pending.distribution.send(session, rng, T0).unwrap();
        relay.post(
            names[to],
            seal(rng, &me.id, &me.cert, session, &inner).unwrap(),
        );
        group
            .mark_distributed(member, &pending.distribution)
            .unwrap();
    }
}

/// Opens everything in `who`'s mailbox: pairwise envelopes carry sender keys, group envelopes
/// group messages.
fn read_inbox(people: &mut [Person], who: usize, relay: &mut Relay, roots: &[CertificateKey]) {
    let p = &mut people[who];
    for envelope in relay.fetch(p.name) {
        let view = SealedRecipient {
            identity: &p.id,
            trust_roots: roots,
            revoked_servers: &[],
        };
        if envelope.first() == Some(&MULTI_VERSION) {
            let opened = view.open_group(&envelope, T0).unwrap();
            let name = String::from_utf8_lossy(&opened.sender().address).into_owned();
            match opened.receive(p.group.as_mut().unwrap()) {
                Ok(d) => {
                    let text = d
                        .receipt
                        .message()
                        .map(|m| String::from_utf8_lossy(&m.body).into_owned());
                    println!(
                        "  {} read from {name}: {:?}",
                        p.name,
                        text.unwrap_or_default()
                    );
                }
                Err(e) => println!("  {} cannot read {name}'s group message: {e}", p.name),
            }
            continue;
        }
        let opened = view.open(&envelope, T0).unwrap();
        let from: &'static str = ["alice", "bob", "carol"]
            .into_iter()
            .find(|n| n.as_bytes() == opened.sender().address.as_slice())
            .unwrap();
        let delivered = match p.sessions.get_mut(from) {
            Some(session) => opened.decrypt(session).unwrap(),
            None => {
                let c = Config::new(b"group demo");
                let (session, delivered) = opened.respond(&p.id, &mut p.store, &c).unwrap();
                p.sessions.insert(from, session);
                delivered
            }
        };
        let body = &delivered.receipt.message().unwrap().body;
        let d = SenderKeyDistribution::from_bytes(body).unwrap();
        p.group
            .as_mut()
            .unwrap()
            .process_distribution(&delivered.sender.identity, &d)
            .unwrap();
        println!(
            "  {} got {from}'s sender key (key id {})",
            p.name,
            d.key_id()
        );
    }
}

fn group_chat(
    rng: &mut UnwrapErr<SysRng>,
    server: &CertificateKeyPair,
    server_cert: &ServerCertificate,
    roots: &[CertificateKey],
) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "8. A group: Alice, Bob and Carol. Each hands its sender key to the others, pairwise."
    );
    let mut relay = Relay::default();
    let mut people: Vec<Person> = ["alice", "bob", "carol"]
        .into_iter()
        .map(|n| Person::new(rng, n, server, server_cert))
        .collect();
    let keys: Vec<IdentityKey> = people.iter().map(|p| *p.id.public()).collect();
    let id = GroupId([0x42; 32]);
    for p in &mut people {
        p.group = Some(GroupSession::new(
            rng,
            p.id.public(),
            id,
            &keys,
            T0,
            GroupConfig::default(),
        )?);
    }
    for from in 0..3 {
        distribute(rng, &mut people, from, &mut relay);
        for who in 0..3 {
            read_inbox(&mut people, who, &mut relay, roots);
        }
    }
    let group_post = |rng: &mut UnwrapErr<SysRng>,
                      people: &mut [Person],
                      from: usize,
                      text: &str,
                      relay: &mut Relay| {
        let p = &mut people[from];
        let group = p.group.as_mut().unwrap();
        let message = group.send(rng, T0, text.as_bytes()).unwrap();
        let sealed = seal_for_group(rng, &p.id, &p.cert, group, &message).unwrap();
        println!(
            "  {} seals one group message for {} recipients: {} bytes uploaded",
            p.name,
            sealed.recipients().len(),
            sealed.to_bytes().len()
        );
        for (i, member) in sealed.recipients().iter().enumerate() {
            let to = keys.iter().position(|k| k == member).unwrap();
            relay.post(
                ["alice", "bob", "carol"][to],
                sealed.for_recipient(i).unwrap(),
            );
        }
    };
    group_post(rng, &mut people, 0, "Hello, both of you!", &mut relay);
    for who in 1..3 {
        read_inbox(&mut people, who, &mut relay, roots);
    }
    println!(
        "9. Alice and Bob remove Carol: Alice's next message needs a new sender key, sent to Bob only."
    );
    let carol = keys[2];
    for p in &mut people[..2] {
        p.group.as_mut().unwrap().remove_member(&carol);
    }
    distribute(rng, &mut people, 0, &mut relay);
    read_inbox(&mut people, 1, &mut relay, roots);
    group_post(rng, &mut people, 0, "Just the two of us now.", &mut relay);
    read_inbox(&mut people, 1, &mut relay, roots);
    // Carol still holds Alice's old key; the relay, or a friend, hands her the new message.
    let message = people[0]
        .group
        .as_mut()
        .unwrap()
        .send(rng, T0, b"Carol must not read this")?;
    let got = people[2]
        .group
        .as_mut()
        .unwrap()
        .receive(&keys[0], &message, T0);
    println!("  Carol, given Alice's next message: {}", got.unwrap_err());
    Ok(())
}

/// A device's prekey store and bundle (PQXDH).
fn device_bundle(
    rng: &mut UnwrapErr<SysRng>,
    device: &IdentityKeyPair,
) -> Result<(PreKeyStore, PreKeyBundle), xchat_protocol::Error> {
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(rng, device, T0);
    store.rotate_kem_prekey(rng, device, T0);
    store.generate_one_time_prekeys(rng, 2)?;
    let bundle = store.bundle(device, Some(0))?;
    Ok((store, bundle))
}

/// Step 10: accounts. Bob's account key signs the list of his devices (each device also signs
/// its membership); the server stores the signed list but cannot forge one. Alice's `Contact`
/// for Bob sends to every device the account signed and to no other, so a ghost device the
/// server adds gets nothing, and a sealed message from it is not delivered. Alice and Bob then
/// compare their safety number, which a new device does not change.
fn accounts(
    rng: &mut UnwrapErr<SysRng>,
    server: &CertificateKeyPair,
    server_cert: &ServerCertificate,
    roots: &[CertificateKey],
) -> Result<(), Box<dyn std::error::Error>> {
    println!("10. Accounts: Bob's account key signs his devices; a ghost device gets nothing.");
    let bob_account = AccountKeyPair::generate(rng);
    let alice_account = AccountKeyPair::generate(rng);
    let phone = IdentityKeyPair::generate(rng);
    let laptop = IdentityKeyPair::generate(rng);
    let entries = vec![
        DeviceEntry::sign(&phone, bob_account.public(), 1, T0),
        DeviceEntry::sign(&laptop, bob_account.public(), 2, T0),
    ];
    let first = DeviceList::first(&bob_account, entries.clone(), T0)?;
    // The server stores the list's bytes and serves them; Alice verifies every signature.
    let served = first.to_bytes();
    println!(
        "  server stores Bob's device list: {} bytes, sequence {}, 2 devices",
        served.len(),
        first.sequence()
    );
    let mut bob_contact = Contact::new(DeviceListView::new(DeviceList::from_bytes(&served)?));
    let alice = IdentityKeyPair::generate(rng);
    let config = Config::new(b"alice@example.org|bob@example.org");
    let mut stores = Vec::new();
    for device in [&phone, &laptop] {
        let (store, bundle) = device_bundle(rng, device)?;
        let id = bob_contact.initiate(rng, &alice, &bundle, &config)?;
        println!("  Alice starts a session with Bob's device {id}");
        stores.push(store);
    }
    // The server adds a ghost device to Bob's account: it can hand out its bundle, but not
    // sign it into Bob's list.
    let ghost = IdentityKeyPair::generate(rng);
    let (_, ghost_bundle) = device_bundle(rng, &ghost)?;
    match bob_contact.initiate(rng, &alice, &ghost_bundle, &config) {
        Err(e) => println!("  server hands Alice a ghost device's bundle: refused ({e})"),
        Ok(_) => unreachable!("a ghost device was accepted"),
    }
    let alice_cert =
        server.certify_sender(server_cert, b"alice", 1, alice.public(), T0 + DAY_MS)?;
    let outgoing = bob_contact.send_sealed(rng, &alice, &alice_cert, T0, b"To all of you, Bob.")?;
    for (o, (device, store)) in outgoing
        .iter()
        .zip([&phone, &laptop].into_iter().zip(&mut stores))
    {
        let view = SealedRecipient {
            identity: device,
            trust_roots: roots,
            revoked_servers: &[],
        };
        let (_, delivered) = view.open(&o.message, T0)?.respond(device, store, &config)?;
        print!("  Bob's device {}: ", o.device_id);
        show("", &delivered);
    }
    // A sealed message from the ghost, certified by the server as Bob's device 3, reaches
    // Alice: her contact for Bob does not deliver it.
    let (mut alice_store, alice_bundle) = device_bundle(rng, &alice)?;
    let mut ghost_session =
        Session::initiate(rng, &ghost, &alice_bundle, Trust::FirstUse, &config)?;
    let forged = ghost_session.send(rng, T0, b"It's me, Bob. New phone.")?;
    let ghost_cert = server.certify_sender(server_cert, b"bob", 3, ghost.public(), T0 + DAY_MS)?;
    let envelope = seal(rng, &ghost, &ghost_cert, &ghost_session, &forged)?;
    let alice_view = SealedRecipient {
        identity: &alice,
        trust_roots: roots,
        revoked_servers: &[],
    };
    let opened = alice_view.open(&envelope, T0)?;
    match bob_contact.receive(&opened, &alice, &mut alice_store, &config) {
        Err(e) => println!("  a sealed message from the ghost, certified as bob device 3: {e}"),
        Ok(_) => unreachable!("a ghost's message was delivered"),
    }

    // Bob adds a tablet: a new list, signed and chained; Alice's contact shows the event.
    let tablet = IdentityKeyPair::generate(rng);
    let mut more = entries;
    more.push(DeviceEntry::sign(&tablet, bob_account.public(), 3, T0 + 1));
    let second = first.next(&bob_account, more, T0 + 1)?;
    for event in bob_contact.update(&[DeviceList::from_bytes(&second.to_bytes())?])? {
        if let AccountEvent::DeviceAdded { device_id, .. } = event {
            println!("  Alice's app shows: \"Bob added a device\" (device {device_id})");
        }
    }
    // The server replays the old list to hide the tablet: a rollback, refused.
    match bob_contact.update(&[first]) {
        Err(e) => println!("  server serves the old list again: refused ({e})"),
        Ok(_) => unreachable!("a rollback was accepted"),
    }

    // Safety numbers come from the account keys: the new device does not change them.
    let on_alice = SafetyNumber::new(
        (alice_account.public(), b"alice"),
        (bob_account.public(), b"bob"),
    )?;
    let on_bob = SafetyNumber::new(
        (bob_account.public(), b"bob"),
        (alice_account.public(), b"alice"),
    )?;
    let digits = on_alice.digits();
    let groups: Vec<&str> = (0..12).map(|i| &digits[i * 5..i * 5 + 5]).collect();
    println!("  safety number on both phones: {}", groups.join(" "));
    assert_eq!(digits, on_bob.digits());
    println!(
        "  Alice scans Bob's QR code ({} bytes): {:?}",
        on_bob.qr_payload().len(),
        on_alice.compare(&on_bob.qr_payload())?
    );
    let impostor = AccountKeyPair::generate(rng);
    let substituted = SafetyNumber::new(
        (impostor.public(), b"bob"),
        (alice_account.public(), b"alice"),
    )?;
    println!(
        "  a QR code from a substituted account key: {:?}",
        on_alice.compare(&substituted.qr_payload())?
    );
    Ok(())
}
