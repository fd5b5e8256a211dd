//! An account with devices, as its manager keeps it.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::IdentityKeyPair;
use xchat_protocol::account::{AccountKeyPair, DeviceEntry, DeviceList};

pub(crate) fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

pub(crate) const T0: u64 = 1_700_000_000_000;

/// An account key, its devices' identities, and the lists it has published.
pub(crate) struct Account {
    pub(crate) key: AccountKeyPair,
    pub(crate) devices: Vec<(u32, IdentityKeyPair)>,
    pub(crate) lists: Vec<DeviceList>,
}

impl Account {
    /// An account whose first list has `n` devices (ids 1..=n).
    pub(crate) fn new(r: &mut ChaCha20Rng, n: u32) -> Self {
        let key = AccountKeyPair::generate(r);
        let devices: Vec<_> = (1..=n).map(|i| (i, IdentityKeyPair::generate(r))).collect();
        let entries = devices
            .iter()
            .map(|(id, d)| DeviceEntry::sign(d, key.public(), *id, T0))
            .collect();
        let first = DeviceList::first(&key, entries, T0).unwrap();
        Self {
            key,
            devices,
            lists: vec![first],
        }
    }

    fn entries(&self) -> Vec<DeviceEntry> {
        self.devices
            .iter()
            .map(|(id, d)| DeviceEntry::sign(d, self.key.public(), *id, T0))
            .collect()
    }

    /// Publishes the next list with the current devices.
    pub(crate) fn publish(&mut self) -> DeviceList {
        let next = self
            .lists
            .last()
            .unwrap()
            .next(&self.key, self.entries(), T0 + self.lists.len() as u64)
            .unwrap();
        self.lists.push(next.clone());
        next
    }

    /// Adds a device and publishes.
    pub(crate) fn add(&mut self, r: &mut ChaCha20Rng, id: u32) -> DeviceList {
        self.devices.push((id, IdentityKeyPair::generate(r)));
        self.publish()
    }

    /// Removes a device and publishes.
    pub(crate) fn remove(&mut self, id: u32) -> DeviceList {
        self.devices.retain(|(i, _)| *i != id);
        self.publish()
    }
}
