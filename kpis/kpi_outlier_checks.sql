-- marts.kpi_outlier_checks (helper): every accepted lead KPI value tested against its own history
-- (data-quality.md §1), `due` saying whether its period is due. marts.kpi_outliers keeps the
-- flagged rows of due periods; the run's validation report lists the flags its new files raised,
-- whatever their period (an early report is flagged in the report of the night that accepted it:
-- one rule, this SQL, for both); `pilotkpi explain` reads the unflagged rows too ("no flag, z = …").
--
-- This SQL chooses x and H; the arithmetic (m, MAD, MeanAD, z, rule) is outlier_test(x, H), exact
-- fractions in kpis/outliers.py, registered by kpis.build: DuckDB's 38-digit DECIMAL overflows on
-- the large values an agency may send, and one odd value must not stop the night.
with lead_submissions as (
    select s.submission_id
    from ingest.submissions s
    join registry.pilots p on p.pilot_id = s.pilot_id and p.lead_agency_code = s.agency_code
    where s.status = 'accepted'
),

-- The raw quarterly values, also for `sum` KPIs (never the year-to-date sum). A blank value is no
-- value: it is neither tested nor part of a history.
-- Only the pilot's KPIs in today's registry, as marts.kpi_scores scores them (its join on
-- registry.kpis): a KPI the committee removed is neither tested nor flagged in any period, earlier
-- ones too, so no "Figures to confirm" asks about a KPI that has no score. Today's registry governs
-- every due period (docs/registry.md, "Changing the registry of a running pilot"), its lead too:
-- lead_submissions are today's lead's.
lead_values as (
    select
        a.pilot_id, a.kpi_code, a.period, a.fiscal_year, a.quarter, a.actual, a.submission_id, a.row_number,
        a.fiscal_year * 4 + a.quarter as period_index   -- orders periods across fiscal years
    from core.kpi_actuals a
    join lead_submissions s on s.submission_id = a.submission_id
    join registry.kpis k on k.pilot_id = a.pilot_id and k.kpi_code = a.kpi_code
    where a.actual is not null
),

-- Every value is tested, due or not: H does not depend on the as-of date (a later report for an
-- earlier period changes H, and so z, whenever it comes).
tested as (
    select v.*, d.period is not null as due
    from lead_values v
    left join marts.due_periods d on d.pilot_id = v.pilot_id and d.period = v.period
),

-- H: the same (pilot, KPI) in the periods before P, in any fiscal year, the most recent 8 values
-- at most (a period without a value is skipped, not counted).
history as (
    select t.pilot_id, t.kpi_code, t.period, h.period as history_period, h.period_index, h.actual as h
    from tested t
    join lead_values h
      on h.pilot_id = t.pilot_id and h.kpi_code = t.kpi_code and h.period_index < t.period_index
    qualify row_number() over (partition by t.pilot_id, t.kpi_code, t.period order by h.period_index desc) <= 8
),

histories as (
    select
        pilot_id, kpi_code, period,
        count(*) as history_n,
        min(history_period) as history_from,
        list(h order by period_index) as history
    from history
    group by pilot_id, kpi_code, period
),

checked as (
    select
        t.*,
        coalesce(hs.history_n, 0) as history_n,
        hs.history_from,
        outlier_test(t.actual, coalesce(hs.history, []::DECIMAL(38, 10)[])) as test
    from tested t
    left join histories hs on hs.pilot_id = t.pilot_id and hs.kpi_code = t.kpi_code and hs.period = t.period
),

final as (
    select
        pilot_id,
        kpi_code,
        period,
        fiscal_year::INTEGER as fiscal_year,
        quarter::INTEGER as quarter,
        actual,
        history_n::INTEGER as history_n,
        history_from,
        test.history_median,
        test.history_mad,
        test.z_basis,
        test.modified_z,
        test.rule,
        submission_id,
        row_number,
        due
    from checked
)

select * from final
