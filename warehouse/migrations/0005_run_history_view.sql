-- 0005: ops.run_history, the run history as an operator reads it in an 80-column terminal.
--
-- Five short columns (ops.runs has every detail), newest first, and the start time as Bangkok
-- time with its offset: ops.runs stores UTC without a zone, and Asia/Bangkok is UTC+7 all year
-- (no daylight saving since 1920), so the fixed offset is exact (warehouse/times.py does the
-- same in Python). A string, not a TIMESTAMPTZ: DuckDB would show that in the host's zone.
CREATE VIEW ops.run_history AS
SELECT strftime(started_at + INTERVAL 7 HOUR, '%Y-%m-%d %H:%M') || '+07:00' AS started,
       kind,
       status,
       accepted AS ok,
       quarantined AS quar
FROM ops.runs
ORDER BY started_at DESC;

COMMENT ON VIEW ops.run_history IS 'The run history in five short columns, newest first, for a terminal: FROM ops.run_history LIMIT 5. ops.runs has every column (run_id, error, counts, duration); started is to the minute, ops.runs.run_id is the unique key. [grain: run; keys: started; joins: none]';
COMMENT ON COLUMN ops.run_history.started IS 'ops.runs.started_at as Bangkok time with its offset, to the minute (2026-11-24 02:00+07:00).';
COMMENT ON COLUMN ops.run_history.kind IS 'run, reprocess or rebuild (ops.runs.kind).';
COMMENT ON COLUMN ops.run_history.status IS 'running, succeeded, failed or committed_with_errors (ops.runs.status).';
COMMENT ON COLUMN ops.run_history.ok IS 'Files accepted (ops.runs.accepted).';
COMMENT ON COLUMN ops.run_history.quar IS 'Files quarantined (ops.runs.quarantined).';
