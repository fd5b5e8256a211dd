//! Restoring arbitrary state blobs (identity, prekey store, session) never panics; whatever
//! restores serializes back to the same bytes (a blob of an older format version, to a blob of
//! the current one that is then a fixed point), and a restored session can be used.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xchat_protocol::state::{PREKEY_STORE_VERSION, SESSION_VERSION};
use xchat_protocol::{IdentityKeyPair, PreKeyStore, Session};

/// `saved` is what restoring `data` and saving again gave: the same bytes for the current
/// version; for an older one, a current blob that restores to itself (SPEC.md §10.2, §10.3).
fn check<T>(
    data: &[u8],
    current: u8,
    saved: &[u8],
    restore: impl Fn(&[u8]) -> Option<T>,
    save: impl Fn(&T) -> Vec<u8>,
) {
    if data.get(1) == Some(&current) {
        assert_eq!(saved, data);
    } else {
        assert_eq!(saved.get(1), Some(&current));
        let again = restore(saved).expect("a re-saved blob restores");
        assert_eq!(save(&again), saved);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(id) = IdentityKeyPair::from_bytes(data) {
        assert_eq!(id.to_bytes().as_slice(), data);
    }
    if let Ok(store) = PreKeyStore::from_bytes(data) {
        let saved = store.to_bytes().unwrap();
        check(
            data,
            PREKEY_STORE_VERSION,
            &saved,
            |b| PreKeyStore::from_bytes(b).ok(),
            |s| s.to_bytes().unwrap().to_vec(),
        );
    }
    if let Ok(mut session) = Session::from_bytes(data) {
        let saved = session.to_bytes().unwrap();
        check(
            data,
            SESSION_VERSION,
            &saved,
            |b| Session::from_bytes(b).ok(),
            |s| s.to_bytes().unwrap().to_vec(),
        );
        let mut rng = xchat_protocol_fuzz::rng(1);
        let _ = session.encrypt(&mut rng, b"after restore");
        let _ = session.purge(u64::MAX);
    }
});
