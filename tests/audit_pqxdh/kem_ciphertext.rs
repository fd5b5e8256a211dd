//! KEM ciphertext substitution and re-encapsulation (SPEC.md §3.1b, §4.5 "Responder", §12 item
//! 15): a relay that alters the ciphertext, replaces it by its own encapsulation (so it knows the
//! new `SS`), replays another first message's ciphertext, or renames the KEM prekey so that the
//! ciphertext is decapsulated by a key it was not made for. ML-KEM rejects implicitly, so every one
//! of these gives a pseudorandom `SS`; the only acceptable outcome is `DecryptionFailed` with the
//! store unchanged. The independent responder of `derive` is the positive control.

use xchat_protocol::{Error, IdentityKeyPair, KemUse, Session};

use crate::common::rng;
use crate::common::state_codec::StoreBlob;
use crate::derive;
use crate::support::{
    COMBOS, NOW, classical, ct_range, first, flip, kem_id_range, kem_use_at, pq, responder, with,
};

#[test]
fn held_a_substituted_or_re_encapsulated_ciphertext_fails_and_changes_nothing() {
    for (n, keys) in COMBOS.into_iter().enumerate() {
        let mut r = rng(70 + n as u8);
        let mut bob = responder(&mut r);
        let alice = IdentityKeyPair::generate(&mut r);
        let carol = IdentityKeyPair::generate(&mut r);
        let bundle = bob.bundle(keys, 0);
        let (_a, m) = first(&mut r, &alice, &bundle);
        let (_c, m_carol) = first(&mut r, &carol, &bundle);
        // A second last-resort KEM prekey, so that one can be renamed into the other.
        let newer = bob.store.rotate_kem_prekey(&mut r, &bob.id, NOW + 1000);
        let opk = keys.opk;
        let ct = ct_range(opk);
        let key = bundle.kem_prekey.clone().unwrap().key;
        let own = key.encapsulate(&mut r).0;
        let for_other = bob
            .store
            .bundle_with_kem_one_time(&bob.id, None, bob.kem_ids[3])
            .unwrap()
            .kem_prekey
            .unwrap()
            .key
            .encapsulate(&mut r)
            .0;
        let rename = |usage: KemUse, id: u32| {
            let mut out = with(&m, kem_id_range(opk), &id.to_be_bytes());
            out[kem_use_at(opk)] = usage.byte();
            out
        };
        let mut attempts = vec![
            ("first CT byte", flip(&m, ct.start, 0x01)),
            ("middle CT byte", flip(&m, ct.start + 784, 0x80)),
            ("last CT byte", flip(&m, ct.end - 1, 0x01)),
            (
                "the relay's own encapsulation",
                with(&m, ct.clone(), own.as_bytes()),
            ),
            (
                "a CT for another key",
                with(&m, ct.clone(), for_other.as_bytes()),
            ),
            (
                "another message's CT",
                with(&m, ct.clone(), &m_carol[ct.clone()]),
            ),
            ("all-zero CT", with(&m, ct.clone(), &[0; 1568])),
            ("all-0xFF CT", with(&m, ct.clone(), &[0xFF; 1568])),
            (
                "renamed: the newer last-resort key",
                rename(KemUse::LastResort, newer.id),
            ),
            (
                "renamed: a one-time key",
                rename(KemUse::OneTime, bob.kem_ids[3]),
            ),
        ];
        if keys.kem_one_time {
            attempts.push((
                "renamed: the older last-resort key",
                rename(KemUse::LastResort, bob.last_resort),
            ));
        }
        let before = bob.store_bytes();
        for (what, attempt) in &attempts {
            let got = Session::accept(&bob.id, &mut bob.store, attempt, &pq(), NOW).map(|_| ());
            assert_eq!(got, Err(Error::DecryptionFailed), "{keys:?}: {what}");
            let got = Session::respond(&bob.id, &mut bob.store, attempt, &classical()).map(|_| ());
            assert_eq!(got, Err(Error::DecryptionFailed), "{keys:?}: {what}");
            assert_eq!(bob.store_bytes(), before, "{keys:?}: {what}");
        }
        Session::accept(&bob.id, &mut bob.store, &m, &pq(), NOW).unwrap();
    }
}

/// The independent responder (SPEC.md only, libcrux's ML-KEM) opens every first message with the
/// KEM prekey it names — SPEC.md §3.1b's transcript is exactly what the library binds — and with
/// no other KEM seed of the store: a ciphertext opens only under the key it was made for, and a
/// key's `SS` under another key's name is useless (its id and use are in the transcript).
#[test]
fn held_only_the_named_kem_prekey_opens_a_first_message() {
    let mut r = rng(75);
    let bob = responder(&mut r);
    let (_, store) = StoreBlob::decode(&bob.store_bytes()).unwrap();
    let seed = *bob.id.seed();
    let alice = IdentityKeyPair::generate(&mut r);
    for (n, keys) in COMBOS.into_iter().enumerate() {
        let (_a, m) = first(&mut r, &alice, &bob.bundle(keys, n));
        let p = derive::parse(&m);
        let mut opened = 0;
        for (usage, id, kem_seed) in derive::kem_seeds(&store) {
            let sk = derive::responder_sk(&seed, &store, &p, &kem_seed).unwrap();
            let named = usage == p.kem_use && id == p.kem_id;
            let got = derive::open_with_sk(&sk, &seed, &store, &p, crate::support::CTX);
            assert_eq!(got.is_some(), named, "{keys:?}: KEM prekey ({usage}, {id})");
            opened += usize::from(got.is_some());
        }
        assert_eq!(opened, 1, "{keys:?}");
    }
}
