//! Bundles: decoding (§5.1, §2) and the initiator's check of a one-time prekey (§4.4 step 4)
//! agree between the implementations.

use crate::reference::primitives::{K32, draw, x25519_prime_order, x25519_torsion_variant, xpub};
use crate::reference::session::MySession;
use crate::reference::store::MyBob;
use crate::reference::wire::{Ident, decode_bundle};
use crate::world::{CTX, NOW};
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::VerifyingKey;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use x25519_dalek::x25519;
use xchat_protocol::{Config, IdentityKeyPair, PreKeyBundle, Session, Trust};

/// Bundle decoding (§5.1, §2) agrees between the implementations on malformed input.
#[test]
fn bundle_decode_errors_agree() {
    let mut rng = ChaCha20Rng::from_seed([19; 32]);
    let mut bob = MyBob::new(Ident::new(draw(&mut rng)));
    bob.rotate_signed_prekey(&mut rng, NOW);
    bob.generate_one_time_prekeys(&mut rng, 1).unwrap();
    for b in [bob.bundle(None), bob.bundle(Some(0))] {
        let mut cases = vec![];
        for len in 0..b.len() {
            cases.push(b[..len].to_vec());
        }
        let mut v = b.clone();
        v.push(0);
        cases.push(v);
        let mut v = b.clone();
        v[0] = 2;
        cases.push(v);
        let mut v = b.clone();
        v[141] = 2;
        cases.push(v);
        let mut v = b.clone();
        v[76] |= 0x80;
        cases.push(v);
        let mut v = b.clone();
        v[1..33].copy_from_slice(&[0u8; 32]);
        cases.push(v);
        let mut v = b.clone();
        v[1..33].copy_from_slice(&[0xFF; 32]);
        cases.push(v);
        let mut v = b.clone();
        v[77] ^= 1; // signature is not checked at decode
        cases.push(v);
        // §2.4 edge cases for IK_B.
        let ik: K32 = b[1..33].try_into().unwrap();
        let ik_point = VerifyingKey::from_bytes(&ik).unwrap().to_edwards();
        let mut y_is_p_plus_1 = [0xFFu8; 32];
        y_is_p_plus_1[0] = 0xEE;
        y_is_p_plus_1[31] = 0x7F;
        let mut x0_sign1 = [0u8; 32];
        x0_sign1[0] = 1;
        x0_sign1[31] = 0x80;
        let mut keys = vec![
            (y_is_p_plus_1, false),
            (x0_sign1, false),
            // −IK_B is another prime-order point: a different, valid identity.
            ((-ik_point).compress().to_bytes(), true),
        ];
        // A torsion component (of every order 2, 4, 8) is refused since rule 4's subgroup check.
        for t in &EIGHT_TORSION[1..] {
            keys.push(((ik_point + t).compress().to_bytes(), false));
        }
        for (key, accept) in keys {
            let mut v = b.clone();
            v[1..33].copy_from_slice(&key);
            assert_eq!(decode_bundle(&v).is_ok(), accept);
            cases.push(v);
        }
        // §2.3 edge cases for SPK_B: p − 1 accepted, p rejected.
        for (last, accept) in [(0xEC, true), (0xED, false)] {
            let mut v = b.clone();
            v[45..77].copy_from_slice(&[0xFF; 32]);
            v[45] = last;
            v[76] = 0x7F;
            assert_eq!(decode_bundle(&v).is_ok(), accept);
            cases.push(v);
        }
        if b.len() == 178 {
            let mut v = b.clone();
            v[177] = 0xFF;
            cases.push(v);
            // A torsion variant of OPK_B still decodes (§2.3 only); `initiate` refuses it (§4.4).
            let opk: K32 = b[146..178].try_into().unwrap();
            let mut v = b.clone();
            v[146..178].copy_from_slice(&x25519_torsion_variant(&opk, 1));
            assert!(decode_bundle(&v).is_ok());
            cases.push(v);
        }
        for c in cases {
            let mine = decode_bundle(&c).map(|_| ()).map_err(|e| format!("{e:?}"));
            let theirs = PreKeyBundle::from_bytes(&c)
                .map(|_| ())
                .map_err(|e| format!("{e:?}"));
            assert_eq!(mine, theirs, "bundle {}", hex::encode(&c));
        }
    }
}

