//! Checks of projects, stages and services.

use super::{cleanup, fails, ok, project_name, sockshop};
use crate::configstore::{
    ConfigStore, ConfigStoreErrorKind as Kind, ProjectSetup, ReadOptions, Scope,
};

pub(crate) async fn projects_are_created_listed_and_deleted(store: &dyn ConfigStore) {
    let check = "projects_are_created_listed_and_deleted";
    let project = project_name("life");
    let commit = ok(
        store
            .create_project(&project, ProjectSetup::default())
            .await,
        check,
        "create_project",
    );
    assert_eq!(commit.as_str().len(), 40, "{check}: commit id {commit}");
    let projects = ok(store.projects().await, check, "projects");
    assert!(projects.contains(&project), "{check}: {projects:?}");
    let mut sorted = projects.clone();
    sorted.sort();
    assert_eq!(projects, sorted, "{check}: projects are sorted");
    let msg = fails(
        store
            .create_project(&project, ProjectSetup::default())
            .await,
        Kind::AlreadyExists,
        check,
        "creating the project twice",
    );
    assert!(
        msg.contains(&project),
        "{check}: message names the project: {msg}"
    );
    assert_eq!(
        ok(
            store.latest_commit(&project, None).await,
            check,
            "latest_commit"
        ),
        commit
    );
    ok(
        store.delete_project(&project).await,
        check,
        "delete_project",
    );
    let projects = ok(store.projects().await, check, "projects after delete");
    assert!(!projects.contains(&project), "{check}: {projects:?}");
    fails(
        store.delete_project(&project).await,
        Kind::NotFound,
        check,
        "deleting twice",
    );
    fails(
        store.stages(&project).await,
        Kind::NotFound,
        check,
        "stages of a deleted project",
    );
    // The name can be used again.
    ok(
        store
            .create_project(&project, ProjectSetup::default())
            .await,
        check,
        "re-creating",
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn project_metadata_and_shipyard_live_on_the_default_branch(
    store: &dyn ConfigStore,
) {
    let check = "project_metadata_and_shipyard_live_on_the_default_branch";
    let project = project_name("meta");
    let shipyard = b"apiVersion: spec.keptn.sh/0.2.3\nkind: Shipyard\n".to_vec();
    let setup = ProjectSetup {
        shipyard: Some(shipyard.clone()),
        ..ProjectSetup::default()
    };
    let commit = ok(store.create_project(&project, setup).await, check, "create");
    let scope = Scope::project(&project);
    let read = ok(
        store
            .get_resource(&scope, "shipyard.yaml", &ReadOptions::latest())
            .await,
        check,
        "reading shipyard.yaml",
    )
    .unwrap_or_else(|| panic!("{check}: shipyard.yaml missing"));
    assert_eq!(read.content, shipyard, "{check}: shipyard content");
    assert_eq!(read.metadata.branch, "main", "{check}: default branch");
    assert_eq!(read.metadata.version, commit, "{check}: version");
    assert_eq!(read.metadata.upstream_url, None, "{check}: upstream");
    let metadata = ok(
        store
            .get_resource(&scope, "metadata.yaml", &ReadOptions::latest())
            .await,
        check,
        "reading metadata.yaml",
    )
    .unwrap_or_else(|| panic!("{check}: metadata.yaml missing"));
    let text = String::from_utf8_lossy(&metadata.content);
    assert!(
        text.contains(&format!("ProjectName: {project}")) && text.contains("CreationTimestamp:"),
        "{check}: project metadata.yaml: {text}"
    );
    let listed = ok(
        store.list_resources(&scope, &ReadOptions::latest()).await,
        check,
        "list",
    );
    assert_eq!(listed, vec!["metadata.yaml", "shipyard.yaml"], "{check}");
    cleanup(store, &project, check).await;
}

pub(crate) async fn a_custom_default_branch_is_used(store: &dyn ConfigStore) {
    let check = "a_custom_default_branch_is_used";
    let project = project_name("branch");
    let setup = ProjectSetup {
        default_branch: Some("master".to_owned()),
        ..ProjectSetup::default()
    };
    ok(store.create_project(&project, setup).await, check, "create");
    let read = ok(
        store
            .get_resource(
                &Scope::project(&project),
                "metadata.yaml",
                &ReadOptions::latest(),
            )
            .await,
        check,
        "read",
    )
    .unwrap_or_else(|| panic!("{check}: metadata.yaml missing"));
    assert_eq!(read.metadata.branch, "master", "{check}");
    fails(
        store.create_stage(&project, "master").await,
        Kind::InvalidInput,
        check,
        "a stage named like the default branch",
    );
    ok(
        store.create_stage(&project, "main").await,
        check,
        "stage main",
    );
    assert_eq!(
        ok(store.stages(&project).await, check, "stages"),
        vec!["main"]
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn stages_are_branches_of_the_default_branch(store: &dyn ConfigStore) {
    let check = "stages_are_branches_of_the_default_branch";
    let project = project_name("stages");
    let setup = ProjectSetup {
        shipyard: Some(b"stages: []\n".to_vec()),
        ..ProjectSetup::default()
    };
    let root = ok(store.create_project(&project, setup).await, check, "create");
    assert!(ok(store.stages(&project).await, check, "stages").is_empty());
    let staging = ok(
        store.create_stage(&project, "staging").await,
        check,
        "staging",
    );
    ok(store.create_stage(&project, "dev").await, check, "dev");
    assert_eq!(
        staging, root,
        "{check}: a new stage starts at the default branch tip"
    );
    assert_eq!(
        ok(store.stages(&project).await, check, "stages"),
        vec!["dev", "staging"],
        "{check}: stages sorted by name"
    );
    fails(
        store.create_stage(&project, "dev").await,
        Kind::AlreadyExists,
        check,
        "creating a stage twice",
    );
    assert_eq!(
        ok(
            store.latest_commit(&project, Some("dev")).await,
            check,
            "tip"
        ),
        root
    );
    // A stage branch starts with the project files.
    let shipyard = ok(
        store
            .get_resource(
                &Scope::stage(&project, "dev"),
                "shipyard.yaml",
                &ReadOptions::latest(),
            )
            .await,
        check,
        "shipyard in a stage",
    );
    assert_eq!(shipyard.map(|r| r.content), Some(b"stages: []\n".to_vec()));
    cleanup(store, &project, check).await;
}

pub(crate) async fn services_are_created_in_every_stage(store: &dyn ConfigStore) {
    let check = "services_are_created_in_every_stage";
    let project = project_name("svc");
    ok(
        store
            .create_project(&project, ProjectSetup::default())
            .await,
        check,
        "create",
    );
    fails(
        store.create_service(&project, "carts").await,
        Kind::InvalidInput,
        check,
        "a service in a project without stages",
    );
    for stage in ["dev", "staging"] {
        ok(store.create_stage(&project, stage).await, check, "stage");
    }
    let before = ok(
        store.latest_commit(&project, Some("dev")).await,
        check,
        "tip",
    );
    ok(
        store.create_service(&project, "carts").await,
        check,
        "service",
    );
    assert_ne!(
        ok(
            store.latest_commit(&project, Some("dev")).await,
            check,
            "tip"
        ),
        before,
        "{check}: creating a service is a commit"
    );
    for stage in ["dev", "staging"] {
        let services = ok(store.services(&project, stage).await, check, "services");
        assert_eq!(services, vec!["carts"], "{check}: services of {stage}");
        let metadata = ok(
            store
                .get_resource(
                    &Scope::service(&project, stage, "carts"),
                    "metadata.yaml",
                    &ReadOptions::latest(),
                )
                .await,
            check,
            "service metadata",
        )
        .unwrap_or_else(|| panic!("{check}: metadata.yaml of carts in {stage}"));
        let text = String::from_utf8_lossy(&metadata.content);
        assert!(text.contains("ServiceName: carts"), "{check}: {text}");
    }
    fails(
        store.create_service(&project, "carts").await,
        Kind::AlreadyExists,
        check,
        "creating a service twice",
    );
    ok(
        store.create_stage(&project, "prod").await,
        check,
        "late stage",
    );
    assert!(ok(store.services(&project, "prod").await, check, "prod").is_empty());
    ok(
        store.create_service(&project, "carts").await,
        check,
        "creating the service in the stage that lacks it",
    );
    assert_eq!(
        ok(store.services(&project, "prod").await, check, "prod"),
        vec!["carts"]
    );
    ok(
        store.create_service(&project, "orders").await,
        check,
        "second service",
    );
    assert_eq!(
        ok(store.services(&project, "dev").await, check, "services"),
        vec!["carts", "orders"]
    );
    ok(
        store.delete_service(&project, "carts").await,
        check,
        "delete",
    );
    for stage in ["dev", "staging", "prod"] {
        assert_eq!(
            ok(store.services(&project, stage).await, check, "services"),
            vec!["orders"],
            "{check}: after delete in {stage}"
        );
    }
    fails(
        store.delete_service(&project, "carts").await,
        Kind::NotFound,
        check,
        "deleting a service twice",
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn missing_projects_stages_and_services_are_not_found(store: &dyn ConfigStore) {
    let check = "missing_projects_stages_and_services_are_not_found";
    let project = sockshop(store, "missing").await;
    let missing = project_name("nope");
    let latest = ReadOptions::latest();
    let cases = [
        (Scope::project(&missing), "project"),
        (Scope::stage(&project, "prod"), "stage"),
        (Scope::service(&project, "dev", "orders"), "service"),
        (Scope::service(&missing, "dev", "carts"), "project"),
    ];
    for (scope, what) in cases {
        let msg = fails(
            store.get_resource(&scope, "slo.yaml", &latest).await,
            Kind::NotFound,
            check,
            &format!("reading from {scope}"),
        );
        assert!(
            msg.contains(what),
            "{check}: message names the {what}: {msg}"
        );
        fails(
            store.list_resources(&scope, &latest).await,
            Kind::NotFound,
            check,
            &format!("listing {scope}"),
        );
        fails(
            store
                .put_resources(
                    &scope,
                    vec![crate::configstore::Resource::new("slo.yaml", "x")],
                    None,
                )
                .await,
            Kind::NotFound,
            check,
            &format!("writing to {scope}"),
        );
    }
    fails(
        store.services(&project, "prod").await,
        Kind::NotFound,
        check,
        "services of a missing stage",
    );
    fails(
        store.latest_commit(&project, Some("prod")).await,
        Kind::NotFound,
        check,
        "latest commit of a missing stage",
    );
    fails(
        store.create_stage(&missing, "dev").await,
        Kind::NotFound,
        check,
        "a stage of a missing project",
    );
    cleanup(store, &project, check).await;
}
