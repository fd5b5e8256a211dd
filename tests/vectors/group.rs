//! `group.json`: sender keys (SPEC.md §13) — each message's intermediate values recomputed by hand
//! from the published inputs, the whole run replayed through the API from the published draws
//! (byte-identical distributions, messages and state blobs), and every negative case; and the
//! multi-recipient envelope (SPEC.md §9.5): every value of the seal recomputed by hand from the
//! published draws (HKDF with the labels, AES-256-GCM), then the seal, the relay's split, each
//! open and receipt through the API, and its negative cases.

use ed25519_dalek::{Signature, SigningKey};
use serde_json::Value;
use xchat_protocol::content::Content;
use xchat_protocol::group::{GroupConfig, GroupId, GroupSession, SenderKeyDistribution};
use xchat_protocol::kdf::{self, GroupChainKey, GroupMessageKey};
use xchat_protocol::sealed_sender::{
    CertificateKey, CertificateKeyPair, SealedRecipient, SenderCertificate, seal_for_group,
    split_for_recipient,
};
use xchat_protocol::{ContentKind, IdentityKey, IdentityKeyPair};

use crate::generator::{dh, gcm_seal, x25519_public};
use crate::support::{
    arr, big, cat, check_identity, check_received, draws, h, h12, h32, identity, load, n32, nsize,
    scripted, st,
};

/// One message's fields against SPEC.md §13.3, by hand.
fn check_parts(
    m: &Value,
    group: &[u8],
    sender: &[u8; 32],
    signing_seed: &[u8; 32],
    key_id: u32,
    plaintext: &[u8],
) {
    let (next, mk) = GroupChainKey::from_bytes(h32(&m["chain_key"])).step();
    assert_eq!(*mk.as_bytes(), h32(&m["message_key"]));
    assert_eq!(*next.as_bytes(), h32(&m["next_chain_key"]));
    let seed: [u8; 16] = draws(&m["rng_draws"])[0].clone().try_into().unwrap();
    let k = GroupMessageKey::from_bytes(h32(&m["message_key"])).expand(&seed);
    assert_eq!((k.key, k.nonce), (h32(&m["aead_key"]), h12(&m["nonce"])));
    let header = cat(&[
        &[0x01, 0x03],
        group,
        &key_id.to_be_bytes(),
        &n32(&m["iteration"]).to_be_bytes(),
        &seed,
    ]);
    assert_eq!(header, h(&m["header"]));
    let ad = cat(&[sender, &header]);
    assert_eq!(ad, h(&m["associated_data"]));
    let sealed = gcm_seal(&k.key, &k.nonce, &ad, plaintext);
    assert_eq!(sealed, h(&m["sealed"]));
    let signed = cat(&[kdf::LABEL_GROUP_MESSAGE, sender, &header, &sealed]);
    assert_eq!(signed, h(&m["signed_bytes"]));
    let signing = SigningKey::from_bytes(signing_seed);
    let signature = Signature::from_bytes(&h(&m["signature"]).try_into().unwrap());
    signing
        .verifying_key()
        .verify_strict(&signed, &signature)
        .unwrap();
    assert_eq!(
        signing.sign_deterministic(&signed),
        signature.to_bytes(),
        "RFC 8032 is deterministic"
    );
    assert_eq!(
        h(&m["message"]),
        cat(&[&header, &sealed, &signature.to_bytes()])
    );
}

trait Deterministic {
    fn sign_deterministic(&self, m: &[u8]) -> [u8; 64];
}

impl Deterministic for SigningKey {
    fn sign_deterministic(&self, m: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.sign(m).to_bytes()
    }
}

/// The distribution by hand (§13.2).
fn distribution(
    group: &[u8],
    key_id: u32,
    iteration: u32,
    chain: &[u8],
    seed: &[u8; 32],
) -> Vec<u8> {
    let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
    cat(&[
        &[0x01],
        group,
        &key_id.to_be_bytes(),
        &iteration.to_be_bytes(),
        chain,
        &public,
    ])
}

fn take(from: &IdentityKey, to: &mut GroupSession, bytes: &[u8]) {
    to.process_distribution(from, &SenderKeyDistribution::from_bytes(bytes).unwrap())
        .unwrap();
}

