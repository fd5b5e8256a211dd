//! `ratchet.json`: the double ratchet's chains (§3.2), message keys and AEAD (§3.3-§3.5, §5.2),
//! and every send and delivery event replayed from the published states.

use serde_json::Value;
use xchat_protocol::kdf;
use xchat_protocol::{Config, Incoming, PreKeyBundle, Session, Trust};

use crate::generator::{
    self, associated_data, dh, expand, gcm_seal, identity_x25519_secret, kdf_ck, kdf_rk,
    x25519_public,
};
use crate::support::{
    arr, cat, check_chacha_stream, draws, h, h12, h16, h32, identity, load, n32, nsize,
    parse_prefix, rebuild_store, scripted, session, split_wire, st, store,
};

#[test]
fn ratchet_vectors() {
    let file = load("ratchet.json");
    let setup = &file["setup"];
    let alice = identity(&setup["alice_identity_seed"]);
    let bob = identity(&setup["bob_identity_seed"]);
    assert_eq!(alice.public().to_bytes(), h32(&setup["alice_identity"]));
    assert_eq!(bob.public().to_bytes(), h32(&setup["bob_identity"]));
    let context = h(&setup["context"]);
    let setup_draws = draws(&setup["setup_rng_draws"]);
    let init_draws = draws(&setup["initiate_rng_draws"]);
    let events = arr(&file["events"]);

    // The draws are the seeded ChaCha20 stream: setup, initiate, then every send in order.
    let mut stream = [setup_draws.clone(), init_draws.clone()].concat();
    for e in events.iter().filter(|e| e["action"] == "send") {
        stream.extend(draws(&e["rng_draws"]));
    }
    check_chacha_stream(h32(&setup["rng_seed"]), &stream);
    assert_eq!(setup_draws[0], alice.seed().to_vec());
    assert_eq!(setup_draws[1], bob.seed().to_vec());

    let bundle_bytes = h(&setup["bundle"]);
    let bundle = PreKeyBundle::from_bytes(&bundle_bytes).unwrap();
    let rebuilt = rebuild_store(&bob, bundle.signed_prekey.created_at, &setup_draws[2..]);
    assert_eq!(
        rebuilt.to_bytes().unwrap().as_slice(),
        h(&setup["bob_prekey_store"]).as_slice()
    );
    let opk_id = n32(&setup["one_time_prekey_id"]);
    assert_eq!(
        rebuilt.bundle(&bob, Some(opk_id)).unwrap().to_bytes(),
        bundle_bytes
    );
    let alice_initial = scripted(init_draws.clone(), |r| {
        Session::initiate(
            r,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(&context).allow_classical(),
        )
        .unwrap()
    });
    assert_eq!(
        alice_initial.to_bytes().unwrap().as_slice(),
        h(&setup["alice_state_initial"]).as_slice()
    );

    // SK and AD from the draws.
    let spk_secret: [u8; 32] = setup_draws[2].clone().try_into().unwrap();
    let spk_public = bundle.signed_prekey.key.to_bytes();
    assert_eq!(x25519_public(spk_secret), spk_public);
    let opk_secret: [u8; 32] = setup_draws[3 + opk_id as usize].clone().try_into().unwrap();
    let ek: [u8; 32] = init_draws[0].clone().try_into().unwrap();
    let sk = kdf::x3dh(
        &dh(identity_x25519_secret(&alice.seed()), spk_public).unwrap(),
        &dh(ek, bob.public().x25519().unwrap().to_bytes()).unwrap(),
        &dh(ek, spk_public).unwrap(),
        Some(&dh(opk_secret, x25519_public(ek)).unwrap()),
    );
    assert_eq!(*sk.as_bytes(), h32(&setup["shared_secret"]));
    let ad = associated_data(
        &alice.public().to_bytes(),
        &bob.public().to_bytes(),
        &context,
    );
    assert_eq!(ad, h(&setup["associated_data"]));

    // Chains: one root step each (§3.2), alternating owners, each continuing the last root key.
    let chains = arr(&file["chains"]);
    assert!(chains.len() >= 5, "several turns");
    for (i, c) in chains.iter().enumerate() {
        assert_eq!(nsize(&c["index"]), i);
        let secret = h32(&c["ratchet_key_secret"]);
        assert_eq!(x25519_public(secret), h32(&c["ratchet_key_public"]));
        let dh_out = dh(secret, h32(&c["peer_ratchet_key"])).unwrap();
        assert_eq!(dh_out, h32(&c["dh_output"]));
        let (rk, ck) = kdf_rk(h32(&c["root_key_before"]), dh_out);
        assert_eq!(rk, h32(&c["root_key_after"]));
        assert_eq!(ck, h32(&c["chain_key_0"]));
        if i == 0 {
            assert_eq!(c["owner"], "alice");
            assert_eq!(h32(&c["root_key_before"]), *sk.as_bytes());
            assert_eq!(h32(&c["peer_ratchet_key"]), spk_public);
            assert_eq!(secret.to_vec(), init_draws[1]);
        } else {
            let prev = &chains[i - 1];
            assert_ne!(c["owner"], prev["owner"]);
            assert_eq!(c["root_key_before"], prev["root_key_after"]);
            assert_eq!(c["peer_ratchet_key"], prev["ratchet_key_public"]);
        }
    }

    // Messages: chain walk (§3.3), expansion (§3.4), header and AEAD (§3.5, §5.2).
    let messages = arr(&file["messages"]);
    let message = |id: &str| messages.iter().find(|m| m["id"] == id).unwrap();
    for m in messages {
        let chain = &chains[nsize(&m["chain"])];
        assert_eq!(m["sender"], chain["owner"]);
        let n = n32(&m["header"]["n"]);
        let mut ck = h32(&chain["chain_key_0"]);
        for _ in 0..n {
            ck = kdf_ck(ck).0;
        }
        assert_eq!(ck, h32(&m["chain_key"]));
        let (next, mk) = kdf_ck(ck);
        assert_eq!(next, h32(&m["next_chain_key"]));
        assert_eq!(mk, h32(&m["message_key"]));
        let seed = h16(&m["seed"]);
        let (key, nonce) = expand(mk, seed);
        assert_eq!(key, h32(&m["aead_key"]));
        assert_eq!(nonce, h12(&m["aead_nonce"]));
        let bytes = h(&m["bytes"]);
        let (fields, prefix, ciphertext) = split_wire(&bytes);
        assert_eq!(fields, h(&m["prekey_fields"]).as_slice());
        assert_eq!(m["type"] == "prekey", !fields.is_empty());
        assert_eq!(
            parse_prefix(prefix),
            (
                h32(&chain["ratchet_key_public"]),
                n32(&m["header"]["pn"]),
                n,
                seed
            )
        );
        assert_eq!(
            h32(&m["header"]["ratchet_key"]),
            h32(&chain["ratchet_key_public"])
        );
        assert_eq!(prefix, h(&m["prefix"]).as_slice());
        // SPEC.md §3.5: AD, the prekey fields (empty for a normal message) and the prefix.
        let aad = cat(&[&ad, fields, prefix]);
        assert_eq!(aad, h(&m["aad"]));
        let plaintext = h(&m["plaintext"]);
        assert_eq!(gcm_seal(&key, &nonce, &aad, &plaintext), ciphertext);
        assert_eq!(ciphertext, h(&m["ciphertext"]).as_slice());
        assert!(Incoming::decode(&bytes).is_ok());
    }

    // Events: every send re-run from the published sender state with the published draws, and
    // every delivery decrypted from the published receiver state.
    let mut last_state: [Option<Value>; 2] = [Some(setup["alice_state_initial"].clone()), None];
    let slot = |who: &Value| usize::from(who == "bob");
    let mut delivery_order = Vec::new();
    let mut used = Vec::new();
    let mut paths = std::collections::BTreeSet::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(nsize(&e["step"]), i);
        let m = message(st(&e["message"]));
        let bytes = h(&m["bytes"]);
        let plaintext = h(&m["plaintext"]);
        let who = slot(&e["actor"]);
        assert_eq!(
            e["state_before"],
            last_state[who].clone().unwrap_or(Value::Null)
        );
        match st(&e["action"]) {
            "send" => {
                assert_eq!(e["actor"], m["sender"]);
                let mut s = session(&e["state_before"]);
                let d = draws(&e["rng_draws"]);
                // §1: a due half-step draws the new ratchet key, then the seed.
                assert_eq!(d.last().unwrap(), &h(&m["seed"]));
                if d.len() == 2 {
                    let chain = &chains[nsize(&m["chain"])];
                    assert_eq!(d[0], h(&chain["ratchet_key_secret"]));
                    assert_eq!(n32(&m["header"]["n"]), 0);
                }
                let wire = scripted(d, |r| s.encrypt(r, &plaintext).unwrap());
                assert_eq!(wire, bytes);
                assert_eq!(
                    s.to_bytes().unwrap().as_slice(),
                    h(&e["state_after"]).as_slice()
                );
            }
            "deliver" => {
                assert_ne!(e["actor"], m["sender"]);
                let (s, got) = match st(&e["operation"]) {
                    "Session::respond" => {
                        assert!(e["state_before"].is_null());
                        let mut pre = store(&e["prekey_store_before"]);
                        let (s, got) = Session::respond(
                            &bob,
                            &mut pre,
                            &bytes,
                            &Config::new(&context).allow_classical(),
                        )
                        .unwrap();
                        assert_eq!(
                            pre.to_bytes().unwrap().as_slice(),
                            h(&e["prekey_store_after"]).as_slice()
                        );
                        (s, got)
                    }
                    "Session::decrypt" => {
                        let mut s = session(&e["state_before"]);
                        let got = s.decrypt(&bytes).unwrap();
                        (s, got)
                    }
                    other => panic!("operation {other}"),
                };
                assert_eq!(got, plaintext);
                assert_eq!(got, h(&e["plaintext"]));
                assert_eq!(
                    s.to_bytes().unwrap().as_slice(),
                    h(&e["state_after"]).as_slice()
                );
                let path = st(&e["path"]);
                paths.insert(path.to_owned());
                let used_key = e["used_stored_skipped_key"].as_bool().unwrap();
                assert_eq!(used_key, path == "skipped_key");
                if used_key {
                    used.push(e["message"].clone());
                }
                delivery_order.push(e["message"].clone());
                // Keys stored by this delivery are those of the named messages.
                let after = generator::parse_session(&h(&e["state_after"]));
                for k in arr(&e["stored_skipped_keys"]) {
                    let owner = message(st(&k["message"]));
                    assert_eq!(k["message_key"], owner["message_key"]);
                    assert_eq!(k["ratchet_key"], owner["header"]["ratchet_key"]);
                    assert_eq!(k["n"], owner["header"]["n"]);
                    assert!(
                        generator::skipped(&after)
                            .iter()
                            .any(|s| s.key == h32(&k["ratchet_key"])
                                && s.n == n32(&k["n"])
                                && s.mk == h32(&k["message_key"]))
                    );
                }
            }
            other => panic!("action {other}"),
        }
        last_state[who] = Some(e["state_after"].clone());
    }
    assert_eq!(&delivery_order, arr(&file["delivery_order"]));
    assert_eq!(&used, arr(&file["used_stored_skipped_keys"]));
    assert_eq!(
        paths.len(),
        3,
        "all three decrypt paths are exercised: {paths:?}"
    );
    // Every message is delivered exactly once.
    let mut delivered: Vec<_> = delivery_order.iter().map(|v| st(v).to_owned()).collect();
    let mut sent: Vec<_> = messages.iter().map(|m| st(&m["id"]).to_owned()).collect();
    delivered.sort();
    sent.sort();
    assert_eq!(delivered, sent);
}
