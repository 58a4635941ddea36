-- Event store, version 2.
--
-- The five-column index (project, stage, service, type, time) served one hot query: the latest
-- evaluations of a service in a stage (lighthouse's comparison, the Bridge's heatmap). Every
-- event paid for it, and with one insertion point per (project, stage, service, type) it was
-- the most expensive index to keep (about a third of the insert cost). It now covers
-- `evaluation.finished` events only; other types of a service in a stage are read from
-- (project, type, time) and filtered. Queries name the type as a literal so that SQLite can
-- use this partial index (see `datastore/sql.rs`).
DROP INDEX events_project_stage_service_type_time;
CREATE INDEX events_evaluations ON events (project, stage, service, time)
    WHERE type = 'sh.keptn.event.evaluation.finished';
