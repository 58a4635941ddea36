use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use keptn_sdk::event::{EventData, EventType, KeptnEvent, Phase};
use keptn_sdk::transport::{Delivery, SubjectPattern, SubscribeOptions, Subscription, Transport};

use super::{DurableBus, DurableBusConfig, EventLog, MemoryEventLog};

fn event(task: &str, n: usize) -> KeptnEvent {
    KeptnEvent::builder(EventType::task(task, Phase::Triggered))
        .source("test")
        .data(&EventData::scope("p", "s", format!("svc{n}")))
        .unwrap()
        .build()
        .unwrap()
}

fn group(pattern: &str, group: &str) -> SubscribeOptions {
    SubscribeOptions::new(SubjectPattern::new(pattern).unwrap()).queue_group(group)
}

async fn next(sub: &mut Subscription) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("a delivery within 5 s")
        .expect("the subscription is open")
        .expect("a decodable event")
}

async fn nothing_within(sub: &mut Subscription, ms: u64) -> bool {
    tokio::time::timeout(Duration::from_millis(ms), sub.next())
        .await
        .is_err()
}

async fn open(log: &Arc<MemoryEventLog>, config: DurableBusConfig) -> DurableBus {
    DurableBus::open(Arc::clone(log) as Arc<dyn EventLog>, config)
        .await
        .unwrap()
}

#[tokio::test]
async fn durable_consumers_get_matching_events_in_order() {
    let log = Arc::new(MemoryEventLog::new());
    let bus = open(&log, DurableBusConfig::default()).await;
    let mut sub = bus
        .subscribe(group("sh.keptn.event.test.triggered", "tester"))
        .await
        .unwrap();
    let events: Vec<KeptnEvent> = (0..5).map(|n| event("test", n)).collect();
    bus.publish(&event("deployment", 9)).await.unwrap();
    for e in &events {
        bus.publish(e).await.unwrap();
    }
    for e in &events {
        let d = next(&mut sub).await;
        assert_eq!(d.event().id, e.id);
        d.ack().await.unwrap();
    }
    assert!(nothing_within(&mut sub, 50).await);
    bus.shutdown().await;
}

#[tokio::test]
async fn a_restart_redelivers_only_what_was_not_acknowledged() {
    let log = Arc::new(MemoryEventLog::new());
    let bus = open(&log, DurableBusConfig::default()).await;
    let mut sub = bus
        .subscribe(group("sh.keptn.>", "controller"))
        .await
        .unwrap();
    let events: Vec<KeptnEvent> = (0..4).map(|n| event("test", n)).collect();
    for e in &events {
        bus.publish(e).await.unwrap();
    }
    // Acknowledge the first and the third; the second is received but never answered.
    let first = next(&mut sub).await;
    let second = next(&mut sub).await;
    let third = next(&mut sub).await;
    first.ack().await.unwrap();
    third.ack().await.unwrap();
    std::mem::forget(second);
    bus.shutdown().await;
    drop(sub);

    let bus = open(&log, DurableBusConfig::default()).await;
    let mut sub = bus
        .subscribe(group("sh.keptn.>", "controller"))
        .await
        .unwrap();
    let again = next(&mut sub).await;
    assert_eq!(again.event().id, events[1].id);
    again.ack().await.unwrap();
    let fourth = next(&mut sub).await;
    assert_eq!(fourth.event().id, events[3].id);
    fourth.ack().await.unwrap();
    assert!(nothing_within(&mut sub, 50).await);
    bus.shutdown().await;
}

#[tokio::test]
async fn a_new_consumer_starts_at_the_end_of_the_log() {
    let log = Arc::new(MemoryEventLog::new());
    let bus = open(&log, DurableBusConfig::default()).await;
    bus.publish(&event("test", 1)).await.unwrap();
    let mut sub = bus.subscribe(group("sh.keptn.>", "late")).await.unwrap();
    let fresh = event("test", 2);
    bus.publish(&fresh).await.unwrap();
    assert_eq!(next(&mut sub).await.event().id, fresh.id);
    bus.shutdown().await;
}

