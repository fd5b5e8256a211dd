//! Wire formats of session messages (SPEC.md §5).
//!
//! Every message starts with the protocol version byte and a type byte. Decoding borrows the
//! ciphertext from the input (no copy) and rejects truncated, oversized, trailing-byte,
//! unknown-version, unknown-type and non-canonical input.

use alloc::vec::Vec;

use crate::cipher::TAG_LEN;
use crate::codec::{Reader, Writer};
use crate::error::DecodeError;
use crate::kdf::SEED_LEN;
use crate::kem::{KEM_CIPHERTEXT_LEN, KemCiphertext};
use crate::keys::{IdentityKey, PublicKey};
use crate::prekeys::KemUse;

/// The protocol version byte that starts every normal message, and the bundles and prekey
/// messages of the classical handshake (X3DH).
pub const PROTOCOL_VERSION: u8 = 0x01;
/// The version byte of the bundles and prekey messages of the post-quantum handshake (PQXDH,
/// SPEC.md §4.5). Normal messages keep [`PROTOCOL_VERSION`]: their format is the same in both.
pub const PROTOCOL_VERSION_PQXDH: u8 = 0x02;
/// Type byte of a normal (ratchet) message.
pub const TYPE_MESSAGE: u8 = 0x01;
/// Type byte of a prekey message (X3DH fields followed by a normal message).
pub const TYPE_PREKEY_MESSAGE: u8 = 0x02;

/// The largest plaintext a message may carry (1 MiB).
pub const MAX_PLAINTEXT_LEN: usize = 1 << 20;

/// Bytes of a normal message before its ciphertext: version, type, ratchet key, PN, N, seed.
/// These bytes are the "header" bound into the associated data (SPEC.md §3.5).
pub const MESSAGE_PREFIX_LEN: usize = 1 + 1 + 32 + 4 + 4 + SEED_LEN;

/// The Double Ratchet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The sender's current ratchet public key.
    pub ratchet_key: PublicKey,
    /// Length of the sender's previous sending chain (PN).
    pub previous_chain_len: u32,
    /// Index of this message in its sending chain (N).
    pub counter: u32,
}

/// A decoded normal message, borrowing its ciphertext from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The ratchet header.
    pub header: Header,
    /// The random seed mixed into this message's AEAD key and nonce.
    pub seed: [u8; SEED_LEN],
    /// The first [`MESSAGE_PREFIX_LEN`] bytes of the encoding, bound into the AEAD.
    pub(crate) prefix: [u8; MESSAGE_PREFIX_LEN],
    /// `ciphertext ‖ tag`.
    pub ciphertext: &'a [u8],
}

impl Message<'_> {
    pub(crate) fn encode_prefix(header: &Header, seed: &[u8; SEED_LEN], out: &mut Vec<u8>) {
        out.put_u8(PROTOCOL_VERSION);
        out.put_u8(TYPE_MESSAGE);
        out.put(header.ratchet_key.as_bytes());
        out.put_u32(header.previous_chain_len);
        out.put_u32(header.counter);
        out.put(seed);
    }

    fn decode<'a>(r: &mut Reader<'a>) -> Result<Message<'a>, DecodeError> {
        let prefix: [u8; MESSAGE_PREFIX_LEN] = r.array()?;
        let mut p = Reader::new(&prefix);
        p.version(PROTOCOL_VERSION)?;
        let kind = p.u8()?;
        if kind != TYPE_MESSAGE {
            return Err(DecodeError::UnknownType(kind));
        }
        let header = Header {
            ratchet_key: PublicKey::from_bytes(p.array()?)?,
            previous_chain_len: p.u32()?,
            counter: p.u32()?,
        };
        let seed = p.array()?;
        let ciphertext = r.rest();
        if ciphertext.len() < TAG_LEN {
            return Err(DecodeError::Truncated);
        }
        if ciphertext.len() > MAX_PLAINTEXT_LEN + TAG_LEN {
            return Err(DecodeError::TooLarge);
        }
        Ok(Message {
            header,
            seed,
            prefix,
            ciphertext,
        })
    }
}

