//! Every key derivation of the protocol and every label it uses, in one place (SPEC.md §3).
//!
//! The constructions are the ones the Signal X3DH and Double Ratchet specifications define; the
//! labels, lengths and the message-key expansion are our choices and SPEC.md states them.
//!
//! These building blocks are public with the `hazmat` feature, so that test vectors and
//! independent implementations can check every intermediate value; applications never need them.

use alloc::vec::Vec;

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// HKDF info for the X3DH shared secret (SPEC.md §3.1).
pub const LABEL_X3DH: &[u8] = b"xchat-protocol v1 X3DH";
/// HKDF info for KDF_RK, the root-chain step (SPEC.md §3.2).
pub const LABEL_ROOT: &[u8] = b"xchat-protocol v1 root chain";
/// HKDF info that expands a message key and a per-message seed into an AES-256-GCM key and
/// nonce (SPEC.md §3.4).
pub const LABEL_MESSAGE: &[u8] = b"xchat-protocol v1 message key";
/// Prefix of the byte string an identity key signs to certify a signed prekey (SPEC.md §4.2).
pub const LABEL_SIGNED_PREKEY: &[u8] = b"xchat-protocol v1 signed prekey";

/// Prefix of the byte string an identity key signs to certify an ML-KEM prekey (SPEC.md §4.5).
/// It differs from [`LABEL_SIGNED_PREKEY`], so no signature over one key type verifies as the
/// other.
pub const LABEL_KEM_PREKEY: &[u8] = b"xchat-protocol v1 KEM prekey";
/// Prefix of the HKDF info of the PQXDH shared secret; the handshake transcript follows it
/// (SPEC.md §3.1b).
pub const LABEL_PQXDH: &[u8] = b"xchat-protocol v1 PQXDH";

/// HKDF info that expands a group message key and the message's seed into an AES-256-GCM key
/// and nonce (SPEC.md §13.3).
pub const LABEL_GROUP_MESSAGE_KEY: &[u8] = b"xchat-protocol v1 group message key";
/// Prefix of what a sender key's signing key signs: the sender and the whole group message
/// before the signature (SPEC.md §13.3).
pub const LABEL_GROUP_MESSAGE: &[u8] = b"xchat-protocol v1 group message";

/// HKDF info that turns a first message's DH3 into the id a prekey store remembers it by
/// (SPEC.md §3.6, §4.3).
pub const LABEL_FIRST_MESSAGE: &[u8] = b"xchat-protocol v1 first message";

/// Prefix of what a trust root signs to certify a server (SPEC.md §9.1).
pub const LABEL_SERVER_CERTIFICATE: &[u8] = b"xchat-protocol v1 server certificate";
/// Prefix of what a server signs to certify a sender (SPEC.md §9.1).
pub const LABEL_SENDER_CERTIFICATE: &[u8] = b"xchat-protocol v1 sender certificate";
/// HKDF info of sealed sender's ephemeral agreement (SPEC.md §9.2).
pub const LABEL_SEALED_EPHEMERAL: &[u8] = b"xchat-protocol v1 sealed sender ephemeral";
/// HKDF info of sealed sender's static agreement (SPEC.md §9.2).
pub const LABEL_SEALED_STATIC: &[u8] = b"xchat-protocol v1 sealed sender static";

/// HKDF info that wraps a multi-recipient envelope's message key for one recipient (SPEC.md §9.5).
pub const LABEL_MULTI_RECIPIENT: &[u8] = b"xchat-protocol v1 sealed multi-recipient key";
/// HKDF info of a multi-recipient envelope's payload key (SPEC.md §9.5).
pub const LABEL_MULTI_PAYLOAD: &[u8] = b"xchat-protocol v1 sealed multi-recipient payload";
/// Prefix of the HKDF info that derives a sealed state blob's key from the storage key; the
/// blob's kind and version follow it (SPEC.md §10.4).
pub const LABEL_STATE_AT_REST: &[u8] = b"xchat-protocol v1 state at rest";

/// The fixed start of the HKDF-Expand info of a chunked stream (SPEC.md §14.1): C2SP's prefix,
/// the AEAD's IANA name and its zero terminator. The salt and the context follow.
pub const LABEL_CHUNKED: &[u8] = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00";
/// The context every attachment stream is encrypted under (SPEC.md §14.2).
pub const LABEL_ATTACHMENT: &[u8] = b"xchat-protocol v1 attachment";

