//! The governance board's figures for one month, computed from read models and the
//! reference data. No formatting here: `render` turns a [`MonthReport`] into md, html,
//! csv or json, and `/api/v1/months/{month}` serves it as JSON.
//!
//! The abstraction ratio is computed in one place, [`month_ratio`] (with [`counted`]
//! for its numerator, both in `ratio` and re-exported here); renderers only format the
//! ratios a [`MonthReport`] carries.
//!
//! The month in progress (the as-of month) carries `in_progress` (`progress`); its
//! status (`rag`) is then the forecast's, never the part-month ratio's, and it is
//! compared with no whole month (contract section 6).
//!
//! Privacy rules applied here, once: no officer identifier leaves this module, and
//! counts of people or occurrences below `suppress_below` are withheld.

use super::calendar::{Day, Month};
use super::progress::{in_progress, InProgress};
pub use super::ratio::{counted, month_ratio};
use super::ratio::{ratio, IsCounted};
use super::readmodel::{LpaDay, LpaMonth, SectorMonth};
use super::reference::{Rag, Reference};
use super::revision::{Compared, Revision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const MS_PER_HOUR: f64 = 3_600_000.0;

/// Thresholds for "officers abstracted N or more times in the month".
pub const REPEAT_THRESHOLDS: [u64; 4] = [1, 3, 5, 10];

/// What the adapter gathers from the store for one LPA.
#[derive(Debug, Clone, Default)]
pub struct LpaInputs {
    pub lpa: String,
    pub this: LpaMonth,
    pub prev: LpaMonth,
    pub year_ago: LpaMonth,
    pub sectors: Vec<(String, SectorMonth)>,
    /// Abstractions started in the month, one value per officer.
    pub officer_counts: Vec<u64>,
    /// The 13 months ending with this one, oldest first.
    pub trend: Vec<(Month, LpaMonth)>,
    /// For the as-of month only: the as-of day and the month's per-day figures.
    pub days: Option<(Day, Vec<(Day, LpaDay)>)>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MonthReport {
    /// Serialises as `YYYY-MM`.
    pub month: Month,
    pub force: String,
    pub generated_from: String,
    pub summary: ForceSummary,
    /// Every LPA of the reference data, in its order. A `missing` one carries no
    /// figures (they serialise as `null`; see [`MonthReport::present`]).
    #[serde(serialize_with = "lpas_with_missing_as_null")]
    pub lpas: Vec<LpaReport>,
    pub data_quality: DataQuality,
    /// What the entries' `revision`s compare with (section 13), for the md and html.
    #[serde(skip)]
    pub compared_with: Compared,
}

/// Where an LPA's figures come from, on the projector that answers (contract section 10).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Owned by this projector: from its own store.
    #[default]
    Local,
    /// Owned by another projector: from the `NEIGHBOURHOOD_FIGURES` bucket.
    Bucket,
    /// Owned by no projector that has published it: unknown, never zero.
    Missing,
}

/// A missing LPA as the JSON shows it: its identity, its target, and `null` figures.
#[derive(Serialize)]
struct MissingEntry<'a> {
    lpa: &'a str,
    name: &'a str,
    source: Source,
    target_ratio: f64,
    rostered_hours: Option<f64>,
    abstracted_hours: Option<f64>,
    abstraction_ratio: Option<f64>,
    open_abstractions: Option<i64>,
    abstracted_hours_by_reason: Option<()>,
    rag: Option<Rag>,
    in_progress: Option<InProgress>,
    revision: Option<Revision>,
}

fn lpas_with_missing_as_null<S: serde::Serializer>(
    lpas: &[LpaReport],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(lpas.len()))?;
    for l in lpas {
        if l.source == Source::Missing {
            seq.serialize_element(&MissingEntry {
                lpa: &l.lpa,
                name: &l.name,
                source: Source::Missing,
                target_ratio: l.target_ratio,
                rostered_hours: None,
                abstracted_hours: None,
                abstraction_ratio: None,
                open_abstractions: None,
                abstracted_hours_by_reason: None,
                rag: None,
                in_progress: None,
                revision: None,
            })?;
        } else {
            seq.serialize_element(l)?;
        }
    }
    seq.end()
}

