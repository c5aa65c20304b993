-- One row per tag of a product, from the child table `products__tags` (a list of
-- strings becomes rows with a `value` column).
select
    tags._dlt_id as product_tag_id,
    products.sku,
    tags._dlt_list_idx as position,
    tags.value as tag
from {{ source('raw_shop', 'products__tags') }} as tags
join {{ source('raw_shop', 'products') }} as products
    on products._dlt_id = tags._dlt_parent_id
