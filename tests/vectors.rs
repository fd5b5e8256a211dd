//! Checks the published test vectors in `test-vectors/` through the public API, both ways:
//! published ciphertexts decrypt to the published plaintexts from the published receiver state,
//! re-running the sender side with the published random draws gives the published bytes, every
//! intermediate value is recomputed from its inputs with the public building blocks (and AES-GCM /
//! SHA-2 directly), and every negative vector fails with exactly the recorded error. Finally the
//! files are regenerated in memory and must equal the committed ones, so any change to the wire
//! or state formats fails here until the vectors are deliberately regenerated.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "vectors/generator.rs"]
mod generator;

use std::path::PathBuf;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde_json::Value;
use sha2::{Digest, Sha256};
use xchat_protocol::content::{self, Content};
use xchat_protocol::kdf;
use xchat_protocol::sealed_sender::{
    self, CertificateKey, CertificateKeyPair, SealedRecipient, SenderCertificate, ServerCertificate,
};
use xchat_protocol::{
    ContentKind, Deadline, IdentityKey, IdentityKeyPair, Incoming, Limits, PreKeyBundle,
    PreKeyStore, PublicKey, Received, Role, Session, SignedPreKey, Timer, TimerStart,
};

use generator::{
    Scripted, associated_data, dh, expand, gcm_seal, identity_x25519_secret, kdf_ck, kdf_rk,
    x25519_public,
};
use xchat_protocol::{Config, Trust};

// ---------------------------------------------------------------------------------------------
// Reading the files
// ---------------------------------------------------------------------------------------------

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-vectors")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).expect("vector file");
    let v: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["file"], name);
    assert_eq!(v["format_version"], 1);
    v
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or_else(|| panic!("hex string, got {v}"))).expect("hex")
}

fn h32(v: &Value) -> [u8; 32] {
    h(v).try_into().expect("32 bytes")
}

fn h16(v: &Value) -> [u8; 16] {
    h(v).try_into().expect("16 bytes")
}

fn h12(v: &Value) -> [u8; 12] {
    h(v).try_into().expect("12 bytes")
}

fn n32(v: &Value) -> u32 {
    u32::try_from(v.as_u64().unwrap_or_else(|| panic!("number, got {v}"))).expect("u32")
}

fn nsize(v: &Value) -> usize {
    usize::try_from(v.as_u64().expect("number")).expect("usize")
}

fn big(v: &Value) -> u64 {
    v.as_str()
        .expect("u64 as a string")
        .parse()
        .expect("decimal")
}

fn st(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("string, got {v}"))
}

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("array, got {v}"))
}

fn draws(v: &Value) -> Vec<Vec<u8>> {
    arr(v).iter().map(h).collect()
}

fn opt_h(v: &Value) -> Option<Vec<u8>> {
    (!v.is_null()).then(|| h(v))
}

fn opt_n32(v: &Value) -> Option<u32> {
    (!v.is_null()).then(|| n32(v))
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Runs `f` with an RNG that yields exactly `draws`, and checks that all were consumed.
fn scripted<T>(draws: Vec<Vec<u8>>, f: impl FnOnce(&mut Scripted) -> T) -> T {
    let mut rng = Scripted::new(draws);
    let out = f(&mut rng);
    assert_eq!(
        rng.remaining(),
        0,
        "the operation drew fewer times than published"
    );
    out
}

/// The published draws are the ChaCha20 stream of the published seed, in order.
fn check_chacha_stream(seed: [u8; 32], draws: &[Vec<u8>]) {
    let mut rng = ChaCha20Rng::from_seed(seed);
    for d in draws {
        let mut b = vec![0; d.len()];
        rng.fill_bytes(&mut b);
        assert_eq!(&b, d, "draw is not the next ChaCha20 output");
    }
}

fn identity(seed: &Value) -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&h32(seed))
}

fn session(blob: &Value) -> Session {
    let bytes = h(blob);
    let s = Session::from_bytes(&bytes).expect("session blob");
    assert_eq!(
        s.to_bytes().unwrap().as_slice(),
        bytes.as_slice(),
        "re-encodes"
    );
    s
}

fn store(blob: &Value) -> PreKeyStore {
    let bytes = h(blob);
    let s = PreKeyStore::from_bytes(&bytes).expect("store blob");
    assert_eq!(
        s.to_bytes().unwrap().as_slice(),
        bytes.as_slice(),
        "re-encodes"
    );
    s
}

fn start(v: &Value) -> TimerStart {
    match st(v) {
        "on_send" => TimerStart::OnSend,
        "on_read" => TimerStart::OnRead,
        other => panic!("start {other}"),
    }
}

fn timer(v: &Value) -> Timer {
    Timer {
        duration_s: n32(&v["duration_s"]),
        start: start(&v["start"]),
        version: n32(&v["version"]),
    }
}

fn deadline(v: &Value) -> Option<Deadline> {
    match st(&v["kind"]) {
        "expired" => None,
        "never" => Some(Deadline::Never),
        "at" => Some(Deadline::At(big(&v["ms"]))),
        "after_read" => Some(Deadline::AfterRead(big(&v["ms"]))),
        other => panic!("deadline kind {other}"),
    }
}

fn kind(v: &Value) -> ContentKind {
    match st(v) {
        "message" => ContentKind::Message,
        "timer_update" => ContentKind::TimerUpdate,
        other => panic!("kind {other}"),
    }
}

fn check_received(r: &Received, v: &Value) {
    assert_eq!(r.kind, kind(&v["kind"]));
    assert_eq!(r.body, h(&v["body"]));
    assert_eq!(r.sent_at_ms, big(&v["sent_at_ms"]));
    assert_eq!(r.timer, timer(&v["timer"]));
    assert_eq!(Some(r.deadline), deadline(&v["deadline"]));
    assert_eq!(r.timer_changed, v["timer_changed"].as_bool().expect("bool"));
}

/// `X25519(identity secret, base point)` equals the published X25519 form, and both the Ed25519
/// key and the X25519 forms match the seed.
fn check_identity(v: &Value) -> IdentityKeyPair {
    let id = identity(&v["identity_seed"]);
    assert_eq!(id.public().to_bytes(), h32(&v["identity_public"]));
    let x = identity_x25519_secret(&h32(&v["identity_seed"]));
    assert_eq!(x, h32(&v["identity_x25519_secret"]));
    assert_eq!(x25519_public(x), h32(&v["identity_x25519_public"]));
    assert_eq!(id.public().x25519().unwrap().to_bytes(), x25519_public(x));
    id
}

