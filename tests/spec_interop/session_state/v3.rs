//! Version-3 session blobs (§10.3, written): the cases of test 7 made by editing the object, by
//! patching the bytes, and around the §10.0 envelope.

use super::{Fixture, torsion};
use crate::common::state_codec::{
    self as sc, CEILING, KIND_SESSION, KIND_STORE, Phase, clamp, seal as envelope_v,
};
use crate::reference::primitives::{K32, V1, V2, x25519_torsion_variant, xpub};
use crate::reference::session::key_pair;
use crate::support::{Cases, IK, NC, OK, P_BYTES, TB, TR, om, sm};
use crate::world::CTX;

/// The three other clamping-relevant forms of a clamped secret (bits 0, 2 of byte 0; bits 6, 7
/// of byte 31).
fn unclamped_forms(k: &K32) -> [K32; 4] {
    let mut forms = [*k; 4];
    forms[0][0] |= 0x01;
    forms[1][0] |= 0x04;
    forms[2][31] &= !0x40;
    forms[3][31] |= 0x80;
    forms
}

/// Version-3 cases from edits of the object.
pub(super) fn edits(cases: &mut Cases, fx: &Fixture) {
    let Fixture {
        base,
        unacked,
        with_send,
        some_send,
        small_order,
        ..
    } = fx.clone();
    // ---- version 3 (written), from edits of the object ----
    cases.v3("valid", &base, OK, |_| {});
    cases.v3("valid opening", &unacked, OK, |_| {});
    cases.v3("valid with send", &with_send, OK, |_| {});
    cases.v3("max_skip 0", &base, NC, |s| s.limits[0] = 0);
    cases.v3("age over ceiling", &base, NC, |s| s.limits[3] = CEILING + 1);
    cases.v3("max_skip > max_skipped_keys", &base, NC, |s| {
        s.limits[0] = 2001
    });
    cases.v3("limits at ceiling", &base, OK, |s| s.limits = [CEILING; 4]);
    cases.v3("opening, max_old_chains 0", &unacked, NC, |s| {
        s.limits[2] = 0
    });
    cases.v3("opening, limits at ceiling", &unacked, OK, |s| {
        s.limits = [CEILING; 4]
    });
    cases.v3("unknown skipped key", &base, NC, |s| {
        om(s).skipped[0].key = [9; 32]
    });
    cases.v3("duplicate skipped", &base, NC, |s| {
        let e = om(s).skipped[3].clone();
        om(s).skipped.push(e);
    });
    // Row 17: a skipped key of the current chain must lie behind Nr = 3.
    cases.v3("current-chain skipped N = Nr − 1", &base, OK, |s| {
        om(s).skipped[3].n = 2
    });
    cases.v3("current-chain skipped N = Nr", &base, NC, |s| {
        om(s).skipped[3].n = 3
    });
    cases.v3("current-chain skipped N > Nr", &base, NC, |s| {
        om(s).skipped[3].n = 70
    });
    cases.v3("current-chain skipped N = 2^32 − 1", &base, NC, |s| {
        om(s).skipped[3].n = u32::MAX
    });
    // ... while an old chain has no counter left to compare with.
    cases.v3("old-chain skipped N large", &base, OK, |s| {
        om(s).skipped[1].n = 70_000
    });
    cases.v3("old-chain skipped N = 2^32 − 1", &base, NC, |s| {
        om(s).skipped[1].n = u32::MAX
    });
    cases.v3("old-chain skipped N = 2^32 − 2", &base, OK, |s| {
        om(s).skipped[1].n = u32::MAX - 1
    });
    cases.v3("ages increasing", &base, NC, |s| {
        let o = om(s);
        o.skipped[0].stamp = o.received;
    });
    cases.v3("age too old", &base, NC, |s| {
        let o = om(s);
        for e in &mut o.skipped {
            e.stamp = o.received.wrapping_sub(10_001);
        }
    });
    cases.v3("age at limit", &base, OK, |s| {
        let o = om(s);
        for e in &mut o.skipped {
            e.stamp = o.received.wrapping_sub(10_000);
        }
    });
    // Row 17's u64 is a time, any value (2^64 − 1 = unknown); no order among entries.
    cases.v3("skipped_at values", &base, OK, |s| {
        let times = [0, u64::MAX - 1, 1_700_000_000_000, 1];
        for (e, t) in om(s).skipped.iter_mut().zip(times) {
            e.skipped_at = t;
        }
    });
    cases.v3("old = DHr", &base, NC, |s| {
        let o = om(s);
        o.old.push(o.dhr);
    });
    cases.v3("old duplicate", &base, NC, |s| {
        let o = om(s);
        o.old.push(o.old[0]);
    });
    cases.v3("old count over max_old_chains", &base, NC, |s| {
        s.limits[2] = 1;
        om(s).old.insert(0, [5; 32]);
    });
    cases.v3("old count at max_old_chains", &base, OK, |s| {
        s.limits[2] = 2;
        om(s).old.insert(0, [5; 32]);
    });
    cases.v3("responder", &base, OK, |s| s.phase = Phase::Responder);
    cases.v3("context 1024", &base, OK, |s| s.context = vec![1; 1024]);
    cases.v3("context 1025", &base, NC, |s| s.context = vec![1; 1025]);
    cases.v3("empty context", &unacked, OK, |s| s.context = vec![]);
    cases.v3("DHr not canonical", &base, IK, |s| om(s).dhr = P_BYTES);
    cases.v3("DHr top bit", &base, IK, |s| om(s).dhr[31] |= 0x80);
    cases.v3("no opk", &base, OK, |s| s.opk_id = None);
    cases.v3("opk", &unacked, OK, |s| s.opk_id = Some(u32::MAX));
    // §10.0: identity keys in version 3 are taken as stored, not validated.
    cases.v3("zero local identity", &base, OK, |s| s.local = [0; 32]);
    cases.v3("small-order remote identity", &base, OK, |s| {
        s.remote = small_order
    });
    cases.v3("torsion local identity", &base, OK, |s| {
        s.local = torsion(&s.local, 2)
    });
    cases.v3("torsion remote identity", &unacked, OK, |s| {
        s.remote = torsion(&s.remote, 4)
    });
    cases.v3("identity bytes ≥ p", &unacked, OK, |s| {
        s.local = [0xFF; 32]
    });
    cases.v3("bad base key", &base, IK, |s| s.base[31] = 0x80);
    // A torsion variant of a base key is not checked in state (row 6 is §2.3 only).
    cases.v3("torsion base key", &base, OK, |s| {
        s.base = x25519_torsion_variant(&s.base, 1)
    });
    // Row 12 / 13: the sending chain's secret clamped, its public key §2.3, not recomputed.
    for (i, k) in unclamped_forms(&some_send.dhs.secret).iter().enumerate() {
        let name: &str = format!("DHs unclamped ({i})").leak();
        cases.v3(name, &with_send, NC, |s| sm(s).dhs.secret = *k);
    }
    for (i, k) in unclamped_forms(&unacked.sending().unwrap().dhs.secret)[..2]
        .iter()
        .enumerate()
    {
        let name: &str = format!("opening DHs unclamped ({i})").leak();
        cases.v3(name, &unacked, NC, |s| sm(s).dhs.secret = *k);
    }
    cases.v3("DHs public not canonical", &with_send, IK, |s| {
        sm(s).dhs.public = P_BYTES
    });
    cases.v3("opening DHs public top bit", &unacked, IK, |s| {
        sm(s).dhs.public[31] |= 0x80
    });
    cases.v3("DHs public of another key", &unacked, OK, |s| {
        sm(s).dhs.public = xpub(&[5; 32])
    });
    cases.v3("DHs public low order", &with_send, OK, |s| {
        sm(s).dhs.public = [0; 32]
    });
    cases.v3("DHs another clamped secret", &unacked, OK, |s| {
        sm(s).dhs = key_pair(clamp([0x5A; 32]))
    });
    cases.v3("Ns = 2^32 − 1", &unacked, OK, |s| sm(s).n = u32::MAX);
    // Row 9, §8.1.
    cases.v3("timer start 2", &base, NC, |s| s.timer.start = 2);
    cases.v3("timer off, on-read", &unacked, NC, |s| s.timer.start = 1);
    cases.v3("timer 60 s on-read", &base, OK, |s| {
        s.timer = sc::Timer {
            duration_s: 60,
            start: 1,
            version: u32::MAX,
        }
    });
}

