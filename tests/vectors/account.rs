//! `account.json`: device lists, a contact's view of them, fingerprints and safety numbers
//! (SPEC.md §15). Every value is first judged by its bytes, without the crate: the membership
//! and list signed bytes are rebuilt field by field from the published fields, every signature
//! is checked with ed25519-dalek directly (`verify_strict`, and recomputed: RFC 8032 signing is
//! deterministic), list hashes and the 5200 iterated SHA-512 of a fingerprint with `sha2`, the
//! digits and QR payloads by hand; a decoder and a view written here from SPEC.md §15.1–§15.2
//! give every outcome of the negative cases and of the view's steps. Then the crate's public API
//! must agree: `DeviceList::from_bytes` / `first` / `next`, `DeviceListView`, `Fingerprint`,
//! `SafetyNumber`.

use std::collections::{BTreeMap, BTreeSet};

use curve25519_dalek::Scalar;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};
use xchat_protocol::IdentityKeyPair;
use xchat_protocol::account::{
    AccountError, AccountEvent, AccountKey, AccountKeyPair, DEVICE_LIST_VERSION, DeviceEntry,
    DeviceList, DeviceListView, FINGERPRINT_ITERATIONS, Fingerprint, KEY_TYPE_ED25519,
    LABEL_DEVICE_LIST, LABEL_DEVICE_LIST_HASH, LABEL_DEVICE_MEMBERSHIP, LABEL_FINGERPRINT,
    MAX_ACCOUNT_ID_LEN, MAX_DEVICES, QR_PAYLOAD_LEN, SAFETY_NUMBER_VERSION, SafetyNumber,
};

use crate::support::{arr, big, cat, h, h32, load, n32, nsize, st};

const LABEL_MEMBERSHIP_TEXT: &[u8] = b"xchat-protocol v1 device membership";
const LABEL_LIST_TEXT: &[u8] = b"xchat-protocol v1 device list";
const LABEL_HASH_TEXT: &[u8] = b"xchat-protocol v1 device list hash";
const LABEL_FINGERPRINT_TEXT: &[u8] = b"xchat-protocol v1 account fingerprint";

// ---------------------------------------------------------------------------------------------
// By hand, from SPEC.md
// ---------------------------------------------------------------------------------------------

fn ed_public(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

fn ed_sign(seed: &[u8; 32], message: &[u8]) -> Vec<u8> {
    SigningKey::from_bytes(seed)
        .sign(message)
        .to_bytes()
        .to_vec()
}

/// RFC 8032 verification with ed25519-dalek's `verify_strict`, and `S < L` checked here as well.
fn ed_verify(key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let s: [u8; 32] = signature[32..].try_into().unwrap();
    if Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).is_none() {
        return false;
    }
    VerifyingKey::from_bytes(key).is_ok_and(|k| {
        k.verify_strict(message, &Signature::from_bytes(&signature))
            .is_ok()
    })
}

/// SPEC.md §2.4: decompresses, re-compresses to the same bytes, not of small order, in the
/// prime-order subgroup.
fn strict_key(bytes: &[u8; 32]) -> bool {
    CompressedEdwardsY(*bytes).decompress().is_some_and(|p| {
        p.compress().to_bytes() == *bytes && !p.is_small_order() && p.is_torsion_free()
    })
}

fn membership_bytes(account: &[u8], id: u32, identity: &[u8], added: u64) -> Vec<u8> {
    cat(&[
        LABEL_MEMBERSHIP_TEXT,
        account,
        &id.to_be_bytes(),
        identity,
        &added.to_be_bytes(),
    ])
}

fn list_hash(encoding: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(LABEL_HASH_TEXT);
    hasher.update(encoding);
    hasher.finalize().to_vec()
}

