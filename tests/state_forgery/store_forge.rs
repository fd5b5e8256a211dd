//! Forging a prekey store blob (SPEC.md §10.2 rows): the edits, the versions it is written in,
//! byte patches, and the runs a store must refuse.

use std::collections::HashSet;

use proptest::prelude::*;

use crate::common::state_codec::{self as codec, K32, StoreBlob, clamp};
use crate::store_stage::{FirstMsg, Run, StoreStage};
use crate::support::{
    ByteMut, K, ListEdit, V, apply_bytes, k, list_edit, nth, pick, put_u32, u32_at, unclamp, v,
};

/// An edit of a signed prekey (§10.2).
#[derive(Clone, Debug)]
pub(crate) enum SpkEdit {
    Id(V),
    Created(u64),
    /// The secret := key `j`'s (signed, then one-time), the public key kept: a mismatched pair.
    Secret(usize),
    /// The key pair := key `j`'s.
    Pair(usize),
    RawSecret(K32),
    /// A stored public key that is not the secret's.
    Public(K),
    Sig(usize),
    Accepted(ListEdit),
    AccInsert([u8; 16]),
    /// Records first message `msg` (its real id under this key).
    AccInsertReal(usize),
    /// The record := signed prekey `j`'s, which loses it.
    AccMove(usize),
    /// Fills the record to `n` ids (sorted).
    AccFill(u16),
}

/// An edit of a one-time prekey.
#[derive(Clone, Debug)]
pub(crate) enum OtEdit {
    Id(V),
    Secret(usize),
    Pair(usize),
    Public(K),
}

/// Byte patches of a store body.
#[derive(Clone, Debug)]
pub(crate) enum PPatch {
    SignedCount(u8),
    AccCount(usize, u16),
    OtCount(V),
    SeenCount(V),
    Trailing(u8),
}

/// A structured edit of a prekey store (SPEC.md §10.2 rows).
#[derive(Clone, Debug)]
pub(crate) enum PMut {
    NextSigned(V),
    NextOneTime(V),
    Signed(ListEdit),
    Spk(usize, SpkEdit),
    OneTime(ListEdit),
    Ot(usize, OtEdit),
    /// A new one-time prekey (a consistent pair) with id `V`.
    OtInsert(V, K32),
    /// A secret (signed prekey `i`, or one-time prekey `i − count`) in an unclamped encoding of
    /// the same key: refused from version 2 on (SPEC.md §10.0).
    Unclamp(usize, u8),
    Patch(PPatch),
}

/// The version a forged store is written in. Version 1 has no records; its seen list holds the
/// base keys of the first messages the store records (when `real`) and `extra` keys; with
/// `unclamp`, every secret is in an unclamped encoding of the same key, as version 1 stored them.
#[derive(Clone, Debug)]
pub(crate) enum StoreForm {
    V3,
    V2,
    V1 {
        real: bool,
        extra: Vec<K>,
        unclamp: Option<u8>,
    },
}

pub(crate) fn store_form() -> impl Strategy<Value = StoreForm> {
    let extra = prop_oneof![
        any::<K32>().prop_map(K::Random),
        Just(K::Zero),
        Just(K::One),
        Just(K::TopBit),
        any::<usize>().prop_map(K::Peer),
    ];
    let v1 = (
        any::<bool>(),
        prop::collection::vec(extra, 0..3),
        prop::option::of(any::<u8>()),
    );
    prop_oneof![
        5 => Just(StoreForm::V3),
        2 => Just(StoreForm::V2),
        3 => v1.prop_map(|(real, extra, unclamp)| StoreForm::V1 { real, extra, unclamp }),
    ]
}

/// A small id, likely to collide with a held one, or a boundary value.
fn id_value() -> impl Strategy<Value = V> {
    prop_oneof![3 => (0u32..8).prop_map(V::Abs), 2 => v()]
}

