//! Forged version-3 session blobs: the receiving chain copied from the sending chain,
//! reflected messages, invalid stored identities, mismatched or low-order stored keys, counts at
//! and past the limits.

use xchat_protocol::sealed_sender::seal_to;
use xchat_protocol::state::KIND_SESSION;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{
    DecodeError, Error, IdentityKey, Incoming, Limits, SealedRecipient, SealedSenderError, Session,
    TimerStart,
};

use crate::common;
use crate::common::state_codec::{self as codec, SessionBlob};
use crate::support::{
    NOW, assert_fixed_point, assert_serializable, certificate_for, open_mut, sbytes, talk,
};

/// BROKEN (low; SPEC.md §10.0 "whatever decodes is a state the code can be in", §10.3 "no edit
/// that only moves, repeats or changes the blob's bytes without computing keys from its secrets
/// makes a message decrypt twice", SECURITY.md 13 "only reachable phases").
///
/// The decoder never checks the receiving side against the sending side. Copy Alice's own
/// `DHs public ‖ CKs ‖ Ns` over `DHr ‖ CKr ‖ Nr` (bytes of the blob itself, no key computed) and
/// re-seal: the blob decodes, and from then on every message Alice sends is also accepted *by
/// Alice*, as if Bob had sent it (the associated data is the same in both directions). A relay
/// that reflects her ciphertext back to her has it decrypted twice — by Bob and by Alice — and
/// shown to Alice as Bob's. No honest state has `DHr` equal to the public half of `DHs` (an honest
/// state also never has it in `old` or in `skipped`).
///
/// Fix: in `Open::check`, refuse a sending public key equal to `DHr`, to any `old` key, or to
/// the ratchet key of any skipped entry (`NonCanonical`).
#[test]
fn fixed_receiving_chain_copied_from_sending_chain_is_refused() {
    let mut p = common::established(31, true);
    let reply = p.bob.encrypt(&mut p.rng, b"reply").unwrap();
    p.alice.decrypt(&reply).unwrap();
    let turn = p.alice.encrypt(&mut p.rng, b"turn").unwrap();
    p.bob.decrypt(&turn).unwrap();
    let blob = sbytes(&p.alice);
    let forged = codec::edit_session(&blob, |s| {
        let o = open_mut(s);
        assert!(o.skipped.is_empty() && o.old.is_empty());
        let send = o.send.clone().expect("Alice sent last");
        (o.dhr, o.ckr, o.nr) = (send.dhs.public, send.ck, send.n);
    });
    // The fix: refused (a sending key equal to DHr or to an old key, SPEC.md §10.3 row 16).
    assert_eq!(
        Session::from_bytes(&forged).map(|_| ()),
        Err(xchat_protocol::DecodeError::NonCanonical)
    );
    let Ok(mut alice) = Session::from_bytes(&forged) else {
        return;
    };
    assert_eq!(sbytes(&alice), forged);
    let own = alice.encrypt(&mut p.rng, b"written by alice").unwrap();
    assert_eq!(p.bob.decrypt(&own).unwrap(), b"written by alice");
    let reflected = alice.decrypt(&own);
    assert!(
        reflected.is_err(),
        "Alice accepted her own message as Bob's: {:?}",
        reflected.map(String::from_utf8)
    );
}

/// The same reflection against honest states: a relay that returns a party's own ciphertext
/// (normal or prekey message, at every phase) gets an error, and the state is byte-identical.
#[test]
fn held_honest_states_refuse_reflected_own_messages_and_stay_unchanged() {
    let mut t = talk(32);
    let p = &mut t.p;
    // Alice awaiting her reply (opening phase): her prekey messages come back to her.
    let b = common::bob(33, true);
    let mut opening = Session::initiate(
        &mut p.rng,
        &p.alice_id,
        &b.bundle,
        Trust::FirstUse,
        &Config::new(common::CONTEXT).allow_classical(),
    )
    .unwrap();
    let first = opening.encrypt(&mut p.rng, b"first").unwrap();
    let before = sbytes(&opening);
    assert_eq!(opening.decrypt(&first), Err(Error::SessionMismatch));
    assert_eq!(sbytes(&opening), before);
    // The embedded normal message, stripped of its prekey fields (2 + 64 + 4 + flag + [4]):
    // refused by Alice (a new chain from her own key) and by Bob (the prekey fields are in the
    // AAD), neither changed.
    let fields = 2 + 64 + 4 + 1 + if first[70] == 1 { 4 } else { 0 };
    let stripped = &first[fields..];
    assert!(matches!(
        Incoming::decode(stripped),
        Ok(Incoming::Message(_))
    ));
    assert!(opening.decrypt(stripped).is_err());
    assert_eq!(sbytes(&opening), before);
    let mut store = b.store.clone();
    let (mut bob, _) = Session::respond(
        &b.id,
        &mut store,
        &first,
        &Config::new(common::CONTEXT).allow_classical(),
    )
    .unwrap();
    let second = opening.encrypt(&mut p.rng, b"second").unwrap();
    let bob_before = sbytes(&bob);
    assert_eq!(bob.decrypt(&second[fields..]), Err(Error::DecryptionFailed));
    assert_eq!(sbytes(&bob), bob_before);
    assert_eq!(bob.decrypt(&second).unwrap(), b"second");
    // Established sessions, sending side a chain and pending.
    for _ in 0..2 {
        for s in [&mut p.alice, &mut p.bob] {
            let own = s.encrypt(&mut p.rng, b"own").unwrap();
            let before = sbytes(s);
            assert!(s.decrypt(&own).is_err());
            assert!(s.receive(&own, NOW).is_err());
            assert_eq!(sbytes(s), before);
        }
        let m = p.bob.encrypt(&mut p.rng, b"turn").unwrap();
        p.alice.decrypt(&m).unwrap();
    }
}

