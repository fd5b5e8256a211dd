//! Distributions (§13.2) and group messages (§13.3) byte for byte, decrypted across
//! implementations in both directions; the RNG draws of §1/§13.1; distributions carried by
//! pairwise sessions as content frames of kind 0x03 (§8.2, §8.5).

use super::{CReceipt, DEFAULT, Dev, GID, NOW, full_group, ik, rng, their_ik};
use crate::common;
use crate::parties::Party;
use crate::pqxdh::{Scripted, initiate, responder};
use crate::reference::group::{
    Dist, Frame, GroupMsg, HEADER_LEN, KIND_SENDER_KEY, LABEL_GROUP_MESSAGE,
    LABEL_GROUP_MESSAGE_KEY, MyGroup, Timer, build_msg, decode_dist, decode_frame, decode_msg,
    encode_dist, encode_frame, signing_public,
};
use crate::reference::primitives::{K32, draw, hkdf, kdf_ck};
use crate::world::CTX;
use ed25519_dalek::{Signature, VerifyingKey};
use xchat_protocol::content::{ContentKind, Deadline};
use xchat_protocol::group::{GroupId, GroupSession, SenderKeyDistribution};
use xchat_protocol::{Config, Session, TimerStart};

/// Test G1: three devices, each implemented twice with the same draws: identical new groups,
/// distributions, messages and states; the message's bytes are the ones §13.3 computes from the
/// distributed chain key, its signature verifies over `LABEL_GROUP_MESSAGE ‖ IK ‖ header ‖
/// sealed`, and every other member reads it.
#[test]
fn group_messages_are_byte_identical_and_as_computed() {
    let mut r = rng(1);
    let mut devs = full_group(&mut r, 3, DEFAULT);
    let sender = devs[0].mine.local;
    let d = decode_dist(&devs[0].mine.distribution(&mut r, NOW).0).unwrap();
    assert_eq!(d.iteration, 0);
    let mut ck = d.ck;
    for i in 0..5u32 {
        let pt = format!("message {i}").into_bytes();
        let m = devs[0].encrypt(&mut r, NOW, &pt).unwrap();
        assert_eq!(m.len(), pt.len() + 138);
        let g: GroupMsg = decode_msg(&m).unwrap();
        assert_eq!((g.group_id, g.key_id, g.iteration), (GID, d.key_id, i));
        assert_eq!(m[..2], [0x01, 0x03]);
        // §13.3 computed here from the distribution: KDF_CK, the seed, HKDF, AES-GCM, Ed25519.
        let (mk, next) = kdf_ck(&ck);
        let mut okm = [0u8; 44];
        hkdf(&g.seed, &mk, LABEL_GROUP_MESSAGE_KEY, &mut okm);
        let sig = Signature::from_bytes(&g.sig);
        let signed = [LABEL_GROUP_MESSAGE, &sender, &m[..HEADER_LEN], &g.sealed].concat();
        let vk = VerifyingKey::from_bytes(&d.signing).unwrap();
        vk.verify_strict(&signed, &sig).unwrap();
        let seed_of_signing = devs[0].mine.own.seed;
        let ids = (&GID, d.key_id, i);
        assert_eq!(
            build_msg(&sender, ids, &mk, &g.seed, &seed_of_signing, &pt),
            m
        );
        ck = next;
        for dev in &mut devs[1..] {
            assert_eq!(dev.decrypt(&sender, &m).unwrap(), pt);
        }
    }
    // Every member's distribution is its own key at its iteration.
    for dev in &mut devs {
        let (bytes, to) = dev.distribution(&mut r, NOW);
        assert!(to.is_empty());
        let d = decode_dist(&bytes).unwrap();
        assert_eq!(d.signing, signing_public(&dev.mine.own.seed));
        assert_eq!(encode_dist(&d), bytes);
        assert_eq!(bytes.len(), 105);
    }
}

