//! The attachment C ABI (SPEC.md §14) exercised from Rust through the `extern "C"` functions:
//! multi-chunk round trips with copies and in place (and across the two), the descriptor sent
//! over a sealed session and (with its digest) to a group, a stream sealed again under a
//! digest descriptor's key, and every error code the attachment functions return.

use core::convert::Infallible;
use core::ptr;

use rand_core::{TryCryptoRng, TryRng};
use xchat_protocol::attachment::{AttachmentDescriptor, AttachmentEncryptor};
use xchat_protocol_ffi::*;

mod support;

use support::*;

/// Offset of the descriptor's `size` field (SPEC.md §14.4: version, key, salt, commitment).
const SIZE_AT: usize = 1 + 32 + 24 + 32;
/// Offset of the descriptor's key.
const KEY_AT: usize = 1;
/// Offset of the descriptor's salt.
const SALT_AT: usize = 1 + 32;
/// Offset of the descriptor's digest flag (after the size and the padded size).
const DIGEST_FLAG_AT: usize = SIZE_AT + 16;

fn file(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect()
}

fn encryptor(size: u64) -> *mut XcAttachmentEncryptor {
    let mut enc = ptr::null_mut();
    // SAFETY: a valid out-pointer.
    ok(unsafe { xc_attachment_encryptor_new(size, &mut enc) });
    assert!(!enc.is_null());
    enc
}

/// An encryptor whose descriptor will carry the stream's digest (required for a group).
fn encryptor_with_digest(size: u64) -> *mut XcAttachmentEncryptor {
    let mut enc = ptr::null_mut();
    // SAFETY: a valid out-pointer.
    ok(unsafe { xc_attachment_encryptor_new_with_digest(size, &mut enc) });
    assert!(!enc.is_null());
    enc
}

/// Whether `descriptor` parses and carries a digest, through `xc_attachment_descriptor_info`.
fn has_digest(descriptor: &[u8]) -> bool {
    let (mut size, mut has_name, mut has_thumb, mut has_digest) = (0, false, false, false);
    let (mut ct, mut name, mut thumb, mut loc) = (empty(), empty(), empty(), empty());
    // SAFETY: a readable slice and out-pointers.
    ok(unsafe {
        xc_attachment_descriptor_info(
            descriptor.as_ptr(),
            descriptor.len(),
            &mut size,
            &mut ct,
            &mut name,
            &mut has_name,
            &mut thumb,
            &mut has_thumb,
            &mut loc,
            &mut has_digest,
        )
    });
    for buf in [ct, name, thumb, loc] {
        take(buf);
    }
    has_digest
}

fn encrypted_len(enc: *const XcAttachmentEncryptor) -> usize {
    let mut len = u64::MAX;
    // SAFETY: a live handle and an out-pointer.
    ok(unsafe { xc_attachment_encryptor_encrypted_len(enc, &mut len) });
    usize::try_from(len).unwrap()
}

fn header(enc: *const XcAttachmentEncryptor) -> Vec<u8> {
    let mut out = empty();
    // SAFETY: a live handle and an out-pointer.
    ok(unsafe { xc_attachment_encryptor_header(enc, &mut out) });
    let header = take(out);
    assert_eq!(header.len(), XC_ATTACHMENT_HEADER_LEN);
    header
}

/// The file bytes the next chunk takes, or `None` once every chunk is sealed.
fn next_input_len(enc: *const XcAttachmentEncryptor) -> Option<usize> {
    let (mut n, mut has_next) = (usize::MAX, true);
    // SAFETY: a live handle and out-pointers.
    ok(unsafe { xc_attachment_encryptor_next_input_len(enc, &mut n, &mut has_next) });
    if has_next {
        Some(n)
    } else {
        assert_eq!(n, 0);
        None
    }
}

fn next_range(enc: *const XcAttachmentEncryptor) -> (usize, usize) {
    let (mut start, mut end) = (0, 0);
    // SAFETY: a live handle and out-pointers.
    ok(unsafe { xc_attachment_encryptor_next_range(enc, &mut start, &mut end) });
    (start as usize, end as usize)
}

/// Seals `data` chunk by chunk from copies (`xc_attachment_encryptor_seal_next`); returns the
/// upload (header, then every chunk).
fn seal_with_copies(enc: *mut XcAttachmentEncryptor, data: &[u8]) -> Vec<u8> {
    let mut upload = header(enc);
    let mut rest = data;
    while let Some(n) = next_input_len(enc) {
        let (start, end) = next_range(enc);
        assert_eq!(start, upload.len());
        let (piece, tail) = rest.split_at(n);
        let mut out = empty();
        // SAFETY: a live handle, `n` readable bytes and an out-pointer.
        ok(unsafe { xc_attachment_encryptor_seal_next(enc, piece.as_ptr(), n, &mut out) });
        let sealed = take(out);
        assert_eq!(sealed.len(), end - start);
        upload.extend_from_slice(&sealed);
        rest = tail;
    }
    assert!(rest.is_empty());
    assert_eq!(upload.len(), encrypted_len(enc));
    upload
}

/// Seals `data` within one upload buffer (`xc_attachment_encryptor_seal_next_in_place`): the
/// file's bytes are laid at each chunk's place and sealed there.
fn seal_in_place(enc: *mut XcAttachmentEncryptor, data: &[u8]) -> Vec<u8> {
    let mut upload = vec![0xEE; encrypted_len(enc)];
    upload[..XC_ATTACHMENT_HEADER_LEN].copy_from_slice(&header(enc));
    let mut rest = data;
    while let Some(n) = next_input_len(enc) {
        let (start, end) = next_range(enc);
        let (piece, tail) = rest.split_at(n);
        let span = &mut upload[start..end];
        span[..n].copy_from_slice(piece);
        // SAFETY: a live handle and a span of `end - start` writable bytes.
        ok(unsafe {
            xc_attachment_encryptor_seal_next_in_place(enc, span.as_mut_ptr(), span.len())
        });
        rest = tail;
    }
    assert!(rest.is_empty());
    upload
}

/// Consumes the encryptor: a descriptor of type `image/png`, named `photo.png`, stored at
/// `blob/1`.
fn finish(enc: &mut *mut XcAttachmentEncryptor) -> Vec<u8> {
    let (ct, name, thumb, loc) = (b"image/png", b"photo.png", [1u8, 2, 3], b"blob/1");
    let mut out = empty();
    // SAFETY: the address of a live handle, readable slices and an out-pointer.
    ok(unsafe {
        xc_attachment_encryptor_finish(
            enc,
            ct.as_ptr(),
            ct.len(),
            name.as_ptr(),
            name.len(),
            thumb.as_ptr(),
            thumb.len(),
            loc.as_ptr(),
            loc.len(),
            &mut out,
        )
    });
    assert!(enc.is_null(), "consumed");
    take(out)
}

