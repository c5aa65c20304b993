-- Page views per day and device, from the python source in example_source.py.
select
    cast(viewed_at as date) as day,
    device__type as device_type,
    count(*) as page_views
from {{ source('events', 'page_views') }}
group by 1, 2
