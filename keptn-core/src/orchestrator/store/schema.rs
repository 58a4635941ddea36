//! The tables of the SQL sequence stores (see `sql.rs` for the statements).

/// The SQLite schema.
#[cfg(feature = "sqlite")]
pub(super) const SQLITE_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS seq_executions (
        id TEXT PRIMARY KEY NOT NULL,
        project TEXT NOT NULL,
        stage TEXT NOT NULL,
        service TEXT NOT NULL,
        keptn_context TEXT NOT NULL,
        sequence_name TEXT NOT NULL,
        triggered_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        active BOOLEAN NOT NULL,
        current_triggered_id TEXT,
        current_task TEXT,
        task_open BOOLEAN NOT NULL,
        triggered_at INTEGER NOT NULL,
        arrival INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        body TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS seq_executions_active ON seq_executions (project) WHERE active",
    "CREATE INDEX IF NOT EXISTS seq_executions_context ON seq_executions (project, keptn_context)",
    "CREATE INDEX IF NOT EXISTS seq_executions_lane
        ON seq_executions (project, stage, service, triggered_at, arrival)",
    "CREATE INDEX IF NOT EXISTS seq_executions_open ON seq_executions (current_task) WHERE task_open",
    "CREATE TABLE IF NOT EXISTS seq_views (
        project TEXT NOT NULL,
        keptn_context TEXT NOT NULL,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        time INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (project, keptn_context)
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS seq_views_time ON seq_views (project, time)",
    "CREATE TABLE IF NOT EXISTS seq_pauses (
        project TEXT NOT NULL,
        keptn_context TEXT NOT NULL,
        stage TEXT NOT NULL,
        PRIMARY KEY (project, keptn_context, stage)
    ) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS seq_outbox (
        seq INTEGER PRIMARY KEY NOT NULL,
        event TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS seq_processed (
        event_id TEXT PRIMARY KEY NOT NULL,
        processed_at INTEGER NOT NULL
    ) WITHOUT ROWID",
];

/// The PostgreSQL schema.
#[cfg(feature = "postgres")]
pub(super) const POSTGRES_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS seq_executions (
        id TEXT PRIMARY KEY NOT NULL,
        project TEXT NOT NULL,
        stage TEXT NOT NULL,
        service TEXT NOT NULL,
        keptn_context TEXT NOT NULL,
        sequence_name TEXT NOT NULL,
        triggered_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        active BOOLEAN NOT NULL,
        current_triggered_id TEXT,
        current_task TEXT,
        task_open BOOLEAN NOT NULL,
        triggered_at BIGINT NOT NULL,
        arrival BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        body TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS seq_executions_active ON seq_executions (project) WHERE active",
    "CREATE INDEX IF NOT EXISTS seq_executions_context ON seq_executions (project, keptn_context)",
    "CREATE INDEX IF NOT EXISTS seq_executions_lane
        ON seq_executions (project, stage, service, triggered_at, arrival)",
    "CREATE INDEX IF NOT EXISTS seq_executions_open ON seq_executions (current_task) WHERE task_open",
    "CREATE TABLE IF NOT EXISTS seq_views (
        project TEXT NOT NULL,
        keptn_context TEXT NOT NULL,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        time BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (project, keptn_context)
    )",
    "CREATE INDEX IF NOT EXISTS seq_views_time ON seq_views (project, time)",
    "CREATE TABLE IF NOT EXISTS seq_pauses (
        project TEXT NOT NULL,
        keptn_context TEXT NOT NULL,
        stage TEXT NOT NULL,
        PRIMARY KEY (project, keptn_context, stage)
    )",
    "CREATE TABLE IF NOT EXISTS seq_outbox (
        seq BIGINT PRIMARY KEY NOT NULL,
        event TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS seq_processed (
        event_id TEXT PRIMARY KEY NOT NULL,
        processed_at BIGINT NOT NULL
    )",
];
