-- 0018: the committee summary lists a restricted pilot's late or missing agencies too (who reported
-- when, with no figures: warehouse.md allows reporting_compliance on the open side).
COMMENT ON COLUMN registry.pilots.classification IS 'open or restricted (restricted pilots show status, composite and who reported when only).';
