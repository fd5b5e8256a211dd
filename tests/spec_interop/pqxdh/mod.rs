//! PQXDH across implementations (§3.1b, §4.5, §5.1, §5.3, §10.2–§10.3 version 4): bundles of
//! version 0x02 and version-4 stores byte for byte, sessions in both directions for every
//! combination of one-time keys (X25519 and KEM), a scripted RNG giving byte-identical first
//! messages (§1's order), decode errors, failures and persisted state.

mod decode;
mod negative;
mod state;
mod store;

use crate::common::state_codec::{self as sc, KEM_CT_LEN, StoreBlob};
use crate::parties::{BobPre, Party, Transcript};
use crate::reference::pq::{LAST_RESORT, ONE_TIME, kem_encaps, kem_public, verify_kem};
use crate::reference::primitives::{K32, draw, x25519_torsion_variant, xpub};
use crate::reference::session::MySession;
use crate::reference::store::MyBob;
use crate::reference::wire::{Ident, decode_bundle, decode_message, encode_bundle, verify_spk};
use crate::world::{CTX, NOW, check_correspondence, header};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use std::collections::VecDeque;
use std::convert::Infallible;
use xchat_protocol::{Config, IdentityKeyPair, PreKeyBundle, PreKeyStore, Session, Trust};

/// (one-time prekey id, one-time KEM prekey id) of the bundle: each present or not. Without a
/// one-time KEM prekey the bundle carries the last-resort one (id 0).
pub(crate) const COMBOS: [(Option<u32>, Option<u32>); 4] = [
    (None, None),
    (Some(0), None),
    (None, Some(1)),
    (Some(1), Some(2)),
];

/// Length of the prekey fields of a PQXDH prekey message (§5.3).
pub(crate) fn fields_len(opk: bool) -> usize {
    1644 + if opk { 4 } else { 0 }
}

/// Bob in one implementation, from the RNG order of §1: identity, a signed prekey (id 0), two
/// one-time prekeys (0, 1), a last-resort KEM prekey (0), two one-time KEM prekeys (1, 2). The
/// same seed gives the same store in both implementations. Returns the RNG after it and the
/// identity seed.
pub(crate) fn responder(seed: u8, crate_bob: bool) -> (ChaCha20Rng, K32, BobPre) {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let id_seed: K32 = draw(&mut rng);
    let mut bob = if crate_bob {
        let id = IdentityKeyPair::from_seed(&id_seed);
        BobPre::Crate(Box::new((id, PreKeyStore::new())))
    } else {
        BobPre::Mine(Box::new(MyBob::new(Ident::new(id_seed))))
    };
    bob.rotate_signed_prekey(&mut rng, NOW);
    let ids = match &mut bob {
        BobPre::Crate(b) => {
            let keys = b.1.generate_one_time_prekeys(&mut rng, 2).unwrap();
            keys.iter().map(|k| k.id).collect()
        }
        BobPre::Mine(b) => b.generate_one_time_prekeys(&mut rng, 2).unwrap(),
    };
    assert_eq!(ids, [0, 1]);
    assert_eq!(bob.rotate_kem_prekey(&mut rng, NOW), 0);
    let kem_ids = bob.generate_kem_one_time_prekeys(&mut rng, 2, NOW);
    assert_eq!(kem_ids, Ok(vec![1, 2]));
    (rng, id_seed, bob)
}

/// A session of either implementation initiated to `bundle` by the identity with `seed`.
pub(crate) fn initiate(
    rng: &mut impl rand_core::CryptoRng,
    crate_alice: bool,
    seed: &K32,
    bundle: &[u8],
) -> Result<Party, String> {
    if crate_alice {
        let id = IdentityKeyPair::from_seed(seed);
        let b = PreKeyBundle::from_bytes(bundle).map_err(|e| format!("Decode({e:?})"))?;
        // Compares implementations; the classical case is opted into (the policy is tested in
        // tests/pqxdh.rs).
        Session::initiate(
            rng,
            &id,
            &b,
            Trust::FirstUse,
            &Config::new(CTX).allow_classical(),
        )
        .map(|s| Party::Crate(Box::new(s)))
        .map_err(|e| format!("{e:?}"))
    } else {
        MySession::initiate(rng, &Ident::new(*seed), bundle, CTX)
            .map(|s| Party::Mine(Box::new(s), Some(vec![])))
            .map_err(|e| format!("{e:?}"))
    }
}

