//! Shared helpers: clocks, strategies for forged field values (`V`, `K`, `B`, list and byte
//! edits), and the checks (a), (b) and (d) that every loaded blob must pass, for sessions and
//! prekey stores alike.

use proptest::prelude::*;
use xchat_protocol::{DecodeError, Error, PreKeyStore, Session};

use crate::common;
use crate::common::state_codec::{self as codec, K32, SessionBlob, StoreBlob};

pub(crate) const NOW: u64 = 1_700_000_000_000;
/// Clocks the driver passes to `receive`/`purge`: the stage's clock, later, far later, extremes.
pub(crate) const NOWS: [u64; 5] = [NOW, NOW + 3_600_000, NOW + 86_400_000_000, 0, u64::MAX];

/// The same X25519 key with a bit that clamping fixes set otherwise (a forger's, or a version-1
/// library's, encoding).
pub(crate) fn unclamp(k: K32, variant: u8) -> K32 {
    let mut u = k;
    match variant % 4 {
        0 => u[0] |= 0x01,
        1 => u[0] |= 0x04,
        2 => u[31] &= !0x40,
        _ => u[31] |= 0x80,
    }
    u
}

pub(crate) fn pick<T>(v: &[T], i: usize) -> Option<usize> {
    i.checked_rem(v.len())
}

pub(crate) fn nth<T>(v: &mut [T], i: usize) -> Option<&mut T> {
    v.get_mut(i.checked_rem(v.len())?)
}

/// A u32 for a field: absolute (boundary or random), or relative to the field itself or to a
/// counter it is checked against (`Nr`, `Ns`, `received`, the four limits).
#[derive(Clone, Copy, Debug)]
pub(crate) enum V {
    Abs(u32),
    Own(i8),
    Rel(usize, i8),
}

impl V {
    /// The value, given the field's own and the counters `[Nr, Ns, received, limits…]`.
    pub(crate) fn at(self, own: u32, counters: &[u32]) -> u32 {
        let (base, d) = match self {
            V::Abs(x) => return x,
            V::Own(d) => (own, d),
            V::Rel(i, d) => (counters.get(i).copied().unwrap_or(own), d),
        };
        base.wrapping_add_signed(i32::from(d))
    }
}

pub(crate) fn v() -> impl Strategy<Value = V> {
    let abs = prop_oneof![
        Just(0u32),
        Just(1),
        Just(2),
        Just(u32::MAX),
        Just(u32::MAX - 1),
        Just(1 << 20),
        Just((1 << 20) + 1),
        any::<u32>(),
    ];
    let counter = prop_oneof![2 => Just(0usize), 1 => Just(1), 2 => Just(2), 1 => 3usize..7];
    prop_oneof![
        2 => abs.prop_map(V::Abs),
        2 => (-2i8..=2).prop_map(V::Own),
        4 => (counter, -2i8..=2).prop_map(|(c, d)| V::Rel(c, d)),
    ]
}

/// A 32-byte value for a public-key field.
#[derive(Clone, Debug)]
pub(crate) enum K {
    /// A public key already in the blob.
    Body(usize),
    /// A key of the stage's peer (a ratchet key of its messages; for stores, a base key).
    Peer(usize),
    /// Another encoding `u(P + T)` of a peer key: the same DH results, other bytes (§3.5).
    Torsion(usize, usize),
    Random(K32),
    /// Low-order points: valid encodings, refused when used in DH.
    Zero,
    One,
    /// Invalid encodings (§2.3).
    TopBit,
    P,
}

pub(crate) fn k() -> impl Strategy<Value = K> {
    prop_oneof![
        4 => any::<usize>().prop_map(K::Body),
        4 => any::<usize>().prop_map(K::Peer),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(i, t)| K::Torsion(i, t)),
        1 => any::<K32>().prop_map(K::Random),
        1 => Just(K::Zero),
        1 => Just(K::One),
        1 => Just(K::TopBit),
        1 => Just(K::P),
    ]
}

/// `2^255 − 19`, the first non-canonical `u`.
const P: K32 = {
    let mut p = [0xFF; 32];
    (p[0], p[31]) = (0xED, 0x7F);
    p
};

impl K {
    pub(crate) fn get(&self, body: &[K32], peers: &[K32]) -> K32 {
        let mut k = [0u8; 32];
        match self {
            K::Body(i) if !body.is_empty() => return body[i % body.len()],
            K::Body(_) | K::Zero => {}
            K::Peer(i) => return peers[i % peers.len()],
            K::Torsion(i, t) => return common::x25519_variants(&peers[i % peers.len()])[t % 7],
            K::Random(r) => return *r,
            K::One => k[0] = 1,
            K::TopBit => k = [0xFF; 32],
            K::P => k = P,
        }
        k
    }
}

