//! Shared test helpers: a receiver implemented twice (`Twin`), and tables of state-decoding
//! cases run against both implementations with what SPEC.md says.

use crate::common::state_codec::{self as sc, Legacy, Open, Ratchet, Sending, SessionBlob};
use crate::reference::primitives::{K32, STATE_VERSION};
use crate::reference::session::MySession;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::Rng;
use xchat_protocol::Session;

/// `needle` occurs somewhere in `hay` (test helper: a secret that must not be in a blob).
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// One receiver implemented twice from the same state: the crate's session and ours must return
/// the same result and serialize to the same bytes after every step.
pub(crate) struct Twin {
    pub(crate) mine: MySession,
    pub(crate) theirs: Session,
}

impl Twin {
    pub(crate) fn new(s: &MySession) -> Self {
        Twin {
            mine: s.clone(),
            theirs: Session::from_bytes(&s.to_state()).unwrap(),
        }
    }
    pub(crate) fn same(&self) {
        assert_eq!(
            self.mine.to_state(),
            self.theirs.to_bytes().unwrap().to_vec()
        );
    }
    pub(crate) fn recv(&mut self, m: &[u8]) -> Result<Vec<u8>, String> {
        let a = self.mine.decrypt(m).map_err(|e| format!("{e:?}"));
        let b = self.theirs.decrypt(m).map_err(|e| format!("{e:?}"));
        assert_eq!(a, b);
        self.same();
        a
    }
    pub(crate) fn send(&mut self, rng: &mut ChaCha20Rng, pt: &[u8]) -> Vec<u8> {
        let mut rng2 = rng.clone();
        let a = self.mine.encrypt_logged(rng, pt).unwrap().0;
        let b = self.theirs.encrypt(&mut rng2, pt).unwrap();
        assert_eq!(a, b);
        assert_eq!(rng.clone().next_u64(), rng2.next_u64());
        self.same();
        a
    }
}

/// Twin helpers for migrated state.
impl Twin {
    /// Both implementations of one blob (any version); they must re-save it identically.
    pub(crate) fn load(blob: &[u8]) -> Self {
        let t = Twin {
            mine: MySession::from_state(blob).unwrap(),
            theirs: Session::from_bytes(blob).unwrap(),
        };
        t.same();
        t
    }
}

/// What SPEC.md says a decode gives: `Some(Ok)` loads, `Some(Err(e))` fails with `e`, `None`:
/// only the agreement of the two implementations is checked.
type Expect = Option<Result<(), &'static str>>;
pub(crate) const OK: Expect = Some(Ok(()));
pub(crate) const NC: Expect = Some(Err("NonCanonical"));
pub(crate) const IK: Expect = Some(Err("InvalidKey"));
pub(crate) const TR: Expect = Some(Err("Truncated"));
pub(crate) const TB: Expect = Some(Err("TrailingBytes"));

/// State-decoding cases: (name, blob, what SPEC.md says, the re-saved blob of an older version
/// that loads, where the test knows it).
#[derive(Default)]
pub(crate) struct Cases(pub(crate) Vec<Case>);
type Case = (String, Vec<u8>, Expect, Option<Vec<u8>>);
/// The re-saved bytes, or the error, from (the independent implementation, the crate).
type Loaded = (Result<Vec<u8>, String>, Result<Vec<u8>, String>);

/// The open phase's state of a session being edited (test helper).
pub(crate) fn om(s: &mut SessionBlob) -> &mut Open {
    match &mut s.ratchet {
        Ratchet::Open(o) => o,
        Ratchet::Opening(_) => panic!("the open phase expected"),
    }
}

/// The sending chain of a session being edited (test helper).
pub(crate) fn sm(s: &mut SessionBlob) -> &mut Sending {
    match &mut s.ratchet {
        Ratchet::Opening(x) => x,
        Ratchet::Open(o) => o.send.as_mut().expect("a sending chain"),
    }
}

