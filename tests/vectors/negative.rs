//! `negative.json`: every negative vector fails with exactly the recorded error, and leaves the
//! state it was given unchanged.

use serde_json::Value;
use xchat_protocol::content::Content;
use xchat_protocol::sealed_sender::{
    CertificateKey, SealedRecipient, SenderCertificate, ServerCertificate,
};
use xchat_protocol::{
    Config, IdentityKey, IdentityKeyPair, Incoming, KemCiphertext, KemPublicKey, Limits,
    PreKeyBundle, PreKeyStore, PublicKey, Session, Trust,
};

use crate::generator;
use crate::support::{
    arr, big, draws, h, h32, identity, load, n32, nsize, opt_n32, scripted, session, st, store,
};

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
        "KemPublicKey::from_bytes" => err(KemPublicKey::from_bytes(&bytes_input(input))),
        "KemCiphertext::from_bytes" => err(KemCiphertext::from_bytes(&bytes_input(input))),
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
                    &Config::new(&h(&input["context"])).allow_classical(),
                ))
            })
        }
        "Session::respond" => {
            let mut s = store(&input["prekey_store"]);
            let e = err(Session::respond(
                &identity(&input["identity_seed"]),
                &mut s,
                &h(&input["message"]),
                &Config::new(&h(&input["context"])).allow_classical(),
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
                        &Config::new(&h(&input["context"])).allow_classical(),
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
        "UnknownKemPreKey(1)",
    ] {
        assert!(errors.contains(needed), "a vector for {needed}");
    }
}
