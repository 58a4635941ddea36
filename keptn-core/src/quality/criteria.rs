//! SLO criteria: parsing a criterion string and evaluating it against a measured value.
//!
//! A criterion is an operator (`<`, `<=`, `=`, `>=`, `>`) followed by a number, with two
//! modifiers, exactly as Keptn's lighthouse reads them:
//!
//! - a trailing `%` makes the number a percentage **and** the criterion relative to the
//!   aggregated value of earlier evaluations (an increase unless the number has a `-` sign);
//! - a leading `+` or `-` on the number makes the criterion relative (increase or decrease).
//!
//! Without sign and without `%` the number is an absolute threshold. Whitespace anywhere is
//! ignored (`"  <=+10   %"` is `<=+10%`).
//!
//! | criterion | meaning, with `A` the aggregated earlier value |
//! |---|---|
//! | `<600` | value < 600 |
//! | `<=+10%` and `<=10%` | value <= A * 1.10 |
//! | `>-5%` | value > A * 0.95 |
//! | `<=+10` | value <= A + 10 |
//! | `>=-10` | value >= A - 10 |
//!
//! A relative criterion with no earlier value passes, with target value 0, as in Keptn.
//!
//! Keptn checks the prefix with the regular expression
//! `^([<|<=|=|>|>=]{1,2})([+|-]{0,1}\d*\.?\d*)([%]{0,1})` and then hands the rest to Go's
//! float parser. This parser accepts the same strings with the same meaning, with one
//! difference: the number must be a plain decimal (digits, an optional fraction, an optional
//! exponent). Go's parser also let `Inf`, `NaN`, hexadecimal floats and doubled signs
//! (`<+-5`) through; none of them is a meaningful threshold, so they are rejected here.

use std::fmt;

use keptn_sdk::event::payload::SliTarget;

/// A comparison operator of a criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `=` (exact equality of two f64 values)
    Eq,
    /// `>=`
    Ge,
    /// `>`
    Gt,
}

impl Operator {
    /// The operator as written in a criterion.
    pub const fn as_str(self) -> &'static str {
        match self {
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Eq => "=",
            Operator::Ge => ">=",
            Operator::Gt => ">",
        }
    }

    /// Whether `measured <op> target` holds. Any comparison with NaN is false.
    pub fn holds(self, measured: f64, target: f64) -> bool {
        match self {
            Operator::Lt => measured < target,
            Operator::Le => measured <= target,
            Operator::Eq => measured == target,
            Operator::Ge => measured >= target,
            Operator::Gt => measured > target,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The direction of a relative criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The target is above the aggregated value (`+`, or `%` without sign).
    Increase,
    /// The target is below the aggregated value (`-`).
    Decrease,
}

/// Whether a criterion compares with a fixed threshold or with earlier evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CriterionKind {
    /// The number is the threshold.
    Absolute,
    /// The threshold is derived from the aggregated value of earlier evaluations.
    Relative {
        /// The number is a percentage of the aggregated value.
        percent: bool,
        /// Above or below the aggregated value.
        direction: Direction,
    },
}

/// One parsed criterion, keeping the text as written (reported in `SLITarget.criteria`).
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    text: String,
    operator: Operator,
    value: f64,
    kind: CriterionKind,
}

/// A string that is not a criterion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a criterion: {reason}")]
pub struct CriterionError {
    /// The rejected string.
    pub text: String,
    /// What was expected.
    pub reason: &'static str,
}

const OPERATORS: [(&str, Operator); 5] = [
    ("<=", Operator::Le),
    ("<", Operator::Lt),
    ("=", Operator::Eq),
    (">=", Operator::Ge),
    (">", Operator::Gt),
];

impl Criterion {
    /// Parses a criterion such as `<=+10%`, `<600` or `>-5%`.
    pub fn parse(text: &str) -> Result<Self, CriterionError> {
        let error = |reason| CriterionError {
            text: text.to_owned(),
            reason,
        };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (operator, rest) = OPERATORS
            .iter()
            .find_map(|(prefix, op)| compact.strip_prefix(prefix).map(|rest| (*op, rest)))
            .ok_or_else(|| error("expected it to start with <, <=, =, >= or >"))?;
        let (percent, rest) = match rest.strip_suffix('%') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let (sign, number) = if let Some(number) = rest.strip_prefix('-') {
            (Some(Direction::Decrease), number)
        } else if let Some(number) = rest.strip_prefix('+') {
            (Some(Direction::Increase), number)
        } else {
            (None, rest)
        };
        if !is_plain_decimal(number) {
            return Err(error(
                "expected an operator, an optional + or -, a number and an optional %, e.g. \"<=+10%\" or \"<600\"",
            ));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| error("the number cannot be read"))?;
        if !value.is_finite() {
            return Err(error("the number is out of range"));
        }
        let kind = match (percent, sign) {
            (false, None) => CriterionKind::Absolute,
            (percent, sign) => CriterionKind::Relative {
                percent,
                direction: sign.unwrap_or(Direction::Increase),
            },
        };
        Ok(Self {
            text: text.to_owned(),
            operator,
            value,
            kind,
        })
    }

