-- 0003: a COMMENT on every relation and column, so the catalogue documents itself
-- (`pilotkpi docs` writes docs/warehouse.md from it; tests/test_warehouse_docs.py fails on a gap).
-- Table comments end in "[grain: …; keys: …; joins: relation (columns), …]", which the docs parse.
-- The marts are rebuilt every run; their comments come from kpis/<name>.yml (kpis/build.py).

COMMENT ON TABLE registry.agencies IS 'Government agencies that take part in pilots, from agencies.yaml (rewritten every run). [grain: agency; keys: agency_code; joins: registry.pilot_agencies (agency_code), ingest.submissions (agency_code)]';
COMMENT ON COLUMN registry.agencies.agency_code IS '5-digit agency code, kept as text (leading zeros matter: 03009).';
COMMENT ON COLUMN registry.agencies.name_th IS 'Agency name in Thai.';
COMMENT ON COLUMN registry.agencies.name_en IS 'Agency name in English.';
COMMENT ON COLUMN registry.agencies.ministry IS 'Ministry the agency belongs to, if given.';

COMMENT ON TABLE registry.pilots IS 'Pilot projects of step 6 of the 2004 resolution, one per registry/pilots/*.yaml. [grain: pilot; keys: pilot_id; joins: registry.pilot_agencies (pilot_id), registry.kpis (pilot_id), marts.pilot_scores (pilot_id), ingest.submissions (pilot_id)]';
COMMENT ON COLUMN registry.pilots.pilot_id IS 'Pilot code, PLT-<BE year>-<NNN>.';
COMMENT ON COLUMN registry.pilots.name_th IS 'Pilot name in Thai.';
COMMENT ON COLUMN registry.pilots.name_en IS 'Pilot name in English.';
COMMENT ON COLUMN registry.pilots.layer IS 'Layer 1-5 of the 2004 resolution the pilot belongs to.';
COMMENT ON COLUMN registry.pilots.strategies IS 'Strategies 1-7 the pilot serves.';
COMMENT ON COLUMN registry.pilots.classification IS 'open or restricted (restricted pilots show status and composite only).';
COMMENT ON COLUMN registry.pilots.start_date IS 'First day of the pilot (CE date).';
COMMENT ON COLUMN registry.pilots.end_date IS 'Last day of the pilot (CE date).';
COMMENT ON COLUMN registry.pilots.lead_agency_code IS 'The lead agency, which hosts the pilot and reports its KPIs.';
COMMENT ON COLUMN registry.pilots.report_due_days IS 'Days after the end of a quarter by which reports are due.';

COMMENT ON TABLE registry.pilot_agencies IS 'Agencies taking part in each pilot, with their role. [grain: pilot × agency; keys: pilot_id, agency_code; joins: registry.pilots (pilot_id), registry.agencies (agency_code), marts.reporting_compliance (pilot_id, agency_code)]';
COMMENT ON COLUMN registry.pilot_agencies.pilot_id IS 'Pilot code.';
COMMENT ON COLUMN registry.pilot_agencies.agency_code IS 'Participating agency.';
COMMENT ON COLUMN registry.pilot_agencies.role IS 'lead, secondary, supporting or advisory.';

COMMENT ON TABLE registry.kpis IS 'The success indicators (KPIs) of each pilot. [grain: pilot × KPI; keys: pilot_id, kpi_code; joins: registry.pilots (pilot_id), registry.kpi_thresholds (pilot_id, kpi_code), core.kpi_actuals (pilot_id, kpi_code), marts.kpi_scores (pilot_id, kpi_code)]';
COMMENT ON COLUMN registry.kpis.pilot_id IS 'Pilot code.';
COMMENT ON COLUMN registry.kpis.kpi_code IS 'KPI code within the pilot.';
COMMENT ON COLUMN registry.kpis.name_th IS 'KPI name in Thai.';
COMMENT ON COLUMN registry.kpis.name_en IS 'KPI name in English.';
COMMENT ON COLUMN registry.kpis.unit IS 'Unit of the actual (percent, baht, count, days, ...).';
COMMENT ON COLUMN registry.kpis.direction IS 'higher or lower: which way is better.';
COMMENT ON COLUMN registry.kpis.aggregation IS 'last (the period value) or sum (year to date, thresholds pro-rated).';
COMMENT ON COLUMN registry.kpis.weight IS 'Weight in the composite score; a pilot''s weights add up to 100.';

