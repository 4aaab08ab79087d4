//! The door's JSON parser: the only place message bytes become a `serde_json::Value`.
//!
//! RFC 8259 leaves the meaning of an object that names a member twice undefined, and
//! serde_json reads one two ways (last wins into a `Value`, an error into a struct), so the
//! validator and the store's decoder once disagreed on the same bytes. Here such an object
//! is an error, wherever it is nested, with member names compared after unescaping, as
//! I-JSON (RFC 7493) requires. A leading byte order mark is refused too (RFC 8259 §8.1:
//! senders must not add one), so what is accepted is plain JSON every reader agrees on.

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// Why bytes are not JSON the door accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all (serde_json's message: what and where).
    Syntax(String),
    /// Nested deeper than serde_json's limit of 128 arrays and objects.
    TooDeep,
    /// The text starts with U+FEFF.
    ByteOrderMark,
    /// An object names `name` twice; `path` is the JSON Pointer of that object.
    DuplicateMember { path: String, name: String },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(e) => write!(f, "message is not JSON: {e}"),
            JsonError::TooDeep => f.write_str(
                "message is not JSON this tracker reads: arrays and objects nest more than 128 deep",
            ),
            JsonError::ByteOrderMark => f.write_str(
                "message starts with a UTF-8 byte order mark (U+FEFF); send the JSON without it (RFC 8259 section 8.1)",
            ),
            JsonError::DuplicateMember { path, name } => write!(
                f,
                "the object at {} names the member {name:?} more than once; each name may appear once (RFC 7493 I-JSON)",
                if path.is_empty() { "the top level" } else { path }
            ),
        }
    }
}

/// Parses `text` as one JSON value, refusing repeated member names anywhere.
pub fn parse_strict(text: &str) -> Result<Value, JsonError> {
    if text.starts_with('\u{feff}') {
        return Err(JsonError::ByteOrderMark);
    }
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Strict { dup: &dup }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match dup.into_inner() {
        Some(d) => d.into_error(),
        None if e.to_string().starts_with("recursion limit exceeded") => JsonError::TooDeep,
        None => JsonError::Syntax(e.to_string()),
    })
}

/// A repeated member found while parsing; the path grows outward as the error unwinds.
struct Dup {
    name: String,
    /// Pointer tokens from the offending object up to the root, innermost first.
    path: Vec<String>,
}

impl Dup {
    fn into_error(self) -> JsonError {
        let path = self
            .path
            .iter()
            .rev()
            .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
            .collect();
        JsonError::DuplicateMember {
            path,
            name: self.name,
        }
    }
}

struct Strict<'a> {
    dup: &'a RefCell<Option<Dup>>,
}

impl<'a> Strict<'a> {
    /// Adds `token` to the path of a duplicate found below it, if that is what failed.
    fn within(&self, token: impl FnOnce() -> String) {
        if let Some(d) = self.dup.borrow_mut().as_mut() {
            d.path.push(token());
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json refuses numbers out of f64's range, so this is finite.
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            match seq.next_element_seed(Strict { dup: self.dup }) {
                Ok(Some(v)) => items.push(v),
                Ok(None) => return Ok(Value::Array(items)),
                Err(e) => {
                    let i = items.len();
                    self.within(|| i.to_string());
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                let e = A::Error::custom(format!("duplicate member {name:?}"));
                *self.dup.borrow_mut() = Some(Dup {
                    name,
                    path: Vec::new(),
                });
                return Err(e);
            }
            match map.next_value_seed(Strict { dup: self.dup }) {
                Ok(v) => {
                    members.insert(name, v);
                }
                Err(e) => {
                    self.within(|| name);
                    return Err(e);
                }
            }
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_json_parses_as_serde_json_does() {
        for text in [
            r#"{"a":1,"b":[true,null,"x",-2,1.5,1e3],"c":{"d":{}}}"#,
            "[]",
            "\"\\u0000 and \\ud83d\\ude00\"",
            " 18446744073709551615 ",
            "-9223372036854775808",
            "123456789012345678901234567890",
        ] {
            let want: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse_strict(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn a_repeated_member_is_refused_wherever_it_is() {
        let dup = |t: &str| match parse_strict(t) {
            Err(JsonError::DuplicateMember { path, name }) => (path, name),
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(dup(r#"{"a":1,"a":1}"#), (String::new(), "a".into()));
        assert_eq!(
            dup(r#"{"data":{"reason":"response_cover","reason":"court"}}"#),
            ("/data".into(), "reason".into())
        );
        assert_eq!(
            dup(r#"{"x":[0,{"y":{"b":1,"re\u0061son":2,"reason":3}}]}"#),
            ("/x/1/y".into(), "reason".into())
        );
        assert_eq!(
            dup(r#"{"a/b":{"c":1,"c":2}}"#),
            ("/a~1b".into(), "c".into())
        );
        // Same name in sibling objects is fine.
        assert!(parse_strict(r#"{"a":{"k":1},"b":{"k":1}}"#).is_ok());
    }

    #[test]
    fn other_faults_have_their_own_error() {
        assert_eq!(
            parse_strict("\u{feff}{}").unwrap_err(),
            JsonError::ByteOrderMark
        );
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(parse_strict(&deep).unwrap_err(), JsonError::TooDeep);
        let ok = "[".repeat(100) + &"]".repeat(100);
        assert!(parse_strict(&ok).is_ok());
        for bad in [
            "{",
            "{}{}",
            "{\"a\":1,}",
            "\"\\ud800\"",
            "\"a\u{0}b\"",
            "1e400",
            "NaN",
        ] {
            assert!(
                matches!(parse_strict(bad), Err(JsonError::Syntax(_))),
                "{bad:?}"
            );
        }
    }
}
