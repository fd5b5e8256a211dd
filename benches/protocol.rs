//! Criterion benchmarks. Every workload is measured beside its *floor*: the primitive operations
//! SPEC.md requires for it, run back to back with the raw primitive crates in the same process.
//! BENCHMARKS.md lists the operation counts and the ratios; `scripts/bench_table.py` rebuilds the
//! table from criterion's output.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Tag};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use ml_kem::kem::{Decapsulate, KeyExport};
use ml_kem::{B32, MlKem1024};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use xchat_protocol::sealed_sender::seal_to;
use xchat_protocol::{
    CertificateKeyPair, IdentityKeyPair, PreKeyBundle, PreKeyStore, SealedRecipient, Session,
};
use xchat_protocol::{Config, Trust};

// ---------------------------------------------------------------- primitive floor operations

struct Floor {
    rng: ChaCha20Rng,
    secret: StaticSecret,
    peer: PublicKey,
    signing: SigningKey,
    verifying: VerifyingKey,
    message: [u8; 75],
    signature: ed25519_dalek::Signature,
    key: [u8; 32],
    kem_seed: [u8; 64],
    kem_public: [u8; 1568],
    kem_message: [u8; 1617],
    kem_signature: ed25519_dalek::Signature,
}

type MlKemDecapsulationKey = ml_kem::DecapsulationKey<MlKem1024>;
type MlKemEncapsulationKey = ml_kem::EncapsulationKey<MlKem1024>;

impl Floor {
    fn new() -> Self {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let secret = StaticSecret::random_from_rng(&mut rng);
        let peer = PublicKey::from(&StaticSecret::random_from_rng(&mut rng));
        let signing = SigningKey::generate(&mut rng);
        let message = [7u8; 75];
        let signature = signing.sign(&message);
        let kem_seed = [5u8; 64];
        let dk = MlKemDecapsulationKey::from_seed(kem_seed.into());
        let kem_public: [u8; 1568] = dk.encapsulation_key().to_bytes().into();
        // A KEM prekey's signed bytes: label (28) ‖ type ‖ use ‖ id ‖ created_at ‖ key (SPEC §4.5).
        let kem_message = [9u8; 1617];
        let kem_signature = signing.sign(&kem_message);
        Self {
            kem_seed,
            kem_public,
            kem_message,
            kem_signature,
            verifying: signing.verifying_key(),
            rng,
            secret,
            peer,
            signing,
            message,
            signature,
            key: [3; 32],
        }
    }

    /// X25519 key generation: a fixed-base scalar multiplication.
    fn keygen(&mut self) {
        let s = StaticSecret::random_from_rng(&mut self.rng);
        black_box(PublicKey::from(&s));
    }

    fn dh(&self) {
        black_box(self.secret.diffie_hellman(&self.peer));
    }

    fn verify(&self) {
        self.verifying
            .verify_strict(&self.message, &self.signature)
            .unwrap();
    }

    /// Ed25519 point decompression alone.
    fn decompress(&self) {
        black_box(VerifyingKey::from_bytes(self.signing.verifying_key().as_bytes()).unwrap());
    }

    /// Parsing a peer's Ed25519 identity as SPEC.md §2 rule 4 requires: decompression and the
    /// prime-order-subgroup check ([L]A = identity).
    fn parse_identity(&self) {
        let key = VerifyingKey::from_bytes(self.signing.verifying_key().as_bytes()).unwrap();
        assert!(key.to_edwards().is_torsion_free());
    }

    /// The subgroup check of an unsigned X25519 one-time prekey (SPEC.md §4.4 step 4).
    fn x25519_subgroup_check(&self) {
        let point = curve25519_dalek::MontgomeryPoint(self.peer.to_bytes());
        assert!(point.to_edwards(0).unwrap().is_torsion_free());
    }

