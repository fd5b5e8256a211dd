//! Receiving (§13.4) across implementations: out-of-order delivery, skipped keys, every limit
//! and the exact check order, the receiver's distribution rules (§13.2), frames, timers and the
//! purge (§13.3, §8.4–§8.6). Every call runs on both implementations (`Dev`), which must agree
//! on the result and the state, and every `Err` must change nothing.

use super::{Cfg, DEFAULT, Dev, GID, NOW, full_group, ik, rng};
use crate::reference::group::{
    Deadline, Dist, Frame, KIND_SENDER_KEY, Receipt, Timer, build_msg, decode_dist, encode_dist,
    encode_frame, resign, signing_public,
};
use crate::reference::primitives::{K32, kdf_ck};

const SMALL: Cfg = Cfg {
    limits: [5, 3, 2, 10],
    rotation: (1000, 604_800_000),
};

fn sends(dev: &mut Dev, r: &mut rand_chacha::ChaCha20Rng, n: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| dev.encrypt(r, NOW, &[b'm', i]).unwrap())
        .collect()
}

/// Test R1: out of order with `max_jump` 5 and `max_skipped_keys` 3: a jump of 6 is
/// `TooFarInFuture`, one of 5 derives 5 keys and keeps the newest 3, older ones are dropped
/// (`DuplicateMessage`), a skipped key opens once.
#[test]
fn out_of_order_and_skipped_key_limits() {
    let mut r = rng(10);
    let mut devs = full_group(&mut r, 2, SMALL);
    let a = devs[0].mine.local;
    let m = sends(&mut devs[0], &mut r, 14);
    let b = &mut devs[1];
    assert_eq!(b.decrypt(&a, &m[2]).unwrap(), b"m\x02");
    assert_eq!(b.mine.skipped_key_count(), 2);
    assert_eq!(b.decrypt(&a, &m[0]).unwrap(), b"m\x00");
    assert_eq!(b.decrypt(&a, &m[0]).unwrap_err(), "DuplicateMessage");
    assert_eq!(b.decrypt(&a, &m[9]).unwrap_err(), "TooFarInFuture");
    assert_eq!(b.decrypt(&a, &m[8]).unwrap(), b"m\x08");
    let kept: Vec<u32> = b.mine.members[0].keys[0]
        .skipped
        .iter()
        .map(|s| s.iteration)
        .collect();
    assert_eq!(kept, [5, 6, 7]);
    for i in [1, 3, 4] {
        assert_eq!(b.decrypt(&a, &m[i]).unwrap_err(), "DuplicateMessage");
    }
    assert_eq!(b.decrypt(&a, &m[6]).unwrap(), b"m\x06");
    assert_eq!(b.decrypt(&a, &m[6]).unwrap_err(), "DuplicateMessage");
    assert_eq!(b.decrypt(&a, &m[9]).unwrap(), b"m\x09");
    assert_eq!(b.decrypt(&a, &m[13]).unwrap(), b"m\x0d");
    // Now 5, 7 (old) and 10, 11, 12 (new): the front is dropped.
    let kept: Vec<u32> = b.mine.members[0].keys[0]
        .skipped
        .iter()
        .map(|s| s.iteration)
        .collect();
    assert_eq!(kept, [10, 11, 12]);
    assert_eq!(b.decrypt(&a, &m[5]).unwrap_err(), "DuplicateMessage");
    assert_eq!(b.decrypt(&a, &m[11]).unwrap(), b"m\x0b");
    // Skipped keys stored by `decrypt` have no clock (§8.6): 2^64 − 1.
    assert!(
        b.mine.members[0].keys[0]
            .skipped
            .iter()
            .all(|s| s.skipped_at == u64::MAX)
    );
}

