-- marts.budget_integration: pilot × due period budget integration figures (scoring.md §3).
-- Every due period gets a row: with no lines, sums are 0.00, counts 0, ratios empty.
with sums as (
    select
        pilot_id,
        period,
        sum(allocated_thb) as total_allocated,
        coalesce(sum(allocated_thb) filter (where is_integrated), 0) as integrated,
        coalesce(sum(allocated_thb) filter (where is_lead), 0) as lead_allocated,
        coalesce(sum(allocated_thb) filter (where funding_source = 'support_contribution'), 0) as support,
        sum(disbursed_thb) as disbursed,
        count(distinct agency_code) as agencies_reporting
    from marts.budget_snapshot
    group by pilot_id, period
),

overlapping as (
    -- An activity counts when two or more distinct agencies carry it and at least one of those
    -- lines is fragmented; one agency with two funding sources is no overlap. Two distinct
    -- agencies is min <> max (agency_code is never NULL): the same test as
    -- count(distinct agency_code) >= 2, at 0.4 of its cost (a distinct count keeps a set per group).
    select pilot_id, period, count(*) as overlapping_activities
    from (
        select pilot_id, period, activity_code
        from marts.budget_snapshot
        group by pilot_id, period, activity_code
        having min(agency_code) <> max(agency_code) and bool_or(not is_integrated)
    )
    group by pilot_id, period
),

expected as (
    select pilot_id, count(*) as agencies_expected
    from registry.pilot_agencies
    where role in ('lead', 'secondary', 'supporting')  -- advisory agencies send no budget
    group by pilot_id
),

figures as (
    select
        d.pilot_id,
        d.period,
        d.fiscal_year,
        d.quarter,
        coalesce(s.total_allocated, 0) as total,
        coalesce(s.integrated, 0) as integrated,
        coalesce(s.lead_allocated, 0) as lead_allocated,
        coalesce(s.support, 0) as support,
        coalesce(s.disbursed, 0) as disbursed,
        coalesce(o.overlapping_activities, 0) as overlapping_activities,
        coalesce(s.agencies_reporting, 0) as agencies_reporting,
        coalesce(e.agencies_expected, 0) as agencies_expected
    from marts.due_periods d
    left join sums s on s.pilot_id = d.pilot_id and s.period = d.period
    left join overlapping o on o.pilot_id = d.pilot_id and o.period = d.period
    left join expected e on e.pilot_id = d.pilot_id
),

final as (
    select
        pilot_id,
        period,
        fiscal_year,
        quarter,
        total::DECIMAL(18, 2) as total_allocated_thb,
        integrated::DECIMAL(18, 2) as integrated_thb,
        (total - integrated)::DECIMAL(18, 2) as fragmented_thb,
        -- round4_div gives NULL for a zero total: the ratios are empty, not 0.
        marts.round4_div(integrated, total)::DECIMAL(9, 4) as integration_ratio,
        marts.round4_div(lead_allocated, total)::DECIMAL(9, 4) as lead_share,
        support::DECIMAL(18, 2) as support_thb,
        disbursed::DECIMAL(18, 2) as disbursed_thb,
        marts.round4_div(disbursed, total)::DECIMAL(9, 4) as disbursement_rate,
        overlapping_activities::INTEGER as overlapping_activities,
        agencies_reporting::INTEGER as agencies_reporting,
        agencies_expected::INTEGER as agencies_expected
    from figures
)

select * from final
