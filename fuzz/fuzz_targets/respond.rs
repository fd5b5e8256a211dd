//! Arbitrary bytes as a first (prekey) message to a responder: nothing panics, and a rejected
//! message leaves the prekey store byte-identical (no one-time prekey is burned).
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use xchat_protocol::Config;
use xchat_protocol::{IdentityKeyPair, PreKeyStore, Session};
use xchat_protocol_fuzz::{NOW, fixture};

static STATE: LazyLock<([u8; 32], Vec<u8>)> = LazyLock::new(|| {
    let f = fixture();
    (*f.bob_id.seed(), f.bob_store.to_bytes().unwrap().to_vec())
});

fuzz_target!(|data: &[u8]| {
    let bob = IdentityKeyPair::from_seed(&STATE.0);
    let mut store = PreKeyStore::from_bytes(&STATE.1).unwrap();
    if Session::respond(&bob, &mut store, data, &Config::new(b"fuzz")).is_err() {
        assert_eq!(store.to_bytes().unwrap().as_slice(), STATE.1.as_slice());
    }
    let mut store = PreKeyStore::from_bytes(&STATE.1).unwrap();
    let _ = Session::accept(&bob, &mut store, data, &Config::new(b"fuzz"), NOW);
});
