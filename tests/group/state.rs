//! The group's persisted state (SPEC.md §13.7): a round trip is exact and the restored group
//! carries on; a failed call leaves the blob byte-identical; the decoder is strict.

use xchat_protocol::group::{GroupConfig, GroupSession};
use xchat_protocol::state::StorageKey;
use xchat_protocol::{DecodeError, GroupError};

use crate::support::{Group, NOW};

/// Round trips after every kind of change, plain and sealed; a restored sender keeps its chain
/// and a restored receiver its skipped keys.
#[test]
fn a_restored_group_carries_on_exactly() {
    let mut g = Group::new(40, 3, GroupConfig::default());
    g.distribute_all(NOW);
    let sent: Vec<Vec<u8>> = (0..5u8).map(|i| g.send(0, NOW, &[i])).collect();
    g.receive(1, 0, &sent[4], NOW).unwrap();
    assert_eq!(g.devices[1].group.skipped_key_count(), 4);
    let key = StorageKey::generate(&mut g.rng);
    for i in 0..3 {
        let blob = g.devices[i].group.to_bytes().unwrap();
        let back = GroupSession::from_bytes(&blob).unwrap();
        assert_eq!(back.to_bytes().unwrap(), blob);
        let sealed = g.devices[i]
            .group
            .to_sealed_bytes(&mut g.rng, &key)
            .unwrap();
        let back = GroupSession::from_sealed_bytes(&sealed, &key).unwrap();
        assert_eq!(back.to_bytes().unwrap(), blob);
        g.devices[i].group = GroupSession::from_bytes(&blob).unwrap();
    }
    for (i, m) in sent.iter().enumerate().take(4) {
        assert_eq!(g.receive(1, 0, m, NOW).unwrap(), [i as u8]);
    }
    let m = g.send(0, NOW, b"after restore");
    assert_eq!(g.receive(2, 0, &m, NOW).unwrap(), b"after restore");
    assert_eq!(g.receive(1, 0, &m, NOW).unwrap(), b"after restore");
    // What was read before the restore stays read.
    assert_eq!(
        g.receive(1, 0, &sent[0], NOW),
        Err(GroupError::DuplicateMessage)
    );
}

/// The blob is strict: truncation, trailing bytes, a wrong kind, and edited counts and limits
/// (with a recomputed check) are refused; a wrong storage key is `ChecksumMismatch`.
#[test]
fn the_group_blob_is_decoded_strictly() {
    let mut g = Group::new(41, 3, GroupConfig::default());
    g.distribute_all(NOW);
    let blob = g.devices[0].group.to_bytes().unwrap().to_vec();
    assert_eq!(blob[0], 0x13);
    assert_eq!(blob[1], 0x01);
    for cut in [0, 1, 2, 40, blob.len() - 17, blob.len() - 1] {
        assert!(GroupSession::from_bytes(&blob[..cut]).is_err(), "cut {cut}");
    }
    let recheck = |mut v: Vec<u8>| {
        use sha2::{Digest, Sha256};
        let n = v.len() - 16;
        let check = Sha256::digest(&v[..n]);
        v[n..].copy_from_slice(&check[..16]);
        v
    };
    let mut longer = blob[..blob.len() - 16].to_vec();
    longer.push(0);
    longer.extend_from_slice(&[0; 16]);
    assert_eq!(
        GroupSession::from_bytes(&recheck(longer)).map(|_| ()),
        Err(DecodeError::TrailingBytes)
    );
    // Limits at offset 2 + 64: a zero max_jump.
    let mut zero = blob.clone();
    zero[66..70].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(
        GroupSession::from_bytes(&recheck(zero)).map(|_| ()),
        Err(DecodeError::NonCanonical)
    );
    // The member count (after limits 16, rotation 12, timer 9, stale 1, sending key 80).
    let at = 2 + 64 + 16 + 12 + 9 + 1 + 80;
    assert_eq!(&blob[at..at + 4], &2u32.to_be_bytes());
    let mut many = blob.clone();
    many[at..at + 4].copy_from_slice(&1001u32.to_be_bytes());
    assert_eq!(
        GroupSession::from_bytes(&recheck(many)).map(|_| ()),
        Err(DecodeError::NonCanonical)
    );
    let mut other_kind = blob.clone();
    other_kind[0] = 0x12;
    assert_eq!(
        GroupSession::from_bytes(&recheck(other_kind)).map(|_| ()),
        Err(DecodeError::UnknownType(0x12))
    );
    let key = StorageKey::generate(&mut g.rng);
    let sealed = g.devices[0]
        .group
        .to_sealed_bytes(&mut g.rng, &key)
        .unwrap();
    let wrong = StorageKey::generate(&mut g.rng);
    assert_eq!(
        GroupSession::from_sealed_bytes(&sealed, &wrong).map(|_| ()),
        Err(DecodeError::ChecksumMismatch)
    );
}
