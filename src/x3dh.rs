//! X3DH and PQXDH key agreement (Signal's X3DH rev. 1 and PQXDH; SPEC.md §4.4, §4.5).
//!
//! The initiator ("Alice") uses a bundle; the responder ("Bob") uses his prekeys and the fields
//! of Alice's prekey message. Both compute DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B),
//! DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B), every one contributory. X3DH:
//! `SK = HKDF(0 salt, 0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], LABEL_X3DH)`. PQXDH adds an ML-KEM-1024
//! encapsulation to the bundle's signed KEM prekey: `SS` joins the key material and the whole
//! transcript the info (SPEC.md §3.1b).

use alloc::vec::Vec;

use rand_core::CryptoRng;

use crate::codec::Writer;
use crate::error::{DecodeError, Error};
use crate::kdf::{self, FIRST_MESSAGE_ID_LEN, SharedSecret};
use crate::kem::{KEM_CIPHERTEXT_LEN, KemKeyPair, KemPublicKey};
use crate::keys::{IdentityKey, IdentityKeyPair, KeyPair, PublicKey};
use crate::prekeys::{KemUse, PreKeyBundle};
use crate::wire::{KemFields, KemPart, PROTOCOL_VERSION_PQXDH};

/// What the initiator learns from the handshake.
pub(crate) struct Initiated {
    pub(crate) secret: SharedSecret,
    pub(crate) base_key: PublicKey,
    /// PQXDH: the KEM prekey named, and the ciphertext to send.
    pub(crate) kem: Option<KemPart>,
}