COMMENT ON TABLE registry.kpi_thresholds IS 'The five thresholds of each KPI per fiscal year, as registered (before pro-rating). [grain: pilot × KPI × fiscal year; keys: pilot_id, kpi_code, fiscal_year; joins: registry.kpis (pilot_id, kpi_code)]';
COMMENT ON COLUMN registry.kpi_thresholds.pilot_id IS 'Pilot code.';
COMMENT ON COLUMN registry.kpi_thresholds.kpi_code IS 'KPI code.';
COMMENT ON COLUMN registry.kpi_thresholds.fiscal_year IS 'BE fiscal year the thresholds apply to.';
COMMENT ON COLUMN registry.kpi_thresholds.t1 IS 'Threshold earning score 1.';
COMMENT ON COLUMN registry.kpi_thresholds.t2 IS 'Threshold earning score 2.';
COMMENT ON COLUMN registry.kpi_thresholds.t3 IS 'Threshold earning score 3.';
COMMENT ON COLUMN registry.kpi_thresholds.t4 IS 'Threshold earning score 4.';
COMMENT ON COLUMN registry.kpi_thresholds.t5 IS 'Threshold earning score 5.';

COMMENT ON TABLE ingest.submissions IS 'Every file received, one row per receipt, whatever became of it. [grain: file received; keys: submission_id; joins: ingest.issues (submission_id), core.kpi_actuals (submission_id), core.budget_lines (submission_id), ops.runs (run_id), registry.pilots (pilot_id)]';
COMMENT ON COLUMN ingest.submissions.submission_id IS 'Sequential id in order of receipt.';
COMMENT ON COLUMN ingest.submissions.sha256 IS 'SHA-256 of the file bytes; the evidence store keeps them under this name.';
COMMENT ON COLUMN ingest.submissions.file_name IS 'File name as received.';
COMMENT ON COLUMN ingest.submissions.format IS 'csv, json or xlsx.';
COMMENT ON COLUMN ingest.submissions.encoding IS 'Text encoding detected (utf-8, utf-8-sig, cp874), NULL for xlsx.';
COMMENT ON COLUMN ingest.submissions.size_bytes IS 'File size in bytes.';
COMMENT ON COLUMN ingest.submissions.received_at IS 'When the run received the file (UTC).';
COMMENT ON COLUMN ingest.submissions.run_id IS 'The run that received it.';
COMMENT ON COLUMN ingest.submissions.pilot_id IS 'Pilot of the report (NULL for duplicates and unreadable files).';
COMMENT ON COLUMN ingest.submissions.agency_code IS 'Reporting agency.';
COMMENT ON COLUMN ingest.submissions.period IS 'Fiscal quarter reported, 2548-Q1.';
COMMENT ON COLUMN ingest.submissions.submitted_on IS 'Submission date written in the file (CE).';
COMMENT ON COLUMN ingest.submissions.status IS 'accepted, superseded, duplicate or quarantined.';
COMMENT ON COLUMN ingest.submissions.superseded_by IS 'For superseded: the submission that replaced it.';
COMMENT ON COLUMN ingest.submissions.duplicate_of IS 'For duplicates: the first submission with the same bytes.';
COMMENT ON COLUMN ingest.submissions.error_count IS 'Defects found (any makes the file quarantined).';
COMMENT ON COLUMN ingest.submissions.warning_count IS 'Warnings found (the file is still accepted).';
COMMENT ON COLUMN ingest.submissions.reprocess_of IS 'For a re-read quarantined file: the submission it replays.';

COMMENT ON TABLE ingest.issues IS 'Every defect and warning found in a file, in Thai and English. [grain: submission × defect; keys: submission_id, row_number, column_name, code; joins: ingest.submissions (submission_id)]';
COMMENT ON COLUMN ingest.issues.submission_id IS 'The file it was found in.';
COMMENT ON COLUMN ingest.issues.row_number IS 'Spreadsheet row (header = 1) or JSON line index; NULL for a whole-file defect.';
COMMENT ON COLUMN ingest.issues.column_name IS 'Canonical column name, NULL for a whole-row or whole-file defect.';
COMMENT ON COLUMN ingest.issues.code IS 'Stable defect code (docs/defects.md).';
COMMENT ON COLUMN ingest.issues.severity IS 'error (quarantines the file) or warning.';
COMMENT ON COLUMN ingest.issues.message_en IS 'Message in English.';
COMMENT ON COLUMN ingest.issues.message_th IS 'Message in Thai.';

