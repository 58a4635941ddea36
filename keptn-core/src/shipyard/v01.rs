//! The 0.1 shipyard of Keptn 0.6/0.7 and its conversion to an equivalent 0.2 shipyard.
//!
//! A 0.1 shipyard lists stages with strategies; the workflow between them was hard-wired in the
//! services of that time. The conversion spells that workflow out as sequences:
//!
//! | 0.1 stage field | 0.2 result |
//! |---|---|
//! | every stage | a `delivery` sequence, triggered by the previous stage's `delivery.finished` |
//! | `deployment_strategy: S` | `deployment` task (`deploymentstrategy: S`, `duplicate` read as `blue_green_service`) first and `release` task last |
//! | `test_strategy: T` | `test` task (`teststrategy: T`) after the deployment |
//! | always | `evaluation` task |
//! | `approval_strategy: {pass, warning}` | `approval` task (`pass`, `warning`; `automatic` when absent) before `release` |
//! | `deployment_strategy: blue_green_service` | `rollback` sequence (one `rollback` task) on this stage's `delivery.finished` with `result: fail` |
//! | `remediation_strategy: automated` | `remediation` sequence: `get-action`, `action`, then `evaluation` after 10m over a 10m timeframe; re-triggered by its own `remediation.finished` with `evaluation.result: fail` |

use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_norway::{Mapping, Value};

use super::parse::{Walker, kind};
use super::validate::is_valid_stage_name;
use super::{
    CONVERTED_API_VERSION, GoDuration, Metadata, Selector, Sequence, Shipyard, ShipyardSpec, Stage,
    Task, Trigger,
};

/// A 0.1 shipyard: top-level `stages` with strategies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipyardV01 {
    /// The stages in promotion order.
    pub stages: Vec<StageV01>,
}

/// A stage of a 0.1 shipyard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageV01 {
    /// The stage name.
    pub name: String,
    /// `direct`, `blue_green_service` (`duplicate` in 0.6) or `user_managed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_strategy: Option<String>,
    /// `functional`, `performance`, `real-user` or another test strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_strategy: Option<String>,
    /// Approval before promotion, per evaluation result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_strategy: Option<ApprovalStrategyV01>,
    /// `automated` enables remediation in this stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation_strategy: Option<String>,
}

/// `approval_strategy` of a 0.1 stage: `automatic` or `manual` per result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalStrategyV01 {
    /// For evaluations that passed.
    pub pass: String,
    /// For evaluations with a warning.
    pub warning: String,
}

const DEPLOYMENT_STRATEGIES: &[&str] =
    &["direct", "blue_green_service", "duplicate", "user_managed"];
const APPROVAL_MODES: &[&str] = &["automatic", "manual"];

/// Reads a 0.1 shipyard, reporting problems to `w`.
pub(super) fn read(root: &Mapping, w: &mut Walker) -> Option<ShipyardV01> {
    w.check_keys(root, "", &["stages"]);
    let items = w.list(root.get("stages"), "stages");
    if items.is_empty() {
        w.error("stages", "a shipyard needs at least one stage");
    }
    let mut stages = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("stages[{i}]");
        let Some(map) = w.mapping(item, &path) else {
            continue;
        };
        w.check_keys(
            map,
            &path,
            &[
                "name",
                "deployment_strategy",
                "test_strategy",
                "approval_strategy",
                "remediation_strategy",
            ],
        );
        let name = w.required_string(map, &path, "name").unwrap_or_default();
        if !name.is_empty() && !is_valid_stage_name(&name) {
            w.error(
                &format!("{path}.name"),
                format!(
                    "{name:?} is not a valid stage name (lowercase letters, digits and '-', \
                     starting with a letter and not ending with '-')"
                ),
            );
        }
        if stages.iter().any(|s: &StageV01| s.name == name) && !name.is_empty() {
            w.error(
                &format!("{path}.name"),
                format!("stage {name:?} is declared twice"),
            );
        }
        let deployment_strategy = w
            .optional_string(map, &path, "deployment_strategy")
            .filter(|s| !s.is_empty());
        if let Some(strategy) = &deployment_strategy {
            if !DEPLOYMENT_STRATEGIES.contains(&strategy.as_str()) {
                w.error(
                    &format!("{path}.deployment_strategy"),
                    format!(
                        "{strategy:?} is not a deployment strategy (expected direct, \
                         blue_green_service or user_managed)"
                    ),
                );
            }
        }
        let test_strategy = w
            .optional_string(map, &path, "test_strategy")
            .filter(|s| !s.is_empty());
        let approval_strategy = read_approval(map.get("approval_strategy"), &path, w);
        let remediation_strategy = w
            .optional_string(map, &path, "remediation_strategy")
            .filter(|s| !s.is_empty());
        if let Some(r) = &remediation_strategy {
            if r != "automated" {
                w.warn(
                    &format!("{path}.remediation_strategy"),
                    format!("{r:?} does not enable remediation (only \"automated\" does)"),
                );
            }
        }
        stages.push(StageV01 {
            name,
            deployment_strategy,
            test_strategy,
            approval_strategy,
            remediation_strategy,
        });
    }
    Some(ShipyardV01 { stages })
}

