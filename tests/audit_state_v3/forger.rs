//! The deterministic forger of the forgery loop: real session stages, the edits it makes from
//! a blob's own keys, secrets and counters, and raw byte edits.

use std::collections::HashSet;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::Rng;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{IdentityKeyPair, Limits, Session};

use crate::common;
use crate::common::state_codec::{self as codec, K32, Ratchet, SessionBlob};
use crate::support::{NOW, sbytes};

/// A real session blob, the peer's messages to it (framed), which of them it has consumed, and
/// the blob's reference reading.
pub(crate) struct Stage {
    pub(crate) name: &'static str,
    pub(crate) parsed: SessionBlob,
    pub(crate) msgs: Vec<Vec<u8>>,
    pub(crate) consumed: HashSet<usize>,
}

fn stage(name: &'static str, s: &Session, msgs: Vec<Vec<u8>>, consumed: &[usize]) -> Stage {
    let blob = sbytes(s);
    let parsed = SessionBlob::decode(&blob).unwrap().1;
    Stage {
        name,
        parsed,
        msgs,
        consumed: consumed.iter().copied().collect(),
    }
}

pub(crate) fn stages() -> Vec<Stage> {
    let mut out = Vec::new();
    // Alice awaiting her reply; Bob's replies in flight.
    {
        let mut p = common::established(40, false);
        let alice_blob = Session::from_bytes(&sbytes(&p.alice)).unwrap();
        let msgs = (0..4u8)
            .map(|i| p.bob.send(&mut p.rng, NOW, &[b'r', i]).unwrap())
            .collect();
        out.push(stage("opening initiator", &alice_blob, msgs, &[]));
    }
    // Bob right after accept(m0): sending side pending; Alice's later prekey messages in flight.
    {
        let mut rng = common::rng(41);
        let alice_id = IdentityKeyPair::generate(&mut rng);
        let mut b = common::bob(42, true);
        let mut alice = Session::initiate(
            &mut rng,
            &alice_id,
            &b.bundle,
            Trust::FirstUse,
            &Config::new(common::CONTEXT).allow_classical(),
        )
        .unwrap();
        let msgs: Vec<_> = (0..4u8)
            .map(|i| alice.send(&mut rng, NOW, &[b'p', i]).unwrap())
            .collect();
        let (bob, _) = Session::accept(
            &b.id,
            &mut b.store,
            &msgs[1],
            &Config::new(common::CONTEXT).allow_classical(),
            NOW,
        )
        .unwrap();
        out.push(stage("pending responder", &bob, msgs, &[1]));
    }
    // Both sides after several turns with messages held back in both directions.
    {
        let mut p = common::established(43, true);
        let (mut to_alice, mut to_bob) = (Vec::new(), Vec::new());
        let (mut alice_got, mut bob_got) = (Vec::new(), Vec::new());
        for round in 0..4u8 {
            for i in 0..3u8 {
                to_alice.push(p.bob.send(&mut p.rng, NOW, &[b'b', round, i]).unwrap());
                if i != 1 {
                    let n = to_alice.len() - 1;
                    p.alice
                        .receive(&to_alice[n], NOW)
                        .unwrap()
                        .into_message()
                        .unwrap();
                    alice_got.push(n);
                }
            }
            for i in 0..2u8 {
                to_bob.push(p.alice.send(&mut p.rng, NOW, &[b'a', round, i]).unwrap());
                if i == 1 || round == 3 {
                    let n = to_bob.len() - 1;
                    p.bob
                        .receive(&to_bob[n], NOW)
                        .unwrap()
                        .into_message()
                        .unwrap();
                    bob_got.push(n);
                }
            }
        }
        to_alice.push(p.bob.send(&mut p.rng, NOW, b"late").unwrap());
        out.push(stage("established alice", &p.alice, to_alice, &alice_got));
        out.push(stage("established bob", &p.bob, to_bob, &bob_got));
    }
    out
}

/// A tiny deterministic generator of edits, values and calls.
pub(crate) struct Gen(pub(crate) ChaCha20Rng);

impl Gen {
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
    pub(crate) fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
    fn u32_near(&mut self, own: u32) -> u32 {
        let r = self.0.next_u32();
        self.pick(&[
            0,
            1,
            own.wrapping_sub(1),
            own.wrapping_add(1),
            own.wrapping_add(2000),
            u32::MAX,
            u32::MAX - 1,
            r,
        ])
    }
}

