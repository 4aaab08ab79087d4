//! Every example under `schemas/examples/` is judged by the tracker as its name says:
//! `valid/*.json` decode; `invalid/<code>--*.json` are rejected with exactly `<code>`.

use abstraction_tracker::domain::reject::RejectCode;

use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::wire::decode::Validator;
use std::path::Path;

fn files(dir: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/examples")
        .join(dir);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

#[test]
fn valid_examples_decode() {
    let v = Validator::new(Reference::west_midlands());
    let all = files("valid");
    assert!(all.len() >= 7, "one valid example per event type at least");
    let mut types = std::collections::BTreeSet::new();
    for p in all {
        let bytes = std::fs::read(&p).unwrap();
        let env = v
            .decode(&bytes)
            .unwrap_or_else(|r| panic!("{}: {r}", p.display()));
        // What the store reads back (no schema pass) is the same event.
        let stored = abstraction_tracker::wire::decode::decode_stored(&bytes)
            .unwrap_or_else(|r| panic!("{} read back: {r}", p.display()));
        assert_eq!(stored, env, "{}", p.display());
        types.insert(env.event_type().as_str());
    }
    assert_eq!(
        types.len(),
        7,
        "every event type has a valid example: {types:?}"
    );
}

#[test]
fn invalid_examples_are_rejected_with_the_code_in_their_name() {
    let v = Validator::new(Reference::west_midlands());
    let all = files("invalid");
    assert!(all.len() >= 10);
    for p in all {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let code = name.split("--").next().unwrap();
        let expected =
            RejectCode::parse(code).unwrap_or_else(|| panic!("{name}: unknown code {code}"));
        let bytes = std::fs::read(&p).unwrap();
        match v.decode(&bytes) {
            Ok(_) => panic!("{name} was accepted"),
            Err(r) => assert_eq!(r.code, expected, "{name}: {r}"),
        }
    }
}

#[test]
fn the_shipped_reference_file_matches_its_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schemas/reference.schema.json")).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../schemas/reference/west-midlands.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}
