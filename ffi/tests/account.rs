//! The accounts C ABI (SPEC.md §15) exercised from Rust through the `extern "C"` functions, as a C
//! program calls them: device entries and signed lists (byte for byte the core library's), a
//! contact with two devices, a ghost device refused, sealed fan-out, a device removed, the
//! server's rollback / fork / gap refused, a new account key, persistence, safety numbers, every
//! NULL and invalid handle, and no leak (a counting allocator).

use core::cell::Cell;
use core::ptr;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::{Mutex, MutexGuard, PoisonError};

use xchat_protocol::IdentityKeyPair;
use xchat_protocol::account::{AccountKeyPair, DeviceEntry, DeviceList};
use xchat_protocol_ffi::*;

mod support;

use support::*;

const CONTEXT: &[u8] = b"alice|bob";
/// The Ed25519 identity point: it decodes, but is of small order, so no key parse accepts it.
const WEAK_KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    k[0] = 1;
    k
};

// ---------------------------------------------------------------------------------------------
// Leak accounting: every allocation and free made by a thread is counted on that thread, so a
// test can check that a scenario frees exactly what it allocated. The tests of this file run one
// at a time (`serial`), so that no other thread allocates or frees the registry's nodes meanwhile.
// ---------------------------------------------------------------------------------------------

struct Counting;

thread_local! {
    static NET_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = NET_BYTES.try_with(|n| n.set(n.get() + delta));
}

