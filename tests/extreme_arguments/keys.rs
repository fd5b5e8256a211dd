//! Keys and key derivation: signatures, key encodings and signed prekeys at their extremes, and
//! HKDF with empty and huge inputs.

use crate::common::rng;
use crate::support::HUGE;
use sha2::Sha256;
use xchat_protocol::kdf::{
    self, ChainKey, FIRST_MESSAGE_ID_LEN, LABEL_SIGNED_PREKEY, MessageKey, RootKey, SEED_LEN,
    SharedSecret,
};
use xchat_protocol::prekeys::SignedPreKeyPair;
use xchat_protocol::{
    CertificateKey, CertificateKeyPair, DecodeError, Error, IdentityKey, IdentityKeyPair, KeyPair,
    PublicKey, SignedPreKey,
};
use zeroize::Zeroizing;

#[test]
fn keys_take_extreme_bytes_and_messages() {
    let huge = vec![0xA5; HUGE];
    let mut rng = rng(16);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut sigs = Vec::new();
    for len in [0, 1, HUGE] {
        let sig = id.sign(&huge[..len]);
        assert_eq!(id.public().verify(&huge[..len], &sig), Ok(()));
        sigs.push(sig);
    }
    assert_eq!(
        id.public().verify(&huge, &sigs[0]),
        Err(Error::InvalidSignature)
    );
    assert_eq!(
        id.public().verify(&[], &sigs[2]),
        Err(Error::InvalidSignature)
    );
    for sig in [[0; 64], [0xFF; 64]] {
        for len in [0, HUGE] {
            assert_eq!(
                id.public().verify(&huge[..len], &sig),
                Err(Error::InvalidSignature)
            );
        }
    }

    for seed in [[0; 32], [0xFF; 32]] {
        let pair = IdentityKeyPair::from_seed(&seed);
        assert_eq!(*pair.seed(), seed);
        let again = IdentityKeyPair::from_bytes(&pair.to_bytes()).unwrap();
        assert!(again.ct_eq(&pair));
        assert_eq!(
            IdentityKey::from_bytes(pair.public().to_bytes()),
            Ok(*pair.public())
        );
        let cert = CertificateKeyPair::from_seed(&seed);
        assert_eq!(*cert.seed(), seed);
        assert_eq!(
            CertificateKey::from_bytes(cert.public().to_bytes()),
            Ok(cert.public())
        );
        let kp = KeyPair::from_secret_bytes(seed);
        let other = KeyPair::generate(&mut rng);
        assert_eq!(
            *kp.diffie_hellman(other.public()).unwrap(),
            *other.diffie_hellman(kp.public()).unwrap()
        );
        let zero = PublicKey::from_bytes([0; 32]).unwrap();
        assert_eq!(
            kp.diffie_hellman(&zero).unwrap_err(),
            Error::NonContributory
        );
    }

    // Key encodings at the ends of the byte range.
    let mut p_minus_1 = [0xFF; 32];
    p_minus_1[0] = 0xEC;
    p_minus_1[31] = 0x7F;
    let mut p = p_minus_1;
    p[0] = 0xED;
    assert!(PublicKey::from_bytes([0; 32]).is_ok());
    assert!(PublicKey::from_bytes(p_minus_1).is_ok());
    assert_eq!(PublicKey::from_bytes(p), Err(DecodeError::InvalidKey));
    assert_eq!(
        PublicKey::from_bytes([0xFF; 32]),
        Err(DecodeError::InvalidKey)
    );
    for bytes in [[0; 32], [0xFF; 32], p, p_minus_1] {
        assert_eq!(IdentityKey::from_bytes(bytes), Err(DecodeError::InvalidKey));
        assert_eq!(
            CertificateKey::from_bytes(bytes),
            Err(DecodeError::InvalidKey)
        );
    }

    // Signed prekeys with ids and times at their extremes.
    let key = *KeyPair::generate(&mut rng).public();
    let mut signed = Vec::new();
    for (pid, created_at) in [(0, 0), (u32::MAX, u64::MAX), (0, u64::MAX), (u32::MAX, 0)] {
        let bytes = SignedPreKey::signed_bytes(pid, created_at, &key);
        assert_eq!(bytes.len(), LABEL_SIGNED_PREKEY.len() + 4 + 8 + 32);
        assert!(!signed.contains(&bytes));
        signed.push(bytes);
        let spk = SignedPreKeyPair::generate(&mut rng, &id, pid, created_at);
        assert_eq!(
            (spk.public().id, spk.public().created_at),
            (pid, created_at)
        );
        assert_eq!(spk.public().verify(id.public()), Ok(()));
    }
}

#[test]
fn kdf_takes_empty_and_huge_inputs() {
    let huge = vec![0x3C; HUGE];
    fn reference<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; N] {
        let mut okm = [0; N];
        hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand(info, &mut okm)
            .unwrap();
        okm
    }
    for (salt, ikm, info) in [
        (&[][..], &[][..], &[][..]),
        (&huge[..1], &huge[..1], &huge[..1]),
        (&huge[..], &[][..], &[][..]),
        (&[][..], &huge[..], &[][..]),
        (&[][..], &[][..], &huge[..]),
        (&huge[..], &huge[..], &huge[..]),
    ] {
        assert_eq!(
            *kdf::hkdf_sha256::<0>(salt, ikm, info),
            reference::<0>(salt, ikm, info)
        );
        assert_eq!(
            *kdf::hkdf_sha256::<1>(salt, ikm, info),
            reference::<1>(salt, ikm, info)
        );
        assert_eq!(
            *kdf::hkdf_sha256::<32>(salt, ikm, info),
            reference::<32>(salt, ikm, info)
        );
        // The longest output HKDF-SHA-256 defines: 255 blocks (each block hashes `info` again,
        // so not with a 16 MiB one).
        if info.len() <= 1 {
            assert!(
                kdf::hkdf_sha256::<{ 255 * 32 }>(salt, ikm, info)[..]
                    == reference::<{ 255 * 32 }>(salt, ikm, info)[..]
            );
        }
    }

    let z = [0; 32];
    let f = [0xFF; 32];
    let a = kdf::x3dh(&z, &z, &z, None);
    let b = kdf::x3dh(&f, &f, &f, Some(&f));
    let c = kdf::x3dh(&z, &z, &z, Some(&z));
    assert_ne!(a.as_bytes(), b.as_bytes());
    assert_ne!(a.as_bytes(), c.as_bytes());
    let ids = [kdf::first_message_id(&z), kdf::first_message_id(&f)];
    assert_ne!(ids[0], ids[1]);
    assert_eq!(ids[0].len(), FIRST_MESSAGE_ID_LEN);
    for bytes in [z, f] {
        let root = RootKey::from(SharedSecret::from_bytes(bytes));
        assert_eq!(root.as_bytes(), &bytes);
        for dh in [z, f] {
            let (next_root, chain) = root.ratchet(&Zeroizing::new(dh));
            assert_ne!(next_root.as_bytes(), chain.as_bytes());
        }
        let (next, mk) = ChainKey::from_bytes(bytes).step();
        assert_ne!(next.as_bytes(), mk.as_bytes());
        let mk = MessageKey::from_bytes(bytes);
        let lo = mk.expand(&[0; SEED_LEN]);
        let hi = mk.expand(&[0xFF; SEED_LEN]);
        assert_ne!((lo.key, lo.nonce), (hi.key, hi.nonce));
    }
}
