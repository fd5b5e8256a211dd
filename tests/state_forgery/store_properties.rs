//! The prekey store properties: forged stores driven through every call, legacy stores
//! migrating, and a full first-message record.

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::Config;
use xchat_protocol::content::Content;
use xchat_protocol::{DecodeError, Error, IdentityKeyPair, PreKeyStore, Session};

use crate::common;
use crate::common::state_codec::StoreBlob;
use crate::store_forge::{
    PMut, SpkEdit, apply_store, forge_store, pmut, protected_runs, store_form, v1_seen,
};
use crate::store_stage::{FirstMsg, StoreStage, store_stage};
use crate::support::{Loaded, NOW, byte_mut, check, check_after, check_saved, load, saved};

#[derive(Clone, Debug)]
enum POp {
    /// First message `msg` through `accept` or `respond`.
    Respond {
        msg: usize,
        accept: bool,
    },
    Rotate(u64),
    Generate(usize),
    RemoveOneTime(u32),
    /// Read-only calls: `bundle`, `first_message_capacity`, `one_time_prekeys`.
    Bundle(Option<u32>),
    Reload,
}

fn pop() -> impl Strategy<Value = POp> {
    let generate = prop_oneof![0usize..4, Just(usize::MAX), Just(1 << 16)];
    prop_oneof![
        10 => (any::<usize>(), any::<bool>()).prop_map(|(msg, accept)| POp::Respond { msg, accept }),
        2 => any::<u64>().prop_map(POp::Rotate),
        2 => generate.prop_map(POp::Generate),
        1 => (0u32..8).prop_map(POp::RemoveOneTime),
        1 => prop::option::of(0u32..8).prop_map(POp::Bundle),
        1 => Just(POp::Reload),
    ]
}

/// Loads a forged store (checking (d) and (a)); if it loads, drives it with `ops` checking (b)
/// after every call and (c) on every first message.
fn run_store(
    st: &StoreStage,
    blob: &[u8],
    ops: &[POp],
    seed: u64,
) -> Result<Option<Loaded>, TestCaseError> {
    let Some((mut store, version)) = load::<PreKeyStore>(blob, "store load")? else {
        return Ok(None);
    };
    let (_, migrated) = StoreBlob::decode(&saved(&store, "store load")?).unwrap();
    let owner = IdentityKeyPair::from_seed(&st.owner_seed);
    let mut accepted = protected_runs(st, &migrated);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut opened = 0;
    for (step, op) in ops.iter().enumerate() {
        let what = format!("store step {step} {op:?}");
        let before = saved(&store, &what)?;
        let unchanged = match *op {
            POp::Respond { msg, accept } => {
                let m = &st.msgs[msg % st.msgs.len()];
                let (bytes, ctx) = (&m.bytes, common::CONTEXT);
                let result = if accept {
                    Session::accept(
                        &owner,
                        &mut store,
                        bytes,
                        &Config::new(ctx).allow_classical(),
                        NOW,
                    )
                    .map(|(s, r)| (s, r.body))
                } else {
                    let r = Session::respond(
                        &owner,
                        &mut store,
                        bytes,
                        &Config::new(ctx).allow_classical(),
                    );
                    r.map(|(s, pt)| (s, Content::from_padded_bytes(&pt).unwrap().body))
                };
                let Ok((session, body)) = result else {
                    let after = saved(&store, &what)?;
                    prop_assert!(
                        after == before,
                        "{}: a refused first message changed it",
                        what
                    );
                    continue;
                };
                prop_assert!(body == m.body, "{}: wrong plaintext", what);
                let replay = "REPLAY — an X3DH run started a second session";
                prop_assert!(accepted.insert(m.run()), "{}: {} ({})", what, replay, msg);
                check_saved(&session, None, &what)?;
                opened += 1;
                false
            }
            POp::Rotate(now) => {
                store.rotate_signed_prekey(&mut rng, &owner, now);
                false
            }
            POp::Generate(n) => store.generate_one_time_prekeys(&mut rng, n).is_err(),
            POp::RemoveOneTime(id) => !store.remove_one_time_prekey(id),
            POp::Bundle(id) => {
                let _ = (store.bundle(&owner, id), store.first_message_capacity());
                let _ = store.one_time_prekeys();
                true
            }
            POp::Reload => {
                store = PreKeyStore::from_bytes(&before).unwrap();
                false
            }
        };
        check_after(&store, unchanged.then_some(&before), &what)?;
    }
    Ok(Some((version, opened, 0)))
}

