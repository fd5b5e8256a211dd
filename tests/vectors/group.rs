//! `group.json`: sender keys (SPEC.md §13) — each message's intermediate values recomputed by hand
//! from the published inputs, the whole run replayed through the API from the published draws
//! (byte-identical distributions, messages and state blobs), and every negative case.

use ed25519_dalek::{Signature, SigningKey};
use serde_json::Value;
use xchat_protocol::group::{GroupConfig, GroupId, GroupSession, SenderKeyDistribution};
use xchat_protocol::kdf::{self, GroupChainKey, GroupMessageKey};
use xchat_protocol::{IdentityKey, IdentityKeyPair};

use crate::generator::gcm_seal;
use crate::support::{arr, big, cat, draws, h, h12, h32, load, n32, scripted, st};

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
