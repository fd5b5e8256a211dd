//! "Every `Err` leaves all state byte-identical" (lib.rs, SECURITY.md property 4, SPEC.md §6.6,
//! §7.3) for the PQXDH paths: every single-byte change and every truncation of a PQXDH prekey
//! message, and of the responder's reply, fed to `respond`, `accept`, `decrypt` and `receive` of
//! every party; after each failure the store and both sessions re-serialize to the same bytes.

use xchat_protocol::{IdentityKeyPair, PreKeyStore, Session};

use crate::common::rng;
use crate::support::{
    COMBOS, NOW, classical, embedded_at, first, flip, pq, responder, session_bytes, store_bytes,
};

struct Parties {
    store: PreKeyStore,
    alice: Session,
    bob: Session,
}

impl Parties {
    fn bytes(&self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        (
            store_bytes(&self.store),
            session_bytes(&self.alice),
            session_bytes(&self.bob),
        )
    }

    /// Feeds `m` to every entry point; returns how many accepted it. Any call that fails must
    /// leave every state as it was.
    fn attack(&mut self, id: &IdentityKeyPair, m: &[u8], what: &str) -> usize {
        let before = self.bytes();
        let mut ok = 0;
        let mut check = |parties: &Parties, result: bool, call: &str| {
            if result {
                ok += 1;
            } else {
                assert_eq!(
                    parties.bytes(),
                    before,
                    "{what}: a failed {call} changed state"
                );
            }
        };
        let got = Session::accept(id, &mut self.store, m, &pq(), NOW).is_ok();
        check(self, got, "accept");
        let got = Session::respond(id, &mut self.store, m, &classical()).is_ok();
        check(self, got, "respond");
        // Sessions: each call on a fresh copy, so that one accepted message hides no check.
        for (name, blob, raw) in [
            ("alice.decrypt", &before.1, true),
            ("alice.receive", &before.1, false),
            ("bob.decrypt", &before.2, true),
            ("bob.receive", &before.2, false),
        ] {
            let mut s = Session::from_bytes(blob).unwrap();
            let got = if raw {
                s.decrypt(m).is_ok()
            } else {
                s.receive(m, NOW).is_ok()
            };
            if got {
                ok += 1;
            } else {
                assert_eq!(
                    &session_bytes(&s),
                    blob,
                    "{what}: a failed {name} changed it"
                );
            }
        }
        ok
    }
}

#[test]
fn held_every_failed_call_on_a_hostile_pqxdh_message_leaves_all_state_byte_identical() {
    for (n, keys) in [COMBOS[0], COMBOS[3]].into_iter().enumerate() {
        let mut r = rng(80 + n as u8);
        let bob = responder(&mut r);
        let alice = IdentityKeyPair::generate(&mut r);
        let (mut a, m0) = first(&mut r, &alice, &bob.bundle(keys, 0));
        let m1 = a.send(&mut r, NOW, b"second prekey message").unwrap();
        let mut store = bob.store.clone();
        let (mut b, _) = Session::accept(&bob.id, &mut store, &m0, &pq(), NOW).unwrap();
        let reply = b.send(&mut r, NOW, b"reply").unwrap();
        let mut p = Parties {
            store,
            alice: a,
            bob: b,
        };
        // The untouched messages are positive controls: each is accepted by exactly the parties
        // that should (the second prekey message by Bob's session, the reply by Alice's).
        assert_eq!(p.attack(&bob.id, &m1, "m1"), 2);
        assert_eq!(p.attack(&bob.id, &reply, "reply"), 2);
        // Every byte of the X3DH fields, the KEM use and id and the embedded prefix; a sample of
        // the ciphertexts (each input that decodes costs an ML-KEM key expansion and decapsulation).
        let opk = keys.opk;
        let ct = crate::support::ct_range(opk);
        let embedded = embedded_at(opk);
        let positions = (0..ct.start)
            .chain(ct.clone().step_by(97))
            .chain(embedded..embedded + 58)
            .chain((embedded + 58..m1.len()).step_by(61));
        let mut hostile = Vec::new();
        for i in positions {
            hostile.push((format!("m1 byte {i}"), flip(&m1, i, 0x01)));
        }
        for len in (0..embedded + 74).chain((embedded + 74..m1.len()).step_by(29)) {
            hostile.push((format!("m1 cut at {len}"), m1[..len].to_vec()));
        }
        for i in 0..reply.len() {
            hostile.push((format!("reply byte {i}"), flip(&reply, i, 0x01)));
        }
        for len in 0..reply.len() {
            hostile.push((format!("reply cut at {len}"), reply[..len].to_vec()));
        }
        for (what, m) in &hostile {
            // Every byte is either parsed strictly or authenticated: nothing may accept these.
            assert_eq!(
                p.attack(&bob.id, m, what),
                0,
                "{keys:?}: {what} was accepted"
            );
        }
    }
}

/// The longest associated data there is (SPEC.md §3.5: a 1024-byte context and the prekey fields
/// of a PQXDH first message with a one-time prekey, 66 + 1024 + 1648 bytes, then the prefix; since
/// `c4a8bef` built on the heap): the first message, a later prekey message and the replies work at
/// the bound, and a 1025-byte context is `TooLarge` on both sides, changing nothing.
#[test]
fn held_the_longest_associated_data_works_at_its_bound() {
    use xchat_protocol::{Config, Error, Trust};
    let mut r = rng(85);
    let mut bob = responder(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let bundle = bob.bundle(COMBOS[3], 0);
    let context = [0xC7; 1025];
    let (ok, long) = (Config::new(&context[..1024]), Config::new(&context));
    let got = Session::initiate(&mut r, &alice, &bundle, Trust::FirstUse, &long).map(|_| ());
    assert_eq!(got, Err(Error::TooLarge));
    let mut a = Session::initiate(&mut r, &alice, &bundle, Trust::FirstUse, &ok).unwrap();
    let m0 = a.send(&mut r, NOW, b"first").unwrap();
    let m1 = a.send(&mut r, NOW, b"second").unwrap();
    let before = bob.store_bytes();
    let got = Session::accept(&bob.id, &mut bob.store, &m0, &long, NOW).map(|_| ());
    assert_eq!(got, Err(Error::TooLarge));
    assert_eq!(bob.store_bytes(), before);
    let (mut b, first) = Session::accept(&bob.id, &mut bob.store, &m1, &ok, NOW).unwrap();
    assert_eq!(first.body, b"second");
    assert_eq!(
        b.receive(&m0, NOW).unwrap().message().unwrap().body,
        b"first"
    );
    let reply = b.send(&mut r, NOW, b"reply").unwrap();
    assert_eq!(
        a.receive(&reply, NOW).unwrap().message().unwrap().body,
        b"reply"
    );
    let back = a.send(&mut r, NOW, b"normal").unwrap();
    assert_eq!(
        b.receive(&back, NOW).unwrap().message().unwrap().body,
        b"normal"
    );
}
