//! Outside (hostile) audit of the "Unreleased" fixes: replay protection of first messages, the
//! replay record, timers, forged state blobs, secret copies.
//!
//! Naming:
//! - `fixed_*` tests are the audit's findings, each now asserting the fixed behaviour (they failed
//!   before the fix); `known_limit_*` asserts a documented limit; `legacy_*` the reading of the
//!   version 1 store format.
//! - `held_*` tests are attacks that FAILED (the defence held); they pass and are kept as
//!   regression tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use common::{CONTEXT, bob, established, rng, with, x25519_variants};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use xchat_protocol::Receipt;
use xchat_protocol::content::{Content, MAX_CLOCK_SKEW_MS};
use xchat_protocol::kdf::MessageKey;
use xchat_protocol::sealed_sender::seal_to;
use xchat_protocol::{
    CertificateKey, CertificateKeyPair, Deadline, DecodeError, Error, IdentityKeyPair, Incoming,
    PreKeyBundle, PreKeyStore, SealedRecipient, SealedSenderError, SenderCertificate,
    ServerCertificate, Session, Timer, TimerStart,
};
use xchat_protocol::{Config, Trust};

const T0: u64 = 1_700_000_000_000;
const DAY: u64 = 86_400_000;
const BASE_KEY: std::ops::Range<usize> = 34..66;

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// The forger's re-seal of a state blob (SPEC.md §10.0: the check is an unkeyed hash).
fn reseal(kind: u8, version: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind, version];
    out.extend_from_slice(body);
    let check = Sha256::digest(&out);
    out.extend_from_slice(&check[..16]);
    out
}

fn body_of(blob: &[u8]) -> Vec<u8> {
    blob[2..blob.len() - 16].to_vec()
}

/// Offsets of an open session's body (SPEC.md §10.3, version 3).
#[derive(Debug)]
struct SessionLayout {
    /// The DHs secret, when the sending side is not pending.
    dhs: Option<usize>,
    received: usize,
    old_count: usize,
    skipped_count: usize,
}

fn session_layout(body: &[u8]) -> SessionLayout {
    assert_ne!(body[0], 0, "an open ratchet");
    let ctx = usize::from(u16::from_be_bytes([body[65], body[66]]));
    let mut o = 67 + ctx + 32 + 4;
    o += if body[o] == 1 { 5 } else { 1 };
    o += 9 + 16 + 32 + 68;
    let dhs = (body[o] == 1).then_some(o + 1);
    o += if body[o] == 1 { 101 } else { 1 };
    o += 4;
    let received = o;
    o += 4;
    let old_count = o;
    let n = u32::from_be_bytes(body[o..o + 4].try_into().unwrap()) as usize;
    o += 4 + 32 * n;
    SessionLayout {
        dhs,
        received,
        old_count,
        skipped_count: o,
    }
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(b[o..o + 4].try_into().unwrap())
}

/// Seals `plaintext` as a normal message under a chosen message key (what a forger who planted
/// that key in a state blob can do).
fn forge_message(
    ad: &[u8],
    ratchet_key: &[u8; 32],
    pn: u32,
    n: u32,
    mk: [u8; 32],
    plaintext: &[u8],
) -> Vec<u8> {
    let seed = [0x5Au8; 16];
    let mut out = vec![1u8, 1];
    out.extend_from_slice(ratchet_key);
    out.extend_from_slice(&pn.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&seed);
    let mut aad = ad.to_vec();
    aad.extend_from_slice(&out);
    let k = MessageKey::from_bytes(mk).expand(&seed);
    let nonce: Nonce<aes_gcm::aead::consts::U12> = k.nonce.into();
    let mut body = plaintext.to_vec();
    let tag = Aes256Gcm::new((&k.key).into())
        .encrypt_inout_detached(&nonce, &aad, body.as_mut_slice().into())
        .unwrap();
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    out
}

/// `AD` of a session (SPEC.md §3.5).
fn ad(initiator: &IdentityKeyPair, responder: &IdentityKeyPair, context: &[u8]) -> Vec<u8> {
    let mut ad = initiator.public().to_bytes().to_vec();
    ad.extend_from_slice(&responder.public().to_bytes());
    ad.extend_from_slice(&(context.len() as u16).to_be_bytes());
    ad.extend_from_slice(context);
    ad
}

struct Pki {
    roots: Vec<CertificateKey>,
    server: CertificateKeyPair,
    server_cert: ServerCertificate,
}

fn pki(r: &mut ChaCha20Rng) -> Pki {
    let root = CertificateKeyPair::generate(r);
    let server = CertificateKeyPair::generate(r);
    let server_cert = root.certify_server(1, &server.public());
    Pki {
        roots: vec![root.public()],
        server,
        server_cert,
    }
}

impl Pki {
    fn cert(&self, address: &[u8], id: &IdentityKeyPair) -> SenderCertificate {
        self.server
            .certify_sender(&self.server_cert, address, 1, id.public(), T0 + DAY)
            .unwrap()
    }
}

// ------------------------------------------------------------------------------------------
// FINDINGS (these fail while the hole is open)
// ------------------------------------------------------------------------------------------

