//! The report: one row per scenario × concurrency, the ratios to the baselines measured in the
//! same run, the targets with PASS/FAIL, the machine and the command; as a table and as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::load::LoadResult;
use crate::scenarios::Scenario;
use crate::scenarios::cold::Argon2Rate;
use crate::scenarios::rss::RssReport;

#[cfg(test)]
mod fixtures;
mod rounds;

use self::rounds::RoundSpread;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub description: String,
    pub concurrency: usize,
    pub channels: usize,
    /// Why the scenario could not run; the numbers are then zero.
    pub not_available: Option<String>,
    pub rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub calls: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// `a` (bare tonic at the same concurrency) or `argon2` (raw argon2id rate).
    pub baseline: Option<String>,
    pub rps_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
    /// The server process's CPU time (all threads, user + system) per successful call.
    pub server_cpu_us: Option<f64>,
    /// `server_cpu_us` over the baseline row's (warm rows, against `a`).
    pub cpu_ratio: Option<f64>,
    /// Calls per second of each measured slice, one per round, in the order measured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub round_rps: Vec<f64>,
    /// Each round's rate over `a`'s in the same round (warm rows): how far a slow spell of the
    /// machine moved one round against the others.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub round_ratios: Vec<f64>,
}

impl Row {
    pub fn measured(
        scenario: Scenario,
        channels: usize,
        result: &LoadResult,
        keep_first_error: bool,
    ) -> Self {
        Self {
            scenario: scenario.id().to_owned(),
            description: scenario.description().to_owned(),
            concurrency: result.concurrency,
            channels,
            not_available: None,
            rps: result.rps(),
            p50_us: result.quantile_us(0.50),
            p99_us: result.quantile_us(0.99),
            p999_us: result.quantile_us(0.999),
            calls: result.calls,
            errors: result.errors,
            first_error: if keep_first_error || result.errors > 0 {
                result
                    .first_error
                    .as_ref()
                    .map(|error| error.message.clone())
            } else {
                None
            },
            baseline: None,
            rps_ratio: None,
            p99_ratio: None,
            server_cpu_us: result.server_cpu_us_per_call(),
            cpu_ratio: None,
            round_rps: result.round_rps.clone(),
            round_ratios: Vec::new(),
        }
    }

    pub fn not_available(scenario: Scenario, concurrency: usize, reason: &str) -> Self {
        Self {
            scenario: scenario.id().to_owned(),
            description: scenario.description().to_owned(),
            concurrency,
            channels: 0,
            not_available: Some(reason.to_owned()),
            rps: 0.0,
            p50_us: 0,
            p99_us: 0,
            p999_us: 0,
            calls: 0,
            errors: 0,
            first_error: None,
            baseline: None,
            rps_ratio: None,
            p99_ratio: None,
            server_cpu_us: None,
            cpu_ratio: None,
            round_rps: Vec::new(),
            round_ratios: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    /// PASS, FAIL, or N/A (not measured in this run).
    pub status: String,
    pub measured: Option<f64>,
    pub threshold: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub loadavg_at_start: String,
    pub loadavg_at_end: String,
}

impl Machine {
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map_or_else(
                || "unknown".to_owned(),
                |(_, model)| model.trim().to_owned(),
            );
        Self {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |text| text.trim().to_owned()),
            loadavg_at_start: loadavg(),
            loadavg_at_end: String::new(),
        }
    }
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub duration_secs: f64,
    /// Before each slice of d and e and their raw argon2id baseline.
    pub warmup_secs: f64,
    /// Rounds in which the warm scenarios take turns.
    pub rounds: usize,
    /// Before each warm turn's slice.
    pub turn_warmup_secs: f64,
    /// Rounds in which d and e take turns with the raw argon2id rate.
    pub cold_rounds: usize,
    pub concurrency: Vec<usize>,
    pub cold_concurrency: Vec<usize>,
    pub max_channels: usize,
    pub warm_keys: usize,
    pub apikeys_bin: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: String,
    pub settings: Settings,
    pub machine: Machine,
    /// The raw argon2id rate, measured in turns with each argon2-bound row.
    pub argon2: Vec<Argon2Rate>,
    pub rows: Vec<Row>,
    pub targets: Vec<Target>,
    pub rss: Option<RssReport>,
    pub rss_error: Option<String>,
    pub not_available: Vec<String>,
}

