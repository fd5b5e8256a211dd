//! An independent implementation of SPEC.md §8 (content frame) and §9 (sealed sender), written
//! from SPEC.md and test-vectors/README.md alone, on the raw primitive crates (x25519-dalek,
//! ed25519-dalek, curve25519-dalek, hkdf, hmac, sha2, aes-gcm). Every label, KDF call, encoder and
//! decoder below is typed from the specification; nothing from `xchat_protocol` is used to compute.
//!
//! To reproduce the session messages that the content frames and envelopes travel in, the file
//! also carries a compact Double Ratchet / X3DH / state-blob implementation (§3–§10), again from
//! SPEC.md only.
//!
//! The library is used only as the *other side*: it decodes what this implementation encodes, its
//! outputs are decoded here, and the two are run side by side on the same inputs (same RNG draws)
//! and must agree on every byte, value and error.
//!
//! Where SPEC.md left a choice open, the code says `GUESS (§x)`; the differential tests against the
//! library decide each one.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod common;

/// Hex, JSON and RNG helpers.
mod util {
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
                super::common::state_codec::edit_store(&v, |_| {}),
                xchat_protocol::PreKeyStore::from_bytes(&v).map(|s| s.to_bytes().unwrap().to_vec()),
            ),
            _ => (
                super::common::state_codec::edit_session(&v, |_| {}),
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
}

/// The primitives (§1), wrapped so that the rest reads like the specification.
mod prim {
    use aes_gcm::Aes256Gcm;
    use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::montgomery::MontgomeryPoint;
    use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
    use hkdf::Hkdf;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256, Sha512};

    /// `HKDF(salt, ikm, info, L)`: HKDF-SHA-256 extract-then-expand.
    pub fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
        let mut okm = vec![0u8; len];
        Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand(info, &mut okm)
            .expect("HKDF length");
        okm
    }

    pub fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
        mac.update(msg);
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    pub fn sha256(msg: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&Sha256::digest(msg));
        out
    }

    fn gcm(key: &[u8], nonce: &[u8; 12]) -> (Aes256Gcm, Nonce<Aes256Gcm>) {
        let cipher = Aes256Gcm::new_from_slice(key).expect("32-byte key");
        let mut n = Nonce::<Aes256Gcm>::default();
        n.copy_from_slice(nonce);
        (cipher, n)
    }

    /// AES-256-GCM seal: `ciphertext ‖ tag`.
    pub fn aead_seal(key: &[u8], nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> Vec<u8> {
        let (cipher, n) = gcm(key, nonce);
        let mut buf = pt.to_vec();
        let tag = cipher
            .encrypt_inout_detached(&n, aad, buf.as_mut_slice().into())
            .expect("seal");
        buf.extend_from_slice(&tag);
        buf
    }

    /// AES-256-GCM open; `None` if the tag does not verify.
    pub fn aead_open(key: &[u8], nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
        let split = ct.len().checked_sub(16)?;
        let (body, tag_bytes) = ct.split_at(split);
        let (cipher, n) = gcm(key, nonce);
        let mut tag = Tag::<Aes256Gcm>::default();
        tag.copy_from_slice(tag_bytes);
        let mut buf = body.to_vec();
        cipher
            .decrypt_inout_detached(&n, aad, buf.as_mut_slice().into(), &tag)
            .ok()?;
        Some(buf)
    }

    pub const BASEPOINT: [u8; 32] = {
        let mut b = [0u8; 32];
        b[0] = 9;
        b
    };

    pub fn x25519(k: &[u8; 32], u: &[u8; 32]) -> [u8; 32] {
        x25519_dalek::x25519(*k, *u)
    }

    pub fn x25519_public(k: &[u8; 32]) -> [u8; 32] {
        x25519(k, &BASEPOINT)
    }

    /// RFC 7748 §5 clamping: X25519 secrets are held and stored in this form (§10.0).
    pub fn clamp(mut k: [u8; 32]) -> [u8; 32] {
        k[0] &= 0xf8;
        k[31] &= 0x7f;
        k[31] |= 0x40;
        k
    }

    pub fn is_clamped(k: &[u8; 32]) -> bool {
        clamp(*k) == *k
    }

    /// `DH(a, B)`, `None` for the all-zero output (§4.4).
    pub fn dh(k: &[u8; 32], u: &[u8; 32]) -> Option<[u8; 32]> {
        let out = x25519(k, u);
        (out != [0u8; 32]).then_some(out)
    }

    /// §2 rule 3, as the byte test the rule spells out.
    pub fn x25519_canonical(b: &[u8; 32]) -> bool {
        if b[31] >= 0x80 {
            return false;
        }
        !(b[31] == 0x7f && b[1..31].iter().all(|&x| x == 0xff) && b[0] >= 0xed)
    }

    /// §2 rule 4: decompresses, re-compresses to the same bytes, not of small order, in the
    /// prime-order subgroup.
    pub fn ed25519_canonical(b: &[u8; 32]) -> bool {
        match CompressedEdwardsY(*b).decompress() {
            Some(p) => p.compress().0 == *b && !p.is_small_order() && p.is_torsion_free(),
            None => false,
        }
    }

    /// §4.4 step 4: an X25519 key on the curve (not the twist) in the prime-order subgroup.
    pub fn x25519_in_prime_subgroup(u: &[u8; 32]) -> bool {
        MontgomeryPoint(*u)
            .to_edwards(0)
            .is_some_and(|p| p.is_torsion_free())
    }

    /// §4.1: the X25519 form of an Ed25519 identity (birational map).
    pub fn ed_to_x(b: &[u8; 32]) -> [u8; 32] {
        CompressedEdwardsY(*b)
            .decompress()
            .expect("a parsed identity")
            .to_montgomery()
            .to_bytes()
    }

    pub fn ed_public(seed: &[u8; 32]) -> [u8; 32] {
        SigningKey::from_bytes(seed).verifying_key().to_bytes()
    }

    pub fn ed_sign(seed: &[u8; 32], msg: &[u8]) -> [u8; 64] {
        SigningKey::from_bytes(seed).sign(msg).to_bytes()
    }

    /// `verify_strict` (§4.2).
    pub fn verify_strict(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        let Ok(vk) = VerifyingKey::from_bytes(key) else {
            return false;
        };
        vk.verify_strict(msg, &Signature::from_bytes(sig)).is_ok()
    }

    /// An identity (§4.1): Ed25519 seed, public key and both X25519 forms.
    #[derive(Clone, Debug)]
    pub struct Identity {
        pub seed: [u8; 32],
        pub public: [u8; 32],
        pub x_secret: [u8; 32],
        pub x_public: [u8; 32],
    }

    impl Identity {
        pub fn from_seed(seed: [u8; 32]) -> Self {
            let public = ed_public(&seed);
            let mut x_secret = [0u8; 32];
            x_secret.copy_from_slice(&Sha512::digest(seed)[..32]);
            let x_public = ed_to_x(&public);
            assert_eq!(x_public, x25519_public(&x_secret), "§4.1 birational map");
            Identity {
                seed,
                public,
                x_secret,
                x_public,
            }
        }
    }
}

/// §2: the decode errors and a strict reader.
mod codec {
    use super::prim;

    /// §11.1, spelled as the library's `Debug` prints it so errors compare as strings.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum DecodeError {
        Truncated,
        TrailingBytes,
        UnknownVersion(u8),
        UnknownType(u8),
        NonCanonical,
        InvalidKey,
        TooLarge,
        ChecksumMismatch,
    }

    use DecodeError::{InvalidKey, NonCanonical, TrailingBytes, Truncated};

    pub struct Reader<'a> {
        buf: &'a [u8],
        pos: usize,
    }

    impl<'a> Reader<'a> {
        pub fn new(buf: &'a [u8]) -> Self {
            Reader { buf, pos: 0 }
        }

        pub fn pos(&self) -> usize {
            self.pos
        }

        pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
            let end = self.pos.checked_add(n).ok_or(Truncated)?;
            let out = self.buf.get(self.pos..end).ok_or(Truncated)?;
            self.pos = end;
            Ok(out)
        }

        pub fn arr<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
            Ok(self.take(N)?.try_into().expect("N bytes"))
        }

        pub fn u8(&mut self) -> Result<u8, DecodeError> {
            Ok(self.take(1)?[0])
        }

        pub fn u16(&mut self) -> Result<u16, DecodeError> {
            Ok(u16::from_be_bytes(self.arr()?))
        }

        pub fn u32(&mut self) -> Result<u32, DecodeError> {
            Ok(u32::from_be_bytes(self.arr()?))
        }

        pub fn u64(&mut self) -> Result<u64, DecodeError> {
            Ok(u64::from_be_bytes(self.arr()?))
        }

        /// §2 rule 2.
        pub fn flag(&mut self) -> Result<bool, DecodeError> {
            match self.u8()? {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(NonCanonical),
            }
        }

        /// §2 rule 3.
        pub fn x25519_key(&mut self) -> Result<[u8; 32], DecodeError> {
            let k = self.arr()?;
            if prim::x25519_canonical(&k) {
                Ok(k)
            } else {
                Err(InvalidKey)
            }
        }

        /// §2 rule 4.
        pub fn ed25519_key(&mut self) -> Result<[u8; 32], DecodeError> {
            let k = self.arr()?;
            if prim::ed25519_canonical(&k) {
                Ok(k)
            } else {
                Err(InvalidKey)
            }
        }

        pub fn rest(&mut self) -> &'a [u8] {
            let out = &self.buf[self.pos..];
            self.pos = self.buf.len();
            out
        }

        /// §2 rule 5.
        pub fn finish(self) -> Result<(), DecodeError> {
            if self.pos == self.buf.len() {
                Ok(())
            } else {
                Err(TrailingBytes)
            }
        }
    }
}

/// §8: the content frame, Padmé, timers and deadlines.
mod frame {
    use super::codec::DecodeError::{self, NonCanonical, TooLarge, UnknownType, UnknownVersion};
    use super::codec::Reader;

    pub const CONTENT_VERSION: u8 = 0x01;
    pub const HEADER_LEN: usize = 23;
    pub const MIN_PADDED_LEN: usize = 256;
    /// "A frame whose padded length exceeds 2^20 cannot be sent".
    pub const MAX_FRAME_LEN: usize = 1 << 20;
    pub const MAX_CLOCK_SKEW_MS: u64 = 300_000;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Start {
        OnSend,
        OnRead,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Timer {
        pub duration_s: u32,
        pub start: Start,
        pub version: u32,
    }

    impl Timer {
        /// §8.1: a new session's timer.
        pub const OFF: Timer = Timer {
            duration_s: 0,
            start: Start::OnSend,
            version: 0,
        };

        /// §8.1: "a timer with duration_s = 0 MUST have start 0x00".
        pub fn is_canonical(&self) -> bool {
            !(self.duration_s == 0 && self.start == Start::OnRead)
        }

        /// `duration_s u32 ‖ start u8 ‖ version u32` (§8.2 offsets 10..19, §10.3 field 10a).
        pub fn encode(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.duration_s.to_be_bytes());
            out.push(match self.start {
                Start::OnSend => 0x00,
                Start::OnRead => 0x01,
            });
            out.extend_from_slice(&self.version.to_be_bytes());
        }

        /// GUESS (§8.1/§8.2): the "off must be on-send" rule is `NonCanonical` and is checked
        /// once the whole timer (including its version) has been read.
        pub fn read(r: &mut Reader<'_>) -> Result<Timer, DecodeError> {
            let duration_s = r.u32()?;
            let start = match r.u8()? {
                0x00 => Start::OnSend,
                0x01 => Start::OnRead,
                _ => return Err(NonCanonical),
            };
            let version = r.u32()?;
            let t = Timer {
                duration_s,
                start,
                version,
            };
            if t.is_canonical() {
                Ok(t)
            } else {
                Err(NonCanonical)
            }
        }

        /// §8.4: `rank = (duration_s = 0 ? 2^32 : duration_s, start)`.
        pub fn rank(&self) -> (u64, u8) {
            let d = if self.duration_s == 0 {
                1u64 << 32
            } else {
                u64::from(self.duration_s)
            };
            (
                d,
                match self.start {
                    Start::OnSend => 0,
                    Start::OnRead => 1,
                },
            )
        }

        /// §8.4.
        pub fn supersedes(&self, current: &Timer) -> bool {
            self.version > current.version
                || (self.version == current.version && self.rank() < current.rank())
        }

        /// §8.5: the effective timer is the one of lower rank. GUESS: on equal rank (same
        /// duration and start, so the same deadline) `a` is returned.
        pub fn more_private(a: &Timer, b: &Timer) -> Timer {
            if b.rank() < a.rank() { *b } else { *a }
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Kind {
        Message,
        TimerUpdate,
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Frame {
        pub kind: Kind,
        pub sent_at_ms: u64,
        pub timer: Timer,
        pub body: Vec<u8>,
    }

    /// Padmé (Nikitin et al.): for `L ≥ 2`, `E = ⌊log2 L⌋`, `S = ⌊log2 E⌋ + 1`, round `L` up to a
    /// multiple of `2^(E−S)`.
    pub fn padme(len: u64) -> u64 {
        if len < 2 {
            return len;
        }
        let e = 63 - u64::from(len.leading_zeros());
        let s = 63 - u64::from(e.leading_zeros()) + 1;
        let unit = 1u64 << (e - s);
        len.div_ceil(unit) * unit
    }

    /// `pad(L) = max(256, padme(L))`.
    pub fn pad(len: usize) -> usize {
        (padme(len as u64) as usize).max(MIN_PADDED_LEN)
    }

    /// Encoding. GUESS (§8.1, §8.2): an off timer saying on-read and a timer update with a body
    /// are refused with `NonCanonical` (what decoding would say); a padded frame over 2^20 bytes
    /// is `TooLarge`, checked after those two.
    pub fn encode(f: &Frame) -> Result<Vec<u8>, DecodeError> {
        if !f.timer.is_canonical() {
            return Err(NonCanonical);
        }
        if f.kind == Kind::TimerUpdate && !f.body.is_empty() {
            return Err(NonCanonical);
        }
        let padded = pad(HEADER_LEN + f.body.len());
        if padded > MAX_FRAME_LEN {
            return Err(TooLarge);
        }
        let mut out = Vec::with_capacity(padded);
        out.push(CONTENT_VERSION);
        out.push(match f.kind {
            Kind::Message => 0x01,
            Kind::TimerUpdate => 0x02,
        });
        out.extend_from_slice(&f.sent_at_ms.to_be_bytes());
        f.timer.encode(&mut out);
        out.extend_from_slice(&(f.body.len() as u32).to_be_bytes());
        out.extend_from_slice(&f.body);
        out.resize(padded, 0);
        Ok(out)
    }

    /// Strict decoding (§8.2): a frame longer than 2^20 bytes is `TooLarge` before anything is
    /// read; then the fields in order (§2 rule 7); then a timer update's non-empty body, the
    /// padded length and the zero padding, each `NonCanonical`.
    pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
        if bytes.len() > MAX_FRAME_LEN {
            return Err(TooLarge);
        }
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != CONTENT_VERSION {
            return Err(UnknownVersion(version));
        }
        let kind = match r.u8()? {
            0x01 => Kind::Message,
            0x02 => Kind::TimerUpdate,
            t => return Err(UnknownType(t)),
        };
        let sent_at_ms = r.u64()?;
        let timer = Timer::read(&mut r)?;
        let b = r.u32()? as usize;
        let body = r.take(b)?.to_vec();
        if kind == Kind::TimerUpdate && !body.is_empty() {
            return Err(NonCanonical);
        }
        let padding = r.rest();
        if bytes.len() != pad(HEADER_LEN + b) || padding.iter().any(|&x| x != 0) {
            return Err(NonCanonical);
        }
        Ok(Frame {
            kind,
            sent_at_ms,
            timer,
            body,
        })
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Deadline {
        Never,
        At(u64),
        AfterRead(u64),
    }

    /// §8.5 for the given (effective) timer; `None` = rejected as expired on arrival.
    pub fn deadline(sent_at_ms: u64, timer: &Timer, now_ms: u64) -> Option<Deadline> {
        if timer.duration_s == 0 {
            return Some(Deadline::Never);
        }
        let duration_ms = u64::from(timer.duration_s) * 1000;
        match timer.start {
            Start::OnRead => Some(Deadline::AfterRead(duration_ms)),
            Start::OnSend => {
                let sent = sent_at_ms.min(now_ms.saturating_add(MAX_CLOCK_SKEW_MS));
                let delete_at = sent.saturating_add(duration_ms);
                if now_ms > delete_at.saturating_add(MAX_CLOCK_SKEW_MS) {
                    None
                } else {
                    Some(Deadline::At(delete_at))
                }
            }
        }
    }

    /// GUESS (§8.5 names `Deadline::after_read` but defines it only for on-read): `AfterRead(d)`
    /// becomes `At(read_at + d)` (saturating); `Never` and `At` are returned unchanged.
    pub fn after_read(d: Deadline, read_at_ms: u64) -> Deadline {
        match d {
            Deadline::AfterRead(ms) => Deadline::At(read_at_ms.saturating_add(ms)),
            other => other,
        }
    }

    /// §8.6: whether `purge(now)` deletes a key skipped at `skipped_at_ms`, under `current`,
    /// the session's timer at the time of the purge (on-send or on-read alike): `C.duration_s > 0`
    /// and `skipped_at ≠ 2^64 − 1` and `now > skipped_at + C.duration_s · 1000 + 2 · skew`, all
    /// additions saturating.
    pub fn purgeable(skipped_at_ms: u64, current: &Timer, now_ms: u64) -> bool {
        current.duration_s > 0
            && skipped_at_ms != u64::MAX
            && now_ms
                > skipped_at_ms
                    .saturating_add(u64::from(current.duration_s) * 1000)
                    .saturating_add(2 * MAX_CLOCK_SKEW_MS)
    }
}

/// §3–§10 in the compact form needed to carry frames: X3DH, the Double Ratchet (in the phases of
/// §6.1), sessions with `send`/`set_timer`/`receive`/`accept`/`purge`, and the §10.2/§10.3 blobs
/// through the shared reference codec (`tests/common/state_codec.rs`).
mod dr {
    use super::codec::DecodeError::{
        self, ChecksumMismatch, NonCanonical, Truncated, UnknownType, UnknownVersion,
    };
    use super::codec::Reader;
    use super::common::state_codec::{
        self as sc, KeyPair, Open, Phase, Ratchet, Sending, SessionBlob, Skipped, StoreBlob,
    };
    use super::frame::{self, Deadline, Frame, Kind, Start, Timer};
    use super::prim::{self, Identity};
    use super::util::Rng;

    pub const LABEL_X3DH: &[u8] = b"xchat-protocol v1 X3DH";
    pub const LABEL_ROOT: &[u8] = b"xchat-protocol v1 root chain";
    pub const LABEL_MESSAGE: &[u8] = b"xchat-protocol v1 message key";
    pub const LABEL_SIGNED_PREKEY: &[u8] = b"xchat-protocol v1 signed prekey";
    pub const LABEL_FIRST_MESSAGE: &[u8] = b"xchat-protocol v1 first message";
    pub const MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY: usize = 4096;
    pub const MAX_PLAINTEXT_LEN: usize = 1 << 20;
    pub const MAX_CONTEXT_LEN: usize = 1024;

    /// §11.2, spelled as the library's `Debug` prints it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Error {
        Decode(DecodeError),
        InvalidSignature,
        NonContributory,
        UnknownSignedPreKey(u32),
        UnknownOneTimePreKey(u32),
        DuplicateMessage,
        TooFarInFuture,
        DecryptionFailed,
        SessionMismatch,
        ChainExhausted,
        TooLarge,
        NotPreKeyMessage,
        Expired,
        InvalidContent(DecodeError),
        SignedPreKeyFull(u32),
        TimerVersionExhausted,
    }

    impl From<DecodeError> for Error {
        fn from(e: DecodeError) -> Self {
            Error::Decode(e)
        }
    }

    /// §3.2.
    pub fn kdf_rk(rk: &[u8; 32], dh_out: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
        let okm = prim::hkdf(rk, dh_out, LABEL_ROOT, 64);
        (
            okm[..32].try_into().expect("32"),
            okm[32..].try_into().expect("32"),
        )
    }

    /// §3.3: `(MK, CK')`.
    pub fn kdf_ck(ck: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
        (prim::hmac(ck, &[0x01]), prim::hmac(ck, &[0x02]))
    }

    /// §3.4: `(key, nonce)`.
    pub fn expand(mk: &[u8; 32], seed: &[u8; 16]) -> ([u8; 32], [u8; 12]) {
        let okm = prim::hkdf(seed, mk, LABEL_MESSAGE, 44);
        (
            okm[..32].try_into().expect("32"),
            okm[32..].try_into().expect("12"),
        )
    }

    /// §3.6: `HKDF(salt = 32 zero bytes, IKM = DH3, info = LABEL_FIRST_MESSAGE)[0..16]`.
    pub fn first_message_id(dh3: &[u8; 32]) -> [u8; 16] {
        prim::hkdf(&[0u8; 32], dh3, LABEL_FIRST_MESSAGE, 16)
            .try_into()
            .expect("16")
    }

    /// §3.1.
    pub fn x3dh_sk(dhs: &[[u8; 32]]) -> [u8; 32] {
        let mut ikm = vec![0xffu8; 32];
        for d in dhs {
            ikm.extend_from_slice(d);
        }
        prim::hkdf(&[0u8; 32], &ikm, LABEL_X3DH, 32)
            .try_into()
            .expect("32")
    }

    // ----- §5 wire formats -----

    #[derive(Clone, Debug)]
    pub struct Normal {
        pub key: [u8; 32],
        pub pn: u32,
        pub n: u32,
        pub seed: [u8; 16],
        /// §3.5: every byte of the message before its ciphertext (the prekey fields, if any,
        /// then the 58-byte prefix).
        pub header: Vec<u8>,
        pub ct: Vec<u8>,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PreKeyFields {
        pub ik_a: [u8; 32],
        pub base: [u8; 32],
        pub spk_id: u32,
        pub opk_id: Option<u32>,
    }

    impl PreKeyFields {
        pub fn encode(&self) -> Vec<u8> {
            let mut out = vec![0x01, 0x02];
            out.extend_from_slice(&self.ik_a);
            out.extend_from_slice(&self.base);
            out.extend_from_slice(&self.spk_id.to_be_bytes());
            match self.opk_id {
                None => out.push(0),
                Some(id) => {
                    out.push(1);
                    out.extend_from_slice(&id.to_be_bytes());
                }
            }
            out
        }
    }

    pub enum Incoming {
        Normal(Normal),
        PreKey(PreKeyFields, Normal),
    }

    /// §5.4, steps 1–11 in order.
    pub fn decode_message(b: &[u8]) -> Result<Incoming, DecodeError> {
        let first = *b.first().ok_or(Truncated)?;
        if first != 0x01 {
            return Err(UnknownVersion(first));
        }
        let t = *b.get(1).ok_or(Truncated)?;
        if t != 0x01 && t != 0x02 {
            return Err(UnknownType(t));
        }
        let (fields, start) = if t == 0x02 {
            let mut r = Reader::new(&b[2..]);
            let ik_a = r.ed25519_key()?;
            let base = r.x25519_key()?;
            let spk_id = r.u32()?;
            let opk_id = if r.flag()? { Some(r.u32()?) } else { None };
            (
                Some(PreKeyFields {
                    ik_a,
                    base,
                    spk_id,
                    opk_id,
                }),
                2 + r.pos(),
            )
        } else {
            (None, 0)
        };
        let m = &b[start..];
        if m.len() < 58 {
            return Err(Truncated);
        }
        if m[0] != 0x01 {
            return Err(UnknownVersion(m[0]));
        }
        if m[1] != 0x01 {
            return Err(UnknownType(m[1]));
        }
        let mut r = Reader::new(&m[2..]);
        let key = r.x25519_key()?;
        let pn = r.u32()?;
        let n = r.u32()?;
        let seed = r.arr()?;
        let ct = r.rest();
        if ct.len() < 16 {
            return Err(Truncated);
        }
        if ct.len() > MAX_PLAINTEXT_LEN + 16 {
            return Err(DecodeError::TooLarge);
        }
        let normal = Normal {
            key,
            pn,
            n,
            seed,
            header: b[..start + 58].to_vec(),
            ct: ct.to_vec(),
        };
        Ok(match fields {
            Some(f) => Incoming::PreKey(f, normal),
            None => Incoming::Normal(normal),
        })
    }

    /// §5.1 (decoded only as far as the flows need).
    pub struct Bundle {
        pub ik_b: [u8; 32],
        pub spk_id: u32,
        pub created_at: u64,
        pub spk: [u8; 32],
        pub signature: [u8; 64],
        pub opk: Option<(u32, [u8; 32])>,
    }

    impl Bundle {
        pub fn decode(b: &[u8]) -> Result<Bundle, DecodeError> {
            let mut r = Reader::new(b);
            let v = r.u8()?;
            if v != 0x01 {
                return Err(UnknownVersion(v));
            }
            let ik_b = r.ed25519_key()?;
            let spk_id = r.u32()?;
            let created_at = r.u64()?;
            let spk = r.x25519_key()?;
            let signature = r.arr()?;
            let opk = if r.flag()? {
                Some((r.u32()?, r.x25519_key()?))
            } else {
                None
            };
            r.finish()?;
            Ok(Bundle {
                ik_b,
                spk_id,
                created_at,
                spk,
                signature,
                opk,
            })
        }

        /// §4.2.
        pub fn signed_bytes(id: u32, created_at: u64, spk: &[u8; 32]) -> Vec<u8> {
            let mut out = LABEL_SIGNED_PREKEY.to_vec();
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&created_at.to_be_bytes());
            out.extend_from_slice(spk);
            out
        }
    }

    // ----- §10 state: the reference codec of tests/common/state_codec.rs -----

    /// A codec error as this file's `DecodeError` (the same names, §11.1).
    pub fn from_codec(e: sc::DecodeError) -> DecodeError {
        match e {
            sc::DecodeError::Truncated => Truncated,
            sc::DecodeError::TrailingBytes => DecodeError::TrailingBytes,
            sc::DecodeError::UnknownVersion(v) => UnknownVersion(v),
            sc::DecodeError::UnknownType(t) => UnknownType(t),
            sc::DecodeError::NonCanonical => NonCanonical,
            sc::DecodeError::InvalidKey => DecodeError::InvalidKey,
            sc::DecodeError::ChecksumMismatch => ChecksumMismatch,
        }
    }

    /// §4.3 prekey store; its state is the codec's plain data (§10.2), `Deref` gives the fields.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Store(pub StoreBlob);

    impl std::ops::Deref for Store {
        type Target = StoreBlob;
        fn deref(&self) -> &StoreBlob {
            &self.0
        }
    }

    impl std::ops::DerefMut for Store {
        fn deref_mut(&mut self) -> &mut StoreBlob {
            &mut self.0
        }
    }

    impl Store {
        /// §10.2, any version read (an older one migrated: §10.0 clamping, version 1's seen base
        /// keys recorded under every held signed prekey).
        pub fn decode(blob: &[u8]) -> Result<Store, DecodeError> {
            StoreBlob::decode(blob)
                .map(|(_, s)| Store(s))
                .map_err(from_codec)
        }

        /// §10.2 version 3.
        pub fn encode(&self) -> Vec<u8> {
            self.0.encode_v3()
        }

        /// §5.1 bundle of the current (newest) signed prekey, with the public keys as held
        /// (as stored, §10.0).
        pub fn bundle(&self, identity: &Identity, opk: Option<u32>) -> Vec<u8> {
            let spk = self.signed.last().expect("a signed prekey");
            let mut out = vec![0x01];
            out.extend_from_slice(&identity.public);
            out.extend_from_slice(&spk.id.to_be_bytes());
            out.extend_from_slice(&spk.created_at.to_be_bytes());
            out.extend_from_slice(&spk.key.public);
            out.extend_from_slice(&spk.signature);
            match opk {
                None => out.push(0),
                Some(id) => {
                    let k = self.one_time.iter().find(|k| k.id == id).expect("held");
                    out.push(1);
                    out.extend_from_slice(&id.to_be_bytes());
                    out.extend_from_slice(&k.key.public);
                }
            }
            out
        }
    }

    // ----- §6 ratchet and §7 session state -----

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Limits {
        pub max_skip: u32,
        pub max_skipped_keys: u32,
        pub max_old_chains: u32,
        pub max_skipped_key_age: u32,
    }

    pub const DEFAULT_LIMITS: Limits = Limits {
        max_skip: 2000,
        max_skipped_keys: 2000,
        max_old_chains: 5,
        max_skipped_key_age: 10000,
    };

    impl Limits {
        /// The §10.3 row 10 order.
        pub fn to_array(self) -> [u32; 4] {
            [
                self.max_skip,
                self.max_skipped_keys,
                self.max_old_chains,
                self.max_skipped_key_age,
            ]
        }
        pub fn from_array(l: [u32; 4]) -> Limits {
            Limits {
                max_skip: l[0],
                max_skipped_keys: l[1],
                max_old_chains: l[2],
                max_skipped_key_age: l[3],
            }
        }
    }

    /// §7 session. The ratchet is in one of the two phases of §6.1 (`sc::Ratchet`): `Opening`,
    /// an initiator that has received nothing (its first sending chain only, no `DHr`), or
    /// `Open` (a receiving chain, a sending chain or none while the half-step is pending: no
    /// ratchet secret held then).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Session {
        pub phase: Phase,
        pub local: [u8; 32],
        pub remote: [u8; 32],
        pub context: Vec<u8>,
        pub base: [u8; 32],
        pub spk_id: u32,
        pub opk_id: Option<u32>,
        pub limits: Limits,
        pub timer: Timer,
        pub rk: [u8; 32],
        pub ratchet: Ratchet,
    }

    /// A framed message as `receive` returns it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Received {
        pub kind: Kind,
        pub body: Vec<u8>,
        pub sent_at_ms: u64,
        pub timer: Timer,
        pub deadline: Deadline,
        pub timer_changed: bool,
    }