/// FINDING (medium): §8.6 gives a skipped key its purge deadline from the session's timer
/// *before* the message that caused the skip (and from "off" in `accept`). A relay that reorders
/// the frame turning a timer on behind a later frame makes every key it skips get `2^64 − 1`:
/// `purge` never deletes them, although §8.5 judges those messages by the (now on) session
/// timer and rejects them as `Expired` once the timer has run out. A thief of the state a day
/// later reads the disappearing message (the relay kept its ciphertext) — exactly what §8.6
/// says purging is for.
///
/// Repro: Alice `set_timer(60 s, on-send)` → `t`; `send("…secret")` → `s`; `send("last")` → `l`.
/// Relay delivers `l` first (Bob skips `t`, `s` with deadline 2^64 − 1, then applies the 60 s
/// timer). At T0 + 1 day: `receive(s)` → `Expired`, `purge` → 0, and a copy of Bob's state
/// decrypts `s`.
#[test]
fn fixed_skipped_keys_of_disappearing_messages_are_purged_under_the_current_timer() {
    let mut p = established(100, true);
    let reply = p.bob.send(&mut p.rng, T0, b"hi").unwrap();
    p.alice.receive(&reply, T0).unwrap().into_message().unwrap();
    let _t = p
        .alice
        .set_timer(&mut p.rng, T0, 60, TimerStart::OnSend)
        .unwrap();
    let s = p
        .alice
        .send(&mut p.rng, T0, b"self-destructing secret")
        .unwrap();
    let l = p.alice.send(&mut p.rng, T0, b"last").unwrap();
    let got = p.bob.receive(&l, T0).unwrap().into_message().unwrap();
    assert!(got.timer_changed);
    assert_eq!(p.bob.skipped_key_count(), 2);
    let later = T0 + DAY;
    // The library itself says `s` is dead by now...
    let mut copy = Session::from_bytes(&p.bob.to_bytes().unwrap()).unwrap();
    assert!(matches!(
        copy.receive(&s, later),
        Ok(Receipt::Expired { .. })
    ));
    // Purging then deletes both keys (the session's timer is on now), and a thief of the state
    // reads nothing.
    let purged = p.bob.purge(later);
    assert_eq!(
        purged, 2,
        "purge(T0 + 1 day) deleted {purged} of the 2 keys"
    );
    let mut thief = Session::from_bytes(&p.bob.to_bytes().unwrap()).unwrap();
    assert_eq!(thief.decrypt(&s).unwrap_err(), Error::DuplicateMessage);
}

/// FINDING (medium), the same through `accept`: keys skipped by a first message always get
/// `2^64 − 1` (§8.6 "its timer counts as off"), even when that first message carries an on-send
/// timer. A relay holding back the first frames of a new conversation makes their keys
/// unpurgeable.
#[test]
fn fixed_keys_skipped_by_accept_follow_the_first_messages_timer() {
    let mut b = bob(101, false);
    let mut r = rng(102);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    a.set_timer(&mut r, T0, 60, TimerStart::OnSend).unwrap();
    let s = a.send(&mut r, T0, b"first-day secret").unwrap();
    let l = a.send(&mut r, T0, b"last").unwrap();
    let (mut session, got) =
        Session::accept(&b.id, &mut b.store, &l, &Config::new(CONTEXT), T0).unwrap();
    assert_eq!(got.timer.duration_s, 60);
    assert_eq!(session.skipped_key_count(), 2);
    let later = T0 + DAY;
    let mut copy = Session::from_bytes(&session.to_bytes().unwrap()).unwrap();
    assert!(matches!(
        copy.receive(&s, later),
        Ok(Receipt::Expired { .. })
    ));
    assert_eq!(session.purge(later), 2);
    let mut thief = Session::from_bytes(&session.to_bytes().unwrap()).unwrap();
    assert_eq!(thief.decrypt(&s).unwrap_err(), Error::DuplicateMessage);
}

/// FINDING (low/medium): the opposite error of the same rule. The deadline comes from the
/// *receiver's* old timer, but the skipped messages may have been sent under a newer, longer (or
/// "off") timer the receiver has not seen yet — because it is in the skipped messages. `purge`
/// then deletes the key of an honest message that §8.5 would accept with `Deadline::Never`; it
/// is lost for good (`DuplicateMessage`). §8.6's justification ("after that deadline an on-send
/// message would be rejected as expired anyway") is false here.
///
/// Repro: both at (60 s on-send, v1). Alice `set_timer(0)` → `off` (v2), `send` → `keep`,
/// `send` → `last`. Bob receives `last` first (skips `off`, `keep` with the 60 s deadline), so
/// his timer becomes v2 "off". Two hours later, unpurged, `keep` is accepted with
/// `Deadline::Never`; after `purge`, it is `DuplicateMessage`.
#[test]
fn fixed_purge_keeps_honest_messages_sent_under_a_longer_timer() {
    let mut p = established(103, true);
    let on = p
        .alice
        .set_timer(&mut p.rng, T0, 60, TimerStart::OnSend)
        .unwrap();
    p.bob.receive(&on, T0).unwrap().into_message().unwrap();
    let reply = p.bob.send(&mut p.rng, T0, b"ok").unwrap();
    p.alice.receive(&reply, T0).unwrap().into_message().unwrap();
    p.alice
        .set_timer(&mut p.rng, T0 + 1_000, 0, TimerStart::OnSend)
        .unwrap();
    let keep = p
        .alice
        .send(&mut p.rng, T0 + 1_000, b"sent with the timer off")
        .unwrap();
    let last = p.alice.send(&mut p.rng, T0 + 1_000, b"last").unwrap();
    assert!(
        p.bob
            .receive(&last, T0 + 2_000)
            .unwrap()
            .into_message()
            .unwrap()
            .timer_changed
    );
    assert_eq!(p.bob.timer().duration_s, 0);
    let later = T0 + 2 * 3_600_000;
    let mut unpurged = Session::from_bytes(&p.bob.to_bytes().unwrap()).unwrap();
    assert_eq!(
        unpurged
            .receive(&keep, later)
            .unwrap()
            .into_message()
            .unwrap()
            .deadline,
        Deadline::Never
    );
    // The session's timer is off now, so purge keeps the keys at any time.
    assert_eq!(
        p.bob.purge(T0 + 2_000 + 60_000 + 2 * MAX_CLOCK_SKEW_MS + 1),
        0
    );
    assert_eq!(p.bob.purge(later), 0);
    let after = p.bob.receive(&keep, later);
    assert!(
        after.is_ok(),
        "purge deleted the key of an honest message the session accepts with Deadline::Never: \
         {after:?}"
    );
}

