-- 0019: the committee's free text on a restricted pilot's closure (the close note, the reopen
-- reason) is not among what warehouse.md lets the open side hold of that pilot. Its closure row
-- stays in the open approval.quarter_closures (the closed-quarter logic needs it: later files are
-- held, a period closed twice is refused, the pages list it), and its close and reopen rows stay
-- in approval.decisions, all three without the text; the text is on the restricted store's copy
-- of the closure row (pilots/approval.py). A warehouse written before this migration may hold
-- such texts on the open side: the next job moves them into the restricted store and clears them
-- there, in its own commit (warehouse/restricted.mirror_closures), so they leave the published
-- copy at that job's publish. Nothing is moved here: a migration runs on one file, and the text
-- would be lost if cleared before the restricted store has it.
COMMENT ON COLUMN approval.quarter_closures.note IS 'The note given when closing (--note), if any. For a restricted pilot NULL in the open warehouse (and its published copy): the note is in the restricted store''s row of the closure.';
COMMENT ON COLUMN approval.quarter_closures.reopen_reason IS 'Why it was reopened (--reason). For a restricted pilot NULL in the open warehouse (and its published copy): the reason is in the restricted store''s row of the closure.';
COMMENT ON COLUMN approval.decisions.note IS 'The note (close, approve) or the reason (reopen, reject). A restricted pilot''s close and reopen rows have none in the open warehouse: the text is on its closure row in the restricted store (approval.quarter_closures note, reopen_reason); its approve and reject rows are in the restricted store whole.';
COMMENT ON TABLE approval.quarter_closures IS 'Each closing of a pilot''s period by the committee (data-quality.md §2); a reopened closure keeps its row with reopened_*. A (pilot, period) is closed while it has a row with reopened_at NULL. A restricted pilot''s rows are in the open warehouse without note and reopen_reason, and copied whole, with them, into the restricted store by every job. [grain: closure of a pilot''s period; keys: pilot_id, period, closed_at; joins: marts.pilot_scores (pilot_id, period), registry.pilots (pilot_id), approval.decisions (pilot_id, period)]';
