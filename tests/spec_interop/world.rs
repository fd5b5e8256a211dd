//! The shared conversation setup (§1's RNG order): identities, bundle, first messages and the
//! responder's checks, for any mix of implementations; sending, receiving and state correspondence.

use crate::common::state_codec as sc;
use crate::parties::{BobPre, Party, Transcript};
use crate::reference::primitives::{E, K32, draw, x25519_torsion_variant, xpub};
use crate::reference::session::MySession;
use crate::reference::store::MyBob;
use crate::reference::wire::{Ident, decode_bundle, decode_message, verify_spk};
use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::VerifyingKey;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use xchat_protocol::{Config, IdentityKeyPair, PreKeyBundle, PreKeyStore, Session, Trust};

pub(crate) struct World {
    pub(crate) rng: ChaCha20Rng,
    pub(crate) alice: Party,
    pub(crate) bob: Party,
    pub(crate) bob_pre: BobPre,
    pub(crate) t: Transcript,
    pub(crate) ctx: Vec<u8>,
}

pub(crate) const NOW: u64 = 1_700_000_000;
pub(crate) const CTX: &[u8] = b"alice@example.org|bob@example.org";

pub(crate) fn header(m: &[u8]) -> (bool, K32, u32, u32) {
    let (pre, msg) = decode_message(m).unwrap();
    (pre.is_some(), msg.key, msg.pn, msg.n)
}

