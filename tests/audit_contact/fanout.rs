//! Multi-device fan-out (SPEC.md §15.3): `send`, `set_timer` and `send_sealed` are all or
//! nothing, whichever device fails — the first, a middle one, or the last (which takes no
//! snapshot) — and a session restored from its snapshot is one its device can still read.

use xchat_protocol::content::Content;
use xchat_protocol::sealed_sender::seal;
use xchat_protocol::{
    ContentKind, Error, IdentityKeyPair, PreKeyStore, Receipt, SealedSenderError, Session, Timer,
    TimerStart,
};

use crate::common::state_codec::{Ratchet, SessionBlob};
use crate::support::{
    Account, Operator, T0, bytes, config, contact_blob, edit_part, rng, split_contact,
};

/// A sending counter at `u32::MAX`: the next send is `ChainExhausted` (an edited blob is the
/// only way to get there in a test; the failure is the point, not how it came).
fn exhaust(s: &mut SessionBlob) {
    match &mut s.ratchet {
        Ratchet::Opening(send) => send.n = u32::MAX,
        Ratchet::Open(open) => open.send.as_mut().unwrap().n = u32::MAX,
    }
}

#[test]
fn holds_a_fan_out_failing_on_the_first_second_or_third_device_changes_nothing() {
    for k in 0..3usize {
        let mut r = rng(10 + u8::try_from(k).unwrap());
        let op = Operator::new(&mut r);
        let mut bob = Account::new(&mut r, 3);
        let alice = IdentityKeyPair::generate(&mut r);
        let mut c = bob.contact();
        for d in &bob.devices {
            c.initiate(&mut r, &alice, &d.bundle(Some(0)), &config())
                .unwrap();
        }
        let warm = c.send(&mut r, T0, b"warm up").unwrap();
        assert_eq!(warm.len(), 3);
        let (list, mut parts) = split_contact(&bytes(&c));
        parts[k] = edit_part(&parts[k], exhaust);
        let mut c =
            xchat_protocol::account::Contact::from_bytes(&contact_blob(&list, &parts)).unwrap();
        let before = bytes(&c);
        let cert = op.certify(b"alice", 1, &alice);

        assert_eq!(
            c.send(&mut r, T0, b"x"),
            Err(Error::ChainExhausted),
            "k={k}"
        );
        assert_eq!(bytes(&c), before, "send, device {}", k + 1);
        assert_eq!(
            c.set_timer(&mut r, T0, 60, TimerStart::OnSend),
            Err(Error::ChainExhausted)
        );
        assert_eq!(bytes(&c), before, "set_timer, device {}", k + 1);
        assert_eq!(
            c.send_sealed(&mut r, &alice, &cert, T0, b"x"),
            Err(SealedSenderError::Session(Error::ChainExhausted))
        );
        assert_eq!(bytes(&c), before, "send_sealed, device {}", k + 1);

        // The restored sessions are coherent: drop the exhausted device and every other one
        // reads the next message (its second, with the first one skipped).
        let gone = u32::try_from(k + 1).unwrap();
        let (_, list) = bob.remove(gone);
        c.update(&[list]).unwrap();
        let out = c.send(&mut r, T0, b"after the failures").unwrap();
        assert_eq!(out.len(), 2);
        for o in &out {
            let d = bob.device_mut(o.device_id);
            let (_, got) =
                Session::accept(&d.key, &mut d.store, &o.message, &config(), T0).unwrap();
            assert_eq!(got.body, b"after the failures");
        }
    }
}

#[test]
fn holds_send_sealed_failing_after_a_middle_devices_send_changes_nothing() {
    let mut r = rng(13);
    let op = Operator::new(&mut r);
    let bob = Account::new(&mut r, 3);
    let alice = IdentityKeyPair::generate(&mut r);
    let other = IdentityKeyPair::generate(&mut r);
    let mut c = bob.contact();
    // Device 2's session has another local identity: its `send` succeeds, then `seal` refuses
    // Alice's certificate for it — the step fails after changing the session.
    for d in &bob.devices {
        let me = if d.id == 2 { &other } else { &alice };
        c.initiate(&mut r, me, &d.bundle(None), &config()).unwrap();
    }
    let before = bytes(&c);
    let cert = op.certify(b"alice", 1, &alice);
    assert_eq!(
        c.send_sealed(&mut r, &alice, &cert, T0, b"x"),
        Err(SealedSenderError::SenderIdentityMismatch)
    );
    assert_eq!(bytes(&c), before);
}