/// Public keys and secrets found in the blob itself (a forger who only moves and repeats bytes).
fn pools(s: &SessionBlob) -> (Vec<K32>, Vec<K32>) {
    let mut keys = vec![s.base];
    let mut secrets = vec![s.rk];
    if let Some(send) = s.sending() {
        keys.push(send.dhs.public);
        secrets.extend([send.dhs.secret, send.ck]);
    }
    if let Some(o) = s.open() {
        keys.push(o.dhr);
        keys.extend(o.old.iter().copied());
        secrets.push(o.ckr);
        for e in &o.skipped {
            keys.push(e.key);
            secrets.push(e.mk);
        }
    }
    (keys, secrets)
}

pub(crate) fn edit(g: &mut Gen, s: &mut SessionBlob) {
    let (keys, secrets) = pools(s);
    let key = g.pick(&keys);
    let secret = g.pick(&secrets);
    let limits = s.limits;
    match (g.below(18), &mut s.ratchet) {
        (0, Ratchet::Open(o)) => o.dhr = key,
        (1, Ratchet::Open(o)) => o.ckr = secret,
        (2, Ratchet::Open(o)) => o.nr = g.u32_near(o.nr),
        (3, Ratchet::Open(o)) => o.send = None,
        (4, Ratchet::Open(o)) => o.pn = g.u32_near(o.pn),
        (5, Ratchet::Open(o)) => o.received = g.u32_near(o.received),
        (6, Ratchet::Open(o)) if !o.old.is_empty() => {
            let i = g.below(o.old.len());
            match g.below(4) {
                0 => {
                    o.old.remove(i);
                }
                1 => o.old.insert(i, o.old[i]),
                2 => o.old.push(key),
                _ => {
                    // The current chain and an old one trade places.
                    let k = std::mem::replace(&mut o.old[i], o.dhr);
                    o.dhr = k;
                }
            }
        }
        (7, Ratchet::Open(o)) if !o.skipped.is_empty() => {
            let i = g.below(o.skipped.len());
            let j = g.below(o.skipped.len());
            match g.below(8) {
                0 => {
                    o.skipped.remove(i);
                }
                1 => o.skipped.insert(j, o.skipped[i].clone()),
                2 => o.skipped.swap(i, j),
                3 => o.skipped[i].key = key,
                4 => o.skipped[i].n = g.u32_near(o.skipped[i].n),
                5 => o.skipped[i].stamp = g.u32_near(o.received),
                6 => o.skipped[i].skipped_at = g.pick(&[0, NOW, u64::MAX, u64::MAX - 1]),
                _ => o.skipped[i].mk = secret,
            }
        }
        (8, Ratchet::Open(o)) => {
            // Reflection: the receiving chain becomes a copy of the sending chain.
            if let Some(send) = o.send.clone() {
                (o.dhr, o.ckr, o.nr) = (send.dhs.public, send.ck, send.n);
            }
        }
        (9, Ratchet::Open(o)) => {
            // A skipped entry of the current chain re-labelled as the chain itself.
            if let Some(e) = o.skipped.iter().find(|e| e.key == o.dhr).cloned() {
                o.nr = e.n;
            }
        }
        (10, _) => {
            if let Some(send) = match &mut s.ratchet {
                Ratchet::Opening(x) => Some(x),
                Ratchet::Open(o) => o.send.as_mut(),
            } {
                match g.below(3) {
                    0 => send.n = g.u32_near(send.n),
                    1 => send.ck = secret,
                    _ => send.dhs.public = key,
                }
            }
        }
        (11, _) => {
            let i = g.below(4);
            let lens = s
                .open()
                .map_or([1, 1], |o| [o.old.len() as u32, o.skipped.len() as u32]);
            s.limits[i] = g.pick(&[
                1,
                2,
                Limits::CEILING,
                lens[0],
                lens[1],
                limits[i].wrapping_sub(1),
            ]);
        }
        (12, _) => s.rk = secret,
        (13, _) => {
            s.phase = g.pick(&[
                codec::Phase::AwaitingReply,
                codec::Phase::Acknowledged,
                codec::Phase::Responder,
            ])
        }
        (14, _) => {
            s.timer.version = g.u32_near(s.timer.version);
            s.timer.duration_s = g.pick(&[0, 1, 60, u32::MAX]);
            s.timer.start = g.pick(&[0, 1]);
        }
        (15, _) => s.base = key,
        (16, _) => s.opk_id = g.pick(&[None, Some(0), Some(u32::MAX)]),
        _ => {}
    }
}

/// A raw byte edit of a body (then re-sealed).
pub(crate) fn byte_edit(g: &mut Gen, body: &mut Vec<u8>) {
    if body.is_empty() {
        return;
    }
    let at = g.below(body.len());
    match g.below(4) {
        0 => body[at] ^= 1 << g.below(8),
        1 => body[at] = g.pick(&[0, 1, 2, 0x7F, 0x80, 0xFF]),
        2 => {
            body.truncate(at);
        }
        _ => body.insert(at, g.pick(&[0, 1, 0xFF])),
    }
}
