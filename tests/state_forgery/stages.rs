//! Life stages of a session, built through the public API: the real blob at a snapshot, the
//! peer's messages (consumed, in flight, sent later) and the check that a stage is live.

use std::sync::OnceLock;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::{
    CertificateKeyPair, IdentityKeyPair, Incoming, Limits, PreKeyStore, SenderCertificate, Session,
    TimerStart,
};
use xchat_protocol::{Config, Trust};

use crate::common;
use crate::common::state_codec::{K32, SessionBlob};
use crate::support::NOW;

/// A message from the peer to the session whose blob is forged.
#[derive(Clone)]
pub(crate) struct Msg {
    pub(crate) bytes: Vec<u8>,
    pub(crate) body: Vec<u8>,
    /// Sent with `send` (a content frame) rather than raw `encrypt`.
    pub(crate) framed: bool,
}

pub(crate) struct Stage {
    pub(crate) name: &'static str,
    /// The real blob of the subject session at the snapshot, and its reference reading.
    pub(crate) blob: Vec<u8>,
    pub(crate) parsed: SessionBlob,
    /// The peer's session at the snapshot.
    pub(crate) peer_blob: Vec<u8>,
    pub(crate) subject_seed: K32,
    pub(crate) peer_seed: K32,
    /// A sender certificate of the subject (to seal to its peer).
    pub(crate) certificate: SenderCertificate,
    /// Every message of the peer to the subject: already consumed before the snapshot, still in
    /// flight, and sent after it (some only after the subject's scripted reply).
    pub(crate) msgs: Vec<Msg>,
    /// Indices into `msgs` the subject decrypted before the snapshot.
    pub(crate) consumed: Vec<usize>,
    /// The RNG of the subject's first encrypt after the snapshot: the peer's messages sent after
    /// that reply are on a chain the subject derives from the key pair this RNG gives.
    pub(crate) script_rng: ChaCha20Rng,
    /// The distinct ratchet keys in the headers of `msgs`.
    pub(crate) peer_keys: Vec<K32>,
}

/// A sender certificate for `id`, from a fixed trust root and server.
pub(crate) fn certificate_for(id: &IdentityKeyPair) -> SenderCertificate {
    let root = CertificateKeyPair::from_seed(&[0xA1; 32]);
    let server = CertificateKeyPair::from_seed(&[0xA2; 32]);
    let server_cert = root.certify_server(1, &server.public());
    let cert = server.certify_sender(&server_cert, b"someone", 1, id.public(), u64::MAX);
    cert.unwrap()
}

struct Builder {
    rng: ChaCha20Rng,
    alice: IdentityKeyPair,
    bob: IdentityKeyPair,
    msgs: Vec<Msg>,
    consumed: Vec<usize>,
}

impl Builder {
    fn send(&mut self, from: &mut Session, framed: bool) -> usize {
        let body = format!("message {}", self.msgs.len()).into_bytes();
        let bytes = if framed {
            from.send(&mut self.rng, NOW, &body).unwrap()
        } else {
            from.encrypt(&mut self.rng, &body).unwrap()
        };
        self.msgs.push(Msg {
            bytes,
            body,
            framed,
        });
        self.msgs.len() - 1
    }

    fn deliver(&mut self, to: &mut Session, i: usize) {
        let m = &self.msgs[i];
        if m.framed {
            assert_eq!(
                to.receive(&m.bytes, NOW)
                    .unwrap()
                    .into_message()
                    .unwrap()
                    .body,
                m.body
            );
        } else {
            assert_eq!(to.decrypt(&m.bytes).unwrap(), m.body);
        }
        self.consumed.push(i);
    }

    /// A message the other way, delivered at once (the peer learns the subject's ratchet key).
    fn reply(&mut self, from: &mut Session, to: &mut Session) {
        let bytes = from.encrypt(&mut self.rng, b"reply").unwrap();
        to.decrypt(&bytes).unwrap();
    }