/// Splits a wire message into (prekey fields, 58-byte prefix, ciphertext) per §5.2/§5.3.
fn split_wire(wire: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let offset = match wire[1] {
        1 => 0,
        2 if wire[70] == 0 => 71,
        2 => 75,
        t => panic!("type {t}"),
    };
    (
        &wire[..offset],
        &wire[offset..offset + 58],
        &wire[offset + 58..],
    )
}

/// Parses the 58-byte prefix (§5.2): (ratchet key, PN, N, seed).
fn parse_prefix(prefix: &[u8]) -> ([u8; 32], u32, u32, [u8; 16]) {
    assert_eq!(prefix.len(), 58);
    assert_eq!(prefix[0], 0x01, "version");
    assert_eq!(prefix[1], 0x01, "type");
    (
        prefix[2..34].try_into().unwrap(),
        u32::from_be_bytes(prefix[34..38].try_into().unwrap()),
        u32::from_be_bytes(prefix[38..42].try_into().unwrap()),
        prefix[42..58].try_into().unwrap(),
    )
}

/// Rebuilds Bob's store from the draws of `rotate_signed_prekey` then
/// `generate_one_time_prekeys(n)`.
fn rebuild_store(bob: &IdentityKeyPair, created_at: u64, draws: &[Vec<u8>]) -> PreKeyStore {
    let mut s = PreKeyStore::new();
    scripted(draws[..1].to_vec(), |r| {
        s.rotate_signed_prekey(r, bob, created_at * 1000);
    });
    scripted(draws[1..].to_vec(), |r| {
        s.generate_one_time_prekeys(r, draws.len() - 1).unwrap();
    });
    s
}

// ---------------------------------------------------------------------------------------------
// x3dh.json
// ---------------------------------------------------------------------------------------------

