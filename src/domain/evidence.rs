//! The evidence behind a figure (contract v3 section 12): from one entity's stored
//! events (with the events-stream sequence each was stored from) and the reference
//! data, the entry that lists it under an LPA-month or in the open list.
//!
//! No second implementation of the fold: an entry's status and hours come from the
//! entity's own [`EntityState`] and its [`Contribution`](super::contribution::Contribution),
//! the very cells the read models add up. So the `hours_in_month` of `counted` entries
//! sum to the month's `abstracted_hours`, per reason `counted` + `not_counted` to
//! `abstracted_hours_by_reason`, `rostered` shifts to `rostered_hours`, and the `open`
//! entries starting in the month number `open_abstractions`, by construction
//! (`tests/evidence_properties.rs` checks it over random event sets).
//!
//! Privacy by construction: an entry has no field for an `officer_id` or for free text
//! (`note`, `why`, `cause`); the types below cannot carry them.

use super::calendar::{split_by_month, ts_from_ms, Month};
use super::event::{Envelope, Role, Scope};
use super::fold::{AbstractionState, EntityId, EntityState, Rules, ShiftState};
use super::reference::Reference;
use serde::Serialize;

const MS_PER_HOUR: f64 = 3_600_000.0;

/// One stored event of an entity and the events-stream sequence it was stored from
/// (`None` for events stored before the store kept sequences: store format 5).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub env: Envelope,
    pub stream_sequence: Option<u64>,
}

/// An event as an entry lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRef {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub occurred_at: String,
    pub stream_sequence: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AbstractionStatus {
    Counted,
    NotCounted,
    Open,
    Cancelled,
    Implausible,
}

impl AbstractionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AbstractionStatus::Counted => "counted",
            AbstractionStatus::NotCounted => "not_counted",
            AbstractionStatus::Open => "open",
            AbstractionStatus::Cancelled => "cancelled",
            AbstractionStatus::Implausible => "implausible",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftStatus {
    Rostered,
    Cancelled,
    Implausible,
}

impl ShiftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShiftStatus::Rostered => "rostered",
            ShiftStatus::Cancelled => "cancelled",
            ShiftStatus::Implausible => "implausible",
        }
    }
}

/// An abstraction behind an LPA-month, or open now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbstractionEntry {
    pub abstraction_id: String,
    pub shift_id: Option<String>,
    pub role: Role,
    pub sector: String,
    pub reason: String,
    pub scope: Scope,
    pub planned: bool,
    pub start: String,
    pub end: Option<String>,
    pub status: AbstractionStatus,
    pub hours_in_month: f64,
    pub events: Vec<EventRef>,
    pub revised_since_issue: bool,
    /// Only in the open list: hours from `start` to the clock's now (negative for a
    /// start still ahead of now, as a published plan can be).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_hours: Option<f64>,
    /// `hours_in_month` in exact milliseconds, for sums that must add up exactly.
    #[serde(skip)]
    pub ms_in_month: i64,
    #[serde(skip)]
    pub start_ms: i64,
}

/// A shift behind an LPA-month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShiftEntry {
    pub shift_id: String,
    pub role: Role,
    pub sector: String,
    pub start: String,
    pub end: String,
    pub status: ShiftStatus,
    pub hours_in_month: f64,
    pub events: Vec<EventRef>,
    pub revised_since_issue: bool,
    #[serde(skip)]
    pub ms_in_month: i64,
    #[serde(skip)]
    pub start_ms: i64,
}

/// `GET /api/v1/lpas/{lpa}/months/{YYYY-MM}/abstractions` and `…/abstractions/open`
/// (where `month` is absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbstractionList {
    pub lpa: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month: Option<Month>,
    pub abstractions: Vec<AbstractionEntry>,
}

/// `GET /api/v1/lpas/{lpa}/months/{YYYY-MM}/shifts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShiftList {
    pub lpa: String,
    pub month: Month,
    pub shifts: Vec<ShiftEntry>,
}

fn rfc3339(ms: i64) -> String {
    ts_from_ms(ms).to_string()
}

fn hours(ms: i64) -> f64 {
    ms as f64 / MS_PER_HOUR
}

