//! Shared helpers: the sizes and times of the cases, the persistence checks, the Padmé and
//! content-frame helpers, and the sealed-sender world.

use crate::common::rng;
use rand_chacha::ChaCha20Rng;
use xchat_protocol::content::{CONTENT_VERSION, FRAME_HEADER_LEN};
use xchat_protocol::{
    CertificateKeyPair, IdentityKeyPair, PreKeyStore, SenderCertificate, ServerCertificate, Session,
};

/// The "much larger" size of every case: 16 MiB.
pub(crate) const HUGE: usize = 16 << 20;
pub(crate) const NOW_MS: u64 = 1_700_000_000_000;
pub(crate) const CHECK_LEN: usize = 16;
/// Length of the X3DH fields before the embedded message of a prekey message with a one-time
/// prekey (SPEC.md §5.3).
pub(crate) const PREKEY_FIELDS_WITH_OTPK: usize = 1 + 1 + 32 + 32 + 4 + 1 + 4;

/// Asserts that a failed call left the object's serialization byte-identical (without printing
/// megabytes on failure).
pub(crate) fn assert_unchanged(before: &[u8], after: &[u8], what: &str) {
    assert!(
        before == after,
        "{what}: the object changed ({} bytes before, {} after)",
        before.len(),
        after.len()
    );
}

pub(crate) fn ids(keys: &[xchat_protocol::OneTimePreKey]) -> Vec<u32> {
    keys.iter().map(|k| k.id).collect()
}

pub(crate) fn reload_session(s: &Session) -> Session {
    let bytes = s.to_bytes().unwrap();
    let again = Session::from_bytes(&bytes).unwrap();
    assert_unchanged(&bytes, &again.to_bytes().unwrap(), "session persistence");
    again
}

pub(crate) fn reload_store(s: &PreKeyStore) -> PreKeyStore {
    let bytes = s.to_bytes().unwrap();
    let again = PreKeyStore::from_bytes(&bytes).unwrap();
    assert_unchanged(&bytes, &again.to_bytes().unwrap(), "store persistence");
    again
}

/// The unpadded length above which Padmé's rounding no longer fits in a `usize`.
pub(crate) fn last_exact_padded_len() -> usize {
    let e = usize::BITS - 1;
    let s = u32::BITS - e.leading_zeros();
    usize::MAX - (1usize << (e - s)) + 1
}

pub(crate) fn frame_header(body_len: u32) -> Vec<u8> {
    let mut h = vec![CONTENT_VERSION, 0x01];
    h.extend_from_slice(&0u64.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0]); // timer off, version 0
    h.extend_from_slice(&body_len.to_be_bytes());
    assert_eq!(h.len(), FRAME_HEADER_LEN);
    h
}

pub(crate) struct World {
    pub(crate) rng: ChaCha20Rng,
    pub(crate) root: CertificateKeyPair,
    pub(crate) server: CertificateKeyPair,
    pub(crate) server_cert: ServerCertificate,
    pub(crate) alice: IdentityKeyPair,
    pub(crate) bob: IdentityKeyPair,
}

pub(crate) fn world(seed: u8) -> World {
    let mut rng = rng(seed);
    let root = CertificateKeyPair::generate(&mut rng);
    let server = CertificateKeyPair::generate(&mut rng);
    let server_cert = root.certify_server(u32::MAX, &server.public());
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    World {
        rng,
        root,
        server,
        server_cert,
        alice,
        bob,
    }
}

impl World {
    pub(crate) fn certify(&self, address: &[u8], expires_ms: u64) -> SenderCertificate {
        self.server
            .certify_sender(
                &self.server_cert,
                address,
                u32::MAX,
                self.alice.public(),
                expires_ms,
            )
            .unwrap()
    }
}
