//! state.json: identity, prekey store and session blobs with their decoded fields, older
//! versions with their migrated form, and the same sealed at rest (SPEC.md §10).

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce};
use xchat_protocol::content;
use xchat_protocol::kdf;
use xchat_protocol::state::StorageKey;
use xchat_protocol::{Config, IdentityKeyPair, Limits, PreKeyStore, Session, TimerStart, Trust};

use super::json::{Json, Obj, hex_list, hx};
use super::primitives::a32;
use super::rng::Recorder;
use super::shared::{CREATED_AT, T0, blob, header};
use super::state_codec::{self, KIND_IDENTITY, KIND_STORE, Legacy};
use super::state_fields::{open_mut, parse_session, parse_store, session_fields, store_fields};

pub(super) fn state_entry(name: &str, description: &str, object: &str, bytes: &[u8]) -> Json {
    let fields = match object {
        "identity" => {
            let seed = state_codec::decode_identity(bytes).expect("an identity blob");
            let id = IdentityKeyPair::from_seed(&seed);
            assert_eq!(
                IdentityKeyPair::from_bytes(bytes)
                    .expect("decode")
                    .to_bytes()
                    .as_slice(),
                bytes
            );
            Obj::new()
                .f("seed", hx(seed))
                .f("public", hx(id.public().to_bytes()))
                .into()
        }
        "prekey_store" => {
            assert_eq!(
                PreKeyStore::from_bytes(bytes)
                    .expect("decode")
                    .to_bytes()
                    .unwrap()
                    .as_slice(),
                bytes
            );
            store_fields(&parse_store(bytes))
        }
        "session" => {
            assert_eq!(
                Session::from_bytes(bytes)
                    .expect("decode")
                    .to_bytes()
                    .unwrap()
                    .as_slice(),
                bytes
            );
            session_fields(&parse_session(bytes))
        }
        _ => unreachable!(),
    };
    Obj::new()
        .f("name", name)
        .f("description", description)
        .f("object", object)
        .f("bytes", hx(bytes))
        .f("fields", fields)
        .into()
}

