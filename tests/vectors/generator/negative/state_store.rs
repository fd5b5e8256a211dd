//! Identity blobs (SPEC.md §10.0, §10.1) and prekey-store blobs (§10.2), made with the shared
//! reference codec; bytes it cannot express are patched into the body and resealed.

use super::super::shared::blob;
use super::super::state_codec::{self, KIND_IDENTITY, KIND_STORE, OneTimePreKey, VERSION, seal};
use super::super::state_fields::parse_store;
use super::fixture::Fixture;
use super::harness::{Neg, with};
use super::points::Points;

/// Identity and prekey-store blobs (§10.0–§10.2).
pub(super) fn identity_and_store(neg: &mut Neg, fx: &Fixture) {
    let Fixture {
        alice, store_seen, ..
    } = fx;
    let Points { p, .. } = Points::new();
    let id_blob = blob(alice.to_bytes());
    let idf = "IdentityKeyPair::from_bytes";
    let body = state_codec::open(KIND_IDENTITY, &id_blob)
        .expect("an identity blob")
        .1
        .to_vec();
    neg.decode(
        "identity blob: 15 bytes",
        "§10.0",
        idf,
        &id_blob[..15],
        "Truncated",
    );
    neg.decode(
        "identity blob: prekey store kind",
        "§10.0",
        idf,
        &seal(KIND_STORE, 1, &body),
        "UnknownType(17)",
    );
    neg.decode(
        "identity blob: version 2",
        "§10.0",
        idf,
        &seal(KIND_IDENTITY, 2, &body),
        "UnknownVersion(2)",
    );
    neg.decode(
        "identity blob: flipped seed bit",
        "§10.0",
        idf,
        &with(&id_blob, |v| v[5] ^= 1),
        "ChecksumMismatch",
    );
    neg.decode(
        "identity blob: flipped check bit",
        "§10.0",
        idf,
        &with(&id_blob, |v| v[49] ^= 1),
        "ChecksumMismatch",
    );
    neg.decode(
        "identity blob: 33-byte body",
        "§10.0",
        idf,
        &seal(KIND_IDENTITY, 1, &with(&body, |v| v.push(0))),
        "TrailingBytes",
    );
    neg.decode(
        "identity blob: 31-byte body",
        "§10.1",
        idf,
        &seal(KIND_IDENTITY, 1, &body[..31]),
        "Truncated",
    );

    let sf = "PreKeyStore::from_bytes";
    let base = parse_store(store_seen);
    assert!(base.one_time.len() == 1 && base.signed[0].accepted.len() == 1);
    let mut extra_signed = base.clone();
    let first = extra_signed.signed[0].clone();
    for id in 1..4 {
        let mut k = first.clone();
        k.id = id;
        extra_signed.signed.push(k);
    }
    neg.decode(
        "store blob: flipped byte",
        "§10.0",
        sf,
        &with(store_seen, |v| v[10] ^= 1),
        "ChecksumMismatch",
    );
    neg.decode(
        "store blob: four signed prekeys",
        "§10.2",
        sf,
        &extra_signed.encode_v3(),
        "NonCanonical",
    );
    let mut dup_signed = base.clone();
    dup_signed.signed.push(first);
    neg.decode(
        "store blob: duplicate signed prekey id",
        "§10.2",
        sf,
        &dup_signed.encode_v3(),
        "NonCanonical",
    );
    let mut unordered = base.clone();
    let key = unordered.one_time[0].key;
    unordered.one_time.insert(0, OneTimePreKey { id: 5, key });
    neg.decode(
        "store blob: one-time ids not increasing",
        "§10.2",
        sf,
        &unordered.encode_v3(),
        "NonCanonical",
    );
    let mut dup_one_time = base.clone();
    dup_one_time.one_time.push(dup_one_time.one_time[0].clone());
    neg.decode(
        "store blob: duplicate one-time id",
        "§10.2",
        sf,
        &dup_one_time.encode_v3(),
        "NonCanonical",
    );
    let mut unordered_ids = base.clone();
    unordered_ids.signed[0].accepted.insert(0, [0xFF; 16]);
    neg.decode(
        "store blob: accepted first-message ids not increasing",
        "§10.2",
        sf,
        &unordered_ids.encode_v3(),
        "NonCanonical",
    );
    let mut dup_ids = base.clone();
    let id0 = dup_ids.signed[0].accepted[0];
    dup_ids.signed[0].accepted.push(id0);
    neg.decode(
        "store blob: duplicate accepted first-message id",
        "§10.2",
        sf,
        &dup_ids.encode_v3(),
        "NonCanonical",
    );
    let mut many_ids = base.clone();
    many_ids.signed[0].accepted = (0..4097u32)
        .map(|i| {
            let mut id = [0u8; 16];
            id[12..].copy_from_slice(&i.to_be_bytes());
            id
        })
        .collect();
    neg.decode(
        "store blob: 4097 accepted first-message ids",
        "§10.2",
        sf,
        &many_ids.encode_v3(),
        "NonCanonical",
    );
    let mut body = base.body_v3();
    let n = body.len() - 68 - 4;
    body[n..n + 4].copy_from_slice(&65_537u32.to_be_bytes());
    neg.decode(
        "store blob: one-time count 65537",
        "§10.2",
        sf,
        &seal(KIND_STORE, VERSION, &body),
        "NonCanonical",
    );
    let mut unclamped = base.clone();
    unclamped.signed[0].key.secret[0] |= 7;
    neg.decode(
        "store blob: signed prekey secret not clamped",
        "§10.0, §10.2",
        sf,
        &unclamped.encode_v3(),
        "NonCanonical",
    );
    let mut unclamped = base.clone();
    unclamped.one_time[0].key.secret[31] |= 0x80;
    neg.decode(
        "store blob: one-time prekey secret not clamped",
        "§10.0, §10.2",
        sf,
        &unclamped.encode_v3(),
        "NonCanonical",
    );
    neg.decode(
        "store blob: version 5",
        "§10.0",
        sf,
        &seal(KIND_STORE, 5, &base.body_v3()),
        "UnknownVersion(5)",
    );
    neg.decode(
        "store blob: version 4 without its KEM part",
        "§10.2",
        sf,
        &seal(KIND_STORE, 4, &base.body_v3()),
        "Truncated",
    );
    let mut body = base.body_v3();
    let n = body.len() - 32;
    body[n..].copy_from_slice(&p);
    neg.decode(
        "store blob: stored one-time public key u = p",
        "§10.0, §10.2",
        sf,
        &seal(KIND_STORE, VERSION, &body),
        "InvalidKey",
    );
    let mut unclamped = base.clone();
    unclamped.one_time[0].key.secret[0] |= 1;
    neg.decode(
        "store blob, version 2: one-time prekey secret not clamped",
        "§10.0, §10.2",
        sf,
        &unclamped.encode_v2(),
        "NonCanonical",
    );
    neg.decode(
        "store blob, version 1: seen base key u = p",
        "§10.2",
        sf,
        &base.encode_v1(&[p]),
        "InvalidKey",
    );
    let mut body = state_codec::body(&base.encode_v1(&[])).to_vec();
    let n = body.len();
    body[n - 4..].copy_from_slice(&1025u32.to_be_bytes());
    neg.decode(
        "store blob, version 1: seen count 1025",
        "§10.2",
        sf,
        &seal(KIND_STORE, 1, &body),
        "NonCanonical",
    );
    neg.decode(
        "store blob: trailing byte",
        "§10.0",
        sf,
        &seal(KIND_STORE, VERSION, &with(&base.body_v3(), |v| v.push(0))),
        "TrailingBytes",
    );
    let full = base.body_v3();
    neg.decode(
        "store blob: body cut inside the one-time keys",
        "§10.0",
        sf,
        &seal(KIND_STORE, VERSION, &full[..full.len() - 1]),
        "Truncated",
    );
}