/// Test P1: the version-4 store and the version 0x02 bundles (§5.1) are byte-identical in both
/// implementations; the reference decodes the library's bundle and re-encodes it identically
/// (and back), verifies both signatures (§4.2, §4.5), and expands the stored seed to the same
/// encapsulation key with another ML-KEM implementation.
#[test]
fn pqxdh_bundles_and_stores_agree() {
    let (_, _, crate_bob) = responder(40, true);
    let (_, _, my_bob) = responder(40, false);
    let store = crate_bob.store_state();
    assert_eq!(
        store[1],
        sc::VERSION_PQ,
        "§10.0: a store with KEM prekeys is version 4"
    );
    assert_eq!(my_bob.store_state(), store);
    let (v, s) = StoreBlob::decode(&store).unwrap();
    assert_eq!((v, s.encode()), (sc::VERSION_PQ, store.clone()));
    let kem = s.kem.clone().unwrap();
    assert_eq!(kem.next_kem_id, 3);
    assert_eq!(
        kem.last_resort.iter().map(|k| k.id).collect::<Vec<_>>(),
        [0]
    );
    assert_eq!(
        kem.one_time.iter().map(|k| k.id).collect::<Vec<_>>(),
        [1, 2]
    );
    for (opk, kem_id) in COMBOS {
        let bundle = crate_bob.bundle(opk, kem_id).unwrap();
        assert_eq!(bundle[0], 0x02);
        assert_eq!(bundle.len(), if opk.is_some() { 1823 } else { 1787 });
        assert_eq!(
            my_bob.bundle(opk, kem_id).unwrap(),
            bundle,
            "{opk:?} {kem_id:?}"
        );
        let parsed = decode_bundle(&bundle).unwrap();
        assert_eq!(encode_bundle(&parsed), bundle);
        let spk = (parsed.spk_id, parsed.created_at);
        verify_spk(&parsed.ik, (spk.0, 0), &parsed.spk, &parsed.sig, true).unwrap_err();
        // Signed with the key type (§4.2): the X3DH form does not verify.
        verify_spk(&parsed.ik, spk, &parsed.spk, &parsed.sig, false).unwrap_err();
        verify_spk(&parsed.ik, spk, &parsed.spk, &parsed.sig, true).unwrap();
        assert_eq!(parsed.opk.map(|o| o.0), opk);
        let k = parsed.kem.clone().unwrap();
        let usage = if kem_id.is_some() {
            ONE_TIME
        } else {
            LAST_RESORT
        };
        assert_eq!(
            (k.usage, k.id, k.created_at),
            (usage, kem_id.unwrap_or(0), NOW)
        );
        verify_kem(&parsed.ik, (k.usage, k.id, k.created_at), &k.ek, &k.sig).unwrap();
        // The signed use is part of the signature: the other use does not verify.
        let other = (1 - k.usage, k.id, k.created_at);
        assert!(verify_kem(&parsed.ik, other, &k.ek, &k.sig).is_err());
        let held = kem.last_resort.iter().chain(&kem.one_time);
        let stored = held.clone().find(|x| x.id == k.id).unwrap();
        assert_eq!((kem_public(&stored.seed), stored.signature), (k.ek, k.sig));
        let theirs = PreKeyBundle::from_bytes(&bundle).unwrap();
        assert_eq!(theirs.to_bytes(), bundle);
        let theirs_kem = theirs.kem_prekey.unwrap();
        assert_eq!((theirs_kem.id, theirs_kem.created_at), (k.id, k.created_at));
    }
    // An unknown one-time KEM prekey (§11: `UnknownKemPreKey` from `bundle_with_kem_one_time`).
    for bob in [&crate_bob, &my_bob] {
        assert_eq!(
            bob.bundle(None, Some(0)).unwrap_err(),
            "UnknownKemPreKey(0)"
        );
        assert_eq!(
            bob.bundle(None, Some(7)).unwrap_err(),
            "UnknownKemPreKey(7)"
        );
    }
}

