//! Reference data: the force's LPAs with their sectors and targets, and the list of
//! abstraction reasons with whether each counts toward the ratio.
//!
//! Read models never bake in `counted` or the sector list: both are applied when figures
//! are read, so a force can change its reference file without rebuilding.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The West Midlands Police file shipped with the binary, used when `--reference` is absent.
pub const WEST_MIDLANDS_JSON: &str = include_str!("../../schemas/reference/west-midlands.json");

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reference {
    pub force: String,
    pub lpas: Vec<Lpa>,
    pub reasons: Vec<Reason>,
    /// RAG bands, as multiples of an LPA's target ratio.
    #[serde(default)]
    pub rag: RagBands,
    /// Counts below this are suppressed in anything the board sees (privacy: small
    /// numbers identify people).
    #[serde(default = "default_suppress_below")]
    pub suppress_below: u64,
    /// What a plausible event looks like; events outside it are rejected.
    #[serde(default)]
    pub limits: Limits,
    /// Free text kept with the file (sources, what is a placeholder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

fn default_suppress_below() -> u64 {
    5
}

/// Plausibility limits. A shift or abstraction longer than `max_interval_hours` is a
/// typo (a wrong day or year) that would otherwise swamp a month's figures, and a time
/// far ahead of when the event was published cannot be a roster or a record.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_max_interval_hours")]
    pub max_interval_hours: u32,
    #[serde(default = "default_max_days_ahead")]
    pub max_days_ahead: u32,
}

fn default_max_interval_hours() -> u32 {
    24
}

fn default_max_days_ahead() -> u32 {
    400
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_interval_hours: default_max_interval_hours(),
            max_days_ahead: default_max_days_ahead(),
        }
    }
}

impl Limits {
    pub fn max_interval_ms(&self) -> i64 {
        i64::from(self.max_interval_hours) * 3_600_000
    }

