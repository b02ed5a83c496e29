select
    id,
    team_id
from {{ ref('people') }}
qualify row_number() over (partition by team_id order by id) = 1
