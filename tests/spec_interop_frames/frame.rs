//! §8: the content frame, Padmé, timers and deadlines.

use crate::codec::DecodeError::{self, NonCanonical, TooLarge, UnknownType, UnknownVersion};
use crate::codec::Reader;

pub const CONTENT_VERSION: u8 = 0x01;
pub const HEADER_LEN: usize = 23;
pub const MIN_PADDED_LEN: usize = 256;
/// "A frame whose padded length exceeds 2^20 cannot be sent".
pub const MAX_FRAME_LEN: usize = 1 << 20;
pub const MAX_CLOCK_SKEW_MS: u64 = 300_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    OnSend,
    OnRead,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    pub duration_s: u32,
    pub start: Start,
    pub version: u32,
}

impl Timer {
    /// §8.1: a new session's timer.
    pub const OFF: Timer = Timer {
        duration_s: 0,
        start: Start::OnSend,
        version: 0,
    };

    /// §8.1: "a timer with duration_s = 0 MUST have start 0x00".
    pub fn is_canonical(&self) -> bool {
        !(self.duration_s == 0 && self.start == Start::OnRead)
    }

    /// `duration_s u32 ‖ start u8 ‖ version u32` (§8.2 offsets 10..19, §10.3 field 10a).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.duration_s.to_be_bytes());
        out.push(match self.start {
            Start::OnSend => 0x00,
            Start::OnRead => 0x01,
        });
        out.extend_from_slice(&self.version.to_be_bytes());
    }

    /// GUESS (§8.1/§8.2): the "off must be on-send" rule is `NonCanonical` and is checked
    /// once the whole timer (including its version) has been read.
    pub fn read(r: &mut Reader<'_>) -> Result<Timer, DecodeError> {
        let duration_s = r.u32()?;
        let start = match r.u8()? {
            0x00 => Start::OnSend,
            0x01 => Start::OnRead,
            _ => return Err(NonCanonical),
        };
        let version = r.u32()?;
        let t = Timer {
            duration_s,
            start,
            version,
        };
        if t.is_canonical() {
            Ok(t)
        } else {
            Err(NonCanonical)
        }
    }

    /// §8.4: `rank = (duration_s = 0 ? 2^32 : duration_s, start)`.
    pub fn rank(&self) -> (u64, u8) {
        let d = if self.duration_s == 0 {
            1u64 << 32
        } else {
            u64::from(self.duration_s)
        };
        (
            d,
            match self.start {
                Start::OnSend => 0,
                Start::OnRead => 1,
            },
        )
    }

    /// §8.4.
    pub fn supersedes(&self, current: &Timer) -> bool {
        self.version > current.version
            || (self.version == current.version && self.rank() < current.rank())
    }

    /// §8.5: the effective timer is the one of lower rank. GUESS: on equal rank (same
    /// duration and start, so the same deadline) `a` is returned.
    pub fn more_private(a: &Timer, b: &Timer) -> Timer {
        if b.rank() < a.rank() { *b } else { *a }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Message,
    TimerUpdate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub sent_at_ms: u64,
    pub timer: Timer,
    pub body: Vec<u8>,
}

/// Padmé (Nikitin et al.): for `L ≥ 2`, `E = ⌊log2 L⌋`, `S = ⌊log2 E⌋ + 1`, round `L` up to a
/// multiple of `2^(E−S)`.
pub fn padme(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = 63 - u64::from(len.leading_zeros());
    let s = 63 - u64::from(e.leading_zeros()) + 1;
    let unit = 1u64 << (e - s);
    len.div_ceil(unit) * unit
}

/// `pad(L) = max(256, padme(L))`.
pub fn pad(len: usize) -> usize {
    (padme(len as u64) as usize).max(MIN_PADDED_LEN)
}

