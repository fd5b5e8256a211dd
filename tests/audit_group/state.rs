//! The group blob (SPEC.md §13.7 in the envelope of §10.0) under someone who can edit it and
//! recompute the check: the layout byte for byte, every decode check, what a forged count
//! costs, and that whatever decodes re-encodes to the same bytes and runs without panicking.

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::SigningKey;
use xchat_protocol::group::{GroupConfig, GroupLimits, GroupSession};
use xchat_protocol::{DecodeError, TimerStart};

use crate::support::{
    AT_LIMITS, AT_MEMBERS, AT_ROTATION, AT_SENDING, AT_STALE, AT_TIMER, GROUP, Group, NOW, edited,
    put_u32, recheck, u32_at,
};

/// Device 0 of three, having sent 2 messages and read device 1's message 2 (so 2 skipped keys,
/// stamped `NOW + 5`), with device 1's key rotated once (two keys held for it).
fn rich() -> (Group, Vec<u8>) {
    let mut g = Group::new(80, 3, GroupConfig::default());
    g.distribute_all(NOW);
    g.send(0, NOW, b"a");
    g.send(0, NOW, b"b");
    let sent: Vec<_> = (0..3u8).map(|i| g.send(1, NOW, &[i])).collect();
    g.receive(0, 1, &sent[2], NOW + 5).unwrap();
    let c = g.key(2);
    g.devices[1].group.remove_member(&c);
    g.devices[1].group.add_member(&c).unwrap();
    g.distribute(1, NOW);
    let blob = g.blob(0);
    (g, blob)
}

/// Where member `index`'s entry starts, walking the blob as §13.7 lays it out.
fn member_at(blob: &[u8], index: usize) -> usize {
    let mut at = AT_MEMBERS + 4;
    for _ in 0..index {
        let keys = u32_at(blob, at + 33);
        at += 37;
        for _ in 0..keys {
            at += 76 + 80 * u32_at(blob, at + 72) as usize;
        }
    }
    at
}

/// Every field where SPEC.md §13.7 puts it, every size as it says (113 bytes per member with
/// one key, 80 per skipped key), and the envelope check of §10.0.
#[test]
fn held_the_blob_is_section_13_7_byte_for_byte() {
    use sha2::{Digest, Sha256};
    let (mut g, blob) = rich();
    let dev = &g.devices[0].group;
    assert_eq!(&blob[..2], &[0x13, 0x01]);
    assert_eq!(&blob[2..34], &GROUP.0);
    assert_eq!(&blob[34..66], &dev.local_identity().to_bytes());
    let limits: Vec<u32> = (0..4).map(|k| u32_at(&blob, AT_LIMITS + 4 * k)).collect();
    assert_eq!(limits, [2000, 2000, 3, 1000]);
    assert_eq!(u32_at(&blob, AT_ROTATION), 1000);
    assert_eq!(
        &blob[AT_ROTATION + 4..AT_TIMER],
        &604_800_000u64.to_be_bytes()
    );
    assert_eq!(&blob[AT_TIMER..AT_STALE], &[0; 9]);
    assert_eq!(blob[AT_STALE], 0);
    let d = g.devices[0]
        .group
        .distribution(&mut g.rng, NOW)
        .distribution;
    let db = d.to_bytes();
    assert_eq!(u32_at(&blob, AT_SENDING), d.key_id());
    assert_eq!(u32_at(&blob, AT_SENDING + 4), 2);
    assert_eq!(&blob[AT_SENDING + 8..AT_SENDING + 40], &db[41..73]);
    let seed: [u8; 32] = blob[AT_SENDING + 40..AT_SENDING + 72].try_into().unwrap();
    assert_eq!(
        SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
        db[73..105]
    );
    assert_eq!(&blob[AT_SENDING + 72..AT_MEMBERS], &NOW.to_be_bytes());
    assert_eq!(u32_at(&blob, AT_MEMBERS), 2);
    let (m0, m1) = (member_at(&blob, 0), member_at(&blob, 1));
    assert!(blob[m0..m0 + 32] < blob[m1..m1 + 32], "members increasing");
    let bob = g.key(1).to_bytes();
    let (bob_at, carol_at) = if blob[m0..m0 + 32] == bob {
        (m0, m1)
    } else {
        (m1, m0)
    };
    assert_eq!(
        &blob[bob_at + 32..bob_at + 37],
        &[1, 0, 0, 0, 2],
        "has our key, two keys"
    );
    // Bob's first key: next = 3, two skipped entries (iterations 0 and 1, stamp 0, at NOW + 5).
    let k = bob_at + 37;
    assert_eq!(u32_at(&blob, k + 68), 3);
    assert_eq!(u32_at(&blob, k + 72), 2);
    for (e, iteration) in [(k + 76, 0u32), (k + 156, 1)] {
        assert_eq!(
            &blob[e..e + 32],
            &blob[k + 4..k + 36],
            "chain = the key's signing key"
        );
        assert_eq!(u32_at(&blob, e + 32), iteration);
        assert_eq!(u32_at(&blob, e + 36), 0, "stamp");
        assert_eq!(&blob[e + 40..e + 48], &(NOW + 5).to_be_bytes());
    }
    let end = member_at(&blob, 2);
    let size = |at: usize| if at == m0 { m1 - m0 } else { end - m1 };
    assert_eq!(
        size(bob_at),
        37 + (76 + 2 * 80) + 76,
        "two keys, two skipped keys"
    );
    assert_eq!(size(carol_at), 113, "one key, no skipped keys: 37 + 76");
    assert_eq!(blob.len(), end + 16);
    assert_eq!(&blob[end..], &Sha256::digest(&blob[..end])[..16]);
}

