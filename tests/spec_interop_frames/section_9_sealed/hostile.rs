//! Envelopes that must not open: the negative vectors, and crafted faults opened by both
//! implementations.

use super::support::{both_open, world};
use crate::bridge::*;
use crate::dr::{Session, Store};
use crate::prim::Identity;
use crate::sealed::{self, SenderCert};
use crate::util::{Rng, h32, hb, hx, load, s, u64d};

#[test]
fn negative_sealed_vectors() {
    let v = load("negative.json");
    let mut count = 0;
    for e in v["entries"].as_array().expect("entries") {
        let op = s(e, "operation");
        if !op.starts_with("SealedRecipient") && !op.starts_with("Opened") {
            continue;
        }
        count += 1;
        let i = &e["input"];
        let recipient = Identity::from_seed(h32(s(i, "recipient_identity_seed")));
        let roots: Vec<[u8; 32]> = i["trust_roots"]
            .as_array()
            .expect("roots")
            .iter()
            .map(|r| h32(r.as_str().expect("hex")))
            .collect();
        let revoked: Vec<u32> = i["revoked_servers"]
            .as_array()
            .expect("revoked")
            .iter()
            .map(|r| r.as_u64().expect("id") as u32)
            .collect();
        let opened = sealed::open(
            &recipient,
            &roots,
            &revoked,
            &hb(i, "envelope"),
            u64d(i, "now_ms"),
        );
        let got = match op {
            "SealedRecipient::open" => opened.map(|_| ()),
            "Opened::decrypt" => {
                let blob = hb(i, "session");
                let mut session = Session::decode(&blob).expect("session");
                let r = sealed::decrypt(&opened.expect("opens"), &mut session).map(|_| ());
                assert_eq!(session.encode(), blob, "session untouched");
                r
            }
            "Opened::respond" => {
                let blob = hb(i, "prekey_store");
                let mut store = Store::decode(&blob).expect("store");
                let r = sealed::respond(
                    &opened.expect("opens"),
                    &recipient,
                    &mut store,
                    &hb(i, "context"),
                )
                .map(|_| ());
                assert_eq!(store.encode(), blob, "store untouched");
                r
            }
            other => panic!("{other}"),
        };
        assert_eq!(res(&got), s(e, "expected_error"), "{}", s(e, "name"));
    }
    assert!(count >= 23, "{count}");
}

