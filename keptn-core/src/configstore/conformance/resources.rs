//! Checks of resource writes, reads, listings and history.

use super::{cleanup, fails, ok, sockshop};
use crate::configstore::{
    ConfigStore, ConfigStoreErrorKind as Kind, ReadOptions, Resource, Scope, StoredResource,
};

async fn read(
    store: &dyn ConfigStore,
    scope: &Scope,
    uri: &str,
    options: &ReadOptions,
    check: &str,
) -> Option<StoredResource> {
    ok(
        store.get_resource(scope, uri, options).await,
        check,
        &format!("reading {uri} from {scope}"),
    )
}

async fn content(
    store: &dyn ConfigStore,
    scope: &Scope,
    uri: &str,
    check: &str,
) -> Option<Vec<u8>> {
    read(store, scope, uri, &ReadOptions::latest(), check)
        .await
        .map(|r| r.content)
}

pub(crate) async fn resources_are_written_and_read_at_every_level(store: &dyn ConfigStore) {
    let check = "resources_are_written_and_read_at_every_level";
    let project = sockshop(store, "levels").await;
    let scopes = [
        (Scope::project(&project), "main"),
        (Scope::stage(&project, "dev"), "dev"),
        (Scope::service(&project, "dev", "carts"), "dev"),
    ];
    for (scope, branch) in &scopes {
        let body = format!("written to {scope}\n");
        let commit = ok(
            store
                .put_resources(
                    scope,
                    vec![Resource::new("conf/x.yaml", body.clone())],
                    None,
                )
                .await,
            check,
            "put",
        );
        let stored = read(store, scope, "conf/x.yaml", &ReadOptions::latest(), check)
            .await
            .unwrap_or_else(|| panic!("{check}: conf/x.yaml missing in {scope}"));
        assert_eq!(stored.uri, "conf/x.yaml");
        assert_eq!(
            stored.content,
            body.as_bytes(),
            "{check}: content in {scope}"
        );
        assert_eq!(
            stored.metadata.branch, *branch,
            "{check}: branch of {scope}"
        );
        assert_eq!(
            stored.metadata.version, commit,
            "{check}: version in {scope}"
        );
        let stage = scope.stage.as_deref();
        assert_eq!(
            ok(store.latest_commit(&project, stage).await, check, "tip"),
            commit,
            "{check}: the write moved the tip of {scope}"
        );
    }
    // The levels do not see each other's files.
    assert_eq!(
        content(
            store,
            &Scope::stage(&project, "staging"),
            "conf/x.yaml",
            check
        )
        .await,
        None,
        "{check}: a stage write stays in its stage"
    );
    assert_eq!(
        content(
            store,
            &Scope::service(&project, "staging", "carts"),
            "conf/x.yaml",
            check
        )
        .await,
        None,
        "{check}: a service write stays in its stage"
    );
    assert_eq!(
        content(store, &Scope::project(&project), "carts/conf/x.yaml", check).await,
        None,
        "{check}: service files are not on the default branch"
    );
    // Missing resources are absent, not errors.
    assert_eq!(
        content(
            store,
            &Scope::service(&project, "dev", "carts"),
            "nope.yaml",
            check
        )
        .await,
        None
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn listing_follows_the_scope(store: &dyn ConfigStore) {
    let check = "listing_follows_the_scope";
    let project = sockshop(store, "list").await;
    let dev = Scope::stage(&project, "dev");
    let carts = Scope::service(&project, "dev", "carts");
    ok(
        store
            .put_resources(&dev, vec![Resource::new("stage-config/a.yaml", "a")], None)
            .await,
        check,
        "stage put",
    );
    ok(
        store
            .put_resources(
                &carts,
                vec![
                    Resource::new("slo.yaml", "slo"),
                    Resource::new("jmeter/load.jmx", "jmx"),
                ],
                None,
            )
            .await,
        check,
        "service put",
    );
    let latest = ReadOptions::latest();
    assert_eq!(
        ok(
            store.list_resources(&dev, &latest).await,
            check,
            "list stage"
        ),
        vec!["metadata.yaml", "stage-config/a.yaml"],
        "{check}: a stage lists its branch without service folders"
    );
    assert_eq!(
        ok(
            store.list_resources(&carts, &latest).await,
            check,
            "list service"
        ),
        vec!["jmeter/load.jmx", "metadata.yaml", "slo.yaml"],
        "{check}: a service lists its folder"
    );
    assert_eq!(
        ok(
            store
                .list_resources(&Scope::project(&project), &latest)
                .await,
            check,
            "list project"
        ),
        vec!["metadata.yaml"],
        "{check}: the project lists the default branch"
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn a_batch_is_one_commit(store: &dyn ConfigStore) {
    let check = "a_batch_is_one_commit";
    let project = sockshop(store, "batch").await;
    let carts = Scope::service(&project, "dev", "carts");
    let before = ok(
        store.latest_commit(&project, Some("dev")).await,
        check,
        "tip",
    );
    let batch: Vec<Resource> = (0..5)
        .map(|i| Resource::new(format!("batch/{i}.yaml"), format!("n: {i}\n")))
        .collect();
    let commit = ok(
        store.put_resources(&carts, batch, Some("five files")).await,
        check,
        "put",
    );
    assert_ne!(commit, before);
    for i in 0..5 {
        let at_commit = read(
            store,
            &carts,
            &format!("batch/{i}.yaml"),
            &ReadOptions::at(commit.clone()),
            check,
        )
        .await;
        assert!(
            at_commit.is_some(),
            "{check}: batch/{i}.yaml at the batch commit"
        );
        let at_before = read(
            store,
            &carts,
            &format!("batch/{i}.yaml"),
            &ReadOptions::at(before.clone()),
            check,
        )
        .await;
        assert!(
            at_before.is_none(),
            "{check}: batch/{i}.yaml before the batch"
        );
    }
    cleanup(store, &project, check).await;
}

pub(crate) async fn older_commits_stay_readable(store: &dyn ConfigStore) {
    let check = "older_commits_stay_readable";
    let project = sockshop(store, "history").await;
    let carts = Scope::service(&project, "dev", "carts");
    let v1 = ok(
        store
            .put_resources(
                &carts,
                vec![Resource::new("slo.yaml", "version: 1\n")],
                None,
            )
            .await,
        check,
        "v1",
    );
    let v2 = ok(
        store
            .put_resources(
                &carts,
                vec![Resource::new("slo.yaml", "version: 2\n")],
                None,
            )
            .await,
        check,
        "v2",
    );
    assert_ne!(v1, v2);
    let at_v1 = read(
        store,
        &carts,
        "slo.yaml",
        &ReadOptions::at(v1.clone()),
        check,
    )
    .await
    .unwrap_or_else(|| panic!("{check}: slo.yaml at v1"));
    assert_eq!(at_v1.content, b"version: 1\n", "{check}: content at v1");
    assert_eq!(at_v1.metadata.version, v1, "{check}: version at v1");
    assert_eq!(
        content(store, &carts, "slo.yaml", check).await,
        Some(b"version: 2\n".to_vec())
    );
    let deleted = ok(
        store.delete_resource(&carts, "slo.yaml").await,
        check,
        "delete",
    );
    assert_eq!(content(store, &carts, "slo.yaml", check).await, None);
    let at_v1 = read(
        store,
        &carts,
        "slo.yaml",
        &ReadOptions::at(v1.clone()),
        check,
    )
    .await;
    assert_eq!(
        at_v1.map(|r| r.content),
        Some(b"version: 1\n".to_vec()),
        "{check}: a deleted resource is still readable at an older commit"
    );
    let listed_v1 = ok(
        store.list_resources(&carts, &ReadOptions::at(v1)).await,
        check,
        "list at v1",
    );
    assert!(
        listed_v1.contains(&"slo.yaml".to_owned()),
        "{check}: {listed_v1:?}"
    );
    let listed_now = ok(
        store
            .list_resources(&carts, &ReadOptions::at(deleted))
            .await,
        check,
        "list after delete",
    );
    assert!(
        !listed_now.contains(&"slo.yaml".to_owned()),
        "{check}: {listed_now:?}"
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn unchanged_writes_make_no_commit(store: &dyn ConfigStore) {
    let check = "unchanged_writes_make_no_commit";
    let project = sockshop(store, "same").await;
    let carts = Scope::service(&project, "dev", "carts");
    let put = || store.put_resources(&carts, vec![Resource::new("slo.yaml", "same\n")], None);
    let first = ok(put().await, check, "first");
    let second = ok(put().await, check, "second");
    assert_eq!(
        first, second,
        "{check}: writing the same content again is no commit"
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn deletes_are_commits(store: &dyn ConfigStore) {
    let check = "deletes_are_commits";
    let project = sockshop(store, "delete").await;
    let dev = Scope::stage(&project, "dev");
    let put = ok(
        store
            .put_resources(&dev, vec![Resource::new("a/b.yaml", "x")], None)
            .await,
        check,
        "put",
    );
    let deleted = ok(
        store.delete_resource(&dev, "a/b.yaml").await,
        check,
        "delete",
    );
    assert_ne!(put, deleted);
    assert_eq!(
        ok(
            store.latest_commit(&project, Some("dev")).await,
            check,
            "tip"
        ),
        deleted
    );
    fails(
        store.delete_resource(&dev, "a/b.yaml").await,
        Kind::NotFound,
        check,
        "deleting a missing resource",
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn service_defaults_reach_every_stage_with_the_service(store: &dyn ConfigStore) {
    let check = "service_defaults_reach_every_stage_with_the_service";
    let project = sockshop(store, "defaults").await;
    ok(
        store.create_stage(&project, "prod").await,
        check,
        "stage without carts",
    );
    let defaults = Scope::service_default(&project, "carts");
    let commit = ok(
        store
            .put_resources(
                &defaults,
                vec![Resource::new("sli.yaml", "indicators: {}\n")],
                None,
            )
            .await,
        check,
        "put defaults",
    );
    for stage in ["dev", "staging"] {
        assert_eq!(
            content(
                store,
                &Scope::service(&project, stage, "carts"),
                "sli.yaml",
                check
            )
            .await,
            Some(b"indicators: {}\n".to_vec()),
            "{check}: default in {stage}"
        );
    }
    assert_eq!(
        ok(
            store.latest_commit(&project, Some("staging")).await,
            check,
            "tip"
        ),
        commit,
        "{check}: the returned commit is the one of the last stage"
    );
    assert_eq!(
        content(
            store,
            &Scope::stage(&project, "prod"),
            "carts/sli.yaml",
            check
        )
        .await,
        None,
        "{check}: stages without the service are untouched"
    );
    fails(
        store
            .get_resource(&defaults, "sli.yaml", &ReadOptions::latest())
            .await,
        Kind::InvalidInput,
        check,
        "reading service defaults",
    );
    ok(
        store.delete_resource(&defaults, "sli.yaml").await,
        check,
        "delete defaults",
    );
    for stage in ["dev", "staging"] {
        assert_eq!(
            content(
                store,
                &Scope::service(&project, stage, "carts"),
                "sli.yaml",
                check
            )
            .await,
            None,
            "{check}: default deleted in {stage}"
        );
    }
    fails(
        store.delete_resource(&defaults, "sli.yaml").await,
        Kind::NotFound,
        check,
        "deleting missing defaults",
    );
    cleanup(store, &project, check).await;
}

pub(crate) async fn content_is_bytes(store: &dyn ConfigStore) {
    let check = "content_is_bytes";
    let project = sockshop(store, "bytes").await;
    let carts = Scope::service(&project, "dev", "carts");
    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    ok(
        store
            .put_resources(
                &carts,
                vec![
                    Resource::new("bin/blob.dat", binary.clone()),
                    Resource::new("empty.txt", Vec::new()),
                    Resource::new("dynatrace/sli file.yaml", "spaces are fine\n"),
                ],
                None,
            )
            .await,
        check,
        "put",
    );
    assert_eq!(
        content(store, &carts, "bin/blob.dat", check).await,
        Some(binary)
    );
    assert_eq!(
        content(store, &carts, "empty.txt", check).await,
        Some(Vec::new())
    );
    assert!(
        content(store, &carts, "dynatrace/sli file.yaml", check)
            .await
            .is_some()
    );
    cleanup(store, &project, check).await;
}