/// Each decode check of §13.7 as it now reads (rotation bounds of 0 refused; our sender key at
/// 2^32 − 1 accepted as a used-up chain; `k` checked as soon as it is read, a repeated key id
/// once the second key is read, the member order once the member's entry is read), by an edit
/// with the check recomputed.
#[test]
fn held_every_decode_check_of_section_13_7() {
    let (_, blob) = rich();
    let nc = Err(DecodeError::NonCanonical);
    let bob_at = {
        let m0 = member_at(&blob, 0);
        if u32_at(&blob, m0 + 33) == 2 {
            m0
        } else {
            member_at(&blob, 1)
        }
    };
    let k = bob_at + 37;
    let e0 = k + 76;
    let try_edit =
        |f: &dyn Fn(&mut Vec<u8>)| GroupSession::from_bytes(&edited(&blob, f)).map(|_| ());
    assert_eq!(try_edit(&|_| {}), Ok(()));
    for field in 0..4 {
        assert_eq!(try_edit(&|b| put_u32(b, AT_LIMITS + 4 * field, 0)), nc);
        assert_eq!(
            try_edit(&|b| put_u32(b, AT_LIMITS + 4 * field, (1 << 20) + 1)),
            nc
        );
    }
    // Rotation bounds: either 0 is refused (§13.5 "each at least 1"), 1 is accepted.
    assert_eq!(
        try_edit(&|b| put_u32(b, AT_ROTATION, 0)),
        nc,
        "max_messages 0"
    );
    assert_eq!(try_edit(&|b| b[AT_ROTATION + 4..AT_TIMER].fill(0)), nc);
    assert_eq!(try_edit(&|b| put_u32(b, AT_ROTATION, 1)), Ok(()));
    assert_eq!(
        try_edit(&|b| b[AT_ROTATION + 4..AT_TIMER].copy_from_slice(&1u64.to_be_bytes())),
        Ok(())
    );
    assert_eq!(try_edit(&|b| b[AT_TIMER + 4] = 2), nc, "timer start byte");
    assert_eq!(try_edit(&|b| b[AT_TIMER + 4] = 1), nc, "off but on-read");
    assert_eq!(try_edit(&|b| b[AT_STALE] = 2), nc);
    // Our sender key at 2^32 − 1 is a used-up chain (§13.1), no longer refused.
    for iteration in [u32::MAX - 1, u32::MAX] {
        assert_eq!(try_edit(&|b| put_u32(b, AT_SENDING + 4, iteration)), Ok(()));
    }
    assert_eq!(try_edit(&|b| put_u32(b, AT_MEMBERS, 1001)), nc);
    assert_eq!(try_edit(&|b| b[bob_at + 32] = 2), nc, "has-our-key flag");
    assert_eq!(
        try_edit(&|b| put_u32(b, bob_at + 33, 4)),
        nc,
        "k > max_sender_keys"
    );
    assert_eq!(
        try_edit(&|b| {
            put_u32(b, bob_at + 33, 4);
            b.truncate(bob_at + 37);
        }),
        nc,
        "k > max_sender_keys as soon as k is read"
    );
    assert_eq!(
        try_edit(&|b| put_u32(b, AT_LIMITS + 8, 1)),
        nc,
        "2 keys > a lowered limit"
    );
    assert_eq!(
        try_edit(&|b| put_u32(b, AT_LIMITS + 4, 1)),
        nc,
        "2 skipped > a lowered limit"
    );
    let second = k + 76 + 160;
    let dup_id = u32_at(&blob, k);
    assert_eq!(
        try_edit(&|b| put_u32(b, second, dup_id)),
        nc,
        "one id twice"
    );
    assert_eq!(
        try_edit(&|b| {
            put_u32(b, second, dup_id);
            b.truncate(second + 40);
        }),
        Err(DecodeError::Truncated),
        "one id twice, checked once the second key is read"
    );
    assert_eq!(try_edit(&|b| b[e0] ^= 1), nc, "skipped chain ≠ signing key");
    assert_eq!(
        try_edit(&|b| put_u32(b, e0 + 32, 3)),
        nc,
        "iteration = next"
    );
    assert_eq!(try_edit(&|b| put_u32(b, e0 + 36, 1)), nc, "stamp ≠ 0");
    assert_eq!(
        try_edit(&|b| put_u32(b, e0 + 80 + 32, 0)),
        nc,
        "iteration twice"
    );
    assert_eq!(
        try_edit(&|b| put_u32(b, k + 68, 1)),
        nc,
        "next below a stored iteration"
    );
    // A member equal to us, and members out of order: checked once the member's entry is read
    // (cut inside it: `Truncated`, `fixed_doc_member_order_is_checked_once_the_member_entry_is_read`).
    let local: [u8; 32] = blob[34..66].try_into().unwrap();
    let m0 = member_at(&blob, 0);
    assert_eq!(try_edit(&|b| b[m0..m0 + 32].copy_from_slice(&local)), nc);
    let m1 = member_at(&blob, 1);
    let first: [u8; 32] = blob[m0..m0 + 32].try_into().unwrap();
    assert_eq!(try_edit(&|b| b[m1..m1 + 32].copy_from_slice(&first)), nc);
    let second_member: [u8; 32] = blob[m1..m1 + 32].try_into().unwrap();
    assert_eq!(
        try_edit(&|b| b[m0..m0 + 32].copy_from_slice(&second_member)),
        nc,
        "two members with one identity"
    );
    // A signing key that does not decompress.
    let bad = (0u8..=255)
        .map(|v| {
            let mut y = [v; 32];
            y[31] &= 0x7F;
            y
        })
        .find(|y| CompressedEdwardsY(*y).decompress().is_none())
        .unwrap();
    assert_eq!(
        try_edit(&|b| b[k + 4..k + 36].copy_from_slice(&bad)),
        Err(DecodeError::InvalidKey)
    );
    // Envelope (§10.0).
    assert_eq!(
        GroupSession::from_bytes(&recheck({
            let mut b = blob.clone();
            b[0] = 0x12;
            b
        }))
        .map(|_| ()),
        Err(DecodeError::UnknownType(0x12))
    );
    assert_eq!(
        GroupSession::from_bytes(&recheck({
            let mut b = blob.clone();
            b[1] = 0x02;
            b
        }))
        .map(|_| ()),
        Err(DecodeError::UnknownVersion(2))
    );
    let mut flipped = blob.clone();
    flipped[100] ^= 1;
    assert_eq!(
        GroupSession::from_bytes(&flipped).map(|_| ()),
        Err(DecodeError::ChecksumMismatch)
    );
}