    fn hmac(&self) {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.key).unwrap();
        mac.update(&[1]);
        black_box(mac.finalize());
    }

    fn hkdf<const N: usize>(&self, salt: &[u8]) {
        let mut okm = [0u8; N];
        Hkdf::<Sha256>::new(Some(salt), &self.key)
            .expand(b"label", &mut okm)
            .unwrap();
        black_box(okm);
    }

    fn seal(&self, buf: &mut [u8]) -> Tag {
        Aes256Gcm::new(&self.key.into())
            .encrypt_inout_detached(&[0; 12].into(), &[0; 130], buf.into())
            .unwrap()
    }

    /// A first PQXDH message's AEAD: its associated data is `AD` (66) ‖ prekey fields (1648) ‖
    /// prefix (58).
    fn seal_open_pqxdh_first(&self, buf: &mut [u8]) {
        let aad = [0u8; 66 + 1648 + 58];
        let cipher = Aes256Gcm::new(&self.key.into());
        let tag = cipher
            .encrypt_inout_detached(&[0; 12].into(), &aad, (&mut *buf).into())
            .unwrap();
        cipher
            .decrypt_inout_detached(&[0; 12].into(), &aad, buf.into(), &tag)
            .unwrap();
    }

    fn open(&self, buf: &mut [u8], tag: &Tag) {
        Aes256Gcm::new(&self.key.into())
            .decrypt_inout_detached(&[0; 12].into(), &[0; 130], buf.into(), tag)
            .unwrap();
    }

    fn seal_open(&self, buf: &mut [u8]) {
        let tag = self.seal(buf);
        self.open(buf, &tag);
    }

    /// The KEM prekey's signature (SPEC.md §4.5): strict verification over its 1617 bytes.
    fn verify_kem_prekey(&self) {
        self.verifying
            .verify_strict(&self.kem_message, &self.kem_signature)
            .unwrap();
    }

    /// FIPS 203 §7.2's check of an encapsulation key from the network (decoding included).
    fn parse_kem_public(&self) -> MlKemEncapsulationKey {
        MlKemEncapsulationKey::new(&self.kem_public.into()).unwrap()
    }

    /// ML-KEM-1024 encapsulation with a given message.
    fn encapsulate(&self, ek: &MlKemEncapsulationKey) -> ml_kem::Ciphertext<MlKem1024> {
        ek.encapsulate_deterministic(&B32::from([7u8; 32])).0
    }

    /// Expanding a stored seed (the store holds seeds, SPEC.md §10.2) and decapsulating.
    fn expand_and_decapsulate(&self, ct: &ml_kem::Ciphertext<MlKem1024>) {
        let dk = MlKemDecapsulationKey::from_seed(self.kem_seed.into());
        black_box(dk.decapsulate(ct));
    }

    /// PQXDH's KDF: HKDF over the key material (192 bytes with DH4) with `LABEL_PQXDH ‖
    /// transcript` (23 + 3 311 bytes with a one-time prekey) as info.
    fn pqxdh_kdf(&self) {
        let mut okm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&[0; 32]), &[1u8; 192])
            .expand(&[2u8; 3334], &mut okm)
            .unwrap();
        black_box(okm);
    }

    /// A group message's signature and its strict check (SPEC.md §13.3) over `signed` bytes.
    fn sign_and_verify(&self, signed: &[u8]) {
        let signature = self.signing.sign(signed);
        self.verifying.verify_strict(signed, &signature).unwrap();
    }

    /// One chain message, one side: KDF_CK (2 HMAC) and the message-key HKDF (SPEC.md §3.3–3.4).
    fn chain_kdfs(&self) {
        self.hmac();
        self.hmac();
        self.hkdf::<44>(&[0; 16]);
    }
}

// ---------------------------------------------------------------- fixtures

struct Pair {
    rng: ChaCha20Rng,
    alice: Session,
    bob: Session,
}

fn pair(seed: u8) -> Pair {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob_id, 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let bundle = store.bundle(&bob_id, Some(0)).unwrap();
    let mut alice = Session::initiate(
        &mut rng,
        &alice_id,
        &bundle,
        Trust::FirstUse,
        &Config::new(b"").allow_classical(),
    )
    .unwrap();
    let first = alice.encrypt(&mut rng, b"hi").unwrap();
    let (mut bob, _) = Session::respond(
        &bob_id,
        &mut store,
        &first,
        &Config::new(b"").allow_classical(),
    )
    .unwrap();
    let reply = bob.encrypt(&mut rng, b"hi").unwrap();
    alice.decrypt(&reply).unwrap();
    Pair { rng, alice, bob }
}

