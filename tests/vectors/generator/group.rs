//! group.json: sender keys (SPEC.md §13): the draws of a new sender key, its distribution, group
//! messages with every intermediate value of §13.3, out-of-order receipt (§13.4), a rotation after
//! a removal (§13.5), a framed message, the state blobs (§13.7), and negative cases; and one group
//! message sealed for three recipients in a multi-recipient envelope (§9.5), with every
//! intermediate value, each delivery and what each recipient opens, and its negative cases.

use ed25519_dalek::{Signer, SigningKey};
use xchat_protocol::group::{
    GroupConfig, GroupId, GroupLimits, GroupSession, SenderKeyDistribution,
};
use xchat_protocol::kdf::{self, GroupChainKey, GroupMessageKey};
use xchat_protocol::sealed_sender::{
    self, CertificateKey, CertificateKeyPair, SealedRecipient, SenderCertificate,
    ServerCertificate, split_for_recipient,
};
use xchat_protocol::{DecodeError, GroupError, IdentityKey, IdentityKeyPair};

use super::json::{Json, Obj, big, hx};
use super::negative::points::ed25519_torsion_variants;
use super::primitives::{a16, a32, dh, gcm_seal, identity_x25519_secret, x25519_public};
use super::rng::Recorder;
use super::sealed_sender::{certificate_json, sealed_payload};
use super::shared::{T0, draws_json, header, received_json};

/// Every intermediate value of one group message (§13.3).
pub struct MessageParts {
    pub chain_key: [u8; 32],
    pub next_chain_key: [u8; 32],
    pub message_key: [u8; 32],
    pub aead_key: [u8; 32],
    pub nonce: [u8; 12],
    pub header: Vec<u8>,
    pub associated_data: Vec<u8>,
    pub sealed: Vec<u8>,
    pub signed: Vec<u8>,
    pub signature: [u8; 64],
    pub message: Vec<u8>,
}

/// A group message from its inputs, by SPEC.md §13.3 (shared with the checker).
pub fn message_parts(
    group: &[u8; 32],
    sender: &[u8; 32],
    signing_seed: &[u8; 32],
    (key_id, iteration, chain_key): (u32, u32, [u8; 32]),
    seed: [u8; 16],
    plaintext: &[u8],
) -> MessageParts {
    let (next, mk) = GroupChainKey::from_bytes(chain_key).step();
    let k = GroupMessageKey::from_bytes(*mk.as_bytes()).expand(&seed);
    let mut header = vec![0x01, 0x03];
    header.extend_from_slice(group);
    header.extend_from_slice(&key_id.to_be_bytes());
    header.extend_from_slice(&iteration.to_be_bytes());
    header.extend_from_slice(&seed);
    let mut associated_data = sender.to_vec();
    associated_data.extend_from_slice(&header);
    let sealed = gcm_seal(&k.key, &k.nonce, &associated_data, plaintext);
    let mut signed = kdf::LABEL_GROUP_MESSAGE.to_vec();
    signed.extend_from_slice(sender);
    signed.extend_from_slice(&header);
    signed.extend_from_slice(&sealed);
    let signature = SigningKey::from_bytes(signing_seed)
        .sign(&signed)
        .to_bytes();
    let mut message = header.clone();
    message.extend_from_slice(&sealed);
    message.extend_from_slice(&signature);
    MessageParts {
        chain_key,
        next_chain_key: *next.as_bytes(),
        message_key: *mk.as_bytes(),
        aead_key: k.key,
        nonce: k.nonce,
        header,
        associated_data,
        sealed,
        signed,
        signature,
        message,
    }
}

fn parts_json(p: &MessageParts) -> Obj {
    Obj::new()
        .f("chain_key", hx(p.chain_key))
        .f("message_key", hx(p.message_key))
        .f("next_chain_key", hx(p.next_chain_key))
        .f("aead_key", hx(p.aead_key))
        .f("nonce", hx(p.nonce))
        .f("header", hx(&p.header))
        .f("associated_data", hx(&p.associated_data))
        .f("sealed", hx(&p.sealed))
        .f("signed_bytes", hx(&p.signed))
        .f("signature", hx(p.signature))
        .f("message", hx(&p.message))
}

/// A sender key from the draws of §13.1: (key id, chain key, signing seed).
fn sender_key(draws: &[Vec<u8>]) -> (u32, [u8; 32], [u8; 32]) {
    assert_eq!(
        draws.iter().map(Vec::len).collect::<Vec<_>>(),
        [4, 32, 32],
        "SPEC.md §13.1"
    );
    let id = u32::from_be_bytes(draws[0].clone().try_into().unwrap());
    (id, a32(&draws[1]), a32(&draws[2]))
}

fn distribution_bytes(
    group: &[u8; 32],
    (key_id, iteration, chain_key): (u32, u32, [u8; 32]),
    signing_seed: &[u8; 32],
) -> Vec<u8> {
    let mut d = vec![0x01];
    d.extend_from_slice(group);
    d.extend_from_slice(&key_id.to_be_bytes());
    d.extend_from_slice(&iteration.to_be_bytes());
    d.extend_from_slice(&chain_key);
    d.extend_from_slice(
        SigningKey::from_bytes(signing_seed)
            .verifying_key()
            .as_bytes(),
    );
    d
}