COMMENT ON TABLE core.kpi_actuals IS 'KPI lines of accepted submissions only. [grain: accepted KPI line; keys: submission_id, row_number; joins: ingest.submissions (submission_id), registry.kpis (pilot_id, kpi_code)]';
COMMENT ON COLUMN core.kpi_actuals.pilot_id IS 'Pilot code.';
COMMENT ON COLUMN core.kpi_actuals.agency_code IS 'Reporting agency (the lead).';
COMMENT ON COLUMN core.kpi_actuals.kpi_code IS 'KPI code.';
COMMENT ON COLUMN core.kpi_actuals.period IS 'Fiscal quarter, 2548-Q1.';
COMMENT ON COLUMN core.kpi_actuals.fiscal_year IS 'BE fiscal year of the period.';
COMMENT ON COLUMN core.kpi_actuals.quarter IS 'Quarter 1-4.';
COMMENT ON COLUMN core.kpi_actuals.actual IS 'The reported value, exact decimal (percent as 0-100).';
COMMENT ON COLUMN core.kpi_actuals.note IS 'Free-text note of the line.';
COMMENT ON COLUMN core.kpi_actuals.submission_id IS 'Lineage: the submission the line came from.';
COMMENT ON COLUMN core.kpi_actuals.row_number IS 'Lineage: the line''s row in that file.';

COMMENT ON TABLE core.budget_lines IS 'Budget lines of accepted submissions only. [grain: accepted budget line; keys: submission_id, row_number; joins: ingest.submissions (submission_id), registry.pilot_agencies (pilot_id, agency_code)]';
COMMENT ON COLUMN core.budget_lines.pilot_id IS 'Pilot code.';
COMMENT ON COLUMN core.budget_lines.agency_code IS 'Reporting agency.';
COMMENT ON COLUMN core.budget_lines.period IS 'Fiscal quarter, 2548-Q1.';
COMMENT ON COLUMN core.budget_lines.fiscal_year IS 'BE fiscal year of the period.';
COMMENT ON COLUMN core.budget_lines.quarter IS 'Quarter 1-4.';
COMMENT ON COLUMN core.budget_lines.activity_code IS 'Activity code of the budget line.';
COMMENT ON COLUMN core.budget_lines.layer IS 'Layer 1-5 the activity serves.';
COMMENT ON COLUMN core.budget_lines.funding_source IS 'own, lead_integrated or support_contribution.';
COMMENT ON COLUMN core.budget_lines.allocated_thb IS 'Allocated budget, baht.';
COMMENT ON COLUMN core.budget_lines.disbursed_thb IS 'Disbursed year to date, baht.';
COMMENT ON COLUMN core.budget_lines.note IS 'Free-text note of the line.';
COMMENT ON COLUMN core.budget_lines.submission_id IS 'Lineage: the submission the line came from.';
COMMENT ON COLUMN core.budget_lines.row_number IS 'Lineage: the line''s row in that file.';

COMMENT ON TABLE ops.runs IS 'One row per nightly run, reprocess or rebuild, including failed ones. [grain: run; keys: run_id; joins: ingest.submissions (run_id)]';
COMMENT ON COLUMN ops.runs.run_id IS 'Run id: UTC start time and a random suffix.';
COMMENT ON COLUMN ops.runs.started_at IS 'Start (UTC).';
COMMENT ON COLUMN ops.runs.finished_at IS 'End (UTC), NULL while running.';
COMMENT ON COLUMN ops.runs.as_of IS 'The day the run is about.';
COMMENT ON COLUMN ops.runs.status IS 'running, succeeded or failed.';
COMMENT ON COLUMN ops.runs.files_seen IS 'Files looked at.';
COMMENT ON COLUMN ops.runs.accepted IS 'Files accepted.';
COMMENT ON COLUMN ops.runs.superseded IS 'Earlier submissions superseded during the run.';
COMMENT ON COLUMN ops.runs.quarantined IS 'Files quarantined.';
COMMENT ON COLUMN ops.runs.duplicates IS 'Files already received (same bytes).';
COMMENT ON COLUMN ops.runs.registry_sha256 IS 'Content hash of the registry the run used.';
COMMENT ON COLUMN ops.runs.software_version IS 'pilotkpi version that ran.';
COMMENT ON COLUMN ops.runs.error IS 'For failed runs: the error.';
COMMENT ON COLUMN ops.runs.duration_seconds IS 'Wall-clock duration in seconds.';
COMMENT ON COLUMN ops.runs.kind IS 'run, reprocess or rebuild.';
COMMENT ON COLUMN ops.runs.skipped_unsettled IS 'Inbox files left for the next run because they were still being written.';

COMMENT ON TABLE ops.schema_migrations IS 'Migrations applied to this file: the schema version. [grain: migration; keys: version; joins: none]';
COMMENT ON COLUMN ops.schema_migrations.version IS 'Migration number (warehouse/migrations/NNNN_*.sql).';
COMMENT ON COLUMN ops.schema_migrations.name IS 'Migration name.';
COMMENT ON COLUMN ops.schema_migrations.applied_at IS 'When it was applied (local time of the machine).';