// ---------------------------------------------------------------- workloads

fn floor(c: &mut Criterion) {
    let mut f = Floor::new();
    let mut g = c.benchmark_group("floor");
    g.bench_function("x25519_keygen", |b| b.iter(|| f.keygen()));
    g.bench_function("x25519_dh", |b| b.iter(|| f.dh()));
    g.bench_function("ed25519_verify_strict", |b| b.iter(|| f.verify()));
    g.bench_function("ed25519_decompress", |b| b.iter(|| f.decompress()));
    g.bench_function("ed25519_parse_identity", |b| b.iter(|| f.parse_identity()));
    g.bench_function("x25519_subgroup_check", |b| {
        b.iter(|| f.x25519_subgroup_check())
    });
    let ek = f.parse_kem_public();
    let ct = f.encapsulate(&ek);
    g.bench_function("mlkem1024_parse_encapsulation_key", |b| {
        b.iter(|| black_box(f.parse_kem_public()))
    });
    g.bench_function("mlkem1024_encapsulate", |b| {
        b.iter(|| black_box(f.encapsulate(&ek)))
    });
    let dk = MlKemDecapsulationKey::from_seed(f.kem_seed.into());
    g.bench_function("mlkem1024_decapsulate", |b| {
        b.iter(|| black_box(dk.decapsulate(&ct)))
    });
    g.bench_function("mlkem1024_expand_seed_and_decapsulate", |b| {
        b.iter(|| f.expand_and_decapsulate(&ct))
    });
    g.bench_function("ed25519_verify_strict_kem_prekey", |b| {
        b.iter(|| f.verify_kem_prekey())
    });
    g.bench_function("hkdf_sha256_pqxdh", |b| b.iter(|| f.pqxdh_kdf()));
    let signed = [5u8; 393];
    g.bench_function("ed25519_sign_and_verify_strict_393B", |b| {
        b.iter(|| f.sign_and_verify(&signed))
    });
    g.bench_function("hmac_sha256", |b| b.iter(|| f.hmac()));
    g.bench_function("hkdf_sha256_44", |b| b.iter(|| f.hkdf::<44>(&[0; 16])));
    let mut small = [0u8; 256];
    g.bench_function("aes256gcm_seal_open_256B", |b| {
        b.iter(|| f.seal_open(&mut small))
    });
    let mut large = vec![0u8; 64 * 1024];
    g.throughput(Throughput::Bytes(2 * 64 * 1024));
    g.bench_function("aes256gcm_seal_open_64KiB", |b| {
        b.iter(|| f.seal_open(&mut large))
    });
    g.finish();
}

/// `protocol` of a setup group: bundle bytes → `initiate` → first message → `respond`, from a
/// store restored outside the timing; with a KEM prekey in the store when `pqxdh`.
fn setup_protocol(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    pqxdh: bool,
) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, 1000);
    store.generate_one_time_prekeys(&mut rng, 1).unwrap();
    if pqxdh {
        store.rotate_kem_prekey(&mut rng, &bob, 1000);
    }
    let bundle = store.bundle(&bob, Some(0)).unwrap().to_bytes();
    let store = store.to_bytes().unwrap();
    // The X3DH group needs the opt-in; PQXDH does not.
    let config = if pqxdh {
        Config::new(b"")
    } else {
        Config::new(b"").allow_classical()
    };
    g.bench_function("protocol", |b| {
        b.iter_batched(
            || PreKeyStore::from_bytes(&store).unwrap(),
            |mut store| {
                let bundle = PreKeyBundle::from_bytes(&bundle).unwrap();
                let mut a =
                    Session::initiate(&mut rng, &alice, &bundle, Trust::FirstUse, &config).unwrap();
                let first = a.encrypt(&mut rng, &[0; 16]).unwrap();
                black_box(Session::respond(&bob, &mut store, &first, &config).unwrap())
            },
            BatchSize::SmallInput,
        );
    });
}

