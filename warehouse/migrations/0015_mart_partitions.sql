-- 0015: incremental marts (issue 22, the 1%-new night). Every mart is per pilot: a row of pilot P
-- is computed from P's rows of the relations it reads. Per mart, the fingerprint of each pilot's
-- inputs when the mart was last built, so a night recomputes only the pilots whose inputs changed
-- (kpis/build.py), and the job that last computed each pilot's rows.
CREATE TABLE ops.mart_partitions (
    mart_name VARCHAR NOT NULL,
    pilot_id VARCHAR,
    inputs_sha256 VARCHAR NOT NULL,
    run_id VARCHAR
);
COMMENT ON TABLE ops.mart_partitions IS 'Per mart and pilot, the fingerprint of that pilot''s rows of the relations the mart reads when the mart was last built, and the job that last computed the pilot''s rows; one row per mart with pilot_id NULL holds what is not per pilot (its code, the as-of date where it uses it, relations without pilot_id). A job recomputes only the pilots whose fingerprint changed, or the whole mart when the NULL row did (kpis/build.py). [grain: mart × pilot; keys: mart_name, pilot_id; joins: ops.mart_inputs (mart_name), registry.pilots (pilot_id), ops.runs (run_id)]';
COMMENT ON COLUMN ops.mart_partitions.mart_name IS 'The mart, without its schema (kpi_scores is marts.kpi_scores).';
COMMENT ON COLUMN ops.mart_partitions.pilot_id IS 'The pilot; NULL for the part of the mart''s inputs that is not per pilot.';
COMMENT ON COLUMN ops.mart_partitions.inputs_sha256 IS 'SHA-256 over the pilot''s rows (count and row hashes) of each relation with pilot_id the mart reads; for the NULL row, over the mart''s code, the as-of date where it uses it and the relations without pilot_id it reads.';
COMMENT ON COLUMN ops.mart_partitions.run_id IS 'The job that last computed this pilot''s rows of the mart (NULL for a build outside a job).';
