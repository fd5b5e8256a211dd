//! `pqxdh.json`: identities, signed and KEM prekeys, the version 0x02 bundle, every DH, the
//! ML-KEM-1024 encapsulation, the transcript, SK and AD of PQXDH (§3.1b, §4.5, §5.1), ratchet
//! initialisation (§6.2) and the first prekey message (§5.3), from both sides: the initiator re-run
//! with the published draws gives the published bytes, and the responder, from a store rebuilt
//! with the published draws, decrypts the published first message.

use libcrux_ml_kem::mlkem1024 as libcrux;
use serde_json::Value;
use xchat_protocol::kdf;
use xchat_protocol::{
    Config, Handshake, IdentityKeyPair, Incoming, KemCiphertext, KemKeyPair, KemPreKey,
    KemPublicKey, KemUse, PreKeyBundle, PreKeyStore, PublicKey, Role, Session, SignedPreKey, Trust,
};

use crate::generator::{associated_data, dh, expand, gcm_seal, kdf_ck, kdf_rk, x25519_public};
use crate::support::{
    arr, big, cat, check_chacha_stream, check_identity, draws, h, h12, h16, h32, load, n32, opt_h,
    opt_n32, scripted, st,
};

fn usage(v: &Value) -> KemUse {
    match st(v) {
        "last_resort" => KemUse::LastResort,
        "one_time" => KemUse::OneTime,
        other => panic!("KEM use {other}"),
    }
}

fn use_byte(u: KemUse) -> u8 {
    match u {
        KemUse::LastResort => 0x00,
        KemUse::OneTime => 0x01,
    }
}

fn ids(v: &Value) -> Vec<u32> {
    arr(v).iter().map(n32).collect()
}

/// The published KEM prekey (§4.5): its key from the seed (ours and libcrux's), its signed bytes
/// by hand, its deterministic signature; returns it as the public type.
fn check_kem_prekey(bob: &IdentityKeyPair, k: &Value) -> KemPreKey {
    let seed: [u8; 64] = h(&k["seed"]).try_into().expect("64-byte seed");
    let ek = h(&k["encapsulation_key"]);
    assert_eq!(ek.len(), 1568);
    assert_eq!(
        KemKeyPair::from_seed(&seed).public().as_bytes().to_vec(),
        ek
    );
    assert_eq!(libcrux::generate_key_pair(seed).pk().to_vec(), ek);
    let u = usage(&k["use"]);
    assert_eq!(u32::from(use_byte(u)), n32(&k["use_byte"]));
    let (id, created_at) = (n32(&k["id"]), big(&k["created_at"]));
    let signed = cat(&[
        kdf::LABEL_KEM_PREKEY,
        &[0x01, use_byte(u)],
        &id.to_be_bytes(),
        &created_at.to_be_bytes(),
        &ek,
    ]);
    assert_eq!(signed, h(&k["signed_bytes"]));
    let key = KemPublicKey::from_bytes(&ek).expect("valid encapsulation key");
    assert_eq!(KemPreKey::signed_bytes(u, id, created_at, &key), signed);
    let signature: [u8; 64] = h(&k["signature"]).try_into().unwrap();
    assert_eq!(bob.sign(&signed), signature, "RFC 8032 is deterministic");
    let public = KemPreKey {
        usage: u,
        id,
        created_at,
        key,
        signature,
    };
    public.verify(bob.public()).expect("KEM prekey signature");
    public
}

