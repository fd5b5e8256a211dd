//! The independent implementation's Double Ratchet (§6: limits, the receiving step) and session
//! (§7: initiate by X3DH or PQXDH, encrypt, decrypt), its state the reference codec's plain
//! data (§10.3).

use crate::common::state_codec::{
    self as sc, CEILING, DEFAULT_LIMITS, KeyPair, MAX_CONTEXT, Open, Phase, Ratchet, Sending,
    SessionBlob, SessionKem, Skipped,
};
use crate::reference::pq::{Transcript, kem_encaps, pqxdh_sk, verify_kem};
use crate::reference::primitives::{
    DecodeErr, E, K32, LABEL_X3DH, MAX_PLAINTEXT, SentKey, TYPE_NORMAL, VERSION, dh, draw,
    generate_secret, hkdf, identity_x25519, kdf_ck, kdf_rk, open, seal, x25519_prime_order, xpub,
};
use crate::reference::wire::{
    Ident, Msg, PreFields, decode_bundle, decode_message, encode_prefields, verify_spk,
};
use rand_chacha::rand_core::Rng;

/// A key pair generated here: the public key computed from the (clamped) secret.
pub(crate) fn key_pair(secret: K32) -> KeyPair {
    KeyPair {
        secret,
        public: xpub(&secret),
    }
}

/// Keys for indices `from..to` of a chain starting at `ck` (index `from`), and the chain key at `to`.
fn walk(mut ck: K32, from: u32, to: u32) -> (Vec<(u32, K32)>, K32) {
    let mut keys = Vec::new();
    for i in from..to {
        let (mk, next) = kdf_ck(&ck);
        keys.push((i, mk));
        ck = next;
    }
    (keys, ck)
}

/// §6.4 Count: append, then drop from the front beyond `max_skipped_keys`.
fn push_skipped(o: &mut Open, limits: &[u32; 4], key: K32, n: u32, mk: K32) {
    let stamp = o.received.wrapping_add(1);
    o.skipped.push(Skipped {
        key,
        n,
        stamp,
        skipped_at: u64::MAX,
        mk,
    });
    while o.skipped.len() > limits[1] as usize {
        o.skipped.remove(0);
    }
}

/// §6.4 Old chains: drop the front keys beyond `max_old_chains`, with their skipped keys.
fn evict_old(o: &mut Open, max_old_chains: u32) {
    while o.old.len() > max_old_chains as usize {
        let gone = o.old.remove(0);
        o.skipped.retain(|s| s.key != gone);
    }
}

/// §6.4 Age: count the decrypt, then drop too-old keys from the front only.
fn count_decrypt(o: &mut Open, limits: &[u32; 4]) {
    o.received = o.received.wrapping_add(1);
    while o
        .skipped
        .first()
        .is_some_and(|s| o.received.wrapping_sub(s.stamp) > limits[3])
    {
        o.skipped.remove(0);
    }
}

/// §6.5 D3–D8: the receiving step under a new ratchet key `K = m.key`, from the open state
/// `prior` (`None`: an opening initiator, or a responder's first message with the signed prekey
/// as `DHs`, §6.2) whose sending side is `(dhs, ns)`. Returns `RK'`, the new open state (sending
/// side pending: no ratchet secret kept) and the plaintext; nothing is changed on error.
pub(crate) fn receiving_step(
    rk: &K32,
    limits: &[u32; 4],
    prior: Option<&Open>,
    (dhs, ns): (&K32, u32),
    m: &Msg,
    aad: &[u8],
) -> Result<(K32, Open, Vec<u8>), E> {
    // D3: the jump check, before any derivation.
    let old_gap = prior.map_or(0, |o| m.pn.saturating_sub(o.nr));
    if u64::from(old_gap) + u64::from(m.n) > u64::from(limits[0]) {
        return Err(E::TooFarInFuture);
    }
    // D4–D7.
    let old_keys = match prior {
        Some(o) if m.pn > o.nr => walk(o.ckr, o.nr, m.pn).0,
        _ => vec![],
    };
    let (rk, ck) = kdf_rk(rk, &dh(dhs, &m.key)?);
    let (new_keys, ck_n) = walk(ck, 0, m.n);
    let (mk, next) = kdf_ck(&ck_n);
    let pt = open(&mk, &m.seed, aad, &m.ct)?;
    // D8, in order.
    let mut o = prior.cloned().unwrap_or_default();
    if let Some(p) = prior {
        for (i, k) in old_keys {
            push_skipped(&mut o, limits, p.dhr, i, k);
        }
        o.old.push(p.dhr);
        evict_old(&mut o, limits[2]);
    }
    for (i, k) in new_keys {
        push_skipped(&mut o, limits, m.key, i, k);
    }
    (o.dhr, o.ckr, o.nr) = (m.key, next, m.n + 1);
    o.pn = ns;
    o.send = None;
    count_decrypt(&mut o, limits);
    Ok((rk, o, pt))
}

