//! Decoding sender and server certificates never panics, round-trips exactly, and validation of
//! whatever decodes never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xchat_protocol::{SenderCertificate, ServerCertificate};

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = SenderCertificate::from_bytes(data) {
        assert_eq!(cert.to_bytes().unwrap(), data);
        let root = cert.server.key;
        let _ = cert.validate(&[root], &[], 0);
    }
    if let Ok(cert) = ServerCertificate::from_bytes(data) {
        assert_eq!(cert.to_bytes(), data);
    }
});
