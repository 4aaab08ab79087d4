//! Read models: the per-(LPA, month), per-(LPA, month, sector) and per-(LPA, month,
//! officer) tallies that the fold keeps, in integer milliseconds; the [`Delta`] one event
//! makes to them, and [`ReadModels::apply`], which adds a delta to their values.
//!
//! They hold raw dimensions (every reason, role, scope, planned flag, sector code) and
//! never apply reference data, so `counted` and the sector list can change without a
//! rebuild. Zero entries are removed, so a model is a canonical function of the events:
//! live ingestion and `rebuild` give the same bytes. Every model is a sum, so a delta is
//! a model of signed changes and deltas add up in any order.

use super::calendar::Month;
use super::event::{Role, Scope};
use super::fold::{AbstractedCell, AbstractionKey, Contribution};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Milliseconds and occurrences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub ms: i64,
    pub n: i64,
}

impl Tally {
    fn add(&mut self, ms: i64, n: i64) {
        self.ms += ms;
        self.n += n;
    }
    fn is_zero(&self) -> bool {
        self.ms == 0 && self.n == 0
    }
}

fn bump<K: Ord>(map: &mut BTreeMap<K, Tally>, key: K, ms: i64, n: i64) {
    let t = map.entry(key).or_default();
    t.add(ms, n);
    map.retain(|_, t| !t.is_zero());
}

/// Per LPA and month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LpaMonth {
    /// Rostered (not cancelled) shift time and shift count, by role.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rostered: BTreeMap<Role, Tally>,
    /// Abstracted time and count, by `reason|role|scope|planned`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub abstracted: BTreeMap<String, Tally>,
    /// Abstractions with a base event and no end, by the month they started.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub open: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl LpaMonth {
    pub fn is_empty(&self) -> bool {
        self.rostered.is_empty() && self.abstracted.is_empty() && self.open == 0
    }

    pub fn add_rostered(&mut self, role: Role, ms: i64, n: i64) {
        bump(&mut self.rostered, role, ms, n);
    }

    pub fn add_abstracted(&mut self, c: &AbstractedCell, sign: i64) {
        bump(
            &mut self.abstracted,
            encode_key(&c.key),
            sign * c.ms,
            sign * c.count,
        );
    }

    /// Adds another model's tallies (read models are sums, so parts can be folded apart).
    pub fn merge(&mut self, other: &LpaMonth) {
        for (role, t) in &other.rostered {
            bump(&mut self.rostered, *role, t.ms, t.n);
        }
        for (k, t) in &other.abstracted {
            bump(&mut self.abstracted, k.clone(), t.ms, t.n);
        }
        self.open += other.open;
    }

    pub fn rostered_ms(&self) -> i64 {
        self.rostered.values().map(|t| t.ms).sum()
    }

    pub fn shifts(&self) -> i64 {
        self.rostered.values().map(|t| t.n).sum()
    }

    /// Abstracted cells with their decoded dimensions.
    pub fn cells(&self) -> impl Iterator<Item = (AbstractionKey, Tally)> + '_ {
        self.abstracted
            .iter()
            .filter_map(|(k, t)| decode_key(k).map(|k| (k, *t)))
    }
}

/// Per LPA, month and sector (sector codes as received, known or not).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SectorMonth {
    #[serde(default, skip_serializing_if = "Tally::is_zero")]
    pub rostered: Tally,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub abstracted_by_reason: BTreeMap<String, Tally>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub open: i64,
}

impl SectorMonth {
    pub fn is_empty(&self) -> bool {
        self.rostered.is_zero() && self.abstracted_by_reason.is_empty() && self.open == 0
    }
    pub fn add_rostered(&mut self, ms: i64, n: i64) {
        self.rostered.add(ms, n);
    }
    pub fn merge(&mut self, other: &SectorMonth) {
        self.rostered.add(other.rostered.ms, other.rostered.n);
        for (r, t) in &other.abstracted_by_reason {
            bump(&mut self.abstracted_by_reason, r.clone(), t.ms, t.n);
        }
        self.open += other.open;
    }
    pub fn add_abstracted(&mut self, reason: &str, ms: i64, n: i64) {
        bump(&mut self.abstracted_by_reason, reason.to_string(), ms, n);
    }
}

/// Names an [`LpaMonth`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByLpaMonth {
    pub lpa: String,
    pub month: Month,
}

/// Names a [`SectorMonth`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BySector {
    pub lpa: String,
    pub month: Month,
    pub sector: String,
}

/// Names an officer's count of abstractions started in a month.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByOfficer {
    pub lpa: String,
    pub month: Month,
    pub officer_id: String,
}

/// Read-model values by what they count: the read models a batch touches, or changes
/// to them (a [`Delta`]). Absent entries are empty models and zero counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadModels {
    pub lpa_months: BTreeMap<ByLpaMonth, LpaMonth>,
    pub sector_months: BTreeMap<BySector, SectorMonth>,
    /// Abstractions started in the month, per officer.
    pub officers: BTreeMap<ByOfficer, i64>,
}

/// What an event changes in the read models: signed tallies to add to their values.
/// It holds only what changes (no empty entries).
pub type Delta = ReadModels;

