//! Version-4 state (§10.2, §10.3 row 8b): the library's blobs decode with the reference codec
//! and re-encode to the same bytes, and every decode rule of version 4 gives the same result in
//! both implementations, the one SPEC.md gives, in SPEC.md's order.

use super::{initiate, responder};
use crate::common::state_codec::{self as sc, KIND_SESSION, KIND_STORE, SessionBlob, StoreBlob};
use crate::common::state_codec::{VERSION_PQ, seal as envelope};
use crate::reference::primitives::{K32, draw};
use crate::reference::store::MyBob;
use crate::reference::wire::Ident;
use crate::support::{Cases, NC, OK, TB, TR, load_session_both};
use crate::world::CTX;
use xchat_protocol::PreKeyStore;

/// The KEM state of a store being edited (test helper).
fn kem(x: &mut StoreBlob) -> &mut sc::KemStore {
    x.kem.as_mut().unwrap()
}

/// Test V1: prekey store version 4 (§10.2).
#[test]
fn store_version_4_decode_rules_agree() {
    let (_, seed, bob) = responder(57, true);
    let valid = bob.store_state();
    let (v, s) = StoreBlob::decode(&valid).unwrap();
    assert_eq!((v, s.encode()), (VERSION_PQ, valid.clone()));
    let k = s.kem.clone().unwrap();
    let body = sc::body(&valid).to_vec();
    // Offsets in the body: the KEM part follows version 3's fields.
    let v3_body = StoreBlob {
        kem: None,
        ..s.clone()
    }
    .body_v3();
    let v3_len = v3_body.len();
    assert_eq!(body[..v3_len], v3_body[..]);
    let (k_at, q_at) = (v3_len + 4, v3_len + 4 + 1 + 140);
    assert_eq!(
        (body[k_at], body[q_at..q_at + 4].to_vec()),
        (1, vec![0, 0, 0, 2])
    );
    assert_eq!(body.len(), q_at + 4 + 2 * 140);

    let mut cases = Cases::default();
    let edit = |f: &dyn Fn(&mut StoreBlob)| {
        let mut x = s.clone();
        f(&mut x);
        x
    };
    cases.raw("valid", valid.clone(), OK);
    let lr = k.last_resort[0].clone();
    let with_id = |id: u32| sc::StoredKemPreKey { id, ..lr.clone() };
    cases.raw(
        "3 last-resort",
        edit(&|x| kem(x).last_resort.extend([with_id(9), with_id(10)])).encode(),
        OK,
    );
    cases.raw(
        "4 last-resort",
        edit(&|x| {
            kem(x)
                .last_resort
                .extend([with_id(9), with_id(10), with_id(11)])
        })
        .encode(),
        NC,
    );
    cases.raw(
        "one-time ids decreasing",
        edit(&|x| kem(x).one_time.reverse()).encode(),
        NC,
    );
    cases.raw(
        "one-time id repeated",
        edit(&|x| kem(x).one_time[1].id = 1).encode(),
        NC,
    );
    cases.raw(
        "one id in both lists",
        edit(&|x| kem(x).last_resort[0].id = 2).encode(),
        NC,
    );
    cases.raw(
        "last-resort id repeated",
        edit(&|x| kem(x).last_resort.push(with_id(0))).encode(),
        NC,
    );
    cases.raw(
        "last-resort ids in any order",
        edit(&|x| kem(x).last_resort.insert(0, with_id(9))).encode(),
        OK,
    );
    cases.raw(
        "next_kem_id 0 with keys",
        edit(&|x| kem(x).next_kem_id = 0).encode(),
        OK,
    );
    cases.raw(
        "next_kem_id below the ids",
        edit(&|x| kem(x).next_kem_id = 1).encode(),
        OK,
    );
    let none_left = |x: &mut StoreBlob| {
        kem(x).last_resort.clear();
        kem(x).one_time.clear();
    };
    cases.raw("no KEM prekey left", edit(&none_left).encode(), OK);
    let zero = edit(&|x| x.kem = Some(sc::KemStore::default()));
    cases.raw("second encoding of version 3", zero.encode(), NC);
    assert_eq!(zero.encode(), edit(&|x| x.kem = None).encode_v4());
    cases.raw(
        "any seed",
        edit(&|x| kem(x).one_time[0].seed = [0; 64]).encode(),
        OK,
    );
    cases.raw(
        "signature not verified",
        edit(&|x| kem(x).last_resort[0].signature = [0; 64]).encode(),
        OK,
    );
    cases.raw(
        "created_at 2^64 − 1",
        edit(&|x| kem(x).one_time[1].created_at = u64::MAX).encode(),
        OK,
    );
    // Counts, checked as soon as read.
    cases.patch("k = 4, no more entries", &valid, NC, |b| b[k_at] = 4);
    cases.patch("k = 255", &valid, NC, |b| b[k_at] = 0xFF);
    cases.patch("q = 4097", &valid, NC, |b| {
        b[q_at..q_at + 4].copy_from_slice(&4097u32.to_be_bytes())
    });
    cases.patch("q = 4096, entries missing", &valid, TR, |b| {
        b[q_at..q_at + 4].copy_from_slice(&4096u32.to_be_bytes())
    });
    cases.patch("q = 3, one entry missing", &valid, TR, |b| b[q_at + 3] = 3);
    // Cut anywhere in the KEM part; trailing bytes.
    for len in v3_len..body.len() {
        let name: &str = format!("cut at {len}").leak();
        cases.raw(name, envelope(KIND_STORE, VERSION_PQ, &body[..len]), TR);
    }
    cases.patch("trailing byte", &valid, TB, |b| b.push(0));
    // The checks "once the whole body is read" come before TrailingBytes (the position of the
    // repeated signed-prekey id relative to the KEM part: `store_v4_check_order_follows_spec`).
    let mut dup_spk = s.clone();
    dup_spk.signed.push(dup_spk.signed[0].clone());
    cases.raw("signed id repeated", dup_spk.encode(), NC);
    let dup_trailing = [dup_spk.body_v4(), vec![0]].concat();
    cases.raw(
        "signed id repeated, trailing byte",
        envelope(KIND_STORE, VERSION_PQ, &dup_trailing),
        NC,
    );
    cases.raw(
        "zero KEM state, trailing byte",
        envelope(KIND_STORE, VERSION_PQ, &[zero.body_v4(), vec![0]].concat()),
        NC,
    );
    let dup_kem = edit(&|x| kem(x).last_resort[0].id = 1).body_v4();
    cases.raw(
        "KEM id repeated, trailing byte",
        envelope(KIND_STORE, VERSION_PQ, &[dup_kem, vec![0]].concat()),
        NC,
    );
    // The id order relates an entry to the previous one: checked once that entry is read.
    let unordered = edit(&|x| {
        kem(x).one_time.reverse();
        kem(x).one_time.push(with_id(7));
    });
    let ub = unordered.body_v4();
    cases.raw(
        "one-time ids decreasing, cut in the next entry",
        envelope(KIND_STORE, VERSION_PQ, &ub[..ub.len() - 1]),
        NC,
    );
    // Relabelled: version 3's layout ends before the KEM part.
    cases.raw(
        "v4 body labelled v3",
        envelope(KIND_STORE, sc::VERSION, &body),
        TB,
    );
    cases.run(load_store_both(seed));
}