/// §7 session. Its state *is* the codec's plain data (§10.3): the phase of §6.1 as
/// `sc::Ratchet` — `Opening` (first sending chain only, no `DHr`) or `Open` (receiving chain,
/// sending chain or pending). `Deref` gives the fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MySession(pub(crate) SessionBlob);

impl std::ops::Deref for MySession {
    type Target = SessionBlob;
    fn deref(&self) -> &SessionBlob {
        &self.0
    }
}

impl std::ops::DerefMut for MySession {
    fn deref_mut(&mut self) -> &mut SessionBlob {
        &mut self.0
    }
}

pub(crate) fn x3dh_sk(dhs: &[K32]) -> K32 {
    let mut ikm = vec![0xFFu8; 32];
    for d in dhs {
        ikm.extend_from_slice(d);
    }
    let mut sk = [0u8; 32];
    hkdf(&[0u8; 32], &ikm, LABEL_X3DH, &mut sk);
    sk
}

/// §3.5 `AD` (computed here, not by the codec).
pub(crate) fn assoc_data(ik_a: &K32, ik_b: &K32, context: &[u8]) -> Vec<u8> {
    let mut ad = ik_a.to_vec();
    ad.extend_from_slice(ik_b);
    ad.extend_from_slice(&u16::try_from(context.len()).unwrap().to_be_bytes());
    ad.extend_from_slice(context);
    ad
}

impl MySession {
    /// §3.5
    fn ad(&self) -> Vec<u8> {
        let (a, b) = if self.initiator() {
            (self.local, self.remote)
        } else {
            (self.remote, self.local)
        };
        assoc_data(&a, &b, &self.context)
    }

    pub(crate) fn prefields(&self) -> PreFields {
        PreFields {
            ik_a: if self.initiator() {
                self.local
            } else {
                self.remote
            },
            base: self.base,
            spk_id: self.spk_id,
            opk_id: self.opk_id,
            kem: self.kem.clone(),
        }
    }

    /// The open phase's state (test helper; panics in the opening phase).
    pub(crate) fn o(&self) -> &Open {
        self.open().expect("the open phase")
    }