    pub fn max_ahead_ms(&self) -> i64 {
        i64::from(self.max_days_ahead) * 86_400_000
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Lpa {
    pub code: String,
    pub name: String,
    pub target_ratio: f64,
    #[serde(default)]
    pub sectors: Vec<Sector>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sector {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reason {
    pub code: String,
    pub label: String,
    pub counted: bool,
}

/// Green while the ratio is at most `green_max × target`, amber up to
/// `amber_max × target`, red above.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct RagBands {
    pub green_max: f64,
    pub amber_max: f64,
}

impl Default for RagBands {
    fn default() -> Self {
        RagBands {
            green_max: 1.0,
            amber_max: 1.25,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rag {
    Green,
    Amber,
    Red,
}

impl Rag {
    /// `green`, `amber` or `red`: the code in the JSON and CSV reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Rag::Green => "green",
            Rag::Amber => "amber",
            Rag::Red => "red",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("reference file is not valid JSON for the reference format: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("reference file is inconsistent: {0}")]
    Invalid(String),
}

impl Reference {
    pub fn west_midlands() -> Reference {
        Reference::from_json(WEST_MIDLANDS_JSON).expect("shipped reference file is valid")
    }

    pub fn from_json(text: &str) -> Result<Reference, ReferenceError> {
        let r: Reference = serde_json::from_str(text)?;
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), ReferenceError> {
        let code_ok = |c: &str| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        };
        if self.lpas.is_empty() {
            return Err(ReferenceError::Invalid("no LPAs".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for l in &self.lpas {
            if !code_ok(&l.code) || !seen.insert(l.code.as_str()) {
                return Err(ReferenceError::Invalid(format!(
                    "LPA code {:?} is not a unique lower-case code",
                    l.code
                )));
            }
            if !(0.0..=1.0).contains(&l.target_ratio) {
                return Err(ReferenceError::Invalid(format!(
                    "LPA {} target_ratio {} is outside 0..1",
                    l.code, l.target_ratio
                )));
            }
            for s in &l.sectors {
                if !code_ok(&s.code) {
                    return Err(ReferenceError::Invalid(format!(
                        "sector code {:?} is not a lower-case code",
                        s.code
                    )));
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in &self.reasons {
            if !code_ok(&r.code) || !seen.insert(r.code.as_str()) {
                return Err(ReferenceError::Invalid(format!(
                    "reason code {:?} is not a unique lower-case code",
                    r.code
                )));
            }
        }
        if self.limits.max_interval_hours == 0 || self.limits.max_days_ahead == 0 {
            return Err(ReferenceError::Invalid(
                "limits.max_interval_hours and limits.max_days_ahead must be at least 1".into(),
            ));
        }
        if self.rag.green_max > self.rag.amber_max {
            return Err(ReferenceError::Invalid(
                "rag.green_max must not exceed rag.amber_max".into(),
            ));
        }
        Ok(())
    }

    pub fn lpa(&self, code: &str) -> Option<&Lpa> {
        self.lpas.iter().find(|l| l.code == code)
    }

    pub fn reason(&self, code: &str) -> Option<&Reason> {
        self.reasons.iter().find(|r| r.code == code)
    }

    pub fn is_counted(&self, reason: &str) -> bool {
        self.reason(reason).is_some_and(|r| r.counted)
    }

    pub fn has_sector(&self, lpa: &str, sector: &str) -> bool {
        self.lpa(lpa)
            .is_some_and(|l| l.sectors.iter().any(|s| s.code == sector))
    }

    pub fn rag(&self, ratio: f64, target: f64) -> Rag {
        if ratio <= self.rag.green_max * target {
            Rag::Green
        } else if ratio <= self.rag.amber_max * target {
            Rag::Amber
        } else {
            Rag::Red
        }
    }

    /// Reason code → label, for renderers.
    pub fn reason_labels(&self) -> BTreeMap<&str, &str> {
        self.reasons
            .iter()
            .map(|r| (r.code.as_str(), r.label.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rag_code_is_its_json_form() {
        for r in [Rag::Green, Rag::Amber, Rag::Red] {
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
    }

    #[test]
    fn shipped_file_has_the_seven_west_midlands_lpas() {
        let r = Reference::west_midlands();
        let codes: Vec<_> = r.lpas.iter().map(|l| l.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "birmingham",
                "coventry",
                "dudley",
                "sandwell",
                "solihull",
                "walsall",
                "wolverhampton"
            ]
        );
        assert!(r.lpas.iter().all(|l| !l.sectors.is_empty()));
        assert!(r.is_counted("response_cover"));
    }

    #[test]
    fn duplicate_lpa_codes_are_refused() {
        let text = r#"{"force":"f","lpas":[{"code":"a","name":"A","target_ratio":0.2},
            {"code":"a","name":"A2","target_ratio":0.2}],"reasons":[]}"#;
        assert!(matches!(
            Reference::from_json(text),
            Err(ReferenceError::Invalid(_))
        ));
    }

    #[test]
    fn limits_default_when_absent_and_are_read_when_given() {
        assert_eq!(Reference::west_midlands().limits, Limits::default());
        assert_eq!(Limits::default().max_interval_hours, 24);
        assert_eq!(Limits::default().max_days_ahead, 400);
        let text = r#"{"force":"f","lpas":[{"code":"a","name":"A","target_ratio":0.2}],
            "reasons":[],"limits":{"max_interval_hours":12}}"#;
        let r = Reference::from_json(text).unwrap();
        assert_eq!(r.limits.max_interval_hours, 12);
        assert_eq!(r.limits.max_days_ahead, 400);
        let zero = text.replace("12", "0");
        assert!(Reference::from_json(&zero).is_err());
    }

    #[test]
    fn rag_bands_are_relative_to_target() {
        let r = Reference::west_midlands();
        assert_eq!(r.rag(0.19, 0.2), Rag::Green);
        assert_eq!(r.rag(0.24, 0.2), Rag::Amber);
        assert_eq!(r.rag(0.26, 0.2), Rag::Red);
    }
}
