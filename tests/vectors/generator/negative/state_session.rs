//! Session blobs (SPEC.md §10.0, §10.3), made with the shared reference codec from a responder
//! with an old chain; bytes it cannot express (a phase 3, a flag 0x02) are patched into the body.

use super::super::primitives::a32;
use super::super::state_codec::{
    self, KIND_IDENTITY, KIND_SESSION, Open, Sending, SessionBlob, VERSION, clamp, seal,
};
use super::super::state_fields::{open_mut, parse_session};
use super::fixture::Fixture;
use super::harness::{Neg, with};
use super::points::Points;

/// Session blobs (§10.3); `fresh_key` is a ratchet key of no chain of the session.
pub(super) fn session(neg: &mut Neg, fx: &Fixture, fresh_key: [u8; 32]) {
    let Fixture {
        bob_with_old_chain, ..
    } = fx;
    let Points { p, top_bit, .. } = Points::new();
    let ssf = "Session::from_bytes";
    let base = parse_session(bob_with_old_chain);
    let open = base.open().expect("an open ratchet");
    assert!(
        open.old.len() == 1 && open.skipped.len() == 2,
        "{:?}",
        (open.old.len(), open.skipped.len())
    );
    assert!(open.send.is_none(), "a pending sending side");
    let sending = |f: &dyn Fn(&mut Sending)| {
        let mut c = Sending {
            dhs: state_codec::KeyPair::from_secret(clamp([0x42; 32])),
            ck: [0x43; 32],
            n: 0,
        };
        f(&mut c);
        c
    };
    let edit = |f: &dyn Fn(&mut SessionBlob)| {
        let mut s = base.clone();
        f(&mut s);
        s.encode_v3()
    };
    // The open phase's parts of `base`, edited.
    let edit_open = |f: &dyn Fn(&mut Open)| edit(&|s| f(open_mut(s)));
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "session blob: 15 bytes",
            "§10.0",
            bob_with_old_chain[..15].to_vec(),
            "Truncated",
        ),
        (
            "session blob: identity kind",
            "§10.0",
            seal(KIND_IDENTITY, 1, &base.body_v3()),
            "UnknownType(16)",
        ),
        (
            "session blob: version 5",
            "§10.0",
            seal(KIND_SESSION, 5, &base.body_v3()),
            "UnknownVersion(5)",
        ),
        (
            "session blob: flipped root key bit",
            "§10.0",
            with(bob_with_old_chain, |v| v[200] ^= 1),
            "ChecksumMismatch",
        ),
        (
            "session blob: phase 3",
            "§10.3 #1",
            // The data model has no phase 3: the byte is patched.
            seal(KIND_SESSION, VERSION, &with(&base.body_v3(), |b| b[0] = 3)),
            "NonCanonical",
        ),
        (
            "session blob: DHs secret not clamped (bit 0 set)",
            "§10.0, §10.3 #13",
            edit_open(&|o| o.send = Some(sending(&|c| c.dhs.secret[0] |= 1))),
            "NonCanonical",
        ),
        (
            "session blob: DHs secret not clamped (bit 6 of byte 31 clear)",
            "§10.0, §10.3 #13",
            edit_open(&|o| o.send = Some(sending(&|c| c.dhs.secret[31] &= 0xBF))),
            "NonCanonical",
        ),
        (
            "session blob: DHs public u = p",
            "§10.0, §10.3 #13",
            edit_open(&|o| o.send = Some(sending(&|c| c.dhs.public = p))),
            "InvalidKey",
        ),
        (
            "session blob: skipped key at N = 2^32 - 1",
            "§6.4, §10.3 #17",
            edit_open(&|o| {
                let last = o.skipped.len() - 1;
                o.skipped[last].n = u32::MAX;
            }),
            "NonCanonical",
        ),
        (
            "session blob: context of 1025 bytes",
            "§10.3 #4",
            edit(&|s| s.context = vec![b'c'; 1025]),
            "NonCanonical",
        ),
        (
            "session blob: base key u = p",
            "§10.3 #6",
            edit(&|s| s.base = p),
            "InvalidKey",
        ),
        (
            "session blob: max_skip = 0",
            "§10.3 #10",
            edit(&|s| s.limits[0] = 0),
            "NonCanonical",
        ),
        (
            "session blob: max_skip > max_skipped_keys",
            "§10.3 #10",
            edit(&|s| s.limits[0] = s.limits[1] + 1),
            "NonCanonical",
        ),
        (
            "session blob: max_skipped_key_age above 2^20",
            "§10.3 #10",
            edit(&|s| s.limits[3] = (1 << 20) + 1),
            "NonCanonical",
        ),
        (
            "session blob: timer start 0x02",
            "§10.3 #9",
            edit(&|s| {
                s.timer = state_codec::Timer {
                    duration_s: 60,
                    start: 2,
                    version: 1,
                }
            }),
            "NonCanonical",
        ),
        (
            "session blob: timer off but on-read",
            "§10.3 #9",
            edit(&|s| {
                s.timer = state_codec::Timer {
                    duration_s: 0,
                    start: 1,
                    version: 1,
                }
            }),
            "NonCanonical",
        ),
        (
            "session blob: DHr top bit",
            "§10.3 #12",
            edit_open(&|o| o.dhr = a32(&top_bit)),
            "InvalidKey",
        ),
        (
            "session blob: sending flag 0x02",
            "§10.3 #13",
            {
                // Row 13's flag, after DHr, CKr and Nr.
                let mut b = base.body_v3();
                let at = base.ratchet_offset() + 32 + 32 + 4;
                assert_eq!(b[at], 0, "pending sending side");
                b[at] = 2;
                seal(KIND_SESSION, VERSION, &b)
            },
            "NonCanonical",
        ),
        (
            "session blob: old key equal to DHr",
            "§10.3 #16",
            edit_open(&|o| o.old.push(o.dhr)),
            "NonCanonical",
        ),
        (
            "session blob: duplicate old key",
            "§10.3 #16",
            edit_open(&|o| o.old.push(o.old[0])),
            "NonCanonical",
        ),
        (
            "session blob: skipped key of an unknown chain",
            "§10.3 #17",
            edit_open(&|o| o.skipped[0].key = fresh_key),
            "NonCanonical",
        ),
        (
            "session blob: duplicate skipped (key, N)",
            "§10.3 #17",
            edit_open(&|o| o.skipped.push(o.skipped[1].clone())),
            "NonCanonical",
        ),
        (
            "session blob: more skipped keys than max_skipped_keys",
            "§10.3 #17",
            edit(&|s| {
                s.limits[0] = 1;
                s.limits[1] = 1;
            }),
            "NonCanonical",
        ),
        (
            "session blob: skipped ages increasing",
            "§10.3 #17",
            edit_open(&|o| {
                o.skipped[1].stamp = o.skipped[0].stamp.wrapping_sub(1);
            }),
            "NonCanonical",
        ),
        (
            "session blob: skipped key older than max_skipped_key_age",
            "§10.3 #17",
            edit(&|s| {
                s.limits[3] = 1;
                let o = open_mut(s);
                o.skipped[0].stamp = o.received.wrapping_sub(2);
                o.skipped[1].stamp = o.received.wrapping_sub(2);
            }),
            "NonCanonical",
        ),
        (
            "session blob: trailing byte",
            "§10.0",
            seal(KIND_SESSION, VERSION, &with(&base.body_v3(), |v| v.push(0))),
            "TrailingBytes",
        ),
        (
            "session blob: body cut inside the skipped list",
            "§10.0",
            {
                let b = base.body_v3();
                seal(KIND_SESSION, VERSION, &b[..b.len() - 1])
            },
            "Truncated",
        ),
    ];
    let mut old_over = base.clone();
    old_over.limits[2] = 1;
    open_mut(&mut old_over).old.insert(0, fresh_key);
    for (name, spec, bytes, expected) in cases {
        neg.decode(name, spec, ssf, &bytes, expected);
    }
    neg.decode(
        "session blob: more old chains than max_old_chains",
        "§10.3 #16",
        ssf,
        &old_over.encode_v3(),
        "NonCanonical",
    );
}
