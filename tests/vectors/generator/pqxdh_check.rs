//! The PQXDH values of pqxdh.json rebuilt by hand from SPEC.md: the signed bytes of a KEM prekey
//! (§4.5), the version 0x02 bundle (§5.1), the transcript (§3.1b), the prekey fields (§5.3), and
//! ML-KEM-1024 through the crate's `kem` types with a scripted RNG, cross-checked against
//! libcrux-ml-kem, an independently written implementation.

use libcrux_ml_kem::mlkem1024 as libcrux;
use xchat_protocol::kdf;
use xchat_protocol::{
    IdentityKeyPair, KemCiphertext, KemKeyPair, KemPreKey, KemPublicKey, KemUse, PreKeyBundle,
};

use super::rng::Scripted;

/// The KEM type byte of ML-KEM-1024 (SPEC.md §4.5).
pub const KEM_TYPE_ML_KEM_1024: u8 = 0x01;
/// `use ‖ id ‖ created_at ‖ encapsulation key ‖ signature` (SPEC.md §5.1).
pub const KEM_PREKEY_LEN: usize = 1 + 4 + 8 + 1568 + 64;
/// `use ‖ id ‖ CT` (SPEC.md §5.3).
pub const KEM_FIELDS_LEN: usize = 1 + 4 + 1568;

/// The use byte (SPEC.md §4.5): `0x00` last-resort, `0x01` one-time.
pub fn use_byte(usage: KemUse) -> u8 {
    match usage {
        KemUse::LastResort => 0x00,
        KemUse::OneTime => 0x01,
    }
}

/// The use as the files name it.
pub fn use_name(usage: KemUse) -> &'static str {
    match usage {
        KemUse::LastResort => "last_resort",
        KemUse::OneTime => "one_time",
    }
}

/// `LABEL_KEM_PREKEY ‖ 0x01 ‖ use ‖ u32 id ‖ u64 created_at ‖ ek` (SPEC.md §4.5).
pub fn kem_signed_bytes(usage: KemUse, id: u32, created_at: u64, ek: &[u8]) -> Vec<u8> {
    [
        kdf::LABEL_KEM_PREKEY,
        &[KEM_TYPE_ML_KEM_1024, use_byte(usage)],
        &id.to_be_bytes(),
        &created_at.to_be_bytes(),
        ek,
    ]
    .concat()
}

/// Checks a KEM prekey the store returned against its 64-byte seed `d ‖ z` (the draw): the
/// encapsulation key of `ML-KEM.KeyGen_internal(d, z)` (the crate's and libcrux's), the signed
/// bytes by hand, and the deterministic RFC 8032 signature. Returns the signed bytes.
pub fn check_kem_prekey(
    bob: &IdentityKeyPair,
    key: &KemPreKey,
    seed: &[u8],
    usage: KemUse,
    id: u32,
    created_at: u64,
) -> Vec<u8> {
    let seed: [u8; 64] = seed.try_into().expect("64-byte seed");
    assert_eq!(key.usage, usage);
    assert_eq!(key.id, id);
    assert_eq!(key.created_at, created_at);
    let ek = KemKeyPair::from_seed(&seed).public().as_bytes().to_vec();
    assert_eq!(key.key.as_bytes().as_slice(), ek.as_slice());
    assert_eq!(
        libcrux::generate_key_pair(seed).pk().as_slice(),
        ek.as_slice()
    );
    let signed = kem_signed_bytes(usage, id, created_at, &ek);
    assert_eq!(signed.len(), 28 + 2 + 4 + 8 + 1568);
    assert_eq!(
        KemPreKey::signed_bytes(usage, id, created_at, &key.key),
        signed
    );
    assert_eq!(
        bob.sign(&signed),
        key.signature,
        "RFC 8032 is deterministic"
    );
    key.verify(bob.public()).expect("KEM prekey signature");
    signed
}

/// The bundle bytes of SPEC.md §5.1, version 0x02.
pub fn bundle_bytes(bundle: &PreKeyBundle) -> Vec<u8> {
    let spk = &bundle.signed_prekey;
    let mut b = [
        &[0x02][..],
        &bundle.identity.to_bytes(),
        &spk.id.to_be_bytes(),
        &spk.created_at.to_be_bytes(),
        spk.key.as_bytes(),
        &spk.signature,
    ]
    .concat();
    match &bundle.one_time_prekey {
        None => b.push(0),
        Some(k) => {
            b.push(1);
            b.extend_from_slice(&k.id.to_be_bytes());
            b.extend_from_slice(k.key.as_bytes());
        }
    }
    let kem = bundle.kem_prekey.as_ref().expect("a PQXDH bundle");
    b.push(use_byte(kem.usage));
    b.extend_from_slice(&kem.id.to_be_bytes());
    b.extend_from_slice(&kem.created_at.to_be_bytes());
    b.extend_from_slice(kem.key.as_bytes());
    b.extend_from_slice(&kem.signature);
    b
}

