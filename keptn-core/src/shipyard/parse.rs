//! Reading a shipyard from YAML into the model, with every problem located by its path.
//!
//! The YAML is first read into a generic tree (syntax errors carry line and column), then walked
//! by hand so that a wrong type, a missing field or a malformed duration is reported at its exact
//! path. Unknown keys are tolerated, as Keptn tolerates them, but reported as warnings so that a
//! typo (`triggeredon`) does not go unnoticed.

use serde_norway::{Mapping, Value};

use super::v01::{self, ShipyardV01};
use super::{
    GoDuration, Issue, Metadata, Selector, Sequence, Shipyard, ShipyardError, ShipyardSpec, Stage,
    Task, Trigger, validate,
};

/// The format a shipyard was written in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceFormat {
    /// `apiVersion: spec.keptn.sh/0.2.x`, with the `apiVersion` as written.
    V02 {
        /// The `apiVersion` as written.
        api_version: String,
    },
    /// The 0.1 format of Keptn 0.6/0.7 (top-level `stages`), converted to 0.2.
    V01(ShipyardV01),
}

/// A parsed and validated shipyard, with what the parser noticed on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedShipyard {
    /// The shipyard (converted to 0.2 when the source was 0.1).
    pub shipyard: Shipyard,
    /// The format of the source.
    pub format: SourceFormat,
    /// Things that are accepted but probably not meant: unknown keys, selectors that can never
    /// match.
    pub warnings: Vec<Issue>,
}

impl ParsedShipyard {
    /// Whether the source was a 0.1 shipyard that was converted.
    pub fn was_converted(&self) -> bool {
        matches!(self.format, SourceFormat::V01(_))
    }
}

/// Parses and validates a shipyard document, 0.2.x or 0.1.
pub fn parse_document(yaml: &str) -> Result<ParsedShipyard, ShipyardError> {
    let value: Value = serde_norway::from_str(yaml).map_err(syntax_error)?;
    let root = match &value {
        Value::Mapping(root) => root,
        Value::Null => return Err(ShipyardError::invalid("", "the shipyard is empty")),
        other => {
            return Err(ShipyardError::invalid(
                "",
                format!(
                    "expected a mapping at the top of the shipyard, found {}",
                    kind(other)
                ),
            ));
        }
    };
    let mut walker = Walker::default();
    if root.get("apiVersion").is_none() && root.get("stages").is_some() {
        let old = v01::read(root, &mut walker);
        walker.finish()?;
        let old = old.ok_or_else(|| ShipyardError::invalid("stages", "no stage could be read"))?;
        let shipyard = v01::convert_v01(&old);
        let issues = validate::validate(&shipyard);
        if !issues.is_empty() {
            return Err(ShipyardError::Invalid(issues));
        }
        return Ok(ParsedShipyard {
            shipyard,
            format: SourceFormat::V01(old),
            warnings: walker.warnings,
        });
    }
    let shipyard = read_v02(root, &mut walker);
    let mut issues = std::mem::take(&mut walker.issues);
    if let Some(shipyard) = &shipyard {
        // A field the walker already reported (missing, wrong type) is not reported twice.
        for issue in validate::validate(shipyard) {
            if !issues.iter().any(|known| known.path == issue.path) {
                issues.push(issue);
            }
        }
        walker.warnings.extend(validate::warnings(shipyard));
    }
    if !issues.is_empty() {
        return Err(ShipyardError::Invalid(issues));
    }
    let shipyard = shipyard.ok_or_else(|| ShipyardError::invalid("", "not a shipyard"))?;
    Ok(ParsedShipyard {
        format: SourceFormat::V02 {
            api_version: shipyard.api_version.clone(),
        },
        shipyard,
        warnings: walker.warnings,
    })
}

fn syntax_error(err: serde_norway::Error) -> ShipyardError {
    let (line, column) = err
        .location()
        .map_or((0, 0), |loc| (loc.line(), loc.column()));
    let message = err.to_string();
    // The parser's message repeats the location; keep only what it says about the problem.
    let message = match message.split_once(" at line ") {
        Some((head, _)) => head.to_owned(),
        None => message,
    };
    ShipyardError::Syntax {
        line,
        column,
        message,
    }
}

