//! The group C ABI (SPEC.md §13, §9.5) exercised from Rust through the `extern "C"` functions:
//! a sender key over a sealed pairwise session, one group message sealed for every member and
//! split by the relay, a removal, persistence, and the error codes.

use core::ptr;

use xchat_protocol_ffi::*;

mod support;

use support::*;

const GROUP_ID: [u8; 32] = [0x47; 32];

fn group(me: *const XcIdentity, members: &[[u8; 32]]) -> *mut XcGroup {
    let flat: Vec<u8> = members.concat();
    let mut g = ptr::null_mut();
    // SAFETY: a live handle, a 32-byte id, `32 * n` readable bytes and an out-pointer.
    ok(unsafe {
        xc_group_new(
            me,
            GROUP_ID.as_ptr(),
            flat.as_ptr(),
            members.len(),
            T0,
            &mut g,
        )
    });
    g
}

/// Our distribution and who lacks it.
fn distribution(g: *mut XcGroup) -> (Vec<u8>, Vec<[u8; 32]>) {
    let (mut d, mut r) = (empty(), empty());
    // SAFETY: a live handle and out-pointers.
    ok(unsafe { xc_group_distribution(g, T0, &mut d, &mut r) });
    let recipients = take(r)
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap())
        .collect();
    (take(d), recipients)
}

fn members(g: *const XcGroup) -> Vec<[u8; 32]> {
    let mut out = empty();
    // SAFETY: a live handle and an out-pointer.
    ok(unsafe { xc_group_members(g, &mut out) });
    take(out)
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap())
        .collect()
}

fn open_group(me: *const XcIdentity, root: &[u8; 32], envelope: &[u8]) -> *mut XcOpenedGroup {
    let mut opened = ptr::null_mut();
    // SAFETY: a live handle, one root, valid slices and an out-pointer.
    ok(unsafe {
        xc_open_group(
            me,
            root.as_ptr(),
            1,
            ptr::null(),
            0,
            T0,
            envelope.as_ptr(),
            envelope.len(),
            &mut opened,
        )
    });
    opened
}

