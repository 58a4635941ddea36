//! Parse and serialize a 1.5 KB Keptn event, next to a plain typed serde struct of the same shape.
//!
//! `cargo bench -p keptn-benches --bench event_codec`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keptn_benches::{PlainEvent, sample_json};
use keptn_sdk::KeptnEvent;
use std::hint::black_box;

fn codec(c: &mut Criterion) {
    let json = sample_json();
    let event = KeptnEvent::from_json(&json).expect("valid sample");
    let plain: PlainEvent = serde_json::from_slice(&json).expect("valid sample");

    let mut group = c.benchmark_group("event_codec");
    group.throughput(Throughput::Bytes(json.len() as u64));
    group.bench_function("keptn_parse", |b| {
        b.iter(|| KeptnEvent::from_json(black_box(&json)).expect("parses"))
    });
    group.bench_function("keptn_serialize", |b| {
        b.iter(|| black_box(&event).to_json())
    });
    group.bench_function("keptn_round_trip", |b| {
        b.iter(|| {
            KeptnEvent::from_json(black_box(&json))
                .expect("parses")
                .to_json()
        })
    });
    group.bench_function("plain_serde_round_trip", |b| {
        b.iter(|| {
            let p: PlainEvent = serde_json::from_slice(black_box(&json)).expect("parses");
            serde_json::to_vec(&p).expect("serializes")
        })
    });
    group.bench_function("plain_serde_parse", |b| {
        b.iter(|| serde_json::from_slice::<PlainEvent>(black_box(&json)).expect("parses"))
    });
    group.bench_function("plain_serde_serialize", |b| {
        b.iter(|| serde_json::to_vec(black_box(&plain)).expect("serializes"))
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