/// A decoded prekey message: what the responder needs to run X3DH, and the first message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreKeyMessage<'a> {
    /// The initiator's identity key.
    pub identity: IdentityKey,
    /// The initiator's ephemeral X3DH key (EK_A).
    pub base_key: PublicKey,
    /// Which of the responder's signed prekeys was used.
    pub signed_prekey_id: u32,
    /// Which one-time prekey was used, if any.
    pub one_time_prekey_id: Option<u32>,
    /// PQXDH's KEM prekey and ciphertext; `None` for X3DH.
    pub kem: Option<KemFields<'a>>,
    /// The embedded normal message.
    pub message: Message<'a>,
}

/// The post-quantum fields of a PQXDH prekey message, borrowing the ciphertext from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KemFields<'a> {
    /// Which of the responder's KEM prekeys was used.
    pub usage: KemUse,
    /// Its id.
    pub id: u32,
    /// The ML-KEM-1024 ciphertext.
    pub ciphertext: &'a [u8; KEM_CIPHERTEXT_LEN],
}

/// Fields the initiator repeats in every prekey message until the responder answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PreKeyFields {
    pub(crate) identity: IdentityKey,
    pub(crate) base_key: PublicKey,
    pub(crate) signed_prekey_id: u32,
    pub(crate) one_time_prekey_id: Option<u32>,
    /// PQXDH's part: the KEM prekey named and the ciphertext.
    pub(crate) kem: Option<KemPart>,
}

/// PQXDH's part of the prekey fields, owned (a session keeps it): `use ‖ id ‖ ciphertext`
/// (SPEC.md §5.3; the same bytes are row 8b of a version 4 session, §10.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KemPart {
    pub(crate) usage: KemUse,
    pub(crate) id: u32,
    pub(crate) ciphertext: KemCiphertext,
}

impl KemPart {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(self.usage.byte());
        out.put_u32(self.id);
        out.put(self.ciphertext.as_bytes());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            usage: KemUse::from_byte(r.u8()?)?,
            id: r.u32()?,
            ciphertext: KemCiphertext::from_array(&r.array()?),
        })
    }
}

impl PreKeyFields {
    pub(crate) const MAX_LEN: usize = 1 + 1 + 32 + 32 + 4 + 1 + 4 + KEM_FIELDS_LEN;

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(if self.kem.is_some() {
            PROTOCOL_VERSION_PQXDH
        } else {
            PROTOCOL_VERSION
        });
        out.put_u8(TYPE_PREKEY_MESSAGE);
        out.put(&self.identity.to_bytes());
        out.put(self.base_key.as_bytes());
        out.put_u32(self.signed_prekey_id);
        out.put_flag(self.one_time_prekey_id.is_some());
        if let Some(id) = self.one_time_prekey_id {
            out.put_u32(id);
        }
        if let Some(kem) = &self.kem {
            kem.encode(out);
        }
    }

    /// Whether a received prekey message carries exactly these fields (compared as values; the
    /// bytes are authenticated by the associated data, SPEC.md §3.5).
    pub(crate) fn matches(&self, pkm: &PreKeyMessage<'_>) -> bool {
        let kem_matches = match (&self.kem, &pkm.kem) {
            (None, None) => true,
            (Some(ours), Some(k)) => {
                ours.usage == k.usage
                    && ours.id == k.id
                    && ours.ciphertext.as_bytes() == k.ciphertext
            }
            _ => false,
        };
        self.identity == pkm.identity
            && self.base_key == pkm.base_key
            && self.signed_prekey_id == pkm.signed_prekey_id
            && self.one_time_prekey_id == pkm.one_time_prekey_id
            && kem_matches
    }
}

