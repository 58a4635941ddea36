//! Upstream sync against a local bare repository, with a second clone making conflicting
//! changes.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use keptn_core::configstore::{
    ConfigStore, ConfigStoreErrorKind, GitConfigStore, GitStoreOptions, GitTestHook, HookPoint,
    ProjectSetup, ReadOptions, Resource, Scope, Upstream,
};

use super::support::{OtherClone, Remote, git_store, git_store_with, sockshop};

pub(crate) fn with_upstream(remote: &Remote) -> ProjectSetup {
    ProjectSetup {
        upstream: Some(Upstream::anonymous(&remote.url)),
        ..ProjectSetup::default()
    }
}

pub(crate) async fn read(
    store: &GitConfigStore,
    scope: &Scope,
    uri: &str,
    options: ReadOptions,
) -> Option<Vec<u8>> {
    store
        .get_resource(scope, uri, &options)
        .await
        .expect("read")
        .map(|r| r.content)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_pushed_to_the_upstream() {
    let (_dir, store) = git_store();
    let remote = Remote::new();
    sockshop(&store, "sockshop", with_upstream(&remote)).await;
    assert!(remote.file("main", "metadata.yaml").is_some());
    for stage in ["dev", "staging", "production"] {
        assert!(
            remote.file(stage, "carts/metadata.yaml").is_some(),
            "stage {stage} and service carts are pushed"
        );
    }
    let carts = Scope::service("sockshop", "dev", "carts");
    let v1 = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "v1")], None)
        .await
        .unwrap();
    assert_eq!(
        remote.tip("dev").map(|o| o.to_string()),
        Some(v1.clone().into_inner())
    );
    assert_eq!(
        remote.file("dev", "carts/slo.yaml").as_deref(),
        Some(&b"v1"[..])
    );
    store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "v2")], None)
        .await
        .unwrap();
    let old = store
        .get_resource(&carts, "slo.yaml", &ReadOptions::at(v1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.content, b"v1");
    assert_eq!(
        old.metadata.upstream_url.as_deref(),
        Some(remote.url.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_pull_changes_pushed_by_another_clone_unless_told_not_to() {
    let (_dir, store) = git_store();
    let remote = Remote::new();
    sockshop(&store, "sockshop", with_upstream(&remote)).await;
    let other = OtherClone::of(&remote);
    other.commit_and_push("dev", "carts/slo.yaml", b"from the other clone");
    let carts = Scope::service("sockshop", "dev", "carts");
    assert_eq!(
        read(
            &store,
            &carts,
            "slo.yaml",
            ReadOptions::latest().without_upstream_sync()
        )
        .await,
        None,
        "without sync, the local repository answers"
    );
    assert_eq!(
        read(&store, &carts, "slo.yaml", ReadOptions::latest())
            .await
            .as_deref(),
        Some(&b"from the other clone"[..]),
        "a read pulls first"
    );
    assert_eq!(
        store
            .latest_commit("sockshop", Some("dev"))
            .await
            .unwrap()
            .into_inner(),
        remote.tip("dev").unwrap().to_string()
    );
}

/// Pushes a change from another clone right before the store pushes, `times` times.
struct Racer {
    other: Mutex<OtherClone>,
    remaining: AtomicU32,
    armed: AtomicBool,
}

impl GitTestHook for Racer {
    fn on(&self, project: &str, point: HookPoint) {
        if project != "sockshop" || !self.armed.load(Ordering::SeqCst) {
            return;
        }
        if let HookPoint::BeforePush { attempt } = point {
            if self.remaining.load(Ordering::SeqCst) == 0 {
                return;
            }
            self.remaining.fetch_sub(1, Ordering::SeqCst);
            let other = self.other.lock().unwrap();
            other.commit_and_push(
                "dev",
                "carts/sli.yaml",
                format!("other {attempt}").as_bytes(),
            );
            other.commit_and_push(
                "dev",
                "carts/slo.yaml",
                format!("older slo {attempt}").as_bytes(),
            );
        }
    }
}

fn racer(remote: &Remote, times: u32) -> Arc<Racer> {
    Arc::new(Racer {
        other: Mutex::new(OtherClone::of(remote)),
        remaining: AtomicU32::new(times),
        armed: AtomicBool::new(false),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_rejected_because_another_clone_pushed_is_retried_on_top_of_the_upstream() {
    let remote = Remote::new();
    let racer = racer(&remote, 1);
    let (_dir, store) = git_store_with(GitStoreOptions::default().test_hook(racer.clone()));
    sockshop(&store, "sockshop", with_upstream(&remote)).await;
    racer.armed.store(true, Ordering::SeqCst);

    let carts = Scope::service("sockshop", "dev", "carts");
    let commit = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "mine")], None)
        .await
        .expect("the write lands after one retry");
    assert_eq!(
        racer.remaining.load(Ordering::SeqCst),
        0,
        "the race happened"
    );
    assert_eq!(remote.tip("dev").unwrap().to_string(), commit.as_str());
    assert_eq!(
        remote.file("dev", "carts/slo.yaml").as_deref(),
        Some(&b"mine"[..]),
        "the write is applied on top of the other clone's change to the same file"
    );
    assert_eq!(
        remote.file("dev", "carts/sli.yaml").as_deref(),
        Some(&b"other 1"[..]),
        "the other clone's other change is kept"
    );
    let local = read(
        &store,
        &carts,
        "sli.yaml",
        ReadOptions::latest().without_upstream_sync(),
    )
    .await;
    assert_eq!(local.as_deref(), Some(&b"other 1"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_keeps_moving_fails_with_conflict_and_nothing_is_written() {
    let remote = Remote::new();
    let racer = racer(&remote, 2);
    let options = GitStoreOptions::default()
        .test_hook(racer.clone())
        .push_attempts(2);
    let (_dir, store) = git_store_with(options);
    sockshop(&store, "sockshop", with_upstream(&remote)).await;
    racer.armed.store(true, Ordering::SeqCst);

    let carts = Scope::service("sockshop", "dev", "carts");
    let err = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "mine")], None)
        .await
        .expect_err("the upstream moved at every push");
    assert_eq!(err.kind(), ConfigStoreErrorKind::Conflict);
    let text = err.to_string();
    assert!(
        text.contains("sockshop") && text.contains(&remote.url),
        "{text}"
    );
    let local = read(
        &store,
        &carts,
        "slo.yaml",
        ReadOptions::latest().without_upstream_sync(),
    )
    .await;
    assert_ne!(
        local.as_deref(),
        Some(&b"mine"[..]),
        "the write is not in the local repository"
    );
    assert_ne!(
        remote.file("dev", "carts/slo.yaml").as_deref(),
        Some(&b"mine"[..])
    );

    // Once the upstream is quiet, the same write goes through and includes everything.
    let commit = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "mine")], None)
        .await
        .expect("write after the race");
    assert_eq!(remote.tip("dev").unwrap().to_string(), commit.as_str());
    assert_eq!(
        remote.file("dev", "carts/sli.yaml").as_deref(),
        Some(&b"other 2"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_fails_clearly_and_leaves_the_local_repository_unchanged() {
    let (_dir, store) = git_store();
    let remote = Remote::new();
    sockshop(&store, "sockshop", with_upstream(&remote)).await;
    let carts = Scope::service("sockshop", "dev", "carts");
    store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "before")], None)
        .await
        .unwrap();
    let tip = store.latest_commit("sockshop", Some("dev")).await.unwrap();

    let offline = remote.take_offline();
    let err = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "during")], None)
        .await
        .expect_err("the upstream is unreachable");
    assert_eq!(err.kind(), ConfigStoreErrorKind::Upstream);
    let text = err.to_string();
    assert!(
        text.contains("project 'sockshop'") && text.contains(&remote.url),
        "the message names the project and the remote: {text}"
    );
    assert!(
        text.contains("failed:"),
        "the message carries git's message: {text}"
    );
    assert_eq!(
        store.latest_commit("sockshop", Some("dev")).await.unwrap(),
        tip
    );
    let err = store
        .get_resource(&carts, "slo.yaml", &ReadOptions::latest())
        .await
        .expect_err("a syncing read fails too");
    assert_eq!(err.kind(), ConfigStoreErrorKind::Upstream);
    assert_eq!(
        read(
            &store,
            &carts,
            "slo.yaml",
            ReadOptions::latest().without_upstream_sync()
        )
        .await
        .as_deref(),
        Some(&b"before"[..]),
        "reads without sync still work"
    );
    let err = store
        .create_stage("sockshop", "hardening")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConfigStoreErrorKind::Upstream);
    assert!(
        !store
            .stages("sockshop")
            .await
            .unwrap()
            .contains(&"hardening".to_owned())
    );

    drop(offline);
    let commit = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "after")], None)
        .await
        .expect("the upstream is back");
    assert_eq!(remote.tip("dev").unwrap().to_string(), commit.as_str());
}
