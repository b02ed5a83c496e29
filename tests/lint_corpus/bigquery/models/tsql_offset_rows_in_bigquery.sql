select
    id,
    full_name
from {{ ref('people') }}
where age > 18
limit 5 offset 2 rows