/// Length of a first-message id (SPEC.md §3.6).
pub const FIRST_MESSAGE_ID_LEN: usize = 16;

/// KDF_CK's HMAC inputs (Double Ratchet spec §5.2).
const CK_MESSAGE: u8 = 0x01;
const CK_NEXT: u8 = 0x02;

/// Length of the random seed each message carries (SPEC.md §3.4).
pub const SEED_LEN: usize = 16;

macro_rules! secret_key_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; 32]);

        // Without `hazmat`, some types are never built from or read as raw bytes.
        #[cfg_attr(not(feature = "hazmat"), allow(dead_code))]
        impl $name {
            /// Wraps raw key bytes.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw key bytes. Handle with care: they are secret.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<secret>)"))
            }
        }
    };
}

secret_key_type!(
    /// The 32-byte secret X3DH agrees on (the spec's SK); it becomes the first root key.
    SharedSecret
);
secret_key_type!(
    /// The Double Ratchet root key (RK).
    RootKey
);
secret_key_type!(
    /// A sending or receiving chain key (CKs / CKr).
    ChainKey
);
secret_key_type!(
    /// A single-use message key (mk).
    MessageKey
);
secret_key_type!(
    /// A sender key's chain key (SPEC.md §13.1): stepped like a ratchet chain, shared with the
    /// group's members.
    GroupChainKey
);
secret_key_type!(
    /// A single-use key of one group message (SPEC.md §13.3).
    GroupMessageKey
);

/// An AES-256-GCM key and nonce expanded from one message key and one seed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct AeadKey {
    /// The AES-256 key.
    pub key: [u8; 32],
    /// The 96-bit GCM nonce.
    pub nonce: [u8; 12],
}

impl core::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AeadKey(<secret>)")
    }
}

fn hkdf<const N: usize>(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> [u8; N] {
    // HKDF-Expand fails only for N > 255 * 32; every caller asks for at most 64 bytes.
    const { assert!(N <= 255 * 32) };
    let mut okm = [0u8; N];
    // The Result cannot be an error (checked at compile time above).
    Hkdf::<Sha256>::new(salt, ikm).expand(info, &mut okm).ok();
    okm
}

/// HKDF-SHA-256 (RFC 5869) with an `N`-byte output: the one HKDF every derivation in this
/// crate goes through. Exposed so that it can be checked against RFC 5869's vectors.
pub fn hkdf_sha256<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; N]> {
    Zeroizing::new(hkdf::<N>(Some(salt), ikm, info))
}

/// HMAC-SHA-256 keyed with a 32-byte key. HMAC zero-pads a key shorter than the 64-byte block,
/// so passing the padded block to the infallible `KeyInit::new` is the same function as keying
/// with the 32 bytes directly.
fn hmac(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut block = hmac::digest::Key::<Hmac<Sha256>>::default();
    if let Some(head) = block.get_mut(..32) {
        head.copy_from_slice(key);
    }
    let mac = <Hmac<Sha256> as KeyInit>::new(&block);
    block.zeroize();
    mac
}

/// X3DH's KDF (X3DH spec §2.2): HKDF-SHA-256 with a zero salt over `F ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4]`,
/// where `F` is 32 0xFF bytes (SPEC.md §3.1).
pub fn x3dh(
    dh1: &[u8; 32],
    dh2: &[u8; 32],
    dh3: &[u8; 32],
    dh4: Option<&[u8; 32]>,
) -> SharedSecret {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * 5));
    ikm.extend_from_slice(&[0xFF; 32]);
    for dh in [Some(dh1), Some(dh2), Some(dh3), dh4].into_iter().flatten() {
        ikm.extend_from_slice(dh);
    }
    // Hkdf treats `None` as HashLen zero bytes, exactly the spec's zero salt.
    SharedSecret(hkdf::<32>(None, &ikm, LABEL_X3DH))
}

