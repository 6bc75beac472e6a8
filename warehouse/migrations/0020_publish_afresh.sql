-- 0020: the published copy written afresh after a restricted pilot's data left the open side
-- (reviewer RV4). DuckDB frees the blocks of deleted and overwritten rows without wiping them,
-- and keeps deleted rows in their row groups until it rewrites them: a byte copy of the working
-- file still holds the bytes of a close note cleared from the open side, or of a pilot's rows
-- moved to the restricted store. A job that removes such data notes it here in its own commit;
-- publishing then writes the copy afresh (COPY FROM DATABASE: the live rows only) instead of
-- copying the file's bytes, and the note is removed from the working file once such a copy is in
-- place (warehouse/publish.py). A warehouse that already had runs may hold such bytes from nights
-- published before this version: it gets one note (reason upgrade), so the next job's copy is
-- written afresh once. The restricted store has no runs of its own: it gets none.
CREATE TABLE ops.publish_afresh (
    reason VARCHAR NOT NULL,
    run_id VARCHAR
);
COMMENT ON TABLE ops.publish_afresh IS 'Why the next published copy must be written afresh rather than copied byte for byte: a job removed a restricted pilot''s data from the open side (its freed bytes stay in the working file). Emptied once a copy written afresh is published; empty in the published copy. [grain: job × reason; keys: reason, run_id; joins: ops.runs (run_id)]';
COMMENT ON COLUMN ops.publish_afresh.reason IS 'closure_texts (a restricted pilot''s close note or reopen reason cleared from the open side), moved_to_restricted (a pilot''s or some submissions'' rows moved to the restricted store), or upgrade (a warehouse that had runs before migration 0020: its earlier nights may have left such bytes).';
COMMENT ON COLUMN ops.publish_afresh.run_id IS 'The job that removed the data (NULL for upgrade).';
INSERT INTO ops.publish_afresh SELECT 'upgrade', NULL WHERE EXISTS (SELECT 1 FROM ops.runs);