/// 32 bytes for a secret field (root, chain or message key; a secret key): bytes found elsewhere
/// in the blob, or random.
#[derive(Clone, Debug)]
pub(crate) enum B {
    Pool(usize),
    Random(K32),
}

pub(crate) fn b() -> impl Strategy<Value = B> {
    prop_oneof![4 => any::<usize>().prop_map(B::Pool), 1 => any::<K32>().prop_map(B::Random)]
}

/// An edit of a list: an entry removed, duplicated in place, two swapped, the order reversed.
#[derive(Clone, Debug)]
pub(crate) enum ListEdit {
    Remove(usize),
    Dup(usize),
    Swap(usize, usize),
    Reverse,
}

pub(crate) fn list_edit() -> impl Strategy<Value = ListEdit> {
    prop_oneof![
        2 => any::<usize>().prop_map(ListEdit::Remove),
        2 => any::<usize>().prop_map(ListEdit::Dup),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(i, j)| ListEdit::Swap(i, j)),
        1 => Just(ListEdit::Reverse),
    ]
}

impl ListEdit {
    pub(crate) fn apply<T: Clone>(&self, v: &mut Vec<T>) {
        let (ListEdit::Remove(i) | ListEdit::Dup(i) | ListEdit::Swap(i, _)) = self else {
            return v.reverse();
        };
        let (Some(i), n) = (pick(v, *i), v.len()) else {
            return;
        };
        match self {
            ListEdit::Remove(_) => drop(v.remove(i)),
            ListEdit::Dup(_) => v.insert(i, v[i].clone()),
            ListEdit::Swap(_, j) => v.swap(i, j % n),
            ListEdit::Reverse => unreachable!(),
        }
    }
}

/// A raw edit of the (encoded, not yet sealed) body.
#[derive(Clone, Debug)]
pub(crate) enum ByteMut {
    Xor(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

pub(crate) fn byte_mut() -> impl Strategy<Value = ByteMut> {
    let byte = prop_oneof![Just(0u8), Just(1), Just(2), Just(0xFF), any::<u8>()];
    prop_oneof![
        4 => (any::<usize>(), 1u8..=255).prop_map(|(i, x)| ByteMut::Xor(i, x)),
        2 => (any::<usize>(), byte).prop_map(|(i, x)| ByteMut::Set(i, x)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, x)| ByteMut::Insert(i, x)),
        1 => any::<usize>().prop_map(ByteMut::Delete),
        1 => any::<usize>().prop_map(ByteMut::Truncate),
    ]
}

pub(crate) fn apply_bytes(body: &mut Vec<u8>, muts: &[ByteMut]) {
    for m in muts {
        let len = body.len();
        if len == 0 {
            return;
        }
        match *m {
            ByteMut::Xor(i, x) => body[i % len] ^= x,
            ByteMut::Set(i, x) => body[i % len] = x,
            ByteMut::Insert(i, x) => body.insert(i % (len + 1), x),
            ByteMut::Delete(i) => drop(body.remove(i % len)),
            ByteMut::Truncate(i) => body.truncate(i % len),
        }
    }
}

pub(crate) fn put_u32(body: &mut [u8], at: usize, x: u32) {
    if let Some(field) = body.get_mut(at..at + 4) {
        field.copy_from_slice(&x.to_be_bytes());
    }
}

pub(crate) fn u32_at(body: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(body[at..at + 4].try_into().unwrap())
}

pub(crate) fn u16_at(body: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes(body[at..at + 2].try_into().unwrap()))
}

/// What (a), (b) and (d) check, for sessions and prekey stores alike.
pub(crate) trait State: Sized {
    fn load(blob: &[u8]) -> Result<Self, DecodeError>;
    fn save(&self) -> Result<Vec<u8>, Error>;
    /// SPEC.md's reading of a blob (the reference codec): the version read, and today's object
    /// saved as version 3.
    fn reference(blob: &[u8]) -> Result<(u8, Vec<u8>), codec::DecodeError>;
}

impl State for Session {
    fn load(blob: &[u8]) -> Result<Self, DecodeError> {
        Session::from_bytes(blob)
    }
    fn save(&self) -> Result<Vec<u8>, Error> {
        self.to_bytes().map(|b| b.to_vec())
    }
    fn reference(blob: &[u8]) -> Result<(u8, Vec<u8>), codec::DecodeError> {
        SessionBlob::decode(blob).map(|(v, s)| (v, s.encode_v3()))
    }
}

