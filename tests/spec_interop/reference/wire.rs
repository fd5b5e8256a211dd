//! The independent implementation's identity (§4.1), signed-prekey signature (§4.2) and wire
//! formats: bundles (§5.1, versions 0x01 and 0x02), normal and prekey messages (§5.2–§5.4,
//! prekey messages of versions 0x01 and 0x02).

use crate::common::state_codec::{KEM_CT_LEN, SessionKem};
use crate::reference::pq::{KEM_EK_LEN, kem_key_valid};
use crate::reference::primitives::{
    DecodeErr, E, K32, LABEL_SIGNED_PREKEY, MAX_PLAINTEXT, TYPE_NORMAL, TYPE_PREKEY, VERSION,
    VERSION_PQ, ed25519_canonical, identity_x25519, x25519_canonical, xpub,
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha512};

struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeErr> {
        if self.0.len() < n {
            return Err(DecodeErr::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeErr> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, DecodeErr> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, DecodeErr> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn a32(&mut self) -> Result<K32, DecodeErr> {
        Ok(self.take(32)?.try_into().unwrap())
    }
    fn flag(&mut self) -> Result<bool, DecodeErr> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeErr::NonCanonical),
        }
    }
    fn xkey(&mut self) -> Result<K32, DecodeErr> {
        let k = self.a32()?;
        if x25519_canonical(&k) {
            Ok(k)
        } else {
            Err(DecodeErr::InvalidKey)
        }
    }
    fn edkey(&mut self) -> Result<K32, DecodeErr> {
        let k = self.a32()?;
        if ed25519_canonical(&k) {
            Ok(k)
        } else {
            Err(DecodeErr::InvalidKey)
        }
    }
    /// A KEM use byte (§5.1, §5.3): `0x00` or `0x01`, else `NonCanonical`.
    fn kem_use(&mut self) -> Result<u8, DecodeErr> {
        match self.u8()? {
            u @ (0 | 1) => Ok(u),
            _ => Err(DecodeErr::NonCanonical),
        }
    }
    fn end(&self) -> Result<(), DecodeErr> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DecodeErr::TrailingBytes)
        }
    }
}

/// §4.1 identity.
pub(crate) struct Ident {
    pub(crate) seed: K32,
    pub(crate) ik: K32,
    pub(crate) xsecret: K32,
}

impl Ident {
    pub(crate) fn new(seed: K32) -> Self {
        let ik = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let xsecret: K32 = Sha512::digest(seed)[..32].try_into().unwrap();
        // The two X25519 derivations of §4.1 agree.
        assert_eq!(xpub(&xsecret), identity_x25519(&ik));
        Ident { seed, ik, xsecret }
    }
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        SigningKey::from_bytes(&self.seed).sign(msg).to_bytes()
    }
}

/// §4.2
pub(crate) fn signed_bytes(id: u32, created_at: u64, spk: &K32) -> Vec<u8> {
    let mut m = LABEL_SIGNED_PREKEY.to_vec();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&created_at.to_be_bytes());
    m.extend_from_slice(spk);
    assert_eq!(m.len(), 75);
    m
}

/// §4.2 `pqxdh_signed_bytes`: what a version 0x02 bundle's signed prekey signature covers.
pub(crate) fn pqxdh_signed_bytes(id: u32, created_at: u64, spk: &K32) -> Vec<u8> {
    let mut m = LABEL_SIGNED_PREKEY.to_vec();
    m.push(0x00); // key type: X25519
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&created_at.to_be_bytes());
    m.extend_from_slice(spk);
    assert_eq!(m.len(), 76);
    m
}

/// §4.2: the signature over `signed_bytes`, or over `pqxdh_signed_bytes` in a PQXDH bundle.
pub(crate) fn verify_spk(
    ik: &K32,
    (id, created_at): (u32, u64),
    spk: &K32,
    sig: &[u8; 64],
    pqxdh: bool,
) -> Result<(), E> {
    let vk = VerifyingKey::from_bytes(ik).map_err(|_| E::InvalidSignature)?;
    let msg = if pqxdh {
        pqxdh_signed_bytes(id, created_at, spk)
    } else {
        signed_bytes(id, created_at, spk)
    };
    vk.verify_strict(&msg, &Signature::from_bytes(sig))
        .map_err(|_| E::InvalidSignature)
}

/// §5.1 version 0x02: the KEM prekey (§4.5).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BundleKem {
    pub(crate) usage: u8,
    pub(crate) id: u32,
    pub(crate) created_at: u64,
    pub(crate) ek: Vec<u8>,
    pub(crate) sig: [u8; 64],
}

/// §5.1; version 0x02 iff `kem` is `Some`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bundle {
    pub(crate) ik: K32,
    pub(crate) spk_id: u32,
    pub(crate) created_at: u64,
    pub(crate) spk: K32,
    pub(crate) sig: [u8; 64],
    pub(crate) opk: Option<(u32, K32)>,
    pub(crate) kem: Option<BundleKem>,
}

pub(crate) fn encode_bundle(b: &Bundle) -> Vec<u8> {
    let mut v = vec![if b.kem.is_some() { VERSION_PQ } else { VERSION }];
    v.extend_from_slice(&b.ik);
    v.extend_from_slice(&b.spk_id.to_be_bytes());
    v.extend_from_slice(&b.created_at.to_be_bytes());
    v.extend_from_slice(&b.spk);
    v.extend_from_slice(&b.sig);
    match b.opk {
        None => v.push(0),
        Some((id, k)) => {
            v.push(1);
            v.extend_from_slice(&id.to_be_bytes());
            v.extend_from_slice(&k);
        }
    }
    if let Some(k) = &b.kem {
        v.push(k.usage);
        v.extend_from_slice(&k.id.to_be_bytes());
        v.extend_from_slice(&k.created_at.to_be_bytes());
        v.extend_from_slice(&k.ek);
        v.extend_from_slice(&k.sig);
    }
    v
}