#[test]
fn x3dh_vectors() {
    let file = load("x3dh.json");
    let cases = arr(&file["cases"]);
    assert!(cases.len() >= 3);
    let mut saw_dh4 = [false, false];
    for c in cases {
        let all: Vec<Vec<u8>> = arr(&c["rng_draws"])
            .iter()
            .flat_map(|d| draws(&d["draws"]))
            .collect();
        check_chacha_stream(h32(&c["rng_seed"]), &all);
        let by_op = |name: &str| -> Vec<Vec<u8>> {
            let e = arr(&c["rng_draws"])
                .iter()
                .find(|d| st(&d["operation"]).starts_with(name))
                .unwrap_or_else(|| panic!("draws of {name}"));
            draws(&e["draws"])
        };
        let context = h(&c["context"]);

        // Identities: seeds are the draws of IdentityKeyPair::generate.
        let alice = check_identity(&c["alice"]);
        let bob = check_identity(&c["bob"]);
        let generated = scripted(by_op("IdentityKeyPair::generate (alice)"), |r| {
            IdentityKeyPair::generate(r)
        });
        assert!(generated.ct_eq(&alice));
        assert_eq!(
            by_op("IdentityKeyPair::generate (bob)"),
            vec![bob.seed().to_vec()]
        );

        // Signed prekey and one-time prekeys.
        let spk = &c["bob"]["signed_prekey"];
        let spk_secret = h32(&spk["secret"]);
        let spk_public = h32(&spk["public"]);
        assert_eq!(x25519_public(spk_secret), spk_public);
        let signed = SignedPreKey::signed_bytes(
            n32(&spk["id"]),
            big(&spk["created_at"]),
            &PublicKey::from_bytes(spk_public).unwrap(),
        );
        assert_eq!(signed, h(&spk["signed_bytes"]));
        assert_eq!(
            signed,
            cat(&[
                kdf::LABEL_SIGNED_PREKEY,
                &n32(&spk["id"]).to_be_bytes(),
                &big(&spk["created_at"]).to_be_bytes(),
                &spk_public,
            ])
        );
        assert_eq!(
            bob.sign(&signed).to_vec(),
            h(&spk["signature"]),
            "RFC 8032 is deterministic"
        );
        assert_eq!(
            by_op("PreKeyStore::rotate_signed_prekey"),
            vec![spk_secret.to_vec()]
        );
        let otpks = arr(&c["bob"]["one_time_prekeys"]);
        for (i, k) in otpks.iter().enumerate() {
            assert_eq!(n32(&k["id"]), i as u32);
            assert_eq!(x25519_public(h32(&k["secret"])), h32(&k["public"]));
        }
        let otpk_draws = by_op("PreKeyStore::generate_one_time_prekeys");
        assert_eq!(
            otpk_draws,
            otpks.iter().map(|k| h(&k["secret"])).collect::<Vec<_>>()
        );
        let store_draws: Vec<Vec<u8>> = [vec![spk_secret.to_vec()], otpk_draws].concat();
        let mut bob_store = rebuild_store(&bob, big(&spk["created_at"]), &store_draws);
        assert_eq!(
            bob_store.to_bytes().unwrap().as_slice(),
            h(&c["bob_prekey_store_before"]).as_slice()
        );

        // The bundle: encoding (§5.1) and what it decodes to.
        let opk_id = opt_n32(&c["bundle"]["one_time_prekey_id"]);
        let bundle_bytes = h(&c["bundle"]["bytes"]);
        assert_eq!(
            bob_store.bundle(&bob, opk_id).unwrap().to_bytes(),
            bundle_bytes
        );
        let opk = opk_id.map(|id| {
            let k = otpks.iter().find(|k| n32(&k["id"]) == id).unwrap();
            (id, h32(&k["secret"]), h32(&k["public"]))
        });
        let mut expected_bundle = cat(&[
            &[0x01],
            &bob.public().to_bytes(),
            &n32(&spk["id"]).to_be_bytes(),
            &big(&spk["created_at"]).to_be_bytes(),
            &spk_public,
            &h(&spk["signature"]),
        ]);
        match opk {
            None => expected_bundle.push(0),
            Some((id, _, public)) => {
                expected_bundle.push(1);
                expected_bundle.extend_from_slice(&id.to_be_bytes());
                expected_bundle.extend_from_slice(&public);
            }
        }
        assert_eq!(bundle_bytes, expected_bundle);
        let bundle = PreKeyBundle::from_bytes(&bundle_bytes).unwrap();
        bundle.signed_prekey.verify(&bundle.identity).unwrap();

        // Every DH, SK and AD (§3.1, §3.5, §4.4), from both sides.
        let x = &c["x3dh"];
        let init_draws = by_op("Session::initiate");
        assert_eq!(init_draws.len(), 2, "EK_A, then the first ratchet key (§1)");
        let ek = h32(&x["base_key_secret"]);
        assert_eq!(init_draws[0], ek.to_vec());
        let ek_public = x25519_public(ek);
        assert_eq!(ek_public, h32(&x["base_key_public"]));
        let alice_x = h32(&c["alice"]["identity_x25519_secret"]);
        let bob_x = h32(&c["bob"]["identity_x25519_secret"]);
        let alice_xp = alice.public().x25519().unwrap().to_bytes();
        let bob_xp = bob.public().x25519().unwrap().to_bytes();
        let dh1 = dh(alice_x, spk_public).unwrap();
        assert_eq!(dh1, dh(spk_secret, alice_xp).unwrap());
        assert_eq!(dh1, h32(&x["dh1"]));
        let dh2 = dh(ek, bob_xp).unwrap();
        assert_eq!(dh2, dh(bob_x, ek_public).unwrap());
        assert_eq!(dh2, h32(&x["dh2"]));
        let dh3 = dh(ek, spk_public).unwrap();
        assert_eq!(dh3, dh(spk_secret, ek_public).unwrap());
        assert_eq!(dh3, h32(&x["dh3"]));
        let dh4 = opk.map(|(_, secret, public)| {
            let v = dh(ek, public).unwrap();
            assert_eq!(v, dh(secret, ek_public).unwrap());
            v
        });
        assert_eq!(dh4.map(|d| d.to_vec()), opt_h(&x["dh4"]));
        saw_dh4[usize::from(dh4.is_some())] = true;
        let sk = *kdf::x3dh(&dh1, &dh2, &dh3, dh4.as_ref()).as_bytes();
        assert_eq!(sk, h32(&x["shared_secret"]));
        // §3.1 directly: HKDF(zero salt, 0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], LABEL_X3DH).
        let mut ikm = vec![0xff; 32];
        for d in [Some(dh1), Some(dh2), Some(dh3), dh4].into_iter().flatten() {
            ikm.extend_from_slice(&d);
        }
        assert_eq!(*kdf::hkdf_sha256::<32>(&[0; 32], &ikm, kdf::LABEL_X3DH), sk);
        let ad = associated_data(
            &alice.public().to_bytes(),
            &bob.public().to_bytes(),
            &context,
        );
        assert_eq!(ad, h(&x["associated_data"]));

        // Ratchet initialisation (§6.2).
        let ri = &c["ratchet_init"];
        let ratchet_secret = h32(&ri["ratchet_key_secret"]);
        assert_eq!(init_draws[1], ratchet_secret.to_vec());
        assert_eq!(
            x25519_public(ratchet_secret),
            h32(&ri["ratchet_key_public"])
        );
        let rdh = dh(ratchet_secret, spk_public).unwrap();
        assert_eq!(rdh, h32(&ri["dh_output"]));
        let (rk, ck) = kdf_rk(sk, rdh);
        assert_eq!(rk, h32(&ri["root_key"]));
        assert_eq!(ck, h32(&ri["sending_chain_key"]));

        // The first message (§3.3, §3.4, §5.3).
        let m = &c["first_message"];
        let plaintext = h(&m["plaintext"]);
        assert_eq!(h32(&m["chain_key"]), ck);
        let (next, mk) = kdf_ck(ck);
        assert_eq!(mk, h32(&m["message_key"]));
        assert_eq!(next, h32(&m["next_chain_key"]));
        let seed = h16(&m["seed"]);
        assert_eq!(by_op("Session::encrypt"), vec![seed.to_vec()]);
        let (key, nonce) = expand(mk, seed);
        assert_eq!(key, h32(&m["aead_key"]));
        assert_eq!(nonce, h12(&m["aead_nonce"]));
        let bytes = h(&m["bytes"]);
        let (fields, prefix, ciphertext) = split_wire(&bytes);
        let mut expected_fields = cat(&[
            &[0x01, 0x02],
            &alice.public().to_bytes(),
            &ek_public,
            &n32(&spk["id"]).to_be_bytes(),
        ]);
        match opk_id {
            None => expected_fields.push(0),
            Some(id) => {
                expected_fields.push(1);
                expected_fields.extend_from_slice(&id.to_be_bytes());
            }
        }
        assert_eq!(fields, expected_fields.as_slice());
        assert_eq!(fields, h(&m["prekey_fields"]).as_slice());
        assert_eq!(
            parse_prefix(prefix),
            (x25519_public(ratchet_secret), 0, 0, seed)
        );
        assert_eq!(prefix, h(&m["prefix"]).as_slice());
        // SPEC.md §3.5: AD, the prekey fields (empty for a normal message) and the prefix.
        let aad = cat(&[&ad, fields, prefix]);
        assert_eq!(aad, h(&m["aad"]));
        assert_eq!(gcm_seal(&key, &nonce, &aad, &plaintext), ciphertext);
        assert_eq!(ciphertext, h(&m["ciphertext"]).as_slice());

        // Sender side re-run with the published draws.
        let mut alice_session = scripted(init_draws, |r| {
            Session::initiate(r, &alice, &bundle, Trust::FirstUse, &Config::new(&context)).unwrap()
        });
        let wire = scripted(vec![seed.to_vec()], |r| {
            alice_session.encrypt(r, &plaintext).unwrap()
        });
        assert_eq!(wire, bytes);
        assert_eq!(
            alice_session.to_bytes().unwrap().as_slice(),
            h(&c["alice_session_after"]).as_slice()
        );

        // Receiver side from the published state.
        let (bob_session, received) =
            Session::respond(&bob, &mut bob_store, &bytes, &Config::new(&context)).unwrap();
        assert_eq!(received, plaintext);
        assert_eq!(bob_session.role(), Role::Responder);
        assert_eq!(bob_session.used_one_time_prekey(), opk_id.is_some());
        assert_eq!(
            bob_session.to_bytes().unwrap().as_slice(),
            h(&c["bob_session_after"]).as_slice()
        );
        assert_eq!(
            bob_store.to_bytes().unwrap().as_slice(),
            h(&c["bob_prekey_store_after"]).as_slice()
        );
        assert_eq!(
            bob_store.one_time_prekey_count(),
            otpks.len() - usize::from(opk_id.is_some())
        );
    }
    assert_eq!(saw_dh4, [true, true], "cases with and without DH4");
}

