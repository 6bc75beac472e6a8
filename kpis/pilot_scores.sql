-- marts.pilot_scores: pilot × due period composite (scoring.md §2).
with kpi_totals as (
    select
        pilot_id,
        period,
        count(*) as kpis_expected,
        count(*) filter (where not is_missing) as kpis_reported,
        -- From the rounded scores (missing KPIs count with s = 1), not from the rounded weighted scores.
        sum(score * weight) as weighted_points
    from marts.kpi_scores
    group by pilot_id, period
),

composites as (
    select
        d.pilot_id,
        d.period,
        d.fiscal_year,
        d.quarter,
        -- Empty when no KPI has a value: a composite of only the floor score 1 would mislead.
        case when coalesce(t.kpis_reported, 0) > 0
             then marts.round4_div(t.weighted_points, 100)
        end::DECIMAL(9, 4) as composite_score,
        coalesce(t.kpis_reported, 0)::INTEGER as kpis_reported,
        coalesce(t.kpis_expected, 0)::INTEGER as kpis_expected
    from marts.due_periods d
    left join kpi_totals t on t.pilot_id = d.pilot_id and t.period = d.period
),

closures as (
    -- The open closure of each closed (pilot, period) (data-quality.md §2); reopened ones are over.
    select pilot_id, period, composite_at_closing
    from approval.quarter_closures
    where reopened_at is null
),

final as (
    select
        c.pilot_id,
        c.period,
        c.fiscal_year,
        c.quarter,
        c.composite_score,
        marts.score_band(c.composite_score) as status,  -- banded on the rounded composite; NULL -> no_data
        c.kpis_reported,
        c.kpis_expected,
        k.pilot_id is not null as closed,
        -- Only a closed period can have changed since closing; NULL and NULL are no change.
        coalesce(k.pilot_id is not null and c.composite_score is distinct from k.composite_at_closing,
                 false) as changed_since_closing
    from composites c
    left join closures k on k.pilot_id = c.pilot_id and k.period = c.period
)

select * from final
