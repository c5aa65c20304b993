-- Accounts and revenue per tier, from the SQLite database data/crm.db.
select
    tier,
    count(*) as accounts,
    sum(revenue) as revenue
from {{ source('raw_crm', 'accounts') }}
group by 1
