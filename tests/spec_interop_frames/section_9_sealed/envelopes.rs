//! §9.2 and §9.4: envelopes sealed and opened, from the vectors and across the library, and
//! the size limits.

use super::support::{lib_open, world};
use crate::bridge::*;
use crate::dr::Session;
use crate::prim;
use crate::sealed;
use crate::util::{Rng, assert_state, draws, hb, hx, n, s, u64d};
use xchat_protocol as lib;
use xchat_protocol::sealed_sender as libs;

#[test]
fn max_envelope_len_matches_library() {
    assert_eq!(sealed::max_envelope_len(), 81 + 1_081_344 + 16);
    assert_eq!(sealed::max_envelope_len(), libs::MAX_ENVELOPE_LEN);
    assert_eq!(sealed::MAX_SENDER_CERTIFICATE_LEN, 466);
    assert_eq!(
        sealed::MAX_SENDER_CERTIFICATE_LEN,
        libs::MAX_SENDER_CERTIFICATE_LEN
    );
    assert_eq!(sealed::MAX_SEALED_MESSAGE_LEN, libs::MAX_SEALED_MESSAGE_LEN);
}

/// Both envelopes of sealed_sender.json, from the recorded draws: the inner session message,
/// every §9.2 intermediate, the envelope; then the recipient's open, what it learns, and
/// the recipient's state afterwards.
#[test]
fn envelope_vectors_seal_and_open() {
    let w = world();
    let mut alice_session = w.alice_session.clone();
    let mut store = w.store.clone();
    let mut bob_session: Option<Session> = None;
    let envelopes = w.v["envelopes"].as_array().expect("envelopes");
    assert_eq!(envelopes.len(), 2);
    for e in envelopes {
        let name = s(e, "name");
        let from_alice = s(e, "sender") == "alice";
        assert_eq!(s(e, "sender_certificate"), s(e, "sender"));
        let (sender, cert, recipient) = if from_alice {
            (&w.alice, &w.alice_cert, &w.bob)
        } else {
            (&w.bob, &w.bob_cert, &w.alice)
        };
        // The inner message (§8 frame inside §6.3).
        let inner = &e["inner"];
        let session = if from_alice {
            &mut alice_session
        } else {
            bob_session.as_mut().expect("bob answered")
        };
        assert_state(&session.encode(), s(inner, "sender_state_before"), name);
        let mut rng = Rng::script(draws(&inner["rng_draws"]));
        let m = session
            .send(&mut rng, u64d(inner, "now_ms"), &hb(inner, "body"))
            .expect("send");
        assert!(rng.exhausted());
        assert_eq!(hx(&m), s(inner, "message"), "{name}: inner message");
        assert_state(&session.encode(), s(inner, "sender_state_after"), name);
        // §9.2 step by step.
        let mut rng = Rng::script(draws(&e["seal_rng_draws"]));
        let t =
            sealed::seal(sender, &cert.encode(), &recipient.public, &m, rng.take()).expect("seal");
        assert!(rng.exhausted());
        let sv = &e["seal"];
        for (field, ours) in [
            ("ephemeral_secret", hx(&t.ephemeral_secret)),
            ("ephemeral_public", hx(&t.ephemeral_public)),
            ("ephemeral_dh", hx(&t.ephemeral_dh)),
            ("ephemeral_salt", hx(&t.ephemeral_salt)),
            ("chain_key", hx(&t.chain_key)),
            ("identity_key", hx(&t.identity_key)),
            ("identity_aad", hx(&t.identity_aad)),
            ("encrypted_identity", hx(&t.encrypted_identity)),
            ("static_dh", hx(&t.static_dh)),
            ("static_salt", hx(&t.static_salt)),
            ("content_key", hx(&t.content_key)),
            ("payload", hx(&t.payload)),
            ("content_aad", hx(&t.content_aad)),
            ("encrypted_content", hx(&t.encrypted_content)),
            ("envelope", hx(&t.envelope)),
        ] {
            assert_eq!(ours, s(sv, field), "{name}: {field}");
        }
        // The static DH is the same from both sides (and equal for both envelopes).
        assert_eq!(
            prim::dh(&recipient.x_secret, &sender.x_public),
            Some(t.static_dh)
        );
        // Open (§9.4) with our implementation.
        let open = &e["open"];
        let now = u64d(open, "now_ms");
        let o = sealed::open(recipient, &[w.root], &[], &t.envelope, now).expect("opens");
        assert_eq!(o.message, m);
        assert_eq!(
            o.is_prekey_message(),
            open["is_prekey_message"].as_bool().expect("bool")
        );
        let ex = &e["expected"];
        assert_eq!(hx(&o.sender.address), s(ex, "sender_address"));
        assert_eq!(u64::from(o.sender.device_id), n(ex, "sender_device_id"));
        assert_eq!(hx(&o.sender.identity), s(ex, "sender_identity"));
        let received = if s(open, "operation") == "Opened::respond" {
            assert!(open["recipient_state_before"].is_null());
            assert_state(&store.encode(), s(open, "prekey_store_before"), name);
            let (session, r) = sealed::respond(&o, recipient, &mut store, &w.ctx).expect("respond");
            assert_state(&store.encode(), s(open, "prekey_store_after"), name);
            assert_state(&session.encode(), s(open, "recipient_state_after"), name);
            bob_session = Some(session);
            r
        } else {
            let before = s(open, "recipient_state_before");
            assert_state(&alice_session.encode(), before, name);
            let r = sealed::decrypt(&o, &mut alice_session).expect("decrypt");
            let after = s(open, "recipient_state_after");
            assert_state(&alice_session.encode(), after, name);
            r
        };
        assert_eq!(received_json(&received), ex["received"], "{name}");
        assert_eq!(received, received_from_json(&ex["received"]));
        // The library opens our envelope to the same sender.
        let lib_recipient = lib::IdentityKeyPair::from_seed(&recipient.seed);
        let lo = lib_open(&w, &lib_recipient, &[], &t.envelope, now).expect("library opens");
        assert_eq!(lo.sender().to_bytes().unwrap(), cert.encode());
        assert_eq!(lo.is_prekey_message(), o.is_prekey_message());
    }
}

