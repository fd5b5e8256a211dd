//! x3dh.json: keys, bundle, DH outputs, SK, AD, ratchet initialisation and the first prekey
//! message of three X3DH runs (SPEC.md §3–§5, §7.2, §7.3).

use xchat_protocol::kdf;
use xchat_protocol::{Config, IdentityKeyPair, PreKeyStore, Session, SignedPreKey, Trust};

use super::json::{Json, Obj, big, hx};
use super::primitives::{
    a16, a32, associated_data, dh, expand, gcm_seal, identity_x25519_secret, kdf_ck, kdf_rk,
    normal_offset, x25519_public,
};
use super::rng::Recorder;
use super::shared::{CREATED_AT, blob, draws_json, header};
use super::state_codec::clamp;
use super::state_fields::{parse_session, recv_chain, send_chain};

pub(super) fn x3dh_case(
    name: &str,
    description: &str,
    seed: u8,
    one_time_id: Option<u32>,
    context: &[u8],
    plaintext: &[u8],
) -> Json {
    let rng_seed = [seed; 32];
    let mut rng = Recorder::new(rng_seed);
    let mut draws = Vec::new();
    let mut record = |what: &str, d: Vec<Vec<u8>>| {
        draws.push(Json::from(
            Obj::new().f("operation", what).f("draws", draws_json(&d)),
        ));
        d
    };

    let alice = IdentityKeyPair::generate(&mut rng);
    record("IdentityKeyPair::generate (alice)", rng.take());
    let bob = IdentityKeyPair::generate(&mut rng);
    record("IdentityKeyPair::generate (bob)", rng.take());
    let mut store = PreKeyStore::new();
    let created_at = CREATED_AT + u64::from(seed);
    let spk = store.rotate_signed_prekey(&mut rng, &bob, created_at * 1000);
    let spk_draws = record(
        &format!("PreKeyStore::rotate_signed_prekey (now = {created_at})"),
        rng.take(),
    );
    let otpks = store.generate_one_time_prekeys(&mut rng, 2).unwrap();
    let otpk_draws = record("PreKeyStore::generate_one_time_prekeys(2)", rng.take());
    let store_before = blob(store.to_bytes().unwrap());
    let bundle = store.bundle(&bob, one_time_id).expect("bundle");
    let bundle_bytes = bundle.to_bytes();
    let mut session = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context).allow_classical(),
    )
    .expect("initiate");
    let init_draws = record("Session::initiate", rng.take());
    let first = session.encrypt(&mut rng, plaintext).expect("encrypt");
    let enc_draws = record("Session::encrypt", rng.take());
    let alice_after = blob(session.to_bytes().unwrap());
    let (bob_session, received) = Session::respond(
        &bob,
        &mut store,
        &first,
        &Config::new(context).allow_classical(),
    )
    .expect("respond");
    assert_eq!(received, plaintext);
    let bob_after = blob(bob_session.to_bytes().unwrap());
    let store_after = blob(store.to_bytes().unwrap());

    // Every value recomputed from the draws with the public building blocks.
    let alice_seed = *alice.seed();
    let bob_seed = *bob.seed();
    assert_eq!(init_draws.len(), 2);
    assert_eq!(enc_draws.len(), 1);
    let alice_x = identity_x25519_secret(&alice_seed);
    let bob_x = identity_x25519_secret(&bob_seed);
    assert_eq!(
        x25519_public(alice_x),
        alice.public().x25519().unwrap().to_bytes()
    );
    assert_eq!(
        x25519_public(bob_x),
        bob.public().x25519().unwrap().to_bytes()
    );
    let spk_secret = a32(&spk_draws[0]);
    assert_eq!(x25519_public(spk_secret), spk.key.to_bytes());
    let opk = one_time_id.map(|id| {
        let index = otpks.iter().position(|k| k.id == id).expect("otpk");
        let secret = a32(&otpk_draws[index]);
        assert_eq!(x25519_public(secret), otpks[index].key.to_bytes());
        (id, secret, otpks[index].key.to_bytes())
    });
    let ek_secret = a32(&init_draws[0]);
    let ek_public = x25519_public(ek_secret);
    let spk_public = spk.key.to_bytes();
    let ik_a = alice.public().to_bytes();
    let ik_b = bob.public().to_bytes();
    let ik_a_x = alice.public().x25519().unwrap().to_bytes();
    let ik_b_x = bob.public().x25519().unwrap().to_bytes();
    let dh1 = dh(alice_x, spk_public).expect("dh1");
    assert_eq!(dh1, dh(spk_secret, ik_a_x).expect("dh1 responder"));
    let dh2 = dh(ek_secret, ik_b_x).expect("dh2");
    assert_eq!(dh2, dh(bob_x, ek_public).expect("dh2 responder"));
    let dh3 = dh(ek_secret, spk_public).expect("dh3");
    assert_eq!(dh3, dh(spk_secret, ek_public).expect("dh3 responder"));
    let dh4 = opk.map(|(_, secret, public)| {
        let v = dh(ek_secret, public).expect("dh4");
        assert_eq!(v, dh(secret, ek_public).expect("dh4 responder"));
        v
    });
    let sk = *kdf::x3dh(&dh1, &dh2, &dh3, dh4.as_ref()).as_bytes();
    let ad = associated_data(&ik_a, &ik_b, context);
    let ratchet_secret = a32(&init_draws[1]);
    let ratchet_dh = dh(ratchet_secret, spk_public).expect("ratchet dh");
    let (root_key, chain_key) = kdf_rk(sk, ratchet_dh);
    let (next_chain_key, message_key) = kdf_ck(chain_key);
    let seed16 = a16(&enc_draws[0]);
    let (aead_key, aead_nonce) = expand(message_key, seed16);
    let offset = normal_offset(&first);
    assert_eq!(offset, if one_time_id.is_some() { 75 } else { 71 });
    let prefix = &first[offset..offset + 58];
    let ciphertext = &first[offset + 58..];
    // SPEC.md §3.5: AD, the prekey fields and the prefix — every byte before the ciphertext.
    let mut aad = ad.clone();
    aad.extend_from_slice(&first[..offset + 58]);
    assert_eq!(
        gcm_seal(&aead_key, &aead_nonce, &aad, plaintext),
        ciphertext
    );
    assert_eq!(&first[2..34], &ik_a);
    assert_eq!(&first[34..66], &ek_public);
    assert_eq!(&prefix[2..34], &x25519_public(ratchet_secret));
    let alice_state = parse_session(&alice_after);
    assert_eq!(alice_state.rk, root_key);
    let alice_send = alice_state.sending().expect("opening phase sends");
    assert_eq!(alice_send.dhs.secret, clamp(ratchet_secret));
    assert_eq!(send_chain(&alice_state), Some((next_chain_key, 1)));
    let bob_state = parse_session(&bob_after);
    assert_eq!(bob_state.rk, root_key);
    assert_eq!(recv_chain(&bob_state), Some((next_chain_key, 1)));
    // The responder's sending side is pending: the signed prekey's secret is in no field and in
    // no byte of the blob (SPEC.md §6.2, §10.3).
    assert_eq!(bob_state.sending(), None);
    assert!(!bob_after.windows(32).any(|w| w == clamp(spk_secret)));

    let identity = |seed: &[u8; 32], id: &IdentityKeyPair, x: [u8; 32]| {
        Obj::new()
            .f("identity_seed", hx(seed))
            .f("identity_public", hx(id.public().to_bytes()))
            .f("identity_x25519_secret", hx(x))
            .f(
                "identity_x25519_public",
                hx(id.public().x25519().unwrap().to_bytes()),
            )
    };
    let signed_bytes = SignedPreKey::signed_bytes(spk.id, spk.created_at, &spk.key);
    let bob_json = identity(&bob_seed, &bob, bob_x)
        .f(
            "signed_prekey",
            Obj::new()
                .f("id", spk.id)
                .f("created_at", big(spk.created_at))
                .f("secret", hx(spk_secret))
                .f("public", hx(spk_public))
                .f("signed_bytes", hx(&signed_bytes))
                .f("signature", hx(spk.signature)),
        )
        .f(
            "one_time_prekeys",
            Json::Array(
                otpks
                    .iter()
                    .zip(&otpk_draws)
                    .map(|(k, secret)| {
                        Obj::new()
                            .f("id", k.id)
                            .f("secret", hx(secret))
                            .f("public", hx(k.key.to_bytes()))
                            .into()
                    })
                    .collect(),
            ),
        );

    Obj::new()
        .f("name", name)
        .f("description", description)
        .f("rng_seed", hx(rng_seed))
        .f("rng_draws", Json::Array(draws))
        .f("context", hx(context))
        .f("alice", identity(&alice_seed, &alice, alice_x))
        .f("bob", bob_json)
        .f("bob_prekey_store_before", hx(&store_before))
        .f(
            "bundle",
            Obj::new()
                .f("one_time_prekey_id", one_time_id)
                .f("bytes", hx(&bundle_bytes)),
        )
        .f(
            "x3dh",
            Obj::new()
                .f("base_key_secret", hx(ek_secret))
                .f("base_key_public", hx(ek_public))
                .f("dh1", hx(dh1))
                .f("dh2", hx(dh2))
                .f("dh3", hx(dh3))
                .f("dh4", dh4.map(hx))
                .f("shared_secret", hx(sk))
                .f("associated_data", hx(&ad)),
        )
        .f(
            "ratchet_init",
            Obj::new()
                .f("ratchet_key_secret", hx(ratchet_secret))
                .f("ratchet_key_public", hx(x25519_public(ratchet_secret)))
                .f("dh_output", hx(ratchet_dh))
                .f("root_key", hx(root_key))
                .f("sending_chain_key", hx(chain_key)),
        )
        .f(
            "first_message",
            Obj::new()
                .f("plaintext", hx(plaintext))
                .f("seed", hx(seed16))
                .f("chain_key", hx(chain_key))
                .f("message_key", hx(message_key))
                .f("next_chain_key", hx(next_chain_key))
                .f("aead_key", hx(aead_key))
                .f("aead_nonce", hx(aead_nonce))
                .f("prekey_fields", hx(&first[..offset]))
                .f("prefix", hx(prefix))
                .f("aad", hx(&aad))
                .f("ciphertext", hx(ciphertext))
                .f("bytes", hx(&first)),
        )
        .f("alice_session_after", hx(&alice_after))
        .f("bob_session_after", hx(&bob_after))
        .f("bob_prekey_store_after", hx(&store_after))
        .into()
}

pub fn x3dh_json() -> Json {
    header(
        "x3dh.json",
        "X3DH: keys, bundle, DH outputs, SK, AD, ratchet initialisation and the first prekey message",
        &[
            "§1", "§2", "§3.1", "§3.2", "§3.3", "§3.4", "§3.5", "§4.1", "§4.2", "§4.3", "§4.4",
            "§5.1", "§5.3", "§6.2", "§7.2", "§7.3", "§10",
        ],
    )
    .f(
        "cases",
        Json::Array(vec![
            x3dh_case(
                "one_time_prekey_empty_context",
                "Bundle with one-time prekey 1 (DH4 present), empty context",
                0x01,
                Some(1),
                b"",
                b"hello Bob",
            ),
            x3dh_case(
                "no_one_time_prekey_with_context",
                "Bundle without a one-time prekey (no DH4), non-empty context",
                0x02,
                None,
                b"alice@example|bob@example",
                b"hello without a one-time prekey",
            ),
            x3dh_case(
                "one_time_prekey_with_context",
                "Bundle with one-time prekey 0, non-empty context",
                0x03,
                Some(0),
                b"conversation 42",
                b"",
            ),
        ]),
    )
    .into()
}
