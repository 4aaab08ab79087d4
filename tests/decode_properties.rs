//! The door and the store read an event's bytes the same way: for any text, if
//! `Validator::decode` accepts it then `decode_stored` (what `rebuild` and ingest read back
//! from the log) gives the very same event. The generator writes envelopes by hand so it can
//! repeat member names (plainly or escaped), nest values, escape strings and write numbers
//! in every JSON form; a repeated name anywhere is refused as `duplicate_member`.

use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::domain::reject::RejectCode;
use abstraction_tracker::wire::decode::{decode_stored, Validator};
use abstraction_tracker::wire::json::parse_strict;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::sync::OnceLock;

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| Validator::new(Reference::west_midlands()))
}

/// A JSON value written out by the generator, with how it chose to spell it.
#[derive(Debug, Clone)]
enum J {
    /// Already JSON text (numbers in some form, literals).
    Raw(String),
    Str(String, bool),
    Arr(Vec<J>),
    /// Members: (name, escape the name?, value).
    Obj(Vec<(String, bool, J)>),
}

fn escape(s: &str, all: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if all && (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Raw(t) => out.push_str(t),
            J::Str(s, all) => out.push_str(&escape(s, *all)),
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            J::Obj(members) => {
                out.push('{');
                for (i, (k, all, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&escape(k, *all));
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// True when some object in it names a member twice (after unescaping).
    fn has_dup(&self) -> bool {
        match self {
            J::Arr(items) => items.iter().any(J::has_dup),
            J::Obj(members) => {
                let mut names = std::collections::BTreeSet::new();
                members.iter().any(|(k, _, _)| !names.insert(k.clone()))
                    || members.iter().any(|(_, _, v)| v.has_dup())
            }
            _ => false,
        }
    }
}

fn s(v: &str) -> J {
    J::Str(v.into(), false)
}

/// Any small JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Raw("null".into())),
        Just(J::Raw("true".into())),
        any::<i64>().prop_map(|n| J::Raw(n.to_string())),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| J::Raw(format!("{f:e}"))),
        ("\\PC{0,12}", any::<bool>()).prop_map(|(t, all)| J::Str(t, all)),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(J::Arr),
            prop::collection::vec(("[a-c]{1,2}", any::<bool>(), inner), 0..4).prop_map(J::Obj),
        ]
    })
}

/// `schema_version` in one of the forms JSON allows for the number one (and a few others).
fn version() -> impl Strategy<Value = J> {
    prop_oneof![
        4 => Just("1"),
        1 => Just("1.0"),
        1 => Just("1e0"),
        1 => Just("10E-1"),
        1 => Just("-0"),
        1 => Just("2"),
        1 => Just("100000000000000000000000000001"),
    ]
    .prop_map(|t| J::Raw(t.into()))
}

fn time() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2024-03-14T08:00:00Z"),
        Just("2024-03-14t08:00:00z"),
        Just("2024-03-14T09:00:00+01:00"),
        Just("2024-03-14T08:00:00.5Z"),
        Just("2024-03-14T08:00Z"),
        Just("2024-03-14T07:59:60Z"),
    ]
    .prop_map(String::from)
}

/// An `abstraction.recorded` envelope, members shuffled, some repeated, escaped or extra.
fn envelope() -> impl Strategy<Value = J> {
    (
        version(),
        time(),
        any::<bool>(),
        prop::option::of(prop_oneof![
            3 => ("\\PC{0,20}", any::<bool>()).prop_map(|(t, all)| J::Str(t, all)),
            1 => any_json(),
        ]),
        prop::collection::vec(any::<bool>(), 20),
        prop_oneof![3 => Just(0usize), 1 => 1usize..4],
        0usize..30,
    )
        .prop_map(
            |(version, start, planned, note, escapes, repeats, shuffle)| {
                let mut data: Vec<(String, bool, J)> = vec![
                    ("abstraction_id".into(), false, s("a-1")),
                    ("officer_id".into(), false, s("o-1")),
                    ("role".into(), false, s("pc")),
                    ("sector".into(), false, s("dudley-town")),
                    ("reason".into(), false, s("response_cover")),
                    ("scope".into(), false, s("lpa")),
                    ("planned".into(), false, J::Raw(planned.to_string())),
                    ("start".into(), false, J::Str(start, false)),
                    ("end".into(), false, s("2024-03-14T10:00:00Z")),
                ];
                if let Some(n) = note {
                    data.push(("note".into(), false, n));
                }
                let mut top: Vec<(String, bool, J)> = vec![
                    ("event_id".into(), false, s("e-1")),
                    ("type".into(), false, s("abstraction.recorded")),
                    ("schema_version".into(), false, version),
                    ("occurred_at".into(), false, s("2024-03-14T10:05:00Z")),
                    ("source".into(), false, s("prop")),
                    ("lpa".into(), false, s("dudley")),
                ];
                for (i, m) in data.iter_mut().chain(top.iter_mut()).enumerate() {
                    m.1 = escapes[i % escapes.len()] && i % 3 == 0;
                }
                // Repeat some members, in `data` or at the top, with another value.
                for r in 0..repeats {
                    let (list, n) = if r % 2 == 0 {
                        (&mut data, 0)
                    } else {
                        (&mut top, 1)
                    };
                    let i = (shuffle + r) % list.len();
                    let (k, _, _) = list[i].clone();
                    let v = if k == "reason" {
                        s("court")
                    } else {
                        list[i].2.clone()
                    };
                    list.push((k, n == 0 && r % 3 == 0, v));
                }
                let rot = shuffle % data.len();
                data.rotate_left(rot);
                top.push(("data".into(), false, J::Obj(data)));
                let rot = shuffle % top.len();
                top.rotate_left(rot);
                J::Obj(top)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn what_the_door_accepts_reads_back_as_the_same_event(doc in envelope()) {
        let mut text = String::new();
        doc.write(&mut text);
        match validator().decode(text.as_bytes()) {
            Ok(env) => {
                prop_assert!(!doc.has_dup(), "accepted a repeated member: {text}");
                prop_assert_eq!(decode_stored(text.as_bytes()), Ok(env), "{}", text);
            }
            Err(r) if doc.has_dup() => {
                prop_assert_eq!(r.code, RejectCode::DuplicateMember, "{}", text);
            }
            Err(_) => {}
        }
    }

    #[test]
    fn the_strict_parser_means_what_serde_json_means(doc in any_json()) {
        let mut text = String::new();
        doc.write(&mut text);
        match parse_strict(&text) {
            Ok(v) => {
                prop_assert!(!doc.has_dup());
                prop_assert_eq!(v, serde_json::from_str::<serde_json::Value>(&text).unwrap());
            }
            Err(e) => prop_assert!(doc.has_dup(), "{e}: {text}"),
        }
    }
}

#[test]
fn every_accepted_example_form_reads_back() {
    // A sanity check on the generator: plain envelopes are accepted at all.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut accepted = 0;
    for _ in 0..500 {
        let doc = envelope().new_tree(&mut runner).unwrap().current();
        let mut text = String::new();
        doc.write(&mut text);
        if validator().decode(text.as_bytes()).is_ok() {
            accepted += 1;
        }
    }
    assert!(
        accepted > 100,
        "only {accepted} of 500 generated envelopes accepted"
    );
}