/// `use ‖ id ‖ ciphertext`: what PQXDH adds to the prekey fields (SPEC.md §5.3).
pub(crate) const KEM_FIELDS_LEN: usize = 1 + 4 + KEM_CIPHERTEXT_LEN;

/// Any message a session can receive.
// Boxing the prekey variant would cost a heap allocation per decoded message.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A normal message.
    Message(Message<'a>),
    /// A prekey message.
    PreKey(PreKeyMessage<'a>),
}

impl<'a> Incoming<'a> {
    /// Decodes a message from the wire.
    ///
    /// ```
    /// use xchat_protocol::{DecodeError, Incoming};
    /// assert_eq!(Incoming::decode(&[]), Err(DecodeError::Truncated));
    /// assert_eq!(Incoming::decode(&[9, 1]), Err(DecodeError::UnknownVersion(9)));
    /// assert_eq!(Incoming::decode(&[1, 7]), Err(DecodeError::UnknownType(7)));
    /// ```
    ///
    /// # Errors
    /// Any [`DecodeError`].
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut peek = Reader::new(bytes);
        let version = peek.u8()?;
        if version != PROTOCOL_VERSION && version != PROTOCOL_VERSION_PQXDH {
            return Err(DecodeError::UnknownVersion(version));
        }
        match peek.u8()? {
            // A normal message has one format, version 0x01, whichever handshake made its session.
            TYPE_MESSAGE if version == PROTOCOL_VERSION => {
                Ok(Incoming::Message(Message::decode(&mut r)?))
            }
            TYPE_MESSAGE => Err(DecodeError::UnknownVersion(version)),
            TYPE_PREKEY_MESSAGE => {
                r.take(2)?;
                let identity = IdentityKey::from_bytes(r.array()?)?;
                let base_key = PublicKey::from_bytes(r.array()?)?;
                let signed_prekey_id = r.u32()?;
                let one_time_prekey_id = if r.flag()? { Some(r.u32()?) } else { None };
                let kem = if version == PROTOCOL_VERSION_PQXDH {
                    let usage = KemUse::from_byte(r.u8()?)?;
                    let id = r.u32()?;
                    let ciphertext = r
                        .take(KEM_CIPHERTEXT_LEN)?
                        .try_into()
                        .map_err(|_| DecodeError::Truncated)?;
                    Some(KemFields {
                        usage,
                        id,
                        ciphertext,
                    })
                } else {
                    None
                };
                let message = Message::decode(&mut r)?;
                Ok(Incoming::PreKey(PreKeyMessage {
                    identity,
                    base_key,
                    signed_prekey_id,
                    one_time_prekey_id,
                    kem,
                    message,
                }))
            }
            other => Err(DecodeError::UnknownType(other)),
        }
    }

    /// Re-encodes the message; for any decoded input this gives back exactly the input bytes
    /// (the encoding is canonical).
    pub fn to_bytes(&self) -> Vec<u8> {
        let m = self.message();
        let mut out =
            Vec::with_capacity(PreKeyFields::MAX_LEN + MESSAGE_PREFIX_LEN + m.ciphertext.len());
        if let Incoming::PreKey(p) = self {
            p.fields().encode(&mut out);
        }
        out.put(&m.prefix);
        out.put(m.ciphertext);
        out
    }

    /// The embedded normal message.
    pub fn message(&self) -> &Message<'a> {
        match self {
            Incoming::Message(m) => m,
            Incoming::PreKey(p) => &p.message,
        }
    }
}

impl PreKeyMessage<'_> {
    pub(crate) fn fields(&self) -> PreKeyFields {
        PreKeyFields {
            identity: self.identity,
            base_key: self.base_key,
            signed_prekey_id: self.signed_prekey_id,
            one_time_prekey_id: self.one_time_prekey_id,
            kem: self.kem.map(|k| KemPart {
                usage: k.usage,
                id: k.id,
                ciphertext: KemCiphertext::from_array(k.ciphertext),
            }),
        }
    }
}
