//! Samples into distributions, the targets, and the printed and JSON report.

use std::time::Duration;

use serde::Serialize;

use super::Mode;
use crate::report::Machine;

const NOTIFY_TARGET_P99_MS: f64 = 100.0;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub since_answer_ms: f64,
    pub since_send_ms: f64,
    /// The Introspect that answered inactive: it missed the cache and verified the secret.
    pub last_call_ms: f64,
    /// Introspect calls on B until it answered inactive.
    pub calls: u64,
}

impl Sample {
    /// From A's answer to the start of the call that found the key evicted: when B learnt of
    /// the revocation, give or take one cached call (well under a millisecond).
    fn until_last_call_ms(&self) -> f64 {
        self.since_answer_ms - self.last_call_ms
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Distribution {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Distribution {
    fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut sorted: Vec<f64> = values.into_iter().collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        Some(Self {
            p50_ms: percentile(&sorted, 500),
            p90_ms: percentile(&sorted, 900),
            p99_ms: percentile(&sorted, 990),
            max_ms: percentile(&sorted, 1000),
        })
    }
}

/// Nearest rank: the smallest sample with at least `per_mille`/1000 of the samples at or below
/// it. Integer arithmetic, so p99 of 200 samples is the 198th, never the 199th by rounding.
fn percentile(sorted: &[f64], per_mille: usize) -> f64 {
    let rank = (per_mille * sorted.len()).div_ceil(1000);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Debug, Serialize)]
pub struct ModeReport {
    mode: Mode,
    samples: Vec<Sample>,
    since_answer: Option<Distribution>,
    since_send: Option<Distribution>,
    last_call: Option<Distribution>,
    until_last_call: Option<Distribution>,
    target: String,
    pass: bool,
    /// Why the mode stopped early (a sample past the deadline).
    pub failure: Option<String>,
    notes: Vec<String>,
}

impl ModeReport {
    /// Judged from A's answer (the revocation is committed) to the start of B's first call that
    /// answered inactive: when B stopped answering from its cache. That call's own time is the
    /// secret's argon2 re-verification after the eviction (the same as any uncached key's), shown
    /// in its own row rather than counted against the propagation bound.
    pub fn judge(
        mode: Mode,
        samples: Vec<Sample>,
        poll_interval: Duration,
        failure: Option<String>,
        notes: Vec<String>,
    ) -> Self {
        let until_last_call = Distribution::of(samples.iter().map(Sample::until_last_call_ms));
        let (target, pass) = match mode {
            Mode::Notify => (
                format!("p99 ≤ {NOTIFY_TARGET_P99_MS:.0} ms"),
                until_last_call.is_some_and(|d| d.p99_ms <= NOTIFY_TARGET_P99_MS),
            ),
            Mode::Poll => {
                let interval = poll_interval.as_secs_f64() * 1_000.0;
                (
                    format!("max ≤ {interval:.0} ms (the poll interval)"),
                    until_last_call.is_some_and(|d| d.max_ms <= interval),
                )
            }
        };
        Self {
            mode,
            since_answer: Distribution::of(samples.iter().map(|s| s.since_answer_ms)),
            since_send: Distribution::of(samples.iter().map(|s| s.since_send_ms)),
            last_call: Distribution::of(samples.iter().map(|s| s.last_call_ms)),
            until_last_call,
            samples,
            target,
            pass: pass && failure.is_none(),
            failure,
            notes,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PropagationReport {
    pub command: String,
    pub poll_interval_ms: u64,
    pub machine: Machine,
    pub modes: Vec<ModeReport>,
}

impl PropagationReport {
    pub fn print(&self) {
        println!(
            "revocation on replica A → replica B answers inactive (one PostgreSQL database, \
             --revocation-poll-interval-ms {})",
            self.poll_interval_ms
        );
        println!(
            "{:<7} {:<34} {:>7} {:>8} {:>8} {:>8} {:>8}",
            "mode", "clock", "samples", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for mode in &self.modes {
            for (clock, distribution) in [
                ("RevokeKey answered → inactive", mode.since_answer),
                ("RevokeKey sent → inactive", mode.since_send),
                ("RevokeKey answered → last call", mode.until_last_call),
                ("last Introspect on B (cache miss)", mode.last_call),
            ] {
                let cell = |pick: fn(&Distribution) -> f64| {
                    distribution.map_or_else(|| "—".to_owned(), |d| format!("{:.1}", pick(&d)))
                };
                println!(
                    "{:<7} {:<34} {:>7} {:>8} {:>8} {:>8} {:>8}",
                    mode.mode.name(),
                    clock,
                    mode.samples.len(),
                    cell(|d| d.p50_ms),
                    cell(|d| d.p90_ms),
                    cell(|d| d.p99_ms),
                    cell(|d| d.max_ms),
                );
            }
        }
        for mode in &self.modes {
            let measured = mode.until_last_call.map_or_else(
                || "no samples".to_owned(),
                |d| format!("p99 {:.1} ms, max {:.1} ms", d.p99_ms, d.max_ms),
            );
            let first_call = mode.samples.iter().filter(|s| s.calls == 1).count();
            println!(
                "target {}: RevokeKey answered → last call (B stops answering from its cache) {}: {measured}  {}",
                mode.mode.name(),
                mode.target,
                if mode.pass { "PASS" } else { "FAIL" }
            );
            println!(
                "  {first_call} of {} samples inactive at the first Introspect after the answer",
                mode.samples.len()
            );
            for note in mode.failure.iter().chain(&mode.notes) {
                println!("  {note}");
            }
        }
        let m = &self.machine;
        println!(
            "machine: {} cores, {}, kernel {}, loadavg {} at start, {} at end",
            m.nproc, m.cpu_model, m.kernel, m.loadavg_at_start, m.loadavg_at_end
        );
        println!("command: {}", self.command);
    }
}

#[cfg(test)]
mod tests {
    use super::{Distribution, percentile};

    #[test]
    fn percentiles_are_nearest_rank() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&hundred, 500), 50.0);
        assert_eq!(percentile(&hundred, 900), 90.0);
        assert_eq!(percentile(&hundred, 990), 99.0);
        assert_eq!(percentile(&hundred, 1000), 100.0);
        let two_hundred: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&two_hundred, 990), 198.0);
        // Twenty samples: p99 is the largest.
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&twenty, 990), 20.0);
        assert_eq!(percentile(&twenty, 500), 10.0);
        assert_eq!(percentile(&[7.0], 500), 7.0);
    }

    #[test]
    fn distribution_sorts_and_is_none_without_samples() {
        let shuffled = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(
            Distribution::of(shuffled),
            Some(Distribution {
                p50_ms: 3.0,
                p90_ms: 5.0,
                p99_ms: 5.0,
                max_ms: 5.0
            })
        );
        assert_eq!(Distribution::of([]), None);
    }
}