fn session_setup(c: &mut Criterion) {
    let mut f = Floor::new();
    let mut g = c.benchmark_group("session_setup");
    setup_protocol(&mut g, false);
    let mut buf = [0u8; 16];
    g.bench_function("floor", |b| {
        b.iter(|| {
            // Initiator: parse IK_B, verify SPK, EK, DH1–DH4, the one-time prekey's subgroup
            // check, ratchet key + DH, X3DH KDF, KDF_RK, one chain message.
            f.parse_identity();
            f.verify();
            f.keygen();
            (0..4).for_each(|_| f.dh());
            f.x25519_subgroup_check();
            f.keygen();
            f.dh();
            f.hkdf::<32>(&[0; 32]);
            f.hkdf::<64>(&[0; 32]);
            f.chain_kdfs();
            let tag = f.seal(&mut buf);
            // Responder: parse IK_A, DH1–DH4, X3DH KDF (and the first-message id), DH + KDF_RK,
            // one chain message.
            f.parse_identity();
            (0..4).for_each(|_| f.dh());
            f.hkdf::<32>(&[0; 32]);
            f.dh();
            f.hkdf::<64>(&[0; 32]);
            f.chain_kdfs();
            f.open(&mut buf, &tag);
        });
    });
    g.finish();
}

/// The same setup over PQXDH (SPEC.md §4.5): a bundle with a KEM prekey. Its floor is the X3DH
/// floor plus what PQXDH requires: the KEM prekey's signature, the encapsulation key's FIPS 203
/// check, one encapsulation, the seed's expansion and one decapsulation, and the KDF over the
/// transcript.
fn pqxdh_setup(c: &mut Criterion) {
    let mut f = Floor::new();
    let mut g = c.benchmark_group("pqxdh_setup");
    setup_protocol(&mut g, true);
    let mut buf = [0u8; 16];
    g.bench_function("floor", |b| {
        b.iter(|| {
            // Initiator: the X3DH floor's operations, the KEM prekey's signature and FIPS 203
            // check, one encapsulation and the transcript KDF.
            f.parse_identity();
            f.verify();
            f.verify_kem_prekey();
            let ek = f.parse_kem_public();
            f.keygen();
            (0..4).for_each(|_| f.dh());
            f.x25519_subgroup_check();
            let ct = f.encapsulate(&ek);
            f.keygen();
            f.dh();
            f.pqxdh_kdf();
            f.hkdf::<64>(&[0; 32]);
            f.chain_kdfs();
            // Responder: the X3DH floor's operations, the seed's expansion, one decapsulation
            // and the transcript KDF.
            f.parse_identity();
            (0..4).for_each(|_| f.dh());
            f.expand_and_decapsulate(&ct);
            f.pqxdh_kdf();
            f.dh();
            f.hkdf::<64>(&[0; 32]);
            f.chain_kdfs();
            f.seal_open_pqxdh_first(&mut buf);
        });
    });
    g.finish();
}

fn same_chain(c: &mut Criterion) {
    let mut p = pair(2);
    let f = Floor::new();
    let plaintext = [0x42u8; 256];
    let mut g = c.benchmark_group("encrypt_decrypt_256B_same_chain");
    g.bench_function("protocol", |b| {
        b.iter(|| {
            let m = p.alice.encrypt(&mut p.rng, &plaintext).unwrap();
            black_box(p.bob.decrypt(&m).unwrap())
        });
    });
    let mut buf = [0u8; 256];
    g.bench_function("floor", |b| {
        b.iter(|| {
            f.chain_kdfs();
            let tag = f.seal(&mut buf);
            f.chain_kdfs();
            f.open(&mut buf, &tag);
        });
    });
    g.finish();
}

