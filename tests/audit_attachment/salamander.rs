//! What binds the stored bytes to a descriptor: the key commitment binds the *descriptor's*
//! header to its key, but the chunks are AES-GCM, which commits to nothing — so whatever is not
//! checked against the stored header, or against the bytes themselves, is not bound.

use xchat_protocol::attachment::chunked::HEADER_LEN;
use xchat_protocol::attachment::{
    AttachmentDecryptor, AttachmentDescriptor, AttachmentEncryptor, AttachmentError, AttachmentInfo,
};

use crate::support::{
    ATTACHMENT_CONTEXT, Derived, Script, aes_block, c2sp_derive, chunk_of, descriptor_bytes,
    gf_inv, gf_mul, gf_pow, header_of, keystream, pattern, raw_seal, rng, seal_with,
};

fn block(bytes: &[u8]) -> u128 {
    u128::from_be_bytes(bytes.try_into().unwrap())
}

fn h_and_mask(d: &Derived) -> (u128, u128) {
    let h = aes_block(&d.key, [0; 16]);
    let mut j0 = [0u8; 16];
    j0[..12].copy_from_slice(&d.base_nonce); // chunk 0: the base nonce itself
    j0[15] = 1;
    (h, aes_block(&d.key, j0))
}

/// GCM's tag of `ct` (empty AAD) from GHASH computed here.
fn tag(d: &Derived, ct: &[u8]) -> u128 {
    let (h, mask) = h_and_mask(d);
    let blocks: Vec<u128> = ct.chunks(16).map(block).collect();
    let m = blocks.len() as u128 + 1;
    let len = (ct.len() as u128) * 8;
    let mut acc = gf_mul(len, h) ^ mask;
    for (i, x) in blocks.iter().enumerate() {
        acc ^= gf_mul(*x, gf_pow(h, m - i as u128));
    }
    acc
}

/// FINDING (medium): one stored stream opens, without any error, as two different files under
/// two descriptors with different keys — an "invisible salamander", which SECURITY.md row 19b
/// says cannot happen ("a stream opens under no other key"). The commitment binds the
/// *descriptor's* header to the descriptor's key, but `AttachmentDecryptor` takes the header
/// from the descriptor, not from the stored stream, and AES-GCM chunks are not key-committing:
/// a sender solves one linear equation in GF(2^128) (one 16-byte block sacrificed) so that a
/// chunk authenticates under both derived keys. The stored header is compared only by
/// `check_header`, which the API makes optional ("a decryptor that seeks need not fetch
/// them") and which neither the module's example nor INTEGRATION.md §9c ("Open") calls. So a sender can give Bob a
/// descriptor showing "pay Alice" and Carol one showing "pay Mallory" for the same stored
/// blob (same location, same bytes): any moderation, abuse report, deduplication or audit that
/// identifies content by its stored bytes or location is fooled.
/// Fix: bind the chunks to the stored header — make the header check mandatory (e.g.
/// `AttachmentDecryptor::new(descriptor, stored_header)`, or refuse to open any chunk before
/// `check_header` passed: 56 bytes, one small range request for a seeking reader), or put a
/// digest of the stored stream in the descriptor. Until then, correct row 19b and the docs.
#[test]
fn broken_one_stored_stream_opens_as_two_files_under_two_descriptors() {
    let (k1, s1) = ([0xA1; 32], [0xB1; 24]);
    let (k2, s2) = ([0xA2; 32], [0xB2; 24]);
    let d1 = c2sp_derive(&k1, &s1, ATTACHMENT_CONTEXT);
    let d2 = c2sp_derive(&k2, &s2, ATTACHMENT_CONTEXT);
    // Our GHASH agrees with aes-gcm's tag on an honest chunk.
    let honest = raw_seal(&d1, 0, &pattern(256, 1));
    assert_eq!(tag(&d1, &honest[..256]), block(&honest[256..]));

    // 256 bytes: no padding (pad(256) = 256), one final chunk of 16 blocks.
    let mut a = [b' '; 128];
    a[..18].copy_from_slice(b"PAY ALICE 100 EUR.");
    let mut b = [b' '; 112];
    b[..20].copy_from_slice(b"PAY MALLORY 900 EUR.");
    let (ks1, ks2) = (keystream(&d1, 0, 256), keystream(&d2, 0, 256));
    let mut ct = vec![0u8; 256];
    for i in 0..128 {
        ct[i] = a[i] ^ ks1[i];
    }
    for i in 128..240 {
        ct[i] = b[i - 128] ^ ks2[i];
    }
    // Solve the last block so that both tags agree: Σ X_i (H1^e_i + H2^e_i) + L (H1 + H2)
    // + E1(J0) + E2(J0) = 0, with X_16's exponent 2.
    let ((h1, m1), (h2, m2)) = (h_and_mask(&d1), h_and_mask(&d2));
    let len = 256u128 * 8;
    let mut rest = gf_mul(len, h1 ^ h2) ^ m1 ^ m2;
    for i in 0..15 {
        let e = 17 - i as u128;
        rest ^= gf_mul(
            block(&ct[16 * i..16 * i + 16]),
            gf_pow(h1, e) ^ gf_pow(h2, e),
        );
    }
    let last = gf_mul(rest, gf_inv(gf_pow(h1, 2) ^ gf_pow(h2, 2)));
    ct[240..].copy_from_slice(&last.to_be_bytes());
    let t = tag(&d1, &ct);
    assert_eq!(t, tag(&d2, &ct));
    let mut stored = header_of(&s1, &d1).to_vec();
    stored.extend_from_slice(&ct);
    stored.extend_from_slice(&t.to_be_bytes());

    let info = AttachmentInfo {
        content_type: "text/plain".into(),
        location: b"blob/the-same-one".to_vec(),
        ..AttachmentInfo::default()
    };
    let for_bob = descriptor_bytes(&k1, &header_of(&s1, &d1), 256, &info);
    let for_carol = descriptor_bytes(&k2, &header_of(&s2, &d2), 256, &info);
    let open = |bytes: &[u8]| {
        let d = AttachmentDescriptor::from_bytes(bytes).unwrap();
        let mut dec = AttachmentDecryptor::new(&d).unwrap();
        dec.check_stored_len(stored.len() as u64).unwrap();
        let mut buf = stored[HEADER_LEN..].to_vec();
        dec.open_next(&mut buf).unwrap();
        assert!(dec.is_complete());
        (buf, dec)
    };
    let (bob_sees, bob) = open(&for_bob);
    let (carol_sees, carol) = open(&for_carol);
    assert_eq!(&bob_sees[..18], b"PAY ALICE 100 EUR.");
    assert_eq!(&carol_sees[128..148], b"PAY MALLORY 900 EUR.");
    assert_ne!(bob_sees, carol_sees);
    // Only the optional header check tells: the stored header commits to Bob's key.
    bob.check_header(&stored[..HEADER_LEN]).unwrap();
    assert_eq!(
        carol.check_header(&stored[..HEADER_LEN]),
        Err(AttachmentError::WrongKey)
    );
}

