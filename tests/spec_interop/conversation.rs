//! Whole conversations across implementations (tests 1–5): each direction, byte-identical
//! transcripts, session blobs parsed and moved mid-conversation, prekey and context variants.

use crate::common::state_codec::{
    self as sc, DEFAULT_LIMITS, KIND_SESSION, Phase, StoreBlob, is_clamped,
};
use crate::parties::{BobPre, Party, Transcript};
use crate::reference::primitives::{E, K32, STATE_VERSION, draw, open, xpub};
use crate::reference::session::MySession;
use crate::reference::store::MyBob;
use crate::reference::wire::{Bundle, Ident, decode_message, encode_bundle, signed_bytes};
use crate::script::{script, world_transcript};
use crate::support::contains;
use crate::world::{CTX, NOW, check_correspondence, recv, send, setup};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use xchat_protocol::{Config, IdentityKeyPair, PreKeyBundle, Session, Trust};

/// Test 1: independent Alice → crate Bob, with and without a one-time prekey.
#[test]
fn independent_alice_to_crate_bob() {
    for opk in [true, false] {
        let (mut w, a2) = setup(11, false, true, opk, CTX);
        assert!(!w.alice.is_crate() && w.bob.is_crate());
        script(&mut w, &a2, false);
    }
}

/// Test 2: crate Alice → independent Bob, with and without a one-time prekey.
#[test]
fn crate_alice_to_independent_bob() {
    for opk in [true, false] {
        let (mut w, a2) = setup(12, true, false, opk, CTX);
        assert!(w.alice.is_crate() && !w.bob.is_crate());
        script(&mut w, &a2, false);
    }
}

/// Test 3: same seeded RNG stream ⇒ byte-identical bundles, messages, errors and states, whichever
/// implementation plays which side (uses the informative RNG order of §1).
#[test]
fn byte_identical_for_every_mix_of_implementations() {
    for (opk, ctx) in [
        (true, CTX),
        (false, CTX),
        (true, &b""[..]),
        (false, &b"x"[..]),
    ] {
        let reference = world_transcript(13, true, true, opk, ctx, false);
        assert!(reference.0.len() > 100);
        for (alice, bob) in [(false, false), (false, true), (true, false)] {
            let t = world_transcript(13, alice, bob, opk, ctx, false);
            assert_eq!(t.0.len(), reference.0.len());
            for (i, (x, y)) in t.0.iter().zip(&reference.0).enumerate() {
                assert_eq!(
                    x, y,
                    "step {i} differs (alice crate {alice}, bob crate {bob}, opk {opk})"
                );
            }
        }
    }
}
/// The held signed prekeys' secrets of a store blob (read with the reference codec).
fn spk_secrets(store_blob: &[u8]) -> Vec<K32> {
    let (_, s) = StoreBlob::decode(store_blob).unwrap();
    s.signed.iter().map(|k| k.key.secret).collect()
}

