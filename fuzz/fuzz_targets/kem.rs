//! The ML-KEM decoders (SPEC.md §4.5, §5.1): a KEM prekey record, an encapsulation key (FIPS 203
//! §7.2's checks) and a ciphertext never panic, and whatever decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xchat_protocol::{KemCiphertext, KemPreKey, KemPublicKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = KemPreKey::from_bytes(data) {
        assert_eq!(key.to_bytes(), data);
    }
    // The key check reads the bytes after a KEM prekey record's 13-byte head, or the input.
    let key_bytes = data.get(13..13 + KemPublicKey::LEN).unwrap_or(data);
    if let Ok(key) = KemPublicKey::from_bytes(key_bytes) {
        assert_eq!(key.as_bytes().as_slice(), key_bytes);
    }
    if let Ok(ct) = KemCiphertext::from_bytes(data) {
        assert_eq!(ct.as_bytes().as_slice(), data);
    }
});