/// Test R2: the check order of §13.4 on one forged message at a time; each later check is
/// reached only when the earlier ones pass.
#[test]
fn receiving_check_order() {
    let mut r = rng(11);
    let mut devs = full_group(&mut r, 3, SMALL);
    let (a, c) = (devs[0].mine.local, devs[2].mine.local);
    let m0 = devs[0].encrypt(&mut r, NOW, b"m0").unwrap();
    let own = devs[0].mine.own.clone();
    let b = &mut devs[1];
    // 2: another group id (the signature would fail too, and is not reached).
    let mut wrong = m0.clone();
    wrong[2] ^= 1;
    assert_eq!(b.decrypt(&a, &wrong).unwrap_err(), "WrongGroup");
    assert_eq!(b.decrypt(&ik(9), &wrong).unwrap_err(), "WrongGroup");
    // 3: not a member, or ourselves.
    assert_eq!(b.decrypt(&ik(9), &m0).unwrap_err(), "NotAMember");
    let me = b.mine.local;
    assert_eq!(b.decrypt(&me, &m0).unwrap_err(), "NotAMember");
    // 4: a key id not held for this sender.
    let mut unknown = m0.clone();
    unknown[34..38].copy_from_slice(&(own.id ^ 1).to_be_bytes());
    let want = format!("UnknownSenderKey({})", own.id ^ 1);
    assert_eq!(b.decrypt(&a, &unknown).unwrap_err(), want);
    // 5: the signature, before any derivation: an altered iteration far ahead, a changed
    // ciphertext, another member named as the sender (§12 item 21), a signature by another key.
    for at in [38, 60, m0.len() - 1] {
        let mut bad = m0.clone();
        bad[at] ^= 0x40;
        assert_eq!(
            b.decrypt(&a, &bad).unwrap_err(),
            "InvalidSignature",
            "byte {at}"
        );
    }
    let (d_a, _) = devs[0].distribution(&mut r, NOW);
    let b = &mut devs[1];
    b.process(&c, &d_a).unwrap();
    assert_eq!(b.decrypt(&c, &m0).unwrap_err(), "InvalidSignature");
    let forged = resign(&a, &m0[..m0.len() - 64], &[5; 32]);
    assert_eq!(b.decrypt(&a, &forged).unwrap_err(), "InvalidSignature");
    // 6/8: signed by the sender key but sealed under another message key.
    let ids = (&GID, own.id, 1);
    let bad_mk = build_msg(&a, ids, &[0; 32], &[1; 16], &own.seed, b"x");
    assert_eq!(b.decrypt(&a, &bad_mk).unwrap_err(), "DecryptionFailed");
    assert_eq!(b.mine.skipped_key_count(), 0);
    // 7: i = 2^32 − 1, and i − next > max_jump; exactly max_jump is allowed.
    let ids = (&GID, own.id, u32::MAX);
    let top = build_msg(&a, ids, &[0; 32], &[1; 16], &own.seed, b"x");
    assert_eq!(b.decrypt(&a, &top).unwrap_err(), "TooFarInFuture");
    let m = sends(&mut devs[0], &mut r, 7);
    let b = &mut devs[1];
    assert_eq!(b.decrypt(&a, &m[5]).unwrap_err(), "TooFarInFuture");
    assert_eq!(b.decrypt(&a, &m[4]).unwrap(), b"m\x04");
    // 6: a skipped key opens only its own message (iterations 2, 3, 4 kept).
    let mk2 = b.mine.members[0].keys[0].skipped[0].mk;
    let bad = build_msg(&a, (&GID, own.id, 3), &mk2, &[2; 16], &own.seed, b"x");
    assert_eq!(b.decrypt(&a, &bad).unwrap_err(), "DecryptionFailed");
    assert_eq!(b.decrypt(&a, &m[1]).unwrap(), b"m\x01");
    assert_eq!(b.decrypt(&a, &m0).unwrap_err(), "DuplicateMessage");
}

/// Test R3: a receiving key at the top of the counter (a forged state both load): iteration
/// `2^32 − 2` opens, `2^32 − 1` is `TooFarInFuture` although its jump is 0.
#[test]
fn the_last_iteration() {
    let mut r = rng(12);
    let devs = full_group(&mut r, 2, SMALL);
    let a = devs[0].mine.local;
    let own = devs[0].mine.own.clone();
    let mut st = devs[1].mine.clone();
    let ck = [0x33; 32];
    st.members[0].keys[0].next = u32::MAX - 1;
    st.members[0].keys[0].ck = ck;
    let mut b = Dev::load(&st.to_state());
    let (mk, next) = kdf_ck(&ck);
    let m = build_msg(
        &a,
        (&GID, own.id, u32::MAX - 1),
        &mk,
        &[3; 16],
        &own.seed,
        b"last",
    );
    assert_eq!(b.decrypt(&a, &m).unwrap(), b"last");
    assert_eq!(b.mine.members[0].keys[0].next, u32::MAX);
    let (mk, _) = kdf_ck(&next);
    let m = build_msg(
        &a,
        (&GID, own.id, u32::MAX),
        &mk,
        &[3; 16],
        &own.seed,
        b"never",
    );
    assert_eq!(b.decrypt(&a, &m).unwrap_err(), "TooFarInFuture");
}

