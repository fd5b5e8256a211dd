//! The content frame parser (which sits behind the AEAD in a session, so it is fuzzed directly
//! here): never panics, round-trips exactly, and deadline computation never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xchat_protocol::content::Content;

fuzz_target!(|data: &[u8]| {
    if let Ok(content) = Content::from_padded_bytes(data) {
        assert_eq!(content.to_padded_bytes().unwrap(), data);
        let _ = content.deadline(0);
        let _ = content.deadline(u64::MAX);
        let _ = content.deadline(content.sent_at_ms);
    }
});
