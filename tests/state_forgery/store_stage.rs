//! The prekey store stage: Bob's store with three signed prekeys and recorded first messages,
//! and the first messages (X3DH runs) sent to it.

use std::sync::OnceLock;

use rand_chacha::ChaCha20Rng;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{IdentityKeyPair, Incoming, PreKeyBundle, PreKeyStore, Session};

use crate::common;
use crate::common::state_codec::{K32, StoreBlob};
use crate::support::NOW;

/// A first message (prekey message) to the store's owner.
pub(crate) struct FirstMsg {
    pub(crate) bytes: Vec<u8>,
    pub(crate) body: Vec<u8>,
    pub(crate) base: K32,
    pub(crate) spk_id: u32,
    pub(crate) otpk: Option<u32>,
}

/// An X3DH run: two messages of one run must never both start a session.
pub(crate) type Run = (K32, u32, Option<u32>);

impl FirstMsg {
    pub(crate) fn run(&self) -> Run {
        (self.base, self.spk_id, self.otpk)
    }
}

pub(crate) struct StoreStage {
    pub(crate) blob: Vec<u8>,
    pub(crate) parsed: StoreBlob,
    pub(crate) owner_seed: K32,
    pub(crate) msgs: Vec<FirstMsg>,
}

/// `count` first messages of one new initiator from `bundle`; returns the index of the first.
fn first_messages(
    rng: &mut ChaCha20Rng,
    bundle: &PreKeyBundle,
    count: usize,
    out: &mut Vec<FirstMsg>,
) -> usize {
    let alice = IdentityKeyPair::generate(rng);
    let mut s = Session::initiate(
        rng,
        &alice,
        bundle,
        Trust::FirstUse,
        &Config::new(common::CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = out.len();
    for k in 0..count {
        let body = format!("first {} #{k}", out.len()).into_bytes();
        let bytes = s.send(rng, NOW, &body).unwrap();
        let Incoming::PreKey(p) = Incoming::decode(&bytes).unwrap() else {
            unreachable!()
        };
        let (base, spk_id, otpk) = (
            p.base_key.to_bytes(),
            p.signed_prekey_id,
            p.one_time_prekey_id,
        );
        out.push(FirstMsg {
            bytes,
            body,
            base,
            spk_id,
            otpk,
        });
    }
    first
}

/// Bob's store with three signed prekeys, each with accepted first messages without a one-time
/// prekey, some one-time prekeys used and some held; plus first messages not yet seen.
pub(crate) fn store_stage() -> &'static StoreStage {
    static STAGE: OnceLock<StoreStage> = OnceLock::new();
    STAGE.get_or_init(|| {
        let mut rng = common::rng(21);
        let bob = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        let mut msgs = Vec::new();
        // Per signed prekey: (one-time prekey, messages, whether the first is accepted).
        let rounds: [&[(Option<u32>, usize, bool)]; 3] = [
            &[
                (None, 2, true),
                (Some(1), 2, true),
                (None, 1, false),
                (Some(2), 1, false),
            ],
            &[(None, 2, true), (None, 1, true), (Some(3), 1, false)],
            &[
                (None, 2, true),
                (Some(4), 2, true),
                (None, 1, false),
                (Some(0), 1, false),
                (Some(5), 1, false),
            ],
        ];
        for (r, round) in rounds.into_iter().enumerate() {
            store.rotate_signed_prekey(&mut rng, &bob, (1_000 * (r as u64 + 1)) * 1000);
            if r == 0 {
                store.generate_one_time_prekeys(&mut rng, 6).unwrap();
            }
            let mut accept = Vec::new();
            for &(otpk, n, take) in round {
                let bundle = store.bundle(&bob, otpk).unwrap();
                let i = first_messages(&mut rng, &bundle, n, &mut msgs);
                accept.extend(take.then_some(i));
            }
            for i in accept {
                let m = &msgs[i].bytes;
                if r == 1 {
                    Session::respond(
                        &bob,
                        &mut store,
                        m,
                        &Config::new(common::CONTEXT).allow_classical(),
                    )
                    .unwrap();
                } else {
                    Session::accept(
                        &bob,
                        &mut store,
                        m,
                        &Config::new(common::CONTEXT).allow_classical(),
                        NOW,
                    )
                    .unwrap();
                }
            }
        }
        let blob = store.to_bytes().unwrap().to_vec();
        let parsed = StoreBlob::decode(&blob).unwrap().1;
        let owner_seed = *bob.seed();
        StoreStage {
            blob,
            parsed,
            owner_seed,
            msgs,
        }
    })
}
