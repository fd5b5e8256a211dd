//! Attachments (SPEC.md §14): a file of any size sealed chunk by chunk into one stream that the
//! server stores as opaque bytes, and the descriptor (key, header, size, what and where) that
//! travels inside the conversation as a content frame of kind `XC_CONTENT_KIND_ATTACHMENT`.
//!
//! Sending: `xc_attachment_encryptor_new(size)`, or `xc_attachment_encryptor_new_with_digest`
//! (required for a group: the descriptor then carries the SHA-256 of the whole stored stream);
//! upload `xc_attachment_encryptor_header` (56 bytes) and then every chunk, sealed in order with
//! `xc_attachment_encryptor_seal_next` (a copy) or `xc_attachment_encryptor_seal_next_in_place`
//! (within the upload buffer); then `xc_attachment_encryptor_finish` describes it and
//! `xc_session_send_attachment` / `xc_group_send_attachment` sends the descriptor.
//!
//! Receiving: a received body of kind `XC_CONTENT_KIND_ATTACHMENT` is a descriptor:
//! `xc_attachment_descriptor_info` shows what it is, `xc_attachment_decryptor_new` opens it
//! (given the stored stream's first `XC_ATTACHMENT_HEADER_LEN` bytes, which it requires), and
//! the chunks open in order (`xc_attachment_decryptor_open_next`, which says when the file is
//! complete and, for a descriptor with a digest, checks it before the final chunk) or alone
//! (`xc_attachment_decryptor_open_chunk`, to seek), each with an `_in_place` variant that
//! decrypts within the caller's memory.
//!
//! The stream's layout: the 56-byte header, then chunk `i` at
//! `[56 + 16400·i, min(56 + 16400·(i + 1), encrypted_len))`; every chunk but the last is 16 400
//! bytes (`XC_ATTACHMENT_SEALED_CHUNK_LEN`), the last is shorter (at least 16).
//!
//! A descriptor holds the attachment's key: treat its bytes as secret (`xc_buffer_free` zeroes
//! them).

use xchat_protocol::DecodeError;
use xchat_protocol::attachment::chunked::{
    CHUNK_LEN, HEADER_LEN, Layout, SEALED_CHUNK_LEN, TAG_LEN,
};
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentDescriptor, AttachmentEncryptor, AttachmentError,
    AttachmentInfo, MAX_ATTACHMENT_LEN, padded_size,
};
use zeroize::Zeroize;

use crate::error::{Fail, INVALID, NULL};
use crate::group::XcGroup;
use crate::session::XcSession;
use crate::util::{
    XcBuffer, bytes_in, free_handle, guard, handle_in_slot, handle_mut, handle_ref, into_handle,
    os_rng, out_init, take_handle,
};

/// Length of an attachment stream's header (salt and key commitment), the first bytes of the
/// stored stream.
pub const XC_ATTACHMENT_HEADER_LEN: usize = 56;
/// Plaintext bytes in every chunk but the final one.
pub const XC_ATTACHMENT_CHUNK_LEN: usize = 16384;
/// Bytes of every sealed chunk but the final one (which is shorter, at least
/// `XC_ATTACHMENT_TAG_LEN`).
pub const XC_ATTACHMENT_SEALED_CHUNK_LEN: usize = 16400;
/// Bytes of authentication tag at the end of every sealed chunk.
pub const XC_ATTACHMENT_TAG_LEN: usize = 16;
/// The largest attachment, in bytes (2^46, 64 TiB).
pub const XC_ATTACHMENT_MAX_LEN: u64 = 70_368_744_177_664;

const _: () = assert!(XC_ATTACHMENT_HEADER_LEN == HEADER_LEN);
const _: () = assert!(XC_ATTACHMENT_CHUNK_LEN == CHUNK_LEN);
const _: () = assert!(XC_ATTACHMENT_SEALED_CHUNK_LEN == SEALED_CHUNK_LEN);
const _: () = assert!(XC_ATTACHMENT_TAG_LEN == TAG_LEN);
const _: () = assert!(XC_ATTACHMENT_MAX_LEN == MAX_ATTACHMENT_LEN);

/// Seals one attachment of a known size, one chunk per call (secret: it holds the key). Consumed
/// by `xc_attachment_encryptor_finish` once every chunk is sealed, or dropped with
/// `xc_attachment_encryptor_free`.
pub struct XcAttachmentEncryptor {
    inner: AttachmentEncryptor,
    /// The stream's layout, for `xc_attachment_encryptor_next_range`.
    layout: Layout,
    /// How many chunks were sealed (the index of the next one).
    sealed: u64,
}

/// Opens one attachment from its descriptor (secret: it holds the key): chunks in order or any
/// chunk alone. Released with `xc_attachment_decryptor_free`.
pub struct XcAttachmentDecryptor {
    inner: AttachmentDecryptor,
}

