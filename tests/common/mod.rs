//! Shared setup for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::{IdentityKeyPair, PreKeyStore, Session};

pub const CONTEXT: &[u8] = b"alice@example|bob@example";

pub struct Pair {
    pub rng: ChaCha20Rng,
    pub alice_id: IdentityKeyPair,
    pub bob_id: IdentityKeyPair,
    pub bob_store: PreKeyStore,
    pub alice: Session,
    pub bob: Session,
}

pub fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// Bob publishes a bundle (with a one-time prekey when `one_time`), Alice initiates and sends
/// "hello", Bob responds.
pub fn established(seed: u8, one_time: bool) -> Pair {
    let mut rng = rng(seed);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let mut bob_store = PreKeyStore::new();
    bob_store.rotate_signed_prekey(&mut rng, &bob_id, 1_700_000_000);
    let otpks = bob_store.generate_one_time_prekeys(&mut rng, 3);
    let bundle = bob_store
        .bundle(&bob_id, one_time.then_some(otpks[1].id))
        .unwrap();
    let mut alice = Session::initiate(&mut rng, &alice_id, &bundle, CONTEXT).unwrap();
    let first = alice.encrypt(&mut rng, b"hello").unwrap();
    let (bob, text) = Session::respond(&bob_id, &mut bob_store, &first, CONTEXT).unwrap();
    assert_eq!(text, b"hello");
    Pair {
        rng,
        alice_id,
        bob_id,
        bob_store,
        alice,
        bob,
    }
}
