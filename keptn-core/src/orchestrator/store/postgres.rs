//! The PostgreSQL sequence store (the distributed mode).

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keptn_sdk::event::{EventId, KeptnContext, KeptnEvent};
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::row::{ExecutionRow, decode_event, decode_execution, decode_view, encode_view, micros};
use super::schema::POSTGRES_SCHEMA;
use super::sql::{chunks, impl_sql_store};
use super::{
    Commit, ExecutionFilter, OutboxEntry, Page, PageRequest, SequenceStore, SequenceStoreError,
    SequenceStoreErrorKind, TriggeredFilter, ViewFilter,
};
use crate::orchestrator::core::RestoredState;
use crate::orchestrator::model::{PauseKey, SequenceExecution};
use crate::orchestrator::view::SequenceState;

/// A [`SequenceStore`] in a PostgreSQL database. The tables are prefixed `seq_` so the database
/// can be shared with the event store. One controller writes to a database at a time.
#[derive(Debug, Clone)]
pub struct PostgresSequenceStore {
    pool: PgPool,
}

fn unavailable(err: sqlx::Error, what: &str) -> SequenceStoreError {
    SequenceStoreError::new(
        SequenceStoreErrorKind::Unavailable,
        format!("postgres failed while {what}: {err}"),
    )
    .with_source(err)
}

impl PostgresSequenceStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and creates the tables.
    pub async fn connect(url: &str) -> Result<Self, SequenceStoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(url)
            .await
            .map_err(|e| unavailable(e, "connecting"))?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool (for example the one the event store uses) and creates the tables.
    pub async fn from_pool(pool: PgPool) -> Result<Self, SequenceStoreError> {
        for statement in POSTGRES_SCHEMA {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .map_err(|e| unavailable(e, "creating the sequence tables"))?;
        }
        Ok(Self { pool })
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl_sql_store!(PostgresSequenceStore, sqlx::Postgres);
