//! The session's state body (SPEC.md §10.3, versions 3 and 4); `crate::state` wraps it in the
//! versioned envelope.

use alloc::vec::Vec;

use super::{
    MAX_CONTEXT_LEN, PHASE_ACKNOWLEDGED, PHASE_AWAITING_REPLY, PHASE_RESPONDER, Role, Session,
    associated_data, prekey_associated_data,
};
use crate::codec::{Codec, Reader, Writer};
use crate::content::Timer;
use crate::error::{DecodeError, Error};
use crate::keys::{IdentityKey, PublicKey};
use crate::ratchet::Ratchet;
use crate::wire::{KEM_FIELDS_LEN, KemPart, PreKeyFields};

/// The session's state body (SPEC.md §10.3); `state.rs` wraps it in the versioned envelope.
impl Session {
    /// Rebuilds a session from its parts (every state version's decoder ends here): the prekey
    /// fields and associated data are derived, and the phase must match the ratchet's.
    pub(crate) fn from_parts(
        role: Role,
        local_identity: IdentityKey,
        remote_identity: IdentityKey,
        context: &[u8],
        prekey_ids: (PublicKey, u32, Option<u32>, Option<KemPart>),
        timer: Timer,
        ratchet: Ratchet,
    ) -> Result<Self, DecodeError> {
        if role == Role::Responder && !ratchet.is_open() {
            return Err(DecodeError::NonCanonical);
        }
        let (initiator, responder) = match role {
            Role::Initiator => (&local_identity, &remote_identity),
            Role::Responder => (&remote_identity, &local_identity),
        };
        let ad = associated_data(initiator, responder, context)
            .map_err(|_| DecodeError::NonCanonical)?;
        let (base_key, signed_prekey_id, one_time_prekey_id, kem) = prekey_ids;
        let x3dh = PreKeyFields {
            identity: *initiator,
            base_key,
            signed_prekey_id,
            one_time_prekey_id,
            kem,
        };
        Ok(Self {
            role,
            local_identity,
            remote_identity,
            context: context.to_vec(),
            prekey_ad: prekey_associated_data(&ad, &x3dh),
            ad,
            x3dh,
            timer,
            ratchet,
        })
    }

    fn phase_byte(&self) -> u8 {
        match (self.role, self.ratchet.is_open()) {
            (Role::Responder, _) => PHASE_RESPONDER,
            (Role::Initiator, false) => PHASE_AWAITING_REPLY,
            (Role::Initiator, true) => PHASE_ACKNOWLEDGED,
        }
    }
}

impl Codec for Session {
    fn encoded_len(&self) -> usize {
        let kem = if self.x3dh.kem.is_some() {
            KEM_FIELDS_LEN
        } else {
            0
        };
        1 + 32 + 32 + 2 + self.context.len() + 32 + 4 + 1 + 4 + kem + 9 + self.ratchet.encoded_len()
    }

    /// `phase ‖ IK_local ‖ IK_remote ‖ u16 len ‖ context ‖ base key ‖ SPK id ‖ flag ‖ [OPK id] ‖
    /// timer ‖ ratchet`.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put_u8(self.phase_byte());
        out.put(self.local_identity.as_bytes());
        out.put(self.remote_identity.as_bytes());
        out.put_len_u16(self.context.len())?;
        out.put(&self.context);
        out.put(self.x3dh.base_key.as_bytes());
        out.put_u32(self.x3dh.signed_prekey_id);
        out.put_flag(self.x3dh.one_time_prekey_id.is_some());
        if let Some(id) = self.x3dh.one_time_prekey_id {
            out.put_u32(id);
        }
        // Version 4 only (a PQXDH session); version 3 has no such field (SPEC.md §10.3).
        if let Some(kem) = &self.x3dh.kem {
            kem.encode(out);
        }
        self.timer.encode(out);
        self.ratchet.encode(out)
    }

    /// Identity keys are read as stored: they were validated when they entered, and restoring
    /// costs no point decompression (SPEC.md §10.0).
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::decode_version(r, true)
    }
}

impl Session {
    /// The state version that holds this session: 4 for a PQXDH session, 3 (which has no KEM
    /// field) for an X3DH one, so that a classical session's blob is the same as before PQXDH
    /// existed (SPEC.md §10.3).
    pub(crate) fn state_version(&self) -> u8 {
        if self.x3dh.kem.is_some() { 4 } else { 3 }
    }

    /// The body of version 4 (`pqxdh`: the KEM fields follow the one-time prekey) or of
    /// version 3 (an X3DH session) (SPEC.md §10.3).
    pub(crate) fn decode_version(r: &mut Reader<'_>, pqxdh: bool) -> Result<Self, DecodeError> {
        let (role, opening) = match r.u8()? {
            PHASE_AWAITING_REPLY => (Role::Initiator, true),
            PHASE_ACKNOWLEDGED => (Role::Initiator, false),
            PHASE_RESPONDER => (Role::Responder, false),
            _ => return Err(DecodeError::NonCanonical),
        };
        let local_identity = IdentityKey::from_stored(r.array()?);
        let remote_identity = IdentityKey::from_stored(r.array()?);
        let context_len = usize::from(r.u16()?);
        if context_len > MAX_CONTEXT_LEN {
            return Err(DecodeError::NonCanonical);
        }
        let context = r.take(context_len)?;
        let base_key = PublicKey::from_bytes(r.array()?)?;
        let signed_prekey_id = r.u32()?;
        let one_time_prekey_id = if r.flag()? { Some(r.u32()?) } else { None };
        let kem = if pqxdh {
            Some(KemPart::decode(r)?)
        } else {
            None
        };
        let timer = Timer::decode(r)?;
        let ratchet = Ratchet::decode(r, opening)?;
        Self::from_parts(
            role,
            local_identity,
            remote_identity,
            context,
            (base_key, signed_prekey_id, one_time_prekey_id, kem),
            timer,
            ratchet,
        )
    }
}
