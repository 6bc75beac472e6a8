-- 0008: closed quarters (shared/spec/data-quality.md §2): the committee closes a pilot's period,
-- a later valid file for it is held until someone approves or rejects it, and every decision is
-- a row. Nothing in these relations is deleted.
CREATE SCHEMA IF NOT EXISTS approval;

CREATE TABLE approval.quarter_closures (
    pilot_id             VARCHAR NOT NULL,
    period               VARCHAR NOT NULL,
    closed_at            TIMESTAMP NOT NULL,
    closed_by            VARCHAR NOT NULL,
    note                 VARCHAR,
    composite_at_closing DECIMAL(9,4),
    status_at_closing    VARCHAR NOT NULL,
    reopened_at          TIMESTAMP,
    reopened_by          VARCHAR,
    reopen_reason        VARCHAR,
    run_id               VARCHAR NOT NULL
);

CREATE TABLE approval.decisions (
    decision_id   BIGINT PRIMARY KEY,
    decided_at    TIMESTAMP NOT NULL,
    decided_by    VARCHAR NOT NULL,
    action        VARCHAR NOT NULL,
    pilot_id      VARCHAR NOT NULL,
    period        VARCHAR NOT NULL,
    submission_id BIGINT,
    note          VARCHAR,
    status_after  VARCHAR,
    run_id        VARCHAR NOT NULL
);

-- The lines of held files: stored as received, outside core.* (which feeds the marts) until an
-- approval copies them in. Same columns as core.*.
CREATE TABLE ingest.held_kpi_actuals AS SELECT * FROM core.kpi_actuals WITH NO DATA;
CREATE TABLE ingest.held_budget_lines AS SELECT * FROM core.budget_lines WITH NO DATA;

ALTER TABLE ops.runs ADD COLUMN held INTEGER DEFAULT 0;

COMMENT ON TABLE approval.quarter_closures IS 'Each closing of a pilot''s period by the committee (data-quality.md §2); a reopened closure keeps its row with reopened_*. A (pilot, period) is closed while it has a row with reopened_at NULL. [grain: closure of a pilot''s period; keys: pilot_id, period, closed_at; joins: marts.pilot_scores (pilot_id, period), registry.pilots (pilot_id), approval.decisions (pilot_id, period)]';
COMMENT ON COLUMN approval.quarter_closures.pilot_id IS 'Pilot code.';
COMMENT ON COLUMN approval.quarter_closures.period IS 'The closed fiscal quarter, `2548-Q1`.';
COMMENT ON COLUMN approval.quarter_closures.closed_at IS 'When it was closed (UTC).';
COMMENT ON COLUMN approval.quarter_closures.closed_by IS 'Who closed it (--by).';
COMMENT ON COLUMN approval.quarter_closures.note IS 'The note given when closing (--note), if any.';
COMMENT ON COLUMN approval.quarter_closures.composite_at_closing IS 'marts.pilot_scores.composite_score of the period when it was closed (NULL: no KPI reported).';
COMMENT ON COLUMN approval.quarter_closures.status_at_closing IS 'marts.pilot_scores.status of the period when it was closed.';
COMMENT ON COLUMN approval.quarter_closures.reopened_at IS 'When the closure was ended by `pilotkpi reopen` (UTC); NULL while closed.';
COMMENT ON COLUMN approval.quarter_closures.reopened_by IS 'Who reopened it.';
COMMENT ON COLUMN approval.quarter_closures.reopen_reason IS 'Why it was reopened (--reason).';
COMMENT ON COLUMN approval.quarter_closures.run_id IS 'The close-quarter job (ops.runs) that recorded the closure.';

COMMENT ON TABLE approval.decisions IS 'Every decision on closed quarters and held files: close, reopen, approve, reject (data-quality.md §2). Never deleted. [grain: decision; keys: decision_id; joins: ingest.submissions (submission_id), approval.quarter_closures (pilot_id, period), ops.runs (run_id)]';
COMMENT ON COLUMN approval.decisions.decision_id IS 'Number of the decision, in the order they were taken.';
COMMENT ON COLUMN approval.decisions.decided_at IS 'When the decision was recorded (UTC).';
COMMENT ON COLUMN approval.decisions.decided_by IS 'Who took it (--by).';
COMMENT ON COLUMN approval.decisions.action IS 'close, reopen, approve or reject.';
COMMENT ON COLUMN approval.decisions.pilot_id IS 'Pilot concerned (closing for all pilots writes one row per pilot closed).';
COMMENT ON COLUMN approval.decisions.period IS 'Fiscal quarter concerned, `2548-Q1`.';
COMMENT ON COLUMN approval.decisions.submission_id IS 'The held file approved or rejected; NULL for close and reopen.';
COMMENT ON COLUMN approval.decisions.note IS 'The note (close, approve) or the reason (reopen, reject).';
COMMENT ON COLUMN approval.decisions.status_after IS 'For approve and reject: the file''s status after the decision (accepted, superseded or rejected).';
COMMENT ON COLUMN approval.decisions.run_id IS 'The job (ops.runs) that recorded the decision.';

