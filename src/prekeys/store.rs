//! The responder's store (SPEC.md §4.3, §4.5): signed, one-time and KEM prekeys, the record of
//! accepted first messages, and its state body (§10.2).

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;

use super::{
    KemPreKey, KemPreKeyPair, KemUse, MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY,
    MAX_KEM_ONE_TIME_PREKEYS, MAX_KEM_PREKEYS, MAX_ONE_TIME_PREKEYS, MAX_SIGNED_PREKEYS,
    OneTimePreKey, PreKeyBundle, SignedPreKey, SignedPreKeyPair,
};
use crate::codec::{Codec, Reader, Writer};
use crate::error::{DecodeError, Error};
use crate::kdf::FIRST_MESSAGE_ID_LEN;
use crate::keys::{IdentityKeyPair, KeyPair};

/// The responder's private prekeys: signed prekeys (current and recent) and unused one-time
/// prekeys. The application persists it with [`PreKeyStore::to_bytes`] and uploads the public
/// halves to its server.
///
/// ```
/// # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
/// use xchat_protocol::{IdentityKeyPair, PreKeyStore};
/// # let mut rng = ChaCha20Rng::from_seed([7; 32]);
/// let bob = IdentityKeyPair::generate(&mut rng);
/// let mut store = PreKeyStore::new();
/// store.rotate_signed_prekey(&mut rng, &bob, 1_700_000_000_000);
/// let uploaded = store.generate_one_time_prekeys(&mut rng, 10)?;
/// let bundle = store.bundle(&bob, Some(uploaded[0].id))?;
/// assert_eq!(bundle.one_time_prekey, Some(uploaded[0]));
/// # Ok::<(), xchat_protocol::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct PreKeyStore {
    /// Oldest first; the last is current. At most [`MAX_SIGNED_PREKEYS`], distinct ids.
    signed: VecDeque<SignedPreKeyPair>,
    /// At most [`MAX_ONE_TIME_PREKEYS`].
    one_time: BTreeMap<u32, KeyPair>,
    next_signed_id: u32,
    next_one_time_id: u32,
    /// Last-resort KEM prekeys, oldest first; the last is current. At most [`MAX_KEM_PREKEYS`].
    kem_last_resort: VecDeque<KemPreKeyPair>,
    /// At most [`MAX_KEM_ONE_TIME_PREKEYS`].
    kem_one_time: BTreeMap<u32, KemPreKeyPair>,
    /// One id space for both uses of KEM prekeys.
    next_kem_id: u32,
}

