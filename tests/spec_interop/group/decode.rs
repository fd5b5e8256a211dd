//! Decode errors of state blobs (§10.0, §13.7): for every malformed blob both implementations
//! give the same result, and the one SPEC.md gives where it gives one. Cases whose order SPEC.md
//! leaves open are marked `AMB` (only agreement is checked; their outcome is printed).

use super::decode_wire::{neutral, not_a_point, torsioned};
use super::state::hand_built;
use super::{Dev, text};
use crate::reference::group::{CEILING, MyGroup};
use xchat_protocol::group::GroupSession;

type Expect = Option<Result<(), &'static str>>;
const OK: Expect = Some(Ok(()));
const NC: Expect = Some(Err("NonCanonical"));
const TR: Expect = Some(Err("Truncated"));
const AMB: Expect = None;

fn err(e: &'static str) -> Expect {
    Some(Err(e))
}

/// Offset of member `i`'s entry in a body (§13.7: 186 fixed bytes, 37 + 76 per key + 80 per
/// skipped key for each member).
fn member_at(g: &MyGroup, i: usize) -> usize {
    let size = |m: &crate::reference::group::Member| {
        37 + m
            .keys
            .iter()
            .map(|k| 76 + 80 * k.skipped.len())
            .sum::<usize>()
    };
    186 + g.members[..i].iter().map(size).sum::<usize>()
}

struct Cases(Vec<(String, Vec<u8>, Expect)>);

impl Cases {
    fn raw(&mut self, name: &str, blob: Vec<u8>, e: Expect) {
        self.0.push((name.to_string(), blob, e));
    }
    fn edit(&mut self, name: &str, e: Expect, f: impl Fn(&mut MyGroup)) {
        let mut g = hand_built();
        f(&mut g);
        self.raw(name, g.to_state(), e);
    }
    /// The body of `g` edited as bytes, with a correct check.
    fn bytes(&mut self, name: &str, g: &MyGroup, e: Expect, f: impl Fn(&mut Vec<u8>)) {
        let mut body = g.encode_body();
        f(&mut body);
        self.raw(name, crate::common::state_codec::seal(0x13, 0x01, &body), e);
    }
}

/// Test D3: state blobs: the envelope (§10.0), then every rule of §13.7's table, truncations
/// and trailing bytes; each case against both decoders and SPEC.md.
#[test]
fn state_decode_errors() {
    let mut c = Cases(vec![]);
    state_cases(&mut c);
    run(&c);
}