/// Rebuilds Bob's store from the published draws, in the published order of operations.
fn rebuild_store(
    bob: &IdentityKeyPair,
    c: &Value,
    by_op: &dyn Fn(&str) -> Vec<Vec<u8>>,
) -> PreKeyStore {
    let spk = &c["bob"]["signed_prekey"];
    let kems = arr(&c["bob"]["kem_prekeys"]);
    assert_eq!(kems.len(), 3, "last-resort 0, one-time 1 and 2");
    let kem_seeds: Vec<Vec<u8>> = kems.iter().map(|k| h(&k["seed"])).collect();
    let mut s = PreKeyStore::new();
    scripted(by_op("PreKeyStore::rotate_signed_prekey"), |r| {
        s.rotate_signed_prekey(r, bob, big(&spk["created_at"]) * 1000);
    });
    scripted(by_op("PreKeyStore::generate_one_time_prekeys"), |r| {
        s.generate_one_time_prekeys(r, 2).unwrap();
    });
    let lr_draws = by_op("PreKeyStore::rotate_kem_prekey");
    assert_eq!(lr_draws, kem_seeds[..1]);
    let lr = scripted(lr_draws, |r| {
        s.rotate_kem_prekey(r, bob, big(&kems[0]["created_at"]) * 1000)
    });
    let ot_draws = by_op("PreKeyStore::generate_kem_one_time_prekeys");
    assert_eq!(ot_draws, kem_seeds[1..]);
    let ot = scripted(ot_draws, |r| {
        s.generate_kem_one_time_prekeys(r, bob, 2, big(&kems[1]["created_at"]) * 1000)
            .unwrap()
    });
    for (k, v) in std::iter::once(&lr).chain(&ot).zip(kems) {
        assert_eq!((k.usage, k.id), (usage(&v["use"]), n32(&v["id"])));
        assert_eq!(k.created_at, big(&v["created_at"]));
        let seed: [u8; 64] = h(&v["seed"]).try_into().unwrap();
        assert_eq!(&k.key, KemKeyPair::from_seed(&seed).public());
        k.verify(bob.public()).unwrap();
    }
    s
}

/// The bundle by hand (§5.1, version 0x02).
fn expected_bundle(
    bob: &IdentityKeyPair,
    spk: &Value,
    opk: Option<(u32, [u8; 32])>,
    kem: &KemPreKey,
) -> Vec<u8> {
    let mut b = cat(&[
        &[0x02],
        &bob.public().to_bytes(),
        &n32(&spk["id"]).to_be_bytes(),
        &big(&spk["created_at"]).to_be_bytes(),
        &h(&spk["public"]),
        &h(&spk["signature"]),
    ]);
    match opk {
        None => b.push(0),
        Some((id, public)) => b.extend_from_slice(&cat(&[&[1], &id.to_be_bytes(), &public])),
    }
    b.extend_from_slice(&cat(&[
        &[use_byte(kem.usage)],
        &kem.id.to_be_bytes(),
        &kem.created_at.to_be_bytes(),
        kem.key.as_bytes(),
        &kem.signature,
    ]));
    b
}

