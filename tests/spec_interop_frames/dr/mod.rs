//! §3–§10 in the compact form needed to carry frames: X3DH, the Double Ratchet (in the phases
//! of §6.1), sessions with `send`/`set_timer`/`receive`/`accept`/`purge`, and the §10.2/§10.3
//! blobs through the shared reference codec (`tests/common/state_codec/`).

mod content;
mod ratchet;
mod session;
mod state;
mod wire;

pub use content::Received;
pub use session::{Limits, Session};
pub use state::Store;
pub use wire::{Bundle, Incoming, Normal, PreKeyFields, decode_message};

use crate::codec::DecodeError;
use crate::prim;

pub const LABEL_X3DH: &[u8] = b"xchat-protocol v1 X3DH";
pub const LABEL_ROOT: &[u8] = b"xchat-protocol v1 root chain";
pub const LABEL_MESSAGE: &[u8] = b"xchat-protocol v1 message key";
pub const LABEL_SIGNED_PREKEY: &[u8] = b"xchat-protocol v1 signed prekey";
pub const LABEL_FIRST_MESSAGE: &[u8] = b"xchat-protocol v1 first message";
pub const MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY: usize = 4096;
pub const MAX_PLAINTEXT_LEN: usize = 1 << 20;
pub const MAX_CONTEXT_LEN: usize = 1024;

/// §11.2, spelled as the library's `Debug` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    Decode(DecodeError),
    InvalidSignature,
    NonContributory,
    UnknownSignedPreKey(u32),
    UnknownOneTimePreKey(u32),
    DuplicateMessage,
    TooFarInFuture,
    DecryptionFailed,
    SessionMismatch,
    ChainExhausted,
    TooLarge,
    NotPreKeyMessage,
    Expired,
    InvalidContent(DecodeError),
    SignedPreKeyFull(u32),
    TimerVersionExhausted,
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Decode(e)
    }
}

/// §3.2.
pub fn kdf_rk(rk: &[u8; 32], dh_out: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let okm = prim::hkdf(rk, dh_out, LABEL_ROOT, 64);
    (
        okm[..32].try_into().expect("32"),
        okm[32..].try_into().expect("32"),
    )
}

/// §3.3: `(MK, CK')`.
pub fn kdf_ck(ck: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    (prim::hmac(ck, &[0x01]), prim::hmac(ck, &[0x02]))
}

/// §3.4: `(key, nonce)`.
pub fn expand(mk: &[u8; 32], seed: &[u8; 16]) -> ([u8; 32], [u8; 12]) {
    let okm = prim::hkdf(seed, mk, LABEL_MESSAGE, 44);
    (
        okm[..32].try_into().expect("32"),
        okm[32..].try_into().expect("12"),
    )
}

/// §3.6: `HKDF(salt = 32 zero bytes, IKM = DH3, info = LABEL_FIRST_MESSAGE)[0..16]`.
pub fn first_message_id(dh3: &[u8; 32]) -> [u8; 16] {
    prim::hkdf(&[0u8; 32], dh3, LABEL_FIRST_MESSAGE, 16)
        .try_into()
        .expect("16")
}

/// §3.1.
pub fn x3dh_sk(dhs: &[[u8; 32]]) -> [u8; 32] {
    let mut ikm = vec![0xffu8; 32];
    for d in dhs {
        ikm.extend_from_slice(d);
    }
    prim::hkdf(&[0u8; 32], &ikm, LABEL_X3DH, 32)
        .try_into()
        .expect("32")
}
