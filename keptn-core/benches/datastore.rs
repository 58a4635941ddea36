//! Event store benchmarks: insert throughput (single and batched, 1.5 KB events) and the
//! latency of the two hot queries at 100k and 1M stored events, on SQLite and PostgreSQL.
//!
//! `cargo bench -p keptn-core --bench datastore --no-default-features --features sqlite,postgres`
//!
//! The SQLite databases of 100k and 1M events are built once with batched inserts and kept in
//! `<target>/keptn-bench/` (a kept file is read once before the queries, so that it is in the
//! OS page cache as a freshly built one is); PostgreSQL databases are built on every run on a
//! private server (started by the test support, which runs PostgreSQL with `fsync=off`). Set
//! `KEPTN_BENCH_SIZES=100000` to skip the 1M databases, and `KEPTN_BENCH_ONLY=sqlite,insert`
//! (any of `sqlite`, `postgres`, `insert`, `query`) to run a part.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keptn_core::datastore::{
    EventFilter, EventQuery, EventStore, PgEventStore, SqliteEventStore, TypeQuery,
};
use keptn_core::db::{PgDb, SqliteDb, SqliteDbOptions};
use keptn_sdk::event::{EventId, EventType, KeptnContext, KeptnEvent, SpecVersion};
use serde_json::json;
use tokio::runtime::Runtime;

/// Events per Keptn context (one delivery: deployment, test and evaluation tasks).
const PER_CONTEXT: u64 = 10;
const TYPES: [&str; PER_CONTEXT as usize] = [
    "sh.keptn.event.dev.delivery.triggered",
    "sh.keptn.event.deployment.triggered",
    "sh.keptn.event.deployment.started",
    "sh.keptn.event.deployment.finished",
    "sh.keptn.event.test.triggered",
    "sh.keptn.event.test.started",
    "sh.keptn.event.test.finished",
    "sh.keptn.event.evaluation.triggered",
    "sh.keptn.event.evaluation.started",
    "sh.keptn.event.evaluation.finished",
];
const EVALUATION_FINISHED: &str = "sh.keptn.event.evaluation.finished";
const FILLER: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// How the data set's event ids and Keptn contexts are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    /// Time-ordered (version 7 layout), as keptn-rs generates and derives them: new ids land
    /// at the end of the id and context indexes.
    TimeOrdered,
    /// Random (version 4 layout), as other Keptn producers send them: new ids land all over
    /// the indexes.
    Random,
}

/// The start of the data set's clock: event `n` happens `n * 10` ms after it.
const EPOCH_MS: u64 = 1_704_067_200_000;

/// A deterministic UUID of kind `kind` (1: event, 2: context) for item `n`, first seen at
/// event `at` of the data set.
fn uuid(ids: Ids, kind: u64, n: u64, at: u64) -> String {
    let hi = mix(n ^ (kind << 56));
    let lo = mix(hi ^ n);
    let bytes = uuid::Uuid::from_u64_pair(hi, lo).into_bytes();
    match ids {
        Ids::Random => uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string(),
        Ids::TimeOrdered => uuid::Builder::from_unix_timestamp_millis(
            EPOCH_MS + at * 10,
            bytes[6..].try_into().expect("ten bytes"),
        )
        .into_uuid()
        .to_string(),
    }
}

fn event_id(ids: Ids, n: u64) -> String {
    uuid(ids, 1, n, n)
}

fn context_id(ids: Ids, context: u64) -> String {
    uuid(ids, 2, context, context * PER_CONTEXT)
}

fn scope_of(context: u64) -> (String, &'static str, String) {
    let project = format!("project-{}", context % 5);
    let stage = ["dev", "staging", "production"][((context / 5) % 3) as usize];
    let service = format!("service-{}", (context / 15) % 10);
    (project, stage, service)
}

