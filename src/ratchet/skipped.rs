//! The store of skipped message keys (Double Ratchet spec §3.2 and §6.4; SPEC.md §6.4).
//!
//! Entries are kept in arrival order, so the oldest is always at the front: evicting by count
//! or by age is a pop from the front. Each entry is 80 bytes.

use alloc::collections::VecDeque;

use crate::kdf::MessageKey;
use crate::keys::PublicKey;

pub(crate) struct SkippedKey {
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) counter: u32,
    /// Value of the session's received-message counter when the key was stored.
    pub(crate) stamp: u32,
    pub(crate) key: MessageKey,
    /// Time (ms) after which the key may be purged; `u64::MAX` for never (SPEC.md §11.6).
    pub(crate) deadline_ms: u64,
}

#[derive(Default)]
pub(crate) struct SkippedKeys {
    pub(crate) entries: VecDeque<SkippedKey>,
}

impl SkippedKeys {
    pub(crate) fn find(&self, ratchet_key: &PublicKey, counter: u32) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.counter == counter && &e.ratchet_key == ratchet_key.as_bytes())
    }

    pub(crate) fn get(&self, index: usize) -> Option<&MessageKey> {
        self.entries.get(index).map(|e| &e.key)
    }

    pub(crate) fn remove(&mut self, index: usize) {
        self.entries.remove(index);
    }

    /// Stores a key, evicting the oldest entries beyond `max`.
    pub(crate) fn push(&mut self, entry: SkippedKey, max: usize) {
        // Make room first, so a full store never grows its allocation.
        self.truncate_front(max.saturating_sub(1));
        self.entries.push_back(entry);
    }

    /// Drops the oldest entries until at most `max` remain.
    pub(crate) fn truncate_front(&mut self, max: usize) {
        while self.entries.len() > max {
            self.entries.pop_front();
        }
    }

    /// Drops every key stored more than `max_age` received messages ago.
    pub(crate) fn expire(&mut self, now: u32, max_age: u32) {
        while self
            .entries
            .front()
            .is_some_and(|e| now.wrapping_sub(e.stamp) > max_age)
        {
            self.entries.pop_front();
        }
    }

    /// Drops every key whose deadline is before `now_ms`; returns how many.
    pub(crate) fn purge(&mut self, now_ms: u64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| e.deadline_ms >= now_ms);
        before - self.entries.len()
    }

    /// Drops every key of the chain with this ratchet key.
    pub(crate) fn forget_chain(&mut self, ratchet_key: &PublicKey) {
        self.entries
            .retain(|e| &e.ratchet_key != ratchet_key.as_bytes());
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