/// §5.1, fields read and checked in order.
pub(crate) fn decode_bundle(bytes: &[u8]) -> Result<Bundle, DecodeErr> {
    let mut r = Rd(bytes);
    let v = r.u8()?;
    if v != VERSION && v != VERSION_PQ {
        return Err(DecodeErr::UnknownVersion(v));
    }
    let ik = r.edkey()?;
    let spk_id = r.u32()?;
    let created_at = r.u64()?;
    let spk = r.xkey()?;
    let sig: [u8; 64] = r.take(64)?.try_into().unwrap();
    let opk = if r.flag()? {
        let id = r.u32()?;
        Some((id, r.xkey()?))
    } else {
        None
    };
    let kem = if v == VERSION_PQ {
        let (usage, id, created_at) = (r.kem_use()?, r.u32()?, r.u64()?);
        let ek = r.take(KEM_EK_LEN)?.to_vec();
        if !kem_key_valid(&ek) {
            return Err(DecodeErr::InvalidKey);
        }
        let sig = r.take(64)?.try_into().unwrap();
        Some(BundleKem {
            usage,
            id,
            created_at,
            ek,
            sig,
        })
    } else {
        None
    };
    r.end()?;
    Ok(Bundle {
        ik,
        spk_id,
        created_at,
        spk,
        sig,
        opk,
        kem,
    })
}

/// §5.2 decoded normal message.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub(crate) key: K32,
    pub(crate) pn: u32,
    pub(crate) n: u32,
    pub(crate) seed: [u8; 16],
    /// The prekey fields' bytes (0..71 or 0..75; PQXDH 0..1644 or 0..1648) of a prekey
    /// message; empty for a normal one.
    pub(crate) prekey_fields: Vec<u8>,
    pub(crate) prefix: Vec<u8>,
    pub(crate) ct: Vec<u8>,
}

impl Msg {
    /// §3.5: `AD`, then every byte of the message before its ciphertext.
    pub(crate) fn aad(&self, ad: &[u8]) -> Vec<u8> {
        [ad, &self.prekey_fields, &self.prefix].concat()
    }
}

/// §5.3 prekey fields; version 0x02 (PQXDH) iff `kem` is `Some`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreFields {
    pub(crate) ik_a: K32,
    pub(crate) base: K32,
    pub(crate) spk_id: u32,
    pub(crate) opk_id: Option<u32>,
    pub(crate) kem: Option<SessionKem>,
}

pub(crate) fn encode_prefields(p: &PreFields) -> Vec<u8> {
    let version = if p.kem.is_some() { VERSION_PQ } else { VERSION };
    let mut v = vec![version, TYPE_PREKEY];
    v.extend_from_slice(&p.ik_a);
    v.extend_from_slice(&p.base);
    v.extend_from_slice(&p.spk_id.to_be_bytes());
    match p.opk_id {
        None => v.push(0),
        Some(id) => {
            v.push(1);
            v.extend_from_slice(&id.to_be_bytes());
        }
    }
    if let Some(k) = &p.kem {
        v.extend(k.to_bytes());
    }
    v
}

/// §5.4, in exactly the order given there.
pub(crate) fn decode_message(bytes: &[u8]) -> Result<(Option<PreFields>, Msg), DecodeErr> {
    let mut r = Rd(bytes);
    // Steps 1–4b.
    let v = r.u8()?;
    if v != VERSION && v != VERSION_PQ {
        return Err(DecodeErr::UnknownVersion(v));
    }
    let t = r.u8()?;
    if t == TYPE_NORMAL && v == VERSION_PQ {
        return Err(DecodeErr::UnknownVersion(v));
    }
    let (pre, body) = match t {
        TYPE_NORMAL => (None, bytes),
        TYPE_PREKEY => {
            // Step 5.
            let ik_a = r.edkey()?;
            let base = r.xkey()?;
            let spk_id = r.u32()?;
            let opk_id = if r.flag()? { Some(r.u32()?) } else { None };
            let kem = if v == VERSION_PQ {
                let (usage, id) = (r.kem_use()?, r.u32()?);
                let ct = r.take(KEM_CT_LEN)?.to_vec();
                Some(SessionKem { usage, id, ct })
            } else {
                None
            };
            let p = PreFields {
                ik_a,
                base,
                spk_id,
                opk_id,
                kem,
            };
            (Some(p), r.0)
        }
        other => return Err(DecodeErr::UnknownType(other)),
    };
    if body.len() < 58 {
        return Err(DecodeErr::Truncated);
    }
    let prekey_fields = bytes[..bytes.len() - body.len()].to_vec();
    if let Some(p) = &pre {
        assert_eq!(prekey_fields, encode_prefields(p));
    }
    let prefix = body[..58].to_vec();
    let mut r = Rd(body);
    let v = r.u8()?;
    if v != VERSION {
        return Err(DecodeErr::UnknownVersion(v));
    }
    let t = r.u8()?;
    if t != TYPE_NORMAL {
        return Err(DecodeErr::UnknownType(t));
    }
    let key = r.xkey()?;
    let pn = r.u32()?;
    let n = r.u32()?;
    let seed: [u8; 16] = r.take(16)?.try_into().unwrap();
    let ct = r.0.to_vec();
    if ct.len() < 16 {
        return Err(DecodeErr::Truncated);
    }
    if ct.len() > MAX_PLAINTEXT + 16 {
        return Err(DecodeErr::TooLarge);
    }
    Ok((
        pre,
        Msg {
            key,
            pn,
            n,
            seed,
            prekey_fields,
            prefix,
            ct,
        },
    ))
}
