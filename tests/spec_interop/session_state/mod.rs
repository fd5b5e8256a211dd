//! Session-state decoding (tests 7, 7e; §10.0, §10.3): valid and invalid blobs of versions 3, 2
//! and 1 give the same result in both implementations, the one SPEC.md gives.

mod v2;
mod v3;

use crate::common::state_codec::{
    self as sc, KIND_SESSION, KIND_STORE, Phase, Sending, clamp, seal as envelope_v,
};
use crate::parties::BobPre;
use crate::reference::primitives::{K32, V1, draw, unclamped};
use crate::reference::session::{MySession, key_pair};
use crate::reference::store::MyBob;
use crate::reference::wire::Ident;
use crate::support::{Cases, NC, OK, P_BYTES, contains, load_session_both, om, sm};
use crate::world::{CTX, NOW, recv, send, setup};
use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::VerifyingKey;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::{PreKeyStore, Session};

/// The session states test 7 edits into its cases (test helper).
#[derive(Clone)]
struct Fixture {
    /// Initiator, acknowledged, one old chain, skipped keys on two chains; half-step deferred.
    base: MySession,
    /// An initiator in the opening phase.
    unacked: MySession,
    /// `base` with the sending chain `some_send`.
    with_send: MySession,
    some_send: Sending,
    /// The signed prekey's public key that `unacked` was opened with.
    spk_b: K32,
    /// The neutral point: an Ed25519 key of small order.
    small_order: K32,
}

/// An Ed25519 key plus the 8-torsion point `EIGHT_TORSION[i]` (test helper).
fn torsion(k: &K32, i: usize) -> K32 {
    let p = VerifyingKey::from_bytes(k).unwrap().to_edwards();
    (p + EIGHT_TORSION[i]).compress().to_bytes()
}

/// Test 7: state decoding (§10.0, §10.3) agrees on every rule: the crate and the independent
/// decoder give the same result for valid and invalid session blobs of versions 3, 2 and 1, and
/// that result is the one SPEC.md gives; older blobs migrate to the same version-3 bytes.
#[test]
fn session_state_decode_rules_agree() {
    // A rich state: initiator, acknowledged, one old chain, skipped keys on two chains.
    let (mut w, _) = setup(23, false, false, true, CTX);
    // An initiator in the opening phase: Alice of another world, before any reply.
    let (w_unacked, _) = setup(25, true, false, false, CTX);
    let unacked = w_unacked.alice.view();
    assert_eq!(unacked.phase, Phase::AwaitingReply);
    let BobPre::Mine(unacked_bob) = &w_unacked.bob_pre else {
        panic!("independent Bob expected")
    };
    let spk_b = unacked_bob.store.signed[0].key.public;
    let b: Vec<_> = (0..3u8).map(|i| send(&mut w, false, &[i])).collect();
    recv(&mut w, true, &b[2], Ok(&[2]));
    let r = send(&mut w, true, b"r");
    recv(&mut w, false, &r, Ok(b"r"));
    let c: Vec<_> = (0..3u8).map(|i| send(&mut w, false, &[i])).collect();
    recv(&mut w, true, &c[2], Ok(&[2]));
    let base = w.alice.view();
    assert_eq!(base.phase, Phase::Acknowledged);
    assert_eq!(base.o().old.len(), 1);
    assert_eq!(base.o().skipped.len(), 4);
    // [(old key, 0), (old key, 1), (DHr, 0), (DHr, 1)] with Nr = 3; deferred half-step.
    assert_eq!(base.o().skipped[3].key, base.o().dhr);
    assert_eq!((base.o().skipped[3].n, base.o().nr), (1, 3));
    assert!(base.o().send.is_none());
    let some_send = Sending {
        dhs: key_pair(clamp([3; 32])),
        ck: [3; 32],
        n: 7,
    };
    let mut with_send = base.clone();
    om(&mut with_send).send = Some(some_send.clone());
    let small_order = {
        let mut k = [0; 32];
        k[0] = 1;
        k
    };
    let fx = Fixture {
        base,
        unacked,
        with_send,
        some_send,
        spk_b,
        small_order,
    };

    let mut cases = Cases::default();
    v3::edits(&mut cases, &fx);
    v3::patches(&mut cases, &fx);
    let (pending, v2_valid, v2_opening) = v2::cases(&mut cases, &fx);
    let Fixture {
        base,
        with_send,
        some_send,
        spk_b,
        ..
    } = fx;

    // ---- version 1 (read only): version 2's layout, clamped on reading ----
    cases.0.push((
        "v2 body sealed as v1".into(),
        envelope_v(KIND_SESSION, V1, sc::body(&v2_valid)),
        OK,
        Some(base.to_state()),
    ));
    let mut loose = pending;
    loose.pending_dhs = unclamped(&pending.pending_dhs, 0);
    cases.0.push((
        "v1 pending DHs unclamped".into(),
        base.encode_v1(&loose),
        OK,
        Some(base.to_state()),
    ));
    let mut v1 = with_send.clone();
    sm(&mut v1).dhs.secret = unclamped(&some_send.dhs.secret, 1);
    cases.0.push((
        "v1 sending DHs unclamped".into(),
        v1.encode_v1(&pending),
        OK,
        Some(with_send.to_state()),
    ));
    let mut v1 = base.clone();
    om(&mut v1).skipped[1].n = u32::MAX;
    cases.raw(
        "v1 old-chain skipped N = 2^32 − 1",
        v1.encode_v1(&pending),
        NC,
    );
    cases.run(load_session_both);

    // The two version-2 blobs re-save without what the old format kept.
    for (blob, dropped) in [(&v2_valid, pending.pending_dhs), (&v2_opening, spk_b)] {
        let resaved = Session::from_bytes(blob)
            .unwrap()
            .to_bytes()
            .unwrap()
            .to_vec();
        assert!(
            !contains(&resaved, &dropped),
            "§10.3: dropped on reading version 2"
        );
    }
}