/// Borrows `len` bytes at `data` for reading and writing (NULL allowed when `len` is 0).
///
/// # Safety
/// When `len > 0`, `data` is NULL or valid for reading and writing `len` bytes, which nothing
/// else accesses while the returned slice lives.
unsafe fn bytes_in_out<'a>(data: *mut u8, len: usize) -> Result<&'a mut [u8], Fail> {
    if len == 0 {
        return Ok(&mut []);
    }
    if data.is_null() {
        return Err(NULL);
    }
    if isize::try_from(len).is_err() {
        return Err(INVALID);
    }
    // SAFETY: `data` is non-null, `len` fits in `isize`, `u8` needs no alignment, and the
    // caller guarantees `len` readable and writable bytes that nothing else accesses for `'a`.
    Ok(unsafe { core::slice::from_raw_parts_mut(data, len) })
}

/// Opens `sealed` in a private copy with `open` (which returns how many of its first bytes are
/// the result) and returns those bytes as a library buffer. The copy is wiped whatever happens.
fn open_copy(
    sealed: &[u8],
    open: impl FnOnce(&mut [u8]) -> Result<usize, AttachmentError>,
) -> Result<XcBuffer, Fail> {
    let mut buf = sealed.to_vec();
    let result = open(&mut buf).map(|n| {
        // `n` is at most the length, by the core library's contract.
        XcBuffer::copy_of(buf.get(..n).unwrap_or_default())
    });
    buf.as_mut_slice().zeroize();
    Ok(result?)
}

// ---------------------------------------------------------------------------------------------
// Sealing
// ---------------------------------------------------------------------------------------------

/// Starts an attachment of `size` bytes: draws its key and the stream's salt from the OS.
/// `XC_ERR_TOO_LARGE` past `XC_ATTACHMENT_MAX_LEN`. Its descriptor has no digest: fine for a
/// session (`xc_session_send_attachment`); a group needs
/// `xc_attachment_encryptor_new_with_digest`.
///
/// # Safety
/// `out_encryptor` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_encryptor_new(
    size: u64,
    out_encryptor: *mut *mut XcAttachmentEncryptor,
) -> i32 {
    // SAFETY: by the contract.
    unsafe { encryptor_new(size, out_encryptor, false) }
}

/// As `xc_attachment_encryptor_new`, and the descriptor will carry the SHA-256 digest of the
/// whole stored stream (header and every sealed chunk), computed as the chunks are sealed.
/// `xc_attachment_decryptor_open_next` checks it before it decrypts the final chunk
/// (`XC_ERR_ATTACHMENT_DIGEST_MISMATCH`): every holder of a descriptor holds its key and could
/// seal another stream under it, and the digest pins the one stream the sender made. Required by
/// `xc_group_send_attachment`; it costs one SHA-256 pass over the stream on each side.
///
/// # Safety
/// `out_encryptor` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_encryptor_new_with_digest(
    size: u64,
    out_encryptor: *mut *mut XcAttachmentEncryptor,
) -> i32 {
    // SAFETY: by the contract.
    unsafe { encryptor_new(size, out_encryptor, true) }
}

/// Starts an encryptor, with a digest or without.
///
/// # Safety
/// `out_encryptor` is NULL or valid for writing one pointer.
unsafe fn encryptor_new(
    size: u64,
    out_encryptor: *mut *mut XcAttachmentEncryptor,
    with_digest: bool,
) -> i32 {
    guard(|| {
        // SAFETY: `out_encryptor` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_encryptor, core::ptr::null_mut()) }?;
        let inner = if with_digest {
            AttachmentEncryptor::with_digest(&mut os_rng(), size)
        } else {
            AttachmentEncryptor::new(&mut os_rng(), size)
        }?;
        let layout = Layout::for_plaintext(padded_size(size))?;
        let encryptor = XcAttachmentEncryptor {
            inner,
            layout,
            sealed: 0,
        };
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(encryptor)) };
        Ok(())
    })
}

/// The stream's header (`XC_ATTACHMENT_HEADER_LEN` bytes): the first bytes of the upload,
/// before the chunks.
///
/// # Safety
/// `encryptor` is any value (handles are checked); `out` is NULL or valid for writing an
/// `XcBuffer`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_encryptor_header(
    encryptor: *const XcAttachmentEncryptor,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let encryptor = unsafe { handle_ref(encryptor) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(encryptor.inner.header())) };
        Ok(())
    })
}

/// Writes the length of the whole stream (header and every sealed chunk): what the server
/// stores, and the size of an upload buffer for `xc_attachment_encryptor_seal_next_in_place`.
///
/// # Safety
/// `encryptor` is any value (handles are checked); `out_len` is NULL or valid for writing a
/// `uint64_t`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_encryptor_encrypted_len(
    encryptor: *const XcAttachmentEncryptor,
    out_len: *mut u64,
) -> i32 {
    guard(|| {
        // SAFETY: `out_len` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_len, 0) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let encryptor = unsafe { handle_ref(encryptor) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(encryptor.inner.encrypted_len()) };
        Ok(())
    })
}

