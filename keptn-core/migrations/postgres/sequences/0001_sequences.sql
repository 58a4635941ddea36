-- Sequence store, version 1: the orchestrator's durable state, beside the event store
-- (the SQLite schema with BIGINT times; views are keyed by context here, since a heap table
-- has no key order to keep rows that change together on the same pages).
--
-- Every table is prefixed `seq_`. Times are microseconds since the Unix epoch.

-- One row per sequence execution (one sequence in one stage): the columns the queries filter
-- and sort on, and the whole execution as JSON in `body`.
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
    triggered_at BIGINT NOT NULL,
    arrival BIGINT NOT NULL,          -- tie-breaker of equal trigger times (the queue order)
    updated_at BIGINT NOT NULL,
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
CREATE TABLE seq_views (
    project TEXT NOT NULL,
    keptn_context TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    time BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (project, keptn_context)
);
-- a project's views, newest first (ties by context, as the listing orders them)
CREATE INDEX seq_views_time ON seq_views (project, time, keptn_context);

-- Paused contexts; `stage` is '' when every stage of the context is paused.
CREATE TABLE seq_pauses (
    project TEXT NOT NULL,
    keptn_context TEXT NOT NULL,
    stage TEXT NOT NULL,
    PRIMARY KEY (project, keptn_context, stage)
);

-- Events committed and not yet published, in publishing order.
CREATE TABLE seq_outbox (
    seq BIGINT PRIMARY KEY NOT NULL,
    event TEXT NOT NULL
);

-- Ids of the events the controller processed, with the time (pruned after a retention time).
CREATE TABLE seq_processed (
    event_id TEXT PRIMARY KEY NOT NULL,
    processed_at BIGINT NOT NULL
);
