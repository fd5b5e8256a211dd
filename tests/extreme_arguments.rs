//! Extreme arguments: every public function that takes a count, a length, a size, a time or an id
//! is called with 0, 1, the maximum of its type, its documented limit, the limit + 1 and far more
//! (16 MiB inputs), and with empty, 1-byte and huge byte strings.
//!
//! Each call must not panic; the documented bound must hold (`Ok` just inside, the documented typed
//! error just outside); and a failed call must leave the object unchanged (`to_bytes()` compared
//! before and after, where the type has it).
//!
//! The problems this test found are fixed; the tests at the end of the file keep them fixed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{CONTEXT, Pair, established, rng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use xchat_protocol::Receipt;
use xchat_protocol::content::{
    CONTENT_VERSION, Content, FRAME_HEADER_LEN, MAX_CLOCK_SKEW_MS, MIN_PADDED_LEN, max_body_len,
    padded_len,
};
use xchat_protocol::kdf::{
    self, ChainKey, FIRST_MESSAGE_ID_LEN, LABEL_SIGNED_PREKEY, MessageKey, RootKey, SEED_LEN,
    SharedSecret,
};
use xchat_protocol::prekeys::{
    MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY, MAX_ONE_TIME_PREKEYS, MAX_SIGNED_PREKEYS,
    SignedPreKeyPair,
};
use xchat_protocol::sealed_sender::{
    ENVELOPE_HEADER_LEN, MAX_ADDRESS_LEN, MAX_ENVELOPE_LEN, MAX_SEALED_MESSAGE_LEN,
    MAX_SENDER_CERTIFICATE_LEN, SEALED_VERSION, SERVER_CERTIFICATE_LEN, seal_to,
};
use xchat_protocol::session::MAX_CONTEXT_LEN;
use xchat_protocol::state::{KIND_IDENTITY, KIND_PREKEY_STORE, KIND_SESSION};
use xchat_protocol::wire::{
    MAX_PLAINTEXT_LEN, MESSAGE_PREFIX_LEN, TYPE_MESSAGE, TYPE_PREKEY_MESSAGE,
};
use xchat_protocol::{
    CertificateKey, CertificateKeyPair, ContentKind, Deadline, DecodeError, Error, IdentityKey,
    IdentityKeyPair, Incoming, KeyPair, Limits, PROTOCOL_VERSION, PreKeyBundle, PreKeyStore,
    PublicKey, SealedRecipient, SealedSenderError, SenderCertificate, ServerCertificate, Session,
    SignedPreKey, Timer, TimerStart,
};
use xchat_protocol::{Config, Trust};
use zeroize::Zeroizing;

/// The "much larger" size of every case: 16 MiB.
const HUGE: usize = 16 << 20;
const NOW_MS: u64 = 1_700_000_000_000;
const CHECK_LEN: usize = 16;
/// Length of the X3DH fields before the embedded message of a prekey message with a one-time
/// prekey (SPEC.md §5.2).
const PREKEY_FIELDS_WITH_OTPK: usize = 1 + 1 + 32 + 32 + 4 + 1 + 4;

/// Asserts that a failed call left the object's serialization byte-identical (without printing
/// megabytes on failure).
fn assert_unchanged(before: &[u8], after: &[u8], what: &str) {
    assert!(
        before == after,
        "{what}: the object changed ({} bytes before, {} after)",
        before.len(),
        after.len()
    );
}

/// Replaces the check of a state blob (SPEC.md §10.0) after an edit.
fn reseal(mut blob: Vec<u8>) -> Vec<u8> {
    let n = blob.len() - CHECK_LEN;
    let check = Sha256::digest(&blob[..n]);
    blob[n..].copy_from_slice(&check[..CHECK_LEN]);
    blob
}

/// `blob` with `extra` inserted before its check, resealed: a valid header and check over a body
/// with trailing bytes.
fn resealed_with_trailing(blob: &[u8], extra: &[u8]) -> Vec<u8> {
    let n = blob.len() - CHECK_LEN;
    let mut out = Vec::with_capacity(blob.len() + extra.len());
    out.extend_from_slice(&blob[..n]);
    out.extend_from_slice(extra);
    out.extend_from_slice(&[0; CHECK_LEN]);
    reseal(out)
}

/// A store whose next signed / one-time prekey id is `next` (SPEC.md §10.2 offsets 2 and 6).
fn with_next_id(store: &PreKeyStore, offset: usize, next: u32) -> PreKeyStore {
    let mut b = store.to_bytes().unwrap().to_vec();
    b[offset..offset + 4].copy_from_slice(&next.to_be_bytes());
    PreKeyStore::from_bytes(&reseal(b)).unwrap()
}
const NEXT_SIGNED_ID: usize = 2;
const NEXT_ONE_TIME_ID: usize = 6;

/// The number of signed prekeys a store holds (SPEC.md §10.2 offset 10).
fn signed_prekey_count(store: &PreKeyStore) -> usize {
    usize::from(store.to_bytes().unwrap()[10])
}

fn ids(keys: &[xchat_protocol::OneTimePreKey]) -> Vec<u32> {
    keys.iter().map(|k| k.id).collect()
}

fn reload_session(s: &Session) -> Session {
    let bytes = s.to_bytes().unwrap();
    let again = Session::from_bytes(&bytes).unwrap();
    assert_unchanged(&bytes, &again.to_bytes().unwrap(), "session persistence");
    again
}

fn reload_store(s: &PreKeyStore) -> PreKeyStore {
    let bytes = s.to_bytes().unwrap();
    let again = PreKeyStore::from_bytes(&bytes).unwrap();
    assert_unchanged(&bytes, &again.to_bytes().unwrap(), "store persistence");
    again
}

// ---------------------------------------------------------------------------------------------
// PreKeyStore
// ---------------------------------------------------------------------------------------------

#[test]
fn prekey_store_counts_ids_and_times() {
    let mut rng = rng(1);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();

    // An empty store: no signed prekey, nothing to remove, counts refused beyond the bound.
    assert_eq!(store.bundle(&bob, None), Err(Error::NoSignedPreKey));
    assert_eq!(
        store.bundle(&bob, Some(u32::MAX)),
        Err(Error::NoSignedPreKey)
    );
    assert_eq!(store.current_signed_prekey(), None);
    assert_eq!(store.first_message_capacity(), 0);
    assert_eq!(store.one_time_prekey_count(), 0);
    let before = store.to_bytes().unwrap();
    for count in [
        MAX_ONE_TIME_PREKEYS + 1,
        2 * MAX_ONE_TIME_PREKEYS,
        u32::MAX as usize,
        u32::MAX as usize + 1,
        usize::MAX - 1,
        usize::MAX,
    ] {
        assert_eq!(
            store.generate_one_time_prekeys(&mut rng, count),
            Err(Error::TooLarge),
            "generate_one_time_prekeys({count})"
        );
        assert_unchanged(&before, &store.to_bytes().unwrap(), "failed generate");
    }
    assert_eq!(store.generate_one_time_prekeys(&mut rng, 0), Ok(vec![]));
    assert_unchanged(&before, &store.to_bytes().unwrap(), "generate(0)");
    for id in [0, 1, u32::MAX] {
        assert!(!store.remove_one_time_prekey(id));
    }
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "remove of an id never issued",
    );

    // Times at both ends of u64 (milliseconds in; whole seconds signed).
    for now_ms in [u64::MAX, 0, u64::MAX - 1, 1, 999, 1000] {
        let spk = store.rotate_signed_prekey(&mut rng, &bob, now_ms);
        assert_eq!(spk.created_at, now_ms / 1000);
        spk.verify(bob.public()).unwrap();
        assert_eq!(store.current_signed_prekey(), Some(&spk));
        let bundle = store.bundle(&bob, None).unwrap();
        assert_eq!(bundle.signed_prekey, spk);
        let bytes = bundle.to_bytes();
        assert!(bytes.len() <= PreKeyBundle::MAX_LEN);
        assert_eq!(PreKeyBundle::from_bytes(&bytes), Ok(bundle));
    }
    assert_eq!(signed_prekey_count(&store), MAX_SIGNED_PREKEYS);
    assert_eq!(
        store.first_message_capacity(),
        MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY
    );

    // One key; bundles with it, and with ids the store does not hold.
    let one = store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    assert_eq!(ids(&one), [0]);
    assert_eq!(store.one_time_prekeys(), one);
    let bundle = store.bundle(&bob, Some(0)).unwrap();
    assert_eq!(bundle.one_time_prekey, Some(one[0]));
    assert_eq!(bundle.to_bytes().len(), PreKeyBundle::MAX_LEN);
    let before = store.to_bytes().unwrap();
    for id in [1, u32::MAX - 1, u32::MAX] {
        assert_eq!(
            store.bundle(&bob, Some(id)),
            Err(Error::UnknownOneTimePreKey(id))
        );
        assert!(!store.remove_one_time_prekey(id));
    }
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "bundle/remove of unknown ids",
    );

    // A session to the newest signed prekey, with the one-time prekey.
    let alice = IdentityKeyPair::generate(&mut rng);
    let mut to_bob = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let first = to_bob.encrypt(&mut rng, b"t").unwrap();
    let (_, text) = Session::respond(&bob, &mut store, &first, &Config::new(CONTEXT)).unwrap();
    assert_eq!(text, b"t");
    assert_eq!(store.one_time_prekey_count(), 0);
}

