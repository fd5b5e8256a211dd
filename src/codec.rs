//! Canonical big-endian reader and writer shared by the wire and state formats (SPEC.md §2),
//! and the [`Codec`] trait through which each type encodes and decodes its own bytes.
//!
//! The reader never panics: every read checks the remaining length and returns
//! [`DecodeError::Truncated`]. Fixed-width integers and explicit 0/1 flags leave exactly one
//! encoding per value. A length that does not fit its field is [`Error::TooLarge`], never a
//! silently shortened count.

use alloc::vec::Vec;

use crate::error::{DecodeError, Error};

/// A value with one canonical byte encoding (in the spirit of rustls' `Codec`). Each type owns
/// its layout, which SPEC.md gives field by field; containers call their parts' codecs.
pub(crate) trait Codec: Sized {
    /// The exact length `encode` appends: buffers that hold secrets are allocated once at their
    /// final size, so no reallocation leaves an unwiped copy behind.
    fn encoded_len(&self) -> usize;

    /// Appends the encoding.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if a length does not fit its field.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error>;

    /// Reads one value, strictly.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

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

    /// How many bytes are left (to bound a reservation by what the input can actually hold).
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Everything that is left (used for a trailing ciphertext).
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
    /// A length or count in a one-byte field.
    fn put_len_u8(&mut self, n: usize) -> Result<(), Error> {
        self.put_u8(u8::try_from(n).map_err(|_| Error::TooLarge)?);
        Ok(())
    }
    /// A length or count in a two-byte field.
    fn put_len_u16(&mut self, n: usize) -> Result<(), Error> {
        self.put_u16(u16::try_from(n).map_err(|_| Error::TooLarge)?);
        Ok(())
    }
    /// A length or count in a four-byte field.
    fn put_len_u32(&mut self, n: usize) -> Result<(), Error> {
        self.put_u32(u32::try_from(n).map_err(|_| Error::TooLarge)?);
        Ok(())
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
    fn lengths_that_do_not_fit_are_errors() {
        let mut v = Vec::new();
        assert_eq!(v.put_len_u8(256), Err(Error::TooLarge));
        assert_eq!(v.put_len_u16(1 << 16), Err(Error::TooLarge));
        assert_eq!(v.put_len_u16(0xFFFF), Ok(()));
        assert_eq!(v, [0xFF, 0xFF]);
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
