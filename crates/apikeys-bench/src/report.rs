//! The report of `apikeys-bench run`: one row per scenario × concurrency, the ratios to the
//! baselines measured in the same run, the targets with PASS/FAIL, the machine and the command;
//! printed as a table (table.rs) and written as JSON. The verdicts are in verdicts.rs.

use serde::Serialize;

use crate::load::LoadResult;
use crate::scenarios::Scenario;
use crate::scenarios::cold::Argon2Rate;
use crate::scenarios::rss::RssReport;

#[cfg(test)]
mod fixtures;
mod machine;
mod rounds;
mod table;
mod verdicts;

pub use self::machine::{Machine, command_line, loadavg};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub scenario: String,
    pub description: String,
    pub concurrency: usize,
    /// gRPC: HTTP/2 connections shared by the tasks; HTTP/1.1: one per task.
    pub channels: usize,
    pub rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub calls: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// `a` (bare tonic at the same concurrency), `h` (bare HTTP/1.1 on the same stack) or
    /// `argon2` (raw argon2id rate).
    pub baseline: Option<String>,
    pub rps_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
    /// The server process's CPU time (all threads, user + system) per successful call.
    pub server_cpu_us: Option<f64>,
    /// `server_cpu_us` over the baseline row's (warm rows, against `a` or `h`).
    pub cpu_ratio: Option<f64>,
    /// Calls per second of each measured slice, one per round, in the order measured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub round_rps: Vec<f64>,
    /// Each round's rate over its baseline's (`a` or `h`) in the same round (warm rows): how
    /// far a slow spell of the machine moved one round against the others.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub round_ratios: Vec<f64>,
}

impl Row {
    /// A row of `scenario`'s measurement; the ratio columns are filled by
    /// [`Report::compute_ratios`].
    pub fn measured(scenario: Scenario, channels: usize, result: &LoadResult) -> Self {
        Self {
            scenario: scenario.id().to_owned(),
            description: scenario.description().to_owned(),
            concurrency: result.concurrency,
            channels,
            rps: result.rps(),
            p50_us: result.quantile_us(0.50),
            p99_us: result.quantile_us(0.99),
            p999_us: result.quantile_us(0.999),
            calls: result.calls,
            errors: result.errors,
            // Only the errors inside the measured window make a row fail; one in a warmup
            // alone is not reported.
            first_error: result
                .first_error
                .as_ref()
                .filter(|_| result.errors > 0)
                .map(|error| error.message.clone()),
            server_cpu_us: result.server_cpu_us_per_call(),
            round_rps: result.round_rps.clone(),
            ..Self::default()
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
}

impl Report {
    /// A report with nothing measured yet.
    pub fn new(command: String, settings: Settings, machine: Machine) -> Self {
        Self {
            command,
            settings,
            machine,
            argon2: Vec::new(),
            rows: Vec::new(),
            targets: Vec::new(),
            rss: None,
            rss_error: None,
        }
    }

    /// Rows in scenario order (a, b1, b2, c1, c2, h, f1, f2, t, d, e), then by concurrency.
    pub fn sort_rows(&mut self) {
        let order = |id: &str| Scenario::ALL.iter().position(|s| s.id() == id);
        self.rows
            .sort_by_key(|row| (order(&row.scenario), row.concurrency));
    }
}