fn dist_of(key_id: u32, iteration: u32, ck: K32, signing_seed: &K32) -> Vec<u8> {
    let d = Dist {
        group_id: GID,
        key_id,
        iteration,
        ck,
        signing: signing_public(signing_seed),
    };
    encode_dist(&d)
}

/// Test R4: §13.2's rules: a repeat (same id and signing key, any iteration) changes nothing;
/// the same id with another signing key replaces the key, which becomes the newest (its skipped
/// keys dropped); a new id is appended and the oldest dropped beyond `max_sender_keys` (2);
/// wrong group and non-members refused.
#[test]
fn distribution_rules() {
    let mut r = rng(13);
    let mut devs = full_group(&mut r, 2, SMALL);
    let a = devs[0].mine.local;
    let m = sends(&mut devs[0], &mut r, 3);
    let (d_now, _) = devs[0].distribution(&mut r, NOW);
    let a_seed = devs[0].mine.own.seed;
    let b = &mut devs[1];
    let before = b.state();
    // A repeat at a later iteration: nothing changes; the old messages still open.
    b.process(&a, &d_now).unwrap();
    let d0 = decode_dist(&d_now).unwrap();
    b.process(&a, &dist_of(d0.key_id, 0, [9; 32], &a_seed))
        .unwrap();
    assert_eq!(b.state(), before);
    assert_eq!(b.decrypt(&a, &m[1]).unwrap(), b"m\x01");
    // Refusals.
    let mut other = d_now.clone();
    other[1] ^= 1;
    assert_eq!(b.process(&a, &other).unwrap_err(), "WrongGroup");
    assert_eq!(b.process(&ik(9), &other).unwrap_err(), "WrongGroup");
    assert_eq!(b.process(&ik(9), &d_now).unwrap_err(), "NotAMember");
    let me = b.mine.local;
    assert_eq!(b.process(&me, &d_now).unwrap_err(), "NotAMember");
    // Two more keys: the first is dropped (max_sender_keys = 2).
    b.process(&a, &dist_of(7, 0, [1; 32], &[0x71; 32])).unwrap();
    b.process(&a, &dist_of(8, 4, [2; 32], &[0x81; 32])).unwrap();
    let ids: Vec<u32> = b.mine.members[0].keys.iter().map(|k| k.id).collect();
    assert_eq!(ids, [7, 8]);
    let want = format!("UnknownSenderKey({})", d0.key_id);
    assert_eq!(b.decrypt(&a, &m[2]).unwrap_err(), want);
    // Id 7 with another signing key: replaced, as the newest, from its iteration, no skipped
    // keys.
    let (mk7, _) = kdf_ck(&[1; 32]);
    let m7 = build_msg(
        &a,
        (&GID, 7, 1),
        &kdf_ck(&kdf_ck(&[1; 32]).1).0,
        &[4; 16],
        &[0x71; 32],
        b"7",
    );
    assert_eq!(b.decrypt(&a, &m7).unwrap(), b"7");
    assert_eq!(b.mine.skipped_key_count(), 1);
    b.process(&a, &dist_of(7, 2, [3; 32], &[0x72; 32])).unwrap();
    let keys = &b.mine.members[0].keys;
    assert_eq!(
        (keys[0].id, keys[1].id, keys[1].next, keys[1].skipped.len()),
        (8, 7, 2, 0)
    );
    let m7old = build_msg(&a, (&GID, 7, 0), &mk7, &[4; 16], &[0x71; 32], b"7");
    assert_eq!(b.decrypt(&a, &m7old).unwrap_err(), "InvalidSignature");
    let m7new = build_msg(&a, (&GID, 7, 1), &mk7, &[4; 16], &[0x72; 32], b"7");
    assert_eq!(b.decrypt(&a, &m7new).unwrap_err(), "DuplicateMessage");
    let m7new = build_msg(
        &a,
        (&GID, 7, 2),
        &kdf_ck(&[3; 32]).0,
        &[4; 16],
        &[0x72; 32],
        b"7'",
    );
    assert_eq!(b.decrypt(&a, &m7new).unwrap(), b"7'");
    // The next new key drops 8, the oldest, and keeps the replacing 7.
    b.process(&a, &dist_of(10, 0, [6; 32], &[0xA1; 32]))
        .unwrap();
    let ids: Vec<u32> = b.mine.members[0].keys.iter().map(|k| k.id).collect();
    assert_eq!(ids, [7, 10]);
    let ck8 = [2; 32];
    let m8 = build_msg(
        &a,
        (&GID, 8, 4),
        &kdf_ck(&ck8).0,
        &[4; 16],
        &[0x81; 32],
        b"8",
    );
    assert_eq!(b.decrypt(&a, &m8).unwrap_err(), "UnknownSenderKey(8)");
    // A key distributed at the last iteration: taken; nothing can be read with it.
    b.process(&a, &dist_of(9, u32::MAX, [5; 32], &[0x91; 32]))
        .unwrap();
    let top = build_msg(
        &a,
        (&GID, 9, u32::MAX),
        &kdf_ck(&[5; 32]).0,
        &[4; 16],
        &[0x91; 32],
        b"",
    );
    assert_eq!(b.decrypt(&a, &top).unwrap_err(), "TooFarInFuture");
}

