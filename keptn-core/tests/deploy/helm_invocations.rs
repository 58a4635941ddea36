//! The Helm deployer's `helm` invocations, checked against a recording stand-in (no cluster
//! and no helm binary are needed).

use keptn_core::deploy::helm::{Chart, HelmDeployer, HelmDeployerConfig, Rendering};
use keptn_core::deploy::{
    DeployErrorKind, DeployRequest, Deployer, ReplicaChange, ServiceResources,
};
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::DeploymentStrategy;
use serde_json::json;

use super::helm_support::{RecordingHelm, carts_chart, deployer, object, scope, upgrade, weights};

fn request(stage: &str, strategy: DeploymentStrategy, image: &str) -> DeployRequest {
    let values = json!({"image": image});
    DeployRequest::new(
        scope("sockshop", stage),
        strategy,
        values.as_object().unwrap().clone(),
    )
    .with_resources(ServiceResources::new().with("helm/carts.tgz", carts_chart().to_tgz().unwrap()))
}

#[tokio::test]
async fn direct_deployment_upgrades_the_user_chart_and_the_mesh_chart() {
    let tmp = tempfile::tempdir().unwrap();
    let helm = RecordingHelm::install(tmp.path(), "");
    let work = tmp.path().join("work");
    let d = deployer(&work, &helm);

    let out = d
        .deploy(&request(
            "dev",
            DeploymentStrategy::Direct,
            "docker.io/keptnexamples/carts:0.13.2",
        ))
        .await
        .unwrap();
    let svc = work.join("sockshop/dev/carts");
    assert_eq!(
        helm.take(),
        [
            upgrade(
                "sockshop-dev-carts",
                &svc.join("user"),
                "sockshop-dev",
                "direct",
                None
            ),
            upgrade(
                "sockshop-dev-carts-generated",
                &svc.join("generated"),
                "sockshop-dev",
                "direct",
                None
            ),
        ]
    );
    assert_eq!(out.deployment_names, ["direct"]);
    assert_eq!(out.uris_local, ["http://carts.sockshop-dev:80"]);
    assert_eq!(
        out.uris_public,
        ["http://carts.sockshop-dev.svc.cluster.local:80"]
    );
    assert_eq!(out.message, "Successfully deployed");

    // The values were merged into the user chart, which the caller commits.
    let user = Chart::from_tgz(&out.resource_changes["helm/carts.tgz"]).unwrap();
    assert_eq!(
        user.values().unwrap()["image"],
        "docker.io/keptnexamples/carts:0.13.2"
    );
    let generated = Chart::from_tgz(&out.resource_changes["helm/carts-generated.tgz"]).unwrap();
    assert_eq!(generated.keywords(), ["deployment_strategy=direct"]);
    let vs: serde_json::Value = object(&generated, "templates/carts-istio-virtualservice.yaml");
    assert_eq!(vs["spec"]["hosts"][1], "carts");

    // Release and rollback of a direct deployment run no helm command.
    let r = d
        .release(&scope("sockshop", "dev"), KeptnResult::Pass)
        .await
        .unwrap();
    assert!(
        r.message.starts_with("No release action required"),
        "{}",
        r.message
    );
    let r = d.rollback(&scope("sockshop", "dev")).await.unwrap();
    assert!(
        r.message.starts_with("No rollback action required"),
        "{}",
        r.message
    );
    assert!(helm.take().is_empty());

    // Scaling a direct service sets replicaCount on the user chart.
    d.scale(&scope("sockshop", "dev"), ReplicaChange::Add(2))
        .await
        .unwrap();
    assert_eq!(
        helm.take(),
        [upgrade(
            "sockshop-dev-carts",
            &svc.join("user"),
            "sockshop-dev",
            "direct",
            Some(3)
        )]
    );
}

