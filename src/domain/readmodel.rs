//! Read models: the per-(LPA, month), per-(LPA, month, sector) and per-(LPA, month,
//! officer) tallies that the fold keeps, in integer milliseconds; the [`Delta`] one event
//! makes to them, and [`ReadModels::apply`], which adds a delta to their values.
//!
//! They hold raw dimensions (every reason, role, scope, planned flag, sector code) and
//! never apply reference data, so `counted` and the sector list can change without a
//! rebuild. Zero entries are removed, so a model is a canonical function of the events:
//! live ingestion and `rebuild` give the same bytes. Every model is a sum, so a delta is
//! a model of signed changes and deltas add up in any order.

use super::calendar::{Day, Month};
use super::contribution::{AbstractedCell, AbstractionKey, Contribution};
use super::event::{Role, Scope};
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
    /// Shifts and abstractions starting this month whose folded interval is longer than
    /// the plausible limit: counted in no hours, listed in data quality.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub implausible: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl LpaMonth {
    pub fn is_empty(&self) -> bool {
        self.rostered.is_empty()
            && self.abstracted.is_empty()
            && self.open == 0
            && self.implausible == 0
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
        self.implausible += other.implausible;
    }

    pub fn rostered_ms(&self) -> i64 {
        self.rostered.values().map(|t| t.ms).sum()
    }

    pub fn shifts(&self) -> i64 {
        self.rostered.values().map(|t| t.n).sum()
    }

    /// Abstracted cells with their decoded dimensions, borrowing the reason: a month
    /// report walks every cell of ~100 models, so decoding must not allocate.
    pub fn cells(&self) -> impl Iterator<Item = (CellKey<'_>, Tally)> + '_ {
        self.abstracted
            .iter()
            .filter_map(|(k, t)| parse_key(k).map(|k| (k, *t)))
    }
}

/// Per LPA and local day: only what the month in progress reads (rostered time, and
/// abstracted time by reason, planned or not), so that splitting a month at a day
/// decodes a few numbers per day rather than a month model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LpaDay {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rostered_ms: i64,
    /// Abstracted milliseconds by reason: `[planned, unplanned]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub abstracted: BTreeMap<String, [i64; 2]>,
}

impl LpaDay {
    pub fn is_empty(&self) -> bool {
        self.rostered_ms == 0 && self.abstracted.is_empty()
    }

    pub fn add_abstracted(&mut self, reason: &str, planned: bool, ms: i64) {
        let slot = self.abstracted.entry(reason.to_string()).or_default();
        slot[usize::from(!planned)] += ms;
        self.abstracted.retain(|_, v| *v != [0, 0]);
    }

