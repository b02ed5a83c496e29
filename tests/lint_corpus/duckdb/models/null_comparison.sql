select
    id,
    full_name
from {{ ref('people') }}
where team_id = null
