//! `sealed_sender.json`: server and sender certificates, every step of sealing (§9.2) from the
//! published inputs, and sealing and opening through the API.

use xchat_protocol::kdf;
use xchat_protocol::sealed_sender::{
    self, CertificateKey, CertificateKeyPair, SealedRecipient, SenderCertificate, ServerCertificate,
};
use xchat_protocol::{Config, PreKeyBundle, Session, Trust};

use crate::generator::{dh, gcm_seal, identity_x25519_secret, x25519_public};
use crate::support::{
    arr, big, cat, check_identity, check_received, draws, h, h32, load, n32, rebuild_store,
    scripted, session, st, store,
};

#[test]
fn sealed_sender_vectors() {
    let file = load("sealed_sender.json");
    let setup = &file["setup"];
    let root = CertificateKeyPair::from_seed(&h32(&setup["trust_root_seed"]));
    let server = CertificateKeyPair::from_seed(&h32(&setup["server_seed"]));
    assert_eq!(root.public().to_bytes(), h32(&setup["trust_root_public"]));
    assert_eq!(server.public().to_bytes(), h32(&setup["server_public"]));
    let sc = &setup["server_certificate"];
    let server_id = n32(&sc["id"]);
    assert_eq!(
        h(&sc["signed_bytes"]),
        cat(&[
            kdf::LABEL_SERVER_CERTIFICATE,
            &server_id.to_be_bytes(),
            &server.public().to_bytes()
        ])
    );
    let server_cert = root.certify_server(server_id, &server.public());
    let sc_bytes = h(&sc["bytes"]);
    assert_eq!(server_cert.to_bytes(), sc_bytes);
    assert_eq!(
        ServerCertificate::from_bytes(&sc_bytes).unwrap(),
        server_cert
    );
    let roots = [CertificateKey::from_bytes(h32(&setup["trust_root_public"])).unwrap()];

    let mut certs = std::collections::BTreeMap::new();
    let mut ids = std::collections::BTreeMap::new();
    for name in ["alice", "bob"] {
        let p = &setup[name];
        let id = check_identity(p);
        let c = &p["certificate"];
        let cert = server
            .certify_sender(
                &server_cert,
                &h(&c["address"]),
                n32(&c["device_id"]),
                id.public(),
                big(&c["expires_ms"]),
            )
            .unwrap();
        let bytes = h(&c["bytes"]);
        assert_eq!(cert.to_bytes().unwrap(), bytes);
        assert_eq!(SenderCertificate::from_bytes(&bytes).unwrap(), cert);
        assert_eq!(n32(&c["server_id"]), server_id);
        assert_eq!(
            h(&p["certificate_signed_bytes"]),
            cat(&[kdf::LABEL_SENDER_CERTIFICATE, &bytes[..bytes.len() - 64]])
        );
        cert.validate(&roots, &[], cert.expires_ms - 1).unwrap();
        certs.insert(name, cert);
        ids.insert(name, id);
    }
    let context = h(&setup["context"]);

    // Bob's store and Alice's session from the published draws.
    let setup_draws = draws(&setup["setup_rng_draws"]);
    assert_eq!(setup_draws[0], ids["alice"].seed().to_vec());
    assert_eq!(setup_draws[1], ids["bob"].seed().to_vec());
    let bundle = PreKeyBundle::from_bytes(&h(&setup["bundle"])).unwrap();
    let rebuilt = rebuild_store(
        &ids["bob"],
        bundle.signed_prekey.created_at,
        &setup_draws[2..],
    );
    assert_eq!(
        rebuilt.to_bytes().unwrap().as_slice(),
        h(&setup["bob_prekey_store"]).as_slice()
    );
    assert_eq!(
        rebuilt
            .bundle(&ids["bob"], Some(n32(&setup["one_time_prekey_id"])))
            .unwrap(),
        bundle
    );
    let a0 = scripted(draws(&setup["initiate_rng_draws"]), |r| {
        Session::initiate(
            r,
            &ids["alice"],
            &bundle,
            Trust::FirstUse,
            &Config::new(&context).allow_classical(),
        )
        .unwrap()
    });
    assert_eq!(
        a0.to_bytes().unwrap().as_slice(),
        h(&setup["alice_state_initial"]).as_slice()
    );

    let envelopes = arr(&file["envelopes"]);
    assert!(envelopes.len() >= 2);
    let mut saw_respond = false;
    let mut saw_decrypt = false;
    for env in envelopes {
        let sender = &ids[st(&env["sender"])];
        let recipient = &ids[st(&env["recipient"])];
        let cert = &certs[st(&env["sender_certificate"])];
        let inner = &env["inner"];
        let message = h(&inner["message"]);

        // The session message, re-sent from the published sender state.
        let mut s = session(&inner["sender_state_before"]);
        let wire = scripted(draws(&inner["rng_draws"]), |r| {
            s.send(r, big(&inner["now_ms"]), &h(&inner["body"]))
                .unwrap()
        });
        assert_eq!(wire, message);
        assert_eq!(
            s.to_bytes().unwrap().as_slice(),
            h(&inner["sender_state_after"]).as_slice()
        );

        // §9.2, every step from the published inputs.
        let p = &env["seal"];
        let e = h32(&p["ephemeral_secret"]);
        assert_eq!(draws(&env["seal_rng_draws"]), vec![e.to_vec()]);
        let e_pub = x25519_public(e);
        assert_eq!(e_pub, h32(&p["ephemeral_public"]));
        let r_ik = recipient.public().to_bytes();
        let r_x = recipient.public().x25519().unwrap().to_bytes();
        let r_xs = identity_x25519_secret(&recipient.seed());
        let s_xs = identity_x25519_secret(&sender.seed());
        let e_dh = dh(e, r_x).unwrap();
        assert_eq!(e_dh, dh(r_xs, e_pub).unwrap());
        assert_eq!(e_dh, h32(&p["ephemeral_dh"]));
        let salt1 = cat(&[&e_pub, &r_ik]);
        assert_eq!(salt1, h(&p["ephemeral_salt"]));
        let okm = kdf::hkdf_sha256::<64>(&salt1, &e_dh, kdf::LABEL_SEALED_EPHEMERAL);
        assert_eq!(okm[..32], h(&p["chain_key"])[..]);
        assert_eq!(okm[32..], h(&p["identity_key"])[..]);
        let id_aad = cat(&[&[0x01], &e_pub, &r_ik]);
        assert_eq!(id_aad, h(&p["identity_aad"]));
        let enc_id = gcm_seal(
            &h32(&p["identity_key"]),
            &[0; 12],
            &id_aad,
            &sender.public().to_bytes(),
        );
        assert_eq!(enc_id, h(&p["encrypted_identity"]));
        assert_eq!(enc_id.len(), 48);
        let s_dh = dh(s_xs, r_x).unwrap();
        assert_eq!(
            s_dh,
            dh(r_xs, sender.public().x25519().unwrap().to_bytes()).unwrap()
        );
        assert_eq!(s_dh, h32(&p["static_dh"]));
        let salt2 = cat(&[&okm[..32], &enc_id]);
        assert_eq!(salt2, h(&p["static_salt"]));
        let k_content = kdf::hkdf_sha256::<32>(&salt2, &s_dh, kdf::LABEL_SEALED_STATIC);
        assert_eq!(*k_content, h32(&p["content_key"]));
        let cert_bytes = cert.to_bytes().unwrap();
        let mut payload = cat(&[
            &(cert_bytes.len() as u16).to_be_bytes(),
            &cert_bytes,
            &(message.len() as u32).to_be_bytes(),
            &message,
        ]);
        let unpadded = payload.len();
        payload.resize(xchat_protocol::padding::padded_len(unpadded), 0);
        assert_eq!(payload, h(&p["payload"]));
        let c_aad = cat(&[&id_aad, &enc_id]);
        assert_eq!(c_aad, h(&p["content_aad"]));
        let enc_content = gcm_seal(&k_content, &[0; 12], &c_aad, &payload);
        assert_eq!(enc_content, h(&p["encrypted_content"]));
        let envelope = cat(&[&[0x01], &e_pub, &enc_id, &enc_content]);
        assert_eq!(envelope, h(&p["envelope"]));

        // Sender side through the API.
        let sealed = scripted(vec![e.to_vec()], |r| {
            sealed_sender::seal_to(r, sender, cert, recipient.public(), &message).unwrap()
        });
        assert_eq!(sealed, envelope);

        // Recipient side through the API.
        let o = &env["open"];
        let opened = SealedRecipient {
            identity: recipient,
            trust_roots: &roots,
            revoked_servers: &[],
        }
        .open(&envelope, big(&o["now_ms"]))
        .unwrap();
        assert_eq!(
            opened.is_prekey_message(),
            o["is_prekey_message"].as_bool().unwrap()
        );
        assert_eq!(opened.sender(), cert);
        let delivered = match st(&o["operation"]) {
            "Opened::respond" => {
                saw_respond = true;
                let mut pre = store(&o["prekey_store_before"]);
                let (s, d) = opened
                    .respond(
                        recipient,
                        &mut pre,
                        &Config::new(&context).allow_classical(),
                    )
                    .unwrap();
                assert_eq!(
                    pre.to_bytes().unwrap().as_slice(),
                    h(&o["prekey_store_after"]).as_slice()
                );
                assert_eq!(
                    s.to_bytes().unwrap().as_slice(),
                    h(&o["recipient_state_after"]).as_slice()
                );
                d
            }
            "Opened::decrypt" => {
                saw_decrypt = true;
                let mut s = session(&o["recipient_state_before"]);
                let d = opened.decrypt(&mut s).unwrap();
                assert_eq!(
                    s.to_bytes().unwrap().as_slice(),
                    h(&o["recipient_state_after"]).as_slice()
                );
                d
            }
            other => panic!("operation {other}"),
        };
        let x = &env["expected"];
        assert_eq!(delivered.sender.address, h(&x["sender_address"]));
        assert_eq!(delivered.sender.device_id, n32(&x["sender_device_id"]));
        assert_eq!(
            delivered.sender.identity.to_bytes(),
            h32(&x["sender_identity"])
        );
        check_received(delivered.receipt.message().unwrap(), &x["received"]);
        assert_eq!(delivered.receipt.message().unwrap().body, h(&inner["body"]));
    }
    assert!(saw_respond && saw_decrypt);
}
