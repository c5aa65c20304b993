-- One row per customer: what they bought (cancelled orders left out) and how
-- often they visited the site. Joins both pg_assets sources: `raw_shop` (files)
-- and `events` (Python).
with

orders as (
    select * from {{ ref('stg_shop__orders') }}
    where status <> 'cancelled'
),

order_totals as (
    select
        order_id,
        sum(quantity) as items,
        sum(line_amount) as amount
    from {{ ref('stg_shop__order_items') }}
    group by order_id
),

purchases as (
    select
        orders.customer_id,
        count(*) as order_count,
        sum(order_totals.items) as items_bought,
        sum(order_totals.amount) as revenue,
        min(orders.ordered_at) as first_order_at,
        max(orders.ordered_at) as last_order_at
    from orders
    left join order_totals using (order_id)
    group by orders.customer_id
),

visits as (
    select
        customer_id,
        count(*) as page_views,
        max(viewed_at) as last_viewed_at
    from {{ ref('stg_events__page_views') }}
    where customer_id is not null
    group by customer_id
)

select
    customers.customer_id,
    customers.customer_name,
    customers.country,
    customers.signed_up_at,
    coalesce(purchases.order_count, 0) as order_count,
    coalesce(purchases.items_bought, 0) as items_bought,
    coalesce(purchases.revenue, 0) as revenue,
    purchases.first_order_at,
    purchases.last_order_at,
    coalesce(visits.page_views, 0) as page_views,
    visits.last_viewed_at
from {{ ref('stg_shop__customers') }} as customers
left join purchases using (customer_id)
left join visits using (customer_id)