pub fn state_json() -> Json {
    let rng_seed = [0x54; 32];
    let mut rng = Recorder::new(rng_seed);
    let mut entries = Vec::new();
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    entries.push(state_entry(
        "identity",
        "IdentityKeyPair::to_bytes: the 32-byte Ed25519 seed",
        "identity",
        &alice.to_bytes(),
    ));

    let mut store = PreKeyStore::new();
    entries.push(state_entry(
        "store_empty",
        "PreKeyStore::new()",
        "prekey_store",
        &store.to_bytes().unwrap(),
    ));
    store.rotate_signed_prekey(&mut rng, &bob, CREATED_AT * 1000);
    entries.push(state_entry(
        "store_one_signed_prekey",
        "after rotate_signed_prekey(1700000000)",
        "prekey_store",
        &store.to_bytes().unwrap(),
    ));
    store.generate_one_time_prekeys(&mut rng, 3).unwrap();
    entries.push(state_entry(
        "store_with_one_time_prekeys",
        "after generate_one_time_prekeys(3): ids 0, 1, 2",
        "prekey_store",
        &store.to_bytes().unwrap(),
    ));
    for i in 1..=3 {
        store.rotate_signed_prekey(&mut rng, &bob, (CREATED_AT + i * 86_400) * 1000);
    }
    entries.push(state_entry(
        "store_rotated",
        "after three more rotations: signed prekey 0 dropped, 1..3 kept (oldest first)",
        "prekey_store",
        &store.to_bytes().unwrap(),
    ));

    // Sessions: one with a one-time prekey and custom limits; one without.
    let context = b"state vectors";
    let bundle = store.bundle(&bob, Some(1)).expect("bundle");
    let mut a = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context).allow_classical(),
    )
    .expect("initiate");
    entries.push(state_entry(
        "session_initiator_new",
        "initiator right after Session::initiate: unacknowledged, sending chain, DHr = SPK_B",
        "session",
        &a.to_bytes().unwrap(),
    ));
    let m0 = a.encrypt(&mut rng, b"m0").expect("encrypt");
    let m1 = a.encrypt(&mut rng, b"m1").expect("encrypt");
    let m2 = a.encrypt(&mut rng, b"m2").expect("encrypt");
    let (mut b, _) = Session::respond(
        &bob,
        &mut store,
        &m2,
        &Config::new(context).allow_classical().with_limits(Limits {
            max_skip: 100,
            max_skipped_keys: 200,
            max_old_chains: 2,
            max_skipped_key_age: 50,
        }),
    )
    .expect("respond");
    entries.push(state_entry(
        "store_after_one_time_prekey_used",
        "after Session::respond consumed one-time prekey 1",
        "prekey_store",
        &store.to_bytes().unwrap(),
    ));
    let responder_new = blob(b.to_bytes().unwrap());
    entries.push(state_entry(
        "session_responder_new",
        "responder after respond_with_limits on the third message: two skipped keys, sending half-step deferred (send absent, DHs = SPK_B)",
        "session",
        &b.to_bytes().unwrap(),
    ));
    b.decrypt(&m0).expect("m0");
    let r0 = b.encrypt(&mut rng, b"r0").expect("encrypt");
    let r1 = b.encrypt(&mut rng, b"r1").expect("encrypt");
    a.decrypt(&r1).expect("r1");
    entries.push(state_entry(
        "session_initiator_acknowledged",
        "initiator after the first reply: acknowledged, one skipped key, half-step deferred",
        "session",
        &a.to_bytes().unwrap(),
    ));
    let a3 = a.encrypt(&mut rng, b"a3").expect("encrypt");
    b.decrypt(&a3).expect("a3");
    let _ = (r0, m1);
    entries.push(state_entry(
        "session_responder_with_old_chain",
        "responder after a new ratchet key: one old chain, skipped keys under it",
        "session",
        &b.to_bytes().unwrap(),
    ));
    let t = b
        .set_timer(&mut rng, T0, 600, TimerStart::OnRead)
        .expect("timer");
    a.receive(&t, T0 + 10)
        .expect("timer")
        .into_message()
        .unwrap();
    entries.push(state_entry(
        "session_with_timer",
        "initiator after receiving an on-read 10 min timer, version 1",
        "session",
        &a.to_bytes().unwrap(),
    ));
    let mut trimmed = Session::from_bytes(&responder_new).expect("loads");
    trimmed
        .set_limits(Limits {
            max_skip: 1,
            max_skipped_keys: 1,
            max_old_chains: 1,
            max_skipped_key_age: 1,
        })
        .expect("limits");
    entries.push(state_entry(
        "session_minimal_limits",
        "session_responder_new after set_limits(1, 1, 1, 1): the older of its two skipped keys is dropped",
        "session",
        &trimmed.to_bytes().unwrap(),
    ));

    let bundle = store.bundle(&bob, None).expect("bundle");
    let mut c = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b"").allow_classical(),
    )
    .expect("initiate");
    let first = c.encrypt(&mut rng, b"no one-time prekey").expect("encrypt");
    let (d, _) = Session::respond(
        &bob,
        &mut store,
        &first,
        &Config::new(b"").allow_classical(),
    )
    .expect("respond");
    let store_v2 = blob(store.to_bytes().unwrap());
    entries.push(state_entry(
        "store_with_accepted_first_message",
        "after a session without a one-time prekey: its first-message id (§3.6) in the signed prekey's record",
        "prekey_store",
        &store_v2,
    ));
    // The same store as version 1 wrote it: no record per signed prekey, the base key in a list.
    // Loading converts the list into the record of every held signed prekey (§10.2).
    let parsed = parse_store(&store_v2);
    let seen = [a32(&first[34..66])];
    let v1 = parsed.encode_v1(&seen);
    let migrated = blob(
        PreKeyStore::from_bytes(&v1)
            .expect("v1")
            .to_bytes()
            .unwrap(),
    );
    // Every held signed prekey now records the base key's id under its own DH3.
    for k in &parse_store(&migrated).signed {
        let id = state_codec::first_message_id(&k.key.secret, &seen[0]).expect("contributory");
        assert!(k.accepted.contains(&id));
    }
    entries.push(
        Obj::new()
            .f("name", "store_version_1_with_seen_base_key")
            .f(
                "description",
                "the previous entry's store in version 1 of §10.2; PreKeyStore::from_bytes records the seen base key under every held signed prekey, and to_bytes gives `migrated` (version 3)",
            )
            .f("object", "prekey_store_v1")
            .f("bytes", hx(&v1))
            .f(
                "fields",
                Json::from(
                    Obj::new()
                        .f("seen_base_keys", hex_list(&seen))
                        .f("migrated", hx(&migrated)),
                ),
            )
            .into(),
    );
    entries.push(state_entry(
        "session_responder_without_one_time_prekey",
        "responder of a session without a one-time prekey, empty context",
        "session",
        &d.to_bytes().unwrap(),
    ));
    // The same session as version 1 wrote it: its ratchet secret as drawn (here with a bit that
    // clamping clears) and a purge deadline in place of each skip time (SPEC.md §10.3).
    // A framed message skipped by `receive`, so that one key has a skip time.
    let mut d = d;
    let m1 = c.send(&mut rng, T0, b"skipped").expect("send");
    let m2 = c.send(&mut rng, T0, b"received").expect("send");
    d.receive(&m2, T0 + 1_000)
        .expect("receive")
        .into_message()
        .unwrap();
    drop(m1);
    let v3 = blob(d.to_bytes().unwrap());
    let mut old = parse_session(&v3);
    let open = open_mut(&mut old);
    assert!(open.skipped.iter().any(|e| e.skipped_at == T0 + 1_000));
    // Version 1 kept the old ratchet secret of a pending sending side; here an unclamped one,
    // which reading drops.
    let old_dhs = [0x11; 32];
    assert!(open.send.is_none());
    for e in &mut open.skipped {
        if e.skipped_at != u64::MAX {
            e.skipped_at += 2 * content::MAX_CLOCK_SKEW_MS;
        }
    }
    let v1 = old.encode_v1(&Legacy {
        pending_dhs: old_dhs,
        opening_dhr: [0; 32],
    });
    assert_eq!(
        blob(Session::from_bytes(&v1).expect("v1").to_bytes().unwrap()),
        v3
    );
    entries.push(
        Obj::new()
            .f("name", "session_version_1")
            .f(
                "description",
                "a session (the previous entry after one more framed message, whose predecessor was skipped at T0 + 1 s) in version 1 of §10.3: role and acknowledged flags, the old DHs secret of its pending sending side (here 0x11…, bit 0 set), and a purge deadline skip time + 2 · MAX_CLOCK_SKEW in place of the skip time; Session::from_bytes reads it, drops the dead secret, and to_bytes gives `migrated` (version 3)",
            )
            .f("object", "session_v1")
            .f("bytes", hx(&v1))
            .f("fields", Json::from(Obj::new().f("migrated", hx(&v3))))
            .into(),
    );

    // Sealed at rest (§10.4): the identity, one store and one session of the entries above,
    // under a fixed storage key, each checked here from public primitives.
    let storage_key = [0x5Au8; 32];
    let key = StorageKey::from_bytes(storage_key);
    let mut seal_rng = Recorder::new([0x55; 32]);
    let sealed_of = [
        "identity",
        "store_with_accepted_first_message",
        "session_with_timer",
    ];
    for name in sealed_of {
        let entry = entries.iter().find(|e| e["name"] == name).expect("entry");
        let plain = hex::decode(entry["bytes"].as_str().expect("bytes")).expect("hex");
        let sealed = match plain[0] {
            KIND_IDENTITY => IdentityKeyPair::from_bytes(&plain)
                .expect("identity")
                .to_sealed_bytes(&mut seal_rng, &key),
            KIND_STORE => PreKeyStore::from_bytes(&plain)
                .expect("store")
                .to_sealed_bytes(&mut seal_rng, &key),
            _ => Session::from_bytes(&plain)
                .expect("session")
                .to_sealed_bytes(&mut seal_rng, &key),
        }
        .expect("seal");
        let salt = seal_rng.take().pop().expect("one draw: the salt");
        assert_eq!(&sealed[..2], &[plain[0] | 0x80, plain[1]]);
        assert_eq!(&sealed[2..34], salt.as_slice());
        let mut info = b"xchat-protocol v1 state at rest".to_vec();
        info.extend_from_slice(&plain[..2]);
        let blob_key = *kdf::hkdf_sha256::<32>(&salt, &storage_key, &info);
        let body = &plain[2..plain.len() - 16];
        let mut ciphertext = body.to_vec();
        let tag = Aes256Gcm::new(&blob_key.into())
            .encrypt_inout_detached(
                &Nonce::<Aes256Gcm>::from([0; 12]),
                &sealed[..34],
                ciphertext.as_mut_slice().into(),
            )
            .expect("seal");
        assert_eq!(
            sealed[34..],
            [ciphertext.as_slice(), tag.as_slice()].concat()
        );
        entries.push(
            Obj::new()
                .f("name", format!("{name}_sealed"))
                .f(
                    "description",
                    format!("the `{name}` entry sealed at rest (§10.4) under storage_key"),
                )
                .f("object", "sealed")
                .f("bytes", hx(&sealed))
                .f(
                    "fields",
                    Obj::new()
                        .f("plain_entry", name)
                        .f("salt", hx(&salt))
                        .f("info", hx(&info))
                        .f("blob_key", hx(blob_key))
                        .f("body", hx(body)),
                )
                .into(),
        );
    }

    header(
        "state.json",
        "Persisted state: identity, prekey store and session blobs with their decoded fields, and the same sealed at rest",
        &[
            "§4.3", "§6.1", "§6.4", "§10.0", "§10.1", "§10.2", "§10.3", "§10.4", "§8.1",
        ],
    )
    .f("storage_key", hx(storage_key))
    .f("rng_seed", hx(rng_seed))
    .f("alice_identity", hx(alice.public().to_bytes()))
    .f("alice_identity_seed", hx(alice.seed().as_slice()))
    .f("bob_identity", hx(bob.public().to_bytes()))
    .f("bob_identity_seed", hx(bob.seed().as_slice()))
    .f("entries", Json::Array(entries))
    .into()
}
