//! The value at an RFC 6901 JSON pointer, read in one pass over the raw body
//! without building the document: everything off the pointer's path is
//! skipped without allocating (`Skip`), only the value found is built. The
//! whole body is still parsed as `serde_json::Value` would parse it — its
//! recursion limit, numbers out of range are errors — so every reader of a
//! body agrees on what is valid. Pure; no IO.

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// The value at `pointer` in the JSON `body`; `Ok(None)` when the body is
/// JSON but nothing is there. A key that appears twice: the last one wins
/// (as in `serde_json::Value`).
pub fn lookup(body: &[u8], pointer: &str) -> Result<Option<serde_json::Value>, String> {
    let tokens: Vec<String> = match pointer {
        "" => Vec::new(),
        p if p.starts_with('/') => p[1..].split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect(),
        p => return Err(format!("{p:?} is not a JSON pointer")),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = Path(&tokens).deserialize(&mut de).map_err(|e| format!("body is not valid JSON: {e}"))?;
    de.end().map_err(|e| format!("body is not valid JSON: {e}"))?;
    Ok(found)
}

/// The escaped pointer to a top-level member named `name`.
pub fn member(name: &str) -> String {
    format!("/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// The rest of a pointer's path, as a seed: builds only what it points to.
struct Path<'p>(&'p [String]);

impl<'de> DeserializeSeed<'de> for Path<'_> {
    type Value = Option<serde_json::Value>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        match self.0.split_first() {
            None => serde::Deserialize::deserialize(de).map(Some),
            Some((head, rest)) => de.deserialize_any(Step { head, rest }),
        }
    }
}

struct Step<'p> {
    head: &'p str,
    rest: &'p [String],
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Option<serde_json::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == self.head {
                found = map.next_value_seed(Path(self.rest))?;
            } else {
                map.next_value::<Skip>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // RFC 6901: an array index is digits without a leading zero.
        let index = self.head.parse::<usize>().ok().filter(|_| self.head == "0" || !self.head.starts_with('0'));
        let mut found = None;
        let mut i = 0;
        loop {
            let item = if Some(i) == index {
                match seq.next_element_seed(Path(self.rest))? {
                    Some(v) => {
                        found = v;
                        true
                    }
                    None => false,
                }
            } else {
                seq.next_element::<Skip>()?.is_some()
            };
            if !item {
                return Ok(found);
            }
            i += 1;
        }
    }

    // A scalar has no members: nothing is at a longer path.
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A value parsed and dropped: every number converted (so one out of range
/// is an error), every level counted against the recursion limit, nothing
/// allocated (strings are borrowed or in the parser's scratch buffer).
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Skip, D::Error> {
        de.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_what_serde_json_value_finds() {
        let body = br#"{"id":"evt_1","data":{"object":{"customer":"cus_1","n":7,"a/b":1,"m~n":2}},"list":[10,{"x":"y"}],"id":"evt_2"}"#;
        let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
        for p in [
            "/id",
            "/data/object/customer",
            "/data/object/n",
            "/list/1/x",
            "/list/0",
            "/list/01",
            "/missing",
            "/id/x",
            "/data/object/a~1b",
            "/data/object/m~0n",
            "",
        ] {
            assert_eq!(lookup(body, p).unwrap(), doc.pointer(p).cloned(), "{p}");
        }
        assert_eq!(lookup(br#"{"k\u0041":"v"}"#, "/kA").unwrap(), Some(serde_json::json!("v")), "escaped keys");
    }

    #[test]
    fn invalid_json_and_deep_nesting_are_errors() {
        assert!(lookup(b"not json", "/id").is_err());
        assert!(lookup(br#"{"id":"a"} trailing"#, "/id").is_err());
        assert!(lookup(br#"{"id":"a","x":[1,2"#, "/id").is_err());
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(lookup(deep.as_bytes(), "/0").is_err());
        let ok = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(lookup(ok.as_bytes(), "/0").is_ok());
        assert!(lookup(br#"{"id":"a","n":1e999999}"#, "/id").is_err(), "a number out of range, as Value says");
        assert!(lookup(b"{}", "id").is_err());
    }

    proptest! {
        #[test]
        fn agrees_with_value_pointer(keys in proptest::collection::vec("[a-c/~]{0,3}", 1..4), v in any::<i64>()) {
            let mut doc = serde_json::json!(v);
            for k in keys.iter().rev() {
                doc = serde_json::json!({ k.clone(): doc, "other": [1, {"z": null}] });
            }
            let body = serde_json::to_vec(&doc).unwrap();
            let pointer: String = keys.iter().map(|k| member(k)).collect();
            prop_assert_eq!(lookup(&body, &pointer).unwrap(), doc.pointer(&pointer).cloned());
        }
    }
}