/// Writes how many bytes of the file the next chunk takes (`out_len`; 0 for a chunk wholly in
/// the padding) and whether there is a next chunk (`out_has_next`; false, with `out_len` 0, once
/// the final chunk is sealed).
///
/// # Safety
/// `encryptor` is any value (handles are checked); `out_len` is NULL or valid for writing a
/// `size_t`, `out_has_next` for writing a `bool`. No handle passed is in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_encryptor_next_input_len(
    encryptor: *const XcAttachmentEncryptor,
    out_len: *mut usize,
    out_has_next: *mut bool,
) -> i32 {
    guard(|| {
        // SAFETY: `out_len` is NULL or writable, by the contract.
        let out_len = unsafe { out_init(out_len, 0) }?;
        // SAFETY: `out_has_next` is NULL or writable, by the contract.
        let out_has_next = unsafe { out_init(out_has_next, false) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let encryptor = unsafe { handle_ref(encryptor) }?;
        if let Some(n) = encryptor.inner.next_input_len() {
            // SAFETY: both were checked and written by `out_init`.
            unsafe {
                out_len.write(n);
                out_has_next.write(true);
            }
        }
        Ok(())
    })
}

/// Writes where the next chunk lies in the stream, `[*out_start, *out_end)` (offsets from the
/// start of the header): the span to pass to `xc_attachment_encryptor_seal_next_in_place`, and
/// the place of what `xc_attachment_encryptor_seal_next` returns. `XC_ERR_ATTACHMENT_FINISHED`
/// once the final chunk is sealed.
///
/// # Safety
/// `encryptor` is any value (handles are checked); `out_start` and `out_end` are NULL or valid
/// for writing a `uint64_t`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_encryptor_next_range(
    encryptor: *const XcAttachmentEncryptor,
    out_start: *mut u64,
    out_end: *mut u64,
) -> i32 {
    guard(|| {
        // SAFETY: `out_start` is NULL or writable, by the contract.
        let out_start = unsafe { out_init(out_start, 0) }?;
        // SAFETY: `out_end` is NULL or writable, by the contract.
        let out_end = unsafe { out_init(out_end, 0) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let encryptor = unsafe { handle_ref(encryptor) }?;
        encryptor
            .inner
            .next_input_len()
            .ok_or(AttachmentError::Finished)?;
        let range = encryptor
            .layout
            .encrypted_range(encryptor.sealed)
            .ok_or(AttachmentError::Finished)?;
        // SAFETY: both were checked and written by `out_init`.
        unsafe {
            out_start.write(range.start);
            out_end.write(range.end);
        }
        Ok(())
    })
}

/// Seals the next chunk from a copy: `input`/`len` are the next
/// `xc_attachment_encryptor_next_input_len` bytes of the file (0 for a chunk of padding), and
/// `out` receives the sealed chunk (padded with zeros where the file ends, then its tag):
/// append it to the upload. `XC_ERR_ATTACHMENT_FINISHED` after the final chunk,
/// `XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH` for another length; the encryptor is then unchanged.
///
/// # Safety
/// `encryptor` is any value (handles are checked); `input`/`len` describe readable memory (NULL
/// allowed for length 0); `out` is NULL or valid for writing an `XcBuffer`. No handle passed is
/// in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_encryptor_seal_next(
    encryptor: *mut XcAttachmentEncryptor,
    input: *const u8,
    len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let encryptor = unsafe { handle_mut(encryptor) }?;
        // SAFETY: readable, by the contract.
        let input = unsafe { bytes_in(input, len) }?;
        // Checked before the copy, so that a wrong length allocates nothing.
        match encryptor.inner.next_input_len() {
            None => return Err(AttachmentError::Finished.into()),
            Some(n) if n != input.len() => return Err(AttachmentError::InvalidChunkLength.into()),
            Some(_) => {}
        }
        let mut buf = Vec::with_capacity(SEALED_CHUNK_LEN);
        buf.extend_from_slice(input);
        let sealed = encryptor
            .inner
            .seal_next(&mut buf)
            .map(|()| XcBuffer::copy_of(&buf));
        // The file's bytes (on an error) are wiped; the capacity covers every length, so `buf`
        // never moved.
        buf.as_mut_slice().zeroize();
        let sealed = sealed?;
        encryptor.sealed += 1;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(sealed) };
        Ok(())
    })
}