/// Test G2: separate implementations, no twins: the crate's distribution and messages are read
/// by the reference and the reference's by the crate, in both directions, raw and framed.
#[test]
fn cross_implementation_both_directions() {
    let (a, b) = (ik(1), ik(2));
    let (mut ra, mut rb) = (rng(2), rng(3));
    let mut crate_a = GroupSession::new(
        &mut ra,
        &their_ik(&a),
        GroupId(GID),
        &[their_ik(&b)],
        NOW,
        DEFAULT.theirs(),
    )
    .unwrap();
    let cfg = (DEFAULT.limits, DEFAULT.rotation);
    let mut mine_b = MyGroup::new(&mut rb, b, GID, &[a], NOW, cfg).unwrap();
    // A → B: the crate's key and messages in the reference.
    let da = crate_a.distribution(&mut ra, NOW);
    assert_eq!(da.recipients, [their_ik(&b)]);
    crate_a
        .mark_distributed(&their_ik(&b), &da.distribution)
        .unwrap();
    let da = decode_dist(&da.distribution.to_bytes()).unwrap();
    mine_b.process_distribution(&a, &da).unwrap();
    let mut sent = vec![];
    for i in 0..4u8 {
        sent.push(crate_a.encrypt(&mut ra, NOW, &[b'a', i]).unwrap());
    }
    let framed = crate_a.send(&mut ra, NOW + 5, b"framed").unwrap();
    assert_eq!(mine_b.decrypt(&a, &sent[2]).unwrap(), b"a\x02");
    assert_eq!(mine_b.decrypt(&a, &sent[0]).unwrap(), b"a\x00");
    assert_eq!(mine_b.decrypt(&a, &sent[3]).unwrap(), b"a\x03");
    let got = mine_b.receive(&a, &framed, NOW + 6).unwrap();
    assert!(
        matches!(got, crate::reference::group::Receipt::Message { ref body, sent_at, .. }
        if body == b"framed" && sent_at == NOW + 5)
    );
    assert_eq!(mine_b.skipped_key_count(), 1);
    // B → A: the reference's key and messages in the crate.
    let (db, to) = mine_b.distribution(&mut rb, NOW);
    assert_eq!(to, [a]);
    mine_b.mark_distributed(&a, &db).unwrap();
    let db = SenderKeyDistribution::from_bytes(&db).unwrap();
    crate_a.process_distribution(&their_ik(&b), &db).unwrap();
    let m0 = mine_b.encrypt(&mut rb, NOW, b"b0").unwrap();
    let m1 = mine_b.send(&mut rb, NOW, b"b1").unwrap();
    let m2 = mine_b.set_timer(&mut rb, NOW, 60, 1).unwrap();
    assert_eq!(crate_a.decrypt(&their_ik(&b), &m0).unwrap(), b"b0");
    let CReceipt::Message(r1) = crate_a.receive(&their_ik(&b), &m1, NOW).unwrap() else {
        panic!("delivered")
    };
    assert_eq!(
        (r1.kind, r1.body.as_slice()),
        (ContentKind::Message, &b"b1"[..])
    );
    let CReceipt::Message(r2) = crate_a.receive(&their_ik(&b), &m2, NOW).unwrap() else {
        panic!("delivered")
    };
    assert!(r2.timer_changed && r2.kind == ContentKind::TimerUpdate);
    assert_eq!(
        (r2.deadline, crate_a.timer().duration_s),
        (Deadline::AfterRead(60_000), 60)
    );
    assert_eq!(crate_a.timer().start, TimerStart::OnRead);
}

