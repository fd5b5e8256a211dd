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

use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec::Vec;

use zeroize::{Zeroize, Zeroizing};

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, Error};
use crate::kdf::{GroupMessageKey, MessageKey};
use crate::keys::PublicKey;

/// A single-use key the store can hold: a ratchet message key, or a group one (SPEC.md §13.4).
/// Each wipes itself on drop and is stored as its 32 bytes.
pub(crate) trait StoredKey: Clone + Zeroize {
    fn key_bytes(&self) -> &[u8; 32];
}

impl StoredKey for MessageKey {
    fn key_bytes(&self) -> &[u8; 32] {
        self.as_bytes()
    }
}

impl StoredKey for GroupMessageKey {
    fn key_bytes(&self) -> &[u8; 32] {
        self.as_bytes()
    }
}

/// Bytes of one stored entry (SPEC.md §10.3).
const ENTRY_LEN: usize = 32 + 4 + 4 + 8 + 32;

/// `chain` names the chain the key belongs to: the ratchet key of a receiving chain, or the
/// signing key of a group sender key.
#[derive(Clone)]
struct SkippedKey<K> {
    chain: [u8; 32],
    counter: u32,
    /// Value of the session's received-message counter when the key was stored.
    stamp: u32,
    key: K,
    /// When the key was skipped (ms, the receiver's clock), `u64::MAX` if unknown (a raw
    /// `decrypt` has no clock); `purge` derives its deadline from the session's timer at the
    /// time of the purge (SPEC.md §8.6).
    skipped_at_ms: u64,
}

#[derive(Clone)]
pub(crate) struct SkippedKeys<K = MessageKey> {
    entries: VecDeque<SkippedKey<K>>,
}

impl<K> Default for SkippedKeys<K> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
        }
    }
}

