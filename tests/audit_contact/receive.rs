//! `Contact::receive` (SPEC.md §15.3): the device check, failed deliveries that must change
//! nothing (contact and prekey store), and the rule that a prekey message the session answers
//! with `SessionMismatch` starts a session that *replaces* the one held.

use xchat_protocol::account::Contact;
use xchat_protocol::sealed_sender::seal_to;
use xchat_protocol::{Error, IdentityKeyPair, Receipt, Role, SealedSenderError, Session, Trust};

use crate::support::{Account, Device, Operator, T0, bytes, config, copy, rng, store_bytes};

fn body(r: &Result<xchat_protocol::Delivered, SealedSenderError>) -> Vec<u8> {
    match r {
        Ok(d) => match &d.receipt {
            Receipt::Message(m) => m.body.clone(),
            other => panic!("{other:?}"),
        },
        Err(e) => panic!("{e:?}"),
    }
}

/// Alice (one device) and Bob (one device), each with a contact for the other.
struct Two {
    r: rand_chacha::ChaCha20Rng,
    op: Operator,
    alice: Account,
    bob: Account,
    a1: IdentityKeyPair,
    b1: IdentityKeyPair,
    /// Alice's contact for Bob.
    a_side: Contact,
    /// Bob's contact for Alice.
    b_side: Contact,
}

impl Two {
    fn new(seed: u8) -> Self {
        let mut r = rng(seed);
        let op = Operator::new(&mut r);
        let alice = Account::new(&mut r, 1);
        let bob = Account::new(&mut r, 1);
        let a1 = copy(&alice.device(1).key);
        let b1 = copy(&bob.device(1).key);
        let a_side = bob.contact();
        let b_side = alice.contact();
        Self {
            r,
            op,
            alice,
            bob,
            a1,
            b1,
            a_side,
            b_side,
        }
    }

    /// Alice's contact sends `text` sealed to each of Bob's devices; the envelopes.
    fn alice_sends(&mut self, text: &[u8]) -> Vec<Vec<u8>> {
        let cert = self.op.certify(b"alice", 1, &self.a1);
        let out = self
            .a_side
            .send_sealed(&mut self.r, &self.a1, &cert, T0, text)
            .unwrap();
        out.into_iter().map(|o| o.message).collect()
    }

    fn bob_sends(&mut self, text: &[u8]) -> Vec<Vec<u8>> {
        let cert = self.op.certify(b"bob", 1, &self.b1);
        let out = self
            .b_side
            .send_sealed(&mut self.r, &self.b1, &cert, T0, text)
            .unwrap();
        out.into_iter().map(|o| o.message).collect()
    }

    fn bob_receives(
        &mut self,
        envelope: &[u8],
    ) -> Result<xchat_protocol::Delivered, SealedSenderError> {
        let opened = self.op.open(&self.b1, envelope);
        let store = &mut self.bob.device_mut(1).store;
        self.b_side.receive(&opened, &self.b1, store, &config())
    }

    fn alice_receives(
        &mut self,
        envelope: &[u8],
    ) -> Result<xchat_protocol::Delivered, SealedSenderError> {
        let opened = self.op.open(&self.a1, envelope);
        let store = &mut self.alice.device_mut(1).store;
        self.a_side.receive(&opened, &self.a1, store, &config())
    }
}

