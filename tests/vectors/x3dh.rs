//! `x3dh.json`: identities, prekeys, the bundle, every DH, SK and AD of X3DH (§3.1, §4, §5.1),
//! ratchet initialisation (§6.2) and the first prekey message, from both sides.

use xchat_protocol::kdf;
use xchat_protocol::{
    Config, IdentityKeyPair, PreKeyBundle, PublicKey, Role, Session, SignedPreKey, Trust,
};

use crate::generator::{associated_data, dh, expand, gcm_seal, kdf_ck, kdf_rk, x25519_public};
use crate::support::{
    arr, big, cat, check_chacha_stream, check_identity, draws, h, h12, h16, h32, load, n32, opt_h,
    opt_n32, parse_prefix, rebuild_store, scripted, split_wire, st,
};

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
            Session::initiate(
                r,
                &alice,
                &bundle,
                Trust::FirstUse,
                &Config::new(&context).allow_classical(),
            )
            .unwrap()
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
        let (bob_session, received) = Session::respond(
            &bob,
            &mut bob_store,
            &bytes,
            &Config::new(&context).allow_classical(),
        )
        .unwrap();
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
