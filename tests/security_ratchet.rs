//! Security properties of the ratchet and sessions, each written as an attack that must fail:
//! forward secrecy, post-compromise security, replay, atomic failure, rollback and counters.
//! SECURITY.md maps every property to its test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Tag};
use common::{CONTEXT, established};
use xchat_protocol::Config;
use xchat_protocol::kdf::{ChainKey, MessageKey};
use xchat_protocol::wire::MESSAGE_PREFIX_LEN;
use xchat_protocol::{Error, IdentityKey, Incoming, Limits, Session};

/// The associated data of SPEC.md §3.5.
fn ad(initiator: &IdentityKey, responder: &IdentityKey) -> Vec<u8> {
    let mut ad = initiator.to_bytes().to_vec();
    ad.extend_from_slice(&responder.to_bytes());
    ad.extend_from_slice(&(CONTEXT.len() as u16).to_be_bytes());
    ad.extend_from_slice(CONTEXT);
    ad
}

fn try_open(mk: &MessageKey, wire: &[u8], ad: &[u8]) -> bool {
    let msg = Incoming::decode(wire).unwrap();
    let m = msg.message();
    let k = mk.expand(&m.seed);
    let start = wire.len() - m.ciphertext.len() - MESSAGE_PREFIX_LEN;
    // SPEC.md §3.5: AD, then every byte of the message before its ciphertext (for a prekey
    // message, the prekey fields and the embedded prefix).
    let mut aad = ad.to_vec();
    aad.extend_from_slice(&wire[..start + MESSAGE_PREFIX_LEN]);
    let (body, tag) = m.ciphertext.split_at(m.ciphertext.len() - 16);
    let mut buf = body.to_vec();
    Aes256Gcm::new(&k.key.into())
        .decrypt_inout_detached(
            &k.nonce.into(),
            &aad,
            buf.as_mut_slice().into(),
            &Tag::try_from(tag).unwrap(),
        )
        .is_ok()
}

/// The attacker's best effort with a stolen state blob: every 32-byte window (root key, chain
/// keys, stored message keys, private keys) is tried as a message key and as a chain key walked
/// forward 64 steps. Going *backwards* from a chain key is what forward secrecy forbids.
fn stolen_state_opens(blob: &[u8], wire: &[u8], ad: &[u8]) -> bool {
    blob.windows(32).any(|w| {
        let bytes: [u8; 32] = w.try_into().unwrap();
        if try_open(&MessageKey::from_bytes(bytes), wire, ad) {
            return true;
        }
        let mut ck = ChainKey::from_bytes(bytes);
        (0..64).any(|_| {
            let (next, mk) = ck.step();
            ck = next;
            try_open(&mk, wire, ad)
        })
    })
}

#[test]
fn forward_secrecy_state_after_decrypt_yields_no_earlier_message_key() {
    let mut p = established(40, true);
    let ad = ad(p.alice_id.public(), p.bob_id.public());
    let m = p.alice.encrypt(&mut p.rng, b"secret").unwrap();
    let bob_before = p.bob.to_bytes().unwrap();
    let alice_after_send = p.alice.to_bytes().unwrap();
    // Positive control: the receiver's state *before* decrypting does yield the key.
    assert!(stolen_state_opens(&bob_before, &m, &ad));
    p.bob.decrypt(&m).unwrap();
    // After decrypting (receiver) and after sending (sender), nothing in either state opens it.
    assert!(!stolen_state_opens(&p.bob.to_bytes().unwrap(), &m, &ad));
    assert!(!stolen_state_opens(&alice_after_send, &m, &ad));
    // And the restored state refuses it.
    let mut restored = Session::from_bytes(&p.bob.to_bytes().unwrap()).unwrap();
    assert_eq!(restored.decrypt(&m), Err(Error::DuplicateMessage));
}

#[test]
fn post_compromise_security_heals_at_the_next_dh_ratchet_step() {
    let mut p = established(41, true);
    let reply = p.bob.encrypt(&mut p.rng, b"r").unwrap();
    p.alice.decrypt(&reply).unwrap();
    let a = p.alice.encrypt(&mut p.rng, b"a").unwrap();
    // The attacker copies Alice's complete state right after she sent: her current ratchet
    // secret (the one Bob will answer to) is in the copy, and no half-step is pending, so a
    // failure below is cryptographic, not the early rejection of SPEC.md §6.5 D2.
    let stolen = p.alice.to_bytes().unwrap();
    p.bob.decrypt(&a).unwrap();
    // Until the peer's next DH ratchet step the copy decrypts Bob's messages.
    let before_heal = p.bob.encrypt(&mut p.rng, b"still readable").unwrap();
    let mut copy = Session::from_bytes(&stolen).unwrap();
    assert_eq!(copy.decrypt(&before_heal).unwrap(), b"still readable");
    p.alice.decrypt(&before_heal).unwrap();
    // Alice answers with a ratchet key generated after the theft; Bob's next chain is then out
    // of reach, for a fresh copy and for one that followed along.
    let turn = p.alice.encrypt(&mut p.rng, b"turn").unwrap();
    p.bob.decrypt(&turn).unwrap();
    for text in [&b"healed 1"[..], b"healed 2"] {
        let b = p.bob.encrypt(&mut p.rng, text).unwrap();
        assert_eq!(
            Session::from_bytes(&stolen).unwrap().decrypt(&b),
            Err(Error::DecryptionFailed)
        );
        assert!(copy.decrypt(&b).is_err());
        assert_eq!(p.alice.decrypt(&b).unwrap(), text);
    }
}

