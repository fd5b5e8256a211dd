//! X3DH key agreement (Signal X3DH spec rev. 1, SPEC.md §4.4).
//!
//! The initiator ("Alice") uses a bundle; the responder ("Bob") uses his prekeys and the fields
//! of Alice's prekey message. Both compute
//! `SK = HKDF(0 salt, 0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], LABEL_X3DH)` with
//! DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B).
//! Every DH must be contributory.

use rand_core::CryptoRng;

use crate::error::{DecodeError, Error};
use crate::kdf::{self, FIRST_MESSAGE_ID_LEN, SharedSecret};
use crate::keys::{IdentityKey, IdentityKeyPair, KeyPair, PublicKey};
use crate::prekeys::PreKeyBundle;

/// What the initiator learns from X3DH.
pub(crate) struct Initiated {
    pub(crate) secret: SharedSecret,
    pub(crate) base_key: PublicKey,
}

/// What the responder learns from X3DH.
pub(crate) struct Responded {
    pub(crate) secret: SharedSecret,
    /// The id a store remembers this first message by; only without a one-time prekey.
    pub(crate) first_message_id: Option<[u8; FIRST_MESSAGE_ID_LEN]>,
}

/// Alice's side: verifies the bundle's signed prekey with `verify_strict` (aborting on failure),
/// checks that the unsigned one-time prekey has one encoding (SPEC.md §4.4), draws the ephemeral
/// base key, and derives SK. The ephemeral secret is dropped (and zeroized) before returning.
pub(crate) fn initiate<R: CryptoRng + ?Sized>(
    rng: &mut R,
    ours: &IdentityKeyPair,
    bundle: &PreKeyBundle,
) -> Result<Initiated, Error> {
    bundle.signed_prekey.verify(&bundle.identity)?;
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
    let secret = kdf::x3dh(&dh1, &dh2, &dh3, dh4.as_deref());
    Ok(Initiated {
        secret,
        base_key: *ephemeral.public(),
    })
}

/// Bob's side, mirroring [`initiate`].
pub(crate) fn respond(
    ours: &IdentityKeyPair,
    signed_prekey: &KeyPair,
    one_time_prekey: Option<&KeyPair>,
    their_identity: &IdentityKey,
    base_key: &PublicKey,
) -> Result<Responded, Error> {
    let dh1 = signed_prekey.diffie_hellman(&their_identity.x25519()?)?;
    let dh2 = ours.dh(base_key)?;
    let dh3 = signed_prekey.diffie_hellman(base_key)?;
    let dh4 = one_time_prekey
        .map(|otpk| otpk.diffie_hellman(base_key))
        .transpose()?;
    Ok(Responded {
        secret: kdf::x3dh(&dh1, &dh2, &dh3, dh4.as_deref()),
        first_message_id: dh4.is_none().then(|| kdf::first_message_id(&dh3)),
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
                store.signed_prekey(spk.id).unwrap().key_pair(),
                one_time.map(|id| store.one_time_prekey(id).unwrap()),
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
