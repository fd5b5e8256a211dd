//! The group layer (SPEC.md §13) across implementations: the crate's `GroupSession` and the
//! independent `reference::group::MyGroup` are run side by side as one device (`Dev`) on the
//! same inputs and the same RNG draws; every result, every output byte and every state blob
//! (§13.7) must be identical after every call, and every `Err` must leave both unchanged.
//!
//! - `wire`: distributions and group messages byte for byte, cross-decryption, the RNG draws
//!   of §1, distributions over pairwise sessions (§8.2 kind 0x03, §8.5);
//! - `receiving`: out-of-order delivery, skipped keys and every limit of §13.4, the receiver's
//!   distribution rules (§13.2), frames and timers (§13.3, §8.4–§8.6);
//! - `membership`: rotation and membership (§13.5);
//! - `state`: state blobs (§13.7) in both directions, forged edge states, sealed at rest;
//! - `frames`: the content frame (§8.2) against the crate's `Content`, and its decode table;
//! - `decode_wire`, `decode`: decode-error tables for messages and distributions, and for state
//!   blobs.

mod decode;
mod decode_wire;
mod frames;
mod membership;
mod receiving;
mod state;
mod wire;

use crate::reference::group::{Deadline, Dec, MyGroup, Receipt, Timer, decode_dist};
use crate::reference::primitives::K32;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use xchat_protocol::content::{ContentKind, Deadline as CDeadline, Receipt as CReceipt};
use xchat_protocol::group::{
    GroupConfig, GroupId, GroupLimits, GroupSession, Rotation, SenderKeyDistribution,
};
use xchat_protocol::{DecodeError, IdentityKey, IdentityKeyPair, TimerStart};

pub(crate) const NOW: u64 = 1_700_000_000_000;
pub(crate) const GID: K32 = [0x47; 32];

/// A group's limits and rotation policy, for both implementations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cfg {
    pub(crate) limits: [u32; 4],
    pub(crate) rotation: (u32, u64),
}

pub(crate) const DEFAULT: Cfg = Cfg {
    limits: crate::reference::group::DEFAULT_LIMITS,
    rotation: crate::reference::group::DEFAULT_ROTATION,
};

impl Cfg {
    pub(crate) fn theirs(&self) -> GroupConfig {
        let [max_jump, max_skipped_keys, max_sender_keys, max_members] = self.limits;
        GroupConfig {
            limits: GroupLimits {
                max_jump,
                max_skipped_keys,
                max_sender_keys,
                max_members,
            },
            rotation: Rotation {
                max_messages: self.rotation.0,
                max_age_ms: self.rotation.1,
            },
        }
    }
}

/// The identity of device `n` (its Ed25519 public key).
pub(crate) fn ik(n: u8) -> K32 {
    IdentityKeyPair::from_seed(&[n; 32]).public().to_bytes()
}

pub(crate) fn their_ik(k: &K32) -> IdentityKey {
    IdentityKey::from_bytes(*k).unwrap()
}

pub(crate) fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

pub(crate) fn text<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// The crate's `DecodeError` as the reference spells it.
pub(crate) fn dec(e: DecodeError) -> Dec {
    match e {
        DecodeError::Truncated => Dec::Truncated,
        DecodeError::TrailingBytes => Dec::TrailingBytes,
        DecodeError::UnknownVersion(v) => Dec::UnknownVersion(v),
        DecodeError::UnknownType(t) => Dec::UnknownType(t),
        DecodeError::NonCanonical => Dec::NonCanonical,
        DecodeError::InvalidKey => Dec::InvalidKey,
        DecodeError::TooLarge => Dec::TooLarge,
        DecodeError::ChecksumMismatch => Dec::ChecksumMismatch,
        other => panic!("unexpected {other:?}"),
    }
}

pub(crate) fn timer_of(t: xchat_protocol::Timer) -> Timer {
    Timer {
        duration_s: t.duration_s,
        start: u8::from(t.start == TimerStart::OnRead),
        version: t.version,
    }
}

pub(crate) fn start_of(start: u8) -> TimerStart {
    if start == 1 {
        TimerStart::OnRead
    } else {
        TimerStart::OnSend
    }
}

/// The crate's receipt as the reference's.
pub(crate) fn receipt(r: CReceipt) -> Receipt {
    match r {
        CReceipt::Message(m) => Receipt::Message {
            kind: match m.kind {
                ContentKind::Message => 1,
                ContentKind::TimerUpdate => 2,
                ContentKind::SenderKeyDistribution => 3,
                ContentKind::Attachment => 4,
                other => panic!("unexpected {other:?}"),
            },
            body: m.body,
            sent_at: m.sent_at_ms,
            timer: timer_of(m.timer),
            deadline: match m.deadline {
                CDeadline::Never => Deadline::Never,
                CDeadline::At(t) => Deadline::At(t),
                CDeadline::AfterRead(t) => Deadline::AfterRead(t),
            },
            timer_changed: m.timer_changed,
        },
        CReceipt::Expired { timer_changed } => Receipt::Expired { timer_changed },
        CReceipt::Unreadable(e) => Receipt::Unreadable(dec(e)),
    }
}

