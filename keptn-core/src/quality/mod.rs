//! Quality gates: the SLO/SLI model and Keptn's lighthouse evaluation.
//!
//! Everything here is pure (no I/O except [`offline::evaluate_files`]), so a lighthouse task
//! handler, an SLI provider and the `keptn evaluate` command are thin layers over it:
//!
//! 1. on `evaluation.triggered`: [`evaluation_timeframe`], [`Slo::parse`] of `slo.yaml`,
//!    [`get_sli_triggered`] for the provider;
//! 2. an SLI provider: [`SliFile::parse`] of `sli.yaml`, [`QueryContext::from_get_sli`] and
//!    [`QueryContext::substitute`] for each indicator query;
//! 3. on `get-sli.finished`: [`ComparisonQuery`] for the event store (or [`select_previous`]),
//!    [`evaluate()`], then [`EvaluationOutcome::finished`] with the raw SLO bytes.
//!
//! ```
//! use keptn_core::quality::{evaluate, FinishedContext, SliReport, Slo};
//! use keptn_sdk::event::payload::SliResult;
//! use keptn_sdk::event::KeptnResult;
//!
//! let yaml = br#"
//! spec_version: "1.0"
//! objectives:
//!   - sli: response_time_p95
//!     pass: [{criteria: ["<=+10%", "<600"]}]
//!     warning: [{criteria: ["<=800"]}]
//! total_score: {pass: "90%", warning: "75%"}
//! "#;
//! let slo = Slo::parse(yaml)?;
//! let values = vec![SliResult {
//!     metric: "response_time_p95".into(),
//!     value: 512.0,
//!     success: true,
//!     ..Default::default()
//! }];
//! let outcome = evaluate(&slo, &SliReport::succeeded(values), &[]);
//! assert_eq!(outcome.result, KeptnResult::Pass);
//! assert_eq!(outcome.score, 100.0);
//! let data = outcome.finished(&FinishedContext::default().with_slo_file(yaml.to_vec()));
//! assert_eq!(data.evaluation.unwrap().score, Some(100.0));
//! # Ok::<(), keptn_core::quality::SloError>(())
//! ```
//!
//! Modules: [`slo`] (the SLO file), [`criteria`] (criterion strings), [`aggregate`] (avg and
//! percentiles), [`compare`] (earlier evaluations), [`evaluate`](mod@evaluate) (the scoring),
//! [`outcome`] (the finished data), [`messages`] (Keptn's wording), [`sli`] (the SLI file and
//! query placeholders), [`timeframe`] (the measured interval), [`offline`] (`keptn evaluate`).
//! `docs/quality-gates.md` describes the algorithm and where this implementation departs from
//! Keptn's.

pub mod aggregate;
pub mod compare;
pub mod criteria;
pub mod evaluate;
pub mod messages;
pub mod offline;
pub mod outcome;
pub mod sli;
pub mod slo;
pub mod timeframe;

pub use aggregate::AggregateFunction;
pub use compare::{ComparisonQuery, LIGHTHOUSE_SOURCE, PreviousEvaluation, select_previous};
pub use criteria::{Criterion, CriterionError, CriterionKind, Direction, Operator};
pub use evaluate::{SliReport, evaluate};
pub use offline::{OfflineError, OfflineReport, evaluate_bytes, evaluate_files};
pub use outcome::{EvaluationOutcome, FinishedContext, KeySliFailure};
pub use sli::{QueryContext, SliFile, SliFileError, get_sli_triggered, substitute};
pub use slo::{
    CompareWith, Comparison, CriteriaSet, IncludeResult, Objective, Slo, SloError, SloSpecVersion,
    TotalScore,
};
pub use timeframe::{Timeframe, TimeframeError, evaluation_timeframe};
