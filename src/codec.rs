//! Canonical big-endian reader and writer shared by the wire and state formats (SPEC.md §2).
//!
//! The reader never panics: every read checks the remaining length and returns
//! [`DecodeError::Truncated`]. Fixed-width integers and explicit 0/1 flags leave exactly one
//! encoding per value.

use alloc::vec::Vec;

use crate::error::DecodeError;

pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A version byte that must equal `expected` ([`DecodeError::UnknownVersion`] otherwise).
    pub(crate) fn version(&mut self, expected: u8) -> Result<(), DecodeError> {
        match self.u8()? {
            v if v == expected => Ok(()),
            v => Err(DecodeError::UnknownVersion(v)),
        }
    }

    /// A presence flag: exactly 0x00 or 0x01.
    pub(crate) fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::NonCanonical),
        }
    }

    /// Everything that is left (used for a trailing ciphertext).
    /// How many bytes are left (to bound a reservation by what the input can actually hold).
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// Writer helpers on `Vec<u8>`; writing cannot fail.
pub(crate) trait Writer {
    fn put(&mut self, bytes: &[u8]);
    fn put_u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    fn put_u16(&mut self, v: u16) {
        self.put(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.put(&v.to_be_bytes());
    }
    fn put_flag(&mut self, v: bool) {
        self.put_u8(u8::from(v));
    }
}

impl Writer for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_rejects_short_input_and_bad_flags() {
        let mut r = Reader::new(&[0, 1]);
        assert_eq!(r.u32(), Err(DecodeError::Truncated));
        let mut r = Reader::new(&[2]);
        assert_eq!(r.flag(), Err(DecodeError::NonCanonical));
        let mut r = Reader::new(&[1, 9]);
        assert_eq!(r.flag(), Ok(true));
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn integers_are_big_endian() {
        let mut v = Vec::new();
        v.put_u16(0x0102);
        v.put_u32(0x0304_0506);
        v.put_u64(0x0708_090a_0b0c_0d0e);
        assert_eq!(v, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
        let mut r = Reader::new(&v);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u32(), Ok(0x0304_0506));
        assert_eq!(r.u64(), Ok(0x0708_090a_0b0c_0d0e));
        assert_eq!(r.finish(), Ok(()));
    }
}