impl State for PreKeyStore {
    fn load(blob: &[u8]) -> Result<Self, DecodeError> {
        PreKeyStore::from_bytes(blob)
    }
    fn save(&self) -> Result<Vec<u8>, Error> {
        self.to_bytes().map(|b| b.to_vec())
    }
    fn reference(blob: &[u8]) -> Result<(u8, Vec<u8>), codec::DecodeError> {
        StoreBlob::decode(blob).map(|(v, s)| (v, s.encode_v3()))
    }
}

pub(crate) fn saved<T: State>(s: &T, what: &str) -> Result<Vec<u8>, TestCaseError> {
    s.save()
        .map_err(|e| TestCaseError::fail(format!("{what}: to_bytes failed: {e:?}")))
}

/// (a)/(b): the object's bytes decode, to an object with the same bytes; with `input`, they are
/// those bytes.
pub(crate) fn check_saved<T: State>(
    s: &T,
    input: Option<&[u8]>,
    what: &str,
) -> Result<(), TestCaseError> {
    let bytes = saved(s, what)?;
    if let Some(input) = input {
        let msg = "to_bytes() of the loaded object is not the blob (or its migration)";
        prop_assert!(bytes == input, "{}: {}", what, msg);
    }
    match T::load(&bytes) {
        Ok(again) => prop_assert!(saved(&again, what)? == bytes, "{}: not a fixed point", what),
        Err(e) => prop_assert!(false, "{}: to_bytes() does not decode: {:?}", what, e),
    }
    Ok(())
}

/// (b) after a call: the state saves and decodes to the same bytes; after a failed or read-only
/// call (`before` given), it is unchanged (§6.6).
pub(crate) fn check_after<T: State>(
    s: &T,
    before: Option<&Vec<u8>>,
    what: &str,
) -> Result<(), TestCaseError> {
    if let Some(before) = before {
        let after = saved(s, what)?;
        prop_assert!(
            after == *before,
            "{}: a failed or read-only call changed it",
            what
        );
    }
    check_saved(s, None, what)
}

/// (d) and (a): loads `blob` if the library and SPEC.md's rules both accept it (fails if only one
/// does), and checks that it saves as `blob` (version 3) or as the reference's migration of it
/// (older versions). Returns the object and the version read.
pub(crate) fn load<T: State>(blob: &[u8], what: &str) -> Result<Option<(T, u8)>, TestCaseError> {
    let (lib, reference) = (T::load(blob), T::reference(blob));
    let (l, r) = (lib.as_ref().err(), reference.as_ref().err());
    let msg = format!("{what}: the library says {l:?}, SPEC.md's rules {r:?}");
    prop_assert_eq!(l.is_none(), r.is_none(), "{}", msg);
    let (Ok(s), Ok((v, migrated))) = (lib, reference) else {
        return Ok(None);
    };
    let expected = if v == 3 { blob.to_vec() } else { migrated };
    check_saved(&s, Some(&expected), what)?;
    Ok(Some((s, v)))
}

/// What a forged blob did once loaded: the version read, the authentic messages (or X3DH runs)
/// that opened after the load, and how many of them opened a second time (counted where (c) is
/// not asserted).
pub(crate) type Loaded = (u8, usize, usize);

/// What a property run did: cases, blobs loaded per version read, openings, replays.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) total: u32,
    pub(crate) loaded: [u32; 4],
    pub(crate) opened: usize,
    pub(crate) replays: usize,
}

/// Runs `test` over `strategy` with the shared configuration (fixed seed, `cases` cases unless
/// overridden) and panics with the minimal failing input. `test` returns `None` for a refused
/// blob. The statistics let each property show that it is not vacuous.
pub(crate) fn check<S>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<Option<Loaded>, TestCaseError>,
) -> Stats
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    use std::cell::RefCell;
    let stats = RefCell::new(Stats::default());
    let mut runner = proptest::test_runner::TestRunner::new(common::proptest_config(cases));
    let result = runner.run(&strategy, |value| {
        let outcome = test(value)?;
        let mut s = stats.borrow_mut();
        s.total += 1;
        if let Some((version, opened, replays)) = outcome {
            s.loaded[usize::from(version)] += 1;
            (s.opened, s.replays) = (s.opened + opened, s.replays + replays);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let s = stats.into_inner();
    let [_, v1, v2, v3] = s.loaded;
    eprintln!(
        "{name}: {} cases; loaded {v3} v3, {v2} v2, {v1} v1; {} openings after load, {} replays",
        s.total, s.opened, s.replays
    );
    s
}
