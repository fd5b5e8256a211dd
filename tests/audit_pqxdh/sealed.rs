//! Sealed sender around PQXDH first messages (SPEC.md §5.4, §9.2, §9.4): the envelope's size
//! bound was made for X3DH prekey messages.

use xchat_protocol::content::max_body_len;
use xchat_protocol::sealed_sender::{MAX_SEALED_MESSAGE_LEN, seal};
use xchat_protocol::{CertificateKeyPair, IdentityKeyPair, SealedRecipient};

use crate::common::rng;
use crate::support::{COMBOS, NOW, first, pq, responder};

/// FINDING 1 (low-medium: availability of the messenger API; no confidentiality or integrity
/// impact). `MAX_SEALED_MESSAGE_LEN = 2^20 + 256` ("a prekey message of a maximal plaintext",
/// sealed_sender/mod.rs; SPEC.md §9.2, and `MAX_ENVELOPE_LEN` of §9.4 derived from it) leaves
/// 256 bytes of overhead: enough for an X3DH prekey message (75 + 58 + 16 = 149), not for a PQXDH
/// one (1648 + 58 + 16 = 1722, SPEC.md §5.4: up to 1 050 298 bytes). So every first message whose
/// content frame pads to the largest Padmé size, 2^20 — bodies of 1 032 170 bytes up to
/// `max_body_len()` = 1 048 553, all of which `send` accepts — cannot be sealed: `seal` fails with
/// `TooLarge` (measured: 1 032 169 is the largest body that seals), and
/// PQXDH is now the default handshake. (A normal message of the same body still seals.)
///
/// Fix: `MAX_SEALED_MESSAGE_LEN` = `MAX_PLAINTEXT_LEN` plus `PreKeyFields::MAX_LEN`,
/// `MESSAGE_PREFIX_LEN` and `TAG_LEN` (2^20 + 1722), with `MAX_ENVELOPE_LEN` following; update
/// SPEC.md §9.2/§9.4 and the interop copies of the constant.
#[test]
fn fixed_a_maximal_pqxdh_first_message_fits_a_sealed_envelope() {
    let mut r = rng(130);
    let mut bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let root = CertificateKeyPair::generate(&mut r);
    let server = CertificateKeyPair::generate(&mut r);
    let server_cert = root.certify_server(1, &server.public());
    let cert = server
        .certify_sender(&server_cert, b"alice", 1, alice.public(), NOW + 86_400_000)
        .unwrap();
    let (mut a, _) = first(&mut r, &alice, &bob.bundle(COMBOS[3], 0));
    let body = vec![0x42; max_body_len()];
    let m = a.send(&mut r, NOW, &body).unwrap();
    assert_eq!(m.len(), 1_050_298);
    assert_eq!(m.len(), MAX_SEALED_MESSAGE_LEN); // the largest first message fits exactly
    let envelope = seal(&mut r, &alice, &cert, &a, &m).expect("a first message `send` made");
    let roots = [root.public()];
    let view = SealedRecipient {
        identity: &bob.id,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    let opened = view.open(&envelope, NOW).unwrap();
    let (_b, delivered) = opened.respond(&bob.id, &mut bob.store, &pq()).unwrap();
    assert_eq!(delivered.receipt.message().unwrap().body, body);
}