/// The entity's events, ordered by (`occurred_at`, `event_id`).
fn event_refs(events: &[Stored]) -> Vec<EventRef> {
    let mut sorted: Vec<&Stored> = events.iter().collect();
    sorted.sort_by(|a, b| {
        (a.env.occurred_ms, &a.env.event_id).cmp(&(b.env.occurred_ms, &b.env.event_id))
    });
    sorted
        .into_iter()
        .map(|s| EventRef {
            event_id: s.env.event_id.clone(),
            event_type: s.env.event_type().as_str(),
            occurred_at: rfc3339(s.env.occurred_ms),
            stream_sequence: s.stream_sequence,
        })
        .collect()
}

/// Whether `[start, end)` overlaps `month` (an empty interval overlaps nothing), or,
/// with no end, whether `start` falls in it.
fn listed_in(month: Month, start_ms: i64, end_ms: Option<i64>) -> bool {
    match end_ms {
        None => Month::containing_ms(start_ms) == month,
        Some(end) => split_by_month(start_ms, end)
            .iter()
            .any(|(m, _)| *m == month),
    }
}

/// One abstraction folded, with what every listing of it needs.
pub struct FoldedAbstraction {
    entry: AbstractionEntry,
    end_ms: Option<i64>,
    /// Counted (or not) milliseconds by month, from the fold's own cells.
    ms_by_month: Vec<(Month, i64)>,
}

impl FoldedAbstraction {
    /// Folds an abstraction's stored events. None when it has no base event yet
    /// (nothing to list), or when amended into an empty interval and neither cancelled
    /// nor implausible (it counts nowhere and overlaps no month).
    pub fn fold(
        abstraction_id: &str,
        events: &[Stored],
        reference: &Reference,
        rules: &Rules,
    ) -> Option<FoldedAbstraction> {
        let id = EntityId::Abstraction(abstraction_id.to_string());
        let EntityState::Abstraction(state) =
            EntityState::from_events(&id, events.iter().map(|s| &s.env))
        else {
            unreachable!("an abstraction id folds to an abstraction")
        };
        let shift_id = state.base.as_ref()?.value.shift_id.clone();
        // A cancelled abstraction is listed by its folded interval: fold it as if it
        // were not cancelled, with the fold's own code, then say it is.
        let live = EntityState::Abstraction(AbstractionState {
            cancelled: false,
            ..state.clone()
        });
        let EntityState::Abstraction(live_state) = &live else {
            unreachable!()
        };
        let e = live_state.effective().expect("a base event, not cancelled");
        let c = live.contribution(rules);
        // The first of cancelled, implausible, open holds (contract section 12).
        let status = if state.cancelled {
            AbstractionStatus::Cancelled
        } else if !c.implausible.is_empty() {
            AbstractionStatus::Implausible
        } else if !c.open.is_empty() {
            AbstractionStatus::Open
        } else if !c.abstracted.is_empty() {
            if reference.is_counted(&e.reason) {
                AbstractionStatus::Counted
            } else {
                AbstractionStatus::NotCounted
            }
        } else {
            return None;
        };
        let mut ms_by_month: Vec<(Month, i64)> = Vec::new();
        if matches!(
            status,
            AbstractionStatus::Counted | AbstractionStatus::NotCounted
        ) {
            for cell in &c.abstracted {
                match ms_by_month.iter_mut().find(|(m, _)| *m == cell.month) {
                    Some((_, ms)) => *ms += cell.ms,
                    None => ms_by_month.push((cell.month, cell.ms)),
                }
            }
        }
        Some(FoldedAbstraction {
            end_ms: e.end_ms,
            ms_by_month,
            entry: AbstractionEntry {
                abstraction_id: abstraction_id.to_string(),
                shift_id,
                role: e.role,
                sector: e.sector,
                reason: e.reason,
                scope: e.scope,
                planned: e.planned,
                start: rfc3339(e.start_ms),
                end: e.end_ms.map(rfc3339),
                status,
                hours_in_month: 0.0,
                events: event_refs(events),
                // Section 13 (issued reports) is not built yet: with no issue, no
                // entry is revised since one.
                revised_since_issue: false,
                open_hours: None,
                ms_in_month: 0,
                start_ms: e.start_ms,
            },
        })
    }

    pub fn status(&self) -> AbstractionStatus {
        self.entry.status
    }

