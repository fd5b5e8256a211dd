//! `accept` (§8.5 around §7.3): the check order and the first-message record, both
//! implementations.

use super::support::lib_store_to_mine;
use crate::bridge::*;
use crate::dr::{Session, Store};
use crate::frame::Start;
use crate::prim::Identity;
use crate::util::{Rng, hx};
use xchat_protocol as lib;

/// `accept` (§8.5 around §7.3 and the first-message record of §4.3/§3.6/§10.2), both
/// implementations: replays in any encoding of the base key, a full record, an oversized
/// context, expired and malformed first messages, and a version-1 store.
#[test]
fn accept_check_order_matches_library() {
    use curve25519_dalek::{constants::EIGHT_TORSION, montgomery::MontgomeryPoint};
    let bob = Identity::from_seed([0x42; 32]);
    let lib_bob = lib::IdentityKeyPair::from_seed(&bob.seed);
    let alice = Identity::from_seed([0x41; 32]);
    let mut lib_store = lib::PreKeyStore::new();
    lib_store.rotate_signed_prekey(&mut Rng::stream(70), &lib_bob, 1_750_000_000_000);
    let store0 = lib_store_to_mine(&lib_store);
    let bundle = store0.bundle(&bob, None);
    let ctx = b"ctx".to_vec();
    let big_ctx = vec![0u8; 1025];
    let now = 1_750_000_000_000;
    let run = |store: &Store, msg: &[u8], ctx: &[u8], now: u64| -> (String, Store) {
        let mut mine = store.clone();
        let mut theirs = lib::PreKeyStore::from_bytes(&store.encode()).expect("store");
        let a = Session::accept(&bob, &mut mine, msg, ctx, now).map(|(s, r)| (hx(&s.encode()), r));
        let b = lib::Session::accept(
            &lib_bob,
            &mut theirs,
            msg,
            &lib::Config::new(ctx).allow_classical(),
            now,
        )
        .map(|(s, r)| (hx(&s.to_bytes().unwrap()), from_lib_received(&r)));
        assert_eq!(res(&a), res(&b));
        assert_eq!(lib_store_to_mine(&theirs), mine);
        if a.is_err() {
            assert_eq!(&mine, store, "a failed accept leaves the store unchanged");
        }
        (res(&a).chars().take(40).collect(), mine)
    };
    let mut a = Session::initiate(&mut Rng::stream(71), &alice, &bundle, &ctx).expect("initiate");
    let first = a.send(&mut Rng::stream(72), now, b"first").expect("send");
    let (r, s1) = run(&store0, &first, &ctx, now + 1);
    assert!(r.starts_with("Ok"), "{r}");
    assert_eq!(s1.signed[0].accepted.len(), 1);
    // Raw respond agrees with the library too.
    let mut theirs = lib::PreKeyStore::from_bytes(&store0.encode()).expect("store");
    let mut mine = store0.clone();
    let (ms, mp) = Session::respond(&bob, &mut mine, &first, &ctx).expect("respond");
    let (ls, lp) = lib::Session::respond(
        &lib_bob,
        &mut theirs,
        &first,
        &lib::Config::new(&ctx).allow_classical(),
    )
    .expect("respond");
    assert_eq!((hx(&ms.encode()), mp), (hx(&ls.to_bytes().unwrap()), lp));
    assert_eq!(lib_store_to_mine(&theirs), mine);

    assert_eq!(run(&s1, &first, &ctx, now + 2).0, "DuplicateMessage");
    // Which comes first, a replay or an oversized context?
    assert_eq!(run(&s1, &first, &big_ctx, now + 2).0, "DuplicateMessage");
    assert_eq!(run(&store0, &first, &big_ctx, now + 2).0, "TooLarge");
    // A torsion variant of the base key: same first-message id, different AAD.
    let p = MontgomeryPoint(first[34..66].try_into().expect("32"))
        .to_edwards(0)
        .expect("on the curve");
    for t in &EIGHT_TORSION[1..] {
        let mut variant = first.clone();
        variant[34..66].copy_from_slice(&(p + t).to_montgomery().to_bytes());
        assert_eq!(run(&s1, &variant, &ctx, now + 2).0, "DuplicateMessage");
        assert_eq!(run(&store0, &variant, &ctx, now + 2).0, "DecryptionFailed");
    }
    // A full record (4096 ids), without and with the replayed id in it.
    let mut full = store0.clone();
    full.signed[0].accepted = (0..4096u32).map(prim_id).collect();
    full.signed[0].accepted.sort_unstable();
    assert_eq!(run(&full, &first, &ctx, now + 2).0, "SignedPreKeyFull(0)");
    let mut full_with = s1.clone();
    full_with.signed[0]
        .accepted
        .extend((0..4095u32).map(prim_id));
    full_with.signed[0].accepted.sort_unstable();
    assert_eq!(run(&full_with, &first, &ctx, now + 2).0, "DuplicateMessage");
    // Expired and malformed first messages create nothing; a later one still works.
    let mut a2 = Session::initiate(&mut Rng::stream(73), &alice, &bundle, &ctx).expect("initiate");
    let timer = a2
        .set_timer(&mut Rng::stream(74), now, 1, Start::OnSend)
        .expect("timer");
    let later = a2
        .send(&mut Rng::stream(75), now + 400_000, b"later")
        .expect("send");
    assert_eq!(run(&store0, &timer, &ctx, now + 400_000).0, "Expired");
    let raw = a2
        .encrypt(&mut Rng::stream(76), b"not a frame")
        .expect("encrypt");
    assert_eq!(
        run(&store0, &raw, &ctx, now + 400_000).0,
        "InvalidContent(UnknownVersion(110))"
    );
    assert!(
        run(&store0, &later, &ctx, now + 400_001)
            .0
            .starts_with("Ok")
    );
    // §8.6 for a first message that skips keys: Alice changes the timer (N = 0) and sends
    // (N = 1); Bob accepts N = 1 first. The skipped key records `skipped_at = now` (both
    // blobs are compared inside `run`); the session's timer after the first message (60 s,
    // carried by the frame) is the one its purge follows.
    let mut a3 = Session::initiate(&mut Rng::stream(77), &alice, &bundle, &ctx).expect("initiate");
    a3.set_timer(&mut Rng::stream(78), now, 60, Start::OnSend)
        .expect("timer");
    let second = a3.send(&mut Rng::stream(79), now, b"second").expect("send");
    let mut mine = store0.clone();
    let (bob_session, r) = Session::accept(&bob, &mut mine, &second, &ctx, now).expect("accept");
    assert!(r.timer_changed);
    assert_eq!(bob_session.skipped().len(), 1);
    assert_eq!(bob_session.skipped()[0].skipped_at, now);
    assert!(run(&store0, &second, &ctx, now).0.starts_with("Ok"));
    let mut lib_store = lib::PreKeyStore::from_bytes(&store0.encode()).expect("store");
    let (mut lib_session, _) = lib::Session::accept(
        &lib_bob,
        &mut lib_store,
        &second,
        &lib::Config::new(&ctx).allow_classical(),
        now,
    )
    .expect("accept");
    let bound = now + 60_000 + 600_000;
    for (t, want) in [(bound, 0), (bound + 1, 1)] {
        let mut mine = bob_session.clone();
        let mut theirs = lib::Session::from_bytes(&lib_session.to_bytes().unwrap()).expect("blob");
        assert_eq!(
            (mine.purge(t), theirs.purge(t)),
            (want, want),
            "purge at {t}"
        );
        assert_eq!(hx(&mine.encode()), hx(&theirs.to_bytes().unwrap()));
    }
    assert_eq!(lib_session.purge(bound + 1), 1);
    // A version-1 store with the first message's base key in its seen list (§10.2 migration),
    // written by the reference codec.
    let v1 = store0.encode_v1(&[first[34..66].try_into().expect("32")]);
    assert_eq!(v1[1], 0x01);
    let migrated = Store::decode(&v1).expect("v1 store");
    let lib_migrated = lib::PreKeyStore::from_bytes(&v1).expect("library reads v1");
    assert_eq!(
        hx(&lib_migrated.to_bytes().unwrap()),
        hx(&migrated.encode())
    );
    assert_eq!(migrated, s1, "the migrated record is the one accept writes");
    assert_eq!(run(&migrated, &first, &ctx, now + 2).0, "DuplicateMessage");
}

fn prim_id(i: u32) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&i.to_be_bytes());
    id[4] = 0x5a;
    id
}
