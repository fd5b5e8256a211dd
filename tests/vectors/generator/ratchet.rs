//! ratchet.json: a scripted Double Ratchet conversation with six sending chains, out-of-order
//! delivery and skipped keys across ratchet turns, every chain and message key recomputed
//! (SPEC.md §3.2–§3.5, §5.2, §5.3, §6, §7.4).

use xchat_protocol::{Config, IdentityKeyPair, PreKeyStore, Session, Trust};

use super::json::{Json, Obj, hx};
use super::primitives::{
    a16, a32, associated_data, dh, expand, gcm_seal, kdf_ck, kdf_rk, normal_offset, x25519_public,
};
use super::rng::Recorder;
use super::shared::{CREATED_AT, Who, blob, draws_json, header, x3dh_secret};
use super::state_codec::clamp;
use super::state_fields::{dhr, parse_session, pn, recv_chain, send_chain, skipped};

pub(super) enum Step {
    Send(Who, &'static str, &'static str),
    Deliver(&'static str),
}

pub(super) const RATCHET_SCRIPT: &[Step] = &[
    Step::Send(Who::Alice, "a0", "a0: hello Bob"),
    Step::Send(Who::Alice, "a1", "a1: are you there?"),
    Step::Send(Who::Alice, "a2", "a2: third prekey message"),
    Step::Deliver("a1"),
    Step::Deliver("a0"),
    Step::Send(Who::Bob, "b0", "b0: hi Alice"),
    Step::Send(Who::Bob, "b1", "b1: yes"),
    Step::Send(Who::Bob, "b2", "b2: delivered late"),
    Step::Deliver("b1"),
    Step::Deliver("b0"),
    Step::Send(Who::Alice, "a3", "a3: new ratchet key"),
    Step::Send(Who::Alice, "a4", "a4"),
    Step::Send(Who::Alice, "a5", "a5"),
    Step::Deliver("a4"),
    Step::Deliver("a2"),
    Step::Send(Who::Bob, "b3", "b3: turn again"),
    Step::Send(Who::Bob, "b4", "b4"),
    Step::Deliver("b4"),
    Step::Deliver("b2"),
    Step::Deliver("b3"),
    Step::Deliver("a3"),
    Step::Deliver("a5"),
    Step::Send(Who::Alice, "a6", "a6: third turn"),
    Step::Deliver("a6"),
    Step::Send(Who::Bob, "b5", "b5: bye"),
    Step::Send(Who::Bob, "b6", "b6: bye again"),
    Step::Deliver("b5"),
    Step::Deliver("b6"),
];

pub(super) struct ChainRec {
    owner: Who,
    ratchet_secret: [u8; 32],
    peer_ratchet_public: [u8; 32],
    root_key_before: [u8; 32],
    dh_output: [u8; 32],
    root_key_after: [u8; 32],
    chain_key_0: [u8; 32],
    /// Where the step happened.
    created_by: &'static str,
}

impl ChainRec {
    fn public(&self) -> [u8; 32] {
        x25519_public(self.ratchet_secret)
    }
}

pub(super) struct MsgRec {
    id: &'static str,
    sender: Who,
    chain: usize,
    n: u32,
    pn: u32,
    plaintext: Vec<u8>,
    seed: [u8; 16],
    chain_key: [u8; 32],
    message_key: [u8; 32],
    next_chain_key: [u8; 32],
    aead_key: [u8; 32],
    aead_nonce: [u8; 12],
    wire: Vec<u8>,
}

pub fn ratchet_json() -> Json {
    let rng_seed = [0x52; 32];
    let mut rng = Recorder::new(rng_seed);
    let context = b"alice@example|bob@example";
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, CREATED_AT * 1000);
    store.generate_one_time_prekeys(&mut rng, 2).unwrap();
    let setup_draws = rng.take();
    let store_initial = blob(store.to_bytes().unwrap());
    let bundle = store.bundle(&bob, Some(1)).expect("bundle");
    let mut alice_session = Session::initiate(
        &mut rng,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(context).allow_classical(),
    )
    .expect("initiate");
    let init_draws = rng.take();
    let alice_initial = blob(alice_session.to_bytes().unwrap());

