//! NATS-style subject patterns: `.`-separated tokens, `*` matches one token, `>` (last) matches
//! one or more tokens.

use std::fmt;
use std::str::FromStr;

/// A validated subject pattern such as `sh.keptn.>` or `sh.keptn.event.*.triggered`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubjectPattern(String);

/// A pattern that is not a valid subject pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid subject pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The rejected pattern.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl SubjectPattern {
    /// Validates a pattern.
    pub fn new(pattern: impl Into<String>) -> Result<Self, PatternError> {
        let pattern = pattern.into();
        let fail = |reason| PatternError {
            pattern: pattern.clone(),
            reason,
        };
        if pattern.is_empty() {
            return Err(fail("the pattern is empty"));
        }
        if pattern.chars().any(char::is_whitespace) {
            return Err(fail("the pattern contains white space"));
        }
        let tokens: Vec<&str> = pattern.split('.').collect();
        for (i, token) in tokens.iter().enumerate() {
            if token.is_empty() {
                return Err(fail("the pattern has an empty token"));
            }
            if *token == ">" && i + 1 != tokens.len() {
                return Err(fail("`>` must be the last token"));
            }
            if token.len() > 1 && (token.contains('*') || token.contains('>')) {
                return Err(fail("`*` and `>` must stand alone as a token"));
            }
        }
        Ok(Self(pattern))
    }

    /// The pattern matching every Keptn event: `sh.keptn.>`.
    pub fn all_keptn() -> Self {
        Self("sh.keptn.>".to_owned())
    }

    /// The pattern of one exact subject (an event type). Fails if the subject contains
    /// wildcards or empty tokens.
    pub fn exact(subject: &str) -> Result<Self, PatternError> {
        let p = Self::new(subject)?;
        if p.is_literal() {
            Ok(p)
        } else {
            Err(PatternError {
                pattern: subject.to_owned(),
                reason: "a subject must not contain wildcards",
            })
        }
    }

    /// Whether the pattern has no wildcard.
    pub fn is_literal(&self) -> bool {
        self.0.split('.').all(|t| t != "*" && t != ">")
    }

    /// The pattern as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `subject` matches.
    pub fn matches(&self, subject: &str) -> bool {
        let mut subject_tokens = subject.split('.');
        for token in self.0.split('.') {
            match token {
                ">" => return subject_tokens.next().is_some_and(|t| !t.is_empty()),
                "*" => match subject_tokens.next() {
                    Some(t) if !t.is_empty() => {}
                    _ => return false,
                },
                literal => {
                    if subject_tokens.next() != Some(literal) {
                        return false;
                    }
                }
            }
        }
        subject_tokens.next().is_none()
    }
}

impl fmt::Display for SubjectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SubjectPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for SubjectPattern {
    type Error = PatternError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> SubjectPattern {
        SubjectPattern::new(s).unwrap()
    }

    #[test]
    fn full_wildcard_matches_one_or_more_tokens() {
        let all = p("sh.keptn.>");
        assert!(all.matches("sh.keptn.event.test.triggered"));
        assert!(all.matches("sh.keptn.x"));
        assert!(!all.matches("sh.keptn"));
        assert!(!all.matches("sh.other.x"));
    }

    #[test]
    fn token_wildcard_matches_exactly_one_token() {
        let t = p("sh.keptn.event.*.triggered");
        assert!(t.matches("sh.keptn.event.test.triggered"));
        assert!(!t.matches("sh.keptn.event.dev.delivery.triggered"));
        assert!(!t.matches("sh.keptn.event.test.finished"));
    }

    #[test]
    fn literals_match_exactly() {
        let t = p("sh.keptn.event.test.triggered");
        assert!(t.matches("sh.keptn.event.test.triggered"));
        assert!(!t.matches("sh.keptn.event.test.triggered.x"));
        assert!(t.is_literal());
    }

    #[test]
    fn bad_patterns_are_rejected_with_a_reason() {
        for (s, needle) in [
            ("", "empty"),
            ("a..b", "empty token"),
            ("a.>.b", "last"),
            ("a.b*", "stand alone"),
            ("a b", "white space"),
        ] {
            let err = SubjectPattern::new(s).unwrap_err();
            assert!(err.to_string().contains(needle), "{s}: {err}");
        }
        assert!(SubjectPattern::exact("a.*").is_err());
    }
}
