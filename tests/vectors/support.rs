//! Reading the vector files: JSON accessors, the scripted RNG, and decoders shared by every
//! vector family (identities, states, timers, deadlines, wire splitting).

use std::path::PathBuf;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde_json::Value;
use xchat_protocol::{
    ContentKind, Deadline, IdentityKeyPair, PreKeyStore, Received, Session, Timer, TimerStart,
};

use crate::generator::{Scripted, identity_x25519_secret, x25519_public};

pub(crate) fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-vectors")
}

pub(crate) fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).expect("vector file");
    let v: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["file"], name);
    assert_eq!(v["format_version"], 1);
    v
}

pub(crate) fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or_else(|| panic!("hex string, got {v}"))).expect("hex")
}

pub(crate) fn h32(v: &Value) -> [u8; 32] {
    h(v).try_into().expect("32 bytes")
}

pub(crate) fn h16(v: &Value) -> [u8; 16] {
    h(v).try_into().expect("16 bytes")
}

pub(crate) fn h12(v: &Value) -> [u8; 12] {
    h(v).try_into().expect("12 bytes")
}

pub(crate) fn n32(v: &Value) -> u32 {
    u32::try_from(v.as_u64().unwrap_or_else(|| panic!("number, got {v}"))).expect("u32")
}

pub(crate) fn nsize(v: &Value) -> usize {
    usize::try_from(v.as_u64().expect("number")).expect("usize")
}

pub(crate) fn big(v: &Value) -> u64 {
    v.as_str()
        .expect("u64 as a string")
        .parse()
        .expect("decimal")
}

pub(crate) fn st(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("string, got {v}"))
}

pub(crate) fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("array, got {v}"))
}

pub(crate) fn draws(v: &Value) -> Vec<Vec<u8>> {
    arr(v).iter().map(h).collect()
}

pub(crate) fn opt_h(v: &Value) -> Option<Vec<u8>> {
    (!v.is_null()).then(|| h(v))
}

pub(crate) fn opt_n32(v: &Value) -> Option<u32> {
    (!v.is_null()).then(|| n32(v))
}

pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Runs `f` with an RNG that yields exactly `draws`, and checks that all were consumed.
pub(crate) fn scripted<T>(draws: Vec<Vec<u8>>, f: impl FnOnce(&mut Scripted) -> T) -> T {
    let mut rng = Scripted::new(draws);
    let out = f(&mut rng);
    assert_eq!(
        rng.remaining(),
        0,
        "the operation drew fewer times than published"
    );
    out
}

/// The published draws are the ChaCha20 stream of the published seed, in order.
pub(crate) fn check_chacha_stream(seed: [u8; 32], draws: &[Vec<u8>]) {
    let mut rng = ChaCha20Rng::from_seed(seed);
    for d in draws {
        let mut b = vec![0; d.len()];
        rng.fill_bytes(&mut b);
        assert_eq!(&b, d, "draw is not the next ChaCha20 output");
    }
}

pub(crate) fn identity(seed: &Value) -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&h32(seed))
}

pub(crate) fn session(blob: &Value) -> Session {
    let bytes = h(blob);
    let s = Session::from_bytes(&bytes).expect("session blob");
    assert_eq!(
        s.to_bytes().unwrap().as_slice(),
        bytes.as_slice(),
        "re-encodes"
    );
    s
}

pub(crate) fn store(blob: &Value) -> PreKeyStore {
    let bytes = h(blob);
    let s = PreKeyStore::from_bytes(&bytes).expect("store blob");
    assert_eq!(
        s.to_bytes().unwrap().as_slice(),
        bytes.as_slice(),
        "re-encodes"
    );
    s
}

pub(crate) fn start(v: &Value) -> TimerStart {
    match st(v) {
        "on_send" => TimerStart::OnSend,
        "on_read" => TimerStart::OnRead,
        other => panic!("start {other}"),
    }
}

pub(crate) fn timer(v: &Value) -> Timer {
    Timer {
        duration_s: n32(&v["duration_s"]),
        start: start(&v["start"]),
        version: n32(&v["version"]),
    }
}

pub(crate) fn deadline(v: &Value) -> Option<Deadline> {
    match st(&v["kind"]) {
        "expired" => None,
        "never" => Some(Deadline::Never),
        "at" => Some(Deadline::At(big(&v["ms"]))),
        "after_read" => Some(Deadline::AfterRead(big(&v["ms"]))),
        other => panic!("deadline kind {other}"),
    }
}

pub(crate) fn kind(v: &Value) -> ContentKind {
    match st(v) {
        "message" => ContentKind::Message,
        "timer_update" => ContentKind::TimerUpdate,
        other => panic!("kind {other}"),
    }
}

pub(crate) fn check_received(r: &Received, v: &Value) {
    assert_eq!(r.kind, kind(&v["kind"]));
    assert_eq!(r.body, h(&v["body"]));
    assert_eq!(r.sent_at_ms, big(&v["sent_at_ms"]));
    assert_eq!(r.timer, timer(&v["timer"]));
    assert_eq!(Some(r.deadline), deadline(&v["deadline"]));
    assert_eq!(r.timer_changed, v["timer_changed"].as_bool().expect("bool"));
}

/// `X25519(identity secret, base point)` equals the published X25519 form, and both the Ed25519
/// key and the X25519 forms match the seed.
pub(crate) fn check_identity(v: &Value) -> IdentityKeyPair {
    let id = identity(&v["identity_seed"]);
    assert_eq!(id.public().to_bytes(), h32(&v["identity_public"]));
    let x = identity_x25519_secret(&h32(&v["identity_seed"]));
    assert_eq!(x, h32(&v["identity_x25519_secret"]));
    assert_eq!(x25519_public(x), h32(&v["identity_x25519_public"]));
    assert_eq!(id.public().x25519().unwrap().to_bytes(), x25519_public(x));
    id
}

/// Splits a wire message into (prekey fields, 58-byte prefix, ciphertext) per §5.2/§5.3.
pub(crate) fn split_wire(wire: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let offset = match wire[1] {
        1 => 0,
        2 if wire[70] == 0 => 71,
        2 => 75,
        t => panic!("type {t}"),
    };
    (
        &wire[..offset],
        &wire[offset..offset + 58],
        &wire[offset + 58..],
    )
}

/// Parses the 58-byte prefix (§5.2): (ratchet key, PN, N, seed).
pub(crate) fn parse_prefix(prefix: &[u8]) -> ([u8; 32], u32, u32, [u8; 16]) {
    assert_eq!(prefix.len(), 58);
    assert_eq!(prefix[0], 0x01, "version");
    assert_eq!(prefix[1], 0x01, "type");
    (
        prefix[2..34].try_into().unwrap(),
        u32::from_be_bytes(prefix[34..38].try_into().unwrap()),
        u32::from_be_bytes(prefix[38..42].try_into().unwrap()),
        prefix[42..58].try_into().unwrap(),
    )
}

/// Rebuilds Bob's store from the draws of `rotate_signed_prekey` then
/// `generate_one_time_prekeys(n)`.
pub(crate) fn rebuild_store(
    bob: &IdentityKeyPair,
    created_at: u64,
    draws: &[Vec<u8>],
) -> PreKeyStore {
    let mut s = PreKeyStore::new();
    scripted(draws[..1].to_vec(), |r| {
        s.rotate_signed_prekey(r, bob, created_at * 1000);
    });
    scripted(draws[1..].to_vec(), |r| {
        s.generate_one_time_prekeys(r, draws.len() - 1).unwrap();
    });
    s
}
