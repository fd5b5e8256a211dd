//! §6 the Double Ratchet: skipped keys (§6.4), `encrypt` (§6.3) and `decrypt` (§6.5, §7.4).

use super::{
    Error, Incoming, Limits, MAX_PLAINTEXT_LEN, Normal, Session, decode_message, expand, kdf_ck,
    kdf_rk,
};
use crate::common::state_codec::{KeyPair, Open, Phase, Ratchet, Sending, Skipped};
use crate::prim;
use crate::util::Rng;

/// §6.4 Count: append (stamped `received + 1`), then drop from the front beyond the cap.
fn store_skipped(o: &mut Open, limits: &Limits, key: [u8; 32], n: u32, mk: [u8; 32], at: u64) {
    o.skipped.push(Skipped {
        key,
        n,
        stamp: o.received.wrapping_add(1),
        skipped_at: at,
        mk,
    });
    while o.skipped.len() > limits.max_skipped_keys as usize {
        o.skipped.remove(0);
    }
}

/// §6.4 Age.
fn count_decrypt(o: &mut Open, limits: &Limits) {
    o.received = o.received.wrapping_add(1);
    while o
        .skipped
        .first()
        .is_some_and(|e| o.received.wrapping_sub(e.stamp) > limits.max_skipped_key_age)
    {
        o.skipped.remove(0);
    }
}

/// §6.5 D3–D8: the receiving step under the new ratchet key `m.key` from `prior` (`None`
/// in the opening phase, or for a responder's first message whose `DHs` is the signed prekey,
/// §6.2), with `(DHs secret, Ns)` of the sending side. Returns `RK'`, the new open state
/// (sending side pending) and the plaintext.
pub(crate) fn receiving_step(
    rk: &[u8; 32],
    limits: &Limits,
    prior: Option<&Open>,
    (dhs, ns): ([u8; 32], u32),
    m: &Normal,
    aad: &[u8],
    skipped_at: u64,
) -> Result<([u8; 32], Open, Vec<u8>), Error> {
    let old_gap = prior.map_or(0, |o| m.pn.saturating_sub(o.nr));
    if u64::from(old_gap) + u64::from(m.n) > u64::from(limits.max_skip) {
        return Err(Error::TooFarInFuture);
    }
    let old_keys = match prior {
        Some(o) if m.pn > o.nr => derive(o.ckr, o.nr, m.pn).0,
        _ => Vec::new(),
    };
    let out = prim::dh(&dhs, &m.key).ok_or(Error::NonContributory)?;
    let (rk, ck0) = kdf_rk(rk, &out);
    let (new_keys, mk, ck) = derive(ck0, 0, m.n);
    let (key, nonce) = expand(&mk, &m.seed);
    let pt = prim::aead_open(&key, &nonce, aad, &m.ct).ok_or(Error::DecryptionFailed)?;
    let mut o = prior.cloned().unwrap_or_default();
    if let Some(p) = prior {
        for (i, k) in old_keys {
            store_skipped(&mut o, limits, p.dhr, i, k, skipped_at);
        }
        o.old.push(p.dhr);
        while o.old.len() > limits.max_old_chains as usize {
            let gone = o.old.remove(0);
            o.skipped.retain(|e| e.key != gone);
        }
    }
    for (i, k) in new_keys {
        store_skipped(&mut o, limits, m.key, i, k, skipped_at);
    }
    (o.dhr, o.ckr, o.nr) = (m.key, ck, m.n + 1);
    o.pn = ns;
    o.send = None;
    count_decrypt(&mut o, limits);
    Ok((rk, o, pt))
}