/// Structured edits of every row (including stored public keys and mismatched pairs), written as
/// version 3, 2 or 1, byte patches and raw edits, re-sealed: every store obeys (a)–(d); no X3DH
/// run is accepted twice, nor at all when the loaded store records it.
#[test]
fn forged_prekey_stores_behave() {
    let strategy = (
        store_form(),
        prop::collection::vec(pmut(), 1..5),
        prop::collection::vec(byte_mut(), 0..2),
        prop::collection::vec(pop(), 0..16),
        any::<u64>(),
    );
    let name = "forged prekey stores";
    let stats = check(name, 2048, strategy, |(form, muts, bytes, ops, seed)| {
        let st = store_stage();
        run_store(st, &forge_store(st, &form, &muts, &bytes), &ops, seed)
    });
    let [_, v1, v2, v3] = stats.loaded;
    assert!((v1 + v2 + v3) * 5 >= stats.total, "too few loaded");
    assert!(v1 > 0 && v2 > 0, "no legacy forgery loaded");
    let opened = stats.opened as u32;
    assert!(opened * 2 >= v1 + v2 + v3, "too few sessions started");
}

/// SPEC.md §10.2: the stage's store written as version 2 saves as exactly its version-3 blob; as
/// version 1 (no records, the accepted base keys in the seen list) it loads, and every run the
/// real store refuses is still refused.
#[test]
fn legacy_store_blobs_migrate() {
    let st = store_stage();
    let s = PreKeyStore::from_bytes(&st.parsed.encode_v2()).unwrap();
    assert_eq!(*s.to_bytes().unwrap(), st.blob);
    let v1 = st.parsed.encode_v1(&v1_seen(st, &st.parsed));
    let mut store = PreKeyStore::from_bytes(&v1).unwrap();
    let (_, migrated) = StoreBlob::decode(&store.to_bytes().unwrap()).unwrap();
    let protected = protected_runs(st, &st.parsed);
    assert!(protected.is_subset(&protected_runs(st, &migrated)));
    let owner = IdentityKeyPair::from_seed(&st.owner_seed);
    for m in st.msgs.iter().filter(|m| protected.contains(&m.run())) {
        assert!(
            Session::respond(
                &owner,
                &mut store,
                &m.bytes,
                &Config::new(common::CONTEXT).allow_classical()
            )
            .is_err()
        );
    }
}

/// A store at the limits: a signed prekey record holding exactly 4096 ids refuses further first
/// messages without a one-time prekey (`SignedPreKeyFull`, store unchanged); 4097 does not load.
#[test]
fn full_first_message_record() {
    let st = store_stage();
    let owner = IdentityKeyPair::from_seed(&st.owner_seed);
    let mut f = st.parsed.clone();
    let current = f.signed.len() - 1;
    let fill = PMut::Spk(current, SpkEdit::AccFill(4096));
    apply_store(&mut f, st, &fill, &mut Vec::new());
    let mut store = PreKeyStore::from_bytes(&f.encode_v3()).unwrap();
    assert_eq!(*store.to_bytes().unwrap(), f.encode_v3());
    assert_eq!(store.first_message_capacity(), 0);
    let spk = f.signed[current].id;
    let protected = protected_runs(st, &f);
    let fresh =
        |m: &&FirstMsg| m.spk_id == spk && m.otpk.is_none() && !protected.contains(&m.run());
    let fresh = st.msgs.iter().find(fresh).unwrap();
    let before = store.to_bytes().unwrap();
    let r = Session::respond(
        &owner,
        &mut store,
        &fresh.bytes,
        &Config::new(common::CONTEXT).allow_classical(),
    );
    assert_eq!(r.err(), Some(Error::SignedPreKeyFull(spk)));
    assert_eq!(store.to_bytes().unwrap(), before);
    f.signed[current].accepted.push([0xFF; 16]);
    let r = PreKeyStore::from_bytes(&f.encode_v3()).err();
    assert_eq!(r, Some(DecodeError::NonCanonical));
}