/// FINDING (low; SECURITY.md property 12 over-claims): `Session::from_bytes` fills the
/// skipped-key store with `VecDeque::push_back`, which grows by doubling. Every growth copies the
/// message keys into a new buffer and frees the old one *unwiped* — the very thing
/// `SkippedKeys::reserve` exists to prevent ("grows by copying into a new buffer and wiping the
/// old one"). Loading a session with 65 skipped keys leaves 4 + 8 + 16 + 32 + 64 = 124 copies of
/// message keys in freed heap memory.
///
/// Evidence by allocation counting: one more skipped key in the blob (64 → 65) costs 10 240 more
/// bytes of allocation (a 128-entry buffer), where an exact reservation would cost 80.
#[test]
fn fixed_session_from_bytes_reserves_the_skipped_store_once() {
    fn blob_with_skipped(n: usize) -> Vec<u8> {
        let mut p = established(104, true);
        let msgs: Vec<_> = (0..=n)
            .map(|_| p.bob.encrypt(&mut p.rng, b"x").unwrap())
            .collect();
        p.alice.decrypt(&msgs[n]).unwrap();
        assert_eq!(p.alice.skipped_key_count(), n);
        p.alice.to_bytes().unwrap().to_vec()
    }
    let measure = |blob: &[u8]| {
        allocation_counter::measure(|| {
            std::hint::black_box(Session::from_bytes(blob).unwrap());
        })
        .bytes_total
    };
    let a = measure(&blob_with_skipped(64));
    let b = measure(&blob_with_skipped(65));
    let delta = b - a;
    assert!(
        delta < 64 * 80,
        "one more skipped key made from_bytes allocate {delta} more bytes: the store was \
         re-grown by doubling and the old buffers (with message keys) freed unwiped"
    );
}

/// FINDING (low; SPEC.md §2 "every value has exactly one accepted encoding", §10.3 "whatever
/// decodes behaves as a state the library could have produced"): X25519 secrets are stored
/// unclamped, so each has 32 encodings (bits 0–2 of byte 0, bits 6–7 of byte 31) that decode
/// to the same behaviour but re-serialize differently. The same holds for the signed and one-time
/// prekey secrets of a prekey store.
#[test]
fn fixed_state_blobs_hold_each_x25519_secret_in_one_clamped_encoding() {
    let mut p = established(105, true);
    let b0 = p.bob.encrypt(&mut p.rng, b"turn").unwrap();
    p.alice.decrypt(&b0).unwrap();
    let a1 = p.alice.encrypt(&mut p.rng, b"new chain").unwrap();
    // Bob's DHs is the key Alice's new chain is agreed with (path D uses it).
    let blob = p.bob.to_bytes().unwrap().to_vec();
    let mut body = body_of(&blob);
    let dhs = session_layout(&body).dhs.expect("sending");
    body[dhs] ^= 0x01; // a bit X25519 clamps away
    body[dhs + 31] ^= 0x80; // another one
    let forged = reseal(blob[0], blob[1], &body);
    assert_ne!(forged, blob);
    assert_eq!(
        Session::from_bytes(&forged).unwrap_err(),
        DecodeError::NonCanonical
    );
    assert_eq!(p.bob.decrypt(&a1).unwrap(), b"new chain");
    // Prekey store: the same for a one-time prekey secret (stored before its public key).
    let sblob = p.bob_store.to_bytes().unwrap().to_vec();
    let mut sbody = body_of(&sblob);
    let last_secret = sbody.len() - 64;
    sbody[last_secret] ^= 0x07;
    let sforged = reseal(sblob[0], sblob[1], &sbody);
    assert_eq!(
        PreKeyStore::from_bytes(&sforged).unwrap_err(),
        DecodeError::NonCanonical
    );
}

/// FINDING (low; §6.4 "N = 2^32 − 1 is always TooFarInFuture", SECURITY.md property 10, §10.3):
/// a skipped entry with `N = 2^32 − 1` is a state the library can never produce (skipped indices
/// stop at 2^32 − 2), but the decoder accepts it under an old chain, and a message with
/// `N = 2^32 − 1` is then accepted through step A.
#[test]
fn fixed_forged_skipped_key_at_n_2_pow_32_minus_1_does_not_decode() {
    let mut p = established(106, true);
    // Give Alice one old receiving chain (Bob's first ratchet key).
    let b0 = p.bob.encrypt(&mut p.rng, b"b0").unwrap();
    let bob_key_1: [u8; 32] = b0[2..34].try_into().unwrap();
    p.alice.decrypt(&b0).unwrap();
    let a0 = p.alice.encrypt(&mut p.rng, b"a0").unwrap();
    p.bob.decrypt(&a0).unwrap();
    let b1 = p.bob.encrypt(&mut p.rng, b"b1").unwrap();
    p.alice.decrypt(&b1).unwrap();
    let blob = p.alice.to_bytes().unwrap().to_vec();
    let mut body = body_of(&blob);
    let l = session_layout(&body);
    assert_eq!(u32_at(&body, l.old_count), 1);
    let received = u32_at(&body, l.received);
    let count = u32_at(&body, l.skipped_count);
    body[l.skipped_count..l.skipped_count + 4].copy_from_slice(&(count + 1).to_be_bytes());
    let mk = [0x42u8; 32];
    body.extend_from_slice(&bob_key_1);
    body.extend_from_slice(&u32::MAX.to_be_bytes());
    body.extend_from_slice(&received.to_be_bytes());
    body.extend_from_slice(&u64::MAX.to_be_bytes());
    body.extend_from_slice(&mk);
    let forged = reseal(blob[0], blob[1], &body);
    let decoded = Session::from_bytes(&forged);
    if let Ok(mut s) = decoded {
        let m = forge_message(
            &ad(&p.alice_id, &p.bob_id, CONTEXT),
            &bob_key_1,
            0,
            u32::MAX,
            mk,
            b"N = 2^32 - 1",
        );
        let opened = s.decrypt(&m);
        panic!(
            "a skipped entry with N = 2^32 - 1 decoded; a message with that counter then gives \
             {opened:?} instead of TooFarInFuture"
        );
    }
}

