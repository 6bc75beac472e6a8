-- 0001: the relations of shared/spec/warehouse.md that hold state (registry, ingest, core, ops).
-- Marts are rebuilt every run (kpis/) and are not migrated.
CREATE SCHEMA IF NOT EXISTS registry;
CREATE SCHEMA IF NOT EXISTS ingest;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE registry.agencies (
    agency_code VARCHAR PRIMARY KEY,
    name_th     VARCHAR NOT NULL,
    name_en     VARCHAR NOT NULL,
    ministry    VARCHAR
);

CREATE TABLE registry.pilots (
    pilot_id         VARCHAR PRIMARY KEY,
    name_th          VARCHAR NOT NULL,
    name_en          VARCHAR NOT NULL,
    layer            INTEGER NOT NULL,
    strategies       INTEGER[] NOT NULL,
    classification   VARCHAR NOT NULL,
    start_date       DATE NOT NULL,
    end_date         DATE NOT NULL,
    lead_agency_code VARCHAR NOT NULL,
    report_due_days  INTEGER NOT NULL
);

CREATE TABLE registry.pilot_agencies (
    pilot_id    VARCHAR NOT NULL,
    agency_code VARCHAR NOT NULL,
    role        VARCHAR NOT NULL,
    PRIMARY KEY (pilot_id, agency_code)
);

CREATE TABLE registry.kpis (
    pilot_id    VARCHAR NOT NULL,
    kpi_code    VARCHAR NOT NULL,
    name_th     VARCHAR NOT NULL,
    name_en     VARCHAR NOT NULL,
    unit        VARCHAR NOT NULL,
    direction   VARCHAR NOT NULL,
    aggregation VARCHAR NOT NULL,
    weight      DECIMAL(9,4) NOT NULL,
    PRIMARY KEY (pilot_id, kpi_code)
);

CREATE TABLE registry.kpi_thresholds (
    pilot_id    VARCHAR NOT NULL,
    kpi_code    VARCHAR NOT NULL,
    fiscal_year INTEGER NOT NULL,
    t1 DECIMAL(38,10) NOT NULL,
    t2 DECIMAL(38,10) NOT NULL,
    t3 DECIMAL(38,10) NOT NULL,
    t4 DECIMAL(38,10) NOT NULL,
    t5 DECIMAL(38,10) NOT NULL,
    PRIMARY KEY (pilot_id, kpi_code, fiscal_year)
);

CREATE TABLE ingest.submissions (
    submission_id BIGINT PRIMARY KEY,
    sha256        VARCHAR NOT NULL,
    file_name     VARCHAR NOT NULL,
    format        VARCHAR,
    encoding      VARCHAR,
    size_bytes    BIGINT NOT NULL,
    received_at   TIMESTAMP NOT NULL,
    run_id        VARCHAR NOT NULL,
    pilot_id      VARCHAR,
    agency_code   VARCHAR,
    period        VARCHAR,
    submitted_on  DATE,
    status        VARCHAR NOT NULL,
    superseded_by BIGINT,
    duplicate_of  BIGINT,
    error_count   INTEGER NOT NULL,
    warning_count INTEGER NOT NULL
);

CREATE TABLE ingest.issues (
    submission_id BIGINT NOT NULL,
    row_number    INTEGER,
    column_name   VARCHAR,
    code          VARCHAR NOT NULL,
    severity      VARCHAR NOT NULL,
    message_en    VARCHAR NOT NULL,
    message_th    VARCHAR NOT NULL
);

CREATE TABLE core.kpi_actuals (
    pilot_id      VARCHAR NOT NULL,
    agency_code   VARCHAR NOT NULL,
    kpi_code      VARCHAR NOT NULL,
    period        VARCHAR NOT NULL,
    fiscal_year   INTEGER NOT NULL,
    quarter       INTEGER NOT NULL,
    actual        DECIMAL(38,10),
    note          VARCHAR,
    submission_id BIGINT NOT NULL,
    row_number    INTEGER NOT NULL
);

CREATE TABLE core.budget_lines (
    pilot_id       VARCHAR NOT NULL,
    agency_code    VARCHAR NOT NULL,
    period         VARCHAR NOT NULL,
    fiscal_year    INTEGER NOT NULL,
    quarter        INTEGER NOT NULL,
    activity_code  VARCHAR NOT NULL,
    layer          INTEGER NOT NULL,
    funding_source VARCHAR NOT NULL,
    allocated_thb  DECIMAL(18,2) NOT NULL,
    disbursed_thb  DECIMAL(18,2) NOT NULL,
    note           VARCHAR,
    submission_id  BIGINT NOT NULL,
    row_number     INTEGER NOT NULL
);

CREATE TABLE ops.runs (
    run_id           VARCHAR PRIMARY KEY,
    started_at       TIMESTAMP NOT NULL,
    finished_at      TIMESTAMP,
    as_of            DATE NOT NULL,
    status           VARCHAR NOT NULL,
    files_seen       INTEGER NOT NULL DEFAULT 0,
    accepted         INTEGER NOT NULL DEFAULT 0,
    superseded       INTEGER NOT NULL DEFAULT 0,
    quarantined      INTEGER NOT NULL DEFAULT 0,
    duplicates       INTEGER NOT NULL DEFAULT 0,
    registry_sha256  VARCHAR,
    software_version VARCHAR,
    error            VARCHAR
);
