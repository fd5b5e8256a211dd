//! The boundary's plumbing: owned byte buffers, the panic guard, pointer checks, the OS RNG.

use core::ptr;
use std::panic::{AssertUnwindSafe, catch_unwind};

use getrandom::SysRng;
use rand_core::UnwrapErr;
use zeroize::Zeroize;

use crate::error::{Fail, INVALID, NULL, XC_ERR_PANIC, XC_OK};

/// Length of every public key and seed that crosses the ABI as a fixed array.
pub const XC_KEY_LEN: usize = 32;

/// Bytes returned by the library. The library owns the memory until the caller passes the
/// buffer to `xc_buffer_free` (exactly once). An empty result is `{ NULL, 0 }`.
///
/// Functions that fill an `XcBuffer` first set it to `{ NULL, 0 }`, so after an error there is
/// nothing to free (freeing it anyway is harmless).
#[repr(C)]
#[derive(Debug)]
pub struct XcBuffer {
    /// The first byte, or NULL when `len` is 0.
    pub ptr: *mut u8,
    /// The number of bytes.
    pub len: usize,
}

impl XcBuffer {
    pub(crate) const EMPTY: Self = Self {
        ptr: ptr::null_mut(),
        len: 0,
    };

    /// A buffer holding a copy of `bytes`, allocated at exactly its length so that
    /// `xc_buffer_free` can rebuild the allocation from `ptr` and `len`.
    pub(crate) fn copy_of(bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            return Self::EMPTY;
        }
        let boxed: Box<[u8]> = Box::from(bytes);
        let len = boxed.len();
        Self {
            ptr: Box::into_raw(boxed).cast::<u8>(),
            len,
        }
    }
}

/// Frees a buffer returned by the library: zeroes its bytes (they may be secret: saved state,
/// decrypted text), releases them and resets the buffer to `{ NULL, 0 }`, so a second call is a
/// no-op. A NULL `buffer`, or one holding `{ NULL, 0 }`, is ignored.
///
/// # Safety
/// `buffer` is NULL or points to an `XcBuffer` that is `{ NULL, 0 }` or was filled by this
/// library and not modified since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_buffer_free(buffer: *mut XcBuffer) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if buffer.is_null() {
            return;
        }
        // SAFETY: `buffer` is non-null and, by the contract above, points to a live `XcBuffer`
        // that nothing else accesses during this call.
        let buffer = unsafe { &mut *buffer };
        // SAFETY: the buffer holds `{ NULL, 0 }` or what `XcBuffer::copy_of` produced.
        unsafe { release(buffer) };
    }));
}

/// Zeroes and frees the bytes of `buffer` and resets it to empty.
///
/// # Safety
/// `buffer.ptr` is NULL or came from [`XcBuffer::copy_of`] with this `len` and was not freed.
pub(crate) unsafe fn release(buffer: &mut XcBuffer) {
    if !buffer.ptr.is_null() {
        // SAFETY: `copy_of` made `ptr` with `Box::into_raw` of a `Box<[u8]>` of exactly `len`
        // bytes, and it has not been freed (we reset the buffer below), so rebuilding that box
        // reproduces the original allocation.
        let mut bytes =
            unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(buffer.ptr, buffer.len)) };
        bytes.zeroize();
    }
    *buffer = XcBuffer::EMPTY;
}

/// Runs an ABI function's body: a panic becomes `XC_ERR_PANIC` and never unwinds into C.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Fail>) -> i32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => XC_OK,
        Ok(Err(Fail(code))) => code,
        Err(_) => XC_ERR_PANIC,
    }
}

/// Runs a free function's body, swallowing a panic (there is nothing to report it to).
pub(crate) fn guard_void(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// The operating system's RNG. A failure panics inside `UnwrapErr` and is reported as
/// `XC_ERR_PANIC` by [`guard`].
pub(crate) fn os_rng() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

/// Borrows `len` bytes at `data` (NULL allowed when `len` is 0).
///
/// # Safety
/// When `len > 0`, `data` is NULL or valid for reading `len` bytes, which are not written while
/// the returned slice lives.
pub(crate) unsafe fn bytes_in<'a>(data: *const u8, len: usize) -> Result<&'a [u8], Fail> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(NULL);
    }
    if isize::try_from(len).is_err() {
        return Err(INVALID);
    }
    // SAFETY: `data` is non-null, `len` fits in `isize`, `u8` needs no alignment, and the
    // caller guarantees `len` readable bytes that stay unchanged for `'a`.
    Ok(unsafe { core::slice::from_raw_parts(data, len) })
}

