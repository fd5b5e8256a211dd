//! Builds device-list bytes by hand (SPEC.md §15.1), signed with the real account key, so that a
//! test can break exactly one rule while every other signature holds.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::IdentityKeyPair;
use xchat_protocol::account::{
    AccountKeyPair, DEVICE_LIST_VERSION, DeviceEntry, DeviceList, LABEL_DEVICE_LIST,
    LABEL_DEVICE_MEMBERSHIP,
};

pub(crate) const T0: u64 = 1_700_000_000_000;

pub(crate) fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// One raw entry: `device id ‖ identity ‖ added_at ‖ membership`.
#[derive(Clone, Copy)]
pub(crate) struct Raw {
    pub(crate) id: u32,
    pub(crate) identity: [u8; 32],
    pub(crate) added_at: u64,
    pub(crate) membership: [u8; 64],
}

/// The membership bytes a device signs.
pub(crate) fn membership_msg(
    account: &[u8; 32],
    id: u32,
    identity: &[u8; 32],
    added: u64,
) -> Vec<u8> {
    let mut m = LABEL_DEVICE_MEMBERSHIP.to_vec();
    m.extend_from_slice(account);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(identity);
    m.extend_from_slice(&added.to_be_bytes());
    m
}

/// An honest raw entry: `device` signs its membership of `account` under `id` at `added`.
pub(crate) fn entry(device: &IdentityKeyPair, account: &[u8; 32], id: u32, added: u64) -> Raw {
    let identity = *device.public().as_bytes();
    Raw {
        id,
        identity,
        added_at: added,
        membership: device.sign(&membership_msg(account, id, &identity, added)),
    }
}

/// The list body (everything before the account signature), entries in the given order.
pub(crate) fn body(
    account: &[u8; 32],
    seq: u64,
    prev: &[u8; 32],
    issued: u64,
    entries: &[Raw],
) -> Vec<u8> {
    let mut b = vec![DEVICE_LIST_VERSION];
    b.extend_from_slice(account);
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(prev);
    b.extend_from_slice(&issued.to_be_bytes());
    b.extend_from_slice(&u16::try_from(entries.len()).unwrap().to_be_bytes());
    for e in entries {
        b.extend_from_slice(&e.id.to_be_bytes());
        b.extend_from_slice(&e.identity);
        b.extend_from_slice(&e.added_at.to_be_bytes());
        b.extend_from_slice(&e.membership);
    }
    b
}

/// `body ‖ signature`, the signature by the account key over `LABEL_DEVICE_LIST ‖ body`.
pub(crate) fn sign_list(account: &AccountKeyPair, body: Vec<u8>) -> Vec<u8> {
    let signer = IdentityKeyPair::from_seed(&account.seed());
    let mut msg = LABEL_DEVICE_LIST.to_vec();
    msg.extend_from_slice(&body);
    let sig = signer.sign(&msg);
    let mut out = body;
    out.extend_from_slice(&sig);
    out
}

/// A whole hand-made, account-signed list.
pub(crate) fn list_bytes(
    account: &AccountKeyPair,
    seq: u64,
    prev: &[u8; 32],
    entries: &[Raw],
) -> Vec<u8> {
    sign_list(
        account,
        body(account.public().as_bytes(), seq, prev, T0, entries),
    )
}

/// An account with `n` devices (ids 1..=n) and its first list.
pub(crate) struct Acct {
    pub(crate) key: AccountKeyPair,
    pub(crate) devices: Vec<(u32, IdentityKeyPair)>,
}

impl Acct {
    pub(crate) fn new(r: &mut ChaCha20Rng, n: u32) -> Self {
        Self {
            key: AccountKeyPair::generate(r),
            devices: (1..=n).map(|i| (i, IdentityKeyPair::generate(r))).collect(),
        }
    }

    pub(crate) fn entries(&self) -> Vec<DeviceEntry> {
        self.devices
            .iter()
            .map(|(id, d)| DeviceEntry::sign(d, self.key.public(), *id, T0))
            .collect()
    }

    pub(crate) fn raw(&self) -> Vec<Raw> {
        self.devices
            .iter()
            .map(|(id, d)| entry(d, self.key.public().as_bytes(), *id, T0))
            .collect()
    }

    pub(crate) fn first(&self) -> DeviceList {
        DeviceList::first(&self.key, self.entries(), T0).unwrap()
    }

    pub(crate) fn next(&self, after: &DeviceList, at: u64) -> DeviceList {
        after.next(&self.key, self.entries(), at).unwrap()
    }
}

/// `s + ℓ` in the signature's second half (little-endian): the classic Ed25519 malleation.
pub(crate) fn malleate(sig: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let s = &mut sig[32..64];
    let mut carry = 0u16;
    for (b, l) in s.iter_mut().zip(L) {
        let v = u16::from(*b) + u16::from(l) + carry;
        *b = (v & 0xff) as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
}
