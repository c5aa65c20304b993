-- One row per product: units sold and revenue over orders that were not
-- cancelled, with the product's tags.
with

sold as (
    select
        items.sku,
        count(distinct items.order_id) as order_count,
        sum(items.quantity) as units_sold,
        sum(items.line_amount) as revenue
    from {{ ref('stg_shop__order_items') }} as items
    join {{ ref('stg_shop__orders') }} as orders using (order_id)
    where orders.status <> 'cancelled'
    group by items.sku
),

tags as (
    select sku, string_agg(tag, ', ' order by position) as tags
    from {{ ref('stg_shop__product_tags') }}
    group by sku
)

select
    products.sku,
    products.product_name,
    products.category,
    tags.tags,
    coalesce(sold.order_count, 0) as order_count,
    coalesce(sold.units_sold, 0) as units_sold,
    coalesce(sold.revenue, 0) as revenue
from {{ ref('stg_shop__products') }} as products
left join sold using (sku)
left join tags using (sku)
