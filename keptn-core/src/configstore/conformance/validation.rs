//! Checks that bad input is rejected before anything is written.

use keptn_sdk::event::GitCommitId;

use super::{cleanup, fails, ok, project_name, sockshop};
use crate::configstore::{
    ConfigStore, ConfigStoreErrorKind as Kind, ProjectSetup, ReadOptions, Resource, Scope, Upstream,
};

/// The state a failed write must leave untouched: the tips and listings of the scopes.
async fn snapshot(store: &dyn ConfigStore, project: &str, check: &str) -> Vec<String> {
    let mut state = vec![ok(store.latest_commit(project, None).await, check, "tip").into_inner()];
    for stage in ["dev", "staging"] {
        state.push(
            ok(
                store.latest_commit(project, Some(stage)).await,
                check,
                "tip",
            )
            .into_inner(),
        );
        let scope = Scope::service(project, stage, "carts");
        state.extend(ok(
            store.list_resources(&scope, &ReadOptions::latest()).await,
            check,
            "list",
        ));
    }
    state
}

pub(crate) async fn names_are_checked(store: &dyn ConfigStore) {
    let check = "names_are_checked";
    for bad in ["Sockshop", "1shop", "my shop", "shop/x", "shop-", ""] {
        let msg = fails(
            store.create_project(bad, ProjectSetup::default()).await,
            Kind::InvalidInput,
            check,
            &format!("project name {bad:?}"),
        );
        assert!(msg.contains("project name"), "{check}: {msg}");
    }
    let long = format!("p{}", "a".repeat(200));
    fails(
        store.create_project(&long, ProjectSetup::default()).await,
        Kind::InvalidInput,
        check,
        "a 201-character project name",
    );
    let project = sockshop(store, "names").await;
    for bad in ["Dev", "dev stage", "dev/x", "-dev"] {
        let msg = fails(
            store.create_stage(&project, bad).await,
            Kind::InvalidInput,
            check,
            &format!("stage name {bad:?}"),
        );
        assert!(msg.contains("stage name"), "{check}: {msg}");
    }
    let long_service = format!("s{}", "a".repeat(43));
    for bad in ["Carts", "carts service", long_service.as_str()] {
        let msg = fails(
            store.create_service(&project, bad).await,
            Kind::InvalidInput,
            check,
            &format!("service name {bad:?}"),
        );
        assert!(msg.contains("service name"), "{check}: {msg}");
    }
    ok(
        store.create_service(&project, &"s".repeat(43)).await,
        check,
        "a 43-character service name",
    );
    fails(
        store
            .create_project(
                &project_name("branch"),
                ProjectSetup {
                    default_branch: Some("bad..branch".to_owned()),
                    ..ProjectSetup::default()
                },
            )
            .await,
        Kind::InvalidInput,
        check,
        "a bad default branch",
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn traversal_is_rejected_and_nothing_is_written(store: &dyn ConfigStore) {
    let check = "traversal_is_rejected_and_nothing_is_written";
    let project = sockshop(store, "traversal").await;
    let before = snapshot(store, &project, check).await;
    let attacks = [
        "../../etc/passwd",
        "../staging/carts/slo.yaml",
        "a/../../b",
        "/etc/passwd",
        ".git/config",
        "x/.git/hooks/post-commit",
        ".GIT/HEAD",
        "a\\..\\b",
        "a/./b",
        "a//b",
        "nul\0byte",
        "",
    ];
    let scopes = [
        Scope::project(&project),
        Scope::stage(&project, "dev"),
        Scope::service(&project, "dev", "carts"),
        Scope::service_default(&project, "carts"),
    ];
    for scope in &scopes {
        for uri in attacks {
            let step = format!("writing {uri:?} to {scope}");
            let msg = fails(
                store
                    .put_resources(
                        scope,
                        vec![
                            Resource::new("innocent.yaml", "ok"),
                            Resource::new(uri, "pwned"),
                        ],
                        None,
                    )
                    .await,
                Kind::InvalidInput,
                check,
                &step,
            );
            assert!(
                msg.contains("resource uri"),
                "{check}: the message names the field: {msg}"
            );
            fails(
                store.delete_resource(scope, uri).await,
                Kind::InvalidInput,
                check,
                &format!("deleting {uri:?} from {scope}"),
            );
            if scope.stage.is_some() || scope.service.is_none() {
                fails(
                    store.get_resource(scope, uri, &ReadOptions::latest()).await,
                    Kind::InvalidInput,
                    check,
                    &format!("reading {uri:?} from {scope}"),
                );
            }
        }
    }
    assert_eq!(
        snapshot(store, &project, check).await,
        before,
        "{check}: nothing was written"
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn managed_and_colliding_paths_are_rejected(store: &dyn ConfigStore) {
    let check = "managed_and_colliding_paths_are_rejected";
    let project = sockshop(store, "managed").await;
    let carts = Scope::service(&project, "dev", "carts");
    let dev = Scope::stage(&project, "dev");
    ok(
        store
            .put_resources(&carts, vec![Resource::new("conf", "a file")], None)
            .await,
        check,
        "a file named conf",
    );
    let before = snapshot(store, &project, check).await;
    let cases: Vec<(Scope, Vec<Resource>, &str)> = vec![
        (
            carts.clone(),
            vec![Resource::new("metadata.yaml", "x")],
            "metadata",
        ),
        (
            Scope::project(&project),
            vec![Resource::new("metadata.yaml", "x")],
            "metadata",
        ),
        (
            dev.clone(),
            vec![Resource::new("metadata.yaml", "x")],
            "metadata",
        ),
        (
            dev.clone(),
            vec![Resource::new("orders/metadata.yaml", "x")],
            "metadata file of a service",
        ),
        (
            dev.clone(),
            vec![Resource::new("carts/slo.yaml", "x")],
            "service",
        ),
        (
            carts.clone(),
            vec![Resource::new("conf/x.yaml", "x")],
            "collides",
        ),
        (
            carts.clone(),
            vec![Resource::new("a.yaml", "1"), Resource::new("a.yaml", "2")],
            "twice",
        ),
        (carts.clone(), vec![], "no resources"),
    ];
    for (scope, resources, why) in cases {
        let msg = fails(
            store.put_resources(&scope, resources, None).await,
            Kind::InvalidInput,
            check,
            &format!("a {why} write to {scope}"),
        );
        assert!(msg.contains(why), "{check}: message says {why}: {msg}");
    }
    fails(
        store.delete_resource(&carts, "metadata.yaml").await,
        Kind::InvalidInput,
        check,
        "deleting a service's metadata.yaml",
    );
    assert_eq!(
        snapshot(store, &project, check).await,
        before,
        "{check}: nothing written"
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn commit_ids_are_checked(store: &dyn ConfigStore) {
    let check = "commit_ids_are_checked";
    let project = sockshop(store, "commits").await;
    let carts = Scope::service(&project, "dev", "carts");
    fails(
        store
            .get_resource(&carts, "slo.yaml", &ReadOptions::at("not-a-commit"))
            .await,
        Kind::InvalidInput,
        check,
        "a malformed commit id",
    );
    let unknown = GitCommitId::new("0123456789abcdef0123456789abcdef01234567");
    let msg = fails(
        store
            .get_resource(
                &carts,
                "slo.yaml",
                &ReadOptions::at(unknown).without_upstream_sync(),
            )
            .await,
        Kind::NotFound,
        check,
        "an unknown commit id",
    );
    assert!(msg.contains("commit"), "{check}: {msg}");
    cleanup(store, &project, check).await;
}

pub(crate) async fn upstream_urls_are_checked(store: &dyn ConfigStore) {
    let check = "upstream_urls_are_checked";
    for url in [
        "ftp://example.com/repo.git",
        "git@github.com:org/repo.git",
        "https://user:secret@github.com/org/repo.git",
        "not a url",
    ] {
        let project = project_name("upstream");
        let setup = ProjectSetup {
            upstream: Some(Upstream::anonymous(url)),
            ..ProjectSetup::default()
        };
        let msg = fails(
            store.create_project(&project, setup).await,
            Kind::InvalidInput,
            check,
            &format!("upstream {url:?}"),
        );
        assert!(msg.contains("upstream url"), "{check}: {msg}");
        assert!(
            !msg.contains("secret"),
            "{check}: the message hides secrets: {msg}"
        );
        let projects = ok(store.projects().await, check, "projects");
        assert!(!projects.contains(&project), "{check}: nothing was created");
    }
}