fn state_cases(c: &mut Cases) {
    let base = hand_built();
    let blob = base.to_state();
    let body_len = blob.len() - 18;
    c.raw("base", blob.clone(), OK);
    // §10.0 envelope, in its order.
    c.raw("empty", vec![], TR);
    c.raw("15 bytes", blob[..15].to_vec(), TR);
    c.raw("check only", blob[blob.len() - 16..].to_vec(), TR);
    c.raw("kind only", [&[0x13u8][..], &[0; 16]].concat(), TR);
    c.raw(
        "kind 0x12, short",
        [&[0x12u8][..], &[0; 16]].concat(),
        err("UnknownType(18)"),
    );
    let with = |at: usize, v: u8| {
        let mut b = blob.clone();
        b[at] = v;
        b
    };
    c.raw("session kind", with(0, 0x12), err("UnknownType(18)"));
    c.raw("sealed kind", with(0, 0x93), err("UnknownType(147)"));
    c.raw("version 0", with(1, 0), err("UnknownVersion(0)"));
    c.raw("version 2", with(1, 2), err("UnknownVersion(2)"));
    c.raw(
        "check",
        with(blob.len() - 1, blob[blob.len() - 1] ^ 1),
        err("ChecksumMismatch"),
    );
    c.raw("body bit", with(40, blob[40] ^ 1), err("ChecksumMismatch"));
    // Truncations at and inside fields, and trailing bytes.
    let m1 = member_at(&base, 1);
    let cuts = [
        0,
        31,
        32,
        64,
        70,
        80,
        91,
        96,
        101,
        102,
        150,
        182,
        185,
        186,
        200,
        218,
        219,
        223,
        227,
        299,
        m1,
        m1 + 40,
        body_len - 1,
    ];
    for cut in cuts {
        c.bytes(&format!("cut at {cut}"), &base, TR, |b| b.truncate(cut));
    }
    c.bytes("trailing byte", &base, err("TrailingBytes"), |b| b.push(0));
    // Limits.
    for i in 0..4 {
        c.edit(&format!("limit {i} = 0"), NC, |g| g.limits[i] = 0);
        c.edit(&format!("limit {i} = 2^20 + 1"), NC, |g| {
            g.limits[i] = CEILING + 1
        });
        c.edit(&format!("limit {i} = 2^20"), OK, |g| g.limits[i] = CEILING);
    }
    c.bytes("AMB max_jump 0, cut inside limits", &base, AMB, |b| {
        b[64..68].fill(0);
        b.truncate(70);
    });
    c.edit("fewer skipped keys allowed than held", NC, |g| {
        g.limits[1] = 2
    });
    c.edit("fewer sender keys allowed than held", NC, |g| {
        g.limits[2] = 1
    });
    c.edit("fewer members allowed than held", NC, |g| g.limits[3] = 2);
    c.edit("as many members as allowed", OK, |g| g.limits[3] = 3);
    // Rotation ("either 0 → NonCanonical"), timer (§8.2's), stale flag.
    c.edit("max_messages 0, max_age 0", NC, |g| g.rotation = (0, 0));
    c.edit("max_messages 0", NC, |g| g.rotation.0 = 0);
    c.edit("max_age_ms 0", NC, |g| g.rotation.1 = 0);
    c.edit("max_messages 1, max_age_ms 1", OK, |g| g.rotation = (1, 1));
    c.bytes(
        "AMB max_messages 0, cut inside max_age_ms",
        &base,
        AMB,
        |b| {
            b[80..84].fill(0);
            b.truncate(88);
        },
    );
    c.edit("timer start 2", NC, |g| g.timer.start = 2);
    c.edit("timer off, on-read", NC, |g| {
        g.timer = crate::reference::group::Timer {
            duration_s: 0,
            start: 1,
            version: 1,
        }
    });
    c.edit("timer off", OK, |g| g.timer.duration_s = 0);
    c.bytes("timer start 2, cut after it", &base, NC, |b| {
        b[96] = 2;
        b.truncate(97);
    });
    c.bytes("timer off on-read, cut in its version", &base, TR, |b| {
        b[92..97].copy_from_slice(&[0, 0, 0, 0, 1]);
        b.truncate(99);
    });
    c.bytes("stale 2", &base, NC, |b| b[101] = 2);
    c.edit("stale", OK, |g| g.stale = true);
    // Our sender key: any iteration, `2^32 − 1` a used-up chain (§13.1).
    c.edit("own iteration 2^32 - 1", OK, |g| g.own.iteration = u32::MAX);
    c.edit("own iteration 2^32 - 2", OK, |g| {
        g.own.iteration = u32::MAX - 1
    });
    c.bytes("own iteration 2^32 - 1, cut after it", &base, TR, |b| {
        b[106..110].fill(0xFF);
        b.truncate(112);
    });
    c.edit("created_at 2^64 - 1, stored IK_local not a key", OK, |g| {
        g.own.created_at = u64::MAX;
        g.local = [0; 32];
    });
    // Members.
    c.bytes("member count 4 (3 present)", &base, TR, |b| b[185] = 4);
    c.bytes("member count 6 > max_members", &base, NC, |b| b[185] = 6);
    c.bytes("member count 0", &base, err("TrailingBytes"), |b| {
        b[185] = 0
    });
    c.edit("members out of order", NC, |g| g.members.swap(0, 1));
    c.edit("member twice", NC, |g| {
        let m = g.members[1].clone();
        g.members.insert(1, m);
    });
    c.edit("member = IK_local", NC, |g| {
        let mut m = g.members[2].clone();
        m.ik = g.local;
        m.keys.clear();
        g.members[2] = m;
        g.members.sort_by_key(|m| m.ik);
    });
    c.edit("member IK not a key (stored form)", OK, |g| {
        g.members[0].ik = [0; 32]
    });
    c.bytes("has-our-key flag 2", &base, NC, |b| b[186 + 32] = 2);
    let first_keys = base.members[0].keys.len() as u8;
    c.bytes("key count over max_sender_keys", &base, NC, |b| {
        b[186 + 36] = 4
    });
    c.bytes(
        "key count over max_sender_keys, cut after it",
        &base,
        NC,
        |b| {
            b[186 + 36] = 4;
            b.truncate(186 + 37);
        },
    );
    c.bytes("key count past the end", &base, None, move |b| {
        b[186 + 36] = first_keys + 1
    });
    let mut swapped = hand_built();
    swapped.members.swap(0, 1);
    let cut = member_at(&swapped, 1) + 36;
    c.bytes(
        "members out of order, cut in the second",
        &swapped,
        TR,
        |b| b.truncate(cut),
    );
    // Out of order (0xFF… first) and a signing key that is no point in the second entry.
    c.edit(
        "members out of order, bad signing key in the second",
        err("InvalidKey"),
        |g| {
            let mut first = g
                .members
                .iter()
                .find(|m| m.keys.is_empty())
                .unwrap()
                .clone();
            first.ik = [0xFF; 32];
            let mut second = g
                .members
                .iter()
                .find(|m| m.keys.len() == 1)
                .unwrap()
                .clone();
            second.keys[0].signing = not_a_point();
            g.members = vec![first, second];
        },
    );
    // Keys.
    let (mi, ki) = key_with_skipped(&base);
    c.edit("two keys of one member with one id", NC, |g| {
        let k = g.members[mi].keys[ki].clone();
        g.members[mi].keys.retain(|x| x.id != k.id);
        let mut k2 = k.clone();
        k2.skipped.clear();
        g.members[mi].keys = vec![k2, k];
    });
    c.edit("signing key not a point", err("InvalidKey"), |g| {
        g.members[mi].keys[ki].signing = not_a_point();
        let s = g.members[mi].keys[ki].signing;
        g.members[mi].keys[ki]
            .skipped
            .iter_mut()
            .for_each(|e| e.chain = s);
    });
    let signing = base.members[mi].keys[ki].signing;
    for (name, k) in [
        ("neutral point", neutral()),
        ("torsion component", torsioned(&signing)),
    ] {
        c.edit(&format!("signing key: {name} (decompresses)"), OK, |g| {
            g.members[mi].keys[ki].signing = k;
            g.members[mi].keys[ki]
                .skipped
                .iter_mut()
                .for_each(|e| e.chain = k);
        });
    }
    c.edit("skipped count over max_skipped_keys", NC, |g| {
        let k = &mut g.members[mi].keys[ki];
        let mut e = k.skipped[0].clone();
        e.iteration = 7;
        k.skipped.push(e.clone());
        e.iteration = 6;
        k.skipped.push(e);
        g.limits[1] = 4;
    });
    // Skipped entries.
    let ed = |f: fn(&mut crate::reference::group::Skipped, u32)| {
        move |g: &mut MyGroup| {
            let k = &mut g.members[mi].keys[ki];
            let next = k.next;
            f(&mut k.skipped[1], next);
        }
    };
    c.edit(
        "entry chain not the signing key",
        NC,
        ed(|e, _| e.chain[0] ^= 1),
    );
    c.edit("entry iteration = next", NC, ed(|e, n| e.iteration = n));
    c.edit(
        "entry iteration > next",
        NC,
        ed(|e, _| e.iteration = u32::MAX),
    );
    c.edit("entry stamp 1", NC, ed(|e, _| e.stamp = 1));
    c.edit("entry iteration repeated", NC, ed(|e, _| e.iteration = 5));
    c.edit("entry skipped_at 0", OK, ed(|e, _| e.skipped_at = 0));
    c.edit("entries ascending", OK, |g| {
        g.members[mi].keys[ki].skipped.sort_by_key(|e| e.iteration);
    });
    let mut bad_chain = hand_built();
    bad_chain.members[mi].keys[ki].skipped[0].chain[0] ^= 1;
    let at = member_at(&bad_chain, mi) + 37 + 76 * (ki + 1) + 80 + 20;
    c.bytes(
        "entry chain wrong, cut in the next entry",
        &bad_chain,
        NC,
        |b| b.truncate(at),
    );
    let list_end = member_at(&bad_chain, mi) + 37 + 76 * 2 + 80 * 3;
    c.bytes(
        "entry chain wrong, cut after the list",
        &bad_chain,
        NC,
        |b| b.truncate(list_end),
    );
    c.bytes(
        "entry chain wrong, cut in the next member",
        &bad_chain,
        NC,
        |b| b.truncate(list_end + 40),
    );
    type Edit = fn(&mut crate::reference::group::Skipped, u32);
    let entry_cases: [(&str, Edit, Expect); 3] = [
        ("stamp 1", |e, _| e.stamp = 1, NC),
        ("iteration = next", |e, n| e.iteration = n, NC),
        // The repeat is the entry cut off: nothing to compare with yet.
        ("iteration repeated", |e, _| e.iteration = 4, TR),
    ];
    for (name, f, want) in entry_cases {
        let mut g = hand_built();
        let k = &mut g.members[mi].keys[ki];
        let next = k.next;
        f(&mut k.skipped[1], next);
        c.bytes(
            &format!("entry {name}, cut in the next entry"),
            &g,
            want,
            |b| b.truncate(at + 80),
        );
    }
    let mut dup = hand_built();
    let id = dup.members[mi].keys[ki].id;
    dup.members[mi].keys[0].id = id;
    let in_list = member_at(&dup, mi) + 37 + 76 * 2 + 20;
    c.bytes(
        "duplicate key id, cut in the second key's list",
        &dup,
        TR,
        |b| b.truncate(in_list),
    );
    let mut me = hand_built();
    let last = me.members.len() - 1;
    me.members[last].ik = [0xFF; 32];
    me.local = [0xFF; 32];
    let inside = member_at(&me, last) + 33;
    c.bytes("member = IK_local, cut inside it", &me, TR, |b| {
        b.truncate(inside)
    });
}

