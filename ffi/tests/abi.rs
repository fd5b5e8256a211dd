//! The C ABI exercised from Rust, through the same `extern "C"` functions a C program calls:
//! argument checking, error codes, ownership, and a conversation with persistence.
//! (`ffi/tests/c/session.c` runs the full conversation from C, under valgrind, in CI.)

use core::ptr;

use xchat_protocol_ffi::*;

const CONTEXT: &[u8] = b"alice|bob";

mod support;

use support::*;

#[test]
fn null_pointers_are_reported_and_outputs_reset() {
    // SAFETY: every pointer passed is NULL or valid; that is what is being tested.
    unsafe {
        assert_eq!(xc_identity_generate(ptr::null_mut()), XC_ERR_NULL_POINTER);
        assert_eq!(
            xc_identity_public_key(ptr::null(), [0u8; 32].as_mut_ptr()),
            XC_ERR_NULL_POINTER
        );
        let mut id = identity();
        assert_eq!(
            xc_identity_public_key(id, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );

        // A stale value in an out-parameter is overwritten before the call fails.
        let mut stale = XcBuffer {
            ptr: ptr::dangling_mut(),
            len: 99,
        };
        assert_eq!(
            xc_session_send(ptr::null_mut(), T0, ptr::null(), 0, &mut stale),
            XC_ERR_NULL_POINTER
        );
        assert!(stale.ptr.is_null() && stale.len == 0);
        let mut handle: *mut XcSession = ptr::dangling_mut();
        assert_eq!(
            xc_session_from_bytes(ptr::null(), 5, &mut handle),
            XC_ERR_NULL_POINTER
        );
        assert!(handle.is_null());

        assert_eq!(
            xc_opened_decrypt(ptr::null_mut(), ptr::null_mut(), ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );

        // Free functions accept a NULL variable and a NULL address of one.
        ok(xc_identity_free(ptr::null_mut()));
        ok(xc_prekey_store_free(ptr::null_mut()));
        ok(xc_cert_key_free(ptr::null_mut()));
        ok(xc_session_free(ptr::null_mut()));
        ok(xc_opened_free(ptr::null_mut()));
        let (mut identity, mut store, mut key, mut session, mut opened) = (
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        ok(xc_identity_free(&mut identity));
        ok(xc_prekey_store_free(&mut store));
        ok(xc_cert_key_free(&mut key));
        ok(xc_session_free(&mut session));
        ok(xc_opened_free(&mut opened));
        xc_buffer_free(ptr::null_mut());
        xc_received_free(ptr::null_mut());
        ok(xc_identity_free(&mut id));
    }
}

#[test]
fn malformed_input_gives_decode_codes() {
    let mut out = ptr::null_mut();
    // SAFETY: valid slices and out-pointers.
    unsafe {
        assert_eq!(
            xc_identity_from_bytes(ptr::null(), 0, &mut out),
            XC_ERR_DECODE_TRUNCATED
        );
        let junk = [0x12u8; 40];
        let mut session = ptr::null_mut();
        assert_eq!(
            xc_session_from_bytes(junk.as_ptr(), junk.len(), &mut session),
            XC_ERR_DECODE_UNKNOWN_VERSION
        );
        // Identity bytes are not a prekey store.
        let mut id = identity();
        let mut saved = empty();
        ok(xc_identity_to_bytes(id, &mut saved));
        let saved = take(saved);
        let mut store = ptr::null_mut();
        assert_eq!(
            xc_prekey_store_from_bytes(saved.as_ptr(), saved.len(), &mut store),
            XC_ERR_DECODE_UNKNOWN_TYPE
        );
        let mut restored = ptr::null_mut();
        ok(xc_identity_from_bytes(
            saved.as_ptr(),
            saved.len(),
            &mut restored,
        ));
        assert_eq!(public_key(restored), public_key(id));
        let mut s = ptr::null_mut();
        assert_eq!(
            xc_session_initiate(
                id,
                junk.as_ptr(),
                junk.len(),
                ptr::null(),
                ptr::null(),
                0,
                &mut s
            ),
            XC_ERR_DECODE_UNKNOWN_VERSION
        );
        ok(xc_identity_free(&mut id));
        ok(xc_identity_free(&mut restored));
    }
}

#[test]
fn arguments_out_of_range() {
    let mut id = identity();
    let mut store = ptr::null_mut();
    let mut out = empty();
    // SAFETY: live handles and valid out-pointers.
    unsafe {
        ok(xc_prekey_store_new(&mut store));
        assert_eq!(
            xc_prekey_store_generate_one_time_prekeys(
                store,
                XC_MAX_ONE_TIME_PREKEYS_PER_CALL + 1,
                &mut out
            ),
            XC_ERR_INVALID_ARGUMENT
        );
        ok(xc_prekey_store_generate_one_time_prekeys(
            store, 0, &mut out,
        ));
        assert!(take(out).is_empty());
        let mut out = empty();
        assert_eq!(
            xc_prekey_store_bundle(store, id, XC_NO_ONE_TIME_PREKEY, &mut out),
            XC_ERR_NO_SIGNED_PREKEY
        );
        let mut spk = u32::MAX;
        ok(xc_prekey_store_rotate_signed_prekey(
            store, id, T0, &mut spk,
        ));
        assert_eq!(spk, 0);
        ok(xc_prekey_store_rotate_signed_prekey(
            store,
            id,
            T0,
            ptr::null_mut(),
        ));
        ok(xc_prekey_store_rotate_kem_prekey(
            store,
            id,
            T0,
            ptr::null_mut(),
        ));
        for bad in [-2, i64::from(u32::MAX) + 1, i64::MIN] {
            assert_eq!(
                xc_prekey_store_bundle(store, id, bad, &mut out),
                XC_ERR_INVALID_ARGUMENT
            );
        }
        assert_eq!(
            xc_prekey_store_bundle(store, id, 5, &mut out),
            XC_ERR_UNKNOWN_ONE_TIME_PREKEY
        );
        ok(xc_prekey_store_bundle(
            store,
            id,
            XC_NO_ONE_TIME_PREKEY,
            &mut out,
        ));
        let bundle = take(out);

        let mut session = ptr::null_mut();
        let mut other = identity();
        let long_context = [0u8; 1025];
        assert_eq!(
            xc_session_initiate(
                other,
                bundle.as_ptr(),
                bundle.len(),
                ptr::null(),
                long_context.as_ptr(),
                long_context.len(),
                &mut session
            ),
            XC_ERR_TOO_LARGE
        );
        ok(xc_session_initiate(
            other,
            bundle.as_ptr(),
            bundle.len(),
            ptr::null(),
            CONTEXT.as_ptr(),
            CONTEXT.len(),
            &mut session,
        ));
        let mut out = empty();
        assert_eq!(
            xc_session_set_timer(session, T0, 60, 2, &mut out),
            XC_ERR_INVALID_ARGUMENT
        );

        // A misaligned revocation list is refused rather than read.
        let words = [0u32; 3];
        let misaligned = words.as_ptr().cast::<u8>().wrapping_add(1).cast::<u32>();
        let mut opened = ptr::null_mut();
        assert_eq!(
            xc_open(
                id,
                ptr::null(),
                0,
                misaligned,
                1,
                T0,
                [1u8; 200].as_ptr(),
                200,
                &mut opened
            ),
            XC_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            xc_open(
                id,
                ptr::null(),
                usize::MAX,
                ptr::null(),
                0,
                T0,
                ptr::null(),
                0,
                &mut opened
            ),
            XC_ERR_INVALID_ARGUMENT
        );
        ok(xc_session_free(&mut session));
        ok(xc_prekey_store_free(&mut store));
        ok(xc_identity_free(&mut other));
        ok(xc_identity_free(&mut id));
    }
}

#[test]
fn sealed_conversation_with_persistence() {
    let pki = Pki::new();
    let (mut alice, mut bob) = (identity(), identity());
    let (alice_key, bob_key) = (public_key(alice), public_key(bob));
    let (alice_cert, bob_cert) = (pki.certify(b"alice", alice), pki.certify(b"bob", bob));

    // SAFETY: live handles, valid slices and out-pointers throughout; each handle is freed
    // once and consumed handles are not reused.
    unsafe {
        let mut store = ptr::null_mut();
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
        let mut records = empty();
        ok(xc_prekey_store_generate_one_time_prekeys(
            store,
            3,
            &mut records,
        ));
        let records = take(records);
        assert_eq!(records.len(), 3 * XC_ONE_TIME_PREKEY_RECORD_LEN);
        let ids: Vec<u32> = records
            .chunks_exact(XC_ONE_TIME_PREKEY_RECORD_LEN)
            .map(|r| u32::from_be_bytes([r[0], r[1], r[2], r[3]]))
            .collect();
        assert_eq!(ids, [0, 1, 2]);
        let mut bundle = empty();
        ok(xc_prekey_store_bundle(
            store,
            bob,
            i64::from(ids[1]),
            &mut bundle,
        ));
        let bundle = take(bundle);

        // docs/INTEGRATION.md's compact server layout: a bundle with a one-time prekey is the
        // fallback bundle with its one-time flag (offset 141, SPEC.md §5.1) set to 1 and that
        // key's record inserted after it, before the KEM prekey.
        let mut fallback = empty();
        ok(xc_prekey_store_bundle(
            store,
            bob,
            XC_NO_ONE_TIME_PREKEY,
            &mut fallback,
        ));
        let fallback = take(fallback);
        assert_eq!((fallback[0], fallback[141]), (0x02, 0));
        let mut composed = fallback[..141].to_vec();
        composed.push(1);
        composed.extend_from_slice(
            &records[XC_ONE_TIME_PREKEY_RECORD_LEN..][..XC_ONE_TIME_PREKEY_RECORD_LEN],
        );
        composed.extend_from_slice(&fallback[142..]);
        assert_eq!(composed, bundle);

        let mut to_bob = ptr::null_mut();
        ok(xc_session_initiate(
            alice,
            bundle.as_ptr(),
            bundle.len(),
            ptr::null(),
            CONTEXT.as_ptr(),
            CONTEXT.len(),
            &mut to_bob,
        ));
        ok(xc_session_check_remote_identity(to_bob, bob_key.as_ptr()));
        assert_eq!(
            xc_session_check_remote_identity(to_bob, alice_key.as_ptr()),
            XC_ERR_UNTRUSTED_IDENTITY
        );
        let first = seal(alice, &alice_cert, to_bob, &send(to_bob, T0, b"hello"));

        // A wrong context: the first message does not authenticate, and the store is kept.
        let mut opened = open(bob, &pki.root_key, T0, &first);
        let (mut to_alice, mut received) = (ptr::null_mut(), blank_received());
        assert_eq!(
            xc_opened_respond(
                &mut opened,
                bob,
                store,
                b"other".as_ptr(),
                5,
                &mut to_alice,
                &mut received
            ),
            XC_ERR_DECRYPTION_FAILED
        );
        assert!(to_alice.is_null() && received.body.ptr.is_null());
        let mut count = 0;
        ok(xc_prekey_store_one_time_count(store, &mut count));
        assert_eq!(count, 3);

        let mut opened = open(bob, &pki.root_key, T0, &first);
        let mut address = empty();
        ok(xc_opened_sender_address(opened, &mut address));
        assert_eq!(take(address), b"alice");
        let mut device = 0;
        ok(xc_opened_sender_device_id(opened, &mut device));
        assert_eq!(device, 2);
        let mut prekey = false;
        ok(xc_opened_is_prekey_message(opened, &mut prekey));
        assert!(prekey);
        ok(xc_opened_respond(
            &mut opened,
            bob,
            store,
            CONTEXT.as_ptr(),
            CONTEXT.len(),
            &mut to_alice,
            &mut received,
        ));
        assert!(opened.is_null() && !to_alice.is_null());
        assert_eq!(received.kind, XC_CONTENT_KIND_MESSAGE);
        assert_eq!(received.deadline_kind, XC_DEADLINE_NEVER);
        assert_eq!(body_of(&mut received), b"hello");
        ok(xc_prekey_store_one_time_count(store, &mut count));
        assert_eq!(count, 2);

        // The same first message again: the one-time prekey is gone.
        let mut opened = open(bob, &pki.root_key, T0, &first);
        let mut again = ptr::null_mut();
        assert_eq!(
            xc_opened_respond(
                &mut opened,
                bob,
                store,
                CONTEXT.as_ptr(),
                CONTEXT.len(),
                &mut again,
                &mut received
            ),
            XC_ERR_UNKNOWN_ONE_TIME_PREKEY
        );

        // An on-read timer: the deadline is relative to reading.
        let mut update = empty();
        ok(xc_session_set_timer(
            to_alice,
            T0 + 1,
            30,
            XC_TIMER_START_ON_READ,
            &mut update,
        ));
        let update = seal(bob, &bob_cert, to_alice, &take(update));
        let reply = seal(bob, &bob_cert, to_alice, &send(to_alice, T0 + 2, b"hi"));

        // Alice persists, sealed at rest under her storage key, and restores before reading.
        let storage_key = [0x5A; 32];
        let mut saved = empty();
        ok(xc_session_to_sealed_bytes(
            to_bob,
            storage_key.as_ptr(),
            &mut saved,
        ));
        ok(xc_session_free(&mut to_bob));
        let saved = take(saved);
        let mut to_bob = ptr::null_mut();
        let wrong_key = [0x5B; 32];
        assert_eq!(
            xc_session_from_sealed_bytes(
                saved.as_ptr(),
                saved.len(),
                wrong_key.as_ptr(),
                &mut to_bob
            ),
            XC_ERR_DECODE_CHECKSUM_MISMATCH
        );
        assert!(to_bob.is_null());
        assert_eq!(
            xc_session_from_bytes(saved.as_ptr(), saved.len(), &mut to_bob),
            XC_ERR_DECODE_UNKNOWN_TYPE,
            "a sealed blob is not a plain one"
        );
        ok(xc_session_from_sealed_bytes(
            saved.as_ptr(),
            saved.len(),
            storage_key.as_ptr(),
            &mut to_bob,
        ));
        // Her identity too.
        let mut sealed_id = empty();
        ok(xc_identity_to_sealed_bytes(
            alice,
            storage_key.as_ptr(),
            &mut sealed_id,
        ));
        let sealed_id = take(sealed_id);
        let mut alice_again = ptr::null_mut();
        ok(xc_identity_from_sealed_bytes(
            sealed_id.as_ptr(),
            sealed_id.len(),
            storage_key.as_ptr(),
            &mut alice_again,
        ));
        assert_eq!(public_key(alice_again), public_key(alice));
        ok(xc_identity_free(&mut alice_again));

        // Out of order: the reply first, then the timer update.
        let mut opened = open(alice, &pki.root_key, T0 + 3, &reply);
        ok(xc_opened_decrypt(&mut opened, to_bob, &mut received));
        assert_eq!(received.deadline_kind, XC_DEADLINE_AFTER_READ);
        assert_eq!(received.deadline_ms, 30_000);
        assert!(received.timer_changed);
        assert_eq!(received.timer_start, XC_TIMER_START_ON_READ);
        assert_eq!(body_of(&mut received), b"hi");
        let mut opened = open(alice, &pki.root_key, T0 + 3, &update);
        ok(xc_opened_decrypt(&mut opened, to_bob, &mut received));
        assert_eq!(received.kind, XC_CONTENT_KIND_TIMER_UPDATE);
        assert!(!received.timer_changed);
        assert!(body_of(&mut received).is_empty());

        let mut remote = [0; 32];
        ok(xc_session_remote_identity(to_bob, remote.as_mut_ptr()));
        assert_eq!(remote, bob_key);
        let mut purged = usize::MAX;
        ok(xc_session_purge(to_bob, T0 + DAY_MS, &mut purged));
        assert_eq!(purged, 0);
        ok(xc_session_purge(to_bob, T0 + DAY_MS, ptr::null_mut()));

        // Sealing refuses a certificate that is not the sender's, and a session that is not the
        // sender's, before anything is sealed (a self-send or a forged certificate can no longer
        // be made through the ABI; the Rust tests build them with the low-level `seal_to`).
        for (sender, cert, session) in [(alice, &bob_cert, to_bob), (bob, &bob_cert, to_bob)] {
            let mut out = empty();
            assert_eq!(
                xc_seal(
                    sender,
                    cert.as_ptr(),
                    cert.len(),
                    session,
                    b"x".as_ptr(),
                    1,
                    &mut out
                ),
                XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH
            );
            assert!(take(out).is_empty());
        }

        // Consuming calls free the opened handle even when another argument is NULL, and set
        // the caller's variable to NULL.
        let mut opened = open(bob, &pki.root_key, T0, &first);
        let copy = opened;
        assert_eq!(
            xc_opened_decrypt(&mut opened, ptr::null_mut(), &mut received),
            XC_ERR_NULL_POINTER
        );
        assert!(opened.is_null());
        let mut device = 0;
        assert_eq!(
            xc_opened_sender_device_id(copy, &mut device),
            XC_ERR_INVALID_HANDLE
        );

        ok(xc_session_free(&mut to_bob));
        ok(xc_session_free(&mut to_alice));
        ok(xc_prekey_store_free(&mut store));
        ok(xc_identity_free(&mut alice));
        ok(xc_identity_free(&mut bob));
    }
}

#[test]
fn certificate_keys_from_seed_are_deterministic() {
    let seed = [9u8; 32];
    let (mut a, mut b) = (ptr::null_mut(), ptr::null_mut());
    let (mut ka, mut kb) = ([0; 32], [1; 32]);
    // SAFETY: a 32-byte seed, valid out-pointers, live handles freed once.
    unsafe {
        ok(xc_cert_key_from_seed(seed.as_ptr(), &mut a));
        ok(xc_cert_key_from_seed(seed.as_ptr(), &mut b));
        ok(xc_cert_key_public_key(a, ka.as_mut_ptr()));
        ok(xc_cert_key_public_key(b, kb.as_mut_ptr()));
        assert_eq!(ka, kb);
        let mut out = empty();
        let mut id = identity();
        let key = public_key(id);
        assert_eq!(
            xc_cert_key_certify_sender(
                a,
                [0u8; 101].as_ptr(),
                101,
                b"x".as_ptr(),
                1,
                1,
                key.as_ptr(),
                T0,
                &mut out
            ),
            XC_ERR_DECODE_UNKNOWN_VERSION
        );
        ok(xc_identity_free(&mut id));
        ok(xc_cert_key_free(&mut a));
        ok(xc_cert_key_free(&mut b));
    }
}

#[test]
fn every_code_has_a_message() {
    for code in [
        XC_OK,
        XC_ERR_NULL_POINTER,
        XC_ERR_PANIC,
        XC_ERR_INVALID_HANDLE,
        XC_ERR_SIGNED_PREKEY_FULL,
        XC_ERR_TIMER_VERSION_EXHAUSTED,
        XC_ERR_SEALED_DECRYPTION_FAILED,
        XC_ERR_DECODE_CHECKSUM_MISMATCH,
    ] {
        assert_ne!(message(code), "unknown error code");
    }
    assert_eq!(message(-7), "unknown error code");
}

/// A session between two fresh identities, and an envelope carrying its first message, opened
/// by the responder: the material the misuse tests below abuse.
struct Fixture {
    pki: Pki,
    alice: *mut XcIdentity,
    bob: *mut XcIdentity,
    store: *mut XcPreKeyStore,
    session: *mut XcSession,
    first: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let pki = Pki::new();
        let (alice, bob) = (identity(), identity());
        let mut store = ptr::null_mut();
        let mut bundle = empty();
        let mut session = ptr::null_mut();
        // SAFETY: live handles, valid slices and out-pointers.
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
                CONTEXT.as_ptr(),
                CONTEXT.len(),
                &mut session,
            ));
        }
        let cert = pki.certify(b"alice", alice);
        let first = seal(alice, &cert, session, &send(session, T0, b"hi"));
        Self {
            pki,
            alice,
            bob,
            store,
            session,
            first,
        }
    }

    fn opened(&self) -> *mut XcOpened {
        open(self.bob, &self.pki.root_key, T0, &self.first)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: live handles (or NULL), freed once.
        unsafe {
            ok(xc_session_free(&mut self.session));
            ok(xc_prekey_store_free(&mut self.store));
            ok(xc_identity_free(&mut self.alice));
            ok(xc_identity_free(&mut self.bob));
        }
    }
}