/// FINDING (medium): every *recipient* of a descriptor — not only its sender, as the
/// "Attachments" known limit puts it ("A sender can make two different streams under one key
/// (it knows the key …)") — can make a different stream that passes every check the API has:
/// the descriptor carries the key and the salt, so a recipient re-runs the encryptor with them
/// (same header, same length) over a file of its choosing. `check_stored_len`, `check_header`,
/// every chunk and `is_complete` all pass. In a group, where messages are signed by their
/// sender's key so that members cannot speak for each other, one member colluding with (or
/// being) the storage server can replace Alice's attachment for every other member, and it is
/// shown as Alice's. The documented defence ("the server stores one stream under one id")
/// assumes an honest server, against which E2E encryption is meant to protect.
/// Fix: put a digest of the stored stream (or a Merkle root over its chunks, for random
/// access) in the descriptor and check it — the sender signs it through the session or group
/// message, as Signal's attachment pointer does with its digest — or at least state this limit
/// for recipients, not only for the sender.
#[test]
fn broken_any_recipient_can_make_another_stream_that_opens_under_the_descriptor() {
    let file = pattern(50_000, 10);
    let (stored, sent) = seal_with(&mut rng(80), &file);
    // Mallory received the descriptor (as bytes, through the conversation).
    let got = AttachmentDescriptor::from_bytes(&sent.to_bytes().unwrap()).unwrap();
    let mut script = Script(
        [got.key().as_bytes().as_slice(), &got.header()[..24]]
            .concat()
            .to_vec(),
    );
    let forged_file = pattern(50_000, 99);
    let mut enc = AttachmentEncryptor::new(&mut script, got.size()).unwrap();
    assert_eq!(enc.header(), got.header());
    let mut forged = enc.header().to_vec();
    let mut rest = &forged_file[..];
    while let Some(n) = enc.next_input_len() {
        let (p, t) = rest.split_at(n);
        let mut buf = p.to_vec();
        enc.seal_next(&mut buf).unwrap();
        forged.extend_from_slice(&buf);
        rest = t;
    }
    assert_eq!(forged.len(), stored.len());
    assert_ne!(forged, stored);
    // Carol, with Alice's descriptor, opens Mallory's stream with every check there is.
    let mut dec = AttachmentDecryptor::new(&sent).unwrap();
    dec.check_stored_len(forged.len() as u64).unwrap();
    dec.check_header(&forged[..HEADER_LEN]).unwrap();
    let mut out = Vec::new();
    for i in 0..dec.chunk_count() {
        let mut buf = chunk_of(&forged, i as usize).to_vec();
        dec.open_next(&mut buf).unwrap();
        out.extend_from_slice(&buf);
    }
    assert!(dec.is_complete());
    assert_eq!(out, forged_file);
    assert_ne!(out, file);
}
