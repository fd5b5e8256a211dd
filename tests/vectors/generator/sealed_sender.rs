//! sealed_sender.json: certificates, two envelopes with every intermediate key of SPEC.md §9.2,
//! and what the recipient learns (§9.1–§9.4).

use xchat_protocol::kdf;
use xchat_protocol::sealed_sender::{self, CertificateKeyPair, SealedRecipient, SenderCertificate};
use xchat_protocol::{Config, IdentityKey, IdentityKeyPair, PreKeyStore, Session, Trust};

use super::json::{Json, Obj, big, hx};
use super::primitives::{a32, dh, gcm_seal, identity_x25519_secret, x25519_public};
use super::rng::Recorder;
use super::shared::{CREATED_AT, T0, blob, draws_json, header, received_json};

/// Every intermediate value of SPEC.md §9.2, computed from public building blocks.
pub struct SealParts {
    pub ephemeral_secret: [u8; 32],
    pub ephemeral_public: [u8; 32],
    pub ephemeral_dh: [u8; 32],
    pub ephemeral_salt: Vec<u8>,
    pub chain: [u8; 32],
    pub identity_key: [u8; 32],
    pub identity_aad: Vec<u8>,
    pub encrypted_identity: Vec<u8>,
    pub static_dh: [u8; 32],
    pub static_salt: Vec<u8>,
    pub content_key: [u8; 32],
    pub payload: Vec<u8>,
    pub content_aad: Vec<u8>,
    pub encrypted_content: Vec<u8>,
    pub envelope: Vec<u8>,
}

/// The payload of §9.2: `u16 len ‖ cert ‖ u32 len ‖ message ‖ zero padding`.
pub fn sealed_payload(cert: &[u8], message: &[u8]) -> Vec<u8> {
    let mut p = (cert.len() as u16).to_be_bytes().to_vec();
    p.extend_from_slice(cert);
    p.extend_from_slice(&(message.len() as u32).to_be_bytes());
    p.extend_from_slice(message);
    p.resize(
        xchat_protocol::padding::padded_len(6 + cert.len() + message.len()),
        0,
    );
    p
}

pub fn seal_parts(
    ephemeral_secret: [u8; 32],
    sender_seed: &[u8; 32],
    recipient: &IdentityKey,
    payload: Vec<u8>,
) -> SealParts {
    let sender = IdentityKeyPair::from_seed(sender_seed);
    let ephemeral_public = x25519_public(ephemeral_secret);
    let recipient_bytes = recipient.to_bytes();
    let recipient_x = recipient.x25519().unwrap().to_bytes();
    let ephemeral_dh = dh(ephemeral_secret, recipient_x).expect("ephemeral dh");
    let mut ephemeral_salt = ephemeral_public.to_vec();
    ephemeral_salt.extend_from_slice(&recipient_bytes);
    let okm = kdf::hkdf_sha256::<64>(&ephemeral_salt, &ephemeral_dh, kdf::LABEL_SEALED_EPHEMERAL);
    let chain = a32(&okm[..32]);
    let identity_key = a32(&okm[32..]);
    let mut identity_aad = vec![0x01];
    identity_aad.extend_from_slice(&ephemeral_public);
    identity_aad.extend_from_slice(&recipient_bytes);
    let encrypted_identity = gcm_seal(
        &identity_key,
        &[0; 12],
        &identity_aad,
        &sender.public().to_bytes(),
    );
    let static_dh = dh(identity_x25519_secret(sender_seed), recipient_x).expect("static dh");
    let mut static_salt = chain.to_vec();
    static_salt.extend_from_slice(&encrypted_identity);
    let content_key = *kdf::hkdf_sha256::<32>(&static_salt, &static_dh, kdf::LABEL_SEALED_STATIC);
    let mut content_aad = identity_aad.clone();
    content_aad.extend_from_slice(&encrypted_identity);
    let encrypted_content = gcm_seal(&content_key, &[0; 12], &content_aad, &payload);
    let mut envelope = vec![0x01];
    envelope.extend_from_slice(&ephemeral_public);
    envelope.extend_from_slice(&encrypted_identity);
    envelope.extend_from_slice(&encrypted_content);
    SealParts {
        ephemeral_secret,
        ephemeral_public,
        ephemeral_dh,
        ephemeral_salt,
        chain,
        identity_key,
        identity_aad,
        encrypted_identity,
        static_dh,
        static_salt,
        content_key,
        payload,
        content_aad,
        encrypted_content,
        envelope,
    }
}

pub(super) fn seal_parts_json(p: &SealParts) -> Obj {
    Obj::new()
        .f("ephemeral_secret", hx(p.ephemeral_secret))
        .f("ephemeral_public", hx(p.ephemeral_public))
        .f("ephemeral_dh", hx(p.ephemeral_dh))
        .f("ephemeral_salt", hx(&p.ephemeral_salt))
        .f("chain_key", hx(p.chain))
        .f("identity_key", hx(p.identity_key))
        .f("identity_aad", hx(&p.identity_aad))
        .f("encrypted_identity", hx(&p.encrypted_identity))
        .f("static_dh", hx(p.static_dh))
        .f("static_salt", hx(&p.static_salt))
        .f("content_key", hx(p.content_key))
        .f("payload", hx(&p.payload))
        .f("content_aad", hx(&p.content_aad))
        .f("encrypted_content", hx(&p.encrypted_content))
        .f("envelope", hx(&p.envelope))
}

