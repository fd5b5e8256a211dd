//! Opening arbitrary sealed envelopes as Bob: nothing panics. Inputs that open are decrypted
//! with Bob's session, which must stay byte-identical if that fails before authentication
//! (any error).
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use xchat_protocol::{CertificateKey, IdentityKeyPair, SealedRecipient, Session};
use xchat_protocol_fuzz::{NOW, fixture};

static STATE: LazyLock<([u8; 32], CertificateKey, Vec<u8>)> = LazyLock::new(|| {
    let f = fixture();
    (*f.bob_id.seed(), f.root, f.bob.to_bytes().unwrap().to_vec())
});

fuzz_target!(|data: &[u8]| {
    let bob = IdentityKeyPair::from_seed(&STATE.0);
    let roots = [STATE.1];
    let recipient = SealedRecipient {
        identity: &bob,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    if let Ok(opened) = recipient.open(data, NOW) {
        let mut session = Session::from_bytes(&STATE.2).unwrap();
        // `Err` means unchanged, for every error (an authentic message that expired or does not
        // parse is an `Ok` receipt).
        if let Err(e) = opened.decrypt(&mut session) {
            assert_eq!(
                session.to_bytes().unwrap().as_slice(),
                STATE.2.as_slice(),
                "{e:?}"
            );
        }
    }
});