// ---------------------------------------------------------------------------------------------
// ratchet.json
// ---------------------------------------------------------------------------------------------

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
        Session::initiate(r, &alice, &bundle, Trust::FirstUse, &Config::new(&context)).unwrap()
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
                        let (s, got) =
                            Session::respond(&bob, &mut pre, &bytes, &Config::new(&context))
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
                        after
                            .skipped
                            .iter()
                            .any(|s| s.ratchet_key == h32(&k["ratchet_key"])
                                && s.n == n32(&k["n"])
                                && s.message_key == h32(&k["message_key"]))
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

// ---------------------------------------------------------------------------------------------
// sealed_sender.json
// ---------------------------------------------------------------------------------------------

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
            &Config::new(&context),
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
                    .respond(recipient, &mut pre, &Config::new(&context))
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

// ---------------------------------------------------------------------------------------------
// content.json
// ---------------------------------------------------------------------------------------------

/// Padmé with the 256-byte floor, written from §8.2.
fn pad(len: usize) -> usize {
    let padme = if len < 2 {
        len
    } else {
        let e = len.ilog2();
        let s = e.ilog2() + 1;
        let m = 1usize << (e - s);
        len.div_ceil(m) * m
    };
    padme.max(256)
}

fn rank(t: &Timer) -> (u64, u8) {
    // SPEC.md §8.4: "off" ranks as 2^32, after every duration.
    let d = if t.duration_s == 0 {
        1 << 32
    } else {
        u64::from(t.duration_s)
    };
    (d, u8::from(t.start == TimerStart::OnRead))
}

#[test]
fn content_vectors() {
    let file = load("content.json");
    let k = &file["constants"];
    assert_eq!(nsize(&k["frame_header_len"]), content::FRAME_HEADER_LEN);
    assert_eq!(nsize(&k["frame_header_len"]), 23);
    assert_eq!(
        nsize(&k["min_padded_len"]),
        xchat_protocol::padding::MIN_PADDED_LEN
    );
    assert_eq!(big(&k["max_clock_skew_ms"]), content::MAX_CLOCK_SKEW_MS);
    let max_body = nsize(&k["max_body_len"]);
    assert_eq!(max_body, content::max_body_len());
    assert!(pad(23 + max_body) <= 1 << 20 && pad(24 + max_body) > 1 << 20);

    let mut kinds = std::collections::BTreeSet::new();
    for f in arr(&file["frames"]) {
        let c = Content {
            kind: kind(&f["kind"]),
            sent_at_ms: big(&f["sent_at_ms"]),
            timer: timer(&f["timer"]),
            body: h(&f["body"]),
        };
        kinds.insert(st(&f["kind"]).to_owned());
        let bytes = h(&f["bytes"]);
        // §8.2 by hand.
        let mut expected = vec![
            0x01,
            match c.kind {
                ContentKind::Message => 1,
                _ => 2,
            },
        ];
        expected.extend_from_slice(&c.sent_at_ms.to_be_bytes());
        expected.extend_from_slice(&c.timer.duration_s.to_be_bytes());
        expected.push(u8::from(c.timer.start == TimerStart::OnRead));
        expected.extend_from_slice(&c.timer.version.to_be_bytes());
        expected.extend_from_slice(&(c.body.len() as u32).to_be_bytes());
        expected.extend_from_slice(&c.body);
        assert_eq!(expected.len(), nsize(&f["unpadded_len"]));
        expected.resize(pad(expected.len()), 0);
        assert_eq!(expected.len(), nsize(&f["padded_len"]));
        assert_eq!(bytes, expected, "{}", f["name"]);
        assert_eq!(c.to_padded_bytes().unwrap(), bytes);
        assert_eq!(Content::from_padded_bytes(&bytes).unwrap(), c);
    }
    assert_eq!(kinds.len(), 2);

    for p in arr(&file["padding"]) {
        let len = nsize(&p["len"]);
        assert_eq!(nsize(&p["padded_len"]), pad(len), "len {len}");
        assert_eq!(
            xchat_protocol::padding::padded_len(len),
            pad(len),
            "len {len}"
        );
    }

    let skew = content::MAX_CLOCK_SKEW_MS;
    for d in arr(&file["deadlines"]) {
        let c = Content {
            kind: ContentKind::Message,
            sent_at_ms: big(&d["sent_at_ms"]),
            timer: timer(&d["timer"]),
            body: Vec::new(),
        };
        let now = big(&d["now_ms"]);
        let expected = deadline(&d["deadline"]);
        assert_eq!(c.deadline(now), expected, "{}", d["name"]);
        // §8.5 by hand.
        let t = c.timer;
        let by_hand = match (t.duration_s, t.start) {
            (0, _) => Some(Deadline::Never),
            (n, TimerStart::OnRead) => Some(Deadline::AfterRead(u64::from(n) * 1000)),
            (n, TimerStart::OnSend) => {
                let sent = c.sent_at_ms.min(now.saturating_add(skew));
                let at = sent.saturating_add(u64::from(n) * 1000);
                (now <= at.saturating_add(skew)).then_some(Deadline::At(at))
            }
        };
        assert_eq!(by_hand, expected, "{}", d["name"]);
    }
    for a in arr(&file["after_read"]) {
        let d = deadline(&a["deadline"]).unwrap();
        assert_eq!(
            Some(d.after_read(big(&a["read_at_ms"]))),
            deadline(&a["result"])
        );
    }
    for s in arr(&file["supersedes"]) {
        let cand = timer(&s["candidate"]);
        let cur = timer(&s["current"]);
        let expected = s["supersedes"].as_bool().unwrap();
        assert_eq!(cand.supersedes(&cur), expected, "{}", s["name"]);
        // §8.4 by hand.
        let by_hand =
            cand.version > cur.version || (cand.version == cur.version && rank(&cand) < rank(&cur));
        assert_eq!(by_hand, expected, "{}", s["name"]);
    }

    // The session flow: every step replayed from the published state.
    let flow = &file["session_flow"];
    let alice = identity(&flow["alice_identity_seed"]);
    let bob = identity(&flow["bob_identity_seed"]);
    let context = h(&flow["context"]);
    let bundle = store(&flow["bob_prekey_store"])
        .bundle(&bob, Some(n32(&flow["one_time_prekey_id"])))
        .unwrap();
    assert_eq!(bundle.to_bytes(), h(&flow["bundle"]));
    let a0 = scripted(draws(&flow["initiate_rng_draws"]), |r| {
        Session::initiate(r, &alice, &bundle, Trust::FirstUse, &Config::new(&context)).unwrap()
    });
    assert_eq!(
        a0.to_bytes().unwrap().as_slice(),
        h(&flow["alice_state_initial"]).as_slice()
    );
    let mut last: [Value; 2] = [flow["alice_state_initial"].clone(), Value::Null];
    let mut wires = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    for (i, e) in arr(&flow["events"]).iter().enumerate() {
        assert_eq!(nsize(&e["step"]), i);
        let who = usize::from(e["actor"] == "bob");
        assert_eq!(e["state_before"], last[who], "step {i}");
        let now = big(&e["now_ms"]);
        let after = match st(&e["action"]) {
            "send" | "set_timer" => {
                let mut s = session(&e["state_before"]);
                let wire = scripted(draws(&e["rng_draws"]), |r| {
                    if e["action"] == "send" {
                        s.send(r, now, &h(&e["body"])).unwrap()
                    } else {
                        s.set_timer(r, now, n32(&e["duration_s"]), start(&e["start"]))
                            .unwrap()
                    }
                });
                assert_eq!(wire, h(&e["wire"]));
                assert_eq!(s.timer(), timer(&e["timer_after"]));
                wires.insert(st(&e["message"]).to_owned(), wire);
                s.to_bytes().unwrap().to_vec()
            }
            "receive" => {
                let wire = &wires[st(&e["message"])];
                let (s, result) = if e["operation"] == "Session::accept" {
                    let mut pre = store(&e["prekey_store_before"]);
                    let (s, r) =
                        Session::accept(&bob, &mut pre, wire, &Config::new(&context), now).unwrap();
                    assert_eq!(
                        pre.to_bytes().unwrap().as_slice(),
                        h(&e["prekey_store_after"]).as_slice()
                    );
                    (s, Ok(r))
                } else {
                    let mut s = session(&e["state_before"]);
                    let r = generator::receipt_as_result(s.receive(wire, now));
                    (s, r)
                };
                match result {
                    Ok(r) => {
                        assert!(e["error"].is_null());
                        check_received(&r, &e["result"]);
                    }
                    Err(err) => {
                        assert_eq!(format!("{err:?}"), st(&e["error"]), "step {i}");
                        errors.push(st(&e["error"]).to_owned());
                    }
                }
                assert_eq!(s.timer(), timer(&e["timer_after"]));
                s.to_bytes().unwrap().to_vec()
            }
            "purge" => {
                let mut s = session(&e["state_before"]);
                assert_eq!(s.purge(now), nsize(&e["purged"]));
                s.to_bytes().unwrap().to_vec()
            }
            other => panic!("action {other}"),
        };
        assert_eq!(after, h(&e["state_after"]), "step {i}");
        last[who] = e["state_after"].clone();
    }
    assert!(errors.contains(&"Expired".to_owned()));
    assert!(errors.contains(&"DuplicateMessage".to_owned()));
}

