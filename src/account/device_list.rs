//! Signed device lists (SPEC.md §15.1–§15.2): the account key signs which devices are the
//! account's, each device's identity signs that it belongs to the account, and each list names
//! the hash of the one before it, so that a server can neither add a device, nor roll a list
//! back, nor show two people two different histories without the senders noticing.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use sha2::{Digest, Sha256};

use super::{AccountError, AccountKey, AccountKeyPair};
use crate::codec::{Reader, Writer};
use crate::error::DecodeError;
use crate::keys::{IdentityKey, IdentityKeyPair};

/// Version byte of a device list.
pub const DEVICE_LIST_VERSION: u8 = 0x01;
/// The most devices one list holds.
pub const MAX_DEVICES: usize = 64;
/// Prefix of what a device's identity signs to join an account.
pub const LABEL_DEVICE_MEMBERSHIP: &[u8] = b"xchat-protocol v1 device membership";
/// Prefix of what the account key signs: the whole list before its signature.
pub const LABEL_DEVICE_LIST: &[u8] = b"xchat-protocol v1 device list";
/// Prefix of a list's hash, which the next list names.
pub const LABEL_DEVICE_LIST_HASH: &[u8] = b"xchat-protocol v1 device list hash";

/// One device of an account, cross-signed: its identity signed its membership of the account.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeviceEntry {
    device_id: u32,
    identity: IdentityKey,
    added_at_ms: u64,
    membership: [u8; 64],
}

impl DeviceEntry {
    /// Length of an entry's encoding: `device id u32 ‖ identity 32 ‖ added_at u64 ‖ signature 64`.
    pub const LEN: usize = 4 + 32 + 8 + 64;

    /// The device's side of joining `account` (SPEC.md §15.1): its identity signs
    /// `LABEL_DEVICE_MEMBERSHIP ‖ account key ‖ device id ‖ identity ‖ added_at`. Run on the
    /// device; the account's manager puts the entry in the next list.
    pub fn sign(
        device: &IdentityKeyPair,
        account: &AccountKey,
        device_id: u32,
        added_at_ms: u64,
    ) -> Self {
        let identity = *device.public();
        let membership = device.sign(&membership_bytes(
            account,
            device_id,
            &identity,
            added_at_ms,
        ));
        Self {
            device_id,
            identity,
            added_at_ms,
            membership,
        }
    }

    /// The device's id within its account.
    pub fn device_id(&self) -> u32 {
        self.device_id
    }

    /// The device's identity key: what its sessions and sealed-sender certificates name.
    pub fn identity(&self) -> &IdentityKey {
        &self.identity
    }

    /// When the device was added (ms since the Unix epoch), as its membership signature says.
    pub fn added_at_ms(&self) -> u64 {
        self.added_at_ms
    }

    fn verify(&self, account: &AccountKey) -> Result<(), AccountError> {
        let signed = membership_bytes(account, self.device_id, &self.identity, self.added_at_ms);
        self.identity
            .verify(&signed, &self.membership)
            .map_err(|_| AccountError::InvalidSignature)
    }
}

fn membership_bytes(
    account: &AccountKey,
    device_id: u32,
    identity: &IdentityKey,
    added_at_ms: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(LABEL_DEVICE_MEMBERSHIP.len() + 76);
    out.put(LABEL_DEVICE_MEMBERSHIP);
    out.put(account.as_bytes());
    out.put_u32(device_id);
    out.put(identity.as_bytes());
    out.put_u64(added_at_ms);
    out
}

/// One version of an account's device list, verified: the account key's signature over it and
/// every device's membership signature hold (SPEC.md §15.1). A value of this type is always
/// verified — [`DeviceList::from_bytes`] checks every signature.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceList {
    account: AccountKey,
    sequence: u64,
    previous: [u8; 32],
    issued_at_ms: u64,
    devices: Vec<DeviceEntry>,
    signature: [u8; 64],
}

impl DeviceList {
    /// The account's first list (sequence 1): `devices`, signed by the account key.
    ///
    /// # Errors
    /// As [`DeviceList::next`].
    pub fn first(
        account: &AccountKeyPair,
        devices: Vec<DeviceEntry>,
        issued_at_ms: u64,
    ) -> Result<Self, AccountError> {
        Self::signed(account, 1, [0; 32], devices, issued_at_ms)
    }