/// Seals the next chunk within the caller's memory (zero-copy): `span`/`span_len` is the next
/// chunk's place in the stream (`xc_attachment_encryptor_next_range`, in a buffer of
/// `xc_attachment_encryptor_encrypted_len` bytes), whose first
/// `xc_attachment_encryptor_next_input_len` bytes hold the file's; the rest is overwritten with
/// the padding and the tag, and the span becomes the sealed chunk.
/// `XC_ERR_ATTACHMENT_FINISHED` after the final chunk, `XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH`
/// for a span of another length; nothing is then changed.
///
/// # Safety
/// `encryptor` is any value (handles are checked); `span` is valid for reading and writing
/// `span_len` bytes (NULL allowed for length 0) that nothing else accesses during the call. No
/// handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_encryptor_seal_next_in_place(
    encryptor: *mut XcAttachmentEncryptor,
    span: *mut u8,
    span_len: usize,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let encryptor = unsafe { handle_mut(encryptor) }?;
        // SAFETY: readable and writable, by the contract.
        let span = unsafe { bytes_in_out(span, span_len) }?;
        encryptor.inner.seal_next_in_place(span)?;
        encryptor.sealed += 1;
        Ok(())
    })
}

/// Reads the optional field `data`/`len`: NULL (with length 0) is none, anything else is the
/// bytes (maybe empty).
///
/// # Safety
/// As [`bytes_in`].
unsafe fn optional_in<'a>(data: *const u8, len: usize) -> Result<Option<&'a [u8]>, Fail> {
    if data.is_null() && len == 0 {
        return Ok(None);
    }
    // SAFETY: by the contract.
    Ok(Some(unsafe { bytes_in(data, len) }?))
}

fn utf8(bytes: &[u8]) -> Result<String, Fail> {
    core::str::from_utf8(bytes)
        .map(String::from)
        .map_err(|_| DecodeError::NonCanonical.into())
}

