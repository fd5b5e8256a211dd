//! ML-KEM-1024 (FIPS 203), the post-quantum half of the handshake (SPEC.md §4.5).
//!
//! A decapsulation key is held and stored as its 64-byte seed `d ‖ z` (FIPS 203 §6.1), never in
//! the expanded form: the seed is the shorter encoding, and it cannot describe an inconsistent
//! key, so nothing needs checking when it is read back. An encapsulation key that arrives from the
//! network passes FIPS 203 §7.2's input checks (its length, and every coefficient below `q`)
//! before anything is encapsulated to it.

use alloc::boxed::Box;
use core::fmt;

use ml_kem::kem::{Decapsulate, KeyExport};
use ml_kem::{B32, MlKem1024, Seed};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::DecodeError;

type EncapsulationKey = ml_kem::EncapsulationKey<MlKem1024>;
type DecapsulationKey = ml_kem::DecapsulationKey<MlKem1024>;

/// The length of an ML-KEM-1024 encapsulation key (FIPS 203 §8, `384·k + 32`).
pub const KEM_PUBLIC_KEY_LEN: usize = 1568;
/// The length of an ML-KEM-1024 ciphertext (`32·(d_u·k + d_v)`).
pub const KEM_CIPHERTEXT_LEN: usize = 1568;
/// The length of a decapsulation key's seed `d ‖ z`.
pub const KEM_SEED_LEN: usize = 64;

/// An ML-KEM-1024 encapsulation key that passed FIPS 203 §7.2's checks.
#[derive(Clone)]
pub struct KemPublicKey {
    bytes: Box<[u8; KEM_PUBLIC_KEY_LEN]>,
    key: EncapsulationKey,
}

impl KemPublicKey {
    /// Length of the encoding.
    pub const LEN: usize = KEM_PUBLIC_KEY_LEN;

    /// Parses an encapsulation key, checking it as FIPS 203 §7.2 requires before encapsulation:
    /// exactly 1568 bytes, and every 12-bit coefficient of `t̂` below `q = 3329` (the encoding
    /// re-encodes to itself).
    ///
    /// # Errors
    /// [`DecodeError::InvalidKey`] for any other length or an out-of-range coefficient.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let bytes: &[u8; KEM_PUBLIC_KEY_LEN] =
            bytes.try_into().map_err(|_| DecodeError::InvalidKey)?;
        let key = EncapsulationKey::new(&(*bytes).into()).map_err(|_| DecodeError::InvalidKey)?;
        Ok(Self {
            bytes: Box::new(*bytes),
            key,
        })
    }

    /// The 1568-byte encoding.
    pub fn as_bytes(&self) -> &[u8; KEM_PUBLIC_KEY_LEN] {
        &self.bytes
    }

    /// Encapsulates a fresh shared secret to this key: draws the 32-byte message `m` from `rng`
    /// (one `fill_bytes`), then FIPS 203 §6.2 `ML-KEM.Encaps_internal(ek, m)`.
    pub fn encapsulate<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> (KemCiphertext, Zeroizing<[u8; 32]>) {
        let mut m = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(m.as_mut_slice());
        self.encapsulate_with(&m)
    }

    /// `ML-KEM.Encaps_internal(ek, m)` with a given `m`: deterministic, for test vectors only.
    pub(crate) fn encapsulate_with(&self, m: &[u8; 32]) -> (KemCiphertext, Zeroizing<[u8; 32]>) {
        let (ciphertext, shared) = self.key.encapsulate_deterministic(&B32::from(*m));
        (
            KemCiphertext(Box::new(ciphertext.into())),
            Zeroizing::new(shared.into()),
        )
    }
}

impl PartialEq for KemPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for KemPublicKey {}

impl fmt::Debug for KemPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 1568 bytes would drown a log line; the first 8 identify the key well enough.
        f.write_str("KemPublicKey(")?;
        crate::keys::hex(f, self.bytes.get(..8).unwrap_or_default())?;
        f.write_str("…)")
    }
}

