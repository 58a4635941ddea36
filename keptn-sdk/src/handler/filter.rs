//! Which projects, stages and services (and which data) a runner works for.

use serde_json::Value;

use crate::event::KeptnEvent;

/// Project / stage / service filter, as the distributor's `PROJECT_FILTER`, `STAGE_FILTER` and
/// `SERVICE_FILTER`: an empty list accepts everything; otherwise the event's value must be one
/// of the list. An event without the field does not match a non-empty list.
///
/// [`Filter::data_field`] adds conditions on other fields of `data`, for services that handle
/// only some of a task's events: an SLI provider answers the `get-sli.triggered` events whose
/// `get-sli.sliProvider` names it, and leaves the others to the other providers.
///
/// ```
/// use keptn_sdk::handler::Filter;
///
/// let mine = Filter::new().data_field("get-sli.sliProvider", ["prometheus"]);
/// # drop(mine);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    projects: Vec<String>,
    stages: Vec<String>,
    services: Vec<String>,
    data_fields: Vec<DataField>,
}

/// A condition on a string field of `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DataField {
    path: Vec<String>,
    values: Vec<String>,
}

impl Filter {
    /// A filter that accepts every event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts only these projects.
    pub fn projects<I, S>(mut self, projects: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.projects = projects.into_iter().map(Into::into).collect();
        self
    }

    /// Accepts only these stages.
    pub fn stages<I, S>(mut self, stages: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.stages = stages.into_iter().map(Into::into).collect();
        self
    }

    /// Accepts only these services.
    pub fn services<I, S>(mut self, services: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.services = services.into_iter().map(Into::into).collect();
        self
    }

    /// Accepts only events whose `data` holds, at the dot-separated `path` (`get-sli.sliProvider`
    /// is `data["get-sli"]["sliProvider"]`), a string equal to one of `values`. An event without
    /// the field, or with a value that is not a string, does not match. Several conditions must
    /// all hold. Keys that contain a dot cannot be addressed.
    pub fn data_field<I, S>(mut self, path: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.data_fields.push(DataField {
            path: path.split('.').map(str::to_owned).collect(),
            values: values.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// A filter from comma-separated lists, as the distributor reads them from its environment
    /// (`"sockshop,podtato"`); blanks around names and empty items are ignored.
    pub fn from_lists(projects: &str, stages: &str, services: &str) -> Self {
        fn split(list: &str) -> Vec<String> {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        }
        Self {
            projects: split(projects),
            stages: split(stages),
            services: split(services),
            data_fields: Vec::new(),
        }
    }

    /// Whether the filter accepts everything.
    pub fn is_empty(&self) -> bool {
        self.projects.is_empty()
            && self.stages.is_empty()
            && self.services.is_empty()
            && self.data_fields.is_empty()
    }

    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &KeptnEvent) -> bool {
        fn accepts(list: &[String], value: Option<&str>) -> bool {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|item| item == v))
        }
        accepts(&self.projects, event.project())
            && accepts(&self.stages, event.stage())
            && accepts(&self.services, event.service())
            && self.data_fields.iter().all(|field| {
                let value = field
                    .path
                    .iter()
                    .try_fold(&event.data, |node, key| node.get(key))
                    .and_then(Value::as_str);
                value.is_some_and(|v| field.values.iter().any(|item| item == v))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventData, EventType, Phase};

    fn event(project: &str, stage: &str, service: &str) -> KeptnEvent {
        KeptnEvent::builder(EventType::task("test", Phase::Triggered))
            .source("test")
            .data(&EventData::scope(project, stage, service))
            .unwrap()
            .build()
            .unwrap()
    }

    #[test]
    fn empty_filter_accepts_everything() {
        assert!(Filter::new().matches(&event("a", "b", "c")));
        assert!(Filter::new().is_empty());
    }

    #[test]
    fn every_non_empty_list_must_match() {
        let f = Filter::new()
            .projects(["sockshop"])
            .stages(["dev", "staging"]);
        assert!(f.matches(&event("sockshop", "dev", "carts")));
        assert!(f.matches(&event("sockshop", "staging", "orders")));
        assert!(!f.matches(&event("sockshop", "production", "carts")));
        assert!(!f.matches(&event("other", "dev", "carts")));
    }

    #[test]
    fn data_fields_match_strings_at_a_path() {
        let mut e = event("sockshop", "dev", "carts");
        e.data["get-sli"] = serde_json::json!({"sliProvider": "prometheus"});
        let prometheus = Filter::new().data_field("get-sli.sliProvider", ["prometheus"]);
        assert!(!prometheus.is_empty());
        assert!(prometheus.matches(&e));
        assert!(
            !Filter::new()
                .data_field("get-sli.sliProvider", ["builtin"])
                .matches(&e)
        );
        assert!(
            !Filter::new()
                .data_field("get-sli.missing", ["prometheus"])
                .matches(&e)
        );
        e.data["get-sli"]["sliProvider"] = serde_json::json!(7);
        assert!(!prometheus.matches(&e), "only strings match");
        let both = Filter::new()
            .projects(["sockshop"])
            .data_field("stage", ["dev", "staging"])
            .data_field("service", ["orders"]);
        assert!(!both.matches(&event("sockshop", "dev", "carts")));
        assert!(both.matches(&event("sockshop", "staging", "orders")));
    }

    #[test]
    fn lists_parse_like_the_distributor_environment() {
        let f = Filter::from_lists(" sockshop , podtato,", "", "carts");
        assert_eq!(
            f,
            Filter::new()
                .projects(["sockshop", "podtato"])
                .services(["carts"])
        );
    }
}