#[test]
fn a_group_over_the_c_abi() {
    let pki = Pki::new();
    let (mut alice, mut bob, mut carol) = (identity(), identity(), identity());
    let keys = [public_key(alice), public_key(bob), public_key(carol)];
    let alice_cert = pki.certify(b"alice", alice);
    let (mut ga, mut gb, mut gc) = (group(alice, &keys), group(bob, &keys), group(carol, &keys));
    // SAFETY: every handle is live, every slice valid, every out-pointer writable.
    unsafe {
        let mut buf = empty();
        // Not yet distributed.
        assert_eq!(
            xc_group_send(ga, T0, b"x".as_ptr(), 1, &mut buf),
            XC_ERR_GROUP_DISTRIBUTION_PENDING
        );
        // Alice's key to Bob over a real sealed PQXDH session; to Carol directly.
        let (dist, recipients) = distribution(ga);
        assert_eq!(dist.len(), XC_SENDER_KEY_DISTRIBUTION_LEN);
        assert_eq!(recipients.len(), 2);
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
        let mut bundle = empty();
        ok(xc_prekey_store_bundle(
            store,
            bob,
            XC_NO_ONE_TIME_PREKEY,
            &mut bundle,
        ));
        let bundle = take(bundle);
        let mut to_bob = ptr::null_mut();
        ok(xc_session_initiate(
            alice,
            bundle.as_ptr(),
            bundle.len(),
            ptr::null(),
            b"g".as_ptr(),
            1,
            &mut to_bob,
        ));
        let mut inner = empty();
        ok(xc_session_send_sender_key(
            to_bob,
            T0,
            dist.as_ptr(),
            dist.len(),
            &mut inner,
        ));
        let envelope = seal(alice, &alice_cert, to_bob, &take(inner));
        let mut opened = open(bob, &pki.root_key, T0, &envelope);
        let (mut to_alice, mut received) = (ptr::null_mut(), blank_received());
        ok(xc_opened_respond(
            &mut opened,
            bob,
            store,
            b"g".as_ptr(),
            1,
            &mut to_alice,
            &mut received,
        ));
        assert_eq!(received.kind, XC_CONTENT_KIND_SENDER_KEY);
        let body = body_of(&mut received);
        ok(xc_group_process_distribution(
            gb,
            keys[0].as_ptr(),
            body.as_ptr(),
            body.len(),
        ));
        ok(xc_group_process_distribution(
            gc,
            keys[0].as_ptr(),
            dist.as_ptr(),
            dist.len(),
        ));
        for k in &recipients {
            ok(xc_group_mark_distributed(
                ga,
                k.as_ptr(),
                dist.as_ptr(),
                dist.len(),
            ));
        }
        assert_eq!(distribution(ga).1.len(), 0);

        // One group message, sealed once, split per recipient by the relay.
        ok(xc_group_send(ga, T0, b"hello group".as_ptr(), 11, &mut buf));
        let message = take(core::mem::replace(&mut buf, empty()));
        let mut upload = empty();
        ok(xc_seal_for_group(
            alice,
            alice_cert.as_ptr(),
            alice_cert.len(),
            ga,
            message.as_ptr(),
            message.len(),
            &mut upload,
        ));
        let upload = take(upload);
        let order = members(ga);
        for (me, g) in [(bob, gb), (carol, gc)] {
            let index = order.iter().position(|k| *k == public_key(me)).unwrap();
            let mut env = empty();
            ok(xc_split_for_recipient(
                upload.as_ptr(),
                upload.len(),
                index,
                &mut env,
            ));
            let mut opened = open_group(me, &pki.root_key, &take(env));
            let mut received = blank_received();
            ok(xc_opened_group_receive(&mut opened, g, &mut received));
            assert!(opened.is_null(), "consumed");
            assert_eq!(received.status, XC_RECEIVED_MESSAGE);
            assert_eq!(body_of(&mut received), b"hello group");
        }
        let mut env = empty();
        assert_eq!(
            xc_split_for_recipient(upload.as_ptr(), upload.len(), 2, &mut env),
            XC_ERR_DECODE_NON_CANONICAL
        );

        // Carol removed: Alice rotates, to Bob only; Carol cannot read what follows.
        let mut removed = false;
        ok(xc_group_remove_member(ga, keys[2].as_ptr(), &mut removed));
        assert!(removed);
        let old = dist;
        let (dist, recipients) = distribution(ga);
        assert_eq!(recipients, vec![keys[1]]);
        ok(xc_group_process_distribution(
            gb,
            keys[0].as_ptr(),
            dist.as_ptr(),
            dist.len(),
        ));
        assert_eq!(
            xc_group_mark_distributed(ga, keys[1].as_ptr(), old.as_ptr(), old.len()),
            XC_ERR_GROUP_STALE_DISTRIBUTION,
            "the key Carol holds marks nothing"
        );
        ok(xc_group_mark_distributed(
            ga,
            keys[1].as_ptr(),
            dist.as_ptr(),
            dist.len(),
        ));
        assert_eq!(
            xc_group_mark_distributed(ga, keys[2].as_ptr(), dist.as_ptr(), dist.len()),
            XC_ERR_GROUP_NOT_A_MEMBER
        );
        ok(xc_group_send(
            ga,
            T0,
            b"without carol".as_ptr(),
            13,
            &mut buf,
        ));
        let message = take(core::mem::replace(&mut buf, empty()));
        let mut upload = empty();
        ok(xc_seal_for_group(
            alice,
            alice_cert.as_ptr(),
            alice_cert.len(),
            ga,
            message.as_ptr(),
            message.len(),
            &mut upload,
        ));
        let upload = take(upload);
        assert_eq!(members(ga), vec![keys[1]]);
        let mut env = empty();
        ok(xc_split_for_recipient(
            upload.as_ptr(),
            upload.len(),
            0,
            &mut env,
        ));
        let env = take(env);
        // Carol is not a recipient at all: her envelope does not open.
        let mut none = ptr::null_mut();
        assert_eq!(
            xc_open_group(
                carol,
                pki.root_key.as_ptr(),
                1,
                ptr::null(),
                0,
                T0,
                env.as_ptr(),
                env.len(),
                &mut none
            ),
            XC_ERR_SEALED_DECRYPTION_FAILED
        );
        // Persistence: Bob's group restored from bytes reads the message.
        let mut saved = empty();
        ok(xc_group_to_bytes(gb, &mut saved));
        let saved = take(saved);
        ok(xc_group_free(&mut gb));
        ok(xc_group_from_bytes(saved.as_ptr(), saved.len(), &mut gb));
        let mut opened = open_group(bob, &pki.root_key, &env);
        let mut received = blank_received();
        ok(xc_opened_group_receive(&mut opened, gb, &mut received));
        assert_eq!(body_of(&mut received), b"without carol");
        // Handles are typed: a session is not a group.
        assert_eq!(
            xc_group_send(to_bob.cast(), T0, ptr::null(), 0, &mut buf),
            XC_ERR_INVALID_HANDLE
        );
        for g in [&mut ga, &mut gb, &mut gc] {
            ok(xc_group_free(g));
            assert!(g.is_null());
        }
        ok(xc_session_free(&mut to_bob));
        ok(xc_session_free(&mut to_alice));
        ok(xc_prekey_store_free(&mut store));
        for id in [&mut alice, &mut bob, &mut carol] {
            ok(xc_identity_free(id));
        }
    }
}
