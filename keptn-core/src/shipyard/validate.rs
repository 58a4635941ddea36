//! The rules a shipyard must follow, and the stage rule of project updates.

use std::collections::{BTreeSet, HashSet};

use super::{API_VERSION_PREFIX, BUILTIN_EVALUATION_SEQUENCE, Issue, Shipyard, ShipyardError};

/// Whether `name` is a valid stage name: lowercase letters, digits and `-`, starting with a letter
/// and not ending with `-`. A stage name is also a git branch and part of a namespace name.
pub fn is_valid_stage_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_lowercase()
                && (last.is_ascii_lowercase() || last.is_ascii_digit())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        }
        _ => false,
    }
}

/// Sequence and task names end up in event types and subjects: no dots, spaces or wildcards.
fn is_valid_element_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a project update: the new shipyard must have exactly the stages of the current one
/// (order may change; no stage may be added, removed or renamed).
pub fn validate_stage_update(current: &Shipyard, updated: &Shipyard) -> Result<(), ShipyardError> {
    let old: BTreeSet<&str> = current.stage_names().collect();
    let new: BTreeSet<&str> = updated.stage_names().collect();
    if old == new {
        return Ok(());
    }
    Err(ShipyardError::StagesChanged {
        added: new.difference(&old).map(|s| (*s).to_owned()).collect(),
        removed: old.difference(&new).map(|s| (*s).to_owned()).collect(),
    })
}

