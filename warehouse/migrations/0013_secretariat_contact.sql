-- 0012: what a Thai external official letter (หนังสือราชการภายนอก) needs beyond the sending office
-- (issue 23): the signer's name and position, the division that owns the matter, fax and e-mail.
-- All from the optional keys of secretariat.yaml (pilots/registry.py); NULL where not given.
ALTER TABLE registry.secretariat ADD COLUMN signer_name_th VARCHAR;
ALTER TABLE registry.secretariat ADD COLUMN signer_name_en VARCHAR;
ALTER TABLE registry.secretariat ADD COLUMN signer_position_th VARCHAR;
ALTER TABLE registry.secretariat ADD COLUMN signer_position_en VARCHAR;
ALTER TABLE registry.secretariat ADD COLUMN division_th VARCHAR;
ALTER TABLE registry.secretariat ADD COLUMN division_en VARCHAR;
ALTER TABLE registry.secretariat ADD COLUMN fax VARCHAR;
ALTER TABLE registry.secretariat ADD COLUMN email VARCHAR;

COMMENT ON COLUMN registry.secretariat.signer_name_th IS 'The signer''s full name in Thai, shown in brackets under the signature (ลงชื่อ), if given.';
COMMENT ON COLUMN registry.secretariat.signer_name_en IS 'The signer''s full name in English, under the signature, if given.';
COMMENT ON COLUMN registry.secretariat.signer_position_th IS 'The signer''s position (ตำแหน่ง) in Thai, written in full with the department it belongs to, if given.';
COMMENT ON COLUMN registry.secretariat.signer_position_en IS 'The signer''s position in English, with its department, if given.';
COMMENT ON COLUMN registry.secretariat.division_th IS 'The division that owns the matter (ส่วนราชการเจ้าของเรื่อง: a กอง or สำนัก) in Thai, if given; NULL: the sending office itself.';
COMMENT ON COLUMN registry.secretariat.division_en IS 'The division that owns the matter in English, if given.';
COMMENT ON COLUMN registry.secretariat.fax IS 'Fax number of the division for the contact lines (โทรสาร), if given.';
COMMENT ON COLUMN registry.secretariat.email IS 'E-mail address of the division for the contact lines (ไปรษณีย์อิเล็กทรอนิกส์), if given.';