/// An ML-KEM-1024 ciphertext. Any 1568 bytes are one: FIPS 203 §7.3 checks only the length, and
/// a ciphertext that was not made for the key decapsulates to a pseudorandom secret (implicit
/// rejection) rather than failing.
#[derive(Clone, PartialEq, Eq)]
pub struct KemCiphertext(Box<[u8; KEM_CIPHERTEXT_LEN]>);

impl KemCiphertext {
    /// Length of the encoding.
    pub const LEN: usize = KEM_CIPHERTEXT_LEN;

    /// Takes a ciphertext of exactly 1568 bytes.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if shorter, [`DecodeError::TrailingBytes`] if longer.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes.len() {
            n if n < KEM_CIPHERTEXT_LEN => Err(DecodeError::Truncated),
            n if n > KEM_CIPHERTEXT_LEN => Err(DecodeError::TrailingBytes),
            _ => {
                let mut out = Box::new([0u8; KEM_CIPHERTEXT_LEN]);
                out.copy_from_slice(bytes);
                Ok(Self(out))
            }
        }
    }

    /// The 1568-byte encoding.
    pub fn as_bytes(&self) -> &[u8; KEM_CIPHERTEXT_LEN] {
        &self.0
    }

    pub(crate) fn from_array(bytes: &[u8; KEM_CIPHERTEXT_LEN]) -> Self {
        Self(Box::new(*bytes))
    }
}

impl fmt::Debug for KemCiphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KemCiphertext(")?;
        crate::keys::hex(f, self.0.get(..8).unwrap_or_default())?;
        f.write_str("…)")
    }
}

/// An ML-KEM-1024 key pair, kept as its seed.
pub struct KemKeyPair {
    seed: Zeroizing<[u8; KEM_SEED_LEN]>,
    key: DecapsulationKey,
    public: KemPublicKey,
}

impl KemKeyPair {
    /// Generates a key pair: 64 bytes `d ‖ z` drawn in one `fill_bytes`, then FIPS 203 §6.1
    /// `ML-KEM.KeyGen_internal(d, z)`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; KEM_SEED_LEN]);
        rng.fill_bytes(seed.as_mut_slice());
        Self::from_seed(&seed)
    }

    /// Rebuilds the key pair of a seed `d ‖ z` (`ML-KEM.KeyGen_internal(d, z)`). Every 64-byte
    /// string is a valid seed.
    pub fn from_seed(seed: &[u8; KEM_SEED_LEN]) -> Self {
        let key = DecapsulationKey::from_seed(Seed::from(*seed));
        let encoded: [u8; KEM_PUBLIC_KEY_LEN] = key.encapsulation_key().to_bytes().into();
        let public = KemPublicKey {
            bytes: Box::new(encoded),
            key: key.encapsulation_key().clone(),
        };
        Self {
            seed: Zeroizing::new(*seed),
            key,
            public,
        }
    }

    /// The seed `d ‖ z`, the stored form of the key pair (SPEC.md §10.2).
    pub(crate) fn seed(&self) -> &[u8; KEM_SEED_LEN] {
        &self.seed
    }

    /// The encapsulation key.
    pub fn public(&self) -> &KemPublicKey {
        &self.public
    }

    /// FIPS 203 §6.3 `ML-KEM.Decaps_internal`. It never fails: a ciphertext made for another key,
    /// or altered, gives a pseudorandom secret that matches nothing the sender has (implicit
    /// rejection), so the handshake fails later, when the first message does not authenticate.
    pub fn decapsulate(&self, ciphertext: &KemCiphertext) -> Zeroizing<[u8; 32]> {
        self.decapsulate_bytes(&ciphertext.0)
    }

    /// [`Self::decapsulate`] of a ciphertext borrowed from a message, without copying it.
    pub(crate) fn decapsulate_bytes(
        &self,
        ciphertext: &[u8; KEM_CIPHERTEXT_LEN],
    ) -> Zeroizing<[u8; 32]> {
        let shared = self.key.decapsulate(&(*ciphertext).into());
        Zeroizing::new(shared.into())
    }
}

impl fmt::Debug for KemKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl PartialEq for KemKeyPair {
    /// Constant time in the seeds.
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.seed.ct_eq(&*other.seed))
    }
}