    let spk_public = bundle.signed_prekey.key.to_bytes();
    let spk_secret = a32(&setup_draws[2]);
    assert_eq!(x25519_public(spk_secret), spk_public);
    let opk_public = bundle.one_time_prekey.expect("opk").key.to_bytes();
    let sk = x3dh_secret(
        &alice,
        bob.public(),
        spk_public,
        Some(opk_public),
        a32(&init_draws[0]),
    );
    let ad = associated_data(
        &alice.public().to_bytes(),
        &bob.public().to_bytes(),
        context,
    );
    let ratchet_secret = a32(&init_draws[1]);
    let first_dh = dh(ratchet_secret, spk_public).expect("dh");
    let (rk1, ck0) = kdf_rk(sk, first_dh);
    let mut chains = vec![ChainRec {
        owner: Who::Alice,
        ratchet_secret,
        peer_ratchet_public: spk_public,
        root_key_before: sk,
        dh_output: first_dh,
        root_key_after: rk1,
        chain_key_0: ck0,
        created_by: "Session::initiate",
    }];
    let mut messages: Vec<MsgRec> = Vec::new();
    let mut events = Vec::new();
    let mut bob_session: Option<Session> = None;
    let mut delivery_order = Vec::new();
    let mut used_skipped = Vec::new();