#[test]
fn one_time_prekeys_fill_exactly_to_their_bound() {
    let mut rng = rng(2);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();

    // The bound counts the keys already held: limit + 1 in total is refused.
    let before = store.to_bytes().unwrap();
    assert_eq!(
        store.generate_one_time_prekeys(&mut rng, MAX_ONE_TIME_PREKEYS),
        Err(Error::TooLarge)
    );
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "generate one over the bound",
    );

    // Exactly at the bound.
    let keys = store
        .generate_one_time_prekeys(&mut rng, MAX_ONE_TIME_PREKEYS - 1)
        .unwrap();
    assert_eq!(keys.len(), MAX_ONE_TIME_PREKEYS - 1);
    assert_eq!(store.one_time_prekey_count(), MAX_ONE_TIME_PREKEYS);
    let last = keys.last().unwrap().id;
    assert_eq!(last as usize, MAX_ONE_TIME_PREKEYS - 1);
    let full = store.to_bytes().unwrap();
    for count in [1, 2, MAX_ONE_TIME_PREKEYS, usize::MAX] {
        assert_eq!(
            store.generate_one_time_prekeys(&mut rng, count),
            Err(Error::TooLarge),
            "generate({count}) on a full store"
        );
        assert_unchanged(
            &full,
            &store.to_bytes().unwrap(),
            "generate on a full store",
        );
    }
    assert_eq!(store.generate_one_time_prekeys(&mut rng, 0), Ok(vec![]));
    assert_unchanged(
        &full,
        &store.to_bytes().unwrap(),
        "generate(0) on a full store",
    );

    // A full store persists and reloads.
    let restored = reload_store(&store);
    assert_eq!(restored.one_time_prekeys().len(), MAX_ONE_TIME_PREKEYS);

    // A stored count over the bound is refused on load (SPEC.md §10.2: `NonCanonical`). With one
    // signed prekey that remembers nothing, the count sits at offset 11 + 142.
    for stored in [MAX_ONE_TIME_PREKEYS as u32 + 1, u32::MAX] {
        let mut b = full.to_vec();
        b[153..157].copy_from_slice(&stored.to_be_bytes());
        assert_eq!(
            PreKeyStore::from_bytes(&reseal(b)).unwrap_err(),
            DecodeError::NonCanonical
        );
    }

    // Freeing one key makes room for exactly one.
    assert!(store.remove_one_time_prekey(last));
    assert!(!store.remove_one_time_prekey(last));
    let before = store.to_bytes().unwrap();
    assert_eq!(
        store.generate_one_time_prekeys(&mut rng, 2),
        Err(Error::TooLarge)
    );
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "generate(2) with room for 1",
    );
    let again = store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    assert_eq!(ids(&again), [MAX_ONE_TIME_PREKEYS as u32]);
    assert_eq!(store.one_time_prekey_count(), MAX_ONE_TIME_PREKEYS);
}

#[test]
fn prekey_ids_wrap_at_u32_max() {
    let mut rng = rng(3);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let store = PreKeyStore::new();
    let store = with_next_id(&store, NEXT_SIGNED_ID, u32::MAX - 1);
    let mut store = with_next_id(&store, NEXT_ONE_TIME_ID, u32::MAX - 1);

    let a = store.rotate_signed_prekey(&mut rng, &bob, u64::MAX);
    let b = store.rotate_signed_prekey(&mut rng, &bob, u64::MAX);
    assert_eq!((a.id, b.id), (u32::MAX - 1, u32::MAX));
    let otpks = store.generate_one_time_prekeys(&mut rng, 3).unwrap();
    assert_eq!(ids(&otpks), [u32::MAX - 1, u32::MAX, 0]);
    let mut store = reload_store(&store);

    // A session whose signed and one-time prekey ids are both u32::MAX.
    let bundle = store.bundle(&bob, Some(u32::MAX)).unwrap();
    assert_eq!(bundle.signed_prekey.id, u32::MAX);
    assert_eq!(
        PreKeyBundle::from_bytes(&bundle.to_bytes()),
        Ok(bundle.clone())
    );
    let mut to_bob = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let first = to_bob.encrypt(&mut rng, b"max ids").unwrap();

    // Two rotations across the wrap: ids 0 and 1; the store keeps u32::MAX, 0, 1.
    for want in [0, 1] {
        assert_eq!(store.rotate_signed_prekey(&mut rng, &bob, 0).id, want);
    }
    assert_eq!(signed_prekey_count(&store), MAX_SIGNED_PREKEYS);
    let mut store = reload_store(&store);
    let (to_alice, text) =
        Session::respond(&bob, &mut store, &first, &Config::new(CONTEXT)).unwrap();
    assert_eq!(text, b"max ids");
    assert!(to_alice.used_one_time_prekey());
    reload_session(&to_alice);
    reload_session(&to_bob);
    assert!(!store.remove_one_time_prekey(u32::MAX), "consumed");
    assert_eq!(
        store.bundle(&bob, Some(u32::MAX)),
        Err(Error::UnknownOneTimePreKey(u32::MAX))
    );

    // One more rotation drops signed prekey u32::MAX.
    assert_eq!(store.rotate_signed_prekey(&mut rng, &bob, 0).id, 2);
    let late = to_bob.encrypt(&mut rng, b"late").unwrap();
    let before = store.to_bytes().unwrap();
    assert_eq!(
        Session::respond(&bob, &mut store, &late, &Config::new(CONTEXT)).unwrap_err(),
        Error::UnknownSignedPreKey(u32::MAX)
    );
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "respond to a rotated-out key",
    );

    // One-time ids that wrap skip the ids still held (u32::MAX - 1 and 0 are).
    let mut store = with_next_id(&store, NEXT_ONE_TIME_ID, u32::MAX - 1);
    let wrapped = store.generate_one_time_prekeys(&mut rng, 3).unwrap();
    assert_eq!(ids(&wrapped), [u32::MAX, 1, 2]);
    assert_eq!(
        ids(&store.one_time_prekeys()),
        [0, 1, 2, u32::MAX - 1, u32::MAX]
    );
    let store = reload_store(&store);

    // A signed id that comes round again replaces the key of that id instead of duplicating it.
    let old_one = store.bundle(&bob, None).unwrap().signed_prekey; // id 2
    let mut store = with_next_id(&store, NEXT_SIGNED_ID, 1);
    let replaced = store.rotate_signed_prekey(&mut rng, &bob, 7000);
    assert_eq!(replaced.id, 1);
    assert_eq!(signed_prekey_count(&store), MAX_SIGNED_PREKEYS);
    assert_eq!(store.current_signed_prekey(), Some(&replaced));
    assert_ne!(old_one.key, replaced.key);
    reload_store(&store);
}

#[test]
fn first_messages_without_one_time_prekey_stop_at_their_bound() {
    let mut rng = rng(4);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    let spk = store.rotate_signed_prekey(&mut rng, &bob, 1000);
    let bundle = store.bundle(&bob, None).unwrap();
    let first = |rng: &mut ChaCha20Rng| {
        let mut s =
            Session::initiate(rng, &alice, &bundle, Trust::FirstUse, &Config::new(b"")).unwrap();
        s.encrypt(rng, b"").unwrap()
    };
    for i in 0..MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY {
        assert_eq!(
            store.first_message_capacity(),
            MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY - i
        );
        Session::respond(&bob, &mut store, &first(&mut rng), &Config::new(b"")).unwrap();
    }
    assert_eq!(store.first_message_capacity(), 0);

    // One over the bound: the typed error, nothing changes.
    let full = store.to_bytes().unwrap();
    let refused = first(&mut rng);
    assert_eq!(
        Session::respond(&bob, &mut store, &refused, &Config::new(b"")).unwrap_err(),
        Error::SignedPreKeyFull(spk.id)
    );
    assert_eq!(
        Session::accept(&bob, &mut store, &refused, &Config::new(b""), NOW_MS).unwrap_err(),
        Error::SignedPreKeyFull(spk.id)
    );
    assert_unchanged(
        &full,
        &store.to_bytes().unwrap(),
        "respond to a full signed prekey",
    );

    // The full record persists; a new signed prekey has the whole capacity again, the old one
    // keeps refusing.
    let mut store = reload_store(&store);
    assert_eq!(store.first_message_capacity(), 0);
    store.rotate_signed_prekey(&mut rng, &bob, 2000);
    assert_eq!(
        store.first_message_capacity(),
        MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY
    );
    assert_eq!(
        Session::respond(&bob, &mut store, &refused, &Config::new(b"")).unwrap_err(),
        Error::SignedPreKeyFull(spk.id)
    );
}

// ---------------------------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------------------------

#[test]
fn contexts_hold_their_bound_on_both_sides() {
    let mut rng = rng(5);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    let huge = vec![0xC7; HUGE];
    let over = [
        MAX_CONTEXT_LEN + 1,
        usize::from(u16::MAX),
        usize::from(u16::MAX) + 1,
        HUGE,
    ];

    let bundle = store.bundle(&bob, None).unwrap();
    for len in over {
        assert_eq!(
            Session::initiate(
                &mut rng,
                &alice,
                &bundle,
                Trust::FirstUse,
                &Config::new(&huge[..len])
            )
            .unwrap_err(),
            Error::TooLarge,
            "initiate with a {len}-byte context"
        );
    }

    for len in [0, 1, MAX_CONTEXT_LEN] {
        let context = &huge[..len];
        let mut to_bob = Session::initiate(
            &mut rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(context),
        )
        .unwrap();
        assert_eq!(to_bob.context(), context);
        let first = to_bob.send(&mut rng, NOW_MS, b"ctx").unwrap();

        let before = store.to_bytes().unwrap();
        for bad in over {
            let bad = &huge[..bad];
            assert_eq!(
                Session::respond(&bob, &mut store, &first, &Config::new(bad)).unwrap_err(),
                Error::TooLarge
            );
            assert_eq!(
                Session::respond(
                    &bob,
                    &mut store,
                    &first,
                    &Config::new(bad).with_limits(Limits::default())
                )
                .unwrap_err(),
                Error::TooLarge
            );
            assert_eq!(
                Session::accept(&bob, &mut store, &first, &Config::new(bad), NOW_MS).unwrap_err(),
                Error::TooLarge
            );
            assert_unchanged(
                &before,
                &store.to_bytes().unwrap(),
                "respond with a long context",
            );
        }

        let (to_alice, got) =
            Session::accept(&bob, &mut store, &first, &Config::new(context), 0).unwrap();
        assert_eq!(got.body, b"ctx");
        assert_eq!(to_alice.context(), context);
        let mut to_alice = reload_session(&to_alice);
        let reply = to_alice.encrypt(&mut rng, b"reply").unwrap();
        assert_eq!(to_bob.decrypt(&reply).unwrap(), b"reply");
        assert_eq!(reload_session(&to_bob).context(), context);
    }
}

