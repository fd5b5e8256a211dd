//! How a negative vector is run and recorded: [`Neg`] runs the operation, asserts the exact error
//! (and that the input state is unchanged) and appends the entry.

use xchat_protocol::content::Content;
use xchat_protocol::sealed_sender::{
    CertificateKey, SealedRecipient, SenderCertificate, ServerCertificate,
};
use xchat_protocol::{
    Config, IdentityKey, IdentityKeyPair, Incoming, KemCiphertext, KemPublicKey, PreKeyBundle,
    PreKeyStore, PublicKey, Session, Trust,
};

use super::super::json::{Json, Obj, big, hx};
use super::super::rng::Recorder;
use super::super::shared::draws_json;

pub(super) struct Neg {
    pub entries: Vec<Json>,
}

impl Neg {
    pub fn push(&mut self, name: &str, spec: &str, op: &str, input: Obj, expected: String) {
        self.entries.push(
            Obj::new()
                .f("name", name)
                .f("spec", spec)
                .f("operation", op)
                .f("input", input)
                .f("expected_error", expected)
                .into(),
        );
    }

    pub fn push_with(
        &mut self,
        name: &str,
        spec: &str,
        op: &str,
        input: Obj,
        expected: String,
        extra: Obj,
    ) {
        let mut o = Obj::new()
            .f("name", name)
            .f("spec", spec)
            .f("operation", op)
            .f("input", input)
            .f("expected_error", expected);
        for (k, v) in extra.0 {
            o = o.f(&k, v);
        }
        self.entries.push(o.into());
    }

    /// A pure decoder (`op` names the public function).
    pub fn decode(&mut self, name: &str, spec: &str, op: &str, bytes: &[u8], expected: &str) {
        let got = run_decode(op, bytes);
        assert_eq!(got, expected, "{name}");
        self.push(
            name,
            spec,
            op,
            Obj::new().f("bytes", hx(bytes)),
            expected.to_owned(),
        );
    }

    pub fn decrypt(
        &mut self,
        name: &str,
        spec: &str,
        session: &[u8],
        message: &[u8],
        expected: &str,
    ) {
        let mut s = Session::from_bytes(session).expect("session");
        let got = format!("{:?}", s.decrypt(message).expect_err(name));
        assert_eq!(got, expected, "{name}");
        assert_eq!(
            s.to_bytes().unwrap().as_slice(),
            session,
            "{name}: unchanged"
        );
        self.push(
            name,
            spec,
            "Session::decrypt",
            Obj::new()
                .f("session", hx(session))
                .f("message", hx(message)),
            got,
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub fn respond(
        &mut self,
        name: &str,
        spec: &str,
        identity: &IdentityKeyPair,
        store: &[u8],
        message: &[u8],
        context: &[u8],
        expected: &str,
    ) {
        let mut st = PreKeyStore::from_bytes(store).expect("store");
        let got = format!(
            "{:?}",
            Session::respond(
                identity,
                &mut st,
                message,
                &Config::new(context).allow_classical()
            )
            .expect_err(name)
        );
        assert_eq!(got, expected, "{name}");
        assert_eq!(
            st.to_bytes().unwrap().as_slice(),
            store,
            "{name}: store unchanged"
        );
        self.push(
            name,
            spec,
            "Session::respond",
            Obj::new()
                .f("identity_seed", hx(identity.seed().as_slice()))
                .f("prekey_store", hx(store))
                .f("message", hx(message))
                .f("context", hx(context)),
            got,
        );
    }

    pub fn initiate(
        &mut self,
        name: &str,
        spec: &str,
        identity: &IdentityKeyPair,
        bundle: &[u8],
        context: &[u8],
        expected: &str,
    ) {
        let decoded = PreKeyBundle::from_bytes(bundle).expect("bundle decodes");
        let mut rng = Recorder::new([0x99; 32]);
        let got = format!(
            "{:?}",
            Session::initiate(
                &mut rng,
                identity,
                &decoded,
                Trust::FirstUse,
                &Config::new(context).allow_classical()
            )
            .expect_err(name)
        );
        assert_eq!(got, expected, "{name}");
        self.push(
            name,
            spec,
            "Session::initiate",
            Obj::new()
                .f("identity_seed", hx(identity.seed().as_slice()))
                .f("bundle", hx(bundle))
                .f("context", hx(context))
                .f("rng_draws", draws_json(&rng.take())),
            got,
        );
    }

    pub fn open(&mut self, name: &str, spec: &str, o: &OpenInput, expected: &str) {
        let recipient = IdentityKeyPair::from_seed(&o.recipient_seed);
        let got = format!(
            "{:?}",
            SealedRecipient {
                identity: &recipient,
                trust_roots: &o.roots,
                revoked_servers: &o.revoked,
            }
            .open(&o.envelope, o.now_ms)
            .expect_err(name)
        );
        assert_eq!(got, expected, "{name}");
        self.push(name, spec, "SealedRecipient::open", o.json(), got);
    }
}

#[derive(Clone)]
pub(super) struct OpenInput {
    pub recipient_seed: [u8; 32],
    pub roots: Vec<CertificateKey>,
    pub revoked: Vec<u32>,
    pub envelope: Vec<u8>,
    pub now_ms: u64,
}

impl OpenInput {
    pub fn json(&self) -> Obj {
        Obj::new()
            .f("recipient_identity_seed", hx(self.recipient_seed))
            .f(
                "trust_roots",
                Json::Array(self.roots.iter().map(|r| hx(r.to_bytes())).collect()),
            )
            .f(
                "revoked_servers",
                Json::Array(self.revoked.iter().map(|r| Json::from(*r)).collect()),
            )
            .f("envelope", hx(&self.envelope))
            .f("now_ms", big(self.now_ms))
    }
}

/// Runs a decoder by name; the error as `{:?}`.
pub fn run_decode(op: &str, bytes: &[u8]) -> String {
    pub fn err<T>(r: Result<T, impl std::fmt::Debug>) -> String {
        match r {
            Ok(_) => "accepted".to_owned(),
            Err(e) => format!("{e:?}"),
        }
    }
    let k32 = || -> [u8; 32] { bytes.try_into().expect("32-byte key input") };
    match op {
        "PublicKey::from_bytes" => err(PublicKey::from_bytes(k32())),
        "IdentityKey::from_bytes" => err(IdentityKey::from_bytes(k32())),
        "PreKeyBundle::from_bytes" => err(PreKeyBundle::from_bytes(bytes)),
        "KemPublicKey::from_bytes" => err(KemPublicKey::from_bytes(bytes)),
        "KemCiphertext::from_bytes" => err(KemCiphertext::from_bytes(bytes)),
        "Incoming::decode" => err(Incoming::decode(bytes)),
        "Content::from_padded_bytes" => err(Content::from_padded_bytes(bytes)),
        "ServerCertificate::from_bytes" => err(ServerCertificate::from_bytes(bytes)),
        "SenderCertificate::from_bytes" => err(SenderCertificate::from_bytes(bytes)),
        "IdentityKeyPair::from_bytes" => err(IdentityKeyPair::from_bytes(bytes)),
        "PreKeyStore::from_bytes" => err(PreKeyStore::from_bytes(bytes)),
        "Session::from_bytes" => err(Session::from_bytes(bytes)),
        other => panic!("unknown decoder {other}"),
    }
}

pub(super) fn with(bytes: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = bytes.to_vec();
    f(&mut v);
    v
}
