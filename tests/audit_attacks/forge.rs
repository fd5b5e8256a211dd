//! State blobs forged through the shared reference codec (tests/common/state_codec/, SPEC.md
//! §10), checked: the codec re-encodes the original unchanged, and the edit changes it.

use crate::common::state_codec::{self as codec, Open, Ratchet, SessionBlob, StoreBlob};

/// `codec::edit_store`, checked: the reference codec re-encodes the unedited blob byte for byte (so
/// the forgery differs from the original in the edited field only), and the edit changes it.
pub(crate) fn forge_store(blob: &[u8], edit: impl FnOnce(&mut StoreBlob)) -> Vec<u8> {
    assert!(
        codec::edit_store(blob, |_| {}) == blob,
        "the reference codec re-encodes the store unchanged"
    );
    let forged = codec::edit_store(blob, edit);
    assert!(forged != blob, "the forgery changes the store");
    forged
}

/// `codec::edit_session`, checked as `forge_store` is.
pub(crate) fn forge_session(blob: &[u8], edit: impl FnOnce(&mut SessionBlob)) -> Vec<u8> {
    assert!(
        codec::edit_session(blob, |_| {}) == blob,
        "the reference codec re-encodes the session unchanged"
    );
    let forged = codec::edit_session(blob, edit);
    assert!(forged != blob, "the forgery changes the session");
    forged
}

/// The open ratchet of a decoded session (SPEC.md §10.3 rows 12–17).
pub(crate) fn open_mut(s: &mut SessionBlob) -> &mut Open {
    let Ratchet::Open(open) = &mut s.ratchet else {
        panic!("an open ratchet")
    };
    open
}
