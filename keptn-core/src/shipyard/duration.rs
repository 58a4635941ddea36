//! Go durations (`10m`, `1h30m`, `500ms`), the format of `triggeredAfter` and task timeouts.
//!
//! The grammar is the one of Go's `time.ParseDuration`: an optional sign, then one or more
//! decimal numbers, each with an optional fraction and a mandatory unit (`ns`, `us`, `µs`,
//! `ms`, `s`, `m`, `h`); the lone string `0` is also accepted. Shipyards only use
//! non-negative durations, so [`GoDuration::parse`] rejects a negative one.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration written the Go way. Keeps the text it was parsed from, so that a
/// shipyard serializes back exactly as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GoDuration {
    text: String,
    value: Duration,
}

/// Why a string is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not a duration ({reason}; expected a Go duration such as 10m, 1h30m or 500ms)"
)]
pub struct DurationError {
    /// The rejected text.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl GoDuration {
    /// Parses a non-negative Go duration.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let nanos = parse_nanos(text)?;
        if nanos < 0 {
            return Err(DurationError {
                value: text.to_owned(),
                reason: "a duration here must not be negative",
            });
        }
        let nanos = u64::try_from(nanos).map_err(|_| DurationError {
            value: text.to_owned(),
            reason: "the duration is too large",
        })?;
        Ok(Self {
            text: text.to_owned(),
            value: Duration::from_nanos(nanos),
        })
    }

    /// A duration from a standard one, written in Go's canonical form (`1h30m0s` becomes `1h30m`).
    pub fn from_duration(value: Duration) -> Self {
        Self {
            text: format_duration(value),
            value,
        }
    }

    /// The duration.
    pub fn duration(&self) -> Duration {
        self.value
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for GoDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

const NANOS_PER_UNIT: &[(&str, i128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Go's `time.ParseDuration` range: a signed 64-bit count of nanoseconds.
const MAX_NANOS: i128 = i64::MAX as i128;

/// Parses a Go duration into signed nanoseconds.
pub fn parse_nanos(text: &str) -> Result<i128, DurationError> {
    let err = |reason| DurationError {
        value: text.to_owned(),
        reason,
    };
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err("the duration is empty"));
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err("a number is missing"));
        }
        let unit_len = after_number
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_number.len(), |(i, _)| i);
        let (unit, after_unit) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(err("a unit is missing (ns, us, ms, s, m or h)"));
        }
        let scale = NANOS_PER_UNIT
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| err("unknown unit (expected ns, us, ms, s, m or h)"))?;
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse::<i128>()
                .map_err(|_| err("the duration is too large"))?
        };
        let mut component = whole
            .checked_mul(scale)
            .filter(|v| *v <= MAX_NANOS)
            .ok_or_else(|| err("the duration is too large"))?;
        if !frac_part.is_empty() {
            // Digits beyond nanosecond precision cannot change the result; ignore them.
            let digits = &frac_part[..frac_part.len().min(18)];
            let numerator: i128 = digits.parse().map_err(|_| err("malformed fraction"))?;
            let denominator = 10i128.pow(digits.len() as u32);
            component += numerator * scale / denominator;
        }
        total = total
            .checked_add(component)
            .filter(|v| *v <= MAX_NANOS)
            .ok_or_else(|| err("the duration is too large"))?;
        rest = after_unit;
    }
    Ok(if negative { -total } else { total })
}

/// Formats a duration the way Go prints it (`1h30m0s`, `500ms`, `0s`), without trailing zero
/// components after the largest unit (`1h30m`, `10m`, `2h`).
pub fn format_duration(value: Duration) -> String {
    let nanos = value.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return trim_fraction(nanos, 1_000, "us");
    }
    if nanos < 1_000_000_000 {
        return trim_fraction(nanos, 1_000_000, "ms");
    }
    let total_secs = value.as_secs();
    let hours = total_secs / 3600;
    let minutes = (total_secs % 3600) / 60;
    let secs = total_secs % 60;
    let sub = value.subsec_nanos();
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if secs > 0 || sub > 0 {
        if sub > 0 {
            let frac = format!("{sub:09}");
            out.push_str(&format!("{secs}.{}s", frac.trim_end_matches('0')));
        } else {
            out.push_str(&format!("{secs}s"));
        }
    }
    out
}

fn trim_fraction(nanos: u128, unit: u128, suffix: &str) -> String {
    let whole = nanos / unit;
    let rest = nanos % unit;
    if rest == 0 {
        return format!("{whole}{suffix}");
    }
    let width = unit.ilog10() as usize;
    let frac = format!("{rest:0width$}");
    format!("{whole}.{}{suffix}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        for (text, expected) in [
            ("10m", Duration::from_secs(600)),
            ("1h30m", Duration::from_secs(5400)),
            ("500ms", Duration::from_millis(500)),
            ("1.5h", Duration::from_secs(5400)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("+2s", Duration::from_secs(2)),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
            ("3us", Duration::from_micros(3)),
            ("3\u{b5}s", Duration::from_micros(3)),
            ("1h1m1s1ms1us1ns", Duration::from_nanos(3_661_001_001_001)),
        ] {
            assert_eq!(
                GoDuration::parse(text).unwrap().duration(),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_durations_are_rejected_with_a_reason() {
        for (text, reason) in [
            ("10x", "unknown unit"),
            ("10", "unit is missing"),
            ("", "empty"),
            ("m", "number is missing"),
            ("-1s", "negative"),
            ("99999999999h", "too large"),
            ("1h 2m", "unknown unit"),
        ] {
            let err = GoDuration::parse(text).unwrap_err();
            assert!(err.to_string().contains(reason), "{text}: {err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("{text:?} is not a duration"))
            );
        }
    }

    #[test]
    fn negative_durations_parse_as_nanos() {
        assert_eq!(parse_nanos("-1.5s").unwrap(), -1_500_000_000);
    }

    #[test]
    fn durations_format_like_go() {
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(3601)), "1h1s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn text_is_kept_for_serialization() {
        let d = GoDuration::parse("90s").unwrap();
        assert_eq!(d.to_string(), "90s");
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"90s\"");
        assert_eq!(GoDuration::from_duration(d.duration()).as_str(), "1m30s");
    }
}