/// Test R5: `max_skipped_keys` counts per sender key (§13.4 table): two keys of one member
/// each keep their own.
#[test]
fn skipped_keys_per_sender_key() {
    let mut r = rng(14);
    let mut devs = full_group(&mut r, 2, SMALL);
    let a = devs[0].mine.local;
    let b = &mut devs[1];
    b.process(&a, &dist_of(7, 0, [1; 32], &[0x71; 32])).unwrap();
    let mut ck = [1u8; 32];
    for _ in 0..5 {
        ck = kdf_ck(&ck).1;
    }
    let m = build_msg(
        &a,
        (&GID, 7, 5),
        &kdf_ck(&ck).0,
        &[4; 16],
        &[0x71; 32],
        b"k7",
    );
    assert_eq!(b.decrypt(&a, &m).unwrap(), b"k7");
    let m = sends(&mut devs[0], &mut r, 5);
    let b = &mut devs[1];
    assert_eq!(b.decrypt(&a, &m[4]).unwrap(), b"m\x04");
    assert_eq!(b.mine.skipped_key_count(), 6);
}

fn frame(kind: u8, sent_at: u64, timer: Timer, body: &[u8]) -> Vec<u8> {
    let f = Frame {
        kind,
        sent_at,
        timer,
        body: body.to_vec(),
    };
    encode_frame(&f).unwrap()
}

