//! Configuration-store throughput through the `ConfigStore` trait.
//!
//! `cargo bench -p keptn-core --no-default-features --features git --bench configstore`
//!
//! - `git/put_1kb`: one commit of one 1 KB service resource (new content each time), the
//!   figure the issue targets (>= 300 commits/s on 2 cores; a bare git2 object-level commit is
//!   ~640/s on this machine);
//! - `git/put_1kb_two_projects`: two such commits, to two projects, in parallel;
//! - `git/put_10x1kb`: one commit of ten 1 KB resources;
//! - `git/get_tip` and `git/get_at_commit`: reads of a 1 KB resource;
//! - `memory/put_1kb`: the in-memory store, for the ratio;
//! - `git2_raw/commit_1kb`: the same commit made with git2 directly on one thread (blob, tree
//!   update, commit, branch move), the ceiling of the building block in the same run.

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keptn_core::configstore::{
    ConfigStore, GitConfigStore, GitStoreOptions, MemoryConfigStore, ProjectSetup, ReadOptions,
    Resource, Scope,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn sockshop(store: &dyn ConfigStore, project: &str) {
    store
        .create_project(project, ProjectSetup::default())
        .await
        .expect("project");
    store.create_stage(project, "dev").await.expect("stage");
    store
        .create_service(project, "carts")
        .await
        .expect("service");
}

/// 1 KB of YAML-like text that differs for every `n`, so every write is a real commit.
fn kilobyte(n: u64) -> Vec<u8> {
    let mut body = format!("# revision {n}\n").into_bytes();
    body.resize(1024, b'x');
    body
}

fn bench_git(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = GitConfigStore::open(dir.path(), GitStoreOptions::default()).expect("store");
    rt.block_on(async {
        sockshop(&store, "sockshop").await;
        sockshop(&store, "other").await;
    });
    let counter = AtomicU64::new(0);
    let carts = Scope::service("sockshop", "dev", "carts");
    let other = Scope::service("other", "dev", "carts");

    let mut group = c.benchmark_group("git");
    group.throughput(Throughput::Elements(1));
    group.bench_function("put_1kb", |b| {
        b.to_async(&rt).iter(|| async {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            store
                .put_resources(&carts, vec![Resource::new("slo.yaml", kilobyte(n))], None)
                .await
                .expect("put")
        })
    });
    group.throughput(Throughput::Elements(2));
    group.bench_function("put_1kb_two_projects", |b| {
        b.to_async(&rt).iter(|| async {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let first =
                store.put_resources(&carts, vec![Resource::new("slo.yaml", kilobyte(n))], None);
            let second =
                store.put_resources(&other, vec![Resource::new("slo.yaml", kilobyte(n))], None);
            let (a, b) = tokio::join!(first, second);
            (a.expect("put"), b.expect("put"))
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("put_10x1kb", |b| {
        b.to_async(&rt).iter(|| async {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let batch = (0..10)
                .map(|i| Resource::new(format!("batch/{i}.yaml"), kilobyte(n * 10 + i)))
                .collect();
            store.put_resources(&carts, batch, None).await.expect("put")
        })
    });
    let stamp = rt
        .block_on(store.put_resources(&carts, vec![Resource::new("sli.yaml", kilobyte(0))], None))
        .expect("put");
    let latest = ReadOptions::latest();
    group.bench_function("get_tip", |b| {
        b.to_async(&rt).iter(|| async {
            store
                .get_resource(&carts, "sli.yaml", &latest)
                .await
                .expect("get")
                .expect("exists")
        })
    });
    let at = ReadOptions::at(stamp);
    group.bench_function("get_at_commit", |b| {
        b.to_async(&rt).iter(|| async {
            store
                .get_resource(&carts, "sli.yaml", &at)
                .await
                .expect("get")
                .expect("exists")
        })
    });
    group.finish();
}

fn bench_memory(c: &mut Criterion) {
    let rt = runtime();
    let store = MemoryConfigStore::new();
    rt.block_on(sockshop(&store, "sockshop"));
    let counter = AtomicU64::new(0);
    let carts = Scope::service("sockshop", "dev", "carts");
    let mut group = c.benchmark_group("memory");
    // Every commit is kept for reads at old ids: keep the run short so memory stays small.
    group.measurement_time(std::time::Duration::from_secs(2));
    group.throughput(Throughput::Elements(1));
    group.bench_function("put_1kb", |b| {
        b.to_async(&rt).iter(|| async {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            store
                .put_resources(&carts, vec![Resource::new("slo.yaml", kilobyte(n))], None)
                .await
                .expect("put")
        })
    });
    group.finish();
}

fn bench_raw_git2(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let repo = git2::Repository::init_bare(dir.path()).expect("bare repository");
    let sig = git2::Signature::now("Keptn", "keptn@keptn.sh").expect("signature");
    let empty = repo
        .treebuilder(None)
        .and_then(|b| b.write())
        .expect("empty tree");
    let empty = repo.find_tree(empty).expect("tree");
    let root = repo
        .commit(Some("refs/heads/dev"), &sig, &sig, "root", &empty, &[])
        .expect("root commit");
    let mut tip = root;
    let mut n = 0u64;
    let mut group = c.benchmark_group("git2_raw");
    group.throughput(Throughput::Elements(1));
    group.bench_function("commit_1kb", |b| {
        b.iter(|| {
            n += 1;
            let parent = repo.find_commit(tip).expect("parent");
            let blob = repo.blob(&kilobyte(n)).expect("blob");
            let mut update = git2::build::TreeUpdateBuilder::new();
            update.upsert("carts/slo.yaml", blob, git2::FileMode::Blob);
            let tree = update
                .create_updated(&repo, &parent.tree().expect("tree"))
                .expect("tree update");
            let tree = repo.find_tree(tree).expect("tree");
            let commit = repo
                .commit(None, &sig, &sig, "Updated resource", &tree, &[&parent])
                .expect("commit");
            repo.reference_matching("refs/heads/dev", commit, true, tip, "bench")
                .expect("move branch");
            tip = commit;
        })
    });
    group.finish();
}

criterion_group!(benches, bench_git, bench_memory, bench_raw_git2);
criterion_main!(benches);