// ---------------------------------------------------------------------------------------------
// state.json
// ---------------------------------------------------------------------------------------------

fn blob(kind: u8, body: &[u8]) -> Vec<u8> {
    // The prekey store and the session are written in version 3 (SPEC.md §10.0); identity in 1.
    let mut b = vec![kind, if kind == 0x10 { 0x01 } else { 0x03 }];
    b.extend_from_slice(body);
    let check = Sha256::digest(&b);
    b.extend_from_slice(&check[..16]);
    b
}

/// §10.3 (version 3) from the published fields.
fn encode_session_fields(f: &Value) -> Vec<u8> {
    let phase = match st(&f["phase"]) {
        "awaiting_reply" => 0u8,
        "acknowledged" => 1,
        "responder" => 2,
        other => panic!("phase {other}"),
    };
    let mut b = vec![phase];
    b.extend_from_slice(&h(&f["local_identity"]));
    b.extend_from_slice(&h(&f["remote_identity"]));
    let context = h(&f["context"]);
    b.extend_from_slice(&(context.len() as u16).to_be_bytes());
    b.extend_from_slice(&context);
    b.extend_from_slice(&h(&f["base_key"]));
    b.extend_from_slice(&n32(&f["signed_prekey_id"]).to_be_bytes());
    match opt_n32(&f["one_time_prekey_id"]) {
        None => b.push(0),
        Some(id) => {
            b.push(1);
            b.extend_from_slice(&id.to_be_bytes());
        }
    }
    let t = timer(&f["timer"]);
    b.extend_from_slice(&t.duration_s.to_be_bytes());
    b.push(u8::from(t.start == TimerStart::OnRead));
    b.extend_from_slice(&t.version.to_be_bytes());
    for l in [
        "max_skip",
        "max_skipped_keys",
        "max_old_chains",
        "max_skipped_key_age",
    ] {
        b.extend_from_slice(&n32(&f["limits"][l]).to_be_bytes());
    }
    b.extend_from_slice(&h(&f["root_key"]));
    let put_send = |b: &mut Vec<u8>, v: &Value| {
        assert_eq!(x25519_public(h32(&v["dhs_secret"])), h32(&v["dhs_public"]));
        b.extend_from_slice(&h(&v["dhs_secret"]));
        b.extend_from_slice(&h(&v["dhs_public"]));
        b.extend_from_slice(&h(&v["chain_key"]));
        b.extend_from_slice(&n32(&v["n"]).to_be_bytes());
    };
    if phase == 0 {
        assert!(f["recv"].is_null());
        put_send(&mut b, &f["send"]);
        return blob(0x12, &b);
    }
    let recv = &f["recv"];
    b.extend_from_slice(&h(&recv["dhr"]));
    b.extend_from_slice(&h(&recv["chain_key"]));
    b.extend_from_slice(&n32(&recv["n"]).to_be_bytes());
    if f["send"].is_null() {
        b.push(0);
    } else {
        b.push(1);
        put_send(&mut b, &f["send"]);
    }
    b.extend_from_slice(&n32(&f["pn"]).to_be_bytes());
    b.extend_from_slice(&n32(&f["received"]).to_be_bytes());
    let old = arr(&f["old_ratchet_keys"]);
    b.extend_from_slice(&(old.len() as u32).to_be_bytes());
    for k in old {
        b.extend_from_slice(&h(k));
    }
    let skipped = arr(&f["skipped"]);
    b.extend_from_slice(&(skipped.len() as u32).to_be_bytes());
    for e in skipped {
        b.extend_from_slice(&h(&e["ratchet_key"]));
        b.extend_from_slice(&n32(&e["n"]).to_be_bytes());
        b.extend_from_slice(&n32(&e["stamp"]).to_be_bytes());
        b.extend_from_slice(&big(&e["skipped_at_ms"]).to_be_bytes());
        b.extend_from_slice(&h(&e["message_key"]));
    }
    blob(0x12, &b)
}

