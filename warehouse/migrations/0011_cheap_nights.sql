-- 0011: cheap nights (issue 12). What each mart was last built from, so a night rebuilds only the
-- marts whose inputs, registry or as-of date changed; and the state each job left, so a night
-- that changed nothing re-renders and republishes nothing.
CREATE TABLE ops.mart_inputs (
    mart_name VARCHAR PRIMARY KEY,
    inputs_sha256 VARCHAR NOT NULL,
    as_of DATE NOT NULL,
    run_id VARCHAR
);
COMMENT ON TABLE ops.mart_inputs IS 'Per mart, the fingerprint of what it was last built from (its SQL, the rows of the relations it reads, the as-of date where it uses it) and the job that built it; a job rebuilds a mart only when the fingerprint changed (kpis/fingerprint.py). [grain: mart; keys: mart_name; joins: ops.runs (run_id)]';
COMMENT ON COLUMN ops.mart_inputs.mart_name IS 'The mart, without its schema (kpi_scores is marts.kpi_scores).';
COMMENT ON COLUMN ops.mart_inputs.inputs_sha256 IS 'SHA-256 over the mart''s SQL, the row hashes of every relation it reads and the as-of date where its SQL uses it.';
COMMENT ON COLUMN ops.mart_inputs.as_of IS 'The as-of date of the job that last built the mart.';
COMMENT ON COLUMN ops.mart_inputs.run_id IS 'The job that last built the mart (NULL for a build outside a job, such as pilotkpi docs).';

ALTER TABLE ops.runs ADD COLUMN state_sha256 VARCHAR;
ALTER TABLE ops.runs ADD COLUMN skipped_steps VARCHAR;
COMMENT ON COLUMN ops.runs.state_sha256 IS 'SHA-256 of the warehouse''s data as the job committed it (every registry, ingest, core, approval and mart row, and the as-of date; not ops.*): equal to the previous job''s when the job changed nothing.';
COMMENT ON COLUMN ops.runs.skipped_steps IS 'Steps after the commit that the job skipped because what they show had not changed (validation_report, summaries, artifact, letters, publish), comma-separated; a skipped step counts as done.';