fn size(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded to the system allocator with the caller's arguments; the
// counter is a const-initialised thread-local `Cell` (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(size(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(size(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) };
        count(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's arguments.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(size(new_size) - size(layout.size()));
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn net_bytes() -> isize {
    NET_BYTES.with(Cell::get)
}

// ---------------------------------------------------------------------------------------------
// Calls, as a C program makes them
// ---------------------------------------------------------------------------------------------

/// A device: its identity and a prekey store with a signed and a KEM prekey.
struct Device {
    id: *mut XcIdentity,
    store: *mut XcPreKeyStore,
    key: [u8; 32],
}

impl Device {
    fn new() -> Self {
        let id = identity();
        let mut store = ptr::null_mut();
        // SAFETY: live handles and valid out-pointers.
        unsafe {
            ok(xc_prekey_store_new(&mut store));
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
        }
        Self {
            id,
            store,
            key: public_key(id),
        }
    }

    fn bundle(&self) -> Vec<u8> {
        let mut out = empty();
        // SAFETY: live handles and a valid out-pointer.
        ok(unsafe { xc_prekey_store_bundle(self.store, self.id, XC_NO_ONE_TIME_PREKEY, &mut out) });
        take(out)
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: live handles, freed once.
        unsafe {
            ok(xc_prekey_store_free(&mut self.store));
            ok(xc_identity_free(&mut self.id));
        }
    }
}

fn account_key() -> *mut XcAccountKey {
    let mut key = ptr::null_mut();
    // SAFETY: a valid out-pointer.
    ok(unsafe { xc_account_key_generate(&mut key) });
    key
}

fn account_public(key: *const XcAccountKey) -> [u8; 32] {
    let mut out = [0; 32];
    // SAFETY: a live handle and 32 writable bytes.
    ok(unsafe { xc_account_key_public_key(key, out.as_mut_ptr()) });
    out
}

fn account_seed(key: *const XcAccountKey) -> [u8; 32] {
    let mut out = [0; 32];
    // SAFETY: a live handle and 32 writable bytes.
    ok(unsafe { xc_account_key_seed(key, out.as_mut_ptr()) });
    out
}

fn identity_bytes(id: *const XcIdentity) -> Vec<u8> {
    let mut out = empty();
    // SAFETY: a live handle and a valid out-pointer.
    ok(unsafe { xc_identity_to_bytes(id, &mut out) });
    take(out)
}

fn result(code: i32, out: XcBuffer) -> Result<Vec<u8>, i32> {
    if code == XC_OK {
        Ok(take(out))
    } else {
        assert!(out.ptr.is_null() && out.len == 0, "reset on error");
        Err(code)
    }
}

fn entry(device: *const XcIdentity, account: &[u8; 32], id: u32, at: u64) -> Vec<u8> {
    let mut out = empty();
    // SAFETY: a live handle, a 32-byte key and a valid out-pointer.
    ok(unsafe { xc_device_entry_sign(device, account.as_ptr(), id, at, &mut out) });
    take(out)
}

fn first(account: *const XcAccountKey, entries: &[&[u8]], at: u64) -> Result<Vec<u8>, i32> {
    let flat = entries.concat();
    let n = flat.len() / XC_DEVICE_ENTRY_LEN;
    let mut out = empty();
    // SAFETY: a live handle, `108 * n` readable bytes and a valid out-pointer.
    let code = unsafe { xc_device_list_first(account, flat.as_ptr(), n, at, &mut out) };
    result(code, out)
}

fn next(
    account: *const XcAccountKey,
    previous: &[u8],
    entries: &[&[u8]],
    at: u64,
) -> Result<Vec<u8>, i32> {
    let flat = entries.concat();
    let n = flat.len() / XC_DEVICE_ENTRY_LEN;
    let mut out = empty();
    // SAFETY: a live handle, readable slices and a valid out-pointer.
    let code = unsafe {
        xc_device_list_next(
            account,
            previous.as_ptr(),
            previous.len(),
            flat.as_ptr(),
            n,
            at,
            &mut out,
        )
    };
    result(code, out)
}

fn verify(list: &[u8]) -> Result<([u8; 32], u64, Vec<u8>), i32> {
    let (mut key, mut sequence, mut entries) = ([0xAA; 32], u64::MAX, empty());
    // SAFETY: a readable slice and valid out-pointers.
    let code = unsafe {
        xc_device_list_verify(
            list.as_ptr(),
            list.len(),
            key.as_mut_ptr(),
            &mut sequence,
            &mut entries,
        )
    };
    if code != XC_OK {
        assert_eq!((key, sequence), ([0; 32], 0), "reset on error");
    }
    result(code, entries).map(|entries| (key, sequence, entries))
}

fn contact(list: &[u8]) -> *mut XcContact {
    let mut c = ptr::null_mut();
    // SAFETY: a readable slice and a valid out-pointer.
    ok(unsafe { xc_contact_new(list.as_ptr(), list.len(), &mut c) });
    c
}

type Event = (u8, u32, [u8; 32]);

fn events(bytes: Vec<u8>) -> Vec<Event> {
    assert_eq!(bytes.len() % XC_ACCOUNT_EVENT_LEN, 0);
    bytes
        .chunks_exact(XC_ACCOUNT_EVENT_LEN)
        .map(|e| {
            (
                e[0],
                u32::from_be_bytes(e[1..5].try_into().unwrap()),
                e[5..].try_into().unwrap(),
            )
        })
        .collect()
}

fn update(c: *mut XcContact, lists: &[&[u8]]) -> Result<Vec<Event>, i32> {
    let ptrs: Vec<*const u8> = lists.iter().map(|l| l.as_ptr()).collect();
    let lens: Vec<usize> = lists.iter().map(|l| l.len()).collect();
    let mut out = empty();
    // SAFETY: a live handle, `n` pointers and lengths to readable lists, a valid out-pointer.
    let code = unsafe { xc_contact_update(c, ptrs.as_ptr(), lens.as_ptr(), lists.len(), &mut out) };
    result(code, out).map(events)
}

fn accept(c: *mut XcContact, list: &[u8]) -> Result<Vec<Event>, i32> {
    let mut out = empty();
    // SAFETY: a live handle, a readable slice and a valid out-pointer.
    let code = unsafe { xc_contact_accept_new_account_key(c, list.as_ptr(), list.len(), &mut out) };
    result(code, out).map(events)
}

fn contact_account_key(c: *const XcContact) -> [u8; 32] {
    let mut key = [0; 32];
    // SAFETY: a live handle and 32 writable bytes.
    ok(unsafe { xc_contact_account_key(c, key.as_mut_ptr()) });
    key
}

fn held_list(c: *const XcContact) -> Vec<u8> {
    let mut out = empty();
    // SAFETY: a live handle and a valid out-pointer.
    ok(unsafe { xc_contact_device_list(c, &mut out) });
    take(out)
}

fn without_session(c: *const XcContact) -> Vec<(u32, [u8; 32])> {
    let mut out = empty();
    // SAFETY: a live handle and a valid out-pointer.
    ok(unsafe { xc_contact_devices_without_session(c, &mut out) });
    let bytes = take(out);
    assert_eq!(bytes.len() % XC_DEVICE_RECORD_LEN, 0);
    bytes
        .chunks_exact(XC_DEVICE_RECORD_LEN)
        .map(|r| {
            (
                u32::from_be_bytes(r[..4].try_into().unwrap()),
                r[4..].try_into().unwrap(),
            )
        })
        .collect()
}

fn initiate(c: *mut XcContact, me: *const XcIdentity, bundle: &[u8]) -> Result<u32, i32> {
    let mut device = u32::MAX;
    // SAFETY: live handles, readable slices and a valid out-pointer.
    let code = unsafe {
        xc_contact_initiate(
            c,
            me,
            bundle.as_ptr(),
            bundle.len(),
            CONTEXT.as_ptr(),
            CONTEXT.len(),
            &mut device,
        )
    };
    if code == XC_OK {
        Ok(device)
    } else {
        assert_eq!(device, u32::MAX, "not written on error");
        Err(code)
    }
}

type Outgoing = (u32, [u8; 32], Vec<u8>);

/// Parses outgoing messages strictly: the records must fill the buffer exactly.
fn outgoing(bytes: Vec<u8>) -> Vec<Outgoing> {
    let mut rest = bytes.as_slice();
    let mut out = Vec::new();
    while !rest.is_empty() {
        assert!(rest.len() >= XC_OUTGOING_HEADER_LEN);
        let device = u32::from_be_bytes(rest[..4].try_into().unwrap());
        let identity: [u8; 32] = rest[4..36].try_into().unwrap();
        let len = u32::from_be_bytes(rest[36..40].try_into().unwrap()) as usize;
        let message = rest[40..40 + len].to_vec();
        rest = &rest[40 + len..];
        out.push((device, identity, message));
    }
    out
}

fn send(c: *mut XcContact, now: u64, body: &[u8]) -> Result<Vec<Outgoing>, i32> {
    let mut out = empty();
    // SAFETY: a live handle, a readable slice and a valid out-pointer.
    let code = unsafe { xc_contact_send(c, now, body.as_ptr(), body.len(), &mut out) };
    result(code, out).map(outgoing)
}

fn send_sealed(
    c: *mut XcContact,
    me: *const XcIdentity,
    cert: &[u8],
    now: u64,
    body: &[u8],
) -> Result<Vec<Outgoing>, i32> {
    let mut out = empty();
    // SAFETY: live handles, readable slices and a valid out-pointer.
    let code = unsafe {
        xc_contact_send_sealed(
            c,
            me,
            cert.as_ptr(),
            cert.len(),
            now,
            body.as_ptr(),
            body.len(),
            &mut out,
        )
    };
    result(code, out).map(outgoing)
}

/// A sender certificate for `id` as device `device_id` of `address`.
fn certify(pki: &Pki, address: &[u8], id: *const XcIdentity, device_id: u32) -> Vec<u8> {
    let key = public_key(id);
    let mut out = empty();
    // SAFETY: a live handle, readable slices, a 32-byte key and a valid out-pointer.
    ok(unsafe {
        xc_cert_key_certify_sender(
            pki.server,
            pki.server_cert.as_ptr(),
            pki.server_cert.len(),
            address.as_ptr(),
            address.len(),
            device_id,
            key.as_ptr(),
            T0 + DAY_MS,
            &mut out,
        )
    });
    take(out)
}

fn receive(opened: &mut *mut XcOpened, c: *mut XcContact, me: &Device) -> Result<Vec<u8>, i32> {
    let mut received = blank_received();
    // SAFETY: the address of a variable holding a handle, live handles, a readable slice and a
    // valid out-pointer.
    let code = unsafe {
        xc_contact_receive(
            opened,
            c,
            me.id,
            me.store,
            CONTEXT.as_ptr(),
            CONTEXT.len(),
            &mut received,
        )
    };
    if code == XC_OK {
        assert_eq!(received.status, XC_RECEIVED_MESSAGE);
        Ok(body_of(&mut received))
    } else {
        assert!(received.body.ptr.is_null(), "reset on error");
        Err(code)
    }
}

fn contact_bytes(c: *const XcContact) -> Vec<u8> {
    let mut out = empty();
    // SAFETY: a live handle and a valid out-pointer.
    ok(unsafe { xc_contact_to_bytes(c, &mut out) });
    take(out)
}

fn free_contact(c: &mut *mut XcContact) {
    // SAFETY: the address of a variable holding a live handle.
    ok(unsafe { xc_contact_free(c) });
    assert!(c.is_null());
}

fn free_account(k: &mut *mut XcAccountKey) {
    // SAFETY: the address of a variable holding a live handle.
    ok(unsafe { xc_account_key_free(k) });
    assert!(k.is_null());
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Bob's account has a phone and a laptop; Alice (one device, then a tablet) writes to both.
fn two_devices_and_what_a_server_may_try() {
    let pki = Pki::new();
    let (mut bob_account, mut alice_account) = (account_key(), account_key());
    let (bob_key, alice_key) = (account_public(bob_account), account_public(alice_account));
    let (phone, laptop, ghost, alice) =
        (Device::new(), Device::new(), Device::new(), Device::new());

    // Each device signs its own entry; the manager lists them (in any order: sorted by id).
    let e_phone = entry(phone.id, &bob_key, 1, T0);
    let e_laptop = entry(laptop.id, &bob_key, 2, T0);
    assert_eq!(e_phone.len(), XC_DEVICE_ENTRY_LEN);
    let list1 = first(bob_account, &[&e_laptop, &e_phone], T0).unwrap();
    let (key, sequence, entries) = verify(&list1).unwrap();
    assert_eq!((key, sequence), (bob_key, 1));
    assert_eq!(entries, [e_phone.as_slice(), &e_laptop].concat());
    let alice_list1 = first(alice_account, &[&entry(alice.id, &alice_key, 1, T0)], T0).unwrap();
    let alice_cert = certify(&pki, b"alice", alice.id, 1);

    // Alice's contact for Bob: two devices without a session; a ghost's bundle is refused.
    let mut bob_c = contact(&list1);
    assert_eq!(contact_account_key(bob_c), bob_key);
    assert_eq!(held_list(bob_c), list1);
    assert_eq!(
        without_session(bob_c),
        vec![(1, phone.key), (2, laptop.key)]
    );
    assert_eq!(
        initiate(bob_c, alice.id, &ghost.bundle()),
        Err(XC_ERR_UNKNOWN_DEVICE)
    );
    assert_eq!(without_session(bob_c).len(), 2, "nothing changed");
    assert_eq!(initiate(bob_c, alice.id, &laptop.bundle()), Ok(2));
    assert_eq!(initiate(bob_c, alice.id, &phone.bundle()), Ok(1));
    assert!(without_session(bob_c).is_empty());

    // One sealed send reaches both devices, in list order; each opens its envelope through its
    // own contact for Alice (a first message: the session starts there).
    let out = send_sealed(bob_c, alice.id, &alice_cert, T0, b"hi Bob").unwrap();
    let routes: Vec<_> = out.iter().map(|o| (o.0, o.1)).collect();
    assert_eq!(routes, vec![(1, phone.key), (2, laptop.key)]);
    let (mut alice_on_phone, mut alice_on_laptop) = (contact(&alice_list1), contact(&alice_list1));
    for ((device, c), o) in [(&phone, alice_on_phone), (&laptop, alice_on_laptop)]
        .into_iter()
        .zip(&out)
    {
        let mut opened = open(device.id, &pki.root_key, T0, &o.2);
        assert_eq!(receive(&mut opened, c, device), Ok(b"hi Bob".to_vec()));
        assert!(opened.is_null(), "consumed");
        assert!(without_session(c).is_empty());
    }
    // The phone answers; Alice's contact delivers it to her session with the phone.
    let phone_cert = certify(&pki, b"bob", phone.id, 1);
    let reply = send_sealed(alice_on_phone, phone.id, &phone_cert, T0 + 1, b"hi Alice").unwrap();
    assert_eq!(reply.len(), 1);
    let mut opened = open(alice.id, &pki.root_key, T0 + 1, &reply[0].2);
    assert_eq!(
        receive(&mut opened, bob_c, &alice),
        Ok(b"hi Alice".to_vec())
    );

    // Alice's tablet writes before the phone has her newer list: refused, the envelope kept;
    // once the list is updated, the same envelope is delivered.
    let tablet = Device::new();
    let alice_entries = verify(&alice_list1).unwrap().2;
    let e_tablet = entry(tablet.id, &alice_key, 2, T0 + 2);
    let alice_list2 = next(
        alice_account,
        &alice_list1,
        &[&alice_entries, &e_tablet],
        T0 + 2,
    )
    .unwrap();
    let tablet_cert = certify(&pki, b"alice", tablet.id, 2);
    let mut bob_on_tablet = contact(&list1);
    assert_eq!(initiate(bob_on_tablet, tablet.id, &phone.bundle()), Ok(1));
    let from_tablet = send_sealed(
        bob_on_tablet,
        tablet.id,
        &tablet_cert,
        T0 + 3,
        b"from my tablet",
    )
    .unwrap();
    assert_eq!(from_tablet.len(), 1);
    let mut opened = open(phone.id, &pki.root_key, T0 + 3, &from_tablet[0].2);
    let kept = opened;
    assert_eq!(
        receive(&mut opened, alice_on_phone, &phone),
        Err(XC_ERR_SEALED_UNKNOWN_DEVICE)
    );
    assert_eq!(opened, kept, "the envelope is kept");
    assert_eq!(
        update(alice_on_phone, &[&alice_list2]),
        Ok(vec![(XC_ACCOUNT_EVENT_DEVICE_ADDED, 2, tablet.key)])
    );
    assert_eq!(
        receive(&mut opened, alice_on_phone, &phone),
        Ok(b"from my tablet".to_vec())
    );
    assert!(opened.is_null());

    // Bob removes the laptop: the next list keeps the phone's entry only. Alice's update drops
    // the laptop's session in the same call: the fan-out reaches the phone alone, and the
    // laptop's bundle is now refused.
    let e_phone_kept = &entries[..XC_DEVICE_ENTRY_LEN];
    let list2 = next(bob_account, &list1, &[e_phone_kept], T0 + 4).unwrap();
    assert_eq!(verify(&list2).unwrap().1, 2);
    assert_eq!(
        update(bob_c, &[&list2]),
        Ok(vec![(XC_ACCOUNT_EVENT_DEVICE_REMOVED, 2, laptop.key)])
    );
    let out = send_sealed(bob_c, alice.id, &alice_cert, T0 + 5, b"laptop gone").unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, out[0].1), (1, phone.key));
    let mut opened = open(phone.id, &pki.root_key, T0 + 5, &out[0].2);
    assert_eq!(
        receive(&mut opened, alice_on_phone, &phone),
        Ok(b"laptop gone".to_vec())
    );
    let plain = send(bob_c, T0 + 5, b"plain").unwrap();
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].0, 1);
    assert_eq!(
        initiate(bob_c, alice.id, &laptop.bundle()),
        Err(XC_ERR_UNKNOWN_DEVICE)
    );
    assert!(without_session(bob_c).is_empty());

    // What a server may try, each refused with nothing changed; a list held already is skipped.
    assert_eq!(update(bob_c, &[&list1]), Err(XC_ERR_ACCOUNT_ROLLBACK));
    assert_eq!(held_list(bob_c), list2);
    assert_eq!(update(bob_c, &[&list2]), Ok(vec![]));
    let fork = next(bob_account, &list1, &[&entries], T0 + 6).unwrap();
    assert_eq!(update(bob_c, &[&fork]), Err(XC_ERR_ACCOUNT_FORK));
    let list3 = next(bob_account, &list2, &[&entries], T0 + 7).unwrap();
    let list4 = next(bob_account, &list3, &[e_phone_kept], T0 + 8).unwrap();
    assert_eq!(update(bob_c, &[&list4]), Err(XC_ERR_ACCOUNT_GAP));
    assert_eq!(
        update(bob_c, &[&list3, &fork]),
        Err(XC_ERR_ACCOUNT_ROLLBACK),
        "all or nothing"
    );
    assert_eq!(held_list(bob_c), list2);
    // The laptop came back in list 3 and left in list 4: from list 2, nothing changed.
    assert_eq!(update(bob_c, &[&list3, &list4]), Ok(vec![]));
    assert_eq!(verify(&held_list(bob_c)).unwrap().1, 4);

    // A new account key: refused by an update, accepted only as a key change.
    let mut bob_account2 = account_key();
    let bob_key2 = account_public(bob_account2);
    let e_phone2 = entry(phone.id, &bob_key2, 1, T0 + 9);
    let other = first(bob_account2, &[&e_phone2], T0 + 9).unwrap();
    assert_eq!(update(bob_c, &[&other]), Err(XC_ERR_ACCOUNT_WRONG_ACCOUNT));
    assert_eq!(
        accept(bob_c, &other),
        Ok(vec![(XC_ACCOUNT_EVENT_ACCOUNT_KEY_CHANGED, 0, bob_key2)])
    );
    assert_eq!(contact_account_key(bob_c), bob_key2);
    assert_eq!(
        send(bob_c, T0 + 10, b"x").unwrap().len(),
        1,
        "the phone's session is kept"
    );
    // Under the key held, accepting is an update: it cannot roll the contact back.
    let other2 = next(bob_account2, &other, &[&e_phone2], T0 + 11).unwrap();
    assert_eq!(accept(bob_c, &other2), Ok(vec![]));
    assert_eq!(accept(bob_c, &other), Err(XC_ERR_ACCOUNT_ROLLBACK));
    // The old manager cannot extend the new list; an entry for the old key does not join it.
    assert_eq!(
        next(bob_account, &other, &[&e_phone2], T0 + 12),
        Err(XC_ERR_ACCOUNT_WRONG_ACCOUNT)
    );
    assert_eq!(
        next(bob_account2, &other, &[e_phone_kept], T0 + 12),
        Err(XC_ERR_ACCOUNT_INVALID_DEVICE_LIST)
    );

    // Persistence, plain and sealed at rest: the restored contact holds the same list and
    // still sends to the phone, which reads it.
    let saved = contact_bytes(bob_c);
    free_contact(&mut bob_c);
    // SAFETY: a readable slice and a valid out-pointer.
    ok(unsafe { xc_contact_from_bytes(saved.as_ptr(), saved.len(), &mut bob_c) });
    assert_eq!(held_list(bob_c), other2);
    let storage_key = [0x5A; 32];
    let mut sealed = empty();
    // SAFETY: a live handle, a 32-byte key and a valid out-pointer.
    ok(unsafe { xc_contact_to_sealed_bytes(bob_c, storage_key.as_ptr(), &mut sealed) });
    let sealed = take(sealed);
    free_contact(&mut bob_c);
    let mut restored = ptr::null_mut();
    // SAFETY: readable slices, 32-byte keys and a valid out-pointer.
    unsafe {
        assert_eq!(
            xc_contact_from_sealed_bytes(
                sealed.as_ptr(),
                sealed.len(),
                [0x5B; 32].as_ptr(),
                &mut restored
            ),
            XC_ERR_DECODE_CHECKSUM_MISMATCH
        );
        assert!(restored.is_null());
        ok(xc_contact_from_sealed_bytes(
            sealed.as_ptr(),
            sealed.len(),
            storage_key.as_ptr(),
            &mut bob_c,
        ));
    }
    assert_eq!(contact_bytes(bob_c), saved);
    let out = send_sealed(bob_c, alice.id, &alice_cert, T0 + 13, b"restored").unwrap();
    assert_eq!(out.len(), 1);
    let mut opened = open(phone.id, &pki.root_key, T0 + 13, &out[0].2);
    assert_eq!(
        receive(&mut opened, alice_on_phone, &phone),
        Ok(b"restored".to_vec())
    );

    for c in [
        &mut bob_c,
        &mut alice_on_phone,
        &mut alice_on_laptop,
        &mut bob_on_tablet,
    ] {
        free_contact(c);
    }
    for k in [&mut bob_account, &mut bob_account2, &mut alice_account] {
        free_account(k);
    }
}

