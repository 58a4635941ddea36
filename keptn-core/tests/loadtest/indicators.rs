//! The `builtin` SLI provider's indicators over stored runs.

use keptn_core::loadtest::{BUILTIN_INDICATORS, builtin_indicators};

use super::stores::run;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn indicators_combine_every_run_in_the_timeframe() {
    let latencies_a: Vec<f64> = (1..=50).map(f64::from).collect();
    let latencies_b: Vec<f64> = (51..=100).map(f64::from).collect();
    let runs = [
        run("a", "staging", "canary", 0, 10, &latencies_a, 5),
        run("b", "staging", "canary", 10, 20, &latencies_b, 0),
    ];
    let values = builtin_indicators(&runs, &names(&BUILTIN_INDICATORS));
    let by_name: Vec<(String, f64, bool)> = values
        .iter()
        .map(|v| (v.metric.clone(), v.value, v.success))
        .collect();
    assert_eq!(
        by_name,
        [
            ("response_time_p50".to_owned(), 50.0, true),
            ("response_time_p90".to_owned(), 90.0, true),
            ("response_time_p95".to_owned(), 95.0, true),
            ("response_time_p99".to_owned(), 99.0, true),
            ("response_time_avg".to_owned(), 50.5, true),
            ("throughput".to_owned(), 5.0, true),
            ("error_rate".to_owned(), 5.0, true),
            ("request_count".to_owned(), 100.0, true),
        ]
    );
}

#[test]
fn unknown_indicators_and_missing_results_are_not_successful() {
    let runs = [run("a", "staging", "canary", 0, 10, &[5.0], 0)];
    let values = builtin_indicators(&runs, &names(&["response_time_p95", "cpu_usage"]));
    assert!(values[0].success);
    assert!(!values[1].success);
    assert!(
        values[1]
            .message
            .as_deref()
            .unwrap()
            .starts_with("unknown indicator cpu_usage")
    );

    let values = builtin_indicators(&[], &names(&["response_time_p95"]));
    assert!(!values[0].success);
    assert_eq!(
        values[0].message.as_deref(),
        Some("no load test results in the timeframe")
    );

    // Only failures without a response: rates exist, latencies do not.
    let mut failed = run("f", "staging", "canary", 0, 10, &[], 0);
    failed.summary.requests = 4;
    failed.summary.errors = 4;
    let values = builtin_indicators(&[failed], &names(&["error_rate", "response_time_p50"]));
    assert_eq!((values[0].value, values[0].success), (100.0, true));
    assert!(!values[1].success);
}
