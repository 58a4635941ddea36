//! Shipyards of the behaviour tests.

/// Three stages; dev has a delivery with properties, a rollback on failed hardening deliveries,
/// a gated delivery and a delayed one; hardening and production chain on the previous stage.
pub const DELIVERY: &str = r#"
apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata: {name: test-shipyard}
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
              properties: {deploymentstrategy: direct}
            - name: test
              properties: {teststrategy: functional}
            - name: evaluation
            - name: release
        - name: twice
          tasks:
            - name: deployment
            - name: deployment
        - name: gated
          tasks:
            - name: approval
              properties: {pass: manual, warning: manual}
            - name: mytask
        - name: single
          tasks:
            - name: mytask
        - name: delayed
          tasks:
            - name: mytask
              triggeredAfter: 10s
            - name: release
        - name: bounded
          tasks:
            - name: mytask
              timeout: 5m
    - name: hardening
      sequences:
        - name: delivery
          triggeredOn: [{event: dev.delivery.finished}]
          tasks:
            - name: deployment
              properties: {deploymentstrategy: blue_green_service}
            - name: test
              properties: {teststrategy: performance}
            - name: evaluation
            - name: release
        - name: rollback
          triggeredOn:
            - event: hardening.delivery.finished
              selector: {match: {result: fail}}
          tasks: [{name: rollback}]
    - name: production
      sequences:
        - name: delivery
          triggeredOn: [{event: hardening.delivery.finished}]
          tasks:
            - name: deployment
              properties: {deploymentstrategy: blue_green_service}
            - name: release
        - name: remediation
          triggeredOn:
            - event: production.remediation.finished
              selector: {match: {evaluation.result: fail}}
          tasks:
            - name: get-action
            - name: action
            - name: evaluation
              triggeredAfter: 15m
              properties: {timeframe: 15m}
"#;

/// dev fans out to two parallel stages.
pub const PARALLEL: &str = r#"
apiVersion: spec.keptn.sh/0.2.0
kind: Shipyard
metadata: {name: shipyard-parallel-stages}
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: delivery}]
    - name: staging-2
      sequences:
        - name: delivery
          triggeredOn: [{event: dev.delivery.finished}]
          tasks: [{name: delivery}]
    - name: staging-1
      sequences:
        - name: delivery
          triggeredOn: [{event: dev.delivery.finished}]
          tasks: [{name: delivery}]
"#;

/// A shipyard whose version Keptn rejects.
pub const INVALID_VERSION: &str = r#"
apiVersion: spec.keptn.sh/0.1.7
kind: Shipyard
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: deployment}]
"#;
