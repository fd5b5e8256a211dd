//! §10.2: the prekey store — its data model (with the optional KEM part of version 4), strict
//! decoding of versions 1–4, and encoders of each version.

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

/// A KEM prekey as stored (§10.2 version 4): its ML-KEM seed `d ‖ z` (§4.5), expanded only
/// when the key is used; its use is the list it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKemPreKey {
    pub id: u32,
    pub created_at: u64,
    pub seed: [u8; KEM_SEED_LEN],
    pub signature: [u8; 64],
}

/// The KEM state of a prekey store (§4.5, §10.2 version 4): last-resort KEM prekeys oldest
/// first (the last is the current one), one-time KEM prekeys by increasing id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KemStore {
    pub next_kem_id: u32,
    pub last_resort: Vec<StoredKemPreKey>,
    pub one_time: Vec<StoredKemPreKey>,
}

/// A prekey store (§4.3): signed prekeys oldest first (the last is the current one), one-time
/// prekeys by increasing id; `kem` is `Some` iff the store is written as version 4 (§10.0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreBlob {
    pub next_signed_id: u32,
    pub next_one_time_id: u32,
    pub signed: Vec<SignedPreKey>,
    pub one_time: Vec<OneTimePreKey>,
    pub kem: Option<KemStore>,
}

/// §10.2 version 4: `id ‖ created_at ‖ seed 64 ‖ signature 64`.
fn read_kem_prekey(r: &mut Rd<'_>) -> Result<StoredKemPreKey, DecodeError> {
    Ok(StoredKemPreKey {
        id: r.u32()?,
        created_at: u64::from_be_bytes(r.arr()?),
        seed: r.arr()?,
        signature: r.arr()?,
    })
}

/// §10.2 version 4's fields after version 3's, with the checks made as they are read (the
/// counts; the order of one-time ids once each entry is read, §2 rule 7).
fn read_kem(r: &mut Rd<'_>) -> Result<KemStore, DecodeError> {
    let mut k = KemStore {
        next_kem_id: r.u32()?,
        ..KemStore::default()
    };
    let n_last_resort = r.u8()?;
    if usize::from(n_last_resort) > MAX_KEM_PREKEYS {
        return Err(NC);
    }
    for _ in 0..n_last_resort {
        k.last_resort.push(read_kem_prekey(r)?);
    }
    let n_one_time = r.u32()?;
    if n_one_time as usize > MAX_KEM_ONE_TIME_PREKEYS {
        return Err(NC);
    }
    for _ in 0..n_one_time {
        let key = read_kem_prekey(r)?;
        if k.one_time.last().is_some_and(|l| key.id <= l.id) {
            return Err(NC);
        }
        k.one_time.push(key);
    }
    Ok(k)
}

/// §10.2 version 4, "checked once the whole body is read": no second encoding of a version-3
/// store, then no KEM id held twice among all `k + q` KEM prekeys.
fn check_kem(k: &KemStore) -> Result<(), DecodeError> {
    if k.next_kem_id == 0 && k.last_resort.is_empty() && k.one_time.is_empty() {
        return Err(NC);
    }
    let ids: Vec<u32> = k
        .last_resort
        .iter()
        .chain(&k.one_time)
        .map(|x| x.id)
        .collect();
    if (1..ids.len()).any(|i| ids[..i].contains(&ids[i])) {
        return Err(NC);
    }
    Ok(())
}

impl StoreBlob {
    /// §10.2, versions 1–4; a version-1 blob's seen base keys are recorded under every held
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
        if v == VERSION_PQ {
            s.kem = Some(read_kem(&mut r)?);
        }
        // Versions 3 and 4: a repeated signed-prekey id "once the whole body is read, before
        // TrailingBytes" (in version 4 the body includes the KEM part); then version 4's checks.
        let ids: Vec<u32> = s.signed.iter().map(|k| k.id).collect();
        if (1..ids.len()).any(|i| ids[..i].contains(&ids[i])) {
            return Err(NC);
        }
        if let Some(k) = &s.kem {
            check_kem(k)?;
        }
        r.end().map(|()| (v, s))
    }

    /// Version 4 (version 3's fields, then the KEM part: `Default` if `kem` is `None`), 3 (with
    /// public keys), 2 (without), or 1 (without the records either, and followed by `seen`).
    fn body(&self, v: u8, seen: &[K32]) -> Vec<u8> {
        assert!(
            v == VERSION_PQ || self.kem.is_none(),
            "version {v} cannot hold a store's KEM state (§10.2)"
        );
        let public = |k: &KeyPair| if v >= 0x03 { k.public.to_vec() } else { vec![] };
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
        if v == VERSION_PQ {
            let k = self.kem.clone().unwrap_or_default();
            b.extend_from_slice(&k.next_kem_id.to_be_bytes());
            b.push(u8::try_from(k.last_resort.len()).unwrap());
            let entry = |x: &StoredKemPreKey| {
                [&x.id.to_be_bytes()[..], &x.created_at.to_be_bytes()].concat()
            };
            for x in &k.last_resort {
                put(&mut b, &[&entry(x), &x.seed, &x.signature]);
            }
            b.extend_from_slice(&be32(k.one_time.len()));
            for x in &k.one_time {
                put(&mut b, &[&entry(x), &x.seed, &x.signature]);
            }
        }
        b
    }
    /// The version written today (§10.0): 4 iff the store has KEM state.
    pub fn version(&self) -> u8 {
        if self.kem.is_some() {
            VERSION_PQ
        } else {
            VERSION
        }
    }
    /// The body `encode` writes.
    pub fn body_current(&self) -> Vec<u8> {
        self.body(self.version(), &[])
    }
    /// The bytes written today: version 4 with KEM state, else version 3 (§10.0).
    pub fn encode(&self) -> Vec<u8> {
        seal(KIND_STORE, self.version(), &self.body_current())
    }
    /// Version 3; panics if the store has KEM state (version 3 cannot hold it).
    pub fn body_v3(&self) -> Vec<u8> {
        self.body(0x03, &[])
    }
    pub fn encode_v3(&self) -> Vec<u8> {
        seal(KIND_STORE, 0x03, &self.body_v3())
    }
    /// Version 4, also without KEM state (then written as `next_kem_id = 0`, no keys: the
    /// second encoding of a version-3 store that §10.2 refuses).
    pub fn body_v4(&self) -> Vec<u8> {
        self.body(VERSION_PQ, &[])
    }
    pub fn encode_v4(&self) -> Vec<u8> {
        seal(KIND_STORE, VERSION_PQ, &self.body_v4())
    }
    pub fn encode_v2(&self) -> Vec<u8> {
        seal(KIND_STORE, 0x02, &self.body(0x02, &[]))
    }
    /// Version 1 had no records: `accepted` is not written, `seen` is.
    pub fn encode_v1(&self, seen: &[K32]) -> Vec<u8> {
        seal(KIND_STORE, 0x01, &self.body(0x01, seen))
    }
}

/// Decodes a prekey-store blob (any version), lets `f` edit it, and encodes it in the version
/// written today (3, or 4 with KEM state).
pub fn edit_store(blob: &[u8], f: impl FnOnce(&mut StoreBlob)) -> Vec<u8> {
    let (_, mut s) = StoreBlob::decode(blob).expect("a store blob");
    f(&mut s);
    s.encode()
}
