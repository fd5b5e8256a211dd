//! Fixtures shared by the fuzz targets: deterministic parties, sessions and certificates, built
//! once per process through the public API from fixed seeds.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::sealed_sender::{seal, seal_for_group};
use xchat_protocol::{
    CertificateKey, CertificateKeyPair, Config, IdentityKeyPair, PreKeyStore, SenderCertificate,
    Session, Trust,
};

pub const NOW: u64 = 1_700_000_000_000;

pub fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// Alice and Bob with an established session (Alice has heard back), Bob's prekey store, and a
/// certificate chain for sealed sender.
pub struct Fixture {
    pub rng: ChaCha20Rng,
    pub alice_id: IdentityKeyPair,
    pub bob_id: IdentityKeyPair,
    pub bob_store: PreKeyStore,
    pub alice: Session,
    pub bob: Session,
    pub root: CertificateKey,
    pub alice_cert: SenderCertificate,
    /// A prekey message from a third party (Carol) to Bob, not yet answered.
    pub pending_prekey_message: Vec<u8>,
    /// A sealed envelope from Alice to Bob.
    pub envelope: Vec<u8>,
}

pub fn fixture() -> Fixture {
    let mut rng = rng(7);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let carol_id = IdentityKeyPair::generate(&mut rng);
    let mut bob_store = PreKeyStore::new();
    bob_store.rotate_signed_prekey(&mut rng, &bob_id, NOW);
    bob_store.generate_one_time_prekeys(&mut rng, 4).unwrap();
    // PQXDH: a last-resort and two one-time KEM prekeys, so that first messages reach the KEM
    // paths (SPEC.md §4.5). Alice's session uses a one-time KEM prekey, Carol's the last-resort one.
    bob_store.rotate_kem_prekey(&mut rng, &bob_id, NOW);
    let kem = bob_store
        .generate_kem_one_time_prekeys(&mut rng, &bob_id, 2, NOW)
        .unwrap();
    let bundle = bob_store
        .bundle_with_kem_one_time(&bob_id, Some(0), kem[0].id)
        .unwrap();
    let mut alice = Session::initiate(
        &mut rng,
        &alice_id,
        &bundle,
        Trust::FirstUse,
        &Config::new(b"fuzz").allow_classical(),
    )
    .unwrap();
    let first = alice.send(&mut rng, NOW, b"hello").unwrap();
    let (mut bob, _) = Session::accept(
        &bob_id,
        &mut bob_store,
        &first,
        &Config::new(b"fuzz").allow_classical(),
        NOW,
    )
    .unwrap();
    let reply = bob.send(&mut rng, NOW, b"hi").unwrap();
    alice.receive(&reply, NOW).unwrap();

    let carol_bundle = bob_store.bundle(&bob_id, Some(1)).unwrap();
    let mut carol = Session::initiate(
        &mut rng,
        &carol_id,
        &carol_bundle,
        Trust::FirstUse,
        &Config::new(b"fuzz").allow_classical(),
    )
    .unwrap();
    let pending_prekey_message = carol.send(&mut rng, NOW, b"from carol").unwrap();

    let root_pair = CertificateKeyPair::generate(&mut rng);
    let server = CertificateKeyPair::generate(&mut rng);
    let server_cert = root_pair.certify_server(1, &server.public());
    let alice_cert = server
        .certify_sender(
            &server_cert,
            b"alice",
            1,
            alice_id.public(),
            NOW + 86_400_000,
        )
        .unwrap();
    let inner = alice.send(&mut rng, NOW, b"sealed").unwrap();
    let envelope = seal(&mut rng, &alice_id, &alice_cert, &alice, &inner).unwrap();
    Fixture {
        rng,
        alice_id,
        bob_id,
        bob_store,
        alice,
        bob,
        root: root_pair.public(),
        alice_cert,
        pending_prekey_message,
        envelope,
    }
}

/// A group of three devices (SPEC.md §13) where Bob holds Alice's and Carol's sender keys, and
/// Alice's first messages and distribution, for the group target and its seeds; and Alice's next
/// message sealed for the group (SPEC.md §9.5), with the certificate chain Bob opens it under.
pub struct GroupFixture {
    pub alice: xchat_protocol::IdentityKey,
    pub carol: xchat_protocol::IdentityKey,
    /// Bob's identity, to open multi-recipient envelopes.
    pub bob_id: IdentityKeyPair,
    /// Bob's group, holding both sender keys.
    pub bob: xchat_protocol::GroupSession,
    /// Raw and framed messages from Alice, in order.
    pub messages: Vec<Vec<u8>>,
    /// Alice's distribution (secret: a fuzz fixture only).
    pub distribution: Vec<u8>,
    /// The trust root of Alice's certificate.
    pub root: CertificateKey,
    /// Alice's fourth message (framed, not in `messages`) sealed for Bob and Carol: the upload.
    pub upload: Vec<u8>,
    /// Bob's index in the upload's recipients.
    pub bob_index: usize,
    /// Bob's envelope, as the relay splits it from the upload.
    pub envelope: Vec<u8>,
}

