//! The shared world: a trust root, a certified server, Alice and Bob with sender certificates,
//! Bob's prekey store, and helpers to open envelopes and seal Alice's first message.

use crate::common::rng;
use rand_chacha::ChaCha20Rng;
use xchat_protocol::sealed_sender::seal;
use xchat_protocol::{
    CertificateKey, CertificateKeyPair, IdentityKeyPair, PreKeyStore, SealedRecipient,
    SenderCertificate, ServerCertificate, Session,
};
use xchat_protocol::{Config, Trust};

pub(crate) const NOW: u64 = 1_700_000_000_000;
pub(crate) const DAY: u64 = 86_400_000;

pub(crate) struct World {
    pub(crate) rng: ChaCha20Rng,
    pub(crate) root: CertificateKey,
    pub(crate) server: CertificateKeyPair,
    pub(crate) server_cert: ServerCertificate,
    pub(crate) alice: IdentityKeyPair,
    pub(crate) alice_cert: SenderCertificate,
    pub(crate) bob: IdentityKeyPair,
    pub(crate) bob_cert: SenderCertificate,
    pub(crate) bob_store: PreKeyStore,
}

pub(crate) fn world(seed: u8) -> World {
    let mut rng = rng(seed);
    let root_pair = CertificateKeyPair::generate(&mut rng);
    let server = CertificateKeyPair::generate(&mut rng);
    let server_cert = root_pair.certify_server(7, &server.public());
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let alice_cert = server
        .certify_sender(&server_cert, b"alice", 1, alice.public(), NOW + DAY)
        .unwrap();
    let bob_cert = server
        .certify_sender(&server_cert, b"bob", 1, bob.public(), NOW + DAY)
        .unwrap();
    let mut bob_store = PreKeyStore::new();
    bob_store.rotate_signed_prekey(&mut rng, &bob, NOW);
    bob_store.generate_one_time_prekeys(&mut rng, 2).unwrap();
    World {
        rng,
        root: root_pair.public(),
        server,
        server_cert,
        alice,
        alice_cert,
        bob,
        bob_cert,
        bob_store,
    }
}

pub(crate) fn recipient<'a>(
    id: &'a IdentityKeyPair,
    roots: &'a [CertificateKey],
) -> SealedRecipient<'a> {
    SealedRecipient {
        identity: id,
        trust_roots: roots,
        revoked_servers: &[],
    }
}

/// Alice starts a session with Bob and seals her first message.
pub(crate) fn first_envelope(w: &mut World, text: &[u8]) -> (Session, Vec<u8>) {
    let bundle = w.bob_store.bundle(&w.bob, Some(0)).unwrap();
    let mut session = Session::initiate(
        &mut w.rng,
        &w.alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b"").allow_classical(),
    )
    .unwrap();
    let inner = session.send(&mut w.rng, NOW, text).unwrap();
    let envelope = seal(&mut w.rng, &w.alice, &w.alice_cert, &session, &inner).unwrap();
    (session, envelope)
}