impl Session {
    /// §6.3 + §7.2.
    pub fn encrypt(&mut self, rng: &mut Rng, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(Error::TooLarge);
        }
        let (rk, chain, pn) = match &self.ratchet {
            Ratchet::Opening(s) => (self.rk, s.clone(), 0),
            Ratchet::Open(o) => match &o.send {
                Some(s) => (self.rk, s.clone(), o.pn),
                // The deferred sending half-step.
                None => {
                    let secret = prim::clamp(rng.take());
                    let out = prim::dh(&secret, &o.dhr).ok_or(Error::NonContributory)?;
                    let (rk, ck) = kdf_rk(&self.rk, &out);
                    let public = prim::x25519_public(&secret);
                    let dhs = KeyPair { secret, public };
                    (rk, Sending { dhs, ck, n: 0 }, o.pn)
                }
            },
        };
        if chain.n == u32::MAX {
            return Err(Error::ChainExhausted);
        }
        let (mk, ck_next) = kdf_ck(&chain.ck);
        let seed: [u8; 16] = rng.take();
        let mut prefix = vec![0x01, 0x01];
        prefix.extend_from_slice(&chain.dhs.public);
        prefix.extend_from_slice(&pn.to_be_bytes());
        prefix.extend_from_slice(&chain.n.to_be_bytes());
        prefix.extend_from_slice(&seed);
        let (key, nonce) = expand(&mk, &seed);
        let mut out = if self.phase == Phase::AwaitingReply {
            self.x3dh_fields().encode()
        } else {
            Vec::new()
        };
        out.extend_from_slice(&prefix);
        let mut aad = self.ad();
        aad.extend_from_slice(&out);
        let ct = prim::aead_seal(&key, &nonce, &aad, plaintext);
        out.extend_from_slice(&ct);
        let next = Sending {
            dhs: chain.dhs,
            ck: ck_next,
            n: chain.n + 1,
        };
        self.rk = rk;
        match &mut self.ratchet {
            Ratchet::Opening(s) => *s = next,
            Ratchet::Open(o) => o.send = Some(next),
        }
        Ok(out)
    }

    /// §6.5 on `self` (the caller works on a copy and commits it on success).
    fn decrypt_normal(&mut self, m: &Normal, skipped_at: u64) -> Result<Vec<u8>, Error> {
        let mut aad = self.ad();
        aad.extend_from_slice(&m.header);
        let open = |mk: &[u8; 32]| {
            let (key, nonce) = expand(mk, &m.seed);
            prim::aead_open(&key, &nonce, &aad, &m.ct).ok_or(Error::DecryptionFailed)
        };
        let limits = self.limits;
        // A. skipped key
        if let Ratchet::Open(o) = &mut self.ratchet
            && let Some(i) = o.skipped.iter().position(|e| e.key == m.key && e.n == m.n)
        {
            let pt = open(&o.skipped[i].mk)?;
            o.skipped.remove(i);
            count_decrypt(o, &limits);
            return Ok(pt);
        }
        // B. counter bound
        if m.n == u32::MAX {
            return Err(Error::TooFarInFuture);
        }
        let (prior, sending) = match &mut self.ratchet {
            // The opening phase has no receiving chain: a new ratchet key (D).
            Ratchet::Opening(s) => (None, (s.dhs.secret, s.n)),
            // C. current chain
            Ratchet::Open(o) if o.dhr == m.key => {
                if m.n < o.nr {
                    return Err(Error::DuplicateMessage);
                }
                if m.n - o.nr > limits.max_skip {
                    return Err(Error::TooFarInFuture);
                }
                let (kept, mk, ck) = derive(o.ckr, o.nr, m.n);
                let pt = open(&mk)?;
                for (i, k) in kept {
                    store_skipped(o, &limits, m.key, i, k, skipped_at);
                }
                (o.ckr, o.nr) = (ck, m.n + 1);
                count_decrypt(o, &limits);
                return Ok(pt);
            }
            // D1, D2.
            Ratchet::Open(o) => {
                if o.old.contains(&m.key) {
                    return Err(Error::DuplicateMessage);
                }
                let Some(s) = &o.send else {
                    return Err(Error::DecryptionFailed);
                };
                (Some(o.clone()), (s.dhs.secret, s.n))
            }
        };
        let (rk, o, pt) = receiving_step(
            &self.rk,
            &limits,
            prior.as_ref(),
            sending,
            m,
            &aad,
            skipped_at,
        )?;
        self.rk = rk;
        self.ratchet = Ratchet::Open(o);
        Ok(pt)
    }

    /// §7.4 `Session::decrypt`, with the `skipped_at` recorded for stored keys (§8.6); the
    /// first success of an initiator acknowledges it.
    pub fn decrypt_with(&mut self, message: &[u8], skipped_at: u64) -> Result<Vec<u8>, Error> {
        let m = match decode_message(message)? {
            Incoming::Normal(m) => m,
            Incoming::PreKey(f, m) => {
                if !self.responder() || f != self.x3dh_fields() {
                    return Err(Error::SessionMismatch);
                }
                m
            }
        };
        let mut next = self.clone();
        let pt = next.decrypt_normal(&m, skipped_at)?;
        if next.phase == Phase::AwaitingReply {
            next.phase = Phase::Acknowledged;
        }
        *self = next;
        Ok(pt)
    }
}

/// `(index, MK)` pairs kept for skipped messages.
type Kept = Vec<(u32, [u8; 32])>;

/// KDF_CK from index `from` to `to`: the kept `(index, MK)` for `from..to`, then `MK_to` and
/// `CK_{to+1}`.
fn derive(ck: [u8; 32], from: u32, to: u32) -> (Kept, [u8; 32], [u8; 32]) {
    let mut ck = ck;
    let mut kept = Vec::new();
    for i in from..to {
        let (mk, next) = kdf_ck(&ck);
        kept.push((i, mk));
        ck = next;
    }
    let (mk, next) = kdf_ck(&ck);
    (kept, mk, next)
}