pub fn group_fixture() -> GroupFixture {
    use xchat_protocol::GroupSession;
    use xchat_protocol::group::{GroupConfig, GroupId, SenderKeyDistribution};
    let mut rng = rng(11);
    let ids: Vec<IdentityKeyPair> = (0..3)
        .map(|_| IdentityKeyPair::generate(&mut rng))
        .collect();
    let keys: Vec<_> = ids.iter().map(|i| *i.public()).collect();
    let config = GroupConfig::default();
    let mut groups: Vec<GroupSession> = keys
        .iter()
        .map(|k| GroupSession::new(&mut rng, k, GroupId([5; 32]), &keys, NOW, config).unwrap())
        .collect();
    let mut distribution = Vec::new();
    for from in [0, 2] {
        let pending = groups[from].distribution(&mut rng, NOW);
        let bytes = pending.distribution.to_bytes().to_vec();
        let d = SenderKeyDistribution::from_bytes(&bytes).unwrap();
        groups[1].process_distribution(&keys[from], &d).unwrap();
        for m in &pending.recipients {
            groups[from]
                .mark_distributed(m, &pending.distribution)
                .unwrap();
        }
        if from == 0 {
            distribution = bytes;
        }
    }
    let raw = groups[0].encrypt(&mut rng, NOW, b"raw").unwrap();
    let framed = groups[0].send(&mut rng, NOW, b"framed").unwrap();
    let timer = groups[0]
        .set_timer(&mut rng, NOW, 60, xchat_protocol::TimerStart::OnSend)
        .unwrap();
    let messages = vec![raw, framed, timer];

    // A certificate chain, and Alice's next message sealed once for Bob and Carol (SPEC.md §9.5).
    // Drawn after everything above, so that the other seeds do not change.
    let root = CertificateKeyPair::generate(&mut rng);
    let server = CertificateKeyPair::generate(&mut rng);
    let server_cert = root.certify_server(1, &server.public());
    let alice_cert = server
        .certify_sender(&server_cert, b"alice", 1, &keys[0], NOW + 86_400_000)
        .unwrap();
    let sealed = groups[0]
        .send(&mut rng, NOW, b"sealed for the group")
        .unwrap();
    let multi = seal_for_group(&mut rng, &ids[0], &alice_cert, &groups[0], &sealed).unwrap();
    let bob_index = multi
        .recipients()
        .iter()
        .position(|k| k == &keys[1])
        .unwrap();
    let envelope = multi.for_recipient(bob_index).unwrap();

    let bob = groups.swap_remove(1);
    GroupFixture {
        alice: keys[0],
        carol: keys[2],
        bob_id: ids.into_iter().nth(1).unwrap(),
        bob,
        messages,
        distribution,
        root: root.public(),
        upload: multi.to_bytes().to_vec(),
        bob_index,
        envelope,
    }
}

/// The size of the fixture attachment: three chunks once padded (to 40 960 bytes, SPEC.md
/// §14.3), the last one short and ending in padding.
pub const ATTACHMENT_LEN: usize = 40_000;

/// One attachment (SPEC.md §14) sealed through the public API, for the attachment target and its
/// seeds: its descriptor, its file, the plaintext its stream encrypts and the stream the server
/// stores. The descriptor holds the key: a fuzz fixture only.
pub struct AttachmentFixture {
    pub descriptor: xchat_protocol::attachment::AttachmentDescriptor,
    /// The descriptor's encoding.
    pub descriptor_bytes: Vec<u8>,
    /// The file: [`ATTACHMENT_LEN`] bytes, none of them zero (so that a size claimed shorter
    /// puts a non-zero byte in the padding).
    pub file: Vec<u8>,
    /// The file followed by its padding: the plaintext of the stream.
    pub padded: Vec<u8>,
    /// The stored stream: header, then every sealed chunk.
    pub stored: Vec<u8>,
    /// The SHA-256 digest of `stored`, as `AttachmentEncryptor::with_digest` computes it (the
    /// fixture's descriptor carries none): the only digest under which the stream completes.
    pub digest: [u8; 32],
}

