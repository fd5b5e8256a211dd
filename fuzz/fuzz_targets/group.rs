//! Arbitrary bytes into a real group (SPEC.md §13): as a group message from each member, through
//! `decrypt` and `receive`; as a sender key distribution; as a group state blob; as a
//! multi-recipient envelope (SPEC.md §9.5) delivered to Bob, opened with `open_group` and
//! received into his group with `OpenedGroup::receive`; after a first byte 0xFE, as a
//! multi-recipient upload that the relay splits (`split_for_recipient`) for the recipient index
//! in the next two bytes (big-endian), the result then opened and received as Bob; and, after a
//! first byte 0xFF, as an order in which to deliver the fixture's authentic messages (out of
//! order, repeated). Nothing panics; a rejected input leaves the group byte-identical; whatever
//! decodes round-trips exactly; a split is `0x02 ‖ E ‖ that header ‖ what follows the headers`;
//! an envelope that opens carries Alice's certificate (the only one the fixture's server
//! issued); an authentic message is read at most once.
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use xchat_protocol::GroupSession;
use xchat_protocol::group::SenderKeyDistribution;
use xchat_protocol::sealed_sender::{MULTI_HEADER_LEN, SealedRecipient, split_for_recipient};
use xchat_protocol_fuzz::{GroupFixture, NOW, group_fixture};

static FIXTURE: LazyLock<(GroupFixture, Vec<u8>)> = LazyLock::new(|| {
    let f = group_fixture();
    let blob = f.bob.to_bytes().unwrap().to_vec();
    (f, blob)
});

/// Bob opens `envelope` and receives it into his group: an `Err` of either step leaves the group
/// byte-identical.
fn open_and_receive(f: &GroupFixture, blob: &[u8], envelope: &[u8]) {
    let roots = [f.root];
    let bob = SealedRecipient {
        identity: &f.bob_id,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    let mut group = GroupSession::from_bytes(blob).unwrap();
    match bob.open_group(envelope, NOW) {
        Ok(opened) => {
            assert_eq!(opened.sender().identity, f.alice);
            match opened.receive(&mut group) {
                Ok(delivered) => assert_eq!(delivered.sender.identity, f.alice),
                Err(e) => assert_eq!(group.to_bytes().unwrap().as_slice(), blob, "{e:?}"),
            }
        }
        Err(e) => assert_eq!(group.to_bytes().unwrap().as_slice(), blob, "{e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let (f, blob) = &*FIXTURE;
    if let Some((0xFE, rest)) = data.split_first() {
        let Some((index, upload)) = rest.split_first_chunk::<2>() else {
            return;
        };
        let index = usize::from(u16::from_be_bytes(*index));
        if let Ok(envelope) = split_for_recipient(upload, index) {
            let n = usize::from(u16::from_be_bytes([upload[33], upload[34]]));
            assert!(index < n);
            let header = 35 + index * MULTI_HEADER_LEN;
            let expected = [
                &[0x02][..],
                &upload[1..33],
                &upload[header..header + MULTI_HEADER_LEN],
                &upload[35 + n * MULTI_HEADER_LEN..],
            ]
            .concat();
            assert_eq!(envelope, expected);
            open_and_receive(f, blob, &envelope);
        }
        return;
    }
    if let Some((0xFF, order)) = data.split_first() {
        let mut group = GroupSession::from_bytes(blob).unwrap();
        let mut read = [false; 3];
        for &i in order.iter().take(64) {
            let i = usize::from(i) % f.messages.len();
            let before = group.to_bytes().unwrap();
            match group.receive(&f.alice, &f.messages[i], NOW) {
                Ok(_) => {
                    assert!(!read[i], "message {i} read twice");
                    read[i] = true;
                }
                Err(_) => assert_eq!(group.to_bytes().unwrap(), before),
            }
        }
        return;
    }
    open_and_receive(f, blob, data);
    for sender in [&f.alice, &f.carol] {
        let mut group = GroupSession::from_bytes(blob).unwrap();
        if group.decrypt(sender, data).is_err() {
            assert_eq!(group.to_bytes().unwrap().as_slice(), blob.as_slice());
        }
        let mut group = GroupSession::from_bytes(blob).unwrap();
        if group.receive(sender, data, NOW).is_err() {
            assert_eq!(group.to_bytes().unwrap().as_slice(), blob.as_slice());
        }
    }
    if let Ok(d) = SenderKeyDistribution::from_bytes(data) {
        assert_eq!(d.to_bytes().as_slice(), data);
        let mut group = GroupSession::from_bytes(blob).unwrap();
        if group.process_distribution(&f.alice, &d).is_err() {
            assert_eq!(group.to_bytes().unwrap().as_slice(), blob.as_slice());
        }
    }
    if let Ok(mut group) = GroupSession::from_bytes(data) {
        assert_eq!(group.to_bytes().unwrap().as_slice(), data);
        let mut rng = xchat_protocol_fuzz::rng(1);
        let pending = group.distribution(&mut rng, NOW);
        for m in &pending.recipients {
            group.mark_distributed(m, &pending.distribution).unwrap();
        }
        let _ = group.send(&mut rng, NOW, b"after restore");
        let _ = group.purge(u64::MAX);
    }
});
