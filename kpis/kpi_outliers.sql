-- marts.kpi_outliers: one row per flag (data-quality.md §1), for due periods only. The test of
-- every value is marts.kpi_outlier_checks; a flag is a warning, so the value still counts in
-- marts.kpi_scores.
with final as (
    select
        pilot_id,
        kpi_code,
        period,
        fiscal_year,
        quarter,
        actual,
        history_n,
        history_from,
        history_median,
        history_mad,
        z_basis,
        modified_z,
        rule,
        submission_id,
        row_number
    from marts.kpi_outlier_checks
    where rule is not null and due  -- a flag of a period not yet due shows once it is (data-quality.md §1)
)

select * from final