fn take_distribution(from: &IdentityKey, to: &mut GroupSession, bytes: &[u8]) {
    let d = SenderKeyDistribution::from_bytes(bytes).unwrap();
    to.process_distribution(from, &d).unwrap();
}

fn outcome(r: Result<Vec<u8>, GroupError>) -> Json {
    match r {
        Ok(p) => Obj::new().f("plaintext", hx(p)).into(),
        Err(e) => Obj::new().f("error", format!("{e:?}")).into(),
    }
}

pub fn group_json() -> Json {
    let mut rng = Recorder::new([0x47; 32]);
    let ids: Vec<IdentityKeyPair> = (0..3)
        .map(|_| IdentityKeyPair::generate(&mut rng))
        .collect();
    let id_draws = rng.take();
    let keys: Vec<IdentityKey> = ids.iter().map(|i| *i.public()).collect();
    let (alice, bob) = (keys[0], keys[1]);
    let group = rng.bytes32();
    let config = GroupConfig::default();
    let mut a = GroupSession::new(&mut rng, &alice, GroupId(group), &keys, T0, config).unwrap();
    let key_draws = rng.take();
    let (key_id, chain0, signing_seed) = sender_key(&key_draws);
    let mut b = GroupSession::new(&mut rng, &bob, GroupId(group), &keys, T0, config).unwrap();
    let bob_draws = rng.take();

    // The distribution (§13.2): no draw, the key is not due for rotation.
    let pending = a.distribution(&mut rng, T0);
    assert!(rng.take().is_empty());
    let dist = pending.distribution.to_bytes().to_vec();
    assert_eq!(
        dist,
        distribution_bytes(&group, (key_id, 0, chain0), &signing_seed)
    );
    take_distribution(&alice, &mut b, &dist);
    for m in &pending.recipients {
        a.mark_distributed(m, &pending.distribution).unwrap();
    }

    // Three raw messages (§13.3), each recomputed from its seed.
    let mut chain = chain0;
    let mut messages = Vec::new();
    let mut wires = Vec::new();
    for (i, text) in [&b"first"[..], b"second", b"third"].iter().enumerate() {
        let wire = a.encrypt(&mut rng, T0, text).unwrap();
        let draws = rng.take();
        let p = message_parts(
            &group,
            alice.as_bytes(),
            &signing_seed,
            (key_id, i as u32, chain),
            a16(&draws[0]),
            text,
        );
        assert_eq!(p.message, wire, "message {i}");
        chain = p.next_chain_key;
        messages.push(
            parts_json(&p)
                .f("iteration", i as u32)
                .f("plaintext", hx(text))
                .f("rng_draws", draws_json(&draws)),
        );
        wires.push(wire);
    }

    // Bob receives them out of order (§13.4): 2 stores the keys of 0 and 1; a repeat of 2 is a
    // duplicate.
    let mut receipts = Vec::new();
    for i in [2usize, 0, 2, 1] {
        let got = b.decrypt(&alice, &wires[i]);
        receipts.push(
            Obj::new()
                .f("message", i as u32)
                .f("outcome", outcome(got))
                .f("skipped_keys_after", b.skipped_key_count() as u32),
        );
    }
    let bob_state = b.to_bytes().unwrap().to_vec();

    // A framed message (§8.2 inside §13.3): the plaintext is the padded content frame.
    let framed = a.send(&mut rng, T0, b"hello, group").unwrap();
    let framed_draws = rng.take();
    let received = b.receive(&alice, &framed, T0).unwrap();
    let frame = xchat_protocol::content::Content {
        kind: xchat_protocol::ContentKind::Message,
        sent_at_ms: T0,
        timer: xchat_protocol::Timer::OFF,
        body: b"hello, group".to_vec(),
    }
    .to_padded_bytes()
    .unwrap();
    let p = message_parts(
        &group,
        alice.as_bytes(),
        &signing_seed,
        (key_id, 3, chain),
        a16(&framed_draws[0]),
        &frame,
    );
    assert_eq!(p.message, framed);
    assert_eq!(received.message().unwrap().body, b"hello, group");

    // Removing Carol makes the next send rotate (§13.5): a new key, to Bob only.
    assert!(a.remove_member(&keys[2]));
    let rotated = a.distribution(&mut rng, T0 + 1);
    let rotation_draws = rng.take();
    let (new_id, new_chain, new_seed) = sender_key(&rotation_draws);
    let new_dist = rotated.distribution.to_bytes().to_vec();
    assert_eq!(
        new_dist,
        distribution_bytes(&group, (new_id, 0, new_chain), &new_seed)
    );
    assert_eq!(rotated.recipients, vec![bob]);
    take_distribution(&alice, &mut b, &new_dist);
    a.mark_distributed(&bob, &rotated.distribution).unwrap();
    let after = a.encrypt(&mut rng, T0 + 1, b"after removal").unwrap();
    let after_draws = rng.take();
    let pa = message_parts(
        &group,
        alice.as_bytes(),
        &new_seed,
        (new_id, 0, new_chain),
        a16(&after_draws[0]),
        b"after removal",
    );
    assert_eq!(pa.message, after);
    assert_eq!(b.decrypt(&alice, &after).unwrap(), b"after removal");

    header(
        "group.json",
        "Group messaging with sender keys, and a group message sealed for several recipients",
        &[
            "§13.1", "§13.2", "§13.3", "§13.4", "§13.5", "§13.7", "§8.2", "§9.5",
        ],
    )
    .f(
        "identities",
        Obj::new()
            .f("rng_draws", draws_json(&id_draws))
            .f("alice", hx(alice.as_bytes()))
            .f("bob", hx(bob.as_bytes()))
            .f("carol", hx(keys[2].as_bytes())),
    )
    .f("group_id", hx(group))
    .f("now_ms", big(T0))
    .f(
        "alice_sender_key",
        Obj::new()
            .f("rng_draws", draws_json(&key_draws))
            .f("key_id", key_id)
            .f("chain_key", hx(chain0))
            .f("signing_seed", hx(signing_seed))
            .f("distribution", hx(&dist)),
    )
    .f("bob_new_rng_draws", draws_json(&bob_draws))
    .f(
        "messages",
        Json::Array(messages.into_iter().map(Json::from).collect()),
    )
    .f(
        "bob_receives",
        Json::Array(receipts.into_iter().map(Json::from).collect()),
    )
    .f("bob_state_after_receiving", hx(&bob_state))
    .f(
        "framed",
        parts_json(&p)
            .f("iteration", 3u32)
            .f("frame", hx(&frame))
            .f("rng_draws", draws_json(&framed_draws)),
    )
    .f(
        "rotation_after_removing_carol",
        Obj::new()
            .f("rng_draws", draws_json(&rotation_draws))
            .f("key_id", new_id)
            .f("distribution", hx(&new_dist))
            .f(
                "message",
                parts_json(&pa)
                    .f("iteration", 0u32)
                    .f("plaintext", hx(b"after removal"))
                    .f("rng_draws", draws_json(&after_draws)),
            ),
    )
    .f("alice_state", hx(a.to_bytes().unwrap().as_slice()))
    .f("bob_state", hx(b.to_bytes().unwrap().as_slice()))
    .f("negative", negative(&ids, group, &wires, &dist))
    .f("multi_recipient", multi_recipient())
    .into()
}

