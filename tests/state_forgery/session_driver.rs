//! Driving a loaded session blob: the calls made on it, checking (b) after every call and (c)
//! (no authentic message decrypts twice) on every delivery.

use std::collections::HashSet;

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::content::Content;
use xchat_protocol::sealed_sender::seal_to;
use xchat_protocol::{
    DecodeError, Error, IdentityKeyPair, Incoming, Limits, SealedSenderError, Session, TimerStart,
};

use crate::common::state_codec::{self as codec, K32};
use crate::stages::{Msg, Stage};
use crate::support::{Loaded, NOW, NOWS, check_after, load, pick, saved};

#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// Deliver peer message `msg` (mod count) through `receive` at `NOWS[now]`, or `decrypt`.
    Deliver {
        msg: usize,
        receive: bool,
        now: u8,
    },
    /// `encrypt` (raw) or `send` (framed); the first one may use the stage's scripted RNG.
    Encrypt {
        scripted: bool,
        framed: bool,
    },
    SetTimer {
        duration: u32,
        on_read: bool,
    },
    Purge(u8),
    SetLimits([u32; 4]),
    /// The limits in force with limit `which` replaced by `value`.
    ShrinkLimit {
        which: u8,
        value: u32,
    },
    /// Delivers again a message that opened earlier in this run or before the snapshot.
    Redeliver {
        pick: usize,
        receive: bool,
    },
    /// Delivers the peer message with ratchet key `focus` (see [`run_session`]) and counter `n`.
    DeliverFocus {
        n: u8,
        receive: bool,
    },
    /// The calls that need the peer's identity as a point ([`check_identity_uses`]).
    Identity,
    /// Delivers back a message the session itself sent in this run: always refused.
    Reflect(usize),
    /// `to_bytes` then `from_bytes`, continuing with the reloaded session.
    Reload,
}

fn limit_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(2),
        Just(3),
        Just(5),
        Just(8),
        Just(2000),
        Just(1 << 20),
        Just((1 << 20) + 1),
    ]
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    let limits = [limit_value(), limit_value(), limit_value(), limit_value()];
    prop_oneof![
        10 => (any::<usize>(), any::<bool>(), 0u8..5)
            .prop_map(|(msg, receive, now)| Op::Deliver { msg, receive, now }),
        3 => (prop::bool::weighted(0.7), any::<bool>())
            .prop_map(|(scripted, framed)| Op::Encrypt { scripted, framed }),
        1 => (prop_oneof![Just(0u32), Just(1), Just(3600)], any::<bool>())
            .prop_map(|(duration, on_read)| Op::SetTimer { duration, on_read }),
        1 => (0u8..5).prop_map(Op::Purge),
        1 => limits.prop_map(Op::SetLimits),
        2 => (0u8..4, limit_value()).prop_map(|(which, value)| Op::ShrinkLimit { which, value }),
        3 => (any::<usize>(), any::<bool>())
            .prop_map(|(pick, receive)| Op::Redeliver { pick, receive }),
        2 => Just(Op::Identity),
        2 => any::<usize>().prop_map(Op::Reflect),
        1 => Just(Op::Reload),
    ]
}