    /// §6.4 Count: append (stamped `received + 1`), then drop from the front beyond the cap.
    fn store_skipped(o: &mut Open, limits: &Limits, key: [u8; 32], n: u32, mk: [u8; 32], at: u64) {
        o.skipped.push(Skipped {
            key,
            n,
            stamp: o.received.wrapping_add(1),
            skipped_at: at,
            mk,
        });
        while o.skipped.len() > limits.max_skipped_keys as usize {
            o.skipped.remove(0);
        }
    }

    /// §6.4 Age.
    fn count_decrypt(o: &mut Open, limits: &Limits) {
        o.received = o.received.wrapping_add(1);
        while o
            .skipped
            .first()
            .is_some_and(|e| o.received.wrapping_sub(e.stamp) > limits.max_skipped_key_age)
        {
            o.skipped.remove(0);
        }
    }

    /// §6.5 D3–D8: the receiving step under the new ratchet key `m.key` from `prior` (`None`
    /// in the opening phase, or for a responder's first message whose `DHs` is the signed prekey,
    /// §6.2), with `(DHs secret, Ns)` of the sending side. Returns `RK'`, the new open state
    /// (sending side pending) and the plaintext.
    fn receiving_step(
        rk: &[u8; 32],
        limits: &Limits,
        prior: Option<&Open>,
        (dhs, ns): ([u8; 32], u32),
        m: &Normal,
        aad: &[u8],
        skipped_at: u64,
    ) -> Result<([u8; 32], Open, Vec<u8>), Error> {
        let old_gap = prior.map_or(0, |o| m.pn.saturating_sub(o.nr));
        if u64::from(old_gap) + u64::from(m.n) > u64::from(limits.max_skip) {
            return Err(Error::TooFarInFuture);
        }
        let old_keys = match prior {
            Some(o) if m.pn > o.nr => derive(o.ckr, o.nr, m.pn).0,
            _ => Vec::new(),
        };
        let out = prim::dh(&dhs, &m.key).ok_or(Error::NonContributory)?;
        let (rk, ck0) = kdf_rk(rk, &out);
        let (new_keys, mk, ck) = derive(ck0, 0, m.n);
        let (key, nonce) = expand(&mk, &m.seed);
        let pt = prim::aead_open(&key, &nonce, aad, &m.ct).ok_or(Error::DecryptionFailed)?;
        let mut o = prior.cloned().unwrap_or_default();
        if let Some(p) = prior {
            for (i, k) in old_keys {
                store_skipped(&mut o, limits, p.dhr, i, k, skipped_at);
            }
            o.old.push(p.dhr);
            while o.old.len() > limits.max_old_chains as usize {
                let gone = o.old.remove(0);
                o.skipped.retain(|e| e.key != gone);
            }
        }
        for (i, k) in new_keys {
            store_skipped(&mut o, limits, m.key, i, k, skipped_at);
        }
        (o.dhr, o.ckr, o.nr) = (m.key, ck, m.n + 1);
        o.pn = ns;
        o.send = None;
        count_decrypt(&mut o, limits);
        Ok((rk, o, pt))
    }

    impl Session {
        pub fn responder(&self) -> bool {
            self.phase == Phase::Responder
        }

        /// §3.5.
        pub fn ad(&self) -> Vec<u8> {
            let (a, b) = if self.responder() {
                (self.remote, self.local)
            } else {
                (self.local, self.remote)
            };
            let mut out = a.to_vec();
            out.extend_from_slice(&b);
            out.extend_from_slice(&(self.context.len() as u16).to_be_bytes());
            out.extend_from_slice(&self.context);
            out
        }

        pub fn x3dh_fields(&self) -> PreKeyFields {
            PreKeyFields {
                ik_a: if self.responder() {
                    self.remote
                } else {
                    self.local
                },
                base: self.base,
                spk_id: self.spk_id,
                opk_id: self.opk_id,
            }
        }

        /// The stored skipped keys (none in the opening phase).
        pub fn skipped(&self) -> &[Skipped] {
            match &self.ratchet {
                Ratchet::Open(o) => &o.skipped,
                Ratchet::Opening(_) => &[],
            }
        }

        /// The session as the codec's plain data (§10.3).
        pub fn to_blob(&self) -> SessionBlob {
            SessionBlob {
                phase: self.phase,
                local: self.local,
                remote: self.remote,
                context: self.context.clone(),
                base: self.base,
                spk_id: self.spk_id,
                opk_id: self.opk_id,
                timer: sc::Timer {
                    duration_s: self.timer.duration_s,
                    start: u8::from(self.timer.start == Start::OnRead),
                    version: self.timer.version,
                },
                limits: self.limits.to_array(),
                rk: self.rk,
                ratchet: self.ratchet.clone(),
            }
        }

        /// §10.3 version 3, through the codec.
        pub fn encode(&self) -> Vec<u8> {
            self.to_blob().encode_v3()
        }

        /// §10.3 through the codec: any version read (an older one migrated: §10.0 clamping,
        /// version 1's deadlines turned into skip times, version 2's pending `DHs` secret and an
        /// opening initiator's `DHr` dropped).
        pub fn decode(blob: &[u8]) -> Result<Session, DecodeError> {
            let (_, s) = SessionBlob::decode(blob).map_err(from_codec)?;
            let start = if s.timer.start == 0 {
                Start::OnSend
            } else {
                Start::OnRead
            };
            Ok(Session {
                phase: s.phase,
                local: s.local,
                remote: s.remote,
                context: s.context,
                base: s.base,
                spk_id: s.spk_id,
                opk_id: s.opk_id,
                limits: Limits::from_array(s.limits),
                timer: Timer {
                    duration_s: s.timer.duration_s,
                    start,
                    version: s.timer.version,
                },
                rk: s.rk,
                ratchet: s.ratchet,
            })
        }

        /// §7.2 + §4.4 + §6.2: X3DH as initiator; the opening phase keeps no `DHr`.
        pub fn initiate(
            rng: &mut Rng,
            identity: &Identity,
            bundle: &[u8],
            context: &[u8],
        ) -> Result<Session, Error> {
            let b = Bundle::decode(bundle)?;
            if context.len() > MAX_CONTEXT_LEN {
                return Err(Error::TooLarge);
            }
            let signed = Bundle::signed_bytes(b.spk_id, b.created_at, &b.spk);
            if !prim::verify_strict(&b.ik_b, &signed, &b.signature) {
                return Err(Error::InvalidSignature);
            }
            // §10.0: key generation clamps the 32 bytes drawn.
            let ek = prim::clamp(rng.take());
            let nc = Error::NonContributory;
            let mut dhs = vec![
                prim::dh(&identity.x_secret, &b.spk).ok_or(nc)?,
                prim::dh(&ek, &prim::ed_to_x(&b.ik_b)).ok_or(nc)?,
                prim::dh(&ek, &b.spk).ok_or(nc)?,
            ];
            if let Some((_, opk)) = b.opk {
                dhs.push(prim::dh(&ek, &opk).ok_or(nc)?);
                if !prim::x25519_in_prime_subgroup(&opk) {
                    return Err(Error::Decode(DecodeError::InvalidKey));
                }
            }
            let sk = x3dh_sk(&dhs);
            let secret = prim::clamp(rng.take());
            let (rk, ck) = kdf_rk(&sk, &prim::dh(&secret, &b.spk).ok_or(nc)?);
            let dhs = KeyPair {
                secret,
                public: prim::x25519_public(&secret),
            };
            Ok(Session {
                phase: Phase::AwaitingReply,
                local: identity.public,
                remote: b.ik_b,
                context: context.to_vec(),
                base: prim::x25519_public(&ek),
                spk_id: b.spk_id,
                opk_id: b.opk.map(|(id, _)| id),
                limits: DEFAULT_LIMITS,
                timer: Timer::OFF,
                rk,
                ratchet: Ratchet::Opening(Sending { dhs, ck, n: 0 }),
            })
        }

        /// §6.3 + §7.2.
        pub fn encrypt(&mut self, rng: &mut Rng, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
            if plaintext.len() > MAX_PLAINTEXT_LEN {
                return Err(Error::TooLarge);
            }
            let (rk, chain, pn) = match &self.ratchet {
                Ratchet::Opening(s) => (self.rk, s.clone(), 0),
                Ratchet::Open(o) => match &o.send {
                    Some(s) => (self.rk, s.clone(), o.pn),
                    // The deferred sending half-step.
                    None => {
                        let secret = prim::clamp(rng.take());
                        let out = prim::dh(&secret, &o.dhr).ok_or(Error::NonContributory)?;
                        let (rk, ck) = kdf_rk(&self.rk, &out);
                        let public = prim::x25519_public(&secret);
                        let dhs = KeyPair { secret, public };
                        (rk, Sending { dhs, ck, n: 0 }, o.pn)
                    }
                },
            };
            if chain.n == u32::MAX {
                return Err(Error::ChainExhausted);
            }
            let (mk, ck_next) = kdf_ck(&chain.ck);
            let seed: [u8; 16] = rng.take();
            let mut prefix = vec![0x01, 0x01];
            prefix.extend_from_slice(&chain.dhs.public);
            prefix.extend_from_slice(&pn.to_be_bytes());
            prefix.extend_from_slice(&chain.n.to_be_bytes());
            prefix.extend_from_slice(&seed);
            let (key, nonce) = expand(&mk, &seed);
            let mut out = if self.phase == Phase::AwaitingReply {
                self.x3dh_fields().encode()
            } else {
                Vec::new()
            };
            out.extend_from_slice(&prefix);
            let mut aad = self.ad();
            aad.extend_from_slice(&out);
            let ct = prim::aead_seal(&key, &nonce, &aad, plaintext);
            out.extend_from_slice(&ct);
            let next = Sending {
                dhs: chain.dhs,
                ck: ck_next,
                n: chain.n + 1,
            };
            self.rk = rk;
            match &mut self.ratchet {
                Ratchet::Opening(s) => *s = next,
                Ratchet::Open(o) => o.send = Some(next),
            }
            Ok(out)
        }

        /// §6.5 on `self` (the caller works on a copy and commits it on success).
        fn decrypt_normal(&mut self, m: &Normal, skipped_at: u64) -> Result<Vec<u8>, Error> {
            let mut aad = self.ad();
            aad.extend_from_slice(&m.header);
            let open = |mk: &[u8; 32]| {
                let (key, nonce) = expand(mk, &m.seed);
                prim::aead_open(&key, &nonce, &aad, &m.ct).ok_or(Error::DecryptionFailed)
            };
            let limits = self.limits;
            // A. skipped key
            if let Ratchet::Open(o) = &mut self.ratchet
                && let Some(i) = o.skipped.iter().position(|e| e.key == m.key && e.n == m.n)
            {
                let pt = open(&o.skipped[i].mk)?;
                o.skipped.remove(i);
                count_decrypt(o, &limits);
                return Ok(pt);
            }
            // B. counter bound
            if m.n == u32::MAX {
                return Err(Error::TooFarInFuture);
            }
            let (prior, sending) = match &mut self.ratchet {
                // The opening phase has no receiving chain: a new ratchet key (D).
                Ratchet::Opening(s) => (None, (s.dhs.secret, s.n)),
                // C. current chain
                Ratchet::Open(o) if o.dhr == m.key => {
                    if m.n < o.nr {
                        return Err(Error::DuplicateMessage);
                    }
                    if m.n - o.nr > limits.max_skip {
                        return Err(Error::TooFarInFuture);
                    }
                    let (kept, mk, ck) = derive(o.ckr, o.nr, m.n);
                    let pt = open(&mk)?;
                    for (i, k) in kept {
                        store_skipped(o, &limits, m.key, i, k, skipped_at);
                    }
                    (o.ckr, o.nr) = (ck, m.n + 1);
                    count_decrypt(o, &limits);
                    return Ok(pt);
                }
                // D1, D2.
                Ratchet::Open(o) => {
                    if o.old.contains(&m.key) {
                        return Err(Error::DuplicateMessage);
                    }
                    let Some(s) = &o.send else {
                        return Err(Error::DecryptionFailed);
                    };
                    (Some(o.clone()), (s.dhs.secret, s.n))
                }
            };
            let (rk, o, pt) = receiving_step(
                &self.rk,
                &limits,
                prior.as_ref(),
                sending,
                m,
                &aad,
                skipped_at,
            )?;
            self.rk = rk;
            self.ratchet = Ratchet::Open(o);
            Ok(pt)
        }

