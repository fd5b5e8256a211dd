//! Identity keys and X25519 key pairs (SPEC.md §4.1).
//!
//! A user's identity is one Ed25519 key pair. Its X25519 form, for the Diffie-Hellman steps of
//! X3DH, comes from the standard birational map and is computed once when the key is created or
//! parsed, never per use. Public keys are parsed strictly: one encoding per key, no weak keys.

use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, Error};

/// An X25519 public key: a prekey, a base key or a ratchet key.
///
/// Parsing rejects non-canonical encodings (the top bit set, or a u-coordinate ≥ 2^255 − 19),
/// so that a key has one encoding; low-order points are rejected where they are used, by the
/// all-zero DH check in [`KeyPair::diffie_hellman`] and wherever the protocol computes a DH.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(x25519_dalek::PublicKey);

impl PublicKey {
    /// Length of the encoding.
    pub const LEN: usize = 32;

    /// Parses a 32-byte little-endian u-coordinate.
    ///
    /// # Errors
    /// [`DecodeError::InvalidKey`] if the encoding is not canonical.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, DecodeError> {
        if !is_canonical_u(&bytes) {
            return Err(DecodeError::InvalidKey);
        }
        Ok(Self(x25519_dalek::PublicKey::from(bytes)))
    }

    /// The 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The 32-byte encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Whether the key is a point of the curve (not its twist) in the prime-order subgroup.
    /// X25519 ignores a point's small-torsion component, so `u(P + T)` for the seven non-trivial
    /// torsion points `T` gives the same DH results as `u(P)`; where a key arrives without any
    /// authentication of its bytes, this check makes it have one encoding (SPEC.md §4.4).
    pub(crate) fn is_torsion_free(&self) -> bool {
        curve25519_dalek::MontgomeryPoint(self.to_bytes())
            .to_edwards(0)
            .is_some_and(|p| p.is_torsion_free())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        hex(f, self.as_bytes())?;
        f.write_str(")")
    }
}

/// True if `u` is the canonical encoding of a field element: top bit clear and `u < 2^255 − 19`.
fn is_canonical_u(u: &[u8; 32]) -> bool {
    let [low, middle @ .., high] = u;
    if *high & 0x80 != 0 {
        return false;
    }
    // u ≥ p exactly when it reads 0x7F FF … FF xx with xx ≥ 0xED.
    !(*high == 0x7F && middle.iter().all(|b| *b == 0xFF) && *low >= 0xED)
}

/// RFC 7748 §5's clamping: clear bits 0–2 of byte 0 and bit 7 of byte 31, set bit 6 of byte 31.
fn clamp(bytes: &mut [u8; 32]) {
    let [low, .., high] = bytes;
    *low &= 0xF8;
    *high &= 0x7F;
    *high |= 0x40;
}

/// Whether stored X25519 secret bytes are in their one clamped form (SPEC.md §10.0).
pub(crate) fn is_clamped(bytes: &[u8; 32]) -> bool {
    let mut clamped = Zeroizing::new(*bytes);
    clamp(&mut clamped);
    bool::from(clamped.ct_eq(bytes))
}

pub(crate) fn hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

/// An X25519 key pair whose public half is computed once.
#[derive(Clone)]
pub struct KeyPair {
    secret: StaticSecret,
    public: PublicKey,
}

