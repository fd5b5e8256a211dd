//! Signed prekeys and one-time prekeys (SPEC.md §4.2–§4.3); ML-KEM prekeys (`kem`, §4.5), the
//! bundle a server hands out (`bundle`, §5.1) and the responder's store (`store`, §4.3, §10.2).

mod bundle;
mod kem;
mod store;

use alloc::vec::Vec;

use rand_core::CryptoRng;

use crate::codec::{Codec, Reader, Writer};
use crate::error::{DecodeError, Error};
use crate::kdf::{FIRST_MESSAGE_ID_LEN, LABEL_SIGNED_PREKEY};
use crate::keys::{IdentityKey, IdentityKeyPair, KeyPair, PublicKey};

pub use bundle::PreKeyBundle;
pub(crate) use kem::KemPreKeyPair;
pub use kem::{KEM_TYPE_ML_KEM_1024, KemPreKey, KemUse};
pub use store::PreKeyStore;

/// How many signed prekeys a store keeps: the current one and the previous ones, so that prekey
/// messages sent to a just-rotated key still decrypt (SPEC.md §4.3).
pub const MAX_SIGNED_PREKEYS: usize = 3;
/// How many first messages sent *without* a one-time prekey one signed prekey accepts. The store
/// remembers each of them for as long as it holds that signed prekey, so that none can be
/// replayed (X3DH spec §4.2); once the signed prekey has accepted this many, it refuses more with
/// [`Error::SignedPreKeyFull`] until it is rotated out (SPEC.md §4.3).
pub const MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY: usize = 4096;
/// The most one-time prekeys a store holds; [`PreKeyStore::generate_one_time_prekeys`] refuses
/// to go beyond it.
pub const MAX_ONE_TIME_PREKEYS: usize = 1 << 16;
/// How many last-resort KEM prekeys a store keeps: the current one and the previous ones, as for
/// signed prekeys (SPEC.md §4.5).
pub const MAX_KEM_PREKEYS: usize = 3;
/// The most one-time KEM prekeys a store holds. Each costs 140 bytes in the store and 1 645 in
/// the upload; a few hundred cover any server's refill interval.
pub const MAX_KEM_ONE_TIME_PREKEYS: usize = 1 << 12;
/// The key type byte of X25519 inside a PQXDH bundle's signed-prekey signature; ML-KEM-1024's is
/// [`KEM_TYPE_ML_KEM_1024`] (SPEC.md §4.2, §4.5).
pub const KEY_TYPE_X25519: u8 = 0x00;

/// The public half of a signed prekey, as published in a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedPreKey {
    /// Identifier chosen by the owner.
    pub id: u32,
    /// Creation time in whole seconds since the Unix epoch (the caller's `now_ms / 1000`), as
    /// signed and sent (SPEC.md §4.2).
    pub created_at: u64,
    /// The X25519 public key.
    pub key: PublicKey,
    /// Ed25519 signature by the identity key: over [`SignedPreKey::pqxdh_signed_bytes`] in a
    /// PQXDH bundle (version `0x02`), over [`SignedPreKey::signed_bytes`] in an X3DH one and in
    /// what [`PreKeyStore::rotate_signed_prekey`] returns.
    pub signature: [u8; 64],
}

impl SignedPreKey {
    /// The exact bytes the identity key signs:
    /// `LABEL_SIGNED_PREKEY ‖ id (u32 BE) ‖ created_at (u64 BE) ‖ key (32)`.
    pub fn signed_bytes(id: u32, created_at: u64, key: &PublicKey) -> Vec<u8> {
        let mut m = Vec::with_capacity(LABEL_SIGNED_PREKEY.len() + 44);
        m.put(LABEL_SIGNED_PREKEY);
        m.put_u32(id);
        m.put_u64(created_at);
        m.put(key.as_bytes());
        m
    }

    /// The exact bytes the identity key signs for a PQXDH bundle (version `0x02`):
    /// `LABEL_SIGNED_PREKEY ‖ key type (0x00, X25519) ‖ id (u32 BE) ‖ created_at (u64 BE) ‖
    /// key (32)` — the key's type is signed, as a KEM prekey's is (SPEC.md §4.2, §4.5).
    pub fn pqxdh_signed_bytes(id: u32, created_at: u64, key: &PublicKey) -> Vec<u8> {
        let mut m = Vec::with_capacity(LABEL_SIGNED_PREKEY.len() + 45);
        m.put(LABEL_SIGNED_PREKEY);
        m.put_u8(KEY_TYPE_X25519);
        m.put_u32(id);
        m.put_u64(created_at);
        m.put(key.as_bytes());
        m
    }

    /// Checks the signature over [`SignedPreKey::signed_bytes`] (an X3DH bundle) with
    /// `verify_strict`.
    ///
    /// # Errors
    /// [`Error::InvalidSignature`].
    pub fn verify(&self, identity: &IdentityKey) -> Result<(), Error> {
        identity.verify(
            &Self::signed_bytes(self.id, self.created_at, &self.key),
            &self.signature,
        )
    }

