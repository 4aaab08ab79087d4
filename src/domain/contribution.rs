//! What one entity adds to the read models: cells of hours and counts, keyed by the
//! dimensions the board reads (month, sector, reason, role, scope, planned). The fold
//! produces contributions; the read models add and subtract them.

use super::calendar::{Day, Month};
use super::event::{Role, Scope};
use serde::{Deserialize, Serialize};

/// The dimensions an abstraction is counted under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AbstractionKey {
    pub reason: String,
    pub role: Role,
    pub scope: Scope,
    pub planned: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RosteredCell {
    pub month: Month,
    /// The local day of this piece (in `month`).
    pub day: Day,
    pub sector: String,
    pub role: Role,
    pub ms: i64,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AbstractedCell {
    pub month: Month,
    /// The local day of this piece (in `month`).
    pub day: Day,
    pub sector: String,
    pub key: AbstractionKey,
    pub ms: i64,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpenCell {
    pub month: Month,
    pub sector: String,
}

/// A shift or abstraction whose folded interval is longer than the plausible limit,
/// by the month it starts in.
#[derive(Debug, Clone, PartialEq)]
pub struct ImplausibleCell {
    pub month: Month,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OfficerCell {
    pub month: Month,
    pub officer_id: String,
}

/// What one entity adds to the read models. Applying an event subtracts the old
/// contribution and adds the new one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contribution {
    pub rostered: Vec<RosteredCell>,
    pub abstracted: Vec<AbstractedCell>,
    pub open: Vec<OpenCell>,
    pub officer: Vec<OfficerCell>,
    pub implausible: Vec<ImplausibleCell>,
}
