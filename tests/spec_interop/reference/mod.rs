//! The independent implementation of SPEC.md, from primitives (ML-KEM-1024 from
//! `libcrux-ml-kem`) and the reference state codec `tests/common/state_codec/` only: it imports
//! nothing from the crate under test.

pub(crate) mod group;
pub(crate) mod pq;
pub(crate) mod primitives;
pub(crate) mod session;
pub(crate) mod store;
pub(crate) mod wire;
