//! The in-process transport: patterns, queue groups, redelivery, back-pressure.

use std::collections::HashSet;
use std::task::Poll;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use keptn_sdk::transport::MemoryTransportConfig;
use keptn_sdk::{
    EventData, EventType, KeptnEvent, MemoryTransport, Phase, SubjectPattern, SubscribeOptions,
    Subscription, Transport, TransportErrorKind,
};

const WAIT: Duration = Duration::from_secs(10);

fn event(task: &str, phase: Phase) -> KeptnEvent {
    KeptnEvent::builder(EventType::task(task, phase))
        .source("test")
        .triggered_id("t")
        .data(&EventData::scope("p", "s", "svc"))
        .unwrap()
        .build()
        .unwrap()
}

async fn subscribe(bus: &MemoryTransport, pattern: &str, group: Option<&str>) -> Subscription {
    let mut options = SubscribeOptions::new(SubjectPattern::new(pattern).unwrap());
    options.queue_group = group.map(str::to_owned);
    bus.subscribe(options).await.unwrap()
}

async fn next(sub: &mut Subscription) -> keptn_sdk::Delivery {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a delivery in time")
        .expect("the stream goes on")
        .expect("a decodable event")
}

#[tokio::test]
async fn subscribers_get_the_events_their_pattern_matches() {
    let bus = MemoryTransport::default();
    let mut all = subscribe(&bus, "sh.keptn.>", None).await;
    let mut triggered = subscribe(&bus, "sh.keptn.event.*.triggered", None).await;
    let t = event("test", Phase::Triggered);
    let f = event("test", Phase::Finished);
    bus.publish(&t).await.unwrap();
    bus.publish(&f).await.unwrap();
    assert_eq!(next(&mut all).await.event().id, t.id);
    assert_eq!(next(&mut all).await.event().id, f.id);
    let d = next(&mut triggered).await;
    assert_eq!(d.event().id, t.id);
    assert_eq!(d.attempt(), 1);
    assert!(triggered.next().now_or_never().is_none());
}

#[tokio::test]
async fn a_queue_group_shares_the_events_between_its_members() {
    let bus = MemoryTransport::default();
    let mut a = subscribe(&bus, "sh.keptn.>", Some("svc")).await;
    let mut b = subscribe(&bus, "sh.keptn.>", Some("svc")).await;
    let mut other = subscribe(&bus, "sh.keptn.>", None).await;
    for _ in 0..4 {
        bus.publish(&event("test", Phase::Triggered)).await.unwrap();
    }
    let mut ids = HashSet::new();
    for sub in [&mut a, &mut b] {
        for _ in 0..2 {
            let d = next(sub).await;
            ids.insert(d.event().id.clone());
            d.ack().await.unwrap();
        }
        assert!(sub.next().now_or_never().is_none());
    }
    assert_eq!(ids.len(), 4);
    for _ in 0..4 {
        next(&mut other).await.ack().await.unwrap();
    }
}

#[tokio::test]
async fn a_nacked_event_comes_back_with_the_next_attempt_number() {
    let bus = MemoryTransport::default();
    let mut sub = subscribe(&bus, "sh.keptn.>", None).await;
    let e = event("test", Phase::Triggered);
    bus.publish(&e).await.unwrap();
    next(&mut sub).await.nack(None).await.unwrap();
    let again = next(&mut sub).await;
    assert_eq!(again.event().id, e.id);
    assert_eq!(again.attempt(), 2);
    assert!(again.is_redelivery());
    // Dropping a delivery without settling it is a nack too.
    drop(again);
    assert_eq!(next(&mut sub).await.attempt(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_nack_with_a_delay_waits_that_long() {
    let bus = MemoryTransport::default();
    let mut sub = subscribe(&bus, "sh.keptn.>", None).await;
    bus.publish(&event("test", Phase::Triggered)).await.unwrap();
    let start = tokio::time::Instant::now();
    next(&mut sub)
        .await
        .nack(Some(Duration::from_secs(30)))
        .await
        .unwrap();
    let again = tokio::time::timeout(Duration::from_secs(60), sub.next())
        .await
        .expect("the event comes back")
        .unwrap()
        .unwrap();
    assert!(start.elapsed() >= Duration::from_secs(30));
    again.ack().await.unwrap();
}

#[tokio::test]
async fn a_group_member_that_goes_away_leaves_its_events_to_the_others() {
    let bus = MemoryTransport::default();
    let mut a = subscribe(&bus, "sh.keptn.>", Some("svc")).await;
    let mut b = subscribe(&bus, "sh.keptn.>", Some("svc")).await;
    let e = event("test", Phase::Triggered);
    bus.publish(&e).await.unwrap();
    let first = next(&mut a).await;
    drop(a);
    drop(first);
    let again = next(&mut b).await;
    assert_eq!(again.event().id, e.id);
    assert_eq!(again.attempt(), 2);
}

#[tokio::test]
async fn a_full_subscriber_blocks_the_publisher_instead_of_dropping() {
    let bus = MemoryTransport::new(MemoryTransportConfig {
        channel_capacity: 1,
    });
    let mut sub = subscribe(&bus, "sh.keptn.>", None).await;
    bus.publish(&event("a", Phase::Triggered)).await.unwrap();
    let second = event("b", Phase::Triggered);
    let mut publish = std::pin::pin!(bus.publish(&second));
    assert!(matches!(futures::poll!(publish.as_mut()), Poll::Pending));
    let first = next(&mut sub).await;
    assert_eq!(first.event().event_type.task_name(), Some("a"));
    tokio::time::timeout(WAIT, publish)
        .await
        .expect("the publish goes through once there is room")
        .unwrap();
    assert_eq!(next(&mut sub).await.event().id, second.id);
}

#[tokio::test]
async fn a_closed_bus_ends_streams_and_refuses_publishes() {
    let bus = MemoryTransport::default();
    let mut sub = subscribe(&bus, "sh.keptn.>", None).await;
    assert_eq!(bus.subscription_count(), 1);
    bus.close();
    assert!(sub.next().await.is_none());
    let err = bus
        .publish(&event("test", Phase::Triggered))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Closed);
}

#[tokio::test]
async fn publish_batch_publishes_in_order() {
    let bus = MemoryTransport::default();
    let mut sub = subscribe(&bus, "sh.keptn.>", None).await;
    let events: Vec<KeptnEvent> = (0..5).map(|_| event("t", Phase::Triggered)).collect();
    bus.publish_batch(&events).await.unwrap();
    for e in &events {
        assert_eq!(next(&mut sub).await.event().id, e.id);
    }
}
