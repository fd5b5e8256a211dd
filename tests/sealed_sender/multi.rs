//! The multi-recipient envelope (SPEC.md §9.5): one group message sealed once for every member,
//! split by the relay, opened by each; what the relay sees; and attacks on it.

use xchat_protocol::group::{GroupConfig, GroupId, GroupSession, SenderKeyDistribution};
use xchat_protocol::sealed_sender::{
    MULTI_HEADER_LEN, SealedSenderError, seal_for_group, seal_multi_to, split_for_recipient,
};
use xchat_protocol::{DecodeError, GroupError, IdentityKey, IdentityKeyPair};

use crate::support::{DAY, NOW, World, recipient, world};

/// Alice, Bob and Carol in one group; each holds the others' sender keys.
fn groups(w: &mut World) -> (IdentityKeyPair, Vec<GroupSession>) {
    let carol = IdentityKeyPair::generate(&mut w.rng);
    let keys: Vec<IdentityKey> = [&w.alice, &w.bob, &carol]
        .iter()
        .map(|i| *i.public())
        .collect();
    let config = GroupConfig::default();
    let mut gs: Vec<GroupSession> = keys
        .iter()
        .map(|k| GroupSession::new(&mut w.rng, k, GroupId([9; 32]), &keys, NOW, config).unwrap())
        .collect();
    for from in 0..3 {
        let pending = gs[from].distribution(&mut w.rng, NOW);
        let bytes = pending.distribution.to_bytes();
        for m in &pending.recipients {
            let to = keys.iter().position(|k| k == m).unwrap();
            let d = SenderKeyDistribution::from_bytes(&bytes).unwrap();
            gs[to].process_distribution(&keys[from], &d).unwrap();
            gs[from].mark_distributed(m, &pending.distribution).unwrap();
        }
    }
    (carol, gs)
}

/// One seal, two deliveries: the relay splits the upload; Bob and Carol each open their own
/// envelope and read the message as Alice's. The upload holds no sender identity, certificate,
/// address or group id, and its size is one payload plus 48 bytes per recipient.
#[test]
fn one_seal_serves_every_member_and_the_relay_learns_nothing() {
    let mut w = world(60);
    let (carol, mut gs) = groups(&mut w);
    let message = gs[0].send(&mut w.rng, NOW, b"to the group").unwrap();
    let sealed = seal_for_group(&mut w.rng, &w.alice, &w.alice_cert, &gs[0], &message).unwrap();
    let upload = sealed.to_bytes();
    let single = split_for_recipient(upload, 0).unwrap();
    assert_eq!(
        upload.len(),
        1 + 32 + 2 + 2 * MULTI_HEADER_LEN + (single.len() - 81)
    );
    for needle in [
        &w.alice.public().to_bytes()[..],
        &w.alice_cert.to_bytes().unwrap(),
        b"alice",
        &[9; 32],
    ] {
        assert!(!upload.windows(needle.len()).any(|x| x == needle));
    }
    let roots = [w.root];
    for (i, who) in [&w.bob, &carol].into_iter().enumerate() {
        let index = sealed
            .recipients()
            .iter()
            .position(|k| k == who.public())
            .unwrap();
        let envelope = sealed.for_recipient(index).unwrap();
        let opened = recipient(who, &roots).open_group(&envelope, NOW).unwrap();
        assert_eq!(opened.sender().identity, *w.alice.public());
        let got = opened.receive(&mut gs[i + 1]).unwrap();
        assert_eq!(got.receipt.message().unwrap().body, b"to the group");
    }
}

/// Another recipient's header, any changed byte, a cut, an expired certificate and our own
/// envelope are refused; a 1:1 `open` refuses the multi-recipient version.
#[test]
fn damaged_and_misdirected_envelopes_are_refused() {
    let mut w = world(61);
    let (_carol, mut gs) = groups(&mut w);
    let message = gs[0].send(&mut w.rng, NOW, b"x").unwrap();
    let sealed = seal_for_group(&mut w.rng, &w.alice, &w.alice_cert, &gs[0], &message).unwrap();
    let bob_index = sealed
        .recipients()
        .iter()
        .position(|k| k == w.bob.public())
        .unwrap();
    let roots = [w.root];
    let bob = recipient(&w.bob, &roots);
    let carols = sealed.for_recipient(1 - bob_index).unwrap();
    assert_eq!(
        bob.open_group(&carols, NOW).map(|_| ()),
        Err(SealedSenderError::DecryptionFailed)
    );
    let envelope = sealed.for_recipient(bob_index).unwrap();
    for i in (0..envelope.len()).step_by(5) {
        let mut bad = envelope.clone();
        bad[i] ^= 0x04;
        assert!(bob.open_group(&bad, NOW).is_err(), "byte {i}");
    }
    assert!(
        bob.open_group(&envelope[..envelope.len() - 1], NOW)
            .is_err()
    );
    assert_eq!(
        bob.open_group(&envelope, NOW + DAY + 1).map(|_| ()),
        Err(SealedSenderError::CertificateExpired)
    );
    assert_eq!(
        bob.open(&envelope, NOW).map(|_| ()),
        Err(SealedSenderError::Decode(DecodeError::UnknownVersion(2)))
    );
    // Alice's own envelope, sealed to her as well (by hand), is `SelfSend`.
    let to_self = seal_multi_to(&mut w.rng, &w.alice_cert, &[*w.alice.public()], &message).unwrap();
    let alice = recipient(&w.alice, &roots);
    assert_eq!(
        alice
            .open_group(&to_self.for_recipient(0).unwrap(), NOW)
            .map(|_| ()),
        Err(SealedSenderError::SelfSend)
    );
    assert!(sealed.for_recipient(2).is_none());
    assert_eq!(
        split_for_recipient(sealed.to_bytes(), 2),
        Err(DecodeError::NonCanonical)
    );
    let mut v = sealed.to_bytes().to_vec();
    v[0] = 0x02;
    assert_eq!(
        split_for_recipient(&v, 0),
        Err(DecodeError::UnknownVersion(2))
    );
    assert_eq!(
        split_for_recipient(&sealed.to_bytes()[..60], 0),
        Err(DecodeError::Truncated)
    );
}

