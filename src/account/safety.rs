//! Safety numbers (SPEC.md §15.4): what two users compare — read aloud as digits, or scanned as
//! a QR code — to know that each holds the other's account key, and so every device that key
//! signed.

use alloc::string::String;
use core::fmt;

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use super::{AccountError, AccountKey};
use crate::error::DecodeError;

/// Version of the fingerprint and safety-number construction (SPEC.md §15.4). A future
/// post-quantum account key gets another.
pub const SAFETY_NUMBER_VERSION: u8 = 0x01;
/// Key type byte of an Ed25519 account key inside the fingerprint's input.
pub const KEY_TYPE_ED25519: u8 = 0x01;
/// SHA-512 iterations of a fingerprint: each costs an attacker searching for a colliding key as
/// much as it costs us.
pub const FINGERPRINT_ITERATIONS: u32 = 5200;
/// Longest stable account id a fingerprint binds, in bytes.
pub const MAX_ACCOUNT_ID_LEN: usize = 255;
/// Length of the QR payload: version, then two 32-byte fingerprints.
pub const QR_PAYLOAD_LEN: usize = 1 + 32 + 32;
/// Prefix of the first hash of a fingerprint.
pub const LABEL_FINGERPRINT: &[u8] = b"xchat-protocol v1 account fingerprint";

/// One account's fingerprint: 32 bytes from its key and stable id, shown as 30 digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `account` under the stable `account_id` (the application's
    /// never-changing name for the account, not a phone number that can move): SPEC.md §15.4.
    ///
    /// # Errors
    /// [`AccountError::TooLarge`] for an id over [`MAX_ACCOUNT_ID_LEN`] bytes.
    pub fn of(account: &AccountKey, account_id: &[u8]) -> Result<Self, AccountError> {
        let id_len = u8::try_from(account_id.len()).map_err(|_| AccountError::TooLarge)?;
        let key = account.as_bytes();
        let mut hash = Sha512::new()
            .chain_update(LABEL_FINGERPRINT)
            .chain_update([SAFETY_NUMBER_VERSION, KEY_TYPE_ED25519, id_len])
            .chain_update(account_id)
            .chain_update(key)
            .finalize();
        for _ in 1..FINGERPRINT_ITERATIONS {
            hash = Sha512::new()
                .chain_update(hash)
                .chain_update(key)
                .finalize();
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(hash.get(..32).unwrap_or(&[0; 32]));
        Ok(Self(out))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The fingerprint as 30 decimal digits: the first 30 bytes in six groups of five, each
    /// read as a 40-bit big-endian number modulo 100 000 and written as five digits.
    pub fn digits(&self) -> String {
        let mut out = String::with_capacity(30);
        for group in self.0.chunks_exact(5).take(6) {
            let n = group.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)) % 100_000;
            push_digits(&mut out, n);
        }
        out
    }
}

fn push_digits(out: &mut String, n: u64) {
    let mut d = [b'0'; 5];
    let mut n = n;
    for slot in d.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend(d.iter().map(|b| char::from(*b)));
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.digits())
    }
}

/// The safety number of a conversation between two accounts: the same 60 digits on both sides.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SafetyNumber {
    local: Fingerprint,
    remote: Fingerprint,
}

/// What scanning the other user's QR code showed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use]
pub enum Comparison {
    /// Both hold the same two account keys: the conversation is verified.
    Match,
    /// The keys differ: one side does not hold the other's account key (a substituted key, or a
    /// key that changed). Do not mark the contact verified.
    Mismatch,
    /// The other side uses another version of safety numbers: update, then compare again.
    OtherVersion(u8),
}

impl SafetyNumber {
    /// The safety number between our account and theirs, each with its stable id.
    ///
    /// # Errors
    /// [`AccountError::TooLarge`] for an id over [`MAX_ACCOUNT_ID_LEN`] bytes.
    pub fn new(
        local: (&AccountKey, &[u8]),
        remote: (&AccountKey, &[u8]),
    ) -> Result<Self, AccountError> {
        Ok(Self {
            local: Fingerprint::of(local.0, local.1)?,
            remote: Fingerprint::of(remote.0, remote.1)?,
        })
    }

    /// Our account's fingerprint.
    pub fn local(&self) -> &Fingerprint {
        &self.local
    }

    /// Their account's fingerprint.
    pub fn remote(&self) -> &Fingerprint {
        &self.remote
    }

    /// The 60 digits both users see: the two fingerprints' digits, the smaller first, so that
    /// both sides show the same string.
    pub fn digits(&self) -> String {
        let (a, b) = (self.local.digits(), self.remote.digits());
        if a <= b { a + &b } else { b + &a }
    }

    /// What our QR code shows: `version ‖ our fingerprint ‖ theirs` (SPEC.md §15.4).
    pub fn qr_payload(&self) -> [u8; QR_PAYLOAD_LEN] {
        payload(&self.local, &self.remote)
    }

    /// Compares the other user's scanned QR payload with ours: it must name their fingerprint
    /// first and ours second. The comparison is in constant time.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] / [`DecodeError::TrailingBytes`] for another length (a
    /// payload without its version byte is `Truncated`).
    pub fn compare(&self, scanned: &[u8]) -> Result<Comparison, DecodeError> {
        let version = *scanned.first().ok_or(DecodeError::Truncated)?;
        if version != SAFETY_NUMBER_VERSION {
            return Ok(Comparison::OtherVersion(version));
        }
        match scanned.len() {
            n if n < QR_PAYLOAD_LEN => return Err(DecodeError::Truncated),
            n if n > QR_PAYLOAD_LEN => return Err(DecodeError::TrailingBytes),
            _ => {}
        }
        let expected = payload(&self.remote, &self.local);
        Ok(if bool::from(expected.ct_eq(scanned)) {
            Comparison::Match
        } else {
            Comparison::Mismatch
        })
    }
}

/// `version ‖ first ‖ second`.
fn payload(first: &Fingerprint, second: &Fingerprint) -> [u8; QR_PAYLOAD_LEN] {
    let mut out = [0u8; QR_PAYLOAD_LEN];
    let (version, rest) = out.split_at_mut(1);
    let (a, b) = rest.split_at_mut(32);
    version.copy_from_slice(&[SAFETY_NUMBER_VERSION]);
    a.copy_from_slice(&first.0);
    b.copy_from_slice(&second.0);
    out
}