/// Version-3 cases from byte patches, and the §10.0 envelope.
pub(super) fn patches(cases: &mut Cases, fx: &Fixture) {
    let Fixture { base, unacked, .. } = fx.clone();
    // ---- version 3, byte patches ----
    let valid = base.to_state();
    let opening = unacked.to_state();
    let dhs_at = unacked.ratchet_offset();
    let dhr_at = base.ratchet_offset();
    let old_at = dhr_at + 68 + 1 + 8;
    let first_entry = old_at + 4 + 32 * base.o().old.len() + 4;
    let timer_at = dhr_at - 32 - 16 - 9;
    cases.patch("phase 3", &valid, NC, |b| b[0] = 3);
    cases.patch("phase 0xFF", &opening, NC, |b| b[0] = 0xFF);
    // Another phase byte makes the rest of the body mean other rows.
    cases.patch("open body as phase 0x00", &valid, None, |b| b[0] = 0);
    cases.patch("opening body as phase 0x01", &opening, None, |b| b[0] = 1);
    cases.patch("opening body as phase 0x02", &opening, None, |b| b[0] = 2);
    cases.patch("phase 0x01 as 0x02", &valid, OK, |b| b[0] = 2);
    cases.patch("trailing", &valid, TB, |b| b.push(0));
    cases.patch("opening trailing", &opening, TB, |b| b.push(0));
    cases.patch("truncated", &valid, TR, |b| {
        b.pop();
    });
    cases.patch("opening truncated", &opening, TR, |b| {
        b.pop();
    });
    cases.patch("empty body", &valid, TR, |b| b.clear());
    cases.patch("opk flag 2", &valid, NC, |b| {
        let at = 1 + 64 + 2 + CTX.len() + 32 + 4;
        assert_eq!(b[at], 1);
        b[at] = 2;
    });
    cases.patch("sending flag 2", &valid, NC, |b| {
        assert_eq!(b[dhr_at + 68], 0);
        b[dhr_at + 68] = 2;
    });
    cases.patch("context length 1025, body ends there", &valid, NC, |b| {
        b[65..67].copy_from_slice(&1025u16.to_be_bytes());
        b.truncate(67);
    });
    // Positions SPEC.md leaves open, as the library decides them: the start byte is checked as
    // it is read, "off with on-read" once the timer is read; the limits row is read whole.
    cases.patch("timer start 2, cut inside its version", &valid, NC, |b| {
        b[timer_at + 4] = 2;
        b.truncate(timer_at + 7);
    });
    cases.patch(
        "timer off on-read, cut inside its version",
        &valid,
        TR,
        |b| {
            b[timer_at..timer_at + 4].copy_from_slice(&[0; 4]);
            b[timer_at + 4] = 1;
            b.truncate(timer_at + 7);
        },
    );
    cases.patch("max_skip 0, cut inside the next limit", &valid, TR, |b| {
        b[timer_at + 9..timer_at + 13].copy_from_slice(&[0; 4]);
        b.truncate(timer_at + 15);
    });
    cases.patch("max_skip > max_skipped_keys, cut in RK", &valid, NC, |b| {
        b[timer_at + 9..timer_at + 13].copy_from_slice(&3000u32.to_be_bytes());
        b.truncate(timer_at + 30);
    });
    // (Where the secret's rule stands against its public key's: test 7e.)
    cases.patch("opening DHs unclamped, cut inside CKs", &opening, NC, |b| {
        b[dhs_at] |= 0x01;
        b.truncate(dhs_at + 70);
    });
    cases.patch(
        "opening DHs public ≥ p, body ends after it",
        &opening,
        IK,
        |b| {
            b[dhs_at + 32..dhs_at + 64].copy_from_slice(&P_BYTES);
            b.truncate(dhs_at + 64);
        },
    );
    cases.patch("opening body ends inside Ns", &opening, TR, |b| {
        b.truncate(dhs_at + 99);
    });
    cases.patch("DHr ≥ p, body ends after it", &valid, IK, |b| {
        b[dhr_at..dhr_at + 32].copy_from_slice(&P_BYTES);
        b.truncate(dhr_at + 32);
    });
    // Rows 16–17 are checked "once the blob is read": a cut blob is Truncated first.
    // ... but the counts as soon as they are read.
    cases.patch(
        "old count over the limit, cut after the count",
        &valid,
        NC,
        |b| {
            b[old_at..old_at + 4].copy_from_slice(&6u32.to_be_bytes());
            b.truncate(old_at + 4);
        },
    );
    cases.patch("skipped count 2^32 − 1", &valid, NC, |b| {
        b[first_entry - 4..first_entry].copy_from_slice(&u32::MAX.to_be_bytes());
    });
    cases.patch(
        "skipped count over the limit, first key not canonical",
        &valid,
        NC,
        |b| {
            b[first_entry - 4..first_entry].copy_from_slice(&2001u32.to_be_bytes());
            b[first_entry + 31] = 0x80;
        },
    );
    cases.patch(
        "old key = DHr, cut inside the skipped list",
        &valid,
        TR,
        |b| {
            let dhr = b[dhr_at..dhr_at + 32].to_vec();
            b[old_at + 4..old_at + 36].copy_from_slice(&dhr);
            b.truncate(first_entry + 100);
        },
    );
    cases.patch(
        "skipped N = 2^32 − 1, cut after its entry",
        &valid,
        TR,
        |b| {
            b[first_entry + 32..first_entry + 36].copy_from_slice(&u32::MAX.to_be_bytes());
            b.truncate(first_entry + 80);
        },
    );
    cases.patch(
        "skipped N = 2^32 − 1, cut inside its entry",
        &valid,
        TR,
        |b| {
            b[first_entry + 32..first_entry + 36].copy_from_slice(&u32::MAX.to_be_bytes());
            b.truncate(first_entry + 36);
        },
    );
    cases.patch("skipped count over the limit", &valid, NC, |b| {
        let extra = b[first_entry..first_entry + 80].to_vec();
        let n = base.o().skipped.len();
        b[first_entry - 4..first_entry]
            .copy_from_slice(&u32::try_from(n + 1).unwrap().to_be_bytes());
        b.extend_from_slice(&extra);
        // 5 entries over a limit of 4 keys: max_skip and max_skipped_keys become 4.
        b[timer_at + 9..timer_at + 17].copy_from_slice(&[0, 0, 0, 4, 0, 0, 0, 4]);
    });
    cases.patch("skipped key not canonical, cut after it", &valid, IK, |b| {
        b[first_entry + 31] = 0x80;
        b.truncate(first_entry + 32);
    });
    // ... as the library decides it (SPEC.md does not say), before the end of the body is
    // checked.
    cases.patch("old key = DHr, trailing byte", &valid, NC, |b| {
        let dhr = b[dhr_at..dhr_at + 32].to_vec();
        b[old_at + 4..old_at + 36].copy_from_slice(&dhr);
        b.push(0);
    });
    cases.patch("unknown skipped key, trailing byte", &valid, NC, |b| {
        b[first_entry..first_entry + 32].copy_from_slice(&[9; 32]);
        b.push(0);
    });

    // ---- §10.0 envelope ----
    let mut raw = valid.clone();
    raw[0] = KIND_STORE;
    cases.raw("kind", raw, Some(Err("UnknownType(17)")));
    for v in [0u8, 5, 0xFF] {
        let mut raw = valid.clone();
        raw[1] = v;
        let e: &str = format!("UnknownVersion({v})").leak();
        cases.raw("version", raw, Some(Err(e)));
    }
    // Versions 1, 2 and 4 are read: the version byte passes, the check then fails.
    for v in [V1, V2, sc::VERSION_PQ] {
        let mut raw = valid.clone();
        raw[1] = v;
        cases.raw("v3 blob relabelled", raw, Some(Err("ChecksumMismatch")));
    }
    let mut raw = valid.clone();
    raw[20] ^= 1;
    cases.raw("checksum", raw, Some(Err("ChecksumMismatch")));
    cases.raw("short", valid[..15].to_vec(), TR);
    cases.raw("kind only", valid[..1].to_vec(), TR);
    // The check is the last 16 bytes: 16 bytes have no kind byte, 17 bytes no version byte.
    cases.raw("16 bytes", valid[valid.len() - 16..].to_vec(), TR);
    cases.raw("17 bytes", vec![KIND_SESSION; 17], TR);
    let mut eighteen = vec![KIND_SESSION, 7];
    eighteen.extend_from_slice(&[0; 16]);
    cases.raw(
        "18 bytes, version 7",
        eighteen,
        Some(Err("UnknownVersion(7)")),
    );
    // A version-3 body sealed as version 4: row 8b takes 1573 bytes from row 9 on (§10.3).
    cases.raw(
        "v3 body sealed as v4",
        envelope_v(KIND_SESSION, sc::VERSION_PQ, sc::body(&valid)),
        None,
    );
    // A version-2 or -3 body sealed as the other version: other rows, decoded as such.
    cases.raw(
        "v3 body sealed as v2",
        envelope_v(KIND_SESSION, V2, sc::body(&valid)),
        None,
    );
}
