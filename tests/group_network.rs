//! Property test: a group of up to five devices over a network that drops, reorders, duplicates
//! and damages group messages, while members are removed and added mid-stream (SPEC.md §13).
//!
//! Sender keys travel over a reliable channel (the pairwise sessions, tested on their own); group
//! messages over the hostile one. The oracle is exact and judges by BYTES: a delivered packet
//! whose bytes equal a message some device sent IS that message; any other bytes are damaged.
//! - an authentic message reaches device `d` readably iff `d` was a member when it was sent (the
//!   model's membership, not the library's) and `d` has not removed the sender since (a removed
//!   device hears of no later removal); then it decrypts exactly once, to what was sent, and a later copy
//!   is `DuplicateMessage`;
//! - otherwise — a device removed before the message was sent, a device added after, a removed
//!   sender — it is refused;
//! - every damaged packet is refused;
//! - every refusal leaves the receiver's `to_bytes()` identical.
//!
//! Cases come from a fixed seed (`common::proptest_config`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use xchat_protocol::group::{GroupConfig, GroupId, GroupLimits, SenderKeyDistribution};
use xchat_protocol::{GroupError, GroupSession, IdentityKey, IdentityKeyPair, Receipt};

const NOW: u64 = 1_700_000_000_000;
/// Devices 0..4 start in the group; device 4 may be added later.
const DEVICES: usize = 5;

#[derive(Clone, Debug)]
enum Op {
    Send { from: usize, len: usize },
    Deliver { packet: usize, to: usize },
    Duplicate(usize),
    Drop(usize),
    Damage { packet: usize, at: usize, xor: u8 },
    Remove(usize),
    AddNewcomer,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..DEVICES, 0usize..40).prop_map(|(from, len)| Op::Send { from, len }),
        6 => (any::<usize>(), 0..DEVICES).prop_map(|(packet, to)| Op::Deliver { packet, to }),
        1 => any::<usize>().prop_map(Op::Duplicate),
        1 => any::<usize>().prop_map(Op::Drop),
        2 => (any::<usize>(), any::<usize>(), 1u8..=255)
            .prop_map(|(packet, at, xor)| Op::Damage { packet, at, xor }),
        1 => (0..4usize).prop_map(Op::Remove),
        1 => Just(Op::AddNewcomer),
    ]
}

/// A message as a device sent it, and who held its key then.
struct Sent {
    id: usize,
    from: usize,
    plaintext: Vec<u8>,
    readers: HashSet<usize>,
}

struct World {
    rng: ChaCha20Rng,
    keys: Vec<IdentityKey>,
    /// `None` until created (the newcomer) — a removed device keeps its state, as an attacker.
    groups: Vec<Option<GroupSession>>,
    /// Who is in the group now (every current member agrees).
    members: HashSet<usize>,
    removed: HashSet<usize>,
    /// Per device, the devices it removed (a removed device stops hearing of later removals).
    removed_by: Vec<HashSet<usize>>,
    sent: HashMap<Vec<u8>, Sent>,
    read: HashSet<(usize, usize)>,
    network: Vec<Vec<u8>>,
}

impl World {
    fn new(seed: u8) -> Self {
        let mut rng = common::rng(seed);
        let ids: Vec<IdentityKeyPair> = (0..DEVICES)
            .map(|_| IdentityKeyPair::generate(&mut rng))
            .collect();
        let keys: Vec<IdentityKey> = ids.iter().map(|i| *i.public()).collect();
        let mut w = Self {
            rng,
            keys,
            groups: (0..DEVICES).map(|_| None).collect(),
            members: (0..4).collect(),
            removed: HashSet::new(),
            removed_by: vec![HashSet::new(); DEVICES],
            sent: HashMap::new(),
            read: HashSet::new(),
            network: Vec::new(),
        };
        for d in 0..4 {
            w.create(d);
        }
        w
    }

    fn config() -> GroupConfig {
        GroupConfig {
            // At most 2 removals per case, so at most 3 keys per sender: none is evicted here.
            limits: GroupLimits {
                max_sender_keys: 4,
                ..GroupLimits::DEFAULT
            },
            ..GroupConfig::default()
        }
    }

    fn create(&mut self, d: usize) {
        let members: Vec<IdentityKey> = self.members.iter().map(|&m| self.keys[m]).collect();
        let g = GroupSession::new(
            &mut self.rng,
            &self.keys[d],
            GroupId([1; 32]),
            &members,
            NOW,
            Self::config(),
        )
        .unwrap();
        self.groups[d] = Some(g);
    }

    /// Device `from` distributes its key to every member lacking it (over the reliable channel).
    fn distribute(&mut self, from: usize) {
        let group = self.groups[from].as_mut().unwrap();
        let pending = group.distribution(&mut self.rng, NOW);
        let bytes = pending.distribution.to_bytes();
        for member in &pending.recipients {
            let to = self.keys.iter().position(|k| k == member).unwrap();
            let d = SenderKeyDistribution::from_bytes(&bytes).unwrap();
            self.groups[to]
                .as_mut()
                .unwrap()
                .process_distribution(&self.keys[from], &d)
                .unwrap();
            self.groups[from]
                .as_mut()
                .unwrap()
                .mark_distributed(member, &pending.distribution)
                .unwrap();
        }
    }

