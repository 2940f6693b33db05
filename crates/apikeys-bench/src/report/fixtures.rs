//! Rows and reports for the tests of ratios and targets.

use super::{Machine, Report, Row, Settings};

/// A warm row at concurrency 64 that ran these rounds.
pub fn warm_row(scenario: &str, round_rps: &[f64]) -> Row {
    let calls = round_rps.iter().sum::<f64>();
    Row {
        scenario: scenario.to_owned(),
        concurrency: 64,
        channels: 4,
        rps: calls / round_rps.len() as f64,
        p50_us: 500,
        p99_us: 4_000,
        p999_us: 8_000,
        calls: calls as u64,
        round_rps: round_rps.to_vec(),
        ..Row::default()
    }
}

/// An argon2-bound row (d or e) whose ratio to the raw argon2id rate is already known.
pub fn cold_row(scenario: &str, concurrency: usize, rps_ratio: f64) -> Row {
    Row {
        concurrency,
        baseline: Some("argon2".to_owned()),
        rps_ratio: Some(rps_ratio),
        ..warm_row(scenario, &[100.0 * rps_ratio])
    }
}

pub fn report(rows: Vec<Row>) -> Report {
    let settings = Settings {
        duration_secs: 5.0,
        warmup_secs: 0.5,
        rounds: 4,
        turn_warmup_secs: 0.1,
        cold_rounds: 5,
        concurrency: vec![64],
        cold_concurrency: vec![1, 2, 16],
        max_channels: 4,
        warm_keys: 100,
        apikeys_bin: None,
    };
    Report {
        rows,
        ..Report::new(String::new(), settings, Machine::probe())
    }
}
