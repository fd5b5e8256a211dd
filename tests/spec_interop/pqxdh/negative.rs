//! PQXDH failures agree, and are those SPEC.md gives: a ciphertext for another KEM key
//! (`DecryptionFailed`, §4.5), a KEM prekey not held by use and id (`UnknownKemPreKey`, §7.3
//! step 3b, in its place among the other checks), KEM signatures over other bytes
//! (`InvalidSignature` before any draw), a downgrade to X3DH, the replay record with one-time
//! KEM prekeys (§4.5 Replay), and later prekey messages with other KEM fields (§7.4).

use super::{COMBOS, Scripted, fields_len, initiate, responder};
use crate::common::state_codec::{self as sc, Fmid, StoreBlob};
use crate::parties::{BobPre, Party};
use crate::reference::pq::{kem_encaps, kem_signed_bytes};
use crate::reference::primitives::{K32, LABEL_KEM_PREKEY, LABEL_SIGNED_PREKEY, draw};
use crate::reference::session::MySession;
use crate::reference::wire::{Ident, decode_bundle, encode_bundle, signed_bytes};
use crate::world::CTX;
use xchat_protocol::Session;

/// Both implementations' answer to `m` from the store `blob` (fresh each time): they must
/// agree, a failure must leave the store unchanged. Returns the answer and the store after.
fn respond_both(seed: &K32, blob: &[u8], m: &[u8]) -> (String, Vec<u8>) {
    let results: Vec<_> = BobPre::both(seed, blob)
        .into_iter()
        .map(|mut b| {
            let r = b.respond(m, CTX).map(|(_, pt)| pt);
            if r.is_err() {
                assert_eq!(b.store_state(), blob, "a failed respond changed the store");
            }
            (r, b.store_state())
        })
        .collect();
    assert_eq!(results[0], results[1], "the implementations differ");
    let (r, store) = results[0].clone();
    (r.map_or_else(|e| e, |_| "ok".into()), store)
}