#[test]
fn group_vectors() {
    let file = load("group.json");
    let ids = &file["identities"];
    let seeds = draws(&ids["rng_draws"]);
    let keys: Vec<IdentityKey> = seeds
        .iter()
        .map(|s| *IdentityKeyPair::from_seed(&s.clone().try_into().unwrap()).public())
        .collect();
    for (k, name) in keys.iter().zip(["alice", "bob", "carol"]) {
        assert_eq!(k.to_bytes(), h32(&ids[name]));
    }
    let (alice, bob) = (keys[0], keys[1]);
    let group = h32(&file["group_id"]);
    let now = big(&file["now_ms"]);
    let config = GroupConfig::default();

    // The sender key from its draws (§13.1) and its distribution.
    let sk = &file["alice_sender_key"];
    let key_draws = draws(&sk["rng_draws"]);
    let key_id = n32(&sk["key_id"]);
    assert_eq!(key_id.to_be_bytes().to_vec(), key_draws[0]);
    assert_eq!(h(&sk["chain_key"]), key_draws[1]);
    let signing_seed = h32(&sk["signing_seed"]);
    assert_eq!(signing_seed.to_vec(), key_draws[2]);
    let dist = h(&sk["distribution"]);
    assert_eq!(
        dist,
        distribution(&group, key_id, 0, &key_draws[1], &signing_seed)
    );
    let new = |who: &IdentityKey, d: Vec<Vec<u8>>| {
        scripted(d, |r| {
            GroupSession::new(r, who, GroupId(group), &keys, now, config).unwrap()
        })
    };
    let mut a = new(&alice, key_draws);
    let mut b = new(&bob, draws(&file["bob_new_rng_draws"]));
    let pending = scripted(vec![], |r| a.distribution(r, now));
    assert_eq!(pending.distribution.to_bytes().as_slice(), dist.as_slice());
    take(&alice, &mut b, &dist);
    for m in &pending.recipients {
        a.mark_distributed(m, &pending.distribution).unwrap();
    }

    // The raw messages, by hand and through the API.
    let mut wires = Vec::new();
    let mut chain = h32(&sk["chain_key"]);
    for m in arr(&file["messages"]) {
        assert_eq!(h32(&m["chain_key"]), chain, "the chain continues");
        let plaintext = h(&m["plaintext"]);
        check_parts(
            m,
            &group,
            alice.as_bytes(),
            &signing_seed,
            key_id,
            &plaintext,
        );
        let wire = scripted(draws(&m["rng_draws"]), |r| {
            a.encrypt(r, now, &plaintext).unwrap()
        });
        assert_eq!(wire, h(&m["message"]));
        chain = h32(&m["next_chain_key"]);
        wires.push(wire);
    }
    for r in arr(&file["bob_receives"]) {
        let got = b.decrypt(&alice, &wires[n32(&r["message"]) as usize]);
        match &r["outcome"].get("plaintext") {
            Some(p) => assert_eq!(got.unwrap(), h(p)),
            None => assert_eq!(
                format!("{:?}", got.unwrap_err()),
                st(&r["outcome"]["error"])
            ),
        }
        assert_eq!(b.skipped_key_count() as u32, n32(&r["skipped_keys_after"]));
    }
    assert_eq!(
        b.to_bytes().unwrap().as_slice(),
        h(&file["bob_state_after_receiving"]).as_slice()
    );

    // The framed message: a content frame of kind 0x01 (§8.2) as the plaintext.
    let f = &file["framed"];
    let frame = h(&f["frame"]);
    assert_eq!(frame.len(), 256, "padded to the smallest bucket");
    assert_eq!(&frame[..2], &[0x01, 0x01]);
    check_parts(f, &group, alice.as_bytes(), &signing_seed, key_id, &frame);
    let wire = scripted(draws(&f["rng_draws"]), |r| {
        a.send(r, now, b"hello, group").unwrap()
    });
    assert_eq!(wire, h(&f["message"]));
    let got = b.receive(&alice, &wire, now).unwrap();
    assert_eq!(got.message().unwrap().body, b"hello, group");

    // The rotation after a removal (§13.5).
    let rot = &file["rotation_after_removing_carol"];
    assert!(a.remove_member(&keys[2]));
    let rot_draws = draws(&rot["rng_draws"]);
    let new_seed: [u8; 32] = rot_draws[2].clone().try_into().unwrap();
    let new_id = n32(&rot["key_id"]);
    let rotated = scripted(rot_draws.clone(), |r| a.distribution(r, now + 1));
    assert_eq!(rotated.recipients, vec![bob]);
    let new_dist = h(&rot["distribution"]);
    assert_eq!(
        rotated.distribution.to_bytes().as_slice(),
        new_dist.as_slice()
    );
    assert_eq!(
        new_dist,
        distribution(&group, new_id, 0, &rot_draws[1], &new_seed)
    );
    take(&alice, &mut b, &new_dist);
    a.mark_distributed(&bob, &rotated.distribution).unwrap();
    let m = &rot["message"];
    check_parts(
        m,
        &group,
        alice.as_bytes(),
        &new_seed,
        new_id,
        &h(&m["plaintext"]),
    );
    let wire = scripted(draws(&m["rng_draws"]), |r| {
        a.encrypt(r, now + 1, &h(&m["plaintext"])).unwrap()
    });
    assert_eq!(wire, h(&m["message"]));
    assert_eq!(b.decrypt(&alice, &wire).unwrap(), h(&m["plaintext"]));

    // The final states, and their round trips.
    for (g, name) in [(&a, "alice_state"), (&b, "bob_state")] {
        let blob = h(&file[name]);
        assert_eq!(g.to_bytes().unwrap().as_slice(), blob.as_slice(), "{name}");
        assert_eq!(
            GroupSession::from_bytes(&blob)
                .unwrap()
                .to_bytes()
                .unwrap()
                .as_slice(),
            blob.as_slice()
        );
    }

    // Negative cases: the exact error, and the state unchanged.
    for n in arr(&file["negative"]) {
        let name = st(&n["name"]);
        let got = match st(&n["operation"]) {
            "GroupSession::decrypt" => {
                let state = h(&n["state"]);
                let mut g = GroupSession::from_bytes(&state).unwrap();
                let sender = IdentityKey::from_bytes(h32(&n["sender"])).unwrap();
                let got = g
                    .decrypt(&sender, &h(&n["message"]))
                    .map(|_| ())
                    .unwrap_err();
                assert_eq!(g.to_bytes().unwrap().as_slice(), state.as_slice(), "{name}");
                format!("{got:?}")
            }
            "SenderKeyDistribution::from_bytes" => {
                format!(
                    "{:?}",
                    SenderKeyDistribution::from_bytes(&h(&n["input"]))
                        .map(|_| ())
                        .unwrap_err()
                )
            }
            other => panic!("unknown operation {other}"),
        };
        assert_eq!(got, st(&n["expected_error"]), "{name}");
    }
}

