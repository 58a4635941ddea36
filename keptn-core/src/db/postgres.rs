//! The shared PostgreSQL database: a pool and migrations.

use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::migrate::{MIGRATIONS_TABLE, checksum, now_ms};
use super::{DbError, Migrations};

/// A PostgreSQL database shared by the components of one process; see the
/// [module docs](super). Cloning is cheap (the pool is shared).
#[derive(Debug, Clone)]
pub struct PgDb {
    pool: PgPool,
}

impl PgDb {
    /// Connects to `url` (`postgres://user@host:port/database`) with a pool of 8 connections.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(DbError::Connect)?;
        Ok(Self { pool })
    }

    /// Uses a pool configured by the caller.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool, for reads and writes.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the pending migrations of a component in one transaction. Concurrent callers
    /// (several processes starting at once) are serialized by an advisory lock.
    pub async fn migrate(&self, migrations: &'static Migrations) -> Result<(), DbError> {
        migrations.check()?;
        let mut tx = self.pool.begin().await?;
        // One lock for every component: migrations are rare and short.
        sqlx::query("SELECT pg_advisory_xact_lock(7263524501)")
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(MIGRATIONS_TABLE).execute(&mut *tx).await?;
        let rows =
            sqlx::query("SELECT version, checksum FROM keptn_migrations WHERE component = $1")
                .bind(migrations.component)
                .fetch_all(&mut *tx)
                .await?;
        let applied: Vec<(i64, i64)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        for step in migrations.pending(&applied)? {
            let failed = |source| DbError::Migration {
                component: migrations.component,
                version: step.version,
                description: step.description,
                source,
            };
            sqlx::raw_sql(step.sql)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
            sqlx::query(
                "INSERT INTO keptn_migrations (component, version, description, checksum, applied_at_ms)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(migrations.component)
            .bind(i64::from(step.version))
            .bind(step.description)
            .bind(checksum(step.sql))
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
