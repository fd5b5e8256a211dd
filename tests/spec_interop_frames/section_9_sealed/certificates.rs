//! §9.1 and §9.3: server and sender certificates, their decoding, issuing and validation.

use super::support::world;
use crate::bridge::*;
use crate::prim;
use crate::sealed::{self, SealedError, SenderCert, ServerCert};
use crate::util::{hb, hx, load, s};
use xchat_protocol as lib;
use xchat_protocol::sealed_sender as libs;

#[test]
fn certificate_vectors() {
    let w = world();
    let st = &w.v["setup"];
    let sc = &st["server_certificate"];
    assert_eq!(
        hx(&ServerCert::signed_bytes(
            w.server_cert.id,
            &w.server_cert.key
        )),
        s(sc, "signed_bytes")
    );
    assert_eq!(hx(&w.server_cert.encode()), s(sc, "bytes"));
    assert_eq!(w.server_cert.encode().len(), sealed::SERVER_CERTIFICATE_LEN);
    assert_eq!(
        ServerCert::decode(&hb(sc, "bytes")),
        Ok(w.server_cert.clone())
    );
    for (who, cert) in [("alice", &w.alice_cert), ("bob", &w.bob_cert)] {
        let p = &st[who];
        assert_eq!(hx(&cert.signed_bytes()), s(p, "certificate_signed_bytes"));
        let bytes = hb(&p["certificate"], "bytes");
        assert_eq!(cert.encode(), bytes, "{who}");
        assert_eq!(SenderCert::decode(&bytes).as_ref(), Ok(cert));
        assert_eq!(cert.validate(&[w.root], &[], cert.expires_ms - 1), Ok(()));
        // The library decodes our bytes to the same fields ...
        let l = lib::SenderCertificate::from_bytes(&bytes).expect("library decodes");
        assert_eq!(l.address, cert.address);
        assert_eq!(l.device_id, cert.device_id);
        assert_eq!(l.identity.to_bytes(), cert.identity);
        assert_eq!(l.expires_ms, cert.expires_ms);
        assert_eq!(l.server.id, cert.server.id);
        assert_eq!(l.server.key.to_bytes(), cert.server.key);
        assert_eq!(l.server.signature, cert.server.signature);
        assert_eq!(l.signature, cert.signature);
        // ... and issues the same bytes (Ed25519 is deterministic), which we decode.
        let root = lib::CertificateKeyPair::from_seed(&w.root_seed);
        let server = lib::CertificateKeyPair::from_seed(&w.server_seed);
        let lsc = root.certify_server(w.server_cert.id, &server.public());
        assert_eq!(
            ServerCert::decode(&lsc.to_bytes()),
            Ok(w.server_cert.clone())
        );
        let lcert = server
            .certify_sender(
                &lsc,
                &cert.address,
                cert.device_id,
                &lib::IdentityKey::from_bytes(cert.identity).expect("identity"),
                cert.expires_ms,
            )
            .expect("issue");
        assert_eq!(
            SenderCert::decode(&lcert.to_bytes().unwrap()).as_ref(),
            Ok(cert)
        );
    }
}

#[test]
fn negative_certificate_vectors() {
    let v = load("negative.json");
    let mut count = 0;
    for e in v["entries"].as_array().expect("entries") {
        let bytes = || hb(&e["input"], "bytes");
        let want = s(e, "expected_error");
        let (ours, theirs) = match s(e, "operation") {
            "ServerCertificate::from_bytes" => (
                res(&ServerCert::decode(&bytes())),
                res(&libs::ServerCertificate::from_bytes(&bytes()).map(|c| c.id)),
            ),
            "SenderCertificate::from_bytes" => (
                res(&SenderCert::decode(&bytes())),
                res(&libs::SenderCertificate::from_bytes(&bytes()).map(|c| c.device_id)),
            ),
            _ => continue,
        };
        count += 1;
        assert_eq!(ours, want, "{}", s(e, "name"));
        assert_eq!(theirs, want, "{}", s(e, "name"));
    }
    assert_eq!(count, 8);
}