/// One PQXDH conversation (§4.5, §7): first messages, the answer to one out of order, the others
/// through `decrypt`, replies both ways, replay, and the sessions moved between implementations
/// through their version-4 blobs; returns the transcript of everything observable.
fn conversation(
    seed: u8,
    crate_alice: bool,
    crate_bob: bool,
    combo: (Option<u32>, Option<u32>),
) -> Transcript {
    let (opk, kem_id) = combo;
    let mut t = Transcript::default();
    let (mut rng, _, mut bob_pre) = responder(seed, crate_bob);
    let alice_seed: K32 = draw(&mut rng);
    let bundle = bob_pre.bundle(opk, kem_id).unwrap();
    t.rec("bundle", &bundle);
    let mut alice = initiate(&mut rng, crate_alice, &alice_seed, &bundle).unwrap();
    let a_state = alice.state();
    assert_eq!(
        a_state[1],
        sc::VERSION_PQ,
        "§10.0: a PQXDH session is version 4"
    );
    t.rec("alice state", &a_state);
    let a: Vec<Vec<u8>> = (0..3u8)
        .map(|i| alice.encrypt(&mut rng, &[b'a', i]))
        .collect();
    let split = fields_len(opk.is_some());
    for (i, m) in a.iter().enumerate() {
        t.rec("a", m);
        assert_eq!((m[0], m[1], m.len()), (0x02, 0x02, split + 58 + 2 + 16));
        assert_eq!(m[..split], a[0][..split], "§5.3: the same prekey fields");
        let (pre, msg) = decode_message(m).unwrap();
        let k = pre.unwrap().kem.unwrap();
        let usage = if kem_id.is_some() {
            ONE_TIME
        } else {
            LAST_RESORT
        };
        assert_eq!(
            (k.usage, k.id, k.ct.len()),
            (usage, kem_id.unwrap_or(0), KEM_CT_LEN)
        );
        assert_eq!((msg.pn, msg.n), (0, u32::try_from(i).unwrap()));
        assert_eq!(msg.prekey_fields, m[..split]);
    }
    let (mut bob, pt) = bob_pre.respond(&a[1], CTX).unwrap();
    assert_eq!(pt, b"a\x01");
    t.rec("bob state", &bob.state());
    let store = bob_pre.store_state();
    t.rec("bob store", &store);
    // §7.3 step 8: the one-time keys used are gone; without either, the message is recorded.
    let (_, s) = StoreBlob::decode(&store).unwrap();
    let k = s.kem.as_ref().unwrap();
    assert!(!s.one_time.iter().any(|x| Some(x.id) == opk));
    assert_eq!(k.one_time.len(), 2 - usize::from(kem_id.is_some()));
    let recorded = opk.is_none() && kem_id.is_none();
    assert_eq!(s.signed[0].accepted.len(), usize::from(recorded));
    // A replay: the key that protected it is gone, or its id recorded (§4.5 Replay).
    let replay = match combo {
        (Some(o), _) => format!("UnknownOneTimePreKey({o})"),
        (None, Some(k)) => format!("UnknownKemPreKey({k})"),
        (None, None) => "DuplicateMessage".into(),
    };
    assert_eq!(bob_pre.respond(&a[1], CTX).err().unwrap(), replay);
    assert_eq!(bob_pre.store_state(), store);
    // Both sessions' blobs parse with the reference codec and re-encode identically (`view`).
    let (va, vb) = (alice.view(), bob.view());
    assert!(va.kem.is_some() && va.kem == vb.kem);
    assert_eq!(va.prefields(), vb.prefields());
    assert_eq!(bob.state()[1], sc::VERSION_PQ);
    // §7.4: the earlier first message goes to `decrypt`.
    assert_eq!(bob.decrypt(&a[0]).unwrap(), b"a\x00");
    assert_eq!(bob.decrypt(&a[0]).unwrap_err(), "DuplicateMessage");
    let b0 = bob.encrypt(&mut rng, b"b0");
    t.rec("b0", &b0);
    assert_eq!(alice.decrypt(&b0).unwrap(), b"b0");
    check_correspondence(&bob, &alice);
    let c0 = alice.encrypt(&mut rng, b"c0");
    assert!(
        !header(&c0).0,
        "acknowledged: a normal message (version 0x01)"
    );
    assert_eq!(c0[0], 0x01);
    t.rec("c0", &c0);
    assert_eq!(bob.decrypt(&c0).unwrap(), b"c0");
    check_correspondence(&alice, &bob);
    // The late prekey message a2, from before the turn, still opens.
    assert_eq!(bob.decrypt(&a[2]).unwrap(), b"a\x02");
    // Persisted and restored into the other implementation (version 4 both ways).
    alice.swap_implementation();
    bob.swap_implementation();
    let b1 = bob.encrypt(&mut rng, b"b1");
    assert_eq!(alice.decrypt(&b1).unwrap(), b"b1");
    let c1 = alice.encrypt(&mut rng, &[0x5A; 300]);
    assert_eq!(bob.decrypt(&c1).unwrap(), [0x5A; 300]);
    check_correspondence(&alice, &bob);
    for (what, m) in [("b1", &b1), ("c1", &c1)] {
        t.rec(what, m);
    }
    t.rec("alice state", &alice.state());
    t.rec("bob state", &bob.state());
    t
}

