-- marts.due_periods (helper): pilot × due period, with the quarter's dates and the report due date.
-- A period is due when its quarter overlaps the pilot's dates and has ended on or before the
-- run's as-of date ($as_of, passed by kpis.build). Every other mart starts from this relation,
-- so "which periods get rows" is decided in one place.
with pilots as (
    select
        pilot_id,
        start_date,
        end_date,
        -- agency-report-v1 "Time": 30 days unless the registry says otherwise
        coalesce(report_due_days, 30) as report_due_days,
        marts.fiscal_year_of(start_date) as first_fiscal_year,
        marts.fiscal_year_of(end_date) as last_fiscal_year
    from registry.pilots
),

fiscal_years as (
    select *, unnest(range(first_fiscal_year, last_fiscal_year + 1)) as fiscal_year
    from pilots
),

quarters as (
    select
        f.*,
        q.quarter,
        marts.quarter_start(f.fiscal_year, q.quarter) as period_start,
        marts.quarter_end(f.fiscal_year, q.quarter) as period_end
    from fiscal_years f
    cross join (select unnest(range(1, 5)) as quarter) q
),

final as (
    select
        pilot_id,
        fiscal_year::VARCHAR || '-Q' || quarter::VARCHAR as period,
        fiscal_year::INTEGER as fiscal_year,
        quarter::INTEGER as quarter,
        period_start,
        period_end,
        (period_end + report_due_days)::DATE as due_date
    from quarters
    where period_start <= end_date
      and period_end >= start_date
      and period_end <= $as_of::DATE
)

select * from final