impl PreKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a new signed prekey (the one future bundles carry) and forgets all but the
    /// [`MAX_SIGNED_PREKEYS`] newest. `now_ms` is the time in milliseconds since the Unix epoch,
    /// like every time the API takes; the prekey records and signs it in whole seconds
    /// ([`SignedPreKey::created_at`], SPEC.md §4.2).
    ///
    /// The returned prekey carries the X3DH signature (over [`SignedPreKey::signed_bytes`]); a
    /// PQXDH bundle needs the one over [`SignedPreKey::pqxdh_signed_bytes`], which
    /// [`PreKeyStore::bundle`] makes — a server that assembles bundles takes the signed prekey
    /// from `bundle(identity, None)`.
    pub fn rotate_signed_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &IdentityKeyPair,
        now_ms: u64,
    ) -> SignedPreKey {
        let id = self.next_signed_id;
        self.next_signed_id = self.next_signed_id.wrapping_add(1);
        let spk = SignedPreKeyPair::generate(rng, identity, id, now_ms / 1000);
        let public = *spk.public();
        self.signed.retain(|k| k.public.id != id);
        self.signed.push_back(spk);
        while self.signed.len() > MAX_SIGNED_PREKEYS {
            if let Some(oldest) = self.signed.front_mut() {
                oldest.pair.wipe();
            }
            self.signed.pop_front();
        }
        public
    }

    /// Generates `count` one-time prekeys and returns their public halves for upload.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if the store would then hold more than [`MAX_ONE_TIME_PREKEYS`]; the
    /// store is unchanged.
    pub fn generate_one_time_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
    ) -> Result<Vec<OneTimePreKey>, Error> {
        if count > MAX_ONE_TIME_PREKEYS.saturating_sub(self.one_time.len()) {
            return Err(Error::TooLarge);
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            // Ids wrap after 2^32 keys; skip any still in use so none is silently replaced.
            let mut id = self.next_one_time_id;
            while self.one_time.contains_key(&id) {
                id = id.wrapping_add(1);
            }
            self.next_one_time_id = id.wrapping_add(1);
            let pair = KeyPair::generate(rng);
            out.push(OneTimePreKey {
                id,
                key: *pair.public(),
            });
            self.one_time.insert(id, pair);
        }
        Ok(out)
    }

    /// The current signed prekey, if any, with its X3DH signature (as
    /// [`PreKeyStore::rotate_signed_prekey`] returned it).
    pub fn current_signed_prekey(&self) -> Option<&SignedPreKey> {
        self.signed.back().map(SignedPreKeyPair::public)
    }

    /// The public halves of the unused one-time prekeys, in id order (to re-upload them, or to
    /// reconcile with what the server still holds).
    pub fn one_time_prekeys(&self) -> Vec<OneTimePreKey> {
        self.one_time
            .iter()
            .map(|(id, pair)| OneTimePreKey {
                id: *id,
                key: *pair.public(),
            })
            .collect()
    }

    /// Deletes an unused one-time prekey (e.g. one the server handed out but no message ever
    /// used). Returns whether it was held.
    pub fn remove_one_time_prekey(&mut self, id: u32) -> bool {
        if let Some(pair) = self.one_time.get_mut(&id) {
            pair.wipe();
        }
        self.one_time.remove(&id).is_some()
    }

    /// The number of unused one-time prekeys (to decide when to replenish).
    pub fn one_time_prekey_count(&self) -> usize {
        self.one_time.len()
    }

    /// Assembles a bundle from the current signed prekey, optionally one one-time prekey, and
    /// the current last-resort KEM prekey if the store has one (a PQXDH bundle, whose signed
    /// prekey it signs with the key type, SPEC.md §4.2: one strict check of the stored signature
    /// and one Ed25519 signature per call). Without a
    /// last-resort KEM prekey — even if one-time KEM prekeys are held — it is a classical X3DH
    /// bundle, which initiators refuse unless they opt in: call
    /// [`PreKeyStore::rotate_kem_prekey`] first, or use [`PreKeyStore::bundle_with_kem_one_time`].
    ///
    /// # Errors
    /// [`Error::NoSignedPreKey`], or [`Error::UnknownOneTimePreKey`]; for a PQXDH bundle
    /// [`Error::InvalidSignature`] if the stored signed prekey's signature does not verify under
    /// `identity` (another identity, or an edited store).
    pub fn bundle(
        &self,
        identity: &IdentityKeyPair,
        one_time_id: Option<u32>,
    ) -> Result<PreKeyBundle, Error> {
        self.assemble(identity, one_time_id, Ok(self.current_kem_prekey()))
    }

    /// A bundle with the KEM prekey `kem`, whose signed prekey is signed as its version requires:
    /// a PQXDH bundle's signature covers the key's type (SPEC.md §4.2), so it is made here, from
    /// the identity, and the store keeps only the X3DH one. The X25519 part's errors come first,
    /// then `kem`'s.
    fn assemble(
        &self,
        identity: &IdentityKeyPair,
        one_time_id: Option<u32>,
        kem: Result<Option<KemPreKey>, Error>,
    ) -> Result<PreKeyBundle, Error> {
        let mut signed_prekey = *self.current_signed_prekey().ok_or(Error::NoSignedPreKey)?;
        let one_time_prekey = match one_time_id {
            None => None,
            Some(id) => {
                let pair = self
                    .one_time
                    .get(&id)
                    .ok_or(Error::UnknownOneTimePreKey(id))?;
                Some(OneTimePreKey {
                    id,
                    key: *pair.public(),
                })
            }
        };
        let kem_prekey = kem?;
        if kem_prekey.is_some() {
            // The identity vouches again only for what it signed before: a store blob's public
            // keys are not re-checked on load (§10.0), so without this check an edited blob could
            // have a planted signed prekey signed here (SPEC.md §4.3).
            signed_prekey.verify(identity.public())?;
            let spk = &signed_prekey;
            signed_prekey.signature = identity.sign(&SignedPreKey::pqxdh_signed_bytes(
                spk.id,
                spk.created_at,
                &spk.key,
            ));
        }
        Ok(PreKeyBundle {
            identity: *identity.public(),
            signed_prekey,
            one_time_prekey,
            kem_prekey,
        })
    }

    /// The next free KEM prekey id (ids wrap after 2^32 keys; one still held is skipped).
    fn take_kem_id(&mut self) -> u32 {
        let mut id = self.next_kem_id;
        while self.kem_one_time.contains_key(&id) || self.kem_last_resort.iter().any(|k| k.id == id)
        {
            id = id.wrapping_add(1);
        }
        self.next_kem_id = id.wrapping_add(1);
        id
    }

    /// Creates a new last-resort KEM prekey (the one bundles carry when no one-time KEM prekey is
    /// left) and forgets all but the [`MAX_KEM_PREKEYS`] newest. Rotate it with the signed
    /// prekey. `now_ms` is signed in whole seconds, as for signed prekeys.
    pub fn rotate_kem_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &IdentityKeyPair,
        now_ms: u64,
    ) -> KemPreKey {
        let id = self.take_kem_id();
        let (held, public) =
            KemPreKeyPair::generate(rng, identity, KemUse::LastResort, id, now_ms / 1000);
        self.kem_last_resort.push_back(held);
        while self.kem_last_resort.len() > MAX_KEM_PREKEYS {
            if let Some(oldest) = self.kem_last_resort.front_mut() {
                oldest.wipe();
            }
            self.kem_last_resort.pop_front();
        }
        public
    }

    /// Generates `count` signed one-time KEM prekeys and returns their public halves for upload.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if the store would then hold more than [`MAX_KEM_ONE_TIME_PREKEYS`];
    /// the store is unchanged.
    pub fn generate_kem_one_time_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &IdentityKeyPair,
        count: usize,
        now_ms: u64,
    ) -> Result<Vec<KemPreKey>, Error> {
        if count > MAX_KEM_ONE_TIME_PREKEYS.saturating_sub(self.kem_one_time.len()) {
            return Err(Error::TooLarge);
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let id = self.take_kem_id();
            let (held, public) =
                KemPreKeyPair::generate(rng, identity, KemUse::OneTime, id, now_ms / 1000);
            self.kem_one_time.insert(id, held);
            out.push(public);
        }
        Ok(out)
    }

    /// The current last-resort KEM prekey, if any (expanded from its seed).
    pub fn current_kem_prekey(&self) -> Option<KemPreKey> {
        self.kem_last_resort.back().map(KemPreKeyPair::public)
    }

    /// The ids of the unused one-time KEM prekeys, in order.
    pub fn kem_one_time_prekey_ids(&self) -> Vec<u32> {
        self.kem_one_time.keys().copied().collect()
    }

    /// The number of unused one-time KEM prekeys (to decide when to replenish).
    pub fn kem_one_time_prekey_count(&self) -> usize {
        self.kem_one_time.len()
    }

    /// Deletes an unused one-time KEM prekey. Returns whether it was held.
    pub fn remove_kem_one_time_prekey(&mut self, id: u32) -> bool {
        if let Some(key) = self.kem_one_time.get_mut(&id) {
            key.wipe();
        }
        self.kem_one_time.remove(&id).is_some()
    }

    /// A bundle with the one-time KEM prekey `kem_id` instead of the last-resort one (what a
    /// server hands out while it has one-time KEM prekeys left).
    ///
    /// # Errors
    /// As [`PreKeyStore::bundle`], and [`Error::UnknownKemPreKey`].
    pub fn bundle_with_kem_one_time(
        &self,
        identity: &IdentityKeyPair,
        one_time_id: Option<u32>,
        kem_id: u32,
    ) -> Result<PreKeyBundle, Error> {
        let kem = self.kem_prekey(KemUse::OneTime, kem_id);
        self.assemble(identity, one_time_id, kem.map(|k| Some(k.public())))
    }

    /// The KEM prekey a first message names.
    pub(crate) fn kem_prekey(&self, usage: KemUse, id: u32) -> Result<&KemPreKeyPair, Error> {
        match usage {
            KemUse::LastResort => self.kem_last_resort.iter().find(|k| k.id == id),
            KemUse::OneTime => self.kem_one_time.get(&id),
        }
        .ok_or(Error::UnknownKemPreKey(id))
    }

    pub(crate) fn signed_prekey(&self, id: u32) -> Result<&SignedPreKeyPair, Error> {
        self.signed
            .iter()
            .find(|k| k.public.id == id)
            .ok_or(Error::UnknownSignedPreKey(id))
    }

    pub(crate) fn one_time_prekey(&self, id: u32) -> Result<&KeyPair, Error> {
        self.one_time
            .get(&id)
            .ok_or(Error::UnknownOneTimePreKey(id))
    }

    /// Called only after a first message without a one-time prekey has authenticated: the
    /// signed prekey remembers it so that it cannot start a second session (SPEC.md §4.3).
    pub(crate) fn remember_first_message(
        &mut self,
        signed_prekey_id: u32,
        first_message_id: [u8; FIRST_MESSAGE_ID_LEN],
    ) {
        if let Some(spk) = self
            .signed
            .iter_mut()
            .find(|k| k.public.id == signed_prekey_id)
        {
            spk.remember_first_message(first_message_id);
        }
    }

    /// How many more first messages without a one-time prekey the current signed prekey can
    /// accept before it must be rotated (0 without a signed prekey). Rotate well before it
    /// reaches 0: at 0 such messages fail with [`Error::SignedPreKeyFull`].
    pub fn first_message_capacity(&self) -> usize {
        self.signed.back().map_or(0, |k| {
            MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY.saturating_sub(k.accepted.len())
        })
    }
}