/// Test G3: the draws of §1's table, scripted: `new` and a rotating `distribution` take 4
/// (the key id, big-endian), 32 (`CK`), 32 (the signing seed) in this order; `encrypt`, `send`
/// and `set_timer` take 16 (the seed, in the header); a distribution without rotation and a
/// refused encrypt take nothing.
#[test]
fn scripted_draws_give_the_same_keys_and_messages() {
    let (a, b) = (ik(1), ik(2));
    let mut r = rng(4);
    let (id, ck, seed): ([u8; 4], K32, K32) = (draw(&mut r), draw(&mut r), draw(&mut r));
    let cfg = (DEFAULT.limits, DEFAULT.rotation);
    let mut outputs = vec![];
    for crate_side in [true, false] {
        let mut s = Scripted::new(&[&id, &ck, &seed]);
        let mut g = if crate_side {
            let g = GroupSession::new(
                &mut s,
                &their_ik(&a),
                GroupId(GID),
                &[their_ik(&b)],
                NOW,
                DEFAULT.theirs(),
            );
            Dev::load(&g.unwrap().to_bytes().unwrap())
        } else {
            Dev::load(
                &MyGroup::new(&mut s, a, GID, &[b], NOW, cfg)
                    .unwrap()
                    .to_state(),
            )
        };
        s.finish();
        let d = g.theirs.distribution(&mut Scripted::new(&[]), NOW);
        let mine_d = g.mine.distribution(&mut Scripted::new(&[]), NOW);
        assert_eq!(d.distribution.to_bytes().to_vec(), mine_d.0);
        let parsed = decode_dist(&mine_d.0).unwrap();
        let want = Dist {
            group_id: GID,
            key_id: u32::from_be_bytes(id),
            iteration: 0,
            ck,
            signing: signing_public(&seed),
        };
        assert_eq!(parsed, want);
        g.mark(&b, &mine_d.0).unwrap();
        for (i, msg_seed) in [[1u8; 16], [2; 16], [3; 16]].iter().enumerate() {
            let mut s1 = Scripted::new(&[msg_seed]);
            let mut s2 = Scripted::new(&[msg_seed]);
            let (x, y) = match i {
                0 => (
                    g.mine.encrypt(&mut s1, NOW, b"x"),
                    g.theirs.encrypt(&mut s2, NOW, b"x").map_err(|_| ()),
                ),
                1 => (
                    g.mine.send(&mut s1, NOW, b"x"),
                    g.theirs.send(&mut s2, NOW, b"x").map_err(|_| ()),
                ),
                _ => (
                    g.mine.set_timer(&mut s1, NOW, 5, 0),
                    g.theirs
                        .set_timer(&mut s2, NOW, 5, TimerStart::OnSend)
                        .map_err(|_| ()),
                ),
            };
            let (x, y) = (x.unwrap(), y.unwrap());
            s1.finish();
            s2.finish();
            assert_eq!(x, y);
            assert_eq!(decode_msg(&x).unwrap().seed, *msg_seed);
            outputs.push(x);
        }
        g.same();
        // A removal makes the next distribution rotate: 68 bytes in §13.1's order.
        assert!(g.remove(&b));
        assert!(g.add(&b).unwrap());
        let none = g.theirs.encrypt(&mut Scripted::new(&[]), NOW, b"refused");
        assert_eq!(super::text(none.unwrap_err()), "DistributionPending");
        let none = g.mine.encrypt(&mut Scripted::new(&[]), NOW, b"refused");
        assert_eq!(super::text(none.unwrap_err()), "DistributionPending");
        let mut s1 = Scripted::new(&[&[9; 4], &[8; 32], &[7; 32]]);
        let mut s2 = Scripted::new(&[&[9; 4], &[8; 32], &[7; 32]]);
        let x = g.mine.distribution(&mut s1, NOW + 1);
        let y = g.theirs.distribution(&mut s2, NOW + 1);
        s1.finish();
        s2.finish();
        assert_eq!(x.0, y.distribution.to_bytes().to_vec());
        assert_eq!(decode_dist(&x.0).unwrap().key_id, 0x0909_0909);
        g.same();
        outputs.push(g.state());
    }
    let (c, m) = outputs.split_at(outputs.len() / 2);
    assert_eq!(c, m);
}

/// A pairwise frame of kind 0x03 carrying `dist` (§8.2), as the reference writes it.
fn dist_frame(dist: &[u8], now: u64, timer: Timer) -> Vec<u8> {
    let f = Frame {
        kind: KIND_SENDER_KEY,
        sent_at: now,
        timer,
        body: dist.to_vec(),
    };
    encode_frame(&f).unwrap()
}

/// Test G4: a distribution over a pairwise session is a padded content frame of kind 0x03
/// (§8.2), byte for byte the reference's, and is never reported as expired (§8.5): under a
/// 10-second timer, an hour late, a normal message is `Expired` and a distribution is delivered
/// with `Deadline::At(now)`. The reference's frame, sent raw, is delivered as a distribution.
#[test]
fn distributions_over_crate_sessions() {
    let mut p = common::established(5, true);
    let mut r = rng(5);
    let mut g = Dev::new(&mut r, 1, &[2], DEFAULT);
    let (dist, _) = g.distribution(&mut r, NOW);
    let d = SenderKeyDistribution::from_bytes(&dist).unwrap();
    // The frame inside the pairwise message, read raw by the peer.
    let wire = d.send(&mut p.alice, &mut p.rng, NOW).unwrap();
    let frame = p.bob.decrypt(&wire).unwrap();
    assert_eq!(frame, dist_frame(&dist, NOW, Timer::default()));
    assert_eq!(
        (frame.len(), decode_frame(&frame).unwrap().body),
        (256, dist.clone())
    );
    // A 10-second timer, then a message and a distribution an hour late.
    let t = p
        .alice
        .set_timer(&mut p.rng, NOW, 10, TimerStart::OnSend)
        .unwrap();
    assert!(
        p.bob
            .receive(&t, NOW)
            .unwrap()
            .message()
            .unwrap()
            .timer_changed
    );
    let late = NOW + 3_600_000;
    let msg = p.alice.send(&mut p.rng, NOW, b"short-lived").unwrap();
    let wire = d.send(&mut p.alice, &mut p.rng, NOW).unwrap();
    let mine = p
        .alice
        .encrypt(&mut p.rng, &dist_frame(&dist, NOW, timer10()))
        .unwrap();
    assert!(matches!(
        p.bob.receive(&msg, late).unwrap(),
        CReceipt::Expired { .. }
    ));
    for w in [wire, mine] {
        let got = p.bob.receive(&w, late).unwrap().into_message().unwrap();
        assert_eq!(got.kind, ContentKind::SenderKeyDistribution);
        assert_eq!(
            (got.deadline, got.body.as_slice()),
            (Deadline::At(late), dist.as_slice())
        );
    }
}

