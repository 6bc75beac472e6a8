-- marts.reminders: overdue pilot × agency × period (follow-up.md), the rows of the reminder letters.
with overdue as (
    -- Reporting compliance already knows who is expected (lead, secondary, supporting: advisory
    -- agencies are not), who submitted (accepted or superseded) and how many files were
    -- quarantined for the exact key. Overdue: not submitted and as_of > due_date (a report due
    -- today is not overdue yet).
    select
        c.agency_code, c.pilot_id, c.role, c.period, c.fiscal_year, c.quarter, c.due_date, c.quarantined,
        ($as_of::DATE - c.due_date)::INTEGER as days_overdue
    from marts.reporting_compliance c
    where not c.submitted
      and $as_of::DATE > c.due_date
),

not_extended as (
    -- An agreed extension: no reminder for the (pilot, agency) while as_of <= no_reminders_until.
    select o.*
    from overdue o
    join registry.pilot_agencies pa on pa.pilot_id = o.pilot_id and pa.agency_code = o.agency_code
    where pa.no_reminders_until is null or $as_of::DATE > pa.no_reminders_until
),

latest_quarantined as (
    -- The file the letter names: the last quarantined one received for the key (submission ids
    -- grow with receipt). A file whose pilot, agency or period could not be read has NULL there
    -- and matches no key (scoring.md §6), like the compliance count.
    select pilot_id, agency_code, period, max(submission_id) as submission_id
    from ingest.submissions
    where status = 'quarantined'
    group by pilot_id, agency_code, period
),

final as (
    -- follow-up.md's per-report columns (issue 23 moved reminders.csv to one row per letter, so
    -- this mart is where they live): the agency's names, the pilot's names and the latest
    -- quarantined file's name as received (agency text: shown escaped wherever it is shown). A
    -- restricted pilot's row carries no pilot name and no file name (NULL, not ''): follow-up.md
    -- leaves its name empty, and warehouse.md keeps its file names out of the open warehouse,
    -- which takes this row from the restricted store (warehouse/restricted.merge_mart blanks
    -- them again on the way).
    -- The names and the file come last: the earlier columns keep their places (a query or test
    -- reading rows by position).
    select
        n.agency_code,
        n.pilot_id,
        n.role,
        n.period,
        n.fiscal_year,
        n.quarter,
        n.due_date,
        n.days_overdue,
        case when n.days_overdue < 30 then 1
             when n.days_overdue < 60 then 2
             else 3
        end::INTEGER as level,
        case when n.quarantined > 0 then 'rejected_file' else 'missing' end as reason,
        n.quarantined,
        q.submission_id as latest_quarantined_submission_id,
        a.name_th as agency_name_th,
        a.name_en as agency_name_en,
        -- (A pilot without a registry row, which compliance never gives, would show neither.)
        case when p.classification = 'open' then p.name_th end as pilot_name_th,
        case when p.classification = 'open' then p.name_en end as pilot_name_en,
        case when p.classification = 'open' then s.file_name end as latest_quarantined_file
    from not_extended n
    left join latest_quarantined q
      on q.pilot_id = n.pilot_id and q.agency_code = n.agency_code and q.period = n.period
    left join ingest.submissions s on s.submission_id = q.submission_id
    left join registry.pilots p on p.pilot_id = n.pilot_id
    left join registry.agencies a on a.agency_code = n.agency_code
)

select * from final
