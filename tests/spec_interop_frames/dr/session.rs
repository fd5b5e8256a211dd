//! §7 session state, and its creation: X3DH as initiator (§7.2) and as responder (§7.3,
//! `respond`, and `accept` of §8.5).

use super::ratchet::receiving_step;
use super::{
    Bundle, Error, Incoming, MAX_CONTEXT_LEN, MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY, PreKeyFields,
    Received, Store, decode_message, first_message_id, kdf_rk, x3dh_sk,
};
use crate::codec::DecodeError;
use crate::common::state_codec::{KeyPair, Phase, Ratchet, Sending, Skipped};
use crate::frame::Timer;
use crate::prim::{self, Identity};
use crate::util::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_skip: u32,
    pub max_skipped_keys: u32,
    pub max_old_chains: u32,
    pub max_skipped_key_age: u32,
}

pub const DEFAULT_LIMITS: Limits = Limits {
    max_skip: 2000,
    max_skipped_keys: 2000,
    max_old_chains: 5,
    max_skipped_key_age: 10000,
};

impl Limits {
    /// The §10.3 row 10 order.
    pub fn to_array(self) -> [u32; 4] {
        [
            self.max_skip,
            self.max_skipped_keys,
            self.max_old_chains,
            self.max_skipped_key_age,
        ]
    }
    pub fn from_array(l: [u32; 4]) -> Limits {
        Limits {
            max_skip: l[0],
            max_skipped_keys: l[1],
            max_old_chains: l[2],
            max_skipped_key_age: l[3],
        }
    }
}

/// §7 session. The ratchet is in one of the two phases of §6.1 (`sc::Ratchet`): `Opening`,
/// an initiator that has received nothing (its first sending chain only, no `DHr`), or
/// `Open` (a receiving chain, a sending chain or none while the half-step is pending: no
/// ratchet secret held then).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub phase: Phase,
    pub local: [u8; 32],
    pub remote: [u8; 32],
    pub context: Vec<u8>,
    pub base: [u8; 32],
    pub spk_id: u32,
    pub opk_id: Option<u32>,
    pub limits: Limits,
    pub timer: Timer,
    pub rk: [u8; 32],
    pub ratchet: Ratchet,
}

impl Session {
    pub fn responder(&self) -> bool {
        self.phase == Phase::Responder
    }