/// The envelope does not authenticate its sender by itself; the group does. Bob re-seals Alice's
/// group message under his own certificate: Carol's group refuses it (no key of Bob's has that
/// id, and the signature names Alice). A sender with a valid certificate but outside the group is
/// `NotAMember`. Both change nothing in Carol's group.
#[test]
fn a_reseal_under_another_certificate_is_refused_by_the_group() {
    let mut w = world(62);
    let (carol, mut gs) = groups(&mut w);
    let message = gs[0].send(&mut w.rng, NOW, b"alice's").unwrap();
    let roots = [w.root];
    let carol_view = recipient(&carol, &roots);
    let before = gs[2].to_bytes().unwrap();
    let resealed = seal_multi_to(&mut w.rng, &w.bob_cert, &[*carol.public()], &message).unwrap();
    let opened = carol_view
        .open_group(&resealed.for_recipient(0).unwrap(), NOW)
        .unwrap();
    // Carol holds no key of Bob's with Alice's key id: refused at the lookup, before the
    // signature (which names Alice, not Bob, and would fail next).
    assert_eq!(
        opened.receive(&mut gs[2]).map(|_| ()),
        Err(SealedSenderError::Group(GroupError::UnknownSenderKey(
            key_id(&message)
        )))
    );
    assert_eq!(gs[2].to_bytes().unwrap(), before);
    let outsider = IdentityKeyPair::generate(&mut w.rng);
    let cert = w
        .server
        .certify_sender(&w.server_cert, b"mallory", 1, outsider.public(), NOW + DAY)
        .unwrap();
    let from_outside = seal_multi_to(&mut w.rng, &cert, &[*carol.public()], &message).unwrap();
    let opened = carol_view
        .open_group(&from_outside.for_recipient(0).unwrap(), NOW)
        .unwrap();
    assert_eq!(
        opened.receive(&mut gs[2]).map(|_| ()),
        Err(SealedSenderError::Group(GroupError::NotAMember))
    );
    assert_eq!(gs[2].to_bytes().unwrap(), before);
    // The genuine message still reads.
    let genuine = seal_for_group(&mut w.rng, &w.alice, &w.alice_cert, &gs[0], &message).unwrap();
    let index = genuine
        .recipients()
        .iter()
        .position(|k| k == carol.public())
        .unwrap();
    let opened = carol_view
        .open_group(&genuine.for_recipient(index).unwrap(), NOW)
        .unwrap();
    assert_eq!(
        opened
            .receive(&mut gs[2])
            .unwrap()
            .receipt
            .message()
            .unwrap()
            .body,
        b"alice's"
    );
}

/// `seal_for_group` checks whose group and certificate it is before drawing anything.
#[test]
fn sealing_checks_the_sender() {
    let mut w = world(63);
    let (_carol, gs) = groups(&mut w);
    let message = b"whatever";
    for (id, cert, group) in [
        (&w.bob, &w.alice_cert, &gs[0]),
        (&w.alice, &w.bob_cert, &gs[0]),
        (&w.alice, &w.alice_cert, &gs[1]),
    ] {
        let probe = w.rng.clone();
        let got = seal_for_group(&mut w.rng, id, cert, group, message).map(|_| ());
        assert_eq!(got, Err(SealedSenderError::SenderIdentityMismatch));
        assert_eq!(
            w.rng.clone().next_u64_for_test(),
            probe.clone().next_u64_for_test()
        );
    }
}

trait Probe {
    fn next_u64_for_test(self) -> u64;
}

impl Probe for rand_chacha::ChaCha20Rng {
    fn next_u64_for_test(mut self) -> u64 {
        use rand_chacha::rand_core::Rng;
        self.next_u64()
    }
}

/// The id of a group message's sender key (SPEC.md §13.3: bytes 34..38).
fn key_id(m: &[u8]) -> u32 {
    u32::from_be_bytes(m[34..38].try_into().unwrap())
}