    fn send(&mut self, from: usize, len: usize) {
        if !self.members.contains(&from) {
            return;
        }
        self.distribute(from);
        let id = self.sent.len();
        let plaintext = vec![id as u8; len];
        let group = self.groups[from].as_mut().unwrap();
        let bytes = group.send(&mut self.rng, NOW, &plaintext).unwrap();
        // Who may read it is decided by the model, not by the library: the other current members.
        let readers = self
            .members
            .iter()
            .copied()
            .filter(|&d| d != from)
            .collect();
        assert!(
            !self.sent.contains_key(&bytes),
            "two sends gave the same bytes"
        );
        self.sent.insert(
            bytes.clone(),
            Sent {
                id,
                from,
                plaintext,
                readers,
            },
        );
        self.network.push(bytes);
    }

    fn remove(&mut self, r: usize) {
        if !self.members.contains(&r) || self.removed.len() >= 2 {
            return;
        }
        self.members.remove(&r);
        self.removed.insert(r);
        for &m in &self.members {
            assert!(
                self.groups[m]
                    .as_mut()
                    .unwrap()
                    .remove_member(&self.keys[r])
            );
            self.removed_by[m].insert(r);
        }
    }

    fn add_newcomer(&mut self) {
        let n = DEVICES - 1;
        if self.groups[n].is_some() {
            return;
        }
        for &m in &self.members {
            assert!(
                self.groups[m]
                    .as_mut()
                    .unwrap()
                    .add_member(&self.keys[n])
                    .unwrap()
            );
        }
        self.members.insert(n);
        self.create(n);
    }

    /// Delivers `bytes` to device `to` and checks the oracle.
    fn deliver(&mut self, bytes: &[u8], to: usize) -> Result<(), TestCaseError> {
        let Some(group) = self.groups[to].as_mut() else {
            return Ok(());
        };
        let before = group.to_bytes().unwrap();
        let authentic = self.sent.get(bytes);
        let sender = authentic.map_or(to.wrapping_add(1) % DEVICES, |s| s.from);
        let got = group.receive(&self.keys[sender], bytes, NOW);
        let accepted = got.is_ok();
        match authentic {
            Some(s) => {
                let readable = s.readers.contains(&to) && !self.removed_by[to].contains(&s.from);
                let first = !self.read.contains(&(to, s.id));
                match (readable, first, got) {
                    (true, true, Ok(Receipt::Message(m))) => {
                        prop_assert_eq!(&m.body, &s.plaintext);
                        self.read.insert((to, s.id));
                    }
                    (true, false, Err(GroupError::DuplicateMessage)) => {}
                    (false, _, Err(_)) => {}
                    (readable, first, got) => prop_assert!(
                        false,
                        "message {} from {} to {}: readable {}, first {}, got {:?}",
                        s.id,
                        s.from,
                        to,
                        readable,
                        first,
                        got
                    ),
                }
            }
            None => prop_assert!(got.is_err(), "damaged bytes accepted"),
        }
        if !accepted {
            let after = self.groups[to].as_ref().unwrap().to_bytes().unwrap();
            prop_assert_eq!(after, before, "a refusal changed device {}", to);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(common::proptest_config(256))]

    #[test]
    fn a_group_survives_a_hostile_network_and_membership_changes(
        seed in any::<u8>(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let mut w = World::new(seed);
        for op in ops {
            let n = w.network.len();
            match op {
                Op::Send { from, len } => w.send(from, len),
                Op::Deliver { packet, to } if n > 0 => {
                    let bytes = w.network[packet % n].clone();
                    w.deliver(&bytes, to)?;
                }
                Op::Duplicate(i) if n > 0 => {
                    let copy = w.network[i % n].clone();
                    w.network.push(copy);
                }
                Op::Drop(i) if n > 0 => {
                    w.network.remove(i % n);
                }
                Op::Damage { packet, at, xor } if n > 0 => {
                    let mut copy = w.network[packet % n].clone();
                    let len = copy.len();
                    copy[at % len] ^= xor;
                    w.network.push(copy);
                }
                Op::Remove(r) => w.remove(r),
                Op::AddNewcomer => w.add_newcomer(),
                _ => {}
            }
        }
        // Everything authentic still in flight is read by every device that may read it.
        for bytes in w.network.clone() {
            for to in 0..DEVICES {
                w.deliver(&bytes, to)?;
            }
        }
        for s in w.sent.values() {
            for &d in &s.readers {
                if !w.removed_by[d].contains(&s.from) && w.network.iter().any(|b| w.sent.get(b).is_some_and(|x| x.id == s.id)) {
                    prop_assert!(w.read.contains(&(d, s.id)), "message {} never read by {}", s.id, d);
                }
            }
        }
    }
}
