-- 0009: the audit trail of submission statuses (issue 14 item 3). Every status a submission
-- takes is a row, written by warehouse/store.py in the same transaction as the change itself;
-- ingest.submissions.status is the status_after of a submission's last row. Nothing here is
-- updated or deleted.
CREATE TABLE ingest.status_changes (
    change_id             BIGINT PRIMARY KEY,
    submission_id         BIGINT NOT NULL,
    status_before         VARCHAR,
    status_after          VARCHAR NOT NULL,
    reason                VARCHAR NOT NULL,
    related_submission_id BIGINT,
    run_id                VARCHAR NOT NULL,
    decision_id           BIGINT,
    changed_at            TIMESTAMP NOT NULL
);

-- A warehouse made before this migration gets one row per existing submission, from its current
-- status: what happened before is not known. A decided held file takes its last decision's job
-- and time; any other file its receiving run and received_at.
INSERT INTO ingest.status_changes
SELECT row_number() OVER (ORDER BY s.submission_id), s.submission_id, NULL, s.status, 'migrated',
       coalesce(s.superseded_by, s.duplicate_of, s.reprocess_of), coalesce(d.run_id, s.run_id), d.decision_id,
       coalesce(d.decided_at, s.received_at)
FROM ingest.submissions s
LEFT JOIN (SELECT submission_id, max(decision_id) AS decision_id, max_by(run_id, decision_id) AS run_id,
                  max_by(decided_at, decision_id) AS decided_at
           FROM approval.decisions WHERE submission_id IS NOT NULL GROUP BY submission_id) d
       ON d.submission_id = s.submission_id;

COMMENT ON TABLE ingest.status_changes IS 'Audit trail: every status a submission took, in order, with the job or decision that set it; a submission''s last row has its current status. Rows are only added. Warehouses made before migration 0009 start with one row per submission that existed then, reason migrated, holding its status of that moment. [grain: status change of a submission; keys: change_id; joins: ingest.submissions (submission_id), ops.runs (run_id), approval.decisions (decision_id)]';
COMMENT ON COLUMN ingest.status_changes.change_id IS 'Number of the change, in the order changes were written (orders the rows of one submission).';
COMMENT ON COLUMN ingest.status_changes.submission_id IS 'The submission whose status changed.';
COMMENT ON COLUMN ingest.status_changes.status_before IS 'Its status before the change; NULL for its first row (received, reprocess or migrated).';
COMMENT ON COLUMN ingest.status_changes.status_after IS 'Its status after the change: accepted, superseded, duplicate, quarantined, held or rejected (ingest.submissions.status).';
COMMENT ON COLUMN ingest.status_changes.reason IS 'received (first status of a file from the inbox), replaced (accepted, superseded by a later version), reprocessed (a quarantined file re-read as a new submission; its status stays quarantined), reprocess (the first status of that new submission), approved or rejected (a held file decided), migrated (the status found by migration 0009).';
COMMENT ON COLUMN ingest.status_changes.related_submission_id IS 'The other submission concerned: the original of a duplicate, the version that superseded it (or that an approved held file lost to), the replaying submission (reprocessed) or the replayed one (reprocess).';
COMMENT ON COLUMN ingest.status_changes.run_id IS 'The job (ops.runs) that made the change: the run, reprocess, approve or reject job.';
COMMENT ON COLUMN ingest.status_changes.decision_id IS 'For changes made by a committee decision (approve, reject): its approval.decisions row.';
COMMENT ON COLUMN ingest.status_changes.changed_at IS 'When the job made the change (UTC): the run''s receiving time, or the decision''s time.';