/// FINDING (low, documentation → message loss): `Opened::is_prekey_message` is documented as
/// "a new session: use `Opened::respond`", but every message an initiator sends before it hears
/// back is a prekey message. An app that follows that rustdoc sends the second prekey message of
/// an existing session to `respond`, which refuses it for good (`DuplicateMessage` without a
/// one-time prekey, `UnknownOneTimePreKey` with one); it only decrypts through
/// `Opened::decrypt`. (docs/INTEGRATION.md §5 gets this right; the API doc does not.)
#[test]
fn fixed_is_prekey_message_doc_routes_the_second_prekey_message_to_its_session() {
    let mut b = bob(131, false);
    let mut r = rng(132);
    let pki = pki(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let cert = pki.cert(b"alice", &alice);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let m1 = a.send(&mut r, T0, b"one").unwrap();
    let m2 = a.send(&mut r, T0, b"two").unwrap();
    let recipient = SealedRecipient {
        identity: &b.id,
        trust_roots: &pki.roots,
        revoked_servers: &[],
    };
    let e1 = seal_to(&mut r, &alice, &cert, b.id.public(), &m1).unwrap();
    let e2 = seal_to(&mut r, &alice, &cert, b.id.public(), &m2).unwrap();
    let (mut session, _) = recipient
        .open(&e1, T0)
        .unwrap()
        .respond(&b.id, &mut b.store, &Config::new(CONTEXT))
        .unwrap();
    let opened = recipient.open(&e2, T0).unwrap();
    // The rustdoc's routing now: the session with this sender first; `respond` only for a
    // prekey message no session takes (`SessionMismatch`) or when there is no session.
    let documented = match opened.decrypt(&mut session) {
        Err(SealedSenderError::Session(Error::SessionMismatch)) if opened.is_prekey_message() => {
            opened
                .respond(&b.id, &mut b.store, &Config::new(CONTEXT))
                .map(|(_, d)| d)
        }
        other => other,
    };
    assert_eq!(documented.unwrap().receipt.message().unwrap().body, b"two");
}

/// FINDING (low; over-claim in SPEC.md §4.3 / SECURITY.md "Known limits": "a denial of service
/// bounded by the rotation period"): anyone can fill a signed prekey's record with 4096
/// throw-away first messages of its own. An honest OPK-less first message already sent to that
/// signed prekey is then refused with `SignedPreKeyFull` — and rotating does not help it: the
/// full record stays with the old key, and once that key rotates out the message is
/// `UnknownSignedPreKey`. Messages in flight are lost, not delayed.
#[test]
fn known_limit_a_flooded_record_loses_in_flight_first_messages() {
    use xchat_protocol::prekeys::MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY;
    let mut b = bob(133, false);
    let mut r = rng(134);
    let alice = IdentityKeyPair::generate(&mut r);
    let mallory = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let in_flight = a.send(&mut r, T0, b"hello Bob").unwrap();
    for _ in 0..MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY {
        let mut m = Session::initiate(
            &mut r,
            &mallory,
            &b.bundle,
            Trust::FirstUse,
            &Config::new(CONTEXT),
        )
        .unwrap();
        let junk = m.encrypt(&mut r, b"").unwrap();
        Session::respond(&b.id, &mut b.store, &junk, &Config::new(CONTEXT)).unwrap();
    }
    let spk = b.bundle.signed_prekey.id;
    let mut outcomes = Vec::new();
    for round in 0..4u64 {
        outcomes.push(
            Session::accept(&b.id, &mut b.store, &in_flight, &Config::new(CONTEXT), T0)
                .map(|(_, got)| got.body)
                .map_err(|e| (round, e)),
        );
        // The application does what §4.3 advises: rotate.
        b.store
            .rotate_signed_prekey(&mut r, &b.id, (100 + round) * 1000);
    }
    // The documented price of the flood (SPEC.md §4.3): the in-flight message is refused while
    // its signed prekey is held, then unknown; it is lost, never accepted twice.
    assert_eq!(
        outcomes,
        [
            Err((0, Error::SignedPreKeyFull(spk))),
            Err((1, Error::SignedPreKeyFull(spk))),
            Err((2, Error::SignedPreKeyFull(spk))),
            Err((3, Error::UnknownSignedPreKey(spk))),
        ]
    );
}

/// FINDING (informational; §2 "every value has exactly one accepted encoding"): the legacy
/// version 1 prekey store format is read with no canonical form for its list of seen base keys —
/// any order, duplicates, and the seven torsion variants of a key are all accepted and collapse
/// to the same store. (Harmless for replay — the ids are derived from DH3 — but §2 claims
/// otherwise for "all formats".)
#[test]
fn legacy_version_1_store_blobs_collapse_to_one_canonical_store() {
    let b = bob(135, false);
    let mut r = rng(136);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let first = a.encrypt(&mut r, b"x").unwrap();
    let ek: [u8; 32] = first[BASE_KEY].try_into().unwrap();
    let variant = x25519_variants(&ek)[2];
    // v3 body → v1 body: drop the signed prekey's public key and (empty) record count, and the
    // one-time prekeys' public keys; append the seen list (SPEC.md §10.2).
    let v2 = b.store.to_bytes().unwrap().to_vec();
    let body = body_of(&v2);
    assert_eq!(body[8], 1);
    let entry = 9;
    assert_eq!(&body[entry + 140..entry + 142], &[0, 0]);
    let mut v1_prefix = [
        &body[..entry + 44],
        &body[entry + 76..entry + 140],
        &body[entry + 142..entry + 146],
    ]
    .concat();
    let one_time = &body[entry + 146..];
    assert_eq!(one_time.len() % 68, 0);
    for k in one_time.chunks(68) {
        v1_prefix.extend_from_slice(&k[..36]);
    }
    let v1 = |seen: &[[u8; 32]]| {
        let mut body = v1_prefix.clone();
        body.extend_from_slice(&(seen.len() as u32).to_be_bytes());
        for k in seen {
            body.extend_from_slice(k);
        }
        reseal(v2[0], 1, &body)
    };
    // A duplicate is refused, as version 1 refused it; the rest is legacy input read once.
    assert_eq!(
        PreKeyStore::from_bytes(&v1(&[ek, ek])).unwrap_err(),
        DecodeError::NonCanonical
    );
    let encodings = [v1(&[ek]), v1(&[variant]), v1(&[variant, ek])];
    let stores: Vec<_> = encodings
        .iter()
        .map(|blob| {
            PreKeyStore::from_bytes(blob)
                .unwrap()
                .to_bytes()
                .unwrap()
                .to_vec()
        })
        .collect();
    // They protect the same first message (the defence itself holds)...
    for blob in &encodings {
        let mut store = PreKeyStore::from_bytes(blob).unwrap();
        assert_eq!(
            Session::respond(&b.id, &mut store, &first, &Config::new(CONTEXT)).unwrap_err(),
            Error::DuplicateMessage
        );
    }
    // ...and become one version 3 store, whose own encoding is canonical.
    assert!(stores.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(stores[0][1], 3);
}

// ------------------------------------------------------------------------------------------
// DEFENCES THAT HELD (regression tests; these pass)
// ------------------------------------------------------------------------------------------

/// HELD: `accept`'s early returns. An expired OPK-less first message is not recorded (store
/// byte-identical) and can be re-offered forever without effect; once a later prekey message of
/// the same X3DH run is accepted, the expired one (and its torsion variants) is a replay through
/// both `accept` and `respond`, and through the session it is `Expired` once, then a duplicate.
#[test]
fn held_accepts_early_returns_neither_record_nor_reopen() {
    for one_time in [false, true] {
        let mut b = bob(110, one_time);
        let mut r = rng(111);
        let alice = IdentityKeyPair::generate(&mut r);
        let mut a = Session::initiate(
            &mut r,
            &alice,
            &b.bundle,
            Trust::FirstUse,
            &Config::new(CONTEXT),
        )
        .unwrap();
        let first = a.set_timer(&mut r, T0, 60, TimerStart::OnSend).unwrap();
        let late = T0 + 3_600_000;
        let second = a.send(&mut r, late, b"second").unwrap();
        let before = b.store.to_bytes();
        for _ in 0..3 {
            assert_eq!(
                Session::accept(&b.id, &mut b.store, &first, &Config::new(CONTEXT), late)
                    .unwrap_err(),
                Error::Expired
            );
            assert_eq!(b.store.to_bytes(), before);
        }
        let (mut s, got) =
            Session::accept(&b.id, &mut b.store, &second, &Config::new(CONTEXT), late).unwrap();
        assert_eq!(got.body, b"second");
        assert_ne!(b.store.to_bytes(), before);
        let after = b.store.to_bytes();
        let mut replays = vec![first.clone(), second.clone()];
        replays.extend(
            x25519_variants(&first[BASE_KEY])
                .iter()
                .map(|v| with(&first, BASE_KEY, v)),
        );
        for m in &replays {
            assert!(Session::accept(&b.id, &mut b.store, m, &Config::new(CONTEXT), late).is_err());
            assert!(Session::respond(&b.id, &mut b.store, m, &Config::new(CONTEXT)).is_err());
            assert_eq!(b.store.to_bytes(), after);
        }
        assert!(matches!(
            s.receive(&first, late),
            Ok(Receipt::Expired { .. })
        ));
        assert_eq!(
            s.receive(&first, late).unwrap_err(),
            Error::DuplicateMessage
        );
        assert_eq!(
            s.receive(&second, late).unwrap_err(),
            Error::DuplicateMessage
        );
    }
}

/// HELD: `InvalidContent` from `accept` (an authentic but raw first message) records nothing;
/// the run's next framed prekey message is accepted, and then the raw one is a replay.
#[test]
fn held_invalid_content_first_message_records_nothing() {
    let mut b = bob(112, false);
    let mut r = rng(113);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let raw = a.encrypt(&mut r, b"not a frame").unwrap();
    let framed = a.send(&mut r, T0, b"framed").unwrap();
    let before = b.store.to_bytes();
    assert!(matches!(
        Session::accept(&b.id, &mut b.store, &raw, &Config::new(CONTEXT), T0),
        Err(Error::InvalidContent(_))
    ));
    assert_eq!(b.store.to_bytes(), before);
    Session::accept(&b.id, &mut b.store, &framed, &Config::new(CONTEXT), T0).unwrap();
    assert_eq!(
        Session::respond(&b.id, &mut b.store, &raw, &Config::new(CONTEXT)).unwrap_err(),
        Error::DuplicateMessage
    );
}

/// HELD: the replay record cannot be poisoned by someone who cannot compute DH3. A relay that
/// saw an honest OPK-less first message forges first messages with its base key (own identity,
/// garbage ciphertext, torsion variants, other ids, framed or not): every one fails and the store
/// stays byte-identical; the honest message is then accepted. A throw-away first message of the
/// attacker's own does not block it either.
#[test]
fn held_the_replay_record_cannot_be_poisoned() {
    let mut b = bob(114, false);
    let mut r = rng(115);
    let alice = IdentityKeyPair::generate(&mut r);
    let mallory = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let honest = a.send(&mut r, T0, b"honest").unwrap();
    let mut m = Session::initiate(
        &mut r,
        &mallory,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let junk = m.send(&mut r, T0, b"junk").unwrap();
    Session::accept(&b.id, &mut b.store, &junk, &Config::new(CONTEXT), T0).unwrap();
    let before = b.store.to_bytes();
    let mut forgeries = vec![
        with(&honest, 2..34, &mallory.public().to_bytes()),
        {
            let mut g = honest.clone();
            let last = g.len() - 1;
            g[last] ^= 1;
            g
        },
        {
            let mut g = honest.clone();
            g[66..70].copy_from_slice(&7u32.to_be_bytes());
            g
        },
        // Mallory's own embedded message under Alice's prekey fields.
        [&honest[..71], &junk[71..]].concat(),
    ];
    forgeries.extend(
        x25519_variants(&honest[BASE_KEY])
            .iter()
            .map(|v| with(&honest, BASE_KEY, v)),
    );
    for f in &forgeries {
        assert!(Session::accept(&b.id, &mut b.store, f, &Config::new(CONTEXT), T0).is_err());
        assert!(Session::respond(&b.id, &mut b.store, f, &Config::new(CONTEXT)).is_err());
        assert_eq!(b.store.to_bytes(), before);
    }
    let (_, got) =
        Session::accept(&b.id, &mut b.store, &honest, &Config::new(CONTEXT), T0).unwrap();
    assert_eq!(got.body, b"honest");
}

/// HELD: a forged store that holds one signed-prekey secret under two ids (so X3DH and the
/// first-message id are the same under both) cannot be used to replay a first message by
/// rewriting its signed prekey id: the id's bytes are in the AAD (§3.5).
#[test]
fn held_rewriting_the_signed_prekey_id_to_a_twin_key_fails() {
    let mut r = rng(116);
    let bob_id = IdentityKeyPair::generate(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut r, &bob_id, 1000); // id 0
    let bundle0 = store.bundle(&bob_id, None).unwrap();
    store.rotate_signed_prekey(&mut r, &bob_id, 2000); // id 1
    // Forge: id 1's secret := id 0's secret.
    let blob = store.to_bytes().unwrap().to_vec();
    let mut body = body_of(&blob);
    assert_eq!(body[8], 2);
    let entry = 142; // no accepted ids yet
    let s0 = 9 + 12;
    let s1 = 9 + entry + 12;
    // The key pair: secret and stored public key (SPEC.md §10.2).
    let pair0 = body[s0..s0 + 64].to_vec();
    body[s1..s1 + 64].copy_from_slice(&pair0);
    let mut store = PreKeyStore::from_bytes(&reseal(blob[0], blob[1], &body)).unwrap();
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &bundle0,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let first = a.encrypt(&mut r, b"once").unwrap();
    Session::respond(&bob_id, &mut store, &first, &Config::new(CONTEXT)).unwrap();
    let before = store.to_bytes();
    let rewritten = with(&first, 66..70, &1u32.to_be_bytes());
    assert_eq!(
        Session::respond(&bob_id, &mut store, &rewritten, &Config::new(CONTEXT)).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(store.to_bytes(), before);
    assert_eq!(
        Session::respond(&bob_id, &mut store, &first, &Config::new(CONTEXT)).unwrap_err(),
        Error::DuplicateMessage
    );
}

/// HELD: later prekey messages, and the skipped keys that open them, use the prekey AAD: a
/// stripped prekey message (embedded normal message alone), a re-encoded base key, another
/// signed prekey id, and a normal message dressed in the prekey fields all fail and change
/// nothing; the authentic ones decrypt exactly once.
#[test]
fn held_later_prekey_messages_and_their_skipped_keys_are_bound_to_the_prekey_aad() {
    for one_time in [false, true] {
        let mut b = bob(117, one_time);
        let mut r = rng(118);
        let alice = IdentityKeyPair::generate(&mut r);
        let mut a = Session::initiate(
            &mut r,
            &alice,
            &b.bundle,
            Trust::FirstUse,
            &Config::new(CONTEXT),
        )
        .unwrap();
        let m: Vec<_> = (0..3)
            .map(|i| a.encrypt(&mut r, format!("m{i}").as_bytes()).unwrap())
            .collect();
        let fields = if one_time { 75 } else { 71 };
        let (mut s, _) =
            Session::respond(&b.id, &mut b.store, &m[2], &Config::new(CONTEXT)).unwrap();
        assert_eq!(s.skipped_key_count(), 2);
        let before = s.to_bytes();
        let stripped = m[0][fields..].to_vec();
        assert_eq!(s.decrypt(&stripped).unwrap_err(), Error::DecryptionFailed);
        for v in x25519_variants(&m[0][BASE_KEY]) {
            assert_eq!(
                s.decrypt(&with(&m[0], BASE_KEY, &v)).unwrap_err(),
                Error::SessionMismatch
            );
        }
        assert_eq!(
            s.decrypt(&with(&m[0], 66..70, &9u32.to_be_bytes()))
                .unwrap_err(),
            Error::SessionMismatch
        );
        assert_eq!(s.to_bytes(), before);
        assert_eq!(s.decrypt(&m[0]).unwrap(), b"m0");
        assert_eq!(s.decrypt(&m[0]).unwrap_err(), Error::DuplicateMessage);
        assert_eq!(s.decrypt(&m[1]).unwrap(), b"m1");
        // After the reply Alice sends normal messages; dress one as a prekey message.
        let reply = s.encrypt(&mut r, b"reply").unwrap();
        a.decrypt(&reply).unwrap();
        let n0 = a.encrypt(&mut r, b"n0").unwrap();
        let n1 = a.encrypt(&mut r, b"n1").unwrap();
        assert_eq!(s.decrypt(&n1).unwrap(), b"n1"); // n0's key is now skipped
        let before = s.to_bytes();
        let dressed = [&m[0][..fields], &n0[..]].concat();
        assert_eq!(s.decrypt(&dressed).unwrap_err(), Error::DecryptionFailed);
        assert_eq!(s.to_bytes(), before);
        assert_eq!(s.decrypt(&n0).unwrap(), b"n0");
    }
}

/// HELD: toggling the one-time prekey flag of a first message (dropping or adding an id) fails
/// authentication before anything is consumed or recorded.
#[test]
fn held_one_time_prekey_flag_toggling_fails_and_consumes_nothing() {
    let mut b = bob(119, true);
    let mut r = rng(120);
    let alice = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let with_otpk = a.encrypt(&mut r, b"x").unwrap();
    let dropped = [&with_otpk[..70], &[0u8][..], &with_otpk[75..]].concat();
    let before = b.store.to_bytes();
    assert_eq!(
        Session::respond(&b.id, &mut b.store, &dropped, &Config::new(CONTEXT)).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(b.store.to_bytes(), before);
    let bundle = b.store.bundle(&b.id, None).unwrap();
    let mut c = Session::initiate(
        &mut r,
        &alice,
        &bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let without = c.encrypt(&mut r, b"y").unwrap();
    for id in [0u32, 1] {
        let added = [
            &without[..70],
            &[1u8][..],
            &id.to_be_bytes()[..],
            &without[71..],
        ]
        .concat();
        assert_eq!(
            Session::respond(&b.id, &mut b.store, &added, &Config::new(CONTEXT)).unwrap_err(),
            Error::DecryptionFailed
        );
        assert_eq!(b.store.to_bytes(), before);
    }
    Session::respond(&b.id, &mut b.store, &with_otpk, &Config::new(CONTEXT)).unwrap();
    Session::respond(&b.id, &mut b.store, &without, &Config::new(CONTEXT)).unwrap();
}

/// HELD: re-encoded ratchet keys (torsion variants) of the current chain, of skipped keys and of
/// an old chain, both while our half-step is deferred (D2) and while our sending chain is live
/// (path D computes a root step the peer never used): every one fails, nothing changes, and the
/// authentic messages decrypt once.
#[test]
fn held_reencoded_ratchet_keys_never_reach_a_stored_or_derivable_key() {
    let mut p = established(121, true);
    let a: Vec<_> = (0..4)
        .map(|i| p.alice.encrypt(&mut p.rng, &[i]).unwrap())
        .collect();
    let fields = 75;
    let variants = |msg: &Vec<u8>| -> Vec<Vec<u8>> {
        x25519_variants(&msg[fields + 2..fields + 34])
            .iter()
            .map(|v| with(msg, fields + 2..fields + 34, v))
            .collect()
    };
    p.bob.decrypt(&a[1]).unwrap(); // a[0] skipped; half-step deferred
    let check = |s: &mut Session, msgs: &[&Vec<u8>]| {
        let before = s.to_bytes();
        for m in msgs {
            for v in variants(m) {
                assert!(s.decrypt(&v).is_err());
                assert_eq!(s.to_bytes(), before);
            }
        }
    };
    check(&mut p.bob, &[&a[0], &a[2]]);
    let b0 = p.bob.encrypt(&mut p.rng, b"b0").unwrap(); // sending chain live
    check(&mut p.bob, &[&a[0], &a[2]]);
    p.alice.decrypt(&b0).unwrap();
    let c0 = p.alice.encrypt(&mut p.rng, b"c0").unwrap();
    p.bob.decrypt(&c0).unwrap(); // Alice's first chain is now old (a[2], a[3] stored)
    check(&mut p.bob, &[&a[0], &a[2], &a[3]]);
    p.bob.encrypt(&mut p.rng, b"b1").unwrap();
    check(&mut p.bob, &[&a[0], &a[2], &a[3]]);
    for m in [&a[0], &a[2], &a[3]] {
        p.bob.decrypt(m).unwrap();
        assert_eq!(p.bob.decrypt(m).unwrap_err(), Error::DuplicateMessage);
    }
}

/// HELD: sealed sender does not bypass the store. Re-opening and re-answering a sealed first
/// message is a replay; a malicious user who re-seals Alice's inner prekey message under its own
/// certificate is refused before the store is touched; a re-encoded ephemeral key fails to open.
#[test]
fn held_sealed_sender_respond_cannot_bypass_replay_protection() {
    let mut b = bob(122, false);
    let mut r = rng(123);
    let pki = pki(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let mallory = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let inner = a.send(&mut r, T0, b"sealed first").unwrap();
    let env = seal_to(
        &mut r,
        &alice,
        &pki.cert(b"alice", &alice),
        b.id.public(),
        &inner,
    )
    .unwrap();
    let recipient = SealedRecipient {
        identity: &b.id,
        trust_roots: &pki.roots,
        revoked_servers: &[],
    };
    let opened = recipient.open(&env, T0).unwrap();
    assert!(opened.is_prekey_message());
    let (mut s, d) = opened
        .respond(&b.id, &mut b.store, &Config::new(CONTEXT))
        .unwrap();
    assert_eq!(d.receipt.message().unwrap().body, b"sealed first");
    let before = b.store.to_bytes();
    assert_eq!(
        opened
            .respond(&b.id, &mut b.store, &Config::new(CONTEXT))
            .unwrap_err(),
        SealedSenderError::Session(Error::DuplicateMessage)
    );
    let again = recipient.open(&env, T0).unwrap();
    assert_eq!(
        again
            .respond(&b.id, &mut b.store, &Config::new(CONTEXT))
            .unwrap_err(),
        SealedSenderError::Session(Error::DuplicateMessage)
    );
    assert_eq!(
        again.decrypt(&mut s).unwrap_err(),
        SealedSenderError::Session(Error::DuplicateMessage)
    );
    let resealed = seal_to(
        &mut r,
        &mallory,
        &pki.cert(b"alice", &mallory),
        b.id.public(),
        &inner,
    )
    .unwrap();
    assert_eq!(
        recipient
            .open(&resealed, T0)
            .unwrap()
            .respond(&b.id, &mut b.store, &Config::new(CONTEXT))
            .unwrap_err(),
        SealedSenderError::SenderIdentityMismatch
    );
    for v in x25519_variants(&env[1..33]) {
        assert!(recipient.open(&with(&env, 1..33, &v), T0).is_err());
    }
    assert_eq!(b.store.to_bytes(), before);
}

/// HELD (Rust API; see the report for the C ABI): a peer that starts a new session under the
/// same identity is routable: `Opened::decrypt` with the old session is `SessionMismatch` and
/// leaves it untouched, and the same `Opened` then answers with `respond`.
#[test]
fn held_reinitiation_under_the_same_identity_can_be_answered_after_session_mismatch() {
    let mut b = bob(124, false);
    let mut r = rng(125);
    let pki = pki(&mut r);
    let alice = IdentityKeyPair::generate(&mut r);
    let cert = pki.cert(b"alice", &alice);
    let recipient = SealedRecipient {
        identity: &b.id,
        trust_roots: &pki.roots,
        revoked_servers: &[],
    };
    let mut a1 = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let inner1 = a1.send(&mut r, T0, b"1").unwrap();
    let e1 = seal_to(&mut r, &alice, &cert, b.id.public(), &inner1).unwrap();
    let (mut old, _) = recipient
        .open(&e1, T0)
        .unwrap()
        .respond(&b.id, &mut b.store, &Config::new(CONTEXT))
        .unwrap();
    let mut a2 = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let inner2 = a2.send(&mut r, T0, b"2").unwrap();
    let e2 = seal_to(&mut r, &alice, &cert, b.id.public(), &inner2).unwrap();
    let opened = recipient.open(&e2, T0).unwrap();
    let before = old.to_bytes();
    assert_eq!(
        opened.decrypt(&mut old).unwrap_err(),
        SealedSenderError::Session(Error::SessionMismatch)
    );
    assert_eq!(old.to_bytes(), before);
    let (_, d) = opened
        .respond(&b.id, &mut b.store, &Config::new(CONTEXT))
        .unwrap();
    assert_eq!(d.receipt.message().unwrap().body, b"2");
}

/// HELD: the record survives save/load and rotations for as long as the signed prekey is held;
/// a replay with another initiator identity is refused before authentication, without change.
#[test]
fn held_the_record_survives_reload_rotation_and_identity_swaps() {
    let mut b = bob(126, false);
    let mut r = rng(127);
    let alice = IdentityKeyPair::generate(&mut r);
    let carol = IdentityKeyPair::generate(&mut r);
    let mut a = Session::initiate(
        &mut r,
        &alice,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let first = a.encrypt(&mut r, b"x").unwrap();
    Session::respond(&b.id, &mut b.store, &first, &Config::new(CONTEXT)).unwrap();
    let swapped = with(&first, 2..34, &carol.public().to_bytes());
    let mut store = PreKeyStore::from_bytes(&b.store.to_bytes().unwrap()).unwrap();
    for round in 0..3 {
        let before = store.to_bytes();
        for m in [&first, &swapped] {
            let e = Session::respond(&b.id, &mut store, m, &Config::new(CONTEXT)).unwrap_err();
            assert_eq!(e, Error::DuplicateMessage, "round {round}");
            assert_eq!(store.to_bytes(), before);
        }
        store.rotate_signed_prekey(&mut r, &b.id, (10 + round) * 1000);
        store = PreKeyStore::from_bytes(&store.to_bytes().unwrap()).unwrap();
    }
    assert_eq!(
        Session::respond(&b.id, &mut store, &first, &Config::new(CONTEXT)).unwrap_err(),
        Error::UnknownSignedPreKey(0)
    );
}

/// HELD: timers converge through the lossy paths — a timer change whose key is skipped and then
/// purged (its timer travelled on the later frame), and a timer change that arrives `Expired`
/// (still applied, §8.4).
#[test]
fn held_timers_converge_through_purge_and_expiry() {
    let mut p = established(128, true);
    let t1 = p
        .alice
        .set_timer(&mut p.rng, T0, 60, TimerStart::OnSend)
        .unwrap();
    let m = p.alice.send(&mut p.rng, T0, b"m").unwrap();
    p.bob.receive(&m, T0).unwrap().into_message().unwrap();
    assert!(p.bob.purge(T0 + DAY) <= 1);
    assert!(p.bob.receive(&t1, T0 + DAY).is_err());
    assert_eq!(p.alice.timer(), p.bob.timer());
    let t2 = p
        .bob
        .set_timer(&mut p.rng, T0, 30, TimerStart::OnSend)
        .unwrap();
    assert!(matches!(
        p.alice.receive(&t2, T0 + DAY),
        Ok(Receipt::Expired { .. })
    ));
    assert_eq!(p.alice.timer(), p.bob.timer());
    assert_eq!(
        p.bob.timer(),
        Timer {
            duration_s: 30,
            start: TimerStart::OnSend,
            version: 2
        }
    );
}

/// HELD: no panic, and no state change on failure, for random and mutated inputs to every
/// decoder and every receiving entry point (a cheap deterministic fuzz; FUZZING.md has the long
/// runs).
#[test]
fn held_no_panic_and_no_change_on_random_or_mutated_input() {
    let mut p = established(129, false);
    let mut r = ChaCha20Rng::seed_from_u64(130);
    let pki = pki(&mut r);
    let reply = p.bob.send(&mut p.rng, T0, b"reply").unwrap();
    let first_bundle = p.bob_store.bundle(&p.bob_id, None).unwrap().to_bytes();
    let alice2 = IdentityKeyPair::generate(&mut r);
    let mut a2 = Session::initiate(
        &mut r,
        &alice2,
        &PreKeyBundle::from_bytes(&first_bundle).unwrap(),
        Trust::FirstUse,
        &Config::new(CONTEXT),
    )
    .unwrap();
    let prekey_msg = a2.send(&mut r, T0, b"prekey").unwrap();
    let env = seal_to(
        &mut r,
        &alice2,
        &pki.cert(b"a2", &alice2),
        p.bob_id.public(),
        &prekey_msg,
    )
    .unwrap();
    let samples: Vec<Vec<u8>> = vec![
        reply.clone(),
        prekey_msg.clone(),
        env.clone(),
        first_bundle.clone(),
        p.alice.to_bytes().unwrap().to_vec(),
        p.bob_store.to_bytes().unwrap().to_vec(),
        pki.cert(b"x", &alice2).to_bytes().unwrap(),
    ];
    let recipient = SealedRecipient {
        identity: &p.bob_id,
        trust_roots: &pki.roots,
        revoked_servers: &[],
    };
    for i in 0..1500u32 {
        let mut input = samples[i as usize % samples.len()].clone();
        match i % 4 {
            0 => {
                let at = r.next_u32() as usize % input.len();
                input[at] ^= 1 << (r.next_u32() % 8);
            }
            1 => input.truncate(r.next_u32() as usize % input.len()),
            2 => input.push(r.next_u32() as u8),
            _ => {
                let len = r.next_u32() as usize % 300;
                input = (0..len).map(|_| r.next_u32() as u8).collect();
                if len > 1 {
                    input[0] = 1;
                    input[1] = 1 + (r.next_u32() % 2) as u8;
                }
            }
        }
        let _ = Incoming::decode(&input);
        let _ = PreKeyBundle::from_bytes(&input);
        let _ = Session::from_bytes(&input);
        let _ = PreKeyStore::from_bytes(&input);
        let _ = IdentityKeyPair::from_bytes(&input);
        let _ = SenderCertificate::from_bytes(&input);
        let _ = ServerCertificate::from_bytes(&input);
        let _ = Content::from_padded_bytes(&input);
        let _ = recipient.open(&input, T0);
        for s in [&mut p.alice, &mut p.bob] {
            let before = s.to_bytes();
            match s.receive(&input, T0) {
                Ok(_) | Err(Error::Expired) | Err(Error::InvalidContent(_)) => {
                    panic!("a mutated input authenticated")
                }
                Err(_) => assert_eq!(s.to_bytes(), before),
            }
        }
        let before = p.bob_store.to_bytes();
        assert!(
            Session::accept(
                &p.bob_id,
                &mut p.bob_store,
                &input,
                &Config::new(CONTEXT),
                T0
            )
            .is_err()
        );
        assert_eq!(p.bob_store.to_bytes(), before);
    }
    // The authentic inputs still work after all that.
    assert_eq!(
        p.alice
            .receive(&reply, T0)
            .unwrap()
            .into_message()
            .unwrap()
            .body,
        b"reply"
    );
    let (_, got) = Session::accept(
        &p.bob_id,
        &mut p.bob_store,
        &prekey_msg,
        &Config::new(CONTEXT),
        T0,
    )
    .unwrap();
    assert_eq!(got.body, b"prekey");
    assert!(matches!(
        recipient.open(&env, T0).unwrap().respond(
            &p.bob_id,
            &mut p.bob_store,
            &Config::new(CONTEXT)
        ),
        Err(SealedSenderError::Session(Error::DuplicateMessage))
    ));
}
