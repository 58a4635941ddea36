//! The timeframe an evaluation measures, computed from `evaluation.triggered` the way Keptn's
//! lighthouse does, as a pure function of the event and the current time.
//!
//! Rules, in order:
//!
//! 1. `evaluation.start`, `evaluation.end` or `evaluation.timeframe` given:
//!    - `end` together with `timeframe` is an error, so is `end` without `start`;
//!    - the timeframe (Go duration syntax: `5m`, `1h30m`, `90s`) defaults to 5 minutes;
//!    - `start` and `end`: that interval; `start` alone: `start` to `start + timeframe`;
//!      neither: `now - timeframe` to `now`;
//!    - the end must be at least one minute after the start.
//! 2. Otherwise `test.start` and `test.end` (both needed).
//! 3. Otherwise the error "evaluation.triggered event does not contain evaluation timeframe".
//!
//! Timestamps are read as RFC 3339 (`2021-05-11T13:20:11.260Z`, offsets allowed) or, like
//! Keptn's fallback, as `2021-05-11T13:20:11` in UTC; they are written in Keptn's format
//! `2021-05-11T13:20:11.260Z`.
//!
//! One extension: with `evaluation.start` alone Keptn ignored the evaluation block (and used
//! the test times or failed); here it means `start` plus the default 5 minutes.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use keptn_sdk::event::payload::{EvaluationRequest, EvaluationTriggered, TestInfo};

/// The timeframe used when `evaluation.timeframe` is not given.
pub const DEFAULT_TIMEFRAME: TimeDelta = TimeDelta::minutes(5);

/// A measured interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeframe {
    /// Start (inclusive).
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
}

impl Timeframe {
    /// The start in Keptn's timestamp format.
    pub fn start_string(&self) -> String {
        format_timestamp(self.start)
    }

    /// The end in Keptn's timestamp format.
    pub fn end_string(&self) -> String {
        format_timestamp(self.end)
    }

    /// The length in whole seconds, rounded up (the value of `$DURATION_SECONDS` without its
    /// `s`).
    pub fn duration_seconds(&self) -> i64 {
        let delta = self.end - self.start;
        let whole = delta.num_seconds();
        // num_seconds truncates toward zero: add one for a positive remainder.
        if delta > TimeDelta::seconds(whole) {
            whole + 1
        } else {
            whole
        }
    }
}

/// Why no timeframe could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeframeError {
    /// Neither an evaluation timeframe nor test times.
    #[error("evaluation.triggered event does not contain evaluation timeframe")]
    Missing,
    /// `evaluation.end` and `evaluation.timeframe` were both given.
    #[error("evaluation.end and evaluation.timeframe are mutually exclusive")]
    EndAndTimeframe,
    /// `evaluation.end` without `evaluation.start`.
    #[error("evaluation.start is required when evaluation.end is given")]
    EndWithoutStart,
    /// A timestamp could not be read.
    #[error(
        "{field}: {value:?} is not a timestamp (expected RFC 3339, e.g. 2021-05-11T13:20:11.260Z)"
    )]
    Timestamp {
        /// `evaluation.start`, `evaluation.end`, `test.start` or `test.end`.
        field: &'static str,
        /// The rejected value.
        value: String,
    },
    /// The timeframe could not be read.
    #[error("evaluation.timeframe: could not parse provided timeframe {value:?}: {reason}")]
    Duration {
        /// The rejected value.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The end is less than a minute after the start.
    #[error("end date must be at least 1 minute after start date")]
    TooShort,
}

/// The timeframe of an `evaluation.triggered` event.
pub fn evaluation_timeframe(
    triggered: &EvaluationTriggered,
    now: DateTime<Utc>,
) -> Result<Timeframe, TimeframeError> {
    timeframe_from(triggered.evaluation.as_ref(), triggered.test.as_ref(), now)
}