impl KeyPair {
    /// Generates a key pair from the caller's RNG: 32 bytes drawn, then clamped (SPEC.md §10.0).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut_slice());
        Self::from_secret_bytes(*bytes)
    }

    /// Rebuilds a key pair from 32 secret bytes, clamped first (RFC 7748 §5): the 32 byte
    /// strings that differ only in the bits X25519 ignores give the same key pair, and it holds
    /// and stores their one clamped form (SPEC.md §10.0). The argument is a copy the caller owns;
    /// wipe it (e.g. keep it in `Zeroizing`) after the call.
    pub fn from_secret_bytes(bytes: [u8; 32]) -> Self {
        let mut bytes = Zeroizing::new(bytes);
        clamp(&mut bytes);
        let secret = StaticSecret::from(*bytes);
        let public = PublicKey(x25519_dalek::PublicKey::from(&secret));
        Self { secret, public }
    }

    /// A key pair read back from state, where its public key is stored beside the secret so
    /// that restoring costs no scalar multiplication (SPEC.md §10.0). The secret must be in its
    /// stored, clamped form.
    fn from_stored(secret: &[u8; 32], public: PublicKey) -> Self {
        Self {
            secret: StaticSecret::from(*secret),
            public,
        }
    }

    /// Reads a stored key pair, `secret (32, clamped) ‖ public (32)`, checking each field as it
    /// is read (SPEC.md §2 rule 7, §10.0): a secret that is not clamped is `NonCanonical` before
    /// the public key is read.
    pub(crate) fn decode_stored(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let secret = Zeroizing::new(r.array::<32>()?);
        if !is_clamped(&secret) {
            return Err(DecodeError::NonCanonical);
        }
        let public = PublicKey::from_bytes(r.array()?)?;
        Ok(Self::from_stored(&secret, public))
    }

    /// Writes `secret ‖ public` (SPEC.md §10.0).
    pub(crate) fn encode_stored(&self, out: &mut Vec<u8>) {
        out.put(self.secret.as_bytes());
        out.put(self.public.as_bytes());
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Wipes the secret in place, before a container moves the pair out to drop it (a move
    /// leaves the old bytes behind; SECURITY.md property 12). The pair is unusable afterwards.
    pub(crate) fn wipe(&mut self) {
        // Assignment drops the old secret in its place, and its `Drop` wipes it there.
        self.secret = StaticSecret::from([0u8; 32]);
    }

    /// X25519 with `their` public key; an all-zero result is [`Error::NonContributory`].
    ///
    /// # Errors
    /// [`Error::NonContributory`].
    pub fn diffie_hellman(&self, their: &PublicKey) -> Result<Zeroizing<[u8; 32]>, Error> {
        dh(&self.secret, their)
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// X25519, refusing a non-contributory (all-zero) result: the peer's key was a low-order point
/// and the output would be known to anyone (SPEC.md §4.4).
pub(crate) fn dh(secret: &StaticSecret, their: &PublicKey) -> Result<Zeroizing<[u8; 32]>, Error> {
    let shared = secret.diffie_hellman(&their.0);
    if !shared.was_contributory() {
        return Err(Error::NonContributory);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// Parses an Ed25519 public key strictly (SPEC.md §2 rule 4): it must decompress, be the
/// canonical encoding of its point, and lie in the prime-order subgroup.
///
/// The last check matters because `A` and `A + T` (T a small-torsion point) are different keys
/// with the same X25519 behaviour, and a signature by `A` verifies under `A + T` whenever
/// `[k]T = 0` (one time in two for T of order 2): without it a relay could present a second
/// "identity" for the same key holder (SPEC.md §2, §4.1).
pub(crate) fn parse_ed25519(bytes: [u8; 32]) -> Result<VerifyingKey, DecodeError> {
    let ed = VerifyingKey::from_bytes(&bytes).map_err(|_| DecodeError::InvalidKey)?;
    let point = ed.to_edwards();
    if ed.is_weak() || point.compress().to_bytes() != bytes || !point.is_torsion_free() {
        return Err(DecodeError::InvalidKey);
    }
    Ok(ed)
}

/// Ed25519 `verify_strict` (SPEC.md §4.2).
pub(crate) fn verify_strict(
    key: &VerifyingKey,
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), Error> {
    key.verify_strict(message, &Signature::from_bytes(signature))
        .map_err(|_| Error::InvalidSignature)
}

/// A user's public identity: an Ed25519 key.
///
/// A key parsed from the network ([`IdentityKey::from_bytes`]) is validated there and keeps its
/// decoded forms (the Ed25519 point and the X25519 form used in X3DH). A key restored from the
/// library's own state was validated when it first entered and is kept as bytes: restoring a
/// session costs no point decompression, and the rare use that needs the point (sealing to it)
/// decodes and validates it then (SPEC.md §10.0).
#[derive(Clone, Copy)]
pub struct IdentityKey {
    bytes: [u8; 32],
    decoded: Option<Decoded>,
}

#[derive(Clone, Copy)]
struct Decoded {
    ed: VerifyingKey,
    x: PublicKey,
}

impl Decoded {
    fn new(ed: VerifyingKey) -> Self {
        let x = PublicKey(x25519_dalek::PublicKey::from(ed.to_montgomery().to_bytes()));
        Self { ed, x }
    }
}

impl IdentityKey {
    /// Length of the encoding (the Ed25519 public key).
    pub const LEN: usize = 32;

    /// Parses an Ed25519 public key strictly: it must decompress, be the canonical encoding of its
    /// point, not be of small order and lie in the prime-order subgroup.
    ///
    /// # Errors
    /// [`DecodeError::InvalidKey`] otherwise.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, DecodeError> {
        Ok(Self::from_verifying_key(parse_ed25519(bytes)?))
    }

    fn from_verifying_key(ed: VerifyingKey) -> Self {
        Self {
            bytes: ed.to_bytes(),
            decoded: Some(Decoded::new(ed)),
        }
    }

    /// A key read back from the library's own state, where it was stored after validation
    /// (SPEC.md §10.0). It is decoded, and validated again, only if a use needs the point.
    pub(crate) fn from_stored(bytes: [u8; 32]) -> Self {
        Self {
            bytes,
            decoded: None,
        }
    }

    fn decoded(&self) -> Result<Decoded, DecodeError> {
        match self.decoded {
            Some(d) => Ok(d),
            None => parse_ed25519(self.bytes).map(Decoded::new),
        }
    }

    /// The 32-byte Ed25519 encoding; this is the identity's one fingerprint input.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.bytes
    }

    /// The 32-byte Ed25519 encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The X25519 form (birational map), used in X3DH and sealed sender.
    ///
    /// # Errors
    /// [`DecodeError::InvalidKey`] only for a key restored from a state blob that was forged to
    /// hold an invalid identity.
    pub fn x25519(&self) -> Result<PublicKey, DecodeError> {
        self.decoded().map(|d| d.x)
    }

    /// Verifies `signature` over `message` with `verify_strict`: non-canonical `s`, and small-order
    /// or non-canonical `R` are rejected.
    ///
    /// # Errors
    /// [`Error::InvalidSignature`].
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), Error> {
        let ed = self.decoded().map_err(|_| Error::InvalidSignature)?.ed;
        verify_strict(&ed, message, signature)
    }
}

impl PartialEq for IdentityKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for IdentityKey {}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey(")?;
        hex(f, &self.bytes)?;
        f.write_str(")")
    }
}

/// A user's identity key pair: Ed25519 for signatures, and its X25519 form for X3DH, derived
/// once on creation.
#[derive(Clone)]
pub struct IdentityKeyPair {
    signing: SigningKey,
    x_secret: StaticSecret,
    public: IdentityKey,
}

impl IdentityKeyPair {
    /// Generates a new identity from the caller's RNG.
    ///
    /// ```
    /// # use xchat_protocol::IdentityKeyPair;
    /// # let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
    /// # use rand_chacha::rand_core::SeedableRng;
    /// let alice = IdentityKeyPair::generate(&mut rng);
    /// let public = alice.public();
    /// assert_eq!(public.to_bytes().len(), 32);
    /// ```
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        // The same 32 draws `SigningKey::generate` makes, kept in a zeroizing buffer.
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut_slice());
        Self::from_seed(&seed)
    }

    /// Rebuilds the identity from its 32-byte Ed25519 seed (RFC 8032's private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        // The Ed25519 secret scalar's bytes, used as an X25519 secret, match the birational map of
        // the Ed25519 public key: X25519 clamps exactly as Ed25519 does (SPEC.md §4.1).
        let x_secret = StaticSecret::from(*Zeroizing::new(signing.to_scalar_bytes()));
        let public = IdentityKey::from_verifying_key(signing.verifying_key());
        Self {
            signing,
            x_secret,
            public,
        }
    }

    /// The 32-byte Ed25519 seed, for persistence. Secret.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public identity.
    pub fn public(&self) -> &IdentityKey {
        &self.public
    }

    /// Signs `message` with Ed25519.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// X25519 between the identity's X25519 form and `their` key.
    pub(crate) fn dh(&self, their: &PublicKey) -> Result<Zeroizing<[u8; 32]>, Error> {
        dh(&self.x_secret, their)
    }

    /// Constant-time equality of two identities' secrets (used by tests and by callers that
    /// compare restored state).
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.signing
            .as_bytes()
            .ct_eq(other.signing.as_bytes())
            .into()
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn birational_map_agrees_with_x25519_of_the_scalar() {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        for _ in 0..8 {
            let id = IdentityKeyPair::generate(&mut rng);
            let from_secret = x25519_dalek::PublicKey::from(&id.x_secret);
            assert_eq!(
                from_secret.as_bytes(),
                id.public().x25519().unwrap().as_bytes()
            );
        }
    }

    #[test]
    fn identity_dh_is_symmetric_with_a_key_pair() {
        let mut rng = ChaCha20Rng::from_seed([4; 32]);
        let id = IdentityKeyPair::generate(&mut rng);
        let kp = KeyPair::generate(&mut rng);
        let a = id.dh(kp.public()).unwrap();
        let b = kp.diffie_hellman(&id.public().x25519().unwrap()).unwrap();
        assert_eq!(*a, *b);
    }

    #[test]
    fn non_canonical_u_coordinates_are_rejected() {
        let mut p = [0xFF; 32];
        p[0] = 0xED;
        p[31] = 0x7F;
        assert_eq!(PublicKey::from_bytes(p), Err(DecodeError::InvalidKey));
        p[0] = 0xEC; // p - 1 is canonical
        assert!(PublicKey::from_bytes(p).is_ok());
        let mut high = [0u8; 32];
        high[31] = 0x80;
        assert_eq!(PublicKey::from_bytes(high), Err(DecodeError::InvalidKey));
    }

    #[test]
    fn low_order_point_is_non_contributory() {
        let mut rng = ChaCha20Rng::from_seed([5; 32]);
        let kp = KeyPair::generate(&mut rng);
        let zero = PublicKey::from_bytes([0; 32]).unwrap();
        assert_eq!(
            kp.diffie_hellman(&zero).unwrap_err(),
            Error::NonContributory
        );
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            kp.diffie_hellman(&PublicKey::from_bytes(one).unwrap())
                .unwrap_err(),
            Error::NonContributory
        );
    }

    #[test]
    fn weak_or_non_canonical_identity_keys_are_rejected() {
        // The identity point (0, 1) encodes as y = 1: small order.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        assert_eq!(
            IdentityKey::from_bytes(identity_point),
            Err(DecodeError::InvalidKey)
        );
        // y = p + 1 is a second encoding of the same small-order point.
        let mut y = [0xFF; 32];
        y[0] = 0xEE;
        y[31] = 0x7F;
        assert_eq!(IdentityKey::from_bytes(y), Err(DecodeError::InvalidKey));
    }

    #[test]
    fn identity_round_trips_through_its_seed_and_signs() {
        let mut rng = ChaCha20Rng::from_seed([6; 32]);
        let id = IdentityKeyPair::generate(&mut rng);
        let again = IdentityKeyPair::from_seed(&id.seed());
        assert!(id.ct_eq(&again));
        let sig = id.sign(b"hello");
        assert!(again.public().verify(b"hello", &sig).is_ok());
        assert_eq!(
            again.public().verify(b"hellO", &sig),
            Err(Error::InvalidSignature)
        );
        let debug = alloc::format!("{id:?}");
        let seed_hex: alloc::string::String = id
            .seed()
            .iter()
            .map(|b| alloc::format!("{b:02x}"))
            .collect();
        assert!(debug.contains("IdentityKeyPair"));
        assert!(!debug.contains(&seed_hex[..16]));
    }
}
