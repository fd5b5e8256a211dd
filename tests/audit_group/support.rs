//! Shared pieces of the group audit: a group of devices that hand each other their sender keys
//! directly, an RNG that logs what the crate draws, the state check recomputed after an edit,
//! the offsets of SPEC.md §13.7, and a second encoder of group messages and distributions
//! written from SPEC.md §3.3, §13.2 and §13.3 alone (what a malicious member, who holds its own
//! signing key, can send).

use std::convert::Infallible;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, Nonce, Tag};
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_core::{TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};
use xchat_protocol::group::{GroupConfig, GroupId, GroupSession, SenderKeyDistribution};
use xchat_protocol::{GroupError, IdentityKey, IdentityKeyPair, Receipt};

pub(crate) const NOW: u64 = 1_700_000_000_000;
pub(crate) const GROUP: GroupId = GroupId([0x61; 32]);

/// SPEC.md §3.0, typed from the table's ASCII column.
pub(crate) const LABEL_GROUP_MESSAGE_KEY: &[u8] = b"xchat-protocol v1 group message key";
pub(crate) const LABEL_GROUP_MESSAGE: &[u8] = b"xchat-protocol v1 group message";

/// SPEC.md §13.3: where the fields of a group message are.
pub(crate) const MSG_GROUP: std::ops::Range<usize> = 2..34;
pub(crate) const MSG_KEY_ID: std::ops::Range<usize> = 34..38;
pub(crate) const MSG_ITERATION: std::ops::Range<usize> = 38..42;
pub(crate) const HEADER_LEN: usize = 58;

/// SPEC.md §13.7 offsets in a blob (2 envelope bytes first).
pub(crate) const AT_LIMITS: usize = 2 + 32 + 32;
pub(crate) const AT_ROTATION: usize = AT_LIMITS + 16;
pub(crate) const AT_TIMER: usize = AT_ROTATION + 12;
pub(crate) const AT_STALE: usize = AT_TIMER + 9;
pub(crate) const AT_SENDING: usize = AT_STALE + 1;
pub(crate) const AT_MEMBERS: usize = AT_SENDING + 80;

pub(crate) struct Device {
    pub(crate) id: IdentityKeyPair,
    pub(crate) group: GroupSession,
}

pub(crate) struct Group {
    pub(crate) rng: ChaCha20Rng,
    pub(crate) devices: Vec<Device>,
}

impl Group {
    /// `n` devices that all know each other; no sender key has been handed out yet.
    pub(crate) fn new(seed: u8, n: usize, config: GroupConfig) -> Self {
        let mut rng = crate::common::rng(seed);
        let ids: Vec<IdentityKeyPair> = (0..n)
            .map(|_| IdentityKeyPair::generate(&mut rng))
            .collect();
        let keys: Vec<IdentityKey> = ids.iter().map(|i| *i.public()).collect();
        let mut devices = Vec::new();
        for id in ids {
            let group =
                GroupSession::new(&mut rng, id.public(), GROUP, &keys, NOW, config).unwrap();
            devices.push(Device { id, group });
        }
        Self { rng, devices }
    }

    pub(crate) fn key(&self, i: usize) -> IdentityKey {
        *self.devices[i].id.public()
    }

    pub(crate) fn blob(&self, i: usize) -> Vec<u8> {
        self.devices[i].group.to_bytes().unwrap().to_vec()
    }

    /// Device `from` prepares a send at `now` and hands its key to each member lacking it.
    pub(crate) fn distribute(&mut self, from: usize, now: u64) -> Vec<IdentityKey> {
        let sender = self.key(from);
        let pending = self.devices[from].group.distribution(&mut self.rng, now);
        let bytes = pending.distribution.to_bytes();
        for member in &pending.recipients {
            let d = SenderKeyDistribution::from_bytes(&bytes).unwrap();
            if let Some(to) = self.devices.iter_mut().find(|d| d.id.public() == member) {
                to.group.process_distribution(&sender, &d).unwrap();
            }
            self.devices[from]
                .group
                .mark_distributed(member, &pending.distribution)
                .unwrap();
        }
        pending.recipients
    }

    pub(crate) fn distribute_all(&mut self, now: u64) {
        for i in 0..self.devices.len() {
            self.distribute(i, now);
        }
    }

    pub(crate) fn send(&mut self, from: usize, now: u64, body: &[u8]) -> Vec<u8> {
        self.devices[from]
            .group
            .send(&mut self.rng, now, body)
            .unwrap()
    }