/// The timeframe from the `evaluation` and `test` objects of an `evaluation.triggered` event.
pub fn timeframe_from(
    evaluation: Option<&EvaluationRequest>,
    test: Option<&TestInfo>,
    now: DateTime<Utc>,
) -> Result<Timeframe, TimeframeError> {
    let (start, end, timeframe) = evaluation
        .map(|e| (given(&e.start), given(&e.end), given(&e.timeframe)))
        .unwrap_or_default();
    if start.is_some() || end.is_some() || timeframe.is_some() {
        if end.is_some() && timeframe.is_some() {
            return Err(TimeframeError::EndAndTimeframe);
        }
        if end.is_some() && start.is_none() {
            return Err(TimeframeError::EndWithoutStart);
        }
        let length = match timeframe {
            Some(t) => parse_duration(t).map_err(|reason| TimeframeError::Duration {
                value: t.to_owned(),
                reason,
            })?,
            None => DEFAULT_TIMEFRAME,
        };
        let frame = match (start, end) {
            (Some(s), Some(e)) => Timeframe {
                start: timestamp("evaluation.start", s)?,
                end: timestamp("evaluation.end", e)?,
            },
            (Some(s), None) => {
                let start = timestamp("evaluation.start", s)?;
                let end = start
                    .checked_add_signed(length)
                    .ok_or(TimeframeError::TooShort)?;
                Timeframe { start, end }
            }
            _ => Timeframe {
                start: now.checked_sub_signed(length).unwrap_or(now),
                end: now,
            },
        };
        if frame.end - frame.start < TimeDelta::minutes(1) {
            return Err(TimeframeError::TooShort);
        }
        return Ok(frame);
    }
    let (test_start, test_end) = test
        .map(|t| (given(&t.start), given(&t.end)))
        .unwrap_or_default();
    match (test_start, test_end) {
        (Some(s), Some(e)) => Ok(Timeframe {
            start: timestamp("test.start", s)?,
            end: timestamp("test.end", e)?,
        }),
        _ => Err(TimeframeError::Missing),
    }
}

/// A non-empty, trimmed value.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn timestamp(field: &'static str, value: &str) -> Result<DateTime<Utc>, TimeframeError> {
    parse_timestamp(value).ok_or_else(|| TimeframeError::Timestamp {
        field,
        value: value.to_owned(),
    })
}