impl PreKeyStore {
    /// Rebuilds a store from its parts, checking the bounds and uniqueness every mutator keeps
    /// (SPEC.md §10.2); used by the decoders of every state version.
    pub(crate) fn from_parts(
        next_signed_id: u32,
        next_one_time_id: u32,
        signed: VecDeque<SignedPreKeyPair>,
        one_time: BTreeMap<u32, KeyPair>,
    ) -> Result<Self, DecodeError> {
        let distinct = signed.iter().enumerate().all(|(i, k)| {
            signed
                .iter()
                .skip(i + 1)
                .all(|l| l.public.id != k.public.id)
        });
        if signed.len() > MAX_SIGNED_PREKEYS || !distinct || one_time.len() > MAX_ONE_TIME_PREKEYS {
            return Err(DecodeError::NonCanonical);
        }
        Ok(Self {
            signed,
            one_time,
            next_signed_id,
            next_one_time_id,
            ..Self::default()
        })
    }

    /// The signed prekeys, oldest first, for a decoder that migrates an older version.
    pub(crate) fn signed_prekeys_mut(&mut self) -> impl Iterator<Item = &mut SignedPreKeyPair> {
        self.signed.iter_mut()
    }
}

/// `next signed id u32 ‖ next one-time id u32 ‖ u8 count ‖ signed prekeys (oldest first) ‖ u32
/// count ‖ count × { id u32 ‖ key pair (64) }`, one-time ids strictly increasing (SPEC.md §10.2).
impl Codec for PreKeyStore {
    fn encoded_len(&self) -> usize {
        4 + 4
            + 1
            + self.signed.iter().map(Codec::encoded_len).sum::<usize>()
            + 4
            + self.one_time.len() * (4 + 64)
            + if self.has_kem_state() {
                4 + 1
                    + 4
                    + (self.kem_last_resort.len() + self.kem_one_time.len())
                        * KemPreKeyPair::STORED_LEN
            } else {
                0
            }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put_u32(self.next_signed_id);
        out.put_u32(self.next_one_time_id);
        out.put_len_u8(self.signed.len())?;
        for spk in &self.signed {
            spk.encode(out)?;
        }
        out.put_len_u32(self.one_time.len())?;
        for (id, pair) in &self.one_time {
            out.put_u32(*id);
            pair.encode_stored(out);
        }
        if !self.has_kem_state() {
            return Ok(()); // version 3 (SPEC.md §10.2)
        }
        out.put_u32(self.next_kem_id);
        out.put_len_u8(self.kem_last_resort.len())?;
        for k in &self.kem_last_resort {
            k.encode_stored(out);
        }
        out.put_len_u32(self.kem_one_time.len())?;
        for k in self.kem_one_time.values() {
            k.encode_stored(out);
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (next_signed_id, next_one_time_id, signed, one_time) = Self::read_x25519(r)?;
        let next_kem_id = r.u32()?;
        let count = usize::from(r.u8()?);
        if count > MAX_KEM_PREKEYS {
            return Err(DecodeError::NonCanonical);
        }
        let mut kem_last_resort = VecDeque::with_capacity(count);
        for _ in 0..count {
            kem_last_resort.push_back(KemPreKeyPair::decode_stored(r, KemUse::LastResort)?);
        }
        let count = r.u32()? as usize;
        if count > MAX_KEM_ONE_TIME_PREKEYS {
            return Err(DecodeError::NonCanonical);
        }
        let mut kem_one_time = BTreeMap::new();
        let mut last = None;
        for _ in 0..count {
            let k = KemPreKeyPair::decode_stored(r, KemUse::OneTime)?;
            // Strictly increasing ids: the one canonical order, and no duplicates.
            if last.is_some_and(|l| k.id <= l) {
                return Err(DecodeError::NonCanonical);
            }
            last = Some(k.id);
            kem_one_time.insert(k.id, k);
        }
        // Once the whole body is read (SPEC.md §10.2): the signed prekeys' ids as in version 3,
        // then version 4's own checks. Version 4 is written only for a store with KEM state: an
        // empty KEM part would be a second encoding of a version 3 store.
        let store = Self {
            next_kem_id,
            kem_last_resort,
            kem_one_time,
            ..Self::from_parts(next_signed_id, next_one_time_id, signed, one_time)?
        };
        if !store.has_kem_state() {
            return Err(DecodeError::NonCanonical);
        }
        // One id space: no id in both lists, none twice among the last-resort keys.
        let mut seen = BTreeSet::new();
        let ids = store.kem_last_resort.iter().map(|k| k.id);
        if !ids
            .chain(store.kem_one_time.keys().copied())
            .all(|id| seen.insert(id))
        {
            return Err(DecodeError::NonCanonical);
        }
        Ok(store)
    }
}

impl PreKeyStore {
    /// Whether the store has ever held a KEM prekey: it is then written as version 4, otherwise
    /// as version 3, byte for byte what it was before PQXDH existed (SPEC.md §10.2).
    fn has_kem_state(&self) -> bool {
        self.next_kem_id != 0 || !self.kem_last_resort.is_empty() || !self.kem_one_time.is_empty()
    }

