//! An independent PQXDH responder written from SPEC.md alone (§3.1b, §3.2–§3.5, §4.1, §4.5, §5.3,
//! §6.2, §6.5 D): from the responder's identity seed and its prekey store as the reference codec
//! reads it, it opens a first message. ML-KEM is libcrux's, X25519/HKDF/HMAC/AES-GCM the RustCrypto
//! and dalek crates: nothing of the library's code is on this path. It is what a thief who copied
//! the responder's device can do, and the positive control of the binding tests.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use libcrux_ml_kem::mlkem1024 as libcrux;
use sha2::{Digest, Sha256, Sha512};

use crate::common::state_codec::StoreBlob;

type K32 = [u8; 32];

fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

fn hmac(key: &K32, byte: u8) -> K32 {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).unwrap();
    mac.update(&[byte]);
    mac.finalize().into_bytes().into()
}

fn x25519(secret: &K32, public: &K32) -> Option<K32> {
    let out = x25519_dalek::x25519(*secret, *public);
    (out != [0; 32]).then_some(out)
}

/// §4.1: the X25519 public form of an Ed25519 identity.
fn identity_x25519(ed: &K32) -> K32 {
    curve25519_dalek::edwards::CompressedEdwardsY(*ed)
        .decompress()
        .unwrap()
        .to_montgomery()
        .to_bytes()
}

/// A first message's fields (§5.3), parsed by hand.
pub(crate) struct Parsed<'a> {
    pub(crate) ik_a: K32,
    pub(crate) ek: K32,
    pub(crate) spk_id: u32,
    pub(crate) opk_id: Option<u32>,
    pub(crate) kem_use: u8,
    pub(crate) kem_id: u32,
    pub(crate) ct: &'a [u8],
    /// Bytes before the embedded message.
    pub(crate) fields: &'a [u8],
    pub(crate) prefix: &'a [u8],
    pub(crate) ciphertext: &'a [u8],
}

pub(crate) fn parse(m: &[u8]) -> Parsed<'_> {
    assert_eq!(&m[..2], &[0x02, 0x02], "a PQXDH prekey message");
    let u32_at = |i: usize| u32::from_be_bytes(m[i..i + 4].try_into().unwrap());
    let opk_id = (m[70] == 1).then(|| u32_at(71));
    let at = if opk_id.is_some() { 75 } else { 71 };
    let embedded = at + 1 + 4 + 1568;
    Parsed {
        ik_a: m[2..34].try_into().unwrap(),
        ek: m[34..66].try_into().unwrap(),
        spk_id: u32_at(66),
        opk_id,
        kem_use: m[at],
        kem_id: u32_at(at + 1),
        ct: &m[at + 5..embedded],
        fields: &m[..embedded],
        prefix: &m[embedded..embedded + 58],
        ciphertext: &m[embedded + 58..],
    }
}

/// The KEM seeds a store holds, as `(use, id, seed)`.
pub(crate) fn kem_seeds(store: &StoreBlob) -> Vec<(u8, u32, [u8; 64])> {
    let Some(k) = &store.kem else {
        return Vec::new();
    };
    let lr = k.last_resort.iter().map(|x| (0u8, x.id, x.seed));
    lr.chain(k.one_time.iter().map(|x| (1u8, x.id, x.seed)))
        .collect()
}

