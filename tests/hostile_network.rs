//! Property test: a two-party conversation over a network that drops, reorders, duplicates,
//! truncates and flips bits, with raw (`encrypt`/`decrypt`) and framed (`send`/`receive`) messages.
//!
//! Oracle: every authentic message delivered decrypts exactly once, to what was sent; every
//! replayed or damaged one is rejected with a typed error; a rejection leaves the receiving
//! session byte-identical.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use proptest::prelude::*;
use xchat_protocol::{Error, Session};

#[derive(Clone, Debug)]
enum Op {
    Send {
        from_alice: bool,
        len: usize,
        framed: bool,
    },
    Deliver(usize),
    Duplicate(usize),
    Drop(usize),
    Truncate(usize, usize),
    FlipBit(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0usize..64, any::<bool>())
            .prop_map(|(from_alice, len, framed)| Op::Send { from_alice, len, framed }),
        5 => any::<usize>().prop_map(Op::Deliver),
        1 => any::<usize>().prop_map(Op::Duplicate),
        1 => any::<usize>().prop_map(Op::Drop),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(i, n)| Op::Truncate(i, n)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(i, b)| Op::FlipBit(i, b)),
    ]
}

struct Packet {
    to_alice: bool,
    /// Sent with `send` (content frame, delivered with `receive`) rather than raw `encrypt`.
    framed: bool,
    bytes: Vec<u8>,
    id: usize,
    /// `None` for damaged copies.
    plaintext: Option<Vec<u8>>,
}

const NOW: u64 = 1_700_000_000_000;

/// Delivers through the API the packet was sent for: `receive` for frames, `decrypt` for raw.
fn deliver(receiver: &mut Session, pk: &Packet) -> Result<Vec<u8>, Error> {
    if pk.framed {
        receiver.receive(&pk.bytes, NOW).map(|r| r.body)
    } else {
        receiver.decrypt(&pk.bytes)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn conversation_survives_a_hostile_network(seed in any::<u8>(), ops in prop::collection::vec(op(), 1..80)) {
        let mut p = common::established(seed, seed % 2 == 0);
        let mut in_flight: Vec<Packet> = Vec::new();
        let mut delivered = std::collections::HashSet::new();
        let mut next_id = 0usize;

        for op in ops {
            match op {
                Op::Send { from_alice, len, framed } => {
                    let plaintext: Vec<u8> = (0..len).map(|i| (i + next_id) as u8).collect();
                    let sender = if from_alice { &mut p.alice } else { &mut p.bob };
                    let bytes = if framed {
                        sender.send(&mut p.rng, NOW, &plaintext).unwrap()
                    } else {
                        sender.encrypt(&mut p.rng, &plaintext).unwrap()
                    };
                    in_flight.push(Packet { to_alice: !from_alice, framed, bytes, id: next_id, plaintext: Some(plaintext) });
                    next_id += 1;
                }
                Op::Drop(i) if !in_flight.is_empty() => {
                    in_flight.remove(i % in_flight.len());
                }
                Op::Duplicate(i) if !in_flight.is_empty() => {
                    let pk = &in_flight[i % in_flight.len()];
                    let copy = Packet { to_alice: pk.to_alice, framed: pk.framed, bytes: pk.bytes.clone(), id: pk.id, plaintext: pk.plaintext.clone() };
                    in_flight.push(copy);
                }
                Op::Truncate(i, n) if !in_flight.is_empty() => {
                    let pk = &in_flight[i % in_flight.len()];
                    if pk.bytes.is_empty() {
                        continue;
                    }
                    let len = n % pk.bytes.len();
                    let damaged = Packet { to_alice: pk.to_alice, framed: pk.framed, bytes: pk.bytes[..len].to_vec(), id: pk.id, plaintext: None };
                    in_flight.push(damaged);
                }
                Op::FlipBit(i, b) if !in_flight.is_empty() => {
                    let pk = &in_flight[i % in_flight.len()];
                    if pk.bytes.is_empty() {
                        continue;
                    }
                    let mut bytes = pk.bytes.clone();
                    let bit = b % (bytes.len() * 8);
                    bytes[bit / 8] ^= 1 << (bit % 8);
                    in_flight.push(Packet { to_alice: pk.to_alice, framed: pk.framed, bytes, id: pk.id, plaintext: None });
                }
                Op::Deliver(i) if !in_flight.is_empty() => {
                    let pk = in_flight.remove(i % in_flight.len());
                    let receiver: &mut Session = if pk.to_alice { &mut p.alice } else { &mut p.bob };
                    let before = receiver.to_bytes();
                    let result = deliver(receiver, &pk);
                    match (&pk.plaintext, result) {
                        (Some(expected), Ok(got)) => {
                            prop_assert!(delivered.insert(pk.id), "message {} decrypted twice", pk.id);
                            prop_assert_eq!(&got, expected);
                        }
                        (Some(_), Err(e)) => {
                            prop_assert!(delivered.contains(&pk.id), "authentic message {} rejected: {:?}", pk.id, e);
                            prop_assert_eq!(e, Error::DuplicateMessage);
                            prop_assert_eq!(&receiver.to_bytes(), &before);
                        }
                        (None, Ok(_)) => prop_assert!(false, "damaged copy of {} accepted", pk.id),
                        (None, Err(_)) => prop_assert_eq!(&receiver.to_bytes(), &before),
                    }
                }
                _ => {}
            }
        }
        // Everything still in flight and authentic decrypts now, exactly once.
        for pk in in_flight {
            let receiver: &mut Session = if pk.to_alice { &mut p.alice } else { &mut p.bob };
            let result = deliver(receiver, &pk);
            if let (Some(expected), false) = (&pk.plaintext, delivered.contains(&pk.id)) {
                prop_assert_eq!(&result.unwrap(), expected);
                delivered.insert(pk.id);
            } else {
                prop_assert!(result.is_err());
            }
        }
    }
}