/// Identities that are not valid Ed25519 keys, stored as bytes (SPEC.md §10.0 trusts them): the
/// blob decodes and round-trips; every call is total (no panic); the calls that need the point
/// fail with `InvalidKey` (sealing to it, `x25519`) or `InvalidSignature` (`verify`); sealed
/// sender refuses the session as the certified sender's and leaves it untouched; the peer's
/// messages fail (the associated data changed) and leave the state byte-identical.
#[test]
fn held_invalid_stored_identities_fail_cleanly_at_every_use() {
    let mut t = talk(34);
    let alice_blob = sbytes(&t.p.alice);
    let valid = t.p.bob_id.public().to_bytes();
    let torsioned = common::ed25519_variants(&valid);
    let mut small_order = [0u8; 32];
    small_order[0] = 1; // the identity point
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2; // y = 2 does not decompress
    let mut non_canonical = [0xFF; 32];
    non_canonical[0] = 0xEE;
    non_canonical[31] = 0x7F; // y = p + 1
    let ids = [
        torsioned[0],
        torsioned[3],
        small_order,
        not_a_point,
        non_canonical,
    ];
    assert!(ids.iter().all(|k| !codec::ed25519_valid(k)));
    assert!(ids.iter().all(|k| IdentityKey::from_bytes(*k).is_err()));
    let (cert, root) = certificate_for(&t.p.bob_id);
    let roots = [root.public()];
    let inner = t.p.bob.send(&mut t.p.rng, NOW, b"sealed").unwrap();
    let envelope = seal_to(
        &mut t.p.rng,
        &t.p.bob_id,
        &cert,
        t.p.alice_id.public(),
        &inner,
    )
    .unwrap();
    let recipient = SealedRecipient {
        identity: &t.p.alice_id,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    let opened = recipient.open(&envelope, NOW).unwrap();
    for (i, id) in ids.iter().enumerate() {
        for remote in [true, false] {
            let what = format!("identity {i} remote {remote}");
            let forged = codec::edit_session(&alice_blob, |s| {
                if remote {
                    s.remote = *id;
                } else {
                    s.local = *id;
                }
            });
            let mut s = assert_fixed_point(&forged, &what);
            let shown = if remote {
                s.remote_identity()
            } else {
                s.local_identity()
            };
            assert_eq!(shown.to_bytes(), *id, "{what}");
            assert_eq!(
                shown.x25519().err(),
                Some(DecodeError::InvalidKey),
                "{what}"
            );
            assert_eq!(
                shown.verify(b"m", &[0; 64]),
                Err(Error::InvalidSignature),
                "{what}"
            );
            if remote {
                let sealed = seal_to(
                    &mut t.p.rng,
                    &t.p.alice_id,
                    &cert,
                    s.remote_identity(),
                    b"x",
                );
                assert_eq!(
                    sealed.err(),
                    Some(SealedSenderError::Decode(DecodeError::InvalidKey)),
                    "{what}"
                );
                assert_eq!(
                    s.check_remote_identity(t.p.bob_id.public()),
                    Err(Error::UntrustedIdentity)
                );
            }
            let before = sbytes(&s);
            let r = opened.decrypt(&mut s).err();
            let expected = if remote {
                SealedSenderError::SenderIdentityMismatch
            } else {
                SealedSenderError::Session(Error::DecryptionFailed)
            };
            assert_eq!(r, Some(expected), "{what}");
            assert_eq!(
                sbytes(&s),
                before,
                "{what}: a failed decrypt changed the session"
            );
            for m in t.to_alice.iter().chain(&t.delivered) {
                assert!(s.decrypt(m).is_err(), "{what}");
                assert!(s.receive(m, NOW).is_err(), "{what}");
            }
            assert_eq!(sbytes(&s), before, "{what}");
            s.purge(u64::MAX);
            s.set_limits(Limits::default()).unwrap();
            s.set_timer(&mut t.p.rng, NOW, 60, TimerStart::OnRead)
                .unwrap();
            s.send(&mut t.p.rng, NOW, b"still sends").unwrap();
            s.encrypt(&mut t.p.rng, b"still encrypts").unwrap();
            assert_serializable(&s, &what);
        }
    }
}

/// SPEC.md §10.0: stored public keys are not recomputed. A sending public key that is not its
/// secret's (another valid key, the peer's own ratchet key, a low-order point) decodes and
/// round-trips; encrypting puts the stored key in the header; the peer refuses the result and is
/// unchanged; nothing panics. A low-order peer ratchet key (`DHr`) with a pending sending side
/// makes `encrypt` fail with `NonContributory` and change nothing.
#[test]
fn held_mismatched_or_low_order_stored_keys_only_break_interop() {
    let t = talk(35);
    let alice_blob = sbytes(&t.p.alice);
    let parsed = SessionBlob::decode(&alice_blob).unwrap().1;
    let dhr = parsed.open().unwrap().dhr;
    let mut low = [0u8; 32];
    low[0] = 1;
    for (i, public) in [[0x42; 32], dhr, [0; 32], low].into_iter().enumerate() {
        let what = format!("public {i}");
        let forged = codec::edit_session(&alice_blob, |s| {
            open_mut(s).send.as_mut().unwrap().dhs.public = public;
        });
        if public == dhr {
            // Our sending key equal to the peer's is refused (SPEC.md §10.3 row 16; the reflection
            // finding, `fixed_receiving_chain_copied_from_sending_chain_is_refused`).
            assert_eq!(
                Session::from_bytes(&forged).map(|_| ()),
                Err(DecodeError::NonCanonical)
            );
            continue;
        }
        let mut alice = assert_fixed_point(&forged, &what);
        let mut rng = common::rng(36);
        let m = alice.encrypt(&mut rng, b"x").unwrap();
        let header = Incoming::decode(&m).unwrap().message().header;
        assert_eq!(header.ratchet_key.to_bytes(), public, "{what}");
        let mut bob = Session::from_bytes(&sbytes(&t.p.bob)).unwrap();
        let before = sbytes(&bob);
        assert!(bob.decrypt(&m).is_err(), "{what}");
        assert_eq!(sbytes(&bob), before, "{what}");
        assert_serializable(&alice, &what);
    }
    // A pending responder whose stored DHr is low-order.
    let p = common::established(37, true);
    let bob_blob = sbytes(&p.bob);
    for key in [[0u8; 32], low] {
        let forged = codec::edit_session(&bob_blob, |s| open_mut(s).dhr = key);
        let mut bob = assert_fixed_point(&forged, "low-order DHr");
        assert_eq!(
            bob.encrypt(&mut common::rng(38), b"x"),
            Err(Error::NonContributory)
        );
        assert_eq!(
            bob.set_timer(&mut common::rng(38), NOW, 5, TimerStart::OnSend),
            Err(Error::NonContributory)
        );
        assert_eq!(sbytes(&bob), forged, "a failed encrypt changed the session");
    }
}

/// SPEC.md §10.3 row 16–17, §10.0: counts at the limits decode, one past them is `NonCanonical`
/// as soon as read; a forged count of 2^32 − 1 in a blob that holds no entries allocates nothing
/// in proportion to it (the reservation is bounded by the input).
#[test]
fn held_counts_at_and_beyond_the_limits() {
    let t = talk(45);
    let blob = sbytes(&t.p.alice);
    let parsed = SessionBlob::decode(&blob).unwrap().1;
    let o = parsed.open().unwrap();
    let (n_old, n_skipped) = (o.old.len() as u32, o.skipped.len() as u32);
    assert!(n_old >= 2 && n_skipped >= 3, "{n_old} {n_skipped}");
    // Exactly at the limits.
    let at = codec::edit_session(&blob, |s| {
        s.limits = [n_skipped.min(2000), n_skipped, n_old, 10_000];
    });
    assert_fixed_point(&at, "counts at the limits");
    // One past either limit.
    for (old_limit, skipped_limit) in [(n_old - 1, n_skipped), (n_old, n_skipped - 1)] {
        let over = codec::edit_session(&blob, |s| {
            s.limits = [1, skipped_limit, old_limit, 10_000];
        });
        assert_eq!(
            Session::from_bytes(&over).err(),
            Some(DecodeError::NonCanonical),
            "{old_limit} {skipped_limit}"
        );
    }
    // Huge counts over an empty remainder, with limits at the ceiling.
    let mut f = parsed.clone();
    f.limits = [Limits::CEILING; 4];
    let o = open_mut(&mut f);
    o.old.clear();
    o.skipped.clear();
    let body = f.body_v3();
    let counts_at = body.len() - 8;
    for (old, skipped) in [
        (u32::MAX, 0),
        (0, u32::MAX),
        (Limits::CEILING, 0),
        (0, Limits::CEILING),
    ] {
        let mut b = body.clone();
        b[counts_at..counts_at + 4].copy_from_slice(&old.to_be_bytes());
        b[counts_at + 4..].copy_from_slice(&skipped.to_be_bytes());
        let forged = codec::seal(KIND_SESSION, 3, &b);
        let mut r = None;
        let info = allocation_counter::measure(|| r = Some(Session::from_bytes(&forged).err()));
        let r = r.unwrap();
        assert!(
            matches!(r, Some(DecodeError::NonCanonical | DecodeError::Truncated)),
            "{old} {skipped}: {r:?}"
        );
        assert!(
            info.bytes_max < 16 * 1024,
            "{old} {skipped}: {} bytes",
            info.bytes_max
        );
    }
}