/// Copies a 32-byte key from `data`.
///
/// # Safety
/// `data` is NULL or valid for reading 32 bytes.
pub(crate) unsafe fn key_in(data: *const u8) -> Result<[u8; XC_KEY_LEN], Fail> {
    if data.is_null() {
        return Err(NULL);
    }
    // SAFETY: non-null and valid for 32 bytes by the contract; `[u8; 32]` has alignment 1.
    Ok(unsafe { data.cast::<[u8; XC_KEY_LEN]>().read() })
}

/// Checks an out-pointer for a 32-byte key; write it with [`write_key`].
pub(crate) fn key_out(out: *mut u8) -> Result<*mut u8, Fail> {
    if out.is_null() { Err(NULL) } else { Ok(out) }
}

/// Writes a 32-byte key.
///
/// # Safety
/// `out` is non-null and valid for writing 32 bytes.
pub(crate) unsafe fn write_key(out: *mut u8, key: [u8; XC_KEY_LEN]) {
    // SAFETY: by the contract; `[u8; 32]` has alignment 1.
    unsafe { out.cast::<[u8; XC_KEY_LEN]>().write(key) }
}

/// Checks an out-pointer and stores `initial` in it (so that the caller sees a defined value
/// even if the call then fails). Returns the pointer for the final [`ptr::write`].
///
/// # Safety
/// `out` is NULL or valid and aligned for writing a `T`. The previous value is overwritten
/// without being dropped (every `T` used here is plain data).
pub(crate) unsafe fn out_init<T>(out: *mut T, initial: T) -> Result<*mut T, Fail> {
    if out.is_null() {
        return Err(NULL);
    }
    // SAFETY: non-null, and valid and aligned for a `T` by the contract.
    unsafe { out.write(initial) };
    Ok(out)
}

/// Borrows a handle.
///
/// # Safety
/// `handle` is NULL or a live handle of this type created by this library, not used by another
/// thread during the call.
pub(crate) unsafe fn handle_ref<'a, T>(handle: *const T) -> Result<&'a T, Fail> {
    // SAFETY: by the contract, a non-null `handle` points to a live `T` made by `Box::into_raw`.
    unsafe { handle.as_ref() }.ok_or(NULL)
}

/// Borrows a handle mutably.
///
/// # Safety
/// As [`handle_ref`], and no other reference to the same handle is live during the call.
pub(crate) unsafe fn handle_mut<'a, T>(handle: *mut T) -> Result<&'a mut T, Fail> {
    // SAFETY: by the contract, a non-null `handle` points to a live `T` made by `Box::into_raw`
    // and this is the only reference to it for the call.
    unsafe { handle.as_mut() }.ok_or(NULL)
}

/// Turns a value into a handle for C.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back ownership of a handle (for free functions and consuming calls).
///
/// # Safety
/// `handle` is NULL or a live handle of this type created by this library; it must not be used
/// again after this call.
pub(crate) unsafe fn take_handle<T>(handle: *mut T) -> Option<Box<T>> {
    if handle.is_null() {
        return None;
    }
    // SAFETY: non-null, made by `Box::into_raw` in `into_handle`, and ownership returns to us.
    Some(unsafe { Box::from_raw(handle) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_code() {
        assert_eq!(guard(|| panic!("boom")), XC_ERR_PANIC);
        assert_eq!(
            guard(|| Err(INVALID)),
            crate::error::XC_ERR_INVALID_ARGUMENT
        );
        assert_eq!(guard(|| Ok(())), XC_OK);
    }

    #[test]
    fn buffers_round_trip_and_reset() {
        let mut b = XcBuffer::copy_of(b"secret");
        assert_eq!(b.len, 6);
        // SAFETY: made by `copy_of`, freed once; the second call sees `{ NULL, 0 }`.
        unsafe {
            xc_buffer_free(&mut b);
            xc_buffer_free(&mut b);
        }
        assert!(b.ptr.is_null() && b.len == 0);
        assert!(XcBuffer::copy_of(&[]).ptr.is_null());
    }
}
