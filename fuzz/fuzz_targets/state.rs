//! Restoring arbitrary state blobs (identity, prekey store, session) never panics; whatever
//! restores serializes back to the same bytes, and a restored session can be used.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xchat_protocol::{IdentityKeyPair, PreKeyStore, Session};

fuzz_target!(|data: &[u8]| {
    if let Ok(id) = IdentityKeyPair::from_bytes(data) {
        assert_eq!(id.to_bytes().as_slice(), data);
    }
    if let Ok(store) = PreKeyStore::from_bytes(data) {
        assert_eq!(store.to_bytes().as_slice(), data);
    }
    if let Ok(mut session) = Session::from_bytes(data) {
        assert_eq!(session.to_bytes().as_slice(), data);
        let mut rng = xchat_protocol_fuzz::rng(1);
        let _ = session.encrypt(&mut rng, b"after restore");
        let _ = session.purge(u64::MAX);
    }
});
