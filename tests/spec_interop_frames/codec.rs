//! §2: the decode errors and a strict reader.

use crate::prim;

/// §11.1, spelled as the library's `Debug` prints it so errors compare as strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    TrailingBytes,
    UnknownVersion(u8),
    UnknownType(u8),
    NonCanonical,
    InvalidKey,
    TooLarge,
    ChecksumMismatch,
}

use DecodeError::{InvalidKey, NonCanonical, TrailingBytes, Truncated};

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(Truncated)?;
        self.pos = end;
        Ok(out)
    }

    pub fn arr<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.arr()?))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.arr()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.arr()?))
    }

    /// §2 rule 2.
    pub fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(NonCanonical),
        }
    }

    /// §2 rule 3.
    pub fn x25519_key(&mut self) -> Result<[u8; 32], DecodeError> {
        let k = self.arr()?;
        if prim::x25519_canonical(&k) {
            Ok(k)
        } else {
            Err(InvalidKey)
        }
    }

    /// §2 rule 4.
    pub fn ed25519_key(&mut self) -> Result<[u8; 32], DecodeError> {
        let k = self.arr()?;
        if prim::ed25519_canonical(&k) {
            Ok(k)
        } else {
            Err(InvalidKey)
        }
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// §2 rule 5.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(TrailingBytes)
        }
    }
}
