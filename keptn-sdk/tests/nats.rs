//! The NATS transport against a real `nats-server` (started on a free loopback port).

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use keptn_sdk::transport::nats::{DeliverFrom, NatsConfig, NatsMode, NatsTransport};
use keptn_sdk::{
    Delivery, EventData, EventType, KeptnEvent, Phase, SubjectPattern, SubscribeOptions,
    Subscription, Transport, TransportErrorKind,
};
use keptn_testkit::NatsServer;
use tokio::task::block_in_place;

const WAIT: Duration = Duration::from_secs(20);

fn start_server() -> NatsServer {
    block_in_place(NatsServer::start)
        .expect("nats-server starts (see scripts/install-test-deps.sh)")
}

fn config(server: &NatsServer) -> NatsConfig {
    let mut config = NatsConfig::new(server.url());
    config.consumer.ack_wait = Duration::from_secs(1);
    config.consumer.idle_heartbeat = Duration::from_millis(500);
    config.setup_timeout = Duration::from_secs(10);
    config
}

async fn connect(config: NatsConfig) -> NatsTransport {
    NatsTransport::connect(config).await.expect("connects")
}

fn event(task: &str) -> KeptnEvent {
    KeptnEvent::builder(EventType::task(task, Phase::Triggered))
        .source("nats-test")
        .data(&EventData::scope("sockshop", "dev", "carts"))
        .unwrap()
        .build()
        .unwrap()
}

async fn subscribe(t: &NatsTransport, pattern: &str, group: Option<&str>) -> Subscription {
    let mut options = SubscribeOptions::new(SubjectPattern::new(pattern).unwrap());
    options.queue_group = group.map(str::to_owned);
    t.subscribe(options).await.expect("subscribes")
}

async fn next(sub: &mut Subscription) -> Delivery {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a delivery in time")
        .expect("the stream goes on")
        .expect("a decodable event")
}

