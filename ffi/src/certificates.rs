//! Certificate keys: the operator's trust root and its servers (server side, and tests).

use xchat_protocol::{CertificateKey, CertificateKeyPair, IdentityKey, ServerCertificate};

use crate::util::{
    XcBuffer, bytes_in, free_handle, guard, handle_ref, into_handle, key_in, key_out, os_rng,
    out_init, write_key,
};

/// A certificate-signing key pair (secret): a trust root, which certifies servers, or a
/// server key, which certifies senders. Clients never hold one; they hold trust roots' public
/// keys.
pub struct XcCertKey {
    pub(crate) inner: CertificateKeyPair,
}

/// Generates a certificate key pair from the operating system's RNG. It cannot be exported:
/// to persist one, create it with `xc_cert_key_from_seed` from 32 random bytes you store.
///
/// # Safety
/// `out_key` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_cert_key_generate(out_key: *mut *mut XcCertKey) -> i32 {
    guard(|| {
        // SAFETY: `out_key` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_key, core::ptr::null_mut()) }?;
        let key = XcCertKey {
            inner: CertificateKeyPair::generate(&mut os_rng()),
        };
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(key)) };
        Ok(())
    })
}

/// Rebuilds a certificate key pair from a 32-byte secret seed (the same seed gives the same
/// key).
///
/// # Safety
/// `seed` is NULL or valid for reading 32 bytes; `out_key` is NULL or valid for writing one
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_cert_key_from_seed(
    seed: *const u8,
    out_key: *mut *mut XcCertKey,
) -> i32 {
    guard(|| {
        // SAFETY: `out_key` is NULL or writable, by the contract.
        let out = unsafe { out_init(out_key, core::ptr::null_mut()) }?;
        // SAFETY: `seed` is NULL or readable for 32 bytes, by the contract.
        let seed = zeroize::Zeroizing::new(unsafe { key_in(seed) }?);
        let key = XcCertKey {
            inner: CertificateKeyPair::from_seed(&seed),
        };
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(into_handle(key)) };
        Ok(())
    })
}

/// Writes the 32-byte public key to `out_key`: for a trust root, what clients pass to
/// `xc_open` as a trust root; for a server, what the trust root certifies.
///
/// # Safety
/// `key` is any value (handles are checked); `out_key` is NULL or valid for writing 32 bytes.
/// No handle passed is in use by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_cert_key_public_key(key: *const XcCertKey, out_key: *mut u8) -> i32 {
    guard(|| {
        let out = key_out(out_key)?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let key = unsafe { handle_ref(key) }?;
        // SAFETY: `out` is non-null and writable for 32 bytes, by the contract.
        unsafe { write_key(out, key.inner.public().to_bytes()) };
        Ok(())
    })
}

/// The trust root's operation: certifies the server key `server_public_key` (32 bytes) under
/// the server id `server_id` (the id revocation lists name). Returns the encoded server
/// certificate.
///
/// # Safety
/// `root` is any value (handles are checked); `server_public_key` is NULL or valid for reading 32
/// bytes; `out` is NULL or valid for writing an `XcBuffer`. No handle passed is in use by another
/// thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_cert_key_certify_server(
    root: *const XcCertKey,
    server_id: u32,
    server_public_key: *const u8,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let root = unsafe { handle_ref(root) }?;
        // SAFETY: NULL or readable for 32 bytes, by the contract.
        let server = CertificateKey::from_bytes(unsafe { key_in(server_public_key) }?)?;
        let certificate = root.inner.certify_server(server_id, &server);
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&certificate.to_bytes())) };
        Ok(())
    })
}

/// The server's operation: certifies a sender device. `server_certificate` is this server's own
/// certificate (from `xc_cert_key_certify_server`); `address` is the sender's opaque account id
/// (1 to 255 bytes); `identity_public_key` the device's 32-byte identity key; `expires_ms` the
/// expiry in milliseconds since the Unix epoch. Returns the encoded sender certificate.
///
/// # Safety
/// `server` is any value (handles are checked); each pointer/length pair describes readable memory
/// (NULL allowed for length 0); `identity_public_key` is NULL or valid for reading 32 bytes; `out`
/// is NULL or valid for writing an `XcBuffer`. No handle passed is in use by another thread during
/// the call.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn xc_cert_key_certify_sender(
    server: *const XcCertKey,
    server_certificate: *const u8,
    server_certificate_len: usize,
    address: *const u8,
    address_len: usize,
    device_id: u32,
    identity_public_key: *const u8,
    expires_ms: u64,
    out: *mut XcBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: `out` is NULL or writable, by the contract.
        let out = unsafe { out_init(out, XcBuffer::EMPTY) }?;
        // SAFETY: checked by the registry; not in use elsewhere, by the contract.
        let server = unsafe { handle_ref(server) }?;
        // SAFETY: pointer/length pairs describe readable memory, by the contract.
        let server_certificate = unsafe { bytes_in(server_certificate, server_certificate_len) }?;
        // SAFETY: as above.
        let address = unsafe { bytes_in(address, address_len) }?;
        // SAFETY: NULL or readable for 32 bytes, by the contract.
        let identity = IdentityKey::from_bytes(unsafe { key_in(identity_public_key) }?)?;
        let server_certificate = ServerCertificate::from_bytes(server_certificate)?;
        let certificate = server.inner.certify_sender(
            &server_certificate,
            address,
            device_id,
            &identity,
            expires_ms,
        )?;
        let bytes = certificate.to_bytes()?;
        // SAFETY: `out` was checked and written by `out_init`.
        unsafe { out.write(XcBuffer::copy_of(&bytes)) };
        Ok(())
    })
}

/// Frees a certificate key pair, and sets the caller's variable `*key` to NULL so that it cannot be
/// used again. Returns `XC_OK`, also when `key` or `*key` is NULL (so freeing the same variable
/// twice is harmless). `XC_ERR_INVALID_HANDLE` when `*key` is not a live certificate key handle
/// (freed through another copy, never issued, or a handle of another type): nothing is freed and
/// `*key` is left as it was (`XC_ERR_INVALID_ARGUMENT` likewise when `key` is misaligned).
///
/// # Safety
/// `key` is NULL or valid for reading and writing one pointer; no other thread is using the
/// handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xc_cert_key_free(key: *mut *mut XcCertKey) -> i32 {
    // SAFETY: `key` is NULL or a readable and writable pointer, by the contract.
    unsafe { free_handle(key) }
}
