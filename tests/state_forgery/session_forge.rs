//! Forging a session blob: applying the edits to the reference codec's reading of a stage,
//! writing it as version 3, 2 or 1, byte patches and raw edits, re-sealing.

use xchat_protocol::kdf::{ChainKey, RootKey};
use xchat_protocol::{IdentityKeyPair, KeyPair, PublicKey};

use crate::common;
use crate::common::state_codec::{
    self as codec, K32, Open, Phase, Ratchet, Sending, SessionBlob, Skipped, clamp,
};
use crate::session_edits::{EntryEdit, Form, Id, SMut, SPatch, SendEdit, legacy, spk_b};
use crate::stages::Stage;
use crate::support::{B, ByteMut, K, V, apply_bytes, nth, put_u32, unclamp};

pub(crate) fn open_mut(s: &mut SessionBlob) -> Option<&mut Open> {
    match &mut s.ratchet {
        Ratchet::Open(o) => Some(o),
        Ratchet::Opening(_) => None,
    }
}

pub(crate) fn sending_mut(s: &mut SessionBlob) -> Option<&mut Sending> {
    match &mut s.ratchet {
        Ratchet::Opening(x) => Some(x),
        Ratchet::Open(o) => o.send.as_mut(),
    }
}

/// Turns an opening ratchet into an open one (its sending chain kept, the receiving chain all
/// zero) in phase 0x01; returns whether it was open already.
fn make_open(s: &mut SessionBlob) -> bool {
    let Ratchet::Opening(send) = &s.ratchet else {
        return true;
    };
    let send = Some(send.clone());
    s.ratchet = Ratchet::Open(Open {
        send,
        ..Open::default()
    });
    s.phase = Phase::Acknowledged;
    false
}

/// A skipped entry as the ratchet stores one from a raw `decrypt` (skip time unknown).
fn entry(key: K32, n: u32, stamp: u32, mk: K32) -> Skipped {
    let skipped_at = u64::MAX;
    Skipped {
        key,
        n,
        stamp,
        skipped_at,
        mk,
    }
}

/// What a session edit draws from: the blob's public keys and 32-byte fields, its counters
/// `[Nr, Ns, received, limits…]`, the stage's peer keys.
struct Env<'a> {
    st: &'a Stage,
    public: Vec<K32>,
    material: Vec<K32>,
    counters: Vec<u32>,
}

impl<'a> Env<'a> {
    fn of(s: &SessionBlob, st: &'a Stage) -> Self {
        let mut public = vec![s.base];
        let mut material = vec![s.rk, s.local, s.remote, s.base];
        if let Some(x) = s.sending() {
            public.push(x.dhs.public);
            material.extend([x.dhs.secret, x.dhs.public, x.ck]);
        }
        let mut counters = vec![0, s.sending().map_or(0, |x| x.n), 0];
        if let Some(o) = s.open() {
            (counters[0], counters[2]) = (o.nr, o.received);
            public.push(o.dhr);
            public.extend(&o.old);
            public.extend(o.skipped.iter().map(|e| e.key));
            material.extend([o.dhr, o.ckr]);
            material.extend(&o.old);
            material.extend(o.skipped.iter().flat_map(|e| [e.key, e.mk]));
        }
        counters.extend(s.limits);
        Env {
            st,
            public,
            material,
            counters,
        }
    }
    fn key(&self, k: &K) -> K32 {
        k.get(&self.public, &self.st.peer_keys)
    }
    fn bytes(&self, b: &B) -> K32 {
        match b {
            B::Pool(i) => self.material[i % self.material.len()],
            B::Random(r) => *r,
        }
    }
    fn val(&self, own: u32, v: &V) -> u32 {
        v.at(own, &self.counters)
    }
}

/// A peer ratchet key the blob does not know (neither `DHr` nor old), if there is one: the keys
/// whose chains path D would derive.
pub(crate) fn fresh_peer_key(s: &SessionBlob, st: &Stage, i: usize) -> K32 {
    let known = |k: &K32| s.open().is_some_and(|o| o.dhr == *k || o.old.contains(k));
    let fresh: Vec<K32> = st.peer_keys.iter().filter(|k| !known(k)).copied().collect();
    let pool = if fresh.is_empty() {
        &st.peer_keys
    } else {
        &fresh
    };
    pool[i % pool.len()]
}

