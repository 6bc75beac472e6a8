-- 0021: which restricted store belongs to which open warehouse (verifier VI, F1). A job given the
-- wrong --restricted-store, none, or a restore that missed the store, made an empty store and
-- wrote every restricted pilot's figures as no data. The open warehouse now records the identity
-- of its restricted store (and the last job that wrote it); the store records its own identity in
-- the same table. A job refuses a store that is missing or another one (warehouse/store_identity.py).
CREATE TABLE ops.restricted_store (
    store_id VARCHAR,
    run_id VARCHAR
);
COMMENT ON TABLE ops.restricted_store IS 'The restricted store''s identity, one row at most. In the open warehouse: the store its jobs write (a job refuses to start when that store is missing or another one) and the last job that wrote it; no row while none was ever needed. In the restricted store: its own identity. [grain: the one restricted store; keys: store_id; joins: ops.runs (run_id)]';
COMMENT ON COLUMN ops.restricted_store.store_id IS 'A random id given to the store by the job that made it (or, for a store made before migration 0021, by the first job after it). NULL in an open warehouse upgraded from before 0021 that had a restricted store: the first job records the store it finds.';
COMMENT ON COLUMN ops.restricted_store.run_id IS 'In the open warehouse: the last committed job that wrote the restricted store (the store''s ops.restricted_job names the same job unless the two files are out of step, e.g. backed up at different times). NULL in the store itself, and before a job recorded one.';
-- An open warehouse upgraded from before 0021 whose jobs already used a restricted store records
-- a store of unknown id: that store missing is refused; found, it is recorded. Such a warehouse
-- names a restricted pilot in registry.pilots but holds none of its KPIs (they are kept in the
-- store only; every pilot has KPIs). A warehouse from before the store (0010), whose restricted
-- pilots' rows are still open, records none: its first job makes the store and moves them there.
-- (The store itself, whose ops.restricted_job has its last job, records nothing here.)
INSERT INTO ops.restricted_store
SELECT NULL, NULL
WHERE EXISTS (SELECT 1 FROM registry.pilots p WHERE p.classification = 'restricted'
                AND NOT EXISTS (SELECT 1 FROM registry.kpis k WHERE k.pilot_id = p.pilot_id))
  AND NOT EXISTS (SELECT 1 FROM ops.restricted_job);
