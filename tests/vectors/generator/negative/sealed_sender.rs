//! Sealed sender (SPEC.md §9): `SealedRecipient::open`, `Opened::decrypt` / `Opened::respond`,
//! and the certificate decoders.

use xchat_protocol::sealed_sender::{self, CertificateKeyPair, SealedRecipient, SenderCertificate};
use xchat_protocol::{Config, IdentityKey, IdentityKeyPair, PreKeyStore, Session, Trust};

use super::super::json::hx;
use super::super::rng::Recorder;
use super::super::sealed_sender::{seal_parts, sealed_payload};
use super::super::shared::{T0, blob};
use super::fixture::Fixture;
use super::harness::{Neg, OpenInput, with};
use super::points::{LOW_ORDER_X25519, Points, h32, x25519_torsion_variants};

/// Sealed sender (§9).
pub(super) fn vectors(neg: &mut Neg, fx: &Fixture, rng: &mut Recorder) {
    let Fixture {
        context,
        alice,
        bob,
        mallory,
        store_initial,
        ..
    } = fx;
    let Points {
        p,
        identity_point,
        order8,
        ..
    } = Points::new();
    let root = CertificateKeyPair::from_seed(&rng.bytes32());
    let rogue_root = CertificateKeyPair::from_seed(&rng.bytes32());
    let server = CertificateKeyPair::from_seed(&rng.bytes32());
    let rogue_server = CertificateKeyPair::from_seed(&rng.bytes32());
    let server_cert = root.certify_server(3, &server.public());
    let expires = T0 + 86_400_000;
    let alice_cert = server
        .certify_sender(&server_cert, b"alice", 1, alice.public(), expires)
        .expect("cert");
    let bob_cert = server
        .certify_sender(&server_cert, b"bob", 1, bob.public(), expires)
        .expect("cert");
    let mallory_cert = server
        .certify_sender(&server_cert, b"mallory", 1, mallory.public(), expires)
        .expect("cert");
    let forged_cert = rogue_server
        .certify_sender(&server_cert, b"alice", 1, alice.public(), expires)
        .expect("cert");
    let carol = IdentityKeyPair::generate(rng);

    // A fresh session Alice → Bob whose first message travels sealed.
    let mut st = PreKeyStore::from_bytes(store_initial).expect("store");
    let sealed_store = blob(st.to_bytes().unwrap());
    let bundle = st.bundle(bob, Some(0)).expect("bundle");
    let mut alice_s = Session::initiate(
        rng,
        alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context).allow_classical(),
    )
    .expect("initiate");
    let hello = alice_s.send(rng, T0, b"hello").expect("send");
    let env = sealed_sender::seal_to(rng, alice, &alice_cert, bob.public(), &hello).expect("seal");
    let now = T0 + 1_000;
    let roots = vec![root.public()];
    let ok = OpenInput {
        recipient_seed: *bob.seed(),
        roots: roots.clone(),
        revoked: Vec::new(),
        envelope: env.clone(),
        now_ms: now,
    };
    let recipient = SealedRecipient {
        identity: bob,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    let (mut bob_s, _) = recipient
        .open(&env, now)
        .expect("open")
        .respond(bob, &mut st, &Config::new(context).allow_classical())
        .expect("respond");
    let sealed_store_after = blob(st.to_bytes().unwrap());
    let reply = bob_s.send(rng, T0 + 2_000, b"reply").expect("send");
    alice_s
        .receive(&reply, T0 + 2_500)
        .expect("receive")
        .into_message()
        .unwrap();
    let normal_msg = alice_s.send(rng, T0 + 3_000, b"normal").expect("send");
    let bob_before_normal = blob(bob_s.to_bytes().unwrap());
    let env_normal =
        sealed_sender::seal_to(rng, alice, &alice_cert, bob.public(), &normal_msg).expect("seal");
    recipient
        .open(&env_normal, now + 3_000)
        .expect("open")
        .decrypt(&mut bob_s)
        .expect("decrypt");
    let bob_after_normal = blob(bob_s.to_bytes().unwrap());

    let seal_with =
        |rng: &mut Recorder,
         sender: &IdentityKeyPair,
         cert: &SenderCertificate,
         to: &IdentityKey,
         msg: &[u8]| { sealed_sender::seal_to(rng, sender, cert, to, msg).expect("seal") };
    let expired = OpenInput {
        now_ms: expires,
        ..ok.clone()
    };
    neg.open(
        "open: certificate expired (now = expires)",
        "§9.3 step 4",
        &expired,
        "CertificateExpired",
    );
    let revoked = OpenInput {
        revoked: vec![3],
        ..ok.clone()
    };
    neg.open(
        "open: server revoked",
        "§9.3 step 2",
        &revoked,
        "RevokedServer",
    );
    let wrong_root = OpenInput {
        roots: vec![rogue_root.public()],
        ..ok.clone()
    };
    neg.open(
        "open: server certificate not signed by a trust root",
        "§9.3 step 1",
        &wrong_root,
        "InvalidCertificate",
    );
    let forged = OpenInput {
        envelope: seal_with(rng, alice, &forged_cert, bob.public(), &hello),
        ..ok.clone()
    };
    neg.open(
        "open: sender certificate not signed by the server key",
        "§9.3 step 3",
        &forged,
        "InvalidCertificate",
    );
    let self_sent = OpenInput {
        envelope: seal_with(rng, bob, &bob_cert, bob.public(), &hello),
        ..ok.clone()
    };
    neg.open(
        "open: sealed by our own identity",
        "§9.4 step 7",
        &self_sent,
        "SelfSend",
    );
    let stolen = OpenInput {
        envelope: seal_with(rng, mallory, &alice_cert, bob.public(), &hello),
        ..ok.clone()
    };
    neg.open(
        "open: certificate of another identity",
        "§9.4 step 6",
        &stolen,
        "SenderIdentityMismatch",
    );
    let tampered = OpenInput {
        envelope: with(&env, |v| {
            let last = v.len() - 1;
            v[last] ^= 1;
        }),
        ..ok.clone()
    };
    neg.open(
        "open: tampered content",
        "§9.4 step 3",
        &tampered,
        "DecryptionFailed",
    );
    let tampered_id = OpenInput {
        envelope: with(&env, |v| v[40] ^= 1),
        ..ok.clone()
    };
    neg.open(
        "open: tampered encrypted identity",
        "§9.4 step 2",
        &tampered_id,
        "DecryptionFailed",
    );
    let not_ours = OpenInput {
        recipient_seed: *carol.seed(),
        ..ok.clone()
    };
    neg.open(
        "open: sealed to someone else",
        "§9.4 step 2",
        &not_ours,
        "DecryptionFailed",
    );
    let version = OpenInput {
        envelope: with(&env, |v| v[0] = 2),
        ..ok.clone()
    };
    neg.open(
        "open: unknown version",
        "§9.4 step 1",
        &version,
        "Decode(UnknownVersion(2))",
    );
    let short = OpenInput {
        envelope: env[..1 + 32 + 48 + 15].to_vec(),
        ..ok.clone()
    };
    neg.open(
        "open: content shorter than a tag",
        "§9.4 step 1",
        &short,
        "Decode(Truncated)",
    );
    let bad_key = OpenInput {
        envelope: with(&env, |v| v[1..33].copy_from_slice(&p)),
        ..ok.clone()
    };
    neg.open(
        "open: ephemeral key u = p",
        "§9.4 step 1",
        &bad_key,
        "Decode(InvalidKey)",
    );
    for (label, point) in LOW_ORDER_X25519 {
        let low = OpenInput {
            envelope: with(&env, |v| v[1..33].copy_from_slice(&h32(point))),
            ..ok.clone()
        };
        neg.open(
            &format!("open: low-order ephemeral key ({label})"),
            "§9.4 step 2",
            &low,
            "NonContributory",
        );
    }
    for (i, t) in x25519_torsion_variants(&env[1..33]).iter().enumerate() {
        let variant = OpenInput {
            envelope: with(&env, |v| v[1..33].copy_from_slice(t)),
            ..ok.clone()
        };
        neg.open(
            &format!("open: ephemeral key replaced by torsion variant {}", i + 1),
            "§9.2, §9.4",
            &variant,
            "DecryptionFailed",
        );
    }
    // Payloads that authenticate but are not canonical.
    let cert_bytes = alice_cert.to_bytes().unwrap();
    let good_payload = sealed_payload(&cert_bytes, &hello);
    let eph = rng.bytes32();
    for (name, payload) in [
        (
            "open: non-zero payload padding",
            with(&good_payload, |v| {
                let last = v.len() - 1;
                v[last] = 1;
            }),
        ),
        (
            "open: payload one byte longer than its bucket",
            with(&good_payload, |v| v.push(0)),
        ),
    ] {
        let parts = seal_parts(eph, &alice.seed(), bob.public(), payload);
        let input = OpenInput {
            envelope: parts.envelope,
            ..ok.clone()
        };
        neg.open(name, "§9.4 step 4", &input, "Decode(NonCanonical)");
    }

    // Opened::decrypt and Opened::respond.
    let ss = |o: &OpenInput| {
        let r = IdentityKeyPair::from_seed(&o.recipient_seed);
        SealedRecipient {
            identity: &r,
            trust_roots: &o.roots,
            revoked_servers: &o.revoked,
        }
        .open(&o.envelope, o.now_ms)
        .expect("opens")
    };
    let mallory_wraps_normal = OpenInput {
        envelope: seal_with(rng, mallory, &mallory_cert, bob.public(), &normal_msg),
        now_ms: now + 3_000,
        ..ok.clone()
    };
    let normal_env = OpenInput {
        envelope: env_normal.clone(),
        now_ms: now + 3_000,
        ..ok.clone()
    };
    for (name, spec, input, session, expected) in [
        (
            "opened decrypt: session peer is not the certified sender",
            "§9.4",
            &mallory_wraps_normal,
            &bob_before_normal,
            "SenderIdentityMismatch",
        ),
        (
            "opened decrypt: replayed envelope",
            "§9.4, §6.5 C2",
            &normal_env,
            &bob_after_normal,
            "Session(DuplicateMessage)",
        ),
    ] {
        let mut s = Session::from_bytes(session).expect("loads");
        let got = format!("{:?}", ss(input).decrypt(&mut s).expect_err(name));
        assert_eq!(got, expected);
        assert_eq!(s.to_bytes().unwrap().as_slice(), session.as_slice());
        neg.push(
            name,
            spec,
            "Opened::decrypt",
            input.json().f("session", hx(session)),
            got,
        );
    }
    let mallory_wraps_prekey = OpenInput {
        envelope: seal_with(rng, mallory, &mallory_cert, bob.public(), &hello),
        ..ok.clone()
    };
    for (name, spec, input, store_blob, expected) in [
        (
            "opened respond: prekey message of another identity",
            "§9.4",
            &mallory_wraps_prekey,
            &sealed_store,
            "SenderIdentityMismatch",
        ),
        (
            "opened respond: normal message",
            "§9.4",
            &normal_env,
            &sealed_store,
            "Session(NotPreKeyMessage)",
        ),
        (
            "opened respond: replay after the one-time prekey was consumed",
            "§9.4, §7.3 step 4",
            &ok,
            &sealed_store_after,
            "Session(UnknownOneTimePreKey(0))",
        ),
    ] {
        let mut s = PreKeyStore::from_bytes(store_blob).expect("store");
        let got = format!(
            "{:?}",
            ss(input)
                .respond(bob, &mut s, &Config::new(context).allow_classical())
                .expect_err(name)
        );
        assert_eq!(got, expected);
        assert_eq!(s.to_bytes().unwrap().as_slice(), store_blob.as_slice());
        neg.push(
            name,
            spec,
            "Opened::respond",
            input
                .json()
                .f("prekey_store", hx(store_blob))
                .f("context", hx(context)),
            got,
        );
    }

    let scf = "SenderCertificate::from_bytes";
    let cert = alice_cert.to_bytes().unwrap();
    neg.decode(
        "sender certificate: unknown version",
        "§9.1",
        scf,
        &with(&cert, |v| v[0] = 2),
        "UnknownVersion(2)",
    );
    neg.decode(
        "sender certificate: empty address",
        "§9.1",
        scf,
        &with(&cert, |v| v[1] = 0),
        "NonCanonical",
    );
    neg.decode(
        "sender certificate: trailing byte",
        "§9.1",
        scf,
        &with(&cert, |v| v.push(0)),
        "TrailingBytes",
    );
    neg.decode(
        "sender certificate: truncated",
        "§9.1",
        scf,
        &cert[..cert.len() - 1],
        "Truncated",
    );
    neg.decode(
        "sender certificate: small-order identity",
        "§9.1",
        scf,
        &with(&cert, |v| {
            v[2 + 5 + 4..2 + 5 + 4 + 32].copy_from_slice(&order8)
        }),
        "InvalidKey",
    );
    let srv = server_cert.to_bytes();
    let svf = "ServerCertificate::from_bytes";
    neg.decode(
        "server certificate: unknown version",
        "§9.1",
        svf,
        &with(&srv, |v| v[0] = 0),
        "UnknownVersion(0)",
    );
    neg.decode(
        "server certificate: small-order key",
        "§9.1",
        svf,
        &with(&srv, |v| v[5..37].copy_from_slice(&identity_point)),
        "InvalidKey",
    );
    neg.decode(
        "server certificate: trailing byte",
        "§9.1",
        svf,
        &with(&srv, |v| v.push(0)),
        "TrailingBytes",
    );
}
