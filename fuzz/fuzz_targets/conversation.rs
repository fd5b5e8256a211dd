//! Structure-aware two-party conversation over a hostile network.
//!
//! Operations: send (raw or framed), deliver, drop, duplicate, corrupt a bit, truncate,
//! snapshot and restore a party's state, purge, and advance the clock. A delivered packet is
//! judged by its bytes alone: bytes equal to a message the library sent (any copy, any
//! provenance: a bit flipped twice is authentic again) are that message, delivered to its
//! recipient through the API it was sent for; any other bytes are damaged. Invariants checked on
//! every step:
//! - no two sends produce the same bytes;
//! - an authentic message decrypts at most once per state lineage, and only to the bytes sent;
//! - while no party has been rolled back, every authentic message decrypts on first delivery,
//!   and a later copy is rejected with `DuplicateMessage`;
//! - a damaged message is always rejected, and every rejection changes nothing;
//! - a rejected input leaves the receiving session byte-identical;
//! - skipped keys never exceed the configured limit;
//! - nothing panics.
#![no_main]
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use xchat_protocol::{Error, Limits, Session};
use xchat_protocol_fuzz::{NOW, fixture};

#[derive(Arbitrary, Debug)]
enum Op {
    Send {
        from_alice: bool,
        len: u8,
        framed: bool,
    },
    Deliver(u8),
    Drop(u8),
    Duplicate(u8),
    Corrupt {
        index: u8,
        position: u16,
        bit: u8,
    },
    Truncate {
        index: u8,
        len: u16,
    },
    Snapshot {
        alice: bool,
    },
    Restore {
        alice: bool,
    },
    Purge {
        alice: bool,
    },
    Advance {
        seconds: u16,
    },
}

/// Bytes on the network. Damaged copies inherit the route (`to_alice`, `framed`) of the packet
/// they were made from; only the bytes decide whether a packet is authentic.
struct Packet {
    to_alice: bool,
    framed: bool,
    bytes: Vec<u8>,
}

/// A message as the library produced it.
struct Sent {
    id: u32,
    to_alice: bool,
    framed: bool,
    plaintext: Vec<u8>,
}

struct Party {
    session: Session,
    decrypted: HashSet<u32>,
    snapshot: Option<(Vec<u8>, HashSet<u32>)>,
}

static START: LazyLock<(Vec<u8>, Vec<u8>)> = LazyLock::new(|| {
    let f = fixture();
    (
        f.alice.to_bytes().unwrap().to_vec(),
        f.bob.to_bytes().unwrap().to_vec(),
    )
});

