//! Either implementation behind one interface: a session (`Party`), a responder with its prekey
//! store (`BobPre`), and the transcript of everything observable.

use crate::reference::primitives::{K32, SentKey};
use crate::reference::session::MySession;
use crate::reference::store::MyBob;
use crate::reference::wire::Ident;
use rand_chacha::ChaCha20Rng;
use xchat_protocol::{Config, IdentityKeyPair, PreKeyBundle, PreKeyStore, Session};

/// A session of either implementation.
pub(crate) enum Party {
    Crate(Box<Session>),
    /// With the log of (ratchet key, N, MK) of every message sent, unless restored from state.
    Mine(Box<MySession>, Option<Vec<SentKey>>),
}

impl Party {
    pub(crate) fn is_crate(&self) -> bool {
        matches!(self, Party::Crate(_))
    }
    pub(crate) fn encrypt(&mut self, rng: &mut ChaCha20Rng, pt: &[u8]) -> Vec<u8> {
        self.encrypt_with(rng, pt)
    }
    /// `encrypt` with any RNG (e.g. a scripted one).
    pub(crate) fn encrypt_with(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        pt: &[u8],
    ) -> Vec<u8> {
        match self {
            Party::Crate(s) => s.encrypt(rng, pt).unwrap(),
            Party::Mine(s, log) => {
                let (m, entry) = s.encrypt_logged(rng, pt).unwrap();
                if let Some(log) = log {
                    log.push(entry);
                }
                m
            }
        }
    }
    pub(crate) fn decrypt(&mut self, m: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Party::Crate(s) => s.decrypt(m).map_err(|e| format!("{e:?}")),
            Party::Mine(s, _) => s.decrypt(m).map_err(|e| format!("{e:?}")),
        }
    }
    pub(crate) fn state(&self) -> Vec<u8> {
        match self {
            Party::Crate(s) => s.to_bytes().unwrap().to_vec(),
            Party::Mine(s, _) => s.to_state(),
        }
    }
    /// The independent view of this party's state (parsing the crate's blob per §10.3).
    pub(crate) fn view(&self) -> MySession {
        match self {
            Party::Crate(s) => {
                let blob = s.to_bytes().unwrap().to_vec();
                let v = MySession::from_state(&blob).unwrap();
                assert_eq!(v.to_state(), blob, "§10.3 re-encoding differs");
                v
            }
            Party::Mine(s, _) => (**s).clone(),
        }
    }
    /// Persist and restore into the *other* implementation.
    pub(crate) fn swap_implementation(&mut self) {
        let blob = self.state();
        *self = if self.is_crate() {
            Party::Mine(Box::new(MySession::from_state(&blob).unwrap()), None)
        } else {
            Party::Crate(Box::new(Session::from_bytes(&blob).unwrap()))
        };
        assert_eq!(self.state(), blob);
    }
}

pub(crate) enum BobPre {
    Crate(Box<(IdentityKeyPair, PreKeyStore)>),
    Mine(Box<MyBob>),
}

impl BobPre {
    pub(crate) fn respond(&mut self, m: &[u8], ctx: &[u8]) -> Result<(Party, Vec<u8>), String> {
        match self {
            BobPre::Crate(b) => {
                Session::respond(&b.0, &mut b.1, m, &Config::new(ctx).allow_classical())
                    .map(|(s, pt)| (Party::Crate(Box::new(s)), pt))
                    .map_err(|e| format!("{e:?}"))
            }
            BobPre::Mine(bob) => bob
                .respond(m, ctx)
                .map(|(s, pt)| (Party::Mine(Box::new(s), Some(vec![])), pt))
                .map_err(|e| format!("{e:?}")),
        }
    }
    pub(crate) fn store_state(&self) -> Vec<u8> {
        match self {
            BobPre::Crate(b) => b.1.to_bytes().unwrap().to_vec(),
            BobPre::Mine(bob) => bob.store_state(),
        }
    }
    pub(crate) fn first_message_capacity(&self) -> usize {
        match self {
            BobPre::Crate(b) => b.1.first_message_capacity(),
            BobPre::Mine(bob) => bob.first_message_capacity(),
        }
    }
    pub(crate) fn rotate_signed_prekey(&mut self, rng: &mut ChaCha20Rng, now: u64) {
        match self {
            BobPre::Crate(b) => {
                b.1.rotate_signed_prekey(rng, &b.0, now * 1000);
            }
            BobPre::Mine(bob) => bob.rotate_signed_prekey(rng, now),
        }
    }
    /// §4.5 `rotate_kem_prekey` (`now` in seconds); the new key's id.
    pub(crate) fn rotate_kem_prekey(&mut self, rng: &mut ChaCha20Rng, now: u64) -> u32 {
        match self {
            BobPre::Crate(b) => b.1.rotate_kem_prekey(rng, &b.0, now * 1000).id,
            BobPre::Mine(bob) => bob.rotate_kem_prekey(rng, now),
        }
    }
    /// §4.5 `generate_kem_one_time_prekeys` (`now` in seconds); the new keys' ids.
    pub(crate) fn generate_kem_one_time_prekeys(
        &mut self,
        rng: &mut ChaCha20Rng,
        n: usize,
        now: u64,
    ) -> Result<Vec<u32>, String> {
        match self {
            BobPre::Crate(b) => {
                b.1.generate_kem_one_time_prekeys(rng, &b.0, n, now * 1000)
                    .map(|keys| keys.iter().map(|k| k.id).collect())
                    .map_err(|e| format!("{e:?}"))
            }
            BobPre::Mine(bob) => bob
                .generate_kem_one_time_prekeys(rng, n, now)
                .map_err(|e| format!("{e:?}")),
        }
    }
    /// The bundle with the one-time prekey `opk` and, if `kem` names one, the one-time KEM
    /// prekey with that id (else the current last-resort one, if any).
    pub(crate) fn bundle(&self, opk: Option<u32>, kem: Option<u32>) -> Result<Vec<u8>, String> {
        let crate_bundle = |r: Result<PreKeyBundle, _>| r.map(|b| b.to_bytes());
        let text = |e: &dyn std::fmt::Debug| format!("{e:?}");
        match (self, kem) {
            (BobPre::Crate(b), None) => crate_bundle(b.1.bundle(&b.0, opk)).map_err(|e| text(&e)),
            (BobPre::Crate(b), Some(k)) => {
                crate_bundle(b.1.bundle_with_kem_one_time(&b.0, opk, k)).map_err(|e| text(&e))
            }
            (BobPre::Mine(bob), None) => Ok(bob.bundle(opk)),
            (BobPre::Mine(bob), Some(k)) => {
                bob.bundle_with_kem_one_time(opk, k).map_err(|e| text(&e))
            }
        }
    }
    /// Both implementations of the same store blob, for the identity with `seed`.
    pub(crate) fn both(seed: &K32, blob: &[u8]) -> [BobPre; 2] {
        [
            BobPre::Mine(Box::new(
                MyBob::load_store(Ident::new(*seed), blob).unwrap(),
            )),
            BobPre::Crate(Box::new((
                IdentityKeyPair::from_seed(seed),
                PreKeyStore::from_bytes(blob).unwrap(),
            ))),
        ]
    }
}

/// Transcript of everything observable; must be identical for every mix of implementations.
#[derive(Default, Debug, PartialEq)]
pub(crate) struct Transcript(pub(crate) Vec<(String, Vec<u8>)>);

impl Transcript {
    pub(crate) fn rec(&mut self, what: &str, bytes: &[u8]) {
        self.0.push((what.to_string(), bytes.to_vec()));
    }
}