/// The blobs whose decoding SPEC.md fixes and the crate does otherwise. §13.7's key row lists
/// the skipped entries' rules without saying when they run, so §2 rule 7 decides: a plain field
/// check (the stamp) as the field is read, a check relating the entry to its key or to other
/// entries (chain, iteration below `next`, repeats) once that entry is read — so an entry that
/// breaks one, followed by a cut inside the next entry, is `NonCanonical`. The crate reads the
/// whole list first and then checks it (as §10.3 row 17 says for a session's skipped keys), and
/// reports `Truncated`. (The timer's start byte, a member's order and `IK_local`, formerly here,
/// now agree: §8.2 checks the start byte as soon as it is read, §13.7 the member order once the
/// member's entry is read.)
pub(crate) const KNOWN: &[&str] = &[
    "entry chain wrong, cut in the next entry",
    "entry stamp 1, cut in the next entry",
    "entry iteration = next, cut in the next entry",
];

/// Test D4 (ignored: known disagreements, kept runnable): the crate against SPEC.md on the
/// blobs of `KNOWN`.
#[test]
#[ignore = "known disagreement with SPEC.md §2 rule 7: the crate checks a member key's skipped \
            entries (stamp, chain, iteration < next) only once the whole list is read, so a blob \
            cut in the entry after a bad one is Truncated, not NonCanonical"]
