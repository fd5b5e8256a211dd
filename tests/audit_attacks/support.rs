//! Shared helpers: the times, the base key's place in a prekey message, a forger's normal
//! message under a chosen message key, `AD`, and a certificate authority for sealed sender.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_chacha::ChaCha20Rng;
use xchat_protocol::kdf::MessageKey;
use xchat_protocol::{
    CertificateKey, CertificateKeyPair, IdentityKeyPair, SenderCertificate, ServerCertificate,
};

pub(crate) const T0: u64 = 1_700_000_000_000;
pub(crate) const DAY: u64 = 86_400_000;
/// The base key `EK_A` in a prekey message (SPEC.md §5.3).
pub(crate) const BASE_KEY: std::ops::Range<usize> = 34..66;

/// Seals `plaintext` as a normal message under a chosen message key (what a forger who planted
/// that key in a state blob can do), in the layout of SPEC.md §5.2.
pub(crate) fn forge_message(
    ad: &[u8],
    ratchet_key: &[u8; 32],
    pn: u32,
    n: u32,
    mk: [u8; 32],
    plaintext: &[u8],
) -> Vec<u8> {
    let seed = [0x5Au8; 16];
    let mut out = vec![1u8, 1];
    out.extend_from_slice(ratchet_key);
    out.extend_from_slice(&pn.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&seed);
    let mut aad = ad.to_vec();
    aad.extend_from_slice(&out);
    let k = MessageKey::from_bytes(mk).expand(&seed);
    let nonce: Nonce<aes_gcm::aead::consts::U12> = k.nonce.into();
    let mut body = plaintext.to_vec();
    let tag = Aes256Gcm::new((&k.key).into())
        .encrypt_inout_detached(&nonce, &aad, body.as_mut_slice().into())
        .unwrap();
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    out
}

/// `AD` of a session (SPEC.md §3.5).
pub(crate) fn ad(
    initiator: &IdentityKeyPair,
    responder: &IdentityKeyPair,
    context: &[u8],
) -> Vec<u8> {
    let mut ad = initiator.public().to_bytes().to_vec();
    ad.extend_from_slice(&responder.public().to_bytes());
    ad.extend_from_slice(&(context.len() as u16).to_be_bytes());
    ad.extend_from_slice(context);
    ad
}

pub(crate) struct Pki {
    pub(crate) roots: Vec<CertificateKey>,
    pub(crate) server: CertificateKeyPair,
    pub(crate) server_cert: ServerCertificate,
}

pub(crate) fn pki(r: &mut ChaCha20Rng) -> Pki {
    let root = CertificateKeyPair::generate(r);
    let server = CertificateKeyPair::generate(r);
    let server_cert = root.certify_server(1, &server.public());
    Pki {
        roots: vec![root.public()],
        server,
        server_cert,
    }
}

impl Pki {
    pub(crate) fn cert(&self, address: &[u8], id: &IdentityKeyPair) -> SenderCertificate {
        self.server
            .certify_sender(&self.server_cert, address, 1, id.public(), T0 + DAY)
            .unwrap()
    }
}