pub(crate) fn pmut() -> impl Strategy<Value = PMut> {
    let ix = any::<usize>;
    let spk = prop_oneof![
        3 => id_value().prop_map(SpkEdit::Id),
        1 => any::<u64>().prop_map(SpkEdit::Created),
        2 => (0usize..10).prop_map(SpkEdit::Secret),
        2 => (0usize..10).prop_map(SpkEdit::Pair),
        1 => any::<K32>().prop_map(SpkEdit::RawSecret),
        2 => k().prop_map(SpkEdit::Public),
        1 => ix().prop_map(SpkEdit::Sig),
        5 => list_edit().prop_map(SpkEdit::Accepted),
        1 => any::<[u8; 16]>().prop_map(SpkEdit::AccInsert),
        3 => ix().prop_map(SpkEdit::AccInsertReal),
        2 => ix().prop_map(SpkEdit::AccMove),
        1 => prop_oneof![Just(4095u16), Just(4096), Just(4097)].prop_map(SpkEdit::AccFill),
    ];
    let ot = prop_oneof![
        2 => id_value().prop_map(OtEdit::Id),
        1 => (0usize..10).prop_map(OtEdit::Secret),
        1 => (0usize..10).prop_map(OtEdit::Pair),
        2 => k().prop_map(OtEdit::Public),
    ];
    let acc_count = prop_oneof![0u16..4, Just(4096), Just(4097), Just(u16::MAX)];
    let patch = prop_oneof![
        prop_oneof![0u8..=4, Just(255)].prop_map(PPatch::SignedCount),
        (ix(), acc_count).prop_map(|(i, n)| PPatch::AccCount(i, n)),
        v().prop_map(PPatch::OtCount),
        prop_oneof![Just(V::Abs(1024)), Just(V::Abs(1025)), v()].prop_map(PPatch::SeenCount),
        any::<u8>().prop_map(PPatch::Trailing),
    ];
    prop_oneof![
        2 => id_value().prop_map(PMut::NextSigned),
        2 => id_value().prop_map(PMut::NextOneTime),
        4 => list_edit().prop_map(PMut::Signed),
        24 => (ix(), spk).prop_map(|(i, e)| PMut::Spk(i, e)),
        3 => list_edit().prop_map(PMut::OneTime),
        6 => (ix(), ot).prop_map(|(i, e)| PMut::Ot(i, e)),
        2 => (id_value(), any::<K32>()).prop_map(|(i, x)| PMut::OtInsert(i, x)),
        1 => (0usize..10, any::<u8>()).prop_map(|(i, u)| PMut::Unclamp(i, u)),
        5 => patch.prop_map(PMut::Patch),
    ]
}

/// Deterministic, distinct, pseudo-random first-message ids.
fn filler_id(n: u32) -> [u8; 16] {
    use sha2::Digest;
    let h = sha2::Sha256::digest(n.to_be_bytes());
    h[..16].try_into().unwrap()
}

fn insert_sorted(acc: &mut Vec<[u8; 16]>, id: [u8; 16]) {
    if let Err(at) = acc.binary_search(&id) {
        acc.insert(at, id);
    }
}

pub(crate) fn apply_store(s: &mut StoreBlob, st: &StoreStage, m: &PMut, patches: &mut Vec<PPatch>) {
    let signed = s.signed.iter().map(|k| k.key);
    let pairs: Vec<codec::KeyPair> = signed.chain(s.one_time.iter().map(|k| k.key)).collect();
    let publics: Vec<K32> = pairs.iter().map(|p| p.public).collect();
    let bases: Vec<K32> = st.msgs.iter().map(|m| m.base).collect();
    let source = |j: usize| pairs[j % pairs.len()];
    match m {
        PMut::NextSigned(x) => s.next_signed_id = x.at(s.next_signed_id, &[]),
        PMut::NextOneTime(x) => s.next_one_time_id = x.at(s.next_one_time_id, &[]),
        PMut::Signed(e) => e.apply(&mut s.signed),
        PMut::Spk(i, SpkEdit::AccMove(j)) => {
            if let (Some(i), Some(j)) = (pick(&s.signed, *i), pick(&s.signed, *j)) {
                s.signed[j].accepted = std::mem::take(&mut s.signed[i].accepted);
            }
        }
        PMut::Spk(i, edit) => {
            let Some(k) = nth(&mut s.signed, *i) else {
                return;
            };
            match edit {
                SpkEdit::Id(x) => k.id = x.at(k.id, &[]),
                SpkEdit::Created(x) => k.created_at = *x,
                SpkEdit::Secret(j) => k.key.secret = source(*j).secret,
                SpkEdit::Pair(j) => k.key = source(*j),
                SpkEdit::RawSecret(x) => k.key.secret = *x,
                SpkEdit::Public(x) => k.key.public = x.get(&publics, &bases),
                SpkEdit::Sig(j) => k.signature[j % 64] ^= 1,
                SpkEdit::Accepted(e) => e.apply(&mut k.accepted),
                SpkEdit::AccInsert(id) => insert_sorted(&mut k.accepted, *id),
                SpkEdit::AccInsertReal(msg) => {
                    let base = &bases[msg % bases.len()];
                    if let Some(id) = codec::first_message_id(&k.key.secret, base) {
                        insert_sorted(&mut k.accepted, id);
                    }
                }
                SpkEdit::AccMove(_) => unreachable!(),
                SpkEdit::AccFill(n) => {
                    for i in 0.. {
                        if k.accepted.len() >= usize::from(*n) {
                            break;
                        }
                        insert_sorted(&mut k.accepted, filler_id(i));
                    }
                }
            }
        }
        PMut::OneTime(e) => e.apply(&mut s.one_time),
        PMut::Ot(i, edit) => {
            let Some(k) = nth(&mut s.one_time, *i) else {
                return;
            };
            match edit {
                OtEdit::Id(x) => k.id = x.at(k.id, &[]),
                OtEdit::Secret(j) => k.key.secret = source(*j).secret,
                OtEdit::Pair(j) => k.key = source(*j),
                OtEdit::Public(x) => k.key.public = x.get(&publics, &bases),
            }
        }
        PMut::OtInsert(id, secret) => {
            let id = id.at(0, &[]);
            let at = s.one_time.partition_point(|k| k.id < id);
            let key = codec::KeyPair::from_secret(clamp(*secret));
            s.one_time.insert(at, codec::OneTimePreKey { id, key });
        }
        PMut::Unclamp(i, u) => {
            let keys = s.signed.iter_mut().map(|k| &mut k.key);
            let mut keys: Vec<_> = keys
                .chain(s.one_time.iter_mut().map(|k| &mut k.key))
                .collect();
            if let Some(key) = nth(&mut keys, *i) {
                key.secret = unclamp(key.secret, *u);
            }
        }
        PMut::Patch(p) => patches.push(p.clone()),
    }
}

