-- Sequence store, version 1: the orchestrator's durable state, beside the event store.
--
-- Every table is prefixed `seq_`. Times are microseconds since the Unix epoch.

-- One row per sequence execution (one sequence in one stage): the columns the queries filter
-- and sort on, and the whole execution as JSON in `body`. A rowid table: rows are stored in
-- creation order (the text `id` is a unique index), so the executions a commit updates, those
-- of sequences running at the same time, share pages.
CREATE TABLE seq_executions (
    id TEXT PRIMARY KEY NOT NULL,
    project TEXT NOT NULL,
    stage TEXT NOT NULL,
    service TEXT NOT NULL,
    keptn_context TEXT NOT NULL,
    sequence_name TEXT NOT NULL,
    triggered_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    active BOOLEAN NOT NULL,          -- the state is not terminal
    current_triggered_id TEXT,        -- the `.triggered` id of the current task
    current_task TEXT,                -- the current task's name
    task_open BOOLEAN NOT NULL,       -- the current task was sent and is not complete
    triggered_at INTEGER NOT NULL,
    arrival INTEGER NOT NULL,         -- tie-breaker of equal trigger times (the queue order)
    updated_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
-- restart (`load_active`) and the active-only listings
CREATE INDEX seq_executions_active ON seq_executions (project) WHERE active;
-- executions of a context (API, views)
CREATE INDEX seq_executions_context ON seq_executions (project, keptn_context);
-- the queue of a project, stage and service, oldest trigger first
CREATE INDEX seq_executions_lane ON seq_executions (project, stage, service, triggered_at, arrival);
-- open `.triggered` events of a task (`GET /v1/event/triggered/{eventType}`)
CREATE INDEX seq_executions_open ON seq_executions (current_task) WHERE task_open;

-- The materialized view of each context (`GET /v1/sequence/{project}`), as JSON.
-- Rows are stored in creation order (`seq`), not by context: contexts are random ids, and
-- keyed by them the views updated by one commit would each dirty a different page, among the
-- views of finished sequences; in creation order the views of sequences that run together
-- share pages.
CREATE TABLE seq_views (
    seq INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    keptn_context TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    time INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX seq_views_context ON seq_views (project, keptn_context);
-- a project's views, newest first (ties by context, as the listing orders them)
CREATE INDEX seq_views_time ON seq_views (project, time, keptn_context);

-- Paused contexts; `stage` is '' when every stage of the context is paused.
CREATE TABLE seq_pauses (
    project TEXT NOT NULL,
    keptn_context TEXT NOT NULL,
    stage TEXT NOT NULL,
    PRIMARY KEY (project, keptn_context, stage)
) WITHOUT ROWID;

-- Events committed and not yet published, in publishing order.
CREATE TABLE seq_outbox (
    seq INTEGER PRIMARY KEY NOT NULL,
    event TEXT NOT NULL
);

-- Ids of the events the controller processed, with the time (pruned after a retention time).
CREATE TABLE seq_processed (
    event_id TEXT PRIMARY KEY NOT NULL,
    processed_at INTEGER NOT NULL
) WITHOUT ROWID;