/// A decryptor for `descriptor`, given the stored header: the first `XC_ATTACHMENT_HEADER_LEN`
/// bytes of `upload`.
fn decryptor(descriptor: &[u8], upload: &[u8]) -> *mut XcAttachmentDecryptor {
    let mut dec = ptr::null_mut();
    // SAFETY: readable slices and an out-pointer.
    ok(unsafe {
        xc_attachment_decryptor_new(
            descriptor.as_ptr(),
            descriptor.len(),
            upload.as_ptr(),
            XC_ATTACHMENT_HEADER_LEN,
            &mut dec,
        )
    });
    dec
}

fn chunk_count(dec: *const XcAttachmentDecryptor) -> u64 {
    let mut n = 0;
    // SAFETY: a live handle and an out-pointer.
    ok(unsafe { xc_attachment_decryptor_chunk_count(dec, &mut n) });
    n
}

fn encrypted_range(dec: *const XcAttachmentDecryptor, index: u64) -> (usize, usize) {
    let (mut start, mut end) = (0, 0);
    // SAFETY: a live handle and out-pointers.
    ok(unsafe { xc_attachment_decryptor_encrypted_range(dec, index, &mut start, &mut end) });
    (start as usize, end as usize)
}

fn file_range(dec: *const XcAttachmentDecryptor, index: u64) -> (usize, usize) {
    let (mut start, mut end) = (0, 0);
    // SAFETY: a live handle and out-pointers.
    ok(unsafe { xc_attachment_decryptor_file_range(dec, index, &mut start, &mut end) });
    (start as usize, end as usize)
}

fn is_complete(dec: *const XcAttachmentDecryptor) -> bool {
    let mut complete = true;
    // SAFETY: a live handle and an out-pointer.
    ok(unsafe { xc_attachment_decryptor_is_complete(dec, &mut complete) });
    complete
}

/// Opens every chunk in order from copies (`xc_attachment_decryptor_open_next`).
fn open_with_copies(dec: *mut XcAttachmentDecryptor, upload: &[u8]) -> Vec<u8> {
    let mut stored = 0;
    // SAFETY: a live handle and an out-pointer.
    ok(unsafe { xc_attachment_decryptor_encrypted_len(dec, &mut stored) });
    assert_eq!(stored as usize, upload.len());
    // SAFETY: a live handle.
    ok(unsafe { xc_attachment_decryptor_check_stored_len(dec, stored) });
    let mut data = Vec::new();
    for i in 0..chunk_count(dec) {
        assert!(!is_complete(dec));
        let (start, end) = encrypted_range(dec, i);
        let sealed = &upload[start..end];
        let mut out = empty();
        // SAFETY: a live handle, a readable slice and an out-pointer.
        ok(unsafe {
            xc_attachment_decryptor_open_next(dec, sealed.as_ptr(), sealed.len(), &mut out)
        });
        let plain = take(out);
        let (fs, fe) = file_range(dec, i);
        assert_eq!(plain.len(), fe - fs);
        assert_eq!(fs, data.len());
        data.extend_from_slice(&plain);
    }
    assert!(is_complete(dec));
    data
}

/// Opens every chunk in order within one copy of the upload
/// (`xc_attachment_decryptor_open_next_in_place`).
fn open_in_place(dec: *mut XcAttachmentDecryptor, upload: &[u8]) -> Vec<u8> {
    let mut stream = upload.to_vec();
    let mut data = Vec::new();
    for i in 0..chunk_count(dec) {
        let (start, end) = encrypted_range(dec, i);
        let span = &mut stream[start..end];
        let mut n = usize::MAX;
        // SAFETY: a live handle, a span of writable bytes and an out-pointer.
        ok(unsafe {
            xc_attachment_decryptor_open_next_in_place(dec, span.as_mut_ptr(), span.len(), &mut n)
        });
        let (fs, fe) = file_range(dec, i);
        assert_eq!(n, fe - fs);
        data.extend_from_slice(&span[..n]);
    }
    assert!(is_complete(dec));
    data
}

fn free_decryptor(dec: &mut *mut XcAttachmentDecryptor) {
    // SAFETY: the address of a live handle.
    ok(unsafe { xc_attachment_decryptor_free(dec) });
    assert!(dec.is_null());
}

#[test]
fn a_multi_chunk_attachment_round_trips_with_copies_and_in_place() {
    // 100 000 bytes pad to 100 352: six full chunks and a final one of 2 048 bytes, of which
    // the file fills 1 696.
    let data = file(100_000);
    let mut by_copy = encryptor(data.len() as u64);
    let mut by_span = encryptor(data.len() as u64);
    let copied = seal_with_copies(by_copy, &data);
    let spanned = seal_in_place(by_span, &data);
    assert_eq!(copied.len(), 56 + 100_352 + 7 * 16);
    assert_eq!(spanned.len(), copied.len());
    assert_ne!(copied, spanned, "each attachment has its own key and salt");
    let d_copy = finish(&mut by_copy);
    let d_span = finish(&mut by_span);

    let mut size = 0;
    for (descriptor, upload) in [(&d_copy, &copied), (&d_span, &spanned)] {
        // Both ways of opening, on both ways of sealing.
        let mut dec = decryptor(descriptor, upload);
        // SAFETY: a live handle and an out-pointer.
        ok(unsafe { xc_attachment_decryptor_size(dec, &mut size) });
        assert_eq!(size, 100_000);
        assert_eq!(chunk_count(dec), 7);
        assert_eq!(open_with_copies(dec, upload), data);
        free_decryptor(&mut dec);
        let mut dec = decryptor(descriptor, upload);
        assert_eq!(open_in_place(dec, upload), data);

        // Any chunk alone, in any order, from a copy and in place; the decryptor's position
        // is not involved.
        for i in (0..7).rev() {
            let (start, end) = encrypted_range(dec, i);
            let (fs, fe) = file_range(dec, i);
            let mut out = empty();
            // SAFETY: a live handle, a readable slice and an out-pointer.
            ok(unsafe {
                xc_attachment_decryptor_open_chunk(
                    dec,
                    i,
                    upload[start..end].as_ptr(),
                    end - start,
                    &mut out,
                )
            });
            assert_eq!(take(out), data[fs..fe]);
            let mut span = upload[start..end].to_vec();
            let mut n = 0;
            // SAFETY: a live handle, writable bytes and an out-pointer.
            ok(unsafe {
                xc_attachment_decryptor_open_chunk_in_place(
                    dec,
                    i,
                    span.as_mut_ptr(),
                    span.len(),
                    &mut n,
                )
            });
            assert_eq!(span[..n], data[fs..fe]);
        }
        free_decryptor(&mut dec);
    }
}