#[derive(Clone, PartialEq, Eq, Debug)]
struct RefEntry {
    id: u32,
    identity: [u8; 32],
    added: u64,
    membership: Vec<u8>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
struct RefList {
    account: [u8; 32],
    sequence: u64,
    previous: [u8; 32],
    issued: u64,
    entries: Vec<RefEntry>,
    signature: Vec<u8>,
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<Vec<u8>, String> {
        if self.0.len() < n {
            return Err("Decode(Truncated)".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a.to_vec())
    }
    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }
    fn key(&mut self) -> Result<[u8; 32], String> {
        let k: [u8; 32] = self.take(32)?.try_into().unwrap();
        if strict_key(&k) {
            Ok(k)
        } else {
            Err("Decode(InvalidKey)".into())
        }
    }
}

/// The entries' rules once the list is read (SPEC.md §15.1): ids strictly increasing, no
/// identity twice, every membership verifies under its identity for `account`.
fn ref_check_entries(account: &[u8; 32], entries: &[RefEntry]) -> Result<(), String> {
    let bad = || Err("InvalidDeviceList".to_owned());
    if entries.is_empty() || entries.len() > 64 {
        return bad();
    }
    if entries.windows(2).any(|w| w[0].id >= w[1].id) {
        return bad();
    }
    let identities: BTreeSet<[u8; 32]> = entries.iter().map(|e| e.identity).collect();
    if identities.len() != entries.len() {
        return bad();
    }
    for e in entries {
        let m = membership_bytes(account, e.id, &e.identity, e.added);
        if !ed_verify(&e.identity, &m, &e.membership) {
            return bad();
        }
    }
    Ok(())
}

/// `DeviceList::from_bytes` as SPEC.md §15.1 writes it, with the error's published name.
fn ref_decode(bytes: &[u8]) -> Result<RefList, String> {
    let mut c = Cursor(bytes);
    let version = c.uint(1)?;
    if version != 1 {
        return Err(format!("Decode(UnknownVersion({version}))"));
    }
    let account = c.key()?;
    let sequence = c.uint(8)?;
    if sequence == 0 {
        return Err("Decode(NonCanonical)".into());
    }
    let previous: [u8; 32] = c.take(32)?.try_into().unwrap();
    if (sequence == 1) != (previous == [0; 32]) {
        return Err("Decode(NonCanonical)".into());
    }
    let issued = c.uint(8)?;
    let n = c.uint(2)?;
    if n == 0 {
        return Err("Decode(NonCanonical)".into());
    }
    if n > 64 {
        return Err("Decode(TooLarge)".into());
    }
    let mut entries = Vec::new();
    for _ in 0..n {
        entries.push(RefEntry {
            id: u32::try_from(c.uint(4)?).unwrap(),
            identity: c.key()?,
            added: c.uint(8)?,
            membership: c.take(64)?,
        });
    }
    let signature = c.take(64)?;
    if !c.0.is_empty() {
        return Err("Decode(TrailingBytes)".into());
    }
    ref_check_entries(&account, &entries)?;
    let signed = cat(&[LABEL_LIST_TEXT, &bytes[..bytes.len() - 64]]);
    if !ed_verify(&account, &signed, &signature) {
        return Err("InvalidSignature".into());
    }
    Ok(RefList {
        account,
        sequence,
        previous,
        issued,
        entries,
        signature,
    })
}

/// The published fields' list, by hand: (signed bytes, encoding).
fn ref_encode(
    account: &[u8],
    sequence: u64,
    previous: &[u8],
    issued: u64,
    entries: &[Vec<u8>],
    signature: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let mut body = vec![0x01];
    body.extend_from_slice(account);
    body.extend_from_slice(&sequence.to_be_bytes());
    body.extend_from_slice(previous);
    body.extend_from_slice(&issued.to_be_bytes());
    body.extend_from_slice(&u16::try_from(entries.len()).unwrap().to_be_bytes());
    for e in entries {
        body.extend_from_slice(e);
    }
    (cat(&[LABEL_LIST_TEXT, &body]), cat(&[&body, signature]))
}

// ---------------------------------------------------------------------------------------------
// The published cast
// ---------------------------------------------------------------------------------------------

struct Cast<'a> {
    accounts: BTreeMap<String, &'a Value>,
    devices: BTreeMap<String, &'a Value>,
    entries: BTreeMap<String, &'a Value>,
    lists: BTreeMap<String, &'a Value>,
}

