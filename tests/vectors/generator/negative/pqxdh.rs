//! PQXDH (SPEC.md §4.5): the decoders first (pqxdh_wire.rs), then swapped and relabelled key
//! types and signatures checked before any draw (§4.5 initiator step 1), and the responder's KEM
//! prekey lookup, implicit rejection, order of checks and replay rules (§4.5, §7.3, §7.4).

use xchat_protocol::kdf;

use super::super::primitives::add_group_order;
use super::super::rng::Recorder;
use super::fixture::Fixture;
use super::harness::{Neg, with};
use super::points::{LOW_ORDER_X25519, h32, x25519_torsion_variants};
use super::pqxdh_fixture::{CT_LEN, EK_LEN, KEM_AT, KEM_FIELDS_AT, PqFixture};
use super::pqxdh_wire;

/// The PQXDH family, after every other one (its fixture draws from the file's RNG).
pub(super) fn vectors(neg: &mut Neg, fx: &Fixture, rng: &mut Recorder) {
    let pq = PqFixture::new(fx, rng);
    pqxdh_wire::decoders(neg, fx, &pq);
    initiate(neg, fx, &pq);
    respond(neg, fx, &pq);
    decrypt(neg, &pq);
}

/// `Session::initiate` (§4.5 initiator): both signatures verified before any key is drawn, then
/// the X3DH checks (EK_A drawn, `m` not yet).
fn initiate(neg: &mut Neg, fx: &Fixture, pq: &PqFixture) {
    let Fixture {
        context,
        alice,
        bob,
        mallory,
        ..
    } = fx;
    let PqFixture {
        bundle_lr,
        bundle_ot,
        kem_created_at,
        ..
    } = pq;
    let [kem_ot, kem_lr] = KEM_AT;
    let sig_lr = kem_lr + 13 + EK_LEN;
    let ek = &bundle_lr[kem_lr + 13..sig_lr];
    let kem_id = &bundle_lr[kem_lr + 1..kem_lr + 5];
    let spk = &bundle_lr[45..77];
    let spk_id = &bundle_lr[33..37];
    let spk_created_at = &bundle_lr[37..45];
    let set_kem_sig = |sig: &[u8]| with(bundle_lr, |v| v[sig_lr..sig_lr + 64].copy_from_slice(sig));
    // Swapped key types (§4.2, §4.5): each signature is over the other key type's encoding.
    let as_signed_prekey = bob.sign(
        &[
            kdf::LABEL_SIGNED_PREKEY,
            kem_id,
            &kem_created_at.to_be_bytes(),
            ek,
        ]
        .concat(),
    );
    neg.initiate(
        "initiate: KEM prekey signed over the signed-prekey label and encoding",
        "§4.5 (signed bytes), §4.5 initiator step 1",
        alice,
        &set_kem_sig(&as_signed_prekey),
        context,
        "InvalidSignature",
    );
    neg.initiate(
        "initiate: KEM prekey carrying the signed prekey's signature",
        "§4.5 initiator step 1",
        alice,
        &set_kem_sig(&bundle_lr[77..141]),
        context,
        "InvalidSignature",
    );
    let as_kem_prekey = bob.sign(
        &[
            kdf::LABEL_KEM_PREKEY,
            &[0x01, 0x00],
            spk_id,
            spk_created_at,
            spk,
        ]
        .concat(),
    );
    neg.initiate(
        "initiate: signed prekey signed over the KEM prekey label and encoding",
        "§4.2, §4.5 initiator step 1",
        alice,
        &with(bundle_lr, |v| v[77..141].copy_from_slice(&as_kem_prekey)),
        context,
        "InvalidSignature",
    );
    // The signed prekey's key type (§4.2): a PQXDH bundle's signature covers type 0x00, which
    // the X3DH form lacks, so neither form stands in for the other.
    let x3dh_form = bob.sign(&[kdf::LABEL_SIGNED_PREKEY, spk_id, spk_created_at, spk].concat());
    neg.initiate(
        "initiate: PQXDH bundle whose signed prekey carries its X3DH signature (no key type)",
        "§4.2, §4.5 initiator step 1",
        alice,
        &with(bundle_lr, |v| v[77..141].copy_from_slice(&x3dh_form)),
        context,
        "InvalidSignature",
    );
    let ml_kem_type = bob.sign(
        &[
            kdf::LABEL_SIGNED_PREKEY,
            &[0x01],
            spk_id,
            spk_created_at,
            spk,
        ]
        .concat(),
    );
    neg.initiate(
        "initiate: signed prekey signed with ML-KEM's key type 0x01",
        "§4.2, §4.5 initiator step 1",
        alice,
        &with(bundle_lr, |v| v[77..141].copy_from_slice(&ml_kem_type)),
        context,
        "InvalidSignature",
    );
    let mut cut = bundle_lr[..kem_lr].to_vec();
    cut[0] = 0x01;
    neg.initiate(
        "initiate: PQXDH bundle cut to X3DH (KEM prekey removed, version 0x01), classical opt-in",
        "§4.2, §4.5 (classical sessions)",
        alice,
        &cut,
        context,
        "InvalidSignature",
    );
    // Relabelled use (signed, §4.5): a server cannot pass one kind off as the other.
    neg.initiate(
        "initiate: last-resort KEM prekey relabelled one-time",
        "§4.5",
        alice,
        &with(bundle_lr, |v| v[kem_lr] = 1),
        context,
        "InvalidSignature",
    );
    neg.initiate(
        "initiate: one-time KEM prekey relabelled last-resort",
        "§4.5",
        alice,
        &with(bundle_ot, |v| v[kem_ot] = 0),
        context,
        "InvalidSignature",
    );
    neg.initiate(
        "initiate: KEM prekey id changed",
        "§4.5",
        alice,
        &with(bundle_lr, |v| v[kem_lr + 4] ^= 1),
        context,
        "InvalidSignature",
    );
    neg.initiate(
        "initiate: KEM prekey created_at changed",
        "§4.5",
        alice,
        &with(bundle_lr, |v| v[kem_lr + 12] ^= 1),
        context,
        "InvalidSignature",
    );
    neg.initiate(
        "initiate: encapsulation key changed (last byte of rho)",
        "§4.5",
        alice,
        &with(bundle_lr, |v| v[sig_lr - 1] ^= 1),
        context,
        "InvalidSignature",
    );
    neg.initiate(
        "initiate: KEM prekey signature s + L (malleated)",
        "§4.2, §4.5",
        alice,
        &with(bundle_lr, |v| {
            let s = add_group_order(&v[sig_lr + 32..sig_lr + 64]);
            v[sig_lr + 32..sig_lr + 64].copy_from_slice(&s);
        }),
        context,
        "InvalidSignature",
    );
    let signed = [
        kdf::LABEL_KEM_PREKEY,
        &[0x01, 0x00],
        kem_id,
        &kem_created_at.to_be_bytes(),
        ek,
    ]
    .concat();
    neg.initiate(
        "initiate: KEM prekey signed by another identity",
        "§4.5",
        alice,
        &set_kem_sig(&mallory.sign(&signed)),
        context,
        "InvalidSignature",
    );
    // After the signatures: EK_A is drawn, and the X3DH checks fail before m is drawn.
    neg.initiate(
        "initiate: low-order one-time prekey in a PQXDH bundle (EK_A drawn, m not)",
        "§4.5 initiator steps 2–3",
        alice,
        &with(bundle_lr, |v| {
            v[146..178].copy_from_slice(&h32(LOW_ORDER_X25519[0].1))
        }),
        context,
        "NonContributory",
    );
    let torsion = x25519_torsion_variants(&bundle_lr[146..178]);
    neg.initiate(
        "initiate: one-time prekey torsion variant in a PQXDH bundle (EK_A drawn, m not)",
        "§4.4 step 4, §4.5 initiator steps 2–3",
        alice,
        &with(bundle_lr, |v| v[146..178].copy_from_slice(&torsion[0])),
        context,
        "Decode(InvalidKey)",
    );
}

