-- 0007: what reminder letters need from the registry (shared/spec/follow-up.md, pilot-registry.md):
-- the addressee and e-mail of each agency, an agreed extension per pilot and agency, and the
-- office that sends the letters. marts.reminders itself is rebuilt every run (kpis/reminders.sql).
ALTER TABLE registry.agencies ADD COLUMN head_th VARCHAR;
ALTER TABLE registry.agencies ADD COLUMN head_en VARCHAR;
ALTER TABLE registry.agencies ADD COLUMN email VARCHAR;
ALTER TABLE registry.pilot_agencies ADD COLUMN no_reminders_until DATE;

CREATE TABLE registry.secretariat (
    name_th       VARCHAR NOT NULL,
    name_en       VARCHAR NOT NULL,
    letter_prefix VARCHAR NOT NULL,
    address_th    VARCHAR,
    address_en    VARCHAR,
    phone         VARCHAR
);

COMMENT ON COLUMN registry.agencies.head_th IS 'Addressee of reminder letters in Thai (เรียน …), e.g. the agency head''s title; NULL: the letter is addressed to the head of the agency by its name.';
COMMENT ON COLUMN registry.agencies.head_en IS 'Addressee of reminder letters in English; NULL: "the Head of <name_en>".';
COMMENT ON COLUMN registry.agencies.email IS 'E-mail address for the reminders'' mail merge (reminders.csv), if given.';
COMMENT ON COLUMN registry.pilot_agencies.no_reminders_until IS 'An agreed extension (follow-up.md): no reminder for this pilot and agency while the as-of date is on or before this date. NULL: none.';

COMMENT ON TABLE registry.secretariat IS 'The office that sends reminder letters, from the optional secretariat.yaml (rewritten every run); no row: letters are signed by the pilot-project committee secretariat. [grain: the sending office, one row at most; keys: letter_prefix; joins: none]';
COMMENT ON COLUMN registry.secretariat.name_th IS 'The sending office in Thai (ส่วนราชการเจ้าของหนังสือ).';
COMMENT ON COLUMN registry.secretariat.name_en IS 'The sending office in English.';
COMMENT ON COLUMN registry.secretariat.letter_prefix IS 'Prefix of the letters'' document numbers, which are <letter_prefix>/<running number> (e.g. นร 1200).';
COMMENT ON COLUMN registry.secretariat.address_th IS 'The office''s address in Thai for the letterhead, if given.';
COMMENT ON COLUMN registry.secretariat.address_en IS 'The office''s address in English for the letterhead, if given.';
COMMENT ON COLUMN registry.secretariat.phone IS 'Telephone of the office for the contact line (โทร.), if given.';

-- The reminder letters are a step after the commit like the summaries (flows/nightly.py).
COMMENT ON COLUMN ops.runs.failed_steps IS 'For committed_with_errors: the steps after the commit that did not finish, comma-separated (validation_report, summaries, artifact, letters, file_away, publish).';
