//! Orchestration benchmarks.
//!
//! - `core/task_step`: the pure state machine handling one task step (`.started` and
//!   `.finished` in, the next `.triggered` out) with 1,000 sequences active.
//! - `controller/task_round_trip`: one task end to end through the controller on the in-memory
//!   transport and store, with an executor that answers at once (latency per task).
//! - `controller/sqlite_throughput`: 1,000 concurrent sequences of 3 stages x 4 tasks with the
//!   state on SQLite (a `SqliteSequenceStore` on its own `SqliteDb`) and instant executors;
//!   reported as elements (task completions) per second.
//! - `controller/sqlite_throughput_shared`: the same, with every event of the bus also stored
//!   by the datastore's ingester in a `SqliteEventStore` on the same `SqliteDb`, as in the
//!   embedded plane: the sequence store's commits and the event inserts share one writer.
//!
//! - `store/sqlite_commit`: the sequence store alone: the commits the controller writes for
//!   1,000 sequences of 3 stages x 4 tasks (recorded from the pure core, 64 task completions per
//!   commit, as under load) replayed one after the other into a `SqliteSequenceStore`;
//!   reported per task completion.
//!
//! The throughput benchmarks also print the wall-clock rate and the process's CPU time per
//! task completion of each run (the machines are shared; CPU per task varies less).
//!
//! Run: `cargo bench -p keptn-core --bench orchestrator` (one group:
//! `cargo bench -p keptn-core --bench orchestrator -- controller/sqlite_throughput`).

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use keptn_core::datastore::{EventStore, Ingester, SqliteEventStore};
use keptn_core::db::SqliteDb;
use keptn_core::orchestrator::store::{
    Commit, MemorySequenceStore, OutboxEntry, SequenceStore, SqliteSequenceStore,
};
use keptn_core::orchestrator::{
    Controller, ControllerConfig, Core, CoreConfig, Effect, Input, MemoryShipyardSource,
};
use keptn_core::shipyard::Shipyard;
use keptn_sdk::event::payload::FinishedData;
use keptn_sdk::event::{EventType, KeptnContext, KeptnEvent, Phase};
use keptn_sdk::transport::{MemoryTransport, SubjectPattern, SubscribeOptions, Transport};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const TASKS: [&str; 4] = ["deployment", "test", "evaluation", "release"];

fn shipyard_yaml() -> String {
    let tasks = "          tasks:\n            - name: deployment\n              properties: {deploymentstrategy: direct}\n            - name: test\n              properties: {teststrategy: functional}\n            - name: evaluation\n            - name: release\n";
    format!(
        "apiVersion: spec.keptn.sh/0.2.2\nkind: Shipyard\nmetadata: {{name: bench}}\nspec:\n  stages:\n\
         \x20   - name: dev\n      sequences:\n        - name: delivery\n{tasks}\
         \x20   - name: hardening\n      sequences:\n        - name: delivery\n          triggeredOn: [{{event: dev.delivery.finished}}]\n{tasks}\
         \x20   - name: production\n      sequences:\n        - name: delivery\n          triggeredOn: [{{event: hardening.delivery.finished}}]\n{tasks}"
    )
}

fn trigger(stage: &str, service: &str) -> KeptnEvent {
    KeptnEvent::builder(EventType::sequence(stage, "delivery", Phase::Triggered))
        .source("bench")
        .context(KeptnContext::generate())
        .data_json(
            json!({"project": "bench", "stage": stage, "service": service,
            "labels": {"buildId": "1"},
            "configurationChange": {"values": {"image": "docker.io/keptnexamples/carts:0.13.1"}}}),
        )
        .build()
        .expect("a valid trigger")
}