        /// §7.4 `Session::decrypt`, with the `skipped_at` recorded for stored keys (§8.6); the
        /// first success of an initiator acknowledges it.
        pub fn decrypt_with(&mut self, message: &[u8], skipped_at: u64) -> Result<Vec<u8>, Error> {
            let m = match decode_message(message)? {
                Incoming::Normal(m) => m,
                Incoming::PreKey(f, m) => {
                    if !self.responder() || f != self.x3dh_fields() {
                        return Err(Error::SessionMismatch);
                    }
                    m
                }
            };
            let mut next = self.clone();
            let pt = next.decrypt_normal(&m, skipped_at)?;
            if next.phase == Phase::AwaitingReply {
                next.phase = Phase::Acknowledged;
            }
            *self = next;
            Ok(pt)
        }

        /// §8.3 `send`.
        pub fn send(&mut self, rng: &mut Rng, now_ms: u64, body: &[u8]) -> Result<Vec<u8>, Error> {
            let f = Frame {
                kind: Kind::Message,
                sent_at_ms: now_ms,
                timer: self.timer,
                body: body.to_vec(),
            };
            let bytes = frame::encode(&f).map_err(|_| Error::TooLarge)?;
            self.encrypt(rng, &bytes)
        }

        /// §8.3 `set_timer`.
        pub fn set_timer(
            &mut self,
            rng: &mut Rng,
            now_ms: u64,
            duration_s: u32,
            start: Start,
        ) -> Result<Vec<u8>, Error> {
            let version = self
                .timer
                .version
                .checked_add(1)
                .ok_or(Error::TimerVersionExhausted)?;
            let timer = Timer {
                duration_s,
                start: if duration_s == 0 {
                    Start::OnSend
                } else {
                    start
                },
                version,
            };
            let f = Frame {
                kind: Kind::TimerUpdate,
                sent_at_ms: now_ms,
                timer,
                body: Vec::new(),
            };
            let bytes = frame::encode(&f).map_err(|_| Error::TooLarge)?;
            let wire = self.encrypt(rng, &bytes)?;
            self.timer = timer;
            Ok(wire)
        }

        /// §8.4–§8.5 after authentication: the frame, the timer, then the deadline.
        fn take_frame(&mut self, plaintext: &[u8], now_ms: u64) -> Result<Received, Error> {
            let f = frame::decode(plaintext).map_err(Error::InvalidContent)?;
            let timer_changed = f.timer.supersedes(&self.timer);
            if timer_changed {
                self.timer = f.timer;
            }
            let effective = Timer::more_private(&f.timer, &self.timer);
            let deadline =
                frame::deadline(f.sent_at_ms, &effective, now_ms).ok_or(Error::Expired)?;
            Ok(Received {
                kind: f.kind,
                body: f.body,
                sent_at_ms: f.sent_at_ms,
                timer: f.timer,
                deadline,
                timer_changed,
            })
        }

        /// §8 `receive`: keys it skips record `skipped_at = now` (§8.6).
        pub fn receive(&mut self, message: &[u8], now_ms: u64) -> Result<Received, Error> {
            let plaintext = self.decrypt_with(message, now_ms)?;
            self.take_frame(&plaintext, now_ms)
        }

        /// §8.6 `purge`, under the session's timer now (not the one of the skip).
        pub fn purge(&mut self, now_ms: u64) -> usize {
            let timer = self.timer;
            let Ratchet::Open(o) = &mut self.ratchet else {
                return 0;
            };
            let before = o.skipped.len();
            o.skipped
                .retain(|e| !frame::purgeable(e.skipped_at, &timer, now_ms));
            before - o.skipped.len()
        }

        /// §7.3 steps 1–7; the store change of step 8 is returned, not applied. The responder's
        /// ratchet is created by its first receiving step (§6.2): the signed prekey's secret is
        /// `DHs` for that step only, and the session keeps no ratchet secret until it sends.
        fn respond_steps(
            identity: &Identity,
            store: &Store,
            message: &[u8],
            context: &[u8],
            skipped_at: u64,
        ) -> Result<(Session, Vec<u8>, PreKeyFields, [u8; 16]), Error> {
            let (f, m) = match decode_message(message)? {
                Incoming::Normal(_) => return Err(Error::NotPreKeyMessage),
                Incoming::PreKey(f, m) => (f, m),
            };
            let spk = store
                .signed
                .iter()
                .find(|k| k.id == f.spk_id)
                .ok_or(Error::UnknownSignedPreKey(f.spk_id))?;
            let opk = match f.opk_id {
                None => None,
                Some(id) => Some(
                    store
                        .one_time
                        .iter()
                        .find(|k| k.id == id)
                        .ok_or(Error::UnknownOneTimePreKey(id))?
                        .key
                        .secret,
                ),
            };
            let nc = Error::NonContributory;
            let mut dhs = vec![
                prim::dh(&spk.key.secret, &prim::ed_to_x(&f.ik_a)).ok_or(nc)?,
                prim::dh(&identity.x_secret, &f.base).ok_or(nc)?,
                prim::dh(&spk.key.secret, &f.base).ok_or(nc)?,
            ];
            if let Some(opk) = opk {
                dhs.push(prim::dh(&opk, &f.base).ok_or(nc)?);
            }
            let sk = x3dh_sk(&dhs);
            // §7.3 step 5: the first-message record, right after X3DH (step 4) and before the
            // context length (step 6); a replay is reported before a full record.
            let first_id = first_message_id(&dhs[2]);
            if f.opk_id.is_none() {
                if spk.accepted.binary_search(&first_id).is_ok() {
                    return Err(Error::DuplicateMessage);
                }
                if spk.accepted.len() >= MAX_FIRST_MESSAGES_PER_SIGNED_PREKEY {
                    return Err(Error::SignedPreKeyFull(f.spk_id));
                }
            }
            if context.len() > MAX_CONTEXT_LEN {
                return Err(Error::TooLarge);
            }
            // §3.5 AD (IK_A = the message's, IK_B = ours) ‖ prekey fields ‖ prefix.
            let mut aad = f.ik_a.to_vec();
            aad.extend_from_slice(&identity.public);
            aad.extend_from_slice(&(context.len() as u16).to_be_bytes());
            aad.extend_from_slice(context);
            aad.extend_from_slice(&m.header);
            let first = (spk.key.secret, 0);
            let (rk, o, pt) =
                receiving_step(&sk, &DEFAULT_LIMITS, None, first, &m, &aad, skipped_at)?;
            let s = Session {
                phase: Phase::Responder,
                local: identity.public,
                remote: f.ik_a,
                context: context.to_vec(),
                base: f.base,
                spk_id: f.spk_id,
                opk_id: f.opk_id,
                limits: DEFAULT_LIMITS,
                timer: Timer::OFF,
                rk,
                ratchet: Ratchet::Open(o),
            };
            Ok((s, pt, f, first_id))
        }

        /// §7.3 step 8 (§4.3).
        fn consume(store: &mut Store, f: &PreKeyFields, first_id: [u8; 16]) {
            match f.opk_id {
                Some(id) => store.one_time.retain(|k| k.id != id),
                None => {
                    let k = store
                        .signed
                        .iter_mut()
                        .find(|k| k.id == f.spk_id)
                        .expect("held");
                    if let Err(at) = k.accepted.binary_search(&first_id) {
                        k.accepted.insert(at, first_id);
                    }
                }
            }
        }

        /// §7.3 `respond` (raw plaintext; stored keys get `skipped_at = 2^64 − 1`).
        pub fn respond(
            identity: &Identity,
            store: &mut Store,
            message: &[u8],
            context: &[u8],
        ) -> Result<(Session, Vec<u8>), Error> {
            let (s, pt, f, id) = Self::respond_steps(identity, store, message, context, u64::MAX)?;
            Self::consume(store, &f, id);
            Ok((s, pt))
        }

        /// §8.5 `accept`: §7.3 steps 1–7, the frame, then step 8. Keys the first message skips
        /// record `skipped_at = now` (§8.6); the timer the first frame applies then governs
        /// their purge.
        pub fn accept(
            identity: &Identity,
            store: &mut Store,
            message: &[u8],
            context: &[u8],
            now_ms: u64,
        ) -> Result<(Session, Received), Error> {
            let (mut s, pt, f, id) =
                Self::respond_steps(identity, store, message, context, now_ms)?;
            let received = s.take_frame(&pt, now_ms)?;
            Self::consume(store, &f, id);
            Ok((s, received))
        }
    }

    /// `(index, MK)` pairs kept for skipped messages.
    type Kept = Vec<(u32, [u8; 32])>;

    /// KDF_CK from index `from` to `to`: the kept `(index, MK)` for `from..to`, then `MK_to` and
    /// `CK_{to+1}`.
    fn derive(ck: [u8; 32], from: u32, to: u32) -> (Kept, [u8; 32], [u8; 32]) {
        let mut ck = ck;
        let mut kept = Vec::new();
        for i in from..to {
            let (mk, next) = kdf_ck(&ck);
            kept.push((i, mk));
            ck = next;
        }
        let (mk, next) = kdf_ck(&ck);
        (kept, mk, next)
    }
}

/// §9: certificates, seal, validation, open.
mod sealed {
    use super::codec::DecodeError::{self, NonCanonical, TooLarge, Truncated, UnknownVersion};
    use super::codec::Reader;
    use super::dr::{self, Error, Incoming, Received, Session, Store};
    use super::frame::pad;
    use super::prim::{self, Identity};

    pub const LABEL_SERVER_CERTIFICATE: &[u8] = b"xchat-protocol v1 server certificate";
    pub const LABEL_SENDER_CERTIFICATE: &[u8] = b"xchat-protocol v1 sender certificate";
    pub const LABEL_SEALED_EPHEMERAL: &[u8] = b"xchat-protocol v1 sealed sender ephemeral";
    pub const LABEL_SEALED_STATIC: &[u8] = b"xchat-protocol v1 sealed sender static";
    pub const VERSION: u8 = 0x01;
    pub const SERVER_CERTIFICATE_LEN: usize = 101;
    pub const MAX_ADDRESS_LEN: usize = 255;
    /// "the largest certificate, 466 bytes".
    pub const MAX_SENDER_CERTIFICATE_LEN: usize = 1 + 1 + MAX_ADDRESS_LEN + 4 + 32 + 8 + 101 + 64;
    /// §9.2: `m` is at most 2^20 + 256 bytes.
    pub const MAX_SEALED_MESSAGE_LEN: usize = (1 << 20) + 256;

    /// §9.4 step 0.
    pub fn max_envelope_len() -> usize {
        81 + pad(6 + MAX_SENDER_CERTIFICATE_LEN + MAX_SEALED_MESSAGE_LEN) + 16
    }

