-- marts.reporting_compliance: pilot × expected agency × due period (scoring.md §4).
with expected as (
    -- Advisory agencies are not expected to report. The agencies and roles are today's registry's,
    -- for every due period: one added to a running pilot is expected for the quarters before it
    -- joined too, and one removed is expected for none (docs/registry.md, "Changing the registry of
    -- a running pilot"; the committee sets no_reminders_until on a new entry to hold its letters).
    select d.pilot_id, pa.agency_code, pa.role, d.period, d.fiscal_year, d.quarter, d.due_date
    from marts.due_periods d
    join registry.pilot_agencies pa on pa.pilot_id = d.pilot_id
    where pa.role in ('lead', 'secondary', 'supporting')
),

versions as (
    -- Accepted and superseded files are all versions of the report; the earliest one sets
    -- first_submitted_on, so a later correction never makes an on-time report late. A file held
    -- for a closed quarter counts like an accepted one (data-quality.md §2), and still does once
    -- rejected: rejecting it changes nothing else, and the agency did report.
    select pilot_id, agency_code, period, count(*) as versions, min(submitted_on) as first_submitted_on
    from ingest.submissions
    where status in ('accepted', 'superseded', 'held', 'rejected')
    group by pilot_id, agency_code, period
),

quarantined as (
    -- Ingest stores each of a quarantined file's pilot, agency and period only where the normaliser
    -- read it (first data row; JSON: top-level fields), else NULL, so the file matches a row exactly
    -- when all three were read. Duplicates have no identity and count nowhere.
    select pilot_id, agency_code, period, count(*) as quarantined
    from ingest.submissions
    where status = 'quarantined'
    group by pilot_id, agency_code, period
),

final as (
    select
        e.pilot_id,
        e.agency_code,
        e.role,
        e.period,
        e.fiscal_year,
        e.quarter,
        v.versions is not null as submitted,
        v.first_submitted_on,
        e.due_date,
        coalesce(v.first_submitted_on <= e.due_date, false) as on_time,  -- not submitted: false
        case when v.first_submitted_on is not null
             then greatest(v.first_submitted_on - e.due_date, 0)
        end::INTEGER as days_late,
        coalesce(v.versions, 0)::INTEGER as versions,
        coalesce(q.quarantined, 0)::INTEGER as quarantined
    from expected e
    left join versions v on v.pilot_id = e.pilot_id and v.agency_code = e.agency_code and v.period = e.period
    left join quarantined q on q.pilot_id = e.pilot_id and q.agency_code = e.agency_code and q.period = e.period
)

select * from final