impl<K: StoredKey> SkippedKeys<K> {
    /// Looks up a key by its chain's bytes (a ratchet key's). Only authenticated headers ever
    /// store bytes here, and a lookup with another encoding of the same point misses and goes
    /// on to a path that fails authentication (SPEC.md §6.5), so byte comparison is sound.
    pub(crate) fn find(&self, chain: &[u8; 32], counter: u32) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.counter == counter && &e.chain == chain)
    }

    pub(crate) fn get(&self, index: usize) -> Option<&K> {
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
            // The old buffer's entries are dropped here, and every key type wipes itself on drop.
            self.entries = grown;
        }
    }

    /// Stores a key, evicting the oldest entries beyond `max`.
    pub(crate) fn push(
        &mut self,
        chain: [u8; 32],
        counter: u32,
        stamp: u32,
        key: K,
        skipped_at_ms: u64,
        max: usize,
    ) {
        // Make room first, so a full store never grows its allocation.
        self.truncate_front(max.saturating_sub(1));
        self.push_stored(chain, counter, stamp, key, skipped_at_ms);
    }

    /// Appends a key as read from a state blob, unchecked (the decoder checks the whole store
    /// with [`SkippedKeys::check`]).
    pub(crate) fn push_stored(
        &mut self,
        chain: [u8; 32],
        counter: u32,
        stamp: u32,
        key: K,
        skipped_at_ms: u64,
    ) {
        self.reserve(1);
        self.entries.push_back(SkippedKey {
            chain,
            counter,
            stamp,
            key,
            skipped_at_ms,
        });
    }

    /// Checks a decoded store: every key is one `known(ratchet key, counter)` accepts, none is
    /// stored twice, entries are in arrival order (ages never increase along the list) and none
    /// is older than `max_age` (expired keys are always removed). SPEC.md §10.3.
    pub(crate) fn check(
        &self,
        received: u32,
        max_age: u32,
        known: impl Fn(&[u8; 32], u32) -> bool,
    ) -> Result<(), DecodeError> {
        let mut seen = BTreeSet::new();
        let mut previous_age = u32::MAX;
        for e in &self.entries {
            let age = received.wrapping_sub(e.stamp);
            if !known(&e.chain, e.counter)
                || !seen.insert((e.chain, e.counter))
                || age > previous_age
                || age > max_age
            {
                return Err(DecodeError::NonCanonical);
            }
            previous_age = age;
        }
        Ok(())
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
    fn retain(&mut self, keep: impl Fn(&SkippedKey<K>) -> bool) -> usize {
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

    /// Deletes every key skipped more than `keep_ms` before `now_ms` (keys skipped at an unknown
    /// time stay). Returns how many were deleted (SPEC.md §8.6).
    pub(crate) fn purge(&mut self, now_ms: u64, keep_ms: u64) -> usize {
        self.retain(|e| {
            e.skipped_at_ms == u64::MAX || now_ms <= e.skipped_at_ms.saturating_add(keep_ms)
        })
    }

    pub(crate) fn forget_chain(&mut self, chain: &[u8; 32]) {
        self.retain(|e| &e.chain != chain);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// `count (u32) ‖ count × { ratchet key 32 ‖ N u32 ‖ stamp u32 ‖ skipped at u64 ‖ key 32 }`,
/// oldest first (SPEC.md §10.3). Decoding reads the entries; [`SkippedKeys::check`] validates
/// them against the ratchet they belong to.
impl<K: StoredKey> SkippedKeys<K> {
    pub(crate) fn encoded_len(&self) -> usize {
        4 + ENTRY_LEN * self.entries.len()
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put_len_u32(self.entries.len())?;
        for e in &self.entries {
            out.put(&e.chain);
            out.put_u32(e.counter);
            out.put_u32(e.stamp);
            out.put_u64(e.skipped_at_ms);
            out.put(e.key.key_bytes());
        }
        Ok(())
    }
}

impl SkippedKeys {
    /// A count above `max` is refused as soon as it is read; each chain is a ratchet key (§2.3).
    pub(crate) fn decode(r: &mut Reader<'_>, max: u32) -> Result<Self, DecodeError> {
        Self::decode_entries(
            r,
            max,
            |bytes| Ok(PublicKey::from_bytes(bytes)?.to_bytes()),
            MessageKey::from_bytes,
        )
    }
}

impl<K: StoredKey> SkippedKeys<K> {
    /// As [`SkippedKeys::decode`] for a store whose chains are checked by the caller (a group
    /// sender key's, SPEC.md §13.7).
    pub(crate) fn decode_with(
        r: &mut Reader<'_>,
        max: u32,
        key: impl Fn([u8; 32]) -> K,
    ) -> Result<Self, DecodeError> {
        Self::decode_entries(r, max, Ok, key)
    }

    fn decode_entries(
        r: &mut Reader<'_>,
        max: u32,
        chain: impl Fn([u8; 32]) -> Result<[u8; 32], DecodeError>,
        key: impl Fn([u8; 32]) -> K,
    ) -> Result<Self, DecodeError> {
        let count = r.u32()?;
        if count > max {
            return Err(DecodeError::NonCanonical);
        }
        let count = count as usize;
        let mut store = Self::default();
        // At its final size before the first entry (a grown buffer would be freed unwiped), and
        // no larger than the input can hold, so a forged count allocates nothing extra.
        store.reserve(count.min(r.remaining() / ENTRY_LEN));
        for _ in 0..count {
            let chain = chain(r.array()?)?;
            let counter = r.u32()?;
            let stamp = r.u32()?;
            let skipped_at_ms = r.u64()?;
            let key = key(*Zeroizing::new(r.array()?));
            store.push_stored(chain, counter, stamp, key, skipped_at_ms);
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(s: &mut SkippedKeys, n: u32, key: u8, max: usize) {
        let ratchet_key = PublicKey::from_bytes([key; 32]).unwrap();
        let mk = MessageKey::from_bytes([n as u8; 32]);
        s.push(ratchet_key.to_bytes(), n, n, mk, u64::from(n), max);
    }

    fn counters(s: &SkippedKeys) -> alloc::vec::Vec<u32> {
        s.entries.iter().map(|e| e.counter).collect()
    }

    #[test]
    fn removal_keeps_arrival_order() {
        let mut s = SkippedKeys::default();
        for n in 0..6 {
            push(&mut s, n, (n % 2) as u8, 100);
        }
        s.remove(2);
        assert_eq!(counters(&s), [0, 1, 3, 4, 5]);
        s.remove(4);
        assert_eq!(counters(&s), [0, 1, 3, 4]);
        s.remove(1); // towards the front
        assert_eq!(counters(&s), [0, 3, 4]);
        push(&mut s, 1, 1, 100);
        push(&mut s, 5, 1, 100);
        assert_eq!(counters(&s), [0, 3, 4, 1, 5]);
        s.remove(9);
        assert_eq!(counters(&s), [0, 3, 4, 1, 5]);
        s.forget_chain(PublicKey::from_bytes([1; 32]).unwrap().as_bytes());
        assert_eq!(counters(&s), [0, 4]);
        assert_eq!(s.purge(2, 1), 1);
        assert_eq!(s.purge(5, 1), 0, "skipped at 4: kept until 5");
        assert_eq!(counters(&s), [4]);
        assert_eq!(s.get(0).unwrap().as_bytes(), &[4; 32]);
    }

    #[test]
    fn push_evicts_the_oldest_and_grows_exactly() {
        let mut s = SkippedKeys::default();
        for n in 0..10 {
            push(&mut s, n, 0, 4);
            assert!(s.entries.capacity() >= s.len());
        }
        assert_eq!(counters(&s), [6, 7, 8, 9]);
        s.expire(9, 1);
        assert_eq!(counters(&s), [8, 9]);
    }
}
