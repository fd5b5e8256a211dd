//! Hex, JSON and RNG helpers.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;

pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

pub fn h32(s: &str) -> [u8; 32] {
    h(s).try_into().expect("32 bytes")
}

/// A state blob of ours (version 3, §10.0) against a vector's: byte for byte when the vector
/// is of version 3. A vector of an older version (a test-vectors file written before state
/// version 3) is compared through its migration instead: the reference codec's reading of it
/// and the library's must both re-save as exactly our bytes.
pub fn assert_state(ours: &[u8], vector: &str, what: &str) {
    let v = h(vector);
    assert_eq!(ours[1], 0x03, "{what}: ours is not version 3");
    if v[1] == 0x03 {
        assert_eq!(hx(ours), vector, "{what}");
        return;
    }
    let (codec, library) = match v[0] {
        0x11 => (
            crate::common::state_codec::edit_store(&v, |_| {}),
            xchat_protocol::PreKeyStore::from_bytes(&v).map(|s| s.to_bytes().unwrap().to_vec()),
        ),
        _ => (
            crate::common::state_codec::edit_session(&v, |_| {}),
            xchat_protocol::Session::from_bytes(&v).map(|s| s.to_bytes().unwrap().to_vec()),
        ),
    };
    assert_eq!(
        hx(&codec),
        hx(ours),
        "{what} (vector of version {}, migrated)",
        v[1]
    );
    assert_eq!(
        library.map(|b| hx(&b)),
        Ok(hx(ours)),
        "{what} (library migration)"
    );
}

/// `assert_state` for an optional blob (a party that may have no session yet).
pub fn assert_state_opt(ours: Option<&[u8]>, vector: Option<&str>, what: &str) {
    match (ours, vector) {
        (None, None) => {}
        (Some(o), Some(v)) => assert_state(o, v, what),
        (o, v) => panic!("{what}: ours {:?}, vector {v:?}", o.map(hx)),
    }
}

pub fn hx(b: &[u8]) -> String {
    hex::encode(b)
}

pub fn load(name: &str) -> Value {
    let path = format!("{}/test-vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("vector file")).expect("json")
}

/// A string field.
pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("field {k:?} is not a string in {v}"))
}

/// A hex field.
pub fn hb(v: &Value, k: &str) -> Vec<u8> {
    h(s(v, k))
}

/// A u64 given as a decimal string.
pub fn u64d(v: &Value, k: &str) -> u64 {
    s(v, k).parse().expect("decimal u64")
}

/// A JSON number.
pub fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("field {k:?} is not a number in {v}"))
}

pub fn draws(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .expect("draw list")
        .iter()
        .map(|d| h(d.as_str().expect("hex draw")))
        .collect()
}

/// The RNG both implementations draw from. `script` returns exactly the recorded draws and
/// panics on any other request (README: "fails if the operation asks for more, fewer or
/// differently sized draws"); `stream` returns SHA-256(label ‖ counter) blocks, so two
/// instances with the same label give both implementations the same bytes.
pub struct Rng {
    script: Option<VecDeque<Vec<u8>>>,
    label: u64,
    counter: u64,
}

impl Rng {
    pub fn script(draws: Vec<Vec<u8>>) -> Self {
        Rng {
            script: Some(draws.into()),
            label: 0,
            counter: 0,
        }
    }

    pub fn stream(label: u64) -> Self {
        Rng {
            script: None,
            label,
            counter: 0,
        }
    }

    pub fn fill(&mut self, dst: &mut [u8]) {
        if let Some(script) = &mut self.script {
            let next = script
                .pop_front()
                .unwrap_or_else(|| panic!("unscripted draw of {} bytes", dst.len()));
            assert_eq!(next.len(), dst.len(), "draw of the wrong size");
            dst.copy_from_slice(&next);
            return;
        }
        for chunk in dst.chunks_mut(32) {
            let mut hasher = Sha256::new();
            hasher.update(self.label.to_be_bytes());
            hasher.update(self.counter.to_be_bytes());
            self.counter += 1;
            chunk.copy_from_slice(&hasher.finalize()[..chunk.len()]);
        }
    }

    pub fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }

    pub fn exhausted(&self) -> bool {
        self.script.as_ref().is_none_or(VecDeque::is_empty)
    }
}

impl rand_core::TryRng for Rng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::from_le_bytes(self.take()))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from_le_bytes(self.take()))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Rng {}

/// A tiny deterministic generator for choosing test actions.
pub struct Choice(pub u64);

impl Choice {
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