/// FINDING (doc/code, low; SPEC.md §2 rule 7 "checks that relate a list entry to others
/// (duplicates …) run once the whole entry has been read, so a blob cut inside such an entry is
/// `Truncated`"): the decoder checked a member's order against the previous one (and against
/// `IK_local`) as soon as its 32 identity bytes were read, before its flag, key count and keys,
/// so a blob whose second member repeats the first, cut inside that entry, was `NonCanonical`.
/// FIXED: the order and `IK_local` checks run once the member's whole entry (keys included) is
/// read (SPEC.md §13.7 now says so). The same cut blobs are now `Truncated`, and the uncut one is
/// still `NonCanonical`; a member equal to `IK_local`, cut likewise, is `Truncated` too.
#[test]
fn fixed_doc_member_order_is_checked_once_the_member_entry_is_read() {
    let (_, blob) = rich();
    let (m0, m1) = (member_at(&blob, 0), member_at(&blob, 1));
    let first: [u8; 32] = blob[m0..m0 + 32].try_into().unwrap();
    let local: [u8; 32] = blob[34..66].try_into().unwrap();
    let entry = member_at(&blob, 2) - m1;
    for who in [first, local] {
        for cut in [32, 33, 36, 40, entry - 1] {
            let forged = edited(&blob, |b| {
                b[m1..m1 + 32].copy_from_slice(&who);
                b.truncate(m1 + cut);
            });
            assert_eq!(
                GroupSession::from_bytes(&forged).map(|_| ()),
                Err(DecodeError::Truncated),
                "cut {cut} bytes into the entry"
            );
        }
        let whole = edited(&blob, |b| b[m1..m1 + 32].copy_from_slice(&who));
        assert_eq!(
            GroupSession::from_bytes(&whole).map(|_| ()),
            Err(DecodeError::NonCanonical)
        );
    }
}