/// The base keys of the stage's first messages (without a one-time prekey) that `s` records:
/// what a version-1 store of the same history held in its seen list.
pub(crate) fn v1_seen(st: &StoreStage, s: &StoreBlob) -> Vec<K32> {
    let mut seen = Vec::new();
    for m in st.msgs.iter().filter(|m| m.otpk.is_none()) {
        if recorded(s, m) && !seen.contains(&m.base) {
            seen.push(m.base);
        }
    }
    seen
}

/// Whether a signed prekey of `s` with the message's id records its first-message id (§4.3).
fn recorded(s: &StoreBlob, m: &FirstMsg) -> bool {
    s.signed.iter().any(|k| {
        let id = codec::first_message_id(&k.key.secret, &m.base);
        k.id == m.spk_id && id.is_some_and(|id| k.accepted.contains(&id))
    })
}

/// The X3DH runs a store must refuse: a one-time prekey it does not hold, or a first-message id
/// its signed prekey records.
pub(crate) fn protected_runs(st: &StoreStage, s: &StoreBlob) -> HashSet<Run> {
    let protected = |m: &&FirstMsg| match m.otpk {
        Some(j) => !s.one_time.iter().any(|k| k.id == j),
        None => recorded(s, m),
    };
    st.msgs
        .iter()
        .filter(protected)
        .map(FirstMsg::run)
        .collect()
}

/// Offsets in a store body of the records' counts (versions 2–3), the one-time count and the
/// seen count (version 1) (§10.2).
pub(crate) fn store_offsets(s: &StoreBlob, v: u8) -> (Vec<usize>, usize, usize) {
    let pair = if v == 3 { 64 } else { 32 };
    let (mut at, mut acc) = (9, Vec::new());
    for k in &s.signed {
        at += 4 + 8 + pair + 64;
        if v > 1 {
            acc.push(at);
            at += 2 + 16 * k.accepted.len();
        }
    }
    (acc, at, at + 4 + s.one_time.len() * (4 + pair))
}

/// `s` written as `form` (the version and the body).
fn store_body(st: &StoreStage, s: &StoreBlob, form: &StoreForm) -> (u8, Vec<u8>) {
    let StoreForm::V1 {
        real,
        extra,
        unclamp: u,
    } = form
    else {
        let v2 = matches!(form, StoreForm::V2);
        return if v2 {
            (2, codec::body(&s.encode_v2()).to_vec())
        } else {
            (3, s.body_v3())
        };
    };
    let mut seen = if *real { v1_seen(st, s) } else { Vec::new() };
    let bases: Vec<K32> = st.msgs.iter().map(|m| m.base).collect();
    seen.extend(extra.iter().map(|k| k.get(&[], &bases)));
    let mut s = s.clone();
    if let Some(u) = *u {
        let keys = s.signed.iter_mut().map(|k| &mut k.key);
        let keys = keys.chain(s.one_time.iter_mut().map(|k| &mut k.key));
        for (i, key) in keys.enumerate() {
            key.secret = unclamp(key.secret, u.wrapping_add(i as u8));
        }
    }
    (1, codec::body(&s.encode_v1(&seen)).to_vec())
}

pub(crate) fn forge_store(
    st: &StoreStage,
    form: &StoreForm,
    muts: &[PMut],
    bytes: &[ByteMut],
) -> Vec<u8> {
    let (mut s, mut patches) = (st.parsed.clone(), Vec::new());
    for m in muts {
        apply_store(&mut s, st, m, &mut patches);
    }
    let (v, mut body) = store_body(st, &s, form);
    let (acc, ot, seen) = store_offsets(&s, v);
    for p in &patches {
        match p {
            PPatch::SignedCount(n) => body[8] = *n,
            PPatch::AccCount(i, n) => {
                if let Some(i) = pick(&acc, *i) {
                    body[acc[i]..acc[i] + 2].copy_from_slice(&n.to_be_bytes());
                }
            }
            PPatch::OtCount(x) => put_u32(&mut body, ot, x.at(s.one_time.len() as u32, &[])),
            PPatch::SeenCount(x) if v == 1 => {
                let n = x.at(u32_at(&body, seen), &[]);
                put_u32(&mut body, seen, n);
            }
            PPatch::SeenCount(_) => {}
            PPatch::Trailing(x) => body.push(*x),
        }
    }
    apply_bytes(&mut body, bytes);
    codec::seal(codec::KIND_STORE, v, &body)
}