    /// §11.3, spelled as the library's `Debug` prints it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum SealedError {
        Decode(DecodeError),
        DecryptionFailed,
        NonContributory,
        InvalidCertificate,
        RevokedServer,
        CertificateExpired,
        SenderIdentityMismatch,
        SelfSend,
        Session(Error),
        TooLarge,
    }

    impl From<DecodeError> for SealedError {
        fn from(e: DecodeError) -> Self {
            SealedError::Decode(e)
        }
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ServerCert {
        pub id: u32,
        pub key: [u8; 32],
        pub signature: [u8; 64],
    }

    impl ServerCert {
        /// `LABEL_SERVER_CERTIFICATE ‖ id ‖ server key` (the version byte is not signed).
        pub fn signed_bytes(id: u32, key: &[u8; 32]) -> Vec<u8> {
            let mut out = LABEL_SERVER_CERTIFICATE.to_vec();
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(key);
            out
        }

        pub fn issue(root_seed: &[u8; 32], id: u32, key: [u8; 32]) -> ServerCert {
            ServerCert {
                id,
                key,
                signature: prim::ed_sign(root_seed, &Self::signed_bytes(id, &key)),
            }
        }

        pub fn encode(&self) -> Vec<u8> {
            let mut out = vec![VERSION];
            out.extend_from_slice(&self.id.to_be_bytes());
            out.extend_from_slice(&self.key);
            out.extend_from_slice(&self.signature);
            out
        }

        /// GUESS (§9.1 states strict decoding for the sender certificate): the server certificate
        /// decodes the same way, version first, key by §2 rule 4.
        pub fn read(r: &mut Reader<'_>) -> Result<ServerCert, DecodeError> {
            let v = r.u8()?;
            if v != VERSION {
                return Err(UnknownVersion(v));
            }
            Ok(ServerCert {
                id: r.u32()?,
                key: r.ed25519_key()?,
                signature: r.arr()?,
            })
        }

        pub fn decode(bytes: &[u8]) -> Result<ServerCert, DecodeError> {
            let mut r = Reader::new(bytes);
            let c = Self::read(&mut r)?;
            r.finish()?;
            Ok(c)
        }
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct SenderCert {
        pub address: Vec<u8>,
        pub device_id: u32,
        pub identity: [u8; 32],
        pub expires_ms: u64,
        pub server: ServerCert,
        pub signature: [u8; 64],
    }

    impl SenderCert {
        /// Every byte before the signature.
        pub fn body(&self) -> Vec<u8> {
            let mut out = vec![VERSION, self.address.len() as u8];
            out.extend_from_slice(&self.address);
            out.extend_from_slice(&self.device_id.to_be_bytes());
            out.extend_from_slice(&self.identity);
            out.extend_from_slice(&self.expires_ms.to_be_bytes());
            out.extend_from_slice(&self.server.encode());
            out
        }

        pub fn signed_bytes(&self) -> Vec<u8> {
            let mut out = LABEL_SENDER_CERTIFICATE.to_vec();
            out.extend_from_slice(&self.body());
            out
        }

        pub fn encode(&self) -> Vec<u8> {
            let mut out = self.body();
            out.extend_from_slice(&self.signature);
            out
        }

        /// GUESS (§9.1 only says the length is 1..=255): an address over 255 bytes is `TooLarge`.
        pub fn issue(
            server_seed: &[u8; 32],
            server: &ServerCert,
            address: &[u8],
            device_id: u32,
            identity: [u8; 32],
            expires_ms: u64,
        ) -> Result<SenderCert, DecodeError> {
            if address.is_empty() {
                return Err(NonCanonical);
            }
            if address.len() > MAX_ADDRESS_LEN {
                return Err(TooLarge);
            }
            let mut c = SenderCert {
                address: address.to_vec(),
                device_id,
                identity,
                expires_ms,
                server: server.clone(),
                signature: [0u8; 64],
            };
            c.signature = prim::ed_sign(server_seed, &c.signed_bytes());
            Ok(c)
        }

        /// §9.1 strict decoding, fields in order.
        pub fn decode(bytes: &[u8]) -> Result<SenderCert, DecodeError> {
            let mut r = Reader::new(bytes);
            let v = r.u8()?;
            if v != VERSION {
                return Err(UnknownVersion(v));
            }
            let len = r.u8()?;
            if len == 0 {
                return Err(NonCanonical);
            }
            let address = r.take(usize::from(len))?.to_vec();
            let device_id = r.u32()?;
            let identity = r.ed25519_key()?;
            let expires_ms = r.u64()?;
            let server = ServerCert::read(&mut r)?;
            let signature = r.arr()?;
            r.finish()?;
            Ok(SenderCert {
                address,
                device_id,
                identity,
                expires_ms,
                server,
                signature,
            })
        }

        /// §9.3, steps 1–4 in order.
        pub fn validate(
            &self,
            roots: &[[u8; 32]],
            revoked: &[u32],
            now_ms: u64,
        ) -> Result<(), SealedError> {
            let server_signed = ServerCert::signed_bytes(self.server.id, &self.server.key);
            if !roots
                .iter()
                .any(|root| prim::verify_strict(root, &server_signed, &self.server.signature))
            {
                return Err(SealedError::InvalidCertificate);
            }
            if revoked.contains(&self.server.id) {
                return Err(SealedError::RevokedServer);
            }
            if !prim::verify_strict(&self.server.key, &self.signed_bytes(), &self.signature) {
                return Err(SealedError::InvalidCertificate);
            }
            if now_ms >= self.expires_ms {
                return Err(SealedError::CertificateExpired);
            }
            Ok(())
        }
    }

    /// Every intermediate value of §9.2, named as in sealed_sender.json.
    #[derive(Clone, Debug)]
    pub struct Trace {
        pub ephemeral_secret: [u8; 32],
        pub ephemeral_public: [u8; 32],
        pub ephemeral_dh: [u8; 32],
        pub ephemeral_salt: Vec<u8>,
        pub chain_key: Vec<u8>,
        pub identity_key: Vec<u8>,
        pub identity_aad: Vec<u8>,
        pub encrypted_identity: Vec<u8>,
        pub static_dh: [u8; 32],
        pub static_salt: Vec<u8>,
        pub content_key: Vec<u8>,
        pub payload: Vec<u8>,
        pub content_aad: Vec<u8>,
        pub encrypted_content: Vec<u8>,
        pub envelope: Vec<u8>,
    }

    /// `u16 len(cert) ‖ cert ‖ u32 len(m) ‖ m ‖ zeros to pad(6 + len(cert) + len(m))`.
    pub fn payload(cert: &[u8], m: &[u8]) -> Vec<u8> {
        let mut p = (cert.len() as u16).to_be_bytes().to_vec();
        p.extend_from_slice(cert);
        p.extend_from_slice(&(m.len() as u32).to_be_bytes());
        p.extend_from_slice(m);
        p.resize(pad(6 + cert.len() + m.len()), 0);
        p
    }

    /// §9.2: `m` over 2^20 + 256 bytes is `TooLarge`; the certificate is sealed as given (no
    /// check that it names the sealing identity).
    pub fn seal(
        sender: &Identity,
        cert: &[u8],
        recipient: &[u8; 32],
        m: &[u8],
        ephemeral_secret: [u8; 32],
    ) -> Result<Trace, SealedError> {
        if m.len() > MAX_SEALED_MESSAGE_LEN {
            return Err(SealedError::TooLarge);
        }
        seal_raw(
            &sender.x_secret,
            &sender.public,
            recipient,
            payload(cert, m),
            ephemeral_secret,
        )
    }

    /// §9.2 with the encrypted identity and the payload chosen by the caller (to build hostile
    /// envelopes).
    pub fn seal_raw(
        static_secret: &[u8; 32],
        claimed_identity: &[u8; 32],
        recipient: &[u8; 32],
        payload: Vec<u8>,
        ephemeral_secret: [u8; 32],
    ) -> Result<Trace, SealedError> {
        let ephemeral_public = prim::x25519_public(&ephemeral_secret);
        let recipient_x = prim::ed_to_x(recipient);
        let ephemeral_dh =
            prim::dh(&ephemeral_secret, &recipient_x).ok_or(SealedError::NonContributory)?;
        let mut ephemeral_salt = ephemeral_public.to_vec();
        ephemeral_salt.extend_from_slice(recipient);
        let okm1 = prim::hkdf(&ephemeral_salt, &ephemeral_dh, LABEL_SEALED_EPHEMERAL, 64);
        let (chain_key, identity_key) = (okm1[..32].to_vec(), okm1[32..].to_vec());
        let mut identity_aad = vec![VERSION];
        identity_aad.extend_from_slice(&ephemeral_public);
        identity_aad.extend_from_slice(recipient);
        let encrypted_identity =
            prim::aead_seal(&identity_key, &[0u8; 12], &identity_aad, claimed_identity);
        let static_dh =
            prim::dh(static_secret, &recipient_x).ok_or(SealedError::NonContributory)?;
        let mut static_salt = chain_key.clone();
        static_salt.extend_from_slice(&encrypted_identity);
        let content_key = prim::hkdf(&static_salt, &static_dh, LABEL_SEALED_STATIC, 32);
        let mut content_aad = identity_aad.clone();
        content_aad.extend_from_slice(&encrypted_identity);
        let encrypted_content = prim::aead_seal(&content_key, &[0u8; 12], &content_aad, &payload);
        let mut envelope = vec![VERSION];
        envelope.extend_from_slice(&ephemeral_public);
        envelope.extend_from_slice(&encrypted_identity);
        envelope.extend_from_slice(&encrypted_content);
        Ok(Trace {
            ephemeral_secret,
            ephemeral_public,
            ephemeral_dh,
            ephemeral_salt,
            chain_key,
            identity_key,
            identity_aad,
            encrypted_identity,
            static_dh,
            static_salt,
            content_key,
            payload,
            content_aad,
            encrypted_content,
            envelope,
        })
    }

    /// What `open` returns.
    #[derive(Clone, Debug)]
    pub struct Opened {
        pub sender: SenderCert,
        pub message: Vec<u8>,
        pub now_ms: u64,
    }

    impl Opened {
        /// GUESS (§9.4 does not define it): the inner message decodes (§5.4) as a prekey message.
        pub fn is_prekey_message(&self) -> bool {
            matches!(dr::decode_message(&self.message), Ok(Incoming::PreKey(..)))
        }
    }

    /// §9.4 step 4. GUESS: the certificate is decoded strictly from exactly its declared length
    /// as soon as it has been read, before the message length; padding is checked last.
    pub fn parse_payload(p: &[u8]) -> Result<(SenderCert, Vec<u8>), DecodeError> {
        let mut r = Reader::new(p);
        let cert_len = usize::from(r.u16()?);
        let cert = SenderCert::decode(r.take(cert_len)?)?;
        let m_len = r.u32()? as usize;
        let m = r.take(m_len)?.to_vec();
        let padding = r.rest();
        if p.len() != pad(6 + cert_len + m_len) || padding.iter().any(|&x| x != 0) {
            return Err(NonCanonical);
        }
        Ok((cert, m))
    }

    /// §9.4 steps 0–7.
    pub fn open(
        recipient: &Identity,
        roots: &[[u8; 32]],
        revoked: &[u32],
        envelope: &[u8],
        now_ms: u64,
    ) -> Result<Opened, SealedError> {
        if envelope.len() > max_envelope_len() {
            return Err(SealedError::Decode(TooLarge));
        }
        let mut r = Reader::new(envelope);
        let v = r.u8()?;
        if v != VERSION {
            return Err(SealedError::Decode(UnknownVersion(v)));
        }
        let e_pub = r.x25519_key()?;
        let encrypted_identity = r.take(48)?;
        let encrypted_content = r.rest();
        if encrypted_content.len() < 16 {
            return Err(SealedError::Decode(Truncated));
        }
        let ephemeral_dh =
            prim::dh(&recipient.x_secret, &e_pub).ok_or(SealedError::NonContributory)?;
        let mut salt = e_pub.to_vec();
        salt.extend_from_slice(&recipient.public);
        let okm1 = prim::hkdf(&salt, &ephemeral_dh, LABEL_SEALED_EPHEMERAL, 64);
        let mut aad = vec![VERSION];
        aad.extend_from_slice(&e_pub);
        aad.extend_from_slice(&recipient.public);
        let ik_s_bytes = prim::aead_open(&okm1[32..], &[0u8; 12], &aad, encrypted_identity)
            .ok_or(SealedError::DecryptionFailed)?;
        let ik_s = Reader::new(&ik_s_bytes).ed25519_key()?;
        let static_dh = prim::dh(&recipient.x_secret, &prim::ed_to_x(&ik_s))
            .ok_or(SealedError::NonContributory)?;
        let mut static_salt = okm1[..32].to_vec();
        static_salt.extend_from_slice(encrypted_identity);
        let content_key = prim::hkdf(&static_salt, &static_dh, LABEL_SEALED_STATIC, 32);
        aad.extend_from_slice(encrypted_identity);
        let payload = prim::aead_open(&content_key, &[0u8; 12], &aad, encrypted_content)
            .ok_or(SealedError::DecryptionFailed)?;
        let (sender, message) = parse_payload(&payload)?;
        sender.validate(roots, revoked, now_ms)?;
        if sender.identity != ik_s {
            return Err(SealedError::SenderIdentityMismatch);
        }
        if ik_s == recipient.public {
            return Err(SealedError::SelfSend);
        }
        Ok(Opened {
            sender,
            message,
            now_ms,
        })
    }

    /// `Opened::decrypt`: the identity check, then `receive` at the `now` given to `open`.
    pub fn decrypt(o: &Opened, session: &mut Session) -> Result<Received, SealedError> {
        if session.remote != o.sender.identity {
            return Err(SealedError::SenderIdentityMismatch);
        }
        session
            .receive(&o.message, o.now_ms)
            .map_err(SealedError::Session)
    }

    /// `Opened::respond`. GUESS: the inner message is decoded completely first
    /// (`Session(Decode(e))`), then its type (`Session(NotPreKeyMessage)`), then `IK_A`.
    pub fn respond(
        o: &Opened,
        identity: &Identity,
        store: &mut Store,
        context: &[u8],
    ) -> Result<(Session, Received), SealedError> {
        let fields = match dr::decode_message(&o.message) {
            Err(e) => return Err(SealedError::Session(Error::Decode(e))),
            Ok(Incoming::Normal(_)) => return Err(SealedError::Session(Error::NotPreKeyMessage)),
            Ok(Incoming::PreKey(f, _)) => f,
        };
        if fields.ik_a != o.sender.identity {
            return Err(SealedError::SenderIdentityMismatch);
        }
        Session::accept(identity, store, &o.message, context, o.now_ms)
            .map_err(SealedError::Session)
    }
}

/// Conversions between this file's values, the JSON vectors and the library's types.
mod bridge {
    use super::dr::Received;
    use super::frame::{Deadline, Kind, Start, Timer};
    use super::util::{hb, hx, n, s, u64d};
    use serde_json::{Value, json};
    use xchat_protocol as lib;

    pub fn timer_from_json(v: &Value) -> Timer {
        Timer {
            duration_s: n(v, "duration_s") as u32,
            start: match s(v, "start") {
                "on_send" => Start::OnSend,
                "on_read" => Start::OnRead,
                other => panic!("start {other:?}"),
            },
            version: n(v, "version") as u32,
        }
    }

    pub fn timer_json(t: &Timer) -> Value {
        json!({
            "duration_s": t.duration_s,
            "start": match t.start { Start::OnSend => "on_send", Start::OnRead => "on_read" },
            "version": t.version,
        })
    }

    pub fn kind_from_json(v: &str) -> Kind {
        match v {
            "message" => Kind::Message,
            "timer_update" => Kind::TimerUpdate,
            other => panic!("kind {other:?}"),
        }
    }

    pub fn kind_json(k: Kind) -> &'static str {
        match k {
            Kind::Message => "message",
            Kind::TimerUpdate => "timer_update",
        }
    }

    /// `None` is `{"kind": "expired"}`.
    pub fn deadline_from_json(v: &Value) -> Option<Deadline> {
        match s(v, "kind") {
            "never" => Some(Deadline::Never),
            "at" => Some(Deadline::At(u64d(v, "ms"))),
            "after_read" => Some(Deadline::AfterRead(u64d(v, "ms"))),
            "expired" => None,
            other => panic!("deadline {other:?}"),
        }
    }

    pub fn deadline_json(d: Option<Deadline>) -> Value {
        match d {
            Some(Deadline::Never) => json!({"kind": "never"}),
            Some(Deadline::At(ms)) => json!({"kind": "at", "ms": ms.to_string()}),
            Some(Deadline::AfterRead(ms)) => json!({"kind": "after_read", "ms": ms.to_string()}),
            None => json!({"kind": "expired"}),
        }
    }

    pub fn received_json(r: &Received) -> Value {
        json!({
            "kind": kind_json(r.kind),
            "body": hx(&r.body),
            "sent_at_ms": r.sent_at_ms.to_string(),
            "timer": timer_json(&r.timer),
            "deadline": deadline_json(Some(r.deadline)),
            "timer_changed": r.timer_changed,
        })
    }

    pub fn received_from_json(v: &Value) -> Received {
        Received {
            kind: kind_from_json(s(v, "kind")),
            body: hb(v, "body"),
            sent_at_ms: u64d(v, "sent_at_ms"),
            timer: timer_from_json(&v["timer"]),
            deadline: deadline_from_json(&v["deadline"]).expect("not expired"),
            timer_changed: v["timer_changed"].as_bool().expect("bool"),
        }
    }

    pub fn to_lib_timer(t: &Timer) -> lib::Timer {
        lib::Timer {
            duration_s: t.duration_s,
            start: to_lib_start(t.start),
            version: t.version,
        }
    }

    pub fn to_lib_start(s: Start) -> lib::TimerStart {
        match s {
            Start::OnSend => lib::TimerStart::OnSend,
            Start::OnRead => lib::TimerStart::OnRead,
        }
    }

    pub fn from_lib_timer(t: &lib::Timer) -> Timer {
        Timer {
            duration_s: t.duration_s,
            start: match t.start {
                lib::TimerStart::OnSend => Start::OnSend,
                lib::TimerStart::OnRead => Start::OnRead,
            },
            version: t.version,
        }
    }

    pub fn to_lib_kind(k: Kind) -> lib::ContentKind {
        match k {
            Kind::Message => lib::ContentKind::Message,
            Kind::TimerUpdate => lib::ContentKind::TimerUpdate,
        }
    }

    pub fn from_lib_kind(k: lib::ContentKind) -> Kind {
        match k {
            lib::ContentKind::Message => Kind::Message,
            lib::ContentKind::TimerUpdate => Kind::TimerUpdate,
            other => panic!("unknown kind {other:?}"),
        }
    }

    pub fn to_lib_deadline(d: Deadline) -> lib::Deadline {
        match d {
            Deadline::Never => lib::Deadline::Never,
            Deadline::At(ms) => lib::Deadline::At(ms),
            Deadline::AfterRead(ms) => lib::Deadline::AfterRead(ms),
        }
    }

    pub fn from_lib_deadline(d: lib::Deadline) -> Deadline {
        match d {
            lib::Deadline::Never => Deadline::Never,
            lib::Deadline::At(ms) => Deadline::At(ms),
            lib::Deadline::AfterRead(ms) => Deadline::AfterRead(ms),
        }
    }

    /// The library's receipt in this implementation's shape: a receipt that delivers nothing is
    /// the outcome this implementation names `Expired` / `InvalidContent` (both change state).
    pub fn lib_outcome(r: Result<lib::Receipt, lib::Error>) -> Result<Received, lib::Error> {
        match r? {
            lib::Receipt::Message(received) => Ok(from_lib_received(&received)),
            lib::Receipt::Expired { .. } => Err(lib::Error::Expired),
            lib::Receipt::Unreadable(e) => Err(lib::Error::InvalidContent(e)),
        }
    }

    pub fn from_lib_received(r: &lib::Received) -> Received {
        Received {
            kind: from_lib_kind(r.kind),
            body: r.body.clone(),
            sent_at_ms: r.sent_at_ms,
            timer: from_lib_timer(&r.timer),
            deadline: from_lib_deadline(r.deadline),
            timer_changed: r.timer_changed,
        }
    }

    /// A result as a comparable string: `Ok(<normalised value>)` or the error's `Debug`.
    pub fn res<T: core::fmt::Debug, E: core::fmt::Debug>(r: &Result<T, E>) -> String {
        match r {
            Ok(v) => format!("Ok({v:?})"),
            Err(e) => format!("{e:?}"),
        }
    }
}

/// §3.0 and §9.1: the labels as typed here against the spec's hex table and the library.
mod labels {
    use super::util::hx;
    use super::{dr, sealed};

    #[test]
    fn labels_match_spec_table_and_library() {
        for (label, len, hex) in [
            (
                dr::LABEL_X3DH,
                22,
                "78636861742d70726f746f636f6c2076312058334448",
            ),
            (
                dr::LABEL_ROOT,
                28,
                "78636861742d70726f746f636f6c20763120726f6f7420636861696e",
            ),
            (
                dr::LABEL_MESSAGE,
                29,
                "78636861742d70726f746f636f6c207631206d657373616765206b6579",
            ),
            (
                dr::LABEL_SIGNED_PREKEY,
                31,
                "78636861742d70726f746f636f6c207631207369676e6564207072656b6579",
            ),
        ] {
            assert_eq!(label.len(), len);
            assert_eq!(hx(label), hex);
        }
        use xchat_protocol::kdf as lib;
        assert_eq!(
            sealed::LABEL_SERVER_CERTIFICATE,
            lib::LABEL_SERVER_CERTIFICATE
        );
        assert_eq!(
            sealed::LABEL_SENDER_CERTIFICATE,
            lib::LABEL_SENDER_CERTIFICATE
        );
        assert_eq!(sealed::LABEL_SEALED_EPHEMERAL, lib::LABEL_SEALED_EPHEMERAL);
        assert_eq!(sealed::LABEL_SEALED_STATIC, lib::LABEL_SEALED_STATIC);
    }
}

/// §8 against content.json and the library.
mod section_8_content {
    use super::bridge::*;
    use super::dr::{Received, Session, Store};
    use super::frame::{self, Deadline, Frame, Kind, Start, Timer};
    use super::prim::Identity;
    use super::util::{
        Choice, Rng, assert_state, assert_state_opt, draws, h, h32, hb, hx, load, n, s, u64d,
    };
    use std::collections::HashMap;
    use xchat_protocol as lib;
    use xchat_protocol::content::{self as libc, Content};

    fn lib_decode(bytes: &[u8]) -> Result<Frame, lib::DecodeError> {
        Content::from_padded_bytes(bytes).map(|c| Frame {
            kind: from_lib_kind(c.kind),
            sent_at_ms: c.sent_at_ms,
            timer: from_lib_timer(&c.timer),
            body: c.body,
        })
    }

    fn lib_content(f: &Frame) -> Content {
        Content {
            kind: to_lib_kind(f.kind),
            sent_at_ms: f.sent_at_ms,
            timer: to_lib_timer(&f.timer),
            body: f.body.clone(),
        }
    }

    #[test]
    fn constants_match_vectors_and_library() {
        let v = load("content.json");
        let c = &v["constants"];
        assert_eq!(n(c, "frame_header_len") as usize, frame::HEADER_LEN);
        assert_eq!(n(c, "min_padded_len") as usize, frame::MIN_PADDED_LEN);
        assert_eq!(u64d(c, "max_clock_skew_ms"), frame::MAX_CLOCK_SKEW_MS);
        // "largest body whose padded frame fits in 2^20 bytes", searched from the definition.
        let max_body = (0..=frame::MAX_FRAME_LEN)
            .rev()
            .find(|b| frame::pad(frame::HEADER_LEN + b) <= frame::MAX_FRAME_LEN)
            .expect("some body fits");
        assert_eq!(n(c, "max_body_len") as usize, max_body);
        assert_eq!(libc::max_body_len(), max_body);
        assert_eq!(libc::FRAME_HEADER_LEN, frame::HEADER_LEN);
        assert_eq!(libc::MIN_PADDED_LEN, frame::MIN_PADDED_LEN);
        assert_eq!(libc::MAX_CLOCK_SKEW_MS, frame::MAX_CLOCK_SKEW_MS);
        assert_eq!(libc::CONTENT_VERSION, frame::CONTENT_VERSION);
    }

    #[test]
    fn frame_vectors_encode_and_decode() {
        let v = load("content.json");
        let frames = v["frames"].as_array().expect("frames");
        assert_eq!(frames.len(), 11);
        for f in frames {
            let name = s(f, "name");
            let ours = Frame {
                kind: kind_from_json(s(f, "kind")),
                sent_at_ms: u64d(f, "sent_at_ms"),
                timer: timer_from_json(&f["timer"]),
                body: hb(f, "body"),
            };
            assert_eq!(
                n(f, "unpadded_len") as usize,
                frame::HEADER_LEN + ours.body.len()
            );
            assert_eq!(
                n(f, "padded_len") as usize,
                frame::pad(frame::HEADER_LEN + ours.body.len())
            );
            let bytes = frame::encode(&ours).expect("encodes");
            assert_eq!(hx(&bytes), s(f, "bytes"), "{name}: encoding");
            assert_eq!(
                frame::decode(&bytes).as_ref(),
                Ok(&ours),
                "{name}: decoding"
            );
            // The library decodes our bytes to the same fields, and encodes the same bytes.
            assert_eq!(
                lib_decode(&bytes).as_ref(),
                Ok(&ours),
                "{name}: library decode"
            );
            let theirs = lib_content(&ours)
                .to_padded_bytes()
                .expect("library encodes");
            assert_eq!(frame::decode(&theirs).as_ref(), Ok(&ours), "{name}");
            assert_eq!(theirs, bytes, "{name}: library encoding");
        }
    }

    #[test]
    fn padding_vectors_and_buckets_match_library() {
        let v = load("content.json");
        let cases = v["padding"].as_array().expect("padding");
        assert!(cases.len() >= 30);
        for c in cases {
            let len = n(c, "len") as usize;
            assert_eq!(frame::pad(len), n(c, "padded_len") as usize, "pad({len})");
        }
        // Padmé properties and the library's buckets, over every length to 70 000 and around
        // every power of two up to 2^40.
        let mut lens: Vec<usize> = (0..70_000).collect();
        for e in 16..40 {
            for d in [-2i64, -1, 0, 1, 2, 1000] {
                lens.push(((1i64 << e) + d) as usize);
            }
        }
        for len in lens {
            let p = frame::pad(len);
            assert!(p >= len && p >= 256);
            if len > 256 {
                assert!((p - len) * 100 <= len * 12, "overhead of {len} -> {p}");
            }
            assert_eq!(frame::pad(p), p, "a bucket is its own bucket");
            assert_eq!(libc::padded_len(len), p, "library pad({len})");
        }
        assert_eq!(frame::padme(0), 0);
        assert_eq!(frame::padme(1), 1);
    }

    #[test]
    fn deadline_vectors() {
        let v = load("content.json");
        let cases = v["deadlines"].as_array().expect("deadlines");
        assert_eq!(cases.len(), 8);
        for c in cases {
            let (sent, now) = (u64d(c, "sent_at_ms"), u64d(c, "now_ms"));
            let timer = timer_from_json(&c["timer"]);
            let want = deadline_from_json(&c["deadline"]);
            assert_eq!(frame::deadline(sent, &timer, now), want, "{}", s(c, "name"));
            let content = lib_content(&Frame {
                kind: Kind::Message,
                sent_at_ms: sent,
                timer,
                body: Vec::new(),
            });
            assert_eq!(content.deadline(now).map(from_lib_deadline), want);
        }
    }

    #[test]
    fn deadlines_match_library_on_edge_values() {
        let times = [
            0,
            1,
            299_999,
            300_000,
            300_001,
            1_750_000_000_000,
            u64::MAX - 300_001,
            u64::MAX - 300_000,
            u64::MAX - 1,
            u64::MAX,
        ];
        let durations = [0, 1, 60, 4_294_967, 4_294_968, u32::MAX];
        for &sent in &times {
            for &now in &times {
                for &d in &durations {
                    for start in [Start::OnSend, Start::OnRead] {
                        let timer = Timer {
                            duration_s: d,
                            start: if d == 0 { Start::OnSend } else { start },
                            version: 1,
                        };
                        let c = lib_content(&Frame {
                            kind: Kind::Message,
                            sent_at_ms: sent,
                            timer,
                            body: Vec::new(),
                        });
                        let ours = frame::deadline(sent, &timer, now);
                        assert_eq!(c.deadline(now).map(from_lib_deadline), ours);
                        // §8.6 with this as the session's timer at the purge and `sent` as the
                        // skip time, in exact arithmetic (the additions saturate at 2^64 − 1).
                        let bound = (u128::from(sent) + u128::from(d) * 1000 + 600_000)
                            .min(u128::from(u64::MAX));
                        let want = d > 0 && sent != u64::MAX && u128::from(now) > bound;
                        assert_eq!(frame::purgeable(sent, &timer, now), want);
                    }
                }
            }
        }
    }

    #[test]
    fn after_read_vectors_and_library() {
        let v = load("content.json");
        let cases = v["after_read"].as_array().expect("after_read");
        assert_eq!(cases.len(), 4);
        for c in cases {
            let d = deadline_from_json(&c["deadline"]).expect("a deadline");
            let read_at = u64d(c, "read_at_ms");
            let want = deadline_from_json(&c["result"]).expect("a deadline");
            assert_eq!(frame::after_read(d, read_at), want, "{}", s(c, "name"));
            assert_eq!(
                from_lib_deadline(to_lib_deadline(d).after_read(read_at)),
                want
            );
        }
        for d in [
            Deadline::Never,
            Deadline::At(0),
            Deadline::At(u64::MAX),
            Deadline::AfterRead(0),
            Deadline::AfterRead(u64::MAX),
            Deadline::AfterRead(3_600_000),
        ] {
            for read_at in [0, 1, 1_750_000_000_000, u64::MAX - 1, u64::MAX] {
                assert_eq!(
                    from_lib_deadline(to_lib_deadline(d).after_read(read_at)),
                    frame::after_read(d, read_at),
                    "{d:?} read at {read_at}"
                );
            }
        }
    }

    #[test]
    fn supersedes_vectors() {
        let v = load("content.json");
        let cases = v["supersedes"].as_array().expect("supersedes");
        assert_eq!(cases.len(), 14);
        for c in cases {
            let cand = timer_from_json(&c["candidate"]);
            let cur = timer_from_json(&c["current"]);
            let want = c["supersedes"].as_bool().expect("bool");
            assert_eq!(cand.supersedes(&cur), want, "{}", s(c, "name"));
            assert_eq!(
                to_lib_timer(&cand).supersedes(&to_lib_timer(&cur)),
                want,
                "{}",
                s(c, "name")
            );
        }
    }