/// Test N1: a ciphertext for another KEM key, KEM prekeys not held, the order of §7.3's steps
/// 2, 3, 3b and 4, and the first message downgraded to X3DH.
#[test]
fn kem_ciphertext_for_another_key_and_unknown_kem_prekeys() {
    let (mut rng, seed, bob) = responder(50, true);
    let blob = bob.store_state();
    let alice: K32 = draw(&mut rng);
    let mut first = |opk, kem| {
        let bundle = bob.bundle(opk, kem).unwrap();
        initiate(&mut rng, false, &alice, &bundle)
            .unwrap()
            .encrypt(&mut rng, b"x")
    };
    let m = first(None, Some(1));
    let m_opk = first(Some(0), Some(1));
    let at = fields_len(false) - 1573; // the KEM use byte
    let respond = |m: &[u8]| respond_both(&seed, &blob, m).0;
    let edit = |m: &[u8], f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = m.to_vec();
        f(&mut v);
        v
    };
    let name = |u: u8, id: u32| {
        move |v: &mut Vec<u8>| {
            v[at] = u;
            v[at + 1..at + 5].copy_from_slice(&id.to_be_bytes());
        }
    };
    // Another held key: decapsulation gives a pseudorandom SS, the message fails to open.
    assert_eq!(respond(&edit(&m, &name(1, 2))), "DecryptionFailed");
    assert_eq!(respond(&edit(&m, &name(0, 0))), "DecryptionFailed");
    // A valid ciphertext made for another key (by libcrux), naming either key.
    let pq2 = decode_bundle(&bob.bundle(None, Some(2)).unwrap())
        .unwrap()
        .kem
        .unwrap()
        .ek;
    let (ct2, _) = kem_encaps(&pq2, [7; 32]);
    let with_ct2 = edit(&m, &|v| v[at + 5..at + 5 + 1568].copy_from_slice(&ct2));
    assert_eq!(respond(&with_ct2), "DecryptionFailed");
    assert_eq!(respond(&edit(&with_ct2, &name(1, 2))), "DecryptionFailed");
    // Not held, by use and id (§7.3 step 3b).
    for (u, id) in [(1, 9), (0, 9), (0, 1), (0, 2), (1, 0)] {
        let want = format!("UnknownKemPreKey({id})");
        assert_eq!(respond(&edit(&m, &name(u, id))), want, "use {u}, id {id}");
    }
    // Steps 2 and 3 come first; step 3b comes before the DHs of step 4.
    let unknown_kem = name(1, 9);
    assert_eq!(
        respond(&edit(&m, &|v| {
            unknown_kem(v);
            v[69] = 7;
        })),
        "UnknownSignedPreKey(7)"
    );
    let unknown_opk = |v: &mut Vec<u8>| {
        v[71..75].copy_from_slice(&5u32.to_be_bytes());
        let at = at + 4;
        v[at + 1..at + 5].copy_from_slice(&9u32.to_be_bytes());
    };
    assert_eq!(
        respond(&edit(&m_opk, &unknown_opk)),
        "UnknownOneTimePreKey(5)"
    );
    let low_order = |v: &mut Vec<u8>| v[34..66].copy_from_slice(&[0; 32]);
    assert_eq!(
        respond(&edit(&m, &|v| {
            low_order(v);
            unknown_kem(v);
        })),
        "UnknownKemPreKey(9)"
    );
    assert_eq!(respond(&edit(&m, &low_order)), "NonContributory");
    // Downgraded to X3DH (version 0x01, the KEM fields removed): another SK.
    let mut x3dh = m[..at].to_vec();
    x3dh[0] = 0x01;
    x3dh.extend_from_slice(&m[fields_len(false)..]);
    assert_eq!(respond(&x3dh), "DecryptionFailed");
    // The genuine messages still establish their sessions.
    assert_eq!(respond(&m), "ok");
    assert_eq!(respond(&m_opk), "ok");
}

/// Test N2: a bundle whose KEM signature is over other bytes — §4.2's label, the other use,
/// the signed prekey's bytes — is `InvalidSignature` in both initiators, with no draw at all
/// (§4.5 step 1); so is a signed prekey signed with the KEM label.
#[test]
fn kem_signature_over_other_bytes_fails_on_both() {
    let (mut rng, seed, bob) = responder(51, false);
    let ident = Ident::new(seed);
    let alice: K32 = draw(&mut rng);
    for (opk, kem) in COMBOS {
        let b = decode_bundle(&bob.bundle(opk, kem).unwrap()).unwrap();
        let k = b.kem.clone().unwrap();
        let signed = kem_signed_bytes(k.usage, k.id, k.created_at, &k.ek);
        // Deterministic Ed25519: the bundle's signature is the one over exactly these bytes.
        assert_eq!(ident.sign(&signed), k.sig);
        let spk_bytes = signed_bytes(b.spk_id, b.created_at, &b.spk);
        let mut forged = vec![];
        let other_use = kem_signed_bytes(1 - k.usage, k.id, k.created_at, &k.ek);
        for msg in [
            [LABEL_SIGNED_PREKEY, &signed[LABEL_KEM_PREKEY.len()..]].concat(),
            other_use,
            [&signed[..28], &signed[29..]].concat(), // without the KEM type byte
            spk_bytes.clone(),
        ] {
            let mut x = b.clone();
            x.kem.as_mut().unwrap().sig = ident.sign(&msg);
            forged.push(x);
        }
        let mut x = b.clone();
        x.kem.as_mut().unwrap().sig = b.sig;
        forged.push(x);
        // The signed prekey signed with the KEM label, its own bytes after it.
        let mut x = b.clone();
        x.sig = ident.sign(&[LABEL_KEM_PREKEY, &spk_bytes[LABEL_SIGNED_PREKEY.len()..]].concat());
        forged.push(x);
        for x in forged {
            let bytes = encode_bundle(&x);
            for crate_alice in [true, false] {
                let mut no_draws = Scripted::new(&[]);
                let r = initiate(&mut no_draws, crate_alice, &alice, &bytes);
                assert_eq!(r.err().unwrap(), "InvalidSignature", "crate {crate_alice}");
            }
        }
    }
}

