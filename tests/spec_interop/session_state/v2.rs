//! Version-2 session blobs (§10.3, read only): the other layout, its rules and its migration, as
//! cases of test 7.

use super::{Fixture, torsion};
use crate::common::state_codec::{Legacy, Phase, SessionBlob, clamp};
use crate::support::{Cases, IK, NC, OK, P_BYTES, TB, TR, contains, om, sm};

/// Offset of the `DHs` secret in a version-1/2 session body (§10.3: role, acknowledged, rows
/// 2–8, limits, timer, `RK`).
fn v2_dhs_at(s: &SessionBlob) -> usize {
    2 + 64 + 2 + s.context.len() + 32 + 4 + 1 + 4 * usize::from(s.opk_id.is_some()) + 16 + 9 + 32
}

/// Version-2 cases; returns the pending side's legacy fields and the valid and opening blobs.
pub(super) fn cases(cases: &mut Cases, fx: &Fixture) -> (Legacy, Vec<u8>, Vec<u8>) {
    let Fixture {
        base,
        unacked,
        with_send,
        spk_b,
        small_order,
        ..
    } = fx.clone();
    // ---- version 2 (read only): the other layout, its rules, its migration ----
    let pending = Legacy {
        pending_dhs: clamp([0x77; 32]),
        opening_dhr: [0; 32],
    };
    let opening_legacy = Legacy {
        pending_dhs: [0; 32],
        opening_dhr: spk_b,
    };
    let v2_valid = base.encode_v2(&pending);
    let v2_opening = unacked.encode_v2(&opening_legacy);
    // What reading drops (§10.3): the pending side's old `DHs` secret, the opening phase's `DHr`.
    assert!(contains(&v2_valid, &pending.pending_dhs));
    assert!(contains(&v2_opening, &spk_b));
    cases.v2("v2 valid", &base, &pending, OK, |_, _| {});
    cases.v2("v2 valid opening", &unacked, &opening_legacy, OK, |_, _| {});
    cases.v2("v2 with send", &with_send, &pending, OK, |_, _| {});
    cases.v2("v2 responder", &base, &pending, OK, |s, _| {
        s.phase = Phase::Responder
    });
    cases.v2("v2 bad local identity", &base, &pending, IK, |s, _| {
        s.local = [0; 32]
    });
    cases.v2("v2 small-order remote", &base, &pending, IK, |s, _| {
        s.remote = small_order
    });
    cases.v2("v2 torsion local", &base, &pending, IK, |s, _| {
        s.local = torsion(&s.local, 2)
    });
    cases.v2(
        "v2 torsion remote",
        &unacked,
        &opening_legacy,
        IK,
        |s, _| s.remote = torsion(&s.remote, 4),
    );
    cases.v2("v2 pending DHs unclamped", &base, &pending, NC, |_, l| {
        l.pending_dhs[0] |= 1
    });
    cases.v2(
        "v2 sending DHs unclamped",
        &with_send,
        &pending,
        NC,
        |s, _| sm(s).dhs.secret[31] &= !0x40,
    );
    cases.v2(
        "v2 opening DHs unclamped",
        &unacked,
        &opening_legacy,
        NC,
        |s, _| sm(s).dhs.secret[0] |= 4,
    );
    cases.v2(
        "v2 opening DHr not canonical",
        &unacked,
        &opening_legacy,
        IK,
        |_, l| l.opening_dhr = P_BYTES,
    );
    cases.v2(
        "v2 opening DHr low order",
        &unacked,
        &opening_legacy,
        OK,
        |_, l| l.opening_dhr = [0; 32],
    );
    cases.v2("v2 max_skip 0", &base, &pending, NC, |s, _| s.limits[0] = 0);
    cases.v2(
        "v2 max_skip > max_skipped_keys",
        &base,
        &pending,
        NC,
        |s, _| s.limits[0] = 2001,
    );
    cases.v2("v2 context 1025", &base, &pending, NC, |s, _| {
        s.context = vec![0; 1025]
    });
    cases.v2("v2 timer start 2", &base, &pending, NC, |s, _| {
        s.timer.start = 2
    });
    cases.v2("v2 DHr not canonical", &base, &pending, IK, |s, _| {
        om(s).dhr = P_BYTES
    });
    cases.v2("v2 unknown skipped key", &base, &pending, NC, |s, _| {
        om(s).skipped[0].key = [9; 32]
    });
    cases.v2("v2 skipped N = 2^32 − 1", &base, &pending, NC, |s, _| {
        om(s).skipped[1].n = u32::MAX
    });
    cases.v2(
        "v2 current-chain skipped N = Nr",
        &base,
        &pending,
        NC,
        |s, _| om(s).skipped[3].n = 3,
    );
    cases.v2("v2 ages increasing", &base, &pending, NC, |s, _| {
        let o = om(s);
        o.skipped[0].stamp = o.received;
    });
    cases.v2("v2 old = DHr", &base, &pending, NC, |s, _| {
        let o = om(s);
        o.old.push(o.dhr);
    });
    cases.v2(
        "v2 old count over max_old_chains",
        &base,
        &pending,
        NC,
        |s, _| {
            s.limits[2] = 1;
            om(s).old.insert(0, [5; 32]);
        },
    );
    cases.v2("v2 skipped_at values", &base, &pending, OK, |s, _| {
        for (e, t) in om(s).skipped.iter_mut().zip([0, 1, 2, u64::MAX - 1]) {
            e.skipped_at = t;
        }
    });
    // Byte patches of the version-2 layout.
    let d = v2_dhs_at(&base);
    let d_open = v2_dhs_at(&unacked);
    let v2_send_flag = |at: usize| at + 32 + 1 + 32;
    cases.patch("v2 role 2", &v2_valid, NC, |b| b[0] = 2);
    cases.patch("v2 acknowledged flag 2", &v2_valid, NC, |b| b[1] = 2);
    cases.patch("v2 responder not acknowledged", &v2_valid, NC, |b| {
        (b[0], b[1]) = (1, 0)
    });
    cases.patch(
        "v2 responder not acknowledged, then cut",
        &v2_valid,
        NC,
        |b| {
            (b[0], b[1]) = (1, 0);
            b.truncate(2);
        },
    );
    cases.patch(
        "v2 initiator not acknowledged, with recv",
        &v2_valid,
        NC,
        |b| b[1] = 0,
    );
    cases.patch(
        "v2 opening, acknowledged without recv",
        &v2_opening,
        NC,
        |b| b[1] = 1,
    );
    cases.patch("v2 DHr flag 0", &v2_valid, NC, |b| b[d + 32] = 0);
    cases.patch("v2 DHr flag 2", &v2_valid, NC, |b| b[d + 32] = 2);
    cases.patch("v2 opening without send", &v2_opening, NC, |b| {
        let at = v2_send_flag(d_open);
        b[at] = 0;
        b.drain(at + 1..at + 37);
    });
    cases.patch("v2 opening with recv", &v2_opening, NC, |b| {
        let at = v2_send_flag(d_open) + 37;
        assert_eq!(b[at], 0);
        b[at] = 1;
        b.splice(at + 1..at + 1, [7; 36]);
    });
    cases.patch("v2 acknowledged without recv", &v2_valid, NC, |b| {
        let at = v2_send_flag(d) + 1;
        assert_eq!(b[at], 1);
        b[at] = 0;
        b.drain(at + 1..at + 37);
    });
    let pn_at = |at: usize| v2_send_flag(at) + 37 + 1;
    cases.patch("v2 opening with a PN", &v2_opening, NC, |b| {
        b[pn_at(d_open) + 3] = 9
    });
    cases.patch("v2 opening with a received count", &v2_opening, NC, |b| {
        b[pn_at(d_open) + 7] = 7
    });
    // The phase is decided once `received` is read; the counts as they are read.
    // The phase: SPEC.md gives no position; the library checks it once the lists are read,
    // before the end of the body.
    cases.patch("v2 bad phase, cut after received", &v2_valid, TR, |b| {
        b[1] = 0;
        b.truncate(pn_at(d) + 8);
    });
    cases.patch("v2 bad phase, cut inside received", &v2_valid, TR, |b| {
        b[1] = 0;
        b.truncate(pn_at(d) + 7);
    });
    let v2_old_at = pn_at(d) + 8;
    cases.patch(
        "v2 old count over the limit, cut after it",
        &v2_valid,
        NC,
        |b| {
            b[v2_old_at..v2_old_at + 4].copy_from_slice(&6u32.to_be_bytes());
            b.truncate(v2_old_at + 4);
        },
    );
    cases.patch(
        "v2 opening old count 1, cut after it",
        &v2_opening,
        TR,
        |b| {
            let at = pn_at(d_open) + 8;
            b[at..at + 4].copy_from_slice(&1u32.to_be_bytes());
            b.truncate(at + 4);
        },
    );
    let v2_first_entry = v2_old_at + 4 + 32 + 4;
    cases.patch(
        "v2 skipped count over the limit, cut after it",
        &v2_valid,
        NC,
        |b| {
            b[v2_first_entry - 4..v2_first_entry].copy_from_slice(&2001u32.to_be_bytes());
            b.truncate(v2_first_entry);
        },
    );
    // SPEC.md reads the entries' rules of rows 16–17 "once the blob is read" in version 2 too
    // (only the counts are checked as they are read).
    cases.patch(
        "v2 skipped N = 2^32 − 1, cut after its entry",
        &v2_valid,
        TR,
        |b| {
            let at = v2_first_entry + 32;
            b[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
            b.truncate(v2_first_entry + 80);
        },
    );
    cases.patch(
        "v2 opening skipped count 1, cut after it",
        &v2_opening,
        TR,
        |b| {
            let n = b.len();
            b[n - 4..].copy_from_slice(&1u32.to_be_bytes());
        },
    );
    cases.patch("v2 bad phase, invalid old key", &v2_valid, IK, |b| {
        b[1] = 0;
        b[v2_old_at + 4 + 31] = 0xFF;
    });
    cases.patch("v2 bad phase, trailing byte", &v2_valid, NC, |b| {
        b[1] = 0;
        b.push(0);
    });
    cases.patch(
        "v2 opening with a PN, trailing byte",
        &v2_opening,
        NC,
        |b| {
            b[pn_at(d_open) + 3] = 9;
            b.push(0);
        },
    );
    cases.patch(
        "v2 unknown skipped key, trailing byte",
        &v2_valid,
        NC,
        |b| {
            b[v2_first_entry] ^= 1;
            b.push(0);
        },
    );
    cases.patch(
        "v2 max_skip 0, cut inside the next limit",
        &v2_valid,
        TR,
        |b| {
            let t = d - 32 - 9;
            b[t - 16..t - 12].copy_from_slice(&[0; 4]);
            b.truncate(t - 10);
        },
    );
    cases.patch("v2 DHs unclamped, body ends after it", &v2_valid, NC, |b| {
        b[d] |= 1;
        b.truncate(d + 32);
    });
    cases.patch("v2 trailing", &v2_valid, TB, |b| b.push(0));
    cases.patch("v2 truncated", &v2_opening, TR, |b| {
        b.pop();
    });
    (pending, v2_valid, v2_opening)
}
