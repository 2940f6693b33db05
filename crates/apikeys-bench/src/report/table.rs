//! The report as printed: the rows, their errors, the baselines, the targets, the machine and
//! the command.

use std::fmt::Write as _;

use super::{Report, Row};

impl Report {
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
        let ratio =
            |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        for row in &self.rows {
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
            .filter(|row| row.errors > 0 || row.calls == 0)
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
        }
        let _ = writeln!(out, "\ntargets (ratios measured in this run):");
        for target in &self.targets {
            let _ = writeln!(
                out,
                "  {:<4} {:<62} {:>8} {:<10} {}",
                target.status,
                target.name,
                // Ratios (and MiB) with two decimals, rates (t's tokens/s) whole.
                target.measured.map_or_else(
                    || "-".to_owned(),
                    |v| if v >= 1000.0 {
                        format!("{v:.0}")
                    } else {
                        format!("{v:.2}")
                    }
                ),
                target.threshold,
                target.detail
            );
        }
        let m = &self.machine;
        let _ = writeln!(
            out,
            "\nmachine: {} cores, {}, kernel {}, loadavg {} at start, {} at end",
            m.nproc, m.cpu_model, m.kernel, m.loadavg_at_start, m.loadavg_at_end
        );
        let _ = writeln!(
            out,
            "settings: {} s measured per row (warm rows: in {} interleaved rounds, each after {} s warmup; d and e: in {} rounds with the raw argon2id rate, each after {} s); gRPC channels per row = min(concurrency, {}), HTTP/1.1 rows one connection per task; {} warm keys",
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