#[test]
fn plaintexts_and_bodies_hold_their_bound() {
    let mut p = established(6, true);
    let Pair {
        rng, alice, bob, ..
    } = &mut p;
    let huge = vec![0x5A; HUGE];
    let max_body = max_body_len();
    assert_eq!(max_body, MAX_PLAINTEXT_LEN - FRAME_HEADER_LEN);

    // The initiator sends prekey messages, the responder normal ones: both ends of each.
    for is_prekey in [true, false] {
        let (from, to) = if is_prekey {
            (&mut *alice, &mut *bob)
        } else {
            (&mut *bob, &mut *alice)
        };
        for len in [0, 1, MAX_PLAINTEXT_LEN - 1, MAX_PLAINTEXT_LEN] {
            let wire = from.encrypt(rng, &huge[..len]).unwrap();
            assert!(wire.len() <= MAX_SEALED_MESSAGE_LEN);
            assert_eq!(
                matches!(Incoming::decode(&wire), Ok(Incoming::PreKey(_))),
                is_prekey
            );
            assert!(to.decrypt(&wire).unwrap() == huge[..len]);
        }
        let before = from.to_bytes().unwrap();
        for len in [MAX_PLAINTEXT_LEN + 1, 2 * MAX_PLAINTEXT_LEN, HUGE] {
            assert_eq!(
                from.encrypt(rng, &huge[..len]).unwrap_err(),
                Error::TooLarge,
                "encrypt of {len} bytes"
            );
        }
        for len in [max_body + 1, MAX_PLAINTEXT_LEN, HUGE] {
            for now in [0, u64::MAX] {
                assert_eq!(
                    from.send(rng, now, &huge[..len]).unwrap_err(),
                    Error::TooLarge,
                    "send of a {len}-byte body"
                );
            }
        }
        assert_unchanged(
            &before,
            &from.to_bytes().unwrap(),
            "encrypt/send beyond the bound",
        );

        for (len, sent, now) in [
            (0, 0, u64::MAX),
            (1, u64::MAX, 0),
            (max_body, NOW_MS, NOW_MS),
        ] {
            let wire = from.send(rng, sent, &huge[..len]).unwrap();
            assert!(wire.len() <= MAX_SEALED_MESSAGE_LEN);
            let got = to.receive(&wire, now).unwrap().into_message().unwrap();
            assert!(got.body == huge[..len]);
            assert_eq!(got.kind, ContentKind::Message);
            assert_eq!(got.sent_at_ms, sent);
            assert_eq!(got.deadline, Deadline::Never);
            assert!(!got.timer_changed);
        }
    }
}

#[test]
fn timers_at_u32_max_duration_and_version() {
    let mut p = established(7, true);
    let Pair {
        rng, alice, bob, ..
    } = &mut p;
    let life = u64::from(u32::MAX) * 1000;

    // The longest duration, on read, from the latest clock.
    let update = alice
        .set_timer(rng, u64::MAX, u32::MAX, TimerStart::OnRead)
        .unwrap();
    let longest_on_read = Timer {
        duration_s: u32::MAX,
        start: TimerStart::OnRead,
        version: 1,
    };
    assert_eq!(alice.timer(), longest_on_read);
    let got = bob.receive(&update, 0).unwrap().into_message().unwrap();
    assert_eq!(got.kind, ContentKind::TimerUpdate);
    assert!(got.body.is_empty() && got.timer_changed);
    assert_eq!(got.sent_at_ms, u64::MAX);
    assert_eq!(got.deadline, Deadline::AfterRead(life));
    assert_eq!(got.deadline.after_read(0), Deadline::At(life));
    assert_eq!(got.deadline.after_read(u64::MAX), Deadline::At(u64::MAX));
    assert_eq!(bob.timer(), longest_on_read);

    // The longest duration, on send: a clock at u64::MAX is clamped to ours + skew.
    let update = alice
        .set_timer(rng, u64::MAX, u32::MAX, TimerStart::OnSend)
        .unwrap();
    let got = bob.receive(&update, 0).unwrap().into_message().unwrap();
    assert_eq!(got.deadline, Deadline::At(MAX_CLOCK_SKEW_MS + life));
    let m = alice.send(rng, u64::MAX, b"late clock").unwrap();
    assert_eq!(
        bob.receive(&m, u64::MAX)
            .unwrap()
            .into_message()
            .unwrap()
            .deadline,
        Deadline::At(u64::MAX)
    );

    // A short timer, and a message from time 0 received at u64::MAX: expired, key consumed.
    let update = alice.set_timer(rng, 0, 1, TimerStart::OnSend).unwrap();
    bob.receive(&update, 0).unwrap().into_message().unwrap();
    let old = alice.send(rng, 0, b"old").unwrap();
    assert!(matches!(
        bob.receive(&old, u64::MAX),
        Ok(Receipt::Expired { .. })
    ));
    assert_eq!(bob.receive(&old, 0).unwrap_err(), Error::DuplicateMessage);

    // Duration 0 is always on-send.
    let off = alice.set_timer(rng, 0, 0, TimerStart::OnRead).unwrap();
    assert_eq!(
        alice.timer(),
        Timer {
            version: 4,
            ..Timer::OFF
        }
    );
    let got = bob.receive(&off, u64::MAX).unwrap().into_message().unwrap();
    assert!(got.timer_changed);
    assert_eq!(got.deadline, Deadline::Never);

    // A peer that claims version u32::MAX - 1: one more change, then the version is exhausted.
    let frame = Content {
        kind: ContentKind::TimerUpdate,
        sent_at_ms: 0,
        timer: Timer {
            duration_s: 60,
            start: TimerStart::OnSend,
            version: u32::MAX - 1,
        },
        body: Vec::new(),
    }
    .to_padded_bytes()
    .unwrap();
    let got = bob
        .receive(&alice.encrypt(rng, &frame).unwrap(), 0)
        .unwrap()
        .into_message()
        .unwrap();
    assert!(got.timer_changed);
    assert_eq!(bob.timer().version, u32::MAX - 1);
    let last = bob.set_timer(rng, 0, 30, TimerStart::OnSend).unwrap();
    assert_eq!(bob.timer().version, u32::MAX);
    let before = bob.to_bytes().unwrap();
    for (now, d, start) in [
        (0, 0, TimerStart::OnSend),
        (u64::MAX, 1, TimerStart::OnRead),
        (NOW_MS, u32::MAX, TimerStart::OnRead),
        (0, 30, TimerStart::OnSend),
    ] {
        assert_eq!(
            bob.set_timer(rng, now, d, start).unwrap_err(),
            Error::TimerVersionExhausted
        );
    }
    assert_unchanged(
        &before,
        &bob.to_bytes().unwrap(),
        "set_timer at the last version",
    );
    assert_eq!(bob.timer().version, u32::MAX);

    // The peer reaches the same final timer and is exhausted too; messages still flow.
    assert!(
        alice
            .receive(&last, 0)
            .unwrap()
            .into_message()
            .unwrap()
            .timer_changed
    );
    assert_eq!(alice.timer(), bob.timer());
    let before = alice.to_bytes().unwrap();
    assert_eq!(
        alice.set_timer(rng, 0, 1, TimerStart::OnSend).unwrap_err(),
        Error::TimerVersionExhausted
    );
    assert_unchanged(
        &before,
        &alice.to_bytes().unwrap(),
        "set_timer at the last version",
    );
    let m = alice.send(rng, 0, b"still").unwrap();
    assert_eq!(
        bob.receive(&m, 0).unwrap().into_message().unwrap().body,
        b"still"
    );
    reload_session(alice);
    reload_session(bob);
}

#[test]
fn receive_accept_and_purge_at_time_extremes() {
    let mut rng = rng(8);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    let otpk = store.generate_one_time_prekeys(&mut rng, 1).unwrap()[0];

    // accept at both ends of time, timer off.
    for now in [0, u64::MAX] {
        let bundle = store.bundle(&bob, None).unwrap();
        let mut to_bob = Session::initiate(
            &mut rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(CONTEXT),
        )
        .unwrap();
        let first = to_bob.send(&mut rng, now, b"t").unwrap();
        let (mut to_alice, got) =
            Session::accept(&bob, &mut store, &first, &Config::new(CONTEXT), now).unwrap();
        assert_eq!(got.sent_at_ms, now);
        assert_eq!(got.deadline, Deadline::Never);
        assert_eq!(to_alice.purge(0), 0);
        assert_eq!(to_alice.purge(u64::MAX), 0);
    }

    // A first message already expired is refused without touching the store, then accepted in
    // time.
    let bundle = store.bundle(&bob, Some(otpk.id)).unwrap();
    let mut to_bob = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let update = to_bob
        .set_timer(&mut rng, 0, 1, TimerStart::OnSend)
        .unwrap();
    let before = store.to_bytes().unwrap();
    assert_eq!(
        Session::accept(&bob, &mut store, &update, &Config::new(CONTEXT), u64::MAX).unwrap_err(),
        Error::Expired
    );
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "accept of an expired message",
    );
    let (mut to_alice, got) =
        Session::accept(&bob, &mut store, &update, &Config::new(CONTEXT), 0).unwrap();
    assert!(got.timer_changed);
    assert_eq!(got.deadline, Deadline::At(1000));
    assert_eq!(store.one_time_prekey_count(), 0);

    // Skipped keys stored at time 0 under the 1 s timer: purge keeps them up to their deadline.
    let ms: Vec<_> = (0..3)
        .map(|i| to_bob.send(&mut rng, 0, &[i]).unwrap())
        .collect();
    assert_eq!(
        to_alice
            .receive(&ms[2], 0)
            .unwrap()
            .into_message()
            .unwrap()
            .body,
        [2]
    );
    assert_eq!(to_alice.skipped_key_count(), 2);
    let deadline = 1000 + 2 * MAX_CLOCK_SKEW_MS;
    for now in [0, 1, deadline] {
        assert_eq!(to_alice.purge(now), 0, "purge({now})");
    }
    assert_eq!(to_alice.purge(deadline + 1), 2);
    assert_eq!(to_alice.skipped_key_count(), 0);
    assert_eq!(to_alice.purge(u64::MAX), 0);
    let before = to_alice.to_bytes().unwrap();
    assert_eq!(
        to_alice.receive(&ms[0], 0).unwrap_err(),
        Error::DuplicateMessage
    );
    assert_unchanged(
        &before,
        &to_alice.to_bytes().unwrap(),
        "receive of a purged message",
    );

    // With the timer off, skipped keys have no deadline: purge(u64::MAX) keeps them.
    let off = to_alice
        .set_timer(&mut rng, 0, 0, TimerStart::OnSend)
        .unwrap();
    to_bob
        .receive(&off, u64::MAX)
        .unwrap()
        .into_message()
        .unwrap();
    let ms: Vec<_> = (0..3)
        .map(|i| to_bob.send(&mut rng, u64::MAX, &[i]).unwrap())
        .collect();
    assert_eq!(
        to_alice
            .receive(&ms[2], u64::MAX)
            .unwrap()
            .into_message()
            .unwrap()
            .body,
        [2]
    );
    assert_eq!(to_alice.skipped_key_count(), 2);
    assert_eq!(to_alice.purge(u64::MAX), 0);
    assert_eq!(
        to_alice
            .receive(&ms[0], 0)
            .unwrap()
            .into_message()
            .unwrap()
            .body,
        [0]
    );
    assert_eq!(
        to_alice
            .receive(&ms[1], u64::MAX)
            .unwrap()
            .into_message()
            .unwrap()
            .body,
        [1]
    );
}