/// The public values a PQXDH secret is bound to, in the order of SPEC.md §3.1b.
pub(crate) struct Transcript<'a> {
    pub(crate) initiator: &'a IdentityKey,
    pub(crate) responder: &'a IdentityKey,
    pub(crate) signed_prekey: (u32, &'a PublicKey),
    pub(crate) one_time_prekey: Option<(u32, &'a PublicKey)>,
    pub(crate) base_key: &'a PublicKey,
    pub(crate) kem_prekey: (KemUse, u32, &'a KemPublicKey),
    pub(crate) ciphertext: &'a [u8; KEM_CIPHERTEXT_LEN],
}

impl Transcript<'_> {
    /// `0x02 ‖ IK_A ‖ IK_B ‖ SPK id ‖ SPK_B ‖ flag [‖ OPK id ‖ OPK_B] ‖ EK_A ‖ KEM use ‖ KEM id ‖
    /// KEM prekey ‖ CT`.
    fn to_bytes(&self) -> Vec<u8> {
        let mut t = Vec::with_capacity(1 + 64 + 36 + 37 + 32 + 5 + 2 * KEM_CIPHERTEXT_LEN);
        t.put_u8(PROTOCOL_VERSION_PQXDH);
        t.put(self.initiator.as_bytes());
        t.put(self.responder.as_bytes());
        t.put_u32(self.signed_prekey.0);
        t.put(self.signed_prekey.1.as_bytes());
        t.put_flag(self.one_time_prekey.is_some());
        if let Some((id, key)) = self.one_time_prekey {
            t.put_u32(id);
            t.put(key.as_bytes());
        }
        t.put(self.base_key.as_bytes());
        t.put_u8(self.kem_prekey.0.byte());
        t.put_u32(self.kem_prekey.1);
        t.put(self.kem_prekey.2.as_bytes());
        t.put(self.ciphertext);
        t
    }
}

/// What the responder learns from X3DH.
pub(crate) struct Responded {
    pub(crate) secret: SharedSecret,
    /// The id a store remembers this first message by; only without a one-time prekey.
    pub(crate) first_message_id: Option<[u8; FIRST_MESSAGE_ID_LEN]>,
}

/// Alice's side: verifies the bundle's signatures with `verify_strict` (aborting on failure),
/// checks that the unsigned one-time prekey has one encoding (SPEC.md §4.4), draws the ephemeral
/// base key, and derives SK. The ephemeral secret is dropped (and zeroized) before returning.
pub(crate) fn initiate<R: CryptoRng + ?Sized>(
    rng: &mut R,
    ours: &IdentityKeyPair,
    bundle: &PreKeyBundle,
) -> Result<Initiated, Error> {
    bundle.verify()?;
    let spk = &bundle.signed_prekey.key;
    let ephemeral = KeyPair::generate(rng);
    let dh1 = ours.dh(spk)?;
    let dh2 = ephemeral.diffie_hellman(&bundle.identity.x25519()?)?;
    let dh3 = ephemeral.diffie_hellman(spk)?;
    let dh4 = bundle
        .one_time_prekey
        .map(|otpk| ephemeral.diffie_hellman(&otpk.key))
        .transpose()?;
    // The signed prekey's bytes are signed and the identity key is torsion-free (keys.rs), but
    // the one-time prekey is not signed (X3DH spec §3.2): refuse its seven torsion variants
    // (a low-order one has already failed as non-contributory).
    if let Some(otpk) = &bundle.one_time_prekey
        && !otpk.key.is_torsion_free()
    {
        return Err(Error::Decode(DecodeError::InvalidKey));
    }
    let Some(kem) = &bundle.kem_prekey else {
        return Ok(Initiated {
            secret: kdf::x3dh(&dh1, &dh2, &dh3, dh4.as_deref()),
            base_key: *ephemeral.public(),
            kem: None,
        });
    };
    let (ciphertext, kem_secret) = kem.key.encapsulate(rng);
    let transcript = Transcript {
        initiator: ours.public(),
        responder: &bundle.identity,
        signed_prekey: (bundle.signed_prekey.id, spk),
        one_time_prekey: bundle.one_time_prekey.as_ref().map(|k| (k.id, &k.key)),
        base_key: ephemeral.public(),
        kem_prekey: (kem.usage, kem.id, &kem.key),
        ciphertext: ciphertext.as_bytes(),
    };
    let secret = kdf::pqxdh(
        &dh1,
        &dh2,
        &dh3,
        dh4.as_deref(),
        &kem_secret,
        &transcript.to_bytes(),
    );
    Ok(Initiated {
        secret,
        base_key: *ephemeral.public(),
        kem: Some(KemPart {
            usage: kem.usage,
            id: kem.id,
            ciphertext,
        }),
    })
}

/// Bob's side, mirroring [`initiate`]: `signed_prekey` and `one_time_prekey` with their ids, and
/// for PQXDH the KEM prekey the message names with its fields. Decapsulation cannot fail (ML-KEM
/// rejects implicitly): a ciphertext made for another key gives a secret that matches nothing,
/// and the first message then fails to authenticate.
pub(crate) fn respond(
    ours: &IdentityKeyPair,
    signed_prekey: (u32, &KeyPair),
    one_time_prekey: Option<(u32, &KeyPair)>,
    kem: Option<(&KemKeyPair, KemFields<'_>)>,
    their_identity: &IdentityKey,
    base_key: &PublicKey,
) -> Result<Responded, Error> {
    let (spk_id, signed_prekey) = signed_prekey;
    let dh1 = signed_prekey.diffie_hellman(&their_identity.x25519()?)?;
    let dh2 = ours.dh(base_key)?;
    let dh3 = signed_prekey.diffie_hellman(base_key)?;
    let dh4 = one_time_prekey
        .map(|(_, otpk)| otpk.diffie_hellman(base_key))
        .transpose()?;
    // Replay protection is the deletion of a one-time key when one was used (an X25519 or a KEM
    // one); otherwise the signed prekey's record of first-message ids (SPEC.md §4.3).
    let one_time_kem = kem.is_some_and(|(_, f)| f.usage == KemUse::OneTime);
    let first_message_id = (dh4.is_none() && !one_time_kem).then(|| kdf::first_message_id(&dh3));
    let Some((kem_pair, fields)) = kem else {
        return Ok(Responded {
            secret: kdf::x3dh(&dh1, &dh2, &dh3, dh4.as_deref()),
            first_message_id,
        });
    };
    let kem_secret = kem_pair.decapsulate_bytes(fields.ciphertext);
    let transcript = Transcript {
        initiator: their_identity,
        responder: ours.public(),
        signed_prekey: (spk_id, signed_prekey.public()),
        one_time_prekey: one_time_prekey.map(|(id, k)| (id, k.public())),
        base_key,
        kem_prekey: (fields.usage, fields.id, kem_pair.public()),
        ciphertext: fields.ciphertext,
    };
    let secret = kdf::pqxdh(
        &dh1,
        &dh2,
        &dh3,
        dh4.as_deref(),
        &kem_secret,
        &transcript.to_bytes(),
    );
    Ok(Responded {
        secret,
        first_message_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prekeys::PreKeyStore;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn both_sides_agree_with_and_without_one_time_prekey() {
        let mut rng = ChaCha20Rng::from_seed([11; 32]);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        let spk = store.rotate_signed_prekey(&mut rng, &bob, 5000);
        let otpk = store.generate_one_time_prekeys(&mut rng, 1).unwrap()[0];
        for one_time in [None, Some(otpk.id)] {
            let bundle = store.bundle(&bob, one_time).unwrap();
            let a = initiate(&mut rng, &alice, &bundle).unwrap();
            let b = respond(
                &bob,
                (spk.id, store.signed_prekey(spk.id).unwrap().key_pair()),
                one_time.map(|id| (id, store.one_time_prekey(id).unwrap())),
                None,
                alice.public(),
                &a.base_key,
            )
            .unwrap();
            assert_eq!(a.secret.as_bytes(), b.secret.as_bytes());
        }
    }

    #[test]
    fn bad_signature_aborts_before_any_key_is_drawn() {
        let mut rng = ChaCha20Rng::from_seed([12; 32]);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(&mut rng, &bob, 5000);
        let mut bundle = store.bundle(&bob, None).unwrap();
        bundle.signed_prekey.signature[0] ^= 1;
        assert!(matches!(
            initiate(&mut rng, &alice, &bundle),
            Err(Error::InvalidSignature)
        ));
    }

    #[test]
    fn low_order_one_time_prekey_is_rejected() {
        let mut rng = ChaCha20Rng::from_seed([13; 32]);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(&mut rng, &bob, 5000);
        let mut bundle = store.bundle(&bob, None).unwrap();
        bundle.one_time_prekey = Some(crate::prekeys::OneTimePreKey {
            id: 1,
            key: PublicKey::from_bytes([0; 32]).unwrap(),
        });
        assert!(matches!(
            initiate(&mut rng, &alice, &bundle),
            Err(Error::NonContributory)
        ));
    }
}