impl<'a> Cast<'a> {
    fn new(file: &'a Value) -> Self {
        let by_name = |v: &'a Value| {
            arr(v)
                .iter()
                .map(|x| (st(&x["name"]).to_owned(), x))
                .collect::<BTreeMap<_, _>>()
        };
        let l = &file["lists"];
        Self {
            accounts: by_name(&l["accounts"]),
            devices: by_name(&l["devices"]),
            entries: by_name(&l["entries"]),
            lists: by_name(&l["lists"]),
        }
    }

    fn account_pair(&self, name: &str) -> AccountKeyPair {
        AccountKeyPair::from_seed(&h32(&self.accounts[name]["seed"]))
    }

    fn account_key(&self, name: &str) -> [u8; 32] {
        h32(&self.accounts[name]["public"])
    }

    fn device_identity(&self, name: &str) -> [u8; 32] {
        h32(&self.devices[name]["identity_public"])
    }

    fn device_name(&self, identity: &[u8; 32]) -> &str {
        self.devices
            .iter()
            .find(|(_, d)| &h32(&d["identity_public"]) == identity)
            .map(|(n, _)| n.as_str())
            .unwrap()
    }

    fn account_name(&self, key: &[u8; 32]) -> &str {
        self.accounts
            .iter()
            .find(|(_, a)| &h32(&a["public"]) == key)
            .map(|(n, _)| n.as_str())
            .unwrap()
    }

    fn ref_entry(&self, name: &str) -> RefEntry {
        let e = self.entries[name];
        RefEntry {
            id: n32(&e["device_id"]),
            identity: h32(&e["identity"]),
            added: big(&e["added_at_ms"]),
            membership: h(&e["membership"]),
        }
    }

    /// The crate's entry, signed again by the device (deterministic: the same bytes).
    fn device_entry(&self, name: &str) -> DeviceEntry {
        let e = self.entries[name];
        let device =
            IdentityKeyPair::from_seed(&h32(&self.devices[st(&e["device"])]["identity_seed"]));
        let account = AccountKey::from_bytes(self.account_key(st(&e["account"]))).unwrap();
        DeviceEntry::sign(
            &device,
            &account,
            n32(&e["device_id"]),
            big(&e["added_at_ms"]),
        )
    }

    fn list(&self, name: &str) -> DeviceList {
        DeviceList::from_bytes(&h(&self.lists[name]["encoding"])).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// constants, lists, boundary
// ---------------------------------------------------------------------------------------------

#[test]
fn account_constants() {
    let file = load("account.json");
    let c = &file["constants"];
    for (field, text, crate_value) in [
        (
            "label_device_membership",
            LABEL_MEMBERSHIP_TEXT,
            LABEL_DEVICE_MEMBERSHIP,
        ),
        ("label_device_list", LABEL_LIST_TEXT, LABEL_DEVICE_LIST),
        (
            "label_device_list_hash",
            LABEL_HASH_TEXT,
            LABEL_DEVICE_LIST_HASH,
        ),
        (
            "label_fingerprint",
            LABEL_FINGERPRINT_TEXT,
            LABEL_FINGERPRINT,
        ),
    ] {
        assert_eq!(h(&c[field]), text, "{field}");
        assert_eq!(crate_value, text, "{field}");
    }
    assert_eq!(nsize(&c["device_list_version"]), 1);
    assert_eq!(DEVICE_LIST_VERSION, 1);
    assert_eq!(nsize(&c["max_devices"]), 64);
    assert_eq!(MAX_DEVICES, 64);
    assert_eq!(nsize(&c["device_entry_len"]), 4 + 32 + 8 + 64);
    assert_eq!(DeviceEntry::LEN, 108);
    assert_eq!(nsize(&c["safety_number_version"]), 1);
    assert_eq!(SAFETY_NUMBER_VERSION, 1);
    assert_eq!(nsize(&c["key_type_ed25519"]), 1);
    assert_eq!(KEY_TYPE_ED25519, 1);
    assert_eq!(nsize(&c["fingerprint_iterations"]), 5200);
    assert_eq!(FINGERPRINT_ITERATIONS, 5200);
    assert_eq!(nsize(&c["max_account_id_len"]), 255);
    assert_eq!(MAX_ACCOUNT_ID_LEN, 255);
    assert_eq!(nsize(&c["qr_payload_len"]), 1 + 32 + 32);
    assert_eq!(QR_PAYLOAD_LEN, 65);
}

#[test]
fn account_device_lists() {
    let file = load("account.json");
    let cast = Cast::new(&file);

    for (name, a) in &cast.accounts {
        let seed = h32(&a["seed"]);
        assert_eq!(ed_public(&seed), h32(&a["public"]), "{name}");
        let pair = AccountKeyPair::from_seed(&seed);
        assert_eq!(pair.public().as_bytes(), &h32(&a["public"]), "{name}");
        assert!(strict_key(&h32(&a["public"])));
    }
    for (name, d) in &cast.devices {
        let seed = h32(&d["identity_seed"]);
        assert_eq!(ed_public(&seed), h32(&d["identity_public"]), "{name}");
        assert_eq!(
            IdentityKeyPair::from_seed(&seed).public().to_bytes(),
            h32(&d["identity_public"])
        );
    }

    // Entries: what the device signs, its signature, the 108 bytes.
    for (name, e) in &cast.entries {
        let account = cast.account_key(st(&e["account"]));
        let device = cast.devices[st(&e["device"])];
        let identity = h32(&e["identity"]);
        assert_eq!(identity, h32(&device["identity_public"]), "{name}");
        let id = n32(&e["device_id"]);
        let added = big(&e["added_at_ms"]);
        let signed = membership_bytes(&account, id, &identity, added);
        assert_eq!(signed, h(&e["membership_signed_bytes"]), "{name}");
        assert_eq!(signed.len(), LABEL_MEMBERSHIP_TEXT.len() + 76);
        let membership = h(&e["membership"]);
        assert!(ed_verify(&identity, &signed, &membership), "{name}");
        assert_eq!(
            ed_sign(&h32(&device["identity_seed"]), &signed),
            membership,
            "{name}: RFC 8032 signing is deterministic"
        );
        let encoding = cat(&[
            &id.to_be_bytes(),
            &identity,
            &added.to_be_bytes(),
            &membership,
        ]);
        assert_eq!(encoding, h(&e["encoding"]), "{name}");
        assert_eq!(encoding.len(), DeviceEntry::LEN);
    }

    // Lists: the signed bytes from the fields, the account signature, the encoding, the hash.
    let mut made = BTreeSet::new();
    for (name, l) in &cast.lists {
        let account_name = st(&l["account"]);
        let account = cast.account_key(account_name);
        assert_eq!(h32(&l["account_key"]), account, "{name}");
        let sequence = big(&l["sequence"]);
        let previous = h32(&l["previous_hash"]);
        let issued = big(&l["issued_at_ms"]);
        let entry_names: Vec<&str> = arr(&l["entries"]).iter().map(st).collect();
        let entries: Vec<Vec<u8>> = entry_names
            .iter()
            .map(|n| {
                assert_eq!(st(&cast.entries[*n]["account"]), account_name, "{name}");
                h(&cast.entries[*n]["encoding"])
            })
            .collect();
        let signature = h(&l["signature"]);
        let (signed, encoding) =
            ref_encode(&account, sequence, &previous, issued, &entries, &signature);
        assert_eq!(signed, h(&l["signed_bytes"]), "{name}");
        assert!(ed_verify(&account, &signed, &signature), "{name}");
        assert_eq!(
            ed_sign(&h32(&cast.accounts[account_name]["seed"]), &signed),
            signature,
            "{name}"
        );
        assert_eq!(encoding, h(&l["encoding"]), "{name}");
        assert_eq!(
            encoding.len(),
            83 + 108 * entries.len() + 64,
            "{name}: 83 + 108 n + 64"
        );
        assert_eq!(list_hash(&encoding), h(&l["hash"]), "{name}");
        // The encoding as SPEC.md §15.1 reads it.
        let r = ref_decode(&encoding).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (r.account, r.sequence, r.previous, r.issued),
            (account, sequence, previous, issued)
        );
        let want: Vec<RefEntry> = entry_names.iter().map(|n| cast.ref_entry(n)).collect();
        assert_eq!(r.entries, want, "{name}: entries in increasing id order");
        assert_eq!(sequence == 1, previous == [0; 32]);

        // The crate.
        let list = DeviceList::from_bytes(&encoding).unwrap();
        assert_eq!(list.to_bytes(), encoding, "{name}");
        assert_eq!(list.hash().to_vec(), h(&l["hash"]), "{name}");
        assert_eq!(list.account().as_bytes(), &account);
        assert_eq!(list.sequence(), sequence);
        assert_eq!(list.previous_hash(), &previous);
        assert_eq!(list.issued_at_ms(), issued);
        assert_eq!(list.devices().len(), want.len());
        for (d, w) in list.devices().iter().zip(&want) {
            assert_eq!(
                (d.device_id(), d.identity().to_bytes(), d.added_at_ms()),
                (w.id, w.identity, w.added)
            );
            assert_eq!(list.device(d.identity()), Some(d));
        }

        // Made again through the crate, the entries given in reverse order (the crate sorts
        // them by id).
        let pair = cast.account_pair(account_name);
        let given: Vec<DeviceEntry> = entry_names
            .iter()
            .rev()
            .map(|n| cast.device_entry(n))
            .collect();
        let remade = match st(&l["made_with"]["operation"]) {
            "DeviceList::first" => {
                assert_eq!(sequence, 1);
                DeviceList::first(&pair, given, issued).unwrap()
            }
            "DeviceList::next" => {
                let after = st(&l["made_with"]["after"]);
                let before = &cast.lists[after];
                assert_eq!(sequence, big(&before["sequence"]) + 1, "{name}");
                assert_eq!(previous.to_vec(), h(&before["hash"]), "{name}");
                cast.list(after).next(&pair, given, issued).unwrap()
            }
            "by hand" => {
                // A list naming a list of another account's history: `next` cannot make it.
                let named = cast
                    .lists
                    .values()
                    .find(|o| h(&o["hash"]) == previous)
                    .unwrap();
                assert_ne!(st(&named["account"]), account_name);
                let after = cast.list(st(&named["name"]));
                assert_eq!(
                    after.next(&pair, given, issued).unwrap_err(),
                    AccountError::WrongAccount
                );
                list.clone()
            }
            other => panic!("made_with {other}"),
        };
        assert_eq!(remade.to_bytes(), encoding, "{name}");
        assert_eq!(remade, list);
        made.insert(st(&l["made_with"]["operation"]).to_owned());
    }
    assert_eq!(made.len(), 3);

    // The history: list 1 (devices 1 and 2), list 2 adds device 3, list 3 removes device 1.
    let history: Vec<&str> = arr(&file["lists"]["history"]).iter().map(st).collect();
    assert_eq!(history, ["list_1", "list_2", "list_3"]);
    let devices_of = |n: &str| -> BTreeSet<String> {
        arr(&cast.lists[n]["entries"])
            .iter()
            .map(|e| st(&cast.entries[st(e)]["device"]).to_owned())
            .collect()
    };
    let set = |names: &[&str]| {
        names
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(devices_of("list_1"), set(&["device_1", "device_2"]));
    assert_eq!(
        devices_of("list_2"),
        set(&["device_1", "device_2", "device_3"])
    );
    assert_eq!(devices_of("list_3"), set(&["device_2", "device_3"]));
    for (i, n) in history.iter().enumerate() {
        assert_eq!(big(&cast.lists[*n]["sequence"]), i as u64 + 1);
        if i > 0 {
            assert_eq!(
                h(&cast.lists[*n]["previous_hash"]),
                h(&cast.lists[history[i - 1]]["hash"])
            );
        }
    }
}

#[test]
fn account_boundary_list() {
    let file = load("account.json");
    let cast = Cast::new(&file);
    let b = &file["boundary"];
    let account_name = st(&b["account"]);
    let account = cast.account_key(account_name);
    let account_seed = h32(&cast.accounts[account_name]["seed"]);
    let seeds: Vec<[u8; 32]> = arr(&b["device_seeds"]).iter().map(h32).collect();
    assert_eq!(seeds.len(), MAX_DEVICES + 1);
    let added = big(&b["added_at_ms"]);
    let issued = big(&b["issued_at_ms"]);
    let mut entries = Vec::new();
    for (i, s) in seeds.iter().enumerate().take(64) {
        let id = u32::try_from(i + 1).unwrap();
        let identity = ed_public(s);
        let m = ed_sign(s, &membership_bytes(&account, id, &identity, added));
        entries.push(cat(&[
            &id.to_be_bytes(),
            &identity,
            &added.to_be_bytes(),
            &m,
        ]));
    }
    let (signed, _) = ref_encode(&account, 1, &[0; 32], issued, &entries, &[]);
    let signature = ed_sign(&account_seed, &signed);
    let (_, encoding) = ref_encode(&account, 1, &[0; 32], issued, &entries, &signature);
    assert_eq!(encoding, h(&b["encoding"]));
    assert_eq!(encoding.len(), 83 + 64 * 108 + 64);
    assert_eq!(list_hash(&encoding), h(&b["hash"]));
    assert_eq!(ref_decode(&encoding).unwrap().entries.len(), 64);

    let pair = cast.account_pair(account_name);
    let account_key = *pair.public();
    let given: Vec<DeviceEntry> = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            DeviceEntry::sign(
                &IdentityKeyPair::from_seed(s),
                &account_key,
                u32::try_from(i + 1).unwrap(),
                added,
            )
        })
        .collect();
    let list = DeviceList::first(&pair, given[..64].to_vec(), issued).unwrap();
    assert_eq!(list.to_bytes(), encoding);
    assert_eq!(DeviceList::from_bytes(&encoding).unwrap(), list);
    let over = DeviceList::first(&pair, given, issued).unwrap_err();
    assert_eq!(format!("{over:?}"), st(&b["first_with_65_devices"]));
    assert_eq!(over, AccountError::InvalidDeviceList);
}