/// Negative cases: a receiver state blob, a sender, an input and the exact error (§13.2–§13.4).
fn negative(ids: &[IdentityKeyPair], group: [u8; 32], wires: &[Vec<u8>], dist: &[u8]) -> Json {
    let mut rng = Recorder::new([0x48; 32]);
    let (alice, bob) = (*ids[0].public(), *ids[1].public());
    let limits = GroupLimits {
        max_jump: 1,
        ..GroupLimits::DEFAULT
    };
    let config = GroupConfig {
        limits,
        ..GroupConfig::default()
    };
    let mut b = GroupSession::new(&mut rng, &bob, GroupId(group), &[alice], T0, config).unwrap();
    take_distribution(&alice, &mut b, dist);
    let state = b.to_bytes().unwrap().to_vec();
    let outsider = *IdentityKeyPair::generate(&mut rng).public();
    let edit = |i: usize, f: &dyn Fn(&mut Vec<u8>)| {
        let mut m = wires[i].clone();
        f(&mut m);
        m
    };
    let len = wires[0].len();
    let unknown_key = edit(0, &|m| m[37] ^= 1);
    let unknown_id = u32::from_be_bytes(unknown_key[34..38].try_into().unwrap());
    let cases: Vec<(&str, &str, IdentityKey, Vec<u8>, GroupError)> = vec![
        (
            "version 0x02",
            "§13.3",
            alice,
            edit(0, &|m| m[0] = 2),
            decode("UnknownVersion(2)"),
        ),
        (
            "type 0x01 (a session message)",
            "§13.3",
            alice,
            edit(0, &|m| m[1] = 1),
            decode("UnknownType(1)"),
        ),
        (
            "header cut at 57 bytes",
            "§13.3",
            alice,
            wires[0][..57].to_vec(),
            decode("Truncated"),
        ),
        (
            "no room for tag and signature",
            "§13.3",
            alice,
            wires[0][..58 + 79].to_vec(),
            decode("Truncated"),
        ),
        (
            "another group id",
            "§13.4 step 2",
            alice,
            edit(0, &|m| m[2] ^= 1),
            GroupError::WrongGroup,
        ),
        (
            "sender not a member",
            "§13.4 step 3",
            outsider,
            wires[0].clone(),
            GroupError::NotAMember,
        ),
        (
            "sender is the receiver",
            "§13.4 step 3",
            bob,
            wires[0].clone(),
            GroupError::NotAMember,
        ),
        (
            "key id not held",
            "§13.4 step 4",
            alice,
            unknown_key,
            GroupError::UnknownSenderKey(unknown_id),
        ),
        (
            "signature's last byte changed",
            "§13.4 step 5",
            alice,
            edit(0, &|m| m[len - 1] ^= 1),
            GroupError::InvalidSignature,
        ),
        (
            "ciphertext changed (the signature covers it)",
            "§13.4 step 5",
            alice,
            edit(0, &|m| m[60] ^= 1),
            GroupError::InvalidSignature,
        ),
        (
            "iteration changed to 2^32 - 1 (unsigned)",
            "§13.4 step 5",
            alice,
            edit(0, &|m| m[38..42].copy_from_slice(&[0xff; 4])),
            GroupError::InvalidSignature,
        ),
        (
            "message 2 with max_jump 1",
            "§13.4 step 7",
            alice,
            wires[2].clone(),
            GroupError::TooFarInFuture,
        ),
    ];
    let mut out = Vec::new();
    for (name, spec, sender, message, expected) in cases {
        let mut g = GroupSession::from_bytes(&state).unwrap();
        assert_eq!(g.decrypt(&sender, &message), Err(expected), "{name}");
        assert_eq!(g.to_bytes().unwrap().as_slice(), state.as_slice(), "{name}");
        out.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("spec", spec)
                .f("operation", "GroupSession::decrypt")
                .f("state", hx(&state))
                .f("sender", hx(sender.as_bytes()))
                .f("message", hx(&message))
                .f("expected_error", format!("{expected:?}")),
        ));
    }
    // A duplicate: message 0 again after it was read.
    let mut g = GroupSession::from_bytes(&state).unwrap();
    g.decrypt(&alice, &wires[0]).unwrap();
    let read = g.to_bytes().unwrap().to_vec();
    assert_eq!(
        g.decrypt(&alice, &wires[0]),
        Err(GroupError::DuplicateMessage)
    );
    out.push(Json::from(
        Obj::new()
            .f("name", "message 0 again after it was read")
            .f("spec", "§13.4 step 6")
            .f("operation", "GroupSession::decrypt")
            .f("state", hx(&read))
            .f("sender", hx(alice.as_bytes()))
            .f("message", hx(&wires[0]))
            .f("expected_error", "DuplicateMessage"),
    ));
    // Distributions (§13.2).
    let mut bad = |name: &str, bytes: Vec<u8>, expected: &str| {
        let got = SenderKeyDistribution::from_bytes(&bytes)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(format!("{got:?}"), expected, "{name}");
        out.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("spec", "§13.2")
                .f("operation", "SenderKeyDistribution::from_bytes")
                .f("input", hx(&bytes))
                .f("expected_error", expected),
        ));
    };
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = dist.to_vec();
        f(&mut d);
        d
    };
    bad(
        "distribution version 0x02",
        with(&|d| d[0] = 2),
        "UnknownVersion(2)",
    );
    bad(
        "distribution of 104 bytes",
        dist[..104].to_vec(),
        "Truncated",
    );
    bad(
        "distribution of 106 bytes",
        with(&|d| d.push(0)),
        "TrailingBytes",
    );
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    bad(
        "signing key: the identity point (small order)",
        with(&|d| d[73..].copy_from_slice(&identity_point)),
        "InvalidKey",
    );
    let torsion = ed25519_torsion_variants(&dist[73..105]);
    bad(
        "signing key: a torsion variant",
        with(&|d| d[73..].copy_from_slice(&torsion[0])),
        "InvalidKey",
    );
    Json::Array(out)
}