#[test]
fn holds_a_failed_receive_after_the_device_check_changes_nothing() {
    let mut t = Two::new(30);
    let bundle = t.alice.device(1).bundle(Some(0));
    // Bob's device starts a session with Alice; Alice accepts it through her contact.
    t.b_side
        .initiate(&mut t.r, &t.b1, &bundle, &config())
        .unwrap();
    let first = t.bob_sends(b"one");
    assert_eq!(body(&t.alice_receives(&first[0])), b"one");
    let second = t.bob_sends(b"two");
    assert_eq!(body(&t.alice_receives(&second[0])), b"two");

    let contact_before = bytes(&t.a_side);
    let store_before = store_bytes(&t.alice.device(1).store);
    let unchanged = |t: &Two, what: &str| {
        assert_eq!(bytes(&t.a_side), contact_before, "{what}: contact changed");
        assert_eq!(
            store_bytes(&t.alice.device(1).store),
            store_before,
            "{what}: store changed"
        );
    };

    // A replay of either envelope: a duplicate (the first is a prekey message of the held
    // session's own run, so it goes to the session, not to `respond`).
    for env in [&first[0], &second[0]] {
        assert_eq!(
            t.alice_receives(env).unwrap_err(),
            SealedSenderError::Session(Error::DuplicateMessage)
        );
        unchanged(&t, "replay");
    }

    // Bob's device starts over with the same (already used) bundle: its one-time prekey is
    // gone, so `respond` fails after `decrypt` said SessionMismatch; the held session stays.
    let mut again = Session::initiate(
        &mut t.r,
        &t.b1,
        &bundle,
        Trust::Pinned(t.alice.device(1).key.public()),
        &config(),
    )
    .unwrap();
    let env =
        t.op.sealed_send(&mut t.r, &t.b1, b"bob", 1, &mut again, b"anew");
    assert_eq!(
        t.alice_receives(&env).unwrap_err(),
        SealedSenderError::Session(Error::UnknownOneTimePreKey(0))
    );
    unchanged(&t, "used one-time prekey");

    // A listed identity's envelope around a ghost's prekey message: the held session says
    // SessionMismatch, `respond` refuses the foreign initiator before touching the store.
    let ghost = IdentityKeyPair::generate(&mut t.r);
    let mut ghost_session = Session::initiate(
        &mut t.r,
        &ghost,
        &t.alice.device(1).bundle(Some(1)),
        Trust::FirstUse,
        &config(),
    )
    .unwrap();
    let m = ghost_session.send(&mut t.r, T0, b"ghost").unwrap();
    let cert = t.op.certify(b"bob", 1, &t.b1);
    let env = seal_to(&mut t.r, &t.b1, &cert, t.alice.device(1).key.public(), &m).unwrap();
    assert_eq!(
        t.alice_receives(&env).unwrap_err(),
        SealedSenderError::SenderIdentityMismatch
    );
    unchanged(&t, "ghost inside a listed envelope");

    // The ghost's own envelope, and the real device under another id.
    let env =
        t.op.seal_message(&mut t.r, &ghost, b"bob", 1, &ghost_session, &m);
    assert_eq!(
        t.alice_receives(&env).unwrap_err(),
        SealedSenderError::UnknownDevice
    );
    unchanged(&t, "ghost");
    let m = again.send(&mut t.r, T0, b"id 9").unwrap();
    let env = t.op.seal_message(&mut t.r, &t.b1, b"bob", 9, &again, &m);
    assert_eq!(
        t.alice_receives(&env).unwrap_err(),
        SealedSenderError::UnknownDevice
    );
    unchanged(&t, "other device id");

    // And the held session still works both ways.
    let third = t.bob_sends(b"three");
    assert_eq!(body(&t.alice_receives(&third[0])), b"three");
}

