-- 0022: a restricted store lost for good is replaced only when the operator says so
-- (`pilotkpi rebuild --new-restricted-store`, warehouse/store_identity.py); that job's ops.runs
-- row says so by its kind. No data changes.
COMMENT ON COLUMN ops.runs.kind IS 'run, reprocess, rebuild, close, reopen, approve or reject; rebuild_new_restricted_store: a rebuild that made a new empty restricted store in place of a lost one (every restricted pilot''s figures no data until their files are sent again; docs/operations.md).';