/// The concurrency at which the warm targets are judged.
const TARGET_CONCURRENCY: usize = 64;

impl Report {
    /// Fills the ratio columns: warm rows against `a` at the same concurrency, argon2-bound rows
    /// against the raw argon2id rate.
    pub fn compute_ratios(&mut self) {
        let bare: Vec<Row> = self
            .rows
            .iter()
            .filter(|row| row.scenario == "a" && row.not_available.is_none())
            .cloned()
            .collect();
        let argon2 = self.argon2.clone();
        for row in &mut self.rows {
            if row.not_available.is_some() {
                continue;
            }
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
            // never waits for the next call. Taking the best of several concurrencies instead
            // let a noisy row pass a verdict that the saturated row had missed.
            let row = self
                .rows
                .iter()
                .filter(|row| row.scenario == id && row.not_available.is_none())
                .max_by_key(|row| row.concurrency)
                .or_else(|| self.rows.iter().find(|row| row.scenario == id));
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
        let rss_name = "rss: server VmRSS with all keys cached".to_owned();
        targets.push(match (&self.rss, &self.rss_error) {
            (Some(rss), _) => {
                let mib = rss.rss_bytes as f64 / 1024.0 / 1024.0;
                Target {
                    name: format!("rss: server VmRSS with {} cached keys", rss.keys),
                    status: pass(rss.rss_bytes <= rss.limit_bytes),
                    measured: Some(mib),
                    threshold: "<= 64 MiB".to_owned(),
                    detail: format!(
                        "{mib:.1} MiB (at start {:.1} MiB, after creating {:.1} MiB, peak {:.1} MiB)",
                        rss.rss_at_start_bytes as f64 / 1048576.0,
                        rss.rss_after_create_bytes as f64 / 1048576.0,
                        rss.hwm_bytes as f64 / 1048576.0,
                    ),
                }
            }
            (None, Some(error)) => na(rss_name, "<= 64 MiB", error),
            (None, None) => na(rss_name, "<= 64 MiB", "not run"),
        });
        self.targets = targets;
    }

    /// Rows in scenario order (a, b1, b2, c1, c2, d, e), then by concurrency.
    pub fn sort_rows(&mut self) {
        let order = |id: &str| Scenario::ALL.iter().position(|s| s.id() == id);
        self.rows
            .sort_by_key(|row| (order(&row.scenario), row.concurrency));
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<4} {:<36} {:>5} {:>3} {:>10} {:>8} {:>8} {:>8} {:>7} {:>6} {:>6} {:>6} {:>8} {:>6}",
            "id",
            "scenario",
            "conc",
            "ch",
            "rps",
            "p50 µs",
            "p99 µs",
            "p999 µs",
            "errors",
            "base",
            "rps×",
            "p99×",
            "cpu µs",
            "cpu×"
        );
        for row in &self.rows {
            if let Some(reason) = &row.not_available {
                let _ = writeln!(
                    out,
                    "{:<4} {:<36} {:>5} {:>3}   not available: {reason}",
                    row.scenario, row.description, row.concurrency, "-"
                );
                continue;
            }
            let ratio =
                |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
            let _ = writeln!(
                out,
                "{:<4} {:<36} {:>5} {:>3} {:>10.0} {:>8} {:>8} {:>8} {:>7} {:>6} {:>6} {:>6} {:>8} {:>6}",
                row.scenario,
                row.description,
                row.concurrency,
                row.channels,
                row.rps,
                row.p50_us,
                row.p99_us,
                row.p999_us,
                row.errors,
                row.baseline.as_deref().unwrap_or("-"),
                ratio(row.rps_ratio),
                ratio(row.p99_ratio),
                row.server_cpu_us
                    .map_or_else(|| "-".to_owned(), |us| format!("{us:.1}")),
                ratio(row.cpu_ratio),
            );
        }
        let errors: Vec<&Row> = self
            .rows
            .iter()
            .filter(|row| row.errors > 0 || (row.calls == 0 && row.not_available.is_none()))
            .collect();
        if !errors.is_empty() {
            out.push('\n');
        }
        for row in errors {
            let _ = writeln!(
                out,
                "  ! {} @{}: {} errors, first: {}",
                row.scenario,
                row.concurrency,
                row.errors,
                row.first_error.as_deref().unwrap_or("-")
            );
        }
        out.push('\n');
        for rate in &self.argon2 {
            let _ = writeln!(
                out,
                "raw argon2id with {} c={} (m={} KiB, t={}, p={}) on {} threads: {:.1} hashes/s ({:.1} ms per hash per thread)",
                rate.baseline_of,
                rate.concurrency,
                rate.params.memory_kib,
                rate.params.iterations,
                rate.params.parallelism,
                rate.threads,
                rate.per_second,
                rate.ms_per_hash
            );
        }
        if let Some(rss) = &self.rss {
            let _ = writeln!(
                out,
                "rss: {} keys in {} accounts, server started with {}",
                rss.keys,
                rss.accounts,
                rss.server_args.join(" ")
            );
            if let Some(note) = &rss.note {
                let _ = writeln!(out, "rss: {note}");
            }
        }
        let _ = writeln!(out, "\ntargets (ratios measured in this run):");
        for target in &self.targets {
            let _ = writeln!(
                out,
                "  {:<4} {:<62} {:>8} {:<10} {}",
                target.status,
                target.name,
                target
                    .measured
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
                target.threshold,
                target.detail
            );
        }
        if !self.not_available.is_empty() {
            let _ = writeln!(out, "\nnot available:");
            for item in &self.not_available {
                let _ = writeln!(out, "  {item}");
            }
        }
        let m = &self.machine;
        let _ = writeln!(
            out,
            "\nmachine: {} cores, {}, kernel {}, loadavg {} at start, {} at end",
            m.nproc, m.cpu_model, m.kernel, m.loadavg_at_start, m.loadavg_at_end
        );
        let _ = writeln!(
            out,
            "settings: {} s measured per row (warm rows: in {} interleaved rounds, each after {} s warmup; d and e: in {} rounds with the raw argon2id rate, each after {} s); channels per row = min(concurrency, {}); {} warm keys",
            self.settings.duration_secs,
            self.settings.rounds,
            self.settings.turn_warmup_secs,
            self.settings.cold_rounds,
            self.settings.warmup_secs,
            self.settings.max_channels,
            self.settings.warm_keys
        );
        let _ = writeln!(out, "command: {}", self.command);
        out
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
    if let Some(reason) = &row.not_available {
        return na(name, &threshold, reason);
    }
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

/// The command as typed, for the report, with any password in a URL argument (such as
/// `--postgres-url postgres://user:password@host/db`) masked: reports get pasted and shared.
pub fn command_line() -> String {
    std::env::args()
        .map(|arg| without_url_password(&arg))
        .map(|arg| {
            if arg.is_empty() || arg.contains(char::is_whitespace) {
                format!("'{arg}'")
            } else {
                arg
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `scheme://user:password@rest` as `scheme://user:***@rest`; anything else unchanged.
fn without_url_password(arg: &str) -> String {
    let masked = arg.split_once("://").and_then(|(scheme, rest)| {
        let (credentials, host) = rest.split_once('@')?;
        let (user, _password) = credentials.split_once(':')?;
        Some(format!("{scheme}://{user}:***@{host}"))
    });
    masked.unwrap_or_else(|| arg.to_owned())
}

#[cfg(test)]
mod tests {
    use super::fixtures::{cold_row, report};

    fn verdict(report: &super::Report, prefix: &str) -> (String, Option<f64>) {
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

    #[test]
    fn command_line_masks_url_passwords() {
        assert_eq!(
            super::without_url_password("postgres://app:s3cret@db:5432/apikeys"),
            "postgres://app:***@db:5432/apikeys"
        );
        for unchanged in [
            "postgres://postgres@127.0.0.1:5432/test",
            "--postgres-url",
            "a:b@c",
        ] {
            assert_eq!(super::without_url_password(unchanged), unchanged);
        }
    }
}
