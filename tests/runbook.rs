//! Every alert links to its section of docs/runbook.md, and every section exists.

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

#[test]
fn every_alert_has_a_runbook_section() {
    let rules: serde_norway::Value =
        serde_norway::from_str(&read("deploy/prometheus/rules/alerts.yml")).unwrap();
    let runbook = read("docs/runbook.md");
    let headings: Vec<&str> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .collect();
    let mut alerts = Vec::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let Some(name) = rule["alert"].as_str() else {
                continue;
            };
            alerts.push(name.to_string());
            let url = rule["annotations"]["runbook_url"].as_str();
            assert_eq!(
                url,
                Some(format!("docs/runbook.md#{}", name.to_lowercase()).as_str()),
                "{name}: runbook_url must name its section"
            );
            assert!(
                headings.contains(&name),
                "docs/runbook.md has no `## {name}` section"
            );
        }
    }
    assert!(alerts.len() >= 7, "alerts read: {alerts:?}");
    for h in headings {
        assert!(
            alerts.iter().any(|a| a == h),
            "docs/runbook.md documents `{h}`, which is not an alert"
        );
    }
}