/// Parses the version of an `apiVersion` (`spec.keptn.sh/0.2.3`, or a bare `0.2.3`) into
/// `(major, minor, patch)`.
fn api_version_number(api_version: &str) -> Option<(u64, u64, u64)> {
    let raw = api_version
        .strip_prefix(API_VERSION_PREFIX)
        .unwrap_or(api_version);
    let raw = raw.strip_prefix('v').unwrap_or(raw);
    let core = raw.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// Every rule violation of a shipyard, in document order.
pub(super) fn validate(shipyard: &Shipyard) -> Vec<Issue> {
    let mut issues = Vec::new();
    let api_version = &shipyard.api_version;
    if api_version.is_empty() {
        issues.push(Issue::new("apiVersion", "missing"));
    } else {
        match api_version_number(api_version) {
            None => issues.push(Issue::new(
                "apiVersion",
                format!("{api_version:?} is not a shipyard version (expected spec.keptn.sh/0.2.x)"),
            )),
            Some(v) if v < (0, 2, 0) => issues.push(Issue::new(
                "apiVersion",
                format!(
                    "{api_version:?} is not supported: shipyards need spec.keptn.sh/0.2.0 or later"
                ),
            )),
            Some(_) => {}
        }
    }
    let stages = &shipyard.spec.stages;
    if stages.is_empty() {
        issues.push(Issue::new(
            "spec.stages",
            "a shipyard needs at least one stage",
        ));
    }
    let mut stage_names = HashSet::new();
    for (i, stage) in stages.iter().enumerate() {
        let path = format!("spec.stages[{i}]");
        if stage.name.is_empty() {
            issues.push(Issue::new(format!("{path}.name"), "missing"));
        } else if !is_valid_stage_name(&stage.name) {
            issues.push(Issue::new(
                format!("{path}.name"),
                format!(
                    "{:?} is not a valid stage name (lowercase letters, digits and '-', \
                     starting with a letter and not ending with '-')",
                    stage.name
                ),
            ));
        } else if !stage_names.insert(stage.name.as_str()) {
            issues.push(Issue::new(
                format!("{path}.name"),
                format!("stage {:?} is declared twice", stage.name),
            ));
        }
        let mut seq_names = HashSet::new();
        for (j, seq) in stage.sequences.iter().enumerate() {
            let path = format!("{path}.sequences[{j}]");
            if seq.name.is_empty() {
                issues.push(Issue::new(format!("{path}.name"), "missing"));
            } else if !is_valid_element_name(&seq.name) {
                issues.push(Issue::new(
                    format!("{path}.name"),
                    format!(
                        "{:?} is not a valid sequence name (letters, digits, '-' and '_')",
                        seq.name
                    ),
                ));
            } else if !seq_names.insert(seq.name.as_str()) {
                issues.push(Issue::new(
                    format!("{path}.name"),
                    format!(
                        "sequence {:?} is declared twice in stage {:?}",
                        seq.name, stage.name
                    ),
                ));
            }
            for (k, trigger) in seq.triggered_on.iter().enumerate() {
                let path = format!("{path}.triggeredOn[{k}].event");
                if let Some(problem) = check_trigger_event(shipyard, &trigger.event) {
                    issues.push(Issue::new(path, problem));
                }
            }
            if seq.tasks.is_empty() {
                issues.push(Issue::new(
                    format!("{path}.tasks"),
                    format!(
                        "sequence {:?} has no tasks: a sequence needs at least one task",
                        seq.name
                    ),
                ));
            }
            for (k, task) in seq.tasks.iter().enumerate() {
                let path = format!("{path}.tasks[{k}]");
                if task.name.is_empty() {
                    issues.push(Issue::new(format!("{path}.name"), "missing"));
                } else if !is_valid_element_name(&task.name) {
                    issues.push(Issue::new(
                        format!("{path}.name"),
                        format!(
                            "{:?} is not a valid task name (letters, digits, '-' and '_')",
                            task.name
                        ),
                    ));
                }
                if task
                    .timeout
                    .as_ref()
                    .is_some_and(|t| t.duration().is_zero())
                {
                    issues.push(Issue::new(
                        format!("{path}.timeout"),
                        "must be greater than zero",
                    ));
                }
                if let Some(props) = &task.properties {
                    if !props.is_object() {
                        issues.push(Issue::new(
                            format!("{path}.properties"),
                            "expected a mapping",
                        ));
                    }
                }
            }
        }
    }
    issues
}

/// Why a `triggeredOn` event does not name a finished sequence of the shipyard.
fn check_trigger_event(shipyard: &Shipyard, event: &str) -> Option<String> {
    let parts: Vec<&str> = event.split('.').collect();
    let [stage, sequence, phase] = parts.as_slice() else {
        return Some(format!(
            "{event:?} is not of the form <stage>.<sequence>.finished"
        ));
    };
    if *phase != "finished" || stage.is_empty() || sequence.is_empty() {
        return Some(format!(
            "{event:?} is not of the form <stage>.<sequence>.finished"
        ));
    }
    let Some(found) = shipyard.stage(stage) else {
        return Some(format!("{event:?} names the unknown stage {stage:?}"));
    };
    let known = found.sequences.iter().any(|s| s.name == *sequence)
        || *sequence == BUILTIN_EVALUATION_SEQUENCE;
    if !known {
        return Some(format!(
            "{event:?} names the unknown sequence {sequence:?} of stage {stage:?}"
        ));
    }
    None
}

/// Accepted but suspicious: selectors that can never match.
pub(super) fn warnings(shipyard: &Shipyard) -> Vec<Issue> {
    let mut warnings = Vec::new();
    for (i, stage) in shipyard.spec.stages.iter().enumerate() {
        for (j, seq) in stage.sequences.iter().enumerate() {
            for (k, trigger) in seq.triggered_on.iter().enumerate() {
                let Some(selector) = &trigger.selector else {
                    continue;
                };
                let path =
                    format!("spec.stages[{i}].sequences[{j}].triggeredOn[{k}].selector.match");
                for (key, value) in &selector.match_ {
                    if key != "result" && !key.ends_with(".result") {
                        warnings.push(Issue::new(
                            format!("{path}.{key}"),
                            "is ignored: only result and <task>.result are compared",
                        ));
                    } else if !matches!(value.as_str(), "pass" | "warning" | "fail") {
                        warnings.push(Issue::new(
                            format!("{path}.{key}"),
                            format!(
                                "{value:?} never matches: results are compared literally with \
                                 pass, warning or fail"
                            ),
                        ));
                    }
                }
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_follow_the_entity_rule() {
        for ok in ["dev", "a", "prod-1", "hardening"] {
            assert!(is_valid_stage_name(ok), "{ok}");
        }
        for bad in ["", "Dev", "1dev", "dev-", "de v", "dev_1", "dev.x"] {
            assert!(!is_valid_stage_name(bad), "{bad}");
        }
    }

    #[test]
    fn api_versions_parse() {
        assert_eq!(api_version_number("spec.keptn.sh/0.2.3"), Some((0, 2, 3)));
        assert_eq!(api_version_number("spec.keptn.sh/0.2"), Some((0, 2, 0)));
        assert_eq!(api_version_number("0.1.7"), Some((0, 1, 7)));
        assert_eq!(api_version_number("spec.keptn.sh/x"), None);
    }
}
