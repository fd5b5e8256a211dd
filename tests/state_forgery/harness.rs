//! Checks of the harness itself: the reference codec reads the real blobs back, the byte-patch
//! offsets point at their fields, and the unforged stages are live.

use std::collections::HashSet;

use xchat_protocol::Config;
use xchat_protocol::{IdentityKeyPair, PreKeyStore, Session};

use crate::common;
use crate::common::state_codec::{self as codec, SessionBlob};
use crate::session_edits::Form;
use crate::session_forge::{session_body, session_offsets};
use crate::stages::{assert_live, stages};
use crate::store_forge::{protected_runs, store_offsets};
use crate::store_stage::store_stage;
use crate::support::{u16_at, u32_at};

/// Harness: the reference codec reads every stage's real blob back to the same bytes; the stages
/// cover every phase and both states of the sending side; the byte-patch offsets point at their
/// fields in every version's layout.
#[test]
fn reference_codec_reads_real_blobs() {
    let mut seen = HashSet::new();
    for st in stages() {
        let (v, s) = SessionBlob::decode(&st.blob).unwrap();
        assert_eq!((v, s.encode_v3()), (3, st.blob.clone()), "{}", st.name);
        seen.insert((s.phase as u8, s.sending().is_some()));
        let (n_old, n_skipped) = s.open().map_or((0, 0), |o| (o.old.len(), o.skipped.len()));
        for form in [Form::V3, Form::V2([7; 32]), Form::V1([7; 32], None)] {
            let (v, body) = session_body(&s, &form);
            let (ctx, opk, old) = session_offsets(&s, v);
            let what = format!("{} v{v}", st.name);
            assert_eq!(u16_at(&body, ctx), s.context.len(), "{what}");
            assert_eq!(body[opk], u8::from(s.opk_id.is_some()), "{what}");
            if let Some(at) = old {
                assert_eq!(u32_at(&body, at) as usize, n_old, "{what}");
                let skipped = u32_at(&body, at + 4 + 32 * n_old) as usize;
                assert_eq!(skipped, n_skipped, "{what}");
            }
        }
    }
    let all = HashSet::from([(0, true), (1, true), (1, false), (2, true), (2, false)]);
    assert_eq!(seen, all);
    let st = store_stage();
    let s = &st.parsed;
    assert_eq!(s.encode_v3(), st.blob);
    for (v, blob) in [
        (3, s.encode_v3()),
        (2, s.encode_v2()),
        (1, s.encode_v1(&[[9; 32]])),
    ] {
        let body = codec::body(&blob);
        let (acc, ot, seen) = store_offsets(s, v);
        assert_eq!(usize::from(body[8]), s.signed.len());
        for (at, k) in acc.iter().zip(&s.signed) {
            assert_eq!(u16_at(body, *at), k.accepted.len(), "v{v}");
        }
        assert_eq!(u32_at(body, ot) as usize, s.one_time.len(), "v{v}");
        if v == 1 {
            assert_eq!(u32_at(body, seen), 1);
        }
    }
}

/// Harness: unforged, every stage is live (so the replay check can fire), and the store refuses
/// exactly the runs it records.
#[test]
fn stages_are_live() {
    for st in stages() {
        assert_live(st, Session::from_bytes(&st.blob).unwrap(), st.name);
    }
    let st = store_stage();
    let owner = IdentityKeyPair::from_seed(&st.owner_seed);
    let mut store = PreKeyStore::from_bytes(&st.blob).unwrap();
    let protected = protected_runs(st, &st.parsed);
    assert!(protected.len() >= 5, "{}", protected.len());
    let mut started = HashSet::new();
    for m in &st.msgs {
        let ok = Session::respond(
            &owner,
            &mut store,
            &m.bytes,
            &Config::new(common::CONTEXT).allow_classical(),
        )
        .is_ok();
        assert_eq!(ok, !protected.contains(&m.run()) && started.insert(m.run()));
    }
    assert!(started.len() >= 5);
}