#[test]
fn a_second_free_is_harmless_or_reported() {
    let f = Fixture::new();
    // SAFETY: every handle argument is checked by the library; that is what is tested. The
    // `**` arguments point to local variables.
    unsafe {
        // Through the same variable: it is NULL after the first free, so the second is a no-op.
        let mut id = identity();
        let mut copy = id;
        ok(xc_identity_free(&mut id));
        assert!(id.is_null());
        ok(xc_identity_free(&mut id));
        // Through a copy of the pointer: reported, nothing freed, the copy left as it was.
        assert_eq!(xc_identity_free(&mut copy), XC_ERR_INVALID_HANDLE);
        assert!(!copy.is_null());

        // The same for every handle type.
        let mut session = ptr::null_mut();
        let mut saved = empty();
        ok(xc_session_to_bytes(f.session, &mut saved));
        let saved = take(saved);
        ok(xc_session_from_bytes(
            saved.as_ptr(),
            saved.len(),
            &mut session,
        ));
        let mut copy = session;
        ok(xc_session_free(&mut session));
        assert_eq!(xc_session_free(&mut copy), XC_ERR_INVALID_HANDLE);

        let mut store = ptr::null_mut();
        ok(xc_prekey_store_new(&mut store));
        let mut copy = store;
        ok(xc_prekey_store_free(&mut store));
        assert_eq!(xc_prekey_store_free(&mut copy), XC_ERR_INVALID_HANDLE);

        let mut key = ptr::null_mut();
        ok(xc_cert_key_generate(&mut key));
        let mut copy = key;
        ok(xc_cert_key_free(&mut key));
        assert_eq!(xc_cert_key_free(&mut copy), XC_ERR_INVALID_HANDLE);

        let mut opened = f.opened();
        let mut copy = opened;
        ok(xc_opened_free(&mut opened));
        assert!(opened.is_null());
        ok(xc_opened_free(&mut opened));
        assert_eq!(xc_opened_free(&mut copy), XC_ERR_INVALID_HANDLE);
    }
}