    /// Snapshot of `subject` (Alice's session when `alice`); then `n.0` more peer messages, the
    /// subject's scripted reply (computed on a copy, with `script_rng`) delivered to the peer,
    /// and `n.1` peer messages.
    fn finish(
        mut self,
        name: &'static str,
        alice: bool,
        (subject, peer): (&Session, &mut Session),
        n: (usize, usize),
    ) -> Stage {
        let blob = subject.to_bytes().unwrap().to_vec();
        let peer_blob = peer.to_bytes().unwrap().to_vec();
        let script_rng =
            ChaCha20Rng::from_seed(<sha2::Sha256 as sha2::Digest>::digest(name).into());
        for k in 0..n.0 {
            self.send(peer, k % 3 != 2);
        }
        let mut ghost = Session::from_bytes(&blob).unwrap();
        let reply = ghost.encrypt(&mut script_rng.clone(), b"scripted").unwrap();
        peer.decrypt(&reply).unwrap();
        for k in 0..n.1 {
            self.send(peer, k % 3 != 1);
        }
        let mut peer_keys: Vec<K32> = Vec::new();
        for m in &self.msgs {
            let h = Incoming::decode(&m.bytes).unwrap().message().header;
            if !peer_keys.contains(h.ratchet_key.as_bytes()) {
                peer_keys.push(h.ratchet_key.to_bytes());
            }
        }
        let (me, them) = if alice {
            (&self.alice, &self.bob)
        } else {
            (&self.bob, &self.alice)
        };
        Stage {
            name,
            parsed: SessionBlob::decode(&blob).unwrap().1,
            blob,
            peer_blob,
            subject_seed: *me.seed(),
            peer_seed: *them.seed(),
            certificate: certificate_for(me),
            msgs: self.msgs,
            consumed: self.consumed,
            script_rng,
            peer_keys,
        }
    }
}