    /// The list after this one: sequence + 1, naming this list's hash, with `devices` (those
    /// kept, those added; a device left out is removed).
    ///
    /// # Errors
    /// [`AccountError::WrongAccount`] if `account` is not this list's account key;
    /// [`AccountError::InvalidDeviceList`] for no device, more than [`MAX_DEVICES`], a device id
    /// or identity listed twice, or a membership signed for another account.
    pub fn next(
        &self,
        account: &AccountKeyPair,
        devices: Vec<DeviceEntry>,
        issued_at_ms: u64,
    ) -> Result<Self, AccountError> {
        if account.public() != &self.account {
            return Err(AccountError::WrongAccount);
        }
        let sequence = self
            .sequence
            .checked_add(1)
            .ok_or(AccountError::InvalidDeviceList)?;
        Self::signed(account, sequence, self.hash(), devices, issued_at_ms)
    }

    fn signed(
        account: &AccountKeyPair,
        sequence: u64,
        previous: [u8; 32],
        mut devices: Vec<DeviceEntry>,
        issued_at_ms: u64,
    ) -> Result<Self, AccountError> {
        devices.sort_by_key(DeviceEntry::device_id);
        let mut list = Self {
            account: *account.public(),
            sequence,
            previous,
            issued_at_ms,
            devices,
            signature: [0; 64],
        };
        list.check_devices()?;
        list.signature = account.sign(&list.signed_bytes());
        Ok(list)
    }

    /// Every device listed once, ids strictly increasing, identities distinct, memberships for
    /// this account.
    fn check_devices(&self) -> Result<(), AccountError> {
        if self.devices.is_empty() || self.devices.len() > MAX_DEVICES {
            return Err(AccountError::InvalidDeviceList);
        }
        let increasing = self
            .devices
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.device_id < b.device_id));
        let mut identities: Vec<&[u8; 32]> =
            self.devices.iter().map(|d| d.identity.as_bytes()).collect();
        identities.sort_unstable();
        identities.dedup();
        if !increasing || identities.len() != self.devices.len() {
            return Err(AccountError::InvalidDeviceList);
        }
        for d in &self.devices {
            d.verify(&self.account)
                .map_err(|_| AccountError::InvalidDeviceList)?;
        }
        Ok(())
    }

    /// The bytes the account key signs: `LABEL_DEVICE_LIST ‖` the encoding before the signature.
    fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LABEL_DEVICE_LIST.len() + self.body_len());
        out.put(LABEL_DEVICE_LIST);
        self.encode_body(&mut out);
        out
    }

    /// The length of [`to_bytes`](Self::to_bytes).
    pub(crate) fn encoded_len(&self) -> usize {
        self.body_len() + 64
    }

    fn body_len(&self) -> usize {
        1 + 32 + 8 + 32 + 8 + 2 + self.devices.len() * DeviceEntry::LEN
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        out.put_u8(DEVICE_LIST_VERSION);
        out.put(self.account.as_bytes());
        out.put_u64(self.sequence);
        out.put(&self.previous);
        out.put_u64(self.issued_at_ms);
        // At most MAX_DEVICES entries (checked when made and when decoded).
        out.put_u16(u16::try_from(self.devices.len()).unwrap_or(u16::MAX));
        for d in &self.devices {
            out.put_u32(d.device_id);
            out.put(d.identity.as_bytes());
            out.put_u64(d.added_at_ms);
            out.put(&d.membership);
        }
    }

    /// The encoding (SPEC.md §15.1): `version ‖ account key ‖ sequence u64 ‖ previous hash ‖
    /// issued_at u64 ‖ u16 n ‖ n × entry ‖ signature (64)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body_len() + 64);
        self.encode_body(&mut out);
        out.put(&self.signature);
        out
    }

    /// Decodes a list strictly and verifies every signature (SPEC.md §15.1).
    ///
    /// # Errors
    /// [`AccountError::Decode`] for a malformed encoding (an unknown version, a count of 0 or
    /// over [`MAX_DEVICES`] as `TooLarge`/`NonCanonical`, a previous hash that is zero exactly
    /// when the sequence is not 1, an identity that does not parse); then
    /// [`AccountError::InvalidDeviceList`] for ids not strictly increasing, an identity listed
    /// twice or a membership signature that fails; then [`AccountError::InvalidSignature`] if
    /// the account key's signature fails (`verify_strict`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AccountError> {
        let mut r = Reader::new(bytes);
        r.version(DEVICE_LIST_VERSION)?;
        let account = AccountKey::from_bytes(r.array()?)?;
        let sequence = r.u64()?;
        if sequence == 0 {
            return Err(DecodeError::NonCanonical.into());
        }
        let previous: [u8; 32] = r.array()?;
        if (sequence == 1) != (previous == [0; 32]) {
            return Err(DecodeError::NonCanonical.into());
        }
        let issued_at_ms = r.u64()?;
        let n = usize::from(r.u16()?);
        if n == 0 {
            return Err(DecodeError::NonCanonical.into());
        }
        if n > MAX_DEVICES {
            return Err(DecodeError::TooLarge.into());
        }
        let mut devices = Vec::with_capacity(n);
        for _ in 0..n {
            devices.push(DeviceEntry {
                device_id: r.u32()?,
                identity: IdentityKey::from_bytes(r.array()?)?,
                added_at_ms: r.u64()?,
                membership: r.array()?,
            });
        }
        let signature = r.array()?;
        r.finish()?;
        let list = Self {
            account,
            sequence,
            previous,
            issued_at_ms,
            devices,
            signature,
        };
        list.check_devices()?;
        account
            .verify(&list.signed_bytes(), &list.signature)
            .map_err(|_| AccountError::InvalidSignature)?;
        Ok(list)
    }

    /// The account key that signed it.
    pub fn account(&self) -> &AccountKey {
        &self.account
    }

    /// Its place in the account's history (1 for the first list).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The hash of the list before it (zero for the first).
    pub fn previous_hash(&self) -> &[u8; 32] {
        &self.previous
    }

    /// When the account's manager issued it (ms since the Unix epoch).
    pub fn issued_at_ms(&self) -> u64 {
        self.issued_at_ms
    }

    /// Its devices, in increasing order of their ids.
    pub fn devices(&self) -> &[DeviceEntry] {
        &self.devices
    }

    /// The device with this identity, if the list has it.
    pub fn device(&self, identity: &IdentityKey) -> Option<&DeviceEntry> {
        self.devices.iter().find(|d| d.identity == *identity)
    }

    /// `SHA-256(LABEL_DEVICE_LIST_HASH ‖ encoding)`: what the next list names.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update(LABEL_DEVICE_LIST_HASH)
            .chain_update(self.to_bytes())
            .finalize()
            .into()
    }
}

