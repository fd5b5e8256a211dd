//! The shared scene: a responder whose store holds every kind of prekey (signed, one-time X25519,
//! last-resort and one-time KEM), first messages in the four key combinations, the byte offsets
//! of a PQXDH prekey message (SPEC.md §5.3), and snapshots of state to compare byte for byte.

use std::ops::Range;

use rand_chacha::ChaCha20Rng;
use xchat_protocol::{Config, IdentityKeyPair, PreKeyBundle, PreKeyStore, Session, Trust};

pub(crate) const NOW: u64 = 1_700_000_000_000;
pub(crate) const CTX: &[u8] = b"alice@example|bob@example";

/// Post-quantum sessions only (the default).
pub(crate) fn pq() -> Config<'static> {
    Config::new(CTX)
}

/// Classical sessions allowed too (the application's opt-in).
pub(crate) fn classical() -> Config<'static> {
    Config::new(CTX).allow_classical()
}

/// Which one-time keys a first message uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    pub(crate) opk: bool,
    pub(crate) kem_one_time: bool,
}

/// The four combinations of SPEC.md §4.5: with or without a one-time X25519 prekey, with the
/// last-resort or a one-time KEM prekey.
pub(crate) const COMBOS: [Keys; 4] = [
    Keys {
        opk: false,
        kem_one_time: false,
    },
    Keys {
        opk: true,
        kem_one_time: false,
    },
    Keys {
        opk: false,
        kem_one_time: true,
    },
    Keys {
        opk: true,
        kem_one_time: true,
    },
];

impl Keys {
    /// Whether a first message with these keys is protected by the signed prekey's record of
    /// first-message ids (neither one-time key, SPEC.md §4.3) rather than by a deletion.
    pub(crate) fn recorded(self) -> bool {
        !self.opk && !self.kem_one_time
    }
}

/// A responder with a signed prekey, four one-time prekeys, a last-resort KEM prekey and four
/// one-time KEM prekeys.
pub(crate) struct Responder {
    pub(crate) id: IdentityKeyPair,
    pub(crate) store: PreKeyStore,
    pub(crate) spk: u32,
    pub(crate) opks: Vec<u32>,
    pub(crate) last_resort: u32,
    pub(crate) kem_ids: Vec<u32>,
}

pub(crate) fn responder(rng: &mut ChaCha20Rng) -> Responder {
    let id = IdentityKeyPair::generate(rng);
    let mut store = PreKeyStore::new();
    let spk = store.rotate_signed_prekey(rng, &id, NOW).id;
    let opks = store.generate_one_time_prekeys(rng, 4).unwrap();
    let last_resort = store.rotate_kem_prekey(rng, &id, NOW).id;
    let kems = store
        .generate_kem_one_time_prekeys(rng, &id, 4, NOW)
        .unwrap();
    Responder {
        id,
        store,
        spk,
        opks: opks.iter().map(|k| k.id).collect(),
        last_resort,
        kem_ids: kems.iter().map(|k| k.id).collect(),
    }
}

impl Responder {
    /// A bundle with the `n`-th one-time keys that `keys` names.
    pub(crate) fn bundle(&self, keys: Keys, n: usize) -> PreKeyBundle {
        let opk = keys.opk.then(|| self.opks[n]);
        if keys.kem_one_time {
            self.store
                .bundle_with_kem_one_time(&self.id, opk, self.kem_ids[n])
                .unwrap()
        } else {
            self.store.bundle(&self.id, opk).unwrap()
        }
    }

    pub(crate) fn store_bytes(&self) -> Vec<u8> {
        store_bytes(&self.store)
    }
}

pub(crate) fn store_bytes(store: &PreKeyStore) -> Vec<u8> {
    store.to_bytes().unwrap().to_vec()
}

pub(crate) fn session_bytes(session: &Session) -> Vec<u8> {
    session.to_bytes().unwrap().to_vec()
}

/// Initiates from `bundle` (post-quantum only) and sends a first message with a content frame.
pub(crate) fn first(
    rng: &mut ChaCha20Rng,
    alice: &IdentityKeyPair,
    bundle: &PreKeyBundle,
) -> (Session, Vec<u8>) {
    let mut a = Session::initiate(rng, alice, bundle, Trust::FirstUse, &pq()).unwrap();
    let m = a.send(rng, NOW, b"hello Bob").unwrap();
    (a, m)
}

/// The base key `EK_A` (SPEC.md §5.3).
pub(crate) const BASE_KEY: Range<usize> = 34..66;
/// The KEM use byte: offset 71, or 75 after a one-time prekey id.
pub(crate) fn kem_use_at(opk: bool) -> usize {
    if opk { 75 } else { 71 }
}
/// The KEM prekey id.
pub(crate) fn kem_id_range(opk: bool) -> Range<usize> {
    kem_use_at(opk) + 1..kem_use_at(opk) + 5
}
/// The ML-KEM ciphertext.
pub(crate) fn ct_range(opk: bool) -> Range<usize> {
    kem_use_at(opk) + 5..kem_use_at(opk) + 5 + 1568
}
/// Where the embedded normal message starts (1644 or 1648).
pub(crate) fn embedded_at(opk: bool) -> usize {
    kem_use_at(opk) + 1573
}

/// The relay's downgrade: the KEM fields cut out and the version byte set to `0x01` (X3DH).
pub(crate) fn strip_kem(m: &[u8], opk: bool) -> Vec<u8> {
    let mut out = m[..kem_use_at(opk)].to_vec();
    out[0] = 0x01;
    out.extend_from_slice(&m[embedded_at(opk)..]);
    out
}

/// `m` with `range` replaced by `value`.
pub(crate) fn with(m: &[u8], range: Range<usize>, value: &[u8]) -> Vec<u8> {
    let mut out = m.to_vec();
    out[range].copy_from_slice(value);
    out
}

/// `m` with byte `i` XORed with `x`.
pub(crate) fn flip(m: &[u8], i: usize, x: u8) -> Vec<u8> {
    let mut out = m.to_vec();
    out[i] ^= x;
    out
}

/// Whether two RNGs are at the same position (an operation drew nothing).
pub(crate) fn same_position(a: &ChaCha20Rng, b: &ChaCha20Rng) -> bool {
    use rand_chacha::rand_core::Rng;
    a.clone().next_u64() == b.clone().next_u64()
}

/// The classical (X3DH) bundle of a store that also holds KEM prekeys: `full` without its KEM
/// prekey, and with the signed prekey's X3DH signature, which the store keeps (a PQXDH bundle's
/// covers the key type as well, SPEC.md §4.2).
pub(crate) fn x3dh_bundle(full: PreKeyBundle, store: &PreKeyStore) -> PreKeyBundle {
    PreKeyBundle {
        kem_prekey: None,
        signed_prekey: *store.current_signed_prekey().unwrap(),
        ..full
    }
}
