//! The boundary's plumbing: owned byte buffers, the panic guard, pointer checks, the OS RNG,
//! and the registry of live handles.

use core::any::TypeId;
use core::ptr::{self, NonNull};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard, PoisonError};

use getrandom::SysRng;
use rand_core::UnwrapErr;
use zeroize::Zeroize;

use crate::error::{Fail, INVALID, INVALID_HANDLE, NULL, XC_ERR_PANIC, XC_OK};

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

/// Runs the body of a function that returns nothing (`xc_buffer_free`, `xc_received_free`),
/// swallowing a panic (there is nothing to report it to).
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

// ---------------------------------------------------------------------------------------------
// Handles
//
// A handle given to C is not the address of the object: it is an opaque, non-zero id issued by
// a process-wide registry, which maps it to the object's address and its Rust type. Every call
// that takes a handle first looks it up under the registry's lock, so a handle that was freed
// or consumed, a pointer the library never issued, and a live handle of another type are all
// rejected with `XC_ERR_INVALID_HANDLE` *before* anything is dereferenced. A free or a consuming
// call removes the id, and ids are not reused (see `Registry::issue`), so a stale copy of a
// freed handle never aliases a newer object (which a registry keyed by address could not
// promise: the allocator reuses freed addresses).
//
// The cost is one short critical section (an ordered-map lookup) per handle per call; the lock
// is never held while the library works on the object or drops it.
// ---------------------------------------------------------------------------------------------

/// Spacing of handle ids, so that they look like aligned pointers to bindings that check that.
const HANDLE_STEP: usize = 8;

/// Where handle ids start: `0x5843` ("XC") in the top 16 bits. On 64-bit targets that is far
/// above any untagged user-space address (x86-64 and AArch64 use at most 57 bits), so an id
/// does not equal a pointer to real memory; on every target it is far from small integers,
/// NULL-plus-offset mistakes, and the low values that Go's cgo checks reject as bad pointers.
const ID_BASE: usize = 0x5843 << (usize::BITS - 16);

/// A live object: its type and its address (from `Box::into_raw`).
struct Entry {
    ty: TypeId,
    ptr: NonNull<()>,
}

// SAFETY: the registry only stores and compares these pointers; it never dereferences them. The
// objects they point to are `Send` (`into_handle` requires it), and the ABI contract gives each
// object to one thread at a time.
unsafe impl Send for Entry {}

/// The live handles: id -> object.
struct Registry {
    /// The last id issued (`ID_BASE`: none yet).
    last: usize,
    live: BTreeMap<usize, Entry>,
}

impl Registry {
    /// A fresh id: the next multiple of `HANDLE_STEP` after `ID_BASE`, never 0 and never one
    /// that is live. On 64-bit targets the counter cannot wrap in practice (more than 2^60
    /// handles), so an id is never issued twice; on 32-bit targets it wraps after about 2^29
    /// handles and then skips live ids.
    fn issue(&mut self) -> usize {
        loop {
            self.last = self.last.wrapping_add(HANDLE_STEP);
            if self.last != 0 && !self.live.contains_key(&self.last) {
                return self.last;
            }
        }
    }
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    last: ID_BASE,
    live: BTreeMap::new(),
});

/// Locks the registry. A poisoned lock is recovered rather than turned into a panic: nothing
/// panics while holding it (the critical sections are map lookups, inserts and removals, and
/// allocation failure aborts), and every critical section leaves the map consistent anyway.
fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Looks up a live handle of type `T` and returns the object's address. Nothing is
/// dereferenced: NULL is `XC_ERR_NULL_POINTER`; an id that is not live (freed, consumed, never
/// issued) or belongs to another type is `XC_ERR_INVALID_HANDLE`.
fn lookup<T: 'static>(handle: *const T) -> Result<NonNull<T>, Fail> {
    if handle.is_null() {
        return Err(NULL);
    }
    let registry = registry();
    match registry.live.get(&handle.addr()) {
        Some(entry) if entry.ty == TypeId::of::<T>() => Ok(entry.ptr.cast::<T>()),
        _ => Err(INVALID_HANDLE),
    }
}

/// Borrows a handle.
///
/// # Safety
/// Nothing is required of `handle` itself: any value is checked against the registry before
/// use. If it is a live handle of this type, no other thread may free, consume or mutably use
/// it while the returned reference lives.
pub(crate) unsafe fn handle_ref<'a, T: 'static>(handle: *const T) -> Result<&'a T, Fail> {
    let ptr = lookup(handle)?;
    // SAFETY: the registry holds `ptr` only while the object it came from (`Box::into_raw` in
    // `into_handle`) is alive, and the entry's type is `T`. By the contract, no other thread
    // frees or mutates it during the call.
    Ok(unsafe { ptr.as_ref() })
}