/// A group message of 256 bytes from one member to another over an established sender key
/// (SPEC.md §13.3–§13.4). Floor: both sides' chain step and key expansion, the AES-GCM seal and
/// open, one Ed25519 signature and one `verify_strict` over the signed bytes (label 31 ‖ sender
/// 32 ‖ header 58 ‖ ciphertext and tag 272 = 393 bytes).
fn group_256b(c: &mut Criterion) {
    use xchat_protocol::group::{
        GroupConfig, GroupId, GroupSession, Rotation, SenderKeyDistribution,
    };
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let (alice, bob) = (
        IdentityKeyPair::generate(&mut rng),
        IdentityKeyPair::generate(&mut rng),
    );
    // No rotation inside the measurement: the benchmark sends far more than 1000 messages.
    let rotation = Rotation {
        max_messages: u32::MAX,
        max_age_ms: u64::MAX,
    };
    let config = GroupConfig {
        rotation,
        ..GroupConfig::default()
    };
    let (id, now) = (GroupId([1; 32]), 1_700_000_000_000);
    let mut sender =
        GroupSession::new(&mut rng, alice.public(), id, &[*bob.public()], now, config).unwrap();
    let mut receiver =
        GroupSession::new(&mut rng, bob.public(), id, &[*alice.public()], now, config).unwrap();
    let d = sender.distribution(&mut rng, now).distribution;
    receiver
        .process_distribution(
            alice.public(),
            &SenderKeyDistribution::from_bytes(&d.to_bytes()).unwrap(),
        )
        .unwrap();
    sender.mark_distributed(bob.public(), &d).unwrap();
    let plaintext = [0x42u8; 256];
    let f = Floor::new();
    let mut g = c.benchmark_group("group_encrypt_decrypt_256B");
    g.bench_function("protocol", |b| {
        b.iter(|| {
            let m = sender.encrypt(&mut rng, now, &plaintext).unwrap();
            black_box(receiver.decrypt(alice.public(), &m).unwrap())
        });
    });
    let mut buf = [0u8; 256];
    let signed = [5u8; 393];
    g.bench_function("floor", |b| {
        b.iter(|| {
            f.chain_kdfs();
            let tag = f.seal(&mut buf);
            f.sign_and_verify(&signed);
            f.chain_kdfs();
            f.open(&mut buf, &tag);
        });
    });
    g.finish();
}

/// One group message sealed for 100 recipients (SPEC.md §9.5), and opened by one of them, each
/// beside its floor. Seal: one key generation, then per recipient one DH, one HKDF and a 32-byte
/// seal, and one payload seal. Open: one DH, two HKDFs, the header and payload opens, the
/// certificate's two key parses and two signature checks.
fn group_seal_100(c: &mut Criterion) {
    use xchat_protocol::group::{GroupConfig, GroupId, GroupSession};
    use xchat_protocol::sealed_sender::seal_for_group;
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    let sender = IdentityKeyPair::generate(&mut rng);
    let members: Vec<IdentityKeyPair> = (0..100)
        .map(|_| IdentityKeyPair::generate(&mut rng))
        .collect();
    let keys: Vec<_> = members.iter().map(|m| *m.public()).collect();
    let now = 1_700_000_000_000;
    let config = GroupConfig::default();
    let mut group = GroupSession::new(
        &mut rng,
        sender.public(),
        GroupId([2; 32]),
        &keys,
        now,
        config,
    )
    .unwrap();
    let pending = group.distribution(&mut rng, now);
    for m in &pending.recipients {
        group.mark_distributed(m, &pending.distribution).unwrap();
    }
    let message = group.send(&mut rng, now, &[0x42; 200]).unwrap();
    let root = CertificateKeyPair::generate(&mut rng);
    let server = CertificateKeyPair::generate(&mut rng);
    let server_cert = root.certify_server(1, &server.public());
    let cert = server
        .certify_sender(&server_cert, b"alice", 1, sender.public(), u64::MAX)
        .unwrap();
    let roots = [root.public()];
    let sealed = seal_for_group(&mut rng, &sender, &cert, &group, &message).unwrap();
    let index = sealed
        .recipients()
        .iter()
        .position(|k| k == members[0].public())
        .unwrap();
    let envelope = sealed.for_recipient(index).unwrap();
    let view = SealedRecipient {
        identity: &members[0],
        trust_roots: &roots,
        revoked_servers: &[],
    };
    let mut f = Floor::new();
    let mut g = c.benchmark_group("group_seal_100");
    g.bench_function("seal", |b| {
        b.iter(|| black_box(seal_for_group(&mut rng, &sender, &cert, &group, &message).unwrap()))
    });
    let mut key = [0u8; 32];
    let mut payload = vec![0u8; envelope.len() - 1 - 32 - 48 - 16];
    g.bench_function("seal_floor", |b| {
        b.iter(|| {
            f.keygen();
            for _ in 0..100 {
                f.dh();
                f.hkdf::<32>(&[0; 64]);
                black_box(f.seal(&mut key));
            }
            f.hkdf::<32>(&[0; 32]);
            black_box(f.seal(&mut payload));
        })
    });
    g.bench_function("open", |b| {
        b.iter(|| black_box(view.open_group(&envelope, now).unwrap()))
    });
    let tag_key = f.seal(&mut key);
    let tag_payload = f.seal(&mut payload);
    // Each open decrypts in place, so it starts from a copy of the sealed bytes (as `open_group`
    // copies the payload out of the envelope).
    let (sealed_key, sealed_payload) = (key, payload.clone());
    g.bench_function("open_floor", |b| {
        b.iter(|| {
            f.dh();
            f.hkdf::<32>(&[0; 64]);
            key = sealed_key;
            f.open(&mut key, &tag_key);
            f.hkdf::<32>(&[0; 32]);
            payload.copy_from_slice(&sealed_payload);
            f.open(&mut payload, &tag_payload);
            f.parse_identity();
            f.parse_identity();
            f.verify();
            f.verify();
        })
    });
    g.finish();
}