/// Test 7e: a check position where the library departs from SPEC.md as written. This test
/// asserts SPEC.md and fails against the library until one of the two changes:
///
/// - §2 rule 7 ("fields are read and validated strictly in order") with §10.3 row 12/13 and
///   §10.2 ("secret clamped, else NonCanonical; public §2.3"): a `secret ‖ public` pair whose
///   secret is not clamped is `NonCanonical` as soon as the secret is read. The library reads
///   the public key first (an invalid one is `InvalidKey`, a cut one `Truncated`).
#[test]
fn check_order_follows_spec() {
    let (w_opening, _) = setup(25, true, false, false, CTX);
    let opening = w_opening.alice.view().to_state();
    let dhs_at = w_opening.alice.view().ratchet_offset();

    let mut cases = Cases::default();
    // D1, session (row 12 of phase 0x00).
    cases.patch("opening DHs unclamped, public ≥ p", &opening, NC, |b| {
        b[dhs_at] |= 0x01;
        b[dhs_at + 32..dhs_at + 64].copy_from_slice(&P_BYTES);
    });
    cases.patch(
        "opening DHs unclamped, body ends after it",
        &opening,
        NC,
        |b| {
            b[dhs_at] |= 0x01;
            b.truncate(dhs_at + 32);
        },
    );
    cases.patch(
        "opening DHs unclamped, cut inside its public key",
        &opening,
        NC,
        |b| {
            b[dhs_at] |= 0x01;
            b.truncate(dhs_at + 40);
        },
    );
    // D1, prekey store (§10.2): a signed prekey's and a one-time prekey's pair.
    let mut rng = ChaCha20Rng::from_seed([39; 32]);
    let seed: K32 = draw(&mut rng);
    let mut bob = MyBob::new(Ident::new(seed));
    bob.rotate_signed_prekey(&mut rng, NOW);
    bob.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let store = bob.store_state();
    let (spk, otk) = (9 + 12, 9 + 140 + 2 + 4 + 4);
    for (what, at) in [("signed", spk), ("one-time", otk)] {
        let name: &str = format!("{what} prekey secret unclamped, public ≥ p").leak();
        cases.patch(name, &store, NC, |b| {
            b[at] |= 0x01;
            b[at + 32..at + 64].copy_from_slice(&P_BYTES);
        });
        let name: &str =
            format!("{what} prekey secret unclamped, cut inside its public key").leak();
        cases.patch(name, &store, NC, |b| {
            b[at] |= 0x01;
            b.truncate(at + 40);
        });
    }
    cases.run(|blob| {
        if blob[0] == KIND_STORE {
            let mine = MyBob::load_store(Ident::new(seed), blob)
                .map(|s| s.store_state())
                .map_err(|e| format!("{e:?}"));
            let theirs = PreKeyStore::from_bytes(blob)
                .map(|s| s.to_bytes().unwrap().to_vec())
                .map_err(|e| format!("{e:?}"));
            (mine, theirs)
        } else {
            load_session_both(blob)
        }
    });
}