/// Borrows a handle mutably.
///
/// # Safety
/// As [`handle_ref`], and no other reference to the same object is live while the returned one
/// lives (no ABI function takes two handles of the same type, so this is the contract's "one
/// thread at a time").
pub(crate) unsafe fn handle_mut<'a, T: 'static>(handle: *mut T) -> Result<&'a mut T, Fail> {
    let mut ptr = lookup(handle.cast_const())?;
    // SAFETY: as in `handle_ref`; exclusivity by the contract.
    Ok(unsafe { ptr.as_mut() })
}

/// Turns a value into a handle for C: boxes it, registers it, and returns its id as an opaque
/// pointer (never NULL, never dereferenceable).
pub(crate) fn into_handle<T: Send + 'static>(value: T) -> *mut T {
    let ptr = NonNull::from(Box::leak(Box::new(value))).cast::<()>();
    let id = {
        let mut registry = registry();
        let id = registry.issue();
        registry.live.insert(
            id,
            Entry {
                ty: TypeId::of::<T>(),
                ptr,
            },
        );
        id
    };
    ptr::without_provenance_mut(id)
}

/// Reads the handle in the caller's variable `*slot` (the `**` argument of a free function or
/// consuming call), without looking it up: `XC_ERR_NULL_POINTER` when `slot` or `*slot` is
/// NULL, `XC_ERR_INVALID_ARGUMENT` when `slot` is misaligned.
///
/// # Safety
/// `slot` is NULL or valid for reading one pointer.
unsafe fn read_slot<T>(slot: *mut *mut T) -> Result<*mut T, Fail> {
    if slot.is_null() {
        return Err(NULL);
    }
    if !slot.is_aligned() {
        return Err(INVALID);
    }
    // SAFETY: non-null, aligned, and readable by the contract.
    let handle = unsafe { slot.read() };
    if handle.is_null() {
        return Err(NULL);
    }
    Ok(handle)
}

/// Borrows the handle in the caller's variable `*slot` without taking it: for a call that
/// consumes its handle only on some results (`xc_opened_decrypt`), and so must look at it
/// before deciding. The errors are those of [`take_handle`], and `*slot` is never written; take
/// the handle afterwards with [`take_handle`] (or [`free_handle`]) once the returned reference
/// is no longer used.
///
/// # Safety
/// `slot` is NULL or valid for reading one pointer. If `*slot` is a live handle of this type, no
/// other thread frees, consumes or mutably uses it while the returned reference lives.
pub(crate) unsafe fn handle_in_slot<'a, T: 'static>(slot: *mut *mut T) -> Result<&'a T, Fail> {
    // SAFETY: by the contract.
    let handle = unsafe { read_slot(slot) }?;
    // SAFETY: checked by the registry; not in use elsewhere, by the contract.
    unsafe { handle_ref(handle.cast_const()) }
}

/// Takes back ownership of the handle in the caller's variable `*slot` (for free functions and
/// consuming calls): removes it from the registry and sets `*slot` to NULL, so that the
/// caller's variable cannot be used again.
///
/// Errors leave `*slot` unchanged: `XC_ERR_NULL_POINTER` when `slot` or `*slot` is NULL,
/// `XC_ERR_INVALID_ARGUMENT` when `slot` is misaligned, `XC_ERR_INVALID_HANDLE` when `*slot` is
/// not a live handle of this type (already freed or consumed through another copy, never
/// issued, or another type's handle, which stays live).
///
/// # Safety
/// `slot` is NULL or valid for reading and writing one pointer. If `*slot` is a live handle of
/// this type, no other thread is using it, and no reference to it (from [`handle_ref`] or
/// [`handle_in_slot`]) is still in use.
pub(crate) unsafe fn take_handle<T: 'static>(slot: *mut *mut T) -> Result<Box<T>, Fail> {
    // SAFETY: `slot` is NULL or readable, by the contract.
    let handle = unsafe { read_slot(slot) }?;
    let entry = {
        let mut registry = registry();
        match registry.live.get(&handle.addr()) {
            Some(entry) if entry.ty == TypeId::of::<T>() => registry.live.remove(&handle.addr()),
            _ => None,
        }
    };
    let entry = entry.ok_or(INVALID_HANDLE)?;
    // SAFETY: `slot` is writable by the contract (and was just read).
    unsafe { slot.write(ptr::null_mut()) };
    // SAFETY: the entry was live with type `T`, so `ptr` came from `Box::<T>::into_raw` (via
    // `Box::leak`) and was not freed; it is now out of the registry, so nothing else can reach
    // it and ownership returns to us. No other thread uses it, by the contract.
    Ok(unsafe { Box::from_raw(entry.ptr.cast::<T>().as_ptr()) })
}