/// Alice initiates from Bob's bundle and sends a first message ("hello", raw); Bob responds.
fn start(seed: u8, one_time: bool) -> (Builder, Session, Session) {
    let mut rng = common::rng(seed);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob_id, 1_700_000_000_000);
    let otpks = store.generate_one_time_prekeys(&mut rng, 2).unwrap();
    let otpk = one_time.then_some(otpks[1].id);
    let bundle = store.bundle(&bob_id, otpk).unwrap();
    let mut alice = Session::initiate(
        &mut rng,
        &alice_id,
        &bundle,
        Trust::FirstUse,
        &Config::new(common::CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = alice.encrypt(&mut rng, b"hello").unwrap();
    let (bob, text) = Session::respond(
        &bob_id,
        &mut store,
        &first,
        &Config::new(common::CONTEXT).allow_classical(),
    )
    .unwrap();
    assert_eq!(text, b"hello");
    let hello = Msg {
        bytes: first,
        body: b"hello".to_vec(),
        framed: false,
    };
    let b = Builder {
        rng,
        alice: alice_id,
        bob: bob_id,
        msgs: vec![hello],
        consumed: Vec::new(),
    };
    (b, alice, bob)
}

/// Phase 0x00: Alice, an initiator that has not heard back (prekey messages, no receiving chain).
fn stage_awaiting_reply() -> Stage {
    let (mut b, mut alice, mut bob) = start(11, true);
    b.msgs.clear(); // Alice's own first message is not one Alice receives.
    let more = alice.encrypt(&mut b.rng, b"second").unwrap();
    bob.decrypt(&more).unwrap();
    alice.encrypt(&mut b.rng, b"third, lost").unwrap();
    b.finish("initiator awaiting reply", true, (&alice, &mut bob), (4, 2))
}

/// Phase 0x02, sending side pending: Bob right after `respond`, with one key skipped.
fn stage_responder_fresh() -> Stage {
    let (mut b, mut alice, mut bob) = start(12, false);
    b.consumed.push(0);
    b.send(&mut alice, true); // 1: in flight
    let i = b.send(&mut alice, true); // 2
    b.deliver(&mut bob, i);
    b.finish("responder after respond", false, (&bob, &mut alice), (2, 3))
}

/// Phase 0x02, pending: Bob after out-of-order delivery, keys skipped on the current chain and
/// on an old chain.
fn stage_out_of_order() -> Stage {
    let (mut b, mut alice, mut bob) = start(13, true);
    b.consumed.push(0);
    b.reply(&mut bob, &mut alice);
    let m: Vec<usize> = (0..6).map(|k| b.send(&mut alice, k % 2 == 0)).collect();
    b.deliver(&mut bob, m[0]);
    b.deliver(&mut bob, m[3]);
    b.reply(&mut bob, &mut alice);
    let n: Vec<usize> = (0..5).map(|k| b.send(&mut alice, k != 3)).collect();
    b.deliver(&mut bob, n[2]);
    b.finish(
        "out of order, skipped keys",
        false,
        (&bob, &mut alice),
        (1, 3),
    )
}

/// Phase 0x01 with a sending chain: Alice with three old chains, one skipped key in each and in
/// the current chain (with skip times, under an on-send timer), after sending on a new ratchet
/// key: the peer's next chain is the one the blob's root key and ratchet key pair derive.
fn stage_old_chains() -> Stage {
    let (mut b, mut alice, mut bob) = start(14, false);
    b.msgs.clear();
    let t = alice.set_timer(&mut b.rng, NOW, 3600, TimerStart::OnSend);
    bob.receive(&t.unwrap(), NOW)
        .unwrap()
        .into_message()
        .unwrap();
    for _ in 0..4 {
        let x: Vec<usize> = (0..3).map(|k| b.send(&mut bob, k != 1)).collect();
        b.deliver(&mut alice, x[0]);
        b.deliver(&mut alice, x[2]);
        b.reply(&mut alice, &mut bob);
    }
    b.finish("old chains, timer", true, (&alice, &mut bob), (3, 2))
}

/// Phase 0x01, pending: Alice with tight limits, an on-read timer, skipped keys with skip times
/// on an old and the current chain.
fn stage_pending_tight_limits() -> Stage {
    let (mut b, mut alice, mut bob) = start(15, true);
    b.msgs.clear();
    let limits = Limits {
        max_skip: 8,
        max_skipped_keys: 10,
        max_old_chains: 2,
        max_skipped_key_age: 6,
    };
    alice.set_limits(limits).unwrap();
    let t = bob.set_timer(&mut b.rng, NOW, 60, TimerStart::OnRead);
    b.msgs.push(Msg {
        bytes: t.unwrap(),
        body: Vec::new(),
        framed: true,
    });
    b.deliver(&mut alice, 0);
    b.send(&mut bob, true); // 1: skipped
    let i = b.send(&mut bob, true);
    b.deliver(&mut alice, i);
    b.reply(&mut alice, &mut bob);
    let w: Vec<usize> = (0..6).map(|k| b.send(&mut bob, k != 5)).collect();
    b.deliver(&mut alice, w[1]);
    b.deliver(&mut alice, w[4]);
    b.finish("pending, tight limits", true, (&alice, &mut bob), (2, 3))
}

/// Phase 0x02 with a sending chain: Bob has answered since his last receiving step, with a key
/// skipped on the current chain and one on an old chain.
fn stage_responder_sent() -> Stage {
    let (mut b, mut alice, mut bob) = start(16, true);
    b.consumed.push(0);
    let m: Vec<usize> = (0..3).map(|k| b.send(&mut alice, k != 1)).collect();
    b.deliver(&mut bob, m[1]);
    b.reply(&mut bob, &mut alice);
    let n: Vec<usize> = (0..3).map(|k| b.send(&mut alice, k != 0)).collect();
    b.deliver(&mut bob, n[2]);
    b.reply(&mut bob, &mut alice);
    b.finish("responder, sent", false, (&bob, &mut alice), (2, 2))
}

pub(crate) fn stages() -> &'static [Stage] {
    static STAGES: OnceLock<Vec<Stage>> = OnceLock::new();
    STAGES.get_or_init(|| {
        vec![
            stage_awaiting_reply(),
            stage_responder_fresh(),
            stage_out_of_order(),
            stage_old_chains(),
            stage_pending_tight_limits(),
            stage_responder_sent(),
        ]
    })
}

/// The stages whose blob holds a sending chain (and so a ratchet secret).
pub(crate) fn sending_stages() -> Vec<usize> {
    let st = stages().iter().enumerate();
    st.filter(|(_, s)| s.parsed.sending().is_some())
        .map(|(i, _)| i)
        .collect()
}

/// After the scripted reply, every message of the stage not yet consumed decrypts exactly once
/// (prekey messages only if the session is a responder, §7.4), and the consumed ones never.
pub(crate) fn assert_live(st: &Stage, mut s: Session, what: &str) {
    s.encrypt(&mut st.script_rng.clone(), b"scripted").unwrap();
    let responder = s.role() == xchat_protocol::Role::Responder;
    for round in 0..2 {
        for (i, m) in st.msgs.iter().enumerate() {
            let r = s.decrypt(&m.bytes);
            let prekey = matches!(Incoming::decode(&m.bytes), Ok(Incoming::PreKey(_)));
            let fresh = round == 0 && !st.consumed.contains(&i) && (responder || !prekey);
            assert_eq!(r.is_ok(), fresh, "{what}: message {i} round {round}: {r:?}");
        }
    }
    assert!(st.msgs.len() > st.consumed.len() + 3, "{what}");
}
