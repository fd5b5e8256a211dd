//! Structure-aware two-party conversation over a hostile network.
//!
//! Operations: send (raw or framed), deliver, drop, duplicate, corrupt a bit, truncate,
//! snapshot and restore a party's state, purge, and advance the clock. Invariants checked on
//! every step:
//! - an authentic message decrypts at most once per state lineage, and only to the bytes sent;
//! - while no party has been rolled back, every authentic message decrypts on first delivery;
//! - a damaged message is always rejected;
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

struct Packet {
    to_alice: bool,
    framed: bool,
    bytes: Vec<u8>,
    id: u32,
}

struct Party {
    session: Session,
    decrypted: HashSet<u32>,
    snapshot: Option<(Vec<u8>, HashSet<u32>)>,
}

static START: LazyLock<(Vec<u8>, Vec<u8>)> = LazyLock::new(|| {
    let f = fixture();
    (f.alice.to_bytes().to_vec(), f.bob.to_bytes().to_vec())
});

fuzz_target!(|ops: Vec<Op>| {
    let mut rng = xchat_protocol_fuzz::rng(99);
    let mut parties = [&START.0, &START.1].map(|blob| Party {
        session: Session::from_bytes(blob).unwrap(),
        decrypted: HashSet::new(),
        snapshot: None,
    });
    let mut net: Vec<Packet> = Vec::new();
    // What each message was when sent: a packet is authentic iff its bytes are these (a bit
    // flipped twice is authentic again).
    let mut sent: HashMap<u32, (Vec<u8>, Vec<u8>)> = HashMap::new();
    let mut next_id = 0u32;
    let mut now = NOW;
    let mut rolled_back = false;
    // Keep every old chain for the whole run: a message of a chain evicted by `max_old_chains`
    // is rejected by design (SPEC.md §6.4), which would blur the "decrypts on first delivery"
    // oracle. Eviction itself is covered by tests/session.rs.
    let limits = Limits { max_old_chains: 1 << 20, ..Limits::default() };
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
                sent.insert(next_id, (bytes.clone(), plaintext));
                net.push(Packet {
                    to_alice: !from_alice,
                    framed,
                    bytes,
                    id: next_id,
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
                party.snapshot = Some((party.session.to_bytes().to_vec(), party.decrypted.clone()));
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
                let party = &mut parties[usize::from(!p.to_alice)];
                let before = party.session.to_bytes();
                let result = if p.framed {
                    party.session.receive(&p.bytes, now).map(|r| r.body)
                } else {
                    party.session.decrypt(&p.bytes)
                };
                let authentic = sent
                    .get(&p.id)
                    .filter(|(bytes, _)| *bytes == p.bytes)
                    .map(|(_, pt)| pt);
                match (authentic, result) {
                    (Some(sent), Ok(got)) => {
                        assert_eq!(&got, sent, "decrypted to other bytes");
                        assert!(
                            party.decrypted.insert(p.id),
                            "message {} decrypted twice",
                            p.id
                        );
                    }
                    (Some(_), Err(e)) => {
                        assert!(
                            rolled_back || party.decrypted.contains(&p.id),
                            "authentic message {} rejected with {e:?}",
                            p.id
                        );
                        assert_eq!(party.session.to_bytes(), before, "state changed on {e:?}");
                    }
                    (None, Ok(_)) => panic!("damaged copy of message {} accepted", p.id),
                    (None, Err(Error::Expired | Error::InvalidContent(_))) => {
                        panic!("damaged message passed authentication")
                    }
                    (None, Err(_)) => assert_eq!(party.session.to_bytes(), before),
                }
            }
            _ => {}
        }
        for party in &parties {
            assert!(party.session.skipped_key_count() <= max_keys);
        }
    }
});