/// Test P2: independent Alice → crate Bob and crate Alice → independent Bob (and each alone),
/// for the four combinations of one-time keys: the first message and the replies decrypt both
/// ways, and with the same RNG stream every byte is the same whichever implementation plays
/// which side.
#[test]
fn pqxdh_conversations_byte_identical_for_every_mix() {
    for combo in COMBOS {
        let reference = conversation(41, true, true, combo);
        for (alice, bob) in [(false, true), (true, false), (false, false)] {
            let t = conversation(41, alice, bob, combo);
            assert_eq!(t.0.len(), reference.0.len());
            for (i, (x, y)) in t.0.iter().zip(&reference.0).enumerate() {
                assert_eq!(
                    x, y,
                    "step {i} differs (alice crate {alice}, bob crate {bob}, {combo:?})"
                );
            }
        }
    }
}

/// An RNG returning scripted draws, each of the scripted length (§1's informative table).
pub(crate) struct Scripted(VecDeque<Vec<u8>>);

impl Scripted {
    pub(crate) fn new(draws: &[&[u8]]) -> Self {
        Scripted(draws.iter().map(|d| d.to_vec()).collect())
    }
    pub(crate) fn finish(&self) {
        assert!(
            self.0.is_empty(),
            "{} scripted draw(s) not taken",
            self.0.len()
        );
    }
}

impl rand_core::TryRng for Scripted {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("only fill_bytes draws are expected")
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("only fill_bytes draws are expected")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let next = self.0.pop_front();
        let next = next.unwrap_or_else(|| panic!("an unscripted draw of {} bytes", dst.len()));
        assert_eq!(
            next.len(),
            dst.len(),
            "a draw of {} bytes, scripted {}",
            dst.len(),
            next.len()
        );
        dst.copy_from_slice(&next);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Scripted {}

/// Test P3: with a scripted RNG — `EK_A` 32, `m` 32, the first ratchet key 32, then the
/// message seed 16, nothing else (§1) — both initiators produce the same first message, whose
/// parts are those draws: the base key, `CT = Encaps_internal(PQPK_B, m)` (by libcrux), the
/// ratchet key and the seed.
#[test]
fn scripted_rng_gives_byte_identical_first_messages() {
    let (mut rng, _, bob) = responder(42, true);
    let alice_seed: K32 = draw(&mut rng);
    for (opk, kem_id) in COMBOS {
        let bundle = bob.bundle(opk, kem_id).unwrap();
        let pqpk = decode_bundle(&bundle).unwrap().kem.unwrap().ek;
        let (ek, m, r, seed): (K32, K32, K32, [u8; 16]) = (
            draw(&mut rng),
            draw(&mut rng),
            draw(&mut rng),
            draw(&mut rng),
        );
        let mut firsts = vec![];
        for crate_alice in [true, false] {
            let mut script = Scripted::new(&[&ek, &m, &r]);
            let mut alice = initiate(&mut script, crate_alice, &alice_seed, &bundle).unwrap();
            script.finish();
            let mut script = Scripted::new(&[&seed]);
            firsts.push(alice.encrypt_with(&mut script, b"first"));
            script.finish();
        }
        assert_eq!(firsts[0], firsts[1], "{opk:?} {kem_id:?}");
        let first = &firsts[0];
        let (pre, msg) = decode_message(first).unwrap();
        let pre = pre.unwrap();
        assert_eq!(pre.base, xpub(&ek));
        assert_eq!(pre.kem.unwrap().ct, kem_encaps(&pqpk, m).0);
        assert_eq!((msg.key, msg.seed), (xpub(&r), seed));
        // A bundle whose KEM signature fails draws nothing at all (§4.5 step 1).
        let mut bad = bundle.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        for crate_alice in [true, false] {
            let mut script = Scripted::new(&[]);
            let r = initiate(&mut script, crate_alice, &alice_seed, &bad);
            assert_eq!(r.err().unwrap(), "InvalidSignature");
        }
        // A one-time prekey outside the prime-order subgroup (§4.4 step 4, step 2 of §4.5):
        // refused after `EK_A` is drawn and before `m` is.
        if opk.is_some() {
            let opk_key: K32 = bundle[146..178].try_into().unwrap();
            let mut torsion = bundle.clone();
            torsion[146..178].copy_from_slice(&x25519_torsion_variant(&opk_key, 4));
            for crate_alice in [true, false] {
                let mut script = Scripted::new(&[&ek]);
                let r = initiate(&mut script, crate_alice, &alice_seed, &torsion);
                assert_eq!(r.err().unwrap(), "Decode(InvalidKey)");
                script.finish();
            }
        }
    }
}
