//! Orchestration benchmarks.
//!
//! - `core/task_step`: the pure state machine handling one task step (`.started` and
//!   `.finished` in, the next `.triggered` out) with 1,000 sequences active.
//! - `controller/task_round_trip`: one task end to end through the controller on the in-memory
//!   transport and store, with an executor that answers at once (latency per task).
//! - `controller/sqlite_throughput`: 1,000 concurrent sequences of 3 stages x 4 tasks with the
//!   state on SQLite and instant executors; reported as elements (task completions) per second.
//!
//! Run: `cargo bench -p keptn-core --bench orchestrator`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use keptn_core::orchestrator::store::{MemorySequenceStore, SequenceStore, SqliteSequenceStore};
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

async fn plane(store: Arc<dyn SequenceStore>, last_stage: &str) -> BenchPlane {
    let transport = MemoryTransport::new(keptn_sdk::transport::MemoryTransportConfig {
        channel_capacity: 8192,
    });
    let shipyards = MemoryShipyardSource::new();
    shipyards.set_yaml("bench", &shipyard_yaml());
    let mut executors = Vec::new();
    for task in TASKS {
        executors.push(instant_executor(&transport, task).await);
    }
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
    let stop = CancellationToken::new();
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
            let mut plane = plane(Arc::new(MemorySequenceStore::new()), "dev").await;
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

/// 1,000 concurrent sequences of 3 stages x 4 tasks, state on SQLite.
fn controller_sqlite_throughput(c: &mut Criterion) {
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
    group.bench_function("sqlite_throughput", |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            let mut cpu = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("temp dir");
                let store = SqliteSequenceStore::open(dir.path().join("bench.db")).await.expect("sqlite");
                let mut plane = plane(Arc::new(store), "production").await;
                let triggers: Vec<KeptnEvent> = (0..SEQUENCES).map(|i| trigger("dev", &format!("svc-{i}"))).collect();
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
            }
            let tasks = (iters as usize * SEQUENCES * 3 * TASKS.len()) as u32;
            eprintln!(
                "sqlite_throughput: {iters} runs, {:.0} task completions/s wall, {:.1} us CPU per task \
                 (controller, executors and transport together)",
                f64::from(tasks) / total.as_secs_f64(),
                cpu.as_secs_f64() * 1e6 / f64::from(tasks),
            );
            total
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    core_task_step,
    controller_round_trip,
    controller_sqlite_throughput
);
criterion_main!(benches);
