//! §10.3: the session — its phases as data (with the PQXDH fields of version 4), strict
//! decoding of versions 1–4 (older ones migrated), and encoders of each version.

use super::session_rows::{check_lists, read_limits, read_lists, read_timer};
use super::*;

/// §10.3 row 1 (the discriminant is the byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// An initiator awaiting its first reply: the ratchet's opening phase (§6.1).
    AwaitingReply = 0x00,
    /// An initiator that has received a message.
    Acknowledged = 0x01,
    Responder = 0x02,
}

/// §8.1 `(duration_s, start byte, version)`; a new session's is `Timer::default()` (off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timer {
    pub duration_s: u32,
    pub start: u8,
    pub version: u32,
}

/// `send` (§6.1): our ratchet key pair `DHs`, `CKs`, `Ns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sending {
    pub dhs: KeyPair,
    pub ck: K32,
    pub n: u32,
}

/// A stored skipped message key (§6.1); `skipped_at` in ms, `u64::MAX` unknown (§8.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub key: K32,
    pub n: u32,
    pub stamp: u32,
    pub skipped_at: u64,
    pub mk: K32,
}

/// The open phase (§6.1): rows 12–17 of phases `0x01` and `0x02`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Open {
    /// `recv` = (`DHr`, `CKr`, `Nr`).
    pub dhr: K32,
    pub ckr: K32,
    pub nr: u32,
    /// `None`: the sending side is pending (the next encrypt performs the half-step, §6.3).
    pub send: Option<Sending>,
    pub pn: u32,
    pub received: u32,
    pub old: Vec<K32>,
    pub skipped: Vec<Skipped>,
}

/// The ratchet's phase-specific parts (§6.1): phase `0x00` holds its first sending chain only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ratchet {
    Opening(Sending),
    Open(Open),
}

/// The PQXDH prekey fields of a session (§5.3, §10.3 row 8b): the KEM prekey's use (`0x00`
/// last-resort, `0x01` one-time) and id, and the ciphertext `CT` (1568 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKem {
    pub usage: u8,
    pub id: u32,
    pub ct: Vec<u8>,
}

impl SessionKem {
    /// `use ‖ id ‖ CT`, as in row 8b and in the prekey fields (§5.3).
    pub fn to_bytes(&self) -> Vec<u8> {
        assert_eq!(self.ct.len(), KEM_CT_LEN);
        [&[self.usage][..], &self.id.to_be_bytes(), &self.ct].concat()
    }
}

/// A session (§7.1, §10.3). `decode` guarantees that `phase` and `ratchet` agree
/// (`AwaitingReply` iff `Opening`); the encoders write them as they are. `kem` is `Some` for a
/// PQXDH session (version 4, §10.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionBlob {
    pub phase: Phase,
    pub local: K32,
    pub remote: K32,
    pub context: Vec<u8>,
    pub base: K32,
    pub spk_id: u32,
    pub opk_id: Option<u32>,
    pub kem: Option<SessionKem>,
    pub timer: Timer,
    pub limits: [u32; 4],
    pub rk: K32,
    pub ratchet: Ratchet,
}

/// What a version-1/2 session held beyond today's object, which reading drops (§10.3): the `DHs`
/// secret kept while the sending side was pending (for a responder that had not answered yet,
/// the signed prekey's), and an unacknowledged initiator's `DHr` (the signed prekey `SPK_B`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Legacy {
    pub pending_dhs: K32,
    pub opening_dhr: K32,
}