/// Setup following the RNG consumption order of §1: Alice's identity, Bob's identity, Bob's signed
/// prekey, two one-time prekeys, Alice's initiate, then three first messages a0, a1, a2.
/// Bob responds to a1 (out of order), then decrypts a0 with `Session::decrypt`; a2 is returned
/// undelivered.
pub(crate) fn setup(
    seed: u8,
    crate_alice: bool,
    crate_bob: bool,
    with_opk: bool,
    ctx: &[u8],
) -> (World, Vec<u8>) {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let mut t = Transcript::default();
    let alice_crate_id;
    let alice_my_id;
    if crate_alice {
        let id = IdentityKeyPair::generate(&mut rng);
        t.rec("alice ik", &id.public().to_bytes());
        alice_crate_id = Some(id);
        alice_my_id = None;
    } else {
        let id = Ident::new(draw(&mut rng));
        t.rec("alice ik", &id.ik);
        alice_crate_id = None;
        alice_my_id = Some(id);
    }
    let mut bob_pre = if crate_bob {
        let id = IdentityKeyPair::generate(&mut rng);
        // Cross-check the identity derivation (§4.1) and the identity blob (§10.1).
        let mine = Ident::new(*id.seed());
        assert_eq!(mine.ik, id.public().to_bytes());
        assert_eq!(id.to_bytes().to_vec(), sc::encode_identity(&mine.seed));
        assert_eq!(sc::decode_identity(&id.to_bytes()), Ok(mine.seed));
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(&mut rng, &id, NOW * 1000);
        let otks = store.generate_one_time_prekeys(&mut rng, 2).unwrap();
        assert_eq!(otks.iter().map(|k| k.id).collect::<Vec<_>>(), [0, 1]);
        BobPre::Crate(Box::new((id, store)))
    } else {
        let mut bob = MyBob::new(Ident::new(draw(&mut rng)));
        bob.rotate_signed_prekey(&mut rng, NOW);
        assert_eq!(bob.generate_one_time_prekeys(&mut rng, 2).unwrap(), [0, 1]);
        BobPre::Mine(Box::new(bob))
    };
    t.rec("bob store", &bob_pre.store_state());
    let bundle = match &bob_pre {
        BobPre::Crate(b) => {
            b.1.bundle(&b.0, with_opk.then_some(1))
                .unwrap()
                .to_bytes()
                .to_vec()
        }
        BobPre::Mine(bob) => bob.bundle(with_opk.then_some(1)),
    };
    t.rec("bundle", &bundle);
    assert_eq!(bundle.len(), if with_opk { 178 } else { 142 });

    // Both decoders accept the bundle; the crate re-encodes it identically.
    let parsed = decode_bundle(&bundle).unwrap();
    let spk = (parsed.spk_id, parsed.created_at);
    verify_spk(&parsed.ik, spk, &parsed.spk, &parsed.sig, false).unwrap();
    let crate_bundle = PreKeyBundle::from_bytes(&bundle).unwrap();
    assert_eq!(crate_bundle.to_bytes().to_vec(), bundle);
    assert_eq!(crate_bundle.identity.to_bytes(), parsed.ik);
    assert_eq!(crate_bundle.signed_prekey.key.to_bytes(), parsed.spk);
    assert_eq!(crate_bundle.signed_prekey.signature, parsed.sig);
    assert_eq!(
        crate_bundle.one_time_prekey.as_ref().map(|k| k.id),
        parsed.opk.map(|k| k.0)
    );

    // A bundle with a damaged signature is rejected before any key is generated (§4.4 step 1).
    let mut bad = bundle.clone();
    bad[77] ^= 0x01;
    let before = rng.clone();
    if crate_alice {
        let r = Session::initiate(
            &mut rng,
            alice_crate_id.as_ref().unwrap(),
            &PreKeyBundle::from_bytes(&bad).unwrap(),
            Trust::FirstUse,
            &Config::new(ctx).allow_classical(),
        );
        assert!(matches!(r, Err(xchat_protocol::Error::InvalidSignature)));
    } else {
        let r = MySession::initiate(&mut rng, alice_my_id.as_ref().unwrap(), &bad, ctx);
        assert_eq!(r.unwrap_err(), E::InvalidSignature);
    }
    assert_eq!(rng.clone().next_u64(), before.clone().next_u64());

    let mut alice = if crate_alice {
        Party::Crate(Box::new(
            Session::initiate(
                &mut rng,
                alice_crate_id.as_ref().unwrap(),
                &crate_bundle,
                Trust::FirstUse,
                &Config::new(ctx).allow_classical(),
            )
            .unwrap(),
        ))
    } else {
        Party::Mine(
            Box::new(
                MySession::initiate(&mut rng, alice_my_id.as_ref().unwrap(), &bundle, ctx).unwrap(),
            ),
            Some(vec![]),
        )
    };
    t.rec("alice state", &alice.state());

    let a: Vec<Vec<u8>> = (0..3u8)
        .map(|i| alice.encrypt(&mut rng, &[b'a', i]))
        .collect();
    for (i, m) in a.iter().enumerate() {
        t.rec("a", m);
        let (pre, key, pn, n) = header(m);
        assert!(pre);
        assert_eq!((pn, n), (0, u32::try_from(i).unwrap()));
        assert_eq!(key, header(&a[0]).1);
        assert_eq!(m.len(), 71 + if with_opk { 4 } else { 0 } + 58 + 2 + 16);
    }
    let (pre, _) = decode_message(&a[0]).unwrap();
    let pre = pre.unwrap();
    assert_eq!(pre.spk_id, 0);
    assert_eq!(pre.opk_id, with_opk.then_some(1));

    // Wrong context: authentication fails and nothing is consumed (§6.6, §7.3 step 8).
    let store_before = bob_pre.store_state();
    let err = bob_pre.respond(&a[1], b"some other context").err().unwrap();
    assert_eq!(err, "DecryptionFailed");
    assert_eq!(bob_pre.store_state(), store_before);
    // A normal message is not a first message.
    let normal = &a[1][71 + if with_opk { 4 } else { 0 }..];
    assert_eq!(
        bob_pre.respond(normal, ctx).err().unwrap(),
        "NotPreKeyMessage"
    );

    // Unknown prekey ids (§7.3 steps 3, 4).
    let mut unknown = a[1].clone();
    unknown[69] = 7;
    assert_eq!(
        bob_pre.respond(&unknown, ctx).err().unwrap(),
        "UnknownSignedPreKey(7)"
    );
    if with_opk {
        let mut unknown = a[1].clone();
        unknown[74] = 9;
        assert_eq!(
            bob_pre.respond(&unknown, ctx).err().unwrap(),
            "UnknownOneTimePreKey(9)"
        );
    }
    assert_eq!(bob_pre.store_state(), store_before);

    // §3.5: the prekey fields are in the AAD. The base key replaced by any of its seven torsion
    // variants gives the same DHs and SK, but not the same AAD: DecryptionFailed, nothing consumed.
    let base: K32 = a[1][34..66].try_into().unwrap();
    let torsion_variants: Vec<Vec<u8>> = (1..8)
        .map(|i| {
            let mut v = a[1].clone();
            v[34..66].copy_from_slice(&x25519_torsion_variant(&base, i));
            assert_ne!(v, a[1]);
            v
        })
        .collect();
    for v in &torsion_variants {
        assert_eq!(bob_pre.respond(v, ctx).err().unwrap(), "DecryptionFailed");
    }
    // Rewriting the flag (dropping the one-time prekey, or naming a held one) changes SK.
    let opk_len = if with_opk { 4 } else { 0 };
    let mut flag = a[1][..70].to_vec();
    flag.extend_from_slice(if with_opk {
        &[0][..]
    } else {
        &[1, 0, 0, 0, 0][..]
    });
    flag.extend_from_slice(&a[1][71 + opk_len..]);
    assert_eq!(
        bob_pre.respond(&flag, ctx).err().unwrap(),
        "DecryptionFailed"
    );
    // IK_A with a torsion component is refused at decode (§2.4).
    let mut ik_torsion = a[1].clone();
    let ik_a = VerifyingKey::from_bytes(&a[1][2..34].try_into().unwrap())
        .unwrap()
        .to_edwards();
    ik_torsion[2..34].copy_from_slice(&(ik_a + EIGHT_TORSION[1]).compress().to_bytes());
    assert_eq!(
        bob_pre.respond(&ik_torsion, ctx).err().unwrap(),
        "Decode(InvalidKey)"
    );
    assert_eq!(bob_pre.store_state(), store_before);

    let (mut bob, pt) = bob_pre.respond(&a[1], ctx).unwrap();
    assert_eq!(pt, [b'a', 1]);
    t.rec("bob state", &bob.state());
    t.rec("bob store", &bob_pre.store_state());
    // Replay of a first message: the OPK is gone, or its first-message id (§3.6) is recorded —
    // in any encoding of the base key.
    let replay_error = if with_opk {
        "UnknownOneTimePreKey(1)"
    } else {
        "DuplicateMessage"
    };
    let store_after = bob_pre.store_state();
    assert_eq!(bob_pre.respond(&a[1], ctx).err().unwrap(), replay_error);
    for v in &torsion_variants {
        assert_eq!(bob_pre.respond(v, ctx).err().unwrap(), replay_error);
    }
    assert_eq!(bob_pre.store_state(), store_after);
    // The earlier first message is a prekey message for the existing session (§7.4).
    assert_eq!(bob.decrypt(&a[0]).unwrap(), [b'a', 0]);
    assert_eq!(bob.decrypt(&a[0]).unwrap_err(), "DuplicateMessage");
    let bob_before = bob.state();
    // Its base key in another encoding is not this session's X3DH field.
    let mut other_encoding = a[2].clone();
    other_encoding[34..66].copy_from_slice(&x25519_torsion_variant(&base, 3));
    assert_eq!(bob.decrypt(&other_encoding).unwrap_err(), "SessionMismatch");
    // The embedded message alone does not authenticate as a normal message (§3.5).
    let stripped = &a[2][71 + opk_len..];
    assert_eq!(bob.decrypt(stripped).unwrap_err(), "DecryptionFailed");
    assert_eq!(bob.state(), bob_before);
    t.rec("bob state", &bob.state());

    (
        World {
            rng,
            alice,
            bob,
            bob_pre,
            t,
            ctx: ctx.to_vec(),
        },
        a[2].clone(),
    )
}