    /// Checks the signature over [`SignedPreKey::pqxdh_signed_bytes`] (a PQXDH bundle) with
    /// `verify_strict`.
    ///
    /// # Errors
    /// [`Error::InvalidSignature`].
    pub fn verify_pqxdh(&self, identity: &IdentityKey) -> Result<(), Error> {
        identity.verify(
            &Self::pqxdh_signed_bytes(self.id, self.created_at, &self.key),
            &self.signature,
        )
    }
}

/// A signed prekey with its secret, held by its owner, and the ids of the first messages without
/// a one-time prekey it has accepted (SPEC.md §4.3).
#[derive(Clone, Debug)]
pub struct SignedPreKeyPair {
    public: SignedPreKey,
    pair: KeyPair,
    /// Sorted, distinct, at most [`MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY`].
    accepted: Vec<[u8; FIRST_MESSAGE_ID_LEN]>,
}

impl SignedPreKeyPair {
    /// Generates a signed prekey and signs it with `identity`.
    pub fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        identity: &IdentityKeyPair,
        id: u32,
        created_at: u64,
    ) -> Self {
        let pair = KeyPair::generate(rng);
        let signature = identity.sign(&SignedPreKey::signed_bytes(id, created_at, pair.public()));
        Self {
            public: SignedPreKey {
                id,
                created_at,
                key: *pair.public(),
                signature,
            },
            pair,
            accepted: Vec::new(),
        }
    }

    /// The public half.
    pub fn public(&self) -> &SignedPreKey {
        &self.public
    }

    /// Rebuilds a stored signed prekey; `accepted` must be sorted and distinct (checked by the
    /// state decoder).
    pub(crate) fn from_parts(
        public: SignedPreKey,
        pair: KeyPair,
        accepted: Vec<[u8; FIRST_MESSAGE_ID_LEN]>,
    ) -> Self {
        Self {
            public,
            pair,
            accepted,
        }
    }

    pub(crate) fn key_pair(&self) -> &KeyPair {
        &self.pair
    }

    /// The ids of the first messages without a one-time prekey this key accepted, sorted.
    #[cfg(test)]
    pub(crate) fn accepted(&self) -> &[[u8; FIRST_MESSAGE_ID_LEN]] {
        &self.accepted
    }

    /// Whether a first message with this id may start a session: not seen before, and room left
    /// to remember it.
    pub(crate) fn check_first_message(&self, id: &[u8; FIRST_MESSAGE_ID_LEN]) -> Result<(), Error> {
        if self.accepted.binary_search(id).is_ok() {
            Err(Error::DuplicateMessage)
        } else if self.accepted.len() >= MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY {
            Err(Error::SignedPreKeyFull(self.public.id))
        } else {
            Ok(())
        }
    }

    /// Remembers an accepted first message (after [`Self::check_first_message`] passed).
    pub(crate) fn remember_first_message(&mut self, id: [u8; FIRST_MESSAGE_ID_LEN]) {
        if let Err(at) = self.accepted.binary_search(&id)
            && self.accepted.len() < MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY
        {
            self.accepted.insert(at, id);
        }
    }
}

/// The public half of a one-time prekey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OneTimePreKey {
    /// Identifier chosen by the owner.
    pub id: u32,
    /// The X25519 public key.
    pub key: PublicKey,
}

/// `id u32 ‖ created_at u64 ‖ key pair (64) ‖ signature 64 ‖ u16 count ‖ count × first-message
/// id (16)`, the ids strictly increasing (SPEC.md §10.2). The signature is not re-verified.
impl Codec for SignedPreKeyPair {
    fn encoded_len(&self) -> usize {
        4 + 8 + 64 + 64 + 2 + FIRST_MESSAGE_ID_LEN * self.accepted.len()
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put_u32(self.public.id);
        out.put_u64(self.public.created_at);
        self.pair.encode_stored(out);
        out.put(&self.public.signature);
        out.put_len_u16(self.accepted.len())?;
        for id in &self.accepted {
            out.put(id);
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id = r.u32()?;
        let created_at = r.u64()?;
        let pair = KeyPair::decode_stored(r)?;
        let signature = r.array()?;
        let accepted = decode_first_message_ids(r)?;
        let public = SignedPreKey {
            id,
            created_at,
            key: *pair.public(),
            signature,
        };
        Ok(Self::from_parts(public, pair, accepted))
    }
}

/// `u16 count ‖ count × first-message id (16)`, at most
/// [`MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY`], strictly increasing (SPEC.md §10.2; the same in
/// versions 2 and 3).
pub(crate) fn decode_first_message_ids(
    r: &mut Reader<'_>,
) -> Result<Vec<[u8; FIRST_MESSAGE_ID_LEN]>, DecodeError> {
    let count = usize::from(r.u16()?);
    if count > MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY {
        return Err(DecodeError::NonCanonical);
    }
    let mut ids: Vec<[u8; FIRST_MESSAGE_ID_LEN]> = Vec::with_capacity(count);
    for _ in 0..count {
        let id = r.array()?;
        if ids.last().is_some_and(|last| *last >= id) {
            return Err(DecodeError::NonCanonical);
        }
        ids.push(id);
    }
    Ok(ids)
}
