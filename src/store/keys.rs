//! Every key family of the store: how keys are built and parsed. No other module makes
//! or reads key bytes; they name keys through these functions.
//!
//! Every key starts with a one-letter family; all but the id index and meta are scoped by
//! LPA first, so a projector can own a subset of LPAs:
//!
//! | key | value |
//! |---|---|
//! | `l/<lpa>/s/<shift_id>/<event_id>`, `l/<lpa>/a/<abstraction_id>/<event_id>` | raw event bytes, append-only |
//! | `i/<event_id>` | the events-stream sequence the event was stored from (u64 BE; store format 5), or empty for an event stored before (format 4 and earlier) or without one: either way the id is stored (found in the log under its entity) |
//! | `a/<lpa>/<YYYY-MM>` | [`LpaMonth`](crate::domain::readmodel::LpaMonth) (JSON) |
//! | `s/<lpa>/<YYYY-MM>/<sector>` | [`SectorMonth`](crate::domain::readmodel::SectorMonth) (JSON) |
//! | `n/<lpa>/<YYYY-MM>` | open abstractions that started that month (u64 BE): `LpaMonth::open` again, tiny, so a scrape can total "open now" over all history cheaply |
//! | `d/<lpa>/<YYYY-MM-DD>` | [`LpaDay`](crate::domain::readmodel::LpaDay) (JSON: rostered ms, abstracted ms by reason, planned and not): the month in progress is split at a local midnight from these |
//! | `o/<lpa>/<YYYY-MM>/<officer_id>` | abstractions started that month (u64 BE) |
//! | `u/<lpa>/<s\|a>/<entity id>/<event_id>` | a logged event that no longer decodes ([`Unreadable`](crate::domain::reject::Unreadable), JSON): its entity is folded without it; derived from the log, so `rebuild` finds them again |
//! | `x/<lpa>/<YYYY-MM>/<s\|a>/<entity id>` | empty: the entity is listed in that month's evidence ([`Listing`](crate::domain::listing::Listing)), so the evidence reader folds only these entities. Kept exact, not a superset: when an event moves an entity's months (an amended end) the batch deletes the months it left, so the family is a function of the log and a rebuild derives the same keys (the reader re-checks each by folding all the same) |
//! | `p/<lpa>/<abstraction id>` | empty: the abstraction has a base event, no `end` and is not cancelled, the open list's candidates; deleted by the batch that ends or cancels it, for the same reason |
//! | `m/filters` | the id and entity Bloom filters saved by a clean stop of `serve`, with the event count they cover: the next start takes them in one read instead of scanning every key |
//! | `m/owned` | the LPA codes `serve --lpas` owns, comma-separated (`report --data-dir` shows the others as missing) |
//! | `m/issue/<YYYY-MM>/<issue, 20 digits>` | a copy of an issued report (contract v3 section 13; [`Issue`](crate::domain::issue::Issue), JSON) as `serve` saw it in the `NEIGHBOURHOOD_ISSUES` bucket, for `report --data-dir` and `explain --data-dir`: not derived from the log, so `rebuild` keeps it |
//! | `m/max_interval_ms` | the plausible limit the read models were folded by (i64 BE): a changed limit means a rebuild |
//! | `m/format`, `m/log_len`, `m/rebuilding`, `m/checkpoint/<consumer>`, `m/rejected/<YYYY-MM>/<code>` | store format, event count, rebuild marker, checkpoints (u64 BE), rejection tallies (u64 BE): not derived from the log |
//!
//! The log is grouped by entity rather than by arrival: an entity's state is the fold
//! of its events, read back with one prefix scan, so no per-entity state is stored
//! (one write fewer per event) and `rebuild` folds each entity from consecutive keys
//! without writing anything but the read models. Codes and identifiers cannot contain
//! `/` (the validator refuses them), so the separators are unambiguous.

use crate::domain::calendar::{Day, Month};
use crate::domain::event::Envelope;
use crate::domain::fold::{entity_of, EntityId, EntityKind};

pub const LOG_PREFIX: &[u8] = b"l/";
pub const ID_PREFIX: &[u8] = b"i/";
const LPA_MONTH_PREFIX: &[u8] = b"a/";