fn timer10() -> Timer {
    Timer {
        duration_s: 10,
        start: 0,
        version: 1,
    }
}

/// Test G5: the same across implementations of the pairwise session: the reference's session
/// (PQXDH initiator) sends the reference's kind-0x03 frame as its first message, which the
/// crate's `Session::accept` delivers as a distribution the crate's group takes; the crate's
/// `SenderKeyDistribution::send` reaches the reference's session, whose frame decodes to the
/// same distribution.
#[test]
fn distributions_over_mixed_sessions() {
    let (mut r, _, mut bob) = responder(60, true);
    let alice_seed: K32 = draw(&mut r);
    let bundle = bob.bundle(Some(0), Some(1)).unwrap();
    let mut alice = initiate(&mut r, false, &alice_seed, &bundle).unwrap();
    assert!(!alice.is_crate());
    let (a_ik, b_ik) = (
        xchat_protocol::IdentityKeyPair::from_seed(&alice_seed)
            .public()
            .to_bytes(),
        match &bob {
            crate::parties::BobPre::Crate(b) => b.0.public().to_bytes(),
            crate::parties::BobPre::Mine(_) => unreachable!(),
        },
    );
    let cfg = (DEFAULT.limits, DEFAULT.rotation);
    let mut ga = MyGroup::new(&mut r, a_ik, GID, &[b_ik], NOW, cfg).unwrap();
    let (dist, _) = ga.distribution(&mut r, NOW);
    let first = alice.encrypt(&mut r, &dist_frame(&dist, NOW, Timer::default()));
    let crate::parties::BobPre::Crate(b) = &mut bob else {
        unreachable!()
    };
    let (mut to_alice, got) =
        Session::accept(&b.0, &mut b.1, &first, &Config::new(CTX), NOW).unwrap();
    assert_eq!(
        (got.kind, got.body.as_slice()),
        (ContentKind::SenderKeyDistribution, dist.as_slice())
    );
    let mut gb = GroupSession::new(
        &mut r,
        b.0.public(),
        GroupId(GID),
        &[their_ik(&a_ik)],
        NOW,
        DEFAULT.theirs(),
    )
    .unwrap();
    let d = SenderKeyDistribution::from_bytes(&got.body).unwrap();
    gb.process_distribution(to_alice.remote_identity(), &d)
        .unwrap();
    ga.mark_distributed(&b_ik, &dist).unwrap();
    let m = ga.send(&mut r, NOW, b"to the group").unwrap();
    let got = gb.receive(to_alice.remote_identity(), &m, NOW).unwrap();
    assert_eq!(got.message().unwrap().body, b"to the group");
    // Back: the crate's distribution over the crate's session to the reference's.
    let back = gb.distribution(&mut r, NOW).distribution;
    let wire = back.send(&mut to_alice, &mut r, NOW).unwrap();
    let Party::Mine(..) = &alice else {
        unreachable!()
    };
    let frame = decode_frame(&alice.decrypt(&wire).unwrap()).unwrap();
    assert_eq!((frame.kind, frame.sent_at), (KIND_SENDER_KEY, NOW));
    assert_eq!(frame.body, back.to_bytes().to_vec());
    ga.process_distribution(&b_ik, &decode_dist(&frame.body).unwrap())
        .unwrap();
    gb.mark_distributed(&their_ik(&a_ik), &back).unwrap();
    let reply = gb.encrypt(&mut r, NOW, b"reply").unwrap();
    assert_eq!(ga.decrypt(&b_ik, &reply).unwrap(), b"reply");
}