pub fn attachment_fixture() -> AttachmentFixture {
    use xchat_protocol::attachment::{AttachmentEncryptor, AttachmentInfo, padded_size};
    let mut rng = rng(13);
    let file: Vec<u8> = (0..ATTACHMENT_LEN)
        .map(|i| u8::try_from(i % 251).unwrap() + 1)
        .collect();
    let size = u64::try_from(file.len()).unwrap();
    let seal = |enc: &mut AttachmentEncryptor| {
        let mut stored = enc.header().to_vec();
        let mut rest = &file[..];
        while let Some(n) = enc.next_input_len() {
            let (piece, tail) = rest.split_at(n);
            let mut buf = piece.to_vec();
            enc.seal_next(&mut buf).unwrap();
            stored.extend_from_slice(&buf);
            rest = tail;
        }
        assert_eq!(u64::try_from(stored.len()).unwrap(), enc.encrypted_len());
        stored
    };
    let mut enc = AttachmentEncryptor::new(&mut rng, size).unwrap();
    let stored = seal(&mut enc);
    // The same draws with a digest: the same stream, and its digest.
    let mut with_digest = AttachmentEncryptor::with_digest(&mut self::rng(13), size).unwrap();
    assert_eq!(seal(&mut with_digest), stored);
    let digest = *with_digest
        .finish(AttachmentInfo::default())
        .unwrap()
        .digest()
        .unwrap();
    let info = AttachmentInfo {
        content_type: "application/octet-stream".into(),
        file_name: Some("fixture.bin".into()),
        thumbnail: Some(vec![0xFF, 0xD8, 0xFF, 0xD9]),
        location: b"blob/fuzz".to_vec(),
    };
    let descriptor = enc.finish(info).unwrap();
    let mut padded = file.clone();
    padded.resize(usize::try_from(padded_size(size)).unwrap(), 0);
    AttachmentFixture {
        descriptor_bytes: descriptor.to_bytes().unwrap().to_vec(),
        descriptor,
        file,
        padded,
        stored,
        digest,
    }
}

/// An account (SPEC.md §15) for the `account` target: Bob's account key and three devices, the
/// history of his lists (devices 1 and 2; then 3 added), Alice's contact for Bob holding the
/// first list and a session with device 1, and the safety number between their accounts.
pub struct AccountFixture {
    /// `lists[i]` is the encoding of Bob's list with sequence `i + 1`.
    pub lists: Vec<Vec<u8>>,
    /// Every device identity Bob's account ever listed, with its id.
    pub signed: Vec<(u32, [u8; 32])>,
    /// Alice's contact for Bob (state kind 0x14) and her safety number with Bob.
    pub contact: Vec<u8>,
    pub safety: xchat_protocol::account::SafetyNumber,
    /// The QR payload Bob's phone shows: the only one Alice's comparison accepts.
    pub bob_qr: Vec<u8>,
}

pub fn account_fixture() -> AccountFixture {
    use xchat_protocol::account::{
        AccountKeyPair, Contact, DeviceEntry, DeviceList, DeviceListView, SafetyNumber,
    };
    let mut rng = rng(17);
    let bob_account = AccountKeyPair::from_seed(&[0xB0; 32]);
    let alice_account = AccountKeyPair::from_seed(&[0xA0; 32]);
    let devices: Vec<IdentityKeyPair> = (1..=3u8)
        .map(|i| IdentityKeyPair::from_seed(&[i; 32]))
        .collect();
    let entry = |i: usize| {
        DeviceEntry::sign(
            &devices[i],
            bob_account.public(),
            u32::try_from(i + 1).unwrap(),
            NOW,
        )
    };
    let first = DeviceList::first(&bob_account, vec![entry(0), entry(1)], NOW).unwrap();
    let second = first
        .next(&bob_account, vec![entry(0), entry(1), entry(2)], NOW + 1)
        .unwrap();
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &devices[0], NOW);
    store.rotate_kem_prekey(&mut rng, &devices[0], NOW);
    let bundle = store.bundle(&devices[0], None).unwrap();
    let alice = IdentityKeyPair::from_seed(&[0xA1; 32]);
    let mut contact = Contact::new(DeviceListView::new(first.clone()));
    contact
        .initiate(&mut rng, &alice, &bundle, &Config::new(b"fuzz"))
        .unwrap();
    let safety = SafetyNumber::new(
        (alice_account.public(), b"alice"),
        (bob_account.public(), b"bob"),
    )
    .unwrap();
    let on_bob = SafetyNumber::new(
        (bob_account.public(), b"bob"),
        (alice_account.public(), b"alice"),
    )
    .unwrap();
    AccountFixture {
        signed: second
            .devices()
            .iter()
            .map(|d| (d.device_id(), d.identity().to_bytes()))
            .collect(),
        lists: vec![first.to_bytes(), second.to_bytes()],
        contact: contact.to_bytes().unwrap().to_vec(),
        safety,
        bob_qr: on_bob.qr_payload().to_vec(),
    }
}
