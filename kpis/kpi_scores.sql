-- marts.kpi_scores: pilot × KPI × due period, scored as in scoring.md §1 and "Readings in detail".
with due as (
    select pilot_id, period, fiscal_year, quarter from marts.due_periods
),

-- Only the lead agency's accepted submissions carry KPI values (superseded, duplicate and
-- quarantined files never count). Ingest keeps at most one accepted file per (pilot, agency, period).
-- The lead and the KPIs are today's registry's, for every due period: after a change of lead the
-- earlier quarters are scored from the new lead's reports (no_data where it sent none), and a
-- removed KPI has no row in any period (docs/registry.md, "Changing the registry of a running
-- pilot"; a job warns of a new lead: warehouse/registry_check.lead_changes).
lead_submissions as (
    select s.submission_id, s.pilot_id, s.period
    from ingest.submissions s
    join registry.pilots p on p.pilot_id = s.pilot_id and p.lead_agency_code = s.agency_code
    where s.status = 'accepted'
),

lead_actuals as (
    select a.pilot_id, a.kpi_code, a.fiscal_year, a.quarter, a.actual, a.row_number
    from core.kpi_actuals a
    join lead_submissions s on s.submission_id = a.submission_id
    where a.actual is not null  -- "a quarter with no value adds nothing"
),

-- Year to date for `sum` KPIs: quarters 1..q of the same fiscal year.
year_to_date as (
    select d.pilot_id, d.period, a.kpi_code, sum(a.actual) as actual
    from due d
    join lead_actuals a
      on a.pilot_id = d.pilot_id and a.fiscal_year = d.fiscal_year and a.quarter <= d.quarter
    group by d.pilot_id, d.period, a.kpi_code
),

kpi_periods as (
    select
        d.pilot_id, k.kpi_code, d.period, d.fiscal_year, d.quarter,
        k.direction, k.aggregation, k.weight,
        -- Share of the year elapsed for `sum` KPIs (q/4, exact as DECIMAL); `last` KPIs keep their thresholds.
        case when k.aggregation = 'sum' then (d.quarter * 0.25) else 1 end::DECIMAL(4, 2) as share,
        ls.submission_id,
        this_q.actual as period_actual,
        this_q.row_number as source_row,
        ytd.actual as ytd_actual
    from due d
    join registry.kpis k on k.pilot_id = d.pilot_id
    left join lead_submissions ls on ls.pilot_id = d.pilot_id and ls.period = d.period
    left join lead_actuals this_q
      on this_q.pilot_id = d.pilot_id and this_q.kpi_code = k.kpi_code
     and this_q.fiscal_year = d.fiscal_year and this_q.quarter = d.quarter
    left join year_to_date ytd on ytd.pilot_id = d.pilot_id and ytd.period = d.period and ytd.kpi_code = k.kpi_code
),

applied as (
    select
        kp.*,
        -- Missing when the period itself has no value, even if a `sum` KPI had values earlier.
        case when kp.period_actual is null then null
             when kp.aggregation = 'sum' then kp.ytd_actual
             else kp.period_actual
        end::DECIMAL(38, 10) as actual,
        -- Thresholds as applied, unrounded: DECIMAL × DECIMAL is exact. The registry holds thresholds
        -- for every fiscal year a pilot's dates touch; were one missing, t1..t5 and score would be NULL.
        (th.t1 * kp.share)::DECIMAL(38, 12) as t1,
        (th.t2 * kp.share)::DECIMAL(38, 12) as t2,
        (th.t3 * kp.share)::DECIMAL(38, 12) as t3,
        (th.t4 * kp.share)::DECIMAL(38, 12) as t4,
        (th.t5 * kp.share)::DECIMAL(38, 12) as t5
    from kpi_periods kp
    left join registry.kpi_thresholds th
      on th.pilot_id = kp.pilot_id and th.kpi_code = kp.kpi_code and th.fiscal_year = kp.fiscal_year
),

-- A `lower` KPI scored on negated values is exactly the `higher` rule:
-- k + (−a − (−t_k)) / (−t_{k+1} − (−t_k)) = k + (t_k − a) / (t_k − t_{k+1}).
oriented as (
    select
        *,
        case when direction = 'lower' then -1 else 1 end as sign_
    from applied
),

oriented_values as (
    select
        *,
        sign_ * actual as x, sign_ * t1 as u1, sign_ * t2 as u2, sign_ * t3 as u3, sign_ * t4 as u4, sign_ * t5 as u5
    from oriented
),

scored as (
    select
        *,
        actual is null as is_missing,
        -- k + round4(fraction) = round4(k + fraction) since k is whole; the fraction is ≥ 0.
        case
            when actual is null then 1            -- silence never raises a score
            when x <= u1 then 1
            when x >= u5 then 5
            when x >= u4 then 4 + marts.round4_div(x - u4, u5 - u4)
            when x >= u3 then 3 + marts.round4_div(x - u3, u4 - u3)
            when x >= u2 then 2 + marts.round4_div(x - u2, u3 - u2)
            else 1 + marts.round4_div(x - u1, u2 - u1)
        end::DECIMAL(9, 4) as score
    from oriented_values
),

final as (
    select
        pilot_id,
        kpi_code,
        period,
        fiscal_year,
        quarter,
        actual,
        t1, t2, t3, t4, t5,
        score,
        marts.round4_div(score * weight, 100)::DECIMAL(9, 4) as weighted_score,
        is_missing,
        case when is_missing then 'no_data' else marts.score_band(score) end as status,
        weight,
        submission_id,
        -- Lineage: the row of that submission holding this period's value (NULL when missing).
        source_row as row_number
    from scored
)

select * from final