impl SessionBlob {
    pub fn initiator(&self) -> bool {
        self.phase != Phase::Responder
    }
    /// The X3DH initiator's identity `IK_A` (derived on load, §10.3).
    pub fn ik_a(&self) -> K32 {
        if self.initiator() {
            self.local
        } else {
            self.remote
        }
    }
    /// §3.5 `AD`.
    pub fn ad(&self) -> Vec<u8> {
        let ik_b = if self.initiator() {
            self.remote
        } else {
            self.local
        };
        let len = u16::try_from(self.context.len()).unwrap().to_be_bytes();
        [&self.ik_a()[..], &ik_b, &len, &self.context].concat()
    }
    /// The open phase's parts (`None` in the opening phase).
    pub fn open(&self) -> Option<&Open> {
        match &self.ratchet {
            Ratchet::Open(o) => Some(o),
            Ratchet::Opening(_) => None,
        }
    }
    /// The sending chain, unless it is pending.
    pub fn sending(&self) -> Option<&Sending> {
        match &self.ratchet {
            Ratchet::Opening(s) => Some(s),
            Ratchet::Open(o) => o.send.as_ref(),
        }
    }
    /// Offset in the body `encode` writes (version 3, or 4 with row 8b) of row 12 (right after
    /// `RK`).
    pub fn ratchet_offset(&self) -> usize {
        let opk = 4 * usize::from(self.opk_id.is_some());
        let kem = self.kem.as_ref().map_or(0, |_| 1 + 4 + KEM_CT_LEN);
        1 + 64 + 2 + self.context.len() + 32 + 4 + 1 + opk + kem + 9 + 16 + 32
    }

