//! The store of skipped message keys (Double Ratchet spec §3.2 and §6.4; SPEC.md §6.4).
//!
//! Entries are kept in arrival order, so the oldest is always at the front: evicting by count
//! or by age is a pop from the front. Each entry is 80 bytes.
//!
//! Removing from the middle of a `VecDeque` (or `retain`) shifts entries bitwise and leaves a
//! stale copy of a live key in the vacated slot; growing it reallocates and frees the old buffer
//! unwiped. So every removal here first wipes the key in place and moves it out by swaps, and
//! the store grows only through [`SkippedKeys::reserve`], which copies into a new buffer and
//! wipes the old one (SECURITY.md property 12).

use alloc::collections::VecDeque;

use zeroize::Zeroize;

use crate::content::MAX_CLOCK_SKEW_MS;
use crate::kdf::MessageKey;
use crate::keys::PublicKey;

#[derive(Clone)]
pub(crate) struct SkippedKey {
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) counter: u32,
    /// Value of the session's received-message counter when the key was stored.
    pub(crate) stamp: u32,
    pub(crate) key: MessageKey,
    /// When the key was skipped (ms, the receiver's clock), `u64::MAX` if unknown (a raw
    /// `decrypt` has no clock); `purge` derives its deadline from the session's timer at the
    /// time of the purge (SPEC.md §11.6).
    pub(crate) skipped_at_ms: u64,
}

#[derive(Default)]
pub(crate) struct SkippedKeys {
    pub(crate) entries: VecDeque<SkippedKey>,
}