#[test]
fn limits_at_zero_one_ceiling_and_beyond() {
    let mut p = established(9, true);
    let ceiling = Limits {
        max_skip: Limits::CEILING,
        max_skipped_keys: Limits::CEILING,
        max_old_chains: Limits::CEILING,
        max_skipped_key_age: Limits::CEILING,
    };
    let ones = Limits {
        max_skip: 1,
        max_skipped_keys: 1,
        max_old_chains: 1,
        max_skipped_key_age: 1,
    };
    for ok in [ones, ceiling, Limits::default()] {
        assert_eq!(ok.validate(), Ok(()));
    }

    // A fresh first message for respond_with_limits.
    let bundle = p.bob_store.bundle(&p.bob_id, None).unwrap();
    let mut to_bob = Session::initiate(
        &mut p.rng,
        &p.alice_id,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let first = to_bob.encrypt(&mut p.rng, b"limits").unwrap();

    let session_before = p.bob.to_bytes().unwrap();
    let store_before = p.bob_store.to_bytes().unwrap();
    let mut invalid = vec![
        Limits {
            max_skipped_keys: Limits::CEILING - 1,
            ..ceiling
        },
        Limits {
            max_skip: 2,
            ..ones
        },
    ];
    for bad in [
        0,
        Limits::CEILING + 1,
        2 * Limits::CEILING,
        u32::MAX - 1,
        u32::MAX,
    ] {
        for field in 0..4 {
            let mut l = ceiling;
            *[
                &mut l.max_skip,
                &mut l.max_skipped_keys,
                &mut l.max_old_chains,
                &mut l.max_skipped_key_age,
            ][field] = bad;
            invalid.push(l);
        }
        invalid.push(Limits {
            max_skip: bad,
            max_skipped_keys: bad,
            max_old_chains: bad,
            max_skipped_key_age: bad,
        });
    }
    for l in invalid {
        assert_eq!(l.validate(), Err(Error::InvalidLimits), "{l:?}");
        assert_eq!(p.bob.set_limits(l), Err(Error::InvalidLimits), "{l:?}");
        assert_eq!(
            Session::respond(
                &p.bob_id,
                &mut p.bob_store,
                &first,
                &Config::new(CONTEXT).with_limits(l)
            )
            .unwrap_err(),
            Error::InvalidLimits
        );
    }
    assert_unchanged(
        &session_before,
        &p.bob.to_bytes().unwrap(),
        "set_limits refused",
    );
    assert_unchanged(
        &store_before,
        &p.bob_store.to_bytes().unwrap(),
        "respond_with_limits refused",
    );
    assert_eq!(p.bob.limits(), Limits::default());

    // At the ceiling, forged headers far beyond it are refused before any key is derived.
    let (mut fresh, _) = Session::respond(
        &p.bob_id,
        &mut p.bob_store,
        &first,
        &Config::new(CONTEXT).with_limits(ceiling),
    )
    .unwrap();
    assert_eq!(fresh.limits(), ceiling);
    reload_session(&fresh);
    fresh.set_limits(ones).unwrap();
    fresh.set_limits(ceiling).unwrap();
    p.bob.set_limits(ceiling).unwrap();
    assert_eq!(reload_session(&p.bob).limits(), ceiling);
    let reply = p.bob.encrypt(&mut p.rng, b"turn").unwrap();
    p.alice.decrypt(&reply).unwrap();

    // A new chain of Alice's: offsets of PN and N in a normal message (SPEC.md §5.1).
    let m = p.alice.encrypt(&mut p.rng, b"m").unwrap();
    assert_eq!(m[1], TYPE_MESSAGE);
    let forged = |m: &[u8], pn: u32, n: u32| {
        let mut f = m.to_vec();
        f[34..38].copy_from_slice(&pn.to_be_bytes());
        f[38..42].copy_from_slice(&n.to_be_bytes());
        f
    };
    let before = p.bob.to_bytes().unwrap();
    for (pn, n) in [
        (1, u32::MAX),
        (1, Limits::CEILING + 1),
        (u32::MAX, 0),
        (u32::MAX, u32::MAX),
        (Limits::CEILING + 2, 0),
    ] {
        assert_eq!(
            p.bob.decrypt(&forged(&m, pn, n)).unwrap_err(),
            Error::TooFarInFuture,
            "PN {pn}, N {n}"
        );
        assert_eq!(
            p.bob.receive(&forged(&m, pn, n), 0).unwrap_err(),
            Error::TooFarInFuture
        );
    }
    assert_unchanged(
        &before,
        &p.bob.to_bytes().unwrap(),
        "decrypt of forged counters",
    );
    assert_eq!(p.bob.decrypt(&m).unwrap(), b"m");

    // The current chain (next counter 1).
    let m = p.alice.encrypt(&mut p.rng, b"m2").unwrap();
    let before = p.bob.to_bytes().unwrap();
    for n in [u32::MAX, u32::MAX - 1, Limits::CEILING + 2] {
        assert_eq!(
            p.bob.decrypt(&forged(&m, 1, n)).unwrap_err(),
            Error::TooFarInFuture,
            "N {n}"
        );
    }
    assert_unchanged(
        &before,
        &p.bob.to_bytes().unwrap(),
        "decrypt of forged counters",
    );
    assert_eq!(p.bob.decrypt(&m).unwrap(), b"m2");
}

/// Rewrites the sending counter of a responder session blob (SPEC.md §10.3) and fixes its check.
fn with_send_counter(blob: &[u8], counter: u32) -> Vec<u8> {
    let mut b = blob.to_vec();
    assert_eq!(b[2], 2, "a responder: phase 0x02");
    let ctx_len = usize::from(u16::from_be_bytes([b[67], b[68]]));
    let mut off = 69 + ctx_len + 32 + 4;
    off += if b[off] == 1 { 5 } else { 1 };
    off += 9 + 16 + 32 + 68; // timer, limits, root key, receiving chain
    assert_eq!(b[off], 1, "sending chain present");
    // flag, DHs secret and public, CKs, then Ns.
    b[off + 97..off + 101].copy_from_slice(&counter.to_be_bytes());
    reseal(b)
}

#[test]
fn sending_counter_stops_at_u32_max() {
    let mut p = established(10, true);
    let reply = p.bob.encrypt(&mut p.rng, b"r").unwrap();
    p.alice.decrypt(&reply).unwrap();
    let mut bob =
        Session::from_bytes(&with_send_counter(&p.bob.to_bytes().unwrap(), u32::MAX - 1)).unwrap();

    let last = bob.encrypt(&mut p.rng, b"last").unwrap();
    let before = bob.to_bytes().unwrap();
    assert_eq!(
        bob.encrypt(&mut p.rng, b"").unwrap_err(),
        Error::ChainExhausted
    );
    assert_eq!(
        bob.send(&mut p.rng, 0, b"").unwrap_err(),
        Error::ChainExhausted
    );
    assert_eq!(
        bob.set_timer(&mut p.rng, u64::MAX, u32::MAX, TimerStart::OnRead)
            .unwrap_err(),
        Error::ChainExhausted
    );
    assert_unchanged(
        &before,
        &bob.to_bytes().unwrap(),
        "encrypt on an exhausted chain",
    );

    // Counter u32::MAX - 1 is far beyond the peer's skip limit; N = u32::MAX is refused outright.
    let before = p.alice.to_bytes().unwrap();
    assert_eq!(p.alice.decrypt(&last).unwrap_err(), Error::TooFarInFuture);
    assert_unchanged(
        &before,
        &p.alice.to_bytes().unwrap(),
        "decrypt far in the future",
    );

    // The peer's reply turns the ratchet: the new chain starts at N = 0 with PN = u32::MAX. (The
    // forged state skipped 2^32 - 2 messages the peer never received, so the peer refuses to
    // derive them: the documented jump check, with nothing changed.)
    let turn = p.alice.encrypt(&mut p.rng, b"turn").unwrap();
    assert_eq!(bob.decrypt(&turn).unwrap(), b"turn");
    let again = bob.encrypt(&mut p.rng, b"again").unwrap();
    assert_eq!(again[34..38], u32::MAX.to_be_bytes(), "PN");
    assert_eq!(again[38..42], 0u32.to_be_bytes(), "N");
    let before = p.alice.to_bytes().unwrap();
    assert_eq!(p.alice.decrypt(&again).unwrap_err(), Error::TooFarInFuture);
    assert_unchanged(
        &before,
        &p.alice.to_bytes().unwrap(),
        "decrypt far in the future",
    );
    reload_session(&bob);
}

// ---------------------------------------------------------------------------------------------
// Content frames
// ---------------------------------------------------------------------------------------------

/// The unpadded length above which Padmé's rounding no longer fits in a `usize`.
fn last_exact_padded_len() -> usize {
    let e = usize::BITS - 1;
    let s = u32::BITS - e.leading_zeros();
    usize::MAX - (1usize << (e - s)) + 1
}

#[test]
fn padded_len_and_max_body_len() {
    // Evaluates at compile time without a panic, at the very top of the range, and agrees with
    // the run-time value.
    const AT_MAX: usize = padded_len(usize::MAX);
    assert_eq!(AT_MAX, padded_len(std::hint::black_box(usize::MAX)));

    assert_eq!(padded_len(0), MIN_PADDED_LEN);
    assert_eq!(padded_len(1), MIN_PADDED_LEN);
    assert_eq!(padded_len(MIN_PADDED_LEN), MIN_PADDED_LEN);
    assert_eq!(padded_len(MIN_PADDED_LEN + 1), 272);
    assert_eq!(padded_len(MAX_PLAINTEXT_LEN), MAX_PLAINTEXT_LEN);
    let last_exact = last_exact_padded_len();
    let mut previous = 0;
    for len in [
        2,
        3,
        255,
        256,
        257,
        1000,
        FRAME_HEADER_LEN + max_body_len(),
        MAX_PLAINTEXT_LEN,
        MAX_PLAINTEXT_LEN + 1,
        HUGE,
        u32::MAX as usize,
        u32::MAX as usize + 1,
        usize::MAX / 2,
        usize::MAX / 2 + 1,
        usize::MAX / 2 + 2,
        last_exact - 1,
        last_exact,
    ] {
        let padded = padded_len(len);
        assert!(padded >= len, "padded_len({len}) = {padded}");
        assert!(padded >= previous, "monotone at {len}");
        if len >= MIN_PADDED_LEN {
            assert!(padded - len <= len / 8, "overhead at {len}");
        }
        previous = padded;
    }
    // No panic up to usize::MAX (what it returns there is the subject of an ignored test).
    for len in [last_exact + 1, usize::MAX - 1, usize::MAX] {
        assert!(padded_len(len) >= MIN_PADDED_LEN);
    }

    let max = max_body_len();
    assert!(padded_len(FRAME_HEADER_LEN + max) <= MAX_PLAINTEXT_LEN);
    assert!(padded_len(FRAME_HEADER_LEN + max + 1) > MAX_PLAINTEXT_LEN);
}

fn frame_header(body_len: u32) -> Vec<u8> {
    let mut h = vec![CONTENT_VERSION, 0x01];
    h.extend_from_slice(&0u64.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0]); // timer off, version 0
    h.extend_from_slice(&body_len.to_be_bytes());
    assert_eq!(h.len(), FRAME_HEADER_LEN);
    h
}