/// Describes the sealed attachment once every chunk is sealed, and returns its descriptor
/// (`out_descriptor`, secret: it holds the key): send it with `xc_session_send_attachment` or
/// `xc_group_send_attachment` once the upload is stored.
///
/// - `content_type`: its MIME type, printable ASCII (0x20–0x7E), at most 255 bytes;
/// - `file_name`: NULL (with length 0) for none, else UTF-8, at most 1024 bytes (a non-NULL
///   pointer with length 0 is an empty name, which differs from none);
/// - `thumbnail`: NULL (with length 0) for none, else at most 65 536 bytes (a preview);
/// - `location`: where the server stored the stream, the app's opaque id, at most 255 bytes.
///
/// **Consumes `*encryptor` on success only**, and then sets the caller's variable to NULL (pass
/// `&encryptor`). On every error it is left as it was and stays usable:
/// `XC_ERR_ATTACHMENT_NOT_FINISHED` before the final chunk is sealed (seal the rest and call
/// again), `XC_ERR_TOO_LARGE` for a field over its limit, `XC_ERR_DECODE_NON_CANONICAL` for a
/// content type that is not printable ASCII or a file name that is not UTF-8,
/// `XC_ERR_NULL_POINTER` (a NULL `encryptor`, `*encryptor` or `out_descriptor`, or a NULL field
/// pointer with a non-zero length), `XC_ERR_INVALID_ARGUMENT` (misaligned `encryptor`),
/// `XC_ERR_INVALID_HANDLE` (`*encryptor` is not a live encryptor: already consumed or freed
/// through another copy, never issued, another type).
///
/// # Safety
/// `encryptor` is NULL or valid for reading and writing one pointer (the handle in it may be any
/// value: handles are checked); each pointer/length pair describes readable memory (NULL
/// allowed for length 0); `out_descriptor` is NULL or valid for writing an `XcBuffer`; no other
/// thread is using the handle.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn xc_attachment_encryptor_finish(
    encryptor: *mut *mut XcAttachmentEncryptor,
    content_type: *const u8,
    content_type_len: usize,
    file_name: *const u8,
    file_name_len: usize,
    thumbnail: *const u8,
    thumbnail_len: usize,
    location: *const u8,
    location_len: usize,
    out_descriptor: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out_descriptor` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_descriptor, XcBuffer::EMPTY) }?;
        // Every check that `finish` makes is made first, on a borrow, so that an error leaves
        // the encryptor to the caller.
        {
            // SAFETY: `encryptor` is NULL or a readable pointer, by the contract; the handle in
            // it is checked by the registry and not in use elsewhere. Borrowed, not taken; the
            // reference ends with this block.
            let enc = unsafe { handle_in_slot(encryptor) }?;
            if enc.inner.next_input_len().is_some() {
                return Err(AttachmentError::NotFinished.into());
            }
        }
        // SAFETY: each pair describes readable memory, by the contract.
        let (content_type, file_name, thumbnail, location) = unsafe {
            (
                bytes_in(content_type, content_type_len)?,
                optional_in(file_name, file_name_len)?,
                optional_in(thumbnail, thumbnail_len)?,
                bytes_in(location, location_len)?,
            )
        };
        let info = AttachmentInfo {
            content_type: utf8(content_type)?,
            file_name: file_name.map(utf8).transpose()?,
            thumbnail: thumbnail.map(<[u8]>::to_vec),
            location: location.to_vec(),
        };
        info.validate()?;
        // SAFETY: `encryptor` is a readable and writable pointer holding a live encryptor (found
        // above; the borrow has ended), not used by another thread, by the contract. Taking it
        // sets `*encryptor` to NULL.
        let enc = unsafe { take_handle(encryptor) }?;
        // Cannot fail now: the stream is finished and `info` is valid (both checked above).
        let descriptor = enc.inner.finish(info)?;
        let bytes = descriptor.to_bytes()?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&bytes)) };
        Ok(())
    })
}

/// Frees an encryptor (its key is zeroed) and sets `*encryptor` to NULL (as `xc_session_free`):
/// an attachment abandoned before `xc_attachment_encryptor_finish`.
///
/// # Safety
/// `encryptor` is NULL or valid for reading and writing one pointer; no other thread uses it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_encryptor_free(
    encryptor: *mut *mut XcAttachmentEncryptor,
) -> i32 {
    // SAFETY: by the contract.
    unsafe { free_handle(encryptor) }
}

// ---------------------------------------------------------------------------------------------
// Descriptors
// ---------------------------------------------------------------------------------------------

/// Reads a descriptor (the body of a message of kind `XC_CONTENT_KIND_ATTACHMENT`, or what
/// `xc_attachment_encryptor_finish` returned): the attachment's size (`out_size`), content type
/// (`out_content_type`), file name (`out_file_name`, with `out_has_file_name`), thumbnail
/// (`out_thumbnail`, with `out_has_thumbnail`), location (`out_location`), and whether it
/// carries a digest of the stored stream (`out_has_digest`: sealed with
/// `xc_attachment_encryptor_new_with_digest`, which `xc_group_send_attachment` requires). A
/// descriptor that does not parse gives its `XC_ERR_DECODE_*` code.
///
/// # Safety
/// `descriptor`/`len` describe readable memory; `out_size` is NULL or valid for writing a
/// `uint64_t`, each `XcBuffer *` for writing an `XcBuffer` and each `bool *` for writing a
/// `bool`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn xc_attachment_descriptor_info(
    descriptor: *const u8,
    len: usize,
    out_size: *mut u64,
    out_content_type: *mut XcBuffer,
    out_file_name: *mut XcBuffer,
    out_has_file_name: *mut bool,
    out_thumbnail: *mut XcBuffer,
    out_has_thumbnail: *mut bool,
    out_location: *mut XcBuffer,
    out_has_digest: *mut bool,
) -> i32 {
    guard(|| {
        // SAFETY: each out-parameter is NULL or writable, by the contract.
        let (
            size,
            content_type,
            file_name,
            has_file_name,
            thumbnail,
            has_thumbnail,
            location,
            has_digest,
        ) = unsafe {
            (
                out_init(out_size, 0)?,
                out_init(out_content_type, XcBuffer::EMPTY)?,
                out_init(out_file_name, XcBuffer::EMPTY)?,
                out_init(out_has_file_name, false)?,
                out_init(out_thumbnail, XcBuffer::EMPTY)?,
                out_init(out_has_thumbnail, false)?,
                out_init(out_location, XcBuffer::EMPTY)?,
                out_init(out_has_digest, false)?,
            )
        };
        // SAFETY: readable, by the contract.
        let d = AttachmentDescriptor::from_bytes(unsafe { bytes_in(descriptor, len) }?)?;
        let info = d.info();
        // SAFETY: every pointer was checked and written by `out_init`.
        unsafe {
            size.write(d.size());
            content_type.write(XcBuffer::copy_of(info.content_type.as_bytes()));
            if let Some(name) = &info.file_name {
                file_name.write(XcBuffer::copy_of(name.as_bytes()));
                has_file_name.write(true);
            }
            if let Some(t) = &info.thumbnail {
                thumbnail.write(XcBuffer::copy_of(t));
                has_thumbnail.write(true);
            }
            location.write(XcBuffer::copy_of(&info.location));
            has_digest.write(d.digest().is_some());
        }
        Ok(())
    })
}

/// Sends an attachment descriptor to the session's peer: a padded content frame of kind
/// `XC_CONTENT_KIND_ATTACHMENT`, stamped with `now_ms` and the session's timer; seal the result
/// with `xc_seal` like any message and save the session.
///
/// # Safety
/// `session` is any value (handles are checked); `descriptor`/`len` describe readable memory;
/// `out` is NULL or valid for writing an `XcBuffer`. No handle passed is in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_session_send_attachment(
    session: *mut XcSession,
    now_ms: u64,
    descriptor: *const u8,
    len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let session = unsafe { handle_mut(session) }?;
        // SAFETY: readable, by the contract.
        let d = AttachmentDescriptor::from_bytes(unsafe { bytes_in(descriptor, len) }?)?;
        let message = d.send(&mut session.inner, &mut os_rng(), now_ms)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&message)) };
        Ok(())
    })
}

/// Sends an attachment descriptor to the whole group as one group message of kind
/// `XC_CONTENT_KIND_ATTACHMENT` (one upload serves every member), as `xc_group_send` does a
/// message: seal the result with `xc_seal_for_group` and save the group. The descriptor must
/// carry a digest (`xc_attachment_encryptor_new_with_digest`): every member holds its key, and
/// only the digest, signed with the group message, stops one member from replacing the stored
/// file for the others. `XC_ERR_ATTACHMENT_DIGEST_REQUIRED` for one without (before the group
/// is touched); a group failure gives the group's own code (`XC_ERR_GROUP_*`, as
/// `xc_group_send`); an `XC_ERR_DECODE_*` code if the descriptor does not parse.
///
/// # Safety
/// `group` is any value (handles are checked); `descriptor`/`len` describe readable memory;
/// `out` is NULL or valid for writing an `XcBuffer`. No handle passed is in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_group_send_attachment(
    group: *mut XcGroup,
    now_ms: u64,
    descriptor: *const u8,
    len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let group = unsafe { handle_mut(group) }?;
        // SAFETY: readable, by the contract.
        let d = AttachmentDescriptor::from_bytes(unsafe { bytes_in(descriptor, len) }?)?;
        let message = d.send_to_group(&mut group.inner, &mut os_rng(), now_ms)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&message)) };
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------------

/// Prepares to open the attachment a descriptor describes, stored as a stream whose first
/// `XC_ATTACHMENT_HEADER_LEN` bytes are `header`/`header_len` (required: fetch them with the
/// first chunk, or alone before seeking). They must be the descriptor's header, and its key
/// commitment must match its key; that ties the stored stream to this one key.
/// `XC_ERR_ATTACHMENT_TRUNCATED` / `XC_ERR_ATTACHMENT_TRAILING_DATA` for a header of another
/// length, `XC_ERR_ATTACHMENT_WRONG_KEY` if it is not the descriptor's (compared in constant
/// time) or the descriptor's key and header disagree, an `XC_ERR_DECODE_*` code if the
/// descriptor does not parse.
///
/// # Safety
/// `descriptor`/`descriptor_len` and `header`/`header_len` describe readable memory;
/// `out_decryptor` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_new(
    descriptor: *const u8,
    descriptor_len: usize,
    header: *const u8,
    header_len: usize,
    out_decryptor: *mut *mut XcAttachmentDecryptor,
) -> i32 {
    guard(|| {
        // SAFETY: `out_decryptor` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_decryptor, core::ptr::null_mut()) }?;
        // SAFETY: both readable, by the contract.
        let (descriptor, header) = unsafe {
            (
                bytes_in(descriptor, descriptor_len)?,
                bytes_in(header, header_len)?,
            )
        };
        let d = AttachmentDescriptor::from_bytes(descriptor)?;
        let inner = AttachmentDecryptor::new(&d, header)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(XcAttachmentDecryptor { inner })) };
        Ok(())
    })
}

/// Reads one `uint64_t` fact about a decryptor.
///
/// # Safety
/// `decryptor` is any value (handles are checked); `out` is NULL or valid for writing a
/// `uint64_t`; the handle is not in use by another thread.
unsafe fn decryptor_u64(
    decryptor: *const XcAttachmentDecryptor,
    out: *mut u64,
    read: impl FnOnce(&AttachmentDecryptor) -> u64,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, 0) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let decryptor = unsafe { handle_ref(decryptor) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(read(&decryptor.inner)) };
        Ok(())
    })
}

/// Writes the attachment's size in bytes.
///
/// # Safety
/// `decryptor` is any value (handles are checked); `out_size` is NULL or valid for writing a
/// `uint64_t`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_size(
    decryptor: *const XcAttachmentDecryptor,
    out_size: *mut u64,
) -> i32 {
    // SAFETY: by the contract.
    unsafe { decryptor_u64(decryptor, out_size, AttachmentDecryptor::size) }
}

/// Writes the number of chunks of the stream.
///
/// # Safety
/// As `xc_attachment_decryptor_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_chunk_count(
    decryptor: *const XcAttachmentDecryptor,
    out_count: *mut u64,
) -> i32 {
    // SAFETY: by the contract.
    unsafe { decryptor_u64(decryptor, out_count, AttachmentDecryptor::chunk_count) }
}