fn decode(name: &str) -> GroupError {
    use xchat_protocol::DecodeError::*;
    GroupError::Decode(match name {
        "UnknownVersion(2)" => UnknownVersion(2),
        "UnknownType(1)" => UnknownType(1),
        _ => Truncated,
    })
}

// ---------------------------------------------------------------------------------------------
// The multi-recipient envelope (SPEC.md §9.5)
// ---------------------------------------------------------------------------------------------

/// One recipient's header of §9.5, by hand.
pub struct HeaderParts {
    pub identity: [u8; 32],
    pub identity_x25519: [u8; 32],
    pub dh: [u8; 32],
    pub salt: Vec<u8>,
    pub key: [u8; 32],
    pub aad: Vec<u8>,
    pub header: Vec<u8>,
}

/// Every value of one multi-recipient seal (§9.5) from `e`, `M`, the recipients in member
/// order and the payload, by hand: HKDF with the labels and AES-256-GCM directly.
pub struct MultiParts {
    pub ephemeral_public: [u8; 32],
    pub headers: Vec<HeaderParts>,
    pub payload_key: [u8; 32],
    pub payload_aad: Vec<u8>,
    pub sealed: Vec<u8>,
    pub upload: Vec<u8>,
    pub envelopes: Vec<Vec<u8>>,
}