    /// §7.2 + §4.4 / §4.5 initiator + §6.2: the opening phase, `SPK_B` not kept. A version
    /// 0x02 bundle runs PQXDH: both signatures verified before any draw, then `EK_A`, the DHs,
    /// the one-time prekey's check, `m` and the encapsulation, and the first ratchet key.
    pub(crate) fn initiate(
        rng: &mut impl Rng,
        id: &Ident,
        bundle: &[u8],
        context: &[u8],
    ) -> Result<Self, E> {
        if context.len() > MAX_CONTEXT {
            return Err(E::TooLarge);
        }
        let b = decode_bundle(bundle)?;
        let pqxdh = b.kem.is_some();
        verify_spk(&b.ik, (b.spk_id, b.created_at), &b.spk, &b.sig, pqxdh)?;
        if let Some(k) = &b.kem {
            verify_kem(&b.ik, (k.usage, k.id, k.created_at), &k.ek, &k.sig)?;
        }
        // Clamping EK_A changes neither its public key nor a DH; it is discarded anyway.
        let ek = generate_secret(rng);
        let ik_b = identity_x25519(&b.ik);
        let mut dhs = vec![dh(&id.xsecret, &b.spk)?, dh(&ek, &ik_b)?, dh(&ek, &b.spk)?];
        if let Some((_, opk)) = b.opk {
            dhs.push(dh(&ek, &opk)?);
            // §4.4 step 4, after the DHs.
            if !x25519_prime_order(&opk) {
                return Err(E::Decode(DecodeErr::InvalidKey));
            }
        }
        let base = xpub(&ek);
        let (sk, kem) = match &b.kem {
            None => (x3dh_sk(&dhs), None),
            Some(k) => {
                let (ct, ss) = kem_encaps(&k.ek, draw(rng));
                let t = Transcript {
                    ik_a: &id.ik,
                    ik_b: &b.ik,
                    spk: (b.spk_id, &b.spk),
                    opk: b.opk.as_ref().map(|(i, k)| (*i, k)),
                    base: &base,
                    kem: (k.usage, k.id),
                    pqpk: &k.ek,
                    ct: &ct,
                };
                let (usage, id) = (k.usage, k.id);
                (pqxdh_sk(&dhs, &ss, &t), Some(SessionKem { usage, id, ct }))
            }
        };
        let dhs = key_pair(generate_secret(rng));
        let (rk, ck) = kdf_rk(&sk, &dh(&dhs.secret, &b.spk)?);
        Ok(MySession(SessionBlob {
            phase: Phase::AwaitingReply,
            local: id.ik,
            remote: b.ik,
            context: context.to_vec(),
            base,
            spk_id: b.spk_id,
            opk_id: b.opk.map(|(id, _)| id),
            kem,
            timer: sc::Timer::default(),
            limits: DEFAULT_LIMITS,
            rk,
            ratchet: Ratchet::Opening(Sending { dhs, ck, n: 0 }),
        }))
    }

    /// §6.3 with `aad_head` = `AD` (‖ prekey fields); also returns (ratchet public, N, MK) for
    /// the test's bookkeeping.
    fn ratchet_encrypt(
        &mut self,
        rng: &mut impl Rng,
        aad_head: &[u8],
        pt: &[u8],
    ) -> Result<(Vec<u8>, SentKey), E> {
        if pt.len() > MAX_PLAINTEXT {
            return Err(E::TooLarge);
        }
        // Step 2: the deferred sending half-step, iff the sending side is pending.
        let (rk, chain, pn) = match &self.ratchet {
            Ratchet::Opening(s) => (self.rk, s.clone(), 0),
            Ratchet::Open(o) => match &o.send {
                Some(s) => (self.rk, s.clone(), o.pn),
                None => {
                    let dhs = key_pair(generate_secret(rng));
                    let (rk, ck) = kdf_rk(&self.rk, &dh(&dhs.secret, &o.dhr)?);
                    (rk, Sending { dhs, ck, n: 0 }, o.pn)
                }
            },
        };
        if chain.n == u32::MAX {
            return Err(E::ChainExhausted);
        }
        let (mk, next) = kdf_ck(&chain.ck);
        let seed: [u8; 16] = draw(rng);
        let mut out = vec![VERSION, TYPE_NORMAL];
        // The ratchet key in the header is the state's public key (as stored, §10.0).
        out.extend_from_slice(&chain.dhs.public);
        out.extend_from_slice(&pn.to_be_bytes());
        out.extend_from_slice(&chain.n.to_be_bytes());
        out.extend_from_slice(&seed);
        let aad = [aad_head, &out].concat();
        let ct = seal(&mk, &seed, &aad, pt);
        out.extend_from_slice(&ct);
        // Step 8: commit.
        let log = (chain.dhs.public, chain.n, mk);
        let sending = Sending {
            dhs: chain.dhs,
            ck: next,
            n: chain.n + 1,
        };
        self.rk = rk;
        match &mut self.ratchet {
            Ratchet::Opening(s) => *s = sending,
            Ratchet::Open(o) => o.send = Some(sending),
        }
        Ok((out, log))
    }

