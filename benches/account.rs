//! Account benchmarks beside their floor (BENCHMARKS.md): computing a safety number — two
//! fingerprints of 5200 SHA-512 hashes each (SPEC.md §15.4) — against the same hashes with `sha2`
//! directly; and verifying a 10-device list (SPEC.md §15.1) against its 11 strict key parses
//! (decompression and subgroup check) and 11 `verify_strict` with `ed25519-dalek` directly; and a
//! `Contact`'s fan-out to three devices against three plain session sends.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signature, VerifyingKey};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha512};
use xchat_protocol::account::{
    AccountKeyPair, Contact, DeviceEntry, DeviceList, DeviceListView, SafetyNumber,
};
use xchat_protocol::{Config, IdentityKeyPair, PreKeyStore, Session, Trust};

fn fingerprint_floor(key: &[u8; 32], id: &[u8]) -> [u8; 64] {
    let mut h: [u8; 64] = Sha512::new()
        .chain_update(b"xchat-protocol v1 account fingerprint")
        .chain_update([1, 1, id.len() as u8])
        .chain_update(id)
        .chain_update(key)
        .finalize()
        .into();
    for _ in 1..5200 {
        h = Sha512::new()
            .chain_update(h)
            .chain_update(key)
            .finalize()
            .into();
    }
    h
}

fn safety_number(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([15; 32]);
    let (alice, bob) = (
        AccountKeyPair::generate(&mut rng),
        AccountKeyPair::generate(&mut rng),
    );
    let mut g = c.benchmark_group("safety_number");
    g.bench_function("protocol", |b| {
        b.iter(|| {
            let n = SafetyNumber::new(
                (black_box(alice.public()), b"alice"),
                (black_box(bob.public()), b"bob"),
            )
            .unwrap();
            black_box(n.digits())
        })
    });
    g.bench_function("floor", |b| {
        b.iter(|| {
            black_box(fingerprint_floor(
                black_box(alice.public().as_bytes()),
                b"alice",
            ));
            black_box(fingerprint_floor(
                black_box(bob.public().as_bytes()),
                b"bob",
            ));
        })
    });
    g.finish();
}

fn device_list_10(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([16; 32]);
    let account = AccountKeyPair::generate(&mut rng);
    let entries = (1..=10u32)
        .map(|i| {
            let device = IdentityKeyPair::generate(&mut rng);
            DeviceEntry::sign(&device, account.public(), i, 1_700_000_000_000)
        })
        .collect();
    let bytes = DeviceList::first(&account, entries, 1_700_000_000_000)
        .unwrap()
        .to_bytes();
    // What the floor checks, cut out of the encoding: each key, message and signature.
    let label_list = b"xchat-protocol v1 device list";
    let label_member = b"xchat-protocol v1 device membership";
    let account_key: [u8; 32] = bytes[1..33].try_into().unwrap();
    let mut checks: Vec<([u8; 32], Vec<u8>, [u8; 64])> = Vec::new();
    for i in 0..10 {
        let e = &bytes[83 + 108 * i..83 + 108 * (i + 1)];
        let mut signed = label_member.to_vec();
        signed.extend_from_slice(&account_key);
        signed.extend_from_slice(&e[..44]);
        checks.push((
            e[4..36].try_into().unwrap(),
            signed,
            e[44..108].try_into().unwrap(),
        ));
    }
    let split = bytes.len() - 64;
    let mut signed = label_list.to_vec();
    signed.extend_from_slice(&bytes[..split]);
    checks.push((account_key, signed, bytes[split..].try_into().unwrap()));
    let mut g = c.benchmark_group("device_list_verify_10");
    g.bench_function("protocol", |b| {
        b.iter(|| DeviceList::from_bytes(black_box(&bytes)).unwrap())
    });
    g.bench_function("floor", |b| {
        b.iter(|| {
            for (key, message, signature) in &checks {
                // SPEC.md §2.4's strict parse: decompress, then the prime-order subgroup check.
                let key = VerifyingKey::from_bytes(black_box(key)).unwrap();
                assert!(key.to_edwards().is_torsion_free());
                key.verify_strict(message, &Signature::from_bytes(signature))
                    .unwrap();
            }
        })
    });
    g.finish();
}

/// A contact with three devices: one `Contact::send` of 256 B (the list walk, and the snapshots
/// that make the fan-out all or nothing: SPEC.md §15.3) against three `Session::send` on three
/// sessions of the same kind.
fn contact_send_3(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([17; 32]);
    let account = AccountKeyPair::generate(&mut rng);
    let now = 1_700_000_000_000;
    let devices: Vec<IdentityKeyPair> = (0..3)
        .map(|_| IdentityKeyPair::generate(&mut rng))
        .collect();
    let entries = devices
        .iter()
        .zip(1u32..)
        .map(|(d, i)| DeviceEntry::sign(d, account.public(), i, now))
        .collect();
    let list = DeviceList::first(&account, entries, now).unwrap();
    let alice = IdentityKeyPair::generate(&mut rng);
    let config = Config::new(b"bench");
    let mut contact = Contact::new(DeviceListView::new(list));
    let mut sessions = Vec::new();
    for d in &devices {
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey(&mut rng, d, now);
        store.rotate_kem_prekey(&mut rng, d, now);
        let bundle = store.bundle(d, None).unwrap();
        contact
            .initiate(&mut rng, &alice, &bundle, &config)
            .unwrap();
        sessions
            .push(Session::initiate(&mut rng, &alice, &bundle, Trust::FirstUse, &config).unwrap());
    }
    let body = [0x42u8; 256];
    let mut g = c.benchmark_group("contact_send_3x256B");
    g.bench_function("protocol", |b| {
        b.iter(|| black_box(contact.send(&mut rng, now, black_box(&body)).unwrap()))
    });
    g.bench_function("floor", |b| {
        b.iter(|| {
            for s in &mut sessions {
                black_box(s.send(&mut rng, now, black_box(&body)).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, safety_number, device_list_10, contact_send_3);
criterion_main!(benches);
