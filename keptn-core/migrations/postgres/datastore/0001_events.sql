-- Event store, version 1 (the SQLite schema, with JSONB and explicit `seq` index columns).
--
-- Every composite index ends with (time, seq), the order of every query, so that a query
-- reads its rows newest first from the index and LIMIT stops early.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL,
    keptn_context TEXT NOT NULL,
    project TEXT,
    stage TEXT,
    service TEXT,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    time BIGINT NOT NULL, -- nanoseconds since the Unix epoch
    triggered_id TEXT,
    result TEXT,
    event JSONB NOT NULL
);
CREATE UNIQUE INDEX events_id ON events (id);
CREATE INDEX events_context_time ON events (keptn_context, time, seq);
CREATE INDEX events_project_time ON events (project, time, seq);
CREATE INDEX events_project_type_time ON events (project, type, time, seq);
CREATE INDEX events_project_stage_service_type_time ON events (project, stage, service, type, time, seq);

CREATE TABLE roots (
    keptn_context TEXT PRIMARY KEY,
    event_seq BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    project TEXT NOT NULL,
    stage TEXT,
    service TEXT,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    time BIGINT NOT NULL
);
CREATE INDEX roots_project_time ON roots (project, time, event_seq);
CREATE INDEX roots_project_service_time ON roots (project, service, time, event_seq);

CREATE TABLE invalidated (
    project TEXT NOT NULL,
    triggered_id TEXT NOT NULL,
    PRIMARY KEY (project, triggered_id)
);