    /// The version-3 body (`legacy` = `None`; version 4 if `kem` is `Some`), or version 2's
    /// layout: `role ‖ acknowledged`, the limits before the timer, the `DHs` secret alone, `DHr`
    /// flag ‖ key, optional chains.
    fn body(&self, legacy: Option<&Legacy>) -> Vec<u8> {
        assert!(
            legacy.is_none() || self.kem.is_none(),
            "versions 1 and 2 cannot hold a PQXDH session (§10.3)"
        );
        let (role, ack) = (!self.initiator(), self.phase != Phase::AwaitingReply);
        let mut b = match legacy {
            None => vec![self.phase as u8],
            Some(_) => vec![u8::from(role), u8::from(ack)],
        };
        let ctx_len = u16::try_from(self.context.len()).unwrap().to_be_bytes();
        put(
            &mut b,
            &[&self.local, &self.remote, &ctx_len, &self.context],
        );
        put(&mut b, &[&self.base, &self.spk_id.to_be_bytes()]);
        match self.opk_id {
            None => b.push(0),
            Some(id) => put(&mut b, &[&[1], &id.to_be_bytes()]),
        }
        if let Some(k) = &self.kem {
            b.extend(k.to_bytes()); // row 8b (version 4)
        }
        let t = self.timer;
        let timer = [
            &t.duration_s.to_be_bytes()[..],
            &[t.start],
            &t.version.to_be_bytes(),
        ];
        let (timer, limits) = (timer.concat(), self.limits.map(u32::to_be_bytes).concat());
        match legacy {
            None => put(&mut b, &[&timer, &limits, &self.rk]),
            Some(_) => put(&mut b, &[&limits, &timer, &self.rk]),
        }
        let chain = |ck: &K32, n: u32| [&ck[..], &n.to_be_bytes()].concat();
        let full = |s: &Sending| [&s.dhs.secret[..], &s.dhs.public, &chain(&s.ck, s.n)].concat();
        let mut o = Open::default();
        match (&self.ratchet, legacy) {
            (Ratchet::Opening(s), None) => return [b, full(s)].concat(),
            (Ratchet::Opening(s), Some(l)) => {
                put(&mut b, &[&s.dhs.secret, &[1], &l.opening_dhr, &[1]]);
                put(&mut b, &[&chain(&s.ck, s.n), &[0]]);
            }
            (Ratchet::Open(open), None) => {
                o = open.clone();
                put(
                    &mut b,
                    &[&o.dhr, &chain(&o.ckr, o.nr), &[u8::from(o.send.is_some())]],
                );
                b.extend(o.send.iter().flat_map(full));
            }
            (Ratchet::Open(open), Some(l)) => {
                o = open.clone();
                let dhs = o.send.as_ref().map_or(l.pending_dhs, |s| s.dhs.secret);
                put(&mut b, &[&dhs, &[1], &o.dhr, &[u8::from(o.send.is_some())]]);
                b.extend(o.send.iter().flat_map(|s| chain(&s.ck, s.n)));
                put(&mut b, &[&[1], &chain(&o.ckr, o.nr)]);
            }
        }
        put(&mut b, &[&o.pn.to_be_bytes(), &o.received.to_be_bytes()]);
        put(
            &mut b,
            &[&be32(o.old.len()), &o.old.concat(), &be32(o.skipped.len())],
        );
        for e in &o.skipped {
            put(
                &mut b,
                &[&e.key, &e.n.to_be_bytes(), &e.stamp.to_be_bytes()],
            );
            put(&mut b, &[&e.skipped_at.to_be_bytes(), &e.mk]);
        }
        b
    }
    /// The version written today (§10.0): 4 for a PQXDH session, 3 for an X3DH one.
    pub fn version(&self) -> u8 {
        if self.kem.is_some() {
            VERSION_PQ
        } else {
            VERSION
        }
    }
    /// The body `encode` writes (version 3, or 4 with row 8b).
    pub fn body_current(&self) -> Vec<u8> {
        self.body(None)
    }
    /// The bytes written today: version 4 for a PQXDH session, else version 3 (§10.0).
    pub fn encode(&self) -> Vec<u8> {
        seal(KIND_SESSION, self.version(), &self.body(None))
    }
    /// Version 3; panics for a PQXDH session (version 3 cannot hold it).
    pub fn body_v3(&self) -> Vec<u8> {
        assert!(self.kem.is_none(), "version 3 cannot hold a PQXDH session");
        self.body(None)
    }
    pub fn encode_v3(&self) -> Vec<u8> {
        seal(KIND_SESSION, 0x03, &self.body_v3())
    }
    /// Version 4; panics for an X3DH session (row 8b needs the KEM fields).
    pub fn body_v4(&self) -> Vec<u8> {
        assert!(self.kem.is_some(), "version 4 is a PQXDH session");
        self.body(None)
    }
    pub fn encode_v4(&self) -> Vec<u8> {
        seal(KIND_SESSION, VERSION_PQ, &self.body_v4())
    }
    pub fn encode_v2(&self, legacy: &Legacy) -> Vec<u8> {
        seal(KIND_SESSION, 0x02, &self.body(Some(legacy)))
    }
    /// Version 1 has version 2's layout; the fields are written as they are (put an unclamped
    /// secret or purge deadlines in them for a faithful version-1 blob).
    pub fn encode_v1(&self, legacy: &Legacy) -> Vec<u8> {
        seal(KIND_SESSION, 0x01, &self.body(Some(legacy)))
    }