/// §10.2 from the published fields.
fn encode_store_fields(f: &Value) -> Vec<u8> {
    let mut b = n32(&f["next_signed_id"]).to_be_bytes().to_vec();
    b.extend_from_slice(&n32(&f["next_one_time_id"]).to_be_bytes());
    let signed = arr(&f["signed_prekeys"]);
    b.push(u8::try_from(signed.len()).unwrap());
    for k in signed {
        b.extend_from_slice(&n32(&k["id"]).to_be_bytes());
        b.extend_from_slice(&big(&k["created_at"]).to_be_bytes());
        b.extend_from_slice(&h(&k["secret"]));
        b.extend_from_slice(&h(&k["public"]));
        b.extend_from_slice(&h(&k["signature"]));
        assert_eq!(x25519_public(h32(&k["secret"])), h32(&k["public"]));
        let accepted = arr(&k["accepted_first_messages"]);
        b.extend_from_slice(&(accepted.len() as u16).to_be_bytes());
        for id in accepted {
            b.extend_from_slice(&h(id));
        }
    }
    let one_time = arr(&f["one_time_prekeys"]);
    b.extend_from_slice(&(one_time.len() as u32).to_be_bytes());
    for k in one_time {
        b.extend_from_slice(&n32(&k["id"]).to_be_bytes());
        b.extend_from_slice(&h(&k["secret"]));
        b.extend_from_slice(&h(&k["public"]));
        assert_eq!(x25519_public(h32(&k["secret"])), h32(&k["public"]));
    }
    blob(0x11, &b)
}

#[test]
fn state_vectors() {
    let file = load("state.json");
    for who in ["alice", "bob"] {
        let id = identity(&file[format!("{who}_identity_seed").as_str()]);
        assert_eq!(
            id.public().to_bytes(),
            h32(&file[format!("{who}_identity").as_str()])
        );
    }
    let mut objects = std::collections::BTreeSet::new();
    for e in arr(&file["entries"]) {
        let bytes = h(&e["bytes"]);
        let f = &e["fields"];
        objects.insert(st(&e["object"]).to_owned());
        match st(&e["object"]) {
            "identity" => {
                assert_eq!(bytes, blob(0x10, &h(&f["seed"])));
                let id = IdentityKeyPair::from_bytes(&bytes).unwrap();
                assert_eq!(id.to_bytes().as_slice(), bytes.as_slice());
                assert_eq!(id.public().to_bytes(), h32(&f["public"]));
                assert!(id.ct_eq(&identity(&f["seed"])));
            }
            "prekey_store" => {
                assert_eq!(bytes, encode_store_fields(f), "{}", e["name"]);
                let s = PreKeyStore::from_bytes(&bytes).unwrap();
                assert_eq!(s.to_bytes().unwrap().as_slice(), bytes.as_slice());
                let signed = arr(&f["signed_prekeys"]);
                assert_eq!(
                    s.current_signed_prekey().map(|k| k.id),
                    signed.last().map(|k| n32(&k["id"]))
                );
                if let (Some(k), Some(v)) = (s.current_signed_prekey(), signed.last()) {
                    assert_eq!(k.key.to_bytes(), h32(&v["public"]));
                    assert_eq!(k.created_at, big(&v["created_at"]));
                    assert_eq!(k.signature.to_vec(), h(&v["signature"]));
                }
                assert_eq!(s.one_time_prekey_count(), arr(&f["one_time_prekeys"]).len());
                // Every stored signed prekey carries Bob's signature (§4.2).
                let owner = IdentityKey::from_bytes(h32(&file["bob_identity"])).unwrap();
                for k in signed {
                    let spk = SignedPreKey {
                        id: n32(&k["id"]),
                        created_at: big(&k["created_at"]),
                        key: PublicKey::from_bytes(h32(&k["public"])).unwrap(),
                        signature: h(&k["signature"]).try_into().unwrap(),
                    };
                    spk.verify(&owner).unwrap();
                }
            }
            "prekey_store_v1" => {
                // SPEC.md §10.2: loading a version 1 store records each seen base key under
                // every held signed prekey; re-saving writes version 3.
                let migrated = h(&f["migrated"]);
                let s = PreKeyStore::from_bytes(&bytes).unwrap();
                assert_eq!(s.to_bytes().unwrap().as_slice(), migrated.as_slice());
                let seen = arr(&f["seen_base_keys"]);
                let v2 = generator::parse_store(&migrated);
                assert!(!v2.signed.is_empty());
                for (_, _, secret, _, accepted) in &v2.signed {
                    let accepted: Vec<Vec<u8>> = accepted.iter().map(|a| a.to_vec()).collect();
                    for base in seen {
                        let dh3 = dh(*secret, h32(base)).unwrap();
                        let mut id = [0u8; 16];
                        hkdf::Hkdf::<Sha256>::new(Some(&[0; 32]), &dh3)
                            .expand(b"xchat-protocol v1 first message", &mut id)
                            .unwrap();
                        assert!(accepted.contains(&id.to_vec()));
                    }
                }
            }
            "sealed" => {
                // SPEC.md §10.4 from the published values: the blob key from the storage key and
                // salt, the body under it, and the body equal to the plain entry's.
                let plain = arr(&file["entries"])
                    .iter()
                    .find(|p| p["name"] == f["plain_entry"])
                    .map(|p| h(&p["bytes"]))
                    .unwrap();
                let storage_key = h32(&file["storage_key"]);
                let salt = h(&f["salt"]);
                let mut info = b"xchat-protocol v1 state at rest".to_vec();
                info.extend_from_slice(&plain[..2]);
                assert_eq!(info, h(&f["info"]));
                let mut blob_key = [0u8; 32];
                hkdf::Hkdf::<Sha256>::new(Some(&salt), &storage_key)
                    .expand(&info, &mut blob_key)
                    .unwrap();
                assert_eq!(blob_key.to_vec(), h(&f["blob_key"]));
                assert_eq!(bytes[..2], [plain[0] | 0x80, plain[1]]);
                assert_eq!(bytes[2..34], salt[..]);
                let (ct, tag) = bytes[34..].split_at(bytes.len() - 34 - 16);
                let mut body = ct.to_vec();
                use aes_gcm::aead::{AeadInOut, KeyInit};
                aes_gcm::Aes256Gcm::new(&blob_key.into())
                    .decrypt_inout_detached(
                        &[0u8; 12].into(),
                        &bytes[..34],
                        body.as_mut_slice().into(),
                        tag.try_into().unwrap(),
                    )
                    .unwrap();
                assert_eq!(body, plain[2..plain.len() - 16], "{}", e["name"]);
                assert_eq!(body, h(&f["body"]));
                let key = xchat_protocol::state::StorageKey::from_bytes(storage_key);
                let reopened = match plain[0] {
                    0x10 => IdentityKeyPair::from_sealed_bytes(&bytes, &key)
                        .unwrap()
                        .to_bytes()
                        .to_vec(),
                    0x11 => PreKeyStore::from_sealed_bytes(&bytes, &key)
                        .unwrap()
                        .to_bytes()
                        .unwrap()
                        .to_vec(),
                    _ => Session::from_sealed_bytes(&bytes, &key)
                        .unwrap()
                        .to_bytes()
                        .unwrap()
                        .to_vec(),
                };
                assert_eq!(reopened, plain);
            }
            "session_v1" => {
                // SPEC.md §10.3: a version 1 session reads as the version 3 one it migrates to.
                let s = Session::from_bytes(&bytes).unwrap();
                assert_eq!(
                    s.to_bytes().unwrap().as_slice(),
                    h(&f["migrated"]).as_slice()
                );
                assert_eq!(bytes[1], 1);
            }
            "session" => {
                assert_eq!(bytes, encode_session_fields(f), "{}", e["name"]);
                let s = Session::from_bytes(&bytes).unwrap();
                assert_eq!(s.to_bytes().unwrap().as_slice(), bytes.as_slice());
                assert_eq!(
                    s.role(),
                    if f["phase"] == "responder" {
                        Role::Responder
                    } else {
                        Role::Initiator
                    }
                );
                assert_eq!(s.is_acknowledged(), f["phase"] != "awaiting_reply");
                assert_eq!(s.local_identity().to_bytes(), h32(&f["local_identity"]));
                assert_eq!(s.remote_identity().to_bytes(), h32(&f["remote_identity"]));
                assert_eq!(s.context(), h(&f["context"]).as_slice());
                assert_eq!(s.used_one_time_prekey(), !f["one_time_prekey_id"].is_null());
                let l = &f["limits"];
                assert_eq!(
                    s.limits(),
                    Limits {
                        max_skip: n32(&l["max_skip"]),
                        max_skipped_keys: n32(&l["max_skipped_keys"]),
                        max_old_chains: n32(&l["max_old_chains"]),
                        max_skipped_key_age: n32(&l["max_skipped_key_age"]),
                    }
                );
                assert_eq!(s.timer(), timer(&f["timer"]));
                assert_eq!(s.skipped_key_count(), arr(&f["skipped"]).len());
                // The opening phase always has its sending chain and no receiving one (§6.1).
                assert_eq!(f["phase"] == "awaiting_reply", f["recv"].is_null());
                assert!(f["phase"] != "awaiting_reply" || !f["send"].is_null());
            }
            other => panic!("object {other}"),
        }
    }
    assert_eq!(objects.len(), 6, "{objects:?}");
}

