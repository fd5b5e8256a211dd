//! A group of devices that hand each other their sender keys directly (as if over their
//! pairwise sessions, which `sessions.rs` exercises for real).

use rand_chacha::ChaCha20Rng;
use xchat_protocol::group::{GroupConfig, GroupId, GroupSession, SenderKeyDistribution};
use xchat_protocol::{GroupError, IdentityKey, IdentityKeyPair, Receipt};

pub(crate) const NOW: u64 = 1_700_000_000_000;
pub(crate) const GROUP: GroupId = GroupId([0x47; 32]);

pub(crate) struct Device {
    pub(crate) id: IdentityKeyPair,
    pub(crate) group: GroupSession,
}

impl Device {
    pub(crate) fn key(&self) -> IdentityKey {
        *self.id.public()
    }
}

pub(crate) struct Group {
    pub(crate) rng: ChaCha20Rng,
    pub(crate) devices: Vec<Device>,
}

impl Group {
    /// `n` devices, each knowing all the others, none holding any sender key yet.
    pub(crate) fn new(seed: u8, n: usize, config: GroupConfig) -> Self {
        let mut rng = crate::common::rng(seed);
        let ids: Vec<IdentityKeyPair> = (0..n)
            .map(|_| IdentityKeyPair::generate(&mut rng))
            .collect();
        let keys: Vec<IdentityKey> = ids.iter().map(|i| *i.public()).collect();
        let devices = ids
            .into_iter()
            .map(|id| {
                let group =
                    GroupSession::new(&mut rng, id.public(), GROUP, &keys, NOW, config).unwrap();
                Device { id, group }
            })
            .collect();
        Self { rng, devices }
    }

    pub(crate) fn key(&self, i: usize) -> IdentityKey {
        self.devices[i].key()
    }

    /// Device `from` prepares its next send at `now` and hands its sender key to every member
    /// that lacks it (through the distribution's bytes); returns who got it.
    pub(crate) fn distribute(&mut self, from: usize, now: u64) -> Vec<IdentityKey> {
        let sender = self.key(from);
        let pending = self.devices[from].group.distribution(&mut self.rng, now);
        let bytes = pending.distribution.to_bytes();
        for member in &pending.recipients {
            let d = SenderKeyDistribution::from_bytes(&bytes).unwrap();
            if let Some(to) = self.devices.iter_mut().find(|d| d.key() == *member) {
                to.group.process_distribution(&sender, &d).unwrap();
            }
            self.devices[from]
                .group
                .mark_distributed(member, &pending.distribution)
                .unwrap();
        }
        pending.recipients
    }

    /// Every device distributes its key.
    pub(crate) fn distribute_all(&mut self, now: u64) {
        for i in 0..self.devices.len() {
            self.distribute(i, now);
        }
    }

    pub(crate) fn send(&mut self, from: usize, now: u64, body: &[u8]) -> Vec<u8> {
        self.devices[from]
            .group
            .send(&mut self.rng, now, body)
            .unwrap()
    }

    /// Device `to` receives `message` from device `from`; the delivered body, or the error.
    pub(crate) fn receive(
        &mut self,
        to: usize,
        from: usize,
        message: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, GroupError> {
        let sender = self.key(from);
        match self.devices[to].group.receive(&sender, message, now)? {
            Receipt::Message(m) => Ok(m.body),
            other => panic!("not a message: {other:?}"),
        }
    }
}
