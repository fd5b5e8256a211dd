//! §10 state through the reference codec of tests/common/state_codec/: the prekey store
//! (§4.3, §10.2) and the session blob (§10.3).

use super::{Limits, Session};
use crate::codec::DecodeError::{
    self, ChecksumMismatch, NonCanonical, Truncated, UnknownType, UnknownVersion,
};
use crate::common::state_codec::{self as sc, SessionBlob, StoreBlob};
use crate::frame::{Start, Timer};
use crate::prim::Identity;

/// A codec error as this file's `DecodeError` (the same names, §11.1).
pub fn from_codec(e: sc::DecodeError) -> DecodeError {
    match e {
        sc::DecodeError::Truncated => Truncated,
        sc::DecodeError::TrailingBytes => DecodeError::TrailingBytes,
        sc::DecodeError::UnknownVersion(v) => UnknownVersion(v),
        sc::DecodeError::UnknownType(t) => UnknownType(t),
        sc::DecodeError::NonCanonical => NonCanonical,
        sc::DecodeError::InvalidKey => DecodeError::InvalidKey,
        sc::DecodeError::ChecksumMismatch => ChecksumMismatch,
    }
}

/// §4.3 prekey store; its state is the codec's plain data (§10.2), `Deref` gives the fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store(pub StoreBlob);

impl std::ops::Deref for Store {
    type Target = StoreBlob;
    fn deref(&self) -> &StoreBlob {
        &self.0
    }
}

impl std::ops::DerefMut for Store {
    fn deref_mut(&mut self) -> &mut StoreBlob {
        &mut self.0
    }
}

impl Store {
    /// §10.2, any version read (an older one migrated: §10.0 clamping, version 1's seen base
    /// keys recorded under every held signed prekey).
    pub fn decode(blob: &[u8]) -> Result<Store, DecodeError> {
        StoreBlob::decode(blob)
            .map(|(_, s)| Store(s))
            .map_err(from_codec)
    }

    /// §10.2 version 3.
    pub fn encode(&self) -> Vec<u8> {
        self.0.encode_v3()
    }

    /// §5.1 bundle of the current (newest) signed prekey, with the public keys as held
    /// (as stored, §10.0).
    pub fn bundle(&self, identity: &Identity, opk: Option<u32>) -> Vec<u8> {
        let spk = self.signed.last().expect("a signed prekey");
        let mut out = vec![0x01];
        out.extend_from_slice(&identity.public);
        out.extend_from_slice(&spk.id.to_be_bytes());
        out.extend_from_slice(&spk.created_at.to_be_bytes());
        out.extend_from_slice(&spk.key.public);
        out.extend_from_slice(&spk.signature);
        match opk {
            None => out.push(0),
            Some(id) => {
                let k = self.one_time.iter().find(|k| k.id == id).expect("held");
                out.push(1);
                out.extend_from_slice(&id.to_be_bytes());
                out.extend_from_slice(&k.key.public);
            }
        }
        out
    }
}

impl Session {
    /// The session as the codec's plain data (§10.3).
    pub fn to_blob(&self) -> SessionBlob {
        SessionBlob {
            phase: self.phase,
            local: self.local,
            remote: self.remote,
            context: self.context.clone(),
            base: self.base,
            spk_id: self.spk_id,
            opk_id: self.opk_id,
            kem: None,
            timer: sc::Timer {
                duration_s: self.timer.duration_s,
                start: u8::from(self.timer.start == Start::OnRead),
                version: self.timer.version,
            },
            limits: self.limits.to_array(),
            rk: self.rk,
            ratchet: self.ratchet.clone(),
        }
    }

    /// §10.3 version 3, through the codec.
    pub fn encode(&self) -> Vec<u8> {
        self.to_blob().encode_v3()
    }

    /// §10.3 through the codec: any version read (an older one migrated: §10.0 clamping,
    /// version 1's deadlines turned into skip times, version 2's pending `DHs` secret and an
    /// opening initiator's `DHr` dropped).
    pub fn decode(blob: &[u8]) -> Result<Session, DecodeError> {
        let (_, s) = SessionBlob::decode(blob).map_err(from_codec)?;
        let start = if s.timer.start == 0 {
            Start::OnSend
        } else {
            Start::OnRead
        };
        Ok(Session {
            phase: s.phase,
            local: s.local,
            remote: s.remote,
            context: s.context,
            base: s.base,
            spk_id: s.spk_id,
            opk_id: s.opk_id,
            limits: Limits::from_array(s.limits),
            timer: Timer {
                duration_s: s.timer.duration_s,
                start,
                version: s.timer.version,
            },
            rk: s.rk,
            ratchet: s.ratchet,
        })
    }
}
