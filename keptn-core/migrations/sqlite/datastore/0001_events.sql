-- Event store, version 1.
--
-- `events` holds each event once (unique id) as JSON text plus the fields the queries filter
-- on. `seq` is the rowid: SQLite appends it to every index, so `ORDER BY time DESC, seq DESC`
-- is read from the index that matches the filter, newest first, and LIMIT stops early.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    keptn_context TEXT NOT NULL,
    project TEXT,
    stage TEXT,
    service TEXT,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    time INTEGER NOT NULL, -- nanoseconds since the Unix epoch
    triggered_id TEXT,
    result TEXT,
    event TEXT NOT NULL
);
CREATE UNIQUE INDEX events_id ON events (id);
-- "events of a keptn context" (Bridge, CLI, API)
CREATE INDEX events_context_time ON events (keptn_context, time);
-- "events of a project", with or without a time range
CREATE INDEX events_project_time ON events (project, time);
-- "events of a type in a project" (/event/type with a project filter)
CREATE INDEX events_project_type_time ON events (project, type, time);
-- "events of a type of a service in a stage" (lighthouse's previous evaluations)
CREATE INDEX events_project_stage_service_type_time ON events (project, stage, service, type, time);

-- The first event (by time) of each keptn context among the events that carry a project,
-- kept on insert so that `root` queries read this small table by index.
CREATE TABLE roots (
    event_seq INTEGER PRIMARY KEY, -- events.seq of the root event
    keptn_context TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    project TEXT NOT NULL,
    stage TEXT,
    service TEXT,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    time INTEGER NOT NULL
);
CREATE INDEX roots_project_time ON roots (project, time);
CREATE INDEX roots_project_service_time ON roots (project, service, time);

-- The triggeredid values invalidated by `.invalidated` events, per project.
CREATE TABLE invalidated (
    project TEXT NOT NULL,
    triggered_id TEXT NOT NULL,
    PRIMARY KEY (project, triggered_id)
) WITHOUT ROWID;
