//! The group's state body (SPEC.md §13.7); `crate::state` wraps it in the versioned envelope.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use super::sender_key::{ReceivingKey, SendingKey};
use super::{GroupConfig, GroupId, GroupLimits, GroupSession, Member, Rotation};
use crate::codec::{Codec, Reader, Writer};
use crate::content::Timer;
use crate::error::{DecodeError, Error};
use crate::keys::IdentityKey;

/// `group id ‖ IK_local ‖ limits (4 × u32) ‖ rotation (u32 ‖ u64) ‖ timer ‖ stale flag ‖ sending
/// key ‖ u32 members ‖ members`, each member `IK ‖ has-our-key flag ‖ u32 keys ‖ keys` (oldest
/// first), members in increasing order of their key bytes.
impl Codec for GroupSession {
    fn encoded_len(&self) -> usize {
        let members: usize = self
            .members
            .values()
            .map(|m| 32 + 1 + 4 + m.keys.iter().map(ReceivingKey::encoded_len).sum::<usize>())
            .sum();
        32 + 32 + 16 + 12 + 9 + 1 + SendingKey::STORED_LEN + 4 + members
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put(&self.group_id.0);
        out.put(self.local.as_bytes());
        let l = &self.config.limits;
        for v in [
            l.max_jump,
            l.max_skipped_keys,
            l.max_sender_keys,
            l.max_members,
        ] {
            out.put_u32(v);
        }
        out.put_u32(self.config.rotation.max_messages);
        out.put_u64(self.config.rotation.max_age_ms);
        self.timer.encode(out);
        out.put_flag(self.stale);
        self.sending.encode_stored(out);
        out.put_len_u32(self.members.len())?;
        for m in self.members.values() {
            out.put(m.identity.as_bytes());
            out.put_flag(m.has_our_key);
            out.put_len_u32(m.keys.len())?;
            for k in &m.keys {
                k.encode(out)?;
            }
        }
        Ok(())
    }

    /// Every count is checked against the stored limits as soon as it is read; members must be
    /// strictly increasing and never ourselves, and a member's key ids distinct.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let group_id = GroupId(r.array()?);
        let local = IdentityKey::from_stored(r.array()?);
        let limits = GroupLimits {
            max_jump: r.u32()?,
            max_skipped_keys: r.u32()?,
            max_sender_keys: r.u32()?,
            max_members: r.u32()?,
        };
        limits.validate().map_err(|_| DecodeError::NonCanonical)?;
        let rotation = Rotation {
            max_messages: r.u32()?,
            max_age_ms: r.u64()?,
        };
        rotation.validate().map_err(|_| DecodeError::NonCanonical)?;
        let timer = Timer::decode(r)?;
        let stale = r.flag()?;
        let sending = SendingKey::decode_stored(r)?;
        let count = r.u32()?;
        if count > limits.max_members {
            return Err(DecodeError::NonCanonical);
        }
        let mut members = BTreeMap::new();
        let mut previous: Option<[u8; 32]> = None;
        for _ in 0..count {
            let bytes: [u8; 32] = r.array()?;
            let has_our_key = r.flag()?;
            let n = r.u32()?;
            if n > limits.max_sender_keys {
                return Err(DecodeError::NonCanonical);
            }
            // At its final size, and no larger than the input can hold (a forged count
            // allocates nothing extra): a regrown buffer would free chain keys unwiped.
            let room = r.remaining() / ReceivingKey::MIN_STORED_LEN;
            let mut keys: VecDeque<ReceivingKey> = VecDeque::with_capacity((n as usize).min(room));
            for _ in 0..n {
                let key = ReceivingKey::decode(r, &limits)?;
                if keys.iter().any(|k| k.id == key.id) {
                    return Err(DecodeError::NonCanonical);
                }
                keys.push_back(key);
            }
            // Checks that relate the entry to the others, once it is read (SPEC.md §2 rule 7).
            if previous.is_some_and(|p| p >= bytes) || &bytes == local.as_bytes() {
                return Err(DecodeError::NonCanonical);
            }
            previous = Some(bytes);
            members.insert(
                bytes,
                Member {
                    identity: IdentityKey::from_stored(bytes),
                    has_our_key,
                    keys,
                },
            );
        }
        Ok(Self {
            group_id,
            local,
            config: GroupConfig { limits, rotation },
            timer,
            sending,
            stale,
            members,
        })
    }
}