/// What path D computes for a new peer ratchet key: `KDF_RK(RK, DH(DHs, key))`.
fn derive_chain(rk: &K32, dhs: &K32, key: &K32) -> Option<(RootKey, ChainKey)> {
    let their = PublicKey::from_bytes(*key).ok()?;
    let dh = KeyPair::from_secret_bytes(*dhs).diffie_hellman(&their);
    Some(RootKey::from_bytes(*rk).ratchet(&dh.ok()?))
}

fn forged_identity(st: &Stage, s: &SessionBlob, remote: bool, id: &Id) -> K32 {
    let (real, other) = match remote {
        true => (st.parsed.remote, s.local),
        false => (st.parsed.local, s.remote),
    };
    match id {
        Id::Other => other,
        Id::Valid(seed) => *IdentityKeyPair::from_seed(&[*seed; 32]).public().as_bytes(),
        Id::Torsion(t) => common::ed25519_variants(&real)[t % 7],
        Id::SmallOrder(t) => {
            let point = curve25519_dalek::constants::EIGHT_TORSION[t % 8];
            point.compress().to_bytes()
        }
        Id::Random(r) => *r,
    }
}

pub(crate) fn apply(s: &mut SessionBlob, st: &Stage, m: &SMut, patches: &mut Vec<SPatch>) {
    let env = Env::of(s, st);
    match m {
        SMut::Phase(p) => s.phase = *p,
        SMut::FlipSwap => {
            s.phase = match s.phase {
                Phase::Acknowledged => Phase::Responder,
                Phase::Responder => Phase::Acknowledged,
                p => p,
            };
            std::mem::swap(&mut s.local, &mut s.remote);
        }
        SMut::ToOpening => {
            if let Ratchet::Open(o) = &s.ratchet {
                let made = codec::KeyPair {
                    secret: clamp(o.ckr),
                    public: o.dhr,
                };
                let (ck, n) = (o.ckr, o.nr);
                let send = o.send.clone().unwrap_or(Sending { dhs: made, ck, n });
                (s.ratchet, s.phase) = (Ratchet::Opening(send), Phase::AwaitingReply);
            }
        }
        SMut::ToOpen(dhr, ck, n, keep_send) => {
            if !make_open(s) {
                let o = open_mut(s).unwrap();
                (o.dhr, o.ckr, o.nr) = (env.key(dhr), env.bytes(ck), env.val(0, n));
                if !keep_send {
                    o.send = None;
                }
            }
        }
        SMut::Identity(remote, id) => {
            let k = forged_identity(st, s, *remote, id);
            *(if *remote { &mut s.remote } else { &mut s.local }) = k;
        }
        SMut::CtxByte(i) => match nth(&mut s.context, *i) {
            Some(c) => *c ^= 1,
            None => s.context.push(0),
        },
        SMut::Base(k) => s.base = env.key(k),
        SMut::Otpk(x) => s.opk_id = x.map(|x| env.val(s.opk_id.unwrap_or(0), &x)),
        SMut::SpkId(x) => s.spk_id = env.val(s.spk_id, x),
        SMut::Limit(i, x) => {
            let l = &mut s.limits[usize::from(*i)];
            *l = env.val(*l, x);
        }
        SMut::Timer(d, start, x) => {
            s.timer.duration_s = env.val(s.timer.duration_s, d);
            s.timer.start = *start;
            s.timer.version = env.val(s.timer.version, x);
        }
        SMut::Rk(x) => s.rk = env.bytes(x),
        SMut::Send(e) => {
            let Some(send) = sending_mut(s) else { return };
            match e {
                SendEdit::Secret(x) => send.dhs.secret = clamp(env.bytes(x)),
                SendEdit::Unclamp(u) => send.dhs.secret = unclamp(send.dhs.secret, *u),
                SendEdit::Public(k) => send.dhs.public = env.key(k),
                SendEdit::Ck(x) => send.ck = env.bytes(x),
                SendEdit::N(x) => send.n = env.val(send.n, x),
            }
        }
        SMut::Mirror => {
            let Some(send) = s.sending().cloned() else {
                return;
            };
            make_open(s);
            let o = open_mut(s).unwrap();
            (o.dhr, o.ckr, o.nr) = (send.dhs.public, send.ck, send.n);
        }
        SMut::PlantDerived { key, n, mode } => plant_derived(s, st, *key, *n, *mode),
        SMut::Patch(p) => patches.push(p.clone()),
        _ => {
            if let Some(o) = open_mut(s) {
                apply_open(o, &env, m);
            }
        }
    }
}

