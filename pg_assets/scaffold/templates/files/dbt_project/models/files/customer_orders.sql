-- One row per customer of data/customers.csv, with what they ordered (data/orders/).
select
    cast(c.id as bigint) as customer_id,
    c.name as customer_name,
    c.country,
    count(o.id) as orders,
    min(o.ordered_at) as first_ordered_at
from {{ source('raw_shop', 'customers') }} as c
left join {{ source('raw_shop', 'orders') }} as o on o.customer_id = c.id
group by 1, 2, 3