/// `approval_strategy` is a mapping in Keptn's code; the spec's example writes a list of
/// one-entry mappings. Both are read.
fn read_approval(value: Option<&Value>, path: &str, w: &mut Walker) -> Option<ApprovalStrategyV01> {
    let field = format!("{path}.approval_strategy");
    let mut pass = None;
    let mut warning = None;
    let mut read_entries = |map: &Mapping, w: &mut Walker| {
        for (key, value) in map {
            let key_name = key.as_str().unwrap_or_default();
            let entry = format!("{field}.{key_name}");
            let slot = match key_name {
                "pass" => &mut pass,
                "warning" => &mut warning,
                _ => {
                    w.warn(
                        &entry,
                        "unknown key, ignored (known keys here: pass, warning)",
                    );
                    continue;
                }
            };
            if let Some(mode) = w.string(value, &entry) {
                if APPROVAL_MODES.contains(&mode.as_str()) {
                    *slot = Some(mode);
                } else {
                    w.error(
                        &entry,
                        format!(
                            "{mode:?} is not an approval strategy (expected automatic or manual)"
                        ),
                    );
                }
            }
        }
    };
    match value {
        None | Some(Value::Null) => return None,
        Some(Value::Mapping(map)) => read_entries(map, w),
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(map) = w.mapping(item, &format!("{field}[{i}]")) {
                    read_entries(map, w);
                }
            }
        }
        Some(other) => {
            w.error(&field, format!("expected a mapping, found {}", kind(other)));
            return None;
        }
    }
    Some(ApprovalStrategyV01 {
        pass: pass.unwrap_or_else(|| "automatic".to_owned()),
        warning: warning.unwrap_or_else(|| "automatic".to_owned()),
    })
}

fn task(name: &str, properties: Option<serde_json::Value>) -> Task {
    Task {
        name: name.to_owned(),
        properties,
        ..Task::default()
    }
}

fn normalized_strategy(strategy: &str) -> &str {
    if strategy == "duplicate" {
        "blue_green_service"
    } else {
        strategy
    }
}

/// Converts a 0.1 shipyard to the equivalent 0.2 shipyard (see the module documentation for the
/// mapping).
pub fn convert_v01(old: &ShipyardV01) -> Shipyard {
    let mut stages = Vec::with_capacity(old.stages.len());
    for (index, stage) in old.stages.iter().enumerate() {
        let strategy = stage
            .deployment_strategy
            .as_deref()
            .map(normalized_strategy);
        let mut tasks = Vec::new();
        if let Some(strategy) = strategy {
            tasks.push(task(
                "deployment",
                Some(json!({"deploymentstrategy": strategy})),
            ));
        }
        if let Some(test) = &stage.test_strategy {
            tasks.push(task("test", Some(json!({"teststrategy": test}))));
        }
        tasks.push(task("evaluation", None));
        if let Some(approval) = &stage.approval_strategy {
            tasks.push(task(
                "approval",
                Some(json!({"pass": approval.pass, "warning": approval.warning})),
            ));
        }
        if strategy.is_some() {
            tasks.push(task("release", None));
        }
        let triggered_on = match index.checked_sub(1).and_then(|i| old.stages.get(i)) {
            Some(previous) => vec![Trigger {
                event: format!("{}.delivery.finished", previous.name),
                selector: None,
            }],
            None => Vec::new(),
        };
        let mut sequences = vec![Sequence {
            name: "delivery".to_owned(),
            triggered_on,
            tasks,
        }];
        if strategy == Some("blue_green_service") {
            sequences.push(Sequence {
                name: "rollback".to_owned(),
                triggered_on: vec![Trigger {
                    event: format!("{}.delivery.finished", stage.name),
                    selector: Some(Selector {
                        match_: [("result".to_owned(), "fail".to_owned())].into(),
                    }),
                }],
                tasks: vec![task("rollback", None)],
            });
        }
        if stage.remediation_strategy.as_deref() == Some("automated") {
            sequences.push(Sequence {
                name: "remediation".to_owned(),
                triggered_on: vec![Trigger {
                    event: format!("{}.remediation.finished", stage.name),
                    selector: Some(Selector {
                        match_: [("evaluation.result".to_owned(), "fail".to_owned())].into(),
                    }),
                }],
                tasks: vec![
                    task("get-action", None),
                    task("action", None),
                    Task {
                        name: "evaluation".to_owned(),
                        triggered_after: GoDuration::parse("10m").ok(),
                        timeout: None,
                        properties: Some(json!({"timeframe": "10m"})),
                    },
                ],
            });
        }
        stages.push(Stage {
            name: stage.name.clone(),
            sequences,
        });
    }
    Shipyard {
        api_version: CONVERTED_API_VERSION.to_owned(),
        kind: "Shipyard".to_owned(),
        metadata: Metadata {
            name: "shipyard".to_owned(),
        },
        spec: ShipyardSpec { stages },
    }
}