pub(super) fn certificate_json(c: &SenderCertificate) -> Json {
    Obj::new()
        .f("address", hx(&c.address))
        .f("device_id", c.device_id)
        .f("identity", hx(c.identity.to_bytes()))
        .f("expires_ms", big(c.expires_ms))
        .f("server_id", c.server.id)
        .f("bytes", hx(c.to_bytes().unwrap()))
        .into()
}

pub fn sealed_sender_json() -> Json {
    let rng_seed = [0x53; 32];
    let mut rng = Recorder::new(rng_seed);
    let context = b"alice|bob";
    let root_seed = rng.bytes32();
    let server_seed = rng.bytes32();
    let root = CertificateKeyPair::from_seed(&root_seed);
    let server = CertificateKeyPair::from_seed(&server_seed);
    let server_id = 7;
    let server_cert = root.certify_server(server_id, &server.public());
    let expires = T0 + 86_400_000;
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let alice_cert = server
        .certify_sender(&server_cert, b"alice", 1, alice.public(), expires)
        .expect("cert");
    let bob_cert = server
        .certify_sender(&server_cert, b"bob", 2, bob.public(), expires)
        .expect("cert");
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, CREATED_AT * 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let setup_draws = rng.take();
    let store_initial = blob(store.to_bytes().unwrap());
    let bundle = store.bundle(&bob, Some(0)).expect("bundle");
    let mut alice_session = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context).allow_classical(),
    )
    .expect("initiate");
    let initiate_draws = rng.take();
    let roots = [root.public()];

    // Envelope 1: Alice's first message (a prekey message), opened by Bob with `respond`.
    let mut envelopes = Vec::new();
    let alice_before = blob(alice_session.to_bytes().unwrap());
    let sent1 = T0;
    let inner1 = alice_session
        .send(&mut rng, sent1, b"hello, sealed")
        .expect("send");
    let send1_draws = rng.take();
    let alice_after = blob(alice_session.to_bytes().unwrap());
    let env1 =
        sealed_sender::seal_to(&mut rng, &alice, &alice_cert, bob.public(), &inner1).expect("seal");
    let seal1_draws = rng.take();
    let parts1 = seal_parts(
        a32(&seal1_draws[0]),
        &alice.seed(),
        bob.public(),
        sealed_payload(&alice_cert.to_bytes().unwrap(), &inner1),
    );
    assert_eq!(parts1.envelope, env1);
    let open1_at = T0 + 1_500;
    let store_before = blob(store.to_bytes().unwrap());
    let opened = SealedRecipient {
        identity: &bob,
        trust_roots: &roots,
        revoked_servers: &[],
    }
    .open(&env1, open1_at)
    .expect("open");
    assert!(opened.is_prekey_message());
    let (mut bob_session, delivered1) = opened
        .respond(&bob, &mut store, &Config::new(context).allow_classical())
        .expect("respond");
    envelopes.push(Json::from(
        Obj::new()
            .f("name", "alice_to_bob_prekey_message")
            .f("sender", "alice")
            .f("recipient", "bob")
            .f("sender_certificate", "alice")
            .f(
                "inner",
                Obj::new()
                    .f("operation", "Session::send")
                    .f("now_ms", big(sent1))
                    .f("body", hx(b"hello, sealed"))
                    .f("rng_draws", draws_json(&send1_draws))
                    .f("sender_state_before", hx(&alice_before))
                    .f("sender_state_after", hx(&alice_after))
                    .f("message", hx(&inner1)),
            )
            .f("seal_rng_draws", draws_json(&seal1_draws))
            .f("seal", seal_parts_json(&parts1))
            .f(
                "open",
                Obj::new()
                    .f("now_ms", big(open1_at))
                    .f("is_prekey_message", true)
                    .f("operation", "Opened::respond")
                    .f("prekey_store_before", hx(&store_before))
                    .f("prekey_store_after", hx(blob(store.to_bytes().unwrap())))
                    .f("recipient_state_before", Json::Null)
                    .f(
                        "recipient_state_after",
                        hx(blob(bob_session.to_bytes().unwrap())),
                    ),
            )
            .f(
                "expected",
                Obj::new()
                    .f("sender_address", hx(&delivered1.sender.address))
                    .f("sender_device_id", delivered1.sender.device_id)
                    .f("sender_identity", hx(delivered1.sender.identity.to_bytes()))
                    .f(
                        "received",
                        received_json(delivered1.receipt.message().unwrap()),
                    ),
            ),
    ));

    // Envelope 2: Bob's reply (a normal message), opened by Alice with `decrypt`.
    let bob_before = blob(bob_session.to_bytes().unwrap());
    let sent2 = T0 + 60_000;
    let inner2 = bob_session
        .send(&mut rng, sent2, b"hi Alice, sealed too")
        .expect("send");
    let send2_draws = rng.take();
    let bob_after = blob(bob_session.to_bytes().unwrap());
    let env2 =
        sealed_sender::seal_to(&mut rng, &bob, &bob_cert, alice.public(), &inner2).expect("seal");
    let seal2_draws = rng.take();
    let parts2 = seal_parts(
        a32(&seal2_draws[0]),
        &bob.seed(),
        alice.public(),
        sealed_payload(&bob_cert.to_bytes().unwrap(), &inner2),
    );
    assert_eq!(parts2.envelope, env2);
    let open2_at = T0 + 61_000;
    let alice_recv_before = blob(alice_session.to_bytes().unwrap());
    let opened = SealedRecipient {
        identity: &alice,
        trust_roots: &roots,
        revoked_servers: &[],
    }
    .open(&env2, open2_at)
    .expect("open");
    assert!(!opened.is_prekey_message());
    let delivered2 = opened.decrypt(&mut alice_session).expect("decrypt");
    envelopes.push(Json::from(
        Obj::new()
            .f("name", "bob_to_alice_normal_message")
            .f("sender", "bob")
            .f("recipient", "alice")
            .f("sender_certificate", "bob")
            .f(
                "inner",
                Obj::new()
                    .f("operation", "Session::send")
                    .f("now_ms", big(sent2))
                    .f("body", hx(b"hi Alice, sealed too"))
                    .f("rng_draws", draws_json(&send2_draws))
                    .f("sender_state_before", hx(&bob_before))
                    .f("sender_state_after", hx(&bob_after))
                    .f("message", hx(&inner2)),
            )
            .f("seal_rng_draws", draws_json(&seal2_draws))
            .f("seal", seal_parts_json(&parts2))
            .f(
                "open",
                Obj::new()
                    .f("now_ms", big(open2_at))
                    .f("is_prekey_message", false)
                    .f("operation", "Opened::decrypt")
                    .f("prekey_store_before", Json::Null)
                    .f("prekey_store_after", Json::Null)
                    .f("recipient_state_before", hx(&alice_recv_before))
                    .f(
                        "recipient_state_after",
                        hx(blob(alice_session.to_bytes().unwrap())),
                    ),
            )
            .f(
                "expected",
                Obj::new()
                    .f("sender_address", hx(&delivered2.sender.address))
                    .f("sender_device_id", delivered2.sender.device_id)
                    .f("sender_identity", hx(delivered2.sender.identity.to_bytes()))
                    .f(
                        "received",
                        received_json(delivered2.receipt.message().unwrap()),
                    ),
            ),
    ));

    let server_signed = {
        let mut m = kdf::LABEL_SERVER_CERTIFICATE.to_vec();
        m.extend_from_slice(&server_id.to_be_bytes());
        m.extend_from_slice(&server.public().to_bytes());
        m
    };
    let sender_signed = |c: &SenderCertificate| {
        let bytes = c.to_bytes().unwrap();
        let mut m = kdf::LABEL_SENDER_CERTIFICATE.to_vec();
        m.extend_from_slice(&bytes[..bytes.len() - 64]);
        m
    };
    let party = |id: &IdentityKeyPair, cert: &SenderCertificate| {
        Obj::new()
            .f("identity_seed", hx(id.seed().as_slice()))
            .f("identity_public", hx(id.public().to_bytes()))
            .f(
                "identity_x25519_secret",
                hx(identity_x25519_secret(&id.seed())),
            )
            .f(
                "identity_x25519_public",
                hx(id.public().x25519().unwrap().to_bytes()),
            )
            .f("certificate", certificate_json(cert))
            .f("certificate_signed_bytes", hx(sender_signed(cert)))
    };

    header(
        "sealed_sender.json",
        "Sealed sender: certificates, envelopes with every intermediate key, and what the recipient learns",
        &["§2", "§8", "§9.1", "§9.2", "§9.3", "§9.4"],
    )
    .f(
        "setup",
        Obj::new()
            .f("rng_seed", hx(rng_seed))
            .f("trust_root_seed", hx(root_seed))
            .f("trust_root_public", hx(root.public().to_bytes()))
            .f("server_seed", hx(server_seed))
            .f("server_public", hx(server.public().to_bytes()))
            .f(
                "server_certificate",
                Obj::new()
                    .f("id", server_id)
                    .f("signed_bytes", hx(&server_signed))
                    .f("bytes", hx(server_cert.to_bytes())),
            )
            .f("alice", party(&alice, &alice_cert))
            .f("bob", party(&bob, &bob_cert))
            .f("context", hx(context))
            .f("setup_rng_draws", draws_json(&setup_draws))
            .f("bob_prekey_store", hx(&store_initial))
            .f("one_time_prekey_id", 0u32)
            .f("bundle", hx(bundle.to_bytes()))
            .f("initiate_rng_draws", draws_json(&initiate_draws))
            .f("alice_state_initial", hx(&alice_before)),
    )
    .f("envelopes", Json::Array(envelopes))
    .into()
}
