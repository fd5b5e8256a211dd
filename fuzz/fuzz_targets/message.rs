//! Decoding a session message (normal or prekey) never panics, and round-trips exactly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xchat_protocol::Incoming;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Incoming::decode(data) {
        let bytes = message.to_bytes();
        assert_eq!(bytes, data);
        assert_eq!(Incoming::decode(&bytes).unwrap(), message);
    }
});