    /// Its entry under `month`, when it is listed there.
    pub fn for_month(&self, month: Month) -> Option<AbstractionEntry> {
        if !listed_in(month, self.entry.start_ms, self.end_ms) {
            return None;
        }
        let ms = self
            .ms_by_month
            .iter()
            .find(|(m, _)| *m == month)
            .map_or(0, |(_, ms)| *ms);
        Some(AbstractionEntry {
            hours_in_month: hours(ms),
            ms_in_month: ms,
            ..self.entry.clone()
        })
    }

    /// Its entry in the open list, when it is open, with `open_hours` to `now_ms`.
    pub fn open_at(&self, now_ms: i64) -> Option<AbstractionEntry> {
        (self.entry.status == AbstractionStatus::Open).then(|| AbstractionEntry {
            open_hours: Some(hours(now_ms - self.entry.start_ms)),
            ..self.entry.clone()
        })
    }
}

/// A shift's entry under `month`: None when it has no `shift.rostered` event or does
/// not overlap the month.
pub fn shift_entry(
    shift_id: &str,
    events: &[Stored],
    rules: &Rules,
    month: Month,
) -> Option<ShiftEntry> {
    let id = EntityId::Shift(shift_id.to_string());
    let EntityState::Shift(state) = EntityState::from_events(&id, events.iter().map(|s| &s.env))
    else {
        unreachable!("a shift id folds to a shift")
    };
    let fields = state.rostered.as_ref()?.value.clone();
    if !listed_in(month, fields.start_ms, Some(fields.end_ms)) {
        return None;
    }
    let c = EntityState::Shift(ShiftState {
        cancelled: false,
        ..state.clone()
    })
    .contribution(rules);
    let status = if state.cancelled {
        ShiftStatus::Cancelled
    } else if !c.implausible.is_empty() {
        ShiftStatus::Implausible
    } else {
        ShiftStatus::Rostered
    };
    let ms = if status == ShiftStatus::Rostered {
        c.rostered
            .iter()
            .filter(|cell| cell.month == month)
            .map(|cell| cell.ms)
            .sum()
    } else {
        0
    };
    Some(ShiftEntry {
        shift_id: shift_id.to_string(),
        role: fields.role,
        sector: fields.sector,
        start: rfc3339(fields.start_ms),
        end: rfc3339(fields.end_ms),
        status,
        hours_in_month: hours(ms),
        events: event_refs(events),
        // Section 13 (issued reports) is not built yet: nothing is revised since an issue.
        revised_since_issue: false,
        ms_in_month: ms,
        start_ms: fields.start_ms,
    })
}

/// Lists in a stable order: oldest `start` first, then by id.
pub fn sort_abstractions(list: &mut [AbstractionEntry]) {
    list.sort_by(|a, b| (a.start_ms, &a.abstraction_id).cmp(&(b.start_ms, &b.abstraction_id)));
}

pub fn sort_shifts(list: &mut [ShiftEntry]) {
    list.sort_by(|a, b| (a.start_ms, &a.shift_id).cmp(&(b.start_ms, &b.shift_id)));
}

/// The CSV header of abstraction lists; the open list adds `open_hours`.
pub const ABSTRACTION_CSV_HEADER: &str = "abstraction_id,shift_id,role,sector,reason,scope,planned,start,end,status,hours_in_month,events,revised_since_issue";
pub const SHIFT_CSV_HEADER: &str =
    "shift_id,role,sector,start,end,status,hours_in_month,events,revised_since_issue";

/// Codes and identifiers are `[A-Za-z0-9._:-]` (the door refuses anything else), so
/// no field needs quoting; quoted anyway should that ever change.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn event_ids(events: &[EventRef]) -> String {
    field(
        &events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>()
            .join(";"),
    )
}

/// One row per entry under [`ABSTRACTION_CSV_HEADER`] (plus `open_hours` for the open
/// list); `events` are their `event_id`s joined by `;`, an absent value is empty.
pub fn abstractions_csv(list: &AbstractionList) -> String {
    let open = list.month.is_none();
    let mut out = String::from(ABSTRACTION_CSV_HEADER);
    if open {
        out.push_str(",open_hours");
    }
    out.push('\n');
    for a in &list.abstractions {
        let cols = [
            field(&a.abstraction_id),
            a.shift_id.as_deref().map(field).unwrap_or_default(),
            a.role.as_str().to_string(),
            field(&a.sector),
            field(&a.reason),
            a.scope.as_str().to_string(),
            a.planned.to_string(),
            a.start.clone(),
            a.end.clone().unwrap_or_default(),
            a.status.as_str().to_string(),
            a.hours_in_month.to_string(),
            event_ids(&a.events),
            a.revised_since_issue.to_string(),
        ];
        out.push_str(&cols.join(","));
        if open {
            out.push(',');
            out.push_str(&a.open_hours.unwrap_or_default().to_string());
        }
        out.push('\n');
    }
    out
}

