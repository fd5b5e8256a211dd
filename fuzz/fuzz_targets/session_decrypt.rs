//! Arbitrary bytes into a real, established session, through both the raw and the framed
//! receive paths. Nothing panics, and a rejected input leaves the session byte-identical.
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use xchat_protocol::Session;
use xchat_protocol_fuzz::{NOW, fixture};

static STATE: LazyLock<(Vec<u8>, Vec<u8>)> = LazyLock::new(|| {
    let f = fixture();
    (
        f.alice.to_bytes().unwrap().to_vec(),
        f.bob.to_bytes().unwrap().to_vec(),
    )
});

fuzz_target!(|data: &[u8]| {
    for blob in [&STATE.0, &STATE.1] {
        let mut session = Session::from_bytes(blob).unwrap();
        if session.decrypt(data).is_err() {
            assert_eq!(session.to_bytes().unwrap().as_slice(), blob.as_slice());
        }
        let mut session = Session::from_bytes(blob).unwrap();
        // `Err` means unchanged, for every error (an authentic message that expired or does not
        // parse is an `Ok` receipt).
        if session.receive(data, NOW).is_err() {
            assert_eq!(session.to_bytes().unwrap().as_slice(), blob.as_slice());
        }
    }
});