/// SPEC.md §10.0: a stored identity is decoded only when a call needs the point — sealing to the
/// peer, its X25519 form, a signature check — and bytes that are not a valid key make that call
/// fail (`InvalidKey`; `InvalidSignature` for `verify`), never panic.
pub(crate) fn check_identity_uses(
    s: &Session,
    st: &Stage,
    rng: &mut ChaCha20Rng,
    what: &str,
) -> Result<(), TestCaseError> {
    let remote = s.remote_identity();
    let valid = codec::ed25519_valid(remote.as_bytes());
    let peer = IdentityKeyPair::from_seed(&st.peer_seed);
    let subject = IdentityKeyPair::from_seed(&st.subject_seed);
    let sealed = seal_to(rng, &subject, &st.certificate, remote, b"sealed");
    let x = remote.x25519();
    if valid {
        prop_assert!(sealed.is_ok() && x.is_ok(), "{}: a valid identity", what);
    } else {
        let invalid = SealedSenderError::Decode(DecodeError::InvalidKey);
        prop_assert_eq!(sealed.err(), Some(invalid), "{}: sealed to it", what);
        prop_assert_eq!(x.err(), Some(DecodeError::InvalidKey), "{}", what);
    }
    let is_peer = remote == peer.public();
    let verified = remote.verify(b"signed", &peer.sign(b"signed"));
    prop_assert_eq!(verified.is_ok(), is_peer, "{}: verify", what);
    if !is_peer {
        prop_assert_eq!(verified.err(), Some(Error::InvalidSignature), "{}", what);
    }
    prop_assert_eq!(s.check_remote_identity(peer.public()).is_ok(), is_peer);
    Ok(())
}

/// Authentic peer messages that opened (before the snapshot, or in this run).
struct Consumed {
    set: HashSet<usize>,
    order: Vec<usize>,
    opened_here: usize,
    replays: usize,
    /// Whether a replay fails (c), or is only counted.
    replay_fails: bool,
}

/// Delivers peer message `i`; checks the plaintext and (c). Returns whether it opened (the key
/// was consumed: `Ok`, or `Expired`/`InvalidContent` after authentication).
fn deliver(
    s: &mut Session,
    (m, i): (&Msg, usize),
    receive: bool,
    now: u64,
    consumed: &mut Consumed,
    what: &str,
) -> Result<bool, TestCaseError> {
    let opened = if receive {
        match s.receive(&m.bytes, now) {
            Ok(xchat_protocol::Receipt::Message(r)) => {
                prop_assert!(m.framed && r.body == m.body, "{}: wrong content", what);
                true
            }
            Ok(xchat_protocol::Receipt::Expired { .. }) => true,
            Ok(xchat_protocol::Receipt::Unreadable(_)) => {
                prop_assert!(!m.framed, "{}: a real frame is invalid", what);
                true
            }
            Err(_) => false,
        }
    } else {
        match s.decrypt(&m.bytes) {
            Ok(pt) if m.framed => {
                let body = Content::from_padded_bytes(&pt).unwrap().body;
                prop_assert!(body == m.body, "{}: wrong plaintext", what);
                true
            }
            Ok(pt) => {
                prop_assert!(pt == m.body, "{}: wrong plaintext", what);
                true
            }
            Err(_) => false,
        }
    };
    if opened {
        let fresh = consumed.set.insert(i);
        let replay = fresh || !consumed.replay_fails;
        prop_assert!(
            replay,
            "{}: REPLAY — peer message {} decrypted twice",
            what,
            i
        );
        consumed.replays += usize::from(!fresh);
        consumed.order.push(i);
        consumed.opened_here += 1;
    }
    Ok(opened)
}

/// The peer message with ratchet key `key` and counter `n`.
pub(crate) fn find_message(st: &Stage, key: &K32, n: u32) -> Option<usize> {
    st.msgs.iter().position(|m| {
        let h = Incoming::decode(&m.bytes).unwrap().message().header;
        h.ratchet_key.as_bytes() == key && h.counter == n
    })
}