/// The re-saved bytes, or the error, from (the independent implementation, the crate).
type Loaded = (Result<Vec<u8>, String>, Result<Vec<u8>, String>);

/// Both implementations' re-saved store, or error, for the identity with `seed`.
fn load_store_both(seed: K32) -> impl Fn(&[u8]) -> Loaded {
    move |blob| {
        let mine = MyBob::load_store(Ident::new(seed), blob)
            .map(|s| s.store_state())
            .map_err(|e| format!("{e:?}"));
        let theirs = PreKeyStore::from_bytes(blob)
            .map(|s| s.to_bytes().unwrap().to_vec())
            .map_err(|e| format!("{e:?}"));
        (mine, theirs)
    }
}

/// Test V1e: a check position where the library departs from SPEC.md as written. This test
/// asserts SPEC.md and fails against the library until one of the two changes.
///
/// §10.2 version 3: "two signed prekeys with one id → `NonCanonical` (checked once the whole
/// body is read, before `TrailingBytes`)"; version 4 is "version 0x03's fields, then" the KEM
/// part, whose own checks are also made "once the whole body is read". So in a version-4 blob
/// the repeated signed-prekey id is checked after the KEM part is read, and a blob with one,
/// cut inside the KEM part, is `Truncated`. The library checks it at the end of the version-3
/// fields, before reading the KEM part (`NonCanonical`).
#[test]
fn store_v4_check_order_follows_spec() {
    let (_, seed, bob) = responder(57, true);
    let (_, mut s) = StoreBlob::decode(&bob.store_state()).unwrap();
    s.signed.push(s.signed[0].clone());
    let body = s.body_v4();
    let mut cases = Cases::default();
    for cut in [1, 141, 281] {
        let blob = envelope(KIND_STORE, VERSION_PQ, &body[..body.len() - cut]);
        cases.raw("signed id repeated, cut in the KEM part", blob, TR);
    }
    cases.run(load_store_both(seed));
}

