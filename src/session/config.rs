//! How a session is set up (`Config`), the trust decision about the peer (`Trust`), and what a
//! session reports about its start (`Handshake`, `Role`).

use crate::keys::IdentityKey;
use crate::ratchet::Limits;

#[allow(unused_imports)] // named by the docs
use {super::Session, crate::error::Error};

/// How a session is set up, the same value for [`Session::initiate`], [`Session::respond`] and
/// [`Session::accept`]: the application context bound into every message (SPEC.md §3.5; both
/// sides must pass the same bytes, e.g. both account ids), the limits on what the peer can make
/// the session store (§6.4), in force from the first message, and whether a classical (X3DH)
/// session may be started at all (§4.5).
///
/// ```
/// use xchat_protocol::{Config, Limits};
/// let config = Config::new(b"alice@example|bob@example")
///     .with_limits(Limits { max_skip: 500, ..Limits::DEFAULT });
/// assert_eq!(config.limits.max_skip, 500);
/// assert!(!config.allow_classical); // PQXDH only, unless the application opts in
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config<'a> {
    /// At most [`MAX_CONTEXT_LEN`](super::MAX_CONTEXT_LEN) bytes.
    pub context: &'a [u8],
    /// Checked by [`Limits::validate`] when the session is created.
    pub limits: Limits,
    /// Whether a new session may use X3DH, which a future quantum computer breaks: a bundle
    /// without a KEM prekey ([`Session::initiate`]) or a version `0x01` first message
    /// ([`Session::respond`], [`Session::accept`]). `false` by default: such a bundle or message
    /// is [`Error::ClassicalHandshake`], so that no server or relay can silently downgrade a
    /// session. A server cannot cut the KEM prekey off a PQXDH bundle (its signed prekey's
    /// signature covers the key type, SPEC.md §4.2), nor a relay the KEM fields off a first
    /// message; but with the opt-in on both sides, a server that holds an X3DH bundle of a signed
    /// prekey the peer still keeps (one from before the peer upgraded, for up to three rotations)
    /// gets a classical session: opt in only for peers known not to have upgraded, remember per
    /// peer once it has ([`Session::handshake`] tells which handshake a session used), and refuse
    /// classical sessions with it from then on.
    pub allow_classical: bool,
}

impl<'a> Config<'a> {
    /// The context, with the default limits, post-quantum sessions only.
    pub const fn new(context: &'a [u8]) -> Self {
        Self {
            context,
            limits: Limits::DEFAULT,
            allow_classical: false,
        }
    }

    /// The same with other limits.
    #[must_use]
    pub const fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// The same, also accepting classical (X3DH) sessions: an explicit opt-in for peers whose
    /// bundles carry no KEM prekey.
    #[must_use]
    pub const fn allow_classical(self) -> Self {
        Self {
            allow_classical: true,
            ..self
        }
    }
}

impl Default for Config<'_> {
    /// An empty context and the default limits.
    fn default() -> Self {
        Self::new(&[])
    }
}

/// The application's trust decision about the peer's identity, made before a session starts from
/// its bundle (the server hands out bundles, so it could hand out someone else's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust<'a> {
    /// The identity the application already trusts for this peer (a verified safety number, or
    /// the one first seen): a bundle with any other is refused with
    /// [`Error::UntrustedIdentity`] before any key is drawn.
    Pinned(&'a IdentityKey),
    /// No identity is known for this peer yet: the bundle's is accepted. Pin
    /// [`Session::remote_identity`] afterwards (trust on first use).
    FirstUse,
}

/// Which key agreement started a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// Classical X3DH: a recorded conversation is open to a future quantum computer that
    /// breaks X25519.
    X3dh,
    /// PQXDH: X3DH plus an ML-KEM-1024 encapsulation (SPEC.md §4.5).
    Pqxdh,
}

/// Which side of X3DH this session was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Started the session from a bundle.
    Initiator,
    /// Answered a prekey message.
    Responder,
}