/// The pure core: one task step with 1,000 sequences active.
fn core_task_step(c: &mut Criterion) {
    let shipyard = Arc::new(Shipyard::parse(&shipyard_yaml()).expect("valid shipyard"));
    let mut core = Core::new(CoreConfig::default());
    let mut open: VecDeque<KeptnEvent> = VecDeque::new();
    let feed = |core: &mut Core, input: Input, open: &mut VecDeque<KeptnEvent>| {
        for effect in core.handle(input, Utc::now()) {
            if let Effect::Publish(out) = effect {
                match &out.event.event_type {
                    EventType::Task {
                        phase: Phase::Triggered,
                        ..
                    } => open.push_back(out.event),
                    EventType::Sequence {
                        phase: Phase::Triggered,
                        ..
                    } => {
                        // A chained stage: the controller consumes its own trigger.
                        let again = core.handle(
                            Input::SequenceTriggered {
                                event: out.event,
                                shipyard: Ok(Arc::clone(&shipyard)),
                            },
                            Utc::now(),
                        );
                        for effect in again {
                            if let Effect::Publish(out) = effect {
                                if out.event.event_type.is_task() {
                                    open.push_back(out.event);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    };
    for i in 0..1000 {
        let input = Input::SequenceTriggered {
            event: trigger("dev", &format!("svc-{i}")),
            shipyard: Ok(Arc::clone(&shipyard)),
        };
        feed(&mut core, input, &mut open);
    }
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(1));
    group.bench_function("task_step", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let triggered = match open.pop_front() {
                    Some(t) => t,
                    None => {
                        let input = Input::SequenceTriggered {
                            event: trigger("dev", &format!("svc-refill-{i}")),
                            shipyard: Ok(Arc::clone(&shipyard)),
                        };
                        feed(&mut core, input, &mut open);
                        open.pop_front().expect("a new sequence has a task")
                    }
                };
                let started = triggered.started("bench").expect("started");
                let finished = triggered
                    .finished(
                        "bench",
                        FinishedData::pass().with_field("bench", json!({"x": 1})),
                    )
                    .expect("finished");
                let t = Instant::now();
                feed(&mut core, Input::TaskEvent(started), &mut open);
                feed(&mut core, Input::TaskEvent(finished), &mut open);
                total += t.elapsed();
            }
            total
        });
    });
    group.finish();
    black_box(core);
}

/// An executor of `task` that answers every `.triggered` event at once.
async fn instant_executor(transport: &MemoryTransport, task: &str) -> JoinHandle<()> {
    let pattern = SubjectPattern::new(format!("sh.keptn.event.{task}.triggered")).expect("pattern");
    let mut sub = transport
        .subscribe(SubscribeOptions::new(pattern).queue_group(task.to_owned()))
        .await
        .expect("subscribe");
    let transport = transport.clone();
    let source = format!("{task}-service");
    tokio::spawn(async move {
        while let Some(Ok(delivery)) = sub.next().await {
            let triggered = delivery.event().clone();
            let _ = delivery.ack().await;
            let (Ok(started), Ok(finished)) = (
                triggered.started(&source),
                triggered.finished(&source, FinishedData::pass()),
            ) else {
                continue;
            };
            if transport.publish(&started).await.is_err()
                || transport.publish(&finished).await.is_err()
            {
                return;
            }
        }
    })
}

struct BenchPlane {
    transport: MemoryTransport,
    stop: CancellationToken,
    controller: JoinHandle<()>,
    executors: Vec<JoinHandle<()>>,
    finished: futures::stream::BoxStream<'static, ()>,
}

/// Where the bench plane stores its state.
enum State {
    Memory,
    /// A sequence store on its own SQLite database.
    Sqlite(SqliteDb),
    /// The sequence store and the event store (fed by the ingester) on one SQLite database.
    SqliteShared(SqliteDb),
}

async fn plane(state: State, last_stage: &str) -> BenchPlane {
    let transport = MemoryTransport::new(keptn_sdk::transport::MemoryTransportConfig {
        channel_capacity: 8192,
    });
    let shipyards = MemoryShipyardSource::new();
    shipyards.set_yaml("bench", &shipyard_yaml());
    let mut executors = Vec::new();
    for task in TASKS {
        executors.push(instant_executor(&transport, task).await);
    }
    let stop = CancellationToken::new();
    let store: Arc<dyn SequenceStore> = match state {
        State::Memory => Arc::new(MemorySequenceStore::new()),
        State::Sqlite(db) => Arc::new(SqliteSequenceStore::new(db).await.expect("sequence store")),
        State::SqliteShared(db) => {
            let events: Arc<dyn EventStore> = Arc::new(
                SqliteEventStore::new(db.clone())
                    .await
                    .expect("event store"),
            );
            let ingester = Ingester::subscribe(events, &transport)
                .await
                .expect("ingester");
            let token = stop.clone();
            executors.push(tokio::spawn(async move {
                if let Err(e) = ingester.run(async move { token.cancelled().await }).await {
                    eprintln!("ingester stopped: {e}");
                }
            }));
            Arc::new(SqliteSequenceStore::new(db).await.expect("sequence store"))
        }
    };
    let pattern = SubjectPattern::new(format!("sh.keptn.event.{last_stage}.delivery.finished"))
        .expect("pattern");
    let finished = transport
        .subscribe(SubscribeOptions::new(pattern))
        .await
        .expect("subscribe")
        .filter_map(|item| async move {
            let delivery = item.ok()?;
            let _ = delivery.ack().await;
            Some(())
        })
        .boxed();
    let controller = Controller::new(
        store,
        Arc::new(transport.clone()),
        Arc::new(shipyards),
        ControllerConfig::default(),
    );
    let token = stop.clone();
    let controller = tokio::spawn(async move {
        if let Err(e) = controller.run(async move { token.cancelled().await }).await {
            eprintln!("controller stopped: {e}");
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    BenchPlane {
        transport,
        stop,
        controller,
        executors,
        finished,
    }
}

impl BenchPlane {
    async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.controller.await;
        for executor in self.executors {
            executor.abort();
        }
        self.transport.close();
    }
}

/// One task end to end on the in-memory transport and store: the controller's latency per task.
fn controller_round_trip(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("controller");
    group.throughput(Throughput::Elements(TASKS.len() as u64));
    group.bench_function("task_round_trip", |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let mut plane = plane(State::Memory, "dev").await;
            let start = Instant::now();
            for i in 0..iters {
                plane
                    .transport
                    .publish(&trigger("dev", &format!("svc-{i}")))
                    .await
                    .expect("publish");
                plane.finished.next().await.expect("the sequence finishes");
            }
            let elapsed = start.elapsed();
            plane.shutdown().await;
            elapsed
        });
    });
    group.finish();
}

/// CPU time (user + system) this process used so far, from `/proc/self/stat` (Linux); `None`
/// elsewhere. Reported next to the wall time because a shared machine's load skews the latter.
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 1/100 s on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Bytes this process handed to `write`-like system calls so far (`wchar` of `/proc/self/io`,
/// Linux): for SQLite, the WAL frames and the checkpoints' copies; `None` elsewhere.
fn process_bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("wchar:"))?
        .trim()
        .parse()
        .ok()
}

