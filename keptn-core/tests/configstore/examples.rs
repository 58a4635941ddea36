//! The real Keptn example files are stored and read back unchanged, on every backend.

use keptn_core::configstore::{
    ConfigStore, MemoryConfigStore, ProjectSetup, ReadOptions, Resource, Scope,
};

use super::support::{keptn_examples, sockshop};

async fn examples_round_trip(store: &dyn ConfigStore) {
    let files = keptn_examples();
    let shipyard = files
        .iter()
        .find(|(name, _)| name == "shipyard-sockshop.yaml")
        .map(|(_, content)| content.clone())
        .expect("the sockshop shipyard");
    let setup = ProjectSetup {
        shipyard: Some(shipyard.clone()),
        ..ProjectSetup::default()
    };
    sockshop(store, "sockshop", setup).await;

    let project = Scope::project("sockshop");
    let stored = store
        .get_resource(&project, "shipyard.yaml", &ReadOptions::latest())
        .await
        .expect("read shipyard")
        .expect("shipyard exists");
    assert_eq!(
        stored.content, shipyard,
        "the shipyard reads back byte for byte"
    );

    // Each example as a service resource in every stage, under the names Keptn uses.
    let carts = |stage: &str| Scope::service("sockshop", stage, "carts");
    let uri = |name: &str| match name {
        "slo-quality-gates.yaml" => "slo.yaml".to_owned(),
        "sli-prometheus-bg.yaml" => "prometheus/sli.yaml".to_owned(),
        "remediation.yaml" => "remediation.yaml".to_owned(),
        other => format!("examples/{other}"),
    };
    let resources: Vec<Resource> = files
        .iter()
        .map(|(name, content)| Resource::new(uri(name), content.clone()))
        .collect();
    let commit = store
        .put_resources(
            &Scope::service_default("sockshop", "carts"),
            resources,
            None,
        )
        .await
        .expect("store the examples");
    for stage in ["dev", "staging", "production"] {
        for (name, content) in &files {
            let read = store
                .get_resource(&carts(stage), &uri(name), &ReadOptions::latest())
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("{name} in {stage}"));
            assert_eq!(
                &read.content, content,
                "{name} in {stage} reads back byte for byte"
            );
        }
    }
    // And at the commit that wrote them, after they changed.
    store
        .put_resources(
            &carts("production"),
            vec![Resource::new("slo.yaml", "changed\n")],
            None,
        )
        .await
        .expect("change slo");
    let (_, slo) = files
        .iter()
        .find(|(name, _)| name == "slo-quality-gates.yaml")
        .expect("slo example");
    let old = store
        .get_resource(&carts("production"), "slo.yaml", &ReadOptions::at(commit))
        .await
        .expect("read at commit")
        .expect("slo at commit");
    assert_eq!(&old.content, slo);
}

#[tokio::test]
async fn keptn_examples_round_trip_in_the_memory_store() {
    examples_round_trip(&MemoryConfigStore::new()).await;
}

#[cfg(feature = "git")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keptn_examples_round_trip_in_the_git_store() {
    let (_dir, store) = super::support::git_store();
    examples_round_trip(&store).await;
}
