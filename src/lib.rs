//! # xchat-protocol
//!
//! End-to-end encryption for messengers, with no I/O of its own: X3DH key agreement and the
//! Double Ratchet, combined into [`Session`]s; [sealed sender](sealed_sender), so that a relay
//! learns only the recipient; and an authenticated [content frame](content) carrying
//! disappearing-message timers and padding. Wire and storage formats are strict and versioned.
//! `SPEC.md` in the repository is the byte-exact contract; every module points at its section.
//!
//! The library never reads a clock, a file or a global RNG: functions that need randomness take
//! an RNG (`rand_core::CryptoRng`) and functions that need the time take it (ms since the Unix
//! epoch), so the same inputs always give the same bytes.
//!
//! The messenger API is **send → seal → open → receive** (plus `set_timer`, `purge` and the
//! first message's `accept`/[`Opened::respond`]). Every `Err` leaves all state byte-identical;
//! every outcome that changed state is an `Ok` — a message that expired on arrival is
//! [`Receipt::Expired`], not an error. The low-level API (raw `encrypt`/`decrypt`/`respond`, the
//! key-derivation building blocks) is behind the `hazmat` feature.
//!
//! ```
//! # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//! use xchat_protocol::sealed_sender::seal;
//! use xchat_protocol::{CertificateKeyPair, Config, IdentityKeyPair, PreKeyBundle};
//! use xchat_protocol::{PreKeyStore, Receipt, SealedRecipient, Session, Trust};
//! # let mut rng = ChaCha20Rng::from_seed([42; 32]);
//! let now = 1_700_000_000_000;
//! let root = CertificateKeyPair::generate(&mut rng); // the operator's trust root
//! let server = CertificateKeyPair::generate(&mut rng);
//! let server_cert = root.certify_server(1, &server.public());
//!
//! // Bob publishes a bundle through his server.
//! let bob = IdentityKeyPair::generate(&mut rng);
//! let mut bob_prekeys = PreKeyStore::new();
//! bob_prekeys.rotate_signed_prekey(&mut rng, &bob, now);
//! bob_prekeys.rotate_kem_prekey(&mut rng, &bob, now); // PQXDH: every bundle carries it
//! bob_prekeys.generate_one_time_prekeys(&mut rng, 100)?;
//! let bundle_bytes = bob_prekeys.bundle(&bob, Some(0))?.to_bytes();
//!
//! // Alice starts a session while Bob is offline: send, then seal.
//! let alice = IdentityKeyPair::generate(&mut rng);
//! let alice_cert = server.certify_sender(&server_cert, b"alice", 1, alice.public(), now + 86_400_000)?;
//! let bundle = PreKeyBundle::from_bytes(&bundle_bytes)?;
//! let config = Config::new(b"alice|bob");
//! let mut to_bob = Session::initiate(&mut rng, &alice, &bundle, Trust::FirstUse, &config)?;
//! let message = to_bob.send(&mut rng, now, b"hello")?;
//! let envelope = seal(&mut rng, &alice, &alice_cert, &to_bob, &message)?;
//!
//! // Bob opens and receives it; the one-time prekey is consumed only now that it authenticated.
//! let roots = [root.public()];
//! let bob_view = SealedRecipient { identity: &bob, trust_roots: &roots, revoked_servers: &[] };
//! let (bob_session, delivered) =
//!     bob_view.open(&envelope, now + 1_000)?.respond(&bob, &mut bob_prekeys, &config)?;
//! assert!(matches!(&delivered.receipt, Receipt::Message(m) if m.body == b"hello"));
//! assert_eq!(bob_prekeys.one_time_prekey_count(), 99);
//!
//! // Sessions persist to bytes (or sealed under a storage key, `state`) and back.
//! let saved = bob_session.to_bytes()?;
//! let bob_session = Session::from_bytes(&saved)?;
//! assert_eq!(bob_session.remote_identity(), alice.public());
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod account;
pub mod attachment;
mod cipher;
mod codec;
pub mod content;
pub mod error;
pub mod group;
#[cfg(feature = "hazmat")]
pub mod kdf;
#[cfg(not(feature = "hazmat"))]
mod kdf;
pub mod kem;
pub mod keys;
pub mod padding;
pub mod prekeys;
mod ratchet;
pub mod sealed_sender;
pub mod session;
pub mod state;
pub mod wire;
mod x3dh;

// The README's quick start is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use content::{ContentKind, Deadline, Timer, TimerStart};
pub use error::{DecodeError, Error};
pub use group::{GroupError, GroupSession};
pub use kem::{KemCiphertext, KemKeyPair, KemPublicKey};
pub use keys::{IdentityKey, IdentityKeyPair, KeyPair, PublicKey};
pub use prekeys::{KemPreKey, KemUse, OneTimePreKey, PreKeyBundle, PreKeyStore, SignedPreKey};
pub use ratchet::Limits;
pub use sealed_sender::{
    CertificateKey, CertificateKeyPair, Delivered, Opened, SealedRecipient, SealedSenderError,
    SenderCertificate, ServerCertificate,
};
pub use session::{Config, Handshake, Receipt, Received, Role, Session, Trust};
pub use wire::{
    Header, Incoming, KemFields, Message, PROTOCOL_VERSION, PROTOCOL_VERSION_PQXDH, PreKeyMessage,
};