// ---------------------------------------------------------------------------------------------
// view
// ---------------------------------------------------------------------------------------------

/// A published list as SPEC.md §15.2 needs it.
#[derive(Clone)]
struct Held {
    name: String,
    account: [u8; 32],
    sequence: u64,
    previous: Vec<u8>,
    encoding: Vec<u8>,
    hash: Vec<u8>,
    /// (device id, identity, added_at), in id order.
    devices: Vec<(u32, [u8; 32], u64)>,
}

fn held(cast: &Cast, name: &str) -> Held {
    let l = cast.lists[name];
    Held {
        name: name.to_owned(),
        account: h32(&l["account_key"]),
        sequence: big(&l["sequence"]),
        previous: h(&l["previous_hash"]),
        encoding: h(&l["encoding"]),
        hash: h(&l["hash"]),
        devices: arr(&l["entries"])
            .iter()
            .map(|e| {
                let r = cast.ref_entry(st(e));
                (r.id, r.identity, r.added)
            })
            .collect(),
    }
}

/// Events as published: `(kind, device id or 0, identity or old key, new key)`.
type Ev = (String, u32, [u8; 32], [u8; 32]);

/// SPEC.md §15.2: `DeviceRemoved` for every device of `old` not in `new` under the same id, then
/// `DeviceAdded` for every device of `new` not in `old` under the same id.
fn ref_changes(old: &Held, new: &Held) -> Vec<Ev> {
    let pairs = |l: &Held| {
        l.devices
            .iter()
            .map(|(id, k, _)| (*id, *k))
            .collect::<BTreeSet<_>>()
    };
    let (o, n) = (pairs(old), pairs(new));
    let mut out = Vec::new();
    for (id, k, _) in &old.devices {
        if !n.contains(&(*id, *k)) {
            out.push(("DeviceRemoved".to_owned(), *id, *k, [0; 32]));
        }
    }
    for (id, k, _) in &new.devices {
        if !o.contains(&(*id, *k)) {
            out.push(("DeviceAdded".to_owned(), *id, *k, [0; 32]));
        }
    }
    out
}