#[test]
fn a_chunk_of_padding_only_takes_no_file_bytes() {
    // 1 MiB + 1 byte pads to 1 MiB + 32 KiB: chunk 64 holds the last file byte, chunk 65 is
    // padding only (it takes 0 bytes of the file), and chunk 66 is the empty final chunk.
    let data = file((1 << 20) + 1);
    let mut enc = encryptor(data.len() as u64);
    let mut takes = Vec::new();
    let mut upload = vec![0; encrypted_len(enc)];
    upload[..56].copy_from_slice(&header(enc));
    let mut rest = &data[..];
    while let Some(n) = next_input_len(enc) {
        takes.push(n);
        let (start, end) = next_range(enc);
        let (piece, tail) = rest.split_at(n);
        upload[start..start + n].copy_from_slice(piece);
        // SAFETY: a live handle and a writable span.
        ok(unsafe {
            xc_attachment_encryptor_seal_next_in_place(
                enc,
                upload[start..end].as_mut_ptr(),
                end - start,
            )
        });
        rest = tail;
    }
    assert_eq!(takes.len(), 67);
    assert_eq!(takes[63], 16384);
    assert_eq!(&takes[64..], [1, 0, 0]);
    let descriptor = finish(&mut enc);
    let mut dec = decryptor(&descriptor, &upload);
    assert_eq!(file_range(dec, 65), (data.len(), data.len()));
    assert_eq!(open_with_copies(dec, &upload), data);
    free_decryptor(&mut dec);
}

#[test]
fn the_descriptor_reads_back() {
    let mut enc = encryptor(0);
    let upload = seal_with_copies(enc, &[]);
    assert_eq!(
        upload.len(),
        56 + 256 + 16,
        "even an empty file is padded to 256 bytes"
    );
    let descriptor = finish(&mut enc);
    let (mut size, mut has_name, mut has_thumb, mut has_dg) = (1, false, false, true);
    let (mut ct, mut name, mut thumb, mut loc) = (empty(), empty(), empty(), empty());
    // SAFETY: a readable slice and out-pointers.
    ok(unsafe {
        xc_attachment_descriptor_info(
            descriptor.as_ptr(),
            descriptor.len(),
            &mut size,
            &mut ct,
            &mut name,
            &mut has_name,
            &mut thumb,
            &mut has_thumb,
            &mut loc,
            &mut has_dg,
        )
    });
    assert_eq!(size, 0);
    assert_eq!(take(ct), b"image/png");
    assert!(has_name && has_thumb);
    assert!(!has_dg, "sealed without a digest");
    assert_eq!(take(name), b"photo.png");
    assert_eq!(take(thumb), [1, 2, 3]);
    assert_eq!(take(loc), b"blob/1");

    // No file name, an empty thumbnail (which differs from none), an empty location.
    let mut enc = encryptor(5);
    seal_with_copies(enc, b"hello");
    let mut out = empty();
    // SAFETY: the address of a live handle, readable slices (NULL with length 0 for none) and
    // an out-pointer.
    ok(unsafe {
        xc_attachment_encryptor_finish(
            &mut enc,
            b"text/plain".as_ptr(),
            10,
            ptr::null(),
            0,
            [0u8; 0].as_ptr(),
            0,
            ptr::null(),
            0,
            &mut out,
        )
    });
    let descriptor = take(out);
    let (mut ct, mut name, mut thumb, mut loc) = (empty(), empty(), empty(), empty());
    // SAFETY: as above.
    ok(unsafe {
        xc_attachment_descriptor_info(
            descriptor.as_ptr(),
            descriptor.len(),
            &mut size,
            &mut ct,
            &mut name,
            &mut has_name,
            &mut thumb,
            &mut has_thumb,
            &mut loc,
            &mut has_dg,
        )
    });
    assert_eq!(size, 5);
    assert_eq!(take(ct), b"text/plain");
    assert!(!has_name && has_thumb);
    assert!(name.ptr.is_null() && thumb.ptr.is_null() && loc.ptr.is_null());

    // With a digest: 32 bytes more, after the flag.
    let mut enc = encryptor_with_digest(0);
    let upload = seal_with_copies(enc, &[]);
    let with = finish(&mut enc);
    assert!(has_digest(&with));
    assert_eq!(with[DIGEST_FLAG_AT], 1);
    let mut enc = encryptor(0);
    seal_with_copies(enc, &[]);
    let without = finish(&mut enc);
    assert!(!has_digest(&without));
    assert_eq!(without[DIGEST_FLAG_AT], 0);
    assert_eq!(with.len(), without.len() + 32);
    let mut dec = decryptor(&with, &upload);
    assert_eq!(open_with_copies(dec, &upload), b"");
    free_decryptor(&mut dec);
}

/// A sealed PQXDH session from Alice to Bob, and Bob's.
struct Pair {
    pki: Pki,
    alice: *mut XcIdentity,
    bob: *mut XcIdentity,
    alice_cert: Vec<u8>,
    to_bob: *mut XcSession,
    to_alice: *mut XcSession,
    store: *mut XcPreKeyStore,
}

