//! Publish -> deliver throughput of 1.5 KB events: the in-memory bus, and NATS JetStream through
//! `NatsTransport` next to raw async-nats with the same settings, in the same run, so the
//! overhead of our layer is a ratio.
//!
//! JetStream settings for both: stream over `sh.keptn.>`, file storage, `Nats-Msg-Id` set to the
//! event id, 256 publish acks in flight; durable pull consumers with explicit ack, 256 messages
//! per pull, one ack per message. The server is a private `nats-server` (keptn-testkit).
//!
//! `cargo bench -p keptn-benches --bench transport`

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use keptn_benches::fresh_events;
use keptn_sdk::transport::nats::{DeliverFrom, NatsConfig, NatsTransport};
use keptn_sdk::{KeptnEvent, MemoryTransport, SubjectPattern, SubscribeOptions, Transport};
use keptn_testkit::NatsServer;

const EVENTS: usize = 20_000;
const IN_FLIGHT: usize = 256;
const BATCH: usize = 256;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn memory(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("memory");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.bench_function("publish_deliver_ack", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let events = fresh_events(EVENTS);
                let bus = MemoryTransport::default();
                let mut sub = bus
                    .subscribe(SubscribeOptions::new(SubjectPattern::all_keptn()))
                    .await
                    .expect("subscribes");
                let start = Instant::now();
                let consumer = tokio::spawn(async move {
                    for _ in 0..EVENTS {
                        let d = sub.next().await.expect("open").expect("decodes");
                        d.ack().await.expect("acks");
                    }
                });
                bus.publish_batch(&events).await.expect("publishes");
                consumer.await.expect("consumer task");
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

struct Bench {
    _server: NatsServer,
    url: String,
}

fn nats_config(url: &str) -> NatsConfig {
    let mut config = NatsConfig::new(url);
    config.max_acks_in_flight = IN_FLIGHT;
    config.consumer.pull_batch = BATCH;
    config.consumer.deliver_from = DeliverFrom::All;
    config.consumer.max_ack_pending = 20_000;
    config.subscription_capacity = BATCH * 2;
    config
}

/// Empties the stream between iterations, so every iteration starts from the same state.
async fn purge(js: &jetstream::Context) {
    let stream = js.get_stream("keptn").await.expect("stream");
    stream.purge().await.expect("purge");
}

async fn raw_publish(js: &jetstream::Context, events: &[KeptnEvent]) {
    let mut pending = VecDeque::with_capacity(IN_FLIGHT);
    for event in events {
        if pending.len() >= IN_FLIGHT {
            let ack: jetstream::context::PublishAckFuture =
                pending.pop_front().expect("pending ack");
            ack.await.expect("ack");
        }
        // The raw client publishes the same bytes our transport sends (serialized here, as an
        // application with its own model would serialize it).
        let payload = Bytes::from(event.to_json());
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload)
            .message_id(event.id.as_str());
        pending.push_back(
            js.send_publish(event.type_string(), publish)
                .await
                .expect("publish"),
        );
    }
    while let Some(ack) = pending.pop_front() {
        ack.await.expect("ack");
    }
}

fn jetstream_benches(c: &mut Criterion) {
    let server = NatsServer::start().expect("nats-server starts (scripts/install-test-deps.sh)");
    let bench = Bench {
        url: server.url(),
        _server: server,
    };
    let rt = runtime();
    let transport = rt
        .block_on(NatsTransport::connect(nats_config(&bench.url)))
        .expect("connects");
    let js = transport.jetstream().clone();

    let mut group = c.benchmark_group("jetstream");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));

    group.bench_function("publish_raw_async_nats", |b| {
        let js = js.clone();
        b.to_async(&rt).iter_custom(|iters| {
            let js = js.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    purge(&js).await;
                    let events = fresh_events(EVENTS);
                    let start = Instant::now();
                    raw_publish(&js, &events).await;
                    total += start.elapsed();
                }
                total
            }
        })
    });

    group.bench_function("publish_keptn_sdk", |b| {
        let (transport, js) = (transport.clone(), js.clone());
        b.to_async(&rt).iter_custom(|iters| {
            let (transport, js) = (transport.clone(), js.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    purge(&js).await;
                    let events = fresh_events(EVENTS);
                    let start = Instant::now();
                    transport.publish_batch(&events).await.expect("publishes");
                    total += start.elapsed();
                }
                total
            }
        })
    });

    group.bench_function("consume_ack_raw_async_nats", |b| {
        let js = js.clone();
        b.to_async(&rt).iter_custom(|iters| {
            let js = js.clone();
            async move {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    purge(&js).await;
                    raw_publish(&js, &fresh_events(EVENTS)).await;
                    let name = format!("raw_{i}_{}", uuid_like());
                    let consumer: jetstream::consumer::PullConsumer = js
                        .create_consumer_on_stream(
                            pull::Config {
                                durable_name: Some(name.clone()),
                                filter_subject: "sh.keptn.>".to_owned(),
                                ack_policy: AckPolicy::Explicit,
                                deliver_policy: DeliverPolicy::All,
                                max_ack_pending: 20_000,
                                ..Default::default()
                            },
                            "keptn",
                        )
                        .await
                        .expect("consumer");
                    let start = Instant::now();
                    let mut messages = consumer
                        .stream()
                        .max_messages_per_batch(BATCH)
                        .messages()
                        .await
                        .expect("pull");
                    for _ in 0..EVENTS {
                        let message = messages.next().await.expect("open").expect("message");
                        // Parse as our transport does, so the ratio shows the layer, not JSON.
                        let event = KeptnEvent::from_json(&message.payload).expect("event");
                        std::hint::black_box(&event);
                        message.ack().await.expect("ack");
                    }
                    total += start.elapsed();
                    drop(messages);
                    js.delete_consumer_from_stream(&name, "keptn")
                        .await
                        .expect("delete consumer");
                }
                total
            }
        })
    });

    group.bench_function("consume_ack_keptn_sdk", |b| {
        let (transport, js) = (transport.clone(), js.clone());
        b.to_async(&rt).iter_custom(|iters| {
            let (transport, js) = (transport.clone(), js.clone());
            async move {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    purge(&js).await;
                    raw_publish(&js, &fresh_events(EVENTS)).await;
                    let group = format!("sdk_{i}_{}", uuid_like());
                    let options = SubscribeOptions::new(SubjectPattern::all_keptn())
                        .queue_group(group.clone());
                    let mut sub = transport.subscribe(options).await.expect("subscribes");
                    let start = Instant::now();
                    for _ in 0..EVENTS {
                        let d = sub.next().await.expect("open").expect("decodes");
                        d.ack().await.expect("acks");
                    }
                    total += start.elapsed();
                    drop(sub);
                    let name = keptn_sdk::transport::nats::consumer_name(&group, "sh.keptn.>");
                    js.delete_consumer_from_stream(&name, "keptn")
                        .await
                        .expect("delete consumer");
                }
                total
            }
        })
    });
    group.finish();
}

/// A short unique suffix for consumer names.
fn uuid_like() -> String {
    keptn_sdk::EventId::generate().as_str()[..8].to_owned()
}

criterion_group!(benches, memory, jetstream_benches);
criterion_main!(benches);