#[test]
fn content_frames_at_their_bound() {
    let huge = vec![0x33; HUGE];
    let max = max_body_len();
    let extreme = Timer {
        duration_s: u32::MAX,
        start: TimerStart::OnRead,
        version: u32::MAX,
    };
    for (len, sent_at_ms, timer) in [
        (0, 0, Timer::OFF),
        (1, u64::MAX, extreme),
        (MIN_PADDED_LEN - FRAME_HEADER_LEN, 1, extreme),
        (max, u64::MAX, Timer::OFF),
    ] {
        let c = Content {
            kind: ContentKind::Message,
            sent_at_ms,
            timer,
            body: huge[..len].to_vec(),
        };
        let bytes = c.to_padded_bytes().unwrap();
        assert_eq!(bytes.len(), padded_len(FRAME_HEADER_LEN + len));
        assert!(bytes.len() <= MAX_PLAINTEXT_LEN);
        assert_eq!(Content::from_padded_bytes(&bytes), Ok(c));
    }
    for len in [max + 1, MAX_PLAINTEXT_LEN, HUGE] {
        let c = Content {
            kind: ContentKind::Message,
            sent_at_ms: 0,
            timer: Timer::OFF,
            body: huge[..len].to_vec(),
        };
        assert_eq!(
            c.to_padded_bytes(),
            Err(DecodeError::TooLarge),
            "body {len}"
        );
    }
    // A timer update carries no body, of any size; "off" is never on-read.
    for len in [1, HUGE] {
        let c = Content {
            kind: ContentKind::TimerUpdate,
            sent_at_ms: 0,
            timer: Timer::OFF,
            body: huge[..len].to_vec(),
        };
        assert_eq!(c.to_padded_bytes(), Err(DecodeError::NonCanonical));
    }
    let off_on_read = Content {
        kind: ContentKind::Message,
        sent_at_ms: 0,
        timer: Timer {
            start: TimerStart::OnRead,
            ..Timer::OFF
        },
        body: Vec::new(),
    };
    assert_eq!(
        off_on_read.to_padded_bytes(),
        Err(DecodeError::NonCanonical)
    );

    // Decoding: empty, one byte, lengths running past the end, huge inputs.
    let zeros = vec![0; HUGE];
    for (bytes, want) in [
        (&[][..], DecodeError::Truncated),
        (&[CONTENT_VERSION][..], DecodeError::Truncated),
        (&[0][..], DecodeError::UnknownVersion(0)),
        (&[0xFF][..], DecodeError::UnknownVersion(0xFF)),
        // Longer than any message plaintext: refused before it is read.
        (&zeros[..], DecodeError::TooLarge),
    ] {
        assert_eq!(
            Content::from_padded_bytes(bytes),
            Err(want),
            "{} bytes",
            bytes.len()
        );
    }
    for declared in [1, u32::MAX - 1, u32::MAX] {
        let mut frame = frame_header(declared);
        assert_eq!(
            Content::from_padded_bytes(&frame),
            Err(DecodeError::Truncated)
        );
        // A declared body running past the end of a frame of up to 2^20 bytes is truncated;
        // a longer frame is refused before it is read.
        let body = (MAX_PLAINTEXT_LEN - FRAME_HEADER_LEN).min(declared as usize - 1);
        frame.resize(frame.len() + body, 0);
        assert_eq!(
            Content::from_padded_bytes(&frame),
            Err(DecodeError::Truncated)
        );
        frame.resize(HUGE, 0);
        assert_eq!(
            Content::from_padded_bytes(&frame),
            Err(DecodeError::TooLarge)
        );
    }
    let mut empty_then_padded = frame_header(0);
    empty_then_padded.resize(MAX_PLAINTEXT_LEN, 0);
    assert_eq!(
        Content::from_padded_bytes(&empty_then_padded),
        Err(DecodeError::NonCanonical)
    );
}

#[test]
fn deadlines_and_timer_order_at_time_extremes() {
    let life = u64::from(u32::MAX) * 1000;
    let msg = |sent_at_ms, duration_s, start| Content {
        kind: ContentKind::Message,
        sent_at_ms,
        timer: Timer {
            duration_s,
            start,
            version: u32::MAX,
        },
        body: Vec::new(),
    };
    for now in [0, 1, NOW_MS, u64::MAX - 1, u64::MAX] {
        for sent in [0, u64::MAX] {
            assert_eq!(
                msg(sent, 0, TimerStart::OnSend).deadline(now),
                Some(Deadline::Never)
            );
            assert_eq!(
                msg(sent, u32::MAX, TimerStart::OnRead).deadline(now),
                Some(Deadline::AfterRead(life))
            );
        }
    }
    let longest = |sent| msg(sent, u32::MAX, TimerStart::OnSend);
    assert_eq!(
        longest(u64::MAX).deadline(0),
        Some(Deadline::At(MAX_CLOCK_SKEW_MS + life))
    );
    assert_eq!(
        longest(u64::MAX).deadline(u64::MAX),
        Some(Deadline::At(u64::MAX))
    );
    assert_eq!(longest(0).deadline(0), Some(Deadline::At(life)));
    assert_eq!(
        longest(0).deadline(life + MAX_CLOCK_SKEW_MS),
        Some(Deadline::At(life))
    );
    assert_eq!(longest(0).deadline(life + MAX_CLOCK_SKEW_MS + 1), None);
    assert_eq!(longest(0).deadline(u64::MAX), None);
    let second = msg(0, 1, TimerStart::OnSend);
    assert_eq!(
        second.deadline(1000 + MAX_CLOCK_SKEW_MS),
        Some(Deadline::At(1000))
    );
    assert_eq!(second.deadline(1001 + MAX_CLOCK_SKEW_MS), None);

    for read_at in [0, 1, u64::MAX] {
        assert_eq!(Deadline::Never.after_read(read_at), Deadline::Never);
        assert_eq!(Deadline::At(5).after_read(read_at), Deadline::At(5));
        assert_eq!(
            Deadline::At(u64::MAX).after_read(read_at),
            Deadline::At(u64::MAX)
        );
        assert_eq!(
            Deadline::AfterRead(0).after_read(read_at),
            Deadline::At(read_at)
        );
        assert_eq!(
            Deadline::AfterRead(u64::MAX).after_read(read_at),
            Deadline::At(u64::MAX)
        );
    }
    assert_eq!(
        Deadline::AfterRead(life).after_read(u64::MAX - life + 1),
        Deadline::At(u64::MAX)
    );

    // supersedes / more_private with every field at its extremes.
    let t = |duration_s, start, version| Timer {
        duration_s,
        start,
        version,
    };
    let top_off = t(0, TimerStart::OnSend, u32::MAX);
    let top_long = t(u32::MAX, TimerStart::OnRead, u32::MAX);
    let top_short = t(1, TimerStart::OnSend, u32::MAX);
    assert!(top_long.supersedes(&top_off) && !top_off.supersedes(&top_long));
    assert!(top_short.supersedes(&top_long) && !top_long.supersedes(&top_short));
    assert!(!top_short.supersedes(&top_short));
    assert!(top_off.supersedes(&t(1, TimerStart::OnSend, u32::MAX - 1)));
    assert!(!Timer::OFF.supersedes(&Timer::OFF));
    assert!(t(u32::MAX, TimerStart::OnRead, 0).supersedes(&Timer::OFF));
    assert_eq!(Timer::more_private(&top_off, &top_long), top_long);
    assert_eq!(Timer::more_private(&top_long, &top_short), top_short);
    assert_eq!(
        Timer::more_private(
            &t(5, TimerStart::OnRead, 0),
            &t(5, TimerStart::OnSend, u32::MAX)
        ),
        t(5, TimerStart::OnSend, u32::MAX)
    );
}

// ---------------------------------------------------------------------------------------------
// Decoders
// ---------------------------------------------------------------------------------------------

/// Runs `decode` on `input` and checks the error.
fn refuses<T: std::fmt::Debug>(
    what: &str,
    decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
    cases: &[(&[u8], DecodeError)],
) {
    for (input, want) in cases {
        assert_eq!(
            decode(input).map(|_| ()).unwrap_err(),
            *want,
            "{what} of {} bytes",
            input.len()
        );
    }
}