fn read_v02(root: &Mapping, w: &mut Walker) -> Option<Shipyard> {
    w.check_keys(root, "", &["apiVersion", "kind", "metadata", "spec"]);
    let api_version = w
        .required_string(root, "", "apiVersion")
        .unwrap_or_default();
    let kind_value = w.optional_string(root, "", "kind").unwrap_or_default();
    if kind_value != "Shipyard" {
        w.warn(
            "kind",
            format!("{kind_value:?} is not \"Shipyard\"; the document is read as a shipyard"),
        );
    }
    let metadata = match root.get("metadata") {
        None | Some(Value::Null) => Metadata::default(),
        Some(value) => match w.mapping(value, "metadata") {
            Some(map) => {
                w.check_keys(map, "metadata", &["name"]);
                Metadata {
                    name: w
                        .optional_string(map, "metadata", "name")
                        .unwrap_or_default(),
                }
            }
            None => Metadata::default(),
        },
    };
    let stages = match root.get("spec") {
        None | Some(Value::Null) => {
            w.error("spec", "missing: a shipyard needs spec.stages");
            Vec::new()
        }
        Some(spec) => match w.mapping(spec, "spec") {
            Some(spec) => {
                w.check_keys(spec, "spec", &["stages"]);
                let items = w.list(spec.get("stages"), "spec.stages");
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| read_stage(v, &format!("spec.stages[{i}]"), w))
                    .collect()
            }
            None => Vec::new(),
        },
    };
    Some(Shipyard {
        api_version,
        kind: kind_value,
        metadata,
        spec: ShipyardSpec { stages },
    })
}

fn read_stage(value: &Value, path: &str, w: &mut Walker) -> Option<Stage> {
    let map = w.mapping(value, path)?;
    w.check_keys(map, path, &["name", "sequences"]);
    let name = w.required_string(map, path, "name").unwrap_or_default();
    let seq_path = format!("{path}.sequences");
    let sequences = w
        .list(map.get("sequences"), &seq_path)
        .iter()
        .enumerate()
        .filter_map(|(i, v)| read_sequence(v, &format!("{seq_path}[{i}]"), w))
        .collect();
    Some(Stage { name, sequences })
}

fn read_sequence(value: &Value, path: &str, w: &mut Walker) -> Option<Sequence> {
    let map = w.mapping(value, path)?;
    w.check_keys(map, path, &["name", "triggeredOn", "tasks"]);
    let name = w.required_string(map, path, "name").unwrap_or_default();
    let trig_path = format!("{path}.triggeredOn");
    let triggered_on = w
        .list(map.get("triggeredOn"), &trig_path)
        .iter()
        .enumerate()
        .filter_map(|(i, v)| read_trigger(v, &format!("{trig_path}[{i}]"), w))
        .collect();
    let task_path = format!("{path}.tasks");
    let tasks = w
        .list(map.get("tasks"), &task_path)
        .iter()
        .enumerate()
        .filter_map(|(i, v)| read_task(v, &format!("{task_path}[{i}]"), w))
        .collect();
    Some(Sequence {
        name,
        triggered_on,
        tasks,
    })
}

fn read_trigger(value: &Value, path: &str, w: &mut Walker) -> Option<Trigger> {
    let map = w.mapping(value, path)?;
    w.check_keys(map, path, &["event", "selector"]);
    let event = w.required_string(map, path, "event").unwrap_or_default();
    let selector = match map.get("selector") {
        None | Some(Value::Null) => None,
        Some(sel) => {
            let sel_path = format!("{path}.selector");
            let sel = w.mapping(sel, &sel_path)?;
            w.check_keys(sel, &sel_path, &["match"]);
            let match_path = format!("{sel_path}.match");
            let mut match_ = std::collections::BTreeMap::new();
            match sel.get("match") {
                None | Some(Value::Null) => {}
                Some(m) => {
                    if let Some(m) = w.mapping(m, &match_path) {
                        for (key, value) in m {
                            let Some(key) = key.as_str() else {
                                w.error(
                                    &match_path,
                                    format!("keys must be strings, found {}", kind(key)),
                                );
                                continue;
                            };
                            let entry_path = format!("{match_path}.{key}");
                            if let Some(value) = w.string(value, &entry_path) {
                                match_.insert(key.to_owned(), value);
                            }
                        }
                    }
                }
            }
            Some(Selector { match_ })
        }
    };
    Some(Trigger { event, selector })
}

