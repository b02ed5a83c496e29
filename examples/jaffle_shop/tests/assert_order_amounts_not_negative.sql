-- Singular test: an order's total payment amount can never be negative.
-- dbt counts the rows returned here as failures, so the test passes when
-- this query returns no rows.
select
    order_id,
    amount
from {{ ref('orders') }}
where amount < 0
