//! The results table and number formatting.

use abstraction_tracker::store::EngineKind;

pub(crate) fn rate(n: usize, secs: f64) -> String {
    let r = n as f64 / secs;
    if r >= 1e6 {
        format!("{:.2}M ev/s", r / 1e6)
    } else {
        format!("{:.1}k ev/s", r / 1e3)
    }
}

pub(crate) fn fmt_ms(m: f64) -> String {
    if m >= 100.0 {
        format!("{m:.0} ms")
    } else {
        format!("{m:.2} ms")
    }
}

pub(crate) fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

/// Rows carry the engine they measured: [`Table::engine`] when the row was added ("-"
/// for figures that do not depend on the store's engine).
#[derive(Default)]
pub(crate) struct Table {
    pub(crate) rows: Vec<[String; 7]>,
    pub(crate) engine: Option<EngineKind>,
    /// Rows already printed by [`Table::print_new`].
    printed: usize,
}

impl Table {
    pub(crate) fn row(
        &mut self,
        what: impl Into<String>,
        value: impl Into<String>,
        baseline: impl Into<String>,
        ratio: impl Into<String>,
        target: impl Into<String>,
        verdict: impl Into<String>,
    ) {
        let engine = self.engine.map_or("-", EngineKind::name);
        self.rows.push([
            what.into(),
            engine.into(),
            value.into(),
            baseline.into(),
            ratio.into(),
            target.into(),
            verdict.into(),
        ]);
    }

    /// The rows added since the last call, as they come (a long run's figures survive
    /// its interruption in the log).
    pub(crate) fn print_new(&mut self) {
        for r in &self.rows[self.printed..] {
            println!("TABLE ROW | {} |", r.join(" | "));
        }
        self.printed = self.rows.len();
    }

    pub(crate) fn print(&self) {
        let head = [
            "measurement",
            "engine",
            "value",
            "baseline (same run)",
            "ratio",
            "target",
            "verdict",
        ];
        let mut w = head.map(str::len);
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: [&str; 7]| {
            let cols: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<width$}", width = w[i]))
                .collect();
            println!("| {} |", cols.join(" | "));
        };
        line(head);
        let rule: Vec<String> = w.iter().map(|n| "-".repeat(*n)).collect();
        println!("|-{}-|", rule.join("-|-"));
        for r in &self.rows {
            line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]]);
        }
    }
}