/// Finding (medium): simultaneous initiation deadlocks a pair of devices for good. Alice's
/// contact and Bob's contact each start a session with the other's device before either has
/// heard anything (the normal case when both write first, or when a new device appears on
/// both sides). Each side then receives the other's prekey message; its own session is an
/// initiator's, so `decrypt` says `SessionMismatch` and `receive` *replaces* it with a
/// responder session of the other side's run. Now Alice holds Bob's run and Bob holds Alice's:
/// every later message either sends is a normal message on a session the other no longer has,
/// and fails. Neither side ever sends a prekey message again (both are responders, i.e.
/// acknowledged), so nothing in `Contact` recovers; the messages are lost until an application
/// notices and calls `initiate` again.
#[test]
fn broken_simultaneous_initiation_leaves_both_sides_on_sessions_the_other_dropped() {
    let mut t = Two::new(31);
    let to_bob = t.bob.device(1).bundle(Some(0));
    let to_alice = t.alice.device(1).bundle(Some(0));
    t.a_side
        .initiate(&mut t.r, &t.a1, &to_bob, &config())
        .unwrap();
    t.b_side
        .initiate(&mut t.r, &t.b1, &to_alice, &config())
        .unwrap();
    let from_alice = t.alice_sends(b"hi bob");
    let from_bob = t.bob_sends(b"hi alice");
    // Both first messages are delivered, and read.
    assert_eq!(body(&t.bob_receives(&from_alice[0])), b"hi bob");
    assert_eq!(body(&t.alice_receives(&from_bob[0])), b"hi alice");
    // Each side replaced its own run with the other's.
    assert_eq!(t.a_side.session(1).unwrap().role(), Role::Responder);
    assert_eq!(t.b_side.session(1).unwrap().role(), Role::Responder);

    for round in 0..3 {
        let a = t.alice_sends(b"are you there?");
        let opened = t.op.open(&t.b1, &a[0]);
        assert!(
            !opened.is_prekey_message(),
            "no prekey message to recover with"
        );
        assert!(
            matches!(t.bob_receives(&a[0]), Err(SealedSenderError::Session(_))),
            "round {round}: Bob cannot read Alice"
        );
        let b = t.bob_sends(b"hello?");
        assert!(
            matches!(t.alice_receives(&b[0]), Err(SealedSenderError::Session(_))),
            "round {round}: Alice cannot read Bob"
        );
    }
}

/// Finding (medium): a server that withheld an older prekey message of a listed device can
/// later replace the live session with that stale run. Bob's device starts a session (run 1),
/// whose first message the server holds back; Bob's device starts again (run 2, e.g. after a
/// reinstall or a retry) and the two talk normally on run 2. The server then delivers run 1's
/// message: its one-time prekey (or first-message id) was never used, so `respond` accepts it
/// and `Contact::receive` swaps it in for the acknowledged run-2 session. From then on Alice
/// encrypts to a run Bob's device discarded and cannot read Bob's run-2 messages: the
/// conversation is cut without any message being forged, and nothing recovers it.
#[test]
fn broken_a_withheld_prekey_message_replaces_the_live_session() {
    let mut t = Two::new(32);
    // Run 1, without a one-time prekey: its first message is held back by the server.
    let r1 = t.alice.device(1).bundle(None);
    t.b_side.initiate(&mut t.r, &t.b1, &r1, &config()).unwrap();
    let withheld = t.bob_sends(b"run 1");
    // Run 2 replaces run 1 on Bob's side and is delivered.
    let r2 = t.alice.device(1).bundle(Some(3));
    t.b_side.initiate(&mut t.r, &t.b1, &r2, &config()).unwrap();
    let first = t.bob_sends(b"run 2");
    assert_eq!(body(&t.alice_receives(&first[0])), b"run 2");
    let reply = t.alice_sends(b"got it");
    assert_eq!(body(&t.bob_receives(&reply[0])), b"got it");
    let normal = t.bob_sends(b"normal message");
    assert_eq!(body(&t.alice_receives(&normal[0])), b"normal message");
    assert!(t.b_side.session(1).unwrap().is_acknowledged());

    // The server delivers run 1's message now: accepted, and it replaces run 2.
    assert_eq!(body(&t.alice_receives(&withheld[0])), b"run 1");
    assert_eq!(t.a_side.session_count(), 1);

    // The conversation is broken in both directions.
    let a = t.alice_sends(b"hello?");
    assert!(matches!(
        t.bob_receives(&a[0]),
        Err(SealedSenderError::Session(_))
    ));
    let b = t.bob_sends(b"hello?");
    assert!(matches!(
        t.alice_receives(&b[0]),
        Err(SealedSenderError::Session(_))
    ));
}

