//! Writes to one project do not hold up other projects, and never block the async runtime.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use keptn_core::configstore::{
    ConfigStore, GitStoreOptions, GitTestHook, HookPoint, ProjectSetup, ReadOptions, Resource,
    Scope,
};

use super::support::{bounded, git_store_with, sockshop};

/// Holds every write of one project inside its write lock until released.
struct Gate {
    project: String,
    armed: AtomicBool,
    entered: tokio::sync::mpsc::Sender<()>,
    release: Mutex<mpsc::Receiver<()>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl GitTestHook for Gate {
    fn on(&self, project: &str, point: HookPoint) {
        if project != self.project
            || point != HookPoint::BeforeCommit
            || !self.armed.load(Ordering::SeqCst)
        {
            return;
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let _ = self.entered.blocking_send(());
        // Bounded: a broken test releases itself after a minute instead of hanging.
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(60));
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

// A current-thread runtime: if any git2 call of the held write ran on the runtime thread, the
// write to project A could not make progress while B is held.
#[tokio::test(flavor = "current_thread")]
async fn a_write_to_project_a_is_not_blocked_by_a_slow_write_to_project_b() {
    let (entered_tx, mut entered) = tokio::sync::mpsc::channel(4);
    let (release, release_rx) = mpsc::channel();
    let gate = Arc::new(Gate {
        project: "project-b".to_owned(),
        armed: AtomicBool::new(false),
        entered: entered_tx,
        release: Mutex::new(release_rx),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    });
    let (_dir, store) = git_store_with(GitStoreOptions::default().test_hook(gate.clone()));
    sockshop(&store, "project-a", ProjectSetup::default()).await;
    sockshop(&store, "project-b", ProjectSetup::default()).await;
    gate.armed.store(true, Ordering::SeqCst);

    let b = Scope::service("project-b", "dev", "carts");
    let slow_b = tokio::spawn({
        let (store, b) = (store.clone(), b.clone());
        async move {
            store
                .put_resources(&b, vec![Resource::new("slo.yaml", "b1")], None)
                .await
        }
    });
    bounded("the slow write to B starting", entered.recv()).await;

    // B is inside its write. A second write to B queues behind it.
    let queued_b = tokio::spawn({
        let (store, b) = (store.clone(), b.clone());
        async move {
            store
                .put_resources(&b, vec![Resource::new("sli.yaml", "b2")], None)
                .await
        }
    });

    // A is written and read back while B is held.
    let a = Scope::service("project-a", "dev", "carts");
    let a_commit = bounded(
        "the write to A",
        store.put_resources(&a, vec![Resource::new("slo.yaml", "a")], None),
    )
    .await
    .expect("write to A");
    let a_read = bounded(
        "the read of A",
        store.get_resource(&a, "slo.yaml", &ReadOptions::latest()),
    )
    .await
    .expect("read A")
    .expect("A's resource");
    assert_eq!(a_read.metadata.version, a_commit);
    // Reads of B do not wait for B's writes either.
    let b_read = bounded(
        "a read of B during its write",
        store.get_resource(&b, "slo.yaml", &ReadOptions::latest()),
    )
    .await
    .expect("read B");
    assert!(b_read.is_none(), "B's held write is not visible yet");
    assert!(!slow_b.is_finished(), "B is still held while A completed");
    assert!(
        !queued_b.is_finished(),
        "the second write to B waits for the first"
    );

    // Release B's writes one after the other.
    for _ in 0..2 {
        release.send(()).expect("release");
    }
    bounded("the slow write to B", slow_b)
        .await
        .expect("task")
        .expect("write to B");
    bounded("the queued write to B", queued_b)
        .await
        .expect("task")
        .expect("second write to B");
    assert_eq!(
        gate.max_in_flight.load(Ordering::SeqCst),
        1,
        "writes to one project never overlap"
    );
    for uri in ["slo.yaml", "sli.yaml"] {
        let read = store
            .get_resource(&b, uri, &ReadOptions::latest())
            .await
            .expect("read")
            .expect("written");
        assert!(!read.content.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_to_one_project_all_land_as_separate_commits() {
    let (_dir, store) = super::support::git_store();
    sockshop(&store, "sockshop", ProjectSetup::default()).await;
    let before = store.latest_commit("sockshop", Some("dev")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .put_resources(
                    &Scope::service("sockshop", "dev", "carts"),
                    vec![Resource::new(format!("file-{i}.yaml"), format!("{i}"))],
                    None,
                )
                .await
        }));
    }
    let mut commits = std::collections::HashSet::new();
    for task in tasks {
        let commit = bounded("a concurrent write", task).await.unwrap().unwrap();
        commits.insert(commit);
    }
    assert_eq!(commits.len(), 16, "every write is its own commit");
    assert!(!commits.contains(&before));
    let files = store
        .list_resources(
            &Scope::service("sockshop", "dev", "carts"),
            &ReadOptions::latest(),
        )
        .await
        .unwrap();
    assert_eq!(files.len(), 17, "16 files and metadata.yaml: {files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_write_completes_and_keeps_the_project_locked_until_it_does() {
    let (entered_tx, mut entered) = tokio::sync::mpsc::channel(4);
    let (release, release_rx) = mpsc::channel();
    let gate = Arc::new(Gate {
        project: "sockshop".to_owned(),
        armed: AtomicBool::new(false),
        entered: entered_tx,
        release: Mutex::new(release_rx),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    });
    let (_dir, store) = git_store_with(GitStoreOptions::default().test_hook(gate.clone()));
    sockshop(&store, "sockshop", ProjectSetup::default()).await;
    gate.armed.store(true, Ordering::SeqCst);
    let carts = Scope::service("sockshop", "dev", "carts");

    let cancelled = tokio::spawn({
        let (store, carts) = (store.clone(), carts.clone());
        async move {
            store
                .put_resources(&carts, vec![Resource::new("slo.yaml", "first")], None)
                .await
        }
    });
    bounded("the first write starting", entered.recv()).await;
    cancelled.abort();
    assert!(
        bounded("the aborted task", cancelled)
            .await
            .unwrap_err()
            .is_cancelled(),
        "the caller stopped waiting"
    );
    let second = tokio::spawn({
        let (store, carts) = (store.clone(), carts.clone());
        async move {
            store
                .put_resources(&carts, vec![Resource::new("sli.yaml", "second")], None)
                .await
        }
    });
    release.send(()).expect("release the first write");
    bounded("the second write starting", entered.recv()).await;
    release.send(()).expect("release the second write");
    bounded("the second write", second)
        .await
        .expect("task")
        .expect("second write");
    assert_eq!(
        gate.max_in_flight.load(Ordering::SeqCst),
        1,
        "the writes never overlapped"
    );
    let first = store
        .get_resource(&carts, "slo.yaml", &ReadOptions::latest())
        .await
        .expect("read")
        .expect("the cancelled write still landed");
    assert_eq!(first.content, b"first");
}
