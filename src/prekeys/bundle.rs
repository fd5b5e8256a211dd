//! The bundle a server hands out (SPEC.md §5.1): the identity, the current signed prekey, at most
//! one one-time prekey and one KEM prekey.

use alloc::vec::Vec;

use super::{KemPreKey, OneTimePreKey, SignedPreKey};
use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, Error};
use crate::keys::{IdentityKey, PublicKey};
use crate::wire::{PROTOCOL_VERSION, PROTOCOL_VERSION_PQXDH};

/// What a server stores per user and hands to someone who wants to start a session:
/// the identity, the current signed prekey, at most one one-time prekey, and one KEM prekey
/// (a one-time one if the server has one left, else the last-resort one).
///
/// Encoding (SPEC.md §5.1): `version ‖ identity (32) ‖ spk id (u32) ‖ spk created_at (u64) ‖
/// spk (32) ‖ signature (64) ‖ flag (u8) ‖ [otpk id (u32) ‖ otpk (32)] ‖ [KEM prekey]`; version
/// `0x02` with a KEM prekey (PQXDH), `0x01` without (X3DH).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The owner's identity key.
    pub identity: IdentityKey,
    /// The owner's current signed prekey.
    pub signed_prekey: SignedPreKey,
    /// One of the owner's one-time prekeys, if the server had one left.
    pub one_time_prekey: Option<OneTimePreKey>,
    /// The KEM prekey a PQXDH initiator encapsulates to; `None` in a classical (X3DH) bundle.
    pub kem_prekey: Option<KemPreKey>,
}

impl PreKeyBundle {
    /// The largest encoding.
    pub const MAX_LEN: usize = 1 + 32 + 4 + 8 + 32 + 64 + 1 + 4 + 32 + KemPreKey::LEN;

    /// Encodes the bundle.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(Self::MAX_LEN);
        b.put_u8(if self.kem_prekey.is_some() {
            PROTOCOL_VERSION_PQXDH
        } else {
            PROTOCOL_VERSION
        });
        b.put(&self.identity.to_bytes());
        let spk = &self.signed_prekey;
        b.put_u32(spk.id);
        b.put_u64(spk.created_at);
        b.put(spk.key.as_bytes());
        b.put(&spk.signature);
        b.put_flag(self.one_time_prekey.is_some());
        if let Some(otpk) = &self.one_time_prekey {
            b.put_u32(otpk.id);
            b.put(otpk.key.as_bytes());
        }
        if let Some(kem) = &self.kem_prekey {
            kem.encode(&mut b);
        }
        b
    }

    /// Checks every signature with `verify_strict`, as [`Session::initiate`](crate::Session::initiate)
    /// does (after its own checks of the configuration and pinning): in a PQXDH bundle the signed
    /// prekey's over
    /// [`SignedPreKey::pqxdh_signed_bytes`], then the KEM prekey's; in an X3DH bundle the signed
    /// prekey's over [`SignedPreKey::signed_bytes`] (SPEC.md §4.2, §4.5).
    ///
    /// # Errors
    /// [`Error::InvalidSignature`].
    pub fn verify(&self) -> Result<(), Error> {
        match &self.kem_prekey {
            None => self.signed_prekey.verify(&self.identity),
            Some(kem) => {
                self.signed_prekey.verify_pqxdh(&self.identity)?;
                kem.verify(&self.identity)
            }
        }
    }

    /// Decodes a bundle. Keys are checked for validity here; the signature is checked by
    /// [`Session::initiate`](crate::Session::initiate).
    ///
    /// ```
    /// # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
    /// use xchat_protocol::{DecodeError, IdentityKeyPair, PreKeyBundle, PreKeyStore};
    /// # let mut rng = ChaCha20Rng::from_seed([6; 32]);
    /// let bob = IdentityKeyPair::generate(&mut rng);
    /// let mut store = PreKeyStore::new();
    /// store.rotate_signed_prekey(&mut rng, &bob, 1000);
    /// let bytes = store.bundle(&bob, None)?.to_bytes();
    /// assert_eq!(PreKeyBundle::from_bytes(&bytes)?.identity, *bob.public());
    /// let mut longer = bytes.clone();
    /// longer.push(0);
    /// assert_eq!(PreKeyBundle::from_bytes(&longer), Err(DecodeError::TrailingBytes));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != PROTOCOL_VERSION && version != PROTOCOL_VERSION_PQXDH {
            return Err(DecodeError::UnknownVersion(version));
        }
        let identity = IdentityKey::from_bytes(r.array()?)?;
        let signed_prekey = SignedPreKey {
            id: r.u32()?,
            created_at: r.u64()?,
            key: PublicKey::from_bytes(r.array()?)?,
            signature: r.array()?,
        };
        let one_time_prekey = if r.flag()? {
            Some(OneTimePreKey {
                id: r.u32()?,
                key: PublicKey::from_bytes(r.array()?)?,
            })
        } else {
            None
        };
        let kem_prekey = if version == PROTOCOL_VERSION_PQXDH {
            Some(KemPreKey::decode(&mut r)?)
        } else {
            None
        };
        r.finish()?;
        Ok(Self {
            identity,
            signed_prekey,
            one_time_prekey,
            kem_prekey,
        })
    }
}
