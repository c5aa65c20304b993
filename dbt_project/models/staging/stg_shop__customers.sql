-- One row per customer. `customers` is loaded with merge on `id`, so it already
-- holds the latest version of each customer.
select
    cast(id as bigint) as customer_id,
    name as customer_name,
    lower(email) as email,
    country,
    cast(signed_up_at as timestamptz) as signed_up_at,
    notes,
    _dlt_id as record_id,
    _dlt_load_id as load_id
from {{ source('raw_shop', 'customers') }}
