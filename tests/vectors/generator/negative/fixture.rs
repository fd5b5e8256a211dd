//! The sessions, stores and messages that the negative vectors break, made once from the file's
//! seed (the order of the draws is part of the file).

use xchat_protocol::{Config, IdentityKeyPair, PreKeyBundle, PreKeyStore, Session, Trust};

use super::super::rng::Recorder;
use super::super::shared::{CREATED_AT, blob};

pub(super) struct Fixture {
    pub context: &'static [u8],
    pub alice: IdentityKeyPair,
    pub bob: IdentityKeyPair,
    pub mallory: IdentityKeyPair,
    /// Bob's store with signed prekey 0 and one-time prekeys 0 and 1.
    pub store_initial: Vec<u8>,
    /// Bob's bundle with one-time prekey 1, and its bytes.
    pub bundle: PreKeyBundle,
    pub bundle_bytes: Vec<u8>,
    /// Bob's bundle without a one-time prekey.
    pub bundle_no_opk: PreKeyBundle,
    /// Alice's first two (prekey) messages.
    pub m1: Vec<u8>,
    pub m2: Vec<u8>,
    pub alice_unacknowledged: Vec<u8>,
    /// Bob's store after `m1` consumed one-time prekey 1.
    pub store_after: Vec<u8>,
    /// Bob right after `respond`: the sending half-step deferred.
    pub bob_deferred: Vec<u8>,
    /// Bob's first two replies.
    pub r1: Vec<u8>,
    pub r2: Vec<u8>,
    pub bob_sending: Vec<u8>,
    pub alice_acknowledged: Vec<u8>,
    /// Bob after Alice's new ratchet key: one old chain, two skipped keys.
    pub bob_with_old_chain: Vec<u8>,
    pub spk_public: [u8; 32],
    /// A first message without a one-time prekey, and the store that has accepted it.
    pub no_opk_first: Vec<u8>,
    pub store_seen: Vec<u8>,
}

impl Fixture {
    pub fn new(rng: &mut Recorder) -> Self {
        let context: &[u8] = b"negative";
        let alice = IdentityKeyPair::generate(rng);
        let bob = IdentityKeyPair::generate(rng);
        let mallory = IdentityKeyPair::generate(rng);
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(rng, &bob, CREATED_AT * 1000);
        store.generate_one_time_prekeys(rng, 2).unwrap();
        let store_initial = blob(store.to_bytes().unwrap());
        let bundle = store.bundle(&bob, Some(1)).expect("bundle");
        let bundle_bytes = bundle.to_bytes();
        let mut a = Session::initiate(
            rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(context).allow_classical(),
        )
        .expect("initiate");
        let m1 = a.encrypt(rng, b"first").expect("m1");
        let m2 = a.encrypt(rng, b"second").expect("m2");
        let alice_unacknowledged = blob(a.to_bytes().unwrap());
        let (mut b, _) = Session::respond(
            &bob,
            &mut store,
            &m1,
            &Config::new(context).allow_classical(),
        )
        .expect("respond");
        let store_after = blob(store.to_bytes().unwrap());
        let bob_deferred = blob(b.to_bytes().unwrap());
        let r1 = b.encrypt(rng, b"reply 1").expect("r1");
        let r2 = b.encrypt(rng, b"reply 2").expect("r2");
        let bob_sending = blob(b.to_bytes().unwrap());
        a.decrypt(&r1).expect("r1");
        let alice_acknowledged = blob(a.to_bytes().unwrap());
        let a3 = a.encrypt(rng, b"third").expect("a3");
        let a4 = a.encrypt(rng, b"fourth").expect("a4");
        b.decrypt(&a4).expect("a4");
        let bob_with_old_chain = blob(b.to_bytes().unwrap());
        let _ = a3;
        let spk_public = bundle.signed_prekey.key.to_bytes();

        // A session without a one-time prekey, for replay through the seen list.
        let bundle_no_opk = store.bundle(&bob, None).expect("bundle");
        let mut c = Session::initiate(
            rng,
            &alice,
            &bundle_no_opk,
            Trust::FirstUse,
            &Config::new(context).allow_classical(),
        )
        .expect("initiate");
        let no_opk_first = c.encrypt(rng, b"no one-time prekey").expect("encrypt");
        let mut store_seen = PreKeyStore::from_bytes(&store_after).expect("store");
        Session::respond(
            &bob,
            &mut store_seen,
            &no_opk_first,
            &Config::new(context).allow_classical(),
        )
        .expect("respond");
        let store_seen = blob(store_seen.to_bytes().unwrap());
        rng.take();
        Fixture {
            context,
            alice,
            bob,
            mallory,
            store_initial,
            bundle,
            bundle_bytes,
            bundle_no_opk,
            m1,
            m2,
            alice_unacknowledged,
            store_after,
            bob_deferred,
            r1,
            r2,
            bob_sending,
            alice_acknowledged,
            bob_with_old_chain,
            spk_public,
            no_opk_first,
            store_seen,
        }
    }
}
