//! Signatures (SPEC.md §4.2), `Session::initiate` (§4.4, §7.2) and `Session::respond` (§7.3).

use xchat_protocol::{PreKeyBundle, PublicKey, SignedPreKey};

use super::super::json::{Obj, hx};
use super::super::primitives::add_group_order;
use super::fixture::Fixture;
use super::harness::{Neg, with};
use super::points::{
    LOW_ORDER_X25519, Points, ed25519_torsion_variants, h32, x25519_torsion_variants,
};

/// Signatures (§4.2).
pub(super) fn signatures(neg: &mut Neg, fx: &Fixture) {
    let Fixture { alice, .. } = fx;
    let Points {
        p_plus_1,
        identity_point,
        ..
    } = Points::new();
    let message = b"xchat-protocol signature vector".to_vec();
    let sig = alice.sign(&message);
    let key = alice.public().to_bytes();
    assert!(alice.public().verify(&message, &sig).is_ok());
    let mut cases: Vec<(&str, Vec<u8>, [u8; 64])> = Vec::new();
    let mut malleated = sig;
    malleated[32..].copy_from_slice(&add_group_order(&sig[32..]));
    cases.push(("s + L (non-canonical s)", message.clone(), malleated));
    let mut small_r = sig;
    small_r[..32].copy_from_slice(&identity_point);
    cases.push(("R of small order", message.clone(), small_r));
    let mut bad_r = sig;
    bad_r[..32].copy_from_slice(&p_plus_1);
    cases.push(("R non-canonical (y = p + 1)", message.clone(), bad_r));
    cases.push((
        "other message",
        b"xchat-protocol signature vectoR".to_vec(),
        sig,
    ));
    for (name, msg, signature) in cases {
        let got = format!(
            "{:?}",
            alice.public().verify(&msg, &signature).expect_err(name)
        );
        assert_eq!(got, "InvalidSignature");
        neg.push(
            &format!("signature: {name}"),
            "§4.2",
            "IdentityKey::verify",
            Obj::new()
                .f("identity_key", hx(key))
                .f("message", hx(&msg))
                .f("signature", hx(signature)),
            got,
        );
    }
}

/// `Session::initiate` (§4.4, §7.2).
pub(super) fn initiate(neg: &mut Neg, fx: &Fixture) {
    let Fixture {
        context,
        alice,
        bob,
        mallory,
        bundle,
        bundle_bytes,
        ..
    } = fx;
    let spk_off = 77;
    neg.initiate(
        "initiate: signature bit flipped",
        "§4.4 step 1",
        alice,
        &with(bundle_bytes, |v| v[spk_off] ^= 1),
        context,
        "InvalidSignature",
    );
    neg.initiate(
        "initiate: signature s + L (malleated)",
        "§4.2",
        alice,
        &with(bundle_bytes, |v| {
            let s = add_group_order(&v[spk_off + 32..spk_off + 64]);
            v[spk_off + 32..spk_off + 64].copy_from_slice(&s);
        }),
        context,
        "InvalidSignature",
    );
    neg.initiate(
        "initiate: created_at changed",
        "§4.2",
        alice,
        &with(bundle_bytes, |v| v[44] ^= 1),
        context,
        "InvalidSignature",
    );
    neg.initiate(
        "initiate: signed prekey id changed",
        "§4.2",
        alice,
        &with(bundle_bytes, |v| v[36] ^= 1),
        context,
        "InvalidSignature",
    );
    neg.initiate(
        "initiate: identity replaced (signature by another key)",
        "§4.2",
        alice,
        &with(bundle_bytes, |v| {
            v[1..33].copy_from_slice(&mallory.public().to_bytes())
        }),
        context,
        "InvalidSignature",
    );
    for (label, point) in LOW_ORDER_X25519 {
        neg.initiate(
            &format!("initiate: low-order one-time prekey ({label})"),
            "§4.4 step 3",
            alice,
            &with(bundle_bytes, |v| v[146..178].copy_from_slice(&h32(point))),
            context,
            "NonContributory",
        );
    }
    // The seven other encodings of each key of the bundle (SPEC.md §2.4, §4.2, §4.4 step 4).
    for (i, t) in x25519_torsion_variants(&bundle_bytes[146..178])
        .iter()
        .enumerate()
    {
        neg.initiate(
            &format!(
                "initiate: one-time prekey replaced by torsion variant {}",
                i + 1
            ),
            "§4.4 step 4",
            alice,
            &with(bundle_bytes, |v| v[146..178].copy_from_slice(t)),
            context,
            "Decode(InvalidKey)",
        );
    }
    for (i, t) in x25519_torsion_variants(&bundle_bytes[45..77])
        .iter()
        .enumerate()
    {
        neg.initiate(
            &format!(
                "initiate: signed prekey replaced by torsion variant {}",
                i + 1
            ),
            "§4.2",
            alice,
            &with(bundle_bytes, |v| v[45..77].copy_from_slice(t)),
            context,
            "InvalidSignature",
        );
    }
    for (i, t) in ed25519_torsion_variants(&bundle_bytes[1..33])
        .iter()
        .enumerate()
    {
        neg.decode(
            &format!("bundle: identity key replaced by torsion variant {}", i + 1),
            "§2.4",
            "PreKeyBundle::from_bytes",
            &with(bundle_bytes, |v| v[1..33].copy_from_slice(t)),
            "InvalidKey",
        );
    }
    // A low-order signed prekey with a valid signature by Bob's identity.
    let low = PublicKey::from_bytes(h32(LOW_ORDER_X25519[0].1)).expect("canonical");
    let signed = bob.sign(&SignedPreKey::signed_bytes(
        bundle.signed_prekey.id,
        bundle.signed_prekey.created_at,
        &low,
    ));
    let forged = PreKeyBundle {
        identity: *bob.public(),
        signed_prekey: SignedPreKey {
            key: low,
            signature: signed,
            ..bundle.signed_prekey
        },
        one_time_prekey: None,
        kem_prekey: None,
    };
    neg.initiate(
        "initiate: validly signed low-order signed prekey",
        "§4.4 step 3",
        alice,
        &forged.to_bytes(),
        context,
        "NonContributory",
    );
    // An X3DH bundle's signature is over `signed_bytes`; the PQXDH form (with the key type,
    // §4.2) does not verify in it.
    let spk = &bundle.signed_prekey;
    let pqxdh_form = PreKeyBundle {
        signed_prekey: SignedPreKey {
            signature: bob.sign(&SignedPreKey::pqxdh_signed_bytes(
                spk.id,
                spk.created_at,
                &spk.key,
            )),
            ..*spk
        },
        ..bundle.clone()
    };
    neg.initiate(
        "initiate: X3DH bundle whose signed prekey carries the PQXDH signature (with key type)",
        "§4.2",
        alice,
        &pqxdh_form.to_bytes(),
        context,
        "InvalidSignature",
    );
    neg.initiate(
        "initiate: context of 1025 bytes",
        "§3.5",
        alice,
        bundle_bytes,
        &[b'c'; 1025],
        "TooLarge",
    );
}