fn safety_numbers() {
    let (mut alice, mut bob) = (account_key(), account_key());
    let (alice_key, bob_key) = (account_public(alice), account_public(bob));
    let number = |local: &[u8; 32], local_id: &[u8], remote: &[u8; 32], remote_id: &[u8]| {
        let mut n = ptr::null_mut();
        // SAFETY: 32-byte keys, readable slices and a valid out-pointer.
        let code = unsafe {
            xc_safety_number_new(
                local.as_ptr(),
                local_id.as_ptr(),
                local_id.len(),
                remote.as_ptr(),
                remote_id.as_ptr(),
                remote_id.len(),
                &mut n,
            )
        };
        if code != XC_OK {
            assert!(n.is_null());
        }
        (code, n)
    };
    let digits = |n: *const XcSafetyNumber| {
        let mut out = empty();
        // SAFETY: a live handle and a valid out-pointer.
        ok(unsafe { xc_safety_number_digits(n, &mut out) });
        take(out)
    };
    let qr = |n: *const XcSafetyNumber| {
        let mut out = empty();
        // SAFETY: a live handle and a valid out-pointer.
        ok(unsafe { xc_safety_number_qr_payload(n, &mut out) });
        take(out)
    };
    let compare = |n: *const XcSafetyNumber, scanned: &[u8]| {
        let (mut result, mut version) = (u32::MAX, u8::MAX);
        // SAFETY: a live handle, a readable slice and valid out-pointers.
        let code = unsafe {
            xc_safety_number_compare(
                n,
                scanned.as_ptr(),
                scanned.len(),
                &mut result,
                &mut version,
            )
        };
        (code, result, version)
    };
    let fingerprint = |key: &[u8; 32], id: &[u8]| {
        let mut out = empty();
        // SAFETY: a 32-byte key, a readable slice and a valid out-pointer.
        let code = unsafe { xc_fingerprint_digits(key.as_ptr(), id.as_ptr(), id.len(), &mut out) };
        result(code, out)
    };

    let (code, mut on_alice) = number(&alice_key, b"alice", &bob_key, b"bob");
    ok(code);
    let (code, mut on_bob) = number(&bob_key, b"bob", &alice_key, b"alice");
    ok(code);
    // The same 60 digits on both sides: the two fingerprints, the smaller first.
    let shown = digits(on_alice);
    assert_eq!(shown.len(), XC_SAFETY_NUMBER_DIGITS_LEN);
    assert!(shown.iter().all(u8::is_ascii_digit));
    assert_eq!(digits(on_bob), shown);
    let (fa, fb) = (
        fingerprint(&alice_key, b"alice").unwrap(),
        fingerprint(&bob_key, b"bob").unwrap(),
    );
    assert_eq!(fa.len(), XC_FINGERPRINT_DIGITS_LEN);
    let (lo, hi) = if fa <= fb { (&fa, &fb) } else { (&fb, &fa) };
    assert_eq!(shown, [lo.as_slice(), hi].concat());
    assert_ne!(
        fingerprint(&alice_key, b"alice2").unwrap(),
        fa,
        "the id is bound"
    );

    // Bob scans Alice's code: a match. His own code, or a substituted key's, does not match.
    let alice_qr = qr(on_alice);
    assert_eq!(alice_qr.len(), XC_SAFETY_NUMBER_QR_LEN);
    assert_eq!(
        compare(on_bob, &alice_qr),
        (XC_OK, XC_SAFETY_NUMBER_MATCH, 0)
    );
    assert_eq!(
        compare(on_alice, &qr(on_bob)),
        (XC_OK, XC_SAFETY_NUMBER_MATCH, 0)
    );
    assert_eq!(
        compare(on_bob, &qr(on_bob)),
        (XC_OK, XC_SAFETY_NUMBER_MISMATCH, 0)
    );
    let mut mallory = account_key();
    let (code, mut fake) = number(&alice_key, b"alice", &account_public(mallory), b"bob");
    ok(code);
    assert_ne!(digits(fake), shown);
    assert_eq!(
        compare(on_bob, &qr(fake)),
        (XC_OK, XC_SAFETY_NUMBER_MISMATCH, 0)
    );
    // Another version is reported as such, whatever its length; ours must be 65 bytes.
    let mut v2 = alice_qr.clone();
    v2[0] = 2;
    assert_eq!(
        compare(on_bob, &v2),
        (XC_OK, XC_SAFETY_NUMBER_OTHER_VERSION, 2)
    );
    assert_eq!(
        compare(on_bob, &[2, 0]),
        (XC_OK, XC_SAFETY_NUMBER_OTHER_VERSION, 2)
    );
    assert_eq!(
        compare(on_bob, &[]),
        (XC_ERR_DECODE_TRUNCATED, XC_SAFETY_NUMBER_MISMATCH, 0)
    );
    assert_eq!(
        compare(on_bob, &alice_qr[..64]),
        (XC_ERR_DECODE_TRUNCATED, XC_SAFETY_NUMBER_MISMATCH, 0)
    );
    let long = [alice_qr.as_slice(), &[0]].concat();
    assert_eq!(
        compare(on_bob, &long),
        (XC_ERR_DECODE_TRAILING_BYTES, XC_SAFETY_NUMBER_MISMATCH, 0)
    );
    // NULL out_version is allowed.
    let mut result = u32::MAX;
    // SAFETY: a live handle, a readable slice and a valid out-pointer.
    ok(unsafe {
        xc_safety_number_compare(
            on_bob,
            alice_qr.as_ptr(),
            alice_qr.len(),
            &mut result,
            ptr::null_mut(),
        )
    });
    assert_eq!(result, XC_SAFETY_NUMBER_MATCH);

    // Ids are at most 255 bytes; keys are parsed strictly.
    let id_255 = [b'x'; 255];
    assert!(fingerprint(&alice_key, &id_255).is_ok());
    assert_eq!(fingerprint(&alice_key, &[b'x'; 256]), Err(XC_ERR_TOO_LARGE));
    assert_eq!(fingerprint(&WEAK_KEY, b"a"), Err(XC_ERR_DECODE_INVALID_KEY));
    assert_eq!(
        number(&alice_key, &[0; 256], &bob_key, b"bob").0,
        XC_ERR_TOO_LARGE
    );
    assert_eq!(
        number(&alice_key, b"a", &WEAK_KEY, b"b").0,
        XC_ERR_DECODE_INVALID_KEY
    );

    // SAFETY: live handles (and copies of freed ones), freed once.
    unsafe {
        let stale = on_alice;
        ok(xc_safety_number_free(&mut on_alice));
        assert!(on_alice.is_null());
        let mut copy = stale;
        assert_eq!(xc_safety_number_free(&mut copy), XC_ERR_INVALID_HANDLE);
        let mut out = empty();
        assert_eq!(
            xc_safety_number_digits(stale, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        ok(xc_safety_number_free(&mut on_bob));
        ok(xc_safety_number_free(&mut fake));
    }
    for k in [&mut alice, &mut bob, &mut mallory] {
        free_account(k);
    }
}

/// Every NULL pointer, invalid handle and malformed input: its code, outputs reset, nothing
/// changed or leaked.
fn error_paths() {
    let pki = Pki::new();
    let mut account = account_key();
    let key = account_public(account);
    let (phone, alice) = (Device::new(), Device::new());
    let e_phone = entry(phone.id, &key, 1, T0);
    let list = first(account, &[&e_phone], T0).unwrap();
    let mut c = contact(&list);
    let alice_list = {
        let mut a = account_key();
        let k = account_public(a);
        let l = first(a, &[&entry(alice.id, &k, 1, T0)], T0).unwrap();
        free_account(&mut a);
        l
    };
    let mut alice_on_phone = contact(&alice_list);
    let alice_cert = certify(&pki, b"alice", alice.id, 1);
    // A handle of another type, passed where an account key or a contact is expected.
    let wrong_account: *mut XcAccountKey = phone.id.cast();
    let wrong_contact: *mut XcContact = phone.store.cast();
    let wrong_identity: *mut XcIdentity = account.cast();
    let wrong_store: *mut XcPreKeyStore = alice_on_phone.cast();
    let mut key_out = [0xAA; 32];
    let dangling = || XcBuffer {
        ptr: ptr::dangling_mut(),
        len: 99,
    };

    // SAFETY: every pointer passed is NULL, valid, or a handle value the registry checks; that
    // is what is being tested.
    unsafe {
        // Account keys.
        assert_eq!(
            xc_account_key_generate(ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        let mut k: *mut XcAccountKey = ptr::dangling_mut();
        assert_eq!(
            xc_account_key_from_seed(ptr::null(), &mut k),
            XC_ERR_NULL_POINTER
        );
        assert!(k.is_null());
        assert_eq!(
            xc_account_key_from_seed([1; 32].as_ptr(), ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        for f in [xc_account_key_seed, xc_account_key_public_key] {
            assert_eq!(f(ptr::null(), key_out.as_mut_ptr()), XC_ERR_NULL_POINTER);
            assert_eq!(f(account, ptr::null_mut()), XC_ERR_NULL_POINTER);
            assert_eq!(
                f(wrong_account, key_out.as_mut_ptr()),
                XC_ERR_INVALID_HANDLE
            );
        }
        let seed = account_seed(account);
        ok(xc_account_key_from_seed(seed.as_ptr(), &mut k));
        assert_eq!(account_public(k), key, "the seed restores the key");
        let stale = k;
        free_account(&mut k);
        let mut copy = stale;
        assert_eq!(xc_account_key_free(&mut copy), XC_ERR_INVALID_HANDLE);
        assert_eq!(copy, stale, "left as it was");
        assert_eq!(
            xc_account_key_public_key(stale, key_out.as_mut_ptr()),
            XC_ERR_INVALID_HANDLE
        );
        ok(xc_account_key_free(ptr::null_mut()));
        ok(xc_account_key_free(&mut k));
        let mut wrong = wrong_account;
        assert_eq!(xc_account_key_free(&mut wrong), XC_ERR_INVALID_HANDLE);
        assert_eq!(
            public_key(phone.id),
            phone.key,
            "a wrong-type handle stays valid"
        );

        // Device entries.
        let mut out = dangling();
        assert_eq!(
            xc_device_entry_sign(ptr::null(), key.as_ptr(), 1, T0, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert!(out.ptr.is_null() && out.len == 0, "reset");
        assert_eq!(
            xc_device_entry_sign(phone.id, ptr::null(), 1, T0, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_device_entry_sign(phone.id, WEAK_KEY.as_ptr(), 1, T0, &mut out),
            XC_ERR_DECODE_INVALID_KEY
        );
        assert_eq!(
            xc_device_entry_sign(wrong_identity, key.as_ptr(), 1, T0, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_device_entry_sign(phone.id, key.as_ptr(), 1, T0, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );

        // Lists: counts are checked before any entry is read (NULL with 65 is not read).
        let mut out = dangling();
        assert_eq!(
            xc_device_list_first(account, ptr::null(), 65, T0, &mut out),
            XC_ERR_ACCOUNT_INVALID_DEVICE_LIST
        );
        assert!(out.ptr.is_null() && out.len == 0, "reset");
        assert_eq!(
            first(account, &[], T0),
            Err(XC_ERR_ACCOUNT_INVALID_DEVICE_LIST)
        );
        assert_eq!(
            xc_device_list_first(account, ptr::null(), 1, T0, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_device_list_first(ptr::null(), e_phone.as_ptr(), 1, T0, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_device_list_first(wrong_account, e_phone.as_ptr(), 1, T0, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_device_list_first(account, e_phone.as_ptr(), 1, T0, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        let many: Vec<Vec<u8>> = (0..65).map(|i| entry(phone.id, &key, i, T0)).collect();
        let many: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
        assert_eq!(
            first(account, &many, T0),
            Err(XC_ERR_ACCOUNT_INVALID_DEVICE_LIST)
        );
        // One identity twice, one id twice, a membership for another account or altered, an
        // identity that is not a key.
        let e_phone_3 = entry(phone.id, &key, 3, T0);
        assert_eq!(
            first(account, &[&e_phone, &e_phone_3], T0),
            Err(XC_ERR_ACCOUNT_INVALID_DEVICE_LIST)
        );
        let e_alice_1 = entry(alice.id, &key, 1, T0);
        assert_eq!(
            first(account, &[&e_phone, &e_alice_1], T0),
            Err(XC_ERR_ACCOUNT_INVALID_DEVICE_LIST)
        );
        let for_other = {
            let mut other = account_key();
            let e = entry(phone.id, &account_public(other), 1, T0);
            free_account(&mut other);
            e
        };
        assert_eq!(
            first(account, &[&for_other], T0),
            Err(XC_ERR_ACCOUNT_INVALID_DEVICE_LIST)
        );
        let mut altered = e_phone.clone();
        altered[40] ^= 1; // added_at: no longer what the device signed
        assert_eq!(
            first(account, &[&altered], T0),
            Err(XC_ERR_ACCOUNT_INVALID_DEVICE_LIST)
        );
        let mut not_a_key = e_phone.clone();
        not_a_key[4..36].copy_from_slice(&WEAK_KEY);
        assert_eq!(
            first(account, &[&not_a_key], T0),
            Err(XC_ERR_DECODE_INVALID_KEY)
        );
        assert_eq!(
            next(account, &list[..list.len() - 1], &[&e_phone], T0),
            Err(XC_ERR_DECODE_TRUNCATED)
        );
        let mut out = dangling();
        assert_eq!(
            xc_device_list_next(account, ptr::null(), 5, e_phone.as_ptr(), 1, T0, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert!(out.ptr.is_null() && out.len == 0, "reset");

        // Verifying: each failure has its code, and every output is reset.
        assert_eq!(
            verify(&list[..list.len() - 1]),
            Err(XC_ERR_DECODE_TRUNCATED)
        );
        assert_eq!(
            verify(&[list.as_slice(), &[0]].concat()),
            Err(XC_ERR_DECODE_TRAILING_BYTES)
        );
        let mut bad = list.clone();
        bad[0] = 2;
        assert_eq!(verify(&bad), Err(XC_ERR_DECODE_UNKNOWN_VERSION));
        let mut bad = list.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(verify(&bad), Err(XC_ERR_ACCOUNT_INVALID_SIGNATURE));
        let mut bad = list.clone();
        bad[83 + 50] ^= 1; // the entry's membership signature
        assert_eq!(verify(&bad), Err(XC_ERR_ACCOUNT_INVALID_DEVICE_LIST));
        let mut bad = list.clone();
        bad[1..33].copy_from_slice(&WEAK_KEY);
        assert_eq!(verify(&bad), Err(XC_ERR_DECODE_INVALID_KEY));
        assert_eq!(verify(&[]), Err(XC_ERR_DECODE_TRUNCATED));
        ok(xc_device_list_verify(
            list.as_ptr(),
            list.len(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        ));
        assert_eq!(
            xc_device_list_verify(
                ptr::null(),
                3,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut()
            ),
            XC_ERR_NULL_POINTER
        );

        // Contacts: new, update, accept.
        let mut made: *mut XcContact = ptr::dangling_mut();
        assert_eq!(
            xc_contact_new(ptr::null(), 4, &mut made),
            XC_ERR_NULL_POINTER
        );
        assert!(made.is_null());
        assert_eq!(
            xc_contact_new(bad.as_ptr(), bad.len(), &mut made),
            XC_ERR_DECODE_INVALID_KEY
        );
        assert_eq!(
            xc_contact_new(list.as_ptr(), list.len(), ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        let ptrs = [list.as_ptr()];
        let lens = [list.len()];
        let mut out = dangling();
        assert_eq!(
            xc_contact_update(ptr::null_mut(), ptrs.as_ptr(), lens.as_ptr(), 1, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert!(out.ptr.is_null() && out.len == 0, "reset");
        assert_eq!(
            xc_contact_update(wrong_contact, ptrs.as_ptr(), lens.as_ptr(), 1, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_contact_update(c, ptr::null(), lens.as_ptr(), 1, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_contact_update(c, ptrs.as_ptr(), ptr::null(), 1, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_contact_update(c, ptrs.as_ptr(), lens.as_ptr(), 1, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        let words = [0usize; 3];
        let misaligned: *const usize = words.as_ptr().cast::<u8>().wrapping_add(1).cast();
        assert_eq!(
            xc_contact_update(c, ptrs.as_ptr(), misaligned, 1, &mut out),
            XC_ERR_INVALID_ARGUMENT
        );
        let truncated = [list.as_ptr()];
        let short = [list.len() - 1];
        assert_eq!(
            xc_contact_update(c, truncated.as_ptr(), short.as_ptr(), 1, &mut out),
            XC_ERR_DECODE_TRUNCATED
        );
        ok(xc_contact_update(c, ptr::null(), ptr::null(), 0, &mut out));
        assert!(out.ptr.is_null(), "no list, no event");
        assert_eq!(
            xc_contact_accept_new_account_key(ptr::null_mut(), list.as_ptr(), list.len(), &mut out),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_contact_accept_new_account_key(wrong_contact, list.as_ptr(), list.len(), &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_contact_accept_new_account_key(c, bad.as_ptr(), bad.len(), &mut out),
            XC_ERR_DECODE_INVALID_KEY
        );
        assert_eq!(
            xc_contact_accept_new_account_key(c, list.as_ptr(), list.len(), ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );

        // Contacts: what they hold.
        assert_eq!(
            xc_contact_account_key(ptr::null(), key_out.as_mut_ptr()),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_contact_account_key(wrong_contact, key_out.as_mut_ptr()),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_contact_account_key(c, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        for f in [xc_contact_device_list, xc_contact_devices_without_session] {
            let mut out = dangling();
            assert_eq!(f(ptr::null(), &mut out), XC_ERR_NULL_POINTER);
            assert!(out.ptr.is_null() && out.len == 0, "reset");
            assert_eq!(f(wrong_contact, &mut out), XC_ERR_INVALID_HANDLE);
            assert_eq!(f(c, ptr::null_mut()), XC_ERR_NULL_POINTER);
        }

        // Initiating.
        let bundle = phone.bundle();
        let mut device = u32::MAX;
        for (contact, me, code) in [
            (ptr::null_mut(), alice.id, XC_ERR_NULL_POINTER),
            (wrong_contact, alice.id, XC_ERR_INVALID_HANDLE),
            (c, ptr::null_mut(), XC_ERR_NULL_POINTER),
            (c, wrong_identity, XC_ERR_INVALID_HANDLE),
        ] {
            assert_eq!(
                xc_contact_initiate(
                    contact,
                    me,
                    bundle.as_ptr(),
                    bundle.len(),
                    CONTEXT.as_ptr(),
                    CONTEXT.len(),
                    &mut device
                ),
                code
            );
        }
        assert_eq!(
            initiate(c, alice.id, &bundle[..100]),
            Err(XC_ERR_DECODE_TRUNCATED)
        );
        let long_context = [0u8; 1025];
        assert_eq!(
            xc_contact_initiate(
                c,
                alice.id,
                bundle.as_ptr(),
                bundle.len(),
                long_context.as_ptr(),
                long_context.len(),
                &mut device
            ),
            XC_ERR_TOO_LARGE
        );
        assert_eq!(device, u32::MAX);
        assert_eq!(without_session(c).len(), 1, "nothing changed");
        // NULL out_device_id is allowed.
        ok(xc_contact_initiate(
            c,
            alice.id,
            bundle.as_ptr(),
            bundle.len(),
            CONTEXT.as_ptr(),
            CONTEXT.len(),
            ptr::null_mut(),
        ));
        assert!(without_session(c).is_empty());

        // Sending.
        let mut out = dangling();
        assert_eq!(
            xc_contact_send(ptr::null_mut(), T0, ptr::null(), 0, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert!(out.ptr.is_null() && out.len == 0, "reset");
        assert_eq!(
            xc_contact_send(wrong_contact, T0, ptr::null(), 0, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_contact_send(c, T0, ptr::null(), 3, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_contact_send(c, T0, ptr::null(), 0, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        let sealed = |contact: *mut XcContact, me: *const XcIdentity, cert: &[u8]| {
            let mut out = empty();
            let code = xc_contact_send_sealed(
                contact,
                me,
                cert.as_ptr(),
                cert.len(),
                T0,
                b"x".as_ptr(),
                1,
                &mut out,
            );
            result(code, out).map(outgoing)
        };
        assert_eq!(
            sealed(ptr::null_mut(), alice.id, &alice_cert),
            Err(XC_ERR_NULL_POINTER)
        );
        assert_eq!(
            sealed(wrong_contact, alice.id, &alice_cert),
            Err(XC_ERR_INVALID_HANDLE)
        );
        assert_eq!(
            sealed(c, ptr::null(), &alice_cert),
            Err(XC_ERR_NULL_POINTER)
        );
        assert_eq!(
            sealed(c, wrong_identity, &alice_cert),
            Err(XC_ERR_INVALID_HANDLE)
        );
        assert_eq!(
            sealed(c, alice.id, &alice_cert[..10]),
            Err(XC_ERR_DECODE_TRUNCATED)
        );
        let phone_cert = certify(&pki, b"bob", phone.id, 1);
        assert_eq!(
            sealed(c, alice.id, &phone_cert),
            Err(XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH)
        );
        assert_eq!(
            xc_contact_send_sealed(
                c,
                alice.id,
                alice_cert.as_ptr(),
                alice_cert.len(),
                T0,
                ptr::null(),
                0,
                ptr::null_mut()
            ),
            XC_ERR_NULL_POINTER
        );
        let mut out = empty();
        assert_eq!(
            xc_contact_set_timer(c, T0, 60, 7, &mut out),
            XC_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            xc_contact_set_timer(ptr::null_mut(), T0, 60, XC_TIMER_START_ON_SEND, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_contact_set_timer(c, T0, 60, XC_TIMER_START_ON_SEND, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        ok(xc_contact_set_timer(
            c,
            T0,
            60,
            XC_TIMER_START_ON_READ,
            &mut out,
        ));
        assert_eq!(outgoing(take(out)).len(), 1);
        assert_eq!(
            xc_contact_purge(ptr::null_mut(), T0, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_contact_purge(wrong_contact, T0, ptr::null_mut()),
            XC_ERR_INVALID_HANDLE
        );
        let mut purged = usize::MAX;
        ok(xc_contact_purge(c, T0, &mut purged));
        assert_eq!(purged, 0);
        ok(xc_contact_purge(c, T0, ptr::null_mut()));

        // Receiving: an envelope of the first message, opened on the phone.
        let first_message = sealed(c, alice.id, &alice_cert).unwrap();
        let envelope = &first_message[0].2;
        let mut received = blank_received();
        assert_eq!(
            xc_contact_receive(
                ptr::null_mut(),
                alice_on_phone,
                phone.id,
                phone.store,
                ptr::null(),
                0,
                &mut received
            ),
            XC_ERR_NULL_POINTER
        );
        let mut none: *mut XcOpened = ptr::null_mut();
        assert_eq!(
            xc_contact_receive(
                &mut none,
                alice_on_phone,
                phone.id,
                phone.store,
                ptr::null(),
                0,
                &mut received
            ),
            XC_ERR_NULL_POINTER
        );
        // A live envelope with an invalid contact, identity or store, or a NULL out_received,
        // is consumed (as by xc_opened_decrypt).
        for (contact, me, store, out) in [
            (wrong_contact, phone.id, phone.store, &raw mut received),
            (
                alice_on_phone,
                wrong_identity,
                phone.store,
                &raw mut received,
            ),
            (alice_on_phone, phone.id, wrong_store, &raw mut received),
            (alice_on_phone, phone.id, phone.store, ptr::null_mut()),
        ] {
            let mut opened = open(phone.id, &pki.root_key, T0, envelope);
            let stale = opened;
            let code = xc_contact_receive(
                &mut opened,
                contact,
                me,
                store,
                CONTEXT.as_ptr(),
                CONTEXT.len(),
                out,
            );
            assert!(code == XC_ERR_INVALID_HANDLE || code == XC_ERR_NULL_POINTER);
            assert!(opened.is_null(), "consumed");
            // A stale copy of the consumed envelope: reported, left as it was.
            let mut copy = stale;
            assert_eq!(
                xc_contact_receive(
                    &mut copy,
                    alice_on_phone,
                    phone.id,
                    phone.store,
                    CONTEXT.as_ptr(),
                    CONTEXT.len(),
                    &mut received
                ),
                XC_ERR_INVALID_HANDLE
            );
            assert_eq!(copy, stale);
        }
        assert!(received.body.ptr.is_null());
        // The envelope still delivers (nothing was touched by the failures).
        let mut opened = open(phone.id, &pki.root_key, T0, envelope);
        assert_eq!(
            receive(&mut opened, alice_on_phone, &phone),
            Ok(b"x".to_vec())
        );
        // Another contact's envelope (Bob's own, from the phone) through Alice's contact: the
        // sender's device is not on her list; kept, then freed.
        let reply = send_sealed(alice_on_phone, phone.id, &phone_cert, T0, b"y").unwrap();
        let mut opened = open(alice.id, &pki.root_key, T0, &reply[0].2);
        let mut wrong_one = contact(&alice_list);
        assert_eq!(
            receive(&mut opened, wrong_one, &alice),
            Err(XC_ERR_SEALED_UNKNOWN_DEVICE)
        );
        assert!(!opened.is_null());
        assert_eq!(receive(&mut opened, c, &alice), Ok(b"y".to_vec()));
        free_contact(&mut wrong_one);

        // Persistence.
        let mut out = dangling();
        assert_eq!(
            xc_contact_to_bytes(ptr::null(), &mut out),
            XC_ERR_NULL_POINTER
        );
        assert!(out.ptr.is_null() && out.len == 0, "reset");
        assert_eq!(
            xc_contact_to_bytes(wrong_contact, &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(xc_contact_to_bytes(c, ptr::null_mut()), XC_ERR_NULL_POINTER);
        let saved = contact_bytes(c);
        let mut restored: *mut XcContact = ptr::dangling_mut();
        assert_eq!(
            xc_contact_from_bytes(saved.as_ptr(), saved.len() - 1, &mut restored),
            XC_ERR_DECODE_CHECKSUM_MISMATCH
        );
        assert!(restored.is_null());
        assert_eq!(
            xc_contact_from_bytes(ptr::null(), 1, &mut restored),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_contact_from_bytes(saved.as_ptr(), saved.len(), ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        let identity_blob = identity_bytes(phone.id);
        assert_eq!(
            xc_contact_from_bytes(identity_blob.as_ptr(), identity_blob.len(), &mut restored),
            XC_ERR_DECODE_UNKNOWN_TYPE
        );
        let storage_key = [7u8; 32];
        assert_eq!(
            xc_contact_to_sealed_bytes(c, ptr::null(), &mut out),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_contact_to_sealed_bytes(wrong_contact, storage_key.as_ptr(), &mut out),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_contact_to_sealed_bytes(c, storage_key.as_ptr(), ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        ok(xc_contact_to_sealed_bytes(
            c,
            storage_key.as_ptr(),
            &mut out,
        ));
        let sealed_blob = take(out);
        assert_ne!(sealed_blob, saved);
        assert_eq!(
            xc_contact_from_sealed_bytes(
                sealed_blob.as_ptr(),
                sealed_blob.len(),
                ptr::null(),
                &mut restored
            ),
            XC_ERR_NULL_POINTER
        );
        let mut edited = sealed_blob.clone();
        *edited.last_mut().unwrap() ^= 1;
        assert_eq!(
            xc_contact_from_sealed_bytes(
                edited.as_ptr(),
                edited.len(),
                storage_key.as_ptr(),
                &mut restored
            ),
            XC_ERR_DECODE_CHECKSUM_MISMATCH
        );
        assert_eq!(
            xc_contact_from_sealed_bytes(
                saved.as_ptr(),
                saved.len(),
                storage_key.as_ptr(),
                &mut restored
            ),
            XC_ERR_DECODE_UNKNOWN_TYPE,
            "a plain blob is not a sealed one"
        );
        assert!(restored.is_null());

        // Freeing: NULL is a no-op; a stale copy and another type's handle are reported.
        ok(xc_contact_free(ptr::null_mut()));
        let mut null_contact: *mut XcContact = ptr::null_mut();
        ok(xc_contact_free(&mut null_contact));
        let mut wrong = wrong_contact;
        assert_eq!(xc_contact_free(&mut wrong), XC_ERR_INVALID_HANDLE);
        assert_eq!(wrong, wrong_contact);
        let stale = c;
        free_contact(&mut c);
        let mut copy = stale;
        assert_eq!(xc_contact_free(&mut copy), XC_ERR_INVALID_HANDLE);
        assert_eq!(send(stale, T0, b"z"), Err(XC_ERR_INVALID_HANDLE));

        // Safety numbers.
        let mut n: *mut XcSafetyNumber = ptr::dangling_mut();
        assert_eq!(
            xc_safety_number_new(
                ptr::null(),
                ptr::null(),
                0,
                key.as_ptr(),
                ptr::null(),
                0,
                &mut n
            ),
            XC_ERR_NULL_POINTER
        );
        assert!(n.is_null());
        assert_eq!(
            xc_safety_number_new(
                key.as_ptr(),
                ptr::null(),
                0,
                ptr::null(),
                ptr::null(),
                0,
                &mut n
            ),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_safety_number_new(
                key.as_ptr(),
                ptr::null(),
                1,
                key.as_ptr(),
                ptr::null(),
                0,
                &mut n
            ),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_safety_number_new(
                key.as_ptr(),
                ptr::null(),
                0,
                key.as_ptr(),
                ptr::null(),
                0,
                ptr::null_mut()
            ),
            XC_ERR_NULL_POINTER
        );
        ok(xc_safety_number_new(
            key.as_ptr(),
            ptr::null(),
            0,
            phone.key.as_ptr(),
            ptr::null(),
            0,
            &mut n,
        ));
        let wrong_number: *const XcSafetyNumber = phone.id.cast();
        for f in [xc_safety_number_digits, xc_safety_number_qr_payload] {
            let mut out = dangling();
            assert_eq!(f(ptr::null(), &mut out), XC_ERR_NULL_POINTER);
            assert!(out.ptr.is_null() && out.len == 0, "reset");
            assert_eq!(f(wrong_number, &mut out), XC_ERR_INVALID_HANDLE);
            assert_eq!(f(n, ptr::null_mut()), XC_ERR_NULL_POINTER);
        }
        let (mut result, mut version) = (u32::MAX, u8::MAX);
        assert_eq!(
            xc_safety_number_compare(ptr::null(), [1].as_ptr(), 1, &mut result, &mut version),
            XC_ERR_NULL_POINTER
        );
        assert_eq!((result, version), (XC_SAFETY_NUMBER_MISMATCH, 0), "reset");
        assert_eq!(
            xc_safety_number_compare(wrong_number, [1].as_ptr(), 1, &mut result, &mut version),
            XC_ERR_INVALID_HANDLE
        );
        assert_eq!(
            xc_safety_number_compare(n, [1].as_ptr(), 1, ptr::null_mut(), &mut version),
            XC_ERR_NULL_POINTER
        );
        assert_eq!(
            xc_safety_number_compare(n, ptr::null(), 65, &mut result, &mut version),
            XC_ERR_NULL_POINTER
        );
        let mut out = dangling();
        assert_eq!(
            xc_fingerprint_digits(ptr::null(), ptr::null(), 0, &mut out),
            XC_ERR_NULL_POINTER
        );
        assert!(out.ptr.is_null() && out.len == 0, "reset");
        assert_eq!(
            xc_fingerprint_digits(key.as_ptr(), ptr::null(), 0, ptr::null_mut()),
            XC_ERR_NULL_POINTER
        );
        ok(xc_safety_number_free(ptr::null_mut()));
        let mut wrong = wrong_number.cast_mut();
        assert_eq!(xc_safety_number_free(&mut wrong), XC_ERR_INVALID_HANDLE);
        ok(xc_safety_number_free(&mut n));
    }
    free_contact(&mut alice_on_phone);
    free_account(&mut account);
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn two_devices_a_ghost_a_removal_and_a_rollback() {
    let _serial = serial();
    two_devices_and_what_a_server_may_try();
}

#[test]
fn safety_numbers_are_the_same_on_both_sides_and_qr_codes_compare() {
    let _serial = serial();
    safety_numbers();
}

#[test]
fn every_null_pointer_invalid_handle_and_malformed_input_has_its_code() {
    let _serial = serial();
    error_paths();
}

#[test]
fn entries_and_lists_are_the_core_librarys_byte_for_byte() {
    let _serial = serial();
    let mut account = account_key();
    let key = account_public(account);
    let rust_account = AccountKeyPair::from_seed(&account_seed(account));
    assert_eq!(rust_account.public().as_bytes(), &key);
    let (mut a, mut b) = (identity(), identity());
    let pair = |id| IdentityKeyPair::from_bytes(&identity_bytes(id)).unwrap();
    let (ea, eb) = (entry(a, &key, 7, T0), entry(b, &key, 3, T0 + 1));
    // The entry's layout (SPEC.md §15.1).
    assert_eq!(ea[..4], 7u32.to_be_bytes());
    assert_eq!(ea[4..36], public_key(a));
    assert_eq!(ea[36..44], T0.to_be_bytes());
    let list = first(account, &[&ea, &eb], T0 + 2).unwrap();
    let rust = DeviceList::first(
        &rust_account,
        vec![
            DeviceEntry::sign(&pair(a), rust_account.public(), 7, T0),
            DeviceEntry::sign(&pair(b), rust_account.public(), 3, T0 + 1),
        ],
        T0 + 2,
    )
    .unwrap();
    assert_eq!(list, rust.to_bytes());
    let ids: Vec<u32> = rust.devices().iter().map(DeviceEntry::device_id).collect();
    assert_eq!(ids, [3, 7]);
    // The entries `verify` returns are the list's, in its order, and `next` takes them back.
    let (_, _, entries) = verify(&list).unwrap();
    assert_eq!(entries, [eb.as_slice(), &ea].concat());
    let list2 = next(account, &list, &[&entries[..XC_DEVICE_ENTRY_LEN]], T0 + 3).unwrap();
    let rust2 = rust
        .next(&rust_account, vec![rust.devices()[0]], T0 + 3)
        .unwrap();
    assert_eq!(list2, rust2.to_bytes());
    assert_eq!(
        DeviceList::from_bytes(&list2).unwrap().previous_hash(),
        &rust.hash()
    );
    // SAFETY: the addresses of variables holding live handles.
    unsafe {
        ok(xc_identity_free(&mut a));
        ok(xc_identity_free(&mut b));
    }
    free_account(&mut account);
}

#[test]
fn every_scenario_frees_what_it_allocates() {
    let _serial = serial();
    // Once to warm lazily initialised state (the handle registry's first node, the test
    // harness's per-thread state), then again, counted.
    two_devices_and_what_a_server_may_try();
    safety_numbers();
    error_paths();
    let before = net_bytes();
    two_devices_and_what_a_server_may_try();
    safety_numbers();
    error_paths();
    assert_eq!(net_bytes(), before, "bytes allocated and not freed");
}

#[test]
fn account_codes_are_described() {
    let codes = [
        XC_ERR_ACCOUNT_INVALID_SIGNATURE,
        XC_ERR_ACCOUNT_INVALID_DEVICE_LIST,
        XC_ERR_ACCOUNT_WRONG_ACCOUNT,
        XC_ERR_ACCOUNT_ROLLBACK,
        XC_ERR_ACCOUNT_FORK,
        XC_ERR_ACCOUNT_GAP,
        XC_ERR_ACCOUNT_UNKNOWN_DEVICE,
        XC_ERR_ACCOUNT_OTHER,
    ];
    assert_eq!(codes, [90, 91, 92, 93, 94, 95, 96, 99]);
    assert_eq!(
        (XC_ERR_UNKNOWN_DEVICE, XC_ERR_SEALED_UNKNOWN_DEVICE),
        (51, 46)
    );
    for code in codes
        .into_iter()
        .chain([XC_ERR_UNKNOWN_DEVICE, XC_ERR_SEALED_UNKNOWN_DEVICE])
    {
        assert_ne!(message(code), "unknown error code", "{code}");
    }
}
