//! Phase 5: the PostgreSQL peer, the same events COPYed and the month figures in SQL.

use super::*;

pub(crate) fn pg_connect() -> anyhow::Result<(postgres::Client, String)> {
    let mut errors = Vec::new();
    for (how, params) in [
        (
            "unix socket, user postgres",
            "host=/var/run/postgresql user=postgres dbname=test",
        ),
        (
            "127.0.0.1:5432, user postgres",
            "host=127.0.0.1 port=5432 user=postgres dbname=test",
        ),
        (
            "unix socket, user root",
            "host=/var/run/postgresql user=root dbname=test",
        ),
        (
            "127.0.0.1:5432, user root",
            "host=127.0.0.1 port=5432 user=root dbname=test",
        ),
    ] {
        match postgres::Client::connect(params, postgres::NoTls) {
            Ok(c) => return Ok((c, how.into())),
            Err(e) => errors.push(format!("{how}: {e}")),
        }
    }
    bail!("{}", errors.join("; "))
}

/// Escapes a text value for COPY's text format.
pub(crate) fn copy_text(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// One COPY row: seq, event_id, type, lpa, entity, occurred_ms, start_ms, end_ms, reason.
pub(crate) fn pg_row(out: &mut Vec<u8>, seq: u64, env: &Envelope) {
    let (entity, start, end, reason): (&str, Option<i64>, Option<i64>, Option<&str>) =
        match &env.event {
            Event::ShiftRostered { shift_id, fields } => {
                (shift_id, Some(fields.start_ms), Some(fields.end_ms), None)
            }
            Event::ShiftCancelled { shift_id } => (shift_id, None, None, None),
            Event::AbstractionRecorded {
                abstraction_id,
                fields,
                end_ms,
            } => (
                abstraction_id,
                Some(fields.start_ms),
                Some(*end_ms),
                Some(&fields.reason),
            ),
            Event::AbstractionStarted {
                abstraction_id,
                fields,
            } => (
                abstraction_id,
                Some(fields.start_ms),
                None,
                Some(&fields.reason),
            ),
            Event::AbstractionEnded {
                abstraction_id,
                end_ms,
            } => (abstraction_id, None, Some(*end_ms), None),
            Event::AbstractionAmended {
                abstraction_id,
                amendment,
            } => (
                abstraction_id,
                amendment.start_ms,
                amendment.end_ms,
                amendment.reason.as_deref(),
            ),
            Event::AbstractionCancelled { abstraction_id } => (abstraction_id, None, None, None),
        };
    let num = |out: &mut Vec<u8>, v: Option<i64>| match v {
        Some(v) => out.extend_from_slice(v.to_string().as_bytes()),
        None => out.extend_from_slice(b"\\N"),
    };
    out.extend_from_slice(seq.to_string().as_bytes());
    out.push(b'\t');
    copy_text(out, &env.event_id);
    out.push(b'\t');
    copy_text(out, env.event_type().as_str());
    out.push(b'\t');
    copy_text(out, &env.lpa);
    out.push(b'\t');
    copy_text(out, entity);
    out.push(b'\t');
    num(out, Some(env.occurred_ms));
    out.push(b'\t');
    num(out, start);
    out.push(b'\t');
    num(out, end);
    out.push(b'\t');
    match reason {
        Some(r) => copy_text(out, r),
        None => out.extend_from_slice(b"\\N"),
    }
    out.push(b'\n');
}

/// Drops its table however the benchmark ends.
pub(crate) struct PgTable {
    pub(crate) client: postgres::Client,
    pub(crate) name: String,
}

impl Drop for PgTable {
    fn drop(&mut self) {
        if let Err(e) = self
            .client
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", self.name))
        {
            eprintln!("could not drop PostgreSQL table {}: {e}", self.name);
        }
    }
}

pub(crate) const PG_MONTH_SQL: &str = "
WITH shifts AS (
  SELECT r.lpa, sum(LEAST(r.end_ms, $2) - GREATEST(r.start_ms, $1)) AS ms
  FROM {t} r
  WHERE r.type = 'shift.rostered' AND r.start_ms < $2 AND r.end_ms > $1
    AND NOT EXISTS (SELECT 1 FROM {t} c
                    WHERE c.type = 'shift.cancelled' AND c.lpa = r.lpa AND c.entity = r.entity)
  GROUP BY r.lpa
),
amended_end AS (
  SELECT DISTINCT ON (lpa, entity) lpa, entity, end_ms FROM {t}
  WHERE type = 'abstraction.amended' AND end_ms IS NOT NULL
  ORDER BY lpa, entity, occurred_ms DESC, event_id DESC
),
amended_reason AS (
  SELECT DISTINCT ON (lpa, entity) lpa, entity, reason FROM {t}
  WHERE type = 'abstraction.amended' AND reason IS NOT NULL
  ORDER BY lpa, entity, occurred_ms DESC, event_id DESC
),
abstractions AS (
  SELECT b.lpa, b.start_ms,
         COALESCE(ae.end_ms, b.end_ms, en.end_ms) AS end_ms,
         COALESCE(ar.reason, b.reason) AS reason
  FROM {t} b
  LEFT JOIN {t} en ON en.type = 'abstraction.ended' AND en.lpa = b.lpa AND en.entity = b.entity
  LEFT JOIN amended_end ae ON ae.lpa = b.lpa AND ae.entity = b.entity
  LEFT JOIN amended_reason ar ON ar.lpa = b.lpa AND ar.entity = b.entity
  WHERE b.type IN ('abstraction.recorded', 'abstraction.started') AND b.start_ms < $2
    AND NOT EXISTS (SELECT 1 FROM {t} c
                    WHERE c.type = 'abstraction.cancelled' AND c.lpa = b.lpa AND c.entity = b.entity)
),
counted AS (
  SELECT lpa, sum(LEAST(end_ms, $2) - GREATEST(start_ms, $1)) AS ms
  FROM abstractions
  WHERE end_ms > $1 AND end_ms > start_ms AND reason = ANY($3)
  GROUP BY lpa
)
SELECT COALESCE(s.lpa, c.lpa), COALESCE(s.ms, 0)::bigint, COALESCE(c.ms, 0)::bigint
FROM shifts s FULL JOIN counted c ON c.lpa = s.lpa
ORDER BY 1";

/// Per LPA: (rostered ms, counted abstracted ms), from our read models.
pub(crate) type MonthMs = BTreeMap<String, (i64, i64)>;

pub(crate) fn our_month_ms(
    store: &Store,
    reference: &Reference,
    month: Month,
) -> anyhow::Result<MonthMs> {
    let mut out = BTreeMap::new();
    for l in &reference.lpas {
        let m = store.lpa_month(&l.code, month)?;
        let counted: i64 = m
            .cells()
            .filter(|(k, _)| reference.is_counted(k.reason))
            .map(|(_, t)| t.ms)
            .sum();
        out.insert(l.code.clone(), (m.rostered_ms(), counted));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn pg_peer(
    client: postgres::Client,
    rows_file: &Path,
    month: Month,
    reference: &Reference,
    build: &Build,
    serve: &Serve,
    runs: usize,
    table: &mut Table,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    let mut pg = PgTable {
        client,
        name: format!("bench_pipeline_events_{}", std::process::id()),
    };
    let t_name = pg.name.clone();
    pg.client.batch_execute(&format!(
        "DROP TABLE IF EXISTS {t_name};
         CREATE UNLOGGED TABLE {t_name} (
           seq bigint NOT NULL, event_id text NOT NULL, type text NOT NULL, lpa text NOT NULL,
           entity text NOT NULL, occurred_ms bigint NOT NULL, start_ms bigint, end_ms bigint,
           reason text)"
    ))?;
    let t = Instant::now();
    let mut writer = pg.client.copy_in(&format!("COPY {t_name} FROM STDIN"))?;
    let mut file = std::fs::File::open(rows_file)?;
    let copied_bytes = io::copy(&mut file, &mut writer)?;
    let copied = writer.finish()?;
    let copy_s = t.elapsed().as_secs_f64();
    std::fs::remove_file(rows_file)?;
    let t = Instant::now();
    pg.client.batch_execute(&format!(
        "CREATE UNIQUE INDEX ON {t_name} (event_id);
         CREATE INDEX ON {t_name} (type, start_ms);
         CREATE INDEX ON {t_name} (lpa, entity);
         ANALYZE {t_name}"
    ))?;
    let index_s = t.elapsed().as_secs_f64();
    let size: i64 = pg
        .client
        .query_one(&format!("SELECT pg_total_relation_size('{t_name}')"), &[])?
        .get(0);
    println!(
        "COPY of {copied} rows ({:.0} MiB of text) in {copy_s:.1} s ({:.0} rows/s); indexes (event_id unique, (type, start_ms), (lpa, entity)) + ANALYZE in {index_s:.1} s; table + indexes {:.2} GiB ({:.0} B/event)",
        copied_bytes as f64 / MIB,
        copied as f64 / copy_s,
        size as f64 / MIB / 1024.0,
        size as f64 / copied as f64
    );
    let (m_start, m_end) = (
        month.start().as_millisecond(),
        month.next().start().as_millisecond(),
    );
    let counted: Vec<&str> = reference
        .reasons
        .iter()
        .filter(|r| r.counted)
        .map(|r| r.code.as_str())
        .collect();
    let stmt = pg.client.prepare(&PG_MONTH_SQL.replace("{t}", &t_name))?;
    let mut theirs: MonthMs = BTreeMap::new();
    let mut times = Vec::new();
    for i in 0..=runs {
        let t = Instant::now();
        let rows = pg.client.query(&stmt, &[&m_start, &m_end, &counted])?;
        let took = t.elapsed().as_secs_f64() * 1e3;
        if i == 0 {
            println!("PostgreSQL month query, first run: {}", fmt_ms(took));
        } else {
            times.push(took);
        }
        theirs = rows
            .iter()
            .map(|r| (r.get::<_, String>(0), (r.get(1), r.get(2))))
            .collect();
    }
    let pg_lat = Lat::of(times);
    println!(
        "PostgreSQL month query ({runs} runs after the first): median {} p95 {}",
        fmt_ms(pg_lat.median),
        fmt_ms(pg_lat.p95)
    );
    println!("\nmonth {month}, hours   rostered: ours        SQL   counted abstracted: ours        SQL   agree");
    let mut all_agree = true;
    for (lpa, (r, a)) in &serve.ours {
        let (sr, sa) = theirs.get(lpa).copied().unwrap_or((0, 0));
        let agree = *r == sr && *a == sa;
        all_agree &= agree;
        println!(
            "  {lpa:<14} {:>18.1} {:>10.1} {:>26.1} {:>10.1}   {}",
            *r as f64 / 3.6e6,
            sr as f64 / 3.6e6,
            *a as f64 / 3.6e6,
            sa as f64 / 3.6e6,
            if agree { "yes (exact ms)" } else { "NO" }
        );
    }
    for lpa in theirs.keys().filter(|l| !serve.ours.contains_key(*l)) {
        all_agree = false;
        println!("  {lpa}: only in SQL");
    }
    let speedup = pg_lat.median / serve.report.median;
    table.row(
        "month figures: ours vs PostgreSQL SQL",
        format!("ours med {}", fmt_ms(serve.report.median)),
        format!("PG med {}", fmt_ms(pg_lat.median)),
        format!("{speedup:.0}x faster"),
        ">= 20x",
        verdict(speedup >= 20.0),
    );
    table.row(
        "  figures agree with SQL (per LPA, exact ms)",
        if all_agree { "yes" } else { "NO" },
        "-",
        "-",
        "agree",
        verdict(all_agree),
    );
    table.row(
        "  PostgreSQL table + indexes per event",
        format!("{:.0} B", size as f64 / copied as f64),
        format!("ours {:.0} B", serve.disk as f64 / build.events as f64),
        "-",
        "info",
        "",
    );
    notes.push(format!(
        "the SQL is a simplified fold: one base event per shift/abstraction (no re-rostering or re-recording), an `ended` event's end used only when the base has none, amendments of reason and end only (latest per field by (occurred_at, event_id)); amendments of start, sector, role, scope, planned or officer are ignored ({} such events in this data); duplicates are assumed absent (unique index on event_id). It computes rostered and counted abstracted hours per LPA only; our report also returns sectors, roles, scope, trends, RAG and officer counts",
        build.ignored_amendments
    ));
    notes.push(format!(
        "PostgreSQL: server defaults, UNLOGGED table {t_name} (dropped at the end), COPY {copy_s:.0} s + indexes {index_s:.0} s"
    ));
    Ok(())
}
