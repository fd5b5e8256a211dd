//! Shared helpers: blob bytes and fixed-point checks, the `talk` conversation, the secrets a
//! session blob holds, and an independent sealing at rest written from SPEC.md §10.4.

use aes_gcm::aead::{AeadInOut, KeyInit};
use sha2::Sha256;
use xchat_protocol::state::SEALED_KIND_BIT;
use xchat_protocol::{
    CertificateKeyPair, IdentityKeyPair, PreKeyStore, SenderCertificate, Session,
};

use crate::common;
use crate::common::state_codec::{self as codec, K32, Ratchet, SessionBlob};

pub(crate) const NOW: u64 = 1_700_000_000_000;
const LABEL_AT_REST: &[u8] = b"xchat-protocol v1 state at rest";

pub(crate) fn sbytes(s: &Session) -> Vec<u8> {
    s.to_bytes().unwrap().to_vec()
}

pub(crate) fn pbytes(s: &PreKeyStore) -> Vec<u8> {
    s.to_bytes().unwrap().to_vec()
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A decoded blob re-serializes to exactly its bytes, and those bytes decode again.
pub(crate) fn assert_fixed_point(blob: &[u8], what: &str) -> Session {
    let s = Session::from_bytes(blob).unwrap_or_else(|e| panic!("{what}: {e:?}"));
    let again = sbytes(&s);
    assert_eq!(
        again, blob,
        "{what}: decoded blob re-serializes differently"
    );
    s
}

/// After any call the state still serializes to bytes that decode to the same bytes.
pub(crate) fn assert_serializable(s: &Session, what: &str) -> Vec<u8> {
    let b = sbytes(s);
    let again = Session::from_bytes(&b).unwrap_or_else(|e| panic!("{what}: own bytes: {e:?}"));
    assert_eq!(sbytes(&again), b, "{what}: not a fixed point");
    b
}

pub(crate) fn open_mut(s: &mut SessionBlob) -> &mut codec::Open {
    match &mut s.ratchet {
        Ratchet::Open(o) => o,
        Ratchet::Opening(_) => panic!("expected an open ratchet"),
    }
}

/// A sender certificate for `id` from a fixed root and server.
pub(crate) fn certificate_for(id: &IdentityKeyPair) -> (SenderCertificate, CertificateKeyPair) {
    let root = CertificateKeyPair::from_seed(&[0xB1; 32]);
    let server = CertificateKeyPair::from_seed(&[0xB2; 32]);
    let server_cert = root.certify_server(7, &server.public());
    let cert = server
        .certify_sender(&server_cert, b"sender", 1, id.public(), u64::MAX)
        .unwrap();
    (cert, root)
}

/// Alice and Bob after a few turns in both directions, some of Bob's messages held back (Alice
/// holds skipped keys on an old and on the current chain), Alice having sent last (her sending
/// side is a chain), and the messages still in flight to Alice.
pub(crate) struct Talk {
    pub(crate) p: common::Pair,
    /// Bob's messages to Alice not yet delivered.
    pub(crate) to_alice: Vec<Vec<u8>>,
    /// Bob's messages to Alice already delivered (replays must fail).
    pub(crate) delivered: Vec<Vec<u8>>,
}

pub(crate) fn talk(seed: u8) -> Talk {
    let mut p = common::established(seed, true);
    let mut to_alice = Vec::new();
    let mut delivered = Vec::new();
    for round in 0..3u8 {
        for i in 0..3u8 {
            let m = p.bob.encrypt(&mut p.rng, &[b'b', round, i]).unwrap();
            if i == 1 {
                to_alice.push(m);
            } else {
                assert_eq!(p.alice.decrypt(&m).unwrap(), [b'b', round, i]);
                delivered.push(m);
            }
        }
        let m = p.alice.encrypt(&mut p.rng, &[b'a', round]).unwrap();
        p.bob.decrypt(&m).unwrap();
    }
    // A message Bob sends later on his current chain (Alice is at its counter): still in flight.
    let late = p.bob.encrypt(&mut p.rng, b"late").unwrap();
    to_alice.push(late);
    Talk {
        p,
        to_alice,
        delivered,
    }
}

/// Seals `body` at rest as SPEC.md §10.4 says, from the spec alone (HKDF-SHA-256 and AES-256-GCM
/// with the zero nonce; kind | 0x80 and version in the AAD and in the HKDF info).
pub(crate) fn spec_seal(
    key: &[u8; 32],
    kind: u8,
    version: u8,
    salt: [u8; 32],
    body: &[u8],
) -> Vec<u8> {
    let info = [LABEL_AT_REST, &[kind, version]].concat();
    let mut blob_key = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(&salt), key)
        .expand(&info, &mut blob_key)
        .unwrap();
    let mut out = vec![kind | SEALED_KIND_BIT, version];
    out.extend_from_slice(&salt);
    let aad = out.clone();
    let mut ct = body.to_vec();
    let tag = aes_gcm::Aes256Gcm::new((&blob_key).into())
        .encrypt_inout_detached((&[0u8; 12]).into(), &aad, ct.as_mut_slice().into())
        .unwrap();
    out.extend_from_slice(&ct);
    out.extend_from_slice(tag.as_slice());
    out
}

/// Every 32-byte secret a session blob (any version) holds: root key, chain keys, ratchet
/// secret(s), skipped message keys. For versions 1–2 the `DHs` secret is read from its offset
/// (the reference reading drops it when the sending side is pending).
pub(crate) fn session_secrets(blob: &[u8]) -> (Vec<K32>, Option<K32>) {
    let (v, s) = SessionBlob::decode(blob).unwrap();
    let mut out = vec![s.rk];
    if let Some(send) = s.sending() {
        out.extend([send.dhs.secret, send.ck]);
    }
    if let Some(o) = s.open() {
        out.push(o.ckr);
        out.extend(o.skipped.iter().map(|e| e.mk));
    }
    let legacy_dhs = (v < 3).then(|| {
        let opk = if s.opk_id.is_some() { 4 } else { 0 };
        let at = 2 + 2 + 64 + 2 + s.context.len() + 32 + 4 + 1 + opk + 16 + 9 + 32;
        blob[at..at + 32].try_into().unwrap()
    });
    (out, legacy_dhs)
}
