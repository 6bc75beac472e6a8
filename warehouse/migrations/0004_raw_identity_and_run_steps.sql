-- 0004: agency text kept apart from validated values, and runs that committed but did not finish.
--
-- ingest.submissions.pilot_id / agency_code / period / submitted_on hold canonical values only,
-- and only where they were validated. What the file itself said in those fields (its first data
-- row, or a JSON file's top-level fields) is kept in raw_* as untrusted text: shown escaped,
-- never parsed again.
ALTER TABLE ingest.submissions ADD COLUMN raw_pilot_id VARCHAR;
ALTER TABLE ingest.submissions ADD COLUMN raw_agency_code VARCHAR;
ALTER TABLE ingest.submissions ADD COLUMN raw_period VARCHAR;
ALTER TABLE ingest.submissions ADD COLUMN raw_submitted_on VARCHAR;
-- A file over the size limit is recorded (size and hash) but its bytes are not copied into the
-- evidence store; it stays in the inbox's quarantine/ folder as received.
ALTER TABLE ingest.submissions ADD COLUMN evidence_kept BOOLEAN DEFAULT true;

-- A job whose warehouse transaction committed but whose later steps (validation report,
-- summaries, artifact, publishing, filing the inbox away) did not all finish.
ALTER TABLE ops.runs ADD COLUMN failed_steps VARCHAR;
ALTER TABLE ops.runs ADD COLUMN completed_at TIMESTAMP;
ALTER TABLE ops.runs ADD COLUMN completed_by VARCHAR;

COMMENT ON COLUMN ingest.submissions.raw_pilot_id IS 'pilot_id exactly as the file wrote it (first data row, or the JSON top-level field); untrusted text, for display only.';
COMMENT ON COLUMN ingest.submissions.raw_agency_code IS 'agency_code exactly as the file wrote it; untrusted text, for display only.';
COMMENT ON COLUMN ingest.submissions.raw_period IS 'period exactly as the file wrote it; untrusted text, for display only.';
COMMENT ON COLUMN ingest.submissions.raw_submitted_on IS 'submitted_on exactly as the file wrote it; untrusted text, for display only.';
COMMENT ON COLUMN ingest.submissions.evidence_kept IS 'false when the file was over the size limit: recorded with its size and hash, its bytes left in the inbox quarantine/ folder, not copied to the evidence store.';
COMMENT ON COLUMN ingest.submissions.pilot_id IS 'Pilot of the report, canonical and validated (NULL for duplicates and where it could not be read; see raw_pilot_id).';
COMMENT ON COLUMN ingest.submissions.agency_code IS 'Reporting agency, canonical 5-digit code (NULL where it could not be read; see raw_agency_code).';
COMMENT ON COLUMN ingest.submissions.period IS 'Fiscal quarter reported, canonical 2548-Q1 (NULL where it could not be read; see raw_period).';
COMMENT ON COLUMN ingest.submissions.submitted_on IS 'Submission date written in the file, as a CE date (NULL where it could not be read; see raw_submitted_on).';
COMMENT ON COLUMN ops.runs.status IS 'running, succeeded, failed (rolled back: nothing written), or committed_with_errors (the data committed but a later step in failed_steps did not finish).';
COMMENT ON COLUMN ops.runs.failed_steps IS 'For committed_with_errors: the steps after the commit that did not finish, comma-separated (validation_report, summaries, artifact, publish, file_away).';
COMMENT ON COLUMN ops.runs.completed_at IS 'When a later job finished the failed_steps of this run (UTC).';
COMMENT ON COLUMN ops.runs.completed_by IS 'The run_id, or the command, that finished the failed_steps of this run.';
