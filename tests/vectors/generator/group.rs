//! group.json: sender keys (SPEC.md §13): the draws of a new sender key, its distribution, group
//! messages with every intermediate value of §13.3, out-of-order receipt (§13.4), a rotation after
//! a removal (§13.5), a framed message, the state blobs (§13.7), and negative cases.

use ed25519_dalek::{Signer, SigningKey};
use xchat_protocol::group::{
    GroupConfig, GroupId, GroupLimits, GroupSession, SenderKeyDistribution,
};
use xchat_protocol::kdf::{self, GroupChainKey, GroupMessageKey};
use xchat_protocol::{GroupError, IdentityKey, IdentityKeyPair};

use super::json::{Json, Obj, big, hx};
use super::negative::points::ed25519_torsion_variants;
use super::primitives::{a16, a32, gcm_seal};
use super::rng::Recorder;
use super::shared::{T0, draws_json, header};

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
        "Group messaging with sender keys",
        &["§13.1", "§13.2", "§13.3", "§13.4", "§13.5", "§13.7", "§8.2"],
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
