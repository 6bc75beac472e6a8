-- Run history for operations: how long a run took, what started it, and what it left alone.
ALTER TABLE ops.runs ADD COLUMN duration_seconds DOUBLE;
ALTER TABLE ops.runs ADD COLUMN kind VARCHAR DEFAULT 'run';
ALTER TABLE ops.runs ADD COLUMN skipped_unsettled INTEGER DEFAULT 0;
-- A quarantined submission re-read after a bug fix points back to the one it replays.
ALTER TABLE ingest.submissions ADD COLUMN reprocess_of BIGINT;