    /// Device `to` receives `message` as from device `from`: the body, or the error.
    pub(crate) fn receive(
        &mut self,
        to: usize,
        from: usize,
        message: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, GroupError> {
        let sender = self.key(from);
        match self.devices[to].group.receive(&sender, message, now)? {
            Receipt::Message(m) => Ok(m.body),
            other => panic!("not a message: {other:?}"),
        }
    }
}

/// Every device's identity, in order.
pub(crate) fn keys(g: &Group) -> Vec<IdentityKey> {
    (0..g.devices.len()).map(|i| g.key(i)).collect()
}

/// A seeded RNG that logs the length and bytes of every draw.
pub(crate) struct Recorder {
    inner: ChaCha20Rng,
    pub(crate) draws: Vec<Vec<u8>>,
}

impl Recorder {
    pub(crate) fn new(seed: u8) -> Self {
        Self {
            inner: ChaCha20Rng::from_seed([seed; 32]),
            draws: Vec::new(),
        }
    }

    pub(crate) fn lengths(&self) -> Vec<usize> {
        self.draws.iter().map(Vec::len).collect()
    }
}

impl TryRng for Recorder {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("draws are expected through fill_bytes only")
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("draws are expected through fill_bytes only")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.fill_bytes(dst);
        self.draws.push(dst.to_vec());
        Ok(())
    }
}

impl TryCryptoRng for Recorder {}

/// Recomputes the 16-byte check of an edited blob (SPEC.md §10.0).
pub(crate) fn recheck(mut blob: Vec<u8>) -> Vec<u8> {
    let n = blob.len() - 16;
    let check = Sha256::digest(&blob[..n]);
    blob[n..].copy_from_slice(&check[..16]);
    blob
}

/// A blob edited by `edit` (on the bytes before the check), its check recomputed.
pub(crate) fn edited(blob: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut body = blob[..blob.len() - 16].to_vec();
    edit(&mut body);
    body.extend_from_slice(&[0; 16]);
    recheck(body)
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}

pub(crate) fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// SPEC.md §3.3: `(MK, CK')`.
pub(crate) fn ck_step(ck: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let mac = |input: u8| -> [u8; 32] {
        let mut m = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(ck).unwrap();
        m.update(&[input]);
        m.finalize().into_bytes().into()
    };
    (mac(0x01), mac(0x02))
}

fn aead(mk: &[u8; 32], seed: &[u8; 16]) -> (Aes256Gcm, Nonce<Aes256Gcm>) {
    let mut okm = [0u8; 44];
    hkdf::Hkdf::<Sha256>::new(Some(seed), mk)
        .expand(LABEL_GROUP_MESSAGE_KEY, &mut okm)
        .unwrap();
    let cipher = <Aes256Gcm as aes_gcm::aead::KeyInit>::new_from_slice(&okm[..32]).unwrap();
    (cipher, Nonce::<Aes256Gcm>::try_from(&okm[32..44]).unwrap())
}

/// Opens `sealed` (ciphertext ‖ tag) under a group message key, or `None`.
pub(crate) fn ref_open(
    mk: &[u8; 32],
    seed: &[u8; 16],
    ad: &[u8],
    sealed: &[u8],
) -> Option<Vec<u8>> {
    if sealed.len() < 16 {
        return None;
    }
    let (cipher, nonce) = aead(mk, seed);
    let (body, tag) = sealed.split_at(sealed.len() - 16);
    let tag = Tag::<Aes256Gcm>::try_from(tag).unwrap();
    let mut buf = body.to_vec();
    cipher
        .decrypt_inout_detached(&nonce, ad, buf.as_mut_slice().into(), &tag)
        .ok()?;
    Some(buf)
}

/// A sender key known in full — chain key at `base` and the signing seed — so that messages
/// at any iteration can be made for it, as its owner can.
#[derive(Clone)]
pub(crate) struct Forged {
    pub(crate) sender: [u8; 32],
    pub(crate) group: [u8; 32],
    pub(crate) key_id: u32,
    pub(crate) base: u32,
    pub(crate) chain: [u8; 32],
    pub(crate) signing_seed: [u8; 32],
}

impl Forged {
    pub(crate) fn new(sender: &IdentityKey, key_id: u32, base: u32, fill: u8) -> Self {
        Self {
            sender: sender.to_bytes(),
            group: GROUP.0,
            key_id,
            base,
            chain: [fill; 32],
            signing_seed: [fill ^ 0x5A; 32],
        }
    }

