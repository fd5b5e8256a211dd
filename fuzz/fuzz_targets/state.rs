//! Restoring arbitrary state blobs (identity, prekey store, session) never panics; whatever
//! restores serializes back to the same bytes (a blob of an older format version, to a blob of
//! the current one that is then a fixed point), and a restored session can be used.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xchat_protocol::{IdentityKeyPair, PreKeyStore, Session};

/// `saved` is what restoring `data` and saving again gave. A blob of version 3 or later is written
/// back in the same version, byte for byte (an object is written in the oldest version that holds
/// it: 3, or 4 for post-quantum state). An older one migrates to version 3 (it holds no KEM
/// state), which then restores to itself (SPEC.md §10.0, §10.2, §10.3).
fn check<T>(
    data: &[u8],
    saved: &[u8],
    restore: impl Fn(&[u8]) -> Option<T>,
    save: impl Fn(&T) -> Vec<u8>,
) {
    if data.get(1).is_some_and(|v| *v >= 3) {
        assert_eq!(saved, data);
    } else {
        assert_eq!(saved.get(1), Some(&3));
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
            &saved,
            |b| PreKeyStore::from_bytes(b).ok(),
            |s| s.to_bytes().unwrap().to_vec(),
        );
    }
    if let Ok(mut session) = Session::from_bytes(data) {
        let saved = session.to_bytes().unwrap();
        check(
            data,
            &saved,
            |b| Session::from_bytes(b).ok(),
            |s| s.to_bytes().unwrap().to_vec(),
        );
        let mut rng = xchat_protocol_fuzz::rng(1);
        let _ = session.encrypt(&mut rng, b"after restore");
        let _ = session.purge(u64::MAX);
    }
});