#[test]
fn every_decoder_refuses_empty_one_byte_and_huge_inputs() {
    let zeros = vec![0u8; HUGE];
    let ones = vec![0xFFu8; HUGE];
    let mut p = established(11, true);
    let concat = |a: &[u8], b: &[u8]| [a, b].concat();

    // PreKeyBundle.
    let bundle = p.bob_store.bundle(&p.bob_id, Some(0)).unwrap().to_bytes();
    assert_eq!(bundle.len(), PreKeyBundle::MAX_LEN);
    refuses(
        "PreKeyBundle::from_bytes",
        PreKeyBundle::from_bytes,
        &[
            (&[], DecodeError::Truncated),
            (&[PROTOCOL_VERSION], DecodeError::Truncated),
            (&[0], DecodeError::UnknownVersion(0)),
            (&zeros, DecodeError::UnknownVersion(0)),
            (&ones, DecodeError::UnknownVersion(0xFF)),
            (&bundle[..bundle.len() - 1], DecodeError::Truncated),
            (&concat(&bundle, &[0]), DecodeError::TrailingBytes),
            (&concat(&bundle, &zeros), DecodeError::TrailingBytes),
        ],
    );

    // Server and sender certificates.
    let w = world(12);
    let server = w.server_cert.to_bytes();
    assert_eq!(server.len(), SERVER_CERTIFICATE_LEN);
    refuses(
        "ServerCertificate::from_bytes",
        ServerCertificate::from_bytes,
        &[
            (&[], DecodeError::Truncated),
            (&[SEALED_VERSION], DecodeError::Truncated),
            (&[0], DecodeError::UnknownVersion(0)),
            (&zeros, DecodeError::UnknownVersion(0)),
            (&ones, DecodeError::UnknownVersion(0xFF)),
            (&server[..server.len() - 1], DecodeError::Truncated),
            (&concat(&server, &[0]), DecodeError::TrailingBytes),
            (&concat(&server, &zeros), DecodeError::TrailingBytes),
        ],
    );
    let sender = w
        .certify(&[b'a'; MAX_ADDRESS_LEN], u64::MAX)
        .to_bytes()
        .unwrap();
    assert_eq!(sender.len(), MAX_SENDER_CERTIFICATE_LEN);
    refuses(
        "SenderCertificate::from_bytes",
        SenderCertificate::from_bytes,
        &[
            (&[], DecodeError::Truncated),
            (&[SEALED_VERSION], DecodeError::Truncated),
            (&[SEALED_VERSION, 0], DecodeError::NonCanonical),
            (&[SEALED_VERSION, 0xFF], DecodeError::Truncated),
            (&[0], DecodeError::UnknownVersion(0)),
            (&zeros, DecodeError::UnknownVersion(0)),
            (&ones, DecodeError::UnknownVersion(0xFF)),
            (&sender[..sender.len() - 1], DecodeError::Truncated),
            (&concat(&sender, &[0]), DecodeError::TrailingBytes),
            (&concat(&sender, &zeros), DecodeError::TrailingBytes),
        ],
    );

    // Persisted state: identity, prekey store, session.
    let identity = p.bob_id.to_bytes().to_vec();
    let store = p.bob_store.to_bytes().unwrap().to_vec();
    let session = p.bob.to_bytes().unwrap().to_vec();
    for (what, blob, kind, decode) in [
        (
            "IdentityKeyPair::from_bytes",
            &identity,
            KIND_IDENTITY,
            (|b: &[u8]| IdentityKeyPair::from_bytes(b).map(|_| ()))
                as fn(&[u8]) -> Result<(), DecodeError>,
        ),
        ("PreKeyStore::from_bytes", &store, KIND_PREKEY_STORE, |b| {
            PreKeyStore::from_bytes(b).map(|_| ())
        }),
        ("Session::from_bytes", &session, KIND_SESSION, |b| {
            Session::from_bytes(b).map(|_| ())
        }),
    ] {
        let unknown_version = reseal(concat(&[kind, 9], &[0; CHECK_LEN]));
        refuses(
            what,
            decode,
            &[
                (&[], DecodeError::Truncated),
                (&[kind], DecodeError::Truncated),
                (&[0; CHECK_LEN], DecodeError::Truncated),
                (&concat(&[kind], &[0; CHECK_LEN]), DecodeError::Truncated),
                (&unknown_version, DecodeError::UnknownVersion(9)),
                (&zeros, DecodeError::UnknownType(0)),
                (&ones, DecodeError::UnknownType(0xFF)),
                (&concat(&blob[..2], &zeros), DecodeError::ChecksumMismatch),
                (&blob[..blob.len() - 1], DecodeError::ChecksumMismatch),
                (&concat(blob, &[0]), DecodeError::ChecksumMismatch),
                (
                    &resealed_with_trailing(blob, &[0]),
                    DecodeError::TrailingBytes,
                ),
                (
                    &resealed_with_trailing(blob, &zeros),
                    DecodeError::TrailingBytes,
                ),
                (
                    &reseal(blob[..blob.len() - 1].to_vec()),
                    DecodeError::Truncated,
                ),
            ],
        );
        assert_eq!(decode(blob), Ok(()), "{what} of its own output");
    }

    // Session blobs with stored lengths and counts beyond their bounds (SPEC.md §10.3).
    let ctx_at = 67; // kind, version, phase, two identities
    for stored in [MAX_CONTEXT_LEN as u16 + 1, u16::MAX] {
        let mut b = session.clone();
        b[ctx_at..ctx_at + 2].copy_from_slice(&stored.to_be_bytes());
        assert_eq!(
            Session::from_bytes(&reseal(b)).unwrap_err(),
            DecodeError::NonCanonical,
            "stored context length {stored}"
        );
    }
    // kind, version, phase, identities, context, base key, ids, timer (SPEC.md §10.3).
    let limits_at = 69 + CONTEXT.len() + 32 + 4 + 5 + 9;
    for field in 0..4 {
        for stored in [0, Limits::CEILING + 1, u32::MAX] {
            let mut b = session.clone();
            let at = limits_at + 4 * field;
            b[at..at + 4].copy_from_slice(&stored.to_be_bytes());
            assert_eq!(
                Session::from_bytes(&reseal(b)).unwrap_err(),
                DecodeError::NonCanonical,
                "stored limit {field} = {stored}"
            );
        }
    }
    // The trailing counts of old chains and skipped keys: u32::MAX of each.
    for from_end in [8, 4] {
        let mut b = session.clone();
        let at = b.len() - CHECK_LEN - from_end;
        assert_eq!(b[at..at + 4], [0, 0, 0, 0]);
        b[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            Session::from_bytes(&reseal(b)).unwrap_err(),
            DecodeError::NonCanonical
        );
    }
    // A prekey store that claims u8::MAX signed prekeys.
    let mut b = store.clone();
    b[10] = u8::MAX;
    assert_eq!(
        PreKeyStore::from_bytes(&reseal(b)).unwrap_err(),
        DecodeError::NonCanonical
    );

    // A version 1 store converts at most 1024 seen base keys (SPEC.md §10.2): exactly at the
    // bound it loads (each key becomes a first-message id of every signed prekey), one over and
    // u32::MAX are refused.
    let mut rng = rng(19);
    let mut three = PreKeyStore::new();
    for _ in 0..MAX_SIGNED_PREKEYS {
        three.rotate_signed_prekey(&mut rng, &p.bob_id, u64::MAX);
    }
    let v2 = three.to_bytes().unwrap();
    let mut v1_head = vec![KIND_PREKEY_STORE, 1];
    v1_head.extend_from_slice(&v2[2..11]);
    for k in 0..MAX_SIGNED_PREKEYS {
        let entry = 11 + k * 110;
        v1_head.extend_from_slice(&v2[entry..entry + 108]); // no first-message ids in v1
    }
    v1_head.extend_from_slice(&0u32.to_be_bytes()); // no one-time prekeys
    let v1 = |seen: u32, keys: usize| {
        let mut b = v1_head.clone();
        b.extend_from_slice(&seen.to_be_bytes());
        for i in 0..keys {
            // Distinct canonical keys (a repeat is refused, SPEC.md §10.2).
            let mut key = [9u8; 32];
            key[1..5].copy_from_slice(&(i as u32).to_le_bytes());
            b.extend_from_slice(&key);
        }
        b.extend_from_slice(&[0; CHECK_LEN]);
        reseal(b)
    };
    let mut distinct = v1_head.clone();
    distinct.extend_from_slice(&1024u32.to_be_bytes());
    for _ in 0..1024 {
        distinct.extend_from_slice(KeyPair::generate(&mut rng).public().as_bytes());
    }
    distinct.extend_from_slice(&[0; CHECK_LEN]);
    let migrated = PreKeyStore::from_bytes(&reseal(distinct)).unwrap();
    assert_eq!(
        migrated.first_message_capacity(),
        MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY - 1024
    );
    reload_store(&migrated);
    assert_eq!(
        PreKeyStore::from_bytes(&v1(0, 0))
            .unwrap()
            .first_message_capacity(),
        MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY
    );
    for (seen, keys) in [(1025, 1025), (u32::MAX, 0)] {
        assert_eq!(
            PreKeyStore::from_bytes(&v1(seen, keys)).unwrap_err(),
            DecodeError::NonCanonical,
            "{seen} seen base keys"
        );
    }
    assert_eq!(
        PreKeyStore::from_bytes(&v1(1024, 1023)).unwrap_err(),
        DecodeError::Truncated
    );

    // Wire messages.
    let normal = p.bob.encrypt(&mut p.rng, b"n").unwrap();
    let prekey = p.alice.encrypt(&mut p.rng, b"p").unwrap();
    assert_eq!(prekey[1], TYPE_PREKEY_MESSAGE);
    assert_eq!(
        prekey.len(),
        PREKEY_FIELDS_WITH_OTPK + MESSAGE_PREFIX_LEN + 1 + 16
    );
    refuses(
        "Incoming::decode",
        |b| Incoming::decode(b).map(|_| ()),
        &[
            (&[], DecodeError::Truncated),
            (&[PROTOCOL_VERSION], DecodeError::Truncated),
            (&[0], DecodeError::UnknownVersion(0)),
            (&[PROTOCOL_VERSION, 0], DecodeError::UnknownType(0)),
            (&[PROTOCOL_VERSION, TYPE_MESSAGE], DecodeError::Truncated),
            (
                &[PROTOCOL_VERSION, TYPE_PREKEY_MESSAGE],
                DecodeError::Truncated,
            ),
            (&zeros, DecodeError::UnknownVersion(0)),
            (&ones, DecodeError::UnknownVersion(0xFF)),
            (&normal[..MESSAGE_PREFIX_LEN + 15], DecodeError::Truncated),
            (&concat(&normal, &zeros), DecodeError::TooLarge),
            (&concat(&prekey, &zeros), DecodeError::TooLarge),
        ],
    );
    // The ciphertext bound is exact, for both message types.
    for (message, prefix_len) in [
        (&normal, MESSAGE_PREFIX_LEN),
        (&prekey, PREKEY_FIELDS_WITH_OTPK + MESSAGE_PREFIX_LEN),
    ] {
        for (ct_len, ok) in [
            (16, true),
            (MAX_PLAINTEXT_LEN + 16, true),
            (MAX_PLAINTEXT_LEN + 17, false),
        ] {
            let bytes = concat(&message[..prefix_len], &zeros[..ct_len]);
            match Incoming::decode(&bytes) {
                Ok(incoming) => {
                    assert!(ok, "{ct_len}-byte ciphertext accepted");
                    assert_eq!(incoming.message().ciphertext.len(), ct_len);
                    assert!(incoming.to_bytes() == bytes);
                }
                Err(e) => {
                    assert!(!ok, "{ct_len}-byte ciphertext refused: {e}");
                    assert_eq!(e, DecodeError::TooLarge);
                }
            }
        }
    }

    // Every session call that parses a message: typed error, session and store unchanged.
    let bad_inputs: [&[u8]; 6] = [
        &[],
        &[PROTOCOL_VERSION],
        &zeros,
        &ones,
        &concat(&normal, &zeros),
        &concat(&prekey, &zeros),
    ];
    for session in [&mut p.alice, &mut p.bob] {
        let before = session.to_bytes().unwrap();
        for input in bad_inputs {
            assert!(matches!(session.decrypt(input), Err(Error::Decode(_))));
            for now in [0, u64::MAX] {
                assert!(matches!(session.receive(input, now), Err(Error::Decode(_))));
            }
        }
        assert_unchanged(
            &before,
            &session.to_bytes().unwrap(),
            "decrypt of malformed input",
        );
    }
    let before = p.bob_store.to_bytes().unwrap();
    for input in bad_inputs {
        let e = Session::respond(&p.bob_id, &mut p.bob_store, input, &Config::new(CONTEXT))
            .unwrap_err();
        assert!(matches!(e, Error::Decode(_)), "{e:?}");
        for now in [0, u64::MAX] {
            let e = Session::accept(
                &p.bob_id,
                &mut p.bob_store,
                input,
                &Config::new(CONTEXT),
                now,
            )
            .unwrap_err();
            assert!(matches!(e, Error::Decode(_)), "{e:?}");
        }
    }
    assert_eq!(
        Session::respond(&p.bob_id, &mut p.bob_store, &normal, &Config::new(CONTEXT)).unwrap_err(),
        Error::NotPreKeyMessage
    );
    assert_unchanged(
        &before,
        &p.bob_store.to_bytes().unwrap(),
        "respond to malformed input",
    );
}

