//! The setup of sealed_sender.json in both implementations, and `open` of both.

use crate::bridge::*;
use crate::dr::{Session, Store};
use crate::prim::{self, Identity};
use crate::sealed::{self, SenderCert, ServerCert};
use crate::util::{Rng, assert_state, draws, h32, hb, hx, load, n, s, u64d};
use serde_json::Value;
use xchat_protocol as lib;

/// Everything of sealed_sender.json's setup, in both implementations.
pub(crate) struct World {
    pub(crate) v: Value,
    pub(crate) root_seed: [u8; 32],
    pub(crate) root: [u8; 32],
    pub(crate) server_seed: [u8; 32],
    pub(crate) server_cert: ServerCert,
    pub(crate) alice: Identity,
    pub(crate) bob: Identity,
    pub(crate) alice_cert: SenderCert,
    pub(crate) bob_cert: SenderCert,
    pub(crate) ctx: Vec<u8>,
    pub(crate) store: Store,
    pub(crate) alice_session: Session,
    pub(crate) lib_alice: lib::IdentityKeyPair,
    pub(crate) lib_bob: lib::IdentityKeyPair,
    pub(crate) lib_roots: Vec<lib::CertificateKey>,
}

pub(crate) fn world() -> World {
    let v = load("sealed_sender.json");
    let st = &v["setup"];
    let root_seed = h32(s(st, "trust_root_seed"));
    let server_seed = h32(s(st, "server_seed"));
    let root = prim::ed_public(&root_seed);
    assert_eq!(hx(&root), s(st, "trust_root_public"));
    let server = prim::ed_public(&server_seed);
    assert_eq!(hx(&server), s(st, "server_public"));
    let sc = &st["server_certificate"];
    let server_cert = ServerCert::issue(&root_seed, n(sc, "id") as u32, server);
    let issue = |who: &str| {
        let p = &st[who];
        let id = Identity::from_seed(h32(s(p, "identity_seed")));
        assert_eq!(hx(&id.public), s(p, "identity_public"));
        assert_eq!(hx(&id.x_secret), s(p, "identity_x25519_secret"));
        assert_eq!(hx(&id.x_public), s(p, "identity_x25519_public"));
        let c = &p["certificate"];
        assert_eq!(n(c, "server_id") as u32, server_cert.id);
        assert_eq!(s(c, "identity"), s(p, "identity_public"));
        let cert = SenderCert::issue(
            &server_seed,
            &server_cert,
            &hb(c, "address"),
            n(c, "device_id") as u32,
            id.public,
            u64d(c, "expires_ms"),
        )
        .expect("issue");
        (id, cert)
    };
    let (alice, alice_cert) = issue("alice");
    let (bob, bob_cert) = issue("bob");
    let store = Store::decode(&hb(st, "bob_prekey_store")).expect("store");
    assert_state(
        &store.encode(),
        s(st, "bob_prekey_store"),
        "bob_prekey_store",
    );
    let opk = n(st, "one_time_prekey_id") as u32;
    let bundle = store.bundle(&bob, Some(opk));
    assert_eq!(hx(&bundle), s(st, "bundle"));
    let ctx = hb(st, "context");
    let mut rng = Rng::script(draws(&st["initiate_rng_draws"]));
    let alice_session = Session::initiate(&mut rng, &alice, &bundle, &ctx).expect("initiate");
    assert!(rng.exhausted());
    let initial = s(st, "alice_state_initial");
    assert_state(&alice_session.encode(), initial, "alice_state_initial");
    let lib_roots = vec![lib::CertificateKey::from_bytes(root).expect("root")];
    World {
        lib_alice: lib::IdentityKeyPair::from_seed(&alice.seed),
        lib_bob: lib::IdentityKeyPair::from_seed(&bob.seed),
        v,
        root_seed,
        root,
        server_seed,
        server_cert,
        alice,
        bob,
        alice_cert,
        bob_cert,
        ctx,
        store,
        alice_session,
        lib_roots,
    }
}

pub(crate) fn lib_open(
    w: &World,
    recipient: &lib::IdentityKeyPair,
    revoked: &[u32],
    env: &[u8],
    now: u64,
) -> Result<lib::Opened, lib::SealedSenderError> {
    lib::SealedRecipient {
        identity: recipient,
        trust_roots: &w.lib_roots,
        revoked_servers: revoked,
    }
    .open(env, now)
}

/// `open` of both implementations, as comparable strings.
pub(crate) fn both_open(
    w: &World,
    recipient: &Identity,
    revoked: &[u32],
    env: &[u8],
    now: u64,
) -> (String, String) {
    let lib_recipient = lib::IdentityKeyPair::from_seed(&recipient.seed);
    let ours = sealed::open(recipient, &[w.root], revoked, env, now).map(|o| {
        (
            hx(&o.sender.encode()),
            hx(&o.message),
            o.is_prekey_message(),
        )
    });
    let theirs = lib_open(w, &lib_recipient, revoked, env, now).map(|o| {
        (
            hx(&o.sender().to_bytes().unwrap()),
            String::new(),
            o.is_prekey_message(),
        )
    });
    // The library does not expose the message; compare it through decrypt/respond elsewhere.
    let ours = ours.map(|(c, _, p)| (c, String::new(), p));
    (res(&ours), res(&theirs))
}