/// `Session::respond` (§7.3 with step 3b, §4.5 responder).
fn respond(neg: &mut Neg, fx: &Fixture, pq: &PqFixture) {
    let Fixture {
        context,
        bob,
        store_initial,
        ..
    } = fx;
    let PqFixture {
        store,
        m_lr,
        m_ot,
        store_after_ot,
        m_none,
        store_seen,
        ct_for_kem_2,
        m_other_key,
        ..
    } = pq;
    let [at_ot, at_lr] = KEM_FIELDS_AT;
    let set_id = |m: &[u8], at: usize, id: u32| {
        with(m, |v| v[at + 1..at + 5].copy_from_slice(&id.to_be_bytes()))
    };
    let mut run = |name: &str, spec: &str, st: &[u8], m: &[u8], expected: &str| {
        neg.respond(name, spec, bob, st, m, context, expected);
    };
    // A ciphertext for another key decapsulates to a pseudorandom SS (implicit rejection).
    run(
        "respond: ML-KEM ciphertext made for another KEM key (one-time KEM prekey 2)",
        "§4.5 responder, §7.3 step 7",
        store,
        &with(m_lr, |v| {
            v[at_lr + 5..at_lr + 5 + CT_LEN].copy_from_slice(ct_for_kem_2)
        }),
        "DecryptionFailed",
    );
    run(
        "respond: authentic first message encapsulated to a KEM key Bob does not hold under that id",
        "§4.5 responder, §7.3 step 7",
        store,
        m_other_key,
        "DecryptionFailed",
    );
    run(
        "respond: ML-KEM ciphertext bit flipped (one-time KEM prekey not burnt)",
        "§4.5 responder, §6.6, §7.3 steps 7–8",
        store,
        &with(m_ot, |v| v[at_ot + 5 + 100] ^= 1),
        "DecryptionFailed",
    );
    run(
        "respond: tampered embedded ciphertext (one-time KEM prekey not burnt)",
        "§6.6, §7.3 steps 7–8",
        store,
        &with(m_ot, |v| {
            let last = v.len() - 1;
            v[last] ^= 1;
        }),
        "DecryptionFailed",
    );
    // The KEM prekey lookup (§7.3 step 3b).
    run(
        "respond: one-time KEM prekey id not held",
        "§4.5 responder, §7.3 step 3b",
        store,
        &set_id(m_ot, at_ot, 99),
        "UnknownKemPreKey(99)",
    );
    run(
        "respond: replay after the one-time KEM prekey was consumed",
        "§4.5 replay, §7.3 step 8",
        store_after_ot,
        m_ot,
        "UnknownKemPreKey(1)",
    );
    run(
        "respond: last-resort KEM prekey id not held",
        "§4.5 responder, §7.3 step 3b",
        store,
        &set_id(m_lr, at_lr, 7),
        "UnknownKemPreKey(7)",
    );
    run(
        "respond: one-time KEM prekey named as last-resort",
        "§4.5 responder (looked up by use and id)",
        store,
        &with(m_ot, |v| v[at_ot] = 0),
        "UnknownKemPreKey(1)",
    );
    run(
        "respond: last-resort KEM prekey named as one-time",
        "§4.5 responder (looked up by use and id)",
        store,
        &with(m_lr, |v| v[at_lr] = 1),
        "UnknownKemPreKey(0)",
    );
    run(
        "respond: PQXDH first message to a store without KEM prekeys",
        "§7.3 step 3b",
        store_initial,
        m_lr,
        "UnknownKemPreKey(0)",
    );
    // The order of the checks (§7.3): signed prekey, one-time prekey, KEM prekey, then DH.
    run(
        "respond: unknown signed prekey reported before an unknown KEM prekey",
        "§7.3 steps 2, 3b",
        store,
        &with(&set_id(m_lr, at_lr, 99), |v| {
            v[66..70].copy_from_slice(&5u32.to_be_bytes())
        }),
        "UnknownSignedPreKey(5)",
    );
    run(
        "respond: unknown one-time prekey reported before an unknown KEM prekey",
        "§7.3 steps 3, 3b",
        store,
        &with(&set_id(m_lr, at_lr, 99), |v| {
            v[71..75].copy_from_slice(&9u32.to_be_bytes())
        }),
        "UnknownOneTimePreKey(9)",
    );
    run(
        "respond: unknown KEM prekey reported before a low-order base key",
        "§7.3 steps 3b, 4",
        store,
        &with(&set_id(m_lr, at_lr, 99), |v| {
            v[34..66].copy_from_slice(&[0; 32])
        }),
        "UnknownKemPreKey(99)",
    );
    run(
        "respond: low-order base key in a PQXDH first message",
        "§4.4, §7.3 step 4",
        store,
        &with(m_lr, |v| v[34..66].copy_from_slice(&[0; 32])),
        "NonContributory",
    );
    // Replay without any one-time key: the first-message id (§3.6) under the signed prekey.
    run(
        "respond: replay of a PQXDH first message with neither one-time key",
        "§4.3, §4.5 replay, §7.3 step 5",
        store_seen,
        m_none,
        "DuplicateMessage",
    );
}

/// `Session::decrypt` of a later prekey message (§7.4): every PQXDH field must be the session's.
fn decrypt(neg: &mut Neg, pq: &PqFixture) {
    let PqFixture { bob_lr, m_lr2, .. } = pq;
    let at = KEM_FIELDS_AT[1];
    neg.decrypt(
        "decrypt: later PQXDH prekey message with another ciphertext",
        "§7.4",
        bob_lr,
        &with(m_lr2, |v| v[at + 5 + 7] ^= 1),
        "SessionMismatch",
    );
    neg.decrypt(
        "decrypt: later PQXDH prekey message naming another KEM prekey id",
        "§7.4",
        bob_lr,
        &with(m_lr2, |v| v[at + 4] = 2),
        "SessionMismatch",
    );
    neg.decrypt(
        "decrypt: later PQXDH prekey message naming its KEM prekey as one-time",
        "§7.4",
        bob_lr,
        &with(m_lr2, |v| v[at] = 1),
        "SessionMismatch",
    );
}