/// Test V2: session version 4 (§10.3 row 8b), from the library's PQXDH sessions — a responder
/// (open phase, with a one-time prekey) and an initiator in its opening phase.
#[test]
fn session_version_4_decode_rules_agree() {
    let (mut rng, _, mut bob) = responder(58, true);
    let alice: K32 = draw(&mut rng);
    let bundle = bob.bundle(Some(0), Some(1)).unwrap();
    let mut a = initiate(&mut rng, true, &alice, &bundle).unwrap();
    let first = a.encrypt(&mut rng, b"x");
    let (b, _) = bob.respond(&first, CTX).unwrap();
    let mut cases = Cases::default();
    for (who, blob, opk) in [("responder", b.state(), 4), ("initiator", a.state(), 4)] {
        let (v, s) = SessionBlob::decode(&blob).unwrap();
        assert_eq!((v, s.encode()), (VERSION_PQ, blob.clone()));
        let kem = s.kem.clone().unwrap();
        assert_eq!((kem.usage, kem.id), (1, 1));
        assert_eq!(kem.ct, first[80..80 + 1568]);
        let at = 1 + 64 + 2 + s.context.len() + 32 + 4 + 1 + opk; // row 8b
        let body = sc::body(&blob).to_vec();
        assert_eq!(body[at..at + 1573], kem.to_bytes()[..]);
        let name = |what: &str| -> &'static str { format!("{who}: {what}").leak() };
        cases.raw(name("valid"), blob.clone(), OK);
        for u in [0x02, 0x80, 0xFF] {
            cases.patch(name("use byte"), &blob, NC, |b| b[at] = u);
            cases.patch(name("use byte, cut after it"), &blob, NC, |b| {
                b[at] = u;
                b.truncate(at + 1);
            });
        }
        cases.patch(name("the other use"), &blob, OK, |b| b[at] = 0);
        cases.patch(name("any id"), &blob, OK, |b| {
            b[at + 1..at + 5].copy_from_slice(&[0xFF; 4])
        });
        cases.patch(name("any ciphertext"), &blob, OK, |b| {
            b[at + 5..at + 1573].copy_from_slice(&[0; 1568])
        });
        for cut in [at, at + 1, at + 4, at + 5, at + 800, at + 1572] {
            cases.patch(name("cut in row 8b"), &blob, TR, |b| b.truncate(cut));
        }
        // The rows after 8b keep their rules (row 9's start byte, row 1's phase).
        cases.patch(name("timer start 2"), &blob, NC, |b| b[at + 1573 + 4] = 2);
        cases.patch(name("phase 3"), &blob, NC, |b| b[0] = 3);
        cases.patch(name("trailing byte"), &blob, TB, |b| b.push(0));
        // Without row 8b as version 3: other rows, decoded as such.
        let v3 = [&body[..at], &body[at + 1573..]].concat();
        cases.raw(
            name("row 8b removed, as v3"),
            envelope(KIND_SESSION, sc::VERSION, &v3),
            OK,
        );
        cases.raw(
            name("v4 body labelled v3"),
            envelope(KIND_SESSION, sc::VERSION, &body),
            None,
        );
        cases.raw(
            name("v4 body labelled v2"),
            envelope(KIND_SESSION, 0x02, &body),
            None,
        );
    }
    cases.run(load_session_both);
}
