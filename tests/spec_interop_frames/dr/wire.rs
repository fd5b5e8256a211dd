//! §5 wire formats: the message prefix and prekey fields, decoding, the bundle.

use super::{LABEL_SIGNED_PREKEY, MAX_PLAINTEXT_LEN};
use crate::codec::DecodeError::{self, Truncated, UnknownType, UnknownVersion};
use crate::codec::Reader;

#[derive(Clone, Debug)]
pub struct Normal {
    pub key: [u8; 32],
    pub pn: u32,
    pub n: u32,
    pub seed: [u8; 16],
    /// §3.5: every byte of the message before its ciphertext (the prekey fields, if any,
    /// then the 58-byte prefix).
    pub header: Vec<u8>,
    pub ct: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreKeyFields {
    pub ik_a: [u8; 32],
    pub base: [u8; 32],
    pub spk_id: u32,
    pub opk_id: Option<u32>,
}

impl PreKeyFields {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0x01, 0x02];
        out.extend_from_slice(&self.ik_a);
        out.extend_from_slice(&self.base);
        out.extend_from_slice(&self.spk_id.to_be_bytes());
        match self.opk_id {
            None => out.push(0),
            Some(id) => {
                out.push(1);
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
        out
    }
}

pub enum Incoming {
    Normal(Normal),
    PreKey(PreKeyFields, Normal),
}

/// §5.4, steps 1–11 in order.
pub fn decode_message(b: &[u8]) -> Result<Incoming, DecodeError> {
    let first = *b.first().ok_or(Truncated)?;
    if first != 0x01 {
        return Err(UnknownVersion(first));
    }
    let t = *b.get(1).ok_or(Truncated)?;
    if t != 0x01 && t != 0x02 {
        return Err(UnknownType(t));
    }
    let (fields, start) = if t == 0x02 {
        let mut r = Reader::new(&b[2..]);
        let ik_a = r.ed25519_key()?;
        let base = r.x25519_key()?;
        let spk_id = r.u32()?;
        let opk_id = if r.flag()? { Some(r.u32()?) } else { None };
        (
            Some(PreKeyFields {
                ik_a,
                base,
                spk_id,
                opk_id,
            }),
            2 + r.pos(),
        )
    } else {
        (None, 0)
    };
    let m = &b[start..];
    if m.len() < 58 {
        return Err(Truncated);
    }
    if m[0] != 0x01 {
        return Err(UnknownVersion(m[0]));
    }
    if m[1] != 0x01 {
        return Err(UnknownType(m[1]));
    }
    let mut r = Reader::new(&m[2..]);
    let key = r.x25519_key()?;
    let pn = r.u32()?;
    let n = r.u32()?;
    let seed = r.arr()?;
    let ct = r.rest();
    if ct.len() < 16 {
        return Err(Truncated);
    }
    if ct.len() > MAX_PLAINTEXT_LEN + 16 {
        return Err(DecodeError::TooLarge);
    }
    let normal = Normal {
        key,
        pn,
        n,
        seed,
        header: b[..start + 58].to_vec(),
        ct: ct.to_vec(),
    };
    Ok(match fields {
        Some(f) => Incoming::PreKey(f, normal),
        None => Incoming::Normal(normal),
    })
}

/// §5.1 (decoded only as far as the flows need).
pub struct Bundle {
    pub ik_b: [u8; 32],
    pub spk_id: u32,
    pub created_at: u64,
    pub spk: [u8; 32],
    pub signature: [u8; 64],
    pub opk: Option<(u32, [u8; 32])>,
}

impl Bundle {
    pub fn decode(b: &[u8]) -> Result<Bundle, DecodeError> {
        let mut r = Reader::new(b);
        let v = r.u8()?;
        if v != 0x01 {
            return Err(UnknownVersion(v));
        }
        let ik_b = r.ed25519_key()?;
        let spk_id = r.u32()?;
        let created_at = r.u64()?;
        let spk = r.x25519_key()?;
        let signature = r.arr()?;
        let opk = if r.flag()? {
            Some((r.u32()?, r.x25519_key()?))
        } else {
            None
        };
        r.finish()?;
        Ok(Bundle {
            ik_b,
            spk_id,
            created_at,
            spk,
            signature,
            opk,
        })
    }

    /// §4.2.
    pub fn signed_bytes(id: u32, created_at: u64, spk: &[u8; 32]) -> Vec<u8> {
        let mut out = LABEL_SIGNED_PREKEY.to_vec();
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&created_at.to_be_bytes());
        out.extend_from_slice(spk);
        out
    }
}
