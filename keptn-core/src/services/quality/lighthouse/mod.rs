//! The lighthouse: Keptn's evaluation service.
//!
//! Four parts share one service (each its own durable consumer group):
//!
//! | part | queue group | does |
//! |---|---|---|
//! | `evaluation.triggered` runner | `lighthouse-service-evaluation` | `evaluation.started`; timeframe, SLO, provider; `get-sli.triggered` or an early `evaluation.finished` |
//! | `get-sli.finished` consumer | `lighthouse-service-get-sli` | finds the evaluation in the event store, scores, `evaluation.finished` |
//! | `configure-monitoring.triggered` runner | `lighthouse-service-configure-monitoring` | sets the project's SLI provider |
//! | `monitoring.configure` consumer | `lighthouse-service-monitoring` | the same, for the legacy event of `keptn configure monitoring` |
//!
//! Nothing is kept in memory between `get-sli.triggered` and `get-sli.finished`: the
//! `get-sli.triggered` id is derived from the `evaluation.triggered` id, and the second part
//! finds the evaluation by that id among the `evaluation.triggered` events of the context in
//! the event store, reads the SLO again at the same commit, and asks the store for the earlier
//! evaluations. A lighthouse that restarts in between finishes the evaluation when the answer
//! comes (the bus keeps `get-sli.finished` for its consumer group until it is acknowledged).

mod collect;
mod start;

use std::sync::Arc;

use futures::StreamExt;
use keptn_sdk::event::{EventId, MONITORING_CONFIGURE_EVENT_TYPE};
use keptn_sdk::handler::TaskRunner;
use keptn_sdk::transport::{SubjectPattern, SubscribeOptions, Transport};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::LIGHTHOUSE_SOURCE;
use super::monitoring::{ConfigureMonitoringHandler, on_monitoring_configure};
use crate::plane::{BoxedRunner, HandlerService, PlaneService, ServiceContext, ServiceFuture};

pub use collect::GET_SLI_FINISHED;

/// How many `get-sli.finished` or `monitoring.configure` events are handled at once.
const MAX_IN_FLIGHT: usize = 16;

/// The id of the `get-sli.triggered` event the lighthouse sends for an `evaluation.triggered`.
pub fn get_sli_triggered_id(evaluation_triggered: &EventId) -> EventId {
    super::derived_id(
        evaluation_triggered,
        &format!("{LIGHTHOUSE_SOURCE}/get-sli.triggered"),
    )
}

/// The lighthouse as a plane service named `lighthouse-service`; see the [module docs](self).
pub fn lighthouse_service() -> impl PlaneService {
    HandlerService::new(LIGHTHOUSE_SOURCE, |ctx: &ServiceContext| {
        let transport = Arc::clone(&ctx.transport);
        let evaluation = TaskRunner::new(
            Arc::clone(&transport),
            start::EvaluationHandler {
                store: Arc::clone(&ctx.config_store),
                events: Arc::clone(&ctx.events),
            },
        )
        .source(LIGHTHOUSE_SOURCE)
        .queue_group(format!("{LIGHTHOUSE_SOURCE}-evaluation"))
        .shutdown_deadline(super::RUNNER_SHUTDOWN_DEADLINE)
        // The handler sends evaluation.started itself, with a derived id (see the parent docs).
        .send_started(false);
        let configure = TaskRunner::new(
            Arc::clone(&transport),
            ConfigureMonitoringHandler {
                store: Arc::clone(&ctx.config_store),
            },
        )
        .source(LIGHTHOUSE_SOURCE)
        .queue_group(format!("{LIGHTHOUSE_SOURCE}-configure-monitoring"))
        .shutdown_deadline(super::RUNNER_SHUTDOWN_DEADLINE);

        let collector = Arc::new(collect::Collector::new(
            Arc::clone(&transport),
            Arc::clone(&ctx.events),
            Arc::clone(&ctx.config_store),
        ));
        let get_sli = consumer(
            Arc::clone(&transport),
            GET_SLI_FINISHED,
            format!("{LIGHTHOUSE_SOURCE}-get-sli"),
            move |delivery| {
                let collector = Arc::clone(&collector);
                async move { collector.on_delivery(delivery).await }
            },
        )?;
        let store = Arc::clone(&ctx.config_store);
        let legacy_transport = Arc::clone(&transport);
        let monitoring = consumer(
            Arc::clone(&transport),
            MONITORING_CONFIGURE_EVENT_TYPE,
            format!("{LIGHTHOUSE_SOURCE}-monitoring"),
            move |delivery| {
                let store = Arc::clone(&store);
                let transport = Arc::clone(&legacy_transport);
                async move { on_monitoring_configure(&*store, &*transport, delivery).await }
            },
        )?;
        Ok(vec![
            BoxedRunner::new(evaluation),
            BoxedRunner::new(configure),
            get_sli,
            monitoring,
        ])
    })
}

/// A consumer of the events of one type in a durable queue group: each delivery goes to
/// `handle`, which settles it; at most [`MAX_IN_FLIGHT`] run at once; on shutdown the running
/// ones get a deadline to finish (deliveries they did not settle come again after a restart).
fn consumer<F, Fut>(
    transport: Arc<dyn Transport>,
    event_type: &str,
    group: String,
    handle: F,
) -> Result<BoxedRunner, String>
where
    F: Fn(keptn_sdk::transport::Delivery) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let pattern = SubjectPattern::exact(event_type).map_err(|e| e.to_string())?;
    Ok(BoxedRunner::from_subscribe(
        move |shutdown: CancellationToken| async move {
            let options = SubscribeOptions::new(pattern).queue_group(group.clone());
            let mut subscription = transport
                .subscribe(options)
                .await
                .map_err(|e| format!("subscribing {group} failed: {e}"))?;
            let run: ServiceFuture = Box::pin(async move {
                let mut running = JoinSet::new();
                loop {
                    while running.try_join_next().is_some() {}
                    if running.len() >= MAX_IN_FLIGHT {
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = running.join_next() => continue,
                        }
                    }
                    let item = tokio::select! {
                        _ = shutdown.cancelled() => break,
                        item = subscription.next() => item,
                    };
                    match item {
                        None => {
                            while running.join_next().await.is_some() {}
                            return Err(format!("the subscription of {group} ended"));
                        }
                        Some(Err(e)) => tracing::warn!(%group, error = %e, "skipping a message"),
                        Some(Ok(delivery)) => {
                            running.spawn(handle(delivery));
                        }
                    }
                }
                // Handlers still running after the deadline are dropped; their deliveries,
                // unsettled, come again after the next start.
                let drain = async { while running.join_next().await.is_some() {} };
                if tokio::time::timeout(super::RUNNER_SHUTDOWN_DEADLINE, drain)
                    .await
                    .is_err()
                {
                    running.shutdown().await;
                }
                Ok(())
            });
            Ok(run)
        },
    ))
}