/// Encoding. GUESS (§8.1, §8.2): an off timer saying on-read and a timer update with a body
/// are refused with `NonCanonical` (what decoding would say); a padded frame over 2^20 bytes
/// is `TooLarge`, checked after those two.
pub fn encode(f: &Frame) -> Result<Vec<u8>, DecodeError> {
    if !f.timer.is_canonical() {
        return Err(NonCanonical);
    }
    if f.kind == Kind::TimerUpdate && !f.body.is_empty() {
        return Err(NonCanonical);
    }
    let padded = pad(HEADER_LEN + f.body.len());
    if padded > MAX_FRAME_LEN {
        return Err(TooLarge);
    }
    let mut out = Vec::with_capacity(padded);
    out.push(CONTENT_VERSION);
    out.push(match f.kind {
        Kind::Message => 0x01,
        Kind::TimerUpdate => 0x02,
    });
    out.extend_from_slice(&f.sent_at_ms.to_be_bytes());
    f.timer.encode(&mut out);
    out.extend_from_slice(&(f.body.len() as u32).to_be_bytes());
    out.extend_from_slice(&f.body);
    out.resize(padded, 0);
    Ok(out)
}

/// Strict decoding (§8.2): a frame longer than 2^20 bytes is `TooLarge` before anything is
/// read; then the fields in order (§2 rule 7); then a timer update's non-empty body, the
/// padded length and the zero padding, each `NonCanonical`.
pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
    if bytes.len() > MAX_FRAME_LEN {
        return Err(TooLarge);
    }
    let mut r = Reader::new(bytes);
    let version = r.u8()?;
    if version != CONTENT_VERSION {
        return Err(UnknownVersion(version));
    }
    let kind = match r.u8()? {
        0x01 => Kind::Message,
        0x02 => Kind::TimerUpdate,
        t => return Err(UnknownType(t)),
    };
    let sent_at_ms = r.u64()?;
    let timer = Timer::read(&mut r)?;
    let b = r.u32()? as usize;
    let body = r.take(b)?.to_vec();
    if kind == Kind::TimerUpdate && !body.is_empty() {
        return Err(NonCanonical);
    }
    let padding = r.rest();
    if bytes.len() != pad(HEADER_LEN + b) || padding.iter().any(|&x| x != 0) {
        return Err(NonCanonical);
    }
    Ok(Frame {
        kind,
        sent_at_ms,
        timer,
        body,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    Never,
    At(u64),
    AfterRead(u64),
}

/// §8.5 for the given (effective) timer; `None` = rejected as expired on arrival.
pub fn deadline(sent_at_ms: u64, timer: &Timer, now_ms: u64) -> Option<Deadline> {
    if timer.duration_s == 0 {
        return Some(Deadline::Never);
    }
    let duration_ms = u64::from(timer.duration_s) * 1000;
    match timer.start {
        Start::OnRead => Some(Deadline::AfterRead(duration_ms)),
        Start::OnSend => {
            let sent = sent_at_ms.min(now_ms.saturating_add(MAX_CLOCK_SKEW_MS));
            let delete_at = sent.saturating_add(duration_ms);
            if now_ms > delete_at.saturating_add(MAX_CLOCK_SKEW_MS) {
                None
            } else {
                Some(Deadline::At(delete_at))
            }
        }
    }
}

/// GUESS (§8.5 names `Deadline::after_read` but defines it only for on-read): `AfterRead(d)`
/// becomes `At(read_at + d)` (saturating); `Never` and `At` are returned unchanged.
pub fn after_read(d: Deadline, read_at_ms: u64) -> Deadline {
    match d {
        Deadline::AfterRead(ms) => Deadline::At(read_at_ms.saturating_add(ms)),
        other => other,
    }
}

/// §8.6: whether `purge(now)` deletes a key skipped at `skipped_at_ms`, under `current`,
/// the session's timer at the time of the purge (on-send or on-read alike): `C.duration_s > 0`
/// and `skipped_at ≠ 2^64 − 1` and `now > skipped_at + C.duration_s · 1000 + 2 · skew`, all
/// additions saturating.
pub fn purgeable(skipped_at_ms: u64, current: &Timer, now_ms: u64) -> bool {
    current.duration_s > 0
        && skipped_at_ms != u64::MAX
        && now_ms
            > skipped_at_ms
                .saturating_add(u64::from(current.duration_s) * 1000)
                .saturating_add(2 * MAX_CLOCK_SKEW_MS)
}
