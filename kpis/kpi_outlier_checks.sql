-- marts.kpi_outlier_checks (helper): every accepted lead KPI value of a due period tested against
-- its own history (data-quality.md §1). marts.kpi_outliers keeps the flagged rows; `pilotkpi
-- explain` reads the others too ("not flagged, z = …").
--
-- Exact arithmetic throughout: actuals are DECIMAL(38,10), so a median (the mean of two middle
-- values at most) is exact at scale 11 and a MAD (the same, of scale-11 deviations) at scale 12.
-- z is kept as an exact fraction z_num / z_den of DECIMALs with at most 12 decimals, compared with
-- 3.5 by cross-multiplying, and rounded by marts.round4_div (half away from zero, exact).
with lead_submissions as (
    select s.submission_id
    from ingest.submissions s
    join registry.pilots p on p.pilot_id = s.pilot_id and p.lead_agency_code = s.agency_code
    where s.status = 'accepted'
),

-- The raw quarterly values, also for `sum` KPIs (never the year-to-date sum). A blank value is no
-- value: it is neither tested nor part of a history.
lead_values as (
    select
        a.pilot_id, a.kpi_code, a.period, a.fiscal_year, a.quarter, a.actual, a.submission_id, a.row_number,
        a.fiscal_year * 4 + a.quarter as period_index   -- orders periods across fiscal years
    from core.kpi_actuals a
    join lead_submissions s on s.submission_id = a.submission_id
    where a.actual is not null
),

tested as (
    select v.*
    from lead_values v
    join marts.due_periods d on d.pilot_id = v.pilot_id and d.period = v.period
),

-- H: the same (pilot, KPI) in the periods before P, in any fiscal year, the most recent 8 at most.
history as (
    select
        t.pilot_id, t.kpi_code, t.period, h.period as history_period, h.actual as h
    from tested t
    join lead_values h
      on h.pilot_id = t.pilot_id and h.kpi_code = t.kpi_code and h.period_index < t.period_index
    qualify row_number() over (partition by t.pilot_id, t.kpi_code, t.period order by h.period_index desc) <= 8
),

history_ranked as (
    select
        *,
        count(*) over w as n,
        row_number() over (w order by h) as rank_h
    from history
    window w as (partition by pilot_id, kpi_code, period)
),

-- m = median(H): the middle value, or the mean of the two middle values of an even count
-- (ranks (n+1)//2 and n//2+1 coincide for an odd n). × 0.5 keeps DECIMAL exact; a DuckDB median()
-- of DECIMAL(38,10) would round the mean back to 10 decimals.
medians as (
    select
        pilot_id, kpi_code, period,
        any_value(n)::INTEGER as history_n,
        min(history_period) as history_from,
        (sum(h) filter (where rank_h in ((n + 1) // 2, n // 2 + 1))
         * case when any_value(n) % 2 = 0 then 0.5 else 1.0 end)::DECIMAL(38, 11) as m
    from history_ranked
    group by pilot_id, kpi_code, period
),

deviations as (
    select
        h.pilot_id, h.kpi_code, h.period, m.history_n as n,
        abs(h.h - m.m)::DECIMAL(38, 11) as dev,
        row_number() over (partition by h.pilot_id, h.kpi_code, h.period order by abs(h.h - m.m)) as rank_d
    from history h
    join medians m on m.pilot_id = h.pilot_id and m.kpi_code = h.kpi_code and m.period = h.period
),

-- MAD = median(|h − m|), and Σ|h − m| (MeanAD = Σ / n is kept as that fraction: ÷ 6 or ÷ 7 would not be exact).
spreads as (
    select
        pilot_id, kpi_code, period,
        (sum(dev) filter (where rank_d in ((n + 1) // 2, n // 2 + 1))
         * case when any_value(n) % 2 = 0 then 0.5 else 1.0 end)::DECIMAL(38, 12) as mad,
        sum(dev)::DECIMAL(38, 11) as abs_dev_sum
    from deviations
    group by pilot_id, kpi_code, period
),

with_history as (
    select
        t.pilot_id, t.kpi_code, t.period, t.fiscal_year, t.quarter, t.actual, t.submission_id, t.row_number,
        coalesce(m.history_n, 0) as history_n,
        m.history_from,
        m.m,
        s.mad,
        s.abs_dev_sum,
        -- Fewer than 4 values in H: no test at all (no median or z either).
        case when coalesce(m.history_n, 0) < 4 then null
             when s.mad > 0 then 'mad'
             when s.abs_dev_sum > 0 then 'mean_ad'
             else 'flat'
        end as z_basis
    from tested t
    left join medians m on m.pilot_id = t.pilot_id and m.kpi_code = t.kpi_code and m.period = t.period
    left join spreads s on s.pilot_id = t.pilot_id and s.kpi_code = t.kpi_code and s.period = t.period
),

-- z = z_num / z_den, both exact:
--   MAD > 0:  0.6745 × (x − m) / MAD                = 6745 × (x − m) / (10000 × MAD)
--   MeanAD:   (x − m) / (1.253314 × Σ|h − m| / n)   = 1000000 × n × (x − m) / (1253314 × Σ|h − m|)
fractions as (
    select
        *,
        case z_basis when 'mad' then 6745 * (actual - m)
                     when 'mean_ad' then 1000000 * history_n * (actual - m)
        end as z_num,
        case z_basis when 'mad' then 10000 * mad
                     when 'mean_ad' then 1253314 * abs_dev_sum
        end as z_den
    from with_history
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
        case when z_basis is not null then m end::DECIMAL(38, 12) as history_median,
        case when z_basis is not null then mad end::DECIMAL(38, 12) as history_mad,
        z_basis,
        marts.round4_div(z_num, z_den)::DECIMAL(38, 4) as modified_z,
        -- |z| > 3.5 on the unrounded z: |z_num| × 2 > |z_den| × 7 (z_den > 0).
        case when z_basis in ('mad', 'mean_ad') and abs(z_num) * 2 > z_den * 7 then 'modified_z'
             when z_basis = 'flat' and actual <> m then 'changed_after_flat'
        end as rule,
        submission_id,
        row_number
    from fractions
)

select * from final