fn ratchet_roundtrip(c: &mut Criterion) {
    let mut p = pair(3);
    let mut f = Floor::new();
    let mut g = c.benchmark_group("ratchet_roundtrip");
    g.bench_function("protocol", |b| {
        b.iter(|| {
            let m = p.alice.encrypt(&mut p.rng, &[1; 32]).unwrap();
            p.bob.decrypt(&m).unwrap();
            let m = p.bob.encrypt(&mut p.rng, &[2; 32]).unwrap();
            black_box(p.alice.decrypt(&m).unwrap())
        });
    });
    let mut buf = [0u8; 32];
    g.bench_function("floor", |b| {
        b.iter(|| {
            for _ in 0..2 {
                // Sender: new ratchet key, DH, KDF_RK, chain message; receiver: DH, KDF_RK, chain.
                f.keygen();
                f.dh();
                f.hkdf::<64>(&[0; 32]);
                f.chain_kdfs();
                let tag = f.seal(&mut buf);
                f.dh();
                f.hkdf::<64>(&[0; 32]);
                f.chain_kdfs();
                f.open(&mut buf, &tag);
            }
        });
    });
    g.finish();
}

fn large(c: &mut Criterion) {
    let mut p = pair(4);
    let f = Floor::new();
    let plaintext = vec![0x42u8; 64 * 1024];
    let mut g = c.benchmark_group("encrypt_decrypt_64KiB");
    g.throughput(Throughput::Bytes(2 * 64 * 1024));
    g.bench_function("protocol", |b| {
        b.iter(|| {
            let m = p.alice.encrypt(&mut p.rng, &plaintext).unwrap();
            black_box(p.bob.decrypt(&m).unwrap())
        });
    });
    let mut buf = vec![0u8; 64 * 1024];
    g.bench_function("floor", |b| {
        b.iter(|| {
            f.chain_kdfs();
            let tag = f.seal(&mut buf);
            f.chain_kdfs();
            f.open(&mut buf, &tag);
        });
    });
    g.finish();
}

fn out_of_order(c: &mut Criterion) {
    const GAP: usize = 1000;
    let mut p = pair(5);
    let messages: Vec<Vec<u8>> = (0..=GAP)
        .map(|_| p.bob.encrypt(&mut p.rng, &[0; 16]).unwrap())
        .collect();
    let alice = p.alice.to_bytes().unwrap();
    let f = Floor::new();
    let mut g = c.benchmark_group("out_of_order");
    g.sample_size(20);
    g.bench_function("protocol", |b| {
        b.iter_batched(
            || Session::from_bytes(&alice).unwrap(),
            |mut alice| {
                // The last message first: 1,000 keys are stored; then each is consumed.
                alice.decrypt(&messages[GAP]).unwrap();
                for m in &messages[..GAP] {
                    alice.decrypt(m).unwrap();
                }
                black_box(alice)
            },
            BatchSize::LargeInput,
        );
    });
    let mut buf = [0u8; 16];
    let tag = f.seal(&mut buf);
    g.bench_function("floor", |b| {
        b.iter(|| {
            for _ in 0..=GAP {
                f.chain_kdfs();
                let mut copy = buf;
                let _ = Aes256Gcm::new(&f.key.into()).decrypt_inout_detached(
                    &[0; 12].into(),
                    &[0; 130],
                    copy.as_mut_slice().into(),
                    &tag,
                );
            }
        });
    });
    g.finish();
}