    /// §10.3, versions 1–4 (4: version 3 with row 8b). An older blob is migrated: its phase
    /// from role, acknowledged and `recv`; an opening initiator's `DHr` and a pending side's
    /// `DHs` secret dropped; public keys recomputed; version 1's purge deadlines turned into skip
    /// times.
    pub fn decode(blob: &[u8]) -> Result<(u8, SessionBlob), DecodeError> {
        let (v, body) = open(KIND_SESSION, blob)?;
        // `v3`: the layout of versions 3 and 4.
        let (mut r, v3) = (Rd(body), v >= 0x03);
        let phase = match (v3, r.u8()?) {
            (true, 0) => Phase::AwaitingReply,
            (true, 1) => Phase::Acknowledged,
            (true, 2) => Phase::Responder,
            (false, 0) if r.flag()? => Phase::Acknowledged,
            (false, 0) => Phase::AwaitingReply,
            (false, 1) if r.flag()? => Phase::Responder,
            _ => return Err(NC), // also a version-2 responder not acknowledged
        };
        let opening = phase == Phase::AwaitingReply;
        // Version 3 takes identity keys as stored (§10.0); older versions validate them (§2.4).
        let identity = |r: &mut Rd<'_>| if v3 { r.arr() } else { r.edkey() };
        let (local, remote) = (identity(&mut r)?, identity(&mut r)?);
        let context_len = usize::from(u16::from_be_bytes(r.arr()?));
        if context_len > MAX_CONTEXT {
            return Err(NC);
        }
        let context = r.take(context_len)?.to_vec();
        let (base, spk_id) = (r.xkey()?, r.u32()?);
        let opk_id = if r.flag()? { Some(r.u32()?) } else { None };
        // Row 8b (version 4): the use is checked as soon as it is read.
        let kem = if v == VERSION_PQ {
            let usage = r.u8()?;
            if usage > 0x01 {
                return Err(NC);
            }
            let id = r.u32()?;
            let ct = r.take(KEM_CT_LEN)?.to_vec();
            Some(SessionKem { usage, id, ct })
        } else {
            None
        };
        let (timer, limits) = if v3 {
            (read_timer(&mut r)?, read_limits(&mut r)?)
        } else {
            let limits = read_limits(&mut r)?;
            (read_timer(&mut r)?, limits)
        };
        let rk = r.arr()?;
        let sending = |r: &mut Rd<'_>, dhs| {
            Ok(Sending {
                dhs,
                ck: r.arr()?,
                n: r.u32()?,
            })
        };
        let mut o = Open::default();
        let mut has_recv = true;
        if v3 && opening {
            let dhs = r.key_pair(v)?;
            o.send = Some(sending(&mut r, dhs)?);
        } else if v3 {
            (o.dhr, o.ckr, o.nr) = (r.xkey()?, r.arr()?, r.u32()?);
            if r.flag()? {
                let dhs = r.key_pair(v)?;
                o.send = Some(sending(&mut r, dhs)?);
            }
        } else {
            let dhs = r.key_pair(v)?;
            if !r.flag()? {
                return Err(NC); // the `DHr` flag MUST be 0x01
            }
            o.dhr = r.xkey()?;
            if r.flag()? {
                o.send = Some(sending(&mut r, dhs)?);
            }
            has_recv = r.flag()?;
            if has_recv {
                (o.ckr, o.nr) = (r.arr()?, r.u32()?);
            }
        }
        if !(v3 && opening) {
            (o.pn, o.received) = (r.u32()?, r.u32()?);
            read_lists(&mut r, &mut o, &limits, v)?;
            // Versions 1–2: `recv` absent iff an unacknowledged initiator, which also has `send`,
            // PN = 0, received = 0, no old chain, no skipped key. ORDER (the library's choice):
            // once the lists are read, before the end of the body.
            let lists = !o.old.is_empty() || !o.skipped.is_empty();
            let bad = o.send.is_none() || o.pn != 0 || o.received != 0 || lists;
            if !v3 && (has_recv == opening || (opening && bad)) {
                return Err(NC);
            }
            // A legacy opening initiator's DHr (the signed prekey) is dropped, not checked: only
            // an open ratchet has lists and a receiving key to check (§10.3 rows 16–17).
            if !opening {
                check_lists(&o, &limits)?;
            }
        }
        r.end()?;
        let ratchet = match o.send {
            Some(s) if opening => Ratchet::Opening(s),
            _ => Ratchet::Open(o),
        };
        let s = SessionBlob {
            phase,
            local,
            remote,
            context,
            base,
            spk_id,
            opk_id,
            kem,
            timer,
            limits,
            rk,
            ratchet,
        };
        Ok((v, s))
    }
}

/// Decodes a session blob (any version), lets `f` edit it, and encodes it in the version
/// written today (3, or 4 for a PQXDH session).
pub fn edit_session(blob: &[u8], f: impl FnOnce(&mut SessionBlob)) -> Vec<u8> {
    let (_, mut s) = SessionBlob::decode(blob).expect("a session blob");
    f(&mut s);
    s.encode()
}