/// Truncations and byte changes of both certificates: decoding errors must agree.
#[test]
fn certificate_decoding_differential() {
    let w = world();
    let long = SenderCert::issue(
        &w.server_seed,
        &w.server_cert,
        &[0x61; 255],
        u32::MAX,
        w.alice.public,
        u64::MAX,
    )
    .expect("issue");
    assert_eq!(long.encode().len(), sealed::MAX_SENDER_CERTIFICATE_LEN);
    let mut disagreements = Vec::new();
    for base in [w.alice_cert.encode(), w.bob_cert.encode(), long.encode()] {
        let mut inputs = vec![base.clone()];
        for cut in 0..base.len() {
            inputs.push(base[..cut].to_vec());
        }
        let mut extended = base.clone();
        extended.push(0);
        inputs.push(extended);
        for pos in 0..base.len() {
            for val in [0x00, 0x01, 0x02, 0xff] {
                let mut b = base.clone();
                b[pos] = val;
                inputs.push(b.clone());
                inputs.push(b[..b.len() - 1].to_vec());
            }
        }
        for input in inputs {
            let ours = SenderCert::decode(&input).map(|c| hx(&c.encode()));
            let theirs =
                libs::SenderCertificate::from_bytes(&input).map(|c| hx(&c.to_bytes().unwrap()));
            if res(&ours) != res(&theirs) {
                disagreements.push(format!(
                    "len {}: {} vs {}",
                    input.len(),
                    res(&ours),
                    res(&theirs)
                ));
            }
            // Server certificates, cut out of the sender certificate's tail region.
            if input.len() >= 165 {
                let tail = &input[input.len() - 165..input.len() - 64];
                let ours = ServerCert::decode(tail).map(|c| hx(&c.encode()));
                let theirs = libs::ServerCertificate::from_bytes(tail).map(|c| hx(&c.to_bytes()));
                if res(&ours) != res(&theirs) {
                    disagreements.push(format!("server: {} vs {}", res(&ours), res(&theirs)));
                }
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{}",
        disagreements[..disagreements.len().min(10)].join("\n")
    );
}

#[test]
fn certificate_issuing_and_validation_match_library() {
    let w = world();
    let server = lib::CertificateKeyPair::from_seed(&w.server_seed);
    let lsc = lib::ServerCertificate::from_bytes(&w.server_cert.encode()).expect("decodes");
    let ident = lib::IdentityKey::from_bytes(w.alice.public).expect("identity");
    for len in [0usize, 1, 255, 256, 300] {
        let addr = vec![0x62; len];
        let ours = SenderCert::issue(&w.server_seed, &w.server_cert, &addr, 3, w.alice.public, 9)
            .map(|c| hx(&c.encode()));
        let theirs = server
            .certify_sender(&lsc, &addr, 3, &ident, 9)
            .map(|c| hx(&c.to_bytes().unwrap()));
        assert_eq!(res(&ours), res(&theirs), "address of {len} bytes");
    }
    // §9.3 step order: every combination of bad root, revoked, bad server signature,
    // expired.
    let other_root = prim::ed_public(&[0x77; 32]);
    let rogue_server_seed = [0x78; 32];
    let lib_other = lib::CertificateKey::from_bytes(other_root).expect("key");
    for trusted in [true, false] {
        for revoked in [false, true] {
            for forged in [false, true] {
                for (now, label) in [(9 - 1, "valid"), (9, "at expiry"), (u64::MAX, "late")] {
                    let signer = if forged {
                        &rogue_server_seed
                    } else {
                        &w.server_seed
                    };
                    let cert =
                        SenderCert::issue(signer, &w.server_cert, b"x", 1, w.alice.public, 9)
                            .expect("issue");
                    let roots = if trusted {
                        vec![w.root]
                    } else {
                        vec![other_root]
                    };
                    let lib_roots = if trusted {
                        w.lib_roots.clone()
                    } else {
                        vec![lib_other]
                    };
                    let rev: Vec<u32> = if revoked {
                        vec![w.server_cert.id]
                    } else {
                        vec![]
                    };
                    let ours = cert.validate(&roots, &rev, now);
                    let theirs = lib::SenderCertificate::from_bytes(&cert.encode())
                        .expect("decodes")
                        .validate(&lib_roots, &rev, now);
                    assert_eq!(
                        res(&ours),
                        res(&theirs),
                        "{trusted} {revoked} {forged} {label}"
                    );
                }
            }
        }
    }
    // An empty trust-root list trusts nothing.
    assert_eq!(
        w.alice_cert.validate(&[], &[], 0),
        Err(SealedError::InvalidCertificate)
    );
}
