select
    id,
    full_name
from {{ ref('people') }}
where age > 18
