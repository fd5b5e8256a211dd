//! The independent implementation's responder: the prekey store (§4.3, §10.2) with its
//! first-message records, and `respond` (§7.3).

use crate::common::state_codec::{
    self as sc, DEFAULT_LIMITS, KeyPair, MAX_CONTEXT, MAX_FIRST_MESSAGES, MAX_ONE_TIME_PREKEYS,
    MAX_SIGNED_PREKEYS, OneTimePreKey, Phase, Ratchet, SessionBlob, SignedPreKey, StoreBlob,
};
use crate::reference::primitives::{E, dh, first_message_id, generate_secret, identity_x25519};
use crate::reference::session::{MySession, assoc_data, key_pair, receiving_step, x3dh_sk};
use crate::reference::wire::{Bundle, Ident, decode_message, encode_bundle, signed_bytes};
use rand_chacha::ChaCha20Rng;

/// §4.3 responder store plus identity; the store's state is the codec's plain data (§10.2).
pub(crate) struct MyBob {
    id: Ident,
    pub(crate) store: StoreBlob,
}

impl MyBob {
    pub(crate) fn new(id: Ident) -> Self {
        MyBob {
            id,
            store: StoreBlob::default(),
        }
    }

    pub(crate) fn rotate_signed_prekey(&mut self, rng: &mut ChaCha20Rng, now: u64) {
        let s = &mut self.store;
        let id = s.next_signed_id;
        s.next_signed_id = id.wrapping_add(1);
        let key = key_pair(generate_secret(rng));
        let signature = self.id.sign(&signed_bytes(id, now, &key.public));
        // A key pushed out takes its record of first messages with it.
        s.signed.retain(|k| k.id != id);
        s.signed.push(SignedPreKey {
            id,
            created_at: now,
            key,
            signature,
            accepted: vec![],
        });
        while s.signed.len() > MAX_SIGNED_PREKEYS {
            s.signed.remove(0);
        }
    }

    /// §4.3: refused as a whole (and, as guessed, before drawing anything) beyond 65 536 held keys.
    pub(crate) fn generate_one_time_prekeys(
        &mut self,
        rng: &mut ChaCha20Rng,
        n: usize,
    ) -> Result<Vec<u32>, E> {
        let s = &mut self.store;
        if s.one_time.len() + n > MAX_ONE_TIME_PREKEYS {
            return Err(E::TooLarge);
        }
        let mut ids = vec![];
        for _ in 0..n {
            let mut id = s.next_one_time_id;
            while s.one_time.iter().any(|k| k.id == id) {
                id = id.wrapping_add(1);
            }
            let key = key_pair(generate_secret(rng));
            let at = s.one_time.partition_point(|k| k.id < id);
            s.one_time.insert(at, OneTimePreKey { id, key });
            s.next_one_time_id = id.wrapping_add(1);
            ids.push(id);
        }
        Ok(ids)
    }

    fn one_time(&self, id: u32) -> Option<&KeyPair> {
        self.store
            .one_time
            .iter()
            .find(|k| k.id == id)
            .map(|k| &k.key)
    }

    /// §4.3 `first_message_capacity`: what the current signed prekey can still accept.
    pub(crate) fn first_message_capacity(&self) -> usize {
        self.store
            .signed
            .last()
            .map_or(0, |s| MAX_FIRST_MESSAGES - s.accepted.len())
    }

    pub(crate) fn bundle(&self, one_time: Option<u32>) -> Vec<u8> {
        self.bundle_of(self.store.signed.len() - 1, one_time)
    }

    /// A bundle of the held signed prekey at `index` (oldest first); test helper to reach the
    /// older ones. Public keys as held (as stored, §10.0).
    pub(crate) fn bundle_of(&self, index: usize, one_time: Option<u32>) -> Vec<u8> {
        let spk = &self.store.signed[index];
        encode_bundle(&Bundle {
            ik: self.id.ik,
            spk_id: spk.id,
            created_at: spk.created_at,
            spk: spk.key.public,
            sig: spk.signature,
            opk: one_time.map(|i| (i, self.one_time(i).unwrap().public)),
        })
    }

    /// §7.3 with the replay rule of §4.3 (step 5, right after X3DH and before the context
    /// check), and the responder's ratchet created by its first receiving step (§6.2): the
    /// signed prekey's secret serves as `DHs` for that step only and is not kept.
    pub(crate) fn respond(
        &mut self,
        bytes: &[u8],
        context: &[u8],
    ) -> Result<(MySession, Vec<u8>), E> {
        let (pre, m) = decode_message(bytes)?;
        let p = pre.ok_or(E::NotPreKeyMessage)?;
        let spk_index = self
            .store
            .signed
            .iter()
            .position(|s| s.id == p.spk_id)
            .ok_or(E::UnknownSignedPreKey(p.spk_id))?;
        let spk_secret = self.store.signed[spk_index].key.secret;
        let opk_secret = match p.opk_id {
            Some(id) => Some(self.one_time(id).ok_or(E::UnknownOneTimePreKey(id))?.secret),
            None => None,
        };
        let ik_a = identity_x25519(&p.ik_a);
        let mut dhs = vec![
            dh(&spk_secret, &ik_a)?,
            dh(&self.id.xsecret, &p.base)?,
            dh(&spk_secret, &p.base)?,
        ];
        if let Some(opk) = opk_secret {
            dhs.push(dh(&opk, &p.base)?);
        }
        let fmid = first_message_id(&dhs[2]);
        let accepted = &self.store.signed[spk_index].accepted;
        if p.opk_id.is_none() {
            if accepted.binary_search(&fmid).is_ok() {
                return Err(E::DuplicateMessage);
            }
            if accepted.len() >= MAX_FIRST_MESSAGES {
                return Err(E::SignedPreKeyFull(p.spk_id));
            }
        }
        let sk = x3dh_sk(&dhs);
        if context.len() > MAX_CONTEXT {
            return Err(E::TooLarge);
        }
        let ad = assoc_data(&p.ik_a, &self.id.ik, context);
        let first = (&spk_secret, 0);
        let (rk, o, pt) = receiving_step(&sk, &DEFAULT_LIMITS, None, first, &m, &m.aad(&ad))?;
        let s = MySession(SessionBlob {
            phase: Phase::Responder,
            local: self.id.ik,
            remote: p.ik_a,
            context: context.to_vec(),
            base: p.base,
            spk_id: p.spk_id,
            opk_id: p.opk_id,
            timer: sc::Timer::default(),
            limits: DEFAULT_LIMITS,
            rk,
            ratchet: Ratchet::Open(o),
        });
        match p.opk_id {
            Some(id) => self.store.one_time.retain(|k| k.id != id),
            None => {
                let accepted = &mut self.store.signed[spk_index].accepted;
                let at = accepted.partition_point(|x| *x < fmid);
                accepted.insert(at, fmid);
            }
        }
        Ok((s, pt))
    }

    /// §10.2 through the reference codec: version 3.
    pub(crate) fn store_state(&self) -> Vec<u8> {
        self.store.encode_v3()
    }

    /// §10.2 through the reference codec: any version read (an older one migrated).
    pub(crate) fn load_store(id: Ident, blob: &[u8]) -> Result<Self, sc::DecodeError> {
        StoreBlob::decode(blob).map(|(_, store)| MyBob { id, store })
    }
}