impl MonthReport {
    /// The LPAs with figures (local or from the bucket), in reference order: what the
    /// renderers tabulate. Missing ones are listed apart, never as zeros.
    pub fn present(&self) -> impl Iterator<Item = &LpaReport> + '_ {
        self.lpas.iter().filter(|l| l.source != Source::Missing)
    }

    /// LPAs whose figures no projector has published.
    pub fn missing(&self) -> impl Iterator<Item = &LpaReport> + '_ {
        self.lpas.iter().filter(|l| l.source == Source::Missing)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ForceSummary {
    pub rostered_hours: f64,
    pub abstracted_hours: f64,
    pub abstraction_ratio: Option<f64>,
    pub open_abstractions: i64,
    pub lpas_red: usize,
    pub lpas_amber: usize,
    pub lpas_green: usize,
    pub abstracted_hours_by_reason: BTreeMap<String, f64>,
    /// LPAs left out of these totals because no figures for them were found: the
    /// force-wide figures are incomplete while this is not empty.
    pub missing_lpas: Vec<String>,
    /// The month in progress only (`null` for every other month): the sums of the
    /// LPAs' `in_progress` figures, ratios taken over those sums (time-weighted). LPAs
    /// whose figures come from another projector carry no `in_progress` and are left
    /// out of it. `lpas_red`, `lpas_amber` and `lpas_green` then count forecast statuses.
    pub in_progress: Option<InProgress>,
}

