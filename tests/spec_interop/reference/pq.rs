//! The independent implementation's post-quantum pieces: ML-KEM-1024 (FIPS 203) through
//! `libcrux-ml-kem` — another implementation than the crate's — the KEM prekey signature
//! (§4.5), the PQXDH transcript and KDF (§3.1b).

use crate::common::state_codec::{KEM_CT_LEN, KEM_SEED_LEN};
use crate::reference::primitives::{E, K32, LABEL_KEM_PREKEY, LABEL_PQXDH, VERSION_PQ, hkdf};
use ed25519_dalek::{Signature, VerifyingKey};
use libcrux_ml_kem::mlkem1024 as mlkem;

/// The length of an ML-KEM-1024 encapsulation key (§5.1).
pub(crate) const KEM_EK_LEN: usize = 1568;
/// §4.5: the KEM type byte of ML-KEM-1024, and the two uses.
pub(crate) const KEM_TYPE: u8 = 0x01;
pub(crate) const LAST_RESORT: u8 = 0x00;
pub(crate) const ONE_TIME: u8 = 0x01;

/// FIPS 203 §6.1 `ML-KEM.KeyGen_internal(d, z)` from the seed `d ‖ z`: the encapsulation key
/// and the decapsulation key.
pub(crate) fn kem_keygen(seed: &[u8; KEM_SEED_LEN]) -> (Vec<u8>, mlkem::MlKem1024PrivateKey) {
    let pair = mlkem::generate_key_pair(*seed);
    (pair.pk().to_vec(), pair.private_key().clone())
}

/// The encapsulation key of a seed.
pub(crate) fn kem_public(seed: &[u8; KEM_SEED_LEN]) -> Vec<u8> {
    kem_keygen(seed).0
}

/// FIPS 203 §7.2's check of an encapsulation key (§5.1: every coefficient of `t̂` below q).
pub(crate) fn kem_key_valid(ek: &[u8]) -> bool {
    mlkem::MlKem1024PublicKey::try_from(ek).is_ok_and(|pk| mlkem::validate_public_key(&pk))
}

/// FIPS 203 §6.2 `ML-KEM.Encaps_internal(ek, m)`: `(CT, SS)`.
pub(crate) fn kem_encaps(ek: &[u8], m: [u8; 32]) -> (Vec<u8>, K32) {
    let pk = mlkem::MlKem1024PublicKey::try_from(ek).unwrap();
    let (ct, ss) = mlkem::encapsulate(&pk, m);
    let ct = ct.as_slice().to_vec();
    assert_eq!(ct.len(), KEM_CT_LEN);
    (ct, ss)
}

/// FIPS 203 §6.3 `ML-KEM.Decaps_internal(dk, CT)` with the key of `seed`: never fails (a
/// ciphertext made for another key gives a pseudorandom secret). Returns the encapsulation key
/// (for the transcript) and `SS`.
pub(crate) fn kem_decaps(seed: &[u8; KEM_SEED_LEN], ct: &[u8]) -> (Vec<u8>, K32) {
    let (ek, dk) = kem_keygen(seed);
    let ct = mlkem::MlKem1024Ciphertext::try_from(ct).unwrap();
    (ek, mlkem::decapsulate(&dk, &ct))
}

/// §4.5 `kem_signed_bytes`.
pub(crate) fn kem_signed_bytes(usage: u8, id: u32, created_at: u64, ek: &[u8]) -> Vec<u8> {
    let m = [
        LABEL_KEM_PREKEY,
        &[KEM_TYPE, usage],
        &id.to_be_bytes(),
        &created_at.to_be_bytes(),
        ek,
    ]
    .concat();
    assert_eq!(m.len(), 28 + 1 + 1 + 4 + 8 + KEM_EK_LEN);
    m
}

/// §4.5: the KEM prekey's signature, verified as §4.2 (`verify_strict`).
pub(crate) fn verify_kem(
    ik: &K32,
    (usage, id, created_at): (u8, u32, u64),
    ek: &[u8],
    sig: &[u8; 64],
) -> Result<(), E> {
    let vk = VerifyingKey::from_bytes(ik).map_err(|_| E::InvalidSignature)?;
    let msg = kem_signed_bytes(usage, id, created_at, ek);
    vk.verify_strict(&msg, &Signature::from_bytes(sig))
        .map_err(|_| E::InvalidSignature)
}

/// What §3.1b's transcript binds.
pub(crate) struct Transcript<'a> {
    pub(crate) ik_a: &'a K32,
    pub(crate) ik_b: &'a K32,
    pub(crate) spk: (u32, &'a K32),
    pub(crate) opk: Option<(u32, &'a K32)>,
    pub(crate) base: &'a K32,
    pub(crate) kem: (u8, u32),
    pub(crate) pqpk: &'a [u8],
    pub(crate) ct: &'a [u8],
}

impl Transcript<'_> {
    /// `0x02 ‖ IK_A ‖ IK_B ‖ u32 SPK id ‖ SPK_B ‖ OPK flag [‖ u32 OPK id ‖ OPK_B] ‖ EK_A
    /// ‖ KEM use ‖ u32 KEM id ‖ PQPK_B ‖ CT`.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut t = vec![VERSION_PQ];
        t.extend_from_slice(self.ik_a);
        t.extend_from_slice(self.ik_b);
        t.extend_from_slice(&self.spk.0.to_be_bytes());
        t.extend_from_slice(self.spk.1);
        match self.opk {
            None => t.push(0),
            Some((id, k)) => {
                t.push(1);
                t.extend_from_slice(&id.to_be_bytes());
                t.extend_from_slice(k);
            }
        }
        t.extend_from_slice(self.base);
        t.push(self.kem.0);
        t.extend_from_slice(&self.kem.1.to_be_bytes());
        assert_eq!((self.pqpk.len(), self.ct.len()), (KEM_EK_LEN, KEM_CT_LEN));
        t.extend_from_slice(self.pqpk);
        t.extend_from_slice(self.ct);
        let opk = if self.opk.is_some() { 36 } else { 0 };
        assert_eq!(t.len(), 1 + 64 + 36 + 1 + opk + 32 + 5 + 2 * 1568);
        t
    }
}

/// §3.1b: `SK = HKDF(0^32, F ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS, LABEL_PQXDH ‖ transcript, 32)`.
pub(crate) fn pqxdh_sk(dhs: &[K32], ss: &K32, transcript: &Transcript<'_>) -> K32 {
    let mut ikm = vec![0xFFu8; 32];
    for d in dhs {
        ikm.extend_from_slice(d);
    }
    ikm.extend_from_slice(ss);
    let info = [LABEL_PQXDH, &transcript.bytes()].concat();
    let mut sk = [0u8; 32];
    hkdf(&[0u8; 32], &ikm, &info, &mut sk);
    sk
}