/// Test 4: persisted state: parse the crate's session blobs per §10.0/§10.3, check the correspondence
/// with the independent peer and the phases of §6.1 as stored, and move sessions between
/// implementations mid-conversation.
#[test]
fn state_blobs_parse_and_cross_load() {
    // Crate Bob, independent Alice: parse Bob's blob after several turns.
    let (mut w, a2) = setup(14, false, true, true, CTX);
    // The responder is open from its creation, its sending side pending: the blob holds no
    // ratchet secret, and in particular not the signed prekey's (§6.2, §10.3).
    let spk_secret = spk_secrets(&w.bob_pre.store_state())[0];
    let fresh = w.bob.state();
    assert!(
        !contains(&fresh, &spk_secret),
        "§10.3: SPK secret in a responder blob"
    );
    let v = MySession::from_state(&fresh).unwrap();
    assert_eq!(v.phase, Phase::Responder);
    assert!(v.sending().is_none());
    assert_eq!(fresh[2], Phase::Responder as u8);
    // Row 13's flag is 0x00 and the lists follow at once: no `DHs` bytes at all.
    assert_eq!(fresh[2 + v.ratchet_offset() + 68], 0x00);
    let b0 = send(&mut w, false, b"b0");
    let b1 = send(&mut w, false, b"b1");
    recv(&mut w, true, &b1, Ok(b"b1"));
    // Crate Bob's sending chain = my receiving chain; b0's key is held by me.
    check_correspondence(&w.bob, &w.alice);
    let alice_view = w.alice.view();
    assert_eq!(alice_view.o().skipped.len(), 1);
    let blob = w.bob.state();
    assert!(!contains(&blob, &spk_secret));
    assert_eq!(blob[0], KIND_SESSION);
    assert_eq!(blob[1], STATE_VERSION);
    let check = Sha256::digest(&blob[..blob.len() - 16]);
    assert_eq!(blob[blob.len() - 16..], check[..16]);
    let bob_view = MySession::from_state(&blob).unwrap();
    assert_eq!(bob_view.phase, Phase::Responder);
    let sending = bob_view.sending().unwrap();
    // §10.0: the stored ratchet secret is clamped; its public key is stored after it.
    assert!(is_clamped(&sending.dhs.secret));
    assert_eq!(xpub(&sending.dhs.secret), sending.dhs.public);
    let at = 2 + bob_view.ratchet_offset() + 68;
    assert_eq!(blob[at], 0x01);
    assert_eq!(blob[at + 1..at + 33], sending.dhs.secret);
    assert_eq!(blob[at + 33..at + 65], sending.dhs.public);
    assert_eq!(sending.n, 2);
    assert_eq!(bob_view.o().nr, 2); // a0, a1 received (a2 still pending)
    assert_eq!(bob_view.o().received, 2);
    assert_eq!(bob_view.o().pn, 0);
    assert_eq!(bob_view.limits, DEFAULT_LIMITS);
    assert_eq!(bob_view.context, CTX);
    assert_eq!(bob_view.opk_id, Some(1));
    // Corrupting any byte is detected.
    let mut bad = blob.clone();
    bad[40] ^= 1;
    assert_eq!(
        MySession::from_state(&bad).unwrap_err(),
        sc::DecodeError::ChecksumMismatch
    );
    assert!(matches!(
        Session::from_bytes(&bad),
        Err(xchat_protocol::DecodeError::ChecksumMismatch)
    ));
    recv(&mut w, true, &b0, Ok(b"b0"));

    // Alice replies; crate Bob's view after receipt: deferred half-step (the sending side, and
    // its secret, gone), PN = Ns.
    let c0 = send(&mut w, true, b"c0");
    recv(&mut w, false, &c0, Ok(b"c0"));
    check_correspondence(&w.alice, &w.bob);
    let v = w.bob.view();
    assert!(!contains(&w.bob.state(), &sending.dhs.secret));
    assert_eq!(v.o().pn, 2);
    assert!(v.o().send.is_none());
    assert_eq!(v.o().old.len(), 1);
    assert_eq!(v.o().skipped.len(), 1); // a2's key from the old chain
    assert_eq!(v.o().skipped[0].n, 2);
    assert_eq!(v.o().skipped[0].stamp, 3);

    // Crate Alice, independent Bob: parse Alice's blob (initiator, before and after the ack).
    let (mut w2, _) = setup(15, true, false, false, CTX);
    let v = w2.alice.view();
    let alice_blob = w2.alice.state();
    assert_eq!(v.phase, Phase::AwaitingReply);
    assert_eq!(alice_blob[2], 0x00);
    assert!(v.open().is_none());
    assert_eq!(v.sending().unwrap().n, 3);
    assert_eq!(v.opk_id, None);
    // The opening phase keeps no `DHr`: the signed prekey's public key is not in the blob, which
    // ends with the sending chain (§10.3 row 12 of phase 0x00).
    let BobPre::Mine(bob) = &w2.bob_pre else {
        panic!("independent Bob expected")
    };
    assert!(!contains(&alice_blob, &bob.store.signed[0].key.public));
    assert_eq!(
        alice_blob.len(),
        2 + v.ratchet_offset() + 32 + 32 + 32 + 4 + 16
    );
    let m = send(&mut w2, false, b"x");
    recv(&mut w2, true, &m, Ok(b"x"));
    check_correspondence(&w2.bob, &w2.alice);
    let v = w2.alice.view();
    assert_eq!(v.phase, Phase::Acknowledged);
    assert_eq!(w2.alice.state()[2], 0x01);
    assert_eq!(v.o().pn, 3);

    // Sessions moved between implementations mid-conversation keep the identical transcript.
    for (alice, bob) in [(true, true), (false, false), (true, false), (false, true)] {
        let reference = world_transcript(16, true, true, true, CTX, false);
        let swapped = world_transcript(16, alice, bob, true, CTX, true);
        let strip =
            |t: Transcript| -> Vec<_> { t.0.into_iter().filter(|(w, _)| w != "swapped").collect() };
        assert_eq!(strip(swapped), strip(reference));
    }
    recv(&mut w, false, &a2, Ok(b"a\x02"));
}