/// One LPA's month. Also the value of the `NEIGHBOURHOOD_FIGURES` bucket (with
/// `in_progress` left out and `stream_sequence` added), hence `Deserialize`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LpaReport {
    pub lpa: String,
    pub name: String,
    #[serde(default)]
    pub source: Source,
    pub rostered_hours: f64,
    pub abstracted_hours: f64,
    pub abstraction_ratio: Option<f64>,
    pub open_abstractions: i64,
    pub abstracted_hours_by_reason: BTreeMap<String, f64>,
    pub target_ratio: f64,
    /// `green`, `amber` or `red`; none when nothing was rostered.
    pub rag: Option<Rag>,
    pub shifts: i64,
    /// Counted abstractions that started this month.
    pub abstractions: i64,
    pub previous_month_ratio: Option<f64>,
    pub change_vs_previous_month: Option<f64>,
    pub year_earlier_ratio: Option<f64>,
    pub change_vs_year_earlier: Option<f64>,
    /// Counted hours by role, scope and planned/unplanned.
    pub abstracted_hours_by_role: BTreeMap<String, f64>,
    pub abstracted_hours_by_scope: BTreeMap<String, f64>,
    pub planned_hours: f64,
    pub unplanned_hours: f64,
    /// Sectors by abstraction ratio, highest first.
    pub sectors: Vec<SectorReport>,
    /// `N+` → officers abstracted N or more times; none when suppressed.
    pub officers_abstracted_at_least: BTreeMap<String, Option<u64>>,
    pub trend: Vec<TrendPoint>,
    /// The month in progress (the as-of month only; `null` for every other month).
    #[serde(skip_deserializing)]
    pub in_progress: Option<InProgress>,
    /// For a month with an issue: today's figures against the latest issue's (contract
    /// v3 section 13); `null` otherwise.
    #[serde(skip_deserializing)]
    pub revision: Option<Revision>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SectorReport {
    pub sector: String,
    pub name: Option<String>,
    pub known: bool,
    pub rostered_hours: f64,
    pub abstracted_hours: f64,
    pub abstraction_ratio: Option<f64>,
    /// Counted abstractions started this month; none when suppressed.
    pub abstractions: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrendPoint {
    /// Serialises as `YYYY-MM`.
    pub month: Month,
    pub rostered_hours: f64,
    pub abstracted_hours: f64,
    pub abstraction_ratio: Option<f64>,
    /// The month in progress only (`null` for closed months): its ratio to date and
    /// forecast, which trend charts draw instead of the part-month `abstraction_ratio`.
    #[serde(default)]
    pub in_progress: Option<TrendInProgress>,
}

/// The month in progress as a trend chart draws it. Both are `null` where the month's
/// figures come from another projector (the figures bucket carries no month in progress).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct TrendInProgress {
    pub abstraction_ratio_to_date: Option<f64>,
    pub forecast_ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct DataQuality {
    pub open_abstractions: i64,
    /// `lpa/sector` codes not in the reference data, with rostered + abstracted entries.
    pub unknown_sectors: BTreeMap<String, i64>,
    pub rejected_events: BTreeMap<String, u64>,
    /// Shifts and abstractions starting this month whose folded interval is longer than
    /// `limits.max_interval_hours` (counted in no hours), by LPA code; LPAs with none
    /// are left out.
    pub implausible_interval: BTreeMap<String, i64>,
    /// Logged events of this projector's LPAs that no longer decode, whatever their
    /// month: their entities are counted without them (normally empty).
    pub unreadable_stored_events: Vec<crate::domain::reject::Unreadable>,
}

impl LpaReport {
    /// Planned and spontaneous shares of the counted abstracted hours; none when no
    /// counted hours were abstracted.
    pub fn planned_shares(&self) -> (Option<f64>, Option<f64>) {
        let total = self.planned_hours + self.unplanned_hours;
        let share = |x: f64| (total > 0.0).then(|| x / total);
        (share(self.planned_hours), share(self.unplanned_hours))
    }
}

fn hours(ms: i64) -> f64 {
    ms as f64 / MS_PER_HOUR
}

fn suppress(reference: &Reference, n: i64) -> Option<i64> {
    (n == 0 || n >= reference.suppress_below as i64).then_some(n)
}

/// A month's report with every LPA local: one projector owning them all (an LPA absent
/// from `inputs` had no events and shows as zero).
pub fn month_report(
    reference: &Reference,
    month: Month,
    inputs: &[LpaInputs],
    rejected: &[(String, u64)],
) -> MonthReport {
    // Only the LPAs without inputs get a (zero) value of their own: cloning the others'
    // models would cost more than computing the report from them.
    let absent: Vec<LpaInputs> = reference
        .lpas
        .iter()
        .filter(|l| !inputs.iter().any(|i| i.lpa == l.code))
        .map(|l| LpaInputs {
            lpa: l.code.clone(),
            ..Default::default()
        })
        .collect();
    let all: Vec<&LpaInputs> = inputs.iter().chain(&absent).collect();
    report(reference, month, false, &all, &BTreeMap::new(), rejected)
}

/// The force-wide report on a projector that owns the LPAs of `local` (their inputs
/// from its store); the others' entries come from `remote` (the figures bucket,
/// by LPA code) or are missing. Force totals and open abstractions add the local and
/// remote figures and name the missing LPAs; the rest of data quality (rejections,
/// unknown sectors, implausible intervals) is what this projector saw.
///
/// `as_of` is the clock's day. When `month` holds it, a remote entry's status and
/// changes are withheld: the bucket's figures carry no forecast, and its part-month
/// ratio must never stand for the month (contract section 6).
pub fn force_report(
    reference: &Reference,
    month: Month,
    as_of: Day,
    local: &[LpaInputs],
    remote: &BTreeMap<String, LpaReport>,
    rejected: &[(String, u64)],
) -> MonthReport {
    let local: Vec<&LpaInputs> = local.iter().collect();
    let in_progress = super::calendar::month_of(as_of) == month;
    report(reference, month, in_progress, &local, remote, rejected)
}

/// A remote (bucket) entry of the month in progress: no status and no change against
/// earlier months, since only a part-month ratio is known for it here.
fn withhold_part_month(r: &mut LpaReport, month: Month) {
    r.rag = None;
    r.change_vs_previous_month = None;
    r.change_vs_year_earlier = None;
    for p in r.trend.iter_mut().filter(|p| p.month == month) {
        p.in_progress = Some(TrendInProgress {
            abstraction_ratio_to_date: None,
            forecast_ratio: None,
        });
    }
}

fn report(
    reference: &Reference,
    month: Month,
    remote_in_progress: bool,
    local: &[&LpaInputs],
    remote: &BTreeMap<String, LpaReport>,
    rejected: &[(String, u64)],
) -> MonthReport {
    let mut lpas = Vec::new();
    let mut dq = DataQuality {
        rejected_events: rejected.iter().cloned().collect(),
        ..Default::default()
    };
    // Milliseconds where the figures are ours, so a single projector's totals are exact.
    let (mut rostered_ms, mut abstracted_ms) = (0i64, 0i64);
    let (mut rostered_h, mut abstracted_h) = (0.0f64, 0.0f64);
    for l in &reference.lpas {
        if let Some(inp) = local.iter().find(|i| i.lpa == l.code) {
            let r = lpa_report(reference, l, inp, &mut dq);
            dq.open_abstractions += r.open_abstractions;
            if inp.this.implausible != 0 {
                dq.implausible_interval
                    .insert(l.code.clone(), inp.this.implausible);
            }
            rostered_ms += inp.this.rostered_ms();
            abstracted_ms += counted(reference, &inp.this).0;
            lpas.push(r);
        } else if let Some(r) = remote.get(&l.code) {
            let mut r = r.clone();
            r.source = Source::Bucket;
            r.in_progress = None;
            if remote_in_progress {
                withhold_part_month(&mut r, month);
            }
            dq.open_abstractions += r.open_abstractions;
            rostered_h += r.rostered_hours;
            abstracted_h += r.abstracted_hours;
            lpas.push(r);
        } else {
            lpas.push(missing_report(l));
        }
    }
    let mut by_reason: BTreeMap<String, f64> = BTreeMap::new();
    for l in lpas.iter().filter(|l| l.source != Source::Missing) {
        for (k, v) in &l.abstracted_hours_by_reason {
            *by_reason.entry(k.clone()).or_default() += v;
        }
    }
    let count_rag = |rag: Rag| lpas.iter().filter(|l| l.rag == Some(rag)).count();
    let (rostered, abstracted) = (
        rostered_ms as f64 + rostered_h * MS_PER_HOUR,
        abstracted_ms as f64 + abstracted_h * MS_PER_HOUR,
    );
    let summary = ForceSummary {
        rostered_hours: hours(rostered_ms) + rostered_h,
        abstracted_hours: hours(abstracted_ms) + abstracted_h,
        abstraction_ratio: (rostered > 0.0).then(|| abstracted / rostered),
        open_abstractions: lpas.iter().map(|l| l.open_abstractions).sum(),
        lpas_red: count_rag(Rag::Red),
        lpas_amber: count_rag(Rag::Amber),
        lpas_green: count_rag(Rag::Green),
        abstracted_hours_by_reason: by_reason,
        missing_lpas: lpas
            .iter()
            .filter(|l| l.source == Source::Missing)
            .map(|l| l.lpa.clone())
            .collect(),
        in_progress: super::progress::total(lpas.iter().filter_map(|l| l.in_progress.as_ref())),
    };
    MonthReport {
        month,
        force: reference.force.clone(),
        generated_from: "read models of the stored event log".into(),
        summary,
        lpas,
        data_quality: dq,
        compared_with: Compared::NotAsked,
    }
}

/// The entry of an LPA nobody has figures for: zeros here, `null` in JSON, and left
/// out of every table and total ([`MonthReport::present`]).
fn missing_report(l: &super::reference::Lpa) -> LpaReport {
    LpaReport {
        lpa: l.code.clone(),
        name: l.name.clone(),
        source: Source::Missing,
        rostered_hours: 0.0,
        abstracted_hours: 0.0,
        abstraction_ratio: None,
        open_abstractions: 0,
        abstracted_hours_by_reason: BTreeMap::new(),
        target_ratio: l.target_ratio,
        rag: None,
        shifts: 0,
        abstractions: 0,
        previous_month_ratio: None,
        change_vs_previous_month: None,
        year_earlier_ratio: None,
        change_vs_year_earlier: None,
        abstracted_hours_by_role: BTreeMap::new(),
        abstracted_hours_by_scope: BTreeMap::new(),
        planned_hours: 0.0,
        unplanned_hours: 0.0,
        sectors: Vec::new(),
        officers_abstracted_at_least: BTreeMap::new(),
        trend: Vec::new(),
        in_progress: None,
        revision: None,
    }
}

/// One owned LPA's entry for the figures bucket: the month's figures with no
/// month-in-progress part (contract section 10) and no data-quality side effects.
pub fn lpa_entry(reference: &Reference, inputs: &LpaInputs) -> Option<LpaReport> {
    let l = reference.lpa(&inputs.lpa)?;
    let mut dq = DataQuality::default();
    let mut r = lpa_report(reference, l, inputs, &mut dq);
    r.in_progress = None;
    Some(r)
}

fn lpa_report(
    reference: &Reference,
    l: &super::reference::Lpa,
    inp: &LpaInputs,
    dq: &mut DataQuality,
) -> LpaReport {
    let m = &inp.this;
    let (counted_ms, counted_n) = counted(reference, m);
    let this_ratio = month_ratio(reference, m);
    let mut by_reason: BTreeMap<String, i64> = reference
        .reasons
        .iter()
        .map(|r| (r.code.clone(), 0))
        .collect();
    let mut by_role: BTreeMap<&str, i64> = BTreeMap::new();
    let mut by_scope: BTreeMap<&str, i64> = BTreeMap::new();
    let (mut planned, mut unplanned) = (0i64, 0i64);
    let mut is_counted = IsCounted::new(reference);
    for (k, t) in m.cells() {
        match by_reason.get_mut(k.reason) {
            Some(ms) => *ms += t.ms,
            None => {
                by_reason.insert(k.reason.to_string(), t.ms);
            }
        }
        if !is_counted.get(k.reason) {
            continue;
        }
        *by_role.entry(k.role.as_str()).or_default() += t.ms;
        *by_scope.entry(k.scope.as_str()).or_default() += t.ms;
        if k.planned {
            planned += t.ms;
        } else {
            unplanned += t.ms;
        }
    }
    fn to_hours<K: ToString>(m: BTreeMap<K, i64>) -> BTreeMap<String, f64> {
        m.into_iter()
            .map(|(k, v)| (k.to_string(), hours(v)))
            .collect()
    }
    let prev = month_ratio(reference, &inp.prev);
    let year_ago = month_ratio(reference, &inp.year_ago);
    let progress = inp
        .days
        .as_ref()
        .map(|(as_of, days)| in_progress(reference, l.target_ratio, *as_of, days));
    // In the month in progress `this_ratio` divides part of a month's abstractions by
    // the whole month's roster: it is compared with no other month, and the status is
    // that of the forecast (contract section 6).
    let diff = |a: Option<f64>, b: Option<f64>| match progress {
        Some(_) => None,
        None => Some(a? - b?),
    };
    let rag = match &progress {
        Some(p) => p.forecast_ratio,
        None => this_ratio,
    }
    .map(|r| reference.rag(r, l.target_ratio));

    let mut sectors: Vec<SectorReport> = inp
        .sectors
        .iter()
        .map(|(code, s)| {
            let known = reference.has_sector(&l.code, code);
            if !known {
                *dq.unknown_sectors
                    .entry(format!("{}/{code}", l.code))
                    .or_default() += s.rostered.n
                    + s.abstracted_by_reason.values().map(|t| t.n).sum::<i64>()
                    + s.open;
            }
            let (ams, an) = s
                .abstracted_by_reason
                .iter()
                .filter(|(r, _)| reference.is_counted(r))
                .fold((0, 0), |(ms, n), (_, t)| (ms + t.ms, n + t.n));
            SectorReport {
                sector: code.clone(),
                name: l
                    .sectors
                    .iter()
                    .find(|x| &x.code == code)
                    .map(|x| x.name.clone()),
                known,
                rostered_hours: hours(s.rostered.ms),
                abstracted_hours: hours(ams),
                abstraction_ratio: ratio(ams, s.rostered.ms),
                abstractions: suppress(reference, an),
            }
        })
        .collect();
    sectors.sort_by(|a, b| {
        b.abstraction_ratio
            .unwrap_or(-1.0)
            .total_cmp(&a.abstraction_ratio.unwrap_or(-1.0))
            .then_with(|| a.sector.cmp(&b.sector))
    });

    let officers_abstracted_at_least = REPEAT_THRESHOLDS
        .iter()
        .map(|&n| {
            let c = inp.officer_counts.iter().filter(|&&x| x >= n).count() as i64;
            (format!("{n}+"), suppress(reference, c).map(|c| c as u64))
        })
        .collect();

    LpaReport {
        lpa: l.code.clone(),
        name: l.name.clone(),
        source: Source::Local,
        rostered_hours: hours(m.rostered_ms()),
        abstracted_hours: hours(counted_ms),
        abstraction_ratio: this_ratio,
        open_abstractions: m.open,
        abstracted_hours_by_reason: to_hours(by_reason),
        target_ratio: l.target_ratio,
        rag,
        shifts: m.shifts(),
        abstractions: counted_n,
        previous_month_ratio: prev,
        change_vs_previous_month: diff(this_ratio, prev),
        year_earlier_ratio: year_ago,
        change_vs_year_earlier: diff(this_ratio, year_ago),
        abstracted_hours_by_role: to_hours(by_role),
        abstracted_hours_by_scope: to_hours(by_scope),
        planned_hours: hours(planned),
        unplanned_hours: hours(unplanned),
        sectors,
        officers_abstracted_at_least,
        trend: inp
            .trend
            .iter()
            .map(|(mo, lm)| TrendPoint {
                month: *mo,
                rostered_hours: hours(lm.rostered_ms()),
                abstracted_hours: hours(counted(reference, lm).0),
                abstraction_ratio: month_ratio(reference, lm),
                in_progress: progress
                    .as_ref()
                    .filter(|p| super::calendar::month_of(p.to_date_until) == *mo)
                    .map(|p| TrendInProgress {
                        abstraction_ratio_to_date: p.abstraction_ratio_to_date,
                        forecast_ratio: p.forecast_ratio,
                    }),
            })
            .collect(),
        in_progress: progress,
        revision: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contribution::{AbstractedCell, AbstractionKey};
    use crate::domain::event::{Role, Scope};

    const H: i64 = 3_600_000;

    fn cell(reason: &str, ms: i64) -> AbstractedCell {
        AbstractedCell {
            month: Month::new(2024, 3),
            day: jiff::civil::date(2024, 3, 1),
            sector: "x".into(),
            key: AbstractionKey {
                reason: reason.into(),
                role: Role::Pc,
                scope: Scope::Lpa,
                planned: false,
            },
            ms,
            count: 1,
        }
    }

    #[test]
    fn uncounted_reasons_are_listed_but_left_out_of_the_ratio() {
        let r = Reference::west_midlands();
        let mut m = LpaMonth::default();
        m.add_rostered(Role::Pc, 100 * H, 10);
        m.add_abstracted(&cell("response_cover", 10 * H), 1);
        m.add_abstracted(&cell("training", 5 * H), 1);
        let inputs = vec![LpaInputs {
            lpa: "dudley".into(),
            this: m,
            ..Default::default()
        }];
        let rep = month_report(&r, Month::new(2024, 3), &inputs, &[]);
        assert_eq!(rep.lpas.len(), 7);
        let d = rep.lpas.iter().find(|l| l.lpa == "dudley").unwrap();
        assert_eq!(d.rostered_hours, 100.0);
        assert_eq!(d.abstracted_hours, 10.0);
        assert_eq!(d.abstraction_ratio, Some(0.1));
        assert_eq!(d.abstracted_hours_by_reason["training"], 5.0);
        assert_eq!(d.abstracted_hours_by_reason["court"], 0.0);
        assert_eq!(d.rag, Some(Rag::Green));
        let w = rep.lpas.iter().find(|l| l.lpa == "walsall").unwrap();
        assert_eq!(w.abstraction_ratio, None);
        assert_eq!(w.rag, None);
    }

    #[test]
    fn months_serialise_as_yyyy_mm() {
        let r = Reference::west_midlands();
        let inputs = vec![LpaInputs {
            lpa: "dudley".into(),
            trend: vec![(Month::new(2023, 12), LpaMonth::default())],
            ..Default::default()
        }];
        let rep = month_report(&r, Month::new(2024, 3), &inputs, &[]);
        assert_eq!(
            serde_json::to_string(&Month::new(2024, 3)).unwrap(),
            serde_json::to_string("2024-03").unwrap()
        );
        let json = serde_json::to_string(&rep).unwrap();
        assert!(json.starts_with(r#"{"month":"2024-03","#), "{json}");
        assert!(json.contains(r#""trend":[{"month":"2023-12","#), "{json}");
    }

    #[test]
    fn small_officer_counts_are_suppressed() {
        let r = Reference::west_midlands();
        let inputs = vec![LpaInputs {
            lpa: "dudley".into(),
            officer_counts: vec![1, 1, 2, 3, 4, 5, 6],
            ..Default::default()
        }];
        let rep = month_report(&r, Month::new(2024, 3), &inputs, &[]);
        let d = rep.lpas.iter().find(|l| l.lpa == "dudley").unwrap();
        assert_eq!(d.officers_abstracted_at_least["1+"], Some(7));
        assert_eq!(d.officers_abstracted_at_least["3+"], None);
        assert_eq!(d.officers_abstracted_at_least["10+"], Some(0));
    }

    /// Dudley in March 2024 as of the 12th: 52 h abstracted in the first 200 h of a
    /// 400 h month, so a part-month ratio of 13% (green) but a forecast of 26% (red).
    fn in_progress_inputs() -> LpaInputs {
        use crate::domain::readmodel::LpaDay;
        let mut m = LpaMonth::default();
        m.add_rostered(Role::Pc, 400 * H, 50);
        m.add_abstracted(&cell("response_cover", 52 * H), 1);
        let mut prev = LpaMonth::default();
        prev.add_rostered(Role::Pc, 400 * H, 50);
        let mut to_date = LpaDay {
            rostered_ms: 200 * H,
            ..LpaDay::default()
        };
        to_date.add_abstracted("response_cover", false, 52 * H);
        let rest = LpaDay {
            rostered_ms: 200 * H,
            ..LpaDay::default()
        };
        let day = |d: i8| jiff::civil::date(2024, 3, d);
        LpaInputs {
            lpa: "dudley".into(),
            this: m.clone(),
            prev: prev.clone(),
            trend: vec![(Month::new(2024, 2), prev), (Month::new(2024, 3), m)],
            days: Some((day(12), vec![(day(1), to_date), (day(20), rest)])),
            ..Default::default()
        }
    }

    #[test]
    fn in_the_month_in_progress_rag_is_the_forecasts_and_no_change_is_given() {
        let r = Reference::west_midlands();
        let rep = month_report(&r, Month::new(2024, 3), &[in_progress_inputs()], &[]);
        let d = rep.lpas.iter().find(|l| l.lpa == "dudley").unwrap();
        assert_eq!(d.abstraction_ratio, Some(0.13));
        assert_eq!(r.rag(0.13, d.target_ratio), Rag::Green);
        let p = d.in_progress.as_ref().unwrap();
        assert!((p.forecast_ratio.unwrap() - 0.26).abs() < 1e-12);
        assert_eq!(d.rag, Some(Rag::Red), "the forecast's status");
        assert_eq!(d.previous_month_ratio, Some(0.0));
        assert_eq!(d.change_vs_previous_month, None);
        assert_eq!((rep.summary.lpas_red, rep.summary.lpas_green), (1, 0));
        let total = rep.summary.in_progress.as_ref().unwrap();
        assert_eq!(total.abstraction_ratio_to_date, p.abstraction_ratio_to_date);
        let last = d.trend.last().unwrap();
        assert_eq!(
            last.in_progress,
            Some(TrendInProgress {
                abstraction_ratio_to_date: Some(0.26),
                forecast_ratio: p.forecast_ratio,
            })
        );
        assert_eq!(d.trend[0].in_progress, None, "closed months are unchanged");
        // The same month closed (no as-of day in it): the month's ratio and status.
        let closed = LpaInputs {
            days: None,
            ..in_progress_inputs()
        };
        let rep = month_report(&r, Month::new(2024, 3), &[closed], &[]);
        let d = rep.lpas.iter().find(|l| l.lpa == "dudley").unwrap();
        assert_eq!(d.rag, Some(Rag::Green));
        assert_eq!(d.change_vs_previous_month, Some(0.13));
        assert_eq!(rep.summary.in_progress, None);
    }

    #[test]
    fn a_bucket_entry_of_the_month_in_progress_has_no_status_from_its_part_month() {
        let r = Reference::west_midlands();
        let closed = LpaInputs {
            days: None,
            ..in_progress_inputs()
        };
        let entry = lpa_entry(&r, &closed).unwrap();
        assert_eq!(entry.rag, Some(Rag::Green), "what the bucket holds");
        let remote: BTreeMap<String, LpaReport> = [("dudley".to_string(), entry)].into();
        let month = Month::new(2024, 3);
        let now = force_report(&r, month, jiff::civil::date(2024, 3, 12), &[], &remote, &[]);
        let d = now.lpas.iter().find(|l| l.lpa == "dudley").unwrap();
        assert_eq!(
            (d.source, d.rag, d.change_vs_previous_month),
            (Source::Bucket, None, None)
        );
        assert_eq!(
            d.trend.last().unwrap().in_progress.unwrap().forecast_ratio,
            None
        );
        assert_eq!(now.summary.lpas_green, 0);
        let later = force_report(&r, month, jiff::civil::date(2024, 4, 2), &[], &remote, &[]);
        let d = later.lpas.iter().find(|l| l.lpa == "dudley").unwrap();
        assert_eq!(d.rag, Some(Rag::Green), "a closed month is unchanged");
    }
}