#[test]
fn pqxdh_vectors() {
    let file = load("pqxdh.json");
    let cases = arr(&file["cases"]);
    assert_eq!(cases.len(), 4);
    let mut combinations = std::collections::BTreeSet::new();
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

        // Identities, the signed prekey and the one-time prekeys (§4.1, §4.2).
        let alice = check_identity(&c["alice"]);
        let bob = check_identity(&c["bob"]);
        assert_eq!(
            by_op("IdentityKeyPair::generate (alice)"),
            vec![alice.seed().to_vec()]
        );
        assert_eq!(
            by_op("IdentityKeyPair::generate (bob)"),
            vec![bob.seed().to_vec()]
        );
        let spk = &c["bob"]["signed_prekey"];
        let spk_secret = h32(&spk["secret"]);
        let spk_public = h32(&spk["public"]);
        assert_eq!(x25519_public(spk_secret), spk_public);
        let spk_id = n32(&spk["id"]);
        let signed = SignedPreKey::pqxdh_signed_bytes(
            spk_id,
            big(&spk["created_at"]),
            &PublicKey::from_bytes(spk_public).unwrap(),
        );
        assert_eq!(signed, h(&spk["pqxdh_signed_bytes"]));
        // §4.2 by hand: the label, the key type 0x00 (X25519), id, created_at, key.
        let by_hand = cat(&[
            b"xchat-protocol v1 signed prekey",
            &[0x00],
            &spk_id.to_be_bytes(),
            &big(&spk["created_at"]).to_be_bytes(),
            &spk_public,
        ]);
        assert_eq!(signed, by_hand);
        assert_eq!(bob.sign(&signed).to_vec(), h(&spk["signature"]));
        assert_eq!(
            by_op("PreKeyStore::rotate_signed_prekey"),
            vec![spk_secret.to_vec()]
        );
        let otpks = arr(&c["bob"]["one_time_prekeys"]);
        for k in otpks {
            assert_eq!(x25519_public(h32(&k["secret"])), h32(&k["public"]));
        }
        assert_eq!(
            by_op("PreKeyStore::generate_one_time_prekeys"),
            otpks.iter().map(|k| h(&k["secret"])).collect::<Vec<_>>()
        );

        // The KEM prekey (§4.5) and the store rebuilt from the draws.
        let kem = check_kem_prekey(&bob, &c["kem_prekey"]);
        let mut bob_store = rebuild_store(&bob, c, &by_op);

        // The bundle (§5.1): what the rebuilt store makes, by hand, and what it decodes to.
        let b = &c["bundle"];
        let opk_id = opt_n32(&b["one_time_prekey_id"]);
        assert_eq!(usage(&b["kem_use"]), kem.usage);
        assert_eq!(n32(&b["kem_prekey_id"]), kem.id);
        let bundle_bytes = h(&b["bytes"]);
        let made = match kem.usage {
            KemUse::LastResort => bob_store.bundle(&bob, opk_id),
            KemUse::OneTime => bob_store.bundle_with_kem_one_time(&bob, opk_id, kem.id),
        }
        .unwrap();
        assert_eq!(made.to_bytes(), bundle_bytes);
        let opk = opk_id.map(|id| {
            let k = otpks.iter().find(|k| n32(&k["id"]) == id).unwrap();
            (id, h32(&k["secret"]), h32(&k["public"]))
        });
        let opk_public = opk.map(|(id, _, public)| (id, public));
        assert_eq!(bundle_bytes, expected_bundle(&bob, spk, opk_public, &kem));
        assert_eq!(bundle_bytes.len(), n32(&b["length"]) as usize);
        assert_eq!(bundle_bytes.len(), if opk.is_some() { 1823 } else { 1787 });
        let bundle = PreKeyBundle::from_bytes(&bundle_bytes).unwrap();
        assert_eq!(bundle.kem_prekey.as_ref(), Some(&kem));

        // Every DH (§4.4), from both sides.
        let x = &c["pqxdh"];
        let init_draws = by_op("Session::initiate");
        assert_eq!(init_draws.len(), 3, "EK_A, m, the first ratchet key (§1)");
        let ek = h32(&x["base_key_secret"]);
        assert_eq!(init_draws[0], ek.to_vec());
        let ek_public = x25519_public(ek);
        assert_eq!(ek_public, h32(&x["base_key_public"]));
        let alice_x = h32(&c["alice"]["identity_x25519_secret"]);
        let bob_x = h32(&c["bob"]["identity_x25519_secret"]);
        let alice_xp = h32(&c["alice"]["identity_x25519_public"]);
        let bob_xp = h32(&c["bob"]["identity_x25519_public"]);
        let dh1 = dh(alice_x, spk_public).unwrap();
        assert_eq!(dh1, dh(spk_secret, alice_xp).unwrap());
        let dh2 = dh(ek, bob_xp).unwrap();
        assert_eq!(dh2, dh(bob_x, ek_public).unwrap());
        let dh3 = dh(ek, spk_public).unwrap();
        assert_eq!(dh3, dh(spk_secret, ek_public).unwrap());
        let dh4 = opk.map(|(_, secret, public)| {
            let v = dh(ek, public).unwrap();
            assert_eq!(v, dh(secret, ek_public).unwrap());
            v
        });
        for (name, v) in [("dh1", dh1), ("dh2", dh2), ("dh3", dh3)] {
            assert_eq!(v, h32(&x[name]), "{name}");
        }
        assert_eq!(dh4.map(|d| d.to_vec()), opt_h(&x["dh4"]));

        // ML-KEM-1024 (§4.5): Encaps_internal(PQPK_B, m), ours with a scripted RNG and libcrux's;
        // Decaps_internal of the published CT under the key of the published seed gives SS.
        let m: [u8; 32] = h(&x["kem_message"]).try_into().unwrap();
        assert_eq!(init_draws[1], m.to_vec());
        let ct_bytes: [u8; 1568] = h(&x["kem_ciphertext"]).try_into().unwrap();
        let ss = h32(&x["kem_shared_secret"]);
        let (ct, ours) = scripted(vec![m.to_vec()], |r| kem.key.encapsulate(r));
        assert_eq!((*ct.as_bytes(), *ours), (ct_bytes, ss));
        let (their_ct, their_ss) =
            libcrux::encapsulate(&libcrux::MlKem1024PublicKey::from(kem.key.as_bytes()), m);
        assert_eq!((*their_ct.as_slice(), their_ss), (ct_bytes, ss));
        let seed: [u8; 64] = h(&c["kem_prekey"]["seed"]).try_into().unwrap();
        let published_ct = KemCiphertext::from_bytes(&ct_bytes).unwrap();
        assert_eq!(*KemKeyPair::from_seed(&seed).decapsulate(&published_ct), ss);
        let theirs = libcrux::generate_key_pair(seed);
        assert_eq!(
            libcrux::decapsulate(theirs.private_key(), &(&ct_bytes).into()),
            ss
        );

        // The transcript from the published fields, and SK (§3.1b).
        let mut transcript = cat(&[
            &[0x02],
            &alice.public().to_bytes(),
            &bob.public().to_bytes(),
            &spk_id.to_be_bytes(),
            &spk_public,
        ]);
        match opk {
            None => transcript.push(0),
            Some((id, _, public)) => {
                transcript.extend_from_slice(&cat(&[&[1], &id.to_be_bytes(), &public]));
            }
        }
        transcript.extend_from_slice(&cat(&[
            &ek_public,
            &[use_byte(kem.usage)],
            &kem.id.to_be_bytes(),
            kem.key.as_bytes(),
            &ct_bytes,
        ]));
        assert_eq!(transcript, h(&x["transcript"]));
        let published_dh4 = opt_h(&x["dh4"]).map(|d| <[u8; 32]>::try_from(d).unwrap());
        let sk = *kdf::pqxdh(
            &h32(&x["dh1"]),
            &h32(&x["dh2"]),
            &h32(&x["dh3"]),
            published_dh4.as_ref(),
            &ss,
            &h(&x["transcript"]),
        )
        .as_bytes();
        assert_eq!(sk, h32(&x["shared_secret"]));
        let mut ikm = vec![0xff; 32];
        for d in [Some(dh1), Some(dh2), Some(dh3), dh4].into_iter().flatten() {
            ikm.extend_from_slice(&d);
        }
        ikm.extend_from_slice(&ss);
        assert_eq!(ikm, h(&x["ikm"]));
        let info = cat(&[kdf::LABEL_PQXDH, &transcript]);
        assert_eq!(*kdf::hkdf_sha256::<32>(&[0; 32], &ikm, &info), sk);
        let ad = associated_data(
            &alice.public().to_bytes(),
            &bob.public().to_bytes(),
            &context,
        );
        assert_eq!(ad, h(&x["associated_data"]));

        // Ratchet initialisation (§6.2) and the first message (§3.3–§3.5, §5.3).
        let ri = &c["ratchet_init"];
        let ratchet_secret = h32(&ri["ratchet_key_secret"]);
        assert_eq!(init_draws[2], ratchet_secret.to_vec());
        assert_eq!(
            x25519_public(ratchet_secret),
            h32(&ri["ratchet_key_public"])
        );
        let rdh = dh(ratchet_secret, spk_public).unwrap();
        assert_eq!(rdh, h32(&ri["dh_output"]));
        let (rk, ck) = kdf_rk(sk, rdh);
        assert_eq!(
            (rk, ck),
            (h32(&ri["root_key"]), h32(&ri["sending_chain_key"]))
        );
        let fm = &c["first_message"];
        let plaintext = h(&fm["plaintext"]);
        let (next, mk) = kdf_ck(ck);
        assert_eq!(
            (mk, next),
            (h32(&fm["message_key"]), h32(&fm["next_chain_key"]))
        );
        let seed16 = h16(&fm["seed"]);
        assert_eq!(by_op("Session::encrypt"), vec![seed16.to_vec()]);
        let (key, nonce) = expand(mk, seed16);
        assert_eq!((key, nonce), (h32(&fm["aead_key"]), h12(&fm["aead_nonce"])));
        let bytes = h(&fm["bytes"]);
        assert_eq!(bytes.len(), n32(&fm["length"]) as usize);
        let offset = if opk.is_some() { 1648 } else { 1644 };
        let (fields, rest) = bytes.split_at(offset);
        let (prefix, ciphertext) = rest.split_at(58);
        let mut expected_fields = cat(&[
            &[0x02, 0x02],
            &alice.public().to_bytes(),
            &ek_public,
            &spk_id.to_be_bytes(),
        ]);
        match opk_id {
            None => expected_fields.push(0),
            Some(id) => expected_fields.extend_from_slice(&cat(&[&[1], &id.to_be_bytes()])),
        }
        expected_fields.extend_from_slice(&cat(&[
            &[use_byte(kem.usage)],
            &kem.id.to_be_bytes(),
            &ct_bytes,
        ]));
        assert_eq!(fields, expected_fields.as_slice());
        assert_eq!(fields, h(&fm["prekey_fields"]).as_slice());
        let expected_prefix = cat(&[
            &[0x01, 0x01],
            &x25519_public(ratchet_secret),
            &[0; 8],
            &seed16,
        ]);
        assert_eq!(prefix, expected_prefix.as_slice());
        assert_eq!(prefix, h(&fm["prefix"]).as_slice());
        let aad = cat(&[&ad, fields, prefix]);
        assert_eq!(aad, h(&fm["aad"]));
        assert_eq!(gcm_seal(&key, &nonce, &aad, &plaintext), ciphertext);
        assert_eq!(ciphertext, h(&fm["ciphertext"]).as_slice());
        let Ok(Incoming::PreKey(pkm)) = Incoming::decode(&bytes) else {
            panic!("a prekey message")
        };
        let k = pkm.kem.expect("version 0x02 carries the KEM fields");
        assert_eq!(
            (k.usage, k.id, k.ciphertext),
            (kem.usage, kem.id, &ct_bytes)
        );
        assert_eq!(
            (pkm.signed_prekey_id, pkm.one_time_prekey_id),
            (spk_id, opk_id)
        );

        // The initiator re-run with the published draws gives the published bytes.
        let mut alice_session = scripted(init_draws, |r| {
            Session::initiate(r, &alice, &bundle, Trust::FirstUse, &Config::new(&context)).unwrap()
        });
        assert_eq!(alice_session.handshake(), Handshake::Pqxdh);
        let wire = scripted(vec![seed16.to_vec()], |r| {
            alice_session.encrypt(r, &plaintext).unwrap()
        });
        assert_eq!(wire, bytes);

        // The responder, from the rebuilt store, decrypts the published first message (§7.3).
        let rs = &c["responder"];
        let (bob_session, received) =
            Session::respond(&bob, &mut bob_store, &bytes, &Config::new(&context)).unwrap();
        assert_eq!(received, plaintext);
        assert_eq!(received, h(&rs["plaintext"]));
        assert_eq!(bob_session.role(), Role::Responder);
        assert_eq!(bob_session.handshake(), Handshake::Pqxdh);
        assert_eq!(bob_session.used_one_time_prekey(), opk_id.is_some());
        let otpk_ids: Vec<u32> = bob_store.one_time_prekeys().iter().map(|k| k.id).collect();
        assert_eq!(otpk_ids, ids(&rs["one_time_prekey_ids_after"]));
        assert_eq!(
            bob_store.kem_one_time_prekey_ids(),
            ids(&rs["kem_one_time_prekey_ids_after"])
        );
        // §7.3 step 8: a one-time key of either kind is deleted; with neither, the first-message
        // id (§3.6) is recorded under the signed prekey.
        let recorded = opk.is_none() && kem.usage == KemUse::LastResort;
        let id = kdf::hkdf_sha256::<32>(&[0; 32], &dh3, kdf::LABEL_FIRST_MESSAGE);
        assert_eq!(
            opt_h(&rs["first_message_id"]),
            recorded.then(|| id[..16].to_vec())
        );
        assert_eq!(
            bob_store.first_message_capacity(),
            4096 - usize::from(recorded)
        );
        assert_eq!(otpk_ids.len(), 2 - usize::from(opk.is_some()));
        combinations.insert((opk.is_some(), kem.usage == KemUse::OneTime));
    }
    assert_eq!(
        combinations.len(),
        4,
        "{{no OPK, OPK}} × {{last-resort, one-time}}"
    );
}