// ---------------------------------------------------------------------------------------------
// negative.json
// ---------------------------------------------------------------------------------------------

fn err<T>(r: Result<T, impl std::fmt::Debug>) -> String {
    match r {
        Ok(_) => "accepted".to_owned(),
        Err(e) => format!("{e:?}"),
    }
}

fn bytes_input(input: &Value) -> Vec<u8> {
    let mut b = h(&input["bytes"]);
    if let Some(n) = input.get("followed_by_zero_bytes") {
        b.resize(b.len() + nsize(n), 0);
    }
    b
}

fn open_input(input: &Value) -> (IdentityKeyPair, Vec<CertificateKey>, Vec<u32>, Vec<u8>, u64) {
    (
        identity(&input["recipient_identity_seed"]),
        arr(&input["trust_roots"])
            .iter()
            .map(|r| CertificateKey::from_bytes(h32(r)).unwrap())
            .collect(),
        arr(&input["revoked_servers"]).iter().map(n32).collect(),
        h(&input["envelope"]),
        big(&input["now_ms"]),
    )
}

/// Runs one negative vector; returns the error as `{:?}`.
fn run_negative(entry: &Value) -> String {
    let input = &entry["input"];
    let op = st(&entry["operation"]);
    match op {
        "PublicKey::from_bytes" => err(PublicKey::from_bytes(h32(&input["bytes"]))),
        "IdentityKey::from_bytes" => err(IdentityKey::from_bytes(h32(&input["bytes"]))),
        "PreKeyBundle::from_bytes" => err(PreKeyBundle::from_bytes(&bytes_input(input))),
        "Incoming::decode" => err(Incoming::decode(&bytes_input(input))),
        "Content::from_padded_bytes" => err(Content::from_padded_bytes(&bytes_input(input))),
        "ServerCertificate::from_bytes" => err(ServerCertificate::from_bytes(&bytes_input(input))),
        "SenderCertificate::from_bytes" => err(SenderCertificate::from_bytes(&bytes_input(input))),
        "IdentityKeyPair::from_bytes" => err(IdentityKeyPair::from_bytes(&bytes_input(input))),
        "PreKeyStore::from_bytes" => err(PreKeyStore::from_bytes(&bytes_input(input))),
        "Session::from_bytes" => err(Session::from_bytes(&bytes_input(input))),
        "IdentityKey::verify" => {
            let key = IdentityKey::from_bytes(h32(&input["identity_key"])).unwrap();
            let sig: [u8; 64] = h(&input["signature"]).try_into().unwrap();
            err(key.verify(&h(&input["message"]), &sig))
        }
        "PreKeyStore::bundle" => {
            let s = store(&input["prekey_store"]);
            err(s.bundle(
                &identity(&input["identity_seed"]),
                opt_n32(&input["one_time_prekey_id"]),
            ))
        }
        "Session::initiate" => {
            let bundle = PreKeyBundle::from_bytes(&h(&input["bundle"])).unwrap();
            scripted(draws(&input["rng_draws"]), |r| {
                err(Session::initiate(
                    r,
                    &identity(&input["identity_seed"]),
                    &bundle,
                    Trust::FirstUse,
                    &Config::new(&h(&input["context"])),
                ))
            })
        }
        "Session::respond" => {
            let mut s = store(&input["prekey_store"]);
            let e = err(Session::respond(
                &identity(&input["identity_seed"]),
                &mut s,
                &h(&input["message"]),
                &Config::new(&h(&input["context"])),
            ));
            assert_eq!(
                s.to_bytes().unwrap().as_slice(),
                h(&input["prekey_store"]).as_slice(),
                "§6.6: the store is unchanged"
            );
            e
        }
        "Session::decrypt" => {
            let mut s = session(&input["session"]);
            let e = err(s.decrypt(&h(&input["message"])));
            assert_eq!(
                s.to_bytes().unwrap().as_slice(),
                h(&input["session"]).as_slice(),
                "§6.6: the session is unchanged"
            );
            e
        }
        "Session::receive" => {
            let mut s = session(&input["session"]);
            // The outcome's name (test-vectors/README.md): an `Ok` receipt that delivers nothing.
            let e = err(generator::receipt_as_result(
                s.receive(&h(&input["message"]), big(&input["now_ms"])),
            ));
            assert_eq!(
                s.to_bytes().unwrap().as_slice(),
                h(&entry["session_after"]).as_slice(),
                "the key is consumed"
            );
            e
        }
        "Session::encrypt" => {
            let mut s = session(&input["session"]);
            let plaintext = match input.get("plaintext_zero_bytes") {
                Some(n) => vec![0; nsize(n)],
                None => h(&input["plaintext"]),
            };
            let e = scripted(
                draws(&input["rng_draws"]),
                |r| err(s.encrypt(r, &plaintext)),
            );
            assert_eq!(
                s.to_bytes().unwrap().as_slice(),
                h(&input["session"]).as_slice()
            );
            e
        }
        "Session::set_limits" => {
            let mut s = session(&input["session"]);
            let l = &input["limits"];
            let e = err(s.set_limits(Limits {
                max_skip: n32(&l["max_skip"]),
                max_skipped_keys: n32(&l["max_skipped_keys"]),
                max_old_chains: n32(&l["max_old_chains"]),
                max_skipped_key_age: n32(&l["max_skipped_key_age"]),
            }));
            assert_eq!(
                s.to_bytes().unwrap().as_slice(),
                h(&input["session"]).as_slice()
            );
            e
        }
        "Session::check_remote_identity" => {
            let s = session(&input["session"]);
            err(s.check_remote_identity(
                &IdentityKey::from_bytes(h32(&input["trusted_identity"])).unwrap(),
            ))
        }
        "SealedRecipient::open" | "Opened::decrypt" | "Opened::respond" => {
            let (recipient, roots, revoked, envelope, now) = open_input(input);
            let opened = SealedRecipient {
                identity: &recipient,
                trust_roots: &roots,
                revoked_servers: &revoked,
            }
            .open(&envelope, now);
            match op {
                "SealedRecipient::open" => err(opened),
                "Opened::decrypt" => {
                    let mut s = session(&input["session"]);
                    let e = err(opened.unwrap().decrypt(&mut s));
                    assert_eq!(
                        s.to_bytes().unwrap().as_slice(),
                        h(&input["session"]).as_slice()
                    );
                    e
                }
                _ => {
                    let mut s = store(&input["prekey_store"]);
                    let e = err(opened.unwrap().respond(
                        &recipient,
                        &mut s,
                        &Config::new(&h(&input["context"])),
                    ));
                    assert_eq!(
                        s.to_bytes().unwrap().as_slice(),
                        h(&input["prekey_store"]).as_slice()
                    );
                    e
                }
            }
        }
        other => panic!("unknown operation {other}"),
    }
}