/// How many events the log holds (the log itself is keyed by entity, not counted).
pub const META_LOG_LEN: &[u8] = b"m/log_len";
/// Present on a store upgraded from format 2 to 5 until a rebuild derives what that
/// format lacked (day models, the evidence index); holds the format it was.
pub const META_UPGRADE: &[u8] = b"m/upgrade";
/// Present while a rebuild runs (derived keys are then incomplete).
pub const META_REBUILDING: &[u8] = b"m/rebuilding";
/// The store format: 3 adds the per-day read models to format 2; 2 is the log keyed by entity with no stored entity states.
pub const META_FORMAT: &[u8] = b"m/format";
/// The fold's limit the read models were derived with (`max_interval_ms`, i64 BE).
pub const META_RULES: &[u8] = b"m/max_interval_ms";
/// The Bloom filters as `serve` saved them when it stopped, with the event count then
/// (removed when the next `serve` takes them).
pub const META_FILTERS: &[u8] = b"m/filters";
/// The LPAs this store's projector owns (comma-separated codes), as `serve` last ran.
pub const META_OWNED: &[u8] = b"m/owned";
/// Meta keys: counters, checkpoints, markers and tallies not derived from the log.
pub const META_FAMILY: &[u8] = b"m/";
/// Officer counts: the one derived family that grows with staff x months (most of the
/// derived keys of a big store), so the start-up check leaves it to the reads.
pub const OFFICER_FAMILY: &[u8] = b"o/";
/// Families derived from the log, cleared and re-derived by `rebuild`.
pub const DERIVED_PREFIXES: [&[u8]; 8] = [b"a/", b"n/", b"s/", b"o/", b"d/", b"u/", b"x/", b"p/"];

/// The families that the store treats apart (its Bloom filters cover these two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `l/…`: a log entry.
    Log,
    /// `i/…`: an entry of the event-id index.
    Id,
    /// Anything else: read models and meta.
    Other,
}

pub fn family_of(key: &[u8]) -> Family {
    if key.starts_with(LOG_PREFIX) {
        Family::Log
    } else if key.starts_with(ID_PREFIX) {
        Family::Id
    } else {
        Family::Other
    }
}

fn kind_letter(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Shift => "s",
        EntityKind::Abstraction => "a",
    }
}

/// `l/<lpa>/<s|a>/`: the log entries of one LPA's shifts or abstractions.
pub fn log_kind_prefix(lpa: &str, kind: EntityKind) -> Vec<u8> {
    format!("l/{lpa}/{}/", kind_letter(kind)).into_bytes()
}

/// `l/<lpa>/<s|a>/<id>/`: the log entries of one shift or abstraction.
pub fn entity_prefix(lpa: &str, id: &EntityId) -> Vec<u8> {
    let (kind, id) = match id {
        EntityId::Shift(s) => (EntityKind::Shift, s),
        EntityId::Abstraction(a) => (EntityKind::Abstraction, a),
    };
    format!("l/{lpa}/{}/{id}/", kind_letter(kind)).into_bytes()
}

/// The log key of an event: its entity's prefix and its `event_id`.
pub fn log_key(env: &Envelope) -> Vec<u8> {
    let mut k = entity_prefix(&env.lpa, &entity_of(&env.event));
    k.extend_from_slice(env.event_id.as_bytes());
    k
}

/// The entity part of a log key (up to and including the last `/`).
pub fn entity_prefix_of_log_key(key: &[u8]) -> &[u8] {
    match key.iter().rposition(|&b| b == b'/') {
        Some(i) => &key[..=i],
        None => key,
    }
}

/// The `<lpa>` of a log key.
pub fn lpa_of_log_key(key: &[u8]) -> Option<&str> {
    let rest = key.strip_prefix(LOG_PREFIX)?;
    let end = rest.iter().position(|&b| b == b'/')?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// The first key past every log key of `lpa` (`'0'` follows `'/'`).
pub fn log_after_lpa(lpa: &str) -> Vec<u8> {
    format!("l/{lpa}0").into_bytes()
}

/// Every log key of `lpa`.
pub fn log_lpa_prefix(lpa: &str) -> Vec<u8> {
    format!("l/{lpa}/").into_bytes()
}

/// Every mark of an unreadable logged event.
pub const UNREADABLE_PREFIX: &[u8] = b"u/";

/// `u/<lpa>/<s|a>/<id>/<event_id>`: the mark of an unreadable logged event.
pub fn unreadable_key(lpa: &str, kind: EntityKind, id: &str, event_id: &str) -> Vec<u8> {
    format!("u/{lpa}/{}/{id}/{event_id}", kind_letter(kind)).into_bytes()
}

/// Every unreadable mark of one LPA.
pub fn unreadable_prefix(lpa: &str) -> Vec<u8> {
    format!("u/{lpa}/").into_bytes()
}

/// The entity kind, entity id and event id of a log key.
pub fn parse_log_key(key: &[u8]) -> Option<(EntityKind, &str, &str)> {
    let rest = std::str::from_utf8(key.strip_prefix(LOG_PREFIX)?).ok()?;
    let mut parts = rest.splitn(4, '/');
    let (_lpa, kind, id, event) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let kind = match kind {
        "s" => EntityKind::Shift,
        "a" => EntityKind::Abstraction,
        _ => return None,
    };
    Some((kind, id, event))
}

pub fn id_key(event_id: &str) -> Vec<u8> {
    format!("i/{event_id}").into_bytes()
}

/// `a/`: every LPA-month read model.
pub fn lpa_months_prefix() -> &'static [u8] {
    LPA_MONTH_PREFIX
}