COMMENT ON TABLE ingest.held_kpi_actuals IS 'KPI lines of files held for a closed quarter, as received; they reach core.kpi_actuals only when the file is approved and accepted. [grain: KPI line of a held file; keys: submission_id, row_number; joins: ingest.submissions (submission_id)]';
COMMENT ON TABLE ingest.held_budget_lines IS 'Budget lines of files held for a closed quarter, as received; they reach core.budget_lines only when the file is approved and accepted. [grain: budget line of a held file; keys: submission_id, row_number; joins: ingest.submissions (submission_id)]';
COMMENT ON COLUMN ingest.held_kpi_actuals.pilot_id IS 'Pilot code.';
COMMENT ON COLUMN ingest.held_kpi_actuals.agency_code IS 'Reporting agency (the lead).';
COMMENT ON COLUMN ingest.held_kpi_actuals.kpi_code IS 'KPI code.';
COMMENT ON COLUMN ingest.held_kpi_actuals.period IS 'Fiscal quarter, 2548-Q1.';
COMMENT ON COLUMN ingest.held_kpi_actuals.fiscal_year IS 'BE fiscal year of the period.';
COMMENT ON COLUMN ingest.held_kpi_actuals.quarter IS 'Quarter 1-4.';
COMMENT ON COLUMN ingest.held_kpi_actuals.actual IS 'The reported value, exact decimal (percent as 0-100).';
COMMENT ON COLUMN ingest.held_kpi_actuals.note IS 'Free-text note of the line.';
COMMENT ON COLUMN ingest.held_kpi_actuals.submission_id IS 'Lineage: the submission the line came from.';
COMMENT ON COLUMN ingest.held_kpi_actuals.row_number IS 'Lineage: the line''s row in that file.';
COMMENT ON COLUMN ingest.held_budget_lines.pilot_id IS 'Pilot code.';
COMMENT ON COLUMN ingest.held_budget_lines.agency_code IS 'Reporting agency.';
COMMENT ON COLUMN ingest.held_budget_lines.period IS 'Fiscal quarter, 2548-Q1.';
COMMENT ON COLUMN ingest.held_budget_lines.fiscal_year IS 'BE fiscal year of the period.';
COMMENT ON COLUMN ingest.held_budget_lines.quarter IS 'Quarter 1-4.';
COMMENT ON COLUMN ingest.held_budget_lines.activity_code IS 'Activity code of the budget line.';
COMMENT ON COLUMN ingest.held_budget_lines.layer IS 'Layer 1-5 the activity serves.';
COMMENT ON COLUMN ingest.held_budget_lines.funding_source IS 'own, lead_integrated or support_contribution.';
COMMENT ON COLUMN ingest.held_budget_lines.allocated_thb IS 'Allocated budget, baht.';
COMMENT ON COLUMN ingest.held_budget_lines.disbursed_thb IS 'Disbursed year to date, baht.';
COMMENT ON COLUMN ingest.held_budget_lines.note IS 'Free-text note of the line.';
COMMENT ON COLUMN ingest.held_budget_lines.submission_id IS 'Lineage: the submission the line came from.';
COMMENT ON COLUMN ingest.held_budget_lines.row_number IS 'Lineage: the line''s row in that file.';
COMMENT ON TABLE ops.runs IS 'One row per job (nightly run, reprocess, rebuild, or a decision: close, reopen, approve, reject), including failed ones. [grain: run; keys: run_id; joins: ingest.submissions (run_id)]';
COMMENT ON COLUMN ops.runs.held IS 'Files of the job held for a closed quarter (status held).';
COMMENT ON COLUMN ops.runs.kind IS 'run, reprocess, rebuild, close, reopen, approve or reject.';
COMMENT ON COLUMN ingest.submissions.status IS 'accepted, superseded, duplicate, quarantined, held (a valid file for a closed quarter, waiting for a decision) or rejected (a held file the committee refused).';