/// `SK` of §3.1b as the responder computes it, with `kem_seed` as the decapsulation key of the
/// KEM prekey the message names; `None` if a key it names is not held (or a DH is all zero).
pub(crate) fn responder_sk(
    identity_seed: &K32,
    store: &StoreBlob,
    p: &Parsed<'_>,
    kem_seed: &[u8; 64],
) -> Option<K32> {
    let ik_b = xchat_protocol::IdentityKeyPair::from_seed(identity_seed)
        .public()
        .to_bytes();
    let ik_b_secret: K32 = Sha512::digest(identity_seed)[..32].try_into().unwrap();
    let spk = store.signed.iter().find(|k| k.id == p.spk_id)?.key;
    let opk = match p.opk_id {
        None => None,
        Some(id) => Some(store.one_time.iter().find(|k| k.id == id)?.key),
    };
    let mut ikm = vec![0xFF; 32];
    ikm.extend(x25519(&spk.secret, &identity_x25519(&p.ik_a))?);
    ikm.extend(x25519(&ik_b_secret, &p.ek)?);
    ikm.extend(x25519(&spk.secret, &p.ek)?);
    if let Some(opk) = opk {
        ikm.extend(x25519(&opk.secret, &p.ek)?);
    }
    let pair = libcrux::generate_key_pair(*kem_seed);
    let ct: [u8; 1568] = p.ct.try_into().unwrap();
    ikm.extend(libcrux::decapsulate(pair.private_key(), &ct.into()));
    let mut info = b"xchat-protocol v1 PQXDH".to_vec();
    info.push(0x02);
    info.extend(p.ik_a);
    info.extend(ik_b);
    info.extend(p.spk_id.to_be_bytes());
    info.extend(spk.public);
    match (p.opk_id, opk) {
        (Some(id), Some(opk)) => {
            info.push(1);
            info.extend(id.to_be_bytes());
            info.extend(opk.public);
        }
        _ => info.push(0),
    }
    info.extend(p.ek);
    info.push(p.kem_use);
    info.extend(p.kem_id.to_be_bytes());
    info.extend(pair.pk());
    info.extend(p.ct);
    Some(hkdf::<32>(&[0; 32], &ikm, &info))
}

/// Opens the embedded message of `p` under `sk` (§6.2 responder, §6.5 D, §3.3–§3.5): `RK = SK`,
/// one receiving step with the signed prekey, then the chain up to `N`.
pub(crate) fn open_with_sk(
    sk: &K32,
    identity_seed: &K32,
    store: &StoreBlob,
    p: &Parsed<'_>,
    context: &[u8],
) -> Option<Vec<u8>> {
    let ik_b = xchat_protocol::IdentityKeyPair::from_seed(identity_seed)
        .public()
        .to_bytes();
    let spk = store.signed.iter().find(|k| k.id == p.spk_id)?.key;
    let ratchet_key: K32 = p.prefix[2..34].try_into().unwrap();
    let n = u32::from_be_bytes(p.prefix[38..42].try_into().unwrap());
    let seed = &p.prefix[42..58];
    let okm = hkdf::<64>(
        sk,
        &x25519(&spk.secret, &ratchet_key)?,
        b"xchat-protocol v1 root chain",
    );
    let mut ck: K32 = okm[32..].try_into().unwrap();
    for _ in 0..n {
        ck = hmac(&ck, 0x02);
    }
    let mk = hmac(&ck, 0x01);
    let kn = hkdf::<44>(seed, &mk, b"xchat-protocol v1 message key");
    let mut aad = p.ik_a.to_vec();
    aad.extend(ik_b);
    aad.extend(u16::try_from(context.len()).unwrap().to_be_bytes());
    aad.extend(context);
    aad.extend(p.fields);
    aad.extend(p.prefix);
    let (body, tag) = p.ciphertext.split_at(p.ciphertext.len() - 16);
    let mut body = body.to_vec();
    let nonce: Nonce<aes_gcm::aead::consts::U12> = <[u8; 12]>::try_from(&kn[32..]).unwrap().into();
    let key: K32 = kn[..32].try_into().unwrap();
    let tag: [u8; 16] = tag.try_into().unwrap();
    Aes256Gcm::new((&key).into())
        .decrypt_inout_detached(&nonce, &aad, body.as_mut_slice().into(), &tag.into())
        .ok()?;
    Some(body)
}

/// Opens first message `m` with every KEM seed `store` holds in turn (the thief's attempt): the
/// plaintext (a content frame) if one of them opens it.
pub(crate) fn thief_opens(
    identity_seed: &K32,
    store: &StoreBlob,
    m: &[u8],
    context: &[u8],
) -> Option<Vec<u8>> {
    let p = parse(m);
    kem_seeds(store).into_iter().find_map(|(_, _, seed)| {
        let sk = responder_sk(identity_seed, store, &p, &seed)?;
        open_with_sk(&sk, identity_seed, store, &p, context)
    })
}
