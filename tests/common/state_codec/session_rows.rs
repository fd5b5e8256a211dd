//! §10.3 rows 9, 10, 16 and 17 of the session: the timer, the limits and the two lists, with
//! their decode rules in SPEC.md's order.

use super::*;

/// Row 9; ORDER (the library's choice): the start byte is checked as it is read, "duration 0
/// with start on-read" once the whole timer is read.
pub(super) fn read_timer(r: &mut Rd<'_>) -> Result<Timer, DecodeError> {
    let duration_s = r.u32()?;
    let start = r.u8()?;
    if start > 1 {
        return Err(NC);
    }
    let t = Timer {
        duration_s,
        start,
        version: r.u32()?,
    };
    if t.duration_s == 0 && t.start == 1 {
        Err(NC)
    } else {
        Ok(t)
    }
}

/// Row 10; ORDER (the library's choice): the four values are read, then checked.
pub(super) fn read_limits(r: &mut Rd<'_>) -> Result<[u32; 4], DecodeError> {
    let limits = [r.u32()?, r.u32()?, r.u32()?, r.u32()?];
    if limits.iter().any(|l| !(1..=CEILING).contains(l)) || limits[0] > limits[1] {
        Err(NC)
    } else {
        Ok(limits)
    }
}

/// Rows 16–17: each count is checked against its limit as soon as it is read (every version);
/// the entries once the blob is read (`check_lists`).
pub(super) fn read_lists(
    r: &mut Rd<'_>,
    o: &mut Open,
    limits: &[u32; 4],
    v: u8,
) -> Result<(), DecodeError> {
    let n_old = r.u32()?;
    if n_old > limits[2] {
        return Err(NC);
    }
    for _ in 0..n_old {
        o.old.push(r.xkey()?);
    }
    let n_skipped = r.u32()?;
    if n_skipped > limits[1] {
        return Err(NC);
    }
    for _ in 0..n_skipped {
        let (key, n, stamp) = (r.xkey()?, r.u32()?, r.u32()?);
        let (at, mk) = (u64::from_be_bytes(r.arr()?), r.arr()?);
        // Version 1's u64 is a purge deadline `D`, read as `D − 2 · MAX_CLOCK_SKEW`.
        let v1 = v == 0x01 && at != u64::MAX;
        let skipped_at = if v1 {
            at.saturating_sub(2 * MAX_CLOCK_SKEW)
        } else {
            at
        };
        o.skipped.push(Skipped {
            key,
            n,
            stamp,
            skipped_at,
            mk,
        });
    }
    Ok(())
}

/// Rows 16–17, "checked once the blob is read", in SPEC's order (every failure is
/// `NonCanonical`); ORDER (the library's choice): before the end of the body is checked.
pub(super) fn check_lists(o: &Open, limits: &[u32; 4]) -> Result<(), DecodeError> {
    let old_bad = |(i, k): (usize, &K32)| *k == o.dhr || o.old[..i].contains(k);
    if o.old.iter().enumerate().any(old_bad) {
        return Err(NC);
    }
    // Row 16: our sending key is neither DHr nor an old key.
    if let Some(send) = &o.send
        && (send.dhs.public == o.dhr || o.old.contains(&send.dhs.public))
    {
        return Err(NC);
    }
    let mut last_age = 0;
    for (i, e) in o.skipped.iter().enumerate() {
        let current = e.key == o.dhr && e.n < o.nr;
        let age = o.received.wrapping_sub(e.stamp);
        if e.n == u32::MAX
            || (!current && !o.old.contains(&e.key))
            || o.skipped[..i].iter().any(|x| x.key == e.key && x.n == e.n)
            || (i > 0 && age > last_age)
            || age > limits[3]
        {
            return Err(NC);
        }
        last_age = age;
    }
    Ok(())
}
