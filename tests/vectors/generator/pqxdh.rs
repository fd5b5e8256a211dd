//! pqxdh.json: keys, KEM prekeys, the version 0x02 bundle, DH1..DH4, the ML-KEM-1024
//! encapsulation (m, CT, SS), the transcript, SK, AD, ratchet initialisation and the first prekey
//! message of four PQXDH runs — with and without a one-time prekey, to a last-resort and to a
//! one-time KEM prekey (SPEC.md §3.1b, §4.5, §5.1, §5.3, §7.2, §7.3).

use xchat_protocol::{
    Config, Handshake, IdentityKeyPair, Incoming, KemPreKey, KemUse, PreKeyBundle, PreKeyStore,
    Session, SignedPreKey, Trust,
};

use super::json::{Json, Obj, big, hx};
use super::pqxdh_check::{
    KEM_FIELDS_LEN, KEM_PREKEY_LEN, TranscriptFields, bundle_bytes, check_kem_prekey, encapsulate,
    first_message_id, ikm, prekey_fields, shared_secret, transcript, use_byte, use_name,
};
use super::primitives::{
    a16, a32, associated_data, dh, expand, gcm_seal, identity_x25519_secret, kdf_ck, kdf_rk,
    x25519_public,
};
use super::rng::Recorder;
use super::shared::{CREATED_AT, draws_json, header};

/// Which KEM prekey the bundle carries.
#[derive(Clone, Copy)]
enum Kem {
    /// The current last-resort one (`PreKeyStore::bundle`).
    LastResort,
    /// One-time KEM prekey `id` (`PreKeyStore::bundle_with_kem_one_time`).
    OneTime(u32),
}

/// The store's times, in milliseconds (the signed fields keep whole seconds, §4.3, §4.5).
fn times(seed: u8) -> [u64; 3] {
    let s = CREATED_AT + u64::from(seed);
    [s * 1000, (s + 100) * 1000 + 999, (s + 200) * 1000 + 1]
}

fn identity_json(id: &IdentityKeyPair) -> Obj {
    Obj::new()
        .f("identity_seed", hx(*id.seed()))
        .f("identity_public", hx(id.public().to_bytes()))
        .f(
            "identity_x25519_secret",
            hx(identity_x25519_secret(&id.seed())),
        )
        .f(
            "identity_x25519_public",
            hx(id.public().x25519().unwrap().to_bytes()),
        )
}

fn kem_prekey_json(k: &KemPreKey, seed: &[u8], signed: &[u8]) -> Obj {
    Obj::new()
        .f("use", use_name(k.usage))
        .f("use_byte", use_byte(k.usage))
        .f("id", k.id)
        .f("created_at", big(k.created_at))
        .f("seed", hx(seed))
        .f("encapsulation_key", hx(k.key.as_bytes()))
        .f("signed_bytes", hx(signed))
        .f("signature", hx(k.signature))
}

