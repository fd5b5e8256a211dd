//! State blobs forged through the shared reference codec (tests/common/state_codec/, SPEC.md
//! §10): edits through its data model, checked, and body patches of what it cannot express.

use crate::common::state_codec::{self as codec, SessionBlob, StoreBlob};
use crate::common::with;
use xchat_protocol::PreKeyStore;

/// `blob` with `extra` appended to its body, re-sealed by the reference codec (SPEC.md §10.0): a
/// valid header and check over a body with trailing bytes.
pub(crate) fn resealed_with_trailing(blob: &[u8], extra: &[u8]) -> Vec<u8> {
    codec::reseal(blob, &[codec::body(blob), extra].concat())
}

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

/// `blob` with the bytes `was` at offset `at` of its body replaced by `value`, re-sealed: what the
/// data model cannot express (a count that disagrees with its list).
pub(crate) fn patched(blob: &[u8], at: usize, was: &[u8], value: &[u8]) -> Vec<u8> {
    let body = codec::body(blob);
    assert_eq!(&body[at..at + was.len()], was, "the field patched");
    assert_ne!(was, value, "the patch changes the field");
    codec::reseal(blob, &with(body, at..at + was.len(), value))
}

/// Offset in a store's version-3 body of its count of one-time prekeys (SPEC.md §10.2): the body
/// of the same store without one-time prekeys ends with that count.
pub(crate) fn one_time_count_at(store: &StoreBlob) -> usize {
    let head = StoreBlob {
        one_time: Vec::new(),
        ..store.clone()
    };
    head.body_v3().len() - 4
}

/// A prekey store as the reference codec reads it.
pub(crate) fn decoded_store(store: &PreKeyStore) -> StoreBlob {
    StoreBlob::decode(&store.to_bytes().unwrap()).unwrap().1
}

/// The field of a store's next signed prekey id (SPEC.md §10.2).
pub(crate) const NEXT_SIGNED_ID: fn(&mut StoreBlob) -> &mut u32 = |s| &mut s.next_signed_id;
/// The field of a store's next one-time prekey id (SPEC.md §10.2).
pub(crate) const NEXT_ONE_TIME_ID: fn(&mut StoreBlob) -> &mut u32 = |s| &mut s.next_one_time_id;

/// A store whose next signed / one-time prekey id (`field`) is `next`, forged through the
/// reference codec.
pub(crate) fn with_next_id(
    store: &PreKeyStore,
    field: fn(&mut StoreBlob) -> &mut u32,
    next: u32,
) -> PreKeyStore {
    let forged = forge_store(&store.to_bytes().unwrap(), |s| *field(s) = next);
    let (_, mut read) = StoreBlob::decode(&forged).unwrap();
    assert_eq!(*field(&mut read), next, "the forged next id");
    PreKeyStore::from_bytes(&forged).unwrap()
}

/// The number of signed prekeys a store holds (SPEC.md §10.2).
pub(crate) fn signed_prekey_count(store: &PreKeyStore) -> usize {
    decoded_store(store).signed.len()
}
