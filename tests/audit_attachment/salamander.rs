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

/// FIXED (was medium): one stored stream opened, without any error, as two different files under
/// two descriptors with different keys — an "invisible salamander". The commitment bound the
/// *descriptor's* header to the descriptor's key, but the decryptor took the header from the
/// descriptor, and the stored header was compared only by an optional `check_header`; AES-GCM
/// chunks are not key-committing, so a sender solved one linear equation in GF(2^128) for a
/// chunk that authenticates under both derived keys.
/// Now `AttachmentDecryptor::new(descriptor, stored_header)` requires the stored header and
/// refuses one that is not the descriptor's: the stored stream is tied to one key.
#[test]
fn fixed_one_stored_stream_no_longer_opens_as_two_files_under_two_descriptors() {
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
    // Bob's descriptor names the stored header: it opens. Carol's names another one: refused
    // before any chunk, although the forged chunk would authenticate under her key.
    let d = AttachmentDescriptor::from_bytes(&for_bob).unwrap();
    let mut bob = AttachmentDecryptor::new(&d, &stored[..HEADER_LEN]).unwrap();
    bob.check_stored_len(stored.len() as u64).unwrap();
    let mut buf = stored[HEADER_LEN..].to_vec();
    bob.open_next(&mut buf).unwrap();
    assert!(bob.is_complete());
    assert_eq!(&buf[..18], b"PAY ALICE 100 EUR.");
    let d = AttachmentDescriptor::from_bytes(&for_carol).unwrap();
    assert_eq!(
        AttachmentDecryptor::new(&d, &stored[..HEADER_LEN]).unwrap_err(),
        AttachmentError::WrongKey
    );
    // The chunk really is two-faced: under Carol's own header it opens to the other text.
    let mut carol = AttachmentDecryptor::new(&d, d.header()).unwrap();
    let mut buf = stored[HEADER_LEN..].to_vec();
    carol.open_next(&mut buf).unwrap();
    assert_eq!(&buf[128..148], b"PAY MALLORY 900 EUR.");
}

/// FIXED for groups, and a documented limit elsewhere (was medium): every recipient of a
/// descriptor holds the key and salt, so it can re-run the encryptor over a file of its choosing
/// and make a stream that passes every check. In a group one member colluding with the storage
/// server could replace Alice's attachment for every other member. Now
/// `AttachmentEncryptor::with_digest` puts the SHA-256 of the stored stream in the descriptor,
/// `open_next` refuses the final chunk of any other stream (`DigestMismatch`), and
/// `send_to_group` refuses a descriptor without a digest (`DigestRequired`). Without a digest (1:1
/// use, where the only other key holder is the recipient itself) the forgery still opens: this
/// test shows both.
#[test]
fn fixed_a_digest_stops_a_recipient_from_replacing_the_stream() {
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
    // Without a digest, Carol opens Mallory's stream with every check there is.
    let mut dec = AttachmentDecryptor::new(&sent, &forged[..HEADER_LEN]).unwrap();
    dec.check_stored_len(forged.len() as u64).unwrap();
    let mut out = Vec::new();
    for i in 0..dec.chunk_count() {
        let mut buf = chunk_of(&forged, i as usize).to_vec();
        dec.open_next(&mut buf).unwrap();
        out.extend_from_slice(&buf);
    }
    assert!(dec.is_complete());
    assert_eq!(out, forged_file);
    assert_ne!(out, file);

    // With a digest: the same forgery never completes.
    let mut enc = AttachmentEncryptor::with_digest(&mut rng(81), file.len() as u64).unwrap();
    let mut stored = enc.header().to_vec();
    let mut rest = &file[..];
    while let Some(n) = enc.next_input_len() {
        let (p, t) = rest.split_at(n);
        let mut buf = p.to_vec();
        enc.seal_next(&mut buf).unwrap();
        stored.extend_from_slice(&buf);
        rest = t;
    }
    let sent = enc.finish(AttachmentInfo::default()).unwrap();
    let mut script = Script(
        [sent.key().as_bytes().as_slice(), &sent.header()[..24]]
            .concat()
            .to_vec(),
    );
    let mut enc = AttachmentEncryptor::new(&mut script, sent.size()).unwrap();
    let mut forged = enc.header().to_vec();
    let mut rest = &forged_file[..];
    while let Some(n) = enc.next_input_len() {
        let (p, t) = rest.split_at(n);
        let mut buf = p.to_vec();
        enc.seal_next(&mut buf).unwrap();
        forged.extend_from_slice(&buf);
        rest = t;
    }
    let mut dec = AttachmentDecryptor::new(&sent, &forged[..HEADER_LEN]).unwrap();
    let n = dec.chunk_count() as usize;
    for i in 0..n - 1 {
        dec.open_next(&mut chunk_of(&forged, i).to_vec()).unwrap();
    }
    assert_eq!(
        dec.open_next(&mut chunk_of(&forged, n - 1).to_vec()),
        Err(AttachmentError::DigestMismatch)
    );
    assert!(!dec.is_complete());
    assert_eq!(open_digest(&sent, &stored), file);
}

fn open_digest(d: &AttachmentDescriptor, stored: &[u8]) -> Vec<u8> {
    let mut dec = AttachmentDecryptor::new(d, &stored[..HEADER_LEN]).unwrap();
    let mut out = Vec::new();
    for i in 0..dec.chunk_count() {
        let mut buf = chunk_of(stored, i as usize).to_vec();
        dec.open_next(&mut buf).unwrap();
        out.extend_from_slice(&buf);
    }
    assert!(dec.is_complete());
    out
}