pub(crate) fn send(w: &mut World, from_alice: bool, pt: &[u8]) -> Vec<u8> {
    let p = if from_alice { &mut w.alice } else { &mut w.bob };
    let m = p.encrypt(&mut w.rng, pt);
    w.t.rec(if from_alice { "A>" } else { "B>" }, &m);
    w.t.rec("state", &p.state());
    m
}

pub(crate) fn recv(w: &mut World, to_alice: bool, m: &[u8], expect: Result<&[u8], &str>) {
    let p = if to_alice { &mut w.alice } else { &mut w.bob };
    let before = p.state();
    let got = p.decrypt(m);
    match (&got, expect) {
        (Ok(pt), Ok(e)) => assert_eq!(pt.as_slice(), e),
        (Err(err), Err(e)) => {
            assert_eq!(err, e);
            assert_eq!(p.state(), before, "failed decrypt changed state (§6.6)");
        }
        _ => panic!("decrypt: got {got:?}, expected {expect:?}"),
    }
    w.t.rec("recv", format!("{got:?}").as_bytes());
    w.t.rec("state", &p.state());
}

/// Checks that the two sides' states correspond: `sender` sent last, and `receiver` received
/// that message and everything before it on the same chain.
pub(crate) fn check_correspondence(sender: &Party, receiver: &Party) {
    let s = sender.view();
    let r = receiver.view();
    assert_eq!(s.local, r.remote);
    assert_eq!(s.remote, r.local);
    assert_eq!(s.context, r.context);
    assert_eq!(s.ad(), r.ad());
    assert_eq!(s.ad(), s.0.ad(), "§3.5 AD: the codec's and ours");
    assert_eq!(s.prefields(), r.prefields());
    assert_eq!(s.rk, r.rk, "root keys");
    let sending = s.sending().expect("the sender has a sending chain");
    assert_eq!(xpub(&sending.dhs.secret), sending.dhs.public);
    assert_eq!(r.o().dhr, sending.dhs.public, "DHr = peer's ratchet public");
    assert_eq!(
        (r.o().ckr, r.o().nr),
        (sending.ck, sending.n),
        "sending chain = peer's receiving chain"
    );
    // The receiver's half-step is deferred: no ratchet secret held (§6.1).
    assert!(r.sending().is_none(), "receiver's sending side is pending");
    // Every key the receiver holds for a message is the sender's message key for it.
    if let Party::Mine(_, Some(log)) = sender {
        for k in &r.o().skipped {
            let sent = log.iter().find(|(key, n, _)| *key == k.key && *n == k.n);
            assert_eq!(sent.map(|e| e.2), Some(k.mk), "skipped key {}", k.n);
        }
    }
}
