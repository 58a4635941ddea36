//! Shared database handles: one SQLite file or one PostgreSQL database for every component that
//! persists state (the event store, the sequence store).
//!
//! - [`SqliteDb`] (feature `sqlite`) opens or creates the file (WAL, `synchronous=NORMAL`, busy
//!   timeout), runs one **writer task** that commits queued writes in groups (one transaction
//!   for up to [`SqliteDbOptions::max_batch`] writes), checkpoints the WAL off the commit path,
//!   and hands out a **read pool**. Components write with [`SqliteDb::write`], which runs a
//!   closure inside the writer's transaction and resolves when the group is committed. A
//!   failing write is rolled back alone: the group is undone and its other writes run again,
//!   so write closures may run more than once and act only on the connection.
//! - [`PgDb`] (feature `postgres`) is a connection pool; PostgreSQL handles concurrent writers.
//!
//! **Migrations** are versioned per component from day one: a component owns a [`Migrations`]
//! list (version, description, SQL) and calls `migrate` on the handle when it is constructed.
//! Applied versions are recorded with a checksum in the table `keptn_migrations`; applying is
//! idempotent, a changed migration or a schema newer than the build is an error.
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # async fn example() -> Result<(), keptn_core::db::DbError> {
//! use keptn_core::db::{Migration, Migrations, SqliteDb};
//!
//! static MY_TABLES: Migrations = Migrations {
//!     component: "my-component",
//!     steps: &[Migration {
//!         version: 1,
//!         description: "counters",
//!         sql: "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
//!     }],
//! };
//!
//! let db = SqliteDb::open("/var/lib/keptn/keptn.db").await?;
//! db.migrate(&MY_TABLES).await?;
//! db.write(|conn| {
//!     Box::pin(async move {
//!         sqlx::query("INSERT INTO counters VALUES ('runs', 1)
//!                      ON CONFLICT (name) DO UPDATE SET value = value + 1")
//!             .execute(&mut *conn)
//!             .await?;
//!         Ok::<_, keptn_core::db::DbError>(())
//!     })
//! })
//! .await?;
//! let (runs,): (i64,) = sqlx::query_as("SELECT value FROM counters WHERE name = 'runs'")
//!     .fetch_one(db.read_pool())
//!     .await?;
//! # Ok(()) }
//! ```

mod error;
mod migrate;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use error::DbError;
pub(crate) use error::sqlx_kind;
pub use migrate::{Migration, Migrations};
#[cfg(feature = "postgres")]
pub use postgres::PgDb;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteDb, SqliteDbOptions};