/// One row per entry under [`SHIFT_CSV_HEADER`].
pub fn shifts_csv(list: &ShiftList) -> String {
    let mut out = String::from(SHIFT_CSV_HEADER);
    out.push('\n');
    for s in &list.shifts {
        let cols = [
            field(&s.shift_id),
            s.role.as_str().to_string(),
            field(&s.sector),
            s.start.clone(),
            s.end.clone(),
            s.status.as_str().to_string(),
            s.hours_in_month.to_string(),
            event_ids(&s.events),
            s.revised_since_issue.to_string(),
        ];
        out.push_str(&cols.join(","));
        out.push('\n');
    }
    out
}

/// Marks `revised_since_issue` (contract v3 section 13): the entries one of whose
/// events came from a stream sequence past `issue_sequence`, the latest issue's
/// `stream_sequence` for the list's LPA (none: the month has no issue, nothing is
/// revised). An event stored before sequences were kept (null) counts as not revised.
pub fn mark_revised(list: &mut AbstractionList, issue_sequence: Option<u64>) {
    for a in &mut list.abstractions {
        a.revised_since_issue = revised(&a.events, issue_sequence);
    }
}

/// [`mark_revised`] for a shift list.
pub fn mark_revised_shifts(list: &mut ShiftList, issue_sequence: Option<u64>) {
    for s in &mut list.shifts {
        s.revised_since_issue = revised(&s.events, issue_sequence);
    }
}

/// [`mark_revised`] for the open list, each entry against the latest issue of the
/// month its `start` falls in (`sequence_of`, none for a month without an issue).
pub fn mark_revised_open(list: &mut AbstractionList, sequence_of: impl Fn(Month) -> Option<u64>) {
    for a in &mut list.abstractions {
        let seq = sequence_of(Month::containing_ms(a.start_ms));
        a.revised_since_issue = revised(&a.events, seq);
    }
}

/// The months the open list's entries start in, each once.
pub fn open_months(list: &AbstractionList) -> std::collections::BTreeSet<Month> {
    list.abstractions
        .iter()
        .map(|a| Month::containing_ms(a.start_ms))
        .collect()
}