fn ref_update(current: &Held, lists: &[Held]) -> Result<(Held, Vec<Ev>), String> {
    let mut at = current.clone();
    for l in lists {
        if l.account != at.account {
            return Err("WrongAccount".into());
        }
        if l.sequence < at.sequence {
            return Err("Rollback".into());
        }
        if l.sequence == at.sequence {
            if l.encoding == at.encoding {
                continue;
            }
            return Err("Fork".into());
        }
        if l.sequence > at.sequence + 1 {
            return Err("Gap".into());
        }
        if l.previous != at.hash {
            return Err("Fork".into());
        }
        at = l.clone();
    }
    let events = ref_changes(current, &at);
    Ok((at, events))
}

fn published_events(cast: &Cast, v: &Value) -> Vec<Ev> {
    arr(v)
        .iter()
        .map(|e| {
            let kind = st(&e["event"]).to_owned();
            if kind == "AccountKeyChanged" {
                let (old, new) = (h32(&e["old"]), h32(&e["new"]));
                assert_eq!(cast.account_name(&old), st(&e["old_account"]));
                assert_eq!(cast.account_name(&new), st(&e["new_account"]));
                (kind, 0, old, new)
            } else {
                let identity = h32(&e["identity"]);
                assert_eq!(cast.device_name(&identity), st(&e["device"]));
                (kind, n32(&e["device_id"]), identity, [0; 32])
            }
        })
        .collect()
}

fn crate_events(events: &[AccountEvent]) -> Vec<Ev> {
    events
        .iter()
        .map(|e| match e {
            AccountEvent::DeviceAdded {
                device_id,
                identity,
            } => (
                "DeviceAdded".to_owned(),
                *device_id,
                identity.to_bytes(),
                [0; 32],
            ),
            AccountEvent::DeviceRemoved {
                device_id,
                identity,
            } => (
                "DeviceRemoved".to_owned(),
                *device_id,
                identity.to_bytes(),
                [0; 32],
            ),
            AccountEvent::AccountKeyChanged { old, new } => (
                "AccountKeyChanged".to_owned(),
                0,
                *old.as_bytes(),
                *new.as_bytes(),
            ),
            other => panic!("unknown event {other:?}"),
        })
        .collect()
}

/// A step's outcome as published: events, an error, or the device `check_device` found.
#[derive(PartialEq, Eq, Debug)]
enum Outcome {
    Events(Vec<Ev>),
    Error(String),
    Device(u32, u64),
}

fn published_outcome(cast: &Cast, v: &Value) -> Outcome {
    if !v["error"].is_null() {
        Outcome::Error(st(&v["error"]).to_owned())
    } else if !v["device"].is_null() {
        Outcome::Device(
            n32(&v["device"]["device_id"]),
            big(&v["device"]["added_at_ms"]),
        )
    } else {
        Outcome::Events(published_events(cast, &v["events"]))
    }
}

