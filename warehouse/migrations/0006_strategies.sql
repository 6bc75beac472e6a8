-- 0006: the names of the public-sector development strategies, from the registry's optional
-- strategies.yaml, so that summaries rendered from a warehouse (pilotkpi report) name them too.
CREATE TABLE registry.strategies (
    number  INTEGER PRIMARY KEY,
    name_th VARCHAR NOT NULL,
    name_en VARCHAR NOT NULL
);

COMMENT ON TABLE registry.strategies IS 'Names of the public-sector development strategies 1-7 that pilots serve, from the registry''s optional strategies.yaml (rewritten every run; empty without it). [grain: strategy; keys: number; joins: none]';
COMMENT ON COLUMN registry.strategies.number IS 'Strategy number 1-7, as listed in registry.pilots.strategies (list_contains(p.strategies, s.number)).';
COMMENT ON COLUMN registry.strategies.name_th IS 'Strategy name in Thai.';
COMMENT ON COLUMN registry.strategies.name_en IS 'Strategy name in English.';
