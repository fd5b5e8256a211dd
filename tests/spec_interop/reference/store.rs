//! The independent implementation's responder: the prekey store (§4.3, §4.5, §10.2) with its
//! first-message records and KEM prekeys, and `respond` (§7.3) by X3DH or PQXDH.

use crate::common::state_codec::{
    self as sc, DEFAULT_LIMITS, KemStore, KeyPair, MAX_CONTEXT, MAX_FIRST_MESSAGES,
    MAX_KEM_ONE_TIME_PREKEYS, MAX_KEM_PREKEYS, MAX_ONE_TIME_PREKEYS, MAX_SIGNED_PREKEYS,
    OneTimePreKey, Phase, Ratchet, SessionBlob, SignedPreKey, StoreBlob, StoredKemPreKey,
};
use crate::reference::pq::{
    LAST_RESORT, ONE_TIME, Transcript, kem_decaps, kem_public, kem_signed_bytes, pqxdh_sk,
};
use crate::reference::primitives::{
    E, dh, draw, first_message_id, generate_secret, identity_x25519,
};
use crate::reference::session::{MySession, assoc_data, key_pair, receiving_step, x3dh_sk};
use crate::reference::wire::{
    Bundle, BundleKem, Ident, decode_message, encode_bundle, pqxdh_signed_bytes, signed_bytes,
};
use rand_chacha::rand_core::Rng;

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

    pub(crate) fn rotate_signed_prekey(&mut self, rng: &mut impl Rng, now: u64) {
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
        rng: &mut impl Rng,
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

    /// §4.5: a new KEM prekey of `usage`: the first id from `next_kem_id` not held by any KEM
    /// prekey (wrapping; the counter moves past it), a 64-byte seed drawn, its key signed. The
    /// store has KEM state from then on (§10.0: written as version 4).
    fn new_kem_prekey(&mut self, rng: &mut impl Rng, usage: u8, now: u64) -> StoredKemPreKey {
        let k = self.store.kem.get_or_insert_with(KemStore::default);
        let held = |id: u32| k.last_resort.iter().chain(&k.one_time).any(|x| x.id == id);
        let mut id = k.next_kem_id;
        while held(id) {
            id = id.wrapping_add(1);
        }
        k.next_kem_id = id.wrapping_add(1);
        let seed = draw(rng);
        let signature = self
            .id
            .sign(&kem_signed_bytes(usage, id, now, &kem_public(&seed)));
        StoredKemPreKey {
            id,
            created_at: now,
            seed,
            signature,
        }
    }

    /// §4.5 `rotate_kem_prekey`: a new last-resort KEM prekey; the oldest beyond 3 dropped.
    pub(crate) fn rotate_kem_prekey(&mut self, rng: &mut impl Rng, now: u64) -> u32 {
        let key = self.new_kem_prekey(rng, LAST_RESORT, now);
        let id = key.id;
        let k = self.store.kem.as_mut().unwrap();
        k.last_resort.push(key);
        while k.last_resort.len() > MAX_KEM_PREKEYS {
            k.last_resort.remove(0);
        }
        id
    }

    /// §4.5 `generate_kem_one_time_prekeys`: refused as a whole beyond 4096 held keys (before
    /// drawing anything, as for one-time prekeys).
    pub(crate) fn generate_kem_one_time_prekeys(
        &mut self,
        rng: &mut impl Rng,
        n: usize,
        now: u64,
    ) -> Result<Vec<u32>, E> {
        let held = self.store.kem.as_ref().map_or(0, |k| k.one_time.len());
        if n > MAX_KEM_ONE_TIME_PREKEYS - held {
            return Err(E::TooLarge);
        }
        let mut ids = vec![];
        for _ in 0..n {
            let key = self.new_kem_prekey(rng, ONE_TIME, now);
            ids.push(key.id);
            let list = &mut self.store.kem.as_mut().unwrap().one_time;
            let at = list.partition_point(|k| k.id < key.id);
            list.insert(at, key);
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

    /// The KEM prekey of `usage` with `id`, if held.
    fn kem_prekey(&self, usage: u8, id: u32) -> Option<&StoredKemPreKey> {
        let k = self.store.kem.as_ref()?;
        let list = if usage == ONE_TIME {
            &k.one_time
        } else {
            &k.last_resort
        };
        list.iter().find(|x| x.id == id)
    }

    /// §4.3 `first_message_capacity`: what the current signed prekey can still accept.
    pub(crate) fn first_message_capacity(&self) -> usize {
        self.store
            .signed
            .last()
            .map_or(0, |s| MAX_FIRST_MESSAGES - s.accepted.len())
    }

    /// The bundle (§5.1): the current signed prekey, the one-time prekey asked for, and the
    /// current last-resort KEM prekey if one is held (a version 0x02 bundle, §4.5).
    pub(crate) fn bundle(&self, one_time: Option<u32>) -> Vec<u8> {
        self.bundle_of(self.store.signed.len() - 1, one_time)
    }

    /// A bundle with the one-time KEM prekey `kem_id` instead (§4.5 `bundle_with_kem_one_time`).
    pub(crate) fn bundle_with_kem_one_time(
        &self,
        one_time: Option<u32>,
        kem_id: u32,
    ) -> Result<Vec<u8>, E> {
        let key = self
            .kem_prekey(ONE_TIME, kem_id)
            .ok_or(E::UnknownKemPreKey(kem_id))?;
        let index = self.store.signed.len() - 1;
        Ok(self.bundle_with(index, one_time, Some((ONE_TIME, key))))
    }

    /// A bundle of the held signed prekey at `index` (oldest first); test helper to reach the
    /// older ones. Public keys as held (as stored, §10.0).
    pub(crate) fn bundle_of(&self, index: usize, one_time: Option<u32>) -> Vec<u8> {
        let kem = self.store.kem.as_ref();
        let current = kem.and_then(|k| k.last_resort.last());
        self.bundle_with(index, one_time, current.map(|k| (LAST_RESORT, k)))
    }

    fn bundle_with(
        &self,
        index: usize,
        one_time: Option<u32>,
        kem: Option<(u8, &StoredKemPreKey)>,
    ) -> Vec<u8> {
        let spk = &self.store.signed[index];
        // A PQXDH bundle's signed prekey is signed with its key type, from the identity (§4.2);
        // the store keeps the X3DH signature.
        let sig = if kem.is_some() {
            self.id
                .sign(&pqxdh_signed_bytes(spk.id, spk.created_at, &spk.key.public))
        } else {
            spk.signature
        };
        encode_bundle(&Bundle {
            ik: self.id.ik,
            spk_id: spk.id,
            created_at: spk.created_at,
            spk: spk.key.public,
            sig,
            opk: one_time.map(|i| (i, self.one_time(i).unwrap().public)),
            kem: kem.map(|(usage, k)| BundleKem {
                usage,
                id: k.id,
                created_at: k.created_at,
                ek: kem_public(&k.seed),
                sig: k.signature,
            }),
        })
    }

    /// §7.3 with the replay rule of §4.3 (step 5, right after X3DH and before the context
    /// check), and the responder's ratchet created by its first receiving step (§6.2): the
    /// signed prekey's secret serves as `DHs` for that step only and is not kept. PQXDH (§4.5):
    /// the KEM prekey looked up after the one-time prekey (step 3b); a first message that used
    /// a one-time prekey of either kind is protected by that key's deletion, one that used
    /// neither is checked against and recorded under its signed prekey.
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
        let spk = self.store.signed[spk_index].key;
        let opk = match p.opk_id {
            Some(id) => Some(*self.one_time(id).ok_or(E::UnknownOneTimePreKey(id))?),
            None => None,
        };
        let kem = match &p.kem {
            Some(k) => {
                let key = self
                    .kem_prekey(k.usage, k.id)
                    .ok_or(E::UnknownKemPreKey(k.id))?;
                Some(kem_decaps(&key.seed, &k.ct))
            }
            None => None,
        };
        let ik_a = identity_x25519(&p.ik_a);
        let mut dhs = vec![
            dh(&spk.secret, &ik_a)?,
            dh(&self.id.xsecret, &p.base)?,
            dh(&spk.secret, &p.base)?,
        ];
        if let Some(opk) = &opk {
            dhs.push(dh(&opk.secret, &p.base)?);
        }
        let kem_one_time = p.kem.as_ref().is_some_and(|k| k.usage == ONE_TIME);
        let record = p.opk_id.is_none() && !kem_one_time;
        let fmid = first_message_id(&dhs[2]);
        let accepted = &self.store.signed[spk_index].accepted;
        if record {
            if accepted.binary_search(&fmid).is_ok() {
                return Err(E::DuplicateMessage);
            }
            if accepted.len() >= MAX_FIRST_MESSAGES {
                return Err(E::SignedPreKeyFull(p.spk_id));
            }
        }
        let sk = match (&p.kem, &kem) {
            (Some(k), Some((pqpk, ss))) => {
                let t = Transcript {
                    ik_a: &p.ik_a,
                    ik_b: &self.id.ik,
                    spk: (p.spk_id, &spk.public),
                    opk: p.opk_id.zip(opk.as_ref().map(|k| &k.public)),
                    base: &p.base,
                    kem: (k.usage, k.id),
                    pqpk,
                    ct: &k.ct,
                };
                pqxdh_sk(&dhs, ss, &t)
            }
            _ => x3dh_sk(&dhs),
        };
        if context.len() > MAX_CONTEXT {
            return Err(E::TooLarge);
        }
        let ad = assoc_data(&p.ik_a, &self.id.ik, context);
        let first = (&spk.secret, 0);
        let (rk, o, pt) = receiving_step(&sk, &DEFAULT_LIMITS, None, first, &m, &m.aad(&ad))?;
        let s = MySession(SessionBlob {
            phase: Phase::Responder,
            local: self.id.ik,
            remote: p.ik_a,
            context: context.to_vec(),
            base: p.base,
            spk_id: p.spk_id,
            opk_id: p.opk_id,
            kem: p.kem.clone(),
            timer: sc::Timer::default(),
            limits: DEFAULT_LIMITS,
            rk,
            ratchet: Ratchet::Open(o),
        });
        // Step 8.
        if let Some(id) = p.opk_id {
            self.store.one_time.retain(|k| k.id != id);
        }
        if let (true, Some(k), Some(kem)) = (kem_one_time, &p.kem, &mut self.store.kem) {
            kem.one_time.retain(|x| x.id != k.id);
        }
        if record {
            let accepted = &mut self.store.signed[spk_index].accepted;
            let at = accepted.partition_point(|x| *x < fmid);
            accepted.insert(at, fmid);
        }
        Ok((s, pt))
    }

    /// §10.2 through the reference codec: version 3, or 4 with KEM state (§10.0).
    pub(crate) fn store_state(&self) -> Vec<u8> {
        self.store.encode()
    }

    /// §10.2 through the reference codec: any version read (an older one migrated).
    pub(crate) fn load_store(id: Ident, blob: &[u8]) -> Result<Self, sc::DecodeError> {
        StoreBlob::decode(blob).map(|(_, store)| MyBob { id, store })
    }
}