/// Test N3: a signed prekey whose record is full (§4.3) refuses a first message that used
/// neither one-time key, and accepts — without recording — one protected by a one-time X25519
/// or KEM prekey (§4.5 Replay, §7.3 steps 5 and 8).
#[test]
fn full_record_and_one_time_kem_prekeys() {
    let (mut rng, seed, bob) = responder(52, true);
    let mut ids: Vec<Fmid> = (0..4096).map(|_| draw(&mut rng)).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4096);
    let full = sc::edit_store(&bob.store_state(), |s| s.signed[0].accepted = ids.clone());
    let alice: K32 = draw(&mut rng);
    let mut first = |opk, kem| {
        let bundle = bob.bundle(opk, kem).unwrap();
        initiate(&mut rng, true, &alice, &bundle)
            .unwrap()
            .encrypt(&mut rng, b"x")
    };
    let (r, _) = respond_both(&seed, &full, &first(None, None));
    assert_eq!(r, "SignedPreKeyFull(0)");
    for (opk, kem) in [(None, Some(1)), (Some(0), None), (Some(1), Some(2))] {
        let (r, after) = respond_both(&seed, &full, &first(opk, kem));
        assert_eq!(r, "ok", "{opk:?} {kem:?}");
        let (_, s) = StoreBlob::decode(&after).unwrap();
        assert_eq!(s.signed[0].accepted, ids, "nothing recorded");
    }
}

/// Both implementations of one session blob.
fn sessions(blob: &[u8]) -> [Party; 2] {
    [
        Party::Mine(Box::new(MySession::from_state(blob).unwrap()), None),
        Party::Crate(Box::new(Session::from_bytes(blob).unwrap())),
    ]
}

/// Test N4 (§7.4): a later prekey message of a PQXDH session is accepted only with all its
/// prekey fields — the version, the KEM use, id and ciphertext included; else `SessionMismatch`.
#[test]
fn later_prekey_messages_with_other_kem_fields_mismatch() {
    let (mut rng, _, mut bob) = responder(53, false);
    let alice: K32 = draw(&mut rng);
    let bundle = bob.bundle(None, None).unwrap();
    let mut a = initiate(&mut rng, true, &alice, &bundle).unwrap();
    let (a0, a1) = (a.encrypt(&mut rng, b"0"), a.encrypt(&mut rng, b"1"));
    let (b, _) = bob.respond(&a0, CTX).unwrap();
    let blob = b.state();
    let at = fields_len(false) - 1573;
    let mut x3dh = a1[..at].to_vec();
    x3dh[0] = 0x01;
    x3dh.extend_from_slice(&a1[fields_len(false)..]);
    let flip = |i: usize| {
        let mut v = a1.clone();
        v[i] ^= 0x01;
        v
    };
    for m in [flip(at), flip(at + 4), flip(at + 5), flip(at + 1000), x3dh] {
        for mut s in sessions(&blob) {
            assert_eq!(s.decrypt(&m).unwrap_err(), "SessionMismatch");
            assert_eq!(s.state(), blob);
        }
    }
    for mut s in sessions(&blob) {
        assert_eq!(s.decrypt(&a1).unwrap(), b"1");
        // An initiator never accepts a prekey message.
        let mut initiator = sessions(&a.state())
            .into_iter()
            .nth(usize::from(s.is_crate()))
            .unwrap();
        assert_eq!(initiator.decrypt(&a1).unwrap_err(), "SessionMismatch");
    }
}