#[test]
fn replay_every_ciphertext_including_prekey_messages_is_accepted_at_most_once() {
    let mut p = established(42, true);
    let pre = p
        .alice
        .encrypt(&mut p.rng, b"second prekey message")
        .unwrap();
    assert_eq!(p.bob.decrypt(&pre).unwrap(), b"second prekey message");
    let before = p.bob.to_bytes();
    assert_eq!(p.bob.decrypt(&pre), Err(Error::DuplicateMessage));
    assert_eq!(p.bob.to_bytes(), before);
    // The replayed prekey message never makes the responder build a second session.
    assert!(
        Session::respond(
            &p.bob_id,
            &mut p.bob_store,
            &pre,
            &Config::new(CONTEXT).allow_classical()
        )
        .is_err()
    );
    let reply = p.bob.encrypt(&mut p.rng, b"x").unwrap();
    p.alice.decrypt(&reply).unwrap();
    assert_eq!(p.alice.decrypt(&reply), Err(Error::DuplicateMessage));
}

#[test]
fn atomic_failure_forged_headers_at_and_beyond_the_limits_change_nothing() {
    let mut p = established(43, true);
    let limits = Limits {
        max_skip: 50,
        max_skipped_keys: 50,
        ..Limits::default()
    };
    p.alice.set_limits(limits).unwrap();
    let genuine = p.bob.encrypt(&mut p.rng, b"x").unwrap();
    let before = p.alice.to_bytes();
    let attacker_key = xchat_protocol::KeyPair::generate(&mut p.rng);
    for counter in [limits.max_skip, limits.max_skip + 1, u32::MAX - 1, u32::MAX] {
        for pn in [0, limits.max_skip, u32::MAX] {
            let mut forged = genuine.clone();
            forged[2..34].copy_from_slice(attacker_key.public().as_bytes());
            forged[34..38].copy_from_slice(&pn.to_be_bytes());
            forged[38..42].copy_from_slice(&counter.to_be_bytes());
            let err = p.alice.decrypt(&forged).unwrap_err();
            let within = u64::from(counter) <= u64::from(limits.max_skip);
            assert_eq!(
                err,
                if within {
                    Error::DecryptionFailed
                } else {
                    Error::TooFarInFuture
                }
            );
            assert_eq!(p.alice.to_bytes(), before, "counter {counter} pn {pn}");
        }
    }
    // A thousand forgeries later, nothing was stored.
    for i in 0..1000u32 {
        let mut forged = genuine.clone();
        forged[38..42].copy_from_slice(&(i % 40).to_be_bytes());
        forged[60] ^= 1;
        assert!(p.alice.decrypt(&forged).is_err());
    }
    assert_eq!(p.alice.skipped_key_count(), 0);
    assert_eq!(p.alice.to_bytes(), before);
    assert_eq!(p.alice.decrypt(&genuine).unwrap(), b"x");
}

#[test]
fn rollback_restored_snapshot_never_reuses_key_and_nonce() {
    let mut p = established(44, true);
    let snapshot = p.alice.to_bytes().unwrap();
    let plaintext = [0u8; 64];
    let first = p.alice.encrypt(&mut p.rng, &plaintext).unwrap();
    let mut restored = Session::from_bytes(&snapshot).unwrap();
    let second = restored.encrypt(&mut p.rng, &plaintext).unwrap();
    let (m1, m2) = (
        Incoming::decode(&first).unwrap(),
        Incoming::decode(&second).unwrap(),
    );
    // Same chain position, so the same message key...
    assert_eq!(m1.message().header, m2.message().header);
    // ...but a deterministic (key, nonce) would give identical ciphertexts of identical
    // plaintexts; ours differ, with no common keystream.
    assert_ne!(m1.message().ciphertext, m2.message().ciphertext);
    let same_keystream = m1.message().ciphertext[..64] == m2.message().ciphertext[..64];
    assert!(!same_keystream);
}

/// Rewrites an open session's sending counter `Ns` (SPEC.md §10.3) through the reference codec,
/// and re-seals the blob.
fn with_send_counter(blob: &[u8], counter: u32) -> Vec<u8> {
    common::state_codec::edit_session(blob, |s| {
        let common::state_codec::Ratchet::Open(open) = &mut s.ratchet else {
            unreachable!("an open session")
        };
        open.send.as_mut().expect("sending chain present").n = counter;
    })
}

#[test]
fn counters_never_wrap_and_limits_hold_at_the_boundary() {
    let mut p = established(45, true);
    let reply = p.bob.encrypt(&mut p.rng, b"r").unwrap();
    p.alice.decrypt(&reply).unwrap();
    let mut bob =
        Session::from_bytes(&with_send_counter(&p.bob.to_bytes().unwrap(), u32::MAX - 1)).unwrap();
    let last = bob.encrypt(&mut p.rng, b"last").unwrap();
    assert_eq!(
        Incoming::decode(&last).unwrap().message().header.counter,
        u32::MAX - 1
    );
    assert_eq!(
        bob.encrypt(&mut p.rng, b"wrap?"),
        Err(Error::ChainExhausted)
    );
    // The receiver rejects a counter of u32::MAX outright, and the wrapped value 0 is a replay.
    let mut forged = last.clone();
    forged[38..42].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(p.alice.decrypt(&forged), Err(Error::TooFarInFuture));
    // Skip limit: exactly max_skip accepted, one more rejected (tests/session/limits.rs covers the
    // accepted side); here the gap to u32::MAX − 1 is far beyond it.
    assert_eq!(p.alice.decrypt(&last), Err(Error::TooFarInFuture));
}