    pub(crate) fn signing_public(&self) -> [u8; 32] {
        SigningKey::from_bytes(&self.signing_seed)
            .verifying_key()
            .to_bytes()
    }

    /// SPEC.md §13.2's 105 bytes.
    pub(crate) fn distribution_bytes(&self) -> Vec<u8> {
        let mut d = vec![0x01];
        d.extend_from_slice(&self.group);
        d.extend_from_slice(&self.key_id.to_be_bytes());
        d.extend_from_slice(&self.base.to_be_bytes());
        d.extend_from_slice(&self.chain);
        d.extend_from_slice(&self.signing_public());
        d
    }

    pub(crate) fn distribution(&self) -> SenderKeyDistribution {
        SenderKeyDistribution::from_bytes(&self.distribution_bytes()).unwrap()
    }

    /// `MK_i` (stepping from `base`).
    pub(crate) fn message_key(&self, i: u32) -> [u8; 32] {
        let mut ck = self.chain;
        for _ in self.base..i {
            ck = ck_step(&ck).1;
        }
        ck_step(&ck).0
    }

    /// A message at iteration `i`; with `good_aead` false the AEAD is sealed under a wrong key
    /// (the signature is still valid: only the key's owner can make that).
    pub(crate) fn message(
        &self,
        i: u32,
        seed: [u8; 16],
        plaintext: &[u8],
        good_aead: bool,
    ) -> Vec<u8> {
        let mut mk = self.message_key(i);
        if !good_aead {
            mk[0] ^= 1;
        }
        ref_message(
            &self.sender,
            &self.group,
            self.key_id,
            i,
            &seed,
            &mk,
            &self.signing_seed,
            plaintext,
        )
    }
}

/// SPEC.md §13.3 from its parts.
#[allow(clippy::too_many_arguments)]
pub(crate) fn ref_message(
    sender: &[u8; 32],
    group: &[u8; 32],
    key_id: u32,
    i: u32,
    seed: &[u8; 16],
    mk: &[u8; 32],
    signing_seed: &[u8; 32],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut header = vec![0x01, 0x03];
    header.extend_from_slice(group);
    header.extend_from_slice(&key_id.to_be_bytes());
    header.extend_from_slice(&i.to_be_bytes());
    header.extend_from_slice(seed);
    let mut ad = sender.to_vec();
    ad.extend_from_slice(&header);
    let (cipher, nonce) = aead(mk, seed);
    let mut sealed = plaintext.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&nonce, &ad, sealed.as_mut_slice().into())
        .unwrap();
    sealed.extend_from_slice(&tag);
    let mut message = header;
    message.extend_from_slice(&sealed);
    let signature = ref_sign(signing_seed, sender, &message);
    message.extend_from_slice(&signature);
    message
}

/// The signature over `LABEL_GROUP_MESSAGE ‖ IK_sender ‖ header ‖ sealed`.
pub(crate) fn ref_sign(signing_seed: &[u8; 32], sender: &[u8; 32], unsigned: &[u8]) -> [u8; 64] {
    let mut signed = LABEL_GROUP_MESSAGE.to_vec();
    signed.extend_from_slice(sender);
    signed.extend_from_slice(unsigned);
    SigningKey::from_bytes(signing_seed)
        .sign(&signed)
        .to_bytes()
}

/// Re-signs an edited message with the key's signing seed (what the key's owner can do).
pub(crate) fn resign(message: &mut Vec<u8>, signing_seed: &[u8; 32], sender: &[u8; 32]) {
    let n = message.len() - 64;
    let signature = ref_sign(signing_seed, sender, &message[..n]);
    message.truncate(n);
    message.extend_from_slice(&signature);
}

/// Whether `needle`'s bytes appear in `hay` in any usual rendering: hex (either case, with or
/// without separators, with or without leading zeros) or a Debug byte list.
pub(crate) fn shows(hay: &str, needle: &[u8]) -> bool {
    let join =
        |f: &dyn Fn(&u8) -> String, sep: &str| needle.iter().map(f).collect::<Vec<_>>().join(sep);
    let forms = [
        join(&|b| format!("{b:02x}"), ""),
        join(&|b| format!("{b:02X}"), ""),
        join(&|b| format!("{b:02x}"), ", "),
        join(&|b| format!("{b:x}"), ", "),
        join(&|b| format!("{b:02X}"), ", "),
        join(&|b| b.to_string(), ", "),
    ];
    let hay = hay.replace(['\n', ' '], "");
    forms.iter().any(|f| hay.contains(&f.replace(' ', "")))
}
