//! Decoding a prekey bundle never panics, and whatever decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xchat_protocol::PreKeyBundle;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = PreKeyBundle::from_bytes(data) {
        let bytes = bundle.to_bytes();
        assert_eq!(bytes, data);
        assert_eq!(PreKeyBundle::from_bytes(&bytes).unwrap(), bundle);
    }
});
