//! The structured edits of a session blob (SPEC.md §10.3 rows), its byte patches and the
//! versions it is written in, with their strategies.

use proptest::prelude::*;

use crate::common::state_codec::{self as codec, K32, Legacy, Phase};
use crate::support::{B, K, ListEdit, NOW, V, b, k, list_edit, v};

/// A forged identity field.
#[derive(Clone, Debug)]
pub(crate) enum Id {
    /// The blob's other identity (both fields the same key).
    Other,
    /// Someone else's valid key.
    Valid(u8),
    /// `A + T` for the field's real key `A`: decompresses, outside the prime-order subgroup.
    Torsion(usize),
    /// A small-order point.
    SmallOrder(usize),
    /// Random bytes (half of them do not decompress).
    Random(K32),
}

fn identity() -> impl Strategy<Value = Id> {
    prop_oneof![
        1 => Just(Id::Other),
        1 => any::<u8>().prop_map(Id::Valid),
        2 => any::<usize>().prop_map(Id::Torsion),
        1 => any::<usize>().prop_map(Id::SmallOrder),
        1 => any::<K32>().prop_map(Id::Random),
    ]
}

/// An edit of the sending chain (phase 0x00's, or the open phase's unless pending).
#[derive(Clone, Debug)]
pub(crate) enum SendEdit {
    /// The `DHs` secret := bytes, clamped.
    Secret(B),
    /// The `DHs` secret in an unclamped encoding of the same key (refused in versions 2–3).
    Unclamp(u8),
    /// A stored public key that is not the secret's (SPEC.md §10.0).
    Public(K),
    Ck(B),
    N(V),
}

/// An edit of a skipped entry (row 17).
#[derive(Clone, Debug)]
pub(crate) enum EntryEdit {
    N(V),
    Stamp(V),
    SkippedAt(u64),
    Key(K),
    Mk(B),
}

/// Byte patches for what the data model cannot express.
#[derive(Clone, Debug)]
pub(crate) enum SPatch {
    /// Phase byte (version 3) or role byte (versions 1–2).
    Phase(u8),
    /// The acknowledged flag of versions 1–2.
    Ack(u8),
    CtxLen(u16),
    OtpkFlag(u8),
    OldCount(V),
    SkippedCount(V),
    Trailing(u8),
}

/// A structured edit of a session (SPEC.md §10.3 rows).
#[derive(Clone, Debug)]
pub(crate) enum SMut {
    /// Row 1 set, the parts kept: `AwaitingReply` over open parts, or the reverse, disagree.
    Phase(Phase),
    /// 0x01 ↔ 0x02 with the identities swapped: the associated data stays the same.
    FlipSwap,
    /// Drops the receiving side: phase 0x00 with the sending chain (for a pending side, one made
    /// of the receiving chain's bytes).
    ToOpening,
    /// Phase 0x01 from an opening initiator: a receiving chain made of bytes, and its sending
    /// chain or none.
    ToOpen(K, B, V, bool),
    /// The remote (`true`) or local identity.
    Identity(bool, Id),
    CtxByte(usize),
    Base(K),
    Otpk(Option<V>),
    SpkId(V),
    Limit(u8, V),
    Timer(V, u8, V),
    Rk(B),
    Send(SendEdit),
    Dhr(K),
    Ckr(B),
    Nr(V),
    /// The receiving chain := the sending chain (`DHr ‖ CKr ‖ Nr` := `DHs` public ‖ `CKs` ‖ `Ns`,
    /// phase 0x01 for an opening initiator): the session's own messages, reflected, would open.
    Mirror,
    /// Drops the sending chain (and its secret): pending.
    Pending,
    /// Gives a pending side a sending chain made of bytes (secret clamped, any public key).
    Unpend(B, K, B, V),
    Pn(V),
    Received(V),
    Old(ListEdit),
    /// A key pushed at the front (`true`) or the back of `old`.
    OldPush(K, bool),
    OldSet(usize, K),
    Skipped(ListEdit),
    Entry(usize, EntryEdit),
    SkPush(K, V, V),
    /// Walks the real receiving chain `k` steps: stores the keys as skipped entries or not, and
    /// advances `Nr`/`CKr` past them or not (stored and not advanced is the audit's replay).
    AdvanceRecv {
        k: u8,
        store: bool,
        bump: bool,
    },
    /// The chain that the blob's `RK` and `DHs` derive for a peer ratchet key it has not seen (as
    /// path D would), planted as `n` real skipped keys: mode 0/1 with the key at the front/back of
    /// `old`, 2 under no known key (refused), 3 as the current chain, 4 as path D leaves it (root
    /// key advanced, sending side pending). Computes keys from the blob's secrets.
    PlantDerived {
        key: usize,
        n: u8,
        mode: u8,
    },
    Patch(SPatch),
}

fn spatch() -> impl Strategy<Value = SPatch> {
    let ctx = prop_oneof![
        Just(0u16),
        Just(1),
        Just(24),
        Just(25),
        Just(1024),
        Just(1025)
    ];
    prop_oneof![
        2 => prop_oneof![0u8..=3, Just(0xFF)].prop_map(SPatch::Phase),
        1 => prop_oneof![0u8..=2, Just(0xFF)].prop_map(SPatch::Ack),
        1 => ctx.prop_map(SPatch::CtxLen),
        1 => (0u8..=2).prop_map(SPatch::OtpkFlag),
        1 => v().prop_map(SPatch::OldCount),
        1 => v().prop_map(SPatch::SkippedCount),
        1 => any::<u8>().prop_map(SPatch::Trailing),
    ]
}

