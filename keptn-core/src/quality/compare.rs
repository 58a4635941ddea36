//! Which earlier evaluations a new evaluation compares with.
//!
//! Keptn asks its datastore for the latest `sh.keptn.event.evaluation.finished` events of the
//! same project, stage and service, sent by `lighthouse-service`, newest first, leaving out
//! invalidated evaluations and, depending on `include_result_with_score`, those that did not
//! pass (or pass with a warning). [`ComparisonQuery`] is that query, for a handler to hand to
//! its event store; [`select_previous`] applies the same rules to evaluations already in hand
//! (the offline `keptn evaluate`, or a store that cannot filter).

use std::collections::HashSet;

use keptn_sdk::event::payload::{EvaluationFinished, SliEvaluationResult};
use keptn_sdk::event::{EventType, KeptnEvent, KeptnResult, Phase};

use super::slo::{Comparison, IncludeResult, Slo};

/// The source whose evaluations count: Keptn's lighthouse.
pub const LIGHTHOUSE_SOURCE: &str = "lighthouse-service";

/// An earlier evaluation, as far as the comparison needs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreviousEvaluation {
    /// The id of its `evaluation.finished` event (reported in `comparedEvents`), when known.
    pub id: Option<String>,
    /// Its `data.result`.
    pub result: Option<KeptnResult>,
    /// Its `evaluation.indicatorResults`.
    pub indicator_results: Vec<SliEvaluationResult>,
}

impl PreviousEvaluation {
    /// From the data of an `evaluation.finished` event and the event's id.
    pub fn from_finished(id: Option<String>, data: &EvaluationFinished) -> Self {
        Self {
            id,
            result: data.base.result,
            indicator_results: data
                .evaluation
                .as_ref()
                .and_then(|e| e.indicator_results.clone())
                .unwrap_or_default(),
        }
    }

    /// From an `evaluation.finished` event, or `None` when its data cannot be read as one.
    pub fn from_event(event: &KeptnEvent) -> Option<Self> {
        let data: EvaluationFinished = event.data_as().ok()?;
        Some(Self::from_finished(Some(event.id.to_string()), &data))
    }
}

/// The datastore query for earlier evaluations (Keptn's
/// `GET /event/type/sh.keptn.event.evaluation.finished?filter=...&source=lighthouse-service&limit=N&excludeInvalidated=true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparisonQuery {
    /// The project.
    pub project: String,
    /// The stage.
    pub stage: String,
    /// The service.
    pub service: String,
    /// Which results count.
    pub include: IncludeResult,
    /// How many evaluations to fetch (newest first).
    pub limit: usize,
}

impl ComparisonQuery {
    /// The query for an SLO's comparison settings.
    pub fn new(
        comparison: &Comparison,
        project: impl Into<String>,
        stage: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            project: project.into(),
            stage: stage.into(),
            service: service.into(),
            include: comparison.include_result_with_score,
            limit: comparison.number_of_previous_results(),
        }
    }

    /// The query for an SLO.
    pub fn for_slo(
        slo: &Slo,
        project: impl Into<String>,
        stage: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self::new(&slo.comparison, project, stage, service)
    }

    /// The event type queried: `sh.keptn.event.evaluation.finished`.
    pub fn event_type(&self) -> EventType {
        EventType::task("evaluation", Phase::Finished)
    }

    /// The source queried: `lighthouse-service`.
    pub fn source(&self) -> &'static str {
        LIGHTHOUSE_SOURCE
    }

    /// Always true: invalidated evaluations never count.
    pub fn exclude_invalidated(&self) -> bool {
        true
    }

    /// The datastore filter: `data.project:P AND data.stage:S AND data.service:X`, plus
    /// ` AND data.result:pass` or ` AND data.result:pass,warning` (a comma means "one of").
    pub fn filter(&self) -> String {
        let mut filter = format!(
            "data.project:{} AND data.stage:{} AND data.service:{}",
            self.project, self.stage, self.service
        );
        match self.include {
            IncludeResult::All => {}
            IncludeResult::Pass => filter.push_str(" AND data.result:pass"),
            IncludeResult::PassOrWarn => filter.push_str(" AND data.result:pass,warning"),
        }
        filter
    }

    /// The query parameters in Keptn's order (not URL-encoded).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("source", LIGHTHOUSE_SOURCE.to_owned()),
            ("limit", self.limit.to_string()),
            ("excludeInvalidated", "true".to_owned()),
            ("filter", self.filter()),
        ]
    }

    /// The result filter as a set of results, `None` meaning every result.
    pub fn results(&self) -> Option<&'static [KeptnResult]> {
        match self.include {
            IncludeResult::All => None,
            IncludeResult::Pass => Some(&[KeptnResult::Pass]),
            IncludeResult::PassOrWarn => Some(&[KeptnResult::Pass, KeptnResult::Warning]),
        }
    }
}