/// The edits of the open phase's parts (rows 12–17 of phases 0x01 and 0x02).
fn apply_open(o: &mut Open, env: &Env<'_>, m: &SMut) {
    match m {
        SMut::Dhr(k) => o.dhr = env.key(k),
        SMut::Ckr(x) => o.ckr = env.bytes(x),
        SMut::Nr(x) => o.nr = env.val(o.nr, x),
        SMut::Pending => o.send = None,
        SMut::Unpend(secret, public, ck, n) => {
            let dhs = codec::KeyPair {
                secret: clamp(env.bytes(secret)),
                public: env.key(public),
            };
            let (ck, n) = (env.bytes(ck), env.val(0, n));
            o.send = o.send.take().or(Some(Sending { dhs, ck, n }));
        }
        SMut::Pn(x) => o.pn = env.val(o.pn, x),
        SMut::Received(x) => o.received = env.val(o.received, x),
        SMut::Old(e) => e.apply(&mut o.old),
        SMut::OldPush(k, true) => o.old.insert(0, env.key(k)),
        SMut::OldPush(k, false) => o.old.push(env.key(k)),
        SMut::OldSet(i, k) => {
            if let Some(x) = nth(&mut o.old, *i) {
                *x = env.key(k);
            }
        }
        SMut::Skipped(e) => e.apply(&mut o.skipped),
        SMut::Entry(i, edit) => {
            let Some(e) = nth(&mut o.skipped, *i) else {
                return;
            };
            match edit {
                EntryEdit::N(x) => e.n = env.val(e.n, x),
                EntryEdit::Stamp(x) => e.stamp = env.val(e.stamp, x),
                EntryEdit::SkippedAt(x) => e.skipped_at = *x,
                EntryEdit::Key(k) => e.key = env.key(k),
                EntryEdit::Mk(x) => e.mk = env.bytes(x),
            }
        }
        SMut::SkPush(k, n, stamp) => {
            let (n, stamp) = (env.val(o.nr, n), env.val(o.received, stamp));
            o.skipped.push(entry(env.key(k), n, stamp, [0x42; 32]));
        }
        SMut::AdvanceRecv { k, store, bump } => {
            let mut ck = ChainKey::from_bytes(o.ckr);
            for i in 0..u32::from(*k) {
                let (next, mk) = ck.step();
                if *store {
                    let n = o.nr.wrapping_add(i);
                    o.skipped.push(entry(o.dhr, n, o.received, *mk.as_bytes()));
                }
                ck = next;
            }
            if *bump {
                (o.ckr, o.nr) = (*ck.as_bytes(), o.nr.wrapping_add(u32::from(*k)));
            }
        }
        _ => unreachable!("{m:?} is not an edit of the open parts"),
    }
}

/// See [`SMut::PlantDerived`]; nothing without a sending secret (a pending side has none).
pub(crate) fn plant_derived(s: &mut SessionBlob, st: &Stage, key: usize, n: u8, mode: u8) {
    let Some(send) = s.sending().cloned() else {
        return;
    };
    let key = fresh_peer_key(s, st, key);
    let Some((rk, mut ck)) = derive_chain(&s.rk, &send.dhs.secret, &key) else {
        return;
    };
    let was_open = make_open(s);
    let o = open_mut(s).unwrap();
    for i in 0..u32::from(n) {
        let (next, mk) = ck.step();
        o.skipped.push(entry(key, i, o.received, *mk.as_bytes()));
        ck = next;
    }
    match mode {
        0 => o.old.insert(0, key),
        1 => o.old.push(key),
        2 => {}
        _ => {
            if was_open {
                o.old.push(o.dhr);
            }
            (o.dhr, o.ckr, o.nr) = (key, *ck.as_bytes(), u32::from(n));
            if mode == 4 {
                (o.send, o.pn, s.rk) = (None, send.n, *rk.as_bytes());
            }
        }
    }
}

