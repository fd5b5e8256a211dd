//! Stored keys as SPEC.md §10.0 treats them, in sessions and prekey stores: clamped secrets,
//! public keys taken as stored, identities decoded only on use.

use xchat_protocol::sealed_sender::seal_to;
use xchat_protocol::{
    CertificateKeyPair, DecodeError, Error, IdentityKeyPair, Incoming, PreKeyStore,
    SealedRecipient, SealedSenderError, Session,
};
use xchat_protocol::{Config, Trust};

use crate::common;
use crate::common::state_codec::{self as codec, K32, Legacy, SessionBlob, StoreBlob, clamp};
use crate::session_driver::check_identity_uses;
use crate::session_edits::{Id, SMut, SendEdit, legacy};
use crate::session_forge::{apply, fresh_peer_key, sending_mut};
use crate::stages::{certificate_for, sending_stages, stages};
use crate::store_forge::{PMut, apply_store};
use crate::store_stage::store_stage;
use crate::support::{K, NOW};

/// SPEC.md §10.0: from version 2 on an X25519 secret is stored clamped, and any other encoding of
/// the same key is `NonCanonical` — the session's `DHs` and every prekey secret, in versions 3 and
/// 2; a version-1 blob holding it is read, and saved, clamped.
#[test]
fn unclamped_secrets_are_refused_from_version_2() {
    let nc = Some(DecodeError::NonCanonical);
    for (st, u) in sending_stages()
        .into_iter()
        .flat_map(|i| (0..4).map(move |u| (i, u)))
    {
        let (st, mut f) = (&stages()[st], stages()[st].parsed.clone());
        apply(
            &mut f,
            st,
            &SMut::Send(SendEdit::Unclamp(u)),
            &mut Vec::new(),
        );
        let none = Legacy::default();
        assert_eq!(
            Session::from_bytes(&f.encode_v3()).err(),
            nc,
            "{} {u}",
            st.name
        );
        assert_eq!(
            Session::from_bytes(&f.encode_v2(&none)).err(),
            nc,
            "{} {u}",
            st.name
        );
        let s = Session::from_bytes(&f.encode_v1(&none)).unwrap();
        let (_, out) = SessionBlob::decode(&s.to_bytes().unwrap()).unwrap();
        assert_eq!(out.sending(), st.parsed.sending(), "{} {u}", st.name);
    }
    let st = store_stage();
    let pairs = |s: &StoreBlob| {
        let signed = s.signed.iter().map(|k| k.key);
        signed
            .chain(s.one_time.iter().map(|k| k.key))
            .collect::<Vec<_>>()
    };
    for (i, u) in (0..pairs(&st.parsed).len()).flat_map(|i| (0..4).map(move |u| (i, u))) {
        let mut f = st.parsed.clone();
        apply_store(&mut f, st, &PMut::Unclamp(i, u), &mut Vec::new());
        assert_ne!(f, st.parsed);
        assert_eq!(PreKeyStore::from_bytes(&f.encode_v3()).err(), nc, "{i} {u}");
        assert_eq!(PreKeyStore::from_bytes(&f.encode_v2()).err(), nc, "{i} {u}");
        let s = PreKeyStore::from_bytes(&f.encode_v1(&[])).unwrap();
        let (_, out) = StoreBlob::decode(&s.to_bytes().unwrap()).unwrap();
        assert_eq!(pairs(&out), pairs(&st.parsed), "{i} {u}");
    }
}

fn header_key(message: &[u8]) -> K32 {
    let m = Incoming::decode(message).unwrap();
    m.message().header.ratchet_key.to_bytes()
}