    #[test]
    fn supersedes_is_a_strict_total_order_matching_library() {
        let mut timers = vec![Timer::OFF];
        for version in [0, 1, 2, u32::MAX - 1, u32::MAX] {
            for d in [0, 1, 2, 60, u32::MAX - 1, u32::MAX] {
                for start in [Start::OnSend, Start::OnRead] {
                    let t = Timer {
                        duration_s: d,
                        start,
                        version,
                    };
                    if t.is_canonical() {
                        timers.push(t);
                    }
                }
            }
        }
        for a in &timers {
            for b in &timers {
                let ours = a.supersedes(b);
                assert_eq!(
                    to_lib_timer(a).supersedes(&to_lib_timer(b)),
                    ours,
                    "{a:?} {b:?}"
                );
                if a == b {
                    assert!(!ours, "irreflexive");
                } else {
                    assert!(
                        ours ^ b.supersedes(a),
                        "total and antisymmetric: {a:?} {b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn negative_frame_vectors() {
        let v = load("negative.json");
        let mut count = 0;
        for e in v["entries"].as_array().expect("entries") {
            if s(e, "operation") != "Content::from_padded_bytes" {
                continue;
            }
            count += 1;
            let bytes = hb(&e["input"], "bytes");
            let want = s(e, "expected_error");
            assert_eq!(
                format!("{:?}", frame::decode(&bytes).expect_err(want)),
                want,
                "{}",
                s(e, "name")
            );
            assert_eq!(format!("{:?}", lib_decode(&bytes).expect_err(want)), want);
        }
        assert_eq!(count, 10);
    }

    /// Decodes many damaged frames with both implementations; the first failing check (and so
    /// every error-precedence guess) must agree.
    #[test]
    fn frame_decoding_differential() {
        let mut bases: Vec<Vec<u8>> = Vec::new();
        let v = load("content.json");
        for f in v["frames"].as_array().expect("frames") {
            bases.push(hb(f, "bytes"));
        }
        // Hand-made frames with two faults each (precedence probes).
        let mk = |kind: u8, d: u32, start: u8, body_len: u32, body: &[u8], total: usize| {
            let mut b = vec![0x01, kind];
            b.extend_from_slice(&1_750_000_000_000u64.to_be_bytes());
            b.extend_from_slice(&d.to_be_bytes());
            b.push(start);
            b.extend_from_slice(&7u32.to_be_bytes());
            b.extend_from_slice(&body_len.to_be_bytes());
            b.extend_from_slice(body);
            b.resize(total, 0);
            b
        };
        bases.push(mk(0x02, 0, 0x01, 0, b"", 256)); // off + on-read in a timer update
        bases.push(mk(0x02, 5, 0x00, 3, b"abc", 255)); // update with body + short padding
        bases.push(mk(0x02, 5, 0x00, 300, b"abc", 256)); // update with body + body past end
        bases.push(mk(0x01, 0, 0x01, 300, b"abc", 256)); // off+on-read + body past end
        bases.push(mk(0x01, 0, 0x02, 0, b"", 200)); // bad start + short padding
        bases.push(mk(0x09, 0, 0x02, 0, b"", 256)); // bad kind + bad start
        bases.push(mk(0x01, 0, 0x00, u32::MAX, b"", 256)); // body length u32::MAX
        bases.push(mk(0x01, 0, 0x00, 0, b"", 256 + 16)); // a larger bucket than needed
        let mut padded_nonzero = mk(0x02, 0, 0x00, 2, b"xy", 256);
        padded_nonzero[255] = 1; // update with body + non-zero padding
        bases.push(padded_nonzero);

        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for base in &bases {
            inputs.push(base.clone());
            for cut in 0..base.len().min(64) {
                inputs.push(base[..cut].to_vec());
            }
            for extra in [1, 15, 16, 256] {
                let mut b = base.clone();
                b.resize(base.len() + extra, 0);
                inputs.push(b);
            }
            for pos in 0..base.len().min(40) {
                for val in [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff] {
                    let mut b = base.clone();
                    b[pos] = val;
                    for cut in [15, 19, 23, 24, b.len() - 1, b.len()] {
                        inputs.push(b[..cut.min(b.len())].to_vec());
                    }
                }
            }
        }
        let mut disagreements = Vec::new();
        for input in &inputs {
            let ours = res(&frame::decode(input));
            let theirs = res(&lib_decode(input));
            if ours != theirs {
                disagreements.push(format!(
                    "{} (len {}): ours {ours}, library {theirs}",
                    hx(&input[..input.len().min(27)]),
                    input.len()
                ));
            }
        }
        assert!(inputs.len() > 10_000);
        assert!(
            disagreements.is_empty(),
            "{} disagreements, e.g.\n{}",
            disagreements.len(),
            disagreements[..disagreements.len().min(10)].join("\n")
        );
    }

    /// A canonically padded frame longer than 2^20 bytes is `TooLarge` before anything else
    /// (§8.2), as is any input over 2^20 bytes, even one whose first byte is wrong.
    #[test]
    fn oversized_frame_decoding_matches_library() {
        let body_len = libc::max_body_len() + 1;
        let total = frame::pad(frame::HEADER_LEN + body_len);
        assert!(total > frame::MAX_FRAME_LEN);
        let mut b = vec![0x01, 0x01];
        b.extend_from_slice(&0u64.to_be_bytes());
        Timer::OFF.encode(&mut b);
        b.extend_from_slice(&(body_len as u32).to_be_bytes());
        b.resize(frame::HEADER_LEN + body_len, 0x61);
        b.resize(total, 0);
        assert_eq!(res(&frame::decode(&b)), "TooLarge");
        assert_eq!(res(&frame::decode(&b)), res(&lib_decode(&b)));
        for len in [frame::MAX_FRAME_LEN, frame::MAX_FRAME_LEN + 1] {
            let junk = vec![0xffu8; len];
            let want = if len > frame::MAX_FRAME_LEN {
                "TooLarge"
            } else {
                "UnknownVersion(255)"
            };
            assert_eq!(res(&frame::decode(&junk)), want);
            assert_eq!(res(&lib_decode(&junk)), want);
        }
    }

    #[test]
    fn frame_encoding_errors_match_library() {
        let body_max = libc::max_body_len();
        let timers = [
            Timer::OFF,
            Timer {
                duration_s: 0,
                start: Start::OnRead,
                version: 3,
            },
            Timer {
                duration_s: 9,
                start: Start::OnRead,
                version: 3,
            },
        ];
        for kind in [Kind::Message, Kind::TimerUpdate] {
            for timer in timers {
                for len in [0, 1, body_max, body_max + 1] {
                    let f = Frame {
                        kind,
                        sent_at_ms: 5,
                        timer,
                        body: vec![0x61; len],
                    };
                    let ours = frame::encode(&f);
                    let theirs = lib_content(&f).to_padded_bytes();
                    assert_eq!(
                        res(&ours.as_ref().map(|b| hx(&b[..32]))),
                        res(&theirs.as_ref().map(|b| hx(&b[..32]))),
                        "{kind:?} {timer:?} body {len}"
                    );
                    if let (Ok(a), Ok(b)) = (&ours, &theirs) {
                        assert_eq!(a, b);
                    }
                }
            }
        }
    }

    /// Replays `session_flow` from its setup: every wire byte, result, error, purge count, timer
    /// and state blob.
    #[test]
    fn session_flow_replay() {
        let v = load("content.json");
        let f = &v["session_flow"];
        let alice = Identity::from_seed(h32(s(f, "alice_identity_seed")));
        let bob = Identity::from_seed(h32(s(f, "bob_identity_seed")));
        let ctx = hb(f, "context");
        let mut store = Store::decode(&hb(f, "bob_prekey_store")).expect("store");
        assert_state(
            &store.encode(),
            s(f, "bob_prekey_store"),
            "bob_prekey_store",
        );
        let bundle = hb(f, "bundle");
        let opk = n(f, "one_time_prekey_id") as u32;
        assert_eq!(hx(&store.bundle(&bob, Some(opk))), s(f, "bundle"));
        let mut rng = Rng::script(draws(&f["initiate_rng_draws"]));
        let mut a = Session::initiate(&mut rng, &alice, &bundle, &ctx).expect("initiate");
        assert!(rng.exhausted());
        assert_state(
            &a.encode(),
            s(f, "alice_state_initial"),
            "alice_state_initial",
        );
        let mut b: Option<Session> = None;
        let mut wires: HashMap<String, Vec<u8>> = HashMap::new();
        let events = f["events"].as_array().expect("events");
        assert_eq!(events.len(), 24);
        let mut purged_total = 0;
        for e in events {
            let step = n(e, "step");
            let now = u64d(e, "now_ms");
            let is_alice = s(e, "actor") == "alice";
            let blob = |x: &Option<&mut Session>| x.as_ref().map(|x| x.encode());
            {
                let me = if is_alice { Some(&mut a) } else { b.as_mut() };
                let what = format!("step {step}: state_before");
                assert_state_opt(blob(&me).as_deref(), e["state_before"].as_str(), &what);
            }
            match s(e, "action") {
                "send" | "set_timer" => {
                    let me = if is_alice {
                        &mut a
                    } else {
                        b.as_mut().expect("bob")
                    };
                    let mut rng = Rng::script(draws(&e["rng_draws"]));
                    let wire = if s(e, "action") == "send" {
                        me.send(&mut rng, now, &hb(e, "body"))
                    } else {
                        let start = match s(e, "start") {
                            "on_send" => Start::OnSend,
                            _ => Start::OnRead,
                        };
                        me.set_timer(&mut rng, now, n(e, "duration_s") as u32, start)
                    }
                    .expect("send");
                    assert!(rng.exhausted(), "step {step}: draws");
                    assert_eq!(hx(&wire), s(e, "wire"), "step {step}: wire");
                    assert_eq!(me.timer, timer_from_json(&e["timer_after"]));
                    wires.insert(s(e, "message").to_string(), wire);
                }
                "receive" => {
                    let wire = wires[s(e, "message")].clone();
                    let result: Result<Received, _> = if s(e, "operation") == "Session::accept" {
                        let before = s(e, "prekey_store_before");
                        assert_state(&store.encode(), before, "prekey_store_before");
                        let r = Session::accept(&bob, &mut store, &wire, &ctx, now);
                        let after = s(e, "prekey_store_after");
                        assert_state(&store.encode(), after, "prekey_store_after");
                        r.map(|(session, received)| {
                            b = Some(session);
                            received
                        })
                    } else {
                        let me = if is_alice {
                            &mut a
                        } else {
                            b.as_mut().expect("bob")
                        };
                        me.receive(&wire, now)
                    };
                    match (&result, e["error"].as_str()) {
                        (Ok(r), None) => assert_eq!(received_json(r), e["result"], "step {step}"),
                        (Err(err), Some(want)) => assert_eq!(format!("{err:?}"), want),
                        (other, want) => panic!("step {step}: got {other:?}, want {want:?}"),
                    }
                    let me = if is_alice {
                        &a
                    } else {
                        b.as_ref().expect("bob")
                    };
                    assert_eq!(me.timer, timer_from_json(&e["timer_after"]), "step {step}");
                }
                "purge" => {
                    let me = if is_alice {
                        &mut a
                    } else {
                        b.as_mut().expect("bob")
                    };
                    let purged = me.purge(now);
                    assert_eq!(purged as u64, n(e, "purged"), "step {step}");
                    purged_total += purged;
                }
                other => panic!("action {other}"),
            }
            let me = if is_alice { Some(&mut a) } else { b.as_mut() };
            let what = format!("step {step}: state_after");
            assert_state_opt(blob(&me).as_deref(), e["state_after"].as_str(), &what);
        }
        assert_eq!(purged_total, 1);
    }

    #[test]
    fn negative_receive_vectors() {
        let v = load("negative.json");
        let mut count = 0;
        for e in v["entries"].as_array().expect("entries") {
            if s(e, "operation") != "Session::receive" {
                continue;
            }
            count += 1;
            let input = &e["input"];
            let mut session = Session::decode(&hb(input, "session")).expect("session blob");
            let got = session.receive(&hb(input, "message"), u64d(input, "now_ms"));
            assert_eq!(
                format!("{:?}", got.expect_err("fails")),
                s(e, "expected_error")
            );
            assert_state(&session.encode(), s(e, "session_after"), s(e, "name"));
        }
        assert_eq!(count, 2);
    }

    // ----- the two implementations side by side -----

    /// One party in both implementations.
    struct Party {
        mine: Option<Session>,
        lib: Option<lib::Session>,
        id: Identity,
        lib_id: lib::IdentityKeyPair,
        clock_skew: i64,
    }

    impl Party {
        fn check(&self, what: &str) {
            match (&self.mine, &self.lib) {
                (None, None) => {}
                (Some(m), Some(l)) => {
                    assert_eq!(
                        hx(&m.encode()),
                        hx(&l.to_bytes().unwrap()),
                        "{what}: state blobs"
                    );
                    assert_eq!(m.timer, from_lib_timer(&l.timer()), "{what}: timer");
                }
                _ => panic!("{what}: one implementation has a session, the other not"),
            }
        }

        fn now(&self, clock: u64) -> u64 {
            clock.saturating_add_signed(self.clock_skew)
        }
    }

    fn lib_store_to_mine(store: &lib::PreKeyStore) -> Store {
        let blob = store.to_bytes().unwrap();
        let mine = Store::decode(&blob).expect("store");
        assert_eq!(mine.encode(), *blob);
        mine
    }

    /// Alice and Bob each run both implementations with the same RNG bytes; every message is
    /// delivered (out of order, late, replayed) to both. Wire bytes, results, errors, purge
    /// counts and state blobs must be identical at every step.
    #[test]
    fn session_differential_with_library() {
        for (seed, steps) in [(1u64, 400), (2, 400), (3, 400)] {
            run_differential(seed, steps);
        }
    }

    fn run_differential(seed: u64, steps: usize) {
        let mut pick = Choice(0x9e37_79b9_7f4a_7c15 ^ seed);
        let mk_party = |s: u8| {
            let seed = [s; 32];
            Party {
                mine: None,
                lib: None,
                id: Identity::from_seed(seed),
                lib_id: lib::IdentityKeyPair::from_seed(&seed),
                clock_skew: 0,
            }
        };
        let mut alice = mk_party(0xa0 + seed as u8);
        let mut bob = mk_party(0xb0 + seed as u8);
        let ctx = b"alice|bob".to_vec();
        let mut lib_store = lib::PreKeyStore::new();
        let mut rng = Rng::stream(seed << 32);
        lib_store.rotate_signed_prekey(&mut rng, &bob.lib_id, 1_750_000_000_000);
        lib_store
            .generate_one_time_prekeys(&mut rng, 2)
            .expect("prekeys");
        let mut store = lib_store_to_mine(&lib_store);
        let opk = if seed.is_multiple_of(2) {
            None
        } else {
            Some(1)
        };
        let lib_bundle = lib_store.bundle(&bob.lib_id, opk).expect("bundle");
        let bundle = store.bundle(&bob.id, opk);
        assert_eq!(lib_bundle.to_bytes(), bundle);

        alice.mine = Some(
            Session::initiate(&mut Rng::stream((seed << 32) | 1), &alice.id, &bundle, &ctx)
                .expect("initiate"),
        );
        alice.lib = Some(
            lib::Session::initiate(
                &mut Rng::stream((seed << 32) | 1),
                &alice.lib_id,
                &lib_bundle,
                lib::Trust::FirstUse,
                &lib::Config::new(&ctx),
            )
            .expect("initiate"),
        );
        alice.check("initiate");

        let mut clock: u64 = 1_750_000_000_000;
        // (wire, to_bob, delivered)
        let mut flight: Vec<(Vec<u8>, bool, bool)> = Vec::new();
        let durations = [0u32, 1, 10, 60, 3600, u32::MAX];
        let (mut delivered, mut expired, mut purged) = (0, 0, 0);
        for step in 0..steps {
            let what = format!("seed {seed} step {step}");
            let label = (seed << 32) | (step as u64 + 2);
            match pick.below(12) {
                // Send or change the timer (Bob only once he has a session).
                op @ 0..=4 => {
                    let from_alice = op < 3 || bob.mine.is_none();
                    let p = if from_alice { &mut alice } else { &mut bob };
                    let now = p.now(clock);
                    let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
                    let (w1, w2) = if pick.below(4) == 0 {
                        let d = durations[pick.below(durations.len())];
                        let start = if pick.below(2) == 0 {
                            Start::OnSend
                        } else {
                            Start::OnRead
                        };
                        (
                            m.set_timer(&mut Rng::stream(label), now, d, start),
                            l.set_timer(&mut Rng::stream(label), now, d, to_lib_start(start)),
                        )
                    } else {
                        let body = vec![step as u8; pick.below(300)];
                        (
                            m.send(&mut Rng::stream(label), now, &body),
                            l.send(&mut Rng::stream(label), now, &body),
                        )
                    };
                    assert_eq!(
                        res(&w1.as_ref().map(|w| hx(w))),
                        res(&w2.as_ref().map(|w| hx(w))),
                        "{what}"
                    );
                    flight.push((w1.expect("sent"), from_alice, false));
                    p.check(&what);
                }
                // Deliver a message not yet delivered, or (op 8) replay one.
                op @ 5..=8 => {
                    let candidates: Vec<usize> = (0..flight.len())
                        .filter(|&i| flight[i].2 == (op == 8))
                        .collect();
                    if candidates.is_empty() {
                        continue;
                    }
                    let i = candidates[pick.below(candidates.len())];
                    flight[i].2 = true;
                    let (wire, to_bob) = (flight[i].0.clone(), flight[i].1);
                    let p = if to_bob { &mut bob } else { &mut alice };
                    let now = p.now(clock);
                    let (ours, theirs) = if let (Some(m), Some(l)) = (&mut p.mine, &mut p.lib) {
                        let ours = m.receive(&wire, now);
                        let theirs = l.receive(&wire, now);
                        (ours, lib_outcome(theirs))
                    } else {
                        let ours = Session::accept(&p.id, &mut store, &wire, &ctx, now);
                        let theirs = lib::Session::accept(
                            &p.lib_id,
                            &mut lib_store,
                            &wire,
                            &lib::Config::new(&ctx),
                            now,
                        );
                        assert_eq!(lib_store_to_mine(&lib_store), store, "{what}: store");
                        let ours = ours.map(|(s, r)| {
                            p.mine = Some(s);
                            r
                        });
                        let theirs = theirs.map(|(s, r)| {
                            p.lib = Some(s);
                            from_lib_received(&r)
                        });
                        (ours, theirs)
                    };
                    assert_eq!(res(&ours), res(&theirs), "{what}");
                    delivered += usize::from(ours.is_ok());
                    expired += usize::from(ours == Err(super::dr::Error::Expired));
                    p.check(&what);
                }
                // Time passes; the clocks drift.
                9 | 10 => {
                    clock += [1_000, 30_000, 400_000, 700_000, 4_000_000][pick.below(5)];
                    let skews = [0i64, 0, 200_000, -200_000, 3_600_000, -3_600_000];
                    alice.clock_skew = skews[pick.below(skews.len())];
                }
                // Purge.
                _ => {
                    for p in [&mut alice, &mut bob] {
                        let now = p.now(clock);
                        if let (Some(m), Some(l)) = (p.mine.as_mut(), p.lib.as_mut()) {
                            let (a, b) = (m.purge(now), l.purge(now));
                            assert_eq!(a, b, "{what}: purge");
                            purged += a;
                            p.check(&what);
                        }
                    }
                }
            }
        }
        // The run must have exercised the interesting paths.
        assert!(delivered > 30, "seed {seed}: {delivered} delivered");
        assert!(expired > 0, "seed {seed}: nothing expired");
        let _ = purged;
    }

    /// §8.3: at version 2^32 − 1 `set_timer` is `TimerVersionExhausted` and changes nothing.
    #[test]
    fn timer_version_exhaustion_matches_library() {
        let v = load("content.json");
        let f = &v["session_flow"];
        let alice = Identity::from_seed(h32(s(f, "alice_identity_seed")));
        let mut mine = Session::initiate(
            &mut Rng::script(draws(&f["initiate_rng_draws"])),
            &alice,
            &hb(f, "bundle"),
            &hb(f, "context"),
        )
        .expect("initiate");
        mine.timer = Timer {
            duration_s: 60,
            start: Start::OnSend,
            version: u32::MAX - 1,
        };
        let mut theirs = lib::Session::from_bytes(&mine.encode()).expect("library loads our blob");
        for (i, (d, start)) in [(30, Start::OnRead), (10, Start::OnSend), (0, Start::OnRead)]
            .into_iter()
            .enumerate()
        {
            let a = mine.set_timer(&mut Rng::stream(i as u64), 7, d, start);
            let b = theirs.set_timer(&mut Rng::stream(i as u64), 7, d, to_lib_start(start));
            assert_eq!(res(&a), res(&b));
            assert_eq!(a.is_err(), i > 0, "only the first change fits");
            assert_eq!(mine.timer.version, u32::MAX);
            assert_eq!(hx(&mine.encode()), hx(&theirs.to_bytes().unwrap()));
        }
        assert_eq!(
            mine.timer,
            Timer {
                duration_s: 30,
                start: Start::OnRead,
                version: u32::MAX
            }
        );
        // Failing, neither draws from the RNG (a script with no draws panics on any).
        assert!(
            mine.set_timer(&mut Rng::script(Vec::new()), 8, 5, Start::OnSend)
                .is_err()
        );
        assert!(
            theirs
                .set_timer(&mut Rng::script(Vec::new()), 8, 5, lib::TimerStart::OnSend)
                .is_err()
        );
    }

    /// `accept` (§8.5 around §7.3 and the first-message record of §4.3/§3.6/§10.2), both
    /// implementations: replays in any encoding of the base key, a full record, an oversized
    /// context, expired and malformed first messages, and a version-1 store.
    #[test]
    fn accept_check_order_matches_library() {
        use curve25519_dalek::{constants::EIGHT_TORSION, montgomery::MontgomeryPoint};
        let bob = Identity::from_seed([0x42; 32]);
        let lib_bob = lib::IdentityKeyPair::from_seed(&bob.seed);
        let alice = Identity::from_seed([0x41; 32]);
        let mut lib_store = lib::PreKeyStore::new();
        lib_store.rotate_signed_prekey(&mut Rng::stream(70), &lib_bob, 1_750_000_000_000);
        let store0 = lib_store_to_mine(&lib_store);
        let bundle = store0.bundle(&bob, None);
        let ctx = b"ctx".to_vec();
        let big_ctx = vec![0u8; 1025];
        let now = 1_750_000_000_000;
        let run = |store: &Store, msg: &[u8], ctx: &[u8], now: u64| -> (String, Store) {
            let mut mine = store.clone();
            let mut theirs = lib::PreKeyStore::from_bytes(&store.encode()).expect("store");
            let a =
                Session::accept(&bob, &mut mine, msg, ctx, now).map(|(s, r)| (hx(&s.encode()), r));
            let b = lib::Session::accept(&lib_bob, &mut theirs, msg, &lib::Config::new(ctx), now)
                .map(|(s, r)| (hx(&s.to_bytes().unwrap()), from_lib_received(&r)));
            assert_eq!(res(&a), res(&b));
            assert_eq!(lib_store_to_mine(&theirs), mine);
            if a.is_err() {
                assert_eq!(&mine, store, "a failed accept leaves the store unchanged");
            }
            (res(&a).chars().take(40).collect(), mine)
        };
        let mut a =
            Session::initiate(&mut Rng::stream(71), &alice, &bundle, &ctx).expect("initiate");
        let first = a.send(&mut Rng::stream(72), now, b"first").expect("send");
        let (r, s1) = run(&store0, &first, &ctx, now + 1);
        assert!(r.starts_with("Ok"), "{r}");
        assert_eq!(s1.signed[0].accepted.len(), 1);
        // Raw respond agrees with the library too.
        let mut theirs = lib::PreKeyStore::from_bytes(&store0.encode()).expect("store");
        let mut mine = store0.clone();
        let (ms, mp) = Session::respond(&bob, &mut mine, &first, &ctx).expect("respond");
        let (ls, lp) =
            lib::Session::respond(&lib_bob, &mut theirs, &first, &lib::Config::new(&ctx))
                .expect("respond");
        assert_eq!((hx(&ms.encode()), mp), (hx(&ls.to_bytes().unwrap()), lp));
        assert_eq!(lib_store_to_mine(&theirs), mine);

        assert_eq!(run(&s1, &first, &ctx, now + 2).0, "DuplicateMessage");
        // Which comes first, a replay or an oversized context?
        assert_eq!(run(&s1, &first, &big_ctx, now + 2).0, "DuplicateMessage");
        assert_eq!(run(&store0, &first, &big_ctx, now + 2).0, "TooLarge");
        // A torsion variant of the base key: same first-message id, different AAD.
        let p = MontgomeryPoint(first[34..66].try_into().expect("32"))
            .to_edwards(0)
            .expect("on the curve");
        for t in &EIGHT_TORSION[1..] {
            let mut variant = first.clone();
            variant[34..66].copy_from_slice(&(p + t).to_montgomery().to_bytes());
            assert_eq!(run(&s1, &variant, &ctx, now + 2).0, "DuplicateMessage");
            assert_eq!(run(&store0, &variant, &ctx, now + 2).0, "DecryptionFailed");
        }
        // A full record (4096 ids), without and with the replayed id in it.
        let mut full = store0.clone();
        full.signed[0].accepted = (0..4096u32).map(prim_id).collect();
        full.signed[0].accepted.sort_unstable();
        assert_eq!(run(&full, &first, &ctx, now + 2).0, "SignedPreKeyFull(0)");
        let mut full_with = s1.clone();
        full_with.signed[0]
            .accepted
            .extend((0..4095u32).map(prim_id));
        full_with.signed[0].accepted.sort_unstable();
        assert_eq!(run(&full_with, &first, &ctx, now + 2).0, "DuplicateMessage");
        // Expired and malformed first messages create nothing; a later one still works.
        let mut a2 =
            Session::initiate(&mut Rng::stream(73), &alice, &bundle, &ctx).expect("initiate");
        let timer = a2
            .set_timer(&mut Rng::stream(74), now, 1, Start::OnSend)
            .expect("timer");
        let later = a2
            .send(&mut Rng::stream(75), now + 400_000, b"later")
            .expect("send");
        assert_eq!(run(&store0, &timer, &ctx, now + 400_000).0, "Expired");
        let raw = a2
            .encrypt(&mut Rng::stream(76), b"not a frame")
            .expect("encrypt");
        assert_eq!(
            run(&store0, &raw, &ctx, now + 400_000).0,
            "InvalidContent(UnknownVersion(110))"
        );
        assert!(
            run(&store0, &later, &ctx, now + 400_001)
                .0
                .starts_with("Ok")
        );
        // §8.6 for a first message that skips keys: Alice changes the timer (N = 0) and sends
        // (N = 1); Bob accepts N = 1 first. The skipped key records `skipped_at = now` (both
        // blobs are compared inside `run`); the session's timer after the first message (60 s,
        // carried by the frame) is the one its purge follows.
        let mut a3 =
            Session::initiate(&mut Rng::stream(77), &alice, &bundle, &ctx).expect("initiate");
        a3.set_timer(&mut Rng::stream(78), now, 60, Start::OnSend)
            .expect("timer");
        let second = a3.send(&mut Rng::stream(79), now, b"second").expect("send");
        let mut mine = store0.clone();
        let (bob_session, r) =
            Session::accept(&bob, &mut mine, &second, &ctx, now).expect("accept");
        assert!(r.timer_changed);
        assert_eq!(bob_session.skipped().len(), 1);
        assert_eq!(bob_session.skipped()[0].skipped_at, now);
        assert!(run(&store0, &second, &ctx, now).0.starts_with("Ok"));
        let mut lib_store = lib::PreKeyStore::from_bytes(&store0.encode()).expect("store");
        let (mut lib_session, _) = lib::Session::accept(
            &lib_bob,
            &mut lib_store,
            &second,
            &lib::Config::new(&ctx),
            now,
        )
        .expect("accept");
        let bound = now + 60_000 + 600_000;
        for (t, want) in [(bound, 0), (bound + 1, 1)] {
            let mut mine = bob_session.clone();
            let mut theirs =
                lib::Session::from_bytes(&lib_session.to_bytes().unwrap()).expect("blob");
            assert_eq!(
                (mine.purge(t), theirs.purge(t)),
                (want, want),
                "purge at {t}"
            );
            assert_eq!(hx(&mine.encode()), hx(&theirs.to_bytes().unwrap()));
        }
        assert_eq!(lib_session.purge(bound + 1), 1);
        // A version-1 store with the first message's base key in its seen list (§10.2 migration),
        // written by the reference codec.
        let v1 = store0.encode_v1(&[first[34..66].try_into().expect("32")]);
        assert_eq!(v1[1], 0x01);
        let migrated = Store::decode(&v1).expect("v1 store");
        let lib_migrated = lib::PreKeyStore::from_bytes(&v1).expect("library reads v1");
        assert_eq!(
            hx(&lib_migrated.to_bytes().unwrap()),
            hx(&migrated.encode())
        );
        assert_eq!(migrated, s1, "the migrated record is the one accept writes");
        assert_eq!(run(&migrated, &first, &ctx, now + 2).0, "DuplicateMessage");
    }

    // ----- §8.6 purge across timer changes, both implementations -----

    /// `send` by both implementations of `p` with the same RNG bytes; the wires must agree.
    fn send_both(p: &mut Party, label: u64, now: u64, body: &[u8]) -> Vec<u8> {
        let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
        let a = m.send(&mut Rng::stream(label), now, body).expect("send");
        let b = l.send(&mut Rng::stream(label), now, body).expect("send");
        assert_eq!(hx(&a), hx(&b));
        p.check("send");
        a
    }

    fn set_timer_both(p: &mut Party, label: u64, now: u64, d: u32, start: Start) -> Vec<u8> {
        let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
        let a = m
            .set_timer(&mut Rng::stream(label), now, d, start)
            .expect("set_timer");
        let b = l
            .set_timer(&mut Rng::stream(label), now, d, to_lib_start(start))
            .expect("set_timer");
        assert_eq!(hx(&a), hx(&b));
        p.check("set_timer");
        a
    }

    /// `receive` by both; results, errors and blobs must agree.
    fn receive_both(p: &mut Party, wire: &[u8], now: u64) -> Result<Received, super::dr::Error> {
        let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
        let a = m.receive(wire, now);
        let b = lib_outcome(l.receive(wire, now));
        assert_eq!(res(&a), res(&b));
        p.check("receive");
        a
    }

    /// Raw `decrypt` by both (keys it skips have no skip time).
    fn decrypt_both(p: &mut Party, wire: &[u8]) {
        let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
        let a = m.decrypt_with(wire, u64::MAX);
        let b = l.decrypt(wire);
        assert_eq!(res(&a), res(&b));
        a.expect("decrypt");
        p.check("decrypt");
    }

    fn purge_both(p: &mut Party, now: u64) -> usize {
        let (m, l) = (p.mine.as_mut().expect("s"), p.lib.as_mut().expect("s"));
        let (a, b) = (m.purge(now), l.purge(now));
        assert_eq!(a, b, "purge at {now}");
        p.check("purge");
        a
    }

    /// A copy of `p` (the library's session through its blob).
    fn fork(p: &Party) -> Party {
        Party {
            mine: p.mine.clone(),
            lib: p
                .lib
                .as_ref()
                .map(|l| lib::Session::from_bytes(&l.to_bytes().unwrap()).expect("blob")),
            id: p.id.clone(),
            lib_id: lib::IdentityKeyPair::from_seed(&p.id.seed),
            clock_skew: 0,
        }
    }

    fn skip_times(p: &Party) -> Vec<u64> {
        let m = p.mine.as_ref().expect("s");
        m.skipped().iter().map(|e| e.skipped_at).collect()
    }

    /// Alice and Bob, each in both implementations, with a session established at `now` (Bob
    /// accepted Alice's first message, Alice received Bob's reply).
    fn established_pair(seed: u8, now: u64) -> (Party, Party) {
        let mk = |s: u8| Party {
            mine: None,
            lib: None,
            id: Identity::from_seed([s; 32]),
            lib_id: lib::IdentityKeyPair::from_seed(&[s; 32]),
            clock_skew: 0,
        };
        let (mut alice, mut bob) = (mk(seed), mk(seed ^ 0x80));
        let ctx = b"purge".to_vec();
        let label = u64::from(seed) << 40;
        let mut lib_store = lib::PreKeyStore::new();
        lib_store.rotate_signed_prekey(&mut Rng::stream(label), &bob.lib_id, 1_750_000_000_000);
        let mut store = lib_store_to_mine(&lib_store);
        let bundle = store.bundle(&bob.id, None);
        let lib_bundle = lib_store.bundle(&bob.lib_id, None).expect("bundle");
        alice.mine = Some(
            Session::initiate(&mut Rng::stream(label | 1), &alice.id, &bundle, &ctx)
                .expect("initiate"),
        );
        alice.lib = Some(
            lib::Session::initiate(
                &mut Rng::stream(label | 1),
                &alice.lib_id,
                &lib_bundle,
                lib::Trust::FirstUse,
                &lib::Config::new(&ctx),
            )
            .expect("initiate"),
        );
        let first = send_both(&mut alice, label | 2, now, b"first");
        let (s, r) = Session::accept(&bob.id, &mut store, &first, &ctx, now).expect("accept");
        let (ls, lr) = lib::Session::accept(
            &bob.lib_id,
            &mut lib_store,
            &first,
            &lib::Config::new(&ctx),
            now,
        )
        .expect("accept");
        assert_eq!(r, from_lib_received(&lr));
        bob.mine = Some(s);
        bob.lib = Some(ls);
        bob.check("accept");
        let reply = send_both(&mut bob, label | 3, now, b"reply");
        receive_both(&mut alice, &reply, now).expect("reply");
        (alice, bob)
    }

    /// §8.6: `purge` bounds a skipped key by the session's timer *at the time of the purge*,
    /// from the key's skip time. The timer changing between the skip and the purge: turned on
    /// (by a frame that was itself skipped, or one that arrives later), the keys become
    /// purgeable; turned off or longer, they are kept. Keys skipped by a raw `decrypt` are never
    /// purged. Both implementations agree on every count, result and blob.
    #[test]
    fn purge_follows_the_timer_at_purge_time() {
        let t0 = 1_750_000_000_000;
        let skew2 = 2 * frame::MAX_CLOCK_SKEW_MS;

        // (1) Off at the skip, on at the purge: m0 is skipped at t while the timer is off;
        // nothing is purged while it stays off; once the timer-on frame has applied, m0's key
        // goes right after t + 60 s + 2 · skew.
        let (mut alice, mut bob) = established_pair(0x31, t0);
        let m0 = send_both(&mut alice, 10, t0, b"m0");
        let m1 = send_both(&mut alice, 11, t0, b"m1");
        let on = set_timer_both(&mut alice, 12, t0, 60, Start::OnSend);
        let t = t0 + 1_000;
        receive_both(&mut bob, &m1, t).expect("m1");
        assert_eq!(skip_times(&bob), [t]);
        assert_eq!(
            purge_both(&mut bob, u64::MAX),
            0,
            "timer off: nothing purged"
        );
        let r = receive_both(&mut bob, &on, t + 5).expect("timer on");
        assert!(r.timer_changed);
        let bound = t + 60_000 + skew2;
        assert_eq!(purge_both(&mut bob, bound), 0);
        // Kept until then, m0 would already be refused as expired past the bound (§8.5).
        let mut late = fork(&bob);
        assert_eq!(res(&receive_both(&mut late, &m0, bound + 1)), "Expired");
        assert_eq!(purge_both(&mut bob, bound + 1), 1);
        assert_eq!(
            res(&receive_both(&mut bob, &m0, bound + 1)),
            "DuplicateMessage"
        );

        // (2) The frame that turns the timer on is among the skipped messages: Bob gets q2
        // (carrying the new timer) first; q0 (timer off) and q1 (the timer change) are skipped at
        // t under the timer that q2 then applies.
        let (mut alice, mut bob) = established_pair(0x32, t0);
        let q0 = send_both(&mut alice, 20, t0, b"q0");
        let q1 = set_timer_both(&mut alice, 21, t0, 30, Start::OnRead);
        let q2 = send_both(&mut alice, 22, t0, b"q2");
        receive_both(&mut bob, &q2, t).expect("q2");
        assert_eq!(skip_times(&bob), [t, t]);
        let bound = t + 30_000 + skew2;
        let mut early = fork(&bob);
        assert_eq!(purge_both(&mut early, bound), 0);
        let r = receive_both(&mut early, &q1, bound).expect("q1 in time");
        assert_eq!(r.deadline, Deadline::AfterRead(30_000));
        assert_eq!(
            purge_both(&mut bob, bound + 1),
            2,
            "on-read bounds skipped keys too"
        );
        for q in [&q0, &q1] {
            assert_eq!(
                res(&receive_both(&mut bob, q, bound + 1)),
                "DuplicateMessage"
            );
        }

        // (3) On at the skip, off at the purge: r0 is skipped under a 60 s timer; r2 turns it
        // off; r0's key is kept however late, and r0 (sent under 60 s) is judged on arrival.
        // s0, sent after the timer went off and skipped by s1, keeps its key and gets `Never`.
        let (mut alice, mut bob) = established_pair(0x33, t0);
        let on = set_timer_both(&mut alice, 30, t0, 60, Start::OnSend);
        receive_both(&mut bob, &on, t0).expect("on");
        let r0 = send_both(&mut alice, 31, t0, b"r0");
        let r1 = send_both(&mut alice, 32, t0, b"r1");
        let off = set_timer_both(&mut alice, 33, t0, 0, Start::OnSend);
        let s0 = send_both(&mut alice, 34, t0, b"s0");
        let s1 = send_both(&mut alice, 35, t0, b"s1");
        receive_both(&mut bob, &r1, t).expect("r1");
        assert_eq!(skip_times(&bob), [t]);
        let mut still_on = fork(&bob);
        assert_eq!(purge_both(&mut still_on, t + 60_000 + skew2 + 1), 1);
        receive_both(&mut bob, &s1, t + 10).expect("s1: timer off");
        let off_v2 = Timer {
            duration_s: 0,
            start: Start::OnSend,
            version: 2,
        };
        assert_eq!(bob.mine.as_ref().expect("s").timer, off_v2);
        assert_eq!(skip_times(&bob), [t, t + 10, t + 10]);
        let much_later = t + 30 * 86_400_000;
        assert_eq!(purge_both(&mut bob, much_later), 0, "timer off: all kept");
        assert_eq!(purge_both(&mut bob, u64::MAX), 0);
        let r = receive_both(&mut bob, &s0, much_later).expect("s0");
        assert_eq!(r.deadline, Deadline::Never);
        let r = receive_both(&mut bob, &off, much_later).expect("the timer change");
        assert_eq!(r.deadline, Deadline::Never);
        assert_eq!(res(&receive_both(&mut bob, &r0, much_later)), "Expired");

        // (4) Longer at the purge: a 60 s timer at the skip, one hour at the purge.
        let (mut alice, mut bob) = established_pair(0x34, t0);
        let on = set_timer_both(&mut alice, 40, t0, 60, Start::OnSend);
        receive_both(&mut bob, &on, t0).expect("on");
        let _p0 = send_both(&mut alice, 41, t0, b"p0");
        let p1 = send_both(&mut alice, 42, t0, b"p1");
        let longer = set_timer_both(&mut alice, 43, t0, 3600, Start::OnSend);
        receive_both(&mut bob, &p1, t).expect("p1");
        receive_both(&mut bob, &longer, t + 1).expect("longer");
        assert_eq!(purge_both(&mut bob, t + 60_000 + skew2 + 1), 0);
        assert_eq!(purge_both(&mut bob, t + 3_600_000 + skew2), 0);
        assert_eq!(purge_both(&mut bob, t + 3_600_000 + skew2 + 1), 1);

        // (5) Keys skipped by a raw `decrypt` have no skip time: never purged, timer on or not;
        // a `receive` later on the same session records its own.
        let (mut alice, mut bob) = established_pair(0x35, t0);
        let on = set_timer_both(&mut alice, 50, t0, 1, Start::OnSend);
        receive_both(&mut bob, &on, t0).expect("on");
        let w: Vec<Vec<u8>> = (0..4u64)
            .map(|i| send_both(&mut alice, 51 + i, t0, b"w"))
            .collect();
        decrypt_both(&mut bob, &w[1]);
        receive_both(&mut bob, &w[3], t).expect("w3");
        assert_eq!(skip_times(&bob), [u64::MAX, t]);
        assert_eq!(purge_both(&mut bob, u64::MAX), 1);
        assert_eq!(skip_times(&bob), [u64::MAX]);
    }

    fn prim_id(i: u32) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        id[4] = 0x5a;
        id
    }

    /// Frames this file builds, sent inside messages, are received by the library (and a
    /// malformed one is `InvalidContent` for both).
    #[test]
    fn library_receives_our_frames() {
        let v = load("content.json");
        let f = &v["session_flow"];
        let alice = Identity::from_seed(h32(s(f, "alice_identity_seed")));
        let bob_lib = lib::IdentityKeyPair::from_seed(&h32(s(f, "bob_identity_seed")));
        let ctx = hb(f, "context");
        let mut mine = Session::initiate(
            &mut Rng::script(draws(&f["initiate_rng_draws"])),
            &alice,
            &hb(f, "bundle"),
            &ctx,
        )
        .expect("initiate");
        let frames: Vec<Vec<u8>> = v["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .map(|x| hb(x, "bytes"))
            .collect();
        let mut store = lib::PreKeyStore::from_bytes(&hb(f, "bob_prekey_store")).expect("store");
        let first = mine
            .encrypt(&mut Rng::stream(1), &frames[0])
            .expect("encrypt");
        let (mut bob, r) = lib::Session::accept(
            &bob_lib,
            &mut store,
            &first,
            &lib::Config::new(&ctx),
            1_750_000_000_100,
        )
        .expect("accept");
        assert_eq!(from_lib_received(&r).body, b"");
        for (i, fr) in frames.iter().enumerate().skip(1) {
            let wire = mine
                .encrypt(&mut Rng::stream(i as u64 + 1), fr)
                .expect("encrypt");
            let want = frame::decode(fr).expect("decodes");
            let now = want.sent_at_ms + 1;
            let got = from_lib_received(
                &bob.receive(&wire, now)
                    .expect("receive")
                    .into_message()
                    .unwrap(),
            );
            assert_eq!(
                (got.kind, &got.body, got.sent_at_ms),
                (want.kind, &want.body, want.sent_at_ms)
            );
            assert_eq!(got.timer, want.timer);
            let effective = Timer::more_private(&want.timer, &from_lib_timer(&bob.timer()));
            assert_eq!(
                Some(got.deadline),
                frame::deadline(want.sent_at_ms, &effective, now)
            );
        }
        let bad = h("6e6f742061206672616d65");
        let wire = mine.encrypt(&mut Rng::stream(99), &bad).expect("encrypt");
        assert_eq!(
            format!("{:?}", bob.receive(&wire, 0).expect("authentic")),
            "Unreadable(UnknownVersion(110))"
        );
    }
}

/// §10.2/§10.3 blobs of state.json through the shared reference codec and the library: a
/// version-3 blob round trips byte for byte; an older one (version 1, or version 2 while
/// state.json predates state version 3) migrates to the same version-3 bytes in both, without
/// the secrets version 3 no longer keeps; a version-1 entry's `migrated` blob is what both give.
mod state_vectors {
    use super::dr::{Session, Store};
    use super::util::{assert_state, hb, hx, load, s};
    use xchat_protocol as lib;

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

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
                    let secret = super::dr::Session::decode(&bytes)
                        .expect("session")
                        .to_blob()
                        .sending()
                        .map(|s| s.dhs.secret);
                    if let Some(secret) = secret {
                        assert!(super::prim::is_clamped(&secret), "{name}");
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
}

/// §9 against sealed_sender.json and the library.
mod section_9_sealed {
    use super::bridge::*;
    use super::dr::{Session, Store};
    use super::prim::{self, Identity};
    use super::sealed::{self, SealedError, SenderCert, ServerCert};
    use super::util::{Rng, assert_state, draws, h32, hb, hx, load, n, s, u64d};
    use serde_json::Value;
    use xchat_protocol as lib;
    use xchat_protocol::sealed_sender as libs;

    /// Everything of sealed_sender.json's setup, in both implementations.
    struct World {
        v: Value,
        root_seed: [u8; 32],
        root: [u8; 32],
        server_seed: [u8; 32],
        server_cert: ServerCert,
        alice: Identity,
        bob: Identity,
        alice_cert: SenderCert,
        bob_cert: SenderCert,
        ctx: Vec<u8>,
        store: Store,
        alice_session: Session,
        lib_alice: lib::IdentityKeyPair,
        lib_bob: lib::IdentityKeyPair,
        lib_roots: Vec<lib::CertificateKey>,
    }

    fn world() -> World {
        let v = load("sealed_sender.json");
        let st = &v["setup"];
        let root_seed = h32(s(st, "trust_root_seed"));
        let server_seed = h32(s(st, "server_seed"));
        let root = prim::ed_public(&root_seed);
        assert_eq!(hx(&root), s(st, "trust_root_public"));
        let server = prim::ed_public(&server_seed);
        assert_eq!(hx(&server), s(st, "server_public"));
        let sc = &st["server_certificate"];
        let server_cert = ServerCert::issue(&root_seed, n(sc, "id") as u32, server);
        let issue = |who: &str| {
            let p = &st[who];
            let id = Identity::from_seed(h32(s(p, "identity_seed")));
            assert_eq!(hx(&id.public), s(p, "identity_public"));
            assert_eq!(hx(&id.x_secret), s(p, "identity_x25519_secret"));
            assert_eq!(hx(&id.x_public), s(p, "identity_x25519_public"));
            let c = &p["certificate"];
            assert_eq!(n(c, "server_id") as u32, server_cert.id);
            assert_eq!(s(c, "identity"), s(p, "identity_public"));
            let cert = SenderCert::issue(
                &server_seed,
                &server_cert,
                &hb(c, "address"),
                n(c, "device_id") as u32,
                id.public,
                u64d(c, "expires_ms"),
            )
            .expect("issue");
            (id, cert)
        };
        let (alice, alice_cert) = issue("alice");
        let (bob, bob_cert) = issue("bob");
        let store = Store::decode(&hb(st, "bob_prekey_store")).expect("store");
        assert_state(
            &store.encode(),
            s(st, "bob_prekey_store"),
            "bob_prekey_store",
        );
        let opk = n(st, "one_time_prekey_id") as u32;
        let bundle = store.bundle(&bob, Some(opk));
        assert_eq!(hx(&bundle), s(st, "bundle"));
        let ctx = hb(st, "context");
        let mut rng = Rng::script(draws(&st["initiate_rng_draws"]));
        let alice_session = Session::initiate(&mut rng, &alice, &bundle, &ctx).expect("initiate");
        assert!(rng.exhausted());
        let initial = s(st, "alice_state_initial");
        assert_state(&alice_session.encode(), initial, "alice_state_initial");
        let lib_roots = vec![lib::CertificateKey::from_bytes(root).expect("root")];
        World {
            lib_alice: lib::IdentityKeyPair::from_seed(&alice.seed),
            lib_bob: lib::IdentityKeyPair::from_seed(&bob.seed),
            v,
            root_seed,
            root,
            server_seed,
            server_cert,
            alice,
            bob,
            alice_cert,
            bob_cert,
            ctx,
            store,
            alice_session,
            lib_roots,
        }
    }

    fn lib_open(
        w: &World,
        recipient: &lib::IdentityKeyPair,
        revoked: &[u32],
        env: &[u8],
        now: u64,
    ) -> Result<lib::Opened, lib::SealedSenderError> {
        lib::SealedRecipient {
            identity: recipient,
            trust_roots: &w.lib_roots,
            revoked_servers: revoked,
        }
        .open(env, now)
    }

    /// `open` of both implementations, as comparable strings.
    fn both_open(
        w: &World,
        recipient: &Identity,
        revoked: &[u32],
        env: &[u8],
        now: u64,
    ) -> (String, String) {
        let lib_recipient = lib::IdentityKeyPair::from_seed(&recipient.seed);
        let ours = sealed::open(recipient, &[w.root], revoked, env, now).map(|o| {
            (
                hx(&o.sender.encode()),
                hx(&o.message),
                o.is_prekey_message(),
            )
        });
        let theirs = lib_open(w, &lib_recipient, revoked, env, now).map(|o| {
            (
                hx(&o.sender().to_bytes().unwrap()),
                String::new(),
                o.is_prekey_message(),
            )
        });
        // The library does not expose the message; compare it through decrypt/respond elsewhere.
        let ours = ours.map(|(c, _, p)| (c, String::new(), p));
        (res(&ours), res(&theirs))
    }

    #[test]
    fn certificate_vectors() {
        let w = world();
        let st = &w.v["setup"];
        let sc = &st["server_certificate"];
        assert_eq!(
            hx(&ServerCert::signed_bytes(
                w.server_cert.id,
                &w.server_cert.key
            )),
            s(sc, "signed_bytes")
        );
        assert_eq!(hx(&w.server_cert.encode()), s(sc, "bytes"));
        assert_eq!(w.server_cert.encode().len(), sealed::SERVER_CERTIFICATE_LEN);
        assert_eq!(
            ServerCert::decode(&hb(sc, "bytes")),
            Ok(w.server_cert.clone())
        );
        for (who, cert) in [("alice", &w.alice_cert), ("bob", &w.bob_cert)] {
            let p = &st[who];
            assert_eq!(hx(&cert.signed_bytes()), s(p, "certificate_signed_bytes"));
            let bytes = hb(&p["certificate"], "bytes");
            assert_eq!(cert.encode(), bytes, "{who}");
            assert_eq!(SenderCert::decode(&bytes).as_ref(), Ok(cert));
            assert_eq!(cert.validate(&[w.root], &[], cert.expires_ms - 1), Ok(()));
            // The library decodes our bytes to the same fields ...
            let l = lib::SenderCertificate::from_bytes(&bytes).expect("library decodes");
            assert_eq!(l.address, cert.address);
            assert_eq!(l.device_id, cert.device_id);
            assert_eq!(l.identity.to_bytes(), cert.identity);
            assert_eq!(l.expires_ms, cert.expires_ms);
            assert_eq!(l.server.id, cert.server.id);
            assert_eq!(l.server.key.to_bytes(), cert.server.key);
            assert_eq!(l.server.signature, cert.server.signature);
            assert_eq!(l.signature, cert.signature);
            // ... and issues the same bytes (Ed25519 is deterministic), which we decode.
            let root = lib::CertificateKeyPair::from_seed(&w.root_seed);
            let server = lib::CertificateKeyPair::from_seed(&w.server_seed);
            let lsc = root.certify_server(w.server_cert.id, &server.public());
            assert_eq!(
                ServerCert::decode(&lsc.to_bytes()),
                Ok(w.server_cert.clone())
            );
            let lcert = server
                .certify_sender(
                    &lsc,
                    &cert.address,
                    cert.device_id,
                    &lib::IdentityKey::from_bytes(cert.identity).expect("identity"),
                    cert.expires_ms,
                )
                .expect("issue");
            assert_eq!(
                SenderCert::decode(&lcert.to_bytes().unwrap()).as_ref(),
                Ok(cert)
            );
        }
    }

    #[test]
    fn negative_certificate_vectors() {
        let v = load("negative.json");
        let mut count = 0;
        for e in v["entries"].as_array().expect("entries") {
            let bytes = || hb(&e["input"], "bytes");
            let want = s(e, "expected_error");
            let (ours, theirs) = match s(e, "operation") {
                "ServerCertificate::from_bytes" => (
                    res(&ServerCert::decode(&bytes())),
                    res(&libs::ServerCertificate::from_bytes(&bytes()).map(|c| c.id)),
                ),
                "SenderCertificate::from_bytes" => (
                    res(&SenderCert::decode(&bytes())),
                    res(&libs::SenderCertificate::from_bytes(&bytes()).map(|c| c.device_id)),
                ),
                _ => continue,
            };
            count += 1;
            assert_eq!(ours, want, "{}", s(e, "name"));
            assert_eq!(theirs, want, "{}", s(e, "name"));
        }
        assert_eq!(count, 8);
    }

    /// Truncations and byte changes of both certificates: decoding errors must agree.
    #[test]
    fn certificate_decoding_differential() {
        let w = world();
        let long = SenderCert::issue(
            &w.server_seed,
            &w.server_cert,
            &[0x61; 255],
            u32::MAX,
            w.alice.public,
            u64::MAX,
        )
        .expect("issue");
        assert_eq!(long.encode().len(), sealed::MAX_SENDER_CERTIFICATE_LEN);
        let mut disagreements = Vec::new();
        for base in [w.alice_cert.encode(), w.bob_cert.encode(), long.encode()] {
            let mut inputs = vec![base.clone()];
            for cut in 0..base.len() {
                inputs.push(base[..cut].to_vec());
            }
            let mut extended = base.clone();
            extended.push(0);
            inputs.push(extended);
            for pos in 0..base.len() {
                for val in [0x00, 0x01, 0x02, 0xff] {
                    let mut b = base.clone();
                    b[pos] = val;
                    inputs.push(b.clone());
                    inputs.push(b[..b.len() - 1].to_vec());
                }
            }
            for input in inputs {
                let ours = SenderCert::decode(&input).map(|c| hx(&c.encode()));
                let theirs =
                    libs::SenderCertificate::from_bytes(&input).map(|c| hx(&c.to_bytes().unwrap()));
                if res(&ours) != res(&theirs) {
                    disagreements.push(format!(
                        "len {}: {} vs {}",
                        input.len(),
                        res(&ours),
                        res(&theirs)
                    ));
                }
                // Server certificates, cut out of the sender certificate's tail region.
                if input.len() >= 165 {
                    let tail = &input[input.len() - 165..input.len() - 64];
                    let ours = ServerCert::decode(tail).map(|c| hx(&c.encode()));
                    let theirs =
                        libs::ServerCertificate::from_bytes(tail).map(|c| hx(&c.to_bytes()));
                    if res(&ours) != res(&theirs) {
                        disagreements.push(format!("server: {} vs {}", res(&ours), res(&theirs)));
                    }
                }
            }
        }
        assert!(
            disagreements.is_empty(),
            "{}",
            disagreements[..disagreements.len().min(10)].join("\n")
        );
    }

    #[test]
    fn certificate_issuing_and_validation_match_library() {
        let w = world();
        let server = lib::CertificateKeyPair::from_seed(&w.server_seed);
        let lsc = lib::ServerCertificate::from_bytes(&w.server_cert.encode()).expect("decodes");
        let ident = lib::IdentityKey::from_bytes(w.alice.public).expect("identity");
        for len in [0usize, 1, 255, 256, 300] {
            let addr = vec![0x62; len];
            let ours =
                SenderCert::issue(&w.server_seed, &w.server_cert, &addr, 3, w.alice.public, 9)
                    .map(|c| hx(&c.encode()));
            let theirs = server
                .certify_sender(&lsc, &addr, 3, &ident, 9)
                .map(|c| hx(&c.to_bytes().unwrap()));
            assert_eq!(res(&ours), res(&theirs), "address of {len} bytes");
        }
        // §9.3 step order: every combination of bad root, revoked, bad server signature,
        // expired.
        let other_root = prim::ed_public(&[0x77; 32]);
        let rogue_server_seed = [0x78; 32];
        let lib_other = lib::CertificateKey::from_bytes(other_root).expect("key");
        for trusted in [true, false] {
            for revoked in [false, true] {
                for forged in [false, true] {
                    for (now, label) in [(9 - 1, "valid"), (9, "at expiry"), (u64::MAX, "late")] {
                        let signer = if forged {
                            &rogue_server_seed
                        } else {
                            &w.server_seed
                        };
                        let cert =
                            SenderCert::issue(signer, &w.server_cert, b"x", 1, w.alice.public, 9)
                                .expect("issue");
                        let roots = if trusted {
                            vec![w.root]
                        } else {
                            vec![other_root]
                        };
                        let lib_roots = if trusted {
                            w.lib_roots.clone()
                        } else {
                            vec![lib_other]
                        };
                        let rev: Vec<u32> = if revoked {
                            vec![w.server_cert.id]
                        } else {
                            vec![]
                        };
                        let ours = cert.validate(&roots, &rev, now);
                        let theirs = lib::SenderCertificate::from_bytes(&cert.encode())
                            .expect("decodes")
                            .validate(&lib_roots, &rev, now);
                        assert_eq!(
                            res(&ours),
                            res(&theirs),
                            "{trusted} {revoked} {forged} {label}"
                        );
                    }
                }
            }
        }
        // An empty trust-root list trusts nothing.
        assert_eq!(
            w.alice_cert.validate(&[], &[], 0),
            Err(SealedError::InvalidCertificate)
        );
    }

    #[test]
    fn max_envelope_len_matches_library() {
        assert_eq!(sealed::max_envelope_len(), 81 + 1_081_344 + 16);
        assert_eq!(sealed::max_envelope_len(), libs::MAX_ENVELOPE_LEN);
        assert_eq!(sealed::MAX_SENDER_CERTIFICATE_LEN, 466);
        assert_eq!(
            sealed::MAX_SENDER_CERTIFICATE_LEN,
            libs::MAX_SENDER_CERTIFICATE_LEN
        );
        assert_eq!(sealed::MAX_SEALED_MESSAGE_LEN, libs::MAX_SEALED_MESSAGE_LEN);
    }

    /// Both envelopes of sealed_sender.json, from the recorded draws: the inner session message,
    /// every §9.2 intermediate, the envelope; then the recipient's open, what it learns, and
    /// the recipient's state afterwards.
    #[test]
    fn envelope_vectors_seal_and_open() {
        let w = world();
        let mut alice_session = w.alice_session.clone();
        let mut store = w.store.clone();
        let mut bob_session: Option<Session> = None;
        let envelopes = w.v["envelopes"].as_array().expect("envelopes");
        assert_eq!(envelopes.len(), 2);
        for e in envelopes {
            let name = s(e, "name");
            let from_alice = s(e, "sender") == "alice";
            assert_eq!(s(e, "sender_certificate"), s(e, "sender"));
            let (sender, cert, recipient) = if from_alice {
                (&w.alice, &w.alice_cert, &w.bob)
            } else {
                (&w.bob, &w.bob_cert, &w.alice)
            };
            // The inner message (§8 frame inside §6.3).
            let inner = &e["inner"];
            let session = if from_alice {
                &mut alice_session
            } else {
                bob_session.as_mut().expect("bob answered")
            };
            assert_state(&session.encode(), s(inner, "sender_state_before"), name);
            let mut rng = Rng::script(draws(&inner["rng_draws"]));
            let m = session
                .send(&mut rng, u64d(inner, "now_ms"), &hb(inner, "body"))
                .expect("send");
            assert!(rng.exhausted());
            assert_eq!(hx(&m), s(inner, "message"), "{name}: inner message");
            assert_state(&session.encode(), s(inner, "sender_state_after"), name);
            // §9.2 step by step.
            let mut rng = Rng::script(draws(&e["seal_rng_draws"]));
            let t = sealed::seal(sender, &cert.encode(), &recipient.public, &m, rng.take())
                .expect("seal");
            assert!(rng.exhausted());
            let sv = &e["seal"];
            for (field, ours) in [
                ("ephemeral_secret", hx(&t.ephemeral_secret)),
                ("ephemeral_public", hx(&t.ephemeral_public)),
                ("ephemeral_dh", hx(&t.ephemeral_dh)),
                ("ephemeral_salt", hx(&t.ephemeral_salt)),
                ("chain_key", hx(&t.chain_key)),
                ("identity_key", hx(&t.identity_key)),
                ("identity_aad", hx(&t.identity_aad)),
                ("encrypted_identity", hx(&t.encrypted_identity)),
                ("static_dh", hx(&t.static_dh)),
                ("static_salt", hx(&t.static_salt)),
                ("content_key", hx(&t.content_key)),
                ("payload", hx(&t.payload)),
                ("content_aad", hx(&t.content_aad)),
                ("encrypted_content", hx(&t.encrypted_content)),
                ("envelope", hx(&t.envelope)),
            ] {
                assert_eq!(ours, s(sv, field), "{name}: {field}");
            }
            // The static DH is the same from both sides (and equal for both envelopes).
            assert_eq!(
                prim::dh(&recipient.x_secret, &sender.x_public),
                Some(t.static_dh)
            );
            // Open (§9.4) with our implementation.
            let open = &e["open"];
            let now = u64d(open, "now_ms");
            let o = sealed::open(recipient, &[w.root], &[], &t.envelope, now).expect("opens");
            assert_eq!(o.message, m);
            assert_eq!(
                o.is_prekey_message(),
                open["is_prekey_message"].as_bool().expect("bool")
            );
            let ex = &e["expected"];
            assert_eq!(hx(&o.sender.address), s(ex, "sender_address"));
            assert_eq!(u64::from(o.sender.device_id), n(ex, "sender_device_id"));
            assert_eq!(hx(&o.sender.identity), s(ex, "sender_identity"));
            let received = if s(open, "operation") == "Opened::respond" {
                assert!(open["recipient_state_before"].is_null());
                assert_state(&store.encode(), s(open, "prekey_store_before"), name);
                let (session, r) =
                    sealed::respond(&o, recipient, &mut store, &w.ctx).expect("respond");
                assert_state(&store.encode(), s(open, "prekey_store_after"), name);
                assert_state(&session.encode(), s(open, "recipient_state_after"), name);
                bob_session = Some(session);
                r
            } else {
                let before = s(open, "recipient_state_before");
                assert_state(&alice_session.encode(), before, name);
                let r = sealed::decrypt(&o, &mut alice_session).expect("decrypt");
                let after = s(open, "recipient_state_after");
                assert_state(&alice_session.encode(), after, name);
                r
            };
            assert_eq!(received_json(&received), ex["received"], "{name}");
            assert_eq!(received, received_from_json(&ex["received"]));
            // The library opens our envelope to the same sender.
            let lib_recipient = lib::IdentityKeyPair::from_seed(&recipient.seed);
            let lo = lib_open(&w, &lib_recipient, &[], &t.envelope, now).expect("library opens");
            assert_eq!(lo.sender().to_bytes().unwrap(), cert.encode());
            assert_eq!(lo.is_prekey_message(), o.is_prekey_message());
        }
    }

    /// Fresh envelopes in both directions: the library opens ours, we open the library's; with
    /// the same draw both implementations seal identical bytes.
    #[test]
    fn seal_and_open_cross_library() {
        let w = world();
        let lib_cert = lib::SenderCertificate::from_bytes(&w.alice_cert.encode()).expect("cert");
        let lib_bob_public = *w.lib_bob.public();
        let mut lib_store = lib::PreKeyStore::from_bytes(&w.store.encode()).expect("store");
        let mut store = w.store.clone();
        let mut alice = w.alice_session.clone();
        let now = 1_750_000_000_000;
        for (i, len) in [0usize, 1, 57, 58, 200, 1000, 5000].into_iter().enumerate() {
            let m: Vec<u8> = (0..len).map(|x| (x * 7 + i) as u8).collect();
            let label = 1000 + i as u64;
            let ours = sealed::seal(
                &w.alice,
                &w.alice_cert.encode(),
                &w.bob.public,
                &m,
                Rng::stream(label).take(),
            )
            .expect("seal")
            .envelope;
            let theirs = libs::seal_to(
                &mut Rng::stream(label),
                &w.lib_alice,
                &lib_cert,
                &lib_bob_public,
                &m,
            )
            .expect("library seals");
            assert_eq!(hx(&ours), hx(&theirs), "message of {len} bytes");
            let o = sealed::open(&w.bob, &[w.root], &[], &theirs, now).expect("we open theirs");
            assert_eq!(o.message, m);
            let lo = lib_open(&w, &w.lib_bob, &[], &ours, now).expect("library opens ours");
            assert_eq!(lo.sender().to_bytes().unwrap(), w.alice_cert.encode());
            assert_eq!(lo.is_prekey_message(), o.is_prekey_message(), "{len}");
        }
        // A real framed message sealed by us is delivered by the library's Opened::respond.
        let m = alice
            .send(&mut Rng::stream(5), now, b"sealed by the other side")
            .expect("send");
        let env = sealed::seal(
            &w.alice,
            &w.alice_cert.encode(),
            &w.bob.public,
            &m,
            Rng::stream(6).take(),
        )
        .expect("seal")
        .envelope;
        let lo = lib_open(&w, &w.lib_bob, &[], &env, now + 1).expect("opens");
        let (lib_session, delivered) = lo
            .respond(&w.lib_bob, &mut lib_store, &lib::Config::new(&w.ctx))
            .expect("respond");
        let o = sealed::open(&w.bob, &[w.root], &[], &env, now + 1).expect("opens");
        let (session, received) = sealed::respond(&o, &w.bob, &mut store, &w.ctx).expect("respond");
        assert_eq!(
            from_lib_received(delivered.receipt.message().unwrap()),
            received
        );
        assert_eq!(delivered.sender.to_bytes().unwrap(), o.sender.encode());
        assert_eq!(hx(&lib_session.to_bytes().unwrap()), hx(&session.encode()));
        assert_eq!(hx(&lib_store.to_bytes().unwrap()), hx(&store.encode()));
    }

    #[test]
    fn negative_sealed_vectors() {
        let v = load("negative.json");
        let mut count = 0;
        for e in v["entries"].as_array().expect("entries") {
            let op = s(e, "operation");
            if !op.starts_with("SealedRecipient") && !op.starts_with("Opened") {
                continue;
            }
            count += 1;
            let i = &e["input"];
            let recipient = Identity::from_seed(h32(s(i, "recipient_identity_seed")));
            let roots: Vec<[u8; 32]> = i["trust_roots"]
                .as_array()
                .expect("roots")
                .iter()
                .map(|r| h32(r.as_str().expect("hex")))
                .collect();
            let revoked: Vec<u32> = i["revoked_servers"]
                .as_array()
                .expect("revoked")
                .iter()
                .map(|r| r.as_u64().expect("id") as u32)
                .collect();
            let opened = sealed::open(
                &recipient,
                &roots,
                &revoked,
                &hb(i, "envelope"),
                u64d(i, "now_ms"),
            );
            let got = match op {
                "SealedRecipient::open" => opened.map(|_| ()),
                "Opened::decrypt" => {
                    let blob = hb(i, "session");
                    let mut session = Session::decode(&blob).expect("session");
                    let r = sealed::decrypt(&opened.expect("opens"), &mut session).map(|_| ());
                    assert_eq!(session.encode(), blob, "session untouched");
                    r
                }
                "Opened::respond" => {
                    let blob = hb(i, "prekey_store");
                    let mut store = Store::decode(&blob).expect("store");
                    let r = sealed::respond(
                        &opened.expect("opens"),
                        &recipient,
                        &mut store,
                        &hb(i, "context"),
                    )
                    .map(|_| ());
                    assert_eq!(store.encode(), blob, "store untouched");
                    r
                }
                other => panic!("{other}"),
            };
            assert_eq!(res(&got), s(e, "expected_error"), "{}", s(e, "name"));
        }
        assert!(count >= 23, "{count}");
    }

    /// Envelopes with crafted faults (built with `seal_raw`), opened by both implementations.
    #[test]
    fn hostile_envelopes_differential() {
        let w = world();
        let now = 1_750_000_000_000;
        let cert = w.alice_cert.encode();
        let m = b"\x01\x01 any inner bytes".to_vec();
        let good = sealed::payload(&cert, &m);
        let seal_payload = |claimed: &[u8; 32], payload: Vec<u8>, label: u64| {
            sealed::seal_raw(
                &w.alice.x_secret,
                claimed,
                &w.bob.public,
                payload,
                Rng::stream(label).take(),
            )
            .expect("seal")
            .envelope
        };
        let with_len = |cert_len: u16, cert: &[u8], m_len: u32, m: &[u8], total: Option<usize>| {
            let mut p = cert_len.to_be_bytes().to_vec();
            p.extend_from_slice(cert);
            p.extend_from_slice(&m_len.to_be_bytes());
            p.extend_from_slice(m);
            let t = total.unwrap_or_else(|| super::frame::pad(6 + cert.len() + m.len()));
            p.resize(t, 0);
            p
        };
        let mut bad_version_cert = cert.clone();
        bad_version_cert[0] = 2;
        let other_identity = SenderCert::issue(
            &w.server_seed,
            &w.server_cert,
            b"mallory",
            1,
            w.bob.public,
            u64::MAX,
        )
        .expect("issue")
        .encode();
        let expired = SenderCert::issue(
            &w.server_seed,
            &w.server_cert,
            b"alice",
            1,
            w.alice.public,
            5,
        )
        .expect("issue")
        .encode();
        let prekey = w
            .alice_session
            .clone()
            .send(&mut Rng::stream(9), now, b"x")
            .expect("send");
        let mut bad_ik = prekey.clone();
        bad_ik[2..34].copy_from_slice(&[0u8; 32]);
        let mut nested = prekey.clone();
        nested[76] = 0x02;
        let expired_other =
            SenderCert::issue(&w.server_seed, &w.server_cert, b"bob", 1, w.bob.public, 5)
                .expect("issue")
                .encode();
        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("good", seal_payload(&w.alice.public, good.clone(), 1)),
            (
                "identity point as IK_S",
                seal_payload(
                    &{
                        let mut k = [0u8; 32];
                        k[0] = 1;
                        k
                    },
                    good.clone(),
                    2,
                ),
            ),
            (
                "IK_S not on the curve",
                seal_payload(&[0x02; 32], good.clone(), 3),
            ),
            (
                "IK_S y >= p",
                seal_payload(
                    &{
                        let mut k = [0xff; 32];
                        k[31] = 0x7f;
                        k
                    },
                    good.clone(),
                    4,
                ),
            ),
            (
                "empty payload",
                seal_payload(&w.alice.public, Vec::new(), 5),
            ),
            (
                "one-byte payload",
                seal_payload(&w.alice.public, vec![0], 6),
            ),
            (
                "cert length past the end",
                seal_payload(
                    &w.alice.public,
                    with_len(300, &cert[..200], 0, b"", Some(256)),
                    7,
                ),
            ),
            (
                "cert with unknown version",
                seal_payload(
                    &w.alice.public,
                    with_len(
                        cert.len() as u16,
                        &bad_version_cert,
                        m.len() as u32,
                        &m,
                        None,
                    ),
                    8,
                ),
            ),
            (
                "cert one byte longer than declared",
                seal_payload(
                    &w.alice.public,
                    with_len(cert.len() as u16 - 1, &cert, m.len() as u32, &m, None),
                    9,
                ),
            ),
            (
                "cert length one too long",
                seal_payload(
                    &w.alice.public,
                    with_len(
                        cert.len() as u16 + 1,
                        &[&cert[..], &[0]].concat(),
                        m.len() as u32,
                        &m,
                        None,
                    ),
                    10,
                ),
            ),
            (
                "bad cert and message length past the end",
                seal_payload(
                    &w.alice.public,
                    with_len(cert.len() as u16, &bad_version_cert, 5000, &m, None),
                    50,
                ),
            ),
            (
                "bad cert and bad padding",
                seal_payload(
                    &w.alice.public,
                    with_len(
                        cert.len() as u16,
                        &bad_version_cert,
                        m.len() as u32,
                        &m,
                        Some(300),
                    ),
                    11,
                ),
            ),
            (
                "message length past the end",
                seal_payload(
                    &w.alice.public,
                    with_len(cert.len() as u16, &cert, 5000, &m, None),
                    12,
                ),
            ),
            (
                "no message length",
                seal_payload(
                    &w.alice.public,
                    [&(cert.len() as u16).to_be_bytes()[..], &cert].concat(),
                    13,
                ),
            ),
            (
                "padding one byte short",
                seal_payload(
                    &w.alice.public,
                    {
                        let mut p = good.clone();
                        p.pop();
                        p
                    },
                    14,
                ),
            ),
            (
                "padding of a larger bucket",
                seal_payload(
                    &w.alice.public,
                    {
                        let mut p = good.clone();
                        p.resize(super::frame::pad(p.len() + 1), 0);
                        p
                    },
                    15,
                ),
            ),
            (
                "certificate of another identity",
                seal_payload(&w.alice.public, sealed::payload(&other_identity, &m), 16),
            ),
            (
                "expired certificate of another identity",
                seal_payload(&w.alice.public, sealed::payload(&expired_other, &m), 17),
            ),
            (
                "expired certificate",
                seal_payload(&w.alice.public, sealed::payload(&expired, &m), 18),
            ),
            (
                "empty message",
                seal_payload(&w.alice.public, sealed::payload(&cert, b""), 19),
            ),
            (
                "message of one byte 0x02",
                seal_payload(&w.alice.public, sealed::payload(&cert, b"\x02"), 20),
            ),
            (
                "message 0x01 0x02",
                seal_payload(&w.alice.public, sealed::payload(&cert, b"\x01\x02"), 21),
            ),
            (
                "message 0x07 0x02 garbage",
                seal_payload(&w.alice.public, sealed::payload(&cert, b"\x07\x02xyz"), 22),
            ),
            (
                "prekey message",
                seal_payload(&w.alice.public, sealed::payload(&cert, &prekey), 23),
            ),
            (
                "prekey message, ciphertext 15 bytes",
                seal_payload(
                    &w.alice.public,
                    sealed::payload(&cert, &prekey[..75 + 58 + 15]),
                    24,
                ),
            ),
            (
                "prekey message, bad IK_A",
                seal_payload(&w.alice.public, sealed::payload(&cert, &bad_ik), 25),
            ),
            (
                "prekey message, embedded type 2",
                seal_payload(&w.alice.public, sealed::payload(&cert, &nested), 26),
            ),
            (
                "normal message",
                seal_payload(&w.alice.public, sealed::payload(&cert, &prekey[75..]), 27),
            ),
        ];
        // Claimed identity Alice, but sealed with Bob's static key: the content key differs.
        cases.push((
            "static key of someone else",
            sealed::seal_raw(
                &w.bob.x_secret,
                &w.alice.public,
                &w.bob.public,
                good.clone(),
                Rng::stream(30).take(),
            )
            .expect("seal")
            .envelope,
        ));
        // An inner message longer than §9.2 allows that still fits the envelope bound.
        let big_m = vec![0x01; sealed::MAX_SEALED_MESSAGE_LEN + 100];
        cases.push((
            "message over 2^20 + 256",
            seal_payload(&w.alice.public, sealed::payload(&cert, &big_m), 31),
        ));
        // Structural faults before any cryptography.
        let base = seal_payload(&w.alice.public, good.clone(), 40);
        for cut in [0, 1, 2, 33, 34, 80, 81, 96, 97] {
            cases.push(("truncated envelope", base[..cut].to_vec()));
        }
        let mut v2 = base.clone();
        v2[0] = 2;
        cases.push(("unknown version", v2.clone()));
        let mut oversized = vec![0u8; sealed::max_envelope_len() + 1];
        cases.push(("oversized, version 0", oversized.clone()));
        oversized[0] = 1;
        cases.push(("oversized, version 1", oversized.clone()));
        oversized.pop();
        cases.push(("exactly the maximum, garbage", oversized));
        let mut bad_key = base.clone();
        bad_key[32] = 0x80;
        bad_key[0] = 2;
        cases.push(("bad version and bad key", bad_key));
        let mut short_and_bad = base[..60].to_vec();
        short_and_bad[32] = 0x80;
        cases.push(("bad key and truncated", short_and_bad));

        let mut disagreements = Vec::new();
        for (name, env) in &cases {
            for recipient in [&w.bob, &w.alice] {
                let (ours, theirs) = both_open(&w, recipient, &[], env, now);
                if ours != theirs {
                    disagreements.push(format!(
                        "{name} (to {}): ours {ours}, library {theirs}",
                        hx(&recipient.public[..2])
                    ));
                }
            }
        }
        assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
        // The first case opens, so the suite is not vacuous.
        assert!(sealed::open(&w.bob, &[w.root], &[], &cases[0].1, now).is_ok());
    }

    /// The check order of `Opened::decrypt` and `Opened::respond` (§9.4), both implementations.
    #[test]
    fn opened_check_order_differential() {
        let w = world();
        let now = 1_750_000_000_000;
        let cert = w.alice_cert.encode();
        let alice_prekey = w
            .alice_session
            .clone()
            .send(&mut Rng::stream(1), now, b"hi")
            .expect("send");
        // The same prekey message with IK_A replaced by Bob's key, and with a cut ciphertext.
        let mut other_ik = alice_prekey.clone();
        other_ik[2..34].copy_from_slice(&w.bob.public);
        let cut = |m: &[u8]| m[..75 + 58 + 10].to_vec();
        let inner: Vec<(&str, Vec<u8>)> = vec![
            ("prekey message", alice_prekey.clone()),
            ("prekey message of another IK_A", other_ik.clone()),
            ("prekey message, ciphertext too short", cut(&alice_prekey)),
            ("other IK_A and ciphertext too short", cut(&other_ik)),
            ("empty", Vec::new()),
            ("garbage", b"\x05\x05garbage".to_vec()),
            (
                "a normal message header, truncated",
                b"\x01\x01abc".to_vec(),
            ),
            ("prekey type, truncated", b"\x01\x02abc".to_vec()),
        ];
        // Bob's session answering a first message of Alice (a session whose peer is right).
        let mut a = w.alice_session.clone();
        let mut store = w.store.clone();
        let first = a.send(&mut Rng::stream(2), now, b"first").expect("send");
        let env = sealed::seal(
            &w.alice,
            &cert,
            &w.bob.public,
            &first,
            Rng::stream(3).take(),
        )
        .expect("seal")
        .envelope;
        let o = sealed::open(&w.bob, &[w.root], &[], &env, now).expect("opens");
        let (mut bob, _) = sealed::respond(&o, &w.bob, &mut store, &w.ctx).expect("respond");
        let mut disagreements = Vec::new();
        for (name, m) in &inner {
            let env = sealed::seal(&w.alice, &cert, &w.bob.public, m, Rng::stream(7).take())
                .expect("seal")
                .envelope;
            let o = sealed::open(&w.bob, &[w.root], &[], &env, now + 1).expect("opens");
            let lo = lib_open(&w, &w.lib_bob, &[], &env, now + 1).expect("library opens");
            // respond
            let mut store = w.store.clone();
            let mut lib_store = lib::PreKeyStore::from_bytes(&w.store.encode()).expect("store");
            let ours = sealed::respond(&o, &w.bob, &mut store, &w.ctx).map(|(_, r)| r);
            let theirs = lo
                .respond(&w.lib_bob, &mut lib_store, &lib::Config::new(&w.ctx))
                .map(|(_, d)| from_lib_received(d.receipt.message().unwrap()));
            if res(&ours) != res(&theirs) {
                disagreements.push(format!(
                    "respond, {name}: ours {}, library {}",
                    res(&ours),
                    res(&theirs)
                ));
            }
            assert_eq!(hx(&lib_store.to_bytes().unwrap()), hx(&store.encode()));
            // decrypt with the wrong session (Alice's own, whose peer is Bob) and with a
            // session of the right peer (Bob's, answering Alice's first message).
            let mut wrong = w.alice_session.clone();
            let mut lib_wrong = lib::Session::from_bytes(&wrong.encode()).expect("session");
            let ours = sealed::decrypt(&o, &mut wrong);
            let theirs = lo
                .decrypt(&mut lib_wrong)
                .map(|d| from_lib_received(d.receipt.message().unwrap()));
            if res(&ours) != res(&theirs) {
                disagreements.push(format!(
                    "decrypt (wrong session), {name}: ours {}, library {}",
                    res(&ours),
                    res(&theirs)
                ));
            }
            assert_eq!(hx(&lib_wrong.to_bytes().unwrap()), hx(&wrong.encode()));
            let mut right = bob.clone();
            let mut lib_right = lib::Session::from_bytes(&right.encode()).expect("session");
            let ours = sealed::decrypt(&o, &mut right);
            let theirs = lo
                .decrypt(&mut lib_right)
                .map(|d| from_lib_received(d.receipt.message().unwrap()));
            if res(&ours) != res(&theirs) {
                disagreements.push(format!(
                    "decrypt (right session), {name}: ours {}, library {}",
                    res(&ours),
                    res(&theirs)
                ));
            }
            assert_eq!(hx(&lib_right.to_bytes().unwrap()), hx(&right.encode()));
        }
        // decrypt through the right session of a message that expired in transit:
        // Opened::decrypt must use the `now` given to open.
        a.set_timer(&mut Rng::stream(4), now, 1, super::frame::Start::OnSend)
            .expect("timer");
        let late = a.send(&mut Rng::stream(5), now, b"late").expect("send");
        let env = sealed::seal(&w.alice, &cert, &w.bob.public, &late, Rng::stream(6).take())
            .expect("seal")
            .envelope;
        for open_at in [now + 1000, now + 301_001, now + 301_000 + 1_000] {
            let mut b1 = bob.clone();
            let mut lb = lib::Session::from_bytes(&b1.encode()).expect("session");
            let o = sealed::open(&w.bob, &[w.root], &[], &env, open_at).expect("opens");
            let lo = lib_open(&w, &w.lib_bob, &[], &env, open_at).expect("opens");
            let ours = sealed::decrypt(&o, &mut b1);
            // A receipt that delivers nothing is the error this implementation names.
            let theirs = lo
                .decrypt(&mut lb)
                .and_then(|d| lib_outcome(Ok(d.receipt)).map_err(lib::SealedSenderError::Session));
            if res(&ours) != res(&theirs) {
                disagreements.push(format!(
                    "decrypt at {open_at}: ours {}, library {}",
                    res(&ours),
                    res(&theirs)
                ));
            }
            assert_eq!(hx(&lb.to_bytes().unwrap()), hx(&b1.encode()));
        }
        // The on-send timer expired in transit at the last time.
        let o = sealed::open(&w.bob, &[w.root], &[], &env, now + 302_001).expect("opens");
        assert_eq!(
            sealed::decrypt(&o, &mut bob),
            Err(SealedError::Session(super::dr::Error::Expired))
        );
        assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    }

    /// What `seal` refuses: an oversized message; and whether it checks the certificate.
    #[test]
    fn seal_input_limits_match_library() {
        let w = world();
        let lib_alice_cert =
            lib::SenderCertificate::from_bytes(&w.alice_cert.encode()).expect("cert");
        let lib_bob_cert = lib::SenderCertificate::from_bytes(&w.bob_cert.encode()).expect("cert");
        let bob_public = *w.lib_bob.public();
        let alice_public = *w.lib_alice.public();
        for (name, cert, lib_cert, recipient, lib_recipient, len) in [
            (
                "max message",
                &w.alice_cert,
                &lib_alice_cert,
                w.bob.public,
                bob_public,
                sealed::MAX_SEALED_MESSAGE_LEN,
            ),
            (
                "message one over",
                &w.alice_cert,
                &lib_alice_cert,
                w.bob.public,
                bob_public,
                sealed::MAX_SEALED_MESSAGE_LEN + 1,
            ),
            (
                "someone else's certificate",
                &w.bob_cert,
                &lib_bob_cert,
                w.bob.public,
                bob_public,
                10,
            ),
            (
                "sealed to ourselves",
                &w.alice_cert,
                &lib_alice_cert,
                w.alice.public,
                alice_public,
                10,
            ),
        ] {
            let m = vec![0x5a; len];
            let ours = sealed::seal(
                &w.alice,
                &cert.encode(),
                &recipient,
                &m,
                Rng::stream(1).take(),
            )
            .map(|t| prim::sha256(&t.envelope));
            let theirs = libs::seal_to(
                &mut Rng::stream(1),
                &w.lib_alice,
                lib_cert,
                &lib_recipient,
                &m,
            )
            .map(|e| prim::sha256(&e));
            assert_eq!(res(&ours), res(&theirs), "{name}");
        }
    }
}