#[tokio::test]
async fn a_republished_event_id_is_delivered_once() {
    let log = Arc::new(MemoryEventLog::new());
    let bus = open(&log, DurableBusConfig::default()).await;
    let mut sub = bus.subscribe(group("sh.keptn.>", "c")).await.unwrap();
    let e = event("test", 1);
    bus.publish(&e).await.unwrap();
    bus.publish(&e).await.unwrap();
    next(&mut sub).await.ack().await.unwrap();
    assert!(nothing_within(&mut sub, 50).await);
    assert_eq!(log.last_seq().await.unwrap(), 1);
    bus.shutdown().await;
}

#[tokio::test]
async fn members_of_a_queue_group_share_the_events() {
    let log = Arc::new(MemoryEventLog::new());
    let bus = open(&log, DurableBusConfig::default()).await;
    let mut a = bus.subscribe(group("sh.keptn.>", "workers")).await.unwrap();
    let mut b = bus.subscribe(group("sh.keptn.>", "workers")).await.unwrap();
    for n in 0..10 {
        bus.publish(&event("test", n)).await.unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    let (mut from_a, mut from_b) = (0, 0);
    while seen.len() < 10 {
        tokio::select! {
            Some(Ok(d)) = a.next() => { from_a += 1; seen.insert(d.event().id.clone()); d.ack().await.unwrap(); }
            Some(Ok(d)) = b.next() => { from_b += 1; seen.insert(d.event().id.clone()); d.ack().await.unwrap(); }
        }
    }
    assert_eq!(from_a + from_b, 10);
    assert!(from_a > 0 && from_b > 0, "a={from_a} b={from_b}");
    bus.shutdown().await;
}

#[tokio::test]
async fn a_nack_delivers_the_event_again() {
    let log = Arc::new(MemoryEventLog::new());
    let bus = open(&log, DurableBusConfig::default()).await;
    let mut sub = bus.subscribe(group("sh.keptn.>", "c")).await.unwrap();
    let e = event("test", 1);
    bus.publish(&e).await.unwrap();
    let first = next(&mut sub).await;
    assert_eq!(first.attempt(), 1);
    first.nack(Some(Duration::from_millis(10))).await.unwrap();
    let again = next(&mut sub).await;
    assert_eq!(again.event().id, e.id);
    assert_eq!(again.attempt(), 2);
    again.ack().await.unwrap();
    bus.shutdown().await;
}

#[tokio::test]
async fn a_consumer_far_behind_reads_from_the_log() {
    let log = Arc::new(MemoryEventLog::new());
    let config = DurableBusConfig {
        ring_capacity: 4,
        read_batch: 3,
        ..DurableBusConfig::default()
    };
    let bus = open(&log, config.clone()).await;
    let mut sub = bus.subscribe(group("sh.keptn.>", "slow")).await.unwrap();
    drop(sub);
    let events: Vec<KeptnEvent> = (0..20).map(|n| event("test", n)).collect();
    for e in &events {
        bus.publish(e).await.unwrap();
    }
    bus.shutdown().await;
    let bus = open(&log, config).await;
    sub = bus.subscribe(group("sh.keptn.>", "slow")).await.unwrap();
    for e in &events {
        let d = next(&mut sub).await;
        assert_eq!(d.event().id, e.id);
        d.ack().await.unwrap();
    }
    bus.shutdown().await;
}

#[tokio::test]
async fn ephemeral_subscribers_each_get_every_event() {
    let log = Arc::new(MemoryEventLog::new());
    let bus = open(&log, DurableBusConfig::default()).await;
    let pattern = SubjectPattern::new("sh.keptn.event.*.triggered").unwrap();
    let mut a = bus
        .subscribe(SubscribeOptions::new(pattern.clone()))
        .await
        .unwrap();
    let mut b = bus.subscribe(SubscribeOptions::new(pattern)).await.unwrap();
    let e = event("test", 1);
    bus.publish(&e).await.unwrap();
    assert_eq!(next(&mut a).await.event().id, e.id);
    assert_eq!(next(&mut b).await.event().id, e.id);
    bus.shutdown().await;
}

#[tokio::test]
async fn a_group_cannot_change_its_pattern() {
    let log = Arc::new(MemoryEventLog::new());
    let bus = open(&log, DurableBusConfig::default()).await;
    let _a = bus.subscribe(group("sh.keptn.>", "g")).await.unwrap();
    let err = bus
        .subscribe(group("sh.keptn.event.test.triggered", "g"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already consumes"), "{err}");
    bus.shutdown().await;
}