/// SPEC.md §10.0: a version-3 key pair's public key is taken as stored. One that is not the
/// secret's decodes, round-trips, goes into headers as stored, and only breaks interop: a fresh
/// initiator's first message under it is refused (`DecryptionFailed`; `NonContributory` for a
/// low-order key) and the responder's store is unchanged — with a torsion variant of the real key
/// (the same DH results, §3.5) the conversation works —, and every stage's peer refuses the next
/// message and is unchanged; nothing panics. The one public key refused is the peer's current or
/// an old ratchet key (§10.3 row 16: the session would accept its own messages reflected back).
#[test]
fn mismatched_session_public_keys_only_break_interop() {
    let forged = |blob: &[u8], public| {
        let blob = codec::edit_session(blob, |f| sending_mut(f).unwrap().dhs.public = public);
        let s = Session::from_bytes(&blob).unwrap();
        assert_eq!(*s.to_bytes().unwrap(), blob);
        s
    };
    for seed in [31u8, 32] {
        let mut rng = common::rng(seed);
        let bob = common::bob(seed, seed % 2 == 0);
        let alice = IdentityKeyPair::generate(&mut rng);
        let s = Session::initiate(
            &mut rng,
            &alice,
            &bob.bundle,
            Trust::FirstUse,
            &Config::new(common::CONTEXT).allow_classical(),
        )
        .unwrap();
        let blob = s.to_bytes().unwrap().to_vec();
        let (_, parsed) = SessionBlob::decode(&blob).unwrap();
        let real = parsed.sending().unwrap().dhs.public;
        let mut variants = vec![(real, None)];
        variants.extend(
            common::x25519_variants(&real)
                .into_iter()
                .map(|k| (k, None)),
        );
        variants.push((
            codec::x25519_public(&[seed; 32]),
            Some(Error::DecryptionFailed),
        ));
        variants.push(([0; 32], Some(Error::NonContributory)));
        variants.push((K::One.get(&[], &[]), Some(Error::NonContributory)));
        for (public, expected) in variants {
            let mut forged = forged(&blob, public);
            let first = forged.encrypt(&mut rng, b"first").unwrap();
            assert_eq!(
                header_key(&first),
                public,
                "the header carries the stored key"
            );
            let (mut store, ctx) = (bob.store.clone(), common::CONTEXT);
            let before = store.to_bytes().unwrap();
            match (
                Session::respond(
                    &bob.id,
                    &mut store,
                    &first,
                    &Config::new(ctx).allow_classical(),
                ),
                expected,
            ) {
                (Ok((mut responder, text)), None) => {
                    assert_eq!(text, b"first");
                    let reply = responder.encrypt(&mut rng, b"reply").unwrap();
                    assert_eq!(forged.decrypt(&reply).unwrap(), b"reply");
                }
                (r, expected) => {
                    assert_eq!(r.err(), expected, "{public:02x?}");
                    assert_eq!(store.to_bytes().unwrap(), before);
                }
            }
        }
    }
    for st in sending_stages().into_iter().map(|i| &stages()[i]) {
        let real = st.parsed.sending().unwrap().dhs.public;
        let taken = st.parsed.open().map(|o| [&[o.dhr][..], &o.old].concat());
        for public in taken.unwrap_or_default() {
            let blob =
                codec::edit_session(&st.blob, |f| sending_mut(f).unwrap().dhs.public = public);
            let r = Session::from_bytes(&blob).err();
            assert_eq!(r, Some(DecodeError::NonCanonical), "{}", st.name);
        }
        let torsion = common::x25519_variants(&real)[0];
        let peer = fresh_peer_key(&st.parsed, st, 0);
        let others = [torsion, peer, codec::x25519_public(&[5; 32]), [0; 32]];
        for public in [real].into_iter().chain(others) {
            let m = forged(&st.blob, public)
                .encrypt(&mut common::rng(1), b"next")
                .unwrap();
            assert_eq!(header_key(&m), public, "{}", st.name);
            let mut peer = Session::from_bytes(&st.peer_blob).unwrap();
            let r = peer.decrypt(&m);
            assert_eq!(r.is_ok(), public == real, "{}: {r:?}", st.name);
            if public != real {
                assert_eq!(*peer.to_bytes().unwrap(), st.peer_blob, "{}", st.name);
            }
        }
    }
}

/// The same for prekey stores (here without KEM prekeys; `tests/audit_sigtype.rs` covers a PQXDH
/// store, whose `bundle` refuses such a key): a signed prekey's public key is signed, so a bundle
/// with another one fails `initiate` (`InvalidSignature`); a one-time prekey's is not, so `initiate` refuses a
/// torsion variant of it (§4.4, `InvalidKey`) and `respond` fails for any other key
/// (`DecryptionFailed`), the store keeping the key.
#[test]
fn mismatched_prekey_public_keys_only_break_interop() {
    let st = store_stage();
    let owner = IdentityKeyPair::from_seed(&st.owner_seed);
    let spk = st.parsed.signed.len() - 1;
    let real = st.parsed.signed[spk].key.public;
    let alice = IdentityKeyPair::from_seed(&[4; 32]);
    for public in [
        common::x25519_variants(&real)[2],
        codec::x25519_public(&[3; 32]),
    ] {
        let blob = codec::edit_store(&st.blob, |f| f.signed[spk].key.public = public);
        let store = PreKeyStore::from_bytes(&blob).unwrap();
        assert_eq!(*store.to_bytes().unwrap(), blob);
        let bundle = store.bundle(&owner, None).unwrap();
        assert_eq!(bundle.signed_prekey.key.to_bytes(), public);
        let r = Session::initiate(
            &mut common::rng(4),
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(common::CONTEXT).allow_classical(),
        );
        assert_eq!(r.err(), Some(Error::InvalidSignature));
    }
    let ot = &st.parsed.one_time[0];
    let torsion = common::x25519_variants(&ot.key.public)[4];
    for public in [ot.key.public, torsion, codec::x25519_public(&[6; 32])] {
        let blob = codec::edit_store(&st.blob, |f| f.one_time[0].key.public = public);
        let mut store = PreKeyStore::from_bytes(&blob).unwrap();
        assert_eq!(*store.to_bytes().unwrap(), blob);
        let bundle = store.bundle(&owner, Some(ot.id)).unwrap();
        let mut rng = common::rng(8);
        let a = Session::initiate(
            &mut rng,
            &alice,
            &bundle,
            Trust::FirstUse,
            &Config::new(common::CONTEXT).allow_classical(),
        );
        if public == torsion {
            assert_eq!(a.err(), Some(Error::Decode(DecodeError::InvalidKey)));
            continue;
        }
        let first = a.unwrap().encrypt(&mut rng, b"to a forged key").unwrap();
        let before = store.to_bytes().unwrap();
        let r = Session::respond(
            &owner,
            &mut store,
            &first,
            &Config::new(common::CONTEXT).allow_classical(),
        );
        if public == ot.key.public {
            assert!(r.is_ok());
        } else {
            assert_eq!(r.err(), Some(Error::DecryptionFailed));
            assert_eq!(store.to_bytes().unwrap(), before);
        }
    }
}

