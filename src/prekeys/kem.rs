//! ML-KEM prekeys (SPEC.md §4.5): the post-quantum half of a bundle. A responder publishes
//! last-resort KEM prekeys (rotated like signed prekeys) and one-time KEM prekeys (used once);
//! every one is signed by the identity key, with its use, so that a server can neither forge one
//! nor pass a last-resort key off as one-time.

use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, Error};
use crate::kdf::LABEL_KEM_PREKEY;
use crate::kem::{KEM_PUBLIC_KEY_LEN, KEM_SEED_LEN, KemKeyPair, KemPublicKey};
use crate::keys::{IdentityKey, IdentityKeyPair};

/// The KEM type byte of ML-KEM-1024 inside a KEM prekey's signed bytes (SPEC.md §4.5).
pub const KEM_TYPE_ML_KEM_1024: u8 = 0x01;

/// What a KEM prekey is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KemUse {
    /// Used when the server has no one-time KEM prekey left; kept until rotated out.
    LastResort,
    /// Used by one first message, then deleted.
    OneTime,
}

impl KemUse {
    /// The use byte: `0x00` last-resort, `0x01` one-time.
    pub const fn byte(self) -> u8 {
        match self {
            Self::LastResort => 0x00,
            Self::OneTime => 0x01,
        }
    }

    /// Reads a use byte.
    ///
    /// # Errors
    /// [`DecodeError::NonCanonical`] for any other value.
    pub const fn from_byte(byte: u8) -> Result<Self, DecodeError> {
        match byte {
            0x00 => Ok(Self::LastResort),
            0x01 => Ok(Self::OneTime),
            _ => Err(DecodeError::NonCanonical),
        }
    }
}

/// The public half of a KEM prekey, as published in a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KemPreKey {
    /// Last-resort or one-time (signed).
    pub usage: KemUse,
    /// Identifier chosen by the owner, unique among its KEM prekeys.
    pub id: u32,
    /// Creation time in whole seconds since the Unix epoch (signed, not checked).
    pub created_at: u64,
    /// The ML-KEM-1024 encapsulation key.
    pub key: KemPublicKey,
    /// Ed25519 signature by the identity key over [`KemPreKey::signed_bytes`].
    pub signature: [u8; 64],
}

impl KemPreKey {
    /// The length of its encoding in a bundle: `use ‖ id ‖ created_at ‖ key ‖ signature`.
    pub const LEN: usize = 1 + 4 + 8 + KEM_PUBLIC_KEY_LEN + 64;

    /// The exact bytes the identity key signs: `LABEL_KEM_PREKEY ‖ KEM type (0x01) ‖ use ‖ id
    /// (u32 BE) ‖ created_at (u64 BE) ‖ key (1568)`.
    pub fn signed_bytes(usage: KemUse, id: u32, created_at: u64, key: &KemPublicKey) -> Vec<u8> {
        let mut m = Vec::with_capacity(LABEL_KEM_PREKEY.len() + 2 + 12 + KEM_PUBLIC_KEY_LEN);
        m.put(LABEL_KEM_PREKEY);
        m.put_u8(KEM_TYPE_ML_KEM_1024);
        m.put_u8(usage.byte());
        m.put_u32(id);
        m.put_u64(created_at);
        m.put(key.as_bytes());
        m
    }

    /// Checks the signature with `verify_strict`.
    ///
    /// # Errors
    /// [`Error::InvalidSignature`].
    pub fn verify(&self, identity: &IdentityKey) -> Result<(), Error> {
        identity.verify(
            &Self::signed_bytes(self.usage, self.id, self.created_at, &self.key),
            &self.signature,
        )
    }