/// Offsets in a session body of the fields byte patches write: the context length, the
/// one-time prekey flag and (where the body has one) the old-chain count (§10.3; for versions
/// 1–2, version 2's layout).
pub(crate) fn session_offsets(s: &SessionBlob, v: u8) -> (usize, usize, Option<usize>) {
    let ctx = if v == 3 { 65 } else { 66 };
    let opk = ctx + 2 + s.context.len() + 32 + 4;
    let rk_end = opk + 1 + 4 * usize::from(s.opk_id.is_some()) + 9 + 16 + 32;
    let old = match (&s.ratchet, v) {
        (Ratchet::Opening(_), 3) => None,
        (Ratchet::Opening(_), _) => Some(rk_end + 32 + 33 + 1 + 36 + 1 + 8),
        (Ratchet::Open(o), 3) => Some(rk_end + 68 + 1 + 100 * usize::from(o.send.is_some()) + 8),
        (Ratchet::Open(o), _) => {
            Some(rk_end + 32 + 33 + 1 + 36 * usize::from(o.send.is_some()) + 1 + 36 + 8)
        }
    };
    (ctx, opk, old)
}

fn patch_session(body: &mut Vec<u8>, s: &SessionBlob, v: u8, p: &SPatch) {
    let (ctx, opk, old) = session_offsets(s, v);
    let (n_old, n_skipped) = s.open().map_or((0, 0), |o| (o.old.len(), o.skipped.len()));
    match p {
        SPatch::Phase(x) => body[0] = *x,
        SPatch::Ack(x) if v < 3 => body[1] = *x,
        SPatch::Ack(_) => {}
        SPatch::CtxLen(x) => body[ctx..ctx + 2].copy_from_slice(&x.to_be_bytes()),
        SPatch::OtpkFlag(x) => body[opk] = *x,
        SPatch::OldCount(x) => {
            if let Some(at) = old {
                put_u32(body, at, x.at(n_old as u32, &[]));
            }
        }
        SPatch::SkippedCount(x) => {
            if let Some(at) = old {
                put_u32(body, at + 4 + 32 * n_old, x.at(n_skipped as u32, &[]));
            }
        }
        SPatch::Trailing(x) => body.push(*x),
    }
}

/// `s` written as `form` (the version and the body).
pub(crate) fn session_body(s: &SessionBlob, form: &Form) -> (u8, Vec<u8>) {
    match form {
        Form::V3 => (3, s.body_v3()),
        Form::V2(p) => (
            2,
            codec::body(&s.encode_v2(&legacy(clamp(*p), spk_b()))).to_vec(),
        ),
        Form::V1(p, u) => {
            let (mut s, mut p) = (s.clone(), clamp(*p));
            if let Some(u) = *u {
                p = unclamp(p, u);
                if let Some(send) = sending_mut(&mut s) {
                    send.dhs.secret = unclamp(send.dhs.secret, u.wrapping_add(1));
                }
            }
            (1, codec::body(&s.encode_v1(&legacy(p, spk_b()))).to_vec())
        }
    }
}

/// The forged blob: structured edits of the stage's session, written as `form`, byte patches,
/// raw edits, re-sealed.
pub(crate) fn forge_session(st: &Stage, form: &Form, muts: &[SMut], bytes: &[ByteMut]) -> Vec<u8> {
    let (mut s, mut patches) = (st.parsed.clone(), Vec::new());
    for m in muts {
        apply(&mut s, st, m, &mut patches);
    }
    let (v, mut body) = session_body(&s, form);
    for p in &patches {
        patch_session(&mut body, &s, v, p);
    }
    apply_bytes(&mut body, bytes);
    codec::seal(codec::KIND_SESSION, v, &body)
}