fn revised(events: &[EventRef], issue_sequence: Option<u64>) -> bool {
    issue_sequence.is_some_and(|issued| {
        events
            .iter()
            .any(|e| e.stream_sequence.is_some_and(|s| s > issued))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{AbstractionFields, Event, ShiftFields};

    const H: i64 = 3_600_000;

    fn ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    fn stored(id: &str, at: i64, seq: Option<u64>, event: Event) -> Stored {
        Stored {
            env: Envelope {
                event_id: id.into(),
                occurred_ms: at,
                source: "t".into(),
                lpa: "dudley".into(),
                event,
            },
            stream_sequence: seq,
        }
    }

    fn fields(start_ms: i64, reason: &str) -> AbstractionFields {
        AbstractionFields {
            officer_id: "o-secret".into(),
            role: Role::Pc,
            sector: "dudley-town".into(),
            reason: reason.into(),
            scope: Scope::Lpa,
            planned: true,
            start_ms,
            shift_id: Some("s-1".into()),
        }
    }

    fn recorded(id: &str, seq: u64, start: i64, end: i64, reason: &str) -> Stored {
        stored(
            id,
            start,
            Some(seq),
            Event::AbstractionRecorded {
                abstraction_id: "a".into(),
                fields: fields(start, reason),
                end_ms: end,
            },
        )
    }

    fn fold(events: &[Stored]) -> Option<FoldedAbstraction> {
        FoldedAbstraction::fold("a", events, &Reference::west_midlands(), &Rules::default())
    }

    fn month(s: &str) -> Month {
        s.parse().unwrap()
    }

    /// 31 March 2024: the clocks go forward at 01:00 GMT, so April starts (local
    /// midnight) at 23:00 UTC on the 31st.
    #[test]
    fn a_counted_abstraction_is_split_across_months_at_london_midnight() {
        let (start, end) = (ms("2024-03-31T21:00:00Z"), ms("2024-04-01T02:00:00Z"));
        let f = fold(&[recorded("e1", 7, start, end, "response_cover")]).unwrap();
        let march = f.for_month(month("2024-03")).unwrap();
        let april = f.for_month(month("2024-04")).unwrap();
        assert_eq!(march.status, AbstractionStatus::Counted);
        assert_eq!((march.ms_in_month, april.ms_in_month), (2 * H, 3 * H));
        assert_eq!(march.hours_in_month, 2.0);
        assert_eq!(march.start, "2024-03-31T21:00:00Z");
        assert_eq!(march.end.as_deref(), Some("2024-04-01T02:00:00Z"));
        assert_eq!(march.shift_id.as_deref(), Some("s-1"));
        assert_eq!(march.events[0].stream_sequence, Some(7));
        assert_eq!(march.events[0].event_type, "abstraction.recorded");
        assert!(f.for_month(month("2024-02")).is_none());
        assert!(f.for_month(month("2024-05")).is_none());
        assert!(f.open_at(end).is_none());
    }

    #[test]
    fn a_reason_not_counted_is_listed_with_its_hours_as_not_counted() {
        let t = ms("2024-03-14T08:00:00Z");
        let e = fold(&[recorded("e1", 1, t, t + 3 * H, "training")])
            .unwrap()
            .for_month(month("2024-03"))
            .unwrap();
        assert_eq!(e.status, AbstractionStatus::NotCounted);
        assert_eq!(e.ms_in_month, 3 * H);
    }

    #[test]
    fn cancelled_comes_before_open_and_counts_nothing() {
        let t = ms("2024-03-14T08:00:00Z");
        let started = stored(
            "e1",
            t,
            Some(1),
            Event::AbstractionStarted {
                abstraction_id: "a".into(),
                fields: fields(t, "response_cover"),
            },
        );
        let open = fold(std::slice::from_ref(&started)).unwrap();
        assert_eq!(open.status(), AbstractionStatus::Open);
        let e = open.open_at(t + 5 * H).unwrap();
        assert_eq!(e.open_hours, Some(5.0));
        assert_eq!(e.end, None);
        let m = open.for_month(month("2024-03")).unwrap();
        assert_eq!((m.status, m.ms_in_month), (AbstractionStatus::Open, 0));
        assert!(open.for_month(month("2024-04")).is_none());

        // Cancelled before it was started, in time: cancelled whatever the order.
        let cancel = stored(
            "e0",
            t - H,
            None,
            Event::AbstractionCancelled {
                abstraction_id: "a".into(),
            },
        );
        let c = fold(&[started, cancel]).unwrap();
        assert_eq!(c.status(), AbstractionStatus::Cancelled);
        assert!(c.open_at(t).is_none());
        let m = c.for_month(month("2024-03")).unwrap();
        assert_eq!(m.ms_in_month, 0);
        // Ordered by (occurred_at, event_id); the older event has no sequence.
        let ids: Vec<_> = m.events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["e0", "e1"]);
        assert_eq!(m.events[0].stream_sequence, None);
    }

    #[test]
    fn an_interval_stretched_past_the_limit_is_implausible_in_every_month_it_overlaps() {
        let t = ms("2024-03-31T12:00:00Z");
        let ended = stored(
            "e2",
            t + 30 * H,
            Some(2),
            Event::AbstractionEnded {
                abstraction_id: "a".into(),
                end_ms: t + 30 * H,
            },
        );
        let started = stored(
            "e1",
            t,
            Some(1),
            Event::AbstractionStarted {
                abstraction_id: "a".into(),
                fields: fields(t, "response_cover"),
            },
        );
        let f = fold(&[ended, started]).unwrap();
        assert_eq!(f.status(), AbstractionStatus::Implausible);
        for m in ["2024-03", "2024-04"] {
            assert_eq!(f.for_month(month(m)).unwrap().ms_in_month, 0);
        }
    }

    #[test]
    fn no_base_event_means_nothing_to_list() {
        let ended = stored(
            "e2",
            0,
            Some(2),
            Event::AbstractionEnded {
                abstraction_id: "a".into(),
                end_ms: ms("2024-03-14T08:00:00Z"),
            },
        );
        assert!(fold(&[ended]).is_none());
    }

    #[test]
    fn shifts_are_rostered_cancelled_or_implausible() {
        let t = ms("2024-03-14T08:00:00Z");
        let rostered = |end: i64| {
            stored(
                "e1",
                t,
                Some(3),
                Event::ShiftRostered {
                    shift_id: "s".into(),
                    fields: ShiftFields {
                        officer_id: "o-secret".into(),
                        role: Role::Pcso,
                        sector: "dudley-town".into(),
                        start_ms: t,
                        end_ms: end,
                    },
                },
            )
        };
        let m = month("2024-03");
        let e = shift_entry("s", &[rostered(t + 8 * H)], &Rules::default(), m).unwrap();
        assert_eq!((e.status, e.ms_in_month), (ShiftStatus::Rostered, 8 * H));
        assert!(shift_entry("s", &[rostered(t + 8 * H)], &Rules::default(), m.next()).is_none());
        let cancelled = stored(
            "e2",
            t,
            Some(4),
            Event::ShiftCancelled {
                shift_id: "s".into(),
            },
        );
        let e = shift_entry(
            "s",
            &[cancelled.clone(), rostered(t + 8 * H)],
            &Rules::default(),
            m,
        )
        .unwrap();
        assert_eq!((e.status, e.ms_in_month), (ShiftStatus::Cancelled, 0));
        assert!(shift_entry("s", &[cancelled], &Rules::default(), m).is_none());
        // Stored under a limit since lowered.
        let strict = Rules {
            max_interval_ms: 4 * H,
        };
        let e = shift_entry("s", &[rostered(t + 8 * H)], &strict, m).unwrap();
        assert_eq!((e.status, e.ms_in_month), (ShiftStatus::Implausible, 0));
    }

    #[test]
    fn entries_carry_no_officer_id_or_free_text_in_json_or_csv() {
        let t = ms("2024-03-14T08:00:00Z");
        let f = fold(&[recorded("e1", 1, t, t + H, "response_cover")]).unwrap();
        let list = AbstractionList {
            lpa: "dudley".into(),
            month: Some(month("2024-03")),
            abstractions: vec![f.for_month(month("2024-03")).unwrap()],
        };
        let json = serde_json::to_string(&list).unwrap();
        let csv = abstractions_csv(&list);
        for text in [&json, &csv] {
            assert!(
                !text.contains("o-secret") && !text.contains("officer"),
                "{text}"
            );
        }
        assert!(json.contains(r#""month":"2024-03""#) && !json.contains("open_hours"));
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], ABSTRACTION_CSV_HEADER);
        assert_eq!(
            lines[1],
            "a,s-1,pc,dudley-town,response_cover,lpa,true,2024-03-14T08:00:00Z,2024-03-14T09:00:00Z,counted,1,e1,false"
        );
    }

    #[test]
    fn only_entries_with_an_event_after_the_issue_are_revised() {
        let t = ms("2024-03-14T08:00:00Z");
        let entry = |events: &[Stored]| fold(events).unwrap().for_month(month("2024-03")).unwrap();
        let early = entry(&[recorded("e1", 5, t, t + H, "response_cover")]);
        let mut late_amend = early.clone();
        late_amend.events.push(EventRef {
            event_id: "e9".into(),
            event_type: "abstraction.amended",
            occurred_at: "2024-04-03T08:00:00Z".into(),
            stream_sequence: Some(11),
        });
        let mut unsequenced = early.clone();
        unsequenced.events[0].stream_sequence = None;
        let mut list = AbstractionList {
            lpa: "dudley".into(),
            month: Some(month("2024-03")),
            abstractions: vec![early, late_amend, unsequenced],
        };
        let marks = |l: &AbstractionList| -> Vec<bool> {
            l.abstractions
                .iter()
                .map(|a| a.revised_since_issue)
                .collect()
        };
        mark_revised(&mut list, Some(10));
        assert_eq!(marks(&list), [false, true, false]);
        // Issued at the very sequence of the late event: it was in the issue.
        mark_revised(&mut list, Some(11));
        assert_eq!(marks(&list), [false, false, false]);
        mark_revised(&mut list, Some(4));
        assert_eq!(marks(&list), [true, true, false]);
        // No issue: nothing is revised.
        mark_revised(&mut list, None);
        assert_eq!(marks(&list), [false, false, false]);
    }
}