pub fn multi_parts(
    e: [u8; 32],
    m: [u8; 32],
    recipients: &[IdentityKey],
    payload: &[u8],
) -> MultiParts {
    let ephemeral_public = x25519_public(e);
    let headers: Vec<HeaderParts> = recipients
        .iter()
        .map(|r| {
            let identity = r.to_bytes();
            let identity_x25519 = r.x25519().unwrap().to_bytes();
            let dh = dh(e, identity_x25519).expect("DH(e, IK_i)");
            let salt = [&ephemeral_public[..], &identity].concat();
            let key = *kdf::hkdf_sha256::<32>(&salt, &dh, kdf::LABEL_MULTI_RECIPIENT);
            let aad = [&[0x02][..], &ephemeral_public, &identity].concat();
            let header = gcm_seal(&key, &[0; 12], &aad, &m);
            assert_eq!(header.len(), 48);
            HeaderParts {
                identity,
                identity_x25519,
                dh,
                salt,
                key,
                aad,
                header,
            }
        })
        .collect();
    let payload_key = *kdf::hkdf_sha256::<32>(&ephemeral_public, &m, kdf::LABEL_MULTI_PAYLOAD);
    let payload_aad = [&[0x02][..], &ephemeral_public].concat();
    let sealed = gcm_seal(&payload_key, &[0; 12], &payload_aad, payload);
    let mut upload = vec![0x82];
    upload.extend_from_slice(&ephemeral_public);
    upload.extend_from_slice(&u16::try_from(recipients.len()).unwrap().to_be_bytes());
    for h in &headers {
        upload.extend_from_slice(&h.header);
    }
    upload.extend_from_slice(&sealed);
    let envelopes = headers
        .iter()
        .map(|h| [&[0x02][..], &ephemeral_public, &h.header, &sealed].concat())
        .collect();
    MultiParts {
        ephemeral_public,
        headers,
        payload_key,
        payload_aad,
        sealed,
        upload,
        envelopes,
    }
}

