-- One row per page view. `customer_id` is empty for anonymous visitors.
select
    cast(id as bigint) as page_view_id,
    cast(customer_id as bigint) as customer_id,
    url,
    cast(viewed_at as timestamptz) as viewed_at,
    referrer,
    device__type as device_type,
    device__os as device_os
from {{ source('events', 'page_views') }}