/// Picks the evaluations to compare with from `candidates` (newest first): drops those whose
/// id is in `invalidated` and those whose result `include_result_with_score` leaves out, and
/// keeps at most [`Comparison::number_of_previous_results`].
pub fn select_previous<I>(
    comparison: &Comparison,
    candidates: I,
    invalidated: &HashSet<String>,
) -> Vec<PreviousEvaluation>
where
    I: IntoIterator<Item = PreviousEvaluation>,
{
    let limit = comparison.number_of_previous_results();
    candidates
        .into_iter()
        .filter(|p| p.id.as_ref().is_none_or(|id| !invalidated.contains(id)))
        .filter(|p| comparison.include_result_with_score.includes(p.result))
        .take(limit)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::slo::CompareWith;

    fn prev(id: &str, result: KeptnResult) -> PreviousEvaluation {
        PreviousEvaluation {
            id: Some(id.to_owned()),
            result: Some(result),
            indicator_results: Vec::new(),
        }
    }

    fn comparison(include: IncludeResult, compare_with: CompareWith, n: u32) -> Comparison {
        Comparison {
            compare_with,
            include_result_with_score: include,
            number_of_comparison_results: n,
            ..Comparison::default()
        }
    }

    #[test]
    fn filter_strings_match_keptn() {
        let mut q = ComparisonQuery::new(&Comparison::default(), "sockshop", "hardening", "carts");
        assert_eq!(
            q.filter(),
            "data.project:sockshop AND data.stage:hardening AND data.service:carts"
        );
        assert_eq!(q.limit, 1);
        q.include = IncludeResult::Pass;
        assert!(q.filter().ends_with(" AND data.result:pass"));
        q.include = IncludeResult::PassOrWarn;
        assert!(q.filter().ends_with(" AND data.result:pass,warning"));
        assert_eq!(
            q.event_type().to_string(),
            "sh.keptn.event.evaluation.finished"
        );
        assert_eq!(
            q.query_pairs()[0],
            ("source", "lighthouse-service".to_owned())
        );
        assert_eq!(
            q.query_pairs()[2],
            ("excludeInvalidated", "true".to_owned())
        );
    }

    #[test]
    fn selection_filters_invalidated_and_results_then_limits() {
        let candidates = vec![
            prev("e1", KeptnResult::Fail),
            prev("e2", KeptnResult::Pass),
            prev("e3", KeptnResult::Warning),
            prev("e4", KeptnResult::Pass),
            prev("e5", KeptnResult::Pass),
        ];
        let invalidated: HashSet<String> = ["e4".to_owned()].into();
        let ids = |c: Comparison| -> Vec<String> {
            select_previous(&c, candidates.clone(), &invalidated)
                .into_iter()
                .filter_map(|p| p.id)
                .collect()
        };
        assert_eq!(
            ids(comparison(
                IncludeResult::All,
                CompareWith::SeveralResults,
                3
            )),
            ["e1", "e2", "e3"]
        );
        assert_eq!(
            ids(comparison(
                IncludeResult::Pass,
                CompareWith::SeveralResults,
                3
            )),
            ["e2", "e5"]
        );
        assert_eq!(
            ids(comparison(
                IncludeResult::PassOrWarn,
                CompareWith::SingleResult,
                3
            )),
            ["e2"]
        );
        assert_eq!(
            ids(comparison(
                IncludeResult::PassOrWarn,
                CompareWith::Unspecified,
                9
            )),
            ["e2", "e3", "e5"]
        );
    }

    #[test]
    fn evaluations_without_result_only_count_for_all() {
        let unknown = PreviousEvaluation::default();
        assert!(IncludeResult::All.includes(unknown.result));
        assert!(!IncludeResult::Pass.includes(unknown.result));
        assert!(!IncludeResult::PassOrWarn.includes(unknown.result));
    }
}
