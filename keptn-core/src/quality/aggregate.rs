//! Aggregating the values of earlier evaluations: average and percentiles.
//!
//! The percentile rule is Keptn's: sort the values; `pos = p * (n + 1)`; `pos < 1` gives the
//! smallest value, `pos >= n` the largest, anything between interpolates linearly between
//! `values[floor(pos) - 1]` and `values[floor(pos)]`. For `0..=10` that makes p50 = 5,
//! p90 = 9.8 and p95 = 10.
//!
//! Inputs are expected to be finite (the evaluation drops NaN and infinite values before it
//! aggregates). The results are computed with Keptn's formulas, which keeps them bit for bit
//! equal to Keptn's for ordinary numbers; where those formulas overflow (sums or differences
//! beyond `f64::MAX`) an overflow-free form of the same quantity is used instead, so a finite
//! input always gives a finite result.

use std::fmt;
use std::str::FromStr;

/// How the values of earlier evaluations are combined (`comparison.aggregate_function`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AggregateFunction {
    /// Arithmetic mean (the default).
    #[default]
    Avg,
    /// Median, Keptn's percentile rule.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
}

impl AggregateFunction {
    /// All values.
    pub const ALL: [AggregateFunction; 4] = [
        AggregateFunction::Avg,
        AggregateFunction::P50,
        AggregateFunction::P90,
        AggregateFunction::P95,
    ];

    /// The value as written in an SLO file.
    pub const fn as_str(self) -> &'static str {
        match self {
            AggregateFunction::Avg => "avg",
            AggregateFunction::P50 => "p50",
            AggregateFunction::P90 => "p90",
            AggregateFunction::P95 => "p95",
        }
    }

    /// Aggregates `values`, reordering them (percentiles sort in place). `None` when empty.
    pub fn apply(self, values: &mut [f64]) -> Option<f64> {
        match self {
            AggregateFunction::Avg => average(values),
            AggregateFunction::P50 => percentile(values, 0.5),
            AggregateFunction::P90 => percentile(values, 0.9),
            AggregateFunction::P95 => percentile(values, 0.95),
        }
    }
}

impl fmt::Display for AggregateFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is not an aggregate function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an aggregate function (expected avg, p50, p90 or p95)")]
pub struct UnknownAggregateFunction(pub String);

impl FromStr for AggregateFunction {
    type Err = UnknownAggregateFunction;

    /// Case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AggregateFunction::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownAggregateFunction(s.to_owned()))
    }
}

/// The arithmetic mean; `None` when empty.
pub fn average(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if mean.is_finite() || values.iter().any(|v| !v.is_finite()) {
        return Some(mean);
    }
    // The sum overflowed: accumulate the mean itself, whose partial values stay in range.
    let mut running = 0.0;
    for (i, v) in values.iter().enumerate() {
        running += v / (i as f64 + 1.0) - running / (i as f64 + 1.0);
    }
    Some(running)
}

/// The `p`-th percentile (`p` in 0..=1) by Keptn's rule; sorts `values`. `None` when empty.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let pos = p * (n as f64 + 1.0);
    if pos.is_nan() || pos < 1.0 {
        return Some(values[0]);
    }
    if pos >= n as f64 {
        return Some(values[n - 1]);
    }
    // 1 <= pos < n, so floor(pos) is a valid index and floor(pos) - 1 too.
    let index = pos.floor() as usize;
    let fraction = pos - pos.floor();
    let lower = values[index - 1];
    let upper = values[index];
    let value = lower + fraction * (upper - lower);
    if value.is_finite() || !lower.is_finite() || !upper.is_finite() {
        Some(value)
    } else {
        Some(lower * (1.0 - fraction) + upper * fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zero_to_ten() -> Vec<f64> {
        (0..=10).map(f64::from).collect()
    }

    #[test]
    fn percentiles_of_zero_to_ten_match_keptn() {
        assert_eq!(percentile(&mut zero_to_ten(), 0.5), Some(5.0));
        assert_eq!(percentile(&mut zero_to_ten(), 0.9), Some(9.8));
        assert_eq!(percentile(&mut zero_to_ten(), 0.95), Some(10.0));
    }

    #[test]
    fn percentile_sorts_first() {
        let mut v = vec![300.0, 100.0, 200.0];
        // pos = 0.5 * 4 = 2 -> values[1] + 0 * (values[2] - values[1]) = 200
        assert_eq!(percentile(&mut v, 0.5), Some(200.0));
        assert_eq!(v, vec![100.0, 200.0, 300.0]);
    }

    #[test]
    fn percentile_edges() {
        assert_eq!(percentile(&mut [], 0.5), None);
        // one value: pos = 0.5 * 2 = 1 >= n = 1 -> max
        assert_eq!(percentile(&mut [42.0], 0.5), Some(42.0));
        // two values, p50: pos = 1.5 -> 10 + 0.5 * (20 - 10) = 15
        assert_eq!(percentile(&mut [20.0, 10.0], 0.5), Some(15.0));
        // two values, p90: pos = 2.7 >= 2 -> max
        assert_eq!(percentile(&mut [20.0, 10.0], 0.9), Some(20.0));
        // four values, p50: pos = 2.5 -> 2 + 0.5 * (3 - 2) = 2.5
        assert_eq!(percentile(&mut [4.0, 3.0, 2.0, 1.0], 0.5), Some(2.5));
        // p close to 0: pos < 1 -> min
        assert_eq!(percentile(&mut [4.0, 3.0], 0.1), Some(3.0));
    }

    #[test]
    fn average_and_overflow() {
        assert_eq!(average(&[]), None);
        assert_eq!(average(&[1.0, 2.0, 6.0]), Some(3.0));
        let big = average(&[f64::MAX, f64::MAX]).unwrap();
        assert!(big.is_finite());
        assert!((big - f64::MAX).abs() <= f64::MAX * 1e-15);
    }

    #[test]
    fn percentile_interpolation_does_not_overflow() {
        let mut v = [f64::MIN, f64::MAX];
        let p = percentile(&mut v, 0.5).unwrap();
        assert!(p.is_finite());
        assert_eq!(p, 0.0);
    }

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!("P90".parse(), Ok(AggregateFunction::P90));
        assert_eq!("avg".parse(), Ok(AggregateFunction::Avg));
        assert!("median".parse::<AggregateFunction>().is_err());
    }
}