    /// Its encoding in a bundle (SPEC.md §5.1): `use ‖ id ‖ created_at ‖ key ‖ signature`,
    /// [`KemPreKey::LEN`] bytes — what a device uploads for a server to assemble bundles from.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN);
        self.encode(&mut out);
        out
    }

    /// Reads [`KemPreKey::to_bytes`]'s encoding, strictly (the signature is checked by whoever
    /// uses the key: [`Session::initiate`](crate::Session::initiate)).
    ///
    /// # Errors
    /// [`DecodeError::Truncated`], [`DecodeError::TrailingBytes`], [`DecodeError::NonCanonical`]
    /// (use byte), [`DecodeError::InvalidKey`] (FIPS 203 §7.2).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let key = Self::decode(&mut r)?;
        r.finish()?;
        Ok(key)
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(self.usage.byte());
        out.put_u32(self.id);
        out.put_u64(self.created_at);
        out.put(self.key.as_bytes());
        out.put(&self.signature);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            usage: KemUse::from_byte(r.u8()?)?,
            id: r.u32()?,
            created_at: r.u64()?,
            key: KemPublicKey::from_bytes(r.take(KEM_PUBLIC_KEY_LEN)?)?,
            signature: r.array()?,
        })
    }
}

/// A KEM prekey held by its owner: its seed and its signature. The key is expanded only when it
/// is used (a bundle, a first message), so restoring a store costs no lattice arithmetic.
#[derive(Clone)]
pub(crate) struct KemPreKeyPair {
    pub(crate) usage: KemUse,
    pub(crate) id: u32,
    created_at: u64,
    seed: Zeroizing<[u8; KEM_SEED_LEN]>,
    signature: [u8; 64],
}

impl KemPreKeyPair {
    /// Generates a KEM prekey (64 bytes drawn) and signs it with `identity`.
    pub(crate) fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        identity: &IdentityKeyPair,
        usage: KemUse,
        id: u32,
        created_at: u64,
    ) -> (Self, KemPreKey) {
        let pair = KemKeyPair::generate(rng);
        let signature = identity.sign(&KemPreKey::signed_bytes(
            usage,
            id,
            created_at,
            pair.public(),
        ));
        let held = Self {
            usage,
            id,
            created_at,
            seed: Zeroizing::new(*pair.seed()),
            signature,
        };
        let public = KemPreKey {
            usage,
            id,
            created_at,
            key: pair.public().clone(),
            signature,
        };
        (held, public)
    }

    /// Wipes the seed in place, before a container moves the key out to drop it (a move leaves
    /// the old bytes behind; SECURITY.md property 12). The key is unusable afterwards.
    pub(crate) fn wipe(&mut self) {
        zeroize::Zeroize::zeroize(&mut *self.seed);
    }

    /// The key pair, expanded from the seed (one ML-KEM key generation).
    pub(crate) fn key_pair(&self) -> KemKeyPair {
        KemKeyPair::from_seed(&self.seed)
    }

    /// The public half, expanded from the seed.
    pub(crate) fn public(&self) -> KemPreKey {
        KemPreKey {
            usage: self.usage,
            id: self.id,
            created_at: self.created_at,
            key: self.key_pair().public().clone(),
            signature: self.signature,
        }
    }

    /// The length of [`Self::encode_stored`].
    pub(crate) const STORED_LEN: usize = 4 + 8 + KEM_SEED_LEN + 64;

    /// Writes `id u32 ‖ created_at u64 ‖ seed 64 ‖ signature 64`; the use is the list's
    /// (SPEC.md §10.2).
    pub(crate) fn encode_stored(&self, out: &mut Vec<u8>) {
        out.put_u32(self.id);
        out.put_u64(self.created_at);
        out.put(self.seed.as_slice());
        out.put(&self.signature);
    }

    /// Reads what [`Self::encode_stored`] wrote, for a list of the given use. Every 64-byte
    /// string is a seed; the signature is not re-verified (SPEC.md §10.0).
    pub(crate) fn decode_stored(r: &mut Reader<'_>, usage: KemUse) -> Result<Self, DecodeError> {
        Ok(Self {
            usage,
            id: r.u32()?,
            created_at: r.u64()?,
            seed: Zeroizing::new(r.array()?),
            signature: r.array()?,
        })
    }
}

impl fmt::Debug for KemPreKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemPreKeyPair")
            .field("usage", &self.usage)
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}
