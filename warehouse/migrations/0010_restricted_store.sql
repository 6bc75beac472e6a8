-- 0010: the restricted store's commit record (warehouse/restricted.py). Every file gets the
-- table; only the restricted store fills it, with the one job whose rows it holds last. At the
-- next start, a working copy `.next` is kept only if the open ops.runs committed that job.
CREATE TABLE ops.restricted_job (
    run_id VARCHAR NOT NULL
);

COMMENT ON TABLE ops.restricted_job IS 'In the restricted store: the job that last wrote it, one row; empty in the open warehouse. Two-file commit: a working copy whose run_id is committed in the open ops.runs is kept, any other is dropped. [grain: the last job; keys: run_id; joins: ops.runs (run_id)]';
COMMENT ON COLUMN ops.restricted_job.run_id IS 'The job (ops.runs.run_id of the open warehouse) that last wrote this file.';