// ---------------------------------------------------------------------------------------------
// Sealed sender
// ---------------------------------------------------------------------------------------------

struct World {
    rng: ChaCha20Rng,
    root: CertificateKeyPair,
    server: CertificateKeyPair,
    server_cert: ServerCertificate,
    alice: IdentityKeyPair,
    bob: IdentityKeyPair,
}

fn world(seed: u8) -> World {
    let mut rng = rng(seed);
    let root = CertificateKeyPair::generate(&mut rng);
    let server = CertificateKeyPair::generate(&mut rng);
    let server_cert = root.certify_server(u32::MAX, &server.public());
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    World {
        rng,
        root,
        server,
        server_cert,
        alice,
        bob,
    }
}

impl World {
    fn certify(&self, address: &[u8], expires_ms: u64) -> SenderCertificate {
        self.server
            .certify_sender(
                &self.server_cert,
                address,
                u32::MAX,
                self.alice.public(),
                expires_ms,
            )
            .unwrap()
    }
}

#[test]
fn certificates_at_address_id_and_expiry_extremes() {
    let w = world(13);
    let roots = [w.root.public()];
    let huge = vec![b'a'; HUGE];

    for id in [0, 1, u32::MAX] {
        let cert = w.root.certify_server(id, &w.server.public());
        assert_eq!(cert.id, id);
        let bytes = cert.to_bytes();
        assert_eq!(bytes.len(), SERVER_CERTIFICATE_LEN);
        assert_eq!(ServerCertificate::from_bytes(&bytes), Ok(cert));
    }

    for len in [1, 2, MAX_ADDRESS_LEN - 1, MAX_ADDRESS_LEN] {
        for device_id in [0, u32::MAX] {
            for expires_ms in [0, 1, u64::MAX] {
                let cert = w
                    .server
                    .certify_sender(
                        &w.server_cert,
                        &huge[..len],
                        device_id,
                        w.alice.public(),
                        expires_ms,
                    )
                    .unwrap();
                let bytes = cert.to_bytes().unwrap();
                assert_eq!(
                    bytes.len(),
                    MAX_SENDER_CERTIFICATE_LEN - (MAX_ADDRESS_LEN - len)
                );
                assert_eq!(SenderCertificate::from_bytes(&bytes).as_ref(), Ok(&cert));
                // Valid strictly before expiry; at u64::MAX everything has expired.
                for now in [0, 1, expires_ms.saturating_sub(1), expires_ms, u64::MAX] {
                    let want = if now < expires_ms {
                        Ok(())
                    } else {
                        Err(SealedSenderError::CertificateExpired)
                    };
                    assert_eq!(cert.validate(&roots, &[], now), want, "now {now}");
                }
            }
        }
    }

    // Addresses outside 1..=MAX_ADDRESS_LEN.
    let expected = [
        (0, DecodeError::NonCanonical),
        (MAX_ADDRESS_LEN + 1, DecodeError::TooLarge),
        (usize::from(u16::MAX) + 1, DecodeError::TooLarge),
        (HUGE, DecodeError::TooLarge),
    ];
    for (len, want) in expected {
        assert_eq!(
            w.server
                .certify_sender(&w.server_cert, &huge[..len], 1, w.alice.public(), 1)
                .unwrap_err(),
            want,
            "address of {len} bytes"
        );
    }

    // Trust-root and revocation lists: empty, and long.
    let cert = w.certify(b"alice", u64::MAX);
    assert_eq!(
        cert.validate(&[], &[], 0),
        Err(SealedSenderError::InvalidCertificate)
    );
    let mut rng = rng(14);
    let mut many_roots: Vec<CertificateKey> = (0..1000)
        .map(|_| CertificateKeyPair::generate(&mut rng).public())
        .collect();
    assert_eq!(
        cert.validate(&many_roots, &[], 0),
        Err(SealedSenderError::InvalidCertificate)
    );
    many_roots.push(w.root.public());
    assert_eq!(cert.validate(&many_roots, &[], 0), Ok(()));
    let mut revoked: Vec<u32> = (0..1 << 20).collect();
    assert_eq!(cert.validate(&roots, &revoked, 0), Ok(()));
    revoked.push(u32::MAX);
    assert_eq!(
        cert.validate(&roots, &revoked, 0),
        Err(SealedSenderError::RevokedServer)
    );
    assert_eq!(
        cert.validate(&roots, &[u32::MAX], u64::MAX),
        Err(SealedSenderError::RevokedServer)
    );
}