/// Writes the length of the stored stream (header and every chunk).
///
/// # Safety
/// As `xc_attachment_decryptor_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_encrypted_len(
    decryptor: *const XcAttachmentDecryptor,
    out_len: *mut u64,
) -> i32 {
    // SAFETY: by the contract.
    unsafe { decryptor_u64(decryptor, out_len, AttachmentDecryptor::encrypted_len) }
}

/// Writes a range `[*out_start, *out_end)` of chunk `index` computed by `range`, or
/// `XC_ERR_ATTACHMENT_NO_SUCH_CHUNK` past the last chunk.
///
/// # Safety
/// `decryptor` is any value (handles are checked); `out_start` and `out_end` are NULL or valid
/// for writing a `uint64_t`; the handle is not in use by another thread.
unsafe fn decryptor_range(
    decryptor: *const XcAttachmentDecryptor,
    index: u64,
    out_start: *mut u64,
    out_end: *mut u64,
    range: impl FnOnce(&AttachmentDecryptor, u64) -> Option<core::ops::Range<u64>>,
) -> i32 {
    guard(|| {
        // SAFETY: `out_start` is NULL or writable, by the contract.
        let out_start = unsafe { out_init(out_start, 0) }?;
        // SAFETY: `out_end` is NULL or writable, by the contract.
        let out_end = unsafe { out_init(out_end, 0) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let decryptor = unsafe { handle_ref(decryptor) }?;
        let r = range(&decryptor.inner, index).ok_or(AttachmentError::NoSuchChunk(index))?;
        // SAFETY: both were checked and written by `out_init`.
        unsafe {
            out_start.write(r.start);
            out_end.write(r.end);
        }
        Ok(())
    })
}

/// Writes where chunk `index` lies in the stored stream, `[*out_start, *out_end)` (offsets from
/// the start of the header): the bytes to fetch for it. `XC_ERR_ATTACHMENT_NO_SUCH_CHUNK` past
/// the last chunk.
///
/// # Safety
/// `decryptor` is any value (handles are checked); `out_start` and `out_end` are NULL or valid
/// for writing a `uint64_t`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_encrypted_range(
    decryptor: *const XcAttachmentDecryptor,
    index: u64,
    out_start: *mut u64,
    out_end: *mut u64,
) -> i32 {
    // SAFETY: by the contract.
    unsafe {
        decryptor_range(
            decryptor,
            index,
            out_start,
            out_end,
            AttachmentDecryptor::encrypted_range,
        )
    }
}