    /// The criterion as written in the SLO file.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The number (without sign; a percentage for percent criteria).
    pub fn value(&self) -> f64 {
        self.value
    }

    /// Absolute or relative.
    pub fn kind(&self) -> CriterionKind {
        self.kind
    }

    /// Whether the criterion compares with earlier evaluations.
    pub fn is_relative(&self) -> bool {
        matches!(self.kind, CriterionKind::Relative { .. })
    }

    /// The threshold the measured value is compared with, given the aggregated value of
    /// earlier evaluations. `None` for a relative criterion without earlier values: such a
    /// criterion passes.
    pub fn threshold(&self, aggregated: Option<f64>) -> Option<f64> {
        match self.kind {
            CriterionKind::Absolute => Some(self.value),
            CriterionKind::Relative { percent, direction } => {
                let a = aggregated?;
                Some(match (percent, direction) {
                    (true, Direction::Increase) => (a * (100.0 + self.value)) / 100.0,
                    (true, Direction::Decrease) => (a * (100.0 - self.value)) / 100.0,
                    (false, Direction::Increase) => a + self.value,
                    (false, Direction::Decrease) => a - self.value,
                })
            }
        }
    }

    /// Evaluates the criterion against a measured value.
    ///
    /// The target value reported is the threshold; a relative criterion without earlier values
    /// is satisfied and reports 0. A threshold too large for f64 is reported as `±f64::MAX`
    /// (the comparison itself uses the exact value) so that the result stays valid JSON.
    pub fn evaluate(&self, measured: f64, aggregated: Option<f64>) -> SliTarget {
        let (target_value, violated) = match self.threshold(aggregated) {
            Some(threshold) => (
                finite_or_clamped(threshold),
                !self.operator.holds(measured, threshold),
            ),
            None => (0.0, false),
        };
        SliTarget {
            criteria: self.text.clone(),
            target_value,
            violated,
        }
    }

    /// The target reported when the criterion cannot be evaluated (no or failed measurement):
    /// violated, with the absolute threshold, or for a relative criterion the aggregated
    /// earlier value itself (not adjusted by the percentage; 0 without earlier values), as
    /// Keptn reports it.
    pub fn unevaluated(&self, aggregated: Option<f64>) -> SliTarget {
        let target_value = match self.kind {
            CriterionKind::Absolute => self.value,
            CriterionKind::Relative { .. } => finite_or_clamped(aggregated.unwrap_or(0.0)),
        };
        SliTarget {
            criteria: self.text.clone(),
            target_value,
            violated: true,
        }
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Criterion {
    type Err = CriterionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Criterion::parse(s)
    }
}

/// Infinite values become `±f64::MAX` and NaN becomes 0, so that reported numbers are JSON.
pub(crate) fn finite_or_clamped(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(f64::MIN, f64::MAX)
    }
}

