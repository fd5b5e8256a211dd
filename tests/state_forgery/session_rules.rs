//! Single rules of the session layout (SPEC.md §10.3): skipped keys behind the counter, the
//! phase byte against the parts, the migration of versions 1–2, a long old-chain list.

use xchat_protocol::{DecodeError, Limits, Session};

use crate::common::state_codec::{self as codec, Legacy, Phase, Ratchet, SessionBlob, clamp};
use crate::session_edits::{SMut, legacy};
use crate::session_forge::{apply, open_mut, sending_mut};
use crate::stages::{assert_live, stages};
use crate::support::{NOW, unclamp};

/// The audit's case, refused: a real key of the current chain stored as skipped at or past the
/// receiving counter (it would decrypt once from the store and once from the chain).
#[test]
fn skipped_key_at_or_past_the_counter_is_refused() {
    for st in stages().iter().filter(|st| st.parsed.open().is_some()) {
        for (k, bump) in [(1, false), (3, false), (2, true)] {
            let mut f = st.parsed.clone();
            let edit = SMut::AdvanceRecv {
                k,
                store: true,
                bump,
            };
            apply(&mut f, st, &edit, &mut Vec::new());
            let r = Session::from_bytes(&f.encode_v3());
            if bump {
                // Keys behind the advanced counter: a state the library could produce.
                let s = r.unwrap_or_else(|e| panic!("{}: {e:?}", st.name));
                assert_eq!(*s.to_bytes().unwrap(), f.encode_v3());
            } else {
                assert_eq!(r.err(), Some(DecodeError::NonCanonical), "{}", st.name);
            }
        }
    }
}

/// SPEC.md §10.3 row 1: the phase byte says which parts follow. Phase 0x00 over open parts, or
/// 0x01/0x02 over an opening initiator's, is refused (by the library and by SPEC.md's rules), as
/// is any other byte; versions 1–2 refuse a responder that is not acknowledged. Phases 0x01 and
/// 0x02 have the same parts: flipped, with the identities swapped (the same associated data), the
/// session loads, round-trips and stays live without replaying (as an initiator it refuses the
/// peer's prekey messages).
#[test]
fn phase_and_parts_must_agree() {
    for st in stages() {
        let s = &st.parsed;
        let opening = matches!(s.ratchet, Ratchet::Opening(_));
        for phase in [Phase::AwaitingReply, Phase::Acknowledged, Phase::Responder] {
            if (phase == Phase::AwaitingReply) != opening {
                let blob = codec::edit_session(&st.blob, |f| f.phase = phase);
                let (lib, reference) = (Session::from_bytes(&blob), SessionBlob::decode(&blob));
                assert!(lib.is_err() && reference.is_err(), "{} {phase:?}", st.name);
            }
        }
        for byte in [3u8, 0x80, 0xFF] {
            let mut body = s.body_v3();
            body[0] = byte;
            let r = Session::from_bytes(&codec::reseal(&st.blob, &body)).err();
            assert_eq!(r, Some(DecodeError::NonCanonical), "{} {byte}", st.name);
        }
        let mut v2 = codec::body(&s.encode_v2(&Legacy::default())).to_vec();
        (v2[0], v2[1]) = (1, 0);
        let r = Session::from_bytes(&codec::seal(codec::KIND_SESSION, 2, &v2)).err();
        assert_eq!(r, Some(DecodeError::NonCanonical), "{}", st.name);
        if !opening {
            let mut f = s.clone();
            apply(&mut f, st, &SMut::FlipSwap, &mut Vec::new());
            assert_eq!(f.ad(), s.ad());
            let blob = f.encode_v3();
            let flipped = Session::from_bytes(&blob).unwrap();
            assert_eq!(*flipped.to_bytes().unwrap(), blob);
            let role = Session::from_bytes(&st.blob).unwrap().role();
            assert_ne!(flipped.role(), role);
            assert_live(st, flipped, &format!("{} flipped", st.name));
        }
    }
}

/// SPEC.md §10.3: every stage written as version 2 (holding a pending side's old secret) or as
/// version 1 (its sending secret unclamped, its skip times read as purge deadlines `D`, which
/// become `D − 2 · MAX_CLOCK_SKEW`) loads; saved, it is the stage's blob (version 2) or that blob
/// with the converted times (version 1), a fixed point; and it stays live.
#[test]
fn legacy_session_blobs_migrate_and_stay_live() {
    let skew = 2 * codec::MAX_CLOCK_SKEW;
    let deadlines = [u64::MAX, 0, skew - 1, skew, NOW, u64::MAX - 1];
    for st in stages() {
        let legacy = legacy(clamp([0x33; 32]), st.peer_keys[0]);
        let s = Session::from_bytes(&st.parsed.encode_v2(&legacy)).unwrap();
        assert_eq!(*s.to_bytes().unwrap(), st.blob, "{}", st.name);
        assert_live(st, s, st.name);
        for u in [None, Some(0), Some(2), Some(3)] {
            let (mut v1, mut expected) = (st.parsed.clone(), st.parsed.clone());
            if let (Some(u), Some(send)) = (u, sending_mut(&mut v1)) {
                send.dhs.secret = unclamp(send.dhs.secret, u);
            }
            if let (Some(o), Some(e)) = (open_mut(&mut v1), open_mut(&mut expected)) {
                let pairs = o.skipped.iter_mut().zip(&mut e.skipped);
                for ((a, b), &d) in pairs.zip(deadlines.iter().cycle()) {
                    a.skipped_at = d;
                    b.skipped_at = if d == u64::MAX {
                        d
                    } else {
                        d.saturating_sub(skew)
                    };
                }
            }
            let s = Session::from_bytes(&v1.encode_v1(&legacy)).unwrap();
            let saved = s.to_bytes().unwrap();
            assert_eq!(*saved, expected.encode_v3(), "{} {u:?}", st.name);
            let again = Session::from_bytes(&saved).unwrap().to_bytes();
            assert_eq!(again.unwrap(), saved);
            assert_live(st, s, st.name);
        }
    }
}

/// A blob with 2^15 old chains decodes and round-trips. (The decoder checks the old keys for
/// duplicates with a set, so this takes milliseconds; a linear scan per key made 2^15 keys take
/// half a minute. Time is not asserted here: BENCHMARKS.md's rule.)
#[test]
fn old_chain_list_decode_is_not_quadratic() {
    let mut f = stages()[3].parsed.clone();
    f.limits[2] = Limits::CEILING;
    let o = open_mut(&mut f).unwrap();
    for k in 0u32..1 << 15 {
        let mut key = [0x77; 32];
        key[..4].copy_from_slice(&k.to_le_bytes());
        key[31] = 0x11;
        o.old.push(key);
    }
    let blob = f.encode_v3();
    let s = Session::from_bytes(&blob).unwrap();
    assert_eq!(*s.to_bytes().unwrap(), blob);
}