#[tokio::test]
async fn blue_green_deploy_release_rollback_and_scaling_invocations() {
    let tmp = tempfile::tempdir().unwrap();
    let helm = RecordingHelm::install(tmp.path(), "");
    let work = tmp.path().join("work");
    let d = deployer(&work, &helm);
    let s = scope("sockshop", "staging");
    let svc = work.join("sockshop/staging/carts");
    let user_dir = svc.join("user");
    let gen_dir = svc.join("generated");
    let vs = "templates/carts-istio-virtualservice.yaml";

    let out = d
        .deploy(&request(
            "staging",
            DeploymentStrategy::BlueGreenService,
            "docker.io/keptnexamples/carts:0.13.2",
        ))
        .await
        .unwrap();
    assert_eq!(
        helm.take(),
        [
            upgrade(
                "sockshop-staging-carts",
                &user_dir,
                "sockshop-staging",
                "canary",
                None
            ),
            upgrade(
                "sockshop-staging-carts-generated",
                &gen_dir,
                "sockshop-staging",
                "primary",
                None
            ),
        ]
    );
    assert_eq!(out.deployment_names, ["canary"]);
    assert_eq!(out.uris_local, ["http://carts.sockshop-staging:80"]);
    let generated = Chart::from_tgz(&out.resource_changes["helm/carts-generated.tgz"]).unwrap();
    assert_eq!(generated.keywords(), ["deployment_strategy=duplicate"]);
    let w: Vec<u64> = weights(&generated, vs)
        .into_iter()
        .map(|(_, w)| w)
        .collect();
    assert_eq!(w, [100, 0], "after deployment the canary gets all traffic");
    let status = d.status(&s).await.unwrap().unwrap();
    assert_eq!(status.canary_weight, 100);
    assert_eq!(
        status.canary.unwrap().version,
        "docker.io/keptnexamples/carts:0.13.2"
    );

    // Release: weight 100, regenerate the primary, weight 0, user chart to 0 replicas.
    let r = d.release(&s, KeptnResult::Pass).await.unwrap();
    assert_eq!(r.message, "Finished release");
    let primary_upgrade = upgrade(
        "sockshop-staging-carts-generated",
        &gen_dir,
        "sockshop-staging",
        "primary",
        None,
    );
    assert_eq!(
        helm.take(),
        [
            primary_upgrade.clone(),
            primary_upgrade.clone(),
            primary_upgrade.clone(),
            upgrade(
                "sockshop-staging-carts",
                &user_dir,
                "sockshop-staging",
                "canary",
                Some(0)
            ),
        ]
    );
    let released = Chart::from_tgz(&r.resource_changes["helm/carts-generated.tgz"]).unwrap();
    let w: Vec<u64> = weights(&released, vs).into_iter().map(|(_, w)| w).collect();
    assert_eq!(w, [0, 100]);
    let status = d.status(&s).await.unwrap().unwrap();
    assert_eq!(status.canary_weight, 0);
    assert_eq!(
        status.primary.unwrap().version,
        "docker.io/keptnexamples/carts:0.13.2"
    );

    // A failed evaluation: release does nothing, rollback discards the canary.
    d.deploy(&request(
        "staging",
        DeploymentStrategy::BlueGreenService,
        "docker.io/keptnexamples/carts:0.13.3-slow",
    ))
    .await
    .unwrap();
    helm.take();
    let r = d.release(&s, KeptnResult::Fail).await.unwrap();
    assert!(r.message.contains("not promoted"), "{}", r.message);
    assert!(helm.take().is_empty());
    let r = d.rollback(&s).await.unwrap();
    assert_eq!(r.message, "Finished rollback");
    assert_eq!(
        helm.take(),
        [
            primary_upgrade.clone(),
            upgrade(
                "sockshop-staging-carts",
                &user_dir,
                "sockshop-staging",
                "canary",
                Some(0)
            ),
        ]
    );
    let rolled = Chart::from_tgz(&r.resource_changes["helm/carts-generated.tgz"]).unwrap();
    let w: Vec<u64> = weights(&rolled, vs).into_iter().map(|(_, w)| w).collect();
    assert_eq!(w, [0, 100]);

    // Scaling adds replicas to the primary deployment of the generated chart.
    let r = d.scale(&s, ReplicaChange::Add(1)).await.unwrap();
    assert!(r.message.contains("2 primary replicas"), "{}", r.message);
    assert_eq!(helm.take(), [primary_upgrade]);
    let scaled = Chart::from_tgz(&r.resource_changes["helm/carts-generated.tgz"]).unwrap();
    let d2: k8s_openapi::api::apps::v1::Deployment =
        object(&scaled, "templates/carts-primary-deployment.yaml");
    assert_eq!(d2.spec.unwrap().replicas, Some(2));

    // Removing the service uninstalls both releases, even when helm knows neither.
    d.remove_service(&s).await.unwrap();
    assert_eq!(
        helm.take(),
        [
            "uninstall sockshop-staging-carts --namespace sockshop-staging",
            "uninstall sockshop-staging-carts-generated --namespace sockshop-staging",
        ]
    );
    assert!(d.status(&s).await.unwrap().is_none());
    helm.forget_releases();
    d.remove_service(&s).await.unwrap();
    assert_eq!(helm.take().len(), 2);
}