/// Writes which bytes of the file chunk `index` gives, `[*out_start, *out_end)` (empty for a
/// chunk wholly in the padding). `XC_ERR_ATTACHMENT_NO_SUCH_CHUNK` past the last chunk.
///
/// # Safety
/// As `xc_attachment_decryptor_encrypted_range`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_file_range(
    decryptor: *const XcAttachmentDecryptor,
    index: u64,
    out_start: *mut u64,
    out_end: *mut u64,
) -> i32 {
    // SAFETY: by the contract.
    unsafe {
        decryptor_range(
            decryptor,
            index,
            out_start,
            out_end,
            AttachmentDecryptor::file_range,
        )
    }
}

/// Checks the length of the stored stream (the server's answer, before downloading):
/// `XC_ERR_ATTACHMENT_TRUNCATED` if shorter than `xc_attachment_decryptor_encrypted_len`,
/// `XC_ERR_ATTACHMENT_TRAILING_DATA` if longer.
///
/// # Safety
/// `decryptor` is any value (handles are checked). No handle passed is in use by another thread
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_check_stored_len(
    decryptor: *const XcAttachmentDecryptor,
    len: u64,
) -> i32 {
    guard(|| {
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let decryptor = unsafe { handle_ref(decryptor) }?;
        decryptor.inner.check_stored_len(len)?;
        Ok(())
    })
}

/// Opens chunk `index` alone, from a copy (to seek): `sealed`/`len` are exactly the bytes of
/// `xc_attachment_decryptor_encrypted_range`, and `out` receives the file's bytes of
/// `xc_attachment_decryptor_file_range` (secret; maybe empty). Opening the final chunk
/// authenticates the size. Errors: `XC_ERR_ATTACHMENT_NO_SUCH_CHUNK`,
/// `XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH`, `XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION` (altered,
/// moved, repeated or foreign: fetch it again), `XC_ERR_ATTACHMENT_INVALID_PADDING` (a
/// malicious sender); the decryptor is then unchanged.
///
/// # Safety
/// `decryptor` is any value (handles are checked); `sealed`/`len` describe readable memory (NULL
/// allowed for length 0); `out` is NULL or valid for writing an `XcBuffer`. No handle passed is
/// in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_open_chunk(
    decryptor: *const XcAttachmentDecryptor,
    index: u64,
    sealed: *const u8,
    len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let decryptor = unsafe { handle_ref(decryptor) }?;
        // SAFETY: readable, by the contract.
        let sealed = unsafe { bytes_in(sealed, len) }?;
        let plain = open_copy(sealed, |buf| {
            decryptor.inner.open_chunk_in_place(index, buf)
        })?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(plain) };
        Ok(())
    })
}