fn read_task(value: &Value, path: &str, w: &mut Walker) -> Option<Task> {
    let map = w.mapping(value, path)?;
    w.check_keys(
        map,
        path,
        &["name", "triggeredAfter", "timeout", "properties"],
    );
    let name = w.required_string(map, path, "name").unwrap_or_default();
    let triggered_after = w.duration(map, path, "triggeredAfter");
    let timeout = w.duration(map, path, "timeout");
    let properties = match map.get("properties") {
        None | Some(Value::Null) => None,
        Some(props @ Value::Mapping(_)) => match serde_json::to_value(props) {
            Ok(json) => Some(json),
            Err(e) => {
                w.error(
                    &format!("{path}.properties"),
                    format!("cannot be represented as JSON: {e}"),
                );
                None
            }
        },
        Some(other) => {
            w.error(
                &format!("{path}.properties"),
                format!("expected a mapping, found {}", kind(other)),
            );
            None
        }
    };
    Some(Task {
        name,
        triggered_after,
        timeout,
        properties,
    })
}

/// Walks the YAML tree, collecting errors and warnings with their paths.
#[derive(Debug, Default)]
pub(super) struct Walker {
    pub(super) issues: Vec<Issue>,
    pub(super) warnings: Vec<Issue>,
}

impl Walker {
    pub(super) fn error(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(Issue::new(path, message));
    }

    pub(super) fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push(Issue::new(path, message));
    }

    pub(super) fn finish(&mut self) -> Result<(), ShipyardError> {
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(ShipyardError::Invalid(std::mem::take(&mut self.issues)))
        }
    }

    pub(super) fn mapping<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a Mapping> {
        match value {
            Value::Mapping(map) => Some(map),
            other => {
                self.error(path, format!("expected a mapping, found {}", kind(other)));
                None
            }
        }
    }

    /// The items of a list; a missing or null value is an empty list.
    pub(super) fn list<'a>(&mut self, value: Option<&'a Value>, path: &str) -> &'a [Value] {
        match value {
            None | Some(Value::Null) => &[],
            Some(Value::Sequence(items)) => items,
            Some(other) => {
                self.error(path, format!("expected a list, found {}", kind(other)));
                &[]
            }
        }
    }

    pub(super) fn string(&mut self, value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            other => {
                self.error(path, format!("expected a string, found {}", kind(other)));
                None
            }
        }
    }

    pub(super) fn required_string(
        &mut self,
        map: &Mapping,
        path: &str,
        key: &str,
    ) -> Option<String> {
        let field = join(path, key);
        match map.get(key) {
            None | Some(Value::Null) => {
                self.error(&field, "missing");
                None
            }
            Some(value) => self.string(value, &field),
        }
    }

    pub(super) fn optional_string(
        &mut self,
        map: &Mapping,
        path: &str,
        key: &str,
    ) -> Option<String> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => self.string(value, &join(path, key)),
        }
    }

    fn duration(&mut self, map: &Mapping, path: &str, key: &str) -> Option<GoDuration> {
        let text = self.optional_string(map, path, key)?;
        match GoDuration::parse(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(&join(path, key), e.to_string());
                None
            }
        }
    }

    pub(super) fn check_keys(&mut self, map: &Mapping, path: &str, known: &[&str]) {
        for key in map.keys() {
            match key.as_str() {
                Some(k) if known.contains(&k) => {}
                Some(k) => self.warn(
                    &join(path, k),
                    format!(
                        "unknown key, ignored (known keys here: {})",
                        known.join(", ")
                    ),
                ),
                None => self.warn(path, format!("a key that is {} is ignored", kind(key))),
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}
