-- 0023: approval.restricted_held.received_on is the Bangkok date of the file's receipt, as every
-- date shown to people (warehouse/times.py): it was the UTC date, a day early on the committee's
-- pages for a file taken in between 17:00 and 24:00 UTC. The rows are rewritten by the next job
-- (warehouse/restricted.mirror_held rewrites the list whenever it differs), the only writer.
COMMENT ON COLUMN approval.restricted_held.received_on IS 'The date pilotkpi received the file, in Bangkok (CE): the restricted store''s ingest.submissions.received_at (UTC) + 7 hours, as a date.';
