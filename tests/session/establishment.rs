//! Starting a session (X3DH): replayed and forged prekey messages, mismatched context or identity,
//! foreign prekey messages, the trust decision, and the configuration's limits.

use crate::common::{established, rng};
use xchat_protocol::{Config, Trust};
use xchat_protocol::{Error, IdentityKeyPair, Limits, PreKeyStore, Session};

#[test]
fn replayed_first_message_cannot_start_a_second_session() {
    for one_time in [true, false] {
        let mut rng = rng(6);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(&mut rng, &bob, 1000);
        store.generate_one_time_prekeys(&mut rng, 1).unwrap();
        let bundle = store.bundle(&bob, one_time.then_some(0)).unwrap();
        let mut s = Session::initiate(
            &mut rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(b"").allow_classical(),
        )
        .unwrap();
        let first = s.encrypt(&mut rng, b"x").unwrap();
        Session::respond(
            &bob,
            &mut store,
            &first,
            &Config::new(b"").allow_classical(),
        )
        .unwrap();
        let again = Session::respond(
            &bob,
            &mut store,
            &first,
            &Config::new(b"").allow_classical(),
        )
        .unwrap_err();
        let expected = if one_time {
            Error::UnknownOneTimePreKey(0)
        } else {
            Error::DuplicateMessage
        };
        assert_eq!(again, expected);
    }
}

#[test]
fn forged_prekey_message_does_not_burn_the_one_time_prekey() {
    let mut rng = rng(7);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let bundle = store.bundle(&bob, Some(0)).unwrap();
    let mut s = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b"").allow_classical(),
    )
    .unwrap();
    let mut first = s.encrypt(&mut rng, b"x").unwrap();
    let last = first.len() - 1;
    first[last] ^= 1;
    let saved = store.to_bytes();
    assert_eq!(
        Session::respond(
            &bob,
            &mut store,
            &first,
            &Config::new(b"").allow_classical()
        )
        .unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(store.one_time_prekey_count(), 1);
    assert_eq!(store.to_bytes(), saved);
    first[last] ^= 1;
    Session::respond(
        &bob,
        &mut store,
        &first,
        &Config::new(b"").allow_classical(),
    )
    .unwrap();
    assert_eq!(store.one_time_prekey_count(), 0);
}

#[test]
fn mismatched_context_or_identity_fails_authentication() {
    let mut rng = rng(8);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    let bundle = store.bundle(&bob, None).unwrap();
    let mut s = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(b"alice|bob").allow_classical(),
    )
    .unwrap();
    let first = s.encrypt(&mut rng, b"x").unwrap();
    assert_eq!(
        Session::respond(
            &bob,
            &mut store,
            &first,
            &Config::new(b"alice|eve").allow_classical()
        )
        .unwrap_err(),
        Error::DecryptionFailed
    );
    // Swapping the initiator identity in the prekey message changes DH1 and the AD.
    let mallory = IdentityKeyPair::generate(&mut rng);
    let mut swapped = first.clone();
    swapped[2..34].copy_from_slice(&mallory.public().to_bytes());
    assert_eq!(
        Session::respond(
            &bob,
            &mut store,
            &swapped,
            &Config::new(b"alice|bob").allow_classical()
        )
        .unwrap_err(),
        Error::DecryptionFailed
    );
    Session::respond(
        &bob,
        &mut store,
        &first,
        &Config::new(b"alice|bob").allow_classical(),
    )
    .unwrap();
}

#[test]
fn prekey_message_of_another_session_is_a_mismatch() {
    let mut p = established(9, true);
    let other = established(10, true);
    let mut alice2 = other.alice;
    let mut rng2 = other.rng;
    let foreign = alice2.encrypt(&mut rng2, b"x").unwrap();
    let before = p.bob.to_bytes();
    assert_eq!(p.bob.decrypt(&foreign), Err(Error::SessionMismatch));
    assert_eq!(p.bob.to_bytes(), before);
    // The initiator never accepts prekey messages.
    let own = p.alice.encrypt(&mut p.rng, b"y").unwrap();
    assert_eq!(p.alice.decrypt(&own), Err(Error::SessionMismatch));
}

/// The trust decision comes first (issue 12): a bundle whose identity is not the pinned one is
/// refused before any key is drawn; the pinned one and first use both start the session.
#[test]
fn a_pinned_identity_refuses_a_substituted_bundle_before_drawing_keys() {
    use rand_chacha::rand_core::Rng;
    let mut r = rng(60);
    let alice = IdentityKeyPair::generate(&mut r);
    let bob = IdentityKeyPair::generate(&mut r);
    let mallory = IdentityKeyPair::generate(&mut r);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut r, &mallory, 1000);
    let substituted = store.bundle(&mallory, None).unwrap();
    let mut probe = r.clone();
    assert_eq!(
        Session::initiate(
            &mut r,
            &alice,
            &substituted,
            Trust::Pinned(bob.public()),
            &Config::default().allow_classical()
        )
        .unwrap_err(),
        Error::UntrustedIdentity
    );
    assert_eq!(r.next_u64(), probe.next_u64(), "no randomness was drawn");
    let pinned = Session::initiate(
        &mut r,
        &alice,
        &substituted,
        Trust::Pinned(mallory.public()),
        &Config::default().allow_classical(),
    )
    .unwrap();
    assert_eq!(pinned.remote_identity(), mallory.public());
    let first_use = Session::initiate(
        &mut r,
        &alice,
        &substituted,
        Trust::FirstUse,
        &Config::default().allow_classical(),
    )
    .unwrap();
    assert_eq!(first_use.remote_identity(), mallory.public());
}

/// The configuration's limits apply to the initiator too, from the start (no `_with_limits`
/// twin), and invalid ones are refused.
#[test]
fn initiate_takes_its_limits_from_the_config() {
    let mut r = rng(61);
    let alice = IdentityKeyPair::generate(&mut r);
    let bob = IdentityKeyPair::generate(&mut r);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut r, &bob, 1000);
    let bundle = store.bundle(&bob, None).unwrap();
    let limits = Limits {
        max_skip: 3,
        max_skipped_keys: 3,
        max_old_chains: 1,
        max_skipped_key_age: 9,
    };
    let config = Config::new(b"ctx").allow_classical().with_limits(limits);
    let s = Session::initiate(&mut r, &alice, &bundle, Trust::FirstUse, &config).unwrap();
    assert_eq!(s.limits(), limits);
    let bad = config.with_limits(Limits {
        max_skip: 0,
        ..limits
    });
    assert_eq!(
        Session::initiate(&mut r, &alice, &bundle, Trust::FirstUse, &bad).unwrap_err(),
        Error::InvalidLimits
    );
}