/// Edits that move, repeat or change the blob's bytes without computing keys from its secrets —
/// except `AdvanceRecv` and `PlantDerived` modes 2–4, made harmless by the decoder's rules or
/// by the ratchet's own steps; with `derived`, also modes 0–1 (the known limit).
pub(crate) fn smut(derived: bool) -> impl Strategy<Value = SMut> {
    let phase = prop_oneof![
        Just(Phase::AwaitingReply),
        Just(Phase::Acknowledged),
        Just(Phase::Responder)
    ];
    let send = prop_oneof![
        1 => b().prop_map(SendEdit::Secret),
        1 => any::<u8>().prop_map(SendEdit::Unclamp),
        2 => k().prop_map(SendEdit::Public),
        1 => b().prop_map(SendEdit::Ck),
        2 => v().prop_map(SendEdit::N),
    ];
    let skipped_at = prop_oneof![
        Just(0u64),
        Just(NOW),
        Just(2 * codec::MAX_CLOCK_SKEW),
        Just(u64::MAX - 1),
        Just(u64::MAX),
        any::<u64>()
    ];
    let entry = prop_oneof![
        3 => v().prop_map(EntryEdit::N),
        3 => v().prop_map(EntryEdit::Stamp),
        1 => skipped_at.prop_map(EntryEdit::SkippedAt),
        3 => k().prop_map(EntryEdit::Key),
        1 => b().prop_map(EntryEdit::Mk),
    ];
    let modes = if derived { 0u8..5 } else { 2u8..5 };
    let ix = any::<usize>;
    prop_oneof![
        2 => phase.prop_map(SMut::Phase),
        1 => Just(SMut::FlipSwap),
        1 => Just(SMut::ToOpening),
        1 => (k(), b(), v(), any::<bool>()).prop_map(|(d, c, n, s)| SMut::ToOpen(d, c, n, s)),
        3 => (any::<bool>(), identity()).prop_map(|(r, id)| SMut::Identity(r, id)),
        1 => ix().prop_map(SMut::CtxByte),
        1 => k().prop_map(SMut::Base),
        1 => prop::option::of(v()).prop_map(SMut::Otpk),
        1 => v().prop_map(SMut::SpkId),
        3 => (0u8..4, v()).prop_map(|(i, x)| SMut::Limit(i, x)),
        2 => (v(), 0u8..=2, v()).prop_map(|(d, s, x)| SMut::Timer(d, s, x)),
        1 => b().prop_map(SMut::Rk),
        7 => send.prop_map(SMut::Send),
        2 => k().prop_map(SMut::Dhr),
        1 => b().prop_map(SMut::Ckr),
        3 => v().prop_map(SMut::Nr),
        1 => Just(SMut::Mirror),
        2 => Just(SMut::Pending),
        2 => (b(), k(), b(), v()).prop_map(|(s, p, c, n)| SMut::Unpend(s, p, c, n)),
        2 => v().prop_map(SMut::Pn),
        3 => v().prop_map(SMut::Received),
        3 => list_edit().prop_map(SMut::Old),
        2 => (k(), any::<bool>()).prop_map(|(x, f)| SMut::OldPush(x, f)),
        2 => (ix(), k()).prop_map(|(i, x)| SMut::OldSet(i, x)),
        6 => list_edit().prop_map(SMut::Skipped),
        11 => (ix(), entry).prop_map(|(i, e)| SMut::Entry(i, e)),
        2 => (k(), v(), v()).prop_map(|(x, n, s)| SMut::SkPush(x, n, s)),
        4 => (0u8..6, any::<bool>(), any::<bool>())
            .prop_map(|(k, store, bump)| SMut::AdvanceRecv { k, store, bump }),
        3 => (ix(), 0u8..4, modes).prop_map(|(key, n, mode)| SMut::PlantDerived { key, n, mode }),
        4 => spatch().prop_map(SMut::Patch),
    ]
}

/// What versions 1–2 held beyond today's object (SPEC.md §10.3): a pending side's old `DHs`
/// secret and an opening initiator's `DHr` (the signed prekey's public key).
pub(crate) fn legacy(pending_dhs: K32, opening_dhr: K32) -> Legacy {
    Legacy {
        pending_dhs,
        opening_dhr,
    }
}

/// A stand-in for the signed prekey an opening initiator of versions 1–2 stored as `DHr`: a key
/// of its own, as in a real blob (reading drops it).
pub(crate) fn spk_b() -> K32 {
    codec::x25519_public(&[0x5B; 32])
}

/// The version a forged session is written in, with what versions 1–2 held beyond today's
/// object: the pending side's old `DHs` secret (clamped; in version 1 unclamped, with the
/// sending secret too, when a variant is given).
#[derive(Clone, Debug)]
pub(crate) enum Form {
    V3,
    V2(K32),
    V1(K32, Option<u8>),
}

pub(crate) fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        6 => Just(Form::V3),
        2 => any::<K32>().prop_map(Form::V2),
        2 => (any::<K32>(), prop::option::of(any::<u8>())).prop_map(|(p, u)| Form::V1(p, u)),
    ]
}