pub fn lpa_month_key(lpa: &str, month: Month) -> Vec<u8> {
    format!("a/{lpa}/{month}").into_bytes()
}

/// The month of an `a/<lpa>/<YYYY-MM>` key.
pub fn month_of_lpa_month_key(key: &[u8]) -> Option<Month> {
    std::str::from_utf8(key.strip_prefix(LPA_MONTH_PREFIX)?)
        .ok()?
        .rsplit('/')
        .next()?
        .parse()
        .ok()
}

pub fn lpa_day_key(lpa: &str, day: Day) -> Vec<u8> {
    format!("d/{lpa}/{day}").into_bytes()
}

/// `d/<lpa>/<YYYY-MM>-`: one LPA's days of a month.
pub fn lpa_days_prefix(lpa: &str, month: Month) -> Vec<u8> {
    format!("d/{lpa}/{month}-").into_bytes()
}

/// The day of a `d/<lpa>/<YYYY-MM-DD>` key.
pub fn day_of_lpa_day_key(key: &[u8]) -> Option<Day> {
    std::str::from_utf8(key)
        .ok()?
        .rsplit('/')
        .next()?
        .parse()
        .ok()
}

pub fn open_key(lpa: &str, month: Month) -> Vec<u8> {
    format!("n/{lpa}/{month}").into_bytes()
}

/// Every open-abstraction count of one LPA.
pub fn open_prefix(lpa: &str) -> Vec<u8> {
    format!("n/{lpa}/").into_bytes()
}

pub fn sector_prefix(lpa: &str, month: Month) -> Vec<u8> {
    format!("s/{lpa}/{month}/").into_bytes()
}

pub fn sector_key(lpa: &str, month: Month, sector: &str) -> Vec<u8> {
    format!("s/{lpa}/{month}/{sector}").into_bytes()
}

pub fn officer_prefix(lpa: &str, month: Month) -> Vec<u8> {
    format!("o/{lpa}/{month}/").into_bytes()
}

pub fn officer_key(lpa: &str, month: Month, officer_id: &str) -> Vec<u8> {
    format!("o/{lpa}/{month}/{officer_id}").into_bytes()
}

pub fn checkpoint_key(consumer: &str) -> Vec<u8> {
    format!("m/checkpoint/{consumer}").into_bytes()
}

pub fn rejected_prefix(month: Month) -> Vec<u8> {
    format!("m/rejected/{month}/").into_bytes()
}

pub fn rejected_key(month: Month, code: &str) -> Vec<u8> {
    format!("m/rejected/{month}/{code}").into_bytes()
}

/// `m/issue/<YYYY-MM>/`: the store's copies of a month's issues.
pub fn issue_prefix(month: Month) -> Vec<u8> {
    format!("m/issue/{month}/").into_bytes()
}

/// `m/issue/<YYYY-MM>/<issue>`, the number zero-padded so keys sort by it.
pub fn issue_key(month: Month, issue: u64) -> Vec<u8> {
    format!("m/issue/{month}/{issue:020}").into_bytes()
}

/// `x/<lpa>/<YYYY-MM>/<s|a>/<id>`: `id` is listed in that month's evidence.
pub fn listed_key(lpa: &str, month: Month, kind: EntityKind, id: &str) -> Vec<u8> {
    format!("x/{lpa}/{month}/{}/{id}", kind_letter(kind)).into_bytes()
}