impl fmt::Debug for DeviceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceList")
            .field("account", &self.account)
            .field("sequence", &self.sequence)
            .field("devices", &self.devices.len())
            .finish_non_exhaustive()
    }
}

/// What changed in a contact's account, for the application to show ("Bob added a device").
// Events are few and short-lived; keys stay typed (an account key change carries two).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum AccountEvent {
    /// A device joined the account.
    DeviceAdded {
        /// Its id.
        device_id: u32,
        /// Its identity key.
        identity: IdentityKey,
    },
    /// A device left the account (or its identity was replaced): nothing is sent to it any
    /// more.
    DeviceRemoved {
        /// Its id.
        device_id: u32,
        /// Its identity key.
        identity: IdentityKey,
    },
    /// The account has a new account key, accepted by the application
    /// ([`DeviceListView::accept_new_account_key`]): the safety number changed.
    AccountKeyChanged {
        /// The key before.
        old: AccountKey,
        /// The key now.
        new: AccountKey,
    },
}

/// What we know of a contact's account: the newest device list we accepted, which only ever
/// moves forward along the account's hash chain (SPEC.md §15.2). Every failed call changes
/// nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceListView {
    current: DeviceList,
}

impl DeviceListView {
    /// The first list seen for a contact (trust on first use, until the safety number is
    /// compared).
    pub fn new(first: DeviceList) -> Self {
        Self { current: first }
    }

    /// The list we hold.
    pub fn current(&self) -> &DeviceList {
        &self.current
    }

    /// The contact's account key.
    pub fn account(&self) -> &AccountKey {
        &self.current.account
    }