/// Envelopes with crafted faults (built with `seal_raw`), opened by both implementations.
#[test]
fn hostile_envelopes_differential() {
    let w = world();
    let now = 1_750_000_000_000;
    let cert = w.alice_cert.encode();
    let m = b"\x01\x01 any inner bytes".to_vec();
    let good = sealed::payload(&cert, &m);
    let seal_payload = |claimed: &[u8; 32], payload: Vec<u8>, label: u64| {
        sealed::seal_raw(
            &w.alice.x_secret,
            claimed,
            &w.bob.public,
            payload,
            Rng::stream(label).take(),
        )
        .expect("seal")
        .envelope
    };
    let with_len = |cert_len: u16, cert: &[u8], m_len: u32, m: &[u8], total: Option<usize>| {
        let mut p = cert_len.to_be_bytes().to_vec();
        p.extend_from_slice(cert);
        p.extend_from_slice(&m_len.to_be_bytes());
        p.extend_from_slice(m);
        let t = total.unwrap_or_else(|| crate::frame::pad(6 + cert.len() + m.len()));
        p.resize(t, 0);
        p
    };
    let mut bad_version_cert = cert.clone();
    bad_version_cert[0] = 2;
    let other_identity = SenderCert::issue(
        &w.server_seed,
        &w.server_cert,
        b"mallory",
        1,
        w.bob.public,
        u64::MAX,
    )
    .expect("issue")
    .encode();
    let expired = SenderCert::issue(
        &w.server_seed,
        &w.server_cert,
        b"alice",
        1,
        w.alice.public,
        5,
    )
    .expect("issue")
    .encode();
    let prekey = w
        .alice_session
        .clone()
        .send(&mut Rng::stream(9), now, b"x")
        .expect("send");
    let mut bad_ik = prekey.clone();
    bad_ik[2..34].copy_from_slice(&[0u8; 32]);
    let mut nested = prekey.clone();
    nested[76] = 0x02;
    let expired_other =
        SenderCert::issue(&w.server_seed, &w.server_cert, b"bob", 1, w.bob.public, 5)
            .expect("issue")
            .encode();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("good", seal_payload(&w.alice.public, good.clone(), 1)),
        (
            "identity point as IK_S",
            seal_payload(
                &{
                    let mut k = [0u8; 32];
                    k[0] = 1;
                    k
                },
                good.clone(),
                2,
            ),
        ),
        (
            "IK_S not on the curve",
            seal_payload(&[0x02; 32], good.clone(), 3),
        ),
        (
            "IK_S y >= p",
            seal_payload(
                &{
                    let mut k = [0xff; 32];
                    k[31] = 0x7f;
                    k
                },
                good.clone(),
                4,
            ),
        ),
        (
            "empty payload",
            seal_payload(&w.alice.public, Vec::new(), 5),
        ),
        (
            "one-byte payload",
            seal_payload(&w.alice.public, vec![0], 6),
        ),
        (
            "cert length past the end",
            seal_payload(
                &w.alice.public,
                with_len(300, &cert[..200], 0, b"", Some(256)),
                7,
            ),
        ),
        (
            "cert with unknown version",
            seal_payload(
                &w.alice.public,
                with_len(
                    cert.len() as u16,
                    &bad_version_cert,
                    m.len() as u32,
                    &m,
                    None,
                ),
                8,
            ),
        ),
        (
            "cert one byte longer than declared",
            seal_payload(
                &w.alice.public,
                with_len(cert.len() as u16 - 1, &cert, m.len() as u32, &m, None),
                9,
            ),
        ),
        (
            "cert length one too long",
            seal_payload(
                &w.alice.public,
                with_len(
                    cert.len() as u16 + 1,
                    &[&cert[..], &[0]].concat(),
                    m.len() as u32,
                    &m,
                    None,
                ),
                10,
            ),
        ),
        (
            "bad cert and message length past the end",
            seal_payload(
                &w.alice.public,
                with_len(cert.len() as u16, &bad_version_cert, 5000, &m, None),
                50,
            ),
        ),
        (
            "bad cert and bad padding",
            seal_payload(
                &w.alice.public,
                with_len(
                    cert.len() as u16,
                    &bad_version_cert,
                    m.len() as u32,
                    &m,
                    Some(300),
                ),
                11,
            ),
        ),
        (
            "message length past the end",
            seal_payload(
                &w.alice.public,
                with_len(cert.len() as u16, &cert, 5000, &m, None),
                12,
            ),
        ),
        (
            "no message length",
            seal_payload(
                &w.alice.public,
                [&(cert.len() as u16).to_be_bytes()[..], &cert].concat(),
                13,
            ),
        ),
        (
            "padding one byte short",
            seal_payload(
                &w.alice.public,
                {
                    let mut p = good.clone();
                    p.pop();
                    p
                },
                14,
            ),
        ),
        (
            "padding of a larger bucket",
            seal_payload(
                &w.alice.public,
                {
                    let mut p = good.clone();
                    p.resize(crate::frame::pad(p.len() + 1), 0);
                    p
                },
                15,
            ),
        ),
        (
            "certificate of another identity",
            seal_payload(&w.alice.public, sealed::payload(&other_identity, &m), 16),
        ),
        (
            "expired certificate of another identity",
            seal_payload(&w.alice.public, sealed::payload(&expired_other, &m), 17),
        ),
        (
            "expired certificate",
            seal_payload(&w.alice.public, sealed::payload(&expired, &m), 18),
        ),
        (
            "empty message",
            seal_payload(&w.alice.public, sealed::payload(&cert, b""), 19),
        ),
        (
            "message of one byte 0x02",
            seal_payload(&w.alice.public, sealed::payload(&cert, b"\x02"), 20),
        ),
        (
            "message 0x01 0x02",
            seal_payload(&w.alice.public, sealed::payload(&cert, b"\x01\x02"), 21),
        ),
        (
            "message 0x07 0x02 garbage",
            seal_payload(&w.alice.public, sealed::payload(&cert, b"\x07\x02xyz"), 22),
        ),
        (
            "prekey message",
            seal_payload(&w.alice.public, sealed::payload(&cert, &prekey), 23),
        ),
        (
            "prekey message, ciphertext 15 bytes",
            seal_payload(
                &w.alice.public,
                sealed::payload(&cert, &prekey[..75 + 58 + 15]),
                24,
            ),
        ),
        (
            "prekey message, bad IK_A",
            seal_payload(&w.alice.public, sealed::payload(&cert, &bad_ik), 25),
        ),
        (
            "prekey message, embedded type 2",
            seal_payload(&w.alice.public, sealed::payload(&cert, &nested), 26),
        ),
        (
            "normal message",
            seal_payload(&w.alice.public, sealed::payload(&cert, &prekey[75..]), 27),
        ),
    ];
    // Claimed identity Alice, but sealed with Bob's static key: the content key differs.
    cases.push((
        "static key of someone else",
        sealed::seal_raw(
            &w.bob.x_secret,
            &w.alice.public,
            &w.bob.public,
            good.clone(),
            Rng::stream(30).take(),
        )
        .expect("seal")
        .envelope,
    ));
    // An inner message longer than §9.2 allows that still fits the envelope bound.
    let big_m = vec![0x01; sealed::MAX_SEALED_MESSAGE_LEN + 100];
    cases.push((
        "message over 2^20 + 1722",
        seal_payload(&w.alice.public, sealed::payload(&cert, &big_m), 31),
    ));
    // Structural faults before any cryptography.
    let base = seal_payload(&w.alice.public, good.clone(), 40);
    for cut in [0, 1, 2, 33, 34, 80, 81, 96, 97] {
        cases.push(("truncated envelope", base[..cut].to_vec()));
    }
    let mut v2 = base.clone();
    v2[0] = 2;
    cases.push(("unknown version", v2.clone()));
    let mut oversized = vec![0u8; sealed::max_envelope_len() + 1];
    cases.push(("oversized, version 0", oversized.clone()));
    oversized[0] = 1;
    cases.push(("oversized, version 1", oversized.clone()));
    oversized.pop();
    cases.push(("exactly the maximum, garbage", oversized));
    let mut bad_key = base.clone();
    bad_key[32] = 0x80;
    bad_key[0] = 2;
    cases.push(("bad version and bad key", bad_key));
    let mut short_and_bad = base[..60].to_vec();
    short_and_bad[32] = 0x80;
    cases.push(("bad key and truncated", short_and_bad));

    let mut disagreements = Vec::new();
    for (name, env) in &cases {
        for recipient in [&w.bob, &w.alice] {
            let (ours, theirs) = both_open(&w, recipient, &[], env, now);
            if ours != theirs {
                disagreements.push(format!(
                    "{name} (to {}): ours {ours}, library {theirs}",
                    hx(&recipient.public[..2])
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // The first case opens, so the suite is not vacuous.
    assert!(sealed::open(&w.bob, &[w.root], &[], &cases[0].1, now).is_ok());
}
