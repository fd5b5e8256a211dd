//! Accounts (SPEC.md §15): the long-term account key that stands for a user across all of its
//! devices, the signed and hash-chained list of those devices (so that no server can add a
//! "ghost" device unnoticed), and the safety numbers two users compare to verify each other's
//! account keys.
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

mod contact;
mod device_list;
mod safety;

use core::fmt;

use rand_core::CryptoRng;

use crate::error::DecodeError;
use crate::keys::{IdentityKey, IdentityKeyPair};

pub use contact::{Contact, Outgoing};
pub use device_list::{
    AccountEvent, DEVICE_LIST_VERSION, DeviceEntry, DeviceList, DeviceListView, LABEL_DEVICE_LIST,
    LABEL_DEVICE_LIST_HASH, LABEL_DEVICE_MEMBERSHIP, MAX_DEVICES,
};
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

    /// Checks an Ed25519 signature by this account key (`verify_strict`).
    fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), crate::Error> {
        self.0.verify(message, signature)
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

    /// Signs with the account key (Ed25519).
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.pair.sign(message)
    }
}

impl fmt::Debug for AccountKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Why an account operation failed. Every failed call changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccountError {
    /// A device list or QR payload could not be parsed.
    Decode(DecodeError),
    /// The account key's signature over a device list does not verify (`verify_strict`).
    InvalidSignature,
    /// A device list breaks its rules: no device or more than [`MAX_DEVICES`], a device id or
    /// identity listed twice, ids out of order, or a device's membership signature that does
    /// not verify for this account (a device the account key listed but that never joined).
    InvalidDeviceList,
    /// A device list signed by another account key than the one we hold for the contact:
    /// report it; only the user's confirmation of the new safety number may accept it
    /// ([`DeviceListView::accept_new_account_key`]).
    WrongAccount,
    /// A device list older than the one we hold: a server rolling the account back.
    Rollback,
    /// Two different lists with one sequence number, or a list that does not name the hash of
    /// the list before it: the server shows a different history to someone.
    Fork,
    /// A list further ahead than the next one, without the lists between.
    Gap,
    /// The device is not on the account's list: encrypt nothing to it.
    UnknownDevice,
    /// An argument is over its limit (an account id over [`MAX_ACCOUNT_ID_LEN`] bytes).
    TooLarge,
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "malformed account data: {e}"),
            Self::InvalidSignature => f.write_str("invalid account key signature"),
            Self::InvalidDeviceList => f.write_str("invalid device list"),
            Self::WrongAccount => f.write_str("device list signed by another account key"),
            Self::Rollback => f.write_str("device list older than the one held"),
            Self::Fork => f.write_str("device list forks the account's history"),
            Self::Gap => f.write_str("device lists missing between ours and this one"),
            Self::UnknownDevice => f.write_str("device not on the account's list"),
            Self::TooLarge => f.write_str("argument too large"),
        }
    }
}

impl core::error::Error for AccountError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for AccountError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}