/// Alice seals one framed group message for Bob, Carol and Dave (§9.5); the relay splits it;
/// each opens their envelope and receives the message into their group.
fn multi_recipient() -> Json {
    let rng_seed = [0x4d; 32];
    let mut rng = Recorder::new(rng_seed);
    let root_seed = rng.bytes32();
    let server_seed = rng.bytes32();
    let group = rng.bytes32();
    let root = CertificateKeyPair::from_seed(&root_seed);
    let server = CertificateKeyPair::from_seed(&server_seed);
    let server_id = 7;
    let server_cert = root.certify_server(server_id, &server.public());
    let roots = [root.public()];
    let expires = T0 + 86_400_000;
    let names = ["alice", "bob", "carol", "dave"];
    let ids: Vec<IdentityKeyPair> = names
        .iter()
        .map(|_| IdentityKeyPair::generate(&mut rng))
        .collect();
    assert_eq!(rng.take().len(), 4);
    let keys: Vec<IdentityKey> = ids.iter().map(|i| *i.public()).collect();
    let certs: Vec<SenderCertificate> = (0..4)
        .map(|i| {
            server
                .certify_sender(
                    &server_cert,
                    names[i].as_bytes(),
                    i as u32 + 1,
                    &keys[i],
                    expires,
                )
                .unwrap()
        })
        .collect();
    let alice = keys[0];
    let config = GroupConfig::default();
    let mut a = GroupSession::new(&mut rng, &alice, GroupId(group), &keys, T0, config).unwrap();
    let key_draws = rng.take();
    let (key_id, chain0, signing_seed) = sender_key(&key_draws);
    let mut groups: Vec<GroupSession> = keys[1..]
        .iter()
        .map(|k| GroupSession::new(&mut rng, k, GroupId(group), &keys, T0, config).unwrap())
        .collect();
    rng.take();
    let pending = a.distribution(&mut rng, T0);
    assert!(rng.take().is_empty());
    let dist = pending.distribution.to_bytes().to_vec();
    assert_eq!(
        dist,
        distribution_bytes(&group, (key_id, 0, chain0), &signing_seed)
    );
    for g in &mut groups {
        take_distribution(&alice, g, &dist);
    }
    for m in &pending.recipients {
        a.mark_distributed(m, &pending.distribution).unwrap();
    }

    // The group message (§13.3): a framed message, recomputed from its seed.
    let body = b"hello, everyone";
    let alice_before = a.to_bytes().unwrap().to_vec();
    let message = a.send(&mut rng, T0, body).unwrap();
    let send_draws = rng.take();
    let alice_after = a.to_bytes().unwrap().to_vec();
    let frame = xchat_protocol::content::Content {
        kind: xchat_protocol::ContentKind::Message,
        sent_at_ms: T0,
        timer: xchat_protocol::Timer::OFF,
        body: body.to_vec(),
    }
    .to_padded_bytes()
    .unwrap();
    let parts = message_parts(
        &group,
        alice.as_bytes(),
        &signing_seed,
        (key_id, 0, chain0),
        a16(&send_draws[0]),
        &frame,
    );
    assert_eq!(parts.message, message);

    // The seal (§9.5): draws e then M; every value by hand, then the crate's bytes.
    let sealed = sealed_sender::seal_for_group(&mut rng, &ids[0], &certs[0], &a, &message).unwrap();
    let seal_draws = rng.take();
    assert_eq!(
        seal_draws.iter().map(Vec::len).collect::<Vec<_>>(),
        [32, 32],
        "SPEC.md §9.5: e, then M"
    );
    let members: Vec<IdentityKey> = a.members().copied().collect();
    let mut sorted = keys[1..].to_vec();
    sorted.sort_by_key(IdentityKey::to_bytes);
    assert_eq!(members, sorted, "member order: increasing key bytes");
    assert_eq!(sealed.recipients(), members.as_slice());
    let cert_bytes = certs[0].to_bytes().unwrap();
    let payload = sealed_payload(&cert_bytes, &message);
    let (e, m) = (a32(&seal_draws[0]), a32(&seal_draws[1]));
    let mp = multi_parts(e, m, &members, &payload);
    assert_eq!(mp.upload, sealed.to_bytes());
    assert_eq!(
        mp.upload.len(),
        1 + 32 + 2 + 3 * 48 + payload.len() + 16,
        "one payload, 48 bytes per recipient"
    );

    // Each delivery: the relay's split, the open, the group's receipt.
    let open_at = T0 + 1_000;
    let who = |k: &IdentityKey| keys.iter().position(|x| x == k).unwrap();
    let mut recipients = Vec::new();
    let mut states = Vec::new();
    for (i, member) in members.iter().enumerate() {
        let w = who(member);
        let envelope = split_for_recipient(&mp.upload, i).unwrap();
        assert_eq!(envelope, mp.envelopes[i]);
        assert_eq!(sealed.for_recipient(i).unwrap(), envelope);
        let hp = &mp.headers[i];
        let secret = identity_x25519_secret(&ids[w].seed());
        assert_eq!(dh(secret, mp.ephemeral_public).unwrap(), hp.dh);
        let g = &mut groups[w - 1];
        let before = g.to_bytes().unwrap().to_vec();
        let opened = SealedRecipient {
            identity: &ids[w],
            trust_roots: &roots,
            revoked_servers: &[],
        }
        .open_group(&envelope, open_at)
        .unwrap();
        assert_eq!(opened.sender(), &certs[0]);
        let delivered = opened.receive(g).unwrap();
        let received = delivered.receipt.message().unwrap();
        assert_eq!(received.body, body);
        let after = g.to_bytes().unwrap().to_vec();
        recipients.push(Json::from(
            Obj::new()
                .f("name", names[w])
                .f("index", i as u32)
                .f("identity_seed", hx(ids[w].seed().as_slice()))
                .f("identity_public", hx(hp.identity))
                .f("identity_x25519_secret", hx(secret))
                .f("identity_x25519_public", hx(hp.identity_x25519))
                .f("dh", hx(hp.dh))
                .f("salt", hx(&hp.salt))
                .f("key", hx(hp.key))
                .f("header_aad", hx(&hp.aad))
                .f("header", hx(&hp.header))
                .f("envelope", hx(&envelope))
                .f("group_state_before", hx(&before))
                .f(
                    "opened",
                    Obj::new()
                        .f("now_ms", big(open_at))
                        .f("sender_address", hx(&delivered.sender.address))
                        .f("sender_device_id", delivered.sender.device_id)
                        .f("sender_identity", hx(delivered.sender.identity.to_bytes()))
                        .f("received", received_json(received)),
                )
                .f("group_state_after", hx(&after)),
        ));
        states.push(Delivery {
            who: w,
            before,
            after,
            envelope,
        });
    }

    let negative = multi_negative(
        &mut rng,
        &ids,
        &certs,
        &server,
        &server_cert,
        &roots,
        &mp,
        &message,
        &states,
        open_at,
    );

    Obj::new()
        .f(
            "description",
            "Alice's framed group message sealed once for the group's three other members \
             (SPEC.md §9.5): every value of the seal, the upload, each recipient's envelope as \
             the relay splits it, and what each opens and receives",
        )
        .f("rng_seed", hx(rng_seed))
        .f("group_id", hx(group))
        .f("now_ms", big(T0))
        .f("trust_root_seed", hx(root_seed))
        .f("trust_root_public", hx(root.public().to_bytes()))
        .f("server_seed", hx(server_seed))
        .f("server_public", hx(server.public().to_bytes()))
        .f(
            "server_certificate",
            Obj::new()
                .f("id", server_id)
                .f("bytes", hx(server_cert.to_bytes())),
        )
        .f(
            "sender",
            Obj::new()
                .f("name", "alice")
                .f("identity_seed", hx(ids[0].seed().as_slice()))
                .f("identity_public", hx(alice.as_bytes()))
                .f("certificate", certificate_json(&certs[0]))
                .f(
                    "sender_key",
                    Obj::new()
                        .f("rng_draws", draws_json(&key_draws))
                        .f("key_id", key_id)
                        .f("chain_key", hx(chain0))
                        .f("signing_seed", hx(signing_seed))
                        .f("distribution", hx(&dist)),
                ),
        )
        .f(
            "group_message",
            parts_json(&parts)
                .f("iteration", 0u32)
                .f("body", hx(body))
                .f("frame", hx(&frame))
                .f("rng_draws", draws_json(&send_draws))
                .f("sender_state_before", hx(&alice_before))
                .f("sender_state_after", hx(&alice_after)),
        )
        .f(
            "seal",
            Obj::new()
                .f("operation", "seal_for_group")
                .f("rng_draws", draws_json(&seal_draws))
                .f("ephemeral_secret", hx(e))
                .f("ephemeral_public", hx(mp.ephemeral_public))
                .f("message_key", hx(m))
                .f("payload", hx(&payload))
                .f("payload_key", hx(mp.payload_key))
                .f("payload_aad", hx(&mp.payload_aad))
                .f("sealed", hx(&mp.sealed))
                .f("upload", hx(&mp.upload)),
        )
        .f("recipients", Json::Array(recipients))
        .f("negative", negative)
        .into()
}

