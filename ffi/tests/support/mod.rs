//! Helpers shared by the C ABI tests: checked calls, buffers, identities, a certificate chain,
//! sealing and opening.
#![allow(dead_code)]

use core::ffi::CStr;
use core::ptr;

use xchat_protocol_ffi::*;

pub(crate) const T0: u64 = 1_700_000_000_000;
pub(crate) const DAY_MS: u64 = 86_400_000;

pub(crate) fn ok(code: i32) {
    assert_eq!(code, XC_OK, "{}", message(code));
}

pub(crate) fn message(code: i32) -> String {
    // SAFETY: `xc_error_message` returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(xc_error_message(code)) }
        .to_string_lossy()
        .into_owned()
}

pub(crate) fn empty() -> XcBuffer {
    XcBuffer {
        ptr: ptr::null_mut(),
        len: 0,
    }
}

/// Takes a library buffer's bytes and frees it.
pub(crate) fn take(mut buffer: XcBuffer) -> Vec<u8> {
    let bytes = if buffer.ptr.is_null() {
        Vec::new()
    } else {
        // SAFETY: the library filled `buffer` with `len` readable bytes.
        unsafe { core::slice::from_raw_parts(buffer.ptr, buffer.len) }.to_vec()
    };
    // SAFETY: `buffer` came from the library and is freed once.
    unsafe { xc_buffer_free(&mut buffer) };
    assert!(buffer.ptr.is_null() && buffer.len == 0);
    bytes
}

pub(crate) fn identity() -> *mut XcIdentity {
    let mut id = ptr::null_mut();
    // SAFETY: a valid out-pointer.
    ok(unsafe { xc_identity_generate(&mut id) });
    id
}

pub(crate) fn public_key(id: *const XcIdentity) -> [u8; 32] {
    let mut key = [0; 32];
    // SAFETY: a live handle and 32 writable bytes.
    ok(unsafe { xc_identity_public_key(id, key.as_mut_ptr()) });
    key
}

pub(crate) struct Pki {
    pub(crate) root: *mut XcCertKey,
    pub(crate) server: *mut XcCertKey,
    pub(crate) root_key: [u8; 32],
    pub(crate) server_cert: Vec<u8>,
}

impl Pki {
    pub(crate) fn new() -> Self {
        let (mut root, mut server) = (ptr::null_mut(), ptr::null_mut());
        let (mut root_key, mut server_key) = ([0; 32], [0; 32]);
        let mut cert = empty();
        // SAFETY: valid out-pointers and live handles throughout.
        unsafe {
            ok(xc_cert_key_generate(&mut root));
            ok(xc_cert_key_generate(&mut server));
            ok(xc_cert_key_public_key(root, root_key.as_mut_ptr()));
            ok(xc_cert_key_public_key(server, server_key.as_mut_ptr()));
            ok(xc_cert_key_certify_server(
                root,
                7,
                server_key.as_ptr(),
                &mut cert,
            ));
        }
        Self {
            root,
            server,
            root_key,
            server_cert: take(cert),
        }
    }

    pub(crate) fn certify(&self, address: &[u8], id: *const XcIdentity) -> Vec<u8> {
        let key = public_key(id);
        let mut out = empty();
        // SAFETY: live handle, valid slices, a 32-byte key and a valid out-pointer.
        ok(unsafe {
            xc_cert_key_certify_sender(
                self.server,
                self.server_cert.as_ptr(),
                self.server_cert.len(),
                address.as_ptr(),
                address.len(),
                2,
                key.as_ptr(),
                T0 + DAY_MS,
                &mut out,
            )
        });
        take(out)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        // SAFETY: live handles, freed once.
        unsafe {
            ok(xc_cert_key_free(&mut self.root));
            ok(xc_cert_key_free(&mut self.server));
        }
    }
}

pub(crate) fn seal(
    sender: *const XcIdentity,
    cert: &[u8],
    session: *const XcSession,
    message: &[u8],
) -> Vec<u8> {
    let mut out = empty();
    // SAFETY: live handles, valid slices and out-pointer.
    ok(unsafe {
        xc_seal(
            sender,
            cert.as_ptr(),
            cert.len(),
            session,
            message.as_ptr(),
            message.len(),
            &mut out,
        )
    });
    take(out)
}

pub(crate) fn open(
    me: *const XcIdentity,
    root: &[u8; 32],
    now: u64,
    envelope: &[u8],
) -> *mut XcOpened {
    let mut opened = ptr::null_mut();
    // SAFETY: live handle, one 32-byte root, valid slices and out-pointer.
    ok(unsafe {
        xc_open(
            me,
            root.as_ptr(),
            1,
            ptr::null(),
            0,
            now,
            envelope.as_ptr(),
            envelope.len(),
            &mut opened,
        )
    });
    opened
}

pub(crate) fn send(session: *mut XcSession, now: u64, body: &[u8]) -> Vec<u8> {
    let mut out = empty();
    // SAFETY: live handle, valid slice and out-pointer.
    ok(unsafe { xc_session_send(session, now, body.as_ptr(), body.len(), &mut out) });
    take(out)
}

pub(crate) fn body_of(received: &mut XcReceived) -> Vec<u8> {
    let body = if received.body.ptr.is_null() {
        Vec::new()
    } else {
        // SAFETY: the library filled the body with `len` readable bytes.
        unsafe { core::slice::from_raw_parts(received.body.ptr, received.body.len) }.to_vec()
    };
    // SAFETY: filled by the library; freed once (a second free is a no-op).
    unsafe {
        xc_received_free(received);
        xc_received_free(received);
    }
    body
}

pub(crate) fn blank_received() -> XcReceived {
    XcReceived {
        status: u32::MAX,
        body: empty(),
        sent_at_ms: 0,
        deadline_ms: 0,
        kind: 0,
        timer_duration_s: 0,
        timer_start: 0,
        timer_version: 0,
        deadline_kind: 0,
        timer_changed: false,
    }
}