/// 1,000 concurrent sequences of 3 stages x 4 tasks, state on SQLite (with the event store on
/// the same database when `shared`).
fn sqlite_throughput(c: &mut Criterion, name: &str, shared: bool) {
    const SEQUENCES: usize = 1000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("controller");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements((SEQUENCES * 3 * TASKS.len()) as u64));
    group.bench_function(name, |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            let mut cpu = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("temp dir");
                let db = SqliteDb::open(dir.path().join("keptn.db"))
                    .await
                    .expect("sqlite");
                let state = if shared {
                    State::SqliteShared(db.clone())
                } else {
                    State::Sqlite(db.clone())
                };
                let mut plane = plane(state, "production").await;
                let triggers: Vec<KeptnEvent> = (0..SEQUENCES)
                    .map(|i| trigger("dev", &format!("svc-{i}")))
                    .collect();
                let start = Instant::now();
                let cpu_start = process_cpu_time();
                let transport = plane.transport.clone();
                let publisher = tokio::spawn(async move {
                    for t in &triggers {
                        transport.publish(t).await.expect("publish");
                    }
                });
                for _ in 0..SEQUENCES {
                    plane.finished.next().await.expect("a sequence finishes");
                }
                total += start.elapsed();
                if let (Some(begin), Some(end)) = (cpu_start, process_cpu_time()) {
                    cpu += end.saturating_sub(begin);
                }
                let _ = publisher.await;
                plane.shutdown().await;
                db.close().await;
            }
            let tasks = (iters as usize * SEQUENCES * 3 * TASKS.len()) as u32;
            eprintln!(
                "{name}: {iters} runs, {:.0} task completions/s wall, {:.1} us CPU per task \
                 (controller, executors and transport together)",
                f64::from(tasks) / total.as_secs_f64(),
                cpu.as_secs_f64() * 1e6 / f64::from(tasks),
            );
            total
        });
    });
    group.finish();
}

fn controller_sqlite_throughput(c: &mut Criterion) {
    sqlite_throughput(c, "sqlite_throughput", false);
}

fn controller_sqlite_throughput_shared(c: &mut Criterion) {
    sqlite_throughput(c, "sqlite_throughput_shared", true);
}