async fn stored(t: &NatsTransport) -> u64 {
    let mut stream = t.jetstream().get_stream("keptn").await.unwrap();
    stream.info().await.unwrap().state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_returns_once_the_server_stored_the_event() {
    let server = start_server();
    let t = connect(config(&server)).await;
    assert_eq!(stored(&t).await, 0);
    t.publish(&event("test")).await.unwrap();
    assert_eq!(stored(&t).await, 1);
    let batch: Vec<KeptnEvent> = (0..300).map(|_| event("test")).collect();
    t.publish_batch(&batch).await.unwrap();
    assert_eq!(stored(&t).await, 301);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republished_event_id_is_stored_and_delivered_once() {
    let server = start_server();
    let t = connect(config(&server)).await;
    let mut sub = subscribe(&t, "sh.keptn.>", Some("dedup")).await;
    let e = event("test");
    t.publish(&e).await.unwrap();
    t.publish(&e).await.unwrap();
    let sentinel = event("sentinel");
    t.publish(&sentinel).await.unwrap();
    assert_eq!(stored(&t).await, 2);
    let first = next(&mut sub).await;
    assert_eq!(first.event(), &e);
    first.ack().await.unwrap();
    let second = next(&mut sub).await;
    assert_eq!(second.event().id, sentinel.id);
    second.ack().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nacked_event_is_delivered_again() {
    let server = start_server();
    let t = connect(config(&server)).await;
    let mut sub = subscribe(&t, "sh.keptn.event.*.triggered", Some("svc")).await;
    let e = event("test");
    t.publish(&e).await.unwrap();
    let first = next(&mut sub).await;
    assert_eq!(first.attempt(), 1);
    first.nack(Some(Duration::from_millis(50))).await.unwrap();
    let again = next(&mut sub).await;
    assert_eq!(again.event().id, e.id);
    assert_eq!(again.attempt(), 2);
    again.ack().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_consumer_died_without_ack_is_redelivered() {
    let server = start_server();
    let publisher = connect(config(&server)).await;
    let e = event("deployment");
    {
        let dying = connect(config(&server)).await;
        let mut sub = subscribe(&dying, "sh.keptn.>", Some("deployer")).await;
        publisher.publish(&e).await.unwrap();
        let delivery = next(&mut sub).await;
        assert_eq!(delivery.event().id, e.id);
        // The process dies: no ack, no nack, the connection goes away.
        let (_event, acker) = delivery.into_parts();
        std::mem::forget(acker);
        drop(sub);
        drop(dying);
    }
    let survivor = connect(config(&server)).await;
    let mut sub = subscribe(&survivor, "sh.keptn.>", Some("deployer")).await;
    let again = next(&mut sub).await;
    assert_eq!(again.event().id, e.id);
    assert_eq!(again.attempt(), 2);
    again.ack().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_a_queue_group_share_the_events() {
    let server = start_server();
    let mut cfg = config(&server);
    cfg.consumer.pull_batch = 1;
    cfg.subscription_capacity = 1;
    let a = connect(cfg.clone()).await;
    let b = connect(cfg).await;
    let mut sub_a = subscribe(&a, "sh.keptn.event.test.triggered", Some("shared")).await;
    let mut sub_b = subscribe(&b, "sh.keptn.event.test.triggered", Some("shared")).await;
    let events: Vec<KeptnEvent> = (0..20).map(|_| event("test")).collect();
    a.publish_batch(&events).await.unwrap();

    let mut seen = HashSet::new();
    // A takes one event and then stops reading; B takes the rest.
    let first = next(&mut sub_a).await;
    seen.insert(first.event().id.clone());
    first.ack().await.unwrap();
    let mut from_b = 0;
    while seen.len() < events.len() {
        if from_b == 10 {
            // Whatever A pulled but did not read goes back to the group when A leaves.
            drop(std::mem::replace(
                &mut sub_a,
                Subscription::new(futures::stream::empty()),
            ));
        }
        let d = next(&mut sub_b).await;
        seen.insert(d.event().id.clone());
        d.ack().await.unwrap();
        from_b += 1;
    }
    assert!(from_b >= 1);
    let expected: HashSet<_> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_is_an_error_item_and_the_stream_goes_on() {
    let server = start_server();
    let t = connect(config(&server)).await;
    let mut sub = subscribe(&t, "sh.keptn.>", None).await;
    t.jetstream()
        .publish(
            "sh.keptn.event.test.triggered",
            "{\"not\": \"an event\"}".into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let item = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    let err = item.unwrap_err();
    assert_eq!(err.subject, "sh.keptn.event.test.triggered");
    assert!(err.to_string().contains("specversion"), "{err}");
    let e = event("test");
    t.publish(&e).await.unwrap();
    assert_eq!(next(&mut sub).await.event().id, e.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_and_delivering_go_on_after_the_server_is_killed_and_restarted() {
    let mut server = start_server();
    let t = connect(config(&server)).await;
    let mut sub = subscribe(&t, "sh.keptn.event.*.triggered", Some("survivor")).await;
    let before = event("test");
    t.publish(&before).await.unwrap();
    next(&mut sub).await.ack().await.unwrap();

    block_in_place(|| server.kill()).unwrap();
    let during = event("test");
    assert!(
        t.publish(&during).await.is_err(),
        "nobody stores events now"
    );
    block_in_place(|| server.restart()).unwrap();

    let after = event("test");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match t.publish(&after).await {
            Ok(()) => break,
            Err(err) if tokio::time::Instant::now() < deadline => {
                assert_eq!(err.kind(), TransportErrorKind::Publish, "{err}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("no publish within 60 s of the restart: {err}"),
        }
    }
    // At-least-once: the publish that failed while the server was away may still have been sent
    // once the client reconnected (its outgoing buffer survives), and the ack of `before` may
    // have died with the server; both can come again before `after`.
    loop {
        let delivery = tokio::time::timeout(Duration::from_secs(60), sub.next())
            .await
            .expect("the subscription resumes")
            .unwrap()
            .unwrap();
        let id = delivery.event().id.clone();
        delivery.ack().await.unwrap();
        if id == after.id {
            break;
        }
        assert!(
            id == during.id || id == before.id,
            "unexpected event {id} after the restart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_carry_the_configured_redelivery_limits() {
    let server = start_server();
    let mut cfg = config(&server);
    cfg.consumer.max_deliver = 3;
    cfg.consumer.deliver_from = DeliverFrom::All;
    let t = connect(cfg).await;
    let early = event("test");
    t.publish(&early).await.unwrap();
    let mut sub = subscribe(&t, "sh.keptn.>", Some("limits")).await;
    assert_eq!(next(&mut sub).await.event().id, early.id);
    let name = keptn_sdk::transport::nats::consumer_name("limits", "sh.keptn.>");
    let stream = t.jetstream().get_stream("keptn").await.unwrap();
    let info = stream.consumer_info(&name).await.unwrap();
    assert_eq!(info.config.max_deliver, 3);
    assert_eq!(info.config.ack_wait, Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_mode_delivers_to_one_member_of_each_group() {
    let server = start_server();
    let mut cfg = config(&server);
    cfg.mode = NatsMode::Core;
    let t = connect(cfg).await;
    let mut g1 = subscribe(&t, "sh.keptn.>", Some("g")).await;
    let mut g2 = subscribe(&t, "sh.keptn.>", Some("g")).await;
    let mut solo = subscribe(&t, "sh.keptn.event.*.triggered", None).await;
    t.client().flush().await.unwrap();
    let e = event("test");
    t.publish(&e).await.unwrap();
    assert_eq!(next(&mut solo).await.event(), &e);
    let got = tokio::select! {
        d = g1.next() => d,
        d = g2.next() => d,
    };
    assert_eq!(got.unwrap().unwrap().event().id, e.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_types_that_are_not_subjects_are_refused() {
    let server = start_server();
    let t = connect(config(&server)).await;
    let mut bad = event("test");
    bad.event_type = EventType::parse("sh.keptn.event.with space.triggered");
    let err = t.publish(&bad).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Encode);
    let mut outside = event("test");
    outside.event_type = EventType::parse("com.example.other");
    let err = t.publish(&outside).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Publish);
}
