//! Arbitrary bytes into a real group (SPEC.md §13): as a group message from each member, through
//! `decrypt` and `receive`; as a sender key distribution; as a group state blob; and, after a
//! first byte 0xFF, as an order in which to deliver the fixture's authentic messages (out of
//! order, repeated). Nothing panics; a rejected input leaves the group byte-identical; whatever
//! decodes round-trips exactly; an authentic message is read at most once.
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use xchat_protocol::GroupSession;
use xchat_protocol::group::SenderKeyDistribution;
use xchat_protocol_fuzz::{GroupFixture, NOW, group_fixture};

static FIXTURE: LazyLock<(GroupFixture, Vec<u8>)> = LazyLock::new(|| {
    let f = group_fixture();
    let blob = f.bob.to_bytes().unwrap().to_vec();
    (f, blob)
});

fuzz_target!(|data: &[u8]| {
    let (f, blob) = &*FIXTURE;
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