/// `x/<lpa>/<YYYY-MM>/<s|a>/`: the entities of a kind listed in one LPA-month.
pub fn listed_prefix(lpa: &str, month: Month, kind: EntityKind) -> Vec<u8> {
    format!("x/{lpa}/{month}/{}/", kind_letter(kind)).into_bytes()
}

/// `p/<lpa>/<abstraction_id>`: an abstraction that may be open.
pub fn maybe_open_key(lpa: &str, abstraction_id: &str) -> Vec<u8> {
    format!("p/{lpa}/{abstraction_id}").into_bytes()
}

/// `p/<lpa>/`: every abstraction of one LPA that may be open.
pub fn maybe_open_prefix(lpa: &str) -> Vec<u8> {
    format!("p/{lpa}/").into_bytes()
}

/// The last segment of a key: the sector of a sector key, the code of a rejection key.
pub fn last_segment(key: &[u8]) -> String {
    let start = key.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    String::from_utf8_lossy(&key[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_group_by_entity_and_parse_back() {
        let id = EntityId::Abstraction("a-1".into());
        let prefix = entity_prefix("dudley", &id);
        assert_eq!(prefix, b"l/dudley/a/a-1/");
        let mut key = prefix.clone();
        key.extend_from_slice(b"e-9");
        assert_eq!(entity_prefix_of_log_key(&key), prefix.as_slice());
        assert_eq!(lpa_of_log_key(&key), Some("dudley"));
        assert!(key.starts_with(&log_kind_prefix("dudley", EntityKind::Abstraction)));
        assert!(log_after_lpa("dudley") > key);
        assert_eq!(family_of(&key), Family::Log);
        assert_eq!(family_of(&id_key("e-9")), Family::Id);
        assert_eq!(family_of(META_LOG_LEN), Family::Other);
        assert_eq!(
            parse_log_key(&key),
            Some((EntityKind::Abstraction, "a-1", "e-9"))
        );
        let u = unreadable_key("dudley", EntityKind::Abstraction, "a-1", "e-9");
        assert_eq!(u, b"u/dudley/a/a-1/e-9");
        assert!(u.starts_with(&unreadable_prefix("dudley")));
        assert!(DERIVED_PREFIXES.iter().any(|p| u.starts_with(p)));
    }

    #[test]
    fn read_model_keys_are_those_of_the_format() {
        let m: Month = "2024-03".parse().unwrap();
        assert_eq!(lpa_month_key("dudley", m), b"a/dudley/2024-03");
        assert_eq!(month_of_lpa_month_key(&lpa_month_key("dudley", m)), Some(m));
        assert_eq!(open_key("dudley", m), b"n/dudley/2024-03");
        assert!(open_key("dudley", m).starts_with(&open_prefix("dudley")));
        let s = sector_key("dudley", m, "dudley-town");
        assert!(s.starts_with(&sector_prefix("dudley", m)));
        assert_eq!(last_segment(&s), "dudley-town");
        let o = officer_key("dudley", m, "o-1");
        assert_eq!(o, b"o/dudley/2024-03/o-1");
        assert!(o.starts_with(&officer_prefix("dudley", m)));
        let r = rejected_key(m, "unknown_lpa");
        assert!(r.starts_with(&rejected_prefix(m)));
        assert_eq!(last_segment(&r), "unknown_lpa");
        assert_eq!(checkpoint_key("c"), b"m/checkpoint/c");
        assert_eq!(issue_key(m, 12), b"m/issue/2024-03/00000000000000000012");
        assert!(issue_key(m, 2) < issue_key(m, 10));
        assert!(issue_key(m, 2).starts_with(&issue_prefix(m)));
        assert!(issue_key(m, 2).starts_with(META_FAMILY));
        let x = listed_key("dudley", m, EntityKind::Shift, "s-1");
        assert_eq!(x, b"x/dudley/2024-03/s/s-1");
        assert!(x.starts_with(&listed_prefix("dudley", m, EntityKind::Shift)));
        assert_eq!(last_segment(&x), "s-1");
        let p = maybe_open_key("dudley", "a-1");
        assert_eq!(p, b"p/dudley/a-1");
        assert!(p.starts_with(&maybe_open_prefix("dudley")));
        for k in [lpa_month_key("d", m), open_key("d", m), s, o, x, p] {
            assert!(DERIVED_PREFIXES.iter().any(|p| k.starts_with(p)));
        }
    }
}