#[tokio::test]
async fn helm_template_rendering_and_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/deploy/fixtures/carts-chart/templates/service.yaml"),
    )
    .unwrap();
    let helm = RecordingHelm::install(tmp.path(), &manifest);
    let work = tmp.path().join("work");
    let mut config = HelmDeployerConfig::new(&work);
    config.rendering = Rendering::HelmTemplate;
    config.mesh_for_direct = false;
    let d = HelmDeployer::new(config, helm.runner());
    let out = d
        .deploy(&request("dev", DeploymentStrategy::Direct, "carts:1"))
        .await
        .unwrap();
    let user_dir = work.join("sockshop/dev/carts/user");
    assert_eq!(
        helm.take(),
        [
            upgrade(
                "sockshop-dev-carts",
                &user_dir,
                "sockshop-dev",
                "direct",
                None
            ),
            format!(
                "template sockshop-dev-carts {} --namespace sockshop-dev --set-string keptn.project=sockshop --set-string keptn.stage=dev --set-string keptn.service=carts --set-string keptn.deployment=direct",
                user_dir.display()
            ),
        ]
    );
    assert_eq!(out.uris_local, ["http://carts.sockshop-dev:80"]);
    assert!(
        !out.resource_changes
            .contains_key("helm/carts-generated.tgz")
    );

    // A helm failure names the command and carries helm's error output.
    let failing = keptn_core::deploy::helm::CliHelmRunner::new(
        &helm.program,
        std::time::Duration::from_secs(5),
    );
    let err = keptn_core::deploy::helm::HelmRunner::run(&failing, &["fail".to_owned()])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DeployErrorKind::CommandFailed);
    assert!(err.message().contains("cluster unreachable"), "{err}");

    // No chart, no deployment.
    let mut no_chart = request("dev", DeploymentStrategy::Direct, "carts:1");
    no_chart.resources = ServiceResources::new();
    let err = d.deploy(&no_chart).await.unwrap_err();
    assert_eq!(err.kind(), DeployErrorKind::InvalidInput);
    assert!(err.message().contains("helm/carts.tgz"), "{err}");
    let err = d.rollback(&scope("sockshop", "prod")).await.unwrap_err();
    assert_eq!(err.kind(), DeployErrorKind::NotFound);
}

#[tokio::test]
async fn user_managed_deployments_install_the_chart_and_report_its_endpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let helm = RecordingHelm::install(tmp.path(), "");
    let d = deployer(&tmp.path().join("work"), &helm);
    let mut req = request("prod", DeploymentStrategy::UserManaged, "carts:1");
    req.resources.insert(
        "helm/endpoints.yaml",
        "deploymentURIsLocal: [\"http://carts.internal:8080\"]\ndeploymentURIsPublic: [\"https://carts.example.com\"]\n",
    );
    let out = d.deploy(&req).await.unwrap();
    assert_eq!(helm.take().len(), 1);
    assert_eq!(out.deployment_names, ["user_managed"]);
    assert_eq!(out.uris_local, ["http://carts.internal:8080"]);
    assert_eq!(out.uris_public, ["https://carts.example.com"]);
    let err = d
        .scale(&scope("sockshop", "prod"), ReplicaChange::Add(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DeployErrorKind::Unsupported);
}
