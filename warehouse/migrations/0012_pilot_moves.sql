-- 0012: pilots whose rows are in the wrong store (warehouse.md), and the held files of restricted
-- pilots as the open side may show them (data-quality.md §2).
-- A move of a pilot between the open warehouse and the restricted store is recorded per moved
-- submission in ingest.status_changes (reason moved_to_restricted / moved_to_open, its status
-- unchanged), in the store that receives it (warehouse/moves.py).
COMMENT ON COLUMN ingest.status_changes.reason IS 'received (first status of a file from the inbox), replaced (accepted, superseded by a later version), reprocessed (a quarantined file re-read as a new submission; its status stays quarantined), reprocess (the first status of that new submission), approved or rejected (a held file decided), migrated (the status found by migration 0009), moved_to_restricted or moved_to_open (its pilot''s rows moved to the other store, its status unchanged: warehouse.md, a pilot whose rows are in the wrong store).';

-- The open warehouse's list of restricted pilots' held files, rewritten by each job from the
-- restricted store: what the committee needs to decide one (its submission id, agency, period and
-- dates), never its file name, defects or figures. Empty in the restricted store itself.
CREATE TABLE approval.restricted_held (
    submission_id BIGINT NOT NULL,
    pilot_id      VARCHAR NOT NULL,
    agency_code   VARCHAR NOT NULL,
    period        VARCHAR NOT NULL,
    submitted_on  DATE,
    received_on   DATE NOT NULL
);
COMMENT ON TABLE approval.restricted_held IS 'Files of restricted pilots held for a closed quarter and waiting for approve or reject, as the open side may show them: no file name, defect or figure (the files themselves are in the restricted store). Rewritten by every job; empty in the restricted store. [grain: held file of a restricted pilot; keys: submission_id; joins: registry.pilots (pilot_id), registry.agencies (agency_code)]';
COMMENT ON COLUMN approval.restricted_held.submission_id IS 'The held file''s submission id in the restricted store: what `pilotkpi approve` and `pilotkpi reject` take.';
COMMENT ON COLUMN approval.restricted_held.pilot_id IS 'The restricted pilot.';
COMMENT ON COLUMN approval.restricted_held.agency_code IS 'The agency that sent the file.';
COMMENT ON COLUMN approval.restricted_held.period IS 'The closed period the file reports on (2548-Q1).';
COMMENT ON COLUMN approval.restricted_held.submitted_on IS 'The date the file says it was submitted (CE).';
COMMENT ON COLUMN approval.restricted_held.received_on IS 'The date pilotkpi received the file (UTC date, CE).';