/// Reads an RFC 3339 timestamp, or `YYYY-MM-DDTHH:MM:SS[.fff]` taken as UTC.
pub fn parse_timestamp(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// Writes a timestamp in Keptn's format, `2021-05-11T13:20:11.260Z`.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Reads a duration in Go's syntax: an optional sign and one or more decimal numbers with a
/// unit each (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `5m`, `1h30m`, `1.5h`, `-90s`; `0`
/// alone is zero.
pub fn parse_duration(text: &str) -> Result<TimeDelta, &'static str> {
    let mut s = text.trim();
    let negative = if let Some(rest) = s.strip_prefix('-') {
        s = rest;
        true
    } else {
        s = s.strip_prefix('+').unwrap_or(s);
        false
    };
    if s == "0" {
        return Ok(TimeDelta::zero());
    }
    if s.is_empty() {
        return Err("expected a number and a unit, e.g. 5m");
    }
    let mut nanos = 0.0_f64;
    while !s.is_empty() {
        let number_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let number = &s[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err("expected a number before each unit, e.g. 1h30m");
        }
        let value: f64 = number
            .parse()
            .map_err(|_| "expected a number before each unit, e.g. 1h30m")?;
        s = &s[number_len..];
        let unit_len = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = match &s[..unit_len] {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err("missing unit (one of ns, us, ms, s, m, h)"),
            _ => return Err("unknown unit (expected ns, us, ms, s, m or h)"),
        };
        s = &s[unit_len..];
        nanos += value * unit;
    }
    if nanos.is_nan() || nanos >= i64::MAX as f64 {
        return Err("the duration is too long");
    }
    let delta = TimeDelta::nanoseconds(nanos.round() as i64);
    Ok(if negative { -delta } else { delta })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_timestamp(s).unwrap()
    }

    fn request(start: Option<&str>, end: Option<&str>, tf: Option<&str>) -> EvaluationRequest {
        EvaluationRequest {
            start: start.map(Into::into),
            end: end.map(Into::into),
            timeframe: tf.map(Into::into),
        }
    }

    const NOW: &str = "2021-05-11T13:20:00Z";

    #[test]
    fn start_and_end() {
        let f = timeframe_from(
            Some(&request(
                Some("2021-05-11T12:00:00Z"),
                Some("2021-05-11T12:10:00.5Z"),
                None,
            )),
            None,
            at(NOW),
        )
        .unwrap();
        assert_eq!(f.start_string(), "2021-05-11T12:00:00.000Z");
        assert_eq!(f.end_string(), "2021-05-11T12:10:00.500Z");
        assert_eq!(f.duration_seconds(), 601);
    }

    #[test]
    fn timeframe_alone_ends_now_and_after_start() {
        let f = timeframe_from(Some(&request(None, None, Some("10m"))), None, at(NOW)).unwrap();
        assert_eq!((f.start, f.end), (at("2021-05-11T13:10:00Z"), at(NOW)));
        let f = timeframe_from(
            Some(&request(Some("2021-05-11T12:00:00"), None, Some("1h30m"))),
            None,
            at(NOW),
        )
        .unwrap();
        assert_eq!(f.end, at("2021-05-11T13:30:00Z"));
        let f = timeframe_from(
            Some(&request(Some("2021-05-11T12:00:00Z"), None, None)),
            None,
            at(NOW),
        )
        .unwrap();
        assert_eq!(f.end - f.start, DEFAULT_TIMEFRAME);
    }

    #[test]
    fn test_times_are_the_fallback() {
        let test = TestInfo {
            start: Some("2021-05-11T12:00:00+02:00".into()),
            end: Some("2021-05-11T12:05:00+02:00".into()),
            ..Default::default()
        };
        let f = timeframe_from(Some(&request(None, None, None)), Some(&test), at(NOW)).unwrap();
        assert_eq!(f.start_string(), "2021-05-11T10:00:00.000Z");
        assert_eq!(f.duration_seconds(), 300);
    }

    #[test]
    fn errors_of_keptn() {
        let e = |r: EvaluationRequest| timeframe_from(Some(&r), None, at(NOW)).unwrap_err();
        assert_eq!(
            timeframe_from(None, None, at(NOW)).unwrap_err().to_string(),
            "evaluation.triggered event does not contain evaluation timeframe"
        );
        assert_eq!(
            e(request(Some(NOW), Some(NOW), Some("5m"))),
            TimeframeError::EndAndTimeframe
        );
        assert_eq!(
            e(request(None, Some(NOW), None)),
            TimeframeError::EndWithoutStart
        );
        assert_eq!(
            e(request(Some(NOW), Some("2021-05-11T13:20:59Z"), None)).to_string(),
            "end date must be at least 1 minute after start date"
        );
        assert_eq!(
            e(request(None, None, Some("-5m"))),
            TimeframeError::TooShort
        );
        assert!(matches!(
            e(request(None, None, Some("5 minutes"))),
            TimeframeError::Duration { .. }
        ));
        assert_eq!(
            e(request(Some("yesterday"), Some(NOW), None)).to_string(),
            "evaluation.start: \"yesterday\" is not a timestamp (expected RFC 3339, e.g. 2021-05-11T13:20:11.260Z)"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5m"), Ok(TimeDelta::minutes(5)));
        assert_eq!(parse_duration("1h30m"), Ok(TimeDelta::minutes(90)));
        assert_eq!(parse_duration("1.5h"), Ok(TimeDelta::minutes(90)));
        assert_eq!(parse_duration("300ms"), Ok(TimeDelta::milliseconds(300)));
        assert_eq!(parse_duration("-90s"), Ok(TimeDelta::seconds(-90)));
        assert_eq!(parse_duration("0"), Ok(TimeDelta::zero()));
        for bad in ["", "5", "m", "5x", "1..5h", "9999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