#[test]
fn holds_a_replayed_first_message_of_a_replaced_run_is_refused() {
    for one_time in [None, Some(2)] {
        let mut t = Two::new(33);
        let r1 = t.alice.device(1).bundle(one_time);
        t.b_side.initiate(&mut t.r, &t.b1, &r1, &config()).unwrap();
        let p0 = t.bob_sends(b"run 1 a");
        let p1 = t.bob_sends(b"run 1 b");
        assert_eq!(body(&t.alice_receives(&p0[0])), b"run 1 a");
        let r2 = t.alice.device(1).bundle(Some(5));
        t.b_side.initiate(&mut t.r, &t.b1, &r2, &config()).unwrap();
        let q0 = t.bob_sends(b"run 2");
        assert_eq!(body(&t.alice_receives(&q0[0])), b"run 2");
        let contact_before = bytes(&t.a_side);
        let store_before = store_bytes(&t.alice.device(1).store);
        for env in [&p0[0], &p1[0]] {
            let e = t.alice_receives(env).unwrap_err();
            assert!(
                matches!(
                    e,
                    SealedSenderError::Session(
                        Error::DuplicateMessage | Error::UnknownOneTimePreKey(_)
                    )
                ),
                "{e:?}"
            );
            assert_eq!(bytes(&t.a_side), contact_before);
            assert_eq!(store_bytes(&t.alice.device(1).store), store_before);
        }
    }
}

#[test]
fn holds_a_removed_device_or_a_reused_device_id_cannot_deliver() {
    let mut r = rng(34);
    let op = Operator::new(&mut r);
    let mut alice = Account::new(&mut r, 2);
    let bob = IdentityKeyPair::generate(&mut r);
    let mut bob_dev = Device::with_key(&mut r, 1, copy(&bob));
    let mut b_side = alice.contact();
    let a2 = copy(&alice.device(2).key);
    let mut s2 = Session::initiate(
        &mut r,
        &a2,
        &bob_dev.bundle(Some(0)),
        Trust::FirstUse,
        &config(),
    )
    .unwrap();
    let env = op.sealed_send(&mut r, &a2, b"alice", 2, &mut s2, b"from 2");
    let opened = op.open(&bob, &env);
    b_side
        .receive(&opened, &bob, &mut bob_dev.store, &config())
        .unwrap();
    assert_eq!(b_side.session_count(), 1);

    // Alice's account removes device 2, then gives id 2 to a new device.
    let (_, l2) = alice.remove(2);
    b_side.update(&[l2]).unwrap();
    assert_eq!(b_side.session_count(), 0);
    let l3 = alice.add(Device::new(&mut r, 2));
    b_side.update(&[l3]).unwrap();
    let before = bytes(&b_side);
    let store_before = store_bytes(&bob_dev.store);

    // The old device, on its old session and on a fresh one, certified as device 2: refused.
    let env = op.sealed_send(&mut r, &a2, b"alice", 2, &mut s2, b"still me");
    assert_eq!(
        b_side
            .receive(&op.open(&bob, &env), &bob, &mut bob_dev.store, &config())
            .unwrap_err(),
        SealedSenderError::UnknownDevice
    );
    let mut fresh = Session::initiate(
        &mut r,
        &a2,
        &bob_dev.bundle(Some(1)),
        Trust::FirstUse,
        &config(),
    )
    .unwrap();
    let env = op.sealed_send(&mut r, &a2, b"alice", 2, &mut fresh, b"new run");
    assert_eq!(
        b_side
            .receive(&op.open(&bob, &env), &bob, &mut bob_dev.store, &config())
            .unwrap_err(),
        SealedSenderError::UnknownDevice
    );
    assert_eq!(bytes(&b_side), before);
    assert_eq!(store_bytes(&bob_dev.store), store_before);

    // The new device 2 is delivered; our sessions' peers stay listed ones.
    let new2 = copy(&alice.device(2).key);
    let mut s = Session::initiate(
        &mut r,
        &new2,
        &bob_dev.bundle(Some(2)),
        Trust::FirstUse,
        &config(),
    )
    .unwrap();
    let env = op.sealed_send(&mut r, &new2, b"alice", 2, &mut s, b"new device");
    b_side
        .receive(&op.open(&bob, &env), &bob, &mut bob_dev.store, &config())
        .unwrap();
    assert_eq!(
        b_side.session(2).unwrap().remote_identity(),
        alice.device(2).key.public()
    );
}
