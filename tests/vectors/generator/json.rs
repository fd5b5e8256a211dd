//! JSON output: `serde_json::Value` with ordered keys and no floats, printed by serde_json, so
//! that the files are byte-for-byte reproducible.

/// A JSON value; objects keep insertion order (serde_json's `preserve_order`).
pub type Json = serde_json::Value;

/// Pretty-prints with serde_json (two-space indentation) and a final newline.
pub fn render(value: &Json) -> String {
    let mut out = serde_json::to_string_pretty(value).expect("a Value always serializes");
    out.push('\n');
    out
}

/// An object under construction, keys in insertion order.
#[derive(Default)]
pub struct Obj(pub(super) serde_json::Map<String, Json>);

impl Obj {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field.
    pub fn f(mut self, key: &str, value: impl Into<Json>) -> Self {
        let old = self.0.insert(key.to_owned(), value.into());
        assert!(old.is_none(), "duplicate key {key}");
        self
    }
}

impl From<Obj> for Json {
    fn from(o: Obj) -> Json {
        Json::Object(o.0)
    }
}

/// Bytes as lowercase hex.
pub fn hx(bytes: impl AsRef<[u8]>) -> Json {
    Json::String(hex::encode(bytes))
}

/// A u64 as a decimal string (JSON numbers are doubles in many parsers).
pub fn big(v: u64) -> Json {
    Json::String(v.to_string())
}

pub(super) fn hex_list<T: AsRef<[u8]>>(items: &[T]) -> Json {
    Json::Array(items.iter().map(hx).collect())
}