/// `digits [. digits] [e [+-] digits]` with at least one digit before the exponent; also
/// `.5` and `5.` as Go accepts them.
fn is_plain_decimal(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut mantissa_digits = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
        mantissa_digits += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return false;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (Operator, f64, CriterionKind) {
        let c = Criterion::parse(text).unwrap();
        (c.operator(), c.value(), c.kind())
    }

    const INC_PCT: CriterionKind = CriterionKind::Relative {
        percent: true,
        direction: Direction::Increase,
    };
    const DEC_PCT: CriterionKind = CriterionKind::Relative {
        percent: true,
        direction: Direction::Decrease,
    };

    #[test]
    fn absolute_criteria_with_every_operator() {
        assert_eq!(parsed("<10"), (Operator::Lt, 10.0, CriterionKind::Absolute));
        assert_eq!(
            parsed("<=10"),
            (Operator::Le, 10.0, CriterionKind::Absolute)
        );
        assert_eq!(parsed("=10"), (Operator::Eq, 10.0, CriterionKind::Absolute));
        assert_eq!(
            parsed(">=10"),
            (Operator::Ge, 10.0, CriterionKind::Absolute)
        );
        assert_eq!(parsed(">10"), (Operator::Gt, 10.0, CriterionKind::Absolute));
        assert_eq!(parsed("=0"), (Operator::Eq, 0.0, CriterionKind::Absolute));
    }

    #[test]
    fn percent_implies_relative_increase_unless_minus() {
        assert_eq!(parsed("<=10%"), (Operator::Le, 10.0, INC_PCT));
        assert_eq!(parsed("<=+10.5%"), (Operator::Le, 10.5, INC_PCT));
        assert_eq!(parsed(">-10%"), (Operator::Gt, 10.0, DEC_PCT));
    }

    #[test]
    fn sign_without_percent_is_relative_by_amount() {
        assert_eq!(
            parsed("<=+10"),
            (
                Operator::Le,
                10.0,
                CriterionKind::Relative {
                    percent: false,
                    direction: Direction::Increase
                }
            )
        );
        assert_eq!(
            parsed(">=-10"),
            (
                Operator::Ge,
                10.0,
                CriterionKind::Relative {
                    percent: false,
                    direction: Direction::Decrease
                }
            )
        );
    }

    #[test]
    fn whitespace_is_ignored_and_text_kept() {
        let c = Criterion::parse("  <=+10   %").unwrap();
        assert_eq!(
            (c.operator(), c.value(), c.kind()),
            (Operator::Le, 10.0, INC_PCT)
        );
        assert_eq!(c.text(), "  <=+10   %");
        assert_eq!(parsed("  <=10%"), (Operator::Le, 10.0, INC_PCT));
    }

    #[test]
    fn go_float_forms_that_make_sense_are_accepted() {
        assert_eq!(parsed("<5.").1, 5.0);
        assert_eq!(parsed("<.5").1, 0.5);
        assert_eq!(parsed("<1e3").1, 1000.0);
    }

    #[test]
    fn non_criteria_are_rejected_with_the_text() {
        for bad in [
            "", "<", "<.", "600", "<=+x%", "=<5", "<>5", "|5", "<+-5", "<inf", "<NaN", "<5%%",
            "<%5", "<5ms", "<1e", "<1e999", "<0x10",
        ] {
            let err = Criterion::parse(bad).unwrap_err();
            assert_eq!(err.text, bad, "{bad}");
        }
        assert_eq!(
            Criterion::parse("<=+x%").unwrap_err().to_string(),
            "\"<=+x%\" is not a criterion: expected an operator, an optional + or -, a number \
             and an optional %, e.g. \"<=+10%\" or \"<600\""
        );
    }

    #[test]
    fn relative_thresholds() {
        let t = |c: &str, a| Criterion::parse(c).unwrap().threshold(Some(a)).unwrap();
        assert_eq!(t("<=+10%", 500.0), 550.0);
        assert_eq!(t("<=10%", 500.0), 550.0);
        assert_eq!(t(">=-5%", 200.0), 190.0);
        assert_eq!(t("<=+10", 500.0), 510.0);
        assert_eq!(t("<=-10", 500.0), 490.0);
        assert_eq!(t("<=10", 500.0), 10.0);
    }

    #[test]
    fn relative_without_history_passes_with_target_zero() {
        let target = Criterion::parse("<=+10%").unwrap().evaluate(1e9, None);
        assert_eq!(target.target_value, 0.0);
        assert!(!target.violated);
    }

    #[test]
    fn equality_is_exact() {
        let c = Criterion::parse("=0").unwrap();
        assert!(!c.evaluate(0.0, None).violated);
        assert!(c.evaluate(0.0001, None).violated);
    }

    #[test]
    fn unevaluated_reports_raw_aggregate_for_relative() {
        let rel = Criterion::parse("<=+10%").unwrap();
        assert_eq!(rel.unevaluated(Some(400.0)).target_value, 400.0);
        assert_eq!(rel.unevaluated(None).target_value, 0.0);
        assert!(rel.unevaluated(None).violated);
        assert_eq!(
            Criterion::parse("<600")
                .unwrap()
                .unevaluated(Some(400.0))
                .target_value,
            600.0
        );
    }

    #[test]
    fn huge_targets_are_clamped_in_the_report_only() {
        let c = Criterion::parse("<=+100%").unwrap();
        let t = c.evaluate(f64::MAX, Some(f64::MAX));
        assert_eq!(t.target_value, f64::MAX);
        assert!(!t.violated);
    }
}
