//! Accounts (SPEC.md §15): the long-term account key that stands for a user across all of its
//! devices, and the safety numbers two users compare to verify each other's account keys.
//!
//! The account key is an Ed25519 key of its own, not any device's identity: adding or replacing
//! a device leaves the account key — and so the safety number — unchanged, while a changed
//! account key changes it.
//!
//! ```
//! # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//! use xchat_protocol::account::{AccountKeyPair, Comparison, SafetyNumber};
//! # let mut rng = ChaCha20Rng::from_seed([4; 32]);
//! let alice = AccountKeyPair::generate(&mut rng);
//! let bob = AccountKeyPair::generate(&mut rng);
//! // Each side computes the number from its own and the other's account key and stable id.
//! let on_alice = SafetyNumber::new((alice.public(), b"alice"), (bob.public(), b"bob"))?;
//! let on_bob = SafetyNumber::new((bob.public(), b"bob"), (alice.public(), b"alice"))?;
//! assert_eq!(on_alice.digits(), on_bob.digits()); // 60 digits, read aloud or shown
//! // Or Bob scans Alice's QR code.
//! assert_eq!(on_bob.compare(&on_alice.qr_payload())?, Comparison::Match);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

mod safety;

use core::fmt;

use rand_core::CryptoRng;

use crate::error::DecodeError;
use crate::keys::{IdentityKey, IdentityKeyPair};

pub use safety::{
    Comparison, FINGERPRINT_ITERATIONS, Fingerprint, KEY_TYPE_ED25519, LABEL_FINGERPRINT,
    MAX_ACCOUNT_ID_LEN, QR_PAYLOAD_LEN, SAFETY_NUMBER_VERSION, SafetyNumber,
};

/// An account's public key (Ed25519, parsed strictly as identity keys are: SPEC.md §2.4).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccountKey(IdentityKey);

impl AccountKey {
    /// Parses an account key strictly.
    ///
    /// # Errors
    /// [`DecodeError::InvalidKey`] for anything but a canonical point of the prime-order
    /// subgroup.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, DecodeError> {
        IdentityKey::from_bytes(bytes).map(Self)
    }

    /// The 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountKey(")?;
        crate::keys::hex(f, self.0.as_bytes())?;
        f.write_str(")")
    }
}

/// An account's key pair (secret): kept on the device that manages the account.
pub struct AccountKeyPair {
    pair: IdentityKeyPair,
    public: AccountKey,
}

impl AccountKeyPair {
    /// A new account key (32 bytes drawn).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::wrap(IdentityKeyPair::generate(rng))
    }

    /// The key pair from its 32-byte Ed25519 seed (secret).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self::wrap(IdentityKeyPair::from_seed(seed))
    }

    fn wrap(pair: IdentityKeyPair) -> Self {
        let public = AccountKey(*pair.public());
        Self { pair, public }
    }

    /// The 32-byte seed, for persistence (secret).
    pub fn seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.pair.seed()
    }

    /// The public account key.
    pub fn public(&self) -> &AccountKey {
        &self.public
    }
}

impl fmt::Debug for AccountKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Why an account operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccountError {
    /// An argument is over its limit (an account id over [`MAX_ACCOUNT_ID_LEN`] bytes).
    TooLarge,
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => f.write_str("argument too large"),
        }
    }
}

impl core::error::Error for AccountError {}
