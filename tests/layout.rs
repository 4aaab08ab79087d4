//! The code's shape, checked: file sizes, no import cycles between source files, a
//! domain without I/O, and sled behind the store. ARCHITECTURE.md describes the layers
//! these rules keep apart; a failure here names the file and the rule it breaks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lines a source file may hold before its `#[cfg(test)]` module.
const MAX_LINES: usize = 600;

struct SourceFile {
    /// `crate::a::b` for `src/a/b.rs` and `src/a/b/mod.rs`.
    module: Vec<String>,
    path: PathBuf,
    /// The text before the first `#[cfg(test)]`: tests may reach anywhere.
    body: String,
}

fn sources() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let rel = p.strip_prefix(&root).unwrap();
                let mut module: Vec<String> = rel
                    .with_extension("")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    module.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    module.pop();
                }
                let text = std::fs::read_to_string(&p).unwrap();
                let body = match text.find("#[cfg(test)]") {
                    Some(i) => text[..i].to_string(),
                    None => text,
                };
                out.push(SourceFile {
                    module,
                    path: p,
                    body,
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Every `crate::…`, `super::…` and `self::…` path in `body`, with `use` groups
/// expanded, as absolute module paths.
fn paths_used(file: &SourceFile, is_mod_file: bool) -> Vec<Vec<String>> {
    // The module a relative path starts from: `self` for a file is its own module.
    let here = file.module.clone();
    let mut found = Vec::new();
    let code: String = file
        .body
        .lines()
        .map(|l| match l.find(" //") {
            Some(i) => &l[..i],
            None => l,
        })
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    // Expand `use a::{b, c::{d, e}};` into `a::b`, `a::c::d`, `a::c::e`.
    let mut flat = String::new();
    let mut statement: Option<String> = None;
    for line in code.lines() {
        let t = line.trim_start();
        let t = ["pub use ", "pub(crate) use ", "pub(super) use ", "use "]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .map(str::to_string);
        let acc = match (statement.take(), t) {
            (Some(mut acc), _) => {
                acc.push_str(line);
                acc
            }
            (None, Some(rest)) => rest,
            (None, None) => {
                flat.push_str(line);
                flat.push('\n');
                continue;
            }
        };
        match acc.find(';') {
            Some(end) => {
                for p in expand(&acc[..end]) {
                    flat.push_str(&format!(" {p} "));
                }
                flat.push('\n');
            }
            None => statement = Some(acc),
        }
    }
    let bytes = flat.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts_word && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
            {
                i += 1;
            }
            let token = flat[start..i].trim_end_matches(':');
            let segs: Vec<&str> = token.split("::").collect();
            if segs.len() > 1 {
                if let Some(p) = absolute(&here, &segs, is_mod_file) {
                    found.push(p);
                }
            }
        } else {
            i += 1;
        }
    }
    found
}

fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    match tree.find('{') {
        None => vec![tree.split(" as ").next().unwrap().trim().to_string()],
        Some(open) => {
            let prefix = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap()];
            let mut parts = Vec::new();
            let (mut depth, mut last) = (0, 0);
            for (j, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(&inner[last..j]);
                        last = j + 1;
                    }
                    _ => {}
                }
            }
            parts.push(&inner[last..]);
            parts
                .into_iter()
                .filter(|p| !p.trim().is_empty())
                .flat_map(|p| {
                    expand(p)
                        .into_iter()
                        .map(|s| match s.as_str() {
                            "self" => prefix.trim_end_matches("::").to_string(),
                            _ => format!("{prefix}{s}"),
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        }
    }
}

fn absolute(here: &[String], segs: &[&str], is_mod_file: bool) -> Option<Vec<String>> {
    let mut base: Vec<String> = match segs[0] {
        "crate" | "abstraction_tracker" => Vec::new(),
        "self" => here.to_vec(),
        "super" => {
            let mut b = here.to_vec();
            b.pop();
            b
        }
        // A `mod.rs` naming one of its children (`md::render`) uses that child.
        first if is_mod_file => {
            let mut b = here.to_vec();
            b.push(first.to_string());
            b.extend(segs[1..].iter().map(|s| s.to_string()));
            return Some(b);
        }
        _ => return None,
    };
    let mut rest = &segs[1..];
    while rest.first() == Some(&"super") {
        base.pop();
        rest = &rest[1..];
    }
    base.extend(rest.iter().map(|s| s.to_string()));
    Some(base)
}

/// The file a module path lands in: the longest module prefix that is a file.
fn owner<'a>(modules: &'a BTreeMap<Vec<String>, usize>, path: &[String]) -> Option<&'a usize> {
    (1..=path.len()).rev().find_map(|n| modules.get(&path[..n]))
}

