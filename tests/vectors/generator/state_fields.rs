//! Persisted state read through the shared reference codec (tests/common/state_codec/,
//! SPEC.md §10.2, §10.3): strict decoding of the blobs the library wrote, accessors over the
//! session's phases, and the decoded fields that state.json lists.

use super::json::{Json, Obj, big, hex_list, hx};
use super::primitives::x25519_public;
use super::state_codec::{Open, Phase, Ratchet, SessionBlob, Skipped, StoreBlob, VERSION};

/// Decodes a session blob that the library wrote, with the shared reference codec
/// (tests/common/state_codec/): it must be of the version written today and re-encode to the
/// same bytes.
pub fn parse_session(blob: &[u8]) -> SessionBlob {
    let (version, s) = SessionBlob::decode(blob).expect("a session blob");
    assert_eq!(version, VERSION, "the version written");
    assert_eq!(s.encode_v3(), blob, "decoder and encoder agree");
    s
}

/// Decodes a prekey-store blob that the library wrote, as [`parse_session`] does; every stored
/// public key is that of its secret.
pub fn parse_store(blob: &[u8]) -> StoreBlob {
    let (version, s) = StoreBlob::decode(blob).expect("a store blob");
    assert_eq!(version, VERSION, "the version written");
    let signed = s.signed.iter().map(|k| &k.key);
    for key in signed.chain(s.one_time.iter().map(|k| &k.key)) {
        assert_eq!(key.public, x25519_public(key.secret), "stored public key");
    }
    assert_eq!(s.encode_v3(), blob, "decoder and encoder agree");
    s
}

/// `DHr`, absent in the opening phase.
pub fn dhr(s: &SessionBlob) -> Option<[u8; 32]> {
    s.open().map(|o| o.dhr)
}

/// (CKs, Ns), unless the sending side is pending.
pub fn send_chain(s: &SessionBlob) -> Option<([u8; 32], u32)> {
    s.sending().map(|c| (c.ck, c.n))
}

/// (CKr, Nr), absent in the opening phase.
pub fn recv_chain(s: &SessionBlob) -> Option<([u8; 32], u32)> {
    s.open().map(|o| (o.ckr, o.nr))
}

/// `PN`: 0 in the opening phase.
pub fn pn(s: &SessionBlob) -> u32 {
    s.open().map_or(0, |o| o.pn)
}

/// The stored skipped keys: none in the opening phase.
pub fn skipped(s: &SessionBlob) -> &[Skipped] {
    s.open().map_or(&[], |o| &o.skipped)
}

/// The open phase's parts of a session known to be past its opening phase.
pub fn open_mut(s: &mut SessionBlob) -> &mut Open {
    match &mut s.ratchet {
        Ratchet::Open(o) => o,
        Ratchet::Opening(_) => panic!("a session in its opening phase"),
    }
}

pub(super) fn timer_start_name(start: u8) -> &'static str {
    match start {
        0 => "on_send",
        1 => "on_read",
        _ => "invalid",
    }
}

pub(super) fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::AwaitingReply => "awaiting_reply",
        Phase::Acknowledged => "acknowledged",
        Phase::Responder => "responder",
    }
}

/// The decoded fields of a session blob, for state.json.
pub fn session_fields(s: &SessionBlob) -> Json {
    let open = s.open().cloned().unwrap_or_default();
    Obj::new()
        .f("phase", phase_name(s.phase))
        .f("local_identity", hx(s.local))
        .f("remote_identity", hx(s.remote))
        .f("context", hx(&s.context))
        .f("base_key", hx(s.base))
        .f("signed_prekey_id", s.spk_id)
        .f("one_time_prekey_id", s.opk_id)
        .f(
            "timer",
            Obj::new()
                .f("duration_s", s.timer.duration_s)
                .f("start", timer_start_name(s.timer.start))
                .f("version", s.timer.version),
        )
        .f(
            "limits",
            Obj::new()
                .f("max_skip", s.limits[0])
                .f("max_skipped_keys", s.limits[1])
                .f("max_old_chains", s.limits[2])
                .f("max_skipped_key_age", s.limits[3]),
        )
        .f("root_key", hx(s.rk))
        .f(
            "send",
            s.sending().map_or(Json::Null, |c| {
                Obj::new()
                    .f("dhs_secret", hx(c.dhs.secret))
                    .f("dhs_public", hx(c.dhs.public))
                    .f("chain_key", hx(c.ck))
                    .f("n", c.n)
                    .into()
            }),
        )
        .f(
            "recv",
            s.open().map_or(Json::Null, |o| {
                Obj::new()
                    .f("dhr", hx(o.dhr))
                    .f("chain_key", hx(o.ckr))
                    .f("n", o.nr)
                    .into()
            }),
        )
        .f("pn", open.pn)
        .f("received", open.received)
        .f("old_ratchet_keys", hex_list(&open.old))
        .f(
            "skipped",
            Json::Array(
                open.skipped
                    .iter()
                    .map(|e| {
                        Obj::new()
                            .f("ratchet_key", hx(e.key))
                            .f("n", e.n)
                            .f("stamp", e.stamp)
                            .f("skipped_at_ms", big(e.skipped_at))
                            .f("message_key", hx(e.mk))
                            .into()
                    })
                    .collect(),
            ),
        )
        .into()
}

/// The decoded fields of a prekey-store blob, for state.json.
pub fn store_fields(s: &StoreBlob) -> Json {
    Obj::new()
        .f("next_signed_id", s.next_signed_id)
        .f("next_one_time_id", s.next_one_time_id)
        .f(
            "signed_prekeys",
            Json::Array(
                s.signed
                    .iter()
                    .map(|k| {
                        Obj::new()
                            .f("id", k.id)
                            .f("created_at", big(k.created_at))
                            .f("secret", hx(k.key.secret))
                            .f("public", hx(k.key.public))
                            .f("signature", hx(k.signature))
                            .f("accepted_first_messages", hex_list(&k.accepted))
                            .into()
                    })
                    .collect(),
            ),
        )
        .f(
            "one_time_prekeys",
            Json::Array(
                s.one_time
                    .iter()
                    .map(|k| {
                        Obj::new()
                            .f("id", k.id)
                            .f("secret", hx(k.key.secret))
                            .f("public", hx(k.key.public))
                            .into()
                    })
                    .collect(),
            ),
        )
        .into()
}