/// Finding (low): each session of a contact has its own timer, and `Contact::set_timer` is all
/// or nothing, so one device of the contact that sends a frame with timer version `u32::MAX`
/// (a malicious or buggy client) makes every later `set_timer` on the whole contact fail with
/// `TimerVersionExhausted` — the user can no longer turn disappearing messages on or change
/// them for any of the contact's devices, and the error does not say which device is to blame.
#[test]
fn broken_one_device_can_block_timer_changes_for_the_whole_contact() {
    let mut r = rng(14);
    let op = Operator::new(&mut r);
    let mut bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut alice_store = PreKeyStore::new();
    alice_store.rotate_signed_prekey(&mut r, &alice, T0);
    let mut c = bob.contact();
    for d in &bob.devices {
        c.initiate(&mut r, &alice, &d.bundle(Some(1)), &config())
            .unwrap();
    }
    let out = c.send(&mut r, T0, b"hi").unwrap();
    let d2 = bob.device_mut(2);
    let (mut s2, _) =
        Session::accept(&d2.key, &mut d2.store, &out[1].message, &config(), T0).unwrap();
    // Device 2 sends an ordinary message whose frame carries timer version u32::MAX.
    let frame = Content {
        kind: ContentKind::Message,
        sent_at_ms: T0,
        timer: Timer {
            duration_s: 0,
            start: TimerStart::OnSend,
            version: u32::MAX,
        },
        body: b"hello".to_vec(),
    }
    .to_padded_bytes()
    .unwrap();
    let wire = s2.encrypt(&mut r, &frame).unwrap();
    let envelope = seal(&mut r, &d2.key, &op.certify(b"bob", 2, &d2.key), &s2, &wire).unwrap();
    let delivered = c
        .receive(
            &op.open(&alice, &envelope),
            &alice,
            &mut alice_store,
            &config(),
        )
        .unwrap();
    assert!(matches!(delivered.receipt, Receipt::Message(ref m) if m.body == b"hello"));
    assert_eq!(c.session(2).unwrap().timer().version, u32::MAX);
    assert_eq!(c.session(1).unwrap().timer().version, 0);

    // Now no timer change reaches any of Bob's devices, device 1 included.
    let before = bytes(&c);
    for _ in 0..3 {
        assert_eq!(
            c.set_timer(&mut r, T0, 3600, TimerStart::OnSend),
            Err(Error::TimerVersionExhausted)
        );
    }
    assert_eq!(bytes(&c), before);
    assert_eq!(c.session(1).unwrap().timer(), Timer::OFF);
    // Plain messages still go to both: only the timer is stuck.
    assert_eq!(c.send(&mut r, T0, b"still talking").unwrap().len(), 2);
}

/// Finding (informational): a contact does not pin *our* side. `initiate` takes any local
/// identity, `receive` starts sessions under whatever identity it is given, and the blob does
/// not check that its sessions share one local identity. A contact that holds sessions under
/// two local identities (an application bug, a restored backup of another device, or an
/// edited database) fans `send` out under both, and `send_sealed` then fails for every
/// certificate — for good, with no call that says which session is the odd one.
#[test]
fn broken_a_contact_mixes_local_identities_and_then_never_seals() {
    let mut r = rng(15);
    let op = Operator::new(&mut r);
    let bob = Account::new(&mut r, 2);
    let alice = IdentityKeyPair::generate(&mut r);
    let other = IdentityKeyPair::generate(&mut r);
    let mut c = bob.contact();
    c.initiate(&mut r, &alice, &bob.device(1).bundle(None), &config())
        .unwrap();
    c.initiate(&mut r, &other, &bob.device(2).bundle(None), &config())
        .unwrap();
    let mut c = xchat_protocol::account::Contact::from_bytes(&bytes(&c)).unwrap();
    assert_ne!(
        c.session(1).unwrap().local_identity(),
        c.session(2).unwrap().local_identity()
    );
    assert_eq!(c.send(&mut r, T0, b"from two of us").unwrap().len(), 2);
    for me in [&alice, &other] {
        let cert = op.certify(b"alice", 1, me);
        assert_eq!(
            c.send_sealed(&mut r, me, &cert, T0, b"x"),
            Err(SealedSenderError::SenderIdentityMismatch)
        );
    }
}