#[test]
fn no_source_file_is_over_the_line_limit_before_its_tests() {
    let long: Vec<String> = sources()
        .iter()
        .filter_map(|f| {
            let n = f.body.lines().count();
            (n > MAX_LINES).then(|| format!("{} has {n} lines", f.path.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these (limit {MAX_LINES}): {long:#?}"
    );
}

/// Files that use each other, directly or round a loop, cannot be understood or
/// changed one at a time. A child module's use of its parent (`super::…`) is allowed.
#[test]
fn no_import_cycles_between_source_files() {
    let files = sources();
    let modules: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); files.len()];
    for (i, f) in files.iter().enumerate() {
        if f.module.is_empty() {
            continue; // lib.rs and main.rs only declare and wire.
        }
        let is_mod_file = f.path.file_name().is_some_and(|n| n == "mod.rs");
        for p in paths_used(f, is_mod_file) {
            if let Some(&j) = owner(&modules, &p) {
                // A child using its parent's items (`super::StoreError`) is one module
                // speaking to its own face, not a tangle; siblings and strangers count.
                let ancestor = files[i].module.starts_with(&files[j].module);
                if j != i && !files[j].module.is_empty() && !ancestor {
                    edges[i].insert(j);
                }
            }
        }
    }
    // Depth-first search; a grey node met again closes a cycle.
    fn visit(
        n: usize,
        edges: &[BTreeSet<usize>],
        colour: &mut [u8],
        stack: &mut Vec<usize>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        colour[n] = 1;
        stack.push(n);
        for &m in &edges[n] {
            match colour[m] {
                0 => visit(m, edges, colour, stack, cycles),
                1 => {
                    let at = stack.iter().position(|&s| s == m).unwrap();
                    cycles.push(stack[at..].to_vec());
                }
                _ => {}
            }
        }
        stack.pop();
        colour[n] = 2;
    }
    let mut colour = vec![0u8; files.len()];
    let mut cycles = Vec::new();
    for n in 0..files.len() {
        if colour[n] == 0 {
            visit(n, &edges, &mut colour, &mut Vec::new(), &mut cycles);
        }
    }
    let named: Vec<String> = cycles
        .iter()
        .map(|c| {
            c.iter()
                .map(|&i| files[i].module.join("::"))
                .collect::<Vec<_>>()
                .join(" -> ")
        })
        .collect();
    assert!(named.is_empty(), "import cycles: {named:#?}");
}

#[test]
fn the_domain_does_no_io() {
    const IO: [&str; 8] = [
        "tokio",
        "sled",
        "async_nats",
        "axum",
        "hyper",
        "ureq",
        "std::fs",
        "std::net",
    ];
    let bad: Vec<String> = sources()
        .iter()
        .filter(|f| f.module.first().map(String::as_str) == Some("domain"))
        .flat_map(|f| {
            IO.iter()
                .filter(|io| f.body.contains(&format!("{io}::")))
                .map(|io| format!("{} uses {io}", f.path.display()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(bad.is_empty(), "the domain must stay pure: {bad:#?}");
}

#[test]
fn only_the_store_calls_sled() {
    let bad: Vec<String> = sources()
        .iter()
        .filter(|f| f.module.first().map(String::as_str) != Some("store"))
        .filter(|f| f.body.contains("sled::"))
        .map(|f| f.path.display().to_string())
        .collect();
    assert!(bad.is_empty(), "sled used outside src/store: {bad:?}");
}

#[test]
fn the_checker_sees_a_cycle_and_a_grouped_use() {
    let f = SourceFile {
        module: vec!["render".into(), "svg".into()],
        path: PathBuf::from("src/render/svg.rs"),
        body: "use super::{html::{esc, grouped}, text};\nfn f() { crate::domain::calendar::Month::x(); }".into(),
    };
    let used: BTreeSet<Vec<String>> = paths_used(&f, false).into_iter().collect();
    let want = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
    assert!(used.contains(&want("render::html::esc")), "{used:?}");
    assert!(used.contains(&want("render::html::grouped")), "{used:?}");
    assert!(used.contains(&want("render::text")), "{used:?}");
    assert!(
        used.contains(&want("domain::calendar::Month::x")),
        "{used:?}"
    );
}

/// A key family is a letter and a slash (`l/`, `a/`, `m/…`): a byte string or a
/// `format!` starting so is a key built behind the store's back.
fn spells_a_key(body: &str) -> bool {
    ["b\"", "format!(\""].iter().any(|open| {
        body.match_indices(open).any(|(i, _)| {
            let rest = &body.as_bytes()[i + open.len()..];
            rest.len() > 1 && b"laisnom".contains(&rest[0]) && rest[1] == b'/'
        })
    })
}

#[test]
fn only_store_keys_spells_a_key() {
    assert!(spells_a_key(r#"let k = b"a/";"#) && spells_a_key(r#"format!("l/{lpa}0")"#));
    assert!(!spells_a_key(r#"format!("{a}/{b}") + b"x""#));
    let bad: Vec<String> = sources()
        .iter()
        .filter(|f| !f.path.ends_with("store/keys.rs"))
        .filter(|f| spells_a_key(&f.body))
        .map(|f| f.path.display().to_string())
        .collect();
    assert!(
        bad.is_empty(),
        "key literals outside src/store/keys.rs: {bad:?}"
    );
}
