//! `state.json`: the state formats at rest (§10): identity, prekey store and session blobs
//! re-encoded from their published fields, version 1 migrations, and sealed blobs (§10.4).

use serde_json::Value;
use sha2::{Digest, Sha256};
use xchat_protocol::{
    IdentityKey, IdentityKeyPair, Limits, PreKeyStore, PublicKey, Role, Session, SignedPreKey,
    TimerStart,
};

use crate::generator::{self, dh, x25519_public};
use crate::support::{arr, big, h, h32, identity, load, n32, opt_n32, st, timer};

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
                for k in &v2.signed {
                    let accepted: Vec<Vec<u8>> = k.accepted.iter().map(|a| a.to_vec()).collect();
                    for base in seen {
                        let dh3 = dh(k.key.secret, h32(base)).unwrap();
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