/// Test R6: frames in group messages (§13.3): a timer update applies at the receiver, a
/// message gets its deadline, a late one is `Expired` (its key consumed), a frame of kind 0x03
/// is `Unreadable(UnknownType(3))` before its timer is looked at, a malformed frame is
/// `Unreadable`; a timer more than `2^16` versions ahead is not applied (but bounds its own
/// deadline); then §8.6's purge under the group's timer, sparing keys `decrypt` stored.
#[test]
fn frames_timers_and_purge() {
    let mut r = rng(15);
    let mut devs = full_group(&mut r, 3, DEFAULT);
    let a = devs[0].mine.local;
    let t = devs[0].set_timer(&mut r, NOW, 60, 0).unwrap();
    let m: Vec<_> = (0..6u8)
        .map(|i| devs[0].send(&mut r, NOW + 1, &[i]).unwrap())
        .collect();
    devs[2].receive(&a, &t, NOW).unwrap();
    let b = &mut devs[1];
    let got = b.receive(&a, &t, NOW).unwrap();
    let Receipt::Message {
        kind: 2,
        timer_changed: true,
        ..
    } = got
    else {
        panic!("{got:?}")
    };
    let got = b.receive(&a, &m[0], NOW + 2).unwrap();
    assert!(matches!(got, Receipt::Message { deadline: Deadline::At(t), .. } if t == NOW + 60_001));
    // m[3] received 10 minutes late: m[1], m[2] skipped at that time; m[3] expired.
    let late = NOW + 600_000;
    assert!(matches!(
        b.receive(&a, &m[3], late).unwrap(),
        Receipt::Expired {
            timer_changed: false
        }
    ));
    assert_eq!(b.decrypt(&a, &m[3]).unwrap_err(), "DuplicateMessage");
    assert_eq!(b.purge(late + 60_000 + 600_000), 0);
    assert_eq!(b.purge(late + 60_000 + 600_001), 2);
    // `decrypt` stores keys without a clock: never purged.
    assert!(b.decrypt(&a, &m[5]).is_ok());
    assert_eq!(b.purge(u64::MAX), 0);
    assert_eq!(b.mine.skipped_key_count(), 1);
    // On-read and a concurrent change at the same version: the more private wins (§8.4).
    let c = devs[2].mine.local;
    let t2 = devs[2].set_timer(&mut r, NOW, 30, 1).unwrap();
    let t3 = devs[0].set_timer(&mut r, NOW, 3600, 0).unwrap();
    for (dev, (sender, msg)) in [(1, (c, &t2)), (1, (a, &t3)), (0, (c, &t2)), (2, (a, &t3))] {
        devs[dev].receive(&sender, msg, NOW).unwrap();
    }
    let all: Vec<Timer> = devs.iter().map(|d| d.mine.timer).collect();
    assert!(
        all.iter().all(|t| *t
            == Timer {
                duration_s: 30,
                start: 1,
                version: 2
            }),
        "{all:?}"
    );
    let m = devs[0].send(&mut r, NOW, b"read me").unwrap();
    let got = devs[1].receive(&a, &m, NOW + 99_000_000).unwrap();
    assert!(matches!(
        got,
        Receipt::Message {
            deadline: Deadline::AfterRead(30_000),
            ..
        }
    ));
    // Kind 0x03 carrying a newer timer, and malformed frames: authenticated, unreadable, and
    // none applies its timer.
    let newer = Timer {
        duration_s: 5,
        start: 1,
        version: 9,
    };
    let current = devs[1].mine.timer;
    let k3 = frame(KIND_SENDER_KEY, NOW, newer, &[0; 105]);
    for (pt, want) in [
        (k3, "Unreadable(UnknownType(3))"),
        (b"raw bytes".to_vec(), "Unreadable(UnknownVersion(114))"),
        (vec![1, 9], "Unreadable(UnknownType(9))"),
        (vec![1, 1, 0], "Unreadable(Truncated)"),
    ] {
        let msg = devs[0].encrypt(&mut r, NOW, &pt).unwrap();
        for dev in &mut devs[1..] {
            assert_eq!(format!("{:?}", dev.receive(&a, &msg, NOW).unwrap()), want);
            assert_eq!(dev.mine.timer, current, "{want}");
        }
    }
    // Turning the timer off: start is on-send whatever was asked (§8.3); it applies at the
    // receivers, whose timers stay the sender's.
    let off = devs[0].set_timer(&mut r, NOW, 0, 1).unwrap();
    let got = devs[1].receive(&a, &off, NOW).unwrap();
    assert!(matches!(
        got,
        Receipt::Message {
            kind: 2,
            timer_changed: true,
            ..
        }
    ));
    let want = Timer {
        duration_s: 0,
        start: 0,
        version: 3,
    };
    assert_eq!((devs[0].mine.timer, devs[1].mine.timer), (want, want));
    // §13.3's step: exactly `2^16` versions ahead applies; one more does not, and the message
    // still gets the more private of the two timers as its deadline (§8.5).
    let ahead = Timer {
        duration_s: 60,
        start: 0,
        version: 3 + (1 << 16),
    };
    let beyond = Timer {
        duration_s: 30,
        start: 0,
        version: ahead.version + (1 << 16) + 1,
    };
    for (t, applies, ms) in [(ahead, true, 60_000), (beyond, false, 30_000)] {
        let msg = devs[0]
            .encrypt(&mut r, NOW, &frame(1, NOW, t, b"step"))
            .unwrap();
        let got = devs[1].receive(&a, &msg, NOW).unwrap();
        let Receipt::Message {
            timer_changed,
            deadline,
            timer,
            ..
        } = got
        else {
            panic!("{got:?}")
        };
        assert_eq!(
            (timer_changed, deadline, timer),
            (applies, Deadline::At(NOW + ms), t)
        );
        assert_eq!(devs[1].mine.timer, ahead);
    }
    // The maximal version from a member: not applied, and `set_timer` still works after it.
    let last = Timer {
        duration_s: 1,
        start: 0,
        version: u32::MAX,
    };
    let msg = devs[2]
        .encrypt(&mut r, NOW, &frame(2, NOW, last, b""))
        .unwrap();
    let c = devs[2].mine.local;
    let got = devs[1].receive(&c, &msg, NOW).unwrap();
    assert!(matches!(
        got,
        Receipt::Message {
            timer_changed: false,
            ..
        }
    ));
    devs[1].set_timer(&mut r, NOW, 0, 0).unwrap();
    assert_eq!(devs[1].mine.timer.version, ahead.version + 1);
}