#[test]
fn account_view_steps() {
    let file = load("account.json");
    let cast = Cast::new(&file);
    let mut model: Option<Held> = None;
    let mut view: Option<DeviceListView> = None;
    let mut errors = BTreeSet::new();
    let mut operations = BTreeSet::new();
    let mut saw_key_change = false;
    let mut saw_multi = false;
    for step in arr(&file["view"]) {
        let what = st(&step["description"]);
        let op = st(&step["operation"]);
        operations.insert(op.to_owned());
        let input = &step["input"];
        let expected = published_outcome(&cast, &step["expected"]);
        let (by_hand, by_crate) = match op {
            "DeviceListView::new" => {
                let n = st(&input["list"]);
                model = Some(held(&cast, n));
                view = Some(DeviceListView::new(cast.list(n)));
                (Outcome::Events(Vec::new()), Outcome::Events(Vec::new()))
            }
            "update" => {
                let names: Vec<&str> = arr(&input["lists"]).iter().map(st).collect();
                saw_multi |= names.len() > 1;
                let lists: Vec<Held> = names.iter().map(|n| held(&cast, n)).collect();
                let by_hand = match ref_update(model.as_ref().unwrap(), &lists) {
                    Ok((next, events)) => {
                        model = Some(next);
                        Outcome::Events(events)
                    }
                    Err(e) => Outcome::Error(e),
                };
                let lists: Vec<DeviceList> = names.iter().map(|n| cast.list(n)).collect();
                let by_crate = match view.as_mut().unwrap().update(&lists) {
                    Ok(events) => Outcome::Events(crate_events(&events)),
                    Err(e) => Outcome::Error(format!("{e:?}")),
                };
                (by_hand, by_crate)
            }
            "accept_new_account_key" => {
                let n = st(&input["list"]);
                let l = held(&cast, n);
                let current = model.clone().unwrap();
                let by_hand = if l.account == current.account {
                    match ref_update(&current, &[l]) {
                        Ok((next, events)) => {
                            model = Some(next);
                            Outcome::Events(events)
                        }
                        Err(e) => Outcome::Error(e),
                    }
                } else {
                    let mut events = vec![(
                        "AccountKeyChanged".to_owned(),
                        0,
                        current.account,
                        l.account,
                    )];
                    events.extend(ref_changes(&current, &l));
                    model = Some(l);
                    saw_key_change = true;
                    Outcome::Events(events)
                };
                let by_crate = match view.as_mut().unwrap().accept_new_account_key(cast.list(n)) {
                    Ok(events) => Outcome::Events(crate_events(&events)),
                    Err(e) => Outcome::Error(format!("{e:?}")),
                };
                (by_hand, by_crate)
            }
            "check_device" => {
                let identity = h32(&input["identity"]);
                assert_eq!(cast.device_identity(st(&input["device"])), identity);
                let by_hand = model
                    .as_ref()
                    .unwrap()
                    .devices
                    .iter()
                    .find(|(_, k, _)| *k == identity)
                    .map_or(Outcome::Error("UnknownDevice".into()), |(id, _, added)| {
                        Outcome::Device(*id, *added)
                    });
                let key = xchat_protocol::IdentityKey::from_bytes(identity).unwrap();
                let by_crate = match view.as_ref().unwrap().check_device(&key) {
                    Ok(d) => {
                        assert_eq!(d.identity().to_bytes(), identity);
                        Outcome::Device(d.device_id(), d.added_at_ms())
                    }
                    Err(e) => Outcome::Error(format!("{e:?}")),
                };
                (by_hand, by_crate)
            }
            other => panic!("operation {other}"),
        };
        assert_eq!(by_hand, expected, "{what}: SPEC.md §15.2 by hand");
        assert_eq!(by_crate, expected, "{what}: the crate");
        if let Outcome::Error(e) = &expected {
            errors.insert(e.clone());
        }
        // The list held after the step, by hand and in the crate (a failed step keeps it).
        let after = st(&step["current_after"]);
        assert_eq!(model.as_ref().unwrap().name, after, "{what}");
        let v = view.as_ref().unwrap();
        assert_eq!(
            v.current().to_bytes(),
            h(&cast.lists[after]["encoding"]),
            "{what}"
        );
        assert_eq!(
            v.account().as_bytes(),
            &h32(&cast.lists[after]["account_key"])
        );
    }
    for e in ["Rollback", "Fork", "Gap", "WrongAccount", "UnknownDevice"] {
        assert!(errors.contains(e), "no step for {e}");
    }
    assert_eq!(operations.len(), 4);
    assert!(saw_key_change && saw_multi);
}

// ---------------------------------------------------------------------------------------------
// safety numbers
// ---------------------------------------------------------------------------------------------

/// `H_5200[0..32]` (SPEC.md §15.4), with `H_1`'s input and `H_1`.
fn fingerprint_by_hand(key: &[u8; 32], id: &[u8]) -> (Vec<u8>, Vec<u8>, [u8; 32]) {
    let input = cat(&[
        LABEL_FINGERPRINT_TEXT,
        &[0x01, 0x01],
        &[u8::try_from(id.len()).unwrap()],
        id,
        key,
    ]);
    let h1 = Sha512::digest(&input).to_vec();
    let mut hash = h1.clone();
    for _ in 2..=5200 {
        let mut hasher = Sha512::new();
        hasher.update(&hash);
        hasher.update(key);
        hash = hasher.finalize().to_vec();
    }
    (input, h1, hash[..32].try_into().unwrap())
}

fn digits_by_hand(fp: &[u8]) -> String {
    let mut out = String::new();
    for group in fp[..30].chunks(5) {
        let mut eight = [0u8; 8];
        eight[3..].copy_from_slice(group);
        out.push_str(&format!("{:05}", u64::from_be_bytes(eight) % 100_000));
    }
    out
}

/// `SafetyNumber::compare` as SPEC.md §15.4 writes it: `Ok` the comparison's name, `Err` the
/// decode error's.
fn compare_by_hand(ours: &[u8], theirs: &[u8], scanned: &[u8]) -> Result<String, String> {
    let Some(&version) = scanned.first() else {
        return Err("Truncated".into());
    };
    if version != 0x01 {
        return Ok(format!("OtherVersion({version})"));
    }
    if scanned.len() < 65 {
        return Err("Truncated".into());
    }
    if scanned.len() > 65 {
        return Err("TrailingBytes".into());
    }
    Ok(if scanned == cat(&[&[0x01], theirs, ours]) {
        "Match".into()
    } else {
        "Mismatch".into()
    })
}