fn known_state_disagreements() {
    let mut c = Cases(vec![]);
    state_cases(&mut c);
    let mut failures = vec![];
    for (name, blob, expect) in c.0.iter().filter(|x| KNOWN.contains(&x.0.as_str())) {
        let theirs = GroupSession::from_bytes(blob).map(|_| ()).map_err(text);
        let got = theirs.as_ref().map(|_| ()).map_err(String::as_str);
        if Some(got) != *expect {
            failures.push(format!("{name}: crate {got:?}, SPEC.md {expect:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The member and key of `hand_built` that hold skipped keys.
fn key_with_skipped(g: &MyGroup) -> (usize, usize) {
    for (mi, m) in g.members.iter().enumerate() {
        for (ki, k) in m.keys.iter().enumerate() {
            if k.skipped.len() == 3 {
                return (mi, ki);
            }
        }
    }
    unreachable!()
}

fn run(c: &Cases) {
    let mut failures = vec![];
    for (name, blob, expect) in &c.0 {
        let mine = MyGroup::from_state(blob)
            .map(|g| g.to_state())
            .map_err(text);
        let theirs = GroupSession::from_bytes(blob)
            .map(|g| g.to_bytes().unwrap().to_vec())
            .map_err(text);
        let short =
            |r: &Result<Vec<u8>, String>| r.as_ref().map(|_| "loads").map_err(String::clone);
        if KNOWN.contains(&name.as_str()) {
            // The reference follows SPEC.md (checked below); the crate differs (reported).
            assert_ne!(mine, theirs, "{name}: no longer a disagreement");
        } else if mine != theirs {
            failures.push(format!(
                "{name}: reference {:?}, crate {:?}",
                short(&mine),
                short(&theirs)
            ));
            continue;
        }
        if let Ok(b) = &mine {
            assert_eq!(b, blob, "{name}: re-encoded differently");
        }
        let got = mine.as_ref().map(|_| ()).map_err(String::as_str);
        match expect {
            Some(e) if got != *e => failures.push(format!("{name}: {got:?}, SPEC.md says {e:?}")),
            None => eprintln!("not fixed by SPEC.md: {name} -> {got:?}"),
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let _ = Dev::load(&hand_built().to_state());
}