/// `(CT, SS)` of `ML-KEM.Encaps_internal(ek, m)`: the crate's `encapsulate` fed `m` by a scripted
/// RNG, and libcrux's, which must agree; then both decapsulations of `CT` under the seed's key
/// give `SS` back.
pub fn encapsulate(ek: &[u8], m: &[u8], seed: &[u8]) -> (Vec<u8>, [u8; 32]) {
    let key = KemPublicKey::from_bytes(ek).expect("valid encapsulation key");
    let mut rng = Scripted::new(vec![m.to_vec()]);
    let (ct, ss) = key.encapsulate(&mut rng);
    assert_eq!(rng.remaining(), 0, "one draw: m");
    let ek_array: [u8; 1568] = ek.try_into().expect("1568 bytes");
    let m_array: [u8; 32] = m.try_into().expect("32 bytes");
    let (their_ct, their_ss) =
        libcrux::encapsulate(&libcrux::MlKem1024PublicKey::from(&ek_array), m_array);
    assert_eq!(ct.as_bytes().as_slice(), their_ct.as_slice());
    assert_eq!(*ss, their_ss);
    let seed: [u8; 64] = seed.try_into().expect("64-byte seed");
    assert_eq!(*KemKeyPair::from_seed(&seed).decapsulate(&ct), *ss);
    let ours = libcrux::generate_key_pair(seed);
    let ct_array: [u8; 1568] = *ct.as_bytes();
    assert_eq!(
        libcrux::decapsulate(ours.private_key(), &(&ct_array).into()),
        *ss
    );
    assert_eq!(KemCiphertext::from_bytes(&ct_array).expect("ct"), ct);
    (ct.as_bytes().to_vec(), *ss)
}

/// The public values of one handshake, in the order of SPEC.md §3.1b.
pub struct TranscriptFields<'a> {
    pub ik_a: &'a [u8; 32],
    pub ik_b: &'a [u8; 32],
    pub spk: (u32, &'a [u8; 32]),
    pub opk: Option<(u32, &'a [u8; 32])>,
    pub ek_a: &'a [u8; 32],
    pub kem: (KemUse, u32, &'a [u8]),
    pub ct: &'a [u8],
}

/// `0x02 ‖ IK_A ‖ IK_B ‖ u32 SPK id ‖ SPK_B ‖ OPK flag [‖ u32 OPK id ‖ OPK_B] ‖ EK_A ‖ KEM use ‖
/// u32 KEM id ‖ PQPK_B ‖ CT` (SPEC.md §3.1b).
pub fn transcript(t: &TranscriptFields<'_>) -> Vec<u8> {
    let mut out = [&[0x02][..], t.ik_a, t.ik_b, &t.spk.0.to_be_bytes(), t.spk.1].concat();
    match t.opk {
        None => out.push(0),
        Some((id, key)) => {
            out.push(1);
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(key);
        }
    }
    out.extend_from_slice(t.ek_a);
    out.push(use_byte(t.kem.0));
    out.extend_from_slice(&t.kem.1.to_be_bytes());
    out.extend_from_slice(t.kem.2);
    out.extend_from_slice(t.ct);
    let opk_len = if t.opk.is_some() { 36 } else { 0 };
    assert_eq!(out.len(), 1 + 64 + 36 + 1 + opk_len + 32 + 5 + 1568 + 1568);
    out
}

/// `IKM = 0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS` (SPEC.md §3.1b).
pub fn ikm(dhs: &[Option<[u8; 32]>; 4], ss: &[u8; 32]) -> Vec<u8> {
    let mut out = vec![0xff; 32];
    for d in dhs.iter().flatten() {
        out.extend_from_slice(d);
    }
    out.extend_from_slice(ss);
    out
}

/// `SK = HKDF(salt = 32×0x00, IKM, info = LABEL_PQXDH ‖ transcript, 32)` by the HKDF building
/// block, and by `kdf::pqxdh`, which must agree.
pub fn shared_secret(dhs: &[Option<[u8; 32]>; 4], ss: &[u8; 32], transcript: &[u8]) -> [u8; 32] {
    let info = [kdf::LABEL_PQXDH, transcript].concat();
    let sk = *kdf::hkdf_sha256::<32>(&[0; 32], &ikm(dhs, ss), &info);
    let [Some(dh1), Some(dh2), Some(dh3), dh4] = dhs else {
        panic!("DH1..DH3 are always present")
    };
    let via_kdf = kdf::pqxdh(dh1, dh2, dh3, dh4.as_ref(), ss, transcript);
    assert_eq!(*via_kdf.as_bytes(), sk);
    sk
}

/// The prekey fields of SPEC.md §5.3, version 0x02: `0x02 ‖ 0x02 ‖ IK_A ‖ EK_A ‖ u32 SPK id ‖
/// flag [‖ u32 OPK id] ‖ KEM use ‖ u32 KEM id ‖ CT`.
pub fn prekey_fields(t: &TranscriptFields<'_>) -> Vec<u8> {
    let mut out = [&[0x02, 0x02][..], t.ik_a, t.ek_a, &t.spk.0.to_be_bytes()].concat();
    match t.opk {
        None => out.push(0),
        Some((id, _)) => {
            out.push(1);
            out.extend_from_slice(&id.to_be_bytes());
        }
    }
    out.push(use_byte(t.kem.0));
    out.extend_from_slice(&t.kem.1.to_be_bytes());
    out.extend_from_slice(t.ct);
    out
}

/// `first_message_id = HKDF(zero salt, DH3, LABEL_FIRST_MESSAGE)[0..16]` (SPEC.md §3.6), by the
/// HKDF building block and by `kdf::first_message_id`.
pub fn first_message_id(dh3: &[u8; 32]) -> [u8; 16] {
    let full = kdf::hkdf_sha256::<32>(&[0; 32], dh3, kdf::LABEL_FIRST_MESSAGE);
    let id: [u8; 16] = full[..16].try_into().expect("16 bytes");
    assert_eq!(kdf::first_message_id(dh3), id);
    id
}