/// One recipient's delivery: who (an index into the parties), its group state before and after
/// the receipt, and its envelope.
struct Delivery {
    who: usize,
    before: Vec<u8>,
    after: Vec<u8>,
    envelope: Vec<u8>,
}

/// Negative cases of §9.5: the relay's split, the open (in the order of its checks) and the
/// group's refusal of an envelope that opens.
#[allow(clippy::too_many_arguments)]
fn multi_negative(
    rng: &mut Recorder,
    ids: &[IdentityKeyPair],
    certs: &[SenderCertificate],
    server: &CertificateKeyPair,
    server_cert: &ServerCertificate,
    roots: &[CertificateKey],
    mp: &MultiParts,
    message: &[u8],
    states: &[Delivery],
    open_at: u64,
) -> Json {
    let mut out = Vec::new();
    let upload = &mp.upload;
    let mut split = |name: &str, input: Vec<u8>, index: u32, expected: DecodeError| {
        assert_eq!(
            split_for_recipient(&input, index as usize),
            Err(expected),
            "{name}"
        );
        out.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("spec", "§9.5 (split_for_recipient)")
                .f("operation", "split_for_recipient")
                .f("upload", hx(&input))
                .f("index", index)
                .f("expected_error", format!("{expected:?}")),
        ));
    };
    let with_n = |n: u16| {
        let mut u = upload.clone();
        u[33..35].copy_from_slice(&n.to_be_bytes());
        u
    };
    split(
        "a delivered envelope (version 0x02) given to the relay",
        mp.envelopes[0].clone(),
        0,
        DecodeError::UnknownVersion(2),
    );
    split("empty upload", Vec::new(), 0, DecodeError::Truncated);
    split(
        "cut inside the third header",
        upload[..35 + 2 * 48 + 20].to_vec(),
        0,
        DecodeError::Truncated,
    );
    split(
        "15 bytes after the headers (no room for a tag)",
        upload[..35 + 3 * 48 + 15].to_vec(),
        0,
        DecodeError::Truncated,
    );
    split(
        "n = 65535 with three headers",
        with_n(u16::MAX),
        0,
        DecodeError::Truncated,
    );
    split(
        "index = n (3)",
        upload.clone(),
        3,
        DecodeError::NonCanonical,
    );
    split("n = 0, index 0", with_n(0), 0, DecodeError::NonCanonical);

    // The open, as the first recipient in member order unless stated.
    let (w0, after0, env0) = (states[0].who, &states[0].after, &states[0].envelope);
    let (w1, env1) = (states[1].who, &states[1].envelope);
    let r0 = &ids[w0];
    let max = 1
        + 32
        + 48
        + xchat_protocol::padding::padded_len(
            6 + sealed_sender::MAX_SENDER_CERTIFICATE_LEN + sealed_sender::MAX_MULTI_MESSAGE_LEN,
        )
        + 16;
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut e = env0.clone();
        f(&mut e);
        e
    };
    let one_to_one = sealed_sender::seal_to(rng, &ids[0], &certs[0], r0.public(), message).unwrap();
    let split4 = split_for_recipient(&with_n(4), 0).unwrap();
    let other_root = CertificateKeyPair::from_seed(&rng.bytes32()).public();
    let mallory = IdentityKeyPair::generate(rng);
    let mallory_cert = server
        .certify_sender(
            server_cert,
            b"mallory",
            9,
            mallory.public(),
            T0 + 86_400_000,
        )
        .unwrap();
    let by_mallory = sealed_sender::seal_multi_to(rng, &mallory_cert, &[*r0.public()], message)
        .unwrap()
        .for_recipient(0)
        .unwrap();
    let resealed = sealed_sender::seal_multi_to(rng, &certs[w1], &[*r0.public()], message)
        .unwrap()
        .for_recipient(0)
        .unwrap();
    let to_self = sealed_sender::seal_multi_to(rng, &certs[w0], &[*r0.public()], message)
        .unwrap()
        .for_recipient(0)
        .unwrap();
    let expires = certs[0].expires_ms;
    let key_id = u32::from_be_bytes(message[34..38].try_into().unwrap());

    struct Case<'a> {
        name: &'a str,
        spec: &'a str,
        recipient: &'a IdentityKeyPair,
        roots: Vec<CertificateKey>,
        revoked: Vec<u32>,
        envelope: Vec<u8>,
        zeros: usize,
        now: u64,
        group_state: Option<&'a [u8]>,
        expected: String,
    }
    let case = |name: &'static str, spec: &'static str, envelope: Vec<u8>, expected: &str| Case {
        name,
        spec,
        recipient: r0,
        roots: roots.to_vec(),
        revoked: Vec::new(),
        envelope,
        zeros: 0,
        now: open_at,
        group_state: None,
        expected: expected.to_owned(),
    };
    let group0 = states[0].before.as_slice();
    let cases = vec![
        Case {
            zeros: max + 1 - env0.len(),
            ..case(
                "one byte over the longest envelope",
                "§9.5 open_group: length",
                env0.clone(),
                "Decode(TooLarge)",
            )
        },
        case(
            "a 1:1 envelope (version 0x01) sealed to the recipient",
            "§9.5 open_group: version",
            one_to_one,
            "Decode(UnknownVersion(1))",
        ),
        case(
            "the upload (version 0x82) itself",
            "§9.5 open_group: version",
            upload.clone(),
            "Decode(UnknownVersion(130))",
        ),
        case(
            "E with its top bit set (non-canonical)",
            "§9.5 open_group: E (§2.3)",
            edit(&|e| e[32] |= 0x80),
            "Decode(InvalidKey)",
        ),
        case(
            "header cut at 47 bytes",
            "§9.5 open_group: header",
            env0[..1 + 32 + 47].to_vec(),
            "Decode(Truncated)",
        ),
        case(
            "15 bytes after the header",
            "§9.5 open_group: tag",
            env0[..1 + 32 + 48 + 15].to_vec(),
            "Decode(Truncated)",
        ),
        case(
            "E = 0 (low order)",
            "§9.5 open_group: DH(IK_R, E)",
            edit(&|e| e[1..33].fill(0)),
            "NonContributory",
        ),
        case(
            "a header byte flipped",
            "§9.5 open_group: header AEAD",
            edit(&|e| e[40] ^= 0x01),
            "DecryptionFailed",
        ),
        case(
            "another recipient's envelope",
            "§9.5 open_group: header AEAD",
            env1.clone(),
            "DecryptionFailed",
        ),
        case(
            "a payload byte flipped",
            "§9.5 open_group: payload AEAD",
            edit(&|e| e[100] ^= 0x01),
            "DecryptionFailed",
        ),
        case(
            "split from the upload with n raised to 4 (the payload loses its first 48 bytes)",
            "§9.5 open_group: payload AEAD",
            split4,
            "DecryptionFailed",
        ),
        Case {
            roots: vec![other_root],
            ..case(
                "server certificate under another trust root",
                "§9.5 open_group: §9.3 step 1",
                env0.clone(),
                "InvalidCertificate",
            )
        },
        Case {
            revoked: vec![server_cert.id],
            ..case(
                "server revoked",
                "§9.5 open_group: §9.3 step 2",
                env0.clone(),
                "RevokedServer",
            )
        },
        Case {
            now: expires,
            ..case(
                "opened when the certificate expires",
                "§9.5 open_group: §9.3 step 4",
                env0.clone(),
                "CertificateExpired",
            )
        },
        case(
            "sealed to ourselves with our own certificate",
            "§9.5 open_group: own identity",
            to_self,
            "SelfSend",
        ),
        Case {
            group_state: Some(group0),
            ..case(
                "an outsider with a valid certificate seals Alice's message",
                "§9.5 receive, §13.4 step 3",
                by_mallory,
                "Group(NotAMember)",
            )
        },
        Case {
            group_state: Some(group0),
            expected: format!("Group(UnknownSenderKey({key_id}))"),
            ..case(
                "another member re-seals Alice's message under its own certificate",
                "§9.5 receive, §13.4 step 4",
                resealed,
                "",
            )
        },
        Case {
            group_state: Some(after0.as_slice()),
            ..case(
                "the same envelope again after it was received",
                "§9.5 receive, §13.4 step 6",
                env0.clone(),
                "Group(DuplicateMessage)",
            )
        },
    ];
    for c in cases {
        let mut envelope = c.envelope.clone();
        envelope.resize(envelope.len() + c.zeros, 0);
        let opened = SealedRecipient {
            identity: c.recipient,
            trust_roots: &c.roots,
            revoked_servers: &c.revoked,
        }
        .open_group(&envelope, c.now);
        let got = match c.group_state {
            None => format!("{:?}", opened.map(|_| ()).unwrap_err()),
            Some(state) => {
                let mut g = GroupSession::from_bytes(state).unwrap();
                let e = opened.unwrap().receive(&mut g).map(|_| ()).unwrap_err();
                assert_eq!(g.to_bytes().unwrap().as_slice(), state, "{}", c.name);
                format!("{e:?}")
            }
        };
        assert_eq!(got, c.expected, "{}", c.name);
        let mut o = Obj::new()
            .f("name", c.name)
            .f("spec", c.spec)
            .f(
                "operation",
                if c.group_state.is_some() {
                    "OpenedGroup::receive"
                } else {
                    "SealedRecipient::open_group"
                },
            )
            .f("recipient_identity_seed", hx(c.recipient.seed().as_slice()))
            .f(
                "trust_roots",
                Json::Array(c.roots.iter().map(|r| hx(r.to_bytes())).collect()),
            )
            .f(
                "revoked_servers",
                Json::Array(c.revoked.iter().map(|&r| Json::from(r)).collect()),
            )
            .f("envelope", hx(&c.envelope));
        if c.zeros > 0 {
            o = o.f("followed_by_zero_bytes", c.zeros as u64);
        }
        o = o.f("now_ms", big(c.now));
        if let Some(state) = c.group_state {
            o = o.f("group_state", hx(state));
        }
        out.push(Json::from(o.f("expected_error", c.expected)));
    }
    Json::Array(out)
}
