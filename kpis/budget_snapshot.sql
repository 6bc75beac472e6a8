-- marts.budget_snapshot (helper): the budget lines in effect for each pilot × due period
-- (scoring.md §3 and "Budget snapshot"). Both budget marts aggregate this one relation.
--
-- Today's registry governs every due period (docs/registry.md, "Changing the registry of a running
-- pilot"): scoring.md §3 takes the lines "for each agency" of pilot p, and the agencies of p are
-- those the registry names for it now, in a role that sends budget lines (lead, secondary or
-- supporting: the agencies_expected of marts.budget_integration). Validation quarantines a budget
-- line of an advisory agency (BUDGET_FROM_ADVISORY) and any report of an agency that is not the
-- pilot's (AGENCY_NOT_PARTICIPANT); so an agency removed from the pilot, or made advisory, after
-- its report was accepted counts no more, in any period, earlier ones too, like an agency that
-- had never been accepted. Put back in a counting role, its accepted reports count again. Its
-- lines keep the funding source they were accepted with (a support_contribution line of an
-- agency that is now secondary stays integrated), and is_lead / is_integrated follow today's lead.
with participants as (
    select pilot_id, agency_code
    from registry.pilot_agencies
    where role in ('lead', 'secondary', 'supporting')
),

budget_reports as (
    -- Accepted submissions that carry budget lines, of the pilot's agencies today. A KPI-only
    -- report has no line here, so it cannot become an agency's "latest" report and erase the
    -- budget it reported before.
    select distinct b.pilot_id, b.agency_code, b.fiscal_year, b.quarter, b.submission_id
    from core.budget_lines b
    join ingest.submissions s on s.submission_id = b.submission_id
    join participants pa on pa.pilot_id = b.pilot_id and pa.agency_code = b.agency_code
    where s.status = 'accepted'
),

latest_reports as (
    -- Per agency, its latest such report of the fiscal year with quarter <= q: allocations are
    -- restated and disbursements are year to date, so the latest report replaces earlier ones.
    select d.pilot_id, d.period, d.fiscal_year, d.quarter, r.agency_code, r.submission_id
    from marts.due_periods d
    join budget_reports r
      on r.pilot_id = d.pilot_id and r.fiscal_year = d.fiscal_year and r.quarter <= d.quarter
    qualify row_number() over (
        partition by d.pilot_id, d.period, r.agency_code order by r.quarter desc, r.submission_id desc) = 1
),

final as (
    select
        l.pilot_id,
        l.period,
        l.fiscal_year,
        l.quarter,
        b.agency_code,
        b.activity_code,
        b.layer,
        b.funding_source,
        b.allocated_thb,
        b.disbursed_thb,
        b.agency_code = p.lead_agency_code as is_lead,
        -- Integrated: sent by the lead, or planned through it; everything else is fragmented.
        (b.agency_code = p.lead_agency_code
            or b.funding_source in ('lead_integrated', 'support_contribution')) as is_integrated,
        b.submission_id
    from latest_reports l
    join core.budget_lines b on b.submission_id = l.submission_id
    join registry.pilots p on p.pilot_id = l.pilot_id
)

select * from final