    /// Moves forward along `lists`, the account's lists after ours in order (the server sends
    /// every list since the one we hold). A list we already hold is skipped.
    ///
    /// # Errors
    /// Checked list by list, and nothing changes unless every list passes:
    /// [`AccountError::WrongAccount`] for a list signed by another account key (report it;
    /// accept a new key only with [`accept_new_account_key`](Self::accept_new_account_key));
    /// [`AccountError::Rollback`] for a list older than ours; [`AccountError::Fork`] for
    /// another list with our sequence, or one that does not name the hash of the list before
    /// it; [`AccountError::Gap`] if a list in between is missing.
    pub fn update(&mut self, lists: &[DeviceList]) -> Result<Vec<AccountEvent>, AccountError> {
        let mut current = &self.current;
        for list in lists {
            if list.account != current.account {
                return Err(AccountError::WrongAccount);
            }
            match list.sequence.cmp(&current.sequence) {
                core::cmp::Ordering::Less => return Err(AccountError::Rollback),
                core::cmp::Ordering::Equal if list == current => continue,
                core::cmp::Ordering::Equal => return Err(AccountError::Fork),
                core::cmp::Ordering::Greater if list.sequence != current.sequence + 1 => {
                    return Err(AccountError::Gap);
                }
                core::cmp::Ordering::Greater if list.previous != current.hash() => {
                    return Err(AccountError::Fork);
                }
                core::cmp::Ordering::Greater => current = list,
            }
        }
        let events = changes(&self.current, current);
        self.current = current.clone();
        Ok(events)
    }

    /// Accepts a list under a new account key — only after the user confirmed it (the safety
    /// number changed: show it). Returns the key change and the device changes. A list under
    /// the key we already hold is no key change: it goes through [`update`](Self::update)'s
    /// checks, so this cannot roll the view back.
    ///
    /// # Errors
    /// For a list under our key, as [`update`](Self::update); nothing changes.
    pub fn accept_new_account_key(
        &mut self,
        list: DeviceList,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        if list.account == self.current.account {
            return self.update(core::slice::from_ref(&list));
        }
        let mut events = vec![AccountEvent::AccountKeyChanged {
            old: self.current.account,
            new: list.account,
        }];
        events.extend(changes(&self.current, &list));
        self.current = list;
        Ok(events)
    }

    /// The device we may encrypt to: `identity` must be on the list we hold.
    ///
    /// # Errors
    /// [`AccountError::UnknownDevice`]: send it nothing (a device the account did not sign —
    /// a server's "ghost" — or one it removed).
    pub fn check_device(&self, identity: &IdentityKey) -> Result<&DeviceEntry, AccountError> {
        self.current
            .device(identity)
            .ok_or(AccountError::UnknownDevice)
    }
}

impl DeviceListView {
    /// The sealed-sender check that a sender's certificate names a device of this account
    /// (SPEC.md §15.2): the certified identity must be on the list, under the certified device
    /// id. Call it with the certificate [`Delivered::sender`](crate::Delivered) shows.
    ///
    /// # Errors
    /// [`AccountError::UnknownDevice`].
    pub fn check_sender(
        &self,
        certificate: &crate::SenderCertificate,
    ) -> Result<&DeviceEntry, AccountError> {
        let device = self.check_device(&certificate.identity)?;
        if device.device_id == certificate.device_id {
            Ok(device)
        } else {
            Err(AccountError::UnknownDevice)
        }
    }
}

/// The devices removed from `old` and added in `new` (a device whose identity changed is both).
fn changes(old: &DeviceList, new: &DeviceList) -> Vec<AccountEvent> {
    let mut events = Vec::new();
    for d in &old.devices {
        if new
            .device(&d.identity)
            .is_none_or(|n| n.device_id != d.device_id)
        {
            events.push(AccountEvent::DeviceRemoved {
                device_id: d.device_id,
                identity: d.identity,
            });
        }
    }
    for d in &new.devices {
        if old
            .device(&d.identity)
            .is_none_or(|o| o.device_id != d.device_id)
        {
            events.push(AccountEvent::DeviceAdded {
                device_id: d.device_id,
                identity: d.identity,
            });
        }
    }
    events
}
