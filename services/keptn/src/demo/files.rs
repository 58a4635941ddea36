//! The configuration of the demo project: shipyard, run configuration, tests, SLOs and
//! remediation, as a Keptn user would write them for the sockshop tutorial.

use std::path::Path;

/// The service of the demo.
pub const SERVICE: &str = "carts";
/// The good build.
pub const GOOD_IMAGE: &str = "docker.io/keptnexamples/carts:0.13.1";
/// The slow build (the demo service answers in 400 ms when its version contains "slow").
pub const SLOW_IMAGE: &str = "docker.io/keptnexamples/carts:0.13.2-slow";
/// The problem raised in production, matched by `remediation.yaml`.
pub const PROBLEM: &str = "Response time degradation";
/// The stages, in delivery order.
pub const STAGES: [&str; 3] = ["dev", "staging", "production"];

/// dev: direct, functional tests; staging: blue/green, performance tests, quality gate,
/// rollback on failure; production: approval (automatic for pass), blue/green, and the
/// remediation sequence that retries with the next action while the evaluation fails.
pub const SHIPYARD: &str = r#"apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata:
  name: shipyard-sockshop-demo
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
              properties:
                deploymentstrategy: direct
            - name: test
              properties:
                teststrategy: functional
            - name: evaluation
            - name: release
    - name: staging
      sequences:
        - name: delivery
          triggeredOn:
            - event: dev.delivery.finished
          tasks:
            - name: deployment
              properties:
                deploymentstrategy: blue_green_service
            - name: test
              properties:
                teststrategy: performance
            - name: evaluation
            - name: release
        - name: rollback
          triggeredOn:
            - event: staging.delivery.finished
              selector:
                match:
                  result: fail
          tasks:
            - name: rollback
    - name: production
      sequences:
        - name: delivery
          triggeredOn:
            - event: staging.delivery.finished
          tasks:
            - name: approval
              properties:
                pass: automatic
                warning: manual
            - name: deployment
              properties:
                deploymentstrategy: blue_green_service
            - name: release
        - name: rollback
          triggeredOn:
            - event: production.delivery.finished
              selector:
                match:
                  result: fail
          tasks:
            - name: rollback
        - name: remediation
          triggeredOn:
            - event: production.remediation.finished
              selector:
                match:
                  evaluation.result: fail
          tasks:
            - name: get-action
            - name: action
            - name: test
              properties:
                teststrategy: performance
            - name: evaluation
"#;

/// The quality gate of staging and production: p95 within 300 ms, no errors.
pub const SLO: &str = r#"spec_version: "1.0"
comparison:
  compare_with: single_result
  include_result_with_score: pass
  aggregate_function: avg
objectives:
  - sli: response_time_p95
    displayName: Response time P95
    pass:
      - criteria:
          - "<=300"
  - sli: error_rate
    displayName: Error rate
    pass:
      - criteria:
          - "<=1"
total_score:
  pass: "90%"
  warning: "75%"
"#;

/// The remediation of production: add a replica.
pub const REMEDIATION: &str = r#"apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata:
  name: carts-remediation
spec:
  remediations:
    - problemType: Response time degradation
      actionsOnOpen:
        - name: scaling
          action: scaling
          description: Scale up
          value: 1
"#;

/// `local/deploy.yaml`: the demo service is this very `keptn` program; the image tag is the
/// version it reports.
pub fn run_config(keptn: &Path) -> String {
    format!(
        "command: {:?}\nargs: [demo-service, --port, \"{{port}}\", --service-version, \"{{tag}}\"]\nhealthPath: /health\nstartTimeout: 20s\n",
        keptn.display().to_string()
    )
}

/// `http-load/config.yaml`: functional checks, and a load of `seconds` seconds.
pub fn http_load(seconds: u32) -> String {
    format!(
        r#"workloads:
  - teststrategy: functional
    checks:
      - path: /
      - path: /health
        expectStatus: [200]
        bodyContains: ok
  - teststrategy: performance
    path: /
    concurrency: 4
    rate: 20
    duration: {seconds}s
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use keptn_core::deploy::local::RunConfig;
    use keptn_core::loadtest::HttpLoadConfig;
    use keptn_core::quality::Slo;
    use keptn_core::remediation::RemediationFile;
    use keptn_core::shipyard::Shipyard;

    #[test]
    fn every_file_of_the_demo_is_valid() {
        Shipyard::parse(SHIPYARD).unwrap();
        Slo::parse(SLO.as_bytes()).unwrap();
        RemediationFile::parse(REMEDIATION.as_bytes()).unwrap();
        HttpLoadConfig::parse(http_load(3).as_bytes()).unwrap();
        let config = RunConfig::parse(
            run_config(Path::new("/opt/keptn rs/bin/keptn")).as_bytes(),
            10,
        )
        .unwrap();
        assert_eq!(config.command, "/opt/keptn rs/bin/keptn");
        assert_eq!(config.args[0], "demo-service");
    }
}
