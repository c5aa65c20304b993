-- One row per product; `products` is replaced on every load.
select
    sku,
    name as product_name,
    category,
    cast(price as numeric(12, 2)) as price,
    _dlt_id as record_id
from {{ source('raw_shop', 'products') }}