#[test]
fn account_safety_numbers() {
    let file = load("account.json");
    let s = &file["safety_numbers"];
    // name → (account key, id, fingerprint, digits)
    type Print = ([u8; 32], Vec<u8>, [u8; 32], String);
    let mut fps: BTreeMap<String, Print> = BTreeMap::new();
    let mut id_lens = BTreeSet::new();
    for a in arr(&s["accounts"]) {
        let name = st(&a["name"]);
        let seed = h32(&a["seed"]);
        let key = h32(&a["public"]);
        assert_eq!(ed_public(&seed), key, "{name}");
        let id = h(&a["account_id"]);
        assert_eq!(nsize(&a["account_id_len"]), id.len());
        id_lens.insert(id.len());
        let (input, h1, fp) = fingerprint_by_hand(&key, &id);
        assert_eq!(input, h(&a["h1_input"]), "{name}");
        assert_eq!(h1, h(&a["h1"]), "{name}");
        assert_eq!(fp.to_vec(), h(&a["fingerprint"]), "{name}");
        let digits = digits_by_hand(&fp);
        assert_eq!(digits.len(), 30);
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(digits, st(&a["digits"]), "{name}");
        // The crate.
        let pair = AccountKeyPair::from_seed(&seed);
        assert_eq!(pair.public().as_bytes(), &key);
        let f = Fingerprint::of(pair.public(), &id).unwrap();
        assert_eq!(f.as_bytes(), &fp, "{name}");
        assert_eq!(f.digits(), digits, "{name}");
        fps.insert(name.to_owned(), (key, id, fp, digits));
    }
    assert!(id_lens.contains(&0) && id_lens.contains(&255));
    // The same key under another id has another fingerprint.
    assert_eq!(fps["alice"].0, fps["alice_empty_id"].0);
    assert_ne!(fps["alice"].2, fps["alice_empty_id"].2);

    let number = |local: &str, remote: &str| {
        let (lk, lid, _, _) = &fps[local];
        let (rk, rid, _, _) = &fps[remote];
        SafetyNumber::new(
            (&AccountKey::from_bytes(*lk).unwrap(), lid),
            (&AccountKey::from_bytes(*rk).unwrap(), rid),
        )
        .unwrap()
    };
    let mut pairs = BTreeMap::new();
    for p in arr(&s["pairs"]) {
        let name = st(&p["name"]);
        let (a, b) = (st(&p["a"]), st(&p["b"]));
        let (da, db) = (&fps[a].3, &fps[b].3);
        let digits = if da <= db {
            format!("{da}{db}")
        } else {
            format!("{db}{da}")
        };
        assert_eq!(digits.len(), 60);
        assert_eq!(st(&p["safety_number_on_a"]), digits, "{name}");
        assert_eq!(st(&p["safety_number_on_b"]), digits, "{name}");
        let qr_a = cat(&[&[0x01], &fps[a].2, &fps[b].2]);
        let qr_b = cat(&[&[0x01], &fps[b].2, &fps[a].2]);
        assert_eq!(h(&p["qr_payload_of_a"]), qr_a, "{name}");
        assert_eq!(h(&p["qr_payload_of_b"]), qr_b, "{name}");
        assert_eq!(qr_a.len(), 65);
        let (on_a, on_b) = (number(a, b), number(b, a));
        assert_eq!(on_a.digits(), digits);
        assert_eq!(on_b.digits(), digits);
        assert_eq!(on_a.local().as_bytes(), &fps[a].2);
        assert_eq!(on_a.remote().as_bytes(), &fps[b].2);
        assert_eq!(on_a.qr_payload().to_vec(), qr_a);
        assert_eq!(on_b.qr_payload().to_vec(), qr_b);
        pairs.insert(name.to_owned(), (a.to_owned(), b.to_owned()));
    }
    assert!(pairs.values().any(|(a, _)| a == "carol"), "the 255-byte id");

    let mut outcomes = BTreeSet::new();
    for c in arr(&s["comparisons"]) {
        let name = st(&c["name"]);
        let (a, b) = &pairs[st(&c["pair"])];
        let (ours, theirs) = match st(&c["side"]) {
            "a" => (a.as_str(), b.as_str()),
            "b" => (b.as_str(), a.as_str()),
            other => panic!("side {other}"),
        };
        let scanned = h(&c["scanned"]);
        let published = if c["expected_error"].is_null() {
            Ok(st(&c["expected"]).to_owned())
        } else {
            Err(st(&c["expected_error"]).to_owned())
        };
        let by_hand = compare_by_hand(&fps[ours].2, &fps[theirs].2, &scanned);
        assert_eq!(by_hand, published, "{name}: by hand");
        let by_crate = number(ours, theirs)
            .compare(&scanned)
            .map(|c| format!("{c:?}"))
            .map_err(|e| format!("{e:?}"));
        assert_eq!(by_crate, published, "{name}: the crate");
        outcomes.insert(match published {
            Ok(o) => o,
            Err(e) => e,
        });
    }
    for o in [
        "Match",
        "Mismatch",
        "OtherVersion(2)",
        "Truncated",
        "TrailingBytes",
    ] {
        assert!(outcomes.contains(o), "no comparison gives {o}");
    }

    let key = |n: &str| AccountKey::from_bytes(fps[n].0).unwrap();
    let mut too_large = 0;
    for t in arr(&s["too_large"]) {
        let name = st(&t["name"]);
        let expected = st(&t["expected_error"]);
        assert_eq!(expected, "TooLarge");
        let got = match st(&t["operation"]) {
            "Fingerprint::of" => {
                let id = h(&t["account_id"]);
                assert!(id.len() > 255);
                Fingerprint::of(&key(st(&t["account"])), &id).map(|_| ())
            }
            "SafetyNumber::new" => {
                let (lid, rid) = (h(&t["local_id"]), h(&t["remote_id"]));
                assert!(lid.len() > 255 || rid.len() > 255);
                SafetyNumber::new(
                    (&key(st(&t["local_account"])), &lid),
                    (&key(st(&t["remote_account"])), &rid),
                )
                .map(|_| ())
            }
            other => panic!("operation {other}"),
        };
        assert_eq!(format!("{:?}", got.unwrap_err()), expected, "{name}");
        too_large += 1;
    }
    assert_eq!(too_large, 3);
}

// ---------------------------------------------------------------------------------------------
// negative
// ---------------------------------------------------------------------------------------------