#[allow(clippy::too_many_arguments)]
fn pqxdh_case(
    name: &str,
    description: &str,
    seed: u8,
    one_time_id: Option<u32>,
    kem: Kem,
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
    let [spk_now, kem_now, kem_ot_now] = times(seed);

    let alice = IdentityKeyPair::generate(&mut rng);
    record("IdentityKeyPair::generate (alice)", rng.take());
    let bob = IdentityKeyPair::generate(&mut rng);
    record("IdentityKeyPair::generate (bob)", rng.take());
    let mut store = PreKeyStore::new();
    let spk = store.rotate_signed_prekey(&mut rng, &bob, spk_now);
    let spk_draws = record(
        &format!("PreKeyStore::rotate_signed_prekey (now_ms = {spk_now})"),
        rng.take(),
    );
    let otpks = store.generate_one_time_prekeys(&mut rng, 2).unwrap();
    let otpk_draws = record("PreKeyStore::generate_one_time_prekeys(2)", rng.take());
    let last_resort = store.rotate_kem_prekey(&mut rng, &bob, kem_now);
    let lr_draws = record(
        &format!("PreKeyStore::rotate_kem_prekey (now_ms = {kem_now})"),
        rng.take(),
    );
    let kem_otpks = store
        .generate_kem_one_time_prekeys(&mut rng, &bob, 2, kem_ot_now)
        .unwrap();
    let kem_ot_draws = record(
        &format!("PreKeyStore::generate_kem_one_time_prekeys(2) (now_ms = {kem_ot_now})"),
        rng.take(),
    );
    let bundle = match kem {
        Kem::LastResort => store.bundle(&bob, one_time_id),
        Kem::OneTime(id) => store.bundle_with_kem_one_time(&bob, one_time_id, id),
    }
    .expect("bundle");
    let wire_bundle = bundle.to_bytes();
    let mut session = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context),
    )
    .expect("initiate");
    assert_eq!(session.handshake(), Handshake::Pqxdh);
    let init_draws = record("Session::initiate", rng.take());
    let first = session.encrypt(&mut rng, plaintext).expect("encrypt");
    let enc_draws = record("Session::encrypt", rng.take());
    let kem_ids_before = store.kem_one_time_prekey_ids();
    let (bob_session, received) =
        Session::respond(&bob, &mut store, &first, &Config::new(context)).expect("respond");
    assert_eq!(received, plaintext);
    assert_eq!(bob_session.handshake(), Handshake::Pqxdh);

    // The KEM prekeys from their seeds (§4.5): ids 0 (last-resort), 1 and 2 (one-time).
    assert_eq!(lr_draws.len(), 1);
    assert_eq!(kem_ot_draws.len(), 2);
    let lr_signed = check_kem_prekey(
        &bob,
        &last_resort,
        &lr_draws[0],
        KemUse::LastResort,
        0,
        kem_now / 1000,
    );
    assert_eq!(store.current_kem_prekey().as_ref(), Some(&last_resort));
    let mut kem_all = vec![(last_resort.clone(), lr_draws[0].clone(), lr_signed)];
    for (i, (k, d)) in kem_otpks.iter().zip(&kem_ot_draws).enumerate() {
        let id = u32::try_from(i).unwrap() + 1;
        let signed = check_kem_prekey(&bob, k, d, KemUse::OneTime, id, kem_ot_now / 1000);
        kem_all.push((k.clone(), d.clone(), signed));
    }
    assert_eq!(kem_ids_before, [1, 2]);
    let (kem_key, kem_seed, kem_signed) = match kem {
        Kem::LastResort => kem_all[0].clone(),
        Kem::OneTime(id) => kem_all
            .iter()
            .find(|(k, _, _)| k.id == id && k.usage == KemUse::OneTime)
            .expect("one-time KEM prekey")
            .clone(),
    };
    assert_eq!(bundle.kem_prekey.as_ref(), Some(&kem_key));

    // The bundle (§5.1).
    assert_eq!(wire_bundle, bundle_bytes(&bundle));
    let opk_len = if one_time_id.is_some() { 178 } else { 142 };
    assert_eq!(wire_bundle.len(), opk_len + KEM_PREKEY_LEN);
    assert_eq!(
        PreKeyBundle::from_bytes(&wire_bundle).expect("decodes"),
        bundle
    );

    // Identities, the signed prekey and the one-time prekeys from their draws.
    let alice_x = identity_x25519_secret(&alice.seed());
    let bob_x = identity_x25519_secret(&bob.seed());
    let ik_a = alice.public().to_bytes();
    let ik_b = bob.public().to_bytes();
    let ik_a_x = alice.public().x25519().unwrap().to_bytes();
    let ik_b_x = bob.public().x25519().unwrap().to_bytes();
    assert_eq!(x25519_public(alice_x), ik_a_x);
    assert_eq!(x25519_public(bob_x), ik_b_x);
    let spk_secret = a32(&spk_draws[0]);
    let spk_public = spk.key.to_bytes();
    assert_eq!(x25519_public(spk_secret), spk_public);
    // A PQXDH bundle's signed prekey is signed with its key type (§4.2), by `bundle`.
    let spk_signed = SignedPreKey::pqxdh_signed_bytes(spk.id, spk.created_at, &spk.key);
    assert_eq!(bundle.signed_prekey.signature, bob.sign(&spk_signed));
    bundle.verify().expect("the bundle's signatures");
    let opk = one_time_id.map(|id| {
        let index = otpks.iter().position(|k| k.id == id).expect("otpk");
        let secret = a32(&otpk_draws[index]);
        assert_eq!(x25519_public(secret), otpks[index].key.to_bytes());
        (id, secret, otpks[index].key.to_bytes())
    });

    // X25519 (§4.4), from both sides.
    assert_eq!(
        init_draws.len(),
        3,
        "EK_A, m, then the first ratchet key (§1)"
    );
    let ek_secret = a32(&init_draws[0]);
    let ek_public = x25519_public(ek_secret);
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

    // ML-KEM-1024 (§4.5 step 3), the transcript and SK (§3.1b).
    let m = &init_draws[1];
    let ek = kem_key.key.as_bytes().as_slice();
    let (ct, ss) = encapsulate(ek, m, &kem_seed);
    let fields = TranscriptFields {
        ik_a: &ik_a,
        ik_b: &ik_b,
        spk: (spk.id, &spk_public),
        opk: opk.as_ref().map(|(id, _, public)| (*id, public)),
        ek_a: &ek_public,
        kem: (kem_key.usage, kem_key.id, ek),
        ct: &ct,
    };
    let transcript = transcript(&fields);
    let dhs = [Some(dh1), Some(dh2), Some(dh3), dh4];
    let sk = shared_secret(&dhs, &ss, &transcript);
    let ad = associated_data(&ik_a, &ik_b, context);

    // Ratchet initialisation (§6.2) and the first message (§3.3–§3.5, §5.3).
    let ratchet_secret = a32(&init_draws[2]);
    let ratchet_dh = dh(ratchet_secret, spk_public).expect("ratchet dh");
    let (root_key, chain_key) = kdf_rk(sk, ratchet_dh);
    let (next_chain_key, message_key) = kdf_ck(chain_key);
    assert_eq!(enc_draws.len(), 1);
    let seed16 = a16(&enc_draws[0]);
    let (aead_key, aead_nonce) = expand(message_key, seed16);
    let offset = if one_time_id.is_some() { 75 } else { 71 } + KEM_FIELDS_LEN;
    let pk_fields = prekey_fields(&fields);
    assert_eq!(pk_fields.len(), offset);
    assert_eq!(&first[..offset], pk_fields.as_slice());
    let prefix = &first[offset..offset + 58];
    let ciphertext = &first[offset + 58..];
    assert_eq!(&prefix[..2], &[0x01, 0x01]);
    assert_eq!(&prefix[2..34], &x25519_public(ratchet_secret));
    assert_eq!(&prefix[34..42], &[0; 8], "PN = N = 0");
    assert_eq!(&prefix[42..58], &seed16);
    let aad = [ad.as_slice(), &first[..offset + 58]].concat();
    assert_eq!(
        gcm_seal(&aead_key, &aead_nonce, &aad, plaintext),
        ciphertext,
        "the crate's SK is the recomputed one"
    );
    let Ok(Incoming::PreKey(pkm)) = Incoming::decode(&first) else {
        panic!("a prekey message")
    };
    let k = pkm.kem.expect("PQXDH fields");
    assert_eq!((k.usage, k.id), (kem_key.usage, kem_key.id));
    assert_eq!(k.ciphertext.as_slice(), ct.as_slice());

    // What the responder kept (§7.3 step 8): a one-time key of either kind is deleted; with
    // neither, the first-message id is recorded under the signed prekey.
    let recorded =
        (one_time_id.is_none() && matches!(kem, Kem::LastResort)).then(|| first_message_id(&dh3));
    assert_eq!(
        store.first_message_capacity(),
        4096 - usize::from(recorded.is_some())
    );
    let otpk_ids_after: Vec<u32> = store.one_time_prekeys().iter().map(|k| k.id).collect();
    let expected_otpk: Vec<u32> = (0..2).filter(|&i| Some(i) != one_time_id).collect();
    assert_eq!(otpk_ids_after, expected_otpk);
    let kem_ids_after = store.kem_one_time_prekey_ids();
    let expected_kem: Vec<u32> = (1..3)
        .filter(|&i| !matches!(kem, Kem::OneTime(id) if id == i))
        .collect();
    assert_eq!(kem_ids_after, expected_kem);

    let bob_json = identity_json(&bob)
        .f(
            "signed_prekey",
            Obj::new()
                .f("id", spk.id)
                .f("created_at", big(spk.created_at))
                .f("secret", hx(spk_secret))
                .f("public", hx(spk_public))
                .f("pqxdh_signed_bytes", hx(&spk_signed))
                .f("signature", hx(bundle.signed_prekey.signature)),
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
        )
        .f(
            "kem_prekeys",
            Json::Array(
                kem_all
                    .iter()
                    .map(|(k, d, _)| {
                        Obj::new()
                            .f("use", use_name(k.usage))
                            .f("id", k.id)
                            .f("created_at", big(k.created_at))
                            .f("seed", hx(d))
                            .into()
                    })
                    .collect(),
            ),
        );
    let list = |ids: &[u32]| Json::Array(ids.iter().map(|&i| Json::from(i)).collect());

    Obj::new()
        .f("name", name)
        .f("description", description)
        .f("rng_seed", hx(rng_seed))
        .f("rng_draws", Json::Array(draws))
        .f("context", hx(context))
        .f("alice", identity_json(&alice))
        .f("bob", bob_json)
        .f(
            "kem_prekey",
            kem_prekey_json(&kem_key, &kem_seed, &kem_signed),
        )
        .f(
            "bundle",
            Obj::new()
                .f("one_time_prekey_id", one_time_id)
                .f("kem_use", use_name(kem_key.usage))
                .f("kem_prekey_id", kem_key.id)
                .f("length", wire_bundle.len())
                .f("bytes", hx(&wire_bundle)),
        )
        .f(
            "pqxdh",
            Obj::new()
                .f("base_key_secret", hx(ek_secret))
                .f("base_key_public", hx(ek_public))
                .f("dh1", hx(dh1))
                .f("dh2", hx(dh2))
                .f("dh3", hx(dh3))
                .f("dh4", dh4.map(hx))
                .f("kem_message", hx(m))
                .f("kem_ciphertext", hx(&ct))
                .f("kem_shared_secret", hx(ss))
                .f("ikm", hx(ikm(&dhs, &ss)))
                .f("transcript", hx(&transcript))
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
                .f("message_key", hx(message_key))
                .f("next_chain_key", hx(next_chain_key))
                .f("aead_key", hx(aead_key))
                .f("aead_nonce", hx(aead_nonce))
                .f("prekey_fields", hx(&pk_fields))
                .f("prefix", hx(prefix))
                .f("aad", hx(&aad))
                .f("ciphertext", hx(ciphertext))
                .f("length", first.len())
                .f("bytes", hx(&first)),
        )
        .f(
            "responder",
            Obj::new()
                .f("plaintext", hx(&received))
                .f("first_message_id", recorded.map(hx))
                .f("one_time_prekey_ids_after", list(&otpk_ids_after))
                .f("kem_one_time_prekey_ids_after", list(&kem_ids_after)),
        )
        .into()
}

