//! §10.2/§10.3 blobs of state.json through the shared reference codec and the library: a
//! version-3 blob round trips byte for byte; an older one (version 1, or version 2 while
//! state.json predates state version 3) migrates to the same version-3 bytes in both.

use crate::dr::{Session, Store};
use crate::util::{assert_state, hb, hx, load, s};
use xchat_protocol as lib;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// An older blob migrates without the secrets version 3 no longer keeps; a version-1 entry's
/// `migrated` blob is what both give.
#[test]
fn state_blobs_decode_and_migrate() {
    let v = load("state.json");
    let mut seen = [0usize; 4];
    for e in v["entries"].as_array().expect("entries") {
        let bytes = hb(e, "bytes");
        let name = s(e, "name");
        let f = &e["fields"];
        match s(e, "object") {
            "session" => {
                let mine = Session::decode(&bytes).expect("session").encode();
                let theirs = lib::Session::from_bytes(&bytes).expect("library reads it");
                assert_eq!(hx(&mine), hx(&theirs.to_bytes().unwrap()), "{name}");
                assert_state(&mine, s(e, "bytes"), name);
                if let Some(dhs) = f["dhs_secret"].as_str().filter(|_| bytes[1] < 0x03) {
                    // A pending sending side's `DHs` secret is dropped (§10.3).
                    let kept = contains(&mine, &hb(f, "dhs_secret"));
                    assert_eq!(kept, !f["send"].is_null(), "{name}: DHs {dhs}");
                }
                let secret = crate::dr::Session::decode(&bytes)
                    .expect("session")
                    .to_blob()
                    .sending()
                    .map(|s| s.dhs.secret);
                if let Some(secret) = secret {
                    assert!(crate::prim::is_clamped(&secret), "{name}");
                }
                seen[0] += 1;
            }
            "session_v1" => {
                assert_eq!(bytes[1], 0x01, "{name}");
                let mine = Session::decode(&bytes).expect("v1 session").encode();
                let theirs = lib::Session::from_bytes(&bytes).expect("library reads v1");
                assert_eq!(hx(&theirs.to_bytes().unwrap()), hx(&mine), "{name}");
                assert_state(&mine, s(f, "migrated"), name);
                seen[1] += 1;
            }
            "prekey_store" => {
                let mine = Store::decode(&bytes).expect("store").encode();
                let theirs = lib::PreKeyStore::from_bytes(&bytes).expect("library reads it");
                assert_eq!(hx(&mine), hx(&theirs.to_bytes().unwrap()), "{name}");
                assert_state(&mine, s(e, "bytes"), name);
                seen[2] += 1;
            }
            "prekey_store_v1" => {
                assert_eq!(bytes[1], 0x01, "{name}");
                let mine = Store::decode(&bytes).expect("v1 store").encode();
                let theirs = lib::PreKeyStore::from_bytes(&bytes).expect("library reads v1");
                assert_eq!(hx(&mine), hx(&theirs.to_bytes().unwrap()), "{name}");
                assert_state(&mine, s(f, "migrated"), name);
                seen[3] += 1;
            }
            _ => {}
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
}