/// Opens the next chunk in order, from a copy, as `xc_attachment_decryptor_open_chunk` does;
/// after the last one the attachment is complete (`xc_attachment_decryptor_is_complete`), and
/// any further chunk is `XC_ERR_ATTACHMENT_TRAILING_DATA`. If the descriptor has a digest, the
/// stored stream is hashed as it is opened and compared before the final chunk is decrypted:
/// another stream (sealed under the same key by any holder of the descriptor) is
/// `XC_ERR_ATTACHMENT_DIGEST_MISMATCH`, and the attachment never completes. A failed call does
/// not advance.
///
/// # Safety
/// `decryptor` is any value (handles are checked); `sealed`/`len` describe readable memory (NULL
/// allowed for length 0); `out` is NULL or valid for writing an `XcBuffer`. No handle passed is
/// in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_open_next(
    decryptor: *mut XcAttachmentDecryptor,
    sealed: *const u8,
    len: usize,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let decryptor = unsafe { handle_mut(decryptor) }?;
        // SAFETY: readable, by the contract.
        let sealed = unsafe { bytes_in(sealed, len) }?;
        let plain = open_copy(sealed, |buf| decryptor.inner.open_next_in_place(buf))?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(plain) };
        Ok(())
    })
}

/// Opens chunk `index` alone within the caller's memory (zero-copy): `span`/`span_len` holds
/// exactly the bytes of `xc_attachment_decryptor_encrypted_range`; on success its first
/// `*out_len` bytes are the file's bytes of `xc_attachment_decryptor_file_range` (the rest is
/// padding and tag). Errors as `xc_attachment_decryptor_open_chunk`; the span is then unchanged,
/// except after `XC_ERR_ATTACHMENT_INVALID_PADDING`, which wipes it (zeros).
///
/// # Safety
/// `decryptor` is any value (handles are checked); `span` is valid for reading and writing
/// `span_len` bytes (NULL allowed for length 0) that nothing else accesses during the call;
/// `out_len` is NULL or valid for writing a `size_t`. No handle passed is in use by another
/// thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_open_chunk_in_place(
    decryptor: *const XcAttachmentDecryptor,
    index: u64,
    span: *mut u8,
    span_len: usize,
    out_len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: `out_len` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_len, 0) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let decryptor = unsafe { handle_ref(decryptor) }?;
        // SAFETY: readable and writable, by the contract.
        let span = unsafe { bytes_in_out(span, span_len) }?;
        let n = decryptor.inner.open_chunk_in_place(index, span)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(n) };
        Ok(())
    })
}

/// Opens the next chunk in order within the caller's memory, as
/// `xc_attachment_decryptor_open_chunk_in_place` does chunk `index`; after the last one the
/// attachment is complete, and any further chunk is `XC_ERR_ATTACHMENT_TRAILING_DATA`. A
/// digest is checked as by `xc_attachment_decryptor_open_next`
/// (`XC_ERR_ATTACHMENT_DIGEST_MISMATCH`, the span unchanged). A failed call does not advance.
///
/// # Safety
/// As `xc_attachment_decryptor_open_chunk_in_place`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_open_next_in_place(
    decryptor: *mut XcAttachmentDecryptor,
    span: *mut u8,
    span_len: usize,
    out_len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: `out_len` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_len, 0) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let decryptor = unsafe { handle_mut(decryptor) }?;
        // SAFETY: readable and writable, by the contract.
        let span = unsafe { bytes_in_out(span, span_len) }?;
        let n = decryptor.inner.open_next_in_place(span)?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(n) };
        Ok(())
    })
}

/// Writes whether `xc_attachment_decryptor_open_next` (or its `_in_place` variant) opened every
/// chunk, the final one included: the whole file, nothing cut, moved or added — and, if the
/// descriptor has a digest, exactly the stream its sender made. Until it is, the file is
/// incomplete, whatever the chunks opened say.
///
/// # Safety
/// `decryptor` is any value (handles are checked); `out_complete` is NULL or valid for writing a
/// `bool`. No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_is_complete(
    decryptor: *const XcAttachmentDecryptor,
    out_complete: *mut bool,
) -> i32 {
    guard(|| {
        // SAFETY: `out_complete` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_complete, false) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let decryptor = unsafe { handle_ref(decryptor) }?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(decryptor.inner.is_complete()) };
        Ok(())
    })
}

/// Frees a decryptor (its keys are zeroed) and sets `*decryptor` to NULL (as `xc_session_free`).
///
/// # Safety
/// `decryptor` is NULL or valid for reading and writing one pointer; no other thread uses it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_attachment_decryptor_free(
    decryptor: *mut *mut XcAttachmentDecryptor,
) -> i32 {
    // SAFETY: by the contract.
    unsafe { free_handle(decryptor) }
}