#[test]
fn a_use_after_free_is_reported() {
    let f = Fixture::new();
    // SAFETY: as above.
    unsafe {
        let mut id = identity();
        let stale = id;
        ok(xc_identity_free(&mut id));
        // New handles never take over the freed one's id (an allocator would reuse an address).
        let mut newer: Vec<_> = (0..16).map(|_| identity()).collect();
        assert!(newer.iter().all(|h| *h != stale));

        let mut key = [7u8; 32];
        assert_eq!(
            xc_identity_public_key(stale, key.as_mut_ptr()),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(key, [7; 32], "nothing written");
        let mut out = XcBuffer {
            ptr: ptr::dangling_mut(),
            len: 3,
        };
        assert_eq!(xc_identity_to_bytes(stale, &mut out), XC_ERR_INVALID_HANDLE);
        assert!(
            out.ptr.is_null() && out.len == 0,
            "out-parameter still reset"
        );
        let mut session = ptr::dangling_mut();
        assert_eq!(
            xc_session_initiate(
                stale,
                ptr::null(),
                0,
                ptr::null(),
                ptr::null(),
                0,
                &mut session
            ),
            XC_ERR_INVALID_HANDLE
        );
        assert!(session.is_null());
        assert_eq!(
            xc_seal(stale, ptr::null(), 0, ptr::null(), ptr::null(), 0, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        for h in &mut newer {
            ok(xc_identity_free(h));
        }

        // A freed session, store and certificate key.
        let mut saved = empty();
        ok(xc_session_to_bytes(f.session, &mut saved));
        let saved = take(saved);
        let mut session = ptr::null_mut();
        ok(xc_session_from_bytes(
            saved.as_ptr(),
            saved.len(),
            &mut session,
        ));
        let stale = session;
        ok(xc_session_free(&mut session));
        assert_eq!(
            xc_session_send(stale, T0, b"x".as_ptr(), 1, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_session_purge(stale, T0, ptr::null_mut()),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_session_check_remote_identity(stale, key.as_ptr()),
            XC_ERR_INVALID_HANDLE
        );

        let mut store = ptr::null_mut();
        ok(xc_prekey_store_new(&mut store));
        let stale = store;
        ok(xc_prekey_store_free(&mut store));
        let mut count = 9;
        assert_eq!(
            xc_prekey_store_one_time_count(stale, &mut count),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(count, 0);
        assert_eq!(
            xc_prekey_store_rotate_signed_prekey(stale, f.bob, 1000, ptr::null_mut()),
            XC_ERR_INVALID_HANDLE
        );

        let mut cert_key = ptr::null_mut();
        ok(xc_cert_key_generate(&mut cert_key));
        let stale = cert_key;
        ok(xc_cert_key_free(&mut cert_key));
        assert_eq!(
            xc_cert_key_public_key(stale, key.as_mut_ptr()),
            XC_ERR_INVALID_HANDLE
        );

        // A freed opened envelope.
        let mut opened = f.opened();
        let stale = opened;
        ok(xc_opened_free(&mut opened));
        let mut prekey = true;
        assert_eq!(
            xc_opened_is_prekey_message(stale, &mut prekey),
            XC_ERR_INVALID_HANDLE
        );
        assert!(!prekey);
    }
}

#[test]
fn a_use_after_consume_is_reported() {
    let f = Fixture::new();
    // SAFETY: as above.
    unsafe {
        // xc_opened_respond consumes the envelope and NULLs the caller's variable.
        let mut opened = f.opened();
        let mut copy = opened;
        let (mut to_alice, mut received) = (ptr::null_mut(), blank_received());
        ok(xc_opened_respond(
            &mut opened,
            f.bob,
            f.store,
            CONTEXT.as_ptr(),
            CONTEXT.len(),
            &mut to_alice,
            &mut received,
        ));
        assert_eq!(body_of(&mut received), b"hi");
        assert!(opened.is_null());
        // Again through the same variable: it is NULL.
        let mut again = ptr::dangling_mut();
        assert_eq!(
            xc_opened_respond(
                &mut opened,
                f.bob,
                f.store,
                CONTEXT.as_ptr(),
                CONTEXT.len(),
                &mut again,
                &mut received
            ),
            XC_ERR_NULL_POINTER
        );
        assert!(again.is_null(), "out-parameters are reset even then");
        // Again through a copy: reported, and the copy is left alone.
        assert_eq!(
            xc_opened_respond(
                &mut copy,
                f.bob,
                f.store,
                CONTEXT.as_ptr(),
                CONTEXT.len(),
                &mut again,
                &mut received
            ),
            XC_ERR_INVALID_HANDLE
        );
        assert!(!copy.is_null() && again.is_null());
        assert_eq!(
            xc_opened_decrypt(&mut copy, to_alice, &mut received),
            XC_ERR_INVALID_HANDLE
        );
        let mut address = empty();
        assert_eq!(
            xc_opened_sender_address(copy, &mut address),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(xc_opened_free(&mut copy), XC_ERR_INVALID_HANDLE);

        // xc_opened_decrypt, on an error from the protocol other than the two routing errors
        // (a replay, here): consumed all the same.
        let mut opened = f.opened();
        let mut copy = opened;
        assert_eq!(
            xc_opened_decrypt(&mut opened, to_alice, &mut received),
            XC_ERR_DUPLICATE_MESSAGE
        );
        assert!(opened.is_null());
        assert_eq!(
            xc_opened_decrypt(&mut opened, to_alice, &mut received),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_opened_decrypt(&mut copy, to_alice, &mut received),
            XC_ERR_INVALID_HANDLE
        );
        let mut key = [0; 32];
        assert_eq!(
            xc_opened_sender_identity(copy, key.as_mut_ptr()),
            XC_ERR_INVALID_HANDLE
        );
        // The session that was passed alongside is untouched and usable.
        let mut remote = [0; 32];
        ok(xc_session_remote_identity(to_alice, remote.as_mut_ptr()));
        assert_eq!(remote, public_key(f.alice));
        ok(xc_session_free(&mut to_alice));
    }
}

#[test]
fn a_wrong_type_handle_is_reported() {
    let f = Fixture::new();
    // SAFETY: as above; casts between handle types are what is tested.
    unsafe {
        let mut key = [0; 32];
        let mut out = empty();
        // A live session passed where an identity, a store, a certificate key or an opened
        // envelope is expected.
        assert_eq!(
            xc_identity_public_key(f.session.cast(), key.as_mut_ptr()),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_prekey_store_to_bytes(f.session.cast(), &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_cert_key_public_key(f.session.cast(), key.as_mut_ptr()),
            XC_ERR_INVALID_HANDLE
        );
        let mut received = blank_received();
        let mut as_opened = f.session.cast::<XcOpened>();
        assert_eq!(
            xc_opened_decrypt(&mut as_opened, f.session, &mut received),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(as_opened, f.session.cast(), "not consumed, not NULLed");
        // Freeing it as another type frees nothing.
        let mut as_identity = f.session.cast::<XcIdentity>();
        assert_eq!(xc_identity_free(&mut as_identity), XC_ERR_INVALID_HANDLE);
        let mut as_opened = f.session.cast::<XcOpened>();
        assert_eq!(xc_opened_free(&mut as_opened), XC_ERR_INVALID_HANDLE);
        // Identity and store swapped.
        assert_eq!(
            xc_prekey_store_bundle(
                f.bob.cast(),
                f.store.cast(),
                XC_NO_ONE_TIME_PREKEY,
                &mut out
            ),
            XC_ERR_INVALID_HANDLE
        );
        // An opened envelope passed as the session to decrypt it with: the envelope is consumed
        // (it was a live XcOpened), the "session" is rejected.
        let mut opened = f.opened();
        let as_session = opened.cast::<XcSession>();
        assert_eq!(
            xc_opened_decrypt(&mut opened, as_session, &mut received),
            XC_ERR_INVALID_HANDLE
        );
        assert!(opened.is_null());
        // Everything is still live and works.
        ok(xc_session_remote_identity(f.session, key.as_mut_ptr()));
        assert_eq!(key, public_key(f.bob));
        ok(xc_prekey_store_to_bytes(f.store, &mut out));
        drop(take(out));
    }
}

#[test]
fn pointers_the_library_never_issued_are_reported_unread() {
    let f = Fixture::new();
    // SAFETY: as above. None of these pointers is dereferenced by the library (Miri or
    // valgrind would flag it; ffi/tests/c/session.c checks the same under valgrind).
    unsafe {
        let mut key = [0; 32];
        let local = [0u64; 8];
        let not_handles: [*const XcIdentity; 4] = [
            local.as_ptr().cast(),
            ptr::dangling(),
            ptr::without_provenance(0x10),
            ptr::without_provenance(usize::MAX & !7),
        ];
        for bogus in not_handles {
            assert_eq!(
                xc_identity_public_key(bogus, key.as_mut_ptr()),
                XC_ERR_INVALID_HANDLE
            );
            let mut variable = bogus.cast_mut();
            assert_eq!(xc_identity_free(&mut variable), XC_ERR_INVALID_HANDLE);
            let mut as_opened = bogus.cast_mut().cast::<XcOpened>();
            let mut received = blank_received();
            assert_eq!(
                xc_opened_decrypt(&mut as_opened, f.session, &mut received),
                XC_ERR_INVALID_HANDLE
            );
        }
        // A misaligned address of a handle variable is refused rather than read.
        let words = [0usize; 2];
        let misaligned = words
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(1)
            .cast_mut()
            .cast();
        assert_eq!(xc_session_free(misaligned), XC_ERR_INVALID_ARGUMENT);
        let mut received = blank_received();
        assert_eq!(
            xc_opened_decrypt(misaligned.cast(), f.session, &mut received),
            XC_ERR_INVALID_ARGUMENT
        );
    }
}

fn session_bytes(session: *const XcSession) -> Vec<u8> {
    let mut out = empty();
    // SAFETY: a live handle and a valid out-pointer.
    ok(unsafe { xc_session_to_bytes(session, &mut out) });
    take(out)
}

/// A stale `XcReceived`, to check that a failed call resets it.
fn stale_received() -> XcReceived {
    XcReceived {
        sent_at_ms: 7,
        kind: XC_CONTENT_KIND_MESSAGE,
        ..blank_received()
    }
}

#[test]
fn a_peer_that_restarts_its_session_is_answered_after_session_mismatch() {
    let f = Fixture::new();
    let alice_key = public_key(f.alice);
    let (alice_cert, bob_cert) = (
        f.pki.certify(b"alice", f.alice),
        f.pki.certify(b"bob", f.bob),
    );
    // SAFETY: live handles, valid slices and out-pointers throughout; each handle is freed once
    // and consumed handles are only passed where their rejection is what is tested.
    unsafe {
        // Bob answers Alice's first session: he now has a session for her, with her identity.
        let mut opened = f.opened();
        let (mut to_alice, mut received) = (ptr::null_mut(), blank_received());
        ok(xc_opened_respond(
            &mut opened,
            f.bob,
            f.store,
            CONTEXT.as_ptr(),
            CONTEXT.len(),
            &mut to_alice,
            &mut received,
        ));
        assert_eq!(body_of(&mut received), b"hi");

        // Alice loses her session state and starts a new session, under the same identity.
        let mut bundle = empty();
        ok(xc_prekey_store_bundle(
            f.store,
            f.bob,
            XC_NO_ONE_TIME_PREKEY,
            &mut bundle,
        ));
        let bundle = take(bundle);
        let mut restarted = ptr::null_mut();
        ok(xc_session_initiate(
            f.alice,
            bundle.as_ptr(),
            bundle.len(),
            ptr::null(),
            CONTEXT.as_ptr(),
            CONTEXT.len(),
            &mut restarted,
        ));
        let envelope = seal(
            f.alice,
            &alice_cert,
            restarted,
            &send(restarted, T0 + 1, b"me again"),
        );

        // Bob routes by "do I have a session with this sender": he does, so he decrypts first.
        let mut opened = open(f.bob, &f.pki.root_key, T0 + 1, &envelope);
        let mut copy = opened;
        let mut prekey = false;
        ok(xc_opened_is_prekey_message(opened, &mut prekey));
        assert!(prekey);
        let before = session_bytes(to_alice);
        let mut received = stale_received();
        assert_eq!(
            xc_opened_decrypt(&mut opened, to_alice, &mut received),
            XC_ERR_SESSION_MISMATCH
        );
        // Not consumed: the variable is as it was, the envelope is live, the session unchanged,
        // and the out-parameter reset.
        assert_eq!(opened, copy);
        assert!(!opened.is_null());
        let mut sender = [0; 32];
        ok(xc_opened_sender_identity(opened, sender.as_mut_ptr()));
        assert_eq!(sender, alice_key);
        assert_eq!(session_bytes(to_alice), before);
        assert!(received.body.ptr.is_null() && received.sent_at_ms == 0 && received.kind == 0);
        // Asking again gives the same answer, and still keeps it.
        assert_eq!(
            xc_opened_decrypt(&mut opened, to_alice, &mut received),
            XC_ERR_SESSION_MISMATCH
        );
        assert_eq!(opened, copy);

        // A prekey message that did not fit the session: the peer started a new one. Respond,
        // which consumes the envelope as always.
        let mut fresh = ptr::null_mut();
        ok(xc_opened_respond(
            &mut opened,
            f.bob,
            f.store,
            CONTEXT.as_ptr(),
            CONTEXT.len(),
            &mut fresh,
            &mut received,
        ));
        assert!(opened.is_null() && !fresh.is_null());
        assert_eq!(received.sent_at_ms, T0 + 1);
        assert_eq!(body_of(&mut received), b"me again");
        ok(xc_session_check_remote_identity(fresh, alice_key.as_ptr()));
        assert_eq!(
            xc_opened_decrypt(&mut copy, fresh, &mut received),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(xc_opened_free(&mut copy), XC_ERR_INVALID_HANDLE);

        // The new session replaces the old one, and works both ways.
        ok(xc_session_free(&mut to_alice));
        let reply = seal(
            f.bob,
            &bob_cert,
            fresh,
            &send(fresh, T0 + 2, b"welcome back"),
        );
        let mut opened = open(f.alice, &f.pki.root_key, T0 + 2, &reply);
        ok(xc_opened_decrypt(&mut opened, restarted, &mut received));
        assert!(opened.is_null());
        assert_eq!(body_of(&mut received), b"welcome back");

        ok(xc_session_free(&mut fresh));
        ok(xc_session_free(&mut restarted));
    }
}

#[test]
fn the_wrong_session_keeps_the_envelope_for_the_right_one() {
    let f = Fixture::new();
    // SAFETY: as above.
    unsafe {
        // Bob opens Alice's first message and, by mistake, tries a session whose peer is not
        // Alice (her own session, whose peer is Bob): a routing error, nothing consumed.
        let mut opened = f.opened();
        let copy = opened;
        let before = session_bytes(f.session);
        let mut received = stale_received();
        assert_eq!(
            xc_opened_decrypt(&mut opened, f.session, &mut received),
            XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH
        );
        assert_eq!(opened, copy);
        assert!(received.sent_at_ms == 0 && received.body.ptr.is_null());
        assert_eq!(session_bytes(f.session), before, "the session is untouched");
        // He has no session for her and it is a prekey message: respond.
        let (mut to_alice, mut received) = (ptr::null_mut(), blank_received());
        ok(xc_opened_respond(
            &mut opened,
            f.bob,
            f.store,
            CONTEXT.as_ptr(),
            CONTEXT.len(),
            &mut to_alice,
            &mut received,
        ));
        assert!(opened.is_null());
        assert_eq!(body_of(&mut received), b"hi");

        // A later message: the wrong session first, then the right one, on the same envelope.
        let cert = f.pki.certify(b"alice", f.alice);
        let second = seal(
            f.alice,
            &cert,
            f.session,
            &send(f.session, T0 + 1, b"second"),
        );
        let mut opened = open(f.bob, &f.pki.root_key, T0 + 1, &second);
        let copy = opened;
        assert_eq!(
            xc_opened_decrypt(&mut opened, f.session, &mut received),
            XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH
        );
        assert_eq!(opened, copy);
        ok(xc_opened_decrypt(&mut opened, to_alice, &mut received));
        assert!(opened.is_null());
        assert_eq!(body_of(&mut received), b"second");

        // A NULL out-parameter is checked before the session: the envelope is consumed, though
        // the session would have been the wrong one.
        let mut opened = open(f.bob, &f.pki.root_key, T0 + 1, &second);
        let copy = opened;
        assert_eq!(
            xc_opened_decrypt(&mut opened, f.session, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        assert!(opened.is_null());
        let mut device = 0;
        assert_eq!(
            xc_opened_sender_device_id(copy, &mut device),
            XC_ERR_INVALID_HANDLE
        );
        // A kept envelope that the app decides to drop is freed as usual.
        let mut opened = open(f.bob, &f.pki.root_key, T0 + 1, &second);
        assert_eq!(
            xc_opened_decrypt(&mut opened, f.session, &mut received),
            XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH
        );
        ok(xc_opened_free(&mut opened));
        assert!(opened.is_null());

        ok(xc_session_free(&mut to_alice));
    }
}

#[test]
fn handles_move_between_threads_and_the_registry_is_shared() {
    // Many threads create, use and free handles at once; handles also cross threads (created on
    // one, used and freed on another), which is allowed: one thread at a time per handle.
    let made: Vec<usize> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut kept = Vec::new();
                    for i in 0..50 {
                        let mut id = identity();
                        let key = public_key(id);
                        assert_ne!(key, [0; 32]);
                        if i % 2 == 0 {
                            // SAFETY: this thread's own live handle, freed once.
                            ok(unsafe { xc_identity_free(&mut id) });
                        } else {
                            kept.push(id.addr());
                        }
                    }
                    kept
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut unique = made.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), made.len(), "every handle has its own id");
    for addr in made {
        let mut id = ptr::without_provenance_mut::<XcIdentity>(addr);
        // SAFETY: live handles made by the workers, now used and freed by this thread only.
        unsafe {
            ok(xc_identity_public_key(id, [0u8; 32].as_mut_ptr()));
            ok(xc_identity_free(&mut id));
            assert_eq!(
                xc_identity_public_key(ptr::without_provenance(addr), [0u8; 32].as_mut_ptr()),
                XC_ERR_INVALID_HANDLE
            );
        }
    }
}