pub fn pqxdh_json() -> Json {
    header(
        "pqxdh.json",
        "PQXDH: keys, KEM prekeys, bundle, DH outputs, ML-KEM encapsulation, transcript, SK, AD and the first prekey message",
        &[
            "§1", "§2", "§3.0", "§3.1b", "§3.2", "§3.3", "§3.4", "§3.5", "§3.6", "§4.1", "§4.2",
            "§4.3", "§4.4", "§4.5", "§5.1", "§5.3", "§5.4", "§6.2", "§7.2", "§7.3",
        ],
    )
    .f(
        "cases",
        Json::Array(vec![
            pqxdh_case(
                "last_resort_kem_no_one_time_prekey",
                "Last-resort KEM prekey 0, no one-time prekey (no DH4; the first-message id is recorded)",
                0x11,
                None,
                Kem::LastResort,
                b"alice@example|bob@example",
                b"hello over PQXDH",
            ),
            pqxdh_case(
                "last_resort_kem_one_time_prekey",
                "Last-resort KEM prekey 0 and one-time prekey 1 (DH4 present), empty context",
                0x12,
                Some(1),
                Kem::LastResort,
                b"",
                b"",
            ),
            pqxdh_case(
                "one_time_kem_no_one_time_prekey",
                "One-time KEM prekey 2, no one-time prekey (no DH4; the KEM prekey is deleted)",
                0x13,
                None,
                Kem::OneTime(2),
                b"conversation 7",
                b"a one-time KEM prekey",
            ),
            pqxdh_case(
                "one_time_kem_one_time_prekey",
                "One-time KEM prekey 1 and one-time prekey 0 (DH4 present; both are deleted)",
                0x14,
                Some(0),
                Kem::OneTime(1),
                b"alice|bob",
                b"both one-time keys",
            ),
        ]),
    )
    .into()
}