    pub fn merge(&mut self, other: &LpaDay) {
        self.rostered_ms += other.rostered_ms;
        for (reason, [p, u]) in &other.abstracted {
            let slot = self.abstracted.entry(reason.clone()).or_default();
            slot[0] += p;
            slot[1] += u;
        }
        self.abstracted.retain(|_, v| *v != [0, 0]);
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

/// Names an LPA's figures for one local day (an [`LpaDay`]):
/// the month in progress is split at a local midnight from these.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByLpaDay {
    pub lpa: String,
    pub day: Day,
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
    /// Rostered and abstracted time per local day; a month's days sum to its model.
    pub lpa_days: BTreeMap<ByLpaDay, LpaDay>,
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
        self.lpa_days.retain(|_, m| !m.is_empty());
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
        let day = |day: Day| ByLpaDay {
            lpa: lpa.to_string(),
            day,
        };
        for r in &c.rostered {
            self.lpa_days.entry(day(r.day)).or_default().rostered_ms += sign * r.ms;
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
            self.lpa_days.entry(day(a.day)).or_default().add_abstracted(
                &a.key.reason,
                a.key.planned,
                sign * a.ms,
            );
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
        for i in &c.implausible {
            self.lpa_months.entry(at(i.month)).or_default().implausible += sign;
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
        for (k, v) in delta.lpa_days {
            self.lpa_days.entry(k).or_default().merge(&v);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lpa_months.is_empty()
            && self.sector_months.is_empty()
            && self.officers.is_empty()
            && self.lpa_days.is_empty()
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

/// An [`AbstractionKey`] read in place from a stored `reason|role|scope|planned` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellKey<'a> {
    pub reason: &'a str,
    pub role: Role,
    pub scope: Scope,
    pub planned: bool,
}

fn parse_key(s: &str) -> Option<CellKey<'_>> {
    // By hand rather than `split`: a month report parses ~50,000 keys, and the generic
    // searcher was most of its time.
    fn field(s: &str) -> (&str, Option<&str>) {
        match s.bytes().position(|c| c == b'|') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        }
    }
    let (reason, rest) = field(s);
    let (role, rest) = field(rest?);
    let (scope, rest) = field(rest?);
    let (planned, _) = field(rest?);
    Some(CellKey {
        reason,
        role: Role::ALL.into_iter().find(|r| r.as_str() == role)?,
        scope: Scope::ALL.into_iter().find(|x| x.as_str() == scope)?,
        planned: match planned {
            "planned" => true,
            "unplanned" => false,
            _ => return None,
        },
    })
}

pub fn decode_key(s: &str) -> Option<AbstractionKey> {
    parse_key(s).map(|k| AbstractionKey {
        reason: k.reason.to_string(),
        role: k.role,
        scope: k.scope,
        planned: k.planned,
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

    /// The key parser as it was, with `split`: the hand-written one must agree with it.
    fn split_parse(s: &str) -> Option<(String, Role, Scope, bool)> {
        let mut it = s.split('|');
        let (reason, role, scope, planned) = (it.next()?, it.next()?, it.next()?, it.next()?);
        Some((
            reason.to_string(),
            Role::ALL.into_iter().find(|r| r.as_str() == role)?,
            Scope::ALL.into_iter().find(|x| x.as_str() == scope)?,
            match planned {
                "planned" => true,
                "unplanned" => false,
                _ => return None,
            },
        ))
    }

    fn one_of(values: &[&str]) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::strategy::Strategy;
        let mut v: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        v.extend(["".to_string(), "x|y".into(), "PC".into()]);
        proptest::sample::select(v).prop_map(|s| s.to_string())
    }

    proptest::proptest! {
        #[test]
        fn key_parser_agrees_with_split(
            reason in proptest::string::string_regex("[a-z_|]{0,12}").unwrap(),
            role in one_of(&["pc", "pcso", "special_constable", "sergeant"]),
            scope in one_of(&["lpa", "force", "external"]),
            planned in one_of(&["planned", "unplanned"]),
            extra in proptest::option::of(proptest::string::string_regex("[a-z|]{0,5}").unwrap()),
            fields in 0usize..6,
        ) {
            let mut parts = vec![reason, role, scope, planned];
            parts.extend(extra);
            let s = parts[..fields.min(parts.len())].join("|");
            let ours = decode_key(&s).map(|k| (k.reason, k.role, k.scope, k.planned));
            proptest::prop_assert_eq!(ours, split_parse(&s));
        }
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
            day: jiff::civil::date(2024, 3, 1),
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

/// Given these events, when this event arrives, then this [`Delta`] and these read-model
/// figures: the fold and the read models alone, with no store.
#[cfg(test)]
mod given_when_then {
    use super::*;
    use crate::domain::event::{Amendment, Envelope, Event, ShiftFields};
    use crate::domain::fold::tests::{env, fields};
    use crate::domain::fold::{delta, entity_of, EntityId, EntityState};
    use std::collections::HashMap;

    const H: i64 = 3_600_000;
    const T0: i64 = 1_710_403_200_000; // 2024-03-14T08:00:00Z
    const SECTOR: &str = "dudley-central";
    const COVER: &str = "response_cover|pc|lpa|unplanned";

    struct Given(Vec<Envelope>);

    fn given(events: &[Envelope]) -> Given {
        Given(events.to_vec())
    }

    impl Given {
        fn when(&self, event: &Envelope) -> Delta {
            delta(&self.0, event, &crate::domain::fold::Rules::default())
        }

        /// The read models of every event, each event's delta applied in turn.
        fn read_models(&self) -> ReadModels {
            let mut states: HashMap<EntityId, EntityState> = HashMap::new();
            let mut models = ReadModels::default();
            for e in &self.0 {
                let id = entity_of(&e.event);
                let state = states
                    .entry(id.clone())
                    .or_insert_with(|| EntityState::empty_for(&id));
                models.apply(state.step(e, &crate::domain::fold::Rules::default()));
            }
            models.prune();
            models
        }
    }

    fn month(m: &str) -> Month {
        m.parse().unwrap()
    }

    fn lpa_month(m: &str) -> ByLpaMonth {
        ByLpaMonth {
            lpa: "dudley".into(),
            month: month(m),
        }
    }

    fn sector(m: &str) -> BySector {
        BySector {
            lpa: "dudley".into(),
            month: month(m),
            sector: SECTOR.into(),
        }
    }

    fn officer(m: &str) -> ByOfficer {
        ByOfficer {
            lpa: "dudley".into(),
            month: month(m),
            officer_id: "o-1".into(),
        }
    }

    fn recorded(id: &str, start: i64, end: i64) -> Envelope {
        env(
            id,
            start,
            Event::AbstractionRecorded {
                abstraction_id: "a".into(),
                fields: fields(start, "response_cover"),
                end_ms: end,
            },
        )
    }

    fn started(id: &str, start: i64) -> Envelope {
        env(
            id,
            start,
            Event::AbstractionStarted {
                abstraction_id: "a".into(),
                fields: fields(start, "response_cover"),
            },
        )
    }

    fn ended(id: &str, end: i64) -> Envelope {
        env(
            id,
            end,
            Event::AbstractionEnded {
                abstraction_id: "a".into(),
                end_ms: end,
            },
        )
    }

    /// An abstraction's whole effect on one month: its time, one occurrence, one for
    /// its officer.
    fn abstracted(m: &str, ms: i64, sign: i64) -> Delta {
        let mut d = Delta::default();
        d.lpa_months.insert(
            lpa_month(m),
            LpaMonth {
                abstracted: [(COVER.to_string(), Tally { ms, n: sign })].into(),
                ..LpaMonth::default()
            },
        );
        d.sector_months.insert(
            sector(m),
            SectorMonth {
                abstracted_by_reason: [("response_cover".to_string(), Tally { ms, n: sign })]
                    .into(),
                ..SectorMonth::default()
            },
        );
        d.officers.insert(officer(m), sign);
        // Every abstraction here lies within T0's day.
        d.lpa_days.insert(
            ByLpaDay {
                lpa: "dudley".into(),
                day: crate::domain::calendar::day_containing_ms(T0),
            },
            LpaDay {
                rostered_ms: 0,
                abstracted: [("response_cover".to_string(), [0, ms])].into(),
            },
        );
        d
    }

    #[test]
    fn given_nothing_when_an_abstraction_is_recorded_then_its_hours_count_once() {
        let d = given(&[]).when(&recorded("e1", T0, T0 + 2 * H));
        assert_eq!(d, abstracted("2024-03", 2 * H, 1));
    }

    #[test]
    fn given_a_started_abstraction_when_it_ends_then_it_moves_from_open_to_counted() {
        let start = started("e1", T0);
        let open = given(&[]).when(&start);
        assert_eq!(open.lpa_months[&lpa_month("2024-03")].open, 1);
        assert_eq!(open.sector_months[&sector("2024-03")].open, 1);
        assert!(open.officers.is_empty(), "an officer counts once it ends");

        let d = given(&[start]).when(&ended("e2", T0 + 3 * H));
        let mut want = abstracted("2024-03", 3 * H, 1);
        want.lpa_months.get_mut(&lpa_month("2024-03")).unwrap().open = -1;
        want.sector_months.get_mut(&sector("2024-03")).unwrap().open = -1;
        assert_eq!(d, want);
    }

    #[test]
    fn given_a_recorded_abstraction_when_it_is_cancelled_then_everything_is_taken_back() {
        let rec = recorded("e1", T0, T0 + 2 * H);
        let cancel = env(
            "e2",
            T0 + 5 * H,
            Event::AbstractionCancelled {
                abstraction_id: "a".into(),
            },
        );
        assert_eq!(
            given(std::slice::from_ref(&rec)).when(&cancel),
            abstracted("2024-03", -2 * H, -1)
        );
        assert!(given(&[rec, cancel]).read_models().is_empty());
    }

    #[test]
    fn given_an_event_when_it_arrives_again_then_nothing_changes() {
        let rec = recorded("e1", T0, T0 + 2 * H);
        assert!(given(std::slice::from_ref(&rec)).when(&rec).is_empty());
    }

    #[test]
    fn given_an_older_event_when_it_arrives_late_then_the_latest_still_wins() {
        let newer = recorded("e2", T0, T0 + 2 * H);
        let mut older = recorded("e1", T0, T0 + 4 * H);
        older.occurred_ms = T0 - H;
        assert!(given(&[newer]).when(&older).is_empty());
    }

    #[test]
    fn given_a_recorded_abstraction_when_its_sector_is_amended_then_its_time_moves() {
        let rec = recorded("e1", T0, T0 + 2 * H);
        let amend = env(
            "e2",
            T0 + 3 * H,
            Event::AbstractionAmended {
                abstraction_id: "a".into(),
                amendment: Amendment {
                    sector: Some("dudley-north".into()),
                    ..Amendment::default()
                },
            },
        );
        let d = given(&[rec]).when(&amend);
        assert!(d.lpa_months.is_empty() && d.officers.is_empty(), "{d:?}");
        let north = BySector {
            sector: "dudley-north".into(),
            ..sector("2024-03")
        };
        let tally = |ms, n| [("response_cover".to_string(), Tally { ms, n })].into();
        assert_eq!(
            d.sector_months[&sector("2024-03")].abstracted_by_reason,
            tally(-2 * H, -1)
        );
        assert_eq!(
            d.sector_months[&north].abstracted_by_reason,
            tally(2 * H, 1)
        );
    }

    #[test]
    fn given_a_shift_over_the_month_end_then_its_time_splits_at_london_midnight() {
        // 2024-03-31T20:00Z to 2024-04-01T04:00Z: April starts at 23:00Z (BST).
        let start = T0 + 17 * 24 * H + 12 * H;
        let shift = env(
            "e1",
            start,
            Event::ShiftRostered {
                shift_id: "s".into(),
                fields: ShiftFields {
                    officer_id: "o-1".into(),
                    role: Role::Pc,
                    sector: SECTOR.into(),
                    start_ms: start,
                    end_ms: start + 8 * H,
                },
            },
        );
        let models = given(&[shift]).read_models();
        let march = &models.lpa_months[&lpa_month("2024-03")];
        let april = &models.lpa_months[&lpa_month("2024-04")];
        assert_eq!((march.rostered_ms(), march.shifts()), (3 * H, 1));
        assert_eq!((april.rostered_ms(), april.shifts()), (5 * H, 0));
        assert_eq!(
            models.sector_months[&sector("2024-04")].rostered,
            Tally { ms: 5 * H, n: 0 }
        );
        assert!(models.officers.is_empty(), "shifts count no abstractions");
    }

    #[test]
    fn given_a_shift_and_an_abstraction_then_the_read_models_hold_both() {
        let shift = env(
            "e1",
            T0,
            Event::ShiftRostered {
                shift_id: "s".into(),
                fields: ShiftFields {
                    officer_id: "o-1".into(),
                    role: Role::Pc,
                    sector: SECTOR.into(),
                    start_ms: T0,
                    end_ms: T0 + 8 * H,
                },
            },
        );
        let models = given(&[shift, recorded("e2", T0, T0 + 2 * H)]).read_models();
        let m = &models.lpa_months[&lpa_month("2024-03")];
        assert_eq!((m.rostered_ms(), m.shifts()), (8 * H, 1));
        let cells: Vec<_> = m.cells().collect();
        assert_eq!(cells.len(), 1);
        assert_eq!(
            (cells[0].0.reason, cells[0].1),
            ("response_cover", Tally { ms: 2 * H, n: 1 })
        );
        assert_eq!(models.officers[&officer("2024-03")], 1);
    }
}
