//! The ratio columns and the targets of the issue, each PASS, FAIL or N/A.

use std::fmt::Write as _;

use super::rounds::RoundSpread;
use super::{Report, Row, Target};

/// The concurrency at which the warm targets are judged.
const TARGET_CONCURRENCY: usize = 64;

impl Report {
    /// Fills the ratio columns: warm rows against `a` at the same concurrency, argon2-bound rows
    /// against the raw argon2id rate.
    pub fn compute_ratios(&mut self) {
        let bare: Vec<Row> = self
            .rows
            .iter()
            .filter(|row| row.scenario == "a")
            .cloned()
            .collect();
        let argon2 = self.argon2.clone();
        for row in &mut self.rows {
            match row.scenario.as_str() {
                "b1" | "b2" | "c1" | "c2" => {
                    if let Some(bare) = bare.iter().find(|a| a.concurrency == row.concurrency) {
                        row.baseline = Some("a".to_owned());
                        row.rps_ratio = Some(row.rps / bare.rps.max(1e-9));
                        row.p99_ratio = Some(row.p99_us as f64 / bare.p99_us.max(1) as f64);
                        row.cpu_ratio = row
                            .server_cpu_us
                            .zip(bare.server_cpu_us)
                            .map(|(ours, bare)| ours / bare.max(1e-9));
                        // Paired only when both sides ran the same rounds.
                        if row.round_rps.len() == bare.round_rps.len() {
                            row.round_ratios = row
                                .round_rps
                                .iter()
                                .zip(&bare.round_rps)
                                .map(|(ours, bare)| ours / bare.max(1e-9))
                                .collect();
                        }
                    }
                }
                "d" | "e" => {
                    if let Some(rate) = argon2.iter().find(|rate| {
                        rate.baseline_of == row.scenario && rate.concurrency == row.concurrency
                    }) {
                        row.baseline = Some("argon2".to_owned());
                        row.rps_ratio = Some(row.rps / rate.per_second.max(1e-9));
                    }
                }
                _ => {}
            }
        }
    }

    pub fn compute_targets(&mut self) {
        let mut targets = Vec::new();
        for (id, what, min_rps, max_p99) in [
            (
                "b1",
                "warm Introspect (client credentials)",
                0.85,
                Some(1.5),
            ),
            ("b2", "warm Introspect (access token)", 0.85, Some(1.5)),
            ("c1", "warm Check (Basic)", 0.80, None),
            ("c2", "warm Check (Bearer token)", 0.80, None),
        ] {
            let row = self
                .rows
                .iter()
                .find(|row| row.scenario == id && row.concurrency == TARGET_CONCURRENCY);
            let mut rps_target = ratio_target(
                format!("{id} {what}: RPS vs bare @{TARGET_CONCURRENCY}"),
                row,
                |row| row.rps_ratio,
                |ratio| ratio >= min_rps,
                format!(">= {min_rps:.2}"),
            );
            if let Some(spread) = row.and_then(|row| RoundSpread::of(&row.round_ratios)) {
                let _ = write!(rps_target.detail, "; {spread}");
            }
            targets.push(rps_target);
            if let Some(max_p99) = max_p99 {
                targets.push(ratio_target(
                    format!("{id} {what}: p99 vs bare @{TARGET_CONCURRENCY}"),
                    row,
                    |row| row.p99_ratio,
                    |ratio| ratio <= max_p99,
                    format!("<= {max_p99:.2}"),
                ));
            }
        }
        for (id, what) in [("d", "cold Introspect"), ("e", "CreateKey")] {
            // Judged at the highest concurrency measured, where the hashing pool has a queue and
            // never waits for the next call; a lower concurrency's noisy ratio must not pass a
            // verdict that the saturated row missed.
            let row = self
                .rows
                .iter()
                .filter(|row| row.scenario == id)
                .max_by_key(|row| row.concurrency);
            let at = row.map_or_else(
                || "highest c".to_owned(),
                |row| format!("c={}", row.concurrency),
            );
            targets.push(ratio_target(
                format!("{id} {what}: RPS vs raw argon2id @{at}"),
                row,
                |row| row.rps_ratio,
                |ratio| ratio >= 0.90,
                ">= 0.90".to_owned(),
            ));
        }
        targets.push(self.rss_target());
        self.targets = targets;
    }