/// Loads a forged blob (checking (d) and (a)); if it loads, drives it with `ops` checking (b)
/// after every call and (c) on every delivery (only counting replays when `!replay_fails`).
pub(crate) fn run_session(
    st: &Stage,
    blob: &[u8],
    ops: &[Op],
    (seed, focus): (u64, Option<K32>),
    replay_fails: bool,
) -> Result<Option<Loaded>, TestCaseError> {
    let Some((mut s, version)) = load::<Session>(blob, &format!("{}, load", st.name))? else {
        return Ok(None);
    };
    let mut consumed = Consumed {
        set: st.consumed.iter().copied().collect(),
        order: st.consumed.clone(),
        opened_here: 0,
        replays: 0,
        replay_fails,
    };
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut scripted = Some(st.script_rng.clone());
    // What the session itself sent in this run.
    let mut own: Vec<Vec<u8>> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let what = format!("{}, step {step} {op:?}", st.name);
        let before = saved(&s, &what)?;
        let target = match *op {
            Op::Deliver { msg, .. } => Some(msg % st.msgs.len()),
            Op::DeliverFocus { n, .. } => focus.and_then(|k| find_message(st, &k, u32::from(n))),
            Op::Redeliver { pick, .. } => pick_of(&consumed.order, pick),
            _ => None,
        };
        let message = target.map(|i| (&st.msgs[i], i));
        // Whether the call failed (which must leave the state untouched, §6.6) or read only.
        let unchanged = match *op {
            Op::Deliver { receive, now, .. } => {
                let now = NOWS[usize::from(now)];
                !deliver(&mut s, message.unwrap(), receive, now, &mut consumed, &what)?
            }
            Op::DeliverFocus { receive, .. } | Op::Redeliver { receive, .. } => {
                let Some(m) = message else { continue };
                !deliver(&mut s, m, receive, NOW, &mut consumed, &what)?
            }
            Op::Encrypt {
                scripted: use_script,
                framed,
            } => {
                let r = match scripted.as_mut().filter(|_| use_script) {
                    Some(sr) if framed => s.send(sr, NOW, b"forged"),
                    Some(sr) => s.encrypt(sr, b"forged"),
                    None if framed => s.send(&mut rng, NOW, b"forged"),
                    None => s.encrypt(&mut rng, b"forged"),
                };
                scripted = scripted.filter(|_| !use_script);
                own.extend(r.as_ref().ok().cloned());
                r.is_err()
            }
            Op::SetTimer { duration, on_read } => {
                let start = [TimerStart::OnSend, TimerStart::OnRead][usize::from(on_read)];
                let r = s.set_timer(&mut rng, NOW, duration, start);
                own.extend(r.as_ref().ok().cloned());
                r.is_err()
            }
            Op::Reflect(i) => {
                let Some(m) = pick(&own, i).map(|i| &own[i]) else {
                    continue;
                };
                let r = s.decrypt(m).map(|_| ());
                prop_assert!(
                    r.is_err(),
                    "{}: decrypted its own message reflected back",
                    what
                );
                true
            }
            Op::Purge(now) => {
                s.purge(NOWS[usize::from(now)]);
                false
            }
            Op::SetLimits(_) | Op::ShrinkLimit { .. } => {
                let limits = limits_of(op, s.limits());
                let r = s.set_limits(limits);
                prop_assert_eq!(r.is_ok(), limits.validate().is_ok(), "{}", what);
                r.is_err()
            }
            Op::Identity => {
                check_identity_uses(&s, st, &mut rng, &what)?;
                true
            }
            Op::Reload => {
                s = Session::from_bytes(&before).unwrap();
                false
            }
        };
        check_after(&s, unchanged.then_some(&before), &what)?;
    }
    Ok(Some((version, consumed.opened_here, consumed.replays)))
}

fn pick_of(order: &[usize], i: usize) -> Option<usize> {
    pick(order, i).map(|i| order[i])
}

/// The limits a `SetLimits`/`ShrinkLimit` op asks for, given those in force.
fn limits_of(op: &Op, mut l: Limits) -> Limits {
    match *op {
        Op::SetLimits([a, b, c, d]) => {
            (l.max_skip, l.max_skipped_keys) = (a, b);
            (l.max_old_chains, l.max_skipped_key_age) = (c, d);
        }
        Op::ShrinkLimit { which: 0, value } => l.max_skip = value,
        Op::ShrinkLimit { which: 1, value } => l.max_skipped_keys = value,
        Op::ShrinkLimit { which: 2, value } => l.max_old_chains = value,
        Op::ShrinkLimit { value, .. } => l.max_skipped_key_age = value,
        _ => {}
    }
    l
}