/// SPEC.md §10.0: a version-3 session's identity keys are stored bytes, not validated on load. A
/// forged identity that is not a valid Ed25519 key (a torsion variant, a small-order point, bytes
/// that do not decompress) decodes and round-trips; every call that needs the point returns an
/// error (sealing to it: `InvalidKey`); a sealed message from the real peer is refused; the peer's
/// messages fail (the associated data changed) and leave the state unchanged; `encrypt` still
/// works; nothing panics. Versions 1–2 validated identities: such a blob is `InvalidKey`.
#[test]
fn invalid_stored_identities_decode_and_fail_cleanly() {
    let roots = [CertificateKeyPair::from_seed(&[0xA1; 32]).public()];
    for st in stages() {
        let (peer, subject) = (&st.peer_seed, &st.subject_seed);
        let (peer, subject) = (
            IdentityKeyPair::from_seed(peer),
            IdentityKeyPair::from_seed(subject),
        );
        let mut from_peer = Session::from_bytes(&st.peer_blob).unwrap();
        let inner = from_peer.send(&mut common::rng(2), NOW, b"sealed").unwrap();
        let (rng, cert) = (&mut common::rng(3), &certificate_for(&peer));
        let envelope = seal_to(rng, &peer, cert, subject.public(), &inner).unwrap();
        let recipient = SealedRecipient {
            identity: &subject,
            trust_roots: &roots,
            revoked_servers: &[],
        };
        let opened = recipient.open(&envelope, NOW).unwrap();
        let ids = [0, 3].map(Id::Torsion).into_iter();
        let ids = ids
            .chain([0, 5].map(Id::SmallOrder))
            .chain([Id::Random([0xEE; 32])]);
        for (remote, id) in ids.flat_map(|id| [(true, id.clone()), (false, id)]) {
            let mut f = st.parsed.clone();
            let edit = SMut::Identity(remote, id.clone());
            apply(&mut f, st, &edit, &mut Vec::new());
            let k = if remote { f.remote } else { f.local };
            assert!(!codec::ed25519_valid(&k), "{id:?}");
            let what = format!("{}: {id:?} remote {remote}", st.name);
            let blob = f.encode_v3();
            let mut s = Session::from_bytes(&blob).unwrap();
            assert_eq!(*s.to_bytes().unwrap(), blob, "{what}");
            let shown = [s.local_identity(), s.remote_identity()][usize::from(remote)];
            assert_eq!(shown.to_bytes(), k, "{what}");
            check_identity_uses(&s, st, &mut common::rng(4), &what).unwrap();
            let expected = match remote {
                true => SealedSenderError::SenderIdentityMismatch,
                false => SealedSenderError::Session(Error::DecryptionFailed),
            };
            assert_eq!(opened.decrypt(&mut s).err(), Some(expected), "{what}");
            for m in &st.msgs {
                assert!(s.decrypt(&m.bytes).is_err(), "{what}");
            }
            assert_eq!(*s.to_bytes().unwrap(), blob, "{what}");
            assert!(s.encrypt(&mut common::rng(5), b"x").is_ok(), "{what}");
            let r = Session::from_bytes(&f.encode_v2(&legacy(clamp([1; 32]), f.base))).err();
            assert_eq!(r, Some(DecodeError::InvalidKey), "{what}");
        }
    }
}