    fn rss_target(&self) -> Target {
        let name = "rss: server VmRSS with all keys cached".to_owned();
        let mib = |bytes: u64| bytes as f64 / 1024.0 / 1024.0;
        match (&self.rss, &self.rss_error) {
            (Some(rss), _) => Target {
                name: format!("rss: server VmRSS with {} cached keys", rss.keys),
                status: pass(rss.rss_bytes <= rss.limit_bytes),
                measured: Some(mib(rss.rss_bytes)),
                threshold: "<= 64 MiB".to_owned(),
                detail: format!(
                    "{:.1} MiB (at start {:.1} MiB, after creating {:.1} MiB, peak {:.1} MiB)",
                    mib(rss.rss_bytes),
                    mib(rss.rss_at_start_bytes),
                    mib(rss.rss_after_create_bytes),
                    mib(rss.hwm_bytes),
                ),
            },
            (None, Some(error)) => na(name, "<= 64 MiB", error),
            (None, None) => na(name, "<= 64 MiB", "not run"),
        }
    }
}

fn pass(ok: bool) -> String {
    if ok { "PASS" } else { "FAIL" }.to_owned()
}

fn na(name: String, threshold: &str, detail: &str) -> Target {
    Target {
        name,
        status: "N/A".to_owned(),
        measured: None,
        threshold: threshold.to_owned(),
        detail: detail.to_owned(),
    }
}

/// A row's ratio against its threshold; a row with errors fails whatever its ratio.
fn ratio_target(
    name: String,
    row: Option<&Row>,
    value: impl Fn(&Row) -> Option<f64>,
    ok: impl Fn(f64) -> bool,
    threshold: String,
) -> Target {
    let Some(row) = row else {
        return na(name, &threshold, "not measured in this run");
    };
    let Some(ratio) = value(row) else {
        return na(name, &threshold, "no baseline in this run");
    };
    let mut detail = format!(
        "{:.0} rps, p99 {} µs at concurrency {}",
        row.rps, row.p99_us, row.concurrency
    );
    let passed = ok(ratio) && row.errors == 0;
    if row.errors > 0 {
        let _ = write!(detail, "; {} errors", row.errors);
    }
    Target {
        name,
        status: pass(passed),
        measured: Some(ratio),
        threshold,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Report;
    use super::super::fixtures::{cold_row, report};

    fn verdict(report: &Report, prefix: &str) -> (String, Option<f64>) {
        let target = report
            .targets
            .iter()
            .find(|target| target.name.starts_with(prefix))
            .expect("target");
        (target.status.clone(), target.measured)
    }

    #[test]
    fn argon2_bound_rows_are_judged_at_the_highest_concurrency() {
        // A lower concurrency measuring better (noise) must not pass a verdict the saturated
        // row missed, nor fail one it met.
        let mut report = report(vec![
            cold_row("d", 1, 0.50),
            cold_row("d", 2, 0.95),
            cold_row("d", 16, 0.88),
            cold_row("e", 1, 0.45),
            cold_row("e", 2, 0.85),
            cold_row("e", 16, 0.93),
        ]);
        report.compute_targets();
        assert_eq!(verdict(&report, "d "), ("FAIL".to_owned(), Some(0.88)));
        assert_eq!(verdict(&report, "e "), ("PASS".to_owned(), Some(0.93)));
        let names: Vec<&str> = report.targets.iter().map(|t| t.name.as_str()).collect();
        assert!(
            names.contains(&"d cold Introspect: RPS vs raw argon2id @c=16"),
            "{names:?}"
        );
    }
}