impl SkippedKeys {
    /// Looks up a key by the ratchet key's bytes. Only authenticated headers ever store bytes
    /// here, and a lookup with another encoding of the same point misses and goes on to a path
    /// that fails authentication (SPEC.md §6.5), so byte comparison is sound.
    pub(crate) fn find(&self, ratchet_key: &PublicKey, counter: u32) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.counter == counter && &e.ratchet_key == ratchet_key.as_bytes())
    }

    pub(crate) fn get(&self, index: usize) -> Option<&MessageKey> {
        self.entries.get(index).map(|e| &e.key)
    }

    /// Removes the entry at `index`, leaving no copy of its key behind: it is wiped in place,
    /// then moved by swaps to the nearer end (as `VecDeque::remove` shifts the shorter side, so
    /// consuming keys in arrival order stays O(1)) and dropped from there.
    pub(crate) fn remove(&mut self, index: usize) {
        let Some(entry) = self.entries.get_mut(index) else {
            return;
        };
        entry.key.zeroize();
        let len = self.entries.len();
        if index < len / 2 {
            for i in (0..index).rev() {
                self.entries.swap(i, i + 1);
            }
            self.entries.pop_front();
        } else {
            for i in index..len.saturating_sub(1) {
                self.entries.swap(i, i + 1);
            }
            self.entries.pop_back();
        }
    }

    /// Makes room for `additional` more entries without a reallocation that would leave the old
    /// buffer's keys in freed memory.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let needed = self.entries.len().saturating_add(additional);
        if needed > self.entries.capacity() {
            let mut grown = VecDeque::with_capacity(needed);
            grown.extend(self.entries.iter().cloned());
            // The old buffer's entries are dropped here, and `MessageKey` wipes itself on drop.
            self.entries = grown;
        }
    }

    /// Stores a key, evicting the oldest entries beyond `max`.
    pub(crate) fn push(&mut self, entry: SkippedKey, max: usize) {
        // Make room first, so a full store never grows its allocation.
        self.truncate_front(max.saturating_sub(1));
        self.reserve(1);
        self.entries.push_back(entry);
    }

    /// Drops the oldest entry, wiping its key in place first (`pop_front` reads it out and
    /// leaves the slot's bytes as they were).
    fn pop_front(&mut self) {
        if let Some(front) = self.entries.front_mut() {
            front.key.zeroize();
        }
        self.entries.pop_front();
    }

    /// Drops the oldest entries until at most `max` remain.
    pub(crate) fn truncate_front(&mut self, max: usize) {
        while self.entries.len() > max {
            self.pop_front();
        }
    }

    /// Drops every key stored more than `max_age` received messages ago.
    pub(crate) fn expire(&mut self, now: u32, max_age: u32) {
        while self
            .entries
            .front()
            .is_some_and(|e| now.wrapping_sub(e.stamp) > max_age)
        {
            self.pop_front();
        }
    }

    /// Keeps the entries for which `keep` holds, in order; wipes the others in place and moves
    /// them to the end by swaps before dropping them. Returns how many were dropped.
    fn retain(&mut self, keep: impl Fn(&SkippedKey) -> bool) -> usize {
        let len = self.entries.len();
        let mut kept = 0;
        for i in 0..len {
            let Some(entry) = self.entries.get_mut(i) else {
                break;
            };
            if keep(entry) {
                self.entries.swap(kept, i);
                kept += 1;
            } else {
                entry.key.zeroize();
            }
        }
        self.entries.truncate(kept);
        len - kept
    }

    /// Drops every key skipped more than `lifetime_ms + 2 · MAX_CLOCK_SKEW_MS` before `now_ms`
    /// (none when `lifetime_ms` is 0, the timer being off, nor any skipped at an unknown time);
    /// returns how many (SPEC.md §11.6).
    pub(crate) fn purge(&mut self, now_ms: u64, lifetime_ms: u64) -> usize {
        if lifetime_ms == 0 {
            return 0;
        }
        self.retain(|e| {
            e.skipped_at_ms == u64::MAX
                || now_ms
                    <= e.skipped_at_ms
                        .saturating_add(lifetime_ms)
                        .saturating_add(2 * MAX_CLOCK_SKEW_MS)
        })
    }

    /// Drops every key of the chain with this ratchet key.
    pub(crate) fn forget_chain(&mut self, ratchet_key: &PublicKey) {
        self.retain(|e| &e.ratchet_key != ratchet_key.as_bytes());
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32, key: u8) -> SkippedKey {
        SkippedKey {
            ratchet_key: [key; 32],
            counter: n,
            stamp: n,
            key: MessageKey::from_bytes([n as u8; 32]),
            skipped_at_ms: u64::from(n),
        }
    }

    fn counters(s: &SkippedKeys) -> alloc::vec::Vec<u32> {
        s.entries.iter().map(|e| e.counter).collect()
    }

    #[test]
    fn removal_keeps_arrival_order() {
        let mut s = SkippedKeys::default();
        for n in 0..6 {
            s.push(entry(n, (n % 2) as u8), 100);
        }
        s.remove(2);
        assert_eq!(counters(&s), [0, 1, 3, 4, 5]);
        s.remove(4);
        assert_eq!(counters(&s), [0, 1, 3, 4]);
        s.remove(1); // towards the front
        assert_eq!(counters(&s), [0, 3, 4]);
        s.push(entry(1, 1), 100);
        s.push(entry(5, 1), 100);
        assert_eq!(counters(&s), [0, 3, 4, 1, 5]);
        s.remove(9);
        assert_eq!(counters(&s), [0, 3, 4, 1, 5]);
        s.forget_chain(&PublicKey::from_bytes([1; 32]).unwrap());
        assert_eq!(counters(&s), [0, 4]);
        assert_eq!(s.purge(2 + 2 * MAX_CLOCK_SKEW_MS, 1), 1);
        assert_eq!(
            s.purge(u64::MAX, 0),
            0,
            "a timer that is off purges nothing"
        );
        assert_eq!(counters(&s), [4]);
        assert_eq!(s.get(0).unwrap().as_bytes(), &[4; 32]);
    }

    #[test]
    fn push_evicts_the_oldest_and_grows_exactly() {
        let mut s = SkippedKeys::default();
        for n in 0..10 {
            s.push(entry(n, 0), 4);
            assert!(s.entries.capacity() >= s.len());
        }
        assert_eq!(counters(&s), [6, 7, 8, 9]);
        s.expire(9, 1);
        assert_eq!(counters(&s), [8, 9]);
    }
}