    /// The state version that holds this store.
    pub(crate) fn state_version(&self) -> u8 {
        if self.has_kem_state() { 4 } else { 3 }
    }

    /// The X25519 part of the body (all of version 3's, SPEC.md §10.2).
    pub(crate) fn decode_x25519(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (next_signed_id, next_one_time_id, signed, one_time) = Self::read_x25519(r)?;
        Self::from_parts(next_signed_id, next_one_time_id, signed, one_time)
    }

    /// Reads the X25519 part, checking each field as it is read; the signed prekeys' distinct
    /// ids are checked by [`Self::from_parts`] once the whole body is read.
    #[allow(clippy::type_complexity)]
    fn read_x25519(
        r: &mut Reader<'_>,
    ) -> Result<(u32, u32, VecDeque<SignedPreKeyPair>, BTreeMap<u32, KeyPair>), DecodeError> {
        let next_signed_id = r.u32()?;
        let next_one_time_id = r.u32()?;
        let count = usize::from(r.u8()?);
        if count > MAX_SIGNED_PREKEYS {
            return Err(DecodeError::NonCanonical);
        }
        let mut signed = VecDeque::with_capacity(count);
        for _ in 0..count {
            signed.push_back(SignedPreKeyPair::decode(r)?);
        }
        let count = r.u32()? as usize;
        if count > MAX_ONE_TIME_PREKEYS {
            return Err(DecodeError::NonCanonical);
        }
        let mut one_time = BTreeMap::new();
        let mut last = None;
        for _ in 0..count {
            let id = r.u32()?;
            let pair = KeyPair::decode_stored(r)?;
            // Strictly increasing ids: the one canonical order, and no duplicates.
            if last.is_some_and(|l| id <= l) {
                return Err(DecodeError::NonCanonical);
            }
            last = Some(id);
            one_time.insert(id, pair);
        }
        Ok((next_signed_id, next_one_time_id, signed, one_time))
    }
}

impl fmt::Debug for PreKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreKeyStore")
            .field("signed_prekeys", &self.signed.len())
            .field("one_time_prekeys", &self.one_time.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    fn setup() -> (IdentityKeyPair, PreKeyStore, ChaCha20Rng) {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let id = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(&mut rng, &id, 1_000_000);
        store.generate_one_time_prekeys(&mut rng, 2).unwrap();
        (id, store, rng)
    }

    #[test]
    fn bundle_round_trips_with_and_without_one_time_prekey() {
        let (id, store, _) = setup();
        for otpk in [None, Some(1)] {
            let bundle = store.bundle(&id, otpk).unwrap();
            let bytes = bundle.to_bytes();
            assert_eq!(PreKeyBundle::from_bytes(&bytes).unwrap(), bundle);
            bundle.signed_prekey.verify(&bundle.identity).unwrap();
        }
    }

    #[test]
    fn bundle_decoding_is_strict() {
        let (id, store, _) = setup();
        let bytes = store.bundle(&id, Some(0)).unwrap().to_bytes();
        for len in 0..bytes.len() {
            assert!(
                PreKeyBundle::from_bytes(&bytes[..len]).is_err(),
                "prefix {len}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            PreKeyBundle::from_bytes(&long),
            Err(DecodeError::TrailingBytes)
        );
        let mut v = bytes.clone();
        v[0] = 3;
        assert_eq!(
            PreKeyBundle::from_bytes(&v),
            Err(DecodeError::UnknownVersion(3))
        );
        // A classical bundle relabelled as PQXDH lacks its KEM prekey.
        v[0] = 2;
        assert_eq!(PreKeyBundle::from_bytes(&v), Err(DecodeError::Truncated));
        let mut flag = bytes.clone();
        flag[1 + 32 + 4 + 8 + 32 + 64] = 2;
        assert_eq!(
            PreKeyBundle::from_bytes(&flag),
            Err(DecodeError::NonCanonical)
        );
    }

    #[test]
    fn tampered_signed_prekey_fails_verification() {
        let (id, store, _) = setup();
        let mut bundle = store.bundle(&id, None).unwrap();
        bundle.signed_prekey.created_at += 1;
        assert_eq!(
            bundle.signed_prekey.verify(&bundle.identity),
            Err(Error::InvalidSignature)
        );
    }

    #[test]
    fn rotation_keeps_only_the_newest_signed_prekeys() {
        let (id, mut store, mut rng) = setup();
        for t in 0..5 {
            store.rotate_signed_prekey(&mut rng, &id, (2000 + t) * 1000);
        }
        assert_eq!(store.signed.len(), MAX_SIGNED_PREKEYS);
        assert_eq!(store.current_signed_prekey().unwrap().id, 5);
        assert!(store.signed_prekey(0).is_err());
        assert!(store.signed_prekey(3).is_ok());
    }

    #[test]
    fn first_messages_are_remembered_until_full_then_refused() {
        let (_, mut store, _) = setup();
        let spk = store.current_signed_prekey().unwrap().id;
        for i in 0..MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY as u32 {
            let mut id = [0u8; FIRST_MESSAGE_ID_LEN];
            id[..4].copy_from_slice(&i.to_le_bytes());
            let key = store.signed_prekey(spk).unwrap();
            assert_eq!(key.check_first_message(&id), Ok(()));
            store.remember_first_message(spk, id);
            assert_eq!(
                store.signed_prekey(spk).unwrap().check_first_message(&id),
                Err(Error::DuplicateMessage)
            );
        }
        assert_eq!(store.first_message_capacity(), 0);
        let key = store.signed_prekey(spk).unwrap();
        assert_eq!(
            key.check_first_message(&[0xEE; FIRST_MESSAGE_ID_LEN]),
            Err(Error::SignedPreKeyFull(spk))
        );
        // Nothing was evicted: the oldest is still refused as a duplicate.
        assert_eq!(
            key.check_first_message(&[0; FIRST_MESSAGE_ID_LEN]),
            Err(Error::DuplicateMessage)
        );
        assert!(key.accepted().windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn one_time_prekey_count_is_bounded() {
        let (_, mut store, mut rng) = setup();
        let held = store.one_time_prekey_count();
        assert_eq!(
            store.generate_one_time_prekeys(&mut rng, usize::MAX),
            Err(Error::TooLarge)
        );
        assert_eq!(
            store.generate_one_time_prekeys(&mut rng, MAX_ONE_TIME_PREKEYS - held + 1),
            Err(Error::TooLarge)
        );
        assert_eq!(store.one_time_prekey_count(), held);
    }
}
