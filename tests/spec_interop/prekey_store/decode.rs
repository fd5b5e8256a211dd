//! The decode rules of prekey-store blobs of versions 3, 2 and 1 (§10.0, §10.2), with what
//! SPEC.md says: the table of test 9.

use crate::common::state_codec::{self as sc, KIND_SESSION, KIND_STORE, seal as envelope_v};
use crate::reference::primitives::{K32, STATE_VERSION, V1, V2, unclamped};
use crate::reference::store::MyBob;
use crate::reference::wire::Ident;
use crate::support::{Cases, IK, NC, OK, P_BYTES, TB, TR};
use xchat_protocol::PreKeyStore;

/// Test 9's decode rules for the store of identity `seed`, the version-1 blob `v1` (with its
/// `seen` list), and its migrated version-3 and version-2 forms.
pub(super) fn rules(
    seed: K32,
    bob: &MyBob,
    seen: Vec<K32>,
    migrated: Vec<u8>,
    v2: Vec<u8>,
    v1: Vec<u8>,
) {
    // Decode rules, with what SPEC.md says (None: only agreement is checked).
    // Version 3 offsets: 9 bytes of header, then per signed prekey 140 + 2 + 16 × 4 bytes (id,
    // created_at, secret, public, signature, accepted count and ids); one-time prekeys 68 each.
    let body = sc::body(&migrated).to_vec();
    let entry = 140 + 2 + 16 * 4;
    let spk_at = |i: usize| 9 + i * entry;
    let otk_at = 9 + 3 * entry;
    let mut cases = Cases::default();
    cases.raw("valid v3", migrated.clone(), OK);
    cases.raw("valid v2", v2.clone(), OK);
    cases.raw("valid v1", v1.clone(), OK);
    let dup_id = |b: &mut Vec<u8>| {
        let id = b[spk_at(0)..spk_at(0) + 4].to_vec();
        b[spk_at(1)..spk_at(1) + 4].copy_from_slice(&id);
    };
    cases.patch("trailing", &migrated, TB, |b| b.push(0));
    cases.patch("truncated", &migrated, TR, |b| {
        b.pop();
    });
    cases.patch("empty", &migrated, TR, |b| b.clear());
    cases.patch("signed count 4", &migrated, NC, |b| b[8] = 4);
    cases.patch("signed count 0 (rest trails)", &migrated, TB, |b| b[8] = 0);
    cases.patch("duplicate signed prekey id", &migrated, NC, dup_id);
    // Version 3: a repeated signed-prekey id is checked once all signed prekeys are read.
    cases.patch(
        "duplicate id, cut after the second's signature",
        &migrated,
        TR,
        |b| {
            dup_id(b);
            b.truncate(spk_at(1) + 140);
        },
    );
    cases.patch("duplicate id, cut inside the third", &migrated, TR, |b| {
        dup_id(b);
        b.truncate(spk_at(2) + 10);
    });
    // ... as the library decides it, once the whole body is read (before its end is checked).
    cases.patch(
        "duplicate id, cut in the one-time count",
        &migrated,
        TR,
        |b| {
            dup_id(b);
            b.truncate(otk_at + 2);
        },
    );
    cases.patch("duplicate id, one-time public ≥ p", &migrated, IK, |b| {
        dup_id(b);
        b[otk_at + 4 + 36..otk_at + 4 + 68].copy_from_slice(&P_BYTES);
    });
    cases.patch("duplicate id, trailing byte", &migrated, NC, |b| {
        dup_id(b);
        b.push(0);
    });
    cases.patch("accepted count 4097, then end", &migrated, NC, |b| {
        b.truncate(spk_at(0) + 140);
        b.extend_from_slice(&4097u16.to_be_bytes());
    });
    cases.patch("accepted count 4096, then end", &migrated, TR, |b| {
        b.truncate(spk_at(0) + 140);
        b.extend_from_slice(&4096u16.to_be_bytes());
    });
    let swap_ids = |b: &mut Vec<u8>| {
        let at = spk_at(0) + 142;
        let first = b[at..at + 16].to_vec();
        let second = b[at + 16..at + 32].to_vec();
        b[at..at + 16].copy_from_slice(&second);
        b[at + 16..at + 32].copy_from_slice(&first);
    };
    cases.patch("accepted ids swapped", &migrated, NC, swap_ids);
    cases.patch("accepted id repeated", &migrated, NC, |b| {
        let at = spk_at(2) + 142;
        let first = b[at..at + 16].to_vec();
        b[at + 16..at + 32].copy_from_slice(&first);
    });
    // §2 rule 7: the order of an id is checked once it has been read.
    cases.patch(
        "accepted ids swapped, cut inside the second",
        &migrated,
        TR,
        |b| {
            swap_ids(b);
            b.truncate(spk_at(0) + 142 + 31);
        },
    );
    cases.patch("one-time count 65537, then end", &migrated, NC, |b| {
        b.truncate(otk_at);
        b.extend_from_slice(&65_537u32.to_be_bytes());
    });
    cases.patch("one-time count 65536, then end", &migrated, TR, |b| {
        b.truncate(otk_at);
        b.extend_from_slice(&65_536u32.to_be_bytes());
    });
    cases.patch("one-time ids equal", &migrated, NC, |b| {
        let id = b[otk_at + 4..otk_at + 8].to_vec();
        b[otk_at + 72..otk_at + 76].copy_from_slice(&id);
    });
    cases.patch(
        "one-time ids decreasing, cut in the public key",
        &migrated,
        TR,
        |b| {
            b[otk_at + 72..otk_at + 76].copy_from_slice(&[0; 4]);
            b.truncate(otk_at + 4 + 68 + 50);
        },
    );
    // ORDER guess: the id order relates an entry to the previous one: checked once the whole
    // entry (id, secret, public key) is read, after the key's own rules.
    cases.patch(
        "one-time ids decreasing, public key ≥ p",
        &migrated,
        IK,
        |b| {
            b[otk_at + 72..otk_at + 76].copy_from_slice(&[0; 4]);
            b[otk_at + 72 + 36..otk_at + 72 + 68].copy_from_slice(&P_BYTES);
        },
    );
    // §10.0: secrets stored clamped; public keys §2.3.
    for (name, at) in [
        ("signed prekey 0 secret unclamped", spk_at(0) + 12),
        ("signed prekey 2 secret unclamped", spk_at(2) + 12),
        ("one-time secret unclamped", otk_at + 4 + 4),
        ("last one-time secret unclamped", otk_at + 4 + 2 * 68 + 4),
    ] {
        for variant in 0..3u8 {
            let name: &str = format!("{name} ({variant})").leak();
            cases.patch(name, &migrated, NC, |b| {
                let k: K32 = b[at..at + 32].try_into().unwrap();
                b[at..at + 32].copy_from_slice(&unclamped(&k, variant));
            });
        }
    }
    for (name, at) in [
        ("signed prekey 1 public ≥ p", spk_at(1) + 44),
        ("one-time public top bit", otk_at + 4 + 68 + 36),
    ] {
        cases.patch(name, &migrated, IK, |b| {
            b[at..at + 32].copy_from_slice(&P_BYTES)
        });
    }
    cases.patch("signed prekey public low order", &migrated, OK, |b| {
        b[spk_at(0) + 44..spk_at(0) + 76].copy_from_slice(&[0; 32])
    });
    // A secret is checked before the signature that follows its public key (for the order
    // against the public key itself, see test 7e).
    cases.patch(
        "signed prekey secret unclamped, cut inside its signature",
        &migrated,
        NC,
        |b| {
            let at = spk_at(1) + 12;
            b[at] |= 0x01;
            b.truncate(at + 64 + 10);
        },
    );
    cases.patch(
        "one-time secret unclamped, id order wrong",
        &migrated,
        NC,
        |b| {
            let at = otk_at + 4 + 68;
            b[at..at + 4].copy_from_slice(&[0; 4]);
            let k: K32 = b[at + 4..at + 36].try_into().unwrap();
            b[at + 4..at + 36].copy_from_slice(&unclamped(&k, 1));
        },
    );

    // Version 2 (read only): 108-byte signed entries, 36-byte one-time entries.
    let entry2 = 108 + 2 + 16 * 4;
    let spk2 = |i: usize| 9 + i * entry2;
    let otk2 = 9 + 3 * entry2;
    let dup_id2 = |b: &mut Vec<u8>| {
        let id = b[spk2(0)..spk2(0) + 4].to_vec();
        b[spk2(1)..spk2(1) + 4].copy_from_slice(&id);
    };
    cases.patch("v2 trailing", &v2, TB, |b| b.push(0));
    cases.patch("v2 duplicate signed prekey id", &v2, NC, dup_id2);
    cases.patch("v2 duplicate id, trailing byte", &v2, NC, |b| {
        dup_id2(b);
        b.push(0);
    });
    // ... checked as soon as the second one's signature is read.
    cases.patch("v2 duplicate id, cut after the signature", &v2, NC, |b| {
        dup_id2(b);
        b.truncate(spk2(1) + 108);
    });
    cases.patch("v2 duplicate id, cut inside the signature", &v2, TR, |b| {
        dup_id2(b);
        b.truncate(spk2(1) + 107);
    });
    cases.patch("v2 accepted count 4097, then end", &v2, NC, |b| {
        b.truncate(spk2(0) + 108);
        b.extend_from_slice(&4097u16.to_be_bytes());
    });
    cases.patch("v2 accepted ids swapped", &v2, NC, |b| {
        let at = spk2(0) + 110;
        let first = b[at..at + 16].to_vec();
        let second = b[at + 16..at + 32].to_vec();
        b[at..at + 16].copy_from_slice(&second);
        b[at + 16..at + 32].copy_from_slice(&first);
    });
    cases.patch("v2 one-time count 65537, then end", &v2, NC, |b| {
        b.truncate(otk2);
        b.extend_from_slice(&65_537u32.to_be_bytes());
    });
    cases.patch("v2 one-time ids equal", &v2, NC, |b| {
        let id = b[otk2 + 4..otk2 + 8].to_vec();
        b[otk2 + 40..otk2 + 44].copy_from_slice(&id);
    });
    for (name, at) in [
        ("v2 signed prekey secret unclamped", spk2(1) + 12),
        ("v2 one-time secret unclamped", otk2 + 4 + 36 + 4),
    ] {
        cases.patch(name, &v2, NC, |b| {
            let k: K32 = b[at..at + 32].try_into().unwrap();
            b[at..at + 32].copy_from_slice(&unclamped(&k, 2));
        });
    }
    cases.patch(
        "v2 signed prekey secret unclamped, cut inside the signature",
        &v2,
        NC,
        |b| {
            let at = spk2(1) + 12;
            let k: K32 = b[at..at + 32].try_into().unwrap();
            b[at..at + 32].copy_from_slice(&unclamped(&k, 0));
            b.truncate(at + 32 + 10);
        },
    );

    // Version 1: the version-2 layout without the records, then the seen list.
    let v1_body = sc::body(&v1).to_vec();
    let seen_at = v1_body.len() - 4 - 32 * seen.len();
    cases.patch("v1 trailing", &v1, TB, |b| b.push(0));
    cases.patch("v1 without seen list", &v1, TR, |b| b.truncate(seen_at));
    cases.patch("v1 seen count 1025, then end", &v1, NC, |b| {
        b.truncate(seen_at);
        b.extend_from_slice(&1025u32.to_be_bytes());
    });
    cases.patch("v1 seen count 1024, then end", &v1, TR, |b| {
        b.truncate(seen_at);
        b.extend_from_slice(&1024u32.to_be_bytes());
    });
    cases.patch("v1 seen key ≥ p", &v1, IK, |b| {
        b[seen_at + 4..seen_at + 36].copy_from_slice(&P_BYTES);
    });
    cases.patch("v1 seen key top bit", &v1, IK, |b| {
        b[seen_at + 4 + 31] |= 0x80
    });
    // Not in SPEC.md's text for the seen keys (§2.3 only): a key repeated byte for byte is
    // NonCanonical (§10.2: "a key repeated byte for byte → NonCanonical, checked once it is
    // read").
    cases.patch("v1 duplicate seen key", &v1, NC, |b| {
        let k = b[seen_at + 4..seen_at + 36].to_vec();
        b[seen_at + 36..seen_at + 68].copy_from_slice(&k);
    });
    cases.patch("v1 duplicate seen key, not adjacent", &v1, NC, |b| {
        let k = b[seen_at + 4..seen_at + 36].to_vec();
        let last = b.len() - 32;
        b[last..].copy_from_slice(&k);
    });
    cases.patch("v1 duplicate seen key, cut inside it", &v1, TR, |b| {
        let k = b[seen_at + 4..seen_at + 36].to_vec();
        b[seen_at + 36..seen_at + 68].copy_from_slice(&k);
        b.truncate(seen_at + 67);
    });
    // The version-1 secrets are unclamped (as drawn); clamped ones load just as well.
    cases.raw("v1 clamped secrets", bob.store.encode_v1(&seen), OK);
    cases.patch("v1 one-time count 65537, then end", &v1, NC, |b| {
        b.truncate(9 + 3 * 108);
        b.extend_from_slice(&65_537u32.to_be_bytes());
    });
    cases.patch(
        "v1 one-time ids decreasing, cut in the secret",
        &v1,
        TR,
        |b| {
            let at = 9 + 3 * 108;
            b[at + 40..at + 44].copy_from_slice(&[0; 4]);
            b.truncate(at + 4 + 36 + 20);
        },
    );
    cases.patch("v1 duplicate signed prekey id", &v1, NC, |b| {
        let id = b[9..13].to_vec();
        b[9 + 108..9 + 112].copy_from_slice(&id);
    });
    cases.patch("v1 no signed prekeys", &v1, OK, |b| {
        let mut nb = b[..8].to_vec();
        nb.push(0);
        nb.extend_from_slice(&b[9 + 3 * 108..]);
        *b = nb;
    });
    cases.raw(
        "v2 body labelled v1",
        envelope_v(KIND_STORE, V1, sc::body(&v2)),
        None,
    );
    cases.raw(
        "v1 body labelled v2",
        envelope_v(KIND_STORE, V2, &v1_body),
        None,
    );
    cases.raw(
        "v3 body labelled v2",
        envelope_v(KIND_STORE, V2, &body),
        None,
    );
    cases.raw(
        "v2 body labelled v3",
        envelope_v(KIND_STORE, STATE_VERSION, sc::body(&v2)),
        None,
    );
    for version in [0u8, 5] {
        let mut raw = migrated.clone();
        raw[1] = version;
        let e: &str = format!("UnknownVersion({version})").leak();
        cases.raw("version", raw, Some(Err(e)));
    }
    // Version 4 is read: a version-3 body sealed as version 4 ends before its KEM part.
    cases.raw(
        "v3 body labelled v4",
        envelope_v(KIND_STORE, sc::VERSION_PQ, sc::body(&migrated)),
        TR,
    );
    let mut raw = migrated.clone();
    raw[0] = KIND_SESSION;
    cases.raw("kind", raw, Some(Err("UnknownType(18)")));
    let mut raw = migrated.clone();
    raw[30] ^= 1;
    cases.raw("checksum", raw, Some(Err("ChecksumMismatch")));
    cases.raw("17 bytes", vec![KIND_STORE; 17], TR);
    let mut eighteen = vec![KIND_STORE; 2];
    eighteen.extend_from_slice(&[0; 16]);
    cases.raw("18 bytes", eighteen, Some(Err("UnknownVersion(17)")));
    cases.run(|blob| {
        let mine = MyBob::load_store(Ident::new(seed), blob)
            .map(|s| s.store_state())
            .map_err(|e| format!("{e:?}"));
        let theirs = PreKeyStore::from_bytes(blob)
            .map(|s| s.to_bytes().unwrap().to_vec())
            .map_err(|e| format!("{e:?}"));
        (mine, theirs)
    });
}