/// `Session::respond` (§7.3).
pub(super) fn respond(neg: &mut Neg, fx: &Fixture) {
    let Fixture {
        context,
        bob,
        store_initial,
        store_after,
        store_seen,
        m1,
        r1,
        no_opk_first,
        ..
    } = fx;
    neg.respond(
        "respond: normal message",
        "§7.3 step 1",
        bob,
        store_initial,
        r1,
        context,
        "NotPreKeyMessage",
    );
    neg.respond(
        "respond: decode error",
        "§7.3 step 1",
        bob,
        store_initial,
        &with(m1, |v| v[0] = 9),
        context,
        "Decode(UnknownVersion(9))",
    );
    neg.respond(
        "respond: replay after the one-time prekey was consumed",
        "§4.3, §7.3 step 4",
        bob,
        store_after,
        m1,
        context,
        "UnknownOneTimePreKey(1)",
    );
    neg.respond(
        "respond: replay of a first message without one-time prekey (seen base key)",
        "§4.3, §7.3 step 2",
        bob,
        store_seen,
        no_opk_first,
        context,
        "DuplicateMessage",
    );
    neg.respond(
        "respond: unknown signed prekey id",
        "§7.3 step 3",
        bob,
        store_initial,
        &with(m1, |v| v[66..70].copy_from_slice(&99u32.to_be_bytes())),
        context,
        "UnknownSignedPreKey(99)",
    );
    for (label, point) in LOW_ORDER_X25519 {
        neg.respond(
            &format!("respond: low-order base key ({label})"),
            "§4.4, §7.3 step 5",
            bob,
            store_initial,
            &with(m1, |v| v[34..66].copy_from_slice(&h32(point))),
            context,
            "NonContributory",
        );
    }
    // A relay re-encodes the first message's base key: same DH outputs, but the prekey fields are
    // in the associated data (§3.5), and a first message already accepted without a one-time
    // prekey is recognised by its id whatever the encoding (§3.6, §4.3).
    for (i, t) in x25519_torsion_variants(&m1[34..66]).iter().enumerate() {
        neg.respond(
            &format!("respond: base key replaced by torsion variant {}", i + 1),
            "§3.5, §7.3",
            bob,
            store_initial,
            &with(m1, |v| v[34..66].copy_from_slice(t)),
            context,
            "DecryptionFailed",
        );
    }
    for (i, t) in x25519_torsion_variants(&no_opk_first[34..66])
        .iter()
        .enumerate()
    {
        neg.respond(
            &format!(
                "respond: replay without a one-time prekey, base key as torsion variant {}",
                i + 1
            ),
            "§3.6, §4.3",
            bob,
            store_seen,
            &with(no_opk_first, |v| v[34..66].copy_from_slice(t)),
            context,
            "DuplicateMessage",
        );
    }
    for (i, t) in ed25519_torsion_variants(&m1[2..34]).iter().enumerate() {
        neg.respond(
            &format!(
                "respond: initiator identity replaced by torsion variant {}",
                i + 1
            ),
            "§2.4",
            bob,
            store_initial,
            &with(m1, |v| v[2..34].copy_from_slice(t)),
            context,
            "Decode(InvalidKey)",
        );
    }
    neg.respond(
        "respond: tampered ciphertext (one-time prekey not burnt)",
        "§6.6, §7.3 step 7",
        bob,
        store_initial,
        &with(m1, |v| {
            let last = v.len() - 1;
            v[last] ^= 1;
        }),
        context,
        "DecryptionFailed",
    );
    neg.respond(
        "respond: different context",
        "§3.5",
        bob,
        store_initial,
        m1,
        b"another context",
        "DecryptionFailed",
    );
    neg.respond(
        "respond: context of 1025 bytes",
        "§3.5, §7.3 step 6",
        bob,
        store_initial,
        m1,
        &[b'c'; 1025],
        "TooLarge",
    );
    neg.respond(
        "respond: low-order ratchet key in the embedded message",
        "§6.5 D5",
        bob,
        store_initial,
        &with(m1, |v| v[77..109].copy_from_slice(&[0; 32])),
        context,
        "NonContributory",
    );
}