#[test]
fn multi_recipient_vectors() {
    let file = load("group.json");
    let v = &file["multi_recipient"];
    let group = h32(&v["group_id"]);
    let now = big(&v["now_ms"]);

    // The certificate chain.
    let root = CertificateKeyPair::from_seed(&h32(&v["trust_root_seed"]));
    let server = CertificateKeyPair::from_seed(&h32(&v["server_seed"]));
    assert_eq!(root.public().to_bytes(), h32(&v["trust_root_public"]));
    assert_eq!(server.public().to_bytes(), h32(&v["server_public"]));
    let sc = &v["server_certificate"];
    let server_cert = root.certify_server(n32(&sc["id"]), &server.public());
    assert_eq!(server_cert.to_bytes().to_vec(), h(&sc["bytes"]));
    let roots = [root.public()];

    // The sender, its certificate and its sender key (§13.1, §13.2).
    let s = &v["sender"];
    let alice = identity(&s["identity_seed"]);
    assert_eq!(alice.public().to_bytes(), h32(&s["identity_public"]));
    let c = &s["certificate"];
    let cert_bytes = h(&c["bytes"]);
    let cert = SenderCertificate::from_bytes(&cert_bytes).unwrap();
    assert_eq!(
        server
            .certify_sender(
                &server_cert,
                &h(&c["address"]),
                n32(&c["device_id"]),
                alice.public(),
                big(&c["expires_ms"]),
            )
            .unwrap(),
        cert
    );
    assert_eq!(cert.identity.to_bytes(), h32(&c["identity"]));
    cert.validate(&roots, &[], now).unwrap();
    let sk = &s["sender_key"];
    let key_draws = draws(&sk["rng_draws"]);
    let key_id = n32(&sk["key_id"]);
    assert_eq!(key_id.to_be_bytes().to_vec(), key_draws[0]);
    assert_eq!(h(&sk["chain_key"]), key_draws[1]);
    let signing_seed = h32(&sk["signing_seed"]);
    assert_eq!(signing_seed.to_vec(), key_draws[2]);
    assert_eq!(
        h(&sk["distribution"]),
        distribution(&group, key_id, 0, &key_draws[1], &signing_seed)
    );

    // The group message (§13.3), by hand and re-sent from the published state.
    let gm = &v["group_message"];
    assert_eq!(h32(&gm["chain_key"]), h32(&sk["chain_key"]));
    assert_eq!(n32(&gm["iteration"]), 0);
    let body = h(&gm["body"]);
    let frame = h(&gm["frame"]);
    let content = Content::from_padded_bytes(&frame).unwrap();
    assert_eq!(content.kind, ContentKind::Message);
    assert_eq!((content.sent_at_ms, content.body), (now, body.clone()));
    check_parts(
        gm,
        &group,
        alice.public().as_bytes(),
        &signing_seed,
        key_id,
        &frame,
    );
    let message = h(&gm["message"]);
    let mut a = GroupSession::from_bytes(&h(&gm["sender_state_before"])).unwrap();
    let wire = scripted(draws(&gm["rng_draws"]), |r| a.send(r, now, &body).unwrap());
    assert_eq!(wire, message);
    assert_eq!(
        a.to_bytes().unwrap().as_slice(),
        h(&gm["sender_state_after"]).as_slice()
    );

    // §9.5 by hand: e, then M; E = X25519(e, 9).
    let seal = &v["seal"];
    let seal_draws = draws(&seal["rng_draws"]);
    assert_eq!(
        seal_draws.iter().map(Vec::len).collect::<Vec<_>>(),
        [32, 32]
    );
    let e = h32(&seal["ephemeral_secret"]);
    let m = h32(&seal["message_key"]);
    assert_eq!(
        (e.to_vec(), m.to_vec()),
        (seal_draws[0].clone(), seal_draws[1].clone())
    );
    let e_pub = x25519_public(e);
    assert_eq!(e_pub, h32(&seal["ephemeral_public"]));
    let mut payload = cat(&[
        &(cert_bytes.len() as u16).to_be_bytes(),
        &cert_bytes,
        &(message.len() as u32).to_be_bytes(),
        &message,
    ]);
    payload.resize(xchat_protocol::padding::padded_len(payload.len()), 0);
    assert_eq!(payload, h(&seal["payload"]));
    let k = kdf::hkdf_sha256::<32>(&e_pub, &m, kdf::LABEL_MULTI_PAYLOAD);
    assert_eq!(*k, h32(&seal["payload_key"]));
    let payload_aad = cat(&[&[0x02], &e_pub]);
    assert_eq!(payload_aad, h(&seal["payload_aad"]));
    let sealed = gcm_seal(&k, &[0; 12], &payload_aad, &payload);
    assert_eq!(sealed, h(&seal["sealed"]));

    let recipients = arr(&v["recipients"]);
    assert_eq!(recipients.len(), 3);
    let mut headers = Vec::new();
    let mut identities = Vec::new();
    for (i, r) in recipients.iter().enumerate() {
        assert_eq!(nsize(&r["index"]), i);
        let id = check_identity(r);
        let ik = id.public().to_bytes();
        let ik_x = id.public().x25519().unwrap().to_bytes();
        let shared = dh(e, ik_x).unwrap();
        assert_eq!(
            shared,
            dh(h32(&r["identity_x25519_secret"]), e_pub).unwrap(),
            "both sides agree"
        );
        assert_eq!(shared, h32(&r["dh"]));
        let salt = cat(&[&e_pub, &ik]);
        assert_eq!(salt, h(&r["salt"]));
        let k_i = kdf::hkdf_sha256::<32>(&salt, &shared, kdf::LABEL_MULTI_RECIPIENT);
        assert_eq!(*k_i, h32(&r["key"]));
        let aad = cat(&[&[0x02], &e_pub, &ik]);
        assert_eq!(aad, h(&r["header_aad"]));
        let header = gcm_seal(&k_i, &[0; 12], &aad, &m);
        assert_eq!(header.len(), 48);
        assert_eq!(header, h(&r["header"]));
        assert_eq!(h(&r["envelope"]), cat(&[&[0x02], &e_pub, &header, &sealed]));
        headers.push(header);
        identities.push(ik);
    }
    assert!(
        identities.windows(2).all(|w| w[0] < w[1]),
        "member order: increasing key bytes"
    );
    let mut upload = cat(&[&[0x82], &e_pub, &3u16.to_be_bytes()]);
    for header in &headers {
        upload.extend_from_slice(header);
    }
    upload.extend_from_slice(&sealed);
    assert_eq!(upload, h(&seal["upload"]));

    // Through the API: the seal from the published draws, the relay's split, each open and
    // receipt.
    let members: Vec<[u8; 32]> = a.members().map(IdentityKey::to_bytes).collect();
    assert_eq!(members, identities);
    let multi = scripted(seal_draws, |r| {
        seal_for_group(r, &alice, &cert, &a, &message).unwrap()
    });
    assert_eq!(multi.to_bytes(), upload.as_slice());
    for (i, r) in recipients.iter().enumerate() {
        let envelope = split_for_recipient(&upload, i).unwrap();
        assert_eq!(envelope, h(&r["envelope"]));
        assert_eq!(multi.for_recipient(i).unwrap(), envelope);
        let id = identity(&r["identity_seed"]);
        let o = &r["opened"];
        let opened = SealedRecipient {
            identity: &id,
            trust_roots: &roots,
            revoked_servers: &[],
        }
        .open_group(&envelope, big(&o["now_ms"]))
        .unwrap();
        assert_eq!(opened.sender(), &cert);
        let mut g = GroupSession::from_bytes(&h(&r["group_state_before"])).unwrap();
        let delivered = opened.receive(&mut g).unwrap();
        assert_eq!(delivered.sender.address, h(&o["sender_address"]));
        assert_eq!(delivered.sender.device_id, n32(&o["sender_device_id"]));
        assert_eq!(
            delivered.sender.identity.to_bytes(),
            h32(&o["sender_identity"])
        );
        let received = delivered.receipt.message().unwrap();
        check_received(received, &o["received"]);
        assert_eq!(received.body, body);
        assert_eq!(
            g.to_bytes().unwrap().as_slice(),
            h(&r["group_state_after"]).as_slice()
        );
    }

    // Negative cases: the exact error; a refused receipt leaves the group unchanged.
    let mut seen = std::collections::BTreeSet::new();
    for n in arr(&v["negative"]) {
        let name = st(&n["name"]);
        let op = st(&n["operation"]);
        seen.insert(op);
        let got = match op {
            "split_for_recipient" => format!(
                "{:?}",
                split_for_recipient(&h(&n["upload"]), nsize(&n["index"])).unwrap_err()
            ),
            "SealedRecipient::open_group" | "OpenedGroup::receive" => {
                let recipient = identity(&n["recipient_identity_seed"]);
                let roots: Vec<CertificateKey> = arr(&n["trust_roots"])
                    .iter()
                    .map(|r| CertificateKey::from_bytes(h32(r)).unwrap())
                    .collect();
                let revoked: Vec<u32> = arr(&n["revoked_servers"]).iter().map(n32).collect();
                let mut envelope = h(&n["envelope"]);
                if let Some(z) = n.get("followed_by_zero_bytes") {
                    envelope.resize(envelope.len() + nsize(z), 0);
                }
                let opened = SealedRecipient {
                    identity: &recipient,
                    trust_roots: &roots,
                    revoked_servers: &revoked,
                }
                .open_group(&envelope, big(&n["now_ms"]));
                if op == "SealedRecipient::open_group" {
                    format!("{:?}", opened.map(|_| ()).unwrap_err())
                } else {
                    let state = h(&n["group_state"]);
                    let mut g = GroupSession::from_bytes(&state).unwrap();
                    let e = opened
                        .unwrap_or_else(|e| panic!("{name}: the envelope opens, got {e:?}"))
                        .receive(&mut g)
                        .map(|_| ())
                        .unwrap_err();
                    assert_eq!(g.to_bytes().unwrap().as_slice(), state.as_slice(), "{name}");
                    format!("{e:?}")
                }
            }
            other => panic!("unknown operation {other}"),
        };
        assert_eq!(got, st(&n["expected_error"]), "{name}");
    }
    assert_eq!(seen.len(), 3, "every operation has negative cases");
}
