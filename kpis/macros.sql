-- Macros shared by the mart SQL (kpis/*.sql). Run by kpis.build before the marts, every run.
-- They live in the marts schema, so analysts can use the same definitions in their own queries.

-- Exact integer form of a DECIMAL: x × 10^12 as HUGEINT. Twelve decimals cover every value the
-- marts divide: actuals and thresholds carry 10, thresholds × q/4 carry 12, money carries 2.
-- The whole part and the fraction are scaled apart: x::DECIMAL(38,12) × 10^12 would overflow
-- DECIMAL(38) from |x| = 10^14 (issue 24: a pilot's budget of 10^14 baht stopped the run). Exact
-- up to |x| < 1.7 × 10^26; round4_div below stays exact while |n| and |d| are below 8.5 × 10^21,
-- far above every total validation lets in (a pilot's period total is below 10^16 baht).
CREATE OR REPLACE MACRO marts.scaled12(x) AS
    trunc(x)::HUGEINT * 1000000000000 + ((x - trunc(x))::DECIMAL(38, 12) * 1000000000000)::HUGEINT;

-- n / d rounded half away from zero to 4 decimals, exactly, as DECIMAL(38,4); NULL when d is 0
-- (an empty ratio) or either side is NULL.
-- Why not round(n / d, 4): DECIMAL / DECIMAL yields DOUBLE in DuckDB, and binary floating point
-- rounds some half-way cases down (2 + 0.0013/2 = 2.00065 gives 2.0006 instead of 2.0007).
-- Here both sides become integers at the same scale, so n/d = N/D, and
-- round_half_away(|N|/|D| × 10^4) = floor((2·|N|·10^4 + |D|) / (2·|D|)), which HUGEINT // computes exactly.
CREATE OR REPLACE MACRO marts.round4_div(n, d) AS
    CASE WHEN d = 0 THEN NULL
         ELSE (sign(marts.scaled12(n)) * sign(marts.scaled12(d))
               * ((abs(marts.scaled12(n)) * 20000 + abs(marts.scaled12(d))) // (2 * abs(marts.scaled12(d)))))
              ::DECIMAL(38, 0) * 0.0001
    END;

-- Status band of a (rounded) score or composite (scoring.md §1.5, §2); NULL means nothing to score.
CREATE OR REPLACE MACRO marts.score_band(s) AS
    CASE WHEN s IS NULL THEN 'no_data'
         WHEN s >= 3 THEN 'on_target'
         WHEN s >= 2 THEN 'at_risk'
         ELSE 'off_track'
    END;

-- Thai fiscal year (BE) holding CE date d: FY 2548 runs from 1 Oct 2004 to 30 Sep 2005.
CREATE OR REPLACE MACRO marts.fiscal_year_of(d) AS
    year(d) + 543 + CASE WHEN month(d) >= 10 THEN 1 ELSE 0 END;

-- First and last day (CE) of quarter q of fiscal year fy: Q1 Oct–Dec, Q2 Jan–Mar, Q3 Apr–Jun, Q4 Jul–Sep.
CREATE OR REPLACE MACRO marts.quarter_start(fy, q) AS
    (make_date(fy - 544, 10, 1) + to_months(3 * (q - 1)))::DATE;
CREATE OR REPLACE MACRO marts.quarter_end(fy, q) AS
    (marts.quarter_start(fy, q) + to_months(3) - to_days(1))::DATE;
