//! account.json: the accounts layer (SPEC.md §15) — signed, cross-signed and hash-chained device
//! lists (§15.1), a `DeviceListView` walked through a history with rollbacks, forks, gaps and a
//! new account key (§15.2), fingerprints and safety numbers with their QR payloads (§15.4), and
//! device-list encodings that must be rejected, each with its exact error.
//!
//! Every value is made through the crate's public API (`DeviceEntry::sign`, `DeviceList::first`
//! / `next` / `from_bytes`, `DeviceListView`, `Fingerprint`, `SafetyNumber`) and recomputed here
//! without it before anything is written: the signed bytes field by field, every signature with
//! ed25519-dalek directly (`SigningKey::sign`, deterministic RFC 8032, then `verify_strict`), the
//! list hashes and the iterated fingerprint hashes with `sha2`.

use curve25519_dalek::Scalar;
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256, Sha512};
use xchat_protocol::IdentityKeyPair;
use xchat_protocol::account::{
    AccountError, AccountEvent, AccountKeyPair, Comparison, DEVICE_LIST_VERSION, DeviceEntry,
    DeviceList, DeviceListView, FINGERPRINT_ITERATIONS, Fingerprint, KEY_TYPE_ED25519,
    LABEL_DEVICE_LIST, LABEL_DEVICE_LIST_HASH, LABEL_DEVICE_MEMBERSHIP, LABEL_FINGERPRINT,
    MAX_ACCOUNT_ID_LEN, MAX_DEVICES, QR_PAYLOAD_LEN, SAFETY_NUMBER_VERSION, SafetyNumber,
};

use super::json::{Json, Obj, big, hex_list, hx};
use super::negative::points::ed25519_torsion_variants;
use super::primitives::add_group_order;
use super::rng::Recorder;
use super::shared::header;

/// The seed of the ChaCha20 stream every key seed of the file is taken from, in order.
const RNG_SEED: [u8; 32] = [0x15; 32];
/// When the account's first devices joined (ms since the Unix epoch).
const T0: u64 = 1_750_000_000_000;
const DAY: u64 = 86_400_000;

// Offsets in a device list (SPEC.md §15.1).
const SEQUENCE_AT: usize = 33;
const PREVIOUS_AT: usize = 41;
const ISSUED_AT: usize = 73;
const COUNT_AT: usize = 81;
const ENTRIES_AT: usize = 83;
const ENTRY_LEN: usize = 108;
// Offsets within an entry.
const IDENTITY_IN_ENTRY: usize = 4;
const ADDED_IN_ENTRY: usize = 36;
const MEMBERSHIP_IN_ENTRY: usize = 44;

// ---------------------------------------------------------------------------------------------
// By hand: SPEC.md §15.1 and §15.4 with ed25519-dalek and sha2
// ---------------------------------------------------------------------------------------------

fn sign(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
    let key = SigningKey::from_bytes(seed);
    let signature = key.sign(message).to_bytes();
    key.verifying_key()
        .verify_strict(message, &Signature::from_bytes(&signature))
        .expect("verify_strict");
    signature
}

fn public_of(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

fn verifies(key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(signature)) = (
        VerifyingKey::from_bytes(key),
        <[u8; 64]>::try_from(signature),
    ) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&signature))
        .is_ok()
}

/// `A + T` for the point `T` of order 2: the same key for X25519, another encoding, outside the
/// prime-order subgroup (SPEC.md §2.4).
fn plus_order_2(key: &[u8; 32]) -> [u8; 32] {
    let a = CompressedEdwardsY(*key).decompress().expect("a point");
    let t = EIGHT_TORSION[4];
    assert!(!t.is_identity() && (t + t).is_identity(), "order 2");
    let out = (a + t).compress().to_bytes();
    assert_eq!(out, ed25519_torsion_variants(key)[3]);
    out
}

/// A signature by `seed`'s key `A` that `verify_strict` accepts under `A + T` (`T` of order 2):
/// `S = r + k·a` with `k = SHA-512(R ‖ A + T ‖ M) mod L` even, so that
/// `[S]B − [k](A + T) = R − [k]T = R`. The nonce `r` is derived here (any works); about one `r`
/// in two gives an even `k`.
fn sign_under_torsion(seed: &[u8; 32], key_plus_t: &[u8; 32], message: &[u8]) -> [u8; 64] {
    let expanded = Sha512::digest(seed);
    let mut a: [u8; 32] = expanded[..32].try_into().unwrap();
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a);
    for counter in 0u32.. {
        let r: [u8; 64] = Sha512::new()
            .chain_update(&expanded[32..])
            .chain_update(counter.to_be_bytes())
            .chain_update(message)
            .finalize()
            .into();
        let r = Scalar::from_bytes_mod_order_wide(&r);
        let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let k: [u8; 64] = Sha512::new()
            .chain_update(big_r)
            .chain_update(key_plus_t)
            .chain_update(message)
            .finalize()
            .into();
        let k = Scalar::from_bytes_mod_order_wide(&k);
        if k.to_bytes()[0] & 1 == 0 {
            let s = r + k * a;
            let signature: [u8; 64] = [&big_r[..], s.as_bytes()].concat().try_into().unwrap();
            assert!(verifies(key_plus_t, message, &signature));
            return signature;
        }
    }
    unreachable!()
}

/// `LABEL_DEVICE_MEMBERSHIP ‖ account key ‖ device id u32 ‖ identity ‖ added_at u64`.
fn membership_bytes(account: &[u8; 32], id: u32, identity: &[u8; 32], added: u64) -> Vec<u8> {
    [
        LABEL_DEVICE_MEMBERSHIP,
        account,
        &id.to_be_bytes(),
        identity,
        &added.to_be_bytes(),
    ]
    .concat()
}

/// `device id u32 ‖ identity ‖ added_at u64 ‖ membership` (108 bytes).
fn entry_bytes(id: u32, identity: &[u8; 32], added: u64, membership: &[u8; 64]) -> Vec<u8> {
    [
        &id.to_be_bytes()[..],
        identity,
        &added.to_be_bytes(),
        membership,
    ]
    .concat()
}

/// Everything before the account signature, with the given count and entry bytes.
fn list_body(
    account: &[u8; 32],
    sequence: u64,
    previous: &[u8; 32],
    issued: u64,
    count: u16,
    entries: &[&[u8]],
) -> Vec<u8> {
    let mut b = vec![DEVICE_LIST_VERSION];
    b.extend_from_slice(account);
    b.extend_from_slice(&sequence.to_be_bytes());
    b.extend_from_slice(previous);
    b.extend_from_slice(&issued.to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    for e in entries {
        b.extend_from_slice(e);
    }
    b
}

/// `body ‖ Ed25519(seed, LABEL_DEVICE_LIST ‖ body)`.
fn signed_list(seed: &[u8; 32], body: &[u8]) -> Vec<u8> {
    let signature = sign(seed, &[LABEL_DEVICE_LIST, body].concat());
    [body, &signature[..]].concat()
}

/// Replaces the last 64 bytes with the signature of `seed` over `LABEL_DEVICE_LIST ‖` the rest.
fn resign(bytes: &[u8], seed: &[u8; 32]) -> Vec<u8> {
    signed_list(seed, &bytes[..bytes.len() - 64])
}

fn list_hash(encoding: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(LABEL_DEVICE_LIST_HASH)
        .chain_update(encoding)
        .finalize()
        .into()
}

/// `H_1`'s input: `LABEL_FINGERPRINT ‖ 0x01 ‖ 0x01 ‖ u8 len(id) ‖ id ‖ key`.
fn fingerprint_input(key: &[u8; 32], id: &[u8]) -> Vec<u8> {
    [
        LABEL_FINGERPRINT,
        &[0x01, 0x01, u8::try_from(id.len()).expect("id ≤ 255")],
        id,
        key,
    ]
    .concat()
}

/// (`H_1`, fingerprint = `H_5200[0..32]`).
fn fingerprint_by_hand(key: &[u8; 32], id: &[u8]) -> ([u8; 64], [u8; 32]) {
    let h1: [u8; 64] = Sha512::digest(fingerprint_input(key, id)).into();
    let mut h = h1;
    for _ in 2..=5200 {
        h = Sha512::new()
            .chain_update(h)
            .chain_update(key)
            .finalize()
            .into();
    }
    (h1, h[..32].try_into().unwrap())
}

/// Six groups of five bytes, each a 40-bit big-endian number mod 100 000, as five digits.
fn digits_by_hand(fp: &[u8; 32]) -> String {
    (0..6)
        .map(|g| {
            let mut n = 0u64;
            for b in &fp[5 * g..5 * g + 5] {
                n = n * 256 + u64::from(*b);
            }
            format!("{:05}", n % 100_000)
        })
        .collect()
}

fn smaller_first(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}{b}")
    } else {
        format!("{b}{a}")
    }
}

