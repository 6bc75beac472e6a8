-- marts.budget_integration_by_layer: pilot × due period × layer, only for layers with lines
-- (scoring.md §3 "Also by layer"). Same sums as marts.budget_integration; lead_share within the layer.
with sums as (
    select
        pilot_id,
        period,
        fiscal_year,
        quarter,
        layer,
        sum(allocated_thb) as total,
        coalesce(sum(allocated_thb) filter (where is_integrated), 0) as integrated,
        coalesce(sum(allocated_thb) filter (where is_lead), 0) as lead_allocated,
        coalesce(sum(allocated_thb) filter (where funding_source = 'support_contribution'), 0) as support,
        sum(disbursed_thb) as disbursed
    from marts.budget_snapshot
    group by pilot_id, period, fiscal_year, quarter, layer
),

final as (
    select
        pilot_id,
        period,
        fiscal_year,
        quarter,
        layer,
        total::DECIMAL(18, 2) as total_allocated_thb,
        integrated::DECIMAL(18, 2) as integrated_thb,
        (total - integrated)::DECIMAL(18, 2) as fragmented_thb,
        marts.round4_div(integrated, total)::DECIMAL(9, 4) as integration_ratio,  -- empty when the layer's total is 0
        marts.round4_div(lead_allocated, total)::DECIMAL(9, 4) as lead_share,
        support::DECIMAL(18, 2) as support_thb,
        disbursed::DECIMAL(18, 2) as disbursed_thb,
        marts.round4_div(disbursed, total)::DECIMAL(9, 4) as disbursement_rate
    from sums
)

select * from final