impl Pair {
    fn new() -> Self {
        let pki = Pki::new();
        let (alice, bob) = (identity(), identity());
        let alice_cert = pki.certify(b"alice", alice);
        let (mut store, mut to_bob, mut to_alice) =
            (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        // SAFETY: live handles, valid slices and out-pointers throughout.
        unsafe {
            ok(xc_prekey_store_new(&mut store));
            ok(xc_prekey_store_rotate_signed_prekey(
                store,
                bob,
                T0,
                ptr::null_mut(),
            ));
            ok(xc_prekey_store_rotate_kem_prekey(
                store,
                bob,
                T0,
                ptr::null_mut(),
            ));
            let mut bundle = empty();
            ok(xc_prekey_store_bundle(
                store,
                bob,
                XC_NO_ONE_TIME_PREKEY,
                &mut bundle,
            ));
            let bundle = take(bundle);
            ok(xc_session_initiate(
                alice,
                bundle.as_ptr(),
                bundle.len(),
                ptr::null(),
                b"a".as_ptr(),
                1,
                &mut to_bob,
            ));
            let first = seal(alice, &alice_cert, to_bob, &send(to_bob, T0, b"hi"));
            let mut opened = open(bob, &pki.root_key, T0, &first);
            let mut received = blank_received();
            ok(xc_opened_respond(
                &mut opened,
                bob,
                store,
                b"a".as_ptr(),
                1,
                &mut to_alice,
                &mut received,
            ));
            assert_eq!(body_of(&mut received), b"hi");
        }
        Self {
            pki,
            alice,
            bob,
            alice_cert,
            to_bob,
            to_alice,
            store,
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // SAFETY: live handles, freed once.
        unsafe {
            ok(xc_session_free(&mut self.to_bob));
            ok(xc_session_free(&mut self.to_alice));
            ok(xc_prekey_store_free(&mut self.store));
            ok(xc_identity_free(&mut self.alice));
            ok(xc_identity_free(&mut self.bob));
        }
    }
}

#[test]
fn the_descriptor_travels_over_a_sealed_session() {
    let pair = Pair::new();
    let data = file(40_000);
    let mut enc = encryptor(data.len() as u64);
    let upload = seal_in_place(enc, &data);
    let descriptor = finish(&mut enc);
    let mut inner = empty();
    // SAFETY: a live handle, a readable slice and an out-pointer.
    ok(unsafe {
        xc_session_send_attachment(
            pair.to_bob,
            T0 + 1,
            descriptor.as_ptr(),
            descriptor.len(),
            &mut inner,
        )
    });
    let envelope = seal(pair.alice, &pair.alice_cert, pair.to_bob, &take(inner));
    let mut opened = open(pair.bob, &pair.pki.root_key, T0 + 1, &envelope);
    let mut received = blank_received();
    // SAFETY: the address of a live envelope, a live session and an out-pointer.
    ok(unsafe { xc_opened_decrypt(&mut opened, pair.to_alice, &mut received) });
    assert_eq!(received.status, XC_RECEIVED_MESSAGE);
    assert_eq!(received.kind, XC_CONTENT_KIND_ATTACHMENT);
    assert_eq!(received.sent_at_ms, T0 + 1);
    let body = body_of(&mut received);
    assert_eq!(body, descriptor);
    let mut dec = decryptor(&body, &upload);
    assert_eq!(open_with_copies(dec, &upload), data);
    free_decryptor(&mut dec);

    // A malformed descriptor is refused before the session is touched.
    let mut out = empty();
    // SAFETY: a live handle, a readable slice and an out-pointer.
    unsafe {
        assert_eq!(
            xc_session_send_attachment(pair.to_bob, T0, descriptor.as_ptr(), 50, &mut out),
            XC_ERR_DECODE_TRUNCATED
        );
        assert_eq!(
            xc_session_send_attachment(pair.to_bob, T0, ptr::null(), descriptor.len(), &mut out),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_session_send_attachment(
                pair.bob.cast(),
                T0,
                descriptor.as_ptr(),
                descriptor.len(),
                &mut out
            ),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_session_send_attachment(
                pair.to_bob,
                T0,
                descriptor.as_ptr(),
                descriptor.len(),
                ptr::null_mut()
            ),
            XC_ERR_NULL_POINTER
        );
    }
    assert!(out.ptr.is_null());
}

#[test]
fn the_descriptor_goes_to_a_group() {
    let pki = Pki::new();
    let (mut alice, mut bob) = (identity(), identity());
    let (ka, kb) = (public_key(alice), public_key(bob));
    let alice_cert = pki.certify(b"alice", alice);
    let id = [0x41; 32];
    let (mut ga, mut gb) = (ptr::null_mut(), ptr::null_mut());
    let data = file(20_000);
    let mut enc = encryptor_with_digest(data.len() as u64);
    let upload = seal_with_copies(enc, &data);
    let descriptor = finish(&mut enc);
    assert!(has_digest(&descriptor));
    // The same file sealed without a digest: fine for a session, refused for a group.
    let mut enc = encryptor(data.len() as u64);
    seal_with_copies(enc, &data);
    let bare = finish(&mut enc);
    assert!(!has_digest(&bare));
    // SAFETY: live handles, valid slices and out-pointers throughout.
    unsafe {
        ok(xc_group_new(
            alice,
            id.as_ptr(),
            kb.as_ptr(),
            1,
            T0,
            &mut ga,
        ));
        ok(xc_group_new(bob, id.as_ptr(), ka.as_ptr(), 1, T0, &mut gb));
        let mut message = empty();
        // No digest is refused first, before the group is looked at; with one, the group's own
        // code.
        assert_eq!(
            xc_group_send_attachment(ga, T0, bare.as_ptr(), bare.len(), &mut message),
            XC_ERR_ATTACHMENT_DIGEST_REQUIRED
        );
        assert!(message.ptr.is_null());
        assert_eq!(
            xc_group_send_attachment(ga, T0, descriptor.as_ptr(), descriptor.len(), &mut message),
            XC_ERR_GROUP_DISTRIBUTION_PENDING
        );
        let (mut d, mut r) = (empty(), empty());
        ok(xc_group_distribution(ga, T0, &mut d, &mut r));
        let d = take(d);
        take(r);
        ok(xc_group_process_distribution(
            gb,
            ka.as_ptr(),
            d.as_ptr(),
            d.len(),
        ));
        ok(xc_group_mark_distributed(
            ga,
            kb.as_ptr(),
            d.as_ptr(),
            d.len(),
        ));
        // Ready to send, and still no group message without a digest.
        assert_eq!(
            xc_group_send_attachment(ga, T0 + 1, bare.as_ptr(), bare.len(), &mut message),
            XC_ERR_ATTACHMENT_DIGEST_REQUIRED
        );
        assert!(message.ptr.is_null());
        ok(xc_group_send_attachment(
            ga,
            T0 + 1,
            descriptor.as_ptr(),
            descriptor.len(),
            &mut message,
        ));
        let message = take(message);
        let mut sealed = empty();
        ok(xc_seal_for_group(
            alice,
            alice_cert.as_ptr(),
            alice_cert.len(),
            ga,
            message.as_ptr(),
            message.len(),
            &mut sealed,
        ));
        let sealed = take(sealed);
        let mut envelope = empty();
        ok(xc_split_for_recipient(
            sealed.as_ptr(),
            sealed.len(),
            0,
            &mut envelope,
        ));
        let envelope = take(envelope);
        let mut opened = ptr::null_mut();
        ok(xc_open_group(
            bob,
            pki.root_key.as_ptr(),
            1,
            ptr::null(),
            0,
            T0 + 1,
            envelope.as_ptr(),
            envelope.len(),
            &mut opened,
        ));
        let mut received = blank_received();
        ok(xc_opened_group_receive(&mut opened, gb, &mut received));
        assert_eq!(received.kind, XC_CONTENT_KIND_ATTACHMENT);
        let body = body_of(&mut received);
        assert_eq!(body, descriptor);
        assert!(has_digest(&body));
        let mut dec = decryptor(&body, &upload);
        assert_eq!(open_in_place(dec, &upload), data);
        free_decryptor(&mut dec);

        // A malformed descriptor, a session where a group belongs.
        let mut out = empty();
        assert_eq!(
            xc_group_send_attachment(ga, T0, descriptor.as_ptr(), 3, &mut out),
            XC_ERR_DECODE_TRUNCATED
        );
        assert_eq!(
            xc_group_send_attachment(
                alice.cast(),
                T0,
                descriptor.as_ptr(),
                descriptor.len(),
                &mut out
            ),
            XC_ERR_INVALID_HANDLE
        );
        ok(xc_group_free(&mut ga));
        ok(xc_group_free(&mut gb));
        ok(xc_identity_free(&mut alice));
        ok(xc_identity_free(&mut bob));
    }
}

#[test]
fn sealing_errors() {
    // SAFETY: every pointer is valid or deliberately NULL/invalid; handles are checked.
    unsafe {
        let mut enc = ptr::null_mut();
        assert_eq!(
            xc_attachment_encryptor_new(XC_ATTACHMENT_MAX_LEN + 1, &mut enc),
            XC_ERR_TOO_LARGE
        );
        assert!(enc.is_null());
        assert_eq!(
            xc_attachment_encryptor_new(10, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );

        let data = file(20_000); // pads to 20 480: a full chunk and a final one of 4 096
        let mut enc = encryptor(data.len() as u64);
        let mut out = empty();
        // Wrong lengths, from a copy and in place; nothing changes.
        assert_eq!(
            xc_attachment_encryptor_seal_next(enc, data.as_ptr(), 100, &mut out),
            XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH
        );
        assert!(out.ptr.is_null());
        let mut span = vec![0u8; XC_ATTACHMENT_SEALED_CHUNK_LEN - 1];
        assert_eq!(
            xc_attachment_encryptor_seal_next_in_place(enc, span.as_mut_ptr(), span.len()),
            XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH
        );
        assert_eq!(
            xc_attachment_encryptor_seal_next_in_place(enc, ptr::null_mut(), 16),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_attachment_encryptor_seal_next(enc, ptr::null(), 16384, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_attachment_encryptor_seal_next(enc, data.as_ptr(), 16384, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(next_range(enc), (56, 56 + 16400));

        // Finishing too early keeps the encryptor.
        let copy = enc;
        assert_eq!(
            xc_attachment_encryptor_finish(
                &mut enc,
                b"a/b".as_ptr(),
                3,
                ptr::null(),
                0,
                ptr::null(),
                0,
                ptr::null(),
                0,
                &mut out
            ),
            XC_ERR_ATTACHMENT_NOT_FINISHED
        );
        assert_eq!(enc, copy, "kept");
        let upload = seal_with_copies(enc, &data);

        // Finished: nothing more to seal.
        assert_eq!(next_input_len(enc), None);
        assert_eq!(
            xc_attachment_encryptor_seal_next(enc, ptr::null(), 0, &mut out),
            XC_ERR_ATTACHMENT_FINISHED
        );
        let mut span = [0u8; 16];
        assert_eq!(
            xc_attachment_encryptor_seal_next_in_place(enc, span.as_mut_ptr(), 16),
            XC_ERR_ATTACHMENT_FINISHED
        );
        let (mut start, mut end) = (1, 1);
        assert_eq!(
            xc_attachment_encryptor_next_range(enc, &mut start, &mut end),
            XC_ERR_ATTACHMENT_FINISHED
        );
        assert_eq!((start, end), (0, 0));

        // Every invalid description keeps the encryptor.
        let long = vec![b'a'; 256];
        let thumb = vec![0u8; 65_537];
        let bad_fields: [BadFields<'_>; 7] = [
            (&long, ptr::null(), 0, &[], &[], XC_ERR_TOO_LARGE),
            (
                b"a\nb",
                ptr::null(),
                0,
                &[],
                &[],
                XC_ERR_DECODE_NON_CANONICAL,
            ),
            (
                b"\xff",
                ptr::null(),
                0,
                &[],
                &[],
                XC_ERR_DECODE_NON_CANONICAL,
            ),
            (
                b"a/b",
                b"\xc3\x28".as_ptr(),
                2,
                &[],
                &[],
                XC_ERR_DECODE_NON_CANONICAL,
            ),
            (b"a/b", ptr::null(), 1, &[], &[], XC_ERR_NULL_POINTER),
            (b"a/b", ptr::null(), 0, &thumb, &[], XC_ERR_TOO_LARGE),
            (b"a/b", ptr::null(), 0, &[], &long, XC_ERR_TOO_LARGE),
        ];
        for (ct, name, name_len, thumb, loc, code) in bad_fields {
            assert_eq!(
                xc_attachment_encryptor_finish(
                    &mut enc,
                    ct.as_ptr(),
                    ct.len(),
                    name,
                    name_len,
                    if thumb.is_empty() {
                        ptr::null()
                    } else {
                        thumb.as_ptr()
                    },
                    thumb.len(),
                    loc.as_ptr(),
                    loc.len(),
                    &mut out
                ),
                code,
                "{}",
                message(code)
            );
            assert_eq!(enc, copy, "kept after {}", message(code));
            assert!(out.ptr.is_null());
        }
        assert_eq!(
            xc_attachment_encryptor_finish(
                &mut enc,
                ptr::null(),
                0,
                ptr::null(),
                0,
                ptr::null(),
                0,
                ptr::null(),
                0,
                ptr::null_mut()
            ),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(enc, copy);
        // A wrong-type handle in the slot: reported, nothing consumed.
        let mut dec_as_enc =
            decryptor(&finish_copy(&mut enc), &upload).cast::<XcAttachmentEncryptor>();
        assert!(enc.is_null(), "consumed by the success");
        let dec_copy = dec_as_enc;
        assert_eq!(
            xc_attachment_encryptor_finish(
                &mut dec_as_enc,
                ptr::null(),
                0,
                ptr::null(),
                0,
                ptr::null(),
                0,
                ptr::null(),
                0,
                &mut out
            ),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(dec_as_enc, dec_copy);
        assert_eq!(
            xc_attachment_encryptor_free(&mut dec_as_enc),
            XC_ERR_INVALID_HANDLE
        );
        let mut dec = dec_as_enc.cast::<XcAttachmentDecryptor>();
        assert_eq!(open_with_copies(dec, &upload), data, "still live");
        free_decryptor(&mut dec);

        // Consumed: the variable is NULL, a copy of the handle is stale.
        assert_eq!(
            xc_attachment_encryptor_finish(
                &mut enc,
                ptr::null(),
                0,
                ptr::null(),
                0,
                ptr::null(),
                0,
                ptr::null(),
                0,
                &mut out
            ),
            XC_ERR_NULL_POINTER
        );
        let mut stale = copy;
        assert_eq!(
            xc_attachment_encryptor_finish(
                &mut stale,
                ptr::null(),
                0,
                ptr::null(),
                0,
                ptr::null(),
                0,
                ptr::null(),
                0,
                &mut out
            ),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(stale, copy);
        assert_eq!(
            xc_attachment_encryptor_header(stale, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_attachment_encryptor_seal_next(stale, ptr::null(), 0, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        let mut len = 7;
        assert_eq!(
            xc_attachment_encryptor_encrypted_len(stale, &mut len),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(len, 0, "reset");
        assert_eq!(
            xc_attachment_encryptor_free(&mut stale),
            XC_ERR_INVALID_HANDLE
        );
        ok(xc_attachment_encryptor_free(&mut enc));
        ok(xc_attachment_encryptor_free(ptr::null_mut()));

        // Out-pointers: NULL is reported.
        let mut enc = encryptor(1);
        let mut has_next = false;
        assert_eq!(
            xc_attachment_encryptor_next_input_len(enc, ptr::null_mut(), &mut has_next),
            XC_ERR_NULL_POINTER
        );
        let mut n = 0;
        assert_eq!(
            xc_attachment_encryptor_next_input_len(enc, &mut n, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_attachment_encryptor_header(enc, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_attachment_encryptor_encrypted_len(enc, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_attachment_encryptor_next_range(enc, ptr::null_mut(), &mut len),
            XC_ERR_NULL_POINTER
        );
        // Abandoned before finishing: freed.
        ok(xc_attachment_encryptor_free(&mut enc));
        assert!(enc.is_null());
        ok(xc_attachment_encryptor_free(&mut enc));
        // Never issued.
        let local = 0u64;
        assert_eq!(
            xc_attachment_encryptor_header((&raw const local).cast(), &mut out),
            XC_ERR_INVALID_HANDLE
        );
    }
}

/// A description `xc_attachment_encryptor_finish` refuses: content type, file name (pointer and
/// length), thumbnail, location, and the code.
type BadFields<'a> = (&'a [u8], *const u8, usize, &'a [u8], &'a [u8], i32);

/// Finishes `enc` with a minimal description.
fn finish_copy(enc: &mut *mut XcAttachmentEncryptor) -> Vec<u8> {
    let mut out = empty();
    // SAFETY: the address of a live handle, a readable slice and an out-pointer.
    ok(unsafe {
        xc_attachment_encryptor_finish(
            enc,
            b"a/b".as_ptr(),
            3,
            ptr::null(),
            0,
            ptr::null(),
            0,
            ptr::null(),
            0,
            &mut out,
        )
    });
    take(out)
}

#[test]
fn opening_errors() {
    let data = file(40_000); // pads to 40 960: two full chunks and a final one of 8 192
    let mut enc = encryptor(data.len() as u64);
    let upload = seal_with_copies(enc, &data);
    let descriptor = finish_copy(&mut enc);
    // SAFETY: every pointer is valid or deliberately NULL/invalid; handles are checked.
    unsafe {
        // Malformed descriptors, given the stored header.
        let mut dec = ptr::null_mut();
        let cases: [(Vec<u8>, i32); 5] = [
            (descriptor[..60].to_vec(), XC_ERR_DECODE_TRUNCATED),
            (
                [&descriptor[..], &[0u8][..]].concat(),
                XC_ERR_DECODE_TRAILING_BYTES,
            ),
            (
                [&[2u8][..], &descriptor[1..]].concat(),
                XC_ERR_DECODE_UNKNOWN_VERSION,
            ),
            (
                {
                    let mut d = descriptor.clone();
                    d[SALT_AT] ^= 1;
                    d
                },
                XC_ERR_ATTACHMENT_WRONG_KEY,
            ),
            (
                // The header as stored, the key not the one it commits to.
                {
                    let mut d = descriptor.clone();
                    d[KEY_AT] ^= 1;
                    d
                },
                XC_ERR_ATTACHMENT_WRONG_KEY,
            ),
        ];
        for (bad, code) in cases {
            dec = ptr::without_provenance_mut(0x1000);
            assert_eq!(
                xc_attachment_decryptor_new(
                    bad.as_ptr(),
                    bad.len(),
                    upload.as_ptr(),
                    XC_ATTACHMENT_HEADER_LEN,
                    &mut dec
                ),
                code,
                "{}",
                message(code)
            );
            assert!(dec.is_null());
            let (mut size, mut has_b, mut has_c, mut has_dg) = (9, true, true, true);
            let (mut a, mut b, mut c, mut d) = (empty(), empty(), empty(), empty());
            let info_code = xc_attachment_descriptor_info(
                bad.as_ptr(),
                bad.len(),
                &mut size,
                &mut a,
                &mut b,
                &mut has_b,
                &mut c,
                &mut has_c,
                &mut d,
                &mut has_dg,
            );
            if code == XC_ERR_ATTACHMENT_WRONG_KEY {
                // It parses: only the decryptor checks the commitment.
                ok(info_code);
                for buf in [a, b, c, d] {
                    take(buf);
                }
            } else {
                assert_eq!(info_code, code);
                assert_eq!(size, 0);
                assert!(!has_b && !has_c && !has_dg && a.ptr.is_null() && d.ptr.is_null());
            }
        }
        // The stored header: required, of its length, and the descriptor's.
        let mut another = encryptor(data.len() as u64);
        let another_upload = seal_with_copies(another, &data);
        ok(xc_attachment_encryptor_free(&mut another));
        let mut flipped = upload[..56].to_vec();
        flipped[40] ^= 0x10;
        let headers: [(&[u8], i32); 4] = [
            (&upload[..55], XC_ERR_ATTACHMENT_TRUNCATED),
            (&upload[..57], XC_ERR_ATTACHMENT_TRAILING_DATA),
            (&flipped, XC_ERR_ATTACHMENT_WRONG_KEY),
            (&another_upload[..56], XC_ERR_ATTACHMENT_WRONG_KEY),
        ];
        for (header, code) in headers {
            dec = ptr::without_provenance_mut(0x1000);
            assert_eq!(
                xc_attachment_decryptor_new(
                    descriptor.as_ptr(),
                    descriptor.len(),
                    header.as_ptr(),
                    header.len(),
                    &mut dec
                ),
                code,
                "{} for a header of {} bytes",
                message(code),
                header.len()
            );
            assert!(dec.is_null());
        }
        assert_eq!(
            xc_attachment_decryptor_new(
                descriptor.as_ptr(),
                descriptor.len(),
                ptr::null(),
                56,
                &mut dec
            ),
            XC_ERR_NULL_POINTER
        );
        assert!(dec.is_null());
        assert_eq!(
            xc_attachment_decryptor_new(
                descriptor.as_ptr(),
                descriptor.len(),
                upload.as_ptr(),
                56,
                ptr::null_mut()
            ),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_attachment_decryptor_new(ptr::null(), 5, upload.as_ptr(), 56, &mut dec),
            XC_ERR_NULL_POINTER
        );
        let (mut flag, mut flag2) = (false, false);
        let (mut a, mut b, mut c, mut d) = (empty(), empty(), empty(), empty());
        assert_eq!(
            xc_attachment_descriptor_info(
                descriptor.as_ptr(),
                descriptor.len(),
                ptr::null_mut(),
                &mut a,
                &mut b,
                &mut flag,
                &mut c,
                &mut flag2,
                &mut d,
                &mut flag
            ),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_attachment_descriptor_info(
                descriptor.as_ptr(),
                descriptor.len(),
                &mut 0,
                &mut a,
                &mut b,
                &mut flag,
                &mut c,
                &mut flag2,
                &mut d,
                ptr::null_mut()
            ),
            XC_ERR_NULL_POINTER
        );
        assert!(a.ptr.is_null() && d.ptr.is_null());

        let mut dec = decryptor(&descriptor, &upload);
        assert_eq!(chunk_count(dec), 3);
        // The stored stream's length.
        let len = upload.len() as u64;
        assert_eq!(
            xc_attachment_decryptor_check_stored_len(dec, len - 1),
            XC_ERR_ATTACHMENT_TRUNCATED
        );
        assert_eq!(
            xc_attachment_decryptor_check_stored_len(dec, len + 1),
            XC_ERR_ATTACHMENT_TRAILING_DATA
        );
        ok(xc_attachment_decryptor_check_stored_len(dec, len));

        // Ranges past the last chunk.
        let (mut start, mut end) = (5, 5);
        assert_eq!(
            xc_attachment_decryptor_encrypted_range(dec, 3, &mut start, &mut end),
            XC_ERR_ATTACHMENT_NO_SUCH_CHUNK
        );
        assert_eq!((start, end), (0, 0));
        assert_eq!(
            xc_attachment_decryptor_file_range(dec, u64::MAX, &mut start, &mut end),
            XC_ERR_ATTACHMENT_NO_SUCH_CHUNK
        );
        assert_eq!(
            xc_attachment_decryptor_encrypted_range(dec, 0, ptr::null_mut(), &mut end),
            XC_ERR_NULL_POINTER
        );

        // One chunk alone: no such chunk, wrong length, tampered.
        let (s0, e0) = encrypted_range(dec, 0);
        let (s2, e2) = encrypted_range(dec, 2);
        let mut out = empty();
        assert_eq!(
            xc_attachment_decryptor_open_chunk(dec, 3, upload[s2..e2].as_ptr(), e2 - s2, &mut out),
            XC_ERR_ATTACHMENT_NO_SUCH_CHUNK
        );
        assert_eq!(
            xc_attachment_decryptor_open_chunk(dec, 2, upload[s0..e0].as_ptr(), e0 - s0, &mut out),
            XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH
        );
        assert_eq!(
            xc_attachment_decryptor_open_chunk(dec, 1, upload[s0..e0].as_ptr(), e0 - s0, &mut out),
            XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION,
            "chunk 0 moved to index 1"
        );
        let mut tampered = upload[s0..e0].to_vec();
        tampered[100] ^= 1;
        assert_eq!(
            xc_attachment_decryptor_open_chunk(dec, 0, tampered.as_ptr(), tampered.len(), &mut out),
            XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION
        );
        assert!(out.ptr.is_null());
        let mut n = 9;
        let before = tampered.clone();
        assert_eq!(
            xc_attachment_decryptor_open_chunk_in_place(
                dec,
                0,
                tampered.as_mut_ptr(),
                tampered.len(),
                &mut n
            ),
            XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION
        );
        assert_eq!(n, 0);
        assert_eq!(tampered, before, "a failed open leaves the span as it was");
        assert_eq!(
            xc_attachment_decryptor_open_chunk_in_place(dec, 0, ptr::null_mut(), 16400, &mut n),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_attachment_decryptor_open_chunk_in_place(
                dec,
                0,
                tampered.as_mut_ptr(),
                tampered.len(),
                ptr::null_mut()
            ),
            XC_ERR_NULL_POINTER
        );

        // In order: out of order and tampered chunks do not advance; then every chunk; then
        // anything more is trailing data.
        let (s1, e1) = encrypted_range(dec, 1);
        assert_eq!(
            xc_attachment_decryptor_open_next(dec, upload[s1..e1].as_ptr(), e1 - s1, &mut out),
            XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION
        );
        assert_eq!(
            xc_attachment_decryptor_open_next(dec, tampered.as_ptr(), tampered.len(), &mut out),
            XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION
        );
        assert_eq!(
            xc_attachment_decryptor_open_next(dec, upload[s2..e2].as_ptr(), e2 - s2, &mut out),
            XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH
        );
        assert_eq!(
            xc_attachment_decryptor_open_next_in_place(
                dec,
                tampered.as_mut_ptr(),
                tampered.len(),
                &mut n
            ),
            XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION
        );
        assert_eq!(open_with_copies(dec, &upload), data);
        assert_eq!(
            xc_attachment_decryptor_open_next(dec, upload[s2..e2].as_ptr(), e2 - s2, &mut out),
            XC_ERR_ATTACHMENT_TRAILING_DATA
        );
        let mut last = upload[s2..e2].to_vec();
        assert_eq!(
            xc_attachment_decryptor_open_next_in_place(dec, last.as_mut_ptr(), last.len(), &mut n),
            XC_ERR_ATTACHMENT_TRAILING_DATA
        );
        assert_eq!(
            xc_attachment_decryptor_is_complete(dec, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_attachment_decryptor_size(dec, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );

        // Handles: the wrong type, freed, never issued.
        let mut as_enc = dec.cast::<XcAttachmentEncryptor>();
        assert_eq!(
            xc_attachment_encryptor_header(as_enc, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_attachment_encryptor_free(&mut as_enc),
            XC_ERR_INVALID_HANDLE
        );
        let copy = dec;
        free_decryptor(&mut dec);
        free_decryptor(&mut dec);
        let mut count = 4;
        assert_eq!(
            xc_attachment_decryptor_chunk_count(copy, &mut count),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(count, 0);
        assert_eq!(
            xc_attachment_decryptor_open_next(copy, upload[s0..e0].as_ptr(), e0 - s0, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_attachment_decryptor_check_stored_len(copy, len),
            XC_ERR_INVALID_HANDLE
        );
        let mut stale = copy;
        assert_eq!(
            xc_attachment_decryptor_free(&mut stale),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(stale, copy);
        assert_eq!(
            xc_attachment_decryptor_check_stored_len(ptr::null(), len),
            XC_ERR_NULL_POINTER
        );
        let wild = ptr::without_provenance::<XcAttachmentDecryptor>(0x1000);
        assert_eq!(
            xc_attachment_decryptor_is_complete(wild, &mut flag),
            XC_ERR_INVALID_HANDLE
        );
    }
}

#[test]
fn non_zero_padding_is_refused_and_wiped() {
    // 200 and 100 bytes both pad to 256: a descriptor of the 200-byte attachment that claims
    // 100 bytes has the same layout, and bytes 100..200 of its only chunk, which the claimed
    // size makes padding, are not zero. Only a sender can make such a stream.
    let data = file(200);
    let mut enc = encryptor(200);
    let upload = seal_with_copies(enc, &data);
    let mut descriptor = finish_copy(&mut enc);
    descriptor[SIZE_AT..SIZE_AT + 8].copy_from_slice(&100u64.to_be_bytes());
    let mut dec = decryptor(&descriptor, &upload);
    let (s, e) = encrypted_range(dec, 0);
    let mut out = empty();
    // SAFETY: a live handle, readable and writable slices and out-pointers.
    unsafe {
        assert_eq!(
            xc_attachment_decryptor_open_chunk(dec, 0, upload[s..e].as_ptr(), e - s, &mut out),
            XC_ERR_ATTACHMENT_INVALID_PADDING
        );
        assert!(out.ptr.is_null());
        let mut span = upload[s..e].to_vec();
        let mut n = 1;
        assert_eq!(
            xc_attachment_decryptor_open_next_in_place(dec, span.as_mut_ptr(), span.len(), &mut n),
            XC_ERR_ATTACHMENT_INVALID_PADDING
        );
        assert_eq!(n, 0);
        assert!(span.iter().all(|b| *b == 0), "the opened bytes are wiped");
        assert!(!is_complete(dec));
    }
    free_decryptor(&mut dec);
}

/// Hands out scripted bytes: what lets a holder of a descriptor seal another stream under its
/// key and salt (the draws of `AttachmentEncryptor::new`, in order).
struct Script(Vec<u8>);

impl TryRng for Script {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        unreachable!("the encryptor draws with fill_bytes only")
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        unreachable!("the encryptor draws with fill_bytes only")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}

impl TryCryptoRng for Script {}

#[test]
fn another_stream_under_a_digest_descriptors_key_is_a_digest_mismatch() {
    let data = file(40_000); // pads to 40 960: two full chunks and a final one of 8 192
    let mut enc = encryptor_with_digest(data.len() as u64);
    let upload = seal_with_copies(enc, &data);
    let descriptor = finish(&mut enc);
    assert!(has_digest(&descriptor));

    // A holder of the descriptor (any group member) re-runs the encryptor with its key and salt
    // over another file: every chunk is authentic under the key, the header is the same.
    let d = AttachmentDescriptor::from_bytes(&descriptor).unwrap();
    let mut script = Script([&d.key().as_bytes()[..], &d.header()[..24]].concat());
    let mut forger = AttachmentEncryptor::new(&mut script, d.size()).unwrap();
    assert!(script.0.is_empty());
    assert_eq!(forger.header(), d.header());
    let forged_file: Vec<u8> = data.iter().map(|b| b ^ 0x55).collect();
    let mut forged = forger.header().to_vec();
    let mut rest = &forged_file[..];
    while let Some(n) = forger.next_input_len() {
        let (piece, tail) = rest.split_at(n);
        let mut buf = piece.to_vec();
        forger.seal_next(&mut buf).unwrap();
        forged.extend_from_slice(&buf);
        rest = tail;
    }
    assert_eq!(forged.len(), upload.len());
    assert_ne!(forged, upload);

    let mut dec = decryptor(&descriptor, &forged);
    assert_eq!(chunk_count(dec), 3);
    // SAFETY: a live handle, readable and writable slices and out-pointers.
    unsafe {
        // Its length is the layout's, and the first two chunks open, as the forged file's bytes.
        ok(xc_attachment_decryptor_check_stored_len(
            dec,
            forged.len() as u64,
        ));
        for i in 0..2 {
            let (s, e) = encrypted_range(dec, i);
            let mut out = empty();
            ok(xc_attachment_decryptor_open_next(
                dec,
                forged[s..e].as_ptr(),
                e - s,
                &mut out,
            ));
            let (fs, fe) = file_range(dec, i);
            assert_eq!(take(out), forged_file[fs..fe]);
        }
        // The final chunk is refused before it is decrypted, from a copy and in place; the
        // decryptor does not advance.
        let (s, e) = encrypted_range(dec, 2);
        let mut out = empty();
        assert_eq!(
            xc_attachment_decryptor_open_next(dec, forged[s..e].as_ptr(), e - s, &mut out),
            XC_ERR_ATTACHMENT_DIGEST_MISMATCH,
            "{}",
            message(XC_ERR_ATTACHMENT_DIGEST_MISMATCH)
        );
        assert!(out.ptr.is_null());
        let mut span = forged[s..e].to_vec();
        let mut n = 7;
        assert_eq!(
            xc_attachment_decryptor_open_next_in_place(dec, span.as_mut_ptr(), span.len(), &mut n),
            XC_ERR_ATTACHMENT_DIGEST_MISMATCH
        );
        assert_eq!(n, 0);
        assert_eq!(span, forged[s..e], "the span is left as it was");
        assert!(!is_complete(dec));
        // The sender's final chunk does not rescue it: the digest covers every chunk.
        assert_eq!(
            xc_attachment_decryptor_open_next(dec, upload[s..e].as_ptr(), e - s, &mut out),
            XC_ERR_ATTACHMENT_DIGEST_MISMATCH
        );
        assert!(!is_complete(dec));
        // Alone, the forged final chunk is authentic under the key: only the digest refuses it.
        ok(xc_attachment_decryptor_open_chunk(
            dec,
            2,
            forged[s..e].as_ptr(),
            e - s,
            &mut out,
        ));
        let (fs, fe) = file_range(dec, 2);
        assert_eq!(take(out), forged_file[fs..fe]);
    }
    free_decryptor(&mut dec);

    // The sender's own stream opens completely under the digest.
    let mut dec = decryptor(&descriptor, &upload);
    assert_eq!(open_in_place(dec, &upload), data);
    free_decryptor(&mut dec);
    // A descriptor whose digest was altered does not match the sender's stream either.
    let mut altered = descriptor.clone();
    altered[DIGEST_FLAG_AT + 1] ^= 0x01;
    assert!(has_digest(&altered));
    let mut dec = decryptor(&altered, &upload);
    let (s, e) = encrypted_range(dec, 2);
    // SAFETY: a live handle, readable slices and out-pointers.
    unsafe {
        for i in 0..2 {
            let (s, e) = encrypted_range(dec, i);
            let mut out = empty();
            ok(xc_attachment_decryptor_open_next(
                dec,
                upload[s..e].as_ptr(),
                e - s,
                &mut out,
            ));
            take(out);
        }
        let mut out = empty();
        assert_eq!(
            xc_attachment_decryptor_open_next(dec, upload[s..e].as_ptr(), e - s, &mut out),
            XC_ERR_ATTACHMENT_DIGEST_MISMATCH
        );
    }
    assert!(!is_complete(dec));
    free_decryptor(&mut dec);
}

#[test]
fn every_attachment_code_is_described() {
    let codes = [
        XC_ERR_ATTACHMENT_TRUNCATED,
        XC_ERR_ATTACHMENT_TRAILING_DATA,
        XC_ERR_ATTACHMENT_WRONG_KEY,
        XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION,
        XC_ERR_ATTACHMENT_INVALID_PADDING,
        XC_ERR_ATTACHMENT_INVALID_CHUNK_LENGTH,
        XC_ERR_ATTACHMENT_NO_SUCH_CHUNK,
        XC_ERR_ATTACHMENT_FINISHED,
        XC_ERR_ATTACHMENT_NOT_FINISHED,
        XC_ERR_ATTACHMENT_DIGEST_MISMATCH,
        XC_ERR_ATTACHMENT_DIGEST_REQUIRED,
        XC_ERR_ATTACHMENT_OTHER,
    ];
    assert_eq!(codes, [70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 89]);
    for code in codes {
        assert_ne!(message(code), "unknown error code", "{code}");
    }
}
