//! `Session::decrypt` (SPEC.md §6.5, §7.4), `encrypt` at its limits (§6.3), `set_limits` (§6.4),
//! `check_remote_identity` (§7.3) and `PreKeyStore::bundle` (§4.3).

use xchat_protocol::{Limits, PreKeyStore, Session};

use super::super::json::{Obj, hx};
use super::super::primitives::x25519_public;
use super::super::rng::Recorder;
use super::super::shared::{blob, draws_json};
use super::super::state_fields::{open_mut, parse_session};
use super::fixture::Fixture;
use super::harness::{Neg, with};
use super::points::{LOW_ORDER_X25519, h32, x25519_torsion_variants};

/// `Session::decrypt` (§6.5, §7.4); returns the fresh ratchet key it draws (for the state
/// blobs).
pub(super) fn decrypt(neg: &mut Neg, fx: &Fixture, rng: &mut Recorder) -> [u8; 32] {
    let Fixture {
        m1,
        m2,
        r1,
        r2,
        alice_unacknowledged,
        alice_acknowledged,
        bob_deferred,
        bob_sending,
        bob_with_old_chain,
        spk_public,
        no_opk_first,
        ..
    } = fx;
    let set_n = |msg: &[u8], n: u32| with(msg, |v| v[38..42].copy_from_slice(&n.to_be_bytes()));
    neg.decrypt(
        "decrypt: tampered ciphertext",
        "§6.5 C5",
        alice_acknowledged,
        &with(r2, |v| v[60] ^= 1),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: tampered tag",
        "§6.5 C5",
        alice_acknowledged,
        &with(r2, |v| {
            let last = v.len() - 1;
            v[last] ^= 0x80;
        }),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: tampered seed",
        "§3.5",
        alice_acknowledged,
        &with(r2, |v| v[42] ^= 1),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: tampered PN",
        "§3.5",
        alice_acknowledged,
        &with(r2, |v| v[37] ^= 1),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: replay on the current chain",
        "§6.5 C2",
        alice_acknowledged,
        r1,
        "DuplicateMessage",
    );
    neg.decrypt(
        "decrypt: replay of a message of an old chain",
        "§6.5 D1",
        bob_with_old_chain,
        m1,
        "DuplicateMessage",
    );
    neg.decrypt(
        "decrypt: counter max_skip + 1 ahead on the current chain",
        "§6.4, §6.5 C3",
        alice_acknowledged,
        &set_n(r2, 1 + 2001),
        "TooFarInFuture",
    );
    neg.decrypt(
        "decrypt: counter exactly max_skip ahead is derived, then fails authentication",
        "§6.4, §6.5 C3",
        alice_acknowledged,
        &set_n(r2, 1 + 2000),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: N = 2^32 - 1",
        "§6.5 B",
        alice_acknowledged,
        &set_n(r2, u32::MAX),
        "TooFarInFuture",
    );
    let fresh_key = x25519_public(rng.bytes32());
    let new_key_msg = |pn: u32, n: u32| {
        with(r2, |v| {
            v[2..34].copy_from_slice(&fresh_key);
            v[34..38].copy_from_slice(&pn.to_be_bytes());
            v[38..42].copy_from_slice(&n.to_be_bytes());
        })
    };
    neg.decrypt(
        "decrypt: new ratchet key with N = max_skip + 1",
        "§6.4, §6.5 D3",
        bob_sending,
        &new_key_msg(0, 2001),
        "TooFarInFuture",
    );
    neg.decrypt(
        "decrypt: new ratchet key, old-chain gap (PN) plus N = max_skip + 1",
        "§6.4, §6.5 D3",
        bob_sending,
        &new_key_msg(1 + 1500, 501),
        "TooFarInFuture",
    );
    neg.decrypt(
        "decrypt: new ratchet key, old-chain gap plus N = max_skip, fails authentication",
        "§6.4, §6.5 D7",
        bob_sending,
        &new_key_msg(1 + 1500, 500),
        "DecryptionFailed",
    );
    for (label, point) in LOW_ORDER_X25519 {
        neg.decrypt(
            &format!("decrypt: low-order ratchet key ({label})"),
            "§6.5 D5",
            bob_sending,
            &with(r2, |v| v[2..34].copy_from_slice(&h32(point))),
            "NonContributory",
        );
    }
    // The ratchet key re-encoded: a new-ratchet-key path with the same DH output, rejected by
    // the associated data (§3.5, §6.5).
    for (i, t) in x25519_torsion_variants(&r1[2..34]).iter().enumerate() {
        neg.decrypt(
            &format!("decrypt: ratchet key replaced by torsion variant {}", i + 1),
            "§3.5, §6.5",
            alice_unacknowledged,
            &with(r1, |v| v[2..34].copy_from_slice(t)),
            "DecryptionFailed",
        );
    }
    neg.decrypt(
        "decrypt: second new ratchet key while the sending half-step is deferred",
        "§6.5 D2",
        bob_deferred,
        &new_key_msg(0, 0),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: initiator before the first reply, header key = SPK_B",
        "§6.5 C1",
        alice_unacknowledged,
        &with(r2, |v| v[2..34].copy_from_slice(spk_public)),
        "DecryptionFailed",
    );
    neg.decrypt(
        "decrypt: prekey message given to the initiator",
        "§7.4",
        alice_unacknowledged,
        m2,
        "SessionMismatch",
    );
    neg.decrypt(
        "decrypt: prekey message of another X3DH run",
        "§7.4",
        bob_deferred,
        no_opk_first,
        "SessionMismatch",
    );
    neg.decrypt(
        "decrypt: malformed message",
        "§5.4",
        bob_deferred,
        &m2[..60],
        "Decode(Truncated)",
    );
    fresh_key
}