/// Event `n` of the data set: about 1.5 KB of JSON.
fn bench_event(ids: Ids, n: u64) -> KeptnEvent {
    let context = n / PER_CONTEXT;
    let step = n % PER_CONTEXT;
    let (project, stage, service) = scope_of(context);
    // Independent of the scope (which repeats every 150 contexts): 70% pass in every service.
    let result = match (context / 150) % 10 {
        0..=6 => "pass",
        7 | 8 => "warning",
        _ => "fail",
    };
    let filler: String = FILLER.repeat(28);
    let data = json!({
        "project": project, "stage": stage, "service": service,
        "labels": {"buildId": format!("{context}"), "owner": "team-a"},
        "status": "succeeded", "result": result, "message": "done",
        "deployment": {
            "deploymentstrategy": "direct",
            "deploymentURIsLocal": [format!("http://{service}.{project}-{stage}:80")],
            "deploymentNames": ["direct"],
        },
        "evaluation": {"score": 95.5, "sloFileContent": filler},
    });
    KeptnEvent {
        specversion: SpecVersion::V10,
        id: EventId::new(event_id(ids, n)),
        source: "benchmark".to_owned(),
        event_type: EventType::parse(TYPES[step as usize]),
        time: Utc
            .timestamp_millis_opt((EPOCH_MS + n * 10) as i64)
            .unwrap(),
        datacontenttype: Some("application/json".to_owned()),
        dataschema: None,
        subject: None,
        shkeptncontext: KeptnContext::new(context_id(ids, context)),
        triggeredid: (step > 0).then(|| EventId::new(event_id(ids, n - step))),
        gitcommitid: None,
        shkeptnspecversion: Some("0.2.4".to_owned()),
        extensions: Default::default(),
        data,
    }
}

async fn fill(store: &dyn EventStore, from: u64, to: u64) {
    let mut n = from;
    while n < to {
        let end = (n + 512).min(to);
        let batch: Vec<KeptnEvent> = (n..end).map(|n| bench_event(Ids::TimeOrdered, n)).collect();
        store
            .insert_batch(&batch)
            .await
            .expect("filling the database");
        n = end;
    }
}