    /// §3.5.
    pub fn ad(&self) -> Vec<u8> {
        let (a, b) = if self.responder() {
            (self.remote, self.local)
        } else {
            (self.local, self.remote)
        };
        let mut out = a.to_vec();
        out.extend_from_slice(&b);
        out.extend_from_slice(&(self.context.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.context);
        out
    }

    pub fn x3dh_fields(&self) -> PreKeyFields {
        PreKeyFields {
            ik_a: if self.responder() {
                self.remote
            } else {
                self.local
            },
            base: self.base,
            spk_id: self.spk_id,
            opk_id: self.opk_id,
        }
    }

    /// The stored skipped keys (none in the opening phase).
    pub fn skipped(&self) -> &[Skipped] {
        match &self.ratchet {
            Ratchet::Open(o) => &o.skipped,
            Ratchet::Opening(_) => &[],
        }
    }

    /// §7.2 + §4.4 + §6.2: X3DH as initiator; the opening phase keeps no `DHr`.
    pub fn initiate(
        rng: &mut Rng,
        identity: &Identity,
        bundle: &[u8],
        context: &[u8],
    ) -> Result<Session, Error> {
        let b = Bundle::decode(bundle)?;
        if context.len() > MAX_CONTEXT_LEN {
            return Err(Error::TooLarge);
        }
        let signed = Bundle::signed_bytes(b.spk_id, b.created_at, &b.spk);
        if !prim::verify_strict(&b.ik_b, &signed, &b.signature) {
            return Err(Error::InvalidSignature);
        }
        // §10.0: key generation clamps the 32 bytes drawn.
        let ek = prim::clamp(rng.take());
        let nc = Error::NonContributory;
        let mut dhs = vec![
            prim::dh(&identity.x_secret, &b.spk).ok_or(nc)?,
            prim::dh(&ek, &prim::ed_to_x(&b.ik_b)).ok_or(nc)?,
            prim::dh(&ek, &b.spk).ok_or(nc)?,
        ];
        if let Some((_, opk)) = b.opk {
            dhs.push(prim::dh(&ek, &opk).ok_or(nc)?);
            if !prim::x25519_in_prime_subgroup(&opk) {
                return Err(Error::Decode(DecodeError::InvalidKey));
            }
        }
        let sk = x3dh_sk(&dhs);
        let secret = prim::clamp(rng.take());
        let (rk, ck) = kdf_rk(&sk, &prim::dh(&secret, &b.spk).ok_or(nc)?);
        let dhs = KeyPair {
            secret,
            public: prim::x25519_public(&secret),
        };
        Ok(Session {
            phase: Phase::AwaitingReply,
            local: identity.public,
            remote: b.ik_b,
            context: context.to_vec(),
            base: prim::x25519_public(&ek),
            spk_id: b.spk_id,
            opk_id: b.opk.map(|(id, _)| id),
            limits: DEFAULT_LIMITS,
            timer: Timer::OFF,
            rk,
            ratchet: Ratchet::Opening(Sending { dhs, ck, n: 0 }),
        })
    }

    /// §7.3 steps 1–7; the store change of step 8 is returned, not applied. The responder's
    /// ratchet is created by its first receiving step (§6.2): the signed prekey's secret is
    /// `DHs` for that step only, and the session keeps no ratchet secret until it sends.
    fn respond_steps(
        identity: &Identity,
        store: &Store,
        message: &[u8],
        context: &[u8],
        skipped_at: u64,
    ) -> Result<(Session, Vec<u8>, PreKeyFields, [u8; 16]), Error> {
        let (f, m) = match decode_message(message)? {
            Incoming::Normal(_) => return Err(Error::NotPreKeyMessage),
            Incoming::PreKey(f, m) => (f, m),
        };
        let spk = store
            .signed
            .iter()
            .find(|k| k.id == f.spk_id)
            .ok_or(Error::UnknownSignedPreKey(f.spk_id))?;
        let opk = match f.opk_id {
            None => None,
            Some(id) => Some(
                store
                    .one_time
                    .iter()
                    .find(|k| k.id == id)
                    .ok_or(Error::UnknownOneTimePreKey(id))?
                    .key
                    .secret,
            ),
        };
        let nc = Error::NonContributory;
        let mut dhs = vec![
            prim::dh(&spk.key.secret, &prim::ed_to_x(&f.ik_a)).ok_or(nc)?,
            prim::dh(&identity.x_secret, &f.base).ok_or(nc)?,
            prim::dh(&spk.key.secret, &f.base).ok_or(nc)?,
        ];
        if let Some(opk) = opk {
            dhs.push(prim::dh(&opk, &f.base).ok_or(nc)?);
        }
        let sk = x3dh_sk(&dhs);
        // §7.3 step 5: the first-message record, right after X3DH (step 4) and before the
        // context length (step 6); a replay is reported before a full record.
        let first_id = first_message_id(&dhs[2]);
        if f.opk_id.is_none() {
            if spk.accepted.binary_search(&first_id).is_ok() {
                return Err(Error::DuplicateMessage);
            }
            if spk.accepted.len() >= MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY {
                return Err(Error::SignedPreKeyFull(f.spk_id));
            }
        }
        if context.len() > MAX_CONTEXT_LEN {
            return Err(Error::TooLarge);
        }
        // §3.5 AD (IK_A = the message's, IK_B = ours) ‖ prekey fields ‖ prefix.
        let mut aad = f.ik_a.to_vec();
        aad.extend_from_slice(&identity.public);
        aad.extend_from_slice(&(context.len() as u16).to_be_bytes());
        aad.extend_from_slice(context);
        aad.extend_from_slice(&m.header);
        let first = (spk.key.secret, 0);
        let (rk, o, pt) = receiving_step(&sk, &DEFAULT_LIMITS, None, first, &m, &aad, skipped_at)?;
        let s = Session {
            phase: Phase::Responder,
            local: identity.public,
            remote: f.ik_a,
            context: context.to_vec(),
            base: f.base,
            spk_id: f.spk_id,
            opk_id: f.opk_id,
            limits: DEFAULT_LIMITS,
            timer: Timer::OFF,
            rk,
            ratchet: Ratchet::Open(o),
        };
        Ok((s, pt, f, first_id))
    }

    /// §7.3 step 8 (§4.3).
    fn consume(store: &mut Store, f: &PreKeyFields, first_id: [u8; 16]) {
        match f.opk_id {
            Some(id) => store.one_time.retain(|k| k.id != id),
            None => {
                let k = store
                    .signed
                    .iter_mut()
                    .find(|k| k.id == f.spk_id)
                    .expect("held");
                if let Err(at) = k.accepted.binary_search(&first_id) {
                    k.accepted.insert(at, first_id);
                }
            }
        }
    }

    /// §7.3 `respond` (raw plaintext; stored keys get `skipped_at = 2^64 − 1`).
    pub fn respond(
        identity: &Identity,
        store: &mut Store,
        message: &[u8],
        context: &[u8],
    ) -> Result<(Session, Vec<u8>), Error> {
        let (s, pt, f, id) = Self::respond_steps(identity, store, message, context, u64::MAX)?;
        Self::consume(store, &f, id);
        Ok((s, pt))
    }

    /// §8.5 `accept`: §7.3 steps 1–7, the frame, then step 8. Keys the first message skips
    /// record `skipped_at = now` (§8.6); the timer the first frame applies then governs
    /// their purge.
    pub fn accept(
        identity: &Identity,
        store: &mut Store,
        message: &[u8],
        context: &[u8],
        now_ms: u64,
    ) -> Result<(Session, Received), Error> {
        let (mut s, pt, f, id) = Self::respond_steps(identity, store, message, context, now_ms)?;
        let received = s.take_frame(&pt, now_ms)?;
        Self::consume(store, &f, id);
        Ok((s, received))
    }
}
