//! Writes the committed seed corpora of the fuzz targets (`fuzz/seeds/<target>/`): one valid
//! instance of every wire and state format, built deterministically through the public API.
//! Run with `cargo run --example fuzz_seeds`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fs;
use std::path::Path;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use xchat_protocol::content::{Content, ContentKind};
use xchat_protocol::sealed_sender::seal_to;
use xchat_protocol::{
    CertificateKeyPair, IdentityKeyPair, PreKeyStore, Session, Timer, TimerStart,
};
use xchat_protocol::{Config, Trust};

const NOW: u64 = 1_700_000_000_000;

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fixtures;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/seeds").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    store.rotate_signed_prekey(&mut rng, &bob, NOW);
    store.generate_one_time_prekeys(&mut rng, 2).unwrap();
    let with_otpk = store.bundle(&bob, Some(0)).unwrap();
    write("bundle", "with_one_time_prekey", &with_otpk.to_bytes());
    write(
        "bundle",
        "without_one_time_prekey",
        &store.bundle(&bob, None).unwrap().to_bytes(),
    );

    let mut a = Session::initiate(
        &mut rng,
        &alice,
        &with_otpk,
        Trust::FirstUse,
        &Config::new(b"fuzz").allow_classical(),
    )
    .unwrap();
    let first = a.send(&mut rng, NOW, b"hello").unwrap();
    let raw_prekey = a.encrypt(&mut rng, b"raw").unwrap();
    write("message", "prekey_message", &first);
    write("respond", "prekey_message", &first);
    write("session_decrypt", "prekey_message", &raw_prekey);
    let (mut b, _) = Session::accept(
        &bob,
        &mut store,
        &first,
        &Config::new(b"fuzz").allow_classical(),
        NOW,
    )
    .unwrap();
    let reply = b.send(&mut rng, NOW, b"hi").unwrap();
    write("message", "normal_message", &reply);
    write("session_decrypt", "normal_message", &reply);

    // PQXDH (SPEC.md §4.5): bundles with a last-resort and with a one-time KEM prekey, and the
    // first messages made from them.
    store.rotate_kem_prekey(&mut rng, &bob, NOW);
    let kem_ids: Vec<u32> = store
        .generate_kem_one_time_prekeys(&mut rng, &bob, 1, NOW)
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    let pq_last_resort = store.bundle(&bob, Some(1)).unwrap();
    let pq_one_time = store
        .bundle_with_kem_one_time(&bob, None, kem_ids[0])
        .unwrap();
    write("bundle", "pqxdh_last_resort", &pq_last_resort.to_bytes());
    if let Some(kem) = &pq_last_resort.kem_prekey {
        write("kem", "kem_prekey_last_resort", &kem.to_bytes());
    }
    write("bundle", "pqxdh_one_time_kem", &pq_one_time.to_bytes());
    for (name, bundle) in [
        ("last_resort", &pq_last_resort),
        ("one_time_kem", &pq_one_time),
    ] {
        let mut pq = Session::initiate(
            &mut rng,
            &alice,
            bundle,
            Trust::FirstUse,
            &Config::new(b"fuzz").allow_classical(),
        )
        .unwrap();
        let first = pq.send(&mut rng, NOW, b"hello").unwrap();
        write("message", &format!("pqxdh_prekey_message_{name}"), &first);
        write("respond", &format!("pqxdh_prekey_message_{name}"), &first);
        write(
            "state",
            &format!("session_pqxdh_{name}"),
            &pq.to_bytes().unwrap(),
        );
    }
    write("state", "prekey_store_pqxdh", &store.to_bytes().unwrap());

    let root = CertificateKeyPair::generate(&mut rng);
    let server = CertificateKeyPair::generate(&mut rng);
    let server_cert = root.certify_server(1, &server.public());
    let cert = server
        .certify_sender(&server_cert, b"alice", 1, alice.public(), NOW + 86_400_000)
        .unwrap();
    write("certificate", "sender", &cert.to_bytes().unwrap());
    write("certificate", "server", &server_cert.to_bytes());
    write(
        "sealed_open",
        "envelope",
        &seal_to(&mut rng, &alice, &cert, bob.public(), &reply).unwrap(),
    );

    for (name, timer) in [
        ("off", Timer::OFF),
        (
            "on_send",
            Timer {
                duration_s: 60,
                start: TimerStart::OnSend,
                version: 1,
            },
        ),
        (
            "on_read",
            Timer {
                duration_s: 30,
                start: TimerStart::OnRead,
                version: 2,
            },
        ),
    ] {
        let content = Content {
            kind: ContentKind::Message,
            sent_at_ms: NOW,
            timer,
            body: b"body".to_vec(),
        };
        write("content", name, &content.to_padded_bytes().unwrap());
    }

    write("state", "identity", &alice.to_bytes());
    write("state", "prekey_store", &store.to_bytes().unwrap());
    write("state", "session_initiator", &a.to_bytes().unwrap());
    write("state", "session_responder", &b.to_bytes().unwrap());

    // The conversation target reads operations through `arbitrary`: any bytes are a script.
    write(
        "conversation",
        "short_script",
        &[0, 0, 5, 1, 1, 0, 3, 0, 1, 0, 2, 0],
    );
    write(
        "conversation",
        "long_script",
        &(0..=255u8).collect::<Vec<_>>(),
    );
    println!("wrote fuzz/seeds/");

    // Groups (SPEC.md §13): Alice's messages (raw, framed, a timer change), her distribution,
    // and Bob's state blob, for the group target.
    group_seeds();

    // Attachments (SPEC.md §14), for the attachment target.
    attachment_seeds();
    // Accounts (SPEC.md §15), for the account target.
    account_seeds();
}