#[test]
fn account_negative_lists() {
    let file = load("account.json");
    let mut errors = BTreeSet::new();
    let mut names = BTreeSet::new();
    let cast = Cast::new(&file);
    let mut signature_holds = 0;
    let mut torsion_cases = 0;
    for n in arr(&file["negative"]) {
        let name = st(&n["name"]);
        assert!(names.insert(name.to_owned()), "{name} twice");
        assert_eq!(st(&n["operation"]), "DeviceList::from_bytes");
        let input = h(&n["input"]);
        let expected = st(&n["expected_error"]);
        // SPEC.md §15.1 by hand.
        let by_hand = ref_decode(&input).map(|_| ()).unwrap_err();
        assert_eq!(by_hand, expected, "{name}: by hand");
        // Whether the account signature holds, by hand: where it does, the case fails at an
        // earlier check, the one it names, and not at the signature.
        let valid = (input.len() >= 83 + 64).then(|| {
            let account: [u8; 32] = input[1..33].try_into().unwrap();
            let signed = cat(&[LABEL_LIST_TEXT, &input[..input.len() - 64]]);
            ed_verify(&account, &signed, &input[input.len() - 64..])
        });
        assert_eq!(
            valid,
            n["account_signature_valid"].as_bool(),
            "{name}: account_signature_valid"
        );
        if expected == "InvalidSignature" {
            assert_eq!(valid, Some(false), "{name}");
        }
        signature_holds += usize::from(valid == Some(true));
        // A key plus the point of order 2, with signatures that hold under it.
        if name.contains("plus a point of order 2, with") {
            let (key, original) = if name.starts_with("account key") {
                (&input[1..33], cast.account_key("account"))
            } else {
                (
                    &input[83 + 108 + 4..83 + 108 + 36],
                    cast.device_identity("device_3"),
                )
            };
            let key: [u8; 32] = key.try_into().unwrap();
            let t = CompressedEdwardsY(key).decompress().unwrap()
                - CompressedEdwardsY(original).decompress().unwrap();
            assert!(
                !t.is_identity() && (t + t).is_identity(),
                "{name}: T of order 2"
            );
            assert!(!strict_key(&key));
            if name.starts_with("second entry") {
                let e = &input[83 + 108..83 + 216];
                let m = membership_bytes(
                    &input[1..33],
                    u32::from_be_bytes(e[..4].try_into().unwrap()),
                    &key,
                    u64::from_be_bytes(e[36..44].try_into().unwrap()),
                );
                assert!(
                    ed_verify(&key, &m, &e[44..]),
                    "{name}: the membership holds"
                );
            }
            torsion_cases += 1;
        }
        // The crate.
        let got = DeviceList::from_bytes(&input).map(|_| ()).unwrap_err();
        assert_eq!(format!("{got:?}"), expected, "{name}: the crate");
        errors.insert(expected.to_owned());
    }
    for e in [
        "Decode(Truncated)",
        "Decode(TrailingBytes)",
        "Decode(UnknownVersion(2))",
        "Decode(InvalidKey)",
        "Decode(NonCanonical)",
        "Decode(TooLarge)",
        "InvalidDeviceList",
        "InvalidSignature",
    ] {
        assert!(errors.contains(e), "no case for {e}");
    }
    for must in [
        "device count 0 (the entries still follow)",
        "device count 65 with 65 genuine entries",
        "device ids out of order (1, 4, 2: the last two entries swapped)",
        "an identity listed twice (device_1 as ids 1 and 3, both memberships genuine)",
        "account signature with S + L (S ≥ L, non-canonical)",
        "second entry's membership signature with S + L (S ≥ L, non-canonical)",
        "second entry's identity: device_3's identity plus a point of order 2",
        "second entry's identity: y = p + k: a non-canonical encoding of a point of large order",
        "sequence 0 with a zero previous hash (list_1 renumbered)",
        "sequence 1 with a non-zero previous hash",
        "sequence 2 with a zero previous hash",
    ] {
        assert!(names.contains(must), "no case {must}");
    }
    assert!(signature_holds >= 30, "most cases are signed again");
    assert_eq!(torsion_cases, 2);
}

#[test]
fn account_construction_negative() {
    let file = load("account.json");
    let cast = Cast::new(&file);
    let mut errors = BTreeSet::new();
    for c in arr(&file["construction_negative"]) {
        let name = st(&c["name"]);
        let account = st(&c["account"]);
        let key = cast.account_key(account);
        let entries: Vec<&str> = arr(&c["entries"]).iter().map(st).collect();
        let issued = big(&c["issued_at_ms"]);
        // By hand: `next` under another key is WrongAccount; otherwise the entries sorted by id
        // must pass the list's rules for this account key.
        let after = (!c["after"].is_null()).then(|| st(&c["after"]));
        let by_hand = if after.is_some_and(|l| h32(&cast.lists[l]["account_key"]) != key) {
            Err("WrongAccount".to_owned())
        } else {
            let mut refs: Vec<RefEntry> = entries.iter().map(|n| cast.ref_entry(n)).collect();
            refs.sort_by_key(|e| e.id);
            ref_check_entries(&key, &refs)
        };
        let expected = st(&c["expected_error"]);
        assert_eq!(by_hand, Err(expected.to_owned()), "{name}: by hand");
        let pair = cast.account_pair(account);
        let given: Vec<DeviceEntry> = entries.iter().map(|n| cast.device_entry(n)).collect();
        let got = match (st(&c["operation"]), after) {
            ("DeviceList::first", None) => DeviceList::first(&pair, given, issued),
            ("DeviceList::next", Some(l)) => cast.list(l).next(&pair, given, issued),
            (op, _) => panic!("operation {op}"),
        }
        .map(|_| ())
        .unwrap_err();
        assert_eq!(format!("{got:?}"), expected, "{name}: the crate");
        errors.insert(expected.to_owned());
    }
    assert_eq!(
        errors,
        BTreeSet::from(["InvalidDeviceList".to_owned(), "WrongAccount".to_owned()])
    );
}
