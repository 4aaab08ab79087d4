//! The command lines the documentation shows are accepted by the binary: each
//! `abstraction-tracker …` line of README.md, ARCHITECTURE.md, docs/ and deploy/README.md
//! is parsed by the real argument parser (`--help` appended, so nothing runs).

use std::path::Path;
use std::process::Command;

const DOCS: [&str; 6] = [
    "README.md",
    "ARCHITECTURE.md",
    "deploy/README.md",
    "docs/integrating.md",
    "docs/runbook.md",
    "docs/checking-a-figure.md",
];

/// Shell words of one command, up to a redirect, pipe or comment.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, '>' | '|' | '#' | '<' | ';' | '&') if cur.is_empty() && !any => break,
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every documented invocation: code-block lines and inline code spans that start
/// with the binary's name, continuation lines joined.
fn documented() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for doc in DOCS {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let mut in_block = false;
        let mut pending = String::new();
        // Inline code may wrap, so spans are read per paragraph.
        let mut paragraph = String::new();
        let spans = |paragraph: &mut String, found: &mut Vec<(String, String)>| {
            for (i, span) in paragraph.split('`').enumerate() {
                if i % 2 == 1 && span.starts_with("abstraction-tracker ") {
                    found.push((doc.to_string(), span.to_string()));
                }
            }
            paragraph.clear();
        };
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                spans(&mut paragraph, &mut found);
                in_block = !in_block;
                continue;
            }
            if in_block {
                let l = line.trim().trim_start_matches("$ ");
                if !pending.is_empty() || l.starts_with("abstraction-tracker ") {
                    pending.push_str(l.trim_end_matches('\\'));
                    pending.push(' ');
                    if !l.ends_with('\\') {
                        found.push((doc.to_string(), std::mem::take(&mut pending)));
                    }
                }
                continue;
            }
            if line.trim().is_empty() {
                spans(&mut paragraph, &mut found);
            } else {
                paragraph.push_str(line.trim());
                paragraph.push(' ');
            }
        }
        spans(&mut paragraph, &mut found);
    }
    found
}

#[test]
fn the_shell_word_splitter_stops_at_redirects_and_keeps_quotes() {
    assert_eq!(
        words("abstraction-tracker publish 'a b.ndjson' --x \"\" > out # c"),
        ["abstraction-tracker", "publish", "a b.ndjson", "--x", ""]
    );
}

#[test]
fn every_documented_command_line_parses() {
    let lines = documented();
    assert!(lines.len() >= 10, "too few command lines found: {lines:?}");
    let mut bad = Vec::new();
    for (doc, line) in &lines {
        let w = words(line);
        // `[--flag value]` marks an option as optional.
        let args: Vec<&str> = w[1..]
            .iter()
            .map(|a| a.trim_start_matches('[').trim_end_matches(']'))
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_abstraction-tracker"))
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        if !out.status.success() {
            bad.push(format!(
                "{doc}: `{line}`: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "documented commands the CLI refuses:\n{}",
        bad.join("\n")
    );
}
