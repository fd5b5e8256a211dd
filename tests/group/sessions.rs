//! Sender keys over real pairwise sessions (SPEC.md §13.2): a three-person group where every
//! distribution is a content frame of its own kind inside a PQXDH session, never dropped as
//! expired; the group's timer.

use xchat_protocol::group::{GroupConfig, GroupId, GroupSession, SenderKeyDistribution};
use xchat_protocol::{
    Config, ContentKind, Deadline, IdentityKeyPair, PreKeyStore, Receipt, Session, TimerStart,
    Trust,
};

use crate::support::NOW;

struct Person {
    id: IdentityKeyPair,
    store: PreKeyStore,
    group: GroupSession,
}

/// Alice, Bob and Carol: pairwise sessions (Alice starts both of hers; Bob starts the one with
/// Carol), distributions through them, then a message from each to the group.
#[test]
fn a_three_person_group_over_pairwise_sessions() {
    let mut rng = crate::common::rng(30);
    let id = GroupId([3; 32]);
    let config = Config::new(b"");
    let ids: Vec<IdentityKeyPair> = (0..3)
        .map(|_| IdentityKeyPair::generate(&mut rng))
        .collect();
    let keys: Vec<_> = ids.iter().map(|i| *i.public()).collect();
    let mut people: Vec<Person> = ids
        .into_iter()
        .map(|id_pair| {
            let mut store = PreKeyStore::new();
            store.rotate_signed_prekey(&mut rng, &id_pair, NOW);
            store.rotate_kem_prekey(&mut rng, &id_pair, NOW);
            let group = GroupSession::new(
                &mut rng,
                id_pair.public(),
                id,
                &keys,
                NOW,
                GroupConfig::default(),
            )
            .unwrap();
            Person {
                id: id_pair,
                store,
                group,
            }
        })
        .collect();
    // sessions[i][j]: i's session with j.
    let mut sessions: Vec<Vec<Option<Session>>> = (0..3).map(|_| vec![None, None, None]).collect();
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        let bundle = people[j].store.bundle(&people[j].id, None).unwrap();
        let s =
            Session::initiate(&mut rng, &people[i].id, &bundle, Trust::FirstUse, &config).unwrap();
        sessions[i][j] = Some(s);
    }
    // Each person distributes its sender key over its sessions; the receiver answers the first
    // message of a session it has not accepted yet.
    for from in 0..3 {
        let pending = people[from].group.distribution(&mut rng, NOW);
        assert_eq!(pending.recipients.len(), 2);
        for member in &pending.recipients {
            let to = keys.iter().position(|k| k == member).unwrap();
            let wire = match sessions[from][to].as_mut() {
                Some(s) => pending.distribution.send(s, &mut rng, NOW).unwrap(),
                None => {
                    let s = sessions[to][from].as_mut().unwrap();
                    // The responder's first message answers the initiator's.
                    pending.distribution.send(s, &mut rng, NOW).unwrap()
                }
            };
            let body = if sessions[to][from].is_none() {
                let p = &mut people[to];
                let (s, first) = Session::accept(&p.id, &mut p.store, &wire, &config, NOW).unwrap();
                sessions[to][from] = Some(s);
                assert_eq!(first.kind, ContentKind::SenderKeyDistribution);
                first.body
            } else {
                let s = sessions[to][from].as_mut().unwrap();
                match s.receive(&wire, NOW).unwrap() {
                    Receipt::Message(m) => {
                        assert_eq!(m.kind, ContentKind::SenderKeyDistribution);
                        m.body
                    }
                    other => panic!("{other:?}"),
                }
            };
            let d = SenderKeyDistribution::from_bytes(&body).unwrap();
            let sender = *sessions[to][from].as_ref().unwrap().remote_identity();
            assert_eq!(sender, keys[from]);
            people[to].group.process_distribution(&sender, &d).unwrap();
            people[from]
                .group
                .mark_distributed(member, &pending.distribution)
                .unwrap();
        }
    }
    for from in 0..3 {
        let m = people[from]
            .group
            .send(&mut rng, NOW, format!("hi from {from}").as_bytes())
            .unwrap();
        for to in (0..3).filter(|&t| t != from) {
            let got = people[to].group.receive(&keys[from], &m, NOW).unwrap();
            assert_eq!(
                got.message().unwrap().body,
                format!("hi from {from}").as_bytes()
            );
        }
    }
}

/// A distribution that arrives after its timer ran out is still delivered (with a deadline of
/// "now"): dropping it would leave the group unreadable. A normal message under the same timer
/// is reported as expired.
#[test]
fn an_expired_distribution_is_still_delivered() {
    let mut p = crate::common::established(31, false);
    let _ = p
        .bob
        .receive(&p.alice.send(&mut p.rng, NOW, b"ack me").unwrap(), NOW);
    let change = p
        .alice
        .set_timer(&mut p.rng, NOW, 60, TimerStart::OnSend)
        .unwrap();
    p.bob.receive(&change, NOW).unwrap();
    let mut rng = crate::common::rng(32);
    let alice = *p.alice_id.public();
    let mut group = GroupSession::new(
        &mut rng,
        &alice,
        GroupId([4; 32]),
        &[*p.bob_id.public()],
        NOW,
        GroupConfig::default(),
    )
    .unwrap();
    let d = group.distribution(&mut rng, NOW).distribution;
    let wire = d.send(&mut p.alice, &mut rng, NOW).unwrap();
    let note = p.alice.send(&mut rng, NOW, b"gone").unwrap();
    let late = NOW + 3_600_000;
    match p.bob.receive(&wire, late).unwrap() {
        Receipt::Message(m) => {
            assert_eq!(m.kind, ContentKind::SenderKeyDistribution);
            assert_eq!(m.deadline, Deadline::At(late));
            assert_eq!(
                SenderKeyDistribution::from_bytes(&m.body).unwrap().key_id(),
                d.key_id()
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        p.bob.receive(&note, late).unwrap(),
        Receipt::Expired { .. }
    ));
}

/// The group's timer travels as a group message and applies to the messages after it.
#[test]
fn the_group_timer_applies_to_later_messages() {
    let mut g = crate::support::Group::new(33, 2, GroupConfig::default());
    g.distribute_all(NOW);
    let change = g.devices[0]
        .group
        .set_timer(&mut g.rng, NOW, 60, TimerStart::OnSend)
        .unwrap();
    let alice = *g.devices[0].id.public();
    let bob = &mut g.devices[1].group;
    let got = bob.receive(&alice, &change, NOW).unwrap();
    assert!(got.message().unwrap().timer_changed);
    assert_eq!(bob.timer().duration_s, 60);
    let m = g.devices[0].group.send(&mut g.rng, NOW, b"brief").unwrap();
    let got = g.devices[1].group.receive(&alice, &m, NOW).unwrap();
    assert_eq!(got.message().unwrap().deadline, Deadline::At(NOW + 60_000));
}