impl Cases {
    pub(crate) fn raw(&mut self, name: &str, blob: Vec<u8>, expect: Expect) {
        self.0.push((name.to_string(), blob, expect, None));
    }
    /// `from` edited by `f`, as version 3.
    pub(crate) fn v3(
        &mut self,
        name: &str,
        from: &MySession,
        expect: Expect,
        f: impl Fn(&mut SessionBlob),
    ) {
        let mut s = from.clone();
        f(&mut s);
        self.raw(name, s.to_state(), expect);
    }
    /// `from` edited by `f`, as version 2 with `legacy`: if it loads, it must re-save as the
    /// edited object (what the legacy fields held is dropped).
    pub(crate) fn v2(
        &mut self,
        name: &str,
        from: &MySession,
        legacy: &Legacy,
        expect: Expect,
        f: impl Fn(&mut SessionBlob, &mut Legacy),
    ) {
        let (mut s, mut l) = (from.clone(), *legacy);
        f(&mut s, &mut l);
        let blob = s.encode_v2(&l);
        self.0
            .push((name.to_string(), blob, expect, Some(s.to_state())));
    }
    /// `blob`'s body edited by `f`, re-sealed with a correct check.
    pub(crate) fn patch(
        &mut self,
        name: &str,
        blob: &[u8],
        expect: Expect,
        f: impl Fn(&mut Vec<u8>),
    ) {
        let mut body = sc::body(blob).to_vec();
        f(&mut body);
        self.raw(name, sc::reseal(blob, &body), expect);
    }
    /// Decodes every blob with both implementations: same result, the one SPEC.md gives, a
    /// version-3 blob re-saved byte for byte, an older one re-saved as version 3 (the expected
    /// bytes where known), a fixed point from then on.
    pub(crate) fn run(&self, load: impl Fn(&[u8]) -> Loaded) {
        let mut failures = vec![];
        for (name, blob, expect, resaved) in &self.0 {
            let (mine, theirs) = load(blob);
            if mine != theirs {
                let short = |r: &Result<Vec<u8>, String>| -> Result<String, String> {
                    let h = r.clone().map(hex::encode)?;
                    Ok(h[..40.min(h.len())].to_string())
                };
                failures.push(format!(
                    "{name}: independent {:?}, crate {:?}",
                    short(&mine),
                    short(&theirs)
                ));
                continue;
            }
            if let Ok(b) = &mine {
                if blob[1] == STATE_VERSION || blob[1] == sc::VERSION_PQ {
                    assert_eq!(b, blob, "case {name} re-encodes differently");
                } else {
                    assert_eq!(b[1], STATE_VERSION, "case {name}: re-saved as version 3");
                    if let Some(want) = resaved {
                        assert_eq!(hex::encode(b), hex::encode(want), "case {name}: migration");
                    }
                    assert_eq!(
                        load(b),
                        (Ok(b.clone()), Ok(b.clone())),
                        "case {name}: fixed point"
                    );
                }
            }
            let got = mine.as_ref().map(|_| ()).map_err(String::as_str);
            if let Some(expect) = expect
                && got != *expect
            {
                failures.push(format!("{name}: {got:?}, SPEC.md says {expect:?}"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }
}

pub(crate) fn load_session_both(blob: &[u8]) -> Loaded {
    let mine = MySession::from_state(blob)
        .map(|s| s.to_state())
        .map_err(|e| format!("{e:?}"));
    let theirs = Session::from_bytes(blob)
        .map(|s| s.to_bytes().unwrap().to_vec())
        .map_err(|e| format!("{e:?}"));
    (mine, theirs)
}

/// `u = p`: the smallest non-canonical X25519 encoding (§2.3).
pub(crate) const P_BYTES: K32 = {
    let mut p = [0xFF; 32];
    p[0] = 0xED;
    p[31] = 0x7F;
    p
};
