//! Lighthouse evaluation cost: an SLO with 100 objectives against 10 earlier evaluations.
//!
//! `cargo bench -p keptn-core --no-default-features --bench quality`
//!
//! - `evaluate/100x10`: the scoring alone ([`evaluate`]) — the target is well under 1 ms;
//! - `evaluate_and_finish/100x10`: scoring plus the `evaluation.finished` data serialized to
//!   JSON (what a handler sends);
//! - `parse_slo/100`: reading the SLO file.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keptn_core::quality::{FinishedContext, PreviousEvaluation, SliReport, Slo, evaluate};
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::{ObjectiveStatus, SliEvaluationResult, SliResult};

const OBJECTIVES: usize = 100;
const PREVIOUS: usize = 10;

/// 100 objectives mixing relative and absolute criteria, two pass sets on some, warnings,
/// key SLIs and a few informational ones; p90 aggregation over 10 earlier results.
fn slo_yaml() -> String {
    let mut y = String::from(
        "spec_version: \"1.0\"\ncomparison:\n  compare_with: several_results\n  number_of_comparison_results: 10\n  include_result_with_score: pass_or_warn\n  aggregate_function: p90\nobjectives:\n",
    );
    for i in 0..OBJECTIVES {
        y.push_str(&format!(
            "  - sli: indicator_{i}\n    displayName: \"Indicator {i}\"\n"
        ));
        if i % 10 == 9 {
            continue; // informational
        }
        y.push_str(&format!(
            "    weight: {}\n    key_sli: {}\n    pass:\n      - criteria: [\"<=+10%\", \"<{}\"]\n",
            1 + i % 3,
            i % 25 == 0,
            600 + i
        ));
        if i % 4 == 0 {
            y.push_str("      - criteria: [\">=-5%\"]\n");
        }
        y.push_str("    warning:\n      - criteria: [\"<=800\"]\n");
    }
    y.push_str("total_score:\n  pass: \"90%\"\n  warning: \"75%\"\n");
    y
}

fn sli(metric: String, value: f64) -> SliResult {
    SliResult {
        metric,
        value,
        success: true,
        ..SliResult::default()
    }
}

fn inputs() -> (Vec<u8>, Slo, SliReport, Vec<PreviousEvaluation>) {
    let yaml = slo_yaml().into_bytes();
    let slo = Slo::parse(&yaml).expect("benchmark SLO parses");
    let current = (0..OBJECTIVES)
        .map(|i| sli(format!("indicator_{i}"), 400.0 + (i * 7 % 300) as f64))
        .collect();
    let previous = (0..PREVIOUS)
        .map(|e| PreviousEvaluation {
            id: Some(format!("evaluation-{e}")),
            result: Some(KeptnResult::Pass),
            indicator_results: (0..OBJECTIVES)
                .map(|i| SliEvaluationResult {
                    score: 1.0,
                    value: sli(
                        format!("indicator_{i}"),
                        380.0 + ((i + e) * 11 % 250) as f64,
                    ),
                    display_name: format!("Indicator {i}"),
                    pass_targets: Vec::new(),
                    warning_targets: Vec::new(),
                    key_sli: false,
                    status: ObjectiveStatus::Pass,
                })
                .collect(),
        })
        .collect();
    (yaml, slo, SliReport::succeeded(current), previous)
}

fn bench(c: &mut Criterion) {
    let (yaml, slo, report, previous) = inputs();
    let ctx = FinishedContext::default().with_slo_file(yaml.clone());

    c.bench_function("evaluate/100x10", |b| {
        b.iter(|| evaluate(black_box(&slo), black_box(&report), black_box(&previous)))
    });
    c.bench_function("evaluate_and_finish/100x10", |b| {
        b.iter(|| {
            let outcome = evaluate(black_box(&slo), black_box(&report), black_box(&previous));
            serde_json::to_vec(&outcome.finished(&ctx)).expect("serializes")
        })
    });
    c.bench_function("parse_slo/100", |b| {
        b.iter(|| Slo::parse(black_box(&yaml)).expect("parses"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