/// Test 8: the initiator's check of a bundle's one-time prekey (§4.4 step 4, after the DHs):
/// torsion variants and twist points are `Decode(InvalidKey)`, low-order points
/// `NonContributory`; a substituted prime-order key is accepted. The RNG use is the same in both
/// (`EK_A` drawn, the first ratchet key not).
#[test]
fn one_time_prekey_subgroup_check_agrees() {
    let mut rng = ChaCha20Rng::from_seed([26; 32]);
    let mut bob = MyBob::new(Ident::new(draw(&mut rng)));
    bob.rotate_signed_prekey(&mut rng, NOW);
    bob.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let bundle = bob.bundle(Some(0));
    let opk: K32 = bundle[146..178].try_into().unwrap();
    let alice = IdentityKeyPair::generate(&mut rng);
    let my_alice = Ident::new(*alice.seed());

    let mut one = [0u8; 32];
    one[0] = 1; // order 4
    let mut minus_one = [0xFFu8; 32];
    minus_one[0] = 0xEC;
    minus_one[31] = 0x7F; // p − 1: on the twist
    let mut cases: Vec<(K32, &str)> = vec![
        (opk, "ok"),
        (xpub(&[5; 32]), "ok"), // another prime-order key: not detectable (X3DH §3.2)
        ([0; 32], "NonContributory"),
        (one, "NonContributory"),
    ];
    for i in 1..8 {
        cases.push((x25519_torsion_variant(&opk, i), "Decode(InvalidKey)"));
    }
    // Twist points: those of low order on the twist give an all-zero DH first.
    let mut twists = vec![minus_one];
    twists.extend(
        (2u8..)
            .map(|i| {
                let mut u = [0u8; 32];
                u[0] = i;
                u
            })
            .filter(|u| MontgomeryPoint(*u).to_edwards(0).is_none())
            .take(3),
    );
    for u in twists {
        assert!(!x25519_prime_order(&u));
        let low = x25519([0x11; 32], u) == [0; 32];
        cases.push((
            u,
            if low {
                "NonContributory"
            } else {
                "Decode(InvalidKey)"
            },
        ));
    }
    let mut invalid_key_cases = 0;
    for (key, expect) in cases {
        let mut b = bundle.clone();
        b[146..178].copy_from_slice(&key);
        let (mut r1, mut r2) = (rng.clone(), rng.clone());
        let mine = MySession::initiate(&mut r1, &my_alice, &b, CTX)
            .map(|s| s.to_state())
            .map_err(|e| format!("{e:?}"));
        let theirs = Session::initiate(
            &mut r2,
            &alice,
            &PreKeyBundle::from_bytes(&b).unwrap(),
            Trust::FirstUse,
            &Config::new(CTX).allow_classical(),
        )
        .map(|s| s.to_bytes().unwrap().to_vec())
        .map_err(|e| format!("{e:?}"));
        assert_eq!(mine, theirs, "one-time prekey {}", hex::encode(key));
        assert_eq!(r1.clone().next_u64(), r2.next_u64());
        let got = mine.as_ref().map(|_| "ok").map_err(String::as_str);
        assert_eq!(got.unwrap_or_else(|e| e), expect, "{}", hex::encode(key));
        if mine.is_err() {
            // Only EK_A was drawn.
            let mut after_ek = rng.clone();
            let _: K32 = draw(&mut after_ek);
            assert_eq!(r1.next_u64(), after_ek.next_u64());
        }
        invalid_key_cases += usize::from(expect == "Decode(InvalidKey)");
    }
    assert!(invalid_key_cases >= 8);
}
