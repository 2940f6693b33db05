//! Per-round ratios of the warm rows: each round's slice of a scenario against `a`'s slice of
//! the same round.

/// The spread of a warm row's per-round ratios: shown beside a target so a reader can tell a
/// verdict that every round agrees on from one a single slow slice of the machine decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundSpread {
    rounds: usize,
    min: f64,
    median: f64,
    max: f64,
}

impl RoundSpread {
    /// `None` with fewer than two rounds: one round has no spread.
    pub fn of(ratios: &[f64]) -> Option<Self> {
        if ratios.len() < 2 {
            return None;
        }
        let mut sorted = ratios.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        } else {
            sorted[middle]
        };
        Some(Self {
            rounds: sorted.len(),
            min: sorted[0],
            median,
            max: sorted[sorted.len() - 1],
        })
    }
}

impl std::fmt::Display for RoundSpread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} paired rounds {:.2}-{:.2}, median {:.2}",
            self.rounds, self.min, self.max, self.median
        )
    }
}

#[cfg(test)]
mod tests {
    use super::RoundSpread;
    use crate::report::fixtures::{report, warm_row};

    #[test]
    fn spread_of_an_odd_and_an_even_number_of_rounds() {
        let odd = RoundSpread::of(&[0.9, 0.7, 0.8]).expect("three rounds");
        assert_eq!(
            (odd.rounds, odd.min, odd.median, odd.max),
            (3, 0.7, 0.8, 0.9)
        );
        let even = RoundSpread::of(&[0.9, 0.6, 0.8, 0.7]).expect("four rounds");
        assert_eq!((even.min, even.max), (0.6, 0.9));
        assert!((even.median - 0.75).abs() < 1e-12, "{even:?}");
        assert_eq!(RoundSpread::of(&[0.9]), None);
        assert_eq!(RoundSpread::of(&[]), None);
    }

    #[test]
    fn each_round_is_paired_with_the_same_round_of_the_bare_baseline() {
        // A slow spell in round 3 slows both sides; paired, that round's ratio is like the others.
        let mut report = report(vec![
            warm_row("a", &[100.0, 100.0, 50.0, 100.0]),
            warm_row("b1", &[90.0, 88.0, 46.0, 92.0]),
        ]);
        report.compute_ratios();
        report.compute_targets();
        let b1 = &report.rows[1];
        let expected = [0.90, 0.88, 0.92, 0.92];
        assert_eq!(b1.round_ratios.len(), expected.len());
        for (got, want) in b1.round_ratios.iter().zip(expected) {
            assert!((got - want).abs() < 1e-9, "{:?}", b1.round_ratios);
        }
        let target = report
            .targets
            .iter()
            .find(|target| target.name.starts_with("b1 ") && target.name.contains("RPS"))
            .expect("b1 RPS target");
        assert!(
            target
                .detail
                .ends_with("4 paired rounds 0.88-0.92, median 0.91"),
            "{}",
            target.detail
        );
    }

    #[test]
    fn rows_of_different_round_counts_are_not_paired() {
        let mut report = report(vec![
            warm_row("a", &[100.0, 100.0]),
            warm_row("b1", &[90.0, 88.0, 46.0]),
        ]);
        report.compute_ratios();
        assert!(report.rows[1].rps_ratio.is_some());
        assert!(report.rows[1].round_ratios.is_empty());
    }
}
