//! Shared helpers: frames through the library's `Content`, and one party run in both
//! implementations side by side.

use crate::bridge::*;
use crate::dr::{Session, Store};
use crate::frame::Frame;
use crate::prim::Identity;
use crate::util::hx;
use xchat_protocol as lib;
use xchat_protocol::content::Content;

pub(crate) fn lib_decode(bytes: &[u8]) -> Result<Frame, lib::DecodeError> {
    Content::from_padded_bytes(bytes).map(|c| Frame {
        kind: from_lib_kind(c.kind),
        sent_at_ms: c.sent_at_ms,
        timer: from_lib_timer(&c.timer),
        body: c.body,
    })
}

pub(crate) fn lib_content(f: &Frame) -> Content {
    Content {
        kind: to_lib_kind(f.kind),
        sent_at_ms: f.sent_at_ms,
        timer: to_lib_timer(&f.timer),
        body: f.body.clone(),
    }
}

/// One party in both implementations.
pub(crate) struct Party {
    pub(crate) mine: Option<Session>,
    pub(crate) lib: Option<lib::Session>,
    pub(crate) id: Identity,
    pub(crate) lib_id: lib::IdentityKeyPair,
    pub(crate) clock_skew: i64,
}

impl Party {
    pub(crate) fn check(&self, what: &str) {
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

    pub(crate) fn now(&self, clock: u64) -> u64 {
        clock.saturating_add_signed(self.clock_skew)
    }
}

pub(crate) fn lib_store_to_mine(store: &lib::PreKeyStore) -> Store {
    let blob = store.to_bytes().unwrap();
    let mine = Store::decode(&blob).expect("store");
    assert_eq!(mine.encode(), *blob);
    mine
}