fn sealed_sender(c: &mut Criterion) {
    let mut p = pair(6);
    let mut rng = ChaCha20Rng::from_seed([60; 32]);
    let sender = IdentityKeyPair::generate(&mut rng);
    let recipient = IdentityKeyPair::generate(&mut rng);
    let root = CertificateKeyPair::generate(&mut rng);
    let server = CertificateKeyPair::generate(&mut rng);
    let cert = server
        .certify_sender(
            &root.certify_server(1, &server.public()),
            b"alice",
            1,
            sender.public(),
            u64::MAX,
        )
        .unwrap();
    let roots = [root.public()];
    let view = SealedRecipient {
        identity: &recipient,
        trust_roots: &roots,
        revoked_servers: &[],
    };
    let inner = p.alice.send(&mut p.rng, 0, &[0; 100]).unwrap();
    let mut f = Floor::new();
    let mut g = c.benchmark_group("sealed_sender");
    g.bench_function("protocol", |b| {
        b.iter(|| {
            let envelope = seal_to(&mut rng, &sender, &cert, recipient.public(), &inner).unwrap();
            black_box(view.open(&envelope, 0).unwrap())
        });
    });
    let mut id = [0u8; 32];
    let mut payload = vec![0u8; 512];
    g.bench_function("floor", |b| {
        b.iter(|| {
            // Seal: ephemeral key, two DHs, two HKDFs, two AEAD seals.
            f.keygen();
            f.dh();
            f.hkdf::<64>(&[0; 64]);
            let t1 = f.seal(&mut id);
            f.dh();
            f.hkdf::<32>(&[0; 80]);
            let t2 = f.seal(&mut payload);
            // Open: two DHs, two HKDFs, two AEAD opens, parse the sender identity, the
            // certificate's identity and server key, and verify two signatures.
            f.dh();
            f.hkdf::<64>(&[0; 64]);
            f.open(&mut id, &t1);
            f.parse_identity();
            f.dh();
            f.hkdf::<32>(&[0; 80]);
            f.open(&mut payload, &t2);
            f.parse_identity();
            f.parse_identity();
            f.verify();
            f.verify();
        });
    });
    g.finish();
}

/// Persistence (SPEC.md §10): an established session, and a prekey store with 100 one-time
/// prekeys, each serialized and restored in the same run. Restoring costs no scalar
/// multiplication or point decompression (§10.0), so it is compared with serializing.
fn state(c: &mut Criterion) {
    let mut p = pair(7);
    let m = p.bob.encrypt(&mut p.rng, b"x").unwrap();
    p.alice.decrypt(&m).unwrap();
    let blob = p.alice.to_bytes().unwrap();
    let mut store = PreKeyStore::new();
    let bob = IdentityKeyPair::generate(&mut p.rng);
    store.rotate_signed_prekey(&mut p.rng, &bob, 1_700_000_000_000);
    store.generate_one_time_prekeys(&mut p.rng, 100).unwrap();
    let store_blob = store.to_bytes().unwrap();
    let mut g = c.benchmark_group("state");
    g.bench_function("serialize", |b| {
        b.iter(|| black_box(p.alice.to_bytes().unwrap()))
    });
    g.bench_function("restore", |b| {
        b.iter(|| black_box(Session::from_bytes(&blob).unwrap()))
    });
    g.bench_function("store_100_serialize", |b| {
        b.iter(|| black_box(store.to_bytes().unwrap()))
    });
    g.bench_function("store_100_restore", |b| {
        b.iter(|| black_box(PreKeyStore::from_bytes(&store_blob).unwrap()))
    });
    g.finish();
}

criterion_group!(
    benches,
    floor,
    session_setup,
    pqxdh_setup,
    same_chain,
    group_256b,
    group_seal_100,
    ratchet_roundtrip,
    large,
    out_of_order,
    sealed_sender,
    state
);
criterion_main!(benches);
