-- One row per order line, from the child table `orders__items` that the loader
-- made of each order's `items` list. A child row knows its parent only by
-- `_dlt_parent_id` (the order's `_dlt_id`); the join brings the order id.
select
    items._dlt_id as order_item_id,
    cast(orders.id as bigint) as order_id,
    items._dlt_list_idx as line_number,
    items.sku,
    cast(items.quantity as integer) as quantity,
    cast(items.unit_price as numeric(12, 2)) as unit_price,
    cast(items.quantity * items.unit_price as numeric(12, 2)) as line_amount
from {{ source('raw_shop', 'orders__items') }} as items
join {{ source('raw_shop', 'orders') }} as orders
    on orders._dlt_id = items._dlt_parent_id