/// Fresh envelopes in both directions: the library opens ours, we open the library's; with
/// the same draw both implementations seal identical bytes.
#[test]
fn seal_and_open_cross_library() {
    let w = world();
    let lib_cert = lib::SenderCertificate::from_bytes(&w.alice_cert.encode()).expect("cert");
    let lib_bob_public = *w.lib_bob.public();
    let mut lib_store = lib::PreKeyStore::from_bytes(&w.store.encode()).expect("store");
    let mut store = w.store.clone();
    let mut alice = w.alice_session.clone();
    let now = 1_750_000_000_000;
    for (i, len) in [0usize, 1, 57, 58, 200, 1000, 5000].into_iter().enumerate() {
        let m: Vec<u8> = (0..len).map(|x| (x * 7 + i) as u8).collect();
        let label = 1000 + i as u64;
        let ours = sealed::seal(
            &w.alice,
            &w.alice_cert.encode(),
            &w.bob.public,
            &m,
            Rng::stream(label).take(),
        )
        .expect("seal")
        .envelope;
        let theirs = libs::seal_to(
            &mut Rng::stream(label),
            &w.lib_alice,
            &lib_cert,
            &lib_bob_public,
            &m,
        )
        .expect("library seals");
        assert_eq!(hx(&ours), hx(&theirs), "message of {len} bytes");
        let o = sealed::open(&w.bob, &[w.root], &[], &theirs, now).expect("we open theirs");
        assert_eq!(o.message, m);
        let lo = lib_open(&w, &w.lib_bob, &[], &ours, now).expect("library opens ours");
        assert_eq!(lo.sender().to_bytes().unwrap(), w.alice_cert.encode());
        assert_eq!(lo.is_prekey_message(), o.is_prekey_message(), "{len}");
    }
    // A real framed message sealed by us is delivered by the library's Opened::respond.
    let m = alice
        .send(&mut Rng::stream(5), now, b"sealed by the other side")
        .expect("send");
    let env = sealed::seal(
        &w.alice,
        &w.alice_cert.encode(),
        &w.bob.public,
        &m,
        Rng::stream(6).take(),
    )
    .expect("seal")
    .envelope;
    let lo = lib_open(&w, &w.lib_bob, &[], &env, now + 1).expect("opens");
    let (lib_session, delivered) = lo
        .respond(
            &w.lib_bob,
            &mut lib_store,
            &lib::Config::new(&w.ctx).allow_classical(),
        )
        .expect("respond");
    let o = sealed::open(&w.bob, &[w.root], &[], &env, now + 1).expect("opens");
    let (session, received) = sealed::respond(&o, &w.bob, &mut store, &w.ctx).expect("respond");
    assert_eq!(
        from_lib_received(delivered.receipt.message().unwrap()),
        received
    );
    assert_eq!(delivered.sender.to_bytes().unwrap(), o.sender.encode());
    assert_eq!(hx(&lib_session.to_bytes().unwrap()), hx(&session.encode()));
    assert_eq!(hx(&lib_store.to_bytes().unwrap()), hx(&store.encode()));
}

/// What `seal` refuses: an oversized message; and whether it checks the certificate.
#[test]
fn seal_input_limits_match_library() {
    let w = world();
    let lib_alice_cert = lib::SenderCertificate::from_bytes(&w.alice_cert.encode()).expect("cert");
    let lib_bob_cert = lib::SenderCertificate::from_bytes(&w.bob_cert.encode()).expect("cert");
    let bob_public = *w.lib_bob.public();
    let alice_public = *w.lib_alice.public();
    for (name, cert, lib_cert, recipient, lib_recipient, len) in [
        (
            "max message",
            &w.alice_cert,
            &lib_alice_cert,
            w.bob.public,
            bob_public,
            sealed::MAX_SEALED_MESSAGE_LEN,
        ),
        (
            "message one over",
            &w.alice_cert,
            &lib_alice_cert,
            w.bob.public,
            bob_public,
            sealed::MAX_SEALED_MESSAGE_LEN + 1,
        ),
        (
            "someone else's certificate",
            &w.bob_cert,
            &lib_bob_cert,
            w.bob.public,
            bob_public,
            10,
        ),
        (
            "sealed to ourselves",
            &w.alice_cert,
            &lib_alice_cert,
            w.alice.public,
            alice_public,
            10,
        ),
    ] {
        let m = vec![0x5a; len];
        let ours = sealed::seal(
            &w.alice,
            &cert.encode(),
            &recipient,
            &m,
            Rng::stream(1).take(),
        )
        .map(|t| prim::sha256(&t.envelope));
        let theirs = libs::seal_to(
            &mut Rng::stream(1),
            &w.lib_alice,
            lib_cert,
            &lib_recipient,
            &m,
        )
        .map(|e| prim::sha256(&e));
        assert_eq!(res(&ours), res(&theirs), "{name}");
    }
}
