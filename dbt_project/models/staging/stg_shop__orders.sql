-- One row per order. The nested `shipping` object was flattened by the loader
-- into `shipping__city` and `shipping__country`.
select
    cast(id as bigint) as order_id,
    cast(customer_id as bigint) as customer_id,
    cast(ordered_at as timestamptz) as ordered_at,
    status,
    shipping__city as shipping_city,
    shipping__country as shipping_country,
    _dlt_id as record_id,
    _dlt_load_id as load_id
from {{ source('raw_shop', 'orders') }}