/// PQXDH's KDF (SPEC.md §3.1b): HKDF-SHA-256 with a zero salt over
/// `F ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS`, as Signal's PQXDH, with `info = LABEL_PQXDH ‖ transcript`:
/// the transcript names every public value of the handshake, so that `SK` is bound to them
/// whatever the KEM itself binds.
pub fn pqxdh(
    dh1: &[u8; 32],
    dh2: &[u8; 32],
    dh3: &[u8; 32],
    dh4: Option<&[u8; 32]>,
    kem_secret: &[u8; 32],
    transcript: &[u8],
) -> SharedSecret {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * 6));
    ikm.extend_from_slice(&[0xFF; 32]);
    for dh in [Some(dh1), Some(dh2), Some(dh3), dh4].into_iter().flatten() {
        ikm.extend_from_slice(dh);
    }
    ikm.extend_from_slice(kem_secret);
    let mut info = Vec::with_capacity(LABEL_PQXDH.len() + transcript.len());
    info.extend_from_slice(LABEL_PQXDH);
    info.extend_from_slice(transcript);
    SharedSecret(hkdf::<32>(None, &ikm, &info))
}

/// The id under which a responder remembers a first message sent without a one-time prekey:
/// the first 16 bytes of HKDF-SHA-256(zero salt, DH3, [`LABEL_FIRST_MESSAGE`]) (SPEC.md §3.6).
///
/// DH3 = DH(SPK_B, EK_A) depends on the base key only through its prime-order component, so all
/// eight encodings `u(EK_A + T)` of one base key get the same id: replay detection does not
/// depend on the byte form of a point.
pub fn first_message_id(dh3: &[u8; 32]) -> [u8; FIRST_MESSAGE_ID_LEN] {
    // HKDF-Expand's first L bytes do not depend on L: this is the 16-byte prefix of SPEC's value.
    hkdf::<FIRST_MESSAGE_ID_LEN>(None, dh3, LABEL_FIRST_MESSAGE)
}

/// The keys of sealed sender's ephemeral agreement (SPEC.md §9.2).
pub struct SealedEphemeralKeys {
    /// Salt of the static agreement.
    pub chain: Zeroizing<[u8; 32]>,
    /// Seals the sender's identity key.
    pub identity_key: Zeroizing<[u8; 32]>,
}

/// Sealed sender's ephemeral agreement (SPEC.md §9.2): HKDF-SHA-256 with salt `e_pub ‖ IK_R`
/// over `DH(e, IK_R)` and [`LABEL_SEALED_EPHEMERAL`]; 64 bytes split into the chain value and the
/// key that seals the sender's identity.
pub fn sealed_ephemeral(
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
    shared: &[u8; 32],
) -> SealedEphemeralKeys {
    let mut salt = [0u8; 64];
    let (e, ik) = salt.split_at_mut(32);
    e.copy_from_slice(ephemeral);
    ik.copy_from_slice(recipient);
    let okm = hkdf_sha256::<64>(&salt, shared, LABEL_SEALED_EPHEMERAL);
    let (chain, identity_key) = okm.split_at(32);
    let keys = SealedEphemeralKeys {
        chain: Zeroizing::new([0; 32]),
        identity_key: Zeroizing::new([0; 32]),
    };
    let mut keys = keys;
    keys.chain.copy_from_slice(chain);
    keys.identity_key.copy_from_slice(identity_key);
    keys
}

/// A multi-recipient envelope's key for one recipient (SPEC.md §9.5): HKDF-SHA-256 with salt
/// `E ‖ IK_R` over `DH(e, IK_R)` and [`LABEL_MULTI_RECIPIENT`].
pub fn sealed_multi_recipient(
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
    shared: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    let mut salt = [0u8; 64];
    let (e, ik) = salt.split_at_mut(32);
    e.copy_from_slice(ephemeral);
    ik.copy_from_slice(recipient);
    hkdf_sha256::<32>(&salt, shared, LABEL_MULTI_RECIPIENT)
}

/// A multi-recipient envelope's payload key (SPEC.md §9.5): HKDF-SHA-256 with salt `E` over the
/// message key `M` and [`LABEL_MULTI_PAYLOAD`].
pub fn sealed_multi_payload(ephemeral: &[u8; 32], message_key: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    hkdf_sha256::<32>(ephemeral, message_key, LABEL_MULTI_PAYLOAD)
}