// ---------------------------------------------------------------------------------------------
// The cast: account keys, devices, entries, lists
// ---------------------------------------------------------------------------------------------

struct Account {
    name: &'static str,
    seed: [u8; 32],
    pair: AccountKeyPair,
    public: [u8; 32],
}

struct Device {
    name: &'static str,
    seed: [u8; 32],
    pair: IdentityKeyPair,
    public: [u8; 32],
}

struct Entry {
    name: &'static str,
    account: usize,
    device: usize,
    device_id: u32,
    added_at: u64,
    signed: Vec<u8>,
    membership: [u8; 64],
    encoding: Vec<u8>,
    entry: DeviceEntry,
}

/// How a list was made.
enum Made {
    First,
    Next(&'static str),
    /// By hand (the crate cannot make it: a list under another key naming our history).
    ByHand {
        sequence: u64,
        previous_of: &'static str,
    },
}

struct List {
    name: &'static str,
    description: &'static str,
    account: usize,
    made: Made,
    sequence: u64,
    previous: [u8; 32],
    issued_at: u64,
    entries: Vec<usize>,
    signed: Vec<u8>,
    signature: [u8; 64],
    encoding: Vec<u8>,
    hash: [u8; 32],
    list: DeviceList,
}

struct Book {
    accounts: Vec<Account>,
    devices: Vec<Device>,
    entries: Vec<Entry>,
    lists: Vec<List>,
}

impl Book {
    fn account(&mut self, rng: &mut Recorder, name: &'static str) -> usize {
        let seed = rng.bytes32();
        let pair = AccountKeyPair::from_seed(&seed);
        let public = public_of(&seed);
        assert_eq!(pair.public().as_bytes(), &public);
        assert_eq!(*pair.seed(), seed);
        self.accounts.push(Account {
            name,
            seed,
            pair,
            public,
        });
        self.accounts.len() - 1
    }

    fn device(&mut self, rng: &mut Recorder, name: &'static str) -> usize {
        let seed = rng.bytes32();
        let pair = IdentityKeyPair::from_seed(&seed);
        let public = public_of(&seed);
        assert_eq!(pair.public().as_bytes(), &public);
        self.devices.push(Device {
            name,
            seed,
            pair,
            public,
        });
        self.devices.len() - 1
    }

    fn acc(&self, name: &str) -> usize {
        self.accounts.iter().position(|a| a.name == name).unwrap()
    }

    fn dev(&self, name: &str) -> usize {
        self.devices.iter().position(|d| d.name == name).unwrap()
    }

    fn ent(&self, name: &str) -> usize {
        self.entries.iter().position(|e| e.name == name).unwrap()
    }

    fn get(&self, name: &str) -> &List {
        self.lists.iter().find(|l| l.name == name).unwrap()
    }

    fn entry(
        &mut self,
        name: &'static str,
        account: &str,
        device: &str,
        device_id: u32,
        added_at: u64,
    ) {
        let (a, d) = (self.acc(account), self.dev(device));
        let account_key = self.accounts[a].public;
        let identity = self.devices[d].public;
        let signed = membership_bytes(&account_key, device_id, &identity, added_at);
        let membership = sign(&self.devices[d].seed, &signed);
        let entry = DeviceEntry::sign(
            &self.devices[d].pair,
            self.accounts[a].pair.public(),
            device_id,
            added_at,
        );
        assert_eq!(entry.device_id(), device_id);
        assert_eq!(entry.identity().as_bytes(), &identity);
        assert_eq!(entry.added_at_ms(), added_at);
        self.entries.push(Entry {
            name,
            account: a,
            device: d,
            device_id,
            added_at,
            signed,
            membership,
            encoding: entry_bytes(device_id, &identity, added_at, &membership),
            entry,
        });
    }

    /// Makes a list through the crate (entries given in any order: the crate sorts them) and by
    /// hand, and requires the same bytes.
    fn list(
        &mut self,
        name: &'static str,
        description: &'static str,
        account: &str,
        made: Made,
        entries: &[&str],
        issued_at: u64,
    ) {
        let a = self.acc(account);
        let mut idx: Vec<usize> = entries.iter().map(|e| self.ent(e)).collect();
        for i in &idx {
            assert_eq!(
                self.entries[*i].account, a,
                "{name}: entry for this account"
            );
        }
        let given: Vec<DeviceEntry> = idx.iter().map(|i| self.entries[*i].entry).collect();
        idx.sort_by_key(|i| self.entries[*i].device_id);
        let (sequence, previous) = match &made {
            Made::First => (1, [0; 32]),
            Made::Next(before) => {
                let b = self.get(before);
                (b.sequence + 1, b.hash)
            }
            Made::ByHand {
                sequence,
                previous_of,
            } => (*sequence, self.get(previous_of).hash),
        };
        let entry_bytes: Vec<&[u8]> = idx
            .iter()
            .map(|i| self.entries[*i].encoding.as_slice())
            .collect();
        let body = list_body(
            &self.accounts[a].public,
            sequence,
            &previous,
            issued_at,
            u16::try_from(idx.len()).unwrap(),
            &entry_bytes,
        );
        let signed = [LABEL_DEVICE_LIST, &body[..]].concat();
        let signature = sign(&self.accounts[a].seed, &signed);
        let encoding = [&body[..], &signature[..]].concat();
        let hash = list_hash(&encoding);
        let pair = &self.accounts[a].pair;
        let list = match &made {
            Made::First => DeviceList::first(pair, given, issued_at).unwrap(),
            Made::Next(before) => self.get(before).list.next(pair, given, issued_at).unwrap(),
            Made::ByHand { .. } => DeviceList::from_bytes(&encoding).unwrap(),
        };
        assert_eq!(list.to_bytes(), encoding, "{name}");
        assert_eq!(list.hash(), hash, "{name}");
        assert_eq!(list.sequence(), sequence);
        assert_eq!(list.previous_hash(), &previous);
        assert_eq!(list.issued_at_ms(), issued_at);
        assert_eq!(DeviceList::from_bytes(&encoding).unwrap(), list);
        self.lists.push(List {
            name,
            description,
            account: a,
            made,
            sequence,
            previous,
            issued_at,
            entries: idx,
            signed,
            signature,
            encoding,
            hash,
            list,
        });
    }