impl ReadModels {
    /// What replacing an entity's contribution `before` with `after` changes.
    pub fn between(lpa: &str, before: &Contribution, after: &Contribution) -> Delta {
        let mut d = Delta::default();
        if before != after {
            d.add_contribution(lpa, before, -1);
            d.add_contribution(lpa, after, 1);
            d.prune();
        }
        d
    }

    /// Drops empty models and zero counts (no change, or nothing to store).
    pub fn prune(&mut self) {
        self.lpa_months.retain(|_, m| !m.is_empty());
        self.sector_months.retain(|_, m| !m.is_empty());
        self.officers.retain(|_, n| *n != 0);
    }

    fn add_contribution(&mut self, lpa: &str, c: &Contribution, sign: i64) {
        let at = |month: Month| ByLpaMonth {
            lpa: lpa.to_string(),
            month,
        };
        let sector = |month: Month, sector: &str| BySector {
            lpa: lpa.to_string(),
            month,
            sector: sector.to_string(),
        };
        for r in &c.rostered {
            self.lpa_months
                .entry(at(r.month))
                .or_default()
                .add_rostered(r.role, sign * r.ms, sign * r.count);
            self.sector_months
                .entry(sector(r.month, &r.sector))
                .or_default()
                .add_rostered(sign * r.ms, sign * r.count);
        }
        for a in &c.abstracted {
            self.lpa_months
                .entry(at(a.month))
                .or_default()
                .add_abstracted(a, sign);
            self.sector_months
                .entry(sector(a.month, &a.sector))
                .or_default()
                .add_abstracted(&a.key.reason, sign * a.ms, sign * a.count);
        }
        for o in &c.open {
            self.lpa_months.entry(at(o.month)).or_default().open += sign;
            self.sector_months
                .entry(sector(o.month, &o.sector))
                .or_default()
                .open += sign;
        }
        for o in &c.officer {
            let by = ByOfficer {
                lpa: lpa.to_string(),
                month: o.month,
                officer_id: o.officer_id.clone(),
            };
            *self.officers.entry(by).or_default() += sign;
        }
    }

    /// Adds a delta to these values. The values of the delta's entries must be here
    /// already (loaded from the store): an absent one is taken to be empty.
    pub fn apply(&mut self, delta: Delta) {
        for (k, v) in delta.lpa_months {
            self.lpa_months.entry(k).or_default().merge(&v);
        }
        for (k, v) in delta.sector_months {
            self.sector_months.entry(k).or_default().merge(&v);
        }
        for (k, n) in delta.officers {
            *self.officers.entry(k).or_default() += n;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lpa_months.is_empty() && self.sector_months.is_empty() && self.officers.is_empty()
    }
}

pub fn encode_key(k: &AbstractionKey) -> String {
    format!(
        "{}|{}|{}|{}",
        k.reason,
        k.role.as_str(),
        k.scope.as_str(),
        if k.planned { "planned" } else { "unplanned" }
    )
}

pub fn decode_key(s: &str) -> Option<AbstractionKey> {
    let mut it = s.split('|');
    let (reason, role, scope, planned) = (it.next()?, it.next()?, it.next()?, it.next()?);
    Some(AbstractionKey {
        reason: reason.to_string(),
        role: Role::ALL.into_iter().find(|r| r.as_str() == role)?,
        scope: Scope::ALL.into_iter().find(|x| x.as_str() == scope)?,
        planned: match planned {
            "planned" => true,
            "unplanned" => false,
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let k = AbstractionKey {
            reason: "response_cover".into(),
            role: Role::SpecialConstable,
            scope: Scope::External,
            planned: true,
        };
        assert_eq!(decode_key(&encode_key(&k)), Some(k));
    }

    #[test]
    fn adding_and_removing_leaves_an_empty_model() {
        let mut m = LpaMonth::default();
        m.add_rostered(Role::Pc, 1000, 1);
        m.add_rostered(Role::Pc, -1000, -1);
        assert!(m.is_empty());
        assert_eq!(serde_json::to_string(&m).unwrap(), "{}");
    }

    #[test]
    fn merging_parts_equals_adding_everything_to_one_model() {
        let cell = |reason: &str, ms| AbstractedCell {
            month: "2024-03".parse().unwrap(),
            key: AbstractionKey {
                reason: reason.into(),
                role: Role::Pc,
                scope: Scope::Lpa,
                planned: false,
            },
            sector: "x".into(),
            ms,
            count: 1,
        };
        let (mut whole, mut a, mut b) = (
            LpaMonth::default(),
            LpaMonth::default(),
            LpaMonth::default(),
        );
        for (m, part) in [(&mut a, 1), (&mut b, 2)] {
            m.add_rostered(Role::Pc, 1000 * part, 1);
            m.add_abstracted(&cell("court", 10 * part), 1);
            m.open += part;
            whole.add_rostered(Role::Pc, 1000 * part, 1);
            whole.add_abstracted(&cell("court", 10 * part), 1);
            whole.open += part;
        }
        b.add_abstracted(&cell("court", 20), -1);
        whole.add_abstracted(&cell("court", 20), -1);
        a.merge(&b);
        assert_eq!(a, whole);
    }
}