/// What one chunked stream is encrypted with (SPEC.md §14.1).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ChunkedKeys {
    /// The AES-256-GCM key of every chunk.
    pub key: [u8; 32],
    /// The base nonce: chunk `i`'s nonce is it XOR `i` (big-endian, right-aligned).
    pub base_nonce: [u8; 12],
    /// Stored after the salt at the start of the stream, and compared before any chunk is
    /// opened: it commits the stream to its input key, salt and context.
    pub commitment: [u8; 32],
}

impl core::fmt::Debug for ChunkedKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ChunkedKeys(<secret>)")
    }
}

/// C2SP chunked encryption's key derivation, instantiated as Cobblestone-256 (SPEC.md §14.1):
/// `key ‖ base nonce ‖ commitment = HKDF-Expand-SHA-512(prk = input key, info = LABEL_CHUNKED ‖
/// salt ‖ context, L = 76)`.
///
/// HKDF-Expand is written out (two HMAC-SHA-512 blocks) rather than taken from `hkdf`, which
/// refuses a PRK shorter than the hash (RFC 5869 asks for "at least HashLen octets"); the C2SP
/// construction expands the 32-byte input key directly, and HMAC is defined for any key length.
pub fn chunked_keys(input_key: &[u8; 32], salt: &[u8; 24], context: &[u8]) -> ChunkedKeys {
    // HMAC zero-pads a short key to the 128-byte block: keying with the padded block is keying
    // with the 32 bytes, through the infallible `KeyInit::new` (as `hmac` above).
    let mut block = hmac::digest::Key::<Hmac<Sha512>>::default();
    if let Some(head) = block.get_mut(..32) {
        head.copy_from_slice(input_key);
    }
    let keyed = <Hmac<Sha512> as KeyInit>::new(&block);
    block.zeroize();
    let expand = |previous: &[u8], counter: u8| {
        let mut mac = keyed.clone();
        mac.update(previous);
        mac.update(LABEL_CHUNKED);
        mac.update(salt);
        mac.update(context);
        mac.update(&[counter]);
        Zeroizing::new(<[u8; 64]>::from(mac.finalize().into_bytes()))
    };
    // T(1) = HMAC(prk, info ‖ 0x01), T(2) = HMAC(prk, T(1) ‖ info ‖ 0x02); 76 of the 128 bytes.
    let t1 = expand(&[], 1);
    let t2 = expand(t1.as_slice(), 2);
    let mut keys = ChunkedKeys {
        key: [0; 32],
        base_nonce: [0; 12],
        commitment: [0; 32],
    };
    let (key, rest) = t1.split_at(32);
    let (nonce, head) = rest.split_at(12);
    keys.key.copy_from_slice(key);
    keys.base_nonce.copy_from_slice(nonce);
    let (first, second) = keys.commitment.split_at_mut(head.len());
    first.copy_from_slice(head);
    if let Some(tail) = t2.get(..second.len()) {
        second.copy_from_slice(tail);
    }
    keys
}

/// Sealed sender's static agreement (SPEC.md §9.2): HKDF-SHA-256 with salt
/// `chain ‖ encrypted identity` over `DH(IK_S, IK_R)` and [`LABEL_SEALED_STATIC`]: the key that
/// seals the content.
pub fn sealed_static(
    chain: &[u8; 32],
    encrypted_identity: &[u8; 48],
    shared: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    let mut salt = Zeroizing::new([0u8; 80]);
    let (c, enc) = salt.split_at_mut(32);
    c.copy_from_slice(chain);
    enc.copy_from_slice(encrypted_identity);
    hkdf_sha256::<32>(salt.as_slice(), shared, LABEL_SEALED_STATIC)
}

impl RootKey {
    /// KDF_RK (Double Ratchet spec §5.2): HKDF-SHA-256 with the root key as salt and the DH
    /// output as input key material; 64 bytes split into the next root key and a chain key.
    pub fn ratchet(&self, dh_out: &Zeroizing<[u8; 32]>) -> (RootKey, ChainKey) {
        let mut okm = hkdf::<64>(Some(&self.0), dh_out.as_slice(), LABEL_ROOT);
        let (rk, ck) = okm.split_at(32);
        let mut out = (RootKey([0; 32]), ChainKey([0; 32]));
        out.0.0.copy_from_slice(rk);
        out.1.0.copy_from_slice(ck);
        okm.zeroize();
        out
    }
}

impl From<SharedSecret> for RootKey {
    fn from(sk: SharedSecret) -> Self {
        RootKey(sk.0)
    }
}