/// Test 5: without and with a one-time prekey, empty and non-empty context; mismatched contexts fail.
#[test]
fn one_time_prekey_and_context_variants() {
    for opk in [false, true] {
        for ctx in [&b""[..], CTX, &[0xAB; 1024][..]] {
            for (alice, bob) in [(false, true), (true, false)] {
                let (mut w, a2) = setup(17, alice, bob, opk, ctx);
                let v = w.bob.view();
                assert_eq!(v.context, ctx);
                assert_eq!(v.opk_id, opk.then_some(1));
                let mut expected_ad = w.alice.view().local.to_vec();
                expected_ad.extend_from_slice(&v.local);
                expected_ad.extend_from_slice(&u16::try_from(ctx.len()).unwrap().to_be_bytes());
                expected_ad.extend_from_slice(ctx);
                assert_eq!(v.ad(), expected_ad);
                // §3.5 literally: a2 (N = 2, sealed by the independent Alice) opens under
                // AD ‖ prekey fields ‖ prefix, and not under the old AD ‖ prefix.
                if let Party::Mine(_, Some(log)) = &w.alice {
                    let (_, m) = decode_message(&a2).unwrap();
                    let split = 71 + if opk { 4 } else { 0 };
                    assert_eq!(m.prekey_fields, a2[..split]);
                    let mk = log.iter().find(|e| e.0 == m.key && e.1 == 2).unwrap().2;
                    let aad = [&expected_ad[..], &a2[..split + 58]].concat();
                    assert_eq!(open(&mk, &m.seed, &aad, &m.ct).unwrap(), b"a\x02");
                    let old_aad = [&expected_ad[..], &m.prefix].concat();
                    assert_eq!(
                        open(&mk, &m.seed, &old_aad, &m.ct),
                        Err(E::DecryptionFailed)
                    );
                }
                recv(&mut w, false, &a2, Ok(b"a\x02"));
                let m = send(&mut w, false, b"reply");
                recv(&mut w, true, &m, Ok(b"reply"));
            }
        }
    }
    // A correctly signed low-order SPK: X3DH fails with NonContributory in both (§4.4).
    let mut rng = ChaCha20Rng::from_seed([24; 32]);
    let bob = Ident::new(draw(&mut rng));
    let spk = [0u8; 32];
    let bundle = encode_bundle(&Bundle {
        ik: bob.ik,
        spk_id: 0,
        created_at: NOW,
        spk,
        sig: bob.sign(&signed_bytes(0, NOW, &spk)),
        opk: None,
        kem: None,
    });
    let alice = IdentityKeyPair::generate(&mut rng);
    let crate_bundle = PreKeyBundle::from_bytes(&bundle).unwrap();
    assert!(matches!(
        Session::initiate(
            &mut rng,
            &alice,
            &crate_bundle,
            Trust::FirstUse,
            &Config::new(CTX).allow_classical()
        ),
        Err(xchat_protocol::Error::NonContributory)
    ));
    let my_alice = Ident::new(*alice.seed());
    assert_eq!(
        MySession::initiate(&mut rng, &my_alice, &bundle, CTX).unwrap_err(),
        E::NonContributory
    );

    // Context over 1024 bytes is refused by both.
    let mut rng = ChaCha20Rng::from_seed([18; 32]);
    let mut bob = MyBob::new(Ident::new(draw(&mut rng)));
    bob.rotate_signed_prekey(&mut rng, NOW);
    let bundle = bob.bundle(None);
    let alice = IdentityKeyPair::generate(&mut rng);
    let long = [0u8; 1025];
    assert!(matches!(
        Session::initiate(
            &mut rng,
            &alice,
            &PreKeyBundle::from_bytes(&bundle).unwrap(),
            Trust::FirstUse,
            &Config::new(&long).allow_classical(),
        ),
        Err(xchat_protocol::Error::TooLarge)
    ));
    let my_alice = Ident::new(draw(&mut rng));
    assert_eq!(
        MySession::initiate(&mut rng, &my_alice, &bundle, &long).unwrap_err(),
        E::TooLarge
    );
}