/// Encrypt, limits, identity (§6.3, §6.4, §7.3) and bundles of a store (§4.3).
pub(super) fn encrypt_limits_identity(neg: &mut Neg, fx: &Fixture, rng: &mut Recorder) {
    let Fixture {
        bob,
        mallory,
        store_after,
        bob_sending,
        ..
    } = fx;
    let mut st = parse_session(bob_sending);
    if let Some(send) = &mut open_mut(&mut st).send {
        send.n = u32::MAX;
    }
    let exhausted = st.encode_v3();
    rng.take();
    let mut s = Session::from_bytes(&exhausted).expect("loads");
    let got = format!("{:?}", s.encrypt(rng, b"x").expect_err("exhausted"));
    assert_eq!(got, "ChainExhausted");
    assert_eq!(s.to_bytes().unwrap().as_slice(), exhausted.as_slice());
    neg.push(
        "encrypt: sending chain at N = 2^32 - 1",
        "§6.3 step 3",
        "Session::encrypt",
        Obj::new()
            .f("session", hx(&exhausted))
            .f("plaintext", hx(b"x"))
            .f("rng_draws", draws_json(&rng.take())),
        got,
    );
    let mut s = Session::from_bytes(bob_sending).expect("loads");
    let got = format!(
        "{:?}",
        s.encrypt(rng, &vec![0; (1 << 20) + 1])
            .expect_err("too large")
    );
    assert_eq!(got, "TooLarge");
    neg.push(
        "encrypt: plaintext of 2^20 + 1 bytes",
        "§5.4, §6.3 step 1",
        "Session::encrypt",
        Obj::new()
            .f("session", hx(bob_sending))
            .f("plaintext_zero_bytes", (1usize << 20) + 1)
            .f("rng_draws", draws_json(&rng.take())),
        got,
    );
    for (name, limits) in [
        ("max_skip = 0", [0, 2000, 5, 10_000]),
        ("max_skip > max_skipped_keys", [2001, 2000, 5, 10_000]),
        (
            "max_old_chains above 2^20",
            [2000, 2000, (1 << 20) + 1, 10_000],
        ),
        ("max_skipped_key_age = 0", [2000, 2000, 5, 0]),
    ] {
        let mut s = Session::from_bytes(bob_sending).expect("loads");
        let got = format!(
            "{:?}",
            s.set_limits(Limits {
                max_skip: limits[0],
                max_skipped_keys: limits[1],
                max_old_chains: limits[2],
                max_skipped_key_age: limits[3],
            })
            .expect_err(name)
        );
        assert_eq!(got, "InvalidLimits");
        neg.push(
            &format!("set_limits: {name}"),
            "§6.4",
            "Session::set_limits",
            Obj::new().f("session", hx(bob_sending)).f(
                "limits",
                Obj::new()
                    .f("max_skip", limits[0])
                    .f("max_skipped_keys", limits[1])
                    .f("max_old_chains", limits[2])
                    .f("max_skipped_key_age", limits[3]),
            ),
            got,
        );
    }
    let s = Session::from_bytes(bob_sending).expect("loads");
    let got = format!(
        "{:?}",
        s.check_remote_identity(mallory.public())
            .expect_err("untrusted")
    );
    neg.push(
        "check_remote_identity: a different key",
        "§7.3",
        "Session::check_remote_identity",
        Obj::new()
            .f("session", hx(bob_sending))
            .f("trusted_identity", hx(mallory.public().to_bytes())),
        got,
    );
    let empty = blob(PreKeyStore::new().to_bytes().unwrap());
    for (name, store_blob, id, expected) in [
        ("bundle: no signed prekey", &empty, None, "NoSignedPreKey"),
        (
            "bundle: unknown one-time prekey",
            store_after,
            Some(7u32),
            "UnknownOneTimePreKey(7)",
        ),
    ] {
        let st = PreKeyStore::from_bytes(store_blob).expect("store");
        let got = format!("{:?}", st.bundle(bob, id).expect_err(name));
        assert_eq!(got, expected);
        neg.push(
            name,
            "§4.3",
            "PreKeyStore::bundle",
            Obj::new()
                .f("identity_seed", hx(bob.seed().as_slice()))
                .f("prekey_store", hx(store_blob))
                .f("one_time_prekey_id", id),
            got,
        );
    }
}