/// FINDING (low; edited blobs, SPEC.md §10.0 "whatever decodes … never panics", and the care
/// `SkippedKeys::decode_with` takes: "no larger than the input can hold, so a forged count
/// allocates nothing extra"): a member's key list was reserved with `VecDeque::with_capacity(k)`
/// for the `k` the blob states, before any key was read. With the stored `max_sender_keys` raised
/// to 2^20 (a valid limit), a blob of a few hundred bytes made `from_bytes` allocate 2^20
/// receiving keys (hundreds of MB) before failing `Truncated`.
/// FIXED: the list is reserved for `min(k, remaining input / 76)` keys (76 bytes: the shortest
/// stored key). The same forged blob is still `Truncated`, and its decoding now peaks at a few
/// kilobytes; a count the input can hold still decodes with one exact reservation.
#[test]
fn fixed_a_forged_key_count_allocates_no_more_than_the_input_can_hold() {
    let mut g = Group::new(81, 2, GroupConfig::default());
    g.distribute_all(NOW);
    let blob = g.blob(0);
    let m0 = member_at(&blob, 0);
    let forged = edited(&blob, |b| {
        put_u32(b, AT_LIMITS + 8, GroupLimits::CEILING);
        put_u32(b, m0 + 33, GroupLimits::CEILING);
        b.truncate(m0 + 37);
    });
    assert!(forged.len() < 300);
    let info = allocation_counter::measure(|| {
        assert_eq!(
            GroupSession::from_bytes(&forged).map(|_| ()),
            Err(DecodeError::Truncated)
        );
    });
    assert!(
        info.bytes_max < 16_384,
        "a {}-byte blob allocated {} bytes",
        forged.len(),
        info.bytes_max
    );
    // The honest blob, with its stored limit raised the same way, still decodes.
    let raised = edited(&blob, |b| put_u32(b, AT_LIMITS + 8, GroupLimits::CEILING));
    assert!(GroupSession::from_bytes(&raised).is_ok());
}

/// Random edits (bytes, counts, cuts) of a rich blob, check recomputed: no panic; whatever
/// decodes re-encodes to the same bytes, and a session restored from it sends, receives,
/// distributes and purges without panicking, its blob decoding again.
#[test]
fn held_edited_blobs_never_panic_and_decode_canonically() {
    use rand_chacha::rand_core::Rng;
    let (mut g, blob) = rich();
    g.devices[0]
        .group
        .set_timer(&mut g.rng, NOW, 60, TimerStart::OnRead)
        .unwrap();
    let c = g.key(2);
    g.devices[0].group.remove_member(&c);
    let blob2 = g.blob(0);
    let incoming = g.send(1, NOW, b"in");
    let bob = g.key(1);
    let mut rng = crate::common::rng(82);
    let mut decoded = 0;
    for n in 0..3000u32 {
        let base = if n % 2 == 0 { &blob } else { &blob2 };
        let body_len = base.len() - 16;
        let forged = edited(base, |b| match n % 4 {
            0 => {
                let i = rng.next_u32() as usize % body_len;
                b[i] ^= 1 << (rng.next_u32() % 8);
            }
            1 => {
                let i = 2 + rng.next_u32() as usize % (body_len - 6);
                let v = [0, 1, 2, 3, 2000, u32::MAX, rng.next_u32()][rng.next_u32() as usize % 7];
                put_u32(b, i, v);
            }
            2 => b.truncate(rng.next_u32() as usize % body_len),
            _ => {
                let i = rng.next_u32() as usize % body_len;
                b[i] = rng.next_u32() as u8;
            }
        });
        let Ok(mut s) = GroupSession::from_bytes(&forged) else {
            continue;
        };
        decoded += 1;
        assert_eq!(
            s.to_bytes().unwrap().to_vec(),
            forged,
            "edit {n} re-encodes differently"
        );
        let _ = s.receive(&bob, &incoming, NOW);
        let _ = s.send(&mut g.rng, NOW, b"x");
        let d = s.distribution(&mut g.rng, NOW + 1);
        for m in &d.recipients {
            s.mark_distributed(m, &d.distribution).unwrap();
        }
        let _ = s.send(&mut g.rng, NOW + 1, b"y");
        let _ = s.purge(u64::MAX);
        GroupSession::from_bytes(&s.to_bytes().unwrap()).unwrap();
    }
    assert!(decoded > 100, "only {decoded} edits decoded");
}