    /// §6.5 A–D; changes nothing on error (§6.6).
    fn ratchet_decrypt(&mut self, ad: &[u8], m: &Msg) -> Result<Vec<u8>, E> {
        let aad = m.aad(ad);
        let limits = self.limits;
        // A. skipped key (only the open phase has any).
        if let Ratchet::Open(o) = &mut self.0.ratchet
            && let Some(i) = o.skipped.iter().position(|s| s.key == m.key && s.n == m.n)
        {
            let pt = open(&o.skipped[i].mk, &m.seed, &aad, &m.ct)?;
            o.skipped.remove(i);
            count_decrypt(o, &limits);
            return Ok(pt);
        }
        // B. counter bound
        if m.n == u32::MAX {
            return Err(E::TooFarInFuture);
        }
        let (prior, sending) = match &mut self.0.ratchet {
            // An opening initiator has no `recv`: every message is a new ratchet key (D).
            Ratchet::Opening(s) => (None, (s.dhs.secret, s.n)),
            // C. current chain
            Ratchet::Open(o) if o.dhr == m.key => {
                if m.n < o.nr {
                    return Err(E::DuplicateMessage);
                }
                if m.n - o.nr > limits[0] {
                    return Err(E::TooFarInFuture);
                }
                let (kept, ck_n) = walk(o.ckr, o.nr, m.n);
                let (mk, next) = kdf_ck(&ck_n);
                let pt = open(&mk, &m.seed, &aad, &m.ct)?;
                for (i, k) in kept {
                    push_skipped(o, &limits, m.key, i, k);
                }
                (o.ckr, o.nr) = (next, m.n + 1);
                count_decrypt(o, &limits);
                return Ok(pt);
            }
            // D1, D2.
            Ratchet::Open(o) => {
                if o.old.contains(&m.key) {
                    return Err(E::DuplicateMessage);
                }
                let Some(s) = &o.send else {
                    return Err(E::DecryptionFailed);
                };
                (Some(o.clone()), (s.dhs.secret, s.n))
            }
        };
        let (dhs, ns) = sending;
        let (rk, o, pt) = receiving_step(&self.rk, &limits, prior.as_ref(), (&dhs, ns), m, &aad)?;
        self.rk = rk;
        self.ratchet = Ratchet::Open(o);
        Ok(pt)
    }

    pub(crate) fn encrypt_logged(
        &mut self,
        rng: &mut impl Rng,
        pt: &[u8],
    ) -> Result<(Vec<u8>, SentKey), E> {
        let ad = self.ad();
        if self.phase == Phase::AwaitingReply {
            // §3.5: aad = AD ‖ prekey fields ‖ prefix.
            let mut out = encode_prefields(&self.prefields());
            let (m, log) = self.ratchet_encrypt(rng, &[&ad, &out[..]].concat(), pt)?;
            out.extend_from_slice(&m);
            Ok((out, log))
        } else {
            self.ratchet_encrypt(rng, &ad, pt)
        }
    }

    /// §7.4; the first success of an initiator acknowledges it (phase 0x00 → 0x01).
    pub(crate) fn decrypt(&mut self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        let (pre, m) = decode_message(bytes)?;
        if let Some(p) = pre
            && (self.initiator() || p != self.prefields())
        {
            return Err(E::SessionMismatch);
        }
        let ad = self.ad();
        let pt = self.ratchet_decrypt(&ad, &m)?;
        if self.phase == Phase::AwaitingReply {
            self.phase = Phase::Acknowledged;
        }
        Ok(pt)
    }

    /// §6.4 "Changing limits".
    pub(crate) fn set_limits(&mut self, limits: [u32; 4]) {
        assert!(limits.iter().all(|l| (1..=CEILING).contains(l)) && limits[0] <= limits[1]);
        self.limits = limits;
        if let Ratchet::Open(o) = &mut self.0.ratchet {
            evict_old(o, limits[2]);
            while o.skipped.len() > limits[1] as usize {
                o.skipped.remove(0);
            }
            while o
                .skipped
                .first()
                .is_some_and(|s| o.received.wrapping_sub(s.stamp) > limits[3])
            {
                o.skipped.remove(0);
            }
        }
    }

    /// §10.3 through the reference codec: version 3 (X3DH) or 4 (PQXDH).
    pub(crate) fn to_state(&self) -> Vec<u8> {
        self.encode()
    }

    /// §10.3 through the reference codec: any version read (an older one migrated).
    pub(crate) fn from_state(blob: &[u8]) -> Result<Self, sc::DecodeError> {
        SessionBlob::decode(blob).map(|(_, s)| MySession(s))
    }
}
