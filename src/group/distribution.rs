//! A sender key as one member hands it to another (SPEC.md §13.2), inside the pairwise session as
//! its own content kind.

use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::VerifyingKey;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::GroupId;
use crate::codec::{Reader, Writer};
use crate::content::ContentKind;
use crate::error::{DecodeError, Error};
use crate::kdf::GroupChainKey;
use crate::keys::parse_ed25519;
use crate::session::Session;

/// Version byte of a sender key distribution.
pub const DISTRIBUTION_VERSION: u8 = 0x01;

/// One member's sender key at its current iteration, as the others need it to read what the
/// member sends from then on (SPEC.md §13.2). It holds the chain key: it is secret, travels only
/// inside a pairwise session ([`SenderKeyDistribution::send`]), and wipes itself on drop.
///
/// Encoding, [`SenderKeyDistribution::LEN`] bytes: `version 0x01 ‖ group id (32) ‖ key id (u32) ‖
/// iteration (u32) ‖ chain key (32) ‖ signing key (32, Ed25519)`.
#[derive(Clone)]
pub struct SenderKeyDistribution {
    pub(crate) group_id: GroupId,
    pub(crate) key_id: u32,
    pub(crate) iteration: u32,
    pub(crate) chain_key: GroupChainKey,
    pub(crate) signing_key: VerifyingKey,
}

impl SenderKeyDistribution {
    /// The length of the encoding.
    pub const LEN: usize = 1 + 32 + 4 + 4 + 32 + 32;

    /// The group the key is for (to route a received distribution to its group).
    pub fn group_id(&self) -> &GroupId {
        &self.group_id
    }

    /// The sender key's id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The iteration its chain key is at: messages before it cannot be read with it.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The encoding (secret: it holds the chain key).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(Self::LEN));
        out.put_u8(DISTRIBUTION_VERSION);
        out.put(&self.group_id.0);
        out.put_u32(self.key_id);
        out.put_u32(self.iteration);
        out.put(self.chain_key.as_bytes());
        out.put(self.signing_key.as_bytes());
        out
    }

    /// Decodes a distribution; the signing key is parsed strictly (SPEC.md §2.4).
    ///
    /// # Errors
    /// [`DecodeError::UnknownVersion`], [`DecodeError::Truncated`],
    /// [`DecodeError::TrailingBytes`], [`DecodeError::InvalidKey`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != DISTRIBUTION_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let group_id = GroupId(r.array()?);
        let key_id = r.u32()?;
        let iteration = r.u32()?;
        let chain_key = GroupChainKey::from_bytes(*Zeroizing::new(r.array()?));
        let signing_key = parse_ed25519(r.array()?)?;
        r.finish()?;
        Ok(Self {
            group_id,
            key_id,
            iteration,
            chain_key,
            signing_key,
        })
    }

    /// Sends the distribution to the session's peer as a content frame of kind
    /// [`ContentKind::SenderKeyDistribution`] (padded, stamped with `now_ms` and the session's
    /// timer, like any message). The peer's [`Session::receive`] delivers it; it passes the body
    /// to [`SenderKeyDistribution::from_bytes`] and then to
    /// [`GroupSession::process_distribution`](super::GroupSession::process_distribution) with
    /// [`Session::remote_identity`] as the sender.
    ///
    /// # Errors
    /// As [`Session::send`].
    pub fn send<R: CryptoRng + ?Sized>(
        &self,
        session: &mut Session,
        rng: &mut R,
        now_ms: u64,
    ) -> Result<Vec<u8>, Error> {
        session.send_kind(
            rng,
            now_ms,
            ContentKind::SenderKeyDistribution,
            &self.to_bytes(),
        )
    }
}

impl fmt::Debug for SenderKeyDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyDistribution")
            .field("group_id", &self.group_id)
            .field("key_id", &self.key_id)
            .field("iteration", &self.iteration)
            .field("chain_key", &self.chain_key)
            .finish_non_exhaustive()
    }
}