    fn identity(&self, device: &str) -> xchat_protocol::IdentityKey {
        *self.devices[self.dev(device)].pair.public()
    }
}

fn cast(rng: &mut Recorder) -> Book {
    let mut b = Book {
        accounts: Vec::new(),
        devices: Vec::new(),
        entries: Vec::new(),
        lists: Vec::new(),
    };
    b.account(rng, "account");
    b.account(rng, "other_account");
    b.account(rng, "new_account");
    for name in ["device_1", "device_2", "device_3", "device_4", "ghost"] {
        b.device(rng, name);
    }
    // Device ids need not follow the order devices joined: device_3 takes id 2, so in list_2
    // its entry lies between device_1's and device_2's (entries are sorted by id).
    b.entry("account/device_1", "account", "device_1", 1, T0);
    b.entry("account/device_2", "account", "device_2", 4, T0 + 1_000);
    b.entry("account/device_3", "account", "device_3", 2, T0 + DAY);
    b.entry("account/device_4", "account", "device_4", 4, T0 + 3 * DAY);
    b.entry(
        "other_account/ghost",
        "other_account",
        "ghost",
        3,
        T0 + 2 * DAY,
    );
    b.entry(
        "new_account/device_3",
        "new_account",
        "device_3",
        2,
        T0 + 5 * DAY,
    );
    b.entry(
        "new_account/device_1",
        "new_account",
        "device_1",
        5,
        T0 + 5 * DAY,
    );
    // Entries only the negative cases use.
    b.entry("account/device_1_as_3", "account", "device_1", 3, T0);
    b.entry("account/device_3_as_4", "account", "device_3", 4, T0 + DAY);

    b.list(
        "list_1",
        "the account's first list: device_1 (id 1) and device_2 (id 4)",
        "account",
        Made::First,
        &["account/device_1", "account/device_2"],
        T0 + 2_000,
    );
    b.list(
        "list_2",
        "adds device_3 (id 2)",
        "account",
        Made::Next("list_1"),
        &["account/device_3", "account/device_2", "account/device_1"],
        T0 + DAY + 1_000,
    );
    b.list(
        "list_3",
        "removes device_1",
        "account",
        Made::Next("list_2"),
        &["account/device_2", "account/device_3"],
        T0 + 2 * DAY,
    );
    b.list(
        "list_4",
        "id 4 changes hands: device_2 is replaced by device_4",
        "account",
        Made::Next("list_3"),
        &["account/device_4", "account/device_3"],
        T0 + 3 * DAY + 1_000,
    );
    b.list(
        "list_5",
        "the same devices as list_4, issued again",
        "account",
        Made::Next("list_4"),
        &["account/device_3", "account/device_4"],
        T0 + 4 * DAY,
    );
    b.list(
        "fork_3",
        "a second list with sequence 3 after list_2 (device_1 kept): what a server shows someone else",
        "account",
        Made::Next("list_2"),
        &["account/device_1", "account/device_2", "account/device_3"],
        T0 + 2 * DAY + 5_000,
    );
    b.list(
        "fork_4",
        "sequence 4 after fork_3: it names fork_3's hash, not list_3's",
        "account",
        Made::Next("fork_3"),
        &["account/device_1", "account/device_3"],
        T0 + 3 * DAY,
    );
    b.list(
        "other_4",
        "made by hand: sequence 4 naming list_3's hash, but under other_account's key, listing the ghost device it signed up",
        "other_account",
        Made::ByHand {
            sequence: 4,
            previous_of: "list_3",
        },
        &["other_account/ghost"],
        T0 + 3 * DAY,
    );
    b.list(
        "new_1",
        "the account's first list under its new key: device_3 (id 2) and device_1 back under id 5",
        "new_account",
        Made::First,
        &["new_account/device_1", "new_account/device_3"],
        T0 + 5 * DAY + 1_000,
    );
    b
}

// ---------------------------------------------------------------------------------------------
// `lists`
// ---------------------------------------------------------------------------------------------

fn lists_json(b: &Book) -> Json {
    let accounts: Vec<Json> = b
        .accounts
        .iter()
        .map(|a| {
            Obj::new()
                .f("name", a.name)
                .f("seed", hx(a.seed))
                .f("public", hx(a.public))
                .into()
        })
        .collect();
    let devices: Vec<Json> = b
        .devices
        .iter()
        .map(|d| {
            Obj::new()
                .f("name", d.name)
                .f("identity_seed", hx(d.seed))
                .f("identity_public", hx(d.public))
                .into()
        })
        .collect();
    let entries: Vec<Json> = b
        .entries
        .iter()
        .map(|e| {
            Obj::new()
                .f("name", e.name)
                .f("account", b.accounts[e.account].name)
                .f("device", b.devices[e.device].name)
                .f("device_id", e.device_id)
                .f("identity", hx(b.devices[e.device].public))
                .f("added_at_ms", big(e.added_at))
                .f("membership_signed_bytes", hx(&e.signed))
                .f("membership", hx(e.membership))
                .f("encoding", hx(&e.encoding))
                .into()
        })
        .collect();
    let lists: Vec<Json> = b
        .lists
        .iter()
        .map(|l| {
            let made: Json = match &l.made {
                Made::First => Obj::new().f("operation", "DeviceList::first").into(),
                Made::Next(before) => Obj::new()
                    .f("operation", "DeviceList::next")
                    .f("after", *before)
                    .into(),
                Made::ByHand { .. } => Obj::new().f("operation", "by hand").into(),
            };
            Obj::new()
                .f("name", l.name)
                .f("description", l.description)
                .f("made_with", made)
                .f("account", b.accounts[l.account].name)
                .f("account_key", hx(b.accounts[l.account].public))
                .f("sequence", big(l.sequence))
                .f("previous_hash", hx(l.previous))
                .f("issued_at_ms", big(l.issued_at))
                .f(
                    "entries",
                    Json::Array(
                        l.entries
                            .iter()
                            .map(|i| Json::from(b.entries[*i].name))
                            .collect(),
                    ),
                )
                .f("signed_bytes", hx(&l.signed))
                .f("signature", hx(l.signature))
                .f("encoding", hx(&l.encoding))
                .f("hash", hx(l.hash))
                .into()
        })
        .collect();
    let history = ["list_1", "list_2", "list_3"];
    for w in history.windows(2) {
        assert_eq!(b.get(w[1]).previous, b.get(w[0]).hash);
    }
    Obj::new()
        .f("accounts", Json::Array(accounts))
        .f("devices", Json::Array(devices))
        .f("entries", Json::Array(entries))
        .f("lists", Json::Array(lists))
        .f(
            "history",
            Json::Array(history.iter().map(|n| Json::from(*n)).collect()),
        )
        .into()
}

// ---------------------------------------------------------------------------------------------
// `boundary`: a list of MAX_DEVICES devices, and one more
// ---------------------------------------------------------------------------------------------

struct Boundary {
    /// The 65 entries, counted 65 and signed: `TooLarge`.
    encoding_65: Vec<u8>,
}

fn boundary(rng: &mut Recorder, b: &Book) -> (Json, Boundary) {
    let account = &b.accounts[b.acc("account")];
    let seeds: Vec<[u8; 32]> = (0..=MAX_DEVICES).map(|_| rng.bytes32()).collect();
    let id = |i: usize| u32::try_from(i + 1).unwrap();
    let entries: Vec<DeviceEntry> = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            DeviceEntry::sign(
                &IdentityKeyPair::from_seed(s),
                account.pair.public(),
                id(i),
                T0,
            )
        })
        .collect();
    let raw: Vec<Vec<u8>> = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let identity = public_of(s);
            let m = sign(s, &membership_bytes(&account.public, id(i), &identity, T0));
            entry_bytes(id(i), &identity, T0, &m)
        })
        .collect();
    let refs: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
    let issued = T0 + 10 * DAY;
    let body_64 = list_body(&account.public, 1, &[0; 32], issued, 64, &refs[..64]);
    let encoding_64 = signed_list(&account.seed, &body_64);
    let list = DeviceList::first(&account.pair, entries[..64].to_vec(), issued).unwrap();
    assert_eq!(list.to_bytes(), encoding_64);
    assert_eq!(DeviceList::from_bytes(&encoding_64).unwrap(), list);
    assert_eq!(encoding_64.len(), ENTRIES_AT + 64 * ENTRY_LEN + 64);
    let over = DeviceList::first(&account.pair, entries.clone(), issued).unwrap_err();
    assert_eq!(over, AccountError::InvalidDeviceList);
    let body_65 = list_body(&account.public, 1, &[0; 32], issued, 65, &refs);
    let encoding_65 = signed_list(&account.seed, &body_65);
    let json = Obj::new()
        .f("name", "sixty_four_devices")
        .f(
            "description",
            "the account's first list with MAX_DEVICES = 64 devices: device i (1 to 64) has the identity of seed i, id i, added_at_ms t0; seed 65 is a 65th device, id 65, added at t0, that `DeviceList::first` refuses to add (InvalidDeviceList) and that the negative case `device count 65 with 65 genuine entries` lists",
        )
        .f("account", account.name)
        .f("device_seeds", hex_list(&seeds))
        .f("added_at_ms", big(T0))
        .f("issued_at_ms", big(issued))
        .f("encoding", hx(&encoding_64))
        .f("hash", hx(list_hash(&encoding_64)))
        .f("first_with_65_devices", format!("{over:?}"))
        .into();
    (json, Boundary { encoding_65 })
}

// ---------------------------------------------------------------------------------------------
// `view`: a DeviceListView's steps
// ---------------------------------------------------------------------------------------------