fuzz_target!(|ops: Vec<Op>| {
    let mut rng = xchat_protocol_fuzz::rng(99);
    let mut parties = [&START.0, &START.1].map(|blob| Party {
        session: Session::from_bytes(blob).unwrap(),
        decrypted: HashSet::new(),
        snapshot: None,
    });
    let mut net: Vec<Packet> = Vec::new();
    // Every message the library sent, dropped ones included, keyed by its exact bytes: a packet
    // is authentic iff its bytes are one of these, whatever it was copied or damaged from.
    let mut sent: HashMap<Vec<u8>, Sent> = HashMap::new();
    let mut next_id = 0u32;
    let mut now = NOW;
    let mut rolled_back = false;
    // Keep every old chain for the whole run: a message of a chain evicted by `max_old_chains`
    // is rejected by design (SPEC.md §6.4), which would blur the "decrypts on first delivery"
    // oracle. Eviction itself is covered by tests/session/limits.rs.
    let limits = Limits {
        max_old_chains: 1 << 20,
        ..Limits::default()
    };
    for party in &mut parties {
        party.session.set_limits(limits).unwrap();
    }
    let max_keys = limits.max_skipped_keys as usize;

    for op in ops.into_iter().take(256) {
        match op {
            Op::Send {
                from_alice,
                len,
                framed,
            } => {
                let sender = &mut parties[usize::from(!from_alice)].session;
                let mut plaintext = next_id.to_be_bytes().to_vec();
                plaintext.resize(4 + usize::from(len), len);
                let bytes = if framed {
                    sender.send(&mut rng, now, &plaintext)
                } else {
                    sender.encrypt(&mut rng, &plaintext)
                }
                .unwrap();
                let record = Sent {
                    id: next_id,
                    to_alice: !from_alice,
                    framed,
                    plaintext,
                };
                if let Some(earlier) = sent.insert(bytes.clone(), record) {
                    panic!("messages {} and {next_id} have the same bytes", earlier.id);
                }
                net.push(Packet {
                    to_alice: !from_alice,
                    framed,
                    bytes,
                });
                next_id += 1;
            }
            Op::Drop(i) if !net.is_empty() => {
                net.remove(usize::from(i) % net.len());
            }
            Op::Duplicate(i) if !net.is_empty() => {
                let p = &net[usize::from(i) % net.len()];
                let copy = Packet {
                    bytes: p.bytes.clone(),
                    ..*p
                };
                net.push(copy);
            }
            Op::Corrupt {
                index,
                position,
                bit,
            } if !net.is_empty() => {
                let p = &net[usize::from(index) % net.len()];
                if p.bytes.is_empty() {
                    continue;
                }
                let mut bytes = p.bytes.clone();
                let at = usize::from(position) % bytes.len();
                bytes[at] ^= 1 << (bit % 8);
                net.push(Packet { bytes, ..*p });
            }
            Op::Truncate { index, len } if !net.is_empty() => {
                let p = &net[usize::from(index) % net.len()];
                if p.bytes.is_empty() {
                    continue;
                }
                let bytes = p.bytes[..usize::from(len) % p.bytes.len()].to_vec();
                net.push(Packet { bytes, ..*p });
            }
            Op::Snapshot { alice } => {
                let party = &mut parties[usize::from(!alice)];
                party.snapshot = Some((
                    party.session.to_bytes().unwrap().to_vec(),
                    party.decrypted.clone(),
                ));
            }
            Op::Restore { alice } => {
                let party = &mut parties[usize::from(!alice)];
                if let Some((blob, decrypted)) = &party.snapshot {
                    party.session = Session::from_bytes(blob).unwrap();
                    party.decrypted = decrypted.clone();
                    rolled_back = true;
                }
            }
            Op::Purge { alice } => {
                parties[usize::from(!alice)].session.purge(now);
            }
            Op::Advance { seconds } => now += u64::from(seconds) * 1000,
            Op::Deliver(i) if !net.is_empty() => {
                let p = net.remove(usize::from(i) % net.len());
                let authentic = sent.get(&p.bytes);
                let (to_alice, framed) =
                    authentic.map_or((p.to_alice, p.framed), |a| (a.to_alice, a.framed));
                let party = &mut parties[usize::from(!to_alice)];
                let before = party.session.to_bytes();
                // Every `Ok` consumed the message; only a `Receipt::Message` carries content (an
                // authentic frame can arrive expired).
                let result = if framed {
                    party
                        .session
                        .receive(&p.bytes, now)
                        .map(|r| r.into_message().map(|m| m.body))
                } else {
                    party.session.decrypt(&p.bytes).map(Some)
                };
                match (authentic, result) {
                    (Some(a), Ok(got)) => {
                        if let Some(got) = got {
                            assert_eq!(
                                got, a.plaintext,
                                "message {} decrypted to other bytes",
                                a.id
                            );
                        }
                        assert!(
                            party.decrypted.insert(a.id),
                            "message {} decrypted twice",
                            a.id
                        );
                    }
                    (Some(a), Err(e)) => {
                        assert!(
                            rolled_back || party.decrypted.contains(&a.id),
                            "authentic message {} rejected with {e:?}",
                            a.id
                        );
                        assert!(
                            rolled_back || e == Error::DuplicateMessage,
                            "replay of message {} rejected with {e:?}",
                            a.id
                        );
                        assert_eq!(party.session.to_bytes(), before, "state changed on {e:?}");
                    }
                    (None, Ok(_)) => panic!("damaged packet accepted: {:02x?}", p.bytes),
                    // Every error, of every kind, changed nothing (issue 12: `Err` means unchanged).
                    (None, Err(e)) => {
                        assert_eq!(party.session.to_bytes(), before, "state changed on {e:?}")
                    }
                }
            }
            _ => {}
        }
        for party in &parties {
            assert!(party.session.skipped_key_count() <= max_keys);
        }
    }
});