fn group_seeds() {
    // The fuzz target's own fixture, so that the seed messages reach its signature checks.
    let f = fixtures::group_fixture();
    write("group", "distribution", &f.distribution);
    for (m, name) in f
        .messages
        .iter()
        .zip(["raw_message", "framed_message", "timer_message"])
    {
        write("group", name, m);
    }
    write("group", "state", &f.bob.to_bytes().unwrap());
    // Delivery orders for the replay mode (first byte 0xFF, then message indices).
    write("group", "replay_in_order", &[0xFF, 0, 1, 2]);
    write("group", "replay_reversed_with_repeat", &[0xFF, 2, 1, 0, 0]);
    // Multi-recipient (SPEC.md §9.5): Bob's envelope as delivered, and the upload for the relay
    // mode (first byte 0xFE, then Bob's index as a big-endian u16).
    write("group", "multi_recipient_envelope", &f.envelope);
    let index = u16::try_from(f.bob_index).unwrap().to_be_bytes();
    write(
        "group",
        "multi_recipient_upload",
        &[&[0xFE][..], &index, &f.upload].concat(),
    );
}

fn attachment_seeds() {
    use xchat_protocol::attachment::chunked::{HEADER_LEN, SEALED_CHUNK_LEN};
    // The target's own fixture: its descriptor (decoded as a whole input) and its stored stream.
    let f = fixtures::attachment_fixture();
    write("attachment", "descriptor", &f.descriptor_bytes);
    let stored = &f.stored;
    // As a stored stream (first byte 0xA0, then a selector: in-place calls and the chunk opened
    // alone), whole and cut after its second chunk (a full one: the short final chunk is missing).
    write(
        "attachment",
        "stored_stream",
        &[&[0xA0, 0x01][..], stored].concat(),
    );
    let cut = HEADER_LEN + 2 * SEALED_CHUNK_LEN;
    write(
        "attachment",
        "stored_stream_truncated",
        &[&[0xA0, 0x82][..], &stored[..cut]].concat(),
    );
    // Edits of the authentic stream (offsets are big-endian u32s): a byte of the second chunk
    // flipped (0xA1: a splice) and the first chunk repeated in the second's place (0xA2: a copy).
    let at = u32::try_from(HEADER_LEN + SEALED_CHUNK_LEN + 100).unwrap();
    write(
        "attachment",
        "stored_stream_flipped_byte",
        &[
            &[0xA1, 0x00][..],
            &at.to_be_bytes(),
            &(at + 1).to_be_bytes(),
            &[stored[usize::try_from(at).unwrap()] ^ 1],
        ]
        .concat(),
    );
    let chunk = |i: usize| u32::try_from(HEADER_LEN + i * SEALED_CHUNK_LEN).unwrap();
    write(
        "attachment",
        "stored_stream_repeated_chunk",
        &[
            &[0xA2, 0x01][..],
            &chunk(1).to_be_bytes(),
            &chunk(2).to_be_bytes(),
            &chunk(0).to_be_bytes(),
            &chunk(1).to_be_bytes(),
        ]
        .concat(),
    );
    // As a raw C2SP stream under the fixture's key and context (first byte 0xB0).
    write("attachment", "raw_stream", &[&[0xB0][..], stored].concat());
}

fn account_seeds() {
    let f = fixtures::account_fixture();
    write("account", "list_1", &f.lists[0]);
    write("account", "list_2", &f.lists[1]);
    write("account", "qr_bob", &[&[0xC0][..], &f.bob_qr].concat());
    write("account", "contact", &[&[0xC1][..], &f.contact].concat());
}