    for (step, action) in RATCHET_SCRIPT.iter().enumerate() {
        match action {
            Step::Send(who, id, text) => {
                let session = match who {
                    Who::Alice => &mut alice_session,
                    Who::Bob => bob_session.as_mut().expect("bob has a session"),
                };
                let before = blob(session.to_bytes().unwrap());
                let st = parse_session(&before);
                let wire = session.encrypt(&mut rng, text.as_bytes()).expect("encrypt");
                let draws = rng.take();
                let after = blob(session.to_bytes().unwrap());
                let st_after = parse_session(&after);
                let (chain, n, ck, seed) = match st.sending() {
                    None => {
                        assert_eq!(draws.len(), 2, "half-step draws a key, then the seed");
                        let secret = a32(&draws[0]);
                        let peer = dhr(&st).expect("dhr");
                        let dh_output = dh(secret, peer).expect("dh");
                        let (root_after, ck0) = kdf_rk(st.rk, dh_output);
                        assert_eq!(st_after.rk, root_after);
                        let after_send = st_after.sending().expect("sending");
                        assert_eq!(after_send.dhs.secret, clamp(secret));
                        assert_eq!(after_send.dhs.public, x25519_public(secret));
                        chains.push(ChainRec {
                            owner: *who,
                            ratchet_secret: secret,
                            peer_ratchet_public: peer,
                            root_key_before: st.rk,
                            dh_output,
                            root_key_after: root_after,
                            chain_key_0: ck0,
                            created_by: "Session::encrypt (deferred sending half-step)",
                        });
                        (chains.len() - 1, 0, ck0, a16(&draws[1]))
                    }
                    Some(send) => {
                        let (ck, n) = (send.ck, send.n);
                        assert_eq!(draws.len(), 1);
                        assert_eq!(send.dhs.public, x25519_public(send.dhs.secret));
                        let public = send.dhs.public;
                        let chain = chains
                            .iter()
                            .position(|c| c.public() == public)
                            .expect("chain");
                        (chain, n, ck, a16(&draws[0]))
                    }
                };
                let (next_ck, mk) = kdf_ck(ck);
                assert_eq!(send_chain(&st_after), Some((next_ck, n + 1)));
                let (aead_key, aead_nonce) = expand(mk, seed);
                let offset = normal_offset(&wire);
                let prefix = &wire[offset..offset + 58];
                assert_eq!(&prefix[2..34], &chains[chain].public());
                assert_eq!(&prefix[34..38], &pn(&st).to_be_bytes());
                assert_eq!(&prefix[38..42], &n.to_be_bytes());
                assert_eq!(&prefix[42..58], &seed);
                let mut aad = ad.clone();
                aad.extend_from_slice(&wire[..offset + 58]);
                assert_eq!(
                    gcm_seal(&aead_key, &aead_nonce, &aad, text.as_bytes()),
                    &wire[offset + 58..]
                );
                messages.push(MsgRec {
                    id,
                    sender: *who,
                    chain,
                    n,
                    pn: pn(&st),
                    plaintext: text.as_bytes().to_vec(),
                    seed,
                    chain_key: ck,
                    message_key: mk,
                    next_chain_key: next_ck,
                    aead_key,
                    aead_nonce,
                    wire,
                });
                events.push(Json::from(
                    Obj::new()
                        .f("step", step)
                        .f("action", "send")
                        .f("actor", who.name())
                        .f("message", *id)
                        .f("operation", "Session::encrypt")
                        .f("rng_draws", draws_json(&draws))
                        .f("state_before", hx(&before))
                        .f("state_after", hx(&after)),
                ));
            }
            Step::Deliver(id) => {
                let m = messages.iter().find(|m| m.id == *id).expect("sent");
                let receiver = m.sender.other();
                let chain = &chains[m.chain];
                let ratchet_key = chain.public();
                let mut event = Obj::new()
                    .f("step", step)
                    .f("action", "deliver")
                    .f("actor", receiver.name())
                    .f("message", *id);
                let (before, plaintext, path, before_state) = match (receiver, &mut bob_session) {
                    (Who::Bob, None) => {
                        let store_before = blob(store.to_bytes().unwrap());
                        let (session, pt) = Session::respond(
                            &bob,
                            &mut store,
                            &m.wire,
                            &Config::new(context).allow_classical(),
                        )
                        .expect("respond");
                        bob_session = Some(session);
                        event = event
                            .f("operation", "Session::respond")
                            .f("prekey_store_before", hx(&store_before))
                            .f("prekey_store_after", hx(blob(store.to_bytes().unwrap())));
                        (None, pt, "new_ratchet_key", None)
                    }
                    (who, bob_slot) => {
                        let session = match who {
                            Who::Alice => &mut alice_session,
                            Who::Bob => bob_slot.as_mut().expect("session"),
                        };
                        let before = blob(session.to_bytes().unwrap());
                        let st = parse_session(&before);
                        let path = if skipped(&st)
                            .iter()
                            .any(|e| e.key == ratchet_key && e.n == m.n)
                        {
                            "skipped_key"
                        } else if dhr(&st) == Some(ratchet_key) {
                            "current_chain"
                        } else {
                            "new_ratchet_key"
                        };
                        let pt = session.decrypt(&m.wire).expect("decrypt");
                        event = event.f("operation", "Session::decrypt");
                        (Some(before), pt, path, Some(st))
                    }
                };
                assert_eq!(plaintext, m.plaintext);
                let session = match receiver {
                    Who::Alice => &alice_session,
                    Who::Bob => bob_session.as_ref().expect("session"),
                };
                let after = blob(session.to_bytes().unwrap());
                let st_after = parse_session(&after);
                let old_skipped = before_state.as_ref().map_or(&[][..], skipped);
                let mut stored = Vec::new();
                for e in skipped(&st_after) {
                    if old_skipped.iter().any(|o| o.key == e.key && o.n == e.n) {
                        continue;
                    }
                    let owner = messages
                        .iter()
                        .find(|x| chains[x.chain].public() == e.key && x.n == e.n)
                        .expect("a skipped key belongs to a sent message");
                    assert_eq!(owner.message_key, e.mk);
                    assert_eq!(e.skipped_at, u64::MAX);
                    stored.push(Json::from(
                        Obj::new()
                            .f("message", owner.id)
                            .f("ratchet_key", hx(e.key))
                            .f("n", e.n)
                            .f("message_key", hx(e.mk)),
                    ));
                }
                if path == "new_ratchet_key" {
                    assert_eq!(st_after.rk, chain.root_key_after);
                    assert_eq!(dhr(&st_after), Some(ratchet_key));
                    assert_eq!(st_after.sending(), None, "pending: no ratchet secret held");
                }
                if path != "skipped_key" {
                    assert_eq!(recv_chain(&st_after), Some((m.next_chain_key, m.n + 1)));
                } else {
                    used_skipped.push(Json::from(*id));
                }
                delivery_order.push(Json::from(*id));
                events.push(
                    event
                        .f("path", path)
                        .f("used_stored_skipped_key", path == "skipped_key")
                        .f("stored_skipped_keys", Json::Array(stored))
                        .f("plaintext", hx(&plaintext))
                        .f("state_before", before.map(hx))
                        .f("state_after", hx(&after))
                        .into(),
                );
            }
        }
    }