/// Runs a free function's body: takes the handle in `*slot` and drops it. NULL `slot` or NULL
/// `*slot` is a no-op (`XC_OK`), so freeing the same variable twice is harmless; any other
/// error of [`take_handle`] is returned and nothing is freed.
///
/// # Safety
/// As [`take_handle`].
pub(crate) unsafe fn free_handle<T: 'static>(slot: *mut *mut T) -> i32 {
    guard(|| {
        // SAFETY: by the contract.
        match unsafe { take_handle(slot) } {
            // Dropped here, outside the registry's lock; types with secrets zero them on drop.
            Ok(value) => drop(value),
            Err(NULL) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    })
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

    struct A(u64);
    struct B;

    #[test]
    fn handles_are_checked_before_use() {
        let mut a = into_handle(A(7));
        let mut b = into_handle(B);
        assert!(a.addr() > ID_BASE && a.addr().is_multiple_of(HANDLE_STEP) && a.addr() != b.addr());
        // SAFETY: every value is checked by the registry; nothing else uses these handles.
        unsafe {
            assert_eq!(handle_ref(a).map(|a| a.0), Ok(7));
            handle_mut(a).map(|a| a.0 = 8).unwrap();
            // Wrong type: rejected, and the handle stays live.
            assert!(matches!(handle_ref(a.cast::<B>()), Err(INVALID_HANDLE)));
            let mut wrong = a.cast::<B>();
            assert_eq!(free_handle(&mut wrong), crate::error::XC_ERR_INVALID_HANDLE);
            assert_eq!(wrong, a.cast::<B>());
            // Never issued: a real address and a wild one are rejected without being read.
            let local = A(1);
            assert!(matches!(handle_ref(&raw const local), Err(INVALID_HANDLE)));
            let wild = ptr::without_provenance::<A>(0x10);
            assert!(matches!(handle_ref(wild), Err(INVALID_HANDLE)));
            assert!(matches!(handle_ref(ptr::null::<A>()), Err(NULL)));

            let copy = a;
            let taken = take_handle(&mut a).unwrap();
            assert_eq!(taken.0, 8);
            assert!(a.is_null());
            // Freed: every later use of a copy is rejected, even after new handles exist.
            let mut newer = into_handle(A(9));
            assert_ne!(newer.addr(), copy.addr());
            assert!(matches!(handle_ref(copy), Err(INVALID_HANDLE)));
            let mut stale = copy;
            assert!(matches!(take_handle(&mut stale), Err(INVALID_HANDLE)));
            assert_eq!(stale, copy);
            // NULL variable, NULL slot, misaligned slot.
            assert_eq!(free_handle(&mut a), XC_OK);
            assert_eq!(free_handle(ptr::null_mut::<*mut A>()), XC_OK);
            let words = [0usize; 2];
            let misaligned = words
                .as_ptr()
                .cast::<u8>()
                .wrapping_add(1)
                .cast_mut()
                .cast();
            assert!(matches!(take_handle::<A>(misaligned), Err(INVALID)));
            assert_eq!(free_handle(&mut newer), XC_OK);
            assert_eq!(free_handle(&mut b), XC_OK);
            assert!(newer.is_null() && b.is_null());
        }
    }

    #[test]
    fn a_handle_borrowed_from_its_slot_stays_there() {
        let mut a = into_handle(A(3));
        let copy = a;
        // SAFETY: every value is checked by the registry; nothing else uses these handles.
        unsafe {
            assert_eq!(handle_in_slot(&mut a).map(|a| a.0), Ok(3));
            assert_eq!(a, copy, "borrowing leaves the caller's variable as it was");
            // The same errors as `take_handle`, and nothing written.
            assert!(matches!(handle_in_slot::<A>(ptr::null_mut()), Err(NULL)));
            let mut null = ptr::null_mut::<A>();
            assert!(matches!(handle_in_slot(&mut null), Err(NULL)));
            let mut wrong = a.cast::<B>();
            assert!(matches!(handle_in_slot(&mut wrong), Err(INVALID_HANDLE)));
            assert_eq!(wrong, a.cast::<B>());
            let words = [0usize; 2];
            let misaligned = words
                .as_ptr()
                .cast::<u8>()
                .wrapping_add(1)
                .cast_mut()
                .cast();
            assert!(matches!(handle_in_slot::<A>(misaligned), Err(INVALID)));
            // Still live: it can be taken afterwards, and then no longer borrowed.
            assert_eq!(take_handle(&mut a).map(|a| a.0), Ok(3));
            assert!(a.is_null());
            let mut stale = copy;
            assert!(matches!(handle_in_slot(&mut stale), Err(INVALID_HANDLE)));
        }
    }

    #[test]
    fn a_poisoned_registry_still_works() {
        let poisoner = std::thread::spawn(|| {
            let _held = registry();
            panic!("poison the registry");
        });
        assert!(poisoner.join().is_err());
        assert!(REGISTRY.is_poisoned());
        let mut a = into_handle(A(1));
        // SAFETY: a live handle, used by this thread only.
        unsafe {
            assert_eq!(handle_ref(a).map(|a| a.0), Ok(1));
            assert_eq!(free_handle(&mut a), XC_OK);
        }
        assert!(a.is_null());
    }

    #[test]
    fn the_registry_is_shared_by_threads() {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..500 {
                        let mut h = into_handle(A(t * 1000 + i));
                        // SAFETY: this thread's own live handle.
                        unsafe {
                            assert_eq!(handle_ref(h).map(|a| a.0), Ok(t * 1000 + i));
                            assert_eq!(free_handle(&mut h), XC_OK);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