/// An event as the test writes it: (kind, device id, device name).
#[derive(Clone, Copy)]
enum Ev {
    Added(u32, &'static str),
    Removed(u32, &'static str),
    KeyChanged(&'static str, &'static str),
}

enum Op {
    New(&'static str),
    Update(&'static [&'static str]),
    Accept(&'static str),
    Check(&'static str),
}

enum Want {
    Events(&'static [Ev]),
    Error(AccountError),
    Device(u32),
}

fn event_json(b: &Book, e: &AccountEvent) -> Json {
    let name_of = |identity: &[u8; 32]| {
        b.devices
            .iter()
            .find(|d| &d.public == identity)
            .map(|d| d.name)
            .unwrap()
    };
    let account_of = |key: &[u8; 32]| {
        b.accounts
            .iter()
            .find(|a| &a.public == key)
            .map(|a| a.name)
            .unwrap()
    };
    match e {
        AccountEvent::DeviceAdded {
            device_id,
            identity,
        } => Obj::new()
            .f("event", "DeviceAdded")
            .f("device_id", *device_id)
            .f("device", name_of(identity.as_bytes()))
            .f("identity", hx(identity.as_bytes())),
        AccountEvent::DeviceRemoved {
            device_id,
            identity,
        } => Obj::new()
            .f("event", "DeviceRemoved")
            .f("device_id", *device_id)
            .f("device", name_of(identity.as_bytes()))
            .f("identity", hx(identity.as_bytes())),
        AccountEvent::AccountKeyChanged { old, new } => Obj::new()
            .f("event", "AccountKeyChanged")
            .f("old_account", account_of(old.as_bytes()))
            .f("old", hx(old.as_bytes()))
            .f("new_account", account_of(new.as_bytes()))
            .f("new", hx(new.as_bytes())),
        _ => panic!("an event this file does not know"),
    }
    .into()
}

fn expected_event(b: &Book, e: Ev) -> AccountEvent {
    let key = |name: &str| *b.accounts[b.acc(name)].pair.public();
    match e {
        Ev::Added(device_id, d) => AccountEvent::DeviceAdded {
            device_id,
            identity: b.identity(d),
        },
        Ev::Removed(device_id, d) => AccountEvent::DeviceRemoved {
            device_id,
            identity: b.identity(d),
        },
        Ev::KeyChanged(old, new) => AccountEvent::AccountKeyChanged {
            old: key(old),
            new: key(new),
        },
    }
}

fn view_json(b: &Book) -> Json {
    use AccountError::{Fork, Gap, Rollback, UnknownDevice, WrongAccount};
    let steps: Vec<(&str, Op, Want)> = vec![
        (
            "a contact's first list, trusted on first use",
            Op::New("list_1"),
            Want::Events(&[]),
        ),
        (
            "the list held again: skipped, no events",
            Op::Update(&["list_1"]),
            Want::Events(&[]),
        ),
        (
            "list_2 adds device_3",
            Op::Update(&["list_2"]),
            Want::Events(&[Ev::Added(2, "device_3")]),
        ),
        (
            "list_3 removes device_1",
            Op::Update(&["list_3"]),
            Want::Events(&[Ev::Removed(1, "device_1")]),
        ),
        (
            "list_3 again: skipped, no events",
            Op::Update(&["list_3"]),
            Want::Events(&[]),
        ),
        (
            "rollback: list_2 after list_3",
            Op::Update(&["list_2"]),
            Want::Error(Rollback),
        ),
        (
            "rollback: the first list after list_3",
            Op::Update(&["list_1"]),
            Want::Error(Rollback),
        ),
        (
            "fork: another list with our sequence (3)",
            Op::Update(&["fork_3"]),
            Want::Error(Fork),
        ),
        (
            "fork: the next sequence (4) naming another list's hash (fork_3's)",
            Op::Update(&["fork_4"]),
            Want::Error(Fork),
        ),
        (
            "gap: sequence 5 after 3, list_4 missing",
            Op::Update(&["list_5"]),
            Want::Error(Gap),
        ),
        (
            "another account key: the next sequence, naming list_3's hash, signed by other_account",
            Op::Update(&["other_4"]),
            Want::Error(WrongAccount),
        ),
        (
            "all or nothing: list_4 passes, other_4 then fails, and the view keeps list_3",
            Op::Update(&["list_4", "other_4"]),
            Want::Error(WrongAccount),
        ),
        (
            "all or nothing: list_4 passes, fork_4 (sequence 4, other bytes) then forks",
            Op::Update(&["list_4", "fork_4"]),
            Want::Error(Fork),
        ),
        (
            "accept_new_account_key under the key already held is update: list_2 is a rollback",
            Op::Accept("list_2"),
            Want::Error(Rollback),
        ),
        (
            "accept_new_account_key under the key already held, the list held: no events",
            Op::Accept("list_3"),
            Want::Events(&[]),
        ),
        ("a listed device", Op::Check("device_2"), Want::Device(4)),
        ("a listed device", Op::Check("device_3"), Want::Device(2)),
        (
            "a removed device (list_3 removed it)",
            Op::Check("device_1"),
            Want::Error(UnknownDevice),
        ),
        (
            "a ghost: a device the account never listed (other_account lists it)",
            Op::Check("ghost"),
            Want::Error(UnknownDevice),
        ),
        (
            "two lists at once: device_2's id 4 now belongs to device_4 (removed, then added)",
            Op::Update(&["list_4", "list_5"]),
            Want::Events(&[Ev::Removed(4, "device_2"), Ev::Added(4, "device_4")]),
        ),
        (
            "the replaced device",
            Op::Check("device_2"),
            Want::Error(UnknownDevice),
        ),
        ("its replacement", Op::Check("device_4"), Want::Device(4)),
        (
            "a list under a new account key: refused by update",
            Op::Update(&["new_1"]),
            Want::Error(WrongAccount),
        ),
        (
            "the user confirmed the new safety number: the key changes and so do the devices",
            Op::Accept("new_1"),
            Want::Events(&[
                Ev::KeyChanged("account", "new_account"),
                Ev::Removed(4, "device_4"),
                Ev::Added(5, "device_1"),
            ]),
        ),
        (
            "a list under the old key is now another account's",
            Op::Update(&["list_5"]),
            Want::Error(WrongAccount),
        ),
        (
            "device_1, listed again under id 5",
            Op::Check("device_1"),
            Want::Device(5),
        ),
    ];
    let mut view: Option<DeviceListView> = None;
    let mut out = Vec::new();
    for (description, op, want) in steps {
        let list = |n: &str| b.get(n).list.clone();
        let before = view.clone();
        let (operation, input, result): (&str, Json, Json) = match &op {
            Op::New(n) => {
                view = Some(DeviceListView::new(list(n)));
                (
                    "DeviceListView::new",
                    Obj::new().f("list", *n).into(),
                    Obj::new().f("events", Json::Array(Vec::new())).into(),
                )
            }
            Op::Update(names) => {
                let lists: Vec<DeviceList> = names.iter().map(|n| list(n)).collect();
                let got = view.as_mut().unwrap().update(&lists);
                let input = Obj::new().f(
                    "lists",
                    Json::Array(names.iter().map(|n| Json::from(*n)).collect()),
                );
                ("update", input.into(), events_result(b, &want, got))
            }
            Op::Accept(n) => {
                let got = view.as_mut().unwrap().accept_new_account_key(list(n));
                (
                    "accept_new_account_key",
                    Obj::new().f("list", *n).into(),
                    events_result(b, &want, got),
                )
            }
            Op::Check(d) => {
                let identity = b.identity(d);
                let got = view.as_ref().unwrap().check_device(&identity).copied();
                let result = match (&want, got) {
                    (Want::Device(id), Ok(entry)) => {
                        assert_eq!(entry.device_id(), *id, "{description}");
                        assert_eq!(entry.identity(), &identity);
                        Obj::new().f(
                            "device",
                            Obj::new()
                                .f("device_id", entry.device_id())
                                .f("added_at_ms", big(entry.added_at_ms())),
                        )
                    }
                    (Want::Error(e), Err(got)) => {
                        assert_eq!(&got, e, "{description}");
                        Obj::new().f("error", format!("{got:?}"))
                    }
                    _ => panic!("{description}: unexpected outcome"),
                };
                (
                    "check_device",
                    Obj::new()
                        .f("device", *d)
                        .f("identity", hx(identity.as_bytes()))
                        .into(),
                    result.into(),
                )
            }
        };
        let current = view.as_ref().unwrap().current();
        if matches!(want, Want::Error(_)) {
            assert_eq!(Some(current), before.as_ref().map(DeviceListView::current));
        }
        let held = b
            .lists
            .iter()
            .find(|l| l.encoding == current.to_bytes())
            .unwrap();
        out.push(Json::from(
            Obj::new()
                .f("description", description)
                .f("operation", operation)
                .f("input", input)
                .f("expected", result)
                .f("current_after", held.name),
        ));
    }
    Json::Array(out)
}

fn events_result(b: &Book, want: &Want, got: Result<Vec<AccountEvent>, AccountError>) -> Json {
    match (want, got) {
        (Want::Events(events), Ok(got)) => {
            let expected: Vec<AccountEvent> =
                events.iter().map(|e| expected_event(b, *e)).collect();
            assert_eq!(got, expected);
            Obj::new()
                .f(
                    "events",
                    Json::Array(got.iter().map(|e| event_json(b, e)).collect()),
                )
                .into()
        }
        (Want::Error(e), Err(got)) => {
            assert_eq!(&got, e);
            Obj::new().f("error", format!("{got:?}")).into()
        }
        (_, got) => panic!("unexpected outcome {got:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// `safety_numbers`
// ---------------------------------------------------------------------------------------------

struct SafetyAccount {
    name: &'static str,
    seed: [u8; 32],
    pair: AccountKeyPair,
    id: Vec<u8>,
    fingerprint: [u8; 32],
    digits: String,
}

fn safety_json(rng: &mut Recorder) -> Json {
    let mut accounts: Vec<SafetyAccount> = Vec::new();
    let alice_seed = rng.bytes32();
    let bob_seed = rng.bytes32();
    let carol_seed = rng.bytes32();
    let max_id: Vec<u8> = (0..=254u8).collect();
    assert_eq!(max_id.len(), MAX_ACCOUNT_ID_LEN);
    for (name, seed, id) in [
        ("alice", alice_seed, b"alice".to_vec()),
        ("bob", bob_seed, b"bob".to_vec()),
        ("carol", carol_seed, max_id.clone()),
        ("alice_empty_id", alice_seed, Vec::new()),
    ] {
        let pair = AccountKeyPair::from_seed(&seed);
        let key = *pair.public().as_bytes();
        let (_, fp) = fingerprint_by_hand(&key, &id);
        let f = Fingerprint::of(pair.public(), &id).unwrap();
        assert_eq!(f.as_bytes(), &fp);
        let digits = digits_by_hand(&fp);
        assert_eq!(f.digits(), digits);
        assert_eq!(digits.len(), 30);
        accounts.push(SafetyAccount {
            name,
            seed,
            pair,
            id,
            fingerprint: fp,
            digits,
        });
    }
    assert_ne!(accounts[0].fingerprint, accounts[3].fingerprint);
    let find = |n: &str| accounts.iter().find(|a| a.name == n).unwrap();
    let accounts_json: Vec<Json> = accounts
        .iter()
        .map(|a| {
            let key = *a.pair.public().as_bytes();
            let (h1, _) = fingerprint_by_hand(&key, &a.id);
            Obj::new()
                .f("name", a.name)
                .f("seed", hx(a.seed))
                .f("public", hx(key))
                .f("account_id", hx(&a.id))
                .f("account_id_len", a.id.len())
                .f("h1_input", hx(fingerprint_input(&key, &a.id)))
                .f("h1", hx(h1))
                .f("fingerprint", hx(a.fingerprint))
                .f("digits", a.digits.as_str())
                .into()
        })
        .collect();

    // Pairs: (name, a, b).
    let pair_specs = [
        ("alice_bob", "alice", "bob"),
        ("carol_bob", "carol", "bob"),
        ("alice_empty_id_bob", "alice_empty_id", "bob"),
    ];
    let number = |x: &SafetyAccount, y: &SafetyAccount| {
        SafetyNumber::new((x.pair.public(), &x.id), (y.pair.public(), &y.id)).unwrap()
    };
    let qr = |x: &SafetyAccount, y: &SafetyAccount| {
        [&[SAFETY_NUMBER_VERSION][..], &x.fingerprint, &y.fingerprint].concat()
    };
    let mut pairs = Vec::new();
    let mut saw_swap = false;
    for (name, a, bn) in pair_specs {
        let (x, y) = (find(a), find(bn));
        let (on_a, on_b) = (number(x, y), number(y, x));
        let digits = smaller_first(&x.digits, &y.digits);
        saw_swap |= x.digits > y.digits;
        assert_eq!(on_a.digits(), digits);
        assert_eq!(on_b.digits(), digits);
        assert_eq!(on_a.local().as_bytes(), &x.fingerprint);
        assert_eq!(on_a.remote().as_bytes(), &y.fingerprint);
        assert_eq!(on_a.qr_payload().to_vec(), qr(x, y));
        assert_eq!(on_b.qr_payload().to_vec(), qr(y, x));
        assert_eq!(on_a.compare(&on_b.qr_payload()).unwrap(), Comparison::Match);
        pairs.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("a", a)
                .f("b", bn)
                .f("safety_number_on_a", on_a.digits())
                .f("safety_number_on_b", on_b.digits())
                .f("qr_payload_of_a", hx(on_a.qr_payload()))
                .f("qr_payload_of_b", hx(on_b.qr_payload())),
        ));
    }
    assert!(saw_swap, "one pair shows b's digits first");

    // Comparisons: (name, pair, side scanning, scanned bytes).
    let (alice, bob, carol) = (find("alice"), find("bob"), find("carol"));
    let alice_qr = qr(alice, bob);
    let bob_qr = qr(bob, alice);
    let with = |v: &[u8], f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = v.to_vec();
        f(&mut v);
        v
    };
    // (name, pair, the side that scans, the scanned bytes, the outcome)
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        Vec<u8>,
        Result<Comparison, xchat_protocol::DecodeError>,
    );
    let cases: Vec<Case> = vec![
        (
            "alice scans bob's code",
            "alice_bob",
            "a",
            bob_qr.clone(),
            Ok(Comparison::Match),
        ),
        (
            "bob scans alice's code",
            "alice_bob",
            "b",
            alice_qr.clone(),
            Ok(Comparison::Match),
        ),
        (
            "alice scans her own code (reflected): the fingerprints in the wrong order",
            "alice_bob",
            "a",
            alice_qr.clone(),
            Ok(Comparison::Mismatch),
        ),
        (
            "alice scans a third account's code: carol's, for carol and bob",
            "alice_bob",
            "a",
            qr(carol, bob),
            Ok(Comparison::Mismatch),
        ),
        (
            "bob scans a code naming alice under another id (her empty-id fingerprint)",
            "alice_bob",
            "b",
            qr(find("alice_empty_id"), bob),
            Ok(Comparison::Mismatch),
        ),
        (
            "bob's code with its last byte changed",
            "alice_bob",
            "a",
            with(&bob_qr, &|v| v[64] ^= 0x01),
            Ok(Comparison::Mismatch),
        ),
        (
            "bob's code with version 0x02",
            "alice_bob",
            "a",
            with(&bob_qr, &|v| v[0] = 0x02),
            Ok(Comparison::OtherVersion(2)),
        ),
        (
            "version 0x00",
            "alice_bob",
            "a",
            with(&bob_qr, &|v| v[0] = 0x00),
            Ok(Comparison::OtherVersion(0)),
        ),
        (
            "version 0x02 alone: the version is read before any length check",
            "alice_bob",
            "a",
            vec![0x02],
            Ok(Comparison::OtherVersion(2)),
        ),
        (
            "version 0x02 and 100 bytes: a future, longer format",
            "alice_bob",
            "a",
            with(&bob_qr, &|v| {
                v[0] = 0x02;
                v.resize(100, 0x5a);
            }),
            Ok(Comparison::OtherVersion(2)),
        ),
        (
            "empty",
            "alice_bob",
            "a",
            Vec::new(),
            Err(xchat_protocol::DecodeError::Truncated),
        ),
        (
            "version 0x01 alone",
            "alice_bob",
            "a",
            vec![0x01],
            Err(xchat_protocol::DecodeError::Truncated),
        ),
        (
            "bob's code without its last byte (64 bytes)",
            "alice_bob",
            "a",
            bob_qr[..64].to_vec(),
            Err(xchat_protocol::DecodeError::Truncated),
        ),
        (
            "bob's code and one more byte (66 bytes)",
            "alice_bob",
            "a",
            with(&bob_qr, &|v| v.push(0)),
            Err(xchat_protocol::DecodeError::TrailingBytes),
        ),
    ];
    let mut comparisons = Vec::new();
    for (name, pair, side, scanned, expected) in cases {
        let (x, y) = match (pair, side) {
            ("alice_bob", "a") => (alice, bob),
            ("alice_bob", "b") => (bob, alice),
            _ => unreachable!(),
        };
        let got = number(x, y).compare(&scanned);
        assert_eq!(got, expected, "{name}");
        let o = Obj::new()
            .f("name", name)
            .f("pair", pair)
            .f("side", side)
            .f("scanned", hx(&scanned));
        comparisons.push(Json::from(match got {
            Ok(c) => o.f("expected", format!("{c:?}")),
            Err(e) => o.f("expected_error", format!("{e:?}")),
        }));
    }

    // Ids over 255 bytes.
    let long: Vec<u8> = (0..=255u8).collect();
    assert_eq!(long.len(), MAX_ACCOUNT_ID_LEN + 1);
    let f = Fingerprint::of(alice.pair.public(), &long).unwrap_err();
    assert_eq!(f, AccountError::TooLarge);
    let local =
        SafetyNumber::new((alice.pair.public(), &long), (bob.pair.public(), &bob.id)).unwrap_err();
    let remote = SafetyNumber::new((alice.pair.public(), &alice.id), (bob.pair.public(), &long))
        .unwrap_err();
    assert_eq!(
        (local, remote),
        (AccountError::TooLarge, AccountError::TooLarge)
    );
    let too_large: Vec<Json> = vec![
        Obj::new()
            .f("name", "Fingerprint::of, an id of 256 bytes")
            .f("operation", "Fingerprint::of")
            .f("account", "alice")
            .f("account_id", hx(&long))
            .f("expected_error", format!("{f:?}"))
            .into(),
        Obj::new()
            .f("name", "SafetyNumber::new, our id of 256 bytes")
            .f("operation", "SafetyNumber::new")
            .f("local_account", "alice")
            .f("local_id", hx(&long))
            .f("remote_account", "bob")
            .f("remote_id", hx(&bob.id))
            .f("expected_error", format!("{local:?}"))
            .into(),
        Obj::new()
            .f("name", "SafetyNumber::new, their id of 256 bytes")
            .f("operation", "SafetyNumber::new")
            .f("local_account", "alice")
            .f("local_id", hx(&alice.id))
            .f("remote_account", "bob")
            .f("remote_id", hx(&long))
            .f("expected_error", format!("{remote:?}"))
            .into(),
    ];

    Obj::new()
        .f("accounts", Json::Array(accounts_json))
        .f("pairs", Json::Array(pairs))
        .f("comparisons", Json::Array(comparisons))
        .f("too_large", Json::Array(too_large))
        .into()
}

// ---------------------------------------------------------------------------------------------
// `negative`: DeviceList::from_bytes
// ---------------------------------------------------------------------------------------------

fn with(bytes: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = bytes.to_vec();
    f(&mut v);
    v
}

fn entry_at(i: usize) -> usize {
    ENTRIES_AT + i * ENTRY_LEN
}

/// A non-canonical Ed25519 encoding (`y = p + k`) of a point that is not of small order, if
/// one of the 19 candidates decompresses.
fn non_canonical_large_order() -> Option<[u8; 32]> {
    (2u8..=18).find_map(|k| {
        let mut y = [0xffu8; 32];
        y[31] = 0x7f;
        y[0] = 0xed + k;
        let point = CompressedEdwardsY(y).decompress()?;
        (!point.is_small_order() && point.compress().to_bytes() != y).then_some(y)
    })
}

/// Whether the last 64 bytes are a valid signature (`verify_strict`) by the key at bytes 1..33
/// over `LABEL_DEVICE_LIST ‖` the bytes before them; `None` for an input too short to hold a
/// header, a count and a signature.
fn account_signature_valid(input: &[u8]) -> Option<bool> {
    if input.len() < ENTRIES_AT + 64 {
        return None;
    }
    let key: [u8; 32] = input[1..33].try_into().unwrap();
    let (body, signature) = input.split_at(input.len() - 64);
    Some(verifies(
        &key,
        &[LABEL_DEVICE_LIST, body].concat(),
        signature,
    ))
}

fn negative_json(b: &Book, max: &Boundary) -> Json {
    use xchat_protocol::DecodeError::{
        InvalidKey, NonCanonical, TooLarge, TrailingBytes, Truncated, UnknownVersion,
    };
    let account = &b.accounts[b.acc("account")];
    let other = &b.accounts[b.acc("other_account")];
    let new = &b.accounts[b.acc("new_account")];
    let seed = account.seed;
    let l1 = b.get("list_1").encoding.clone();
    let l2 = b.get("list_2").encoding.clone();
    let entry = |n: &str| b.entries[b.ent(n)].encoding.clone();
    let dev = |n: &str| &b.devices[b.dev(n)];
    // list_2's entries, in order: device_1 (id 1), device_3 (id 2), device_2 (id 4).
    assert_eq!(
        &l2[entry_at(0)..entry_at(1)],
        &entry("account/device_1")[..]
    );
    assert_eq!(
        &l2[entry_at(1)..entry_at(2)],
        &entry("account/device_3")[..]
    );
    assert_eq!(
        &l2[entry_at(2)..entry_at(3)],
        &entry("account/device_2")[..]
    );
    let n = l2.len();
    let sig_at = n - 64;
    let d3_identity = dev("device_3").public;
    let order8 = EIGHT_TORSION[1].compress().to_bytes();
    let neutral = EIGHT_TORSION[0].compress().to_bytes();
    let order2_variant = plus_order_2(&d3_identity);
    let order8_variant = ed25519_torsion_variants(&d3_identity)[0];
    let account_variant = plus_order_2(&account.public);
    let not_on_curve = (2u8..=255)
        .map(|y| with(&[0u8; 32], |v| v[0] = y))
        .find(|v| {
            CompressedEdwardsY(v[..].try_into().unwrap())
                .decompress()
                .is_none()
        })
        .unwrap();
    let set_entry = |v: &mut Vec<u8>, i: usize, e: &[u8]| {
        v[entry_at(i)..entry_at(i + 1)].copy_from_slice(e);
    };
    let set_membership = |v: &mut Vec<u8>, i: usize, m: &[u8; 64]| {
        let at = entry_at(i) + MEMBERSHIP_IN_ENTRY;
        v[at..at + 64].copy_from_slice(m);
    };
    let set_identity = |v: &mut Vec<u8>, i: usize, k: &[u8; 32]| {
        let at = entry_at(i) + IDENTITY_IN_ENTRY;
        v[at..at + 32].copy_from_slice(k);
    };
    let d3_membership_for = |account_key: &[u8; 32]| {
        sign(
            &dev("device_3").seed,
            &membership_bytes(account_key, 2, &d3_identity, T0 + DAY),
        )
    };

    // (name, spec, base, resigned, input, expected)
    type Case = (
        String,
        &'static str,
        &'static str,
        bool,
        Vec<u8>,
        AccountError,
    );
    let mut cases: Vec<Case> = Vec::new();
    let mut push = |name: &str, spec, base, resigned, input: Vec<u8>, e: AccountError| {
        cases.push((name.to_owned(), spec, base, resigned, input, e));
    };
    let d = AccountError::Decode;

    // Truncation: a cut inside or before every field.
    for (name, len) in [
        ("empty input", 0),
        ("the version alone", 1),
        ("cut inside the account key", 20),
        ("cut inside the sequence", SEQUENCE_AT + 4),
        ("cut inside the previous hash", PREVIOUS_AT + 16),
        ("cut inside issued_at", ISSUED_AT + 7),
        ("cut inside the device count", COUNT_AT + 1),
        ("cut after the device count", ENTRIES_AT),
        ("cut inside the first entry's device id", ENTRIES_AT + 2),
        (
            "cut inside the second entry's identity",
            entry_at(1) + IDENTITY_IN_ENTRY + 10,
        ),
        (
            "cut inside the third entry's added_at",
            entry_at(2) + ADDED_IN_ENTRY + 3,
        ),
        (
            "cut inside the third entry's membership",
            entry_at(2) + MEMBERSHIP_IN_ENTRY + 50,
        ),
        ("the signature missing", sig_at),
        ("the signature's last byte missing", n - 1),
    ] {
        push(
            name,
            "§2.6, §15.1",
            "list_2",
            false,
            l2[..len].to_vec(),
            d(Truncated),
        );
    }
    push(
        "a trailing zero byte",
        "§2.5, §15.1",
        "list_2",
        false,
        with(&l2, |v| v.push(0)),
        d(TrailingBytes),
    );
    for version in [0x02u8, 0x00, 0xff] {
        push(
            &format!("version 0x{version:02x}"),
            "§15.1",
            "list_2",
            true,
            resign(&with(&l2, |v| v[0] = version), &seed),
            d(UnknownVersion(version)),
        );
    }

    // The account key (§2.4).
    let mut account_keys: Vec<(&str, [u8; 32])> = vec![
        ("account key: the neutral point (small order)", neutral),
        ("account key: a point of order 8", order8),
        (
            "account key: the account key plus a point of order 2 (not in the prime-order subgroup)",
            account_variant,
        ),
        (
            "account key: a y with no curve point",
            not_on_curve[..].try_into().unwrap(),
        ),
    ];
    if let Some(y) = non_canonical_large_order() {
        account_keys.push((
            "account key: y = p + k, a non-canonical encoding of a point of large order",
            y,
        ));
    }
    for (name, key) in account_keys {
        push(
            name,
            "§2.4, §15.1",
            "list_2",
            false,
            with(&l2, |v| v[1..33].copy_from_slice(&key)),
            d(InvalidKey),
        );
    }

    // The torsion variant again, every signature made to hold under it: only §2.4's
    // prime-order-subgroup rule refuses it.
    let twisted = with(&l2, |v| {
        v[1..33].copy_from_slice(&account_variant);
        for (i, name) in ["device_1", "device_3", "device_2"].iter().enumerate() {
            let at = entry_at(i);
            let id = u32::from_be_bytes(v[at..at + 4].try_into().unwrap());
            let added = u64::from_be_bytes(
                v[at + ADDED_IN_ENTRY..at + MEMBERSHIP_IN_ENTRY]
                    .try_into()
                    .unwrap(),
            );
            let identity = dev(name).public;
            let m = sign(
                &dev(name).seed,
                &membership_bytes(&account_variant, id, &identity, added),
            );
            set_membership(v, i, &m);
        }
        let body = v[..sig_at].to_vec();
        let s = sign_under_torsion(
            &seed,
            &account_variant,
            &[LABEL_DEVICE_LIST, &body[..]].concat(),
        );
        v[sig_at..].copy_from_slice(&s);
    });
    push(
        "account key: the account key plus a point of order 2, with memberships for it and an account signature that verify_strict accepts under it",
        "§2.4, §15.1",
        "list_2",
        true,
        twisted,
        d(InvalidKey),
    );

    // Sequence and previous hash.
    let set_seq = |v: &mut Vec<u8>, s: u64| {
        v[SEQUENCE_AT..SEQUENCE_AT + 8].copy_from_slice(&s.to_be_bytes());
    };
    push(
        "sequence 0 with a zero previous hash (list_1 renumbered)",
        "§15.1",
        "list_1",
        true,
        resign(&with(&l1, |v| set_seq(v, 0)), &seed),
        d(NonCanonical),
    );
    push(
        "sequence 0 with a non-zero previous hash (list_2 renumbered)",
        "§15.1",
        "list_2",
        true,
        resign(&with(&l2, |v| set_seq(v, 0)), &seed),
        d(NonCanonical),
    );
    push(
        "sequence 1 with a non-zero previous hash",
        "§15.1",
        "list_2",
        true,
        resign(&with(&l2, |v| set_seq(v, 1)), &seed),
        d(NonCanonical),
    );
    push(
        "sequence 2 with a zero previous hash",
        "§15.1",
        "list_2",
        true,
        resign(&with(&l2, |v| v[PREVIOUS_AT..ISSUED_AT].fill(0)), &seed),
        d(NonCanonical),
    );
    push(
        "sequence 1 with a previous hash of one non-zero byte",
        "§15.1",
        "list_1",
        true,
        resign(&with(&l1, |v| v[ISSUED_AT - 1] = 1), &seed),
        d(NonCanonical),
    );

    // The device count.
    let set_count =
        |v: &mut Vec<u8>, c: u16| v[COUNT_AT..ENTRIES_AT].copy_from_slice(&c.to_be_bytes());
    push(
        "device count 0 (the entries still follow)",
        "§15.1",
        "list_2",
        true,
        resign(&with(&l2, |v| set_count(v, 0)), &seed),
        d(NonCanonical),
    );
    push(
        "device count 0 and nothing after it",
        "§15.1",
        "list_2",
        false,
        with(&l2[..ENTRIES_AT], |v| set_count(v, 0)),
        d(NonCanonical),
    );
    push(
        "device count 65 (three entries follow)",
        "§15.1",
        "list_2",
        true,
        resign(&with(&l2, |v| set_count(v, 65)), &seed),
        d(TooLarge),
    );
    push(
        "device count 65 with 65 genuine entries",
        "§15.1",
        "sixty_four_devices",
        true,
        max.encoding_65.clone(),
        d(TooLarge),
    );
    push(
        "device count 65535",
        "§15.1",
        "list_2",
        true,
        resign(&with(&l2, |v| set_count(v, u16::MAX)), &seed),
        d(TooLarge),
    );
    push(
        "device count 4 with three entries (the fourth runs out)",
        "§15.1",
        "list_2",
        true,
        resign(&with(&l2, |v| set_count(v, 4)), &seed),
        d(Truncated),
    );
    push(
        "device count 2 with three entries (the rest is more than a signature)",
        "§15.1",
        "list_2",
        true,
        resign(&with(&l2, |v| set_count(v, 2)), &seed),
        d(TrailingBytes),
    );

    // Identities (§2.4): checked as they are read, before any signature.
    let mut identity_cases: Vec<(String, [u8; 32])> = vec![
        ("the neutral point (small order)".into(), neutral),
        ("a point of order 8".into(), order8),
        (
            "device_3's identity plus a point of order 2".into(),
            order2_variant,
        ),
        (
            "device_3's identity plus a point of order 8".into(),
            order8_variant,
        ),
        (
            "a y with no curve point".into(),
            not_on_curve[..].try_into().unwrap(),
        ),
        (
            "x = 0 with the sign bit set (non-canonical neutral point)".into(),
            with(&neutral, |v| v[31] |= 0x80)[..].try_into().unwrap(),
        ),
        ("y = p + 1 (non-canonical neutral point)".into(), {
            let mut y = [0xffu8; 32];
            y[31] = 0x7f;
            y[0] = 0xee;
            y
        }),
    ];
    if let Some(y) = non_canonical_large_order() {
        identity_cases.push((
            "y = p + k: a non-canonical encoding of a point of large order".into(),
            y,
        ));
    }
    let variant_membership = sign_under_torsion(
        &dev("device_3").seed,
        &order2_variant,
        &membership_bytes(&account.public, 2, &order2_variant, T0 + DAY),
    );
    push(
        "second entry's identity: device_3's identity plus a point of order 2, with a membership that verify_strict accepts under it",
        "§2.4, §15.1",
        "list_2",
        true,
        resign(
            &with(&l2, |v| {
                set_identity(v, 1, &order2_variant);
                set_membership(v, 1, &variant_membership);
            }),
            &seed,
        ),
        d(InvalidKey),
    );
    for (name, key) in &identity_cases {
        push(
            &format!("second entry's identity: {name}"),
            "§2.4, §15.1",
            "list_2",
            true,
            resign(&with(&l2, |v| set_identity(v, 1, key)), &seed),
            d(InvalidKey),
        );
    }

    // Once read: ids, duplicates, memberships (InvalidDeviceList). Every signature but the one
    // the case breaks holds, and the list is signed again by the account key.
    use AccountError::{InvalidDeviceList, InvalidSignature};
    push(
        "device ids out of order (1, 4, 2: the last two entries swapped)",
        "§15.1",
        "list_2",
        true,
        resign(
            &with(&l2, |v| {
                set_entry(v, 1, &entry("account/device_2"));
                set_entry(v, 2, &entry("account/device_3"));
            }),
            &seed,
        ),
        InvalidDeviceList,
    );
    push(
        "a device id listed twice (1, 4, 4: device_3 signed its membership as id 4)",
        "§15.1",
        "list_2",
        true,
        resign(
            &with(&l2, |v| {
                set_entry(v, 1, &entry("account/device_3_as_4"));
                set_entry(v, 2, &entry("account/device_2"));
            }),
            &seed,
        ),
        InvalidDeviceList,
    );
    push(
        "an identity listed twice (device_1 as ids 1 and 3, both memberships genuine)",
        "§15.1",
        "list_2",
        true,
        resign(
            &with(&l2, |v| set_entry(v, 1, &entry("account/device_1_as_3"))),
            &seed,
        ),
        InvalidDeviceList,
    );
    let mut m = b.entries[b.ent("account/device_3")].membership;
    m[10] ^= 0x04;
    push(
        "second entry's membership signature altered",
        "§15.1",
        "list_2",
        true,
        resign(&with(&l2, |v| set_membership(v, 1, &m)), &seed),
        InvalidDeviceList,
    );
    let m = b.entries[b.ent("account/device_3")].membership;
    let mut malleated = m;
    malleated[32..].copy_from_slice(&add_group_order(&m[32..]));
    push(
        "second entry's membership signature with S + L (S ≥ L, non-canonical)",
        "§15.1",
        "list_2",
        true,
        resign(&with(&l2, |v| set_membership(v, 1, &malleated)), &seed),
        InvalidDeviceList,
    );
    push(
        "second entry's membership signed for another account key (new_account)",
        "§15.1",
        "list_2",
        true,
        resign(
            &with(&l2, |v| {
                set_membership(v, 1, &d3_membership_for(&new.public))
            }),
            &seed,
        ),
        InvalidDeviceList,
    );
    push(
        "second entry's membership signed by another device (device_1)",
        "§15.1",
        "list_2",
        true,
        resign(
            &with(&l2, |v| {
                set_membership(
                    v,
                    1,
                    &sign(
                        &dev("device_1").seed,
                        &membership_bytes(&account.public, 2, &d3_identity, T0 + DAY),
                    ),
                );
            }),
            &seed,
        ),
        InvalidDeviceList,
    );
    push(
        "the ghost listed by the account key alone (its membership signed by the account key)",
        "§15.1",
        "list_2",
        true,
        resign(
            &with(&l2, |v| {
                let ghost = dev("ghost").public;
                let membership = sign(&seed, &membership_bytes(&account.public, 2, &ghost, T0));
                set_entry(v, 1, &entry_bytes(2, &ghost, T0, &membership));
            }),
            &seed,
        ),
        InvalidDeviceList,
    );
    push(
        "third entry's device id changed to 5 (its membership names 4)",
        "§15.1",
        "list_2",
        true,
        resign(
            &with(&l2, |v| {
                v[entry_at(2)..entry_at(2) + 4].copy_from_slice(&5u32.to_be_bytes())
            }),
            &seed,
        ),
        InvalidDeviceList,
    );
    push(
        "first entry's added_at changed by 1 ms",
        "§15.1",
        "list_2",
        true,
        resign(
            &with(&l2, |v| {
                let at = entry_at(0) + ADDED_IN_ENTRY;
                v[at..at + 8].copy_from_slice(&(T0 + 1).to_be_bytes());
            }),
            &seed,
        ),
        InvalidDeviceList,
    );
    push(
        "account key replaced by other_account's, nothing signed again (the memberships fail first)",
        "§15.1",
        "list_2",
        false,
        with(&l2, |v| v[1..33].copy_from_slice(&other.public)),
        InvalidDeviceList,
    );
    push(
        "account key replaced by other_account's and the list signed by it: the memberships name the account",
        "§15.1",
        "list_2",
        true,
        resign(
            &with(&l2, |v| v[1..33].copy_from_slice(&other.public)),
            &other.seed,
        ),
        InvalidDeviceList,
    );

    // The account signature (InvalidSignature): every membership holds.
    push(
        "account signature altered",
        "§15.1",
        "list_2",
        false,
        with(&l2, |v| v[sig_at + 40] ^= 0x10),
        InvalidSignature,
    );
    let sig = b.get("list_2").signature;
    push(
        "account signature with S + L (S ≥ L, non-canonical)",
        "§15.1",
        "list_2",
        false,
        with(&l2, |v| {
            v[sig_at + 32..].copy_from_slice(&add_group_order(&sig[32..]))
        }),
        InvalidSignature,
    );
    push(
        "account signature with R the neutral point (small order)",
        "§15.1",
        "list_2",
        false,
        with(&l2, |v| v[sig_at..sig_at + 32].copy_from_slice(&neutral)),
        InvalidSignature,
    );
    push(
        "account signature over the encoding without LABEL_DEVICE_LIST",
        "§15.1",
        "list_2",
        true,
        with(&l2, |v| {
            let s = sign(&seed, &v[..sig_at]);
            v[sig_at..].copy_from_slice(&s);
        }),
        InvalidSignature,
    );
    push(
        "account signature by other_account's key",
        "§15.1",
        "list_2",
        true,
        resign(&l2, &other.seed),
        InvalidSignature,
    );
    push(
        "issued_at changed after signing",
        "§15.1",
        "list_2",
        false,
        with(&l2, |v| v[ISSUED_AT + 7] ^= 0x01),
        InvalidSignature,
    );
    push(
        "sequence changed to 3 after signing",
        "§15.1",
        "list_2",
        false,
        with(&l2, |v| set_seq(v, 3)),
        InvalidSignature,
    );
    push(
        "previous hash changed after signing",
        "§15.1",
        "list_2",
        false,
        with(&l2, |v| v[PREVIOUS_AT] ^= 0x80),
        InvalidSignature,
    );
    push(
        "list_1 under new_account's key: memberships signed for it, the account signature still list_1's",
        "§15.1",
        "list_1",
        false,
        with(&l1, |v| {
            v[1..33].copy_from_slice(&new.public);
            for (i, name) in ["device_1", "device_2"].iter().enumerate() {
                let e = &b.entries[b.ent(&format!("account/{name}"))];
                let identity = dev(name).public;
                let m = sign(
                    &dev(name).seed,
                    &membership_bytes(&new.public, e.device_id, &identity, e.added_at),
                );
                set_membership(v, i, &m);
            }
        }),
        InvalidSignature,
    );

    let mut out = Vec::new();
    for (name, spec, base, resigned, input, expected) in cases {
        let got = DeviceList::from_bytes(&input).map(|_| ()).unwrap_err();
        assert_eq!(got, expected, "{name}");
        let signature_valid = account_signature_valid(&input);
        if resigned && expected != InvalidSignature {
            assert_eq!(
                signature_valid,
                Some(true),
                "{name}: fails before the signature"
            );
        }
        if expected == InvalidSignature {
            assert_eq!(signature_valid, Some(false), "{name}");
        }
        out.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("spec", spec)
                .f("operation", "DeviceList::from_bytes")
                .f("base", base)
                .f(
                    "account_signature_valid",
                    signature_valid.map_or(Json::Null, Json::from),
                )
                .f("input", hx(&input))
                .f("expected_error", format!("{expected:?}")),
        ));
    }
    Json::Array(out)
}

/// `DeviceList::first` and `next` refusing to make a list.
fn construction_json(b: &Book) -> Json {
    let account = &b.accounts[b.acc("account")];
    let new = &b.accounts[b.acc("new_account")];
    let entry = |n: &str| b.entries[b.ent(n)].entry;
    let issued = T0 + 6 * DAY;
    // (name, operation, the list `next` runs on, account, entries)
    type Case = (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        ("no device", "DeviceList::first", None, "account", vec![]),
        (
            "a membership signed for another account key",
            "DeviceList::first",
            None,
            "account",
            vec!["account/device_1", "new_account/device_3"],
        ),
        (
            "a device id listed twice",
            "DeviceList::first",
            None,
            "account",
            vec!["account/device_2", "account/device_3_as_4"],
        ),
        (
            "an identity listed twice",
            "DeviceList::first",
            None,
            "account",
            vec!["account/device_1", "account/device_1_as_3"],
        ),
        (
            "the same entry twice",
            "DeviceList::next",
            Some("list_3"),
            "account",
            vec!["account/device_3", "account/device_3"],
        ),
        (
            "next under another account key (new_account after list_3)",
            "DeviceList::next",
            Some("list_3"),
            "new_account",
            vec!["new_account/device_3"],
        ),
    ];
    let mut out = Vec::new();
    for (name, op, after, acc, entries) in cases {
        let pair = if acc == "account" {
            &account.pair
        } else {
            &new.pair
        };
        let given: Vec<DeviceEntry> = entries.iter().map(|n| entry(n)).collect();
        let got = match after {
            None => DeviceList::first(pair, given, issued),
            Some(l) => b.get(l).list.next(pair, given, issued),
        }
        .map(|_| ())
        .unwrap_err();
        let expected = if name.starts_with("next under") {
            AccountError::WrongAccount
        } else {
            AccountError::InvalidDeviceList
        };
        assert_eq!(got, expected, "{name}");
        out.push(Json::from(
            Obj::new()
                .f("name", name)
                .f("spec", "§15.1")
                .f("operation", op)
                .f("after", after.map_or(Json::Null, Json::from))
                .f("account", acc)
                .f(
                    "entries",
                    Json::Array(entries.iter().map(|n| Json::from(*n)).collect()),
                )
                .f("issued_at_ms", big(issued))
                .f("expected_error", format!("{got:?}")),
        ));
    }
    Json::Array(out)
}

fn constants_json() -> Json {
    assert_eq!(DEVICE_LIST_VERSION, 1);
    assert_eq!(MAX_DEVICES, 64);
    assert_eq!(DeviceEntry::LEN, ENTRY_LEN);
    assert_eq!(SAFETY_NUMBER_VERSION, 1);
    assert_eq!(KEY_TYPE_ED25519, 1);
    assert_eq!(FINGERPRINT_ITERATIONS, 5200);
    assert_eq!(QR_PAYLOAD_LEN, 65);
    Obj::new()
        .f("label_device_membership", hx(LABEL_DEVICE_MEMBERSHIP))
        .f("label_device_list", hx(LABEL_DEVICE_LIST))
        .f("label_device_list_hash", hx(LABEL_DEVICE_LIST_HASH))
        .f("label_fingerprint", hx(LABEL_FINGERPRINT))
        .f("device_list_version", DEVICE_LIST_VERSION)
        .f("max_devices", MAX_DEVICES)
        .f("device_entry_len", DeviceEntry::LEN)
        .f("safety_number_version", SAFETY_NUMBER_VERSION)
        .f("key_type_ed25519", KEY_TYPE_ED25519)
        .f("fingerprint_iterations", FINGERPRINT_ITERATIONS)
        .f("max_account_id_len", MAX_ACCOUNT_ID_LEN)
        .f("qr_payload_len", QR_PAYLOAD_LEN)
        .into()
}

/// account.json.
pub fn account_json() -> Json {
    let mut rng = Recorder::new(RNG_SEED);
    let book = cast(&mut rng);
    let (boundary_json, max) = boundary(&mut rng, &book);
    let safety = safety_json(&mut rng);
    header(
        "account.json",
        "Accounts: signed, cross-signed and hash-chained device lists, a contact's view of them, fingerprints and safety numbers, and device lists that must be rejected",
        &["§2.4", "§2.5", "§2.6", "§15.1", "§15.2", "§15.4"],
    )
    .f("rng_seed", hx(RNG_SEED))
    .f(
        "seeds",
        "every Ed25519 seed of the file (accounts, devices, boundary devices, safety-number accounts, in that order) is 32 bytes of the ChaCha20 stream of rng_seed; nothing in the file depends on it",
    )
    .f("constants", constants_json())
    .f("lists", lists_json(&book))
    .f("boundary", boundary_json)
    .f("view", view_json(&book))
    .f("safety_numbers", safety)
    .f("negative", negative_json(&book, &max))
    .f("construction_negative", construction_json(&book))
    .into()
}