#[test]
fn negative_vectors() {
    let file = load("negative.json");
    let entries = arr(&file["entries"]);
    let mut names = std::collections::BTreeSet::new();
    let mut errors = std::collections::BTreeSet::new();
    for e in entries {
        assert!(names.insert(st(&e["name"]).to_owned()), "unique names");
        let expected = st(&e["expected_error"]);
        assert_ne!(expected, "accepted");
        assert_eq!(run_negative(e), expected, "{}", e["name"]);
        errors.insert(expected.to_owned());
    }
    // The brief's required categories are all present.
    for needed in [
        "Truncated",
        "TrailingBytes",
        "UnknownVersion(2)",
        "UnknownType(3)",
        "NonCanonical",
        "InvalidKey",
        "TooLarge",
        "ChecksumMismatch",
        "InvalidSignature",
        "NonContributory",
        "DecryptionFailed",
        "DuplicateMessage",
        "TooFarInFuture",
        "SessionMismatch",
        "ChainExhausted",
        "Expired",
        "CertificateExpired",
        "RevokedServer",
        "InvalidCertificate",
        "SelfSend",
        "SenderIdentityMismatch",
    ] {
        assert!(errors.contains(needed), "a vector for {needed}");
    }
}

// ---------------------------------------------------------------------------------------------
// The committed files are current
// ---------------------------------------------------------------------------------------------

#[test]
fn committed_files_equal_the_generator_output() {
    let mut stale = Vec::new();
    for (name, contents) in generator::all_files() {
        let committed = std::fs::read_to_string(dir().join(name)).unwrap_or_default();
        if committed != contents {
            let line = committed
                .lines()
                .zip(contents.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "length".to_owned(), |l| format!("line {}", l + 1));
            stale.push(format!("{name} (first difference: {line})"));
        }
    }
    assert!(
        stale.is_empty(),
        "test-vectors/ is stale: {stale:?}. If the change to the wire or state format is \
         deliberate, run `cargo run --example gen_vectors` and review the diff."
    );
}