/// KDF_CK (Double Ratchet spec §5.2): `(HMAC(ck, 0x02), HMAC(ck, 0x01))`, the next chain key
/// and the message key.
fn chain_step(ck: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let keyed = hmac(ck);
    let mut for_next = keyed.clone();
    let mut for_message = keyed;
    for_message.update(&[CK_MESSAGE]);
    for_next.update(&[CK_NEXT]);
    (finish(for_next), finish(for_message))
}

impl ChainKey {
    /// KDF_CK (Double Ratchet spec §5.2): message key = HMAC(ck, 0x01), next chain key =
    /// HMAC(ck, 0x02).
    pub fn step(&self) -> (ChainKey, MessageKey) {
        let (next, mk) = chain_step(&self.0);
        (ChainKey(next), MessageKey(mk))
    }
}

impl GroupChainKey {
    /// The ratchet's KDF_CK on a sender key's chain (SPEC.md §13.3): message key =
    /// HMAC(ck, 0x01), next chain key = HMAC(ck, 0x02).
    pub fn step(&self) -> (GroupChainKey, GroupMessageKey) {
        let (next, mk) = chain_step(&self.0);
        (GroupChainKey(next), GroupMessageKey(mk))
    }
}

impl GroupMessageKey {
    /// HKDF-SHA-256(salt = seed, ikm = mk, info = [`LABEL_GROUP_MESSAGE_KEY`]) → key ‖ nonce,
    /// as [`MessageKey::expand`] under the group's own label (SPEC.md §13.3).
    pub fn expand(&self, seed: &[u8; SEED_LEN]) -> AeadKey {
        AeadKey::expand(seed, &self.0, LABEL_GROUP_MESSAGE_KEY)
    }
}

impl AeadKey {
    fn expand(seed: &[u8; SEED_LEN], mk: &[u8; 32], label: &[u8]) -> AeadKey {
        let mut okm = hkdf::<44>(Some(seed), mk, label);
        let mut out = AeadKey {
            key: [0; 32],
            nonce: [0; 12],
        };
        let (k, n) = okm.split_at(32);
        out.key.copy_from_slice(k);
        out.nonce.copy_from_slice(n);
        okm.zeroize();
        out
    }
}

fn finish(mac: Hmac<Sha256>) -> [u8; 32] {
    mac.finalize().into_bytes().into()
}

impl MessageKey {
    /// Expands the message key with the message's random seed into the AEAD key and nonce:
    /// HKDF-SHA-256(salt = seed, ikm = mk, info = [`LABEL_MESSAGE`]) → 44 bytes = key ‖ nonce.
    ///
    /// The seed is what makes a restored-from-backup session safe: even if an old state derives
    /// the same `mk` twice, two messages share a (key, nonce) only if they drew the same 128-bit
    /// seed (SPEC.md §3.4).
    pub fn expand(&self, seed: &[u8; SEED_LEN]) -> AeadKey {
        AeadKey::expand(seed, &self.0, LABEL_MESSAGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_with_padded_block_equals_keyed_hmac() {
        let key = [7u8; 32];
        let mut a = hmac(&key);
        a.update(b"abc");
        let mut b = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        b.update(b"abc");
        assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes());
    }

    #[test]
    fn chain_step_separates_message_and_next_key() {
        let ck = ChainKey([1; 32]);
        let (next, mk) = ck.step();
        assert_ne!(next.0, mk.0);
        assert_ne!(next.0, ck.0);
        let (next2, mk2) = next.step();
        assert_ne!(mk.0, mk2.0);
        assert_ne!(next.0, next2.0);
    }

    #[test]
    fn x3dh_depends_on_every_input_and_on_the_optional_fourth_dh() {
        let three = x3dh(&[1; 32], &[2; 32], &[3; 32], None);
        let four = x3dh(&[1; 32], &[2; 32], &[3; 32], Some(&[4; 32]));
        let swapped = x3dh(&[2; 32], &[1; 32], &[3; 32], None);
        assert_ne!(three.0, four.0);
        assert_ne!(three.0, swapped.0);
    }

    #[test]
    fn debug_hides_secret_bytes() {
        let s = alloc::format!("{:?}", ChainKey([0xAB; 32]));
        assert_eq!(s, "ChainKey(<secret>)");
    }
}
