//! The values at RFC 6901 JSON pointers, read in one pass over the raw body
//! (one or several pointers) without building the document: everything off the pointer's path is
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
    Ok(lookup_all(body, &[pointer])?.pop().flatten())
}

/// The values at several pointers, in the same order, from one pass over
/// the body (an event's id and its type, read together).
pub fn lookup_all(body: &[u8], pointers: &[&str]) -> Result<Vec<Option<serde_json::Value>>, String> {
    let tokens = pointers.iter().map(|p| parse(p)).collect::<Result<Vec<_>, _>>()?;
    let paths: Vec<(usize, &[String])> = tokens.iter().enumerate().map(|(i, t)| (i, t.as_slice())).collect();
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = Paths(paths).deserialize(&mut de).map_err(|e| format!("body is not valid JSON: {e}"))?;
    de.end().map_err(|e| format!("body is not valid JSON: {e}"))?;
    let mut out = vec![None; pointers.len()];
    for (i, v) in found {
        out[i] = v;
    }
    Ok(out)
}

fn parse(pointer: &str) -> Result<Vec<String>, String> {
    match pointer {
        "" => Ok(Vec::new()),
        p if p.starts_with('/') => Ok(p[1..].split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect()),
        p => Err(format!("{p:?} is not a JSON pointer")),
    }
}

/// The escaped pointer to a top-level member named `name`.
pub fn member(name: &str) -> String {
    format!("/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// What each pointer found: (its index, its value).
type Found = Vec<(usize, Option<serde_json::Value>)>;

/// The rest of each pointer's path below the value at hand, as a seed:
/// builds only what they point to. Where one of them ends, that value is
/// built and the others that go on below it are read from it.
struct Paths<'p>(Vec<(usize, &'p [String])>);

impl<'de> DeserializeSeed<'de> for Paths<'_> {
    type Value = Found;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Found, D::Error> {
        if self.0.iter().any(|(_, rest)| rest.is_empty()) {
            let value: serde_json::Value = Deserialize::deserialize(de)?;
            return Ok(self.0.iter().map(|&(i, rest)| (i, walk(&value, rest).cloned())).collect());
        }
        de.deserialize_any(Step(self.0))
    }
}

/// `rest` below `value`, RFC 6901 array indices included.
fn walk<'v>(value: &'v serde_json::Value, rest: &[String]) -> Option<&'v serde_json::Value> {
    rest.iter().try_fold(value, |v, token| match v {
        serde_json::Value::Object(m) => m.get(token),
        serde_json::Value::Array(a) => index(token).and_then(|i| a.get(i)),
        _ => None,
    })
}

/// RFC 6901: an array index is digits without a leading zero.
fn index(token: &str) -> Option<usize> {
    token.parse::<usize>().ok().filter(|_| token == "0" || !token.starts_with('0'))
}

/// Paths one step down from here (their heads) and what was found so far.
struct Step<'p>(Vec<(usize, &'p [String])>);

impl<'p> Step<'p> {
    /// The paths that go on below the member `key` (or array index).
    fn below(&self, matches: impl Fn(&str) -> bool) -> Vec<(usize, &'p [String])> {
        self.0
            .iter()
            .filter_map(|&(i, rest)| rest.split_first().filter(|(h, _)| matches(h)).map(|(_, r)| (i, r)))
            .collect()
    }

    /// Nothing found for any path (a scalar has no members).
    fn none(&self) -> Found {
        self.0.iter().map(|&(i, _)| (i, None)).collect()
    }
}

/// `found` updated with what was just read: the last copy of a key wins.
fn merge(found: &mut Found, new: Found) {
    for (i, v) in new {
        match found.iter_mut().find(|(j, _)| *j == i) {
            Some(slot) => slot.1 = v,
            None => found.push((i, v)),
        }
    }
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = self.none();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let below = self.below(|head| head == key);
            if below.is_empty() {
                map.next_value::<Skip>()?;
            } else {
                merge(&mut found, map.next_value_seed(Paths(below))?);
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        let mut found = self.none();
        let mut i = 0;
        loop {
            let below = self.below(|head| index(head) == Some(i));
            let more = if below.is_empty() {
                seq.next_element::<Skip>()?.is_some()
            } else {
                match seq.next_element_seed(Paths(below))? {
                    Some(v) => {
                        merge(&mut found, v);
                        true
                    }
                    None => false,
                }
            };
            if !more {
                return Ok(found);
            }
            i += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<Found, E> {
        Ok(self.none())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Found, E> {
        Ok(self.none())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Found, E> {
        Ok(self.none())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Found, E> {
        Ok(self.none())
    }
    fn visit_str<E>(self, _: &str) -> Result<Found, E> {
        Ok(self.none())
    }
    fn visit_unit<E>(self) -> Result<Found, E> {
        Ok(self.none())
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

    #[test]
    fn several_pointers_in_one_pass_find_what_each_finds_alone() {
        let body = br#"{"id":"evt_1","data":{"object":{"id":"pi_1","n":[1,{"k":2}]}},"type":"x.y","id":"evt_2"}"#;
        let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
        let ptrs = ["/id", "/type", "/data", "/data/object/id", "/data/object/n/1/k", "/nope", "/id", ""];
        let all = lookup_all(body, &ptrs).unwrap();
        for (p, got) in ptrs.iter().zip(&all) {
            assert_eq!(got.as_ref(), doc.pointer(p), "{p}");
        }
        assert!(lookup_all(b"[1,2", &["/0", "/1"]).is_err());
        assert!(lookup_all(b"{}", &["/id", "type"]).is_err());
        // A later copy of a key without the path clears what the first found.
        let twice = br#"{"a":{"b":1},"a":{"c":2}}"#;
        assert_eq!(lookup_all(twice, &["/a/b", "/a/c"]).unwrap(), vec![None, Some(serde_json::json!(2))]);
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
            let first: String = keys.iter().take(1).map(|k| member(k)).collect();
            let all = lookup_all(&body, &[&pointer, &first, "/other/1/z"]).unwrap();
            prop_assert_eq!(all, vec![doc.pointer(&pointer).cloned(), doc.pointer(&first).cloned(), doc.pointer("/other/1/z").cloned()]);
        }
    }
}
