//! # xchat-protocol
//!
//! End-to-end encryption for messengers, with no I/O of its own: X3DH key agreement and the
//! Double Ratchet, combined into [`Session`]s; [sealed sender](sealed_sender), so that a relay
//! learns only the recipient; and an authenticated [content frame](content) carrying
//! disappearing-message timers and padding. Wire and storage formats are strict and versioned.
//! `SPEC.md` in the repository is the byte-exact contract; every module points at its section.
//!
//! The library never reads a clock, a file or a global RNG: functions that need randomness take
//! an RNG (`rand_core::CryptoRng`), so the same inputs always give the same bytes.
//!
//! ```
//! # use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//! use xchat_protocol::{Config, Trust, IdentityKeyPair, PreKeyBundle, PreKeyStore, Session};
//! # let mut rng = ChaCha20Rng::from_seed([42; 32]);
//! // Bob publishes a bundle through his server.
//! let bob = IdentityKeyPair::generate(&mut rng);
//! let mut bob_prekeys = PreKeyStore::new();
//! bob_prekeys.rotate_signed_prekey(&mut rng, &bob, 1_700_000_000);
//! bob_prekeys.generate_one_time_prekeys(&mut rng, 100)?;
//! let bundle_bytes = bob_prekeys.bundle(&bob, Some(0))?.to_bytes();
//!
//! // Alice starts a session from the bundle while Bob is offline.
//! let alice = IdentityKeyPair::generate(&mut rng);
//! let bundle = PreKeyBundle::from_bytes(&bundle_bytes)?;
//! let mut alice_session = Session::initiate(&mut rng, &alice, &bundle, Trust::FirstUse, &Config::new(b""))?;
//! let first = alice_session.encrypt(&mut rng, b"hello")?;
//!
//! // Bob answers; the one-time prekey is consumed only now that the message authenticated.
//! let (mut bob_session, text) = Session::respond(&bob, &mut bob_prekeys, &first, &Config::new(b""))?;
//! assert_eq!(text, b"hello");
//! assert_eq!(bob_prekeys.one_time_prekey_count(), 99);
//!
//! // Sessions persist to bytes and back.
//! let saved = bob_session.to_bytes()?;
//! let mut bob_session = Session::from_bytes(&saved)?;
//! let reply = bob_session.encrypt(&mut rng, b"hi")?;
//! assert_eq!(alice_session.decrypt(&reply)?, b"hi");
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod cipher;
mod codec;
pub mod content;
pub mod error;
#[cfg(feature = "hazmat")]
pub mod kdf;
#[cfg(not(feature = "hazmat"))]
mod kdf;
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
pub use keys::{IdentityKey, IdentityKeyPair, KeyPair, PublicKey};
pub use prekeys::{OneTimePreKey, PreKeyBundle, PreKeyStore, SignedPreKey};
pub use ratchet::Limits;
pub use sealed_sender::{
    CertificateKey, CertificateKeyPair, Delivered, Opened, SealedRecipient, SealedSenderError,
    SenderCertificate, ServerCertificate,
};
pub use session::{Config, Receipt, Received, Role, Session, Trust};
pub use wire::{Header, Incoming, Message, PROTOCOL_VERSION, PreKeyMessage};
