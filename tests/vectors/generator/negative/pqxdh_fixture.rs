//! The PQXDH bundles, first messages, stores and session that the PQXDH negative vectors break
//! (SPEC.md §4.5), made from the file's RNG after every other family (so that no earlier entry
//! changes): Bob's store of the shared fixture plus last-resort KEM prekey 0 and one-time KEM
//! prekeys 1 and 2.

use xchat_protocol::{
    Config, KemKeyPair, KemPreKey, KemUse, PreKeyBundle, PreKeyStore, Session, Trust,
};

use super::super::rng::Recorder;
use super::super::shared::{CREATED_AT, blob};
use super::fixture::Fixture;

/// An ML-KEM-1024 encapsulation key and ciphertext (§4.5).
pub(super) const EK_LEN: usize = 1568;
pub(super) const CT_LEN: usize = 1568;
/// Where a KEM prekey starts in a version 0x02 bundle without / with a one-time prekey (§5.1).
pub(super) const KEM_AT: [usize; 2] = [142, 178];
/// Where the KEM fields start in a version 0x02 prekey message without / with a one-time
/// prekey (§5.3); the embedded message follows them 1573 bytes later.
pub(super) const KEM_FIELDS_AT: [usize; 2] = [71, 75];

pub(super) struct PqFixture {
    /// Bob's store: signed prekey 0, one-time prekeys 0 and 1, KEM prekeys 0 (last-resort), 1
    /// and 2 (one-time).
    pub store: Vec<u8>,
    /// One-time prekey 1 and last-resort KEM prekey 0 (1823 bytes).
    pub bundle_lr: Vec<u8>,
    /// No one-time prekey, one-time KEM prekey 1 (1787 bytes).
    pub bundle_ot: Vec<u8>,
    /// Alice's first two prekey messages to `bundle_lr`.
    pub m_lr: Vec<u8>,
    pub m_lr2: Vec<u8>,
    /// Bob after answering `m_lr`.
    pub bob_lr: Vec<u8>,
    /// Alice's first message to `bundle_ot`, and Bob's store after answering it (KEM prekey 1
    /// deleted).
    pub m_ot: Vec<u8>,
    pub store_after_ot: Vec<u8>,
    /// A first message with neither one-time key, and Bob's store after answering it (its
    /// first-message id recorded).
    pub m_none: Vec<u8>,
    pub store_seen: Vec<u8>,
    /// An encapsulation to one-time KEM prekey 2 (1568 bytes).
    pub ct_for_kem_2: Vec<u8>,
    /// An authentic first message to a KEM key that Bob signed as last-resort prekey 0 but does
    /// not hold.
    pub m_other_key: Vec<u8>,
    /// The KEM prekeys' times in seconds.
    pub kem_created_at: u64,
}

impl PqFixture {
    pub fn new(fx: &Fixture, rng: &mut Recorder) -> Self {
        let Fixture {
            context,
            alice,
            bob,
            store_initial,
            ..
        } = fx;
        let config = Config::new(context);
        let now = (CREATED_AT + 60) * 1000;
        let kem_created_at = now / 1000;
        let mut store = PreKeyStore::from_bytes(store_initial).expect("store");
        store.rotate_kem_prekey(rng, bob, now);
        let one_time = store
            .generate_kem_one_time_prekeys(rng, bob, 2, now)
            .expect("KEM one-time prekeys");
        let store_bytes = blob(store.to_bytes().unwrap());
        let bundle_lr = store.bundle(bob, Some(1)).expect("bundle");
        let bundle_ot = store
            .bundle_with_kem_one_time(bob, None, 1)
            .expect("bundle");
        let bundle_none = store.bundle(bob, None).expect("bundle");

        let first = |rng: &mut Recorder, bundle: &PreKeyBundle, text: &[u8]| {
            let mut a =
                Session::initiate(rng, alice, bundle, Trust::FirstUse, &config).expect("initiate");
            let m = a.encrypt(rng, text).expect("encrypt");
            (a, m)
        };
        let respond = |store: &[u8], m: &[u8]| {
            let mut s = PreKeyStore::from_bytes(store).expect("store");
            let (b, _) = Session::respond(bob, &mut s, m, &config).expect("respond");
            (b, blob(s.to_bytes().unwrap()))
        };
        let (mut a, m_lr) = first(rng, &bundle_lr, b"post-quantum");
        let m_lr2 = a.encrypt(rng, b"still post-quantum").expect("m_lr2");
        let (b, _) = respond(&store_bytes, &m_lr);
        let bob_lr = blob(b.to_bytes().unwrap());
        let mut check = Session::from_bytes(&bob_lr).expect("session");
        check
            .decrypt(&m_lr2)
            .expect("a later prekey message is accepted");
        let (_, m_ot) = first(rng, &bundle_ot, b"one-time KEM prekey");
        let (_, store_after_ot) = respond(&store_bytes, &m_ot);
        let (_, m_none) = first(rng, &bundle_none, b"no one-time key");
        let (_, store_seen) = respond(&store_bytes, &m_none);

        let (ct, _) = one_time[1].key.encapsulate(rng);
        let ct_for_kem_2 = ct.as_bytes().to_vec();
        let other = KemKeyPair::generate(rng);
        let signed = KemPreKey::signed_bytes(KemUse::LastResort, 0, kem_created_at, other.public());
        let forged = PreKeyBundle {
            kem_prekey: Some(KemPreKey {
                usage: KemUse::LastResort,
                id: 0,
                created_at: kem_created_at,
                key: other.public().clone(),
                signature: bob.sign(&signed),
            }),
            ..bundle_none
        };
        let (_, m_other_key) = first(rng, &forged, b"to another key");
        rng.take();
        PqFixture {
            store: store_bytes,
            bundle_lr: bundle_lr.to_bytes(),
            bundle_ot: bundle_ot.to_bytes(),
            m_lr,
            m_lr2,
            bob_lr,
            m_ot,
            store_after_ot,
            m_none,
            store_seen,
            ct_for_kem_2,
            m_other_key,
            kem_created_at,
        }
    }
}
