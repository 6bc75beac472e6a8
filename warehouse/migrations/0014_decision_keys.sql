-- 0014: a decision taken from the web (issue 21) carries the idempotency key the web recorded
-- before it asked the job to apply it. The job refuses a key it finds here, so a decision is
-- never applied twice, and the web, restarted after a crash, tells an applied decision from one
-- that was not. NULL for the CLI's decisions and for every decision taken before this migration.
ALTER TABLE approval.decisions ADD COLUMN idempotency_key VARCHAR;

COMMENT ON COLUMN approval.decisions.idempotency_key IS 'For a decision taken in the web: the key the web recorded before applying it (one key per request; closing for every pilot gives its rows one key). NULL for the CLI''s decisions.';