/// One device implemented twice.
pub(crate) struct Dev {
    pub(crate) mine: MyGroup,
    pub(crate) theirs: GroupSession,
}

type Res<T> = Result<T, String>;

/// Runs `f` on the reference with `rng` and `g` on the crate with a copy: same result, same
/// number of draws.
fn with_rng<T: PartialEq + std::fmt::Debug>(
    rng: &mut impl Rng,
    copy: &mut impl Rng,
    a: T,
    b: T,
) -> T {
    assert_eq!(a, b, "the implementations differ");
    assert_eq!(
        rng.next_u64(),
        copy.next_u64(),
        "different numbers of draws"
    );
    a
}

impl Dev {
    pub(crate) fn new(rng: &mut ChaCha20Rng, local: u8, members: &[u8], cfg: Cfg) -> Self {
        Self::try_new(rng, local, members, NOW, cfg).unwrap()
    }
    pub(crate) fn try_new(
        rng: &mut ChaCha20Rng,
        local: u8,
        members: &[u8],
        now: u64,
        cfg: Cfg,
    ) -> Res<Self> {
        let iks: Vec<K32> = members.iter().map(|&n| ik(n)).collect();
        let theirs_iks: Vec<IdentityKey> = iks.iter().map(their_ik).collect();
        let mut copy = rng.clone();
        let mine = MyGroup::new(rng, ik(local), GID, &iks, now, (cfg.limits, cfg.rotation));
        let theirs = GroupSession::new(
            &mut copy,
            &their_ik(&ik(local)),
            GroupId(GID),
            &theirs_iks,
            now,
            cfg.theirs(),
        );
        let (a, b) = (mine.map_err(text), theirs.map_err(text));
        assert_eq!(
            rng.next_u64(),
            copy.next_u64(),
            "different numbers of draws"
        );
        match (a, b) {
            (Ok(mine), Ok(theirs)) => {
                let d = Dev { mine, theirs };
                d.same();
                Ok(d)
            }
            (Err(a), Err(b)) => {
                assert_eq!(a, b);
                Err(a)
            }
            (a, b) => panic!("differ: {:?} / {:?}", a.map(|_| ()), b.map(|_| ())),
        }
    }
    /// Both blobs of one state.
    pub(crate) fn load(blob: &[u8]) -> Self {
        let d = Dev {
            mine: MyGroup::from_state(blob).unwrap(),
            theirs: GroupSession::from_bytes(blob).unwrap(),
        };
        d.same();
        d
    }
    pub(crate) fn state(&self) -> Vec<u8> {
        self.mine.to_state()
    }
    /// Same state bytes and the same observable values.
    pub(crate) fn same(&self) {
        let (a, b) = (
            self.mine.to_state(),
            self.theirs.to_bytes().unwrap().to_vec(),
        );
        assert_eq!(hex::encode(&a), hex::encode(&b), "state blobs differ");
        assert_eq!(self.mine.timer, timer_of(self.theirs.timer()));
        assert_eq!(
            self.mine.skipped_key_count(),
            self.theirs.skipped_key_count()
        );
        let lack: Vec<K32> = self
            .theirs
            .lacking_sender_key()
            .iter()
            .map(|k| k.to_bytes())
            .collect();
        assert_eq!(self.mine.lacking(), lack);
        let members: Vec<K32> = self.theirs.members().map(|k| k.to_bytes()).collect();
        let mine: Vec<K32> = self.mine.members.iter().map(|m| m.ik).collect();
        assert_eq!(mine, members);
        assert_eq!(self.theirs.group_id().0, self.mine.group_id);
        assert_eq!(self.theirs.local_identity().to_bytes(), self.mine.local);
    }
    /// `r`, and the state unchanged if it is an `Err`.
    fn checked<T>(&self, before: &[u8], r: Res<T>) -> Res<T> {
        self.same();
        if r.is_err() {
            assert_eq!(self.state(), before, "an Err changed the state");
        }
        r
    }
    pub(crate) fn distribution(&mut self, rng: &mut ChaCha20Rng, now: u64) -> (Vec<u8>, Vec<K32>) {
        let mut copy = rng.clone();
        let a = self.mine.distribution(rng, now);
        let d = self.theirs.distribution(&mut copy, now);
        let recipients = d.recipients.iter().map(|k| k.to_bytes()).collect();
        let r = with_rng(
            rng,
            &mut copy,
            a,
            (d.distribution.to_bytes().to_vec(), recipients),
        );
        self.same();
        r
    }
    /// `distribution`, then `mark_distributed` for every recipient.
    pub(crate) fn distribute(&mut self, rng: &mut ChaCha20Rng, now: u64) -> Vec<u8> {
        let (d, to) = self.distribution(rng, now);
        to.iter().for_each(|m| self.mark(m, &d).unwrap());
        d
    }
    pub(crate) fn mark(&mut self, m: &K32, d: &[u8]) -> Res<()> {
        let before = self.state();
        let a = self.mine.mark_distributed(m, d).map_err(text);
        let d = SenderKeyDistribution::from_bytes(d).unwrap();
        let b = self.theirs.mark_distributed(&their_ik(m), &d).map_err(text);
        assert_eq!(a, b);
        self.checked(&before, a)
    }
    pub(crate) fn process(&mut self, sender: &K32, d: &[u8]) -> Res<()> {
        let before = self.state();
        let a = decode_dist(d).map_err(text);
        let b = SenderKeyDistribution::from_bytes(d).map_err(|e| text(dec(e)));
        assert_eq!(a.clone().map(|_| ()), b.clone().map(|_| ()));
        let (a, b) = (a?, b?);
        let a = self.mine.process_distribution(sender, &a).map_err(text);
        let b = self
            .theirs
            .process_distribution(&their_ik(sender), &b)
            .map_err(text);
        assert_eq!(a, b);
        self.checked(&before, a)
    }
    pub(crate) fn encrypt(&mut self, rng: &mut ChaCha20Rng, now: u64, pt: &[u8]) -> Res<Vec<u8>> {
        let (before, mut copy) = (self.state(), rng.clone());
        let a = self.mine.encrypt(rng, now, pt).map_err(text);
        let b = self.theirs.encrypt(&mut copy, now, pt).map_err(text);
        let r = with_rng(rng, &mut copy, a, b);
        self.checked(&before, r)
    }
    pub(crate) fn send(&mut self, rng: &mut ChaCha20Rng, now: u64, body: &[u8]) -> Res<Vec<u8>> {
        let (before, mut copy) = (self.state(), rng.clone());
        let a = self.mine.send(rng, now, body).map_err(text);
        let b = self.theirs.send(&mut copy, now, body).map_err(text);
        let r = with_rng(rng, &mut copy, a, b);
        self.checked(&before, r)
    }
    pub(crate) fn set_timer(
        &mut self,
        rng: &mut ChaCha20Rng,
        now: u64,
        d: u32,
        start: u8,
    ) -> Res<Vec<u8>> {
        let (before, mut copy) = (self.state(), rng.clone());
        let a = self.mine.set_timer(rng, now, d, start).map_err(text);
        let b = self.theirs.set_timer(&mut copy, now, d, start_of(start));
        let r = with_rng(rng, &mut copy, a, b.map_err(text));
        self.checked(&before, r)
    }
    pub(crate) fn decrypt(&mut self, sender: &K32, m: &[u8]) -> Res<Vec<u8>> {
        let before = self.state();
        let a = self.mine.decrypt(sender, m).map_err(text);
        let b = self.theirs.decrypt(&their_ik(sender), m).map_err(text);
        assert_eq!(a, b);
        self.checked(&before, a)
    }
    pub(crate) fn receive(&mut self, sender: &K32, m: &[u8], now: u64) -> Res<Receipt> {
        let before = self.state();
        let a = self.mine.receive(sender, m, now).map_err(text);
        let b = self.theirs.receive(&their_ik(sender), m, now);
        assert_eq!(a, b.map(receipt).map_err(text));
        self.checked(&before, a)
    }
    pub(crate) fn purge(&mut self, now: u64) -> usize {
        let (a, b) = (self.mine.purge(now), self.theirs.purge(now));
        assert_eq!(a, b);
        self.same();
        a
    }
    pub(crate) fn add(&mut self, m: &K32) -> Res<bool> {
        let before = self.state();
        let a = self.mine.add_member(m).map_err(text);
        let b = self.theirs.add_member(&their_ik(m)).map_err(text);
        assert_eq!(a, b);
        self.checked(&before, a)
    }
    pub(crate) fn remove(&mut self, m: &K32) -> bool {
        let a = self.mine.remove_member(m);
        assert_eq!(a, self.theirs.remove_member(&their_ik(m)));
        self.same();
        a
    }
    pub(crate) fn rotation_due(&self, now: u64) -> bool {
        let a = self.mine.rotation_due(now);
        assert_eq!(a, self.theirs.rotation_due(now));
        a
    }
}

/// A group of devices `1..=n` (each a `Dev`) where every device has distributed its key to
/// every other and processed everyone's.
pub(crate) fn full_group(rng: &mut ChaCha20Rng, n: u8, cfg: Cfg) -> Vec<Dev> {
    let ids: Vec<u8> = (1..=n).collect();
    let mut devs: Vec<Dev> = ids.iter().map(|&i| Dev::new(rng, i, &ids, cfg)).collect();
    for s in 0..devs.len() {
        let d = devs[s].distribute(rng, NOW);
        let sender = devs[s].mine.local;
        for (r, dev) in devs.iter_mut().enumerate() {
            if r != s {
                dev.process(&sender, &d).unwrap();
            }
        }
    }
    devs
}
