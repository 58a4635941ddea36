//! The tables of the SQL sequence stores, as versioned migrations of the component `sequences`
//! (see `keptn-core/migrations/{sqlite,postgres}/sequences/` and `sql.rs` for the statements).
//!
//! The stores apply them with `migrate` on the shared database handle when they are built, so
//! the tables sit next to the event store's and the bus's, recorded in `keptn_migrations`.

use crate::db::{Migration, Migrations};

/// The component name in `keptn_migrations`.
const COMPONENT: &str = "sequences";

/// What version 1 creates.
const V1: &str = "executions, views, pauses, outbox, processed ids";

/// The SQLite schema.
#[cfg(feature = "sqlite")]
pub(super) static SQLITE_MIGRATIONS: Migrations = Migrations {
    component: COMPONENT,
    steps: &[Migration {
        version: 1,
        description: V1,
        sql: include_str!("../../../migrations/sqlite/sequences/0001_sequences.sql"),
    }],
};

/// The PostgreSQL schema.
#[cfg(feature = "postgres")]
pub(super) static POSTGRES_MIGRATIONS: Migrations = Migrations {
    component: COMPONENT,
    steps: &[Migration {
        version: 1,
        description: V1,
        sql: include_str!("../../../migrations/postgres/sequences/0001_sequences.sql"),
    }],
};