fn sizes() -> Vec<u64> {
    std::env::var("KEPTN_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100_000, 1_000_000])
}

/// Whether `KEPTN_BENCH_ONLY` (comma-separated words such as `sqlite`, `postgres`, `insert`,
/// `query`) selects `part` of `backend`; everything runs when it is unset. Unlike criterion's
/// filter, it also skips building the databases of what it does not select.
fn selected(backend: &str, part: &str) -> bool {
    match std::env::var("KEPTN_BENCH_ONLY") {
        Err(_) => true,
        Ok(only) => {
            let words: Vec<&str> = only.split(',').map(str::trim).collect();
            let backends = ["sqlite", "postgres"];
            let parts = ["insert", "query"];
            let backend_ok =
                !words.iter().any(|w| backends.contains(w)) || words.contains(&backend);
            let part_ok = !words.iter().any(|w| parts.contains(w)) || words.contains(&part);
            backend_ok && part_ok
        }
    }
}

/// SQLite options; `KEPTN_BENCH_BACKGROUND_CHECKPOINTS=0` checkpoints in the writer.
fn sqlite_options() -> SqliteDbOptions {
    SqliteDbOptions {
        background_checkpoints: std::env::var("KEPTN_BENCH_BACKGROUND_CHECKPOINTS")
            .map_or(true, |v| v != "0"),
        ..SqliteDbOptions::default()
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("keptn-bench")
}

/// Reads a file once so that the OS keeps it in its page cache: the query figures are those of
/// a server whose database fits in memory, whatever ran on the machine before the benchmark.
fn read_into_page_cache(path: &std::path::Path) {
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(path) else {
        return;
    };
    let mut buffer = vec![0_u8; 1 << 20];
    while matches!(file.read(&mut buffer), Ok(n) if n > 0) {}
}

/// A SQLite store holding events `0..size`, from the cache when it is complete.
async fn sqlite_with(size: u64) -> (SqliteDb, SqliteEventStore) {
    // The name changes with the data set (v2: time-ordered ids), so an old file is not reused.
    let path = target_dir().join(format!("sqlite-{size}-v2.db"));
    if path.exists() {
        let db = SqliteDb::open(&path)
            .await
            .expect("opening the cached database");
        let store = SqliteEventStore::new(db.clone()).await.expect("store");
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events")
            .fetch_one(db.read_pool())
            .await
            .expect("count");
        if count as u64 == size {
            read_into_page_cache(&path);
            return (db, store);
        }
        db.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    let db = SqliteDb::open(&path).await.expect("creating the database");
    let store = SqliteEventStore::new(db.clone()).await.expect("store");
    let started = Instant::now();
    fill(&store, 0, size).await;
    eprintln!(
        "built {} with {size} events in {:.1?} ({:.0} events/s)",
        path.display(),
        started.elapsed(),
        size as f64 / started.elapsed().as_secs_f64()
    );
    (db, store)
}

async fn postgres_with(size: u64) -> (PgDb, PgEventStore) {
    let url = keptn_testkit::PostgresServer::shared()
        .and_then(|s| s.create_database())
        .expect("a PostgreSQL server (run scripts/install-test-deps.sh)");
    let db = PgDb::connect(&url).await.expect("connect");
    let store = PgEventStore::new(db.clone()).await.expect("store");
    let started = Instant::now();
    fill(&store, 0, size).await;
    sqlx::query("ANALYZE")
        .execute(db.pool())
        .await
        .expect("analyze");
    eprintln!(
        "built a PostgreSQL database with {size} events in {:.1?} ({:.0} events/s)",
        started.elapsed(),
        size as f64 / started.elapsed().as_secs_f64()
    );
    (db, store)
}

/// CPU time of this process (every thread) so far, from `/proc/self/stat`; `None` elsewhere.
/// Insert figures are also reported as CPU time per event, which a busy machine distorts less
/// than wall-clock throughput.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time per thread of this process: `(thread id, name) -> time`, from `/proc/self/task`.
fn thread_cpu() -> std::collections::HashMap<(String, String), Duration> {
    let mut times = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return times;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head
            .split_once('(')
            .map(|(_, n)| n.to_owned())
            .unwrap_or_default();
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let ticks = fields
            .get(11)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        let id = task.file_name().to_string_lossy().into_owned();
        times.insert((id, name), Duration::from_millis(ticks * 10));
    }
    times
}

/// The busiest thread between two [`thread_cpu`] snapshots: for SQLite, the writer connection's
/// worker thread, whose CPU time per event bounds what one writer can sustain.
fn busiest_thread(
    before: &std::collections::HashMap<(String, String), Duration>,
    after: &std::collections::HashMap<(String, String), Duration>,
) -> Option<(String, Duration)> {
    after
        .iter()
        .map(|(key, t)| {
            (
                key.1.clone(),
                t.saturating_sub(before.get(key).copied().unwrap_or_default()),
            )
        })
        .max_by_key(|(_, t)| *t)
}

/// Insert throughput into an empty store: one caller inserting one event at a time, 64
/// concurrent callers inserting one event each (group commit at work), batches from one
/// caller, and batches from four callers (their serialization overlaps the writer's work);
/// all with time-ordered ids, and batches once more with random ids.
fn bench_inserts(c: &mut Criterion, rt: &Runtime, backend: &str, store: Arc<dyn EventStore>) {
    let next = Arc::new(AtomicU64::new(10_000_000_000));
    let mut group = c.benchmark_group(format!("{backend}/insert"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    let chunk = 2048_u64;
    group.throughput(Throughput::Elements(chunk));
    for (name, batch, callers, ids) in [
        ("single", 1, 1, Ids::TimeOrdered),
        ("single-64-callers", 1, 64, Ids::TimeOrdered),
        ("batch-100", 100, 1, Ids::TimeOrdered),
        ("batch-512", 512, 1, Ids::TimeOrdered),
        ("batch-512-4-callers", 512, 4, Ids::TimeOrdered),
        ("batch-512-random-ids", 512, 1, Ids::Random),
    ] {
        let (store, next) = (Arc::clone(&store), Arc::clone(&next));
        let cpu = Arc::new(std::sync::Mutex::new((
            Duration::ZERO,
            0_u64,
            Duration::ZERO,
            String::new(),
        )));
        let cpu_total = Arc::clone(&cpu);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let (store, next, cpu) = (Arc::clone(&store), Arc::clone(&next), Arc::clone(&cpu));
                async move {
                    let events = iters * chunk;
                    let first = next.fetch_add(events, Ordering::Relaxed);
                    // Each caller's share, cut into its batches, before the clock starts.
                    let shares: Vec<Vec<Vec<KeptnEvent>>> = (0..callers as u64)
                        .map(|caller| {
                            let mine: Vec<KeptnEvent> = (first..first + events)
                                .filter(|n| n % callers as u64 == caller)
                                .map(|n| bench_event(ids, n))
                                .collect();
                            mine.chunks(batch).map(<[KeptnEvent]>::to_vec).collect()
                        })
                        .collect();
                    let started = Instant::now();
                    let cpu_before = process_cpu();
                    let threads_before = thread_cpu();
                    let mut tasks = Vec::new();
                    for share in shares {
                        let store = Arc::clone(&store);
                        tasks.push(tokio::spawn(async move {
                            for part in &share {
                                if let [single] = part.as_slice() {
                                    store.insert(single).await.expect("insert");
                                } else {
                                    store.insert_batch(part).await.expect("insert");
                                }
                            }
                            // The caller's events are freed after the clock stops: that is
                            // the caller's cost, not the store's.
                            share
                        }));
                    }
                    let mut done = Vec::with_capacity(tasks.len());
                    for task in tasks {
                        done.push(task.await.expect("insert task"));
                    }
                    let elapsed = started.elapsed();
                    let busiest = busiest_thread(&threads_before, &thread_cpu());
                    if let (Some(before), Some(after), Ok(mut total)) =
                        (cpu_before, process_cpu(), cpu.lock())
                    {
                        total.0 += after.saturating_sub(before);
                        total.1 += events;
                        if let Some((name, time)) = busiest {
                            total.2 += time;
                            total.3 = name;
                        }
                    }
                    drop(done);
                    elapsed
                }
            });
        });
        if let Ok(total) = cpu_total.lock() {
            if total.1 > 0 {
                eprintln!(
                    "{backend}/insert/{name}: {:.1} us of this process's CPU per event, \
                     {:.1} us in its busiest thread ({})",
                    total.0.as_secs_f64() * 1e6 / total.1 as f64,
                    total.2.as_secs_f64() * 1e6 / total.1 as f64,
                    total.3
                );
            }
        }
    }
    group.finish();
}

