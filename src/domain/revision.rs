//! What an LPA entry and a report carry of a revision (contract v3 section 13): the
//! types only, so `report` holds them without depending on `issue`, which computes them.

use serde::{Deserialize, Serialize};

/// Today's figures of an LPA against an issue's: `now − issued`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub issue: u64,
    pub issued_at: String,
    pub rostered_hours_issued: f64,
    pub abstracted_hours_issued: f64,
    pub abstraction_ratio_issued: Option<f64>,
    pub rostered_hours_change: f64,
    pub abstracted_hours_change: f64,
    /// Null when either ratio is.
    pub abstraction_ratio_change: Option<f64>,
}

impl Revision {
    /// Whether any compared figure moved since the issue.
    pub fn moved(&self) -> bool {
        self.rostered_hours_change != 0.0
            || self.abstracted_hours_change != 0.0
            || self.abstraction_ratio_change.is_some_and(|c| c != 0.0)
    }
}

/// What a report of a month compares with.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Compared {
    /// Nothing was asked (the golden reports, the figures bucket's entries).
    #[default]
    NotAsked,
    /// The month has no issue where issues were read.
    NoIssue,
    /// The latest issue: its number and `issued_at`.
    Issue { issue: u64, issued_at: String },
    /// Issues could not be read (from where, and why): no revision is known.
    Unavailable(String),
}
