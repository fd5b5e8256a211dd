//! §10.2: the prekey store — its data model, strict decoding of versions 1–3, and encoders of
//! each version.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPreKey {
    pub id: u32,
    pub created_at: u64,
    pub key: KeyPair,
    pub signature: [u8; 64],
    /// The first-message ids accepted without a one-time prekey, strictly increasing (§4.3).
    pub accepted: Vec<Fmid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimePreKey {
    pub id: u32,
    pub key: KeyPair,
}

/// A prekey store (§4.3): signed prekeys oldest first (the last is the current one), one-time
/// prekeys by increasing id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreBlob {
    pub next_signed_id: u32,
    pub next_one_time_id: u32,
    pub signed: Vec<SignedPreKey>,
    pub one_time: Vec<OneTimePreKey>,
}

impl StoreBlob {
    /// §10.2, versions 1–3; a version-1 blob's seen base keys are recorded under every held
    /// signed prekey (§3.6).
    pub fn decode(blob: &[u8]) -> Result<(u8, StoreBlob), DecodeError> {
        let (v, body) = open(KIND_STORE, blob)?;
        let mut r = Rd(body);
        let mut s = StoreBlob {
            next_signed_id: r.u32()?,
            next_one_time_id: r.u32()?,
            ..Self::default()
        };
        let n_signed = r.u8()?;
        if usize::from(n_signed) > MAX_SIGNED_PREKEYS {
            return Err(NC);
        }
        for _ in 0..n_signed {
            let (id, created_at) = (r.u32()?, u64::from_be_bytes(r.arr()?));
            let (key, signature) = (r.key_pair(v)?, r.arr()?);
            // Versions 1 and 2: a repeated id as soon as the second one's signature is read.
            if v < 0x03 && s.signed.iter().any(|k| k.id == id) {
                return Err(NC);
            }
            let a = if v > 0x01 {
                u16::from_be_bytes(r.arr()?)
            } else {
                0
            };
            if usize::from(a) > MAX_FIRST_MESSAGES {
                return Err(NC);
            }
            let mut accepted: Vec<Fmid> = Vec::new();
            for _ in 0..a {
                let fmid = r.arr()?;
                if accepted.last().is_some_and(|l| fmid <= *l) {
                    return Err(NC);
                }
                accepted.push(fmid);
            }
            let k = SignedPreKey {
                id,
                created_at,
                key,
                signature,
                accepted,
            };
            s.signed.push(k);
        }
        let n_one_time = r.u32()?;
        if n_one_time as usize > MAX_ONE_TIME_PREKEYS {
            return Err(NC);
        }
        for _ in 0..n_one_time {
            let (id, key) = (r.u32()?, r.key_pair(v)?);
            // The id order relates the entry to the previous one: checked once the whole entry
            // is read (§2 rule 7).
            if s.one_time.last().is_some_and(|l| id <= l.id) {
                return Err(NC);
            }
            s.one_time.push(OneTimePreKey { id, key });
        }
        if v == 0x01 {
            let b = r.u32()?;
            if b > V1_MAX_SEEN {
                return Err(NC);
            }
            let mut seen: Vec<K32> = Vec::new();
            for _ in 0..b {
                let k = r.xkey()?;
                if seen.contains(&k) {
                    return Err(NC);
                }
                seen.push(k);
            }
            for spk in &mut s.signed {
                let ids = seen
                    .iter()
                    .filter_map(|ek| first_message_id(&spk.key.secret, ek));
                spk.accepted.extend(ids);
                spk.accepted.sort_unstable();
                spk.accepted.dedup();
            }
        }
        // Version 3: a repeated id "once all are read"; ORDER (the library's choice): once the
        // whole body is read, before its end is checked.
        let ids: Vec<u32> = s.signed.iter().map(|k| k.id).collect();
        if (1..ids.len()).any(|i| ids[..i].contains(&ids[i])) {
            return Err(NC);
        }
        r.end().map(|()| (v, s))
    }

    /// Version 3 (with public keys), 2 (without), or 1 (without the records either, and followed
    /// by `seen`).
    fn body(&self, v: u8, seen: &[K32]) -> Vec<u8> {
        let public = |k: &KeyPair| if v == 0x03 { k.public.to_vec() } else { vec![] };
        let mut b = [self.next_signed_id, self.next_one_time_id]
            .map(u32::to_be_bytes)
            .concat();
        b.push(u8::try_from(self.signed.len()).unwrap());
        for k in &self.signed {
            put(&mut b, &[&k.id.to_be_bytes(), &k.created_at.to_be_bytes()]);
            put(&mut b, &[&k.key.secret, &public(&k.key), &k.signature]);
            if v > 0x01 {
                b.extend_from_slice(&u16::try_from(k.accepted.len()).unwrap().to_be_bytes());
                b.extend(k.accepted.concat());
            }
        }
        b.extend_from_slice(&be32(self.one_time.len()));
        for k in &self.one_time {
            put(
                &mut b,
                &[&k.id.to_be_bytes(), &k.key.secret, &public(&k.key)],
            );
        }
        if v == 0x01 {
            put(&mut b, &[&be32(seen.len()), &seen.concat()]);
        }
        b
    }
    pub fn body_v3(&self) -> Vec<u8> {
        self.body(0x03, &[])
    }
    pub fn encode_v3(&self) -> Vec<u8> {
        seal(KIND_STORE, 0x03, &self.body_v3())
    }
    pub fn encode_v2(&self) -> Vec<u8> {
        seal(KIND_STORE, 0x02, &self.body(0x02, &[]))
    }
    /// Version 1 had no records: `accepted` is not written, `seen` is.
    pub fn encode_v1(&self, seen: &[K32]) -> Vec<u8> {
        seal(KIND_STORE, 0x01, &self.body(0x01, seen))
    }
}

/// Decodes a prekey-store blob (any version), lets `f` edit it, and encodes it as version 3.
pub fn edit_store(blob: &[u8], f: impl FnOnce(&mut StoreBlob)) -> Vec<u8> {
    let (_, mut s) = StoreBlob::decode(blob).expect("a store blob");
    f(&mut s);
    s.encode_v3()
}