/// "Latest 20 events of a keptn context" and "last 5 passing evaluations of a service".
fn bench_queries(
    c: &mut Criterion,
    rt: &Runtime,
    backend: &str,
    size: u64,
    store: Arc<dyn EventStore>,
) {
    let mut group = c.benchmark_group(format!("{backend}/query/{size}"));
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(4));
    let contexts = size / PER_CONTEXT;
    let counter = Arc::new(AtomicU64::new(0));
    {
        let (store, counter) = (Arc::clone(&store), Arc::clone(&counter));
        group.bench_function("latest-20-of-a-context", |b| {
            b.to_async(rt).iter(|| {
                let (store, counter) = (Arc::clone(&store), Arc::clone(&counter));
                async move {
                    let context = mix(counter.fetch_add(1, Ordering::Relaxed)) % contexts;
                    let mut q = EventQuery::context(context_id(Ids::TimeOrdered, context));
                    q.page_size = Some(20);
                    let page = store.query(&q).await.expect("query");
                    assert_eq!(page.events.len() as u64, PER_CONTEXT);
                }
            });
        });
    }
    {
        let (store, counter) = (Arc::clone(&store), Arc::clone(&counter));
        group.bench_function("last-5-passing-evaluations-of-a-service", |b| {
            b.to_async(rt).iter(|| {
                let (store, counter) = (Arc::clone(&store), Arc::clone(&counter));
                async move {
                    let context = mix(counter.fetch_add(1, Ordering::Relaxed)) % contexts;
                    let (project, stage, service) = scope_of(context);
                    let filter = EventFilter::parse(&format!(
                        "data.project:{project} AND data.stage:{stage} AND data.service:{service} AND data.result:pass"
                    ))
                    .expect("filter");
                    let mut q = TypeQuery::new(EVALUATION_FINISHED, filter);
                    q.limit = Some(5);
                    q.exclude_invalidated = true;
                    let events = store.query_by_type(&q).await.expect("query");
                    assert_eq!(events.len(), 5);
                }
            });
        });
    }
    group.finish();
}

fn datastore(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let scratch = tempfile::tempdir().expect("tempdir");
    if selected("sqlite", "insert") {
        let (db, store) = rt.block_on(async {
            let db = SqliteDb::open_with(scratch.path().join("insert.db"), sqlite_options())
                .await
                .expect("open");
            let store = SqliteEventStore::new(db.clone()).await.expect("store");
            (db, store)
        });
        bench_inserts(c, &rt, "sqlite", Arc::new(store));
        rt.block_on(db.close());
    }
    if selected("postgres", "insert") {
        let (db, store) = rt.block_on(async {
            let url = keptn_testkit::PostgresServer::shared()
                .and_then(|s| s.create_database())
                .expect("a PostgreSQL server (run scripts/install-test-deps.sh)");
            let db = PgDb::connect(&url).await.expect("connect");
            let store = PgEventStore::new(db.clone()).await.expect("store");
            (db, store)
        });
        bench_inserts(c, &rt, "postgres", Arc::new(store));
        rt.block_on(db.close());
    }
    for size in sizes() {
        if selected("sqlite", "query") {
            let (db, store) = rt.block_on(sqlite_with(size));
            bench_queries(c, &rt, "sqlite", size, Arc::new(store));
            rt.block_on(db.close());
        }
        if selected("postgres", "query") {
            let (db, store) = rt.block_on(postgres_with(size));
            bench_queries(c, &rt, "postgres", size, Arc::new(store));
            rt.block_on(db.close());
        }
    }
}

criterion_group!(benches, datastore);
criterion_main!(benches);
