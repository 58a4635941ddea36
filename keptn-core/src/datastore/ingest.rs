//! Feeding the event store from a transport: the role of Keptn's mongodb-datastore.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use keptn_sdk::transport::{
    Delivery, SubjectPattern, SubscribeOptions, Subscription, Transport, TransportError,
};

use super::EventStore;

/// The queue group the ingester consumes in.
pub const DATASTORE_QUEUE_GROUP: &str = "mongodb-datastore";

/// Stores every event of `sh.keptn.>` from a transport, in batches, acknowledging each event
/// only once its batch is stored. Storing is idempotent, so redeliveries are harmless.
#[derive(Debug)]
pub struct Ingester {
    store: Arc<dyn EventStore>,
    subscription: Subscription,
    batch: usize,
}

/// Why ingestion stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The subscription could not be made.
    #[error("subscribing to sh.keptn.> failed")]
    Subscribe(#[source] TransportError),
    /// The subscription ended without a shutdown.
    #[error("the subscription to sh.keptn.> ended")]
    Ended,
}

impl Ingester {
    /// Subscribes to every Keptn event on `transport` in the `mongodb-datastore` queue group.
    pub async fn subscribe(
        store: Arc<dyn EventStore>,
        transport: &dyn Transport,
    ) -> Result<Self, IngestError> {
        let options =
            SubscribeOptions::new(SubjectPattern::all_keptn()).queue_group(DATASTORE_QUEUE_GROUP);
        let subscription = transport
            .subscribe(options)
            .await
            .map_err(IngestError::Subscribe)?;
        Ok(Self {
            store,
            subscription,
            batch: 256,
        })
    }

    /// Stores events until `shutdown` completes. A batch that cannot be stored is nacked and
    /// comes again after a second.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), IngestError> {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let first = tokio::select! {
                biased;
                _ = &mut shutdown => return Ok(()),
                item = self.subscription.next() => item,
            };
            let mut deliveries: Vec<Delivery> = Vec::new();
            match first {
                None => return Err(IngestError::Ended),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "datastore: skipping an undecodable message");
                    continue;
                }
                Some(Ok(d)) => deliveries.push(d),
            }
            // Take what is already waiting, without waiting for more.
            while deliveries.len() < self.batch {
                match futures::FutureExt::now_or_never(self.subscription.next()) {
                    Some(Some(Ok(d))) => deliveries.push(d),
                    Some(Some(Err(e))) => {
                        tracing::warn!(error = %e, "datastore: skipping an undecodable message");
                    }
                    _ => break,
                }
            }
            let events: Vec<_> = deliveries.iter().map(|d| d.event().clone()).collect();
            match self.store.insert_batch(&events).await {
                Ok(_) => {
                    // Concurrently: a durable transport stores the positions in one write.
                    let acks = deliveries.into_iter().map(|d| d.ack());
                    for result in futures::future::join_all(acks).await {
                        if let Err(e) = result {
                            tracing::warn!(error = %e, "datastore: acknowledging failed");
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, events = events.len(), "datastore: storing events failed; retrying");
                    for d in deliveries {
                        let _ = d.nack(Some(Duration::from_secs(1))).await;
                    }
                }
            }
        }
    }
}