/// The commits a controller writes for `sequences` sequences of 3 stages x 4 tasks whose tasks
/// complete at once, `per_commit` task completions to a commit; and the number of tasks.
fn recorded_commits(sequences: usize, per_commit: usize) -> (Vec<Commit>, usize) {
    use std::collections::HashMap;

    #[derive(Default)]
    struct Batch {
        commit: Commit,
        executions: HashMap<String, usize>,
        views: HashMap<(String, KeptnContext), usize>,
    }
    struct Recorder {
        core: Core,
        shipyard: Arc<Shipyard>,
        open: VecDeque<KeptnEvent>,
        next_seq: u64,
        batch: Batch,
    }
    impl Recorder {
        fn feed(&mut self, input: Input) {
            let mut chained = Vec::new();
            for effect in self.core.handle(input, Utc::now()) {
                match effect {
                    Effect::Publish(out) => {
                        let event = out.event;
                        match &event.event_type {
                            EventType::Task {
                                phase: Phase::Triggered,
                                ..
                            } => self.open.push_back(event.clone()),
                            EventType::Sequence {
                                phase: Phase::Triggered,
                                ..
                            } => chained.push(event.clone()),
                            _ => {}
                        }
                        self.batch.commit.outbox.push(OutboxEntry {
                            seq: self.next_seq,
                            event,
                        });
                        self.next_seq += 1;
                    }
                    Effect::SaveExecution(exec) => {
                        let b = &mut self.batch;
                        match b.executions.get(&exec.id) {
                            Some(&i) => b.commit.executions[i] = *exec,
                            None => {
                                b.executions
                                    .insert(exec.id.clone(), b.commit.executions.len());
                                b.commit.executions.push(*exec);
                            }
                        }
                    }
                    Effect::SaveView(view) => {
                        let b = &mut self.batch;
                        let key = (view.project.clone(), view.shkeptncontext.clone());
                        match b.views.get(&key) {
                            Some(&i) => b.commit.views[i] = *view,
                            None => {
                                b.views.insert(key, b.commit.views.len());
                                b.commit.views.push(*view);
                            }
                        }
                    }
                    _ => {}
                }
            }
            // A chained stage: the controller consumes its own trigger.
            for event in chained {
                self.trigger(event);
            }
        }

        fn trigger(&mut self, event: KeptnEvent) {
            self.batch.commit.processed.push(event.id.clone());
            let shipyard = Ok(Arc::clone(&self.shipyard));
            self.feed(Input::SequenceTriggered { event, shipyard });
        }

        fn cut(&mut self, commits: &mut Vec<Commit>) {
            let mut batch = std::mem::take(&mut self.batch);
            batch.commit.at = Utc::now();
            // The publisher has caught up with the commit before this one.
            batch.commit.outbox_published_up_to =
                commits.last().and_then(|c| c.outbox.last()).map(|e| e.seq);
            commits.push(batch.commit);
        }
    }

    let mut recorder = Recorder {
        core: Core::new(CoreConfig::default()),
        shipyard: Arc::new(Shipyard::parse(&shipyard_yaml()).expect("valid shipyard")),
        open: VecDeque::new(),
        next_seq: 1,
        batch: Batch::default(),
    };
    let mut commits = Vec::new();
    for i in 0..sequences {
        recorder.trigger(trigger("dev", &format!("svc-{i}")));
        if (i + 1) % per_commit == 0 {
            recorder.cut(&mut commits);
        }
    }
    let mut tasks = 0;
    while let Some(triggered) = recorder.open.pop_front() {
        let started = triggered.started("bench").expect("started");
        let finished = triggered
            .finished("bench", FinishedData::pass())
            .expect("finished");
        recorder.feed(Input::TaskEvent(started));
        recorder.feed(Input::TaskEvent(finished));
        tasks += 1;
        if tasks % per_commit == 0 {
            recorder.cut(&mut commits);
        }
    }
    recorder.cut(&mut commits);
    (commits, tasks)
}

/// The sequence store alone: recorded commits replayed into SQLite.
fn store_sqlite_commit(c: &mut Criterion) {
    const SEQUENCES: usize = 1000;
    let (commits, tasks) = recorded_commits(SEQUENCES, 64);
    assert_eq!(tasks, SEQUENCES * 3 * TASKS.len(), "every task completes");
    let commits = Arc::new(commits);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(tasks as u64));
    group.bench_function("sqlite_commit", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let commits = Arc::clone(&commits);
            async move {
                let mut total = Duration::ZERO;
                let mut cpu = Duration::ZERO;
                let mut written = 0;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let db = SqliteDb::open(dir.path().join("keptn.db"))
                        .await
                        .expect("sqlite");
                    let store = SqliteSequenceStore::new(db.clone()).await.expect("store");
                    let start = Instant::now();
                    let cpu_start = process_cpu_time();
                    let written_start = process_bytes_written();
                    for commit in commits.iter() {
                        store.commit(commit).await.expect("commit");
                    }
                    total += start.elapsed();
                    if let (Some(begin), Some(end)) = (cpu_start, process_cpu_time()) {
                        cpu += end.saturating_sub(begin);
                    }
                    // Closing waits for the last checkpoint, whose copies count too.
                    db.close().await;
                    if let (Some(begin), Some(end)) = (written_start, process_bytes_written()) {
                        written += end.saturating_sub(begin);
                    }
                }
                let done = (iters as usize * tasks) as u32;
                eprintln!(
                    "store/sqlite_commit: {iters} runs, {} commits per run, {:.0} task \
                     completions/s wall, {:.1} us CPU per task, {:.1} KB written per task",
                    commits.len(),
                    f64::from(done) / total.as_secs_f64(),
                    cpu.as_secs_f64() * 1e6 / f64::from(done),
                    written as f64 / 1e3 / f64::from(done),
                );
                total
            }
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    core_task_step,
    controller_round_trip,
    controller_sqlite_throughput,
    controller_sqlite_throughput_shared,
    store_sqlite_commit
);
criterion_main!(benches);