    let chains_json = chains
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Obj::new()
                .f("index", i)
                .f("owner", c.owner.name())
                .f("created_by", c.created_by)
                .f("ratchet_key_secret", hx(c.ratchet_secret))
                .f("ratchet_key_public", hx(c.public()))
                .f("peer_ratchet_key", hx(c.peer_ratchet_public))
                .f("root_key_before", hx(c.root_key_before))
                .f("dh_output", hx(c.dh_output))
                .f("root_key_after", hx(c.root_key_after))
                .f("chain_key_0", hx(c.chain_key_0))
                .into()
        })
        .collect();
    let messages_json = messages
        .iter()
        .map(|m| {
            let offset = normal_offset(&m.wire);
            let prefix = &m.wire[offset..offset + 58];
            let mut aad = ad.clone();
            aad.extend_from_slice(&m.wire[..offset + 58]);
            Obj::new()
                .f("id", m.id)
                .f("sender", m.sender.name())
                .f("type", if offset == 0 { "normal" } else { "prekey" })
                .f("chain", m.chain)
                .f(
                    "header",
                    Obj::new()
                        .f("ratchet_key", hx(chains[m.chain].public()))
                        .f("pn", m.pn)
                        .f("n", m.n),
                )
                .f("seed", hx(m.seed))
                .f("chain_key", hx(m.chain_key))
                .f("message_key", hx(m.message_key))
                .f("next_chain_key", hx(m.next_chain_key))
                .f("aead_key", hx(m.aead_key))
                .f("aead_nonce", hx(m.aead_nonce))
                .f("plaintext", hx(&m.plaintext))
                .f("prekey_fields", hx(&m.wire[..offset]))
                .f("prefix", hx(prefix))
                .f("aad", hx(&aad))
                .f("ciphertext", hx(&m.wire[offset + 58..]))
                .f("bytes", hx(&m.wire))
                .into()
        })
        .collect();

    header(
        "ratchet.json",
        "A scripted Double Ratchet conversation: six sending chains, out-of-order delivery, skipped keys across ratchet turns",
        &[
            "§3.2", "§3.3", "§3.4", "§3.5", "§5.2", "§5.3", "§6.2", "§6.3", "§6.4", "§6.5", "§7.2",
            "§7.3", "§7.4", "§10.3",
        ],
    )
    .f(
        "setup",
        Obj::new()
            .f("rng_seed", hx(rng_seed))
            .f("setup_rng_draws", draws_json(&setup_draws))
            .f("alice_identity_seed", hx(alice.seed().as_slice()))
            .f("bob_identity_seed", hx(bob.seed().as_slice()))
            .f("alice_identity", hx(alice.public().to_bytes()))
            .f("bob_identity", hx(bob.public().to_bytes()))
            .f("context", hx(context))
            .f("bob_prekey_store", hx(&store_initial))
            .f("one_time_prekey_id", 1u32)
            .f("bundle", hx(bundle.to_bytes()))
            .f("initiate_rng_draws", draws_json(&init_draws))
            .f("shared_secret", hx(sk))
            .f("associated_data", hx(&ad))
            .f("alice_state_initial", hx(&alice_initial)),
    )
    .f("chains", Json::Array(chains_json))
    .f("messages", Json::Array(messages_json))
    .f("events", Json::Array(events))
    .f("delivery_order", Json::Array(delivery_order))
    .f("used_stored_skipped_keys", Json::Array(used_skipped))
    .into()
}