#[test]
fn seal_and_open_hold_their_bounds() {
    let mut w = world(15);
    let roots = [w.root.public()];
    let huge = vec![0x42; HUGE];
    let largest_cert = w.certify(&[b'a'; MAX_ADDRESS_LEN], u64::MAX);
    let smallest_cert = w.certify(b"a", u64::MAX);
    let bob_view = SealedRecipient {
        identity: &w.bob,
        trust_roots: &roots,
        revoked_servers: &[],
    };

    for cert in [&smallest_cert, &largest_cert] {
        for len in [0, 1, MAX_SEALED_MESSAGE_LEN - 1, MAX_SEALED_MESSAGE_LEN] {
            let envelope =
                seal_to(&mut w.rng, &w.alice, cert, w.bob.public(), &huge[..len]).unwrap();
            assert!(envelope.len() <= MAX_ENVELOPE_LEN);
            if len == MAX_SEALED_MESSAGE_LEN && cert == &largest_cert {
                assert_eq!(envelope.len(), MAX_ENVELOPE_LEN);
            }
            for now in [0, 1, u64::MAX - 1] {
                let opened = bob_view.open(&envelope, now).unwrap();
                assert_eq!(opened.sender(), cert);
                assert!(!opened.is_prekey_message());
            }
            assert_eq!(
                bob_view.open(&envelope, u64::MAX).unwrap_err(),
                SealedSenderError::CertificateExpired
            );
        }
        for len in [MAX_SEALED_MESSAGE_LEN + 1, 2 * MAX_SEALED_MESSAGE_LEN, HUGE] {
            assert_eq!(
                seal_to(&mut w.rng, &w.alice, cert, w.bob.public(), &huge[..len]).unwrap_err(),
                SealedSenderError::TooLarge,
                "seal of {len} bytes"
            );
        }
    }

    // Envelopes: empty, short, over the bound, huge.
    let envelope = seal_to(&mut w.rng, &w.alice, &smallest_cert, w.bob.public(), b"").unwrap();
    let header = &envelope[..ENVELOPE_HEADER_LEN];
    let mut low_order = vec![SEALED_VERSION];
    low_order.extend_from_slice(&[0; 32 + 48 + 16]);
    let cases: [(Vec<u8>, SealedSenderError); 10] = [
        (vec![], DecodeError::Truncated.into()),
        (vec![SEALED_VERSION], DecodeError::Truncated.into()),
        (vec![0], DecodeError::UnknownVersion(0).into()),
        ([header, &[0; 15]].concat(), DecodeError::Truncated.into()),
        (low_order, SealedSenderError::NonContributory),
        (
            [&envelope[..], &[0]].concat(),
            SealedSenderError::DecryptionFailed,
        ),
        (
            [header, &huge[..MAX_ENVELOPE_LEN - ENVELOPE_HEADER_LEN]].concat(),
            SealedSenderError::DecryptionFailed,
        ),
        (
            [header, &huge[..MAX_ENVELOPE_LEN + 1 - ENVELOPE_HEADER_LEN]].concat(),
            DecodeError::TooLarge.into(),
        ),
        (huge.clone(), DecodeError::TooLarge.into()),
        (vec![0; HUGE], DecodeError::TooLarge.into()),
    ];
    for (input, want) in cases {
        for now in [0, u64::MAX] {
            assert_eq!(
                bob_view.open(&input, now).unwrap_err(),
                want,
                "open of {} bytes",
                input.len()
            );
        }
    }

    // A real conversation at the extremes: a maximal body in a sealed first message.
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut w.rng, &w.bob, u64::MAX);
    store.generate_one_time_prekeys(&mut w.rng, 1).unwrap();
    let bundle = store.bundle(&w.bob, Some(0)).unwrap();
    let mut to_bob = Session::initiate(
        &mut w.rng,
        &w.alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let max_body = &huge[..max_body_len()];
    let inner = to_bob.send(&mut w.rng, u64::MAX, max_body).unwrap();
    assert!(inner.len() <= MAX_SEALED_MESSAGE_LEN);
    let envelope = seal_to(&mut w.rng, &w.alice, &largest_cert, w.bob.public(), &inner).unwrap();
    assert!(envelope.len() <= MAX_ENVELOPE_LEN);
    let opened = bob_view.open(&envelope, u64::MAX - 1).unwrap();
    assert!(opened.is_prekey_message());
    let before = store.to_bytes().unwrap();
    for len in [MAX_CONTEXT_LEN + 1, HUGE] {
        assert_eq!(
            opened
                .respond(&w.bob, &mut store, &Config::new(&huge[..len]))
                .unwrap_err(),
            SealedSenderError::Session(Error::TooLarge)
        );
    }
    assert_unchanged(
        &before,
        &store.to_bytes().unwrap(),
        "Opened::respond refused",
    );
    let (mut to_alice, delivered) = opened
        .respond(&w.bob, &mut store, &Config::new(CONTEXT))
        .unwrap();
    assert!(delivered.receipt.message().unwrap().body == max_body);
    assert_eq!(delivered.receipt.message().unwrap().sent_at_ms, u64::MAX);
    assert_eq!(delivered.sender, largest_cert);

    // The reply direction at time 0.
    let bob_cert = w
        .server
        .certify_sender(&w.server_cert, b"b", 0, w.bob.public(), 1)
        .unwrap();
    let reply = to_alice.send(&mut w.rng, 0, b"").unwrap();
    let envelope = seal_to(&mut w.rng, &w.bob, &bob_cert, w.alice.public(), &reply).unwrap();
    let alice_view = SealedRecipient {
        identity: &w.alice,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    assert_eq!(
        alice_view.open(&envelope, 1).unwrap_err(),
        SealedSenderError::CertificateExpired
    );
    let opened = alice_view.open(&envelope, 0).unwrap();
    let delivered = opened.decrypt(&mut to_bob).unwrap();
    assert!(delivered.receipt.message().unwrap().body.is_empty());
    assert_eq!(delivered.sender.device_id, 0);
}

// ---------------------------------------------------------------------------------------------
// Keys and key derivation
// ---------------------------------------------------------------------------------------------

#[test]
fn keys_take_extreme_bytes_and_messages() {
    let huge = vec![0xA5; HUGE];
    let mut rng = rng(16);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut sigs = Vec::new();
    for len in [0, 1, HUGE] {
        let sig = id.sign(&huge[..len]);
        assert_eq!(id.public().verify(&huge[..len], &sig), Ok(()));
        sigs.push(sig);
    }
    assert_eq!(
        id.public().verify(&huge, &sigs[0]),
        Err(Error::InvalidSignature)
    );
    assert_eq!(
        id.public().verify(&[], &sigs[2]),
        Err(Error::InvalidSignature)
    );
    for sig in [[0; 64], [0xFF; 64]] {
        for len in [0, HUGE] {
            assert_eq!(
                id.public().verify(&huge[..len], &sig),
                Err(Error::InvalidSignature)
            );
        }
    }

    for seed in [[0; 32], [0xFF; 32]] {
        let pair = IdentityKeyPair::from_seed(&seed);
        assert_eq!(*pair.seed(), seed);
        let again = IdentityKeyPair::from_bytes(&pair.to_bytes()).unwrap();
        assert!(again.ct_eq(&pair));
        assert_eq!(
            IdentityKey::from_bytes(pair.public().to_bytes()),
            Ok(*pair.public())
        );
        let cert = CertificateKeyPair::from_seed(&seed);
        assert_eq!(*cert.seed(), seed);
        assert_eq!(
            CertificateKey::from_bytes(cert.public().to_bytes()),
            Ok(cert.public())
        );
        let kp = KeyPair::from_secret_bytes(seed);
        let other = KeyPair::generate(&mut rng);
        assert_eq!(
            *kp.diffie_hellman(other.public()).unwrap(),
            *other.diffie_hellman(kp.public()).unwrap()
        );
        let zero = PublicKey::from_bytes([0; 32]).unwrap();
        assert_eq!(
            kp.diffie_hellman(&zero).unwrap_err(),
            Error::NonContributory
        );
    }

    // Key encodings at the ends of the byte range.
    let mut p_minus_1 = [0xFF; 32];
    p_minus_1[0] = 0xEC;
    p_minus_1[31] = 0x7F;
    let mut p = p_minus_1;
    p[0] = 0xED;
    assert!(PublicKey::from_bytes([0; 32]).is_ok());
    assert!(PublicKey::from_bytes(p_minus_1).is_ok());
    assert_eq!(PublicKey::from_bytes(p), Err(DecodeError::InvalidKey));
    assert_eq!(
        PublicKey::from_bytes([0xFF; 32]),
        Err(DecodeError::InvalidKey)
    );
    for bytes in [[0; 32], [0xFF; 32], p, p_minus_1] {
        assert_eq!(IdentityKey::from_bytes(bytes), Err(DecodeError::InvalidKey));
        assert_eq!(
            CertificateKey::from_bytes(bytes),
            Err(DecodeError::InvalidKey)
        );
    }

    // Signed prekeys with ids and times at their extremes.
    let key = *KeyPair::generate(&mut rng).public();
    let mut signed = Vec::new();
    for (pid, created_at) in [(0, 0), (u32::MAX, u64::MAX), (0, u64::MAX), (u32::MAX, 0)] {
        let bytes = SignedPreKey::signed_bytes(pid, created_at, &key);
        assert_eq!(bytes.len(), LABEL_SIGNED_PREKEY.len() + 4 + 8 + 32);
        assert!(!signed.contains(&bytes));
        signed.push(bytes);
        let spk = SignedPreKeyPair::generate(&mut rng, &id, pid, created_at);
        assert_eq!(
            (spk.public().id, spk.public().created_at),
            (pid, created_at)
        );
        assert_eq!(spk.public().verify(id.public()), Ok(()));
    }
}

#[test]
fn kdf_takes_empty_and_huge_inputs() {
    let huge = vec![0x3C; HUGE];
    fn reference<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; N] {
        let mut okm = [0; N];
        hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand(info, &mut okm)
            .unwrap();
        okm
    }
    for (salt, ikm, info) in [
        (&[][..], &[][..], &[][..]),
        (&huge[..1], &huge[..1], &huge[..1]),
        (&huge[..], &[][..], &[][..]),
        (&[][..], &huge[..], &[][..]),
        (&[][..], &[][..], &huge[..]),
        (&huge[..], &huge[..], &huge[..]),
    ] {
        assert_eq!(
            *kdf::hkdf_sha256::<0>(salt, ikm, info),
            reference::<0>(salt, ikm, info)
        );
        assert_eq!(
            *kdf::hkdf_sha256::<1>(salt, ikm, info),
            reference::<1>(salt, ikm, info)
        );
        assert_eq!(
            *kdf::hkdf_sha256::<32>(salt, ikm, info),
            reference::<32>(salt, ikm, info)
        );
        // The longest output HKDF-SHA-256 defines: 255 blocks (each block hashes `info` again,
        // so not with a 16 MiB one).
        if info.len() <= 1 {
            assert!(
                kdf::hkdf_sha256::<{ 255 * 32 }>(salt, ikm, info)[..]
                    == reference::<{ 255 * 32 }>(salt, ikm, info)[..]
            );
        }
    }

    let z = [0; 32];
    let f = [0xFF; 32];
    let a = kdf::x3dh(&z, &z, &z, None);
    let b = kdf::x3dh(&f, &f, &f, Some(&f));
    let c = kdf::x3dh(&z, &z, &z, Some(&z));
    assert_ne!(a.as_bytes(), b.as_bytes());
    assert_ne!(a.as_bytes(), c.as_bytes());
    let ids = [kdf::first_message_id(&z), kdf::first_message_id(&f)];
    assert_ne!(ids[0], ids[1]);
    assert_eq!(ids[0].len(), FIRST_MESSAGE_ID_LEN);
    for bytes in [z, f] {
        let root = RootKey::from(SharedSecret::from_bytes(bytes));
        assert_eq!(root.as_bytes(), &bytes);
        for dh in [z, f] {
            let (next_root, chain) = root.ratchet(&Zeroizing::new(dh));
            assert_ne!(next_root.as_bytes(), chain.as_bytes());
        }
        let (next, mk) = ChainKey::from_bytes(bytes).step();
        assert_ne!(next.as_bytes(), mk.as_bytes());
        let mk = MessageKey::from_bytes(bytes);
        let lo = mk.expand(&[0; SEED_LEN]);
        let hi = mk.expand(&[0xFF; SEED_LEN]);
        assert_ne!((lo.key, lo.nonce), (hi.key, hi.nonce));
    }
}

// ---------------------------------------------------------------------------------------------
// Problems this test found (fixed): each asserts what the bound requires.
// ---------------------------------------------------------------------------------------------

#[test]
fn padded_len_is_never_shorter_than_its_input_even_near_usize_max() {
    for len in [last_exact_padded_len() + 1, usize::MAX - 1, usize::MAX] {
        assert!(
            padded_len(len) >= len,
            "padded_len({len}) = {}",
            padded_len(len)
        );
    }
}

#[test]
fn from_padded_bytes_refuses_frames_larger_than_a_message() {
    for body_len in [max_body_len() + 1, HUGE - 1024] {
        let mut frame = frame_header(u32::try_from(body_len).unwrap());
        frame.resize(padded_len(FRAME_HEADER_LEN + body_len), 0);
        assert_eq!(
            Content::from_padded_bytes(&frame).map(|c| c.body.len()),
            Err(DecodeError::TooLarge),
            "{body_len}-byte body"
        );
    }
}

#[test]
fn seal_refuses_a_certificate_no_decoder_accepts() {
    let mut w = world(17);
    for (len, want) in [
        (0, DecodeError::NonCanonical),
        (MAX_ADDRESS_LEN + 1, DecodeError::TooLarge),
        (1000, DecodeError::TooLarge),
    ] {
        let mut cert = w.certify(b"alice", u64::MAX);
        cert.address = vec![b'a'; len];
        assert_eq!(
            seal_to(&mut w.rng, &w.alice, &cert, w.bob.public(), b"m").unwrap_err(),
            SealedSenderError::Decode(want),
            "address of {len} bytes"
        );
    }
}

#[test]
fn seal_reports_an_oversized_message_as_such() {
    let mut w = world(18);
    let cert = w.certify(b"alice", u64::MAX);
    let e = seal_to(
        &mut w.rng,
        &w.alice,
        &cert,
        w.bob.public(),
        &vec![0; MAX_SEALED_MESSAGE_LEN + 1],
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(
        !text.contains("malformed") && !matches!(e, SealedSenderError::Decode(_)),
        "{e:?}: {text}"
    );
}
